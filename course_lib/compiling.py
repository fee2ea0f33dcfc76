"""Source transformation: a program written out as Python/numpy code, compiled once per shape.

Chapter 7 introduces it. ``to_source(program)`` prints a program (``course_lib.staging``) as the
text of a Python function, one assignment per equation: arithmetic as Python's operators (which
compute what the tape computes, and fast on floats), other ufuncs as numpy's, each primitive of
``course_lib.rules`` by its name, bound to its ``impl``. ``compile_program`` runs that text through
``exec`` and returns the function: no tracing, no dispatch, no tape when it runs.

``jit(f)`` and ``compiled_grad(f)`` are decorators that trace at the first call for each list of
input shapes and dtypes, simplify (``dce``, ``cse``), compile, and cache the result under that
key: a later call with the same shapes and dtypes runs the compiled code directly. Like every
traced program, the compiled code is valid for any input of those shapes only if ``f`` does not
branch on its inputs' numbers (``staging.DataDependentBranch`` says so at tracing time).
"""
import math
import re

import numpy as np

from .reverse import _flatten
from .rules.primitive import Primitive
from .rules.structural import GETITEM
from .staging import Var, cse, dce, grad_program, make_program, op_name

__all__ = ["to_source", "compile_program", "jit", "compiled_grad", "Compiled"]

_INFIX = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/", np.power: "**",
          np.remainder: "%"}


def to_source(program, name="f"):
    """Write the program as the source text of a Python function ``name`` (chapter 7).

    Variables are named as in the program's listing, ``v-1`` written ``vm1``. Returns:
    ``(source, namespace)``: the text, and the values its names stand for (``np``, the
    primitives' implementations and the constants too large or too unusual to write out).
    """
    names = {v: n.replace("-", "m") for v, n in program.names().items()}
    namespace = {"np": np}

    def constant(x):
        key = f"c{len(namespace)}"
        namespace[key] = x
        return key

    def lit(x):
        if type(x) is Var:
            return names[x]
        if x is None or x is Ellipsis or isinstance(x, (bool, int, str)):
            return repr(x)
        if x.__class__ is float:
            return repr(x) if math.isfinite(x) else constant(x)
        if isinstance(x, tuple):
            return "(" + ", ".join(lit(a) for a in x) + ("," if len(x) == 1 else "") + ")"
        if isinstance(x, list):
            return "[" + ", ".join(lit(a) for a in x) + "]"
        if isinstance(x, slice):
            return f"slice({lit(x.start)}, {lit(x.stop)}, {lit(x.step)})"
        return constant(x)

    def part(s):
        if not isinstance(s, slice):
            return lit(s)
        text = ":".join("" if p is None else lit(p) for p in (s.start, s.stop))
        return text if s.step is None else f"{text}:{lit(s.step)}"

    def index(i):
        if not isinstance(i, tuple):
            return part(i)
        return ", ".join(part(s) for s in i) + ("," if len(i) == 1 else "")

    def function(op):
        if isinstance(op, Primitive):
            key = "p_" + re.sub(r"\W", "_", op.name)
            namespace[key] = op.impl
            return key
        if getattr(np, op.__name__, None) is op:
            return f"np.{op.__name__}"
        return constant(op)

    lines = [f"def {name}({', '.join(names[v] for v in program.inputs)}):"]
    for e in program.eqns:
        args = [lit(a) for a in e.args]
        if e.op in _INFIX and len(args) == 2:
            expr = f"{args[0]} {_INFIX[e.op]} {args[1]}"
        elif e.op is np.negative:
            expr = f"-{args[0]}"
        elif e.op is GETITEM:
            expr = f"{args[0]}[{index(e.params['index'])}]"
        else:
            params = [f"{k}={lit(v)}" for k, v in e.params.items()]
            expr = f"{function(e.op)}({', '.join(args + params)})"
        lines.append(f"    {names[e.out]} = {expr}  # {op_name(e.op)}"
                     if isinstance(e.op, Primitive) else f"    {names[e.out]} = {expr}")
    outs = ", ".join(lit(o) for o in program.outputs)
    lines.append(f"    return {outs}{',' if len(program.outputs) == 1 else ''}")
    return "\n".join(lines) + "\n", namespace


def compile_program(program, name="f"):
    """Compile the program into a Python function (``exec`` of ``to_source``; returns a tuple)."""
    source, namespace = to_source(program, name)
    exec(compile(source, f"<staged {name}>", "exec"), namespace)  # our own text, nothing else
    fn = namespace[name]
    fn.source = source
    return fn


class Compiled:
    """A function compiled once per list of input shapes and dtypes (see ``jit``).

    Attributes: ``cache``, a dict from the key ``((shape, dtype), ...)`` to the entry for it,
    which holds the ``program`` and the compiled ``function`` (its text is ``function.source``).
    ``traces`` counts how many times ``f`` was traced.
    """

    def __init__(self, f, build):
        self.f, self._build, self.cache, self.traces = f, build, {}, 0
        self.__doc__ = getattr(f, "__doc__", None)

    def entry(self, *args):
        """Return the cached program and compiled function for these arguments' shapes, dtypes."""
        leaves, counts = [], []
        for a in args:
            parts, _ = _flatten(a)
            leaves.extend(parts)
            counts.append(len(parts))
        key = (tuple(counts),) + tuple((np.shape(x), np.asarray(x).dtype.str) for x in leaves)
        hit = self.cache.get(key)
        if hit is None:
            self.traces += 1
            program = self._build(self.f, args, counts, leaves)
            hit = self.cache[key] = _Entry(program, compile_program(program, "staged"))
        return hit, leaves

    def source(self, *args):
        """Return the compiled code's text for arguments like these."""
        return self.entry(*args)[0].function.source

    def program(self, *args):
        """Return the simplified program compiled for arguments like these."""
        return self.entry(*args)[0].program


class _Entry:
    __slots__ = ("program", "function")

    def __init__(self, program, function):
        self.program, self.function = program, function


def _flat(f, args, counts):
    """``f`` as a function of the leaves of its arguments, returning a flat tuple of leaves."""
    rebuild = [_flatten(a)[1] for a in args]

    def flat(*leaves):
        parts, k = [], 0
        for n, un in zip(counts, rebuild):
            parts.append(un(list(leaves[k:k + n])))
            k += n
        out = f(*parts)
        return tuple(_flatten(out)[0])
    return flat


def _like(g, x):
    """A gradient in its input's float type (float32 stays float32), as the tape returns it."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind != "f" or getattr(g, "dtype", dtype) == dtype:
        return g
    return np.asarray(g, dtype=dtype)


def jit(f):
    """Compile ``f`` per input shapes and dtypes: trace, simplify, emit, ``exec`` (chapter 7).

    Args: ``f``, numpy code of arrays (or trees of arrays) returning an array or a tuple of them;
    it may itself be a derivative, e.g. ``jit(grad(f))`` stages the tape's backward pass.
    Returns: a ``Compiled`` callable; its results are those of ``f`` (a tuple for several).
    """
    def build(f, args, counts, leaves):
        return cse(dce(make_program(_flat(f, args, counts), *leaves)))

    compiled = Compiled(f, build)

    def call(*args):
        hit, leaves = compiled.entry(*args)
        out = hit.function(*leaves)
        return out[0] if len(out) == 1 else out
    call.compiled = compiled
    call.source, call.program, call.cache = compiled.source, compiled.program, compiled.cache
    return call


def compiled_grad(f, argnums=0, with_value=False):
    """Differentiate scalar ``f`` by program transformation, compiled per shapes (chapter 7).

    Traces ``f``, builds its gradient program (linearize, then transpose; ``dce``, ``cse``),
    emits it as Python source and caches the compiled function by the arguments' shapes and
    dtypes. Args: ``f``; ``argnums``, the argument (an array or a tree of arrays) to
    differentiate. Returns: a function returning the gradient with that argument's structure
    (and ``(value, gradient)`` with ``with_value``).
    """
    def build(f, args, counts, leaves):
        start = sum(counts[:argnums])
        program = make_program(_flat(f, args, counts), *leaves)
        return grad_program(program, range(start, start + counts[argnums]), with_value)

    compiled = Compiled(f, build)

    def call(*args):
        hit, leaves = compiled.entry(*args)
        out = hit.function(*leaves)
        wrt, unflatten = _flatten(args[argnums])
        grads = unflatten([_like(g, x) for g, x in zip(out[1:] if with_value else out, wrt)])
        return (out[0], grads) if with_value else grads
    call.compiled = compiled
    call.source, call.program, call.cache = compiled.source, compiled.program, compiled.cache
    return call
