"""Tests of course_lib.composites (np.prod, np.triu, np.pad, ...) and the Cholesky rules, in both
modes: values against numpy itself; first and second derivatives against HIPS autograd where it has
a rule, otherwise against closed forms and finite differences of plain numpy."""
import autograd
import autograd.numpy as anp
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import composites, grad, hessian, hvp, jacfwd, jacrev, jvp
from test_tape import finite_difference_gradient

M = np.array([[0.3, 0.7, 1.2, -0.4], [0.5, -0.9, 1.4, 0.6], [0.2, 0.4, -0.8, 1.1]])
DM = np.random.default_rng(7).normal(size=M.shape)
W = np.random.default_rng(8).normal(size=(6, 6))  # weights that make each output matter


def close(a, b, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rtol, atol=atol)


def flat(xp, out):
    """One vector of a composite's output (split gives a list of arrays)."""
    parts = out if isinstance(out, list) else [out]
    return xp.concatenate([xp.ravel(part) for part in parts])


def weighted(fn, xp):
    """A scalar function of a matrix: the composite's output weighted entry by entry, plus half
    its square, so the Hessian is not zero for the linear composites."""
    def f(a):
        out = flat(xp, fn(xp, a))
        return xp.sum(W.ravel()[:out.shape[0]] * out + 0.5 * out * out)
    return f


def check_both_modes(fn, grad_want, hess_want):
    """grad, hessian (reverse over reverse), hvp (forward over reverse), jvp (forward)."""
    f = weighted(fn, np)
    close(grad(f)(M), grad_want)
    close(hessian(f)(M), hess_want)
    close(hvp(f, M, DM), np.tensordot(hess_want, DM, 2))
    close(jvp(f, M, DM)[1], np.sum(grad_want * DM))
    close(jacfwd(f)(M), grad_want)


# Each composite on a matrix, in numpy's and autograd's spelling (which differ for a few).
WITH_AUTOGRAD = {
    "prod": lambda xp, a: xp.prod(a),
    "prod, axis 0": lambda xp, a: xp.prod(a, axis=0),
    "prod, axis 1, keepdims": lambda xp, a: xp.prod(a, axis=1, keepdims=True),
    "var": lambda xp, a: xp.var(a, axis=1),
    "std, ddof 1": lambda xp, a: xp.std(a, axis=0, ddof=1),
    "norm": lambda xp, a: xp.linalg.norm(a, axis=1),
    "triu": lambda xp, a: xp.triu(a),
    "triu, k = 1": lambda xp, a: xp.triu(a, 1),
    "tril, k = -1": lambda xp, a: xp.tril(a, -1),
    "diag of a matrix": lambda xp, a: xp.diag(a[:, :3], 1),  # autograd: square only
    "diag of a vector": lambda xp, a: xp.diag(a[0]),
    "diag of a vector, k = -2": lambda xp, a: xp.diag(a[1], -2),
    "pad": lambda xp, a: xp.pad(a, ((1, 2), (0, 1)), mode="constant"),
    "split": lambda xp, a: xp.split(a, 2, axis=1)[1],
    "array_split": lambda xp, a: xp.array_split(a, 2)[1],
    "hsplit": lambda xp, a: xp.hsplit(a, [1, 3])[1],
    "cholesky": lambda xp, a: xp.linalg.cholesky(xp.dot(a, a.T) + xp.eye(3)),
}


@pytest.mark.parametrize("name", WITH_AUTOGRAD)
def test_against_autograd_to_second_order(name):
    fn = WITH_AUTOGRAD[name]
    f_auto = weighted(fn, anp)
    check_both_modes(fn, autograd.grad(f_auto)(M), autograd.hessian(f_auto)(M))


# Composites autograd has no rule for: plain numpy's finite differences are the oracle.
WITHOUT_AUTOGRAD = {
    "cumprod": lambda xp, a: xp.cumprod(a, axis=1),
    "cumprod, flattened": lambda xp, a: xp.cumprod(a),
    "average, weights": lambda xp, a: xp.average(a, axis=1, weights=np.array([1., 2., 3., 4.])),
    "average, weights of a's shape": lambda xp, a: xp.average(a, weights=np.abs(M) + 1.0),
    "average, no weights": lambda xp, a: xp.average(a, axis=0),
    "polyval, traced x": lambda xp, a: xp.polyval([0.5, -1.0, 2.0, 3.0], a),
    "polyval, traced coefficients": lambda xp, a: xp.polyval(a[0], np.array([0.5, 2.0])),
    "pad, constant values": lambda xp, a: xp.pad(a, 1, constant_values=2.5),
}


@pytest.mark.parametrize("name", WITHOUT_AUTOGRAD)
def test_against_finite_differences(name):
    fn = WITHOUT_AUTOGRAD[name]
    f = weighted(fn, np)
    g_fd = finite_difference_gradient(f, M)
    g = grad(f)(M)
    close(g, g_fd, rtol=1e-6, atol=1e-7)
    # second order: each Hessian column against a central difference of the gradient above
    # (reverse over reverse against forward over reverse against differences of reverse)
    h = hessian(f)(M)
    steps = 1e-5 * DM
    close(np.tensordot(h, DM, 2), (grad(f)(M + steps) - grad(f)(M - steps)) / 2e-5,
          rtol=1e-5, atol=1e-6)
    close(hvp(f, M, DM), np.tensordot(h, DM, 2))
    close(jvp(f, M, DM)[1], np.sum(g_fd * DM), rtol=1e-6, atol=1e-7)


ALL = {**WITH_AUTOGRAD, **WITHOUT_AUTOGRAD}


@pytest.mark.parametrize("name", ALL)
def test_values_equal_numpy(name):
    fn = ALL[name]
    want = fn(np, M)
    on_dual = jvp(lambda a: fn(np, a), M, DM)[0]  # the composite ran on a Dual
    shapes = [np.shape(part) for part in (want if isinstance(want, list) else [want])]
    assert shapes == [np.shape(part) for part in (on_dual if isinstance(on_dual, list)
                                                  else [on_dual])]
    close(flat(np, on_dual), flat(np, want), rtol=1e-14, atol=1e-14)


# ---- np.prod and np.cumprod at zeros: closed forms -------------------------------------------

vectors_with_zeros = hnp.arrays(np.float64, st.integers(1, 9),
                                elements=st.sampled_from([0.0, 0.0, -1.5, -0.5, 0.5, 2.0, 3.0]))


@settings(max_examples=40, deadline=None)
@given(vectors_with_zeros)
def test_prod_derivatives_are_products_of_the_others(x):
    n = len(x)
    others = np.array([np.prod(np.delete(x, i)) for i in range(n)])
    pairs = np.array([[np.prod(np.delete(x, [i, j])) if i != j else 0.0 for j in range(n)]
                      for i in range(n)])
    close(grad(np.prod)(x), others, rtol=1e-12, atol=0)
    close(jacfwd(np.prod)(x), others, rtol=1e-12, atol=0)
    close(hessian(np.prod)(x), pairs, rtol=1e-12, atol=0)


@settings(max_examples=40, deadline=None)
@given(vectors_with_zeros)
def test_cumprod_jacobian_is_products_of_the_others(x):
    n = len(x)
    want = np.array([[np.prod(np.delete(x[:k + 1], i)) if i <= k else 0.0 for i in range(n)]
                     for k in range(n)])
    close(composites.cumprod(x), np.cumprod(x), rtol=1e-15, atol=0)
    close(jacrev(np.cumprod)(x), want, rtol=1e-12, atol=0)
    close(jacfwd(np.cumprod)(x), want, rtol=1e-12, atol=0)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                  elements=st.floats(-2, 2)), st.data())
def test_prod_on_plain_arrays_equals_numpy(a, data):
    axis = data.draw(st.sampled_from([None] + list(range(-a.ndim, a.ndim))
                                     + ([(0, a.ndim - 1)] if a.ndim > 1 else [])))
    keepdims = data.draw(st.booleans())
    close(composites.prod(a, axis=axis, keepdims=keepdims), np.prod(a, axis=axis,
                                                                      keepdims=keepdims),
          rtol=1e-13, atol=1e-300)


# ---- errors and methods ----------------------------------------------------------------------

def test_unsupported_forms_say_what_is_supported():
    with pytest.raises(NotImplementedError, match="mode='constant'"):
        grad(lambda a: np.sum(np.pad(a, 1, mode="edge")))(M)
    with pytest.raises(NotImplementedError, match="1-d"):
        jvp(lambda v: np.triu(v), M[0], M[0])
    with pytest.raises(NotImplementedError, match="square 2-d matrix"):
        grad(lambda a: np.sum(np.linalg.cholesky(a)))(M)
    with pytest.raises(ValueError, match="equal division"):
        grad(lambda a: np.sum(np.split(a, 3, axis=1)[0]))(M)
    with pytest.raises(TypeError, match="drop the derivative"):
        grad(lambda a: np.sum(a.astype(int)))(M)


def test_methods_forward_to_the_functions():
    for method in ["prod", "var", "std", "cumsum", "cumprod", "flatten", "copy"]:
        f = lambda a: np.sum(getattr(a, method)() ** 2)  # noqa: E731
        fa = lambda a: anp.sum(getattr(anp, {"flatten": "ravel", "copy": "array"}.get(  # noqa
            method, method))(a) ** 2)
        if method == "cumprod":
            want = finite_difference_gradient(lambda a: np.sum(np.cumprod(a) ** 2), M)
            close(grad(f)(M), want, rtol=1e-6, atol=1e-7)
        else:
            close(grad(f)(M), autograd.grad(fa)(M))
        close(jvp(f, M, DM)[1], np.sum(grad(f)(M) * DM))
    close(grad(lambda a: np.sum(a.astype(np.float64) ** 2))(M), 2 * M)
