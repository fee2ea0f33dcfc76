"""Product rules: matmul and einsum, each linear in every operand while the others are fixed.

A product's tangent is the product rule: the sum, over the operands that move, of the product with
that operand replaced by its tangent. Its transpose for operand ``k`` is itself a product: the
output cotangent contracted with the other operands back onto operand ``k``'s indices. For
``C = A @ B`` that is ``g @ B^T`` for A and ``A^T @ g`` for B.

einsum is one primitive for every subscripts string. Before it runs, the string is written out
in full: ``'...'`` becomes letters, implicit output becomes explicit, and an index repeated within
one operand (``'ii->i'``) becomes a diagonal taken by indexing first, so the primitive itself only
multiplies and sums. ``np.dot``, ``np.inner``, ``np.tensordot``, ``np.kron`` and friends are
compositions of these (``course_lib.composites``).
"""
import string

import numpy as np

from .primitive import Primitive, bind, shape_of
from .structural import unbroadcast

__all__ = ["MATMUL", "EINSUM", "FUNCTIONS", "matmul"]


# ---- matmul: the batched matrix product, with numpy's rules for 1-d operands ----

def _matmul_shape(a, b):
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 1 and len(sb) == 1:
        return ()
    if len(sa) == 1:
        return sb[:-2] + sb[-1:]
    if len(sb) == 1:
        return sa[:-1]
    return np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1])


def _matmul_transpose(k, g, a, b):
    na, nb = len(shape_of(a)), len(shape_of(b))
    if k == 0:
        if nb == 1:
            return g * b if na == 1 else unbroadcast(g[..., None] * b, shape_of(a))
        if na == 1:  # g: (..., n), b: (..., k, n)
            return unbroadcast(np.matmul(b, g[..., None])[..., 0], shape_of(a))
        return unbroadcast(np.matmul(g, np.swapaxes(b, -1, -2)), shape_of(a))
    if na == 1:
        return g * a if nb == 1 else unbroadcast(a[:, None] * g[..., None, :], shape_of(b))
    if nb == 1:  # g: (..., m), a: (..., m, k)
        return unbroadcast(np.matmul(g[..., None, :], a)[..., 0, :], shape_of(b))
    return unbroadcast(np.matmul(np.swapaxes(a, -1, -2), g), shape_of(b))


MATMUL = Primitive("matmul", np.matmul, transpose=_matmul_transpose, shape=_matmul_shape,
                   multilinear=True)


def matmul(a, b):
    """``a @ b`` for any values (the ``@`` operator and ``np.matmul`` of Duals and traced values)."""
    return bind(MATMUL, a, b)


# ---- einsum ----

def _einsum_transpose(k, g, *operands, subscripts):
    inputs, output = subscripts.split("->")
    inputs = inputs.split(",")
    others = [(s, op) for i, (s, op) in enumerate(zip(inputs, operands)) if i != k]
    known = set(output).union(*[set(s) for s, _ in others])
    sizes = dict(zip(inputs[k], shape_of(operands[k])))
    # an index only operand k has was summed away: it comes back by a product with ones
    ones = [(c, np.ones(sizes[c])) for c in inputs[k] if c not in known]
    spec = ",".join([output] + [s for s, _ in others] + [c for c, _ in ones])
    return np.einsum(f"{spec}->{inputs[k]}", g, *[op for _, op in others], *[o for _, o in ones])


def _einsum_shape(*operands, subscripts):
    inputs, output = subscripts.split("->")
    sizes = {}
    for sub, op in zip(inputs.split(","), operands):
        for c, n in zip(sub, shape_of(op)):
            sizes[c] = max(sizes.get(c, 1), n)
    return tuple(sizes[c] for c in output)


EINSUM = Primitive("einsum", lambda *operands, subscripts: np.einsum(subscripts, *operands),
                   transpose=_einsum_transpose, shape=_einsum_shape, multilinear=True)


def _explicit_einsum(subscripts):
    """numpy's implicit mode written out: without '->' the output is the indices used once, in
    alphabetical order ('ij,j' is 'ij,j->i', 'i,i' is 'i,i->')."""
    s = subscripts.replace(" ", "")
    if "->" in s:
        return s
    used = s.replace(",", "")
    return s + "->" + "".join(sorted(c for c in set(used) if used.count(c) == 1))


def _parse_einsum(subscripts, n_operands):
    inputs, output = _explicit_einsum(subscripts).split("->")
    inputs = inputs.split(",")
    if len(inputs) != n_operands:
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(inputs)} operand(s), but "
                         f"{n_operands} were given")
    return inputs, output


def _name_ellipsis(subscripts, operands):
    """Write '...' out as unused letters, one per broadcast axis, aligned from the right as numpy
    broadcasts them. An operand whose axis has length 1 where another's is longer is reshaped to
    drop it, so the product broadcasts over that letter and its cotangent sums it back."""
    s = subscripts.replace(" ", "")
    if "..." not in s:
        return s, list(operands)
    inputs, arrow, output = s.partition("->")
    inputs = inputs.split(",")
    spans = [len(shape_of(op)) - len(sub.replace("...", "")) if "..." in sub else 0
             for sub, op in zip(inputs, operands)]
    width = max(spans)
    letters = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in s][:width]
    lengths = [max(shape_of(op)[sub.index("...") + i - (width - span)]
                   for sub, op, span in zip(inputs, operands, spans)
                   if "..." in sub and i >= width - span) for i in range(width)]
    operands = list(operands)
    for k, (sub, span) in enumerate(zip(inputs, spans)):
        if "..." not in sub:
            continue
        start = sub.index("...")
        named = letters[width - span:]
        shape = list(shape_of(operands[k]))
        kept = [c for j, c in enumerate(named)
                if shape[start + j] != 1 or lengths[width - span + j] == 1]
        if len(kept) < span:  # drop the broadcast axes of length 1
            axes = [start + j for j, c in enumerate(named) if c not in kept]
            operands[k] = np.reshape(operands[k], [n for d, n in enumerate(shape) if d not in axes])
        inputs[k] = sub.replace("...", "".join(kept))
    if arrow:
        output = output.replace("...", "".join(letters))
    else:  # implicit mode: the broadcast axes first, then the indices used once, sorted
        used = "".join(inputs)
        output = "".join(c for c in letters if c in used) + "".join(
            sorted(c for c in set(used) if used.count(c) == 1 and c not in letters))
    return ",".join(inputs) + "->" + output, operands


def _take_repeated(subscripts, operands):
    """An index repeated within one operand ('ii->i', 'iij->j') reads its diagonal: take the
    diagonal first (advanced indexing, which has its own rule), then contract as usual."""
    inputs, output = _explicit_einsum(subscripts).split("->")
    inputs = inputs.split(",")
    operands = list(operands)
    for k, sub in enumerate(inputs):
        for c in dict.fromkeys(sub):
            where = [j for j, d in enumerate(sub) if d == c]
            if len(where) < 2:
                continue
            rest = [j for j in range(len(sub)) if j not in where]
            moved = np.transpose(operands[k], where + rest)
            diagonal = np.arange(shape_of(operands[k])[where[0]])
            operands[k] = moved[(diagonal,) * len(where)]
            sub = c + "".join(sub[j] for j in rest)
        inputs[k] = sub
    return ",".join(inputs) + "->" + output, operands



def _einsum(subscripts, *operands, **kwargs):
    if kwargs.pop("optimize", False) not in (False, True, "greedy", "optimal") or kwargs:
        raise NotImplementedError("numpy.einsum on derivatives takes subscripts and operands "
                                  "(and optimize=); no out= or dtype=")
    if not isinstance(subscripts, str):  # the interleaved form einsum(a, [0, 1], b, [1], [0])
        subscripts, operands = _interleaved(subscripts, operands)
    subscripts, operands = _name_ellipsis(subscripts, operands)
    subscripts, operands = _take_repeated(subscripts, operands)
    _parse_einsum(subscripts, len(operands))
    return bind(EINSUM, *operands, subscripts=_explicit_einsum(subscripts))


def _interleaved(first, rest):
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as the string 'ab,bc->ac' and the operands."""
    args = (first,) + tuple(rest)
    n = len(args) // 2
    operands, subs = list(args[0:2 * n:2]), list(args[1:2 * n:2])
    letter = {}

    def word(sub):
        return "".join("..." if i is Ellipsis else letter.setdefault(
            i, string.ascii_letters[len(letter)]) for i in sub)
    text = ",".join(word(s) for s in subs)
    if len(args) % 2:
        text += "->" + word(args[-1])
    return text, operands


FUNCTIONS = {np.matmul: lambda a, b, **kwargs: matmul(a, b), np.einsum: _einsum}
