"""Edges decided once: at a kink or an edge of its domain every operation has one derivative, the
same in forward mode, reverse mode and HIPS autograd; bad input to ``grad`` gets a clear error."""
import warnings

import autograd
import autograd.numpy as anp
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib import derivative, grad, hessian, jacfwd, jacrev, jvp, vjp

# name: (f written for a numpy module m, the point, the derivative there). Each is evaluated on an
# array of one entry, so that no route meets Python's own ZeroDivisionError for floats.
EDGES = {
    "x**0 at 0": (lambda m, x: x ** 0.0, 0.0, 0.0),
    "x**0 (integer exponent) at 0": (lambda m, x: x ** 0, 0.0, 0.0),
    "x**1 at 0": (lambda m, x: x ** 1.0, 0.0, 1.0),
    "x**2 at 0": (lambda m, x: x ** 2.0, 0.0, 0.0),
    "x**0.5 at 0": (lambda m, x: x ** 0.5, 0.0, np.inf),
    "x**3 at -2 (negative base)": (lambda m, x: x ** 3.0, -2.0, 12.0),
    "0**y at y = 2": (lambda m, y: 0.0 ** y, 2.0, 0.0),
    "0**y at y = 0": (lambda m, y: 0.0 ** y, 0.0, 0.0),
    "(-2)**y at y = 2 (no real derivative)": (lambda m, y: (-2.0) ** y, 2.0, np.nan),
    "clip inside": (lambda m, x: m.clip(x, 0.0, 1.0), 0.5, 1.0),
    "maximum at a tie": (lambda m, x: m.maximum(x, 0.5), 0.5, 0.5),
    "minimum at a tie": (lambda m, x: m.minimum(x, 0.5), 0.5, 0.5),
    "abs at 0": (lambda m, x: m.abs(x), 0.0, 0.0),
    "fabs at 0": (lambda m, x: m.fabs(x), 0.0, 0.0),
    "sign at 0": (lambda m, x: m.sign(x), 0.0, 0.0),
    "sqrt at 0": (lambda m, x: m.sqrt(x), 0.0, np.inf),
    "var of one entry": (lambda m, x: m.var(x), 1.0, 0.0),
    "std of one entry": (lambda m, x: m.std(x), 1.0, 0.0),
    "clip at the lower bound": (lambda m, x: m.clip(x, 0.0, 1.0), 0.0, 0.0),
    "clip at the upper bound": (lambda m, x: m.clip(x, 0.0, 1.0), 1.0, 0.0),
    "max of a tie": (lambda m, x: m.max(m.concatenate([x, m.array([0.5])])), 0.5, 0.5),
    "min of a tie": (lambda m, x: m.min(m.concatenate([x, m.array([0.5])])), 0.5, 0.5),
}


def _quiet(fn):
    with warnings.catch_warnings():  # numpy warns of inf and nan; autograd of a constant output
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        return float(np.ravel(fn())[0])


@pytest.mark.parametrize("name", list(EDGES))
def test_every_route_gives_the_one_convention(name):
    f, x0, want = EDGES[name]
    x, one = np.array([x0]), np.array([1.0])
    routes = {
        "jvp": _quiet(lambda: jvp(lambda z: f(np, z), x, one)[1]),
        "derivative of a scalar": _quiet(lambda: derivative(lambda z: f(np, np.reshape(z, (1,))),
                                                            np.float64(x0))),
        "jacfwd": _quiet(lambda: jacfwd(lambda z: f(np, z))(x)),
        "grad": _quiet(lambda: grad(lambda z: np.sum(f(np, z)))(x)),
        "jacrev": _quiet(lambda: jacrev(lambda z: f(np, z))(x)),
        "autograd": _quiet(lambda: autograd.grad(lambda z: anp.sum(f(anp, z)))(x)),
    }
    for route, got in routes.items():
        assert got == want or (np.isnan(want) and np.isnan(got)), (
            f"{name}: {route} gives {got}, the convention is {want}: {routes}")


# ---- bad input gets a clear error ---------------------------------------------------------------

def test_complex_input_is_refused():
    with pytest.raises(TypeError, match="complex"):
        grad(lambda z: np.sum(np.abs(z)))(np.array([1.0 + 2.0j, 3.0]))
    with pytest.raises(TypeError, match="complex"):
        jvp(lambda z: np.sum(np.abs(z)), np.array([1.0 + 2.0j]), np.array([1.0]))


def test_a_computation_through_complex_numbers_has_a_real_gradient():
    """|(1 + i) x| = sqrt(2) |x|: a real function of a real input, through complex values."""
    x = np.array([1.0, -2.0, 0.0])

    def f(m):
        return lambda z: m.sum(m.abs(z * (1.0 + 1.0j)))
    ours = grad(f(np))(x)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, np.sqrt(2.0) * np.sign(x), rtol=1e-15)
    np.testing.assert_allclose(ours, autograd.grad(f(anp))(x), rtol=1e-15)
    v = np.array([1.0, 3.0, 0.5])
    np.testing.assert_allclose(jvp(f(np), x, v)[1], -2.0 * np.sqrt(2.0), rtol=1e-15)


@pytest.mark.parametrize("route", ["grad", "jvp", "derivative", "vjp", "jacrev", "jacfwd"])
def test_a_complex_output_is_refused(route):
    x = np.array([1.0, 2.0])
    f = {"grad": lambda z: np.sum(z) * 1.0j, "derivative": lambda z: z * 1.0j}.get(
        route, lambda z: np.fft.fft(z))
    run = {"grad": lambda: grad(f)(x), "jvp": lambda: jvp(f, x, x),
           "derivative": lambda: derivative(f, 1.0), "vjp": lambda: vjp(f, x),
           "jacrev": lambda: jacrev(f)(x), "jacfwd": lambda: jacfwd(f)(x)}[route]
    with pytest.raises(TypeError, match="complex numbers are outside"):
        run()


@pytest.mark.parametrize("f", [lambda x: np.sum(x > 0), lambda x: x[0] > 0, lambda x: np.argmax(x),
                               lambda x: int(np.round(x[0]))],
                         ids=["count", "comparison", "argmax", "int()"])
def test_an_integer_or_bool_output_is_refused_with_the_reason(f):
    with pytest.raises(TypeError, match="piecewise constant"):
        grad(f)(np.array([1.0, 2.0]))


@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_a_one_entry_output_counts_as_a_scalar_as_in_autograd(shape):
    x = np.array([1.0, -2.0, 0.5])

    def f(xp):
        return lambda x: xp.reshape(xp.sum(xp.sin(x) * x), shape)
    np.testing.assert_allclose(grad(f(np))(x), autograd.grad(f(anp))(x), rtol=1e-14)
    np.testing.assert_allclose(hessian(f(np))(x), autograd.hessian(f(anp))(x)[0] if len(shape) == 1
                               else autograd.hessian(f(anp))(x)[0, 0], rtol=1e-14)


def test_a_vector_output_still_points_to_jacrev():
    with pytest.raises(TypeError, match="jacrev"):
        grad(lambda x: x * x)(np.array([1.0, 2.0]))


@given(hnp.arrays(np.float32, st.integers(1, 6), elements=st.floats(-2, 2, width=32)))
def test_a_float32_input_gets_a_float32_gradient_as_in_autograd(x):
    def f(xp):
        return lambda x: xp.sum(xp.tanh(x) * x + 0.5 * x * x)
    ours, theirs = grad(f(np))(x), autograd.grad(f(anp))(x)
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert jacrev(f(np))(x).dtype == np.float32
