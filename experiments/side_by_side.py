"""refrnn and the paper's released code, trained side by side and scored by one metric.

The released code of Mikhaeil, Monfared & Durstewitz (2022), https://github.com/
DurstewitzLab/ChaosRNN, is GPL-licensed and is **not** part of refrnn: check it out
yourself and pass its path. This script imports its PLRNN and its window sampler from that
path (nothing is copied) and drives them with a loop equivalent to its ``bptt_algorithm``
(Adam, MSE loss, forcing with ``pinv(B)`` every tau steps, no clipping, float32) with one
difference stated up front: its hard-coded annealing of tau from 1 upwards is off, so that
both implementations train with the same fixed tau.

Both train on the first 80% of the same data file (default: the released code's
``datasets/Lorenz/lorenz_data_chaos.npy``, 100 000 samples of Lorenz-63 at dt = 0.01) with
the paper's configuration: PLRNN M = 30, linear readout, tau = 30, windows of 100 steps,
32 windows per batch, 10 batches per epoch, Adam lr 1e-3, ``--epochs`` epochs. Every
``--every`` epochs each snapshot is converted to a float64 refrnn model and scored by
refrnn's D_stsp and D_H of one free run (as long as the test part, 1000 steps of burn-in,
started from its first point) against the last 20% of the file -- the same metric, length
and burn-in for both. Times are CPU seconds of the training process (``time.process_time``,
one thread each, scoring excluded, refrnn's kernels compiled beforehand), so that other
jobs on the machine do not distort the comparison.

    python experiments/side_by_side.py --authors-code PATH/TO/ChaosRNN [--seeds 3]
        [--epochs 3000] [--every 50] [--workers 2]

Writes docs/results/side_by_side.{md,json,png}; runs are kept in runs/side_by_side/.
The authors' code needs torch (``pip install torch==2.13.0``, the CPU build); its own
requirements beyond that (tensorboardX, pandas) are not needed by this script.
Without the authors' code the script says what it needs and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "side_by_side"
OUT = ROOT / "docs" / "results"
DATA_IN_REPO = Path("datasets") / "Lorenz" / "lorenz_data_chaos.npy"
CONFIG = dict(M=30, tau=30, seq_len=100, batch_size=32, batches_per_epoch=10, lr=1e-3)
TRAIN_FRACTION = 0.8


# ======================================================================================
# the shared metric
def split(X):
    """The first 80% trains, the last 20% scores."""
    n = int(TRAIN_FRACTION * len(X))
    return X[:n], X[n:]


def score(params, X_test):
    """refrnn's D_stsp and D_H of a free run of the PLRNN ``params`` (A, W, h, B) against
    ``X_test``: one free run as long as ``X_test``, 1000 steps of burn-in, from its first
    point. A diverging free run scores inf."""
    import refrnn

    model = refrnn.PLRNN(**{k: np.asarray(v, dtype=np.float64) for k, v in params.items()})
    ev, _ = refrnn.metrics.evaluate(model, X_test, n_free=len(X_test), transient=1000, start=0)
    if ev["diverged"]:
        return float("inf"), float("inf")
    return float(ev["d_stsp"]), float(ev["d_h"])


# ======================================================================================
# refrnn's half
#: refrnn's settings beyond the shared configuration, by implementation name: the paper's
#: (as the released code: no clipping, no average) and the one that met issue 12's
#: stability targets on standardised data (stf_stability.md); its snapshots are the
#: parameter averages
REFRNN_VARIANTS = {
    "refrnn": {},
    "refrnn-clip1-ema0.995": dict(clip_norm=1.0, ema_decay=0.995),
}


def refrnn_run(X, seed, epochs, every, work_dir, variant="refrnn"):
    """Train refrnn's PLRNN in chunks of ``every`` epochs (exact resume from a checkpoint
    between chunks) and score each snapshot (with ``ema_decay``: the parameter average).
    Returns a list of snapshot records."""
    import refrnn

    X_train, X_test = split(X)
    ck = Path(work_dir) / f"{variant}-seed{seed}.ck.npz"
    ck.unlink(missing_ok=True)
    init = refrnn.PLRNN.random(CONFIG["M"], X.shape[1], rng=seed)
    # compile the kernels first (cached on disk), so that CPU time counts training only
    refrnn.train(init, X_train[:500], tau=CONFIG["tau"], n_epochs=1, batches_per_epoch=1,
                 batch_size=2, seq_len=50, eval_every=None)  # fmt: skip
    snaps, cpu = [], 0.0
    for e in range(every, epochs + 1, every):
        t0 = time.process_time()
        res = refrnn.train(
            init, X_train, tau=CONFIG["tau"], n_epochs=e, seq_len=CONFIG["seq_len"],
            batch_size=CONFIG["batch_size"], batches_per_epoch=CONFIG["batches_per_epoch"],
            lr=CONFIG["lr"], rng=seed + 1, eval_every=None, checkpoint=ck,
            checkpoint_every=every, resume=True, **REFRNN_VARIANTS[variant],
        )  # fmt: skip
        cpu += time.process_time() - t0
        model = res.final_model  # with ema_decay, the average
        d, dh = score(model.params, X_test)
        B_norm = float(np.linalg.norm(model.params["B"], 2))
        snaps.append({"epoch": e, "wall": cpu, "d_stsp": d, "d_h": dh, "B_norm": B_norm})
    ck.unlink(missing_ok=True)
    return snaps


# ======================================================================================
# the authors' half (imports their modules from the given path; nothing is copied)
def authors_run(code_path, X, seed, epochs, every):
    import torch as tc

    sys.path.insert(0, str(code_path))
    from bptt.dataset import GeneralDataset  # noqa: PLC0415  (the authors' code)
    from bptt.PLRNN_model import PLRNN  # noqa: PLC0415

    tc.set_num_threads(1)
    tc.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- their window sampler uses numpy's global state
    X_train, X_test = split(X)
    data = GeneralDataset(X_train, CONFIG["seq_len"], CONFIG["batch_size"],
                          CONFIG["batches_per_epoch"])  # fmt: skip
    obs = tc.nn.Linear(CONFIG["M"], X.shape[1], bias=False)
    latent = PLRNN(X.shape[1], CONFIG["M"], 1, clip_range=None, latent_model="PLRNN",
                   layer_norm=False, obs_model=obs)  # fmt: skip
    opt = tc.optim.Adam(list(latent.parameters()), CONFIG["lr"])
    loss_fn = tc.nn.MSELoss()
    snaps, wall = [], 0.0
    for epoch in range(1, epochs + 1):
        t0 = time.process_time()
        for inp, target in data.get_rand_dataloader():
            opt.zero_grad()
            pred = obs(latent(inp, CONFIG["tau"]))  # fixed tau: no annealing
            loss = loss_fn(pred, target)
            loss.backward()
            opt.step()
        wall += time.process_time() - t0
        if epoch % every == 0:
            AW = latent.latent_step.AW.detach().double().numpy()
            params = {
                "A": np.diag(AW).copy(),
                "W": AW - np.diag(np.diag(AW)),
                "h": latent.latent_step.h.detach().double().numpy(),
                "B": obs.weight.detach().double().numpy(),
            }
            d, dh = score(params, X_test)
            snaps.append({"epoch": epoch, "wall": wall, "d_stsp": d, "d_h": dh,
                          "B_norm": float(np.linalg.norm(params["B"], 2))})  # fmt: skip
    return snaps


# ======================================================================================
def _job(kind, code_path, data_path, seed, epochs, every):
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    path = RUNS / f"{kind}-seed{seed}-e{epochs}-every{every}.json"
    if path.exists():
        return json.loads(path.read_text())
    X = np.load(data_path, allow_pickle=False).astype(np.float64)
    RUNS.mkdir(parents=True, exist_ok=True)
    if kind in REFRNN_VARIANTS:
        snaps = refrnn_run(X, seed, epochs, every, RUNS, kind)
    else:
        snaps = authors_run(code_path, X, seed, epochs, every)
    out = {"implementation": kind, "seed": seed, "snapshots": snaps}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    return out


def summarise(run, threshold=0.3):
    """Best and final D_stsp, and wall times to the best and to the first D_stsp <= 0.3."""
    s = run["snapshots"]
    d = np.array([x["d_stsp"] for x in s])
    wall = np.array([x["wall"] for x in s])
    i = int(np.argmin(d))
    hit = np.flatnonzero(d <= threshold)
    conv = np.flatnonzero(d < 0.5)
    after = d[conv[0] + 1 :] if conv.size else np.array([])
    return {
        "best": float(d[i]),
        "best_wall": float(wall[i]),
        "final": float(d[-1]),
        "final_d_h": float(s[-1]["d_h"]),
        "wall_to_threshold": float(wall[hit[0]]) if hit.size else float("nan"),
        "relapse_fraction": float(np.mean(after > 1.0)) if after.size else float("nan"),
        "s_per_epoch": float(wall[-1] / s[-1]["epoch"]),
        "final_B_norm": float(s[-1]["B_norm"]),
    }


def _mr(values, spec=".3g"):
    """Median [min, max]; a diverged free run (inf) counts as the worst value, a quantity
    that does not exist for a run (NaN, e.g. never reached the threshold) is left out and
    the number of runs that have it is shown."""
    v = np.asarray(values, dtype=float)
    have = v[~np.isnan(v)]
    if have.size == 0:
        return "–"
    text = f"{np.median(have):{spec}} [{have.min():{spec}}, {have.max():{spec}}]"
    return text if have.size == v.size else f"{text} ({have.size} of {v.size})"


# What the table shows, written after looking at it (kept with the script so that a rerun
# keeps the reading next to the numbers; revise it when they change).
NOTES = """
## Reading it (refrnn 0.5.0 for all 10 refrnn seeds; the released code's seeds 0-2 from
## the first run, seeds 3-4 added on 3 Dec 2026)

* **Speed.** refrnn trains an epoch in 0.019 CPU-s against 0.165 for the released code
  (8.7×; both timed while other jobs shared the machine, as process CPU time), and its
  runs reach their best snapshot after a median 53 CPU-s against 448.
* **Quality.** The medians of the best snapshots are about equal: 0.244 over refrnn's 10
  seeds against 0.234 over the released code's 5 (on the same seeds 0-4, refrnn's median
  is 0.179: 0.157, 0.136 and 0.179 against 0.200-0.262, but seed 0 never converged,
  0.807). refrnn's runs are less steady on this file: 5 of its 10 seeds reach
  D_stsp ≤ 0.3 and 3 never get below 0.5 (seeds 0, 5 and 8), against all 5 of the
  released code's. Both relapse: after first reaching D_stsp < 0.5, the released code's
  snapshots exceed 1 a median 12 % of the time (0-59 %; seeds 3 and 4, added in this
  run, relapse in 59 % and 51 %, and seed 3 ends at 0.99), refrnn's 15 % (0-73 %).
  The first three seeds of the released code (2 % median) made it look steadier than it
  is.
* **What is and is not known.** For the same parameters and windows both compute the
  same loss and, with refrnn's default `detach_forcing=False`, the same gradients
  (to 1e-10 against autograd through `torch.linalg.pinv`; `tests/test_bptt_torch.py`).
  The remaining differences are float32 against float64, windows drawn without
  replacement within an epoch, and the random streams of initialisation and sampling;
  which of them (if any, beyond chance) makes refrnn converge less often on this
  unstandardised file is not measured (the released code cannot simply be run in
  float64: its forward pass casts the inputs with `.float()`). On standardised data
  (`stf_stability.md`) refrnn's default converged in 10 of 10 seeds.
* **With clipping at 1 and a parameter average** (`refrnn-clip1-ema0.995`:
  `train(clip_norm=1, ema_decay=0.995)`, the setting that met issue 12's stability
  targets on standardised data, `stf_stability.md`; each snapshot is the average, and
  the iterates are those of a clipped run) refrnn converged in all 10 seeds on this file
  (every one reached D_stsp ≤ 0.3): median best 0.173 [0.106, 0.286] against the
  released code's 0.234 [0.166, 0.262], final 0.210 [0.148, 0.602] against 0.335, median
  relapse fraction 3.4 % against 12 % (seed 9 relapsed in 89 % of its snapshots and
  ended at 0.60; seed 6 in 50 %), at the same 0.019 CPU-s per epoch. The released code
  ran as published (no clipping, no average): this row compares refrnn's recommended
  setting with it, not identical algorithms.
* **Targets of issue 12.** Median best D_stsp at least as good as the released code's:
  **met** with clipping and the average (0.173 against 0.234, 10 and 5 seeds); with the
  paper's settings not met over all seeds (0.244 against 0.234, well within the seeds'
  spread; met on the paired seeds 0-4, 0.179). Reached in at most a third of its time:
  **met** in both (51 and 53 against 448 CPU-s to the best snapshot, 32 against 347 to
  D_stsp ≤ 0.3).
"""


def report(runs, epochs, every, data_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {}
    for r in runs:
        by.setdefault(r["implementation"], []).append(r)
    keys = [
        ("best", "best D_stsp"),
        ("final", "final D_stsp"),
        ("final_d_h", "final D_H"),
        ("best_wall", "CPU s to best"),
        ("wall_to_threshold", "CPU s to D_stsp ≤ 0.3"),
        ("relapse_fraction", "relapse fraction"),
        ("s_per_epoch", "CPU s / epoch"),
        ("final_B_norm", "final ‖B‖₂"),
    ]
    lines = [
        "# refrnn and the paper's released code, side by side",
        "",
        "Generated by `python experiments/side_by_side.py --authors-code PATH`. Data: "
        f"`{Path(data_path).name}` (first 80% for training, last 20% for scoring). PLRNN "
        f"M = 30, linear readout, tau = 30 (fixed; the released code's annealing off), "
        f"{epochs} epochs of 10 batches of 32 windows of 100 steps, Adam lr 1e-3, no "
        "clipping; refrnn float64 with the gradient through B^+ (its default), the released "
        f"code float32 as published. Every {every} epochs each snapshot is scored with "
        "refrnn's D_stsp and D_H (one free run as long as the test part, 1000 steps of "
        "burn-in, from its first point). No model selection; times are CPU seconds of "
        "training only (scoring excluded), one thread each. Median [min, max] over seeds. "
        "Relapse fraction: share of "
        "snapshots after the first with D_stsp < 0.5 that have D_stsp > 1.",
        "",
        "| implementation | seeds | " + " | ".join(t for _, t in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for name, rs in by.items():
        s = [summarise(r) for r in rs]
        lines.append(
            f"| {name} | {len(rs)} | " + " | ".join(_mr([x[k] for x in s]) for k, _ in keys) + " |"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "side_by_side.md").write_text("\n".join(lines) + "\n" + NOTES)
    (OUT / "side_by_side.json").write_text(json.dumps(runs))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    colors = {"refrnn": "C0", "authors": "C1", "refrnn-clip1-ema0.995": "C2"}
    for r in runs:
        s = r["snapshots"]
        d = [x["d_stsp"] for x in s]
        c = colors.get(r["implementation"], "C2")
        axes[0].semilogy([x["epoch"] for x in s], d, color=c, lw=1, alpha=0.8)
        axes[1].semilogy([x["wall"] for x in s], d, color=c, lw=1, alpha=0.8)
    for name, c in colors.items():
        axes[0].plot([], [], color=c, label=name)
    axes[0].legend()
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("training CPU time (s, one thread)")
    axes[0].set_ylabel("D_stsp of a free run (test part)")
    fig.tight_layout()
    fig.savefig(OUT / "side_by_side.png", dpi=120)
    print("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--authors-code", required=False, default=None,
                   help="path of a checkout of github.com/DurstewitzLab/ChaosRNN")  # fmt: skip
    p.add_argument(
        "--data", default=None, help=f"data file (default: <authors-code>/{DATA_IN_REPO})"
    )
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3000)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed-list", type=int, nargs="+", default=None, help="instead of --seeds")
    p.add_argument("--only", choices=["authors", *REFRNN_VARIANTS], default=None)
    p.add_argument("--report-only", action="store_true",
                   help="tabulate every finished run in runs/side_by_side")  # fmt: skip
    args = p.parse_args(argv)
    code = Path(args.authors_code) if args.authors_code else None
    if code is None or not (code / "bptt" / "PLRNN_model.py").is_file():
        print(
            "side_by_side.py needs the paper's released code (GPL, not shipped with refrnn):\n"
            "  git clone https://github.com/DurstewitzLab/ChaosRNN\n"
            "  python experiments/side_by_side.py --authors-code ChaosRNN\n"
            f"(got --authors-code {args.authors_code!r}: no bptt/PLRNN_model.py there), "
            "and torch: pip install torch==2.13.0",
            file=sys.stderr,
        )
        return 2
    data_path = Path(args.data) if args.data else code / DATA_IN_REPO
    if args.report_only:
        pattern = f"*-seed*-e{args.epochs}-every{args.every}.json"
        runs = [json.loads(p.read_text()) for p in sorted(RUNS.glob(pattern))]
        runs.sort(key=lambda r: (r["implementation"], r["seed"]))
        report(runs, args.epochs, args.every, data_path)
        return 0
    seeds = args.seed_list if args.seed_list is not None else range(args.seeds)
    kinds = (args.only,) if args.only else ("authors", "refrnn")
    jobs = [(k, s) for s in seeds for k in kinds]
    with ProcessPoolExecutor(args.workers) as pool:
        futs = [pool.submit(_job, k, str(code), str(data_path), s, args.epochs, args.every)
                for k, s in jobs]  # fmt: skip
        runs = [f.result() for f in futs]
    report(runs, args.epochs, args.every, data_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
