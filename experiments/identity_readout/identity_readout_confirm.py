"""Confirmation with refrnn's own defaults for the identity readout (issue 18's target).

``refrnn.train`` with ``PLRNN.random(30, 3, readout="identity", rng=seed)``, tau = 10 and
the default warm-up (100 steps), the paper's batch settings (32 windows of 100 steps, 10
batches per epoch, Adam lr 1e-3) for 3000 epochs on standardised Lorenz-63 (50 000
samples, data seed 0, last 20% held out). The model is selected by train's default rule
(median D_stsp of 3 free runs against the *training* series, every 50 epochs) and then
scored once on the *test* series with ``refrnn.metrics.evaluate``. For comparison, the
same with the linear readout at tau = 30.

    NUMBA_NUM_THREADS=1 python experiments/identity_readout/identity_readout_confirm.py [seeds]

Writes docs/results/identity_readout_confirm.{json,md}.
"""

import json
import sys
import time
from pathlib import Path

import refrnn

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "results"


def run(readout, tau, seed):
    ds = refrnn.generate("lorenz63", 50_000, rng=0)
    t0 = time.perf_counter()
    res = refrnn.train(
        refrnn.PLRNN.random(30, 3, readout=readout, rng=seed), ds.train, tau=tau,
        n_epochs=3000, rng=seed + 1, eval_every=50, eval_steps=10_000,
    )  # fmt: skip
    ev, _ = refrnn.metrics.evaluate(res.best_model, ds.test, n_free=10_000)
    return {
        "readout": readout, "tau": tau, "seed": seed, "warmup": res.config["warmup"],
        "selection": res.selection, "test": ev, "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def main(seeds):
    runs = [run(r, t, s) for s in seeds for r, t in (("identity", 10), ("linear", 30))]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "identity_readout_confirm.json").write_text(json.dumps(runs, indent=1, default=float))
    lines = [
        "| readout | tau | warm-up | seed | selected epoch | D_stsp train (selection) "
        "| D_stsp test | D_H test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['readout']} | {r['tau']} | {r['warmup']} | {r['seed']} "
            f"| {r['selection']['epoch']} | {r['selection']['d_stsp']:.3f} "
            f"| {r['test']['d_stsp']:.3f} | {r['test']['d_h']:.3f} |"
        )
    (OUT / "identity_readout_confirm.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main([int(s) for s in (sys.argv[1].split(",") if len(sys.argv) > 1 else ["0", "1"])])
