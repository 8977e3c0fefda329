"""Tests of refrnn.systems: steps against plain NumPy, exact tangents, invariants, validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refrnn
from refrnn import systems

FLOWS = [
    systems.Lorenz63(),
    systems.Rossler(),
    systems.Lorenz96(n=4),
    systems.Lorenz96(n=7, F=10.0),
]
MAPS = [systems.Henon(), systems.Logistic(), systems.Logistic(r=3.7)]
ALL = FLOWS + MAPS


def _vector_field(system, x):
    """The ODEs written independently in NumPy."""
    p = system.params
    if isinstance(system, systems.Lorenz63):
        return np.array(
            [
                p["sigma"] * (x[1] - x[0]),
                x[0] * (p["rho"] - x[2]) - x[1],
                x[0] * x[1] - p["beta"] * x[2],
            ]
        )
    if isinstance(system, systems.Rossler):
        return np.array([-x[1] - x[2], x[0] + p["a"] * x[1], p["b"] + x[2] * (x[0] - p["c"])])
    # Lorenz-96 with cyclic indices via np.roll: roll(x, -1)[i] = x[i+1]
    return (np.roll(x, -1) - np.roll(x, 2)) * np.roll(x, 1) - x + p["F"]


def _rk4_numpy(system, x):
    h = system.dt
    k1 = _vector_field(system, x)
    k2 = _vector_field(system, x + h / 2 * k1)
    k3 = _vector_field(system, x + h / 2 * k2)
    k4 = _vector_field(system, x + h * k3)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _map_numpy(system, x):
    p = system.params
    if isinstance(system, systems.Henon):
        return np.array([1.0 - p["a"] * x[0] * x[0] + x[1], p["b"] * x[0]])
    return np.array([p["r"] * x[0] * (1.0 - x[0])])


def _on_attractor(system, n=20, every=37):
    """``n`` states of a long orbit from the default initial state, past a transient."""
    Z = system.simulate(system.initial_state(), 2000 + n * every)
    return Z[2000::every][:n]


def _central_differences(system, x, h):
    cols = [(system.step(x + h * e) - system.step(x - h * e)) / (2 * h) for e in np.eye(system.dim)]
    return np.column_stack(cols)


# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("system", FLOWS, ids=repr)
def test_rk4_step_matches_numpy(system):
    for x in _on_attractor(system):
        # Same arithmetic in a different order (the kernel adds the weighted stages one at
        # a time): agreement to a few ulps of |x| ~ 50.
        np.testing.assert_allclose(system.step(x), _rk4_numpy(system, x), rtol=0, atol=1e-13)


@pytest.mark.parametrize("system", MAPS, ids=repr)
def test_map_step_and_orbit_match_numpy(system):
    Z = system.simulate(system.initial_state(), 500)
    x = system.initial_state()
    for t in range(1, 501):
        x = _map_numpy(system, x)
        # identical operations in identical order: bit-for-bit, even on a chaotic orbit
        np.testing.assert_array_equal(Z[t], x)


@pytest.mark.parametrize("system", ALL, ids=repr)
def test_jacobian_matches_central_differences(system):
    for x in _on_attractor(system):
        J = system.jacobian(x)
        h = 1e-5 * max(1.0, np.abs(x).max())
        # Truncation error h^2/6 |D^3 F| is ~1e-12 (the maps are quadratic, so it is zero
        # there; an RK4 step's third derivative carries a factor dt^2), and round-off
        # eps |F| / h ~ 1e-11 relative. The largest error seen is 3e-11 relative to
        # max |J|; 1e-8 keeps a wide margin and still catches a "frozen" tangent
        # I + dt Df(x) instead of the RK4 derivative, which is off by O(dt^2 |Df|^2) ~ 1e-2.
        err = np.abs(J - _central_differences(system, x, h)).max() / np.abs(J).max()
        assert err < 1e-8, err


def test_rk4_jacobian_is_not_the_frozen_vector_field_jacobian():
    """The test above can tell the exact RK4 derivative from I + dt Df."""
    s = systems.Lorenz63()
    x = _on_attractor(s, n=1)[0]
    p = s.params
    Df = np.array(
        [
            [-p["sigma"], p["sigma"], 0.0],
            [p["rho"] - x[2], -1.0, -x[0]],
            [x[1], x[0], -p["beta"]],
        ]
    )
    frozen = np.eye(3) + s.dt * Df
    assert np.abs(frozen - s.jacobian(x)).max() / np.abs(s.jacobian(x)).max() > 1e-4


def test_lorenz63_volume_contraction_to_rk4_accuracy():
    r"""det J = exp(-(sigma + 1 + beta) dt) for the flow; RK4 misses it by O(dt^5) per step."""

    def max_error(dt):
        s = systems.Lorenz63(dt=dt)
        Z = s.simulate(s.initial_state(), int(40 / dt))[int(5 / dt) :: 7]
        logdet = np.array([np.linalg.slogdet(s.jacobian(z))[1] for z in Z])
        return np.abs(logdet + (10.0 + 1.0 + 8.0 / 3.0) * dt).max()

    e1, e2 = max_error(0.01), max_error(0.005)
    # The divergence of Lorenz-63 is the constant -(sigma + 1 + beta), so the flow's tangent
    # map has that log-determinant times dt exactly. RK4's local error is C dt^5, with C
    # set by derivatives of the field on the attractor (|x| up to ~50): measured 4.6e-6 at
    # dt = 0.01, hence the bound 1e-5; halving dt must divide it by ~2^5 = 32 (measured
    # 33.5). A wrong tangent would have an O(dt^2) error and a ratio near 4.
    assert e1 < 1e-5
    assert 20 < e1 / e2 < 50


def test_lorenz96_equilibrium():
    s = systems.Lorenz96(n=6, F=8.0)
    x = np.full(6, 8.0)
    # x_i = F is an equilibrium: every RK stage vanishes, so the step is exact.
    np.testing.assert_array_equal(s.step(x), x)


@settings(max_examples=25)
@given(
    x=st.lists(st.floats(-30, 30), min_size=3, max_size=3),
    dt=st.sampled_from([0.001, 0.01, 0.02]),
)
def test_lorenz63_step_and_jacobian_anywhere(x, dt):
    s = systems.Lorenz63(dt=dt)
    x = np.array(x)
    np.testing.assert_allclose(s.step(x), _rk4_numpy(s, x), rtol=0, atol=1e-12)
    h = 1e-5 * max(1.0, np.abs(x).max())
    J = s.jacobian(x)
    # as in test_jacobian_matches_central_differences
    assert np.abs(J - _central_differences(s, x, h)).max() / np.abs(J).max() < 1e-8


def test_map_jacobians_in_closed_form():
    np.testing.assert_array_equal(
        systems.Henon(a=1.4, b=0.3).jacobian([0.5, -0.2]), [[-1.4, 1.0], [0.3, 0.0]]
    )
    np.testing.assert_array_equal(systems.Logistic(r=4.0).jacobian([0.25]), [[2.0]])


# --------------------------------------------------------------------------------------
# protocol and validation
@pytest.mark.parametrize("system", ALL, ids=repr)
def test_protocol_attributes(system):
    assert refrnn.dynamics.is_map(system)
    assert isinstance(system.kind, int) and isinstance(system.dim, int)
    assert system.theta.dtype == np.float64 and not system.theta.flags.writeable
    assert system.dt == (0.01 if system.is_flow else 1.0)
    assert system.initial_state().shape == (system.dim,)
    assert repr(system).startswith(type(system).__name__ + "(")


def test_initial_state_perturbation_is_small_and_seeded():
    s = systems.Lorenz63()
    a, b = s.initial_state(rng=1), s.initial_state(rng=1)
    np.testing.assert_array_equal(a, b)
    assert 0 < np.abs(a - s.initial_state()).max() < 1e-2


def test_systems_are_immutable():
    s = systems.Henon()
    with pytest.raises(AttributeError, match="immutable"):
        s.dt = 0.5
    with pytest.raises(ValueError):
        s.theta[0] = 2.0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: systems.Lorenz63(dt=0.0), "dt"),
        (lambda: systems.Lorenz63(dt=-0.01), "dt"),
        (lambda: systems.Rossler(dt=np.nan), "dt"),
        (lambda: systems.Lorenz63(sigma=np.inf), "sigma"),
        (lambda: systems.Henon(b=np.nan), "b"),
        (lambda: systems.Lorenz96(n=3), "n"),
    ],
)
def test_bad_parameters_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_parameter_types_raise_type_error():
    with pytest.raises(TypeError, match="n"):
        systems.Lorenz96(n=5.0)


def test_non_numeric_parameters_and_dt_are_named():
    # found by the fuzz tests: float() errors named neither the parameter nor dt
    with pytest.raises(TypeError, match="sigma must be a real number, got str"):
        systems.Lorenz63(sigma="abc")
    with pytest.raises(TypeError, match="dt must be a real number, got ndarray"):
        systems.Lorenz63(dt=np.zeros(0))


def test_bad_states():
    s = systems.Lorenz63()
    with pytest.raises(ValueError, match="shape"):
        s.step([1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        s.jacobian([1.0, np.nan, 0.0])
    with pytest.raises(TypeError, match="floating"):
        s.step(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="n_steps"):
        s.simulate(s.initial_state(), -1)


@pytest.mark.parametrize(
    "system, x0", [(systems.Logistic(), [2.0]), (systems.Henon(), [5.0, 5.0])], ids=repr
)
def test_diverging_orbit_names_the_step(system, x0):
    # Outside the basin |x| roughly squares each step: 1e308 is passed within ~12 steps.
    with pytest.raises(refrnn.DivergenceError, match=r"step \d+"):
        system.simulate(x0, 100)
