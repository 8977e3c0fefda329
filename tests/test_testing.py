"""Tests of refrnn.testing: comparisons, reports and the gradient checker."""

import numpy as np
import pytest

import refrnn
from refrnn import testing


def test_compare_reports_worst_entry():
    a = np.zeros((3, 4))
    d = np.zeros((3, 4))
    d[1, 2] = 1.0
    a[1, 2] = 1.0 + 1e-3
    c = testing.compare(a, d, rtol=1e-6, name="W")
    assert not c.passed and c.worst_index == (1, 2)
    assert c.max_abs == pytest.approx(1e-3) and c.max_rel == pytest.approx(1e-3)
    assert "FAIL W" in str(c) and "(1, 2)" in str(c)
    with pytest.raises(AssertionError, match=r"worst at index \(1, 2\)"):
        testing.assert_close(a, d, rtol=1e-6, name="W")
    testing.assert_close(a, d, rtol=1e-2)


def test_compare_nan_and_shape():
    with pytest.raises(AssertionError):
        testing.assert_close([np.nan, 1.0], [0.0, 1.0], rtol=1.0)
    with pytest.raises(ValueError, match="shape"):
        testing.compare(np.zeros(3), np.zeros(4))
    assert testing.compare([], []).passed


def test_tolerance_table_is_used():
    c = testing.compare([1.0 + 1e-11], [1.0], quantity="loss")
    assert c.passed and c.rtol == testing.TOLERANCES["loss"]["rtol"]
    assert not testing.compare([1.0 + 1e-9], [1.0], quantity="loss").passed


@pytest.mark.parametrize("cls", [refrnn.PLRNN, refrnn.VanillaRNN])
def test_check_gradients_passes_on_refrnn_and_catches_a_perturbation(cls):
    model = cls.random(4, 2, rng=0)
    X = np.random.default_rng(1).normal(size=(2, 12, 2))
    assert testing.check_gradients(model, X, tau=4).passed
    _, g = refrnn.loss_and_grad(model, X, tau=4)
    g["B"] = g["B"] * (1 + 1e-4)
    report = testing.check_gradients(model, X, tau=4, grads=g)
    assert not report.passed and not report.entries["B"].passed
