"""Line searches: how far to go along a descent direction (Armijo backtracking, strong Wolfe).

Both treat a trial point where f or its gradient is not finite as a step that went too far.
Used by ``minimize`` (course_lib/optim.py). Chapter 5.
"""
import math


class NonFiniteError(ArithmeticError):
    """Signals that f, its gradient or its Hessian came out non-finite (inf or nan). Chapter 5."""


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
