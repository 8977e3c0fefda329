"""The equations of refrnn's models and reference systems: the bottom layer of the package.

Each module states one map's rules twice:

1. **The definition** -- plain NumPy, vectorised over a leading batch axis, written to be
   read next to the equations: the step :math:`F`, its tangent (forward mode), its adjoint
   (reverse mode, the VJP) and its Jacobian. This is what a student reads.
2. **The kernels** -- the same computation, fast: Numba functions over one state vector
   and a flat parameter vector, called from the generic time loops (simulation, BPTT,
   Jacobian products, Lyapunov spectra) through the integer dispatch of
   :mod:`refrnn._kernels`. Every optimisation trick they use carries a comment saying what
   it buys, and ``tests/equations/`` proves each kernel equal to its definition to 1e-12.

Nothing here imports the rest of refrnn: the containers (:mod:`refrnn.models`,
:mod:`refrnn.systems`) and the loops sit above this layer, so there is no import circle.

- :mod:`refrnn.equations.plrnn` -- piecewise-linear RNN
- :mod:`refrnn.equations.vanilla` -- tanh RNN
- :mod:`refrnn.equations.systems` -- Lorenz-63, Rössler, Lorenz-96 (RK4) and the Hénon and
  logistic maps
"""
