"""Before/after timing of refrnn.loss_and_grad across a code change (one thread).

Run it once with the old checkout first on the path and once with the new one, e.g.

    git worktree add /tmp/old 291bfbf
    NUMBA_NUM_THREADS=1 PYTHONPATH=/tmp/old python benchmarks/forcing_gradient_ab.py old
    NUMBA_NUM_THREADS=1 python benchmarks/forcing_gradient_ab.py new

Used for refrnn 0.2, whose BPTT kernels also record the gradients with respect to the
forcing states (for the gradient through B^+); results in benchmarks/README.md.
"""

import sys
import time

import numpy as np

import refrnn


def median_ms(model, windows, tau, rounds=7, calls=50):
    """Median over ``rounds`` of the mean time of ``calls`` calls, after one warm-up."""
    refrnn.loss_and_grad(model, windows, tau)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            refrnn.loss_and_grad(model, windows, tau)
        times.append((time.perf_counter() - t0) / calls)
    return 1e3 * float(np.median(times))


X = refrnn.generate("lorenz63", 20000, rng=0).train
label = sys.argv[1] if len(sys.argv) > 1 else "this checkout"
config1 = median_ms(refrnn.PLRNN.random(20, 3, rng=0), refrnn.sample_windows(X, 16, 200, rng=1), 10)
print(label, "config 1 (S=16, T=200, M=20, tau=10): median ms", config1)
paper = median_ms(refrnn.PLRNN.random(30, 3, rng=0), refrnn.sample_windows(X, 32, 100, rng=1), 30)
print(label, "paper batch (S=32, T=100, M=30, tau=30): median ms", paper)
