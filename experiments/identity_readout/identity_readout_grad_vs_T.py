"""Measure 1: does STF still bound the gradients with the identity readout?

For trained models (saved by identity_readout_scan.py / identity_readout_fix.py), along
forced trajectories on standardised Lorenz-63 windows at tau = 30:

* ||dL/dtheta|| (median over 8 batches of 32 windows) vs window length T;
* the effective Jacobian product dz_T/dz_0 under STF,
  P_T = C_T J_T ... C_1 J_1,  C_t = diag(0 on forced components) at forced steps, I else,
  i.e. for the identity readout the product over the UNOBSERVED subspace with the forced
  rows cut; for the linear readout C_t = 0 (P_T = 0 for T >= tau). Reported as
  (1/T) log ||P_T||_2 (median over windows) -- a positive slope = exponential growth.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 python experiments/identity_readout/identity_readout_grad_vs_T.py
"""

import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from identity_readout_common import (
    RESULTS,
    _as_linear,
    dataset,
    dump,
    sync_forcing,  # noqa: E402
    warm_forcing,
)

from refrnn import PLRNN  # noqa: E402
from refrnn.bptt import forward, loss_and_grad  # noqa: E402
from refrnn.data import sample_windows  # noqa: E402
from refrnn.lyapunov import lyapunov_spectrum  # noqa: E402
from refrnn.training import global_norm  # noqa: E402

TAU = 30
TS = [30, 60, 100, 200, 400, 800]
MODELS = {  # label -> (file, readout, K warm-up or "sync")
    "linear (trained, tau30)": ("identity_readout_model_linear_tau30.npz", "linear", 0),
    "identity (trained as in issue), z0=[x,0]": (
        "identity_readout_model_identity_tau30_issue.npz",
        "identity",
        0,
    ),
    "identity (trained tau1), z0=[x,0]": (
        "identity_readout_model_identity_tau1.npz",
        "identity",
        0,
    ),
    "identity (trained tau1), sync reset": (
        "identity_readout_model_identity_tau1.npz",
        "identity",
        "sync",
    ),
    "identity (fix C seed 2), z0=[x,0]": (
        "identity_readout_fixmodel_C_seed2_1000.npz",
        "identity",
        0,
    ),
    "identity (fix C seed 2), sync reset": (
        "identity_readout_fixmodel_C_seed2_1000.npz",
        "identity",
        "sync",
    ),
    "identity (fix D seed 1, 3000 ep), warm-up z0, tau=10": (
        "identity_readout_fixmodel_D_seed1_3000.npz",
        "identity",
        100,
        10,
    ),
    "identity (fix D seed 1, 3000 ep), warm-up z0, tau=30": (
        "identity_readout_fixmodel_D_seed1_3000.npz",
        "identity",
        100,
        30,
    ),
}


def load(fname, readout):
    p = dict(np.load(RESULTS / fname))
    if readout == "identity":
        return PLRNN(p["A"], p["W"], p["h"], readout="identity", n_obs=3)
    return PLRNN(p["A"], p["W"], p["h"], B=p["B"], readout="linear")


def eff_log_norm(model, Zf_in, tau):
    """(1/T) log ||C_T J_T ... C_1 J_1||_2 with renormalisation, per window."""
    S, T1, M = Zf_in.shape
    out = np.empty(S)
    P0 = model.params
    for s in range(S):
        P, logs = np.eye(M), 0.0
        for t in range(1, T1):
            J = np.diag(P0["A"]) + P0["W"] * (Zf_in[s, t - 1] > 0)[None, :]
            P = J @ P
            if t % tau == 0:
                if model.readout == "identity":
                    P[: model.N] = 0.0
                else:
                    P[:] = 0.0
            n = np.linalg.norm(P, 2)
            if n == 0:
                logs = -np.inf
                break
            logs += np.log(n)
            P /= n
        out[s] = logs / (T1 - 1)
    return out


def main():  # noqa: C901
    ds = dataset()
    rng = np.random.default_rng(5)
    res = {}
    for label, spec in MODELS.items():
        fname, readout, K = spec[:3]
        TAU = spec[3] if len(spec) > 3 else 30
        if not (RESULTS / fname).exists():
            print("missing", fname)
            continue
        model = load(fname, readout)
        try:
            lam = float(
                lyapunov_spectrum(
                    model, model.infer_state(ds.train[0]), n_steps=20_000, k=1
                ).exponents[0]
            )
        except Exception as e:  # noqa: BLE001
            print("lyapunov failed", e)
            lam = float("nan")
        print(f"{label}: lambda_max = {lam:.4f} per step", flush=True)
        rows = []
        for T in TS:
            gn, ln = [], []
            for b in range(8):
                if K == "sync":  # all M states reset at forced steps (hidden: data-driven run)
                    Wf = sample_windows(ds.train, 32, T + 100, rng)
                    Xw, F = sync_forcing(model, Wf, 100)
                    lm = _as_linear(model)
                    _, g = loss_and_grad(lm, Xw, TAU, forcing=F)
                    g.pop("B")
                else:
                    Wf = sample_windows(ds.train, 32, T + K, rng)
                    Xw, F = warm_forcing(model, Wf, K, TAU)
                    lm = model
                    _, g = loss_and_grad(model, Xw, TAU, forcing=F)
                gn.append(global_norm(g))
                if b == 0:
                    tr = forward(lm, Xw, TAU, forcing=F)
                    ln.extend(eff_log_norm(lm, tr.Z_forced[:8], TAU))
            ln = np.asarray(ln)
            rows.append(
                {
                    "T": T,
                    "grad_norm_median": float(np.median(gn)),
                    "grad_norm_max": float(np.max(gn)),
                    "log_norm_P_per_step_median": float(np.median(ln))
                    if np.all(np.isfinite(ln))
                    else None,
                }
            )
            print(
                f"{label:45s} T={T:4d} |g| med {np.median(gn):.3g} max {np.max(gn):.3g} "
                f"(1/T)log||P_T|| {np.median(ln):.4f}",
                flush=True,
            )
        res[label] = {"lambda_max_per_step": lam, "tau": TAU, "rows": rows}
    dump("identity_readout_grad_vs_T.json", res)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for label, rr in res.items():
        rows = rr["rows"]
        T = [r["T"] for r in rows]
        ax[0].loglog(T, [r["grad_norm_median"] for r in rows], "o-", label=label)
        lp = [r["log_norm_P_per_step_median"] for r in rows]
        ax[1].plot(T, [np.nan if v is None else v for v in lp], "o-", label=label)
    ax[0].set(
        xlabel="window length T",
        ylabel="median ||dL/dtheta||",
        title="STF, tau = 30 unless the label says otherwise",
    )
    ax[1].set(
        xlabel="window length T",
        ylabel="(1/T) log ||C_T J_T ... C_1 J_1||",
        title="effective Jacobian product (forced rows cut)",
    )
    ax[1].axhline(0, color="k", lw=0.5)
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "identity_readout_grad_vs_T.png", dpi=110)


if __name__ == "__main__":
    main()
