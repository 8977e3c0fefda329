"""End-to-end tests of the command-line interface (refrnn demo/train/evaluate/lyapunov)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import refrnn
from refrnn import cli


def test_demo_quick_end_to_end(tmp_path):
    out = tmp_path / "demo"
    lines = []
    summary = cli.run_demo(out, quick=True, workers=1, log=lines.append)
    for name in (
        "summary.json",
        "summary.md",
        "attractors.png",
        "training.png",
        "spectra.png",
        "test_series.npy",
        "model_stf_seed0.npz",
        "model_stf_seed1.npz",
        "model_bptt_seed0.npz",
        "model_bptt_seed1.npz",
    ):
        assert (out / name).is_file(), name
    saved = json.loads((out / "summary.json").read_text())
    assert saved["tau"] == summary["tau"] >= 1
    lam = saved["system"]["lyapunov_per_unit_time"]
    assert len(lam) == 3 and lam[0] > 0 > lam[2]
    methods = {f"STF (tau={saved['tau']})", "BPTT + clip 1"}
    assert set(saved["results"]) == set(saved["stats"]) == methods
    for label in methods:
        # one evaluation per seed, and the statistics are over those seeds
        assert [e["seed"] for e in saved["results"][label]] == [0, 1]
        assert all("final_model_d_stsp" in e for e in saved["results"][label])
        assert saved["stats"][label]["d_stsp_final_model"]["n"] == 2
        st = saved["stats"][label]["d_stsp"]
        finite = [e["d_stsp"] for e in saved["results"][label] if e["d_stsp"] is not None]
        if st["n"]:
            assert st["min"] <= st["median"] <= st["max"]
            assert st["min"] == min(finite)
    assert "QUICK MODE" in lines[0] and "mean nothing" in (out / "summary.md").read_text()
    assert any("D_stsp" in line for line in lines)


def test_console_script_entry_point_runs(tmp_path):
    # `python -m refrnn` is the same entry point as the `refrnn` console script
    proc = subprocess.run(
        [sys.executable, "-m", "refrnn", "--help"], capture_output=True, text=True, check=True
    )
    for cmd in ("demo", "train", "evaluate", "lyapunov"):
        assert cmd in proc.stdout


def test_train_evaluate_lyapunov_commands(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f"""
[data]
system = "lorenz63"
n_samples = 2000
[model]
type = "PLRNN"
M = 5
[train]
tau = 10
n_epochs = 2
batches_per_epoch = 2
batch_size = 4
seq_len = 20
eval_every = 0
[output]
dir = "{tmp_path / "run"}"
"""
    )
    assert cli.main(["train", str(cfg), "--no-progress"]) == 0
    assert (tmp_path / "run" / "model.npz").is_file()
    series = tmp_path / "x.npy"
    np.save(series, refrnn.data.generate("lorenz63", 1500, rng=1).train)
    capsys.readouterr()
    assert (
        cli.main(["evaluate", str(tmp_path / "run" / "model.npz"), str(series), "--n-free", "500"])
        == 0
    )
    ev = json.loads(capsys.readouterr().out)
    assert {"d_stsp", "d_h", "prediction_error"} <= set(ev)
    assert (
        cli.main(
            [
                "lyapunov",
                str(tmp_path / "run" / "model.npz"),
                "--n-steps",
                "2000",
                "--data",
                str(series),
            ]
        )
        == 0
    )
    ly = json.loads(capsys.readouterr().out)
    assert len(ly["exponents"]) == 5 and ly["units"] == "per step"


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path / "missing.npz"), str(tmp_path / "x.npy")]) == 2
    assert "error" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[data]\n")
    assert cli.main(["train", str(bad)]) == 2
    assert "needs 'system' or 'file'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["demo", "--bogus"], []])
def test_usage_errors(argv):
    with pytest.raises(SystemExit):
        cli.main(argv)


def test_lyapunov_rejects_nonpositive_dt_and_reports_divergence(tmp_path, capsys):
    """--dt <= 0 would flip signs or divide by zero; a diverging model is one clear line."""
    path = tmp_path / "m.npz"
    refrnn.io.save_model(path, refrnn.PLRNN.random(4, 2, rng=0))
    for dt in ("-1", "0", "nan"):
        assert cli.main(["lyapunov", str(path), "--dt", dt, "--n-steps", "100"]) == 2
        assert "--dt must be a finite time per model step > 0" in capsys.readouterr().err
    div = tmp_path / "div.npz"
    refrnn.io.save_model(
        div, refrnn.PLRNN(np.full(3, 10.0), np.zeros((3, 3)), np.ones(3), np.eye(3))
    )
    assert cli.main(["lyapunov", str(div), "--n-steps", "2000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("refrnn lyapunov: error:") and "Traceback" not in err


def test_corrupted_npz_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "m.npz"
    refrnn.io.save_model(path, refrnn.PLRNN.random(6, 3, rng=0))
    raw = bytearray(path.read_bytes())
    raw[200:220] = bytes(20)
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="m.npz: not a readable .npz archive"):
        refrnn.io.load_model(path)
    assert cli.main(["lyapunov", str(path), "--n-steps", "100"]) == 2
    assert "m.npz" in capsys.readouterr().err


def test_train_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'[data]\nsystem = "lorenz63"\nn_samples = 500\n[output]\ndir = "{tmp_path / "taken"}"\n'
    )
    assert cli.main(["train", str(cfg)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, match",
    [
        ("[model]\nM = 2.5\n", r"\[model\] M must be an integer, got float 2.5"),
        ("[model]\nM = 1e400\n", r"\[model\] M must be an integer, got float inf"),
        ("n_samples = true\n", r"\[data\] n_samples must be an integer, got bool True"),
        ("[model\n", r"run.toml: not valid TOML"),
        ("[output]\ndir = 5\n", r"\[output\] dir must be a string, got 5"),
    ],
)
def test_train_config_values_are_checked(tmp_path, capsys, text, match):
    """Found by the fuzz tests: int(2.5) = 2 silently, int(inf) an OverflowError traceback,
    TOML syntax errors and Path(5) without the file or key named."""
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\nsystem = "lorenz63"\n' + text)
    with pytest.raises((TypeError, ValueError), match=match):
        cli.train_from_config(cfg)
    assert cli.main(["train", str(cfg)]) == 2
    assert "run.toml" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, match",
    [
        (
            '[data]\nsystem = "lorenz63"\n[model]\nm = 4\n',
            r"unknown key 'm' in \[model\] \(did you mean 'M'\?\)",
        ),
        ('[data]\nsystem = "lorenz63"\n[trian]\ntau = 5\n', r"unknown section \[trian\]"),
        (
            '[data]\nsystem = "lorenz63"\n[train]\ntua = 5\n',
            r"unknown key 'tua' in \[train\] \(did you mean 'tau'\?\)",
        ),
        ('[data]\nsytem = "lorenz63"\n', r"unknown key 'sytem' in \[data\]"),
    ],
)
def test_train_config_typos_are_errors(tmp_path, capsys, text, match):
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    with pytest.raises(ValueError, match=match):
        cli.train_from_config(cfg)
    assert cli.main(["train", str(cfg)]) == 2
