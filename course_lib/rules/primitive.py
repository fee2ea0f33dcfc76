"""The primitive: a numpy operation with one derivative rule, and how a call reaches a mode.

A primitive has a function on plain values (``impl``) and exactly one derivative rule, of one of
three kinds:

* **linear** (reshape, sum, indexing, concatenation, ...): the operation is its own derivative, so
  a tangent goes through ``impl`` as the value does. It has a *transpose* (``transpose(k, g,
  *args)``: the cotangent of argument ``k`` given the output cotangent ``g``) and a *shape rule*
  (the output shape from the arguments' shapes, for tangents that have a shape but no numbers).
* **multilinear** (matmul, einsum): linear in each argument while the others are held fixed, so
  the tangent is the product rule, a sum of ``impl`` with one argument replaced by its tangent;
  one transpose per argument.
* **nonlinear** (inv, cholesky, max, ...): a ``jvp`` rule, ``jvp(tangents, out, *args)``, that
  writes the output tangent with linear primitives. A tangent of a constant argument is ``None``.

Forward mode applies the rules to tangents. Reverse mode records each operation's linearization
(a linear primitive as it is; a nonlinear one by running its ``jvp`` on tangents that record the
linear steps they go through) and runs the transposes backwards: "linearize, then transpose"
(Elliott 2018, "The simple essence of automatic differentiation"; JAX works this way too).

``bind(prim, *args, **params)`` runs a primitive. On plain values it calls ``impl``; otherwise the
argument with the largest tag (the innermost derivative computation, ``course_lib.nesting``) applies
it through its ``_apply`` method: a ``Dual`` (forward mode), a traced value, or a tangent inside a
``jvp`` rule under reverse mode.
"""
import numpy as np

from ..nesting import shape_of

__all__ = ["Primitive", "bind", "Abstract", "shape_of"]


class Primitive:
    """A numpy operation with one derivative rule (see the module docstring for the three kinds).

    Args:
        name: how the tape and error messages name it.
        impl: ``impl(*args, **params)`` on plain values (or on values of an outer computation).
        jvp: the rule of a nonlinear primitive, ``jvp(tangents, out, *args, **params)``.
        transpose: ``transpose(k, g, *args, **params)``, the cotangent of argument ``k``; the other
            arguments are the values (constants), argument ``k`` only needs its shape.
        shape: ``shape(*args, **params)``, the output shape (arguments may be shapes only).
        linear_in: the argument positions the primitive is linear in (default: all, when it has a
            transpose); a nonlinear primitive may be linear in some (solve, in b).
        multilinear: linear in each argument separately (a product), not jointly.
        dtype: ``dtype(*args, **params)``, the output dtype, for a primitive whose output is
            complex for real arguments or real for complex ones (an FFT, a real part); by
            default the arguments' common dtype.
    """
    __slots__ = ("name", "impl", "jvp", "transpose", "shape", "linear_in", "multilinear", "dtype")

    def __init__(self, name, impl, jvp=None, transpose=None, shape=None, linear_in=None,
                 multilinear=False, dtype=None):
        self.name = name
        self.impl = impl
        self.jvp = jvp
        self.transpose = transpose
        self.shape = shape
        self.linear_in = linear_in
        self.multilinear = multilinear
        self.dtype = dtype

    def __repr__(self):
        return f"Primitive({self.name})"

    def is_linear_in(self, k):
        """True if the primitive is linear in argument ``k`` (with the other arguments fixed)."""
        if self.transpose is None:
            return False
        return self.linear_in is None or k in self.linear_in

    def tangent(self, tangents, out, args, params):
        """The output tangent, from one tangent per argument (``None`` for a constant one)."""
        if self.jvp is not None:
            return self.jvp(tangents, out, *args, **params)
        # a linear primitive is its own derivative: ``bind`` runs it on the tangents (which may
        # be values of another computation, or a stack of tangents)
        if self.multilinear:  # the product rule
            total = None
            for k, t in enumerate(tangents):
                if t is not None:
                    term = bind(self, *args[:k], t, *args[k + 1:], **params)
                    total = term if total is None else total + term
            return total
        return bind(self, *[np.zeros(shape_of(a)) if t is None else t
                            for a, t in zip(args, tangents)], **params)


def bind(prim, *args, **params):
    """Run ``prim`` on ``args``: by ``impl`` on plain values, else by the innermost computation."""
    top, tag = None, 0
    for a in args:
        t = getattr(a, "_tag", 0)
        if t > tag:
            top, tag = a, t
    if top is None:
        return prim.impl(*args, **params)
    return top._apply(prim, args, params)


class Abstract:
    """An array's shape and dtype without its numbers: what a transpose keeps of a linear input
    (the dtype says whether its cotangent is real or complex)."""
    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype=np.dtype(float)):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"Abstract(shape={self.shape})"
