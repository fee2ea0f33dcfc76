"""Forward-mode differentiation with dual numbers: carry a tangent beside every value.

A ``Dual`` holds a ``primal`` (the value) and a ``tangent`` (its derivative along one input
direction). Every operation computes both, so running an ordinary numpy function on a ``Dual``
gives the function's value and its directional derivative in one pass. Chapter 1 introduces it.

How numpy code reaches the rules below:

* Python operators (``+ - * / **``, comparisons) are methods of ``Dual``. For the common cases
  (two duals of the same computation, or a dual and a Python number) they compute the result
  directly, without numpy's dispatch, which keeps scalar loops fast.
* numpy ufuncs (``np.sin``, ``np.add``, ...) arrive through ``__array_ufunc__`` and use the rule
  table ``_UFUNC_RULES``: for each ufunc, one partial derivative per argument.
* Other numpy functions (``np.sum``, ``np.dot``, ``np.where``, ...) arrive through
  ``__array_function__`` and use ``_FUNCTION_RULES``.

An operation without a rule raises ``NotImplementedError`` naming the numpy function: never a silent
wrong derivative.

Conventions at non-differentiable points (the same as HIPS autograd): ``d|x|/dx`` at 0 is 0 (the
sign of 0); where ``maximum(x, y)`` or ``minimum(x, y)`` ties, each argument gets half the
derivative; ``np.max`` and ``np.min`` share the derivative equally among tied entries; comparisons
and branches look at primals only, so a piecewise function gets the derivative of the piece taken.

Nesting: every ``derivative``/``jvp``/``jacfwd`` call takes a fresh tag from ``course_lib.nesting``
and its duals carry it. When an operation meets values of several tags, only the largest tag (the
innermost computation) handles it and treats the others as constants, whose own types then do the
arithmetic inside. That keeps nested derivatives apart (no perturbation confusion) and lets a
``Dual`` hold the tape's traced values (forward-over-reverse) or sit inside them.
"""
import numbers

import numpy as np

from . import composites
from .nesting import COMPLEX_REFUSED, ArrayMethods, new_tag, top_tag

__all__ = ["Dual", "derivative", "jvp", "jacfwd", "defjvp"]

# Duals built by hand, Dual(primal, tangent), share this tag: they belong to one perturbation.
_MANUAL_TAG = new_tag()
_SCALARS = (int, float)
# Operands of exactly these types take the operators' fast paths (one cheap set lookup).
_SCALAR_TYPES = frozenset({float, int, np.float64})


# ---- the Dual type ----------------------------------------------------------------------------

class Dual(ArrayMethods):
    """A value and its tangent (directional derivative), propagated together (chapter 1).

    Args:
        primal: a real number, a numpy array of real numbers, or a value that implements numpy's
            dispatch itself (another ``Dual``, a traced value of ``course_lib.tape``).
        tangent: same kinds; broadcast to the primal's shape. Default 0.
        tag: which derivative computation this dual belongs to; ``derivative``/``jvp`` set it
            (and then the parts are taken as they are, unchecked). Duals built by hand share
            one tag.

    Attributes:
        primal, tangent: the two parts, of equal shape.
    """

    __slots__ = ("primal", "tangent", "_tag")
    __array_priority__ = 100

    def __init__(self, primal, tangent=0.0, tag=None):
        if tag is None:  # built by hand: check the parts (the rules below pass a tag and skip this)
            primal = _check_part(primal, "primal")
            tangent = _match_shape(primal, _check_part(tangent, "tangent"))
            tag = _MANUAL_TAG
        self.primal = primal
        self.tangent = tangent
        self._tag = tag

    def __repr__(self):
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r})"

    def __format__(self, spec):
        if not spec:
            return repr(self)
        return f"Dual({format(self.primal, spec)}, {format(self.tangent, spec)})"

    # ---- shape and indexing (linear: the same on primal and tangent) ----
    @property
    def shape(self):
        return _shape(self.primal)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a scalar Dual")
        return self.shape[0]

    def __getitem__(self, index):
        index = _primal_of_index(index)
        return _make(self.primal[index], self.tangent[index], self._tag)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __setitem__(self, index, value):
        raise TypeError("a Dual does not support item assignment; build the result with np.where, "
                        "np.stack or np.concatenate instead")

    @property
    def T(self):  # a scalar Dual is its own transpose (other array methods: ArrayMethods)
        return np.transpose(self) if self.shape else self

    # ---- conversions that would drop the tangent are refused ----
    def __array__(self, dtype=None, copy=None):
        raise TypeError("a Dual cannot become a plain numpy array (its tangent would be lost); "
                        "use np.stack/np.concatenate to combine duals, or read .primal and "
                        ".tangent")

    def __float__(self):
        raise TypeError("float() of a Dual would lose its tangent; use numpy functions (np.sin, "
                        "not math.sin) on duals, or read .primal")

    def __complex__(self):
        raise TypeError("complex() of a Dual would lose its tangent; read .primal instead")

    def __bool__(self):  # branches look at the primal (piecewise differentiation)
        return bool(self.primal)

    # ---- arithmetic operators: fast paths, then the ufunc rules ----
    def __add__(self, other):
        if type(other) is Dual and other._tag == self._tag:
            return _make(self.primal + other.primal, self.tangent + other.tangent, self._tag)
        if type(other) in _SCALAR_TYPES:
            return _make(self.primal + other, self.tangent, self._tag)
        return _binary(np.add, self, other, self)

    def __radd__(self, other):
        if type(other) in _SCALAR_TYPES:
            return _make(other + self.primal, self.tangent, self._tag)
        return _binary(np.add, other, self, self)

    def __sub__(self, other):
        if type(other) is Dual and other._tag == self._tag:
            return _make(self.primal - other.primal, self.tangent - other.tangent, self._tag)
        if type(other) in _SCALAR_TYPES:
            return _make(self.primal - other, self.tangent, self._tag)
        return _binary(np.subtract, self, other, self)

    def __rsub__(self, other):
        if type(other) in _SCALAR_TYPES:
            return _make(other - self.primal, -self.tangent, self._tag)
        return _binary(np.subtract, other, self, self)

    def __mul__(self, other):
        if type(other) is Dual and other._tag == self._tag:
            p, q = self.primal, other.primal
            if other is self:  # x * x: the two product-rule terms are equal, compute one
                return _make(p * p, _scale_fresh(p * self.tangent, 2.0), self._tag)
            return _make(p * q, _add_fresh(self.tangent * q, p * other.tangent), self._tag)
        if type(other) in _SCALAR_TYPES:
            return _make(self.primal * other, self.tangent * other, self._tag)
        return _binary(np.multiply, self, other, self)

    def __rmul__(self, other):
        if type(other) in _SCALAR_TYPES:
            return _make(other * self.primal, other * self.tangent, self._tag)
        return _binary(np.multiply, other, self, self)

    def __truediv__(self, other):
        if type(other) is Dual and other._tag == self._tag:
            out = self.primal / other.primal
            return _make(out, (self.tangent - out * other.tangent) / other.primal, self._tag)
        if type(other) in _SCALAR_TYPES:
            return _make(self.primal / other, self.tangent / other, self._tag)
        return _binary(np.true_divide, self, other, self)

    def __rtruediv__(self, other):
        if type(other) in _SCALAR_TYPES:
            out = other / self.primal
            return _make(out, -out * self.tangent / self.primal, self._tag)
        return _binary(np.true_divide, other, self, self)

    def __pow__(self, other):
        if type(other) in _SCALAR_TYPES:
            p = self.primal
            if other == 0:
                return _make(p ** 0, 0.0 * self.tangent, self._tag)
            dp = p if other == 2 else p ** (other - 1)  # x ** 2 (common in losses): no x ** 1
            return _make(p ** other, other * dp * self.tangent, self._tag)
        return _binary(np.power, self, other, self)

    def __rpow__(self, other):
        if type(other) in _SCALAR_TYPES and other > 0:
            out = other ** self.primal
            return _make(out, np.log(other) * out * self.tangent, self._tag)
        return _binary(np.power, other, self, self)

    def __matmul__(self, other):
        return _binary(np.matmul, self, other, self)

    def __rmatmul__(self, other):
        return _binary(np.matmul, other, self, self)

    def __neg__(self):
        return _make(-self.primal, -self.tangent, self._tag)

    def __pos__(self):
        return self

    def __abs__(self):
        return np.absolute(self)

    # ---- comparisons look at primals only ----
    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other):
        return _compare(np.equal, self, other)

    def __ne__(self, other):
        return _compare(np.not_equal, self, other)

    __hash__ = None

    # ---- numpy dispatch ----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if top_tag(inputs) != self._tag:
            return NotImplemented  # a more deeply nested computation handles this op
        if method != "__call__":
            name = f"numpy.{ufunc.__name__}.{method}"
            raise NotImplementedError(f"{name} has no forward-mode rule for Dual; use the "
                                      "corresponding numpy function (e.g. np.sum, np.cumsum)")
        out = kwargs.pop("out", None)
        if kwargs:
            raise TypeError(f"numpy.{ufunc.__name__} on a Dual does not accept keyword arguments "
                            f"({', '.join(kwargs)}); call it without them")
        if out is not None:
            return _ufunc_into(ufunc, inputs, out, self._tag)
        return _apply_ufunc(ufunc, inputs, self._tag)

    def __array_function__(self, func, types, args, kwargs):
        if top_tag(_flatten(args)) != self._tag or kwargs and top_tag(
                _flatten(tuple(kwargs.values()))) > self._tag:
            return NotImplemented
        rule = _FUNCTION_RULES.get(func)
        if rule is None:
            raise NotImplementedError(
                f"{func.__module__}.{func.__name__} has no forward-mode rule for Dual in "
                "course_lib.dual; "
                "write the computation with functions that have one, or add a rule there")
        return rule(self._tag, *args, **kwargs)


_make = Dual  # with a tag: no checks, the rules guarantee matching parts


# ---- helpers: checking parts, shapes, tags ----------------------------------------------------

def _check_part(value, what):
    """Return ``value`` as a valid primal/tangent part, or raise a TypeError that says why not."""
    if isinstance(value, _SCALARS) and not isinstance(value, bool):
        return float(value) if type(value) is int else value
    if isinstance(value, (np.ndarray, np.generic, list, tuple, bool)):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return arr.astype(float) if arr.dtype.kind in "biu" else arr
    elif hasattr(value, "__array_ufunc__") and not isinstance(value, (str, bytes)):
        return value  # a Dual or a traced value: stored as it is, never coerced
    raise TypeError(f"Dual {what} must be a real number, a numpy array of real numbers, or a "
                    f"Dual/traced value; got {type(value).__name__} {value!r:.60}")


_shape = composites.shape_of  # shape of a number, array, Dual or traced value


def _match_shape(primal, tangent):
    """Broadcast ``tangent`` to the shape of ``primal`` (a constant operand can widen a result)."""
    ps = _shape(primal)
    if _shape(tangent) == ps:
        return tangent
    return tangent + np.zeros(ps)


def _flatten(args):
    """All leaves of nested lists/tuples in ``args`` (np.stack([a, b]) hides duals in a list)."""
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(_flatten(a))
        else:
            out.append(a)
    return out


def _is_ours(x, tag):
    return type(x) is Dual and x._tag == tag


def _primal(x, tag):
    """The primal of a dual of this computation; any other value is a constant, returned as is."""
    return x.primal if _is_ours(x, tag) else x


def _tangent(x, tag):
    """The tangent of a dual of this computation; zeros for a constant."""
    return x.tangent if _is_ours(x, tag) else np.zeros(_shape(x))


def _primal_of_index(index):
    """Indices are read off primals (an index is never differentiated)."""
    if isinstance(index, tuple):
        return tuple(_primal_of_index(i) for i in index)
    while type(index) is Dual:
        index = index.primal
    return index


def _is_constant_operand(x):
    return (isinstance(x, (numbers.Real, np.ndarray, np.generic))
            or (hasattr(x, "__array_ufunc__") and not isinstance(x, (str, bytes))))


def _binary(ufunc, a, b, this):
    """Operator fallback: apply the ufunc rule directly (no numpy dispatch), or defer."""
    other = b if a is this else a
    if getattr(other, "_tag", 0) > this._tag:
        if type(other) is Dual:  # Python skips reflected methods between operands of one type
            return _binary(ufunc, a, b, other)
        return NotImplemented  # the more deeply nested value's own operator handles it
    if isinstance(other, (list, tuple)):
        other = np.asarray(other, dtype=float)
        a, b = (this, other) if a is this else (other, this)
    elif not _is_constant_operand(other):
        return NotImplemented  # Python then raises "unsupported operand type(s)"
    return _apply_ufunc(ufunc, (a, b), this._tag)


def _compare(ufunc, this, other):
    if getattr(other, "_tag", 0) > this._tag:
        if type(other) is Dual:
            return ufunc(this, other.primal)
        return NotImplemented
    if isinstance(other, (list, tuple)):
        other = np.asarray(other, dtype=float)
    elif not _is_constant_operand(other):
        return NotImplemented
    return ufunc(this.primal, _primal(other, this._tag))


# ---- applying a ufunc rule --------------------------------------------------------------------

def _apply_ufunc(ufunc, inputs, tag):
    """Primal by the ufunc itself; tangent = sum over dual inputs of (partial * input tangent)."""
    if ufunc is np.matmul:  # its partials are linear maps, not numbers: a rule of its own below
        return _matmul(tag, *inputs)
    rule = _UFUNC_RULES.get(ufunc)
    if rule is None:
        if ufunc in _PRIMAL_ONLY:
            return ufunc(*[_primal(x, tag) for x in inputs])
        raise NotImplementedError(
            f"numpy.{ufunc.__name__} has no forward-mode rule for Dual in course_lib.dual; "
            "write the computation with functions that have one, or add a rule there")
    if len(inputs) == 1:  # unary: the input is this computation's dual, the shape is kept
        p, t = inputs[0].primal, inputs[0].tangent
        out = ufunc(p)
        d = rule[0](out, p)
        if ufunc in _NEW_ARRAY_PARTIALS and _is_float_array(d) and _is_float_array(t) \
                and d.shape == t.shape:
            d *= t  # the partial is a temporary of the tangent's shape: reuse it
            return _make(out, d, tag)
        return _make(out, d * t, tag)
    primals = [_primal(x, tag) for x in inputs]
    out = ufunc(*primals)
    tangent = None
    for x, partial in zip(inputs, rule):
        if _is_ours(x, tag):
            term = partial(out, *primals) * x.tangent
            tangent = term if tangent is None else tangent + term
    return _make(out, _match_shape(out, tangent), tag)


def _ufunc_into(ufunc, inputs, out, tag):
    """``ufunc(*inputs, out=out)``: write the result into the parts of the Dual ``out``.

    As with arrays, ``out`` receives the numbers that the call without ``out`` returns, so the
    caller decides when overwriting is safe. Products and differences into an input of their own
    are computed in place (no temporary for the result); the rest are computed, then copied in.
    """
    name = f"numpy.{ufunc.__name__}"
    if isinstance(out, tuple):
        if len(out) != 1:
            raise TypeError(f"{name}: out must be one Dual")
        out = out[0]
    if not (_is_ours(out, tag) and _is_float_array(out.primal) and _is_float_array(out.tangent)):
        raise TypeError(f"{name}(..., out=) on a Dual needs out to be a Dual of float arrays of "
                        "this computation; call it without out")
    if ufunc is np.multiply and inputs[0] is out and _separate(out, inputs[1], tag):
        # d(xy) = y dx + x dy: the tangent first, while out.primal still holds x
        y = inputs[1]
        if _is_ours(y, tag):
            out.tangent *= y.primal
            _add_product(out.tangent, out.primal, y.tangent)
            out.primal *= y.primal
        else:
            out.tangent *= y
            out.primal *= y
        return out
    if (ufunc is np.subtract and inputs[1] is out and type(inputs[0]) in _SCALAR_TYPES):
        np.subtract(inputs[0], out.primal, out=out.primal)  # c - x: the tangent changes sign
        np.negative(out.tangent, out=out.tangent)
        return out
    result = _apply_ufunc(ufunc, inputs, tag)
    np.copyto(out.primal, _primal(result, tag))
    np.copyto(out.tangent, _tangent(result, tag))
    return out


def _add_product(acc, a, b):
    """``acc += a * b`` a block of rows at a time, so the product never needs a full-size
    temporary (large temporaries cost more to allocate than to compute)."""
    if acc.ndim < 2 or a.shape != acc.shape or b.shape != acc.shape:
        acc += a * b
        return
    for block in _row_blocks(acc):
        acc[block] += a[block] * b[block]


def _row_blocks(x):
    """Slices of about 128 KB of rows of ``x`` (one slice for a small ``x``)."""
    rows = max(1, (_BLOCK_BYTES // 8) // max(1, x.nbytes // max(1, x.shape[0])))
    return [slice(start, start + rows) for start in range(0, x.shape[0], rows)]


def _separate(out, y, tag):
    """True if ``y`` is a number, array or dual of arrays that writing into ``out`` cannot change
    on the way (no shared memory)."""
    if type(y) in _SCALAR_TYPES:
        return True
    parts = (y.primal, y.tangent) if _is_ours(y, tag) else (y,)
    return all(type(q) in _SCALAR_TYPES or
               (_is_float_array(q) and not np.may_share_memory(o, q))
               for o in (out.primal, out.tangent) for q in parts)


_UFUNC_RULES = {}


def defjvp(ufunc, *partials):
    """Register the forward-mode rule of a numpy ufunc by its partial derivatives (chapter 1).

    Args:
        ufunc: a numpy ufunc, e.g. ``np.logaddexp2``.
        partials: one function per argument of the ufunc; ``partial_i(out, *args)`` returns
            d out / d args[i], given the ufunc's output ``out`` and its (primal) arguments. Write
            them with numpy functions, so that nested derivatives differentiate them too.

    The tangent of the output is the sum of ``partial_i * tangent_i`` over the dual arguments.
    """
    if len(partials) != ufunc.nin:
        raise ValueError(f"numpy.{ufunc.__name__} takes {ufunc.nin} argument(s), so it needs "
                         f"{ufunc.nin} partial derivative(s); got {len(partials)}")
    _UFUNC_RULES[ufunc] = partials


# ---- ufunc rules: arithmetic ----
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
    if isinstance(y, _SCALARS):  # y * x**(y-1), and 0 (not 0 * inf) for the constant x**0
        return 0.0 if y == 0 else y * (x if y == 2 else x ** (y - 1))
    return y * x ** np.where(y == 0, 1.0, y - 1)


def _power_dy(out, x, y):
    # log(x) x**y: 0 where x = 0 (log is taken of 1 there), nan where x < 0, as in HIPS autograd
    if isinstance(x, _SCALARS):
        return 0.0 if x == 0 else np.log(x) * out
    zero = x == 0
    return np.log(x * (1.0 - zero) + zero) * out


defjvp(np.power,       _power_dx,                     _power_dy)
defjvp(np.hypot,       lambda out, x, y: x / out,     lambda out, x, y: y / out)

# ---- ufunc rules: exponentials and logarithms ----
defjvp(np.exp,         lambda out, x: out)
defjvp(np.exp2,        lambda out, x: np.log(2.0) * out)
defjvp(np.expm1,       lambda out, x: out + 1.0)
defjvp(np.log,         lambda out, x: 1.0 / x)
defjvp(np.log2,        lambda out, x: 1.0 / (np.log(2.0) * x))
defjvp(np.log10,       lambda out, x: 1.0 / (np.log(10.0) * x))
defjvp(np.log1p,       lambda out, x: 1.0 / (1.0 + x))
defjvp(np.logaddexp,   lambda out, x, y: np.exp(x - out), lambda out, x, y: np.exp(y - out))

# ---- ufunc rules: trigonometric and hyperbolic ----
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
_UFUNC_RULES[np.radians] = _UFUNC_RULES[np.deg2rad]  # the same functions under other names
_UFUNC_RULES[np.degrees] = _UFUNC_RULES[np.rad2deg]

# The built-in unary rules above whose partial is a new array (never ``out`` or ``x`` itself):
# _apply_ufunc multiplies the tangent into it instead of allocating another array.
_NEW_ARRAY_PARTIALS = {np.sin, np.cos, np.tanh, np.tan, np.sinh, np.cosh, np.arcsin, np.arccos,
                       np.arctan, np.arcsinh, np.arccosh, np.arctanh, np.log, np.log1p, np.sqrt,
                       np.square, np.reciprocal, np.expm1}


# ---- ufunc rules: kinks (conventions in the module docstring) ----
defjvp(np.absolute,    lambda out, x: np.sign(x))
defjvp(np.maximum,     lambda out, x, y: (x > y) + 0.5 * (x == y),
                       lambda out, x, y: (y > x) + 0.5 * (x == y))
defjvp(np.minimum,     lambda out, x, y: (x < y) + 0.5 * (x == y),
                       lambda out, x, y: (y < x) + 0.5 * (x == y))
defjvp(np.fmax,        *_UFUNC_RULES[np.maximum])
defjvp(np.fmin,        *_UFUNC_RULES[np.minimum])

# ---- ufunc rules: linear algebra ----

def _matmul(tag, a, b):
    """``a @ b`` with a dual of this computation on either side: d(a @ b) = da @ b + a @ db."""
    a_ours, b_ours = _is_ours(a, tag), _is_ours(b, tag)
    mm = _outer_or_matmul if _inner_is_one(a, b) else np.matmul
    if a_ours and b_ours:
        out = mm(a.primal, b.primal)
        tangent = mm(a.tangent, b.primal)
        if _is_float_array(tangent) and tangent.ndim == 2 and tangent.nbytes > _BLOCK_BYTES // 8 \
                and _is_float_array(a.primal) and _is_float_array(b.tangent):
            # + a @ db, a block of rows at a time: no full-size temporary
            for block in _row_blocks(tangent):
                tangent[block] += mm(a.primal[block], b.tangent)
            return _make(out, tangent, tag)
        return _make(out, _add_fresh(tangent, mm(a.primal, b.tangent)), tag)
    if (b_ours and b.ndim == 1 and _is_float_array(b.primal) and _is_float_array(b.tangent)
            and _is_float_array(a) and a.ndim == 2 and a.flags.c_contiguous
            and a.nbytes > _BLOCK_BYTES):  # a large constant matrix times a vector: read it once
        return _make(*_matvec_twice(a, b.primal, b.tangent), tag)
    if a_ours:
        return _make(mm(a.primal, b), mm(a.tangent, b), tag)
    return _make(mm(a, b.primal), mm(a, b.tangent), tag)


def _inner_is_one(a, b):
    """True when ``a @ b`` sums over a dimension of length 1: it is then an outer product."""
    sa, sb = _shape(a), _shape(b)
    return len(sa) >= 2 and len(sb) >= 2 and sa[-1] == 1 and sb[-2] == 1


def _outer_or_matmul(a, b):
    """``a @ b`` for an inner dimension of 1, as a broadcast product: the same numbers (one term
    per entry, no sum), without the matrix-product machinery that is slow for this shape."""
    return np.multiply(a, b)


_BLOCK_BYTES = 1 << 20  # about one L2 cache


def _matvec_twice(m, p, t):
    """``m @ p`` and ``m @ t`` with one read of a large matrix ``m`` (``X @ w`` in a loss).

    Memory, not arithmetic, limits a matrix-vector product, so two products would read ``m`` twice
    from memory. Here each block of rows serves both products while it is in cache. Each entry is
    still one row's dot product, so the numbers are those of ``m @ p`` on one BLAS thread (blocks
    of a multiple of 64 rows, never ending on a lone row, keep BLAS on the same kernels as for the
    whole matrix); a multithreaded ``m @ p`` splits the work differently and may round the last
    digit differently.
    """
    n = m.shape[0]
    rows = max(1, _BLOCK_BYTES // (m.shape[1] * m.itemsize) // 64) * 64
    out_p, out_t = np.empty(n), np.empty(n)
    start = 0
    while start < n:
        stop = start + rows if n - (start + rows) > 1 else n
        block = m[start:stop]
        np.matmul(block, p, out=out_p[start:stop])
        np.matmul(block, t, out=out_t[start:stop])
        start = stop
    return out_p, out_t


def _is_float_array(x):
    return type(x) is np.ndarray and x.dtype == np.float64


def _scale_fresh(x, c):
    """``c * x``, written into ``x`` when it is a plain array the caller has just made."""
    if _is_float_array(x):
        x *= c
        return x
    return c * x


def _add_fresh(x, y):
    """``x + y``, written into ``x`` when it is a plain array the caller has just made."""
    if _is_float_array(x) and _is_float_array(y) and x.shape == y.shape:
        x += y
        return x
    return x + y


# ---- ufuncs whose result is piecewise constant: derivative zero, the result is a plain value ----
_PRIMAL_ONLY = {np.sign, np.floor, np.ceil, np.rint, np.trunc, np.less, np.less_equal,
                np.greater, np.greater_equal, np.equal, np.not_equal, np.isfinite, np.isnan,
                np.isinf, np.signbit, np.logical_and, np.logical_or, np.logical_not,
                np.logical_xor, np.floor_divide}


# ---- array-function rules (np.sum, np.dot, np.where, ...) -------------------------------------

_FUNCTION_RULES = {}


def _implements(*funcs):
    def register(rule):
        for f in funcs:
            _FUNCTION_RULES[f] = rule
        return rule
    return register


def _linear_in_first(func):
    """Rule for a function linear in its first argument (the rest are parameters like axis)."""
    def rule(tag, x, *args, **kwargs):
        if not _is_ours(x, tag):
            raise NotImplementedError(f"numpy.{func.__name__}: only its first argument can be "
                                      "a Dual")
        return _make(func(x.primal, *args, **kwargs), func(x.tangent, *args, **kwargs), tag)
    return rule


for _f in (np.sum, np.mean, np.reshape, np.transpose, np.ravel, np.squeeze, np.expand_dims,
           np.broadcast_to, np.cumsum, np.diff, np.moveaxis, np.swapaxes, np.flip, np.roll,
           np.trace, np.diagonal, np.real, np.atleast_1d, np.atleast_2d, np.repeat, np.tile):
    _FUNCTION_RULES[_f] = _linear_in_first(_f)


def _linear_in_sequence(func):
    """Rule for stack-like functions: linear in each array of their first (sequence) argument."""
    def rule(tag, arrays, *args, **kwargs):
        arrays = list(arrays)
        primal = func([_primal(a, tag) for a in arrays], *args, **kwargs)
        tangent = func([_tangent(a, tag) for a in arrays], *args, **kwargs)
        return _make(primal, tangent, tag)
    return rule


for _f in (np.stack, np.concatenate, np.vstack, np.hstack, np.column_stack):
    _FUNCTION_RULES[_f] = _linear_in_sequence(_f)


def _multilinear(func):
    """Rule for functions linear in each array argument (dot, outer, einsum): product rule."""
    def rule(tag, *args, **kwargs):
        primals = [_primal(a, tag) for a in args]
        tangent = None
        for i, a in enumerate(args):
            if _is_ours(a, tag):
                term = func(*primals[:i], a.tangent, *primals[i + 1:], **kwargs)
                tangent = term if tangent is None else tangent + term
        out = func(*primals, **kwargs)
        return _make(out, _match_shape(out, tangent), tag)
    return rule


for _f in (np.dot, np.inner, np.outer, np.tensordot, np.einsum, np.kron, np.cross, np.vdot):
    _FUNCTION_RULES[_f] = _multilinear(_f)


@_implements(np.where)
def _where(tag, condition, x, y):
    while type(condition) is Dual:
        condition = condition.primal
    out = np.where(condition, _primal(x, tag), _primal(y, tag))
    tangent = np.where(condition, _tangent(x, tag), _tangent(y, tag))
    return _make(out, _match_shape(out, tangent), tag)


@_implements(np.clip)
def _clip(tag, x, a_min=None, a_max=None, **kwargs):
    if kwargs:
        raise TypeError(f"np.clip on a Dual accepts only a_min and a_max; got {', '.join(kwargs)}")
    if a_min is not None:
        x = np.maximum(x, a_min)
    if a_max is not None:
        x = np.minimum(x, a_max)
    return x


def _extremum(func, tag, x, axis, keepdims):
    out = func(x.primal, axis=axis, keepdims=True)
    ties = x.primal == out  # the derivative is shared equally among tied entries
    tangent = np.sum(x.tangent * ties, axis=axis, keepdims=True) / np.sum(ties, axis=axis,
                                                                         keepdims=True)
    if not keepdims:
        out, tangent = np.squeeze(out, axis=axis)[()], np.squeeze(tangent, axis=axis)[()]
    return _make(out, tangent, tag)


for _f in (np.max, np.amax):
    _FUNCTION_RULES[_f] = lambda tag, x, axis=None, keepdims=False: _extremum(
        np.max, tag, x, axis, keepdims)
for _f in (np.min, np.amin):
    _FUNCTION_RULES[_f] = lambda tag, x, axis=None, keepdims=False: _extremum(
        np.min, tag, x, axis, keepdims)


# ---- sorting: the tangent follows its entry to where sorting puts it ----
_FUNCTION_RULES[np.take_along_axis] = _linear_in_first(np.take_along_axis)


@_implements(np.sort)
def _sort(tag, a, axis=-1, kind=None, order=None):
    if axis is None:  # numpy sorts the flattened array
        a, axis = np.ravel(a), -1
    order_ = np.argsort(a.primal, axis=axis, kind="stable")
    return _make(np.take_along_axis(a.primal, order_, axis),
                 np.take_along_axis(a.tangent, order_, axis), tag)


# ---- linear algebra on one square matrix (rules: Giles 2008, "Collected matrix derivative
# results for forward and reverse mode algorithmic differentiation") ----

def _square_matrix(name, a):
    shape = _shape(a)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise NotImplementedError(f"numpy.linalg.{name} on a Dual takes one square 2-d matrix; "
                                  f"got shape {shape} (loop over a stack of matrices)")


@_implements(np.linalg.inv)
def _inv(tag, a):
    _square_matrix("inv", a)
    y = np.linalg.inv(a.primal)
    return _make(y, -(y @ a.tangent @ y), tag)  # d(A^-1) = -A^-1 dA A^-1


@_implements(np.linalg.solve)
def _solve(tag, a, b):
    _square_matrix("solve", a)
    ap = _primal(a, tag)
    x = np.linalg.solve(ap, _primal(b, tag))
    rhs = _tangent(b, tag)  # A x = b, so A dx = db - dA x
    if _is_ours(a, tag):
        rhs = rhs - a.tangent @ x
    return _make(x, np.linalg.solve(ap, rhs), tag)


@_implements(np.linalg.det)
def _det(tag, a):
    _square_matrix("det", a)
    d = np.linalg.det(a.primal)
    return _make(d, d * np.trace(np.linalg.solve(a.primal, a.tangent)), tag)  # Jacobi's formula


@_implements(np.linalg.slogdet)
def _slogdet(tag, a):
    _square_matrix("slogdet", a)
    result = np.linalg.slogdet(a.primal)  # (sign, log|det|); the sign is piecewise constant
    tangent = np.trace(np.linalg.solve(a.primal, a.tangent))
    return result._replace(logabsdet=_make(result.logabsdet, tangent, tag))


@_implements(np.linalg.cholesky)
def _cholesky(tag, a, upper=False):
    _square_matrix("cholesky", a)
    if upper:
        raise NotImplementedError("numpy.linalg.cholesky on a Dual: upper=True is not supported; "
                                  "transpose the lower factor instead")
    low = np.linalg.cholesky(a.primal)  # A = L L^T, so L^-1 dA L^-T = X + X^T with X = L^-1 dL
    n = _shape(low)[0]
    phi = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)  # lower triangle, half the diagonal
    da = composites.from_lower(a.tangent)  # numpy reads the lower triangle only
    s = np.transpose(np.linalg.solve(low, np.transpose(np.linalg.solve(low, da))))
    return _make(low, low @ (phi * s), tag)


@_implements(np.linalg.eigh)
def _eigh(tag, a, UPLO="L"):
    _square_matrix("eigh", a)
    if UPLO != "L":
        raise NotImplementedError("numpy.linalg.eigh on a Dual reads the lower triangle "
                                  "(UPLO='L') only")
    result = np.linalg.eigh(a.primal)
    w, v = result.eigenvalues, result.eigenvectors
    m = np.transpose(v) @ composites.from_lower(a.tangent) @ v  # dA in the eigenbasis
    n = _shape(w)[0]
    # dw_i = m_ii; dV = V (F * m) with F_ij = 1 / (w_j - w_i) off the diagonal: eigenvector
    # derivatives need distinct eigenvalues (a repeated one gives inf or nan, never a number)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1.0 - np.eye(n)) / (w[None, :] - w[:, None] + np.eye(n))
    return result._replace(eigenvalues=_make(w, np.diagonal(m), tag),
                           eigenvectors=_make(v, v @ (f * m), tag))


# ---- functions composed of the operations above (np.prod, np.triu, np.var, ...): see
# composites.py; they need no rule of their own ----
for _f, _composite in composites.FUNCTIONS.items():
    _FUNCTION_RULES[_f] = (lambda c: lambda tag, *args, **kwargs: c(*args, **kwargs))(_composite)
_FUNCTION_RULES[np.copy] = lambda tag, a, **kwargs: _make(np.copy(a.primal), np.copy(a.tangent),
                                                      tag)
# rounding is piecewise constant: the result is a constant (derivative 0), as in the tape
_FUNCTION_RULES[np.round] = lambda tag, a, decimals=0, out=None: np.round(a.primal, decimals)


# ---- shape queries and constants: read off the primal ----
_FUNCTION_RULES[np.shape] = lambda tag, x: _shape(x)
_FUNCTION_RULES[np.ndim] = lambda tag, x: len(_shape(x))
_FUNCTION_RULES[np.size] = lambda tag, x, axis=None: (
    int(np.prod(_shape(x))) if axis is None else _shape(x)[axis])
_FUNCTION_RULES[np.zeros_like] = lambda tag, x, dtype=None, **kw: np.zeros(_shape(x), dtype=dtype)
_FUNCTION_RULES[np.ones_like] = lambda tag, x, dtype=None, **kw: np.ones(_shape(x), dtype=dtype)
_FUNCTION_RULES[np.full_like] = lambda tag, x, fill_value, dtype=None, **kw: np.full(
    _shape(x), _primal(fill_value, tag), dtype=dtype or float)


def _on_primals(func):
    """Functions whose result has no derivative (positions, comparisons): run on the primals."""
    def rule(tag, *args, **kwargs):
        return func(*[_primal(a, tag) for a in args], **kwargs)
    return rule


for _f in (np.argmax, np.argmin, np.argsort, np.isclose, np.allclose, np.array_equal):
    _FUNCTION_RULES[_f] = _on_primals(_f)


# ---- derivative operators ---------------------------------------------------------------------

def _check_input(x, name="x"):
    try:
        return _check_part(x, name)
    except TypeError:
        why = (f"; {COMPLEX_REFUSED}" if np.iscomplexobj(x) else "")
        raise TypeError(f"{name} must be a real number or a numpy array of real numbers (or a "
                        f"Dual/traced value when nesting); got {type(x).__name__} {x!r:.60}{why}"
                        ) from None


def _split(out, tag, fname="f"):
    """Read (value, tangent) off a function's result for the computation ``tag``."""
    if type(out) is Dual and out._tag == tag:
        return out.primal, out.tangent
    if isinstance(out, (tuple, list)):
        parts = [_split(o, tag, fname) for o in out]
        return tuple(p for p, _ in parts), tuple(t for _, t in parts)
    if isinstance(out, (np.ndarray, np.generic)) and out.dtype.kind not in "biuf":
        raise TypeError(f"{fname} returned an array of dtype {out.dtype}; differentiation needs "
                        "a function returning real numbers or arrays of them")
    if isinstance(out, numbers.Real) or isinstance(out, np.ndarray) or (
            hasattr(out, "__array_ufunc__") and not isinstance(out, (str, bytes))):
        # does not depend on the input of this call: its tangent is zero
        return out, np.zeros(_shape(out))
    raise TypeError(f"{fname} returned {type(out).__name__} {out!r:.60}; differentiation needs "
                    "a function returning real numbers or numpy arrays of them")


def jvp(f, x, v):
    """Evaluate ``f`` at ``x`` and its directional derivative along ``v`` (chapter 1).

    Args:
        f: a function of one array (or number), written with numpy.
        x: where to differentiate: a number or an array of shape S.
        v: the direction, the same shape S as ``x``.

    Returns:
        ``(f(x), J(x) v)``: the value and the Jacobian-vector product, of the shape of ``f(x)``
        (tuples of them if ``f`` returns a tuple or list of arrays).
    """
    return jvp_many(f, [x], [v])


def jvp_many(f, xs, vs):
    """``jvp`` for a function of several arrays: ``f(*xs)`` and its derivative along ``vs``.

    All inputs move at once (input ``i`` along ``vs[i]``), in one forward pass; the result is
    the sum of the partial derivatives times their directions. ``course_lib.tape.hvp`` uses it for
    parameters held in lists or dicts. Returns ``(f(*xs), tangent)`` as ``jvp`` does.
    """
    if len(xs) != len(vs):
        raise ValueError(f"jvp: give one direction per input; got {len(xs)} inputs and "
                         f"{len(vs)} directions")
    xs = [_check_input(x, "x") for x in xs]
    vs = [_check_input(v, "v") for v in vs]
    for x, v in zip(xs, vs):
        if _shape(v) != _shape(x):
            raise ValueError(f"jvp: the direction v must have the shape of x, {_shape(x)}; got "
                             f"{_shape(v)}")
    tag = new_tag()
    return _split(f(*[_make(x, v, tag) for x, v in zip(xs, vs)]), tag,
                  getattr(f, "__name__", "f"))


def derivative(f, x):
    """Return f'(x) for a function of one scalar, by one forward pass with a dual (chapter 1).

    Args:
        f: a function of a scalar; its output may be a scalar or an array.
        x: a real number (or a Dual/traced scalar when nesting).

    Returns:
        df/dx at ``x``, of the shape of ``f(x)``.
    """
    x = _check_input(x, "x")
    if _shape(x) != ():
        raise ValueError(f"derivative takes a scalar x; got shape {_shape(x)}. Use jvp(f, x, v) "
                         "for a directional derivative or jacfwd(f)(x) for the Jacobian")
    return jvp(f, x, 1.0)[1]


def jacfwd(f):
    """Return a function computing the Jacobian of ``f`` by forward mode (chapter 1).

    It runs one ``jvp`` per entry of the input, so its cost grows with the input's size.

    Args:
        f: a function from an array of shape S to an array of shape T.

    Returns:
        ``jac(x)``: the Jacobian at ``x``, of shape T + S (``jac[i, j] = d f_i / d x_j``).
    """
    def jac(x):
        x = _check_input(x, "x")
        shape = _shape(x)
        n = int(np.prod(shape))
        columns = []
        for j in range(n):
            e = np.zeros(n)
            e[j] = 1.0
            columns.append(jvp(f, x, e.reshape(shape))[1])
        out_shape = _shape(columns[0])
        return np.reshape(np.stack(columns, axis=-1), out_shape + shape)
    jac.__name__ = f"jacfwd({getattr(f, '__name__', 'f')})"
    jac.__doc__ = f"Jacobian of {getattr(f, '__name__', 'f')} by forward mode."
    return jac
