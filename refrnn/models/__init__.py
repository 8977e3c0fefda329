"""refrnn's RNN models: each an immutable container plus the Numba kernels of its equations.

- :class:`PLRNN` -- piecewise-linear RNN (:mod:`refrnn.models.plrnn`)
- :class:`VanillaRNN` -- tanh RNN (:mod:`refrnn.models.vanilla`)
- :class:`ShallowPLRNN` -- shallow PLRNN (:mod:`refrnn.models.shplrnn`)
"""

from ._base import RNNModel
from .plrnn import PLRNN
from .shplrnn import ShallowPLRNN
from .vanilla import VanillaRNN

__all__ = ["RNNModel", "PLRNN", "VanillaRNN", "ShallowPLRNN"]
