"""Command-line interface of refrnn (``refrnn --help`` lists the seven commands).

``refrnn demo`` is the main job: it reproduces the paper's central contrast on Lorenz-63
in a few minutes -- sparse teacher forcing with tau near the predictability time versus
plain BPTT with clipped gradients -- and writes a summary table, figures and a JSON of
all numbers. Every other subcommand is a thin wrapper over the public API.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

import numpy as np

from . import __version__
from ._validation import DivergenceError, as_positive_int
from .demo import run_demo
from .io import json_default, write_json

__all__ = ["main", "run_demo"]


DESCRIPTION = """\
refrnn: sparse teacher forcing, BPTT and Lyapunov spectra of RNNs trained on chaotic data
(Mikhaeil, Monfared & Durstewitz, NeurIPS 2022).

'refrnn COMMAND --help' describes each command, with an example."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after every option's help; descriptions and examples kept as written.

    An option whose default is None (or a flag, False) says in its own help what the
    default means, e.g. "(default: the number of cores)": "(default: None)" would not.
    """

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _load_series(path):
    from . import data

    return data.load_series(path)


def cmd_demo(args):
    run_demo(args.out, quick=args.quick, seed=args.seed, workers=args.workers)
    return 0


def cmd_train(args):
    """``refrnn train CONFIG.toml``: see :func:`train_from_config` for the format."""
    if not args.no_progress:  # a first run compiles the kernels: say so, on stderr
        from ._warmup import warm_up_kernels

        warm_up_kernels(lambda line: print(line, file=sys.stderr, flush=True))
    summary = train_from_config(args.config, progress=not args.no_progress, restart=args.restart)
    print(json.dumps(summary["evaluation"], indent=2, default=json_default))
    return 0


def _config_schema():
    """Allowed keys per section of a ``refrnn train`` TOML file."""
    import inspect

    from .training import train

    # [train] takes train()'s keyword arguments, except those the file's other sections
    # or the command itself set, plus the window-sampling seed
    own = {"model", "X", "eval_data", "checkpoint", "resume", "progress", "rng"}
    train_keys = {k for k in inspect.signature(train).parameters if k not in own} | {"seed"}
    return {
        "data": {"system", "file", "n_samples", "seed"},
        "model": {"type", "M", "L", "readout", "seed"},
        "train": train_keys,
        "output": {"dir"},
    }


def _check_config_keys(path, cfg):
    """Unknown sections and keys are errors: a typo such as ``m = 4`` must not be ignored."""
    import difflib

    schema = _config_schema()
    for section, table in cfg.items():
        if section not in schema:
            raise ValueError(f"{path}: unknown section [{section}]; known: {sorted(schema)}")
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [{section}] must be a table of keys")
        for key in table:
            if key not in schema[section]:
                same_case = [k for k in schema[section] if k.lower() == key.lower()]
                close = same_case or difflib.get_close_matches(key, schema[section], n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"{path}: unknown key {key!r} in [{section}]{hint}; known: "
                    f"{sorted(schema[section])}"
                )


def train_from_config(path, *, progress=False, restart=False):
    """Run the training described by a TOML file.

    Format (every key optional except ``[data]`` source)::

        [data]
        system = "lorenz63"      # or: file = "series.npy" (a (T, N) array)
        n_samples = 30000
        seed = 0
        [model]
        type = "PLRNN"           # or "VanillaRNN", "ShallowPLRNN"
        M = 30
        L = 100                  # ShallowPLRNN only: hidden width
        readout = "linear"
        seed = 0
        [train]
        tau = 30                 # int, "auto" or "none"
        alpha = "auto"           # optional: generalized teacher forcing (a number or "auto")
        n_epochs = 500
        clip_norm = 1.0          # optional
        detach_forcing = false   # linear readout: true = no gradient through B^+
        lr_decay = 0.99923       # optional per-epoch lr factor (0.1 ** (1 / 3000))
        warmup = 100             # identity readout: steps that infer z0's unobserved part
        seed = 1
        [output]
        dir = "run"

    Writes ``model.npz``, ``checkpoint.npz`` and ``summary.json`` into the output folder.
    A rerun resumes the checkpoint if it was made from the same data, model and settings,
    and refuses otherwise; ``restart=True`` (``refrnn train --restart``) starts over.
    """
    from . import data, metrics
    from .io import save_model
    from .models import PLRNN, ShallowPLRNN, VanillaRNN
    from .training import train

    path = Path(path)
    with path.open("rb") as fh:
        try:
            cfg = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
    _check_config_keys(path, cfg)
    for section, key in (("data", "file"), ("data", "system"), ("output", "dir")):
        value = cfg.get(section, {}).get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{path}: [{section}] {key} must be a string, got {value!r}")
    dcfg, mcfg, tcfg = cfg.get("data", {}), cfg.get("model", {}), dict(cfg.get("train", {}))
    out = Path(cfg.get("output", {}).get("dir", path.with_suffix("")))
    if out.exists() and not out.is_dir():
        raise ValueError(f"{path}: [output] dir = {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    if "file" in dcfg:
        series = _load_series(dcfg["file"])
        X_train, X_test, lam = series, series, None
    elif "system" in dcfg:
        n_samples = as_positive_int(f"{path}: [data] n_samples", dcfg.get("n_samples", 30000))
        ds = data.generate(dcfg["system"], n_samples, rng=dcfg.get("seed", 0))
        X_train, X_test, lam = ds.train, ds.test, None
    else:
        raise ValueError(f"{path}: [data] needs 'system' or 'file'")
    classes = {"PLRNN": PLRNN, "VanillaRNN": VanillaRNN, "ShallowPLRNN": ShallowPLRNN}
    mtype = mcfg.get("type", "PLRNN")
    if mtype not in classes:
        raise ValueError(f"{path}: [model] type must be one of {sorted(classes)}, got {mtype!r}")
    if ("L" in mcfg) != (mtype == "ShallowPLRNN"):
        raise ValueError(f"{path}: [model] L (hidden width) is for, and needed by, ShallowPLRNN")
    model = classes[mtype].random(
        as_positive_int(f"{path}: [model] M", mcfg.get("M", 30)),
        X_train.shape[1],
        rng=mcfg.get("seed", 0),
        readout=mcfg.get("readout", "linear"),
        **({"L": mcfg["L"]} if "L" in mcfg else {}),
    )
    tau = tcfg.pop("tau", "auto")
    tau = None if tau in ("none", "None", None) else tau
    rng = tcfg.pop("seed", 1)
    res = train(
        model,
        X_train,
        tau=tau,
        rng=rng,
        lambda_max=lam,
        eval_data=X_test,
        checkpoint=out / "checkpoint.npz",
        resume=not restart,
        progress=progress,
        **tcfg,
    )
    record = {"source": dcfg.get("system", dcfg.get("file")), "tau": res.tau}
    if "system" in dcfg:
        record["dt"] = ds.info["dt"]  # time per sample = per model step
    save_model(out / "model.npz", res.model, record=record)
    ev, _ = metrics.evaluate(res.model, X_test)
    summary = {
        "config": res.config,
        "tau": res.tau,
        "tau_source": res.tau_source,
        "evaluation": ev,
        "history": {k: v.tolist() for k, v in res.history.items()},
    }
    write_json(out / "summary.json", summary)
    return summary


def cmd_evaluate(args):
    from . import metrics
    from .io import load_model

    model = load_model(args.model)
    X = _load_series(args.data)
    ev, _ = metrics.evaluate(model, X, n_free=args.n_free, pe_steps=args.pe_steps)
    print(json.dumps(ev, indent=2, default=json_default))
    return 0


def _spectrum_table(res, dt):
    """Lines of a table of exponents per step (and per unit time if ``dt`` is known)."""
    two_se = 2 * res.stderr
    head = f"{'i':>3}  {'per step':>12}  {'+-2 SE':>9}"
    if dt is not None:
        head += f"  {'per unit time':>14}  {'+-2 SE':>9}"
    lines = [head, "-" * len(head)]
    for i, (lam, e) in enumerate(zip(res.exponents, two_se, strict=True), 1):
        row = f"{i:>3}  {lam:>+12.6f}  {e:>9.2e}"
        if dt is not None:
            row += f"  {lam / dt:>+14.5f}  {e / dt:>9.2e}"
        lines.append(row)
    return lines


def cmd_lyapunov(args):
    from .io import load_model, load_record
    from .lyapunov import lyapunov_spectrum

    if args.dt is not None and not (np.isfinite(args.dt) and args.dt > 0):
        raise ValueError(f"--dt must be a finite time per model step > 0, got {args.dt}")
    model = load_model(args.model)
    record = load_record(args.model) or {}
    dt, dt_source = args.dt, "--dt"
    if dt is None and isinstance(record.get("dt"), int | float) and record["dt"] > 0:
        dt, dt_source = float(record["dt"]), "the model's training record"
    z0 = np.zeros(model.M) if args.data is None else model.infer_state(_load_series(args.data)[0])
    res = lyapunov_spectrum(model, z0, args.n_steps, transient=args.transient, k=args.k)
    if args.json:
        scale = 1.0 if dt is None else 1.0 / dt
        out = {
            "exponents": res.exponents * scale,
            "stderr": res.stderr * scale,
            "units": "per step" if dt is None else f"per unit time (dt={dt})",
            "dt": dt,
            "exponents_per_step": res.exponents,
            "stderr_per_step": res.stderr,
            "kaplan_yorke": res.kaplan_yorke,
        }
        print(json.dumps(out, indent=2, default=json_default))
        return 0
    start = "z0 = 0" if args.data is None else f"z0 inferred from the first sample of {args.data}"
    print(
        f"Lyapunov spectrum of {args.model} ({type(model).__name__}, M={model.M}): "
        f"{args.n_steps} QR steps after a transient of {args.transient}; {start}"
    )
    if dt is None:
        print("time per step unknown (no dt in the model's record; pass --dt): per step only")
    else:
        print(f"dt = {dt:g} time units per step (from {dt_source})")
    for line in _spectrum_table(res, dt):
        print(line)
    print(f"Kaplan-Yorke dimension: {res.kaplan_yorke:.4g}")
    return 0


def cmd_verify(args):
    from .verify import verify_file

    report = verify_file(args.file)
    print(report)
    return 0 if report.passed else 1


def cmd_golden(args):
    from .verify import GOLDEN_DIR, check_golden, regenerate

    directory = Path(args.dir) if args.dir else GOLDEN_DIR
    if args.regenerate:
        manifest = regenerate(directory)
        print(f"wrote {len(manifest['cases'])} golden cases and manifest.json to {directory}")
        return 0
    reports = check_golden(directory)
    for cid, rep in reports.items():
        print(f"{'pass' if rep.passed else 'FAIL'}  {cid}")
        if not rep.passed:
            print(rep)
    return 0 if all(r.passed for r in reports.values()) else 1


def cmd_sweep(args):
    from .sweep import run_config

    run_config(args.config, workers=args.workers, backend=args.backend, scheduler=args.scheduler)
    return 0


def _command(sub, name, help, example, **kw):
    """A subcommand with its one-line help, the defaults of every option and an example."""
    return sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=f"example:\n  {example}",
        formatter_class=_HelpFormatter,
        **kw,
    )


def build_parser():
    p = argparse.ArgumentParser(
        prog="refrnn", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    p.add_argument("--version", action="version", version=f"refrnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    d = _command(
        sub, "demo", "STF vs clipped BPTT on Lorenz-63, over seeds (the main job)",
        "refrnn demo --out refrnn-demo        # ~4 min on 2 cores; --quick: seconds",
    )  # fmt: skip
    d.add_argument(
        "--quick",
        action="store_true",
        help="tiny budget that exercises every step in seconds; its numbers mean nothing",
    )
    d.add_argument("--out", default="refrnn-demo", help="output folder (created)")
    d.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the data; run k starts from seed+k and draws windows with seed+100+k",
    )
    d.add_argument(
        "--workers",
        type=int,
        default=None,
        help="training processes (default: the number of cores, at most the number of runs)",
    )
    d.set_defaults(func=cmd_demo)

    t = _command(
        sub, "train", "train one model from a TOML config (resumes its checkpoint)",
        "refrnn train run.toml                # format: refrnn.cli.train_from_config",
    )  # fmt: skip
    t.add_argument(
        "config",
        help="TOML file with [data], [model], [train], [output] sections "
        "(see refrnn.cli.train_from_config)",
    )
    t.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress output (default: progress on stderr)",
    )
    t.add_argument(
        "--restart",
        action="store_true",
        help="start over instead of resuming the output folder's checkpoint",
    )
    t.set_defaults(func=cmd_train)

    e = _command(
        sub, "evaluate", "D_stsp, D_H and prediction error of a saved model on a series (JSON)",
        "refrnn evaluate refrnn-demo/model_stf_seed0.npz refrnn-demo/test_series.npy",
    )  # fmt: skip
    e.add_argument("model", help="model .npz (from refrnn train/demo or refrnn.io.save_model)")
    e.add_argument("data", help="(T, N) series: .npy, .npz or .csv")
    e.add_argument(
        "--n-free", type=int, default=None, help="free-run length (default: the series' length)"
    )
    e.add_argument("--pe-steps", type=int, default=10, help="prediction-error horizon in steps")
    e.set_defaults(func=cmd_evaluate)

    ly = _command(
        sub, "lyapunov", "Lyapunov spectrum of a saved model, as a table (or --json)",
        "refrnn lyapunov refrnn-demo/model_stf_seed0.npz --data refrnn-demo/test_series.npy",
    )  # fmt: skip
    ly.add_argument("model", help="model .npz (from refrnn train/demo or refrnn.io.save_model)")
    ly.add_argument(
        "--data", default=None, help="series whose first sample sets z0 (default: z0 = 0)"
    )
    ly.add_argument("--n-steps", type=int, default=100000, help="QR steps that are averaged")
    ly.add_argument(
        "--transient", type=int, default=1000, help="steps run first, to reach the attractor"
    )
    ly.add_argument(
        "--k", type=int, default=None, help="number of leading exponents (default: all M)"
    )
    ly.add_argument(
        "--dt",
        type=float,
        default=None,
        help="time per model step, for exponents per unit time (default: the dt in the "
        "model's training record if it has one, else per step only)",
    )
    ly.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ly.set_defaults(func=cmd_lyapunov)

    v = _command(
        sub, "verify", "compare another implementation's results with refrnn",
        "refrnn verify theirs.npz             # schema: refrnn.verify",
    )  # fmt: skip
    v.add_argument("file", help=".npz in the schema of refrnn.verify (parameters, data, results)")
    v.set_defaults(func=cmd_verify)

    sw = _command(
        sub, "sweep", "a grid of training runs (models x tau x seeds), locally or on Dask",
        "refrnn sweep experiments/tau_sweep.toml --workers 2",
    )  # fmt: skip
    sw.add_argument("config", help="TOML file, see refrnn.sweep.load_config")
    sw.add_argument(
        "--scheduler",
        default=None,
        help="address of a running Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)",
    )
    sw.add_argument(
        "--workers", type=int, default=None, help="local workers (default: the number of cores)"
    )
    sw.add_argument(
        "--backend",
        choices=["dask", "processes"],
        default=None,
        help="(default: dask if installed, else a local process pool)",
    )
    sw.set_defaults(func=cmd_sweep)

    g = _command(
        sub, "golden", "check (or --regenerate) the shipped golden reference vectors",
        "refrnn golden                        # exit status 0 if every case passes",
    )  # fmt: skip
    g.add_argument("--regenerate", action="store_true", help="rewrite the golden files")
    g.add_argument("--dir", default=None, help="golden directory (default: the shipped one)")
    g.set_defaults(func=cmd_golden)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError, DivergenceError) as exc:
        print(f"refrnn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
