"""Forward-mode differentiation with dual numbers: carry a tangent beside every value.

A ``Dual`` holds a ``primal`` (the value) and a ``tangent`` (its derivative along one input
direction). Every operation computes both, so running an ordinary numpy function on a ``Dual``
gives the function's value and its directional derivative in one pass. Chapter 1 introduces it.

How numpy code reaches the rules below:

* Python operators (``+ - * / **``, comparisons) are methods of ``Dual`` that apply the ufuncs'
  rules directly, without numpy's dispatch (which costs more than the arithmetic on scalars).
* numpy ufuncs (``np.sin``, ``np.add``, ...) arrive through ``__array_ufunc__`` and use the
  partial derivatives in ``course_lib.rules.elementwise``, the table reverse mode reads too.
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
from .rules.elementwise import OPERATORS, PIECEWISE_CONSTANT, UFUNC_PARTIALS, defjvp

__all__ = ["Dual", "derivative", "jvp", "jacfwd", "defjvp"]

# Duals built by hand, Dual(primal, tangent), share this tag: they belong to one perturbation.
_MANUAL_TAG = new_tag()
_SCALARS = (int, float)
_NUMBERS = frozenset({float, int, np.float64})  # classes of plain scalars


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

    # ---- arithmetic operators: the ufuncs' rules, without numpy's dispatch ----
    def __add__(self, other):
        return _binary(np.add, self, other, self)

    def __radd__(self, other):
        return _binary(np.add, other, self, self)

    def __sub__(self, other):
        return _binary(np.subtract, self, other, self)

    def __rsub__(self, other):
        return _binary(np.subtract, other, self, self)

    def __mul__(self, other):
        return _binary(np.multiply, self, other, self)

    def __rmul__(self, other):
        return _binary(np.multiply, other, self, self)

    def __truediv__(self, other):
        return _binary(np.true_divide, self, other, self)

    def __rtruediv__(self, other):
        return _binary(np.true_divide, other, self, self)

    def __pow__(self, other):
        return _binary(np.power, self, other, self)

    def __rpow__(self, other):
        return _binary(np.power, other, self, self)

    def __matmul__(self, other):
        return _binary(np.matmul, self, other, self)

    def __rmatmul__(self, other):
        return _binary(np.matmul, other, self, self)

    def __neg__(self):
        return _apply_ufunc(np.negative, (self,), self._tag)

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
        if kwargs:
            raise TypeError(f"numpy.{ufunc.__name__} on a Dual does not accept keyword arguments "
                            f"({', '.join(kwargs)}); call it without them")
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
    if other.__class__ in _NUMBERS or other.__class__ is Dual and other._tag == this._tag:
        return _apply_ufunc(ufunc, (a, b), this._tag)
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
    """Primal by the ufunc itself; tangent = sum over dual inputs of (partial * input tangent).

    Written out for one and two arguments (every ufunc with a rule has one or two): scalar loops
    spend most of their time here.
    """
    partials = UFUNC_PARTIALS.get(ufunc)
    if partials is None:
        return _without_partials(ufunc, inputs, tag)
    compute = OPERATORS.get(ufunc, ufunc)
    if len(inputs) == 1:  # a unary ufunc reached this dual: the input is ours, the shape is kept
        x = inputs[0].primal
        out = compute(x)
        d = partials[0](out, x)
        return _make(out, d * inputs[0].tangent, tag)
    a, b = inputs
    a_ours = a.__class__ is Dual and a._tag == tag
    b_ours = b.__class__ is Dual and b._tag == tag
    x = a.primal if a_ours else a
    y = b.primal if b_ours else b
    out = compute(x, y)
    tangent = None
    if a_ours:
        d = partials[0](out, x, y)
        tangent = a.tangent if d.__class__ is float and d == 1.0 else d * a.tangent
    if b_ours:
        d = partials[1](out, x, y)
        term = b.tangent if d.__class__ is float and d == 1.0 else d * b.tangent
        tangent = term if tangent is None else tangent + term
    if out.__class__ not in _NUMBERS or tangent.__class__ not in _NUMBERS:
        tangent = _match_shape(out, tangent)  # a constant operand may have widened the result
    return _make(out, tangent, tag)


def _without_partials(ufunc, inputs, tag):
    """matmul (its own rule below), piecewise-constant ufuncs (a plain result), or an error."""
    if ufunc is np.matmul:
        return _matmul(tag, *inputs)
    if ufunc in PIECEWISE_CONSTANT:
        return ufunc(*[_primal(x, tag) for x in inputs])
    raise NotImplementedError(
        f"numpy.{ufunc.__name__} has no derivative rule; write the computation with functions "
        "that have one, or register its partial derivatives with defjvp (chapter 1)")


# ---- ufunc rules: linear algebra ----

def _matmul(tag, a, b):
    """``a @ b`` with a dual of this computation on either side: d(a @ b) = da @ b + a @ db."""
    a_ours, b_ours = _is_ours(a, tag), _is_ours(b, tag)
    if a_ours and b_ours:
        return _make(a.primal @ b.primal, a.tangent @ b.primal + a.primal @ b.tangent, tag)
    if a_ours:
        return _make(a.primal @ b, a.tangent @ b, tag)
    return _make(a @ b.primal, a @ b.tangent, tag)


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
