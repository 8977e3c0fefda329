"""Tests of refrnn._linalg: the Householder QR with positive diagonal and its helpers."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from refrnn._linalg import matmul_into, qr_positive

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
# log ||J_t ... J_1||


def test_matmul_into_equals_numpy():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    out = np.empty((4, 5))
    matmul_into(A, B, out)
    # sums of 3 products in the same order as a textbook loop: a few ulps from BLAS
    np.testing.assert_allclose(out, A @ B, rtol=1e-14, atol=1e-15)
