"""Tests of refrnn._validation: the validators every public function relies on."""

import warnings

import numpy as np
import pytest

from refrnn._validation import (
    as_bool,
    as_float_array,
    as_positive_int,
    as_real,
    as_rng,
    as_tau,
    check_allocation,
    full_row_rank,
)


def test_as_float_array_accepts_floats_and_int_lists_only():
    out = as_float_array("x", [1, 2])
    assert out.dtype == np.float64 and out.flags.c_contiguous
    assert as_float_array("x", np.ones(3, dtype=np.float32)).dtype == np.float64
    with pytest.raises(TypeError, match="x must be a real floating-point array, got dtype int"):
        as_float_array("x", np.arange(3))
    for bad in (np.ones(2, dtype=complex), np.array([True]), "abc", None, {"a": 1}):
        with pytest.raises(TypeError, match="x must be a real floating-point array"):
            as_float_array("x", bad)
    with pytest.raises(ValueError, match=r"x contains non-finite values \(first at index \(1,\)\)"):
        as_float_array("x", [0.0, np.nan])
    assert np.isnan(as_float_array("x", [np.nan], finite=False)[0])
    with pytest.raises(ValueError, match="x must be 2-dimensional"):
        as_float_array("x", np.zeros(3), ndim=2)
    with pytest.raises(ValueError, match=r"x must have shape \(\?, 3\)"):
        as_float_array("x", np.zeros((2, 2)), shape=(None, 3))
    a = np.zeros(3)
    assert as_float_array("x", a, copy=True) is not a


@pytest.mark.parametrize(
    "values, first_bad",
    [
        ([1e308, 1e308, 1.0], None),  # finite entries whose sum overflows
        ([-1e308, -1e308], None),
        ([1.0, np.inf, -np.inf], 1),  # a sum of NaN
        ([1e308, 1e308, np.inf], 2),
        ([0.0, -np.inf], 1),
        ([np.nan, 1e308, 1e308], 0),
    ],
)
def test_finiteness_is_decided_entry_by_entry_not_by_the_sum(values, first_bad):
    """The fast path trusts a finite sum only; a sum that overflows or is NaN is settled
    entry by entry."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")  # no overflow warning from the sum, nor an error
        if first_bad is None:
            assert np.array_equal(as_float_array("x", values), values)
        else:
            with pytest.raises(ValueError, match=rf"first at index \({first_bad},\)"):
                as_float_array("x", values)


def test_integers_taus_flags_and_rngs():
    assert as_positive_int("n", np.int64(3)) == 3
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        as_positive_int("n", 0)
    assert as_positive_int("n", 0, minimum=0) == 0
    for bad in (2.0, True, "3"):
        with pytest.raises(TypeError, match="n must be an integer"):
            as_positive_int("n", bad)
    assert as_tau(None) == 0 and as_tau(5) == 5
    with pytest.raises(ValueError, match="tau"):
        as_tau(0)
    assert as_bool("f", np.bool_(True)) is True
    with pytest.raises(TypeError, match="f must be True or False, got int 1"):
        as_bool("f", 1)
    g = np.random.default_rng(0)
    assert as_rng(g) is g
    assert as_rng(3).integers(100) == np.random.default_rng(3).integers(100)
    with pytest.raises(TypeError, match="rng must be"):
        as_rng("seed")


def test_full_row_rank():
    full_row_rank("B", np.eye(2, 4))
    with pytest.raises(ValueError, match="B must have full row rank N=2 .* got rank 1"):
        full_row_rank("B", np.ones((2, 4)))


def test_bad_input_found_by_the_fuzz_tests():
    """Each of these ended in an unnamed NumPy/Numba error before (tests/test_fuzz.py)."""
    with pytest.raises(ValueError, match="rng must be a non-negative int seed, got -1"):
        as_rng(-1)
    with pytest.raises(ValueError, match="x must be a rectangular array"):
        as_float_array("x", [[1.0], [2.0, 3.0]])
    with pytest.raises(ValueError, match=r"n must be < 2\*\*63"):
        as_positive_int("n", 2**63)  # would overflow the kernels' int64
    assert as_real("dt", np.array(0.5)) == 0.5 and as_real("dt", 2) == 2.0
    for bad in ("abc", np.zeros(2), None, True, 1j):
        with pytest.raises(TypeError, match="dt must be a real number"):
            as_real("dt", bad)
    check_allocation("M", 10, "an (M, M) matrix", 100)
    with pytest.raises(ValueError, match=r"M=1000000000000 needs an \(M, M\) matrix of .* GiB"):
        check_allocation("M", 10**12, "an (M, M) matrix", 10**24)
