"""Tests of refrnn.plotting: every figure builds from the public results, with labelled
axes (figures are not compared pixel by pixel)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import refrnn  # noqa: E402
from refrnn import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _history(n=4):
    series = refrnn.generate("lorenz63", 2000, rng=0, test_fraction=0.0).train
    return refrnn.train(refrnn.PLRNN.random(5, 3, rng=0), series, tau=10, n_epochs=n,
                        batches_per_epoch=1, batch_size=2, seq_len=20, rng=1, eval_every=2,
                        eval_steps=300)  # fmt: skip


def test_training_figure_marks_selected_epochs():
    res = _history()
    fig = plotting.plot_training(
        {"STF, seed 0": res.history}, selected={"STF, seed 0": res.best_epoch}
    )
    axes = fig.axes
    assert len(axes) == 3 and all(ax.get_xlabel() == "epoch" for ax in axes)
    assert axes[0].get_title() == "training loss"
    # the selected epoch is drawn as a ring on the D_stsp panel ...
    rings = [l for l in axes[2].lines if l.get_marker() == "o"]
    assert len(rings) == 1 and rings[0].get_xdata()[0] == res.best_epoch
    # ... and as a vertical line on every panel
    for ax in axes:
        vlines = [l for l in ax.lines if l.get_linestyle() == ":"]
        assert [l.get_xdata()[0] for l in vlines] == [res.best_epoch]


def test_training_figure_names_the_evaluation_series_and_has_a_legend_per_panel():
    res = _history()
    fig = plotting.plot_training(
        {"STF, seed 0": res.history, "BPTT, seed 0": res.history},
        selected={"STF, seed 0": res.best_epoch},
        eval_series="the training series",
        units="standardised",
    )
    assert "training series" in fig.axes[2].get_title()
    assert fig.axes[0].get_ylabel() == "mean squared error (standardised)"
    for ax in fig.axes:
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["STF", "BPTT", "selected epoch"]
        assert ax.get_ylabel()


def _colors_by_label(fig):
    """Colour of every legend entry (the legend is drawn from the series' colours)."""
    out = {}
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts(), strict=True):
            get = getattr(handle, "get_color", None) or handle.get_facecolor
            out[text.get_text()] = matplotlib.colors.to_hex(get())
    return out


def test_one_colour_per_method_in_every_figure():
    colors = {k: matplotlib.colors.to_hex(v) for k, v in plotting.METHOD_COLORS.items()}
    assert len(set(colors.values())) == 3  # data, STF and BPTT are told apart
    res = _history()
    X = np.random.default_rng(0).normal(size=(200, 3))
    stf, bptt = "STF (tau=38), seed 0", "BPTT + clip 1, seed 0"
    figs = [
        plotting.plot_attractors(X, {stf: X + 0.1, bptt: X - 0.1}),
        plotting.plot_training({stf: res.history, bptt: res.history}),
        plotting.plot_spectra(
            {
                "Lorenz-63 (data)": np.array([0.9, 0.0, -14.6]),
                stf: np.array([0.8, 0.0, -15.0]),
                bptt: np.array([0.1, -1.0, -20.0]),
            }
        ),  # fmt: skip
    ]
    seen = {}
    for fig in figs:
        for label, color in _colors_by_label(fig).items():
            method = "data" if "data" in label else label.split(" ")[0]
            seen.setdefault(method, set()).add(color)
    assert seen == {"data": {colors["data"]}, "STF": {colors["STF"]}, "BPTT": {colors["BPTT"]}}
    # the attractor panels' lines too, not only the legend
    ax_data, ax_stf, ax_bptt = figs[0].axes
    for ax, method in ((ax_data, "data"), (ax_stf, "STF"), (ax_bptt, "BPTT")):
        assert {matplotlib.colors.to_hex(l.get_color()) for l in ax.lines} == {colors[method]}


@pytest.mark.parametrize(
    ("label", "method"),
    [("data", "data"), ("Lorenz-63 (data)", "data"), ("data (test series)", "data"),
     ("STF (tau=38), seed 2", "STF"), ("stf", "STF"), ("BPTT + clip 1", "BPTT")],
)  # fmt: skip
def test_method_color_reads_the_method_from_the_label(label, method):
    assert plotting.method_color(label) == plotting.METHOD_COLORS[method]
    assert plotting.method_color("tanh RNN", default="C3") == "C3"


def test_leading_exponent_figure_shows_every_seed_with_error_bars_and_the_median():
    lam = np.array([0.80, 0.90, np.nan])  # the third seed was not measured (diverged)
    err = np.array([0.01, 0.02, np.nan])
    fig = plotting.plot_leading_exponent(
        {"STF (tau=38)": (lam, err), "BPTT + clip 1": (np.array([0.2, 0.1, 0.3]), None)},
        reference=0.907, reference_err=0.003, band=0.05,
    )  # fmt: skip
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["data", "STF (tau=38)\n(1 not measured)", "BPTT + clip 1"]
    bars = [c for c in ax.containers if c.has_yerr]
    # data (+-2 SE) and the STF seeds carry error bars; the NaN seed is left out
    assert len(bars) == 2
    stf_points = [c for c in ax.containers if len(c.lines[0].get_ydata()) == 2]
    assert np.allclose(sorted(stf_points[0].lines[0].get_ydata()), [0.80, 0.90])
    # the median over the measured seeds is written with its deviation from the data
    texts = [t.get_text() for t in ax.texts]
    assert f"0.85 ({(0.85 - 0.907) / 0.907:+.0%})" in texts
    # the +-5 % band around the reference
    (band,) = [p for p in ax.patches if p.get_label().startswith("data")]
    lo, hi = band.get_y(), band.get_y() + band.get_height()
    assert np.isclose(lo, 0.907 * 0.95) and np.isclose(hi, 0.907 * 1.05)


def test_stamp_marks_a_figure():
    fig = plotting.plot_spectra({"a": np.array([0.1, -0.5])})
    plotting.stamp(fig)
    stamps = [t for t in fig.texts if t.get_gid() == "refrnn-stamp"]
    assert [t.get_text() for t in stamps] == ["QUICK MODE \u2014 numbers are not meaningful"]


def test_tau_curve_lives_in_plotting_and_sweep_plots_its_rows():
    from refrnn import sweep

    rows = [
        {"model": "PLRNN", "tau": tau, "clip_norm": None, "status": "done", "diverged": False,
         "d_stsp": d, "d_h": 0.1, "prediction_error": 0.01}
        for tau, d in ((10, 0.5), (10, 0.7), (30, 0.3))
    ] + [{"model": "PLRNN", "tau": None, "clip_norm": 1.0, "status": "done", "diverged": False,
          "d_stsp": 2.0, "d_h": 0.3, "prediction_error": 0.1}]  # fmt: skip
    fig = sweep.plot_tau_curve(rows, tau_pred=76.0)
    assert len(plotting.plot_tau_curve(sweep.summarise(rows)).axes) == 2
    ax = fig.axes[0]
    (curve,) = [c for c in ax.containers if c.has_yerr]
    assert np.allclose(curve.lines[0].get_ydata(), [0.6, 0.3])  # mean over the two seeds
    assert any(l.get_ydata()[0] == 2.0 for l in ax.lines)  # BPTT as a horizontal line


def test_spectra_attractors_growth_and_graph_figures_build():
    spectra = {"a": np.array([0.1, -0.5]), "b": (np.array([0.0, -1.0]), np.array([0.01, 0.02]))}
    fig = plotting.plot_spectra(spectra, ylabel="per step")
    assert fig.axes[0].get_ylabel() == "per step"
    X = np.random.default_rng(0).normal(size=(200, 3))
    fig = plotting.plot_attractors(X, {"model": X + 0.1})
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel() == "x0"
    fig = plotting.plot_attractors(X, {"model": X + 0.1}, units="standardised")
    assert fig.axes[1].get_zlabel() == "x2 (standardised)"
    fig = plotting.plot_log_growth({"c": (np.arange(1, 11), 0.1 * np.arange(1, 11))},
                                   slopes={"c": 0.1}, xlabel="T", ylabel="log")  # fmt: skip
    assert fig.axes[0].get_xlabel() == "T" and fig.axes[0].get_ylabel() == "log"
    fig = plotting.plot_unrolled_graph(8, 4)
    assert "tau = 4" in fig.axes[0].get_title() or "4" in fig.axes[0].get_title()
    spec = refrnn.lyapunov_spectrum(refrnn.systems.Henon(), n_steps=2000, transient=100)
    fig = plotting.plot_convergence(spec, reference=[0.419, -1.623])
    assert fig.axes[0].get_xlabel()


def test_attractor_overlay_draws_the_data_behind_each_model_run():
    X = np.random.default_rng(0).normal(size=(300, 3))
    fig = plotting.plot_attractors(X, {"STF, seed 0": X + 0.1}, dims=(0, 2), overlay=True,
                                   units="standardised")  # fmt: skip
    ax_data, ax_model = fig.axes
    assert ax_model.get_ylabel() == "x2 (standardised)" and len(ax_data.lines) == 2
    grey, run, end = ax_model.lines
    assert matplotlib.colors.to_hex(grey.get_color()) == "#bfbfbf"
    assert np.array_equal(grey.get_ydata(), X[:, 2])  # the data, behind the run
    assert np.array_equal(run.get_ydata(), X[:, 2] + 0.1)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["data", "STF, seed 0", "data, behind each model"]


def test_training_figure_has_an_alpha_panel_for_gtf_runs():
    h = {
        "epoch": np.arange(5.0),
        "loss": np.ones(5),
        "grad_norm": np.ones(5),
        "d_stsp": np.full(5, np.nan),
        "alpha": np.linspace(1, 0.5, 5),
    }
    stf = {**h, "alpha": np.full(5, np.nan)}
    fig = plotting.plot_training({"GTF, seed 0": h, "STF, seed 0": stf})
    assert len(fig.axes) == 4 and "alpha" in fig.axes[3].get_title()
    np.testing.assert_array_equal(fig.axes[3].lines[0].get_ydata(), h["alpha"])
    assert len(plotting.plot_training({"STF, seed 0": stf}).axes) == 3


def test_embedding_figure_marks_the_chosen_lag_and_dimension():
    # a noisy sine of period 40 samples: AMI and autocorrelation pick about a quarter period
    t = np.arange(4000)
    x = np.sin(2 * np.pi * t / 40) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    ami = refrnn.embedding.choose_lag(x, 30)
    acf = refrnn.embedding.choose_lag(x, 30, method="acf")
    dim = refrnn.embedding.choose_dim(x, ami.lag, 5)
    fig = plotting.plot_embedding(ami, acf, dim, threshold=0.1, title="noisy sine")
    assert len(fig.axes) == 3 and fig.texts[0].get_text() == "noisy sine"
    for ax, choice, chosen in zip(fig.axes, (ami, acf, dim), (ami.lag, acf.lag, dim.dim),
                                  strict=True):  # fmt: skip
        curve, *marks = ax.lines
        if choice is dim:
            np.testing.assert_array_equal(curve.get_xdata(), dim.dims)
            np.testing.assert_array_equal(curve.get_ydata(), dim.fraction)
        else:
            np.testing.assert_array_equal(curve.get_ydata(), choice.curve)
        # the chosen value: a dotted vertical line and a ring on the curve at that value
        vline = [l for l in marks if l.get_linestyle() == ":"]
        assert [l.get_xdata()[0] for l in vline] == [chosen]
        (ring,) = [l for l in marks if l.get_marker() == "o"]
        assert ring.get_xdata()[0] == chosen
        k = list(curve.get_xdata()).index(chosen)
        assert ring.get_ydata()[0] == curve.get_ydata()[k]
        assert ax.get_xlabel() and ax.get_ylabel() and str(chosen) in ax.get_title()
    assert "mutual information" in fig.axes[0].get_ylabel()
    assert fig.axes[1].get_ylabel() == "autocorrelation"
    # the threshold the dimension was chosen against, dashed
    assert [l.get_ydata()[0] for l in fig.axes[2].lines if l.get_linestyle() == "--"] == [0.1]
    fig = plotting.plot_embedding(dim, threshold=None)
    assert len(fig.axes) == 1 and not [l for l in fig.axes[0].lines if l.get_linestyle() == "--"]


def test_embedding_figure_refuses_what_is_not_a_choice():
    with pytest.raises(TypeError, match="at least one"):
        plotting.plot_embedding()
    with pytest.raises(TypeError, match=r"choices\[1\] must be a LagChoice"):
        plotting.plot_embedding(refrnn.embedding.choose_lag(np.sin(np.arange(500) / 5)), 3)
