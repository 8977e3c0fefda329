"""Saving and loading models and arrays: atomic writes, no pickles.

Every file refrnn writes is an ``.npz`` archive of plain float64/int64 arrays plus JSON
strings for metadata. Files are written to a temporary file in the target directory and
moved into place with :func:`os.replace`, so a crash never leaves a half-written file
(and never destroys the previous version). Loading always uses ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .models import PLRNN, RNNModel, ShallowPLRNN, VanillaRNN

__all__ = [
    "atomic_savez",
    "load_npz",
    "save_model",
    "load_model",
    "load_record",
    "atomic_write",
    "atomic_save_npy",
    "write_json",
    "json_safe",
    "atomic_savefig",
    "model_to_arrays",
    "model_from_arrays",
]

FORMAT_VERSION = 1
_MODEL_CLASSES = {cls.__name__: cls for cls in (PLRNN, VanillaRNN, ShallowPLRNN)}


def _plain_permissions(path):
    """mkstemp creates files 0600; give ``path`` the permissions a plain open() would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def json_default(o):
    """``default=`` for :func:`json.dump`: arrays and NumPy scalars as plain Python values."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Mapping):
        return dict(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def json_safe(obj):
    """``obj`` with arrays and NumPy scalars as Python values and every NaN or infinity
    replaced by None, so that it serialises to valid JSON (RFC 8259 has no NaN literal,
    and many readers reject one). Whoever writes a None for a number should say why
    next to it (e.g. "diverged": true)."""
    if isinstance(obj, Mapping):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.ndarray, np.generic)):
        return json_safe(obj.tolist())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_json(path, obj):
    """Write ``obj`` as valid JSON to ``path`` atomically, NaN and infinity as ``null``
    (:func:`json_safe`), with the permissions a plain ``open()`` would give; see
    :func:`atomic_write`."""
    text = json.dumps(json_safe(obj), indent=2, default=json_default, allow_nan=False)
    atomic_write(path, text)


def atomic_save_npy(path, array):
    """Write ``array`` to ``path`` as a ``.npy`` file atomically (:func:`atomic_write`)."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    atomic_write(path, buf.getvalue())


def _remove_stale_temporaries(path, max_age=3600.0):
    """Delete temporaries of ``path`` left by a writer killed mid-write (older than an
    hour, so that a concurrent writer's file is never touched)."""
    import time

    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > max_age:
                tmp.unlink()
        except OSError:
            pass  # gone already, or not ours to remove


def atomic_savez(path, **arrays):
    """Write ``arrays`` to ``path`` (an ``.npz``) atomically.

    Parameters
    ----------
    path : str or Path
        Target file; its directory is created if needed. The ``.npz`` suffix is not added
        automatically (unlike :func:`numpy.savez`).
    **arrays : array_like or str
        Strings are stored as 0-d unicode arrays (use JSON for structured metadata).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _plain_permissions(tmp)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_npz(path, *, required=()):
    """Load an ``.npz`` file into a dict of arrays, refusing pickled objects.

    Parameters
    ----------
    path : str or Path
    required : iterable of str
        Keys that must be present; a missing key raises ``ValueError`` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a readable .npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
    except ValueError as exc:  # object arrays need pickle
        raise ValueError(
            f"{path}: contains pickled objects, which refrnn never loads ({exc})"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        # BadZipFile: corrupted bytes inside the archive (e.g. a CRC mismatch)
        raise ValueError(f"{path}: not a readable .npz archive ({exc})") from exc
    missing = [k for k in required if k not in out]
    if missing:
        raise ValueError(f"{path}: missing required key(s) {missing}; present: {sorted(out)}")
    return out


def model_to_arrays(model, prefix="model."):
    """Flatten a model into ``{prefix + name: array}`` plus a JSON metadata string."""
    if not isinstance(model, RNNModel):
        raise TypeError(f"model must be a refrnn model, got {type(model).__name__}")
    meta = {
        "class": type(model).__name__,
        "readout": model.readout,
        "N": model.N,
        "M": model.M,
        "format_version": FORMAT_VERSION,
    }
    out = {prefix + k: v for k, v in model.params.items()}
    out[prefix + "meta"] = json.dumps(meta)
    return out


def model_from_arrays(arrays, prefix="model.", *, source="arrays"):
    """Inverse of :func:`model_to_arrays`; validates like the model constructors.

    A missing or malformed metadata entry (bad JSON, a missing ``class``/``readout``/``N``,
    a wrong type) raises ``ValueError`` naming the source and the key.
    """
    key = prefix + "meta"
    if key not in arrays:
        raise ValueError(f"{source}: no refrnn model stored under prefix {prefix!r} (no {key!r})")
    try:
        meta = json.loads(str(arrays[key]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: {key!r} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{source}: {key!r} must be a JSON object, got {type(meta).__name__}")
    if meta.get("class") not in _MODEL_CLASSES:
        raise ValueError(
            f"{source}: {key!r} class must be one of {sorted(_MODEL_CLASSES)}, "
            f"got {meta.get('class')!r}"
        )
    if meta.get("readout") not in ("linear", "identity"):
        raise ValueError(
            f"{source}: {key!r} readout must be 'linear' or 'identity', got {meta.get('readout')!r}"
        )
    n_obs = meta.get("N")
    if meta["readout"] == "identity" and (isinstance(n_obs, bool) or not isinstance(n_obs, int)):
        raise ValueError(f"{source}: {key!r} N must be an integer, got {n_obs!r}")
    cls = _MODEL_CLASSES[meta["class"]]
    params = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix) and k != key}
    try:
        if meta["readout"] == "identity":
            return cls(**params, readout="identity", n_obs=n_obs)
        return cls(**params, readout="linear")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: stored parameters do not fit {cls.__name__}: {exc}") from exc


def save_model(path, model, *, record=None):
    """Save a model to ``path`` (``.npz``) atomically.

    Parameters
    ----------
    path : str or Path
    model : RNNModel
    record : dict, optional
        How the model was made, stored as JSON beside the parameters and read back by
        :func:`load_record`: e.g. ``{"system": "Lorenz63", "dt": 0.01, "tau": 38}``.
        ``dt`` (time per model step) lets ``refrnn lyapunov`` report exponents per unit
        time.
    """
    arrays = model_to_arrays(model)
    if record is not None:
        if not isinstance(record, dict):
            raise TypeError(f"record must be a dict or None, got {type(record).__name__}")
        arrays["record"] = json.dumps(record)
    atomic_savez(path, **arrays)


def load_record(path):
    """The ``record`` dict saved with a model by :func:`save_model`, or None if it has none.

    A record that is not a JSON object is a ValueError naming the file.
    """
    arrays = load_npz(path)
    if "record" not in arrays:
        return None
    try:
        record = json.loads(str(arrays["record"]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: 'record' is not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise ValueError(f"{path}: 'record' must be a JSON object, got {type(record).__name__}")
    return record


def atomic_write(path, data):
    """Write ``data`` to ``path`` atomically, with the permissions of a plain open().

    Parameters
    ----------
    path : str or Path
    data : str or bytes
        Text is written as UTF-8.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, bytes | bytearray):
        raise TypeError(f"data must be str or bytes, got {type(data).__name__}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _plain_permissions(tmp)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_savefig(fig, path, **kwargs):
    """``fig.savefig(path, **kwargs)``, atomically (the format follows the suffix)."""
    import io as _io

    path = Path(path)
    buf = _io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", **kwargs)
    atomic_write(path, buf.getvalue())


def load_model(path):
    """Load a model saved by :func:`save_model` (or a training checkpoint)."""
    return model_from_arrays(load_npz(path), source=str(path))
