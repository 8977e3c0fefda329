"""Shared helpers for the identity-readout experiments (issue 18).

A small training loop around refrnn.loss_and_grad + refrnn.training.Adam that can express
what refrnn.train cannot: other initialisations, and a *warm-up* (burn-in) that infers
the unobserved part of z_0 by running the model, forced, over the K observations that
precede each window (no gradient through the warm-up; the loss counts only the window).

Protocol (same for every variant): Lorenz-63, 50 000 samples (dt = 0.01, data seed 0),
standardised, last 20 % held out as the test split. Batch 32 windows of 100 steps, 10
batches/epoch, Adam lr 1e-3, no clipping. Every `eval_every` epochs a free run of 10 000
steps (transient 1000, start = first training sample) is compared with the *training*
series (D_stsp); the model with the lowest such D_stsp is kept ("best"), and that model's
D_stsp is then reported against the held-out *test* series (refrnn.metrics.evaluate).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import refrnn
from refrnn import PLRNN
from refrnn._validation import DivergenceError
from refrnn.bptt import forward, loss_and_grad
from refrnn.data import sample_windows
from refrnn.metrics import evaluate, generate_free_run, state_space_divergence
from refrnn.training import Adam, global_norm

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
RESULTS.mkdir(parents=True, exist_ok=True)

_DS = None


def dataset():
    global _DS
    if _DS is None:
        _DS = refrnn.generate("lorenz63", 50_000, rng=0)
    return _DS


# ------------------------------------------------------------------------------------
# initialisations
def make_model(M, N, init, seed, readout="identity"):
    """init: 'paper'   A, W, h ~ U(-1/sqrt M, 1/sqrt M)  (PLRNN.random)
    'smallW'  paper, with W scaled by 0.1
    'diag09'  A = 0.9, W ~ 0.1 U(-1/sqrt M, 1/sqrt M), h = 0
    'talathi' A + W = normalised positive-definite matrix (largest eigenvalue 1),
              R ~ N(0,1): K = R^T R / M + I, K /= max eig; A = diag K, W = offdiag K,
              h = 0  (Talathi & Vartak 2016-style identity-like init)
    """
    rng = np.random.default_rng(seed)
    base = PLRNN.random(M, N, readout=readout, rng=rng)
    p = base.params
    if init == "paper":
        return base
    if init == "smallW":
        return base.replace(W=0.1 * p["W"])
    if init == "diag09":
        return base.replace(A=np.full(M, 0.9), W=0.1 * p["W"], h=np.zeros(M))
    if init == "talathi":
        R = rng.standard_normal((M, M))
        K = R.T @ R / M + np.eye(M)
        K /= np.max(np.linalg.eigvalsh(K))
        W = K.copy()
        np.fill_diagonal(W, 0.0)
        return base.replace(A=np.diag(K).copy(), W=W, h=np.zeros(M))
    raise ValueError(init)


# ------------------------------------------------------------------------------------
def sync_forcing(model, Xfull, K):
    """Full-state forcing signal for the identity readout: z~_t = [x_t, h_t], where h_t is
    the hidden state of the model driven by the data at EVERY step (tau = 1) from the start
    of the warm-up (no gradient). Returns (Xw, F) for the last T+1 samples."""
    tr = forward(model, np.ascontiguousarray(Xfull), 1)
    F = tr.Z_forced[:, K:].copy()
    return np.ascontiguousarray(Xfull[:, K:]), np.ascontiguousarray(F)


def _as_linear(model):
    """The same PLRNN with readout B = [I 0]: x_hat = z[:N] as for the identity readout,
    but forcing replaces all M states (by the given forcing signal)."""
    B = np.zeros((model.N, model.M))
    B[:, : model.N] = np.eye(model.N)
    p = model.params
    return PLRNN(p["A"], p["W"], p["h"], B=B, readout="linear")


def warm_forcing(model, Xfull, K, tau, tau_warm=None):
    """Forcing signal for the last T+1 samples of each window of Xfull (S, K+T+1, N).

    The unobserved part of z_0 is the model's own state after K steps run over the K
    preceding observations, starting from [x, 0] and forced every `tau_warm` steps
    (default: the training tau) -- the same scheme the window itself uses.
    """
    Xw = Xfull[:, K:]
    F = model.infer_state(Xw)
    if K > 0:
        tr = forward(
            model, np.ascontiguousarray(Xfull[:, : K + 1]), tau if tau_warm is None else tau_warm
        )
        z0 = tr.Z_forced[:, K].copy()
        z0[:, : model.N] = Xw[:, 0]
        F[:, 0] = z0
    return np.ascontiguousarray(Xw), F


def d_stsp(model, X, n=10_000):
    try:
        Xg = generate_free_run(model, X, n, start=0)
    except DivergenceError:
        return float("nan")
    return float(state_space_divergence(X[:n] if len(X) > n else X, Xg))


def train_variant(
    model,
    *,
    tau=30,
    K=0,
    tau_warm=None,
    reset="data",
    tau_schedule=None,
    n_epochs=1000,
    seq_len=100,
    batch=32,
    bpe=10,
    lr=1e-3,
    seed=0,
    eval_every=50,
    track_every=10,
    grad_T=None,
    offset=0.0,
    verbose=False,
):
    """Train; return dict with history and the best model (selected on the train series)."""
    ds = dataset()
    # offset: train on X + offset (and evaluate on test + offset; D_stsp is invariant to a
    # common shift). With the identity readout a unit j talks to the others only through
    # relu(z_j) = relu(x_j), so an observed coordinate is invisible while it is negative;
    # offset = 3 makes the standardised coordinates positive (> 0 for 99.9 % of samples).
    Xtr = ds.train + offset
    Xte = ds.test + offset
    rng = np.random.default_rng(1000 + seed)
    opt = Adam(lr)
    N = model.N
    hist = {
        "epoch": [],
        "loss": [],
        "grad_norm": [],
        "zmax_hidden": [],
        "zmax_obs": [],
        "d_train": [],
    }
    best, best_d, best_ep = None, np.inf, None
    t0 = time.perf_counter()
    diverged = False
    for ep in range(n_epochs):
        if tau_schedule is not None:  # list of (first_epoch, tau), ascending
            tau = [t for e0, t in tau_schedule if ep >= e0][-1]
        ls, gs = [], []
        for _ in range(bpe):
            Wf = sample_windows(Xtr, batch, seq_len + K, rng)
            try:
                if reset == "sync":
                    Xw, F = sync_forcing(model, Wf, K)
                    loss, grads = loss_and_grad(_as_linear(model), Xw, tau, forcing=F)
                    grads.pop("B")
                else:
                    Xw, F = warm_forcing(model, Wf, K, tau, tau_warm)
                    loss, grads = loss_and_grad(model, Xw, tau, forcing=F)
                model = model.replace(**opt.step(model.params, grads))
            except (DivergenceError, ValueError):
                diverged = True
                break
            ls.append(loss)
            gs.append(global_norm(grads))
        if diverged:
            break
        hist["epoch"].append(ep)
        hist["loss"].append(float(np.mean(ls)))
        hist["grad_norm"].append(float(np.mean(gs)))
        if ep % track_every == 0 or ep == n_epochs - 1:
            Z = forward(_as_linear(model) if reset == "sync" else model, Xw, tau, forcing=F).Z
            hist["zmax_hidden"].append(float(np.max(np.abs(Z[..., N:]))) if model.M > N else 0.0)
            hist["zmax_obs"].append(float(np.max(np.abs(Z[..., :N]))))
        else:
            hist["zmax_hidden"].append(np.nan)
            hist["zmax_obs"].append(np.nan)
        d = np.nan
        if eval_every and ((ep + 1) % eval_every == 0 or ep == n_epochs - 1):
            d = d_stsp(model, Xtr)
            if np.isfinite(d) and d < best_d:
                best, best_d, best_ep = model, d, ep
        hist["d_train"].append(d)
        if verbose and (ep + 1) % 100 == 0:
            print(
                f"  ep {ep + 1} loss {hist['loss'][-1]:.4g} g {hist['grad_norm'][-1]:.3g} "
                f"zh {hist['zmax_hidden'][-1] if not np.isnan(hist['zmax_hidden'][-1]) else '-'} d {d:.3g}",
                flush=True,
            )
    chosen = best if best is not None else model
    ev, _ = evaluate(chosen, Xte, n_free=10_000)
    return {
        "model": model,
        "best": chosen,
        "best_epoch": best_ep,
        "best_d_train": best_d,
        "d_test": ev["d_stsp"],
        "d_h_test": ev["d_h"],
        "pe10_test": ev["prediction_error"],
        "history": hist,
        "diverged_training": diverged,
        "seconds": time.perf_counter() - t0,
    }


def run_record(r):
    """The fields every experiment records of a training run ``r`` (train_variant's result):
    scores, the final loss (mean of the last 20 epochs) and curves thinned to every 10th
    epoch."""
    h = r["history"]
    return {
        "d_test": r["d_test"],
        "best_d_train": r["best_d_train"],
        "best_epoch": r["best_epoch"],
        "final_loss": float(np.mean(h["loss"][-20:])),
        "loss": h["loss"][::10],
        "grad_norm": h["grad_norm"][::10],
        "zmax_hidden": h["zmax_hidden"][::10],
        "seconds": r["seconds"],
    }


def summarise(vals):
    v = np.asarray([x for x in vals if np.isfinite(x)])
    if v.size == 0:
        return "all diverged"
    return f"{np.median(v):.2f} [{v.min():.2f}, {v.max():.2f}]" + (
        f" ({len(vals) - v.size} nan)" if v.size < len(vals) else ""
    )


def dump(name, obj):
    path = RESULTS / name
    path.write_text(json.dumps(obj, indent=1, default=lambda o: None))
    return path
