"""The shallow PLRNN container: parameters, validation and construction.

The equations -- step, tangent, adjoint and Jacobian, as NumPy definitions and as Numba
kernels -- are in :mod:`refrnn.equations.shplrnn`; this class holds the parameters and
checks them, and gets everything else from :class:`~refrnn.models.RNNModel` and the map
protocol of :mod:`refrnn.dynamics`.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_positive_int
from ..equations import shplrnn as equations
from ._base import RNNModel, uniform_init


class ShallowPLRNN(RNNModel):
    r"""Shallow PLRNN :math:`z_t = A \odot z_{t-1} + W_1\,\mathrm{relu}(W_2 z_{t-1} + h_2) + h_1`
    (Hess et al. 2023, Sect. 3.1).

    Parameters
    ----------
    A : ndarray, shape (M,)
        Diagonal auto-regression weights.
    W1 : ndarray, shape (M, L)
        Output weights of the hidden layer.
    W2 : ndarray, shape (L, M)
        Input weights of the hidden layer.
    h1 : ndarray, shape (M,)
        Latent bias.
    h2 : ndarray, shape (L,)
        Hidden bias.
    B : ndarray, shape (N, M), optional
        Linear readout :math:`\hat x = B z`; required when ``readout="linear"``.
    readout : {"linear", "identity"}
        ``"identity"`` observes the first ``n_obs`` latent states, :math:`\hat x = z_{:N}`.
    n_obs : int, optional
        Number of observed states N (only with ``readout="identity"``).

    Attributes
    ----------
    L : int
        Hidden width.

    Notes
    -----
    Jacobian: :math:`J = \mathrm{diag}(A) + W_1\,\mathrm{diag}(\mathbb 1[W_2 z + h_2 > 0])\,W_2`;
    see :mod:`refrnn.equations.shplrnn`. Instances are immutable; use :meth:`replace`.
    """

    kind = equations.KIND
    equations = equations

    def __init__(self, A, W1, W2, h1, h2, B=None, readout="linear", *, n_obs=None):
        A = self._array("A", A, ndim=1)
        M = A.shape[0]
        W1 = self._array("W1", W1, ndim=2)
        if W1.shape[0] != M or W1.shape[1] < 1:
            raise ValueError(
                f"W1 must have shape (M, L) = ({M}, L) with L >= 1 (M = len(A) = {M}), "
                f"got {W1.shape}"
            )
        L = W1.shape[1]
        W2 = self._array("W2", W2, ndim=2)
        if W2.shape != (L, M):
            raise ValueError(
                f"W2 must have shape (L, M) = ({L}, {M}) (L from W1, M = len(A)), got {W2.shape}"
            )
        h1 = self._array("h1", h1, shape=(M,))
        h2 = self._array("h2", h2, shape=(L,))
        self._init_common({"A": A, "W1": W1, "W2": W2, "h1": h1, "h2": h2}, M, B, readout, n_obs)

    @property
    def L(self):
        return self._dyn["W1"].shape[1]

    def __repr__(self):
        return (
            f"{type(self).__name__}(M={self.M}, L={self.L}, N={self.N}, readout={self.readout!r})"
        )

    @classmethod
    def random(cls, M, N, *, L, rng=None, readout="linear"):
        r"""Draw a shallow PLRNN with hidden width ``L``.

        A, h1, W2 ~ U(-1/\sqrt M, 1/\sqrt M) (fan-in M), W1 ~ U(-1/\sqrt L, 1/\sqrt L)
        (fan-in L), h2 = 0, B ~ U(-1/\sqrt M, 1/\sqrt M); ``rng``: Generator, int seed or
        None.

        Returns
        -------
        ShallowPLRNN
        """
        M, N, rng = cls._check_sizes(M, N, rng)
        L = as_positive_int("L", L)
        A = uniform_init(rng, M, (M,))
        W1 = uniform_init(rng, L, (M, L))
        W2 = uniform_init(rng, M, (L, M))
        h1 = uniform_init(rng, M, (M,))
        h2 = np.zeros(L)
        return cls._with_readout(rng, M, N, readout, A=A, W1=W1, W2=W2, h1=h1, h2=h2)
