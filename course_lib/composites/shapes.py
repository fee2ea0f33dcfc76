"""Shape functions as compositions: axes, joining, slicing, flips, triangles, padding, splits."""
import numpy as np

from ..nesting import plain, shape_of


def along(axis, nd, index):
    """An index that applies ``index`` on ``axis`` and takes everything on the other axes."""
    return (slice(None),) * (axis % nd) + (index,)


# ---- axes: all transposes and reshapes ---------------------------------------------------------

def swapaxes(a, axis1, axis2):
    """np.swapaxes: a transpose that exchanges two axes."""
    axes = list(range(len(shape_of(a))))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return np.transpose(a, axes)


def moveaxis(a, source, destination):
    """np.moveaxis: a transpose that moves the ``source`` axes to the ``destination`` positions."""
    nd = len(shape_of(a))
    source = [s % nd for s in np.atleast_1d(source)]
    destination = [d % nd for d in np.atleast_1d(destination)]
    order = [d for d in range(nd) if d not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return np.transpose(a, order)


def expand_dims(a, axis):
    """np.expand_dims: a reshape with axes of length 1 inserted."""
    shape = list(shape_of(a))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    nd = len(shape) + len(axes)
    for ax in sorted(ax % nd for ax in axes):
        shape.insert(ax, 1)
    return np.reshape(a, tuple(shape))


def squeeze(a, axis=None):
    """np.squeeze: a reshape without (some of) the axes of length 1."""
    shape = shape_of(a)
    if axis is None:
        return np.reshape(a, tuple(n for n in shape if n != 1))
    axes = {ax % len(shape) for ax in ((axis,) if np.ndim(axis) == 0 else axis)}
    if any(shape[ax] != 1 for ax in axes):
        raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return np.reshape(a, tuple(n for i, n in enumerate(shape) if i not in axes))


def _lift(nd):
    """np.atleast_1d / np.atleast_2d: lengths of 1 in front, up to ``nd`` dimensions."""
    def atleast(*arys):
        out = [a if len(shape_of(a)) >= nd else
               np.reshape(a, (1,) * (nd - len(shape_of(a))) + shape_of(a)) for a in arys]
        return out[0] if len(out) == 1 else tuple(out)
    atleast.__name__ = f"atleast_{nd}d"
    return atleast


atleast_1d, atleast_2d = _lift(1), _lift(2)


# ---- joining ---------------------------------------------------------------------------------

def stack(arrays, axis=0, out=None, **kwargs):
    """np.stack: each array given a new axis, then concatenated along it."""
    arrays = list(arrays)
    nd = len(shape_of(arrays[0])) + 1
    return np.concatenate([expand_dims(a, axis % nd) for a in arrays], axis=axis % nd, out=out,
                          **kwargs)


def hstack(tup, **kwargs):
    """np.hstack: concatenation along axis 1 (axis 0 for 1-d arrays)."""
    arrays = [atleast_1d(a) for a in tup]
    return np.concatenate(arrays, axis=0 if len(shape_of(arrays[0])) == 1 else 1, **kwargs)


def vstack(tup, **kwargs):
    """np.vstack: concatenation along axis 0 of arrays made at least 2-d."""
    return np.concatenate([atleast_2d(a) for a in tup], axis=0, **kwargs)


def column_stack(tup):
    """np.column_stack: 1-d arrays as columns, concatenated along axis 1."""
    return np.concatenate([np.reshape(a, (-1, 1)) if len(shape_of(a)) < 2 else a for a in tup],
                          axis=1)


# ---- moving entries: slices and concatenation ------------------------------------------------

def flip(m, axis=None):
    """np.flip: a slice with step -1 along each of the axes."""
    nd = len(shape_of(m))
    axes = range(nd) if axis is None else [a % nd for a in np.atleast_1d(axis)]
    return m[tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(nd))]


def diff(a, n=1, axis=-1):
    """np.diff: neighbouring entries subtracted, ``n`` times."""
    nd = len(shape_of(a))
    for _ in range(n):
        a = a[along(axis, nd, slice(1, None))] - a[along(axis, nd, slice(None, -1))]
    return a


def roll(a, shift, axis=None):
    """np.roll: the two parts of the axis concatenated in swapped order."""
    if axis is None:
        return np.reshape(roll(np.ravel(a), shift, 0), shape_of(a))
    if np.ndim(axis) != 0:
        for s, ax in zip(np.broadcast_to(shift, len(axis)), axis):
            a = roll(a, int(s), ax)
        return a
    nd, size = len(shape_of(a)), shape_of(a)[axis]
    k = int(shift) % size if size else 0
    if k == 0:
        return a
    return np.concatenate([a[along(axis, nd, slice(size - k, None))],
                           a[along(axis, nd, slice(None, size - k))]], axis=axis)


def fftshift(x, axes=None):
    """np.fft.fftshift: each axis rolled by half its length, the zero frequency to the middle."""
    return _shift(x, axes, 1)


def ifftshift(x, axes=None):
    """np.fft.ifftshift: the roll that undoes ``fftshift``."""
    return _shift(x, axes, -1)


def _shift(x, axes, sign):
    shape = shape_of(x)
    axes = range(len(shape)) if axes is None else (axes,) if np.ndim(axes) == 0 else axes
    for ax in axes:
        x = roll(x, sign * (shape[ax] // 2), ax)
    return x


def repeat(a, repeats, axis=None):
    """np.repeat: each entry indexed ``repeats`` times."""
    if axis is None:
        a, axis = np.ravel(a), 0
    index = np.repeat(np.arange(shape_of(a)[axis]), repeats)
    return a[along(axis, len(shape_of(a)), index)]


def tile(a, reps):
    """np.tile: copies concatenated along each axis."""
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    nd = max(len(reps), len(shape_of(a)))
    a = np.reshape(a, (1,) * (nd - len(shape_of(a))) + shape_of(a))
    reps = (1,) * (nd - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            a = np.concatenate([a] * r, axis=axis)
    return a


def take_along_axis(arr, indices, axis):
    """np.take_along_axis: one fancy index, ``indices`` on ``axis`` and ranges on the others."""
    if axis is None:
        arr, axis = np.ravel(arr), 0
    nd = len(shape_of(arr))
    axis %= nd
    index = tuple(plain(indices) if d == axis else
                  np.arange(n).reshape([-1 if e == d else 1 for e in range(nd)])
                  for d, n in enumerate(shape_of(arr)))
    return arr[index]


def sort(a, axis=-1, kind=None, order=None):
    """np.sort: the entries taken in the order ``argsort`` gives (each keeps its derivative)."""
    if axis is None:  # numpy sorts the flattened array
        a, axis = np.ravel(a), -1
    return take_along_axis(a, np.argsort(plain(a), axis=axis, kind="stable"), axis)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """np.partition: the entries taken in the order ``argpartition`` gives (the same order)."""
    if axis is None:
        a, axis = np.ravel(a), -1
    return take_along_axis(a, np.argpartition(plain(a), kth, axis=axis), axis)


def diagonal(a, offset=0, axis1=0, axis2=1):
    """np.diagonal: the two axes moved to the end, then one fancy index along both."""
    nd = len(shape_of(a))
    a = moveaxis(a, [axis1 % nd, axis2 % nd], [-2, -1])
    rows, cols = shape_of(a)[-2:]
    i = np.arange(max(0, -offset), max(max(0, -offset), min(rows, cols - offset)))
    return a[..., i, i + offset]


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """np.trace: the sum of ``diagonal``."""
    return np.sum(diagonal(a, offset, axis1, axis2), axis=-1)


def _triangle(name, keep):
    def triangle(m, k=0):
        shape = shape_of(m)
        if len(shape) < 2:
            raise NotImplementedError(f"numpy.{name} of a 1-d traced value or Dual: build the "
                                      "matrix first (e.g. np.outer, or np.tile with a reshape)")
        return m * keep(np.ones(shape[-2:]), k)
    triangle.__name__ = name
    triangle.__doc__ = f"np.{name}: the matrix times a constant mask of ones and zeros."
    return triangle


triu = _triangle("triu", np.triu)
tril = _triangle("tril", np.tril)


def diag(v, k=0):
    """np.diag: a 2-d input gives its k-th diagonal; a 1-d input, the matrix with it there."""
    shape = shape_of(v)
    if len(shape) == 2:
        return np.diagonal(v, k)
    if len(shape) != 1:
        raise ValueError("np.diag takes a 1-d or 2-d input")
    m = shape[0] + abs(k)
    # Column c of eye(m, k) has its one in row c - k; scale column c by the entry that goes there.
    zeros = np.zeros(abs(k))
    column_values = np.concatenate([zeros, v] if k >= 0 else [v, zeros])
    return np.eye(m, k=k) * column_values


def pad(array, pad_width, mode="constant", constant_values=0, **kwargs):
    """np.pad in constant mode: constant blocks concatenated on each side of each axis."""
    if mode != "constant" or kwargs:
        raise NotImplementedError(f"numpy.pad with mode={mode!r} has no derivative rule here; "
                                  "only mode='constant' is supported")
    nd = len(shape_of(array))
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (nd, 2))
    values = np.broadcast_to(np.asarray(constant_values, dtype=float), (nd, 2))
    for axis in range(nd):
        before, after = widths[axis]
        shape = list(shape_of(array))
        parts = []
        if before:
            parts.append(np.full(shape[:axis] + [before] + shape[axis + 1:], values[axis, 0]))
        parts.append(array)
        if after:
            parts.append(np.full(shape[:axis] + [after] + shape[axis + 1:], values[axis, 1]))
        if len(parts) > 1:
            array = np.concatenate(parts, axis=axis)
    return array


def array_split(ary, indices_or_sections, axis=0):
    """np.array_split: slices of the axis, placed where numpy's own split puts them."""
    nd = len(shape_of(ary))
    positions = np.array_split(np.arange(shape_of(ary)[axis]), indices_or_sections)
    return [ary[along(axis, nd, slice(int(p[0]), int(p[-1]) + 1) if len(p) else slice(0, 0))]
            for p in positions]


def split(ary, indices_or_sections, axis=0):
    """np.split: as ``array_split``, but equal sections must divide the axis."""
    if np.ndim(indices_or_sections) == 0 and shape_of(ary)[axis] % indices_or_sections:
        raise ValueError("array split does not result in an equal division")
    return array_split(ary, indices_or_sections, axis)


def hsplit(ary, indices_or_sections):
    """np.hsplit: split along axis 1 (axis 0 for 1-d input)."""
    return split(ary, indices_or_sections, axis=1 if len(shape_of(ary)) > 1 else 0)


def vsplit(ary, indices_or_sections):
    """np.vsplit: split along axis 0."""
    return split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    """np.dsplit: split along axis 2 (of an array of at least 3 dimensions)."""
    if len(shape_of(ary)) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, axis=2)


def flipud(m):
    """np.flipud: the rows in reverse order (``np.flip`` on axis 0)."""
    if len(shape_of(m)) < 1:
        raise ValueError("Input must be >= 1-d.")
    return np.flip(m, 0)


def fliplr(m):
    """np.fliplr: the columns in reverse order (``np.flip`` on axis 1)."""
    if len(shape_of(m)) < 2:
        raise ValueError("Input must be >= 2-d.")
    return np.flip(m, 1)


def rot90(m, k=1, axes=(0, 1)):
    """np.rot90: k quarter turns in the plane of ``axes``, as flips and a swap of the two axes."""
    axes, nd = tuple(axes), len(shape_of(m))
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == nd:
        raise ValueError("Axes must be different.")
    if not all(-nd <= ax < nd for ax in axes):
        raise ValueError(f"Axes={axes} out of range for array of ndim={nd}.")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return np.flip(np.flip(m, axes[0]), axes[1])
    swapped = list(range(nd))
    swapped[axes[0]], swapped[axes[1]] = swapped[axes[1]], swapped[axes[0]]
    if k == 1:
        return np.transpose(np.flip(m, axes[1]), swapped)
    return np.flip(np.transpose(m, swapped), axes[1])


def rollaxis(a, axis, start=0):
    """np.rollaxis: ``axis`` moved to just before position ``start``, as a transpose."""
    nd = len(shape_of(a))
    if not -nd <= axis < nd:
        raise np.exceptions.AxisError(axis, nd)
    axis, start = axis % nd, start + nd if start < 0 else start
    if not 0 <= start <= nd:
        raise np.exceptions.AxisError(f"'start' arg requires {-nd} <= start < {nd + 1}, but "
                                      f"{start} was passed in")
    order = [d for d in range(nd) if d != axis]
    order.insert(start - 1 if axis < start else start, axis)
    return np.transpose(a, order)


def atleast_3d(*arys):
    """np.atleast_3d: (1, 1, 1) for a number, (1, N, 1) for a vector, (M, N, 1) for a matrix."""
    def lift(a):
        shape = shape_of(a)
        if len(shape) >= 3:
            return a
        return np.reshape(a, {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}[len(shape)])
    return lift(arys[0]) if len(arys) == 1 else tuple(lift(a) for a in arys)


# ---- the lower triangle, as numpy's cholesky and eigh read it --------------------------------
# np.linalg.cholesky(A) and np.linalg.eigh(A) look only at the lower triangle of A: they compute a
# function of the symmetric matrix from_lower(A). Their derivative rules work with symmetric
# matrices, so they see from_lower(dA): derivatives that finite differences on the entries of A
# confirm (upper-triangle entries have derivative 0).

def from_lower(m):
    """The symmetric matrix with the lower triangle of m (of each matrix of a stack)."""
    return np.tril(m) + swapaxes(np.tril(m, -1), -1, -2)


FUNCTIONS = {
    np.swapaxes: swapaxes, np.moveaxis: moveaxis, np.expand_dims: expand_dims,
    np.squeeze: squeeze, np.atleast_1d: atleast_1d, np.atleast_2d: atleast_2d,
    np.atleast_3d: atleast_3d, np.rollaxis: rollaxis,
    np.stack: stack, np.hstack: hstack, np.vstack: vstack, np.column_stack: column_stack,
    np.flip: flip, np.flipud: flipud, np.fliplr: fliplr, np.rot90: rot90,
    np.diff: diff, np.roll: roll, np.repeat: repeat, np.tile: tile,
    np.fft.fftshift: fftshift, np.fft.ifftshift: ifftshift,
    np.take_along_axis: take_along_axis, np.sort: sort, np.partition: partition,
    np.diagonal: diagonal, np.trace: trace, np.triu: triu, np.tril: tril, np.diag: diag,
    np.pad: pad, np.split: split, np.array_split: array_split, np.hsplit: hsplit,
    np.vsplit: vsplit, np.dsplit: dsplit,
}
