"""Tests of course_lib.dual: forward mode against HIPS autograd, finite differences, closed forms"""
import math

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from course_lib import Dual, derivative, grad, jacfwd, jvp
from course_lib.dual import defjvp
from course_lib.numerics import central_difference


def autograd_directional(f_anp, x, v):
    """d/dt f(x + t v) at t = 0, by autograd (an independent implementation)."""
    return autograd.jacobian(lambda t: f_anp(x + t * v))(0.0)


def check_jvp(f, x, v, value_rtol, ad_tol, fd_tol):
    """jvp of ``f(m, z)`` (m: numpy or autograd.numpy) against the value, autograd and central
    differences; the tolerances are (rtol, atol) pairs."""
    y, t = jvp(lambda z: f(np, z), x, v)
    np.testing.assert_allclose(y, f(np, x), rtol=value_rtol)
    np.testing.assert_allclose(t, autograd_directional(lambda z: f(anp, z), x, v),
                               rtol=ad_tol[0], atol=ad_tol[1])
    np.testing.assert_allclose(t, central_difference(lambda z: f(np, z), x, v=v),
                               rtol=fd_tol[0], atol=fd_tol[1])


# ---- known values, no helpers -----------------------------------------------------------------

def test_known_values():
    assert derivative(np.sin, 0.0) == 1.0
    assert derivative(lambda x: x ** 3, 2.0) == 12.0
    assert derivative(np.exp, 1.0) == math.e
    assert derivative(np.sqrt, 4.0) == 0.25
    assert derivative(lambda x: 1 / x, 2.0) == -0.25
    assert derivative(lambda x: 2.0 ** x, 3.0) == 8.0 * math.log(2.0)
    assert derivative(lambda x: np.arctan2(x, 1.0), 0.0) == 1.0
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert np.array_equal(jacfwd(lambda x: a @ x)(np.array([0.5, -1.0])), a)
    y, t = jvp(lambda x: np.sum(x * x), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    assert (y, t) == (5.0, 6.0)


def test_perturbation_confusion():
    # each call tags its own perturbation: the inner derivative does not see x's tangent
    assert derivative(lambda x: x * derivative(lambda y: x + y, 1.0), 1.0) == 1.0
    # d/dx [x * d/dy (x*y) at y=2] = d/dx [x * x] = 2x, at x = 1
    assert derivative(lambda x: x * derivative(lambda y: x * y, 2.0), 1.0) == 2.0
    # the same with the operands in the other order and through ufuncs
    assert derivative(lambda x: derivative(lambda y: np.multiply(y, x), 2.0) * x, 1.0) == 2.0


def test_third_derivative_by_nesting():
    d3 = derivative(lambda x: derivative(lambda y: derivative(np.sin, y), x), 0.3)
    assert abs(d3 - (-math.cos(0.3))) < 1e-15


def test_conventions_at_kinks():
    assert derivative(np.abs, 0.0) == 0.0
    assert derivative(lambda x: np.maximum(x, 1.0), 1.0) == 0.5
    assert derivative(lambda x: np.minimum(1.0, x), 1.0) == 0.5
    ties = Dual(np.array([1.0, 3.0, 3.0]), np.array([10.0, 2.0, 4.0]))
    assert np.max(ties).tangent == 3.0  # shared equally among tied entries
    # the same conventions as autograd
    assert autograd.grad(anp.abs)(0.0) == 0.0
    assert autograd.grad(lambda x: anp.maximum(x, 1.0))(1.0) == 0.5


def test_branches_and_loops():
    def newton_sqrt(a):
        x = 1.0 + 0 * a
        for _ in range(30):
            x = 0.5 * (x + a / x)
        return x

    assert abs(derivative(newton_sqrt, 2.0) - 0.5 / math.sqrt(2.0)) < 1e-15

    def piecewise(x):
        return x * x if x < 1.0 else 3.0 * x

    assert derivative(piecewise, 0.5) == 1.0
    assert derivative(piecewise, 2.0) == 3.0


# ---- every ufunc rule, swept over a scalar, a vector, a matrix and a broadcast row -----------

UNARY = {  # name: (numpy form, autograd form) on inputs in (-2, 2)
    "sin": lambda m, x: m.sin(x), "cos": lambda m, x: m.cos(x),
    "tan": lambda m, x: m.tan(0.5 * x), "arcsin": lambda m, x: m.arcsin(x / 2.5),
    "arccos": lambda m, x: m.arccos(x / 2.5), "arctan": lambda m, x: m.arctan(x),
    "sinh": lambda m, x: m.sinh(x), "cosh": lambda m, x: m.cosh(x),
    "tanh": lambda m, x: m.tanh(x), "arcsinh": lambda m, x: m.arcsinh(x),
    "arccosh": lambda m, x: m.arccosh(x + 3.5), "arctanh": lambda m, x: m.arctanh(x / 2.5),
    "exp": lambda m, x: m.exp(x), "exp2": lambda m, x: m.exp2(x),
    "expm1": lambda m, x: m.expm1(x), "log": lambda m, x: m.log(x + 2.5),
    "log2": lambda m, x: m.log2(x + 2.5), "log10": lambda m, x: m.log10(x + 2.5),
    "log1p": lambda m, x: m.log1p(x + 1.5), "sqrt": lambda m, x: m.sqrt(x + 2.5),
    "square": lambda m, x: m.square(x), "reciprocal": lambda m, x: m.reciprocal(x + 2.5),
    "negative": lambda m, x: m.negative(x), "absolute": lambda m, x: m.absolute(x - 0.3137),
    "deg2rad": lambda m, x: m.deg2rad(x), "pow_const": lambda m, x: (x + 2.5) ** 1.7,
    "pow_int": lambda m, x: x ** 3, "rpow": lambda m, x: 1.8 ** x,
    "rsub": lambda m, x: 1.5 - x, "rdiv": lambda m, x: 1.5 / (x + 2.5),
}

BINARY = {  # name: f(m, x, y) with y > 0 where needed
    "add": lambda m, x, y: m.add(x, y), "subtract": lambda m, x, y: m.subtract(x, y),
    "multiply": lambda m, x, y: m.multiply(x, y),
    "divide": lambda m, x, y: m.true_divide(x, y * y + 1.0),
    "power": lambda m, x, y: m.power(x + 2.5, y), "arctan2": lambda m, x, y: m.arctan2(x, y),
    "hypot": lambda m, x, y: m.hypot(x, y + 2.5), "logaddexp": lambda m, x, y: m.logaddexp(x, y),
    "maximum": lambda m, x, y: m.maximum(x, y + 0.1234),
    "minimum": lambda m, x, y: m.minimum(x, y - 0.0789),
    "op_add": lambda m, x, y: x + y, "op_sub": lambda m, x, y: x - y,
    "op_mul": lambda m, x, y: x * y, "op_div": lambda m, x, y: x / (y * y + 1.0),
    "op_pow": lambda m, x, y: (x + 2.5) ** y,
}

SHAPES = {"scalar": (), "vector": (4,), "matrix": (2, 4), "row": (1, 4)}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", UNARY)
def test_unary_rule(name, shape):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.9, 1.9, shape)
    v = rng.standard_normal(shape)
    op = UNARY[name]
    check_jvp(op, x, v, value_rtol=1e-15, ad_tol=(1e-12, 1e-14), fd_tol=(1e-6, 1e-8))
    check_second_order(lambda m, z: op(m, z), x, v)


def check_second_order(f, x, v):
    """Second directional derivative by nesting derivative, against autograd's grad of grad."""
    def along(m):
        return lambda t: m.sum(m.cos(f(m, x + t * v)))

    ours = derivative(lambda s: derivative(along(np), s), 0.0)
    theirs = autograd.grad(autograd.grad(along(anp)))(0.0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", BINARY)
def test_binary_rule_with_broadcasting(name):
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.9, 1.9, (3, 4))
    v = rng.standard_normal((3, 4))
    c = rng.uniform(-1.9, 1.9, (3, 1))
    op = BINARY[name]
    cases = {  # dual and dual (broadcast), dual and constant, constant and dual
        "both": lambda m, z: op(m, z[:, :1], z[0]),
        "left": lambda m, z: op(m, z, c[0]),
        "right": lambda m, z: op(m, c, z[0]),
    }
    for case, f in cases.items():
        y, t = jvp(lambda z: f(np, z), x, v)
        assert np.shape(t) == np.shape(y), case
        np.testing.assert_allclose(t, autograd_directional(lambda z: f(anp, z), x, v),
                                   rtol=1e-12, atol=1e-14, err_msg=case)
        check_second_order(f, x, v)


# ---- array functions ---------------------------------------------------------------------------

ARRAY_FUNCTIONS = {  # name: f(m, x) for x of shape (2, 3)
    "sum": lambda m, x: m.sum(x * x, axis=0), "mean": lambda m, x: m.mean(m.sin(x), axis=1),
    "dot": lambda m, x: m.dot(x, m.cos(x).T), "matmul": lambda m, x: x @ m.sin(x.T),
    "where": lambda m, x: m.where(x > 0.1, x * x, m.exp(x)),
    "stack": lambda m, x: m.stack([x[0] * x[1], m.sin(x[1]), x[0]], axis=1),
    "concatenate": lambda m, x: m.concatenate([x[0], x[1] ** 2, m.ones(2)]),
    "clip": lambda m, x: m.clip(x * 3.0, -0.5137, 0.6239),
    "reshape": lambda m, x: m.reshape(m.tanh(x), (3, 2)) * m.arange(3.0)[:, None],
    "transpose": lambda m, x: m.transpose(x) * x.T,
    "max": lambda m, x: m.max(m.sin(x), axis=1), "min": lambda m, x: m.min(x * x),
    "outer": lambda m, x: m.outer(x[0], x[1]), "einsum": lambda m, x: m.einsum("ij,kj->ik", x, x),
    "cumsum": lambda m, x: m.cumsum(x, axis=1), "ravel": lambda m, x: m.ravel(x) ** 2,
}


@pytest.mark.parametrize("name", ARRAY_FUNCTIONS)
def test_array_function_rules(name):
    x = np.array([[0.3, -0.7, 1.1], [0.5, 0.25, -1.3]])
    f = ARRAY_FUNCTIONS[name]
    np.testing.assert_allclose(jacfwd(lambda z: f(np, z))(x),
                               autograd.jacobian(lambda z: f(anp, z))(x), rtol=1e-12, atol=1e-14)
    check_second_order(f, x, np.array([[1.0, 0.5, -2.0], [0.25, -1.0, 1.5]]))


def test_shape_protocol_and_indexing():
    p = np.arange(6.0).reshape(2, 3)
    d = Dual(p, np.ones((2, 3)))
    assert d.shape == (2, 3) and d.ndim == 2 and d.size == 6 and len(d) == 2
    assert np.shape(d) == (2, 3) and np.ndim(d) == 2 and np.size(d) == 6
    assert np.array_equal(np.zeros_like(d), np.zeros((2, 3)))
    assert np.array_equal(np.ones_like(d), np.ones((2, 3)))
    assert np.array_equal(d[1].primal, p[1]) and np.array_equal(d[:, 2].tangent, [1.0, 1.0])
    assert d.T.shape == (3, 2)
    assert [row.primal.tolist() for row in d] == p.tolist()
    # an unbroadcast helper works on duals unchanged
    g = Dual(np.ones((4, 2, 3)), np.full((4, 2, 3), 2.0))
    reduced = np.sum(np.sum(g, axis=0), axis=0, keepdims=True)
    assert reduced.shape == (1, 3) and np.array_equal(reduced.tangent, np.full((1, 3), 16.0))
    # a constant operand that widens the shape widens the tangent too
    w = Dual(2.0, 1.0) + np.zeros(3)
    assert w.tangent.shape == (3,)


def test_tuple_outputs():
    (a, b), (da, db) = jvp(lambda x: (np.sin(x), [x * x, 3.0]), 0.5, 1.0)
    assert (a, da) == (np.sin(0.5), np.cos(0.5))
    assert b[0] == 0.25 and db == (1.0, 0.0)


def test_parts_are_stored_as_given():
    inner = Dual(1.0, 2.0)
    outer = Dual(inner, 3.0)
    assert outer.primal is inner  # never coerced to an array


def test_forward_over_reverse_with_the_tape():
    def f(x):
        return np.sum(np.sin(x) * x[0] + x ** 3)

    def f_anp(x):
        return anp.sum(anp.sin(x) * x[0] + x ** 3)

    x, v = np.array([0.3, -1.2, 0.8]), np.array([1.0, 0.5, -2.0])
    hv = jvp(grad(f), x, v)[1]
    want = autograd_directional(autograd.grad(f_anp), x, v)
    np.testing.assert_allclose(hv, want, rtol=1e-12)


def test_hessians_by_every_nesting_agree_with_autograd():
    from course_lib import jacrev

    def f(m):
        return lambda x: m.sum(m.sin(x) * x[0]) + m.tanh(x[1] * x[2])

    x = np.array([0.3, 0.5, -0.2])
    want = autograd.hessian(f(anp))(x)
    for name, hess in [("fwd-over-fwd", jacfwd(jacfwd(f(np)))),
                       ("fwd-over-rev", jacfwd(grad(f(np)))),
                       ("rev-over-fwd", jacrev(jacfwd(f(np))))]:
        np.testing.assert_allclose(hess(x), want, rtol=1e-12, atol=1e-14, err_msg=name)


FLOATS = st.floats(-3, 3, allow_nan=False).map(lambda a: a + 0.0)


@pytest.mark.parametrize("which", ["both", "left", "right"])
def test_matmul_with_an_inner_dimension_of_one(which):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 4, 1)), rng.normal(size=(1, 3))  # batched outer products

    def f(m, t):
        left = a * (1.0 + t) if which != "right" else a
        right = m.sin(b + t) if which != "left" else b
        return m.matmul(left, right)
    got = jvp(lambda t: f(np, t), 0.3, 1.0)
    np.testing.assert_array_equal(got[0], f(np, 0.3))
    np.testing.assert_allclose(got[1], autograd_directional(lambda t: f(anp, t), 0.3, 1.0),
                               rtol=1e-14)


def test_linear_algebra_rules_against_autograd_and_closed_forms():
    a = np.array([[2.0, 1.0, 0.3], [0.5, 3.0, 0.1], [0.2, 0.4, 1.5]])
    da = np.array([[0.1, -0.2, 0.0], [0.3, 0.1, -0.4], [0.0, 0.2, 0.5]])
    b, db = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.0, 1.0])
    cases = [(lambda m, t: m.linalg.inv(a + t * da)),
             (lambda m, t: m.linalg.solve(a + t * da, b + t * db)),
             (lambda m, t: m.linalg.solve(a, m.outer(b + t * db, b))),
             (lambda m, t: m.linalg.det(a + t * da)),
             (lambda m, t: m.linalg.slogdet(a + t * da)[1]),
             (lambda m, t: m.sort(m.ravel(m.sin(3.0 * (a + t * da))))),
             (lambda m, t: m.linalg.eigh((a + t * da) + (a + t * da).T)[0]),
             (lambda m, t: m.linalg.eigh((a + t * da) + (a + t * da).T)[1] ** 2),  # sign-free
             (lambda m, t: m.linalg.cholesky(m.dot(a + t * da, (a + t * da).T)))]
    for f in cases:
        got = jvp(lambda t: f(np, t), 0.0, 1.0)[1]
        np.testing.assert_allclose(got, autograd_directional(lambda t: f(anp, t), 0.0, 1.0),
                                   rtol=1e-12, atol=1e-14)
    # Jacobi's formula by hand: d det(A) = det(A) tr(A^-1 dA)
    want = np.linalg.det(a) * np.trace(np.linalg.inv(a) @ da)
    np.testing.assert_allclose(jvp(np.linalg.det, a, da)[1], want, rtol=1e-13)
    with pytest.raises(NotImplementedError, match="square matrix or a stack of them"):
        jvp(np.linalg.inv, np.ones((2, 3)), np.ones((2, 3)))


def test_ufunc_keywords_are_refused_with_the_reason():
    d = Dual(np.ones(3), np.ones(3))
    for kwargs in ({"out": np.empty(3)}, {"where": True}):
        with pytest.raises(TypeError, match="keyword arguments"):
            np.multiply(d, 2.0, **kwargs)


# ---- random compositions against autograd and finite differences (hypothesis) -----------------

PRIMITIVES = [("u", op) for op in UNARY.values()] + [("b", op) for op in BINARY.values()]
GRID = st.integers(-60, 60).map(lambda k: k / 32 + 0.0123)  # no exact kinks or ties
X_SHAPES = [(), (3,), (2, 3)]
C_SHAPES = [(), (3,), (2, 1), (1, 3)]  # each broadcasts against every shape in X_SHAPES


@st.composite
def compositions(draw):
    ops = draw(st.lists(st.sampled_from(range(len(PRIMITIVES))), min_size=1, max_size=4))
    x_shape = draw(st.sampled_from(X_SHAPES))
    c_shape = draw(st.sampled_from(C_SHAPES))
    size_x, size_c = int(np.prod(x_shape)), int(np.prod(c_shape))
    x = np.reshape(draw(st.lists(GRID, min_size=size_x, max_size=size_x)), x_shape)
    c = np.reshape(draw(st.lists(GRID, min_size=size_c, max_size=size_c)), c_shape)
    v = np.reshape(draw(st.lists(GRID, min_size=size_x, max_size=size_x)), x_shape)
    mix = draw(st.lists(st.sampled_from(["const", "dual"]), min_size=4, max_size=4))

    def f(m, x0):
        z = x0
        for k, op_index in enumerate(ops):
            kind, op = PRIMITIVES[op_index]
            z = 2.0 * m.tanh(0.5 * z)  # keeps every primitive inside its domain
            if kind == "u":
                z = op(m, z)
            else:
                other = c if mix[k] == "const" else 0.7 * x0 + c
                z = op(m, z, m.tanh(other))
        return z

    return f, float(x) if x_shape == () else x, float(v) if x_shape == () else v


@given(compositions())
def test_compositions_agree_with_autograd_and_finite_differences(case):
    f, x, v = case
    check_jvp(f, x, v, value_rtol=1e-14, ad_tol=(1e-10, 1e-12), fd_tol=(1e-5, 1e-6))


@given(compositions())
def test_second_derivatives_by_nesting_agree_with_autograd(case):
    check_second_order(*case)


# ---- bad input gets a clear error ---------------------------------------------------------------

def test_bad_parts_are_rejected():
    with pytest.raises(TypeError, match="real number"):
        Dual("abc", 1.0)
    with pytest.raises(TypeError, match="real number"):
        Dual(1.0, object())
    with pytest.raises(TypeError, match="real number"):
        Dual(np.array(["a"]))
    with pytest.raises(TypeError, match="real number"):
        derivative(np.sin, "1.0")


def test_non_numeric_output_is_reported():
    with pytest.raises(TypeError, match="returned str"):
        derivative(lambda x: "x", 1.0)
    with pytest.raises(TypeError, match="returned NoneType"):
        jvp(lambda x: None, np.ones(2), np.ones(2))


def test_positions_and_comparisons_run_on_the_primal():
    x, dx = np.array([0.3, 2.0, -1.0]), np.array([1.0, 2.0, 3.0])
    y, dy = jvp(lambda x: x[np.argmax(x)] + x[np.argmin(x)], x, dx)
    assert (y, dy) == (1.0, 5.0)
    np.testing.assert_array_equal(jvp(lambda x: x[np.argsort(x)], x, dx)[1], [3.0, 1.0, 2.0])
    y, dy = jvp(lambda x: np.where(np.isclose(x, 2.0), x, np.full_like(x, 7.0)), x, dx)
    np.testing.assert_array_equal(y, [7.0, 2.0, 7.0])
    np.testing.assert_array_equal(dy, [0.0, 2.0, 0.0])
    assert jvp(lambda x: x * np.allclose(x, x) * np.array_equal(x, x), x, dx)[1].tolist() == [
        1.0, 2.0, 3.0]
    assert jvp(np.degrees, 1.0, 1.0)[1] == 180.0 / np.pi
    assert jvp(np.radians, 1.0, 1.0)[1] == np.pi / 180.0


def test_missing_rules_name_the_function():
    d = Dual(np.eye(2), np.eye(2))
    with pytest.raises(NotImplementedError, match="numpy.linalg.eig"):
        np.linalg.eig(d)
    with pytest.raises(NotImplementedError, match="numpy.logaddexp2"):
        np.logaddexp2(d, 1.0)
    with pytest.raises(NotImplementedError, match="numpy.add.reduce"):
        np.add.reduce(d)


def test_conversions_that_drop_the_tangent_are_refused():
    d = Dual(1.0, 1.0)
    with pytest.raises(TypeError, match="tangent"):
        float(d)
    with pytest.raises(TypeError, match="tangent"):
        math.sin(d)
    with pytest.raises(TypeError, match="np.stack"):
        np.asarray(Dual(np.ones(2), np.ones(2)))
    with pytest.raises(TypeError, match="unsupported operand"):
        d + "a"


def test_shape_errors():
    with pytest.raises(ValueError, match="scalar x"):
        derivative(np.sin, np.ones(3))
    with pytest.raises(ValueError, match="shape of x"):
        jvp(np.sin, np.ones(3), np.ones(2))


def test_defjvp_adds_a_rule_for_both_modes_and_checks_arity(monkeypatch):
    from course_lib.rules import elementwise
    monkeypatch.setitem(elementwise.UFUNC_PARTIALS, np.logaddexp2, None)
    defjvp(np.logaddexp2, lambda out, x, y: 2.0 ** (x - out), lambda out, x, y: 2.0 ** (y - out))

    def f(x):
        return np.logaddexp2(x, 0.5) * x
    want = autograd.grad(lambda x: anp.logaddexp2(x, 0.5) * x)(0.25)
    assert abs(derivative(f, 0.25) - want) < 1e-14
    assert abs(grad(f)(0.25) - want) < 1e-14  # the one rule serves reverse mode too
    want2 = autograd.grad(autograd.grad(lambda x: anp.logaddexp2(x, 0.5) * x))(0.25)
    assert abs(grad(grad(f))(0.25) - want2) < 1e-12
    with pytest.raises(ValueError, match="2 partial"):
        defjvp(np.logaddexp2, lambda out, x: 1.0)


# ---- the scalar fast path of the Python operators gives the rule path's numbers ---------------

EDGE_FLOATS = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 3.0, 1e-300, 1e300])
OPERANDS = st.one_of(EDGE_FLOATS, st.floats(-1e3, 1e3, allow_nan=False),
                     st.integers(-3, 3))  # ints too: x ** 0 and 0 ** y with an integer


def _same(fast, slow):
    """Equal results bit for bit (the sign of a zero too; nan with nan), or the same error."""
    if isinstance(slow, Exception):
        return type(fast) is type(slow)
    return repr(fast.primal) == repr(slow.primal) and repr(fast.tangent) == repr(slow.tangent)


def _outcome(fn):
    try:
        return fn()
    except (ArithmeticError, ValueError) as err:  # Python's own ZeroDivisionError, OverflowError
        return err


TANGENTS = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0]), st.floats(-2, 2, allow_nan=False))


def _both_paths(op, kind, a, b, ta, tb):
    """(the operator's result, the rule path's) for ``a op b`` with a dual on the ``kind`` sides."""
    import operator

    from course_lib import dual
    ufunc = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide,
             "**": np.power, "%": np.remainder}[op]
    python = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
              "**": operator.pow, "%": operator.mod}[op]
    tag = dual.new_tag()
    x = dual._make(float(a), float(ta), tag)
    y = dual._make(float(b), float(tb), tag) if kind == "dual op dual" else b
    left, right = (y, x) if kind == "number op dual" else (x, y)
    with np.errstate(all="ignore"):
        fast = _outcome(lambda: python(left, right))  # the operator: the fast path
        slow = _outcome(lambda: dual._apply_binary(ufunc, left, right, tag))  # the rule path
    return fast, slow


OPS = ["+", "-", "*", "/", "**", "%"]
KINDS = ["dual op dual", "dual op number", "number op dual"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", OPS)
@given(OPERANDS, OPERANDS, TANGENTS, TANGENTS)
def test_the_scalar_fast_path_gives_the_rule_tables_numbers(op, kind, a, b, ta, tb):
    fast, slow = _both_paths(op, kind, a, b, ta, tb)
    assert _same(fast, slow), (fast, slow)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", OPS)
def test_the_scalar_fast_path_at_every_pair_of_edges(op, kind):
    edges = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 1e300, 0, 2, -3]
    for a in edges:
        for b in edges:
            for ta in (0.0, -0.0, 1.0):
                for tb in (0.0, -0.0, -1.0):
                    fast, slow = _both_paths(op, kind, a, b, ta, tb)
                    assert _same(fast, slow), (a, b, ta, tb, fast, slow)


@given(OPERANDS, TANGENTS)
def test_the_scalar_fast_path_of_negation_gives_the_rule_tables_numbers(a, t):
    from course_lib import dual
    tag = dual.new_tag()
    x = dual._make(float(a), float(t), tag)
    assert _same(-x, dual._apply_ufunc(np.negative, (x,), tag))


def test_the_scalar_fast_path_keeps_the_conventions_at_the_edges(monkeypatch):
    """x**0 at 0 and 0**y have the rule table's derivatives with Python floats too (with the
    general path switched off, so that these go through the fast path)."""
    from course_lib import dual

    def general(*args):
        raise AssertionError("the general path ran")
    monkeypatch.setattr(dual, "_apply_binary", general)
    monkeypatch.setattr(dual, "_apply_ufunc", general)
    assert derivative(lambda x: x ** 0.0, 0.0) == 0.0
    assert derivative(lambda x: x ** 0, 0.0) == 0.0
    assert derivative(lambda y: 0.0 ** y, 2.0) == 0.0
    assert derivative(lambda y: 0.0 ** y, 0.0) == 0.0
    assert derivative(lambda x: x ** 2.0, 0.0) == 0.0
    assert derivative(lambda x: -x * x + 1.0 / x - (2.0 - x) ** 3, 2.0) == -2 * 2 - 1 / 4 + 3 * 0.0
