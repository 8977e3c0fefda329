"""``refrnn demo``: sparse teacher forcing against clipped BPTT on Lorenz-63, over seeds.

The paper's central contrast (Mikhaeil, Monfared & Durstewitz 2022, Sect. 5, Fig. 3):
a PLRNN trained with sparse teacher forcing at a forcing interval taken from the
Lyapunov spectrum reconstructs the chaotic attractor; the same model trained by plain
BPTT with the gradient norm clipped to 1 does not. Training on chaotic data is noisy, so
each method is trained from ``n_seeds`` initialisations (in parallel on the available
cores) and the demo reports the median and range over seeds -- never one lucky run.

Both methods use the same budget and optimiser: Adam with a learning rate that decays
exponentially from 1e-3 to 1e-4 over the run, which in refrnn's measurements cut relapses
of converged models to fixed points (``docs/results/stf_stability.md``).

How a model is selected (identically for both methods): during training, every 25 epochs,
the current model runs freely from 3 points of the *training* series and is scored by the
median D_stsp of those runs; the best-scoring snapshot is the run's model. Only that model
is then evaluated on the held-out *test* series.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import queue
import time
from pathlib import Path

import numpy as np

from ._console import _duration
from ._warmup import warm_up_kernels
from .io import atomic_save_npy, atomic_savefig, atomic_write, write_json
from .sweep import median_range

__all__ = ["run_demo"]

QUICK = dict(n_samples=3000, n_epochs=4, batches=2, M=8, lyap_steps=5000, n_free=500, seeds=2)
FULL = dict(
    n_samples=50000, n_epochs=1500, batches=10, M=30, lyap_steps=200000, n_free=10000, seeds=3
)


def _fmt(x, spec=".3g"):
    return "diverged" if x is None or not np.isfinite(x) else format(x, spec)


_PROGRESS = None  # a worker's queue to the parent, for training progress


def _init_worker(progress_queue):
    import numba

    global _PROGRESS
    numba.set_num_threads(1)  # one process per core already
    _PROGRESS = progress_queue


def _train_one(job):
    """One training run in a worker process; returns plain arrays (models as arrays)."""
    from .io import model_to_arrays
    from .models import PLRNN
    from .training import train

    t0 = time.perf_counter()
    every = max(1, job["train_kw"]["n_epochs"] // 20)

    def report(record):
        done = int(record["epoch"]) + 1
        if _PROGRESS is not None and (done % every == 0 or done == job["train_kw"]["n_epochs"]):
            _PROGRESS.put((job["index"], done))

    init = PLRNN.random(job["M"], job["X"].shape[1], rng=job["init_seed"])
    res = train(init, job["X"], rng=job["train_seed"], callback=report, **job["train_kw"])
    model = res.best_model if res.best_model is not None else res.model
    return {
        "method": job["method"],
        "seed": job["init_seed"],
        "history": res.history,
        "selection": res.selection,
        "model": model_to_arrays(model),
        "final_model": model_to_arrays(res.model),
        "seconds": time.perf_counter() - t0,
    }


def run_demo(out_dir="refrnn-demo", *, quick=False, seed=0, workers=None, log=print):
    """Lorenz-63: spectrum and tau_pred, STF-PLRNN vs clipped BPTT over seeds, evaluation.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created): ``summary.json``, ``summary.md`` (the table),
        ``attractors.png``, ``training.png``, ``spectra.png``, and per method and seed the
        selected model ``model_<method>_seed<k>.npz``, plus ``test_series.npy``.
    quick : bool
        Seconds instead of minutes: a tiny budget that exercises every step. Its numbers
        mean nothing, and the demo says so.
    seed : int
        Seeds the data; run k of each method starts from ``PLRNN.random(..., rng=seed + k)``
        and draws its windows with ``rng=seed + 100 + k``.
    workers : int, optional
        Training processes (default: the number of cores, at most the number of runs).
    log : callable
        Receives each line of console output.

    Returns
    -------
    dict
        Everything written to ``summary.json``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import data, lyapunov, metrics, plotting, systems
    from .io import model_from_arrays, save_model
    from .training import TAU_FRACTION, resolve_tau

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    budget = QUICK if quick else FULL
    if quick:
        log(f"{plotting.QUICK_MODE_STAMP} (a tiny budget that only exercises every step)")
    dt = 0.01

    def stage(text):
        """Log ``text ...`` now and return a function that logs ``done in N s``."""
        t0 = time.perf_counter()
        log(f"{text} ...")
        return lambda: log(f"  done in {_duration(time.perf_counter() - t0)}")

    # 0. the Numba kernels: compiled (first run) or loaded from the cache, once, here --
    #    the training processes then all load them from the cache
    warm_up_kernels(log)

    # 1. the data-generating system and its predictability time
    lorenz = systems.Lorenz63(dt=dt)
    done = stage(f"Lyapunov spectrum of Lorenz-63 ({budget['lyap_steps']} QR steps)")
    true = lyapunov.lyapunov_spectrum(
        lorenz, lorenz.initial_state(), budget["lyap_steps"], transient=2000
    )
    done()
    lam_step = true.exponents[0] * dt  # per time step of the sampled series
    tau_pred = lyapunov.predictability_time(true.exponents[0], dt=dt)
    # Mikhaeil et al. (2022, Sect. 5) relate the forcing interval to the predictability
    # time; the best tau lies below it. The demo uses the library's one rule, tau="auto"
    # = round(TAU_FRACTION * tau_pred) (training.resolve_tau), with the exact exponent.
    tau, _ = resolve_tau("auto", lambda_max=lam_step)
    log(
        f"Lorenz-63 (dt={dt}): Lyapunov spectrum "
        + ", ".join(f"{x:+.4f}" for x in true.exponents)
        + " per unit time"
    )
    log(
        f"forcing interval tau = round({TAU_FRACTION:g} tau_pred) = {tau} steps, where "
        f"tau_pred = ln 2 / lambda_max = {tau_pred:.1f} steps is the data's predictability "
        f"time (lambda_max = {lam_step:.5f} per step). Mikhaeil et al. (2022, Sect. 5) tie "
        f"tau to tau_pred; the best tau of refrnn's sweep lies near {TAU_FRACTION:g} tau_pred "
        f"(docs/results/tau_sweep.md)."
    )
    ds = data.generate(lorenz, budget["n_samples"], rng=seed)
    X_train, X_test = ds.train, ds.test
    atomic_save_npy(out / "test_series.npy", X_test)
    log(f"data: {len(X_train)} training / {len(X_test)} test samples, standardised")

    # 2. both methods, n_seeds initialisations each, in parallel
    common = dict(
        n_epochs=budget["n_epochs"],
        batches_per_epoch=budget["batches"],
        batch_size=32,
        seq_len=100,
        lr=1e-3,
        # the learning rate decays to a tenth over the run: fewer late relapses
        # (docs/results/stf_stability.md); the gradient flows through B^+ (the default)
        lr_decay=0.1 ** (1.0 / budget["n_epochs"]),
        eval_every=max(1, min(25, budget["n_epochs"] // 2)),
        eval_steps=budget["n_free"],
        eval_starts=3,
    )
    methods = {f"STF (tau={tau})": dict(tau=tau), "BPTT + clip 1": dict(tau=None, clip_norm=1.0)}
    jobs = [
        {
            "method": label,
            "M": budget["M"],
            "X": X_train,
            "init_seed": seed + k,
            "train_seed": seed + 100 + k,
            "train_kw": {**kw, **common},
        }
        for k in range(budget["seeds"])
        for label, kw in methods.items()
    ]
    for i, job in enumerate(jobs):
        job["index"] = i
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    log(
        f"training {len(jobs)} PLRNNs (M={budget['M']}; {budget['seeds']} seeds x "
        f"{len(methods)} methods; {budget['n_epochs']} epochs each) on {workers} "
        f"process(es) ..."
    )
    runs = []
    ctx = mp.get_context("spawn")  # fresh interpreters: no forked Numba thread pools
    progress_queue = ctx.Queue()
    epochs_done = [0] * len(jobs)
    total_epochs = len(jobs) * budget["n_epochs"]
    next_report, t_train = 0.1, time.perf_counter()
    with cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(progress_queue,)
    ) as pool:
        pending = {pool.submit(_train_one, j) for j in jobs}
        while pending:
            finished, pending = cf.wait(pending, timeout=2.0, return_when=cf.FIRST_COMPLETED)
            while True:  # what the workers reported since the last look
                try:
                    i, n = progress_queue.get_nowait()
                except queue.Empty:
                    break
                epochs_done[i] = max(epochs_done[i], n)
            for f in finished:
                r = f.result()
                runs.append(r)
                sel = r["selection"]
                log(
                    f"  run {len(runs)}/{len(jobs)} done: {r['method']}, seed {r['seed']}, "
                    f"{r['seconds']:.0f} s; selected epoch "
                    f"{None if sel is None else sel['epoch']} (training-series D_stsp "
                    f"{_fmt(None if sel is None else sel['d_stsp'])})"
                )
            frac = sum(epochs_done) / total_epochs
            if frac >= next_report and pending:
                elapsed = time.perf_counter() - t_train
                log(
                    f"  training: {frac:.0%} of {total_epochs} epochs, "
                    f"{_duration(elapsed)} elapsed, ~{_duration(elapsed / frac * (1 - frac))} left"
                )
                next_report = np.floor(frac * 10 + 1) / 10
    progress_queue.close()
    runs.sort(key=lambda r: (list(methods).index(r["method"]), r["seed"]))

    # 3. evaluate each selected model on the test series
    results, free_runs = {}, {}
    done = stage(f"evaluating the {len(runs)} selected models on the test series "
                 "(free runs, metrics, Lyapunov spectra)")  # fmt: skip
    for n, r in enumerate(runs, 1):
        t_eval = time.perf_counter()
        model = model_from_arrays(r["model"])
        ev, X_gen = metrics.evaluate(model, X_test, n_free=budget["n_free"])
        # the model of the last epoch too: selection must not hide a run that ends badly
        ev_final, _ = metrics.evaluate(
            model_from_arrays(r["final_model"]), X_test, n_free=budget["n_free"]
        )
        ev.update(
            seed=r["seed"],
            train_seconds=r["seconds"],
            selection=r["selection"],
            final_model_d_stsp=ev_final["d_stsp"] if not ev_final["diverged"] else np.inf,
        )
        if not ev["diverged"]:
            try:
                spec = lyapunov.lyapunov_spectrum(
                    model, model.infer_state(X_test[0]), budget["lyap_steps"],
                    transient=1000, k=3,
                )  # fmt: skip
                # the model steps in dt: per unit time = per step / dt
                ev["lyapunov_per_unit_time"] = (spec.exponents / dt).tolist()
                ev["lyapunov_stderr"] = (spec.stderr / dt).tolist()
            except Exception as exc:  # noqa: BLE001 -- report, do not fail the demo
                ev["lyapunov_error"] = str(exc)
        results.setdefault(r["method"], []).append(ev)
        free_runs.setdefault(r["method"], []).append(X_gen)
        tag = "stf" if r["method"].startswith("STF") else "bptt"
        record = {
            "system": "Lorenz63",
            "dt": dt,
            "standardised": True,
            "method": r["method"],
            "tau": methods[r["method"]].get("tau"),
            "seed": r["seed"],
            "selected_epoch": (r["selection"] or {}).get("epoch"),
            "selection": "lowest median D_stsp of free runs vs the training series",
        }
        save_model(out / f"model_{tag}_seed{r['seed']}.npz", model, record=record)
        lam1 = ev.get("lyapunov_per_unit_time", [np.nan])[0]
        log(
            f"  {n}/{len(runs)} {r['method']}, seed {r['seed']}: test D_stsp "
            f"{_fmt(ev['d_stsp'])}, lambda_1 {_fmt(lam1, '.3f')} per unit time "
            f"({time.perf_counter() - t_eval:.0f} s)"
        )
    done()

    lam_true, err_true = float(true.exponents[0]), float(true.stderr[0])
    stats, spectra, lambda1, shown = {}, {"Lorenz-63 (data)": (true.exponents, true.stderr)}, {}, {}
    for label, evs in results.items():
        lam1 = [e.get("lyapunov_per_unit_time", [np.nan])[0] for e in evs]
        stats[label] = {
            "d_stsp": median_range([e["d_stsp"] for e in evs]),
            "d_stsp_final_model": median_range([e["final_model_d_stsp"] for e in evs]),
            "d_h": median_range([e["d_h"] for e in evs]),
            "prediction_error": median_range([e["prediction_error"] for e in evs]),
            "lambda_1": median_range(lam1),
            "lambda_1_relative_error": median_range([(v - lam_true) / abs(lam_true) for v in lam1]),
            "diverged": int(sum(bool(e["diverged"]) for e in evs)),
            "seeds": len(evs),
        }
        lambda1[label] = (
            np.asarray(lam1, dtype=float),
            np.asarray([e.get("lyapunov_stderr", [np.nan])[0] for e in evs], dtype=float),
        )
        ok = [e for e in evs if "lyapunov_per_unit_time" in e]
        if ok:  # the median seed's spectrum, with its error bars
            mid = ok[int(np.argsort([e["lyapunov_per_unit_time"][0] for e in ok])[len(ok) // 2])]
            spectra[label] = (
                np.asarray(mid["lyapunov_per_unit_time"]),
                np.asarray(mid["lyapunov_stderr"]),
            )
        # the attractor figure shows the seed with the median test D_stsp (inf = diverged
        # sorts last), so that it is neither the best nor the worst run
        order = np.argsort([np.inf if e["diverged"] else e["d_stsp"] for e in evs], kind="stable")
        k = int(order[(len(evs) - 1) // 2])
        shown[
            f"{label}, seed {evs[k]['seed']}\ntest D_stsp {_fmt(evs[k]['d_stsp'])} "
            f"(median of {len(evs)} seeds)"
        ] = free_runs[label][k]

    # 4. figures, table, JSON
    done = stage("drawing figures")
    n_seeds = budget["seeds"]
    figures = {}
    # the x0-x2 plane shows Lorenz-63's two wings best; the data, thin and grey behind
    # each model's run, shows what a run misses
    figures["attractors.png"] = plotting.plot_attractors(
        X_test[: budget["n_free"]],
        shown,
        dims=(0, 2),
        units="standardised",
        data_label="data (test series)",
        overlay=True,
        title=f"Lorenz-63 test series vs {budget['n_free']}-step free runs of the selected models",
    )
    figures["training.png"] = plotting.plot_training(
        {f"{r['method']}, seed {r['seed']}": r["history"] for r in runs},
        selected={
            f"{r['method']}, seed {r['seed']}": (r["selection"] or {}).get("epoch") for r in runs
        },
        eval_series="the training series",
        units="standardised",
        title=f"training, {n_seeds} seeds per method: the loss is on training windows; "
        f"D_stsp is the median of {common['eval_starts']} free runs against the training "
        f"series every {common['eval_every']} epochs, and its lowest value selects the model",
    )
    with plotting.style():
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), width_ratios=[1.25, 1])
    plotting.plot_leading_exponent(
        lambda1, reference=lam_true, reference_err=err_true, band=0.05,
        ylabel=r"$\lambda_1$ (1 / time unit)", ax=axes[0],
        title=rf"largest exponent $\lambda_1$, {n_seeds} seeds per method",
    )  # fmt: skip
    plotting.plot_spectra(
        spectra, ylabel="Lyapunov exponent (1 / time unit)", ax=axes[1],
        title="full spectrum (the seed with the median $\\lambda_1$)",
    )  # fmt: skip
    fig.tight_layout()
    figures["spectra.png"] = fig
    for name, fig in figures.items():
        if quick:
            plotting.stamp(fig)
        atomic_savefig(fig, out / name)
    plt.close("all")
    done()

    header = (
        "| method | seeds | D_stsp (test) | D_H (test) | PE(10) | lambda_1 (1/time) "
        "| lambda_1 vs data | D_stsp, last epoch (test) | diverged |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for label, st in stats.items():

        def mr(key, spec=".3g", st=st):
            s = st[key]
            return f"{_fmt(s['median'], spec)} [{_fmt(s['min'], spec)}, {_fmt(s['max'], spec)}]"

        rows.append(
            f"| {label} | {st['seeds']} | {mr('d_stsp')} | {mr('d_h', '.3f')} "
            f"| {mr('prediction_error')} | {mr('lambda_1', '.3f')} "
            f"| {mr('lambda_1_relative_error', '+.1%')} "
            f"| {mr('d_stsp_final_model')} | {st['diverged']} |"
        )
    rows.append(f"| Lorenz-63 (data) | | | | | {lam_true:.3f} | | | |")
    table = "\n".join([header, *rows])
    wall = time.perf_counter() - t_start
    note = (
        f"Median [min, max] over seeds. Each run's model was selected by the median D_stsp "
        f"of 3 free runs against the training series (every {common['eval_every']} epochs); "
        f"the selected models were evaluated once on the test series "
        f"({budget['n_free']}-step free runs; lambda_1 from {budget['lyap_steps']} QR steps "
        f"of a free run started at the test series' first point), and so were the models "
        f"of the last epoch "
        f"(column 'last epoch'). Wall time {wall:.0f} s on {workers} process(es)."
    )
    if quick:
        note += f" {plotting.QUICK_MODE_STAMP}."
    atomic_write(out / "summary.md", f"# refrnn demo\n\n{table}\n\n{note}\n")
    summary = {
        "system": {
            "name": "Lorenz63",
            **lorenz.params,
            "dt": dt,
            "lyapunov_per_unit_time": true.exponents.tolist(),
            "lyapunov_stderr": true.stderr.tolist(),
            "lambda_max_per_step": lam_step,
            "tau_pred_steps": tau_pred,
        },
        "tau": tau,
        "tau_rule": f"round({TAU_FRACTION:g} tau_pred) (refrnn.training.resolve_tau)",
        "quick": quick,
        "seed": seed,
        "budget": budget,
        "training": common,
        "stats": stats,
        "results": results,
        "data": ds.info,
        "standardizer": None
        if ds.standardizer is None
        else {"mean": ds.standardizer.mean, "std": ds.standardizer.std},
        "wall_seconds": wall,
    }
    write_json(out / "summary.json", summary)
    log("")
    log(table)
    log(note)
    if quick:
        log(plotting.QUICK_MODE_STAMP)
    log(
        f"\nwrote {out}/summary.md, summary.json, attractors.png, training.png, spectra.png, "
        f"the selected models (model_<method>_seed<k>.npz) and test_series.npy"
    )
    return summary
