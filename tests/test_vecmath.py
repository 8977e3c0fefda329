"""refrnn._vecmath: the vectorisable tanh of the tanh RNN's batch kernels equals np.tanh
to a few ulp, everywhere, and keeps tanh's exact properties (odd, +-1 at +-inf, NaN).
Tested as the kernels run it: 16 lanes at a time (refrnn._lanes.tanh), compiled like them
(SLP vectoriser, error_model "numpy")."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from refrnn._lanes import LANES, load, njit_lanes, store, tanh
from refrnn._vecmath import tanh_one

#: Measured maximum relative error against np.tanh (200 000 normal samples at each of the
#: scales 1e-8 .. 25): 9.2e-16, about 4 ulp. The bound leaves a factor ~2 for other
#: libm versions of np.tanh, themselves within an ulp or so.
REL = 2e-15


@njit_lanes(fastmath={"contract"}, error_model="numpy")
def _tanh_rows(a):
    for r in range(a.shape[0]):
        store(a[r], tanh(load(a[r])))


@njit_lanes(fastmath={"contract"}, error_model="numpy")
def _tanh_scalars(a):
    for r in range(a.shape[0]):
        a[r] = tanh_one(a[r])


def vec_tanh(x):
    """tanh of every entry of x, computed in rows of 16 lanes (the last row padded)."""
    a = np.array(x, dtype=np.float64, copy=True).ravel()
    rows = np.zeros((-(-a.size // LANES), LANES))
    rows.ravel()[: a.size] = a
    _tanh_rows(rows)
    return rows.ravel()[: a.size]


def test_lanes_equal_the_scalar_function_bit_for_bit():
    """Vectorised or not, every lane computes tanh_one's operations on its own value."""
    x = np.random.default_rng(2).normal(size=16 * 500) * 6
    one = x.copy()
    _tanh_scalars(one)
    assert np.array_equal(vec_tanh(x), one)


@pytest.mark.parametrize("scale", [1e-300, 1e-8, 1e-3, 0.3, 1.0, 3.0, 10.0, 19.0, 25.0, 1e300])
def test_tanh_matches_numpy_to_a_few_ulp(scale):
    x = np.random.default_rng(0).normal(size=20_000) * scale
    ref = np.tanh(x)
    np.testing.assert_allclose(vec_tanh(x), ref, rtol=REL, atol=0)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 70), elements=st.floats(-50, 50, allow_nan=False)))
def test_tanh_matches_numpy_on_any_array(x):
    np.testing.assert_allclose(vec_tanh(x), np.tanh(x), rtol=REL, atol=0)


def test_tanh_is_exactly_odd_and_bounded():
    x = np.random.default_rng(1).normal(size=5000) * 5
    t, t_neg = vec_tanh(x), vec_tanh(-x)
    assert np.array_equal(t_neg, -t)  # the rational part and the doublings are odd in u
    # just below the clamp the fraction n/d can round to 1 + 2^-52: capped at 1
    x = np.linspace(19.0, 20.5, 300_001)
    t = vec_tanh(np.concatenate([x, -x]))
    assert np.all(np.abs(t) <= 1.0)


def test_tanh_of_tiny_and_subnormal_inputs_is_exact():
    """tanh x = x below 1e-8 (to 4e-17); x / 32 would lose bits near the smallest normal
    number, so the kernel returns x itself there, keeping -0.0 and subnormals."""
    tiny = np.finfo(np.float64).tiny
    x = np.array([tiny, 3 * tiny, 7e-307, 1e-310, 5e-324, 1e-20, 9.9e-9])
    x = np.concatenate([x, -x])
    np.testing.assert_allclose(vec_tanh(x), np.tanh(x), rtol=REL, atol=0)
    t = vec_tanh(np.array([-0.0, 0.0]))
    assert np.signbit(t[0]) and not np.signbit(t[1])


def test_tanh_special_values():
    x = np.array([0.0, np.inf, -np.inf, np.nan, 19.5, -19.5, 20.0, 1e308, -1e308])
    t = vec_tanh(x)
    assert t[0] == 0.0
    assert t[1] == 1.0 and t[2] == -1.0
    assert np.isnan(t[3])  # the clamp compares, so NaN is not turned into +-1
    # +-1 in np.tanh; here +-1 or one ulp inside (the fraction n/d rounds down there)
    np.testing.assert_allclose(t[4:], np.tanh(x[4:]), rtol=2**-52, atol=0)
    assert np.all(np.abs(t[4:]) <= 1.0)
