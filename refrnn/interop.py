"""Parameter import/export for layouts used by other codes.

* ``torch.nn.RNN`` (one layer, ``nonlinearity="tanh"``) state dicts <-> :class:`VanillaRNN`.
  torch's update is :math:`h_t = \\tanh(W_{ih} u_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`; refrnn's
  models are autonomous (no input :math:`u_t`), so

  =====================  ======================  ====================================
  torch key              shape                   refrnn
  =====================  ======================  ====================================
  ``weight_hh_l0``       (M, M)                  ``W``
  ``bias_hh_l0``         (M,)                    ``b`` = ``bias_ih_l0 + bias_hh_l0``
  ``bias_ih_l0``         (M,)                    (exported as 0)
  ``weight_ih_l0``       (M, input_size)         ignored on import; exported as 0
  =====================  ======================  ====================================

  The linear readout is a separate ``torch.nn.Linear(M, N, bias=False)`` whose
  ``weight`` (N, M) is ``B``.
* A PLRNN stored as one combined matrix ``AW`` (M, M) with ``diag(AW) = A`` and the
  off-diagonal part ``W``, as several published PLRNN codes do, plus ``h`` and ``B``.
* Any model as a plain dict of torch float64 tensors keyed by its parameter names
  (:func:`to_tensor_dict`, :func:`from_tensor_dict`), e.g. the shallow PLRNN's ``A``,
  ``W1``, ``W2``, ``h1``, ``h2`` (and ``B``), for a torch module written to match.

torch is imported only inside :func:`to_torch_rnn` (returned tensors); the importers
accept torch tensors or NumPy arrays without importing torch.
"""

from __future__ import annotations

import numpy as np

from .models import PLRNN, RNNModel, VanillaRNN

__all__ = [
    "from_torch_rnn",
    "to_torch_rnn",
    "plrnn_from_combined",
    "plrnn_to_combined",
    "to_tensor_dict",
    "from_tensor_dict",
]


def _np(name, value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point tensor/array, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def from_torch_rnn(state_dict, readout_weight=None, *, n_obs=None):
    """Build a :class:`VanillaRNN` from a one-layer tanh ``torch.nn.RNN`` state dict.

    Parameters
    ----------
    state_dict : mapping
        Must contain ``weight_hh_l0`` (M, M); ``bias_ih_l0`` and ``bias_hh_l0`` (M,) are
        summed into ``b`` (missing biases count as 0, as with ``bias=False``). Keys of
        further layers (``..._l1``) are rejected: refrnn models have one layer.
    readout_weight : tensor or ndarray, shape (N, M), optional
        Weight of the ``nn.Linear(M, N, bias=False)`` readout; gives ``readout="linear"``.
    n_obs : int, optional
        Without a readout weight: identity readout observing the first ``n_obs`` units.
    """
    keys = set(state_dict)
    if "weight_hh_l0" not in keys:
        raise ValueError(f"state_dict lacks 'weight_hh_l0'; keys present: {sorted(keys)}")
    deeper = sorted(k for k in keys if not k.endswith("_l0"))
    if deeper:
        raise ValueError(f"only one-layer, unidirectional RNNs are supported; found {deeper}")
    W = _np("weight_hh_l0", state_dict["weight_hh_l0"])
    M = W.shape[0]
    b = np.zeros(M)
    for k in ("bias_ih_l0", "bias_hh_l0"):
        if k in keys:
            b = b + _np(k, state_dict[k])
    if readout_weight is not None:
        return VanillaRNN(W, b, _np("readout_weight", readout_weight))
    if n_obs is None:
        raise ValueError("give readout_weight (linear readout) or n_obs (identity readout)")
    return VanillaRNN(W, b, readout="identity", n_obs=n_obs)


def to_torch_rnn(model, *, input_size=1):
    """Export a :class:`VanillaRNN` as ``(rnn_state_dict, readout_state_dict)`` of torch
    float64 tensors, loadable into ``torch.nn.RNN(input_size, M, nonlinearity="tanh",
    dtype=torch.float64)`` and ``torch.nn.Linear(M, N, bias=False, dtype=torch.float64)``.

    ``readout_state_dict`` is None for the identity readout. Driven with zero input the
    torch RNN reproduces ``model.simulate``.
    """
    import torch

    if not isinstance(model, VanillaRNN):
        raise TypeError(f"model must be a VanillaRNN, got {type(model).__name__}")
    p = model.params
    M = model.M
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    rnn = {
        "weight_ih_l0": t(np.zeros((M, input_size))),
        "weight_hh_l0": t(p["W"]),
        "bias_ih_l0": t(np.zeros(M)),
        "bias_hh_l0": t(p["b"]),
    }
    readout = None if model.readout == "identity" else {"weight": t(p["B"])}
    return rnn, readout


def plrnn_from_combined(AW, h, B=None, *, n_obs=None):
    """PLRNN from a combined matrix: ``A = diag(AW)``, ``W = AW`` with the diagonal zeroed.

    Parameters
    ----------
    AW : ndarray or tensor, shape (M, M)
    h : ndarray or tensor, shape (M,)
    B : ndarray or tensor, shape (N, M), optional
        Linear readout; without it, ``n_obs`` selects the identity readout.
    """
    AW = _np("AW", AW)
    if AW.ndim != 2 or AW.shape[0] != AW.shape[1]:
        raise ValueError(f"AW must be a square (M, M) matrix, got shape {AW.shape}")
    A = np.diag(AW).copy()
    W = AW.copy()
    np.fill_diagonal(W, 0.0)
    if B is not None:
        return PLRNN(A, W, _np("h", h), _np("B", B))
    if n_obs is None:
        raise ValueError("give B (linear readout) or n_obs (identity readout)")
    return PLRNN(A, W, _np("h", h), readout="identity", n_obs=n_obs)


def plrnn_to_combined(model):
    """Inverse of :func:`plrnn_from_combined`: ``(AW, h, B)`` (B is None for identity)."""
    if not isinstance(model, PLRNN):
        raise TypeError(f"model must be a PLRNN, got {type(model).__name__}")
    p = model.params
    return np.diag(p["A"]) + p["W"], p["h"], p.get("B")


def to_tensor_dict(model):
    """The model's parameters as a plain dict of torch float64 tensors (copies).

    Parameters
    ----------
    model : RNNModel

    Returns
    -------
    dict
        ``model.params`` with every array as a ``torch.float64`` tensor of the same shape.
    """
    import torch

    if not isinstance(model, RNNModel):
        raise TypeError(f"model must be a refrnn model, got {type(model).__name__}")
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in model.params.items()}


def from_tensor_dict(cls, tensors, *, n_obs=None):
    """A model of class ``cls`` from a dict of tensors (or arrays) keyed by parameter name.

    Parameters
    ----------
    cls : type
        A refrnn model class, e.g. :class:`refrnn.ShallowPLRNN`.
    tensors : mapping
        ``cls.equations.PARAM_NAMES`` and, for the linear readout, ``B``; float tensors or
        arrays (converted to float64 NumPy arrays). Other keys are an error.
    n_obs : int, optional
        Without ``B``: the identity readout observing the first ``n_obs`` states.

    Returns
    -------
    RNNModel
    """
    if not (isinstance(cls, type) and issubclass(cls, RNNModel) and cls.equations is not None):
        raise TypeError(f"cls must be a refrnn model class, got {cls!r}")
    names = cls.equations.PARAM_NAMES
    missing = [k for k in names if k not in tensors]
    unknown = sorted(set(tensors) - set(names) - {"B"})
    if missing or unknown:
        raise ValueError(
            f"tensors for {cls.__name__} need keys {list(names)} (+ 'B' for a linear readout); "
            f"missing {missing}, unknown {unknown}"
        )
    params = {k: _np(k, tensors[k]) for k in names}
    if "B" in tensors:
        if n_obs is not None:
            raise ValueError("give either B (linear readout) or n_obs (identity), not both")
        return cls(**params, B=_np("B", tensors["B"]))
    if n_obs is None:
        raise ValueError("without B the identity readout needs n_obs")
    return cls(**params, readout="identity", n_obs=n_obs)
