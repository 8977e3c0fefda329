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
from identity_readout_common import RESULTS, dataset, dump, warm_forcing  # noqa: E402
from refrnn import PLRNN  # noqa: E402
from refrnn.bptt import forward, loss_and_grad  # noqa: E402
from refrnn.data import sample_windows  # noqa: E402
from refrnn.training import global_norm  # noqa: E402

TAU = 30
TS = [30, 60, 100, 200, 400, 800]
MODELS = {  # label -> (file, readout, K warm-up)
    "linear (trained, tau30)": ("identity_readout_model_linear_tau30.npz", "linear", 0),
    "identity (trained as in issue)": ("identity_readout_model_identity_tau30_issue.npz", "identity", 0),
    "identity (trained, warm-up K=100)": ("identity_readout_model_identity_tau30_warmup_K100.npz", "identity", 0),
    "identity (trained, warm-up K=100) + warm z0": ("identity_readout_model_identity_tau30_warmup_K100.npz", "identity", 100),
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


def main():
    ds = dataset()
    rng = np.random.default_rng(5)
    res = {}
    for label, (fname, readout, K) in MODELS.items():
        if not (RESULTS / fname).exists():
            print("missing", fname)
            continue
        model = load(fname, readout)
        rows = []
        for T in TS:
            gn, ln = [], []
            for b in range(8):
                Wf = sample_windows(ds.train, 32, T + K, rng)
                Xw, F = warm_forcing(model, Wf, K, TAU)
                _, g = loss_and_grad(model, Xw, TAU, forcing=F)
                gn.append(global_norm(g))
                if b == 0:
                    tr = forward(model, Xw, TAU, forcing=F)
                    ln.extend(eff_log_norm(model, tr.Z_forced[:8], TAU))
            ln = np.asarray(ln)
            rows.append({"T": T, "grad_norm_median": float(np.median(gn)),
                         "grad_norm_max": float(np.max(gn)),
                         "log_norm_P_per_step_median": float(np.median(ln)) if np.all(np.isfinite(ln)) else None})
            print(f"{label:45s} T={T:4d} |g| med {np.median(gn):.3g} max {np.max(gn):.3g} "
                  f"(1/T)log||P_T|| {np.median(ln):.4f}", flush=True)
        res[label] = rows
    dump("identity_readout_grad_vs_T.json", res)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for label, rows in res.items():
        T = [r["T"] for r in rows]
        ax[0].loglog(T, [r["grad_norm_median"] for r in rows], "o-", label=label)
        lp = [r["log_norm_P_per_step_median"] for r in rows]
        ax[1].plot(T, [np.nan if v is None else v for v in lp], "o-", label=label)
    ax[0].set(xlabel="window length T", ylabel="median ||dL/dtheta||", title=f"STF, tau={TAU}")
    ax[1].set(xlabel="window length T", ylabel="(1/T) log ||C_T J_T ... C_1 J_1||",
              title="effective Jacobian product (forced rows cut)")
    ax[1].axhline(0, color="k", lw=0.5)
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "identity_readout_grad_vs_T.png", dpi=110)


if __name__ == "__main__":
    main()
