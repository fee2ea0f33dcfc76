"""Derivatives you choose: ``custom_jvp`` (a function with a rule of your own) and
``stop_gradient`` (a value treated as a constant). Both serve both modes (chapter 1).

A ``custom_jvp`` function becomes a primitive: its code computes the value, and your rule computes
the tangent, ``rule(primals, tangents) -> (value, tangent)``. Forward mode applies the rule to
tangents; reverse mode runs it on tangents that record their linear steps, so the rule's tangent
must be linear in the tangents (sums, and products with values). Uses: a straight-through
estimator (a rounding whose derivative is taken to be 1, chapter 4), a numerically stable
derivative for a formula that loses digits, a derivative known in closed form for an iterative
solver.
"""
import functools

import numpy as np

from ..nesting import plain, shape_of
from .primitive import Primitive, bind

__all__ = ["custom_jvp", "stop_gradient"]


class custom_jvp:  # noqa: N801 (used as a decorator, like a function)
    """A function whose derivative is the rule you give, in both modes and at every order.

    Args:
        fun: the function, of one or more arrays (or numbers), written with numpy.

    Then register the rule with the ``defjvp`` decorator::

        @custom_jvp
        def round_ste(x):
            return np.round(x)

        @round_ste.defjvp
        def _(primals, tangents):
            return round_ste(*primals), tangents[0]  # derivative taken to be 1

    The rule gets the arguments and one tangent per argument (zeros for an argument that is a
    constant) and returns the value and the output's tangent.
    """

    def __init__(self, fun):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.rule = None
        self.prim = Primitive(getattr(fun, "__name__", "custom_jvp"), self._impl, jvp=self._jvp)

    def defjvp(self, rule):
        """Register ``rule(primals, tangents) -> (value, tangent)``; return it unchanged."""
        self.rule = rule
        return rule

    def __call__(self, *args):
        if self.rule is None:
            raise TypeError(f"{self.prim.name} has no derivative rule yet: register one with "
                            f"@{self.prim.name}.defjvp")
        return bind(self.prim, *args)

    def _impl(self, *args):
        if any(getattr(a, "_tag", 0) for a in args):
            return bind(self.prim, *args)  # an outer derivative computation: the rule again
        return self.fun(*args)

    def _jvp(self, tangents, out, *args):
        tangents = tuple(np.zeros(shape_of(a)) if t is None else t
                         for a, t in zip(args, tangents))
        return self.rule(args, tangents)[1]


def stop_gradient(x):
    """Return the value of ``x`` as a constant: every derivative through it is 0 (chapter 1).

    Args:
        x: a number, an array, a ``Dual`` or a traced value (of any depth of nesting).

    Returns:
        the plain value inside.
    """
    return plain(x)
