"""Reductions as compositions: mean, var, std, norm, average, prod, cumprod."""
import numpy as np

from ..nesting import is_complex, plain, shape_of
from .shapes import along


def _count(shape, axis):
    """How many entries a reduction over ``axis`` combines into each result."""
    if axis is None:
        return int(np.prod(shape, dtype=int))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return int(np.prod([shape[a] for a in axes], dtype=int))


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    """np.mean: the sum divided by the count."""
    if isinstance(axis, list):
        axis = tuple(axis)
    return np.sum(a, axis=axis, keepdims=keepdims) / _count(shape_of(a), axis)


# ---- statistics and norms ---------------------------------------------------------------------

def _modulus_squared(x):
    """|x|^2 entry by entry: x * x, or Re(x conj(x)) for a complex intermediate."""
    return np.real(x * np.conj(x)) if is_complex(x) else x * x


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """np.var: the mean squared deviation, divided by (count - ddof)."""
    if isinstance(axis, list):
        axis = tuple(axis)
    centred = a - np.mean(a, axis=axis, keepdims=True)
    total = np.sum(_modulus_squared(centred), axis=axis, keepdims=keepdims)
    return total / (_count(shape_of(a), axis) - ddof)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """np.std: the square root of ``var``; its derivative is 0 where all entries are equal.

    That is autograd's convention (where the square root's derivative is infinite and the
    variance's is 0). A "double where": the root is taken of a safe value there, so neither
    branch gives inf or nan.
    """
    v = var(a, axis=axis, ddof=ddof, keepdims=keepdims)
    zero = plain(v) == 0
    return np.where(zero, 0.0, np.sqrt(np.where(zero, 1.0, v)))


def norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm: vector p-norms (2, 1, inf, -inf, any p > 0) and the matrix norms (Frobenius,
    1, inf, -1, -inf from sums, absolute values and extrema; 2, -2 and 'nuc' from the singular
    values)."""
    nd = len(shape_of(x))
    if axis is None and ord is None:
        return np.sqrt(np.sum(_modulus_squared(x), axis=None, keepdims=keepdims))
    if axis is None:
        axis = tuple(range(nd))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    if len(axes) == 2:
        return _matrix_norm(x, ord, tuple(a % nd for a in axes), keepdims)
    if ord is None or ord == 2:
        return np.sqrt(np.sum(_modulus_squared(x), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)) and ord > 0:
        return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)
    raise NotImplementedError(f"numpy.linalg.norm with ord={ord!r} has no derivative rule here")


def _matrix_norm(x, ord, axes, keepdims):
    rows, cols = axes
    if ord in (None, "fro"):
        result = np.sqrt(np.sum(_modulus_squared(x), axis=axes, keepdims=True))
    elif ord in (2, -2, "nuc"):
        s = np.linalg.svd(np.moveaxis(x, axes, (-2, -1)), compute_uv=False)
        result = np.sum(s) if ord == "nuc" else (np.max(s) if ord == 2 else np.min(s))
        result = np.reshape(result, tuple(1 for _ in shape_of(x)))
    elif ord in (1, -1, np.inf, -np.inf):
        summed, other = (rows, cols) if ord in (1, -1) else (cols, rows)  # columns or rows
        sums = np.sum(np.abs(x), axis=summed, keepdims=True)
        result = (np.max if ord > 0 else np.min)(sums, axis=other, keepdims=True)
    else:
        raise NotImplementedError(f"numpy.linalg.norm of a matrix with ord={ord!r} has no "
                                  "derivative rule here")
    return result if keepdims else np.squeeze(result, axis=axes)


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


FUNCTIONS = {np.mean: mean, np.var: var, np.std: std, np.linalg.norm: norm, np.average: average,
             np.prod: prod, np.cumprod: cumprod}
