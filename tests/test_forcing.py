"""Tests of refrnn.forcing: the pseudo-inverse's tangent and adjoint rules against finite
differences, each other and the Numba kernel."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refrnn.forcing import pinv_jvp, pinv_vjp, pinv_vjp_kernel


@st.composite
def full_row_rank(draw):
    """(B, dB, G): B of shape (N, M), N <= M, with singular values in [0.3, 3] so that B^+
    is well conditioned and central differences with h = 1e-6 are accurate."""
    M = draw(st.integers(1, 10))
    N = draw(st.integers(1, M))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    U, _ = np.linalg.qr(rng.normal(size=(N, N)))
    V, _ = np.linalg.qr(rng.normal(size=(M, N)))
    B = U @ np.diag(rng.uniform(0.3, 3.0, size=N)) @ V.T
    return B, rng.normal(size=(N, M)), rng.normal(size=(M, N))


@settings(max_examples=100)
@given(case=full_row_rank())
def test_jvp_matches_central_differences(case):
    B, dB, _ = case
    h = 1e-6
    fd = (np.linalg.pinv(B + h * dB) - np.linalg.pinv(B - h * dB)) / (2 * h)
    dP = pinv_jvp(B, np.linalg.pinv(B), dB)
    # truncation O(h^2 |d3 P|) with |P| <= 1/0.3: ~1e-10; round-off eps/h ~ 1e-10
    np.testing.assert_allclose(dP, fd, rtol=0, atol=1e-7 * max(1.0, np.abs(dP).max()))


@settings(max_examples=100)
@given(case=full_row_rank())
def test_vjp_is_the_adjoint_of_jvp(case):
    """<G, dP(dB)> = <vjp(G), dB>: the two rules are transposes of one linear map."""
    B, dB, G = case
    P = np.linalg.pinv(B)
    lhs = np.sum(G * pinv_jvp(B, P, dB))
    rhs = np.sum(pinv_vjp(B, P, G) * dB)
    assert abs(lhs - rhs) <= 1e-12 * (np.abs(G).sum() * np.abs(pinv_jvp(B, P, dB)).max() + 1)


@settings(max_examples=100)
@given(case=full_row_rank())
def test_kernel_equals_definition(case):
    B, _, G = case
    P = np.linalg.pinv(B)
    out = np.empty_like(B)
    pinv_vjp_kernel(B, P, G, out)
    ref = pinv_vjp(B, P, G)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12 * max(1.0, np.abs(ref).max()))


def test_square_B_is_the_inverse():
    """N = M: B^+ = B^{-1}, so dP = -P dB P and the adjoint is -P^T G P^T."""
    rng = np.random.default_rng(0)
    B = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    P = np.linalg.inv(B)
    dB, G = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    np.testing.assert_allclose(pinv_jvp(B, P, dB), -P @ dB @ P, atol=1e-14)
    np.testing.assert_allclose(pinv_vjp(B, P, G), -P.T @ G @ P.T, atol=1e-14)


@pytest.mark.parametrize("N, M", [(1, 1), (1, 5), (3, 30)])
def test_sizes(N, M):
    B = np.eye(N, M)
    out = np.empty((N, M))
    pinv_vjp_kernel(B, B.T.copy(), np.ones((M, N)), out)
    np.testing.assert_allclose(out, pinv_vjp(B, B.T, np.ones((M, N))), atol=1e-15)
