"""GTF (fixed alpha and adaptive) against STF's tau grid, PLRNN and shPLRNN, Lorenz-63.

Item 6 of issue 13. Lorenz-63 (``refrnn.generate("lorenz63", 50_000)``: dt = 0.01,
standardised; the last 20% is the test series), linear readout. Two models with about
the same number of parameters:

* PLRNN, M = 20: A (20) + W (20x20) + h (20) + B (3x20) = 500 parameters;
* shPLRNN, M = 5, L = 45: A (5) + W1 (5x45) + W2 (45x5) + h1 (5) + h2 (45) + B (3x5)
  = 520 parameters. M = 5 keeps the latent space small (the point of the shallow
  PLRNN: its capacity is in the hidden layer L, Hess et al. 2023, Sect. 4), and L = 45
  then matches the PLRNN's parameter count to 4%;
* shPLRNN-id, M = 3, L = 100, identity readout (706 parameters): the GTF authors' own
  Lorenz-63 configuration (the defaults of their released code), in which every latent
  unit is observed, so forcing sets the states to the data instead of to B^+ x.

Training schemes (``refrnn.train``): sparse teacher forcing at tau in TAUS; generalized
teacher forcing at every step with a fixed alpha in ALPHAS; and ``alpha="auto"`` (the
adaptive rule of Hess et al. 2023, Sect. 3.3, as implemented by refrnn.training).

Same budget for every run: ``--epochs`` epochs of 10 batches of 32 windows of 100 steps,
Adam lr 1e-3, no clipping, no learning-rate decay (``--lr-final-factor F`` decays it
exponentially, by a factor F**(1/epochs) per epoch, to F x 1e-3 after the last epoch).
The first 32 000 samples of the training series are trained on; the remaining 8 000
are a **validation** series on which every ``--every`` epochs a 10 000-step free run
is scored by D_stsp (recorded in the history). The *selected* model is the snapshot
with the lowest validation D_stsp (``TrainResult.best_model``); it and the last-epoch
model are then evaluated with ``refrnn.evaluate`` on the held-out **test** series
(D_stsp, D_H). The relapse fraction is the share of validation snapshots after the
first one with D_stsp < 0.5 that have D_stsp > 1.

    python experiments/gtf_vs_stf.py                # 3 seeds, 2 processes, writes
                                                     # docs/results/gtf_vs_stf.{md,json,png}
    python experiments/gtf_vs_stf.py --quick        # a few epochs, 1 seed, into runs/
    python experiments/gtf_vs_stf.py --report-only  # tabulate finished runs
    python experiments/gtf_vs_stf.py --epochs 1500 --models shPLRNN \\
        --schemes "STF tau=10" "GTF auto" --name gtf_vs_stf_1500   # the longer budget

Finished runs are cached in runs/gtf_vs_stf/ and reused. The committed results (42 runs,
400 epochs each) took 28 minutes of wall time with 2 processes on a shared 2-core
machine (55 minutes summed over runs); 400 epochs is what fitted a ~30-minute budget.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "gtf_vs_stf"
OUT = ROOT / "docs" / "results"

MODELS = {
    "PLRNN": dict(M=20),
    "shPLRNN": dict(M=5, L=45),
    # the GTF authors' Lorenz-63 configuration (their released code's defaults: latent
    # dimension 3 = N, hidden width 100, identity observation model): every latent unit is
    # observed and forced directly by the data, none only through B^+ x
    "shPLRNN-id": dict(M=3, L=100, readout="identity"),
}
#: What a page adds to a model's sizes and readout (the rest is derived from MODELS)
REMARKS = {
    "shPLRNN-id": "x̂ = z, every latent unit observed and forced directly: the GTF authors' "
    "Lorenz-63 configuration",
}
TAUS = (10, 20, 30)
ALPHAS = (0.1, 0.2, 0.3)
# scheme name -> (tau, alpha) keyword arguments of refrnn.train
SCHEMES = {
    **{f"STF tau={t}": dict(tau=t, alpha=None) for t in TAUS},
    **{f"GTF alpha={a}": dict(tau=None, alpha=a) for a in ALPHAS},
    "GTF auto": dict(tau=None, alpha="auto"),
}
N_SAMPLES, N_VALIDATION = 50_000, 8_000
CONVERGED, RELAPSE = 0.5, 1.0


# What a page shows, written after looking at it (by output name; kept with the script so
# that a rerun keeps the reading next to the numbers; revise it when they change).
NOTES = {
    "gtf_vs_stf_3000_id": (
        "**The GTF authors' configuration (3 Dec 2026).** The released GTF code's Lorenz-63 "
        "defaults: shallow PLRNN with M = N = 3 and L = 100, identity readout, so that "
        "forcing mixes the data itself into every latent state (with the linear readout "
        "and M = 5 of the other pages, GTF mixes in B⁺x, which lies in a 3-dimensional "
        "subspace, and shrinks the other two directions by (1 − α) at every step). "
        "Otherwise this page's protocol (no clipping, no average, constant rate), 3000 "
        "epochs; STF τ = 10 and GTF auto over 10 seeds, STF τ = 20 and 30 over the first "
        "5. The seeds are paired: seed k of both schemes starts from the same model and "
        "data. In this configuration GTF auto converges in every seed and sooner: its "
        "first validation D_stsp below 0.5 came at epoch 230 (median; 160-440) against "
        "300 (180-480) for STF τ = 10 (with M = 5 and the linear readout, two of five GTF "
        "seeds never got there: gtf_vs_stf_3000.md). Its best validation scores are "
        "close to STF's (0.095-0.26 against 0.076-0.13), but its selected snapshots "
        "scored higher on the test series in 8 of the 10 paired seeds (median 0.31 "
        "against 0.24; differences of -0.09 to +0.16), and its median relapse fraction is "
        "10 % against 6 %. Its last-epoch models scored lower (median 0.22 against 0.27), "
        "but one of them ended off the attractor (3.98). Neither part of the target is met "
        "in this configuration either. Adaptive α settled at 0.07-0.10 (0.11-0.19 with "
        "the linear readout and M = 5). Fixed α over the first 5 seeds: α = 0.1, about "
        "where the adaptive rule settles, scores like it (0.34 [0.28, 0.39]); α = 0.2 "
        "does better (0.26 [0.12, 0.33]; against STF τ = 10 on the same seeds, 0.23 "
        "[0.13, 0.26], lower in 2 of 5) and relapses least (median 4 % against STF's 8 % "
        "on these seeds). So in this configuration the adaptive rule picks a smaller α "
        "than the best fixed one; even that one does not beat STF's best τ here."
    ),
    "gtf_vs_stf_3000_clip_ema": (
        "**With the training settings that hold (3 Dec 2026).** The 3000-epoch comparison "
        "again, both schemes with clipping at 1 and the parameter average β = 0.995 (the "
        "setting that met the stability targets of docs/results/stf_stability.md), 5 seeds. "
        "STF τ = 10 is about as good as without them (selected 0.30 [0.22, 0.45] against "
        "0.27 [0.13, 0.48]) and its last-epoch models are all on the attractor (0.15-0.35); "
        "GTF auto improves (0.41 [0.29, 4.05] against 0.83 [0.40, 3.51]) but still not to "
        "STF's level: two of its seeds never got below 0.5 on the validation series (their "
        "best snapshots at epochs 680 and 740, validation D_stsp 0.75 and 3.8), and the "
        "three that did found their best snapshot late (epochs 2700-2980), still improving "
        "when the budget ended. Relapses are rare for both (median 4 % and 6 %). "
        "Selection is noisy here: STF's selected snapshots scored 0.11-0.19 on the "
        "validation series and 0.22-0.45 on the test series."
    ),
    "gtf_vs_stf_25000": (
        "**The released code's budget (3 Dec 2026).** 25 000 epochs of 10 batches, i.e. "
        "the 250 000 gradient steps of the GTF authors' runs, shPLRNN only, STF τ = 10 (the "
        "best τ at 3000 epochs) against GTF auto, seeds 0-2 (seeds 3 and 4 were started and "
        "stopped for time: about 40 minutes per run next to other jobs). GTF auto now "
        "converges in every seed (at 3000 epochs 2 of 5 never got below 0.5) and relapses "
        "least (median 0.9 % of its snapshots against 12 %), but its selected models are "
        "not as good as STF's (test D_stsp 0.20-0.33 against 0.09-0.11 for two of STF's "
        "three seeds; STF's seed 1 selected a snapshot that scored 0.08 on the validation "
        "series and 1.51 on the test series, while its last model scored 0.25). Two of GTF "
        "auto's three last-epoch models are off the attractor: seed 1 relapsed in its last "
        "snapshots (validation 1.7-4.1; 26 % of its snapshots after convergence), seed 2 "
        "scored 0.32 on the validation series and 1.97 on the test series: a single "
        "10 000-step free run per snapshot is a noisy judge. Three seeds cannot settle the "
        "target; on these the D_stsp part is not met at the released code's budget either, "
        "the relapse part is."
    ),
}


def _model(name, seed):
    import refrnn

    if name == "PLRNN":
        return refrnn.PLRNN.random(MODELS[name]["M"], 3, rng=seed)
    m = MODELS[name]
    return refrnn.ShallowPLRNN.random(m["M"], 3, L=m["L"], rng=seed,
                                      readout=m.get("readout", "linear"))  # fmt: skip


def _n_params(model):
    return int(sum(np.size(v) for v in model.params.values()))


def _describe(name):
    """``name: M = .., L = .., <readout> readout (<n> parameters[; remark])``."""
    m = MODELS[name]
    sizes = f"M = {m['M']}" + (f", L = {m['L']}" if "L" in m else "")
    extra = f"; {REMARKS[name]}" if name in REMARKS else ""
    return (f"{name}: {sizes}, {m.get('readout', 'linear')} readout "
            f"({_n_params(_model(name, 0))} parameters{extra})")  # fmt: skip


def _file(model, scheme, seed, epochs, lr_final=1.0, clip=None, ema=None):
    tag = "" if lr_final == 1.0 else f"-lrf{lr_final:g}"
    tag += "" if clip is None else f"-clip{clip:g}"
    tag += "" if ema is None else f"-ema{ema:g}"
    return RUNS / f"{model}-{scheme.replace(' ', '_')}-seed{seed}-e{epochs}{tag}.json"


def run_one(model_name, scheme, seed, epochs, every, lr_final=1.0, clip=None, ema=None):
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import refrnn

    path = _file(model_name, scheme, seed, epochs, lr_final, clip, ema)
    if path.exists():
        return json.loads(path.read_text())
    ds = refrnn.generate("lorenz63", N_SAMPLES, rng=1000 + seed)
    fit, validation = ds.train[:-N_VALIDATION], ds.train[-N_VALIDATION:]
    model = _model(model_name, seed)
    start = time.perf_counter()
    res = refrnn.train(
        model, fit, **SCHEMES[scheme], n_epochs=epochs, rng=seed + 1, eval_every=every,
        eval_data=validation, eval_steps=10_000, eval_starts=1,
        lr_decay=lr_final ** (1.0 / epochs), clip_norm=clip, ema_decay=ema,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    h = res.history
    keep = np.isfinite(h["d_stsp"]) | np.isinf(h["d_stsp"])
    out = {
        "model": model_name,
        "scheme": scheme,
        "seed": seed,
        "epochs": epochs,
        "n_params": _n_params(model),
        "eval_epoch": (h["epoch"][keep] + 1).tolist(),
        # inf (a diverged free run) is stored as a large number: JSON has no inf
        "d_stsp_validation": np.where(np.isinf(h["d_stsp"][keep]), 1e9, h["d_stsp"][keep]).tolist(),
        "alpha": np.asarray(h["alpha"]).tolist(),
        "best_epoch": None if res.best_epoch is None else int(res.best_epoch) + 1,
        "wall_seconds": seconds,
        "refrnn_version": refrnn.__version__,
        "lr_final_factor": lr_final,
        "clip_norm": clip,
        "ema_decay": ema,
    }
    # with a parameter average, the snapshots scored (and the best one) are averages, and
    # "last" is the average at the end (TrainResult.final_model)
    for label, m in (("selected", res.best_model), ("last", res.final_model)):
        if m is None:
            out[label] = {"d_stsp": float("nan"), "d_h": float("nan"), "diverged": True}
            continue
        metrics, _ = refrnn.evaluate(m, ds.test)
        out[label] = {k: float(metrics[k]) for k in ("d_stsp", "d_h")}
        out[label]["diverged"] = bool(metrics["diverged"])
    RUNS.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    print(f"{model_name:8s} {scheme:14s} seed {seed}: test D_stsp selected "
          f"{out['selected']['d_stsp']:.3g}, last {out['last']['d_stsp']:.3g} "
          f"({seconds:.0f} s)", flush=True)  # fmt: skip
    return out


def relapse_fraction(run):
    d = np.asarray(run["d_stsp_validation"], dtype=float)
    d = np.where(np.isfinite(d), d, np.inf)
    conv = np.flatnonzero(d < CONVERGED)
    after = d[conv[0] + 1 :] if conv.size else np.array([])
    return float(np.mean(after > RELAPSE)) if after.size else float("nan")


def _values(values):
    """Finite values; a NaN (diverged free run) counts as +inf for medians and ranges."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isnan(v), np.inf, v)


def _stat(values, nan_is_inf=True):
    v = _values(values) if nan_is_inf else np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return "–"
    return f"{np.median(v):.3g} [{v.min():.3g}, {v.max():.3g}]"


def summary(runs):
    """{(model, scheme): dict of per-seed lists} in the order of MODELS and SCHEMES."""
    out = {}
    for m in MODELS:
        for s in SCHEMES:
            rs = sorted((r for r in runs if r["model"] == m and r["scheme"] == s),
                        key=lambda r: r["seed"])  # fmt: skip
            if not rs:
                continue
            out[(m, s)] = {
                "seeds": [r["seed"] for r in rs],
                "selected_d_stsp": [r["selected"]["d_stsp"] for r in rs],
                "selected_d_h": [r["selected"]["d_h"] for r in rs],
                "last_d_stsp": [r["last"]["d_stsp"] for r in rs],
                "last_d_h": [r["last"]["d_h"] for r in rs],
                "relapse_fraction": [relapse_fraction(r) for r in rs],
                "never_converged": sum(
                    np.isnan(relapse_fraction(r)) and min(r["d_stsp_validation"]) >= CONVERGED
                    for r in rs
                ),  # fmt: skip
                "wall_seconds": [r["wall_seconds"] for r in rs],
                "n_params": rs[0]["n_params"],
            }
    return out


def _median(values):
    return float(np.median(_values(values)))


def verdict(table, model="shPLRNN"):
    """The issue's target, checked on the table: ``model`` + GTF auto against its best STF."""
    key = (model, "GTF auto")
    stf = [(s, table[(model, s)]) for s in SCHEMES
           if s.startswith("STF") and (model, s) in table]  # fmt: skip
    if key not in table or not stf:
        return None
    best_name, best = min(stf, key=lambda kv: _median(kv[1]["selected_d_stsp"]))
    auto = table[key]
    d_auto, d_best = _median(auto["selected_d_stsp"]), _median(best["selected_d_stsp"])
    r_auto = (
        np.nanmedian(auto["relapse_fraction"])
        if any(np.isfinite(auto["relapse_fraction"]))
        else float("nan")
    )
    r_best = (
        np.nanmedian(best["relapse_fraction"])
        if any(np.isfinite(best["relapse_fraction"]))
        else float("nan")
    )
    return {
        "best_stf": best_name,
        "d_stsp_auto": d_auto,
        "d_stsp_best_stf": d_best,
        "relapse_auto": float(r_auto),
        "relapse_best_stf": float(r_best),
        "d_stsp_met": bool(d_auto <= d_best),
        "relapses_met": bool(np.isfinite(r_auto) and np.isfinite(r_best) and r_auto < r_best),
    }


def report(runs, epochs, every, out_dir, name="gtf_vs_stf", lr_final=1.0, clip=None, ema=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary(runs)
    n_seeds = max((len(v["seeds"]) for v in table.values()), default=0)
    lines = [
        "# GTF against STF: PLRNN and shPLRNN on Lorenz-63",
        "",
        "Generated by `python experiments/gtf_vs_stf.py` (item 6 of issue 13). Lorenz-63 "
        f"(dt = 0.01, standardised, {N_SAMPLES} samples, the last 20% held out as the test "
        "series). "
        + "; ".join(_describe(m) for m in MODELS if any(k[0] == m for k in table))
        + ". **Same budget for every run:** "
        f"{epochs} epochs × 10 batches × 32 windows × 100 steps, Adam lr 1e-3 "
        + (
            ""
            if lr_final == 1.0
            else f"decaying exponentially to {lr_final:g} × 1e-3 after the last epoch "
        )
        + ("(no clipping" if clip is None else f"(gradients clipped to norm {clip:g}")
        + (
            "). "
            if ema is None
            else f"; models scored are the parameter average with "
            f"β = {ema:g}, `train(ema_decay=...)`). "
        )
        + "STF: sparse teacher forcing every τ steps; GTF α: generalized teacher forcing "
        "(Hess et al. 2023) at every step with a fixed α; GTF auto: α adapted by "
        "`refrnn.training.gtf_alpha` (Hess et al. 2023, Sect. 3.3), starting at 1 (see below).",
        "",
        f"**Model selection:** every {every} epochs a 10 000-step free run is scored by D_stsp "
        f"against a validation series (the last {N_VALIDATION} samples of the training "
        "part, not trained on); *selected* = the snapshot with the lowest validation D_stsp. "
        "Both it and the *last*-epoch model are scored with `refrnn.evaluate` on the "
        "held-out test series. **Relapse fraction:** share of validation snapshots after "
        f"the first one with D_stsp < {CONVERGED} that have D_stsp > {RELAPSE} (– if a "
        "run never got below 0.5). A diverged free run counts as D_stsp = ∞.",
        "",
        (
            f"Median [min, max] over {n_seeds} seeds. "
            if len({len(v["seeds"]) for v in table.values()}) <= 1
            else "Median [min, max] over the seeds of each row (n in the column 'runs never "
            "< 0.5'). "
        )
        + "The seconds per run were measured on a "
        "shared machine (2 processes on 2 cores next to other jobs) and vary severalfold "
        "with its load: not a speed comparison.",
        "",
        "| model | scheme | test D_stsp, selected | test D_H, selected | test D_stsp, last "
        "| test D_H, last | relapse fraction | runs never < 0.5 | s per run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (m, s), v in table.items():
        lines.append(
            f"| {m} | {s} | {_stat(v['selected_d_stsp'])} | {_stat(v['selected_d_h'])} "
            f"| {_stat(v['last_d_stsp'])} | {_stat(v['last_d_h'])} "
            f"| {_stat(v['relapse_fraction'], nan_is_inf=False)} "
            f"| {v['never_converged']} of {len(v['seeds'])} | {_stat(v['wall_seconds'])} |"
        )
    verdicts = {m: verdict(table, m) for m in MODELS if m.startswith("shPLRNN")}
    verdicts = {m: v for m, v in verdicts.items() if v is not None}
    for m, v in verdicts.items():
        lines += [
            "",
            f"**The issue's target** ({m} with GTF auto reaches a median test D_stsp at "
            "least as low as the best STF τ, with fewer relapses), at this budget: "
            f"GTF auto {v['d_stsp_auto']:.3g} against {v['best_stf']} {v['d_stsp_best_stf']:.3g} "
            f"→ D_stsp part **{'met' if v['d_stsp_met'] else 'not met'}**; median relapse "
            f"fraction {v['relapse_auto']:.3g} against {v['relapse_best_stf']:.3g} → "
            f"**{'met' if v['relapses_met'] else 'not met'}**.",
        ]
    v = next(iter(verdicts.values()), None)
    lines += [
        "",
        "**Reading the GTF-auto rows.** Adaptive α starts at 1 and is re-estimated every 5 "
        "batches (`refrnn.training.GTF_EVERY`); it jumps up to a higher estimate and "
        "otherwise relaxes towards it with γ = `refrnn.training.gtf_decay` of the run's "
        f"number of estimates ({epochs} × 10 / 5 = {epochs * 2} estimates: γ = "
        f"{1 - 1 / max(1.0, 0.02 * epochs * 2):.4g}), the released code's time constant of "
        "2 % of the run. (refrnn 0.3.0 used γ = 0.999 once per epoch, which in the 400-epoch "
        "runs left α ≥ 0.67 throughout: test D_stsp 3.96 [3.45, ∞] for the shPLRNN.)",
    ]
    for m in MODELS:
        last = [r["alpha"][-1] for r in runs if r["model"] == m and r["scheme"] == "GTF auto"]
        if last:
            lines[-1] += (
                f" {m}: α at the last epoch {min(last):.2f}–{max(last):.2f} over the seeds."
            )
    ratio = 5000 * 50 / (epochs * 10)  # the GTF authors' gradient steps / this budget's
    if verdicts and not all(v["d_stsp_met"] for v in verdicts.values()):
        # the comparison with fixed alpha is only made where fixed-alpha rows were run
        fixed = any(s.startswith("GTF alpha=") for _, s in table)
        lines[-1] += (
            " Once α has settled, GTF auto trains like fixed α of a similar size; at "
            "this budget it does not reach STF's best τ. "
            if fixed
            else " At this budget GTF auto does not reach STF's best τ. "
        ) + (
            f"The released code's runs were 5000 epochs × 50 batches, {ratio:.0f} times "
            "this budget."
            if ratio > 1.5
            else "This budget is the released code's (5000 epochs × 50 batches, the "
            "same number of gradient steps)."
        )
    versions = {}
    for r in runs:
        versions.setdefault(r.get("refrnn_version", "0.3.0"), set()).add(r["scheme"])
    if len(versions) > 1:
        lines += [
            "",
            "**Which runs were made with which version.** "
            + "; ".join(
                f"refrnn {v}: {', '.join(s for s in SCHEMES if s in schemes)}"
                for v, schemes in sorted(versions.items())
            )  # fmt: skip
            + ". Only the adaptive-α rule changed between them: the other schemes run the "
            "same code and were not rerun.",
        ]
    if name in NOTES:
        lines += ["", NOTES[name]]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.md").write_text("\n".join(lines) + "\n")
    payload = {
        "epochs": epochs, "every": every, "models": MODELS, "schemes": SCHEMES,
        "verdict": v, "verdicts": verdicts, "runs": [{**r, "alpha": r["alpha"][::5]} for r in runs],
    }  # fmt: skip
    (out_dir / f"{name}.json").write_text(json.dumps(payload, default=str))

    present = [m for m in MODELS if any((m, s) in table for s in SCHEMES)]
    schemes = [s for s in SCHEMES if any((m, s) in table for m in MODELS)]
    width = max(1.0, 0.4 * len(schemes))
    fig, axes = plt.subplots(1, len(present) + 1, figsize=(2 * width * len(present) + 4, 4),
                             gridspec_kw={"width_ratios": [width] * len(present) + [1.4]},
                             squeeze=False)  # fmt: skip
    axes = axes[0]
    for ax, m in zip(axes[:-1], present, strict=True):
        for i, s in enumerate(schemes):
            if (m, s) not in table:
                continue
            t = table[(m, s)]
            for vals, dx, marker, label in (
                (t["selected_d_stsp"], -0.15, "o", "selected"),
                (t["last_d_stsp"], 0.15, "x", "last epoch"),
            ):
                y = np.minimum(_values(vals), 20.0)  # diverged / huge drawn at the top
                ax.scatter(np.full(len(y), i + dx), y, marker=marker,
                           color="C0" if marker == "o" else "C3",
                           label=label if i == 0 else None)  # fmt: skip
        ax.set_xticks(range(len(schemes)), schemes, rotation=35, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(f"{m}: test D_stsp per seed")
        ax.axhline(CONVERGED, color="0.6", ls=":", lw=1)
    axes[0].set_ylabel("test D_stsp")
    axes[0].legend(fontsize=8)
    ax = axes[-1]
    for j, m in enumerate(MODELS):
        for r in runs:
            if r["model"] == m and r["scheme"] == "GTF auto":
                ax.plot(
                    np.arange(1, len(r["alpha"]) + 1),
                    r["alpha"],
                    color=f"C{j}",
                    lw=1,
                    label=m if r["seed"] == min(table[(m, "GTF auto")]["seeds"]) else None,
                )
    ax.set_xlabel("epoch")
    ax.set_ylabel("α")
    ax.set_title("GTF auto: α over training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / f"{name}.png", dpi=110)
    plt.close(fig)
    print("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="10 epochs, 1 seed, output into runs/gtf_vs_stf/quick (a smoke test)",
    )
    p.add_argument("--report-only", action="store_true", help="tabulate finished runs only")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--every", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="default docs/results")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--schemes", nargs="+", choices=list(SCHEMES), default=list(SCHEMES))
    p.add_argument("--name", default="gtf_vs_stf", help="stem of the output files")
    p.add_argument("--lr-final-factor", type=float, default=1.0,
                   help="decay the learning rate exponentially to this fraction of 1e-3 "
                        "after the last epoch (1: no decay; the GTF authors' code ends at "
                        "1e-3, i.e. 1e-6)")  # fmt: skip
    p.add_argument("--clip", type=float, default=None, help="clip_norm of refrnn.train")
    p.add_argument("--ema-decay", type=float, default=None,
                   help="ema_decay of refrnn.train (score the parameter average)")  # fmt: skip
    args = p.parse_args(argv)
    global RUNS
    if args.quick:
        RUNS = RUNS / "quick"
        args.epochs, args.every, args.seeds = 10, 5, 1
    out_dir = args.out or (RUNS if args.quick else OUT)
    jobs = [(m, s, seed) for seed in range(args.seeds) for m in args.models for s in args.schemes]
    if args.report_only:
        done = [_file(m, s, seed, args.epochs, args.lr_final_factor, args.clip, args.ema_decay)
                for m, s, seed in jobs]  # fmt: skip
        runs = [json.loads(f.read_text()) for f in done if f.exists()]
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            futures = [pool.submit(run_one, m, s, seed, args.epochs, args.every,
                                   args.lr_final_factor, args.clip, args.ema_decay)
                       for m, s, seed in jobs]  # fmt: skip
            runs = [f.result() for f in futures]
    report(runs, args.epochs, args.every, out_dir, args.name, args.lr_final_factor,
           args.clip, args.ema_decay)  # fmt: skip


if __name__ == "__main__":
    main()
