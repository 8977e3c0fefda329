r"""Reference dynamical systems with exact tangent maps.

Flows (integrated by classical fixed-step RK4 with step ``dt``):

* :class:`Lorenz63` (Lorenz 1963) --
  :math:`\dot x = \sigma(y - x),\ \dot y = x(\rho - z) - y,\ \dot z = xy - \beta z`.
* :class:`Rossler` -- :math:`\dot x = -y - z,\ \dot y = x + a y,\ \dot z = b + z(x - c)`
  (Rössler 1976).
* :class:`Lorenz96` -- :math:`\dot x_i = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`, cyclic indices
  (Lorenz 1996).

Maps:

* :class:`Henon` -- :math:`(x, y) \mapsto (1 - a x^2 + y,\ b x)` (Hénon 1976).
* :class:`Logistic` -- :math:`x \mapsto r x (1 - x)`.

For a flow, one step of the map protocol (:mod:`refrnn.dynamics`) is one RK4 step, and its
Jacobian is the exact derivative of that discrete step; the equations, the derivation and
the kernels' parameter layouts are in :mod:`refrnn.equations.systems`. This module holds
the containers: parameters, validation, default initial states, and :func:`resolve`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._validation import as_positive_int, as_real, as_rng
from .dynamics import MapMixin
from .equations.systems import HENON, LOGISTIC, LORENZ63, LORENZ96, ROSSLER

__all__ = ["DynamicalSystem", "Lorenz63", "Rossler", "Lorenz96", "Henon", "Logistic", "resolve"]


# ======================================================================================
class DynamicalSystem(MapMixin):
    """Base class of the reference systems (immutable).

    Attributes
    ----------
    kind : int
        Selects the equations in :mod:`refrnn.equations.systems`.
    theta : ndarray, shape (P,)
        The parameters (and, for a flow, ``dt`` last) as the kernels read them; read-only.
    dim : int
        State dimension.
    dt : float
        Time per step (1.0 for maps).
    is_flow : bool
        True for ODEs integrated by RK4.
    params : dict
        The system's parameters by name.
    """

    __slots__ = ("theta", "dim", "dt", "params")
    kind: int
    is_flow = False
    #: a point in (or near) the attractor's basin, used when no initial state is given
    default_x0: tuple = ()

    def __init__(self, dim, dt, **params):
        for k, v in params.items():
            v = as_real(k, v)
            if not np.isfinite(v):
                raise ValueError(f"{k} must be finite, got {v}")
            params[k] = v
        if self.is_flow:
            dt = as_real("dt", dt)
            if not (np.isfinite(dt) and dt > 0):
                raise ValueError(f"dt must be a finite number > 0, got {dt}")
            theta = np.array([*params.values(), dt])
        else:
            theta = np.array(list(params.values()), dtype=np.float64)
        theta.flags.writeable = False
        object.__setattr__(self, "theta", theta)
        object.__setattr__(self, "dim", dim)
        object.__setattr__(self, "dt", float(dt))
        object.__setattr__(self, "params", dict(params))

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self):
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        if self.is_flow:
            args += f", dt={self.dt:g}"
        return f"{type(self).__name__}({args})"

    def initial_state(self, rng=None):
        """``default_x0`` plus a small perturbation drawn from ``rng`` (if given)."""
        x0 = np.array(self.default_x0, dtype=np.float64)
        if rng is not None:
            x0 = x0 + 1e-3 * as_rng(rng).standard_normal(self.dim)
        return x0


class Lorenz63(DynamicalSystem):
    r"""Lorenz-63 flow, RK4 with step ``dt``.

    Reference spectrum at the classic parameters, per unit time: (0.9056, 0, -14.5723);
    :math:`\sum\lambda = -(\sigma + 1 + \beta)` exactly (the divergence is constant).
    """

    kind = LORENZ63
    is_flow = True
    default_x0 = (1.0, 1.0, 1.0)

    def __init__(self, sigma=10.0, rho=28.0, beta=8.0 / 3.0, *, dt=0.01):
        super().__init__(3, dt, sigma=sigma, rho=rho, beta=beta)


class Rossler(DynamicalSystem):
    """Rössler flow, RK4 with step ``dt``.

    Reference spectrum (a=b=0.2, c=5.7), per unit time: (0.0714, 0, -5.3943).
    """

    kind = ROSSLER
    is_flow = True
    default_x0 = (1.0, 1.0, 0.0)

    def __init__(self, a=0.2, b=0.2, c=5.7, *, dt=0.01):
        super().__init__(3, dt, a=a, b=b, c=c)


class Lorenz96(DynamicalSystem):
    """Lorenz-96 flow with ``n`` >= 4 sites and forcing ``F``, RK4 with step ``dt``."""

    kind = LORENZ96
    is_flow = True

    def __init__(self, n=10, F=8.0, *, dt=0.01):
        n = as_positive_int("n", n, minimum=4)
        super().__init__(n, dt, F=F)

    @property
    def default_x0(self):
        # F everywhere is an (unstable) equilibrium; perturb one site to leave it.
        x0 = np.full(self.dim, self.params["F"])
        x0[0] += 0.01
        return tuple(x0)


class Henon(DynamicalSystem):
    """Hénon map. Reference spectrum (a=1.4, b=0.3): (0.41922, -1.62319) per iteration."""

    kind = HENON
    default_x0 = (0.1, 0.1)

    def __init__(self, a=1.4, b=0.3):
        super().__init__(2, 1.0, a=a, b=b)


class Logistic(DynamicalSystem):
    """Logistic map ``x -> r x (1 - x)``; at r = 4 its Lyapunov exponent is ln 2."""

    kind = LOGISTIC
    default_x0 = (0.3,)

    def __init__(self, r=4.0):
        super().__init__(1, 1.0, r=r)


_BY_NAME = {
    "lorenz63": Lorenz63,
    "lorenz": Lorenz63,
    "rossler": Rossler,
    "lorenz96": Lorenz96,
    "henon": Henon,
    "logistic": Logistic,
}


def resolve(system, params=None, dt=None):
    """A system from a name (plus parameters and ``dt``) or an instance (as it is).

    Parameters
    ----------
    system : str or DynamicalSystem
        A name -- ``"lorenz63"`` (or ``"lorenz"``), ``"rossler"``, ``"lorenz96"``,
        ``"henon"``, ``"logistic"``; case, accents and punctuation are ignored -- or an
        instance, which is returned unchanged.
    params : dict, optional
        Constructor arguments for a name (not allowed with an instance).
    dt : float, optional
        Integration step of a flow named by ``system`` (default 0.01); maps take none.

    Returns
    -------
    DynamicalSystem
    """
    if isinstance(system, DynamicalSystem):
        if params:
            raise ValueError("params are only used with a system name; the instance has its own")
        if dt is not None and float(dt) != system.dt:
            raise ValueError(f"dt={dt} conflicts with the system's own dt={system.dt}")
        return system
    if not isinstance(system, str):
        raise TypeError(
            f"system must be a name or a refrnn.systems system, got {type(system).__name__}"
        )
    key = system.lower().replace("ö", "o").replace("é", "e")
    key = "".join(c for c in key if c.isalnum())
    if key not in _BY_NAME:
        raise ValueError(f"unknown system {system!r}; choose one of {sorted(set(_BY_NAME))}")
    cls = _BY_NAME[key]
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of {cls.__name__} parameters, got {params!r:.60}")
    kwargs = dict(params or {})
    if cls.is_flow:
        kwargs["dt"] = 0.01 if dt is None else dt
    elif dt is not None:
        raise ValueError(f"{cls.__name__} is a map (one sample per iteration); it takes no dt")
    return cls(**kwargs)
