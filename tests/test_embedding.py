"""Tests of refrnn.embedding: delay vectors, lag by mutual information / autocorrelation,
dimension by false nearest neighbours, and embedding inside Dataset.from_series."""

import warnings

import numpy as np
import pytest

import refrnn
from refrnn import embedding


# ======================================================================================
# delay_embed
def test_delay_embed_definition():
    x = np.arange(10.0)
    Y = embedding.delay_embed(x, dim=3, lag=2)
    # y_t = (x_t, x_{t-2}, x_{t-4}) for t = 4..9
    expected = np.array([[t, t - 2, t - 4] for t in range(4, 10)], dtype=float)
    np.testing.assert_array_equal(Y, expected)
    X2 = np.column_stack([x, -x])
    np.testing.assert_array_equal(embedding.delay_embed(X2, 2, 1)[0], [1.0, -1.0, 0.0, -0.0])
    np.testing.assert_array_equal(embedding.delay_embed(x, 1, 5), x[:, None])
    with pytest.raises(ValueError, match="need more than"):
        embedding.delay_embed(x, dim=6, lag=2)  # span (6-1)*2 = 10 = T
    with pytest.raises(ValueError, match="x must have shape"):
        embedding.delay_embed(np.zeros((3, 3, 3)), 2)


# ======================================================================================
# lag
def test_ami_at_lag_zero_is_the_entropy_and_noise_has_almost_none():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20000)
    ami = embedding.average_mutual_information(x, 5, bins=8)
    edges = np.linspace(x.min(), x.max(), 9)
    p = np.histogram(x, edges)[0] / x.size
    assert ami[0] == pytest.approx(-np.sum(p[p > 0] * np.log(p[p > 0])), rel=1e-12)
    # independent samples: the plug-in estimate is biased up by about (bins-1)^2 / (2 T)
    # = 1.2e-3 nats (Miller 1955 / Panzeri & Treves 1996); allow 5x that
    assert np.all(ami[1:] < 5 * 49 / (2 * x.size))


def test_acf_lag_of_a_noisy_sine_is_a_quarter_period():
    """rho(l) of a sine of period P is cos(2 pi l / P): its first zero is at P/4 = 25;
    the noise (std 0.1 against a variance of 0.5) scales rho but moves the zero by less
    than one sample."""
    rng = np.random.default_rng(1)
    t = np.arange(10000)
    x = np.sin(2 * np.pi * t / 100) + 0.1 * rng.normal(size=t.size)
    assert embedding.choose_lag(x, 60, method="acf").lag in (25, 26)


def test_lag_and_dimension_of_lorenz_x():
    """x of Lorenz-63 (dt = 0.01): the AMI has a first minimum (at 19 samples here) and
    false nearest neighbours fall below 10% at d = 3, the dimension known to suffice
    (Kennel et al. 1992); the fractions are those measured and quoted in choose_dim."""
    x = refrnn.generate("lorenz63", 20000, rng=0, test_fraction=0.0).train[:, 0]
    lag = embedding.choose_lag(x)
    assert lag.method == "ami" and 10 <= lag.lag <= 30
    assert lag.curve[lag.lag] < lag.curve[lag.lag - 1]
    dim = embedding.choose_dim(x, lag.lag)
    assert dim.dim == 3
    assert dim.fraction[1] > 0.1 > dim.fraction[2]


def test_henon_x_needs_two_dimensions():
    x = refrnn.generate("henon", 5000, rng=0, test_fraction=0.0).train[:, 0]
    assert embedding.choose_dim(x, 1).dim == 2


def test_no_minimum_warns_and_bad_input_is_named():
    x = np.cumsum(np.ones(1000))  # a ramp: AMI keeps falling, no minimum
    with pytest.warns(UserWarning, match="no minimum"):
        embedding.choose_lag(x, 20)
    with pytest.raises(ValueError, match="scalar series"):
        embedding.choose_lag(np.zeros((100, 2)))
    with pytest.raises(ValueError, match="constant"):
        embedding.choose_lag(np.ones(100))
    with pytest.raises(ValueError, match="method"):
        embedding.choose_lag(np.arange(100.0), method="fnn")
    with pytest.raises(ValueError, match="max_lag"):
        embedding.average_mutual_information(np.arange(100.0), 80)


# ======================================================================================
# Dataset.from_series(embed=...)
def test_from_series_embeds_each_split_separately():
    rng = np.random.default_rng(2)
    x = rng.normal(size=1000)
    ds = refrnn.Dataset.from_series(x, embed=(3, 4), test_fraction=0.2, standardize=False)
    train_raw, test_raw = x[:800], x[800:]
    np.testing.assert_array_equal(ds.train, embedding.delay_embed(train_raw, 3, 4))
    np.testing.assert_array_equal(ds.test, embedding.delay_embed(test_raw, 3, 4))
    # no test delay vector reaches back into the training part
    assert ds.test.shape[0] == 200 - 8
    assert dict(ds.info["embedding"]) == {"dim": 3, "lag": 4, "chosen": "given"}


def test_from_series_auto_embedding_of_lorenz_x():
    x = refrnn.generate("lorenz63", 20000, rng=0, test_fraction=0.0, standardize=False)
    ds = refrnn.Dataset.from_series(x.train[:, 0], embed="auto", test_fraction=0.1, dt=0.01)
    emb = ds.info["embedding"]
    assert emb["chosen"] == "auto" and emb["dim"] == 3
    assert ds.train.shape[1] == 3 and ds.test.shape[1] == 3
    with pytest.raises(ValueError, match="embed must be"):
        refrnn.Dataset.from_series(x.train[:, 0], embed=3)
    with pytest.raises(ValueError, match="scalar series"):
        refrnn.Dataset.from_series(x.train, embed="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refrnn.Dataset.from_series(x.train, embed=(2, 5))  # vector series, given embedding
