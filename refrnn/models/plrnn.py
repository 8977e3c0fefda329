r"""The piecewise-linear RNN (PLRNN).

.. math::

    z_t = F(z_{t-1}) = A \odot z_{t-1} + W \,\mathrm{relu}(z_{t-1}) + h,

with :math:`A \in \mathbb{R}^M` (a diagonal matrix stored as a vector),
:math:`W \in \mathbb{R}^{M \times M}` with zero diagonal and :math:`h \in \mathbb{R}^M`
(Mikhaeil, Monfared & Durstewitz 2022, eq. 1; Durstewitz 2017).

This module holds the model's equations and nothing else: the step, its tangent
(forward-mode) and adjoint (reverse-mode) rules side by side, the Jacobian, and plain
NumPy references of each for the tests. Generic loops (simulation, BPTT, Lyapunov
spectra) live elsewhere and reach these kernels through :mod:`refrnn._kernels`.

Parameter vector layout used by the kernels (float64, length ``M + M*M + M``)::

    theta = [ A (M) | W (M*M, row-major) | h (M) ]
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._base import RNNModel, uniform_init

KIND = 0


@njit(cache=True)
def _views(theta, M):
    A = theta[:M]
    W = theta[M : M + M * M].reshape((M, M))
    h = theta[M + M * M : 2 * M + M * M]
    return A, W, h


# --------------------------------------------------------------------------------------
# forward step  z_out = A * z + W relu(z) + h
@njit(cache=True)
def step(theta, M, z, z_out):
    A, W, h = _views(theta, M)
    for i in range(M):
        z_out[i] = A[i] * z[i] + h[i]
    # Column-by-column (j outer) so that the M running sums are independent: a single
    # dot-product accumulator would be one serial chain of additions, which LLVM may not
    # reorder without fastmath. Inactive units (relu = 0) contribute nothing.
    for j in range(M):
        r = z[j]
        if r > 0.0:
            for i in range(M):
                z_out[i] += W[i, j] * r


# tangent (forward mode): dz_out = dA*z + A*dz + dW relu(z) + W (relu'(z) * dz) + dh
@njit(cache=True)
def step_jvp(theta, M, z, z_out, dtheta, dz, dz_out):
    A, W, h = _views(theta, M)
    dA, dW, dh = _views(dtheta, M)
    for i in range(M):
        dz_out[i] = dA[i] * z[i] + A[i] * dz[i] + dh[i]
    for j in range(M):
        # relu'(0) = 0: at the kink neither the value nor the derivative passes.
        if z[j] > 0.0:
            for i in range(M):
                dz_out[i] += dW[i, j] * z[j] + W[i, j] * dz[j]


# adjoint (reverse mode): given g = dL/dz_out, accumulate dL/dtheta and write dL/dz:
#   dL/dA += g * z,  dL/dW += g relu(z)^T (off-diagonal),  dL/dh += g,
#   dL/dz = A * g + relu'(z) * (W^T g)
@njit(cache=True)
def step_vjp(theta, M, z, z_out, g, g_theta, g_z):
    A, W, h = _views(theta, M)
    gA, gW, gh = _views(g_theta, M)
    for j in range(M):
        g_z[j] = 0.0
    for i in range(M):
        gi = g[i]
        gA[i] += gi * z[i]
        gh[i] += gi
        for j in range(M):
            gW[i, j] += gi * max(z[j], 0.0)
            g_z[j] += W[i, j] * gi
        # W's diagonal is fixed at zero, so it is not a parameter: no gradient.
        gW[i, i] = 0.0
    for j in range(M):
        g_z[j] = A[j] * g[j] + (g_z[j] if z[j] > 0.0 else 0.0)


# Jacobian dF/dz = diag(A) + W diag(1[z > 0])
@njit(cache=True)
def jacobian(theta, M, z, J):
    A, W, h = _views(theta, M)
    for i in range(M):
        for j in range(M):
            J[i, j] = W[i, j] if z[j] > 0.0 else 0.0
        J[i, i] += A[i]


# --------------------------------------------------------------------------------------
# Plain NumPy references (vectorised over a leading batch axis), used only by the tests.
def step_numpy(params, Z):
    """``Z`` shape (..., M) -> F(Z) shape (..., M)."""
    return params["A"] * Z + np.maximum(Z, 0.0) @ params["W"].T + params["h"]


def step_vjp_numpy(params, Z, Z_out, G):
    """Return ``(dL/dZ, {name: dL/dparam})`` for upstream ``G`` = dL/dZ_out, shape (S, M)."""
    A, W = params["A"], params["W"]
    relu = np.maximum(Z, 0.0)
    mask = (Z > 0.0).astype(float)
    gW = G.T @ relu
    np.fill_diagonal(gW, 0.0)
    grads = {"A": np.sum(G * Z, axis=0), "W": gW, "h": G.sum(axis=0)}
    return A * G + mask * (G @ W), grads


def jacobian_numpy(params, z):
    return np.diag(params["A"]) + params["W"] * (z > 0.0)[None, :]


class PLRNN(RNNModel):
    r"""Piecewise-linear RNN :math:`z_t = A \odot z_{t-1} + W\,\mathrm{relu}(z_{t-1}) + h`.

    Parameters
    ----------
    A : ndarray, shape (M,)
        Diagonal auto-regression weights.
    W : ndarray, shape (M, M)
        Coupling weights; the diagonal must be exactly zero (it is not a parameter).
    h : ndarray, shape (M,)
        Bias.
    B : ndarray, shape (N, M), optional
        Linear readout :math:`\hat x = B z`; required when ``readout="linear"``.
    readout : {"linear", "identity"}
        ``"identity"`` observes the first ``n_obs`` latent states, :math:`\hat x = z_{:N}`.
    n_obs : int, optional
        Number of observed states N (only with ``readout="identity"``).

    Notes
    -----
    Jacobian (Mikhaeil et al. 2022, eq. 4), with :math:`\mathrm{relu}'(0) = 0`:

    .. math:: J_t = \partial z_t / \partial z_{t-1}
              = \mathrm{diag}(A) + W\,\mathrm{diag}(\mathbb{1}[z_{t-1} > 0]).

    Instances are immutable; use :meth:`replace` to derive a modified model.
    """

    _kind = KIND
    _dyn_names = ("A", "W", "h")
    _step = staticmethod(step)
    _step_numpy = staticmethod(step_numpy)
    _step_vjp_numpy = staticmethod(step_vjp_numpy)
    _jacobian_numpy = staticmethod(jacobian_numpy)

    def __init__(self, A, W, h, B=None, readout="linear", *, n_obs=None):
        A = self._array("A", A, ndim=1)
        M = A.shape[0]
        W = self._array("W", W, shape=(M, M))
        h = self._array("h", h, shape=(M,))
        if np.any(np.diag(W) != 0.0):
            i = int(np.flatnonzero(np.diag(W))[0])
            raise ValueError(
                f"W must have a zero diagonal (the PLRNN's self-coupling is A), "
                f"got W[{i}, {i}] = {W[i, i]!r}"
            )
        self._init_common({"A": A, "W": W, "h": h}, M, B, readout, n_obs)

    @classmethod
    def random(cls, M, N, *, rng=None, readout="linear"):
        r"""Draw a PLRNN as in the paper's code: A, W, h, B ~ U(-1/\sqrt M, 1/\sqrt M).

        W's diagonal is then set to zero. ``rng``: Generator, int seed or None.

        Returns
        -------
        PLRNN
        """
        M, N, rng = cls._check_sizes(M, N, rng)
        W = uniform_init(rng, M, (M, M))
        np.fill_diagonal(W, 0.0)
        A = uniform_init(rng, M, (M,))
        h = uniform_init(rng, M, (M,))
        return cls._with_readout(rng, M, N, readout, A=A, W=W, h=h)
