r"""Helpers for testing RNN implementations against refrnn, usable from any test suite.

* :data:`TOLERANCES` -- the documented tolerance per quantity that refrnn's own golden
  vectors and ``refrnn verify`` use.
* :func:`assert_close` -- an assertion that reports *where* and *by how much* two arrays
  differ (worst entry, its index, max abs and rel error).
* :func:`finite_difference_gradients` and :func:`check_gradients` -- central differences
  of the STF loss, per entry or along random directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import as_bool, as_rng
from .bptt import forward, loss_and_grad
from .models import PLRNN

__all__ = [
    "TOLERANCES",
    "Comparison",
    "compare",
    "assert_close",
    "finite_difference_gradients",
    "check_gradients",
    "GradientCheck",
]

#: Relative tolerance per quantity for comparing two float64 implementations of the same
#: definition. ``rtol`` is relative to the largest magnitude of the reference array (so
#: near-zero entries are judged on the array's scale); ``atol`` is an absolute floor.
#: Why these values: losses, trajectories and Jacobians of a few hundred steps differ
#: between correct float64 implementations only by summation order, i.e. ~1e-15 per
#: operation growing at most linearly with T for contracting and like e^{lambda T} for
#: expanding orbits; 1e-10 leaves room for T ~ 1000 of mild expansion. Gradients sum
#: T products of Jacobians and get the same bound. Lyapunov spectra are statistical
#: estimates: two codes with different QR order agree to ~1e-8 on the same orbit, but
#: long orbits of chaotic maps decorrelate, so only the same finite orbit is comparable.
TOLERANCES = {
    "loss": {"rtol": 1e-10, "atol": 0.0},
    "grad": {"rtol": 1e-10, "atol": 1e-14},
    "trajectory": {"rtol": 1e-10, "atol": 1e-12},
    "jacobian": {"rtol": 1e-12, "atol": 1e-14},
    "jacobian_product": {"rtol": 1e-9, "atol": 0.0},
    "ftle": {"rtol": 1e-8, "atol": 1e-10},
    "lyapunov": {"rtol": 1e-6, "atol": 1e-8},
}


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    name : str
    max_abs : float
        Largest absolute difference.
    max_rel : float
        ``max_abs`` divided by the largest magnitude of the reference (0 if both are 0).
    worst_index : tuple
        Index of the largest absolute difference.
    rtol, atol : float
        Tolerances used; ``passed`` is ``max_abs <= atol + rtol * max|desired|``.
    passed : bool
    """

    name: str
    max_abs: float
    max_rel: float
    worst_index: tuple
    actual_at_worst: float
    desired_at_worst: float
    rtol: float
    atol: float
    passed: bool

    def __str__(self):
        status = "PASS" if self.passed else "FAIL"
        return (
            f"{status} {self.name}: max abs err {self.max_abs:.3e}, max rel err "
            f"{self.max_rel:.3e} (rtol {self.rtol:g}, atol {self.atol:g}); worst at index "
            f"{self.worst_index}: {self.actual_at_worst!r} vs {self.desired_at_worst!r}"
        )


def compare(actual, desired, *, quantity=None, rtol=None, atol=None, name="array"):
    """Compare two arrays on the scale of ``desired``; see :class:`Comparison`.

    Parameters
    ----------
    actual, desired : array_like
        Same shape (a mismatch raises ``ValueError``).
    quantity : str, optional
        Key of :data:`TOLERANCES` supplying default ``rtol``/``atol``.
    """
    a = np.asarray(actual, dtype=np.float64)
    d = np.asarray(desired, dtype=np.float64)
    if a.shape != d.shape:
        raise ValueError(f"{name}: shape {a.shape} does not match the reference {d.shape}")
    tol = (
        TOLERANCES.get(quantity, {"rtol": 1e-10, "atol": 0.0})
        if quantity
        else {"rtol": 1e-10, "atol": 0.0}
    )
    rtol = tol["rtol"] if rtol is None else float(rtol)
    atol = tol["atol"] if atol is None else float(atol)
    if a.size == 0:
        return Comparison(name, 0.0, 0.0, (), np.nan, np.nan, rtol, atol, True)
    diff = np.abs(a - d)
    # NaN anywhere is a failure, never silently ignored
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = np.unravel_index(int(np.argmax(diff)), a.shape)
    scale = float(np.max(np.abs(d))) if np.all(np.isfinite(d)) else np.inf
    max_abs = float(diff[idx])
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    passed = bool(max_abs <= atol + rtol * scale)
    return Comparison(
        name,
        max_abs,
        max_rel,
        tuple(int(i) for i in idx),
        float(a[idx]),
        float(d[idx]),
        rtol,
        atol,
        passed,
    )


def assert_close(actual, desired, *, quantity=None, rtol=None, atol=None, name="array"):
    """Raise ``AssertionError`` with a report of the worst entry unless the arrays agree.

    The criterion is ``max|actual - desired| <= atol + rtol * max|desired|``.
    """
    c = compare(actual, desired, quantity=quantity, rtol=rtol, atol=atol, name=name)
    if not c.passed:
        raise AssertionError(str(c))
    return c


# ======================================================================================
def _relu_pattern(model, traj):
    # The kinks of a piecewise-linear map matter only at the inputs z~_{t-1} of steps
    # 1..T; a smooth map (no ``pieces`` in its equations) has none.
    pieces = getattr(model.equations, "pieces", None)
    return None if pieces is None else pieces(model.params, traj.Z_forced[:, :-1])


def _loss_along(model, X, tau, alpha, forcing, name, idx, direction, h):
    """Loss at params + h * direction (direction: dict, or unit vector at name[idx])."""
    if direction is None:
        P = model.params[name].copy()
        P[idx] += h
        m = model.replace(**{name: P})
    else:
        m = model.replace(**{k: v + h * direction[k] for k, v in model.params.items()})
    tr = forward(m, X, tau, alpha=alpha, forcing=forcing)
    return tr.loss, _relu_pattern(m, tr)


def _central(model, X, tau, alpha, forcing, base, eps, min_eps, name=None, idx=None,
             direction=None):  # fmt: skip
    """Central difference whose step is shrunk until theta +- h stay on theta's relu piece."""
    h = eps
    while True:
        (lp, pp), (lm, pm) = (
            _loss_along(model, X, tau, alpha, forcing, name, idx, direction, s * h) for s in (1, -1)
        )
        same = base is None or (np.array_equal(pp, base) and np.array_equal(pm, base))
        if same or h <= min_eps:
            return (lp - lm) / (2.0 * h), h
        h /= 4.0


def _fd_forcing(model, X, detach_forcing):
    """The forcing states held fixed under perturbation: all of them when the forcing
    gradient is detached (B^+ x is then data), none otherwise (each perturbed model
    recomputes its own B^+ x, so differences in B include that path)."""
    return model.infer_state(X) if as_bool("detach_forcing", detach_forcing) else None


def finite_difference_gradients(
    model, X, tau=None, *, alpha=None, eps=1e-6, min_eps=1e-9, detach_forcing=False
):
    """Central finite differences of the STF loss for every parameter entry.

    With ``detach_forcing=True`` the forcing signal is held fixed (constant data, see
    :mod:`refrnn.bptt`), so B's differences do not include the dependence of
    :math:`B^+` on B; with False (the default, as :func:`refrnn.loss_and_grad`) they
    do. ``alpha``: generalized teacher forcing, as in :func:`refrnn.loss_and_grad`. For a
    piecewise-linear model (PLRNN, shallow PLRNN) the step
    is divided by 4 until the relu pattern at every step input is the same at
    :math:`\\theta \\pm h` as at :math:`\\theta`: all three losses then lie on one smooth
    piece, so the kink is avoided by construction.

    Returns
    -------
    grads : dict
        Keyed like ``model.params`` (PLRNN: W's diagonal is 0).
    min_step : float
        The smallest step that was needed.
    """
    X = np.asarray(X, dtype=np.float64)
    forcing = _fd_forcing(model, X, detach_forcing)
    base = _relu_pattern(model, forward(model, X, tau, alpha=alpha))
    out, used = {}, eps
    for name, v in model.params.items():
        g = np.zeros_like(v)
        for idx in np.ndindex(*v.shape):
            if name == "W" and isinstance(model, PLRNN) and idx[0] == idx[1]:
                continue  # W's diagonal is not a parameter of the PLRNN
            g[idx], h = _central(model, X, tau, alpha, forcing, base, eps, min_eps, name, idx)
            used = min(used, h)
        out[name] = g
    return out, used


@dataclass(frozen=True)
class GradientCheck:
    """Result of :func:`check_gradients`: per-array and directional comparisons."""

    entries: dict
    directional: Comparison
    passed: bool

    def __str__(self):
        lines = [str(c) for c in self.entries.values()] + [str(self.directional)]
        return "\n".join(lines)


def check_gradients(
    model,
    X,
    tau=None,
    grads=None,
    *,
    n_directions=8,
    rtol=1e-6,
    per_entry=None,
    rng=0,
    detach_forcing=False,
    alpha=None,
):
    """Check gradients of the STF (or GTF) loss against central differences.

    Parameters
    ----------
    model : RNNModel (PLRNN, VanillaRNN or ShallowPLRNN)
    X : ndarray, shape (S, T+1, N)
    tau : int or None
    grads : dict, optional
        Gradients to check (e.g. from another implementation); default: refrnn's own.
    n_directions : int
        Random directions :math:`v` along which :math:`(L(\\theta+hv) - L(\\theta-hv))/2h`
        is compared with :math:`\\langle g, v\\rangle`.
    rtol : float
        Relative tolerance (central differences with h = 1e-6 are accurate to ~1e-8
        relative on smooth losses; see tests/test_bptt.py).
    per_entry : bool, optional
        Also check every entry (default: when the model has at most 500 parameters).
    rng : Generator or int
    detach_forcing : bool
        Which gradient is meant (see :func:`refrnn.loss_and_grad`): False, through
        :math:`B^+` (the default), or True, with the forcing states as constant data.
    alpha : float in [0, 1], optional
        Generalized teacher forcing, as in :func:`refrnn.loss_and_grad`.

    Returns
    -------
    GradientCheck
    """
    X = np.asarray(X, dtype=np.float64)
    loss, own = loss_and_grad(model, X, tau, alpha=alpha, detach_forcing=detach_forcing)
    grads = own if grads is None else grads
    n_params = sum(v.size for v in model.params.values())
    per_entry = n_params <= 500 if per_entry is None else per_entry
    entries = {}
    if per_entry:
        fd, h = finite_difference_gradients(
            model, X, tau, alpha=alpha, detach_forcing=detach_forcing
        )
        for k in model.params:
            # round-off of a central difference is ~eps_mach |L| / h, absolute
            entries[k] = compare(
                grads[k], fd[k], rtol=rtol, atol=1e-15 * loss / h, name=f"grad {k} (per entry)"
            )
    rng = as_rng(rng)
    forcing = _fd_forcing(model, X, detach_forcing)
    base = _relu_pattern(model, forward(model, X, tau, alpha=alpha))
    dirs_fd, dirs_g = [], []
    for _ in range(n_directions):
        v = {k: rng.standard_normal(p.shape) for k, p in model.params.items()}
        if isinstance(model, PLRNN):
            np.fill_diagonal(v["W"], 0.0)
        d, _ = _central(model, X, tau, alpha, forcing, base, 1e-6, 1e-9, direction=v)
        dirs_fd.append(d)
        dirs_g.append(sum(float(np.sum(grads[k] * v[k])) for k in v))
    directional = compare(
        dirs_g, dirs_fd, rtol=rtol, atol=1e-8 * loss, name="directional derivatives"
    )
    passed = directional.passed and all(c.passed for c in entries.values())
    return GradientCheck(entries, directional, passed)
