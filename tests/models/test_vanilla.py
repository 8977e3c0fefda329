"""Tests of refrnn.models.vanilla: the tanh RNN container (construction, validation)."""

import numpy as np

import refrnn


def test_gain_sets_weight_scale():
    M = 400
    W = refrnn.VanillaRNN.random(M, 1, rng=0, gain=1.5).params["W"]
    # std of N(0, g^2/M) entries, estimated from 160000 samples: relative error ~ 0.2%
    assert abs(np.std(W) * np.sqrt(M) - 1.5) < 0.01
