r"""The forcing signal of the linear readout, :math:`\tilde z = B^+ x`, and its derivatives.

With the linear readout :math:`\hat x = B z`, sparse teacher forcing replaces the latent
state by the minimum-norm state that reproduces the observation, :math:`B^+ x`
(Mikhaeil, Monfared & Durstewitz 2022, Sect. 3). :math:`B^+` depends on B, so the loss
depends on B twice: through the readout and through every forced state (:math:`z_0` and
each step :math:`t` with :math:`\tau \mid t`). The authors' released code differentiates
through both (``torch.linalg.pinv`` is not detached there); refrnn does the same by default
(``detach_forcing=False`` in :func:`refrnn.loss_and_grad`) and can treat :math:`B^+ x` as
constant data instead (``detach_forcing=True``).

This module holds the two derivative rules of :math:`P = B^+` that this needs, first as the
plain NumPy definition, then the same VJP as a Numba kernel. The identity readout forces
with the data themselves, :math:`[x, z_{N:}]`, which do not depend on any parameter: none
of this applies to it.

Derivation (B of shape (N, M) with full row rank N <= M)
--------------------------------------------------------
Then :math:`B B^\top` is invertible and :math:`P = B^+ = B^\top K` with
:math:`K = (B B^\top)^{-1} = P^\top P`; also :math:`B P = I_N`. Differentiating,

.. math::

    dK = -K\,(dB\,B^\top + B\,dB^\top)\,K, \qquad
    dP = dB^\top K + B^\top dK = (I_M - P B)\,dB^\top K \;-\; P\,dB\,P .

This is the tangent (forward-mode) rule. For the adjoint rule take a cotangent
:math:`\bar P = \partial L/\partial P` (shape (M, N)) and use
:math:`\langle \bar P, dP\rangle = \mathrm{tr}(\bar P^\top dP)` with the cyclic property of
the trace on each term:

.. math::

    \mathrm{tr}\big(\bar P^\top (I - PB)\, dB^\top K\big)
        = \big\langle K \bar P^\top (I - PB),\; dB \big\rangle, \qquad
    \mathrm{tr}\big(\bar P^\top P\, dB\, P\big)
        = \big\langle P^\top \bar P P^\top,\; dB \big\rangle,

so that

.. math::

    \bar B = K\,\bar P^\top (I_M - P B) \;-\; P^\top \bar P\, P^\top,
    \qquad K = P^\top P .

This is the general formula for the derivative of a pseudo-inverse (Golub & Pereyra 1973,
Thm. 4.3) with its third term, proportional to :math:`I_N - B P`, equal to zero because B
has full row rank. A rank-deficient B has no differentiable pseudo-inverse (its rank can
jump under perturbation); refrnn rejects such a linear readout when the model is built.

With the forcing states :math:`\tilde z_k = P x_k` (one per forced step and window), the
cotangent of P is :math:`\bar P = \sum_k \bar z_k x_k^\top`, where :math:`\bar z_k` is the
gradient of the loss with respect to the forced state (see :mod:`refrnn.bptt`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["pinv_jvp", "pinv_vjp"]


# ======================================================================================
# Definition (what a student reads)
def pinv_jvp(B, P, dB):
    r"""Tangent of the pseudo-inverse: :math:`dP = (I - PB)\,dB^\top P^\top P - P\,dB\,P`.

    Parameters
    ----------
    B : ndarray, shape (N, M)
        Full row rank, N <= M.
    P : ndarray, shape (M, N)
        :math:`B^+`.
    dB : ndarray, shape (N, M)
        Direction in which B moves.

    Returns
    -------
    dP : ndarray, shape (M, N)
    """
    M = B.shape[1]
    K = P.T @ P
    return (np.eye(M) - P @ B) @ dB.T @ K - P @ dB @ P


def pinv_vjp(B, P, G):
    r"""Adjoint of the pseudo-inverse,
    :math:`\bar B = P^\top P\,\bar P^\top (I - PB) - P^\top \bar P P^\top`.

    Parameters
    ----------
    B : ndarray, shape (N, M)
        Full row rank, N <= M.
    P : ndarray, shape (M, N)
        :math:`B^+`.
    G : ndarray, shape (M, N)
        Cotangent :math:`\bar P = \partial L / \partial P`.

    Returns
    -------
    G_B : ndarray, shape (N, M)
        :math:`\partial L / \partial B` through P (the module docstring derives it).
    """
    M = B.shape[1]
    K = P.T @ P
    return K @ G.T @ (np.eye(M) - P @ B) - P.T @ G @ P.T


# ======================================================================================
# The same computation, fast (one call per training batch; N, M are small, so plain loops
# with no temporaries beyond two (M, M) and (N, M) scratch arrays).
@njit(cache=True)
def pinv_vjp_kernel(B, P, G, out):
    """``out[:] = pinv_vjp(B, P, G)``; shapes B, out (N, M); P, G (M, N)."""
    N, M = B.shape
    # C = G^T (I - P B) = G^T - (G^T P) B, an (N, M) matrix; GtP = G^T P is (N, N)
    GtP = np.zeros((N, N))
    for a in range(N):
        for b in range(N):
            acc = 0.0
            for i in range(M):
                acc += G[i, a] * P[i, b]
            GtP[a, b] = acc
    C = np.empty((N, M))
    for a in range(N):
        for j in range(M):
            acc = G[j, a]
            for b in range(N):
                acc -= GtP[a, b] * B[b, j]
            C[a, j] = acc
    # K = P^T P, then out = K C - P^T (G P^T) = K C - (P^T G) P^T
    K = np.zeros((N, N))
    PtG = np.zeros((N, N))
    for a in range(N):
        for b in range(N):
            k = 0.0
            q = 0.0
            for i in range(M):
                k += P[i, a] * P[i, b]
                q += P[i, a] * G[i, b]
            K[a, b] = k
            PtG[a, b] = q
    for a in range(N):
        for j in range(M):
            acc = 0.0
            for b in range(N):
                acc += K[a, b] * C[b, j] - PtG[a, b] * P[j, b]
            out[a, j] = acc
