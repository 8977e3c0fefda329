r"""Products of Jacobians along orbits: their norms and finite-time Lyapunov exponents.

The gradients of BPTT contain the products (Mikhaeil, Monfared & Durstewitz 2022, eq. 3)

.. math::

    P_t = \frac{\partial x_t}{\partial x_0} = J_t J_{t-1} \cdots J_1,
    \qquad J_t = DF(x_{t-1}),

whose norms grow like :math:`e^{\lambda_{\max} t}` on a chaotic attractor (their Theorem 2)
and decay on a stable fixed point or cycle (Theorem 1). This module measures them for
anything that follows the map protocol of :mod:`refrnn.dynamics` (refrnn's models and
the reference systems of :mod:`refrnn.systems`):

* :func:`log_jacobian_product_norms` -- :math:`\log\|P_t\|_2` for every :math:`t = 1..T`,
  with the product kept at unit Frobenius norm and its scale carried as a logarithm, so
  that :math:`T = 10^5` steps of an expanding map do not overflow.
* :func:`finite_time_lyapunov_exponents` --
  :math:`\Lambda_i = \frac{1}{T\,\Delta t}\log\sigma_i(P_T)`, all of them, including the
  smallest, which an SVD of the directly multiplied product loses as soon as
  :math:`\sigma_1/\sigma_n` exceeds :math:`1/\epsilon_{\text{mach}} \approx 10^{16}`.

Both functions also come in an ``*_along`` form that evaluates the Jacobians at given
states (a teacher-forced trajectory, say) instead of iterating the map.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import _kernels
from ._kernels import advance
from ._linalg import matmul_into, qr_positive, spectral_norms
from ._validation import DivergenceError, as_float_array, as_positive_int
from .dynamics import check_system, kernel_args

__all__ = [
    "log_jacobian_product_norms",
    "log_jacobian_product_norms_along",
    "finite_time_lyapunov_exponents",
    "finite_time_lyapunov_exponents_along",
    "jacobian_spectral_norms",
]

# Fixed seed of the random orthogonal frame V in the FTLE accumulation: sigma(P V) = sigma(P)
# for every orthogonal V, so the result does not depend on it; a fixed seed keeps repeated
# calls bit-for-bit identical.
_FRAME_SEED = 20221128


# ======================================================================================
# log ||J_t ... J_1||_2 for t = 1..T
@njit(cache=True)
def _scaled_products(kind, theta, dim, x, states, free_run, t0, P, log_scale, out_P, out_s,
                     J, tmp, xn, work):  # fmt: skip
    r"""Advance :math:`P_t = e^{s_t} \hat P_t` (with :math:`\|\hat P_t\|_F = 1`) by
    ``out_P.shape[0]`` steps, storing every :math:`\hat P_t` and :math:`s_t`.

    ``x`` (free run) or ``states[t0 + n]`` (along given states) is the point of the n-th
    Jacobian of this chunk; ``P`` (dim, dim) and ``log_scale`` (1,) carry the product
    between chunks and ``x`` the state. Returns ``(code, step)``: code 0 = fine, 1 = the
    orbit became non-finite at ``step``, 2 = the product became non-finite at ``step``.
    """
    for n in range(out_P.shape[0]):
        t = t0 + n
        if free_run:
            _kernels.map_jacobian(kind, theta, dim, x, J, work)
        else:
            _kernels.map_jacobian(kind, theta, dim, states[t], J, work)
        matmul_into(J, P, tmp)
        # Renormalise every step: entries of J P-hat are bounded by ||J||, so neither the
        # product nor its scale can over- or underflow whatever t is.
        ss = 0.0
        for i in range(dim):
            for j in range(dim):
                ss += tmp[i, j] * tmp[i, j]
        if not np.isfinite(ss):
            return 2, t + 1
        if ss == 0.0:
            # The product is exactly zero (a singular Jacobian annihilated it) and stays
            # zero: log-norm -inf from here on.
            P[:, :] = 0.0
            log_scale[0] = -np.inf
        else:
            f = math.sqrt(ss)
            for i in range(dim):
                for j in range(dim):
                    P[i, j] = tmp[i, j] / f
            log_scale[0] += math.log(f)
        out_P[n] = P
        out_s[n] = log_scale[0]
        if free_run and not advance(kind, theta, dim, x, xn, work):
            return 1, t + 1
    return 0, 0


def _raise_for(code, step, system, what):
    if code == 1:
        raise DivergenceError(f"{system!r}: orbit became non-finite at step {step}")
    if code == 2:
        raise DivergenceError(
            f"{system!r}: {what} became non-finite at step {step} (Jacobian overflow)"
        )


def _log_norms(system, x, states, free_run, n_steps):
    dim = system.dim
    chunk = max(1, min(n_steps, 2**18 // (dim * dim)))  # <= 2 MB of stored products
    P = np.eye(dim)
    log_scale = np.zeros(1)
    J, tmp = np.empty((dim, dim)), np.empty((dim, dim))
    kind, theta_k, _, work = kernel_args(system)
    xn = np.empty(dim)
    out_P, out_s = np.empty((chunk, dim, dim)), np.empty(chunk)
    result = np.empty(n_steps)
    for t0 in range(0, n_steps, chunk):
        n = min(chunk, n_steps - t0)
        code, step = _scaled_products(
            kind, theta_k, dim, x, states, free_run, t0, P, log_scale,
            out_P[:n], out_s[:n], J, tmp, xn, work,
        )  # fmt: skip
        _raise_for(code, step, system, "the Jacobian product")
        # log ||P_t||_2 = s_t + log sigma_max(P-hat_t); sigma_max of a matrix of unit
        # Frobenius norm lies in [1/sqrt(dim), 1] and is computed to full relative
        # accuracy by the SVD however ill-conditioned P-hat_t is.
        with np.errstate(divide="ignore"):
            result[t0 : t0 + n] = out_s[:n] + np.log(np.linalg.norm(out_P[:n], 2, axis=(1, 2)))
    return result


def _initial_state(system, x0):
    check_system(system)
    return as_float_array("x0", x0, shape=(system.dim,), copy=True)


def _states(system, states):
    check_system(system)
    states = as_float_array("states", states, ndim=2)
    if states.shape[1] != system.dim or states.shape[0] < 1:
        raise ValueError(f"states must have shape (T, dim={system.dim}) with T >= 1, "
                         f"got {states.shape}")  # fmt: skip
    return states


def log_jacobian_product_norms(system, x0, n_steps):
    r"""Log spectral norms :math:`\log\|J_t\cdots J_1\|_2`, t = 1..T, along the orbit from ``x0``.

    Parameters
    ----------
    system : refrnn model or :class:`refrnn.systems.DynamicalSystem`
        Anything following the map protocol :math:`x_t = F(x_{t-1})`.
    x0 : array_like, shape (dim,)
        Initial state :math:`x_0`; the first Jacobian is :math:`J_1 = DF(x_0)`.
    n_steps : int
        Number :math:`T` of Jacobians in the longest product.

    Returns
    -------
    log_norms : ndarray, shape (T,)
        ``log_norms[t-1]`` :math:`= \log\|\partial x_t/\partial x_0\|_2` (natural log;
        ``-inf`` once the product is exactly zero).

    Raises
    ------
    DivergenceError
        If the orbit or a Jacobian becomes non-finite; the message names the step.

    Notes
    -----
    The product is carried as :math:`P_t = e^{s_t}\hat P_t` with
    :math:`\hat P_t = J_t\hat P_{t-1}/\|J_t\hat P_{t-1}\|_F` and
    :math:`s_t = s_{t-1} + \log\|J_t\hat P_{t-1}\|_F`, so nothing overflows for any
    :math:`T`. Rescaling loses no accuracy: the computed :math:`\hat P_t` is the product
    of the computed Jacobians up to a relative error of a few ulps per step, exactly as
    a direct product would be, and the largest singular value is perfectly conditioned.
    On a chaotic attractor :math:`\log\|P_t\|_2 / t \to \lambda_{\max}` (per step).
    The cost is dominated by one (dim, dim) SVD per step (batched LAPACK calls on chunks
    of stored products): ~40 us per step at dim = 20.
    """
    x = _initial_state(system, x0)
    n_steps = as_positive_int("n_steps", n_steps)
    return _log_norms(system, x, np.empty((0, system.dim)), True, n_steps)


def log_jacobian_product_norms_along(system, states):
    r"""Like :func:`log_jacobian_product_norms`, with the Jacobians taken at given states.

    Parameters
    ----------
    system : refrnn model or :class:`refrnn.systems.DynamicalSystem`
    states : array_like, shape (T, dim)
        :math:`J_t = DF(\text{states}[t-1])` for :math:`t = 1..T` -- e.g. the states of a
        teacher-forced forward pass, or ``Z[:-1]`` of an orbit ``Z`` from ``simulate``.

    Returns
    -------
    log_norms : ndarray, shape (T,)
        :math:`\log\|J_t\cdots J_1\|_2`.
    """
    states = _states(system, states)
    return _log_norms(system, np.zeros(system.dim), states, False, states.shape[0])


# ======================================================================================
# finite-time Lyapunov exponents (1 / T dt) log sigma_i(J_T ... J_1)
@njit(cache=True)
def _graded_product(kind, theta, dim, x, states, free_run, Q, ell, N, J, Y, R, tau, w, row,
                    xn, work):  # fmt: skip
    r"""Accumulate :math:`P V = Q\,\mathrm{diag}(e^{\ell})\,N` over ``states.shape[0]`` steps.

    On entry ``Q = V`` (orthogonal), ``ell = 0``, ``N = I``. Each step factorises
    :math:`J_t Q_{t-1} = Q_t R_t` and updates
    :math:`\mathrm{diag}(e^{\ell}) N \leftarrow R_t\,\mathrm{diag}(e^{\ell}) N`, row by row:
    row :math:`i` of the new product is :math:`\sum_{l \ge i} R_{t,il} e^{\ell_l} N_{l,:}`,
    computed relative to :math:`m = \max_l \ell_l` over its terms (every factor
    :math:`e^{\ell_l - m} \le 1`) and renormalised to unit 2-norm, its scale added to
    :math:`\ell_i`. The number of steps is ``states.shape[0]``; in a free run ``states``
    has shape (T, 0) and only fixes T. Returns ``(code, step)`` as :func:`_scaled_products`.
    """
    n_steps = states.shape[0]
    for t in range(n_steps):
        if free_run:
            _kernels.map_jacobian(kind, theta, dim, x, J, work)
        else:
            _kernels.map_jacobian(kind, theta, dim, states[t], J, work)
        matmul_into(J, Q, Y)
        if not qr_positive(Y, Q, R, tau, w):
            return 2, t + 1
        # Row i only reads rows l >= i of the old (ell, N), so ascending i can overwrite
        # in place.
        for i in range(dim):
            m = -np.inf
            for l in range(i, dim):
                if R[i, l] != 0.0 and ell[l] > m:
                    m = ell[l]
            for c in range(dim):
                row[c] = 0.0
            if m > -np.inf:
                for l in range(i, dim):
                    if R[i, l] != 0.0 and ell[l] > -np.inf:
                        f = R[i, l] * math.exp(ell[l] - m)
                        for c in range(dim):
                            row[c] += f * N[l, c]
            ss = 0.0
            for c in range(dim):
                ss += row[c] * row[c]
            if not np.isfinite(ss):
                return 2, t + 1
            if ss == 0.0:
                ell[i] = -np.inf
                for c in range(dim):
                    N[i, c] = 0.0
            else:
                r = math.sqrt(ss)
                ell[i] = m + math.log(r)
                for c in range(dim):
                    N[i, c] = row[c] / r
        if free_run and not advance(kind, theta, dim, x, xn, work):
            return 1, t + 1
    return 0, 0


def _rescale_rows(ell, S):
    """Write ``diag(e^ell) S`` as ``diag(e^ell') N'`` with unit rows; overflow-free."""
    k = len(ell)
    ell_new, N = np.full(k, -np.inf), np.zeros((k, k))
    with np.errstate(invalid="ignore", over="ignore"):
        for i in range(k):
            # row i of S diag(e^ell): S_ij e^{ell_j}; relative to its largest exponent
            use = (S[i] != 0.0) & np.isfinite(ell)
            if not use.any():
                continue
            m = ell[use].max()
            row = np.where(use, S[i] * np.exp(np.where(use, ell - m, 0.0)), 0.0)
            r = np.linalg.norm(row)
            if r > 0.0:
                ell_new[i], N[i] = m + np.log(r), row / r
    return ell_new, N


def _graded_log_singular_values(ell, N, *, tol=1e-15, max_sweeps=200):
    r""":math:`\log\sigma_i(\mathrm{diag}(e^{\ell})N)`, descending, for unit-row ``N``.

    With :math:`R = D N`, :math:`D = \mathrm{diag}(e^{\ell})`, :math:`R^\top = N^\top D`
    and the QR factorisation :math:`N^\top = Q S` gives :math:`R^\top = Q (S D)`, so
    :math:`\sigma(R) = \sigma(SD)`; :math:`SD` is rewritten as :math:`D' N'` by
    :func:`_rescale_rows`. One sweep is one step of the Cholesky--LR algorithm on
    :math:`R R^\top` (half a step of unshifted QR), so the off-diagonal of :math:`N`
    shrinks by about :math:`\sigma_j/\sigma_i` per sweep and :math:`\ell` converges to the
    log singular values. Rows are sorted by :math:`\ell` first
    (:math:`\sigma(\Pi R) = \sigma(R)`), so that the column scalings :math:`e^{\ell_j -
    \ell_i}`, :math:`j > i`, never exceed 1.
    Every QR is of a well-scaled matrix with unit rows; the grading is never
    formed, which is why the small singular values keep their relative accuracy.

    Pairs still coupled after ``max_sweeps`` sweeps have nearly equal :math:`\ell`
    (convergence is slow only then); each block of them is finished by an SVD of
    :math:`\mathrm{diag}(e^{\ell - \max\ell}) N` restricted to the block, which is well
    scaled precisely because its :math:`\ell` are close.
    """
    ell = np.asarray(ell, dtype=float).copy()
    N = np.asarray(N, dtype=float).copy()
    k = len(ell)
    for _ in range(max_sweeps):
        order = np.argsort(-ell, kind="stable")
        ell, N = ell[order], N[order]
        S = np.linalg.qr(N.T, mode="r")
        ell, N = _rescale_rows(ell, S)
        off = np.abs(np.triu(N, 1))
        if not off.any() or off.max() <= tol:
            return np.sort(ell)[::-1]
    # Slow convergence: finish the still-coupled blocks by a plain SVD.
    order = np.argsort(-ell, kind="stable")
    ell, N = ell[order], N[order]
    coupled = np.abs(np.triu(N, 1)) > tol
    out = ell.copy()
    i = 0
    while i < k:
        j = i
        end = i
        while j <= end:  # grow the block [i, end] over every coupling it contains
            cols = np.flatnonzero(coupled[j])
            if cols.size:
                end = max(end, cols.max())
            j += 1
        if end > i:
            blk = slice(i, end + 1)
            ref = ell[i]
            B = np.exp(ell[blk] - ref)[:, None] * N[blk, blk]
            with np.errstate(divide="ignore"):
                out[blk] = ref + np.log(np.linalg.svd(B, compute_uv=False))
        i = end + 1
    return np.sort(out)[::-1]


def _ftle(system, x, states, free_run, n_steps):
    dim = system.dim
    G = np.random.default_rng(_FRAME_SEED).standard_normal((dim, dim))
    Q = np.linalg.qr(G)[0]
    ell, N = np.zeros(dim), np.eye(dim)
    J, Y, R = np.empty((dim, dim)), np.empty((dim, dim)), np.empty((dim, dim))
    tau, w, row, xn = np.empty(dim), np.empty(dim), np.empty(dim), np.empty(dim)
    kind, theta_k, _, work = kernel_args(system)
    if free_run:
        # the kernel reads the number of steps off ``states``; no state is read in a free run
        states = np.empty((n_steps, 0))
    code, step = _graded_product(
        kind, theta_k, dim, x, states, free_run, Q, ell, N, J, Y, R, tau, w, row,
        xn, work,
    )  # fmt: skip
    _raise_for(code, step, system, "the tangent frame")
    return _graded_log_singular_values(ell, N) / (n_steps * system.dt)


def finite_time_lyapunov_exponents(system, x0, n_steps):
    r"""Finite-time Lyapunov exponents of the orbit from ``x0``.

    .. math:: \Lambda_i = \frac{1}{T\,\Delta t}\log\sigma_i(J_T\cdots J_1)

    Parameters
    ----------
    system : refrnn model or :class:`refrnn.systems.DynamicalSystem`
    x0 : array_like, shape (dim,)
        Initial state; :math:`J_1 = DF(x_0)`.
    n_steps : int
        Window length :math:`T` (steps).

    Returns
    -------
    ftle : ndarray, shape (dim,)
        Descending; per step for maps and models, per unit time for flows (divided by
        ``system.dt``), like :func:`refrnn.lyapunov_spectrum`. ``-inf`` for exactly zero
        singular values.

    Notes
    -----
    The singular values of :math:`P = J_T\cdots J_1` span :math:`e^{(\lambda_1 -
    \lambda_n)T}`, which exceeds the float range long before :math:`T = 10^4` for
    Lorenz-63 -- a direct product followed by ``numpy.linalg.svd`` loses everything
    below :math:`\epsilon\,\sigma_1`. Instead:

    1. Accumulate the QR form of the product (Benettin et al. 1980; Eckmann & Ruelle
       1985), started from a fixed random orthogonal :math:`V`:
       :math:`J_t Q_{t-1} = Q_t R_t`, :math:`P V = Q_T R_T\cdots R_1`, with the triangular
       product kept as :math:`\mathrm{diag}(e^{\ell}) N`, :math:`N` of unit rows
       (:func:`_graded_product`). Since :math:`\sigma(PV) = \sigma(P)` the choice of
       :math:`V` does not matter; a random one makes :math:`R` graded in decreasing order
       with a well-conditioned :math:`N` (generically), which the next step needs.
    2. Compute :math:`\sigma(\mathrm{diag}(e^{\ell})N)` without ever forming it, by QR
       sweeps on :math:`N^\top` in the same graded form until :math:`N` is diagonal to
       round-off (:func:`_graded_log_singular_values`; each sweep is a step of the
       Cholesky--LR iteration on :math:`R R^\top`).

    Every factorisation is of a matrix with unit rows, so row-wise relative errors are
    all that is committed, and for a row-graded matrix those perturb each singular value
    *relatively*, by about :math:`\epsilon\,\kappa(N)` (Demmel & Veselić 1992, "Jacobi's
    method is more accurate than QR"), independent of the grading.
    """
    x = _initial_state(system, x0)
    n_steps = as_positive_int("n_steps", n_steps)
    return _ftle(system, x, None, True, n_steps)


def finite_time_lyapunov_exponents_along(system, states):
    r"""Like :func:`finite_time_lyapunov_exponents`, with :math:`J_t = DF(\text{states}[t-1])`.

    Parameters
    ----------
    system : refrnn model or :class:`refrnn.systems.DynamicalSystem`
    states : array_like, shape (T, dim)

    Returns
    -------
    ftle : ndarray, shape (dim,)
        :math:`\frac{1}{T\,\Delta t}\log\sigma_i(J_T\cdots J_1)`, descending.
    """
    states = _states(system, states)
    return _ftle(system, np.zeros(system.dim), states, False, states.shape[0])


# ======================================================================================
# spectral norms of single Jacobians (generalized teacher forcing chooses alpha from them)
@njit(cache=True)
def _jacobians_at(kind, theta, dim, states, out, work):
    for t in range(states.shape[0]):
        _kernels.map_jacobian(kind, theta, dim, states[t], out[t], work)


def jacobian_spectral_norms(system, states):
    r"""Spectral norms :math:`\|J(z_t)\|_2` of the one-step Jacobians at given states.

    Generalized teacher forcing (Hess et al. 2023, Sect. 3.3) bounds the growth of the
    forced Jacobian products by :math:`(1-\alpha)\,\|J\|`; see
    :func:`refrnn.training.gtf_alpha`.

    Parameters
    ----------
    system : map (a refrnn model or a system from :mod:`refrnn.systems`)
    states : ndarray, shape (T, dim)

    Returns
    -------
    ndarray, shape (T,)
    """
    states = _states(system, states)
    kind, theta_k, dim, work = kernel_args(system)
    J = np.empty((states.shape[0], dim, dim))
    _jacobians_at(kind, theta_k, dim, states, J, work)
    # np.linalg.norm(J, 2, axis=(1, 2)), by the largest eigenvalue of J^T J alone (1.6x
    # faster at dim 20: GTF's alpha update computes 400 of them)
    out = np.empty(states.shape[0])
    spectral_norms(J, out)
    return out
