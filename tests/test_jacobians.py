"""Tests of refrnn.jacobians: the Householder QR kernel, log-norms of Jacobian products and
finite-time Lyapunov exponents, each against a direct computation where one is possible and
against exact identities where it is not."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refrnn
from refrnn import systems
from refrnn.jacobians import (
    _graded_log_singular_values,
    finite_time_lyapunov_exponents,
    finite_time_lyapunov_exponents_along,
    log_jacobian_product_norms,
    log_jacobian_product_norms_along,
)

EPS = np.finfo(float).eps


def _direct_products(system, x0, T):
    """J_t ... J_1 for t = 1..T, multiplied out in NumPy."""
    Z = system.simulate(x0, T)
    P, out = np.eye(system.dim), []
    for z in Z[:-1]:
        P = system.jacobian(z) @ P
        out.append(P)
    return np.array(out), Z


def _start(system, n=2000):
    """A point on the attractor of a reference system; a fixed state for a model."""
    if isinstance(system, systems.DynamicalSystem):
        return system.simulate(system.initial_state(), n)[-1]
    return np.full(system.dim, 0.3)


@pytest.mark.parametrize(
    "system, T",
    [
        (systems.Lorenz63(), 300),
        (systems.Henon(), 40),
        (refrnn.PLRNN.random(6, 2, rng=3), 60),
        (refrnn.VanillaRNN.random(5, 2, rng=4, gain=2.0), 60),
    ],
    ids=repr,
)
def test_log_norms_match_direct_product(system, T):
    x0 = _start(system)
    P, Z = _direct_products(system, x0, T)
    direct = np.log(np.linalg.norm(P, 2, axis=(1, 2)))
    got = log_jacobian_product_norms(system, x0, T)
    assert got.shape == (T,)
    # Both compute the same product in the same order; rescaling by the Frobenius norm
    # adds one rounding per entry and step, so the largest singular value (perfectly
    # conditioned) agrees to ~T eps relative: 1e-12 in the log covers T <= 300.
    np.testing.assert_allclose(got, direct, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(log_jacobian_product_norms_along(system, Z[:-1]), got)


def test_log_norms_do_not_overflow_at_1e5_steps():
    """Logistic map at r = 4: the product grows like 2^t and overflows float64 by t ~ 1030."""
    s = systems.Logistic(r=4.0)
    T = 100_000
    got = log_jacobian_product_norms(s, [0.3], T)
    assert np.all(np.isfinite(got))
    # In one dimension the product is a product of scalars: log|P_t| is exactly the
    # cumulative sum of log|r (1 - 2 x)|. The two sums differ only by per-step rounding
    # of the logs, ~eps |log| each, a random walk far below 1e-9 relative at T = 1e5.
    Z = s.simulate([0.3], T)[:-1, 0]
    exact = np.cumsum(np.log(np.abs(4.0 * (1.0 - 2.0 * Z))))
    np.testing.assert_allclose(got, exact, rtol=1e-9, atol=1e-9)
    # ... and it grows at the Lyapunov exponent ln 2. At r = 4 the map is conjugate to the
    # tent map (slope 2), so the sum telescopes to T ln 2 + O(log of the conjugacy's
    # derivative at x_0 and x_T): the deviation is O(1/T) except right at the ends of
    # [0, 1]; 1e-3 is generous at T = 1e5.
    assert abs(got[-1] / T - np.log(2.0)) < 1e-3


def test_log_norms_of_an_expanding_two_dimensional_map():
    s = systems.Henon()
    T = 100_000
    got = log_jacobian_product_norms(s, [0.1, 0.1], T)
    assert np.all(np.isfinite(got))
    # log ||P_T|| / T converges to lambda_1 = 0.41922 with O(1/sqrt(T)) fluctuations; the
    # block standard error of Hénon's lambda_1 at T = 1e5 is ~1e-3, so 0.01 is > 5 sigma.
    assert abs(got[-1] / T - 0.41922) < 0.01


def test_log_norms_of_a_zero_product_are_minus_infinity():
    # PLRNN with A = 0, W = 0: J = 0, the product vanishes after one step.
    m = refrnn.PLRNN(A=np.zeros(2), W=np.zeros((2, 2)), h=np.ones(2), B=np.eye(2))
    got = log_jacobian_product_norms(m, [1.0, 2.0], 5)
    assert np.all(got == -np.inf)


# ======================================================================================
# finite-time Lyapunov exponents
@pytest.mark.parametrize(
    "system, T",
    [
        (systems.Lorenz63(), 100),
        (systems.Henon(), 20),
        (systems.Logistic(r=3.9), 30),
        (refrnn.PLRNN.random(6, 2, rng=3), 30),
        (refrnn.VanillaRNN.random(5, 2, rng=4, gain=2.0), 30),
    ],
    ids=repr,
)
def test_ftle_matches_svd_of_direct_product(system, T):
    x0 = _start(system)
    P, Z = _direct_products(system, x0, T)
    sv = np.linalg.svd(P[-1], compute_uv=False)
    direct = np.log(sv) / (T * system.dt)
    got = finite_time_lyapunov_exponents(system, x0, T)
    # The direct SVD gets sigma_i to about eps sigma_1, i.e. log sigma_i to
    # eps sigma_1 / sigma_i; these windows keep sigma_1 / sigma_n below ~1e7 (Lorenz-63:
    # e^{15.5 T dt} = 5e6), so the direct reference is good to ~1e-9 in log sigma, which
    # after dividing by T dt >= 1 is the tolerance.
    tol = 1e-9 + 10 * EPS * sv[0] / sv / (T * system.dt)
    assert np.all(np.abs(got - direct) <= tol), (got - direct, tol)
    np.testing.assert_array_equal(finite_time_lyapunov_exponents_along(system, Z[:-1]), got)


def test_ftle_keeps_tiny_singular_values_far_beyond_direct_reach():
    """Sum of the FTLEs = (1 / T dt) sum_t log|det J_t| exactly; at T = 10^4 steps of
    Lorenz-63 sigma_1/sigma_3 ~ e^{1550}, which no formed matrix can hold."""
    s = systems.Lorenz63()
    x0 = _start(s)
    T = 10_000
    Z = s.simulate(x0, T)[:-1]
    mean_logdet = np.mean([np.linalg.slogdet(s.jacobian(z))[1] for z in Z]) / s.dt
    got = finite_time_lyapunov_exponents(s, x0, T)
    # |det P| = prod sigma_i, so the sum is an identity; each step contributes a few ulps
    # of |log R_ii| ~ 0.15, averaged over T steps: 1e-10 per unit time is generous.
    assert abs(got.sum() - mean_logdet) < 1e-10
    # Hénon: |det J| = b everywhere, so sum = ln b exactly.
    h = systems.Henon()
    got = finite_time_lyapunov_exponents(h, [0.1, 0.1], T)
    assert abs(got.sum() - np.log(0.3)) < 1e-12
    # ... and the leading FTLE is close to the Lyapunov exponent (T = 1e4: ~0.01 spread)
    assert abs(got[0] - 0.41922) < 0.03


def test_ftle_of_a_constant_non_normal_jacobian():
    """An exact fixed point of a PLRNN on the positive orthant: J constant, P = J^T.

    All numbers are dyadic, so F(z*) = z* exactly and the orbit never moves.
    J = [[0.5, 1], [0, 0.5]] is a Jordan block: sigma(J^T) ~ (T 0.5^{T-1}, 0.5^{T+1}/T), a
    mildly graded pair whose exact values follow from the closed form of J^T.
    """
    A = np.array([0.5, 0.5])
    W = np.array([[0.0, 1.0], [0.0, 0.0]])
    z = np.array([1.0, 2.0])
    h = z - (A * z + W @ z)
    m = refrnn.PLRNN(A=A, W=W, h=h, B=np.eye(2))
    np.testing.assert_array_equal(m.step(z), z)
    for T in (5, 50, 1000):
        # J^T = 0.5^T [[1, 2T], [0, 1]]; the singular values of [[1, c], [0, 1]] are
        # (sqrt(c^2 + 4) +- c) / 2.
        c = 2.0 * T
        exact = T * np.log(0.5) + np.log([(np.hypot(c, 2.0) + c) / 2, 2.0 / (np.hypot(c, 2.0) + c)])
        got = finite_time_lyapunov_exponents(m, z, T) * T
        # closed form vs graded QR: a few ulps of |T log 0.5| ~ 700
        np.testing.assert_allclose(got, exact, rtol=0, atol=1e-12 * T)


@settings(max_examples=40)
@given(
    k=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    spread=st.sampled_from([0.0, 1e-8, 1e-3, 1.0, 30.0, 1e3, 1e5]),
)
def test_graded_singular_values_of_orthogonal_times_diagonal(k, seed, spread):
    """sigma(diag(e^l) Q) = e^l for orthogonal Q, at any grading -- even 1e5 in the log."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((k, k)))[0]
    ell = spread * rng.standard_normal(k)
    got = _graded_log_singular_values(ell, Q)
    # Every sweep factorises a matrix with unit rows; row-wise relative errors of a few
    # eps perturb each sigma_i relatively by about eps kappa(N) (Demmel & Veselic 1992),
    # i.e. log sigma_i absolutely; near-equal l (spread <= 1e-3) converge slowly and go
    # through the block-SVD fallback, which is as accurate for a well-scaled block.
    want = np.sort(ell)[::-1]
    assert np.all(np.abs(got - want) <= 1e-12 * (1 + np.abs(want))), got - want


@settings(max_examples=40)
@given(k=st.integers(1, 6), seed=st.integers(0, 2**32 - 1), spread=st.floats(0, 4))
def test_graded_singular_values_match_svd_when_formable(k, seed, spread):
    rng = np.random.default_rng(seed)
    N = rng.standard_normal((k, k))
    N /= np.linalg.norm(N, axis=1, keepdims=True)
    ell = spread * rng.standard_normal(k)
    direct = np.linalg.svd(np.exp(ell)[:, None] * N, compute_uv=False)
    got = _graded_log_singular_values(ell, N)
    # Both are accurate to ~eps kappa relative when the matrix is formable; random N can
    # be badly conditioned, so scale the tolerance with its condition number.
    tol = 1e-12 * np.linalg.cond(N) * (1 + spread)
    np.testing.assert_allclose(got, np.log(direct), rtol=0, atol=tol)


# ======================================================================================
# validation
def test_validation_errors():
    s = systems.Henon()
    with pytest.raises(TypeError, match="protocol"):
        log_jacobian_product_norms(object(), [0.1], 5)
    with pytest.raises(TypeError, match="protocol"):
        finite_time_lyapunov_exponents("Henon", [0.1], 5)
    with pytest.raises(ValueError, match="x0"):
        log_jacobian_product_norms(s, [0.1, 0.2, 0.3], 5)
    with pytest.raises(ValueError, match="x0"):
        finite_time_lyapunov_exponents(s, [0.1, np.inf], 5)
    with pytest.raises(ValueError, match="n_steps"):
        log_jacobian_product_norms(s, [0.1, 0.1], 0)
    with pytest.raises(TypeError, match="n_steps"):
        finite_time_lyapunov_exponents(s, [0.1, 0.1], 5.0)
    with pytest.raises(ValueError, match="states"):
        log_jacobian_product_norms_along(s, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="states"):
        finite_time_lyapunov_exponents_along(s, np.zeros(4))


@pytest.mark.parametrize("fn", [log_jacobian_product_norms, finite_time_lyapunov_exponents])
def test_diverging_orbit_names_the_step(fn):
    # the logistic map from x0 = 2 leaves [0, 1] and overflows within ~12 steps
    with pytest.raises(refrnn.DivergenceError, match=r"non-finite at step \d+"):
        fn(systems.Logistic(), [2.0], 100)


@pytest.mark.parametrize(
    "sigma", [[1.0, 1.0 + 1e-6], [3.0, 1.0, 1.0 + 1e-7, 1.0 + 2e-7], [1e-3, 1.0, 1.0 + 1e-9]]
)
def test_graded_singular_values_when_sweeps_stall(sigma):
    """Nearly equal singular values with strong coupling: the sweeps converge like
    (sigma_2/sigma_1)^n and stall, so the still-coupled block is finished by an SVD."""
    k = len(sigma)
    rng = np.random.default_rng(k)
    U = np.linalg.qr(rng.standard_normal((k, k)))[0]
    V = np.linalg.qr(rng.standard_normal((k, k)))[0]
    M = U @ np.diag(sigma) @ V.T
    r = np.linalg.norm(M, axis=1)
    got = _graded_log_singular_values(np.log(r), M / r[:, None])
    # M is well conditioned apart from the 1e-3 entry; U, V orthogonal to ~1e-16 and the
    # SVD of the well-scaled block is backward stable: ~100 eps relative on each sigma.
    np.testing.assert_allclose(got, np.log(np.sort(sigma)[::-1]), rtol=0, atol=1e-13)
