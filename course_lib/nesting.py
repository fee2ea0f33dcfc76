"""Which derivative computation an operation belongs to, so that nested derivatives stay apart.

Every call of ``derivative``/``jvp`` (forward mode) or ``grad``/``vjp`` (reverse mode) takes a fresh
tag from one shared counter, and the values it creates (a ``Dual`` or a traced value) carry it.
Calls made inside another call get larger tags. When an operation meets values with different tags,
only the value with the largest tag (the innermost computation) handles it, treating the others as
constants; their own types then handle the arithmetic inside. This is how forward and reverse mode
nest in any order and why ``derivative(lambda x: x * derivative(lambda y: x + y, 1.0), 1.0)`` is 1,
not 2 (perturbation confusion; Siskind and Pearlmutter 2005). Chapter 1 introduces it. Both kinds
of value also share their numpy-style methods (``ArrayMethods``).
"""
import itertools

import numpy as np

_counter = itertools.count(1)

# Both modes refuse complex numbers with this reason, rather than return a wrong derivative.
COMPLEX_REFUSED = ("complex numbers are outside this course's differentiation (its derivatives are "
                   "of real functions of real numbers; complex values inside such a function, as "
                   "in an FFT, are fine); split a complex value into its real and imaginary parts, "
                   "two real arrays, and differentiate with respect to those")


class UfuncOperators:
    """Python's arithmetic operators as numpy's ufuncs, which the value's ``__array_ufunc__``
    handles (for the kinds of value whose operators need no fast path of their own)."""
    __slots__ = ()

    def __add__(self, other):
        return np.add(self, other)

    def __radd__(self, other):
        return np.add(other, self)

    def __sub__(self, other):
        return np.subtract(self, other)

    def __rsub__(self, other):
        return np.subtract(other, self)

    def __mul__(self, other):
        return np.multiply(self, other)

    def __rmul__(self, other):
        return np.multiply(other, self)

    def __truediv__(self, other):
        return np.true_divide(self, other)

    def __rtruediv__(self, other):
        return np.true_divide(other, self)

    def __neg__(self):
        return np.negative(self)

    def __matmul__(self, other):
        return np.matmul(self, other)

    def __rmatmul__(self, other):
        return np.matmul(other, self)


NUMBERS = frozenset({float, int, np.float64})  # the classes of plain scalars
_FLOAT, _COMPLEX = np.dtype(float), np.dtype(complex)


def dtype_of(x):
    """Return the dtype of an array, number, ``Dual`` or traced value (float for a real number)."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None:
        return dtype
    return _COMPLEX if isinstance(x, complex) else _FLOAT


def is_complex(x):
    """Return True if ``x`` holds complex numbers (an intermediate value; never an input)."""
    return dtype_of(x).kind == "c"


def new_tag():
    """Return a tag larger than every tag handed out before."""
    return next(_counter)


def tag_of(value):
    """Return the tag of a Dual or traced value, or 0 for anything else (a constant)."""
    return getattr(value, "_tag", 0)


def shape_of(x):
    """Return the shape of an array, number, ``Dual`` or traced value, without converting it."""
    return tuple(getattr(x, "shape", ()))


def is_plain(value):
    """Return True for a value that belongs to no derivative computation (a constant)."""
    return not getattr(value, "_tag", 0)


def plain(value):
    """Return the plain value inside every layer of Duals and traced values (for masks, indices
    and branches, which are never differentiated)."""
    while getattr(value, "_tag", 0):
        value = value.primal
    return value


def flat_args(args):
    """Return the arguments of a numpy function with sequences (as in np.concatenate) opened one
    level: where traced values hide."""
    out = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(a)
        else:
            out.append(a)
    return out


def top_tag(values):
    """Return the largest tag among ``values`` (0 if none of them is tagged)."""
    top = 0
    for v in values:  # a plain loop: this runs for every operation on a tagged value
        tag = getattr(v, "_tag", 0)
        if tag > top:
            top = tag
    return top


class ArrayMethods:
    """numpy's array methods for a tagged value (``x.sum()``, ``x.T``, ``x.ndim``, ...), written
    once for Dual, the tape's traced value, a tangent under reverse mode and a batch: each forwards
    to the numpy function, which the value's own ``__array_function__`` then handles, so a method
    and its function can never disagree."""
    __slots__ = ()  # adds no per-value storage to the classes that use it

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=int))

    @property
    def T(self):
        return np.transpose(self)

    @property
    def real(self):
        return np.real(self)

    @property
    def imag(self):
        return np.imag(self)

    def conj(self):
        return np.conj(self)

    conjugate = conj

    def transpose(self, *axes):
        return np.transpose(self, axes if axes else None)

    def reshape(self, *shape):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape)

    def ravel(self):
        return np.ravel(self)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis=axis)

    def sum(self, axis=None, keepdims=False):
        return np.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return np.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return np.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return np.min(self, axis=axis, keepdims=keepdims)

    def dot(self, other):
        return np.dot(self, other)

    def prod(self, axis=None, keepdims=False):
        return np.prod(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return np.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return np.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis=None):
        return np.cumsum(self, axis=axis)

    def cumprod(self, axis=None):
        return np.cumprod(self, axis=axis)

    def flatten(self):
        return np.ravel(self)  # a copy in numpy; these values are never changed in place anyway

    def copy(self):
        return np.copy(self)

    def astype(self, dtype):
        if np.dtype(dtype).kind != "f":
            raise TypeError(f"astype({np.dtype(dtype).name}) would drop the derivative; round "
                            "with np.round, or read the value itself for a plain array")
        return self
