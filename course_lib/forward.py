"""Forward mode's transformations: ``jvp``, ``derivative`` and ``jacfwd`` (chapter 1).

Each seeds the inputs of one call of ``f`` with tangents, as ``Dual`` numbers of a fresh tag
(``course_lib.dual``), and reads the value and its tangent off the result: the forward
counterpart of ``course_lib.reverse``. ``jacfwd`` seeds all the basis directions at once, as one
stack of tangents (``course_lib.batching``). Inputs must be real, and so must the result: a
complex value inside ``f`` is fine, a complex input or output is refused with the reason.
"""
import numbers

import numpy as np

from . import batching
from .dual import Dual, _check_part, _make, _shape
from .nesting import COMPLEX_REFUSED, is_complex, new_tag

__all__ = ["jvp", "jvp_many", "derivative", "jacfwd"]


def _check_input(x, name="x"):
    try:
        return _check_part(x, name)
    except TypeError:
        why = (f"; {COMPLEX_REFUSED}" if np.iscomplexobj(x) else "")
        raise TypeError(f"{name} must be a real number or a numpy array of real numbers (or a "
                        f"Dual/traced value when nesting); got {type(x).__name__} {x!r:.60}{why}"
                        ) from None


def _split(out, tag, fname="f"):
    """Read (value, tangent) off a function's result for the computation ``tag``."""
    if type(out) is Dual and out._tag == tag:
        if is_complex(out.primal):
            raise TypeError(f"{fname} returned a complex value: {COMPLEX_REFUSED}")
        return out.primal, out.tangent
    if isinstance(out, (tuple, list)):
        parts = [_split(o, tag, fname) for o in out]
        return tuple(p for p, _ in parts), tuple(t for _, t in parts)
    if isinstance(out, (np.ndarray, np.generic)) and out.dtype.kind not in "biuf":
        raise TypeError(f"{fname} returned an array of dtype {out.dtype}; differentiation needs "
                        "a function returning real numbers or arrays of them")
    if isinstance(out, numbers.Real) or isinstance(out, np.ndarray) or (
            hasattr(out, "__array_ufunc__") and not isinstance(out, (str, bytes))):
        # does not depend on the input of this call: its tangent is zero
        return out, np.zeros(_shape(out))
    raise TypeError(f"{fname} returned {type(out).__name__} {out!r:.60}; differentiation needs "
                    "a function returning real numbers or numpy arrays of them")


def jvp(f, x, v):
    """Evaluate ``f`` at ``x`` and its directional derivative along ``v`` (chapter 1).

    Args:
        f: a function of one array (or number), written with numpy.
        x: where to differentiate: a number or an array of shape S.
        v: the direction, the same shape S as ``x``.

    Returns:
        ``(f(x), J(x) v)``: the value and the Jacobian-vector product, of the shape of ``f(x)``
        (tuples of them if ``f`` returns a tuple or list of arrays).
    """
    return jvp_many(f, [x], [v])


def jvp_many(f, xs, vs):
    """``jvp`` for a function of several arrays: ``f(*xs)`` and its derivative along ``vs``.

    All inputs move at once (input ``i`` along ``vs[i]``), in one forward pass; the result is
    the sum of the partial derivatives times their directions. ``course_lib.tape.hvp`` uses it for
    parameters held in lists or dicts. Returns ``(f(*xs), tangent)`` as ``jvp`` does.
    """
    if len(xs) != len(vs):
        raise ValueError(f"jvp: give one direction per input; got {len(xs)} inputs and "
                         f"{len(vs)} directions")
    xs = [_check_input(x, "x") for x in xs]
    vs = [_check_input(v, "v") for v in vs]
    for x, v in zip(xs, vs):
        if _shape(v) != _shape(x):
            raise ValueError(f"jvp: the direction v must have the shape of x, {_shape(x)}; got "
                             f"{_shape(v)}")
    tag = new_tag()
    return _split(f(*[_make(x, v, tag) for x, v in zip(xs, vs)]), tag,
                  getattr(f, "__name__", "f"))


def derivative(f, x):
    """Return f'(x) for a function of one scalar, by one forward pass with a dual (chapter 1).

    Args:
        f: a function of a scalar; its output may be a scalar or an array.
        x: a real number (or a Dual/traced scalar when nesting).

    Returns:
        df/dx at ``x``, of the shape of ``f(x)``.
    """
    x = _check_input(x, "x")
    if _shape(x) != ():
        raise ValueError(f"derivative takes a scalar x; got shape {_shape(x)}. Use jvp(f, x, v) "
                         "for a directional derivative or jacfwd(f)(x) for the Jacobian")
    return jvp(f, x, 1.0)[1]


def jacfwd(f):
    """Return a function computing the Jacobian of ``f`` by forward mode (chapter 1).

    One forward pass carries all the basis directions at once, as a stack of tangents
    (``course_lib.batching``): the work is that of one ``jvp`` per input entry, without the
    interpreter's cost of one pass per entry.

    Args:
        f: a function from an array of shape S to an array of shape T.

    Returns:
        ``jac(x)``: the Jacobian at ``x``, of shape T + S (``jac[i, j] = d f_i / d x_j``).
    """
    def jac(x):
        x = _check_input(x, "x")
        shape = _shape(x)
        n = int(np.prod(shape, dtype=int))
        tag = new_tag()
        basis = batching.stack_of(np.reshape(np.eye(n), (n,) + shape))  # tagged after the dual
        _, tangent = _split(f(_make(x, basis, tag)), tag, getattr(f, "__name__", "f"))
        out_shape = _shape(tangent)
        stacked = batching.unstack(tangent, basis._tag)
        if stacked is None:  # the output does not depend on x
            return np.zeros(out_shape + shape)
        return np.reshape(np.moveaxis(stacked, 0, -1), out_shape + shape)
    jac.__name__ = f"jacfwd({getattr(f, '__name__', 'f')})"
    jac.__doc__ = f"Jacobian of {getattr(f, '__name__', 'f')} by forward mode."
    return jac
