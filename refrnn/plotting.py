"""Figures used by ``refrnn demo`` and the notebooks, with one shared matplotlib style.

All functions take plain arrays (or dicts of them), draw onto a new or given figure, and
return the figure; nothing here computes anything the reader could not reproduce from
the public API.
"""

from __future__ import annotations

import contextlib

import numpy as np
from cycler import cycler

__all__ = [
    "STYLE",
    "METHOD_COLORS",
    "QUICK_MODE_STAMP",
    "style",
    "method_color",
    "stamp",
    "plot_attractors",
    "plot_training",
    "plot_spectra",
    "plot_leading_exponent",
    "plot_tau_curve",
    "plot_log_growth",
    "plot_convergence",
    "plot_unrolled_graph",
    "plot_embedding",
]

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


#: One colour per method in every figure: the data, sparse teacher forcing, plain BPTT.
METHOD_COLORS = {"data": "#2b2b2b", "STF": "#1f6fb4", "BPTT": "#e07b00"}

#: The text :func:`stamp` puts on figures made with a budget too small to mean anything.
QUICK_MODE_STAMP = "QUICK MODE \u2014 numbers are not meaningful"


def method_color(label, default=None):
    """The colour of the method a label names, from :data:`METHOD_COLORS`.

    Parameters
    ----------
    label : str
        A series label: one starting with ``"data"`` or containing ``"(data)"``; one starting with
        ``"STF"``; one starting with ``"BPTT"`` (case-insensitive).
    default : str, optional
        Returned for any other label.

    Returns
    -------
    str or None
    """
    low = str(label).strip().lower()
    if low.startswith("data") or "(data)" in low:
        return METHOD_COLORS["data"]
    for method in ("STF", "BPTT"):
        if low.startswith(method.lower()):
            return METHOD_COLORS[method]
    return default


def stamp(fig, text=QUICK_MODE_STAMP):
    """Write ``text`` large, red and diagonal across ``fig`` (and return the Text artist).

    Used on the figures of ``refrnn demo --quick``, whose tiny budget exercises the code
    but says nothing about the methods.
    """
    return fig.text(0.5, 0.5, text, rotation=15, ha="center", va="center", fontsize=20,
                    color="#c0392b", alpha=0.45, weight="bold", zorder=10,
                    gid="refrnn-stamp")  # fmt: skip


@contextlib.contextmanager
def style():
    """Context manager applying :data:`STYLE` (``with refrnn.plotting.style(): ...``)."""
    import matplotlib.pyplot as plt

    with plt.rc_context(STYLE):
        yield


def plot_attractors(X_true, generated, *, dims=(0, 1, 2), max_points=20000, title=None,
                    units=None, data_label="data", overlay=False):  # fmt: skip
    """True attractor beside free runs of one or more models, in 3-D (or 2-D if N = 2).

    Each series has its method's colour (:func:`method_color`; others take the colour
    cycle) and its own panel, titled with its label; one legend under the panels names
    them all.

    Parameters
    ----------
    X_true : ndarray, shape (T, N)
    generated : dict of str -> ndarray, shape (T_gen, N)
        Label -> free-running observations. Diverged runs may be passed as ``None``.
    dims : tuple of int
        Which observed dimensions to plot (3 for a 3-D plot, else the first 2).
    max_points : int
        Plot at most this many points of each series (evenly thinned).
    title : str, optional
    units : str, optional
        Appended to every axis label, e.g. ``"standardised"`` gives ``"x0 (standardised)"``.
    data_label : str
        Title of the data's panel (starting with "data" keeps the data's colour).
    overlay : bool
        Also draw the data, thin and light grey, behind every model's run, so that a
        run that misses part of the attractor shows it.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    series = {data_label: X_true, **generated}
    three_d = X_true.shape[1] >= 3 and len(dims) >= 3
    suffix = f" ({units})" if units else ""
    handles = []
    with style():
        fig = plt.figure(figsize=(4.0 * len(series), 4.3))
        for i, (label, X) in enumerate(series.items()):
            color = method_color(label, default=f"C{i % 6}")
            handles.append(Line2D([], [], color=color, lw=2, label=label.split("\n")[0]))
            kw = {"projection": "3d"} if three_d else {}
            ax = fig.add_subplot(1, len(series), i + 1, **kw)
            if X is None or not np.all(np.isfinite(X)):
                ax.set_title(f"{label}\n(diverged)")
                continue
            step = max(1, len(X) // max_points)
            Xs = X[::step]
            use = dims[:3] if three_d else dims[:2]
            cols = [Xs[:, d] for d in use]
            if overlay and i > 0:
                Xt = X_true[:: max(1, len(X_true) // max_points)]
                ax.plot(*[Xt[:, d] for d in use], lw=0.3, color="0.75", alpha=0.6)
            ax.plot(*cols, lw=0.4, color=color)
            # the end point: the only visible mark of a run that sits on a fixed point
            ax.plot(*[c[-1:] for c in cols], "o", ms=3, color=color)
            # at least the data's range on every axis, so that panels are comparable
            # (and a collapsed run does not get a meaningless 1e-12-wide axis)
            setters = (ax.set_xlim, ax.set_ylim) + ((ax.set_zlim,) if three_d else ())
            for d, set_lim in zip(use, setters, strict=True):
                lo = min(np.min(X_true[:, d]), np.min(Xs[:, d]))
                hi = max(np.max(X_true[:, d]), np.max(Xs[:, d]))
                pad = 0.05 * (hi - lo)
                set_lim(lo - pad, hi + pad)
            ax.set_title(label, color=color)
            ax.set_xlabel(f"x{dims[0]}{suffix}")
            ax.set_ylabel(f"x{dims[1]}{suffix}")
            if three_d:
                ax.set_zlabel(f"x{dims[2]}{suffix}")
        if overlay and len(series) > 1:
            handles.append(Line2D([], [], color="0.75", lw=2, label="data, behind each model"))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9)
        if title:
            fig.suptitle(title)
        if not three_d:  # room for two-line panel titles, the title and the legend
            fig.tight_layout(rect=(0, 0.07, 1, 0.95 if title else 1))
    return fig


def plot_training(histories, *, selected=None, title=None, eval_series="the training series",
                  units=None):  # fmt: skip
    """Loss, gradient norm and D_stsp (log scales) against epoch for several runs, and
    the generalized-teacher-forcing alpha when any run recorded one.

    Parameters
    ----------
    histories : dict of str -> dict of ndarray
        Label -> ``TrainResult.history``. Runs whose label starts the same way up to a
        comma (e.g. ``"STF, seed 0"``, ``"STF, seed 1"``) form one method and share its
        colour (:func:`method_color`, else the colour cycle).
    selected : dict of str -> int, optional
        Label -> the selected epoch: a ring on the D_stsp panel and a dotted vertical
        line in the run's colour on every panel.
    title : str, optional
    eval_series : str
        What the free runs behind D_stsp were compared with (named in the panel title).
    units : str, optional
        The data's units, appended to the loss axis label, e.g. ``"standardised"``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    selected = selected or {}
    groups = list(dict.fromkeys(label.split(",")[0] for label in histories))
    with style():
        colors = {g: method_color(g, default=f"C{i % 6}") for i, g in enumerate(groups)}
        # GTF runs record alpha per epoch (NaN for sparse forcing): a fourth panel
        gtf = any(np.any(np.isfinite(np.asarray(h.get("alpha", [np.nan])))) for h in
                  histories.values())  # fmt: skip
        fig, axes = plt.subplots(1, 4 if gtf else 3, figsize=(17 if gtf else 13, 3.9))
        for label, h in histories.items():
            c = colors[label.split(",")[0]]
            kw = dict(color=c, lw=1, alpha=0.8)
            axes[0].semilogy(h["epoch"], h["loss"], **kw)
            axes[1].semilogy(h["epoch"], h["grad_norm"], **kw)
            ok = np.isfinite(h["d_stsp"])
            axes[2].semilogy(h["epoch"][ok], h["d_stsp"][ok], "-", **kw)
            if gtf and "alpha" in h:
                axes[3].plot(h["epoch"], h["alpha"], **kw)
            ep = selected.get(label)
            if ep is not None:
                for ax in axes:
                    ax.axvline(ep, color=c, ls=":", lw=0.9, alpha=0.8)
                i = np.flatnonzero(h["epoch"] == ep)
                if i.size and np.isfinite(h["d_stsp"][i[0]]):
                    axes[2].plot(ep, h["d_stsp"][i[0]], "o", mfc="none", mec=c, ms=8, mew=1.5)
        axes[0].set_title("training loss")
        axes[0].set_ylabel("mean squared error" + (f" ({units})" if units else ""))
        axes[1].set_title("gradient norm (before clipping)")
        axes[1].set_ylabel(r"$\|\nabla_\theta L\|$")
        axes[2].set_title(f"$D_{{stsp}}$ of free runs vs {eval_series}")
        axes[2].set_ylabel("$D_{stsp}$ (median of free runs)")
        if gtf:
            axes[3].set_title(r"GTF $\alpha$ (1 = full forcing)")
            axes[3].set_ylabel(r"$\alpha$")
            axes[3].set_ylim(-0.02, 1.02)
        handles = [Line2D([], [], color=colors[g], lw=1.5, label=g) for g in groups]
        if selected:
            handles.append(Line2D([], [], color="0.3", ls=":", marker="o", mfc="none", ms=7,
                                  label="selected epoch"))  # fmt: skip
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.legend(handles=handles, fontsize=8)
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    return fig


def plot_spectra(spectra, *, ylabel="Lyapunov exponent", title=None, ax=None):
    """Lyapunov spectra side by side (index on the x axis), with error bars if given.

    Parameters
    ----------
    spectra : dict of str -> ndarray, shape (k,) or (exponents, stderr) tuple
        Label -> spectrum; each label has its method's colour (:func:`method_color`).
    ylabel, title : str
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (5.5, 3.4))
    with style():
        n = len(spectra)
        for j, (label, val) in enumerate(spectra.items()):
            lam, err = val if isinstance(val, tuple) else (val, None)
            lam = np.asarray(lam)
            x = np.arange(1, len(lam) + 1) + (j - (n - 1) / 2) * 0.15
            ax.errorbar(x, lam, yerr=err, fmt="o", ms=4, capsize=2, label=label,
                        color=method_color(label, default=f"C{j % 6}"))  # fmt: skip
        ax.axhline(0.0, color="k", lw=0.6)
        lengths = [np.size(v[0] if isinstance(v, tuple) else v) for v in spectra.values()]
        ax.set_xticks(np.arange(1, max(lengths) + 1))  # exponent indices are integers
        ax.set_xlabel("index i")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title)
    return fig


def plot_leading_exponent(per_seed, *, reference=None, reference_err=None, band=0.05,
                          ylabel=r"$\lambda_1$", title=None, ax=None):  # fmt: skip
    r"""The largest Lyapunov exponent of each trained model against the data's, per method.

    Every seed is a dot with :math:`\pm 2` standard errors of its estimate; a horizontal
    bar marks the median over seeds (its relative deviation from the reference is
    written beside it); the reference is a line with a shaded :math:`\pm` ``band`` (a
    relative tolerance) around it.

    Parameters
    ----------
    per_seed : dict of str -> (ndarray, ndarray or None)
        Method label -> ``(lambda_1, stderr)``, both of shape (n_seeds,); NaN entries
        (not measured, e.g. a diverged model) are left out and counted in the tick label.
    reference : float, optional
        The data's :math:`\lambda_1`.
    reference_err : float, optional
        Its standard error (drawn as :math:`\pm 2` SE at the left).
    band : float
        Relative half-width of the shaded band around ``reference`` (0.05: within 5 %).
    ylabel, title : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (5.0, 3.6))
    with style():
        labels = []
        if reference is not None:
            c = METHOD_COLORS["data"]
            ax.axhline(reference, color=c, lw=1.0)
            ax.axhspan(reference * (1 - band), reference * (1 + band), color=c, alpha=0.12,
                       lw=0, label=f"data $\\pm${band:.0%}")  # fmt: skip
            ax.errorbar([0], [reference], yerr=None if reference_err is None
                        else 2 * reference_err, fmt="s", color=c, ms=6, capsize=4)  # fmt: skip
            labels.append("data")
        for j, (label, (lam, err)) in enumerate(per_seed.items()):
            x0 = len(labels)
            c = method_color(label, default=f"C{j % 6}")
            lam = np.asarray(lam, dtype=float)
            err = None if err is None else 2 * np.asarray(err, dtype=float)
            ok = np.isfinite(lam)
            jitter = np.linspace(-0.15, 0.15, lam.size) if lam.size > 1 else np.zeros(1)
            ax.errorbar(x0 + jitter[ok], lam[ok], yerr=None if err is None else err[ok],
                        fmt="o", color=c, ms=5, capsize=4, elinewidth=1.2,
                        label="one seed ($\\pm$2 SE)" if j == 0 else None)  # fmt: skip
            if ok.any():
                med = float(np.median(lam[ok]))
                ax.hlines(med, x0 - 0.3, x0 + 0.3, color=c, lw=2.5,
                          label="median over seeds" if j == 0 else None)  # fmt: skip
                text = f"{med:.3g}"
                if reference:
                    text += f" ({(med - reference) / abs(reference):+.0%})"
                ax.annotate(text, (x0 + 0.32, med), va="center", fontsize=8, color=c)
            missing = int((~ok).sum())
            labels.append(label + (f"\n({missing} not measured)" if missing else ""))
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlim(-0.5, len(labels) - 0.5 + 0.55)  # room for the last median's label
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8, loc="best")
        if title:
            ax.set_title(title)
    return fig


def _axes(ax, figsize):
    """``(fig, ax)``: the given axes and its figure, or a new figure in :data:`STYLE`."""
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    with style():
        fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def plot_log_growth(curves, *, slopes=None, xlabel="steps", ylabel="log norm", title=None,
                    ax=None):  # fmt: skip
    r"""Natural-log curves against steps, each with an optional reference slope.

    Made for norms that grow or decay exponentially -- products of Jacobians, gradient
    norms -- where the slope of :math:`\log\|\cdot\|` is the quantity of interest.

    Parameters
    ----------
    curves : dict of str -> (ndarray, ndarray)
        Label -> ``(x, log_y)``, both of shape (n,); ``log_y`` in natural log (``-inf``
        and non-finite values are left out).
    slopes : dict of str -> float, optional
        Label (of a curve) -> slope :math:`\lambda`. Draws the dashed line
        :math:`b + \lambda x` in the curve's colour, with the intercept :math:`b` fitted
        to the curve by least squares (so only the slope is imposed).
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (5.5, 3.6))
    slopes = slopes or {}
    with style():
        for i, (label, (x, y)) in enumerate(curves.items()):
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            ok = np.isfinite(y)
            color = f"C{i % 6}"
            ax.plot(x[ok], y[ok], color=color, label=label)
            if label in slopes and ok.sum() >= 2:
                lam = float(slopes[label])
                b = float(np.mean(y[ok] - lam * x[ok]))
                xs = np.array([x[ok].min(), x[ok].max()])
                ax.plot(xs, b + lam * xs, color=color, ls="--", lw=1.0,
                        label=f"slope {lam:+.3g}")  # fmt: skip
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title)
    return fig


def plot_convergence(spectrum, *, reference=None, indices=None, ax=None, title=None):
    r"""Running estimates of Lyapunov exponents against measured time, with error bars.

    Parameters
    ----------
    spectrum : refrnn.LyapunovSpectrum
        Its :meth:`~refrnn.LyapunovSpectrum.running_estimate` is drawn (one line per
        exponent); the final values carry :math:`\pm 2` standard errors.
    reference : array_like, shape (k,), optional
        Reference values, drawn as dotted horizontal lines.
    indices : sequence of int, optional
        Which exponents to draw (default all).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import NullFormatter

    fig, ax = _axes(ax, (5.5, 3.6))
    time, est = spectrum.running_estimate()
    indices = range(spectrum.k) if indices is None else indices
    with style():
        for n, i in enumerate(indices):
            color = f"C{n % 6}"
            ax.plot(time, est[:, i], "o-", ms=2.5, color=color, label=rf"$\lambda_{i + 1}$")
            ax.errorbar(time[-1], spectrum.exponents[i], yerr=2 * spectrum.stderr[i],
                        color=color, capsize=3)  # fmt: skip
            if reference is not None:
                ax.axhline(float(np.asarray(reference)[i]), color=color, ls=":", lw=1.0)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide within a decade
        ax.set_xlabel("measured time" + (" (steps)" if spectrum.dt == 1.0 else ""))
        ax.set_ylabel("running estimate")
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title)
    return fig


def plot_unrolled_graph(T, tau=None, *, ax=None, title=None):
    r"""The unrolled computation graph of one window with sparse teacher forcing.

    Rows: data :math:`x_t` (bottom), latent states :math:`z_t` (middle) and loss terms
    :math:`\ell_t = \lVert x_t - \hat x(z_t) \rVert^2` (top). Solid arrows are
    differentiable edges, along which BPTT sends gradients back. :math:`z_0` and, at a
    forced step (``tau`` divides t), the state :math:`\tilde z_t` that feeds step t+1
    are inferred from data (dashed arrows: no gradient flows into data); the edge
    :math:`z_t \to z_{t+1}` of a forced step is cut (grey, crossed).

    Parameters
    ----------
    T : int
        Steps in the window (nodes t = 0..T); keep it small (up to ~12) to stay readable.
    tau : int or None
        Forcing interval (None: plain BPTT).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (0.8 * T + 1.5, 2.4))

    def forced(t):
        return tau is not None and 0 < t < T and t % tau == 0

    def arrow(x0, y0, x1, y1, shrink=11, **kw):
        props = {"arrowstyle": "-|>", "shrinkA": shrink, "shrinkB": shrink, **kw}
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=props)

    def node(x, y, text, shape, ec, fc="white", color="k"):
        ax.text(x, y, text, ha="center", va="center", fontsize=10, color=color,
                bbox={"boxstyle": shape, "fc": fc, "ec": ec})  # fmt: skip

    with style():
        for t in range(T + 1):
            node(t, 0, f"$x_{{{t}}}$", "square", "C0", "#eaf2f8")
            node(t, 1, f"$z_{{{t}}}$", "circle", "C1" if forced(t) else "k")
            if t == 0:
                arrow(0, 0, 0, 1, color="C0", ls="--")
            else:
                node(t, 2, rf"$\ell_{{{t}}}$", "round", "none", "none", "C2")
                arrow(t, 1, t, 2, color="C2")
            if t == T:
                continue
            if forced(t):
                # z_{t+1} = F(z~_t) with z~_t inferred from x_t: the old edge is cut
                node(t + 0.5, 0.5, rf"$\tilde z_{{{t}}}$", "circle", "C0", "#eaf2f8")
                arrow(t, 0, t + 0.5, 0.5, shrink=9, color="C0", ls="--")
                arrow(t + 0.5, 0.5, t + 1, 1, shrink=9, color="k", lw=1.3)
                arrow(t, 1, t + 1, 1, color="0.75")
                ax.text(t + 0.5, 1.0, "x", color="C1", fontsize=13, ha="center", va="center")
            else:
                arrow(t, 1, t + 1, 1, color="k", lw=1.3)
        ax.set_xlim(-0.6, T + 0.6)
        ax.set_ylim(-0.4, 2.4)
        ax.axis("off")
        if title is None:
            title = "plain BPTT" if tau is None else rf"sparse teacher forcing, $\tau = {tau}$"
        ax.set_title(title)
    return fig


def plot_tau_curve(summary, *, tau_pred=None, title=None):
    """D_stsp and D_H against tau per model (mean +- sd over seeds), BPTT as a line.

    Parameters
    ----------
    summary : dict
        A sweep's table summarised over seeds, :func:`refrnn.sweep.summarise` of
        :func:`refrnn.sweep.collect` (:func:`refrnn.sweep.plot_tau_curve` takes the rows
        and does both).
    tau_pred : float, optional
        Predictability time in steps, drawn as a dotted vertical line.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    models = sorted({m for m, _ in summary})
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ci, model in enumerate(models):
            color = f"C{ci}"
            pts = sorted(
                (lab, s) for (m, lab), s in summary.items() if m == model and isinstance(lab, int)
            )
            for ax, metric in zip(axes, ("d_stsp", "d_h"), strict=True):
                if pts:
                    x = [p[0] for p in pts]
                    y = [p[1][metric][0] for p in pts]
                    e = [p[1][metric][1] for p in pts]
                    ax.errorbar(
                        x, y, yerr=e, fmt="o-", color=color, capsize=3, label=f"{model}, STF"
                    )
                for (m, lab), s in summary.items():
                    if m == model and isinstance(lab, str):
                        ax.axhline(
                            s[metric][0], color=color, ls="--", lw=1, label=f"{model}, {lab}"
                        )
        for ax, name in zip(axes, ("$D_{stsp}$", "$D_H$"), strict=True):
            if tau_pred is not None:
                ax.axvline(tau_pred, color="k", ls=":", lw=1, label=r"$\tau_{pred}$")
            ax.set_xscale("log")
            # label the swept values themselves, not log-scale minor ticks (which overlap)
            taus = sorted({lab for _, lab in summary if isinstance(lab, int)})
            ax.set_xticks(taus, [str(t) for t in taus])
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
            ax.set_xlabel(r"forcing interval $\tau$ (steps)")
            ax.set_ylabel(name)
        axes[0].legend(fontsize=8)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def plot_embedding(*choices, threshold=0.1, title=None):
    r"""The curves behind a delay embedding's lag and dimension, with the choices marked.

    One panel per choice, in the order given: for a lag choice
    (:func:`refrnn.embedding.choose_lag`) the average mutual information or the
    autocorrelation against the lag, for a dimension choice
    (:func:`refrnn.embedding.choose_dim`) the fraction of false nearest neighbours
    against the embedding dimension. The chosen value is a dotted vertical line and a
    ring on the curve, so that a reader can check it against the rule it came from
    (first minimum of the AMI, first zero of the autocorrelation, first dimension below
    ``threshold``).

    Parameters
    ----------
    *choices : refrnn.embedding.LagChoice or refrnn.embedding.DimChoice
        At least one, e.g. ``plot_embedding(choose_lag(x), choose_dim(x, lag))``, or
        two lag choices (AMI and autocorrelation) side by side.
    threshold : float or None
        The false-neighbour fraction the dimension was chosen against, drawn as a dashed
        horizontal line on the dimension panels (default 0.1, the default of
        :func:`refrnn.embedding.choose_dim`); None draws none.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from .embedding import DimChoice, LagChoice

    if not choices:
        raise TypeError("plot_embedding needs at least one LagChoice or DimChoice")
    for i, c in enumerate(choices):
        if not isinstance(c, (LagChoice, DimChoice)):
            raise TypeError(
                f"choices[{i}] must be a LagChoice (choose_lag) or a DimChoice (choose_dim), "
                f"got {type(c).__name__}"
            )
    with style():
        fig, axes = plt.subplots(1, len(choices), figsize=(4.6 * len(choices), 3.5),
                                 squeeze=False)  # fmt: skip
        for ax, c in zip(axes[0], choices, strict=True):
            if isinstance(c, LagChoice):
                x, y, chosen = np.arange(len(c.curve)), np.asarray(c.curve), c.lag
                ami = c.method == "ami"
                ax.plot(x, y, "o-", ms=3, color="C0")
                if not ami:
                    ax.axhline(0.0, color="k", lw=0.6)
                rule = "first minimum" if ami else "first zero"
                ax.set_xlabel(r"lag $\ell$ (samples)")
                ax.set_ylabel("average mutual information (nats)" if ami else "autocorrelation")
                ax.set_title(f"{'AMI' if ami else 'autocorrelation'}: lag {chosen} ({rule})")
                label = f"chosen lag {chosen}"
            else:
                x, y, chosen = np.asarray(c.dims), np.asarray(c.fraction), c.dim
                ax.plot(x, y, "o-", ms=3, color="C0")
                if threshold is not None:
                    ax.axhline(threshold, color="0.4", ls="--", lw=0.9,
                               label=f"threshold {threshold:g}")  # fmt: skip
                ax.set_xticks(x)  # dimensions are integers
                ax.set_ylim(bottom=0.0)
                ax.set_xlabel("embedding dimension d")
                ax.set_ylabel("fraction of false nearest neighbours")
                ax.set_title(f"false nearest neighbours: dimension {chosen}")
                label = f"chosen dimension {chosen}"
            ax.axvline(chosen, color="C1", ls=":", lw=1.2, label=label)
            k = np.flatnonzero(x == chosen)
            if k.size and np.isfinite(y[k[0]]):
                ax.plot(chosen, y[k[0]], "o", mfc="none", mec="C1", ms=9, mew=1.5)
            ax.legend(fontsize=8)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
