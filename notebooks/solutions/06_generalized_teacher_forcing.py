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
# # Solutions to 06 · Generalized teacher forcing
#
# Worked solutions to the exercises of `../06_generalized_teacher_forcing.ipynb`. The
# setup cell rebuilds the notebook's chaotic PLRNN and its gradient helper. The quick
# setting (`REFRNN_QUICK=1`) uses fewer and shorter windows; the comments describe the
# full setting.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE, plot_log_growth
from refrnn.training import gtf_alpha

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
N_WINDOWS = 4 if QUICK else 16
Ts = np.array((10, 50, 100, 150) if QUICK else (10, 25, 50, 75, 100, 150, 200, 250, 300))
N_LYAP = 3_000 if QUICK else 50_000
M, N = 10, 3


def make_plrnn(g, seed=4, mu=1.0):
    rng = np.random.default_rng(seed)
    A = rng.uniform(0.0, 0.9, M)
    W = (g * rng.standard_normal((M, M)) - mu) / np.sqrt(M)
    np.fill_diagonal(W, 0.0)
    h = rng.uniform(0.5, 1.0, M)
    B = rng.uniform(-1 / np.sqrt(M), 1 / np.sqrt(M), (N, M))
    return refrnn.PLRNN(A, W, h, B)


def gradient_norm(model, window, tau=None, alpha=None):
    _, grads = refrnn.loss_and_grad(model, window[None], tau=tau, alpha=alpha)
    return np.sqrt(sum(np.sum(g**2) for g in grads.values()))


def slope(model, X_obs, **kw):
    """Fitted slope (T >= 50) of the mean log gradient norm over N_WINDOWS windows."""
    mean_log = []
    for T in Ts:
        ws = refrnn.sample_windows(X_obs, N_WINDOWS, int(T), rng=3)
        mean_log.append(np.mean([np.log(gradient_norm(model, w, **kw)) for w in ws]))
    mean_log = np.array(mean_log)
    return np.polyfit(Ts[Ts >= 50], mean_log[Ts >= 50], 1)[0], mean_log


chaos = make_plrnn(2.0)
z0 = np.random.default_rng(1).standard_normal(M)
lam = refrnn.lyapunov_spectrum(chaos, z0, n_steps=N_LYAP, transient=5_000).exponents[0]
Z = chaos.simulate(z0, 25_000)[5_000:]
X_obs = chaos.observe(Z)
X_obs = X_obs + 0.05 * X_obs.std(axis=0) * np.random.default_rng(2).standard_normal(X_obs.shape)

# %% [markdown]
# ## Exercise 1: the two identities
#
# $\alpha = 0$ passes $\tilde z_t = z_t$ on: nothing is forced after $z_0$, which is plain
# BPTT. $\alpha = 1$ passes $\tilde z_t = \hat z_t$ at every step: STF with $\tau = 1$. In
# both cases the backward pass scales by $1 - \alpha \in \{1, 0\}$, so the gradients agree
# too. Both paths compute the same floating-point operations up to the multiplications by
# exactly 1 or 0, so we expect agreement to rounding, and allow $10^{-12}$ relative.

# %%
data = refrnn.generate("lorenz63", 5_000, rng=0)
windows = refrnn.sample_windows(data.train, 8, 50, rng=1)
sh = refrnn.ShallowPLRNN.random(5, 3, L=20, rng=0)
for alpha, reference in ((0.0, dict(tau=None)), (1.0, dict(tau=1))):
    loss_a, grads_a = refrnn.loss_and_grad(sh, windows, alpha=alpha)
    loss_r, grads_r = refrnn.loss_and_grad(sh, windows, **reference)
    worst = max(np.max(np.abs(grads_a[k] - grads_r[k])) / (np.max(np.abs(grads_r[k])) + 1e-300)
                for k in grads_r)
    print(f"alpha = {alpha} vs {reference}: loss {loss_a:.12g} vs {loss_r:.12g}, "
          f"largest relative gradient difference {worst:.2e}")
    assert abs(loss_a - loss_r) <= 1e-12 * abs(loss_r)
    assert worst <= 1e-12

# %% [markdown]
# ## Exercise 2: the critical α
#
# We scan $\alpha$ and fit the slope of $\log\lVert\nabla_\theta L\rVert$ against $T$.

# %%
alpha_grid = np.round(np.linspace(0.0, 0.3, 7 if QUICK else 16), 3)
slopes = np.array([slope(chaos, X_obs, alpha=a)[0] for a in alpha_grid])
alpha_lam = 1 - np.exp(-lam)
alpha_star = gtf_alpha(chaos, refrnn.sample_windows(X_obs, N_WINDOWS, 100, rng=3))
noise_slope = 0.3 * lam  # fit noise, as in the notebook
crossing = alpha_grid[np.argmax(slopes <= noise_slope)]
fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(alpha_grid, slopes, "o-", label="fitted slope")
ax.plot(alpha_grid, np.log(1 - alpha_grid) + lam, "--", label=r"$\log(1-\alpha)+\lambda_{\max}$")
ax.axhline(0, color="k", lw=0.7)
ax.axvline(alpha_lam, color="C1", ls=":", label=r"$\alpha_\lambda = 1-e^{-\lambda_{\max}}$")
ax.set_xlabel(r"$\alpha$")
ax.set_ylabel("growth rate of the gradient (per step)")
ax.legend(fontsize=8)
plt.show()
print(f"first alpha with a bounded gradient: {crossing}; alpha_lambda = {alpha_lam:.3f}, "
      f"alpha* (gtf_alpha) = {alpha_star:.3f}")

# %% [markdown]
# The slope falls with $\alpha$ and reaches zero somewhere above $\alpha_\lambda$ (where
# the dashed line crosses zero) and far below $\alpha^*$:
#
# * **Above $\alpha_\lambda$**, because the forced states $\tilde z_t$ are pulled towards
#   $B^+ x_t$, off the model's attractor, and the products of Jacobians there grow faster
#   than $e^{\lambda_{\max}}$ per step.
# * **Below $\alpha^*$**, because $\alpha^*$ bounds the product by the product of the
#   norms, $\|J_T\cdots J_1\| \le \prod\|J_t\|$, and single Jacobians stretch some
#   direction much more than products do on average (the most stretched directions of
#   consecutive Jacobians are not aligned). The bound guarantees bounded gradients in
#   every window; it pays with more forcing than needed.
#
# Checked (the full setting's grid, with the fit noise of the notebook):

# %%
if not QUICK:
    assert alpha_lam < crossing < alpha_star, (alpha_lam, crossing, alpha_star)

# %% [markdown]
# ## Exercise 3: GTF every τ steps
#
# With `tau` and `alpha` together the state is mixed only at every $\tau$-th step, so a
# product over $n$ steps carries $(1-\alpha)$ only $\lfloor n/\tau \rfloor$ times: per step
# the growth is at most $(1-\alpha)^{1/\tau}\,G$, i.e. the slope drops by
# $-\log(1-\alpha)/\tau$ instead of $-\log(1-\alpha)$. For $\tau = 5$, $\alpha = 0.5$ that is
# $\log 2 / 5 \approx 0.139$ per step — more than $\lambda_{\max} \approx 0.084$ of this
# model, so on the typical rate the gradient should stay bounded, while GTF with
# $\alpha = 0.5$ at every step damps by $\log 2 \approx 0.69$ per step and STF with
# $\tau = 5$ cuts the products completely.

# %%
curves, fits = {}, {}
for label, kw in {"BPTT": {}, "GTF α = 0.5, τ = 5": dict(tau=5, alpha=0.5),
                  "GTF α = 0.5": dict(alpha=0.5), "STF τ = 5": dict(tau=5)}.items():
    fits[label], mean_log = slope(chaos, X_obs, **kw)
    curves[label] = (Ts, mean_log)
fig = plot_log_growth(curves, xlabel="window length T (steps)",
                      ylabel=r"mean $\log\,\|\nabla_\theta L\|$",
                      title="sparse GTF against BPTT, GTF and STF")
plt.show()
for k, s in fits.items():
    print(f"{k:20s} fitted slope {s:+.4f} per step")

# %% [markdown]
# Sparse GTF keeps the gradient bounded here, like the other two forcing schemes, while
# BPTT grows at $\approx\lambda_{\max}$. Checked in the full setting, with the notebook's
# fit noise $0.3\,\lambda_{\max}$:

# %%
if not QUICK:
    assert fits["GTF α = 0.5, τ = 5"] <= noise_slope, fits
    assert fits["BPTT"] >= lam - noise_slope, fits
