"""Tests of course_lib.rules, primitive by primitive: every linear primitive's transpose satisfies
<u, L v> = <L^T u, v> and its shape rule gives numpy's shape; every nonlinear primitive's JVP
matches central differences, and the reverse mode derived from it matches HIPS autograd."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from course_lib import grad, hessian, jvp
from course_lib.rules import complexes, fft, linalg, products, structural
from course_lib.rules.primitive import Primitive

RNG = np.random.default_rng(11)


def r(*shape):
    return RNG.standard_normal(shape)


def c(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


A3 = r(3, 3) + 3 * np.eye(3)
SPD = A3 @ A3.T

# (primitive, the arguments, the positions it is linear in, params): each case is checked for
# each linear position k, with the other arguments held as they are
LINEAR_CASES = {
    "reshape": (structural.RESHAPE, [r(2, 3)], {"shape": (3, 2)}),
    "reshape with -1": (structural.RESHAPE, [r(2, 3, 2)], {"shape": (-1, 2)}),
    "transpose": (structural.TRANSPOSE, [r(2, 3, 4)], {"axes": (2, 0, 1)}),
    "transpose, reversed": (structural.TRANSPOSE, [r(2, 3)], {"axes": None}),
    "broadcast_to": (structural.BROADCAST, [r(3, 1)], {"shape": (2, 3, 4)}),
    "sum over axes": (structural.SUM, [r(2, 3, 4)], {"axis": (0, 2), "keepdims": False}),
    "sum, keepdims": (structural.SUM, [r(2, 3)], {"axis": (1,), "keepdims": True}),
    "sum of all": (structural.SUM, [r(2, 3)], {"axis": None, "keepdims": False}),
    "getitem, repeated fancy index": (structural.GETITEM, [r(4, 5)],
                                      {"index": (np.array([0, 2, 2]), slice(1, 4))}),
    "getitem, basic": (structural.GETITEM, [r(4, 5)], {"index": (slice(None, None, -1), 2)}),
    "unindex": (structural.UNINDEX, [r(3, 3)], {"index": (np.array([0, 2, 2]), slice(1, 4)),
                                                "shape": (4, 5)}),
    "concatenate": (structural.CONCATENATE, [r(2, 3), r(2, 1)], {"axis": 1}),
    "where": (structural.WHERE, [r(2, 3), r(3)], {"condition": r(2, 3) > 0}),
    "cumsum along an axis": (structural.CUMSUM, [r(2, 3)], {"axis": 1}),
    "cumsum flattened": (structural.CUMSUM, [r(2, 3)], {"axis": None}),
    "matmul": (products.MATMUL, [r(2, 3), r(3, 4)], {}),
    "matmul, batched with broadcasting": (products.MATMUL, [r(2, 1, 3, 4), r(5, 4, 2)], {}),
    "matmul, vector on the right": (products.MATMUL, [r(2, 3), r(3)], {}),
    "matmul, vector on the left": (products.MATMUL, [r(3), r(2, 3, 4)], {}),
    "matmul, two vectors": (products.MATMUL, [r(3), r(3)], {}),
    "einsum, a contraction": (products.EINSUM, [r(2, 3), r(3, 4)], {"subscripts": "ij,jk->ik"}),
    "einsum, an index only one operand has": (products.EINSUM, [r(2, 3), r(4)],
                                              {"subscripts": "ij,k->ik"}),
    "einsum, three operands": (products.EINSUM, [r(2, 3), r(3), r(2)],
                               {"subscripts": "ij,j,i->"}),
    "solve, in b": (linalg.SOLVE, [A3, r(3, 2)], {}),
    "real part": (complexes.REAL, [c(2, 3)], {}),
    "imaginary part": (complexes.IMAG, [c(2, 3)], {}),
    "conjugate": (complexes.CONJ, [c(4)], {}),
    "fftn, padded and cut": (fft.FFTN, [c(3, 4, 5)], {"s": (6, 3), "axes": (0, 2),
                                                      "norm": "backward"}),
    "fftn of a real signal": (fft.FFTN, [r(4, 6)], {"s": (4, 6), "axes": (0, 1),
                                                   "norm": "ortho"}),
    "ifftn": (fft.IFFTN, [c(5, 4)], {"s": (5,), "axes": (0,), "norm": "backward"}),
    "ifftn, forward norm": (fft.IFFTN, [c(3, 4)], {"s": (3, 6), "axes": (0, 1),
                                                  "norm": "forward"}),
    "rfftn, even length": (fft.RFFTN, [r(3, 8)], {"s": (8,), "axes": (1,), "norm": "backward"}),
    "rfftn, odd length, padded": (fft.RFFTN, [r(4, 5)], {"s": (3, 7), "axes": (0, 1),
                                                        "norm": "forward"}),
    "irfftn, even length": (fft.IRFFTN, [c(3, 5)], {"s": (8,), "axes": (1,),
                                                    "norm": "backward"}),
    "irfftn, odd length, cut": (fft.IRFFTN, [c(4, 6)], {"s": (3, 7), "axes": (0, 1),
                                                       "norm": "ortho"}),
}


def _cases():
    for name, (prim, args, params) in LINEAR_CASES.items():
        for k in range(len(args)):
            if prim.is_linear_in(k):
                yield pytest.param(prim, args, params, k, id=f"{name}, argument {k}")


def _inner(u, v):
    """The real inner product Re(sum(conj(u) * v)) (complex numbers as pairs of reals)."""
    return np.real(np.sum(np.conj(u) * v))


def _like(x):
    """A random array of the shape and kind (real or complex) of ``x``."""
    return c(*np.shape(x)) if np.iscomplexobj(x) else r(*np.shape(x))


@pytest.mark.parametrize("prim, args, params, k", list(_cases()))
def test_transpose_is_the_adjoint_and_the_shape_rule_is_numpys(prim, args, params, k):
    # v -> the primitive with v in position k; the other arguments are held (the factors of a
    # product, solve's matrix) or zero (the other inputs of a jointly linear map: concatenate)
    others = [np.zeros_like(a) if prim.is_linear_in(j) and not prim.multilinear else a
              for j, a in enumerate(args)]

    def linear_map(v):
        return prim.impl(*others[:k], v, *others[k + 1:], **params)
    out = linear_map(args[k])
    assert tuple(prim.shape(*args, **params)) == np.shape(out)
    if prim.dtype is not None:
        assert prim.dtype(*args, **params) == out.dtype
    v, u = _like(args[k]), _like(out)
    lhs = _inner(u, linear_map(v))
    back = prim.transpose(k, u, *others, **params)
    assert np.shape(back) == np.shape(args[k])
    assert np.iscomplexobj(args[k]) or not np.iscomplexobj(back)  # real input, real cotangent
    np.testing.assert_allclose(lhs, _inner(back, v), rtol=1e-12, atol=1e-12)


def test_every_linear_primitive_of_the_rules_has_a_case():
    linear = {p.name for m in (structural, products, linalg, complexes, fft)
              for p in vars(m).values()
              if isinstance(p, Primitive) and p.transpose is not None}
    tested = {prim.name for prim, _, _ in LINEAR_CASES.values()}
    assert linear == tested, linear ^ tested


# nonlinear primitives, through the numpy functions that reach them: value, JVP against central
# differences, gradient and Hessian (derived by linearize-then-transpose) against autograd
NONLINEAR = {
    "inv": (lambda m, a: m.linalg.inv(a), A3),
    "inv of a stack": (lambda m, a: m.linalg.inv(a), np.stack([A3, A3.T + np.eye(3)])),
    "solve, in A and b": (lambda m, a: m.linalg.solve(a, a[:, 0] + 1.0), A3),
    "det": (lambda m, a: m.linalg.det(a), A3),
    "det of a stack": (lambda m, a: m.linalg.det(a), np.stack([A3, A3.T + np.eye(3)])),
    "slogdet": (lambda m, a: m.linalg.slogdet(a)[1], A3),
    "cholesky": (lambda m, a: m.linalg.cholesky(m.dot(a, a.T)), A3),
    "eigh values": (lambda m, a: m.linalg.eigh(a + a.T)[0], A3),
    "eigh vectors (squared: sign-free)": (lambda m, a: m.linalg.eigh(a + a.T)[1] ** 2, A3),
    "cholesky of a stack": (lambda m, a: m.linalg.cholesky(m.matmul(a, m.swapaxes(a, -1, -2))),
                            np.stack([A3, A3.T + np.eye(3)])),
    "eigh of a stack": (lambda m, a: m.linalg.eigh(a + m.swapaxes(a, -1, -2))[0],
                        np.stack([A3, A3.T + np.eye(3)])),
    "eigh vectors of a stack": (lambda m, a: m.linalg.eigh(a + m.swapaxes(a, -1, -2))[1] ** 2,
                                np.stack([A3, A3.T + np.eye(3)])),
    "abs of a complex value": (lambda m, a: m.abs(a[:, :2] @ m.array([1.0, 2.0j]) + a), A3),
    "max over an axis": (lambda m, a: m.max(a, axis=1), A3),
    "min of all": (lambda m, a: m.min(a), A3),
}


def _weights(f, x):
    return np.random.default_rng(3).standard_normal(np.shape(f(np, x)))


@pytest.mark.parametrize("name", list(NONLINEAR))
def test_nonlinear_rules_against_differences_and_autograd(name):
    f, x = NONLINEAR[name]
    w = _weights(f, x)
    v = np.random.default_rng(4).standard_normal(np.shape(x))
    value, tangent = jvp(lambda a: f(np, a), x, v)
    np.testing.assert_allclose(value, f(np, x), rtol=1e-13)
    h = 1e-6
    fd = (f(np, x + h * v) - f(np, x - h * v)) / (2 * h)
    np.testing.assert_allclose(tangent, fd, rtol=1e-6, atol=1e-7)
    scalar = lambda m: lambda a: m.sum(w * f(m, a))  # noqa: E731
    np.testing.assert_allclose(grad(scalar(np))(x), autograd.grad(scalar(anp))(x),
                               rtol=1e-9, atol=1e-11)
    if np.ndim(x) == 2 and not name.startswith(("max", "min")):  # second order (a piecewise
        # linear max has a zero Hessian, about which autograd warns)
        np.testing.assert_allclose(hessian(scalar(np))(x), autograd.hessian(scalar(anp))(x),
                                   rtol=1e-8, atol=1e-10)


def test_a_rule_that_is_not_linear_in_its_tangent_is_reported():
    square = Primitive("bad square", np.square, jvp=lambda ts, out, x: ts[0] * ts[0])
    from course_lib.rules.primitive import bind
    with pytest.raises(TypeError, match="not linear"):
        grad(lambda x: np.sum(bind(square, x)))(np.ones(2))


# ---- the extension API: a rule of your own, for both modes ------------------------------------

def test_custom_jvp_straight_through_rounding_in_both_modes_and_second_order():
    from course_lib import custom_jvp, derivative

    @custom_jvp
    def round_ste(x):
        return np.round(x)

    @round_ste.defjvp
    def _(primals, tangents):
        return round_ste(*primals), tangents[0]  # the derivative of rounding taken to be 1

    def f(x):
        return np.sum(round_ste(x) * x)
    x = np.array([0.3, 1.7, -2.4])
    np.testing.assert_array_equal(grad(f)(x), np.round(x) + x)  # d/dx [r(x) x] = x + r(x)
    np.testing.assert_array_equal(jvp(f, x, np.ones(3))[1], np.sum(np.round(x) + x))
    np.testing.assert_array_equal(hessian(f)(x), 2 * np.eye(3))  # the rule applies at each order
    assert derivative(lambda t: derivative(lambda s: round_ste(s) * s, t), 0.4) == 2.0
    assert float(f(x)) == float(np.sum(np.round(x) * x))


def test_custom_jvp_stable_formula_against_autograd():
    from course_lib import custom_jvp

    @custom_jvp
    def softplus(x):
        return np.logaddexp(0.0, x)

    @softplus.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        y = softplus(x)
        return y, t * np.exp(x - y)  # the logistic function, exp(x - log(1 + e^x)): no overflow
    x = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    want = autograd.elementwise_grad(lambda z: anp.logaddexp(0.0, z))(x)
    np.testing.assert_allclose(grad(lambda z: np.sum(softplus(z)))(x), want, rtol=1e-15)
    with pytest.raises(TypeError, match="no derivative rule yet"):
        from course_lib import custom_jvp as cj
        cj(np.sin)(1.0)


def test_stop_gradient_makes_a_constant_in_both_modes():
    from course_lib import derivative, stop_gradient
    assert grad(lambda x: x * stop_gradient(x))(3.0) == 3.0
    assert derivative(lambda x: x * stop_gradient(x), 3.0) == 3.0
    assert derivative(lambda x: grad(lambda y: y * stop_gradient(x * y))(2.0), 3.0) == 0.0


# ---- more of numpy: remainders, partition, norms -------------------------------------------------

AUTOGRAD_HAS = {"x % 0.7", "2.5 % x", "np.mod", "norm, ord 3", "matrix norm, fro, keepdims"}


@pytest.mark.parametrize("name, f", [
    ("x % 0.7", lambda m, x: x % 0.7),
    ("2.5 % x", lambda m, x: 2.5 % x),
    ("np.mod", lambda m, x: m.mod(x, 4.0 + 0.1 * x[::-1])),
    ("np.fmod", lambda m, x: m.fmod(x, 0.7)),
    ("partition", lambda m, x: m.partition(x * x[::-1], 2) if m is np else m.sort(x * x[::-1])),
    ("norm, ord 1", lambda m, x: m.linalg.norm(x, 1)),
    ("norm, ord inf", lambda m, x: m.linalg.norm(x, m.inf)),
    ("norm, ord 3", lambda m, x: m.linalg.norm(x, 3)),
    ("norm of rows, ord -inf", lambda m, x: m.linalg.norm(m.reshape(x, (2, 3)), -m.inf, axis=1)),
    ("matrix norm, ord 1", lambda m, x: m.linalg.norm(m.reshape(x, (2, 3)), 1)),
    ("matrix norm, ord inf", lambda m, x: m.linalg.norm(m.reshape(x, (2, 3)), m.inf)),
    ("matrix norm, fro, keepdims", lambda m, x: m.linalg.norm(m.reshape(x, (2, 3)), "fro",
                                                              keepdims=True)),
])
def test_more_functions_against_numpy_differences_and_autograd(name, f):
    x = np.array([1.3, -0.4, 2.2, -1.9, 0.6, 3.1])
    w = np.random.default_rng(5).standard_normal(np.shape(f(np, x)))
    if name != "partition":  # the arrangement of partition is numpy's own, so compare values
        np.testing.assert_allclose(f(np, x), f(anp, x), rtol=1e-15)
    scalar = lambda m: lambda z: m.sum(w * f(m, z) ** 2)  # noqa: E731
    g = grad(scalar(np))(x)
    h = 1e-6
    fd = [(scalar(np)(x + h * e) - scalar(np)(x - h * e)) / (2 * h) for e in np.eye(6)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jvp(scalar(np), x, np.ones(6))[1], np.sum(g), rtol=1e-12)
    if name in AUTOGRAD_HAS:
        np.testing.assert_allclose(g, autograd.grad(scalar(anp))(x), rtol=1e-12)
        np.testing.assert_allclose(hessian(scalar(np))(x), autograd.hessian(scalar(anp))(x),
                                   rtol=1e-9, atol=1e-12)


# ---- the singular value decomposition and what is built on it ------------------------------------

@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (3, 3)])
def test_svd_in_both_modes_to_second_order_against_autograd(shape):
    a = np.random.default_rng(sum(shape)).standard_normal(shape)
    k = min(shape)
    w = [np.random.default_rng(9).standard_normal(s) for s in [(shape[0], k), (k,), (k, shape[1])]]

    def f(m):  # squares of U and V: free of the arbitrary sign of each singular pair
        def g(x):
            u, s, vh = m.linalg.svd(x, full_matrices=False)
            return m.sum(w[0] * u ** 2) + m.sum(w[1] * s) + m.sum(w[2] * vh ** 2)
        return g
    np.testing.assert_allclose(grad(f(np))(a), autograd.grad(f(anp))(a), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hessian(f(np))(a), autograd.hessian(f(anp))(a), rtol=1e-8,
                               atol=1e-10)
    v, h = np.random.default_rng(10).standard_normal(shape), 1e-6
    fd = (f(np)(a + h * v) - f(np)(a - h * v)) / (2 * h)
    np.testing.assert_allclose(jvp(f(np), a, v)[1], fd, rtol=1e-6)


@pytest.mark.parametrize("name, f", [
    ("pinv of a tall matrix", lambda m, a: m.linalg.pinv(a)),
    ("pinv of a wide matrix", lambda m, a: m.linalg.pinv(m.transpose(a))),
    ("matrix 2-norm", lambda m, a: m.linalg.norm(a, 2)),
    ("matrix -2-norm", lambda m, a: m.linalg.norm(a, -2)),
    ("nuclear norm", lambda m, a: m.linalg.norm(a, "nuc")),
])
def test_functions_of_the_svd_against_numpy_and_autograd(name, f):
    a = np.random.default_rng(12).standard_normal((4, 3))
    np.testing.assert_allclose(f(np, a), f(np, np.asarray(a)), rtol=1e-13)
    np.testing.assert_allclose(f(np, a), {"pinv of a tall matrix": np.linalg.pinv(a),
                                          "pinv of a wide matrix": np.linalg.pinv(a.T),
                                          "matrix 2-norm": np.linalg.norm(a, 2),
                                          "matrix -2-norm": np.linalg.norm(a, -2),
                                          "nuclear norm": np.linalg.norm(a, "nuc")}[name],
                               rtol=1e-12)
    w = np.random.default_rng(13).standard_normal(np.shape(f(np, a)))
    scalar = lambda m: lambda x: m.sum(w * f(m, x))  # noqa: E731
    h, v = 1e-6, np.random.default_rng(14).standard_normal(a.shape)
    fd = (scalar(np)(a + h * v) - scalar(np)(a - h * v)) / (2 * h)
    np.testing.assert_allclose(np.sum(grad(scalar(np))(a) * v), fd, rtol=1e-6)
    np.testing.assert_allclose(jvp(scalar(np), a, v)[1], fd, rtol=1e-6)
    if name.startswith("pinv"):
        np.testing.assert_allclose(grad(scalar(np))(a), autograd.grad(scalar(anp))(a),
                                   rtol=1e-10)
