"""Tests of refrnn.equations.shplrnn: definitions, kernels, and the two against each other."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rules import definitions_are_consistent, kernels_equal_definitions

import refrnn
from refrnn.equations import shplrnn


def _point(M, L, seed, kink=False, margin=1e-2):
    rng = np.random.default_rng(seed)
    model = refrnn.ShallowPLRNN.random(M, 1, L=L, rng=rng)
    params = model.params
    dparams = refrnn.ShallowPLRNN.random(M, 1, L=L, rng=rng).params
    dparams["h2"] = rng.normal(size=L)
    params["h2"] = rng.uniform(-0.5, 0.5, size=L)
    del params["B"], dparams["B"]
    z = rng.normal(size=M)
    a = params["W2"] @ z + params["h2"]
    # keep every hidden pre-activation at least `margin` from its kink (for the finite
    # differences), by shifting h2; or put some exactly on it (relu'(0) = 0 checks)
    shift = np.where(np.abs(a) < margin, np.sign(a + 1e-300) * margin - a, 0.0)
    params["h2"] = params["h2"] + shift
    if kink:
        # a_l = 0 exactly, in any summation order: a zero row of W2 and h2_l = 0
        on = rng.random(L) < 0.3
        params["W2"][on] = 0.0
        params["h2"][on] = 0.0
    return params, dparams, z, rng.normal(size=M), rng.normal(size=M)


@settings(max_examples=100)
@given(M=st.integers(1, 10), L=st.integers(1, 20), seed=st.integers(0, 2**31),
       kink=st.booleans())  # fmt: skip
def test_kernels_equal_definitions(M, L, seed, kink):
    kernels_equal_definitions(shplrnn, *_point(M, L, seed, kink))


@settings(max_examples=100)
@given(M=st.integers(1, 10), L=st.integers(1, 20), seed=st.integers(0, 2**31))
def test_definitions_are_consistent(M, L, seed):
    # affine on each region of constant D; every pre-activation is >= 1e-2 from its kink
    # and the central difference moves it by at most h (|dW2 z| + |W2 dz| + |dh2|) ~ 1e-5:
    # exact up to round-off ~1e-16 / h.
    definitions_are_consistent(shplrnn, *_point(M, L, seed), h=1e-7, fd_atol=1e-7)


def test_kernel_layout_appends_W1_transpose():
    model = refrnn.ShallowPLRNN.random(3, 1, L=5, rng=0)
    theta_k = shplrnn.kernel_layout(model.theta, 3)
    np.testing.assert_array_equal(theta_k[: model.theta.shape[0]], model.theta)
    np.testing.assert_array_equal(theta_k[-15:].reshape(5, 3), model.params["W1"].T)


def test_all_inactive_is_diagonal_and_all_active_is_affine():
    rng = np.random.default_rng(1)
    model = refrnn.ShallowPLRNN.random(4, 2, L=6, rng=rng)
    p = model.params
    z = rng.normal(size=4)
    off = model.replace(h2=np.full(6, -1e3))  # relu(W2 z + h2) = 0 for |z| << 1e3
    np.testing.assert_array_equal(off.step(z), p["A"] * z + p["h1"])
    on = model.replace(h2=np.full(6, 1e3))
    J = np.diag(p["A"]) + p["W1"] @ p["W2"]
    # the same affine map, summed in another order: a few ulps of entries ~1e3
    np.testing.assert_allclose(on.step(z), J @ z + p["W1"] @ np.full(6, 1e3) + p["h1"],
                               rtol=1e-12, atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(on.jacobian(z), J, rtol=1e-13, atol=1e-15)


def test_lyapunov_spectrum_in_one_linear_region():
    """Every hidden unit active along the whole orbit: the map is affine with constant
    Jacobian J = diag(A) + W1 W2, whose Lyapunov exponents are log|eigenvalues of J|
    (each counted with multiplicity). W1 W2 is scaled so that J is a contraction and the
    orbit stays near its fixed point, far from every kink (h2 = 1e3)."""
    rng = np.random.default_rng(5)
    model = refrnn.ShallowPLRNN.random(4, 2, L=6, rng=rng)
    p = model.params
    W1 = 0.3 * p["W1"]
    model = model.replace(W1=W1, h2=np.full(6, 1e3))
    J = np.diag(p["A"]) + W1 @ p["W2"]
    expected = np.sort(np.log(np.abs(np.linalg.eigvals(J))))[::-1]
    assert expected[0] < 0  # a contraction, as the construction intends
    res = refrnn.lyapunov_spectrum(model, np.zeros(4), n_steps=20_000, transient=100)
    # constant J: the QR estimate converges like O(log(cond)/n_steps); 20000 steps give
    # ~1e-4, and the Jordan-free random J here has condition number of order 10
    np.testing.assert_allclose(res.exponents, expected, atol=2e-3)


def test_validation_names_the_parameter():
    A, W1, W2 = np.zeros(3), np.zeros((3, 4)), np.zeros((4, 3))
    B = np.eye(2, 3)
    with pytest.raises(ValueError, match=r"W2 must have shape \(L, M\) = \(4, 3\)"):
        refrnn.ShallowPLRNN(A, W1, np.zeros((3, 3)), np.zeros(3), np.zeros(4), B)
    with pytest.raises(ValueError, match=r"W1 must have shape \(M, L\)"):
        refrnn.ShallowPLRNN(A, np.zeros((2, 4)), W2, np.zeros(3), np.zeros(4), B)
    with pytest.raises(ValueError, match="h2"):
        refrnn.ShallowPLRNN(A, W1, W2, np.zeros(3), np.zeros(3), B)
    with pytest.raises(ValueError, match="L must be"):
        refrnn.ShallowPLRNN.random(3, 1, L=0)
