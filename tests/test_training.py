"""Tests of refrnn.training: Adam, clipping, tau resolution, checkpoints and resume."""

import math
import warnings

import numpy as np
import pytest

import refrnn
from refrnn import training as tr


@pytest.fixture(scope="module")
def series():
    # a short standardised Lorenz-63 series (dt = 0.01)
    return refrnn.data.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train


def _small_run(series, **kw):
    model = refrnn.PLRNN.random(6, 3, rng=0)
    args = dict(
        tau=10,
        n_epochs=4,
        batches_per_epoch=2,
        batch_size=4,
        seq_len=20,
        rng=1,
        eval_every=2,
        eval_steps=500,
    )
    args.update(kw)
    return tr.train(model, series, **args)


def test_adam_matches_hand_computation():
    opt = tr.Adam(lr=0.1)
    p = {"w": np.array([1.0, -2.0])}
    g = {"w": np.array([0.5, -0.25])}
    p1 = opt.step(p, g)
    # first step: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) ~ lr sign(g)
    np.testing.assert_allclose(p1["w"], p["w"] - 0.1 * g["w"] / (np.abs(g["w"]) + 1e-8))
    p2 = opt.step(p1, g)
    m = (0.9 * 0.1 * g["w"] + 0.1 * g["w"]) / (1 - 0.9**2)
    v = (0.999 * 0.001 * g["w"] ** 2 + 0.001 * g["w"] ** 2) / (1 - 0.999**2)
    np.testing.assert_allclose(p2["w"], p1["w"] - 0.1 * m / (np.sqrt(v) + 1e-8), rtol=1e-14)


def test_resolve_tau():
    assert tr.resolve_tau(None)[0] is None
    assert tr.resolve_tau(7) == (7, "given")
    tau, src = tr.resolve_tau("auto", lambda_max=0.00906)
    # tau_pred = ln 2 / 0.00906 = 76.5 steps; the default fraction 0.3 gives 22.95 -> 23
    assert tau == round(0.3 * math.log(2) / 0.00906) == 23 and "given lambda_max" in src
    assert tr.resolve_tau("auto", lambda_max=0.00906, tau_fraction=1.0)[0] == 77
    assert tr.resolve_tau("auto", lambda_max=0.5, tau_fraction=0.1)[0] == 1  # at least 1
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="tau_fraction must be in"):
            tr.resolve_tau("auto", lambda_max=0.01, tau_fraction=bad)
    with pytest.raises(TypeError, match="tau_fraction"):
        tr.resolve_tau("auto", lambda_max=0.01, tau_fraction="half")
    with pytest.raises(ValueError, match="positive lambda_max"):
        tr.resolve_tau("auto", lambda_max=-0.1)
    with pytest.raises(ValueError, match='tau must be an int >= 1, None or "auto"'):
        tr.resolve_tau("fast")
    with pytest.raises(ValueError, match="tau must be >= 1"):
        tr.resolve_tau(0)


def test_training_reduces_loss_and_records_history(series):
    res = _small_run(series, n_epochs=30, seq_len=30, batch_size=8, eval_every=10)
    h = res.history
    assert len(h["loss"]) == 30 and res.tau == 10 and res.tau_source == "given"
    assert np.mean(h["loss"][-5:]) < np.mean(h["loss"][:5])
    # D_stsp only on evaluation epochs (10, 20, 30)
    assert np.flatnonzero(np.isfinite(h["d_stsp"])).tolist() == [9, 19, 29]
    assert np.all(np.diag(res.model.params["W"]) == 0)


def test_clipping_bounds_the_update(series):
    """Adam divides by sqrt(v) + eps with eps = 1e-8: a gradient clipped to norm 1e-12 moves
    each parameter by ~lr * 1e-4 in the first step, an unclipped one by lr = 1e-3 (Adam's
    first step is lr * sign(g)). The move therefore shows whether clipping happened; the
    clipped run also equals a replay with the gradient rescaled by hand."""
    init = refrnn.PLRNN.random(6, 3, rng=0)
    kw = dict(tau=None, n_epochs=1, batches_per_epoch=1, batch_size=4, seq_len=20, rng=1,
              eval_every=0)  # fmt: skip
    clipped = tr.train(init, series, clip_norm=1e-12, **kw)
    free = tr.train(init, series, **kw)
    move = lambda r: max(np.max(np.abs(v - init.params[k])) for k, v in r.model.params.items())  # noqa: E731
    assert clipped.history["grad_norm"][0] > 1e-6  # the norm is recorded before clipping
    assert move(clipped) < 1e-6
    assert move(free) > 0.9e-3
    windows = refrnn.data.sample_windows(series, 4, 20, np.random.default_rng(1))
    _, g = refrnn.loss_and_grad(init, windows, None)
    norm = tr.global_norm(g)
    replay = init.replace(
        **tr.Adam(1e-3).step(init.params, {k: v * 1e-12 / norm for k, v in g.items()})
    )
    assert replay == clipped.model


def test_resume_gives_identical_parameters(series, tmp_path):
    full = _small_run(series, n_epochs=6)
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=3, checkpoint=ck, checkpoint_every=1)
    resumed = _small_run(series, n_epochs=6, checkpoint=ck, checkpoint_every=1, resume=True)
    for k, v in full.model.params.items():
        np.testing.assert_array_equal(resumed.model.params[k], v)
    np.testing.assert_array_equal(resumed.history["loss"], full.history["loss"])


def test_window_sampling_without_replacement_draws_distinct_starts_per_epoch(series, monkeypatch):
    """Each epoch's batches together hold distinct, valid window starts (the released
    code's sampling); with the default every batch draws its own starts."""
    seen = []  # every batch's given starts (None: drawn), batch by batch or an epoch at once
    real, real_epoch = tr._window_starts, tr._epoch_window_starts

    def spy(X, S, T, rng, epoch_starts=None, batch=0):
        seen.append(None if epoch_starts is None else epoch_starts[batch].copy())
        return real(X, S, T, rng, epoch_starts, batch)

    def spy_epoch(X, n_batches, S, T, rng, epoch_starts=None):
        seen.extend([None] * n_batches if epoch_starts is None else epoch_starts.copy())
        return real_epoch(X, n_batches, S, T, rng, epoch_starts)

    monkeypatch.setattr(tr, "_window_starts", spy)
    monkeypatch.setattr(tr, "_epoch_window_starts", spy_epoch)
    _small_run(series, n_epochs=3, batches_per_epoch=5, batch_size=8, eval_every=None,
               window_sampling="without_replacement")  # fmt: skip
    assert len(seen) == 15
    n_starts = len(series) - 20
    epochs = [np.concatenate(seen[e * 5 : (e + 1) * 5]) for e in range(3)]
    for starts in epochs:
        assert len(np.unique(starts)) == 40
        assert starts.min() >= 0 and starts.max() < n_starts
    assert not np.array_equal(epochs[0], epochs[1])
    seen.clear()
    _small_run(series, n_epochs=1, eval_every=None)
    assert seen == [None, None]


@pytest.mark.parametrize("n", [7, 19_900, 2**33 + 5])
def test_an_epochs_starts_drawn_at_once_are_the_batch_by_batch_draws(n):
    """One draw of all the epoch's window starts (the whole-epoch kernel path) gives the
    numbers, and leaves the generator in the state, that one draw per batch (the warm-up
    path, refrnn.data.sample_windows) gives -- also for odd batch sizes and for ranges
    past 32 bits, where NumPy draws differently."""
    X = np.broadcast_to(0.0, (n + 10, 1))  # only its length matters: starts in [0, n)
    for seed in range(20):
        for S in (1, 3, 32):
            a, b = np.random.default_rng(seed), np.random.default_rng(seed)
            at_once = tr._epoch_window_starts(X, 5, S, 10, a)
            by_batch = [tr._window_starts(X, S, 10, b) for _ in range(5)]
            np.testing.assert_array_equal(at_once, np.stack(by_batch))
            assert a.bit_generator.state == b.bit_generator.state
    given = np.arange(12).reshape(4, 3)
    assert tr._epoch_window_starts(X, 4, 3, 10, None, given) is given


def test_window_sampling_without_replacement_resumes_exactly(series, tmp_path):
    kw = dict(window_sampling="without_replacement")
    full = _small_run(series, n_epochs=6, **kw)
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=3, checkpoint=ck, checkpoint_every=1, **kw)
    resumed = _small_run(series, n_epochs=6, checkpoint=ck, resume=True, **kw)
    np.testing.assert_array_equal(resumed.history["loss"], full.history["loss"])
    assert full.config["window_sampling"] == "without_replacement"
    with pytest.raises(ValueError, match="window_sampling"):  # the setting is part of the run
        _small_run(series, n_epochs=6, checkpoint=ck, resume=True)


def _as_written_by_0_4(ck):
    """Remove the settings added in 0.5 ("window_sampling", "lr_decay_start", "ema_decay")
    from a checkpoint's run record, as refrnn 0.4.0 wrote it."""
    import json

    with np.load(ck, allow_pickle=False) as f:
        arrays = dict(f)
    config = json.loads(str(arrays["config"]))
    del config["window_sampling"], config["lr_decay_start"], config["ema_decay"]
    arrays["config"] = np.array(json.dumps(config))
    np.savez(ck, **arrays)


def test_a_checkpoint_from_before_window_sampling_resumes(series, tmp_path):
    """refrnn 0.4.0 checkpoints have no "window_sampling" in their record: they ran with
    replacement, which resumes; asking for the other sampling is refused."""
    ck = tmp_path / "ck.npz"
    full = _small_run(series, n_epochs=4)
    _small_run(series, n_epochs=2, checkpoint=ck, checkpoint_every=1)
    _as_written_by_0_4(ck)
    resumed = _small_run(series, n_epochs=4, checkpoint=ck, resume=True)
    np.testing.assert_array_equal(resumed.history["loss"], full.history["loss"])
    _small_run(series, n_epochs=2, checkpoint=ck, checkpoint_every=1)
    _as_written_by_0_4(ck)
    with pytest.raises(ValueError, match="window_sampling"):
        _small_run(series, n_epochs=4, checkpoint=ck, resume=True,
                   window_sampling="without_replacement")  # fmt: skip


def test_window_sampling_bad_values(series):
    with pytest.raises(ValueError, match="window_sampling must be one of"):
        _small_run(series, window_sampling="shuffle")
    # 3000 - 20 = 2980 possible starts cannot give 100 x 32 distinct ones
    with pytest.raises(ValueError, match="needs batches_per_epoch \\* batch_size = 3200"):
        _small_run(series, batches_per_epoch=100, batch_size=32,
                   window_sampling="without_replacement")  # fmt: skip


def test_detach_forcing_reaches_the_gradient(series):
    """One Adam step from the same start: the settings differ only in B."""
    init = refrnn.PLRNN.random(6, 3, rng=0)
    kw = dict(tau=5, n_epochs=1, batches_per_epoch=1, batch_size=4, seq_len=20, rng=3,
              eval_every=None)  # fmt: skip
    a = refrnn.train(init, series, **kw)
    b = refrnn.train(init, series, detach_forcing=True, **kw)
    assert a.config["detach_forcing"] is False and b.config["detach_forcing"] is True
    for k in ("A", "W", "h"):
        np.testing.assert_array_equal(a.model.params[k], b.model.params[k])
    assert not np.array_equal(a.model.params["B"], b.model.params["B"])
    with pytest.raises(TypeError, match="detach_forcing"):
        refrnn.train(init, series, detach_forcing="no", **kw)


def test_resume_refuses_changed_settings(series, tmp_path):
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=2, checkpoint=ck)
    with pytest.raises(ValueError, match="settings differ"):
        _small_run(series, n_epochs=4, checkpoint=ck, resume=True, tau=5)


def test_divergence_stops_training_and_keeps_checkpoint(series, tmp_path):
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=2, checkpoint=ck)
    before = ck.read_bytes()
    # A = 10 everywhere: every window overflows within ~300 steps
    M = 6
    bad = refrnn.PLRNN(np.full(M, 10.0), np.zeros((M, M)), np.ones(M), np.eye(M)[:3])
    with pytest.raises(tr.TrainingDiverged, match="epoch 0"):
        tr.train(
            bad,
            series,
            tau=None,
            n_epochs=2,
            batches_per_epoch=1,
            batch_size=2,
            seq_len=400,
            rng=0,
            checkpoint=tmp_path / "other.npz",
        )
    assert not (tmp_path / "other.npz").exists()
    assert ck.read_bytes() == before


def test_bad_arguments(series):
    model = refrnn.PLRNN.random(4, 3, rng=0)
    with pytest.raises(ValueError, match=r"X must have shape \(T, N=3\)"):
        tr.train(model, series[:, :2], tau=5)
    with pytest.raises(ValueError, match="fewer than seq_len"):
        tr.train(model, series[:50], tau=5, seq_len=100)
    with pytest.raises(ValueError, match="clip_norm"):
        tr.train(model, series, tau=5, clip_norm=0)
    with pytest.raises(TypeError, match="model must be"):
        tr.train("m", series, tau=5)
    # found by the fuzz tests: float("abc") and NumPy's MemoryError named no argument
    with pytest.raises(TypeError, match="clip_norm must be a real number"):
        tr.train(model, series, tau=5, clip_norm="abc")
    with pytest.raises(ValueError, match="batch_size=1000000000000 needs"):
        tr.train(model, series, tau=5, batch_size=10**12)
    with pytest.raises(TypeError, match="lambda_max must be a real number"):
        tr.train(model, series, tau="auto", lambda_max="abc")
    # a sine: the Rosenstein estimate has no rising divergence curve to fit (was its
    # ValueError, which named neither tau nor lambda_max)
    sine = np.tile(np.sin(0.3 * np.arange(300))[:, None], (1, 3))
    with pytest.raises(ValueError, match='tau="auto" could not estimate lambda_max'):
        tr.train(model, sine, tau="auto", n_epochs=1, seq_len=10)


def test_best_model_is_the_lowest_d_stsp_evaluation(series, tmp_path):
    res = _small_run(series, n_epochs=8, eval_every=2)
    d = res.history["d_stsp"]
    assert res.best_epoch == int(np.nanargmin(d))
    assert res.best_model is not None
    # resuming restores the best model too
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=4, eval_every=2, checkpoint=ck, checkpoint_every=1)
    resumed = _small_run(series, n_epochs=8, eval_every=2, checkpoint=ck, resume=True)
    assert resumed.best_epoch == res.best_epoch and resumed.best_model == res.best_model
    assert _small_run(series, eval_every=0).best_model is None


def test_selection_uses_several_starts_and_records_them(series):
    res = _small_run(series, n_epochs=6, eval_every=2, eval_starts=2)
    h = res.history
    ev = np.isfinite(h["d_stsp"])
    assert np.all(h["d_stsp_min"][ev] <= h["d_stsp"][ev])
    assert np.all(h["d_stsp"][ev] <= h["d_stsp_max"][ev])
    sel = res.selection
    assert sel["epoch"] == res.best_epoch == int(np.nanargmin(h["d_stsp"]))
    assert sel["n_starts"] == 2 and sel["series"] == "training series"
    assert sel["n_evaluations"] == 3
    lo, hi = sel["d_stsp_range"]
    assert lo <= sel["d_stsp"] <= hi
    # with two starts the median is the mean of the two scores: the score is the median
    np.testing.assert_allclose(
        h["d_stsp"][ev], 0.5 * (h["d_stsp_min"][ev] + h["d_stsp_max"][ev]), rtol=1e-12
    )
    assert _small_run(series, eval_every=0).selection is None


def test_evaluation_scores_each_start_and_reports_divergence(series):
    """The median of per-start scores, each the D_stsp of its own free run; a diverging
    model scores inf, not NaN, so it can never be selected."""
    model = refrnn.PLRNN.random(6, 3, rng=0)
    ds = tr._evaluate(model, series, 500, 3)
    starts = tr._selection_starts(len(series), 3)
    assert starts == [0, len(series) // 3, 2 * len(series) // 3]
    want = [
        refrnn.metrics.state_space_divergence(
            series, refrnn.metrics.generate_free_run(model, series, 500, start=s)
        )
        for s in starts
    ]
    np.testing.assert_array_equal(ds, want)
    bad = refrnn.PLRNN(np.full(6, 10.0), np.zeros((6, 6)), np.ones(6), np.eye(6)[:3])
    assert np.all(tr._evaluate(bad, series, 500, 3) == np.inf)
    with pytest.raises(ValueError, match="eval_starts"):
        _small_run(series, eval_starts=0)


def test_lr_decay_is_exponential_per_epoch(series):
    """Epoch e takes Adam steps with lr * lr_decay**e: replayed by hand, step by step."""
    init = refrnn.PLRNN.random(5, 3, rng=2)
    kw = dict(tau=5, n_epochs=3, batches_per_epoch=1, batch_size=4, seq_len=15, eval_every=None)
    res = refrnn.train(init, series, rng=7, lr=1e-2, lr_decay=0.5, **kw)
    assert res.config["lr_decay"] == 0.5
    rng = np.random.default_rng(7)
    opt, model = tr.Adam(1e-2), init
    for e in range(3):
        opt.lr = 1e-2 * 0.5**e
        windows = refrnn.data.sample_windows(series, 4, 15, rng)
        _, g = refrnn.loss_and_grad(model, windows, 5)
        model = model.replace(**opt.step(model.params, g))
    # train's fused step forms B^+ and the forcing states B^+ x in its kernel, the replay
    # with NumPy (another summation order): equal to rounding, not bit for bit
    for k, v in model.params.items():
        np.testing.assert_allclose(res.model.params[k], v, rtol=1e-12, atol=1e-15)
    same = refrnn.train(init, series, rng=7, lr=1e-2, lr_decay=1.0, **kw)
    assert same.model == refrnn.train(init, series, rng=7, lr=1e-2, **kw).model
    for bad, exc in ((0.0, ValueError), (1.5, ValueError), ("0.9", TypeError)):
        with pytest.raises(exc, match="lr_decay"):
            refrnn.train(init, series, lr_decay=bad, **kw)


def test_lr_decay_start_delays_the_decay(series):
    """With lr_decay_start=s, epoch e uses lr * lr_decay**max(0, e - s): replayed by hand."""
    init = refrnn.PLRNN.random(5, 3, rng=2)
    kw = dict(tau=5, n_epochs=4, batches_per_epoch=1, batch_size=4, seq_len=15, eval_every=None)
    res = refrnn.train(init, series, rng=7, lr=1e-2, lr_decay=0.5, lr_decay_start=2, **kw)
    assert res.config["lr_decay_start"] == 2
    rng = np.random.default_rng(7)
    opt, model = tr.Adam(1e-2), init
    for e, lr in enumerate((1e-2, 1e-2, 1e-2, 5e-3)):
        assert lr == 1e-2 * 0.5 ** max(0, e - 2)
        opt.lr = lr
        windows = refrnn.data.sample_windows(series, 4, 15, rng)
        _, g = refrnn.loss_and_grad(model, windows, 5)
        model = model.replace(**opt.step(model.params, g))
    for k, v in model.params.items():
        np.testing.assert_allclose(res.model.params[k], v, rtol=1e-12, atol=1e-15)
    # a start at the last epoch or beyond is the constant rate, and says so
    with pytest.warns(UserWarning, match="lr_decay_start=3 has no effect in a run"):
        late = refrnn.train(init, series, rng=7, lr=1e-2, lr_decay=0.5, lr_decay_start=3, **kw)
    assert late.model == refrnn.train(init, series, rng=7, lr=1e-2, **kw).model
    with pytest.warns(UserWarning, match="lr_decay_start=2 has no effect with lr_decay=1.0"):
        refrnn.train(init, series, rng=7, lr=1e-2, lr_decay_start=2, **kw)
    for bad, exc in ((-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="lr_decay_start"):
            refrnn.train(init, series, lr_decay_start=bad, **kw)


def test_resume_across_the_start_of_a_late_decay(series, tmp_path):
    """Interrupted before lr_decay_start and resumed past it: the parameters of an
    uninterrupted run (the rate is a function of the epoch alone)."""
    kw = dict(lr=1e-2, lr_decay=0.5, lr_decay_start=2, checkpoint_every=1)
    full = _small_run(series, n_epochs=5, **kw)
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=2, checkpoint=ck, **kw)
    resumed = _small_run(series, n_epochs=5, checkpoint=ck, resume=True, **kw)
    assert resumed.model == full.model
    with pytest.raises(ValueError, match="lr_decay_start"):
        _small_run(series, n_epochs=5, checkpoint=ck, resume=True, **{**kw, "lr_decay_start": 3})


def _hand_average(iterates, beta):
    """The bias-corrected exponential average of ``iterates`` (models after Adam steps
    1..k), as a dict of arrays: weights beta**(k - j) (1 - beta) / (1 - beta**k)."""
    k = len(iterates)
    weights = np.array([beta ** (k - j) * (1 - beta) for j in range(1, k + 1)]) / (1 - beta**k)
    assert math.isclose(weights.sum(), 1.0, rel_tol=1e-14)
    return {
        name: sum(w * m.params[name] for w, m in zip(weights, iterates, strict=True))
        for name in iterates[0].params
    }


def _assert_params_close(model, params):
    for k, v in params.items():
        np.testing.assert_allclose(model.params[k], v, rtol=1e-13, atol=1e-15)


def test_ema_average_replayed_by_hand(series, monkeypatch):
    """ema_decay: the iterates are those of a run without it (the optimiser never sees the
    average); the average is updated after every batch (several per epoch here), and
    every evaluation scores -- and the selection keeps -- the bias-corrected average of
    the iterates so far, replayed by hand; averaged_model is the average after the last
    batch."""
    iterates, scored = [], []
    run = tr._FusedBatchStep.run

    def recording_run(self, model, opt, windows, *args):
        # batch by batch, to see every iterate (test_batched: the same numbers as the
        # whole epoch in one call)
        losses, norms = [], []
        for w in windows:
            model, loss, norm = run(self, model, opt, w[None], *args)
            iterates.append(model)
            losses.append(loss)
            norms.append(norm)
        return model, np.concatenate(losses), np.concatenate(norms)

    def recording_evaluate(model, *args):
        scored.append((len(iterates), model))
        return np.array([float(len(scored))])  # scores 1, 2, 3: the first is the best

    monkeypatch.setattr(tr._FusedBatchStep, "run", recording_run)
    monkeypatch.setattr(tr, "_evaluate", recording_evaluate)
    init = refrnn.PLRNN.random(5, 3, rng=2)
    kw = dict(tau=5, n_epochs=3, batches_per_epoch=2, batch_size=4, seq_len=15, rng=7,
              lr=1e-2, eval_every=1, eval_starts=1, eval_steps=100)  # fmt: skip
    beta = 0.6
    res = refrnn.train(init, series, ema_decay=beta, **kw)
    assert len(iterates) == 6 and [k for k, _ in scored] == [2, 4, 6]
    assert res.model == iterates[-1] and res.config["ema_decay"] == beta
    for k, model in scored:
        _assert_params_close(model, _hand_average(iterates[:k], beta))
        assert not np.allclose(model.params["W"], iterates[k - 1].params["W"], atol=1e-6)
    assert res.best_epoch == 0 and res.best_model is scored[0][1]
    _assert_params_close(res.averaged_model, _hand_average(iterates, beta))
    # without ema_decay: the same iterates, no average, the iterates are scored
    with_average, iterates[:], scored[:] = list(iterates), [], []
    plain = refrnn.train(init, series, **kw)
    assert plain.averaged_model is None and plain.model == with_average[-1]
    assert all(a == b for a, b in zip(iterates, with_average, strict=True))
    assert [m for _, m in scored] == [iterates[1], iterates[3], iterates[5]]


def test_ema_resume_is_exact_and_part_of_the_run(series, tmp_path):
    """The average is in the checkpoint: interrupted and resumed, it equals the average of
    an uninterrupted run bit for bit; resuming with another ema_decay (or none) is
    refused. (A checkpoint from before ema_decay: test_a_checkpoint_from_before_...)"""
    kw = dict(ema_decay=0.7, checkpoint_every=1)
    full = _small_run(series, n_epochs=5, **kw)
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=2, checkpoint=ck, **kw)
    resumed = _small_run(series, n_epochs=5, checkpoint=ck, resume=True, **kw)
    assert resumed.model == full.model and resumed.averaged_model == full.averaged_model
    with pytest.raises(ValueError, match="ema_decay"):
        _small_run(series, n_epochs=5, checkpoint=ck, resume=True, ema_decay=0.8)
    with pytest.raises(ValueError, match="ema_decay"):
        _small_run(series, n_epochs=5, checkpoint=ck, resume=True)
    # a file whose average is missing (damaged, or edited by hand) is refused, not resumed
    # without one
    with np.load(ck, allow_pickle=False) as f:
        arrays = {k: v for k, v in f.items() if not k.startswith("average.")}
    np.savez(ck, **arrays)
    with pytest.raises(ValueError, match="keeps a parameter average"):
        _small_run(series, n_epochs=5, checkpoint=ck, resume=True, **kw)


@pytest.mark.parametrize(
    "bad, exc",
    [(0.0, ValueError), (1.0, ValueError), (-0.5, ValueError), (float("nan"), ValueError),
     ("0.9", TypeError), (True, TypeError)],
)  # fmt: skip
def test_ema_decay_bad_values_name_it(series, bad, exc):
    with pytest.raises(exc, match="ema_decay"):
        _small_run(series, ema_decay=bad)


def test_result_repr_is_short(series):
    r = repr(_small_run(series))
    assert r.startswith("TrainResult(model=PLRNN(M=6") and "best_epoch=" in r and len(r) < 200


def _persistence_loss(series, tau, seq_len):
    """STF loss of 'repeat the last forced observation' (what a model stuck near the data
    it was last given scores) on many windows of the series."""
    W = refrnn.data.sample_windows(series, 2000, seq_len, 0)
    last_forced = (np.arange(1, seq_len + 1) - 1) // tau * tau
    return float(np.mean((W[:, 1:] - W[:, last_forced]) ** 2))


@pytest.mark.parametrize("seed", [0, 1])
def test_identity_readout_learns_beyond_persistence_at_tau_10(seed):
    """The identity readout with tau = 10 and the default warm-up learns the dynamics
    between forced steps: after 150 short epochs its loss is well below persistence
    (measured 0.08-0.12 against 0.198; at tau = 30 the loss stays at 0.5-0.7, as in
    docs/results/identity_readout.md). 0.75 x persistence leaves room for noise in the
    mean of the last 10 epochs yet fails if the model sits still."""
    series = refrnn.generate("lorenz63", 10_000, rng=0, test_fraction=0.0).train
    res = refrnn.train(
        refrnn.PLRNN.random(30, 3, rng=seed, readout="identity"), series, tau=10,
        n_epochs=150, batches_per_epoch=5, batch_size=16, seq_len=60, rng=seed,
        eval_every=None,
    )  # fmt: skip
    assert res.config["warmup"] == 100
    assert np.mean(res.history["loss"][-10:]) < 0.75 * _persistence_loss(series, 10, 60)


def test_tau_at_least_seq_len_warns_that_nothing_is_forced(series):
    """tau >= seq_len forces only z_0 of each window: plain BPTT, whatever tau says."""
    model = refrnn.PLRNN.random(6, 3, rng=0)
    kw = dict(n_epochs=1, batches_per_epoch=1, batch_size=2, seq_len=20, eval_every=None)
    with pytest.warns(UserWarning, match="tau=20 >= seq_len=20.*plain BPTT"):
        refrnn.train(model, series, tau=20, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refrnn.train(model, series, tau=19, **kw)


def test_identity_readout_warns_where_measured_not_to_work(series):
    model = refrnn.PLRNN.random(6, 3, rng=0, readout="identity")
    kw = dict(n_epochs=1, batches_per_epoch=1, batch_size=2, seq_len=20, eval_every=None)
    with pytest.warns(UserWarning, match="identity readout with tau=30"):
        refrnn.train(model, series, tau=30, **kw)
    with pytest.warns(UserWarning, match="tau=None"):
        refrnn.train(model, series, tau=None, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = refrnn.train(model, series, tau=10, warmup=5, **kw)
        linear = refrnn.PLRNN.random(6, 3, rng=0)
        refrnn.train(linear, series, tau=30, **{**kw, "seq_len": 40})  # linear: fine
    assert res.config["warmup"] == 5
    with pytest.raises(ValueError, match="identity readout only"):
        refrnn.train(refrnn.PLRNN.random(6, 3, rng=0), series, tau=30, warmup=10, **kw)
    with pytest.raises(ValueError, match="warmup \\+ seq_len \\+ 1"):
        refrnn.train(model, series[:120], tau=10, warmup=100, **kw)
    # M == N: every state observed and forced, nothing left uncut, no warning
    square = refrnn.ShallowPLRNN.random(3, 3, L=4, rng=0, readout="identity")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refrnn.train(square, series, tau=30, **{**kw, "seq_len": 40})


def test_evaluation_and_checkpoint_arguments_fail_before_training(series, tmp_path):
    model = refrnn.PLRNN.random(6, 3, rng=0)
    kw = dict(tau=10, n_epochs=1, batches_per_epoch=1, batch_size=2, seq_len=20)
    with pytest.raises(ValueError, match=r"eval_data must have shape \(T, N=3\)"):
        tr.train(model, series, eval_data=series[:, :2], **kw)
    with pytest.raises(ValueError, match="eval_data must hold at least 2 samples"):
        tr.train(model, series, eval_data=series[:1], **kw)
    with pytest.raises(ValueError, match="not all equal"):
        tr.train(model, series, eval_data=np.ones((50, 3)), **kw)
    with pytest.raises(ValueError, match="checkpoint must be a file path"):
        tr.train(model, series, checkpoint=tmp_path, **kw)


def test_resume_refuses_other_data_model_or_seed(series, tmp_path):
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=2, checkpoint=ck, checkpoint_every=1)
    for kw, what in (
        (dict(rng=2), "rng"),
        (dict(), "data"),
    ):
        X = series[::-1].copy() if what == "data" else series
        with pytest.raises(ValueError, match=f"{what}_fingerprint.*Pass resume=False"):
            tr.train(refrnn.PLRNN.random(6, 3, rng=0), X, tau=10, n_epochs=4, batches_per_epoch=2,
                     batch_size=4, seq_len=20, eval_every=2, eval_steps=500, checkpoint=ck,
                     resume=True, **({"rng": 1} | kw))  # fmt: skip
    with pytest.raises(ValueError, match="changed inputs: initial_model_fingerprint"):
        tr.train(refrnn.PLRNN.random(6, 3, rng=5), series, tau=10, n_epochs=4, batches_per_epoch=2,
                 batch_size=4, seq_len=20, rng=1, eval_every=2, eval_steps=500, checkpoint=ck,
                 resume=True)  # fmt: skip
    # resume=False starts over and overwrites the checkpoint
    fresh = tr.train(refrnn.PLRNN.random(6, 3, rng=5), series, tau=10, n_epochs=2,
                     batches_per_epoch=2, batch_size=4, seq_len=20, rng=1, eval_every=2,
                     eval_steps=500, checkpoint=ck, resume=False)  # fmt: skip
    assert tr.load_checkpoint(ck)[0] == fresh.model


def test_fingerprints_are_recorded_for_runs_with_a_checkpoint(series, tmp_path):
    """The run record of a run that writes a checkpoint holds the fingerprints a resume
    is checked against (the saved record too); a run without one skips the hashing."""
    keys = {"data_fingerprint", "eval_data_fingerprint", "initial_model_fingerprint",
            "rng_fingerprint"}  # fmt: skip
    assert not keys & set(_small_run(series, n_epochs=1).config)
    ck = tmp_path / "ck.npz"
    res = _small_run(series, n_epochs=1, checkpoint=ck)
    assert keys <= set(res.config) and all(isinstance(res.config[k], str) for k in keys)
    assert res.config["eval_data_fingerprint"] == res.config["data_fingerprint"]
    assert tr.load_checkpoint(ck)[4] == res.config


def test_resume_with_fewer_epochs_than_the_checkpoint_is_refused(series, tmp_path):
    ck = tmp_path / "ck.npz"
    _small_run(series, n_epochs=4, checkpoint=ck, checkpoint_every=1)
    with pytest.raises(ValueError, match="holds 4 epochs, more than n_epochs=2"):
        _small_run(series, n_epochs=2, checkpoint=ck, resume=True)
    assert len(_small_run(series, n_epochs=4, checkpoint=ck, resume=True).history["epoch"]) == 4


def test_identity_training_uses_the_warm_up(series, monkeypatch):
    """Every batch of an identity-readout run goes through warm_start with the configured
    warm-up and tau; the linear readout never does."""
    calls = []
    real = tr.warm_start

    def spy(model, X, warmup, tau):
        calls.append((X.shape, warmup, tau))
        return real(model, X, warmup, tau)

    monkeypatch.setattr(tr, "warm_start", spy)
    kw = dict(n_epochs=2, batches_per_epoch=3, batch_size=2, seq_len=20, eval_every=None)
    tr.train(refrnn.PLRNN.random(6, 3, rng=0, readout="identity"), series, tau=5, warmup=7, **kw)
    assert calls == [((2, 28, 3), 7, 5)] * 6
    calls.clear()
    tr.train(refrnn.PLRNN.random(6, 3, rng=0), series, tau=5, **kw)
    assert calls == []


# ======================================================================================
# generalized teacher forcing
def test_gtf_alpha_is_the_product_upper_bound_rule():
    """alpha = max(0, 1 - 1/G), G the largest over windows of the geometric mean of
    ||J(z^_t)||_2 at the forcing states of steps 1..T -- recomputed here with NumPy."""
    rng = np.random.default_rng(0)
    model = refrnn.ShallowPLRNN.random(5, 2, L=8, rng=rng)
    W = rng.normal(size=(3, 9, 2))
    G = max(
        np.exp(
            np.mean(
                [np.log(np.linalg.norm(model.jacobian(z), 2)) for z in model.infer_state(w[1:])]
            )
        )  # fmt: skip
        for w in W
    )
    assert tr.gtf_alpha(model, W) == pytest.approx(max(0.0, 1 - 1 / G), rel=1e-12)
    # a contracting model (all norms < 1) needs no forcing
    small = model.replace(A=0.1 * model.params["A"], W1=0.01 * model.params["W1"])
    assert tr.gtf_alpha(small, W) == 0.0


def test_gtf_update_jumps_up_and_decays_slowly():
    assert tr._gtf_update(0.2, 0.5, 0.999) == 0.5
    assert tr._gtf_update(0.5, 0.2, 0.999) == pytest.approx(0.999 * 0.5 + 0.001 * 0.2, rel=1e-15)


def test_gtf_decay_keeps_the_released_time_constant_as_a_fraction_of_the_run():
    # the released configuration: 5000 epochs x 50 batches, an estimate every 5 batches
    assert tr.gtf_decay(5000 * 50 / 5) == pytest.approx(0.999, rel=1e-15)
    assert tr.gtf_decay(800) == pytest.approx(1 - 1 / 16, rel=1e-15)
    assert tr.gtf_decay(10) == 0.0  # short runs: alpha follows the estimate


def test_auto_alpha_is_estimated_every_gtf_every_batches(series, monkeypatch):
    """Estimates at global batches 0, 5, 10 (GTF_EVERY = 5) of 3 epochs x 4 batches; with
    gamma = 0.5 and estimates 0.2, 0.9, 0.1 alpha is 0.5*1 + 0.5*0.2 = 0.6 after epoch 0,
    jumps to 0.9 in epoch 1 and decays to 0.5*0.9 + 0.5*0.1 = 0.5 in epoch 2."""
    assert tr.GTF_EVERY == 5
    estimates = iter([0.2, 0.9, 0.1])
    calls = []

    def scripted(model, windows):
        calls.append(windows.shape)
        return next(estimates)

    monkeypatch.setattr(tr, "gtf_alpha", scripted)
    res = refrnn.train(refrnn.PLRNN.random(6, 3, rng=0), series, tau=None, alpha="auto",
                       alpha_decay=0.5, n_epochs=3, batches_per_epoch=4, batch_size=6,
                       seq_len=20, rng=1, eval_every=None)  # fmt: skip
    assert calls == [(tr.GTF_WINDOWS, 21, 3)] * 3
    np.testing.assert_allclose(res.history["alpha"], [0.6, 0.9, 0.5], rtol=1e-15)
    assert res.config["alpha_decay"] == res.config["alpha_gamma"] == 0.5


@pytest.mark.parametrize(
    "kw, err",
    [
        (dict(alpha=None, alpha_decay=0.9), ValueError),
        (dict(alpha=0.3, alpha_decay=0.9), ValueError),
        (dict(alpha="auto", alpha_decay=1.0), ValueError),
        (dict(alpha="auto", alpha_decay=-0.1), ValueError),
        (dict(alpha="auto", alpha_decay=float("nan")), ValueError),
        (dict(alpha="auto", alpha_decay="slow"), TypeError),
    ],
)
def test_train_rejects_bad_alpha_decay(series, kw, err):
    with pytest.raises(err, match="alpha_decay"):
        refrnn.train(refrnn.PLRNN.random(4, 3, rng=0), series, tau=None, n_epochs=1, **kw)


def test_train_with_auto_alpha_records_it_and_resumes_exactly(series, tmp_path):
    kw = dict(tau=None, alpha="auto", n_epochs=4, batches_per_epoch=3, batch_size=6,
              seq_len=20, rng=1, eval_every=None)  # fmt: skip
    model = refrnn.PLRNN.random(6, 3, rng=0)
    full = refrnn.train(model, series, **kw)
    a = full.history["alpha"]
    assert a.shape == (4,) and np.all((a >= 0) & (a <= 1)) and full.config["alpha"] == "auto"
    assert full.config["alpha_gamma"] == tr.gtf_decay(4 * 3 / 5) == 0.0
    ck = tmp_path / "ck.npz"
    refrnn.train(model, series, checkpoint=ck, checkpoint_every=1, **{**kw, "n_epochs": 2})
    resumed = refrnn.train(model, series, checkpoint=ck, resume=True, **kw)
    np.testing.assert_array_equal(resumed.history["alpha"], a)
    for k, v in full.model.params.items():
        np.testing.assert_array_equal(resumed.model.params[k], v)


def test_train_fixed_alpha_and_stf_history(series):
    kw = dict(n_epochs=2, batches_per_epoch=1, batch_size=4, seq_len=20, rng=1,
              eval_every=None)  # fmt: skip
    model = refrnn.PLRNN.random(6, 3, rng=0)
    gtf = refrnn.train(model, series, tau=None, alpha=0.3, **kw)
    np.testing.assert_array_equal(gtf.history["alpha"], [0.3, 0.3])
    stf = refrnn.train(model, series, tau=10, **kw)
    assert np.all(np.isnan(stf.history["alpha"])) and stf.config["alpha"] is None


@pytest.mark.parametrize("alpha", [-0.5, 2.0, float("nan"), "adaptive", [0.5]])
def test_train_rejects_bad_alpha(series, alpha):
    with pytest.raises(ValueError, match="alpha"):
        refrnn.train(refrnn.PLRNN.random(6, 3, rng=0), series, tau=None, alpha=alpha,
                     n_epochs=1)  # fmt: skip


def _tiny_run(**kw):
    series = refrnn.generate("lorenz63", 1000, rng=0, test_fraction=0.0).train
    return refrnn.train(refrnn.PLRNN.random(4, 3, rng=0), series, tau=5, n_epochs=10,
                        batches_per_epoch=1, batch_size=2, seq_len=10, rng=1,
                        eval_every=0, **kw)  # fmt: skip


def test_progress_in_a_log_is_lines_without_carriage_returns(capsys):
    _tiny_run(progress=True)
    err = capsys.readouterr().err  # captured: not a terminal, as a log file
    assert "\r" not in err
    lines = err.splitlines()
    # 10 epochs, one line per 10 %
    assert len(lines) == 10 and lines[-1].startswith("train: 10/10 epochs (100%)")
    assert all("loss=" in line and "gnorm=" in line for line in lines)


def test_callback_receives_every_epoch_record():
    records = []
    res = _tiny_run(callback=records.append)
    assert [r["epoch"] for r in records] == list(range(10))
    assert [r["loss"] for r in records] == list(res.history["loss"])
    with pytest.raises(TypeError, match="callback"):
        _tiny_run(callback="print")


def test_reprs_are_short():
    res = _tiny_run()
    assert len(repr(res)) < 200 and "epochs=10" in repr(res)
    opt = tr.Adam(1e-3)
    assert repr(opt) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, steps=0)"
