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
# # Solutions to 04 · Training on chaotic data
#
# Worked solutions to the exercises of `../04_training_on_chaotic_data.ipynb`. As there,
# the quick setting (`REFRNN_QUICK=1`) only checks that the code runs: its training
# budgets are far too small for meaningful models. The comments describe the full
# setting.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE, plot_spectra, plot_training
from refrnn.systems import Lorenz63

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
if QUICK:
    BUDGET = dict(n_epochs=10, batches_per_epoch=5, batch_size=16)
    n_samples, M, n_lyap = 10_000, 15, 5_000
else:
    BUDGET = dict(n_epochs=400, batches_per_epoch=10, batch_size=16)
    n_samples, M, n_lyap = 30_000, 30, 100_000
data = refrnn.generate("lorenz63", n_samples, rng=0)
spec_data = refrnn.lyapunov_spectrum(Lorenz63(dt=data.dt), n_steps=n_lyap, transient=2_000)
lam_qr = spec_data.exponents[0]  # per unit time
print(f"QR: lambda_max = {lam_qr:.4f} per unit time")

# %% [markdown]
# ## Exercise 1: $\tau$ from the data alone
#
# Rosenstein's method follows pairs of nearest neighbours in the series (excluding
# temporal neighbours) and fits the slope of their mean log distance against time.

# %%
ros = refrnn.lyapunov_from_series(data.train, dt=data.dt)
i0, i1 = ros.fit_range
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(ros.times, ros.divergence, label="mean log distance y(t)")
ax.plot(ros.times[i0:i1], ros.intercept + ros.lambda_max * ros.times[i0:i1], "--",
        label=f"fit: slope {ros.lambda_max:.3f}")
ax.set_xlabel("time")
ax.set_title("Rosenstein's divergence curve, Lorenz-63 training series")
ax.legend()
plt.show()
print(f"Rosenstein: {ros.lambda_max:.3f} per unit time; QR on the true system: {lam_qr:.3f}")
print(f"tau_pred: {refrnn.predictability_time(ros.lambda_max, data.dt):.0f} steps (Rosenstein)"
      f" vs {refrnn.predictability_time(lam_qr, data.dt):.0f} steps (QR)")

# %% [markdown]
# The divergence curve rises linearly and then saturates at the attractor's size; the
# slope of the linear part estimates $\lambda_{\max}$. On this clean series the two
# estimates agree to within about 10–20 % — typical for Rosenstein's method, which is
# sensitive to the fit range (always look at the curve). For choosing $\tau$ that is
# ample: the optimum is broad (notebook 04, Section 5).

# %%
# "Within about 10-20 %", checked as at most 20 % in the full setting (the quick setting's
# shorter series is not what the text describes).
rel_diff = abs(ros.lambda_max - lam_qr) / lam_qr
print(f"Rosenstein and QR {rel_diff:.1%} apart")
if not QUICK:
    assert rel_diff <= 0.2

# %% [markdown]
# `train(..., tau="auto")` does the same: without `lambda_max` it runs Rosenstein's
# method on the training series (per sample, since `dt` is not passed) and sets
# $\tau = \mathrm{round}(0.3 \ln 2/\lambda_{\max})$ once (0.3 is the default
# `tau_fraction`), recording how.

# %%
init = refrnn.PLRNN.random(M, data.N, rng=0)
res = refrnn.train(init, data.train, tau="auto", lr=3e-3, rng=1, eval_every=None, **BUDGET)
print("tau used:", res.tau)
print("tau_source:", res.tau_source)

# %% [markdown]
# ## Exercise 2: clipping
#
# Plain BPTT with windows of 300 steps, once with the gradient norm clipped to 1 and once
# without.

# %%
histories, finals = {}, {}
for clip in (1.0, None):
    label = "BPTT, T = 300" + (", clip 1" if clip else ", no clipping")
    try:
        r = refrnn.train(init, data.train, tau=None, clip_norm=clip, seq_len=300, lr=3e-3,
                         rng=1, eval_every=max(1, BUDGET["n_epochs"] // 10),
                         eval_data=data.test, **BUDGET)
        histories[label] = r.history
        finals[label] = refrnn.evaluate(r.model, data.test)[0]
    except refrnn.TrainingDiverged as exc:
        print(f"{label}: {exc}")
fig = plot_training(histories)
fig.axes[0].legend(fontsize=8, loc="upper right")
plt.show()
for label, m in finals.items():
    print(f"{label:28s} D_stsp {m['d_stsp']:.3f}, D_H {m['d_h']:.3f}")

# %% [markdown]
# What the histories show (full setting): in both runs the gradient norm explodes within
# the first few dozen epochs — to $10^{13}$ and more — and the loss spikes with it, as soon
# as the model's orbits start to stretch. Without clipping, one such gradient wrecks the
# optimiser's state: Adam divides each step by the running root-mean-square of past
# gradients, so after a gradient of $10^{21}$ (this run's largest) every later step is
# vanishingly small for thousands of iterations. Training effectively stops, here with a
# model whose free run has collapsed ($D_{\rm stsp}$ stays at its worst value, the gradient
# norm at $\sim 0.3$).
# With clipping, every gradient enters Adam with norm at most 1 and training goes on —
# but the clipped gradient still points wherever the exploding terms point, which is set
# by the few windows whose Jacobian products happened to grow most, not by what improves
# the loss on average. $D_{\rm stsp}$ improves only marginally. Clipping treats the
# symptom (the size of the step), not the cause (the chaotic Jacobian products).

# %%
# The reading above, checked in the full setting (the quick runs are too short): the
# largest gradient norm before clipping of both runs reaches 1e13 ("and more") within the
# first 50 epochs ("a few dozen"); without clipping the final gradient norm is "~0.3"
# (read: between 0.1 and 1); clipping "improves D_stsp only marginally" (read: by less
# than 10 %).
exploded = {}  # label -> epochs whose largest gradient norm reached 1e13
for label, h in histories.items():
    exploded[label] = np.asarray(h["epoch"])[np.asarray(h["grad_norm_max"]) >= 1e13]
    print(f"{label:28s} largest gradient norm {np.nanmax(h['grad_norm_max']):.1e}, "
          f"first >= 1e13 in epoch {exploded[label][:1]}, final {h['grad_norm'][-1]:.3g}")
if not QUICK:
    clip, no_clip = "BPTT, T = 300, clip 1", "BPTT, T = 300, no clipping"
    for epochs in exploded.values():
        assert epochs.size and epochs[0] <= 50
    assert 0.1 <= histories[no_clip]["grad_norm"][-1] <= 1
    assert finals[clip]["d_stsp"] >= 0.9 * finals[no_clip]["d_stsp"]

# %% [markdown]
# ## Exercise 3: the vanilla RNN
#
# Notebook 04's training curves showed that $D_{\rm stsp}$ of a free run jumps from one
# evaluation to the next, so a single final snapshot is a lottery ticket. We therefore
# evaluate every tenth of the run and report the median over the last five evaluations
# along with the final model's numbers.

# %%
models = {
    "PLRNN, τ = 20": refrnn.PLRNN.random(M, data.N, rng=0),
    "RNN, τ = 20": refrnn.VanillaRNN.random(M, data.N, rng=0),
    "RNN, τ = 5": refrnn.VanillaRNN.random(M, data.N, rng=0),
}
spectra = {"Lorenz-63 data": spec_data.exponents * data.dt}
median_d = {}  # label -> median D_stsp of the last five evaluations
for label, init_model in models.items():
    tau = 5 if label.endswith("= 5") else 20
    r = refrnn.train(init_model, data.train, tau=tau, lr=3e-3, rng=1, eval_data=data.test,
                     eval_every=max(1, BUDGET["n_epochs"] // 10), **BUDGET)
    d_hist = r.history["d_stsp"][np.isfinite(r.history["d_stsp"])]
    m, _ = refrnn.evaluate(r.model, data.test)
    median_d[label] = np.median(d_hist[-5:])
    print(f"{label:14s} D_stsp: median of last 5 evaluations {np.median(d_hist[-5:]):.3f}, "
          f"final {m['d_stsp']:.3f};  final D_H {m['d_h']:.3f}")
    try:
        s = refrnn.lyapunov_spectrum(r.model, n_steps=n_lyap // 5, transient=2_000, k=3)
        spectra[label] = (s.exponents, s.stderr)
        print(f"   largest exponent {s.exponents[0]:+.4f} ± {s.stderr[0]:.4f} per step")
    except refrnn.DivergenceError as exc:
        print("   spectrum not available:", exc)
fig = plot_spectra(spectra, ylabel="exponent (per step)", title="first three exponents")
plt.show()

# %% [markdown]
# In our full-setting run (refrnn 0.5.0) none of the three models learned the chaotic
# attractor in 400 epochs: their free runs miss the data's attractor (median
# $D_{\rm stsp}$ of the last five evaluations 3.3, 3.0 and 4.1). The PLRNN ends with a
# negative largest exponent (about $-0.001$ per step, against the data's $+0.009$), i.e. on
# a cycle or a fixed point; the RNN with $\tau = 20$ has a barely positive one
# ($+0.003 \pm 0.001$, a third of the data's: weakly chaotic, on the wrong attractor); the
# RNN with $\tau = 5$ contracts strongly ($-0.04$). (An earlier run, refrnn 0.3.0, whose
# kernels summed in another order, had all three negative: with one seed, which side of
# zero a weakly chaotic model lands on is down to round-off.) The PLRNN run is notebook
# 04's $\tau = 20$ run (same initial model, windows and budget); there only $\tau = 10$
# reached a good model within this budget. Do not over-read this: it is one seed and 400
# epochs. The paper's Lorenz-63 results (3 seeds, $M = 30$, 3000 epochs) even had the
# vanilla RNN *ahead* of the PLRNN at $\tau = 30$ ($D_{\rm stsp}$ 0.20 vs 0.89) — the tanh
# network learns more slowly here, not necessarily worse. What does hold robustly is the
# effect of $\tau$: in the paper both models were far worse at $\tau = 5$ (8.7 and 9.7),
# because forcing that often teaches a model to follow the data for a few steps, not to
# stay on the attractor when it runs freely; here, too, the RNN with $\tau = 5$ is the
# worst of the three and the most strongly contracting. The spectra show the same from the
# dynamical side: a model whose largest exponent is negative has a fixed point or cycle
# where the data have chaos.

# %%
# The statements above, checked in the full setting: the RNN with tau = 5 has the
# largest median D_stsp and the most negative largest exponent, negative by more than
# three standard errors (a fixed point or cycle); no model's median D_stsp is below 1
# (the level above which docs/results/stf_stability.md counts a model as relapsed).
if not QUICK:
    models_only = [k for k in spectra if k != "Lorenz-63 data"]
    lam1 = {k: spectra[k][0][0] for k in models_only}
    tau5 = "RNN, τ = 5"
    assert spectra[tau5][0][0] + 3 * spectra[tau5][1][0] < 0, lam1
    assert all(d > 1 for d in median_d.values()), median_d
    assert max(median_d, key=median_d.get) == tau5 == min(lam1, key=lam1.get)
