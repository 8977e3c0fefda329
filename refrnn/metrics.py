r"""How well does a trained model reproduce a chaotic system? The paper's three measures.

A model trained on chaotic data cannot be judged by how long it tracks one trajectory:
nearby orbits separate like :math:`e^{\lambda_{max} t}`, so every model loses track after a
few predictability times. The paper therefore compares *long-term* properties of a
free-running model with those of the data (Mikhaeil, Monfared & Durstewitz 2022, Sect. 4;
Koppe et al. 2019):

* :func:`state_space_divergence` -- :math:`D_{stsp}`, the Kullback--Leibler divergence
  between where the data and the model spend their time in state space (geometry).
* :func:`power_spectrum_distance` -- :math:`D_H`, the Hellinger distance between power
  spectra (temporal structure).
* :func:`prediction_error` -- :math:`PE(n)`, the mean squared n-step-ahead error from
  states inferred from data (short-term accuracy).

:func:`generate_free_run` produces the long model trajectory the first two compare with
the data. All numbers depend on conventions (bins, smoothing, kernel width): compare
models only under one set of constants, which every function here documents.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve1d

from ._validation import (
    DivergenceError,
    as_positive_int,
    as_real,
    as_rng,
    as_series,
    check_allocation,
    check_model,
)
from .bptt import forward

__all__ = [
    "state_space_divergence",
    "power_spectrum_distance",
    "prediction_error",
    "generate_free_run",
    "evaluate",
]

#: ``method="auto"`` bins the state space up to this many observed dimensions.
HISTOGRAM_MAX_DIM = 3

#: :func:`prediction_error` processes start times in batches whose working arrays stay
#: below this many bytes (unless one start time alone needs more), see its Notes.
PE_MEMORY_BUDGET = 64 * 2**20

#: A free run has *diverged* when an observation exceeds this many times the largest
#: absolute value of the data it is compared with (or overflows). Such a model has no
#: attractor near the data's; its D_stsp would only count points in the edge bins.
DIVERGENCE_BOUND = 1e3


def _pair(X_data, X_gen):
    X_data = as_series("X_data", X_data)
    X_gen = as_series("X_gen", X_gen)
    if X_gen.shape[1] != X_data.shape[1]:
        raise ValueError(
            f"X_gen has N={X_gen.shape[1]} variables but X_data has N={X_data.shape[1]}"
        )
    return X_data, X_gen


def _positive(name, value, *, allow_zero=False):
    value = as_real(name, value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(
            f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value}"
        )
    return value


# ======================================================================================
# D_stsp: state-space divergence
def state_space_divergence(
    X_data,
    X_gen,
    *,
    method="auto",
    n_bins=30,
    n_std=3.0,
    alpha=1e-5,
    sigma=1.0,
    n_components=1000,
    n_samples=1000,
    rng=0,
):
    r"""State-space divergence :math:`D_{stsp} = \mathrm{KL}(p_{data} \,\|\, p_{gen})`.

    How differently do the data and a free-running model occupy state space? Zero when
    the two occupation densities agree; large when the model's attractor misses the
    regions the data visit (Koppe et al. 2019; Mikhaeil, Monfared & Durstewitz 2022).

    Parameters
    ----------
    X_data : ndarray, shape (T_data, N)
        Observed series (standardised, as everywhere in the paper).
    X_gen : ndarray, shape (T_gen, N)
        Free-running model trajectory in the same units (:func:`generate_free_run`).
    method : {"auto", "histogram", "gmm"}
        ``"auto"`` uses the histogram for :math:`N \le 3` and the Gaussian mixture above.
        With 30 bins per dimension, N = 4 already has :math:`8.1 \cdot 10^5` bins, more
        than a typical 10⁵-sample trajectory can fill, and the estimate would be dominated
        by the smoothing. (The paper bins up to N of about 5, with 10--30 bins per
        dimension; choose ``method="histogram"`` and a smaller ``n_bins`` for that.)
    n_bins : int
        Histogram: bins per dimension, :math:`K = n_{bins}^N` bins in all.
    n_std : float
        Histogram: the bins cover :math:`\mu_n \pm n_{std}\, s_n` in each dimension, with
        mean :math:`\mu_n` and standard deviation :math:`s_n` of ``X_data``.
    alpha : float
        Histogram: smoothing constant added to every bin's probability (> 0); see Notes.
    sigma : float
        GMM: standard deviation :math:`\sigma` of each isotropic component, in data units.
    n_components : int
        GMM: time points per mixture, taken evenly spaced over each series.
    n_samples : int
        GMM: Monte Carlo samples drawn from the data mixture.
    rng : numpy.random.Generator, int or None
        GMM: source of the Monte Carlo samples. The default seed 0 makes the metric a
        deterministic function of its inputs.

    Returns
    -------
    float
        :math:`D_{stsp} \ge 0` in nats (the GMM estimate can fall slightly below 0 by
        Monte Carlo error).

    Notes
    -----
    **Histogram** (:math:`N \le 3`). Bin edges are set by the data: :math:`n_{bins}` equal
    bins per dimension over :math:`[\mu_n - n_{std} s_n,\ \mu_n + n_{std} s_n]`. Points outside
    are *clipped into the edge bins*, not dropped: a trajectory that leaves the data's
    region must count as mass where the data have little, otherwise a model whose orbit
    escapes to infinity could score well on the few points that remain. With counts
    :math:`c_k` of :math:`T` points in bin :math:`k = 1..K` and smoothing constant
    :math:`\alpha`,

    .. math:: \hat p_k = \frac{c_k / T + \alpha}{1 + \alpha K}, \qquad
              D_{stsp} = \sum_{k=1}^{K} \hat p^{data}_k \ln \frac{\hat p^{data}_k}{\hat p^{gen}_k}.

    This is Laplace (additive) smoothing with pseudo-count :math:`\alpha T` per bin, stated
    in probability units so that both histograms get the same floor
    :math:`\alpha / (1 + \alpha K)` even when :math:`T_{data} \ne T_{gen}` (with a fixed
    pseudo-count, a shorter model trajectory would be smoothed more and score worse for
    that reason alone). Bins visited by neither series contribute exactly 0. The default
    :math:`\alpha = 10^{-5}` is add-one smoothing for a :math:`10^5`-sample series: it keeps
    the logarithm finite where the model never goes, while a bin seen once in
    :math:`10^5` data samples but never by the model costs only
    :math:`\hat p^{data}_k \ln 2` with :math:`\hat p^{data}_k = 2\alpha / (1 + \alpha K)`.
    (With 30³ bins, :math:`\alpha K = 0.27`: the smoothing holds a fifth of the mass, and
    with :math:`N = 4` it would hold most of it -- hence ``"auto"`` stops at N = 3.)
    Because :math:`\sum_k \hat p_k \ln \hat p_k \le 0` and
    :math:`\hat p^{gen}_k \ge \alpha / (1 + \alpha K)`,

    .. math:: 0 \le D_{stsp} \le \ln \frac{1 + \alpha K}{\alpha}

    (11.75 for 30³ bins), and for a given data histogram the largest value is reached by a
    model confined to a single bin the data never visit. Only occupied bins are enumerated
    (:func:`numpy.ravel_multi_index`, :func:`numpy.unique`, :func:`numpy.bincount`), so
    memory does not grow with :math:`K`.

    **Gaussian mixture** (:math:`N > 3`; Koppe et al. 2019). Each density is a mixture of
    isotropic Gaussians centred on :math:`C` time points :math:`x_{t_c}` evenly spaced over
    the series,

    .. math:: \hat p(x) = \frac1C \sum_{c=1}^{C} \mathcal N(x;\ x_{t_c},\ \sigma^2 I_N),

    and the KL integral is estimated by Monte Carlo with :math:`S` samples drawn from
    :math:`\hat p^{data}` (a uniformly chosen component plus :math:`\sigma \varepsilon`):

    .. math:: D_{stsp} \approx \frac1S \sum_{s=1}^S
              \bigl[\ln \hat p^{data}(x_s) - \ln \hat p^{gen}(x_s)\bigr],
              \qquad x_s \sim \hat p^{data}.

    For data and model from Gaussians :math:`\mathcal N(\mu_1, s^2 I)`,
    :math:`\mathcal N(\mu_2, s^2 I)` it converges (for :math:`C, S \to \infty`) to the KL of the
    two Gaussians widened by the kernel, :math:`\lVert\mu_1-\mu_2\rVert^2 / (2(s^2+\sigma^2))`.
    Defaults: :math:`\sigma = 1` (one standard deviation of standardised data),
    :math:`C = S = 1000`, seed 0.
    """
    X_data, X_gen = _pair(X_data, X_gen)
    N = X_data.shape[1]
    if not isinstance(method, str):
        raise TypeError(f'method must be "auto", "histogram" or "gmm", got {type(method).__name__}')
    if method == "auto":
        method = "histogram" if N <= HISTOGRAM_MAX_DIM else "gmm"
    if method == "histogram":
        return _histogram_kl(
            X_data,
            X_gen,
            as_positive_int("n_bins", n_bins),
            _positive("n_std", n_std),
            _positive("alpha", alpha),
        )
    if method == "gmm":
        sigma = _positive("sigma", sigma)
        if not 1e-150 < sigma < 1e150:  # sigma^2 (in the kernel) must be a normal float
            raise ValueError(f"sigma must be between 1e-150 and 1e150, got {sigma:g}")
        return _gmm_kl(
            X_data,
            X_gen,
            _positive("sigma", sigma),
            as_positive_int("n_components", n_components),
            as_positive_int("n_samples", n_samples),
            as_rng(rng),
        )
    raise ValueError(f'method must be "auto", "histogram" or "gmm", got {method!r}')


def _bin_index(X, lo, width, n_bins):
    """Flat bin index of every row of ``X`` (T, N); outliers clipped into edge bins."""
    # Clip before the cast: a far-away (but finite) generated point can give inf here, and
    # casting inf to int64 is undefined.
    with np.errstate(over="ignore"):
        u = np.clip((X - lo) / width, 0.0, n_bins - 1.0)
    idx = np.floor(u).astype(np.int64)
    return np.ravel_multi_index(tuple(idx.T), (n_bins,) * X.shape[1])


def _histogram_kl(X_data, X_gen, n_bins, n_std, alpha):
    N = X_data.shape[1]
    K = n_bins**N  # a Python int: exact however large
    if K >= 2**62:
        raise ValueError(
            f"n_bins**N = {n_bins}**{N} bins do not fit a 64-bit index; use method='gmm'"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = X_data.mean(axis=0), X_data.std(axis=0)
        lo, width = mean - n_std * std, 2.0 * n_std * std / n_bins
    if not np.all(np.isfinite(lo) & np.isfinite(width)):
        raise ValueError(
            f"X_data is too large to bin: the range mean +- n_std * std overflows (largest "
            f"|X_data| = {np.max(np.abs(X_data)):.3g}); standardise the series"
        )
    if np.any(std == 0):
        raise ValueError(
            f"X_data is constant in variable(s) {np.flatnonzero(std == 0).tolist()}; "
            "the bin range (mean +- n_std * std) would be empty"
        )
    flat = np.concatenate(
        [_bin_index(X_data, lo, width, n_bins), _bin_index(X_gen, lo, width, n_bins)]
    )
    occupied, which = np.unique(flat, return_inverse=True)
    T_data, T_gen = X_data.shape[0], X_gen.shape[0]
    c_data = np.bincount(which[:T_data], minlength=occupied.size)
    c_gen = np.bincount(which[T_data:], minlength=occupied.size)
    # Smoothing in probability units: empty bins get the same floor alpha / (1 + alpha K)
    # in both histograms, so bins visited by neither series contribute exactly 0 and need
    # not be enumerated.
    p = (c_data / T_data + alpha) / (1.0 + alpha * K)
    q = (c_gen / T_gen + alpha) / (1.0 + alpha * K)
    kl = float(np.sum(p * np.log(p / q)))
    # Round-off can leave -1e-17 for identical histograms; KL itself is never negative.
    return max(kl, 0.0)


def _mixture_log_density(Y, centres, sigma, chunk=1024):
    r""":math:`\ln \frac1C \sum_c \mathcal N(y; c, \sigma^2 I)` for every row of ``Y`` (S, N).

    Rows are processed ``chunk`` at a time so the (chunk, C) distance matrix stays small.
    """
    N = Y.shape[1]
    log_norm = -0.5 * N * np.log(2.0 * np.pi * sigma**2) - np.log(centres.shape[0])
    c2 = np.sum(centres * centres, axis=1)
    out = np.empty(Y.shape[0])
    for i in range(0, Y.shape[0], chunk):
        y = Y[i : i + chunk]
        # e = -|y - c|^2 / (2 sigma^2), built in place: |y|^2 + |c|^2 - 2 y.c
        e = y @ centres.T
        e *= -2.0
        e += np.sum(y * y, axis=1)[:, None]
        e += c2[None, :]
        np.maximum(e, 0.0, out=e)  # the expansion can round below 0 when y ~ c
        e *= -0.5 / sigma**2
        # log-sum-exp, shifted by the row maximum so that exp cannot underflow to all 0
        top = e.max(axis=1)
        e -= top[:, None]
        np.exp(e, out=e)
        out[i : i + chunk] = top + np.log(e.sum(axis=1)) + log_norm
    return out


def _evenly_spaced(X, n):
    if X.shape[0] <= n:
        return X
    return X[np.linspace(0, X.shape[0] - 1, n).round().astype(np.int64)]


def _gmm_kl(X_data, X_gen, sigma, n_components, n_samples, rng):
    check_allocation("n_samples", n_samples, "(n_samples, N) Monte Carlo samples",
                     n_samples * (X_data.shape[1] + 1))  # fmt: skip
    C_data = _evenly_spaced(X_data, n_components)
    C_gen = _evenly_spaced(X_gen, n_components)
    pick = rng.integers(0, C_data.shape[0], size=n_samples)
    Y = C_data[pick] + sigma * rng.standard_normal((n_samples, X_data.shape[1]))
    with np.errstate(over="ignore", invalid="ignore"):
        kl = float(
            np.mean(_mixture_log_density(Y, C_data, sigma) - _mixture_log_density(Y, C_gen, sigma))
        )
    if not np.isfinite(kl):
        raise ValueError(
            f"the mixture estimate of D_stsp overflowed (largest |X_data| = "
            f"{np.max(np.abs(X_data)):.3g}, |X_gen| = {np.max(np.abs(X_gen)):.3g}, "
            f"sigma = {sigma:.3g}); standardise the series"
        )
    return kl


# ======================================================================================
# D_H: power-spectrum distance
def _gaussian_kernel(sigma, n_freq):
    """Samples of :math:`e^{-j^2 / 2\\sigma^2}` for |j| <= ceil(4 sigma), summing to 1.

    The radius is capped at ``n_freq - 1``: entries farther out never meet one of the
    ``n_freq`` frequencies, and the scale of the kernel cancels when the smoothed spectrum
    is normalised, so the cap changes nothing but keeps a huge ``smoothing`` from
    allocating a huge kernel.
    """
    if sigma == 0:
        return np.ones(1)
    r = int(min(np.ceil(4.0 * sigma), n_freq - 1))
    j = np.arange(-r, r + 1)
    # in float64, sigma^2 for sigma > 1e154 is inf (the kernel flat), not an OverflowError
    g = np.exp(-(j**2) / (2.0 * np.float64(sigma) ** 2))
    return g / g.sum()


def _spectra(name, X, sigma):
    """Smoothed power spectra, shape (T//2 + 1, N); column sums = total power (may be 0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        P = np.abs(np.fft.rfft(X - X.mean(axis=0), axis=0)) ** 2
        g = _gaussian_kernel(sigma, P.shape[0])
        S = convolve1d(P, g, axis=0, mode="constant", cval=0.0)
        total = S.sum(axis=0)
    if not np.all(np.isfinite(total)):
        raise ValueError(
            f"{name} is too large for a power spectrum: it overflows (largest |{name}| = "
            f"{np.max(np.abs(X)):.3g}); standardise the series"
        )
    return S


def power_spectrum_distance(X_data, X_gen, *, smoothing=20.0):
    r"""Power-spectrum distance :math:`D_H`: mean Hellinger distance of smoothed spectra.

    Does the model oscillate at the data's frequencies? Zero for identical spectra, one
    for spectra with no frequency in common (Mikhaeil, Monfared & Durstewitz 2022, Sect. 4).

    Parameters
    ----------
    X_data : ndarray, shape (T_data, N)
    X_gen : ndarray, shape (T_gen, N)
        Both are cut to their common length :math:`T = \min(T_{data}, T_{gen})` (first T
        samples), so that the spectra share one frequency grid :math:`f_k = k/T`.
    smoothing : float
        Standard deviation :math:`\sigma_f \ge 0` of the Gaussian smoothing kernel in
        frequency bins (0: no smoothing). The default 20 bins suits series of
        :math:`10^4`--:math:`10^5` samples; shorter series need a smaller value.

    Returns
    -------
    float
        :math:`D_H \in [0, 1]`.

    Notes
    -----
    Per variable :math:`n`: the periodogram of the mean-removed series (the mean is
    state-space information, measured by :func:`state_space_divergence`),

    .. math:: P_k = \Bigl|\sum_{t=0}^{T-1} (x_{t,n} - \bar x_n)\, e^{-2\pi i k t/T}\Bigr|^2,
              \quad k = 0..\lfloor T/2 \rfloor,

    smoothed with the kernel :math:`g_j \propto e^{-j^2/2\sigma_f^2}`,
    :math:`|j| \le \lceil 4\sigma_f \rceil` (zero beyond both ends of the frequency axis),
    and normalised to unit mass, :math:`p_k = (g * P)_k / \sum_l (g * P)_l`. Then

    .. math:: H_n = \sqrt{1 - \textstyle\sum_k \sqrt{p_k q_k}}, \qquad
              D_H = \frac1N \sum_{n=1}^N H_n,

    computed as :math:`H_n^2 = \tfrac12 \sum_k (\sqrt{p_k} - \sqrt{q_k})^2` (the same number
    for unit-mass spectra, free of cancellation, so identical spectra give exactly 0), with
    round-off above 1 clipped to 1. Two pure tones :math:`\Delta` bins apart give
    :math:`\sum_k\sqrt{p_k q_k} \approx e^{-\Delta^2/8\sigma_f^2}`, and exactly 0 once
    :math:`\Delta > 2\lceil 4\sigma_f \rceil` (the truncated kernels no longer overlap), so
    :math:`H = 1`.
    A generated variable with exactly zero power (a constant, e.g. a model sitting on a
    fixed point) has no spectrum to normalise; it is counted as maximally distant,
    :math:`H_n = 1`.

    Raises
    ------
    ValueError
        If a variable of ``X_data`` is constant.
    """
    X_data, X_gen = _pair(X_data, X_gen)
    sigma = _positive("smoothing", smoothing, allow_zero=True)
    T = min(X_data.shape[0], X_gen.shape[0])
    P = _spectra("X_data", X_data[:T], sigma)
    Q = _spectra("X_gen", X_gen[:T], sigma)
    mass_p, mass_q = P.sum(axis=0), Q.sum(axis=0)
    if np.any(mass_p == 0):
        raise ValueError(
            f"X_data is constant in variable(s) {np.flatnonzero(mass_p == 0).tolist()}; "
            "its power spectrum is zero"
        )
    H = np.ones(X_data.shape[1])
    ok = mass_q > 0
    # 1 - sum sqrt(p q) written as (1/2) sum (sqrt p - sqrt q)^2: equal for unit-mass p, q,
    # but without the cancellation that turns identical spectra into sqrt(1e-16) = 1e-8.
    diff = np.sqrt(P[:, ok] / mass_p[ok]) - np.sqrt(Q[:, ok] / mass_q[ok])
    H[ok] = np.sqrt(np.minimum(0.5 * np.sum(diff * diff, axis=0), 1.0))
    return float(H.mean())


# ======================================================================================
# PE(n): n-step-ahead prediction error, and free-running generation
def _model_series(model, X):
    check_model(model)
    X = as_series("X", X)
    if X.shape[1] != model.N:
        raise ValueError(f"X has N={X.shape[1]} variables but the model observes N={model.N}")
    return X


def prediction_error(model, X, n_steps, *, stride=1, chunk=None):
    r"""Mean squared n-step-ahead prediction error :math:`PE(n)` from data-inferred states.

    Parameters
    ----------
    model : RNNModel (PLRNN, VanillaRNN or ShallowPLRNN)
    X : ndarray, shape (T, N)
        Observed series (``N = model.N``), ``T > n_steps``.
    n_steps : int
        Prediction horizon :math:`n \ge 1`.
    stride : int
        Use every ``stride``-th start time (1: all).
    chunk : int, optional
        Start times processed per batch. Default: as many as fit
        :data:`PE_MEMORY_BUDGET` (64 MiB), see Notes. The result does not depend on it.

    Returns
    -------
    float
        :math:`PE(n)`.

    Notes
    -----
    For every start time :math:`t \in \mathcal T = \{0, s, 2s, \dots\} \cap [0, T-1-n]` the
    model starts from the state inferred from the observation at :math:`t`,
    :math:`z_t^{(0)} = \mathrm{infer}(x_t)` (:meth:`RNNModel.infer_state`: :math:`B^+ x_t`,
    or :math:`[x_t, 0]` for the identity readout, the same :math:`z_0` as in
    :func:`refrnn.forward`), runs freely for :math:`n` steps without forcing, and its
    observation is compared with the data :math:`n` steps later:

    .. math:: PE(n) = \frac{1}{|\mathcal T|\, N} \sum_{t \in \mathcal T}
              \bigl\lVert x_{t+n} - \hat x\bigl(F^{n}(\mathrm{infer}(x_t))\bigr) \bigr\rVert^2 .

    On a chaotic system :math:`PE(n)` grows with :math:`n` for every model, so only small
    :math:`n` (well below the predictability time) say something about the model.

    **Memory.** Each batch of :math:`c` start times runs :func:`refrnn.forward` on windows
    of :math:`n+1` steps, which keeps the states before and after forcing, two
    :math:`(c, n+1, M)` arrays; with the windows and predictions, two :math:`(c, n+1, N)`
    arrays, and the initial states :math:`(c, M)`, a batch takes

    .. math:: 8\,c\,\bigl[2(n+1)(M+N) + M + N\bigr] \ \text{bytes}

    (:math:`c = 4096`, :math:`n = 10`, :math:`M = 2000` would be 1.4 GB). By default
    :math:`c` is the largest batch within :data:`PE_MEMORY_BUDGET`; beyond the batch only
    8 bytes per start time are kept (the per-start errors, summed at the end in one
    order, so that the result is the same for every ``chunk``).

    Raises
    ------
    DivergenceError
        If a prediction overflows (message names the start time).
    """
    check_model(model)
    X = _model_series(model, X)
    n = as_positive_int("n_steps", n_steps)
    stride = as_positive_int("stride", stride)
    chunk = None if chunk is None else as_positive_int("chunk", chunk)
    T = X.shape[0]
    if T <= n:
        raise ValueError(f"X has {T} time steps; n_steps={n} needs at least {n + 1}")
    starts = np.arange(0, T - n, stride)
    if chunk is None:
        M, N = model.M, model.N
        per_start = 8 * (2 * (n + 1) * (M + N) + M + N)  # bytes, see Notes
        chunk = max(1, PE_MEMORY_BUDGET // per_start)
    offsets = np.arange(n + 1)
    sq = np.empty(starts.size)  # squared error per start time
    for b in range(0, starts.size, chunk):
        s = starts[b : b + chunk]
        windows = X[s[:, None] + offsets]  # (S, n+1, N): x_t .. x_{t+n}
        try:
            # Without forcing (tau=None) forward() is exactly z_0 = infer(x_t), z_i = F(z_{i-1}).
            X_hat = forward(model, windows, tau=None).X_hat
        except DivergenceError as e:
            raise DivergenceError(f"prediction_error from start times {s[0]}..{s[-1]}: {e}") from e
        resid = windows[:, n] - X_hat[:, n]
        sq[b : b + chunk] = np.sum(resid * resid, axis=1)
        del windows, X_hat  # free the batch before the next one is allocated
    return float(np.sum(sq)) / (starts.size * X.shape[1])


def generate_free_run(model, X_data, n_steps, *, transient=1000, rng=None, start=None):
    r"""A long free-running observation trajectory of ``model``, started from data.

    Parameters
    ----------
    model : RNNModel (PLRNN, VanillaRNN or ShallowPLRNN)
    X_data : ndarray, shape (T, N)
        Observed series; one of its points gives the initial state.
    n_steps : int
        Length of the returned trajectory.
    transient : int
        Steps run and discarded first, so that the returned trajectory lies on the model's
        attractor rather than on the way to it (default 1000).
    rng : numpy.random.Generator, int or None
        Picks the start index uniformly from ``0..T-1`` (ignored if ``start`` is given).
    start : int, optional
        Start from ``X_data[start]`` instead of a random point.

    Returns
    -------
    X_gen : ndarray, shape (n_steps, N)
        :math:`\hat x(z_{k})` for :math:`k = \text{transient}+1, \dots, \text{transient}+n_{steps}`,
        where :math:`z_0 = \mathrm{infer}(x_{start})` and :math:`z_k = F(z_{k-1})`.

    Raises
    ------
    DivergenceError
        If the model's orbit overflows or an observation exceeds
        :data:`DIVERGENCE_BOUND` (1000) times the largest absolute value of ``X_data``;
        the message names the model, the start index and the step. A diverging model has
        no attractor to compare, so no metric is computed.
    """
    check_model(model)
    X_data = _model_series(model, X_data)
    n_steps = as_positive_int("n_steps", n_steps)
    transient = as_positive_int("transient", transient, minimum=0)
    check_allocation("n_steps + transient", n_steps + transient, "an orbit of that many states",
                     (n_steps + transient + 1) * (model.M + model.N))  # fmt: skip
    T = X_data.shape[0]
    if start is None:
        start = int(as_rng(rng).integers(0, T))
    else:
        start = as_positive_int("start", start, minimum=0)
        if start >= T:
            raise ValueError(f"start must be < T={T}, got {start}")
    z0 = model.infer_state(X_data[start])
    try:
        Z = model.simulate(z0, transient + n_steps)
    except DivergenceError as e:
        raise DivergenceError(
            f"free run from X_data[{start}] (transient={transient}, n_steps={n_steps}): {e}"
        ) from e
    X_all = model.observe(Z)
    bound = DIVERGENCE_BOUND * max(float(np.max(np.abs(X_data))), np.finfo(float).tiny)
    with np.errstate(invalid="ignore"):
        far = np.flatnonzero(~(np.max(np.abs(X_all), axis=1) <= bound))
    if far.size:
        raise DivergenceError(
            f"free run from X_data[{start}] (transient={transient}, n_steps={n_steps}): "
            f"{model!r} left the data's range at step {int(far[0])}, |x_hat| > "
            f"{DIVERGENCE_BOUND:g} x max|X_data| = {bound:.3g} (refrnn.metrics.DIVERGENCE_BOUND)"
        )
    return X_all[transient + 1 :]


def evaluate(model, X, *, n_free=None, pe_steps=10, smoothing=20.0, transient=1000, start=0):
    r"""All three measures of ``model`` against the series ``X`` in one call.

    Parameters
    ----------
    model : RNNModel (PLRNN, VanillaRNN or ShallowPLRNN)
    X : ndarray, shape (T, N)
        Reference series (typically held-out test data, standardised like the training
        data).
    n_free : int, optional
        Length of the free run compared with ``X`` (default ``T``).
    pe_steps : int
        n of :math:`PE(n)`.
    smoothing : float
        Width of the Gaussian kernel of :math:`D_H` in frequency bins, passed to
        :func:`power_spectrum_distance` (default 20, for series of :math:`10^4`--:math:`10^5`
        samples; a series of a few thousand samples needs a few bins).
    transient, start : int
        Passed to :func:`generate_free_run` (a fixed start keeps evaluations reproducible).

    Returns
    -------
    metrics : dict
        ``d_stsp``, ``d_h``, ``prediction_error``, ``pe_steps``, ``n_free``, ``smoothing``
        and ``diverged``. A free run
        that overflows is *reported* (``diverged=True``, D_stsp and D_H NaN), not raised,
        so that one bad model does not end a comparison of many.
    X_gen : ndarray, shape (n_free, N) or None
        The free run (None if it diverged).
    """
    X = _model_series(model, X)
    n_free = X.shape[0] if n_free is None else as_positive_int("n_free", n_free)
    pe_steps = as_positive_int("pe_steps", pe_steps)
    smoothing = _positive("smoothing", smoothing, allow_zero=True)
    out = {"pe_steps": pe_steps, "n_free": n_free, "smoothing": smoothing}
    try:
        out["prediction_error"] = float(prediction_error(model, X, pe_steps))
    except DivergenceError:
        out["prediction_error"] = float("nan")
    try:
        X_gen = generate_free_run(model, X, n_free, transient=transient, start=start)
    except DivergenceError:
        out.update(d_stsp=float("nan"), d_h=float("nan"), diverged=True)
        return out, None
    out["d_stsp"] = float(state_space_divergence(X, X_gen))
    out["d_h"] = float(power_spectrum_distance(X, X_gen, smoothing=smoothing))
    out["diverged"] = False
    return out, X_gen
