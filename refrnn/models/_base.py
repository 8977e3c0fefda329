"""Shared container logic for refrnn models: validation, readout, immutability.

A model is a small immutable container of float64 parameter arrays plus a pointer to its
equations (:mod:`refrnn.equations.plrnn`, :mod:`refrnn.equations.vanilla`). This base
class stores, validates and packs the parameters and implements the observation side of
the model protocol; ``step``, ``simulate`` and ``jacobian`` come from the map protocol
(:class:`refrnn.dynamics.MapMixin`).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import (
    as_float_array,
    as_positive_int,
    as_rng,
    check_allocation,
    full_row_rank,
)
from ..dynamics import MapMixin

READOUTS = ("linear", "identity")


def uniform_init(rng, M, shape):
    r"""Draw from U(-1/\sqrt{M}, 1/\sqrt{M}), the paper code's initialisation."""
    bound = 1.0 / np.sqrt(M)
    return rng.uniform(-bound, bound, size=shape)


class RNNModel(MapMixin):
    """Base class of refrnn's autonomous RNN models (not instantiated directly).

    This is the *model protocol* that :mod:`refrnn.bptt`, :mod:`refrnn.metrics` and
    :mod:`refrnn.training` rely on; a new model subclasses it, sets ``kind`` and
    ``equations`` and validates its own parameters in ``__init__``.

    Attributes
    ----------
    kind : int
        Selects the model's kernels (the map protocol of :mod:`refrnn.dynamics`).
    equations : module
        The module of :mod:`refrnn.equations` that defines the model: ``PARAM_NAMES`` and
        the definitions ``step``, ``step_jvp``, ``step_vjp``, ``jacobian`` (NumPy) with
        their ``*_kernel`` versions (Numba).
    theta : ndarray, shape (P,)
        The map's parameters as one read-only vector, ``pack(params)`` (the readout B is
        not part of it).
    M : int
        Latent dimension.
    N : int
        Observation dimension, ``1 <= N <= M``.
    readout : {"linear", "identity"}
        Observation model: ``x = B z`` or ``x = z[:N]``.
    dim : int
        Same as ``M`` (the state dimension, for the dynamical-system protocol used by
        :func:`refrnn.lyapunov_spectrum`).
    dt : float
        1.0: a model is a map, its Lyapunov exponents are per step.
    """

    kind: int
    equations = None
    __slots__ = ("_dyn", "_B", "_Bpinv", "theta", "M", "N", "readout", "_frozen")
    dt = 1.0

    # ---- construction helpers -------------------------------------------------------
    @staticmethod
    def _array(name, value, **kw):
        arr = as_float_array(name, value, copy=True, **kw)
        if arr.size == 0:  # M = 0 or N = 0: no model
            raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
        return arr

    @staticmethod
    def _check_sizes(M, N, rng):
        M = as_positive_int("M", M)
        N = as_positive_int("N", N)
        if N > M:
            raise ValueError(f"N (observations) must be <= M (latent states), got N={N}, M={M}")
        check_allocation("M", M, "an (M, M) weight matrix", M * M)
        return M, N, as_rng(rng)

    @classmethod
    def _with_readout(cls, rng, M, N, readout, **dyn):
        if not isinstance(readout, str):
            raise TypeError(f"readout must be one of {READOUTS}, got {type(readout).__name__}")
        if readout == "linear":
            return cls(**dyn, B=uniform_init(rng, M, (N, M)), readout="linear")
        if readout == "identity":
            return cls(**dyn, readout="identity", n_obs=N)
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")

    def _init_common(self, dyn, M, B, readout, n_obs):
        if not isinstance(readout, str) or readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if readout == "linear":
            if B is None:
                raise ValueError('readout="linear" needs B, an array of shape (N, M)')
            if n_obs is not None:
                raise ValueError('n_obs is only used with readout="identity"; B fixes N')
            B = self._array("B", B, ndim=2)
            if B.shape[1] != M or not 1 <= B.shape[0] <= M:
                raise ValueError(f"B must have shape (N, M) with 1 <= N <= M={M}, got {B.shape}")
            N = B.shape[0]
            full_row_rank("B", B)
            Bpinv = np.linalg.pinv(B)
        else:
            if B is not None:
                raise ValueError('readout="identity" takes n_obs, not B')
            if n_obs is None:
                raise ValueError('readout="identity" needs n_obs (the number N of observed states)')
            N = as_positive_int("n_obs", n_obs)
            if N > M:
                raise ValueError(f"n_obs must be <= M={M}, got {N}")
            Bpinv = None
        for a in dyn.values():
            a.flags.writeable = False
        if B is not None:
            B.flags.writeable = False
            Bpinv.flags.writeable = False
        set_ = object.__setattr__
        set_(self, "_dyn", dyn)
        set_(self, "_B", B)
        set_(self, "_Bpinv", Bpinv)
        set_(self, "M", M)
        set_(self, "N", N)
        set_(self, "readout", readout)
        theta = self.pack(dyn)
        theta.flags.writeable = False
        set_(self, "theta", theta)
        set_(self, "_frozen", True)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace(...)")

    # ---- parameters ------------------------------------------------------------------
    def pack(self, params):
        """The parameter vector ``theta`` of a dict of map parameters.

        Parameters
        ----------
        params : dict
            ``equations.PARAM_NAMES`` -> arrays shaped like this model's (e.g. a gradient
            or a tangent); other keys (``B``) are ignored.

        Returns
        -------
        ndarray, shape (P,)
            The arrays raveled (row-major) and concatenated in ``PARAM_NAMES`` order.
        """
        return np.concatenate([np.ravel(params[k]) for k in self.equations.PARAM_NAMES])

    def unpack(self, theta):
        """Inverse of :meth:`pack`: a dict of fresh arrays shaped like the parameters.

        Parameters
        ----------
        theta : ndarray, shape (P,)

        Returns
        -------
        dict
        """
        out, start = {}, 0
        for k in self.equations.PARAM_NAMES:
            shape = self._dyn[k].shape
            size = math.prod(shape)
            out[k] = np.array(theta[start : start + size]).reshape(shape)
            start += size
        return out

    @property
    def dim(self):
        return self.M

    @property
    def params(self):
        """dict : constructor argument name -> float64 array (a copy)."""
        out = {k: v.copy() for k, v in self._dyn.items()}
        if self._B is not None:
            out["B"] = self._B.copy()
        return out

    @property
    def B(self):
        """ndarray, shape (N, M) or None: the linear readout (None for identity); read-only."""
        return self._B

    def _replace_trusted(self, theta, B=None):
        """A model like this one with the parameter vector ``theta`` (and, for the linear
        readout, ``B``), built *without* validation.

        Only for arrays that the caller has checked as the constructor would -- finite,
        the PLRNN's W with a zero diagonal, B of full row rank: the fused training step
        (:mod:`refrnn._batched`) does, and saves the constructor's ~0.1-1 ms per batch.
        The arrays are taken over (made read-only), not copied. :attr:`B_pinv` is
        computed when first asked for, by the constructor's rule.
        """
        new = object.__new__(type(self))
        dyn, start = {}, 0
        for k in self.equations.PARAM_NAMES:
            shape = self._dyn[k].shape
            size = math.prod(shape)
            dyn[k] = theta[start : start + size].reshape(shape)
            start += size
        for a in (theta, B):
            if a is not None:
                a.flags.writeable = False
        set_ = object.__setattr__
        for name in ("M", "N", "readout"):
            set_(new, name, getattr(self, name))
        set_(new, "_dyn", dyn)
        set_(new, "_B", B)
        set_(new, "_Bpinv", None)
        set_(new, "theta", theta)
        set_(new, "_frozen", True)
        return new

    @property
    def B_pinv(self):
        """ndarray, shape (M, N) or None: the pseudo-inverse :math:`B^+` that infers states
        from observations (None for the identity readout); read-only."""
        if self._Bpinv is None and self._B is not None:  # built by _replace_trusted
            Bpinv = np.linalg.pinv(self._B)
            Bpinv.flags.writeable = False
            object.__setattr__(self, "_Bpinv", Bpinv)
        return self._Bpinv

    def replace(self, **arrays):
        """Return a new, validated model with some parameter arrays replaced."""
        unknown = set(arrays) - set(self.params)
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {sorted(unknown)}; {type(self).__name__} has "
                f"{sorted(self.params)}"
            )
        new = {**self.params, **arrays}
        if self.readout == "identity":
            return type(self)(**new, readout="identity", n_obs=self.N)
        return type(self)(**new, readout="linear")

    def __repr__(self):
        return f"{type(self).__name__}(M={self.M}, N={self.N}, readout={self.readout!r})"

    def __eq__(self, other):
        return (
            type(self) is type(other)
            and self.readout == other.readout
            and self.N == other.N
            and all(np.array_equal(v, other.params[k]) for k, v in self.params.items())
        )

    __hash__ = None

    # ---- observations ------------------------------------------------------------------
    def observe(self, Z):
        """Readout ``x = B z`` (linear) or ``x = z[:N]`` (identity).

        ``Z`` : ndarray, shape (..., M) -> ndarray, shape (..., N).
        """
        Z = as_float_array("Z", Z, finite=False)
        if Z.ndim < 1 or Z.shape[-1] != self.M:
            raise ValueError(f"Z must have shape (..., M={self.M}), got {Z.shape}")
        if self.readout == "linear":
            return Z @ self._B.T
        return Z[..., : self.N].copy()

    def infer_state(self, X):
        """The forcing signal: a latent state inferred from observations.

        Linear readout: :math:`\\tilde z = B^+ x` (all M states, minimum-norm solution);
        identity readout: :math:`\\tilde z = [x, 0]` (the unobserved states set to 0).

        ``X`` : ndarray, shape (..., N) -> ndarray, shape (..., M).
        """
        X = as_float_array("X", X)
        if X.ndim < 1 or X.shape[-1] != self.N:
            raise ValueError(f"X must have shape (..., N={self.N}), got {X.shape}")
        if self.readout == "linear":
            return X @ self.B_pinv.T
        Z = np.zeros(X.shape[:-1] + (self.M,))
        Z[..., : self.N] = X
        return Z
