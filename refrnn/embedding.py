r"""Delay embedding of a measured series, with the lag and dimension chosen from the data.

A measured series is often one coordinate of a higher-dimensional system. Takens (1981)
showed that delay vectors :math:`y_t = (x_t, x_{t-\ell}, \dots, x_{t-(d-1)\ell})` recover
the attractor up to a smooth change of coordinates when d is large enough. Two classic
rules pick :math:`\ell` and d from the data:

* :func:`choose_lag` -- the first local minimum of the average mutual information between
  :math:`x_t` and :math:`x_{t+\ell}` (Fraser & Swinney 1986), or the first zero of the
  autocorrelation;
* :func:`choose_dim` -- the smallest d at which the fraction of false nearest neighbours
  (Kennel, Brown & Abarbanel 1992) falls below a threshold.

Both return the curve they decided on as well as the choice, so that a reader can check
it (:func:`refrnn.plotting.plot_embedding`). :meth:`refrnn.Dataset.from_series` uses them
with ``embed="auto"``.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from ._validation import as_float_array, as_positive_int

__all__ = [
    "delay_embed",
    "average_mutual_information",
    "autocorrelation",
    "choose_lag",
    "false_nearest_neighbours",
    "choose_dim",
    "LagChoice",
    "DimChoice",
]


def delay_embed(x, dim, lag=1):
    r"""Delay-coordinate embedding (Takens 1981) of a scalar or vector series.

    .. math:: y_t = \bigl(x_t,\ x_{t-\ell},\ x_{t-2\ell},\ \dots,\ x_{t-(d-1)\ell}\bigr),
              \qquad t = (d-1)\ell, \dots, T-1,

    with embedding dimension :math:`d` = ``dim`` and lag :math:`\ell` = ``lag``.

    Parameters
    ----------
    x : ndarray, shape (T,) or (T, N)
    dim : int
        Embedding dimension d >= 1 (d = 1 returns x itself as (T, N)).
    lag : int
        Lag :math:`\ell` >= 1 in samples.

    Returns
    -------
    Y : ndarray, shape (T - (d-1) lag, d N)
        Row ``i`` is :math:`y_t` at :math:`t = i + (d-1)\ell`; columns
        ``k N : (k+1) N`` hold :math:`x_{t-k\ell}` (the newest block first).
    """
    x = as_float_array("x", x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (T,) or (T, N), got {x.shape}")
    dim = as_positive_int("dim", dim)
    lag = as_positive_int("lag", lag)
    span = (dim - 1) * lag
    T = x.shape[0]
    if T <= span:
        raise ValueError(
            f"x has {T} samples; dim={dim}, lag={lag} need more than (dim-1)*lag = {span}"
        )
    return np.concatenate([x[span - k * lag : T - k * lag] for k in range(dim)], axis=1)


def _scalar_series(x, min_samples):
    x = as_float_array("x", x)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(
            f"x must be a scalar series, shape (T,) or (T, 1), got {x.shape}; embed each "
            f"measured coordinate separately or use its first column"
        )
    if x.shape[0] < min_samples:
        raise ValueError(f"x needs at least {min_samples} samples, got {x.shape[0]}")
    if np.ptp(x) == 0:
        raise ValueError("x is constant: there is nothing to embed")
    return x


def _max_lag(x, max_lag):
    T = x.shape[0]
    if max_lag is None:
        return max(1, min(T // 10, 500))
    max_lag = as_positive_int("max_lag", max_lag)
    if max_lag > T // 2:
        raise ValueError(f"max_lag must be <= T/2 = {T // 2} for T = {T} samples, got {max_lag}")
    return max_lag


def average_mutual_information(x, max_lag=None, *, bins=16):
    r"""Average mutual information between :math:`x_t` and :math:`x_{t+\ell}`.

    .. math:: I(\ell) = \sum_{i,j} p_{ij}(\ell)\,\log\frac{p_{ij}(\ell)}{p_i\,p_j},

    in nats, from a ``bins`` x ``bins`` histogram of equal-width bins spanning the range
    of x (Fraser & Swinney 1986).

    Parameters
    ----------
    x : ndarray, shape (T,)
    max_lag : int, optional
        Largest lag (default min(T/10, 500)).
    bins : int
        Bins per axis (default 16).

    Returns
    -------
    ndarray, shape (max_lag + 1,)
        :math:`I(0), \dots, I(\ell_{\max})`; :math:`I(0)` is the entropy of the binned x.
    """
    x = _scalar_series(x, 4)
    max_lag = _max_lag(x, max_lag)
    bins = as_positive_int("bins", bins, minimum=2)
    edges = np.linspace(x.min(), x.max(), bins + 1)
    k = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    out = np.empty(max_lag + 1)
    for lag in range(max_lag + 1):
        a, b = k[: len(k) - lag], k[lag:]
        joint = np.bincount(a * bins + b, minlength=bins * bins).reshape(bins, bins)
        p = joint / joint.sum()
        pa, pb = p.sum(axis=1), p.sum(axis=0)
        nz = p > 0
        out[lag] = np.sum(p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz]))
    return out


def autocorrelation(x, max_lag=None):
    r"""Sample autocorrelation :math:`\rho(\ell)`, ``ell = 0..max_lag`` (:math:`\rho(0) = 1`).

    Parameters
    ----------
    x : ndarray, shape (T,)
    max_lag : int, optional
        Default min(T/10, 500).

    Returns
    -------
    ndarray, shape (max_lag + 1,)
    """
    x = _scalar_series(x, 4)
    max_lag = _max_lag(x, max_lag)
    y = x - x.mean()
    var = np.dot(y, y)
    return np.array([np.dot(y[: len(y) - lag], y[lag:]) / var for lag in range(max_lag + 1)])


class LagChoice(NamedTuple):
    """Result of :func:`choose_lag`.

    Attributes
    ----------
    lag : int
        The chosen lag in samples.
    curve : ndarray, shape (max_lag + 1,)
        AMI (nats) or autocorrelation against lag 0..max_lag.
    method : str
        ``"ami"`` or ``"acf"``.
    """

    lag: int
    curve: np.ndarray
    method: str


def choose_lag(x, max_lag=None, *, method="ami", bins=16):
    """Embedding lag: first local minimum of the AMI, or first zero of the autocorrelation.

    Parameters
    ----------
    x : ndarray, shape (T,)
    max_lag : int, optional
        Lags searched (default min(T/10, 500)).
    method : {"ami", "acf"}
        ``"ami"`` (default): first lag whose AMI is below both neighbours (Fraser &
        Swinney 1986). ``"acf"``: first lag where the autocorrelation crosses zero.
    bins : int
        Histogram bins of the AMI.

    Returns
    -------
    LagChoice

    Warns
    -----
    UserWarning
        If the curve has no minimum (zero) within ``max_lag``; the lag with the smallest
        value is returned then.
    """
    if method == "ami":
        curve = average_mutual_information(x, max_lag, bins=bins)
        inner = np.flatnonzero((curve[1:-1] < curve[:-2]) & (curve[1:-1] <= curve[2:])) + 1
    elif method == "acf":
        curve = autocorrelation(x, max_lag)
        inner = np.flatnonzero(curve[1:] <= 0.0) + 1
    else:
        raise ValueError(f"method must be 'ami' or 'acf', got {method!r}")
    if inner.size:
        return LagChoice(int(inner[0]), curve, method)
    lag = int(np.argmin(curve[1:]) + 1)
    warnings.warn(
        f"choose_lag: the {method} curve has no {'minimum' if method == 'ami' else 'zero'} "
        f"within max_lag={len(curve) - 1}; using its smallest value, at lag {lag}. Increase "
        f"max_lag, or check that the series is not dominated by a slow trend",
        UserWarning,
        stacklevel=2,
    )
    return LagChoice(lag, curve, method)


class DimChoice(NamedTuple):
    """Result of :func:`choose_dim`.

    Attributes
    ----------
    dim : int
        The chosen embedding dimension.
    dims : ndarray, shape (K,)
        The dimensions tested, 1..max_dim.
    fraction : ndarray, shape (K,)
        Fraction of false nearest neighbours at each dimension.
    """

    dim: int
    dims: np.ndarray
    fraction: np.ndarray


def false_nearest_neighbours(x, lag, max_dim=10, *, rtol=10.0, atol=2.0, theiler=None):
    r"""Fraction of false nearest neighbours for d = 1..max_dim (Kennel et al. 1992).

    For each delay vector :math:`y_t` in d dimensions and its nearest neighbour
    :math:`y_n` (at distance :math:`R_d > 0`, at least ``theiler`` samples apart in time),
    the pair is *false* if adding the next delay coordinate separates it:

    .. math:: \frac{|x_{t-d\ell} - x_{n-d\ell}|}{R_d} > r_{\mathrm{tol}}
              \quad\text{or}\quad \frac{R_{d+1}}{\sigma_x} > a_{\mathrm{tol}}.

    Parameters
    ----------
    x : ndarray, shape (T,)
    lag : int
    max_dim : int
    rtol, atol : float
        Kennel et al.'s thresholds (defaults 10 and 2, as in their paper).
    theiler : int, optional
        Minimum time separation of neighbours (default ``lag``), so that neighbours are
        not simply the next sample on the same stretch of orbit.

    Returns
    -------
    dims : ndarray, shape (max_dim,)
    fraction : ndarray, shape (max_dim,)
        Pairs at distance 0 (repeated values of quantised data) are left out, as are
        points without a neighbour beyond the Theiler window.
    """
    x = _scalar_series(x, 10)
    lag = as_positive_int("lag", lag)
    max_dim = as_positive_int("max_dim", max_dim)
    theiler = lag if theiler is None else as_positive_int("theiler", theiler, minimum=0)
    sigma = np.std(x)
    dims = np.arange(1, max_dim + 1)
    fraction = np.full(max_dim, np.nan)
    for i, d in enumerate(dims):
        if x.shape[0] <= d * lag + 2:
            break
        Y = delay_embed(x, d + 1, lag)  # columns: x_t, ..., x_{t-d lag}
        Yd, extra = Y[:, :d], Y[:, d]
        tree = cKDTree(Yd)
        t = np.arange(len(Yd))[:, None]
        # The 2 theiler + 2 nearest hold at least two points beyond the Theiler window,
        # but those may coincide with the point (a periodic or quantised series repeats
        # values exactly): ask for more neighbours while some point has none (bounded).
        k = min(len(Yd), 2 * theiler + 2)
        while True:
            dist, idx = tree.query(Yd, k=k)
            ok = (np.abs(idx - t) > theiler) & (dist > 0)
            has = ok.any(axis=1)
            if has.all() or k >= min(len(Yd), 2 * theiler + 2 + _MAX_EXTRA_NEIGHBOURS):
                break
            k = min(len(Yd), 2 * theiler + 2 + 2 * (k - 2 * theiler - 2) + 16)
        first = np.argmax(ok, axis=1)
        rows = np.flatnonzero(has)
        n = idx[rows, first[rows]]
        R = dist[rows, first[rows]]
        gap = np.abs(extra[rows] - extra[n])
        false = (gap / R > rtol) | (np.sqrt(R**2 + gap**2) / sigma > atol)
        fraction[i] = false.mean() if rows.size else np.nan
    return dims, fraction


#: false_nearest_neighbours looks this many neighbours beyond the 2 theiler + 2 nearest
#: for a point whose nearest ones all coincide with it or lie in the Theiler window.
_MAX_EXTRA_NEIGHBOURS = 512


def choose_dim(x, lag, max_dim=10, *, threshold=0.1, **kwargs):
    """Smallest embedding dimension whose false-nearest-neighbour fraction is below
    ``threshold``; further keyword arguments go to :func:`false_nearest_neighbours`.

    The default threshold is 10%, not the ideal 0: for a densely sampled flow the
    fraction levels off at a few percent (measured on the x coordinate of Lorenz-63,
    dt = 0.01, 20000 samples, lag 19: 99%, 19%, 7.0%, 5.2%, 4.4% for d = 1..5, where
    d = 3 is the known answer), because nearest neighbours on neighbouring orbit strands
    are very close and criterion 1 divides by that distance.

    Returns
    -------
    DimChoice

    Warns
    -----
    UserWarning
        If no dimension up to ``max_dim`` gets below the threshold (noise keeps the
        fraction up); the dimension with the smallest fraction is returned then.
    """
    dims, fraction = false_nearest_neighbours(x, lag, max_dim, **kwargs)
    if np.all(np.isnan(fraction)):
        raise ValueError(
            f"choose_dim: no embedding dimension up to {max_dim} could be judged: no point "
            f"of x has a nearest neighbour outside the Theiler window that differs from it "
            f"(a constant, periodic or very coarsely quantised series?), so there are no "
            f"false neighbours to count. Give the embedding yourself, e.g. embed = [3, "
            f"{lag}] in the TOML's [data] or embed=(3, {lag}) in Dataset.from_series"
        )
    below = np.flatnonzero(fraction < threshold)
    if below.size:
        return DimChoice(int(dims[below[0]]), dims, fraction)
    d = int(dims[np.nanargmin(fraction)])
    warnings.warn(
        f"choose_dim: no dimension up to {max_dim} has fewer than {threshold:.0%} false "
        f"neighbours (lowest {np.nanmin(fraction):.1%} at d = {d}); noise or a short "
        f"series keeps the fraction up. Using d = {d}",
        UserWarning,
        stacklevel=2,
    )
    return DimChoice(d, dims, fraction)
