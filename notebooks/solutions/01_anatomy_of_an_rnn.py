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
# # Solutions to 01 · Anatomy of an RNN
#
# Worked solutions to the exercises of `../01_anatomy_of_an_rnn.ipynb`. Each solution
# is self-contained; the setup cell rebuilds what they share.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE
from refrnn.testing import assert_close, check_gradients

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
data = refrnn.generate("lorenz63", 3000, rng=0)
X = refrnn.sample_windows(data.train, 4, 30, rng=0)  # (S, T+1, N) = (4, 31, 3)

# %% [markdown]
# ## Exercise 1: BPTT for the vanilla RNN
#
# With the pre-activation $a_t = W\tilde z_{t-1} + b$ and $z_t = \tanh(a_t)$, the chain
# rule through one step is: first through $\tanh$, $\;g_t := \partial L/\partial a_t =
# \delta_t \odot (1 - z_t^2)$, then through the affine map. Hence
#
# $$ \frac{\mathrm dL}{\mathrm dW} = \sum_t g_t\, \tilde z_{t-1}^\top, \qquad
#    \frac{\mathrm dL}{\mathrm db} = \sum_t g_t, \qquad
#    J_t^\top \delta_t = W^\top g_t , $$
#
# which is $J_t = \mathrm{diag}(1 - z_t^2) W$ transposed. The recursion for $\delta_t$ and
# the readout gradient are unchanged from the PLRNN, and so is the forcing: at a forced
# step the term from later steps is dropped.


# %%
def rnn_bptt(model, X, tau=None):
    W, b, B = (model.params[k] for k in ("W", "b", "B"))
    S, T1, N = X.shape
    c = 1.0 / (S * (T1 - 1) * N)
    Z_data = X @ np.linalg.pinv(B).T

    def forced(t):
        return tau is not None and t % tau == 0

    Z, Z_in = np.empty((S, T1, model.M)), np.empty((S, T1, model.M))
    Z[:, 0] = Z_in[:, 0] = Z_data[:, 0]
    for t in range(1, T1):
        Z[:, t] = np.tanh(Z_in[:, t - 1] @ W.T + b)
        Z_in[:, t] = Z_data[:, t] if forced(t) else Z[:, t]
    R = X - Z @ B.T
    loss = c * np.sum(R[:, 1:] ** 2)

    grads = {k: np.zeros_like(v) for k, v in model.params.items()}
    from_later = np.zeros((S, model.M))
    for t in range(T1 - 1, 0, -1):
        if forced(t):
            from_later[:] = 0.0
        delta = -2 * c * R[:, t] @ B + from_later
        g = delta * (1 - Z[:, t] ** 2)  # through tanh
        grads["W"] += g.T @ Z_in[:, t - 1]
        grads["b"] += g.sum(axis=0)
        grads["B"] += -2 * c * R[:, t].T @ Z[:, t]
        from_later = g @ W  # J_t^T delta_t = W^T g_t
    return loss, grads


rnn = refrnn.VanillaRNN.random(6, 3, rng=0, gain=1.5)
for tau in (None, 1, 7):
    loss, grads = rnn_bptt(rnn, X, tau)
    loss_ref, grads_ref = refrnn.loss_and_grad(rnn, X, tau=tau, detach_forcing=True)
    assert_close(loss, loss_ref, quantity="loss")
    for k in grads_ref:
        assert_close(grads[k], grads_ref[k], quantity="grad", name=f"dL/d{k}")
    print(f"tau = {tau}: hand-written vanilla-RNN BPTT agrees with refrnn")

report = check_gradients(
    rnn, X, tau=7, grads=rnn_bptt(rnn, X, 7)[1], n_directions=4, detach_forcing=True
)
print(report)
assert report.passed

# %% [markdown]
# ## Exercise 2: forcing every step is one-step-ahead prediction
#
# With $\tau = 1$ and the linear readout, *every* state is replaced: the input of step
# $t$ is $\tilde z_{t-1} = B^+ x_{t-1}$ for all $t$, so $z_t = F(B^+ x_{t-1})$ depends on the
# data only through $x_{t-1}$, and no gradient flows between steps. The loss is therefore
# the mean one-step prediction error over all consecutive pairs $(x_{t-1}, x_t)$ — which
# is exactly the plain loss on windows of length $T = 1$ (where $z_0 = B^+x_0$ too).

# %%
plrnn = refrnn.PLRNN.random(6, 3, rng=0)
S, T1, N = X.shape
pairs = np.stack([X[:, :-1], X[:, 1:]], axis=2).reshape(S * (T1 - 1), 2, N)
loss_w, grads_w = refrnn.loss_and_grad(plrnn, X, tau=1)
loss_p, grads_p = refrnn.loss_and_grad(plrnn, pairs, tau=None)
print(assert_close(loss_w, loss_p, quantity="loss", name="tau=1 windows vs pairs"))
for k in grads_w:
    print(assert_close(grads_w[k], grads_p[k], quantity="grad", name=f"dL/d{k}"))

# %% [markdown]
# (They agree to round-off: the two computations sum the same terms in a different
# order.) A model trained like this only ever learns the *one-step* map from data points.
# It is never asked what happens when it feeds its own, slightly wrong, output back in —
# which is all a free run does. On chaotic data the small one-step errors then grow like
# $e^{\lambda_{\max} t}$, and nothing in training rewarded a model that keeps its orbit on
# the data's attractor rather than drifting to a fixed point or escaping. Notebook 04's
# $\tau$ sweep shows the consequence.
#
# ## Exercise 3: the identity readout
#
# With `readout="identity"`, $\hat x_t = z_{t,1:N}$ and the forcing replaces only
# $z_{t,1:N}$ by $x_t$; the unobserved states $z_{t,N+1:M}$ keep their values and remain
# functions of the parameters. So at a forced step only the *observed* components of the
# gradient from later steps are cut:
#
# $$ \frac{\partial L}{\partial z_{t,i}} = \frac{\partial \ell_t}{\partial z_{t,i}}
#    \ (i \le N), \qquad
#    \frac{\partial L}{\partial z_{t,i}} = \bigl(J_{t+1}^\top \delta_{t+1}\bigr)_i
#    \ (i > N), $$
#
# and $\partial\ell_t/\partial z_{t,i} = -2c\,(x_{t,i} - z_{t,i})$ for $i \le N$ (zero for the
# unobserved ones).

# %%
ident = refrnn.PLRNN.random(6, 3, rng=0, readout="identity")
tau = 5
_, _, dz = refrnn.loss_and_grad(ident, X, tau=tau, return_state_grads=True)
Z = refrnn.forward(ident, X, tau=tau).Z
c = 1.0 / (S * (T1 - 1) * N)
for t in range(tau, T1 - 1, tau):
    own = -2 * c * (X[:, t] - Z[:, t, :N])
    assert_close(dz[:, t, :N], own, quantity="grad", name=f"observed part at t={t}")
    print(f"t = {t:2d}: observed components = own loss term only; "
          f"|unobserved components| = {np.abs(dz[:, t, N:]).max():.2e} (not cut)")

report = check_gradients(ident, X, tau=tau, n_directions=4)
print(report)
assert report.passed

# %% [markdown]
# The unobserved components keep receiving gradient across forced steps. Consequently
# the products of Jacobians restricted to the unobserved units are *not* cut by
# forcing: with the identity readout, sparse teacher forcing bounds gradient growth only
# to the extent that the unobserved states couple to the observed ones. This is one
# reason why later work from the same lab forces a mixture of all states ("generalised
# teacher forcing") or uses the linear readout, whose forcing $B^+x_t$ replaces all $M$
# states.
