"""End-to-end tests of the command-line interface (refrnn demo/train/evaluate/lyapunov)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import refrnn
from refrnn import cli


def test_demo_quick_end_to_end(tmp_path, monkeypatch, capsys):
    from refrnn import plotting

    stamped = []
    stamp = plotting.stamp
    monkeypatch.setattr(plotting, "stamp", lambda fig, *a: stamped.append(stamp(fig, *a)))
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
    # quick mode says so on the console (first and last word), in the table and on
    # every figure
    assert lines[0].startswith(plotting.QUICK_MODE_STAMP)
    assert plotting.QUICK_MODE_STAMP in lines[-2]
    assert plotting.QUICK_MODE_STAMP in (out / "summary.md").read_text(encoding="utf-8")
    assert len(stamped) == 3 and all(t.get_text() == plotting.QUICK_MODE_STAMP for t in stamped)
    assert any("D_stsp" in line for line in lines)
    # tau is printed with its reason
    assert any("round(0.3 tau_pred)" in line and "predictability time" in line for line in lines)
    # console lines are lines: nothing a log file would garble
    assert not any("\r" in line for line in lines)
    # every output has the permissions of a plain open() (no 0600 from temporary files)
    (tmp_path / "plain.txt").write_text("x")
    plain = (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {
        p.name: plain for p in out.iterdir()
    }
    # the saved models know their time step: lyapunov reports per unit time without --dt
    assert refrnn.io.load_record(out / "model_stf_seed0.npz")["dt"] == 0.01
    capsys.readouterr()
    assert cli.main(["lyapunov", str(out / "model_stf_seed0.npz"), "--n-steps", "500"]) == 0
    text = capsys.readouterr().out
    assert "dt = 0.01 time units per step (from the model's training record)" in text
    assert "per unit time" in text.splitlines()[2]


def test_console_script_entry_point_runs(tmp_path):
    # `python -m refrnn` is the same entry point as the `refrnn` console script
    proc = subprocess.run(
        [sys.executable, "-m", "refrnn", "--help"], capture_output=True, text=True, check=True
    )
    for cmd in ("demo", "train", "evaluate", "lyapunov", "verify", "golden", "sweep"):
        assert f"    {cmd}  " in proc.stdout  # each command listed with its help
    assert "``" not in proc.stdout  # plain text, not reStructuredText


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"refrnn {refrnn.__version__}"


def _subcommands():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_option_has_help_with_its_default_and_every_command_an_example(name):
    sub = _subcommands()[name]
    text = sub.format_help()
    assert f"example:\n  refrnn {name}" in text
    for action in sub._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{name} {action.dest}: no help"
        if action.option_strings and action.default is not False:
            # a value default is printed by the formatter; None is explained in the help
            shown = sub._get_formatter()._get_help_string(action) % vars(action)
            assert "default" in shown, f"{name} {action.dest}: default not shown"
            if action.default is not None:
                assert f"(default: {action.default})" in shown


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
    table = capsys.readouterr().out.splitlines()
    # the trained model's record holds the system's dt: a table per step and per unit time
    assert table[1] == "dt = 0.01 time units per step (from the model's training record)"
    assert table[2].split() == ["i", "per", "step", "+-2", "SE", "per", "unit", "time", "+-2", "SE"]
    rows = [line.split() for line in table[4:9]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]
    assert all(np.isclose(float(r[3]), float(r[1]) / 0.01, rtol=1e-4) for r in rows)
    assert table[9].startswith("Kaplan-Yorke dimension:")
    model = str(tmp_path / "run" / "model.npz")
    assert cli.main(["lyapunov", model, "--n-steps", "2000", "--json", "--dt", "1"]) == 0
    ly = json.loads(capsys.readouterr().out)
    assert len(ly["exponents"]) == 5 and ly["units"] == "per unit time (dt=1.0)"
    assert np.allclose(ly["exponents"], ly["exponents_per_step"])
    # a model without a record: per step only, and the table says why
    refrnn.io.save_model(tmp_path / "bare.npz", refrnn.io.load_model(model))
    assert cli.main(["lyapunov", str(tmp_path / "bare.npz"), "--n-steps", "500"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "pass --dt" in table[1] and "unit time" not in table[2]


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


def test_train_progress_in_a_log_is_lines(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f"""
[data]
system = "lorenz63"
n_samples = 1000
[model]
M = 4
[train]
tau = 5
n_epochs = 5
batches_per_epoch = 1
batch_size = 2
seq_len = 10
eval_every = 0
[output]
dir = "{tmp_path / "run"}"
"""
    )
    assert cli.main(["train", str(cfg)]) == 0
    err = capsys.readouterr().err  # captured, as in a log file: no carriage returns
    assert "\r" not in err
    assert [line.split(" ")[1] for line in err.splitlines() if line.startswith("train:")] == [
        "1/5",
        "2/5",
        "3/5",
        "4/5",
        "5/5",
    ]


def test_train_config_shallow_plrnn_with_gtf(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f"""
[data]
system = "lorenz63"
n_samples = 1000
[model]
type = "ShallowPLRNN"
M = 3
L = 8
[train]
tau = "none"
alpha = "auto"
n_epochs = 2
batches_per_epoch = 1
batch_size = 2
seq_len = 10
eval_every = 0
[output]
dir = "{tmp_path / "out"}"
"""
    )
    summary = cli.train_from_config(cfg)
    assert summary["config"]["model"] == "ShallowPLRNN" and summary["config"]["alpha"] == "auto"
    assert len(summary["history"]["alpha"]) == 2
    assert refrnn.io.load_model(tmp_path / "out" / "model.npz").L == 8
    cfg.write_text(cfg.read_text().replace("L = 8\n", ""))
    with pytest.raises(ValueError, match="L"):
        cli.train_from_config(cfg)
