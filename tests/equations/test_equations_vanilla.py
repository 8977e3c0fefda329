"""Tests of refrnn.equations.vanilla: definitions, kernels, and the two against each other."""

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
from refrnn.equations import vanilla


def _point(M, gain, seed):
    rng = np.random.default_rng(seed)
    params = refrnn.VanillaRNN.random(M, 1, rng=rng, gain=gain).params
    dparams = refrnn.VanillaRNN.random(M, 1, rng=rng).params
    del params["B"], dparams["B"]
    return params, dparams, rng.normal(size=M), rng.normal(size=M), rng.normal(size=M)


@settings(max_examples=100)
@given(M=st.integers(1, 12), gain=st.floats(0.1, 3.0), seed=st.integers(0, 2**31))
def test_kernels_equal_definitions(M, gain, seed):
    kernels_equal_definitions(vanilla, *_point(M, gain, seed))


@settings(max_examples=100)
@given(M=st.integers(1, 12), gain=st.floats(0.1, 3.0), seed=st.integers(0, 2**31))
def test_definitions_are_consistent(M, gain, seed):
    # Central differences along (dtheta, dz): truncation h^2/6 |d^3 F| with |tanh'''| <= 2
    # and a pre-activation derivative of size ~ (gain + 1) sqrt(M) |dz| <= ~15 (cubed:
    # ~3e3), plus round-off ~1e-16 / h. With h = 1e-5: <= ~1e-7 + 1e-11.
    definitions_are_consistent(vanilla, *_point(M, gain, seed), h=1e-5, fd_atol=1e-6)


def test_kernel_layout_appends_W_transpose():
    model = refrnn.VanillaRNN.random(4, 2, rng=0)
    theta_k = vanilla.kernel_layout(model.theta, 4)
    np.testing.assert_array_equal(theta_k[: model.theta.shape[0]], model.theta)
    np.testing.assert_array_equal(theta_k[-16:].reshape(4, 4), model.params["W"].T)
    # the fused training step's in-place form writes the same vector (into stale memory)
    out = np.full_like(theta_k, np.nan)
    vanilla.kernel_layout_into(model.theta, 4, out)
    np.testing.assert_array_equal(out, theta_k)


@settings(max_examples=60)
@given(
    M=st.one_of(st.integers(1, 12), st.just(GEMM_MIN_DIM), st.just(GEMM_MIN_DIM + 3)),
    n=st.integers(1, 4),
    gain=st.floats(0.1, 3.0),
    seed=st.integers(0, 2**31),
)
def test_batch_kernels_equal_definitions(M, n, gain, seed):
    """Both paths of the batch kernels: own loops (M < GEMM_MIN_DIM) and BLAS."""
    w = LANES  # the kernels work on chunks of 16 windows (refrnn._lanes)
    rng = np.random.default_rng(seed)
    params = refrnn.VanillaRNN.random(M, 1, rng=rng, gain=gain).params
    del params["B"]
    Z, G = rng.normal(size=(n, M, w)), rng.normal(size=(n, M, w))  # (step, unit, window)
    batch_kernels_equal_definitions(vanilla, params, Z, G)
