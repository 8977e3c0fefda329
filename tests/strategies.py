"""Hypothesis strategies that draw refrnn models, data windows and forcing intervals."""

import numpy as np
from hypothesis import strategies as st

import refrnn

MODELS = {
    "PLRNN": refrnn.PLRNN,
    "VanillaRNN": refrnn.VanillaRNN,
    "ShallowPLRNN": refrnn.ShallowPLRNN,
}


@st.composite
def problems(draw, model_name=None, readout=None, max_M=12, max_T=20, max_S=3):
    """Draw ``(model, X, tau)``: a random model, S windows of T+1 samples and a tau.

    M in 1..max_M, N in 1..M, L in 1..2 max_M (shallow PLRNN),
    T in 1..max_T, S in 1..max_S, tau in {None, 1, ..., T}.
    The vanilla RNN's gain ranges up to 2.5 so that expanding (chaotic-like) models with
    large gradients are drawn too.
    """
    name = model_name or draw(st.sampled_from(sorted(MODELS)))
    readout = readout or draw(st.sampled_from(["linear", "identity"]))
    M = draw(st.integers(1, max_M))
    N = draw(st.integers(1, M))
    T = draw(st.integers(1, max_T))
    S = draw(st.integers(1, max_S))
    tau = draw(st.one_of(st.none(), st.integers(1, T)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if name == "VanillaRNN":
        gain = draw(st.floats(0.2, 2.5))
        model = refrnn.VanillaRNN.random(M, N, rng=rng, readout=readout, gain=gain)
    elif name == "ShallowPLRNN":
        L = draw(st.integers(1, 2 * max_M))
        model = refrnn.ShallowPLRNN.random(M, N, L=L, rng=rng, readout=readout)
        # h2 = 0 at initialisation puts every hidden unit's kink through z = 0; a random
        # h2 moves the kinks, so that both signs of every unit are exercised
        model = model.replace(h2=rng.uniform(-0.5, 0.5, size=L))
    else:
        model = refrnn.PLRNN.random(M, N, rng=rng, readout=readout)
    X = rng.normal(size=(S, T + 1, N))
    return model, X, tau
