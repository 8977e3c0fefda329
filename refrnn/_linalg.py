"""Small dense linear algebra in Numba, shared by the Jacobian-product and Lyapunov loops.

* :func:`matmul_into` -- ``out = A @ B`` without allocation.
* :func:`qr_positive` -- Householder QR with a positive diagonal of R (so that Q and R are
  unique and the logarithms of R's diagonal are the local stretching rates of
  :func:`refrnn.lyapunov_spectrum`).
* :func:`all_finite`, :func:`row_view` -- helpers of the kernels.

Nothing here knows about models or systems; the module sits at the bottom of the package
with :mod:`refrnn.equations`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["matmul_into", "qr_positive", "all_finite", "row_view"]

#: From this dimension on, the batch-major kernels hand a step's (M, M) x (M, windows)
#: product to BLAS (``np.dot``) instead of their own loops: at M = 300 BLAS ran ~4x
#: faster, at M = 20 the copies in and out eat most of its gain (measured, see
#: ``benchmarks/README.md``).
GEMM_MIN_DIM = 48


@njit(cache=True)
def row_view(block, M, i):
    """Row ``i`` of the M x M matrix stored row-major in the 1-D array ``block`` (a view).

    Kernels use flat parameter blocks and these views instead of 2-D reshapes: two Numba
    reshapes per step cost about as much as the rest of a PLRNN step at M = 20 (measured,
    see ``benchmarks/README.md``), 1-D slices almost nothing.
    """
    return block[i * M : (i + 1) * M]


@njit(cache=True)
def matmul_into(A, B, out):
    """``out = A @ B`` for ``A`` (n, m), ``B`` (m, k); no allocation.

    The innermost loop runs over the contiguous last axis of ``B`` and ``out`` (it
    vectorises), and every entry is summed in the same order whatever ``k`` is, so the
    leading columns of a product do not depend on how many columns are computed.
    """
    n, m = A.shape
    k = B.shape[1]
    for i in range(n):
        for c in range(k):
            out[i, c] = 0.0
        for j in range(m):
            a = A[i, j]
            for c in range(k):
                out[i, c] += a * B[j, c]


@njit(cache=True)
def all_finite(x):
    """True if every entry of the 1-D array ``x`` is finite."""
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return False
    return True


@njit(cache=True)
def _apply_reflector(V, j, tau_j, T, c0, w):
    r"""``T[j:, c0:] <- (I - tau_j v v^T) T[j:, c0:]`` with :math:`v = (1, V_{j+1:,j})`.

    Written as two passes of row-wise ``axpy`` s over the contiguous columns (these
    vectorise; a dot product over rows would be a serial reduction without
    ``fastmath``). Two rows per pass: for M ~ 20 the loop overhead, not the
    arithmetic, dominates, and this halves it.
    """
    n = T.shape[0]
    m = T.shape[1] - c0
    w = w[:m]
    top = T[j, c0:]
    # w = v^T T[j:, c0:]
    for c in range(m):
        w[c] = top[c]
    i = j + 1
    while i + 1 < n:
        a, b = V[i, j], V[i + 1, j]
        r1, r2 = T[i, c0:], T[i + 1, c0:]
        for c in range(m):
            w[c] += a * r1[c] + b * r2[c]
        i += 2
    if i < n:
        a, r1 = V[i, j], T[i, c0:]
        for c in range(m):
            w[c] += a * r1[c]
    # T -= tau v w^T
    for c in range(m):
        w[c] *= tau_j
        top[c] -= w[c]
    i = j + 1
    while i + 1 < n:
        a, b = V[i, j], V[i + 1, j]
        r1, r2 = T[i, c0:], T[i + 1, c0:]
        for c in range(m):
            r1[c] -= a * w[c]
            r2[c] -= b * w[c]
        i += 2
    if i < n:
        a, r1 = V[i, j], T[i, c0:]
        for c in range(m):
            r1[c] -= a * w[c]


@njit(cache=True)
def qr_positive(Y, Q, R, tau, w):
    r"""Thin QR factorisation :math:`Y = QR` by Householder reflections, with :math:`R_{ii} \ge 0`.

    Parameters
    ----------
    Y : ndarray, shape (n, k), k <= n
        The matrix to factorise. **Overwritten** (it ends up holding the reflectors).
    Q : ndarray, shape (n, k)
        Output: orthonormal columns, :math:`Q^\top Q = I_k`.
    R : ndarray, shape (k, k)
        Output: upper triangular with non-negative diagonal.
    tau : ndarray, shape (k,)
        Scratch: the reflectors' coefficients.
    w : ndarray, shape (k,)
        Scratch.

    Returns
    -------
    ok : bool
        False if ``Y`` held a non-finite entry in a pivot column (``Q`` and ``R`` are
        then meaningless); the caller turns that into an error naming the step.

    Notes
    -----
    Column :math:`j` is reflected onto :math:`\alpha_j e_j` by
    :math:`H_j = I - \tau_j v_j v_j^\top` with :math:`v_{j,j} = 1`,
    :math:`\alpha_j = -\mathrm{sign}(y_{jj})\|y_{j:,j}\|` (the sign that avoids
    cancellation) and :math:`\tau_j = (\alpha_j - y_{jj})/\alpha_j`; this is LAPACK's
    ``dlarfg`` convention (Golub & Van Loan, *Matrix Computations*, §5.1). Then
    :math:`Q = H_0 H_1 \cdots H_{k-1} [I_k; 0]` is accumulated backwards. Householder is
    used rather than Gram--Schmidt because its :math:`Q` is orthonormal to working
    precision however ill-conditioned :math:`Y` is -- after several Jacobians have been
    multiplied into a frame (``reortho_every > 1``) it is very ill-conditioned -- and
    stays orthonormal when :math:`Y` is exactly rank deficient (a zero column gives
    :math:`R_{jj} = 0`, i.e. an exponent :math:`-\infty`, not a NaN). Finally the signs
    of :math:`R`'s rows and :math:`Q`'s columns are flipped where :math:`R_{jj} < 0`,
    which makes the factorisation unique for full-rank :math:`Y`.
    """
    n, k = Y.shape
    for j in range(k):
        # 2-norm of the pivot column from the diagonal down. The plain sum of squares is
        # right unless it over- or underflows (or the column holds inf/NaN); only then
        # take the slow path that scales by the largest entry first.
        ss = 0.0
        for i in range(j, n):
            ss += Y[i, j] * Y[i, j]
        if 1e-280 < ss < 1e280:
            scale = 1.0
        else:
            scale = 0.0
            for i in range(j, n):
                a = abs(Y[i, j])
                if not np.isfinite(a):
                    return False
                if a > scale:
                    scale = a
            if scale > 0.0:
                ss = 0.0
                for i in range(j, n):
                    s = Y[i, j] / scale
                    ss += s * s
        if scale == 0.0:
            # Nothing to annihilate: H_j = I. R_jj = 0 (rank deficiency) is legitimate.
            tau[j] = 0.0
            R[j, j] = 0.0
        else:
            sigma = scale * math.sqrt(ss)
            y0 = Y[j, j]
            alpha = -math.copysign(sigma, y0)
            tau[j] = (alpha - y0) / alpha
            # v = y / (y0 - alpha) with v_j = 1 (implicit); |v_i| <= 1, so no overflow.
            inv = 1.0 / (y0 - alpha)
            for i in range(j + 1, n):
                Y[i, j] *= inv
            R[j, j] = alpha
            _apply_reflector(Y, j, tau[j], Y, j + 1, w)
        for c in range(j):
            R[j, c] = 0.0
        for c in range(j + 1, k):
            R[j, c] = Y[j, c]

    # Q = H_0 ... H_{k-1} [I_k; 0], backwards: when H_j is applied, columns < j of the
    # partial product are still unit vectors e_c with zeros in rows >= j, so only the
    # block Q[j:, j:] changes.
    for i in range(n):
        for c in range(k):
            Q[i, c] = 0.0
    for c in range(k):
        Q[c, c] = 1.0
    for j in range(k - 1, -1, -1):
        if tau[j] != 0.0:
            _apply_reflector(Y, j, tau[j], Q, j, w)

    # Positive diagonal: Y = (Q S)(S R) with S = diag(+-1).
    for j in range(k):
        if R[j, j] < 0.0:
            for c in range(j, k):
                R[j, c] = -R[j, c]
            for i in range(n):
                Q[i, j] = -Q[i, j]
    return True


@njit(cache=True, fastmath={"contract"})  # as the batch VJP kernels that call it
def transposed_row_times_chunk(W, M, j, G, v, w, out):
    r"""Row ``j`` of :math:`W^\top G` over a chunk of windows,
    :math:`\text{out}_s = \sum_i W_{ij}\, G_{i,v,s}` for :math:`s < w`.

    Parameters
    ----------
    W : ndarray, shape (M*M,)
        W flattened row-major (``W[i * M + j]`` is :math:`W_{ij}`).
    M : int
    j : int
    G : ndarray, shape (M, n, >= w)
        Adjoint states, windows last; ``G[i, v]`` is state i at step v of the chunk.
    v : int
    w : int
        Windows in the chunk.
    out : ndarray, shape (>= w,)
        Overwritten.
    """
    for s in range(w):
        out[s] = 0.0
    # two rows per pass: half the passes over out
    i = 0
    while i + 1 < M:
        w0, w1, g0, g1 = W[i * M + j], W[(i + 1) * M + j], G[i, v], G[i + 1, v]
        for s in range(w):
            out[s] += w0 * g0[s] + w1 * g1[s]
        i += 2
    if i < M:
        w0, g0 = W[i * M + j], G[i, v]
        for s in range(w):
            out[s] += w0 * g0[s]
