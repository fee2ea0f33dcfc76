"""Batching: run numpy code on a stack of values at once, for whole Jacobians in one pass.

A ``Batched`` value holds a stack of values of one shape along a leading axis that the code it
runs through does not see: ``x.shape`` is the shape of one of them, and each numpy operation acts
on every one (the course's small ``vmap``). ``jacfwd`` pushes the stack of all basis tangents
through a function in one forward pass, and ``jacrev`` pulls back the stack of all basis
cotangents in one backward pass, instead of one pass per column or row (chapter 2).

How an operation is batched: an elementwise ufunc on the stacked arrays, lined up on their last
axes (numpy's broadcasting does the rest); a primitive of ``course_lib.rules`` by its rule below,
which moves its axes past the batch axis (sum over axis 0 becomes sum over axis 1, an index gets
a leading ``:``); any other primitive one value at a time, which is correct and slow.

A ``Batched`` value always takes a tag larger than those of the computation it serves
(``course_lib.nesting``): it is the innermost value, and the values in the stack may be Duals or
traced values of outer computations.
"""
import numpy as np

from .nesting import ArrayMethods, UfuncOperators, dtype_of, flat_args, new_tag, shape_of, top_tag
from .rules import complexes, fft, handler_for, linalg, products, structural
from .rules.primitive import bind

__all__ = ["Batched", "stack_of", "unstack"]


class Batched(ArrayMethods, UfuncOperators):
    """A stack of values of one shape, operated on together; ``shape`` is one value's shape.

    Args:
        value: an array (or a Dual or traced array) whose first axis runs over the stack.
        tag: the tag of this batch; ``stack_of`` takes a fresh one.
    """
    __slots__ = ("value", "_tag")
    __array_priority__ = 100.0

    def __init__(self, value, tag):
        self.value = value
        self._tag = tag

    @property
    def shape(self):
        return shape_of(self.value)[1:]

    @property
    def dtype(self):
        return dtype_of(self.value)

    def __repr__(self):
        return f"Batched({self.value!r})"

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if top_tag(inputs) != self._tag:
            return NotImplemented
        if method != "__call__" or kwargs:
            raise NotImplementedError(f"numpy.{ufunc.__name__}.{method} with {sorted(kwargs)} "
                                      "has no batched form")
        if ufunc is np.matmul:
            return bind(products.MATMUL, *inputs)
        return _elementwise(ufunc, inputs, self._tag)

    def __array_function__(self, func, types, args, kwargs):
        if top_tag(flat_args(args) + list(kwargs.values())) != self._tag:
            return NotImplemented
        return handler_for(func)(*args, **kwargs)

    def _apply(self, prim, args, params):
        rule = _RULES.get(prim)
        if rule is not None:
            out = rule(self._tag, args, **params)
            if out is not None:
                return out
        return _one_at_a_time(self._tag, prim, args, params)

    def __getitem__(self, index):
        return structural.getitem(self, index)


def stack_of(values):
    """A ``Batched`` stack of ``values`` (an array whose first axis runs over them), newly tagged."""
    return Batched(values, new_tag())


def unstack(x, tag):
    """The stacked array inside ``x`` if it is a batch of ``tag``, else None (a constant)."""
    return x.value if x.__class__ is Batched and x._tag == tag else None


# ---- how operations act on a batch ------------------------------------------------------------

def _ours(args, tag):
    return [a.__class__ is Batched and a._tag == tag for a in args]


def _count(args, tag):
    for a in args:
        if a.__class__ is Batched and a._tag == tag:
            return shape_of(a.value)[0]
    raise AssertionError("no batched argument")


def _lined_up(a, nd):
    """The stacked array of ``a``, its value axes padded on the left with 1s to ``nd`` axes."""
    s = a.shape
    if len(s) == nd:
        return a.value
    return np.reshape(a.value, (shape_of(a.value)[0],) + (1,) * (nd - len(s)) + s)


def _elementwise(ufunc, inputs, tag):
    nd = len(np.broadcast_shapes(*[shape_of(a) for a in inputs]))
    values = [_lined_up(a, nd) if m else a for a, m in zip(inputs, _ours(inputs, tag))]
    return Batched(ufunc(*values), tag)


def _one_at_a_time(tag, prim, args, params):
    """Any primitive, batched by running it on each value of the stack: correct, and slow."""
    mine = _ours(args, tag)
    outs = [bind(prim, *[a.value[i] if m else a for a, m in zip(args, mine)], **params)
            for i in range(_count(args, tag))]
    return Batched(np.stack(outs), tag)


def _full(a, m, n):
    """The stacked array of a batched argument, or a constant repeated ``n`` times."""
    return a.value if m else np.broadcast_to(a, (n,) + shape_of(a))


def _shifted(axis):
    return None if axis is None else tuple(a + 1 for a in axis)


def _reshape(tag, args, shape):
    (x,) = args
    new = structural.RESHAPE.shape(x, shape)
    return Batched(np.reshape(x.value, (shape_of(x.value)[0],) + tuple(new)), tag)


def _transpose(tag, args, axes):
    (x,) = args
    axes = tuple(range(x.ndim))[::-1] if axes is None else axes
    return Batched(np.transpose(x.value, (0,) + tuple(a + 1 for a in axes)), tag)


def _broadcast(tag, args, shape):
    (x,) = args
    n = shape_of(x.value)[0]
    return Batched(np.broadcast_to(_lined_up(x, len(shape)), (n,) + tuple(shape)), tag)


def _sum(tag, args, axis, keepdims):
    (x,) = args
    axis = tuple(range(x.ndim)) if axis is None else axis
    return Batched(np.sum(x.value, axis=_shifted(axis), keepdims=keepdims), tag)


def _adjacent(index):
    """True if the array parts of an index are next to each other (numpy then keeps their
    place; a leading ``:`` can be added without moving them)."""
    parts = index if isinstance(index, tuple) else (index,)
    where = [i for i, p in enumerate(parts) if np.ndim(p) > 0 or isinstance(p, list)]
    return not where or where[-1] - where[0] == len(where) - 1


def _lead(index):
    return (slice(None),) + (index if isinstance(index, tuple) else (index,))


def _getitem(tag, args, index):
    if not _adjacent(index):
        return None
    return Batched(args[0].value[_lead(index)], tag)


def _unindex(tag, args, index, shape):
    if not _adjacent(index):
        return None
    g = args[0].value
    return Batched(bind(structural.UNINDEX, g, index=_lead(index),
                        shape=(shape_of(g)[0],) + tuple(shape)), tag)


def _concatenate(tag, args, axis):
    n, mine = _count(args, tag), _ours(args, tag)
    return Batched(np.concatenate([_full(a, m, n) for a, m in zip(args, mine)], axis=axis + 1),
                   tag)


def _where(tag, args, condition):
    x, y = args
    nd = len(np.broadcast_shapes(shape_of(condition), shape_of(x), shape_of(y)))
    mine = _ours(args, tag)
    vx, vy = [_lined_up(a, nd) if m else a for a, m in zip(args, mine)]
    return Batched(np.where(condition, vx, vy), tag)


def _cumsum(tag, args, axis):
    (x,) = args
    if axis is None:
        return Batched(np.cumsum(np.reshape(x.value, (shape_of(x.value)[0], -1)), axis=1), tag)
    return Batched(np.cumsum(x.value, axis=axis % x.ndim + 1), tag)


def _matmul(tag, args):
    a, b = args
    ma, mb = _ours(args, tag)
    na, nb = len(shape_of(a)), len(shape_of(b))
    if ma and not mb and nb == 2 and na >= 1:
        # A stack of rows times one matrix is one matrix product: fold the stack into the rows, as
        # numpy runs stacked products one small product at a time (the benchmark row "jacrev,
        # n = 1000" in benchmarks/bench_jacobians.py: 130 ms before, 44 ms after).
        rows = a.value.reshape(-1, a.value.shape[-1])
        return Batched(np.matmul(rows, b).reshape(a.value.shape[:-1] + b.shape[-1:]), tag)
    if ma and not mb and (nb <= 2 or nb <= na):  # the stack axis stays in front
        return Batched(np.matmul(a.value, b), tag)
    if mb and not ma and na <= 2:
        if nb == 1:  # a stack of vectors: the rows of one matrix product
            return Batched(np.matmul(b.value, np.transpose(a) if na == 2 else a), tag)
        return Batched(np.matmul(a, b.value), tag)
    return None


def _einsum(tag, *operands, subscripts):
    inputs, output = subscripts.split("->")
    letter = next(c for c in "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA"
                  if c not in subscripts)
    mine = _ours(operands, tag)
    spec = ",".join(letter + s if m else s for s, m in zip(inputs.split(","), mine))
    values = [a.value if m else a for a, m in zip(operands, mine)]
    return Batched(np.einsum(f"{spec}->{letter}{output}", *values), tag)


def _solve(tag, args):
    a, b = args
    ma, mb = _ours(args, tag)
    if ma or len(shape_of(a)) != 2:
        return None
    if b.ndim == 1:  # a stack of right-hand sides: the columns of one solve
        return Batched(np.transpose(np.linalg.solve(a, np.transpose(b.value))), tag)
    return Batched(np.linalg.solve(a, b.value), tag)


def _transform(prim):
    """An FFT over the stack: the same transform with its axes past the batch axis."""
    def rule(tag, args, s, axes, norm):
        return Batched(prim.impl(args[0].value, s, tuple(a + 1 for a in axes), norm), tag)
    return rule


def _entrywise(prim):
    return lambda tag, args: Batched(prim.impl(args[0].value), tag)


_RULES = {
    structural.RESHAPE: _reshape, structural.TRANSPOSE: _transpose,
    structural.BROADCAST: _broadcast, structural.SUM: _sum, structural.GETITEM: _getitem,
    structural.UNINDEX: _unindex, structural.CONCATENATE: _concatenate,
    structural.WHERE: _where, structural.CUMSUM: _cumsum,
    products.MATMUL: _matmul, linalg.SOLVE: _solve,
    products.EINSUM: lambda tag, args, subscripts: _einsum(tag, *args, subscripts=subscripts),
    **{prim: _transform(prim) for prim in (fft.FFTN, fft.IFFTN, fft.RFFTN, fft.IRFFTN)},
    **{prim: _entrywise(prim) for prim in (complexes.REAL, complexes.IMAG, complexes.CONJ)},
}
