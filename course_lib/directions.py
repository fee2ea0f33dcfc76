"""Search directions of the second-order methods: BFGS and L-BFGS updates, Newton, truncated CG.

Used by ``minimize`` (course_lib/optim.py). Chapter 5.
"""
import math

import numpy as np

from .linesearch import NonFiniteError

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
