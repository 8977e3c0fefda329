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

* Forced components pass no gradient back to earlier steps: the forced state is a
  function of the data, not of :math:`z_{t}`. This is how forcing cuts the product of
  Jacobians :math:`\partial z_t/\partial z_r = J_t \cdots J_{r+1}` that makes BPTT explode on
  chaotic data (Theorem 2).
* With the linear readout the forcing states :math:`B^+ x_t` depend on B. By default
  (``detach_forcing=False``, as the authors' released code) the gradient flows through
  :math:`B^+` at :math:`z_0` and at every forced step, so ``grads["B"]`` has a readout path
  and a forcing path (:mod:`refrnn.forcing` derives the second); with
  ``detach_forcing=True`` the forcing states are constant data. The identity readout forces
  with :math:`x_t` itself, which depends on no parameter: the setting does not change it.
  Either way the loss and the gradients of the map parameters are the same.

``tau=None`` is plain BPTT (only :math:`z_0` comes from data); ``tau=1`` forces every step.

Structure
---------
One window is one independent problem. ``_forward_window`` runs the forward pass of a
window and returns its cache (states before and after forcing) and its squared error;
``_backward_window`` consumes the cache with an arbitrary cotangent on the predictions;
``_tangent_kernel`` pushes a parameter tangent forwards (used by the dot-product test).
Each calls the model's own step / adjoint / tangent rules through :mod:`refrnn._kernels`,
so there is one time loop for all models. The kernels run windows in parallel
(``prange``): ``_forward_kernel`` and ``_backward_kernel`` serve :func:`forward` and
:func:`vjp`, and ``_loss_and_grad_kernel`` does both passes of a window in one go (the
window's states are still in the CPU cache when its backward pass reads them, and the loss
cotangent is formed on the fly). Per-window gradients are reduced afterwards in a fixed
order, so results do not depend on the thread count.
:func:`loss_and_grad_numpy` is the plain NumPy reference of the same definition.

These per-window kernels are the readable form. For the PLRNN and the tanh RNN,
:func:`loss_and_grad` (without ``return_state_grads``) runs the same computation
batch-major -- windows as the inner, vectorised dimension, parameter gradients as one
BLAS product -- in :mod:`refrnn._batched`, which agrees with them to rounding (tested to
1e-12 against :func:`loss_and_grad_numpy`); a non-finite state sends it back here, to
report where.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from . import _batched, _kernels
from ._batched import schedule
from ._validation import (
    DivergenceError,
    as_bool,
    as_float_array,
    as_positive_int,
    check_model,
)
from .forcing import pinv_jvp, pinv_vjp, pinv_vjp_kernel

__all__ = [
    "Trajectory",
    "warm_start",
    "forward",
    "loss_and_grad",
    "vjp",
    "jvp",
    "loss_and_grad_numpy",
]


# ======================================================================================
# Numba kernels. Shapes: Gx, Xhat (S, T+1, N); Z, dZ, dZf (S, T+1, M); G_theta (S, P);
# G_B (S, N, M). ``tau == 0`` encodes "no forcing". The forcing signal F has one row per
# step that uses it, steps 0, tau, 2 tau, ... (only step 0 without forcing): shape
# (S, T // tau + 1, M). Zf and Gz have either T+1 rows per window (the full history, when
# the caller returns it) or 2 (scratch): their rows are indexed modulo their length, so
# one kernel serves both and loss_and_grad keeps in memory only the states z_t that the
# backward pass needs (a third of the memory, and of the memory traffic, of Z, Zf and Gz).
@njit(cache=True)
def _is_forced(t, tau):
    return tau > 0 and t % tau == 0


@njit(cache=True)
def _forcing_row(t, tau):
    """Row of F holding the forcing signal of step t (t = 0 or a forced step)."""
    return t // tau if tau > 0 else 0


@njit(cache=True)
def _force(identity, N, alpha, z_data, z):
    """Forced components of ``z`` (first N, or all) <- (1 - alpha) z + alpha z_data.

    alpha = 1 (sparse teacher forcing) overwrites them with the data state."""
    stop = N if identity else z.shape[0]
    if alpha == 1.0:
        for i in range(stop):
            z[i] = z_data[i]
    else:
        for i in range(stop):
            z[i] = (1.0 - alpha) * z[i] + alpha * z_data[i]


@njit(cache=True)
def _cut(identity, N, alpha, g):
    """Scale the gradient of forced components by (1 - alpha): the part alpha of the
    forced state is data, not a function of theta (alpha = 1 cuts it completely)."""
    stop = N if identity else g.shape[0]
    for i in range(stop):
        g[i] = 0.0 if alpha == 1.0 else (1.0 - alpha) * g[i]


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


@njit(cache=True)
def _forward_window(kind, theta, M, identity, B, X, F, tau, alpha, Z, Zf, Xhat):
    r"""Forward pass of one window: ``Z[t]`` = z_t, ``Zf[t % len(Zf)]`` = z~_t.

    Returns ``(sq, bad)``: the sum of squared residuals :math:`\sum_t \lVert x_t -
    \hat x_t\rVert^2` over t >= 1, and the first step whose state is non-finite (-1 if
    none; the pass stops there).
    """
    T1, N = Xhat.shape
    R = Zf.shape[0]
    Z[0, :] = F[0, :]
    Zf[0, :] = F[0, :]
    _readout(identity, B, Z[0], Xhat[0])
    sq = 0.0
    for t in range(1, T1):
        z = Z[t]
        _kernels.step(kind, theta, M, Zf[(t - 1) % R], z)
        for i in range(M):
            if not np.isfinite(z[i]):
                return sq, t
        _readout(identity, B, z, Xhat[t])
        for n in range(N):
            e = X[t, n] - Xhat[t, n]
            sq += e * e
        zf = Zf[t % R]
        for i in range(M):
            zf[i] = z[i]
        if _is_forced(t, tau):
            _force(identity, N, alpha, F[_forcing_row(t, tau)], zf)
    return sq, -1


@njit(cache=True)
def _backward_window(kind, theta, M, identity, B, tau, alpha, Z, F, Gx, Gz, zin, g_theta, g_B,
                     GF):  # fmt: skip
    """Backward pass of one window: ``Gz[t % len(Gz)]`` = dL/dz_t; gradients accumulated
    in place. ``zin`` (M,) is scratch for the input z~_{t-1} of a step after a forced one.
    ``GF`` (K, M) receives the gradient with respect to each forcing state (row k: step
    k*tau, row 0: z_0), from which the caller forms the gradient through B^+."""
    T1, N = Gx.shape
    R = Gz.shape[0]
    # Gz[t] holds dL/dz_t; dL/dz~_t is kept in Gz[t-1] until step t-1 overwrites it -- the
    # row is free by then, so no scratch buffer is needed.
    Gz[(T1 - 1) % R, :] = 0.0  # nothing after step T: dL/dz~_T = 0
    for t in range(T1 - 1, 0, -1):
        g = Gz[t % R]
        # dL/dz_t = (dL/dz~_t with forced components cut) + readout term of L_t
        if _is_forced(t, tau):
            # z~_t = force(z_t, x_t): its forced part is the forcing state (gradient kept
            # for B^+), the rest is z_t.
            k = _forcing_row(t, tau)
            for i in range(M):
                GF[k, i] = alpha * g[i]
            _cut(identity, N, alpha, g)
        _readout_vjp(identity, B, Z[t], Gx[t], g, g_B)
        # step t: z_t = F(z~_{t-1}) -> parameter gradient and dL/dz~_{t-1}. The input
        # z~_{t-1} is z_{t-1}, except after a forced step, where it is rebuilt from F.
        x = Z[t - 1]
        if t > 1 and _is_forced(t - 1, tau):
            for i in range(M):
                zin[i] = x[i]
            _force(identity, N, alpha, F[_forcing_row(t - 1, tau)], zin)
            x = zin
        _kernels.step_vjp(kind, theta, M, x, Z[t], g, g_theta, Gz[(t - 1) % R])
    # z_0 is the forcing signal itself; report dL/dz_0 without cutting (sensitivity to the
    # initial state), including a readout term if the cotangent has one at t = 0.
    _readout_vjp(identity, B, Z[0], Gx[0], Gz[0], g_B)
    GF[0, :] = Gz[0]


@njit(cache=True, parallel=True)
def _forward_kernel(kind, theta, M, identity, B, X, F, tau, alpha, Z, Zf, Xhat, sq, bad):
    for s in prange(X.shape[0]):
        sq[s], bad[s] = _forward_window(
            kind, theta, M, identity, B, X[s], F[s], tau, alpha, Z[s], Zf[s], Xhat[s]
        )


@njit(cache=True, parallel=True)
def _backward_kernel(kind, theta, M, identity, B, tau, alpha, Z, F, Gx, Gz, zin, G_theta, G_B,
                     GF):  # fmt: skip
    for s in prange(Gx.shape[0]):
        _backward_window(
            kind, theta, M, identity, B, tau, alpha, Z[s], F[s], Gx[s], Gz[s], zin[s], G_theta[s],
            G_B[s], GF[s],
        )  # fmt: skip


@njit(cache=True, parallel=True)
def _loss_and_grad_kernel(kind, theta, M, identity, B, X, F, tau, alpha, scale, Z, Zf, Xhat, Gx,
                          Gz,
                          zin, G_theta, G_B, GF, sq, bad):  # fmt: skip
    r"""Forward pass, loss cotangent and backward pass, window by window.

    ``scale`` is :math:`-2/(STN)`: the cotangent of the loss is
    :math:`\partial L/\partial \hat x_t = \mathrm{scale}\,(x_t - \hat x_t)` for t >= 1.
    """
    T1, N = X.shape[1], X.shape[2]
    for s in prange(X.shape[0]):
        sq[s], bad[s] = _forward_window(
            kind, theta, M, identity, B, X[s], F[s], tau, alpha, Z[s], Zf[s], Xhat[s]
        )
        if bad[s] >= 0:
            continue  # the caller raises; nothing to differentiate
        gx = Gx[s]
        gx[0, :] = 0.0  # no loss term at t = 0
        for t in range(1, T1):
            for n in range(N):
                gx[t, n] = scale * (X[s, t, n] - Xhat[s, t, n])
        _backward_window(
            kind, theta, M, identity, B, tau, alpha, Z[s], F[s], gx, Gz[s], zin[s], G_theta[s],
            G_B[s], GF[s],
        )  # fmt: skip


@njit(cache=True, parallel=True)
def _tangent_kernel(kind, theta, M, identity, B, tau, alpha, Z, Zf, dtheta, dB, dF, dZ, dZf,
                    dXhat):  # fmt: skip
    """``dF`` (S, K, M): tangents of the forcing states (zero when they are data)."""
    S, T1, N = dXhat.shape
    for s in prange(S):
        dZ[s, 0, :] = dF[s, 0]  # z_0 is the forcing state
        dZf[s, 0, :] = dF[s, 0]
        for t in range(T1):
            if t > 0:
                _kernels.step_jvp(
                    kind, theta, M, Zf[s, t - 1], Z[s, t], dtheta, dZf[s, t - 1], dZ[s, t]
                )
                dZf[s, t, :] = dZ[s, t, :]
                if _is_forced(t, tau):
                    _force(identity, N, alpha, dF[s, _forcing_row(t, tau)], dZf[s, t])
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

    def __repr__(self):  # shapes, not the arrays
        (S, T1, M), N = self.Z.shape, self.X_hat.shape[2]
        return f"Trajectory(S={S}, T={T1 - 1}, M={M}, N={N}, loss={self.loss:.6g})"


def _kernel_theta(model):
    """The model's kernel parameter vector (:func:`refrnn._kernels.kernel_layout`)."""
    return _kernels.kernel_layout(model.kind, model.theta, model.M)


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
    B = np.zeros((1, 1)) if identity else model.B
    return identity, B


def _through_pinv(model, forcing, detach_forcing):
    """Whether the gradient flows through B^+ (validated ``detach_forcing``)."""
    detach_forcing = as_bool("detach_forcing", detach_forcing)
    if model.readout != "linear" or detach_forcing:
        return False  # the identity readout forces with the data themselves
    if forcing is not None:
        raise ValueError(
            "forcing= supplies the forcing states as constant data, so no gradient can flow "
            "through B^+; pass detach_forcing=True with it"
        )
    return True


def _forcing(model, X, tau_k, forcing):
    """The kernels' forcing signal.

    Returns ``(F, Xf)``: F, shape (S, K, M), the data-inferred states of steps 0, tau,
    2 tau, ... (only step 0 without forcing) -- the only steps that use them -- and Xf,
    shape (S, K, N), the observations they were inferred from.
    """
    S, T1, N = X.shape
    every = tau_k if tau_k > 0 else T1
    Xf = np.ascontiguousarray(X[:, ::every])
    if forcing is None:
        K = Xf.shape[1]
        # as one (S*K, N) matrix: numpy's batched matmul over a 3-D array is ~20x slower
        return model.infer_state(Xf.reshape(S * K, N)).reshape(S, K, model.M), Xf
    forcing = as_float_array("forcing", forcing, shape=(S, T1, model.M))
    return np.ascontiguousarray(forcing[:, ::every]), Xf


def forward(model, X, tau=None, *, alpha=None, forcing=None):
    """Run the STF forward pass on windows ``X`` and return the trajectories.

    Parameters
    ----------
    model : RNNModel (PLRNN, VanillaRNN or ShallowPLRNN)
    X : ndarray, shape (S, T+1, N)
        Observation windows.
    tau : int or None
        Forcing interval (None: plain BPTT, 1: force every step).
    alpha : float in [0, 1], optional
        Generalized teacher forcing, see :func:`loss_and_grad`.
    forcing : ndarray, shape (S, T+1, M), optional
        The data-inferred states used for :math:`z_0` and at forced steps (only their
        first N components with the identity readout). Default ``model.infer_state(X)``,
        i.e. :math:`B^+ x_t` or :math:`[x_t, 0]`.

    Returns
    -------
    Trajectory
        ``(Z, Z_forced, X_hat, loss)``, see :class:`Trajectory`.

    Raises
    ------
    DivergenceError
        If a state overflows; the message names the window and step.
    """
    check_model(model)
    X = _check_data(model, X)
    tau_k, alpha_k = schedule(tau, alpha)
    S, T1, N = X.shape
    identity, B = _readout_arrays(model)
    F, _ = _forcing(model, X, tau_k, forcing)
    Z = np.empty((S, T1, model.M))
    Zf = np.empty_like(Z)
    Xhat = np.empty_like(X)
    sq = np.empty(S)
    bad = np.empty(S, dtype=np.int64)
    _forward_kernel(
        model.kind, _kernel_theta(model), model.M, identity, B, X, F, tau_k, alpha_k, Z, Zf,
        Xhat, sq, bad,
    )  # fmt: skip
    _raise_if_diverged(model, bad, tau)
    _raise_if_loss_overflowed(model, X, Xhat, sq, tau)
    return Trajectory(Z, Zf, Xhat, float(sq.sum() / (S * (T1 - 1) * N)))


def warm_start(model, X, warmup, tau):
    r"""Split windows into a warm-up and a training part, and infer the unobserved part of
    :math:`z_0` by running the model over the warm-up.

    With the identity readout, :math:`z_0 = [x_0, 0]` leaves the M - N unobserved states
    at zero; when only N of M states are forced, they never learn where the data's orbit
    is (``docs/results/identity_readout.md``). Here each window is preceded by
    ``warmup`` observations :math:`x_{-K}, \dots, x_{-1}`: the model runs over them from
    :math:`[x_{-K}, 0]`, forced every ``tau`` steps as in training, and its state at the
    window's start gives the unobserved components, :math:`z_0 = [x_0, z_{0, N:}]`. The
    warm-up is constant data for the gradient (no BPTT through it) and has no loss terms.

    Parameters
    ----------
    model : RNNModel (PLRNN, VanillaRNN or ShallowPLRNN)
        With the identity readout (the linear readout infers all states by :math:`B^+`).
    X : ndarray, shape (S, K+T+1, N)
        Windows that include the warm-up: ``X[:, :K]`` precede the training part.
    warmup : int
        K >= 0 (0: ``X`` is returned with the default forcing states).
    tau : int or None
        Forcing interval during the warm-up (use the training tau).

    Returns
    -------
    X_train : ndarray, shape (S, T+1, N)
        ``X[:, K:]``.
    forcing : ndarray, shape (S, T+1, M)
        The forcing states for :func:`loss_and_grad` (``forcing=``): ``infer_state`` of
        ``X_train`` with the unobserved part of row 0 from the warm-up.
    """
    check_model(model)
    if model.readout != "identity":
        raise ValueError(
            "warm_start is for the identity readout: the linear readout infers all M states "
            "from x by B^+"
        )
    K = as_positive_int("warmup", warmup, minimum=0)
    X = as_float_array("X", X)
    if X.ndim != 3 or X.shape[2] != model.N or X.shape[1] < K + 2:
        raise ValueError(
            f"X must have shape (S, K+T+1, N) with K = warmup = {K}, T >= 1 and "
            f"N = model.N = {model.N}, got {X.shape}"
        )
    X_train = np.ascontiguousarray(X[:, K:])
    F = model.infer_state(X_train)
    if K > 0:
        warm = forward(model, np.ascontiguousarray(X[:, : K + 1]), tau)
        # the state entering the window's first step: forced with x_0 on the observed part
        F[:, 0, model.N :] = warm.Z[:, K, model.N :]
    return X_train, F


def _raise_if_diverged(model, bad, tau):
    if np.any(bad >= 0):
        s = int(np.flatnonzero(bad >= 0)[0])
        raise DivergenceError(
            f"{model!r}: the forward pass became non-finite in window {s} at step {int(bad[s])} "
            f"(tau={tau}); the model's orbit diverges"
        )


def _raise_if_loss_overflowed(model, X, Xhat, sq, tau):
    """The states are finite but a squared residual overflowed (states or data ~1e154)."""
    if np.all(np.isfinite(sq)):
        return
    s = int(np.flatnonzero(~np.isfinite(sq))[0])
    with np.errstate(over="ignore", invalid="ignore"):
        r2 = np.sum((X[s] - Xhat[s]) ** 2, axis=1)
    t = int(np.flatnonzero(~np.isfinite(r2[1:]))[0]) + 1 if np.any(~np.isfinite(r2[1:])) else -1
    raise DivergenceError(
        f"{model!r}: the squared prediction error overflowed in window {s} at step {t} "
        f"(tau={tau}; largest |x_hat| there {np.max(np.abs(Xhat[s, t])):.3g}, largest |x| "
        f"{np.max(np.abs(X[s, t])):.3g}); the model's orbit diverges or the data are not "
        f"standardised"
    )


def _raise_if_grads_not_finite(model, grads, tau):
    for k, g in grads.items():
        if not np.all(np.isfinite(g)):
            raise DivergenceError(
                f"{model!r}: the gradient of {k} is non-finite (tau={tau}); the Jacobian "
                f"product overflowed"
            )


def _grads_dict(model, G_theta, G_B, GF, Xf, through_pinv):
    """Reduce the per-window gradients in a fixed order; add the path through B^+.

    ``GF`` (S, K, M) holds dL/dz~ for each forcing state z~ = B^+ x, ``Xf`` (S, K, N) the
    observations x; with P = B^+, dL/dP = sum_k dL/dz~_k x_k^T (see :mod:`refrnn.forcing`).
    """
    grads = model.unpack(G_theta.sum(axis=0)[: model.theta.shape[0]])
    if model.readout == "linear":
        grads["B"] = G_B.sum(axis=0)
        if through_pinv:
            M, N = model.M, model.N
            G_P = GF.reshape(-1, M).T @ Xf.reshape(-1, N)
            G_B_pinv = np.empty((N, M))
            pinv_vjp_kernel(model.B, model.B_pinv, G_P, G_B_pinv)
            grads["B"] += G_B_pinv
    return grads


def _vjp_from_cache(model, traj, F, Xf, Gx, tau_k, alpha_k, through_pinv):
    identity, B = _readout_arrays(model)
    S, T1, N = Gx.shape
    Gz = np.empty_like(traj.Z)
    theta_k = _kernel_theta(model)
    G_theta = np.zeros((S, theta_k.shape[0]))
    G_B = np.zeros((S, N, model.M) if not identity else (S, 1, 1))
    GF = np.zeros(F.shape)
    _backward_kernel(
        model.kind, theta_k, model.M, identity, B, tau_k, alpha_k, traj.Z, F, Gx, Gz,
        np.empty((S, model.M)), G_theta, G_B, GF,
    )  # fmt: skip
    return _grads_dict(model, G_theta, G_B, GF, Xf, through_pinv), Gz


_DETACH_DOC = r"""detach_forcing : bool
        Linear readout only. False (default, as the authors' released code): the loss is
        differentiated through :math:`B^+` wherever the forcing states :math:`B^+ x_t` are
        used (:math:`z_0` and every forced step), so ``grads["B"]`` holds both paths of B
        (readout and forcing; :mod:`refrnn.forcing` derives the second). True: the
        forcing states are constant data and only the readout path counts. The identity
        readout forces with the data themselves; the setting does not change it."""


def loss_and_grad(
    model,
    X,
    tau=None,
    *,
    alpha=None,
    return_state_grads=False,
    forcing=None,
    detach_forcing=False,
):
    r"""STF loss and its exact gradient with respect to every parameter.

    Implements the definition in :mod:`refrnn.bptt` (sparse teacher forcing; the paper's
    Sect. 3). The gradient is computed by hand-written BPTT in Numba.

    Parameters
    ----------
    model : RNNModel (PLRNN, VanillaRNN or ShallowPLRNN)
    X : ndarray, shape (S, T+1, N)
        Observation windows (float64, finite).
    tau : int or None
        Forcing interval; None is plain BPTT, 1 forces every step. Values larger than T
        simply never force after :math:`z_0`.
    alpha : float in [0, 1], optional
        Generalized teacher forcing (GTF; Doya 1992; Hess et al. 2023, Sect. 3.2): at
        every forced step the state passed on is
        :math:`\tilde z_t = (1-\alpha)\,z_t + \alpha\,\hat z_t` on the forced
        components (:math:`\hat z_t` the forcing state, :math:`B^+ x_t` or :math:`x_t`),
        instead of :math:`\hat z_t` itself; the loss term is still taken on :math:`z_t`.
        The forced steps are every step when ``tau`` is None, else every ``tau``-th step
        (``tau`` and ``alpha`` together: GTF applied sparsely). ``alpha=None`` (default)
        is sparse teacher forcing, i.e. alpha = 1 at the forced steps. Identities:
        ``alpha=0`` is plain BPTT (``tau=None``), ``alpha=1`` equals ``tau=1``.
        Backward, the gradient reaching :math:`z_t` through :math:`\tilde z_t` is scaled
        by :math:`1-\alpha` on the forced components, so each Jacobian factor of
        :math:`\partial z_t/\partial z_r` is multiplied by :math:`(1-\alpha)` there
        (all M components with the linear readout): the product's growth
        :math:`\|J_t\cdots J_{r+1}\|` is damped by :math:`(1-\alpha)^{t-r}`.
    return_state_grads : bool
        Also return the per-step state gradients.
    forcing : ndarray, shape (S, T+1, M), optional
        The data-inferred states used for :math:`z_0` and at forced steps (only their
        first N components with the identity readout), as constant data. Default
        ``model.infer_state(X)``, i.e. :math:`B^+ x_t` or :math:`[x_t, 0]`. With the linear
        readout it needs ``detach_forcing=True``.
    {detach}

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
    check_model(model)
    X = _check_data(model, X)
    through_pinv = _through_pinv(model, forcing, detach_forcing)
    tau_k, alpha_k = schedule(tau, alpha)
    S, T1, N = X.shape
    identity, B = _readout_arrays(model)
    M = model.M
    theta_k = _kernel_theta(model)
    if model.kind in _kernels.BATCHED_KINDS and not return_state_grads:
        # the same computation with windows as the inner dimension
        # (refrnn._batched); if a state or an error is not finite, the window-by-window
        # kernels below say where
        ws = _batched.Workspace.reused(S, T1 - 1, M, N, theta_k.shape[0])
        every = tau_k if tau_k > 0 else T1
        Ft = ws.forcing(len(range(0, T1, every)))
        if forcing is not None:
            Ft[:] = _forcing(model, X, tau_k, forcing)[0].transpose(1, 2, 0)
        P = model.theta.shape[0]
        grad = np.empty(P + (0 if identity else N * M))
        Bpinv = np.zeros((1, 1)) if identity else model.B_pinv
        with _batched.blas_limit(M):
            status, loss = _batched.batch_loss_and_grad(
                model.kind, theta_k, P, M, identity, B, Bpinv, X, Ft, forcing is not None,
                tau_k, alpha_k, through_pinv, grad, ws,
            )  # fmt: skip
        if status == 0:
            grads = model.unpack(grad[:P])
            if not identity:
                grads["B"] = grad[P:].reshape(N, M)
            return loss, grads
    F, Xf = _forcing(model, X, tau_k, forcing)
    # Only the states z_t are kept for the backward pass; z~_t and dL/dz_t live in two
    # scratch rows per window unless the caller asks for the state gradients.
    Z = np.empty((S, T1, M))
    Zf = np.empty((S, 2, M))
    Gz = np.empty((S, T1 if return_state_grads else 2, M))
    Xhat, Gx = np.empty_like(X), np.empty_like(X)
    sq = np.empty(S)
    bad = np.empty(S, dtype=np.int64)
    G_theta = np.zeros((S, theta_k.shape[0]))
    G_B = np.zeros((S, N, M) if not identity else (S, 1, 1))
    GF = np.zeros(F.shape)
    scale = -2.0 / (S * (T1 - 1) * N)  # dL/dxhat_t = scale (x_t - xhat_t)
    _loss_and_grad_kernel(
        model.kind, theta_k, M, identity, B, X, F, tau_k, alpha_k, scale,
        Z, Zf, Xhat, Gx, Gz, np.empty((S, M)), G_theta, G_B, GF, sq, bad,
    )  # fmt: skip
    _raise_if_diverged(model, bad, tau)
    _raise_if_loss_overflowed(model, X, Xhat, sq, tau)
    loss = float(sq.sum() / (S * (T1 - 1) * N))
    grads = _grads_dict(model, G_theta, G_B, GF, Xf, through_pinv)
    _raise_if_grads_not_finite(model, grads, tau)
    if return_state_grads:
        return loss, grads, Gz
    return loss, grads


loss_and_grad.__doc__ = loss_and_grad.__doc__.replace("{detach}", _DETACH_DOC)


def vjp(model, X, cotangent, tau=None, *, alpha=None, forcing=None, detach_forcing=False):
    r"""Reverse mode for the map parameters -> predictions :math:`\hat X`.

    Returns :math:`(\partial \hat X/\partial\theta)^\top U` as a dict keyed like
    ``model.params`` (the identity readout has no ``B``), where ``cotangent`` U has shape
    (S, T+1, N). With :math:`U = -\tfrac{2}{{STN}}(X - \hat X)` (and zero at t = 0) this is
    the loss gradient. ``tau``, ``alpha``, ``forcing`` and ``detach_forcing`` as in
    :func:`loss_and_grad`.
    """
    check_model(model)
    X = _check_data(model, X)
    through_pinv = _through_pinv(model, forcing, detach_forcing)
    traj = forward(model, X, tau, alpha=alpha, forcing=forcing)
    U = as_float_array("cotangent", cotangent, shape=traj.X_hat.shape)
    tau_k, alpha_k = schedule(tau, alpha)
    F, Xf = _forcing(model, X, tau_k, forcing)
    return _vjp_from_cache(model, traj, F, Xf, U, tau_k, alpha_k, through_pinv)[0]


def jvp(model, X, tangent, tau=None, *, alpha=None, forcing=None, detach_forcing=False):
    r"""Forward mode for the map parameters -> predictions :math:`\hat X`.

    Parameters
    ----------
    tangent : dict
        A direction in parameter space, keyed like ``model.params`` (missing keys are 0).
    tau, alpha, forcing, detach_forcing
        As in :func:`loss_and_grad`.

    Returns
    -------
    dX_hat : ndarray, shape (S, T+1, N)
        :math:`(\partial \hat X/\partial\theta)\, v`.
    """
    check_model(model)
    X = _check_data(model, X)
    through_pinv = _through_pinv(model, forcing, detach_forcing)
    traj = forward(model, X, tau, alpha=alpha, forcing=forcing)
    tau_k, alpha_k = schedule(tau, alpha)
    params = model.params
    if not isinstance(tangent, Mapping):
        raise TypeError(
            f"tangent must be a dict keyed like model.params, got {type(tangent).__name__}"
        )
    unknown = set(tangent) - set(params)
    if unknown:
        raise ValueError(f"tangent has unknown keys {sorted(unknown)}")
    full = {
        k: as_float_array(f"tangent[{k!r}]", tangent.get(k, np.zeros_like(v)), shape=v.shape)
        for k, v in params.items()
    }
    dtheta = _kernels.kernel_layout(model.kind, model.pack(full), model.M)
    identity, B = _readout_arrays(model)
    dB = np.zeros((1, 1)) if identity else full["B"]
    F, Xf = _forcing(model, X, tau_k, forcing)
    dF = np.zeros(F.shape)
    if through_pinv:  # forcing states z~ = B^+ x move with B: dz~ = dP x
        dF = Xf @ pinv_jvp(model.B, model.B_pinv, dB).T
    dZ = np.empty_like(traj.Z)
    dZf = np.empty_like(traj.Z)
    dXhat = np.empty_like(traj.X_hat)
    _tangent_kernel(
        model.kind, _kernel_theta(model), model.M, identity, B, tau_k, alpha_k, traj.Z,
        traj.Z_forced, dtheta, dB, dF, dZ, dZf, dXhat,
    )  # fmt: skip
    return dXhat


# ======================================================================================
# Plain NumPy reference: the same definition written as directly as possible.
def loss_and_grad_numpy(model, X, tau=None, *, alpha=None, forcing=None, detach_forcing=False):
    """Slow, obvious NumPy implementation of :func:`loss_and_grad` (for tests and reading).

    Returns ``(loss, grads, state_grads)`` exactly as ``loss_and_grad(...,
    return_state_grads=True)``.
    """
    X = np.asarray(X, dtype=np.float64)
    S, T1, N = X.shape
    T = T1 - 1
    p = model.params
    linear = model.readout == "linear"
    through_pinv = _through_pinv(model, forcing, detach_forcing)
    observe = (lambda Z: Z @ p["B"].T) if linear else (lambda Z: Z[:, :N])

    tau_k, a = schedule(tau, alpha)

    def forced(t):
        return tau_k > 0 and t % tau_k == 0

    Zdata = model.infer_state(X) if forcing is None else np.asarray(forcing)
    # the forced components: all M (linear readout) or the first N (identity)
    part = slice(None) if linear else slice(0, N)

    def force(Z, t):
        Z = Z.copy()
        Z[:, part] = (1 - a) * Z[:, part] + a * Zdata[:, t, part]
        return Z

    # forward
    Z = [Zdata[:, 0]]
    Zf = [Z[0]]
    for t in range(1, T1):
        Z.append(model.equations.step(p, Zf[t - 1]))
        Zf.append(force(Z[t], t) if forced(t) else Z[t])
    loss = sum(np.sum((X[:, t] - observe(Z[t])) ** 2) for t in range(1, T1)) / (S * T * N)

    # backward
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dZ = np.zeros((S, T1, model.M))
    G_P = np.zeros((model.M, N))  # dL/dB^+ (linear readout, gradient through B^+)
    g_tilde = np.zeros((S, model.M))  # dL/dz~_T = 0
    for t in range(T, 0, -1):
        g = g_tilde.copy()
        if forced(t):
            if linear:
                G_P += a * g.T @ X[:, t]  # z~_t = (1 - a) z_t + a B^+ x_t
            g[:, part] *= 1 - a
        gx = -2.0 / (S * T * N) * (X[:, t] - observe(Z[t]))
        if linear:
            g += gx @ p["B"]
            grads["B"] += gx.T @ Z[t]
        else:
            g[:, :N] += gx
        dZ[:, t] = g
        g_tilde, g_params = model.equations.step_vjp(p, Zf[t - 1], Z[t], g)
        for k, v in g_params.items():
            grads[k] += v
    dZ[:, 0] = g_tilde
    if through_pinv:
        G_P += g_tilde.T @ X[:, 0]  # z_0 = B^+ x_0
        grads["B"] += pinv_vjp(p["B"], np.linalg.pinv(p["B"]), G_P)
    return float(loss), grads, dZ
