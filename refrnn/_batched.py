r"""Batch-major STF-BPTT and the fused training step: the engine behind the textbook.

:mod:`refrnn.bptt` states the STF loss and runs it window by window (``_forward_window``,
``_backward_window``): the readable form, which also serves ``forward``, ``vjp``, ``jvp``
and every model kind. For the kinds in :data:`refrnn._kernels.BATCHED_KINDS` (PLRNN, tanh
RNN) this module computes the same loss and gradient with windows as the inner dimension:

* the windows are split into chunks of :data:`CHUNK` = 16; a chunk's states live in
  arrays of shape (T, M, 16) (step, unit, window), and every row of 16 windows is a
  *lane value* held in registers (:mod:`refrnn._lanes`): each step is a small matrix
  product whose multiply-adds run on 16 windows at once (the model's
  ``*_batch_kernel``). A last chunk with fewer windows is padded with copies of its last
  window whose loss weight is zero, so they add nothing to the loss or any gradient;
* the backward pass stores the gradient of every step; the parameter gradient is then
  one product over all T*16 columns (:func:`refrnn._lanes.add_summed_products`, or BLAS
  from M = ``GEMM_MIN_DIM``) instead of T*16 rank-one updates, and dL/dB likewise;
* chunks run in parallel (``prange``); each writes its own partial gradient, and the
  partial gradients are summed in chunk order, so the result does not depend on the
  number of threads;
* :func:`_train_batches` adds the rest of a training step -- the path through
  :math:`B^+`, the global-norm clipping, Adam, the new pseudo-inverse and the parameters'
  moving average -- and runs the steps of a whole epoch, so that an epoch is one call
  with no Python in between.

Tolerance: the sums are reordered (products summed in another order, fused
multiply-adds, the parameter gradients summed per lane first, BLAS), so the results
agree with the window-by-window kernels and with the NumPy definitions to rounding,
~1e-15 relative per step; ``tests/test_batched.py`` checks 1e-12 against
:func:`refrnn.bptt.loss_and_grad_numpy`, as for the other kernels. On a chaotic orbit,
rounding differences grow like :math:`e^{\lambda_1 t}`, which is the 1e-10 of
:data:`refrnn.testing.TOLERANCES`.

Numba's array layout: each chunk first copies its 16 windows transposed to (T+1, N, 16)
(:func:`_gather_windows`) and forms their forcing states (K, M, 16) (or copies the given
ones, :func:`_gather`), so that it reads contiguous rows of 16 windows, and no part of the
data handling runs outside the parallel loop.

Measured (benchmarks/README.md, one thread, M = 20, 16 windows of 200 steps): the lane
values took the PLRNN's loss and gradient from ~640 to ~350 us and the tanh RNN's from
~820 to ~350 us.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings

import numpy as np
from numba import njit, prange
from numba.core.errors import NumbaPerformanceWarning

from . import _kernels
from ._lanes import (
    LANES,
    add,
    add_summed_products,
    axpy,
    dot,
    first,
    full,
    load,
    mul,
    mul_add,
    njit_lanes,
    store,
    sub,
    times,
)
from ._linalg import GEMM_MIN_DIM, one_blas_thread
from ._validation import as_alpha, as_tau
from .forcing import pinv_vjp_kernel

#: Windows per chunk: the 16 lanes of :mod:`refrnn._lanes`. Fixed (not the thread count),
#: so that the order of every sum, and hence the result, is the same for any number of
#: threads.
CHUNK = LANES


def schedule(tau, alpha):
    """``(tau_k, alpha)`` for the kernels from the public ``tau`` and ``alpha``.

    ``alpha=None``: sparse teacher forcing, full replacement (alpha 1) every ``tau`` steps.
    A number: generalized teacher forcing with that alpha every ``tau`` steps, every step
    if ``tau`` is None. ``tau_k = 0`` encodes "no forcing".
    """
    alpha = as_alpha(alpha)
    if alpha is None:
        return as_tau(tau), 1.0
    return (1 if tau is None else as_tau(tau)), alpha


def blas_limit(M):
    """The context the batch kernels run in: :func:`refrnn._linalg.one_blas_thread` from
    M = ``GEMM_MIN_DIM`` on, where the chunks, running in parallel, each call BLAS; below
    it they call none (the lanes do the products; the 3 x M SVD of B^+ in
    :func:`_train_batches` is too small for BLAS's threads), and entering the context would
    cost ~10 us per call for nothing."""
    return one_blas_thread() if M >= GEMM_MIN_DIM else contextlib.nullcontext()


def _carve(shapes):
    """Fresh float64 arrays of the given shapes, cut from one buffer, each starting on a
    64-byte cache line.

    The batch kernels stream through ~3 MB of workspace per call at S = 16, T = 200,
    M = 20 (14 arrays). Cut from one buffer, a PLRNN ``loss_and_grad`` took 350--365 us
    against 400--430 us with 14 separate ``np.empty`` arrays (one thread, interleaved A/B
    in one process, same arithmetic). The cause is not established: it is not the TLB
    (the same buffer in 2 MiB transparent huge pages, checked granted, measured no
    faster).
    """
    shapes = [tuple(int(d) for d in s) for s in shapes]
    sizes = [math.prod(s) for s in shapes]
    line = 8  # float64 entries per 64-byte cache line
    starts, n = [], 0
    for size in sizes:
        starts.append(n)
        n += -(-size // line) * line
    data = np.empty(n + line)
    offset = (-data.ctypes.data % 64) // 8
    buffer = data[offset : offset + n]
    return [buffer[s : s + size].reshape(shape)
            for s, size, shape in zip(starts, sizes, shapes, strict=True)]  # fmt: skip


def n_chunks(S):
    """Number of chunks of :data:`CHUNK` windows for S windows (the last one padded)."""
    return -(-S // CHUNK)


#: Largest :class:`Workspace` that :meth:`Workspace.reused` keeps between calls (32 MiB).
REUSE_BYTES = 32 * 2**20
_REUSED = threading.local()


class Workspace:
    """Arrays of the batch-major kernels for S windows of T steps, allocated once and
    reused (a training run calls the kernels once per epoch, with adaptive alpha once per
    run of batches between two of its updates, or once per batch with a warm-up; always
    with the same sizes).

    The windows fill C = ceil(S / 16) chunks of 16 lanes, Sp = 16 C lanes in all (the last
    chunk's spare lanes repeat its last window with zero loss weight). ``xc``
    ((T+1) N Sp) and ``fc`` (up to (T+1) M Sp) hold each chunk's data and forcing states;
    ``zin``, ``h``, ``zo``, ``g`` hold M*T*Sp entries (each chunk a contiguous (T, M, 16)
    block: step inputs, the model's hidden activations, step outputs, gradients), ``gx``
    N*T*Sp (loss cotangents), ``g0`` M*Sp (dL/dz_0); per chunk ``G_theta`` (P_k,),
    ``G_B`` (N, M), ``G_P`` (M, N). ``sq`` and ``chk`` (squared errors, finiteness) are
    the first S of ``sq_lanes`` and ``chk_lanes`` (Sp,). ``F`` holds given forcing
    states (:meth:`forcing`).
    """

    def __init__(self, S, T, M, N, P_k):
        C = n_chunks(S)
        Sp = C * CHUNK
        self.shape = (S, T, M, N, P_k)
        shapes = {
            "xc": ((T + 1) * N * Sp,),
            "fc": ((T + 1) * M * Sp,),
            **{name: (M * T * Sp,) for name in ("zin", "h", "zo", "g")},
            "gx": (N * T * Sp,),
            "g0": (M * Sp,),
            "work": (2 * M * Sp,),
            "G_theta": (C, P_k),
            "G_B": (C, N, M),
            "G_P": (C, M, N),
            "sq_lanes": (Sp,),
            "chk_lanes": (Sp,),
            "_F": ((T + 1) * M * S,),
        }
        for name, array in zip(shapes, _carve(shapes.values()), strict=True):
            setattr(self, name, array)
        self.sq, self.chk = self.sq_lanes[:S], self.chk_lanes[:S]

    def forcing(self, K):
        """The forcing states' array, shape (K, M, S) (K forced steps, at most T+1)."""
        S, M = self.shape[0], self.shape[2]
        return self._F[: K * M * S].reshape(K, M, S)

    @classmethod
    def reused(cls, S, T, M, N, P_k):
        """A workspace for these sizes, kept for this thread between calls if it is at most
        :data:`REUSE_BYTES`: for :func:`refrnn.loss_and_grad`, called again and again with
        the same sizes, a fresh one costs page faults on every call (measured at S = 16,
        T = 200, M = 20, ~3 MB: up to 1 ms per call against 0.3 ms for the computation,
        depending on what the process allocated in between), and likewise for every
        :func:`refrnn.train` run. Nothing in a workspace outlives one
        :func:`batch_loss_and_grad` or :func:`_train_batches` call (the forcing states
        :meth:`forcing` are filled right before it), so callers on one thread can share
        it."""
        ws = getattr(_REUSED, "ws", None)
        if ws is not None and ws.shape == (S, T, M, N, P_k):
            return ws
        ws = cls(S, T, M, N, P_k)
        if sum(a.nbytes for a in ws.args()) <= REUSE_BYTES:
            _REUSED.ws = ws
        return ws

    def args(self):
        return (self.xc, self.fc, self.zin, self.h, self.zo, self.g, self.gx, self.g0, self.work,
                self.chk_lanes, self.sq_lanes, self.G_theta, self.G_B, self.G_P)  # fmt: skip


@njit(cache=True)
def _forced(t, tau):
    return tau > 0 and t % tau == 0


@njit_lanes(cache=True, fastmath={"contract"})
def _chunk(kind, theta, M, identity, B, Xc, Fc, w, tau, alpha, scale, through_pinv, zin, hb,
           zo, g, gx, g0, work, chk, sq, g_theta, g_B, g_P):  # fmt: skip
    """Loss and gradient of one chunk: 16 lanes, the first ``w`` of them windows.

    ``Xc`` (T+1, N, 16) the chunk's data and ``Fc`` (K, M, 16) its forcing states (lanes
    from ``w`` on repeat the last window: see :func:`_gather`; their loss weight is zero,
    so they add nothing to any gradient). ``zin``, ``hb``, ``zo``, ``g`` (T, M, 16);
    column t-1 belongs to step t: input :math:`\\tilde z_{t-1}`, hidden activations,
    output :math:`z_t`, dL/dz_t. ``gx`` (T, N, 16) the loss cotangents, ``g0`` (1, M, 16)
    dL/dz_0, ``work`` (2, M, 16) scratch. ``chk`` (16,) ends non-finite where a state
    did; ``sq`` (16,) the summed squared errors. ``g_theta``, ``g_B``, ``g_P`` (dL/dB^+,
    only with ``through_pinv``) are overwritten. Rows of 16 lanes are lane values
    (:mod:`refrnn._lanes`).
    """
    T1, N = Xc.shape[0], Xc.shape[1]
    T = T1 - 1
    stop = N if identity else M  # forced components
    weight = first(w, scale)  # dL/dxhat_t = scale (x_t - xhat_t) in the window lanes
    g_theta[:] = 0.0
    g_B[:] = 0.0
    g_P[:] = 0.0
    sq_t = full(0.0)
    chk_t = full(0.0)
    # ---- forward: z_0 = F[0]; z_t = F(z~_{t-1}); residuals before forcing
    for i in range(M):
        store(zin[0, i], load(Fc[0, i]))
    for t in range(1, T1):
        c = t - 1
        _kernels.step_batch(kind, theta, M, zin, c, zo, c, hb, work)
        for i in range(M):
            chk_t = axpy(0.0, load(zo[c, i]), chk_t)  # 0 z is NaN where z is inf or NaN
        for n in range(N):
            if identity:
                xhat = load(zo[c, n])
            else:
                xhat = full(0.0)
                for i in range(M):
                    xhat = axpy(B[n, i], load(zo[c, i]), xhat)
            r = sub(load(Xc[t, n]), xhat)
            sq_t = mul_add(r, r, sq_t)
            store(gx[c, n], mul(weight, r))
        if t < T:
            for i in range(M):
                store(zin[t, i], load(zo[c, i]))
            if _forced(t, tau):
                k = t // tau
                for i in range(stop):
                    if alpha == 1.0:
                        store(zin[t, i], load(Fc[k, i]))
                    else:
                        store(
                            zin[t, i],
                            axpy(alpha, load(Fc[k, i]), times(1.0 - alpha, load(zin[t, i]))),
                        )
    store(sq, sq_t)
    store(chk, chk_t)
    # ---- backward: g[t-1, :] = dL/dz_t, built from dL/dz~_t (written by step t+1)
    for i in range(M):
        store(g[T - 1, i], full(0.0))  # nothing after step T
    for t in range(T, 0, -1):
        c = t - 1
        if _forced(t, tau):
            if through_pinv:  # the forcing state's share alpha of z~_t is B^+ x_t
                for i in range(M):
                    for n in range(N):
                        g_P[i, n] += alpha * dot(load(g[c, i]), load(Xc[t, n]))
            for i in range(stop):
                store(g[c, i], full(0.0) if alpha == 1.0 else times(1.0 - alpha, load(g[c, i])))
        for i in range(M):
            gi = load(g[c, i])
            if identity:
                if i < N:
                    gi = add(gi, load(gx[c, i]))
            else:
                for n in range(N):
                    gi = axpy(B[n, i], load(gx[c, n]), gi)
            store(g[c, i], gi)
        if t > 1:
            _kernels.step_vjp_batch(kind, theta, M, zin, c, zo, c, hb, g, c, g, c - 1, work)
        else:
            _kernels.step_vjp_batch(kind, theta, M, zin, 0, zo, 0, hb, g, 0, g0, 0, work)
    if through_pinv:  # z_0 = B^+ x_0
        for i in range(M):
            for n in range(N):
                g_P[i, n] += dot(load(g0[0, i]), load(Xc[0, n]))
    # ---- parameter gradients: one product over all steps and windows each
    _kernels.param_grads_batch(kind, theta, M, zin, hb, g, g_theta)
    if not identity:  # dL/dB = sum_t (dL/dxhat_t) z_t^T
        add_summed_products(gx, zo, g_B.reshape(N * M))


@njit(cache=True)
def _gather(A, s0, S, out):
    """``out[k, i, s] = A[k, i, min(s0 + s, S - 1)]``: a chunk's 16 lanes of the (K, D, S)
    array ``A``; past the last window the lanes repeat it (finite wherever the window is,
    so a padded lane never raises a false alarm)."""
    for k in range(out.shape[0]):
        for i in range(out.shape[1]):
            for s in range(LANES):
                out[k, i, s] = A[k, i, min(s0 + s, S - 1)]


@njit(cache=True)
def _gather_windows(windows, s0, out):
    """``out[t, n, s] = windows[min(s0 + s, S - 1), t, n]``: a chunk's 16 lanes of the
    windows (S, T+1, N), transposed so that a step's rows are contiguous; past the last
    window the lanes repeat it (as :func:`_gather`)."""
    S = windows.shape[0]
    for s in range(LANES):
        w = windows[min(s0 + s, S - 1)]
        for t in range(out.shape[0]):
            for n in range(out.shape[1]):
                out[t, n, s] = w[t, n]


@njit_lanes(cache=True, parallel=True)
def _chunks(kind, theta, M, identity, B, Bpinv, windows, F, have_forcing, tau, alpha, scale,
            through_pinv, xc, fc, zin, hb, zo, g, gx, g0, work, chk, sq, G_theta, G_B,
            G_P):  # fmt: skip
    """Every chunk of the batch, in parallel; shapes as in :class:`Workspace`.

    ``windows`` (S, T+1, N); ``F`` (K, M, S) the forcing states if ``have_forcing``,
    else each chunk forms its own from its windows (:math:`B^+ x` with ``Bpinv`` (M, N),
    or :math:`[x, 0]`), so that no part of a batch's data handling runs serially.
    """
    S, T1, N = windows.shape
    T = T1 - 1
    K = F.shape[0]
    every = tau if tau > 0 else T1
    for c in prange(G_theta.shape[0]):
        s0 = c * LANES
        a, b = M * T * s0, M * T * (s0 + LANES)
        Xc = xc[T1 * N * s0 : T1 * N * (s0 + LANES)].reshape((T1, N, LANES))
        Fc = fc[K * M * s0 : K * M * (s0 + LANES)].reshape((K, M, LANES))
        _gather_windows(windows, s0, Xc)
        if have_forcing:
            _gather(F, s0, S, Fc)
        else:
            _forcing_states(identity, Bpinv, Xc, every, Fc)
        _chunk(
            kind, theta, M, identity, B, Xc, Fc, min(LANES, S - s0), tau, alpha, scale,
            through_pinv, zin[a:b].reshape((T, M, LANES)), hb[a:b].reshape((T, M, LANES)),
            zo[a:b].reshape((T, M, LANES)), g[a:b].reshape((T, M, LANES)),
            gx[N * T * s0 : N * T * (s0 + LANES)].reshape((T, N, LANES)),
            g0[M * s0 : M * (s0 + LANES)].reshape((1, M, LANES)),
            work[2 * M * s0 : 2 * M * (s0 + LANES)].reshape((2, M, LANES)),
            chk[s0 : s0 + LANES], sq[s0 : s0 + LANES],
            G_theta[c], G_B[c], G_P[c],
        )  # fmt: skip


# ======================================================================================
# The training step in one call
@njit(cache=True)
def gather_windows(X, starts, T):
    """``out[s] = X[starts[s] : starts[s] + T + 1]``, shape (S, T+1, N): the batch's
    windows (what ``X[starts[:, None] + np.arange(T + 1)]`` gives, in a quarter of its
    time for a batch of 32 x 101 x 3: block copies instead of an index array)."""
    S, N = starts.shape[0], X.shape[1]
    out = np.empty((S, T + 1, N))
    for s in range(S):
        out[s] = X[starts[s] : starts[s] + T + 1]
    return out


@njit(cache=True)
def _forcing_states(identity, P, Xt, every, F):
    """``F[k] = infer_state(x_{k*every})`` for every window: ``B^+ x`` or ``[x, 0]``;
    ``Xt`` (T+1, N, S) the windows transposed, ``F`` (K, M, S)."""
    N, S = Xt.shape[1], Xt.shape[2]
    M = F.shape[1]
    for k in range(F.shape[0]):
        x = Xt[k * every]
        for i in range(M):
            f = F[k, i]
            if identity:
                for s in range(S):
                    f[s] = x[i, s] if i < N else 0.0
            else:
                for s in range(S):
                    acc = 0.0
                    for n in range(N):
                        acc += x[n, s] * P[i, n]
                    f[s] = acc


@njit(cache=True)
def _pinv(B, out):
    """``out = B^+`` as ``numpy.linalg.pinv`` computes it (SVD, singular values below
    1e-15 * the largest discarded); False if B is rank deficient by
    ``numpy.linalg.matrix_rank``'s rule (then the model would be rejected)."""
    N, M = B.shape
    u, sv, vt = np.linalg.svd(B, full_matrices=False)
    top = sv.max()
    tol = top * max(N, M) * np.finfo(np.float64).eps
    for k in range(sv.shape[0]):
        if not sv[k] > tol:
            return False
    for i in range(M):
        for n in range(N):
            acc = 0.0
            for k in range(sv.shape[0]):
                if sv[k] > 1e-15 * top:
                    acc += vt[k, i] * ((1.0 / sv[k]) * u[n, k])
            out[i, n] = acc
    return True


@njit(cache=True)
def _reduce(P, M, identity, B, Bpinv, through_pinv, T, chk, sq, G_theta, G_B, G_P, grad):
    """The loss, and the gradient ``grad`` (P + N*M,) = ``[theta (P,) | B.ravel()]`` (B
    only for the linear readout) from the chunks' partial gradients, reduced in chunk
    order, with the path through :math:`B^+` if ``through_pinv``. ``chk``, ``sq`` (S,).

    Returns ``(status, loss)``: status 1 if a state, the loss or a gradient entry is not
    finite (the caller's window-by-window path then says where), else 0.
    """
    S = chk.shape[0]
    N = G_B.shape[1]
    total = 0.0
    for s in range(S):
        if not (np.isfinite(chk[s]) and np.isfinite(sq[s])):
            return 1, 0.0
        total += sq[s]
    loss = total / (S * T * N)
    grad[:] = 0.0
    for c in range(G_theta.shape[0]):
        for p in range(P):
            grad[p] += G_theta[c, p]
    if not identity:
        gB = grad[P:].reshape((N, M))
        for c in range(G_B.shape[0]):
            gB += G_B[c]
        if through_pinv:
            GP = np.zeros((M, N))
            for c in range(G_P.shape[0]):
                GP += G_P[c]
            extra = np.empty((N, M))
            pinv_vjp_kernel(B, Bpinv, GP, extra)
            gB += extra
    for p in range(grad.shape[0]):
        if not np.isfinite(grad[p]):
            return 1, loss
    return 0, loss


def writable(a):
    """``a`` if it is a writable C-contiguous float64 array, else such a copy (what
    ``np.require(a, np.float64, ["C", "W"])`` returns, in a fifth of its time)."""
    f = a.flags
    if a.dtype == np.float64 and f.c_contiguous and f.writeable:
        return a
    return np.array(a, dtype=np.float64, order="C")


def batch_loss_and_grad(kind, theta_k, P, M, identity, B, Bpinv, windows, F, have_forcing, tau,
                        alpha, through_pinv, grad, ws):  # fmt: skip
    """Loss and gradient of a batch of windows: :func:`_chunks` and :func:`_reduce`,
    called from Python (see :func:`_train_batches` for why not from one kernel).

    ``windows`` (S, T+1, N), validated by the caller; ``F`` (K, M, S): the forcing states
    if ``have_forcing``, else unused (each chunk forms its own); ``Bpinv`` (M, N)
    :math:`B^+` (unused with the identity readout); ``grad`` (P + N*M,) receives the
    gradient; ``ws`` a :class:`Workspace`. Returns ``(status, loss)`` as :func:`_reduce`.
    """
    S, T1, N = windows.shape
    # the parallel _chunks with the one signature _train_batches compiles it for (writable
    # C arrays; see there): a caller's read-only windows or the model's read-only B and
    # B^+ are copied (at most ~0.1 ms for a large batch, against the kernel's milliseconds)
    windows, B, Bpinv = writable(windows), writable(B), writable(Bpinv)
    _chunks(kind, theta_k, M, identity, B, Bpinv, windows, F, have_forcing, tau, alpha,
            -2.0 / (S * (T1 - 1) * N), through_pinv, *ws.args())  # fmt: skip
    return _reduce(P, M, identity, B, Bpinv, through_pinv, T1 - 1, ws.chk, ws.sq, ws.G_theta,
                   ws.G_B, ws.G_P, grad)  # fmt: skip


@njit_lanes(cache=True, parallel=True)
def _train_batches(kind, P, M, identity, theta_k, B, windows, F, have_forcing, tau, alpha,
                   through_pinv, clip, lr, beta1, beta2, eps, c1, c2, m, v, ema, avg, new, Bpinv,
                   grad, losses, norms, xc, fc, zin, hb, zo, g, gx, g0, work, chk, sq,
                   G_theta, G_B, G_P):  # fmt: skip
    """Training steps on the batches ``windows[0], windows[1], ...``, one after the other:
    for each, what :func:`batch_loss_and_grad` computes, then clipping, Adam and (if
    ``ema`` > 0) the parameters' moving average -- an epoch in one call.

    The parameter vector is ``[theta (P,) | B.ravel()]`` (B only for the linear readout),
    as are the Adam moments ``m``, ``v``, the average ``avg`` (all updated in place),
    ``new`` (scratch for the updated parameters) and ``grad`` (scratch). ``theta_k`` (the
    kernel layout, :func:`refrnn._kernels.kernel_layout`) and ``B`` (N, M) hold the
    current parameters and are overwritten by each successful step. ``windows`` (n_b, S,
    T+1, N); ``c1``, ``c2`` (n_b,) Adam's bias corrections of each step; ``losses``,
    ``norms`` (n_b,) receive each batch's loss and gradient norm. ``F``: the forcing states
    if ``have_forcing`` (then n_b = 1), else scratch. ``Bpinv`` (M, N) is scratch for
    :math:`B^+`, computed from B (:func:`_pinv`) so that each step is a function of the
    parameters alone (a resumed run repeats it exactly); after a step it is the
    pseudo-inverse of the new B, which the next step uses. The other arguments as in
    :func:`batch_loss_and_grad` (``xc`` and the rest are the arrays of :class:`Workspace`).

    This is the only kernel that calls the parallel :func:`_chunks`: a cached kernel with
    two compiled signatures (a read-only and a writable ``Bpinv``) that called it made
    later processes crash on loading Numba's cache (reproduced: a training run, then
    ``loss_and_grad`` in two more processes), so :func:`batch_loss_and_grad` calls it
    from Python.

    Returns ``(status, b)``: status 0 and b = n_b when every step succeeded; else the
    batch b that failed, with status 1 for a non-finite state, loss or gradient (nothing
    of that step updated: the caller's window-by-window path then says where), 2 for
    invalid new parameters (non-finite, or B rank deficient; they are in ``new``, and
    ``m``, ``v`` are updated). Steps before b are complete in every array.
    """
    n_b, S, T1, N = windows.shape
    if not identity and not _pinv(B, Bpinv):
        return 1, 0
    scale = -2.0 / (S * (T1 - 1) * N)
    n_par = grad.shape[0]
    for b in range(n_b):
        _chunks(kind, theta_k, M, identity, B, Bpinv, windows[b], F, have_forcing, tau, alpha,
                scale, through_pinv, xc, fc, zin, hb, zo, g, gx, g0, work, chk, sq, G_theta,
                G_B, G_P)  # fmt: skip
        status, loss = _reduce(P, M, identity, B, Bpinv, through_pinv, T1 - 1, chk[:S],
                               sq[:S], G_theta, G_B, G_P, grad)  # fmt: skip
        if status != 0:
            return 1, b
        ss = 0.0
        for p in range(n_par):
            ss += grad[p] * grad[p]
        if not np.isfinite(ss):
            return 1, b
        norm = math.sqrt(ss)
        losses[b], norms[b] = loss, norm
        if clip > 0.0 and norm > clip:
            f = clip / norm
            for p in range(n_par):
                grad[p] = grad[p] * f
        # Adam, operation for operation as refrnn.training.Adam.step
        ok = True
        for p in range(n_par):
            gp = grad[p]
            m[p] = m[p] * beta1 + (1.0 - beta1) * gp
            v[p] = v[p] * beta2 + (1.0 - beta2) * gp * gp
            old = theta_k[p] if p < P else B[(p - P) // M, (p - P) % M]
            new[p] = old - lr * (m[p] / c1[b]) / (math.sqrt(v[p] / c2[b]) + eps)
            if not np.isfinite(new[p]):
                ok = False
        if not ok:
            return 2, b
        if not identity and not _pinv(new[P:].reshape((N, M)), Bpinv):  # full row rank?
            return 2, b
        # the step succeeded: its parameters become the current ones
        _kernels.kernel_layout_into(kind, new[:P], M, theta_k)
        if not identity:
            B[:] = new[P:].reshape((N, M))
        if ema > 0.0:  # as refrnn.training._update_average
            for p in range(n_par):
                avg[p] = avg[p] * ema
                avg[p] = avg[p] + (1.0 - ema) * new[p]
    return 0, n_b


def _compile_quietly(dispatcher):
    """Compile ``dispatcher`` without Numba's note that ``parallel=True`` found no loop of
    its own to parallelise: :func:`_train_batches` keeps the flag on purpose -- its
    parallel loops are those of :func:`_chunks`, and a cached parallel kernel calling it
    is the arrangement that loads from Numba's cache safely (see its docstring)."""
    compile_ = dispatcher.compile

    def compile_(sig, _compile=compile_):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?s).*keyword argument 'parallel=True'",
                                    category=NumbaPerformanceWarning)  # fmt: skip
            return _compile(sig)

    dispatcher.compile = compile_
    return dispatcher


_compile_quietly(_train_batches)
