"""Tests of course_lib.composites (np.prod, np.triu, np.sinc, ...) and the Cholesky rules, in both
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
NANS = np.array([[True, False, False, False], [False, False, True, False], [False] * 4])
SPECIAL = np.array([[np.nan, 0, 0, 0], [0, np.inf, 0, 0], [0, 0, 0, -np.inf]])  # nan, +inf, -inf


def close(a, b, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rtol, atol=atol)


def flat(xp, out):
    """One vector of a composite's output."""
    return xp.concatenate([xp.ravel(part) for part in parts(out)])


def parts(out):
    """The arrays of a composite's output: split gives a list, atleast_3d and retstep a tuple."""
    return list(out) if isinstance(out, (list, tuple)) else [out]


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
    "dsplit": lambda xp, a: xp.dsplit(xp.reshape(a, (1, 3, 4)), 2)[1],
    "dsplit, indices": lambda xp, a: xp.dsplit(xp.reshape(a, (3, 2, 2)), [1])[0],
    "flipud": lambda xp, a: xp.flipud(a),
    "fliplr": lambda xp, a: xp.fliplr(a),
    "rot90": lambda xp, a: xp.rot90(a),
    "rot90, k = 2": lambda xp, a: xp.rot90(a, 2),
    "rot90, k = -1": lambda xp, a: xp.rot90(a, -1),
    "rollaxis": lambda xp, a: xp.rollaxis(xp.reshape(a, (3, 2, 2)), 2),  # autograd: axis >= 0
    "rollaxis, start 3": lambda xp, a: xp.rollaxis(xp.reshape(a, (3, 2, 2)), 0, 3),
    "atleast_3d of a matrix": lambda xp, a: xp.atleast_3d(a),
    "atleast_3d of a vector": lambda xp, a: xp.atleast_3d(a[1]),
    "atleast_3d of a number": lambda xp, a: xp.atleast_3d(a[1, 2]),
    "select": lambda xp, a: xp.select([a > 0.5, a < 0], [a * a, xp.sin(a)], default=a),
    "select, constant default": lambda xp, a: xp.select([a > 0.5], [a * a], default=-1.0),
    "sinc": lambda xp, a: xp.sinc(a),
    "sinc, around 0": lambda xp, a: xp.sinc(0.2 * a),  # the Taylor branch, |pi x| < 1
    "nan_to_num": lambda xp, a: xp.nan_to_num(xp.where(NANS, np.nan, a)),
    "linspace": lambda xp, a: xp.linspace(a[0, 0], a[1, 1], 5),  # autograd: numbers only
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
    "rot90, axes (1, 0)": lambda xp, a: xp.rot90(a, axes=(1, 0)),
    "rot90 of a 3-d array, k = 3, axes (-1, 0)": lambda xp, a: xp.rot90(
        xp.reshape(a, (3, 2, 2)), 3, axes=(-1, 0)),
    "rollaxis, negative axis and start": lambda xp, a: xp.rollaxis(
        xp.reshape(a, (3, 2, 2)), -1, -2),
    "atleast_3d of several": lambda xp, a: xp.atleast_3d(a[0, 0], a[0], a),
    "select, broadcast choices": lambda xp, a: xp.select(
        [a > 1.0, np.array([True, False, True, False])], [xp.sum(a), a[0]], default=a[:, 1:2]),
    "nan_to_num, nan and inf": lambda xp, a: xp.nan_to_num(
        xp.where(np.isnan(SPECIAL) | np.isinf(SPECIAL), SPECIAL, a), nan=1.5, posinf=3.0,
        neginf=-4.0),
    "linspace of rows": lambda xp, a: xp.linspace(a[0], a[1], 4),
    "linspace, no endpoint, axis -1": lambda xp, a: xp.linspace(a[:, :1], a[:, 1:3], 3,
                                                                endpoint=False, axis=-1),
    "linspace, constant start, retstep": lambda xp, a: xp.linspace(0.5, a[2], 3, retstep=True),
    "linspace, constant stop, axis 1": lambda xp, a: xp.linspace(a[1], 2.0, 5, axis=1),
    "linspace, num 1": lambda xp, a: xp.linspace(a[0, 0], a[0, 1], 1),
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
    assert [np.shape(part) for part in parts(want)] == [np.shape(part) for part in parts(on_dual)]
    close(flat(np, on_dual), flat(np, want), rtol=1e-14, atol=1e-14)


# The composites called directly on plain arrays, edge cases included: numpy's own numbers.
T = np.arange(24.0).reshape(2, 3, 4)
ON_PLAIN_ARRAYS = {
    "linspace, numbers": (composites.linspace, (2.0, 3.0, 5), {}),
    "linspace, integers": (composites.linspace, (1, 10, 7), {}),
    "linspace, no endpoint, retstep": (composites.linspace, (2.0, 3.0, 5),
                                       {"endpoint": False, "retstep": True}),
    "linspace, num 0": (composites.linspace, (0.0, 1.0, 0), {}),
    "linspace, num 1, retstep (nan)": (composites.linspace, (0.5, 1.0, 1), {"retstep": True}),
    "linspace, num 1, no endpoint": (composites.linspace, (0.5, 1.0, 1), {"endpoint": False}),
    "linspace, start = stop in one column": (composites.linspace, (M[0], np.where(
        [True, False, True, False], M[0], M[1]), 6), {"axis": -1}),
    "linspace, tiny steps": (composites.linspace, (0.0, 1e-320, 3), {}),
    "linspace, broadcast ends": (composites.linspace, (M[:, :1], M, 4), {"axis": 1}),
    "flipud of a vector": (composites.flipud, (M[0],), {}),
    "fliplr of a 3-d array": (composites.fliplr, (T,), {}),
    "rollaxis, start = ndim": (composites.rollaxis, (T, 0, 3), {}),
    "rollaxis, no move": (composites.rollaxis, (T, 1, 2), {}),
    "atleast_3d of a 3-d array": (composites.atleast_3d, (T,), {}),
    "dsplit": (composites.dsplit, (T, [1, 3]), {}),
    "select, first true wins": (composites.select, ([M > 0, M > 0.5], [M, -M], 7.0), {}),
    "nan_to_num, defaults": (composites.nan_to_num, (SPECIAL,), {}),
    "nan_to_num, float32": (composites.nan_to_num, (SPECIAL.astype(np.float32),), {}),
    "nan_to_num, integers": (composites.nan_to_num, (np.arange(3),), {}),
    "sinc": (composites.sinc, (np.array([0.0, -0.0, 1e-300, 1e-8, 0.3, -1 / np.pi, 1 / np.pi,
                                         0.5, 1.0, -2.5, 7.25, 1e6]),), {}),
}
ON_PLAIN_ARRAYS.update({f"rot90, k = {k}, axes {axes}": (composites.rot90, (T, k, axes), {})
                        for k in range(-5, 6) for axes in [(0, 1), (1, 0), (2, 0), (-1, 1)]})


@pytest.mark.parametrize("name", ON_PLAIN_ARRAYS)
def test_on_plain_arrays_equal_numpy(name):
    composite, args, kwargs = ON_PLAIN_ARRAYS[name]
    got, want = composite(*args, **kwargs), getattr(np, composite.__name__)(*args, **kwargs)
    assert [np.shape(part) for part in parts(got)] == [np.shape(part) for part in parts(want)]
    for g, w in zip(parts(got), parts(want)):
        np.testing.assert_allclose(g, w, rtol=3e-16 if composite is composites.sinc else 0,
                                   atol=0)


# ---- np.sinc at and near 0, np.nan_to_num on nan and inf: closed forms -----------------------

def test_sinc_at_zero_is_one_with_curvature_minus_pi_squared_over_three():
    curvature = -np.pi ** 2 / 3
    assert composites.sinc(0.0) == 1.0
    close(grad(np.sinc)(0.0), 0.0, atol=0)
    close(jvp(np.sinc, 0.0, 1.0), (1.0, 0.0), atol=0)
    close(hessian(np.sinc)(0.0), curvature, rtol=1e-15)
    close(hvp(np.sinc, 0.0, 1.0), curvature, rtol=1e-15)
    close(jacfwd(grad(np.sinc))(0.0), curvature, rtol=1e-15)
    # entry by entry in an array holding zeros; near 0, the Taylor series of sin(t)/t
    x = np.array([0.0, -0.0, 1e-6, -3e-4, 0.25])
    t = np.pi * x
    d1 = np.pi * (-t / 3 + t ** 3 / 30 - t ** 5 / 840)
    d2 = np.pi ** 2 * (-1 / 3 + t ** 2 / 10 - t ** 4 / 168 + t ** 6 / 6480)
    d1[-1], d2[-1] = [np.cos(t[-1]) / x[-1] - np.sin(t[-1]) / (np.pi * x[-1] ** 2),
                      -np.pi * np.sin(t[-1]) / x[-1] - 2 * np.cos(t[-1]) / x[-1] ** 2
                      + 2 * np.sin(t[-1]) / (np.pi * x[-1] ** 3)]
    f = lambda v: np.sum(np.sinc(v))  # noqa: E731
    close(grad(f)(x), d1, rtol=1e-13, atol=1e-300)
    close(jacfwd(np.sinc)(x), np.diag(d1), rtol=1e-13, atol=1e-300)
    close(hessian(f)(x), np.diag(d2), rtol=1e-13, atol=1e-300)
    close(hvp(f, x, np.ones(5)), d2, rtol=1e-13)


def test_nan_to_num_replaces_with_constants_and_passes_finite_entries_through():
    x = np.array([np.nan, np.inf, -np.inf, 1.5, -2.0])
    finite = np.isfinite(x).astype(float)
    for kwargs in [{}, {"nan": -1.0, "posinf": 5.0, "neginf": -5.0}]:
        want = np.nan_to_num(x, **kwargs)
        close(composites.nan_to_num(x, **kwargs), want, rtol=0, atol=0)
        value, tangent = jvp(lambda v: np.nan_to_num(v, **kwargs), x, np.arange(5.0))
        close(value, want, rtol=0, atol=0)
        close(tangent, finite * np.arange(5.0), atol=0)
        close(jacrev(lambda v: np.nan_to_num(v, **kwargs))(x), np.diag(finite), atol=0)
        close(jacfwd(lambda v: np.nan_to_num(v, **kwargs))(x), np.diag(finite), atol=0)
    f = lambda v: np.sum(np.nan_to_num(v, posinf=5.0, neginf=-5.0) ** 2)  # noqa: E731
    close(grad(f)(x), 2 * finite * np.nan_to_num(x), atol=0)
    close(hessian(f)(x), np.diag(2 * finite), atol=0)
    close(hvp(f, x, np.ones(5)), 2 * finite, atol=0)


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
    with pytest.raises(NotImplementedError, match="square matrix or a stack"):
        grad(lambda a: np.sum(np.linalg.cholesky(a)))(M)
    with pytest.raises(ValueError, match="equal division"):
        grad(lambda a: np.sum(np.split(a, 3, axis=1)[0]))(M)
    with pytest.raises(TypeError, match="drop the derivative"):
        grad(lambda a: np.sum(a.astype(int)))(M)
    with pytest.raises(NotImplementedError, match="float dtype"):
        grad(lambda a: np.sum(np.linspace(a[0, 0], 2.0, 5, dtype=int)))(M)
    with pytest.raises(ValueError, match="3 or more dimensions"):
        grad(lambda a: np.sum(np.dsplit(a, 2)[0]))(M)
    with pytest.raises(ValueError, match="Axes must be different"):
        jvp(lambda a: np.rot90(a, axes=(1, -1)), M, DM)
    with pytest.raises(TypeError):  # a condition must be plain booleans, as in numpy
        grad(lambda a: np.sum(np.select([a], [a])))(M)


def test_methods_forward_to_the_functions():
    for method in ["prod", "var", "std", "cumsum", "cumprod", "flatten", "copy", "squeeze"]:
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
    squeezed = lambda a: np.reshape(a, (1, 3, 1, 4)).squeeze(axis=0).squeeze()  # noqa: E731
    close(grad(lambda a: np.sum(squeezed(a) ** 2))(M), 2 * M)
    assert jvp(squeezed, M, DM)[1].shape == (3, 4)
    assert jvp(lambda a: np.reshape(a, (1, 3, 1, 4)).squeeze(2), M, DM)[1].shape == (1, 3, 4)
