r"""The map protocol: what refrnn's loops need from a model or a dynamical system.

Every generic computation in refrnn -- :func:`simulate`, :func:`step`, :func:`jacobian`,
the products of Jacobians (:mod:`refrnn.jacobians`), Lyapunov spectra
(:func:`refrnn.lyapunov_spectrum`) -- works on a *map* :math:`x_{t+1} = F(x_t)`, described
by four read-only attributes:

``kind`` : int
    Which equations (:mod:`refrnn.equations`) define :math:`F`; the integer selects the
    Numba kernels in :mod:`refrnn._kernels`.
``theta`` : ndarray, shape (P,)
    The parameters as one flat float64 vector, in the layout the equations module
    documents (e.g. ``[A | W | h]`` for the PLRNN). Read-only.
``dim`` : int
    State dimension.
``dt`` : float
    Time per step: 1.0 for maps and RNN models, the integration step for flows, so that
    Lyapunov exponents can also be reported per unit time.

The RNN models (:class:`refrnn.RNNModel`) add the observation side, documented there:
``M``, ``N``, ``readout``, ``B``, ``B_pinv``, ``params``, ``pack``/``unpack`` (parameter
dict <-> ``theta``), ``observe`` and ``infer_state`` (the forcing map), and ``equations``
(the module holding their definitions). :mod:`refrnn.bptt` uses only those.

The functions below are the protocol's operations; models and systems also offer them as
methods (:class:`MapMixin`).
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._validation import DivergenceError, as_float_array, as_positive_int, check_allocation

__all__ = ["step", "jacobian", "simulate", "check_system", "is_map"]

_KINDS = frozenset(_kernels.KINDS)


def is_map(obj):
    """True if ``obj`` has the four attributes of the map protocol."""
    return all(hasattr(obj, a) for a in ("kind", "theta", "dim", "dt"))


def check_system(system):
    """Raise ``TypeError`` unless ``system`` follows the map protocol above."""
    if not is_map(system):
        raise TypeError(
            "system must follow refrnn's map protocol (a refrnn model or a system from "
            f"refrnn.systems, with kind, theta, dim and dt), got {type(system).__name__}"
        )
    theta, dim, dt = system.theta, system.dim, system.dt
    if (
        system.kind not in _KINDS
        or not (isinstance(theta, np.ndarray) and theta.dtype == np.float64 and theta.ndim == 1)
        or not (isinstance(dim, (int, np.integer)) and dim >= 1)
        or not (isinstance(dt, (float, int)) and np.isfinite(dt) and dt > 0)
    ):
        raise TypeError(
            f"system {system!r} does not follow refrnn's map protocol: kind must be one of "
            f"{sorted(_KINDS)}, theta a 1-D float64 array, dim an int >= 1, dt a float > 0"
        )


def kernel_args(system):
    """``(kind, theta_k, dim, work)``: what the kernels take, for a checked ``system``.

    ``theta_k`` is the kernel vector (:func:`refrnn._kernels.kernel_layout`) and ``work``
    the scratch array the map kernels need, allocated once per call.
    """
    kind, dim = system.kind, system.dim
    theta_k = _kernels.kernel_layout(kind, system.theta, dim)
    return kind, theta_k, dim, np.empty(_kernels.work_size(kind, dim))


def _state(system, name, x):
    check_system(system)
    return as_float_array(name, x, shape=(system.dim,))


def step(system, z):
    """One step of the map, :math:`F(z)`.

    Parameters
    ----------
    system : map (a refrnn model or a system from :mod:`refrnn.systems`)
    z : ndarray, shape (dim,)

    Returns
    -------
    ndarray, shape (dim,)
    """
    z = _state(system, "z", z)
    out = np.empty(system.dim)
    kind, theta_k, dim, work = kernel_args(system)
    _kernels.map_step(kind, theta_k, dim, z, out, work)
    return out


def jacobian(system, z):
    r"""The exact Jacobian :math:`\partial F/\partial z` of one step at ``z``.

    Parameters
    ----------
    system : map
    z : ndarray, shape (dim,)

    Returns
    -------
    ndarray, shape (dim, dim)
    """
    z = _state(system, "z", z)
    J = np.empty((system.dim, system.dim))
    kind, theta_k, dim, work = kernel_args(system)
    _kernels.map_jacobian(kind, theta_k, dim, z, J, work)
    return J


def simulate(system, z0, n_steps):
    """The orbit :math:`z_0 = z0,\\ z_t = F(z_{t-1})` for ``t = 1..n_steps``.

    Parameters
    ----------
    system : map
    z0 : ndarray, shape (dim,)
    n_steps : int

    Returns
    -------
    Z : ndarray, shape (n_steps + 1, dim)

    Raises
    ------
    DivergenceError
        If the orbit overflows; the message names the step.
    """
    z0 = _state(system, "z0", z0)
    n_steps = as_positive_int("n_steps", n_steps, minimum=0)
    check_allocation("n_steps", n_steps, "an (n_steps+1, dim) orbit", (n_steps + 1) * system.dim)
    Z = np.empty((n_steps + 1, system.dim))
    kind, theta_k, dim, work = kernel_args(system)
    bad = _kernels.simulate(kind, theta_k, dim, z0, Z, work)
    if bad >= 0:
        raise DivergenceError(f"{system!r}: orbit became non-finite at step {bad}")
    return Z


class MapMixin:
    """:func:`step`, :func:`jacobian` and :func:`simulate` as methods."""

    __slots__ = ()

    def step(self, z):
        """One step of the map, ``F(z)``. ``z`` : ndarray, shape (dim,) -> shape (dim,)."""
        return step(self, z)

    def jacobian(self, z):
        """Exact Jacobian ``dF/dz`` of one step at ``z`` (shape (dim,)) -> (dim, dim)."""
        return jacobian(self, z)

    def simulate(self, z0, n_steps):
        """Orbit from ``z0`` (shape (dim,)) for ``n_steps`` steps -> (n_steps + 1, dim).

        See :func:`refrnn.dynamics.simulate`; raises DivergenceError if it overflows.
        """
        return simulate(self, z0, n_steps)
