"""Fuzz tests: the public API and the command line under bad input.

Every call below either returns a result or raises a clear error, never something else:

* allowed: ``TypeError``, ``ValueError``, ``FileNotFoundError`` and refrnn's own errors
  (``refrnn.DivergenceError`` and its subclass ``refrnn.TrainingDiverged``), with a
  message that names the offending argument (each call lists the names it may use);
* not allowed: any other exception (a Numba ``TypingError``, ``IndexError``,
  ``KeyError``, ``AttributeError``, ``ZeroDivisionError``, a bare ``MemoryError``, ...)
  and returned arrays holding NaN that no documented rule explains;
* the command line returns an exit code (0, 1 or 2) and prints one line for an error.

Sizes are bounded in the strategies (or rejected by the library) so that no example
allocates more than a few MB or runs longer than a fraction of a second: huge integers
(10^12 and beyond) are passed where they must be refused before any allocation (sizes
beyond the machine's memory) or stopped by an up-front estimate (``lyapunov_spectrum``),
and left out only for lengths that merely cost time (epochs, steps of Jacobian products).

``OUTCOMES`` counts, per test, the examples that returned and those that ended in a clear
error (command line: exit code 2); ``python tests/fuzz_counts.py`` runs this file and
prints the counts (the numbers in CONTRIBUTING.md).
"""

from __future__ import annotations

import collections
import dataclasses
import io as _stdio
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refrnn
from refrnn import cli, data, io, metrics, systems, verify

#: (test name, "result" | "error") -> number of examples
OUTCOMES = collections.Counter()

ALLOWED = (TypeError, ValueError, FileNotFoundError, refrnn.DivergenceError)

FUZZ = settings(
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class _Opaque:
    """An object no refrnn function knows."""


# ======================================================================================
# strategies
JUNK = st.sampled_from(["abc", "", None, [1, "a"], [[1.0], [2.0, 3.0]], 1 + 2j, True,
                        _Opaque(), {"a": 1}, b"x", float("nan"), float("inf")])  # fmt: skip
SMALL_INTS = st.integers(-3, 12)
HUGE_INTS = st.sampled_from([10**12, 2**63, -(2**63), 10**30])


def arrays(max_dims=3, max_side=6):
    """Arrays of any float/int/bool/complex dtype, 0-3 dims, sides 0-6, with NaN and inf."""
    dtype = st.sampled_from(
        [np.float64, np.float64, np.float32, np.float16, np.int64, np.bool_, np.complex128]
    )
    shape = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side)
    return dtype.flatmap(
        lambda dt: hnp.arrays(
            dt,
            shape,
            elements=st.floats(-1e3, 1e3, width=16) | st.sampled_from([np.nan, np.inf, 0.0])
            if np.dtype(dt).kind == "f"
            else None,
        )
    )


def _spoil(a, which, special, where):
    """With probability 1/5, put one NaN, inf or huge value into the float array ``a``."""
    if which < 2 and a.size:
        a = a.copy()
        a.flat[where % a.size] = special
    return a


def float_arrays(shape):
    """Float arrays of a given shape: finite, or (1 in 5) with one NaN, inf or 1e300."""
    return st.builds(
        _spoil,
        hnp.arrays(np.float64, shape, elements=st.floats(-3, 3)),
        st.integers(0, 9),
        st.sampled_from([np.nan, np.inf, -np.inf, 1e300]),
        st.integers(0, 10**6),
    )


def mostly(ok, *bad):
    """``ok`` 4 times in 5, else one of the ``bad`` strategies."""
    return st.integers(0, 9).flatmap(lambda i: st.one_of(*bad) if i < 2 else ok)


def anything(ok, huge=True):
    """Mostly (4 in 5) a valid value from ``ok``; else junk: wrong types, arrays, odd ints.

    ``huge=False`` leaves out the huge integers, for lengths that only cost time (a run of
    10^12 steps is long by design; those that allocate must be refused instead).
    """
    return st.integers(0, 9).flatmap(lambda i: junk(huge) if i < 2 else ok)


def junk(huge=True):
    """Wrong types, arrays, odd and (unless ``huge=False``) huge integers, any float."""
    return st.one_of(JUNK, arrays(), SMALL_INTS, st.floats(), *([HUGE_INTS] if huge else []))


def states(dim_of, rows=False):
    """For a drawn object: mostly a float state of its dimension (``(T, dim)`` rows if
    ``rows``), else any array or junk. ``dim_of`` maps the object to its dimension."""

    def draw_for(obj):
        dim = dim_of(obj)
        if dim is None:
            return st.one_of(arrays(), JUNK)
        shape = st.integers(1, 30).map(lambda T: (T, dim)) if rows else st.just((dim,))
        return st.one_of(float_arrays(shape), float_arrays(shape), float_arrays(shape),
                         arrays(), JUNK)  # fmt: skip

    return draw_for


def _dim(obj):
    return getattr(obj, "dim", None) if hasattr(obj, "_kind") else None


MODELS = st.builds(
    lambda cls, M, N, readout, seed: cls.random(M, N, rng=seed, readout=readout),
    st.sampled_from([refrnn.PLRNN, refrnn.VanillaRNN]),
    st.integers(2, 5),
    st.just(2),
    st.sampled_from(["linear", "identity"]),
    st.integers(0, 3),
)


# ======================================================================================
# the oracle
def _walk(value):
    """Yield the float arrays inside a result (tuples, dicts, dataclasses, namedtuples)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            yield value
    elif isinstance(value, (float, np.floating)):
        yield np.asarray(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _walk(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))


def check(test, names, fn, *args, nan_ok=False, long_run_is_error=False, **kwargs):
    """Call ``fn``; a result without NaN, or an allowed error naming one of ``names``.

    ``long_run_is_error``: the up-front "estimated run time" warning of a long computation
    stops the call (the answer a user gets before waiting), so huge lengths can be fuzzed.
    """
    allowed = ALLOWED + ((UserWarning,) if long_run_is_error else ())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if long_run_is_error:
                warnings.filterwarnings("error", message=".*estimated run time")
            out = fn(*args, **kwargs)
    except allowed as exc:
        msg = str(exc)
        assert any(n in msg for n in names), (
            f"{type(exc).__name__} does not name any of {names}: {msg!r}"
        )
        OUTCOMES[test, "error"] += 1
        return None
    if not nan_ok:
        for a in _walk(out):
            assert not np.any(np.isnan(a)), f"silent NaN in the result of {fn.__name__}"
    OUTCOMES[test, "result"] += 1
    return out


# ======================================================================================
# models
@FUZZ
@given(
    cls=st.sampled_from(["PLRNN", "VanillaRNN"]),
    M=st.integers(1, 4),
    N=st.integers(1, 3),
    readout=anything(st.sampled_from(["linear", "identity"])),
    n_obs=anything(st.none() | st.integers(1, 3)),
    which=st.sampled_from(["A", "W", "h", "b", "B", None]),
    bad=st.one_of(JUNK, arrays()),
)
def test_model_constructors(cls, M, N, readout, n_obs, which, bad):
    rng = np.random.default_rng(0)
    args = {"W": rng.normal(size=(M, M)) * 0.3, "B": rng.normal(size=(N, M))}
    if cls == "PLRNN":
        args.update(A=np.full(M, 0.5), h=np.zeros(M))
    else:
        args.update(b=np.zeros(M))
    if which in args:
        args[which] = bad
    check("model_constructors", (*args, "readout", "n_obs", "N"), getattr(refrnn, cls),
          **args, readout=readout, n_obs=n_obs)  # fmt: skip


@FUZZ
@given(
    cls=st.sampled_from([refrnn.PLRNN, refrnn.VanillaRNN]),
    M=anything(st.integers(1, 6)),
    N=anything(st.integers(1, 6)),
    readout=anything(st.sampled_from(["linear", "identity"])),
    rng=anything(st.integers(0, 5)),
)
def test_model_random(cls, M, N, readout, rng):
    check("model_random", ("M", "N", "readout", "rng"), cls.random, M, N, readout=readout,
          rng=rng)  # fmt: skip


@FUZZ
@given(
    model=MODELS,
    method=st.sampled_from(["step", "jacobian", "observe", "infer_state", "simulate"]),
    n_steps=anything(st.integers(0, 50)),
    data=st.data(),
)
def test_model_methods(model, method, n_steps, data):
    size = model.N if method == "infer_state" else model.M
    x = data.draw(states(lambda m: size, rows=method in ("observe", "infer_state"))(model))
    fn = getattr(model, method)
    names = ("z", "Z", "X", "z0", "n_steps")
    if method == "simulate":
        check("model_methods", names, fn, x, n_steps)
    else:
        # observe() reads out any state, finite or not (a diverged orbit too): NaN in, NaN
        # out is its documented behaviour, not a silent NaN
        nan_in = method == "observe" and isinstance(x, np.ndarray) and x.dtype.kind == "f"
        nan_in = nan_in and bool(np.isnan(x).any())
        check("model_methods", names, fn, x, nan_ok=nan_in)


@FUZZ
@given(model=MODELS, which=st.sampled_from(["A", "W", "h", "b", "B", "C"]), data=st.data())
def test_model_replace(model, which, data):
    shape = np.shape(model.params.get(which, np.zeros(1)))
    # a value of the right shape (also NaN/inf), or any array
    bad = data.draw(st.one_of(float_arrays(st.just(shape)), arrays()))
    check("model_replace", (which, "unknown parameter", "N", "B", "M"), model.replace,
          **{which: bad})  # fmt: skip


# ======================================================================================
# BPTT
def _windows(model, S, T):
    return np.random.default_rng(0).normal(size=(S, T + 1, model.N))


@FUZZ
@given(
    model=MODELS,
    fn=st.sampled_from(["forward", "loss_and_grad", "jvp", "vjp"]),
    X=st.one_of(arrays(max_dims=4), st.just("valid"), JUNK),
    tau=anything(st.none() | st.integers(1, 8)),
    forcing=st.one_of(st.none(), st.none(), arrays(max_dims=4), JUNK),
    vec=st.one_of(st.just("valid"), st.just("wrong-key"), st.just("wrong-shape"), JUNK),
)
def test_bptt(model, fn, X, tau, forcing, vec):
    if isinstance(X, str) and X == "valid":
        X = _windows(model, 2, 6)
    names = ("X", "tau", "forcing", "tangent", "cotangent", "model")
    kw = {"forcing": forcing}
    if fn in ("forward", "loss_and_grad"):
        check("bptt", names, getattr(refrnn, fn), model, X, tau, **kw)
        return
    if fn == "jvp":
        v = {k: np.ones_like(p) for k, p in model.params.items()}
    else:
        v = {"Z": np.ones((2, 7, model.M)), "X_hat": np.ones((2, 7, model.N))}
    if vec == "wrong-key":
        v = {"nonsense": np.ones(3)}
    elif vec == "wrong-shape":
        v = {k: np.ones(np.shape(a) + (2,)) for k, a in v.items()}
    elif vec != "valid":
        v = vec
    check("bptt", names, getattr(refrnn, fn), model, X, v, tau, **kw)


@FUZZ
@given(model=MODELS, warmup=anything(st.integers(0, 4)), tau=anything(st.integers(1, 4)),
       X=st.one_of(arrays(max_dims=4), JUNK, st.just("valid")))  # fmt: skip
def test_warm_start(model, warmup, tau, X):
    if isinstance(X, str) and X == "valid":
        X = _windows(model, 2, 8)
    check("warm_start", ("X", "warmup", "tau", "identity readout"), refrnn.warm_start, model,
          X, warmup, tau)  # fmt: skip


# ======================================================================================
# Jacobians and Lyapunov spectra
SYSTEMS = st.one_of(MODELS, st.sampled_from([systems.Henon(), systems.Lorenz63()]))


@FUZZ
@given(
    system=mostly(SYSTEMS, JUNK),
    x0=mostly(st.none(), arrays(max_dims=2), JUNK),
    n_steps=anything(st.integers(1, 60)),
    kw=st.fixed_dictionaries(
        {},
        optional={
            "transient": anything(st.integers(0, 30)),
            "tangent_transient": anything(st.integers(0, 30)),
            "k": anything(st.integers(1, 5)),
            "reortho_every": anything(st.integers(1, 5)),
            "n_blocks": anything(st.integers(1, 5)),
            "initial_frame": st.one_of(arrays(max_dims=2), JUNK),
            "rng": anything(st.integers(0, 3)),
            "progress": anything(st.booleans()),
        },
    ),
)
def test_lyapunov_spectrum(system, x0, n_steps, kw):
    names = ("system", "x0", "n_steps", "orbit", "tangent frame", "estimated run time", *kw)
    # NaN is documented for stderr with one block and for Kaplan-Yorke of a partial
    # spectrum; the exponents themselves must never be NaN.
    res = check("lyapunov_spectrum", names, refrnn.lyapunov_spectrum, system, x0, n_steps,
                nan_ok=True, long_run_is_error=True, **kw)  # fmt: skip
    if res is not None:
        assert not np.any(np.isnan(res.exponents))


@FUZZ
@given(
    system=mostly(SYSTEMS, JUNK),
    fn=st.sampled_from(["log_jacobian_product_norms", "finite_time_lyapunov_exponents"]),
    along=st.booleans(),
    n_steps=anything(st.integers(1, 40), huge=False),  # no estimate or guard there (yet)
    data=st.data(),
)
def test_jacobian_products(system, fn, along, n_steps, data):
    x = data.draw(states(_dim, rows=along)(system))
    names = ("system", "x0", "states", "n_steps", "orbit", "Jacobian")
    if along:
        check("jacobian_products", names, getattr(refrnn, fn + "_along"), system, x)
    else:
        check("jacobian_products", names, getattr(refrnn, fn), system, x, n_steps)


@FUZZ
@given(exponents=st.one_of(arrays(max_dims=2), JUNK), complete=anything(st.booleans()),
       lam=anything(st.floats(0.01, 2)), dt=anything(st.floats(0.001, 1)))  # fmt: skip
def test_spectrum_helpers(exponents, complete, lam, dt):
    check("spectrum_helpers", ("exponents", "complete"), refrnn.kaplan_yorke_dimension,
          exponents, complete, nan_ok=True)  # fmt: skip
    check("spectrum_helpers", ("lambda_max", "dt"), refrnn.predictability_time, lam, dt)


# ======================================================================================
# data
@FUZZ
@given(
    system=anything(st.sampled_from(["lorenz63", "henon", "logistic", "rossler"])),
    n_samples=anything(st.integers(10, 300)),
    kw=st.fixed_dictionaries(
        {},
        optional={
            "params": st.one_of(st.none(), JUNK, st.just({"sigma": -1.0}), st.just({"x": 1})),
            "dt": anything(st.floats(0.001, 0.05)),
            "sample_every": anything(st.integers(1, 3)),
            "transient": anything(st.integers(0, 100)),
            "noise": anything(st.floats(0, 0.5)),
            "rng": anything(st.integers(0, 3)),
            "standardize": anything(st.booleans()),
            "test_fraction": anything(st.floats(0, 0.5)),
        },
    ),
)
def test_generate(system, n_samples, kw):
    # "argument": the system's "unexpected keyword argument"; test_fraction has a default
    names = ("system", "n_samples", "orbit", "argument", "test_fraction", *kw)
    check("generate", names, data.generate, system, n_samples, **kw)


@FUZZ
@given(
    X=st.one_of(arrays(), JUNK, float_arrays(st.tuples(st.integers(0, 60), st.integers(1, 3)))),
    dim=anything(st.integers(1, 4)),
    lag=anything(st.integers(1, 3)),
    n_windows=anything(st.integers(1, 4)),
    T=anything(st.integers(1, 10)),
    rng=anything(st.integers(0, 3)),
)
def test_series_tools(X, dim, lag, n_windows, T, rng):
    check("series_tools", ("x", "dim", "lag"), refrnn.delay_embed, X, dim, lag)
    check("series_tools", ("X", "n_windows", "T", "rng"), data.sample_windows, X, n_windows,
          T, rng=rng)  # fmt: skip
    check("series_tools", ("X", "standardize", "test_fraction", "dt"), data.Dataset.from_series,
          X, test_fraction=0.2)  # fmt: skip


SERIES_2 = float_arrays(st.tuples(st.integers(0, 50), st.just(2)))


@FUZZ
@given(train=mostly(SERIES_2, arrays(), JUNK), test=mostly(SERIES_2, arrays(), JUNK),
       standardizer=mostly(st.none(), JUNK), info=mostly(st.just({}), JUNK))  # fmt: skip
def test_dataset_constructor(train, test, standardizer, info):
    check("dataset_constructor", ("train", "test", "standardizer", "info"), data.Dataset,
          train, test, standardizer, info)  # fmt: skip


@settings(FUZZ, max_examples=15)
@given(
    X=st.one_of(arrays(), JUNK, float_arrays(st.tuples(st.integers(0, 400), st.integers(1, 2)))),
    kw=st.fixed_dictionaries(
        {},
        optional={
            "dt": anything(st.floats(0.01, 1)),
            "n_steps": anything(st.integers(1, 20)),
            "min_separation": anything(st.integers(0, 20)),
            "fit_range": st.one_of(JUNK, st.tuples(st.integers(-2, 25), st.integers(-2, 25))),
            "max_points": anything(st.integers(10, 200)),
            "method": anything(st.sampled_from(["rosenstein", "kantz", "both"])),
            "radius": anything(st.floats(1e-3, 2.0)),
            "resolution": anything(st.sampled_from(["auto", 1e-6, 0.1])),
            "rng": anything(st.integers(0, 3)),
        },
    ),
)
def test_lyapunov_from_series(X, kw):
    names = ("X", "neighbour", "constant", "fit range", *kw)
    check("lyapunov_from_series", names, refrnn.lyapunov_from_series,
          X, nan_ok=True, **kw)  # fmt: skip


# ======================================================================================
# metrics
SERIES = float_arrays(st.tuples(st.integers(0, 200), st.integers(1, 4)))


@FUZZ
@given(
    X_data=mostly(SERIES, arrays(), JUNK),
    X_gen=mostly(SERIES, arrays(), JUNK),
    kw=st.fixed_dictionaries(
        {},
        optional={
            "method": anything(st.sampled_from(["auto", "histogram", "gmm"])),
            "n_bins": anything(st.integers(1, 40)),
            "n_std": anything(st.floats(0.5, 5)),
            "alpha": anything(st.floats(1e-6, 1e-2)),
            "sigma": anything(st.floats(0.1, 2)),
            "n_components": anything(st.integers(1, 50)),
            "n_samples": anything(st.integers(1, 50)),
            "rng": anything(st.integers(0, 3)),
        },
    ),
    smoothing=anything(st.floats(0, 30)),
)
def test_distances(X_data, X_gen, kw, smoothing):
    check("distances", ("X_data", "X_gen", "constant", *kw), metrics.state_space_divergence,
          X_data, X_gen, **kw)  # fmt: skip
    check("distances", ("X_data", "X_gen", "constant", "smoothing"),
          metrics.power_spectrum_distance, X_data, X_gen, smoothing=smoothing)  # fmt: skip


@FUZZ
@given(
    model=mostly(MODELS, JUNK),
    X=mostly(float_arrays(st.tuples(st.integers(0, 60), st.just(2))), arrays(), JUNK),
    n_steps=anything(st.integers(1, 30)),
    kw=st.fixed_dictionaries(
        {},
        optional={"stride": anything(st.integers(1, 3)), "chunk": anything(st.integers(1, 9))},
    ),
    free=st.fixed_dictionaries(
        {},
        optional={
            "transient": anything(st.integers(0, 50)),
            "rng": anything(st.integers(0, 3)),
            "start": anything(st.integers(0, 70)),
        },
    ),
)
def test_model_metrics(model, X, n_steps, kw, free):
    names = ("model", "X", "n_steps", "free run", "prediction", *kw, *free)
    check("model_metrics", names, metrics.prediction_error, model, X, n_steps, **kw)
    check("model_metrics", names + ("X_data",), metrics.generate_free_run, model, X, n_steps,
          **free)  # fmt: skip
    ev_kw = {"n_free": n_steps, "pe_steps": kw.get("stride", 3)}
    ev_kw.update({k: v for k, v in free.items() if k in ("transient", "start")})
    # evaluate reports a diverged free run as NaN scores with diverged=True (documented)
    out = check("model_metrics", names + ("n_free", "pe_steps"), metrics.evaluate, model, X,
                nan_ok=True, **ev_kw)  # fmt: skip
    if out is not None and not out[0]["diverged"]:
        assert np.isfinite(out[0]["d_stsp"]) and np.isfinite(out[0]["d_h"])


# ======================================================================================
# training
TRAIN_ARGS = {
    "model": MODELS,
    "X": float_arrays(st.tuples(st.integers(20, 60), st.just(2))),
    "tau": st.none() | st.integers(1, 5) | st.just("auto"),
    "seq_len": st.integers(1, 8),
    "n_epochs": st.integers(1, 3),
    "batches_per_epoch": st.integers(1, 2),
    "batch_size": st.integers(1, 3),
    "lr": st.floats(1e-4, 1e-1),
    "lr_decay": st.floats(0.5, 1),
    "clip_norm": st.none() | st.floats(0.1, 10),
    "detach_forcing": st.booleans(),
    "warmup": st.none() | st.integers(0, 3),
    "lambda_max": st.none() | st.floats(0.1, 2),
    "rng": st.integers(0, 3),
    "eval_every": st.integers(1, 3),
    "eval_steps": st.none() | st.integers(5, 30),
    "eval_starts": st.integers(1, 3),
    "checkpoint_every": st.integers(1, 3),
}
#: arguments that only cost time get no huge values (a budget of 10^12 epochs is long by design)
_TIME_ONLY = ("n_epochs", "batches_per_epoch")


@settings(FUZZ, max_examples=40)
@given(
    kw=st.fixed_dictionaries(TRAIN_ARGS),
    bad_key=st.sampled_from([None, None, *TRAIN_ARGS]),
    data=st.data(),
)
def test_train(kw, bad_key, data):
    # valid arguments with (mostly) one of them replaced by junk, so that the checks of
    # every argument are reached, and valid runs too
    if bad_key is not None:
        kw[bad_key] = data.draw(junk(huge=bad_key not in _TIME_ONLY))
    names = (*TRAIN_ARGS, "diverged", "non-finite", "eval_data", "identity readout")
    model, X = kw.pop("model"), kw.pop("X")
    # nan_ok: the history records NaN for epochs without an evaluation (documented)
    check("train", names, refrnn.train, model, X, nan_ok=True, **kw)


# ======================================================================================
# files: io, load_series, and the command line
def _write(path, kind, rng):
    """Write a bad (or good) file of the given kind to ``path``."""
    good = refrnn.PLRNN.random(3, 2, rng=0)
    if kind == "model":
        io.save_model(path, good)
    elif kind == "random-bytes":
        path.write_bytes(rng.bytes(300))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind in ("corrupted", "truncated"):
        io.save_model(path, good)
        raw = bytearray(path.read_bytes())
        if kind == "corrupted":
            raw[200:220] = bytes(20)
        else:
            raw = raw[: len(raw) // 2]
        path.write_bytes(bytes(raw))
    elif kind == "series-npz":
        np.savez(path, X=rng.normal(size=(200, 2)))
    elif kind == "wrong-arrays":
        arrays = io.model_to_arrays(good)
        key = sorted(arrays)[rng.integers(len(arrays))]
        arrays[key] = [np.zeros((2, 2, 2)), np.array("text"), np.arange(3)][rng.integers(3)]
        np.savez(path, **arrays)
    elif kind == "missing-key":
        arrays = io.model_to_arrays(good)
        arrays.pop(sorted(arrays)[rng.integers(len(arrays))])
        np.savez(path, **arrays)
    elif kind == "object-array":
        np.savez(path, X=np.array([{"a": 1}], dtype=object))
    elif kind == "nan-model":
        arrays = io.model_to_arrays(good)
        key = [k for k in sorted(arrays) if np.asarray(arrays[k]).dtype.kind == "f"][0]
        arrays[key] = np.full_like(arrays[key], np.nan)
        np.savez(path, **arrays)
    elif kind == "diverging-model":
        io.save_model(path, good.replace(A=np.full(3, 1.5)))
    elif kind == "directory":
        path.mkdir()
    # "missing": nothing is written


FILE_KINDS = st.sampled_from(["model", "random-bytes", "empty", "corrupted", "truncated",
                              "series-npz", "wrong-arrays", "missing-key", "object-array",
                              "nan-model", "diverging-model", "directory", "missing"])  # fmt: skip


@FUZZ
@given(kind=FILE_KINDS, seed=st.integers(0, 100), suffix=st.sampled_from([".npz", ".npy", ".csv"]))
def test_loaders(tmp_path_factory, kind, seed, suffix):
    path = tmp_path_factory.mktemp("f") / ("file" + (suffix if kind != "model" else ".npz"))
    _write(path, kind, np.random.default_rng(seed))
    names = (path.name, str(path), "path")
    check("loaders", names, io.load_model, path)
    check("loaders", names, io.load_npz, path, nan_ok=True)  # raw arrays, NaN is data
    check("loaders", names, data.load_series, path, min_samples=10)
    check("loaders", names + ("model",), io.save_model, path, seed)  # not a model


def _cli(argv):
    """Run ``refrnn ARGV`` in-process; returns (exit code, stderr)."""
    err = _stdio.StringIO()
    with redirect_stdout(_stdio.StringIO()), redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse: bad flags or values
            code = exc.code
    return code, err.getvalue()


def _check_cli(test, argv):
    code, err = _cli(argv)
    assert code in (0, 1, 2), (argv, code, err)
    if code == 2:
        assert err.strip(), f"{argv}: exit code 2 without a message"
        assert "Traceback" not in err
        OUTCOMES[test, "error"] += 1
    else:
        OUTCOMES[test, "result"] += 1
    return code, err


@FUZZ
@given(
    model_kind=mostly(st.just("model"), FILE_KINDS),
    data_kind=mostly(
        st.just("series"),
        st.sampled_from(["short", "nan", "wrong-N", "constant", "random-bytes", "missing"]),
    ),  # fmt: skip
    command=st.sampled_from(["evaluate", "lyapunov", "verify"]),
    flags=st.lists(
        st.tuples(
            st.sampled_from(["--n-free", "--pe-steps", "--n-steps", "--transient", "--k", "--dt"]),
            st.sampled_from(["-1", "0", "1", "3", "2.5", "nan", "inf", "x", "99999999999999"]),
        ),
        max_size=2,
    ),
    seed=st.integers(0, 100),
)
def test_cli_files(tmp_path_factory, model_kind, data_kind, command, flags, seed):
    rng = np.random.default_rng(seed)
    d = tmp_path_factory.mktemp("cli")
    model_path = d / "model.npz"
    _write(model_path, model_kind, rng)
    data_path = d / "series.npy"
    series = {
        "series": rng.normal(size=(300, 2)),
        "short": rng.normal(size=(3, 2)),
        "nan": np.where(rng.random((300, 2)) < 0.01, np.nan, rng.normal(size=(300, 2))),
        "wrong-N": rng.normal(size=(300, 3)),
        "constant": np.ones((300, 2)),
    }
    if data_kind in series:
        np.save(data_path, series[data_kind])
    elif data_kind == "random-bytes":
        data_path.write_bytes(rng.bytes(500))
    argv = [command, model_path]
    if command == "evaluate":
        argv += [data_path]
        allowed = {"--n-free", "--pe-steps"}
    elif command == "lyapunov":
        argv += ["--data", data_path, "--n-steps", "200", "--transient", "10"]
        allowed = {"--n-steps", "--transient", "--k", "--dt"}
    else:
        allowed = set()
    for flag, value in flags:
        if flag in allowed:
            if value == "99999999999999" and flag in ("--n-steps", "--n-free", "--transient"):
                value = "5000"  # huge lengths run (long) by design; bound them here
            argv += [flag, value]
    _check_cli("cli_files", argv)


def _verify_file(path, rng, mutation):
    """A golden case with one mutation, written to ``path``."""
    golden = verify.GOLDEN_DIR / "plrnn-linear-tau1.npz"
    with np.load(golden) as f:
        arrays = {k: f[k] for k in f.files}
    key = sorted(arrays)[rng.integers(len(arrays))]
    if mutation == "drop":
        arrays.pop(key)
    elif mutation == "nan":
        if arrays[key].dtype.kind == "f":
            arrays[key] = np.full_like(arrays[key], np.nan)
    elif mutation == "shape":
        arrays[key] = np.zeros((2, 2))
    elif mutation == "dtype":
        arrays[key] = np.array(["text"])
    elif mutation == "extra":
        arrays["grad_w"] = np.zeros(3)
    elif mutation == "tolerances":
        arrays["tolerances"] = np.array(
            [
                '{"grad": {"rtol": 1e6}}',
                '{"nonsense": 1}',
                "{not json",
                '{"grad": 5}',
                '{"loss": {"rtol": -1}}',
            ][rng.integers(5)]  # fmt: skip
        )
    elif mutation == "model":
        arrays["model"] = np.array(["GRU", "", "PLRNN ", "VanillaRNN"][rng.integers(4)])
    elif mutation == "tau":
        arrays["tau"] = np.array([0, -1, 10**6, 2.5][rng.integers(4)])
    np.savez(path, **arrays)


@FUZZ
@given(
    mutation=st.sampled_from(
        ["none", "drop", "nan", "shape", "dtype", "extra", "tolerances", "model", "tau"]
    ),  # fmt: skip
    seed=st.integers(0, 100),
)
def test_cli_verify(tmp_path_factory, mutation, seed):
    path = tmp_path_factory.mktemp("verify") / "case.npz"
    _verify_file(path, np.random.default_rng(seed), mutation)
    code, err = _check_cli("cli_verify", ["verify", path])
    if mutation == "none":
        assert code == 0, err


TOML_VALUES = st.sampled_from(['"abc"', "-1", "0", "2", "2.5", "true", "[1, 2]", "{a = 1}",
                               '"none"', '"auto"', "1e400", "nan", "inf", '""',
                               "99999999999999999999"])  # fmt: skip
TOML_KEYS = {
    "data": ["system", "file", "n_samples", "seed", "Seed", "sytem"],
    "model": ["type", "M", "m", "readout", "seed"],
    "train": ["tau", "n_epochs", "batch_size", "seq_len", "lr", "clip_norm", "warmup",
              "lr_decay", "detach_forcing", "eval_every", "seed", "batches_per_epoch"],
    "output": ["dir"],
    "extra": ["x"],
}  # fmt: skip


@settings(FUZZ, max_examples=30)
@given(
    edits=st.lists(
        st.sampled_from(sorted(TOML_KEYS)).flatmap(
            lambda s: st.tuples(st.just(s), st.sampled_from(TOML_KEYS[s]), TOML_VALUES)
        ),
        max_size=3,
    ),
    syntax_error=st.booleans(),
)
def test_cli_train_config(tmp_path_factory, edits, syntax_error):
    d = tmp_path_factory.mktemp("train")
    np.save(d / "series.npy", np.random.default_rng(0).normal(size=(300, 2)))
    # a tiny valid run, then the edits (a later key in a table overrides nothing in TOML:
    # duplicates are a syntax error, so edited keys replace the defaults here)
    cfg = {
        "data": {"file": f'"{d / "series.npy"}"'},
        "model": {"M": "3"},
        "train": {
            "tau": "5",
            "n_epochs": "2",
            "batches_per_epoch": "1",
            "batch_size": "2",
            "seq_len": "10",
            "eval_every": "1",
            "eval_steps": "50",
        },  # fmt: skip
        "output": {"dir": f'"{d / "out"}"'},
    }
    for section, key, value in edits:
        if section == "train" and key in ("n_epochs", "batch_size", "seq_len", "batches_per_epoch"):
            # bound the budget: huge or large values would run long by design
            if value in ("99999999999999999999", "1e400", "inf"):
                value = "-1"
        if section == "data" and key == "n_samples" and value == "99999999999999999999":
            value = "0"
        if section == "model" and key == "M" and value == "99999999999999999999":
            value = "0"
        cfg.setdefault(section, {})[key] = value
        if (section, key) == ("data", "system"):
            cfg["data"].pop("file", None)
    text = "\n".join(
        f"[{s}]\n" + "\n".join(f"{k} = {v}" for k, v in t.items()) for s, t in cfg.items()
    )
    if syntax_error:
        text += "\n[model\nM = "
    (d / "run.toml").write_text(text)
    _check_cli("cli_train_config", ["train", d / "run.toml", "--no-progress"])
