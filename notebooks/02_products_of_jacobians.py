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
# # 02 · Products of Jacobians
#
# **What you will learn**
#
# * why every BPTT gradient is built from products of Jacobians
#   $\partial z_T/\partial z_t = J_T J_{T-1}\cdots J_{t+1}$;
# * how the norm of these products behaves along orbits that converge to a fixed point,
#   to a cycle, or wander on a chaotic attractor — Theorems 1–3 of Mikhaeil, Monfared &
#   Durstewitz (NeurIPS 2022);
# * how to build PLRNNs with each kind of dynamics on purpose, and how to verify what
#   they do with their Lyapunov exponents;
# * how to read the growth rate of the loss gradients off a plot, and why it is the
#   largest Lyapunov exponent $\lambda_{\max}$.
#
# **Prerequisites.** Notebook 01 (the backward recursion of BPTT); eigenvalues and matrix
# norms. Lyapunov exponents are introduced here as growth rates and computed with
# `refrnn.lyapunov_spectrum`; notebook 03 explains how that works.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE, plot_log_growth

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
print("setting:", "quick" if QUICK else "full")

N_LYAP = 5_000 if QUICK else 50_000  # measured steps per Lyapunov spectrum
N_WINDOWS = 12 if QUICK else 64  # windows per gradient-norm estimate

# %% [markdown]
# ## 1. Gradients are sums of products of Jacobians
#
# Notebook 01 derived the gradient of the loss $L = \sum_t \ell_t$ of a window. Sorting
# its terms by where the parameters enter gives (the paper's eq. 3)
#
# $$ \frac{\partial L}{\partial \theta}
#    = \sum_{t=1}^{T} \sum_{r=1}^{t}
#      \frac{\partial \ell_t}{\partial z_t}\,
#      \underbrace{\frac{\partial z_t}{\partial z_r}}_{J_t J_{t-1} \cdots J_{r+1}}\,
#      \frac{\partial^+ z_r}{\partial \theta}, $$
#
# where $\partial^+ z_r/\partial\theta$ is the immediate derivative of step $r$. The
# first and last factors are bounded whenever the orbit is (the PLRNN's $\partial^+
# z_r/\partial\theta$ involves only $z_{r-1}$). Everything therefore hinges on the
# products $\partial z_t / \partial z_r$ of $t - r$ Jacobians.
#
# Their typical growth rate along an orbit is the **largest Lyapunov exponent**
#
# $$ \lambda_{\max} = \lim_{n\to\infty} \frac1n \log \bigl\| J_{t_0+n} \cdots J_{t_0+1} \bigr\|, $$
#
# which is the same for (almost) every starting point $t_0$ of the orbit in an
# attractor's basin. Three cases (the paper's Theorems 1–3; gradients as $T \to \infty$):
#
# | attractor | $\lambda_{\max}$ | $\lVert\partial z_T/\partial z_t\rVert$ | loss gradient |
# | --- | --- | --- | --- |
# | stable fixed point or $k$-cycle (Thm. 1) | $< 0$ | $\to 0$ exponentially | bounded |
# | chaotic (Thm. 2) | $> 0$ | $\sim e^{\lambda_{\max}(T-t)}$ | diverges |
# | quasi-periodic (Thm. 3) | $= 0$ | sub-exponential | sub-exponential |
#
# Where does the exponent come from? Near a fixed point $z^*$ all Jacobians approach
# $J^* = \partial F(z^*)$ and the product approaches $(J^*)^n$, whose norm behaves like
# $\rho(J^*)^n$ with the spectral radius $\rho$; so $\lambda_{\max} = \log\rho(J^*)$, and
# the fixed point is stable exactly when this is negative. On a $k$-cycle the same
# argument applies to the product over one period (the *monodromy matrix*)
# $P = J_k \cdots J_1$: $\lambda_{\max} = \frac1k \log \rho(P)$. On a chaotic attractor the
# Jacobians never settle, and $\lambda_{\max} > 0$ means the products grow on average.
#
# ## 2. A family of PLRNNs with one knob
#
# To see all three cases we build PLRNNs with $M = 10$ units that differ in one
# parameter. Recall $z_t = A \odot z_{t-1} + W\,\mathrm{relu}(z_{t-1}) + h$:
#
# * $A_i \sim U(0, 0.9)$: each unit on its own decays (a leaky memory);
# * $h_i \sim U(0.5, 1)$: a positive drive keeps units active;
# * $W = (g\,\xi - \mu)/\sqrt M$ off the diagonal, with $\xi_{ij} \sim \mathcal N(0, 1)$
#   and $\mu = 1$. The negative mean is *global inhibition*: in the all-active orthant
#   the PLRNN is linear, and without inhibition its orbits would escape to infinity
#   there. The **gain** $g$ scales the random part of the coupling, the source of
#   instability.
#
# Small $g$ gives a contraction (a globally stable fixed point); as $g$ grows, the fixed
# point loses stability and cycles and chaos appear. The seed is fixed, so the family
# is one curve through parameter space.

# %%
M, N = 10, 3


def make_plrnn(g, seed=4, mu=1.0):
    rng = np.random.default_rng(seed)
    A = rng.uniform(0.0, 0.9, M)
    W = (g * rng.standard_normal((M, M)) - mu) / np.sqrt(M)
    np.fill_diagonal(W, 0.0)  # the PLRNN's self-coupling is A
    h = rng.uniform(0.5, 1.0, M)
    B = rng.uniform(-1 / np.sqrt(M), 1 / np.sqrt(M), (N, M))
    return refrnn.PLRNN(A, W, h, B)


def period(model, z0, transient=5_000, k_max=64, tol=1e-9):
    """Smallest k <= k_max with z_{t+k} = z_t after the transient (0: none found)."""
    Z = model.simulate(z0, transient + k_max)
    for k in range(1, k_max + 1):
        if np.linalg.norm(Z[-1 - k] - Z[-1]) < tol * (1 + np.linalg.norm(Z[-1])):
            return k
    return 0


z0 = np.random.default_rng(1).standard_normal(M)  # one initial condition for everything

# %% [markdown]
# We scan $g$, and for each model record $\lambda_{\max}$ (after a transient of 5000
# steps) and whether the orbit has become periodic.

# %%
gains = np.round(np.arange(0.5, 2.2001, 0.1 if QUICK else 0.025), 4)
scan_lam, scan_period = [], []
for g in gains:
    model = make_plrnn(g)
    spec = refrnn.lyapunov_spectrum(model, z0, n_steps=N_LYAP, transient=5_000, k=1)
    scan_lam.append(spec.exponents[0])
    scan_period.append(period(model, z0))
scan_lam, scan_period = np.array(scan_lam), np.array(scan_period)

fig, ax = plt.subplots(figsize=(7, 3.4))
kinds = {
    "fixed point": scan_period == 1,
    "cycle (period > 1)": scan_period > 1,
    "not periodic": scan_period == 0,
}
for label, sel in kinds.items():
    ax.plot(gains[sel], scan_lam[sel], "o", ms=4, label=label)
ax.axhline(0, color="k", lw=0.7)
ax.set_xlabel("gain g")
ax.set_ylabel(r"$\lambda_{\max}$ (per step)")
ax.set_title("a route to chaos in a one-parameter family of PLRNNs")
ax.legend()
plt.show()

# %% [markdown]
# Below $g \approx 0.8$ every orbit converges to a fixed point. Then comes a window with
# periodic orbits (negative $\lambda_{\max}$) and quasi-periodic ones ($\lambda_{\max}
# \approx 0$, no period — Theorem 3's case, see Exercise 1), and from $g \approx 1.5$ on
# mostly chaos ($\lambda_{\max} > 0$), interrupted by periodic windows, as in most routes
# to chaos. The two claims that do not depend on where exactly the windows lie, checked
# on this scan (periods come from an exact recurrence test, so "fixed point" is not a
# matter of noise; "mostly" is read as "more than half of the models"):

# %%
assert np.all(scan_period[gains < 0.8] == 1), gains[(gains < 0.8) & (scan_period != 1)]
print(f"g >= 1.5: {np.mean(scan_lam[gains >= 1.5] > 0):.0%} of the models have lambda_max > 0")
assert np.mean(scan_lam[gains >= 1.5] > 0) > 0.5

# %% [markdown]
# We pick one model of each kind:

# %%
models = {"fixed point": make_plrnn(0.5), "cycle": make_plrnn(1.25), "chaos": make_plrnn(2.0)}
spectra, periods = {}, {}
for name, model in models.items():
    spectra[name] = refrnn.lyapunov_spectrum(model, z0, n_steps=N_LYAP, transient=5_000)
    periods[name] = period(model, z0)
    lam, err = spectra[name].exponents[0], spectra[name].stderr[0]
    print(f"{name:12s} period {periods[name]:2d}   lambda_max = {lam:+.4f} ± {err:.4f} per step")
assert periods["fixed point"] == 1 and periods["cycle"] > 1 and periods["chaos"] == 0
assert spectra["chaos"].exponents[0] > 0 > spectra["cycle"].exponents[0]

# %% [markdown]
# For the two periodic models the exponents can be checked against exact values: on a
# $k$-cycle $z_1, \dots, z_k$, every Lyapunov exponent is $\frac1k \log|\mu_i|$ for the
# eigenvalues $\mu_i$ of the monodromy matrix $P = J(z_k) \cdots J(z_1)$ (a fixed point
# is a 1-cycle). The QR estimate over $T$ steps carries an error of order $1/T$ from the
# initial orientation of its tangent frame, so we allow $10^{-3}$.

# %%
for name in ("fixed point", "cycle"):
    model, k = models[name], periods[name]
    orbit = model.simulate(z0, 5_000 + k)[-k:]  # one period on the attractor
    P = np.eye(M)
    for z in orbit:
        P = model.jacobian(z) @ P
    exact = np.sort(np.log(np.abs(np.linalg.eigvals(P))) / k)[::-1]
    err = np.max(np.abs(spectra[name].exponents - exact))
    print(f"{name:12s} QR estimate vs (1/k) log|eig(P)|: max difference {err:.1e}")
    assert err < 1e-3

# %% [markdown]
# What the three orbits look like: the first observed coordinate over time, and a
# projection of the latent states after the transient (the 8-cycle shows as 8 points,
# two of which nearly coincide in this projection):

# %%
fig, axes = plt.subplots(2, 3, figsize=(11, 5.5))
for j, (name, model) in enumerate(models.items()):
    Z = model.simulate(z0, 5_000)
    axes[0, j].plot(model.observe(Z[:150])[:, 0], lw=1)
    axes[0, j].set_title(f"{name}: $\\hat x_1$ from $z_0$")
    axes[0, j].set_xlabel("step t")
    axes[1, j].plot(Z[1_000:, 0], Z[1_000:, 1], "o", ms=1.5 if name == "chaos" else 5,
                    color="C1")
    axes[1, j].set_xlabel("$z_1$")
    axes[1, j].set_ylabel("$z_2$")
    axes[1, j].set_title("latent states, steps 1000–5000")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Products of Jacobians along the orbits
#
# `refrnn.log_jacobian_product_norms(model, z, n)` returns
# $\log\lVert J_t \cdots J_1 \rVert_2$ for $t = 1..n$ along the orbit starting at $z$. It
# rescales the product at every step and carries the scale as a logarithm, so nothing
# overflows however long the product (notebook 03 shows why that matters). We start on
# the attractor, after a transient; by stationarity the norm after $n$ steps is the
# norm of $\partial z_T/\partial z_t$ for any $T - t = n$.

# %%
n_max = 300
n = np.arange(1, n_max + 1)
curves, slopes = {}, {}
for name, model in models.items():
    z_on = model.simulate(z0, 5_000)[-1]
    curves[name] = (n, refrnn.log_jacobian_product_norms(model, z_on, n_max))
    slopes[name] = spectra[name].exponents[0]
fig = plot_log_growth(
    curves, slopes=slopes, xlabel="n = T − t (steps)",
    ylabel=r"$\log\,\|\partial z_T/\partial z_t\|$",
    title="products of Jacobians; dashed: slope $\\lambda_{\\max}$",
)
plt.show()

for name, (x, y) in curves.items():
    fit = np.polyfit(x[50:], y[50:], 1)[0]
    print(f"{name:12s} fitted slope {fit:+.4f}   lambda_max {slopes[name]:+.4f}")

# %% [markdown]
# How close must they be? That depends on what moves a fitted slope:
#
# * on the fixed point and the cycle the curve is $\lambda_{\max} n$ plus a bounded
#   ripple $r(n)$ (the cycle's wiggle); a least-squares slope over $L$ points moves by at
#   most $3\max|r|/L$. We measure the ripple over the last two periods (where a slope
#   error could add little to it) and add the $10^{-3}$ allowed for the QR estimate above;
# * on the chaotic attractor the curve is a random walk around $\lambda_{\max} n$: the
#   slope over $L$ steps is a finite-time exponent, whose standard deviation is the
#   spectrum's batch-means error scaled from `N_LYAP` steps to $L$,
#   $\mathrm{se}\sqrt{N_{\rm lyap}/L}$. We allow three of them.

# %%
for name, (x, y) in curves.items():
    fit = np.polyfit(x[50:], y[50:], 1)[0]
    L, lam = len(x[50:]), slopes[name]
    if name == "chaos":
        tol = 3 * spectra[name].stderr[0] * np.sqrt(N_LYAP / L)
    else:
        last = 2 * max(periods[name], 8)  # steps: two periods, at least 16
        detrended = y[-last:] - lam * x[-last:]
        tol = 3 * np.ptp(detrended) / L + 1e-3
    print(f"{name:12s} |fit - lambda_max| = {abs(fit - lam):.4f}  (allowed {tol:.4f})")
    assert abs(fit - lam) <= tol

# %% [markdown]
# The slopes agree: the product norms shrink like $e^{\lambda_{\max} n}$ on the fixed
# point and the cycle (where $\lambda_{\max} < 0$; the wiggles on the cycle repeat with
# its period) and grow like $e^{\lambda_{\max} n}$ on the chaotic attractor. A single
# orbit's curve fluctuates around the line; the fluctuations shrink relative to $n$ as
# $n$ grows.
#
# ## 4. The loss gradients they produce
#
# Now the quantity that training sees: the gradient of the loss of a window of length $T$
# with respect to all parameters, by plain BPTT (`tau=None`). As data we take each
# model's own orbit, observed with a little noise — the model is the perfect model of
# its data, and the noise keeps the residuals (and so the gradient) away from zero. For
# each $T$ we compute the gradient on `N_WINDOWS` windows separately and average
# $\log \lVert \nabla_\theta L \rVert$ (the *typical* growth; averaging the norms
# themselves would let the rare, most expanding windows dominate).


# %%
def gradient_norm(model, window, tau=None):
    _, grads = refrnn.loss_and_grad(model, window[None], tau=tau)
    return np.sqrt(sum(np.sum(g**2) for g in grads.values()))


Ts = np.array([5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300])
noise = np.random.default_rng(2)
grad_curves = {}
for name, model in models.items():
    X_obs = model.observe(model.simulate(z0, 25_000)[5_000:])
    X_obs = X_obs + 0.05 * X_obs.std(axis=0) * noise.standard_normal(X_obs.shape)
    for tau, label in ((None, name), (10, f"{name}, τ = 10")):
        if tau is not None and name != "chaos":
            continue
        mean_log = []
        for T in Ts:
            windows = refrnn.sample_windows(X_obs, N_WINDOWS, int(T), rng=3)
            mean_log.append(np.mean([np.log(gradient_norm(model, w, tau)) for w in windows]))
        grad_curves[label] = (Ts, np.array(mean_log))

fig = plot_log_growth(
    grad_curves, slopes={"chaos": spectra["chaos"].exponents[0]},
    xlabel="window length T (steps)", ylabel=r"mean $\log\,\|\nabla_\theta L\|$",
    title="loss gradients of plain BPTT vs window length",
)
plt.show()
x, y = grad_curves["chaos"]
fit = np.polyfit(x[x >= 60], y[x >= 60], 1)[0]
print(f"chaos: fitted growth rate {fit:.4f} per step; lambda_max = {slopes['chaos']:.4f}")

# %% [markdown]
# Theorems 1 and 2 in one picture:
#
# * On the fixed point and on the cycle the gradient stays bounded however long the
#   window: contributions from far back are damped by $e^{\lambda_{\max} n}$ with
#   $\lambda_{\max} < 0$. (It even decreases slightly with $T$ here, because the loss is a
#   *mean* over time steps.)
# * On the chaotic attractor, $\log\lVert\nabla_\theta L\rVert$ grows linearly in $T$, with
#   a slope close to $\lambda_{\max}$ (dashed). Doubling the window squares the growth
#   factor: there is no window length at which plain BPTT on chaotic data is
#   well-conditioned — either the window is shorter than the dynamics need, or the
#   gradient explodes.
# * Forcing the state every $\tau = 10$ steps (notebook 01) caps every product at 10
#   Jacobians, and the gradient stays bounded for any $T$ even on the chaotic attractor.
#
# The fitted slope is only an estimate from a finite number of windows of finite length
# (and, for small $T$, includes the transient from the inferred initial state), so expect
# agreement with $\lambda_{\max}$ to a few tens of per cent, not to many digits;
# notebook 03 shows how to compute $\lambda_{\max}$ itself accurately.

# %% [markdown]
# These statements can be checked, too, once we know how precise a fitted slope is. Each
# curve is the mean over `N_WINDOWS` windows (the same start points for every $T$) of
# $\log\lVert\nabla_\theta L\rVert$, and on the chaotic orbit each window's curve grows
# like a finite-time exponent over the $L \approx 240$ steps of the fit: its standard
# deviation is the spectrum's batch-means error scaled to $L$ steps,
# $\mathrm{se}\sqrt{N_{\rm lyap}/L}$, and that of the mean over windows is smaller by
# $\sqrt{N_{\rm windows}}$. One systematic term: the loss is a *mean* over the $T$ steps,
# which multiplies the gradient by $1/T$ and shifts the fitted slope by the slope of
# $-\log T$ over the same $T$. So we expect $\lambda_{\max}$ plus that shift, within three
# standard deviations; the curves that stay bounded must not grow by more than three.

# %%
fit_T = Ts[Ts >= 60]
shift = np.polyfit(fit_T, -np.log(fit_T), 1)[0]
sd = spectra["chaos"].stderr[0] * np.sqrt(N_LYAP / (fit_T[-1] - fit_T[0])) / np.sqrt(N_WINDOWS)
fitted = {label: np.polyfit(x_[x_ >= 60], y_[x_ >= 60], 1)[0]
          for label, (x_, y_) in grad_curves.items()}
print(f"expected for chaos: {slopes['chaos']:.4f} {shift:+.4f} = {slopes['chaos'] + shift:.4f}"
      f" ± {sd:.4f} (one sd)")
for label, value in fitted.items():
    print(f"{label:16s} fitted slope (T >= 60) {value:+.4f}")
assert abs(fitted["chaos"] - (slopes["chaos"] + shift)) <= 3 * sd
assert max(fitted["fixed point"], fitted["cycle"], fitted["chaos, τ = 10"]) <= 3 * sd
assert fitted["fixed point"] < 0  # "even decreases slightly"

# %% [markdown]
# ## 5. What forcing cuts depends on the readout
#
# Forcing replaces the *observed part* of the state by data. With the linear readout
# $\hat x = Bz$ the whole state is inferred, $\tilde z_t = B^+ x_t$, so
# $\partial \tilde z_t/\partial z_t = 0$ and every product of Jacobians is cut at a
# forced step. With the identity readout $\hat x = z_{1:N}$ only the first $N$ states are
# replaced: $\partial \tilde z_t/\partial z_t = P = \mathrm{diag}(0_N, 1_{M-N})$, and the
# product runs on through the $M - N$ unobserved states,
#
# $$ \frac{\partial z_T}{\partial z_r} = J_T \cdots P\,J_{k\tau} \cdots P\,J_{\tau} \cdots J_{r+1}. $$
#
# Whether that product grows is a property of the forced system: its growth rate is the
# largest Lyapunov exponent of the unobserved states *driven by* the observed ones (a
# conditional Lyapunov exponent, as in the synchronisation of chaotic systems; Pecora &
# Carroll 1990). We take the chaotic model of Section 2 once more, observe it through
# both readouts (same $A, W, h$), and measure both the growth rate of the forced product
# and the loss gradients for $\tau = 1$ and $\tau = 10$.

# %%
chaos = models["chaos"]
p = chaos.params
chaos_id = refrnn.PLRNN(p["A"], p["W"], p["h"], readout="identity", n_obs=N)
Z_chaos = chaos.simulate(z0, 25_000)[5_000:]
P_unobs = np.diag([0.0] * N + [1.0] * (M - N))


def forced_growth_rate(model, Z, tau, P):
    """(1/T) log ||P J_T ... P J_1|| with P applied after every tau-th factor."""
    v, log_norm = np.eye(model.M), 0.0
    for t, z in enumerate(Z):
        v = model.jacobian(z) @ v
        if (t + 1) % tau == 0:
            v = P @ v
        nrm = np.linalg.norm(v, 2)
        log_norm += np.log(nrm)
        v /= nrm  # rescale: the logarithm carries the size
    return log_norm / len(Z)


n_rate = 5_000 if QUICK else 20_000
rates = {tau: forced_growth_rate(chaos, Z_chaos[:n_rate], tau, P_unobs) for tau in (1, 10)}
for tau, rate in rates.items():
    print(f"identity readout, tau = {tau:2d}: forced product grows at {rate:+.4f} per step")
print(f"(unforced: lambda_max = {spectra['chaos'].exponents[0]:+.4f} per step)")

readout_curves = {}
for model, X_clean in ((chaos, chaos.observe(Z_chaos)), (chaos_id, Z_chaos[:, :N])):
    X_obs = X_clean + 0.05 * X_clean.std(axis=0) * noise.standard_normal(X_clean.shape)
    for tau in (1, 10):
        mean_log = []
        for T in Ts:
            windows = refrnn.sample_windows(X_obs, N_WINDOWS, int(T), rng=3)
            mean_log.append(np.mean([np.log(gradient_norm(model, w, tau)) for w in windows]))
        readout_curves[f"{model.readout}, τ = {tau}"] = (Ts, np.array(mean_log))
fig = plot_log_growth(
    readout_curves, xlabel="window length T (steps)", ylabel=r"mean $\log\,\|\nabla_\theta L\|$",
    title="STF gradients of the chaotic PLRNN: linear vs identity readout",
)
plt.show()

# %% [markdown]
# With the linear readout both forcing intervals keep the gradient flat. With the
# identity readout, $\tau = 1$ does too — here the unobserved states synchronise to the
# observed ones (a negative conditional growth rate) — but at $\tau = 10$ the free steps
# between forcings let the unobserved subsystem expand, the forced product grows, and the
# gradient grows with the window length as under plain BPTT, only more slowly.
#
# Checked with the standard deviation `sd` of a fitted slope from Section 4 (the growth
# rates of the forced products are averages over `n_rate` steps, so their standard
# deviation is $\mathrm{se}\sqrt{N_{\rm lyap}/n_{\rm rate}}$):

# %%
rate_sd = spectra["chaos"].stderr[0] * np.sqrt(N_LYAP / n_rate)
assert rates[1] < -3 * rate_sd and rates[10] > 3 * rate_sd
readout_fits = {label: np.polyfit(x_[x_ >= 60], y_[x_ >= 60], 1)[0]
                for label, (x_, y_) in readout_curves.items()}
for label, value in readout_fits.items():
    print(f"{label:20s} fitted slope (T >= 60) {value:+.4f}  (3 sd = {3 * sd:.4f})")
assert readout_fits["identity, τ = 10"] > 3 * sd
assert max(v for k, v in readout_fits.items() if k != "identity, τ = 10") <= 3 * sd

# %% [markdown]
# This is why sparse teacher forcing with the identity readout can fail in training:
# in refrnn's measurements on Lorenz-63 (PLRNN, $M = 30$, $N = 3$;
# `docs/results/identity_readout.md` in the repository), the identity readout learned
# nothing at $\tau = 20$ or $30$ — its free runs ended on a fixed point — and learned
# partly at $\tau = 10$ with a warm-up that infers the unobserved part of $z_0$
# (`train`'s default), while the linear readout at $\tau = 30$ learned the attractor.
# `refrnn.train` warns when asked for the identity readout with $\tau > 10$. Forcing
# schemes that damp the whole state, such as generalized teacher forcing (Hess et al.
# 2023), address exactly this.
#
# ## Summary
#
# * BPTT gradients are sums of terms with $\partial z_t/\partial z_r = J_t\cdots J_{r+1}$.
# * Their norms change like $e^{\lambda_{\max}(t-r)}$: decaying on stable fixed points and
#   cycles (Theorem 1), growing on chaotic attractors (Theorem 2).
# * Consequently the loss gradient of plain BPTT stays bounded in the first case and
#   diverges with the window length, at rate $\approx\lambda_{\max}$, in the second —
#   whatever the training method does to the model, once the model reproduces chaotic
#   data it *is* chaotic, and its gradients behave like this.
#
# ## Exercises
#
# Worked solutions: `solutions/02_products_of_jacobians.ipynb`.
#
# 1. **Theorem 3.** The scan above shows models with $\lambda_{\max} \approx 0$ and no
#    period, e.g. $g = 0.875$. Show that its orbit is quasi-periodic (plot a projection of
#    the attractor; compute the two largest exponents), and that
#    $\log\lVert\partial z_T/\partial z_t\rVert$ and the loss gradient grow sub-exponentially
#    (compare with a straight line in $T$ and with $\log T$).
# 2. **The vanilla RNN.** Repeat the scan of Section 2 for `VanillaRNN.random(20, 3,
#    rng=3, gain=g)` with $g \in [0.5, 4]$, find a fixed point, a cycle and a chaotic
#    model, and confirm that the loss gradients behave as for the PLRNN. (The theorems
#    hold for any RNN; the PLRNN only makes their proofs tractable.)
# 3. **When does plain BPTT overflow?** From $\lambda_{\max}$ of the chaotic model,
#    predict the window length at which the gradient exceeds the largest float64
#    ($\approx 1.8\cdot 10^{308}$), then find it with `refrnn.loss_and_grad` (it raises
#    `refrnn.DivergenceError`). Show that with $\tau = 10$ windows of any length are fine.
