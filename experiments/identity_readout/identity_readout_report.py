"""Figures and tables for docs/results/identity_readout.md from the JSON files written by
identity_readout_scan.py, identity_readout_fix.py and identity_readout_grad_vs_T.py.

    python experiments/identity_readout/identity_readout_report.py
"""

import json
from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

R = Path(__file__).resolve().parents[2] / "docs" / "results"


def fmt(vals, p=2):
    v = np.asarray([x for x in vals if x is not None and np.isfinite(x)])
    if v.size == 0:
        return "diverged"
    s = (
        f"{np.median(v):.{p}g} [{v.min():.{p}g}, {v.max():.{p}g}]"
        if p != 2
        else f"{np.median(v):.2f} [{v.min():.2f}, {v.max():.2f}]"
    )
    return s + (f" ({len(vals) - v.size} NaN)" if v.size < len(vals) else "")


def scan_fig():
    d = json.loads((R / "identity_readout_scan.json").read_text())
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    for k, v in d.items():
        ep = np.arange(len(v["loss"])) * 10
        ax[0].semilogy(ep, v["loss"], label=k)
        zh = np.asarray(v["zmax_hidden"], float)
        ax[1].plot(ep, zh, label=k)
        ax[2].semilogy(ep, v["grad_norm"], label=k)
    ax[0].set(xlabel="epoch", ylabel="STF loss (train batches)", title="scan, seed 0")
    ax[1].set(xlabel="epoch", ylabel="max |z_i|, unobserved i (one batch)")
    ax[2].set(xlabel="epoch", ylabel="||dL/dtheta|| (mean over batches)")
    ax[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(R / "identity_readout_scan.png", dpi=110)
    rows = [
        "| run | readout | M | init | tau | warm-up K | final loss | max abs z (unobs.), end | D_stsp train (best) | D_stsp test |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k, v in d.items():
        zh = [x for x in v["zmax_hidden"] if x is not None and np.isfinite(x)]
        rows.append(
            f"| {k} | {v['readout']} | {v['M']} | {v['init']} | {v['tau']} | {v['K']} | "
            f"{v['final_loss']:.4f} | {zh[-1]:.1f} | {v['best_d_train']:.2f} | {v['d_test']:.2f} |"
        )
    return "\n".join(rows)


def fix_table(n_epochs):
    p = R / f"identity_readout_fix_{n_epochs}.json"
    if not p.exists():
        return None
    d = json.loads(p.read_text())
    by = defaultdict(list)
    for v in d.values():
        by[v["variant"]].append(v)
    rows = [
        f"| variant ({n_epochs} epochs) | seeds | D_stsp test, median [min, max] | D_stsp train (selection) | final loss | D_H test |",
        "|---|---|---|---|---|---|",
    ]
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    for i, (lab, vs) in enumerate(sorted(by.items())):
        rows.append(
            f"| {lab} | {','.join(str(v['seed']) for v in vs)} | {fmt([v['d_test'] for v in vs])} | "
            f"{fmt([v['best_d_train'] for v in vs])} | {fmt([v['final_loss'] for v in vs], 3)} | "
            f"{fmt([v['d_h_test'] for v in vs])} |"
        )
        L = np.array([v["loss"] for v in vs])
        ax[0].semilogy(np.arange(L.shape[1]) * 10, np.median(L, 0), label=lab[:40], color=f"C{i}")
        ax[1].scatter([i] * len(vs), [v["d_test"] for v in vs], color=f"C{i}")
    ax[0].set(xlabel="epoch", ylabel="STF loss, median over seeds")
    ax[0].legend(fontsize=6)
    ax[1].set_xticks(range(len(by)))
    ax[1].set_xticklabels([lab.split(":")[0] for lab in sorted(by)])
    ax[1].set(ylabel="D_stsp (test, selected model)", title="each dot = one seed")
    fig.tight_layout()
    fig.savefig(R / f"identity_readout_fix_{n_epochs}.png", dpi=110)
    return "\n".join(rows)


def grad_table():
    p = R / "identity_readout_grad_vs_T.json"
    if not p.exists():
        return None
    d = json.loads(p.read_text())
    Ts = [r["T"] for r in next(iter(d.values()))["rows"]]
    rows = [
        "| model (tau=30), λ_max per step | quantity | " + " | ".join(f"T={T}" for T in Ts) + " |",
        "|---|---|" + "---|" * len(Ts),
    ]
    for k, rr in d.items():
        rs = rr["rows"]
        k = f"{k}, λ_max={rr['lambda_max_per_step']:+.4f}"
        rows.append(
            f"| {k} | median ‖dL/dθ‖ | "
            + " | ".join(f"{r['grad_norm_median']:.2f}" for r in rs)
            + " |"
        )
        rows.append(
            "| | (1/T) log‖P_T‖ | "
            + " | ".join(
                "−∞ (cut)"
                if r["log_norm_P_per_step_median"] is None
                else f"{r['log_norm_P_per_step_median']:+.3f}"
                for r in rs
            )
            + " |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    parts = {"scan": scan_fig(), "grad": grad_table()}
    for n in (1000, 3000):
        parts[f"fix{n}"] = fix_table(n)
    (R / "identity_readout_tables.md").write_text(
        "\n\n".join(f"<!-- {k} -->\n{v}" for k, v in parts.items() if v)
    )
    print((R / "identity_readout_tables.md").read_text())
