"""The paper's experiment: D_stsp and D_H against the forcing interval tau on Lorenz-63.

Sweeps tau in {1, 5, 10, 20, 30, 50, 100} and plain BPTT with the gradient norm clipped to
1, for the PLRNN and the vanilla RNN (M = 30), 3 seeds each (48 training runs) -- the grid
in ``experiments/tau_sweep.toml`` -- and writes

    docs/results/tau_sweep.md    the table (mean +- sd over seeds)
    docs/results/tau_sweep.csv   one row per run
    docs/results/tau_sweep.png   D_stsp and D_H against tau, tau_pred marked

This is the same as ``refrnn sweep experiments/tau_sweep.toml``. About 45 minutes on 2
cores; rerunning skips finished runs (kept in runs/tau_sweep/).

    python experiments/tau_sweep.py [--workers 2] [--scheduler tcp://HOST:8786]
"""

import argparse
from pathlib import Path

from refrnn.sweep import run_config

CONFIG = Path(__file__).with_name("tau_sweep.toml")

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--scheduler", default=None)
    args = p.parse_args()
    run_config(CONFIG, workers=args.workers, scheduler=args.scheduler)
