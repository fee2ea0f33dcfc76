"""Which derivative computation an operation belongs to, so that nested derivatives stay apart.

Every call of ``derivative``/``jvp`` (forward mode) or ``grad``/``vjp`` (reverse mode) takes a fresh
tag from one shared counter, and the values it creates (a ``Dual`` or a traced value) carry it.
Calls made inside another call get larger tags. When an operation meets values with different tags,
only the value with the largest tag (the innermost computation) handles it, treating the others as
constants; their own types then handle the arithmetic inside. This is how forward and reverse mode
nest in any order and why ``derivative(lambda x: x * derivative(lambda y: x + y, 1.0), 1.0)`` is 1,
not 2 (perturbation confusion; Siskind and Pearlmutter 2005). Chapter 1 introduces it.
"""
import itertools

_counter = itertools.count(1)


def new_tag():
    """Return a tag larger than every tag handed out before."""
    return next(_counter)


def tag_of(value):
    """Return the tag of a Dual or traced value, or 0 for anything else (a constant)."""
    return getattr(value, "_tag", 0)


def top_tag(values):
    """Return the largest tag among ``values`` (0 if none of them is tagged)."""
    return max((tag_of(v) for v in values), default=0)
