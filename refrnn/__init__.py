"""refrnn: reference NumPy/Numba implementation of the theory in

    Mikhaeil, Monfared & Durstewitz, "On the difficulty of learning chaotic dynamics
    with RNNs", NeurIPS 2022 (arXiv:2110.07238).

Hand-written forward passes and BPTT with sparse teacher forcing for the PLRNN and the
vanilla tanh RNN, explicit Jacobians, QR-based Lyapunov spectra and the paper's metrics,
as float64 Numba kernels.
"""

from ._validation import DivergenceError
from .bptt import Trajectory, forward, jvp, loss_and_grad, vjp
from .models import PLRNN, RNNModel, VanillaRNN

__version__ = "0.1.0"

__all__ = [
    "PLRNN",
    "VanillaRNN",
    "RNNModel",
    "DivergenceError",
    "Trajectory",
    "forward",
    "loss_and_grad",
    "jvp",
    "vjp",
]
