"""Shared test configuration: hypothesis profile and a one-time kernel warm-up."""

import os

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Experiment scripts called in-process (tests/test_experiments.py) do
# os.environ.setdefault("NUMBA_NUM_THREADS", "1") for their worker processes. Pinning the
# variable to Numba's current value first makes that a no-op here: changing it after
# Numba's thread pool has started is a RuntimeError in every later parallel kernel.
os.environ.setdefault("NUMBA_NUM_THREADS", str(numba.config.NUMBA_NUM_THREADS))

# Numba compiles (or loads from cache) on first call; that time must not count against
# hypothesis' per-example deadline, and examples are deterministic given the database-free
# derandomised profile so that CI failures reproduce locally.
settings.register_profile(
    "refrnn",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("refrnn")


@pytest.fixture(scope="session", autouse=True)
def _warm_up_kernels():
    """Compile (or load) every model kernel once per test session."""
    import refrnn

    X = np.zeros((1, 3, 1))
    for cls in (refrnn.PLRNN, refrnn.VanillaRNN):
        m = cls.random(2, 1, rng=0)
        refrnn.loss_and_grad(m, X, tau=2)
        refrnn.jvp(m, X, {}, tau=2)
        m.simulate(np.zeros(2), 2)
        m.jacobian(np.zeros(2))
