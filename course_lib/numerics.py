"""Derivatives without automatic differentiation, and checking automatic differentiation with them.

Finite differences approximate a directional derivative from a few evaluations of ``f``; their
error trades truncation (large step ``h``) against round-off (small ``h``). The complex step has
no subtraction, hence no round-off, and reaches machine precision for real-analytic code.
``check_grads`` uses central differences as the independent truth for course_lib's forward and
reverse modes. Chapter 1 introduces all of them.
"""

import numpy as np

__all__ = ["forward_difference", "central_difference", "complex_step", "check_grads",
           "FORWARD_STEP", "CENTRAL_STEP"]

EPS = np.finfo(float).eps
FORWARD_STEP = np.sqrt(EPS)  # balances truncation O(h) against round-off O(eps / h)
CENTRAL_STEP = EPS ** (1 / 3)  # balances truncation O(h^2) against round-off O(eps / h)


# ---- inputs -----------------------------------------------------------------------------------

def _real(x, name):
    """``x`` as a float or float array, or a TypeError saying what is accepted."""
    arr = np.asarray(x) if not isinstance(x, (str, bytes)) else np.asarray(None)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real number or an array of real numbers; got "
                        f"{type(x).__name__} {x!r:.60}")
    arr = arr.astype(float)
    return float(arr) if arr.ndim == 0 else arr


def _direction(x, v):
    if v is None:
        if np.ndim(x) != 0:
            raise ValueError("x is an array: pass a direction v of the same shape (the result is "
                             "the directional derivative along v)")
        return 1.0
    v = _real(v, "v")
    if np.shape(v) != np.shape(x):
        raise ValueError(f"the direction v must have the shape of x, {np.shape(x)}; got "
                         f"{np.shape(v)}")
    return v


def _default_step(x, base):
    """A step relative to the size of x, so that x + h is not rounded back to x."""
    return base * max(1.0, float(np.max(np.abs(x))) if np.size(x) else 1.0)


def _output(y, fname="f"):
    arr = np.asarray(y)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{fname} returned {type(y).__name__}; finite differences need a function "
                        "returning numbers or numeric arrays")
    return arr


# ---- finite differences and the complex step ---------------------------------------------------

def forward_difference(f, x, h=None, v=None):
    """Approximate the derivative of ``f`` along ``v`` by (f(x + h v) - f(x)) / h (chapter 1).

    Args:
        f: a function of a number or an array.
        x: the point; a number, or an array of shape S.
        h: the step; default sqrt(eps) * max(1, |x|), the best trade-off for this formula.
        v: the direction, shape S (required for arrays; 1 for a scalar x).

    Returns:
        The approximate directional derivative, with the shape of ``f(x)``. Error O(h + eps/h).
    """
    x = _real(x, "x")
    v = _direction(x, v)
    h = _default_step(x, FORWARD_STEP) if h is None else h
    return (_output(f(x + h * v)) - _output(f(x))) / h


def central_difference(f, x, h=None, v=None):
    """Approximate the derivative of ``f`` along ``v`` by (f(x+hv) - f(x-hv)) / 2h (chapter 1).

    Args:
        f: a function of a number or an array.
        x: the point; a number, or an array of shape S.
        h: the step; default eps^(1/3) * max(1, |x|), the best trade-off for this formula.
        v: the direction, shape S (required for arrays; 1 for a scalar x).

    Returns:
        The approximate directional derivative, with the shape of ``f(x)``. Error O(h^2 + eps/h).
    """
    x = _real(x, "x")
    v = _direction(x, v)
    h = _default_step(x, CENTRAL_STEP) if h is None else h
    return (_output(f(x + h * v)) - _output(f(x - h * v))) / (2 * h)


def complex_step(f, x, h=1e-20, v=None):
    """Approximate the derivative of ``f`` at ``x`` along ``v`` by Im f(x + ihv) / h (chapter 1).

    No difference of nearby values is taken, so there is no cancellation and a tiny ``h`` gives the
    derivative to machine precision. ``f`` must accept complex input and be real-analytic there
    (``np.abs``, comparisons and ``np.maximum`` break it).

    Args:
        f: a function of a number or an array, written with numpy.
        x: the real point; a number, or an array of shape S.
        h: the step (default 1e-20).
        v: the direction, shape S (required for arrays; 1 for a scalar x).

    Returns:
        The approximate directional derivative, with the shape of ``f(x)``. Error O(h^2).
    """
    x = _real(x, "x")
    v = _direction(x, v)
    y = _output(f(x + 1j * h * v))
    if y.dtype.kind != "c":
        raise TypeError("f returned a real value for a complex input, so the complex step sees "
                        "no derivative; make sure f keeps the imaginary part (no float() or "
                        "np.real inside)")
    return y.imag / h


# ---- checking automatic differentiation ------------------------------------------------------

def check_grads(f, x, order=1, modes=("fwd", "rev"), rtol=1e-5, atol=1e-6, seed=0):
    """Check course_lib's derivatives of ``f`` at ``x`` against central differences (chapter 1).

    Along a random direction v, forward mode's J v (``course_lib.jvp``) must match central
    differences; reverse mode (``course_lib.reverse.vjp``) must return a cotangent of x's shape that
    satisfies the adjoint identity <u, J v> = <J^T u, v> for a random u. With ``order=2`` the same
    checks run on the derivative maps x -> J(x) v and x -> J(x)^T u, which checks second derivatives
    (nesting of the modes); higher orders continue the recursion.

    Args:
        f: a function of one number or array, written with numpy.
        x: where to check; a number or an array.
        order: 1, 2, ...: how many levels of derivatives to check.
        modes: any of "fwd" and "rev".
        rtol, atol: tolerances of the comparison, as in ``np.allclose``.
        seed: seed of the random directions.

    Returns:
        None. Raises AssertionError naming the mode, the order and the mismatch.
    """
    modes = tuple(modes)
    unknown = set(modes) - {"fwd", "rev"}
    if unknown or not modes:
        raise ValueError(f"modes must be a non-empty selection of 'fwd' and 'rev'; got {modes}")
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive integer (1 for first derivatives, 2 for "
                         f"second); got {order!r}")
    x = _real(x, "x")
    from .dual import jvp  # imported here: course_lib.dual needs nothing from this module
    from .reverse import vjp
    _check(f, x, order, 1, modes, jvp, vjp, np.random.default_rng(seed), rtol, atol)


def _random_like(rng, shape):
    return float(rng.standard_normal()) if shape == () else rng.standard_normal(shape)


def _check(f, x, order, level, modes, jvp, vjp, rng, rtol, atol):
    v = _random_like(rng, np.shape(x))
    h = 1e-6 * max(1.0, float(np.max(np.abs(x))))
    fd = (np.asarray(f(x + h * v), dtype=float) - np.asarray(f(x - h * v), dtype=float)) / (2 * h)
    jv = None
    if "fwd" in modes:
        _, jv = jvp(f, x, v)
        jv = np.asarray(jv, dtype=float)
        if np.shape(jv) != np.shape(fd) or not np.allclose(jv, fd, rtol=rtol, atol=atol):
            err = np.max(np.abs(jv - fd)) if np.shape(jv) == np.shape(fd) else "shape mismatch"
            raise AssertionError(
                f"check_grads: forward mode (jvp), order {level}: J v disagrees with central "
                f"differences along a random direction (max abs error {_fmt(err)}); jvp gives "
                f"{_fmt(jv)}, finite differences give {_fmt(fd)}")
    u = _random_like(rng, np.shape(fd))
    if "rev" in modes:
        y, pullback = vjp(f, x)
        g = pullback(u)
        if np.shape(g) != np.shape(x):
            raise AssertionError(f"check_grads: reverse mode (vjp), order {level}: the cotangent "
                                 f"of x has shape {np.shape(g)} but x has shape {np.shape(x)}")
        lhs = float(np.sum(u * (fd if jv is None else jv)))
        rhs = float(np.sum(np.asarray(g, dtype=float) * v))
        if not np.isclose(rhs, lhs, rtol=rtol, atol=atol):
            source = "finite differences" if jv is None else "jvp"
            raise AssertionError(
                f"check_grads: reverse mode (vjp), order {level}: the adjoint identity "
                f"<u, J v> = <J^T u, v> fails: <u, J v> = {lhs:.10g} (from {source}), "
                f"<J^T u, v> = {rhs:.10g} from vjp")
    if level < order:
        if "fwd" in modes:
            _check(lambda z: jvp(f, z, v)[1], x, order, level + 1, modes, jvp, vjp, rng, rtol,
                   atol)
        if "rev" in modes:
            _check(lambda z: vjp(f, z)[1](u), x, order, level + 1, modes, jvp, vjp, rng, rtol,
                   atol)


def _fmt(value):
    if isinstance(value, str):
        return value
    return np.array2string(np.asarray(value), precision=6, threshold=8)
