"""Choices made on values: clip, select, nan_to_num, sinc; and linspace."""
import math
import operator

import numpy as np

from ..nesting import plain, shape_of


def clip(a, a_min=None, a_max=None, out=None, **kwargs):
    """np.clip: the entry where it lies strictly inside, else the bound (derivative 0 at a bound).

    At a bound the derivative with respect to ``a`` is 0 and the bound's own is 1, as in HIPS
    autograd; a bound may itself be differentiated.
    """
    if out is not None or kwargs:
        raise NotImplementedError("numpy.clip on derivatives takes a, a_min and a_max only")
    result = a
    if a_min is not None:
        result = np.where(plain(a) > plain(a_min), result, a_min)
    if a_max is not None:
        result = np.where(plain(result) < plain(a_max), result, a_max)
    return result


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


FUNCTIONS = {np.clip: clip, np.select: select, np.nan_to_num: nan_to_num, np.sinc: sinc,
             np.linspace: linspace}
