"""The benchmark computations in plain NumPy: a hand-written BPTT loop over time,
vectorised over the batch of windows (cs231n style), and a QR loop for the spectrum."""

from __future__ import annotations

import numpy as np


def loss_and_grad(kind, p, X, Bpinv, tau):
    """STF loss (linear readout) and its gradient; ``p`` is a dict of arrays.

    Forward: z_t = F(z~_{t-1}), loss of step t before forcing, z~_t = B^+ x_t every tau
    steps. Backward: the same steps in reverse; a forced state passes no gradient back.
    """
    S, T1, N = X.shape
    T = T1 - 1
    B = p["B"]
    Zdata = X @ Bpinv.T
    Zin, Zout = [], []  # z~_{t-1} and z_t, t = 1..T
    z = Zdata[:, 0]
    loss = 0.0
    resid = np.empty((S, T1, N))
    for t in range(1, T1):
        Zin.append(z)
        if kind == "plrnn":
            z = p["A"] * z + np.maximum(z, 0.0) @ p["W"].T + p["h"]
        else:
            z = np.tanh(z @ p["W"].T + p["b"])
        Zout.append(z)
        resid[:, t] = X[:, t] - z @ B.T
        loss += np.sum(resid[:, t] ** 2)
        if t % tau == 0:
            z = Zdata[:, t]
    c = -2.0 / (S * T * N)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    gz_next = np.zeros_like(z)  # dL/dz~_t
    for t in range(T, 0, -1):
        gx = c * resid[:, t]
        gz = (np.zeros_like(gz_next) if t % tau == 0 else gz_next) + gx @ B
        zin, zout = Zin[t - 1], Zout[t - 1]
        g["B"] += gx.T @ zout
        if kind == "plrnn":
            g["A"] += np.sum(gz * zin, axis=0)
            g["W"] += gz.T @ np.maximum(zin, 0.0)
            g["h"] += gz.sum(axis=0)
            gz_next = p["A"] * gz + (zin > 0.0) * (gz @ p["W"])
        else:
            ga = gz * (1.0 - zout * zout)
            g["W"] += ga.T @ zin
            g["b"] += ga.sum(axis=0)
            gz_next = ga @ p["W"]
    if kind == "plrnn":
        np.fill_diagonal(g["W"], 0.0)  # W's diagonal is not a parameter
    return loss / (S * T * N), g


def lyapunov(model, x0, Q0, n_steps):
    """PLRNN Lyapunov spectrum with ``numpy.linalg.qr`` every step."""
    p = model.params
    A, W, h = p["A"], p["W"], p["h"]
    x, Q = np.array(x0, float), np.array(Q0, float)
    logs = np.zeros(len(x))
    diagA = np.diag(A)
    for _ in range(n_steps):
        J = diagA + W * (x > 0.0)
        Q, R = np.linalg.qr(J @ Q)
        logs += np.log(np.abs(np.diag(R)))
        x = A * x + W @ np.maximum(x, 0.0) + h
    return np.sort(logs / n_steps)[::-1]


def train_epoch(kind, model, series, n_batches, batch_size, seq_len, tau, seed, lr=1e-3):
    """One epoch as refrnn.train: same windows, the loss above, Adam written out."""
    import refrnn

    rng = np.random.default_rng(seed)
    p = model.params
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    for k in range(1, n_batches + 1):
        X = refrnn.data.sample_windows(series, batch_size, seq_len, rng)
        _, g = loss_and_grad(kind, p, X, np.linalg.pinv(p["B"]), tau)
        c1, c2 = 1.0 - b1**k, 1.0 - b2**k
        for n in p:
            m[n] = b1 * m[n] + (1 - b1) * g[n]
            v[n] = b2 * v[n] + (1 - b2) * g[n] * g[n]
            p[n] = p[n] - lr * (m[n] / c1) / (np.sqrt(v[n] / c2) + eps)
    return p
