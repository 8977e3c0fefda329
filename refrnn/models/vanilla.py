r"""The vanilla (Elman) tanh RNN.

.. math::

    z_t = F(z_{t-1}) = \tanh(W z_{t-1} + b),

with :math:`W \in \mathbb{R}^{M \times M}` and :math:`b \in \mathbb{R}^M`. As for the PLRNN,
this module holds only the equations: step, tangent and adjoint rules side by side, the
Jacobian, and NumPy references for the tests.

Parameter vector layout used by the kernels (float64, length ``2*M*M + M``)::

    theta = [ W (M*M, row-major) | b (M) | W^T (M*M, row-major) ]

As for the PLRNN (see :mod:`refrnn.models.plrnn`), the last block is a copy of W stored
column by column: the forward step sums W's columns, the adjoint its rows, and each loop is
only vectorised over contiguous memory. The copy is not a parameter; gradients leave it
zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._base import RNNModel, uniform_init

KIND = 1


@njit(cache=True)
def _views(theta, M):
    """``W, b`` as 1-D views into ``theta`` (also the layout of gradients); ``W`` is the
    flat row-major block, its rows given by :func:`_row` (no 2-D views: see
    :func:`refrnn.models.plrnn._views`)."""
    W = theta[: M * M]
    b = theta[M * M : M * M + M]
    return W, b


@njit(cache=True)
def _columns(theta, M):
    """The copy of W stored column by column (flat): ``_row(WT, M, j)`` is W[:, j]."""
    return theta[M * M + M : 2 * M * M + M]


@njit(cache=True)
def _row(block, M, i):
    """Row ``i`` of the M x M matrix stored row-major in the 1-D array ``block`` (a view)."""
    return block[i * M : (i + 1) * M]


# --------------------------------------------------------------------------------------
# forward step  z_out = tanh(a),  a = W z + b
@njit(cache=True)
def step(theta, M, z, z_out):
    W, b = _views(theta, M)
    WT = _columns(theta, M)
    # z_out first holds the pre-activation a = b + sum_j z_j W[:, j]: columns two at a
    # time over contiguous rows of the copy W^T, so the M sums are independent vectorised
    # chains and z_out is loaded and stored once per pair.
    for i in range(M):
        z_out[i] = b[i]
    j = 0
    while j + 1 < M:
        r0, r1, w0, w1 = z[j], z[j + 1], _row(WT, M, j), _row(WT, M, j + 1)
        for i in range(M):
            z_out[i] += w0[i] * r0 + w1[i] * r1
        j += 2
    if j < M:
        r0, w0 = z[j], _row(WT, M, j)
        for i in range(M):
            z_out[i] += w0[i] * r0
    for i in range(M):
        z_out[i] = np.tanh(z_out[i])


# tangent: dz_out = (1 - z_out^2) * (dW z + W dz + db), using tanh' = 1 - tanh^2
@njit(cache=True)
def step_jvp(theta, M, z, z_out, dtheta, dz, dz_out):
    W, b = _views(theta, M)
    dW, db = _views(dtheta, M)
    WT, dWT = _columns(theta, M), _columns(dtheta, M)
    for i in range(M):
        dz_out[i] = db[i]
    for j in range(M):
        zj, dzj, dw, w = z[j], dz[j], _row(dWT, M, j), _row(WT, M, j)
        for i in range(M):
            dz_out[i] += dw[i] * zj + w[i] * dzj
    for i in range(M):
        dz_out[i] *= 1.0 - z_out[i] * z_out[i]


# adjoint: g_a = g * (1 - z_out^2); dL/dW += g_a z^T; dL/db += g_a; dL/dz = W^T g_a
@njit(cache=True)
def step_vjp(theta, M, z, z_out, g, g_theta, g_z):
    W, b = _views(theta, M)
    gW, gb = _views(g_theta, M)
    for j in range(M):
        g_z[j] = 0.0
    # rows two at a time: g_z += g_a[i] W[i, :] is loaded and stored once per pair
    i = 0
    while i + 1 < M:
        a0 = g[i] * (1.0 - z_out[i] * z_out[i])
        a1 = g[i + 1] * (1.0 - z_out[i + 1] * z_out[i + 1])
        gb[i] += a0
        gb[i + 1] += a1
        w0, w1 = _row(W, M, i), _row(W, M, i + 1)
        for j in range(M):
            g_z[j] += w0[j] * a0 + w1[j] * a1
        d0, d1 = _row(gW, M, i), _row(gW, M, i + 1)
        for j in range(M):
            d0[j] += a0 * z[j]
            d1[j] += a1 * z[j]
        i += 2
    if i < M:
        a0 = g[i] * (1.0 - z_out[i] * z_out[i])
        gb[i] += a0
        w0, d0 = _row(W, M, i), _row(gW, M, i)
        for j in range(M):
            g_z[j] += w0[j] * a0
            d0[j] += a0 * z[j]


# Jacobian dF/dz = diag(1 - F(z)^2) W
@njit(cache=True)
def jacobian(theta, M, z, J):
    W, b = _views(theta, M)
    for i in range(M):
        w = _row(W, M, i)
        a = b[i]
        for j in range(M):
            a += w[j] * z[j]
        d = 1.0 - np.tanh(a) ** 2
        for j in range(M):
            J[i, j] = d * w[j]


# --------------------------------------------------------------------------------------
# Plain NumPy references (vectorised over a leading batch axis), used only by the tests.
def step_numpy(params, Z):
    """``Z`` shape (..., M) -> F(Z) shape (..., M)."""
    return np.tanh(Z @ params["W"].T + params["b"])


def step_vjp_numpy(params, Z, Z_out, G):
    """Return ``(dL/dZ, {name: dL/dparam})`` for upstream ``G`` = dL/dZ_out, shape (S, M)."""
    Ga = G * (1.0 - Z_out**2)
    return Ga @ params["W"], {"W": Ga.T @ Z, "b": Ga.sum(axis=0)}


def jacobian_numpy(params, z):
    return (1.0 - step_numpy(params, z) ** 2)[:, None] * params["W"]


class VanillaRNN(RNNModel):
    r"""Vanilla tanh RNN :math:`z_t = \tanh(W z_{t-1} + b)`.

    Parameters
    ----------
    W : ndarray, shape (M, M)
        Recurrent weights.
    b : ndarray, shape (M,)
        Bias.
    B : ndarray, shape (N, M), optional
        Linear readout :math:`\hat x = B z`; required when ``readout="linear"``.
    readout : {"linear", "identity"}
        ``"identity"`` observes the first ``n_obs`` latent states, :math:`\hat x = z_{:N}`.
    n_obs : int, optional
        Number of observed states N (only with ``readout="identity"``).

    Notes
    -----
    Jacobian: :math:`J_t = \partial z_t/\partial z_{t-1} = \mathrm{diag}(1 - z_t^2)\, W`.
    With identity readout and standardised data, note that :math:`|z| < 1` always, so
    observations outside (-1, 1) cannot be reproduced exactly.
    """

    _kind = KIND
    _dyn_names = ("W", "b")
    _step = staticmethod(step)
    _step_numpy = staticmethod(step_numpy)
    _step_vjp_numpy = staticmethod(step_vjp_numpy)
    _jacobian_numpy = staticmethod(jacobian_numpy)

    def __init__(self, W, b, B=None, readout="linear", *, n_obs=None):
        W = self._array("W", W, ndim=2)
        M = W.shape[0]
        W = self._array("W", W, shape=(M, M))
        b = self._array("b", b, shape=(M,))
        self._init_common({"W": W, "b": b}, M, B, readout, n_obs)

    def _pack(self, dyn=None):
        """Kernel vector ``[W | b | W^T]`` (see the module docstring for the copy)."""
        dyn = self._dyn if dyn is None else dyn
        return np.concatenate([dyn["W"].ravel(), dyn["b"], dyn["W"].T.ravel()])

    @classmethod
    def random(cls, M, N, *, rng=None, readout="linear", gain=1.0):
        r"""Draw W ~ N(0, gain^2 / M) and b, B ~ U(-1/\sqrt M, 1/\sqrt M).

        ``gain`` controls the spectral radius of W (about ``gain`` for large M); gain > 1
        typically gives chaotic autonomous dynamics, gain < 1 a stable fixed point.

        Returns
        -------
        VanillaRNN
        """
        M, N, rng = cls._check_sizes(M, N, rng)
        gain = float(gain)
        if not np.isfinite(gain) or gain < 0:
            raise ValueError(f"gain must be a finite number >= 0, got {gain}")
        W = rng.normal(0.0, gain / np.sqrt(M), size=(M, M))
        b = uniform_init(rng, M, (M,))
        return cls._with_readout(rng, M, N, readout, W=W, b=b)
