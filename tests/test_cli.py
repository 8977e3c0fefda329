"""End-to-end tests of the command-line interface (refrnn demo/train/evaluate/lyapunov)."""

import json
import subprocess
import sys
import warnings

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


# ---- your own series, end to end (issue 15) -------------------------------------------
EXPERIMENTS = __import__("pathlib").Path(__file__).resolve().parents[1] / "experiments"

#: the shipped example's budget, shrunk to seconds (each line must be in the file)
TINY_BUDGET = {
    "M = 20": "M = 4",
    "n_epochs = 300": "n_epochs = 3",
    "batches_per_epoch = 10": "batches_per_epoch = 2",
    "batch_size = 32": "batch_size = 4",
    "seq_len = 50": "seq_len = 20",
    "eval_every = 10": "eval_every = 1",
    "eval_steps = 2000": "eval_steps = 300",
    "n_free = 2000": "n_free = 300",
}


def _own_data_example(tmp_path, **extra):
    """The shipped experiments/own_data.toml and its CSV, copied into a folder of their
    own, with a budget of seconds."""
    import shutil

    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(EXPERIMENTS / "own_data.csv", folder / "own_data.csv")
    text = (EXPERIMENTS / "own_data.toml").read_text()
    for old, new in {**TINY_BUDGET, **extra}.items():
        assert old in text, old
        text = text.replace(old, new)
    cfg = folder / "own_data.toml"
    cfg.write_text(text)
    return cfg


def _strict_json(text):
    """json.loads that refuses NaN/Infinity literals (invalid JSON)."""

    def refuse(name):
        raise ValueError(f"invalid JSON literal {name}")

    return json.loads(text, parse_constant=refuse)


def test_own_csv_series_end_to_end(tmp_path, monkeypatch, capsys):
    """A 1-D 8-bit CSV goes through `refrnn train own_data.toml` to a test-split
    evaluation of the selected model, then `refrnn evaluate` and `refrnn lyapunov` run on
    the printed commands -- no Python written by the user."""
    import shlex

    _own_data_example(tmp_path)
    monkeypatch.chdir(tmp_path)  # the CSV is found relative to the TOML, not to here
    assert cli.main(["train", "mine/own_data.toml", "--no-progress"]) == 0
    out = capsys.readouterr().out
    run = tmp_path / "mine" / "own_data_run"  # [output] dir, relative to the TOML
    summary = _strict_json((run / "summary.json").read_text())
    # the split, standardisation and embedding the file asks for were honoured
    ds = refrnn.Dataset.load(run / "dataset.npz")
    emb = ds.info["embedding"]
    assert emb["chosen"] == "auto" and ds.N == emb["dim"] >= 2
    assert len(ds.train) == 1600 - (emb["dim"] - 1) * emb["lag"]
    assert len(ds.test) == 400 - (emb["dim"] - 1) * emb["lag"]
    assert ds.standardizer is not None and 100 < ds.standardizer.mean[0] < 160
    np.testing.assert_allclose(ds.train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_array_equal(np.load(run / "test_series.npy"), ds.test)
    # the saved model is the selected one (lowest median D_stsp against the training
    # part), and its numbers are those on the test part
    (row,) = summary["runs"]
    scores = [d for d in summary["history"]["d_stsp"] if d is not None]
    assert row["selection_d_stsp"] == min(scores)
    assert summary["history"]["d_stsp"].index(min(scores)) == row["selected_epoch"]
    model = refrnn.io.load_model(run / "model.npz")
    ev, _ = refrnn.metrics.evaluate(model, ds.test, n_free=300, smoothing=2.0)
    assert (row["d_stsp"], row["d_h"], row["prediction_error"]) == (
        ev["d_stsp"],
        ev["d_h"],
        ev["prediction_error"],
    )
    assert "training part" in summary["selection"] and "test part" in summary["evaluated_on"]
    record = refrnn.io.load_record(run / "model.npz")
    assert record["selected_epoch"] == row["selected_epoch"] and record["dt"] == 0.05
    assert record["embedding"] == emb and record["standardized"] is True
    # the printed next steps run as printed
    cmds = [line.strip() for line in out.splitlines() if line.strip().startswith("refrnn ")]
    assert [c.split()[1] for c in cmds] == ["evaluate", "lyapunov"]
    # the printed evaluate command carries the run's evaluation settings: same numbers
    assert "--n-free 300" in cmds[0] and "--smoothing 2" in cmds[0]
    assert cli.main(shlex.split(cmds[0])[1:]) == 0
    printed = capsys.readouterr()
    assert _strict_json(printed.out)["d_stsp"] == row["d_stsp"]
    assert "warning" not in printed.err  # the test part is in the model's units
    assert cli.main(shlex.split(cmds[1])[1:] + ["--n-steps", "300"]) == 0
    assert "dt = 0.05 time units per step" in capsys.readouterr().out


def test_evaluate_reads_csv_npy_and_dataset_npz_and_warns_about_units(tmp_path, capsys):
    ds = refrnn.generate("lorenz63", 1500, rng=0)
    ds.save(tmp_path / "ds.npz")
    model = refrnn.PLRNN.random(4, 3, rng=0)
    rec = {"train_mean": ds.train.mean(0).tolist(), "train_std": ds.train.std(0).tolist()}
    refrnn.io.save_model(tmp_path / "m.npz", model, record=rec)
    np.save(tmp_path / "test.npy", ds.test)
    np.savetxt(tmp_path / "test.csv", ds.test, delimiter=",", fmt="%.17g")
    outs = []
    for data, extra in (("test.npy", []), ("test.csv", []), ("ds.npz", ["--key", "test"])):
        argv = ["evaluate", str(tmp_path / "m.npz"), str(tmp_path / data), "--n-free", "400"]
        assert cli.main(argv + extra + ["--smoothing", "3", "--pe-steps", "2"]) == 0
        printed = capsys.readouterr()
        assert "warning" not in printed.err
        outs.append(_strict_json(printed.out))
    assert outs[0]["smoothing"] == 3.0 and outs[0]["n_free"] == 400
    for o in outs[1:]:
        assert {k: o[k] for k in ("d_stsp", "d_h", "prediction_error")} == {
            k: outs[0][k] for k in ("d_stsp", "d_h", "prediction_error")
        }
    # a Dataset file without --key: the error says which keys
    assert cli.main(["evaluate", str(tmp_path / "m.npz"), str(tmp_path / "ds.npz")]) == 2
    assert "--key test" in capsys.readouterr().err
    # raw units (e.g. 0..255 counts) against a model trained on standardised data: warned
    np.save(tmp_path / "raw.npy", ds.destandardize(ds.test) * 5 + 100)
    assert cli.main(["evaluate", str(tmp_path / "m.npz"), str(tmp_path / "raw.npy")]) == 0
    printed = capsys.readouterr()
    assert "warning: the series is far from the model's training data" in printed.err
    assert _strict_json(printed.out)["warnings"]
    # a model without training statistics is compared with a standardised series
    refrnn.io.save_model(tmp_path / "bare.npz", model)
    assert cli.main(["evaluate", str(tmp_path / "bare.npz"), str(tmp_path / "raw.npy")]) == 0
    assert "far from a standardised series" in capsys.readouterr().err
    # lyapunov reads the Dataset file's test part too
    argv = ["lyapunov", str(tmp_path / "m.npz"), "--data", str(tmp_path / "ds.npz")]
    assert cli.main(argv + ["--key", "test", "--n-steps", "200"]) == 0


def test_evaluate_writes_null_with_a_reason_not_nan(tmp_path, capsys):
    div = tmp_path / "div.npz"
    refrnn.io.save_model(
        div, refrnn.PLRNN(np.full(3, 10.0), np.zeros((3, 3)), np.ones(3), np.eye(3))
    )
    np.save(tmp_path / "x.npy", refrnn.generate("lorenz63", 600, rng=0).train)
    assert (
        cli.main(
            ["evaluate", str(div), str(tmp_path / "x.npy"), "--n-free", "200", "--pe-steps", "400"]
        )
        == 0
    )
    out = _strict_json(capsys.readouterr().out)
    assert out["diverged"] is True and out["d_stsp"] is None and out["d_h"] is None
    assert "diverged" in out["null_reasons"]["d_stsp"]
    assert out["prediction_error"] is None
    assert "overflowed" in out["null_reasons"]["prediction_error"]


SYSTEM_RUN = """
[data]
system = "lorenz63"
n_samples = 1500
[model]
M = 4
[train]
tau = 5
n_epochs = 2
batches_per_epoch = 2
batch_size = 4
seq_len = 20
eval_every = 1
eval_steps = 200
[evaluate]
n_free = 300
pe_steps = 3
"""


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            ("[train]", "[train]\ntest_fraction = 0.2"),
            r"'test_fraction' in \[train\] \(it belongs in \[data\]\)",
        ),
        (
            ("[evaluate]", "[evaluate]\nsmoothng = 2"),
            r"'smoothng' in \[evaluate\] \(did you mean 'smoothing'\?\)",
        ),
        (
            ("[evaluate]", "[evalute]"),
            r"unknown section \[evalute\] \(did you mean \[evaluate\]\?\)",
        ),
        (
            ("[model]", "[model]\nn_free = 3"),
            r"'n_free' in \[model\] \(it belongs in \[evaluate\]\)",
        ),
        (("[model]", '[model]\ntype = "LSTM"'), r"\[model\] type must be one of"),
        (
            ("n_samples = 1500", "n_samples = 1500\nembed = [3, 1]"),
            r"\[data\] embed applies to 'file'",
        ),
        (
            ("n_samples = 1500", "n_samples = 1500\ntest_fraction = 0"),
            r"\[data\] test_fraction must be > 0",
        ),
        (
            ("n_samples = 1500", "n_samples = 1500\ntest_fraction = 0.001"),
            r"test part has 2 samples.*test_fraction",
        ),
        (
            ("n_samples = 1500", 'n_samples = 1500\nfile = "x.npy"'),
            r"\[data\] needs 'system' or 'file' \(one of them\)",
        ),
        (("[train]", "[train]\nseed = -1"), r"\[train\] seed must be"),
        (("[train]", "[train]\nn_seeds = 0"), r"\[train\] n_seeds \(or --seeds\)"),
        (
            ("eval_every = 1", 'eval_every = 1\nselect = "first"'),
            r"select must be 'best' or 'last'",
        ),
    ],
)
def test_train_config_errors_name_the_key(tmp_path, capsys, edit, match):
    cfg = tmp_path / "run.toml"
    cfg.write_text(SYSTEM_RUN.replace(*edit) + f'[output]\ndir = "{tmp_path / "out"}"\n')
    with pytest.raises(ValueError, match=match):
        cli.train_from_config(cfg)
    assert cli.main(["train", str(cfg), "--no-progress"]) == 2
    assert "run.toml" in capsys.readouterr().err


@pytest.mark.parametrize(
    "data, match",
    [
        ('file = "missing.csv"', r"\[data\] .*missing.csv: no such file"),
        (
            'file = "own_data.csv"\nembed = "sometimes"',
            r"\[data\] embed must be None, \(dim, lag\) or \"auto\"",
        ),
        ('file = "own_data.csv"\ncolumns = ["signl"]', r"\[data\] columns: no column 'signl'"),
        ('file = "own_data.csv"\ncolumns = [5]', r"\[data\] columns: column 5 does not exist"),
        (
            'file = "own_data.csv"\nembed = "auto"',
            r'\[data\] embed = "auto" embeds one measured channel.*columns = \["signal"\]',
        ),
        ('file = "own_data.csv"\nn_samples = 100', r"\[data\] n_samples applies to 'system' data"),
        ('file = "own_data.csv"\nkey = 3', r"\[data\] key must be a string"),
    ],
)
def test_train_file_errors_name_the_file_and_key(tmp_path, data, match):
    import shutil

    shutil.copy(EXPERIMENTS / "own_data.csv", tmp_path / "own_data.csv")
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"[data]\n{data}\n[model]\nM = 4\n")
    with pytest.raises(ValueError, match=match):
        cli.train_from_config(cfg)


def test_train_lambda_max_in_train_sets_tau(tmp_path):
    """lambda_max in [train] used to collide with the command's own lambda_max=None."""
    cfg = tmp_path / "run.toml"
    text = SYSTEM_RUN.replace("tau = 5", 'tau = "auto"\nlambda_max = 0.05\ntau_fraction = 0.5')
    cfg.write_text(text + f'[output]\ndir = "{tmp_path / "out"}"\n')
    summary = cli.train_from_config(cfg)
    assert summary["runs"][0]["tau"] == round(0.5 * np.log(2) / 0.05) == 7


def test_train_lr_decay_start_in_train_reaches_train(tmp_path, monkeypatch):
    """[train] lr_decay, lr_decay_start and ema_decay go through the sweep cell to
    refrnn.train."""
    from refrnn import training

    seen = []
    real = training.train

    def spy(*args, **kw):
        seen.append((kw["lr_decay"], kw["lr_decay_start"], kw["ema_decay"]))
        return real(*args, **kw)

    monkeypatch.setattr(training, "train", spy)
    cfg = tmp_path / "run.toml"
    text = SYSTEM_RUN.replace(
        "tau = 5", "tau = 5\nlr_decay = 0.5\nlr_decay_start = 1\nema_decay = 0.9"
    )
    text = text.replace("n_epochs = 2", "n_epochs = 3")
    cfg.write_text(text + f'[output]\ndir = "{tmp_path / "out"}"\n')
    cli.train_from_config(cfg)
    assert seen == [(0.5, 1, 0.9)]


def test_train_several_seeds_reports_the_spread(tmp_path, capsys):
    """--seeds K runs K cells of the sweep machinery in parallel; each seed's numbers are
    those of its saved model on the test part, seed 0 is the single-seed run, and the
    spread is the median and range over seeds. A rerun redoes nothing."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(SYSTEM_RUN + f'[output]\ndir = "{tmp_path / "k"}"\n')
    assert cli.main(["train", str(cfg), "--no-progress", "--seeds", "2", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "test D_stsp over 2 of 2 seeds: median" in out
    summary = _strict_json((tmp_path / "k" / "summary.json").read_text())
    ds = refrnn.Dataset.load(tmp_path / "k" / "dataset.npz")
    d = []
    for k, row in enumerate(summary["runs"]):
        assert (row["seed"], row["train_seed"], row["status"]) == (k, 1 + k, "done")
        model = refrnn.io.load_model(tmp_path / "k" / f"model_seed{k}.npz")
        ev, _ = refrnn.metrics.evaluate(model, ds.test, n_free=300, pe_steps=3)
        assert row["d_stsp"] == ev["d_stsp"] and row["d_h"] == ev["d_h"]
        d.append(ev["d_stsp"])
    assert summary["spread"]["d_stsp"] == {
        "median": float(np.median(d)),
        "min": min(d),
        "max": max(d),
        "n": 2,
    }
    # the same configuration with one seed, in this process, is seed 0 of the two
    one = refrnn.sweep.train_seeds(
        ds, 1, tmp_path / "one", M=4, tau=5, n_epochs=2, batches_per_epoch=2, batch_size=4,
        seq_len=20, eval_every=1, eval_steps=200, n_free=300, pe_steps=3, train_seed=1,
    )  # fmt: skip
    assert one["runs"][0]["d_stsp"] == d[0]
    np.testing.assert_array_equal(
        refrnn.io.load_model(tmp_path / "one" / "model.npz").params["W"],
        refrnn.io.load_model(tmp_path / "k" / "model_seed0.npz").params["W"],
    )
    # rerun: every seed is already done
    assert cli.main(["train", str(cfg), "--no-progress", "--seeds", "2"]) == 0
    assert "2 already done, 0 to run" in capsys.readouterr().err


def test_train_seeds_api_checks_its_arguments(tmp_path):
    ds = refrnn.generate("lorenz63", 600, rng=0)
    with pytest.raises(
        ValueError, match=r"unknown setting 'n_epoch' \(did you mean 'n_epochs'\?\)"
    ):
        refrnn.sweep.train_seeds(ds, 2, tmp_path, n_epoch=3)
    with pytest.raises(ValueError, match="unknown setting 'system'"):
        refrnn.sweep.train_seeds(ds, 2, tmp_path, system="henon")
    with pytest.raises(ValueError, match="n_seeds"):
        refrnn.sweep.train_seeds(ds, 0, tmp_path)
    with pytest.raises(TypeError, match="dataset must be a refrnn.Dataset"):
        refrnn.sweep.train_seeds(ds.train, 2, tmp_path)
    no_test = refrnn.Dataset.from_series(ds.train, test_fraction=0)
    with pytest.raises(ValueError, match="test part has 0 samples"):
        refrnn.sweep.train_seeds(no_test, 2, tmp_path)


def test_own_series_raw_units_given_embedding_and_column_number(tmp_path, capsys):
    """standardize = false, embed = [dim, lag] and a column by number are honoured; a
    model trained in raw units is evaluated on raw units without a warning."""
    cfg = _own_data_example(
        tmp_path,
        **{
            "standardize = true": "standardize = false",
            'embed = "auto"': "embed = [2, 3]",
            'columns = ["signal"]': "columns = [1]",
            'tau = "auto"': "tau = 5",
        },
    )
    assert cli.main(["train", str(cfg), "--no-progress"]) == 0
    run = cfg.parent / "own_data_run"
    ds = refrnn.Dataset.load(run / "dataset.npz")
    raw = np.loadtxt(cfg.parent / "own_data.csv", delimiter=",", skiprows=1)[:, 1]
    assert ds.standardizer is None and ds.info["embedding"] == {
        "dim": 2,
        "lag": 3,
        "chosen": "given",
    }
    np.testing.assert_array_equal(ds.train[0], [raw[3], raw[0]])  # newest block first
    np.testing.assert_array_equal(ds.test[-1], [raw[-1], raw[-4]])
    assert refrnn.io.load_record(run / "model.npz")["standardized"] is False
    capsys.readouterr()
    model, test = str(run / "model.npz"), str(run / "test_series.npy")
    assert cli.main(["evaluate", model, test, "--n-free", "300", "--pe-steps", "3"]) == 0
    assert "warning" not in capsys.readouterr().err


def _file_run(tmp_path, series, columns='["signal"]', **edits):
    """A TOML training a tiny model on ``series`` (T, 2): columns time, signal."""
    np.savetxt(tmp_path / "s.csv", series, delimiter=",", header="time,signal", comments="")
    text = (
        '[data]\nfile = "s.csv"\n'
        + (f"columns = {columns}\n" if columns else "")
        + 'embed = "auto"\ntest_fraction = 0.2\n[model]\nM = 4\n[train]\ntau = 5\n'
        "n_epochs = 2\nbatches_per_epoch = 1\nbatch_size = 4\nseq_len = 20\n"
        "eval_every = 1\neval_steps = 200\n[evaluate]\nn_free = 200\n"
        f'[output]\ndir = "{tmp_path / "out"}"\n'
    )
    for old, new in edits.items():
        text = text.replace(old, new)
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    return cfg


def test_train_file_periodic_series_embeds_or_says_why(tmp_path):
    """A sine whose values repeat exactly (period 40 samples) used to end in numpy's
    "All-NaN slice encountered": every nearest neighbour beyond the Theiler window
    coincided with its point. Now more neighbours are asked for, and the embedding is
    chosen."""
    t = np.arange(2000)
    series = np.c_[0.05 * t, np.round(100 * np.sin(2 * np.pi * t / 40))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the series is not chaotic: lambda_max warnings
        summary = cli.train_from_config(_file_run(tmp_path, series))
    assert summary["runs"][0]["status"] == "done"


def test_choose_dim_without_admissible_neighbours_says_what_to_do(monkeypatch):
    """Without the extra neighbours (as before), the periodic sine has no admissible
    neighbour at all: a ValueError that says what to do, not numpy's All-NaN message."""
    from refrnn import embedding

    monkeypatch.setattr(embedding, "_MAX_EXTRA_NEIGHBOURS", 0)
    x = np.round(100 * np.sin(2 * np.pi * np.arange(2000) / 40))
    with pytest.raises(ValueError, match=r"could be judged.*embed = \[3, 2\]"):
        embedding.choose_dim(x, 2, max_dim=3)


def test_train_file_time_column_errors_or_warns(tmp_path):
    t = np.arange(1000)
    series = np.c_[0.05 * t, np.sin(0.3 * t) + 0.1 * np.sin(0.77 * t)]
    with pytest.raises(ValueError, match=r"2 columns \(0 \('time'\), 1 \('signal'\)\).*"
                                         r'columns = \["signal"\]'):  # fmt: skip
        cli.train_from_config(_file_run(tmp_path, series, columns=None))
    cfg = _file_run(tmp_path, series, columns=None, **{'embed = "auto"': "embed = [2, 3]"})
    with pytest.warns(UserWarning, match=r"column 0 \('time'\) changes in the same direction"):
        cli.train_from_config(cfg)


def test_train_file_short_test_part_warns(tmp_path):
    t = np.arange(300)
    series = np.c_[0.05 * t, np.sin(0.3 * t) + 0.1 * np.sin(0.77 * t)]
    cfg = _file_run(tmp_path, series, **{'embed = "auto"': "embed = [2, 3]"})
    with pytest.warns(UserWarning, match=r"test part holds only 57 samples"):
        cli.train_from_config(cfg)


def test_lyapunov_on_an_unembedded_series_names_the_embedding(tmp_path, capsys):
    model = refrnn.PLRNN.random(4, 3, rng=0)
    refrnn.io.save_model(tmp_path / "m.npz", model, record={"embedding": {"dim": 3, "lag": 4}})
    np.savetxt(tmp_path / "raw.csv", np.random.default_rng(0).normal(size=(200, 1)))
    assert cli.main(["lyapunov", str(tmp_path / "m.npz"), "--data", str(tmp_path / "raw.csv")]) == 2
    err = capsys.readouterr().err
    assert "has N=1 variables but the model observes N=3" in err and "dim=3, lag=4" in err


def test_cli_warnings_are_one_line_messages(tmp_path, capsys):
    """At a terminal a warning is the message, not the source line that raised it."""
    t = np.arange(1000)
    series = np.c_[0.05 * t, np.sin(0.3 * t) + 0.1 * np.sin(0.77 * t)]
    cfg = _file_run(tmp_path, series, columns=None, **{'embed = "auto"': "embed = [2, 3]"})
    assert cli.main(["train", str(cfg), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "refrnn train: warning: s.csv: column 0 ('time')" in err
    assert ".py:" not in err
