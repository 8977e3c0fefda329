"""refrnn._lanes: the 16-lane helpers of the batch kernels equal their NumPy definitions,
and compiling with the SLP vectoriser leaves Numba's configuration as it was."""

import numba
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from refrnn import _lanes
from refrnn._lanes import LANES, njit_lanes


@njit_lanes(fastmath={"contract"})
def _matrix_times(W, M, X, t, Y, u):
    _lanes.add_matrix_times(W, M, X, t, Y, u)


@njit_lanes(fastmath={"contract"})
def _summed_products(G, H, out):
    _lanes.add_summed_products(G, H, out)


@njit_lanes(fastmath={"contract"})
def _elementwise(a, b, c, k, s, out):
    x, y, z = _lanes.load(a), _lanes.load(b), _lanes.load(c)
    _lanes.store(out[0], _lanes.full(s))
    _lanes.store(out[1], _lanes.first(k, s))
    _lanes.store(out[2], _lanes.add(x, y))
    _lanes.store(out[3], _lanes.sub(x, y))
    _lanes.store(out[4], _lanes.mul(x, y))
    _lanes.store(out[5], _lanes.mul_add(x, y, z))
    _lanes.store(out[6], _lanes.times(s, x))
    _lanes.store(out[7], _lanes.axpy(s, x, y))
    _lanes.store(out[8], _lanes.axpb(s, x, 0.5))
    _lanes.store(out[9], _lanes.relu(x))
    _lanes.store(out[10], _lanes.gate(x, y))
    _lanes.store(out[11], _lanes.tanh_grad(x, y))
    return _lanes.total(x), _lanes.dot(x, y)


@settings(max_examples=100, deadline=None)
@given(M=st.integers(1, 11), seed=st.integers(0, 2**32 - 1))
def test_matrix_times_equals_numpy(M, seed):
    """Y[:, u] += W X[:, t] for every M (pairs of rows and, for odd M, the last row), and
    nothing else of Y changes."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((M, M))
    X = rng.standard_normal((3, M, LANES))  # (step, unit, window)
    Y = rng.standard_normal((2, M, LANES))
    want = Y.copy()
    want[1] += W @ X[2]
    _matrix_times(W.ravel().copy(), M, X, 2, Y, 1)
    np.testing.assert_allclose(Y, want, rtol=1e-13, atol=1e-13)
    assert np.array_equal(Y[0], want[0])


@settings(max_examples=100, deadline=None)
@given(P=st.integers(1, 7), Q=st.integers(1, 7), n=st.integers(1, 9),
       seed=st.integers(0, 2**32 - 1))  # fmt: skip
def test_summed_products_equal_numpy(P, Q, n, seed):
    """out += G H^T summed over columns and lanes, for odd and even row counts (the last
    pass of an odd count repeats a row but must add it once)."""
    rng = np.random.default_rng(seed)
    G, H = rng.standard_normal((n, P, LANES)), rng.standard_normal((n, Q, LANES))
    out = rng.standard_normal(P * Q)
    want = out + np.einsum("tis,tjs->ij", G, H).ravel()
    _summed_products(G, H, out)
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)


def test_elementwise_helpers_equal_numpy():
    rng = np.random.default_rng(3)
    a, b, c = (rng.standard_normal(LANES) for _ in range(3))
    a[::3] = 0.0  # relu'(0) = 0: the gate passes nothing at a zero
    out = np.full((12, LANES), np.nan)
    s, k = -1.7, 5
    total, dot = _elementwise(a, b, c, k, s, out)
    want = [
        np.full(LANES, s),
        np.where(np.arange(LANES) < k, s, 0.0),
        a + b,
        a - b,
        a * b,
        a * b + c,
        s * a,
        s * a + b,
        s * a + 0.5,
        np.maximum(a, 0.0),
        np.where(a > 0, b, 0.0),
        b * (1 - a * a),
    ]
    np.testing.assert_allclose(out, np.array(want), rtol=1e-15, atol=1e-15)
    assert np.isclose(total, a.sum(), rtol=1e-14) and np.isclose(dot, a @ b, rtol=1e-14)


def test_compiling_with_lanes_restores_numbas_setting():
    """The SLP vectoriser is on only while a lanes kernel compiles."""
    before = numba.config.SLP_VECTORIZE
    seen = []
    original = numba.core.codegen.JITCPUCodegen._pass_builder

    def spy(self, **kwargs):
        seen.append(numba.config.SLP_VECTORIZE)
        return original(self, **kwargs)

    numba.core.codegen.JITCPUCodegen._pass_builder = spy
    try:

        @njit_lanes()
        def f(x):
            return x + 1.0

        assert f(1.0) == 2.0
    finally:
        numba.core.codegen.JITCPUCodegen._pass_builder = original
    assert seen and all(v == 1 for v in seen)
    assert numba.config.SLP_VECTORIZE == before


@settings(max_examples=30, deadline=None)
@given(P=st.integers(1, 7), Q=st.integers(1, 7), n=st.integers(1, 40),
       seed=st.integers(0, 2**32 - 1))  # fmt: skip
def test_summed_products_by_blas_equal_numpy(P, Q, n, seed):
    """The BLAS form, in blocks of BLAS_STEPS steps (the last one padded with zeros)."""
    rng = np.random.default_rng(seed)
    G, H = rng.standard_normal((n, P, LANES)), rng.standard_normal((n, Q, LANES))
    out = rng.standard_normal((P, Q))
    want = out + np.einsum("tis,tjs->ij", G, H)
    _lanes.add_summed_products_blas(G, H, out)
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)
