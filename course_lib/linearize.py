"""Linearizing under reverse mode: the tangent ``Lin`` and the recording of linear steps.

Reverse mode needs each operation's linearization as steps it can transpose. A linear primitive is
one step; a nonlinear primitive's JVP rule (``course_lib.rules``) is run on ``Lin`` tangents, which
carry a shape and a tape position but no numbers, and each linear operation on them (a sum, a
product with a value, a reshape, a solve, ...) records one step with its transpose. Anything that
is not linear in a tangent is an error in the rule, reported as such. Chapter 2 introduces it.

Complex intermediates (an FFT of a real signal) are transposed for the real inner product
``Re(sum(conj(u) * v))``, complex numbers taken as pairs of reals: the transpose of ``t -> w * t``
is ``g -> conj(w) * g``, and a step from a real input to a complex output keeps the real part of
the input's cotangent. Real steps pay one dtype check for this.
"""
import operator

import numpy as np

from .nesting import (ArrayMethods, UfuncOperators, dtype_of, flat_args, is_complex, plain,
                      shape_of, top_tag)
from .rules import handler_for
from .rules.complexes import CONJ
from .rules.primitive import Abstract, bind
from .rules.products import matmul
from .rules.structural import getitem, unbroadcast

__all__ = ["Lin", "record_linear", "scaling", "complex_scaling", "real_part", "identity",
           "dtype_of"]


def scaling(d, shape=None, out_shape=None):
    """The transpose of ``t -> d * t``: ``g -> d * g``, summed back to the input's ``shape``."""
    if d.__class__ is float and d == 1.0:
        fn = identity
    elif d.__class__ is float and d == -1.0:
        fn = operator.neg
    else:
        def fn(g):
            return g * d
    if shape == out_shape:
        return fn
    return lambda g: unbroadcast(fn(g), shape)


def complex_scaling(d, real_input, shape=None, out_shape=None):
    """The transpose of ``t -> d * t`` with a complex output: ``g -> conj(d) * g``, its real part
    for a real input ``t``, summed back to the input's ``shape``."""
    if d.__class__ is float and d == 1.0:
        fn = identity
    else:
        dc = np.conj(d) if is_complex(d) else d

        def fn(g):
            return g * dc
    if real_input:
        fn = real_part(fn)
    if shape == out_shape:
        return fn
    return lambda g: unbroadcast(fn(g), shape)


def real_part(fn):
    """``fn`` followed by the real part: the transpose of a step from a real input."""
    return lambda g: np.real(fn(g))


def identity(g):
    return g


def record_linear(tape, prim, args, params, ours, parents, out=None):
    """Record a (multi)linear primitive whose arguments ``ours`` are this tape's tangents.

    The transposes keep the values of the other arguments (constants) and only the shape of
    the tangents' own arguments.
    """
    if prim.multilinear and len(ours) > 1 and out is None:
        raise TypeError(f"a derivative rule multiplied two tangents in {prim.name}: that is not "
                        "linear; one factor of each product must be a value")
    for k in ours:
        if not prim.is_linear_in(k):
            raise TypeError(f"a derivative rule applied {prim.name} to a tangent in argument {k}, "
                            "where it is not linear")
    kept = list(args)
    if not prim.multilinear:
        for k in ours:
            kept[k] = Abstract(shape_of(args[k]), dtype_of(args[k]))
    transposes = tuple(_transposer(prim, k, kept, params) for k in ours)
    if out is None:  # a tangent (Lin) in, a tangent out
        dtype = prim.dtype(*args, **params) if prim.dtype else np.result_type(
            *[dtype_of(a) for a in args])
    else:
        dtype = dtype_of(out)
    if dtype.kind == "c":  # a real input's cotangent is the real part of what comes back
        transposes = tuple(fn if is_complex(args[k]) else real_part(fn)
                           for fn, k in zip(transposes, ours))
    if out is None:
        return tape.push_lin(prim.shape(*args, **params), parents, transposes, prim.name, dtype)
    return tape.push(out, tuple(parents), transposes, prim.name)


def _transposer(prim, k, args, params):
    # a product's transpose needs the other factors, conjugated if complex (for the real inner
    # product, the transpose of a product by w is the product by conj(w)), and not this one
    if prim.multilinear:
        args = [np.conj(a) if is_complex(a) else a for a in args]
        args[k] = Abstract(shape_of(args[k]), dtype_of(args[k]))
    return lambda g: prim.transpose(k, g, *args, **params)


class Lin(ArrayMethods, UfuncOperators):
    """A tangent inside a JVP rule under reverse mode: a shape, no numbers, and a tape position.

    Linear operations on it (sums, products with values, reshapes, solves, ...) are recorded on
    the tape with their transposes; any other operation is an error in the rule.
    """
    __slots__ = ("_tape", "_index", "_tag", "shape", "dtype")
    __array_priority__ = 100.0

    def __init__(self, tape, index, shape, dtype=np.dtype(float)):
        self._tape, self._index, self._tag = tape, index, tape.tag
        self.shape, self.dtype = shape, dtype

    def __repr__(self):
        return f"Lin(shape={self.shape}, index={self._index})"

    def _apply(self, prim, args, params):
        ours = [k for k, a in enumerate(args) if a.__class__ is Lin and a._tag == self._tag]
        return record_linear(self._tape, prim, args, params, ours, [args[k]._index for k in ours])

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if top_tag(inputs) != self._tag:
            return NotImplemented
        if method != "__call__" or kwargs:
            raise TypeError(f"a derivative rule called numpy.{ufunc.__name__}.{method} with "
                            f"{sorted(kwargs)} on a tangent")
        return _linear_ufunc(ufunc, inputs, self)

    def __array_function__(self, func, types, args, kwargs):
        if top_tag(flat_args(args) + list(kwargs.values())) != self._tag:
            return NotImplemented
        return handler_for(func)(*args, **kwargs)

    def __getitem__(self, index):
        return getitem(self, index)


def _linear_ufunc(ufunc, inputs, lin):
    """Record a linear ufunc of tangents: a sum, a difference, a negation, a product by a value."""
    if ufunc is np.matmul:
        return matmul(*inputs)
    if ufunc is np.conjugate:
        return bind(CONJ, lin) if is_complex(lin) else lin
    tag = lin._tag
    mine = [a.__class__ is Lin and a._tag == tag for a in inputs]
    shape = np.broadcast_shapes(*[shape_of(a) for a in inputs])
    dtype = np.result_type(*[dtype_of(a) for a in inputs])
    if dtype.kind == "c":
        return _complex_linear_ufunc(ufunc, inputs, mine, lin, shape, dtype)
    if ufunc in (np.add, np.subtract) and all(mine):
        sign = operator.neg if ufunc is np.subtract else identity
        transposes = (scaling(1.0, inputs[0].shape, shape), _sum_back(sign, inputs[1].shape, shape))
    elif ufunc in (np.add, np.subtract) and not np.any(plain(inputs[mine.index(False)])):
        # a zero tangent (of a constant, in a custom rule) added: the other passes through
        sign = operator.neg if ufunc is np.subtract and mine[1] else identity
        transposes = (_sum_back(sign, inputs[mine.index(True)].shape, shape),)
    elif ufunc is np.negative:
        transposes = (scaling(-1.0),)
    elif ufunc is np.multiply and mine.count(True) == 1:
        other = inputs[1 if mine[0] else 0]
        transposes = (scaling(other, inputs[mine.index(True)].shape, shape),)
    elif ufunc is np.true_divide and mine == [True, False]:
        transposes = (scaling(1.0 / inputs[1], inputs[0].shape, shape),)
    else:
        raise TypeError(f"a derivative rule applied numpy.{ufunc.__name__} to a tangent in a way "
                        "that is not linear (tangents may be added, negated, and multiplied or "
                        "divided by values)")
    parents = tuple(a._index for a, m in zip(inputs, mine) if m)
    return lin._tape.push_lin(shape, parents, transposes, ufunc.__name__)


def _complex_linear_ufunc(ufunc, inputs, mine, lin, shape, dtype):
    """``_linear_ufunc`` with a complex output: conjugate factors, real parts for real tangents."""
    if ufunc in (np.add, np.subtract) and all(mine):
        factors = (1.0, -1.0 if ufunc is np.subtract else 1.0)
    elif ufunc in (np.add, np.subtract) and not np.any(plain(inputs[mine.index(False)])):
        factors = (-1.0 if ufunc is np.subtract and mine[1] else 1.0,)  # a zero tangent added
    elif ufunc is np.negative:
        factors = (-1.0,)
    elif ufunc is np.multiply and mine.count(True) == 1:
        factors = (inputs[1 if mine[0] else 0],)
    elif ufunc is np.true_divide and mine == [True, False]:
        factors = (1.0 / inputs[1],)
    else:
        raise TypeError(f"a derivative rule applied numpy.{ufunc.__name__} to a complex tangent "
                        "in a way that is not linear")
    ins = [a for a, m in zip(inputs, mine) if m]
    transposes = tuple(complex_scaling(d, not is_complex(a), a.shape, shape)
                       for d, a in zip(factors, ins))
    return lin._tape.push_lin(shape, tuple(a._index for a in ins), transposes, ufunc.__name__,
                              dtype)


def _sum_back(sign, shape, out_shape):
    if shape == out_shape:
        return sign
    return lambda g: unbroadcast(sign(g), shape)
