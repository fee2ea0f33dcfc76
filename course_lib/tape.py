"""Reverse mode's mechanism: record numpy operations on a tape (a Wengert list), walk it backwards.

Chapter 2 introduces it. A ``Traced`` value wraps an array and implements numpy's dispatch protocols
(``__array_ufunc__``, ``__array_function__``), so plain numpy code such as ``np.sum(np.tanh(W @ x))``
records each operation on a tape as it runs. What is recorded is the operation's *linearization*,
taken from its one derivative rule in ``course_lib.rules`` (the rule forward mode uses too):

* an elementwise ufunc records its partial derivatives; the transpose multiplies by them;
* a linear or multilinear primitive (reshape, sum, indexing, matmul, einsum, ...) records itself,
  with its transpose;
* any other primitive (inv, cholesky, max, ...) runs its JVP rule on tangents that have a shape and
  no numbers (``Lin``): each linear step they take is recorded with its transpose.

Each tape entry holds, per input, the transpose of one linear step: a function from the output's
cotangent to that input's. ``backward`` visits the tape once, from the last entry to the first,
and sums cotangents: "linearize, then transpose". The transposes are numpy code themselves, so
they are differentiated again when they run on traced values (an outer ``grad``) or on ``Dual``
numbers: grad of grad, forward-over-reverse and reverse-over-reverse all work. Tags from
``course_lib.nesting`` keep nested calls apart (no perturbation confusion).

The transformations built on the tape (``grad``, ``vjp``, ``hessian``, ...) are in
``course_lib.reverse``; the printable Wengert list is in ``course_lib.wengert``.
"""
import numpy as np

from .nesting import (NUMBERS, ArrayMethods, dtype_of, flat_args, is_complex, plain, shape_of,
                      top_tag)
from .rules import complexes, handler_for, no_rule
from .rules.elementwise import OPERATORS, PIECEWISE_CONSTANT, UFUNC_PARTIALS
from .linearize import Lin, complex_scaling, identity, record_linear, scaling
from .rules.products import matmul
from .rules.structural import getitem, unbroadcast

__all__ = ["Tape", "Entry", "Traced", "Lin", "backward", "unbroadcast"]


# ---- the tape and the traced value ----------------------------------------------------------

class Entry(tuple):
    """One tape entry: ``parents`` (the tape indices of its inputs), ``transposes`` (for each
    input, the function from this entry's cotangent to that input's), ``name`` (the operation's)
    and ``value`` (its output, kept for ``trace`` only)."""
    __slots__ = ()
    parents = property(lambda self: self[0])
    transposes = property(lambda self: self[1])
    name = property(lambda self: self[2])
    value = property(lambda self: self[3])


class Tape:
    """The Wengert list of one ``grad``/``vjp`` call: one entry per recorded operation.

    Each ``Entry`` holds the tape indices of its inputs, the transpose of the operation's
    linearization for each of them, the operation's name and (for ``trace`` only) its output
    value; otherwise the tape holds just what the transposes captured.
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
        self.entries.append(Entry((parents, vjps, name, value if self.keep_values else None)))
        return t

    def push_lin(self, shape, parents, transposes, name, dtype=np.dtype(float)):
        """Append one linear step of a derivative rule and return the tangent of its output."""
        lin = Lin(self, len(self.entries), shape, dtype)
        self.entries.append(Entry((tuple(parents), transposes, name, None)))
        return lin


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
        tape.entries.append(Entry(((), (), "input", value)))

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
            return matmul(*inputs)
        return _record_ufunc(ufunc, self._tape, inputs)

    def __array_function__(self, func, types, args, kwargs):
        tag = top_tag(flat_args(args) + list(kwargs.values()))
        if tag != self._tag:
            return NotImplemented
        return handler_for(func)(*args, **kwargs)

    def _apply(self, prim, args, params):
        """Run a primitive on traced values of this tape and record its linearization.

        A linear or multilinear primitive is recorded as it is, with its transpose. A nonlinear one
        runs its JVP rule on tangents (``Lin``) that record each linear step they take: the tape then
        holds the linearization, and the backward pass runs the transpose of each step.
        """
        tape, tag = self._tape, self._tag
        values = [a.value if a.__class__ is Traced and a._tag == tag else a for a in args]
        ours = [k for k, (a, v) in enumerate(zip(args, values)) if a is not v]
        out = prim.impl(*values, **params)
        if prim.jvp is None:  # linear in the traced arguments: record the primitive itself
            return record_linear(tape, prim, values, params, ours, [args[k]._index for k in ours],
                                  out)
        tangents = [None] * len(args)
        for k in ours:
            tangents[k] = Lin(tape, args[k]._index, shape_of(values[k]), dtype_of(values[k]))
        tangent = prim.tangent(tangents, out, values, params)
        if tangent is None:
            return out
        if tangent.__class__ is not Lin or tangent._tape is not tape:
            raise TypeError(f"the derivative rule of {prim.name} returned {type(tangent).__name__}, "
                            "not a tangent of its inputs; a rule must write the output tangent with "
                            "linear operations of the input tangents")
        return tape.push(out, (tangent._index,), (identity,), prim.name)

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

    def __mod__(self, other):
        return _binary(np.remainder, self, other)

    def __rmod__(self, other):
        return _binary(np.remainder, other, self)

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
        return getitem(self, index)

    def __len__(self):
        return len(self.value)

    def __iter__(self):
        for i in range(len(self.value)):
            yield self[i]

    @property
    def shape(self):
        return shape_of(self.value)

    @property
    def dtype(self):
        return dtype_of(self.value)

    @property
    def primal(self):
        return self.value

    def __repr__(self):
        return f"Traced({self.value!r}, tag={self._tag})"


# ---- helpers shared by every rule -----------------------------------------------------------


_primal = plain  # the plain value inside every layer (for masks and branches)


def _strip(x, tag):
    """The value inside ``x`` if it is traced with ``tag``, else ``x`` itself (a constant)."""
    return x.value if isinstance(x, Traced) and x._tag == tag else x


# ---- recording an operation -----------------------------------------------------------------

def _binary(ufunc, a, b):
    """A Python operator between ``a`` and ``b``: record it unless an inner value must handle it."""
    this = a if getattr(a, "_tag", 0) >= getattr(b, "_tag", 0) else b
    if this.__class__ is not Traced:
        return NotImplemented  # a Dual from an inner forward-mode call does the arithmetic
    if ufunc is np.matmul:
        return matmul(a, b)
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
        if ufunc is np.absolute and is_complex(x):
            return complexes.absolute(inputs[0])
        out = compute(x)
        if out.__class__ not in NUMBERS and is_complex(out):
            return tape.push(out, (inputs[0]._index,),
                             (complex_scaling(partials[0](out, x), False),), ufunc.__name__)
        return tape.push(out, (inputs[0]._index,), (scaling(partials[0](out, x)),),
                         ufunc.__name__)
    a, b = inputs
    tag = tape.tag
    a_ours = a.__class__ is Traced and a._tag == tag
    b_ours = b.__class__ is Traced and b._tag == tag
    x = a.value if a_ours else a
    y = b.value if b_ours else b
    out = compute(x, y)
    scalar = out.__class__ in NUMBERS  # then x and y are scalars too: nothing to unbroadcast
    if not scalar and is_complex(out):
        return _record_complex(ufunc, tape, partials, (a, b), (a_ours, b_ours), (x, y), out)
    out_shape = None if scalar else shape_of(out)
    if a_ours:
        ta = scaling(partials[0](out, x, y), None if scalar else shape_of(x), out_shape)
        if not b_ours:
            return tape.push(out, (a._index,), (ta,), ufunc.__name__)
        tb = scaling(partials[1](out, x, y), None if scalar else shape_of(y), out_shape)
        return tape.push(out, (a._index, b._index), (ta, tb), ufunc.__name__)
    tb = scaling(partials[1](out, x, y), None if scalar else shape_of(y), out_shape)
    return tape.push(out, (b._index,), (tb,), ufunc.__name__)


def _record_complex(ufunc, tape, partials, inputs, ours, values, out):
    """``_record_ufunc`` for a complex output: each transpose multiplies by the conjugate partial
    and keeps the real part for a real input (``linearize.complex_scaling``)."""
    shape = shape_of(out)
    parents, transposes = [], []
    for k in range(2):
        if ours[k]:
            d = partials[k](out, *values)
            parents.append(inputs[k]._index)
            transposes.append(complex_scaling(d, not is_complex(values[k]), shape_of(values[k]),
                                              shape))
    return tape.push(out, tuple(parents), tuple(transposes), ufunc.__name__)


def _without_partials(ufunc, tag, inputs):
    """Piecewise-constant ufuncs give a plain result (nothing is recorded); the conjugate has its
    rule in ``rules.complexes``; others have no rule."""
    if ufunc in PIECEWISE_CONSTANT:
        complexes.check_constant(ufunc, inputs)
        return ufunc(*[_strip(a, tag) for a in inputs])
    if ufunc is np.conjugate:
        return complexes.conjugate(inputs[0])
    raise no_rule(f"numpy.{ufunc.__name__}")


# ---- the backward pass ----------------------------------------------------------------------

def backward(entries, seeds, keep=None, release=False):
    """Walk the tape from its end, summing cotangents into a local list; return that list.

    ``seeds`` maps tape indices to output cotangents. Entries in ``keep`` (the inputs) keep their
    cotangent; the others are dropped once used, so memory falls as the walk proceeds. With
    ``release`` each entry is also dropped from the tape once its rules have run (a gradient walks
    its tape once; a ``vjp`` pullback may walk it again, so it keeps them). The walk is a loop, not
    recursion: any tape length works.
    """
    ct = [None] * len(entries)
    start = -1
    for i, g in seeds:
        ct[i] = g if ct[i] is None else ct[i] + g
        start = max(start, i)
    for i in range(start, -1, -1):
        g = ct[i]
        if g is None:
            continue
        parents, vjps = entries[i][0], entries[i][1]  # .parents, .transposes (read fast)
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
