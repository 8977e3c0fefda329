"""Input checking shared by every public entry point.

Every public function of refrnn converts its inputs here before they reach a Numba
kernel, so that bad input produces a ``TypeError`` or ``ValueError`` naming the
argument and what was expected, instead of a Numba typing traceback or a silent NaN.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings

import numpy as np

__all__ = ["DivergenceError"]


class DivergenceError(FloatingPointError):
    """A trajectory, loss or gradient became non-finite (overflow or NaN).

    Raised instead of silently returning ``inf``/``nan``. The message names where
    it happened (window and time step, or training epoch).
    """


def _finite_sum(arr):
    """Whether the sum of ``arr`` is finite, silently (an overflowing sum of finite entries
    or inf - inf is an answer here, not a floating-point error to warn or raise about)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return math.isfinite(arr.sum())


def as_float_array(name, value, *, ndim=None, shape=None, finite=True, copy=False):
    """Convert ``value`` to a float64 ndarray or raise a clear error.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    value : array_like
        Real floating-point data. Integer, boolean, complex and object arrays are
        rejected with ``TypeError`` (silent integer arithmetic is a classic source of
        wrong gradients). float16 and float32 are converted to float64 exactly;
        extended precision (``longdouble``) is rounded to float64 with a ``UserWarning``.
    ndim : int, optional
        Required number of dimensions.
    shape : tuple of (int or None), optional
        Required shape; ``None`` entries are free.
    finite : bool
        Reject NaN and infinities.
    copy : bool
        Always return a fresh array (used by immutable containers).
    """
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (list, tuple, numbers.Real)) and not isinstance(value, bool):
        try:
            arr = np.asarray(value)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array, got {value!r:.80}") from exc
    else:
        raise TypeError(f"{name} must be a real floating-point array, got {type(value).__name__}")
    if arr.dtype.kind != "f":
        if arr.dtype.kind in "iu" and not isinstance(value, np.ndarray) and arr.size > 0:
            # Python lists of ints such as [1, 2] are unambiguous; ndarrays of ints are not
            # accepted because they usually mean a dtype mistake upstream.
            arr = arr.astype(np.float64)
        else:
            raise TypeError(f"{name} must be a real floating-point array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        # float16/32 become float64 exactly; extended precision loses digits -- say so
        warnings.warn(
            f"{name} has dtype {arr.dtype}; refrnn computes in float64 and rounds it to "
            f"float64 (extended precision is lost)",
            UserWarning,
            stacklevel=3,
        )
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)
        ):
            want = "(" + ", ".join("?" if s is None else str(s) for s in shape)
            want += ",)" if len(shape) == 1 else ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    arr = (
        np.array(arr, dtype=np.float64, copy=True, order="C")
        if copy
        else np.ascontiguousarray(arr, dtype=np.float64)
    )
    # A finite sum proves every entry finite (an inf or NaN makes it inf or NaN); only
    # if it is not -- or if finite entries overflow it -- look entry by entry.
    if finite and not (_finite_sum(arr) or np.all(np.isfinite(arr))):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains non-finite values (first at index {tuple(int(i) for i in bad)})"
        )
    return arr


def as_positive_int(name, value, *, minimum=1):
    """Return ``value`` as a Python int >= ``minimum`` or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value >= 2**63:  # kernels count in int64
        raise ValueError(f"{name} must be < 2**63, got {value}")
    return value


def as_real(name, value):
    """Return ``value`` as a Python float (any real number, not a bool) or raise ``TypeError``."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
        value = value.item()  # e.g. a scalar read back from an .npz
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r:.60}")
    return float(value)


def _memory_bytes():
    """Physical memory of this machine in bytes, or None where POSIX sysconf is missing."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_allocation(name, value, what, n_floats):
    """Refuse a size whose float64 array could never fit in memory.

    Without this, ``PLRNN.random(M=10**12)`` ends in NumPy's "array is too big" or a bare
    ``MemoryError`` that does not say which argument asked for it.

    Parameters
    ----------
    name : str
        The argument that sets the size (named in the message).
    value : int
        Its value.
    what : str
        The array it sizes, e.g. ``"an (M, M) weight matrix"``.
    n_floats : int
        Number of float64 entries of that array (a Python int: exact however large).
    """
    need = 8 * n_floats
    have = _memory_bytes()
    if have is not None and need > have:
        raise ValueError(
            f"{name}={value} needs {what} of {need / 2**30:.3g} GiB, more than this "
            f"machine's {have / 2**30:.3g} GiB of memory"
        )


def as_tau(tau):
    """Validate a teacher-forcing interval: ``None`` (no forcing) or an int >= 1.

    Returns the kernel encoding: 0 for ``None``, otherwise ``tau``.
    """
    if tau is None:
        return 0
    return as_positive_int("tau", tau, minimum=1)


def as_alpha(alpha):
    """Validate a generalized-teacher-forcing strength: ``None`` or a real number in [0, 1].

    Returns a float (``None`` stays ``None``).
    """
    if alpha is None:
        return None
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(
            f"alpha must be None or a number in [0, 1], got {alpha!r} ({type(alpha).__name__})"
        )
    a = float(alpha)
    if not 0.0 <= a <= 1.0:  # also rejects NaN
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return a


def as_rng(rng):
    """Return a ``numpy.random.Generator`` from a Generator, an int seed or ``None``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative int seed, got {rng}")
        return np.random.default_rng(int(rng))
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
    )


def as_bool(name, value):
    """Validate a flag: ``True``/``False`` (or a NumPy bool), nothing else."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


def full_row_rank(name, B):
    """Check that the (N, M) readout ``B`` has rank N, so that its pseudo-inverse
    :math:`B^+ = B^\\top (B B^\\top)^{-1}` exists and is differentiable."""
    N = B.shape[0]
    rank = int(np.linalg.matrix_rank(B))
    if rank < N:
        raise ValueError(
            f"{name} must have full row rank N={N} (its pseudo-inverse forces the latent "
            f"state and is differentiated), got rank {rank}"
        )


#: What :mod:`refrnn.bptt`, :mod:`refrnn.metrics` and :mod:`refrnn.training` use of a model
#: (the model protocol of :class:`refrnn.RNNModel`).
_MODEL_ATTRIBUTES = ("kind", "equations", "theta", "M", "N", "readout", "pack", "unpack",
                     "observe", "infer_state")  # fmt: skip


def check_model(model, name="model"):
    """Raise ``TypeError`` unless ``model`` follows the protocol of :class:`refrnn.RNNModel`."""
    missing = [a for a in _MODEL_ATTRIBUTES if not hasattr(model, a)]
    if missing:
        raise TypeError(
            f"{name} must be a refrnn model (PLRNN, VanillaRNN or another refrnn.RNNModel), "
            f"got {type(model).__name__} (missing {', '.join(missing)})"
        )


def as_series(name, X, *, min_samples=2):
    """Validate a (T, N) series: real floating point, finite, at least ``min_samples`` rows."""
    X = as_float_array(name, X)
    if X.ndim != 2 or X.shape[1] < 1:
        raise ValueError(f"{name} must have shape (T, N) with N >= 1, got {X.shape}")
    if X.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} time steps, got shape {X.shape}")
    return X
