"""Tests of refrnn.verify: golden vectors, the verify report and `refrnn verify`."""

import json

import numpy as np
import pytest

import refrnn
from refrnn import cli, verify
from refrnn.io import atomic_savez, load_npz
from refrnn.testing import compare


def test_shipped_golden_vectors_pass():
    reports = verify.check_golden()
    assert len(reports) >= 15
    failed = {cid: str(r) for cid, r in reports.items() if not r.passed}
    assert not failed, failed


def test_manifest_describes_every_file():
    manifest = json.loads((verify.GOLDEN_DIR / "manifest.json").read_text())
    assert manifest["format_version"] == verify.FORMAT_VERSION
    files = {p.name for p in verify.GOLDEN_DIR.glob("*.npz")}
    assert files == {c["file"] for c in manifest["cases"]}
    flags = {f for c in manifest["cases"] for f in c["flags"]}
    assert {"relu-boundary", "long-horizon", "forced-every-step", "detached-forcing"} <= flags
    for c in manifest["cases"]:
        assert c["comment"] and c["quantities"] and c["tolerances"]


def test_detach_forcing_key_selects_the_gradient(tmp_path):
    """A file whose grad_B treats B^+ x as data passes only when it says so."""
    model = refrnn.PLRNN.random(5, 2, rng=0)
    X = np.random.default_rng(1).normal(size=(2, 12, 2))
    _, g = refrnn.loss_and_grad(model, X, 4, detach_forcing=True)
    arrays = {"model": "PLRNN", **model.params, "X": X, "tau": 4, "grad_B": g["B"]}
    report = verify.verify_arrays(arrays)
    assert not report.passed  # default: through B^+
    # a short repr; str() is the full table
    assert repr(report) == (
        f"VerifyReport(source={report.source!r}, passed=False, quantities=1, failed=1)"
    )
    assert "grad_B" in str(report)
    assert verify.verify_arrays({**arrays, "detach_forcing": True}).passed
    assert verify.verify_arrays({**arrays, "detach_forcing": np.int64(1)}).passed
    with pytest.raises(ValueError, match="detach_forcing must be a boolean"):
        verify.verify_arrays({**arrays, "detach_forcing": 2})


def test_regenerating_reproduces_the_shipped_files(tmp_path):
    manifest = verify.regenerate(tmp_path)
    for case in manifest["cases"]:
        new = load_npz(tmp_path / case["file"])
        old = load_npz(verify.GOLDEN_DIR / case["file"])
        assert sorted(new) == sorted(old), case["id"]
        for k in case["quantities"]:
            q = verify._quantity(k)
            tol = case["tolerances"][q]
            if k == "lyapunov":  # statistical estimate: the check_golden rule applies
                continue
            c = compare(new[k], old[k], rtol=tol["rtol"], atol=tol["atol"], name=k)
            assert c.passed, (case["id"], str(c))
        for k in set(old) - set(case["quantities"]) - {"tolerances"}:
            np.testing.assert_array_equal(new[k], old[k])  # inputs are exact


@pytest.mark.torch
@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
def test_verify_passes_on_torch_and_fails_on_a_perturbed_gradient(cls, tmp_path, capsys):
    pytest.importorskip("torch")
    from torch_reference import torch_loss

    model = cls.random(5, 2, rng=3)
    X = np.random.default_rng(4).normal(size=(3, 41, 2))
    loss, grads = torch_loss(model, X, 5)
    arrays = {
        "model": cls.__name__,
        **model.params,
        "X": X,
        "tau": np.int64(5),
        "loss": np.float64(loss),
        **{f"grad_{k}": v for k, v in grads.items()},
    }
    atomic_savez(tmp_path / "ok.npz", **arrays)
    assert cli.main(["verify", str(tmp_path / "ok.npz")]) == 0
    assert "PASSED" in capsys.readouterr().out

    arrays["grad_W"] = grads["W"] * (1 + 1e-6)
    atomic_savez(tmp_path / "bad.npz", **arrays)
    assert cli.main(["verify", str(tmp_path / "bad.npz")]) == 1
    out = capsys.readouterr().out
    assert "grad_W" in out and "FAIL" in out and "FAILED" in out
    report = verify.verify_file(tmp_path / "bad.npz")
    assert [r.name for r in report.rows if not r.passed] == ["grad_W"]


def test_combined_matrix_input_and_trajectory(tmp_path):
    model = refrnn.PLRNN.random(4, 2, rng=0)
    X = np.random.default_rng(1).normal(size=(2, 9, 2))
    traj = refrnn.forward(model, X, 3)
    AW, h, B = refrnn.interop.plrnn_to_combined(model)
    atomic_savez(tmp_path / "f.npz", model="PLRNN", AW=AW, h=h, B=B, X=X, tau=3, Z=traj.Z)
    report = verify.verify_file(tmp_path / "f.npz")
    assert report.passed and [r.name for r in report.rows] == ["Z"]


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"X": np.zeros((1, 3, 1))}, "missing required key 'model'"),
        (
            {"model": "LSTM", "B": np.ones((1, 2))},
            "model must be one of 'PLRNN', 'VanillaRNN', 'ShallowPLRNN'",
        ),
        (
            {"model": "PLRNN", "A": np.zeros(2), "h": np.zeros(2), "B": np.ones((1, 2))},
            r"needs key\(s\) \['W'\]",
        ),
        (
            {"model": "PLRNN", "A": np.zeros(2), "W": np.zeros((2, 2)), "h": np.zeros(2)},
            "give B .* or n_obs",
        ),
        (
            {
                "model": "PLRNN",
                "A": np.zeros(2),
                "W": np.zeros((2, 3)),
                "h": np.zeros(2),
                "B": np.ones((1, 2)),
            },
            r"W must have shape \(2, 2\)",
        ),
        (
            {
                "model": "PLRNN",
                "A": np.zeros(2),
                "W": np.zeros((2, 2)),
                "h": np.zeros(2),
                "B": np.ones((1, 2)),
                "loss": 1.0,
            },
            "need the data 'X'",
        ),
        ({"system": "Nope"}, "unknown system"),
    ],
)
def test_bad_files_get_clear_messages(tmp_path, arrays, match):
    atomic_savez(tmp_path / "f.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        verify.verify_file(tmp_path / "f.npz")


def test_wrong_result_shape_fails_with_a_note(tmp_path):
    model = refrnn.VanillaRNN.random(3, 1, rng=0)
    X = np.zeros((1, 4, 1))
    atomic_savez(
        tmp_path / "f.npz", model="VanillaRNN", **model.params, X=X, grad_W=np.zeros((2, 2))
    )
    report = verify.verify_file(tmp_path / "f.npz")
    assert not report.passed and "grad_W: shape (2, 2)" in str(report)


def test_pickled_file_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "p.npz", model=np.array([{"x": 1}], dtype=object))
    assert cli.main(["verify", str(tmp_path / "p.npz")]) == 2
    assert "pickled objects" in capsys.readouterr().err


@pytest.mark.parametrize(
    "tolerances, match",
    [
        ({"grad": {"rtol": 1e6, "atol": 1e6}}, "looser than refrnn's"),
        ({"grad_w": {"rtol": 1e-12}}, "unknown quantity 'grad_w'"),
        ({"grad": {"rtl": 1e-12}}, "keys 'rtol' and/or 'atol'"),
        ({"grad": {"rtol": -1}}, "number >= 0"),
        ([1, 2], "JSON object"),
    ],
)
def test_file_tolerances_may_only_tighten(tolerances, match):
    model = refrnn.PLRNN.random(4, 2, rng=0)
    X = np.random.default_rng(1).normal(size=(2, 8, 2))
    _, g = refrnn.loss_and_grad(model, X, 3)
    arrays = {"model": "PLRNN", **model.params, "X": X, "tau": 3, "grad_W": g["W"] + 100.0}
    with pytest.raises(ValueError, match=match):
        verify.verify_arrays({**arrays, "tolerances": json.dumps(tolerances)})
    # a stricter tolerance is accepted and still judges
    tight = json.dumps({"grad": {"rtol": 1e-12}})
    assert not verify.verify_arrays({**arrays, "tolerances": tight}).passed
    arrays["grad_W"] = g["W"]
    assert verify.verify_arrays({**arrays, "tolerances": tight}).passed


@pytest.mark.parametrize(
    "result, inputs",
    [("jacobians", "jacobian_states"), ("log_norms", "log_norms_z0"), ("ftle", "ftle_z0")],
)
def test_results_without_their_inputs_are_named(result, inputs):
    model = refrnn.PLRNN.random(4, 2, rng=0)
    with pytest.raises(ValueError, match=f"'{result}' needs the input.*{inputs}"):
        verify.verify_arrays({"model": "PLRNN", **model.params, result: np.zeros(3)})
