"""Figures used by ``refrnn demo`` and the notebooks, with one shared matplotlib style.

All functions take plain arrays (or dicts of them), draw onto a new or given figure, and
return the figure; nothing here computes anything the reader could not reproduce from
the public API.
"""

from __future__ import annotations

import contextlib

import numpy as np
from cycler import cycler

__all__ = ["STYLE", "style", "plot_attractors", "plot_training", "plot_spectra"]

#: The matplotlib rc settings shared by refrnn's figures and notebooks.
STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "lines.linewidth": 1.2,
    "axes.prop_cycle": cycler(
        color=["#1b4f72", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#5d6d7e"]
    ),
}


@contextlib.contextmanager
def style():
    """Context manager applying :data:`STYLE` (``with refrnn.plotting.style(): ...``)."""
    import matplotlib.pyplot as plt

    with plt.rc_context(STYLE):
        yield


def plot_attractors(X_true, generated, *, dims=(0, 1, 2), max_points=20000, title=None):
    """True attractor beside free runs of one or more models, in 3-D (or 2-D if N = 2).

    Parameters
    ----------
    X_true : ndarray, shape (T, N)
    generated : dict of str -> ndarray, shape (T_gen, N)
        Label -> free-running observations. Diverged runs may be passed as ``None``.
    dims : tuple of int
        Which observed dimensions to plot (3 for a 3-D plot, else the first 2).
    max_points : int
        Plot at most this many points of each series (evenly thinned).
    """
    import matplotlib.pyplot as plt

    series = {"data": X_true, **generated}
    three_d = X_true.shape[1] >= 3 and len(dims) >= 3
    with style():
        fig = plt.figure(figsize=(4.0 * len(series), 3.8))
        for i, (label, X) in enumerate(series.items()):
            kw = {"projection": "3d"} if three_d else {}
            ax = fig.add_subplot(1, len(series), i + 1, **kw)
            if X is None or not np.all(np.isfinite(X)):
                ax.set_title(f"{label}\n(diverged)")
                continue
            step = max(1, len(X) // max_points)
            Xs = X[::step]
            cols = [Xs[:, d] for d in (dims[:3] if three_d else dims[:2])]
            ax.plot(*cols, lw=0.4, color="C0" if label == "data" else "C1")
            ax.set_title(label)
            ax.set_xlabel(f"x{dims[0]}")
            ax.set_ylabel(f"x{dims[1]}")
            if three_d:
                ax.set_zlabel(f"x{dims[2]}")
        if title:
            fig.suptitle(title)
    return fig


def plot_training(histories, *, title=None):
    """Loss, gradient norm (log scale) and D_stsp against epoch for several runs.

    Parameters
    ----------
    histories : dict of str -> dict of ndarray
        Label -> ``TrainResult.history``.
    """
    import matplotlib.pyplot as plt

    with style():
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
        for label, h in histories.items():
            axes[0].semilogy(h["epoch"], h["loss"], label=label)
            axes[1].semilogy(h["epoch"], h["grad_norm"], label=label)
            ok = np.isfinite(h["d_stsp"])
            axes[2].plot(h["epoch"][ok], h["d_stsp"][ok], "o-", ms=3, label=label)
        axes[0].set_title("STF loss")
        axes[1].set_title("gradient norm (before clipping)")
        axes[2].set_title("$D_{stsp}$ of a free run")
        for ax in axes:
            ax.set_xlabel("epoch")
        axes[0].legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def plot_spectra(spectra, *, ylabel="Lyapunov exponent", title=None):
    """Lyapunov spectra side by side (index on the x axis), with error bars if given.

    Parameters
    ----------
    spectra : dict of str -> ndarray, shape (k,) or (exponents, stderr) tuple
    """
    import matplotlib.pyplot as plt

    with style():
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        n = len(spectra)
        for j, (label, val) in enumerate(spectra.items()):
            lam, err = val if isinstance(val, tuple) else (val, None)
            lam = np.asarray(lam)
            x = np.arange(1, len(lam) + 1) + (j - (n - 1) / 2) * 0.15
            ax.errorbar(x, lam, yerr=err, fmt="o", ms=4, capsize=2, label=label)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xlabel("index i")
        ax.set_ylabel(ylabel)
        ax.legend()
        if title:
            ax.set_title(title)
        fig.tight_layout()
    return fig
