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
# # 03 · Lyapunov spectra by QR
#
# **What you will learn**
#
# * what the Lyapunov spectrum of a map is — the growth rates of the singular values of
#   products of Jacobians;
# * why multiplying the Jacobians out and taking an SVD fails long before the estimate
#   converges;
# * the QR (Benettin) method, derived and then implemented step by step in a ten-line
#   loop, and then with `refrnn.lyapunov_spectrum`;
# * how estimates converge, where their error bars come from, and why a flow's zero
#   exponent converges slowly;
# * the spectra of Lorenz-63 and of the Hénon map against published values, the spectrum
#   of an RNN, and the Kaplan–Yorke dimension.
#
# **Prerequisites.** Notebook 02 (products of Jacobians and $\lambda_{\max}$); the QR
# decomposition and the singular value decomposition (SVD) from linear algebra.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE, plot_convergence, plot_spectra
from refrnn.systems import Henon, Lorenz63

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
print("setting:", "quick" if QUICK else "full")

N_HENON = 20_000 if QUICK else 200_000  # measured iterations of the Henon map
N_LORENZ = 20_000 if QUICK else 500_000  # measured RK4 steps of Lorenz-63 (dt = 0.01)

# %% [markdown]
# ## 1. The spectrum: growth rates of singular values
#
# For a map $x_t = F(x_{t-1})$ in $\mathbb R^d$ with Jacobians $J_t = DF(x_{t-1})$, an
# infinitesimal perturbation $v$ of $x_0$ becomes $P_T v$ after $T$ steps, with
# $P_T = J_T J_{T-1}\cdots J_1$. The singular values
# $\sigma_1(P_T) \ge \dots \ge \sigma_d(P_T)$ are the stretching factors of $P_T$ along
# its principal directions, and Oseledets' theorem says that for almost every orbit
#
# $$ \lambda_i = \lim_{T\to\infty} \frac1T \log \sigma_i(P_T) $$
#
# exist and do not depend on $x_0$ (within one attractor's basin). These are the
# **Lyapunov exponents**; $\lambda_1 = \lambda_{\max}$ of notebook 02. For a flow sampled
# with step $\Delta t$ one divides by $T\Delta t$ to get exponents per unit time.
#
# ## 2. Why the obvious computation fails
#
# The obvious way: multiply the Jacobians, take an SVD, divide the log by $T$. Take the
# Hénon map $(x, y) \mapsto (1 - a x^2 + y,\ b x)$ with $a = 1.4$, $b = 0.3$, whose
# spectrum is $(0.41922, -1.62319)$ per iteration. Its Jacobian is
# $\begin{pmatrix} -2ax & 1 \\ b & 0\end{pmatrix}$.

# %%
henon = Henon()
REFERENCE_HENON = np.array([0.41922, -1.62319])
x = henon.simulate(henon.initial_state(), 1_000)[-1]  # a point on the attractor

P = np.eye(2)
naive = []
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    for T in range(1, 2_001):
        P = henon.jacobian(x) @ P
        x = henon.step(x)
        if np.all(np.isfinite(P)):
            sv = np.linalg.svd(P, compute_uv=False)
            naive.append(np.log(sv) / T)
        else:
            naive.append([np.nan, np.nan])
naive = np.array(naive)
overflow = int(np.argmax(np.isnan(naive[:, 0]))) + 1
print(f"the product overflows at T = {overflow}")

fig, ax = plt.subplots(figsize=(6.5, 3.6))
Ts = np.arange(1, len(naive) + 1)
for i in range(2):
    ax.plot(Ts, naive[:, i], color=f"C{i}", label=rf"$\frac{{1}}{{T}}\log\sigma_{i + 1}(P_T)$")
    ax.axhline(REFERENCE_HENON[i], color=f"C{i}", ls=":", lw=1)
ax.axvline(overflow, color="k", lw=0.8, ls="--")
ax.text(overflow, -1.0, "overflow ", ha="right", fontsize=9)
ax.set_xscale("log")
ax.set_xlabel("T (iterations)")
ax.set_title("Hénon map: SVD of the multiplied-out product (dotted: reference)")
ax.legend()
plt.show()

# %% [markdown]
# Two failures, at very different times:
#
# * $\sigma_2$ goes wrong after 15–20 iterations. In floating point, $P_T$ is known
#   only to a relative accuracy $\varepsilon_{\rm mach} \approx 10^{-16}$ *of its largest
#   entries*, so a singular value below $\sigma_1 \varepsilon_{\rm mach}$ is lost in
#   round-off. Since $\sigma_2/\sigma_1 \approx e^{(\lambda_2-\lambda_1)T}$, that happens
#   at $T \approx \log(10^{16})/(\lambda_1-\lambda_2) = 36.8/2.04 \approx 18$. From then
#   on the "second exponent" is noise that tracks $\lambda_1$.
# * The product itself overflows when $\sigma_1 \approx e^{\lambda_1 T}$ exceeds
#   $1.8\cdot 10^{308}$, at $T \approx 709/0.42 \approx 1700$ — still far too short for a
#   converged estimate.
#
# ## 3. The QR method
#
# The fix (Benettin et al. 1980; Eckmann & Ruelle 1985) never forms $P_T$. Start from an
# orthonormal frame $Q_0$ (e.g. $I$) and, at every step, multiply by the next Jacobian and
# re-orthonormalise with a QR decomposition (with positive diagonal of $R$):
#
# $$ J_t\, Q_{t-1} = Q_t R_t , \qquad t = 1, 2, \dots $$
#
# By induction, $P_T Q_0 = Q_T\, R_T R_{T-1} \cdots R_1$: indeed
# $J_{t} (Q_{t-1} R_{t-1}\cdots R_1) = Q_t R_t R_{t-1}\cdots R_1$. A product of upper
# triangular matrices is upper triangular, and its diagonal is the product of the
# diagonals. Now read the columns: the first $k$ columns of $P_T Q_0$ span a
# parallelepiped whose $k$-volume is $\prod_{i\le k}(R_T\cdots R_1)_{ii}$ (the $Q_T$ factor
# is a rotation). For a generic starting frame that volume grows like
# $e^{(\lambda_1 + \dots + \lambda_k) T}$, so
#
# $$ \lambda_i = \lim_{T\to\infty} \frac1T \sum_{t=1}^{T} \log\, (R_t)_{ii} . $$
#
# Every $R_t$ describes the stretching of a single step, so nothing overflows, and the
# orthonormal $Q_t$ keeps every direction resolved to full precision. The whole algorithm
# for the Hénon map, with `henon.jacobian` and `numpy.linalg.qr` (whose $R$ may have
# negative diagonal entries — flipping signs does not change $|R_{ii}|$):

# %%
x = henon.simulate(henon.initial_state(), 1_000)[-1]  # discard a transient
Q = np.eye(2)
log_r = np.zeros(2)
for _ in range(N_HENON):
    Q, R = np.linalg.qr(henon.jacobian(x) @ Q)
    log_r += np.log(np.abs(np.diag(R)))
    x = henon.step(x)
by_hand = log_r / N_HENON
print("QR loop by hand:      ", by_hand.round(5))

spec_henon = refrnn.lyapunov_spectrum(henon, n_steps=N_HENON, transient=1_000)
print("refrnn.lyapunov_spectrum:", spec_henon.exponents.round(5), "±", spec_henon.stderr.round(5))
print("reference:            ", REFERENCE_HENON)
print(f"sum of exponents {spec_henon.exponents.sum():.12f}  vs  log b = {np.log(0.3):.12f}")

# %% [markdown]
# The last line is an exact identity: summing $\log (R_t)_{ii}$ over $i$ gives
# $\log|\det J_t|$, and the Hénon map has $\det J = -b$ everywhere, so
# $\lambda_1 + \lambda_2 = \log b$ to round-off, whatever the run length. The individual
# exponents are statistical estimates; they agree with the references within a few
# standard errors.
#
# Both statements, and the overflow time of Section 2, as checks. Round-off: a sum of $N$
# terms carries a relative error of at most $N\varepsilon_{\rm mach}$. "A few standard
# errors": four. The overflow time $T_{\rm o}$ is where $\log\sigma_1(P_T)$, a random
# walk around $\lambda_1 T$, crosses $\log(1.8\cdot10^{308}) = 709.78$; its spread at
# $T_{\rm o}$ is the batch-means error scaled to $T_{\rm o}$ steps,
# $\mathrm{se}_1\sqrt{N\,T_{\rm o}}$, i.e. $\mathrm{se}_1\sqrt{N\,T_{\rm o}}/\lambda_1$
# in steps; we allow three of those.

# %%
eps = np.finfo(float).eps
assert abs(spec_henon.exponents.sum() - np.log(0.3)) <= N_HENON * eps * abs(np.log(0.3))
z_scores = (spec_henon.exponents - REFERENCE_HENON) / spec_henon.stderr
print("Hénon: (estimate - reference) / stderr =", z_scores.round(2))
assert np.all(np.abs(z_scores) < 4)
T_overflow = np.log(np.finfo(float).max) / REFERENCE_HENON[0]
spread = spec_henon.stderr[0] * np.sqrt(N_HENON * T_overflow) / REFERENCE_HENON[0]
print(f"overflow at T = {overflow}; predicted {T_overflow:.0f} ± {spread:.0f}")
assert abs(overflow - T_overflow) < 3 * spread

# %% [markdown]
# `refrnn.lyapunov_spectrum` does the same with a Householder QR in compiled code, plus
# what a careful implementation needs: a transient for the orbit, a second one for the
# tangent frame to align with the Oseledets directions, a random initial frame,
# per-block records for error bars, and overflow checks that name the step.
#
# ## 4. Convergence and error bars: Lorenz-63
#
# Lorenz-63 is a flow; refrnn integrates it with RK4 ($\Delta t = 0.01$) and uses the
# exact derivative of the RK4 step as the Jacobian, so the exponents are those of the
# discrete map, per unit time. Published values (Sprott): $(0.9056, 0, -14.5723)$. The
# divergence of the vector field is the constant $-(\sigma + 1 + \beta)$, so
# $\sum_i\lambda_i = -13.6667$ (to the RK4 error).

# %%
lorenz = Lorenz63()
REFERENCE_LORENZ = np.array([0.9056, 0.0, -14.5723])
spec_lorenz = refrnn.lyapunov_spectrum(lorenz, n_steps=N_LORENZ, transient=2_000,
                                       n_blocks=40 if QUICK else 100)
print(spec_lorenz)
print("stderr:", spec_lorenz.stderr.round(4), "  sum:", spec_lorenz.exponents.sum().round(5))

# Published values within four standard errors (the zero exponent: |estimate| within
# four). The sum of the exponents is the mean of log|det J| of the RK4 step over the orbit,
# which differs from the flow's -(sigma + 1 + beta) dt only by the RK4 error; we measure
# that difference per step along 2000 steps of the attractor and allow twice its largest
# value (the sample may miss the worst point of the attractor).
z_scores = (spec_lorenz.exponents - REFERENCE_LORENZ) / spec_lorenz.stderr
print("Lorenz-63: (estimate - reference) / stderr =", z_scores.round(2))
assert np.all(np.abs(z_scores) < 4)
orbit = lorenz.simulate(lorenz.initial_state(), 4_000)[2_000:]
rk4_error = np.max(np.abs([np.linalg.slogdet(lorenz.jacobian(x))[1] / lorenz.dt + 41 / 3
                           for x in orbit]))
print(f"sum + 41/3 = {spec_lorenz.exponents.sum() + 41 / 3:+.2e}; RK4 error of log det J / dt "
      f"along the orbit: up to {rk4_error:.2e}")
assert abs(spec_lorenz.exponents.sum() + 41 / 3) <= 2 * rk4_error

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
plot_convergence(spec_lorenz, reference=REFERENCE_LORENZ, indices=[0], ax=axes[0],
                 title=r"running estimate of $\lambda_1$ (dotted: reference)")
time, estimates = spec_lorenz.running_estimate()
envelope = np.max(np.abs(estimates[:, 1]) * time)  # the tightest c with |estimate| <= c / t
axes[1].loglog(time, np.abs(estimates[:, 1]), "o-", ms=3, label=r"$|\hat\lambda_2|$")
axes[1].loglog(time, envelope / time, "k--", lw=1, label=r"$c\,/\,t$")
axes[1].xaxis.set_minor_formatter(plt.NullFormatter())
axes[1].set_xlabel("measured time")
axes[1].set_title("the zero exponent: errors bounded by c / t")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# **Error bars.** The run is split into `n_blocks` consecutive blocks (default 20; here
# more, to draw the convergence in detail); each
# gives its own estimate, and the standard error is the standard deviation of the block
# estimates over $\sqrt{n_{\rm blocks}}$ ("batch means"). This assumes blocks much longer
# than the correlation time of the local stretching rates — true here — and it measures
# only the statistical scatter. It does *not* include the bias of a finite run, and that
# is what dominates the zero exponent of a flow: a perturbation along the flow direction
# neither grows nor shrinks on average, but its size along the orbit fluctuates (the
# speed varies), and the estimate is that bounded fluctuation divided by $t$ — hence the
# $c/t$ envelope in the right panel (the estimate itself wanders below it, changing sign).
# The positive and the negative exponents converge like $1/\sqrt t$, as averages of
# fluctuating local rates do.
#
# `spec.running_estimate()` is computed from the per-block records, so drawing the
# convergence costs no second run.
#
# ## 5. The spectrum of an RNN
#
# Everything above works for refrnn's models too (they are maps; exponents per step).
# Take the chaotic vanilla RNN of notebook 01, with $M = 20$ units: it has 20 exponents.
# For any map, summing the QR logs telescopes to $\sum_i \lambda_i = \frac1T \sum_t
# \log|\det J_t|$ along the orbit; we check it on the very orbit the spectrum used.

# %%
rnn = refrnn.VanillaRNN.random(20, 3, rng=1, gain=3.0)
x0 = np.full(20, 0.1)
n_rnn, transient, tangent_transient = (5_000 if QUICK else 100_000), 1_000, 1_000
spec_rnn = refrnn.lyapunov_spectrum(rnn, x0, n_steps=n_rnn, transient=transient,
                                    tangent_transient=tangent_transient)
print(spec_rnn)

# the Jacobians of the measured steps are taken at states transient + tangent_transient + t
Z = rnn.simulate(x0, transient + tangent_transient + n_rnn)
measured = Z[transient + tangent_transient : -1]
mean_logdet = np.mean([np.linalg.slogdet(rnn.jacobian(z))[1] for z in measured])
print(f"sum of exponents {spec_rnn.exponents.sum():.10f}, mean log|det J| {mean_logdet:.10f}")
assert abs(spec_rnn.exponents.sum() - mean_logdet) < 1e-8

fig = plot_spectra({"vanilla RNN, M = 20": (spec_rnn.exponents, spec_rnn.stderr)},
                   ylabel="exponent (per step)", title="Lyapunov spectrum of a chaotic RNN")
plt.show()

# %% [markdown]
# Three positive exponents (the third is small and may be a quasi-neutral direction of
# this discrete-time map — its error bar tells you whether to trust its sign), and
# seventeen negative ones: the attractor is a thin object in $\mathbb R^{20}$.

# %%
# The count above is for the full setting; the quick setting's short run can only tell
# the two clearly positive exponents (more than four standard errors above zero) and the
# clearly negative tail.
print("exponent / stderr:", (spec_rnn.exponents[:5] / spec_rnn.stderr[:5]).round(1))
assert np.all(spec_rnn.exponents[:2] > 4 * spec_rnn.stderr[:2])
assert np.all(spec_rnn.exponents[3:] < 0)
if not QUICK:
    assert np.sum(spec_rnn.exponents > 0) == 3

# %% [markdown]
# ## 6. The Kaplan–Yorke dimension
#
# How thin? With exponents sorted, let $j$ be the largest index with
# $\lambda_1 + \dots + \lambda_j \ge 0$: $j$-dimensional volumes do not shrink on the
# attractor, but $(j{+}1)$-dimensional ones do. Interpolating linearly between the two
# (Kaplan & Yorke 1979) gives the **Lyapunov dimension**
#
# $$ D_{KY} = j + \frac{\lambda_1 + \dots + \lambda_j}{|\lambda_{j+1}|} , $$
#
# a conjectured estimate of the attractor's information dimension. It is 0 for a stable
# fixed point or cycle ($\lambda_1 < 0$).

# %%
for name, spec, ref in (
    ("Lorenz-63", spec_lorenz, "≈ 2.06"),
    ("Hénon", spec_henon, "≈ 1.26"),
    ("vanilla RNN", spec_rnn, ""),
):
    print(f"{name:12s} D_KY = {spec.kaplan_yorke:.3f}  {ref}")
print("by hand for Lorenz-63:", round(refrnn.kaplan_yorke_dimension(REFERENCE_LORENZ), 3))

# The quoted values are rounded to 0.01 (so +-0.005); the spread of D_KY from the
# exponents' standard errors is sqrt(se_1^2 + ... + se_j^2) / |lambda_{j+1}| for j = 2
# (Lorenz-63) and j = 1 (Hénon); four of those on top.
for spec, quoted, j in ((spec_lorenz, 2.06, 2), (spec_henon, 1.26, 1)):
    spread = np.sqrt(np.sum(spec.stderr[:j] ** 2)) / abs(spec.exponents[j])
    assert abs(spec.kaplan_yorke - quoted) <= 0.005 + 4 * spread, (spec.kaplan_yorke, quoted)

# %% [markdown]
# Lorenz-63: areas on the attractor grow ($\lambda_1 + \lambda_2 > 0$) while volumes shrink
# fast, and $D_{KY} = 2 + (\lambda_1+\lambda_2)/|\lambda_3| \approx 2.06$ — the attractor is a
# slightly "thickened" surface. For an RNN trained on Lorenz-63 data one would hope
# for a similar value; notebook 04 compares the spectrum and dimension of trained models
# with the data's.
#
# ## Summary
#
# * $\lambda_i = \lim \frac1T \log\sigma_i(J_T\cdots J_1)$; forming the product loses all
#   but the leading exponent after $\sim 37/(\lambda_1-\lambda_d)$ steps and overflows after
#   $\sim 709/\lambda_1$.
# * QR method: $J_t Q_{t-1} = Q_t R_t$, $\lambda_i = \frac1T\sum_t \log (R_t)_{ii}$; exact
#   identities (sum of exponents $= $ mean $\log|\det J|$) make good tests.
# * Error bars from block means capture scatter, not the $1/t$ bias of a flow's zero
#   exponent.
# * $D_{KY}$ turns a spectrum into a dimension.
#
# ## Exercises
#
# Worked solutions: `solutions/03_lyapunov_spectra_by_qr.ipynb`.
#
# 1. **The logistic map.** For $x \mapsto r x(1-x)$ the "QR" step is just $|f'(x)|$.
#    Compute $\lambda$ at $r = 4$ by hand and with `refrnn.lyapunov_spectrum(
#    refrnn.systems.Logistic(4.0))` and compare with the exact $\ln 2$. At $r = 3.2$ the
#    orbit is a 2-cycle: find it, and check the exponent against
#    $\frac12\log|f'(x_1)f'(x_2)|$.
# 2. **How often must one re-orthonormalise?** `lyapunov_spectrum(..., reortho_every=m)`
#    multiplies $m$ Jacobians into the frame before each QR. Compute the Hénon spectrum
#    for $m = 1, 5, 10, 20, 30$ and explain, with the argument of Section 2, where and why
#    the second exponent breaks down.
# 3. **Rössler.** Compute the spectrum and $D_{KY}$ of the Rössler flow
#    (`refrnn.systems.Rossler()`, $a = b = 0.2$, $c = 5.7$) and compare with the reference
#    $(0.0714, 0, -5.3943)$, $D_{KY} \approx 2.013$. How long a run do you need for
#    $\lambda_1$ to be within 5 % — and why is that much longer than for Lorenz-63?
