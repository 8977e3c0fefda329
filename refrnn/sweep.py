"""Grids of training runs (models x tau x seeds) and the paper's D_stsp / D_H vs tau figure;
:func:`train_seeds`: one configuration on one dataset over several seeds, with the spread.

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
import warnings
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
    "median_range",
    "train_seeds",
    "dataset_fingerprint",
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
    # take the model of the last epoch ("last"; with ema_decay, the parameter average
    # after the last batch)
    "select": "best",
    "eval_every": 25,
    "eval_steps": 10000,
    "eval_starts": 3,  # free runs per selection evaluation (median score)
    # --- added in 0.3 (hashed into cell ids only when set, so older grids resume) ---
    # a saved refrnn.Dataset (Dataset.save) to train on (train part) and test on (test
    # part) instead of a simulated `system`, and the fingerprint of its contents
    "dataset": None,
    "data_fingerprint": None,
    "L": None,  # ShallowPLRNN: hidden width
    "train_seed": None,  # seed of the training windows; None: seed + 1000
    "alpha": None,  # generalized teacher forcing: None, a number or "auto"
    "warmup": None,  # identity readout: warm-up steps (refrnn.train's default if None)
    "tau_fraction": 0.3,  # tau = "auto": round(tau_fraction ln 2 / lambda_max)
    "lambda_max": None,  # tau = "auto": lambda_max per step (None: estimated)
    "smoothing": 20.0,  # D_H kernel width in frequency bins (refrnn.metrics.evaluate)
    # --- added in 0.5 ---
    "window_sampling": "with_replacement",  # refrnn.train: or "without_replacement"
    "lr_decay_start": 0,  # refrnn.train: last epoch at the full lr (decay counts from it)
    "ema_decay": None,  # refrnn.train: moving average of the parameters (scored, selected)
}

#: Settings added after cell ids were first issued; a cell's id hashes them only when
#: they differ from these values, so the ids of an older grid's cells are unchanged.
_LATER_DEFAULTS = {
    k: CELL_DEFAULTS[k]
    for k in (
        "dataset",
        "data_fingerprint",
        "L",
        "train_seed",
        "alpha",
        "warmup",
        "tau_fraction",
        "lambda_max",
        "smoothing",
        "window_sampling",
        "lr_decay_start",
        "ema_decay",
    )
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
    hashed = {k: v for k, v in cell.items() if k not in _LATER_DEFAULTS or v != _LATER_DEFAULTS[k]}
    digest = hashlib.sha1(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:8]
    tau = "bptt" if cell["tau"] is None else f"tau{cell['tau']}"
    return f"{cell['model']}-{tau}-s{cell['seed']}-{digest}"


def run_cell(cell, *, checkpoint=None, resume=False, progress=False, return_result=False):
    """Run one cell from scratch and return ``(metrics: dict, model)``.

    The data series is regenerated from ``(system, n_samples, data_seed)`` -- or loaded
    from the saved :class:`refrnn.Dataset` ``dataset`` -- the model initialised from
    ``seed`` and the windows drawn from ``train_seed`` (default ``seed + 1000``), so the
    same cell gives the same numbers in any process. The model is selected on the
    training part (``select = "best"``: the lowest median D_stsp of ``eval_starts`` free
    runs, every ``eval_every`` epochs; ``"last"``: the last epoch's model, or with
    ``ema_decay`` the parameter average after the last batch) and evaluated on the test
    part only.

    Parameters
    ----------
    cell : dict
        Settings, any keys of :data:`CELL_DEFAULTS`.
    checkpoint : str or Path, optional
        Passed to :func:`refrnn.train` with ``resume`` and ``progress`` (in-process runs).
    resume, progress : bool
    return_result : bool
        Also return the :class:`refrnn.TrainResult` (with its history).

    Returns
    -------
    metrics : dict
        :func:`refrnn.metrics.evaluate` on the test part, plus ``selected_epoch``,
        ``selection`` (:attr:`refrnn.TrainResult.selection`), ``tau_used``,
        ``tau_source``, ``train_seconds``, ``final_loss`` and ``final_grad_norm``.
    model : RNNModel
        The selected model.
    result : TrainResult
        Only with ``return_result``.
    """
    from .data import Dataset, generate
    from .metrics import evaluate
    from .models import PLRNN, ShallowPLRNN, VanillaRNN
    from .training import train

    unknown = set(cell) - set(CELL_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown cell settings {sorted(unknown)}; known: {sorted(CELL_DEFAULTS)}")
    cell = {**CELL_DEFAULTS, **cell}
    if cell["select"] not in ("best", "last"):
        raise ValueError(f"select must be 'best' or 'last', got {cell['select']!r}")
    classes = {"PLRNN": PLRNN, "VanillaRNN": VanillaRNN, "ShallowPLRNN": ShallowPLRNN}
    if cell["model"] not in classes:
        raise ValueError(f"model must be one of {sorted(classes)}, got {cell['model']!r}")
    if cell["dataset"] is None:
        ds = generate(cell["system"], cell["n_samples"], rng=cell["data_seed"])
    else:
        ds = Dataset.load(cell["dataset"])
        fp = cell["data_fingerprint"]
        if fp is not None and dataset_fingerprint(ds) != fp:
            raise ValueError(
                f"{cell['dataset']} has changed since the cell was made (fingerprint "
                f"{dataset_fingerprint(ds)}, expected {fp})"
            )
    if len(ds.test) == 0:
        raise ValueError("the dataset has no test part to evaluate the model on")
    width = {} if cell["L"] is None else {"L": cell["L"]}
    model = classes[cell["model"]].random(
        cell["M"], ds.N, rng=cell["seed"], readout=cell["readout"], **width
    )
    t0 = time.perf_counter()
    res = train(
        model,
        ds.train,
        tau=cell["tau"],
        alpha=cell["alpha"],
        clip_norm=cell["clip_norm"],
        n_epochs=cell["n_epochs"],
        batches_per_epoch=cell["batches_per_epoch"],
        batch_size=cell["batch_size"],
        seq_len=cell["seq_len"],
        lr=cell["lr"],
        lr_decay=cell["lr_decay"],
        warmup=cell["warmup"],
        lambda_max=cell["lambda_max"],
        tau_fraction=cell["tau_fraction"],
        rng=cell["seed"] + 1000 if cell["train_seed"] is None else cell["train_seed"],
        eval_every=cell["eval_every"] if cell["select"] == "best" else 0,
        eval_steps=cell["eval_steps"],
        eval_starts=cell["eval_starts"],
        detach_forcing=cell["detach_forcing"],
        window_sampling=cell["window_sampling"],
        lr_decay_start=cell["lr_decay_start"],
        ema_decay=cell["ema_decay"],
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
    )
    train_seconds = time.perf_counter() - t0
    chosen, epoch = res.final_model, cell["n_epochs"] - 1  # with ema_decay, the average
    if cell["select"] == "best" and res.best_model is not None:
        chosen, epoch = res.best_model, res.best_epoch
    # the test series is used only here, after training and model selection
    ev, _ = evaluate(
        chosen,
        ds.test,
        n_free=cell["n_free"],
        pe_steps=cell["pe_steps"],
        smoothing=cell["smoothing"],
    )
    metrics = {
        **ev,
        "selected_epoch": epoch,
        "selection": res.selection if chosen is res.best_model else None,
        "tau_used": res.tau,
        "tau_source": res.tau_source,
        "detach_forcing": cell["detach_forcing"],
        "train_seconds": train_seconds,
        "final_loss": float(res.history["loss"][-1]),
        "final_grad_norm": float(res.history["grad_norm"][-1]),
    }
    return (metrics, chosen, res) if return_result else (metrics, chosen)


def dataset_fingerprint(dataset):
    """Short SHA-1 of a :class:`refrnn.Dataset`'s arrays, standardiser and record: a cell
    that names a dataset file also names its contents, so a changed file is noticed."""
    h = hashlib.sha1()
    parts = [dataset.train, dataset.test]
    if dataset.standardizer is not None:
        parts += [dataset.standardizer.mean, dataset.standardizer.std]
    for a in parts:
        a = np.ascontiguousarray(a, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(json.dumps(dict(dataset.info), sort_keys=True).encode())
    return h.hexdigest()[:16]


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
    # a worker's warnings reach the user's terminal: the message, not the source line
    warnings.formatwarning = _format_warning


def _format_warning(message, category, filename, lineno, line=None):
    return f"refrnn worker: warning: {message}\n"


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
# several seeds of one configuration on one dataset
def median_range(values):
    """Median, min, max over seeds: ``{"median", "min", "max", "n"}``.

    NaN (not measured) is left out; ``inf`` (a diverged free run) counts as the worst
    value, so a diverging seed is never hidden.
    """
    v = np.asarray(values, dtype=float)
    ok = v[~np.isnan(v)]
    if ok.size == 0:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {
        "median": float(np.median(ok)),
        "min": float(ok.min()),
        "max": float(ok.max()),
        "n": int(ok.size),
    }


#: Keys of :data:`CELL_DEFAULTS` that :func:`train_seeds` sets itself (the data).
_DATA_KEYS = ("system", "n_samples", "data_seed", "dataset", "data_fingerprint")


def _selection_text(cell):
    if cell["select"] == "last" and cell.get("ema_decay") is not None:
        return (
            f"the moving average of the parameters after the last batch (select = 'last', "
            f"ema_decay = {cell['ema_decay']}); no selection"
        )
    if cell["select"] == "last":
        return "the model of the last epoch (select = 'last'); no selection"
    return (
        f"the epoch with the lowest median D_stsp of {cell['eval_starts']} free runs of "
        f"{cell['eval_steps']} steps against the training part, evaluated every "
        f"{cell['eval_every']} epochs (the test part is never used for selection)"
    )


def train_seeds(
    dataset,
    n_seeds,
    out_dir,
    *,
    workers=None,
    backend="processes",
    scheduler=None,
    progress=False,
    restart=False,
    record=None,
    log=print,
    **settings,
):
    r"""Train one configuration from ``n_seeds`` seeds on a dataset and report the spread.

    On chaotic data one training run is a draw from a wide distribution: in refrnn's
    measurements one configuration on Lorenz-63 gave a best test D_stsp from 0.10 to 0.22
    and a last-epoch D_stsp from 0.16 to 0.64 over 5 seeds
    (``docs/results/stf_stability.md``), and a method that beats another on one seed can
    lose on the next. So a configuration is judged by the median and range over seeds.
    Each seed is one cell of :func:`run_grid` (in parallel processes, resumable: finished
    seeds are not rerun), or, for one seed, a run in this process with a checkpoint.

    Parameters
    ----------
    dataset : refrnn.Dataset or path
        Training part for training and model selection, test part (non-empty) for the
        evaluation only; e.g. ``Dataset.from_series(x, embed="auto", test_fraction=0.2)``.
    n_seeds : int
        K. Seed k = 0..K-1 initialises the model with ``seed + k`` and draws the windows
        with ``train_seed + k`` (default ``train_seed = seed + 1000``).
    out_dir : str or Path
        Written atomically: ``dataset.npz`` (:meth:`refrnn.Dataset.save`: both parts and
        the standardiser), ``test_series.npy`` (the test part, in the model's units),
        the selected models -- ``model.npz`` for one seed, else ``model_seed<s>.npz``,
        each with a record (:func:`refrnn.io.load_record`) of its seeds, tau, selected
        epoch, standardiser, embedding and the training part's mean and standard
        deviation -- and ``summary.json`` (the return value). One seed also writes
        ``checkpoint.npz``, several write ``cells/`` (:func:`run_grid`).
    workers : int, optional
        Processes (default: as many as cores, at most K).
    backend, scheduler
        As in :func:`run_grid` (default: a local process pool).
    progress : bool
        One seed: the training progress of :func:`refrnn.train`.
    restart : bool
        Start over instead of resuming the checkpoint or skipping finished seeds.
    record : dict, optional
        Extra entries of every saved model's record (e.g. ``{"source": "eeg.csv"}``);
        ``dt`` defaults to ``dataset.dt``.
    log : callable
        Receives :func:`run_grid`'s progress lines.
    **settings
        Any key of :data:`CELL_DEFAULTS` except the data keys (``system``, ``n_samples``,
        ``data_seed``, ``dataset``, ``data_fingerprint``); ``tau`` may be ``"auto"``.

    Returns
    -------
    dict
        What ``summary.json`` holds: ``runs`` (per seed: seeds, status, model file,
        selected epoch and its training-part score ``selection_d_stsp``, test ``d_stsp``,
        ``d_h``, ``prediction_error``, ``diverged``, tau), ``spread`` (:func:`median_range`
        over seeds of the three test measures; a diverged free run counts as the worst),
        ``n_seeds``, ``n_done``, ``n_failed``, ``n_diverged``, ``selection`` and
        ``evaluated_on`` (how models were selected, and on which series they were
        scored), ``reference`` (D_stsp and D_H of the training part against the test
        part: what the data score against themselves, the floor for a model), ``data``
        and ``settings``; for one seed also ``history`` and
        ``config`` of :func:`refrnn.train`. Non-finite numbers are written as null.

    Raises
    ------
    ValueError
        For an unknown setting (naming it), a dataset without a usable test part, or
        when every seed failed (with the first error).
    """
    import difflib

    from .data import Dataset
    from .io import atomic_save_npy, json_safe, model_from_arrays, save_model, write_json

    n_seeds = as_positive_int("n_seeds", n_seeds)
    allowed = [k for k in CELL_DEFAULTS if k not in _DATA_KEYS]
    for key in settings:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown setting {key!r}{hint}; known: {sorted(allowed)}")
    if isinstance(dataset, (str, os.PathLike)):
        dataset = Dataset.load(dataset)
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a refrnn.Dataset or a path, got {type(dataset).__name__}")
    base = {**CELL_DEFAULTS, **settings}
    pe_steps = as_positive_int("pe_steps", base["pe_steps"])
    T_test = len(dataset.test)
    if T_test <= pe_steps:
        raise ValueError(
            f"the dataset's test part has {T_test} samples; evaluating a model needs more "
            f"than pe_steps={pe_steps}: hold out more (test_fraction) or use a longer series"
        )
    for key in ("seed", "train_seed"):
        if base[key] is not None:
            as_positive_int(key, base[key], minimum=0)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    data_path = (out / "dataset.npz").resolve()
    dataset.save(data_path)
    atomic_save_npy(out / "test_series.npy", dataset.test)
    seed0 = base["seed"]
    train0 = seed0 + 1000 if base["train_seed"] is None else base["train_seed"]
    fingerprint = dataset_fingerprint(dataset)
    cells = [
        {
            **base,
            "dataset": str(data_path),
            "data_fingerprint": fingerprint,
            "seed": seed0 + k,
            "train_seed": train0 + k,
        }
        for k in range(n_seeds)
    ]
    history = config = None
    if n_seeds == 1 and scheduler is None:
        metrics, model, res = run_cell(
            cells[0],
            checkpoint=out / "checkpoint.npz",
            resume=not restart,
            progress=progress,
            return_result=True,
        )
        runs = [(cells[0], {**metrics, "status": "done"}, model)]
        history, config = res.history, res.config
    else:
        if restart:
            for c in cells:
                _cell_path(out, c).unlink(missing_ok=True)
        workers = workers or min(n_seeds, os.cpu_count() or 1)
        run_grid(cells, out, workers=workers, backend=backend, scheduler=scheduler, log=log)
        runs = []
        for c in cells:
            arrays = load_npz(_cell_path(out, c), required=("metrics",))
            metrics = json.loads(str(arrays["metrics"]))
            done = metrics.get("status") == "done"
            runs.append((c, metrics, model_from_arrays(arrays) if done else None))

    standardizer = dataset.standardizer
    rows = []
    for c, m, model in runs:
        row = {"seed": c["seed"], "train_seed": c["train_seed"], "status": m.get("status")}
        if model is None:
            rows.append({**row, "error": m.get("error")})
            continue
        name = "model.npz" if n_seeds == 1 else f"model_seed{c['seed']}.npz"
        selection = m.get("selection") or {}
        row.update(
            model_file=name,
            selected_epoch=m["selected_epoch"],
            selection_d_stsp=selection.get("d_stsp"),
            d_stsp=m["d_stsp"],
            d_h=m["d_h"],
            prediction_error=m["prediction_error"],
            diverged=m["diverged"],
            tau=m["tau_used"],
            tau_source=m["tau_source"],
            train_seconds=m["train_seconds"],
        )
        rows.append(row)
        rec = {
            "dt": dataset.dt,
            **(record or {}),
            "model_seed": c["seed"],
            "train_seed": c["train_seed"],
            "tau": m["tau_used"],
            "tau_source": m["tau_source"],
            "selected_epoch": m["selected_epoch"],
            "selection": _selection_text(c),
            "standardized": standardizer is not None,
            "standardizer": None
            if standardizer is None
            else {"mean": standardizer.mean.tolist(), "std": standardizer.std.tolist()},
            "embedding": dataset.info.get("embedding"),
            "train_mean": dataset.train.mean(axis=0).tolist(),
            "train_std": dataset.train.std(axis=0).tolist(),
            "dataset": "dataset.npz",
            "test_series": "test_series.npy",
        }
        save_model(out / name, model, record=rec)

    ok = [r for r in rows if r["status"] == "done"]

    def worst_if_diverged(r, key):
        return math.inf if r["diverged"] else r[key]

    from .metrics import power_spectrum_distance, state_space_divergence

    summary = {
        "n_seeds": n_seeds,
        "n_done": len(ok),
        "n_failed": n_seeds - len(ok),
        "n_diverged": sum(bool(r["diverged"]) for r in ok),
        "selection": _selection_text(cells[0]),
        "evaluated_on": (
            f"the test part: the last {T_test} samples of the series, used neither for "
            f"training nor for selection"
        ),
        "spread": {
            key: median_range([worst_if_diverged(r, key) for r in ok])
            for key in ("d_stsp", "d_h", "prediction_error")
        },
        # what two stretches of the data themselves score: the floor a perfect model
        # would reach, high for a short test part (few samples per histogram bin)
        "reference": {
            "d_stsp_train_vs_test": state_space_divergence(dataset.test, dataset.train),
            "d_h_train_vs_test": power_spectrum_distance(
                dataset.test, dataset.train, smoothing=base["smoothing"]
            ),
        },
        "runs": rows,
        "data": {
            "info": dict(dataset.info),
            "n_train": len(dataset.train),
            "n_test": T_test,
            "N": dataset.N,
            "standardized": standardizer is not None,
        },
        "settings": {k: v for k, v in base.items() if k not in _DATA_KEYS + ("train_seed",)},
        "nulls": (
            "null stands for a number that does not exist: a free run that diverged "
            "(runs[].diverged; it counts as the worst value in spread.max), an epoch "
            "without evaluation (history.d_stsp), or a failed seed (runs[].error)"
        ),
    }
    summary["settings"]["train_seed"] = train0
    if history is not None:
        summary["history"] = {k: v.tolist() for k, v in history.items()}
        summary["config"] = config
    write_json(out / "summary.json", summary)
    if not ok:
        raise ValueError(f"all {n_seeds} seeds failed; the first: {rows[0].get('error')}")
    return json_safe(summary)


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
        for k in (
            "n_epochs",
            "lr",
            "lr_decay",
            "lr_decay_start",
            "ema_decay",
            "detach_forcing",
            "select",
            "eval_starts",
        )  # fmt: skip
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
