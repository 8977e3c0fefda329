"""Tests of refrnn.interop: torch.nn.RNN state dicts and combined PLRNN matrices."""

import numpy as np
import pytest

import refrnn
from refrnn import interop


def test_plrnn_combined_roundtrip():
    model = refrnn.PLRNN.random(5, 2, rng=0)
    AW, h, B = interop.plrnn_to_combined(model)
    np.testing.assert_array_equal(np.diag(AW), model.params["A"])
    assert interop.plrnn_from_combined(AW, h, B) == model
    ident = refrnn.PLRNN.random(5, 2, rng=0, readout="identity")
    AW, h, B = interop.plrnn_to_combined(ident)
    assert B is None and interop.plrnn_from_combined(AW, h, n_obs=2) == ident


def test_combined_validation():
    with pytest.raises(ValueError, match="square"):
        interop.plrnn_from_combined(np.zeros((2, 3)), np.zeros(2), np.ones((1, 2)))
    with pytest.raises(ValueError, match="n_obs"):
        interop.plrnn_from_combined(np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(TypeError, match="PLRNN"):
        interop.plrnn_to_combined(refrnn.VanillaRNN.random(2, 1, rng=0))


def test_from_state_dict_validation():
    with pytest.raises(ValueError, match="lacks 'weight_hh_l0'"):
        interop.from_torch_rnn({"weight_ih_l0": np.zeros((2, 1))}, n_obs=1)
    sd = {"weight_hh_l0": np.zeros((2, 2)), "weight_hh_l1": np.zeros((2, 2))}
    with pytest.raises(ValueError, match="one-layer"):
        interop.from_torch_rnn(sd, n_obs=1)
    with pytest.raises(ValueError, match="readout_weight .* or n_obs"):
        interop.from_torch_rnn({"weight_hh_l0": np.zeros((2, 2))})


@pytest.mark.torch
@pytest.mark.parametrize("readout", ["linear", "identity"])
def test_torch_rnn_roundtrip_and_dynamics(readout):
    torch = pytest.importorskip("torch")
    model = refrnn.VanillaRNN.random(6, 2, rng=1, gain=1.5, readout=readout)
    sd, ro = interop.to_torch_rnn(model)
    rnn = torch.nn.RNN(1, 6, nonlinearity="tanh", batch_first=True, dtype=torch.float64)
    rnn.load_state_dict(sd)
    z0 = np.random.default_rng(2).normal(size=6)
    with torch.no_grad():
        out, _ = rnn(
            torch.zeros(1, 20, 1, dtype=torch.float64),
            torch.tensor(z0[None, None, :], dtype=torch.float64),
        )
    # tanh and the same 6-term sums in another order: agreement to a few ulps per step
    np.testing.assert_allclose(out[0].numpy(), model.simulate(z0, 20)[1:], rtol=0, atol=1e-13)
    back = interop.from_torch_rnn(
        rnn.state_dict(), None if ro is None else ro["weight"], n_obs=2 if ro is None else None
    )
    assert back == model


@pytest.mark.parametrize("readout", ["linear", "identity"])
@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN, refrnn.ShallowPLRNN])
def test_tensor_dict_roundtrip(cls, readout):
    torch = pytest.importorskip("torch")
    kw = {"L": 5} if cls is refrnn.ShallowPLRNN else {}
    model = cls.random(4, 2, rng=0, readout=readout, **kw)
    tensors = interop.to_tensor_dict(model)
    assert all(t.dtype == torch.float64 for t in tensors.values())
    n_obs = None if readout == "linear" else 2
    assert interop.from_tensor_dict(cls, tensors, n_obs=n_obs) == model


def test_tensor_dict_validation():
    p = refrnn.ShallowPLRNN.random(3, 1, L=2, rng=0).params
    with pytest.raises(ValueError, match=r"missing \['h2'\]"):
        interop.from_tensor_dict(refrnn.ShallowPLRNN, {k: v for k, v in p.items() if k != "h2"})
    with pytest.raises(ValueError, match=r"unknown \['C'\]"):
        interop.from_tensor_dict(refrnn.ShallowPLRNN, {**p, "C": p["A"]})
    with pytest.raises(TypeError, match="model class"):
        interop.from_tensor_dict(dict, p)
