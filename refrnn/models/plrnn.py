"""The piecewise-linear RNN container: parameters, validation and construction.

The equations -- step, tangent, adjoint and Jacobian, as NumPy definitions and as Numba
kernels -- are in :mod:`refrnn.equations.plrnn`; this class holds the parameters and
checks them, and gets everything else from :class:`~refrnn.models.RNNModel` and the map
protocol of :mod:`refrnn.dynamics`.
"""

from __future__ import annotations

import numpy as np

from ..equations import plrnn as equations
from ._base import RNNModel, uniform_init


class PLRNN(RNNModel):
    r"""Piecewise-linear RNN :math:`z_t = A \odot z_{t-1} + W\,\mathrm{relu}(z_{t-1}) + h`.

    Parameters
    ----------
    A : ndarray, shape (M,)
        Diagonal auto-regression weights.
    W : ndarray, shape (M, M)
        Coupling weights; the diagonal must be exactly zero (it is not a parameter).
    h : ndarray, shape (M,)
        Bias.
    B : ndarray, shape (N, M), optional
        Linear readout :math:`\hat x = B z`; required when ``readout="linear"``.
    readout : {"linear", "identity"}
        ``"identity"`` observes the first ``n_obs`` latent states, :math:`\hat x = z_{:N}`.
    n_obs : int, optional
        Number of observed states N (only with ``readout="identity"``).

    Notes
    -----
    Jacobian (Mikhaeil et al. 2022, eq. 4), with :math:`\mathrm{relu}'(0) = 0`:

    .. math:: J_t = \partial z_t / \partial z_{t-1}
              = \mathrm{diag}(A) + W\,\mathrm{diag}(\mathbb{1}[z_{t-1} > 0]).

    Instances are immutable; use :meth:`replace` to derive a modified model.
    """

    kind = equations.KIND
    equations = equations

    def __init__(self, A, W, h, B=None, readout="linear", *, n_obs=None):
        A = self._array("A", A, ndim=1)
        M = A.shape[0]
        W = self._array("W", W, ndim=2)
        if W.shape != (M, M):
            raise ValueError(
                f"W must have shape ({M}, {M}) (M x M with M = len(A) = {M}), got {W.shape}"
            )
        h = self._array("h", h, shape=(M,))
        if np.any(np.diag(W) != 0.0):
            i = int(np.flatnonzero(np.diag(W))[0])
            raise ValueError(
                f"W must have a zero diagonal (the PLRNN's self-coupling is A), "
                f"got W[{i}, {i}] = {W[i, i]!r}"
            )
        self._init_common({"A": A, "W": W, "h": h}, M, B, readout, n_obs)

    @classmethod
    def random(cls, M, N, *, rng=None, readout="linear"):
        r"""Draw a PLRNN as in the paper's code: A, W, h, B ~ U(-1/\sqrt M, 1/\sqrt M).

        W's diagonal is then set to zero. ``rng``: Generator, int seed or None.

        Returns
        -------
        PLRNN
        """
        M, N, rng = cls._check_sizes(M, N, rng)
        W = uniform_init(rng, M, (M, M))
        np.fill_diagonal(W, 0.0)
        A = uniform_init(rng, M, (M,))
        h = uniform_init(rng, M, (M,))
        return cls._with_readout(rng, M, N, readout, A=A, W=W, h=h)
