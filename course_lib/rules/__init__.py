"""Derivative rules, each written once and read by both modes (chapter 1 introduces them).

Forward mode (``course_lib.dual``) and reverse mode (``course_lib.tape``) differentiate numpy code
through the same rules, one module per family:

* ``elementwise``: each ufunc's partial derivatives, one line each, and ``defjvp``;
* ``primitive``: what a rule is (linear, multilinear or nonlinear) and ``bind``, which hands an
  operation to the innermost derivative computation;
* ``structural``: reshape, transpose, broadcast, sum, indexing, concatenation, where, cumsum;
* ``products``: matmul and einsum (with its subscripts parser);
* ``extrema``: max and min;
* ``linalg``: inv, solve, det, slogdet, cholesky, eigh, svd;
* ``complexes``: real and imaginary parts, conjugate and modulus of complex intermediates;
* ``fft``: numpy.fft's transforms, each linear with one transpose.

``FUNCTIONS`` maps each numpy function to the code both modes run for it: a primitive's handler,
a composition of primitives (``course_lib.composites``), or a function of the values alone (argmax,
shape, comparisons), whose result is a plain constant.
"""
import numpy as np

from .. import composites
from ..nesting import plain
from . import complexes, extrema, fft, linalg, products, structural
from .primitive import shape_of

__all__ = ["FUNCTIONS", "handler_for", "no_rule"]


def handler_for(func):
    """The code every mode runs for the numpy function ``func``, or the error saying it has none."""
    handler = FUNCTIONS.get(func)
    if handler is None:
        raise no_rule(f"{func.__module__}.{func.__name__}")
    return handler


def no_rule(name):
    """The error for a numpy function or ufunc without a derivative rule, the same in every mode."""
    return NotImplementedError(
        f"{name} has no derivative rule; write the computation with numpy functions that have one "
        "(course_lib.rules lists them), or give it one: defjvp for a ufunc, custom_jvp for a "
        "function (chapter 1)")


def _on_values(func):
    """A function whose result has no derivative (positions, comparisons): run on plain values."""
    def handler(*args, **kwargs):
        return func(*[plain(a) for a in args], **kwargs)
    return handler


def _like(fill):
    def handler(a, dtype=None, **kwargs):
        return np.full(shape_of(a), fill, dtype=dtype or float)
    return handler


FUNCTIONS = {}
for _module in (structural, products, extrema, linalg, complexes, fft):
    FUNCTIONS.update(_module.FUNCTIONS)
FUNCTIONS.update(composites.FUNCTIONS)
FUNCTIONS.update({
    np.shape: shape_of,
    np.ndim: lambda a: len(shape_of(a)),
    np.size: lambda a, axis=None: int(np.prod(shape_of(a), dtype=int)) if axis is None
    else shape_of(a)[axis],
    np.zeros_like: _like(0.0),
    np.ones_like: _like(1.0),
    np.full_like: lambda a, fill_value, dtype=None, **kwargs: np.full(
        shape_of(a), plain(fill_value), dtype=dtype or float),
    np.copy: lambda a, **kwargs: a,  # values here are never changed in place
    np.round: lambda a, decimals=0, out=None: np.round(plain(a), decimals),  # piecewise constant
})
for _f in (np.argmax, np.argmin, np.argsort, np.isclose, np.allclose, np.array_equal):
    FUNCTIONS[_f] = _on_values(_f)
