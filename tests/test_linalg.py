"""Tests of refrnn._linalg: the Householder QR with positive diagonal, the same with Q kept
as reflectors (hand-written and by LAPACK), and the helpers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from refrnn._linalg import (
    LAPACK_BLOCK,
    apply_reflectors_lapack,
    apply_reflectors_rows,
    block_factors,
    householder_lapack,
    householder_rows,
    lapack_qr_work_size,
    matmul_into,
    one_blas_thread,
    qr_positive,
    transpose_in_place,
)

EPS = np.finfo(float).eps


def _qr(Y):
    n, k = Y.shape
    Yw = np.array(Y, dtype=float)
    Q, R = np.empty((n, k)), np.empty((k, k))
    ok = qr_positive(Yw, Q, R, np.empty(k), np.empty(k))
    return ok, Q, R


# ======================================================================================
# QR kernel
@settings(max_examples=60)
@given(
    n=st.integers(1, 12),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    log_grading=st.floats(0, 12),
)
def test_qr_matches_numpy(n, data, seed, log_grading):
    k = data.draw(st.integers(1, n))
    rng = np.random.default_rng(seed)
    # columns graded over up to 12 decades: the ill-conditioned frames that
    # reortho_every > 1 produces
    Y = rng.standard_normal((n, k)) * np.logspace(0, -log_grading, k)
    ok, Q, R = _qr(Y)
    assert ok
    # Householder QR is backward stable: Q orthonormal and Q R = Y to O(n eps), whatever
    # the conditioning (Golub & Van Loan, Thm 5.2.2); 20 n eps leaves a safe margin.
    assert np.abs(Q.T @ Q - np.eye(k)).max() < 20 * n * EPS
    assert np.abs(Q @ R - Y).max() < 20 * n * EPS * np.abs(Y).max()
    assert np.all(np.diag(R) >= 0) and np.array_equal(R, np.triu(R))
    # numpy's factors agree once its signs are made positive. The columns of Q are
    # determined only up to the conditioning: perturbation theory gives
    # |dQ| <~ kappa(Y) n eps, |dR| <~ kappa(Y) n eps |Y| column-wise.
    Qn, Rn = np.linalg.qr(Y)
    s = np.where(np.diag(Rn) < 0, -1.0, 1.0)
    Qn, Rn = Qn * s, Rn * s[:, None]
    kappa = np.linalg.cond(Y)
    np.testing.assert_allclose(Q, Qn, rtol=0, atol=50 * n * EPS * kappa)
    np.testing.assert_allclose(R, Rn, rtol=0, atol=50 * n * EPS * kappa * np.abs(Y).max())


def test_qr_rank_deficient_keeps_q_orthonormal():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((5, 4))
    Y[:, 1] = 0.0  # a zero column: R_11 = 0 exactly
    Y[:, 3] = 2.0 * Y[:, 0]  # a dependent column: R_33 = 0 up to round-off
    ok, Q, R = _qr(Y)
    assert ok
    assert R[1, 1] == 0.0 and R[3, 3] < 1e-14
    assert np.abs(Q.T @ Q - np.eye(4)).max() < 1e-14
    assert np.abs(Q @ R - Y).max() < 1e-14


def test_qr_reports_non_finite_input():
    Y = np.ones((3, 2))
    Y[1, 0] = np.nan
    assert not _qr(Y)[0]
    Y = np.ones((3, 2))
    Y[2, 1] = np.inf
    assert not _qr(Y)[0]


# ======================================================================================
# the same QR on a transposed frame, Q kept as reflectors
def _reflectors(Y):
    n, k = Y.shape
    Vt = np.array(Y.T, dtype=float, order="C")
    R, tau = np.full((k, k), np.nan), np.empty(k)
    ok = householder_rows(Vt, R, tau)
    return ok, Vt, tau, R


def _apply(Vt, tau, Z):
    Z = np.array(Z, dtype=float, order="C")
    apply_reflectors_rows(Vt, tau, Z, np.empty((2, Z.shape[1])))
    return Z


def _explicit_reflectors(Vt, tau):
    """H_0, ..., H_{k-1} as matrices (the definition)."""
    k, n = Vt.shape
    Hs = []
    for j in range(k):
        v = np.zeros(n)
        v[j] = 1.0
        v[j + 1 :] = Vt[j, j + 1 :]
        Hs.append(np.eye(n) - tau[j] * np.outer(v, v))
    return Hs


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    log_grading=st.floats(0, 12),
    # entries from ~1e-295 to ~1e+282: normal numbers (a subnormal pivot norm is not
    # rescaled: see householder_rows)
    log_scale=st.floats(-280, 280),
)
def test_reflector_qr_is_qr_positive_with_q_left_as_reflectors(n, data, seed, log_grading,
                                                               log_scale):  # fmt: skip
    """householder_rows: qr_positive's factorisation (the same reflectors, so the same R
    once its row signs S are made positive, and Q = H_0 ... H_{k-1} [I; 0] S) of the
    transposed frame, at any scale (the norms' slow path) and grading."""
    k = data.draw(st.integers(1, n))
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((n, k)) * np.logspace(0, -log_grading, k) * 10.0**log_scale
    ok, Q, R = _qr(Y)
    ok_rows, Vt, tau, Rr = _reflectors(Y)
    assert ok and ok_rows
    assert np.array_equal(Rr, np.triu(Rr))
    S = np.where(np.diag(Rr) < 0, -1.0, 1.0)
    scale = np.abs(Y).max()
    np.testing.assert_allclose(S[:, None] * Rr, R, rtol=0, atol=20 * n * EPS * scale)
    Hs = _explicit_reflectors(Vt, tau)
    Qr = np.linalg.multi_dot([*Hs, np.eye(n)])[:, :k] * S
    np.testing.assert_allclose(Qr, Q, rtol=0, atol=20 * n * EPS)
    assert np.abs(Qr @ (S[:, None] * Rr) - Y).max() < 20 * n * EPS * scale


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 12), data=st.data(),
       seed=st.integers(0, 2**32 - 1))  # fmt: skip
def test_applied_reflectors_equal_the_product_of_the_matrices(n, m, data, seed):
    """apply_reflectors_rows (two reflectors per pass, for odd and even k) equals
    H_{k-1} ... H_0 Z of the explicit matrices, and with Z = J^T its first k rows are
    (J Q)^T up to the signs S: the Lyapunov kernel's product."""
    k = data.draw(st.integers(1, n))
    rng = np.random.default_rng(seed)
    ok, Vt, tau, Rr = _reflectors(rng.standard_normal((n, k)))
    Z = rng.standard_normal((n, m))
    product = Z
    for H in _explicit_reflectors(Vt, tau):
        product = H @ product
    atol = 50 * n * EPS * np.abs(Z).max()
    np.testing.assert_allclose(_apply(Vt, tau, Z), product, rtol=0, atol=atol)
    J = rng.standard_normal((n, n))
    ok, Q, _ = _qr(np.array(Vt.T))  # any frame; its reflectors:
    ok, Vt, tau, Rr = _reflectors(Q)
    S = np.where(np.diag(Rr) < 0, -1.0, 1.0)
    JQt = _apply(Vt, tau, J.T)[:k] * S[:, None]
    np.testing.assert_allclose(JQt, (J @ Q).T, rtol=0, atol=50 * n * EPS * np.abs(J).max())


def test_reflector_qr_rank_deficiency_and_non_finite_input():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((5, 4))
    Y[:, 1] = 0.0  # a zero column: tau = 0 and R_11 = 0 exactly, as in qr_positive
    ok, Vt, tau, R = _reflectors(Y)
    assert ok and R[1, 1] == 0.0 and tau[1] == 0.0
    Qt = _apply(Vt, tau, np.eye(5))  # H_4 ... H_0, orthogonal
    assert np.abs(Qt @ Qt.T - np.eye(5)).max() < 1e-14
    for bad in (np.nan, np.inf):
        Y = np.ones((3, 2))
        Y[1, 0] = bad
        assert not _reflectors(Y)[0]
        Y = np.array([[1.0, bad], [0.0, 1.0], [0.0, 1.0]])  # nothing below the first pivot
        assert not _reflectors(Y)[0]
        Y = np.full((3, 2), 1e200)  # the slow path of the norm finds it, too
        Y[2, 1] = bad
        assert not _reflectors(Y)[0]


@given(n=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_transpose_in_place(n, seed):
    A = np.random.default_rng(seed).standard_normal((n, n))
    B = A.copy()
    transpose_in_place(B)
    assert np.array_equal(B, A.T)


# ======================================================================================
# the same by LAPACK (dgeqrt, dgemqrt)
def _reflectors_lapack(Y, nb=None):
    n, k = Y.shape
    Vt = np.array(Y.T, dtype=float, order="C")  # (k, n): Y in Fortran order
    R, tau = np.full((k, k), np.nan), np.empty(k)
    T = block_factors(k) if nb is None else np.zeros((k, nb))
    work = np.empty(max(lapack_qr_work_size(n, k), T.shape[1] * k))  # nb k for dgeqrt
    ok = householder_lapack(Vt, R, tau, T, work, np.zeros(8, dtype=np.int32))
    return ok, Vt, tau, R, T


def _apply_lapack(Vt, T, Z):
    k, n = Vt.shape
    Z = np.array(Z, dtype=float, order="C")
    work = np.empty(T.shape[1] * Z.shape[1])  # what dgemqrt needs, no more
    apply_reflectors_lapack(Vt, T, Z, work, np.zeros(8, np.int32), np.zeros(2, np.int8))
    return Z


@settings(max_examples=40, deadline=None)
@given(
    n=st.one_of(st.integers(1, 12), st.integers(48, 120)),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    log_grading=st.floats(0, 12),
)
def test_lapack_reflectors_match_the_hand_written_ones(n, data, seed, log_grading):
    """householder_lapack / apply_reflectors_lapack (blocks of nb reflectors) give the
    factorisation and the products of householder_rows / apply_reflectors_rows: the same
    reflectors up to the conditioning (LAPACK blocks the sums), the same R, and the same
    product with a matrix, Z = J^T included."""
    k = data.draw(st.integers(1, n))
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((n, k)) * np.logspace(0, -log_grading, k)
    nb = data.draw(st.integers(1, k))  # the blocks' width: LAPACK_BLOCK, or k if fewer
    ok, Vt, tau, R, T = _reflectors_lapack(Y, nb)
    ok0, Vt0, tau0, R0 = _reflectors(Y)
    assert ok and ok0
    assert np.array_equal(R, np.triu(R))
    kappa = np.linalg.cond(Y)
    np.testing.assert_allclose(R, R0, rtol=0, atol=50 * n * EPS * kappa * np.abs(Y).max())
    for j in range(k):
        np.testing.assert_allclose(Vt[j, j + 1 :], Vt0[j, j + 1 :], rtol=0,
                                   atol=50 * n * EPS * kappa)  # fmt: skip
    np.testing.assert_allclose(tau, tau0, rtol=0, atol=50 * n * EPS * kappa)
    # the products, with one set of reflectors (so conditioning does not enter): LAPACK's
    # own reflectors and blocks, applied by hand and by dgemqrt
    m = data.draw(st.integers(1, n))
    Z = rng.standard_normal((n, m))
    np.testing.assert_allclose(_apply_lapack(Vt, T, Z), _apply(Vt, tau, Z), rtol=0,
                               atol=50 * n * EPS * np.abs(Z).max())  # fmt: skip


def test_lapack_reflectors_rank_deficiency_and_non_finite_input():
    rng = np.random.default_rng(0)
    for n in (5, 60):  # short and long reflectors alike
        Y = rng.standard_normal((n, 4))
        Y[:, 1] = 0.0  # a zero column: tau = 0 and R_11 = 0 exactly, as in householder_rows
        Y[:, 3] = 2.0 * Y[:, 0]  # a dependent column: R_33 = 0 up to round-off
        ok, Vt, tau, R, T = _reflectors_lapack(Y, nb=3)  # two blocks: 3 + 1 reflectors
        assert ok and R[1, 1] == 0.0 and tau[1] == 0.0 and abs(R[3, 3]) < 1e-14
        Qt = _apply_lapack(Vt, T, np.eye(n))  # H_3 ... H_0, orthogonal
        assert np.abs(Qt @ Qt.T - np.eye(n)).max() < 1e-14 * n
        # Q R = Y with Q = first 4 columns of H_0 ... H_3
        assert np.abs(Qt[:4].T @ R - Y).max() < 1e-14 * n
    # any non-finite entry is reported (checked before LAPACK, whose norms would make
    # NaNs silently); householder_rows reports those in pivot columns
    for i, j, bad in [(1, 0, np.nan), (2, 1, np.inf), (0, 1, -np.inf)]:
        Y = np.ones((3, 2))
        Y[i, j] = bad
        assert not _reflectors_lapack(Y)[0]
        if j == 0 or i >= j:  # in a pivot column (from the diagonal down)
            assert not _reflectors(Y)[0]


def test_lapack_work_size_meets_lapacks_minimum():
    # dgeqrt needs nb k, dgemqrt (SIDE = "R", an (n, n) matrix) nb n, dorgqr max(1, k)
    for n, k in [(1, 1), (5, 3), (300, 300), (300, 7)]:
        nb = block_factors(k).shape[1]
        assert nb == min(LAPACK_BLOCK, k)
        assert lapack_qr_work_size(n, k) >= max(1, nb * n, k)


def test_lapack_calls_refuse_short_scratch():
    """Too little workspace or a T of the wrong shape is a ValueError, not memory that
    LAPACK writes past the end of."""
    Y = np.random.default_rng(0).standard_normal((30, 30))
    iw, chars, R, tau = (
        np.zeros(8, np.int32),
        np.zeros(2, np.int8),
        np.empty((30, 30)),
        np.empty(30),
    )
    Vt = np.array(Y.T, order="C")
    cases = [(np.zeros((30, 24)), np.empty(24 * 30 - 1)),  # work one short
             (np.zeros((29, 24)), np.empty(720)),  # T with a row too few
             (np.zeros((30, 31)), np.empty(10_000))]  # blocks wider than k  # fmt: skip
    for T, work in cases:
        with pytest.raises(ValueError):
            householder_lapack(Vt.copy(), R, tau, T, work, iw)
        with pytest.raises(ValueError):
            apply_reflectors_lapack(Vt, T, np.eye(30), work, iw, chars)
    T, work = block_factors(30), np.empty(720)
    with pytest.raises(ValueError, match="n rows"):  # Z of another height than the reflectors
        apply_reflectors_lapack(Vt, T, np.eye(29), work, iw, chars)
    with pytest.raises(ValueError, match="C-contiguous"):  # strided: LAPACK would misread it
        apply_reflectors_lapack(Vt, T, np.eye(60)[::2, :30], work, iw, chars)
    with pytest.raises(ValueError, match="C-contiguous"):
        householder_lapack(np.asfortranarray(Vt), R, tau, T, work, iw)
    with pytest.raises(ValueError, match="R must have shape"):
        householder_lapack(Vt.copy(), R[:29], tau, T, work, iw)


@pytest.mark.parametrize("n, k, m", [(60, 60, 60), (60, 30, 45), (50, 7, 50), (70, 49, 13)])
def test_lapack_calls_stay_inside_their_scratch(n, k, m):
    """dgeqrt and dgemqrt given exactly the documented workspace (nb k, nb m) and T (k, nb)
    write nothing past them: sentinels after each buffer survive, whether nb divides k or
    not."""
    rng = np.random.default_rng(n + k)
    nb = min(LAPACK_BLOCK, k)
    pad = 64

    def padded(size):
        buf = np.full(size + pad, 1234.5)
        return buf, buf[:size]

    Tbuf, Tflat = padded(k * nb)
    wbuf, work = padded(max(nb * k, nb * m))
    T = Tflat.reshape(k, nb)
    Vt, R, tau = rng.standard_normal((k, n)), np.empty((k, k)), np.empty(k)
    iw, chars = np.zeros(8, np.int32), np.zeros(2, np.int8)
    Y = Vt.T.copy()
    assert householder_lapack(Vt, R, tau, T, work[: nb * k], iw)
    Z = rng.standard_normal((n, m))
    expected = _apply(Vt, tau, Z)
    apply_reflectors_lapack(Vt, T, Z, work[: nb * m], iw, chars)
    assert np.all(Tbuf[k * nb :] == 1234.5) and np.all(wbuf[work.shape[0] :] == 1234.5)
    np.testing.assert_allclose(Z, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(np.abs(np.diag(R)), np.abs(np.linalg.qr(Y)[1].diagonal()),
                               rtol=1e-12)  # fmt: skip


def test_one_blas_thread_limits_and_restores():
    def blas_threads():
        return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]

    before = blas_threads()
    assert before  # SciPy's BLAS is loaded (refrnn._linalg takes LAPACK from it)
    with one_blas_thread():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


def test_one_blas_thread_holds_while_any_thread_is_inside(monkeypatch):
    """Thread A enters, B enters, A leaves: the limit stays until B leaves too (one
    threadpoolctl limiter per use would restore the old limits under B as soon as A
    left). Checked on the calls to threadpoolctl (whether OpenBLAS's thread count is
    process-wide or per thread depends on how it was built)."""
    import threading

    from refrnn import _linalg

    calls = []

    class Limiter:
        def restore_original_limits(self):
            calls.append("restore")

    class Controller:
        def limit(self, *, limits, user_api):
            calls.append(("limit", limits, user_api))
            return Limiter()

    monkeypatch.setitem(_linalg._blas_state, "controller", Controller())
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with one_blas_thread():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with one_blas_thread():
            b_in.set()
            a_out.wait(5)
            seen["b after a left"] = list(calls)
        seen["after both"] = list(calls)

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["b after a left"] == [("limit", 1, "blas")]
    assert seen["after both"] == [("limit", 1, "blas"), "restore"]
    assert _linalg._blas_state["depth"] == 0


# ======================================================================================
# log ||J_t ... J_1||


def _matmul_textbook(A, B):
    """The triple loop, one entry at a time, j increasing (the order matmul_into keeps)."""
    n, m = A.shape
    out = np.zeros((n, B.shape[1]))
    for i in range(n):
        for c in range(B.shape[1]):
            s = 0.0
            for j in range(m):
                s += A[i, j] * B[j, c]
            out[i, c] = s
    return out


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 9), m=st.integers(1, 9), k=st.integers(1, 9),
       seed=st.integers(0, 2**32 - 1))  # fmt: skip
def test_matmul_into_is_the_textbook_loop_bit_for_bit(n, m, k, seed):
    """Two rows per pass (odd n: one left over) sum each entry in the textbook order:
    equal bit for bit, and nothing outside ``out`` is written."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(n, m)), rng.normal(size=(m, k))
    big = np.full((n + 1, k), 7.0)  # a sentinel row below the output
    matmul_into(A, B, big[:n])
    np.testing.assert_array_equal(big[:n], _matmul_textbook(A, B))
    assert np.all(big[n] == 7.0)


def test_matmul_into_equals_numpy():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    out = np.empty((4, 5))
    matmul_into(A, B, out)
    # sums of 3 products in the same order as a textbook loop: a few ulps from BLAS
    np.testing.assert_allclose(out, A @ B, rtol=1e-14, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(1, 20),
       seed=st.integers(0, 2**32 - 1))  # fmt: skip
def test_add_product_nt_accumulates_a_times_b_transposed(m, n, k, seed):
    """dgemm called with the transposes Fortran sees: C += A B^T, C's old value kept."""
    from refrnn._linalg import add_product_nt

    rng = np.random.default_rng(seed)
    A, B, C = rng.normal(size=(m, k)), rng.normal(size=(n, k)), rng.normal(size=(m, n))
    want = C + A @ B.T
    add_product_nt(A, B, C, np.zeros(6, np.int32), np.zeros(2, np.int8), np.zeros(2))
    np.testing.assert_allclose(C, want, rtol=1e-13, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 25), T=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       # entries from ~1e-295 to ~1e+282: normal numbers (a subnormal pivot norm is not
    # rescaled: see householder_rows)
    log_scale=st.floats(-280, 280), rank=st.integers(0, 25))  # fmt: skip
def test_spectral_norms_equal_numpys(n, T, seed, log_scale, rank):
    """The largest singular value through the largest eigenvalue of J^T J (LAPACK
    dsyevr): NumPy's SVD-based 2-norm to a few ulps, for every rank (zero included) and
    scales from 1e-300 to 1e300, where squaring would over- or underflow without care."""
    from refrnn._linalg import spectral_norms

    rng = np.random.default_rng(seed)
    r = min(rank, n)
    J = np.einsum("tik,tkj->tij", rng.normal(size=(T, n, r)), rng.normal(size=(T, r, n)))
    J *= 10.0**log_scale
    out = np.full(T, -1.0)
    spectral_norms(J, out)
    want = np.linalg.norm(J, 2, axis=(1, 2))
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=0)


def test_spectral_norms_mark_non_finite_matrices():
    from refrnn._linalg import spectral_norms

    J = np.random.default_rng(1).normal(size=(4, 4, 4))
    J[1, 2, 3], J[2, 0, 1] = np.inf, np.nan
    J[3] = 2e307  # finite, norm 8e307, though its entries sum to more than the largest float
    out = np.empty(4)
    spectral_norms(J, out)
    assert np.isnan(out[1]) and np.isnan(out[2]) and np.all(np.isfinite(out[[0, 3]]))
    np.testing.assert_allclose(out[3], np.linalg.norm(J[3], 2), rtol=1e-13)
