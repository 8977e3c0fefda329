"""Small dense linear algebra in Numba, shared by the Jacobian-product and Lyapunov loops.

* :func:`matmul_into` -- ``out = A @ B`` without allocation.
* :func:`qr_positive` -- Householder QR with a positive diagonal of R (so that Q and R are
  unique and the logarithms of R's diagonal are the local stretching rates of
  :func:`refrnn.lyapunov_spectrum`).
* :func:`householder_rows`, :func:`apply_reflectors_rows` -- the same factorisation for
  a frame stored transposed, with :math:`Q` kept as its reflectors and applied to the
  next Jacobian (the QR iteration of :func:`refrnn.lyapunov_spectrum` below ``dim`` 48).
* :func:`householder_lapack`, :func:`apply_reflectors_lapack` -- the same two by LAPACK
  (``dgeqrt``, ``dgemqrt``) for large frames, called from Numba without allocation;
  :func:`form_q_lapack` (``dorgqr``) forms :math:`Q` where that is cheaper;
  :func:`lapack_qr_work_size` and :func:`block_factors` size their scratch.
* :func:`one_blas_thread` -- BLAS/LAPACK on one thread while a kernel calls them.
* :func:`all_finite`, :func:`row_view` -- helpers of the kernels.

Nothing here knows about models or systems; the module sits at the bottom of the package
with :mod:`refrnn.equations`. The products of the batch-major kernels, 16 windows at a
time, are in :mod:`refrnn._lanes`.
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np
from llvmlite import binding as _llvm
from numba import njit, types
from numba.extending import get_cython_function_address
from threadpoolctl import ThreadpoolController

__all__ = [
    "matmul_into",
    "qr_positive",
    "householder_lapack",
    "apply_reflectors_lapack",
    "form_q_lapack",
    "householder_rows",
    "apply_reflectors_rows",
    "transpose_in_place",
    "lapack_qr_work_size",
    "block_factors",
    "LAPACK_BLOCK",
    "spectral_norms",
    "one_blas_thread",
    "add_product_nt",
    "all_finite",
    "row_view",
]

#: From this dimension on, the batch-major kernels hand a step's (M, M) x (M, windows)
#: product to BLAS (``np.dot``) instead of their own loops: at M = 300 BLAS ran ~4x
#: faster, at M = 20 the copies in and out eat most of its gain (measured, see
#: ``benchmarks/README.md``).
GEMM_MIN_DIM = 48

# LAPACK from SciPy's Cython wrappers (the library Numba's own np.dot and np.linalg use).
# Registered as named symbols rather than ctypes function pointers: a kernel calling a
# ctypes pointer bakes its address into the code and cannot be cached (cache=True); a
# named external symbol is resolved when the cached kernel is loaded. Fortran calling
# convention: every argument by pointer, 32-bit integers.
_POINTERS = {
    "c": types.CPointer(types.int8),  # a character
    "i": types.CPointer(types.int32),
    "d": types.CPointer(types.float64),
}


def _fortran(library, name, args):
    """The Fortran routine ``name`` of SciPy's ``cython_<library>``, callable from kernels:
    ``args`` spells its argument types, one letter each (:data:`_POINTERS`)."""
    module = f"scipy.linalg.cython_{library}"
    _llvm.add_symbol("refrnn_" + name, get_cython_function_address(module, name))
    return types.ExternalFunction("refrnn_" + name, types.void(*(_POINTERS[a] for a in args)))


#: dgemm(TRANSA, TRANSB, M, N, K, ALPHA, A, LDA, B, LDB, BETA, C, LDC)
_dgemm = _fortran("blas", "dgemm", "cciiiddididdi")
#: dgeqrt(M, N, NB, A, LDA, T, LDT, WORK, INFO)
_dgeqrt = _fortran("lapack", "dgeqrt", "iiidididi")
#: dgemqrt(SIDE, TRANS, M, N, K, NB, V, LDV, T, LDT, C, LDC, WORK, INFO)
_dgemqrt = _fortran("lapack", "dgemqrt", "cciiiididididi")
#: dorgqr(M, N, K, A, LDA, TAU, WORK, LWORK, INFO)
_dorgqr = _fortran("lapack", "dorgqr", "iiididdii")

#: Columns per block of the LAPACK QR (``dgeqrt``'s NB). Measured, one thread, a
#: factorisation and the application of its reflectors to an (n, n) matrix, relative to
#: ``dgeqrf`` + ``dormqr`` (NB = 16 / 24 / 32 / 48): n = k = 100 0.82 / 0.84 / 0.86 /
#: 0.92; n = k = 200 0.92 / 0.87 / 0.90 / 0.91; n = k = 300 0.97 / 0.89 / 0.92 / 0.92;
#: n = 300, k = 200 0.92 / 0.84 / 0.86 / 0.83.
LAPACK_BLOCK = 24
#: dsyevr(JOBZ, RANGE, UPLO, N, A, LDA, VL, VU, IL, IU, ABSTOL, M, W, Z, LDZ, ISUPPZ, WORK,
#: LWORK, IWORK, LIWORK, INFO)
_dsyevr = _fortran("lapack", "dsyevr", "cccididdiididdiidiiii")


@njit(cache=True)
def add_product_nt(A, B, C, iw, chars, scalars):
    r""":math:`C \mathrel{+}= A B^\top` by BLAS ``dgemm``, with no copy and no allocation.

    For C-ordered ``A`` (m, k), ``B`` (n, k), ``C`` (m, n): Fortran sees each as its
    transpose, so this is ``dgemm("T", "N")`` computing :math:`C^\top \mathrel{+}= B A^\top`
    (beta = 1). Used for parameter gradients summed over the steps of a chunk, one
    product per step, where one product over all steps would need a transposed copy of
    both operands. ``iw`` (int32, >= 6), ``chars`` (int8, >= 2) and ``scalars``
    (float64, >= 2) are scratch for the arguments, which Fortran takes by pointer.
    """
    m, k, n = A.shape[0], A.shape[1], B.shape[0]
    iw[0], iw[1], iw[2], iw[3] = n, m, k, n  # M, N, K of the Fortran call; LDC
    iw[4] = k  # LDA = LDB
    chars[0], chars[1] = 84, 78  # "T", "N"
    scalars[0], scalars[1] = 1.0, 1.0  # alpha, beta
    _dgemm(chars[0:].ctypes, chars[1:].ctypes, iw[0:].ctypes, iw[1:].ctypes, iw[2:].ctypes,
           scalars[0:].ctypes, B.ctypes, iw[4:].ctypes, A.ctypes, iw[4:].ctypes,
           scalars[1:].ctypes, C.ctypes, iw[3:].ctypes)  # fmt: skip


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
    r"""``out = A @ B`` for ``A`` (n, m), ``B`` (m, k); no allocation.

    :math:`\text{out}_{ic} = \sum_j A_{ij} B_{jc}`, summed over j in increasing order
    for every entry, whatever ``k`` is, so the leading columns of a product do not depend
    on how many columns are computed.

    The innermost loop runs over the contiguous last axis of ``B`` and ``out`` (it
    vectorises). Two rows of ``out`` per pass share each load of a row of ``B`` (the
    loop is bound by loads: 1.2x faster alone at n = m = k = 20, 1.5x at 30, measured on
    an idle machine; the same sums in the same order as one row at a time, so
    bit-identical to it).
    """
    n, m = A.shape
    k = B.shape[1]
    i = 0
    while i + 1 < n:
        o0, o1 = out[i], out[i + 1]
        for c in range(k):
            o0[c] = 0.0
            o1[c] = 0.0
        for j in range(m):
            a0, a1, b = A[i, j], A[i + 1, j], B[j]
            for c in range(k):
                bc = b[c]
                o0[c] += a0 * bc
                o1[c] += a1 * bc
        i += 2
    if i < n:  # the last row of an odd n
        o0 = out[i]
        for c in range(k):
            o0[c] = 0.0
        for j in range(m):
            a0, b = A[i, j], B[j]
            for c in range(k):
                o0[c] += a0 * b[c]


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
def _norm_from(x, start):
    r""":math:`\|x_{start:}\|_2` of the 1-D ``x`` without spurious over- or underflow; NaN if
    an entry is not finite.

    The plain sum of squares is right unless it over- or underflows (or holds inf/NaN);
    only then take the slow path that scales by the largest entry first.
    """
    n = x.shape[0]
    ss = 0.0
    for i in range(start, n):
        ss += x[i] * x[i]
    if 1e-280 < ss < 1e280:
        return math.sqrt(ss)
    scale = 0.0
    for i in range(start, n):
        a = abs(x[i])
        if not np.isfinite(a):
            return np.nan
        if a > scale:
            scale = a
    if scale == 0.0:
        return 0.0
    ss = 0.0
    for i in range(start, n):
        t = x[i] / scale
        ss += t * t
    return scale * math.sqrt(ss)


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
        sigma = _norm_from(Y[:, j], j)  # the pivot column from the diagonal down
        if sigma != sigma:  # NaN: a non-finite entry
            return False
        if sigma == 0.0:
            # Nothing to annihilate: H_j = I. R_jj = 0 (rank deficiency) is legitimate.
            tau[j] = 0.0
            R[j, j] = 0.0
        else:
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


@njit(cache=True)
def transpose_in_place(A):
    """``A <- A^T`` for a square ``A``."""
    n = A.shape[0]
    for i in range(n):
        for c in range(i + 1, n):
            A[i, c], A[c, i] = A[c, i], A[i, c]


@njit(cache=True)
def householder_rows(Yt, R, tau):
    r"""Householder QR of :math:`Y = Y_t^\top` with :math:`Q` left as its reflectors.

    The factorisation of :func:`qr_positive` (same reflectors, same :math:`R` up to the
    signs of its rows), for a frame stored transposed -- column :math:`j` of :math:`Y` is
    the contiguous row ``Yt[j]`` -- and without forming :math:`Q`:
    :func:`apply_reflectors_rows` multiplies by it instead. The QR iteration of
    :func:`refrnn.lyapunov_spectrum` needs :math:`Q` only inside the next product
    :math:`J Q`, and applying the reflectors to :math:`J^\top` costs :math:`2n^3` flops for
    a square frame, against :math:`\tfrac43 n^3` to form :math:`Q` plus :math:`2n^3` for
    the product.

    Parameters
    ----------
    Yt : ndarray, shape (k, n), k <= n
        :math:`Y^\top`. **Overwritten**: row :math:`j` ends holding the reflector
        :math:`v_j` in entries :math:`j+1, \dots, n-1` (:math:`(v_j)_j = 1` is implicit).
    R : ndarray, shape (k, k)
        Output: upper triangular, with the sign of each row as the reflections give it
        (:math:`R_{jj} = \alpha_j`); :math:`|R_{jj}|` are the stretching factors.
    tau : ndarray, shape (k,)
        Output: the reflectors' coefficients, :math:`H_j = I - \tau_j v_j v_j^\top`.

    Returns
    -------
    ok : bool
        False if a pivot column held a non-finite entry, as :func:`qr_positive`.

    Notes
    -----
    A column with nothing to annihilate below its diagonal gets :math:`H_j = I`
    (:math:`\tau_j = 0`, :math:`R_{jj} = y_{jj}`), as in LAPACK's ``dlarfg``, so that
    this and :func:`householder_lapack` give the same factors, signs included (a zero
    column is the case :math:`R_{jj} = 0`, an exponent :math:`-\infty`). Unlike
    ``dlarfg``, a pivot column whose norm is subnormal (below ~2e-308) is not rescaled
    (neither in :func:`qr_positive`): :math:`1/(y_{jj} - \alpha_j)` overflows and the
    non-finite reflector is reported at the next QR. The Lyapunov iteration's frames are
    renormalised every step, far from that range.
    :math:`Y = H_0 H_1 \cdots H_{k-1} [R; 0]`, so the factorisation with a positive
    diagonal is :math:`Q = H_0 \cdots H_{k-1} [I_k; 0]\, S`, :math:`S =
    \mathrm{diag}(\mathrm{sign}\,R_{jj})` (+1 where :math:`R_{jj} = 0`). Each trailing
    column is updated by a dot product and an axpy over contiguous rows, two columns at a
    time (two independent sums hide the latency of a serial one; ~15 % faster than the
    row-wise updates of :func:`qr_positive` at n = k = 20, measured).
    """
    k, n = Yt.shape
    for j in range(k):
        y = Yt[j]
        for c in range(j):
            R[j, c] = 0.0
        nothing_below = True
        for i in range(j + 1, n):
            if y[i] != 0.0:
                nothing_below = False
                break
        if nothing_below:
            # H_j = I (tau_j = 0, R_jj = y_jj, whatever its sign), as LAPACK's dlarfg does:
            # the last column of a square frame, or one already triangular
            tau[j] = 0.0
            for c in range(j, k):
                R[j, c] = Yt[c, j]
                if not np.isfinite(R[j, c]):  # no update spreads it into a later pivot
                    return False
            continue
        sigma = _norm_from(y, j)  # the pivot column from the diagonal down
        if sigma != sigma:  # NaN: a non-finite entry
            return False
        y0 = y[j]
        alpha = -math.copysign(sigma, y0)
        tj = (alpha - y0) / alpha
        tau[j] = tj
        inv = 1.0 / (y0 - alpha)  # v = y / (y0 - alpha): |v_i| <= 1
        for i in range(j + 1, n):
            y[i] *= inv
        R[j, j] = alpha
        # column c <- H_j column c, i.e. Yt[c, j:] -= tau_j (v . Yt[c, j:]) v
        c = j + 1
        while c + 1 < k:
            a, b = Yt[c], Yt[c + 1]
            sa, sb = a[j], b[j]
            for i in range(j + 1, n):
                sa += y[i] * a[i]
                sb += y[i] * b[i]
            sa *= tj
            sb *= tj
            a[j] -= sa
            b[j] -= sb
            for i in range(j + 1, n):
                a[i] -= sa * y[i]
                b[i] -= sb * y[i]
            R[j, c], R[j, c + 1] = a[j], b[j]
            c += 2
        if c < k:  # an odd last column
            a = Yt[c]
            sa = a[j]
            for i in range(j + 1, n):
                sa += y[i] * a[i]
            sa *= tj
            a[j] -= sa
            for i in range(j + 1, n):
                a[i] -= sa * y[i]
            R[j, c] = a[j]
    return True


@njit(cache=True)
def apply_reflectors_rows(Vt, tau, Z, w):
    r"""``Z <- H_{k-1} ... H_1 H_0 Z`` for the reflectors of :func:`householder_rows`.

    With :math:`Z = J^\top` this is :math:`(J H_0 \cdots H_{k-1})^\top`, whose first
    :math:`k` rows are :math:`(J Q)^\top` up to the signs :math:`S` (see
    :func:`householder_rows`): the next product of the QR iteration, with no :math:`Q`.

    Parameters
    ----------
    Vt : ndarray, shape (k, n)
        Reflectors as :func:`householder_rows` leaves them.
    tau : ndarray, shape (k,)
    Z : ndarray, shape (n, m)
        **Overwritten** by the product.
    w : ndarray, shape (2, m)
        Scratch.

    Notes
    -----
    :math:`H_j Z = Z - \tau_j v_j (v_j^\top Z)`. Two reflectors per pass over the rows of
    :math:`Z` (measured 1.35x faster than one at n = m = 20): with :math:`w_0 = \tau_j
    v_j^\top Z` and :math:`u = v_{j+1}^\top Z` accumulated together,
    :math:`v_{j+1}^\top (H_j Z) = u - (v_{j+1}^\top v_j)\, w_0`, so
    :math:`H_{j+1} H_j Z = Z - v_j w_0^\top - v_{j+1} w_1^\top` with
    :math:`w_1 = \tau_{j+1}(u - (v_{j+1}^\top v_j) w_0)`. The same product as one
    reflector at a time, summed in another order (agreement to rounding).
    """
    k, n = Vt.shape
    m = Z.shape[1]
    w0, w1 = w[0], w[1]
    j = 0
    while j < k:
        v0, t0 = Vt[j], tau[j]
        pair = j + 1 < k
        # w0 = v_j^T Z and u = v_{j+1}^T Z over rows >= j ((v_j)_j = 1, (v_{j+1})_{j+1} = 1,
        # (v_{j+1})_j = 0)
        zj = Z[j]
        for c in range(m):
            w0[c] = zj[c]
            w1[c] = 0.0
        if pair:
            v1, t1 = Vt[j + 1], tau[j + 1]
            a, r = v0[j + 1], Z[j + 1]
            for c in range(m):
                w0[c] += a * r[c]
                w1[c] += r[c]
            for i in range(j + 2, n):
                a, b, r = v0[i], v1[i], Z[i]
                for c in range(m):
                    w0[c] += a * r[c]
                    w1[c] += b * r[c]
            d = v0[j + 1]  # v_{j+1}^T v_j
            for i in range(j + 2, n):
                d += v1[i] * v0[i]
            for c in range(m):
                w0[c] *= t0
                w1[c] = t1 * (w1[c] - d * w0[c])
            for c in range(m):
                zj[c] -= w0[c]
            a, r = v0[j + 1], Z[j + 1]
            for c in range(m):
                r[c] -= a * w0[c] + w1[c]
            for i in range(j + 2, n):
                a, b, r = v0[i], v1[i], Z[i]
                for c in range(m):
                    r[c] -= a * w0[c] + b * w1[c]
            j += 2
        else:
            for i in range(j + 1, n):
                a, r = v0[i], Z[i]
                for c in range(m):
                    w0[c] += a * r[c]
            for c in range(m):
                w0[c] *= t0
                zj[c] -= w0[c]
            for i in range(j + 1, n):
                a, r = v0[i], Z[i]
                for c in range(m):
                    r[c] -= a * w0[c]
            j += 1


_blas_state = {"controller": None, "limiter": None, "depth": 0}
_blas_lock = threading.Lock()


@contextlib.contextmanager
def one_blas_thread():
    """Context manager: the loaded BLAS/LAPACK libraries run on one thread inside it.

    For kernels that call BLAS or LAPACK (SciPy's OpenBLAS, through Numba) once per time
    step. OpenBLAS's threads wait for each other by spinning, so when the cores are
    busy with other jobs each call can wait for a time slice: with its default two
    threads on this project's 2-core machine at load 5, one ``dgeqrf`` + ``dorgqr`` of a
    300 x 300 frame took ~950 ms instead of 2.3 ms, and a Lyapunov step at dim 100 took
    90--160 ms instead of 0.23 ms (measured). One thread is also what the hand-written
    loops these calls replace use. The batch-major BPTT kernels call BLAS from threads
    that already run in parallel (``prange`` over chunks of windows), so they use it
    too: PLRNN M = 100, 16 windows of 200 steps at load ~2 took 77--248 ms per
    ``loss_and_grad`` with OpenBLAS's own threads and 20--23 ms with one (measured).
    Entering it costs ~11 us. Nested and concurrent uses (threads) share one limit: the
    first to enter sets it, the last to leave restores the previous limits.
    """
    # A reference count, not one threadpoolctl limiter per use: with overlapping uses in
    # two threads, the first to leave would restore the old limits under the other.
    with _blas_lock:
        st = _blas_state
        if st["controller"] is None:
            st["controller"] = ThreadpoolController()  # scans the loaded libraries, ~3 ms
        if st["depth"] == 0:
            st["limiter"] = st["controller"].limit(limits=1, user_api="blas")
        st["depth"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            st["depth"] -= 1
            if st["depth"] == 0:
                st["limiter"].restore_original_limits()
                st["limiter"] = None


def block_factors(k):
    """An array for the triangular factors of :func:`householder_lapack`'s blocks:
    shape (k, nb) with nb = ``min(LAPACK_BLOCK, k)``, C order (the Fortran (nb, k) array
    ``T`` of ``dgeqrt``)."""
    return np.zeros((k, min(LAPACK_BLOCK, k)))


@njit(cache=True)
def lapack_qr_work_size(n, k):
    """Length of the ``work`` array that :func:`householder_lapack`, :func:`form_q_lapack`
    and :func:`apply_reflectors_lapack` need for an (n, k) frame and (n, m) matrices with
    m <= n: ``dgeqrt`` needs nb k, ``dgemqrt`` nb m, ``dorgqr`` what its workspace query
    (``LWORK = -1``) asks for. The query allocates, so call this once, outside any time
    loop.
    """
    Vt, tau, query = np.zeros((k, n)), np.zeros(k), np.zeros(1)
    iw = np.zeros(8, np.int32)
    iw[0], iw[1], iw[2], iw[3], iw[4] = n, k, k, n, -1
    _dorgqr(iw[0:].ctypes, iw[1:].ctypes, iw[2:].ctypes, Vt.ctypes, iw[3:].ctypes, tau.ctypes,
            query.ctypes, iw[4:].ctypes, iw[7:].ctypes)  # fmt: skip
    return max(int(query[0]), min(LAPACK_BLOCK, k) * max(n, k), 1)


@njit(cache=True)
def _c_arrays(a, b, c, d):
    """Whether all four arrays are C-contiguous (LAPACK gets their first entries' addresses)."""
    return (a.flags.c_contiguous and b.flags.c_contiguous and c.flags.c_contiguous
            and d.flags.c_contiguous)  # fmt: skip


@njit(cache=True)
def householder_lapack(Yt, R, tau, T, work, iw):
    r""":func:`householder_rows` by LAPACK's ``dgeqrt``, for large frames.

    Parameters
    ----------
    Yt : ndarray, shape (k, n), C order, k <= n
        :math:`Y^\top`: its memory is the (n, k) matrix :math:`Y` in Fortran (column-major)
        order, as LAPACK takes it, so no transpose is copied. **Overwritten** by the
        reflectors, stored as :func:`householder_rows` stores them (row :math:`j`, entries
        after :math:`j`).
    R : ndarray, shape (k, k)
        Output: upper triangular, signs as the reflections give them.
    tau : ndarray, shape (k,)
        Output: the reflectors' coefficients.
    T : ndarray, shape (k, nb), 1 <= nb <= k (:func:`block_factors`)
        Output: the upper triangular (nb, nb) factors of the blocks of nb reflectors, which
        :func:`apply_reflectors_lapack` takes (``dgeqrt``'s Fortran (nb, k) array ``T``).
    work : ndarray, shape (>= nb k,)
        Scratch (:func:`lapack_qr_work_size` is enough).
    iw : ndarray of int32, shape (>= 8,)
        Scratch: LAPACK's integer arguments.

    Returns
    -------
    ok : bool
        False if ``Yt`` held a non-finite entry (then the factors are meaningless).

    Notes
    -----
    ``dgeqrt`` uses the reflectors of :func:`householder_rows` (``dlarfg``,
    :math:`\alpha_j = -\mathrm{sign}(y_{jj})\|y_{j:,j}\|`) and keeps each block of nb
    of them as :math:`H_j \cdots H_{j+nb-1} = I - V T_b V^\top` (compact WY), so that
    applying them is matrix-matrix products; the two agree to round-off. ``dgeqrf``
    followed by ``dormqr`` does the same but recomputes every :math:`T_b` when applying,
    and factorises each panel with matrix-vector products where ``dgeqrt`` recurses
    (:data:`LAPACK_BLOCK` has the measured gain). :math:`\tau_j` is the diagonal entry
    of its block's :math:`T_b`. A zero pivot column gives :math:`\tau_j = 0` and
    :math:`R_{jj} = 0` exactly, as by hand.
    """
    k, n = Yt.shape
    nb = T.shape[1]
    if T.shape[0] != k or not 1 <= nb <= k or work.shape[0] < nb * k:
        raise ValueError("householder_lapack: T must have shape (k, nb), 1 <= nb <= k, "
                         "and work at least nb * k entries")  # fmt: skip
    if R.shape != (k, k) or tau.shape[0] < k or not _c_arrays(Yt, T, tau, work):
        raise ValueError("householder_lapack: R must have shape (k, k), tau k entries, "
                         "and Yt, T, tau and work must be C-contiguous")  # fmt: skip
    # LAPACK's norms would turn inf/NaN into NaN factors without telling: check first
    # (k n reads, against ~4 n k^2 flops of the factorisation).
    for j in range(k):
        for i in range(n):
            if not np.isfinite(Yt[j, i]):
                return False
    iw[0], iw[1], iw[2], iw[3], iw[4] = n, k, nb, n, nb  # M, N, NB, LDA, LDT
    _dgeqrt(iw[0:].ctypes, iw[1:].ctypes, iw[2:].ctypes, Yt.ctypes, iw[3:].ctypes, T.ctypes,
            iw[4:].ctypes, work.ctypes, iw[7:].ctypes)  # fmt: skip
    if iw[7] != 0:
        raise ValueError("dgeqrt: illegal argument")
    for j in range(k):
        tau[j] = T[j, j % nb]  # T_b[j - b nb, j - b nb] in Fortran (nb, k) order
    # R is the upper triangle of the Fortran (n, k) array, i.e. R[i, c] = Yt[c, i].
    for i in range(k):
        for c in range(i):
            R[i, c] = 0.0
        for c in range(i, k):
            R[i, c] = Yt[c, i]
    return True


@njit(cache=True)
def form_q_lapack(Vt, tau, work, iw):
    r"""``dorgqr``: overwrite the reflectors in ``Vt`` (as :func:`householder_lapack` leaves
    them) by :math:`Q^\top`, :math:`Q = H_0 \cdots H_{k-1} [I_k; 0]` (about
    :math:`4 n k^2` flops; the frame for products with few vectors, where applying the
    reflectors to a whole (n, n) matrix, :math:`4 n^2 k`, would cost more than forming
    :math:`Q` and one :math:`2 n^2 k` product)."""
    k, n = Vt.shape
    iw[0], iw[1], iw[2], iw[3], iw[4] = n, k, k, n, work.shape[0]
    _dorgqr(iw[0:].ctypes, iw[1:].ctypes, iw[2:].ctypes, Vt.ctypes, iw[3:].ctypes, tau.ctypes,
            work.ctypes, iw[4:].ctypes, iw[7:].ctypes)  # fmt: skip
    if iw[7] != 0:
        raise ValueError("dorgqr: illegal argument")


@njit(cache=True)
def apply_reflectors_lapack(Vt, T, Z, work, iw, chars):
    r""":func:`apply_reflectors_rows` by LAPACK's ``dgemqrt``: ``Z <- H_{k-1} ... H_0 Z``.

    Parameters
    ----------
    Vt, T : ndarray, shapes (k, n), (k, nb)
        Reflectors and block factors as :func:`householder_lapack` leaves them.
    Z : ndarray, shape (n, m), C order
        **Overwritten** by the product.
    work : ndarray, shape (>= nb m,)
        Scratch (:func:`lapack_qr_work_size` is enough for m <= n).
    iw : ndarray of int32, shape (>= 8,)
        Scratch: LAPACK's integer arguments.
    chars : ndarray of int8, shape (>= 2,)
        Scratch: LAPACK's character arguments.

    Notes
    -----
    Fortran sees ``Z``'s memory as :math:`Z^\top` (m, n), and :math:`(H_{k-1}\cdots H_0
    Z)^\top = Z^\top H_0 \cdots H_{k-1} = Z^\top Q_{\text{full}}`: ``dgemqrt`` with
    ``SIDE = "R"``, ``TRANS = "N"``, which applies the blocks :math:`I - V T_b V^\top`
    (matrix-matrix products) without forming :math:`Q`. For the Lyapunov step (k = n =
    300) the factorisation and the reflectors applied took 2.6 ms per step by ``dgeqrf``
    and ``dormqr``, where ``dgeqrf``, ``dorgqr`` and a ``dgemm`` with the formed
    :math:`Q` took 3.5 ms (measured through SciPy); ``dgeqrt`` and ``dgemqrt`` took
    0.89 of ``dgeqrf`` and ``dormqr``'s time (:data:`LAPACK_BLOCK`).
    """
    k, n = Vt.shape
    m = Z.shape[1]
    nb = T.shape[1]
    if Z.shape[0] != n or T.shape[0] != k or not 1 <= nb <= k or work.shape[0] < nb * m:
        raise ValueError("apply_reflectors_lapack: Z must have n rows, T shape (k, nb) with "
                         "1 <= nb <= k, and work at least nb * m entries")  # fmt: skip
    if not _c_arrays(Vt, T, Z, work):
        raise ValueError("apply_reflectors_lapack: Vt, T, Z and work must be C-contiguous")
    chars[0], chars[1] = 82, 78  # "R", "N"
    iw[0], iw[1], iw[2], iw[3], iw[4], iw[5], iw[6] = m, n, k, nb, n, nb, m
    _dgemqrt(chars[0:].ctypes, chars[1:].ctypes, iw[0:].ctypes, iw[1:].ctypes, iw[2:].ctypes,
             iw[3:].ctypes, Vt.ctypes, iw[4:].ctypes, T.ctypes, iw[5:].ctypes, Z.ctypes,
             iw[6:].ctypes, work.ctypes, iw[7:].ctypes)  # fmt: skip
    if iw[7] != 0:
        raise ValueError("dgemqrt: illegal argument")


@njit(cache=True)
def spectral_norms(J, out):
    r"""``out[t]`` = :math:`\|J_t\|_2`, the largest singular value of each ``J[t]``, as
    ``np.linalg.norm(J, 2, axis=(1, 2))`` computes it (measured for 400 matrices: 1.6x
    faster at n = 20, 2x at n = 100, about as fast at n = 2-3).

    Parameters
    ----------
    J : ndarray, shape (T, n, n)
    out : ndarray, shape (T,)
        Output; NaN where ``J[t]`` holds a non-finite entry.

    Notes
    -----
    :math:`\|J\|_2^2` is the largest eigenvalue of :math:`G = J^\top J`, which LAPACK's
    ``dsyevr`` computes alone (``RANGE = "I"``: tridiagonalisation, then bisection for
    one eigenvalue) instead of all singular values. Its absolute error is of order
    :math:`\varepsilon\|G\|_2 = \varepsilon\|J\|_2^2`, so the norm is accurate to a
    few :math:`\varepsilon` relative (tests: 1e-13 against NumPy's SVD). ``J[t]`` is
    first divided by the power of two nearest its largest entry (exactly), so that
    :math:`G` neither overflows nor underflows.
    """
    T, n = J.shape[0], J.shape[1]
    G, w, z = np.empty((n, n)), np.empty(n), np.zeros(1)
    work, iwork = np.empty(26 * n), np.empty(10 * n, np.int32)
    isuppz, iw = np.empty(2 * n, np.int32), np.empty(9, np.int32)
    reals = np.zeros(3)  # VL, VU (not used with RANGE "I"), ABSTOL (0: LAPACK's default)
    chars = np.array([78, 73, 76], np.int8)  # JOBZ "N", RANGE "I", UPLO "L"
    for t in range(T):
        A = J[t]
        amax, finite = 0.0, True
        for i in range(n):
            for j in range(n):
                a = abs(A[i, j])
                finite = finite and np.isfinite(a)
                amax = max(amax, a)
        if not finite:
            out[t] = np.nan
            continue
        if amax == 0.0:
            out[t] = 0.0
            continue
        # J / 2^e with 2^e near its largest entry (exact), so that squaring neither
        # overflows nor underflows; the norm is scaled back at the end
        f = math.ldexp(1.0, -math.frexp(amax)[1])
        for i in range(n):  # G = J^T J, both triangles (C order: LAPACK sees G^T = G)
            for j in range(i + 1):
                acc = 0.0
                for k in range(n):
                    acc += (A[k, i] * f) * (A[k, j] * f)
                G[i, j] = acc
                G[j, i] = acc
        # N, LDA, IL, IU (the largest, 1-based), M (out), LDZ, LWORK, LIWORK, INFO
        iw[0], iw[1], iw[2], iw[3], iw[5], iw[6], iw[7] = n, n, n, n, 1, 26 * n, 10 * n
        _dsyevr(chars[0:].ctypes, chars[1:].ctypes, chars[2:].ctypes, iw[0:].ctypes, G.ctypes,
                iw[1:].ctypes, reals[0:].ctypes, reals[1:].ctypes, iw[2:].ctypes,
                iw[3:].ctypes, reals[2:].ctypes, iw[4:].ctypes, w.ctypes, z.ctypes,
                iw[5:].ctypes, isuppz.ctypes, work.ctypes, iw[6:].ctypes, iwork.ctypes,
                iw[7:].ctypes, iw[8:].ctypes)  # fmt: skip
        if iw[8] != 0 or iw[4] != 1:
            raise ValueError("dsyevr failed")
        out[t] = math.sqrt(max(w[0], 0.0)) / f
