"""First- and second-order optimisation: gradient descent, Adam, Newton, BFGS, L-BFGS, Newton-CG.

One entry point, ``minimize(f, x0, method=...)``, returns scipy's ``OptimizeResult`` with its field
names plus a per-iteration ``history``; ``options`` takes ``maxiter`` and ``gtol`` as scipy's does. Derivatives come from ``course_lib`` (the reverse-mode tape)
unless the caller passes ``jac``, ``hess`` or ``hessp``. Every method stops when the gradient norm
``||grad f(x)||_2`` falls to ``gtol``: a small step alone never counts as success, because a stalled
method takes small steps far from a minimum. When a run stops short, the message says why: f
unbounded below, f not finite beyond x, f noisy, or rounding; at a small problem's solution the
Hessian is checked for a saddle point. The line searches are in course_lib/linesearch.py, the
search directions in course_lib/directions.py. Chapter 5 introduces the module.
"""
import math
import time

import numpy as np

from .directions import (bfgs_update, lbfgs_direction, modified_newton_direction,  # noqa: F401
                         truncated_cg)
from .linesearch import NonFiniteError, backtracking_line_search, wolfe_line_search  # noqa: F401

METHODS = ("gd", "adam", "newton", "bfgs", "lbfgs", "newton-cg")

# Options each method accepts (the ``options`` dict of ``minimize``) and their defaults.
_OPTIONS = {
    "gd": {"alpha0": 1.0},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "newton": {},
    "bfgs": {},
    "lbfgs": {"m": 10},
    "newton-cg": {"cg_maxiter": None},
}
UNBOUNDED = 1e100  # f below -UNBOUNDED is taken as "unbounded below"
CURVATURE_CHECK_SIZE = 100  # at a solution with at most this many entries the Hessian is checked
_DEFAULT_MAXITER = {"gd": 20_000, "adam": 20_000, "newton": 1_000, "bfgs": 1_000,
                    "lbfgs": 1_000, "newton-cg": 1_000}


def _result_type():
    """Return the result type: scipy's OptimizeResult with a one-line repr, made at first use.

    Importing scipy.optimize takes a fifth of a second, so ``import course_lib`` does not; the
    first ``minimize`` (or the first look at ``OptimizeResult``) does.
    """
    if not _RESULT_TYPE:
        from scipy.optimize import OptimizeResult as ScipyResult

        class OptimizeResult(ScipyResult):
            """Holds the outcome of ``minimize``: scipy's result type, with scipy's fields and more.

            Fields: ``x`` (solution, shape of x0), ``fun`` (f at x), ``jac`` (gradient at x),
            ``nit`` (iterations), ``nfev``/``njev``/``nhev`` (evaluations of f, its gradient, and
            Hessians or Hessian-vector products), ``success``, ``message``, ``method``,
            ``min_curvature`` (the Hessian's smallest eigenvalue at x, for small problems) and
            ``history``: a dict of arrays ``f``, ``grad_norm``, ``step`` (length of the step that
            led there) and ``time`` (seconds since the start), one entry per iterate including
            x0. Chapter 5.
            """

            def __repr__(self):
                return (f"OptimizeResult(method={self.get('method')!r}, "
                        f"success={self.get('success')}, fun={self.get('fun'):.6g}, "
                        f"nit={self.get('nit')}, nfev={self.get('nfev')}, "
                        f"njev={self.get('njev')}, nhev={self.get('nhev')}, "
                        f"message={self.get('message')!r})")

        OptimizeResult.__module__, OptimizeResult.__qualname__ = __name__, "OptimizeResult"
        _RESULT_TYPE.append(OptimizeResult)
    return _RESULT_TYPE[0]


_RESULT_TYPE = []


def __getattr__(name):
    """``OptimizeResult``, made at first use (see ``_result_type``)."""
    if name == "OptimizeResult":
        return _result_type()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- the objective: f and its derivatives, counted ----

class _Objective:
    """Wraps f and its derivatives on a flat float vector and counts the evaluations."""

    def __init__(self, f, jac, hess, hessp):
        self.f, self.jac, self.hess_fn, self.hessp_fn = f, jac, hess, hessp
        self.nfev = self.njev = self.nhev = 0
        self.nonfinite = 0  # evaluations where f or its gradient came out inf or nan
        self._value_and_grad = None
        self._hess_at = None  # (x, hess(x)): newton-cg with only hess reuses it for every product

    def value(self, x):
        self.nfev += 1
        out = _scalar(self.f(x) if self.jac is not True else self.f(x)[0])
        self.nonfinite += not math.isfinite(out)
        return out

    def value_and_grad(self, x):
        self.nfev += 1
        self.njev += 1
        if self.jac is True:
            value, g = self.f(x)
        elif callable(self.jac):
            value, g = self.f(x), self.jac(x)
        else:
            if self._value_and_grad is None:
                from .reverse import value_and_grad  # lazily: optim works without the tape
                self._value_and_grad = value_and_grad(self.f)
            value, g = self._value_and_grad(x)
        value, g = _scalar(value), np.asarray(g, dtype=float)
        if g.shape != x.shape:
            raise ValueError(f"the gradient has shape {g.shape} but x has shape {x.shape}; jac "
                             "must return one partial derivative per entry of x")
        if not (math.isfinite(value) and np.all(np.isfinite(g))):
            self.nonfinite += 1
            raise NonFiniteError(f"f = {value:.6g} or its gradient is not finite")
        return value, g

    def hess(self, x):
        self.nhev += 1
        if self.hess_fn is not None:
            H = self.hess_fn(x)
        else:
            from .reverse import hessian
            H = hessian(self.f)(x)
        H = np.asarray(H, dtype=float)
        if H.shape != (x.size, x.size):
            raise ValueError(f"the Hessian has shape {H.shape}, expected {(x.size, x.size)}")
        if not np.all(np.isfinite(H)):
            raise NonFiniteError("the Hessian is not finite")
        return H

    def hessp(self, x, v):
        self.nhev += 1
        if self.hessp_fn is not None:
            Hv = self.hessp_fn(x, v)
        elif self.hess_fn is not None:
            if self._hess_at is None or not np.array_equal(self._hess_at[0], x):
                self._hess_at = (x.copy(), np.asarray(self.hess_fn(x), dtype=float))
            Hv = self._hess_at[1] @ v
        else:
            from .reverse import hvp
            Hv = hvp(self.f, x, v)
        Hv = np.asarray(Hv, dtype=float)
        if not np.all(np.isfinite(Hv)):
            raise NonFiniteError("a Hessian-vector product is not finite")
        return Hv


def _scalar(value):
    """Return value as a Python float, or explain that f must return one number."""
    value = getattr(value, "value", value)  # a traced value from the tape carries its number
    arr = np.asarray(value, dtype=float)
    if arr.size != 1:
        raise ValueError(f"f must return a single number, got an array of shape {arr.shape}; "
                         "sum or average the outputs to make a scalar objective")
    return float(arr.reshape(()))


# ---- the driver ----

def minimize(f, x0, method="bfgs", jac=None, hess=None, hessp=None, gtol=1e-5, maxiter=None,
             options=None, callback=None):
    """Minimise a scalar function of a vector, stopping when ||grad f(x)||_2 <= gtol.

    Methods: "gd" (steepest descent, backtracking line search), "adam", "newton" (exact Hessian,
    shifted to be positive definite where needed, Wolfe line search), "bfgs", "lbfgs" (Wolfe line
    search), "newton-cg" (Hessian-free: truncated CG on Hessian-vector products, Wolfe line search).
    Args:
      f: function of a (d,) float array returning a number, written in numpy.
      x0: (d,) starting point (a 1-D array of finite floats).
      jac: gradient function x -> (d,), or True if f returns (value, gradient); default: the tape.
      hess: x -> (d, d) Hessian (newton; newton-cg uses hess(x) @ v if no hessp); default: the tape.
      hessp: (x, v) -> (d,) Hessian-vector product (newton-cg); default: course_lib's hvp.
      gtol: success when the gradient's Euclidean norm is at most gtol.
      maxiter: iteration limit (default 20,000 for gd and adam, 1,000 otherwise). gd's line
        search compares f values, so a gtol far below sqrt(1e-16) times the scale of the
        gradient may be out of its reach; it then runs to maxiter.
      options: method settings: gd {alpha0}, adam {lr, beta1, beta2, eps}, lbfgs {m},
        newton-cg {cg_maxiter (default 20 d)}; "maxiter" and "gtol" may be given here too, as
        scipy.optimize.minimize takes them.
      callback: called as callback(x) with a copy of each new iterate (to record the path).
    Returns an OptimizeResult. The run stops early with success False, and the last good iterate,
    when the line search cannot decrease f (the message says why: f unbounded below, f not
    finite beyond x, f noisy, or rounding) or when f or a derivative becomes non-finite. At a
    solution with at most 100 entries the Hessian is checked: a negative eigenvalue (a saddle
    point) is reported in the message and in ``min_curvature``. Chapter 5.
    """
    method = str(method).lower()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    opts = dict(_OPTIONS[method])
    options = dict(options or {})
    gtol = options.pop("gtol", gtol)
    maxiter = options.pop("maxiter", maxiter)
    for key, val in options.items():
        if key not in opts:
            known = ", ".join(opts) or "none"
            raise ValueError(f"method {method!r} has no option {key!r}; its options: {known}")
        opts[key] = val
    try:
        x = np.array(x0, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"x0 must be an array of numbers: {err}") from None
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array, got shape {x.shape}; flatten the "
                         "parameters into one vector and reshape them inside f")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 contains inf or nan; start from a finite point")
    if gtol < 0:
        raise ValueError(f"gtol must be >= 0, got {gtol}")
    if not (jac is None or jac is True or callable(jac)):
        raise ValueError("jac must be None, True or a function returning the gradient")
    maxiter = _DEFAULT_MAXITER[method] if maxiter is None else int(maxiter)

    obj = _Objective(f, jac, hess, hessp)
    try:
        fx, g = obj.value_and_grad(x)
    except NonFiniteError as err:
        raise ValueError(f"at x0, {err}; start from a point where f and its gradient are "
                         "defined") from None
    run = _Run(obj, x, fx, g, callback)
    step = {"gd": _gd, "adam": _adam, "newton": _newton, "bfgs": _bfgs, "lbfgs": _lbfgs,
            "newton-cg": _newton_cg}[method]
    with np.errstate(all="ignore"):  # overflow and nan are detected and reported below
        try:
            message = step(run, gtol, maxiter, **opts)
        except _Stop as stop:
            message = str(stop)
        return run.result(method, message, gtol)


class _Stop(Exception):
    """Ends a run early; the message says why."""


class _Run:
    """The state shared by all methods: current iterate, its f and gradient, and the history."""

    def __init__(self, obj, x, fx, g, callback):
        self.obj, self.x, self.fx, self.g, self.callback = obj, x, fx, g, callback
        self.nit = 0
        self.start = time.perf_counter()
        self.history = {"f": [fx], "grad_norm": [float(np.linalg.norm(g))], "step": [0.0],
                        "time": [0.0]}

    @property
    def gnorm(self):
        return self.history["grad_norm"][-1]

    def accept(self, x_new, f_new, g_new):
        """Move to a new iterate and record it."""
        step = float(np.linalg.norm(x_new - self.x))
        self.x, self.fx, self.g = x_new, f_new, g_new
        self.nit += 1
        h = self.history
        h["f"].append(f_new)
        h["grad_norm"].append(float(np.linalg.norm(g_new)))
        h["step"].append(step)
        h["time"].append(time.perf_counter() - self.start)
        self.obj.nonfinite = 0  # counted again for the next line search
        if self.callback is not None:
            self.callback(x_new.copy())
        if f_new < -UNBOUNDED:
            raise _Stop(f"f is unbounded below: it fell to {f_new:.3g} as ||x|| grew to "
                        f"{np.linalg.norm(x_new):.3g}; the problem has no minimum (check the "
                        "sign of f, or add a penalty or bounds)")

    def result(self, method, message, gtol):
        success = self.gnorm <= gtol and message is None
        if message is None:
            message = ("gradient norm below gtol" if success else "maximum iterations reached")
        curvature = self.curvature() if success else None
        if curvature is not None and curvature < 0:
            message += (f", but the Hessian there has a negative eigenvalue ({curvature:.3g}): "
                        "x is a saddle point, not a minimum; start elsewhere, or step along the "
                        "eigenvector of negative curvature")
        return _result_type()(
            x=self.x, fun=self.fx, jac=self.g, nit=self.nit, nfev=self.obj.nfev,
            njev=self.obj.njev, nhev=self.obj.nhev, success=bool(success), message=message,
            method=method, min_curvature=curvature,
            history={k: np.array(v) for k, v in self.history.items()})

    def curvature(self):
        """The Hessian's smallest eigenvalue at x (small problems only; not counted in nhev)."""
        if self.x.size > CURVATURE_CHECK_SIZE:
            return None
        counted = self.obj.nhev
        try:
            H = self.obj.hess(self.x)
        except Exception:  # f's Hessian may be out of reach (a black-box f with its own jac)
            return None
        finally:
            self.obj.nhev = counted
        eigenvalues = np.linalg.eigvalsh((H + H.T) / 2)
        scale = max(1.0, float(np.max(np.abs(eigenvalues))))
        return float(eigenvalues[0]) if eigenvalues[0] < -1e-8 * scale else \
            float(max(eigenvalues[0], 0.0))

    def stuck(self):
        """Say why the line search found no step that decreases f."""
        if self.obj.nonfinite:
            return ("the line search could not decrease f: beyond x, f or its gradient is not "
                    f"finite (inf or nan at {self.obj.nonfinite} of its trial points): f may be "
                    "undefined there (the log or square root of a negative number?); start "
                    "elsewhere, or reparametrise so that every x is valid")
        again = [self.obj.value(self.x) for _ in range(2)]
        if any(v != self.fx for v in again):
            spread = max(abs(v - self.fx) for v in again)
            return (f"the line search could not decrease f: f is noisy (evaluated again at the "
                    f"same x it changes by {spread:.3g}); a line search needs the same f at the "
                    "same x: fix the randomness (a seed, a fixed minibatch) or use 'adam'")
        return _LINE_SEARCH_FAILED


_LINE_SEARCH_FAILED = ("the line search could not decrease f: the gradient norm is above gtol, "
                       "probably because of rounding; loosen gtol or rescale the problem")


def _non_finite(err, run):
    return (f"stopped at iteration {run.nit + 1}: {err}; returning the last finite iterate "
            "(check f for overflow, or take smaller steps)")


def _gd(run, gtol, maxiter, alpha0):
    alpha = alpha0
    while run.gnorm > gtol and run.nit < maxiter:
        p = -run.g
        found = backtracking_line_search(run.obj.value, run.x, p, run.fx, run.g, alpha=alpha)
        if found is None:
            return run.stuck()
        alpha, _ = found
        x_new = run.x + alpha * p
        try:
            f_new, g_new = run.obj.value_and_grad(x_new)
        except NonFiniteError as err:
            return _non_finite(err, run)
        run.accept(x_new, f_new, g_new)
        alpha *= 2.0  # let the step grow again after a cautious one
    return None


def _adam(run, gtol, maxiter, lr, beta1, beta2, eps):
    m = np.zeros_like(run.x)
    v = np.zeros_like(run.x)
    while run.gnorm > gtol and run.nit < maxiter:
        t = run.nit + 1
        m = beta1 * m + (1 - beta1) * run.g
        v = beta2 * v + (1 - beta2) * run.g ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        x_new = run.x - lr * m_hat / (np.sqrt(v_hat) + eps)
        try:
            f_new, g_new = run.obj.value_and_grad(x_new)
        except NonFiniteError as err:
            return _non_finite(err, run) + "; lower the learning rate lr"
        run.accept(x_new, f_new, g_new)
    return None


def _wolfe_step(run, p, alpha=1.0):
    """Line-search along p from the current iterate and accept the point; False on failure."""
    if not (np.all(np.isfinite(p)) and float(run.g @ p) < 0):
        raise _Stop(_non_finite("the search direction is not finite or not downhill", run))
    found = wolfe_line_search(run.obj.value_and_grad, run.x, p, run.fx, run.g, alpha=alpha)
    if found is None:
        return False
    a, f_new, g_new = found
    run.accept(run.x + a * p, f_new, g_new)
    return True


def _newton(run, gtol, maxiter):
    while run.gnorm > gtol and run.nit < maxiter:
        try:
            H = run.obj.hess(run.x)
            p, _ = modified_newton_direction(H, run.g)
        except NonFiniteError as err:
            return _non_finite(err, run)
        if not _wolfe_step(run, p):
            return run.stuck()
    return None


def _bfgs(run, gtol, maxiter):
    H = None
    while run.gnorm > gtol and run.nit < maxiter:
        if H is None:
            p = -run.g
            alpha = 1.0 / run.gnorm  # a first step of unit length, as L-BFGS-B takes
        else:
            p = -H @ run.g
            alpha = 1.0
        x, g = run.x, run.g
        if not _wolfe_step(run, p, alpha):
            return run.stuck()
        s, y = run.x - x, run.g - g
        ys = float(y @ s)
        if ys > 1e-12 * float(np.linalg.norm(y) * np.linalg.norm(s)):
            if H is None:  # scale the first approximation to the curvature just seen (N&W 6.20)
                H = (ys / float(y @ y)) * np.eye(len(x))
            H = bfgs_update(H, s, y)
    return None


def _lbfgs(run, gtol, maxiter, m):
    s_list, y_list = [], []
    while run.gnorm > gtol and run.nit < maxiter:
        if s_list:
            p = lbfgs_direction(run.g, s_list, y_list)
            alpha = 1.0
        else:
            p = -run.g
            alpha = 1.0 / run.gnorm  # a first step of unit length, as L-BFGS-B takes
        x, g = run.x, run.g
        if not _wolfe_step(run, p, alpha):
            return run.stuck()
        s, y = run.x - x, run.g - g
        if float(y @ s) > 1e-12 * float(np.linalg.norm(y) * np.linalg.norm(s)):
            s_list.append(s)
            y_list.append(y)
            if len(s_list) > m:
                del s_list[0], y_list[0]
    return None


def _newton_cg(run, gtol, maxiter, cg_maxiter):
    cg_maxiter = 20 * run.x.size if cg_maxiter is None else int(cg_maxiter)
    while run.gnorm > gtol and run.nit < maxiter:
        # Forcing term: solve loosely far away, tightly near the minimum (superlinear rate).
        tol = min(0.5, math.sqrt(run.gnorm)) * run.gnorm
        x = run.x
        try:
            p, _ = truncated_cg(lambda v: run.obj.hessp(x, v), run.g, tol, cg_maxiter)
        except NonFiniteError as err:
            return _non_finite(err, run)
        if not _wolfe_step(run, p):
            return run.stuck()
    return None
