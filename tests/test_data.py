"""Tests of refrnn.data: benchmark datasets, loaders, embedding, windows."""

import dataclasses
import os
import sys

import numpy as np
import pytest

import refrnn
from refrnn import data, systems

EPS = np.finfo(float).eps


# ======================================================================================
# Standardizer
def test_standardizer_round_trip():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[5.0, -300.0, 0.0], scale=[0.1, 40.0, 3.0], size=(500, 3))
    st = data.Standardizer.fit(X)
    Y = st.transform(X)
    # By construction (ddof=0 mean/std of the fitted data): zero mean, unit variance, up to
    # the round-off of a sum of 500 terms (~500 eps relative).
    np.testing.assert_allclose(Y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Y.std(axis=0), 1.0, rtol=1e-12)
    # (x - mu) / s * s + mu: two roundings in each direction, a few ulp of max(|x|, |mu|).
    back = st.inverse_transform(Y)
    np.testing.assert_allclose(back, X, rtol=0, atol=8 * EPS * np.abs(X).max())
    # It also applies to windows (..., N).
    W = X[:20].reshape(4, 5, 3)
    np.testing.assert_array_equal(st.transform(W), Y[:20].reshape(4, 5, 3))


def test_standardizer_rejects_constant_and_wrong_width():
    X = np.ones((10, 2))
    X[:, 0] = np.arange(10.0)
    with pytest.raises(ValueError, match=r"constant in variable\(s\) \[1\]"):
        data.Standardizer.fit(X)
    st = data.Standardizer.fit(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="N=2"):
        st.transform(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="std must be > 0"):
        data.Standardizer(np.zeros(2), np.array([1.0, 0.0]))


# ======================================================================================
# generate / Dataset
@pytest.mark.parametrize(
    "name, params, N",
    [("lorenz63", None, 3), ("Rössler", None, 3), ("lorenz-96", {"n": 6}, 6), ("henon", None, 2)],
)
def test_generate_shapes_split_and_standardisation(name, params, N):
    ds = data.generate(name, 1000, params=params, rng=0, test_fraction=0.2, transient=2000)
    assert ds.train.shape == (800, N) and ds.test.shape == (200, N)
    # Standardised with the training part's statistics only (no leakage from the test part).
    np.testing.assert_allclose(ds.train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.train.std(axis=0), 1.0, rtol=1e-12)
    assert ds.info["source"] == "simulation" and ds.info["seed"] == 0


def test_generate_matches_a_direct_simulation():
    """The series is rows transient, transient + k, ... of system.simulate, then standardised."""
    lorenz = systems.Lorenz63(dt=0.01)
    ds = data.generate(lorenz, 50, sample_every=3, transient=100, rng=7, test_fraction=0.0)
    x0 = lorenz.initial_state(np.random.default_rng(7))
    raw = lorenz.simulate(x0, 100 + 49 * 3)[100::3]
    # destandardize(transform(raw)) differs from raw by a few ulp only (see round-trip test).
    np.testing.assert_allclose(
        ds.destandardize(ds.train), raw, rtol=0, atol=8 * EPS * np.abs(raw).max()
    )
    assert ds.info["dt"] == pytest.approx(0.03) and ds.info["integration_dt"] == 0.01
    assert ds.info["x0"] == x0.tolist()


def test_generate_is_reproducible_from_its_record():
    a = data.generate("lorenz63", 300, rng=None, noise=0.1)  # a fresh seed, recorded
    assert isinstance(a.info["seed"], int)
    b = data.generate(
        a.info["system"],
        a.info["n_samples"],
        params=a.info["params"],
        dt=a.info["integration_dt"],
        sample_every=a.info["sample_every"],
        transient=a.info["transient"],
        noise=a.info["noise"],
        rng=a.info["seed"],
        test_fraction=a.info["test_fraction"],
    )
    np.testing.assert_array_equal(a.X, b.X)
    assert dict(a.info) == dict(b.info)


def test_generate_noise_level():
    clean = data.generate("henon", 20000, rng=3, standardize=False, test_fraction=0.0)
    noisy = data.generate("henon", 20000, rng=3, standardize=False, test_fraction=0.0, noise=0.5)
    eps = noisy.train - clean.train
    # noise * s_n * N(0, 1): the sample std of 20000 draws is within ~1% (std error
    # 1/sqrt(2*20000) = 0.5%); 3% leaves 6 standard errors.
    np.testing.assert_allclose(eps.std(axis=0), 0.5 * clean.train.std(axis=0), rtol=0.03)


def test_generate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown system"):
        data.generate("lorenz84", 100)
    with pytest.raises(ValueError, match="takes no dt"):
        data.generate("henon", 100, dt=0.1)
    with pytest.raises(ValueError, match="conflicts"):
        data.generate(systems.Lorenz63(dt=0.01), 100, dt=0.02)
    with pytest.raises(ValueError, match="params"):
        data.generate(systems.Lorenz63(), 100, params={"rho": 20.0})
    with pytest.raises(ValueError, match="test_fraction"):
        data.generate("henon", 100, test_fraction=1.0)
    with pytest.raises(ValueError, match="noise"):
        data.generate("henon", 100, noise=-1.0)
    with pytest.raises(TypeError, match="n_samples"):
        data.generate("henon", 100.0)
    # found by the fuzz tests: dict() and float() errors that named nothing
    for bad in (1 + 2j, [1, "a"], "rho"):
        with pytest.raises(TypeError, match="params must be a dict of Lorenz63 parameters"):
            data.generate("lorenz63", 100, params=bad)
    with pytest.raises(TypeError, match="dt must be a real number, got str"):
        data.generate("lorenz63", 100, dt="abc")


def test_bad_types_and_values_found_by_the_fuzz_tests():
    with pytest.raises(TypeError, match="standardize must be True or False"):
        data.generate("henon", 100, standardize=np.array([]))
    with pytest.raises(TypeError, match="noise must be a real number, got str"):
        data.generate("henon", 100, noise="abc")
    with pytest.raises(ValueError, match=r"n_samples=1000000000000 needs a .* orbit of"):
        data.generate("henon", 10**12)  # was NumPy's MemoryError
    with pytest.raises(ValueError, match="X is too large to standardise"):
        data.Dataset.from_series(np.array([[1e300], [-1e300], [0.0]]))  # std was inf
    Y = np.random.default_rng(0).normal(size=(300, 1))
    with pytest.raises(TypeError, match="test_fraction must be a real number"):
        data.generate("henon", 100, test_fraction="abc")
    with pytest.raises(ValueError, match="n_windows=1000000000000 needs"):
        data.sample_windows(Y, 10**12, 5)


def test_dataset_is_immutable():
    ds = data.generate("henon", 100, rng=0)
    with pytest.raises(ValueError):
        ds.train[0, 0] = 1.0
    with pytest.raises(TypeError):
        ds.info["seed"] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.train = ds.test


def test_dataset_save_load_round_trip(tmp_path):
    ds = data.generate("lorenz96", 400, params={"n": 5, "F": 8.0}, rng=11, noise=0.05)
    path = tmp_path / "l96.npz"
    ds.save(path)
    assert os.listdir(tmp_path) == ["l96.npz"]  # the temporary file was moved, not left
    back = data.Dataset.load(path)
    np.testing.assert_array_equal(back.train, ds.train)
    np.testing.assert_array_equal(back.test, ds.test)
    np.testing.assert_array_equal(back.standardizer.mean, ds.standardizer.mean)
    np.testing.assert_array_equal(back.standardizer.std, ds.standardizer.std)
    assert dict(back.info) == dict(ds.info)
    assert back.info["params"] == {"F": 8.0} and back.info["dim"] == 5

    raw = data.Dataset.from_series(np.arange(20.0)[:, None] ** 1.5, standardize=False, dt=0.5)
    raw.save(tmp_path / "raw.npz")
    again = data.Dataset.load(tmp_path / "raw.npz")
    assert again.standardizer is None and again.dt == 0.5
    np.testing.assert_array_equal(again.X, raw.X)

    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match=r"missing required key\(s\)"):
        data.Dataset.load(tmp_path / "other.npz")


def test_from_series_split_and_undo():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(100, 2))
    ds = data.Dataset.from_series(X, test_fraction=0.25, info={"source": "eeg.csv"})
    assert ds.train.shape == (75, 2) and ds.test.shape == (25, 2)
    assert ds.info["source"] == "eeg.csv" and ds.info["test_fraction"] == 0.25
    np.testing.assert_allclose(ds.destandardize(ds.X), X, rtol=0, atol=8 * EPS * np.abs(X).max())


# ======================================================================================
# load_series
def _write(tmp_path, name, arr, **kw):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, arr, **kw)
    elif name.endswith(".npz"):
        np.savez(path, **arr)
    else:
        path.write_text(arr)
    return path


def test_load_series_formats(tmp_path):
    X = np.random.default_rng(0).normal(size=(150, 3))
    np.testing.assert_array_equal(data.load_series(_write(tmp_path, "a.npy", X)), X)
    np.testing.assert_array_equal(data.load_series(_write(tmp_path, "b.npz", {"x": X})), X)
    two = _write(tmp_path, "c.npz", {"x": X, "y": 2 * X})
    np.testing.assert_array_equal(data.load_series(two, key="y"), 2 * X)
    with pytest.raises(ValueError, match=r"choose one with key="):
        data.load_series(two)
    # 1-D: one measured channel, returned as (T, 1)
    assert data.load_series(_write(tmp_path, "d.npy", X[:, 0])).shape == (150, 1)
    # integers are accepted from files (counts, ADC values) and converted to float64
    ints = data.load_series(_write(tmp_path, "e.npy", np.arange(300).reshape(100, 3)))
    assert ints.dtype == np.float64
    # CSV with and without a header line; repr round-trips float64 exactly
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in X)
    np.testing.assert_array_equal(data.load_series(_write(tmp_path, "f.csv", body)), X)
    np.testing.assert_array_equal(data.load_series(_write(tmp_path, "g.csv", "x,y,z\n" + body)), X)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("three_d.npy", np.zeros((200, 2, 2)), r"expected a \(T, N\) array"),
        ("nan.npy", np.where(np.eye(200, 3) == 1, np.nan, 0.0), r"non-finite value .* row 0"),
        ("short.npy", np.zeros((50, 3)), r"too short, 50 time steps < min_samples=100"),
        ("transposed.npy", np.zeros((3, 500)), r"transposed"),
        ("complex.npy", np.zeros((200, 2), dtype=complex), r"expected real numbers"),
        ("text.csv", "1,2\n3,abc\n", r"could not read a numeric array"),
        ("ragged.csv", "1,2\n3\n", r"could not read a numeric array"),
        ("semicolons.csv", "a;b\n1;2\n3;4\n", r"separated by ';'.*comma-separated"),
        ("gap.csv", "a,b\n1,2\n3,\n", r"an empty cell: fill or remove"),
        ("nan.csv", "a,b\n1,2\n3,nan\n", r"data row 1, column 1 .*header line not counted"),
        ("data.txt", "", r"unsupported file type"),
    ],
)
def test_load_series_rejects_bad_files(tmp_path, name, content, message):
    path = _write(tmp_path, name, content)
    with pytest.raises(ValueError, match=message) as err:
        data.load_series(path)
    assert str(path) in str(err.value)  # the message names the file


def test_load_series_names_a_truncated_npz(tmp_path):
    # found by the fuzz tests: zipfile.BadZipFile("File is not a zip file"), no file named
    path = tmp_path / "cut.npz"
    np.savez(path, X=np.zeros((200, 2)))
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(ValueError, match=r"cut.npz: not a readable .npz file"):
        data.load_series(path)


def test_load_series_never_unpickles(tmp_path):
    objects = np.empty(200, dtype=object)
    objects[:] = [{"a": 1}] * 200
    path = _write(tmp_path, "obj.npy", objects, allow_pickle=True)
    with pytest.raises(ValueError, match="pickled Python objects") as err:
        data.load_series(path)
    assert str(path) in str(err.value)
    np.savez(tmp_path / "obj.npz", x=objects)
    with pytest.raises(ValueError, match="pickled Python objects"):
        data.load_series(tmp_path / "obj.npz")
    with pytest.raises(ValueError, match="no such file"):
        data.load_series(tmp_path / "missing.npy")


# ======================================================================================
# sample_windows
def test_sample_windows_shapes_content_and_seeds():
    X = np.arange(40.0).reshape(20, 2)
    W, starts = data.sample_windows(X, 50, 4, rng=3, return_starts=True)
    assert W.shape == (50, 5, 2)
    for w, s in zip(W, starts, strict=True):
        np.testing.assert_array_equal(w, X[s : s + 5])
    # admissible starts are 0..T_total-T-1 = 0..15 (the last window ends at row 19)
    assert starts.min() >= 0 and starts.max() <= 15
    np.testing.assert_array_equal(data.sample_windows(X, 50, 4, rng=3), W)
    assert not np.array_equal(data.sample_windows(X, 50, 4, rng=4), W)
    # the longest window uses the whole series
    np.testing.assert_array_equal(data.sample_windows(X, 2, 19, rng=0), np.stack([X, X]))
    with pytest.raises(ValueError, match="fewer than the window length"):
        data.sample_windows(X, 1, 20)


# ======================================================================================
# loading: errors
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_random_bytes_are_not_called_pickles(tmp_path, suffix):
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(ValueError, match=r"noise\.np[yz]: not (a \.npy file|an \.npz)") as info:
        data.load_series(path)
    assert "pickle" not in str(info.value)


def test_load_series_of_a_dataset_file_names_its_parts(tmp_path):
    ds = data.generate("henon", 600, rng=0)
    ds.save(tmp_path / "d.npz")
    with pytest.raises(ValueError, match=r"a refrnn Dataset file .*key='test'.*--key test"):
        data.load_series(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.load_series(tmp_path / "d.npz", key="test"), ds.test)


# ---- load_sunspots ---------------------------------------------------------------------
def test_load_sunspots_is_the_yearly_series_1700_to_2008():
    pytest.importorskip("statsmodels")
    years, x = refrnn.load_sunspots()
    assert years.shape == x.shape == (309,)
    assert years.dtype == x.dtype == np.float64
    np.testing.assert_array_equal(years, np.arange(1700.0, 2009.0))
    assert np.all(np.isfinite(x)) and np.all(x >= 0)
    # landmarks of version 1 of the International Sunspot Number (SILSO): the first year,
    # and the largest yearly mean of the record, 190.2 in 1957 (exact: the file's values)
    assert x[0] == 5.0
    assert years[np.argmax(x)] == 1957.0 and x.max() == 190.2


def test_load_sunspots_names_the_extra_when_statsmodels_is_missing(monkeypatch):
    # None in sys.modules makes every import of these names fail, as if not installed
    for name in ("statsmodels", "statsmodels.datasets", "statsmodels.datasets.sunspots"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'refrnn\[real\]'"):
        refrnn.load_sunspots()
