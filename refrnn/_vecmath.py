r"""Elementwise functions that vectorise: :math:`\tanh` for the tanh RNN's batch kernels.

Numba compiles ``np.tanh`` inside a loop to one call of the C library's ``tanh`` per
element, and LLVM cannot turn a call into SIMD code: in the tanh RNN's batch-major
forward pass (M = 20) those calls cost more than the matrix-vector products around them.
:func:`tanh_one` computes the same function from additions, multiplications and one
division per value, with no branches, so that LLVM vectorises it across the 16 lanes of
:func:`refrnn._lanes.tanh` (measured with the loop this replaced, 64 000 values: 2.1 ns
per value against 13.5 ns for ``np.tanh`` in a Numba loop, on the machine of
``benchmarks/results``).

**The method.** With :math:`u = x / 2^5`,

1. :math:`\tanh u = u + u\,z\,P(z)/Q(z)`, :math:`z = u^2`, a rational approximation
   valid for :math:`|u| \le 0.625` (coefficients from Cephes: S. L. Moshier, *Methods and
   Programs for Mathematical Functions*, 1989; peak relative error 2.5e-16);
2. five doublings :math:`\tanh 2u = 2\tanh u / (1 + \tanh^2 u)`, carried as a fraction
   :math:`t = n/d`, :math:`(n, d) \to (2nd,\ n^2 + d^2)`, so that one division remains.
   The doubling map does not amplify relative errors (its logarithmic derivative is
   :math:`(1 - t^2)/(1 + t^2) \le 1`), so each step adds only its own rounding.

Inputs are clamped to :math:`|x| \le 20` first (so :math:`|u| \le 0.625`); in float64
:math:`\tanh x = \pm 1` exactly from :math:`|x| \ge 19.1`, so the clamp changes nothing.
Below :math:`|x| = 10^{-8}` the result is x itself (exact to 4e-17, and it keeps -0.0
and subnormal inputs exact), and results are capped at :math:`\pm 1` (the fraction can
round to :math:`1 + 2^{-52}` just below the clamp). NaN stays NaN,
:math:`\pm\infty \to \pm 1`. Measured against ``np.tanh``: relative error at most
7.8e-16 on 5 000 001 points of [-25, 25] and 9.2e-16 on 200 000 normal samples at scales
1e-8 to 25 (about 4 ulp), which ``tests/test_vecmath.py`` asserts (2e-15).
"""

from __future__ import annotations

from numba import njit

# Cephes tanh: P(z) = P2 z^2 + P1 z + P0, Q(z) = z^3 + Q2 z^2 + Q1 z + Q0.
_P0, _P1, _P2 = -1.61468768441708447952e3, -9.92877231001918586564e1, -9.64399179425052238628e-1
_Q0, _Q1, _Q2 = 4.84406305325125486048e3, 2.23548839060100448583e3, 1.12811678491632931402e2
#: |x| beyond which tanh(x) rounds to +-1 in float64 (19.06...), rounded up.
_CLAMP = 20.0
#: Number of doublings: 2**5 * 0.625 = 20 = _CLAMP.
_DOUBLINGS = 5
#: Below this |x|, tanh(x) = x in float64 to within 4e-17 relative.
_TINY = 1e-8


@njit(cache=True, fastmath={"contract"}, inline="always")
def tanh_one(x0):
    """:math:`\\tanh x_0` of one float64 (see the module docstring).

    Inlined into its callers, which apply it to the 16 lanes of
    :func:`refrnn._lanes.tanh`: one division per value and no branches, so LLVM
    vectorises the 16 calls if the caller compiles with ``error_model="numpy"`` (Numba's
    default, "python", checks every division for a zero divisor, a branch). ``fastmath``
    "contract": fused multiply-adds.
    """
    # Numba's max and min return their first argument when it is NaN: NaN passes through.
    # (Two conditional expressions here instead kept LLVM from vectorising the lanes.)
    x = min(max(x0, -_CLAMP), _CLAMP)
    u = x * (1.0 / 2**_DOUBLINGS)
    z = u * u
    q = ((z + _Q2) * z + _Q1) * z + _Q0
    num = u * q + u * z * ((_P2 * z + _P1) * z + _P0)
    den = q
    for _ in range(_DOUBLINGS):
        num, den = 2.0 * num * den, num * num + den * den
    # |x| < 1e-8: tanh x = x to within x^2/3 < 4e-17 relative; x / 32 would lose bits below
    # the smallest normal number, and x itself keeps the sign of -0.0
    tiny = abs(x0) < _TINY
    t = (x0 if tiny else num) / (1.0 if tiny else den)
    # n/d can round to 1 + 2^-52 just below the clamp; tanh never leaves [-1, 1]
    return min(max(t, -1.0), 1.0)
