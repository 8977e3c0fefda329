"""refrnn: reference NumPy/Numba implementation of the theory in

    Mikhaeil, Monfared & Durstewitz, "On the difficulty of learning chaotic dynamics
    with RNNs", NeurIPS 2022 (arXiv:2110.07238).

Hand-written forward passes and BPTT with sparse teacher forcing for the PLRNN and the
vanilla tanh RNN, explicit Jacobians, QR-based Lyapunov spectra and the paper's metrics,
as float64 Numba kernels.
"""

from ._cache import drop_stale_cache as _drop_stale_cache

_drop_stale_cache()  # before any kernel module is imported: see refrnn/_cache.py

from . import (
    bptt,
    data,
    dynamics,
    embedding,
    equations,
    forcing,
    interop,
    io,
    jacobians,
    lyapunov,
    metrics,
    systems,
    testing,
)
from ._validation import DivergenceError
from .bptt import Trajectory, forward, jvp, loss_and_grad, vjp, warm_start
from .data import (
    Dataset,
    Standardizer,
    generate,
    load_series,
    load_sunspots,
    sample_windows,
)
from .dynamics import jacobian, simulate, step
from .embedding import delay_embed
from .jacobians import (
    finite_time_lyapunov_exponents,
    finite_time_lyapunov_exponents_along,
    log_jacobian_product_norms,
    log_jacobian_product_norms_along,
)
from .lyapunov import (
    DivergenceResult,
    LyapunovEstimates,
    LyapunovSpectrum,
    kaplan_yorke_dimension,
    lyapunov_from_series,
    lyapunov_spectrum,
    mean_period,
    predictability_time,
    series_resolution,
)
from .metrics import (
    evaluate,
    generate_free_run,
    power_spectrum_distance,
    prediction_error,
    state_space_divergence,
)
from .models import PLRNN, RNNModel, ShallowPLRNN, VanillaRNN
from .sweep import train_seeds
from .training import Adam, TrainingDiverged, TrainResult, train

__version__ = "0.5.0"

__all__ = [
    "data",
    "io",
    "metrics",
    "systems",
    "testing",
    "Dataset",
    "Standardizer",
    "DivergenceResult",
    "LyapunovEstimates",
    "generate",
    "load_series",
    "load_sunspots",
    "delay_embed",
    "sample_windows",
    "lyapunov_from_series",
    "state_space_divergence",
    "power_spectrum_distance",
    "prediction_error",
    "generate_free_run",
    "evaluate",
    "interop",
    "jacobians",
    "lyapunov",
    "LyapunovSpectrum",
    "lyapunov_spectrum",
    "kaplan_yorke_dimension",
    "predictability_time",
    "log_jacobian_product_norms",
    "log_jacobian_product_norms_along",
    "finite_time_lyapunov_exponents",
    "finite_time_lyapunov_exponents_along",
    "train",
    "train_seeds",
    "TrainResult",
    "TrainingDiverged",
    "Adam",
    "PLRNN",
    "VanillaRNN",
    "ShallowPLRNN",
    "RNNModel",
    "DivergenceError",
    "Trajectory",
    "forward",
    "loss_and_grad",
    "jvp",
    "vjp",
    "warm_start",
    "bptt",
    "forcing",
    "dynamics",
    "equations",
    "step",
    "jacobian",
    "simulate",
    "mean_period",
    "series_resolution",
    "embedding",
]
