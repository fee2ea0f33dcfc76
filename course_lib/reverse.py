"""Reverse-mode transformations: grad, value_and_grad, vjp, jacrev, hessian and hvp (chapter 2).

Each runs the function once with its inputs traced on a fresh tape (``course_lib.tape``), then walks
the tape backwards from a seed cotangent. Arguments may be arrays or tuples/lists/dicts of arrays
(a network's parameters); derivatives come back with the same structure and shapes, in the
inputs' float type. ``grad`` refuses, with the reason, a function whose output is not one real
float number: an int or bool output is piecewise constant, a complex one is outside the course.
"""
import numpy as np

from . import batching
from .forward import jvp_many
from .nesting import COMPLEX_REFUSED, is_complex, is_plain, new_tag, plain, shape_of, tag_of
from .tape import Tape, Traced, backward

__all__ = ["grad", "value_and_grad", "vjp", "jacrev", "hessian", "hvp", "hvp_reverse"]


# ---- arguments as trees: arrays, or tuples/lists/dicts of them ------------------------------

def _flatten(tree):
    """Leaves of ``tree`` in order and a function that rebuilds the same structure from leaves."""
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(t) for t in tree]
        leaves = [leaf for p in parts for leaf in p[0]]
        counts = [len(p[0]) for p in parts]
        kind = type(tree)

        def unflatten(new):
            out, k = [], 0
            for (_, un), n in zip(parts, counts):
                out.append(un(new[k:k + n]))
                k += n
            return kind(out)
        return leaves, unflatten
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, unflat = _flatten([tree[k] for k in keys])
        return leaves, lambda new: dict(zip(keys, unflat(new)))
    return [tree], lambda new: new[0]


def _as_float(x):
    """Inputs become float arrays (ints would truncate); Duals and traced values stay as they are."""
    if tag_of(x):
        return x
    if isinstance(x, float):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError(f"got a complex input ({arr.dtype}): {COMPLEX_REFUSED}")
    if arr.dtype.kind != "f":
        arr = arr.astype(float)
    return arr


def _zeros_for(x):
    return np.zeros(shape_of(x), dtype=_float_dtype(x))


def _float_dtype(x):
    """The dtype a derivative with respect to ``x`` has: x's own float type, else float64."""
    dtype = getattr(x, "dtype", None)
    return dtype if dtype is not None and dtype.kind == "f" else np.dtype(float)


def _finish(ct, x):
    """The cotangent of input ``x``, in x's float type: zeros if the output did not depend on it."""
    if ct is None:
        return _zeros_for(x)
    if is_plain(ct):
        if np.iscomplexobj(ct):  # the input is real: its cotangent is the real part
            ct = np.real(ct)
        arr = np.array(ct, dtype=_float_dtype(x))
        return arr[()] if arr.ndim == 0 else arr
    return ct


def _check_scalar_output(value):
    """Raise unless ``value`` (the primal output of f under grad) is one real float number."""
    dtype = getattr(value, "dtype", None)  # a staged value has one, and no numbers
    if dtype is None:
        dtype = np.asarray(value).dtype
    if dtype.kind in "biu":
        raise TypeError(
            f"grad needs f to return a real float number, but it returned a {dtype} value: an "
            "integer- or bool-valued function is piecewise constant, so its derivative is 0 "
            "wherever it exists and says nothing useful. Return the float quantity the integer is "
            "computed from (chapter 4 shows how to make a discrete choice differentiable)")
    if dtype.kind == "c":
        raise TypeError(f"f returned a complex value: {COMPLEX_REFUSED}")
    if dtype.kind != "f":
        raise TypeError(f"grad needs f to return a real float number; it returned {type(value)}")
    if int(np.prod(shape_of(value), dtype=int)) != 1:
        raise TypeError(f"grad only applies to scalar-output functions, but f returned shape "
                        f"{shape_of(value)}; use jacrev for the Jacobian or vjp for a "
                        f"vector-Jacobian product")


def _trace_call(f, args, argnums, keep_values=False):
    """Run ``f`` with the arguments in ``argnums`` traced; return (output, tape, leaves, unflatten)."""
    tag = new_tag()
    tape = Tape(tag, keep_values)
    args = list(args)
    structure = []
    for n in argnums:
        leaves, unflatten = _flatten(args[n])
        leaves = [_as_float(x) for x in leaves]
        traced = [Traced(x, tape) for x in leaves]
        structure.append((leaves, unflatten, [t._index for t in traced]))
        args[n] = unflatten(traced)
    try:
        out = f(*args)
    finally:
        tape.active = False
    return out, tape, structure


def _normalize_argnums(argnums, nargs):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for n in nums:
        if not -nargs <= n < nargs:
            raise ValueError(f"argnums={argnums!r} does not fit a call with {nargs} positional "
                             f"argument(s)")
    return single, tuple(n % nargs for n in nums)


# ---- the public transformations -------------------------------------------------------------

def value_and_grad(f, argnums=0):
    """Return a function computing ``f(*args)`` and its gradient in one forward and one backward pass.

    Chapter 2 introduces it. Args: ``f``, a function with a scalar output written in numpy;
    ``argnums``, the position (or tuple of positions) of the argument(s) to differentiate; each may
    be an array or a tuple/list/dict of arrays. Returns: ``(value, gradient)``, the gradient with
    the structure and shapes of the argument (a tuple of those for a tuple of argnums).
    """
    def value_and_grad_f(*args):
        single, nums = _normalize_argnums(argnums, len(args))
        out, tape, structure = _trace_call(f, args, nums)
        mine = isinstance(out, Traced) and out._tag == tape.tag
        value = out.value if mine else out
        _check_scalar_output(plain(value))
        if mine:
            keep = {i for _, _, idx in structure for i in idx}
            seed = 1.0 if shape_of(value) == () else np.ones(shape_of(value))  # shape (1,), (1, 1), ...
            ct = backward(tape.entries, [(out._index, seed)], keep, release=True)
        else:
            ct = []
        tape.entries = []  # release the tape: the intermediates can be freed now
        grads = []
        for leaves, unflatten, idx in structure:
            grads.append(unflatten([_finish(ct[i] if ct else None, x)
                                    for x, i in zip(leaves, idx)]))
        return value, (grads[0] if single else tuple(grads))
    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def grad(f, argnums=0):
    """Return the function computing the gradient of the scalar function ``f`` by reverse mode.

    Chapter 2 introduces it. Args: ``f``, scalar-output numpy code; ``argnums``, which positional
    argument(s) to differentiate (arrays or tuples/lists/dicts of arrays). Returns: a function with
    the arguments of ``f`` returning the gradient in the structure and shapes of that argument.
    Nested calls (grad of grad) give higher derivatives.
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args):
        return vg(*args)[1]
    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def vjp(f, *primals):
    """Evaluate ``f(*primals)`` and return its value with the pullback ``u -> u^T J``.

    Chapter 2 introduces it. Args: ``f``, numpy code; ``primals``, its arguments (arrays or trees of
    arrays). Returns: ``(y, pullback)``; ``pullback(u)`` takes a cotangent ``u`` with the structure
    and shapes of ``y`` and returns the cotangent of each primal (one value for one primal, else a
    tuple). The pullback may be called many times.
    """
    out, tape, structure = _trace_call(f, primals, tuple(range(len(primals))))
    out_leaves, out_unflatten = _flatten(out)
    mine = [isinstance(o, Traced) and o._tag == tape.tag for o in out_leaves]
    y = out_unflatten([o.value if m else o for o, m in zip(out_leaves, mine)])
    y_leaves = [o.value if m else o for o, m in zip(out_leaves, mine)]
    if any(is_complex(leaf) for leaf in y_leaves):
        raise TypeError(f"f returned a complex value: {COMPLEX_REFUSED}")
    keep = {i for _, _, idx in structure for i in idx}

    def pullback(u):
        u_leaves, _ = _flatten(u)
        if len(u_leaves) != len(out_leaves):
            raise ValueError(f"the cotangent must have the structure of f's output "
                             f"({len(out_leaves)} array(s)), got {len(u_leaves)}")
        seeds = []
        for o, m, uu, yy in zip(out_leaves, mine, u_leaves, y_leaves):
            if shape_of(uu) != shape_of(yy):
                raise ValueError(f"the cotangent has shape {shape_of(uu)} but f's output has shape "
                                 f"{shape_of(yy)}; they must match")
            if m:
                seeds.append((o._index, uu))
        ct = backward(tape.entries, seeds, keep) if seeds else None
        results = [unflatten([_finish(ct[i] if ct else None, x) for x, i in zip(leaves, idx)])
                   for leaves, unflatten, idx in structure]
        return results[0] if len(results) == 1 else tuple(results)
    return y, pullback


def jacrev(f, argnums=0):
    """Return the function computing the Jacobian of ``f`` by reverse mode, one row per output.

    Chapter 2 introduces it. Args: ``f``, numpy code; ``argnums``, the argument (or tuple of
    arguments) to differentiate, each an array or a tuple/list/dict of arrays. Returns: a function
    giving, for an array argument ``x`` and array output ``y``, an array of shape
    ``y.shape + x.shape``. For trees the blocks nest as in JAX: the output's structure outside,
    the argument's inside (a tuple of those for a tuple of argnums).
    """
    def jac_f(*args):
        single, nums = _normalize_argnums(argnums, len(args))
        primals = [args[n] for n in nums]

        def f_of(*diff):
            full = list(args)
            for n, d in zip(nums, diff):
                full[n] = d
            return f(*full)
        y, pullback = vjp(f_of, *primals)
        y_leaves, y_unflatten = _flatten(y)
        x_trees = [_flatten(p) for p in primals]
        blocks = []
        for i, yi in enumerate(y_leaves):
            yshape = shape_of(yi)
            m = int(np.prod(yshape, dtype=int))
            # all the rows in one backward pass: a stack of the one-hot cotangents of leaf i
            basis = batching.stack_of(np.reshape(np.eye(m), (m,) + yshape))
            u = [basis if j == i else np.zeros(shape_of(o)) for j, o in enumerate(y_leaves)]
            cts = pullback(y_unflatten(u))
            per_arg = []
            for ct, (leaves, unflatten) in zip((cts,) if len(primals) == 1 else cts, x_trees):
                per_arg.append(unflatten([_rows(c, basis._tag, yshape, x)
                                          for c, x in zip(_flatten(ct)[0], leaves)]))
            blocks.append(per_arg[0] if single else tuple(per_arg))
        return y_unflatten(blocks)
    jac_f.__name__ = f"jacrev({getattr(f, '__name__', 'f')})"
    return jac_f


def _rows(ct, tag, yshape, x):
    """The Jacobian block of shape ``yshape + x.shape`` from a stack of rows (zeros if none), in
    x's float type."""
    stacked = batching.unstack(ct, tag)
    if stacked is None:  # this input does not reach the output
        return np.zeros(yshape + shape_of(x), dtype=_float_dtype(x))
    if is_plain(stacked):
        stacked = np.asarray(stacked, dtype=_float_dtype(x))
    return np.reshape(stacked, yshape + shape_of(x))


def hvp(f, x, v):
    """Return the Hessian of scalar ``f`` at ``x`` applied to ``v``, without forming the Hessian.

    Chapter 2 introduces it. Computed as the directional derivative of ``grad(f)`` along ``v``
    (forward-over-reverse, with ``Dual`` numbers through the tape), which costs a small constant
    times one gradient. Args: ``x``, an array or a tuple/list/dict of arrays (a network's
    parameters); ``v``, the direction, with the structure and shapes of ``x``. Returns: ``H v``
    with that structure and those shapes.
    """
    x_leaves, unflatten = _flatten(x)
    v_leaves, _ = _flatten(v)
    if len(x_leaves) != len(v_leaves):
        raise ValueError(f"hvp needs v with the structure of x: x has {len(x_leaves)} array(s), "
                         f"v has {len(v_leaves)}")
    x_leaves = [_as_float(a) for a in x_leaves]
    v_leaves = [_as_float(a) for a in v_leaves]
    for a, b in zip(x_leaves, v_leaves):
        if shape_of(a) != shape_of(b):
            raise ValueError(f"hvp needs x and v of the same shape, got {shape_of(a)} and "
                             f"{shape_of(b)}")
    g = grad(f)

    def grad_leaves(*leaves):
        return tuple(_flatten(g(unflatten(list(leaves))))[0])
    tangents = jvp_many(grad_leaves, x_leaves, v_leaves)[1]
    return unflatten([_finish(t, a) for t, a in zip(tangents, x_leaves)])


def hvp_reverse(f, x, v):
    """The Hessian-vector product by reverse-over-reverse: the gradient of <grad f(x), v>."""
    g = grad(f)
    v_leaves = _flatten(v)[0]
    return grad(lambda xx: sum(np.sum(a * b) for a, b in zip(_flatten(g(xx))[0], v_leaves)))(x)


def hessian(f, argnums=0):
    """Return the function computing the Hessian of scalar ``f``: the Jacobian of its gradient.

    Chapter 2 introduces it. Built as ``jacrev(grad(f))`` (reverse-over-reverse). Args: ``f``,
    scalar-output numpy code; ``argnums``, the argument(s), arrays or trees of arrays. Returns: a
    function giving an array of shape ``x.shape + x.shape`` for an array ``x``; for a tree, block
    ``[i][j]`` (of shape ``x_i.shape + x_j.shape``) couples leaves ``i`` and ``j``.
    """
    return jacrev(grad(f, argnums), argnums)
