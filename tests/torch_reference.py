"""An independent PyTorch (float64 autograd) implementation of refrnn's STF loss, written
from the definition in refrnn/bptt.py, for cross-checks. Import only after
``pytest.importorskip("torch")``."""

import torch

import refrnn


def torch_loss(model, X, tau, detach_forcing=False, alpha=None):
    """The STF loss of refrnn.bptt, written independently with torch autograd.

    With ``detach_forcing=False`` autograd differentiates through ``torch.linalg.pinv``
    (as the paper's released code does); with True, B^+ is constant data. ``alpha``:
    generalized teacher forcing at the forced steps (every step if tau is None)."""
    p = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in model.params.items()
    }
    X_t = torch.tensor(X, dtype=torch.float64)
    S, T1, N = X.shape
    linear = model.readout == "linear"

    if isinstance(model, refrnn.PLRNN):

        def F(z):
            return p["A"] * z + torch.relu(z) @ p["W"].T + p["h"]
    elif isinstance(model, refrnn.ShallowPLRNN):

        def F(z):
            return p["A"] * z + torch.relu(z @ p["W2"].T + p["h2"]) @ p["W1"].T + p["h1"]
    else:

        def F(z):
            return torch.tanh(z @ p["W"].T + p["b"])

    if linear:
        Bpinv = torch.linalg.pinv(p["B"].detach() if detach_forcing else p["B"])
        observe = lambda z: z @ p["B"].T  # noqa: E731
        infer = lambda x: x @ Bpinv.T  # noqa: E731
    else:
        observe = lambda z: z[:, :N]  # noqa: E731

    if linear:
        z = infer(X_t[:, 0])
    else:
        z = torch.cat([X_t[:, 0], torch.zeros(S, model.M - N, dtype=torch.float64)], 1)
    a = 1.0 if alpha is None else alpha
    every = tau if (alpha is None or tau is not None) else 1
    loss = 0.0
    for t in range(1, T1):
        z = F(z)
        loss = loss + ((X_t[:, t] - observe(z)) ** 2).sum()
        if every is not None and t % every == 0:
            if linear:
                z = (1 - a) * z + a * infer(X_t[:, t])
            else:
                z = torch.cat([(1 - a) * z[:, :N] + a * X_t[:, t], z[:, N:]], 1)
    loss = loss / (S * (T1 - 1) * N)
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in p.items()}
