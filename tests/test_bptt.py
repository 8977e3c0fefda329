"""Tests of refrnn.bptt: STF-BPTT gradients against finite differences, forward mode,
the NumPy reference, and input validation."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import problems

import refrnn
from refrnn.bptt import loss_and_grad_numpy
from refrnn.testing import finite_difference_gradients


def _dot_product_tol(model, detach, scale):
    """Tolerance of the dot-product tests <J v, u> = <v, J^T u>.

    Both sides are sums of the same products in a different order (a few hundred ulps of
    the summands' magnitude, 1e-10 scale) -- except the path through B^+, where pinv_jvp
    and pinv_vjp are different formulas in P = B^+ and agree only to ~cond(B)^2 eps_mach
    (measured: mismatch / (cond^2 eps) <= 8 over 800 draws with cond(B) up to 7.6e3;
    hence the factor 100).
    """
    extra = 0.0
    if model.readout == "linear" and not detach:
        extra = 100 * np.linalg.cond(model.params["B"]) ** 2 * np.finfo(float).eps
    return (1e-10 + extra) * scale


def _rel_err(a, b):
    """Max abs difference relative to the array's scale (max |b|)."""
    scale = np.max(np.abs(b))
    return np.max(np.abs(a - b)) / scale if scale > 0 else np.max(np.abs(a - b))


@pytest.mark.parametrize("model_name", ["PLRNN", "VanillaRNN", "ShallowPLRNN"])
@pytest.mark.parametrize("readout", ["linear", "identity"])
@settings(max_examples=60)
@given(data=st.data())
def test_gradients_match_central_differences(model_name, readout, data):
    model, X, tau = data.draw(problems(model_name, readout))
    # both forcing-gradient settings: through B^+ (the differences then move B^+ with B)
    # or with the forcing states as constant data (the differences hold them fixed)
    detach = data.draw(st.booleans())
    loss, grads = refrnn.loss_and_grad(model, X, tau, detach_forcing=detach)
    fd, step = finite_difference_gradients(model, X, tau, detach_forcing=detach)
    assert set(grads) == set(model.params)
    # Central differences with step h = 1e-6 have truncation error O(h^2 |d3L|), ~1e-12
    # relative, and round-off O(eps_mach |L| / h) ~ 1e-10 |L| absolute. The largest relative
    # error seen over these 240 examples is ~1e-7 (large-gain vanilla RNNs, T = 20), so
    # 1e-6 has margin yet fails for any wrong term (errors are then O(1)).
    # The round-off term is absolute (it scales with |L|, not with the gradient), so it is
    # allowed for separately: an array whose gradient is 1e-4 of the loss would otherwise
    # fail on round-off alone.
    for k in grads:
        assert grads[k].shape == model.params[k].shape
        err = np.max(np.abs(fd[k] - grads[k]))
        tol = 1e-6 * np.max(np.abs(grads[k])) + 1e-15 * loss / step
        assert err <= tol, (k, err, tol, step)


@settings(max_examples=80)
@given(problem=problems(), detach=st.booleans())
def test_forward_and_reverse_mode_agree(problem, detach):
    """Dot-product test: <J v, u> = <v, J^T u> for the map parameters -> predictions."""
    model, X, tau = problem
    rng = np.random.default_rng(X.size)
    v = {k: rng.normal(size=p.shape) for k, p in model.params.items()}
    if isinstance(model, refrnn.PLRNN):
        np.fill_diagonal(v["W"], 0.0)
    U = rng.normal(size=X.shape)
    Jv = refrnn.jvp(model, X, v, tau, detach_forcing=detach)
    JTu = refrnn.vjp(model, X, U, tau, detach_forcing=detach)
    lhs = np.sum(Jv * U)
    rhs = sum(np.sum(v[k] * JTu[k]) for k in v)
    scale = np.sum(np.abs(Jv * U)) + sum(np.sum(np.abs(v[k] * JTu[k])) for k in v)
    assert abs(lhs - rhs) <= _dot_product_tol(model, detach, scale)


@settings(max_examples=80)
@given(problem=problems(), detach=st.booleans())
def test_numba_kernels_match_numpy_reference(problem, detach):
    model, X, tau = problem
    loss, grads, gz = refrnn.loss_and_grad(
        model, X, tau, return_state_grads=True, detach_forcing=detach
    )
    loss_r, grads_r, gz_r = loss_and_grad_numpy(model, X, tau, detach_forcing=detach)
    assert loss == pytest.approx(loss_r, rel=1e-12, abs=0)
    for k in grads:
        assert _rel_err(grads[k], grads_r[k]) < 1e-12, k
    assert _rel_err(gz, gz_r) < 1e-12


# ======================================================================================
# generalized teacher forcing
@st.composite
def gtf_problems(draw):
    """A problem of strategies.problems with alpha in [0, 1] (edges included) and tau
    either None (GTF every step) or the drawn tau (GTF every tau steps)."""
    model, X, tau = draw(problems())
    alpha = draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)))
    tau = draw(st.sampled_from([None, tau]))
    return model, X, tau, alpha


@settings(max_examples=200)
@given(problem=gtf_problems(), detach=st.booleans())
def test_gtf_gradients_match_central_differences(problem, detach):
    model, X, tau, alpha = problem
    loss, grads = refrnn.loss_and_grad(model, X, tau, alpha=alpha, detach_forcing=detach)
    fd, step = finite_difference_gradients(model, X, tau, alpha=alpha, detach_forcing=detach)
    for k in grads:
        # as test_gradients_match_central_differences
        err = np.max(np.abs(fd[k] - grads[k]))
        tol = 1e-6 * np.max(np.abs(grads[k])) + 1e-15 * loss / step
        assert err <= tol, (k, err, tol, step)


@settings(max_examples=80)
@given(problem=gtf_problems(), detach=st.booleans())
def test_gtf_forward_and_reverse_mode_agree(problem, detach):
    model, X, tau, alpha = problem
    rng = np.random.default_rng(X.size)
    v = {k: rng.normal(size=p.shape) for k, p in model.params.items()}
    if isinstance(model, refrnn.PLRNN):
        np.fill_diagonal(v["W"], 0.0)
    U = rng.normal(size=X.shape)
    Jv = refrnn.jvp(model, X, v, tau, alpha=alpha, detach_forcing=detach)
    JTu = refrnn.vjp(model, X, U, tau, alpha=alpha, detach_forcing=detach)
    lhs, rhs = np.sum(Jv * U), sum(np.sum(v[k] * JTu[k]) for k in v)
    scale = np.sum(np.abs(Jv * U)) + sum(np.sum(np.abs(v[k] * JTu[k])) for k in v)
    assert abs(lhs - rhs) <= _dot_product_tol(model, detach, scale)


@settings(max_examples=80)
@given(problem=gtf_problems(), detach=st.booleans())
def test_gtf_kernels_match_numpy_reference(problem, detach):
    model, X, tau, alpha = problem
    loss, grads, gz = refrnn.loss_and_grad(
        model, X, tau, alpha=alpha, return_state_grads=True, detach_forcing=detach
    )
    loss_r, grads_r, gz_r = loss_and_grad_numpy(model, X, tau, alpha=alpha, detach_forcing=detach)
    assert loss == pytest.approx(loss_r, rel=1e-12, abs=0)
    for k in grads:
        assert _rel_err(grads[k], grads_r[k]) < 1e-12, k
    assert _rel_err(gz, gz_r) < 1e-12


@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN, refrnn.ShallowPLRNN])
@pytest.mark.parametrize("readout", ["linear", "identity"])
def test_gtf_identities_are_exact(cls, readout):
    """alpha = 0 is plain BPTT and alpha = 1 is STF with tau = 1, bit for bit: the kernels
    compute (1 - 0) z + 0 z^ = z and scale gradients by 1 - 0 = 1 (alpha = 1 takes the
    replacement branch of STF itself)."""
    kw = {"L": 6} if cls is refrnn.ShallowPLRNN else {}
    rng = np.random.default_rng(21)
    model = cls.random(5, 2, rng=rng, readout=readout, **kw)
    X = rng.normal(size=(3, 15, 2))
    for (a_tau, a), (b_tau, b) in (((None, 0.0), (None, None)), ((None, 1.0), (1, None)),
                                   ((4, 1.0), (4, None))):  # fmt: skip
        la, ga, za = refrnn.loss_and_grad(model, X, a_tau, alpha=a, return_state_grads=True)
        lb, gb, zb = refrnn.loss_and_grad(model, X, b_tau, alpha=b, return_state_grads=True)
        assert la == lb
        np.testing.assert_array_equal(za, zb)
        for k in ga:
            np.testing.assert_array_equal(ga[k], gb[k])


def test_gtf_damps_the_state_gradients():
    """With the linear readout and GTF every step, dz~_t/dz~_{t-1} = (1 - alpha) J_t: the
    gradient reaching z_0 from the last loss term alone is (1-alpha)^(T-1) times the
    product of the Jacobians along the GTF trajectory, which the test multiplies out."""
    model = refrnn.PLRNN.random(4, 2, rng=3)
    X = np.random.default_rng(4).normal(size=(1, 7, 2))
    alpha, T = 0.4, 6
    traj = refrnn.forward(model, X, alpha=alpha)
    U = np.zeros_like(X)
    U[0, T] = [1.0, -2.0]
    # the cotangent U at x^_T pulled back to z_T is B^T U_T; then through T - 1 GTF steps
    g = model.params["B"].T @ U[0, T]
    for t in range(T, 1, -1):
        g = (1 - alpha) * (model.jacobian(traj.Z_forced[0, t - 1]).T @ g)
    g_z1 = g
    # z_1 = F(z_0) with z_0 = B^+ x_0: dL/dz_0 = J_1^T g_z1
    expected = model.jacobian(traj.Z_forced[0, 0]).T @ g_z1
    Gz = refrnn.bptt._vjp_from_cache(
        model, traj, *refrnn.bptt._forcing(model, X, 1, None), U, 1, alpha, False
    )[1]
    np.testing.assert_allclose(Gz[0, 0], expected, rtol=1e-12)


@pytest.mark.parametrize(
    "alpha,match",
    [(-0.1, r"alpha must be in \[0, 1\]"), (1.5, r"alpha must be in \[0, 1\]"),
     (float("nan"), r"alpha must be in \[0, 1\]"), ("auto", "alpha must be None or a number"),
     ("0.5", "alpha must be None or a number"), (True, "alpha must be None or a number")],
)  # fmt: skip
def test_gtf_rejects_bad_alpha(alpha, match):
    model = refrnn.PLRNN.random(3, 1, rng=0)
    X = np.zeros((1, 4, 1))
    for f in (refrnn.loss_and_grad, refrnn.forward):
        with pytest.raises(ValueError, match=match):
            f(model, X, alpha=alpha)


def test_loss_definition_by_hand():
    """L = 1/(S T N) sum_{s,t>=1} ||x_t - B z_t||^2 with z_0 = B^+ x_0, checked by hand."""
    model = refrnn.PLRNN.random(4, 2, rng=1)
    X = np.random.default_rng(2).normal(size=(2, 6, 2))
    p = model.params
    total = 0.0
    for s in range(2):
        z = np.linalg.pinv(p["B"]) @ X[s, 0]
        for t in range(1, 6):
            z = p["A"] * z + p["W"] @ np.maximum(z, 0) + p["h"]
            total += np.sum((X[s, t] - p["B"] @ z) ** 2)
            if t % 2 == 0:
                z = np.linalg.pinv(p["B"]) @ X[s, t]
    assert refrnn.forward(model, X, tau=2).loss == pytest.approx(total / (2 * 5 * 2), rel=1e-13)


@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
def test_forcing_cuts_the_jacobian_chain(cls):
    """With the linear readout and tau = 1, dL/dz_t has only its own loss term for t >= 1;
    with the identity readout the unobserved components still carry gradient backwards."""
    X = np.random.default_rng(3).normal(size=(2, 8, 2))
    lin = cls.random(5, 2, rng=4)
    _, _, gz = refrnn.loss_and_grad(lin, X, tau=1, return_state_grads=True)
    traj = refrnn.forward(lin, X, tau=1)
    local = -2.0 / (2 * 7 * 2) * (X - traj.X_hat) @ lin.params["B"]
    np.testing.assert_allclose(gz[:, 1:], local[:, 1:], rtol=1e-13, atol=1e-17)

    ident = cls.random(5, 2, rng=4, readout="identity")
    _, _, gz = refrnn.loss_and_grad(ident, X, tau=1, return_state_grads=True)
    assert np.any(gz[:, 1:-1, 2:] != 0.0)  # hidden states are not forced


@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
@pytest.mark.parametrize("tau", [None, 1, 3])
def test_forcing_gradient_changes_only_grad_B(cls, tau):
    """Through B^+ or not, the loss and the gradients of the map parameters are identical;
    only grad B gains the forcing path. The identity readout has no such path."""
    X = np.random.default_rng(11).normal(size=(3, 10, 2))
    lin = cls.random(5, 2, rng=12)
    l0, g0 = refrnn.loss_and_grad(lin, X, tau)
    l1, g1 = refrnn.loss_and_grad(lin, X, tau, detach_forcing=True)
    assert l0 == l1
    for k in g0:
        if k != "B":
            np.testing.assert_array_equal(g0[k], g1[k])
    assert np.max(np.abs(g0["B"] - g1["B"])) > 1e-3 * np.max(np.abs(g0["B"]))
    ident = cls.random(5, 2, rng=12, readout="identity")
    la, ga = refrnn.loss_and_grad(ident, X, tau)
    lb, gb = refrnn.loss_and_grad(ident, X, tau, detach_forcing=True)
    assert la == lb
    for k in ga:
        np.testing.assert_array_equal(ga[k], gb[k])


def test_forcing_gradient_by_hand():
    """grad B through B^+ = the detached grad B + pinv_vjp of sum_k dL/dz~_k x_k^T, with
    dL/dz~ read off the state gradients of a tau = 1 run (every step forced)."""
    model = refrnn.PLRNN.random(4, 2, rng=13)
    X = np.random.default_rng(14).normal(size=(2, 5, 2))
    _, g_det = refrnn.loss_and_grad(model, X, 1, detach_forcing=True)
    _, g = refrnn.loss_and_grad(model, X, 1)
    from refrnn.forcing import pinv_vjp

    p = model.params
    P = np.linalg.pinv(p["B"])
    G_P = np.zeros((4, 2))
    for s in range(2):
        for t in range(4):  # z~_t feeds step t+1 only (tau = 1), whose loss term is local
            z = P @ X[s, t]
            z1 = p["A"] * z + p["W"] @ np.maximum(z, 0) + p["h"]
            gx = -2.0 / (2 * 4 * 2) * (X[s, t + 1] - p["B"] @ z1)
            gz1 = p["B"].T @ gx
            gz = p["A"] * gz1 + (z > 0) * (p["W"].T @ gz1)
            G_P += np.outer(gz, X[s, t])
    np.testing.assert_allclose(g["B"], g_det["B"] + pinv_vjp(p["B"], P, G_P), rtol=1e-12)


def test_detach_forcing_validation(small):
    model, X = small
    with pytest.raises(TypeError, match="detach_forcing must be True or False"):
        refrnn.loss_and_grad(model, X, detach_forcing="yes")
    with pytest.raises(TypeError, match="detach_forcing"):
        refrnn.vjp(model, X, np.zeros_like(X), detach_forcing=1)
    with pytest.raises(ValueError, match="pass detach_forcing=True"):
        refrnn.loss_and_grad(model, X, forcing=model.infer_state(X))


def test_tau_larger_than_T_equals_plain_bptt():
    model = refrnn.VanillaRNN.random(4, 2, rng=5, gain=1.5)
    X = np.random.default_rng(6).normal(size=(3, 6, 2))
    l0, g0 = refrnn.loss_and_grad(model, X, None)
    l1, g1 = refrnn.loss_and_grad(model, X, 6)
    assert l0 == l1
    for k in g0:
        np.testing.assert_array_equal(g0[k], g1[k])


def test_plrnn_W_gradient_has_zero_diagonal():
    model = refrnn.PLRNN.random(6, 3, rng=7)
    X = np.random.default_rng(8).normal(size=(2, 10, 3))
    _, g = refrnn.loss_and_grad(model, X, 3)
    assert np.all(np.diag(g["W"]) == 0.0)
    assert np.count_nonzero(g["W"]) > 0


def test_results_do_not_depend_on_batch_split():
    """Windows are independent: the batch gradient is the mean of per-window ones."""
    model = refrnn.PLRNN.random(5, 2, rng=9)
    X = np.random.default_rng(10).normal(size=(4, 9, 2))
    L, g = refrnn.loss_and_grad(model, X, 3)
    parts = [refrnn.loss_and_grad(model, X[i : i + 1], 3) for i in range(4)]
    assert L == pytest.approx(np.mean([p[0] for p in parts]), rel=1e-14)
    for k in g:
        np.testing.assert_allclose(g[k], np.mean([p[1][k] for p in parts], axis=0), rtol=1e-12)


def test_divergence_is_reported_not_returned():
    # A = 10 on every unit: the orbit grows like 10^t and overflows after ~300 steps.
    M = 3
    model = refrnn.PLRNN(np.full(M, 10.0), np.zeros((M, M)), np.ones(M), np.eye(M))
    X = np.ones((1, 400, M))
    with pytest.raises(refrnn.DivergenceError, match="window 0 at step"):
        refrnn.loss_and_grad(model, X)
    with pytest.raises(refrnn.DivergenceError, match="step"):
        model.simulate(np.ones(M), 400)


# ---- bad input -------------------------------------------------------------------------
@pytest.fixture
def small():
    return refrnn.PLRNN.random(4, 2, rng=0), np.zeros((2, 5, 2))


@pytest.mark.parametrize(
    "X, exc, match",
    [
        (np.zeros((2, 5, 3)), ValueError, r"shape \(S, T\+1, N\)"),
        (np.zeros((5, 2)), ValueError, r"shape \(S, T\+1, N\)"),
        (np.zeros((2, 1, 2)), ValueError, "T >= 1"),
        (np.full((2, 5, 2), np.nan), ValueError, "X contains non-finite"),
        (np.full((2, 5, 2), np.inf), ValueError, "X contains non-finite"),
        (np.zeros((2, 5, 2), dtype=int), TypeError, "X must be a real floating"),
        ("abc", TypeError, "X must be"),
    ],
)
def test_bad_X(small, X, exc, match):
    model, _ = small
    with pytest.raises(exc, match=match):
        refrnn.loss_and_grad(model, X)


@pytest.mark.parametrize(
    "tau, exc",
    [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError), ("5", TypeError)],
)
def test_bad_tau(small, tau, exc):
    model, X = small
    with pytest.raises(exc, match="tau"):
        refrnn.loss_and_grad(model, X, tau)


def test_numpy_integer_tau_is_accepted(small):
    model, X = small
    assert refrnn.loss_and_grad(model, X, np.int64(2))[0] == refrnn.loss_and_grad(model, X, 2)[0]


def test_bad_model_and_forcing(small):
    model, X = small
    with pytest.raises(TypeError, match="model must be a refrnn model"):
        refrnn.loss_and_grad("plrnn", X)
    with pytest.raises(ValueError, match=r"forcing must have shape \(2, 5, 4\)"):
        refrnn.loss_and_grad(model, X, forcing=np.zeros((2, 5, 3)), detach_forcing=True)
    with pytest.raises(ValueError, match="tangent has unknown keys"):
        refrnn.jvp(model, X, {"Q": np.zeros(3)})
    with pytest.raises(ValueError, match="cotangent must have shape"):
        refrnn.vjp(model, X, np.zeros((2, 5, 3)))
    # found by the fuzz tests: 'NoneType' object is not iterable / str has no 'get'
    for bad in (None, "A", [1.0]):
        with pytest.raises(TypeError, match="tangent must be a dict keyed like model.params"):
            refrnn.jvp(model, X, bad)
    with pytest.raises(ValueError, match=r"tau must be < 2\*\*63"):
        refrnn.loss_and_grad(model, X, 2**63)  # was OverflowError from the kernel call


def test_warm_start_infers_the_unobserved_part_of_z0():
    model = refrnn.PLRNN.random(6, 2, rng=20, readout="identity")
    X = np.random.default_rng(21).normal(size=(3, 15, 2))
    Xw, F = refrnn.bptt.warm_start(model, X, 5, 2)
    np.testing.assert_array_equal(Xw, X[:, 5:])
    warm = refrnn.forward(model, X[:, :6], 2)
    np.testing.assert_array_equal(F[:, 0, :2], X[:, 5])
    np.testing.assert_array_equal(F[:, 0, 2:], warm.Z[:, 5, 2:])
    np.testing.assert_array_equal(F[:, 1:], model.infer_state(Xw)[:, 1:])
    assert np.any(F[:, 0, 2:] != 0.0)
    # K = 0 is the default forcing; the warm-started loss is the loss with that forcing
    X0, F0 = refrnn.bptt.warm_start(model, X, 0, 2)
    np.testing.assert_array_equal(F0, model.infer_state(X))
    loss, grads, _ = refrnn.loss_and_grad(model, Xw, 2, forcing=F, return_state_grads=True)
    loss_r, grads_r, _ = loss_and_grad_numpy(model, Xw, 2, forcing=F)
    assert loss == pytest.approx(loss_r, rel=1e-12)
    for k in grads:
        assert _rel_err(grads[k], grads_r[k]) < 1e-12
    with pytest.raises(ValueError, match="identity readout"):
        refrnn.bptt.warm_start(refrnn.PLRNN.random(6, 2, rng=0), X, 5, 2)
    with pytest.raises(ValueError, match=r"shape \(S, K\+T\+1, N\)"):
        refrnn.bptt.warm_start(model, X, 14, 2)


def test_overflowing_residuals_are_reported_not_returned():
    """States ~1e200 are finite, their squared errors are not: DivergenceError naming the
    window and step, never a loss of inf (nor blame on the gradient)."""
    m = refrnn.PLRNN.random(6, 3, rng=0).replace(A=np.full(6, 1.5))
    X = np.random.default_rng(0).normal(size=(2, 1201, 3))
    with pytest.raises(
        refrnn.DivergenceError, match=r"squared prediction error overflowed in window 0 at step \d+"
    ):
        refrnn.forward(m, X)
    with pytest.raises(refrnn.DivergenceError, match="squared prediction error overflowed"):
        refrnn.loss_and_grad(m, X)
    with pytest.raises(refrnn.DivergenceError, match="not standardised"):
        refrnn.loss_and_grad(refrnn.PLRNN.random(4, 2, rng=0), np.full((1, 5, 2), 1e300))


def test_input_precision_rule():
    """float16/float32 become float64 exactly; longdouble is rounded, with a warning."""
    model = refrnn.PLRNN.random(4, 2, rng=0)
    X = np.random.default_rng(1).normal(size=(2, 6, 2))
    X32 = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert refrnn.forward(model, X32).loss == refrnn.forward(model, X32.astype(float)).loss
        refrnn.forward(model, X.astype(np.float16))
    if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps:  # a real extended type
        with pytest.warns(UserWarning, match="X has dtype .*extended precision is lost"):
            refrnn.forward(model, X.astype(np.longdouble))


def test_trajectory_repr_shows_shapes_not_arrays():
    model = refrnn.PLRNN.random(4, 3, rng=0)
    X = np.random.default_rng(1).normal(size=(2, 11, 3))
    traj = refrnn.forward(model, X, 5)
    assert repr(traj) == f"Trajectory(S=2, T=10, M=4, N=3, loss={traj.loss:.6g})"
