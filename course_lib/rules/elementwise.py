"""Elementwise rules: each numpy ufunc's partial derivatives, one line each (chapter 1).

A ufunc ``out = u(x, y, ...)`` acts entry by entry, so its derivative is one partial derivative per
argument, ``d out / d x`` as an array of the output's shape (or a number). Both modes use the same
partials:

* forward mode pushes tangents: ``t_out = sum_i partial_i * t_i``;
* reverse mode records the partials when the operation runs and pulls cotangents back through the
  transpose of that map, ``g_i = partial_i * g`` (a diagonal map is its own transpose), summed over
  the axes broadcasting added.

A partial is a function ``partial(out, *args)`` of the ufunc's output and its arguments, written with
numpy functions, so it is differentiated again for second derivatives.

Conventions at edges and kinks (each decided here once, equal to HIPS autograd's):

* ``d|x|/dx`` at 0 is 0 (the sign of 0);
* where ``maximum(x, y)`` or ``minimum(x, y)`` ties, each argument gets half the derivative;
* ``d/dx x**y`` is 0 where ``y == 0`` (``x**0`` is the constant 1, even at ``x = 0``);
* ``d/dy x**y = log(x) x**y`` is 0 at ``x = 0`` and nan for ``x < 0`` (real only for integer y);
* ``sqrt``, ``log``, ``arcsin``, ... at the edge of their domain give inf or nan, as numpy does.

Comparisons, rounding and other piecewise-constant ufuncs (``PIECEWISE_CONSTANT``) run on the values
alone: their derivative is 0 wherever it exists, so their result is a plain constant.
"""
import operator

import numpy as np

from ..nesting import is_complex

__all__ = ["defjvp", "UFUNC_PARTIALS", "PIECEWISE_CONSTANT", "OPERATORS", "LINEAR", "BILINEAR"]

UFUNC_PARTIALS = {}


def defjvp(ufunc, *partials):
    """Register a numpy ufunc's derivative by its partials, for both modes (chapter 1).

    Args:
        ufunc: a numpy ufunc, e.g. ``np.logaddexp2``.
        partials: one function per argument of the ufunc; ``partial_i(out, *args)`` returns
            d out / d args[i], given the ufunc's output ``out`` and its arguments. Write them with
            numpy functions, so that derivatives of derivatives differentiate them too.
    """
    if len(partials) != ufunc.nin:
        raise ValueError(f"numpy.{ufunc.__name__} takes {ufunc.nin} argument(s), so it needs "
                         f"{ufunc.nin} partial derivative(s); got {len(partials)}")
    UFUNC_PARTIALS[ufunc] = partials


# ---- arithmetic ----
defjvp(np.add,         lambda out, x, y: 1.0,         lambda out, x, y: 1.0)
defjvp(np.subtract,    lambda out, x, y: 1.0,         lambda out, x, y: -1.0)
defjvp(np.multiply,    lambda out, x, y: y,           lambda out, x, y: x)
defjvp(np.true_divide, lambda out, x, y: 1.0 / y,     lambda out, x, y: -out / y)
defjvp(np.negative,    lambda out, x: -1.0)
defjvp(np.positive,    lambda out, x: 1.0)
defjvp(np.reciprocal,  lambda out, x: -out * out)
defjvp(np.square,      lambda out, x: 2.0 * x)
defjvp(np.sqrt,        lambda out, x: 0.5 / out)
defjvp(np.cbrt,        lambda out, x: 1.0 / (3.0 * out * out))


def _power_dx(out, x, y):
    if isinstance(y, (int, float)):  # a constant exponent: no x**1 for squares, 0 for x**0
        return 0.0 if y == 0 else y * (x if y == 2 else x ** (y - 1))
    return y * x ** np.where(y == 0, 1.0, y - 1)


def _power_dy(out, x, y):
    if isinstance(x, (int, float)):
        return 0.0 if x == 0 else np.log(x) * out
    zero = x == 0  # log is taken of 1 there, so the partial is 0 (a plain mask: x is not changed)
    return np.log(x * (1.0 - zero) + zero) * out


defjvp(np.power,       _power_dx,                     _power_dy)
defjvp(np.hypot,       lambda out, x, y: x / out,     lambda out, x, y: y / out)
defjvp(np.remainder,   lambda out, x, y: 1.0,         lambda out, x, y: -np.floor_divide(x, y))
defjvp(np.fmod,        lambda out, x, y: 1.0,         lambda out, x, y: -np.trunc(x / y))

# ---- exponentials and logarithms ----
defjvp(np.exp,         lambda out, x: out)
defjvp(np.exp2,        lambda out, x: np.log(2.0) * out)
defjvp(np.expm1,       lambda out, x: out + 1.0)
defjvp(np.log,         lambda out, x: 1.0 / x)
defjvp(np.log2,        lambda out, x: 1.0 / (np.log(2.0) * x))
defjvp(np.log10,       lambda out, x: 1.0 / (np.log(10.0) * x))
defjvp(np.log1p,       lambda out, x: 1.0 / (1.0 + x))
defjvp(np.logaddexp,   lambda out, x, y: np.exp(x - out), lambda out, x, y: np.exp(y - out))

# ---- trigonometric and hyperbolic ----
defjvp(np.sin,         lambda out, x: np.cos(x))
defjvp(np.cos,         lambda out, x: -np.sin(x))
defjvp(np.tan,         lambda out, x: 1.0 + out * out)
defjvp(np.arcsin,      lambda out, x: 1.0 / np.sqrt(1.0 - x * x))
defjvp(np.arccos,      lambda out, x: -1.0 / np.sqrt(1.0 - x * x))
defjvp(np.arctan,      lambda out, x: 1.0 / (1.0 + x * x))
defjvp(np.arctan2,     lambda out, y, x: x / (x * x + y * y),
                       lambda out, y, x: -y / (x * x + y * y))
defjvp(np.sinh,        lambda out, x: np.cosh(x))
defjvp(np.cosh,        lambda out, x: np.sinh(x))
defjvp(np.tanh,        lambda out, x: 1.0 - out * out)
defjvp(np.arcsinh,     lambda out, x: 1.0 / np.sqrt(x * x + 1.0))
defjvp(np.arccosh,     lambda out, x: 1.0 / np.sqrt(x * x - 1.0))
defjvp(np.arctanh,     lambda out, x: 1.0 / (1.0 - x * x))
defjvp(np.deg2rad,     lambda out, x: np.pi / 180.0)
defjvp(np.rad2deg,     lambda out, x: 180.0 / np.pi)
UFUNC_PARTIALS[np.radians] = UFUNC_PARTIALS[np.deg2rad]  # the same functions under other names
UFUNC_PARTIALS[np.degrees] = UFUNC_PARTIALS[np.rad2deg]

# ---- kinks (conventions in the module docstring) ----

def _choice(ufunc, wins):
    """The partials of a choice between x and y (``maximum``, ``minimum``): 1 for the argument
    chosen, a half each at a tie. numpy orders complex numbers by their real parts first, which
    has no derivative: refused."""
    def check(x, y):
        if is_complex(x) or is_complex(y):
            raise TypeError(f"numpy.{ufunc.__name__} orders complex numbers, which has no "
                            "derivative; compare real values (np.real, np.abs) instead")

    def dx(out, x, y):
        check(x, y)
        return wins(x, y) + 0.5 * (x == y)

    def dy(out, x, y):
        check(x, y)
        return wins(y, x) + 0.5 * (x == y)
    return dx, dy


defjvp(np.absolute,    lambda out, x: np.sign(x))
defjvp(np.fabs,        lambda out, x: np.sign(x))
defjvp(np.maximum,     *_choice(np.maximum, operator.gt))
defjvp(np.minimum,     *_choice(np.minimum, operator.lt))
defjvp(np.fmax,        *_choice(np.fmax, operator.gt))
defjvp(np.fmin,        *_choice(np.fmin, operator.lt))

# ---- piecewise constant: derivative zero, the result is a plain value ----
PIECEWISE_CONSTANT = frozenset({
    np.sign, np.floor, np.ceil, np.rint, np.trunc, np.floor_divide,
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.isfinite, np.isnan, np.isinf, np.signbit,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor})

# Python's operators compute the same numbers as these ufuncs, and on Python floats ten times faster
# (a ufunc call costs about a microsecond): both modes compute primals with them, which keeps
# scalar loops fast (benchmarks: "RK4 loop: derivative by Dual", "RK4 grad (tape)").
OPERATORS = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
             np.true_divide: operator.truediv, np.power: operator.pow, np.negative: operator.neg,
             np.remainder: operator.mod}

# add and subtract are linear, multiply bilinear: between two duals the tangent is then the
# operation itself on the tangents (the linear and product rules of ``Primitive.tangent``), which
# Dual's scalar fast path computes instead of calling both partials (benchmark row "RK4 loop:
# derivative by Dual"); tests/test_dual.py checks that it gives the partials' numbers bit for bit.
LINEAR = frozenset({np.add, np.subtract})
BILINEAR = frozenset({np.multiply})
