"""Command-line interface of refrnn (``refrnn --help`` lists the seven commands).

``refrnn demo`` is the main job: it reproduces the paper's central contrast on Lorenz-63
in a few minutes -- sparse teacher forcing with tau near the predictability time versus
plain BPTT with clipped gradients -- and writes a summary table, figures and a JSON of
all numbers. ``refrnn train`` takes a user's own series (or a benchmark) from a TOML file
(:func:`train_from_config`) to a selected model evaluated on held-out data, over one or
several seeds (:func:`refrnn.sweep.train_seeds`). Every other subcommand is a thin
wrapper over the public API.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from ._validation import DivergenceError, as_positive_int
from .demo import run_demo
from .io import json_default

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


def _load_series(path, key=None):
    from . import data

    return data.load_series(path, key=key)


def cmd_demo(args):
    run_demo(args.out, quick=args.quick, seed=args.seed, workers=args.workers)
    return 0


def cmd_train(args):
    """``refrnn train CONFIG.toml``: see :func:`train_from_config` for the format."""
    if not args.no_progress:  # a first run compiles the kernels: say so, on stderr
        from ._warmup import warm_up_kernels

        warm_up_kernels(lambda line: print(line, file=sys.stderr, flush=True))
    summary = train_from_config(
        args.config,
        progress=not args.no_progress,
        restart=args.restart,
        seeds=args.seeds,
        workers=args.workers,
    )
    for line in _train_report(summary):
        print(line)
    return 0


#: Keys of each section of a ``refrnn train`` TOML file. [train] and [evaluate] keys are
#: settings of refrnn.sweep.CELL_DEFAULTS (``seed`` is the window seed, ``train_seed``).
_CONFIG_SCHEMA = {
    "data": (
        "file", "key", "columns", "test_fraction", "standardize", "embed", "dt",
        "system", "n_samples", "seed",
    ),
    "model": ("type", "M", "L", "readout", "seed"),
    "train": (
        "tau", "alpha", "n_epochs", "batches_per_epoch", "batch_size", "seq_len", "lr",
        "lr_decay", "clip_norm", "detach_forcing", "warmup", "lambda_max", "tau_fraction",
        "eval_every", "eval_steps", "eval_starts", "select", "seed", "n_seeds",
        "window_sampling", "lr_decay_start", "ema_decay",
    ),
    "evaluate": ("n_free", "pe_steps", "smoothing"),
    "output": ("dir",),
}  # fmt: skip


def _check_config_keys(path, cfg):
    """Unknown sections and keys are errors: a typo such as ``m = 4`` must not be ignored."""
    import difflib

    schema = _CONFIG_SCHEMA
    for section, table in cfg.items():
        if section not in schema:
            close = difflib.get_close_matches(section, schema, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            raise ValueError(f"{path}: unknown section [{section}]{hint}; known: {sorted(schema)}")
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [{section}] must be a table of keys")
        for key in table:
            if key in schema[section]:
                continue
            elsewhere = [s for s in schema if key in schema[s]]
            same_case = [k for k in schema[section] if k.lower() == key.lower()]
            close = same_case or difflib.get_close_matches(key, schema[section], n=1)
            if elsewhere:
                hint = f" (it belongs in [{elsewhere[0]}])"
            else:
                hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{path}: unknown key {key!r} in [{section}]{hint}; known: "
                f"{sorted(schema[section])}"
            )


def _config_path(path, value):
    """A path from the TOML file: relative paths are relative to the file's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else path.parent / p


#: ``refrnn train`` warns when the test part of a file series is shorter than this.
MIN_TEST_SAMPLES = 200


def _csv_header(file):
    """The column names of a CSV file's header line, or None (no header, not a CSV)."""
    if file.suffix.lower() != ".csv":
        return None
    with file.open() as f:
        names = [n.strip().strip('"') for n in f.readline().strip().split(",")]
    try:
        [float(n) for n in names]
    except ValueError:
        return names
    return None  # numbers: no header line


def _check_file_columns(path, file, X, dcfg):
    """Errors and warnings about the columns of a file series before it is embedded."""
    names = _csv_header(file)
    label = (lambda k: f"{k} ({names[k]!r})") if names and len(names) == X.shape[1] else str
    if "columns" not in dcfg and X.shape[1] > 1 and dcfg.get("embed") == "auto":
        pick = f'["{names[-1]}"]' if names and len(names) == X.shape[1] else f"[{X.shape[1] - 1}]"
        raise ValueError(
            f'{path}: [data] embed = "auto" embeds one measured channel, but {file.name} has '
            f"{X.shape[1]} columns ({', '.join(label(k) for k in range(X.shape[1]))}); choose "
            f"it, e.g. columns = {pick}, or give embed = [dim, lag] to embed every column"
        )
    for k in range(X.shape[1]):
        d = np.diff(X[:, k])
        if X.shape[0] > 2 and (np.all(d > 0) or np.all(d < 0)):
            warnings.warn(
                f"{file.name}: column {label(k)} changes in the same direction at every "
                f"step (a time stamp or a counter?); it is trained on as a signal. Select the "
                f"measured columns with columns = [...] in [data]",
                UserWarning,
                stacklevel=2,
            )


def _select_columns(path, file, X, columns):
    """Columns of a loaded series by 0-based index or (CSV with a header) by name."""
    if not isinstance(columns, list) or not columns:
        raise ValueError(f"{path}: [data] columns must be a non-empty list, got {columns!r}")
    names = _csv_header(file) if any(isinstance(c, str) for c in columns) else None
    index = []
    for c in columns:
        if isinstance(c, bool) or not isinstance(c, (int, str)):
            raise ValueError(f"{path}: [data] columns must hold ints or names, got {c!r}")
        if isinstance(c, str):
            if names is None:
                raise ValueError(
                    f"{path}: [data] columns names {c!r}, but {file.name} has no header line "
                    f"of column names; give 0-based column numbers"
                )
            if c not in names:
                raise ValueError(f"{path}: [data] columns: no column {c!r} in {file.name}: {names}")
            c = names.index(c)
        if not 0 <= c < X.shape[1]:
            raise ValueError(
                f"{path}: [data] columns: column {c} does not exist ({file.name} has "
                f"{X.shape[1]} columns, numbered from 0)"
            )
        index.append(c)
    return X[:, index]


def _config_dataset(path, dcfg):
    """``(Dataset, record)`` from the [data] section; record: the model's provenance."""
    from . import data

    if ("file" in dcfg) == ("system" in dcfg):
        raise ValueError(f"{path}: [data] needs 'system' or 'file' (one of them)")
    if "file" in dcfg:
        kind, other, foreign = "file", "system", ("n_samples", "seed")
    else:
        kind, other, foreign = "system", "file", ("key", "columns", "embed", "dt")
    for key in foreign:
        if key in dcfg:
            raise ValueError(f"{path}: [data] {key} applies to '{other}' data, not to '{kind}'")
    test_fraction = dcfg.get("test_fraction", 0.2)
    if isinstance(test_fraction, (int, float)) and not isinstance(test_fraction, bool):
        if test_fraction <= 0:
            raise ValueError(
                f"{path}: [data] test_fraction must be > 0 (the model is evaluated on the "
                f"held-out last part of the series), got {test_fraction}"
            )
    try:
        if "system" in dcfg:
            n_samples = as_positive_int("n_samples", dcfg.get("n_samples", 30000))
            ds = data.generate(
                dcfg["system"],
                n_samples,
                rng=dcfg.get("seed", 0),
                standardize=dcfg.get("standardize", True),
                test_fraction=test_fraction,
            )
            return ds, {"source": dcfg["system"], "dt": ds.dt}
        file = _config_path(path, dcfg["file"])
        X = data.load_series(file, key=dcfg.get("key"))
        if "columns" in dcfg:
            X = _select_columns(path, file, X, dcfg["columns"])
        _check_file_columns(path, file, X, dcfg)
        embed = dcfg.get("embed")
        if embed is False or (isinstance(embed, str) and embed.lower() == "none"):
            embed = None
        dt = dcfg.get("dt", 1.0)
        ds = data.Dataset.from_series(
            X,
            standardize=dcfg.get("standardize", True),
            test_fraction=test_fraction,
            dt=dt,
            embed=embed,
            info={"source": "file", "file": str(file)},
        )
        n_test = 0 if ds.test is None else ds.test.shape[0]
        if 0 < n_test < MIN_TEST_SAMPLES:
            warnings.warn(
                f"{file.name}: the test part holds only {n_test} samples (< "
                f"{MIN_TEST_SAMPLES}): D_stsp and D_H on so few samples mostly count empty "
                f"histogram bins, so test scores will be poor for any model (the training "
                f"part's own score against the test part, printed at the end, is the floor). "
                f"Use a longer series or a larger test_fraction",
                UserWarning,
                stacklevel=2,
            )
    except (ValueError, TypeError) as exc:
        if str(exc).startswith(str(path)):
            raise
        raise type(exc)(f"{path}: [data] {exc}") from None
    return ds, {"source": str(file), **({"dt": ds.dt} if "dt" in dcfg else {"dt": None})}


def train_from_config(path, *, progress=False, restart=False, seeds=None, workers=None):
    """Train, select and evaluate the model(s) described by a TOML file.

    Format (every key optional except the ``[data]`` source)::

        [data]                   # either a file of your own ...
        file = "series.csv"      # .npy, .npz or .csv; (T, N) or one column (T,)
        key = "x"                # .npz: which array
        columns = ["signal"]     # optional: columns by header name or 0-based number
        test_fraction = 0.2      # the last 20 % are held out for the evaluation only
        standardize = true       # zero mean, unit variance (statistics of the training part)
        embed = "auto"           # delay embedding: "auto" (1 column) or [dim, lag]
        dt = 0.01                # optional: time between samples (per-time exponents)
        # ... or a simulated benchmark: system = "lorenz63", n_samples = 30000, seed = 0
        [model]
        type = "PLRNN"           # or "VanillaRNN", "ShallowPLRNN"
        M = 30
        L = 100                  # ShallowPLRNN only: hidden width
        readout = "linear"
        seed = 0                 # seed k of n_seeds initialises with seed + k
        [train]
        tau = "auto"             # int, "auto" (round(0.3 ln 2 / lambda_max)) or "none"
        n_epochs = 600
        n_seeds = 1              # K runs from different seeds (refrnn train --seeds K)
        seed = 1                 # windows of seed k are drawn with seed + k
        # and any of: alpha, batches_per_epoch, batch_size, seq_len, lr, lr_decay,
        # clip_norm, detach_forcing, warmup, lambda_max, tau_fraction, eval_every,
        # eval_steps, eval_starts, select ("best" or "last"), window_sampling,
        # lr_decay_start, ema_decay
        [evaluate]               # on the test part
        n_free = 10000           # free-run length
        pe_steps = 10            # horizon of the prediction error PE(n)
        smoothing = 20.0         # D_H kernel width in frequency bins
        [output]
        dir = "run"

    Relative paths (``file``, ``dir``) are relative to the TOML file's folder; the default
    ``dir`` is the file's name without ``.toml``. Defaults not listed are those of
    :data:`refrnn.sweep.CELL_DEFAULTS`. Every unknown section or key is an error naming it.

    The series is split in time; the training part trains and selects the model (the
    epoch whose free runs match the training part best), the test part only evaluates it.
    Runs :func:`refrnn.sweep.train_seeds`: writes ``dataset.npz`` (both parts and the
    standardiser), ``test_series.npy``, ``summary.json`` and the selected model(s) --
    ``model.npz`` for one seed (with ``checkpoint.npz``: a rerun resumes it if it was made
    from the same data, model and settings, and refuses otherwise; ``restart=True``
    starts over), ``model_seed<s>.npz`` for several (finished seeds are not rerun).

    Parameters
    ----------
    path : str or Path
    progress : bool
    restart : bool
    seeds : int, optional
        Number of seeds; overrides ``[train] n_seeds``.
    workers : int, optional
        Processes for several seeds (default: the number of cores, at most K).

    Returns
    -------
    dict
        The summary (see :func:`refrnn.sweep.train_seeds`) plus ``out_dir``.
    """
    from .sweep import train_seeds

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such config file: {path}")
    with path.open("rb") as fh:
        try:
            cfg = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
    _check_config_keys(path, cfg)
    for section, key in (("data", "file"), ("data", "system"), ("data", "key"), ("output", "dir")):
        value = cfg.get(section, {}).get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{path}: [{section}] {key} must be a string, got {value!r}")
    if "data" not in cfg:
        raise ValueError(f"{path}: [data] needs 'system' or 'file'")
    mcfg, tcfg = dict(cfg.get("model", {})), dict(cfg.get("train", {}))
    out = _config_path(path, cfg.get("output", {}).get("dir", path.stem))
    if out.exists() and not out.is_dir():
        raise ValueError(f"{path}: [output] dir = {str(out)!r} exists and is not a directory")
    # settings checked here so that a bad value fails before any training, naming its key
    if "M" in mcfg:
        as_positive_int(f"{path}: [model] M", mcfg["M"])
    for section, table in (("model", mcfg), ("train", tcfg)):
        if "seed" in table:
            as_positive_int(f"{path}: [{section}] seed", table["seed"], minimum=0)
    mtype = mcfg.pop("type", "PLRNN")
    known = ("PLRNN", "ShallowPLRNN", "VanillaRNN")
    if mtype not in known:
        raise ValueError(f"{path}: [model] type must be one of {list(known)}, got {mtype!r}")
    if ("L" in mcfg) != (mtype == "ShallowPLRNN"):
        raise ValueError(f"{path}: [model] L (hidden width) is for, and needed by, ShallowPLRNN")
    n_seeds = seeds if seeds is not None else tcfg.pop("n_seeds", 1)
    tcfg.pop("n_seeds", None)
    n_seeds = as_positive_int(f"{path}: [train] n_seeds (or --seeds)", n_seeds)
    tau = tcfg.pop("tau", "auto")
    tau = None if isinstance(tau, str) and tau.lower() == "none" else tau
    settings = {
        "model": mtype,
        **mcfg,
        "tau": tau,
        "train_seed": tcfg.pop("seed", 1),
        **tcfg,
        **cfg.get("evaluate", {}),
    }
    dataset, record = _config_dataset(path, cfg["data"])
    try:
        summary = train_seeds(
            dataset,
            n_seeds,
            out,
            workers=workers,
            progress=progress,
            restart=restart,
            record=record,
            log=lambda line: print(line, file=sys.stderr, flush=True),
            **settings,
        )
    except (ValueError, TypeError) as exc:
        if str(exc).startswith(str(path)):
            raise
        raise type(exc)(f"{path}: {exc}") from None
    return {**summary, "out_dir": str(out)}


def _fmt(x, spec=".3g"):
    return "diverged" if x is None else format(x, spec)


def _train_report(summary):
    """Console lines after ``refrnn train``: what was done, the test numbers, what next."""
    import shlex

    out = Path(summary["out_dir"])
    d = summary["data"]
    emb = d["info"].get("embedding")
    how = ("standardised" if d["standardized"] else "raw units") + (
        f", delay-embedded (dim={emb['dim']}, lag={emb['lag']}, {emb['chosen']})" if emb else ""
    )
    lines = [
        f"data: {d['n_train']} training / {d['n_test']} test samples, N={d['N']} ({how})",
        f"model selection: {summary['selection']}",
        f"evaluated on {summary['evaluated_on']}",
    ]
    ok = [r for r in summary["runs"] if r["status"] == "done"]
    for r in summary["runs"]:
        if r["status"] != "done":
            lines.append(f"  seed {r['seed']}: FAILED: {r.get('error')}")
            continue
        lines.append(
            f"  seed {r['seed']}: tau={r['tau']}, selected epoch {r['selected_epoch']}; test "
            f"D_stsp {_fmt(r['d_stsp'])}, D_H {_fmt(r['d_h'])}, "
            f"PE({summary['settings']['pe_steps']}) {_fmt(r['prediction_error'])}"
        )
    ref = summary["reference"]
    lines.append(
        f"  (the training part itself scores D_stsp {_fmt(ref['d_stsp_train_vs_test'])}, "
        f"D_H {_fmt(ref['d_h_train_vs_test'])} against the test part: the floor for a model)"
    )
    K = summary["n_seeds"]
    if K > 1:
        s = summary["spread"]["d_stsp"]
        lines.append(
            f"test D_stsp over {s['n']} of {K} seeds: median {_fmt(s['median'])} "
            f"[{_fmt(s['min'])}, {_fmt(s['max'])}] ({summary['n_diverged']} diverged, "
            f"{summary['n_failed']} failed)"
        )
    else:
        lines.append(
            "one seed only: on chaotic data one run is a lottery -- judge a configuration "
            "by several (--seeds 5, in parallel)"
        )
    model = out / (ok[0]["model_file"] if ok else "model.npz")
    test = out / "test_series.npy"
    st = summary["settings"]
    q = shlex.quote
    lines += [
        f"wrote {out}/: summary.json (every number), dataset.npz (split and standardiser), "
        f"test_series.npy, " + ", ".join(r["model_file"] for r in ok),
        "next (the evaluation settings of this run, so that the numbers above come out again"
        + ("; the other seeds' models likewise" if len(ok) > 1 else "")
        + "):",
        f"  refrnn evaluate {q(str(model))} {q(str(test))} --n-free {st['n_free']} "
        f"--pe-steps {st['pe_steps']} --smoothing {st['smoothing']:g}",
        f"  refrnn lyapunov {q(str(model))} --data {q(str(test))}",
    ]
    return lines


#: ``refrnn evaluate`` warns when a series is far from the model's training data: a mean
#: more than this many training standard deviations away in some variable ...
STANDARDIZED_MEAN_SHIFT = 1.0
#: ... or a standard deviation more than this factor larger or smaller. Held-out parts
#: of a chaotic series standardised like the training part stay well within both; raw
#: values (e.g. 0..255 from an 8-bit recorder) are hundreds of standard deviations off.
STANDARDIZED_STD_FACTOR = 3.0


def _scale_warnings(X, record):
    """Warnings if ``X : (T, N)`` is far from the model's training data in mean or scale."""
    mean, std = record.get("train_mean"), record.get("train_std")
    if mean is not None and std is not None and len(mean) == X.shape[1]:
        ref = "the model's training data"
        mean, std = np.asarray(mean, float), np.asarray(std, float)
    else:
        ref = "a standardised series (the model's record has no training statistics)"
        mean, std = np.zeros(X.shape[1]), np.ones(X.shape[1])
    std = np.where(std > 0, std, 1.0)
    shift = np.abs(X.mean(axis=0) - mean) / std
    ratio = X.std(axis=0) / std
    bad = np.flatnonzero(
        (shift > STANDARDIZED_MEAN_SHIFT)
        | (ratio > STANDARDIZED_STD_FACTOR)
        | (ratio < 1.0 / STANDARDIZED_STD_FACTOR)
    )
    if bad.size == 0:
        return []
    n = int(bad[0])
    hint = ""
    if record.get("standardizer"):
        hint = (
            " The model was trained on standardised data: transform the series with the "
            "training run's standardiser (dataset.npz, refrnn.Dataset.load(...).standardizer)"
        )
    return [
        f"the series is far from {ref} in variable(s) {bad.tolist()}: e.g. variable {n} has "
        f"mean {X[:, n].mean():.4g} and standard deviation {X[:, n].std():.4g}, against "
        f"{mean[n]:.4g} and {std[n]:.4g}; the measures compare the model's attractor with "
        f"the series in the model's units, so they would mean little.{hint}"
    ]


_NULL_REASONS = {
    "d_stsp": "the model's free run diverged (it left the data's range by "
    "refrnn.metrics.DIVERGENCE_BOUND): there is no attractor to compare",
    "d_h": "the model's free run diverged: there is no spectrum to compare",
    "prediction_error": "an n-step prediction overflowed",
}


def _check_series_width(name, X, model, record):
    """A clear error when a series does not have the model's N observed variables."""
    if X.shape[1] == model.N:
        return
    emb = record.get("embedding")
    hint = (
        f"; the model was trained on a series delay-embedded with dim={emb['dim']}, "
        f"lag={emb['lag']}: use the test_series.npy or dataset.npz (--key test) its "
        f"training run wrote"
        if emb
        else ""
    )
    raise ValueError(
        f"{name} has N={X.shape[1]} variables but the model observes N={model.N}{hint}"
    )


def cmd_evaluate(args):
    from . import metrics
    from .io import json_safe, load_model, load_record

    model = load_model(args.model)
    record = load_record(args.model) or {}
    X = _load_series(args.data, key=args.key)
    _check_series_width(args.data, X, model, record)
    warns = _scale_warnings(X, record)
    for w in warns:
        print(f"refrnn evaluate: warning: {w}", file=sys.stderr)
    ev, _ = metrics.evaluate(
        model,
        X,
        n_free=args.n_free,
        pe_steps=args.pe_steps,
        smoothing=args.smoothing,
        transient=args.transient,
    )
    out = {"model": args.model, "data": args.data, "key": args.key, "n_samples": X.shape[0], **ev}
    nulls = {k: why for k, why in _NULL_REASONS.items() if not np.isfinite(ev[k])}
    if nulls:
        out["null_reasons"] = nulls
    out["warnings"] = warns
    print(json.dumps(json_safe(out), indent=2, allow_nan=False))
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
    if args.data is None:
        z0 = np.zeros(model.M)
    else:
        X = _load_series(args.data, key=args.key)
        _check_series_width(args.data, X, model, record)
        z0 = model.infer_state(X[0])
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
    ky = res.kaplan_yorke
    why = ""
    if not np.isfinite(ky):
        why = (
            " (undefined: the leading exponents computed never sum below 0; ask for more "
            "with --k, or the full spectrum)"
        )
    print(f"Kaplan-Yorke dimension: {ky:.4g}{why}")
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
        sub, "train",
        "train, select and test a model from a TOML config, on your own series or a "
        "benchmark (resumes)",
        "refrnn train experiments/own_data.toml --seeds 3\n"
        "  (format: refrnn.cli.train_from_config; then run the printed\n"
        "  'refrnn evaluate' and 'refrnn lyapunov' commands)",
    )  # fmt: skip
    t.add_argument(
        "config",
        help="TOML file with [data], [model], [train], [evaluate], [output] sections "
        "(see refrnn.cli.train_from_config)",
    )
    t.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="train this many seeds, in parallel, and report the median and range of the "
        "test measures (default: [train] n_seeds of the file, else 1)",
    )
    t.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for --seeds (default: the number of cores, at most the seeds)",
    )
    t.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress output (default: progress on stderr)",
    )
    t.add_argument(
        "--restart",
        action="store_true",
        help="start over instead of resuming the output folder's checkpoint or finished seeds",
    )
    t.set_defaults(func=cmd_train)

    e = _command(
        sub, "evaluate", "D_stsp, D_H and prediction error of a saved model on a series (JSON)",
        "refrnn evaluate refrnn-demo/model_stf_seed0.npz refrnn-demo/test_series.npy\n"
        "  refrnn evaluate run/model.npz run/dataset.npz --key test --smoothing 5",
    )  # fmt: skip
    e.add_argument("model", help="model .npz (from refrnn train/demo or refrnn.io.save_model)")
    e.add_argument(
        "data",
        help="(T, N) series in the model's units: .npy, .csv, or .npz (e.g. the dataset.npz "
        "of refrnn train with --key test)",
    )
    e.add_argument(
        "--key", default=None, help="array of an .npz holding several (default: its only one)"
    )
    e.add_argument(
        "--n-free", type=int, default=None, help="free-run length (default: the series' length)"
    )
    e.add_argument("--pe-steps", type=int, default=10, help="prediction-error horizon in steps")
    e.add_argument(
        "--smoothing",
        type=float,
        default=20.0,
        help="D_H: Gaussian kernel width in frequency bins (20 suits 1e4-1e5 samples; use a "
        "few for a few thousand)",
    )
    e.add_argument(
        "--transient", type=int, default=1000, help="free-run steps discarded before comparing"
    )
    e.set_defaults(func=cmd_evaluate)

    ly = _command(
        sub, "lyapunov", "Lyapunov spectrum of a saved model, as a table (or --json)",
        "refrnn lyapunov refrnn-demo/model_stf_seed0.npz --data refrnn-demo/test_series.npy",
    )  # fmt: skip
    ly.add_argument("model", help="model .npz (from refrnn train/demo or refrnn.io.save_model)")
    ly.add_argument(
        "--data", default=None, help="series whose first sample sets z0 (default: z0 = 0)"
    )
    ly.add_argument("--key", default=None, help="array of an .npz --data (default: its only one)")
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

    def show(message, category, filename, lineno, file=None, line=None):
        # for people at a terminal: the message, not the source line that raised it
        print(f"refrnn {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError, DivergenceError) as exc:
        print(f"refrnn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
