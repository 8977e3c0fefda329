"""Console output for people and for log files: progress that suits where it goes, and
a word while Numba compiles.

A terminal gets a tqdm bar (carriage-return updates in place). Anything else -- a log
file, a pipe, a CI console -- gets plain lines, one every ``every`` of the work, because a
carriage-return bar becomes one unreadable line of thousands of updates in a file.
"""

from __future__ import annotations

import sys
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
