"""Tests of refrnn.equations.plrnn: definitions, kernels, and the two against each other."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rules import (
    batch_kernels_equal_definitions,
    definitions_are_consistent,
    kernels_equal_definitions,
)

import refrnn
from refrnn._lanes import LANES
from refrnn._linalg import GEMM_MIN_DIM
from refrnn.equations import plrnn


def _away_from_kink(rng, M, margin=1e-2):
    z = rng.normal(size=M)
    return np.where(np.abs(z) < margin, np.sign(z + 1e-300) * margin, z)


def _point(M, seed, kink=False):
    rng = np.random.default_rng(seed)
    params = refrnn.PLRNN.random(M, 1, rng=rng).params
    dparams = refrnn.PLRNN.random(M, 1, rng=rng).params  # zero W diagonal, as a tangent must
    del params["B"], dparams["B"]
    z = _away_from_kink(rng, M)
    if kink:  # exact zeros: relu'(0) = 0 must hold in definition and kernel alike
        z[rng.random(M) < 0.3] = 0.0
    return params, dparams, z, rng.normal(size=M), rng.normal(size=M)


@settings(max_examples=100)
@given(M=st.integers(1, 12), seed=st.integers(0, 2**31), kink=st.booleans())
def test_kernels_equal_definitions(M, seed, kink):
    kernels_equal_definitions(plrnn, *_point(M, seed, kink))


@settings(max_examples=100)
@given(M=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_definitions_are_consistent(M, seed):
    # F is affine on each orthant, and z is at least 1e-2 away from a kink while the
    # central difference moves it by h |dz| < 1e-5: the difference is exact up to round-off
    # (~1e-16 / h ~ 1e-10 at most for entries of size O(1)).
    definitions_are_consistent(plrnn, *_point(M, seed), h=1e-6, fd_atol=1e-8)


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
    np.testing.assert_allclose(plrnn.step(p, z), (np.diag(p["A"]) + p["W"]) @ z + p["h"],
                               rtol=1e-14)  # fmt: skip


def test_kernel_layout_appends_W_transpose():
    """The kernels read W column by column from a copy appended to theta; it must equal W^T
    (a tangent's copy is dW^T)."""
    model = refrnn.PLRNN.random(5, 2, rng=0)
    theta_k = plrnn.kernel_layout(model.theta, 5)
    assert theta_k.shape == (2 * 5 + 2 * 25,)
    np.testing.assert_array_equal(theta_k[: model.theta.shape[0]], model.theta)
    np.testing.assert_array_equal(theta_k[-25:].reshape(5, 5), model.params["W"].T)
    # the fused training step's in-place form writes the same vector (into stale memory)
    out = np.full_like(theta_k, np.nan)
    plrnn.kernel_layout_into(model.theta, 5, out)
    np.testing.assert_array_equal(out, theta_k)


@settings(max_examples=60)
@given(
    M=st.one_of(st.integers(1, 12), st.just(GEMM_MIN_DIM), st.just(GEMM_MIN_DIM + 3)),
    n=st.integers(1, 4),
    seed=st.integers(0, 2**31),
    kink=st.booleans(),
)
def test_batch_kernels_equal_definitions(M, n, seed, kink):
    """Both paths of the batch kernels: own loops (M < GEMM_MIN_DIM) and BLAS."""
    w = LANES  # the kernels work on chunks of 16 windows (refrnn._lanes)
    rng = np.random.default_rng(seed)
    params = refrnn.PLRNN.random(M, 1, rng=rng).params
    del params["B"]
    Z = np.stack([_away_from_kink(rng, M) for _ in range(n * w)]).reshape(n, w, M)
    Z = np.ascontiguousarray(Z.transpose(0, 2, 1))  # (step, unit, window)
    if kink:
        Z[rng.random(Z.shape) < 0.3] = 0.0
    batch_kernels_equal_definitions(plrnn, params, Z, rng.normal(size=(n, M, w)))
