"""Tests of refrnn.io: atomic writes, pickle-free loading, model round trips."""

import numpy as np
import pytest

import refrnn
from refrnn import io


@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
@pytest.mark.parametrize("readout", ["linear", "identity"])
def test_model_roundtrip(tmp_path, cls, readout):
    model = cls.random(5, 2, rng=0, readout=readout)
    io.save_model(tmp_path / "m.npz", model)
    back = io.load_model(tmp_path / "m.npz")
    assert back == model and type(back) is cls and back.readout == readout


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "a.npz"
    io.atomic_savez(path, x=np.arange(3.0))

    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        io.atomic_savez(path, x=Boom())
    np.testing.assert_array_equal(io.load_npz(path)["x"], np.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]  # no temp files left


def test_load_refuses_pickles_and_reports_missing_keys(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled objects"):
        io.load_npz(path)
    io.atomic_savez(tmp_path / "q.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['b'\]"):
        io.load_npz(tmp_path / "q.npz", required=["b"])
    with pytest.raises(ValueError, match="no refrnn model"):
        io.load_model(tmp_path / "q.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        io.load_npz(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError):
        io.load_npz(tmp_path / "missing.npz")


def test_load_validates_parameters(tmp_path):
    arrays = io.model_to_arrays(refrnn.PLRNN.random(3, 1, rng=0))
    arrays["model.W"] = np.ones((3, 3))  # non-zero diagonal
    io.atomic_savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(ValueError, match="zero diagonal"):
        io.load_model(tmp_path / "m.npz")


def test_non_finite_stored_parameters_name_the_file(tmp_path):
    # found by the fuzz tests: "A contains non-finite values" did not say which file
    arrays = io.model_to_arrays(refrnn.PLRNN.random(3, 1, rng=0))
    arrays["model.A"] = np.full(3, np.nan)
    io.atomic_savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(ValueError, match=r"nan.npz: stored parameters .* A contains non-finite"):
        io.load_model(tmp_path / "nan.npz")


@pytest.mark.parametrize(
    "meta, match",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"class": "GRU", "readout": "linear", "N": 2}', "class must be one of"),
        ('{"class": "PLRNN", "N": 2}', "readout must be 'linear' or 'identity', got None"),
        ('{"class": "PLRNN", "readout": 3, "N": 2}', "readout must be"),
        ('{"class": "PLRNN", "readout": "identity", "N": "2"}', "N must be an integer"),
    ],
)
def test_bad_model_metadata_is_named(tmp_path, meta, match):
    arrays = refrnn.io.model_to_arrays(refrnn.PLRNN.random(4, 2, rng=0, readout="identity"))
    arrays["model.meta"] = meta
    with pytest.raises(ValueError, match=f"src: 'model.meta' .*{match}|src: 'model.meta' {match}"):
        refrnn.io.model_from_arrays(arrays, source="src")


def test_atomic_writes_clean_up_after_killed_writers_and_use_plain_permissions(tmp_path):
    import os
    import time

    target = tmp_path / "m.npz"
    stale = tmp_path / ".m.npz.abc123.tmp"
    fresh = tmp_path / ".m.npz.def456.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    io.atomic_savez(target, a=np.zeros(2))
    assert not stale.exists() and fresh.exists()  # a concurrent writer's file is kept
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)
    from refrnn.io import write_json

    write_json(tmp_path / "s.json", {"a": 1})
    assert ((tmp_path / "s.json").stat().st_mode & 0o777) == (0o666 & ~umask)


def test_model_record_roundtrip_and_models_without_one(tmp_path):
    model = refrnn.PLRNN.random(3, 2, rng=0)
    record = {"system": "Lorenz63", "dt": 0.01, "tau": 38}
    io.save_model(tmp_path / "m.npz", model, record=record)
    assert io.load_record(tmp_path / "m.npz") == record
    assert io.load_model(tmp_path / "m.npz") == model  # the record does not disturb loading
    io.save_model(tmp_path / "plain.npz", model)
    assert io.load_record(tmp_path / "plain.npz") is None
    with pytest.raises(TypeError, match="record"):
        io.save_model(tmp_path / "bad.npz", model, record=["dt", 0.01])
    io.atomic_savez(tmp_path / "odd.npz", record="[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        io.load_record(tmp_path / "odd.npz")


def test_atomic_write_and_savefig_use_plain_permissions(tmp_path):
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    io.atomic_write(tmp_path / "a.md", "λ₁ table\n")
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "λ₁ table\n"
    io.atomic_write(tmp_path / "b.bin", b"\x00\x01")
    fig, _ = plt.subplots()
    io.atomic_savefig(fig, tmp_path / "c.png")
    plt.close(fig)
    (tmp_path / "d.txt").write_text("plain open()")
    modes = {p.name: os.stat(p).st_mode & 0o777 for p in tmp_path.iterdir()}
    assert len(set(modes.values())) == 1, modes  # as a plain open(), not mkstemp's 0600
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(modes) == ["a.md", "b.bin", "c.png", "d.txt"]  # no temporaries left
    with pytest.raises(TypeError, match="str or bytes"):
        io.atomic_write(tmp_path / "e", 3)


def test_write_json_writes_valid_json_with_null_for_nan(tmp_path):
    """NaN/Infinity literals are not JSON (RFC 8259); strict readers refuse them."""
    import json

    obj = {"a": np.nan, "b": [1.0, np.inf, -np.inf], "c": np.float64(2.5), "d": np.arange(2)}
    io.write_json(tmp_path / "s.json", obj)

    def refuse(name):
        raise ValueError(name)

    back = json.loads((tmp_path / "s.json").read_text(), parse_constant=refuse)
    assert back == {"a": None, "b": [1.0, None, None], "c": 2.5, "d": [0, 1]}
    assert io.json_safe((np.nan, {"x": np.float32("inf")})) == [None, {"x": None}]


def test_atomic_save_npy_round_trip(tmp_path):
    a = np.random.default_rng(0).normal(size=(5, 2))
    io.atomic_save_npy(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), a)
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]
