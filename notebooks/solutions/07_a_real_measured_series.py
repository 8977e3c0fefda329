# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Solutions to 07 · Your own data: a real measured series
#
# Worked solutions to the exercises of `../07_a_real_measured_series.ipynb`. As there,
# the quick setting (`REFRNN_QUICK=1`) only checks that the code runs: its training
# budgets are far too small for meaningful models. The comments describe the full
# setting, which trains nine small models (about 5–10 minutes on two busy cores).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.embedding import choose_dim, choose_lag
from refrnn.plotting import STYLE, plot_embedding
from refrnn.systems import Henon, Lorenz63

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
if QUICK:
    SEEDS, N_EPOCHS, EVAL_EVERY, EVAL_STEPS, N_FREE = (0, 1), 10, 5, 300, 600
else:
    SEEDS, N_EPOCHS, EVAL_EVERY, EVAL_STEPS, N_FREE = (0, 1, 2), 300, 25, 2_000, 3_000
M, SEQ_LEN, LR, TEST_FRACTION = 12, 30, 1e-3, 0.2  # as in the notebook

years, sunspots = refrnn.load_sunspots()
n_test = int(round(TEST_FRACTION * len(sunspots)))


def fit(data, tau, seed):
    """One training run with the notebook's settings."""
    return refrnn.train(
        refrnn.PLRNN.random(M, data.N, rng=seed), data.train, tau=tau, n_epochs=N_EPOCHS,
        batch_size=16, seq_len=SEQ_LEN, lr=LR, lr_decay=0.1 ** (1 / N_EPOCHS), rng=seed,
        eval_every=EVAL_EVERY, eval_steps=EVAL_STEPS).model


def dominant_period(v):
    power = np.abs(np.fft.rfft(v - v.mean())) ** 2
    return 1.0 / np.fft.rfftfreq(len(v))[1 + np.argmax(power[1:])]


def free_period(model, data):
    """Dominant period of a long free run; NaN (and a note) if the run diverges."""
    try:
        run = refrnn.generate_free_run(model, data.train, N_FREE, transient=1000, start=0)
    except refrnn.DivergenceError as exc:  # reported, not hidden
        print("  a free run diverged:", str(exc)[:100])
        return np.nan
    return dominant_period(run[:, 0])


def median_range(v):
    v = np.asarray(v)
    return f"{np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}]"


# %% [markdown]
# ## Exercise 1: other forcing intervals
#
# The notebook's data (square root, $d = 3$, $\ell = 3$), three seeds per $\tau$, the
# notebook's settings otherwise.

# %%
sqrt_data = refrnn.Dataset.from_series(np.sqrt(sunspots), embed=(3, 3),
                                       test_fraction=TEST_FRACTION)
models = {tau: [fit(sqrt_data, tau, s) for s in SEEDS] for tau in (1, 3, 6)}
pe5 = {tau: [refrnn.prediction_error(m, sqrt_data.test, 5) for m in ms]
       for tau, ms in models.items()}
periods = {}
for tau, ms in models.items():
    periods[tau] = [free_period(m, sqrt_data) for m in ms]
    print(f"tau = {tau}: PE(5) {median_range(pe5[tau])}, free-run periods "
          f"{np.round(periods[tau], 2)} years")

# %% [markdown]
# What the full setting shows: $\tau = 1$ trains on one-step-ahead predictions only, and
# it shows five years ahead: its median $PE(5)$ is about three times that of $\tau = 3$
# and $\tau = 6$, and it varies most between seeds (from about 1 to 5). One of its three
# free runs oscillates at the wrong period (5 years). $\tau = 3$ and $\tau = 6$ are about
# equally good and both learn the cycle, with free-run periods of 10–13 years. The
# notebook's choice is not critical within a factor of two — consistent with the broad
# optimum of notebook 04 — while forcing at every step is clearly worse.

# %%
# Checked in the full setting: "about three times" read as 2-4 times the larger median
# PE(5) of tau = 3 and 6, whose medians are "about equally good" (within 10 %); the seeds
# of tau = 1 range over a factor > 4 ("from about 1 to 5"); one tau = 1 period outside
# 9-13 years; every tau = 3 and 6 period within 10-13 (the data: 11.0).
if not QUICK:
    med5 = {tau: np.median(v) for tau, v in pe5.items()}
    assert 2 <= med5[1] / max(med5[3], med5[6]) <= 4, med5
    assert abs(med5[3] / med5[6] - 1) <= 0.1, med5
    assert max(pe5[1]) / min(pe5[1]) > 4, pe5[1]
    p1 = np.array(periods[1])
    assert np.sum(~((p1 >= 9) & (p1 <= 13))) == 1, p1
    for tau in (3, 6):
        assert np.all((np.array(periods[tau]) >= 10) & (np.array(periods[tau]) <= 13)), periods

# %% [markdown]
# ## Exercise 2: without the square root
#
# The choices on the raw numbers, from the same training years:

# %%
raw_train = sunspots[: len(sunspots) - n_test]
ami = choose_lag(raw_train, 20)
fnn = choose_dim(raw_train, ami.lag, 8)
print(f"raw: lag {ami.lag}, dimension {fnn.dim}; fractions {np.round(fnn.fraction, 3)}")
fig = plot_embedding(ami, choose_lag(raw_train, 20, method="acf"), fnn,
                     title="raw sunspot numbers, 1700-1946")
plt.show()

# %% [markdown]
# The AMI's first minimum moves from 3 to 4 years and the dimension from 3 to 4: the
# skewed values fill the histogram bins less evenly, and the large maxima make
# neighbours separate more in a further coordinate. To compare the models with those of
# the notebook the predictions must be in the same units: we compute $n$-year-ahead
# predictions from every test vector with `generate_free_run` (started at each vector,
# no transient), map them to sunspot numbers, and take the root-mean-square error of the
# current year's coordinate.

# %%
raw_data = refrnn.Dataset.from_series(sunspots, embed=(fnn.dim, ami.lag),
                                      test_fraction=TEST_FRACTION)
raw_models = [fit(raw_data, 3, s) for s in SEEDS]


def rmse_sunspots(model, data, to_sunspots, n):
    """Root-mean-square n-year-ahead error in sunspot numbers over the test part."""
    errs = []
    for t in range(len(data.test) - n):
        pred = refrnn.generate_free_run(model, data.test, n, transient=0, start=t)[-1]
        errs.append(to_sunspots(data, pred[None]) - to_sunspots(data, data.test[t + n][None]))
    return float(np.sqrt(np.mean(np.square(errs))))


def sq(data, X):
    return np.maximum(data.destandardize(X)[:, 0], 0.0) ** 2


def raw(data, X):
    return data.destandardize(X)[:, 0]


# Both test parts must start predicting from the same year: the raw embedding spans
# (4-1)*4 = 12 years, the square root's 6, so the square root's first 6 test vectors
# are skipped.
shift = (fnn.dim - 1) * ami.lag - 6
sqrt_test = refrnn.Dataset(sqrt_data.train, sqrt_data.test[shift:], sqrt_data.standardizer,
                           dict(sqrt_data.info))
assert len(sqrt_test.test) == len(raw_data.test)
rows = {}
for n in (1, 3, 5):
    rows[n] = ([rmse_sunspots(m, sqrt_test, sq, n) for m in models[3]],
               [rmse_sunspots(m, raw_data, raw, n) for m in raw_models])
    print(f"n = {n}: RMSE (sunspot numbers) sqrt {median_range(rows[n][0])}, raw "
          f"{median_range(rows[n][1])}")
raw_periods = np.array([free_period(m, raw_data) for m in raw_models])
print("raw free-run periods:", np.round(raw_periods, 2))

# %% [markdown]
# In the full setting neither is clearly better. The square-root models predict better
# one and three years ahead (their median error is 12 % and 5 % smaller), the raw models
# five years ahead (12 % smaller); at three years the ranges over seeds overlap. One of the
# three raw models diverges in its long free run, none of the square-root models does —
# a hint about stability, no more, with three seeds. The transform is a reasonable
# choice, not what makes or breaks the model here; state the one you use and why.

# %%
# Checked in the full setting: the median errors' differences as quoted (rounded to 1 %,
# so +-0.5 %): 1 - sqrt/raw at n = 1 and 3 (the raw error is the larger, so the
# sqrt's is "12 % and 5 % smaller"), 1 - raw/sqrt at n = 5; the seeds' ranges overlap
# at n = 3; one raw free run diverged, no square-root one.
if not QUICK:
    ratio = {n: np.median(rows[n][0]) / np.median(rows[n][1]) for n in rows}  # sqrt / raw
    print({n: round(r, 3) for n, r in ratio.items()})
    assert abs((1 - ratio[1]) - 0.12) <= 0.005 and abs((1 - ratio[3]) - 0.05) <= 0.005, ratio
    assert abs((1 - 1 / ratio[5]) - 0.12) <= 0.005, ratio
    assert min(rows[3][1]) <= max(rows[3][0]), rows[3]
    assert np.isnan(raw_periods).sum() == 1 and not np.isnan(periods[3]).any()

# %% [markdown]
# ## Exercise 3: how far to trust Rosenstein on 300 samples
#
# Two systems with a known $\lambda_{\max}$ (QR method, notebook 03): Lorenz-63 sampled
# every 0.1 time units (about 7 samples per oscillation, a coarse sampling like the
# sunspot cycle's 11 per cycle) and the Hénon map. Each: 300 samples of the first
# coordinate, delay-embedded with the lag and dimension chosen as in the notebook, clean
# and with 10 % observation noise, for several independent series — one series of 300
# samples is a single draw, and the spread over draws is the point.

# %%
n_series = 3 if QUICK else 10
cases = {
    "Lorenz-63, Δt = 0.1": dict(system="lorenz63", sample_every=10, dt=0.1,
                                lam=refrnn.lyapunov_spectrum(Lorenz63(), n_steps=50_000,
                                                             transient=1_000,
                                                             progress=False).exponents[0]),
    "Hénon": dict(system="henon", sample_every=1, dt=1.0,
                  lam=refrnn.lyapunov_spectrum(Henon(), n_steps=50_000, transient=100,
                                               progress=False).exponents[0]),
}
ratios = {}
for name, c in cases.items():
    for noise in (0.0, 0.1):
        est = []
        for seed in range(n_series):
            series = refrnn.generate(c["system"], 300, sample_every=c["sample_every"],
                                     noise=noise, rng=seed, test_fraction=0.0).train[:, 0]
            lag = choose_lag(series, 20).lag
            dim = choose_dim(series, lag, 6).dim
            try:
                lam = refrnn.lyapunov_from_series(refrnn.delay_embed(series, dim, lag),
                                                  dt=c["dt"]).lambda_max
            except ValueError as exc:  # no fit range: the curve saturates at once
                print(f"  {name}, noise {noise:.0%}, series {seed}: no estimate ({exc})"[:110])
                lam = np.nan
            est.append(lam)
        ratios[(name, noise)] = np.array(est) / c["lam"]
        ok = np.isfinite(ratios[(name, noise)])
        print(f"{name:20s} noise {noise:.0%}: estimate / true = "
              f"{median_range(ratios[(name, noise)][ok]) if ok.any() else '-'} over "
              f"{ok.sum()} of {n_series} series")

# %% [markdown]
# What the full setting shows: for Lorenz-63 the estimates of ten series of 300 samples
# range from about half to about twice the true $\lambda_{\max}$, with or without noise.
# For the Hénon map, which doubles distances in less than two steps, the divergence curve
# of most series (7 or 8 of the 10) saturates before it has a straight stretch to fit,
# and the method refuses to give an estimate; the few it gives are less than half the
# true value. (`choose_dim` warns for
# most of the noisy series: on 300 samples the false-neighbour fraction does not get
# below 10 %, and it uses the dimension with the lowest fraction.) So a single estimate
# from 300 sunspot years is an order of magnitude at best — which is how the notebook
# used it — before any doubt about whether the system is chaotic at all.

# %%
# Checked. Lorenz-63, full setting: in both noise levels the ratios of the 10 series
# reach below 0.7 and above 1.5 ("about half to about twice"); Henon: 7 or 8 of the 10
# series give no estimate, and every estimate given is below half the true value. Both
# settings: the Lorenz-63 estimates of different series differ by more than a factor 1.5.
lor = [ratios[("Lorenz-63, Δt = 0.1", noise)] for noise in (0.0, 0.1)]
assert max(r.max() / r.min() for r in lor) > 1.5
if not QUICK:
    for r in lor:
        assert r.min() < 0.7 and r.max() > 1.5, r
    for noise in (0.0, 0.1):
        h = ratios[("Hénon", noise)]
        assert 7 <= np.isnan(h).sum() <= 8 and np.all(h[np.isfinite(h)] < 0.5), ratios
