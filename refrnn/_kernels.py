"""Dispatch from a model (or reference-system) *kind* to its Numba kernels.

Generic loops -- BPTT (:mod:`refrnn.bptt`), simulation, Jacobian products and Lyapunov
spectra -- are written once and call the functions below, which forward to the kernels
of :mod:`refrnn.equations`. This is how one
time loop serves every model while staying cacheable: Numba cannot cache functions
that receive other jitted functions as arguments (numba/numba#2956), but it caches
this integer dispatch without trouble.

Every kernel follows one calling convention:

``step(kind, theta, dim, x, out)``
    one step of the map, ``out = F(x)``.
``jacobian(kind, theta, dim, x, J)``
    ``J = dF/dx`` at ``x``, shape (dim, dim).
``step_jvp(kind, theta, dim, x, x_out, dtheta, dx, dx_out)``
    tangent: ``dx_out = (dF/dx) dx + (dF/dtheta) dtheta``.
``step_vjp(kind, theta, dim, x, x_out, g, g_theta, g_x)``
    adjoint: ``g_theta += (dF/dtheta)^T g`` and ``g_x = (dF/dx)^T g``.
``step_batch``, ``step_vjp_batch``, ``param_grads_batch``
    the same for many windows at once (batch-major, kinds in :data:`BATCHED_KINDS`):
    states are arrays of shape (n_steps, dim, 16) indexed by a step, and
    the parameter gradient is formed once over all steps and windows.

The first four serve the RNN models (BPTT). ``map_step`` and ``map_jacobian`` add a
``work`` argument (scratch of ``work_size(kind, dim)`` entries, allocated once per loop so
that RK4 stages need no allocation inside time loops) and serve models and the reference
systems of :mod:`refrnn.systems` alike: that is the protocol of :mod:`refrnn.dynamics`.

``theta`` here is the *kernel* vector: the parameter vector of the protocol, extended by
:func:`kernel_layout` where a model's kernels want extra copies (the PLRNN's and the tanh
RNN's W stored column by column; see :mod:`refrnn.equations.plrnn`).

This module imports only :mod:`refrnn.equations` and :mod:`refrnn._linalg`, so that the
containers above it (models, systems) can use it without an import circle. Adding a model
means a module in :mod:`refrnn.equations` and one branch in each dispatch below; the
loops that call them (BPTT, Jacobian products, Lyapunov spectra) do not change.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._linalg import all_finite
from .equations import plrnn, shplrnn, systems, vanilla

PLRNN = plrnn.KIND
VANILLA = vanilla.KIND
SHPLRNN = shplrnn.KIND
#: kinds below this are RNN models; flows are 10..19, maps 20 and above
_FIRST_SYSTEM = 10


@njit(cache=True)
def step(kind, theta, dim, x, out):
    if kind == PLRNN:
        plrnn.step_kernel(theta, dim, x, out)
    elif kind == VANILLA:
        vanilla.step_kernel(theta, dim, x, out)
    elif kind == SHPLRNN:
        shplrnn.step_kernel(theta, dim, x, out)
    else:
        raise ValueError("unknown kernel kind")


@njit(cache=True)
def jacobian(kind, theta, dim, x, J):
    if kind == PLRNN:
        plrnn.jacobian_kernel(theta, dim, x, J)
    elif kind == VANILLA:
        vanilla.jacobian_kernel(theta, dim, x, J)
    elif kind == SHPLRNN:
        shplrnn.jacobian_kernel(theta, dim, x, J)
    else:
        raise ValueError("unknown kernel kind")


@njit(cache=True)
def step_jvp(kind, theta, dim, x, x_out, dtheta, dx, dx_out):
    if kind == PLRNN:
        plrnn.step_jvp_kernel(theta, dim, x, x_out, dtheta, dx, dx_out)
    elif kind == VANILLA:
        vanilla.step_jvp_kernel(theta, dim, x, x_out, dtheta, dx, dx_out)
    elif kind == SHPLRNN:
        shplrnn.step_jvp_kernel(theta, dim, x, x_out, dtheta, dx, dx_out)
    else:
        raise ValueError("unknown kernel kind")


@njit(cache=True)
def step_vjp(kind, theta, dim, x, x_out, g, g_theta, g_x):
    if kind == PLRNN:
        plrnn.step_vjp_kernel(theta, dim, x, x_out, g, g_theta, g_x)
    elif kind == VANILLA:
        vanilla.step_vjp_kernel(theta, dim, x, x_out, g, g_theta, g_x)
    elif kind == SHPLRNN:
        shplrnn.step_vjp_kernel(theta, dim, x, x_out, g, g_theta, g_x)
    else:
        raise ValueError("unknown kernel kind")


#: Kinds with batch-major kernels (``*_batch``: many windows per call, windows the inner
#: dimension; see :mod:`refrnn.equations.plrnn`). Other kinds train window by window.
BATCHED_KINDS = (PLRNN, VANILLA)


@njit(cache=True)
def step_batch(kind, theta, dim, Z, t, Zout, u, H, work):
    if kind == PLRNN:
        plrnn.step_batch_kernel(theta, dim, Z, t, Zout, u, H, work)
    elif kind == VANILLA:
        vanilla.step_batch_kernel(theta, dim, Z, t, Zout, u, H, work)
    else:
        raise ValueError("no batch-major kernels for this kind")


@njit(cache=True)
def step_vjp_batch(kind, theta, dim, Z, t, Zout, u, H, G, v, Gin, p, work):
    if kind == PLRNN:
        plrnn.step_vjp_batch_kernel(theta, dim, Z, t, Zout, u, H, G, v, Gin, p, work)
    elif kind == VANILLA:
        vanilla.step_vjp_batch_kernel(theta, dim, Z, t, Zout, u, H, G, v, Gin, p, work)
    else:
        raise ValueError("no batch-major kernels for this kind")


@njit(cache=True)
def kernel_layout_into(kind, theta, dim, out):
    """``out[:] = kernel_layout(kind, theta, dim)`` for the kinds of :data:`BATCHED_KINDS`."""
    if kind == PLRNN:
        plrnn.kernel_layout_into(theta, dim, out)
    elif kind == VANILLA:
        vanilla.kernel_layout_into(theta, dim, out)
    else:
        raise ValueError("no batch-major kernels for this kind")


@njit(cache=True)
def param_grads_batch(kind, theta, dim, Zin, H, G, g_theta):
    if kind == PLRNN:
        plrnn.param_grads_batch_kernel(theta, dim, Zin, H, G, g_theta)
    elif kind == VANILLA:
        vanilla.param_grads_batch_kernel(theta, dim, Zin, H, G, g_theta)
    else:
        raise ValueError("no batch-major kernels for this kind")


def kernel_layout(kind, theta, dim):
    """The kernel vector of ``kind`` from a parameter vector (or a tangent of one).

    Parameters
    ----------
    kind : int
    theta : ndarray, shape (P,)
    dim : int

    Returns
    -------
    ndarray, shape (P_k,)
        ``theta`` itself for the reference systems; for the RNN models ``theta`` followed
        by the copies their kernels read (see :mod:`refrnn.equations.plrnn`).
    """
    if kind == PLRNN:
        return plrnn.kernel_layout(theta, dim)
    if kind == VANILLA:
        return vanilla.kernel_layout(theta, dim)
    if kind == SHPLRNN:
        return shplrnn.kernel_layout(theta, dim)
    return theta


def work_size(kind, dim):
    """Length of the scratch array ``map_step``/``map_jacobian`` need for ``kind``."""
    return systems.work_size(kind, dim)


#: Every kind the map kernels accept: RNN models (< 10), flows (10..19), maps (>= 20).
KINDS = (PLRNN, VANILLA, SHPLRNN) + systems.FLOWS + systems.MAPS


@njit(cache=True)
def map_step(kind, theta, dim, x, out, work):
    if kind < _FIRST_SYSTEM:
        step(kind, theta, dim, x, out)
    elif kind in systems.FLOWS:
        systems.rk4_step(kind, theta, dim, x, out, work)
    elif kind in systems.MAPS:
        systems.map_step(kind, theta, dim, x, out)
    else:
        raise ValueError("unknown kernel kind")


@njit(cache=True)
def map_jacobian(kind, theta, dim, x, J, work):
    if kind < _FIRST_SYSTEM:
        jacobian(kind, theta, dim, x, J)
    elif kind in systems.FLOWS:
        systems.rk4_jacobian(kind, theta, dim, x, J, work)
    elif kind in systems.MAPS:
        systems.map_jacobian(kind, theta, dim, x, J)
    else:
        raise ValueError("unknown kernel kind")


@njit(cache=True)
def simulate(kind, theta, dim, x0, out, work):
    """Fill ``out`` (shape (n_steps+1, dim)) with the orbit from ``x0``.

    Returns the first step index whose state is non-finite, or -1 if all are finite;
    the caller turns that into a :class:`~refrnn.DivergenceError`.
    """
    out[0, :] = x0
    for t in range(1, out.shape[0]):
        map_step(kind, theta, dim, out[t - 1], out[t], work)
        for i in range(dim):
            if not np.isfinite(out[t, i]):
                return t
    return -1


@njit(cache=True)
def advance(kind, theta, dim, x, xn, work):
    """One step of the map in place, ``x <- F(x)`` (``xn`` is scratch); False if non-finite."""
    map_step(kind, theta, dim, x, xn, work)
    if not all_finite(xn):
        return False
    x[:] = xn
    return True
