"""The small protocol shared by refrnn models and reference dynamical systems.

Anything that :func:`refrnn.lyapunov_spectrum`, :mod:`refrnn.jacobians` or
:func:`refrnn.data` can iterate is a *map* ``x_{t+1} = F(x_t)`` described by

``_kind`` : int
    Selects the Numba kernels in :mod:`refrnn._kernels`.
``_theta`` : ndarray, shape (P,)
    Flat float64 parameter vector in the kernel's layout.
``dim`` : int
    State dimension.
``dt`` : float
    Time per step: 1.0 for maps (and RNN models), the integration step for flows, so
    that Lyapunov exponents can be reported per unit time.

:class:`MapMixin` adds the convenience methods ``step``, ``jacobian`` and ``simulate`` on
top of that, written once for models and systems.
"""

from __future__ import annotations

import numpy as np

from ._validation import DivergenceError, as_float_array, as_positive_int, check_allocation


def kernels():
    """:mod:`refrnn._kernels`, imported lazily (it imports the modules that use this one)."""
    from . import _kernels

    return _kernels


def is_map(obj):
    """True if ``obj`` follows the protocol above."""
    return all(hasattr(obj, a) for a in ("_kind", "_theta", "dim", "dt"))


class MapMixin:
    """``step``, ``jacobian`` and ``simulate`` for anything following the protocol."""

    __slots__ = ()

    def _state(self, name, x):
        return as_float_array(name, x, shape=(self.dim,))

    def _work(self):
        return np.empty(kernels().work_size(self._kind, self.dim))

    def step(self, z):
        """One step of the map, ``F(z)``. ``z`` : ndarray, shape (dim,) -> shape (dim,)."""
        z = self._state("z", z)
        out = np.empty(self.dim)
        kernels().map_step(self._kind, self._theta, self.dim, z, out, self._work())
        return out

    def jacobian(self, z):
        """Exact Jacobian ``dF/dz`` of one step at ``z`` (shape (dim,)) -> (dim, dim)."""
        z = self._state("z", z)
        J = np.empty((self.dim, self.dim))
        kernels().map_jacobian(self._kind, self._theta, self.dim, z, J, self._work())
        return J

    def simulate(self, z0, n_steps):
        """Orbit ``z_0 = z0, z_t = F(z_{t-1})`` for ``t = 1..n_steps``.

        Parameters
        ----------
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
        z0 = self._state("z0", z0)
        n_steps = as_positive_int("n_steps", n_steps, minimum=0)
        check_allocation("n_steps", n_steps, "an (n_steps+1, dim) orbit", (n_steps + 1) * self.dim)
        Z = np.empty((n_steps + 1, self.dim))
        bad = kernels().simulate(self._kind, self._theta, self.dim, z0, Z, self._work())
        if bad >= 0:
            raise DivergenceError(f"{self!r}: orbit became non-finite at step {bad}")
        return Z
