"""Tests of refrnn._batched: batch-major STF-BPTT and the fused training step against the
definitions (``loss_and_grad_numpy``), the window-by-window kernels and the Python step."""

import warnings

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import problems

import refrnn
from refrnn import _batched, _kernels, training
from refrnn.bptt import loss_and_grad_numpy


def _rel_err(a, b):
    scale = np.max(np.abs(b))
    return np.max(np.abs(a - b)) / scale if scale > 0 else np.max(np.abs(a))


@st.composite
def batched_problems(draw):
    """Problems of the batch-major kinds with up to 2.5 chunks of windows (a partial last
    chunk included), with and without GTF."""
    name = draw(st.sampled_from(["PLRNN", "VanillaRNN"]))
    model, X, tau = draw(problems(model_name=name, max_M=10, max_T=12, max_S=1))
    S = draw(st.integers(1, 2 * _batched.CHUNK + _batched.CHUNK // 2))
    X = np.random.default_rng(S).normal(size=(S,) + X.shape[1:])
    alpha = draw(st.one_of(st.none(), st.floats(0.0, 1.0)))
    return model, X, tau, alpha


@settings(max_examples=60)
@given(problem=batched_problems(), detach=st.booleans())
def test_batched_loss_and_grad_equals_the_definition(problem, detach):
    model, X, tau, alpha = problem
    assert model.kind in _kernels.BATCHED_KINDS
    loss, grads = refrnn.loss_and_grad(model, X, tau, alpha=alpha, detach_forcing=detach)
    loss_r, grads_r, _ = loss_and_grad_numpy(model, X, tau, alpha=alpha, detach_forcing=detach)
    assert loss == pytest.approx(loss_r, rel=1e-12, abs=0)
    for k in grads:
        assert _rel_err(grads[k], grads_r[k]) < 1e-12, k
    # and the window-by-window kernels (which serve return_state_grads)
    loss_w, grads_w, _ = refrnn.loss_and_grad(
        model, X, tau, alpha=alpha, detach_forcing=detach, return_state_grads=True
    )
    assert loss == pytest.approx(loss_w, rel=1e-12, abs=0)
    for k in grads:
        assert _rel_err(grads[k], grads_w[k]) < 1e-12, k


def test_batched_path_uses_the_forcing_argument():
    model = refrnn.PLRNN.random(6, 2, rng=3, readout="identity")
    X = np.random.default_rng(4).normal(size=(40, 30, 2))
    Xw, F = refrnn.bptt.warm_start(model, X, 8, 3)
    loss, grads = refrnn.loss_and_grad(model, Xw, 3, forcing=F)
    loss_r, grads_r, _ = loss_and_grad_numpy(model, Xw, 3, forcing=F)
    assert loss == pytest.approx(loss_r, rel=1e-12)
    for k in grads:
        assert _rel_err(grads[k], grads_r[k]) < 1e-12


@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
def test_batched_results_do_not_depend_on_the_thread_count(cls):
    """Chunks are fixed (CHUNK windows) and reduced in chunk order: bit for bit equal."""
    model = cls.random(60, 3, rng=0)  # M >= GEMM_MIN_DIM: the BLAS path too
    X = np.random.default_rng(1).normal(size=(3 * _batched.CHUNK + 5, 21, 3))
    n = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = refrnn.loss_and_grad(model, X, 4)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = refrnn.loss_and_grad(model, X, 4)
    finally:
        numba.set_num_threads(n)
    assert one[0] == many[0]
    for k in one[1]:
        np.testing.assert_array_equal(one[1][k], many[1][k])


def test_divergence_in_the_batched_path_is_reported_like_the_window_path():
    """A non-finite state sends loss_and_grad to the window-by-window kernels, which name
    the window and step as before."""
    model = refrnn.PLRNN.random(5, 2, rng=0).replace(A=np.full(5, 3.0))
    X = np.random.default_rng(0).normal(size=(20, 2001, 2))
    with pytest.raises(refrnn.DivergenceError, match=r"window 0 at step \d+"):
        refrnn.loss_and_grad(model, X)


def _train_both(model, series, **kw):
    """``train`` with the fused step and with the Python step (the window-by-window path)."""
    kw = {"n_epochs": 2, "batches_per_epoch": 3, "batch_size": 20, "seq_len": 15,
          "eval_every": None, "rng": 3, **kw}  # fmt: skip
    fused = refrnn.train(model, series, **kw)
    kinds = _kernels.BATCHED_KINDS
    try:
        _kernels.BATCHED_KINDS = ()
        plain = refrnn.train(model, series, **kw)
    finally:
        _kernels.BATCHED_KINDS = kinds
    return fused, plain


SETTINGS = [
    {"tau": 5},
    {"tau": None, "clip_norm": 0.5},
    {"tau": 3, "alpha": 0.4},
    {"tau": None, "alpha": "auto"},
    {"tau": 4, "detach_forcing": True},
    {"tau": 5, "clip_norm": 0.5, "ema_decay": 0.9},
    {"tau": 5, "warmup": 0},  # the identity readout's whole-epoch path too
]


@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
@pytest.mark.parametrize("readout", ["linear", "identity"])
@pytest.mark.parametrize("kw", SETTINGS)
def test_fused_training_step_equals_the_python_step(cls, readout, kw):
    """Two epochs of three Adam steps: parameters, losses and gradient norms agree to
    rounding (the sums are reordered; the Adam update is the same expression)."""
    series = refrnn.data.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train
    model = cls.random(6, 3, rng=1, readout=readout)
    if readout == "identity":
        kw = {"warmup": 10, **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identity readout with tau > 10
        fused, plain = _train_both(model, series, **kw)
    for k, p in plain.model.params.items():
        assert _rel_err(fused.model.params[k], p) < 1e-12, k
    for k in ("loss", "grad_norm"):
        np.testing.assert_allclose(fused.history[k], plain.history[k], rtol=1e-12)
    if "ema_decay" in kw:  # the fused step keeps the moving average in its kernel
        for k, p in plain.averaged_model.params.items():
            assert _rel_err(fused.averaged_model.params[k], p) < 1e-12, k
    # the model the fused step builds without validation is a valid, equal model
    rebuilt = fused.model.replace()
    assert rebuilt == fused.model
    if readout == "linear":
        np.testing.assert_allclose(
            fused.model.B_pinv, np.linalg.pinv(fused.model.B), rtol=0, atol=1e-13
        )


def test_fused_step_keeps_adam_state_for_checkpoints(tmp_path):
    """The Adam moments and the parameters' average live in the fused step's flat
    vectors; checkpoints and exact resume see them through Adam's and the average's
    dicts."""
    series = refrnn.data.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train
    model = refrnn.PLRNN.random(6, 3, rng=1)
    kw = {"tau": 5, "batches_per_epoch": 2, "batch_size": 20, "seq_len": 15,
          "eval_every": None, "rng": 3, "ema_decay": 0.9}  # fmt: skip
    full = refrnn.train(model, series, n_epochs=4, **kw)
    ck = tmp_path / "ck.npz"
    refrnn.train(model, series, n_epochs=2, checkpoint=ck, checkpoint_every=1, **kw)
    resumed = refrnn.train(model, series, n_epochs=4, checkpoint=ck, resume=True, **kw)
    for k, p in full.model.params.items():
        np.testing.assert_array_equal(resumed.model.params[k], p)
        np.testing.assert_array_equal(resumed.averaged_model.params[k],
                                      full.averaged_model.params[k])  # fmt: skip


#: Positions in the arguments of _batched._train_batches.
_THETA_K, _B, _WINDOWS, _C1, _C2, _AVG, _NEW, _LOSSES, _NORMS = 4, 5, 6, 17, 18, 22, 23, 26, 27


def _batches(args, lo, hi):
    """The arguments of _batched._train_batches for its batches lo..hi-1 only."""
    cut = list(args)
    for i in (_WINDOWS, _C1, _C2, _LOSSES, _NORMS):
        cut[i] = args[i][lo:hi]
    return cut


def _assert_same_run(a, b, rtol=0.0):
    """Two TrainResults alike: parameters, their average, losses and gradient norms (bit
    for bit unless ``rtol``)."""
    for k, p in b.model.params.items():
        assert _rel_err(a.model.params[k], p) <= rtol, k
        assert _rel_err(a.averaged_model.params[k], b.averaged_model.params[k]) <= rtol, k
    for k in ("loss", "grad_norm"):
        np.testing.assert_allclose(a.history[k], b.history[k], rtol=rtol, atol=0)


@pytest.mark.parametrize(
    "readout, extra, batches_per_call",
    [
        ("linear", {}, [4, 4, 4]),
        ("identity", {}, [4, 4, 4]),
        # adaptive alpha: calls end where GTF updates alpha, every 5th batch of the run
        # (0 | 5 = epoch 1, batch 1 | 10 = epoch 2, batch 2)
        ("linear", {"tau": None, "alpha": "auto"}, [4, 1, 3, 2, 2]),
    ],
)
def test_whole_epoch_in_one_call_equals_batch_by_batch(monkeypatch, readout, extra,
                                                       batches_per_call):  # fmt: skip
    """``train`` hands a whole epoch's batches to one kernel call (no warm-up; with
    adaptive alpha, the batches between two of its updates); the kernel's loop over
    batches gives what one call per batch gives, bit for bit: the same windows in the
    same order, the same Adam steps and average."""
    series = refrnn.data.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train
    model = refrnn.PLRNN.random(6, 3, rng=1, readout=readout)
    kw = {"tau": 5, "n_epochs": 3, "batches_per_epoch": 4, "batch_size": 20, "seq_len": 15,
          "eval_every": None, "rng": 3, "ema_decay": 0.9, "clip_norm": 0.5,
          "warmup": 0, **extra}  # fmt: skip
    calls = []
    run = training._FusedBatchStep.run

    def counted(self, model, opt, windows, *args):
        calls.append(len(windows))
        return run(self, model, opt, windows, *args)

    monkeypatch.setattr(training._FusedBatchStep, "run", counted)
    whole = refrnn.train(model, series, **kw)
    assert calls == batches_per_call

    def one_by_one(self, model, opt, windows, *args):
        losses, norms = [], []
        for w in windows:
            model, loss, norm = run(self, model, opt, w[None], *args)
            losses.append(loss)
            norms.append(norm)
        return model, np.concatenate(losses), np.concatenate(norms)

    monkeypatch.setattr(training._FusedBatchStep, "run", one_by_one)
    single = refrnn.train(model, series, **kw)
    _assert_same_run(whole, single)


def test_fallback_in_mid_epoch_continues_the_run(monkeypatch):
    """A batch the kernel reports as non-finite (status 1) goes to the Python step, and
    the epoch continues in the kernel from the next batch: Adam's step count and bias
    corrections, the moving average, the losses and the parameters come out as in a run
    without the fallback (to rounding: one batch's sums are ordered differently)."""
    series = refrnn.data.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train
    model = refrnn.PLRNN.random(6, 3, rng=1)
    kw = {"tau": 5, "n_epochs": 2, "batches_per_epoch": 5, "batch_size": 20, "seq_len": 15,
          "eval_every": None, "rng": 3, "ema_decay": 0.8, "clip_norm": 0.5}  # fmt: skip
    plain = refrnn.train(model, series, **kw)
    kernel, fallbacks = _batched._train_batches, []

    def failing_at_batch_2(*args):
        if len(args[_WINDOWS]) <= 2:
            return kernel(*args)
        assert kernel(*_batches(args, 0, 2)) == (0, 2)
        fallbacks.append(len(args[_WINDOWS]))
        return 1, 2  # "batch 2 was not finite": nothing of it done

    monkeypatch.setattr(_batched, "_train_batches", failing_at_batch_2)
    patched = refrnn.train(model, series, **kw)
    # epoch 1: batches 0-1 in the kernel, 2 by Python, 3-4 in the kernel; epoch 2 alike
    assert fallbacks == [5, 5]
    _assert_same_run(patched, plain, rtol=1e-12)


def test_invalid_parameters_in_mid_epoch_go_to_the_constructor(monkeypatch):
    """Status 2 (new parameters the kernel finds invalid) hands them to the model's
    constructor, which raises where they are invalid (NaN here); where it accepts them
    (here: a step reported invalid although it is not), the run goes on with them exactly
    as if the kernel had taken the step: step count, moving average, losses and
    parameters bit for bit."""
    series = refrnn.data.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train
    model = refrnn.PLRNN.random(6, 3, rng=1)
    kw = {"tau": 5, "n_epochs": 2, "batches_per_epoch": 5, "batch_size": 20, "seq_len": 15,
          "eval_every": None, "rng": 3, "ema_decay": 0.8}  # fmt: skip
    plain = refrnn.train(model, series, **kw)
    kernel, reported = _batched._train_batches, []

    def invalid_at_batch_2(*args):
        if len(args[_WINDOWS]) <= 2:
            return kernel(*args)
        assert kernel(*_batches(args, 0, 2)) == (0, 2)
        current = [args[i].copy() for i in (_THETA_K, _B, _AVG)]
        assert kernel(*_batches(args, 2, 3)) == (0, 1)  # Adam's moments and `new` updated ...
        for i, a in zip((_THETA_K, _B, _AVG), current, strict=True):
            args[i][:] = a  # ... but the step not taken, as with status 2
        reported.append(len(args[_WINDOWS]))
        return 2, 2

    monkeypatch.setattr(_batched, "_train_batches", invalid_at_batch_2)
    patched = refrnn.train(model, series, **kw)
    assert reported == [5, 5]
    _assert_same_run(patched, plain)

    def non_finite(*args):
        args[_NEW][:] = np.nan
        return 2, 0

    monkeypatch.setattr(_batched, "_train_batches", non_finite)
    with pytest.raises(training.TrainingDiverged, match="parameters became invalid"):
        refrnn.train(model, series, **kw)


def test_fused_step_diverges_like_the_python_step():
    """A step so large that the next forward pass overflows: the same TrainingDiverged
    (the fused step hands a non-finite batch to the window-by-window path, which says
    where)."""
    series = refrnn.data.generate("lorenz63", 3000, rng=0, test_fraction=0.0).train
    model = refrnn.PLRNN.random(4, 3, rng=1)
    messages = []
    for kinds in (_kernels.BATCHED_KINDS, ()):
        saved = _kernels.BATCHED_KINDS
        try:
            _kernels.BATCHED_KINDS = kinds
            with pytest.raises(training.TrainingDiverged) as info:
                refrnn.train(model, series, tau=5, n_epochs=1, batches_per_epoch=3,
                             batch_size=4, seq_len=10, eval_every=None, lr=1e300,
                             rng=0)  # fmt: skip
        finally:
            _kernels.BATCHED_KINDS = saved
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_gather_windows_equals_fancy_indexing():
    """The training loop's window gather is the index-array expression it replaces,
    exactly, also for a non-contiguous series."""
    X = np.random.default_rng(3).normal(size=(500, 6))
    starts = np.random.default_rng(4).integers(0, 500 - 40, size=17)
    for series in (X, X[:, ::2]):
        ref = series[starts[:, None] + np.arange(40)]
        assert np.array_equal(_batched.gather_windows(series, starts, 39), ref)


_TRAIN = """
import numpy as np, refrnn
X = refrnn.data.generate(refrnn.systems.Lorenz63(), 600, rng=0, test_fraction=0.0).train
refrnn.train(refrnn.PLRNN.random(4, 3, rng=0), X, tau=5, n_epochs=1, batches_per_epoch=2,
             batch_size=4, seq_len=20, eval_every=None, rng=0)
"""
_LOSS = """
import numpy as np, refrnn
m = refrnn.PLRNN.random(10, 3, rng=0)
X = np.random.default_rng(0).normal(size=(400, 3))
for T, S, tau in [(5, 1, None), (20, 5, 5), (40, 17, 10)]:
    refrnn.loss_and_grad(m, np.stack([X[i : i + T + 1] for i in range(S)]), tau=tau)
"""


def test_cached_kernels_load_in_later_processes():
    """Training and loss_and_grad in turn, each in a new process that loads what the
    previous ones compiled into Numba's cache. A cached kernel with two compiled
    signatures calling the parallel chunk kernel once made such a sequence crash
    (segmentation fault) in the fourth process."""
    import subprocess
    import sys

    for code in (_TRAIN, _LOSS, _TRAIN, _LOSS):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]


def test_parallel_chunk_kernel_has_one_signature():
    """The parallel chunk kernel is compiled for one signature only, whatever the caller
    passes (read-only windows, the model's read-only B^+, training): see
    test_cached_kernels_load_in_later_processes for what two signatures once did."""
    series = refrnn.data.generate("lorenz63", 600, rng=0, test_fraction=0.0).train
    model = refrnn.PLRNN.random(4, 3, rng=0)
    kw = dict(tau=5, n_epochs=1, batches_per_epoch=2, batch_size=4, seq_len=20,
              eval_every=None, rng=0)  # fmt: skip
    refrnn.train(model, series, **kw)  # a whole epoch per call
    identity = refrnn.PLRNN.random(4, 3, rng=0, readout="identity")
    refrnn.train(identity, series, warmup=5, **kw)  # a batch per call
    refrnn.train(model, series, alpha="auto", **kw)
    X = np.stack([series[i : i + 21] for i in range(5)])
    X.flags.writeable = False
    for m in (model, identity):
        refrnn.loss_and_grad(m, X, tau=5)
        refrnn.loss_and_grad(m, X[:, ::2], tau=5)  # not contiguous
    assert len(_batched._chunks.signatures) == 1, _batched._chunks.signatures
    assert len(_batched._train_batches.signatures) == 1, _batched._train_batches.signatures


def test_parallel_chunk_kernel_is_called_with_writable_c_arrays(monkeypatch):
    """What keeps the chunk kernel at one signature even when Numba's cache is warm (then
    the count above only sees what this process compiled): every array that reaches it,
    from Python or through the training kernel, is a writable C-contiguous float64 array
    (the training kernel passes slices of its own arguments along)."""
    seen = []

    def recording(kernel):
        def call(*args):
            # at call time: a model built afterwards may take an array over read-only
            seen.extend((a.flags.c_contiguous, a.flags.writeable, a.dtype == np.float64)
                        for a in args if isinstance(a, np.ndarray))  # fmt: skip
            return kernel(*args)

        return call

    monkeypatch.setattr(_batched, "_chunks", recording(_batched._chunks))
    monkeypatch.setattr(_batched, "_train_batches", recording(_batched._train_batches))
    series = refrnn.data.generate("lorenz63", 600, rng=0, test_fraction=0.0).train
    kw = dict(tau=5, n_epochs=1, batches_per_epoch=2, batch_size=4, seq_len=20,
              eval_every=None, rng=0, ema_decay=0.9)  # fmt: skip
    linear = refrnn.PLRNN.random(4, 3, rng=0)
    identity = refrnn.PLRNN.random(4, 3, rng=0, readout="identity")
    refrnn.train(linear, series, **kw)
    refrnn.train(identity, series, warmup=5, **kw)
    X = np.stack([series[i : i + 21] for i in range(5)])
    X.flags.writeable = False
    for m in (linear, identity):
        refrnn.loss_and_grad(m, X[:, ::2], tau=5)
        refrnn.loss_and_grad(m, X, tau=5)
    assert len(seen) > 40 and all(all(flags) for flags in seen)


@pytest.mark.parametrize("S, T", [(4, 20), (16, 200)])
def test_workspace_arrays_are_separate_aligned_and_writable(S, T):
    """The workspace's arrays are cut from one buffer: each a writable, aligned C float64
    array on its own cache lines, none overlapping another."""
    ws = _batched.Workspace(S, T, 20, 3, 440)
    arrays = [*ws.args(), ws.forcing(T + 1)]
    assert len({id(a) for a in arrays}) == len(arrays) == 15
    for a in arrays:
        assert a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable
        assert a.flags.aligned and a.ctypes.data % 64 == 0
    spans = sorted((a.ctypes.data, a.ctypes.data + a.nbytes) for a in arrays)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False))
    for i, a in enumerate(arrays):
        a[...] = i
    assert all(np.all(a == i) for i, a in enumerate(arrays))
    position = {id(a): i for i, a in enumerate(arrays)}
    assert np.all(ws.sq == position[id(ws.sq_lanes)])  # sq and chk: views of the lanes
    assert np.all(ws.chk == position[id(ws.chk_lanes)])


def test_writable_copies_only_what_the_kernels_cannot_take():
    a = np.zeros((3, 4))
    assert _batched.writable(a) is a
    for other in (a.astype(np.float32), a[:, ::2], np.asfortranarray(np.zeros((3, 4)))):
        out = _batched.writable(other)
        assert out.dtype == np.float64 and out.flags.c_contiguous and out.flags.writeable
        assert np.array_equal(out, other)
    ro = a.copy()
    ro.flags.writeable = False
    out = _batched.writable(ro)
    assert out is not ro and out.flags.writeable and np.array_equal(out, ro)
