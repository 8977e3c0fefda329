r"""The piecewise-linear RNN (PLRNN): its equations, defined and then made fast.

.. math::

    z_t = F(z_{t-1}) = A \odot z_{t-1} + W \,\mathrm{relu}(z_{t-1}) + h,

with :math:`A \in \mathbb{R}^M` (a diagonal matrix stored as a vector),
:math:`W \in \mathbb{R}^{M \times M}` with zero diagonal and :math:`h \in \mathbb{R}^M`
(Mikhaeil, Monfared & Durstewitz 2022, eq. 1; Durstewitz 2017). Throughout,
:math:`\mathrm{relu}'(0) = 0`: at the kink neither a value nor a derivative passes.

Definitions (NumPy, read these first)
-------------------------------------
:func:`step`, :func:`step_jvp`, :func:`step_vjp` and :func:`jacobian` take the parameters
as a dict ``{"A": (M,), "W": (M, M), "h": (M,)}`` and states with any leading batch shape.

Kernels (Numba, the same computation, fast)
-------------------------------------------
:func:`step_kernel`, :func:`step_jvp_kernel`, :func:`step_vjp_kernel` and
:func:`jacobian_kernel` act on one state vector and the flat *kernel* parameter vector::

    theta_k = [ A (M) | W (M*M, row-major) | h (M) | W^T (M*M, row-major) ]

The first three blocks are the model's parameter vector ``theta`` (``model.theta``); the
last is a copy of W stored column by column that :func:`kernel_layout` appends. The step
multiplies W by a vector as a sum of W's *columns*, the adjoint as a sum of its *rows*;
Numba vectorises a loop only over contiguous memory, so each needs its own orientation.
A gradient from the kernels has the kernel layout with the copy block left zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._lanes import (
    add,
    add_matrix_times,
    add_summed_products,
    add_summed_products_blas,
    axpb,
    axpy,
    full,
    gate,
    load,
    mul_add,
    njit_lanes,
    relu,
    store,
    total,
)
from .._linalg import GEMM_MIN_DIM, row_view

KIND = 0
#: Names of the map's parameters, in the order of the parameter vector ``theta``.
PARAM_NAMES = ("A", "W", "h")


# ======================================================================================
# Definitions
def step(params, z):
    r"""One step :math:`F(z) = A \odot z + W\,\mathrm{relu}(z) + h`.

    Parameters
    ----------
    params : dict
        ``A`` (M,), ``W`` (M, M), ``h`` (M,).
    z : ndarray, shape (..., M)

    Returns
    -------
    ndarray, shape (..., M)
    """
    return params["A"] * z + np.maximum(z, 0.0) @ params["W"].T + params["h"]


def step_jvp(params, dparams, z, dz):
    r"""Tangent of one step: the directional derivative of :math:`F` along
    :math:`(\delta\theta, \delta z)`,

    .. math:: \delta z' = \delta A \odot z + A \odot \delta z
              + \delta W\,\mathrm{relu}(z) + W\,(\mathrm{relu}'(z) \odot \delta z) + \delta h.

    Parameters
    ----------
    params, dparams : dict
        Parameters and a direction in parameter space (same keys and shapes).
    z, dz : ndarray, shape (..., M)
        State and state direction.

    Returns
    -------
    ndarray, shape (..., M)
    """
    A, W = params["A"], params["W"]
    active = (z > 0.0).astype(float)
    return (
        dparams["A"] * z
        + A * dz
        + np.maximum(z, 0.0) @ dparams["W"].T
        + (active * dz) @ W.T
        + dparams["h"]
    )


def step_vjp(params, z, z_out, g):
    r"""Adjoint of one step: pull ``g`` :math:`= \partial L/\partial z'` back through
    :math:`z' = F(z)`.

    .. math::

        \frac{\partial L}{\partial z} = A \odot g + \mathrm{relu}'(z) \odot (W^\top g),\quad
        \frac{\partial L}{\partial A} = \sum g \odot z,\quad
        \frac{\partial L}{\partial W} = \sum g\,\mathrm{relu}(z)^\top,\quad
        \frac{\partial L}{\partial h} = \sum g,

    the sums running over the batch; W's diagonal is not a parameter (it is fixed at
    zero), so its gradient is zero.

    Parameters
    ----------
    params : dict
    z, z_out, g : ndarray, shape (S, M)
        Inputs, outputs (unused: kept for the signature every model shares) and upstream
        gradients of S steps.

    Returns
    -------
    g_z : ndarray, shape (S, M)
    grads : dict
        ``A`` (M,), ``W`` (M, M), ``h`` (M,).
    """
    A, W = params["A"], params["W"]
    gW = g.T @ np.maximum(z, 0.0)
    np.fill_diagonal(gW, 0.0)
    grads = {"A": np.sum(g * z, axis=0), "W": gW, "h": g.sum(axis=0)}
    return A * g + (z > 0.0) * (g @ W), grads


def jacobian(params, z):
    r"""Jacobian (Mikhaeil et al. 2022, eq. 4)

    .. math:: \partial F/\partial z = \mathrm{diag}(A) + W\,\mathrm{diag}(\mathbb 1[z > 0]).

    Parameters
    ----------
    params : dict
    z : ndarray, shape (M,)

    Returns
    -------
    ndarray, shape (M, M)
    """
    return np.diag(params["A"]) + params["W"] * (z > 0.0)[None, :]


def pieces(params, z):
    """The linear piece of the map at ``z`` (shape (..., M)): which units are active,
    ``z > 0`` (boolean, same shape). Central differences must stay on one piece."""
    return z > 0.0


# ======================================================================================
# Kernels: the same computation, fast
def kernel_layout(theta, M):
    """The kernel vector ``[A | W | h | W^T]`` from ``theta = [A | W | h]`` (or from a
    tangent in the same layout, whose copy is then ``dW^T``).

    Parameters
    ----------
    theta : ndarray, shape (2*M + M*M,)
    M : int

    Returns
    -------
    ndarray, shape (2*M + 2*M*M,)
    """
    W = theta[M : M + M * M].reshape(M, M)
    return np.concatenate([theta, W.T.ravel()])


@njit(cache=True)
def kernel_layout_into(theta, M, out):
    """:func:`kernel_layout` into a given array: ``out`` (shape of the kernel vector)
    receives ``[A | W | h | W^T]`` from ``theta``; for the fused training steps, which
    update the kernel vector in place after every Adam step."""
    P = theta.shape[0]
    out[:P] = theta
    for i in range(M):
        for j in range(M):
            out[P + j * M + i] = theta[M + i * M + j]


@njit(cache=True)
def _views(theta, M):
    """``A, W, h`` as 1-D views into ``theta`` (also the layout of gradients).

    ``W`` is the flat row-major block (length M*M); :func:`refrnn._linalg.row_view` gives
    its rows (no 2-D views in the kernels: see there).
    """
    A = theta[:M]
    W = theta[M : M + M * M]
    h = theta[M + M * M : 2 * M + M * M]
    return A, W, h


@njit(cache=True)
def _columns(theta, M):
    """The copy of W stored column by column (flat): ``row_view(WT, M, j)`` is W[:, j]."""
    return theta[2 * M + M * M : 2 * M + 2 * M * M]


# forward step  z_out = A * z + W relu(z) + h
@njit(cache=True)
def step_kernel(theta, M, z, z_out):
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
                r0, r1, w0, w1 = z[p], z[j], row_view(WT, M, p), row_view(WT, M, j)
                for i in range(M):
                    z_out[i] += w0[i] * r0 + w1[i] * r1
                p = -1
    if p >= 0:
        r0, w0 = z[p], row_view(WT, M, p)
        for i in range(M):
            z_out[i] += w0[i] * r0


# tangent (forward mode): dz_out = dA*z + A*dz + dW relu(z) + W (relu'(z) * dz) + dh
@njit(cache=True)
def step_jvp_kernel(theta, M, z, z_out, dtheta, dz, dz_out):
    A, W, h = _views(theta, M)
    dA, dW, dh = _views(dtheta, M)
    WT, dWT = _columns(theta, M), _columns(dtheta, M)
    for i in range(M):
        dz_out[i] = dA[i] * z[i] + A[i] * dz[i] + dh[i]
    for j in range(M):
        # relu'(0) = 0: at the kink neither the value nor the derivative passes.
        if z[j] > 0.0:
            zj, dzj, dw, w = z[j], dz[j], row_view(dWT, M, j), row_view(WT, M, j)
            for i in range(M):
                dz_out[i] += dw[i] * zj + w[i] * dzj


# adjoint (reverse mode): given g = dL/dz_out, accumulate dL/dtheta and write dL/dz:
#   dL/dA += g * z,  dL/dW += g relu(z)^T (off-diagonal),  dL/dh += g,
#   dL/dz = A * g + relu'(z) * (W^T g)
@njit(cache=True)
def step_vjp_kernel(theta, M, z, z_out, g, g_theta, g_z):
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
        g0, g1, w0, w1 = g[i], g[i + 1], row_view(W, M, i), row_view(W, M, i + 1)
        for j in range(M):
            g_z[j] += w0[j] * g0 + w1[j] * g1
        i += 2
    if i < M:
        g0, w0 = g[i], row_view(W, M, i)
        for j in range(M):
            g_z[j] += w0[j] * g0
    for j in range(M):
        g_z[j] = A[j] * g[j] + (g_z[j] if z[j] > 0.0 else 0.0)
    # dL/dW += g relu(z)^T, row by row (contiguous); branch-free, since skipping the
    # inactive units here would cost a mispredicted branch per unit.
    for i in range(M):
        gi, gw = g[i], row_view(gW, M, i)
        for j in range(M):
            gw[j] += gi * max(z[j], 0.0)
        # W's diagonal is fixed at zero, so it is not a parameter: no gradient.
        gw[i] = 0.0


# Jacobian dF/dz = diag(A) + W diag(1[z > 0])
@njit(cache=True)
def jacobian_kernel(theta, M, z, J):
    A, W, h = _views(theta, M)
    for i in range(M):
        w = row_view(W, M, i)
        for j in range(M):
            J[i, j] = w[j] if z[j] > 0.0 else 0.0
        J[i, i] += A[i]


# ======================================================================================
# Batch-major kernels: the 16 windows of a chunk in one call, windows the inner (SIMD)
# dimension. States over n steps are arrays Z of shape (n, M, 16); ``Z[t, i]`` is the
# contiguous row of unit i at step t, held as a lane value (refrnn._lanes), so every
# multiply-add serves 16 windows whatever the activity pattern (no branch per unit).
@njit_lanes(cache=True, fastmath={"contract"})
def step_batch_kernel(theta, M, Z, t, Zout, u, H, work):
    """``Zout[u, :] = F(Z[t, :])`` for the 16 windows of a chunk (lane values, see
    :mod:`refrnn._lanes`); ``H[t, :] = relu(Z[t, :])``, which
    :func:`param_grads_batch_kernel` needs for dL/dW. ``Z``, ``Zout``, ``H`` shape
    (n, M, 16); ``work`` (2, M, 16) is scratch. ``fastmath`` "contract" only: fused
    multiply-adds (one rounding instead of two)."""
    A, W, h = _views(theta, M)
    for j in range(M):
        store(H[t, j], relu(load(Z[t, j])))
    for i in range(M):
        store(Zout[u, i], axpb(A[i], load(Z[t, i]), h[i]))
    if M >= GEMM_MIN_DIM:
        # W relu(Z) by BLAS (the step's rows are one contiguous (M, 16) block)
        P = work[1]
        np.dot(W.reshape((M, M)), H[t], P)
        for i in range(M):
            store(Zout[u, i], add(load(Zout[u, i]), load(P[i])))
        return
    add_matrix_times(W, M, H, t, Zout, u)


@njit_lanes(cache=True, fastmath={"contract"})
def step_vjp_batch_kernel(theta, M, Z, t, Zout, u, H, G, v, Gin, p, work):
    """Adjoint of :func:`step_batch_kernel` for the states: ``Gin[p, :]`` =
    dL/dZ[:, t] from ``G[v, :]`` = dL/dZout[:, u], i.e. :math:`A \\odot g +
    \\mathrm{relu}'(z) \\odot (W^\\top g)`. ``G[v, :]`` is left as it is: it is what the
    parameter gradient needs (:func:`param_grads_batch_kernel`)."""
    A, W, h = _views(theta, M)
    # W^T g from the copy W^T of the kernel vector, whose rows are W's columns
    if M >= GEMM_MIN_DIM:  # by BLAS
        np.dot(_columns(theta, M).reshape((M, M)), G[v], Gin[p])
    else:
        for j in range(M):
            store(Gin[p, j], full(0.0))
        add_matrix_times(_columns(theta, M), M, G, v, Gin, p)
    for j in range(M):
        store(Gin[p, j], axpy(A[j], load(G[v, j]), gate(load(H[t, j]), load(Gin[p, j]))))


@njit_lanes(cache=True, fastmath={"contract"})
def param_grads_batch_kernel(theta, M, Zin, H, G, g_theta):
    """``g_theta += dL/dtheta`` summed over every step and window of a chunk, from the
    inputs ``Zin``, their ``H = relu(Zin)`` and the upstream gradients ``G`` (all
    (n, M, 16)): dL/dW = :math:`\\sum g\\,\\mathrm{relu}(z)^\\top` as ``G H^T``
    (:func:`refrnn._lanes.add_summed_products`; BLAS from M = ``GEMM_MIN_DIM``), dL/dA =
    :math:`\\sum g \\odot z` and dL/dh = :math:`\\sum g` in lane values."""
    gA, gW, gh = _views(g_theta, M)
    n = Zin.shape[0]
    if M >= GEMM_MIN_DIM:
        add_summed_products_blas(G, H, gW.reshape((M, M)))
    else:
        add_summed_products(G, H, gW)
    for i in range(M):
        a, c = full(0.0), full(0.0)
        for t in range(n):
            g = load(G[t, i])
            a = mul_add(g, load(Zin[t, i]), a)
            c = add(g, c)
        gA[i] += total(a)
        gh[i] += total(c)
        gW[i * M + i] = 0.0  # W's diagonal is not a parameter
