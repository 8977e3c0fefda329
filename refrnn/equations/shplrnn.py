r"""The shallow PLRNN (shPLRNN): its equations, defined and then made fast.

.. math::

    z_t = F(z_{t-1}) = A \odot z_{t-1} + W_1\,\mathrm{relu}(W_2 z_{t-1} + h_2) + h_1,

with :math:`A \in \mathbb{R}^M` (diagonal, stored as a vector),
:math:`W_1 \in \mathbb{R}^{M \times L}`, :math:`W_2 \in \mathbb{R}^{L \times M}`,
:math:`h_1 \in \mathbb{R}^M`, :math:`h_2 \in \mathbb{R}^L` and a hidden width L
(Hess, Monfared, Brenner & Durstewitz 2023, "Generalized Teacher Forcing for Learning
Chaotic Dynamics", ICML, Sect. 3.1). With :math:`a = W_2 z + h_2` the hidden
pre-activation and :math:`D = \mathrm{diag}(\mathbb 1[a > 0])` (:math:`\mathrm{relu}'(0) = 0`),
the map is affine on each region of constant D, with Jacobian
:math:`\mathrm{diag}(A) + W_1 D W_2`.

Definitions (NumPy, read these first)
-------------------------------------
:func:`step`, :func:`step_jvp`, :func:`step_vjp` and :func:`jacobian` take the parameters
as a dict ``{"A": (M,), "W1": (M, L), "W2": (L, M), "h1": (M,), "h2": (L,)}`` and states
with any leading batch shape.

Kernels (Numba, the same computation, fast)
-------------------------------------------
The ``*_kernel`` functions act on one state and the flat kernel vector::

    theta_k = [ A (M) | W1 (M*L) | W2 (L*M) | h1 (M) | h2 (L) | W1^T (L*M) ]

(matrices row-major). The first five blocks are the model's ``theta``; :func:`kernel_layout`
appends W1 stored column by column, because the step adds the columns
:math:`a_l W_1[:, l]` of active hidden units and Numba vectorises only loops over
contiguous memory. The kernels read L off the length of ``theta_k``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._linalg import row_view

KIND = 2
#: Names of the map's parameters, in the order of the parameter vector ``theta``.
PARAM_NAMES = ("A", "W1", "W2", "h1", "h2")


# ======================================================================================
# Definitions
def step(params, z):
    r"""One step :math:`F(z) = A \odot z + W_1\,\mathrm{relu}(W_2 z + h_2) + h_1`.

    Parameters
    ----------
    params : dict
        ``A`` (M,), ``W1`` (M, L), ``W2`` (L, M), ``h1`` (M,), ``h2`` (L,).
    z : ndarray, shape (..., M)

    Returns
    -------
    ndarray, shape (..., M)
    """
    a = z @ params["W2"].T + params["h2"]
    return params["A"] * z + np.maximum(a, 0.0) @ params["W1"].T + params["h1"]


def step_jvp(params, dparams, z, dz):
    r"""Tangent of one step. With :math:`a = W_2 z + h_2`, :math:`D = \mathrm{diag}(\mathbb 1[a>0])`
    and :math:`\delta a = \delta W_2 z + W_2 \delta z + \delta h_2`,

    .. math:: \delta z' = \delta A \odot z + A \odot \delta z
              + \delta W_1\,\mathrm{relu}(a) + W_1 D\,\delta a + \delta h_1.

    Parameters
    ----------
    params, dparams : dict
        Parameters and a direction in parameter space (same keys and shapes).
    z, dz : ndarray, shape (..., M)

    Returns
    -------
    ndarray, shape (..., M)
    """
    W1, W2 = params["W1"], params["W2"]
    a = z @ W2.T + params["h2"]
    da = z @ dparams["W2"].T + dz @ W2.T + dparams["h2"]
    return (
        dparams["A"] * z
        + params["A"] * dz
        + np.maximum(a, 0.0) @ dparams["W1"].T
        + ((a > 0.0) * da) @ W1.T
        + dparams["h1"]
    )


def step_vjp(params, z, z_out, g):
    r"""Adjoint of one step. With :math:`g_a = D\,W_1^\top g`, the gradient with respect to
    the hidden pre-activation,

    .. math::

        \frac{\partial L}{\partial z} = A \odot g + W_2^\top g_a,\quad
        \frac{\partial L}{\partial A} = \sum g \odot z,\quad
        \frac{\partial L}{\partial W_1} = \sum g\,\mathrm{relu}(a)^\top,\quad
        \frac{\partial L}{\partial W_2} = \sum g_a z^\top,\quad
        \frac{\partial L}{\partial h_1} = \sum g,\quad
        \frac{\partial L}{\partial h_2} = \sum g_a

    (sums over the batch).

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
        ``A`` (M,), ``W1`` (M, L), ``W2`` (L, M), ``h1`` (M,), ``h2`` (L,).
    """
    W1, W2 = params["W1"], params["W2"]
    a = z @ W2.T + params["h2"]
    ga = (g @ W1) * (a > 0.0)
    grads = {
        "A": np.sum(g * z, axis=0),
        "W1": g.T @ np.maximum(a, 0.0),
        "W2": ga.T @ z,
        "h1": g.sum(axis=0),
        "h2": ga.sum(axis=0),
    }
    return params["A"] * g + ga @ W2, grads


def jacobian(params, z):
    r"""Jacobian :math:`\partial F/\partial z = \mathrm{diag}(A) + W_1 D W_2`,
    :math:`D = \mathrm{diag}(\mathbb 1[W_2 z + h_2 > 0])`.

    Parameters
    ----------
    params : dict
    z : ndarray, shape (M,)

    Returns
    -------
    ndarray, shape (M, M)
    """
    active = (params["W2"] @ z + params["h2"]) > 0.0
    return np.diag(params["A"]) + (params["W1"] * active[None, :]) @ params["W2"]


def pieces(params, z):
    """The linear piece of the map at ``z`` (shape (..., M)): which hidden units are
    active, ``W2 z + h2 > 0`` (boolean, shape (..., L)). Central differences must stay on
    one piece."""
    return z @ params["W2"].T + params["h2"] > 0.0


# ======================================================================================
# Kernels: the same computation, fast
def kernel_layout(theta, M):
    """The kernel vector (``theta`` followed by W1^T) from ``theta`` or a tangent of it.

    Parameters
    ----------
    theta : ndarray, shape (2*M + L + 2*M*L,)
    M : int

    Returns
    -------
    ndarray, shape (2*M + L + 3*M*L,)
    """
    L = (theta.shape[0] - 2 * M) // (2 * M + 1)
    W1 = theta[M : M + M * L].reshape(M, L)
    return np.concatenate([theta, W1.T.ravel()])


@njit(cache=True)
def _hidden_width(theta_k, M):
    return (theta_k.shape[0] - 2 * M) // (3 * M + 1)


@njit(cache=True)
def _views(theta, M, L):
    """``A, W1, W2, h1, h2`` (matrices flat, row-major) as 1-D views into ``theta``."""
    A = theta[:M]
    W1 = theta[M : M + M * L]
    W2 = theta[M + M * L : M + 2 * M * L]
    h1 = theta[M + 2 * M * L : 2 * M + 2 * M * L]
    h2 = theta[2 * M + 2 * M * L : 2 * M + 2 * M * L + L]
    return A, W1, W2, h1, h2


@njit(cache=True)
def _columns_of_W1(theta, M, L):
    """The copy W1^T (flat): ``row_view(W1T, M, l)`` is the column W1[:, l]."""
    start = 2 * M + L + 2 * M * L
    return theta[start : start + M * L]


@njit(cache=True)
def _preactivation(W2, h2, M, l, z):
    """a_l = h2[l] + W2[l, :] . z (a dot product: one row of W2, contiguous)."""
    a = h2[l]
    w = row_view(W2, M, l)
    for j in range(M):
        a += w[j] * z[j]
    return a


# step  z_out = A * z + sum over active l of a_l W1[:, l] + h1
@njit(cache=True)
def step_kernel(theta, M, z, z_out):
    L = _hidden_width(theta, M)
    A, W1, W2, h1, h2 = _views(theta, M, L)
    W1T = _columns_of_W1(theta, M, L)
    for i in range(M):
        z_out[i] = A[i] * z[i] + h1[i]
    for l in range(L):
        a = _preactivation(W2, h2, M, l, z)
        # inactive hidden units (relu = 0) are skipped whole; an active one adds its
        # column of W1, read from the contiguous copy so that the loop vectorises
        if a > 0.0:
            w = row_view(W1T, M, l)
            for i in range(M):
                z_out[i] += a * w[i]


# tangent: dz_out = dA*z + A*dz + dW1 relu(a) + W1 D da + dh1,  da = dW2 z + W2 dz + dh2
@njit(cache=True)
def step_jvp_kernel(theta, M, z, z_out, dtheta, dz, dz_out):
    L = _hidden_width(theta, M)
    A, W1, W2, h1, h2 = _views(theta, M, L)
    dA, dW1, dW2, dh1, dh2 = _views(dtheta, M, L)
    W1T, dW1T = _columns_of_W1(theta, M, L), _columns_of_W1(dtheta, M, L)
    for i in range(M):
        dz_out[i] = dA[i] * z[i] + A[i] * dz[i] + dh1[i]
    for l in range(L):
        a = _preactivation(W2, h2, M, l, z)
        if a > 0.0:  # relu'(0) = 0: at the kink neither value nor derivative passes
            w2, dw2 = row_view(W2, M, l), row_view(dW2, M, l)
            da = dh2[l]
            for j in range(M):
                da += dw2[j] * z[j] + w2[j] * dz[j]
            w1, dw1 = row_view(W1T, M, l), row_view(dW1T, M, l)
            for i in range(M):
                dz_out[i] += a * dw1[i] + da * w1[i]


# adjoint: g_a = D W1^T g;  dL/dz = A*g + W2^T g_a;  dL/dA += g*z;  dL/dW1 += g relu(a)^T;
#          dL/dW2 += g_a z^T;  dL/dh1 += g;  dL/dh2 += g_a
@njit(cache=True)
def step_vjp_kernel(theta, M, z, z_out, g, g_theta, g_z):
    L = _hidden_width(theta, M)
    A, W1, W2, h1, h2 = _views(theta, M, L)
    gA, gW1, gW2, gh1, gh2 = _views(g_theta, M, L)
    W1T = _columns_of_W1(theta, M, L)
    for i in range(M):
        gA[i] += g[i] * z[i]
        gh1[i] += g[i]
        g_z[i] = A[i] * g[i]
    for l in range(L):
        a = _preactivation(W2, h2, M, l, z)
        if a > 0.0:  # an inactive unit passes no gradient and has relu(a) = 0
            w1 = row_view(W1T, M, l)  # W1[:, l]
            ga = 0.0
            for i in range(M):
                ga += w1[i] * g[i]
                gW1[i * L + l] += g[i] * a  # column l of the row-major gW1
            gh2[l] += ga
            w2, gw2 = row_view(W2, M, l), row_view(gW2, M, l)
            for j in range(M):
                g_z[j] += ga * w2[j]
                gw2[j] += ga * z[j]


# Jacobian dF/dz = diag(A) + sum over active l of W1[:, l] W2[l, :]
@njit(cache=True)
def jacobian_kernel(theta, M, z, J):
    L = _hidden_width(theta, M)
    A, W1, W2, h1, h2 = _views(theta, M, L)
    W1T = _columns_of_W1(theta, M, L)
    for i in range(M):
        for j in range(M):
            J[i, j] = 0.0
        J[i, i] = A[i]
    for l in range(L):
        if _preactivation(W2, h2, M, l, z) > 0.0:
            w1, w2 = row_view(W1T, M, l), row_view(W2, M, l)
            for i in range(M):
                for j in range(M):
                    J[i, j] += w1[i] * w2[j]
