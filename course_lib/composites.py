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
"""
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
}
