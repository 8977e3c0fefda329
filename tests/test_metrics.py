"""Tests of refrnn.metrics: D_stsp (histogram and GMM), D_H, PE(n) and free-running generation."""

import numpy as np
import pytest

import refrnn
from refrnn import data, metrics


# ======================================================================================
# D_stsp, histogram
def _kl_point_masses(alpha, K, p_counts, q_counts):
    """KL of smoothed histograms given as {bin: fraction}; bins absent from both give 0."""
    bins = set(p_counts) | set(q_counts)
    z = 1.0 + alpha * K
    total = 0.0
    for b in bins:
        p = (p_counts.get(b, 0.0) + alpha) / z
        q = (q_counts.get(b, 0.0) + alpha) / z
        total += p * np.log(p / q)
    return total


def _two_clusters(n, a, b):
    X = np.empty((n, 2))
    X[: n // 2], X[n // 2 :] = a, b
    return X


def test_histogram_identical_inputs_give_zero():
    X = data.generate("lorenz63", 5000, rng=0, test_fraction=0.0).train
    # p and q are computed by the same operations from the same counts: log(p/q) = 0 exactly.
    assert metrics.state_space_divergence(X, X) == 0.0
    # Permuting time does not change an occupation histogram.
    perm = np.random.default_rng(0).permutation(len(X))
    assert metrics.state_space_divergence(X, X[perm]) == 0.0


def test_histogram_disjoint_supports_give_the_maximal_value():
    """Data: half the points at (-1, -1), half at (1, 1): mean 0, std 1 per dimension, so
    with n_std = 3 and 25 bins the bins are 0.24 wide over [-3, 3] and -1, 1 fall in bins
    8 and 16 (away from bin edges). A model confined to one bin the data never visit gives
    the largest KL any model can reach for this data histogram (see the docstring)."""
    alpha, nb = 1e-5, 25
    K = nb * nb
    X = _two_clusters(1000, (-1.0, -1.0), (1.0, 1.0))
    p = {(8, 8): 0.5, (16, 16): 0.5}
    kw = dict(n_bins=nb, n_std=3.0, alpha=alpha, method="histogram")

    one_bin = np.tile([-1.0, 1.0], (700, 1))  # all model points in data-empty bin (8, 16)
    d_max = _kl_point_masses(alpha, K, p, {(8, 16): 1.0})
    # Closed form of the same: 2 p_a ln((1/2 + a)/a) + p_0 ln(a/(1 + a)), p_a = (1/2 + a)/z,
    # p_0 = a/z, z = 1 + a K -- the empty-in-both bins cancel exactly.
    z = 1 + alpha * K
    closed = 2 * (0.5 + alpha) / z * np.log((0.5 + alpha) / alpha) + alpha / z * np.log(
        alpha / (1 + alpha)
    )
    assert d_max == pytest.approx(closed, rel=1e-14)
    # The implementation sums the same few terms in another order: agreement to round-off.
    assert metrics.state_space_divergence(X, one_bin, **kw) == pytest.approx(d_max, rel=1e-12)
    # Far outside the data's range: clipped into the corner bin (24, 0), also data-empty.
    far = np.tile([1e6, -1e6], (700, 1))
    assert metrics.state_space_divergence(X, far, **kw) == pytest.approx(d_max, rel=1e-12)

    # Spreading the model over two data-empty bins gives less (concavity of log).
    two_bins = _two_clusters(700, (-1.0, 1.0), (1.0, -1.0))
    d_two = _kl_point_masses(alpha, K, p, {(8, 16): 0.5, (16, 8): 0.5})
    assert metrics.state_space_divergence(X, two_bins, **kw) == pytest.approx(d_two, rel=1e-12)
    assert d_two < d_max
    # ... and so does any model that overlaps the data somewhere.
    rng = np.random.default_rng(0)
    for Y in (rng.normal(size=(700, 2)), rng.uniform(-3, 3, size=(700, 2)), X[:10]):
        assert metrics.state_space_divergence(X, Y, **kw) < d_max
    # The general bound ln(z/alpha) holds. Its gap to d_max is the entropy of the smoothed
    # data histogram H(p) (Sum p ln p <= 0 was dropped) plus p_0 ln((1 + alpha)/alpha) (the
    # one bin where q is above its floor): ln 2 for two equal clusters, plus ~0.07 for the
    # mass the smoothing spreads over the other K - 2 bins.
    bound = np.log(z / alpha)
    p_a, p_0 = (0.5 + alpha) / z, alpha / z
    entropy = -2 * p_a * np.log(p_a) - (K - 2) * p_0 * np.log(p_0)
    assert d_max < bound
    assert bound - d_max == pytest.approx(entropy + p_0 * np.log((1 + alpha) / alpha), rel=1e-12)


def test_histogram_grows_monotonically_with_shift():
    """Data N(0, I_2); model the same draws shifted by s standard deviations along x.

    Reusing the draws makes D a function of the shift alone (no sampling noise between
    shifts); steps of 0.5 std move the model by ~2.5 bins, so each step changes the
    histogram overlap visibly.
    """
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20000, 2))
    Y = rng.normal(size=(20000, 2))
    shifts = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    d = [metrics.state_space_divergence(X, Y + [s, 0.0]) for s in shifts]
    assert np.all(np.diff(d) > 0), d


def test_histogram_length_mismatch_is_not_penalised():
    """Smoothing in probability units: every 5th point of a series has the same occupation
    fractions up to sampling, and scores near 0 against the full series. Measured: 0.036
    (from rarely visited bins the sub-sample happens to miss); add-one pseudo-counts in
    both histograms instead (smoothing the 5x shorter one 5x more) give 0.30 (measured).
    The bound 0.1 separates the two."""
    X = data.generate("lorenz63", 50000, rng=0, test_fraction=0.0).train
    assert metrics.state_space_divergence(X, X[::5]) < 0.1


# ======================================================================================
# D_stsp, Gaussian mixture
def test_gmm_identical_inputs_give_zero():
    X = np.random.default_rng(0).normal(size=(3000, 6))
    # Identical centres: ln p_data(x_s) and ln p_gen(x_s) are the same floating-point numbers.
    assert metrics.state_space_divergence(X, X) == 0.0  # auto -> gmm for N = 6


@pytest.mark.parametrize("shift", [1.0, 2.0])
def test_gmm_approaches_analytic_kl_of_two_gaussians(shift):
    r"""Data N(0, I_5), model N(m e_1, I_5). Convolving each with the kernel N(0, sigma^2 I)
    gives N(0, v I) and N(m e_1, v I), v = 1 + sigma^2, whose KL is m^2 / (2 v) = m^2 / 4 at
    sigma = 1: the limit of the estimator as C, S -> infinity.

    Tolerance: the Monte Carlo term ln p/q = (m^2 - 2 m y_1)/(2 v) has std m / sqrt(v), so
    with S = 4000 the standard error is m / sqrt(2 * 4000) <= 0.022. The finite mixture
    (C = 4000 centres) adds a bias; the total error measured over 5 seeds was <= 0.05 for
    m <= 2 (here -0.007 and -0.020). 0.15 > 4 standard errors + 0.05.
    """
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20000, 5))
    Y = rng.normal(size=(20000, 5)) + shift * np.eye(5)[0]
    est = metrics.state_space_divergence(
        X, Y, method="gmm", sigma=1.0, n_components=4000, n_samples=4000, rng=3
    )
    assert est == pytest.approx(shift**2 / 4, abs=0.15)


def test_gmm_grows_monotonically_with_shift():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5000, 5))
    Y = rng.normal(size=(5000, 5))
    # Same draws and the same MC seed for every shift: the estimate is a smooth function
    # of the shift (~ s^2/4), increments of >= 0.3 dwarf its wobble.
    d = [metrics.state_space_divergence(X, Y + [s, 0, 0, 0, 0]) for s in (0, 1, 2, 3, 4)]
    assert np.all(np.diff(d) > 0), d


def test_auto_method_threshold():
    rng = np.random.default_rng(0)
    for N, method in ((3, "histogram"), (4, "gmm")):
        X, Y = rng.normal(size=(500, N)), rng.normal(size=(500, N)) + 0.5
        assert metrics.state_space_divergence(X, Y) == metrics.state_space_divergence(
            X, Y, method=method
        )


def test_state_space_divergence_validation():
    X = np.zeros((10, 3)) + np.arange(10.0)[:, None]
    with pytest.raises(ValueError, match="X_gen has N=2 variables but X_data has N=3"):
        metrics.state_space_divergence(X, X[:, :2])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X_gen contains non-finite"):
        metrics.state_space_divergence(X, bad)
    with pytest.raises(ValueError, match=r"X_data must have shape \(T, N\)"):
        metrics.state_space_divergence(X[:, 0], X)
    with pytest.raises(TypeError, match="X_gen must be a real floating-point array"):
        metrics.state_space_divergence(X, np.ones((10, 3), dtype=int))
    with pytest.raises(ValueError, match="method"):
        metrics.state_space_divergence(X, X, method="kde")
    with pytest.raises(ValueError, match="alpha"):
        metrics.state_space_divergence(X, X, alpha=0.0)
    with pytest.raises(ValueError, match="constant"):
        metrics.state_space_divergence(np.ones((10, 2)), X[:, :2])


# ======================================================================================
# D_H
def _tone(T, k, phase=0.0):
    """A sinusoid with exactly k cycles in T samples: all its power in rFFT bin k."""
    t = np.arange(T)
    return np.sin(2 * np.pi * k * t / T + phase)[:, None]


def test_spectrum_identical_inputs_give_zero():
    X = data.generate("lorenz63", 4000, rng=0, test_fraction=0.0).train
    assert metrics.power_spectrum_distance(X, X) == 0.0
    # A phase shift leaves |rFFT|^2 unchanged up to FFT round-off. H^2 is computed as
    # (1/2) sum (sqrt p - sqrt q)^2, so differences of ~1e-16 give H ~ 1e-16 (measured
    # 2.5e-16), not sqrt(1e-16) as 1 - sum sqrt(p q) would.
    assert metrics.power_spectrum_distance(_tone(4096, 50), _tone(4096, 50, 1.0)) < 1e-12


def test_spectrum_disjoint_spectra_give_one():
    # sigma = 5 -> kernel radius ceil(4 * 5) = 20 bins; tones 100 and 300 are 200 > 40 bins
    # apart, so the smoothed spectra have no bin in common and sum sqrt(p q) = 0. The only
    # overlap left is FFT round-off (~1e-16 relative power outside the tone's bin).
    d = metrics.power_spectrum_distance(_tone(4096, 100), _tone(4096, 300), smoothing=5.0)
    assert d == pytest.approx(1.0, abs=1e-12)
    # A constant model has no spectrum: counted as maximally distant.
    assert metrics.power_spectrum_distance(_tone(4096, 100), np.ones((4096, 1))) == 1.0


def test_spectrum_partial_overlap_matches_the_truncated_gaussian_kernel():
    r"""Tones Delta bins apart, both smoothed by the kernel g_j ~ exp(-j^2/2 sigma^2),
    |j| <= r = ceil(4 sigma). Then sqrt(p_k q_k) = exp(-Delta^2/8 sigma^2) exp(-(k-m)^2/2
    sigma^2) / Z on the overlap |k - m| <= r - Delta/2 (m the midpoint, Z = sum of g), so

        BC = exp(-Delta^2/8 sigma^2) sum_{|i| <= r - Delta/2} exp(-i^2/2 sigma^2) / Z,

    exact apart from round-off. For sigma = 5, Delta = 10 this is 0.6054 vs. 0.6065 for an
    untruncated kernel."""
    sigma, k1, delta = 5.0, 100, 10
    r = int(np.ceil(4 * sigma))
    Z = np.sum(np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma**2)))
    i = np.arange(-(r - delta // 2), r - delta // 2 + 1)
    bc = np.exp(-(delta**2) / (8 * sigma**2)) * np.sum(np.exp(-(i**2) / (2 * sigma**2))) / Z
    d = metrics.power_spectrum_distance(_tone(4096, k1), _tone(4096, k1 + delta), smoothing=sigma)
    # The FFT leaks ~1e-16 relative power into other bins; H is accurate to ~1e-12.
    assert d == pytest.approx(np.sqrt(1 - bc), abs=1e-10)


def test_spectrum_averages_dimensions_and_uses_common_length():
    a, b = _tone(4096, 100), _tone(4096, 300)
    # dimension 1 identical (H = 0), dimension 2 disjoint (H = 1): mean 1/2
    d = metrics.power_spectrum_distance(np.hstack([a, a]), np.hstack([a, b]), smoothing=5.0)
    assert d == pytest.approx(0.5, abs=1e-12)
    # A longer model series is cut to the data's length: same result as equal lengths.
    long_b = _tone(8192, 600)  # 300 cycles in the first 4096 samples
    assert metrics.power_spectrum_distance(a, long_b, smoothing=5.0) == pytest.approx(
        1.0, abs=1e-12
    )


def test_spectrum_validation():
    with pytest.raises(ValueError, match="X_data is constant"):
        metrics.power_spectrum_distance(np.ones((100, 1)), _tone(100, 3))
    with pytest.raises(ValueError, match="smoothing"):
        metrics.power_spectrum_distance(_tone(100, 3), _tone(100, 3), smoothing=-1.0)
    with pytest.raises(ValueError, match="X_gen has N=1 variables but X_data has N=2"):
        metrics.power_spectrum_distance(np.hstack([_tone(100, 3)] * 2), _tone(100, 3))


# ======================================================================================
# PE(n) and free runs
def _chaotic_rnn(readout="identity"):
    # A random tanh RNN with a large gain is often, not always, chaotic; for this seed and
    # gain the largest Lyapunov exponent was measured at +0.16 per step (tangent iteration
    # over 3000 steps). The linear-readout model has the same W and b (B is drawn last).
    return refrnn.VanillaRNN.random(6, 6, rng=1, readout=readout, gain=4.0)


@pytest.mark.parametrize(
    "model",
    [_chaotic_rnn(), refrnn.PLRNN.random(5, 5, rng=1, readout="identity")],
    ids=["vanilla", "plrnn"],
)
def test_prediction_error_zero_for_the_models_own_data(model):
    """Identity readout with N = M: infer_state(x_t) = z_t exactly, and forward() runs the
    same step kernel as simulate(), so the predictions reproduce the data bit for bit."""
    X = model.observe(model.simulate(np.full(model.M, 0.3), 400))
    for n in (1, 7, 50):
        assert metrics.prediction_error(model, X, n) == 0.0
    assert metrics.prediction_error(model, X, 7, stride=5, chunk=8) == 0.0


def test_prediction_error_linear_readout_round_off():
    """Linear readout, N = M: B^+ B = I only up to round-off (~eps cond(B) ~ 1e-14 here),
    which the chaotic model amplifies at each step (measured PE: 5e-30 at n = 1, 9e-18 at
    n = 50). At n = 1 no amplification has happened yet; (1e-10)^2 leaves a wide margin."""
    model = _chaotic_rnn("linear")
    X = model.observe(model.simulate(np.full(model.M, 0.3), 400))
    assert metrics.prediction_error(model, X, 1) < 1e-20


def test_prediction_error_definition():
    """PE(n) equals the literal definition: infer, step n times, observe, compare."""
    model = refrnn.PLRNN.random(6, 2, rng=5)
    X = np.random.default_rng(0).normal(size=(40, 2))
    n = 3
    errs = []
    for t in range(40 - n):
        z = model.infer_state(X[t])
        for _ in range(n):
            z = model.step(z)
        errs.append(np.sum((X[t + n] - model.observe(z)) ** 2))
    # Same arithmetic in another order (mean over N and t): agreement to round-off.
    assert metrics.prediction_error(model, X, n) == pytest.approx(np.mean(errs) / 2, rel=1e-12)
    with pytest.raises(ValueError, match="n_steps=40 needs at least 41"):
        metrics.prediction_error(model, X, 40)
    with pytest.raises(ValueError, match="model observes N=2"):
        metrics.prediction_error(model, X[:, :1], 1)
    with pytest.raises(TypeError, match="model must be a refrnn model"):
        metrics.prediction_error(refrnn.systems.Henon(), X, 1)


@pytest.mark.parametrize("readout", ["linear", "identity"])
def test_prediction_error_does_not_depend_on_the_batch_size(readout):
    m = refrnn.PLRNN.random(8, 3, rng=0, readout=readout)
    X = np.random.default_rng(1).normal(size=(300, 3))
    # every start's error is computed alone and all are summed once in one order, so the
    # batching cannot change a bit
    values = {metrics.prediction_error(m, X, 5, chunk=c) for c in (1, 7, 10**6, None)}
    assert len(values) == 1


def test_prediction_error_memory_stays_within_the_budget(monkeypatch):
    import tracemalloc

    # 2980 start times of 21-step windows with M = 50 need 8 (2 (n+1)(M+N) + M + N) = 18 kB
    # each, 54 MB in one batch; with a 1 MiB budget batches of 57 starts must be used.
    budget = 2**20
    monkeypatch.setattr(metrics, "PE_MEMORY_BUDGET", budget, raising=False)
    m = refrnn.PLRNN.random(50, 3, rng=0)
    X = np.random.default_rng(0).normal(size=(3000, 3))
    expected = metrics.prediction_error(m, X, 20, chunk=10**6)
    tracemalloc.start()
    try:
        value = metrics.prediction_error(m, X, 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert value == expected
    # beyond the batches: the start times and their squared errors (8 bytes each), the
    # kernels' parameter vector built per call (refrnn._kernels.kernel_layout: 2M + 2M^2
    # floats, 40.8 kB at M = 50) and small per-batch temporaries (residuals, index
    # arrays: < 16 KiB here)
    kernel_vector = 8 * (2 * 50 + 2 * 50**2)
    assert peak <= budget + 16 * 2980 + kernel_vector + 16 * 2**10


def test_evaluate_rejects_a_non_model():
    # found by the fuzz tests: AttributeError "'str' object has no attribute 'N'"
    for bad in ("abc", None, refrnn.systems.Henon()):
        with pytest.raises(TypeError, match="model must be a refrnn model"):
            metrics.evaluate(bad, np.zeros((10, 2)))


def test_huge_smoothing_and_non_numeric_constants():
    # found by the fuzz tests: smoothing=1e12 asked NumPy for a 8e12-entry kernel, and
    # float(None) named no argument. Capping the kernel at the spectrum's length changes
    # nothing but round-off (its scale cancels in the normalisation).
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    assert 0.0 <= metrics.power_spectrum_distance(X, Y, smoothing=1e12) <= 1.0
    # sigma = 100: the full kernel has radius 400, the capped one 100 (101 frequencies)
    from scipy.ndimage import convolve1d

    j = np.arange(-400, 401)
    g = np.exp(-(j**2) / (2.0 * 100.0**2))

    def smoothed(Z):
        P = np.abs(np.fft.rfft(Z - Z.mean(axis=0), axis=0)) ** 2
        S = convolve1d(P, g / g.sum(), axis=0, mode="constant", cval=0.0)
        return np.sqrt(S / S.sum(axis=0))

    H = np.sqrt(0.5 * np.sum((smoothed(X) - smoothed(Y)) ** 2, axis=0)).mean()
    # same sums, a different normalising constant: round-off only
    assert metrics.power_spectrum_distance(X, Y, smoothing=100.0) == pytest.approx(H, rel=1e-10)
    with pytest.raises(TypeError, match="smoothing must be a real number"):
        metrics.power_spectrum_distance(X, Y, smoothing=None)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        metrics.state_space_divergence(X, Y, alpha="x")


def test_sizes_and_constants_found_by_the_fuzz_tests():
    m = refrnn.PLRNN.random(3, 2, rng=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    with pytest.raises(TypeError, match="pe_steps must be an integer, got str"):
        metrics.evaluate(m, X, pe_steps="abc")  # was int('abc')
    with pytest.raises(TypeError, match="pe_steps must be an integer, got float"):
        metrics.evaluate(m, X, pe_steps=2.7)  # was silently 2
    # NumPy's MemoryError named no argument
    with pytest.raises(ValueError, match=r"n_steps \+ transient=1000000001000 needs an orbit"):
        metrics.generate_free_run(m, X, 10**12)
    with pytest.raises(ValueError, match="n_samples=1000000000000 needs"):
        metrics.state_space_divergence(X, X, method="gmm", n_samples=10**12)
    with pytest.raises(TypeError, match="method must be"):
        metrics.state_space_divergence(X, X, method=np.array([]))
    # 1e300 data: the bin range and the power spectrum overflowed into NaN / a NumPy error
    big = X * 1e300
    with pytest.raises(ValueError, match="X_data is too large to bin"):
        metrics.state_space_divergence(big, X)
    with pytest.raises(ValueError, match="X_gen is too large for a power spectrum"):
        metrics.power_spectrum_distance(X, big)
    # GMM kernel widths whose square under- or overflows: ZeroDivisionError/OverflowError
    for sigma in (1e-288, 1e154):
        with pytest.raises(ValueError, match="sigma must be between 1e-150 and 1e150"):
            metrics.state_space_divergence(X, X, method="gmm", sigma=sigma)
    with pytest.raises(ValueError, match="mixture estimate of D_stsp overflowed"):
        metrics.state_space_divergence(big, X, method="gmm")


def test_generate_free_run():
    model = _chaotic_rnn()
    X = model.observe(model.simulate(np.full(model.M, 0.3), 100))
    G = metrics.generate_free_run(model, X, 50, transient=20, start=10)
    # z_0 = infer(x_10) = z_10 of the data orbit; the returned rows are steps 21..70 after it
    expected = model.observe(model.simulate(model.infer_state(X[10]), 70))[21:]
    np.testing.assert_array_equal(G, expected)
    assert G.shape == (50, model.N)
    np.testing.assert_array_equal(
        metrics.generate_free_run(model, X, 30, rng=3),
        metrics.generate_free_run(model, X, 30, rng=3),
    )
    with pytest.raises(ValueError, match="start must be < T=101"):
        metrics.generate_free_run(model, X, 10, start=101)


def test_generate_free_run_reports_divergence():
    # A linear PLRNN regime with A = 2: z grows like 2^t and overflows after ~1024 steps.
    M = 2
    model = refrnn.PLRNN(
        np.full(M, 2.0), np.zeros((M, M)), np.zeros(M), readout="identity", n_obs=M
    )
    X = np.ones((10, M))
    with pytest.raises(refrnn.DivergenceError, match=r"free run from X_data\[4\]"):
        metrics.generate_free_run(model, X, 5000, transient=0, start=4)


def test_far_away_generated_points_fall_into_the_edge_bins():
    # A model whose free run wanders to 1e308 (finite) must not produce garbage bins:
    # such points count in the outermost bin, exactly like points at mean + 3 sd.
    X = np.random.default_rng(0).normal(size=(2000, 3))
    far, edge = X.copy(), X.copy()
    far[:50] = 1e308
    edge[:50] = X.mean(axis=0) + 3.0 * X.std(axis=0) * 0.999
    assert metrics.state_space_divergence(X, far) == metrics.state_space_divergence(X, edge)


def test_a_free_run_far_beyond_the_data_is_diverged():
    """An orbit that grows to ~1e241 without overflowing is diverged (documented bound),
    so evaluate reports it and training can never select it."""
    m = refrnn.PLRNN.random(6, 3, rng=0).replace(A=np.full(6, 1.5))
    X = refrnn.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train
    with pytest.raises(refrnn.DivergenceError, match="left the data's range at step"):
        refrnn.metrics.generate_free_run(m, X, 1000, transient=0, start=0)
    ev, X_gen = refrnn.metrics.evaluate(m, X, n_free=1000, transient=0)
    assert ev["diverged"] is True and X_gen is None
    # a stable model stays within the bound
    ok = refrnn.PLRNN.random(6, 3, rng=0)
    assert refrnn.metrics.generate_free_run(ok, X, 500, start=0).shape == (500, 3)


def test_prediction_error_of_a_diverging_model_is_an_error_not_inf():
    m = refrnn.PLRNN.random(6, 3, rng=0).replace(A=np.full(6, 1.5))
    X = refrnn.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train
    with pytest.raises(refrnn.DivergenceError, match="squared prediction error overflowed"):
        refrnn.metrics.prediction_error(m, X, 1000)
    ev, _ = refrnn.metrics.evaluate(m, X, n_free=1000, transient=0, pe_steps=1000)
    assert ev["diverged"] is True and not np.isinf(ev["prediction_error"])


def test_evaluate_passes_the_smoothing_of_d_h():
    m = refrnn.PLRNN.random(6, 3, rng=1)
    X = refrnn.generate("lorenz63", 1500, rng=0).train
    for s in (0.0, 3.0, 20.0):
        ev, X_gen = refrnn.metrics.evaluate(m, X, n_free=800, smoothing=s)
        if ev["diverged"]:
            pytest.skip("the random model diverged")
        assert ev["smoothing"] == s and ev["n_free"] == 800
        assert ev["d_h"] == refrnn.metrics.power_spectrum_distance(X, X_gen, smoothing=s)
    with pytest.raises(ValueError, match="smoothing"):
        refrnn.metrics.evaluate(m, X, smoothing=-1)
