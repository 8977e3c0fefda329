"""Tests of refrnn.models.plrnn: the PLRNN container (construction, validation)."""

import numpy as np
import pytest

import refrnn


def test_random_matches_paper_init():
    M = 30
    model = refrnn.PLRNN.random(M, 3, rng=np.random.default_rng(4))
    p = model.params
    bound = 1 / np.sqrt(M)
    for k in ("A", "h", "B"):
        assert np.all(np.abs(p[k]) <= bound)
    off = p["W"][~np.eye(M, dtype=bool)]
    assert np.all(np.abs(off) <= bound) and np.all(np.diag(p["W"]) == 0)
    # reproducible from a seed
    assert refrnn.PLRNN.random(M, 3, rng=7) == refrnn.PLRNN.random(M, 3, rng=7)


def test_rejects_nonzero_W_diagonal():
    W = np.zeros((3, 3))
    W[1, 1] = 0.5
    with pytest.raises(ValueError, match=r"W must have a zero diagonal.*W\[1, 1\]"):
        refrnn.PLRNN(np.zeros(3), W, np.zeros(3), np.ones((1, 3)))
