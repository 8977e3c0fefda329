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
# # Solutions to 05 · Verifying another implementation
#
# Worked solutions to the exercises of `../05_verifying_another_implementation.ipynb`.
# As there, the code under test is PyTorch if it is installed and plain NumPy otherwise.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import refrnn
from refrnn.plotting import STYLE
from refrnn.testing import compare

plt.style.use(STYLE)
QUICK = os.environ.get("REFRNN_QUICK", "0") not in ("", "0")
try:
    import torch

    torch.set_default_dtype(torch.float64)
    BACKEND = "torch"
except ImportError:
    BACKEND = "numpy"
print("implementation under test:", BACKEND)

data = refrnn.generate("lorenz63", 5_000, rng=0)
X = refrnn.sample_windows(data.train, 16, 50, rng=1)


def report(model, their_loss_and_grad, X, taus=(None, 1, 10)):
    """Compare their loss and gradients (refrnn's keys) with refrnn's; print every line."""
    out = []
    for tau in taus:
        loss, grads = their_loss_and_grad(X, tau)
        loss_ref, grads_ref = refrnn.loss_and_grad(model, X, tau=tau, detach_forcing=True)
        out.append(compare(loss, loss_ref, quantity="loss", name=f"tau={tau} loss"))
        out += [compare(grads[k], grads_ref[k], quantity="grad", name=f"tau={tau} grad {k}")
                for k in grads_ref]
    for c in out:
        print(c)
    return out


# %% [markdown]
# ## Exercise 1: the loss taken after forcing
#
# The bug: at a forced step the state is replaced *before* the loss term is computed, so
# that term compares $x_t$ with $B\tilde z_t = BB^+x_t$ — the projection of the data onto
# the readout's row space, which for $N \le M$ and full-rank $B$ is $x_t$ itself. The
# term is then (nearly) zero and depends on no parameter.

# %%
model = refrnn.PLRNN.random(8, 3, rng=0)
AW, h, B = refrnn.interop.plrnn_to_combined(model)

if BACKEND == "torch":

    def loss_after_forcing(X, tau):
        AWt, ht, Bt = (torch.tensor(a, requires_grad=True) for a in (AW, h, B))
        Xt = torch.tensor(X)
        S, T1, N = Xt.shape
        with torch.no_grad():
            Z_data = Xt @ torch.linalg.pinv(Bt).T
        A = torch.diagonal(AWt)
        z, loss = Z_data[:, 0], 0.0
        for t in range(1, T1):
            z = A * z + torch.relu(z) @ (AWt - torch.diag(A)).T + ht
            if tau is not None and t % tau == 0:
                z = Z_data[:, t]  # the bug: forcing first ...
            loss = loss + torch.sum((Xt[:, t] - z @ Bt.T) ** 2)  # ... then the loss term
        loss = loss / (S * (T1 - 1) * N)
        loss.backward()
        # with tau=1 the buggy loss does not depend on AW and h at all: grad stays None
        gAW, gh, gB = (np.zeros(p.shape) if p.grad is None else p.grad.numpy()
                       for p in (AWt, ht, Bt))
        gW = gAW.copy()
        np.fill_diagonal(gW, 0.0)
        return loss.item(), {"A": np.diag(gAW).copy(), "W": gW, "h": gh, "B": gB}

else:

    def loss_after_forcing(X, tau):
        A = np.diag(AW).copy()
        W = AW - np.diag(A)
        S, T1, N = X.shape
        c = 1.0 / (S * (T1 - 1) * N)
        Z_data = X @ np.linalg.pinv(B).T
        Z_in = [Z_data[:, 0]]
        for t in range(1, T1):
            z = A * Z_in[-1] + np.maximum(Z_in[-1], 0) @ W.T + h
            Z_in.append(Z_data[:, t] if tau is not None and t % tau == 0 else z)
        R = [X[:, t] - Z_in[t] @ B.T for t in range(T1)]
        loss = c * sum(np.sum(r**2) for r in R[1:])
        g = {"A": np.zeros(8), "W": np.zeros((8, 8)), "h": np.zeros(8), "B": np.zeros_like(B)}
        carry = np.zeros_like(Z_in[0])
        for t in range(T1 - 1, 0, -1):
            g["B"] += -2 * c * R[t].T @ Z_in[t]
            if tau is not None and t % tau == 0:
                # z~_t is data: neither its loss term nor later steps depend on z_t, so
                # dL/dz_t = 0 and nothing flows back from this step
                carry = np.zeros_like(carry)
                continue
            delta = -2 * c * R[t] @ B + carry
            g["A"] += np.sum(delta * Z_in[t - 1], axis=0)
            g["W"] += delta.T @ np.maximum(Z_in[t - 1], 0)
            g["h"] += delta.sum(axis=0)
            carry = A * delta + (delta @ W) * (Z_in[t - 1] > 0)
        np.fill_diagonal(g["W"], 0.0)
        return loss, g

buggy = report(model, loss_after_forcing, X)

# %% [markdown]
# Reading the report: `tau=None` passes (no forcing, no bug). With forcing, the **loss**
# fails now — the forced steps contribute $\lVert x_t - BB^+x_t\rVert^2 \approx 0$
# instead of the prediction error — and so do all gradients: $A$, $W$, $h$ because the
# forced steps' own loss terms are missing, $B$ because it now also differentiates
# $\lVert x_t - BB^+x_t\rVert^2$ at fixed $B^+$. When the loss itself disagrees, look at
# the forward pass first.
#
# ## Exercise 2: the vanilla RNN
#
# With PyTorch, the natural implementation is `torch.nn.RNN` driven with zero input, one
# step at a time so that the state can be replaced; `refrnn.interop.to_torch_rnn` gives
# the parameters in its layout. Its bias appears twice (`bias_ih_l0 + bias_hh_l0`), so
# refrnn's $\partial L/\partial b$ equals the gradient of either.

# %%
rnn_model = refrnn.VanillaRNN.random(8, 3, rng=0, gain=1.5)

if BACKEND == "torch":

    def rnn_loss_and_grad(X, tau):
        rnn_state, readout_state = refrnn.interop.to_torch_rnn(rnn_model)
        rnn = torch.nn.RNN(1, rnn_model.M, nonlinearity="tanh", batch_first=True)
        readout = torch.nn.Linear(rnn_model.M, rnn_model.N, bias=False)
        rnn.load_state_dict(rnn_state)
        readout.load_state_dict(readout_state)
        Xt = torch.tensor(X)
        S, T1, N = Xt.shape
        with torch.no_grad():
            Z_data = Xt @ torch.linalg.pinv(readout.weight).T
        z, loss = Z_data[:, 0], 0.0
        zero_input = torch.zeros(S, 1, 1)
        for t in range(1, T1):
            _, h_n = rnn(zero_input, z[None])  # one step: z_t = tanh(W z + b)
            z = h_n[0]
            loss = loss + torch.sum((Xt[:, t] - readout(z)) ** 2)
            if tau is not None and t % tau == 0:
                z = Z_data[:, t]
        loss = loss / (S * (T1 - 1) * N)
        loss.backward()
        return loss.item(), {"W": rnn.weight_hh_l0.grad.numpy(),
                             "b": rnn.bias_hh_l0.grad.numpy(),
                             "B": readout.weight.grad.numpy()}

else:

    def rnn_loss_and_grad(X, tau):
        W, b, B_r = (rnn_model.params[k] for k in ("W", "b", "B"))
        S, T1, N = X.shape
        c = 1.0 / (S * (T1 - 1) * N)
        Z_data = X @ np.linalg.pinv(B_r).T
        Z, Z_in = [Z_data[:, 0]], [Z_data[:, 0]]
        for t in range(1, T1):
            Z.append(np.tanh(Z_in[-1] @ W.T + b))
            Z_in.append(Z_data[:, t] if tau is not None and t % tau == 0 else Z[-1])
        R = [X[:, t] - Z[t] @ B_r.T for t in range(T1)]
        loss = c * sum(np.sum(r**2) for r in R[1:])
        g = {"W": np.zeros_like(W), "b": np.zeros_like(b), "B": np.zeros_like(B_r)}
        carry = np.zeros_like(Z[0])
        for t in range(T1 - 1, 0, -1):
            if tau is not None and t % tau == 0:
                carry = np.zeros_like(carry)
            ga = (-2 * c * R[t] @ B_r + carry) * (1 - Z[t] ** 2)
            g["W"] += ga.T @ Z_in[t - 1]
            g["b"] += ga.sum(axis=0)
            g["B"] += -2 * c * R[t].T @ Z[t]
            carry = ga @ W
        return loss, g

rnn_report = report(rnn_model, rnn_loss_and_grad, X)
assert all(c.passed for c in rnn_report)

# %% [markdown]
# ## Exercise 3: how long may the compared orbit be?
#
# Round-off differences between two codes start at $\sim 10^{-16}$ relative and grow like
# $e^{\lambda_{\max} t}$ along a chaotic orbit; once they are of order one the two codes
# follow different trajectories, and their finite-time exponents differ by the
# statistical scatter of finite-time estimates. We use the chaotic PLRNN of notebook 02
# and the notebook's QR loop (their step and Jacobian; NumPy's QR).

# %%
rng = np.random.default_rng(4)
A = rng.uniform(0.0, 0.9, 10)
W = (2.0 * rng.standard_normal((10, 10)) - 1.0) / np.sqrt(10)
np.fill_diagonal(W, 0.0)
chaotic = refrnn.PLRNN(A, W, rng.uniform(0.5, 1.0, 10), rng.uniform(-0.3, 0.3, (3, 10)))
AWc, hc, _ = refrnn.interop.plrnn_to_combined(chaotic)
Ac, Wc = np.diag(AWc).copy(), AWc - np.diag(np.diag(AWc))


def their_spectrum(z0, K, frame_transient=0):
    """QR loop; the first frame_transient steps only align the frame (logs discarded)."""
    x, Q, log_r = z0.copy(), np.eye(10), np.zeros(10)
    for t in range(frame_transient + K):
        J = np.diag(Ac) + Wc * (x > 0)[None, :]
        Q, R = np.linalg.qr(J @ Q)
        if t >= frame_transient:
            log_r += np.log(np.abs(np.diag(R)))
        x = Ac * x + Wc @ np.maximum(x, 0) + hc
    return np.sort(log_r / K)[::-1]


lam = refrnn.lyapunov_spectrum(chaotic, n_steps=20_000, k=1).exponents[0]
z0 = chaotic.simulate(np.full(10, 0.1), 2_000)[-1]
Ks = (300, 1_000, 3_000) if QUICK else (300, 1_000, 3_000, 10_000, 30_000)
errors, tolerances = [], []
for K in Ks:
    ref = refrnn.lyapunov_spectrum(chaotic, z0, n_steps=K, transient=0, tangent_transient=0,
                                   initial_frame=np.eye(10), n_blocks=1)
    c = compare(their_spectrum(z0, K), ref.exponents, quantity="lyapunov", name=f"K = {K}")
    errors.append(c.max_abs)
    tolerances.append(c.atol + c.rtol * np.max(np.abs(ref.exponents)))
    print(c)
print(f"lambda_max = {lam:.3f}: round-off reaches order one after about "
      f"{np.log(1e16) / lam:.0f} steps")

fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.loglog(Ks, np.maximum(errors, 1e-18), "o-")
ax.plot(Ks, tolerances, "k:", lw=1, label="tolerance")
ax.axvline(np.log(1e16) / lam, color="C1", ls="--", lw=1, label=r"$\ln(10^{16})/\lambda_{\max}$")
ax.set_xticks(Ks, [str(k) for k in Ks])
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.set_xlabel("compared steps K")
ax.set_ylabel("max |difference| of exponents")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Up to a few hundred steps the two spectra agree to round-off; by about
# $\ln(10^{16})/\lambda_{\max}$ steps the orbits have separated, and the difference jumps
# to the level of finite-time fluctuations, far above the tolerance. (With identical
# floating-point operations in both codes the orbits could stay identical much longer —
# do not rely on that.)
#
# For long runs, compare *statistically*: run each code with its own transient of the
# orbit *and* of the tangent frame (otherwise the initial orientation of the frame leaves
# a bias of order $1/K$), and compare the converged exponents with the scatter of the
# reference. That scatter is best measured directly, from several independent reference
# runs.

# %%
K = 20_000 if QUICK else 200_000
n_ref = 6 if QUICK else 12
# perturbed starts: on a chaotic attractor the runs decorrelate within the transient
noise = np.random.default_rng(0).standard_normal((n_ref, 10))
starts = z0 + 1e-3 * noise
refs = np.array([
    refrnn.lyapunov_spectrum(chaotic, s, n_steps=K, transient=1_000, tangent_transient=1_000,
                             rng=i).exponents
    for i, s in enumerate(starts)
])
mean, sd = refs.mean(axis=0), refs.std(axis=0, ddof=1)
single = refrnn.lyapunov_spectrum(chaotic, starts[0], n_steps=K, transient=1_000,
                                  tangent_transient=1_000)
theirs = their_spectrum(chaotic.simulate(z0, 1_000)[-1], K, frame_transient=1_000)
z = (theirs - mean) / (sd * np.sqrt(1 + 1 / n_ref))
print("reference mean   ", mean[:4].round(4))
print("spread of runs   ", sd[:4].round(5))
print("one run's stderr ", single.stderr[:4].round(5))
print("theirs           ", theirs[:4].round(4))
print("z-scores (all exponents):", z.round(1))
assert np.all(np.abs(z) < 5)

# %% [markdown]
# All exponents agree within a few standard deviations of the reference runs' spread —
# statistically equivalent, as they must be, although the two codes' orbits separated
# after a few hundred steps. A real error (a wrong Jacobian, a missing relu mask) would
# move some exponent by many standard deviations.
#
# Why not simply use one run's `stderr`? It is a batch-means estimate that assumes the
# blocks of a run are nearly independent; exponents driven by rare events (here the third
# is essentially the decay rate of a unit that is active only a fraction of a per cent of
# the time) can violate that, and with ten exponents a 2-sigma excursion somewhere is
# expected anyway. Independent runs measure the scatter directly, and a generous
# threshold (here 5) separates statistics from bugs.
