"""Warm-up of the Numba kernels before a long command, saying so when it compiles.

Separate from :mod:`refrnn._console` (progress output), which :mod:`refrnn.training`
imports: the warm-up itself runs training, so it sits above it in the package's layers.
"""

from __future__ import annotations

import sys
import threading
import time

from ._console import COMPILING_MESSAGE


def _exercise_kernels():
    """Run every kernel the demo and ``refrnn train`` use once, on tiny inputs.

    The kernels are ``@njit(cache=True)``: the first call in a fresh environment compiles
    them and writes Numba's cache, later processes (the demo's training workers included)
    load them from there. Both forcing modes and clipping are covered, as are free runs,
    the metrics and the QR Lyapunov spectrum.
    """
    import numpy as np

    from . import data, lyapunov, metrics, systems
    from .models import PLRNN
    from .training import train

    lorenz = systems.Lorenz63()
    lyapunov.lyapunov_spectrum(lorenz, lorenz.initial_state(), 50, transient=10)
    X = data.generate(lorenz, 300, rng=0, test_fraction=0.0).train
    model = PLRNN.random(4, 3, rng=0)
    small = dict(n_epochs=1, batches_per_epoch=1, batch_size=2, seq_len=10, rng=0,
                 eval_every=1, eval_steps=50, eval_starts=1)  # fmt: skip
    train(model, X, tau=3, **small)
    train(model, X, tau=None, clip_norm=1.0, **small)
    metrics.evaluate(model, X, n_free=100)
    lyapunov.lyapunov_spectrum(model, np.zeros(model.M), 50, transient=10, k=2)


def _compilations():
    """How many kernel signatures refrnn's Numba dispatchers have compiled in this process
    (cache misses), or None if Numba does not say."""
    try:
        from numba.core.dispatcher import Dispatcher
    except ImportError:  # pragma: no cover -- numba is a dependency
        return None
    seen, total = set(), 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("refrnn"):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, Dispatcher) and id(obj) not in seen:
                seen.add(id(obj))
                misses = getattr(getattr(obj, "stats", None), "cache_misses", None)
                if misses is None:
                    return None
                total += sum(misses.values())
    return total


def warm_up_kernels(log=print, *, patience=5.0):
    """Load (or, on a first run, compile) the Numba kernels, saying so if it takes long.

    A cold cache is detected by timing: the kernels are exercised on tiny inputs in a
    thread, and if that has not finished within ``patience`` seconds -- loading a warm
    cache takes one or two seconds, compiling 30 s or more -- :data:`COMPILING_MESSAGE`
    is logged. The closing line says what happened, from Numba's own count of cache
    misses (on a very busy machine, loading can outlast ``patience``).

    Parameters
    ----------
    log : callable
        Receives each line of output.
    patience : float
        Seconds to wait before announcing compilation.

    Returns
    -------
    float
        Seconds spent.
    """
    t0 = time.perf_counter()
    before = _compilations()
    errors = []

    def run():
        try:
            _exercise_kernels()
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=run, name="refrnn-warm-up", daemon=True)
    worker.start()
    worker.join(patience)
    announced = worker.is_alive()
    if announced:
        log(COMPILING_MESSAGE)
    worker.join()
    if errors:
        raise errors[0]
    seconds = time.perf_counter() - t0
    if announced:
        after = _compilations()
        if before is not None and after is not None and after == before:
            log(f"kernels loaded from Numba's cache in {seconds:.0f} s (nothing to compile)")
        else:
            log(f"kernels compiled and cached in {seconds:.0f} s (later runs load them)")
    return seconds
