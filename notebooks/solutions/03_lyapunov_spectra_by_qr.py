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
# # Solutions to 03 · Lyapunov spectra by QR
#
# Worked solutions to the exercises of `../03_lyapunov_spectra_by_qr.ipynb`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE, plot_convergence
from refrnn.systems import Henon, Logistic, Rossler

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")

# %% [markdown]
# ## Exercise 1: the logistic map
#
# In one dimension the QR step $J_t Q_{t-1} = Q_t R_t$ is just $R_t = |f'(x_{t-1})|$
# (with $Q_t = \pm 1$), so $\lambda = \frac1T \sum_t \log|f'(x_{t-1})|$ with
# $f'(x) = r(1 - 2x)$. At $r = 4$ the map is conjugate to the tent map (via
# $x = \sin^2(\pi y/2)$), and $\lambda = \ln 2$ exactly.

# %%
n = 20_000 if QUICK else 1_000_000
logistic = Logistic(4.0)
x = logistic.simulate(logistic.initial_state(), 1_000)[-1]
orbit = logistic.simulate(x, n)[:-1, 0]
by_hand = np.mean(np.log(np.abs(4.0 * (1 - 2 * orbit))))
spec = refrnn.lyapunov_spectrum(logistic, n_steps=n, transient=1_000)
print(f"by hand {by_hand:.5f}, refrnn {spec.exponents[0]:.5f} ± {spec.stderr[0]:.5f}, "
      f"ln 2 = {np.log(2):.5f}")

# %% [markdown]
# At $r = 3.2$ the fixed point $1 - 1/r$ is unstable and the attractor is a 2-cycle:
# the solutions of $f(f(x)) = x$ other than the fixed points,
# $x_\pm = \bigl(r + 1 \pm \sqrt{(r-3)(r+1)}\bigr) / (2r)$. Its exponent is
# $\frac12 \log|f'(x_+) f'(x_-)|$.

# %%
r = 3.2
x_pm = (r + 1 + np.array([1, -1]) * np.sqrt((r - 3) * (r + 1))) / (2 * r)
assert np.allclose(r * x_pm * (1 - x_pm), x_pm[::-1])  # f swaps the two points
exact = 0.5 * np.log(abs(np.prod(r * (1 - 2 * x_pm))))
spec = refrnn.lyapunov_spectrum(Logistic(r), n_steps=10_000, transient=1_000)
print(f"2-cycle {x_pm.round(6)}: exact {exact:.10f}, refrnn {spec.exponents[0]:.10f}")
assert abs(spec.exponents[0] - exact) < 1e-8

# %% [markdown]
# (On a cycle every step's $R$ is known exactly, so the estimate matches to round-off
# once the transient is over.)
#
# ## Exercise 2: how often must one re-orthonormalise?
#
# Between two QR factorisations the frame $Y = J_{t+m}\cdots J_{t+1} Q_t$ is multiplied
# out, and its columns align with the most expanding direction: its condition number grows
# like $e^{(\lambda_1 - \lambda_2) m}$. Householder QR is backward stable — it computes
# the exact factorisation of a matrix within $\varepsilon_{\rm mach}\lVert Y\rVert$ of $Y$
# — so $R_{22} \approx \sigma_2(Y)$ is determined only to an absolute error of about
# $\varepsilon_{\rm mach}\sigma_1(Y)$. It is lost when
# $e^{(\lambda_1-\lambda_2)m} \gtrsim 1/\varepsilon_{\rm mach}$, i.e.
# $m \gtrsim 36.7/(\lambda_1 - \lambda_2) \approx 18$ for the Hénon map — the same
# argument as for the naive SVD in Section 2 of the notebook.

# %%
henon = Henon()
n = 20_000 if QUICK else 200_000
rows = []
for m in (1, 5, 10, 15, 20, 30):
    s = refrnn.lyapunov_spectrum(henon, n_steps=n, transient=1_000, reortho_every=m)
    rows.append((m, *s.exponents))
    print(f"reortho_every = {m:2d}:  lambda = {s.exponents.round(5)}")
print(f"breakdown expected near m = {np.log(1 / np.finfo(float).eps) / (0.41922 + 1.62319):.1f}")

# %% [markdown]
# Up to $m = 10$ the spectrum is the same to all printed digits; at $m = 15$
# ($e^{2.04 \cdot 15} \approx 2\cdot10^{13}$) the second exponent starts to move; from
# $m = 20$ on it is lost altogether: the two columns of $Y$ are parallel to working
# precision, the computed $R_{22}$ is round-off or exactly zero, and the exponent comes
# out as noise or $-\infty$. The first exponent is unaffected: $R_{11}$ is always
# resolved. For an RNN with $M$ exponents the relevant gap is
# $\lambda_1 - \lambda_k$ for the last exponent you need, which for strongly contracting
# directions can be large; `reortho_every=1` is the safe default.
#
# ## Exercise 3: Rössler

# %%
rossler = Rossler()
n = 200_000 if QUICK else 2_000_000  # steps of dt = 0.01
REFERENCE = np.array([0.0714, 0.0, -5.3943])
spec = refrnn.lyapunov_spectrum(rossler, n_steps=n, transient=10_000, n_blocks=40)
print(spec)
print("stderr", spec.stderr.round(4), " D_KY =", round(spec.kaplan_yorke, 4), "(reference 2.013)")
fig = plot_convergence(spec, reference=REFERENCE, indices=[0, 1],
                       title="Rössler: running estimates (dotted: reference)")
plt.show()

time, est = spec.running_estimate()
within = np.abs(est[:, 0] / REFERENCE[0] - 1) < 0.05
settled = next((t for i, t in enumerate(time) if within[i:].all()), None)
print(f"the running estimate of lambda_1 stays within 5 % from t = {settled} time units on")

# %% [markdown]
# $\lambda_1 = 0.0714$ per unit time is small, while the local stretching rate along the
# orbit fluctuates by much more than that over one revolution (period $\approx 6$ time
# units): the orbit spends most of its time in the slowly rotating, hardly stretching
# part near the $(x, y)$ plane and stretches only during the short excursions in $z$. The
# estimate is an average of these fluctuations, and its *relative* error after time $t$
# is roughly (fluctuation $\times\sqrt{\text{correlation time}/t})/\lambda_1$ — large for a
# small $\lambda_1$. Lorenz-63's $\lambda_1 = 0.91$ is more than ten times larger with
# fluctuations of similar size, so the same relative accuracy takes ~100 times less
# time. $D_{KY} = 2 + \lambda_1/|\lambda_3|$ inherits the relative error of $\lambda_1$
# (times 0.013), so it converges much faster in absolute terms.
