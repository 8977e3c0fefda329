"""Tests of refrnn.models.vanilla: the step, the Jacobian and their NumPy references."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import refrnn
from refrnn.models import vanilla


@settings(max_examples=50)
@given(M=st.integers(1, 12), gain=st.floats(0.1, 3.0), seed=st.integers(0, 2**31))
def test_step_and_jacobian(M, gain, seed):
    rng = np.random.default_rng(seed)
    model = refrnn.VanillaRNN.random(M, 1, rng=rng, gain=gain)
    p = model.params
    z = rng.normal(size=M)
    np.testing.assert_allclose(model.step(z), vanilla.step_numpy(p, z), rtol=1e-14, atol=1e-15)
    J = model.jacobian(z)
    np.testing.assert_allclose(J, vanilla.jacobian_numpy(p, z), rtol=1e-13, atol=1e-15)
    # Central differences: truncation ~h^2 |F'''| with |tanh'''| <= 2 and |W| ~ gain, plus
    # round-off ~1e-16 / h; 1e-8 absolute bounds both for h = 1e-5.
    h = 1e-5
    J_fd = np.column_stack(
        [(model.step(z + h * e) - model.step(z - h * e)) / (2 * h) for e in np.eye(M)]
    )
    np.testing.assert_allclose(J, J_fd, rtol=0, atol=1e-8 * max(1.0, gain**3))


def test_gain_sets_weight_scale():
    M = 400
    W = refrnn.VanillaRNN.random(M, 1, rng=0, gain=1.5).params["W"]
    # std of N(0, g^2/M) entries, estimated from 160000 samples: relative error ~ 0.2%
    assert abs(np.std(W) * np.sqrt(M) - 1.5) < 0.01
