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

For a flow, the "step" of the protocol in :mod:`refrnn._dynamics` is one RK4 step and its
Jacobian is the *exact derivative of that discrete step*, obtained by differentiating the
four RK stages (not by freezing the vector field's Jacobian):

.. math::

    k_1 = f(x),\ k_2 = f(x + \tfrac{h}{2}k_1),\ k_3 = f(x + \tfrac{h}{2}k_2),\ k_4 = f(x + h k_3),

    \partial k_1 = Df(x),\quad
    \partial k_{s} = Df(x_s)\,(I + c_s h\, \partial k_{s-1}),\quad
    J = I + \tfrac{h}{6}(\partial k_1 + 2\partial k_2 + 2\partial k_3 + \partial k_4).

Exponents computed from it are therefore exact for the discrete RK4 map, and approximate
the flow's exponents (per unit time: divide by ``dt``) up to the RK4 error.

Kernel parameter layouts: Lorenz63 ``[sigma, rho, beta, dt]``, Rossler ``[a, b, c, dt]``,
Lorenz96 ``[F, dt]``, Henon ``[a, b]``, Logistic ``[r]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._dynamics import MapMixin
from ._validation import as_positive_int, as_real, as_rng

__all__ = ["DynamicalSystem", "Lorenz63", "Rossler", "Lorenz96", "Henon", "Logistic"]

LORENZ63, ROSSLER, LORENZ96, HENON, LOGISTIC = 10, 11, 12, 20, 21
FLOWS = (LORENZ63, ROSSLER, LORENZ96)
MAPS = (HENON, LOGISTIC)


# ======================================================================================
# vector fields f(x) and their Jacobians Df(x), side by side
@njit(cache=True)
def _vector_field(kind, theta, dim, x, out):
    if kind == LORENZ63:
        sigma, rho, beta = theta[0], theta[1], theta[2]
        out[0] = sigma * (x[1] - x[0])
        out[1] = x[0] * (rho - x[2]) - x[1]
        out[2] = x[0] * x[1] - beta * x[2]
    elif kind == ROSSLER:
        a, b, c = theta[0], theta[1], theta[2]
        out[0] = -x[1] - x[2]
        out[1] = x[0] + a * x[1]
        out[2] = b + x[2] * (x[0] - c)
    else:  # LORENZ96
        F = theta[0]
        for i in range(dim):
            out[i] = (x[(i + 1) % dim] - x[(i - 2) % dim]) * x[(i - 1) % dim] - x[i] + F


@njit(cache=True)
def _vector_field_jacobian(kind, theta, dim, x, D):
    D[:, :] = 0.0
    if kind == LORENZ63:
        sigma, rho, beta = theta[0], theta[1], theta[2]
        D[0, 0], D[0, 1] = -sigma, sigma
        D[1, 0], D[1, 1], D[1, 2] = rho - x[2], -1.0, -x[0]
        D[2, 0], D[2, 1], D[2, 2] = x[1], x[0], -beta
    elif kind == ROSSLER:
        a, c = theta[0], theta[2]
        D[0, 1], D[0, 2] = -1.0, -1.0
        D[1, 0], D[1, 1] = 1.0, a
        D[2, 0], D[2, 2] = x[2], x[0] - c
    else:  # LORENZ96: d/dx of (x_{i+1} - x_{i-2}) x_{i-1} - x_i
        for i in range(dim):
            D[i, (i + 1) % dim] += x[(i - 1) % dim]
            D[i, (i - 2) % dim] -= x[(i - 1) % dim]
            D[i, (i - 1) % dim] += x[(i + 1) % dim] - x[(i - 2) % dim]
            D[i, i] -= 1.0


# ======================================================================================
# one RK4 step and its exact derivative (shared by every flow)
_RK_C = (0.0, 0.5, 0.5, 1.0)  # stage offsets c_s
_RK_W = (1.0, 2.0, 2.0, 1.0)  # stage weights


@njit(cache=True)
def rk4_step(kind, theta, dim, x, out, work):
    """``out = x + h/6 (k1 + 2 k2 + 2 k3 + k4)``; ``work`` needs ``2 * dim`` entries."""
    h = theta[theta.shape[0] - 1]
    k = work[:dim]
    xs = work[dim : 2 * dim]
    for i in range(dim):
        out[i] = x[i]
        xs[i] = x[i]
    for s in range(4):
        if s > 0:
            for i in range(dim):
                xs[i] = x[i] + _RK_C[s] * h * k[i]
        _vector_field(kind, theta, dim, xs, k)
        for i in range(dim):
            out[i] += h / 6.0 * _RK_W[s] * k[i]


@njit(cache=True)
def rk4_jacobian(kind, theta, dim, x, J, work):
    """Exact Jacobian of :func:`rk4_step`; ``work`` needs ``2 * dim + 3 * dim**2`` entries."""
    h = theta[theta.shape[0] - 1]
    d2 = dim * dim
    k = work[:dim]
    xs = work[dim : 2 * dim]
    Df = work[2 * dim : 2 * dim + d2].reshape((dim, dim))
    Dk = work[2 * dim + d2 : 2 * dim + 2 * d2].reshape((dim, dim))
    Dn = work[2 * dim + 2 * d2 : 2 * dim + 3 * d2].reshape((dim, dim))
    J[:, :] = 0.0
    for i in range(dim):
        J[i, i] = 1.0
        xs[i] = x[i]
    for s in range(4):
        if s > 0:
            # stage point x_s = x + c_s h k_{s-1}; k still holds k_{s-1}
            for i in range(dim):
                xs[i] = x[i] + _RK_C[s] * h * k[i]
        _vector_field(kind, theta, dim, xs, k)
        _vector_field_jacobian(kind, theta, dim, xs, Df)
        if s == 0:
            Dk[:, :] = Df
        else:
            # dk_s = Df(x_s) (I + c_s h dk_{s-1})
            for i in range(dim):
                for j in range(dim):
                    acc = Df[i, j]
                    for m in range(dim):
                        acc += _RK_C[s] * h * Df[i, m] * Dk[m, j]
                    Dn[i, j] = acc
            Dk[:, :] = Dn
        for i in range(dim):
            for j in range(dim):
                J[i, j] += h / 6.0 * _RK_W[s] * Dk[i, j]


# ======================================================================================
# maps: step and Jacobian side by side
@njit(cache=True)
def map_step(kind, theta, dim, x, out):
    if kind == HENON:
        a, b = theta[0], theta[1]
        x0 = x[0]
        out[0] = 1.0 - a * x0 * x0 + x[1]
        out[1] = b * x0
    else:  # LOGISTIC
        out[0] = theta[0] * x[0] * (1.0 - x[0])


@njit(cache=True)
def map_jacobian(kind, theta, dim, x, J):
    if kind == HENON:
        J[0, 0], J[0, 1] = -2.0 * theta[0] * x[0], 1.0
        J[1, 0], J[1, 1] = theta[1], 0.0
    else:  # LOGISTIC
        J[0, 0] = theta[0] * (1.0 - 2.0 * x[0])


def work_size(kind, dim):
    """Scratch entries the kernels of ``kind`` need (allocated once per loop)."""
    return 2 * dim + 3 * dim * dim if kind in FLOWS else 0


# ======================================================================================
class DynamicalSystem(MapMixin):
    """Base class of the reference systems (immutable).

    Attributes
    ----------
    dim : int
        State dimension.
    dt : float
        Time per step (1.0 for maps).
    is_flow : bool
        True for ODEs integrated by RK4.
    params : dict
        The system's parameters by name.
    """

    __slots__ = ("_theta", "dim", "dt", "params")
    _kind: int
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
        object.__setattr__(self, "_theta", theta)
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

    _kind = LORENZ63
    is_flow = True
    default_x0 = (1.0, 1.0, 1.0)

    def __init__(self, sigma=10.0, rho=28.0, beta=8.0 / 3.0, *, dt=0.01):
        super().__init__(3, dt, sigma=sigma, rho=rho, beta=beta)


class Rossler(DynamicalSystem):
    """Rössler flow, RK4 with step ``dt``.

    Reference spectrum (a=b=0.2, c=5.7), per unit time: (0.0714, 0, -5.3943).
    """

    _kind = ROSSLER
    is_flow = True
    default_x0 = (1.0, 1.0, 0.0)

    def __init__(self, a=0.2, b=0.2, c=5.7, *, dt=0.01):
        super().__init__(3, dt, a=a, b=b, c=c)


class Lorenz96(DynamicalSystem):
    """Lorenz-96 flow with ``n`` >= 4 sites and forcing ``F``, RK4 with step ``dt``."""

    _kind = LORENZ96
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

    _kind = HENON
    default_x0 = (0.1, 0.1)

    def __init__(self, a=1.4, b=0.3):
        super().__init__(2, 1.0, a=a, b=b)


class Logistic(DynamicalSystem):
    """Logistic map ``x -> r x (1 - x)``; at r = 4 its Lyapunov exponent is ln 2."""

    _kind = LOGISTIC
    default_x0 = (0.3,)

    def __init__(self, r=4.0):
        super().__init__(1, 1.0, r=r)
