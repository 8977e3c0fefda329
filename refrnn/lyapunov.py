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
largest exponent by the method of Rosenstein, Collins & De Luca (1993).
"""

from __future__ import annotations

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
from ._linalg import matmul_into, qr_positive
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
    "RosensteinResult",
    "mean_period",
    "lyapunov_from_series",
]


@njit(cache=True)
def _lyapunov_kernel(kind, theta, dim, x, Q, n_transient, n_frame, n_steps, reortho_every,
                     block_end, block_logs, J, Y, Ytmp, R, tau, w, xn, work):  # fmt: skip
    r"""The QR iteration. Everything is preallocated by the caller.

    Parameters
    ----------
    kind, theta, dim : int, ndarray (P,), int
        The map, as in :mod:`refrnn._kernels`.
    x : ndarray, shape (dim,)
        Initial state (overwritten: ends as the final state).
    Q : ndarray, shape (dim, k)
        Initial orthonormal frame (overwritten: ends as the final frame).
    n_transient, n_frame, n_steps : int
        Steps of the state transient (no tangents), of the frame transient (tangents
        evolved, logs discarded) and measured steps.
    reortho_every : int
        Multiply this many Jacobians into the frame between QR factorisations.
    block_end : ndarray of int, shape (n_blocks,)
        Cumulative measured steps at which each block ends (the last equals ``n_steps``).
        A QR is forced there so that no factor straddles two blocks.
    block_logs : ndarray, shape (n_blocks, k)
        Output, zero on entry: per block, :math:`\sum \log R_{ii}`.
    J, Y, Ytmp, R, tau, w, xn, work : ndarray
        Scratch of shapes (dim, dim), (dim, k), (dim, k), (k, k), (k,), (k,), (dim,) and
        (``work_size``,).

    Returns
    -------
    code, step : int, int
        ``(0, 0)`` on success; ``(1, t)`` if the state became non-finite at step ``t``,
        ``(2, t)`` if the tangent frame did (counting steps from ``x0``, transients
        included).
    """
    k = Q.shape[1]
    for t in range(n_transient):
        if not advance(kind, theta, dim, x, xn, work):
            return 1, t + 1

    since_qr = 0  # Jacobians multiplied into Y since the last QR
    b = 0  # current block
    for t in range(n_frame + n_steps):
        _kernels.map_jacobian(kind, theta, dim, x, J, work)
        if since_qr == 0:
            matmul_into(J, Q, Y)
        else:
            matmul_into(J, Y, Ytmp)
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
            if not qr_positive(Y, Q, R, tau, w):
                return 2, n_transient + t + 1
            for i in range(k):
                # R_ii >= 0; +inf or NaN means the frame overflowed (R_ii = 0 is an
                # exactly singular Jacobian: log = -inf is the right exponent).
                if not R[i, i] < np.inf:
                    return 2, n_transient + t + 1
            if measured > 0:
                for i in range(k):
                    block_logs[b, i] += math.log(R[i, i]) if R[i, i] > 0.0 else -np.inf
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


def _initial_frame(frame, rng, dim, k):
    if frame is None:
        # Draw (dim, dim) and keep the first k columns, so that a run with k < dim starts
        # from the leading columns of the full run's frame (and reproduces its first k
        # exponents to round-off). A random frame, not the identity: coordinate axes can
        # lie in invariant subspaces (e.g. a PLRNN with W = 0), which would hide the
        # leading exponents from a partial frame.
        frame = rng.standard_normal((dim, dim))[:, :k]
    else:
        frame = as_float_array("initial_frame", frame, shape=(dim, k))
    Y = np.array(frame, dtype=np.float64, order="C")
    Q, R = np.empty((dim, k)), np.empty((k, k))
    qr_positive(Y, Q, R, np.empty(k), np.empty(k))
    d = np.abs(np.diag(R))
    if not d.min() > 1e-12 * d.max():
        raise ValueError("initial_frame must have full column rank")
    return Q


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
    flops). A tangent step also builds the Jacobian (dim^2 entries), multiplies it into
    the (dim, k) frame (2 dim^2 k) and, every ``reortho_every`` steps, factorises the
    frame by Householder QR and forms Q (about 4 dim k^2).
    """
    state = 2.0 * dim * dim
    tangent = state + dim * dim + 2.0 * dim * dim * k + 4.0 * dim * k * k / reortho_every
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
    between steps is the orbit point ``x``, the frame ``Q`` and the running block sums
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
    :math:`4\,\text{dim}\,k^2`; so a full spectrum (:math:`k = \text{dim}`) costs
    :math:`\approx 6\,\text{dim}^3` flops per step, and ``PLRNN.random(M=5000)`` with
    the default 111,000 steps would take months (a year by the estimate). The estimate (a rate of
    2 GFlop/s, measured, and erring long) is stated in the warning; shorten the run with a
    smaller ``n_steps`` (the standard error shrinks only like :math:`1/\sqrt{T}`), fewer
    exponents ``k`` (the leading ones are those of the full run) or a larger
    ``reortho_every``. Memory: :math:`8(\text{dim}^2 + 3\,\text{dim}\,k + k^2)` bytes of
    scratch plus :math:`8\,n_{blocks} k` for the block sums and the system's own; nothing
    grows with ``n_steps``.

    With :math:`Q_0` the initial frame and :math:`J_t Q_{t-1} = Q_t R_t` (Householder
    QR, :func:`refrnn._linalg.qr_positive`), the estimate is

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
    Q = _initial_frame(initial_frame, rng, dim, k)
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
    scratch = (
        np.empty((dim, dim)), np.empty((dim, k)), np.empty((dim, k)), np.empty((k, k)),
        np.empty(k), np.empty(k), np.empty(dim), work,
    )  # fmt: skip
    total = transient + tangent_transient + n_steps
    if progress:
        # chunks of about _CHUNK_SECONDS of estimated work (>= 1 step)
        chunks = (max(1, int(_CHUNK_SECONDS / state_s)), max(1, int(_CHUNK_SECONDS / tangent_s)))
        with tqdm(total=total, unit="step", desc="lyapunov_spectrum") as bar:
            code, step = _run_kernel(system, dim, x, Q, transient, tangent_transient, n_steps,
                                     reortho_every, block_end, block_logs, scratch, chunks,
                                     bar)  # fmt: skip
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
# largest Lyapunov exponent from a series (Rosenstein et al. 1993)
class RosensteinResult(NamedTuple):
    """Result of :func:`lyapunov_from_series`.

    Attributes
    ----------
    lambda_max : float
        Largest Lyapunov exponent per unit time (per sample if ``dt = 1``).
    times : ndarray, shape (K+1,)
        :math:`i\\,\\Delta t` for :math:`i = 0..K`.
    divergence : ndarray, shape (K+1,)
        Mean log distance :math:`y(i)` of the neighbour pairs after i steps.
    fit_range : tuple of int
        ``(i0, i1)``: the slope was fitted to ``divergence[i0:i1]`` against ``times[i0:i1]``.
    intercept : float
        Intercept of the fitted line (for plotting ``intercept + lambda_max * times``).
    min_separation : int
        Minimum temporal separation of neighbours, in samples.
    n_pairs : int
        Number of reference points (each with its nearest neighbour).
    """

    lambda_max: float
    times: np.ndarray
    divergence: np.ndarray
    fit_range: tuple
    intercept: float
    min_separation: int
    n_pairs: int

    def __repr__(self):  # the estimate and how it was fitted, not the curves
        return (
            f"RosensteinResult(lambda_max={self.lambda_max:.5g}, fit_range={self.fit_range}, "
            f"n_pairs={self.n_pairs}, min_separation={self.min_separation})"
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


def _nearest_distant_neighbours(Y, min_sep):
    """Index of each row's nearest neighbour among rows more than ``min_sep`` steps away.

    Query k nearest neighbours and keep the first that is far enough in time; rows whose
    k candidates all lie inside the excluded window are queried again with twice as many.
    At most ``2 min_sep + 1`` rows (the row itself and its temporal neighbours) can be
    excluded, so ``k = 2 min_sep + 2`` always succeeds.
    """
    n = Y.shape[0]
    tree = cKDTree(Y)
    nbr = np.full(n, -1)
    todo = np.arange(n)
    k = 8
    while todo.size:
        k = min(k, 2 * min_sep + 2, n)
        _, idx = tree.query(Y[todo], k=k)
        idx = idx.reshape(len(todo), k)
        ok = np.abs(idx - todo[:, None]) > min_sep
        found = ok.any(axis=1)
        first = np.argmax(ok, axis=1)
        nbr[todo[found]] = idx[found, first[found]]
        if k >= 2 * min_sep + 2 or k == n:
            break
        todo = todo[~found]
        k *= 2
    return nbr


def lyapunov_from_series(
    X, dt=1.0, *, n_steps=None, min_separation=None, fit_range=None, max_points=None, rng=0
):
    r"""Largest Lyapunov exponent of a measured series (Rosenstein, Collins & De Luca 1993).

    Parameters
    ----------
    X : ndarray, shape (T, N)
        The series, a full state or a delay embedding (see :func:`refrnn.delay_embed`); a 1-D
        series should be embedded first. Units do not matter (the method uses log ratios).
    dt : float
        Time between samples; the exponent is returned per this unit of time.
    n_steps : int, optional
        K, how many steps each neighbour pair is followed. Default
        ``min(10 * min_separation, T // 4)``: long enough for the divergence curve to
        saturate at the attractor's size for the benchmark flows.
    min_separation : int, optional
        W, minimum temporal separation of neighbours in samples. Default: the mean period
        (:func:`mean_period`, rounded up), as recommended by Rosenstein et al.
    fit_range : (int, int), optional
        ``(i0, i1)``: the slope is fitted to :math:`y(i)` for ``i0 <= i < i1``. Default:
        see Notes.
    max_points : int, optional
        Use at most this many reference points (chosen at random with ``rng``); neighbours
        are still searched among all points. Default: all.
    rng : numpy.random.Generator, int or None
        Only used with ``max_points``.

    Returns
    -------
    RosensteinResult
        :math:`\lambda_{max}`, the curve :math:`y(i)`, the fit range and intercept.

    Notes
    -----
    For each reference point :math:`x_j` (:math:`j < T - K`) find its nearest neighbour
    :math:`x_{\hat j}` (Euclidean, :class:`scipy.spatial.cKDTree`) among the points with
    :math:`|j - \hat j| > W`, so that the pair starts on different passes through the same
    region rather than on one trajectory. Follow both for :math:`i = 0..K` steps:

    .. math:: d_j(i) = \lVert x_{j+i} - x_{\hat j+i} \rVert, \qquad
              y(i) = \frac{1}{|\mathcal J|} \sum_{j \in \mathcal J} \ln d_j(i),

    (pairs with :math:`d_j(i) = 0`, identical samples, are left out of that step's mean).
    While the separation is small, :math:`d_j(i) \approx d_j(0)\,e^{\lambda_{max} i\Delta t}`,
    so :math:`y(i)` rises linearly with slope :math:`\lambda_{max}` until it saturates at the
    attractor's size. :math:`\lambda_{max}` is the least-squares slope of :math:`y(i)` against
    :math:`i\,\Delta t` over the fit range.

    Default fit range: with :math:`y_0 = y(0)` and the plateau
    :math:`y_\infty = \max_i y(i)`, fit from the first step where :math:`y` exceeds
    :math:`y_0 + 0.1 (y_\infty - y_0)` to the first step where it exceeds
    :math:`y_0 + 0.5 (y_\infty - y_0)`. The lower cut skips the first steps, in which the
    separation turns into the most unstable direction; the upper cut stays clear of the
    saturation, where the curve bends. Both are heuristics: always look at the curve
    (``result.divergence`` against ``result.times``) and pass ``fit_range`` when the linear
    part is elsewhere.
    """
    X = as_series("X", X, min_samples=10)
    dt = as_real("dt", dt)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt}")
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
    K = min(10 * W, T // 4) if n_steps is None else as_positive_int("n_steps", n_steps)
    n_ref = T - K
    if n_ref <= 2 * W + 1:
        raise ValueError(
            f"X has {T} samples: too few for n_steps={K} and min_separation={W} "
            f"(need T - n_steps > 2 min_separation + 1)"
        )

    # Pairs must be followable for K steps, so both members come from the first T - K rows.
    nbr = _nearest_distant_neighbours(X[:n_ref], W)
    ref = np.arange(n_ref)
    if max_points is not None:
        max_points = as_positive_int("max_points", max_points)
        if max_points < n_ref:
            ref = np.sort(as_rng(rng).choice(n_ref, size=max_points, replace=False))
    nbr = nbr[ref]

    y = np.empty(K + 1)
    Xt = np.ascontiguousarray(X.T)  # gathering along a contiguous 1-D row is fastest
    for i in range(K + 1):
        diff = Xt[:, ref + i] - Xt[:, nbr + i]
        d = np.sqrt(np.einsum("nj,nj->j", diff, diff))
        d = d[d > 0]
        if d.size == 0:
            raise ValueError(f"every neighbour pair coincides after {i} steps; X repeats exactly")
        y[i] = np.mean(np.log(d))
    times = dt * np.arange(K + 1)

    if fit_range is None:
        y0, y_inf = y[0], y.max()
        i0 = int(np.argmax(y >= y0 + 0.1 * (y_inf - y0)))
        i1 = int(np.argmax(y >= y0 + 0.5 * (y_inf - y0))) + 1
    else:
        if not (isinstance(fit_range, (tuple, list)) and len(fit_range) == 2):
            raise TypeError(f"fit_range must be a pair of ints (i0, i1), got {fit_range!r:.60}")
        i0, i1 = (as_positive_int("fit_range", v, minimum=0) for v in fit_range)
        if not 0 <= i0 < i1 <= K + 1:
            raise ValueError(f"fit_range must satisfy 0 <= i0 < i1 <= n_steps + 1, got {fit_range}")
    if i1 - i0 < 2:
        raise ValueError(
            f"the fit range ({i0}, {i1}) holds fewer than 2 points: the divergence curve "
            f"rises by only {y.max() - y[0]:.3g} in {K} steps (a non-chaotic series?); "
            "inspect it and pass fit_range or a longer n_steps"
        )
    slope, intercept = np.polyfit(times[i0:i1], y[i0:i1], 1)
    return RosensteinResult(float(slope), times, y, (i0, i1), float(intercept), W, len(ref))
