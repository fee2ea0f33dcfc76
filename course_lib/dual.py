"""Forward-mode differentiation with dual numbers: carry a tangent beside every value.

A ``Dual`` holds a ``primal`` (the value) and a ``tangent`` (its derivative along one input
direction). Every operation computes both, so running an ordinary numpy function on a ``Dual``
gives the function's value and its directional derivative in one pass. Chapter 1 introduces it.

How numpy code reaches the derivative rules (each written once, in ``course_lib.rules``, and read
by reverse mode too):

* Python operators (``+ - * / **``, comparisons) are methods of ``Dual`` that apply the ufuncs'
  rules directly, without numpy's dispatch (which costs more than the arithmetic on scalars).
* numpy ufuncs (``np.sin``, ``np.add``, ...) arrive through ``__array_ufunc__``: the tangent is the
  sum of each ufunc's partial derivatives (``course_lib.rules.elementwise``) times the tangents.
* Other numpy functions (``np.sum``, ``np.dot``, ``np.where``, ...) arrive through
  ``__array_function__`` and run the code ``course_lib.rules.FUNCTIONS`` gives for them; its
  primitives come back to ``Dual._apply``, which computes their tangent by their rule.

An operation without a rule raises ``NotImplementedError`` naming the numpy function: never a silent
wrong derivative. The conventions at kinks and edges (``|x|`` at 0, ties of ``maximum``, ``x**0`` at
0, ...) are decided in the rules, once for both modes; comparisons and branches look at primals
only, so a piecewise function gets the derivative of the piece taken.

Nesting: every ``derivative``/``jvp``/``jacfwd`` call takes a fresh tag from ``course_lib.nesting``
and its duals carry it. When an operation meets values of several tags, only the largest tag (the
innermost computation) handles it and treats the others as constants, whose own types then do the
arithmetic inside. That keeps nested derivatives apart (no perturbation confusion) and lets a
``Dual`` hold the tape's traced values (forward-over-reverse) or sit inside them.

``derivative``, ``jvp`` and ``jacfwd`` are in ``course_lib.forward`` (importable from here too).
Complex values may occur inside a computation (an FFT), never as the parts of a hand-built Dual.
"""
import numbers

import numpy as np

from .nesting import NUMBERS, ArrayMethods, dtype_of, is_complex, new_tag, shape_of, top_tag
from .rules import complexes, handler_for, no_rule
from .rules.elementwise import (BILINEAR, LINEAR, OPERATORS, PIECEWISE_CONSTANT, UFUNC_PARTIALS,
                                defjvp)
from .rules.products import matmul
from .rules.structural import getitem

__all__ = ["Dual", "derivative", "jvp", "jvp_many", "jacfwd", "defjvp"]

# Duals built by hand, Dual(primal, tangent), share this tag: they belong to one perturbation.
_MANUAL_TAG = new_tag()
_SCALARS = (int, float)


# ---- the Dual type ----------------------------------------------------------------------------

def _comparison(ufunc):
    """The method for a comparison (``<``, ``==``, ...): computed on primals only."""
    def method(self, other):
        return _compare(ufunc, self, other)
    method.__name__ = f"__{ufunc.__name__}__"
    return method


def _operator(ufunc, reflected=False):
    """The method for a Python operator (``+``, ``*``, ...): the ufunc's rule, applied directly.

    The common case in scalar loops, a number or a dual of the same computation on the other
    side, goes straight to the rule; anything else goes through ``_binary``'s checks.

    Duals with Python float parts, against a Python number or such a dual, take the one scalar
    fast path: ``_apply_binary``'s numbers without the checks arrays need. ``/``, ``**`` and ``%``
    call their partials in the one table (which holds the conventions: ``x**0`` at 0, ``0**y``),
    as do ``+`` and ``-`` with a constant; ``+`` and ``-`` are linear and ``*`` bilinear
    (``rules.elementwise.LINEAR``, ``BILINEAR``), so between two duals their tangent is the
    operation itself on the tangents, and a product with a constant is the product of the
    tangent with it. The benchmark row
    "RK4 loop: derivative by Dual" (benchmarks/bench_dual.py) justifies it; tests/test_dual.py
    checks it against ``_apply_binary`` bit for bit.
    """
    compute = OPERATORS[ufunc]
    linear, bilinear = ufunc in LINEAR, ufunc in BILINEAR

    def method(self, other):
        x, cls = self.primal, other.__class__
        if x.__class__ is float and self.tangent.__class__ is float:  # the scalar fast path
            if cls is float or cls is int:  # a constant
                if reflected:
                    out = compute(other, x)
                    tangent = (compute(other, self.tangent) if bilinear else
                               UFUNC_PARTIALS[ufunc][1](out, other, x) * self.tangent)
                else:
                    out = compute(x, other)
                    tangent = (compute(self.tangent, other) if bilinear else
                               UFUNC_PARTIALS[ufunc][0](out, x, other) * self.tangent)
                d = _new(Dual)
                d.primal, d.tangent, d._tag = out, tangent, self._tag
                return d
            # two duals (never reflected: Python calls __add__ between two Duals)
            if (cls is Dual and other._tag == self._tag and other.primal.__class__ is float
                    and other.tangent.__class__ is float):
                y = other.primal
                out = compute(x, y)
                if linear:
                    tangent = compute(self.tangent, other.tangent)
                elif bilinear:  # the product rule
                    tangent = compute(self.tangent, y) + compute(x, other.tangent)
                else:
                    dx, dy = UFUNC_PARTIALS[ufunc]
                    tangent = dx(out, x, y) * self.tangent + dy(out, x, y) * other.tangent
                d = _new(Dual)
                d.primal, d.tangent, d._tag = out, tangent, self._tag
                return d
        if cls in NUMBERS or cls is Dual and other._tag == self._tag:
            if reflected:
                return _apply_binary(ufunc, other, self, self._tag)
            return _apply_binary(ufunc, self, other, self._tag)
        return _binary(ufunc, other, self, self) if reflected else _binary(ufunc, self, other, self)
    method.__name__ = f"__{'r' if reflected else ''}{ufunc.__name__}__"
    return method


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
    def dtype(self):
        return dtype_of(self.primal)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a scalar Dual")
        return self.shape[0]

    def __getitem__(self, index):
        return getitem(self, index)

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
    def _apply(self, prim, args, params):
        """Run a primitive on duals of this computation: its value, and its tangent by its rule."""
        tag = self._tag
        primals = [a.primal if a.__class__ is Dual and a._tag == tag else a for a in args]
        tangents = [a.tangent if p is not a else None for a, p in zip(args, primals)]
        out = prim.impl(*primals, **params)
        tangent = prim.tangent(tangents, out, primals, params)
        if tangent is None:
            return out
        return _make(out, _match_shape(out, tangent), tag)

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

    # ---- arithmetic operators: the ufuncs' rules, without numpy's dispatch ----
    __add__, __radd__ = _operator(np.add), _operator(np.add, reflected=True)
    __sub__, __rsub__ = _operator(np.subtract), _operator(np.subtract, reflected=True)
    __mul__, __rmul__ = _operator(np.multiply), _operator(np.multiply, reflected=True)
    __truediv__ = _operator(np.true_divide)
    __rtruediv__ = _operator(np.true_divide, reflected=True)
    __pow__, __rpow__ = _operator(np.power), _operator(np.power, reflected=True)
    __mod__, __rmod__ = _operator(np.remainder), _operator(np.remainder, reflected=True)

    def __matmul__(self, other):
        return _binary(np.matmul, self, other, self)

    def __rmatmul__(self, other):
        return _binary(np.matmul, other, self, self)

    def __neg__(self):
        x = self.primal
        if x.__class__ is float and self.tangent.__class__ is float:  # the scalar fast path
            return _make(-x, UFUNC_PARTIALS[np.negative][0](-x, x) * self.tangent, self._tag)
        return _apply_ufunc(np.negative, (self,), self._tag)

    def __pos__(self):
        return self

    def __abs__(self):
        return np.absolute(self)

    # ---- comparisons look at primals only ----
    __lt__, __le__ = _comparison(np.less), _comparison(np.less_equal)
    __gt__, __ge__ = _comparison(np.greater), _comparison(np.greater_equal)
    __eq__, __ne__ = _comparison(np.equal), _comparison(np.not_equal)

    __hash__ = None

    # ---- numpy dispatch ----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if top_tag(inputs) != self._tag:
            return NotImplemented  # a more deeply nested computation handles this op
        if method != "__call__":
            name = f"numpy.{ufunc.__name__}.{method}"
            raise NotImplementedError(f"{name} has no forward-mode rule for Dual; use the "
                                      "corresponding numpy function (e.g. np.sum, np.cumsum)")
        if kwargs:
            raise TypeError(f"numpy.{ufunc.__name__} on a Dual does not accept keyword arguments "
                            f"({', '.join(kwargs)}); call it without them")
        return _apply_ufunc(ufunc, inputs, self._tag)

    def __array_function__(self, func, types, args, kwargs):
        if top_tag(_flatten(args)) != self._tag or kwargs and top_tag(
                _flatten(tuple(kwargs.values()))) > self._tag:
            return NotImplemented
        return handler_for(func)(*args, **kwargs)


def _make(primal, tangent, tag):
    """A dual of this computation, without the checks of ``Dual(...)`` (the rules guarantee
    matching parts); written out because every operation makes one."""
    d = _new(Dual)
    d.primal, d.tangent, d._tag = primal, tangent, tag
    return d


_new = object.__new__


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


_shape = shape_of


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


def _primal(x, tag):
    """The primal of a dual of this computation; any other value is a constant, returned as is."""
    return x.primal if type(x) is Dual and x._tag == tag else x


def _is_constant_operand(x):
    return (isinstance(x, (numbers.Number, np.ndarray, np.generic))
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
    if len(inputs) == 2:
        return _apply_binary(ufunc, inputs[0], inputs[1], tag)
    partials = UFUNC_PARTIALS.get(ufunc)
    if partials is None or len(inputs) != 1:
        return _without_partials(ufunc, inputs, tag)
    x = inputs[0].primal  # a unary ufunc reached this dual: the input is ours, the shape is kept
    if ufunc is np.absolute and is_complex(x):
        return complexes.absolute(inputs[0])
    out = OPERATORS.get(ufunc, ufunc)(x)
    return _make(out, partials[0](out, x) * inputs[0].tangent, tag)


def _apply_binary(ufunc, a, b, tag):
    """``_apply_ufunc`` for two arguments, written out (scalar loops spend their time here)."""
    partials = UFUNC_PARTIALS.get(ufunc)
    if partials is None:
        return _without_partials(ufunc, (a, b), tag)
    a_ours = a.__class__ is Dual and a._tag == tag
    b_ours = b.__class__ is Dual and b._tag == tag
    x = a.primal if a_ours else a
    y = b.primal if b_ours else b
    out = OPERATORS.get(ufunc, ufunc)(x, y)
    tangent = None
    if a_ours:
        d = partials[0](out, x, y)
        tangent = a.tangent if d.__class__ is float and d == 1.0 else d * a.tangent
    if b_ours:
        d = partials[1](out, x, y)
        term = b.tangent if d.__class__ is float and d == 1.0 else d * b.tangent
        tangent = term if tangent is None else tangent + term
    if out.__class__ not in NUMBERS or tangent.__class__ not in NUMBERS:
        tangent = _match_shape(out, tangent)  # a constant operand may have widened the result
    return _make(out, tangent, tag)


def _without_partials(ufunc, inputs, tag):
    """matmul (its own rule below), piecewise-constant ufuncs (a plain result), or an error."""
    if ufunc is np.matmul:
        return matmul(*inputs)
    if ufunc in PIECEWISE_CONSTANT:
        complexes.check_constant(ufunc, inputs)
        return ufunc(*[_primal(x, tag) for x in inputs])
    if ufunc is np.conjugate:
        return complexes.conjugate(inputs[0])
    raise no_rule(f"numpy.{ufunc.__name__}")


# ---- the transformations, in course_lib.forward (imported last: they build on Dual) -----------

from .forward import derivative, jacfwd, jvp, jvp_many  # noqa: E402
