"""The benchmark computations in PyTorch: eager autograd, float64, one thread.

The loss is the textbook loop over time on a batch of windows; ``backward()`` builds the
gradient. This is what a user would write without a hand-made backward pass.
"""

from __future__ import annotations

import numpy as np
import torch

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # already set (the interop pool starts with the first parallel op)
    pass

f64 = torch.float64


def params_of(model, requires_grad=True):
    return {
        k: torch.tensor(v, dtype=f64, requires_grad=requires_grad) for k, v in model.params.items()
    }


def _step(kind):
    if kind == "plrnn":
        return lambda p, z: p["A"] * z + torch.relu(z) @ p["W"].T + p["h"]
    return lambda p, z: torch.tanh(z @ p["W"].T + p["b"])


def stf_loss(kind, p, X, Bpinv, tau):
    """The STF loss of refrnn.bptt (linear readout), forcing z~ = B^+ x every tau steps."""
    F = _step(kind)
    S, T1, N = X.shape
    Zdata = X @ Bpinv.T  # data: Bpinv carries no gradient
    z = Zdata[:, 0]
    loss = 0.0
    for t in range(1, T1):
        z = F(p, z)
        r = X[:, t] - z @ p["B"].T
        loss = loss + (r * r).sum()
        if t % tau == 0:
            z = Zdata[:, t]
    return loss / (S * (T1 - 1) * N)


def loss_and_grad(kind, p, X, Bpinv, tau):
    """Returns ``(loss, {name: grad ndarray})``; ``p`` holds leaf tensors."""
    for v in p.values():
        v.grad = None
    loss = stf_loss(kind, p, X, Bpinv, tau)
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in p.items()}


def lyapunov(model, x0, Q0, n_steps):
    """PLRNN Lyapunov spectrum, QR (torch.linalg.qr) every step, eager, no autograd."""
    p = {k: torch.tensor(v, dtype=f64) for k, v in model.params.items()}
    A, W, h = p["A"], p["W"], p["h"]
    x, Q = torch.tensor(x0, dtype=f64), torch.tensor(Q0, dtype=f64)
    logs = torch.zeros(len(x0), dtype=f64)
    diagA = torch.diag(A)
    with torch.no_grad():
        for _ in range(n_steps):
            J = diagA + W * (x > 0.0)
            Q, R = torch.linalg.qr(J @ Q)
            logs += torch.log(torch.abs(torch.diagonal(R)))
            x = A * x + W @ torch.relu(x) + h
    return np.sort((logs / n_steps).numpy())[::-1]


def train_epoch(kind, model, series, n_batches, batch_size, seq_len, tau, seed, lr=1e-3):
    """One epoch as refrnn.train: same windows (same generator), STF loss, torch Adam."""
    import refrnn

    rng = np.random.default_rng(seed)
    p = params_of(model)
    opt = torch.optim.Adam(p.values(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    for _ in range(n_batches):
        X = torch.tensor(refrnn.data.sample_windows(series, batch_size, seq_len, rng), dtype=f64)
        opt.zero_grad()
        Bpinv = torch.linalg.pinv(p["B"].detach())
        stf_loss(kind, p, X, Bpinv, tau).backward()
        if kind == "plrnn":
            p["W"].grad.fill_diagonal_(0.0)  # W's diagonal is not a parameter
        opt.step()
    return {k: v.detach().numpy().copy() for k, v in p.items()}
