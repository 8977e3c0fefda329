r"""Lyapunov spectra by the QR (Benettin) method, Kaplan--Yorke dimension, predictability time.

For a map :math:`x_t = F(x_{t-1})` with Jacobians :math:`J_t = DF(x_{t-1})`, the Lyapunov
exponents are the growth rates of the singular values of :math:`J_T\cdots J_1`. The QR
method (Benettin, Galgani, Giorgilli & Strelcyn 1980; Eckmann & Ruelle 1985, §III.C)
follows an orthonormal frame of :math:`k` tangent vectors,

.. math::

    Q_0 \in \mathbb{R}^{M\times k},\ Q_0^\top Q_0 = I,\qquad
    J_t Q_{t-1} = Q_t R_t\ \ (R_t \text{ upper triangular}, (R_t)_{ii} > 0),\qquad
    \lambda_i = \lim_{T\to\infty}\frac{1}{T\,\Delta t}\sum_{t=1}^{T}\log (R_t)_{ii},

re-orthonormalising before the tangent vectors collapse onto the most expanding
direction. These are the quantities of Mikhaeil, Monfared & Durstewitz (2022, §2): the
largest exponent decides whether BPTT gradients explode (Theorem 2), and
:math:`\ln 2/\lambda_{\max}` suggests the teacher-forcing interval (:func:`predictability_time`).

One Numba kernel (:func:`_lyapunov_kernel`) serves every refrnn model and every system of
:mod:`refrnn.systems`, through the integer dispatch of :mod:`refrnn._kernels`.

From a measured series instead of a known map, :func:`lyapunov_from_series` estimates the
largest exponent from the divergence of neighbouring stretches of the series, by the method
of Rosenstein, Collins & De Luca (1993), of Kantz (1994), or both; its automatic choice of
the linear region warns when there is none, and ties of quantised data follow one rule
(:func:`series_resolution`).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit
from scipy.spatial import cKDTree
from tqdm.auto import tqdm

from . import _kernels
from ._kernels import advance
from ._linalg import (
    GEMM_MIN_DIM,
    apply_reflectors_lapack,
    apply_reflectors_rows,
    block_factors,
    form_q_lapack,
    householder_lapack,
    householder_rows,
    lapack_qr_work_size,
    matmul_into,
    one_blas_thread,
    transpose_in_place,
)
from ._validation import (
    DivergenceError,
    as_bool,
    as_float_array,
    as_positive_int,
    as_real,
    as_rng,
    as_series,
    check_allocation,
)
from .dynamics import check_system, kernel_args

__all__ = [
    "LyapunovSpectrum",
    "lyapunov_spectrum",
    "kaplan_yorke_dimension",
    "predictability_time",
    "DivergenceResult",
    "LyapunovEstimates",
    "mean_period",
    "series_resolution",
    "lyapunov_from_series",
]


@njit(cache=True)
def _lyapunov_kernel(kind, theta, dim, x, Q, n_transient, n_frame, n_steps, reortho_every,
                     block_end, block_logs, J, Y, Ytmp, R, tau, T, w, xn, work, lapack,
                     explicit, lapack_work, lapack_int, lapack_chars):  # fmt: skip
    r"""The QR iteration. Everything is preallocated by the caller.

    Frames are stored transposed, (k, dim): row :math:`j` is tangent vector :math:`j`. The
    frame is kept as the reflectors of its last QR (``Q`` holds them, ``tau`` their
    coefficients), i.e. it is :math:`Q = H_0 \cdots H_{k-1} [I_k; 0]`, and the next product
    :math:`(J Q)^\top` is the first k rows of :math:`H_{k-1}\cdots H_0 J^\top`: :math:`Q`
    is never formed. For a full spectrum that is :math:`2\,\text{dim}^3` flops instead of
    :math:`\tfrac43\text{dim}^3` to form :math:`Q` plus :math:`2\,\text{dim}^3` for the
    product (measured per step: 6.9 -> 5.0--5.5 us at dim = k = 20; at 300 3.5 -> 2.5--3.0
    ms with ``dgeqrf`` + ``dormqr``, 2.1 ms with ``dgeqrt`` + ``dgemqrt``). On the LAPACK
    path, frames of few vectors are kept as :math:`Q^\top` instead (``explicit``,
    :func:`_explicit_frame`), where forming it and one ``dgemm`` cost less.
    This :math:`Q` is the positive-diagonal one times :math:`S = \mathrm{diag}(\pm1)`;
    negating frame vectors negates columns of the next :math:`R` exactly, so the logged
    :math:`\log|R_{ii}|` are the same numbers. Two paths with the same arithmetic up to
    round-off: hand loops (:func:`refrnn._linalg.householder_rows`,
    :func:`refrnn._linalg.apply_reflectors_rows`, :func:`refrnn._linalg.matmul_into`) for
    small ``dim``, and for large ``dim`` (``lapack``) LAPACK's ``dgeqrt`` and ``dgemqrt``
    (:func:`refrnn._linalg.householder_lapack`,
    :func:`refrnn._linalg.apply_reflectors_lapack`) and BLAS ``dgemm``: (k, dim) in C
    order is the (dim, k) frame in the Fortran order LAPACK works in.

    Parameters
    ----------
    kind, theta, dim : int, ndarray (P,), int
        The map, as in :mod:`refrnn._kernels`.
    x : ndarray, shape (dim,)
        Initial state (overwritten: ends as the final state).
    Q, tau, T : ndarray, shapes (k, dim), (k,), (k, nb)
        The initial frame as reflectors and their coefficients
        (:func:`refrnn._linalg.householder_rows`), or :math:`Q^\top` if ``explicit``;
        with ``lapack`` also the triangular factors of their blocks (``T``,
        :func:`refrnn._linalg.householder_lapack`; unused by hand). Overwritten: end as
        the final frame.
    n_transient, n_frame, n_steps : int
        Steps of the state transient (no tangents), of the frame transient (tangents
        evolved, logs discarded) and measured steps.
    reortho_every : int
        Multiply this many Jacobians into the frame between QR factorisations.
    block_end : ndarray of int, shape (n_blocks,)
        Cumulative measured steps at which each block ends (the last equals ``n_steps``).
        A QR is forced there so that no factor straddles two blocks.
    block_logs : ndarray, shape (n_blocks, k)
        Output, zero on entry: per block, :math:`\sum \log |R_{ii}|`.
    J, Y, Ytmp, R, w, xn, work : ndarray
        Scratch of shapes (dim, dim), (k, dim), (k, dim), (k, k), (2, dim), (dim,) and
        (``work_size``,).
    lapack : bool
        Take the BLAS/LAPACK path.
    explicit : bool
        With ``lapack``: keep the frame as :math:`Q^\top` itself (``Q``; formed by
        ``dorgqr`` after each QR) and multiply by ``dgemm``, for frames of few vectors
        (:func:`_explicit_frame`).
    lapack_work, lapack_int, lapack_chars : ndarray
        Scratch of the LAPACK calls: float64 of length :func:`lapack_qr_work_size`, int32
        of length 8, int8 of length 2 (any lengths if not ``lapack``).

    Returns
    -------
    code, step : int, int
        ``(0, 0)`` on success; ``(1, t)`` if the state became non-finite at step ``t``,
        ``(2, t)`` if the tangent frame did (counting steps from ``x0``, transients
        included).
    """
    k = Q.shape[0]
    for t in range(n_transient):
        if not advance(kind, theta, dim, x, xn, work):
            return 1, t + 1

    since_qr = 0  # Jacobians multiplied into Y since the last QR
    b = 0  # current block
    for t in range(n_frame + n_steps):
        _kernels.map_jacobian(kind, theta, dim, x, J, work)
        if lapack:
            if since_qr == 0 and not explicit:
                # (J Q)^T = [I_k 0] H_{k-1} ... H_0 J^T
                transpose_in_place(J)
                apply_reflectors_lapack(Q, T, J, lapack_work, lapack_int, lapack_chars)
                Y[:] = J[:k]
            else:
                # (J Y)^T = Y^T J^T by one dgemm (J.T is a view; BLAS reads it transposed),
                # with Y = Q^T formed (explicit) or the product so far
                np.dot(Q if since_qr == 0 else Y, J.T, Ytmp)
                Y, Ytmp = Ytmp, Y
        else:
            transpose_in_place(J)  # the products are taken on transposed frames
            if since_qr == 0:
                apply_reflectors_rows(Q, tau, J, w)  # (J Q)^T, as above
                Y[:] = J[:k]
            else:
                matmul_into(Y, J, Ytmp)  # (J Y)^T = Y^T J^T
                Y, Ytmp = Ytmp, Y
        since_qr += 1
        if not advance(kind, theta, dim, x, xn, work):
            return 1, n_transient + t + 1

        measured = t + 1 - n_frame  # measured steps completed (<= 0 during the frame transient)
        end_of_block = measured > 0 and measured == block_end[b]
        # QR after every reortho_every-th Jacobian, and also at the end of the frame
        # transient (measured == 0) and of every block, so that each logged R covers
        # measured steps of one block only.
        if since_qr == reortho_every or end_of_block or measured == 0:
            if lapack:
                ok = householder_lapack(Y, R, tau, T, lapack_work, lapack_int)
                if ok and explicit:
                    form_q_lapack(Y, tau, lapack_work, lapack_int)
            else:
                ok = householder_rows(Y, R, tau)
            Q[:] = Y  # the new frame: its reflectors, or Q^T if explicit
            if not ok:
                return 2, n_transient + t + 1
            for i in range(k):
                # +inf or NaN means the frame overflowed (R_ii = 0 is an exactly singular
                # Jacobian: log = -inf is the right exponent).
                if not abs(R[i, i]) < np.inf:
                    return 2, n_transient + t + 1
            if measured > 0:
                for i in range(k):
                    r = abs(R[i, i])
                    block_logs[b, i] += math.log(r) if r > 0.0 else -np.inf
            since_qr = 0
        if end_of_block:
            b += 1
    return 0, 0


@dataclass(frozen=True, eq=False)
class LyapunovSpectrum:
    r"""Result of :func:`lyapunov_spectrum`.

    Attributes
    ----------
    exponents : ndarray, shape (k,)
        :math:`\lambda_1 \ge \dots \ge \lambda_k`, per step for maps and RNN models, per
        unit time for flows (divided by ``dt``).
    stderr : ndarray, shape (k,)
        Standard error by batch means: the standard deviation of the per-block estimates
        over :math:`\sqrt{n_{\text{blocks}}}`, with ``ddof=1`` (NaN for one block). It
        assumes blocks much longer than the correlation time; it does not include the
        bias of finite runs (e.g. the :math:`O(1/T)` bias of a flow's zero exponent).
    block_logs : ndarray, shape (n_blocks, k)
        Per block, :math:`\sum_t \log (R_t)_{ii}` (columns in the order of ``exponents``).
    block_steps : ndarray of int, shape (n_blocks,)
        Measured steps per block (they differ by at most one).
    kaplan_yorke : float
        :func:`kaplan_yorke_dimension` of ``exponents`` (NaN if ``k < dim`` cannot tell).
    dt : float
        Time per step of the system.
    n_steps, transient, tangent_transient, reortho_every : int
        The settings of the run.
    dim : int
        State dimension of the system (``k <= dim``).
    """

    exponents: np.ndarray
    stderr: np.ndarray
    block_logs: np.ndarray
    block_steps: np.ndarray
    kaplan_yorke: float
    dt: float
    n_steps: int
    transient: int
    tangent_transient: int
    reortho_every: int
    dim: int

    @property
    def k(self):
        """Number of exponents computed."""
        return self.exponents.shape[0]

    def block_estimates(self):
        """Per-block exponents, shape (n_blocks, k) (per unit time)."""
        return self.block_logs / (self.block_steps[:, None] * self.dt)

    def running_estimate(self):
        r"""Cumulative estimates after each block, for convergence plots.

        Returns
        -------
        time : ndarray, shape (n_blocks,)
            Measured time :math:`t_b` at the end of block :math:`b` (steps times ``dt``).
        estimates : ndarray, shape (n_blocks, k)
            :math:`\frac{1}{t_b}\sum_{b' \le b}` ``block_logs[b']``; the last row equals
            ``exponents``.
        """
        time = np.cumsum(self.block_steps) * self.dt
        return time, np.cumsum(self.block_logs, axis=0) / time[:, None]

    def __repr__(self):
        ex = ", ".join(f"{e:.5g}" for e in self.exponents)
        return (
            f"LyapunovSpectrum(exponents=[{ex}], kaplan_yorke={self.kaplan_yorke:.4g}, "
            f"n_steps={self.n_steps}, dt={self.dt:g})"
        )


def _initial_frame(frame, rng, dim, k, lapack):
    """The orthonormalised initial frame as :func:`_lyapunov_kernel` takes it: ``(Q, tau,
    T)``, shapes (k, dim), (k,) and (k, nb), the reflectors of the frame's QR (or
    :math:`Q^\top` where :func:`_explicit_frame`) and, from LAPACK, their blocks' factors."""
    if frame is None:
        # Draw (dim, dim) and keep the first k columns, so that a run with k < dim starts
        # from the leading columns of the full run's frame (and reproduces its first k
        # exponents to round-off). A random frame, not the identity: coordinate axes can
        # lie in invariant subspaces (e.g. a PLRNN with W = 0), which would hide the
        # leading exponents from a partial frame.
        frame = rng.standard_normal((dim, dim))[:, :k]
    else:
        frame = as_float_array("initial_frame", frame, shape=(dim, k))
    Q = np.array(frame.T, dtype=np.float64, order="C")
    R, tau, T = np.empty((k, k)), np.empty(k), block_factors(k)
    if lapack:  # the kernel's own QR (householder_rows takes ~2x longer at dim 300)
        work, iw = np.empty(lapack_qr_work_size(dim, k)), np.zeros(8, dtype=np.int32)
        with one_blas_thread():
            householder_lapack(Q, R, tau, T, work, iw)
            d = np.abs(np.diag(R))
            if _explicit_frame(dim, k) and d.min() > 1e-12 * d.max():
                form_q_lapack(Q, tau, work, iw)
    else:
        householder_rows(Q, R, tau)
    d = np.abs(np.diag(R))
    if not d.min() > 1e-12 * d.max():
        raise ValueError("initial_frame must have full column rank")
    return Q, tau, T


#: From this state dimension on, the QR iteration factorises and applies the reflectors
#: by LAPACK (and multiplies by BLAS). A full-spectrum step of a PLRNN took, by hand
#: against by LAPACK (dgeqrt + dgemqrt; one thread, measured): 27 / 35 us at dim 40,
#: 44 / 45 us at 48, 68 / 56 us at 56, 101 / 68 us at 64 (with dgeqrf + dormqr: 442 / 234
#: us at 100, 10 / 2.5 ms at 300); dim 48 is also where the batch kernels hand their
#: products to BLAS.
_LAPACK_MIN_DIM = GEMM_MIN_DIM


def _explicit_frame(dim, k):
    r"""Whether the LAPACK path keeps the frame as :math:`Q^\top` (formed by ``dorgqr``)
    rather than as reflectors applied to the whole Jacobian: for few vectors, k < dim/3,
    where the reflectors' :math:`4\,\text{dim}^2 k` flops exceed :math:`2\,\text{dim}^2
    k` for the product plus :math:`4\,\text{dim}\,k^2` to form :math:`Q` by enough to
    outweigh ``dgemqrt``'s better use of the cache (the crossover in the measurements
    below lies between dim/4 and dim/3, where the two differ by <= 8 %; dim 48, k = 16
    is a tie at 15 / 14 us). Measured per step, PLRNN, one thread
    (reflectors / explicit, us): dim 48 k 5, 12, 16, 24, 48: 6 / 5, 12 / 11, 15 / 14,
    24 / 24, 46 / 55; dim 64 k 10, 20, 32, 64: 13 / 11, 24 / 24, 36 / 39, 70 / 89; dim 100
    k 10, 20, 30, 50, 100: 24 / 17, 37 / 35, 51 / 49, 80 / 87, 162 / 249; dim 300 k 10,
    50, 75, 100, 300: 214 / 177, 507 / 433, 690 / 674, 933 / 990, 2140 / 2869."""
    return dim >= _LAPACK_MIN_DIM and 3 * k < dim


#: Rate assumed by the up-front run-time estimate of :func:`lyapunov_spectrum`, in the
#: flop count of ``_step_seconds``. Measured once on a 2-core x86-64 machine shared with
#: other jobs: 1.3 GFlop/s for matrix-vector-bound steps (k = 1, M = 100 and 300), 4--10
#: GFlop/s for M = k = 30..800. With 2 GFlop/s the estimates of those runs were 0.65--5.2
#: times the measured times: long runs (large frames) are overestimated, not missed.
_FLOPS_PER_SECOND = 2e9
#: Fixed cost of one kernel step (loop and dispatch overhead), measured 1.1 us for dim 3.
_SECONDS_PER_STEP = 1e-6
#: Runs estimated longer than this warn up front and (with ``progress=None``) show a bar.
LONG_RUN_SECONDS = 30.0
#: With a progress bar the kernel runs in chunks of about this many seconds of work.
_CHUNK_SECONDS = 0.5


def _step_seconds(dim, k, reortho_every):
    """Estimated seconds of one state step and of one tangent step (see ``_FLOPS_PER_SECOND``).

    A state step applies the map (a dense (dim, dim) product for the RNN models: 2 dim^2
    flops). A tangent step also builds the Jacobian (dim^2 entries) and multiplies it into
    the (dim, k) frame (2 dim^2 k); every ``reortho_every`` steps the frame is factorised
    by Householder QR (about 2 dim k^2) and the product after it applies the reflectors to
    the whole Jacobian instead (about 2 dim^2 k more).
    """
    state = 2.0 * dim * dim
    qr = 2.0 * dim * k * k + 2.0 * dim * dim * k
    tangent = state + dim * dim + 2.0 * dim * dim * k + qr / reortho_every
    return (
        _SECONDS_PER_STEP + state / _FLOPS_PER_SECOND,
        _SECONDS_PER_STEP + tangent / _FLOPS_PER_SECOND,
    )


def _format_seconds(seconds):
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s"


def _split(n, size):
    """Lengths of consecutive chunks of at most ``size`` covering ``n`` steps."""
    return [min(size, n - i) for i in range(0, n, size)]


def _run_kernel(system, dim, x, Q, transient, tangent_transient, n_steps, reortho_every,
                block_end, block_logs, scratch, chunks, bar):  # fmt: skip
    """Run the QR iteration in one kernel call, or in chunks of steps with a progress bar.

    The chunked run is the same computation bit for bit, because the kernel's whole state
    between steps is the orbit point ``x``, the frame (``Q``, with the ``tau`` and ``T`` in
    ``scratch`` that complete its reflectors) and the running block sums
    ``block_logs`` -- all passed in and updated in place -- provided that every chunk ends
    where the unchunked run factorises the frame anyway: the state transient has no frame
    (any split is exact); in the frame transient and inside a block, QRs fall after every
    ``reortho_every``-th Jacobian counted from the previous QR, so chunks are multiples of
    ``reortho_every`` (the kernel forces a QR at the end of each call's frame transient or
    block, which is then one the unchunked run also does); and no chunk crosses a block
    end, where the unchunked run forces a QR too. Each measured chunk adds into its
    block's row of ``block_logs`` (a view), in the same order as the unchunked run.

    ``chunks`` is None (one call) or the steps per chunk of the state transient and of
    the tangent steps. Returns the kernel's ``(code, step)``, the step counted from ``x0``.
    """
    kind, theta, _, _ = kernel_args(system)
    if chunks is None:
        return _lyapunov_kernel(kind, theta, dim, x, Q, transient, tangent_transient, n_steps,
                                reortho_every, block_end, block_logs, *scratch)  # fmt: skip
    state_chunk, chunk = chunks
    frame_chunk = max(reortho_every, chunk - chunk % reortho_every)
    calls = [(c, 0, 0, None) for c in _split(transient, state_chunk)]
    calls += [(0, c, 0, None) for c in _split(tangent_transient, frame_chunk)]
    starts = np.concatenate([[0], block_end[:-1]])
    for b, (s, e) in enumerate(zip(starts.tolist(), block_end.tolist(), strict=True)):
        calls += [(0, 0, c, b) for c in _split(e - s, frame_chunk)]
    done = 0
    for n_tr, n_fr, n_me, b in calls:
        if b is None:  # transients: no block is touched (the kernel reads none either)
            ends, logs = block_end[:1], block_logs[:1]
        else:
            ends, logs = np.array([n_me], dtype=np.int64), block_logs[b : b + 1]
        code, step = _lyapunov_kernel(kind, theta, dim, x, Q, n_tr, n_fr, n_me, reortho_every,
                                      ends, logs, *scratch)  # fmt: skip
        if code:
            return code, done + step
        done += n_tr + n_fr + n_me
        bar.update(n_tr + n_fr + n_me)
    return 0, 0


def lyapunov_spectrum(system, x0=None, n_steps=100_000, *, transient=10_000,
                      tangent_transient=1_000, k=None, reortho_every=1, n_blocks=None,
                      initial_frame=None, rng=None, progress=None):  # fmt: skip
    r"""Lyapunov spectrum of a refrnn model or reference system by the QR method.

    Parameters
    ----------
    system : refrnn model or :class:`refrnn.systems.DynamicalSystem`
        Anything following the map protocol (``_kind``, ``_theta``, ``dim``, ``dt``).
    x0 : array_like, shape (dim,), optional
        Initial state. Default: ``system.initial_state()`` for reference systems, a
        standard normal draw from ``rng`` for models.
    n_steps : int
        Measured steps :math:`T` (after both transients).
    transient : int
        Steps discarded before the tangent frame is started (the orbit settles on the
        attractor).
    tangent_transient : int
        Steps in which the frame is evolved and re-orthonormalised but its logs are
        discarded (the frame aligns with the Oseledets directions; the error decays like
        :math:`e^{-(\lambda_i - \lambda_{i+1})t}`).
    k : int, optional
        Number of leading exponents, ``1 <= k <= dim``; default all.
    reortho_every : int
        Multiply this many Jacobians into the frame before each QR. Larger is cheaper
        but the frame's condition number grows like :math:`e^{(\lambda_1-\lambda_k) m}`;
        keep it well below :math:`1/\epsilon_{\text{mach}}`. A QR is also forced at the
        end of the frame transient and of every block, so the result is the same
        whatever ``n_steps`` is.
    n_blocks : int, optional
        Number of consecutive blocks for ``stderr`` and ``running_estimate``
        (``1 <= n_blocks <= n_steps``); default ``min(20, n_steps)``.
    initial_frame : array_like, shape (dim, k), optional
        Starting tangent vectors (orthonormalised here); default random, see ``rng``.
    rng : numpy.random.Generator or int, optional
        Source of the random initial frame (and of ``x0`` for models). ``None`` means the
        fixed seed 0, so that repeated calls return identical results.
    progress : bool or None
        Show a tqdm progress bar (steps, transients included). ``None`` (default): only
        when the run is estimated to take longer than :data:`LONG_RUN_SECONDS` (30 s).
        The result is the same bit for bit with or without the bar.

    Returns
    -------
    LyapunovSpectrum
        ``exponents`` (descending), ``stderr``, ``block_logs``, ``kaplan_yorke`` and the
        settings; ``running_estimate()`` gives the convergence curve without a rerun.

    Raises
    ------
    TypeError
        If ``system`` does not follow the protocol, or an argument has the wrong type.
    ValueError
        For a non-finite ``x0`` or out-of-range arguments (the message names them).
    DivergenceError
        If the orbit or the tangent frame overflows; the message names the step.

    Warns
    -----
    UserWarning
        Up front, if the run is estimated to take longer than :data:`LONG_RUN_SECONDS`;
        the message gives the estimate and how to shorten the run.

    Notes
    -----
    **Cost.** Per step after the state transient: a Jacobian-frame product of about
    :math:`2\,\text{dim}^2 k` flops and, every ``reortho_every`` steps, a QR of about
    :math:`2\,\text{dim}\,k^2` whose reflectors the next product applies to the whole
    Jacobian (about :math:`2\,\text{dim}^2 k` more; few-vector frames on the LAPACK
    path are formed instead); so a full spectrum (:math:`k = \text{dim}`) costs
    :math:`\approx 5\text{--}6\,\text{dim}^3` flops per step, and ``PLRNN.random(M=5000)`` with
    the default 111,000 steps would take months (a year by the estimate). The estimate (a rate of
    2 GFlop/s, measured, and erring long) is stated in the warning; shorten the run with a
    smaller ``n_steps`` (the standard error shrinks only like :math:`1/\sqrt{T}`), fewer
    exponents ``k`` (the leading ones are those of the full run) or a larger
    ``reortho_every``. Memory: :math:`8(\text{dim}^2 + 3\,\text{dim}\,k + k^2)` bytes of
    scratch plus :math:`8\,n_{blocks} k` for the block sums and the system's own; nothing
    grows with ``n_steps``.

    With :math:`Q_0` the initial frame and :math:`J_t Q_{t-1} = Q_t R_t` (Householder
    QR, the frame kept as reflectors, :func:`refrnn._linalg.householder_rows`; from ``dim``
    48 on the same factorisation by LAPACK and the products by LAPACK and BLAS, equal to
    round-off), the estimate is

    .. math:: \hat\lambda_i = \frac{1}{T\,\Delta t}\sum_{t=1}^{T}\log (R_t)_{ii},

    (Benettin et al. 1980; Eckmann & Ruelle 1985). With ``reortho_every = m`` the QR is of
    :math:`J_{t+m}\cdots J_{t+1}Q_t` instead -- the same numbers in exact arithmetic. The
    Jacobian of a flow's step is the exact derivative of the RK4 step, so the exponents
    are those of the discrete map, per unit time; they differ from the flow's by the RK4
    error, and the flow's zero exponent converges only like :math:`1/T`. Exactly
    singular Jacobians give :math:`-\infty` (then ``stderr`` is NaN for that exponent).
    Summing the logs over :math:`i` telescopes to
    :math:`\sum_t \log|\det J_t|` (full spectrum), an identity the tests check to
    round-off.
    """
    check_system(system)
    dim = int(system.dim)
    rng = as_rng(0 if rng is None else rng)
    n_steps = as_positive_int("n_steps", n_steps)
    transient = as_positive_int("transient", transient, minimum=0)
    tangent_transient = as_positive_int("tangent_transient", tangent_transient, minimum=0)
    k = dim if k is None else as_positive_int("k", k)
    if k > dim:
        raise ValueError(f"k must be <= dim={dim}, got {k}")
    reortho_every = as_positive_int("reortho_every", reortho_every)
    if reortho_every > n_steps:
        raise ValueError(
            f"reortho_every must be <= n_steps={n_steps}, got {reortho_every}: longer "
            f"products between QRs only lose the frame's conditioning"
        )
    n_blocks = min(20, n_steps) if n_blocks is None else as_positive_int("n_blocks", n_blocks)
    if n_blocks > n_steps:
        raise ValueError(f"n_blocks must be <= n_steps={n_steps}, got {n_blocks}")
    check_allocation("n_blocks", n_blocks, "(n_blocks, k) block sums", n_blocks * (k + 1))
    if n_blocks == 1:
        warnings.warn(
            "n_blocks=1: the batch-means standard errors need >= 2 blocks; stderr is NaN",
            UserWarning,
            stacklevel=2,
        )
    if x0 is None:
        has_default = hasattr(system, "initial_state")
        x0 = system.initial_state() if has_default else rng.standard_normal(dim)
    x = as_float_array("x0", x0, shape=(dim,), copy=True)
    lapack = dim >= _LAPACK_MIN_DIM
    Q, tau, T = _initial_frame(initial_frame, rng, dim, k, lapack)
    if progress is not None:
        progress = as_bool("progress", progress)

    state_s, tangent_s = _step_seconds(dim, k, reortho_every)
    estimate = transient * state_s + (tangent_transient + n_steps) * tangent_s
    if estimate > LONG_RUN_SECONDS:
        warnings.warn(
            f"lyapunov_spectrum: estimated run time {_format_seconds(estimate)} (dim={dim}, "
            f"k={k}, transient={transient}, tangent_transient={tangent_transient}, "
            f"n_steps={n_steps}, reortho_every={reortho_every}; about "
            f"{_FLOPS_PER_SECOND / 1e9:g} GFlop/s assumed). Shorten it with a smaller "
            f"n_steps (the standard error shrinks like 1/sqrt(n_steps)), fewer exponents k "
            f"(cost ~ dim^2 k per step) or a larger reortho_every; progress=False hides "
            f"the progress bar",
            UserWarning,
            stacklevel=2,
        )
    if progress is None:
        progress = estimate > LONG_RUN_SECONDS

    block_end = (np.arange(1, n_blocks + 1, dtype=np.int64) * n_steps) // n_blocks
    block_logs = np.zeros((n_blocks, k))
    _, _, _, work = kernel_args(system)
    explicit = _explicit_frame(dim, k)
    lapack_work = np.empty(lapack_qr_work_size(dim, k) if lapack else 0)
    # the reflectors' tau and T travel with Q from call to call (chunks): see _lyapunov_kernel
    scratch = (
        np.empty((dim, dim)), np.empty((k, dim)), np.empty((k, dim)), np.empty((k, k)), tau, T,
        np.empty((2, dim)), np.empty(dim), work, lapack, explicit, lapack_work,
        np.zeros(8, dtype=np.int32), np.zeros(2, dtype=np.int8),
    )  # fmt: skip
    total = transient + tangent_transient + n_steps
    # one BLAS thread for the LAPACK path: see refrnn._linalg.one_blas_thread
    with one_blas_thread() if lapack else contextlib.nullcontext():
        if progress:
            # chunks of about _CHUNK_SECONDS of estimated work (>= 1 step)
            chunks = (
                max(1, int(_CHUNK_SECONDS / state_s)),
                max(1, int(_CHUNK_SECONDS / tangent_s)),
            )
            with tqdm(total=total, unit="step", desc="lyapunov_spectrum") as bar:
                code, step = _run_kernel(system, dim, x, Q, transient, tangent_transient,
                                         n_steps, reortho_every, block_end, block_logs, scratch,
                                         chunks, bar)  # fmt: skip
        else:
            code, step = _run_kernel(system, dim, x, Q, transient, tangent_transient, n_steps,
                                     reortho_every, block_end, block_logs, scratch, None,
                                     None)  # fmt: skip
    if code == 1:
        raise DivergenceError(
            f"{system!r}: orbit became non-finite at step {step} (counted from x0, "
            f"transient included)"
        )
    if code == 2:
        raise DivergenceError(
            f"{system!r}: tangent frame became non-finite at step {step} (counted from x0, "
            f"transient included); the Jacobians overflow"
            + (" -- try a smaller reortho_every" if reortho_every > 1 else "")
        )

    dt = float(system.dt)
    block_steps = np.diff(block_end, prepend=0)
    exponents = block_logs.sum(axis=0) / (n_steps * dt)
    # The QR method orders the exponents by itself up to finite-time noise; sort
    # explicitly and permute the per-block record alike.
    order = np.argsort(-exponents, kind="stable")
    exponents, block_logs = exponents[order], block_logs[:, order]
    if n_blocks > 1:
        with np.errstate(invalid="ignore"):
            means = block_logs / (block_steps[:, None] * dt)
            stderr = means.std(axis=0, ddof=1) / math.sqrt(n_blocks)
    else:
        stderr = np.full(k, np.nan)
    for a in (exponents, stderr, block_logs, block_steps):
        a.flags.writeable = False
    return LyapunovSpectrum(
        exponents=exponents,
        stderr=stderr,
        block_logs=block_logs,
        block_steps=block_steps,
        kaplan_yorke=kaplan_yorke_dimension(exponents, complete=(k == dim)),
        dt=dt,
        n_steps=n_steps,
        transient=transient,
        tangent_transient=tangent_transient,
        reortho_every=reortho_every,
        dim=dim,
    )


def kaplan_yorke_dimension(exponents, complete=True):
    r"""Kaplan--Yorke (Lyapunov) dimension of a spectrum (Kaplan & Yorke 1979).

    .. math::

        D_{KY} = j + \frac{\sum_{i=1}^{j}\lambda_i}{|\lambda_{j+1}|},\qquad
        j = \max\{\,n : \textstyle\sum_{i=1}^{n}\lambda_i \ge 0\,\},

    with :math:`\lambda_1 \ge \lambda_2 \ge \dots` (``exponents`` are sorted here).

    Parameters
    ----------
    exponents : array_like, shape (k,)
        Lyapunov exponents, any order; ``-inf`` allowed, NaN and ``+inf`` not.
    complete : bool
        Whether ``exponents`` is the whole spectrum (k = dim).

    Returns
    -------
    float
        0 if :math:`\lambda_1 < 0` (a stable fixed point or cycle). If every partial sum is
        :math:`\ge 0`: ``k`` for a complete spectrum (no volume contraction), NaN for a
        partial one (the missing exponents decide).

    Examples
    --------
    >>> round(kaplan_yorke_dimension([0.9056, 0.0, -14.5723]), 3)
    2.062
    """
    lam = as_float_array("exponents", exponents, ndim=1, finite=False)
    if lam.size == 0:
        raise ValueError("exponents must not be empty")
    if np.any(np.isnan(lam)) or np.any(lam == np.inf):
        raise ValueError("exponents must not contain NaN or +inf")
    lam = np.sort(lam)[::-1]
    partial = np.cumsum(lam)
    nonneg = np.flatnonzero(partial >= 0.0)
    if nonneg.size == 0:
        return 0.0
    j = int(nonneg[-1]) + 1  # number of exponents whose sum is still >= 0
    if j == lam.size:
        return float(lam.size) if complete else float("nan")
    # partial sums are >= 0 up to j and < 0 after it only if the spectrum is sorted, which
    # it is; lam[j] < 0 necessarily (else partial[j] >= partial[j-1] >= 0).
    return j + float(partial[j - 1]) / abs(float(lam[j]))


def predictability_time(lambda_max, dt=1.0):
    r"""Predictability time in steps, :math:`\tau = \ln 2 / (\lambda_{\max}\,\Delta t)`.

    The time over which an infinitesimal error doubles on average; Mikhaeil et al. (2022,
    §3.3) suggest it as the teacher-forcing interval :math:`\tau`.

    Parameters
    ----------
    lambda_max : float
        Largest Lyapunov exponent, per unit time (as returned by
        :func:`lyapunov_spectrum` for a flow; per step for maps, with ``dt=1``).
    dt : float
        Sampling step of the series the model sees.

    Returns
    -------
    float
        :math:`\tau_{\text{pred}}` in steps (not rounded).

    Raises
    ------
    ValueError
        If ``lambda_max <= 0``: a non-chaotic system has no finite predictability time,
        and returning ``inf`` would silently produce a useless forcing interval. Also for
        non-finite values or ``dt <= 0``.

    Examples
    --------
    Lorenz-63 sampled at dt = 0.01 (Mikhaeil et al. 2022):

    >>> round(predictability_time(0.9056, dt=0.01), 1)
    76.5
    """
    lam = _positive_float(
        "lambda_max", lambda_max, " (a non-chaotic system has no finite predictability time)"
    )
    dt = _positive_float("dt", dt)
    return math.log(2.0) / (lam * dt)


def _positive_float(name, value, hint=""):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0{hint}, got {value}")
    return value


# ======================================================================================
# largest Lyapunov exponent from a series (Rosenstein et al. 1993; Kantz 1994)
#: Linearity tolerance of the automatic fit range: the least-squares slopes of the two
#: halves of a window may differ by at most this fraction of the window's slope.
LINEAR_TOLERANCE = 0.2
#: Below this rise of the divergence curve along its straight part (in nats, i.e. the
#: separation grows by less than a factor e) :func:`lyapunov_from_series` warns that the
#: curve has no clear linear region.
MIN_LINEAR_RISE = 1.5
#: A divergence curve whose first step rises by more than this many nats beyond the
#: fitted slope starts at a noise floor: measurement noise makes the nearest neighbours
#: closer than the noise level, and one step later the pair is as far apart as the noise
#: (a clean series rises by about ``lambda_max * dt`` there). Measured on the series of
#: docs/results/lyapunov_from_series.md: 0-0.3 nats clean or quantised, 1.1-3.7 nats
#: with 1 % noise on the Hénon and logistic maps, 2.1 nats with 5 % on the Hénon map.
NOISE_JUMP = 1.0
#: Behind such a jump the straight stretch must rise by at least this many nats, or
#: :func:`lyapunov_from_series` warns: noise bends the curve below its slope from the
#: floor up, so a short stretch is biased low (the Hénon map with 5 % noise: stretches of
#: 1.5-1.7 nats, estimates 19-30 % low; with 1 %: 3 nats, 10-21 % low).
NOISY_MIN_RISE = 2.0
#: A divergence curve whose first step rises by more than this many times the fitted rise
#: per step starts at a noise floor, even where the jump is small in nats (a finely
#: sampled flow): :func:`lyapunov_from_series` then warns that the estimate is probably
#: biased low and sets ``noise_floor``. Measured on the series of
#: docs/results/lyapunov_from_series.md (first-step rise over fitted rise per step):
#: 0.3-2.0 clean, 0.3-3.2 at 8 bits, 3.0-8.5 with 1 % noise, 7-44 with 5-10 % noise.
#: 3.5 flags every run with 1 % noise whose estimate was more than 15 % off.
NOISE_STEP_RATIO = 3.5
#: ... and only if that first step exceeds the fitted rise per step by more than this many
#: nats: a clean flow sampled coarsely (Rössler every 10-25 integration steps) can have a
#: first step 3-4.5 times its slope per step, but the excess is ~0.06 nats; 1 % noise on
#: the benchmark series gives 0.16 nats (Lorenz-63 state) and more.
NOISE_MIN_EXCESS = 0.1
#: The automatic fit range ends before the curve has covered this fraction of its rise
#: from ``y(0)`` to its plateau ``max y``, where it bends into saturation.
_SATURATION = 0.8
#: Candidate window ends of the automatic fit range lie on a grid of at most this many
#: points (every point for maps; flows sampled finely are thinned).
_GRID = 150
#: Kantz's method averages over at most this many nearest neighbours within the radius.
KANTZ_MAX_NEIGHBOURS = 20
#: Default Kantz radius: this many times the median distance of the reference points to
#: their nearest admissible neighbour.
KANTZ_RADIUS_FACTOR = 2.0

_METHODS = ("rosenstein", "kantz")


class DivergenceResult(NamedTuple):
    r"""Result of :func:`lyapunov_from_series` for one method.

    Attributes
    ----------
    lambda_max : float
        Largest Lyapunov exponent per unit time (per sample if ``dt = 1``): the slope of
        ``divergence`` against ``times`` over ``fit_range``.
    method : str
        ``"rosenstein"`` or ``"kantz"``.
    times : ndarray, shape (K+1,)
        :math:`i\,\Delta t` for :math:`i = 0..K`.
    divergence : ndarray, shape (K+1,)
        The divergence curve: :math:`y(i)` (Rosenstein) or :math:`S(i)` (Kantz), the mean
        log distance of neighbouring trajectories after i steps.
    fit_range : tuple of int
        ``(i0, i1)``: the slope was fitted to ``divergence[i0:i1]`` against ``times[i0:i1]``.
    intercept : float
        Intercept of the fitted line (plot ``intercept + lambda_max * times``).
    linear : bool
        Whether the fit range is a clear linear region (see :func:`lyapunov_from_series`,
        Notes); False also when a warning said so. True for a ``fit_range`` passed in.
    min_separation : int
        W, minimum temporal separation of neighbours, in samples.
    n_pairs : int
        Reference points used (each with its nearest neighbour, or with its neighbours
        within ``radius`` for Kantz's method).
    resolution : float
        :math:`\delta`: distances :math:`\le \delta` count as :math:`\delta`.
    radius : float
        Kantz's neighbourhood radius :math:`\varepsilon` (NaN for Rosenstein's method).
    tied_fraction : float
        Fraction of reference points whose nearest admissible neighbour (Rosenstein) or
        whose admissible neighbours within the radius (Kantz, fraction of neighbours) lay
        at distance :math:`\le \delta`, and were replaced by (left out in favour of)
        farther ones.
    censored_fraction : float
        Fraction of the distances followed (over all pairs and steps ``0..K``) that were
        :math:`\le \delta` and counted as :math:`\delta`.
    noise_floor : bool
        Whether the curve starts at a noise floor: its first step rises by more than
        :data:`NOISE_STEP_RATIO` times the fitted rise per step and by more than
        :data:`NOISE_MIN_EXCESS` nats beyond it (automatic fit range only; the estimate
        is then probably biased low, see :func:`lyapunov_from_series`, Notes).
    """

    lambda_max: float
    method: str
    times: np.ndarray
    divergence: np.ndarray
    fit_range: tuple
    intercept: float
    linear: bool
    min_separation: int
    n_pairs: int
    resolution: float
    radius: float
    tied_fraction: float
    censored_fraction: float
    noise_floor: bool = False

    def __repr__(self):  # the estimate and how it was fitted, not the curves
        return (
            f"DivergenceResult(method={self.method!r}, lambda_max={self.lambda_max:.5g}, "
            f"fit_range={self.fit_range}, linear={self.linear}, n_pairs={self.n_pairs}, "
            f"min_separation={self.min_separation})"
        )


class LyapunovEstimates(NamedTuple):
    """Result of :func:`lyapunov_from_series` with ``method="both"``.

    Attributes
    ----------
    rosenstein, kantz : DivergenceResult
        The two estimates, from the same series, ``min_separation``, ``n_steps`` and
        resolution.
    """

    rosenstein: DivergenceResult
    kantz: DivergenceResult

    @property
    def relative_difference(self):
        r""":math:`(\lambda_K - \lambda_R)/|\lambda_R|`: how far Kantz's estimate lies from
        Rosenstein's (a large difference says that at least one is unreliable)."""
        lam_r, lam_k = self.rosenstein.lambda_max, self.kantz.lambda_max
        return (lam_k - lam_r) / abs(lam_r) if lam_r != 0 else float("nan")

    def __repr__(self):
        r, k = self.rosenstein, self.kantz
        return (
            f"LyapunovEstimates(rosenstein={r.lambda_max:.5g} (fit {r.fit_range}, linear="
            f"{r.linear}), kantz={k.lambda_max:.5g} (fit {k.fit_range}, linear={k.linear}), "
            f"relative_difference={self.relative_difference:+.1%})"
        )


def mean_period(X):
    r"""Mean period of a series in samples: the reciprocal of the power-weighted mean
    frequency, :math:`1 / \bar f` with :math:`\bar f = \sum_k f_k P_k / \sum_k P_k`.

    ``P`` is the periodogram :math:`|\mathrm{rFFT}(x - \bar x)|^2` summed over the N
    variables and ``f_k = k / T`` in cycles per sample (Rosenstein et al. 1993, Sect. 3).
    ``X : ndarray, shape (T, N)`` -> float.
    """
    X = as_series("X", X)
    P = np.sum(np.abs(np.fft.rfft(X - X.mean(axis=0), axis=0)) ** 2, axis=1)
    f = np.fft.rfftfreq(X.shape[0])
    if P.sum() == 0:
        raise ValueError("X is constant; it has no period")
    return float(P.sum() / np.sum(f * P))


def series_resolution(X):
    r"""Resolution :math:`\delta` of a series: the typical distance between two states that
    the data cannot tell apart.

    With :math:`q_n` the smallest positive difference between two values of column n (the
    quantisation step of quantised data; tiny for continuous data),

    .. math:: \delta = \sqrt{\textstyle\sum_n q_n^2 / 6},

    the root-mean-square distance between two points drawn independently and uniformly
    from one quantisation cell (each coordinate difference of two uniform variables on
    :math:`[0, q_n]` has variance :math:`q_n^2/6`). Constant columns contribute 0.

    Parameters
    ----------
    X : ndarray, shape (T, N)

    Returns
    -------
    float
        :math:`\delta \ge 0` (0 only if every column is constant).

    Examples
    --------
    >>> X = np.round(np.random.default_rng(0).normal(size=(1000, 3)) * 10) / 10
    >>> round(series_resolution(X), 4)  # q = 0.1 in each of 3 columns: 0.1 * sqrt(3/6)
    0.0707
    """
    X = as_series("X", X)
    q = np.zeros(X.shape[1])
    for n, col in enumerate(X.T):
        gaps = np.diff(np.unique(col))
        if gaps.size:
            q[n] = gaps.min()
    return float(np.sqrt(np.sum(q**2) / 6.0))


def _nearest_distant_neighbours(Y, min_sep, floor=0.0):
    """Each row's nearest neighbour among rows more than ``min_sep`` steps away and farther
    than ``floor``.

    Query k nearest neighbours and keep the first admissible one; rows whose k candidates
    are all inadmissible are queried again with twice as many (k grows to ``n`` if
    needed: many rows can coincide with a row of quantised data).

    Returns
    -------
    nbr : ndarray of int, shape (n,)
        Index of the neighbour, -1 where none exists.
    tied : ndarray of bool, shape (n,)
        Whether a row more than ``min_sep`` steps away lay at distance ``<= floor`` and
        nearer than ``nbr`` (it was passed over).
    """
    n = Y.shape[0]
    tree = cKDTree(Y)
    nbr = np.full(n, -1)
    tied = np.zeros(n, dtype=bool)
    todo = np.arange(n)
    k = 8
    while todo.size:
        k = min(k, n)
        dist, idx = _query_sorted(tree, Y[todo], k, np.inf)
        distant = np.abs(idx - todo[:, None]) > min_sep
        ok = distant & (dist > floor)
        first = np.argmax(ok, axis=1)
        # found, unless points as near as the chosen one may lie beyond the query
        found = ok.any(axis=1) & ((dist[:, -1] > dist[np.arange(len(todo)), first]) | (k == n))
        rows = np.flatnonzero(found)
        nbr[todo[rows]] = idx[rows, first[rows]]
        tied[todo] |= (
            distant & (dist <= floor) & (np.arange(k) < np.where(found, first, k)[:, None])
        ).any(axis=1)
        if k == n:
            break
        todo = todo[~found]
        k *= 2
    return nbr, tied


def _query_sorted(tree, points, k, radius):
    """``tree.query`` of the k nearest points within ``radius``, shape (m, k) each, ordered
    by distance and, among equal distances (the lattice of quantised data), by index:
    equidistant neighbours are taken earliest in time first, so the choice is unique."""
    dist, idx = tree.query(points, k=k, distance_upper_bound=radius)
    dist, idx = dist.reshape(len(points), k), idx.reshape(len(points), k)
    order = np.lexsort((idx, dist), axis=1)
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1)


def _neighbours_within(Y, min_sep, floor, radius, max_neighbours):
    """Kantz's neighbourhoods: for each row, its (at most ``max_neighbours``) nearest rows
    more than ``min_sep`` steps away at distance in ``(floor, radius]``.

    Rows are queried for ``max_neighbours + 2 min_sep + 1`` nearest points first, and again
    with twice as many while the query may have cut off admissible points (fewer than
    ``max_neighbours`` found and the farthest point returned still within the radius):
    ties of quantised data can fill a whole query.

    Returns ``rows, nbrs`` (flat index pairs, each row's neighbours nearest first), the
    number of admissible points at distance ``<= floor`` passed over, and that number
    plus the number of neighbours kept.
    """
    n = Y.shape[0]
    tree = cKDTree(Y)
    rows_out, nbrs_out = [], []
    n_tied = 0
    todo = np.arange(n)
    k = max_neighbours + 2 * min_sep + 1
    while todo.size:
        k = min(k, n)
        dist, idx = _query_sorted(tree, Y[todo], k, radius)
        distant = (np.abs(idx - todo[:, None]) > min_sep) & (dist <= radius)
        ok = distant & (dist > floor)
        ok &= np.cumsum(ok, axis=1) <= max_neighbours
        last = np.max(np.where(ok, dist, -np.inf), axis=1)  # farthest neighbour kept
        # cut off: fewer than max_neighbours kept, or the last kept one tied with points
        # beyond the query, while the query ends inside the radius
        cut = (
            ((ok.sum(axis=1) < max_neighbours) | (dist[:, -1] <= last))
            & (dist[:, -1] <= radius)
            & (k < n)
        )
        done = ~cut
        r, c = np.nonzero(ok & done[:, None])
        rows_out.append(todo[r])
        nbrs_out.append(idx[r, c])
        n_tied += int(np.sum(distant[done] & (dist[done] <= floor)))
        todo = todo[cut]
        k *= 2
    rows, nbrs = np.concatenate(rows_out), np.concatenate(nbrs_out)
    order = np.argsort(rows, kind="stable")
    return rows[order], nbrs[order], n_tied, n_tied + rows.size


def _pair_distances(Xt, a, b, delta):
    """Distances ``||x_a - x_b||`` for index arrays a, b, floored at ``delta``; and how many
    were ``<= delta``. ``Xt`` is the series transposed, shape (N, T)."""
    diff = Xt[:, a] - Xt[:, b]
    d = np.sqrt(np.einsum("nj,nj->j", diff, diff))
    low = d <= delta
    return np.where(low, delta, d), int(np.count_nonzero(low))


def _slopes(t, y, a, b):
    """Least-squares slopes of y against t over ``[a, b)`` for arrays of window bounds."""
    c = [np.concatenate([[0.0], np.cumsum(v)]) for v in (np.ones_like(t), t, y, t * t, t * y)]
    n, st, sy, stt, sty = (s[b] - s[a] for s in c)
    return (n * sty - st * sy) / (n * stt - st * st)


def _linear_region(times, y):
    """The automatic fit range (see :func:`lyapunov_from_series`, Notes).

    Returns ``(i0, i1, rise)``; ``rise`` is -inf when no window passes the test."""
    top = int(np.argmax(y >= y[0] + _SATURATION * (y.max() - y[0])))
    n = top + 1  # windows lie in y[0:n]
    grid = np.unique(np.linspace(0, n - 1, min(n, _GRID)).round().astype(int))
    a, b = np.meshgrid(grid, grid + 1, indexing="ij")
    a, b = a.ravel(), b.ravel()
    m = (a + b) // 2
    # Each half has >= 2 points (the whole >= 4), and no window starts at i = 0: y(0)
    # averages the distances that the neighbour search minimised (with noise: the pair
    # whose noise happened to bring it closest), so it lies below the curve's trend.
    keep = (a >= 1) & (m - a >= 2) & (b - m >= 2)
    a, b, m = a[keep], b[keep], m[keep]
    if a.size == 0:
        return 0, max(n, 2), -np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        s, s1, s2 = _slopes(times, y, a, b), _slopes(times, y, a, m + 1), _slopes(times, y, m, b)
    good = (s > 0) & (np.abs(s1 - s2) <= LINEAR_TOLERANCE * s)
    if not good.any():
        return 0, max(n, 2), -np.inf
    rise = np.where(good, s * (times[b - 1] - times[a]), -np.inf)
    j = int(np.argmax(rise))
    return int(a[j]), int(b[j]), float(rise[j])


def _divergence_curve(method, X, W, K, delta, ref, radius):
    """The curve y(i), i = 0..K, its pair count and tie and censoring counts."""
    n_ref = X.shape[0] - K  # pairs must be followable for K steps
    Xt = np.ascontiguousarray(X.T)  # gathering along a contiguous 1-D row is fastest
    if method == "rosenstein":
        nbr, tied = _nearest_distant_neighbours(X[:n_ref], W, delta)
        keep = ref[nbr[ref] >= 0]
        a, b = keep, nbr[keep]
        tied_fraction = float(np.mean(tied[ref])) if ref.size else 0.0
        groups = None
    else:
        rows, nbrs, n_tied, n_all = _neighbours_within(X[:n_ref], W, delta, radius,
                                                       KANTZ_MAX_NEIGHBOURS)  # fmt: skip
        sel = np.zeros(n_ref, dtype=bool)
        sel[ref] = True
        pick = sel[rows]
        a, b = rows[pick], nbrs[pick]
        tied_fraction = n_tied / n_all if n_all else 0.0
        keep, groups = np.unique(a, return_inverse=True)
        counts = np.bincount(groups).astype(float)
    if keep.size == 0:
        raise ValueError(
            f"no reference point has an admissible neighbour (more than min_separation={W} "
            f"samples away, farther than the resolution {delta:.3g}"
            + (f", within radius {radius:.3g})" if method == "kantz" else ")")
        )
    y = np.empty(K + 1)
    n_low = 0
    for i in range(K + 1):
        d, low = _pair_distances(Xt, a + i, b + i, delta)
        n_low += low
        if groups is None:
            y[i] = np.mean(np.log(d))
        else:
            y[i] = np.mean(np.log(np.bincount(groups, weights=d) / counts))
    return y, int(keep.size), tied_fraction, n_low / (a.size * (K + 1))


def _fit(method, times, y, fit_range, K):
    """Fit range, slope and intercept, whether the range is a clear linear region, and
    whether the curve starts at a noise floor."""
    if fit_range is None:
        i0, i1, rise = _linear_region(times, y)
        if not np.isfinite(rise):
            raise ValueError(
                f"X's {method} divergence curve has no straight stretch at all (no window of "
                f">= 4 points whose two halves have slopes within {LINEAR_TOLERANCE:.0%} of "
                f"each other): the separation of neighbours does not grow exponentially (not "
                f"chaotic, or noise dominates), so there is nothing to fit. To fit a range "
                f"anyway and see the curve, pass fit_range=(i0, i1)"
            )
        slope = np.polyfit(times[i0:i1], y[i0:i1], 1)[0]
        jump = y[1] - y[0] - slope * (times[1] - times[0])
        noisy = jump > NOISE_JUMP
        linear = rise >= (NOISY_MIN_RISE if noisy else MIN_LINEAR_RISE)
        if not linear and noisy:
            warnings.warn(
                f"lyapunov_from_series ({method}): the divergence curve has no clear linear "
                f"region above its noise floor: its first step rises {jump:.2f} nats more than "
                f"the fitted slope (> {NOISE_JUMP:g}; measurement noise puts neighbours closer "
                f"than the noise level), and its straight stretch behind it rises by only "
                f"{rise:.2f} nats "
                f"(< {NOISY_MIN_RISE:g}). Noise bends the curve below its slope, so "
                f"lambda_max is probably too low (by 20-30 % on the Hénon map with 5 % "
                f"noise). Use a longer or less noisy series, try method='kantz' with a "
                f"larger radius, and plot result.divergence against result.times",
                UserWarning,
                stacklevel=3,
            )
        elif not linear:
            warnings.warn(
                f"lyapunov_from_series ({method}): the divergence curve has no clear linear "
                f"region: its straightest stretch (slopes of the two halves within "
                f"{LINEAR_TOLERANCE:.0%}) rises by only {rise:.2f} nats (< {MIN_LINEAR_RISE:g}). "
                f"The separation of neighbours does not grow exponentially over a clear range "
                f"(noise, too short a series, too coarse a sampling, or no chaos), so "
                f"lambda_max is unreliable; plot result.divergence against result.times and "
                f"pass fit_range if a linear part is visible",
                UserWarning,
                stacklevel=3,
            )
    else:
        if not (isinstance(fit_range, (tuple, list)) and len(fit_range) == 2):
            raise TypeError(f"fit_range must be a pair of ints (i0, i1), got {fit_range!r:.60}")
        i0, i1 = (as_positive_int("fit_range", v, minimum=0) for v in fit_range)
        if not 0 <= i0 < i1 <= K + 1 or i1 - i0 < 2:
            raise ValueError(
                f"fit_range must satisfy 0 <= i0, i0 + 2 <= i1 <= n_steps + 1 = {K + 1} (at "
                f"least 2 points), got {fit_range}"
            )
        linear = True
    slope, intercept = np.polyfit(times[i0:i1], y[i0:i1], 1)
    # The pair was chosen at its smallest observed distance, so noise shows as a first
    # step far steeper than the slope: one step later the pair is as far apart as the
    # noise. The bias it leaves reaches beyond the first step (the curve bends up into
    # its slope from the floor), so the fitted slope is probably low.
    # Only for the automatic fit: a range passed in may lie anywhere on the curve (even
    # on its plateau), where its slope says nothing about the first step.
    step = slope * (times[1] - times[0])
    jump = y[1] - y[0]
    noise_floor = bool(
        fit_range is None
        and step > 0
        and jump > NOISE_STEP_RATIO * step
        and jump - step > NOISE_MIN_EXCESS
    )
    ratio = jump / step if step > 0 else np.inf
    if noise_floor and linear:  # a curve without a clear linear region has warned already
        warnings.warn(
            f"lyapunov_from_series ({method}): the divergence curve starts at a noise floor: "
            f"its first step rises {ratio:.1f} times the fitted rise per step (> "
            f"{NOISE_STEP_RATIO:g}; measurement noise puts neighbours closer than the noise "
            f"level). lambda_max is probably biased low (with 1 % noise: 5-21 % low for "
            f"Rosenstein's method, 0-16 % for Kantz's on the benchmark series). Prefer "
            f"method='kantz' (or 'both'), a larger radius, or less noisy data, and plot "
            f"result.divergence against result.times",
            UserWarning,
            stacklevel=3,
        )
    return (i0, i1), float(slope), float(intercept), bool(linear), noise_floor


def _check_series(X):
    if isinstance(X, np.ndarray) and X.dtype.kind in "iu":
        X = X.astype(np.float64)  # integer data, e.g. an ADC's counts: distances need floats
    X = as_float_array("X", X)
    if X.ndim == 1:
        raise ValueError(
            f"X has shape {X.shape}, a scalar series: embed it first, e.g. "
            f"refrnn.delay_embed(x, dim, lag) with lag = refrnn.embedding.choose_lag(x).lag "
            f"and dim = refrnn.embedding.choose_dim(x, lag).dim (or pass x[:, None] if the "
            f"state itself is one number, as for the logistic map)"
        )
    X = as_series("X", X, min_samples=10)
    if np.all(np.ptp(X, axis=0) == 0):
        raise ValueError("X is constant: its neighbours never separate")
    return X


def lyapunov_from_series(X, dt=1.0, *, method="rosenstein", n_steps=None, min_separation=None,
                         fit_range=None, radius=None, resolution="auto", max_points=None,
                         rng=0):  # fmt: skip
    r"""Largest Lyapunov exponent of a measured series, by the methods of Rosenstein, Collins
    & De Luca (1993) and of Kantz (1994).

    Parameters
    ----------
    X : ndarray, shape (T, N)
        The series, a full state or a delay embedding. A scalar series, shape (T,), must
        be embedded first (:func:`refrnn.delay_embed`, with the lag and dimension from
        :func:`refrnn.embedding.choose_lag` and :func:`refrnn.embedding.choose_dim`).
        Units do not matter (the methods use log ratios); integer data are converted to
        float64.
    dt : float
        Time between samples; the exponent is returned per this unit of time.
    method : {"rosenstein", "kantz", "both"}
        Which estimator (see Notes); ``"both"`` returns both, computed with the same
        settings.
    n_steps : int, optional
        K >= 3, how many steps neighbouring trajectories are followed. Default
        ``min(max(10 W, 40), T // 4)``: long enough for the divergence curve to saturate
        at the attractor's size for the benchmark flows and maps.
    min_separation : int, optional
        W >= 0, minimum temporal separation of neighbours in samples (the Theiler window).
        Default: the mean period (:func:`mean_period`, rounded up), as recommended by
        Rosenstein et al.
    fit_range : (int, int), optional
        ``(i0, i1)``: the slope is fitted to the curve at ``i0 <= i < i1``. Default: the
        automatic choice of Notes.
    radius : float, optional
        Kantz's neighbourhood radius :math:`\varepsilon` > 0 (in the units of X). Default
        :data:`KANTZ_RADIUS_FACTOR` (2) times the median distance of the reference points
        to their nearest admissible neighbour (Rosenstein's pairs).
    resolution : float or "auto"
        :math:`\delta > 0`: distances :math:`\le \delta` cannot be resolved by the data.
        Default ``"auto"``: :func:`series_resolution` (a fraction of the quantisation step
        of quantised data; negligible for continuous data).
    max_points : int, optional
        Use at most this many reference points (chosen at random with ``rng``); neighbours
        are still searched among all points. Default: all.
    rng : numpy.random.Generator, int or None
        Only used with ``max_points``.

    Returns
    -------
    DivergenceResult or LyapunovEstimates
        :math:`\lambda_{\max}`, the divergence curve, the fit range and intercept, whether
        the range is clearly linear, and the tie fractions; with ``method="both"`` one of
        each, as :class:`LyapunovEstimates`.

    Raises
    ------
    ValueError
        For a scalar series (embed it first), a constant one, too few samples for
        ``n_steps`` and ``min_separation``, or out-of-range arguments; and, with the
        automatic fit range, when the divergence curve has no straight stretch at all
        (white noise, a 1-D state buried in noise, a periodic series).

    Warns
    -----
    UserWarning
        * When the divergence curve has no clear linear region (its straight stretch rises
          by less than 1.5 nats, or 2 nats above a noise floor; Notes): the estimate is
          then unreliable; ``result.linear`` is False.
        * When distances at or below the resolution occurred (quantised data, repeated
          values), with the fractions of neighbours and of distances affected.

    Notes
    -----
    **Rosenstein's method.** For each reference point :math:`x_j` (:math:`j < T - K`) find
    its nearest neighbour :math:`x_{\hat j}` (Euclidean, :class:`scipy.spatial.cKDTree`)
    among the points with :math:`|j - \hat j| > W`, so that the pair starts on different
    passes through the same region rather than on one trajectory. Follow both:

    .. math:: d_j(i) = \lVert x_{j+i} - x_{\hat j+i} \rVert, \qquad
              y(i) = \frac{1}{|\mathcal J|} \sum_{j \in \mathcal J} \ln d_j(i),
              \qquad i = 0..K.

    **Kantz's method.** Average over every admissible neighbour within the radius
    :math:`\varepsilon` (the :data:`KANTZ_MAX_NEIGHBOURS` = 20 nearest, to bound the
    cost), inside the logarithm:

    .. math:: S(i) = \frac{1}{|\mathcal J|} \sum_{j \in \mathcal J} \ln\Bigl(
              \frac{1}{|\mathcal U_j|} \sum_{k \in \mathcal U_j}
              \lVert x_{j+i} - x_{k+i} \rVert \Bigr),\qquad
              \mathcal U_j = \{k : |j - k| > W,\ \lVert x_j - x_k \rVert \le \varepsilon\},

    with :math:`\mathcal J` the reference points with a non-empty :math:`\mathcal U_j`.
    Averaging the distances before the logarithm makes :math:`S` less sensitive to noise
    than :math:`y` (Kantz 1994; Kantz & Schreiber 2004, Sect. 5.3). :math:`\varepsilon`
    should be small against the attractor but larger than the noise. With the default,
    twice the median nearest-neighbour distance, the series of
    ``docs/results/lyapunov_from_series.md`` had 2-4 neighbours per reference point on
    average (10-20 for the maps at 8 bits), and 10-30 % of the reference points had none
    and were left out (``n_pairs`` counts those kept).

    While the separation is small, it grows like :math:`e^{\lambda_{\max} i \Delta t}`,
    so both curves rise linearly with slope :math:`\lambda_{\max}` until they saturate at
    the attractor's size; :math:`\lambda_{\max}` is the least-squares slope against
    :math:`i\,\Delta t` over the fit range.

    **Ties and the resolution** :math:`\delta`. Quantised data repeat values, so
    neighbours can coincide. One rule for both methods: a distance :math:`\le\delta`
    carries no information beyond "below the resolution". (1) Neighbours are chosen
    among the points farther than :math:`\delta` from the reference point (a tied nearest
    neighbour is passed over for the nearest resolved one), so no pair starts at distance
    0; (2) along the way, every distance :math:`\le\delta` counts as :math:`\delta`, so
    the average is always over the same pairs (dropping the zeros of a step instead
    would average over a changing set of pairs, leaving out exactly the closest ones,
    and bias the curve upwards). A warning gives both fractions (``tied_fraction``,
    ``censored_fraction``). Among equidistant candidates (the lattice of quantised
    data), the earliest in time is taken, so the result does not depend on the k-d
    tree's internal order.

    **Automatic fit range.** Among the windows ``[i0, i1)`` of at least 4 points (ends
    on a grid of at most 150 points) that end before the curve has covered 80 % of its
    rise from :math:`y(0)` to its plateau :math:`\max_i y(i)`, keep those with a positive
    slope whose two halves have least-squares slopes within :data:`LINEAR_TOLERANCE`
    (20 %) of the window's slope -- straight stretches -- and take the one over which the
    fitted line rises most (slope times duration): the longest straight stretch of
    exponential growth, which skips the first steps (the separation turning into the
    most unstable direction, or a jump at the noise level) and the bend into saturation.
    **No clear linear region**, with a warning and ``linear=False``, when that rise is
    below :data:`MIN_LINEAR_RISE` (1.5 nats: the separation grows by less than a factor
    4.5 along a straight line), or below :data:`NOISY_MIN_RISE` (2 nats) when the curve
    starts at a noise floor (its first step rises more than :data:`NOISE_JUMP`, 1 nat,
    beyond the fitted slope: noisy neighbours are as far apart as the noise one step
    after they were found; noise bends the curve below its slope from there, so a short
    stretch is biased low); a ``ValueError`` when no window is straight at all (there
    is nothing to fit; pass ``fit_range`` to fit anyway). **Noise floor**, with
    ``noise_floor=True`` and a warning (unless the no-clear-linear-region warning has
    already been given), for the automatic fit range only: the first step rises by more
    than :data:`NOISE_STEP_RATIO` (3.5) times the fitted rise per step, and by more than
    :data:`NOISE_MIN_EXCESS` (0.1 nats) beyond it. A pair
    is found at its smallest observed distance, so measurement noise shows as a first
    step far steeper than the slope, and the curve bends up into its slope from that
    floor: the estimate is probably low even where the linear region is clear (1 %
    noise, below). Always look at the curve (``result.divergence`` against
    ``result.times``).

    **Measured accuracy** (``docs/results/lyapunov_from_series.md``, 5 seeds; Hénon and
    logistic maps, Lorenz-63 state and delay-embedded x, 3000-5000 samples): Kantz's
    method is within 15 % of the true exponent clean, with 1 % noise and at 8 bits (worst
    run -16 %, Hénon with noise, flagged as a noise floor); Rosenstein's within 15 % clean
    and at 8 bits on the maps and the embedded flow, 11 % (clean) and 15 % (8 bits) low at
    the median on the 5000-sample Lorenz state (7-8 % with 20 000 samples: a finite-sample
    bias of the curve itself), and 10-21 % low with 1 % noise on the Hénon and Lorenz
    states, where every run warned of the noise floor. Noise biases both down. With 5 %
    and 10 % noise every run warned that there is no clear linear region.

    References: M. T. Rosenstein, J. J. Collins, C. J. De Luca, Physica D 65, 117 (1993);
    H. Kantz, Phys. Lett. A 185, 77 (1994); H. Kantz, T. Schreiber, *Nonlinear Time Series
    Analysis*, 2nd ed., Cambridge (2004), Sect. 5.3.

    Examples
    --------
    A scalar measurement is embedded first; ``"both"`` reports both estimates:

    >>> import refrnn
    >>> x = refrnn.generate("lorenz63", 5000, sample_every=5, rng=0).train[:, 0]
    >>> est = lyapunov_from_series(refrnn.delay_embed(x, 3, 3), dt=0.05, method="both")
    >>> 0.75 < est.rosenstein.lambda_max < 1.05 and 0.75 < est.kantz.lambda_max < 1.05
    True
    """
    X = _check_series(X)
    dt = as_real("dt", dt)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt}")
    if not (isinstance(method, str) and method in (*_METHODS, "both")):
        raise ValueError(f"method must be 'rosenstein', 'kantz' or 'both', got {method!r:.60}")
    T = X.shape[0]
    if min_separation is None:
        with np.errstate(over="ignore", invalid="ignore"):  # checked right below
            period = mean_period(X)
        if not np.isfinite(period):  # the periodogram overflowed (|X| ~ 1e154 and beyond)
            raise ValueError(
                f"X has no finite mean period (largest |X| = {np.max(np.abs(X)):.3g}: its power "
                f"spectrum overflows); standardise X or pass min_separation"
            )
        W = int(np.ceil(period))
    else:
        W = as_positive_int("min_separation", min_separation, minimum=0)
    if n_steps is None:
        K = min(max(10 * W, 40), T // 4)
    else:
        K = as_positive_int("n_steps", n_steps, minimum=3)
    n_ref = T - K
    if K < 3 or n_ref <= 2 * W + 1:
        raise ValueError(
            f"X has {T} samples: too few for n_steps={K} and min_separation={W} "
            f"(need n_steps >= 3 and T - n_steps > 2 min_separation + 1)"
        )
    if isinstance(resolution, str) and resolution == "auto":
        delta = series_resolution(X[:n_ref])
    else:
        delta = as_real("resolution", resolution)
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f'resolution must be a finite number > 0 or "auto", got {delta}')
    if radius is not None:
        radius = as_real("radius", radius)
        if not (np.isfinite(radius) and radius > 0):
            raise ValueError(f"radius must be a finite number > 0, got {radius}")
    ref = np.arange(n_ref)
    if max_points is not None:
        max_points = as_positive_int("max_points", max_points)
        if max_points < n_ref:
            ref = np.sort(as_rng(rng).choice(n_ref, size=max_points, replace=False))
    times = dt * np.arange(K + 1)

    results = {}
    for m in _METHODS if method == "both" else (method,):
        eps = np.nan
        if m == "kantz":
            eps = radius if radius is not None else _default_radius(X[:n_ref], W, delta, ref)
        y, n_pairs, tied, censored = _divergence_curve(m, X, W, K, delta, ref, eps)
        if tied > 0 or censored > 0:
            warnings.warn(
                f"lyapunov_from_series ({m}): {tied:.1%} of the "
                + ("nearest neighbours" if m == "rosenstein" else "neighbours within the radius")
                + f" lay within the resolution {delta:.3g} of their reference point (ties, "
                f"e.g. of quantised data) and were passed over for farther ones; "
                f"{censored:.1%} of the distances followed were <= {delta:.3g} and counted as "
                f"{delta:.3g}",
                UserWarning,
                stacklevel=2,
            )
        rng_fit, slope, intercept, linear, noise_floor = _fit(m, times, y, fit_range, K)
        results[m] = DivergenceResult(
            lambda_max=slope, method=m, times=times, divergence=y, fit_range=rng_fit,
            intercept=intercept, linear=linear, min_separation=W, n_pairs=n_pairs,
            resolution=delta, radius=float(eps), tied_fraction=float(tied),
            censored_fraction=float(censored), noise_floor=noise_floor,
        )  # fmt: skip
    if method == "both":
        return LyapunovEstimates(results["rosenstein"], results["kantz"])
    return results[method]


def _default_radius(Y, W, delta, ref):
    """:data:`KANTZ_RADIUS_FACTOR` times the median nearest-neighbour distance of ``ref``."""
    nbr, _ = _nearest_distant_neighbours(Y, W, delta)
    ok = ref[nbr[ref] >= 0]
    if ok.size == 0:
        raise ValueError(
            f"no reference point has an admissible neighbour (more than min_separation={W} "
            f"samples away, farther than the resolution {delta:.3g})"
        )
    return KANTZ_RADIUS_FACTOR * float(np.median(np.linalg.norm(Y[ok] - Y[nbr[ok]], axis=1)))
