"""Scan (one seed, short runs): identity-readout PLRNN on standardised Lorenz-63 vs tau,
M, initialisation and warm-up length K; linear readout for comparison.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 python experiments/identity_readout/identity_readout_scan.py [n_epochs]

Writes docs/results/identity_readout_scan.json (+ final models in .npz) incrementally.
"""

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

n_epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 600
CELLS = [
    # (label, readout, M, init, tau, K)
    ("linear tau30", "linear", 30, "paper", 30, 0),
    ("identity tau30 (issue)", "identity", 30, "paper", 30, 0),
    ("identity tau1", "identity", 30, "paper", 1, 0),
    ("identity tau5", "identity", 30, "paper", 5, 0),
    ("identity tau10", "identity", 30, "paper", 10, 0),
    ("identity tau20", "identity", 30, "paper", 20, 0),
    ("identity tau30 M10", "identity", 10, "paper", 30, 0),
    ("identity tau30 smallW", "identity", 30, "smallW", 30, 0),
    ("identity tau30 diag09", "identity", 30, "diag09", 30, 0),
    ("identity tau30 talathi", "identity", 30, "talathi", 30, 0),
    ("identity tau30 warmup K=100", "identity", 30, "paper", 30, 100),
    ("identity tau10 warmup K=100", "identity", 30, "paper", 10, 100),
]
only = sys.argv[2:] if len(sys.argv) > 2 else None
out = {}
path = RESULTS / "identity_readout_scan.json"
if path.exists():
    import json

    out = json.loads(path.read_text())
for label, readout, M, init, tau, K in CELLS:
    if only and not any(o in label for o in only):
        continue
    if label in out:
        continue
    m0 = make_model(M, 3, init, 0, readout=readout)
    r = train_variant(m0, tau=tau, K=K, n_epochs=n_epochs, seed=0, eval_every=50)
    h = r["history"]
    out[label] = {
        "readout": readout,
        "M": M,
        "init": init,
        "tau": tau,
        "K": K,
        "n_epochs": n_epochs,
        **run_record(r),
        "zmax_obs": h["zmax_obs"][::10],
        "A_obs": r["model"].params["A"][:3].tolist(),
        "diverged_training": r["diverged_training"],
    }
    np.savez(
        RESULTS
        / f"identity_readout_model_{label.replace(' ', '_').replace('(', '').replace(')', '').replace('=', '')}.npz",
        **r["best"].params,
    )
    print(
        f"{label:32s} d_test={r['d_test']:.3f} loss={out[label]['final_loss']:.4g} "
        f"zh={h['zmax_hidden'][-1]:.3g} {r['seconds']:.0f}s",
        flush=True,
    )
    dump("identity_readout_scan.json", out)
