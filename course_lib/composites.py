"""numpy functions written as compositions of other numpy operations, shared by both modes.

Each function here calls only operations that ``Dual`` (forward mode) and the tape (reverse mode)
already have rules for: products, slices, concatenation, sums. Run on a ``Dual`` or a traced value
it is therefore differentiated through those rules, to any order, with no rule of its own to get
wrong. ``course_lib.dual`` and ``course_lib.tape`` register them in their dispatch tables, so a
learner's ``np.prod(x)`` or ``np.triu(m)`` just works under ``jvp``, ``grad``, ``hessian`` and
``hvp``. The functions also run on plain arrays (and then equal numpy's own, as the tests check).

How the less obvious ones work:

* ``prod`` multiplies the two halves of the axis together until one entry is left: log2(n)
  products, no division, so entries equal to zero get their derivatives right (``g * prod / x``,
  the usual shortcut, divides by zero there).
* ``cumprod`` is the same idea as a scan (Hillis and Steele 1986): after step k every entry holds
  the product of the 2^k entries ending at it.
* ``sinc`` is sin(pi x) / (pi x), which divides by zero at x = 0 (and whose derivatives, written as
  quotients, cancel catastrophically near it). Where |pi x| < 1 it takes the Taylor polynomial
  instead, to (pi x)^16: exact to rounding there, with sinc's own derivatives at 0 up to the 17th
  (so sinc''(0) = -pi^2/3, where a constant 1 at 0 would give 0). The "double where": the quotient
  is computed on a safe value (1 where the polynomial is used), then ``np.where`` chooses, so no
  branch divides by zero, not even in a derivative that ``np.where`` discards (0 * inf is nan).
* Decisions on values (``select``'s conditions, ``nan_to_num``'s non-finite entries, ``sinc``'s
  branch) use comparisons and ``np.isfinite``/``np.isnan``, which both modes compute on the plain
  values: the chosen entries are then constants (derivative 0) or pass through (derivative 1).
"""
import math
import operator

import numpy as np


def shape_of(x):
    """The shape of an array, number, ``Dual`` or traced value."""
    return tuple(getattr(x, "shape", ()))


def along(axis, nd, index):
    """An index that applies ``index`` on ``axis`` and takes everything on the other axes."""
    return (slice(None),) * (axis % nd) + (index,)


def _count(shape, axis):
    """How many entries a reduction over ``axis`` combines into each result."""
    if axis is None:
        return int(np.prod(shape, dtype=int))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return int(np.prod([shape[a] for a in axes], dtype=int))


# ---- statistics and norms ---------------------------------------------------------------------

def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """np.var: the mean squared deviation, divided by (count - ddof)."""
    if isinstance(axis, list):
        axis = tuple(axis)
    centred = a - np.mean(a, axis=axis, keepdims=True)
    total = np.sum(centred * centred, axis=axis, keepdims=keepdims)
    return total / (_count(shape_of(a), axis) - ddof)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """np.std: the square root of ``var``."""
    return np.sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


def norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm, Euclidean (vectors) or Frobenius (matrices) only."""
    if ord not in (None, 2, "fro") or (ord == 2 and axis is None and len(shape_of(x)) > 1):
        raise NotImplementedError(f"numpy.linalg.norm with ord={ord!r} has no derivative rule "
                                  "here; only the Euclidean/Frobenius norm (ord=None) is supported")
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """np.average: sum(a * w) / sum(w); 1-d weights run along ``axis``, as numpy's do."""
    if weights is None:
        result = np.mean(a, axis=axis, keepdims=keepdims)
        total = _count(shape_of(a), axis) * np.ones(shape_of(result))
    else:
        nd, wshape = len(shape_of(a)), shape_of(weights)
        if wshape != shape_of(a):
            if axis is None or len(wshape) != 1:
                raise TypeError("np.average: weights must have the shape of a, or be 1-d along a "
                                "given axis")
            weights = np.reshape(weights, [-1 if d == axis % nd else 1 for d in range(nd)])
        weights = weights * np.ones(shape_of(a))  # broadcast, so the sums below line up
        total = np.sum(weights, axis=axis, keepdims=keepdims)
        result = np.sum(a * weights, axis=axis, keepdims=keepdims) / total
    return (result, total) if returned else result


# ---- products -----------------------------------------------------------------------------------

def _axis_last(a, axis):
    """Move ``axis`` (an int, a tuple, or None for all) to the end, merged into one axis."""
    if axis is None:
        return np.reshape(a, (-1,))
    nd = len(shape_of(a))
    axes = [ax % nd for ax in ((axis,) if np.ndim(axis) == 0 else axis)]
    a = np.transpose(a, [d for d in range(nd) if d not in axes] + axes)
    return np.reshape(a, shape_of(a)[:nd - len(axes)] + (-1,))


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    """np.prod: halves of the axis multiplied together, log2(n) times (exact at zeros)."""
    x = _axis_last(a, axis)
    while shape_of(x)[-1] > 1:
        n = shape_of(x)[-1]
        half = n // 2
        paired = x[..., :half] * x[..., half:2 * half]
        x = np.concatenate([paired, x[..., 2 * half:]], axis=-1) if n % 2 else paired
    if shape_of(x)[-1] == 0:  # the empty product
        x = np.ones(shape_of(x)[:-1] + (1,))
    result = x[..., 0]
    if keepdims:
        nd = len(shape_of(a))
        kept = range(nd) if axis is None else [
            ax % nd for ax in ((axis,) if np.ndim(axis) == 0 else axis)]
        result = np.reshape(result, [1 if d in kept else n for d, n in enumerate(shape_of(a))])
    return result


def cumprod(a, axis=None, dtype=None, out=None):
    """np.cumprod: a scan; step k multiplies each entry by the one 2^k places before it."""
    if axis is None:
        a, axis = np.reshape(a, (-1,)), 0
    nd = len(shape_of(a))
    n = shape_of(a)[axis]
    step = 1
    while step < n:
        ones = np.ones([step if d == axis % nd else size for d, size in enumerate(shape_of(a))])
        shifted = np.concatenate([ones, a[along(axis, nd, slice(0, n - step))]], axis=axis)
        a = a * shifted
        step *= 2
    return a


def polyval(p, x):
    """np.polyval by Horner's rule: ((p0 x + p1) x + p2) ...; p and x may both be traced."""
    coefficients = [p[i] for i in range(len(p))]
    y = coefficients[0] * np.ones(shape_of(x))
    for c in coefficients[1:]:
        y = y * x + c
    return y


# ---- triangles, diagonals, padding and splitting (all linear) ---------------------------------

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


# ---- flips, rotations and axes (all linear) --------------------------------------------------

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


# ---- choices made on values: select, nan_to_num, sinc ----------------------------------------

def select(condlist, choicelist, default=0):
    """np.select: ``np.where`` from the last condition to the first, so the first true one wins."""
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if len(condlist) == 0:
        raise ValueError("select with an empty condition list is not possible")
    result = default
    for i in reversed(range(len(condlist))):
        if np.asarray(condlist[i]).dtype != bool:  # a traced condition fails here too
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
        result = np.where(condlist[i], choicelist[i], result)
    return result


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """np.nan_to_num: non-finite entries replaced by constants, finite ones passed through."""
    dtype = np.dtype(getattr(x, "dtype", float))
    if dtype.kind != "f":
        return x  # integers and booleans have no nan or inf
    big = np.finfo(dtype).max
    replacement = np.where(np.isnan(x), nan, np.where(x > 0, big if posinf is None else posinf,
                                                      -big if neginf is None else neginf))
    return np.where(np.isfinite(x), x, replacement)


_SINC_SERIES = [(-1) ** k / math.factorial(2 * k + 1) for k in range(9)]  # sin(t)/t in t^2


def sinc(x):
    """np.sinc: sin(pi x) / (pi x), its Taylor polynomial where |pi x| < 1 (a double where)."""
    t = np.pi * x
    near_zero = np.abs(t) < 1.0
    safe = np.where(near_zero, 1.0, t)  # never 0, so no branch divides by zero
    t2 = t * t
    series = _SINC_SERIES[-1]
    for c in reversed(_SINC_SERIES[:-1]):
        series = series * t2 + c
    return np.where(near_zero, series, np.sin(safe) / safe)


# ---- evenly spaced values ---------------------------------------------------------------------

def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
             device=None):
    """np.linspace: start + i * step, in numpy's own order of operations; start, stop traced."""
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise NotImplementedError(f"numpy.linspace with dtype={np.dtype(dtype).name} rounds the "
                                  "values, which drops the derivative; use a float dtype")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = num - 1 if endpoint else num
    delta = stop - start
    shape = shape_of(delta)
    y = np.reshape(np.arange(num, dtype=float), (-1,) + (1,) * len(shape))
    if div > 0:
        step = delta / div
        y = y / div * delta if np.any(step == 0) else y * step  # numpy's way with tiny steps
    else:
        step, y = np.nan, y * delta
    y = y + start
    if endpoint and num > 1:  # the last value is stop itself, exactly
        y = np.concatenate([y[:-1], np.expand_dims(np.broadcast_to(stop, shape), 0)])
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    return (y, step) if retstep else y


# ---- the lower triangle, as numpy's cholesky and eigh read it --------------------------------
# np.linalg.cholesky(A) and np.linalg.eigh(A) look only at the lower triangle of A: they compute a
# function of the symmetric matrix from_lower(A). Their derivative rules work with symmetric
# matrices, so forward mode feeds them from_lower(dA), and reverse mode hands back
# onto_lower(S), the adjoint of from_lower: derivatives that finite differences on the entries
# of A confirm (upper-triangle entries have derivative 0).

def from_lower(m):
    """The symmetric matrix with the lower triangle of m."""
    return np.tril(m) + np.transpose(np.tril(m, -1))


def onto_lower(s):
    """The adjoint of ``from_lower``: s + s^T below the diagonal, s on it, 0 above."""
    n = shape_of(s)[-1]
    return (s + np.transpose(s)) * np.tril(np.ones((n, n)), -1) + s * np.eye(n)


FUNCTIONS = {
    np.var: var, np.std: std, np.linalg.norm: norm, np.average: average,
    np.prod: prod, np.cumprod: cumprod, np.polyval: polyval,
    np.triu: triu, np.tril: tril, np.diag: diag, np.pad: pad,
    np.split: split, np.array_split: array_split, np.hsplit: hsplit, np.vsplit: vsplit,
    np.dsplit: dsplit, np.flipud: flipud, np.fliplr: fliplr, np.rot90: rot90,
    np.rollaxis: rollaxis, np.atleast_3d: atleast_3d,
    np.select: select, np.nan_to_num: nan_to_num, np.sinc: sinc, np.linspace: linspace,
}
