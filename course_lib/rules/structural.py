"""Structural rules: reshape, transpose, broadcast, sum, index, scatter, concatenate, where, cumsum.

Every primitive here is linear, so its derivative is itself (forward mode runs it on the tangent)
and reverse mode runs its transpose:

=====================  ======================================================
primitive              transpose (the cotangent ``g`` goes back to the input)
=====================  ======================================================
reshape                reshape ``g`` to the input's shape
transpose              transpose ``g`` by the inverse permutation
broadcast_to           sum ``g`` over the broadcast axes (``unbroadcast``)
sum                    broadcast ``g`` back over the summed axes
getitem (``x[i]``)     scatter-add ``g`` into zeros at ``i`` (``unindex``)
unindex                index ``g`` at ``i``: the two are each other's transposes
concatenate            slice each input's part out of ``g``
where (mask fixed)     ``g`` where the mask chose that input, else 0
cumsum                 a cumulative sum from the other end
=====================  ======================================================

The other shape functions (``np.flip``, ``np.moveaxis``, ``np.stack``, ``np.take_along_axis``, ...)
are compositions of these, in ``course_lib.composites``. Chapter 2 introduces ``unbroadcast``.
"""
import numpy as np

from ..nesting import plain as _plain
from .primitive import Primitive, bind, shape_of

__all__ = ["unbroadcast", "FUNCTIONS", "RESHAPE", "TRANSPOSE", "BROADCAST", "SUM", "GETITEM",
           "UNINDEX", "CONCATENATE", "WHERE", "CUMSUM"]


def unbroadcast(g, shape):
    """Sum a cotangent over the axes numpy broadcasting added, so it gets the input's shape.

    Chapter 2 introduces it; every binary rule uses it. Args: ``g``, a cotangent of the broadcast
    output's shape; ``shape``, the input's shape. Returns: an array of shape ``shape``.
    """
    gshape = shape_of(g)
    if gshape == shape:
        return g
    extra = len(gshape) - len(shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and gshape[extra + i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if extra < 0:  # a cotangent smaller than its input: only a scalar cotangent gets here
        g = np.broadcast_to(g, shape)
    return g


def _axes(axis, nd):
    """``axis`` (None, an int or a sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(nd))
    return tuple(sorted(a % nd for a in ((axis,) if np.ndim(axis) == 0 else axis)))


# ---- reshape, transpose, broadcast ----

def _reshaped(shape, new):
    new = (new,) if np.ndim(new) == 0 else tuple(new)
    if -1 in new:
        known = int(np.prod([n for n in new if n != -1], dtype=int))
        size = int(np.prod(shape, dtype=int))
        new = tuple(size // known if n == -1 else n for n in new)
    return new


RESHAPE = Primitive(
    "reshape", lambda x, shape: np.reshape(x, shape),
    transpose=lambda k, g, x, shape: np.reshape(g, shape_of(x)),
    shape=lambda x, shape: _reshaped(shape_of(x), shape))

TRANSPOSE = Primitive(
    "transpose", lambda x, axes: np.transpose(x, axes),
    transpose=lambda k, g, x, axes: np.transpose(
        g, None if axes is None else tuple(np.argsort(axes))),
    shape=lambda x, axes: tuple(shape_of(x)[i] for i in axes) if axes is not None
    else shape_of(x)[::-1])

BROADCAST = Primitive(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    transpose=lambda k, g, x, shape: unbroadcast(g, shape_of(x)),
    shape=lambda x, shape: shape)


# ---- sum and its transpose (broadcasting back) ----

def _summed_shape(shape, axis, keepdims):
    axes = _axes(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _sum_transpose(k, g, x, axis, keepdims):
    shape = shape_of(x)
    if not keepdims:
        g = np.reshape(g, _summed_shape(shape, axis, True))
    return np.broadcast_to(g, shape)


SUM = Primitive(
    "sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    transpose=_sum_transpose,
    shape=lambda x, axis, keepdims: _summed_shape(shape_of(x), axis, keepdims))


# ---- indexing and its transpose, scattering ----

def _is_basic(index):
    """True for indices made only of ints, slices, None and Ellipsis (no repeated elements)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis
               for p in parts)


def _unindex(g, index, shape):
    """Scatter ``g`` into zeros of ``shape`` at ``index`` (repeated indices add up)."""
    out = np.zeros(shape, dtype=np.result_type(g, float))
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


GETITEM = Primitive(
    "getitem", lambda x, index: x[index],
    transpose=lambda k, g, x, index: bind(UNINDEX, g, index=index, shape=shape_of(x)),
    shape=lambda x, index: np.broadcast_to(np.empty(()), shape_of(x))[index].shape)

UNINDEX = Primitive(
    "unindex", _unindex,
    transpose=lambda k, g, x, index, shape: g[index],
    shape=lambda x, index, shape: shape)


# ---- joining and choosing ----

def _concat_transpose(k, g, *arrays, axis):
    start = sum(shape_of(a)[axis] for a in arrays[:k])
    index = (slice(None),) * axis + (slice(start, start + shape_of(arrays[k])[axis]),)
    return g[index]


def _concat_shape(*arrays, axis):
    shape = list(shape_of(arrays[0]))
    shape[axis] = sum(shape_of(a)[axis] for a in arrays)
    return tuple(shape)


CONCATENATE = Primitive(
    "concatenate", lambda *arrays, axis: np.concatenate(arrays, axis=axis),
    transpose=_concat_transpose, shape=_concat_shape)


def _where_transpose(k, g, x, y, condition):
    chosen = condition if k == 0 else np.logical_not(condition)
    return unbroadcast(np.where(chosen, g, 0.0), shape_of(x if k == 0 else y))


WHERE = Primitive(
    "where", lambda x, y, condition: np.where(condition, x, y),
    transpose=_where_transpose,
    shape=lambda x, y, condition: np.broadcast_shapes(shape_of(condition), shape_of(x),
                                                      shape_of(y)))


def _cumsum_transpose(k, g, x, axis):
    if axis is None:
        return np.reshape(np.flip(np.cumsum(np.flip(g))), shape_of(x))
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


CUMSUM = Primitive(
    "cumsum", lambda x, axis: np.cumsum(x, axis=axis), transpose=_cumsum_transpose,
    shape=lambda x, axis: (int(np.prod(shape_of(x), dtype=int)),) if axis is None
    else shape_of(x))


# ---- the numpy functions that reach these primitives ----

def _refuse(name, out=None, **kwargs):
    if out is not None or kwargs:
        raise NotImplementedError(f"numpy.{name} with {sorted(kwargs) or ['out']} is not "
                                  "supported on derivatives; call it without them")


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    _refuse("sum", out, **kwargs)
    return bind(SUM, a, axis=None if axis is None else _axes(axis, len(shape_of(a))),
                keepdims=keepdims)


def _reshape(a, *args, **kwargs):
    shape = args[0] if args else kwargs.get("shape", kwargs.get("newshape"))
    return bind(RESHAPE, a, shape=shape)


def _transpose(a, axes=None):
    return bind(TRANSPOSE, a, axes=None if axes is None else tuple(a_ % len(shape_of(a))
                                                                    for a_ in axes))


def _concatenate(arrays, axis=0, out=None, **kwargs):
    _refuse("concatenate", out, **kwargs)
    arrays = tuple(arrays)
    if axis is None:
        arrays, axis = tuple(np.ravel(a) for a in arrays), 0
    return bind(CONCATENATE, *arrays, axis=axis % len(shape_of(arrays[0])))


def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise NotImplementedError("numpy.where with one argument returns indices; call it on the "
                                  "condition's values (a comparison gives a plain array)")
    return bind(WHERE, x, y, condition=_plain(condition))


def _plain_index(index):
    if isinstance(index, tuple):
        return tuple(_plain(i) for i in index)
    return _plain(index)


def getitem(x, index):
    """``x[index]`` for any value: an index is read off plain values, never differentiated."""
    return bind(GETITEM, x, index=_plain_index(index))


FUNCTIONS = {
    np.sum: _sum,
    np.reshape: _reshape,
    np.ravel: lambda a, order="C": bind(RESHAPE, a, shape=(-1,)),
    np.transpose: _transpose,
    np.broadcast_to: lambda array, shape, subok=False: bind(
        BROADCAST, array, shape=tuple(int(n) for n in np.atleast_1d(shape))),
    np.concatenate: _concatenate,
    np.where: _where,
    np.cumsum: lambda a, axis=None, dtype=None, out=None: bind(CUMSUM, a, axis=axis),
}
