"""Tests of refrnn.sweep: grids on a local Dask cluster, resume, failures, tables."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from refrnn import sweep
from refrnn.io import load_npz

TINY = dict(
    n_samples=1500,
    M=4,
    n_epochs=2,
    batches_per_epoch=2,
    batch_size=4,
    seq_len=20,
    n_free=300,
    pe_steps=3,
)


def tiny_grid(**kw):
    return sweep.make_grid(
        models=("PLRNN", "VanillaRNN"), taus=(5,), seeds=(0,), bptt_clip=1.0, **{**TINY, **kw}
    )


@pytest.mark.skipif(not sweep.have_dask(), reason="dask.distributed not installed")
def test_dask_local_cluster_matches_running_cells_one_by_one(tmp_path):
    cells = tiny_grid()
    # a cell whose training diverges: Adam with lr = 1e6 throws the parameters far away
    bad = {**cells[0], "lr": 1e6, "tau": None, "n_epochs": 3, "seq_len": 200}
    lines = []
    status = sweep.run_grid(cells + [bad], tmp_path, workers=2, backend="dask", log=lines.append)
    assert status[sweep.cell_id(bad)] == "failed"
    assert sorted(v for k, v in status.items() if k != sweep.cell_id(bad)) == ["done"] * 4
    assert any("failed 1" in line for line in lines)
    rows = {r["id"]: r for r in sweep.collect(tmp_path)}
    assert "TrainingDiverged" in rows[sweep.cell_id(bad)]["error"]
    for cell in cells:
        metrics, model = sweep.run_cell(cell)
        row = rows[sweep.cell_id(cell)]
        for k in ("d_stsp", "d_h", "prediction_error", "final_loss"):
            assert row[k] == metrics[k] or (np.isnan(row[k]) and np.isnan(metrics[k])), k
        saved = load_npz(tmp_path / "cells" / f"{sweep.cell_id(cell)}.npz")
        for k, v in model.params.items():
            np.testing.assert_array_equal(saved["model." + k], v)


def test_interrupted_sweep_resumes_without_redoing_cells(tmp_path):
    cfg = tmp_path / "grid.toml"
    settings = "\n".join(f"{k} = {v}" for k, v in TINY.items() if k != "n_epochs")
    cfg.write_text(f"""
[grid]
models = ["PLRNN"]
taus = [2, 3, 5, 7, 10, 15]
seeds = [0]
bptt_clip = 1.0
[settings]
{settings}
n_epochs = 800
[output]
dir = "{tmp_path / "runs"}"
results = "{tmp_path / "res"}"
""")
    cells_dir = tmp_path / "runs" / "cells"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "refrnn",
            "sweep",
            str(cfg),
            "--workers",
            "1",
            "--backend",
            "processes",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and len(list(cells_dir.glob("*.npz"))) < 2:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep, workers included
        proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in cells_dir.glob("*.npz")}
    assert 2 <= len(finished) < 7, "kill the sweep halfway through"
    lines = []
    rows = sweep.run_config(cfg, workers=2, backend="processes", log=lines.append)
    assert f"{len(finished)} already done" in lines[0]
    for name, mtime in finished.items():
        assert (cells_dir / name).stat().st_mtime_ns == mtime  # not recomputed
    assert len(rows) == 7 and all(r["status"] == "done" for r in rows)
    md = (tmp_path / "res" / "grid.md").read_text()
    assert "| PLRNN | τ = 2 |" in md and "BPTT+clip1" in md
    assert (tmp_path / "res" / "grid.png").is_file()
    assert (tmp_path / "res" / "grid.csv").read_text().count("\n") == 8


def test_make_grid_and_ids():
    cells = tiny_grid()
    assert len(cells) == 4
    assert {(c["model"], c["tau"], c["clip_norm"]) for c in cells} == {
        ("PLRNN", 5, None),
        ("PLRNN", None, 1.0),
        ("VanillaRNN", 5, None),
        ("VanillaRNN", None, 1.0),
    }
    ids = [sweep.cell_id(c) for c in cells]
    assert len(set(ids)) == 4 and ids == [sweep.cell_id(json.loads(json.dumps(c))) for c in cells]
    with pytest.raises(ValueError, match="unknown cell settings"):
        sweep.make_grid(n_epoch=3)
    with pytest.raises(ValueError, match="backend must be"):
        sweep.run_grid(cells, "/tmp/x", backend="mpi")


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(models=("GRU",)), ValueError, r"unknown model\(s\) \['GRU'\]"),
        (dict(taus=(0,)), ValueError, "tau must be >= 1"),
        (dict(taus=(2.5,)), TypeError, "tau must be an integer"),
        (dict(bptt_clip=0), ValueError, "bptt_clip"),
    ],
)
def test_bad_grids_fail_before_any_cell_runs(kw, exc, match):
    with pytest.raises(exc, match=match):
        sweep.make_grid(**kw)


def test_a_cell_whose_worker_dies_is_recorded_and_the_sweep_finishes(tmp_path):
    """An exception outside the cell (dask's KilledWorker, a broken pool) becomes a failed
    cell file with the error; the other results stand."""
    import concurrent.futures as cf

    cells = sweep.make_grid(taus=(5,), seeds=(0, 1), bptt_clip=None, n_epochs=1)
    failed = cf.Future()
    failed.set_exception(RuntimeError("KilledWorker: worker died 3 times"))
    assert sweep._result_or_failure(failed, cells[0], tmp_path) == (
        sweep.cell_id(cells[0]),
        "failed",
    )
    ok = cf.Future()
    ok.set_result(("id", "done"))
    assert sweep._result_or_failure(ok, cells[1], tmp_path) == ("id", "done")
    rows = sweep.collect(tmp_path)
    assert len(rows) == 1 and rows[0]["status"] == "failed" and "KilledWorker" in rows[0]["error"]


def test_cell_ids_of_older_grids_are_unchanged():
    """Settings added later are hashed only when set: a sweep started before them
    resumes (ids as issued by refrnn 0.3.0's make_grid)."""
    ids = [sweep.cell_id(c) for c in sweep.make_grid(taus=(5,), seeds=(0, 1))]
    assert ids == [
        "PLRNN-tau5-s0-5baedb83",
        "PLRNN-tau5-s1-a7c25490",
        "PLRNN-bptt-s0-63cf8c6f",
        "PLRNN-bptt-s1-de35c5ae",
    ]
    cell = sweep.make_grid(taus=(5,), seeds=(0,))[0]
    assert sweep.cell_id({**cell, "smoothing": 3.0}) != ids[0]
    assert sweep.cell_id({**cell, "window_sampling": "without_replacement"}) != ids[0]
    assert sweep.cell_id({**cell, "lr_decay_start": 100}) != ids[0]
    assert sweep.cell_id({**cell, "ema_decay": 0.999}) != ids[0]


def test_a_cell_passes_window_sampling_and_lr_decay_start_to_train(monkeypatch):
    from refrnn import training

    seen = []
    real = training.train

    def spy(*args, **kw):
        seen.append((kw["window_sampling"], kw["lr_decay_start"], kw["ema_decay"]))
        return real(*args, **kw)

    monkeypatch.setattr(training, "train", spy)  # run_cell imports it when called
    sweep.run_cell({**sweep.make_grid(taus=(5,), seeds=(0,), **TINY)[0],
                    "window_sampling": "without_replacement", "lr_decay_start": 1})  # fmt: skip
    assert seen == [("without_replacement", 1, None)]


def test_a_cell_with_ema_decay_evaluates_the_averaged_model(monkeypatch):
    """select="last" with ema_decay: the run's model is the parameter average, not the
    last iterate (what was scored during training is what is tested)."""
    from refrnn import training

    results = []
    real = training.train

    def spy(*args, **kw):
        results.append(real(*args, **kw))
        return results[-1]

    monkeypatch.setattr(training, "train", spy)
    cell = {**sweep.make_grid(taus=(5,), seeds=(0,), **TINY)[0], "ema_decay": 0.5,
            "select": "last"}  # fmt: skip
    _, model = sweep.run_cell(cell)
    assert results[0].config["ema_decay"] == 0.5
    assert model == results[0].averaged_model and model != results[0].model


def test_a_cell_on_a_saved_dataset_notices_a_changed_file(tmp_path):
    import refrnn

    ds = refrnn.generate("henon", 800, rng=0)
    ds.save(tmp_path / "d.npz")
    cell = {**TINY, "M": 3, "tau": 2, "dataset": str(tmp_path / "d.npz"), "n_free": 200,
            "data_fingerprint": sweep.dataset_fingerprint(ds), "eval_every": 1,
            "eval_steps": 200}  # fmt: skip
    metrics, model = sweep.run_cell(cell)
    assert model.N == 2 and metrics["selection"]["series"] == "training series"
    ev, _ = refrnn.metrics.evaluate(model, ds.test, n_free=200, pe_steps=3)
    assert metrics["d_stsp"] == ev["d_stsp"]  # scored on the test part
    refrnn.generate("henon", 800, rng=1).save(tmp_path / "d.npz")
    with pytest.raises(ValueError, match="has changed since the cell was made"):
        sweep.run_cell(cell)
    with pytest.raises(ValueError, match="unknown cell settings"):
        sweep.run_cell({**cell, "n_epoch": 3})
