"""Reverse mode: record numpy operations on a tape (a Wengert list), then walk it backwards.

Chapter 2 introduces it. A ``Traced`` value wraps an array and implements numpy's dispatch protocols
(``__array_ufunc__``, ``__array_function__``), so plain numpy code such as ``np.sum(np.tanh(W @ x))``
records each operation on a tape as it runs. Every operation (a *primitive*) is stored with staged
vector-Jacobian product (VJP) rules: a rule takes the operation's output and inputs and returns the
function that maps an output cotangent ``g`` to an input cotangent. The backward pass visits the tape
once, from the last entry to the first, and sums cotangents into a local list.

The rules are written in numpy operations themselves, so a rule applied to traced values (an outer
``grad``) or to ``Dual`` numbers (forward mode) is differentiated again: grad of grad,
forward-over-reverse and reverse-over-reverse all work. Tags from ``course_lib.nesting`` keep nested
calls apart (no perturbation confusion).

Public names: ``grad``, ``value_and_grad``, ``vjp``, ``jacrev``, ``hessian``, ``hvp``, ``trace``,
plus ``Traced`` and ``unbroadcast`` for readers who want to look inside.
"""
import contextlib
import gc
import operator
import string

import numpy as np

from . import composites
from .nesting import COMPLEX_REFUSED, ArrayMethods, new_tag, tag_of, top_tag
from .rules.elementwise import OPERATORS, PIECEWISE_CONSTANT, UFUNC_PARTIALS

__all__ = ["Traced", "grad", "value_and_grad", "vjp", "jacrev", "hessian", "hvp", "trace",
           "unbroadcast"]


# ---- the tape and the traced value ----------------------------------------------------------

class Tape:
    """The Wengert list of one ``grad``/``vjp`` call: one entry per recorded operation.

    An entry is a tuple ``(parents, vjps, name, value)``: the tape indices of the traced inputs, the
    VJP function for each of them, the operation's name and (for ``trace`` only) its output value;
    otherwise the tape holds just what the VJP functions captured.
    """
    __slots__ = ("tag", "entries", "active", "keep_values")

    def __init__(self, tag, keep_values=False):
        self.tag = tag
        self.entries = []
        self.active = True
        self.keep_values = keep_values  # only trace() shows values; grad keeps what rules capture

    def push(self, value, parents, vjps, name):
        """Append one entry and return the traced value that stands for its output."""
        if not self.active:
            raise RuntimeError("a traced value escaped from the grad/vjp call that created it; "
                               "return plain results from f instead of keeping traced values")
        t = Traced.__new__(Traced)
        t.value = value
        t._tag = self.tag
        t._tape = self
        t._index = len(self.entries)
        self.entries.append((parents, vjps, name, value if self.keep_values else None))
        return t


class Traced(ArrayMethods):
    """A value recorded on a tape: the array (or number) it holds plus its position on the tape.

    Chapter 2 introduces it. ``value`` is stored as it is, so it may itself be a ``Dual`` or a value
    traced by an outer ``grad`` (that is how derivatives nest). Attributes ``shape``, ``ndim``,
    ``size``, ``dtype`` and ``T`` read through to the value.
    """
    __slots__ = ("value", "_tag", "_tape", "_index")
    __array_priority__ = 100.0

    def __init__(self, value, tape):
        self.value = value
        self._tag = tape.tag
        self._tape = tape
        self._index = len(tape.entries)
        tape.entries.append(((), (), "input", value))

    # -- numpy's dispatch protocols --
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if top_tag(inputs) != self._tag:
            return NotImplemented  # a value from an inner derivative call handles this
        if method != "__call__":
            raise NotImplementedError(
                f"reverse mode has no rule for numpy.{ufunc.__name__}.{method}; "
                f"write it with numpy functions (for example np.sum instead of np.add.reduce)")
        if kwargs:
            raise NotImplementedError(
                f"reverse mode does not support keyword arguments {sorted(kwargs)} of "
                f"numpy.{ufunc.__name__}; call it without them (no out=, where=, dtype=)")
        if ufunc is np.matmul:
            return _record(_MATMUL, self._tag, inputs, {})
        return _record_ufunc(ufunc, self._tape, inputs)

    def __array_function__(self, func, types, args, kwargs):
        tag = top_tag(_flat_args(args) + list(kwargs.values()))
        if tag != self._tag:
            return NotImplemented
        handler = _FUNCTIONS.get(func)
        if handler is None:
            raise NotImplementedError(_no_rule_message(f"{func.__module__}.{func.__name__}",
                                                       _flat_args(args), tag))
        return handler(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a traced value cannot be converted to a plain numpy array: the derivative "
                        "would be lost. Use np.stack/np.concatenate to combine traced values, and "
                        "numpy functions (not math or Python built-ins) on them.")

    # -- Python operators: the same rules as the ufuncs, without numpy's dispatch --
    def __add__(self, other):
        return _binary(np.add, self, other)

    def __radd__(self, other):
        return _binary(np.add, other, self)

    def __sub__(self, other):
        return _binary(np.subtract, self, other)

    def __rsub__(self, other):
        return _binary(np.subtract, other, self)

    def __mul__(self, other):
        return _binary(np.multiply, self, other)

    def __rmul__(self, other):
        return _binary(np.multiply, other, self)

    def __truediv__(self, other):
        return _binary(np.true_divide, self, other)

    def __rtruediv__(self, other):
        return _binary(np.true_divide, other, self)

    def __pow__(self, other):
        return _binary(np.power, self, other)

    def __rpow__(self, other):
        return _binary(np.power, other, self)

    def __matmul__(self, other):
        return _binary(np.matmul, self, other)

    def __rmatmul__(self, other):
        return _binary(np.matmul, other, self)

    def __neg__(self):
        return _record_ufunc(np.negative, self._tape, (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return _record_ufunc(np.absolute, self._tape, (self,))

    # Comparisons and truth values act on the primal value: branches are piecewise.
    def __lt__(self, other):
        return _primal(self) < _primal(other)

    def __le__(self, other):
        return _primal(self) <= _primal(other)

    def __gt__(self, other):
        return _primal(self) > _primal(other)

    def __ge__(self, other):
        return _primal(self) >= _primal(other)

    def __eq__(self, other):
        return _primal(self) == _primal(other)

    def __ne__(self, other):
        return _primal(self) != _primal(other)

    __hash__ = object.__hash__

    def __bool__(self):
        return bool(_primal(self))

    def __float__(self):
        raise TypeError("float() of a traced value would drop its derivative; keep it as an array "
                        "(use numpy functions such as np.sin, not math.sin)")

    def __setitem__(self, index, value):
        raise TypeError("traced values are immutable; build the new array with np.where, "
                        "np.concatenate or np.stack instead of assigning into it")

    # -- indexing and shape --
    def __getitem__(self, index):
        return _record(_GETITEM, self._tag, (self,), {"index": _strip_index(index)})

    def __len__(self):
        return len(self.value)

    def __iter__(self):
        for i in range(len(self.value)):
            yield self[i]

    @property
    def shape(self):
        return _shape(self.value)

    @property
    def ndim(self):
        return len(_shape(self.value))

    @property
    def size(self):
        return int(np.prod(_shape(self.value), dtype=int))

    @property
    def dtype(self):
        return getattr(self.value, "dtype", np.dtype(float))

    def __repr__(self):
        return f"Traced({self.value!r}, tag={self._tag})"


# ---- helpers shared by every rule -----------------------------------------------------------

def _shape(x):
    """Shape of an array, number, Dual or traced value, without converting it."""
    s = getattr(x, "shape", None)
    if s is not None:
        return s if type(s) is tuple else tuple(s)
    return () if isinstance(x, (float, int)) else np.shape(x)


def _primal(x):
    """Strip every layer (traced values, duals) down to the plain value: for masks and branches."""
    while tag_of(x):
        x = x.value if isinstance(x, Traced) else getattr(x, "primal")
    return x


def _strip(x, tag):
    """The value inside ``x`` if it is traced with ``tag``, else ``x`` itself (a constant)."""
    return x.value if isinstance(x, Traced) and x._tag == tag else x


def _strip_index(index):
    """Indices are never differentiated: replace traced parts of an index by their primal values."""
    if isinstance(index, tuple):
        return tuple(_primal(i) if tag_of(i) else i for i in index)
    return _primal(index) if tag_of(index) else index


def _flat_args(args):
    """Arguments of a numpy function, with sequences (as in np.concatenate) opened one level."""
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(a)
        else:
            out.append(a)
    return out


def _no_rule_message(name, args, tag):
    which = [i for i, a in enumerate(args) if isinstance(a, Traced) and a._tag == tag]
    return (f"reverse mode has no rule for {name} (traced argument {which[0] if which else '?'}); "
            f"rewrite the code with supported numpy operations or add a rule to course_lib/tape.py")


def _is_plain(g):
    return not tag_of(g)


def unbroadcast(g, shape):
    """Sum a cotangent over the axes numpy broadcasting added, so it gets the input's shape.

    Chapter 2 introduces it; every binary rule uses it. Args: ``g``, a cotangent of the broadcast
    output's shape; ``shape``, the input's shape. Returns: an array of shape ``shape``.
    """
    gshape = _shape(g)
    if gshape == shape:
        return g
    extra = len(gshape) - len(shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and gshape[extra + i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if extra < 0:  # a cotangent smaller than its input: only a scalar cotangent gets here
        g = _broadcast_to(g, shape)
    return g


def _broadcast_to(g, shape):
    """Repeat a cotangent to ``shape`` (a view for plain arrays, an operation for nested values)."""
    if _shape(g) == shape:
        return g
    if _is_plain(g) or isinstance(g, Traced):
        return np.broadcast_to(g, shape)
    return g + np.zeros(shape)  # a Dual: adding zeros broadcasts with any numpy-like type


def _keepdims_shape(shape, axis):
    """The shape a reduction over ``axis`` leaves with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


# ---- recording an operation -----------------------------------------------------------------

class Primitive:
    """An operation the tape knows: its forward function and one VJP maker per argument.

    A VJP maker is called as ``maker(ans, *inputs, **kwargs)`` when the operation runs and returns
    the function ``g -> cotangent of that input``: what it captures is what the backward pass keeps.
    """
    __slots__ = ("name", "fwd", "makers")

    def __init__(self, name, fwd, *makers):
        self.name = name
        self.fwd = fwd
        self.makers = makers

    def maker(self, i):
        """The VJP maker for argument ``i``, or None if that argument has no rule."""
        return self.makers[i] if i < len(self.makers) else None


def _record(prim, tag, args, kwargs, fwd=None):
    """Run ``prim`` on the values inside ``args`` and record it on the tape of ``tag``."""
    vals = list(args)
    parents = []
    tape = None
    for i, a in enumerate(args):
        if isinstance(a, Traced) and a._tag == tag:
            vals[i] = a.value
            parents.append(i)
            tape = a._tape
    ans = (fwd or prim.fwd)(*vals, **kwargs)
    vjps = []
    for i in parents:
        maker = prim.maker(i)
        if maker is None:
            raise NotImplementedError(
                f"reverse mode has no rule for argument {i} of {prim.name}; "
                f"pass that argument as a constant (not traced)")
        vjps.append(maker(ans, *vals, **kwargs))
    return tape.push(ans, tuple(args[i]._index for i in parents), tuple(vjps), prim.name)


def _binary(ufunc, a, b):
    """A Python operator between ``a`` and ``b``: record it unless an inner value must handle it."""
    this = a if getattr(a, "_tag", 0) >= getattr(b, "_tag", 0) else b
    if this.__class__ is not Traced:
        return NotImplemented  # a Dual from an inner forward-mode call does the arithmetic
    if ufunc is np.matmul:
        return _record(_MATMUL, this._tag, (a, b), {})
    return _record_ufunc(ufunc, this._tape, (a, b))


# ---- elementwise ufuncs: their partials, from the table forward mode uses too ----------------

def _record_ufunc(ufunc, tape, inputs):
    """Run a ufunc on the values and record its linearization: one partial per traced input.

    The backward pass runs the transpose of ``t -> sum_i partial_i * t_i``, which multiplies the
    cotangent by each partial (``course_lib.rules.elementwise``). Written out for one and two
    arguments (every ufunc with a rule has one or two): scalar loops spend most of their time here.
    """
    partials = UFUNC_PARTIALS.get(ufunc)
    if partials is None:
        return _without_partials(ufunc, tape.tag, inputs)
    compute = OPERATORS.get(ufunc, ufunc)
    if len(inputs) == 1:  # a unary ufunc reached this traced value: the shape is kept
        x = inputs[0].value
        out = compute(x)
        return tape.push(out, (inputs[0]._index,), (_scaling(partials[0](out, x)),),
                         ufunc.__name__)
    a, b = inputs
    tag = tape.tag
    a_ours = a.__class__ is Traced and a._tag == tag
    b_ours = b.__class__ is Traced and b._tag == tag
    x = a.value if a_ours else a
    y = b.value if b_ours else b
    out = compute(x, y)
    scalar = out.__class__ in _NUMBERS  # then x and y are scalars too: nothing to unbroadcast
    out_shape = None if scalar else _shape(out)
    if a_ours:
        ta = _scaling(partials[0](out, x, y), None if scalar else _shape(x), out_shape)
        if not b_ours:
            return tape.push(out, (a._index,), (ta,), ufunc.__name__)
        tb = _scaling(partials[1](out, x, y), None if scalar else _shape(y), out_shape)
        return tape.push(out, (a._index, b._index), (ta, tb), ufunc.__name__)
    tb = _scaling(partials[1](out, x, y), None if scalar else _shape(y), out_shape)
    return tape.push(out, (b._index,), (tb,), ufunc.__name__)


def _without_partials(ufunc, tag, inputs):
    """Piecewise-constant ufuncs give a plain result (nothing is recorded); others have no rule."""
    if ufunc in PIECEWISE_CONSTANT:
        return ufunc(*[_strip(a, tag) for a in inputs])
    raise NotImplementedError(_no_rule_message(f"numpy.{ufunc.__name__}", inputs, tag))


_NUMBERS = frozenset({float, int, np.float64})  # classes of plain scalars


def _scaling(d, shape=None, out_shape=None):
    """The transpose of ``t -> d * t``: ``g -> d * g``, summed back to the input's ``shape``."""
    if d.__class__ is float and d == 1.0:
        fn = _identity
    elif d.__class__ is float and d == -1.0:
        fn = operator.neg
    else:
        def fn(g):
            return g * d
    if shape == out_shape:
        return fn
    return lambda g: unbroadcast(fn(g), shape)


def _identity(g):
    return g


# ---- matrix products ------------------------------------------------------------------------

def _matmul_vjp_x(ans, a, b):
    a_nd, b_nd, shape = len(_shape(a)), len(_shape(b)), _shape(a)

    def vjp(g):
        if b_nd == 1:
            return g * b if a_nd == 1 else unbroadcast(g[..., None] * b, shape)
        if a_nd == 1:  # g: (..., n), b: (..., k, n)
            return unbroadcast(np.matmul(b, g[..., None])[..., 0], shape)
        return unbroadcast(np.matmul(g, np.swapaxes(b, -1, -2)), shape)
    return vjp


def _matmul_vjp_y(ans, a, b):
    a_nd, b_nd, shape = len(_shape(a)), len(_shape(b)), _shape(b)

    def vjp(g):
        if a_nd == 1:
            return g * a if b_nd == 1 else unbroadcast(a[:, None] * g[..., None, :], shape)
        if b_nd == 1:  # g: (..., m), a: (..., m, k)
            return g @ a if a_nd == 2 else unbroadcast(np.matmul(g[..., None, :], a)[..., 0, :],
                                                       shape)
        return unbroadcast(np.matmul(np.swapaxes(a, -1, -2), g), shape)
    return vjp


_MATMUL = Primitive("matmul", np.matmul, _matmul_vjp_x, _matmul_vjp_y)


def _dot(a, b, out=None):
    """np.dot through the tape: a product for scalars, matmul for vectors and matrices."""
    if out is not None:
        raise NotImplementedError("numpy.dot(..., out=) is not supported under reverse mode")
    na, nb = len(_shape(a)), len(_shape(b))
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    if na > 2 or nb > 2:
        raise NotImplementedError("numpy.dot of arrays with more than 2 dimensions has no reverse "
                                  "rule; use np.matmul (the @ operator) or np.einsum-free code")
    return np.matmul(a, b)


def _outer(a, b, out=None):
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


def _vdot(a, b):
    return np.sum(np.multiply(np.ravel(a), np.ravel(b)))


def _inner(a, b):
    return np.matmul(a, b) if len(_shape(b)) <= 1 else np.matmul(a, np.swapaxes(b, -1, -2))


# ---- reductions -----------------------------------------------------------------------------

def _sum_vjp(ans, x, axis=None, keepdims=False):
    shape = _shape(x)
    kshape = _keepdims_shape(shape, axis)

    def vjp(g):
        if not keepdims:
            g = np.reshape(g, kshape)
        return _broadcast_to(g, shape)
    return vjp


def _sum_fwd(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


_SUM = Primitive("sum", _sum_fwd, _sum_vjp)


def _extremum_vjp(ans, x, axis=None, keepdims=False):
    shape = _shape(x)
    kshape = _keepdims_shape(shape, axis)

    def vjp(g):
        # The cotangent goes to the entries equal to the extremum, shared equally between ties.
        hit = (_primal(x) == np.reshape(_primal(ans), kshape))
        share = hit / np.sum(hit, axis=axis, keepdims=True)
        return _broadcast_to(np.reshape(g, kshape), shape) * share
    return vjp


_MAX = Primitive("max", lambda x, axis=None, keepdims=False: np.max(x, axis=axis,
                                                                     keepdims=keepdims),
                 _extremum_vjp)
_MIN = Primitive("min", lambda x, axis=None, keepdims=False: np.min(x, axis=axis,
                                                                     keepdims=keepdims),
                 _extremum_vjp)


def _reduction(prim):
    def handler(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        if out is not None or kwargs:
            raise NotImplementedError(f"numpy.{prim.name} with {sorted(kwargs) or ['out']} is "
                                      f"not supported under reverse mode")
        if isinstance(axis, list):
            axis = tuple(axis)
        return _record(prim, a._tag, (a,), {"axis": axis, "keepdims": keepdims})
    return handler


def _mean(a, axis=None, dtype=None, out=None, keepdims=False):
    shape = _shape(a)
    kshape = _keepdims_shape(shape, axis)
    count = int(np.prod(shape, dtype=int) // max(np.prod(kshape, dtype=int), 1))
    return np.sum(a, axis=axis, keepdims=keepdims) / count


def _cumsum_vjp(ans, x, axis=None):
    shape = _shape(x)

    def vjp(g):
        if axis is None:
            return np.reshape(np.flip(np.cumsum(np.flip(g))), shape)
        return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)
    return vjp


_CUMSUM = Primitive("cumsum", lambda x, axis=None: np.cumsum(x, axis=axis), _cumsum_vjp)


def _flip_vjp(ans, x, axis=None):
    return lambda g: np.flip(g, axis)


_FLIP = Primitive("flip", lambda x, axis=None: np.flip(x, axis), _flip_vjp)


# ---- shapes: reshape, transpose, broadcast --------------------------------------------------

def _reshape_vjp(ans, x, shape):
    old = _shape(x)
    return lambda g: np.reshape(g, old)


_RESHAPE = Primitive("reshape", lambda x, shape: np.reshape(x, shape), _reshape_vjp)


def _transpose_vjp(ans, x, axes=None):
    inverse = None if axes is None else tuple(np.argsort(axes))
    return lambda g: np.transpose(g, inverse)


_TRANSPOSE = Primitive("transpose", lambda x, axes=None: np.transpose(x, axes), _transpose_vjp)


def _broadcast_to_vjp(ans, x, shape):
    old = _shape(x)
    return lambda g: unbroadcast(g, old)


_BROADCAST = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                       _broadcast_to_vjp)


def _swapaxes(a, axis1, axis2):
    axes = list(range(len(_shape(a))))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return np.transpose(a, axes)


def _moveaxis(a, source, destination):
    nd = len(_shape(a))
    axes = [i for i in range(nd) if i != source % nd]
    axes.insert(destination % nd, source % nd)
    return np.transpose(a, axes)


def _expand_dims(a, axis):
    shape = list(_shape(a))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    nd = len(shape) + len(axes)
    for ax in sorted(ax % nd for ax in axes):
        shape.insert(ax, 1)
    return np.reshape(a, tuple(shape))


def _squeeze(a, axis=None):
    shape = _shape(a)
    if axis is None:
        return np.reshape(a, tuple(n for n in shape if n != 1))
    axes = {ax % len(shape) for ax in ((axis,) if np.ndim(axis) == 0 else axis)}
    return np.reshape(a, tuple(n for i, n in enumerate(shape) if i not in axes))


def _atleast_1d(a):
    return np.reshape(a, (1,)) if len(_shape(a)) == 0 else a


def _atleast_2d(a):
    nd = len(_shape(a))
    return np.reshape(a, (1,) * (2 - nd) + _shape(a)) if nd < 2 else a


# ---- indexing -------------------------------------------------------------------------------

def _is_basic(index):
    """True for indices made only of ints, slices, None and Ellipsis (no repeated elements)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis
               for p in parts)


def _unindex_fwd(g, index, shape):
    """Scatter ``g`` into zeros of ``shape`` at ``index`` (repeated indices add up)."""
    out = np.zeros(shape, dtype=np.result_type(g, float))
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _unindex(g, index, shape):
    """The adjoint of indexing, itself a recorded operation (its VJP is indexing again)."""
    if isinstance(g, Traced):
        return _record(_UNINDEX, g._tag, (g,), {"index": index, "shape": shape})
    if _is_plain(g):
        return _unindex_fwd(g, index, shape)
    # A Dual: indexing is linear, so scatter its primal and tangent parts separately.
    return type(g)(_unindex(g.primal, index, shape), _unindex(g.tangent, index, shape), g._tag)


_UNINDEX = Primitive("unindex", _unindex_fwd, lambda ans, g, index, shape: lambda gg: gg[index])


def _getitem_vjp(ans, x, index):
    shape = _shape(x)
    return lambda g: _unindex(g, index, shape)


_GETITEM = Primitive("getitem", lambda x, index: x[index], _getitem_vjp)


# ---- joining and selecting ------------------------------------------------------------------

def _concat_fwd(*arrays, axis=0):
    return np.concatenate(arrays, axis=axis)


class _VarargPrimitive(Primitive):
    """A primitive taking any number of array arguments (np.concatenate): rules by position."""
    __slots__ = ("maker_k",)

    def __init__(self, name, fwd, maker_k):
        super().__init__(name, fwd)
        self.maker_k = maker_k

    def maker(self, i):
        return self.maker_k(i)


def _concat_maker(k):
    """The rule for the k-th array of a concatenation: slice its part out of the cotangent."""
    def maker(ans, *arrays, axis=0):
        ax = axis % len(_shape(arrays[0]))
        start = sum(_shape(a)[ax] for a in arrays[:k])
        index = (slice(None),) * ax + (slice(start, start + _shape(arrays[k])[ax]),)
        return lambda g: g[index]
    return maker


_CONCAT = _VarargPrimitive("concatenate", _concat_fwd, _concat_maker)


def _concatenate(arrays, axis=0, out=None, **kwargs):
    if out is not None or kwargs:
        raise NotImplementedError("numpy.concatenate with out=/dtype= is not supported under "
                                  "reverse mode")
    arrays = tuple(arrays)
    if axis is None:
        arrays, axis = tuple(np.ravel(a) for a in arrays), 0
    return _record(_CONCAT, top_tag(arrays), arrays, {"axis": axis})


def _stack(arrays, axis=0, out=None, **kwargs):
    arrays = tuple(arrays)
    return _concatenate([_expand_dims(a, axis) for a in arrays], axis=axis, out=out, **kwargs)


def _hstack(tup, **kwargs):
    arrays = [_atleast_1d(a) for a in tup]
    return _concatenate(arrays, axis=0 if len(_shape(arrays[0])) == 1 else 1)


def _vstack(tup, **kwargs):
    return _concatenate([_atleast_2d(a) for a in tup], axis=0)


def _select(mask, g):
    """``g`` where ``mask`` holds, else 0 (np.where for arrays, a product for other types)."""
    if _is_plain(g) or isinstance(g, Traced):
        return np.where(mask, g, 0.0)
    return g * mask


def _where_fwd(cond, x, y):
    return np.where(cond, x, y)


def _where_maker(pick):
    def maker(ans, cond, x, y):
        shape = _shape(x if pick else y)
        c = _primal(cond)
        mask = c if pick else np.logical_not(c)
        return lambda g: unbroadcast(_select(mask, g), shape)
    return maker


_WHERE = Primitive("where", _where_fwd, None, _where_maker(True), _where_maker(False))


def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise NotImplementedError("numpy.where with one argument returns indices; call it on the "
                                  "condition's values (a comparison gives a plain array)")
    cond = _primal(condition) if tag_of(condition) else condition
    return _record(_WHERE, top_tag((x, y)), (cond, x, y), {})


def _clip_maker(ans, a, a_min, a_max):
    shape = _shape(a)
    ap = _primal(a)
    inside = np.ones(np.shape(ap), dtype=bool)
    if a_min is not None:
        inside &= ap >= _primal(a_min)
    if a_max is not None:
        inside &= ap <= _primal(a_max)
    return lambda g: unbroadcast(_select(inside, g), shape)


_CLIP = Primitive("clip", lambda a, a_min, a_max: np.clip(a, a_min, a_max), _clip_maker)


def _clip(a, a_min=None, a_max=None, out=None, **kwargs):
    if out is not None or kwargs:
        raise NotImplementedError("numpy.clip with out= is not supported under reverse mode")
    return _record(_CLIP, top_tag((a, a_min, a_max)), (a, a_min, a_max), {})


# ---- more array functions, built from the primitives above ----------------------------------
# Each is a composition of recorded operations (slices, concatenation, products), so it needs no
# rule of its own and is differentiable to any order.

_along = composites.along  # an index that applies ``index`` on one axis only


def _diff(a, n=1, axis=-1):
    nd = len(_shape(a))
    for _ in range(n):
        a = a[_along(axis, nd, slice(1, None))] - a[_along(axis, nd, slice(None, -1))]
    return a


def _roll(a, shift, axis=None):
    if axis is None:
        return np.reshape(_roll(np.ravel(a), shift, 0), _shape(a))
    if not isinstance(axis, int):
        for s, ax in zip(np.broadcast_to(shift, len(axis)), axis):
            a = _roll(a, int(s), ax)
        return a
    nd, size = len(_shape(a)), _shape(a)[axis]
    k = int(shift) % size if size else 0
    if k == 0:
        return a
    return np.concatenate([a[_along(axis, nd, slice(size - k, None))],
                           a[_along(axis, nd, slice(None, size - k))]], axis=axis)


def _diagonal(a, offset=0, axis1=0, axis2=1):
    if len(_shape(a)) != 2 or (axis1, axis2) != (0, 1):
        raise NotImplementedError("numpy.diagonal under reverse mode supports 2-d arrays with the "
                                  "default axes only")
    rows, cols = _shape(a)
    i = np.arange(max(0, -offset), min(rows, cols - offset))
    return a[i, i + offset]


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return np.sum(_diagonal(a, offset, axis1, axis2))


def _repeat(a, repeats, axis=None):
    if axis is None:
        a, axis = np.ravel(a), 0
    nd = len(_shape(a))
    index = np.repeat(np.arange(_shape(a)[axis]), repeats)
    return a[_along(axis, nd, index)]


def _tile(a, reps):
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    nd = max(len(reps), len(_shape(a)))
    a = np.reshape(a, (1,) * (nd - len(_shape(a))) + _shape(a))
    reps = (1,) * (nd - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            a = np.concatenate([a] * r, axis=axis)
    return a


def _column_stack(tup):
    return _concatenate([np.reshape(a, (-1, 1)) if len(_shape(a)) < 2 else a for a in tup],
                        axis=1)


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None or (axisa, axisb, axisc) != (-1, -1, -1) or _shape(a)[-1] != 3 \
            or _shape(b)[-1] != 3:
        raise NotImplementedError("numpy.cross under reverse mode supports 3-vectors along the "
                                  "last axis only")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _kron(a, b):
    if len(_shape(a)) != len(_shape(b)) or len(_shape(a)) not in (1, 2):
        raise NotImplementedError("numpy.kron under reverse mode supports two 1-d or two 2-d "
                                  "arrays only")
    if len(_shape(a)) == 1:
        return np.ravel(_outer(a, b))
    (m, n), (p, q) = _shape(a), _shape(b)
    a4 = np.reshape(a, (m, 1, n, 1))
    b4 = np.reshape(b, (1, p, 1, q))
    return np.reshape(a4 * b4, (m * p, n * q))


# einsum: one primitive. The cotangent of operand k is itself an einsum: the output cotangent
# contracted with the other operands, back onto operand k's indices (indices that appear only in
# operand k are summed away in the forward pass, so they come back by a product with ones).

def _explicit_einsum(subscripts):
    """numpy's implicit mode written out: without '->' the output is the indices used once, in
    alphabetical order ('ij,j' is 'ij,j->i', 'i,i' is 'i,i->')."""
    s = subscripts.replace(" ", "")
    if "->" in s:
        return s
    used = s.replace(",", "")
    return s + "->" + "".join(sorted(c for c in set(used) if used.count(c) == 1))


def _parse_einsum(subscripts, n_operands):
    inputs, output = _explicit_einsum(subscripts).split("->")
    inputs = inputs.split(",")
    if len(inputs) != n_operands:
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(inputs)} operand(s), but "
                         f"{n_operands} were given")
    return inputs, output


def _name_ellipsis(subscripts, operands):
    """Write '...' out as unused letters, one per broadcast axis, aligned from the right as numpy
    broadcasts them. An operand whose axis has length 1 where another's is longer is reshaped to
    drop it, so the product broadcasts over that letter and its cotangent sums it back."""
    s = subscripts.replace(" ", "")
    if "..." not in s:
        return s, list(operands)
    inputs, arrow, output = s.partition("->")
    inputs = inputs.split(",")
    spans = [len(_shape(op)) - len(sub.replace("...", "")) if "..." in sub else 0
             for sub, op in zip(inputs, operands)]
    width = max(spans)
    letters = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in s][:width]
    lengths = [max(_shape(op)[sub.index("...") + i - (width - span)]
                   for sub, op, span in zip(inputs, operands, spans)
                   if "..." in sub and i >= width - span) for i in range(width)]
    operands = list(operands)
    for k, (sub, span) in enumerate(zip(inputs, spans)):
        if "..." not in sub:
            continue
        start = sub.index("...")
        named = letters[width - span:]
        shape = list(_shape(operands[k]))
        kept = [c for j, c in enumerate(named)
                if shape[start + j] != 1 or lengths[width - span + j] == 1]
        if len(kept) < span:  # drop the broadcast axes of length 1
            axes = [start + j for j, c in enumerate(named) if c not in kept]
            operands[k] = np.reshape(operands[k], [n for d, n in enumerate(shape) if d not in axes])
        inputs[k] = sub.replace("...", "".join(kept))
    if arrow:
        output = output.replace("...", "".join(letters))
    else:  # implicit mode: the broadcast axes first, then the indices used once, sorted
        used = "".join(inputs)
        output = "".join(c for c in letters if c in used) + "".join(
            sorted(c for c in set(used) if used.count(c) == 1 and c not in letters))
    return ",".join(inputs) + "->" + output, operands


def _take_repeated(subscripts, operands):
    """An index repeated within one operand ('ii->i', 'iij->j') reads its diagonal: take the
    diagonal first (advanced indexing, which has its own rule), then contract as usual."""
    inputs, output = _explicit_einsum(subscripts).split("->")
    inputs = inputs.split(",")
    operands = list(operands)
    for k, sub in enumerate(inputs):
        for c in dict.fromkeys(sub):
            where = [j for j, d in enumerate(sub) if d == c]
            if len(where) < 2:
                continue
            rest = [j for j in range(len(sub)) if j not in where]
            moved = np.transpose(operands[k], where + rest)
            diagonal = np.arange(_shape(operands[k])[where[0]])
            operands[k] = moved[(diagonal,) * len(where)]
            sub = c + "".join(sub[j] for j in rest)
        inputs[k] = sub
    return ",".join(inputs) + "->" + output, operands


def _einsum_maker(k):
    def maker(ans, *operands, subscripts):
        inputs, output = _parse_einsum(subscripts, len(operands))
        others = [(s, op) for i, (s, op) in enumerate(zip(inputs, operands)) if i != k]
        known = set(output).union(*[set(s) for s, _ in others])
        sizes = dict(zip(inputs[k], _shape(operands[k])))
        ones = [(c, np.ones(sizes[c])) for c in inputs[k] if c not in known]
        spec = ",".join([output] + [s for s, _ in others] + [c for c, _ in ones])
        return lambda g: np.einsum(f"{spec}->{inputs[k]}", g, *[op for _, op in others],
                                   *[o for _, o in ones])
    return maker


_EINSUM = _VarargPrimitive("einsum",
                           lambda *operands, subscripts: np.einsum(subscripts, *operands),
                           _einsum_maker)


def _einsum(subscripts, *operands, **kwargs):
    if kwargs or not isinstance(subscripts, str):
        raise NotImplementedError("numpy.einsum under reverse mode takes a subscripts string and "
                                  "operands only (no optimize=, out=, or interleaved form)")
    subscripts, operands = _name_ellipsis(subscripts, operands)
    subscripts, operands = _take_repeated(subscripts, operands)
    _parse_einsum(subscripts, len(operands))
    return _record(_EINSUM, top_tag(operands), tuple(operands),
                   {"subscripts": _explicit_einsum(subscripts)})


def _tensordot(a, b, axes=2):
    na, nb = len(_shape(a)), len(_shape(b))
    if isinstance(axes, int):
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = [list(np.atleast_1d(ax)) for ax in axes]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(axes_a, axes_b):
        sb[j % nb] = sa[i % na]
    contracted = {sa[i % na] for i in axes_a}
    out = [c for c in sa if c not in contracted] + [c for c in sb if c not in contracted]
    return _einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


# ---- sorting: the cotangent goes back to where each entry came from -------------------------

def _inverse_permutation(order, axis):
    """The indices that undo ``take_along_axis(x, order, axis)`` for a permutation ``order``."""
    return np.argsort(order, axis=axis, kind="stable")


def _take_along_maker(ans, arr, indices, axis):
    shape, nd = _shape(arr), len(_shape(arr))
    ramp = np.reshape(np.arange(shape[axis]), [-1 if d == axis % nd else 1 for d in range(nd)])
    if _shape(indices) != shape or not np.array_equal(np.sort(indices, axis=axis),
                                                      np.broadcast_to(ramp, shape)):
        raise NotImplementedError("numpy.take_along_axis under reverse mode needs indices that "
                                  "permute the axis (each position once, as argsort gives); "
                                  "index with [] for other selections")
    back = _inverse_permutation(indices, axis)
    return lambda g: np.take_along_axis(g, back, axis)


_TAKE_ALONG = Primitive("take_along_axis", np.take_along_axis, _take_along_maker)


def _take_along_axis(arr, indices, axis):
    if axis is None:
        raise NotImplementedError("numpy.take_along_axis under reverse mode needs an axis")
    return _record(_TAKE_ALONG, top_tag((arr,)), (arr, _primal(indices)), {"axis": axis})


def _sort(a, axis=-1, kind=None, order=None):
    if axis is None:  # numpy sorts the flattened array
        a, axis = np.ravel(a), -1
    return _take_along_axis(a, np.argsort(_primal(a), axis=axis, kind="stable"), axis)


# ---- linear algebra on one square matrix (rules: Giles 2008, "Collected matrix derivative
# results for forward and reverse mode algorithmic differentiation") --------------------------

def _square_matrix(name, a):
    shape = _shape(a)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise NotImplementedError(f"numpy.linalg.{name} under reverse mode takes one square 2-d "
                                  f"matrix; got shape {shape} (loop over a stack of matrices)")


def _solve_vjp_a(ans, a, b):
    def vjp(g):  # A x = b: the cotangent of A is -(A^-T g) x^T
        gb = np.linalg.solve(np.transpose(a), g)
        return -np.outer(gb, ans) if len(_shape(ans)) == 1 else -(gb @ np.transpose(ans))
    return vjp


_INV = Primitive("inv", np.linalg.inv,
                 lambda ans, a: lambda g: -(np.transpose(ans) @ g @ np.transpose(ans)))
_SOLVE = Primitive("solve", np.linalg.solve, _solve_vjp_a,
                   lambda ans, a, b: lambda g: np.linalg.solve(np.transpose(a), g))
_DET = Primitive("det", np.linalg.det,
                 lambda ans, a: lambda g: g * ans * np.transpose(np.linalg.inv(a)))
_LOGABSDET = Primitive("logabsdet", lambda a: np.linalg.slogdet(a).logabsdet,
                       lambda ans, a: lambda g: g * np.transpose(np.linalg.inv(a)))


def _cholesky_vjp(ans, a):
    """A = L L^T: the cotangent of A is L^-T phi(L^T g) L^-1 (Murray 2016, eq. 10), where phi
    keeps the lower triangle and halves the diagonal, taken onto the lower triangle numpy reads."""
    n = _shape(a)[0]
    phi = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)

    def vjp(g):
        left = np.linalg.solve(np.transpose(ans), phi * (np.transpose(ans) @ g))  # L^-T phi(.)
        s = np.transpose(np.linalg.solve(np.transpose(ans), np.transpose(left)))  # ... L^-1
        return composites.onto_lower(s)
    return vjp


_CHOLESKY = Primitive("cholesky", np.linalg.cholesky, _cholesky_vjp)


# eigh gives two arrays; the tape records each as its own operation (eigh runs twice, and the rules
# call np.linalg.eigh again, so they nest). With A = V diag(w) V^T (Giles 2008, section 3.1):
# the cotangent of A is V (diag(g_w) + F * (V^T g_V)) V^T, F_ij = 1 / (w_j - w_i) off the diagonal.

def _eigh_gap_inverse(w):
    n = _shape(w)[0]
    with np.errstate(divide="ignore", invalid="ignore"):  # a repeated eigenvalue gives inf/nan
        return (1.0 - np.eye(n)) / (w[None, :] - w[:, None] + np.eye(n))


def _eigenvalues_vjp(ans, a):
    v = np.linalg.eigh(a).eigenvectors
    return lambda g: composites.onto_lower((v * g) @ np.transpose(v))


def _eigenvectors_vjp(ans, a):
    f = _eigh_gap_inverse(np.linalg.eigh(a).eigenvalues)
    return lambda g: composites.onto_lower(ans @ (f * (np.transpose(ans) @ g)) @ np.transpose(ans))


_EIGENVALUES = Primitive("eigh values", lambda a: np.linalg.eigh(a).eigenvalues, _eigenvalues_vjp)
_EIGENVECTORS = Primitive("eigh vectors", lambda a: np.linalg.eigh(a).eigenvectors,
                          _eigenvectors_vjp)


def _eigh(a, UPLO="L"):
    _square_matrix("eigh", a)
    if UPLO != "L":
        raise NotImplementedError("numpy.linalg.eigh under reverse mode reads the lower triangle "
                                  "(UPLO='L') only")
    return _EIGH_RESULT(_record(_EIGENVALUES, a._tag, (a,), {}),
                        _record(_EIGENVECTORS, a._tag, (a,), {}))


_EIGH_RESULT = type(np.linalg.eigh(np.eye(1)))  # numpy's named tuple (eigenvalues, eigenvectors)


def _linalg(name, prim, nargs):
    def handler(*args):
        _square_matrix(name, args[0])
        if len(args) != nargs:
            raise TypeError(f"numpy.linalg.{name} takes {nargs} argument(s)")
        return _record(prim, top_tag(args), args, {})
    return handler


def _slogdet(a):
    _square_matrix("slogdet", a)
    result = np.linalg.slogdet(_primal(a))  # (sign, log|det|); the sign is piecewise constant
    return result._replace(logabsdet=_record(_LOGABSDET, a._tag, (a,), {}))


# ---- the table numpy's __array_function__ dispatch consults ---------------------------------

def _like(fill):
    """zeros_like/ones_like of a traced value: a plain constant array of its shape."""
    def handler(a, dtype=None, **kwargs):
        return np.full(_shape(a), fill, dtype=dtype or float)
    return handler


def _full_like(a, fill_value, dtype=None, **kwargs):
    return np.full(_shape(a), _primal(fill_value), dtype=dtype or float)


def _plain_result(func):
    """Functions of the values that have no derivative (argmax, shape, ...): run on primals."""
    def handler(*args, **kwargs):
        return func(*[_primal(a) for a in args], **kwargs)
    return handler


_FUNCTIONS = {
    np.sum: _reduction(_SUM),
    np.max: _reduction(_MAX),
    np.amax: _reduction(_MAX),
    np.min: _reduction(_MIN),
    np.amin: _reduction(_MIN),
    np.mean: _mean,
    np.cumsum: lambda a, axis=None: _record(_CUMSUM, a._tag, (a,), {"axis": axis}),
    np.flip: lambda m, axis=None: _record(_FLIP, m._tag, (m,), {"axis": axis}),
    np.dot: _dot,
    np.outer: _outer,
    np.vdot: _vdot,
    np.inner: _inner,
    np.reshape: lambda a, *args, **kwargs: _record(
        _RESHAPE, a._tag, (a,),
        {"shape": (args[0] if args else kwargs.get("shape", kwargs.get("newshape")))}),
    np.ravel: lambda a, order="C": _record(_RESHAPE, a._tag, (a,), {"shape": (-1,)}),
    np.transpose: lambda a, axes=None: _record(
        _TRANSPOSE, a._tag, (a,), {"axes": None if axes is None else tuple(axes)}),
    np.broadcast_to: lambda array, shape, subok=False: _record(
        _BROADCAST, array._tag, (array,), {"shape": tuple(np.atleast_1d(shape))}),
    np.swapaxes: _swapaxes,
    np.moveaxis: _moveaxis,
    np.expand_dims: _expand_dims,
    np.squeeze: _squeeze,
    np.atleast_1d: _atleast_1d,
    np.atleast_2d: _atleast_2d,
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.hstack: _hstack,
    np.vstack: _vstack,
    np.where: _where,
    np.clip: _clip,
    np.copy: lambda a, **kwargs: a,
    np.zeros_like: _like(0.0),
    np.ones_like: _like(1.0),
    np.full_like: _full_like,
    np.shape: lambda a: _shape(a),
    np.ndim: lambda a: len(_shape(a)),
    np.size: lambda a, axis=None: int(np.prod(_shape(a), dtype=int)) if axis is None
    else _shape(a)[axis],
    np.argmax: _plain_result(np.argmax),
    np.argmin: _plain_result(np.argmin),
    np.argsort: _plain_result(np.argsort),
    np.isclose: _plain_result(np.isclose),
    np.allclose: _plain_result(np.allclose),
    np.array_equal: _plain_result(np.array_equal),
    np.round: _plain_result(np.round),
    np.diff: _diff,
    np.roll: _roll,
    np.real: lambda val: val,
    np.diagonal: _diagonal,
    np.trace: _trace,
    np.repeat: _repeat,
    np.tile: _tile,
    np.column_stack: _column_stack,
    np.cross: _cross,
    np.kron: _kron,
    np.einsum: _einsum,
    np.tensordot: _tensordot,
    np.take_along_axis: _take_along_axis,
    np.sort: _sort,
    np.linalg.inv: _linalg("inv", _INV, 1),
    np.linalg.solve: _linalg("solve", _SOLVE, 2),
    np.linalg.det: _linalg("det", _DET, 1),
    np.linalg.slogdet: _slogdet,
    np.linalg.cholesky: _linalg("cholesky", _CHOLESKY, 1),
    np.linalg.eigh: _eigh,
}
_FUNCTIONS.update(composites.FUNCTIONS)  # np.prod, np.triu, np.var, ...: see composites.py


# ---- the backward pass ----------------------------------------------------------------------

def _backward(entries, seeds, keep=None, release=False):
    """Walk the tape from its end, summing cotangents into a local list; return that list.

    ``seeds`` maps tape indices to output cotangents. Entries in ``keep`` (the inputs) keep their
    cotangent; the others are dropped once used, so memory falls as the walk proceeds. With
    ``release`` each entry is also dropped from the tape once its rules have run (a gradient walks
    its tape once; a ``vjp`` pullback may walk it again, so it keeps them). The walk is a loop, not
    recursion: any tape length works.
    """
    with _gc_paused():
        return _walk(entries, seeds, keep, release)


def _walk(entries, seeds, keep, release):
    ct = [None] * len(entries)
    start = -1
    for i, g in seeds:
        ct[i] = g if ct[i] is None else ct[i] + g
        start = max(start, i)
    for i in range(start, -1, -1):
        g = ct[i]
        if g is None:
            continue
        parents, vjps = entries[i][0], entries[i][1]
        if not parents:
            continue
        if keep is None or i not in keep:
            ct[i] = None
        if release:  # what this entry's rules captured can be freed once they have run
            entries[i] = None
        for p, fn in zip(parents, vjps):
            c = fn(g)
            old = ct[p]
            ct[p] = c if old is None else old + c
    return ct


# ---- arguments as trees: arrays, or tuples/lists/dicts of them ------------------------------

def _flatten(tree):
    """Leaves of ``tree`` in order and a function that rebuilds the same structure from leaves."""
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(t) for t in tree]
        leaves = [leaf for p in parts for leaf in p[0]]
        counts = [len(p[0]) for p in parts]
        kind = type(tree)

        def unflatten(new):
            out, k = [], 0
            for (_, un), n in zip(parts, counts):
                out.append(un(new[k:k + n]))
                k += n
            return kind(out)
        return leaves, unflatten
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, unflat = _flatten([tree[k] for k in keys])
        return leaves, lambda new: dict(zip(keys, unflat(new)))
    return [tree], lambda new: new[0]


def _as_float(x):
    """Inputs become float arrays (ints would truncate); Duals and traced values stay as they are."""
    if tag_of(x):
        return x
    if isinstance(x, float):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError(f"got a complex input ({arr.dtype}): {COMPLEX_REFUSED}")
    if arr.dtype.kind != "f":
        arr = arr.astype(float)
    return arr


def _zeros_for(x):
    return np.zeros(_shape(x), dtype=_float_dtype(x))


def _float_dtype(x):
    """The dtype a derivative with respect to ``x`` has: x's own float type, else float64."""
    dtype = getattr(x, "dtype", None)
    return dtype if dtype is not None and dtype.kind == "f" else np.dtype(float)


def _finish(ct, x):
    """The cotangent of input ``x``, in x's float type: zeros if the output did not depend on it."""
    if ct is None:
        return _zeros_for(x)
    if _is_plain(ct):
        if np.iscomplexobj(ct):
            raise TypeError(f"the computation went through complex numbers: {COMPLEX_REFUSED}")
        arr = np.array(ct, dtype=_float_dtype(x))
        return arr[()] if arr.ndim == 0 else arr
    return ct


def _check_scalar_output(value):
    """Raise unless ``value`` (the primal output of f under grad) is one real float number."""
    dtype = np.asarray(value).dtype
    if dtype.kind in "biu":
        raise TypeError(
            f"grad needs f to return a real float number, but it returned a {dtype} value: an "
            "integer- or bool-valued function is piecewise constant, so its derivative is 0 "
            "wherever it exists and says nothing useful. Return the float quantity the integer is "
            "computed from (chapter 4 shows how to make a discrete choice differentiable)")
    if dtype.kind == "c":
        raise TypeError(f"f returned a complex value: {COMPLEX_REFUSED}")
    if dtype.kind != "f":
        raise TypeError(f"grad needs f to return a real float number; it returned {type(value)}")
    if int(np.prod(_shape(value), dtype=int)) != 1:
        raise TypeError(f"grad only applies to scalar-output functions, but f returned shape "
                        f"{_shape(value)}; use jacrev for the Jacobian or vjp for a "
                        f"vector-Jacobian product")


@contextlib.contextmanager
def _gc_paused():
    """Pause the cycle collector while a tape is built and walked.

    A tape creates many small objects that all stay alive until the backward pass, so the collector
    would scan the growing tape again and again for nothing (it costs up to 2x on scalar loops).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _trace_call(f, args, argnums, keep_values=False):
    """Run ``f`` with the arguments in ``argnums`` traced; return (output, tape, leaves, unflatten)."""
    tag = new_tag()
    tape = Tape(tag, keep_values)
    args = list(args)
    structure = []
    for n in argnums:
        leaves, unflatten = _flatten(args[n])
        leaves = [_as_float(x) for x in leaves]
        traced = [Traced(x, tape) for x in leaves]
        structure.append((leaves, unflatten, [t._index for t in traced]))
        args[n] = unflatten(traced)
    try:
        with _gc_paused():
            out = f(*args)
    finally:
        tape.active = False
    return out, tape, structure


def _normalize_argnums(argnums, nargs):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for n in nums:
        if not -nargs <= n < nargs:
            raise ValueError(f"argnums={argnums!r} does not fit a call with {nargs} positional "
                             f"argument(s)")
    return single, tuple(n % nargs for n in nums)


# ---- the public transformations -------------------------------------------------------------

def value_and_grad(f, argnums=0):
    """Return a function computing ``f(*args)`` and its gradient in one forward and one backward pass.

    Chapter 2 introduces it. Args: ``f``, a function with a scalar output written in numpy;
    ``argnums``, the position (or tuple of positions) of the argument(s) to differentiate; each may
    be an array or a tuple/list/dict of arrays. Returns: ``(value, gradient)``, the gradient with
    the structure and shapes of the argument (a tuple of those for a tuple of argnums).
    """
    def value_and_grad_f(*args):
        single, nums = _normalize_argnums(argnums, len(args))
        out, tape, structure = _trace_call(f, args, nums)
        mine = isinstance(out, Traced) and out._tag == tape.tag
        value = out.value if mine else out
        _check_scalar_output(_primal(value))
        if mine:
            keep = {i for _, _, idx in structure for i in idx}
            seed = 1.0 if _shape(value) == () else np.ones(_shape(value))  # shape (1,), (1, 1), ...
            ct = _backward(tape.entries, [(out._index, seed)], keep, release=True)
        else:
            ct = []
        tape.entries = []  # release the tape: the intermediates can be freed now
        grads = []
        for leaves, unflatten, idx in structure:
            grads.append(unflatten([_finish(ct[i] if ct else None, x)
                                    for x, i in zip(leaves, idx)]))
        return value, (grads[0] if single else tuple(grads))
    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def grad(f, argnums=0):
    """Return the function computing the gradient of the scalar function ``f`` by reverse mode.

    Chapter 2 introduces it. Args: ``f``, scalar-output numpy code; ``argnums``, which positional
    argument(s) to differentiate (arrays or tuples/lists/dicts of arrays). Returns: a function with
    the arguments of ``f`` returning the gradient in the structure and shapes of that argument.
    Nested calls (grad of grad) give higher derivatives.
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args):
        return vg(*args)[1]
    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def vjp(f, *primals):
    """Evaluate ``f(*primals)`` and return its value with the pullback ``u -> u^T J``.

    Chapter 2 introduces it. Args: ``f``, numpy code; ``primals``, its arguments (arrays or trees of
    arrays). Returns: ``(y, pullback)``; ``pullback(u)`` takes a cotangent ``u`` with the structure
    and shapes of ``y`` and returns the cotangent of each primal (one value for one primal, else a
    tuple). The pullback may be called many times.
    """
    out, tape, structure = _trace_call(f, primals, tuple(range(len(primals))))
    out_leaves, out_unflatten = _flatten(out)
    mine = [isinstance(o, Traced) and o._tag == tape.tag for o in out_leaves]
    y = out_unflatten([o.value if m else o for o, m in zip(out_leaves, mine)])
    y_leaves = [o.value if m else o for o, m in zip(out_leaves, mine)]
    keep = {i for _, _, idx in structure for i in idx}

    def pullback(u):
        u_leaves, _ = _flatten(u)
        if len(u_leaves) != len(out_leaves):
            raise ValueError(f"the cotangent must have the structure of f's output "
                             f"({len(out_leaves)} array(s)), got {len(u_leaves)}")
        seeds = []
        for o, m, uu, yy in zip(out_leaves, mine, u_leaves, y_leaves):
            if _shape(uu) != _shape(yy):
                raise ValueError(f"the cotangent has shape {_shape(uu)} but f's output has shape "
                                 f"{_shape(yy)}; they must match")
            if m:
                seeds.append((o._index, uu))
        ct = _backward(tape.entries, seeds, keep) if seeds else None
        results = [unflatten([_finish(ct[i] if ct else None, x) for x, i in zip(leaves, idx)])
                   for leaves, unflatten, idx in structure]
        return results[0] if len(results) == 1 else tuple(results)
    return y, pullback


def jacrev(f, argnums=0):
    """Return the function computing the Jacobian of ``f`` by reverse mode, one row per output.

    Chapter 2 introduces it. Args: ``f``, numpy code; ``argnums``, the argument (or tuple of
    arguments) to differentiate, each an array or a tuple/list/dict of arrays. Returns: a function
    giving, for an array argument ``x`` and array output ``y``, an array of shape
    ``y.shape + x.shape``. For trees the blocks nest as in JAX: the output's structure outside,
    the argument's inside (a tuple of those for a tuple of argnums).
    """
    def jac_f(*args):
        single, nums = _normalize_argnums(argnums, len(args))
        primals = [args[n] for n in nums]

        def f_of(*diff):
            full = list(args)
            for n, d in zip(nums, diff):
                full[n] = d
            return f(*full)
        y, pullback = vjp(f_of, *primals)
        y_leaves, y_unflatten = _flatten(y)
        x_trees = [_flatten(p) for p in primals]
        blocks = []
        for i, yi in enumerate(y_leaves):
            yshape = _shape(yi)
            m = int(np.prod(yshape, dtype=int))
            rows = [[[] for _ in leaves] for leaves, _ in x_trees]
            for k in range(m):
                u = [np.zeros(_shape(o)) for o in y_leaves]  # one-hot at entry k of leaf i
                u[i].flat[k] = 1.0
                cts = pullback(y_unflatten(u))
                for a, ct in enumerate((cts,) if len(primals) == 1 else cts):
                    for j, c in enumerate(_flatten(ct)[0]):
                        rows[a][j].append(c)
            per_arg = [unflatten([_stack_rows(r, yshape, _shape(x)) for r, x in zip(rs, leaves)])
                       for rs, (leaves, unflatten) in zip(rows, x_trees)]
            blocks.append(per_arg[0] if single else tuple(per_arg))
        return y_unflatten(blocks)
    jac_f.__name__ = f"jacrev({getattr(f, '__name__', 'f')})"
    return jac_f


def _stack_rows(rows, yshape, xshape):
    """The Jacobian block of shape ``yshape + xshape`` from its rows (one per output entry)."""
    if not rows:
        return np.zeros(yshape + xshape)
    if all(_is_plain(r) for r in rows):
        return np.reshape(np.stack([np.asarray(r) for r in rows]), yshape + xshape)
    # nested derivatives: the rows are Duals or traced values, stacked by their own rules
    return np.reshape(np.stack([r + np.zeros(xshape) for r in rows]), yshape + xshape)


def _forward_mode():
    """course_lib.dual's ``jvp_many`` if that module is available, else None."""
    try:
        from . import dual
    except ImportError:
        return None
    return getattr(dual, "jvp_many", None)


def hvp(f, x, v):
    """Return the Hessian of scalar ``f`` at ``x`` applied to ``v``, without forming the Hessian.

    Chapter 2 introduces it. Computed as the directional derivative of ``grad(f)`` along ``v``
    (forward-over-reverse, with ``Dual`` numbers through the tape), which costs a small constant
    times one gradient. Args: ``x``, an array or a tuple/list/dict of arrays (a network's
    parameters); ``v``, the direction, with the structure and shapes of ``x``. Returns: ``H v``
    with that structure and those shapes.
    """
    x_leaves, unflatten = _flatten(x)
    v_leaves, _ = _flatten(v)
    if len(x_leaves) != len(v_leaves):
        raise ValueError(f"hvp needs v with the structure of x: x has {len(x_leaves)} array(s), "
                         f"v has {len(v_leaves)}")
    x_leaves = [_as_float(a) for a in x_leaves]
    v_leaves = [_as_float(a) for a in v_leaves]
    for a, b in zip(x_leaves, v_leaves):
        if _shape(a) != _shape(b):
            raise ValueError(f"hvp needs x and v of the same shape, got {_shape(a)} and "
                             f"{_shape(b)}")
    jvp_many = _forward_mode()
    if jvp_many is None:
        return hvp_reverse(f, unflatten(x_leaves), unflatten(v_leaves))
    g = grad(f)

    def grad_leaves(*leaves):
        return tuple(_flatten(g(unflatten(list(leaves))))[0])
    tangents = jvp_many(grad_leaves, x_leaves, v_leaves)[1]
    return unflatten([_finish(t, a) for t, a in zip(tangents, x_leaves)])


def hvp_reverse(f, x, v):
    """The Hessian-vector product by reverse-over-reverse: the gradient of <grad f(x), v>."""
    g = grad(f)
    v_leaves = _flatten(v)[0]
    return grad(lambda xx: sum(np.sum(a * b) for a, b in zip(_flatten(g(xx))[0], v_leaves)))(x)


def hessian(f, argnums=0):
    """Return the function computing the Hessian of scalar ``f``: the Jacobian of its gradient.

    Chapter 2 introduces it. Built as ``jacrev(grad(f))`` (reverse-over-reverse). Args: ``f``,
    scalar-output numpy code; ``argnums``, the argument(s), arrays or trees of arrays. Returns: a
    function giving an array of shape ``x.shape + x.shape`` for an array ``x``; for a tree, block
    ``[i][j]`` (of shape ``x_i.shape + x_j.shape``) couples leaves ``i`` and ``j``.
    """
    return jacrev(grad(f, argnums), argnums)


# ---- printing the tape as a Wengert list ----------------------------------------------------

_OP_SYMBOLS = {"add": "{} + {}", "subtract": "{} - {}", "multiply": "{} * {}",
               "true_divide": "{} / {}", "power": "{} ** {}", "negative": "-{}",
               "matmul": "{} @ {}"}


class Trace:
    """A recorded tape with its values and adjoints, printable as a Wengert list (chapter 2).

    Rows are numbered as in Baydin et al. (2018): the n inputs are v_{1-n} .. v_0, the operations
    v_1, v_2, ... Attributes: ``rows`` (a list of dicts with keys ``var``, ``op``, ``inputs``,
    ``value``, ``adjoint``), ``value`` (the output) and ``grads`` (the input adjoints).
    """

    def __init__(self, rows, value, grads, entries, n_inputs):
        self.rows = rows
        self.value = value
        self.grads = grads
        self._entries = entries
        self._n_inputs = n_inputs

    def _name(self, i):
        return f"v{i - self._n_inputs + 1}"

    def tangents(self, *dx):
        """Push an input tangent forwards through the recorded scalar tape (the forward trace).

        For scalars each local derivative is one number, the same in both directions, so the VJP
        rule applied to a tangent gives the JVP. Args: one tangent per input. Returns: a list of
        the tangent of every row.
        """
        if len(dx) != self._n_inputs:
            raise ValueError(f"give one tangent per input ({self._n_inputs})")
        if any(_shape(e[3]) != () for e in self._entries):
            raise ValueError("tangents() works on scalar tapes only; use course_lib.dual for arrays")
        tan = []
        for i, (parents, vjps, _, _) in enumerate(self._entries):
            if i < self._n_inputs:
                tan.append(float(dx[i]))
            else:
                tan.append(float(sum(fn(tan[p]) for p, fn in zip(parents, vjps))))
        return tan

    def table(self, digits=4, tangents=None):
        """The Wengert list as text: one row per variable, with value and adjoint (and tangent)."""
        head = f"{'var':>5}  {'op':<12} {'inputs':<14} {'value':>12}"
        if tangents is not None:
            head += f" {'tangent':>12}"
        head += f" {'adjoint':>12}"
        lines = [head, "-" * len(head)]
        for k, r in enumerate(self.rows):
            val = _fmt(r["value"], digits)
            line = f"{r['var']:>5}  {r['op']:<12} {', '.join(r['inputs']):<14} {val:>12}"
            if tangents is not None:
                line += f" {_fmt(tangents[k], digits):>12}"
            line += f" {_fmt(r['adjoint'], digits):>12}"
            lines.append(line)
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def __repr__(self):
        return self.table()

    def __len__(self):
        return len(self.rows)


def _fmt(x, digits):
    if x is None:
        return "0"
    if _is_plain(x) and np.ndim(x) == 0:
        return f"{float(x):.{digits}g}"
    if _is_plain(x):
        return f"array{np.shape(x)}"
    return type(x).__name__


def trace(f, *args):
    """Run ``f(*args)`` on a tape and return it with values and adjoints, as a printable Wengert list.

    Chapter 2 introduces it. Args: ``f``, scalar-output numpy code; ``args``, its inputs (all are
    traced). Returns: a ``Trace``; ``print(trace(f, 2.0, 5.0))`` shows one row per variable with
    the operation, its inputs, the value and the adjoint d(output)/d(variable).
    """
    out, tape, structure = _trace_call(f, args, tuple(range(len(args))), keep_values=True)
    entries = tape.entries
    n_inputs = sum(len(idx) for _, _, idx in structure)
    mine = isinstance(out, Traced) and out._tag == tape.tag
    value = out.value if mine else out
    if mine and _shape(value) != ():
        raise TypeError("trace needs a scalar-output function (the adjoints are of that output)")
    ct = _backward(entries, [(out._index, 1.0)], keep=set(range(len(entries)))) if mine else \
        [None] * len(entries)
    rows = []
    for i, (parents, vjps, name, val) in enumerate(entries):
        var = f"v{i - n_inputs + 1}"
        rows.append({"var": var, "op": name, "inputs": [f"v{p - n_inputs + 1}" for p in parents],
                     "value": val, "adjoint": ct[i] if ct[i] is not None else 0.0})
    grads = tuple(_finish(ct[i], e[3]) for i, e in enumerate(entries[:n_inputs]))
    return Trace(rows, value, grads, entries, n_inputs)
