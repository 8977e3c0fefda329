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

X = refrnn.generate("lorenz63", 20000, rng=0).train
W = refrnn.sample_windows(X, 16, 200, rng=1)
m = refrnn.PLRNN.random(20, 3, rng=0)
refrnn.loss_and_grad(m, W, 10)
best = []
for r in range(7):
    t0 = time.perf_counter()
    for _ in range(50):
        refrnn.loss_and_grad(m, W, 10)
    best.append((time.perf_counter() - t0) / 50)
print(sys.argv[1], "loss_and_grad median ms", 1e3 * np.median(best))
W2 = refrnn.sample_windows(X, 32, 100, rng=1)
m30 = refrnn.PLRNN.random(30, 3, rng=0)
refrnn.loss_and_grad(m30, W2, 30)
best = []
for r in range(7):
    t0 = time.perf_counter()
    for _ in range(50):
        refrnn.loss_and_grad(m30, W2, 30)
    best.append((time.perf_counter() - t0) / 50)
print(sys.argv[1], "paper batch (S=32,T=100,M=30,tau=30) median ms", 1e3 * np.median(best))
