"""numpy functions written as compositions of other numpy operations, shared by both modes.

Each function here calls only operations that have a derivative rule (``course_lib.rules``):
products, slices, concatenation, sums. Run on a ``Dual`` or a traced value it is therefore
differentiated through those rules, to any order, with no rule of its own to get wrong, so a
learner's ``np.prod(x)`` or ``np.triu(m)`` just works under ``jvp``, ``grad``, ``hessian`` and
``hvp``. The functions also run on plain arrays (and then equal numpy's own, as the tests check).
One module per topic: ``shapes`` (axes, joining, slicing, triangles), ``reductions`` (means,
variances, norms, products), ``products`` (dot, tensordot, kron, cross, polyval) and ``choices``
(clip, select, nan_to_num, sinc, linspace).

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
from ..nesting import shape_of
from . import choices, products, reductions, shapes
from .choices import clip, linspace, nan_to_num, select, sinc
from .reductions import cumprod, prod
from .shapes import along, atleast_3d, dsplit, fliplr, flipud, from_lower, rollaxis, rot90

__all__ = ["FUNCTIONS", "along", "from_lower", "shape_of", "clip", "linspace", "nan_to_num",
           "select", "sinc", "cumprod", "prod", "atleast_3d", "dsplit", "fliplr", "flipud",
           "rollaxis", "rot90"]

FUNCTIONS = {}
for _module in (shapes, reductions, products, choices):
    FUNCTIONS.update(_module.FUNCTIONS)
