"""Tests of refrnn._console: progress that suits terminals and log files, and the
announcement of Numba compilation."""

import io
import time

import pytest

from refrnn import _console, _warmup


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_line_progress_writes_whole_lines_at_every_tenth():
    out = io.StringIO()
    bar = _console.ProgressBar(50, desc="train", stream=out, unit="epochs")
    for k in range(50):
        bar.set_postfix(loss=f"{1.0 / (k + 1):.3g}")
        bar.update()
    bar.close()
    text = out.getvalue()
    assert "\r" not in text  # a log file gets lines, never carriage-return updates
    lines = text.splitlines()
    # 50 steps, a line every 10 % = every 5 steps
    assert len(lines) == 10
    assert lines[0].startswith("train: 5/50 epochs (10%)") and "loss=0.2" in lines[0]
    assert lines[-1].startswith("train: 50/50 epochs (100%)") and "left" not in lines[-1]


def test_line_progress_of_a_resumed_run_counts_from_where_it_was():
    out = io.StringIO()
    bar = _console.ProgressBar(20, desc="d", initial=14, stream=out)
    for _ in range(6):
        bar.update()
    # 20 steps, a line every 2: crossing 16, 18 and 20
    assert [line.split(" ")[1] for line in out.getvalue().splitlines()] == [
        "16/20",
        "18/20",
        "20/20",
    ]


def test_a_terminal_gets_tqdm_and_disabled_progress_writes_nothing():
    term = _Terminal()
    bar = _console.ProgressBar(10, desc="t", stream=term)
    for _ in range(10):
        bar.update()
    bar.close()
    assert "\r" in term.getvalue()  # tqdm redraws in place
    quiet = io.StringIO()
    bar = _console.ProgressBar(10, stream=quiet, enabled=False)
    bar.update(10)
    bar.close()
    assert quiet.getvalue() == ""


def test_is_terminal_is_false_for_files_pipes_and_closed_streams():
    assert not _console.is_terminal(io.StringIO())
    closed = io.StringIO()
    closed.close()
    assert not _console.is_terminal(closed)
    assert not _console.is_terminal(None)
    assert _console.is_terminal(_Terminal())


def test_warm_up_announces_compilation_only_when_it_takes_long(monkeypatch):
    # a cold cache is simulated by a slow warm-up (0.5 s against 0.05 s patience), a warm
    # one by an instant warm-up (against 30 s patience): no timing is measured here
    lines = []
    counts = iter([10, 25])  # Numba's count of compilations before and after
    monkeypatch.setattr(_warmup, "_compilations", lambda: next(counts))
    monkeypatch.setattr(_warmup, "_exercise_kernels", lambda: time.sleep(0.5))
    _warmup.warm_up_kernels(lines.append, patience=0.05)
    assert lines[0] == _warmup.COMPILING_MESSAGE and "compiled and cached" in lines[1]
    # slow, but nothing was compiled (a busy machine loading the cache): said so
    lines.clear()
    monkeypatch.setattr(_warmup, "_compilations", lambda: 25)
    _warmup.warm_up_kernels(lines.append, patience=0.05)
    assert "loaded from Numba's cache" in lines[1] and "nothing to compile" in lines[1]
    lines.clear()
    monkeypatch.setattr(_warmup, "_exercise_kernels", lambda: None)
    _warmup.warm_up_kernels(lines.append, patience=30.0)
    assert lines == []


def test_warm_up_reraises_errors_of_the_kernels(monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(_warmup, "_exercise_kernels", broken)
    with pytest.raises(RuntimeError, match="boom"):
        _warmup.warm_up_kernels(lambda line: None)


def test_the_kernel_warm_up_itself_runs_and_numba_counts_compilations():
    assert _warmup.warm_up_kernels(lambda line: None, patience=600.0) >= 0.0
    # after the warm-up every kernel it needs is loaded: running it again compiles nothing
    before = _warmup._compilations()
    assert isinstance(before, int)
    _warmup._exercise_kernels()
    assert _warmup._compilations() == before
