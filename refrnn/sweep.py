"""Grids of training runs (models x tau x seeds) and the paper's D_stsp / D_H vs tau figure.

A *cell* is one training run, fully described by a JSON-serialisable dict; :func:`run_cell`
executes it from scratch (data generation included, so a cell can run in any process) and
:func:`run_grid` executes many cells as independent tasks, writing each finished cell
atomically to ``out_dir/cells/<cell id>.npz`` (metrics, tau used, wall time, seed and the
trained parameters). Rerunning skips finished cells; a failing cell is recorded with its
error and does not stop the others. :func:`collect` turns the cell files into one tidy
table, :func:`summarise` gives its mean and sd over seeds, and
``refrnn.plotting.plot_tau_curve`` draws D_stsp and D_H against tau with tau_pred marked.

Backends: ``"dask"`` runs the cells on ``dask.distributed`` -- a local cluster of
single-threaded worker processes started in-process, or an existing cluster given by its
scheduler address (``tcp://host:port``), unchanged. Dask is optional
(``pip install 'refrnn[sweep]'``); without it, ``"processes"`` uses a local process pool.
The output directory must be visible to every worker (a shared file system on a cluster).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
import traceback
from pathlib import Path

import numpy as np

from . import plotting
from ._validation import as_positive_int
from .io import atomic_savez, load_npz, model_to_arrays

__all__ = [
    "make_grid",
    "cell_id",
    "run_cell",
    "run_grid",
    "collect",
    "write_table",
    "plot_tau_curve",
    "summarise",
]

#: Defaults of a cell; a grid overrides any of them.
CELL_DEFAULTS = {
    "model": "PLRNN",
    "M": 30,
    "readout": "linear",
    "tau": 30,  # int, or None for plain BPTT
    "clip_norm": None,
    "seed": 0,
    "system": "lorenz63",
    "n_samples": 50000,
    "data_seed": 0,
    "n_epochs": 600,
    "batches_per_epoch": 10,
    "batch_size": 32,
    "seq_len": 100,
    "lr": 1e-3,
    "lr_decay": 1.0,  # per-epoch factor of an exponential decay (refrnn.train)
    # linear readout: differentiate through the forcing states B^+ x (refrnn's default)
    "detach_forcing": False,
    "n_free": 10000,
    "pe_steps": 10,
    # model selection, identical for every method: evaluate D_stsp of a free run against
    # the *training* series every eval_every epochs and keep the best model ("best"), or
    # take the model of the last epoch ("last")
    "select": "best",
    "eval_every": 25,
    "eval_steps": 10000,
    "eval_starts": 3,  # free runs per selection evaluation (median score)
}


def make_grid(*, models=("PLRNN",), taus=(30,), seeds=(0,), bptt_clip=1.0, **settings):
    """All cells of a grid: every model x (each tau, plus clipped plain BPTT) x seed.

    Parameters
    ----------
    models : sequence of str
    taus : sequence of int
        Forcing intervals; ``None`` entries are plain BPTT without clipping.
    bptt_clip : float or None
        Adds a plain-BPTT cell with the gradient norm clipped to this value (the paper's
        baseline); None adds none.
    **settings
        Overrides of :data:`CELL_DEFAULTS` shared by all cells.
    """
    unknown = set(settings) - set(CELL_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown cell settings {sorted(unknown)}; known: {sorted(CELL_DEFAULTS)}")
    # validate the grid before any cell runs: a bad cell must not surface hours later
    known = ("PLRNN", "VanillaRNN")
    bad_models = [m for m in models if m not in known]
    if bad_models:
        raise ValueError(f"unknown model(s) {bad_models} in the grid; known: {list(known)}")
    for t in taus:
        if t is not None:
            as_positive_int("tau", t)
    if bptt_clip is not None and not float(bptt_clip) > 0:
        raise ValueError(f"bptt_clip must be > 0 or None, got {bptt_clip}")
    runs = [{"tau": t, "clip_norm": None} for t in taus]
    if bptt_clip is not None:
        runs.append({"tau": None, "clip_norm": float(bptt_clip)})
    cells = []
    for model in models:
        for run in runs:
            for seed in seeds:
                cells.append(
                    {**CELL_DEFAULTS, **settings, **run, "model": model, "seed": int(seed)}
                )
    return cells


def cell_id(cell):
    """A short, stable, human-readable id: model, tau, seed and a hash of all settings."""
    digest = hashlib.sha1(json.dumps(cell, sort_keys=True).encode()).hexdigest()[:8]
    tau = "bptt" if cell["tau"] is None else f"tau{cell['tau']}"
    return f"{cell['model']}-{tau}-s{cell['seed']}-{digest}"


def run_cell(cell):
    """Run one cell from scratch and return ``(metrics: dict, model)``.

    The data series is regenerated from ``(system, n_samples, data_seed)``, the model
    initialised from ``seed`` and the windows drawn from ``seed + 1000``, so the same cell
    gives the same numbers in any process.
    """
    from .data import generate
    from .metrics import evaluate
    from .models import PLRNN, VanillaRNN
    from .training import train

    cell = {**CELL_DEFAULTS, **cell}
    classes = {"PLRNN": PLRNN, "VanillaRNN": VanillaRNN}
    ds = generate(cell["system"], cell["n_samples"], rng=cell["data_seed"])
    model = classes[cell["model"]].random(
        cell["M"], ds.N, rng=cell["seed"], readout=cell["readout"]
    )
    t0 = time.perf_counter()
    res = train(
        model,
        ds.train,
        tau=cell["tau"],
        clip_norm=cell["clip_norm"],
        n_epochs=cell["n_epochs"],
        batches_per_epoch=cell["batches_per_epoch"],
        batch_size=cell["batch_size"],
        seq_len=cell["seq_len"],
        lr=cell["lr"],
        lr_decay=cell["lr_decay"],
        rng=cell["seed"] + 1000,
        eval_every=cell["eval_every"] if cell["select"] == "best" else 0,
        eval_steps=cell["eval_steps"],
        eval_starts=cell["eval_starts"],
        detach_forcing=cell["detach_forcing"],
    )
    train_seconds = time.perf_counter() - t0
    if cell["select"] not in ("best", "last"):
        raise ValueError(f"select must be 'best' or 'last', got {cell['select']!r}")
    chosen, epoch = res.model, cell["n_epochs"] - 1
    if cell["select"] == "best" and res.best_model is not None:
        chosen, epoch = res.best_model, res.best_epoch
    # the test series is used only here, after training and model selection
    ev, _ = evaluate(chosen, ds.test, n_free=cell["n_free"], pe_steps=cell["pe_steps"])
    metrics = {
        **ev,
        "selected_epoch": epoch,
        "tau_used": res.tau,
        "detach_forcing": cell["detach_forcing"],
        "train_seconds": train_seconds,
        "final_loss": float(res.history["loss"][-1]),
        "final_grad_norm": float(res.history["grad_norm"][-1]),
    }
    return metrics, chosen


def _cell_path(out_dir, cell):
    return Path(out_dir) / "cells" / f"{cell_id(cell)}.npz"


def execute_cell(cell, out_dir):
    """Run ``cell`` unless its result file exists; write the result atomically.

    Returns ``(cell_id, status)`` with status ``"done"``, ``"skipped"`` or ``"failed"``. A
    failure (any exception) is written to the cell file with its error, so it is reported
    in the table, and is not retried on rerun unless the file is deleted.
    """
    path = _cell_path(out_dir, cell)
    if path.exists():
        return cell_id(cell), "skipped"
    t0 = time.perf_counter()
    try:
        metrics, model = run_cell(cell)
        arrays = model_to_arrays(model)
        status = "done"
    except Exception as exc:  # noqa: BLE001 -- recorded, the grid goes on
        metrics = {
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=5),
        }
        arrays, status = {}, "failed"
    metrics.update(status=status, wall_seconds=time.perf_counter() - t0, pid=os.getpid())
    atomic_savez(path, cell=json.dumps(cell), metrics=json.dumps(metrics), **arrays)
    return cell_id(cell), status


def record_failure(cell, out_dir, exc):
    """Write ``cell``'s result file as failed with the error (a worker that died, a task
    the scheduler gave up on): the sweep goes on and the table reports the cell."""
    path = _cell_path(out_dir, cell)
    if not path.exists():
        metrics = {"error": f"{type(exc).__name__}: {exc}", "status": "failed"}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_savez(path, cell=json.dumps(cell), metrics=json.dumps(metrics))
    return cell_id(cell), "failed"


def _result_or_failure(fut, cell, out_dir):
    """A future's ``(cell_id, status)``; an exception outside the cell (e.g. dask's
    ``KilledWorker``, a broken process pool) is recorded as the cell's failure."""
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 -- recorded, the grid goes on
        return record_failure(cell, out_dir, exc)


def _worker_init(threads):
    os.environ["NUMBA_NUM_THREADS"] = str(threads)


def have_dask():
    """True if ``dask.distributed`` can be imported."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


def run_grid(cells, out_dir, *, workers=None, backend=None, scheduler=None, log=print):
    """Run ``cells`` as independent tasks, skipping finished ones.

    Parameters
    ----------
    cells : list of dict
        From :func:`make_grid`.
    out_dir : str or Path
        Cell results go to ``out_dir/cells/``; must be reachable from every worker.
    workers : int, optional
        Local workers (default: all cores). Each is a single-threaded process, so cells --
        not windows -- run in parallel. Ignored with ``scheduler``.
    backend : {"dask", "processes"}, optional
        Default: ``"dask"`` if it is installed (or a ``scheduler`` is given), else
        ``"processes"``.
    scheduler : str, optional
        Address of a running Dask scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
    log : callable
        Receives one progress line per finished cell (done / running / queued / failed).

    Returns
    -------
    dict
        ``cell_id -> "done" | "skipped" | "failed"``.
    """
    out_dir = Path(out_dir)
    (out_dir / "cells").mkdir(parents=True, exist_ok=True)
    if backend is None:
        backend = "dask" if (scheduler is not None or have_dask()) else "processes"
    if backend not in ("dask", "processes"):
        raise ValueError(f"backend must be 'dask' or 'processes', got {backend!r}")
    if backend == "dask" and not have_dask():
        raise ImportError("the dask backend needs dask.distributed: pip install 'refrnn[sweep]'")
    if scheduler is not None and backend != "dask":
        raise ValueError("a scheduler address needs backend='dask'")
    workers = workers or os.cpu_count() or 1
    todo = [c for c in cells if not _cell_path(out_dir, c).exists()]
    status = {cell_id(c): "skipped" for c in cells if c not in todo}
    where = scheduler if scheduler else f"{workers} local worker(s)"
    log(
        f"{len(cells)} cells: {len(status)} already done, {len(todo)} to run on {where} ({backend})"
    )
    if not todo:
        return status
    t0 = time.perf_counter()

    def report(n, cid, st):
        status[cid] = st
        done = sum(v == "done" for v in status.values())
        failed = sum(v == "failed" for v in status.values())
        left = len(todo) - n
        # locally at most `workers` cells run at once; on a cluster we cannot tell
        running = min(left, workers) if scheduler is None else "?"
        queued = left - running if scheduler is None else left
        log(
            f"[{n}/{len(todo)}] {cid}: {st} ({time.perf_counter() - t0:.0f} s) | done {done}, "
            f"running {running}, queued {queued}, failed {failed}"
        )

    # local worker processes start afresh (spawn) and read this: one Numba thread each
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    if backend == "dask":
        _run_dask(todo, out_dir, workers, scheduler, report)
    else:
        _run_processes(todo, out_dir, workers, report)
    return status


def _run_processes(todo, out_dir, workers, report):
    import concurrent.futures as cf
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_worker_init, initargs=(1,)
    ) as pool:
        futs = {pool.submit(execute_cell, c, str(out_dir)): c for c in todo}
        for n, fut in enumerate(cf.as_completed(futs), 1):
            report(n, *_result_or_failure(fut, futs[fut], out_dir))


def _run_dask(todo, out_dir, workers, scheduler, report):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        # pure=False: a rerun of a cell is a new task, never a cached result
        futs = {
            client.submit(execute_cell, c, str(out_dir), pure=False, key=cell_id(c)): c
            for c in todo
        }
        for n, fut in enumerate(as_completed(list(futs)), 1):
            report(n, *_result_or_failure(fut, futs[fut], out_dir))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def collect(out_dir):
    """All cell results under ``out_dir`` as a list of flat dicts (one row per cell)."""
    rows = []
    for path in sorted((Path(out_dir) / "cells").glob("*.npz")):
        a = load_npz(path, required=("cell", "metrics"))
        cell, metrics = json.loads(str(a["cell"])), json.loads(str(a["metrics"]))
        metrics.pop("traceback", None)
        rows.append({"id": path.stem, **cell, **metrics})
    return rows


def _run_label(row):
    if row["tau"] is None:
        return "BPTT" if row.get("clip_norm") is None else f"BPTT+clip{row['clip_norm']:g}"
    return int(row["tau"])


def write_table(rows, csv_path=None, md_path=None, *, tau_pred=None, note=""):
    """Write the tidy CSV and a markdown summary (mean +- sd over seeds per model and tau)."""
    cols = [
        "id",
        "model",
        "tau",
        "clip_norm",
        "seed",
        "status",
        "d_stsp",
        "d_h",
        "prediction_error",
        "train_seconds",
        "final_loss",
        "error",
    ]
    if csv_path:
        Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({c: r.get(c, "") for c in cols})
    summary = summarise(rows)
    lines = []
    if note:
        lines += [note, ""]
    if tau_pred is not None:
        lines += [f"Predictability time tau_pred = ln 2 / lambda_max = {tau_pred:.1f} steps.", ""]
    lines += [
        "Means and standard deviations are over the seeds whose free run stayed finite; "
        "'diverged' counts seeds whose trained model's free run overflowed (no attractor to "
        "compare), 'failed' those whose training stopped with an error. PE(n) is the mean "
        "n-step prediction error, n = pe_steps of the cells.",
        "",
        "| model | run | D_stsp (mean ± sd) | D_H (mean ± sd) | PE(n) | diverged | failed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]

    def ms(pair, spec):
        return "—" if not np.isfinite(pair[0]) else f"{pair[0]:{spec}} ± {pair[1]:{spec}}"

    for (model, label), s in summary.items():
        lines.append(
            f"| {model} | {'τ = ' + str(label) if isinstance(label, int) else label} | "
            f"{ms(s['d_stsp'], '.3f')} | {ms(s['d_h'], '.3f')} | "
            f"{s['prediction_error'][0]:.3g} | {s['n_diverged']}/{s['n']} | "
            f"{s['n'] - s['n_ok']}/{s['n']} |"
        )
    text = "\n".join(lines) + "\n"
    if md_path:
        Path(md_path).write_text(text)
    return text


def plot_tau_curve(rows, *, tau_pred=None, title=None):
    """:func:`refrnn.plotting.plot_tau_curve` of a sweep's table ``rows`` (:func:`collect`),
    summarised over seeds by :func:`summarise`; returns the figure."""
    return plotting.plot_tau_curve(summarise(rows), tau_pred=tau_pred, title=title)


def summarise(rows):
    """Mean and standard deviation over seeds per ``(model, tau or BPTT label)``.

    Parameters
    ----------
    rows : list of dict
        The table of :func:`collect`.

    Returns
    -------
    dict
        ``(model, label) -> {"n", "n_ok", "n_diverged", "d_stsp", "d_h",
        "prediction_error"}``, each metric a ``(mean, sd)`` pair over the finished cells;
        ordered by model, then tau, BPTT last.
    """
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], _run_label(r)), []).append(r)

    def order(key):
        model, label = key
        return (model, 1 if isinstance(label, str) else 0, label if isinstance(label, int) else 0)

    out = {}
    for key in sorted(groups, key=order):
        rs = groups[key]
        ok = [r for r in rs if r.get("status") == "done"]
        stats = {
            "n": len(rs),
            "n_ok": len(ok),
            "n_diverged": sum(bool(r.get("diverged")) for r in ok),
        }
        for m in ("d_stsp", "d_h", "prediction_error"):
            v = np.array([r.get(m, np.nan) for r in ok], dtype=float)
            stats[m] = (
                float(np.nanmean(v)) if np.any(np.isfinite(v)) else math.nan,
                float(np.nanstd(v)) if np.any(np.isfinite(v)) else math.nan,
            )
        out[key] = stats
    return out


# ======================================================================================
def load_config(path):
    """Read a sweep TOML file; returns ``(cells, out_dir, results_dir, tau_pred_system)``.

    Format::

        [grid]
        models = ["PLRNN", "VanillaRNN"]
        taus = [1, 5, 10, 20, 30, 50, 100]
        seeds = [0, 1, 2]
        bptt_clip = 1.0          # adds clipped plain BPTT; omit or false for none

        [settings]               # any key of refrnn.sweep.CELL_DEFAULTS
        n_epochs = 700

        [output]
        dir = "runs/tau_sweep"   # cell results (resumable)
        results = "docs/results" # table (md, csv) and figure; name from the file's stem

    Relative paths are taken relative to the current directory.
    """
    import tomllib

    path = Path(path)
    with path.open("rb") as fh:
        cfg = tomllib.load(fh)
    grid = dict(cfg.get("grid", {}))
    unknown = set(grid) - {"models", "taus", "seeds", "bptt_clip"}
    if unknown:
        raise ValueError(f"{path}: unknown [grid] keys {sorted(unknown)}")
    clip = grid.get("bptt_clip", 1.0)
    cells = make_grid(
        models=tuple(grid.get("models", ["PLRNN"])),
        taus=tuple(grid.get("taus", [30])),
        seeds=tuple(grid.get("seeds", [0])),
        bptt_clip=None if clip is False else clip,
        **cfg.get("settings", {}),
    )
    out = cfg.get("output", {})
    return (
        cells,
        Path(out.get("dir", f"runs/{path.stem}")),
        Path(out.get("results", ".")),
        path.stem,
    )


def predictability_time_of(system_name, dt=None):
    """tau_pred in steps of the named benchmark system (for marking the figure)."""
    from .lyapunov import lyapunov_spectrum, predictability_time
    from .systems import resolve

    system = resolve(system_name, None, dt)
    spec = lyapunov_spectrum(system, system.initial_state(), 100_000, transient=2000, k=1)
    return predictability_time(spec.exponents[0], dt=system.dt)


def run_config(path, *, workers=None, backend=None, scheduler=None, log=print):
    """``refrnn sweep CONFIG.toml``: run the grid, then write table, CSV and figure.

    Returns the rows of :func:`collect`.
    """
    import matplotlib

    matplotlib.use("Agg")
    cells, out_dir, results, stem = load_config(path)
    t0 = time.perf_counter()
    run_grid(cells, out_dir, workers=workers, backend=backend, scheduler=scheduler, log=log)
    wall = time.perf_counter() - t0
    ids = {cell_id(c) for c in cells}
    rows = [r for r in collect(out_dir) if r["id"] in ids]
    systems_used = {c["system"] for c in cells}
    tau_pred = predictability_time_of(systems_used.pop()) if len(systems_used) == 1 else None
    cpu = sum(r.get("wall_seconds", 0.0) for r in rows)
    first = {**CELL_DEFAULTS, **cells[0]} if cells else CELL_DEFAULTS
    shared = ", ".join(
        f"{k}={first[k]}"
        for k in ("n_epochs", "lr", "lr_decay", "detach_forcing", "select", "eval_starts")
    )
    note = (
        f"{len(rows)} runs from {Path(path).name}; {cpu / 60:.0f} CPU-minutes of training "
        f"and evaluation in all; the last invocation took {wall / 60:.1f} min of wall time. "
        f"Settings shared by all runs: {shared}."
    )
    results.mkdir(parents=True, exist_ok=True)
    text = write_table(
        rows, results / f"{stem}.csv", results / f"{stem}.md", tau_pred=tau_pred, note=note
    )
    fig = plot_tau_curve(rows, tau_pred=tau_pred, title=stem)
    fig.savefig(results / f"{stem}.png")
    log(text)
    log(f"wrote {results / stem}.md, .csv and .png")
    return rows
