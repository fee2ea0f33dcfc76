"""Tests of course_lib.optim against scipy.optimize, HIPS autograd, closed forms and N&W counts."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import hessian, hvp, minimize
from course_lib.optim import (METHODS, OptimizeResult, backtracking_line_search, bfgs_update,
                              lbfgs_direction, modified_newton_direction, truncated_cg,
                              wolfe_line_search)

ROSEN = dict(jac=so.rosen_der, hess=so.rosen_hess, hessp=so.rosen_hess_prod)
START_2D = np.array([-1.2, 1.0])


def rosen_np(x):
    """Rosenbrock in plain numpy (differentiated by course_lib's tape)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def logistic_problem(n=300, d=20, lam=1e-2, seed=0):
    """An L2-regularised logistic regression: (f written with numpy, same f in autograd.numpy)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sign(X @ rng.standard_normal(d) + rng.standard_normal(n))

    def make(xp):
        def f(w):
            return xp.mean(xp.logaddexp(0.0, -y * (X @ w))) + 0.5 * lam * xp.sum(w * w)
        return f
    return make(np), make(anp), X, y, lam


def logistic_hessian(X, y, lam, w):
    """The closed-form Hessian X^T diag(s (1 - s)) X / n + lam I, s = sigmoid(y Xw)."""
    s = 1.0 / (1.0 + np.exp(-y * (X @ w)))
    return (X.T * (s * (1 - s))) @ X / len(y) + lam * np.eye(X.shape[1])


# ---- every method converges, with derivatives from outside (scipy's closed forms) ------------

@pytest.mark.parametrize("method, options", [
    ("gd", None), ("adam", {"lr": 1e-2}), ("newton", None), ("bfgs", None), ("lbfgs", None),
    ("newton-cg", None)])
def test_rosenbrock_2d(method, options):
    res = minimize(so.rosen, START_2D, method=method, options=options, **ROSEN)
    assert res.success, res.message
    assert np.linalg.norm(so.rosen_der(res.x)) <= 1e-5
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-4)


@pytest.mark.parametrize("method, options", [
    ("gd", None), ("adam", {"lr": 1e-3}), ("newton", None), ("bfgs", None), ("lbfgs", None),
    ("newton-cg", None)])
def test_rosenbrock_100d(method, options):
    res = minimize(so.rosen, np.zeros(100), method=method, options=options, maxiter=40_000,
                   **ROSEN)
    assert res.success, res.message
    assert np.linalg.norm(so.rosen_der(res.x)) <= 1e-5
    np.testing.assert_allclose(res.x, np.ones(100), atol=1e-4)


def test_newton_and_bfgs_counts_near_nocedal_wright():
    # N&W, Numerical Optimization (2006), section 6.1: Newton 21, BFGS 34 iterations to 1e-5.
    newton = minimize(so.rosen, START_2D, method="newton", **ROSEN)
    bfgs = minimize(so.rosen, START_2D, method="bfgs", jac=so.rosen_der)
    assert newton.nit == 21
    assert 30 <= bfgs.nit <= 40


def test_newton_converges_quadratically():
    res = minimize(so.rosen, START_2D, method="newton", gtol=1e-12, **ROSEN)
    errors = [np.linalg.norm(x - 1.0) for x in _iterates(so.rosen, START_2D, "newton")]
    ratios = [e1 / e0 ** 2 for e0, e1 in zip(errors[-5:-1], errors[-4:])]
    assert res.success
    assert errors[-1] < 1e-12 and len(errors) == res.nit + 1
    assert all(0.5 < r < 50 for r in ratios), ratios  # e_{k+1} / e_k^2 stays bounded


def _iterates(f, x0, method):
    """All iterates of a run, recorded by the callback."""
    out = [x0]
    minimize(f, x0, method=method, gtol=1e-12, callback=out.append, **ROSEN)
    return out


# ---- with course_lib's own derivatives (the tape) -----------------------------------------

@pytest.mark.parametrize("method", ["newton", "bfgs", "lbfgs", "newton-cg"])
def test_course_lib_derivatives_rosenbrock(method):
    res = minimize(rosen_np, START_2D, method=method)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-5)


@pytest.mark.parametrize("method", ["gd", "newton", "bfgs", "lbfgs", "newton-cg"])
def test_course_lib_derivatives_logistic_matches_scipy(method):
    f_np, f_ag, *_ = logistic_problem()
    x0 = np.zeros(20)
    ours = minimize(f_np, x0, method=method, gtol=1e-9)
    ref = so.minimize(f_ag, x0, method="trust-exact", jac=autograd.grad(f_ag),
                      hess=autograd.hessian(f_ag), options={"gtol": 1e-10})
    assert ours.success, ours.message
    assert np.linalg.norm(ref.jac) < 1e-9
    np.testing.assert_allclose(ours.x, ref.x, atol=1e-6)
    assert abs(ours.fun - ref.fun) <= 1e-9 * abs(ref.fun)


# ---- agreement with scipy on convex problems -----------------------------------------------

@pytest.mark.parametrize("ours, theirs", [
    ("bfgs", "BFGS"), ("lbfgs", "L-BFGS-B"), ("newton-cg", "Newton-CG"), ("newton", "trust-exact")])
def test_logistic_regression_agrees_with_scipy_methods(ours, theirs):
    _, f_ag, *_ = logistic_problem(n=500, d=40, seed=1)
    derivs = dict(jac=autograd.grad(f_ag), hessp=autograd.hessian_vector_product(f_ag))
    res = minimize(f_ag, np.zeros(40), method=ours, gtol=1e-10,
                   hess=autograd.hessian(f_ag), **derivs)
    opts = {"BFGS": {"gtol": 1e-11}, "L-BFGS-B": {"gtol": 1e-12, "ftol": 1e-15},
            "Newton-CG": {"xtol": 1e-12}, "trust-exact": {"gtol": 1e-11}}[theirs]
    kw = {"jac": derivs["jac"]}
    if theirs == "Newton-CG":
        kw["hessp"] = derivs["hessp"]
    if theirs == "trust-exact":
        kw["hess"] = autograd.hessian(f_ag)
    ref = so.minimize(f_ag, np.zeros(40), method=theirs, options=opts, **kw)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-6)
    assert abs(res.fun - ref.fun) <= 1e-9 * abs(ref.fun)


@settings(max_examples=30)
@given(st.integers(2, 8), st.integers(0, 10_000), st.sampled_from(["newton", "bfgs", "lbfgs",
                                                                     "newton-cg", "gd"]))
def test_convex_quadratic_reaches_closed_form(d, seed, method):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((d, d))
    A = Q @ Q.T + d * np.eye(d)
    b = rng.standard_normal(d)
    res = minimize(lambda x: 0.5 * x @ A @ x - b @ x, np.zeros(d), method=method,
                   jac=lambda x: A @ x - b, hess=lambda x: A, gtol=1e-7)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), atol=1e-7)  # |A^-1| <= 1 / d



def test_newton_cg_with_only_hess_evaluates_it_once_per_iteration():
    calls = []

    def hess(x):
        calls.append(1)
        return so.rosen_hess(x)
    res = minimize(so.rosen, START_2D, method="newton-cg", jac=so.rosen_der, hess=hess)
    ref = minimize(so.rosen, START_2D, method="newton-cg", jac=so.rosen_der,
                   hessp=so.rosen_hess_prod)
    # One call per iteration, and one more at the solution for the curvature check (which nhev,
    # the count of the method's own Hessian work, leaves out).
    assert res.success and len(calls) == res.nit + 1 and res.nit < res.nhev
    np.testing.assert_allclose(res.x, ref.x, atol=1e-8)


def test_newton_on_quadratic_takes_one_step():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    res = minimize(lambda x: 0.5 * x @ A @ x, np.array([1.0, -4.0]), method="newton",
                   jac=lambda x: A @ x, hess=lambda x: A)
    assert res.nit == 1 and res.nhev == 1
    np.testing.assert_allclose(res.x, 0.0, atol=1e-14)


# ---- the pieces: secant equation, L-BFGS, Hessian-vector products, line searches ------------

def _spd(rng, d):
    Q = rng.standard_normal((d, d))
    return Q @ Q.T + 0.1 * np.eye(d)


@given(st.integers(1, 7), st.integers(0, 10_000))
def test_bfgs_update_satisfies_secant_and_stays_positive_definite(d, seed):
    rng = np.random.default_rng(seed)
    H, s = _spd(rng, d), rng.standard_normal(d)
    y = _spd(rng, d) @ s  # y = B s with B positive definite, so y.s > 0
    H_new = bfgs_update(H, s, y)
    np.testing.assert_allclose(H_new @ y, s, rtol=1e-7, atol=1e-9 * np.abs(s).max())
    np.testing.assert_allclose(H_new, H_new.T, atol=1e-10 * np.abs(H_new).max())
    assert np.all(np.linalg.eigvalsh(H_new) > 0)


def test_bfgs_run_satisfies_secant_along_the_way():
    # After an update from (s, y) of a real run, the direction for g = y is exactly -s.
    f_np, f_ag, *_ = logistic_problem()
    g = autograd.grad(f_ag)
    x0, x1 = np.zeros(20), 0.1 * np.ones(20)
    s, y = x1 - x0, g(x1) - g(x0)
    H = bfgs_update(np.eye(20), s, y)
    np.testing.assert_allclose(H @ y, s, atol=1e-12)


def test_bfgs_update_refuses_negative_curvature():
    with pytest.raises(ValueError, match="y.s > 0"):
        bfgs_update(np.eye(2), np.array([1.0, 0.0]), np.array([-1.0, 0.0]))


@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 10_000))
def test_lbfgs_two_loop_equals_explicit_bfgs_updates(d, m, seed):
    rng = np.random.default_rng(seed)
    B = _spd(rng, d)
    s_list = [rng.standard_normal(d) for _ in range(m)]
    y_list = [B @ s for s in s_list]
    g = rng.standard_normal(d)
    gamma = float(s_list[-1] @ y_list[-1]) / float(y_list[-1] @ y_list[-1])
    H = gamma * np.eye(d)
    for s, y in zip(s_list, y_list):
        H = bfgs_update(H, s, y)
    np.testing.assert_allclose(lbfgs_direction(g, s_list, y_list), -H @ g, rtol=1e-6,
                               atol=1e-8 * np.abs(H @ g).max())


@given(st.integers(0, 10_000))
def test_course_lib_hvp_equals_dense_hessian_times_v(seed):
    f_np, f_ag, X, y, lam = logistic_problem(n=50, d=6)
    rng = np.random.default_rng(seed)
    w, v = rng.standard_normal(6), rng.standard_normal(6)
    H = logistic_hessian(X, y, lam, w)  # closed form, independent of any AD
    np.testing.assert_allclose(hvp(f_np, w, v), H @ v, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hessian(f_np)(w), H, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(autograd.hessian(f_ag)(w) @ v, H @ v, rtol=1e-9, atol=1e-12)


def test_truncated_cg_solves_spd_system_and_stops_on_negative_curvature():
    rng = np.random.default_rng(0)
    A, g = _spd(rng, 5), rng.standard_normal(5)
    p, n = truncated_cg(lambda v: A @ v, g, tol=1e-12, maxiter=50)
    np.testing.assert_allclose(p, np.linalg.solve(A, -g), rtol=1e-8)
    assert n <= 10
    indefinite = np.diag([1.0, -1.0])
    p, n = truncated_cg(lambda v: indefinite @ v, np.array([0.0, 1.0]), tol=1e-12, maxiter=10)
    assert n == 1 and p @ np.array([0.0, 1.0]) < 0  # a descent direction


def test_modified_newton_direction():
    H = np.array([[2.0, 0.0], [0.0, -1.0]])
    g = np.array([1.0, 1.0])
    p, tau = modified_newton_direction(H, g)
    assert tau > 1.0 and g @ p < 0
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    p, tau = modified_newton_direction(A, g)
    assert tau == 0.0
    np.testing.assert_allclose(p, -np.linalg.solve(A, g))


@given(st.floats(-2.0, 2.0), st.floats(-1.0, 3.0), st.floats(1e-3, 10.0))
def test_wolfe_line_search_meets_strong_wolfe(x1, x2, alpha):
    x = np.array([x1, x2])
    g0 = so.rosen_der(x)
    if np.linalg.norm(g0) < 1e-8:
        return
    p = -g0 / np.linalg.norm(g0)
    found = wolfe_line_search(lambda z: (so.rosen(z), so.rosen_der(z)), x, p, so.rosen(x), g0,
                              alpha=alpha)
    assert found is not None
    a, fa, ga = found
    assert fa == so.rosen(x + a * p)
    assert fa <= so.rosen(x) + 1e-4 * a * (g0 @ p)
    assert abs(ga @ p) <= 0.9 * abs(g0 @ p)


def test_backtracking_line_search_gives_sufficient_decrease():
    x = START_2D
    g = so.rosen_der(x)
    a, fa = backtracking_line_search(so.rosen, x, -g, so.rosen(x), g)
    assert fa <= so.rosen(x) - 1e-4 * a * (g @ g)
    with pytest.raises(ValueError, match="descent direction"):
        backtracking_line_search(so.rosen, x, g, so.rosen(x), g)


# ---- the result object and its history -----------------------------------------------------

def test_result_fields_and_history():
    res = minimize(so.rosen, START_2D, method="bfgs", jac=so.rosen_der)
    assert isinstance(res, OptimizeResult) and isinstance(res, so.OptimizeResult)
    for key in ["x", "fun", "jac", "nit", "nfev", "njev", "nhev", "success", "message", "history"]:
        assert key in res
    assert res.fun == so.rosen(res.x)
    h = res.history
    assert all(len(h[k]) == res.nit + 1 for k in ["f", "grad_norm", "step", "time"])
    assert h["f"][0] == so.rosen(START_2D) and h["f"][-1] == res.fun
    assert h["grad_norm"][-1] == pytest.approx(np.linalg.norm(so.rosen_der(res.x)))
    assert h["grad_norm"][-1] <= 1e-5 < h["grad_norm"][-2]  # stopped on the gradient norm
    assert np.all(np.diff(h["f"]) <= 0)  # every accepted step decreases f
    assert res.nfev == res.njev and res.nhev == 0
    assert "bfgs" in repr(res)


def test_stops_on_gradient_not_step_where_scipy_newton_cg_stops_early():
    # scipy's Newton-CG stops when the step is small: on the 10^4-dimensional Rosenbrock from zeros
    # it reports success with f still near 10^4. Ours does not claim success there.
    x0 = np.zeros(10_000)
    ref = so.minimize(so.rosen, x0, method="Newton-CG", jac=so.rosen_der,
                      hessp=so.rosen_hess_prod)
    ours = minimize(so.rosen, x0, method="newton-cg", maxiter=30, **ROSEN)
    assert ref.success and ref.fun > 1000
    assert not ours.success and "maximum iterations" in ours.message
    assert np.linalg.norm(ours.jac) > 1e-5


# ---- bad input gets a clear error ----------------------------------------------------------

def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="newton-cg") as err:
        minimize(so.rosen, START_2D, method="nelder-mead")
    assert all(m in str(err.value) for m in METHODS)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x0=np.zeros((2, 2))), "1-D"),
    (dict(x0=[1.0, np.nan]), "inf or nan"),
    (dict(x0=["a", "b"]), "numbers"),
    (dict(options={"lr": 0.1}), "no option 'lr'"),
    (dict(gtol=-1.0), "gtol"),
    (dict(jac=lambda x: np.zeros(3)), "shape"),
    (dict(jac="yes"), "jac must be"),
])
def test_bad_arguments(kwargs, message):
    args = dict(f=so.rosen, x0=START_2D, method="bfgs", jac=so.rosen_der)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        minimize(**args)


def test_non_scalar_f():
    with pytest.raises(ValueError, match="single number"):
        minimize(lambda x: x ** 2, START_2D, jac=lambda x: 2 * x)


def test_non_finite_start():
    with pytest.raises(ValueError, match="at x0"):
        minimize(lambda x: float("nan"), START_2D, jac=lambda x: x)


def _bowl_with_hole(x):
    """f = |x - 2|^2, undefined (nan) for x[0] > 3: the line search must step around it."""
    return float("nan") if x[0] > 3 else float(np.sum((x - 2.0) ** 2))


def test_line_search_shrinks_past_non_finite_values():
    res = minimize(_bowl_with_hole, np.array([-20.0, 0.0]), method="bfgs",
                   jac=lambda x: 2 * (x - 2.0))
    assert res.success
    np.testing.assert_allclose(res.x, [2.0, 2.0], atol=1e-6)


def test_adam_stops_on_non_finite_with_last_good_iterate():
    res = minimize(_bowl_with_hole, np.array([0.0, 0.0]), method="adam",
                   jac=lambda x: 2 * (x - 2.0), options={"lr": 3.5})
    assert not res.success
    assert "non-finite" in res.message or "not finite" in res.message
    assert "learning rate" in res.message
    assert np.isfinite(res.fun) and res.x[0] <= 3
    assert res.fun == _bowl_with_hole(res.x)


# ---- why a run stops: unbounded, not finite, noisy, a saddle (closed forms) ----

LINE_SEARCH_METHODS = ("gd", "newton", "bfgs", "lbfgs", "newton-cg")


@pytest.mark.parametrize("method", LINE_SEARCH_METHODS)
def test_an_unbounded_function_is_reported_as_unbounded(method):
    # x^2 - y^2 has no minimum: it falls without bound along y.
    res = minimize(lambda z: z[0] ** 2 - z[1] ** 2, np.array([1.0, 0.5]), method=method)
    assert not res.success
    assert res.message.startswith("f is unbounded below"), res.message
    assert res.fun < -1e100


@pytest.mark.parametrize("method", ("bfgs", "lbfgs", "newton-cg"))
def test_a_function_undefined_beyond_the_minimum_is_reported_as_not_finite(method):
    # sum(sqrt(z)) is smallest at the edge z = 0 of its domain; past it numpy gives nan.
    res = minimize(lambda z: np.sum(np.sqrt(z)), np.array([1.0, 2.0]), method=method)
    assert not res.success
    assert "not finite" in res.message and "rounding" not in res.message, res.message


@pytest.mark.parametrize("method", ("bfgs", "lbfgs", "newton-cg"))
def test_a_noisy_function_is_reported_as_noisy(method):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 5))
    y = X @ rng.standard_normal(5) + 0.5 * rng.standard_normal(1000)

    def minibatch_loss(w):  # a fresh minibatch at every call
        rows = rng.integers(0, 1000, 32)
        return np.mean((X[rows] @ w - y[rows]) ** 2)
    res = minimize(minibatch_loss, np.zeros(5), method=method)
    assert not res.success and "f is noisy" in res.message, res.message


@pytest.mark.parametrize("method", METHODS)
def test_a_saddle_point_is_named_in_the_message(method):
    # x^2 - y^2 + y^4/4 from (1, 0): the gradient's y part is 0 on y = 0, so every method walks to
    # the saddle at the origin, whose Hessian is diag(2, -2); the minima are at (0, +-sqrt 2).
    f = lambda z: z[0] ** 2 - z[1] ** 2 + z[1] ** 4 / 4
    res = minimize(f, np.array([1.0, 0.0]), method=method)
    assert res.success and abs(res.x[1]) == 0
    assert res.min_curvature == pytest.approx(-2.0, abs=1e-6)
    assert "saddle point" in res.message
    res = minimize(f, np.array([1.0, 0.5]), method=method, gtol=1e-7, maxiter=50_000)
    assert res.success and abs(abs(res.x[1]) - np.sqrt(2)) < 1e-5
    assert res.min_curvature == pytest.approx(2.0, abs=1e-4)  # diag(2, 3 y^2 - 2) = diag(2, 4)
    assert res.message == "gradient norm below gtol"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.5, 5.0), min_size=2, max_size=6), st.integers(0, 5),
       st.floats(-5.0, -0.5))
def test_min_curvature_is_the_smallest_eigenvalue_at_a_saddle(positive, where, negative):
    # f = sum(d_i x_i^2) / 2 with one negative d_k, started with x_k = 0: the run stops at the
    # origin, a saddle whose Hessian is diag(d).
    d = np.array(positive)
    k = where % len(d)
    d[k] = negative
    x0 = np.ones(len(d))
    x0[k] = 0.0
    res = minimize(lambda x: 0.5 * np.sum(d * x * x), x0, method="bfgs")
    assert res.success and res.min_curvature == pytest.approx(negative, rel=1e-9)


def test_maxiter_and_gtol_may_be_given_as_scipy_options():
    f = lambda z: np.sum((z - 1.0) ** 4)
    by_keyword = minimize(f, np.array([3.0, -2.0]), method="lbfgs", gtol=1e-3, maxiter=7)
    by_option = minimize(f, np.array([3.0, -2.0]), method="lbfgs",
                         options={"gtol": 1e-3, "maxiter": 7})
    assert by_keyword.nit == by_option.nit <= 7
    np.testing.assert_array_equal(by_keyword.x, by_option.x)
