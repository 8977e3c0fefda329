r"""Backpropagation through time with sparse teacher forcing (STF), for every model.

Definition (Mikhaeil, Monfared & Durstewitz 2022, Sect. 3 and Alg. 1)
--------------------------------------------------------------------
Data ``X`` has shape (S, T+1, N): S windows of T+1 observations :math:`x_0, \dots, x_T`.
For each window:

* :math:`z_0 = \mathrm{force}(x_0)`, the latent state inferred from data. The forcing map
  is :math:`\mathrm{force}(z, x) = B^+ x` (all M states) for the linear readout and
  :math:`[x, z_{N:}]` (the first N states replaced) for the identity readout; for
  :math:`z_0` the unobserved states of the identity readout are 0.
* For :math:`t = 1, \dots, T`: :math:`z_t = F(\tilde z_{t-1})` with
  :math:`\tilde z_t = \mathrm{force}(z_t, x_t)` if ``tau`` is an integer and
  :math:`t \bmod \tau = 0`, else :math:`\tilde z_t = z_t`.
* Loss, each term taken *before* forcing is applied:

  .. math:: L = \frac{1}{S\,T\,N} \sum_s \sum_{t=1}^{T} \lVert x_t - \hat x(z_t) \rVert^2 .

* The forcing signal is data: no gradient flows through :math:`B^+`, and forced components
  pass no gradient back to earlier steps. This is how forcing cuts the product of
  Jacobians :math:`\partial z_t/\partial z_r = J_t \cdots J_{r+1}` that makes BPTT explode on
  chaotic data (Theorem 2).

``tau=None`` is plain BPTT (only :math:`z_0` comes from data); ``tau=1`` forces every step.

Structure
---------
``_forward_kernel`` returns the cache (states before and after forcing), ``_backward_kernel``
consumes it with an arbitrary cotangent on the predictions, and ``_tangent_kernel`` pushes a
parameter tangent forwards (used by the dot-product test). Each calls the model's own
step / adjoint / tangent rules through :mod:`refrnn._kernels`, so there is one time loop for
all models. Windows are independent and run in parallel (``prange``); per-window gradients
are reduced afterwards in a fixed order, so results do not depend on the thread count.
:func:`loss_and_grad_numpy` is the plain NumPy reference of the same definition.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from . import _kernels
from ._validation import DivergenceError, as_float_array, as_tau
from .models._base import RNNModel

__all__ = [
    "Trajectory",
    "forward",
    "loss_and_grad",
    "vjp",
    "jvp",
    "loss_and_grad_numpy",
]


# ======================================================================================
# Numba kernels. Shapes: Gx, Xhat (S, T+1, N); Zdata, Z, Zf, Gz, dZ, dZf (S, T+1, M);
# G_theta (S, P); G_B (S, N, M). ``tau == 0`` encodes "no forcing".
@njit(cache=True)
def _is_forced(t, tau):
    return tau > 0 and t % tau == 0


@njit(cache=True)
def _force(identity, N, z_data, z):
    """Overwrite the forced components of ``z`` (first N, or all) with the data state."""
    stop = N if identity else z.shape[0]
    for i in range(stop):
        z[i] = z_data[i]


@njit(cache=True)
def _cut(identity, N, g):
    """Zero the gradient of forced components (they are data, not functions of theta)."""
    stop = N if identity else g.shape[0]
    for i in range(stop):
        g[i] = 0.0


@njit(cache=True)
def _readout(identity, B, z, x_out):
    for n in range(x_out.shape[0]):
        if identity:
            x_out[n] = z[n]
        else:
            acc = 0.0
            for i in range(z.shape[0]):
                acc += B[n, i] * z[i]
            x_out[n] = acc


@njit(cache=True)
def _readout_vjp(identity, B, z, gx, g_z, g_B):
    """g_z += dxhat/dz^T gx ; g_B += gx z^T (linear readout only)."""
    for n in range(gx.shape[0]):
        if identity:
            g_z[n] += gx[n]
        else:
            for i in range(z.shape[0]):
                g_z[i] += B[n, i] * gx[n]
                g_B[n, i] += gx[n] * z[i]


@njit(cache=True, parallel=True)
def _forward_kernel(kind, theta, M, identity, B, Zdata, tau, Z, Zf, Xhat, bad):
    S, T1, N = Xhat.shape
    for s in prange(S):
        bad[s] = -1
        Z[s, 0, :] = Zdata[s, 0, :]
        Zf[s, 0, :] = Z[s, 0, :]
        _readout(identity, B, Z[s, 0], Xhat[s, 0])
        for t in range(1, T1):
            _kernels.step(kind, theta, M, Zf[s, t - 1], Z[s, t])
            for i in range(M):
                if not np.isfinite(Z[s, t, i]):
                    bad[s] = t
            if bad[s] >= 0:
                break
            _readout(identity, B, Z[s, t], Xhat[s, t])
            Zf[s, t, :] = Z[s, t, :]
            if _is_forced(t, tau):
                _force(identity, N, Zdata[s, t], Zf[s, t])


@njit(cache=True, parallel=True)
def _backward_kernel(kind, theta, M, identity, B, tau, Z, Zf, Gx, Gz, G_theta, G_B):
    S, T1, N = Gx.shape
    for s in prange(S):
        # Gz[s, t] holds dL/dz_t; dL/dz~_t is kept in Gz[s, t-1] until step t-1 overwrites
        # it -- the row is free by then, so no scratch buffer is needed.
        Gz[s, T1 - 1, :] = 0.0  # nothing after step T: dL/dz~_T = 0
        for t in range(T1 - 1, 0, -1):
            g = Gz[s, t]
            # dL/dz_t = (dL/dz~_t with forced components cut) + readout term of L_t
            if _is_forced(t, tau):
                _cut(identity, N, g)
            _readout_vjp(identity, B, Z[s, t], Gx[s, t], g, G_B[s])
            # step t: z_t = F(z~_{t-1}) -> parameter gradient and dL/dz~_{t-1}
            _kernels.step_vjp(kind, theta, M, Zf[s, t - 1], Z[s, t], g, G_theta[s], Gz[s, t - 1])
        # z_0 is the forcing signal itself; report dL/dz_0 without cutting (sensitivity to
        # the initial state), including a readout term if the cotangent has one at t = 0.
        _readout_vjp(identity, B, Z[s, 0], Gx[s, 0], Gz[s, 0], G_B[s])


@njit(cache=True, parallel=True)
def _tangent_kernel(kind, theta, M, identity, B, tau, Z, Zf, dtheta, dB, dZ, dZf, dXhat):
    S, T1, N = dXhat.shape
    for s in prange(S):
        dZ[s, 0, :] = 0.0  # z_0 is data: no tangent
        dZf[s, 0, :] = 0.0
        for t in range(T1):
            if t > 0:
                _kernels.step_jvp(
                    kind, theta, M, Zf[s, t - 1], Z[s, t], dtheta, dZf[s, t - 1], dZ[s, t]
                )
                dZf[s, t, :] = dZ[s, t, :]
                if _is_forced(t, tau):
                    _cut(identity, N, dZf[s, t])
            _readout(identity, B, dZ[s, t], dXhat[s, t])
            if not identity:  # product rule: + dB z_t
                for n in range(N):
                    for i in range(M):
                        dXhat[s, t, n] += dB[n, i] * Z[s, t, i]


# ======================================================================================
# Public API
class Trajectory(NamedTuple):
    """Result of :func:`forward`.

    Attributes
    ----------
    Z : ndarray, shape (S, T+1, M)
        Latent states :math:`z_t` before forcing (``Z[:, 0]`` is the inferred :math:`z_0`).
    Z_forced : ndarray, shape (S, T+1, M)
        States :math:`\\tilde z_t` after forcing, the inputs of the next step.
    X_hat : ndarray, shape (S, T+1, N)
        Predictions :math:`\\hat x(z_t)`.
    loss : float
        The STF loss L defined in :mod:`refrnn.bptt`.
    """

    Z: np.ndarray
    Z_forced: np.ndarray
    X_hat: np.ndarray
    loss: float


def _check_model(model):
    if not isinstance(model, RNNModel):
        raise TypeError(
            f"model must be a refrnn model (PLRNN, VanillaRNN), got {type(model).__name__}"
        )


def _check_data(model, X):
    X = as_float_array("X", X)
    if X.ndim != 3 or X.shape[2] != model.N or X.shape[1] < 2 or X.shape[0] < 1:
        raise ValueError(
            f"X must have shape (S, T+1, N) with S >= 1, T >= 1 and N = model.N = {model.N}, "
            f"got {X.shape}"
        )
    return X


def _readout_arrays(model):
    identity = model.readout == "identity"
    # Kernels take arrays unconditionally; the identity readout uses a 1x1 placeholder.
    B = np.zeros((1, 1)) if identity else model._B
    return identity, B


def _forcing(model, X, forcing):
    if forcing is None:
        return model.infer_state(X)
    return as_float_array("forcing", forcing, shape=(X.shape[0], X.shape[1], model.M))


def forward(model, X, tau=None, *, forcing=None):
    """Run the STF forward pass on windows ``X`` and return the trajectories.

    Parameters
    ----------
    model : PLRNN or VanillaRNN
    X : ndarray, shape (S, T+1, N)
        Observation windows.
    tau : int or None
        Forcing interval (None: plain BPTT, 1: force every step).
    forcing : ndarray, shape (S, T+1, M), optional
        The data-inferred states used for :math:`z_0` and at forced steps (only their
        first N components with the identity readout). Default ``model.infer_state(X)``,
        i.e. :math:`B^+ x_t` or :math:`[x_t, 0]`. Treated as constant data: no gradient
        flows through it. Passing it explicitly lets finite differences in B hold the
        forcing signal fixed, as the definition requires.

    Returns
    -------
    Trajectory
        ``(Z, Z_forced, X_hat, loss)``, see :class:`Trajectory`.

    Raises
    ------
    DivergenceError
        If a state overflows; the message names the window and step.
    """
    _check_model(model)
    X = _check_data(model, X)
    tau_k = as_tau(tau)
    S, T1, N = X.shape
    identity, B = _readout_arrays(model)
    Zdata = _forcing(model, X, forcing)
    Z = np.empty((S, T1, model.M))
    Zf = np.empty_like(Z)
    Xhat = np.empty_like(X)
    bad = np.empty(S, dtype=np.int64)
    _forward_kernel(model._kind, model._theta, model.M, identity, B, Zdata, tau_k, Z, Zf, Xhat, bad)
    if np.any(bad >= 0):
        s = int(np.flatnonzero(bad >= 0)[0])
        raise DivergenceError(
            f"{model!r}: the forward pass became non-finite in window {s} at step {int(bad[s])} "
            f"(tau={tau}); the model's orbit diverges"
        )
    resid = X[:, 1:] - Xhat[:, 1:]
    loss = float(np.sum(resid * resid) / (S * (T1 - 1) * N))
    return Trajectory(Z, Zf, Xhat, loss)


def _grads_dict(model, G_theta, G_B):
    grads = model._unpack(G_theta.sum(axis=0))
    if model.readout == "linear":
        grads["B"] = G_B.sum(axis=0)
    return grads


def _vjp_from_cache(model, traj, Gx, tau):
    identity, B = _readout_arrays(model)
    S, T1, N = Gx.shape
    Gz = np.empty_like(traj.Z)
    G_theta = np.zeros((S, model._theta.shape[0]))
    G_B = np.zeros((S, N, model.M) if not identity else (S, 1, 1))
    _backward_kernel(
        model._kind,
        model._theta,
        model.M,
        identity,
        B,
        as_tau(tau),
        traj.Z,
        traj.Z_forced,
        Gx,
        Gz,
        G_theta,
        G_B,
    )
    return _grads_dict(model, G_theta, G_B), Gz


def loss_and_grad(model, X, tau=None, *, return_state_grads=False, forcing=None):
    r"""STF loss and its exact gradient with respect to every parameter.

    Implements the definition in :mod:`refrnn.bptt` (sparse teacher forcing; the paper's
    Sect. 3). The gradient is computed by hand-written BPTT in Numba.

    Parameters
    ----------
    model : PLRNN or VanillaRNN
    X : ndarray, shape (S, T+1, N)
        Observation windows (float64, finite).
    tau : int or None
        Forcing interval; None is plain BPTT, 1 forces every step. Values larger than T
        simply never force after :math:`z_0`.
    return_state_grads : bool
        Also return the per-step state gradients.
    forcing : ndarray, shape (S, T+1, M), optional
        The data-inferred states used for :math:`z_0` and at forced steps (only their
        first N components with the identity readout). Default ``model.infer_state(X)``,
        i.e. :math:`B^+ x_t` or :math:`[x_t, 0]`. Treated as constant data: no gradient
        flows through it. Passing it explicitly lets finite differences in B hold the
        forcing signal fixed, as the definition requires.

    Returns
    -------
    loss : float
    grads : dict
        Same keys and shapes as ``model.params``. For the PLRNN ``grads["W"]`` has a zero
        diagonal (W's diagonal is not a parameter).
    state_grads : ndarray, shape (S, T+1, M)
        Only with ``return_state_grads=True``: :math:`\partial L/\partial z_t` for the states
        *before* forcing (for a forced linear-readout step, only the step's own loss term),
        and at t = 0 the gradient with respect to the initial state :math:`z_0`.

    Raises
    ------
    DivergenceError
        If the forward pass or a gradient is non-finite.
    """
    traj = forward(model, X, tau, forcing=forcing)
    X = np.ascontiguousarray(X, dtype=np.float64)
    S, T1, N = X.shape
    # dL/dxhat_t = -2/(S T N) (x_t - xhat_t) for t >= 1; no loss term at t = 0.
    Gx = (-2.0 / (S * (T1 - 1) * N)) * (X - traj.X_hat)
    Gx[:, 0] = 0.0
    grads, Gz = _vjp_from_cache(model, traj, Gx, tau)
    for k, g in grads.items():
        if not np.all(np.isfinite(g)):
            raise DivergenceError(
                f"{model!r}: the gradient of {k} is non-finite (tau={tau}); the Jacobian "
                f"product overflowed"
            )
    if return_state_grads:
        return traj.loss, grads, Gz
    return traj.loss, grads


def vjp(model, X, cotangent, tau=None, *, forcing=None):
    r"""Reverse mode for the map parameters -> predictions :math:`\hat X`.

    Returns :math:`(\partial \hat X/\partial\theta)^\top U` as a dict keyed like
    ``model.params`` (the identity readout has no ``B``), where ``cotangent`` U has shape
    (S, T+1, N). With :math:`U = -\tfrac{2}{STN}(X - \hat X)` (and zero at t = 0) this is the
    loss gradient.
    """
    traj = forward(model, X, tau, forcing=forcing)
    U = as_float_array("cotangent", cotangent, shape=traj.X_hat.shape)
    return _vjp_from_cache(model, traj, U, tau)[0]


def jvp(model, X, tangent, tau=None, *, forcing=None):
    r"""Forward mode for the map parameters -> predictions :math:`\hat X`.

    Parameters
    ----------
    tangent : dict
        A direction in parameter space, keyed like ``model.params`` (missing keys are 0).

    Returns
    -------
    dX_hat : ndarray, shape (S, T+1, N)
        :math:`(\partial \hat X/\partial\theta)\, v`.
    """
    traj = forward(model, X, tau, forcing=forcing)
    params = model.params
    unknown = set(tangent) - set(params)
    if unknown:
        raise ValueError(f"tangent has unknown keys {sorted(unknown)}")
    full = {
        k: as_float_array(f"tangent[{k!r}]", tangent.get(k, np.zeros_like(v)), shape=v.shape)
        for k, v in params.items()
    }
    dtheta = model._pack(full)
    identity, B = _readout_arrays(model)
    dB = np.zeros((1, 1)) if identity else full["B"]
    dZ = np.empty_like(traj.Z)
    dZf = np.empty_like(traj.Z)
    dXhat = np.empty_like(traj.X_hat)
    _tangent_kernel(
        model._kind,
        model._theta,
        model.M,
        identity,
        B,
        as_tau(tau),
        traj.Z,
        traj.Z_forced,
        dtheta,
        dB,
        dZ,
        dZf,
        dXhat,
    )
    return dXhat


# ======================================================================================
# Plain NumPy reference: the same definition written as directly as possible.
def loss_and_grad_numpy(model, X, tau=None, *, forcing=None):
    """Slow, obvious NumPy implementation of :func:`loss_and_grad` (for tests and reading).

    Returns ``(loss, grads, state_grads)`` exactly as ``loss_and_grad(...,
    return_state_grads=True)``.
    """
    X = np.asarray(X, dtype=np.float64)
    S, T1, N = X.shape
    T = T1 - 1
    p = model.params
    linear = model.readout == "linear"
    observe = (lambda Z: Z @ p["B"].T) if linear else (lambda Z: Z[:, :N])

    def forced(t):
        return tau is not None and t % tau == 0

    Zdata = model.infer_state(X) if forcing is None else np.asarray(forcing)

    def force(Z, t):
        Z = Z.copy()
        if linear:
            Z[:] = Zdata[:, t]
        else:
            Z[:, :N] = Zdata[:, t, :N]
        return Z

    # forward
    Z = [Zdata[:, 0]]
    Zf = [Z[0]]
    for t in range(1, T1):
        Z.append(type(model)._step_numpy(p, Zf[t - 1]))
        Zf.append(force(Z[t], t) if forced(t) else Z[t])
    loss = sum(np.sum((X[:, t] - observe(Z[t])) ** 2) for t in range(1, T1)) / (S * T * N)

    # backward
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dZ = np.zeros((S, T1, model.M))
    g_tilde = np.zeros((S, model.M))  # dL/dz~_T = 0
    for t in range(T, 0, -1):
        g = g_tilde.copy()
        if forced(t):
            if linear:
                g[:] = 0.0
            else:
                g[:, :N] = 0.0
        gx = -2.0 / (S * T * N) * (X[:, t] - observe(Z[t]))
        if linear:
            g += gx @ p["B"]
            grads["B"] += gx.T @ Z[t]
        else:
            g[:, :N] += gx
        dZ[:, t] = g
        g_tilde, g_params = type(model)._step_vjp_numpy(p, Zf[t - 1], Z[t], g)
        for k, v in g_params.items():
            grads[k] += v
    dZ[:, 0] = g_tilde
    return float(loss), grads, dZ
