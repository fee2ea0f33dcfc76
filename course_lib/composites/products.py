"""Products as compositions of multiply, matmul and einsum: dot, tensordot, kron, cross, pinv, ..."""
import numpy as np

from ..nesting import is_complex, plain, shape_of
from .shapes import moveaxis, stack


def dot(a, b, out=None):
    """np.dot: a product for scalars, matmul up to 2-d, a contraction (einsum) beyond."""
    if out is not None:
        raise NotImplementedError("numpy.dot(..., out=) is not supported on derivatives")
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    if na <= 2 and nb <= 2:
        return np.matmul(a, b)
    # the last axis of a with the second-to-last of b (the last, for a 1-d b)
    return tensordot(a, b, axes=([na - 1], [max(nb - 2, 0)]))


def outer(a, b, out=None):
    """np.outer: the flattened inputs as a column times a row."""
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


def vdot(a, b):
    """np.vdot: the sum of the entrywise product of the flattened inputs, the first conjugated."""
    return np.sum(np.multiply(np.ravel(np.conj(a) if is_complex(a) else a), np.ravel(b)))


def inner(a, b):
    """np.inner: a contraction over the last axes of both."""
    if len(shape_of(a)) == 0 or len(shape_of(b)) == 0:
        return np.multiply(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


def tensordot(a, b, axes=2):
    """np.tensordot: the contraction written as an einsum."""
    na, nb = len(shape_of(a)), len(shape_of(b))
    if np.ndim(axes) == 0:
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = [list(np.atleast_1d(ax)) for ax in axes]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(axes_a, axes_b):
        sb[j % nb] = sa[i % na]
    contracted = {sa[i % na] for i in axes_a}
    out = [c for c in sa if c not in contracted] + [c for c in sb if c not in contracted]
    return np.einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def kron(a, b):
    """np.kron: every product of an entry of a and one of b, as a broadcast product reshaped."""
    na, nb = len(shape_of(a)), len(shape_of(b))
    nd = max(na, nb)
    a = np.reshape(a, (1,) * (nd - na) + shape_of(a))
    b = np.reshape(b, (1,) * (nd - nb) + shape_of(b))
    sa, sb = shape_of(a), shape_of(b)
    interleaved_a = [n for m in sa for n in (m, 1)]
    interleaved_b = [n for m in sb for n in (1, m)]
    product = np.reshape(a, interleaved_a) * np.reshape(b, interleaved_b)
    return np.reshape(product, tuple(m * n for m, n in zip(sa, sb)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """np.cross of 3-vectors: each component a difference of two products."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if shape_of(a)[-1] != 3 or shape_of(b)[-1] != 3:
        raise NotImplementedError("numpy.cross on derivatives takes 3-vectors (2-vectors: "
                                  "append a zero component)")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(c, -1, axisc)


def pinv(a, rcond=None, hermitian=False, **kwargs):
    """np.linalg.pinv from the thin SVD: V diag(1/s) U^T, singular values below the cutoff
    (rcond times the largest, max(m, n) * eps by default) taken as 0 (a double where)."""
    m, n = shape_of(a)[-2:]
    rcond = max(m, n) * np.finfo(float).eps if rcond is None else rcond
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    large = plain(s) > rcond * np.max(plain(s))
    inverse = np.where(large, 1.0 / np.where(large, s, 1.0), 0.0)
    return np.transpose(vh) @ (inverse[:, None] * np.transpose(u))


def polyval(p, x):
    """np.polyval by Horner's rule: ((p0 x + p1) x + p2) ...; p and x may both be traced."""
    coefficients = [p[i] for i in range(len(p))]
    y = coefficients[0] * np.ones(shape_of(x))
    for c in coefficients[1:]:
        y = y * x + c
    return y


FUNCTIONS = {np.dot: dot, np.outer: outer, np.vdot: vdot, np.inner: inner,
             np.tensordot: tensordot, np.kron: kron, np.cross: cross, np.polyval: polyval,
             np.linalg.pinv: pinv}
