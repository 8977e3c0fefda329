"""Cross-check of refrnn.loss_and_grad against an independent PyTorch autograd
implementation of the same definition (float64). Skipped when torch is not installed;
CI installs the CPU build ``torch==2.13.0``."""

import numpy as np
import pytest

import refrnn

torch = pytest.importorskip("torch")
from torch_reference import torch_loss  # noqa: E402


@pytest.mark.torch
@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
@pytest.mark.parametrize("readout", ["linear", "identity"])
@pytest.mark.parametrize("tau", [None, 1, 3, 7])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("detach_forcing", [False, True])
def test_matches_torch_autograd(cls, readout, tau, seed, detach_forcing):
    """Both forcing-gradient settings; with detach_forcing=False torch differentiates
    through torch.linalg.pinv (its SVD-based backward), refrnn through the closed-form
    rule of refrnn.forcing: agreement to 1e-10 relative checks that rule too."""
    rng = np.random.default_rng(seed)
    M, N, S, T = 7, 3, 4, 25
    kw = {"gain": 1.8} if cls is refrnn.VanillaRNN else {}
    model = cls.random(M, N, rng=rng, readout=readout, **kw)
    X = rng.normal(size=(S, T + 1, N))
    loss, grads = refrnn.loss_and_grad(model, X, tau, detach_forcing=detach_forcing)
    loss_t, grads_t = torch_loss(model, X, tau, detach_forcing)
    assert loss == pytest.approx(loss_t, rel=1e-10)
    if cls is refrnn.PLRNN:
        np.fill_diagonal(grads_t["W"], 0.0)  # W's diagonal is not a PLRNN parameter
    assert set(grads) == set(grads_t)
    for k in grads:
        scale = np.max(np.abs(grads_t[k]))
        assert np.max(np.abs(grads[k] - grads_t[k])) <= 1e-10 * scale, k
