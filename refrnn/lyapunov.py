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
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numba import njit

from . import _kernels
from ._validation import DivergenceError, as_float_array, as_positive_int, as_rng
from .jacobians import advance, check_system, matmul_into, qr_positive

__all__ = [
    "LyapunovSpectrum",
    "lyapunov_spectrum",
    "kaplan_yorke_dimension",
    "predictability_time",
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


def lyapunov_spectrum(system, x0=None, n_steps=100_000, *, transient=10_000,
                      tangent_transient=1_000, k=None, reortho_every=1, n_blocks=None,
                      initial_frame=None, rng=None):  # fmt: skip
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

    Notes
    -----
    With :math:`Q_0` the initial frame and :math:`J_t Q_{t-1} = Q_t R_t` (Householder
    QR, :func:`refrnn.jacobians.qr_positive`), the estimate is

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

    block_end = (np.arange(1, n_blocks + 1, dtype=np.int64) * n_steps) // n_blocks
    block_logs = np.zeros((n_blocks, k))
    code, step = _lyapunov_kernel(
        system._kind, system._theta, dim, x, Q, transient, tangent_transient, n_steps,
        reortho_every, block_end, block_logs,
        np.empty((dim, dim)), np.empty((dim, k)), np.empty((dim, k)), np.empty((k, k)),
        np.empty(k), np.empty(k), np.empty(dim),
        np.empty(_kernels.work_size(system._kind, dim)),
    )  # fmt: skip
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
