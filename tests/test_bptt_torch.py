"""Cross-check of refrnn.loss_and_grad against an independent PyTorch autograd
implementation of the same definition (float64). Skipped when torch is not installed;
CI installs the CPU build ``torch==2.13.0``."""

import numpy as np
import pytest

import refrnn

torch = pytest.importorskip("torch")
from torch_reference import torch_loss  # noqa: E402


@pytest.mark.torch
@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN, refrnn.ShallowPLRNN])
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
    kw = {"L": 11} if cls is refrnn.ShallowPLRNN else kw
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


@pytest.mark.torch
@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN, refrnn.ShallowPLRNN])
@pytest.mark.parametrize("readout", ["linear", "identity"])
@pytest.mark.parametrize("tau,alpha", [(None, 0.0), (None, 0.3), (None, 0.9), (3, 0.5),
                                       (None, 1.0)])  # fmt: skip
@pytest.mark.parametrize("detach_forcing", [False, True])
def test_gtf_matches_torch_autograd(cls, readout, tau, alpha, detach_forcing):
    """Generalized teacher forcing: torch differentiates (1 - alpha) z + alpha z^ by
    autograd, refrnn by the hand-written scaling of the backward pass."""
    rng = np.random.default_rng(7)
    kw = {"gain": 1.8} if cls is refrnn.VanillaRNN else {}
    kw = {"L": 9} if cls is refrnn.ShallowPLRNN else kw
    model = cls.random(6, 3, rng=rng, readout=readout, **kw)
    X = rng.normal(size=(3, 21, 3))
    loss, grads = refrnn.loss_and_grad(model, X, tau, alpha=alpha, detach_forcing=detach_forcing)
    loss_t, grads_t = torch_loss(model, X, tau, detach_forcing, alpha=alpha)
    assert loss == pytest.approx(loss_t, rel=1e-10)
    if cls is refrnn.PLRNN:
        np.fill_diagonal(grads_t["W"], 0.0)
    for k in grads:
        # same tolerance and reasoning as test_matches_torch_autograd
        scale = np.max(np.abs(grads_t[k]))
        assert np.max(np.abs(grads[k] - grads_t[k])) <= 1e-10 * scale, k
