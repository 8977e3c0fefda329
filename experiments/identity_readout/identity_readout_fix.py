"""Hypotheses for a fix (issue 18): identity-readout PLRNN (M=30, N=3), standardised
Lorenz-63, several seeds; D_stsp of the model selected on the TRAIN series, evaluated by a
free run against the held-out TEST series (see identity_readout_common.py).

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 python experiments/identity_readout/identity_readout_fix.py [n_epochs] [seeds] [variant-substring ...]

e.g. ``... identity_readout_fix.py 1000 0,1,2``. Results are appended to
docs/results/identity_readout_fix_<n_epochs>.json (a rerun skips finished cells).
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from identity_readout_common import (  # noqa: E402
    RESULTS,
    dump,
    make_model,
    run_record,
    train_variant,
)

VARIANTS = {
    # label: (readout, init, kwargs of train_variant)
    "C: tau30, sync reset (z0 and forced steps: hidden = data-driven state), K=100": (
        "identity",
        "paper",
        dict(tau=30, K=100, reset="sync"),
    ),
    "A: tau30, z0=[x0,0] (issue)": ("identity", "paper", dict(tau=30, K=0)),
    "B: tau30, warm-up K=100 forced every step": (
        "identity",
        "paper",
        dict(tau=30, K=100, tau_warm=1),
    ),
    "D: tau10, warm-up K=100 (tau 10)": ("identity", "paper", dict(tau=10, K=100)),
    "E: tau1, z0=[x0,0]": ("identity", "paper", dict(tau=1, K=0)),
    "J: tau10, z0=[x0,0] (no warm-up)": ("identity", "paper", dict(tau=10, K=0)),
    "K: tau20, warm-up K=100 (tau 20)": ("identity", "paper", dict(tau=20, K=100)),
    "F: tau 5->10->20->30 curriculum, warm-up K=100 every step": (
        "identity",
        "paper",
        dict(tau=5, K=100, tau_warm=1, tau_schedule="q"),
    ),
    "G: linear readout, tau30 (reference)": ("linear", "paper", dict(tau=30, K=0)),
    "H: tau30, z0=[x0,0], data offset +3 (observed states > 0)": (
        "identity",
        "paper",
        dict(tau=30, K=0, offset=3.0),
    ),
    "I: tau30, warm-up K=100 every step, data offset +3": (
        "identity",
        "paper",
        dict(tau=30, K=100, tau_warm=1, offset=3.0),
    ),
    "L: tau30, sync reset K=100 (as C), data offset +3": (
        "identity",
        "paper",
        dict(tau=30, K=100, reset="sync", offset=3.0),
    ),
}

n_epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2").split(",")]
only = sys.argv[3:]
name = f"identity_readout_fix_{n_epochs}.json"
path = RESULTS / name
out = json.loads(path.read_text()) if path.exists() else {}
for label, (readout, init, kw) in VARIANTS.items():
    if only and not any(o in label for o in only):
        continue
    kw = dict(kw)
    if kw.get("tau_schedule") == "q":
        q = n_epochs // 4
        kw["tau_schedule"] = [(0, 5), (q, 10), (2 * q, 20), (3 * q, 30)]
    for seed in seeds:
        key = f"{label} | seed {seed}"
        if key in out:
            continue
        m0 = make_model(30, 3, init, seed, readout=readout)
        r = train_variant(m0, n_epochs=n_epochs, seed=seed, eval_every=50, **kw)
        h = r["history"]
        out[key] = {
            "variant": label,
            "seed": seed,
            **run_record(r),
            "d_h_test": r["d_h_test"],
            "d_train": h["d_train"],
        }
        np.savez(
            RESULTS / f"identity_readout_fixmodel_{label[0]}_seed{seed}_{n_epochs}.npz",
            **r["best"].params,
        )
        print(
            f"{key:90s} d_test={r['d_test']:.3f} d_train(best)={r['best_d_train']:.3f} "
            f"loss={out[key]['final_loss']:.4g} {r['seconds']:.0f}s",
            flush=True,
        )
        dump(name, out)
