"""The benchmark computations in JAX: ``jit`` + ``lax.scan`` over time, float64.

Written the way a JAX user would: the step is the model's equation on a batch of windows,
``jax.value_and_grad`` differentiates the scanned loss, and every array is an argument
of the jitted function (nothing is baked in as a constant).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)


def block(x):
    return jax.block_until_ready(x)


def params_of(model):
    return {k: jnp.asarray(v) for k, v in model.params.items()}


def _step(kind):
    if kind == "plrnn":
        return lambda p, z: p["A"] * z + jnp.maximum(z, 0.0) @ p["W"].T + p["h"]
    return lambda p, z: jnp.tanh(z @ p["W"].T + p["b"])


def stf_loss(kind, tau):
    """The STF loss of refrnn.bptt (linear readout): force z~ = B^+ x every tau steps.

    ``Bpinv`` is an argument without gradient (the forcing signal is data); the loss of
    step t is taken before forcing.
    """
    F = _step(kind)

    def loss(p, X, Bpinv):
        S, T1, N = X.shape
        Zdata = X @ Bpinv.T  # (S, T+1, M)
        forced = (jnp.arange(1, T1) % tau) == 0

        def body(z, inp):
            x, zd, f = inp
            z = F(p, z)
            r = x - z @ p["B"].T
            return jnp.where(f, zd, z), jnp.sum(r * r)

        xs = (jnp.swapaxes(X[:, 1:], 0, 1), jnp.swapaxes(Zdata[:, 1:], 0, 1), forced)
        _, sq = jax.lax.scan(body, Zdata[:, 0], xs)
        return jnp.sum(sq) / (S * (T1 - 1) * N)

    return loss


def make_loss_and_grad(kind, tau):
    """``f(params, X, Bpinv) -> (loss, grads)``, jitted."""
    return jax.jit(jax.value_and_grad(stf_loss(kind, tau)))


def make_lyapunov(n_steps):
    """PLRNN Lyapunov spectrum, QR every step: ``f(A, W, h, x0, Q0) -> exponents``."""

    def run(A, W, h, x0, Q0):
        def body(carry, _):
            x, Q = carry
            J = jnp.diag(A) + W * (x > 0.0)[None, :]  # diag(A) + W diag(1[x > 0])
            Q, R = jnp.linalg.qr(J @ Q)
            x = A * x + W @ jnp.maximum(x, 0.0) + h
            return (x, Q), jnp.log(jnp.abs(jnp.diag(R)))

        _, logs = jax.lax.scan(body, (x0, Q0), None, length=n_steps)
        return jnp.sort(jnp.sum(logs, axis=0) / n_steps)[::-1]

    return jax.jit(run)


def make_train_epoch(kind, tau, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One epoch as refrnn.train does it: per batch, STF loss+grad and an Adam step.

    Windows are drawn on the host with refrnn.data.sample_windows from the same
    generator as refrnn.train, so all implementations see the same batches. B^+ is
    recomputed from the current B every batch (as a refrnn model does on construction),
    and W's diagonal gets no gradient for the PLRNN (it is not a parameter).
    """
    loss_fn = stf_loss(kind, tau)
    b1, b2 = betas

    def loss_with_pinv(p, X):
        return loss_fn(p, X, jnp.linalg.pinv(jax.lax.stop_gradient(p["B"])))

    @jax.jit
    def update(p, m, v, k, X):
        loss, g = jax.value_and_grad(loss_with_pinv)(p, X)
        if kind == "plrnn":
            g = dict(g, W=g["W"] * (1.0 - jnp.eye(g["W"].shape[0])))
        c1, c2 = 1.0 - b1**k, 1.0 - b2**k
        m = {n: b1 * m[n] + (1 - b1) * g[n] for n in p}
        v = {n: b2 * v[n] + (1 - b2) * g[n] * g[n] for n in p}
        p = {n: p[n] - lr * (m[n] / c1) / (jnp.sqrt(v[n] / c2) + eps) for n in p}
        return p, m, v, loss

    def epoch(model, series, n_batches, batch_size, seq_len, seed):
        import refrnn

        rng = np.random.default_rng(seed)
        p = params_of(model)
        m = {n: jnp.zeros_like(a) for n, a in p.items()}
        v = {n: jnp.zeros_like(a) for n, a in p.items()}
        for k in range(1, n_batches + 1):
            X = refrnn.data.sample_windows(series, batch_size, seq_len, rng)
            p, m, v, _ = update(p, m, v, float(k), jnp.asarray(X))
        return {n: np.asarray(block(a)) for n, a in p.items()}

    return epoch
