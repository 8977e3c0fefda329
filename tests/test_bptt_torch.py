"""Cross-check of refrnn.loss_and_grad against an independent PyTorch autograd
implementation of the same definition (float64). Skipped when torch is not installed;
CI installs the CPU build ``torch==2.13.0``."""

import numpy as np
import pytest

import refrnn

torch = pytest.importorskip("torch")


def torch_loss(model, X, tau):
    """The STF loss of refrnn.bptt, written independently with torch autograd."""
    p = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in model.params.items()
    }
    X_t = torch.tensor(X, dtype=torch.float64)
    S, T1, N = X.shape
    linear = model.readout == "linear"

    if isinstance(model, refrnn.PLRNN):

        def F(z):
            return p["A"] * z + torch.relu(z) @ p["W"].T + p["h"]
    else:

        def F(z):
            return torch.tanh(z @ p["W"].T + p["b"])

    if linear:
        Bpinv = torch.linalg.pinv(p["B"].detach())  # data: no gradient through B^+
        observe = lambda z: z @ p["B"].T  # noqa: E731
        infer = lambda x: x @ Bpinv.T  # noqa: E731
    else:
        observe = lambda z: z[:, :N]  # noqa: E731

    if linear:
        z = infer(X_t[:, 0])
    else:
        z = torch.cat([X_t[:, 0], torch.zeros(S, model.M - N, dtype=torch.float64)], 1)
    loss = 0.0
    for t in range(1, T1):
        z = F(z)
        loss = loss + ((X_t[:, t] - observe(z)) ** 2).sum()
        if tau is not None and t % tau == 0:
            z = infer(X_t[:, t]) if linear else torch.cat([X_t[:, t], z[:, N:]], 1)
    loss = loss / (S * (T1 - 1) * N)
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in p.items()}


@pytest.mark.torch
@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
@pytest.mark.parametrize("readout", ["linear", "identity"])
@pytest.mark.parametrize("tau", [None, 1, 3, 7])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torch_autograd(cls, readout, tau, seed):
    rng = np.random.default_rng(seed)
    M, N, S, T = 7, 3, 4, 25
    kw = {"gain": 1.8} if cls is refrnn.VanillaRNN else {}
    model = cls.random(M, N, rng=rng, readout=readout, **kw)
    X = rng.normal(size=(S, T + 1, N))
    loss, grads = refrnn.loss_and_grad(model, X, tau)
    loss_t, grads_t = torch_loss(model, X, tau)
    assert loss == pytest.approx(loss_t, rel=1e-10)
    if cls is refrnn.PLRNN:
        np.fill_diagonal(grads_t["W"], 0.0)  # W's diagonal is not a PLRNN parameter
    assert set(grads) == set(grads_t)
    for k in grads:
        scale = np.max(np.abs(grads_t[k]))
        assert np.max(np.abs(grads[k] - grads_t[k])) <= 1e-10 * scale, k
