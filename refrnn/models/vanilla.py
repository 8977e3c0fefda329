"""The tanh RNN container: parameters, validation and construction.

The equations -- step, tangent, adjoint and Jacobian, as NumPy definitions and as Numba
kernels -- are in :mod:`refrnn.equations.vanilla`; this class holds the parameters and
checks them, and gets everything else from :class:`~refrnn.models.RNNModel` and the map
protocol of :mod:`refrnn.dynamics`.
"""

from __future__ import annotations

import numpy as np

from ..equations import vanilla as equations
from ._base import RNNModel, uniform_init


class VanillaRNN(RNNModel):
    r"""Vanilla tanh RNN :math:`z_t = \tanh(W z_{t-1} + b)`.

    Parameters
    ----------
    W : ndarray, shape (M, M)
        Recurrent weights.
    b : ndarray, shape (M,)
        Bias.
    B : ndarray, shape (N, M), optional
        Linear readout :math:`\hat x = B z`; required when ``readout="linear"``.
    readout : {"linear", "identity"}
        ``"identity"`` observes the first ``n_obs`` latent states, :math:`\hat x = z_{:N}`.
    n_obs : int, optional
        Number of observed states N (only with ``readout="identity"``).

    Notes
    -----
    Jacobian: :math:`J_t = \partial z_t/\partial z_{t-1} = \mathrm{diag}(1 - z_t^2)\, W`.
    With identity readout and standardised data, note that :math:`|z| < 1` always, so
    observations outside (-1, 1) cannot be reproduced exactly.
    """

    kind = equations.KIND
    equations = equations

    def __init__(self, W, b, B=None, readout="linear", *, n_obs=None):
        W = self._array("W", W, ndim=2)
        M = W.shape[0]
        W = self._array("W", W, shape=(M, M))
        b = self._array("b", b, shape=(M,))
        self._init_common({"W": W, "b": b}, M, B, readout, n_obs)

    @classmethod
    def random(cls, M, N, *, rng=None, readout="linear", gain=1.0):
        r"""Draw W ~ N(0, gain^2 / M) and b, B ~ U(-1/\sqrt M, 1/\sqrt M).

        ``gain`` controls the spectral radius of W (about ``gain`` for large M); gain > 1
        typically gives chaotic autonomous dynamics, gain < 1 a stable fixed point.

        Returns
        -------
        VanillaRNN
        """
        M, N, rng = cls._check_sizes(M, N, rng)
        gain = float(gain)
        if not np.isfinite(gain) or gain < 0:
            raise ValueError(f"gain must be a finite number >= 0, got {gain}")
        W = rng.normal(0.0, gain / np.sqrt(M), size=(M, M))
        b = uniform_init(rng, M, (M,))
        return cls._with_readout(rng, M, N, readout, W=W, b=b)
