r"""Equations of the reference dynamical systems, with exact tangent maps.

Flows (integrated by classical fixed-step RK4 with step ``dt``):

* Lorenz-63 (Lorenz 1963) --
  :math:`\dot x = \sigma(y - x),\ \dot y = x(\rho - z) - y,\ \dot z = xy - \beta z`.
* Rössler -- :math:`\dot x = -y - z,\ \dot y = x + a y,\ \dot z = b + z(x - c)`
  (Rössler 1976).
* Lorenz-96 -- :math:`\dot x_i = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`, cyclic indices
  (Lorenz 1996).

Maps:

* Hénon -- :math:`(x, y) \mapsto (1 - a x^2 + y,\ b x)` (Hénon 1976).
* Logistic -- :math:`x \mapsto r x (1 - x)`.

For a flow, the "step" of the map protocol (:mod:`refrnn.dynamics`) is one RK4 step and its
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

The containers (parameters, validation, reference spectra) are in :mod:`refrnn.systems`.
"""

from __future__ import annotations

from numba import njit

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
