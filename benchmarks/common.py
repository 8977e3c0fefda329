"""Timing harness, machine description and the problems every benchmark shares.

Thread settings must be in place before numpy, numba, jax or torch are imported, so
:func:`pin_threads` is called at the very top of ``run.py``.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np


def pin_threads():
    """One thread for every library (Numba's pool keeps two for the thread-scaling run)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    # Numba starts a pool of this size; numba.set_num_threads(1) then uses one of them,
    # and the thread-scaling benchmark switches to two.
    os.environ["NUMBA_NUM_THREADS"] = "2"
    # XLA:CPU: no Eigen thread pool inside an op, one intra-op thread.
    flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()


# ======================================================================================
# timing
def measure(fns, *, repeats, warmup=2, budget=None):
    """Median wall-clock time per call of each callable, measured in interleaved rounds.

    Every round calls each implementation once, in turn, so that a change of the
    machine's load during the run affects all of them alike. ``budget`` (seconds, per
    implementation) lowers the number of rounds for slow cases; at least 3 are kept.

    Returns
    -------
    dict name -> dict(median=s, min=s, n=rounds, cpu=s)
        ``cpu`` is the median process CPU time per call (all threads): for one thread it
        tracks the work done even when the machine is loaded.
    """
    for f in fns.values():
        for _ in range(warmup):
            f()
    if budget is not None:
        slowest = 0.0
        for f in fns.values():
            t0 = time.perf_counter()
            f()
            slowest = max(slowest, time.perf_counter() - t0)
        repeats = max(3, min(repeats, int(budget / max(slowest, 1e-9))))
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {
        k: {
            "median": float(np.median(wall[k])),
            "min": float(np.min(wall[k])),
            "cpu": float(np.median(cpu[k])),
            "n": repeats,
        }
        for k in fns
    }


def rel_err(a, b):
    """max |a - b| / max |b| (0 if both vanish)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a)))


def check_close(what, got, ref, tol):
    """Assert agreement to ``tol`` (relative, worst entry) and return the error."""
    if isinstance(ref, dict):
        err = max(rel_err(got[k], ref[k]) for k in ref)
    else:
        err = rel_err(got, ref)
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"
    return err


# ======================================================================================
# machine
def machine_description():
    """CPU model, cores, load and library versions, for the results table."""
    info = {"cpu": platform.processor() or "unknown", "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "")
        info["simd"] = " ".join(x for x in ("avx2", "fma", "avx512f") if f" {x}" in flags)
    except OSError:
        info["simd"] = ""
    info["python"] = platform.python_version()
    info["platform"] = platform.platform()
    import numba
    import numpy

    info["numpy"] = numpy.__version__
    info["numba"] = numba.__version__
    for name in ("jax", "jaxlib", "torch"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = "not installed"
    return info


def load_average():
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return (float("nan"),) * 3


# ======================================================================================
# problems
def lorenz_windows(S, T, seed=0):
    """S windows of T+1 steps of standardised Lorenz-63 data (N = 3)."""
    import refrnn

    data = refrnn.data.generate("lorenz63", 20_000, rng=seed, test_fraction=0.0)
    return refrnn.data.sample_windows(data.train, S, T, rng=seed)


def lorenz_series(n=20_000, seed=0):
    import refrnn

    return refrnn.data.generate("lorenz63", n, rng=seed, test_fraction=0.0).train


def chaotic_plrnn(M=20, N=3):
    """A PLRNN with a positive largest Lyapunov exponent (lambda_1 ~ 0.06 per step at M=20).

    W ~ N(0, 1.5^2 / M) (zero diagonal), A ~ U(-1/2, 1/2), h ~ U(-1/2, 1/2); found by
    trying seeds, bounded orbit with ~58% of the units active. The paper's
    initialisation gives a stable fixed point, whose constant activity pattern would
    flatter branchy kernels.
    """
    import refrnn

    rng = np.random.default_rng(4)
    W = rng.normal(0, 1.5 / np.sqrt(M), (M, M))
    np.fill_diagonal(W, 0.0)
    A = rng.uniform(-0.5, 0.5, M)
    h = rng.uniform(-1, 1, M) * 0.5
    B = rng.uniform(-1, 1, (N, M)) / np.sqrt(M)
    return refrnn.PLRNN(A, W, h, B)


def fmt_time(s):
    """Seconds as a short human-readable string; None or NaN as a dash."""
    if s is None or s != s:
        return "–"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"
