"""Tests of the scripts under experiments/ that are not thin wrappers: the refrnn half of
the side-by-side comparison and the summaries of the stability experiment."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import refrnn

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def side_by_side():
    return _load("side_by_side")


def test_side_by_side_without_the_authors_code_says_what_it_needs(side_by_side, tmp_path, capsys):
    assert side_by_side.main(["--authors-code", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "DurstewitzLab/ChaosRNN" in err and "--authors-code" in err
    assert side_by_side.main([]) == 2


def test_side_by_side_refrnn_half(side_by_side, tmp_path):
    """Snapshots every 2 epochs of a resumed-in-chunks run equal an uninterrupted run's
    model, and each is scored by the shared metric."""
    X = refrnn.generate("lorenz63", 2000, rng=0, test_fraction=0.0).train
    cfg = dict(side_by_side.CONFIG, M=6, seq_len=20, batch_size=4, batches_per_epoch=2)
    side_by_side.CONFIG, saved = cfg, side_by_side.CONFIG
    try:
        snaps = side_by_side.refrnn_run(X, seed=0, epochs=4, every=2, work_dir=tmp_path)
    finally:
        side_by_side.CONFIG = saved
    assert [s["epoch"] for s in snaps] == [2, 4]
    assert snaps[0]["wall"] < snaps[1]["wall"]
    X_train, X_test = side_by_side.split(X)
    whole = refrnn.train(
        refrnn.PLRNN.random(6, 3, rng=0), X_train, tau=30, n_epochs=4, seq_len=20,
        batch_size=4, batches_per_epoch=2, rng=1, eval_every=None,
    )  # fmt: skip
    assert snaps[1]["d_stsp"] == side_by_side.score(whole.model.params, X_test)[0]
    assert not list(tmp_path.glob("*.ck.npz"))  # the chunk checkpoint is removed


def test_side_by_side_refrnn_variant_scores_the_average(side_by_side, tmp_path):
    """The clipped, averaged variant: its last snapshot scores the parameter average of an
    uninterrupted run with the same settings (resumed in chunks, the average carries over)."""
    X = refrnn.generate("lorenz63", 2000, rng=0, test_fraction=0.0).train
    cfg = dict(side_by_side.CONFIG, M=6, seq_len=20, batch_size=4, batches_per_epoch=2)
    side_by_side.CONFIG, saved = cfg, side_by_side.CONFIG
    variant = "refrnn-clip1-ema0.995"
    try:
        snaps = side_by_side.refrnn_run(X, 0, 4, 2, tmp_path, variant)
    finally:
        side_by_side.CONFIG = saved
    X_train, X_test = side_by_side.split(X)
    whole = refrnn.train(
        refrnn.PLRNN.random(6, 3, rng=0), X_train, tau=30, n_epochs=4, seq_len=20,
        batch_size=4, batches_per_epoch=2, rng=1, eval_every=None,
        **side_by_side.REFRNN_VARIANTS[variant],
    )  # fmt: skip
    assert whole.averaged_model is not None
    assert snaps[1]["d_stsp"] == side_by_side.score(whole.averaged_model.params, X_test)[0]
    assert snaps[1]["B_norm"] == np.linalg.norm(whole.averaged_model.params["B"], 2)


def test_side_by_side_summary(side_by_side):
    snaps = [
        {"epoch": e, "wall": 0.1 * e, "d_stsp": d, "d_h": 0.1, "B_norm": 1.0}
        for e, d in zip(range(50, 351, 50), [3.8, 0.4, 0.25, 2.0, 0.2, 0.3, 0.35], strict=True)
    ]
    s = side_by_side.summarise({"snapshots": snaps})
    assert s["best"] == 0.2 and s["best_wall"] == pytest.approx(25.0)
    assert s["final"] == 0.35 and s["wall_to_threshold"] == pytest.approx(15.0)
    assert s["relapse_fraction"] == pytest.approx(1 / 5)  # after epoch 100: one of 5 > 1
    assert s["s_per_epoch"] == pytest.approx(0.1)


def test_stability_summary_counts_relapses_after_first_convergence():
    mod = _load("stf_stability")
    run = {"eval_epoch": [50, 100, 150, 200, 250], "d_stsp": [3.0, 0.4, np.nan, 0.2, 1.5]}
    s = mod.summarise(run)
    # a diverged free run (NaN) counts as a relapse
    assert s["best"] == 0.2 and s["final"] == 1.5
    assert s["relapse_fraction"] == pytest.approx(2 / 3)
    assert s["first_converged_epoch"] == 100


@pytest.fixture(scope="module")
def gtf_vs_stf():
    return _load("gtf_vs_stf")


def test_gtf_vs_stf_relapse_fraction(gtf_vs_stf):
    # converged at the 2nd snapshot; after it 0.3 (fine), 1e9 (a diverged free run, stored
    # as 1e9), 1.5 (relapse), 0.8 (between the thresholds: no relapse)
    run = {"d_stsp_validation": [3.0, 0.4, 0.3, 1e9, 1.5, 0.8]}
    assert gtf_vs_stf.relapse_fraction(run) == pytest.approx(2 / 4)
    assert np.isnan(gtf_vs_stf.relapse_fraction({"d_stsp_validation": [3.0, 0.6]}))


def test_gtf_vs_stf_models_have_similar_parameter_counts(gtf_vs_stf):
    counts = {m: gtf_vs_stf._n_params(gtf_vs_stf._model(m, 0)) for m in gtf_vs_stf.MODELS}
    assert counts == {"PLRNN": 500, "shPLRNN": 520, "shPLRNN-id": 706}  # as the page states
    assert gtf_vs_stf._model("shPLRNN-id", 0).readout == "identity"


def test_gtf_vs_stf_verdict_compares_auto_with_the_best_stf(gtf_vs_stf):
    def entry(d, r):
        return {"selected_d_stsp": d, "relapse_fraction": r}

    table = {
        ("shPLRNN", "STF tau=10"): entry([0.5, 0.6, 0.7], [0.2, 0.3, 0.1]),
        ("shPLRNN", "STF tau=20"): entry([0.3, 0.4, float("nan")], [0.5, 0.5, 0.5]),
        ("shPLRNN", "GTF auto"): entry([0.35, 0.4, 0.45], [0.0, 0.1, 0.0]),
    }
    v = gtf_vs_stf.verdict(table)
    # tau=20's median counts the NaN (diverged) as inf: median of (0.3, 0.4, inf) = 0.4
    assert v["best_stf"] == "STF tau=20" and v["d_stsp_best_stf"] == 0.4
    assert v["d_stsp_auto"] == 0.4 and v["d_stsp_met"]
    assert v["relapse_auto"] == 0.0 and v["relapses_met"]


def test_gtf_vs_stf_one_tiny_run(gtf_vs_stf, tmp_path, monkeypatch):
    monkeypatch.setattr(gtf_vs_stf, "RUNS", tmp_path)
    run = gtf_vs_stf.run_one("shPLRNN", "GTF auto", seed=0, epochs=2, every=1)
    assert run["eval_epoch"] == [1, 2] and len(run["alpha"]) == 2
    assert 0 <= min(run["alpha"]) <= max(run["alpha"]) <= 1
    assert set(run["selected"]) == {"d_stsp", "d_h", "diverged"}
    assert (tmp_path / "shPLRNN-GTF_auto-seed0-e2.json").exists()
    # cached: a second call reads the file instead of training
    assert gtf_vs_stf.run_one("shPLRNN", "GTF auto", seed=0, epochs=2, every=1) == run


def test_lyapunov_from_series_table_cells():
    mod = _load("lyapunov_from_series")
    ok = {"relative_error": [-0.1, 0.02, -0.05], "no_linear_region": 1}
    assert mod._cell(ok, 3) == "-5 % [-10, +2], warned 1/3"
    nan = float("nan")
    mixed = {"relative_error": [nan, 0.1, 0.3], "no_linear_region": 2}
    assert mod._cell(mixed, 3) == "+20 % [+10, +30], warned 1/3, refused 1/3"
    assert mod._cell({"relative_error": [nan, nan], "no_linear_region": 2}, 2) == "refused 2/2"
    X, dt = mod.make_series("Hénon (state)", "8-bit", 0)
    assert len(np.unique(X[:, 0])) <= 256 and dt == 1.0
