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

Parameter vector layout used by the kernels (float64, length ``2*M + 2*M*M``)::

    theta = [ A (M) | W (M*M, row-major) | h (M) | W^T (M*M, row-major) ]

The last block is a copy of W stored column by column. The forward step multiplies W by a
vector as a sum of W's *columns* (``z_out += relu(z_j) W[:, j]``, skipping inactive units),
the adjoint as a sum of its *rows* (``g_z += g_i W[i, :]``). Numba vectorises a loop only
over contiguous memory, and a dot product not at all (without fastmath it may not reorder
the sum), so each of the two needs its own orientation. The copy is not a parameter:
``_pack`` writes it (also for a tangent ``dtheta``, whose copy is ``dW^T``), and a
gradient ``g_theta`` is the gradient with respect to ``A, W, h``, its copy block left zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._base import RNNModel, uniform_init

KIND = 0


@njit(cache=True)
def _views(theta, M):
    """``A, W, h`` as 1-D views into ``theta`` (also the layout of gradients).

    ``W`` is the flat row-major block (length M*M); :func:`_row` gives its rows. The
    kernels never build 2-D views: two Numba ``reshape`` s per step cost about as much as
    the rest of a step at M = 20 (measured, see ``benchmarks/README.md``), 1-D slices
    almost nothing.
    """
    A = theta[:M]
    W = theta[M : M + M * M]
    h = theta[M + M * M : 2 * M + M * M]
    return A, W, h


@njit(cache=True)
def _columns(theta, M):
    """The copy of W stored column by column (flat): ``_row(WT, M, j)`` is W[:, j]."""
    return theta[2 * M + M * M : 2 * M + 2 * M * M]


@njit(cache=True)
def _row(block, M, i):
    """Row ``i`` of the M x M matrix stored row-major in the 1-D array ``block`` (a view)."""
    return block[i * M : (i + 1) * M]


# --------------------------------------------------------------------------------------
# forward step  z_out = A * z + W relu(z) + h
@njit(cache=True)
def step(theta, M, z, z_out):
    A, W, h = _views(theta, M)
    WT = _columns(theta, M)
    for i in range(M):
        z_out[i] = A[i] * z[i] + h[i]
    # W relu(z) = sum over active units j of relu(z_j) W[:, j]. Inactive units (relu = 0)
    # are skipped whole -- about half the work -- and active columns are added two at a
    # time, so that z_out is loaded and stored once per pair. The inner loops run over
    # contiguous columns of W (rows of the copy W^T) and are vectorised.
    p = -1  # an active column still waiting for a partner
    for j in range(M):
        if z[j] > 0.0:
            if p < 0:
                p = j
            else:
                r0, r1, w0, w1 = z[p], z[j], _row(WT, M, p), _row(WT, M, j)
                for i in range(M):
                    z_out[i] += w0[i] * r0 + w1[i] * r1
                p = -1
    if p >= 0:
        r0, w0 = z[p], _row(WT, M, p)
        for i in range(M):
            z_out[i] += w0[i] * r0


# tangent (forward mode): dz_out = dA*z + A*dz + dW relu(z) + W (relu'(z) * dz) + dh
@njit(cache=True)
def step_jvp(theta, M, z, z_out, dtheta, dz, dz_out):
    A, W, h = _views(theta, M)
    dA, dW, dh = _views(dtheta, M)
    WT, dWT = _columns(theta, M), _columns(dtheta, M)
    for i in range(M):
        dz_out[i] = dA[i] * z[i] + A[i] * dz[i] + dh[i]
    for j in range(M):
        # relu'(0) = 0: at the kink neither the value nor the derivative passes.
        if z[j] > 0.0:
            zj, dzj, dw, w = z[j], dz[j], _row(dWT, M, j), _row(WT, M, j)
            for i in range(M):
                dz_out[i] += dw[i] * zj + w[i] * dzj


# adjoint (reverse mode): given g = dL/dz_out, accumulate dL/dtheta and write dL/dz:
#   dL/dA += g * z,  dL/dW += g relu(z)^T (off-diagonal),  dL/dh += g,
#   dL/dz = A * g + relu'(z) * (W^T g)
@njit(cache=True)
def step_vjp(theta, M, z, z_out, g, g_theta, g_z):
    A, W, h = _views(theta, M)
    gA, gW, gh = _views(g_theta, M)
    for i in range(M):
        gA[i] += g[i] * z[i]
        gh[i] += g[i]
    # W^T g = sum_i g_i W[i, :], two rows per pass (g_z is loaded and stored once per pair).
    for j in range(M):
        g_z[j] = 0.0
    i = 0
    while i + 1 < M:
        g0, g1, w0, w1 = g[i], g[i + 1], _row(W, M, i), _row(W, M, i + 1)
        for j in range(M):
            g_z[j] += w0[j] * g0 + w1[j] * g1
        i += 2
    if i < M:
        g0, w0 = g[i], _row(W, M, i)
        for j in range(M):
            g_z[j] += w0[j] * g0
    for j in range(M):
        g_z[j] = A[j] * g[j] + (g_z[j] if z[j] > 0.0 else 0.0)
    # dL/dW += g relu(z)^T, row by row (contiguous); branch-free, since skipping the
    # inactive units here would cost a mispredicted branch per unit.
    for i in range(M):
        gi, gw = g[i], _row(gW, M, i)
        for j in range(M):
            gw[j] += gi * max(z[j], 0.0)
        # W's diagonal is fixed at zero, so it is not a parameter: no gradient.
        gw[i] = 0.0


# Jacobian dF/dz = diag(A) + W diag(1[z > 0])
@njit(cache=True)
def jacobian(theta, M, z, J):
    A, W, h = _views(theta, M)
    for i in range(M):
        w = _row(W, M, i)
        for j in range(M):
            J[i, j] = w[j] if z[j] > 0.0 else 0.0
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
        W = self._array("W", W, ndim=2)
        if W.shape != (M, M):
            raise ValueError(
                f"W must have shape ({M}, {M}) (M x M with M = len(A) = {M}), got {W.shape}"
            )
        h = self._array("h", h, shape=(M,))
        if np.any(np.diag(W) != 0.0):
            i = int(np.flatnonzero(np.diag(W))[0])
            raise ValueError(
                f"W must have a zero diagonal (the PLRNN's self-coupling is A), "
                f"got W[{i}, {i}] = {W[i, i]!r}"
            )
        self._init_common({"A": A, "W": W, "h": h}, M, B, readout, n_obs)

    def _pack(self, dyn=None):
        """Kernel vector ``[A | W | h | W^T]`` (see the module docstring for the copy)."""
        dyn = self._dyn if dyn is None else dyn
        return np.concatenate([dyn["A"], dyn["W"].ravel(), dyn["h"], dyn["W"].T.ravel()])

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
