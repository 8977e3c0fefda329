r"""The vanilla (Elman) tanh RNN: its equations, defined and then made fast.

.. math::

    z_t = F(z_{t-1}) = \tanh(W z_{t-1} + b),

with :math:`W \in \mathbb{R}^{M \times M}` and :math:`b \in \mathbb{R}^M`. Since
:math:`\tanh' = 1 - \tanh^2`, every derivative below reuses the step's output
:math:`z' = F(z)`.

Definitions (NumPy, read these first)
-------------------------------------
:func:`step`, :func:`step_jvp`, :func:`step_vjp` and :func:`jacobian` take the parameters
as a dict ``{"W": (M, M), "b": (M,)}`` and states with any leading batch shape.

Kernels (Numba, the same computation, fast)
-------------------------------------------
The ``*_kernel`` functions act on one state vector and the flat kernel vector::

    theta_k = [ W (M*M, row-major) | b (M) | W^T (M*M, row-major) ]

whose first two blocks are the model's ``theta``; :func:`kernel_layout` appends the copy
of W stored column by column, for the reason given in :mod:`refrnn.equations.plrnn` (the
step sums W's columns, the adjoint its rows, and Numba vectorises only contiguous loops).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._lanes import (
    add,
    add_matrix_times,
    add_summed_products,
    add_summed_products_blas,
    full,
    load,
    njit_lanes,
    store,
    tanh,
    tanh_grad,
    total,
)
from .._linalg import GEMM_MIN_DIM, row_view

KIND = 1
#: Names of the map's parameters, in the order of the parameter vector ``theta``.
PARAM_NAMES = ("W", "b")


# ======================================================================================
# Definitions
def step(params, z):
    r"""One step :math:`F(z) = \tanh(W z + b)`.

    Parameters
    ----------
    params : dict
        ``W`` (M, M), ``b`` (M,).
    z : ndarray, shape (..., M)

    Returns
    -------
    ndarray, shape (..., M)
    """
    return np.tanh(z @ params["W"].T + params["b"])


def step_jvp(params, dparams, z, dz):
    r"""Tangent of one step,
    :math:`\delta z' = (1 - z'^2) \odot (\delta W z + W \delta z + \delta b)`.

    Parameters
    ----------
    params, dparams : dict
        Parameters and a direction in parameter space (same keys and shapes).
    z, dz : ndarray, shape (..., M)

    Returns
    -------
    ndarray, shape (..., M)
    """
    z_out = step(params, z)
    return (1.0 - z_out**2) * (z @ dparams["W"].T + dz @ params["W"].T + dparams["b"])


def step_vjp(params, z, z_out, g):
    r"""Adjoint of one step. With :math:`g_a = g \odot (1 - z'^2)`, the gradient with
    respect to the pre-activation :math:`a = W z + b`,

    .. math::

        \frac{\partial L}{\partial z} = W^\top g_a,\quad
        \frac{\partial L}{\partial W} = \sum g_a z^\top,\quad
        \frac{\partial L}{\partial b} = \sum g_a

    (sums over the batch).

    Parameters
    ----------
    params : dict
    z, z_out, g : ndarray, shape (S, M)
        Inputs, outputs :math:`z' = F(z)` and upstream gradients of S steps.

    Returns
    -------
    g_z : ndarray, shape (S, M)
    grads : dict
        ``W`` (M, M), ``b`` (M,).
    """
    ga = g * (1.0 - z_out**2)
    return ga @ params["W"], {"W": ga.T @ z, "b": ga.sum(axis=0)}


def jacobian(params, z):
    r"""Jacobian :math:`\partial F/\partial z = \mathrm{diag}(1 - F(z)^2)\, W`.

    Parameters
    ----------
    params : dict
    z : ndarray, shape (M,)

    Returns
    -------
    ndarray, shape (M, M)
    """
    return (1.0 - step(params, z) ** 2)[:, None] * params["W"]


# ======================================================================================
# Kernels: the same computation, fast
def kernel_layout(theta, M):
    """The kernel vector ``[W | b | W^T]`` from ``theta = [W | b]`` (or a tangent).

    Parameters
    ----------
    theta : ndarray, shape (M*M + M,)
    M : int

    Returns
    -------
    ndarray, shape (2*M*M + M,)
    """
    W = theta[: M * M].reshape(M, M)
    return np.concatenate([theta, W.T.ravel()])


@njit(cache=True)
def kernel_layout_into(theta, M, out):
    """:func:`kernel_layout` into a given array: ``out`` (shape of the kernel vector)
    receives ``[W | b | W^T]`` from ``theta``; for the fused training steps, which
    update the kernel vector in place after every Adam step."""
    P = theta.shape[0]
    out[:P] = theta
    for i in range(M):
        for j in range(M):
            out[P + j * M + i] = theta[i * M + j]


@njit(cache=True)
def _views(theta, M):
    """``W, b`` as 1-D views into ``theta`` (also the layout of gradients); ``W`` is the
    flat row-major block, its rows given by :func:`refrnn._linalg.row_view` (no 2-D views: see
    :func:`refrnn.equations.plrnn._views`)."""
    W = theta[: M * M]
    b = theta[M * M : M * M + M]
    return W, b


@njit(cache=True)
def _columns(theta, M):
    """The copy of W stored column by column (flat): ``row_view(WT, M, j)`` is W[:, j]."""
    return theta[M * M + M : 2 * M * M + M]


# forward step  z_out = tanh(a),  a = W z + b
@njit(cache=True)
def step_kernel(theta, M, z, z_out):
    W, b = _views(theta, M)
    WT = _columns(theta, M)
    # z_out first holds the pre-activation a = b + sum_j z_j W[:, j]: columns two at a
    # time over contiguous rows of the copy W^T, so the M sums are independent vectorised
    # chains and z_out is loaded and stored once per pair.
    for i in range(M):
        z_out[i] = b[i]
    j = 0
    while j + 1 < M:
        r0, r1, w0, w1 = z[j], z[j + 1], row_view(WT, M, j), row_view(WT, M, j + 1)
        for i in range(M):
            z_out[i] += w0[i] * r0 + w1[i] * r1
        j += 2
    if j < M:
        r0, w0 = z[j], row_view(WT, M, j)
        for i in range(M):
            z_out[i] += w0[i] * r0
    for i in range(M):
        z_out[i] = np.tanh(z_out[i])


# tangent: dz_out = (1 - z_out^2) * (dW z + W dz + db), using tanh' = 1 - tanh^2
@njit(cache=True)
def step_jvp_kernel(theta, M, z, z_out, dtheta, dz, dz_out):
    W, b = _views(theta, M)
    dW, db = _views(dtheta, M)
    WT, dWT = _columns(theta, M), _columns(dtheta, M)
    for i in range(M):
        dz_out[i] = db[i]
    for j in range(M):
        zj, dzj, dw, w = z[j], dz[j], row_view(dWT, M, j), row_view(WT, M, j)
        for i in range(M):
            dz_out[i] += dw[i] * zj + w[i] * dzj
    for i in range(M):
        dz_out[i] *= 1.0 - z_out[i] * z_out[i]


# adjoint: g_a = g * (1 - z_out^2); dL/dW += g_a z^T; dL/db += g_a; dL/dz = W^T g_a
@njit(cache=True)
def step_vjp_kernel(theta, M, z, z_out, g, g_theta, g_z):
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
        w0, w1 = row_view(W, M, i), row_view(W, M, i + 1)
        for j in range(M):
            g_z[j] += w0[j] * a0 + w1[j] * a1
        d0, d1 = row_view(gW, M, i), row_view(gW, M, i + 1)
        for j in range(M):
            d0[j] += a0 * z[j]
            d1[j] += a1 * z[j]
        i += 2
    if i < M:
        a0 = g[i] * (1.0 - z_out[i] * z_out[i])
        gb[i] += a0
        w0, d0 = row_view(W, M, i), row_view(gW, M, i)
        for j in range(M):
            g_z[j] += w0[j] * a0
            d0[j] += a0 * z[j]


# Jacobian dF/dz = diag(1 - F(z)^2) W
@njit(cache=True)
def jacobian_kernel(theta, M, z, J):
    W, b = _views(theta, M)
    for i in range(M):
        w = row_view(W, M, i)
        a = b[i]
        for j in range(M):
            a += w[j] * z[j]
        d = 1.0 - np.tanh(a) ** 2
        for j in range(M):
            J[i, j] = d * w[j]


# ======================================================================================
# Batch-major kernels: many windows in one call, windows the inner (SIMD) dimension
# (arrays of shape (n, M, 16), as in :mod:`refrnn.equations.plrnn`).
# error_model "numpy": no zero-divisor check in tanh's one division (it divides by a sum of
# squares >= 1), which would keep LLVM from vectorising the 16 lanes
@njit_lanes(cache=True, fastmath={"contract"}, error_model="numpy")
def step_batch_kernel(theta, M, Z, t, Zout, u, H, work):
    """``Zout[u, :] = tanh(W Z[t, :] + b)`` for the 16 windows of a chunk (lane values, see
    :mod:`refrnn._lanes`; ``Z``, ``Zout`` shape (n, M, 16); ``H`` unused: the parameter
    gradient needs only the inputs; ``work`` (2, M, 16) scratch). ``fastmath`` "contract":
    fused multiply-adds; tanh by :func:`refrnn._lanes.tanh`, which LLVM vectorises
    (within 1e-15 relative of ``np.tanh``)."""
    W, b = _views(theta, M)
    if M >= GEMM_MIN_DIM:  # W z by BLAS (the step's rows are one contiguous (M, 16) block)
        P = work[1]
        np.dot(W.reshape((M, M)), Z[t], P)
        for i in range(M):
            store(Zout[u, i], tanh(add(load(P[i]), full(b[i]))))
        return
    for i in range(M):
        store(Zout[u, i], full(b[i]))
    add_matrix_times(W, M, Z, t, Zout, u)
    for i in range(M):
        store(Zout[u, i], tanh(load(Zout[u, i])))


@njit_lanes(cache=True, fastmath={"contract"})
def step_vjp_batch_kernel(theta, M, Z, t, Zout, u, H, G, v, Gin, p, work):
    """Adjoint for the states: ``G[v, :]`` (dL/dZout[:, u]) is overwritten by the
    pre-activation gradient :math:`g_a = g \\odot (1 - z'^2)`, which the parameter gradient
    needs, and ``Gin[p, :] = W^T g_a`` (from the copy W^T of the kernel vector)."""
    for i in range(M):
        store(G[v, i], tanh_grad(load(Zout[u, i]), load(G[v, i])))
    if M >= GEMM_MIN_DIM:  # by BLAS
        np.dot(_columns(theta, M).reshape((M, M)), G[v], Gin[p])
        return
    for j in range(M):
        store(Gin[p, j], full(0.0))
    add_matrix_times(_columns(theta, M), M, G, v, Gin, p)


@njit_lanes(cache=True, fastmath={"contract"})
def param_grads_batch_kernel(theta, M, Zin, H, G, g_theta):
    """``g_theta += dL/dtheta`` summed over every step and window of a chunk, from the
    inputs ``Zin`` and the pre-activation gradients ``G`` (both (n, M, 16)): dL/dW =
    ``G Zin^T`` (:func:`refrnn._lanes.add_summed_products`; BLAS from M =
    ``GEMM_MIN_DIM``), dL/db = :math:`\\sum g` in lane values."""
    gW, gb = _views(g_theta, M)
    n = Zin.shape[0]
    if M >= GEMM_MIN_DIM:
        add_summed_products_blas(G, Zin, gW.reshape((M, M)))
    else:
        add_summed_products(G, Zin, gW)
    for i in range(M):
        c = full(0.0)
        for t in range(n):
            c = add(load(G[t, i]), c)
        gb[i] += total(c)
