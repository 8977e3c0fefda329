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
# # 01 · Anatomy of an RNN
#
# **What you will learn**
#
# * the two recurrent models refrnn implements — the piecewise-linear RNN (PLRNN) and the
#   vanilla tanh RNN — their update equations, parameters and Jacobians;
# * what the forward pass computes on a window of data, and how the loss is defined;
# * how to derive backpropagation through time (BPTT) by hand as a backward recursion,
#   and how to implement it in a dozen lines of NumPy;
# * how to check any gradient against central finite differences, and why the step size
#   matters;
# * what (sparse) teacher forcing does to the computation graph — and so to the gradients
#   that flow through it.
#
# **Prerequisites.** Python and NumPy; the chain rule for functions of vectors (Jacobian
# matrices); matrix products. No previous knowledge of RNNs is assumed. The notebook
# follows Sections 2–3 of Mikhaeil, Monfared & Durstewitz, *On the difficulty of learning
# chaotic dynamics with RNNs*, NeurIPS 2022 (arXiv:2110.07238).
#
# **Settings.** Every notebook in this folder runs in two settings: the *full* one (the
# default) and a *quick* one, selected by the environment variable `REFRNN_QUICK=1`, that
# the test suite uses to execute all notebooks in a few minutes. This notebook is cheap,
# so the two differ only in the number of random gradient-check directions.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE, plot_log_growth, plot_unrolled_graph
from refrnn.testing import assert_close, check_gradients

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
print("setting:", "quick" if QUICK else "full")

# %% [markdown]
# ## 1. Two models
#
# Both models are *autonomous* maps of a latent state $z_t \in \mathbb R^M$: nothing but
# the previous state drives the next one. Observations $x_t \in \mathbb R^N$ ($N \le M$)
# are read out linearly, $\hat x_t = B z_t$ with $B \in \mathbb R^{N\times M}$.
#
# **PLRNN** (Durstewitz 2017; the paper's eq. 1):
#
# $$ z_t = F(z_{t-1}) = A \odot z_{t-1} + W\,\mathrm{relu}(z_{t-1}) + h, $$
#
# with a diagonal $A \in \mathbb R^M$ (stored as a vector; $\odot$ is the elementwise
# product), a coupling matrix $W \in \mathbb R^{M\times M}$ whose diagonal is zero (the
# self-coupling is $A$) and a bias $h \in \mathbb R^M$.
#
# **Vanilla RNN**: $\; z_t = F(z_{t-1}) = \tanh(W z_{t-1} + b)$.
#
# The *Jacobian* $J_t = \partial z_t / \partial z_{t-1}$ of one step will be the star of
# everything that follows. Differentiating component $i$ of the PLRNN's update with
# respect to $z_{t-1,j}$ gives $A_i\,\delta_{ij} + W_{ij}\,\mathrm{relu}'(z_{t-1,j})$, and
# $\mathrm{relu}'(u) = \mathbb 1[u > 0]$ (we take the derivative at the kink $u = 0$ to
# be 0), so
#
# $$ J_t^{\mathrm{PLRNN}} = \mathrm{diag}(A) + W\,D_{t-1}, \qquad
#    D_{t-1} = \mathrm{diag}\bigl(\mathbb 1[z_{t-1} > 0]\bigr). $$
#
# The PLRNN is *linear within each orthant*: $J_t$ only depends on which units are active.
# For the vanilla RNN, with $\tanh' = 1 - \tanh^2$,
#
# $$ J_t^{\mathrm{RNN}} = \mathrm{diag}\bigl(1 - z_t^2\bigr)\, W . $$
#
# refrnn's models are small immutable containers of float64 arrays. `PLRNN.random` draws
# the parameters as the paper's code does, from $U(-1/\sqrt M, 1/\sqrt M)$.

# %%
M, N = 6, 3
plrnn = refrnn.PLRNN.random(M, N, rng=0)
rnn = refrnn.VanillaRNN.random(M, N, rng=0)
for model in (plrnn, rnn):
    print(model, {k: v.shape for k, v in model.params.items()})

# %% [markdown]
# Let us check the Jacobian formulas against `model.jacobian`, which evaluates the exact
# Jacobian in compiled code, at a random state.

# %%
z = np.random.default_rng(1).standard_normal(M)
p = plrnn.params
J_formula = np.diag(p["A"]) + p["W"] * (z > 0)[None, :]  # W D: column j scaled by 1[z_j > 0]
assert_close(plrnn.jacobian(z), J_formula, quantity="jacobian", name="PLRNN Jacobian")

q = rnn.params
z_next = np.tanh(q["W"] @ z + q["b"])
assert_close(rnn.jacobian(z), (1 - z_next**2)[:, None] * q["W"], quantity="jacobian",
             name="RNN Jacobian")
print("both Jacobians agree with the formulas")

# %% [markdown]
# `simulate` iterates the map, and `observe` applies the readout. With the paper's small
# initialisation both models settle quickly: a freshly drawn RNN is a boring dynamical
# system, which training has to change.

# %%
z0 = np.random.default_rng(2).standard_normal(M)
fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
for ax, model, name in zip(axes, (plrnn, rnn), ("PLRNN", "vanilla RNN"), strict=True):
    X_hat = model.observe(model.simulate(z0, 40))
    ax.plot(X_hat, "o-", ms=3)
    ax.set_title(f"{name}: observations of a free run")
    ax.set_xlabel("step t")
axes[0].set_ylabel(r"$\hat x_t = B z_t$")
plt.show()

# %% [markdown]
# ## 2. The forward pass and the loss
#
# Training data come as $S$ windows of $T+1$ consecutive observations
# $x_0, \dots, x_T$, an array of shape `(S, T+1, N)`. Since the latent state is not
# observed, the first state is *inferred* from the first observation,
# $z_0 = B^+ x_0$ (the minimum-norm state with $B z_0 = x_0$; $B^+$ is the
# Moore–Penrose pseudo-inverse). Then the model runs freely,
# $z_t = F(z_{t-1})$ for $t = 1..T$, and the loss is the mean squared prediction error
#
# $$ L = \frac{1}{S\,T\,N} \sum_{s=1}^{S} \sum_{t=1}^{T}
#        \bigl\lVert x^{(s)}_t - B z^{(s)}_t \bigr\rVert^2 . $$
#
# We use windows of a standardised Lorenz-63 series (`refrnn.generate`) and write the
# forward pass as a plain loop; then we compare with `refrnn.forward`.

# %%
data = refrnn.generate("lorenz63", 3000, rng=0)  # standardised; dt = 0.01
S, T = 4, 30
X = refrnn.sample_windows(data.train, S, T, rng=0)  # shape (S, T+1, N)


def forward_by_hand(model, X):
    p = model.params
    Z = np.empty(X.shape[:2] + (model.M,))
    Z[:, 0] = X[:, 0] @ np.linalg.pinv(p["B"]).T  # z_0 = B^+ x_0
    for t in range(1, X.shape[1]):
        for s in range(X.shape[0]):  # window by window: z_t = F(z_{t-1})
            Z[s, t] = model.step(Z[s, t - 1])
    residual = X[:, 1:] - Z[:, 1:] @ p["B"].T
    return Z, np.mean(residual**2)


Z, loss = forward_by_hand(plrnn, X)
traj = refrnn.forward(plrnn, X)  # tau=None: no teacher forcing
assert_close(traj.Z, Z, quantity="trajectory", name="states")
print(assert_close(traj.loss, loss, quantity="loss", name="loss"))

# %% [markdown]
# ## 3. Backpropagation through time, by hand
#
# Write $\ell_t = c\,\lVert x_t - B z_t\rVert^2$ with $c = 1/(STN)$, so that
# $L = \sum_t \ell_t$ (for one window; windows simply add up). A state $z_t$ influences
# the loss in two ways: *directly*, through its own term $\ell_t$, and *indirectly*,
# through every later state $z_{t+1}, z_{t+2}, \dots$. Call the total derivative
# $\delta_t = \mathrm dL / \mathrm d z_t$ (a column vector). Since $z_{t+1} = F(z_t)$
# depends on $z_t$ with Jacobian $J_{t+1}$, the chain rule gives the **backward
# recursion**
#
# $$ \delta_T = \frac{\partial \ell_T}{\partial z_T}, \qquad
#    \delta_t = \frac{\partial \ell_t}{\partial z_t} + J_{t+1}^\top\, \delta_{t+1}
#    \quad (t = T-1, \dots, 1), \qquad
#    \frac{\partial \ell_t}{\partial z_t} = -2c\, B^\top (x_t - B z_t). $$
#
# Unrolling it shows what BPTT really computes,
#
# $$ \delta_t = \sum_{r = t}^{T} \bigl(J_r J_{r-1} \cdots J_{t+1}\bigr)^\top
#    \frac{\partial \ell_r}{\partial z_r}, $$
#
# a sum of **products of Jacobians** — up to $T - t$ of them. Whether these products
# shrink or explode is the subject of notebook 02.
#
# **Parameter gradients.** Every parameter $\theta$ enters every step. Let
# $\partial^+ z_t / \partial\theta$ be the *immediate* derivative of
# $z_t = F_\theta(z_{t-1})$, with $z_{t-1}$ held fixed. Then
# $\mathrm dL/\mathrm d\theta = \sum_{t=1}^T \delta_t^\top\, \partial^+ z_t/\partial\theta$.
# For the PLRNN, $\partial^+ z_{t,i}/\partial A_i = z_{t-1,i}$,
# $\partial^+ z_{t,i}/\partial W_{ij} = \mathrm{relu}(z_{t-1,j})$ and
# $\partial^+ z_{t,i}/\partial h_i = 1$, so
#
# $$ \frac{\mathrm dL}{\mathrm dA} = \sum_t \delta_t \odot z_{t-1}, \qquad
#    \frac{\mathrm dL}{\mathrm dW} = \sum_t \delta_t\, \mathrm{relu}(z_{t-1})^\top
#    \ (\text{off-diagonal}), \qquad
#    \frac{\mathrm dL}{\mathrm dh} = \sum_t \delta_t, $$
#
# and the readout adds $\mathrm dL/\mathrm dB = \sum_t -2c\,(x_t - B z_t)\, z_t^\top$.
# One convention matters: here $z_0 = B^+ x_0$ is treated as **data** — no gradient
# flows through $B^+$. refrnn computes both versions: by default (`detach_forcing=False`,
# as the paper's released code) it also differentiates through the pseudo-inverse, which
# adds a second term to $\mathrm dL/\mathrm dB$ (derived in `refrnn.forcing`); with
# `detach_forcing=True` it uses the convention of this notebook, and that is what we
# compare with.
#
# The product $J_{t+1}^\top \delta_{t+1}$ need not form $J$: with
# $J = \mathrm{diag}(A) + W D$ it is $A \odot \delta + D\, W^\top \delta$. Here is the
# whole algorithm, vectorised over the $S$ windows (rows), with one extra feature that we
# explain in Section 5: a forcing interval `tau`.

# %%
def plrnn_bptt(model, X, tau=None):
    """Loss, parameter gradients and state gradients dL/dz_t of the PLRNN, by hand."""
    A, W, h, B = (model.params[k] for k in ("A", "W", "h", "B"))
    S, T1, N = X.shape
    c = 1.0 / (S * (T1 - 1) * N)
    Z_data = X @ np.linalg.pinv(B).T  # states inferred from data, B^+ x_t

    def forced(t):
        return tau is not None and t % tau == 0

    # forward: z_t before forcing (Z) and the input of the next step (Z_in)
    Z, Z_in = np.empty((S, T1, model.M)), np.empty((S, T1, model.M))
    Z[:, 0] = Z_in[:, 0] = Z_data[:, 0]
    for t in range(1, T1):
        Z[:, t] = A * Z_in[:, t - 1] + np.maximum(Z_in[:, t - 1], 0) @ W.T + h
        Z_in[:, t] = Z_data[:, t] if forced(t) else Z[:, t]
    R = X - Z @ B.T  # residuals x_t - B z_t
    loss = c * np.sum(R[:, 1:] ** 2)

    # backward
    grads = {k: np.zeros_like(v) for k, v in model.params.items()}
    delta_z = np.zeros((S, T1, model.M))
    from_later = np.zeros((S, model.M))  # J_{t+1}^T delta_{t+1}; nothing after step T
    for t in range(T1 - 1, 0, -1):
        if forced(t):
            from_later[:] = 0.0  # z_t was replaced by data: later steps do not see it
        delta = -2 * c * R[:, t] @ B + from_later
        delta_z[:, t] = delta
        z_prev = Z_in[:, t - 1]
        grads["A"] += np.sum(delta * z_prev, axis=0)
        grads["W"] += delta.T @ np.maximum(z_prev, 0)
        grads["h"] += delta.sum(axis=0)
        grads["B"] += -2 * c * R[:, t].T @ Z[:, t]
        from_later = A * delta + (delta @ W) * (z_prev > 0)  # J_t^T delta_t
    np.fill_diagonal(grads["W"], 0.0)  # W's diagonal is not a parameter
    delta_z[:, 0] = from_later  # sensitivity to the initial state z_0
    return loss, grads, delta_z


loss, grads, delta_z = plrnn_bptt(plrnn, X)
loss_ref, grads_ref, delta_ref = refrnn.loss_and_grad(
    plrnn, X, return_state_grads=True, detach_forcing=True
)
print(assert_close(loss, loss_ref, quantity="loss", name="loss"))
for k in grads_ref:
    print(assert_close(grads[k], grads_ref[k], quantity="grad", name=f"dL/d{k}"))
print(assert_close(delta_z, delta_ref, quantity="grad", name="dL/dz_t"))

# %% [markdown]
# Twenty lines, and they agree with refrnn's compiled kernels to about $10^{-16}$
# relative: the only differences are in the order of floating-point summations.
#
# ## 4. Checking gradients with finite differences
#
# Agreement between two implementations is not proof that either is right. The
# independent check is the **central difference**: for a unit vector $e_k$,
#
# $$ \frac{L(\theta + \epsilon e_k) - L(\theta - \epsilon e_k)}{2\epsilon}
#    = \frac{\partial L}{\partial \theta_k} + O(\epsilon^2)
#      + O\!\Bigl(\frac{\varepsilon_{\rm mach}\,|L|}{\epsilon}\Bigr). $$
#
# The $O(\epsilon^2)$ term is the Taylor remainder (the $\epsilon^1$ terms cancel by
# symmetry); the last term is round-off, since two nearly equal numbers of size $|L|$
# are subtracted and divided by $\epsilon$. The total error is smallest near
# $\epsilon \approx \varepsilon_{\rm mach}^{1/3} \approx 10^{-5}$. The PLRNN adds one
# more effect: its loss has kinks where a unit's pre-activation crosses zero, and a large
# $\epsilon$ can step over one.

# %%
k = (0,)  # the entry A_0


def loss_at(a0):
    A = plrnn.params["A"].copy()
    A[k] = a0
    return refrnn.forward(plrnn.replace(A=A), X).loss


a0 = plrnn.params["A"][k]
steps = np.logspace(-13, -0.5, 40)
errors = [abs((loss_at(a0 + e) - loss_at(a0 - e)) / (2 * e) - grads_ref["A"][k]) for e in steps]
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.loglog(steps, np.maximum(errors, 1e-18), "o-", ms=3)
ax.set_xlabel(r"step $\epsilon$")
ax.set_ylabel("|central difference − BPTT|")
ax.set_title(r"error of the finite-difference derivative of $L$ w.r.t. $A_0$")
plt.show()

# %% [markdown]
# The V shape is the two error terms: round-off on the left (slope −1), truncation on the
# right (slope +2, until a kink is crossed). `refrnn.testing.check_gradients` does this
# for every parameter entry, with $\epsilon = 10^{-6}$ shrunk automatically whenever
# $\theta \pm \epsilon$ would cross a kink, and along random directions in parameter
# space; it returns a report with the worst entry of each comparison.

# %%
report = check_gradients(plrnn, X, n_directions=4 if QUICK else 16)
print(report)
assert report.passed

# %% [markdown]
# ## 5. Teacher forcing cuts the computation graph
#
# The recursion of Section 3 multiplies up to $T$ Jacobians. On chaotic data they grow
# exponentially (notebook 02), and so do the gradients. **Sparse teacher forcing** (the
# paper's Sect. 3) keeps the products short: every $\tau$ steps the state is *replaced*
# by the state inferred from the data,
#
# $$ z_t = F(\tilde z_{t-1}), \qquad
#    \tilde z_t = \begin{cases} B^+ x_t & \text{if } \tau \text{ divides } t,\\
#                               z_t & \text{otherwise,} \end{cases} $$
#
# while each loss term $\ell_t$ still uses $z_t$ *before* the replacement (so the model is
# always judged on its own prediction). $\tau = $ `None` is plain BPTT; $\tau = 1$ forces
# every step. Because $\tilde z_t$ is data, the edge $z_t \to z_{t+1}$ disappears from the
# computation graph:

# %%
fig, axes = plt.subplots(2, 1, figsize=(9, 4.6))
plot_unrolled_graph(8, None, ax=axes[0])
plot_unrolled_graph(8, 3, ax=axes[1])
plt.show()

# %% [markdown]
# Gradients flow backwards along the solid arrows only. In the recursion the forced
# step simply drops the term from later steps,
#
# $$ \delta_t = \frac{\partial \ell_t}{\partial z_t}
#    + \bigl(1 - f_t\bigr)\, J_{t+1}^\top\, \delta_{t+1}, \qquad
#    f_t = \mathbb 1[\tau \text{ divides } t], $$
#
# which is the single line `if forced(t): from_later[:] = 0.0` in `plrnn_bptt` above. So
# no product of Jacobians in any gradient has more than $\tau$ factors. Our hand-written
# version agrees with refrnn for a forcing interval too:

# %%
for tau in (1, 4, 10):
    loss, grads, delta_z = plrnn_bptt(plrnn, X, tau=tau)
    loss_ref, grads_ref, delta_ref = refrnn.loss_and_grad(
        plrnn, X, tau=tau, return_state_grads=True, detach_forcing=True
    )
    assert_close(loss, loss_ref, quantity="loss")
    for name in grads_ref:
        assert_close(grads[name], grads_ref[name], quantity="grad", name=f"dL/d{name}")
    assert_close(delta_z, delta_ref, quantity="grad", name="dL/dz_t")
    print(f"tau = {tau:2d}: loss {loss:.6f}, hand-written BPTT agrees with refrnn")

# %% [markdown]
# What this does to the size of the gradients shows best on a model whose dynamics are
# chaotic. A vanilla RNN with a large recurrent gain is (for this draw, its largest
# Lyapunov exponent is positive — notebook 03 explains how that is computed). We plot
# $\lVert \partial L / \partial z_t \rVert$ along windows of $T = 200$ steps, averaged
# (in log) over the windows, from `loss_and_grad(..., return_state_grads=True)`.

# %%
chaotic = refrnn.VanillaRNN.random(20, 3, rng=1, gain=3.0)
spec = refrnn.lyapunov_spectrum(chaotic, n_steps=5_000, transient=1_000, k=1)
lam = spec.exponents[0]
print(f"largest Lyapunov exponent of the chaotic RNN: {lam:.3f} per step")

X_long = refrnn.sample_windows(data.train, 8, 200, rng=1)
curves = {}
for tau in (None, 25, 1):
    _, _, dz = refrnn.loss_and_grad(chaotic, X_long, tau=tau, return_state_grads=True)
    log_norms = np.mean(np.log(np.linalg.norm(dz[:, 1:], axis=-1)), axis=0)
    curves["plain BPTT" if tau is None else rf"$\tau = {tau}$"] = (np.arange(1, 201), log_norms)
fig = plot_log_growth(curves, slopes={"plain BPTT": -lam}, xlabel="step t",
                      ylabel=r"mean $\log\,\|\partial L/\partial z_t\|$",
                      title="state gradients of a chaotic RNN")
plt.show()

# %% [markdown]
# Without forcing, the gradient with respect to early states is larger than at the end
# of the window by a factor $\approx e^{\lambda_{\max}(T - t)}$ — the dashed line has
# slope $-\lambda_{\max}$ — because $\delta_t$ contains the product of the $T - t$
# Jacobians after step $t$. With $\tau = 25$ the growth restarts at every forced step
# and never exceeds $e^{25\,\lambda_{\max}}$ (the saw-tooth); with $\tau = 1$ every
# gradient is a one-step gradient. Notebook 04 shows why neither extreme trains well and
# how to choose $\tau$ in between.

# %% [markdown]
# Both statements as checks. Each curve is a mean over the 8 windows, and the log-norm of
# a product of $n$ Jacobians fluctuates around $\lambda_{\max} n$ with a standard
# deviation we can take from the spectrum itself: its batch-means standard error
# $\mathrm{se}$ over 5000 steps, scaled to $n$ steps, is $\mathrm{se}\sqrt{5000\,n}$;
# averaging over 8 windows divides that by $\sqrt 8$. We allow three standard deviations:
# for the slope of the plain-BPTT curve over its 199 steps, and for the rise within each
# 25-step stretch between forced steps.

# %%
n_lyap, S_long = 5_000, X_long.shape[0]
t = np.arange(1, 201)
slope = np.polyfit(t, curves["plain BPTT"][1], 1)[0]
sd_slope = spec.stderr[0] * np.sqrt(n_lyap / 199) / np.sqrt(S_long)
print(f"plain BPTT: slope {slope:+.4f}, -lambda_max {-lam:+.4f} (3 sd = {3 * sd_slope:.4f})")
assert abs(slope + lam) <= 3 * sd_slope
rises = [np.ptp(curves[r"$\tau = 25$"][1][k * 25:(k + 1) * 25]) for k in range(8)]
sd_rise = spec.stderr[0] * np.sqrt(n_lyap * 25) / np.sqrt(S_long)
print(f"tau = 25: largest rise within a stretch {max(rises):.2f}, 25 lambda_max = {25 * lam:.2f}"
      f" (3 sd = {3 * sd_rise:.2f})")
assert max(rises) <= 25 * lam + 3 * sd_rise

# %% [markdown]
# ## Summary
#
# * PLRNN: $J_t = \mathrm{diag}(A) + W D_{t-1}$; vanilla RNN: $J_t = \mathrm{diag}(1-z_t^2)W$.
# * BPTT is the backward recursion
#   $\delta_t = \partial\ell_t/\partial z_t + J_{t+1}^\top\delta_{t+1}$;
#   unrolled, gradients are sums of products of Jacobians.
# * Central differences check gradients to ~$10^{-8}$ relative; mind the step size and
#   the PLRNN's kinks. `refrnn.testing.check_gradients` does it for you.
# * Teacher forcing every $\tau$ steps cuts the graph, so no product has more than
#   $\tau$ factors.
#
# ## Exercises
#
# Worked solutions: `solutions/01_anatomy_of_an_rnn.ipynb`.
#
# 1. **BPTT for the vanilla RNN.** Derive the backward recursion and the parameter
#    gradients of $z_t = \tanh(W z_{t-1} + b)$ with the linear readout, implement them
#    like `plrnn_bptt` (with the forcing interval), and check them against
#    `refrnn.loss_and_grad` and `check_gradients`. *Hint:* write $a_t = W z_{t-1} + b$
#    and push $\delta_t$ through $\tanh$ first.
# 2. **Forcing every step is one-step-ahead prediction.** Show that with $\tau = 1$ the
#    loss and its gradient on windows of length $T$ equal those on the $S \cdot T$
#    windows of length 1 made of consecutive pairs $(x_{t-1}, x_t)$. What does this say
#    about what a model trained with $\tau = 1$ ever learns about running freely?
# 3. **Identity readout.** With `readout="identity"` the model observes $x_t = z_{t,1:N}$
#    and forcing replaces only those $N$ states (the others keep their values). Which
#    components of $\partial L/\partial z_t$ are cut at a forced step? Check your answer
#    with `return_state_grads=True` and verify the gradients with `check_gradients`.
