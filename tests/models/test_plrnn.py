"""Tests of refrnn.models.plrnn: the step, the Jacobian and their NumPy references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refrnn
from refrnn.models import plrnn


def _away_from_kink(rng, M, margin=1e-2):
    z = rng.normal(size=M)
    return np.where(np.abs(z) < margin, np.sign(z + 1e-300) * margin, z)


@settings(max_examples=50)
@given(M=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_step_and_jacobian(M, seed):
    rng = np.random.default_rng(seed)
    model = refrnn.PLRNN.random(M, 1, rng=rng)
    p = model.params
    z = _away_from_kink(rng, M)
    np.testing.assert_allclose(model.step(z), plrnn.step_numpy(p, z), rtol=1e-14, atol=1e-15)
    J = model.jacobian(z)
    np.testing.assert_array_equal(J, plrnn.jacobian_numpy(p, z))
    # Central differences are exact up to round-off: F is linear on each orthant, and a
    # step of 1e-6 < margin 1e-2 never leaves the orthant of z.
    h = 1e-6
    J_fd = np.column_stack(
        [(model.step(z + h * e) - model.step(z - h * e)) / (2 * h) for e in np.eye(M)]
    )
    np.testing.assert_allclose(J, J_fd, rtol=0, atol=1e-9)


def test_relu_derivative_at_zero_is_zero():
    model = refrnn.PLRNN.random(4, 2, rng=0)
    z = np.array([0.0, 1.0, -1.0, 0.0])
    J = model.jacobian(z)
    A, W = model.params["A"], model.params["W"]
    np.testing.assert_array_equal(J[:, 0], A[0] * np.eye(4)[0])
    np.testing.assert_array_equal(J[:, 3], A[3] * np.eye(4)[3])
    np.testing.assert_array_equal(J[:, 1], W[:, 1] + A[1] * np.eye(4)[1])


def test_linear_regime_is_affine():
    """With every unit positive the PLRNN is affine: F(z) = (diag(A) + W) z + h."""
    model = refrnn.PLRNN.random(5, 2, rng=2)
    p = model.params
    z = np.abs(np.random.default_rng(3).normal(size=5)) + 0.1
    np.testing.assert_allclose(model.step(z), (np.diag(p["A"]) + p["W"]) @ z + p["h"], rtol=1e-14)


def test_random_matches_paper_init():
    M = 30
    model = refrnn.PLRNN.random(M, 3, rng=np.random.default_rng(4))
    p = model.params
    bound = 1 / np.sqrt(M)
    for k in ("A", "h", "B"):
        assert np.all(np.abs(p[k]) <= bound)
    off = p["W"][~np.eye(M, dtype=bool)]
    assert np.all(np.abs(off) <= bound) and np.all(np.diag(p["W"]) == 0)
    # reproducible from a seed
    assert refrnn.PLRNN.random(M, 3, rng=7) == refrnn.PLRNN.random(M, 3, rng=7)


def test_rejects_nonzero_W_diagonal():
    W = np.zeros((3, 3))
    W[1, 1] = 0.5
    with pytest.raises(ValueError, match=r"W must have a zero diagonal.*W\[1, 1\]"):
        refrnn.PLRNN(np.zeros(3), W, np.zeros(3), np.ones((1, 3)))
