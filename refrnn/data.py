r"""Data for training and evaluation: benchmark series, users' own series, windows, and
the largest Lyapunov exponent of a measured series.

Everything here produces or consumes a time series ``X : ndarray, shape (T, N)`` -- T
observations of N variables, float64, one row per time step.

* :func:`generate` simulates a benchmark system of :mod:`refrnn.systems` (Lorenz-63,
  Rössler, Lorenz-96, Hénon) and returns a :class:`Dataset`: a train/test split, the
  :class:`Standardizer` that was applied, and a record of how the series was made, so the
  same series can be made again and predictions can be mapped back to physical units.
* :func:`load_series` reads a user's (T, N) array from ``.npy``, ``.npz`` or ``.csv``
  with validation; :func:`refrnn.embedding.delay_embed` builds delay coordinates from it;
  :meth:`Dataset.from_series` wraps it like a benchmark series.
* :func:`load_sunspots` gives a real measured series to try all of this on: the yearly
  sunspot numbers 1700--2008 (from statsmodels, an optional extra).
* :func:`sample_windows` draws the (S, T+1, N) training windows consumed by
  :func:`refrnn.loss_and_grad`.
* :func:`lyapunov_from_series` estimates :math:`\lambda_{max}` from data alone (Rosenstein,
  Collins & De Luca 1993), which is how the forcing interval
  :math:`\tau \approx \tau_{pred} = \ln 2 / \lambda_{max}` is chosen for empirical data
  (Mikhaeil, Monfared & Durstewitz 2022, Sect. 3).

All series in the paper are standardised (zero mean, unit variance per variable).
"""

from __future__ import annotations

import json
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import embedding as _embedding
from . import systems
from ._validation import (
    as_bool,
    as_float_array,
    as_positive_int,
    as_real,
    as_rng,
    as_series,
    check_allocation,
)
from .io import atomic_savez, load_npz

__all__ = [
    "Standardizer",
    "Dataset",
    "generate",
    "load_series",
    "load_sunspots",
    "sample_windows",
]

#: Version of the .npz layout written by :meth:`Dataset.save`.
_FORMAT_VERSION = 1


def _as_fraction(name, value, *, low_open=False):
    value = as_real(name, value)
    if not (np.isfinite(value) and (0.0 < value if low_open else 0.0 <= value) and value < 1.0):
        interval = "(0, 1)" if low_open else "[0, 1)"
        raise ValueError(f"{name} must be a number in {interval}, got {value}")
    return value


def _read_only(a):
    a = np.array(a, dtype=np.float64, copy=True)
    a.flags.writeable = False
    return a


# ======================================================================================
# standardisation
@dataclass(frozen=True, eq=False)
class Standardizer:
    r"""Per-variable affine standardisation :math:`\tilde x = (x - \mu) / s`, invertible.

    Parameters
    ----------
    mean : ndarray, shape (N,)
        :math:`\mu`, the per-variable mean of the fitted series.
    std : ndarray, shape (N,)
        :math:`s > 0`, the per-variable standard deviation (``ddof=0``) of the fitted series.

    Notes
    -----
    Fit with :meth:`fit`; :meth:`transform` and :meth:`inverse_transform` are exact inverses
    up to round-off (relative error of a few ulp).
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self):
        mean = as_float_array("mean", self.mean, ndim=1)
        std = as_float_array("std", self.std, shape=(mean.shape[0],))
        if np.any(std <= 0):
            raise ValueError(f"std must be > 0 in every variable, got {std}")
        object.__setattr__(self, "mean", _read_only(mean))
        object.__setattr__(self, "std", _read_only(std))

    @classmethod
    def fit(cls, X):
        """Estimate mean and standard deviation of ``X : ndarray, shape (T, N)``.

        Raises
        ------
        ValueError
            If a variable is constant (its standard deviation is 0), since it cannot be
            scaled to unit variance and carries no dynamics.
        """
        X = as_series("X", X)
        with np.errstate(over="ignore", invalid="ignore"):
            mean, std = X.mean(axis=0), X.std(axis=0)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            raise ValueError(
                f"X is too large to standardise: its mean or standard deviation overflows "
                f"(largest |X| = {np.max(np.abs(X)):.3g})"
            )
        if np.any(std == 0):
            raise ValueError(
                f"X is constant in variable(s) {np.flatnonzero(std == 0).tolist()}; "
                "remove them before standardising"
            )
        return cls(mean, std)

    def _check(self, X):
        X = as_float_array("X", X, finite=False)
        if X.ndim < 1 or X.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"X must have shape (..., N={self.mean.shape[0]}), got {X.shape}")
        return X

    def transform(self, X):
        r""":math:`(x - \mu) / s`. ``X : ndarray, shape (..., N)`` -> same shape."""
        return (self._check(X) - self.mean) / self.std

    def inverse_transform(self, X):
        r""":math:`\mu + s\,\tilde x`. ``X : ndarray, shape (..., N)`` -> same shape."""
        return self._check(X) * self.std + self.mean


# ======================================================================================
# datasets
@dataclass(frozen=True, eq=False)
class Dataset:
    """A standardised time series split in time into a training and a test part.

    Parameters
    ----------
    train : ndarray, shape (T_train, N)
        The first part of the series (standardised if ``standardizer`` is not None).
    test : ndarray, shape (T_test, N)
        The rest of the series, ``T_test`` may be 0.
    standardizer : Standardizer or None
        The transformation applied to the raw series, fitted on the training part only
        (so that nothing about the test part leaks into training); None if the series
        is stored in raw units.
    info : mapping
        How the series was made, JSON-serialisable. :func:`generate` records ``source``
        (``"simulation"``), ``system`` (class name), ``params``, ``dim``,
        ``integration_dt``, ``sample_every``, ``dt`` (time between samples),
        ``transient`` (integration steps discarded), ``noise``, ``seed``, ``n_samples``,
        ``test_fraction`` and ``x0``.

    Notes
    -----
    Instances are immutable: arrays are read-only and ``info`` is a read-only mapping.
    :meth:`save` / :meth:`load` round-trip everything through a single ``.npz`` file.
    """

    train: np.ndarray
    test: np.ndarray
    standardizer: Standardizer | None
    info: types.MappingProxyType

    def __post_init__(self):
        train = as_series("train", self.train, min_samples=2)
        test = as_float_array("test", self.test)
        if test.ndim != 2 or test.shape[1] != train.shape[1]:
            raise ValueError(f"test must have shape (T_test, N={train.shape[1]}), got {test.shape}")
        if self.standardizer is not None:
            if not isinstance(self.standardizer, Standardizer):
                raise TypeError(
                    f"standardizer must be a Standardizer or None, "
                    f"got {type(self.standardizer).__name__}"
                )
            if self.standardizer.mean.shape[0] != train.shape[1]:
                raise ValueError(
                    f"standardizer is for N={self.standardizer.mean.shape[0]} variables, "
                    f"the series has N={train.shape[1]}"
                )
        # A JSON round trip both checks that info is serialisable and deep-copies it.
        try:
            info = json.loads(json.dumps(dict(self.info)))
        except (TypeError, ValueError) as e:
            raise TypeError(f"info must be a JSON-serialisable mapping: {e}") from None
        object.__setattr__(self, "train", _read_only(train))
        object.__setattr__(self, "test", _read_only(test))
        object.__setattr__(self, "info", types.MappingProxyType(info))

    # ---- convenience ------------------------------------------------------------------
    @property
    def X(self):
        """ndarray, shape (T_train + T_test, N): the whole series, train part first."""
        return np.concatenate([self.train, self.test])

    @property
    def N(self):
        """int: number of observed variables."""
        return self.train.shape[1]

    @property
    def dt(self):
        """float: time between consecutive samples (``info["dt"]``, 1.0 if not recorded)."""
        return float(self.info.get("dt", 1.0))

    def destandardize(self, X):
        """Map ``X : ndarray, shape (..., N)`` back to the raw units of the series.

        Identity if the dataset is not standardised.
        """
        if self.standardizer is None:
            return as_float_array("X", X, finite=False).copy()
        return self.standardizer.inverse_transform(X)

    def __repr__(self):
        what = self.info.get("system", self.info.get("source", "series"))
        return (
            f"Dataset({what}, N={self.N}, T_train={len(self.train)}, T_test={len(self.test)}, "
            f"standardized={self.standardizer is not None})"
        )

    @classmethod
    def from_series(cls, X, *, standardize=True, test_fraction=0.0, dt=1.0, info=None,
                    embed=None):  # fmt: skip
        """Wrap a user's series like a benchmark series.

        Parameters
        ----------
        X : ndarray, shape (T, N), or shape (T,) with ``embed``
            Raw series, e.g. from :func:`load_series`.
        embed : None, (dim, lag) or "auto"
            Delay-embed the series (:func:`refrnn.embedding.delay_embed`). The split in
            time comes first and each part is embedded on its own, so that no delay
            vector of the test part reaches into the training part (the test part loses
            its first (dim-1)*lag samples). ``"auto"`` chooses the lag by the first
            minimum of the average mutual information and the dimension by false nearest
            neighbours, both on the training part (:mod:`refrnn.embedding`); a scalar
            series only. The choice is recorded in ``info["embedding"]``.
        standardize : bool
            Fit a :class:`Standardizer` on the training part and apply it to both parts.
        test_fraction : float in [0, 1)
            Fraction of the *last* samples held out as the test part (a split in time,
            never shuffled: neighbouring samples of a time series are not independent).
        dt : float
            Time between samples, recorded in ``info["dt"]``.
        info : mapping, optional
            Extra JSON-serialisable metadata (e.g. ``{"source": "eeg.csv"}``).

        Returns
        -------
        Dataset
        """
        if embed is not None:
            X = as_float_array("X", X)
            if X.ndim == 1:
                X = X[:, None]
        X = as_series("X", X)
        dt = as_real("dt", dt)
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a finite number > 0, got {dt}")
        meta = {"source": "array", **(dict(info) if info else {}), "dt": dt}
        if embed is None:
            return _split(X, standardize, test_fraction, meta)
        train, test = _split_in_time(X, test_fraction)
        dim, lag, how = _embedding_of(train, embed)
        train = _embedding.delay_embed(train, dim, lag)
        if test.shape[0] > 0:
            if test.shape[0] <= (dim - 1) * lag + 1:
                raise ValueError(
                    f"the test part ({test.shape[0]} samples) is too short to embed with "
                    f"dim={dim}, lag={lag}; use a larger test_fraction or a longer series"
                )
            test = _embedding.delay_embed(test, dim, lag)
        else:
            test = np.empty((0, train.shape[1]))
        meta["embedding"] = {"dim": dim, "lag": lag, "chosen": how}
        return _standardized(train, test, standardize, test_fraction, meta)

    # ---- persistence ------------------------------------------------------------------
    def save(self, path):
        """Write the dataset to ``path`` (a ``.npz`` file), atomically.

        Via :func:`refrnn.io.atomic_savez`: the file is written to a temporary file in the
        same directory and moved into place with :func:`os.replace`, so an interrupted
        save never leaves a truncated file under ``path``. Metadata is stored as a JSON
        string, so :meth:`load` needs no pickle.
        """
        arrays = {
            "format_version": np.array(_FORMAT_VERSION),
            "train": self.train,
            "test": self.test,
            "info": np.array(json.dumps(dict(self.info))),
        }
        if self.standardizer is not None:
            arrays["mean"] = self.standardizer.mean
            arrays["std"] = self.standardizer.std
        atomic_savez(path, **arrays)

    @classmethod
    def load(cls, path):
        """Read a dataset written by :meth:`save` (``allow_pickle=False``)."""
        path = Path(path)
        contents = load_npz(path, required=("format_version", "train", "test", "info"))
        version = int(contents["format_version"])
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"{path}: dataset format version {version}, this refrnn reads {_FORMAT_VERSION}"
            )
        std = None
        if "mean" in contents:
            std = Standardizer(contents["mean"], contents["std"])
        info = json.loads(str(contents["info"]))
        return cls(contents["train"], contents["test"], std, info)


def _split_in_time(X, test_fraction):
    """``(train, test)``: the last ``test_fraction`` of the samples are the test part."""
    test_fraction = _as_fraction("test_fraction", test_fraction)
    T = X.shape[0]
    n_test = int(round(test_fraction * T))
    if test_fraction > 0 and (n_test < 1 or T - n_test < 2):
        raise ValueError(
            f"test_fraction={test_fraction} of {T} samples leaves an empty test part or "
            "fewer than 2 training samples"
        )
    return X[: T - n_test], X[T - n_test :]


def _embedding_of(train, embed):
    """``(dim, lag, how)`` from ``embed`` = (dim, lag) or "auto" (chosen on ``train``)."""
    if isinstance(embed, str) and embed == "auto":
        if train.shape[1] != 1:
            raise ValueError(
                f'embed="auto" needs a scalar series, got {train.shape[1]} columns; give '
                f"embed=(dim, lag) or embed one column"
            )
        lag = _embedding.choose_lag(train[:, 0]).lag
        return _embedding.choose_dim(train[:, 0], lag).dim, lag, "auto"
    if not (isinstance(embed, (tuple, list)) and len(embed) == 2):
        raise ValueError(f'embed must be None, (dim, lag) or "auto", got {embed!r}')
    return as_positive_int("embed dim", embed[0]), as_positive_int("embed lag", embed[1]), "given"


def _split(X, standardize, test_fraction, info):
    """Split ``X`` in time, standardise with statistics of the training part, wrap."""
    train, test = _split_in_time(X, test_fraction)
    return _standardized(train, test, standardize, test_fraction, info)


def _standardized(train, test, standardize, test_fraction, info):
    std = Standardizer.fit(train) if as_bool("standardize", standardize) else None
    if std is not None:
        train, test = std.transform(train), std.transform(test)
    return Dataset(train, test, std, {**info, "test_fraction": test_fraction})


def generate(
    system,
    n_samples,
    *,
    params=None,
    dt=None,
    sample_every=1,
    transient=10_000,
    noise=0.0,
    rng=None,
    standardize=True,
    test_fraction=0.2,
):
    r"""Simulate a benchmark system and return it as a :class:`Dataset`.

    Parameters
    ----------
    system : str or refrnn.systems.DynamicalSystem
        ``"lorenz63"``, ``"rossler"``, ``"lorenz96"``, ``"henon"`` (also ``"logistic"``;
        case, accents, ``-`` and ``_`` are ignored), or a system instance.
    n_samples : int
        Length T of the returned series (train + test), at least 2.
    params : dict, optional
        Constructor arguments of the named system, e.g. ``{"rho": 28.0}`` or
        ``{"n": 20, "F": 8.0}`` for Lorenz-96; defaults are the classic chaotic values.
    dt : float, optional
        Integration step of a flow (default 0.01); maps take none.
    sample_every : int
        Keep every ``sample_every``-th integration step, so the time between samples is
        ``dt * sample_every``.
    transient : int
        Integration steps (map iterations) discarded before the first sample, so that
        the series lies on the attractor. The default 10 000 is 100 time units at
        ``dt = 0.01``.
    noise : float
        Observation noise level :math:`\eta \ge 0`, relative to each variable's standard
        deviation :math:`s_n` of the clean series:
        :math:`x_{t,n} \leftarrow x_{t,n} + \eta\, s_n\, \varepsilon_{t,n}`,
        :math:`\varepsilon \sim \mathcal N(0, 1)` i.i.d. Added before standardisation;
        the dynamics itself is deterministic.
    rng : numpy.random.Generator, int or None
        Source of the perturbation of the initial state (see
        ``DynamicalSystem.initial_state``) and of the noise. An int is recorded as
        ``info["seed"]``; with None a fresh seed is drawn *and recorded*, so every
        dataset can be regenerated. With a Generator (or SeedSequence) no seed can be
        recorded (``info["seed"] = None``).
    standardize : bool
        Standardise both parts with the training part's mean and std.
    test_fraction : float in [0, 1)
        Fraction of the last samples held out (split in time, not shuffled).

    Returns
    -------
    Dataset
        ``info`` records everything above (see :class:`Dataset`).

    Raises
    ------
    DivergenceError
        If the orbit leaves every bounded region (e.g. a too large ``dt``).
    """
    sys_ = systems.resolve(system, params, dt)
    n_samples = as_positive_int("n_samples", n_samples, minimum=2)
    sample_every = as_positive_int("sample_every", sample_every)
    transient = as_positive_int("transient", transient, minimum=0)
    noise = as_real("noise", noise)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    if isinstance(rng, (np.random.Generator, np.random.SeedSequence)):
        seed = None
        rng = as_rng(rng)
    else:
        if rng is None:
            seed = int(np.random.SeedSequence().entropy)
        else:
            as_rng(rng)  # type check: int seed
            seed = int(rng)
        rng = np.random.default_rng(seed)

    # One simulation covers transient and samples; rows transient, transient + k, ... are kept.
    n_steps = transient + (n_samples - 1) * sample_every
    check_allocation("n_samples", n_samples, f"a ({n_steps + 1}, {sys_.dim}) orbit",
                     (n_steps + 1) * sys_.dim)  # fmt: skip
    x0 = sys_.initial_state(rng)
    X = sys_.simulate(x0, n_steps)[transient::sample_every]
    if noise > 0:
        X = X + noise * X.std(axis=0) * rng.standard_normal(X.shape)

    info = {
        "source": "simulation",
        "system": type(sys_).__name__,
        "params": dict(sys_.params),
        "dim": sys_.dim,
        "integration_dt": sys_.dt,
        "sample_every": sample_every,
        "dt": sys_.dt * sample_every,
        "transient": transient,
        "noise": noise,
        "seed": seed,
        "n_samples": n_samples,
        "x0": x0.tolist(),
    }
    return _split(X, standardize, test_fraction, info)


# ======================================================================================
# users' own data
def load_series(path, *, key=None, min_samples=100):
    """Load a user's time series of shape (T, N) from ``.npy``, ``.npz`` or ``.csv``.

    Parameters
    ----------
    path : str or path-like
        ``.npy`` (one array), ``.npz`` (one array, or pick one with ``key``) or ``.csv``
        (comma-separated numbers, one row per time step; a single header line of
        non-numeric column names is skipped).
    key : str, optional
        Which array of an ``.npz`` archive to load (required if it holds several).
    min_samples : int
        Fewest time steps accepted. 100 by default: too short a series can neither be
        split into training windows nor tell anything about an attractor.

    Returns
    -------
    X : ndarray, shape (T, N)
        float64. A 1-D array of length T is returned as one variable, shape (T, 1)
        (a single measured channel, as for the paper's temperature series).

    Raises
    ------
    ValueError
        Naming the file and the problem: unknown extension, unreadable file, pickled
        objects (never unpickled: ``allow_pickle=False``, because unpickling runs
        arbitrary code), non-numeric data, more than 2 dimensions, NaN or infinity,
        fewer than ``min_samples`` rows.
    """
    path = Path(path)
    min_samples = as_positive_int("min_samples", min_samples, minimum=2)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".csv"):
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use .npy, .npz or .csv")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        if suffix == ".csv":
            arr = _read_csv(path)
        else:
            arr = _read_numpy(path, suffix, key)
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        if "allow_pickle" in str(e) or "pickle" in str(e).lower():
            raise ValueError(
                f"{path}: contains pickled Python objects, which are never loaded "
                "(unpickling can run arbitrary code); save a plain numeric array"
            ) from None
        hint = ""
        if suffix == ".csv" and ";" in str(e):
            hint = "; the values look separated by ';': refrnn reads comma-separated files"
        elif suffix == ".csv" and "string ''" in str(e):
            hint = "; an empty cell: fill or remove the rows with missing values"
        raise ValueError(f"{path}: could not read a numeric array ({e}){hint}") from None
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{path}: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a (T, N) array (or 1-D of length T), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        t, n = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{path}: non-finite value (NaN or inf) at data row {t}, column {n} (both counted "
            f"from 0, header line not counted): fill or remove missing values first"
        )
    if arr.shape[0] < min_samples:
        hint = " (is it transposed? rows must be time steps)" if arr.shape[1] >= min_samples else ""
        raise ValueError(
            f"{path}: too short, {arr.shape[0]} time steps < min_samples={min_samples}{hint}"
        )
    return arr


def load_sunspots():
    r"""Yearly mean sunspot numbers 1700--2008: a real measured series (needs statsmodels).

    The yearly mean sunspot number in version 1 of the International Sunspot
    Number series -- Wolf's relative number :math:`R = k\,(10\,g + s)` (g sunspot groups,
    s individual spots, k an observer's calibration factor), observed at Zürich until
    1980 and by the Sunspot Index Data Center since, now SILSO, Royal Observatory of
    Belgium, Brussels -- as distributed by NOAA's National Geophysical Data Center and
    bundled with statsmodels (``statsmodels.datasets.sunspots``, public domain).
    Version 1 is the series before SILSO's 2015 recalibration (Clette, Svalgaard,
    Vaquero & Cliver 2014): version 2 drops the Zürich scale factor 0.6 (its values are
    about 1/0.6 times larger) and corrects the calibration of some periods, so do not
    mix the two.

    A classic test series of nonlinear time-series analysis (e.g. Tong & Lim 1980;
    Weigend, Huberman & Rumelhart 1990): an irregular cycle of about 11 years whose
    amplitude varies from cycle to cycle, sharp maxima and flat minima. Before 1750 the
    yearly values rest on sparse observations and are the least reliable.

    Returns
    -------
    years : ndarray, shape (309,)
        Calendar years 1700, 1701, ..., 2008 (float64).
    sunspots : ndarray, shape (309,)
        Yearly mean sunspot number (dimensionless, >= 0; float64), one per year. A
        scalar series: embed it (:meth:`Dataset.from_series` with ``embed=``) before
        training.

    Raises
    ------
    ImportError
        If statsmodels is not installed: ``pip install 'refrnn[real]'``.

    Notes
    -----
    Cite the data as: SILSO World Data Center, *The International Sunspot Number*,
    International Sunspot Number Monthly Bulletin and online catalogue, Royal
    Observatory of Belgium (https://www.sidc.be/SILSO/), version 1; and statsmodels
    (Seabold & Perktold 2010), which ships the file. statsmodels also carries monthly
    values (1749--2009) as a raw file without a loader; they add month-to-month noise
    but no further solar cycles, and are not offered here.
    """
    try:
        from statsmodels.datasets import sunspots
    except ImportError as exc:
        raise ImportError(
            "load_sunspots needs statsmodels, which refrnn installs only as an optional "
            "extra: pip install 'refrnn[real]' (or pip install statsmodels)"
        ) from exc
    table = sunspots.load_pandas().data
    years = np.asarray(table["YEAR"], dtype=np.float64)
    values = np.asarray(table["SUNACTIVITY"], dtype=np.float64)
    # a check, not a cleaning step: a changed file in a future statsmodels should fail
    # loudly here rather than feed NaN or a gap in time into an embedding
    if not (np.all(np.isfinite(values)) and np.all(values >= 0) and np.all(np.diff(years) == 1)):
        raise ValueError(
            "statsmodels' sunspot table is not the expected gap-free yearly series of "
            "finite, non-negative numbers; please report this with your statsmodels version"
        )
    return years, values


def _read_numpy(path, suffix, key):
    # np.load reports a file without a NumPy header as "pickled data": check the magic
    # bytes first, so that random or truncated bytes get an honest message
    with open(path, "rb") as fh:
        head = fh.read(6)
    magic = b"\x93NUMPY" if suffix == ".npy" else b"PK"
    if not head.startswith(magic):
        kind = "a .npy file (no NumPy header)" if suffix == ".npy" else "an .npz (zip) archive"
        raise ValueError(f"{path}: not {kind}; the file is damaged or of another format")
    try:
        obj = np.load(path, allow_pickle=False)
        if suffix == ".npy":
            return obj
        with obj:
            names = list(obj.files)
            if key is None and {"format_version", "train", "test"} <= set(names):
                raise ValueError(
                    f"{path}: a refrnn Dataset file (Dataset.save); choose its part with "
                    f"key='test' (held out) or key='train' (on the command line: --key test)"
                )
            if key is None:
                if len(names) != 1:
                    raise ValueError(
                        f"{path}: holds arrays {names}; choose one with key= (on the "
                        f"command line: --key NAME)"
                    )
                key = names[0]
            elif key not in names:
                raise ValueError(f"{path}: has no array {key!r}, only {names}")
            return obj[key]
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # truncated or corrupted bytes
        raise ValueError(f"{path}: not a readable {suffix} file ({exc})") from exc


def _read_csv(path):
    with path.open() as f:
        first = f.readline()
    try:
        [float(v) for v in first.split(",")]
        header = 0
    except ValueError:
        # One header line of column names is common; anything else non-numeric is an error.
        header = 1
    return np.loadtxt(path, delimiter=",", dtype=np.float64, skiprows=header, ndmin=1)


# ======================================================================================
# training windows
def sample_windows(X, n_windows, T, rng=None, *, return_starts=False):
    """Draw ``n_windows`` windows of ``T + 1`` consecutive samples at random starts.

    Parameters
    ----------
    X : ndarray, shape (T_total, N)
        The series, ``T_total >= T + 1``.
    n_windows : int
        S, the number of windows.
    T : int
        Window length in steps; each window holds T+1 observations :math:`x_0..x_T`
        (the layout of :func:`refrnn.loss_and_grad`).
    rng : numpy.random.Generator, int or None
        Start indices are drawn uniformly from ``0 .. T_total - T - 1`` with replacement.
    return_starts : bool
        Also return the start indices.

    Returns
    -------
    windows : ndarray, shape (S, T+1, N)
        ``windows[s] = X[starts[s] : starts[s] + T + 1]`` (a copy).
    starts : ndarray of int, shape (S,)
        Only if ``return_starts``.
    """
    X = as_series("X", X)
    S = as_positive_int("n_windows", n_windows)
    T = as_positive_int("T", T)
    check_allocation("n_windows", S, "(n_windows, T+1, N) windows", S * (T + 1) * X.shape[1])
    if X.shape[0] < T + 1:
        raise ValueError(f"X has {X.shape[0]} samples, fewer than the window length T+1 = {T + 1}")
    starts = as_rng(rng).integers(0, X.shape[0] - T, size=S, dtype=np.int64)
    windows = X[starts[:, None] + np.arange(T + 1)]
    return (windows, starts) if return_starts else windows
