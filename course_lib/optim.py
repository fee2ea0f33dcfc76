"""First- and second-order optimisation: gradient descent, Adam, Newton, BFGS, L-BFGS, Newton-CG.

One entry point, ``minimize(f, x0, method=...)``, returns an ``OptimizeResult`` with scipy's field
names plus a per-iteration ``history``. Derivatives come from ``course_lib`` (the reverse-mode tape)
unless the caller passes ``jac``, ``hess`` or ``hessp``. Every method stops when the gradient norm
``||grad f(x)||_2`` falls to ``gtol``: a small step alone never counts as success, because a stalled
method takes small steps far from a minimum. Chapter 5 introduces the module.
"""
import math
import time

import numpy as np

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
_DEFAULT_MAXITER = {"gd": 20_000, "adam": 20_000, "newton": 1_000, "bfgs": 1_000,
                    "lbfgs": 1_000, "newton-cg": 1_000}


class OptimizeResult(dict):
    """Holds the outcome of ``minimize``: a dict whose keys are also attributes (as in scipy).

    Fields: ``x`` (solution, shape of x0), ``fun`` (f at x), ``jac`` (gradient at x), ``nit``
    (iterations), ``nfev``/``njev``/``nhev`` (evaluations of f, its gradient, and Hessians or
    Hessian-vector products), ``success``, ``message``, ``method`` and ``history``: a dict of
    arrays ``f``, ``grad_norm``, ``step`` (length of the step that led there) and ``time``
    (seconds since the start), one entry per iterate including x0. Chapter 5.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__

    def __repr__(self):
        return (f"OptimizeResult(method={self.get('method')!r}, success={self.get('success')}, "
                f"fun={self.get('fun'):.6g}, nit={self.get('nit')}, nfev={self.get('nfev')}, "
                f"njev={self.get('njev')}, nhev={self.get('nhev')}, "
                f"message={self.get('message')!r})")


class NonFiniteError(ArithmeticError):
    """Signals that f, its gradient or its Hessian came out non-finite (inf or nan). Chapter 5."""


# ---- the objective: f and its derivatives, counted ----

class _Objective:
    """Wraps f and its derivatives on a flat float vector and counts the evaluations."""

    def __init__(self, f, jac, hess, hessp):
        self.f, self.jac, self.hess_fn, self.hessp_fn = f, jac, hess, hessp
        self.nfev = self.njev = self.nhev = 0
        self._value_and_grad = None
        self._hess_at = None  # (x, hess(x)): newton-cg with only hess reuses it for every product

    def value(self, x):
        self.nfev += 1
        out = self.f(x) if self.jac is not True else self.f(x)[0]
        return _scalar(out)

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


# ---- line searches ----

def backtracking_line_search(value, x, p, f0, g0, alpha=1.0, c1=1e-4, shrink=0.5, max_evals=60):
    """Find a step length with sufficient decrease (Armijo) by shrinking a trial step.

    Args: value(x) -> float; x, p: (d,) point and descent direction; f0, g0: f and gradient at x;
    alpha: first trial step. Returns (alpha, f(x + alpha p)), or None if no step decreases f.
    Non-finite trial values count as "too long" and shrink the step. The test compares values of
    f, so it cannot see decreases below f's rounding error: gradient descent then cannot reduce
    ||grad f|| much below sqrt(machine epsilon) times the scale of f. Chapter 5.
    """
    slope = float(g0 @ p)
    if not slope < 0:
        raise ValueError(f"p is not a descent direction (g.p = {slope:.3g} >= 0)")
    for _ in range(max_evals):
        f_new = value(x + alpha * p)
        if math.isfinite(f_new) and f_new <= f0 + c1 * alpha * slope:
            return alpha, f_new
        alpha *= shrink
    return None


def wolfe_line_search(value_and_grad, x, p, f0, g0, alpha=1.0, c1=1e-4, c2=0.9, max_evals=40):
    """Find a step length satisfying the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5-3.6).

    Sufficient decrease f(x + a p) <= f0 + c1 a g0.p and curvature |g(x + a p).p| <= c2 |g0.p|.
    Brackets an acceptable step by growing the trial step, then shrinks the bracket with safeguarded
    cubic interpolation. A trial point where f or the gradient is non-finite counts as "too long".
    Args: value_and_grad(x) -> (float, (d,) array); x, p: (d,); f0, g0: f and gradient at x;
    alpha: first trial step. Returns (alpha, f, g) at the accepted point, or None when no step
    satisfies even sufficient decrease within max_evals evaluations. Chapter 5.
    """
    d0 = float(g0 @ p)
    if not d0 < 0:
        raise ValueError(f"p is not a descent direction (g.p = {d0:.3g} >= 0)")
    evals = 0
    best = None  # the lowest point with sufficient decrease, used if the curvature test never holds

    def phi(a):
        nonlocal evals, best
        evals += 1
        try:
            fa, ga = value_and_grad(x + a * p)
        except NonFiniteError:
            return math.inf, None, math.nan
        if fa <= f0 + c1 * a * d0 and (best is None or fa < best[1]):
            best = (a, fa, ga)
        return fa, ga, float(ga @ p)

    def zoom(lo, f_lo, d_lo, hi, f_hi, d_hi):
        while evals < max_evals:
            a = _interpolate(lo, f_lo, d_lo, hi, f_hi, d_hi)
            fa, ga, da = phi(a)
            if not math.isfinite(fa) or fa > f0 + c1 * a * d0 or fa >= f_lo:
                hi, f_hi, d_hi = a, fa, da
            else:
                if abs(da) <= -c2 * d0:
                    return a, fa, ga
                if da * (hi - lo) >= 0:
                    hi, f_hi, d_hi = lo, f_lo, d_lo
                lo, f_lo, d_lo = a, fa, da
            if abs(hi - lo) <= 1e-16 * max(abs(lo), 1e-300):
                break
        return None

    a_prev, f_prev, d_prev = 0.0, f0, d0
    while evals < max_evals:
        fa, ga, da = phi(alpha)
        if not math.isfinite(fa) or fa > f0 + c1 * alpha * d0 or (evals > 1 and fa >= f_prev):
            found = zoom(a_prev, f_prev, d_prev, alpha, fa, da)
            break
        if abs(da) <= -c2 * d0:
            return alpha, fa, ga
        if da >= 0:
            found = zoom(alpha, fa, da, a_prev, f_prev, d_prev)
            break
        a_prev, f_prev, d_prev = alpha, fa, da
        alpha = 4.0 * alpha
    else:
        found = None
    if found is not None:
        return found
    return best


def _interpolate(lo, f_lo, d_lo, hi, f_hi, d_hi):
    """Return the minimiser of the cubic through both ends, kept inside the bracket's middle 80%."""
    width = hi - lo
    a = None
    if all(math.isfinite(v) for v in (f_lo, d_lo, f_hi, d_hi)):
        d1 = d_lo + d_hi - 3 * (f_lo - f_hi) / (lo - hi)
        disc = d1 * d1 - d_lo * d_hi
        if disc >= 0:
            d2 = math.copysign(math.sqrt(disc), hi - lo)
            denom = d_hi - d_lo + 2 * d2
            if denom != 0:
                a = hi - (hi - lo) * (d_hi + d2 - d1) / denom
    elif math.isfinite(f_hi) and math.isfinite(f_lo):
        denom = 2 * (f_hi - f_lo - d_lo * width)
        if denom > 0:
            a = lo - d_lo * width * width / denom
    low, high = sorted((lo + 0.1 * width, hi - 0.1 * width))
    if a is None or not math.isfinite(a) or not low <= a <= high:
        a = lo + 0.5 * width
    return a


# ---- quasi-Newton updates ----

def bfgs_update(H, s, y):
    """Return the BFGS update of an inverse-Hessian approximation, which satisfies H_new y = s.

    H_new = (I - rho s y^T) H (I - rho y s^T) + rho s s^T with rho = 1 / (y.s) (the secant
    condition; Nocedal & Wright eq. 6.17). Args: H (d, d) symmetric positive definite;
    s = x_new - x, y = g_new - g, both (d,), with y.s > 0. Returns a new (d, d) array. Chapter 5.
    """
    ys = float(y @ s)
    if not ys > 0:
        raise ValueError(f"BFGS needs y.s > 0 (got {ys:.3g}); a Wolfe line search guarantees it")
    rho = 1.0 / ys
    Hy = H @ y
    return (H + (rho * rho * (y @ Hy) + rho) * np.outer(s, s)
            - rho * (np.outer(Hy, s) + np.outer(s, Hy)))


def lbfgs_direction(g, s_list, y_list, gamma=None):
    """Return -H g for the L-BFGS inverse Hessian built from stored pairs (two-loop recursion).

    H is the result of applying ``bfgs_update`` for each (s, y) pair, oldest first, to gamma * I;
    gamma defaults to s.y / y.y of the newest pair (Nocedal & Wright, Alg. 7.4 and eq. 7.20).
    Costs O(m d) time and memory for m pairs instead of O(d^2). Args: g (d,); s_list, y_list: lists
    of (d,) arrays, oldest first. Returns (d,). Chapter 5.
    """
    q = np.array(g, dtype=float)
    rhos = [1.0 / float(y @ s) for s, y in zip(s_list, y_list)]
    alphas = []
    for s, y, rho in zip(reversed(s_list), reversed(y_list), reversed(rhos)):
        a = rho * float(s @ q)
        q -= a * y
        alphas.append(a)
    if gamma is None:
        gamma = float(s_list[-1] @ y_list[-1]) / float(y_list[-1] @ y_list[-1]) if s_list else 1.0
    r = gamma * q
    for s, y, rho, a in zip(s_list, y_list, rhos, reversed(alphas)):
        b = rho * float(y @ r)
        r += (a - b) * s
    return -r


# ---- Newton directions ----

def modified_newton_direction(H, g, beta=1e-3):
    """Return -(H + tau I)^{-1} g with the smallest tau >= 0 (doubling) making H + tau I definite.

    Where H is positive definite tau = 0 and this is the Newton step; where H is indefinite the
    shift turns it into a descent direction (Nocedal & Wright, Alg. 3.3). Args: H (d, d), g (d,).
    Returns (p, tau). Chapter 5.
    """
    min_diag = float(np.min(np.diag(H)))
    tau = 0.0 if min_diag > 0 else beta - min_diag
    eye = np.eye(len(g))
    for _ in range(100):
        try:
            L = np.linalg.cholesky(H + tau * eye)
        except np.linalg.LinAlgError:
            tau = max(2.0 * tau, beta)
            continue
        z = _solve_triangular(L, -g, lower=True)
        return _solve_triangular(L.T, z, lower=False), tau
    raise NonFiniteError("could not make the Hessian positive definite by shifting it")


def _solve_triangular(L, b, lower):
    from scipy.linalg import solve_triangular
    return solve_triangular(L, b, lower=lower)


def truncated_cg(hessp, g, tol, maxiter):
    """Approximately solve H p = -g by conjugate gradients using only products H v.

    Stops when ||H p + g|| <= tol, after maxiter products, or on negative curvature d.H d <= 0,
    where it returns the step so far (or, at the first product, -g scaled by g.g / |g.H g|): a
    descent direction either way (Nocedal & Wright, Alg. 7.1). Args: hessp(v) -> (d,); g (d,).
    Returns (p, n_products).
    Chapter 5.
    """
    z = np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = float(r @ r)
    for j in range(maxiter):
        Hd = hessp(d)
        dHd = float(d @ Hd)
        if dHd <= np.finfo(float).eps * float(d @ d):
            if j > 0:
                return z, j + 1
            # Steepest descent, scaled by the curvature's size so that a unit step is sensible.
            return -g * (rr / max(abs(dHd), np.finfo(float).tiny)), 1
        a = rr / dHd
        z = z + a * d
        r = r + a * Hd
        rr_new = float(r @ r)
        if math.sqrt(rr_new) <= tol:
            return z, j + 1
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return z, maxiter


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
        newton-cg {cg_maxiter (default 20 d)}.
      callback: called as callback(x) with a copy of each new iterate (to record the path).
    Returns an OptimizeResult. The run stops early with success False, and the last good iterate,
    when the line search cannot decrease f or when f or a derivative becomes non-finite.
    Chapter 5.
    """
    method = str(method).lower()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    opts = dict(_OPTIONS[method])
    for key, val in (options or {}).items():
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
    message = step(run, gtol, maxiter, **opts)
    return run.result(method, message, gtol)


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
        if self.callback is not None:
            self.callback(x_new.copy())

    def result(self, method, message, gtol):
        success = self.gnorm <= gtol
        if message is None:
            message = ("gradient norm below gtol" if success else "maximum iterations reached")
        return OptimizeResult(
            x=self.x, fun=self.fx, jac=self.g, nit=self.nit, nfev=self.obj.nfev,
            njev=self.obj.njev, nhev=self.obj.nhev, success=bool(success), message=message,
            method=method, history={k: np.array(v) for k, v in self.history.items()})


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
            return _LINE_SEARCH_FAILED
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
            return _LINE_SEARCH_FAILED
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
            return _LINE_SEARCH_FAILED
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
            return _LINE_SEARCH_FAILED
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
            return _LINE_SEARCH_FAILED
    return None
