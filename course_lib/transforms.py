"""Transformations of programs: each takes a ``Program`` and returns a new one (chapter 7).

None of them has a derivative rule of its own. Each *evaluates* the program on the values of one
mode of ``course_lib`` while staging that evaluation (``course_lib.staging.make_program``):

* ``jvp``: the program evaluated on ``Dual`` numbers (forward mode, the rules' JVPs);
* ``linearize``: the JVP program split in two (partial evaluation): what depends on the inputs
  only (the primal program, which also returns the *residuals* the tangents need) and what
  depends on the tangents (the linear program);
* ``transpose``: the linear program run under the tape (``course_lib.reverse.vjp``), whose
  backward pass runs the transpose of each linear step on staged cotangents;
* ``vjp_program``/``grad_program``: reverse mode as linearize, then transpose;
* ``vmap``: the program evaluated on ``Batched`` stacks (``course_lib.batching``), one pass for
  many inputs;
* ``dce`` (dead-code elimination) and ``cse`` (common-subexpression elimination).
"""
import numpy as np

from .batching import Batched
from .dual import Dual
from .nesting import new_tag, shape_of
from .reverse import vjp as tape_vjp
from .staging import Eqn, Program, Var, _examples, _map, _tangent_example, make_program

__all__ = ["jvp", "linearize", "transpose", "vjp_program", "grad_program", "vmap", "dce", "cse"]


# ---- transformations ------------------------------------------------------------------------

def jvp(program, wrt=None):
    """Return the forward-mode program: inputs ``(*x, *t)``, outputs ``(*y, *y_dot)`` (chapter 7).

    Evaluates ``program`` on ``Dual`` numbers whose parts are staged, so every tangent line comes
    from a rule of ``course_lib.rules``. ``wrt`` lists the inputs that get a tangent (default all).
    """
    n = len(program.inputs)
    wrt = list(range(n)) if wrt is None else list(wrt)

    def pushed(*args):
        tag = new_tag()
        xs = list(args[:n])
        for k, t in zip(wrt, args[n:]):
            xs[k] = Dual(xs[k], t, tag=tag)
        outs = program.evaluate(xs)
        mine = [o.__class__ is Dual and o._tag == tag for o in outs]
        return tuple([o.primal if m else o for o, m in zip(outs, mine)]
                     + [o.tangent if m else np.zeros(shape_of(o)) for o, m in zip(outs, mine)])
    return make_program(pushed, *_examples(program.inputs),
                        *[_tangent_example(program.inputs[k]) for k in wrt])


def linearize(program, wrt=None):
    """Split the JVP program into a primal program and a linear one (chapter 7).

    Returns:
        ``(primal, linear)``: ``primal`` maps ``x`` to ``(*y, *residuals)``, the values the
        tangents need; ``linear`` maps ``(*residuals, *t)`` to the output tangents, and is linear
        in ``t``. ``len(primal.outputs) - len(program.outputs)`` is the number of residuals.
    """
    n, m = len(program.inputs), len(program.outputs)
    pushed = jvp(program, wrt)
    unknown = set(pushed.inputs[n:])  # what depends on the tangents
    known_eqns, linear_eqns = [], []
    for e in pushed.eqns:
        if any(v in unknown for v in e.inputs()):
            linear_eqns.append(e)
            unknown.add(e.out)
        else:
            known_eqns.append(e)
    residuals = {}  # a dict keeps the order of first use
    for v in [v for e in linear_eqns for v in e.inputs()] + pushed.outputs[m:]:
        if type(v) is Var and v not in unknown:
            residuals[v] = None
    residuals = list(residuals)
    primal = dce(Program(pushed.inputs[:n], known_eqns, pushed.outputs[:m] + residuals))
    linear = Program(residuals + pushed.inputs[n:], linear_eqns, pushed.outputs[m:])
    return primal, dce(linear)


def transpose(linear, n_residuals):
    """Return the transpose of a linear program: inputs ``(*residuals, *y_bar)``, outputs ``x_bar``.

    Runs ``linear`` under the tape and stages its backward pass: each linear step's one transpose
    (``course_lib.tape``, ``course_lib.linearize``) is applied to staged cotangents. The forward
    run on zeros is dead code, removed. Chapter 7 introduces it.
    """
    ins = linear.inputs[n_residuals:]

    def pulled(*args):
        res, cts = list(args[:n_residuals]), args[n_residuals:]

        def forward(*ts):
            outs = linear.evaluate(res + list(ts))
            return outs[0] if len(outs) == 1 else tuple(outs)
        _, pullback = tape_vjp(forward, *[np.zeros(v.shape, v.dtype) for v in ins])
        out = pullback(cts[0] if len(cts) == 1 else tuple(cts))
        return out if isinstance(out, tuple) else (out,)
    cts = [_tangent_example(o) if type(o) is Var else np.ones(shape_of(o))
           for o in linear.outputs]
    return dce(make_program(pulled, *_examples(linear.inputs[:n_residuals]), *cts))


def vjp_program(program, wrt=None):
    """Return the reverse-mode program, linearize then transpose: inputs ``(*x, *y_bar)``,
    outputs ``(*y, *x_bar)``, simplified by ``dce`` and ``cse`` (chapter 7)."""
    primal, back = _reverse_parts(program, wrt)
    n, m = len(program.inputs), len(program.outputs)

    def composed(*args):
        outs = primal.evaluate(args[:n])
        return tuple(outs[:m] + back.evaluate(outs[m:] + list(args[n:])))
    cts = [_tangent_example(o) if type(o) is Var else np.ones(shape_of(o))
           for o in program.outputs]
    return cse(dce(make_program(composed, *_examples(program.inputs), *cts)))


def grad_program(program, wrt=None, with_value=False):
    """Return the gradient program of a scalar-output program: inputs ``x``, outputs the gradients
    with respect to the inputs in ``wrt`` (default all), after the value if ``with_value``."""
    if len(program.outputs) != 1 or shape_of(_examples(program.outputs)[0]) != ():
        raise TypeError("grad_program needs a program with one scalar output; use vjp_program")
    primal, back = _reverse_parts(program, wrt)

    def composed(*args):
        outs = primal.evaluate(list(args))
        grads = back.evaluate(outs[1:] + [1.0])
        return tuple(outs[:1] + grads) if with_value else tuple(grads)
    return cse(dce(make_program(composed, *_examples(program.inputs))))


def vmap(program, size, batched=None):
    """Return the batched program: one pass for ``size`` inputs at once (chapter 7).

    The inputs listed in ``batched`` (default all) get a leading axis of length ``size``; the
    others are shared. Each line acts on the whole stack by the batching rules of
    ``course_lib.batching``; every output gets the leading axis.
    """
    batched = set(range(len(program.inputs)) if batched is None else batched)

    def mapped(*args):
        tag = new_tag()
        outs = program.evaluate([Batched(a, tag) if k in batched else a
                                 for k, a in enumerate(args)])
        return tuple(o.value if o.__class__ is Batched and o._tag == tag
                     else np.broadcast_to(o, (size,) + shape_of(o)) for o in outs)
    examples = [np.broadcast_to(v.example, (size,) + v.shape).copy() if k in batched
                else v.example for k, v in enumerate(program.inputs)]
    return make_program(mapped, *examples)


def _reverse_parts(program, wrt):
    primal, linear = linearize(program, wrt)
    return primal, transpose(linear, len(primal.outputs) - len(program.outputs))


# ---- simplification -------------------------------------------------------------------------

def dce(program):
    """Return the program without the equations no output depends on (dead-code elimination)."""
    live = {o for o in program.outputs if type(o) is Var}
    kept = []
    for e in reversed(program.eqns):
        if e.out in live:
            kept.append(e)
            live.update(e.inputs())
    return Program(program.inputs, kept[::-1], program.outputs)


def cse(program):
    """Return the program with each repeated computation done once (common-subexpression
    elimination): an equation with the same operation, inputs and parameters as an earlier one
    reuses its output."""
    same, seen, eqns = {}, {}, []

    def rename(x):
        return same.get(x, x) if type(x) is Var else x
    for e in program.eqns:
        args = _map(rename, e.args)
        params = {k: _map(rename, v) for k, v in e.params.items()}
        key = (id(e.op), _key(args), _key(tuple(params.items())))
        if key in seen:
            same[e.out] = seen[key]
            continue
        seen[key] = e.out
        eqns.append(Eqn(e.op, args, params, e.out))
    return Program(program.inputs, eqns, [rename(o) for o in program.outputs])


def _key(x):
    """A hashable stand-in for an equation's argument: variables by identity, constants by value."""
    if type(x) is Var:
        return ("v", id(x))
    if isinstance(x, (tuple, list)):
        return (type(x).__name__,) + tuple(_key(a) for a in x)
    if isinstance(x, slice):
        return ("s", _key(x.start), _key(x.stop), _key(x.step))
    if isinstance(x, np.ndarray):
        return ("a", x.shape, x.dtype.str, x.tobytes()) if x.size <= 64 else ("id", id(x))
    if isinstance(x, np.generic):
        return ("g", x.dtype.str, x.item())
    if x is None or x is Ellipsis or isinstance(x, (bool, int, float, str)):
        return (type(x).__name__, x)
    return ("id", id(x))
