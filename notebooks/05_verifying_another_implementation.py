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
# # 05 · Verifying another implementation
#
# **What you will learn**
#
# * how to check your own RNN code — in PyTorch, JAX, Julia or plain NumPy — against
#   refrnn's reference numbers: losses, gradients and Lyapunov spectra;
# * how to map parameters between layouts (here a PLRNN stored as one combined matrix);
# * how to read a comparison report: which quantity, which entry, how far off, and
#   against which tolerance — and why the tolerances are what they are;
# * how a typical bug in teacher forcing shows up in such a report.
#
# **Prerequisites.** Notebooks 01 (the STF loss and BPTT) and 03 (the QR method). PyTorch
# is optional: if it is installed (`pip install torch==2.13.0`, the CPU build), the
# implementation under test is a small PyTorch module with autograd; otherwise it is a
# plain NumPy implementation with hand-written gradients. Everything else is the same.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE
from refrnn.testing import TOLERANCES, check_gradients, compare

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
print("setting:", "quick" if QUICK else "full")

try:
    import torch

    torch.set_default_dtype(torch.float64)  # compare float64 with float64
    BACKEND = "torch"
except ImportError:
    BACKEND = "numpy"
print("implementation under test:", BACKEND)

# %% [markdown]
# ## 1. The implementation under test
#
# Many published PLRNN codes store $A$ and $W$ as one matrix $\mathcal W$ with
# $\mathrm{diag}(\mathcal W) = A$ (the self-coupling) and the off-diagonal part $W$, so
# that the update reads $z_t = \mathrm{diag}(\mathcal W) \odot z_{t-1} + (\mathcal W -
# \mathrm{diag}(\mathcal W))\,\mathrm{relu}(z_{t-1}) + h$. Our implementation under test
# uses that layout, with parameters `AW`, `h`, `B`, and the STF loss of notebook 01:
# $z_0 = B^+ x_0$; $z_t = F(\tilde z_{t-1})$; $\tilde z_t = B^+ x_t$ when $\tau$ divides
# $t$; $L = \frac{1}{STN}\sum_{s,t}\lVert x_t - B z_t\rVert^2$, each term before forcing;
# and the forcing signal is data (no gradient through it) — which refrnn computes with
# `detach_forcing=True`; its default, like the paper's released code, also differentiates
# through $B^+$, and an implementation that does so is compared with the default. (The
# file format of `refrnn verify` has a `detach_forcing` key for the same choice.)
#
# It provides three functions — loss and gradients, one step, and the Jacobian of a
# step — which is all a comparison needs. The `cut_gradient` switch exists to plant a bug
# in Section 4.

# %%
if BACKEND == "torch":

    def _step(AW, h, z):
        A = torch.diagonal(AW)
        return A * z + torch.relu(z) @ (AW - torch.diag(A)).T + h

    def their_loss_and_grad(params, X, tau=None, cut_gradient=True):
        AW, h, B = (torch.tensor(params[k], requires_grad=True) for k in ("AW", "h", "B"))
        X = torch.tensor(X)
        S, T1, N = X.shape
        with torch.no_grad():
            Z_data = X @ torch.linalg.pinv(B).T  # the forcing signal: data, no gradient
        z, loss = Z_data[:, 0], 0.0
        for t in range(1, T1):
            z = _step(AW, h, z)
            loss = loss + torch.sum((X[:, t] - z @ B.T) ** 2)
            if tau is not None and t % tau == 0:
                # correct: replace z by data. The bug: the value is replaced, but the
                # gradient still flows into z ("straight-through" forcing).
                z = Z_data[:, t] if cut_gradient else z + (Z_data[:, t] - z).detach()
        loss = loss / (S * (T1 - 1) * N)
        loss.backward()
        return loss.item(), {"AW": AW.grad.numpy(), "h": h.grad.numpy(), "B": B.grad.numpy()}

    def their_step(params, z):
        with torch.no_grad():
            return _step(torch.tensor(params["AW"]), torch.tensor(params["h"]),
                         torch.tensor(z)).numpy()

    def their_jacobian(params, z):
        AW, h = torch.tensor(params["AW"]), torch.tensor(params["h"])
        return torch.autograd.functional.jacobian(lambda v: _step(AW, h, v),
                                                  torch.tensor(z)).numpy()

    def their_qr(Y):
        Q, R = torch.linalg.qr(torch.tensor(Y))
        return Q.numpy(), R.numpy()

else:

    def _split(AW):
        A = np.diag(AW).copy()
        return A, AW - np.diag(A)

    def their_loss_and_grad(params, X, tau=None, cut_gradient=True):
        AW, h, B = params["AW"], params["h"], params["B"]
        A, W = _split(AW)
        S, T1, N = X.shape
        c = 1.0 / (S * (T1 - 1) * N)
        Z_data = X @ np.linalg.pinv(B).T
        Z_in, Z = [Z_data[:, 0]], [Z_data[:, 0]]
        for t in range(1, T1):
            Z.append(A * Z_in[-1] + np.maximum(Z_in[-1], 0) @ W.T + h)
            forced = tau is not None and t % tau == 0
            Z_in.append(Z_data[:, t] if forced else Z[-1])
        R = [X[:, t] - Z[t] @ B.T for t in range(T1)]
        loss = c * sum(np.sum(r**2) for r in R[1:])
        g = {"AW": np.zeros_like(AW), "h": np.zeros_like(h), "B": np.zeros_like(B)}
        carry = np.zeros_like(Z[0])
        for t in range(T1 - 1, 0, -1):
            if tau is not None and t % tau == 0 and cut_gradient:
                carry = np.zeros_like(carry)  # the bug skips this line
            delta = -2 * c * R[t] @ B + carry
            g["B"] += -2 * c * R[t].T @ Z[t]
            g["AW"] += np.diag(np.sum(delta * Z_in[t - 1], axis=0))
            gW = delta.T @ np.maximum(Z_in[t - 1], 0)
            np.fill_diagonal(gW, 0.0)
            g["AW"] += gW
            g["h"] += delta.sum(axis=0)
            carry = A * delta + (delta @ W) * (Z_in[t - 1] > 0)
        return loss, g

    def their_step(params, z):
        A, W = _split(params["AW"])
        return A * z + W @ np.maximum(z, 0) + params["h"]

    def their_jacobian(params, z):
        A, W = _split(params["AW"])
        return np.diag(A) + W * (z > 0)[None, :]

    def their_qr(Y):
        return np.linalg.qr(Y)

# %% [markdown]
# ## 2. Same parameters, same data
#
# A comparison is only meaningful on identical inputs. We draw a PLRNN with refrnn, and
# convert it to the combined layout with `refrnn.interop.plrnn_to_combined` (and back
# with `plrnn_from_combined` — a round trip that must be exact). The data are windows of
# a standardised Lorenz-63 series.

# %%
model = refrnn.PLRNN.random(8, 3, rng=0)
AW, h, B = refrnn.interop.plrnn_to_combined(model)
theirs = {"AW": AW, "h": h, "B": B}
assert refrnn.interop.plrnn_from_combined(AW, h, B) == model

data = refrnn.generate("lorenz63", 5_000, rng=0)
X = refrnn.sample_windows(data.train, 16, 50 if QUICK else 200, rng=1)


def to_refrnn_layout(g):
    """Their gradient dict (AW, h, B) -> refrnn's keys (A, W, h, B)."""
    gW = g["AW"].copy()
    np.fill_diagonal(gW, 0.0)
    return {"A": np.diag(g["AW"]).copy(), "W": gW, "h": g["h"], "B": g["B"]}


# %% [markdown]
# ## 3. Compare, and read the report
#
# `refrnn.testing.compare(actual, desired, quantity=...)` returns a `Comparison`: the
# largest absolute difference, the same relative to the largest magnitude of the
# reference, *where* it occurs and the two values there, and whether it is within the
# tolerance for that quantity:

# %%
for name, tol in TOLERANCES.items():
    print(f"{name:18s} rtol {tol['rtol']:g}, atol {tol['atol']:g}")

# %% [markdown]
# Why $10^{-10}$ for losses and gradients? Two correct float64 implementations of the
# same definition differ only in the order of their floating-point operations: each
# operation contributes a relative error of $\sim 10^{-16}$, growing with the number of
# steps (linearly for contracting orbits, like $e^{\lambda_{\max}T}$ for expanding ones,
# notebook 02). $10^{-10}$ leaves room for that and still catches any real error, which
# is almost always $O(1)$ relative somewhere. (In float32, nothing below $\sim 10^{-4}$
# could be resolved — compare in float64.)
#
# We now compare loss and every gradient for plain BPTT and two forcing intervals:


# %%
def comparisons(model, theirs, X, tau, cut_gradient=True):
    loss, grads = their_loss_and_grad(theirs, X, tau, cut_gradient=cut_gradient)
    # their code treats the forcing states B^+ x as data: compare with that setting
    loss_ref, grads_ref = refrnn.loss_and_grad(model, X, tau=tau, detach_forcing=True)
    grads = to_refrnn_layout(grads)
    out = [compare(loss, loss_ref, quantity="loss", name=f"tau={tau} loss")]
    out += [compare(grads[k], grads_ref[k], quantity="grad", name=f"tau={tau} grad {k}")
            for k in grads_ref]
    return out


report = []
for tau in (None, 1, 10):
    report += comparisons(model, theirs, X, tau)
for c in report:
    print(c)
assert all(c.passed for c in report)
# the text below says "relative errors around 1e-16 to 1e-14"; checked as below 1e-13, a
# decade above the upper end quoted and still three below the tolerance 1e-10
print(f"largest relative error: {max(c.max_rel for c in report):.1e}")
assert max(c.max_rel for c in report) < 1e-13

# %% [markdown]
# Every line says PASS, with relative errors around $10^{-16}$–$10^{-14}$: the two codes
# compute the same numbers up to summation order. Each line of the report reads:
# *status, quantity, max abs error, max rel error (tolerance), and the index of the worst
# entry with the two values there.* The index is what makes a failure actionable.
#
# Agreement with refrnn is one check; an independent one is finite differences of *your
# own* loss. `check_gradients` accepts external gradients (in refrnn's layout) and
# compares them with central differences of refrnn's loss — which after the comparison
# above is also your loss:

# %%
_, their_grads = their_loss_and_grad(theirs, X[:4, :31], 10)
print(check_gradients(model, X[:4, :31], tau=10, grads=to_refrnn_layout(their_grads),
                      n_directions=4, detach_forcing=True))

# %% [markdown]
# ### The spectrum
#
# Lyapunov spectra are statistical estimates, and two codes agree to many digits only on
# the *same finite orbit*: on a chaotic attractor round-off differences grow like
# $e^{\lambda_{\max} t}$, so after a few hundred steps the two orbits are different
# (though statistically equivalent) trajectories. So we compare a fixed number of steps
# from the same initial state with the same initial frame ($Q_0 = I$), no transients, and
# a QR at every step — refrnn's `lyapunov_spectrum` takes all of these as arguments. Our
# QR loop uses their step, Jacobian and QR. We take a chaotic PLRNN from notebook 02's
# family (rebuilt here), so that the test also exercises expanding directions.

# %%
rng = np.random.default_rng(4)
A = rng.uniform(0.0, 0.9, 10)
W = (2.0 * rng.standard_normal((10, 10)) - 1.0) / np.sqrt(10)
np.fill_diagonal(W, 0.0)
chaotic = refrnn.PLRNN(A, W, rng.uniform(0.5, 1.0, 10), rng.uniform(-0.3, 0.3, (3, 10)))
AWc, hc, Bc = refrnn.interop.plrnn_to_combined(chaotic)
theirs_c = {"AW": AWc, "h": hc, "B": Bc}

z0 = chaotic.simulate(np.full(10, 0.1), 2_000)[-1]  # a point on the attractor
K = 300
x, Q, log_r = z0.copy(), np.eye(10), np.zeros(10)
for _ in range(K):
    Q, R = their_qr(their_jacobian(theirs_c, x) @ Q)
    log_r += np.log(np.abs(np.diag(R)))
    x = their_step(theirs_c, x)
their_spectrum = np.sort(log_r / K)[::-1]

ref = refrnn.lyapunov_spectrum(chaotic, z0, n_steps=K, transient=0, tangent_transient=0,
                               initial_frame=np.eye(10), n_blocks=1)
spectrum_check = compare(their_spectrum, ref.exponents, quantity="lyapunov",
                         name=f"Lyapunov spectrum, {K} steps")
print(spectrum_check)
print("largest exponents:", ref.exponents[:3].round(4))
assert spectrum_check.passed

# %% [markdown]
# (Over only 300 steps these are *finite-time* exponents, not yet the converged
# spectrum; both codes must nevertheless produce the same finite-time numbers. With
# `n_blocks=1` refrnn warns that it can give no standard error — we need none here.)
#
# ## 4. A planted bug
#
# A classic mistake in teacher forcing is to replace the *value* of the state while
# letting the gradient pass through the replacement — in PyTorch,
# `z = z + (z_data - z).detach()`; in hand-written code, forgetting to zero the carried
# gradient at a forced step. The forward pass, and so the loss, are unchanged. Let us see
# what the report says.

# %%
buggy = []
for tau in (None, 1, 10):
    buggy += comparisons(model, theirs, X, tau, cut_gradient=False)
for c in buggy:
    print(c)

# %% [markdown]
# Reading it from the top:
#
# * `tau=None` passes entirely — without forcing the bug has no effect; a test suite that
#   only checks plain BPTT would never see it.
# * With forcing, every **loss** passes — a test that only compares losses would miss it.
# * The gradients of $A$, $W$ and $h$ fail, with relative errors from a few per cent to
#   order one: a real error, not round-off. The worst entries sit in the same unit, the
#   one whose state gradient is most affected.
# * The gradient of $B$ passes: $\partial L/\partial B = \sum_t -2c\,(x_t - Bz_t)\,z_t^\top$
#   involves only each step's own residual and state, not the carried state gradients.
#   So the *pattern* of failures already locates the bug: in the backward recursion, at
#   forced steps only.

# %%
# The reading above, as checks: names are "tau=<tau> loss" / "tau=<tau> grad <key>".
for c in buggy:
    tau, what = c.name.split(" ", 1)
    should_fail = tau != "tau=None" and what in ("grad A", "grad W", "grad h")
    assert c.passed != should_fail, c
    if should_fail:  # "from a few per cent to order one: a real error, not round-off"
        assert c.max_rel > 0.01, c

# %% [markdown]
# The same picture at a glance — maximum relative error of each comparison against the
# tolerance:

# %%
fig, ax = plt.subplots(figsize=(9, 3.6))
labels = [c.name for c in report]
pos = np.arange(len(labels))
floor = 1e-18  # exact agreement (0) is drawn at the floor
ax.bar(pos - 0.2, [max(c.max_rel, floor) for c in report], 0.4, label="correct")
ax.bar(pos + 0.2, [max(c.max_rel, floor) for c in buggy], 0.4, label="planted bug")
ax.plot(pos, [c.rtol for c in report], "k_", ms=18, mew=2, label="tolerance (rtol)")
ax.set_yscale("log")
ax.set_ylim(floor / 10, 10)
ax.set_xticks(pos, labels, rotation=60, ha="right", fontsize=8)
ax.set_ylabel("max relative error")
ax.set_title(f"{BACKEND} implementation vs refrnn")
ax.legend(fontsize=8, loc="upper left")
plt.show()

# %% [markdown]
# ## Summary
#
# * Compare on identical inputs: convert parameters (`refrnn.interop`), use the same
#   windows, float64 throughout.
# * Compare every gradient, with forcing on and off, and read the worst entry of each
#   failure; `check_gradients` adds an independent finite-difference check of your own
#   gradients.
# * Compare spectra on the same finite orbit: same initial state and frame, no transients,
#   QR at every step.
# * The tolerances come from round-off arguments; real errors are orders of magnitude
#   larger.
#
# ## Exercises
#
# Worked solutions: `solutions/05_verifying_another_implementation.ipynb`.
#
# 1. **Another bug.** Compute the loss term *after* forcing instead of before (so at a
#    forced step it compares $x_t$ with $B B^+ x_t$). Which lines of the report fail, and
#    why does the loss fail this time?
# 2. **The vanilla RNN.** Write the same comparison for a tanh RNN (in PyTorch,
#    `torch.nn.RNN` with the readout as a separate `Linear`; or in NumPy). Use
#    `refrnn.interop.from_torch_rnn` / `to_torch_rnn` for the parameters if you use
#    `torch.nn.RNN`.
# 3. **How long may the compared orbit be?** Repeat the spectrum comparison for
#    $K = 300, 1000, 3000, 10000$ steps. From which $K$ on does it fail, and how does that
#    follow from $\lambda_{\max}$ and the round-off level? How do you compare spectra of
#    long runs instead?
