"""Tests of course_lib.rules, primitive by primitive: every linear primitive's transpose satisfies
<u, L v> = <L^T u, v> and its shape rule gives numpy's shape; every nonlinear primitive's JVP
matches central differences, and the reverse mode derived from it matches HIPS autograd."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from course_lib import grad, hessian, jvp
from course_lib.rules import linalg, products, structural
from course_lib.rules.primitive import Primitive

RNG = np.random.default_rng(11)


def r(*shape):
    return RNG.standard_normal(shape)


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
}


def _cases():
    for name, (prim, args, params) in LINEAR_CASES.items():
        for k in range(len(args)):
            if prim.is_linear_in(k):
                yield pytest.param(prim, args, params, k, id=f"{name}, argument {k}")


@pytest.mark.parametrize("prim, args, params, k", list(_cases()))
def test_transpose_is_the_adjoint_and_the_shape_rule_is_numpys(prim, args, params, k):
    # v -> the primitive with v in position k; the other arguments are held (the factors of a
    # product, solve's matrix) or zero (the other inputs of a jointly linear map: concatenate)
    others = [np.zeros(np.shape(a)) if prim.is_linear_in(j) and not prim.multilinear else a
              for j, a in enumerate(args)]

    def linear_map(v):
        return prim.impl(*others[:k], v, *others[k + 1:], **params)
    out = linear_map(args[k])
    assert tuple(prim.shape(*args, **params)) == np.shape(out)
    v, u = r(*np.shape(args[k])), r(*np.shape(out))
    lhs = np.sum(u * linear_map(v))
    back = prim.transpose(k, u, *others, **params)
    assert np.shape(back) == np.shape(args[k])
    np.testing.assert_allclose(lhs, np.sum(back * v), rtol=1e-12, atol=1e-12)


def test_every_linear_primitive_of_the_rules_has_a_case():
    linear = {p.name for m in (structural, products, linalg) for p in vars(m).values()
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
