"""Tests of course_lib.numerics: finite differences and the complex step against closed forms, and
check_grads against deliberately wrong derivative rules."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import course_lib.dual as dual
import course_lib.reverse as tape
from course_lib.rules import elementwise
from course_lib.numerics import (CENTRAL_STEP, FORWARD_STEP, central_difference, check_grads,
                                 complex_step, forward_difference)


def f(x):
    return np.exp(x) * np.sin(x)


def df(x):  # closed form
    return np.exp(x) * (np.sin(x) + np.cos(x))


# ---- finite differences and the complex step ----------------------------------------------------

def test_known_values():
    assert abs(central_difference(np.sin, 0.0) - 1.0) < 1e-10
    assert abs(forward_difference(lambda x: x * x, 3.0) - 6.0) < 1e-6
    assert complex_step(lambda x: x ** 3, 2.0) == 12.0


def test_default_steps_are_the_textbook_optima():
    eps = np.finfo(float).eps
    assert FORWARD_STEP == math.sqrt(eps)
    assert abs(CENTRAL_STEP - eps ** (1 / 3)) < 1e-20


@given(st.floats(-3.0, 3.0))
def test_errors_match_their_orders(x):
    exact = df(x)
    scale = math.exp(abs(x))  # the size of f and of its higher derivatives
    assert abs(forward_difference(f, x) - exact) < 1e-6 * scale
    assert abs(central_difference(f, x) - exact) < 1e-8 * scale
    assert abs(complex_step(f, x) - exact) <= 4 * np.finfo(float).eps * scale


def test_truncation_error_orders():
    # halving h in the truncation region halves the forward error and quarters the central one
    x, exact = 0.7, df(0.7)
    e_fwd = [abs(forward_difference(f, x, h=h) - exact) for h in (1e-3, 5e-4)]
    e_cen = [abs(central_difference(f, x, h=h) - exact) for h in (1e-3, 5e-4)]
    assert 1.9 < e_fwd[0] / e_fwd[1] < 2.1
    assert 3.9 < e_cen[0] / e_cen[1] < 4.1


def test_directional_differences_on_arrays():
    x = np.array([0.3, -0.5, 1.2])
    v = np.array([1.0, 2.0, -0.5])

    def g(z):
        return np.array([z[0] * z[1], np.sin(z[2]) * z[0]])

    exact = np.array([v[0] * x[1] + x[0] * v[1], np.cos(x[2]) * v[2] * x[0] + np.sin(x[2]) * v[0]])
    np.testing.assert_allclose(central_difference(g, x, v=v), exact, rtol=1e-9)
    np.testing.assert_allclose(complex_step(g, x, v=v), exact, rtol=1e-15)


def test_bad_input():
    with pytest.raises(TypeError, match="real number"):
        central_difference(np.sin, "1.0")
    with pytest.raises(ValueError, match="direction v"):
        central_difference(np.sin, np.ones(3))
    with pytest.raises(ValueError, match="shape of x"):
        forward_difference(np.sin, np.ones(3), v=np.ones(2))
    with pytest.raises(TypeError, match="complex"):
        complex_step(lambda x: float(np.real(x)), 1.0)
    with pytest.raises(TypeError, match="returned str"):
        central_difference(lambda x: "y", 1.0)


# ---- check_grads ------------------------------------------------------------------------------

def g(x):
    return np.tanh(x @ np.arange(6.0).reshape(3, 2)) * np.sum(x ** 2) + np.sqrt(np.sum(x * x))


@pytest.mark.parametrize("order", [1, 2])
def test_check_grads_accepts_correct_derivatives(order):
    check_grads(g, np.array([0.1, 0.2, -0.3]), order=order)
    check_grads(f, 0.5, order=order)
    check_grads(lambda x: np.maximum(x, 0.1) * np.abs(x), np.array([0.5, -0.7]), order=order)


def test_check_grads_catches_a_wrong_forward_rule(monkeypatch):
    monkeypatch.setitem(elementwise.UFUNC_PARTIALS, np.sin, (lambda out, x: 1.001 * np.cos(x),))
    with pytest.raises(AssertionError, match=r"forward mode \(jvp\), order 1"):
        check_grads(f, 0.5, modes=("fwd",))


def test_check_grads_catches_a_rule_wrong_only_at_second_order(monkeypatch):
    # right value, but computed from the primal alone: the derivative of the rule is lost
    def cos_of_primal(out, x):
        while isinstance(x, dual.Dual):
            x = x.primal
        return np.cos(x)

    monkeypatch.setitem(elementwise.UFUNC_PARTIALS, np.sin, (cos_of_primal,))
    check_grads(f, 0.5, order=1, modes=("fwd",))
    with pytest.raises(AssertionError, match=r"forward mode \(jvp\), order 2"):
        check_grads(f, 0.5, order=2, modes=("fwd",))


def test_check_grads_catches_a_wrong_reverse_mode(monkeypatch):
    right_vjp = tape.vjp

    def wrong_vjp(fun, x):
        y, pullback = right_vjp(fun, x)
        return y, lambda u: 1.01 * pullback(u)

    monkeypatch.setattr(tape, "vjp", wrong_vjp)
    with pytest.raises(AssertionError, match=r"reverse mode \(vjp\), order 1: the adjoint"):
        check_grads(g, np.array([0.1, 0.2, -0.3]))
    with pytest.raises(AssertionError, match=r"reverse mode \(vjp\), order 1: the adjoint"):
        check_grads(g, np.array([0.1, 0.2, -0.3]), modes=("rev",))


def test_check_grads_catches_a_wrong_cotangent_shape(monkeypatch):
    right_vjp = tape.vjp

    def flat_vjp(fun, x):
        y, pullback = right_vjp(fun, x)
        return y, lambda u: np.ravel(pullback(u))[:-1]

    monkeypatch.setattr(tape, "vjp", flat_vjp)
    with pytest.raises(AssertionError, match="shape"):
        check_grads(g, np.array([0.1, 0.2, -0.3]), modes=("rev",))


def test_check_grads_bad_arguments():
    with pytest.raises(ValueError, match="order"):
        check_grads(f, 0.5, order=0)
    with pytest.raises(ValueError, match="modes"):
        check_grads(f, 0.5, modes=("backward",))
    with pytest.raises(TypeError, match="real number"):
        check_grads(f, "0.5")
