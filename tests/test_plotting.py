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


def test_training_figure_marks_selected_epochs():
    series = refrnn.generate("lorenz63", 2000, rng=0, test_fraction=0.0).train
    res = refrnn.train(refrnn.PLRNN.random(5, 3, rng=0), series, tau=10, n_epochs=4,
                       batches_per_epoch=1, batch_size=2, seq_len=20, rng=1, eval_every=2,
                       eval_steps=300)  # fmt: skip
    fig = plotting.plot_training(
        {"STF, seed 0": res.history}, selected={"STF, seed 0": res.best_epoch}
    )
    axes = fig.axes
    assert len(axes) == 3 and all(ax.get_xlabel() == "epoch" for ax in axes)
    assert axes[0].get_title() == "training loss"
    # the selected epoch is drawn as a ring on the D_stsp panel
    rings = [l for l in axes[2].lines if l.get_marker() == "o"]
    assert len(rings) == 1 and rings[0].get_xdata()[0] == res.best_epoch


def test_spectra_attractors_growth_and_graph_figures_build():
    spectra = {"a": np.array([0.1, -0.5]), "b": (np.array([0.0, -1.0]), np.array([0.01, 0.02]))}
    fig = plotting.plot_spectra(spectra, ylabel="per step")
    assert fig.axes[0].get_ylabel() == "per step"
    X = np.random.default_rng(0).normal(size=(200, 3))
    fig = plotting.plot_attractors(X, {"model": X + 0.1})
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel() == "x0"
    fig = plotting.plot_log_growth({"c": (np.arange(1, 11), 0.1 * np.arange(1, 11))},
                                   slopes={"c": 0.1}, xlabel="T", ylabel="log")  # fmt: skip
    assert fig.axes[0].get_xlabel() == "T" and fig.axes[0].get_ylabel() == "log"
    fig = plotting.plot_unrolled_graph(8, 4)
    assert "tau = 4" in fig.axes[0].get_title() or "4" in fig.axes[0].get_title()
    spec = refrnn.lyapunov_spectrum(refrnn.systems.Henon(), n_steps=2000, transient=100)
    fig = plotting.plot_convergence(spec, reference=[0.419, -1.623])
    assert fig.axes[0].get_xlabel()
