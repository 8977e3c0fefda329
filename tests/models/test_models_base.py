"""Tests of refrnn.models._base: construction, validation, immutability, readouts."""

import numpy as np
import pytest

import refrnn

CLASSES = [refrnn.PLRNN, refrnn.VanillaRNN, refrnn.ShallowPLRNN]


def _random(cls, M, N, **kw):
    """cls.random, with a hidden width for the shallow PLRNN (which needs one)."""
    if cls is refrnn.ShallowPLRNN:
        kw.setdefault("L", 7)
    return cls.random(M, N, **kw)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("readout", ["linear", "identity"])
def test_params_replace_roundtrip(cls, readout):
    model = _random(cls, 5, 2, rng=0, readout=readout)
    p = model.params
    expected = {
        "PLRNN": ["A", "W", "h"],
        "VanillaRNN": ["W", "b"],
        "ShallowPLRNN": ["A", "W1", "W2", "h1", "h2"],
    }[cls.__name__]
    expected += ["B"] if readout == "linear" else []
    assert sorted(p) == sorted(expected)
    assert all(v.dtype == np.float64 for v in p.values())
    assert model.replace() == model
    assert model.M == model.dim == 5 and model.N == 2 and model.dt == 1.0
    # params are copies: mutating them does not change the model
    p[expected[0]][...] = 123.0
    assert model != model.replace(**{expected[0]: p[expected[0]]})


@pytest.mark.parametrize("cls", CLASSES)
def test_immutable(cls):
    model = _random(cls, 3, 1, rng=0)
    with pytest.raises(AttributeError, match="immutable"):
        model.M = 4
    with pytest.raises(ValueError, match="read-only"):
        model.theta[0] = 1.0


@pytest.mark.parametrize("cls", CLASSES)
def test_observe_and_infer_state(cls):
    lin = _random(cls, 5, 2, rng=1)
    Z = np.random.default_rng(2).normal(size=(3, 4, 5))
    np.testing.assert_allclose(lin.observe(Z), Z @ lin.params["B"].T)
    X = lin.observe(Z)
    # B B^+ = I for a full-row-rank B: inferring then observing returns the data
    np.testing.assert_allclose(lin.observe(lin.infer_state(X)), X, atol=1e-12)
    ident = _random(cls, 5, 2, rng=1, readout="identity")
    np.testing.assert_array_equal(ident.observe(Z), Z[..., :2])
    Zi = ident.infer_state(X)
    np.testing.assert_array_equal(Zi[..., :2], X)
    assert np.all(Zi[..., 2:] == 0)


@pytest.mark.parametrize("cls", CLASSES)
def test_simulate_iterates_step(cls):
    model = _random(cls, 4, 2, rng=3)
    z0 = np.random.default_rng(4).normal(size=4)
    Z = model.simulate(z0, 10)
    assert Z.shape == (11, 4)
    np.testing.assert_array_equal(Z[0], z0)
    for t in range(10):
        np.testing.assert_array_equal(Z[t + 1], model.step(Z[t]))
    assert model.simulate(z0, 0).shape == (1, 4)


@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
def test_rank_deficient_readout_is_rejected(cls):
    """B^+ forces the latent state and is differentiated: B needs full row rank."""
    model = _random(cls, 4, 2, rng=0)
    with pytest.raises(ValueError, match="B must have full row rank N=2.*got rank 1"):
        model.replace(B=np.ones((2, 4)))
    with pytest.raises(ValueError, match="got rank 0"):
        model.replace(B=np.zeros((2, 4)))


def test_plrnn_validation_messages():
    A, W, h, B = np.zeros(3), np.zeros((3, 3)), np.zeros(3), np.eye(2, 3)
    P = refrnn.PLRNN
    with pytest.raises(ValueError, match=r"W must have shape \(3, 3\)"):
        P(A, np.zeros((3, 2)), h, B)
    with pytest.raises(ValueError, match=r"h must have shape \(3,\)"):
        P(A, W, np.zeros(4), B)
    with pytest.raises(ValueError, match=r"B must have shape \(N, M\)"):
        P(A, W, h, np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"B must have shape \(N, M\)"):
        P(A, W, h, np.ones((2, 2)))
    with pytest.raises(ValueError, match="A contains non-finite"):
        P(np.array([0.0, np.nan, 0.0]), W, h, B)
    with pytest.raises(ValueError, match="W contains non-finite"):
        P(A, np.full((3, 3), np.inf), h, B)
    with pytest.raises(TypeError, match="A must be a real floating-point array, got dtype int"):
        P(np.zeros(3, dtype=int), W, h, B)
    with pytest.raises(ValueError, match="needs B"):
        P(A, W, h)
    with pytest.raises(ValueError, match="needs n_obs"):
        P(A, W, h, readout="identity")
    with pytest.raises(ValueError, match="n_obs must be <= M=3"):
        P(A, W, h, readout="identity", n_obs=4)
    with pytest.raises(ValueError, match="takes n_obs, not B"):
        P(A, W, h, B, readout="identity")
    with pytest.raises(ValueError, match="readout must be one of"):
        P(A, W, h, B, readout="tanh")


def test_vanilla_validation_messages():
    V = refrnn.VanillaRNN
    with pytest.raises(ValueError, match=r"W must have shape \(3, 3\)"):
        V(np.zeros((3, 4)), np.zeros(3), np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        V(np.zeros((3, 3)), np.zeros(2), np.ones((1, 3)))
    with pytest.raises(ValueError, match="gain must be"):
        V.random(3, 1, gain=-1.0)
    # found by the fuzz tests: an empty W gave M = 0 and blamed b
    with pytest.raises(ValueError, match=r"W must not be empty, got shape \(0, 0\)"):
        V(np.zeros((0, 0)), np.zeros(2), np.ones((1, 2)))


@pytest.mark.parametrize("cls", CLASSES)
def test_random_validation(cls):
    with pytest.raises(ValueError, match="N .observations. must be <= M"):
        _random(cls, 2, 3)
    with pytest.raises(ValueError, match="M must be >= 1"):
        _random(cls, 0, 1)
    with pytest.raises(TypeError, match="M must be an integer"):
        _random(cls, 2.0, 1)
    with pytest.raises(TypeError, match="rng must be"):
        _random(cls, 2, 1, rng="seed")
    with pytest.raises(ValueError, match="readout must be one of"):
        _random(cls, 2, 1, readout="linearr")
    # found by the fuzz tests: NumPy's "array is too big" / MemoryError named no argument
    with pytest.raises(ValueError, match=r"M=1000000000000 needs an \(M, M\) weight matrix"):
        _random(cls, 10**12, 1)
    with pytest.raises(ValueError, match="rng must be a non-negative int seed"):
        _random(cls, 2, 1, rng=-1)
    with pytest.raises(TypeError, match="readout must be one of"):
        _random(cls, 2, 1, readout=np.array([]))  # was "truth value of an empty array"
    with pytest.raises(ValueError, match="n_steps=1000000000000 needs an"):
        _random(cls, 2, 1, rng=0).simulate(np.zeros(2), 10**12)  # was NumPy's MemoryError


@pytest.mark.parametrize("cls", CLASSES)
def test_state_validation(cls):
    model = _random(cls, 3, 1, rng=0)
    with pytest.raises(ValueError, match=r"z must have shape \(3,\)"):
        model.step(np.zeros(4))
    with pytest.raises(ValueError, match="z0 contains non-finite"):
        model.simulate(np.array([0.0, np.nan, 0.0]), 5)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        model.simulate(np.zeros(3), -1)
    with pytest.raises(ValueError, match="unknown parameter"):
        model.replace(C=np.zeros(3))
    with pytest.raises(ValueError, match=r"Z must have shape \(\.\.\., M=3\)"):
        model.observe(np.zeros((2, 2)))


@pytest.mark.parametrize("cls", CLASSES)
def test_step_vjp_is_jacobian_transpose(cls):
    """The adjoint rule of every model: g_z = J(z)^T g for J = dF/dz at z."""
    from refrnn import _kernels

    rng = np.random.default_rng(1)
    model = _random(cls, 6, 2, rng=rng)
    z, g = rng.normal(size=6), rng.normal(size=6)
    theta_k = _kernels.kernel_layout(model.kind, model.theta, 6)
    g_theta, g_z = np.zeros_like(theta_k), np.empty(6)
    _kernels.step_vjp(model.kind, theta_k, 6, z, model.step(z), g, g_theta, g_z)
    np.testing.assert_allclose(g_z, model.jacobian(z).T @ g, rtol=1e-13)


@pytest.mark.parametrize("cls", CLASSES)
def test_theta_is_pack_of_params_and_unpack_inverts_it(cls):
    """theta holds the map's parameters only, in PARAM_NAMES order (no kernel copies)."""
    model = _random(cls, 5, 2, rng=0)
    p = model.params
    expected = np.concatenate([p[k].ravel() for k in cls.equations.PARAM_NAMES])
    np.testing.assert_array_equal(model.theta, expected)
    np.testing.assert_array_equal(model.pack(p), expected)
    back = model.unpack(model.theta)
    assert sorted(back) == sorted(cls.equations.PARAM_NAMES)
    for k, v in back.items():
        np.testing.assert_array_equal(v, p[k])
    X = np.random.default_rng(1).normal(size=(2, 8, 2))
    _, grads = refrnn.loss_and_grad(model, X, 3)
    assert sorted(grads) == sorted(model.params)


def test_plrnn_W_shape_message_names_M_from_A():
    with pytest.raises(ValueError, match=r"W must have shape \(5, 5\) \(M x M with M = len\(A\)"):
        refrnn.PLRNN(np.zeros(5), np.zeros((6, 6)), np.zeros(5), np.eye(2, 5))
