r"""Sixteen windows at a time, in registers: the lanes of the batch-major kernels.

The batch kernels of :mod:`refrnn._batched` run :data:`LANES` = 16 windows side by side
(one chunk). A row of a chunk -- one unit at one step, for all 16 windows -- is held here
as a *lane value*, a tuple of 16 floats, and the helpers below combine lane values
element by element::

    acc = axpb(A[i], load(Z[t, i]), h[i])     # A_i z_i + h_i, all 16 windows
    for j in range(M):
        acc = axpy(W[i, j], load(H[t, j]), acc)   # + W_ij relu(z_j)
    store(Zout[u, i], acc)

**Why tuples.** A tuple is not memory: LLVM keeps its 16 entries in registers, so the sum
over j above runs with no loads or stores of the accumulator, and LLVM's SLP vectoriser
packs the 16 independent multiply-adds into two AVX-512 (or four AVX2) instructions. The
same loop over an array row (``for s in range(16): out[s] += ...``) must load and store
``out`` at every j, because LLVM cannot prove that ``out`` and ``H`` do not overlap, and
with a trip count of 16 the loop vectoriser's main loop (8 lanes x 4 unrolled) is never
entered. Measured on the machine of ``benchmarks/results`` (M = 20, 16 windows, 200
steps of the PLRNN's forward pass): 220 us as array loops, 56--94 us with lane values.

**The SLP vectoriser** is off by default in Numba since 0.57 (numba/numba#8852, because
of miscompilations reported with LLVM 14). :func:`njit_lanes` switches it on while one of
these kernels compiles and only then (``numba.config.SLP_VECTORIZE``, read by Numba's
pass builder at every compilation); other Numba code in the process is compiled as
before. ``tests/test_batched.py`` checks every kernel compiled this way against the NumPy
definitions (1e-12), so a miscompilation would show there.

Every helper is inlined into its caller (Numba IR) and works on rows of at least
:data:`LANES` contiguous float64 (the rows of a chunk, ``X[t, j]`` of a (T, M, 16)
array). The sums keep the order of the definitions; ``fastmath={"contract"}`` in the
callers lets ``a * x + y`` be one fused multiply-add (one rounding instead of two).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit

from ._linalg import add_product_nt
from ._vecmath import tanh_one

#: Windows per chunk and entries of a lane value.
LANES = 16


def njit_lanes(**options):
    """``numba.njit(**options)`` with LLVM's SLP vectoriser on while the function compiles.

    Numba compiles a function on its first call with new argument types (or, called from
    another kernel, while that kernel is typed) through ``Dispatcher.compile``; this wraps
    that method, so the setting holds for every compilation of the function -- also of the
    parallel loops inside it -- and is restored afterwards. A compiled function cached on
    disk (``cache=True``) is loaded as it was compiled.
    """

    def decorate(function):
        dispatcher = njit(**options)(function)
        compile_ = dispatcher.compile

        def compile_with_slp(sig):
            saved = numba.config.SLP_VECTORIZE
            numba.config.SLP_VECTORIZE = 1
            try:
                return compile_(sig)
            finally:
                numba.config.SLP_VECTORIZE = saved

        dispatcher.compile = compile_with_slp
        return dispatcher

    return decorate


# The helpers spell out their 16 lanes (one line per lane would hide the pattern).
# fmt: off
@njit(cache=True, inline="always")
def load(x):
    r"""The lane value of the row ``x[:16]``."""
    return (
        x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12], x[13],
        x[14], x[15],
    )


@njit(cache=True, inline="always")
def store(x, v):
    """``x[:16] = v`` for a lane value ``v``."""
    (
        x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12], x[13],
        x[14], x[15],
    ) = v


@njit(cache=True, inline="always")
def full(a):
    r"""The lane value with every lane ``a``."""
    return (
        a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a,
    )


@njit(cache=True, inline="always")
def first(n, a):
    r"""``a`` in the first ``n`` lanes, 0 in the others."""
    return (
        a if 0 < n else 0.0, a if 1 < n else 0.0, a if 2 < n else 0.0, a if 3 < n else 0.0,
        a if 4 < n else 0.0, a if 5 < n else 0.0, a if 6 < n else 0.0, a if 7 < n else 0.0,
        a if 8 < n else 0.0, a if 9 < n else 0.0, a if 10 < n else 0.0, a if 11 < n else 0.0,
        a if 12 < n else 0.0, a if 13 < n else 0.0, a if 14 < n else 0.0, a if 15 < n else 0.0,
    )


@njit(cache=True, inline="always")
def add(x, y):
    r""":math:`x + y` of lane values."""
    return (
        x[0] + y[0], x[1] + y[1], x[2] + y[2], x[3] + y[3], x[4] + y[4], x[5] + y[5], x[6] + y[6],
        x[7] + y[7], x[8] + y[8], x[9] + y[9], x[10] + y[10], x[11] + y[11], x[12] + y[12],
        x[13] + y[13], x[14] + y[14], x[15] + y[15],
    )


@njit(cache=True, inline="always")
def sub(x, y):
    r""":math:`x - y` of lane values."""
    return (
        x[0] - y[0], x[1] - y[1], x[2] - y[2], x[3] - y[3], x[4] - y[4], x[5] - y[5], x[6] - y[6],
        x[7] - y[7], x[8] - y[8], x[9] - y[9], x[10] - y[10], x[11] - y[11], x[12] - y[12],
        x[13] - y[13], x[14] - y[14], x[15] - y[15],
    )


@njit(cache=True, inline="always")
def mul(x, y):
    r""":math:`x y` of lane values, lane by lane."""
    return (
        x[0] * y[0], x[1] * y[1], x[2] * y[2], x[3] * y[3], x[4] * y[4], x[5] * y[5], x[6] * y[6],
        x[7] * y[7], x[8] * y[8], x[9] * y[9], x[10] * y[10], x[11] * y[11], x[12] * y[12],
        x[13] * y[13], x[14] * y[14], x[15] * y[15],
    )


@njit(cache=True, inline="always", fastmath={"contract"})
def mul_add(x, y, z):
    r""":math:`x y + z` of lane values, lane by lane."""
    return (
        x[0] * y[0] + z[0], x[1] * y[1] + z[1], x[2] * y[2] + z[2], x[3] * y[3] + z[3],
        x[4] * y[4] + z[4], x[5] * y[5] + z[5], x[6] * y[6] + z[6], x[7] * y[7] + z[7],
        x[8] * y[8] + z[8], x[9] * y[9] + z[9], x[10] * y[10] + z[10], x[11] * y[11] + z[11],
        x[12] * y[12] + z[12], x[13] * y[13] + z[13], x[14] * y[14] + z[14], x[15] * y[15] + z[15],
    )


@njit(cache=True, inline="always")
def times(a, x):
    r""":math:`a x` for a scalar ``a`` and a lane value ``x``."""
    return (
        a * x[0], a * x[1], a * x[2], a * x[3], a * x[4], a * x[5], a * x[6], a * x[7], a * x[8],
        a * x[9], a * x[10], a * x[11], a * x[12], a * x[13], a * x[14], a * x[15],
    )


@njit(cache=True, inline="always", fastmath={"contract"})
def axpy(a, x, y):
    r""":math:`a x + y` for a scalar ``a`` and lane values ``x``, ``y``."""
    return (
        a * x[0] + y[0], a * x[1] + y[1], a * x[2] + y[2], a * x[3] + y[3], a * x[4] + y[4],
        a * x[5] + y[5], a * x[6] + y[6], a * x[7] + y[7], a * x[8] + y[8], a * x[9] + y[9],
        a * x[10] + y[10], a * x[11] + y[11], a * x[12] + y[12], a * x[13] + y[13],
        a * x[14] + y[14], a * x[15] + y[15],
    )


@njit(cache=True, inline="always", fastmath={"contract"})
def axpb(a, x, b):
    r""":math:`a x + b` for scalars ``a``, ``b`` and a lane value ``x``."""
    return (
        a * x[0] + b, a * x[1] + b, a * x[2] + b, a * x[3] + b, a * x[4] + b, a * x[5] + b,
        a * x[6] + b, a * x[7] + b, a * x[8] + b, a * x[9] + b, a * x[10] + b, a * x[11] + b,
        a * x[12] + b, a * x[13] + b, a * x[14] + b, a * x[15] + b,
    )


@njit(cache=True, inline="always")
def relu(x):
    r""":math:`\max(x, 0)` of a lane value."""
    return (
        max(x[0], 0.0), max(x[1], 0.0), max(x[2], 0.0), max(x[3], 0.0), max(x[4], 0.0),
        max(x[5], 0.0), max(x[6], 0.0), max(x[7], 0.0), max(x[8], 0.0), max(x[9], 0.0),
        max(x[10], 0.0), max(x[11], 0.0), max(x[12], 0.0), max(x[13], 0.0), max(x[14], 0.0),
        max(x[15], 0.0),
    )


@njit(cache=True, inline="always")
def gate(r, x):
    r"""``x`` where ``r > 0``, else 0 (the relu' mask of the PLRNN's adjoint)."""
    return (
        x[0] if r[0] > 0.0 else 0.0, x[1] if r[1] > 0.0 else 0.0, x[2] if r[2] > 0.0 else 0.0,
        x[3] if r[3] > 0.0 else 0.0, x[4] if r[4] > 0.0 else 0.0, x[5] if r[5] > 0.0 else 0.0,
        x[6] if r[6] > 0.0 else 0.0, x[7] if r[7] > 0.0 else 0.0, x[8] if r[8] > 0.0 else 0.0,
        x[9] if r[9] > 0.0 else 0.0, x[10] if r[10] > 0.0 else 0.0, x[11] if r[11] > 0.0 else 0.0,
        x[12] if r[12] > 0.0 else 0.0, x[13] if r[13] > 0.0 else 0.0,
        x[14] if r[14] > 0.0 else 0.0, x[15] if r[15] > 0.0 else 0.0,
    )


@njit(cache=True, inline="always")
def tanh(x):
    r""":math:`\tanh` of a lane value (:func:`refrnn._vecmath.tanh_one` per lane)."""
    return (
        tanh_one(x[0]), tanh_one(x[1]), tanh_one(x[2]), tanh_one(x[3]), tanh_one(x[4]),
        tanh_one(x[5]), tanh_one(x[6]), tanh_one(x[7]), tanh_one(x[8]), tanh_one(x[9]),
        tanh_one(x[10]), tanh_one(x[11]), tanh_one(x[12]), tanh_one(x[13]), tanh_one(x[14]),
        tanh_one(x[15]),
    )


@njit(cache=True, inline="always", fastmath={"contract"})
def tanh_grad(z, g):
    r""":math:`g\,(1 - z^2)`: the gradient through :math:`z = \tanh(a)` to ``a``."""
    return (
        g[0] * (1.0 - z[0] * z[0]), g[1] * (1.0 - z[1] * z[1]), g[2] * (1.0 - z[2] * z[2]),
        g[3] * (1.0 - z[3] * z[3]), g[4] * (1.0 - z[4] * z[4]), g[5] * (1.0 - z[5] * z[5]),
        g[6] * (1.0 - z[6] * z[6]), g[7] * (1.0 - z[7] * z[7]), g[8] * (1.0 - z[8] * z[8]),
        g[9] * (1.0 - z[9] * z[9]), g[10] * (1.0 - z[10] * z[10]), g[11] * (1.0 - z[11] * z[11]),
        g[12] * (1.0 - z[12] * z[12]), g[13] * (1.0 - z[13] * z[13]),
        g[14] * (1.0 - z[14] * z[14]), g[15] * (1.0 - z[15] * z[15]),
    )


@njit(cache=True, inline="always")
def total(x):
    r""":math:`\sum_s x_s` of a lane value, summed in lane order."""
    return (
        x[0] + x[1] + x[2] + x[3] + x[4] + x[5] + x[6] + x[7] + x[8] + x[9] + x[10] + x[11] +
        x[12] + x[13] + x[14] + x[15]
    )


@njit(cache=True, inline="always", fastmath={"contract"})
def dot(x, y):
    r""":math:`\sum_s x_s y_s` over the lanes, summed in lane order."""
    return (
        x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3] + x[4] * y[4] + x[5] * y[5] +
        x[6] * y[6] + x[7] * y[7] + x[8] * y[8] + x[9] * y[9] + x[10] * y[10] + x[11] * y[11] +
        x[12] * y[12] + x[13] * y[13] + x[14] * y[14] + x[15] * y[15]
    )
# fmt: on


@njit(cache=True, inline="always", fastmath={"contract"})
def add_matrix_times(W, M, X, t, Y, u):
    r""":math:`Y_{:,u} \mathrel{+}= W X_{:,t}` for the 16 windows of a chunk.

    That is :math:`Y_{i,u,s} \mathrel{+}= \sum_j W_{ij} X_{j,t,s}`, summed in the order
    of j. Two rows of W per pass: each lane value of X is loaded once for both, and two
    independent sums run side by side (the multiply-adds of one sum wait for each other;
    at M = 20, 16 windows, the PLRNN's forward pass took 56--73 us against 83--94 us for
    one row per pass).

    Parameters
    ----------
    W : ndarray, shape (M*M,)
        The matrix, flattened row-major (``W[i * M + j]`` is :math:`W_{ij}`).
    M : int
    X : ndarray, shape (n, M, 16)
        The vectors, windows last; ``X[t, j]`` is entry j at column t.
    t : int
    Y : ndarray, shape (n', M, 16)
        Accumulated into, at column ``u``; must not be ``X[t, :]``.
    u : int
    """
    i = 0
    while i + 1 < M:
        y0, y1 = load(Y[u, i]), load(Y[u, i + 1])
        for j in range(M):
            x = load(X[t, j])
            y0 = axpy(W[i * M + j], x, y0)
            y1 = axpy(W[(i + 1) * M + j], x, y1)
        store(Y[u, i], y0)
        store(Y[u, i + 1], y1)
        i += 2
    if i < M:
        y0 = load(Y[u, i])
        for j in range(M):
            y0 = axpy(W[i * M + j], load(X[t, j]), y0)
        store(Y[u, i], y0)


@njit(cache=True, inline="always", fastmath={"contract"})
def add_summed_products(G, H, out):
    r""":math:`\text{out}_{ij} \mathrel{+}= \sum_{t,s} G_{i,t,s} H_{j,t,s}`: the product
    :math:`G H^\top` of two stacks of lane rows, summed over columns t and lanes s.

    This is how every parameter gradient of a chunk is formed, e.g. dL/dW = :math:`\sum_t
    g_t\,\mathrm{relu}(z_{t-1})^\top`. Two rows of G and two of H per pass, with the four
    sums in lane values (registers) over all t, and each summed over its lanes at the end:
    per column four lane loads feed four lane multiply-adds. An odd number of rows ends
    with a pass that repeats its last row (stored once).

    Parameters
    ----------
    G : ndarray, shape (n, P, 16)
    H : ndarray, shape (n, Q, 16)
    out : ndarray, shape (P*Q,)
        Accumulated into; the P x Q matrix flattened row-major (``out[i * Q + j]``), as
        the kernels store their parameter blocks.
    """
    n, P, Q = G.shape[0], G.shape[1], H.shape[1]
    for i in range(0, P, 2):
        i1 = min(i + 1, P - 1)
        for j in range(0, Q, 2):
            j1 = min(j + 1, Q - 1)
            a00, a01, a10, a11 = full(0.0), full(0.0), full(0.0), full(0.0)
            for t in range(n):
                g0, g1, h0, h1 = load(G[t, i]), load(G[t, i1]), load(H[t, j]), load(H[t, j1])
                a00 = mul_add(g0, h0, a00)
                a01 = mul_add(g0, h1, a01)
                a10 = mul_add(g1, h0, a10)
                a11 = mul_add(g1, h1, a11)
            out[i * Q + j] += total(a00)
            if j1 > j:
                out[i * Q + j1] += total(a01)
            if i1 > i:
                out[i1 * Q + j] += total(a10)
                if j1 > j:
                    out[i1 * Q + j1] += total(a11)


#: Steps per BLAS product in :func:`add_summed_products_blas`.
BLAS_STEPS = 16


@njit(cache=True)
def add_summed_products_blas(G, H, out):
    r""":math:`\text{out} \mathrel{+}= \sum_t G_t H_t^\top` by BLAS: what
    :func:`add_summed_products` computes, for large M.

    ``G`` (n, P, 16), ``H`` (n, Q, 16), ``out`` (P, Q). The steps are taken
    :data:`BLAS_STEPS` at a time: each block is copied unit by unit into (P, 256) and
    (Q, 256) buffers, and one ``dgemm`` adds their product to ``out``
    (:func:`refrnn._linalg.add_product_nt`; the last block is padded with zeros). One
    product per step would pass over ``out`` 16 times as often (at M = 300 the products
    alone ran slower than JAX); one product over all steps would need two copies of the
    whole chunk.
    """
    n, P, Q = G.shape[0], G.shape[1], H.shape[1]
    K = LANES * BLAS_STEPS
    Gb, Hb = np.empty((P, K)), np.empty((Q, K))
    iw, chars, scalars = np.empty(6, np.int32), np.empty(2, np.int8), np.empty(2)
    for t0 in range(0, n, BLAS_STEPS):
        m = min(BLAS_STEPS, n - t0)
        for d in range(m):
            for i in range(P):
                Gb[i, d * LANES : (d + 1) * LANES] = G[t0 + d, i]
            for j in range(Q):
                Hb[j, d * LANES : (d + 1) * LANES] = H[t0 + d, j]
        if m < BLAS_STEPS:
            Gb[:, m * LANES :] = 0.0
            Hb[:, m * LANES :] = 0.0
        add_product_nt(Gb, Hb, out, iw, chars, scalars)
