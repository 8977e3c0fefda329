"""Console output for people and for log files: progress that suits where it goes, and
a word while Numba compiles.

A terminal gets a tqdm bar (carriage-return updates in place). Anything else -- a log
file, a pipe, a CI console -- gets plain lines, one every ``every`` of the work, because a
carriage-return bar becomes one unreadable line of thousands of updates in a file.
"""

from __future__ import annotations

import sys
import threading
import time

#: What the demo and ``refrnn train`` print when the kernels are being compiled.
COMPILING_MESSAGE = "compiling kernels (first run only, ~30 s) ..."


def is_terminal(stream):
    """True if ``stream`` is an interactive terminal (False for files, pipes, or no stream)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class LineProgress:
    """Progress as whole lines: ``desc: k/n (p%), elapsed, ~left[, postfix]``.

    A line is written when the completed fraction crosses the next multiple of ``every``
    and at the end; nothing is ever overwritten, so the output reads the same in a file.

    Parameters
    ----------
    total : int
        Number of steps.
    desc : str
        Prefix of each line.
    initial : int
        Steps already done (a resumed run).
    every : float
        Fraction of ``total`` between lines (default 0.1: ten lines per run).
    stream : file-like
        Where the lines go (default ``sys.stderr``, as tqdm).
    unit : str
        Name of a step in the lines.
    """

    def __init__(self, total, *, desc="", initial=0, every=0.1, stream=None, unit="it"):
        self.total, self.n, self.desc, self.unit = int(total), int(initial), desc, unit
        self.stream = sys.stderr if stream is None else stream
        self._step = max(1, int(round(every * self.total)))
        self._next = (self.n // self._step + 1) * self._step
        self._n0, self._t0 = self.n, time.perf_counter()
        self._postfix = ""

    def set_postfix(self, **values):
        """Values appended to the next line (as tqdm's ``set_postfix``)."""
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def update(self, k=1):
        """Record ``k`` more finished steps; write a line if a threshold was crossed."""
        self.n += k
        if self.n >= self._next or self.n >= self.total:
            while self._next <= self.n:
                self._next += self._step
            self._write()

    def _write(self):
        elapsed = time.perf_counter() - self._t0
        done = self.n - self._n0
        left = elapsed / done * (self.total - self.n) if done > 0 else float("nan")
        pct = 100.0 * self.n / self.total if self.total else 100.0
        parts = [f"{self.n}/{self.total} {self.unit} ({pct:.0f}%)", f"{_duration(elapsed)}"]
        if self.n < self.total and left == left:  # not NaN
            parts.append(f"~{_duration(left)} left")
        if self._postfix:
            parts.append(self._postfix)
        print(f"{self.desc}: " + ", ".join(parts), file=self.stream, flush=True)

    def close(self):
        """Nothing to clean up (a line was written at the last step)."""


class ProgressBar:
    """A tqdm bar on a terminal, :class:`LineProgress` lines otherwise, or nothing.

    Call :meth:`update` after each step, :meth:`set_postfix` for extra values and
    :meth:`close` at the end.

    Parameters
    ----------
    total : int
        Number of steps (including ``initial`` ones already done).
    desc : str
    initial : int
    enabled : bool
        False: no output at all.
    stream : file-like, optional
        Default ``sys.stderr``; a terminal gets tqdm, anything else lines.
    unit : str
    """

    def __init__(self, total, *, desc="", initial=0, enabled=True, stream=None, unit="it"):
        stream = sys.stderr if stream is None else stream
        if not enabled:
            self._impl = None
        elif is_terminal(stream):
            from tqdm.auto import tqdm

            self._impl = tqdm(total=total, initial=initial, desc=desc, file=stream, unit=unit)
        else:
            self._impl = LineProgress(total, desc=desc, initial=initial, stream=stream, unit=unit)

    def update(self, k=1):
        if self._impl is not None:
            self._impl.update(k)

    def set_postfix(self, **values):
        if self._impl is None:
            return
        if isinstance(self._impl, LineProgress):
            self._impl.set_postfix(**values)
        else:
            self._impl.set_postfix(values, refresh=False)

    def close(self):
        if self._impl is not None:
            self._impl.close()


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
