"""Rules for np.max and np.min: the derivative goes to the entries equal to the extremum.

Where several entries tie for the maximum, each gets an equal share of the derivative (the same
convention as HIPS autograd, and the average of the one-sided derivatives for two entries). The
rule is a JVP: the tangent of the maximum is the mean of the tangents of the tied entries, a sum
with a fixed mask, so reverse mode transposes it like any linear map.
"""
import numpy as np

from ..nesting import plain
from .primitive import Primitive, bind, shape_of
from .structural import _axes, _refuse

__all__ = ["FUNCTIONS"]


def _extremum_jvp(ts, out, x, axis, keepdims, func):
    kept = out if keepdims else np.reshape(plain(out), _kept_shape(shape_of(x), axis))
    ties = plain(x) == plain(kept)
    share = ties / np.sum(ties, axis=axis, keepdims=True)
    return np.sum(ts[0] * share, axis=axis, keepdims=keepdims)


def _kept_shape(shape, axis):
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _extremum(x, axis, keepdims, func):
    return func(x, axis=axis, keepdims=keepdims)


MAX = Primitive("max", _extremum, jvp=_extremum_jvp)
MIN = Primitive("min", _extremum, jvp=_extremum_jvp)


def _reduction(func):
    def handler(a, axis=None, out=None, keepdims=False, **kwargs):
        _refuse(func.__name__, out, **kwargs)
        axis = None if axis is None else _axes(axis, len(shape_of(a)))
        return bind(MAX if func is np.max else MIN, a, axis=axis, keepdims=keepdims, func=func)
    return handler


FUNCTIONS = {np.max: _reduction(np.max), np.amax: _reduction(np.max),
             np.min: _reduction(np.min), np.amin: _reduction(np.min)}
