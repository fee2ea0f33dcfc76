"""Linear-algebra rules: inv, solve, det, slogdet, cholesky, eigh, by their JVPs.

Each rule gives the output's tangent from the input's tangent ``dA`` (Giles 2008, "Collected matrix
derivative results for forward and reverse mode algorithmic differentiation"), written with
products, solves and transposes, so reverse mode gets the transpose by recording them:

* ``d(A^-1) = -A^-1 dA A^-1``;
* ``A x = b``, so ``A dx = db - dA x`` (solve is linear in b: it has a transpose of its own,
  ``A^-T g``, which reverse mode uses when a rule solves for a tangent);
* Jacobi's formula, ``d det A = det A tr(A^-1 dA)``, and ``d log|det A| = tr(A^-1 dA)``;
* ``A = L L^T``: ``dL = L phi(L^-1 dA L^-T)``, phi keeping the lower triangle and half the
  diagonal (Murray 2016);
* ``A = V diag(w) V^T``: ``dw = diag(V^T dA V)``, ``dV = V (F * (V^T dA V))`` with
  ``F_ij = 1 / (w_j - w_i)`` off the diagonal; eigenvector derivatives need distinct eigenvalues
  (a repeated one gives inf or nan, never a silent number).

numpy's cholesky and eigh read only the lower triangle of A, so their rules see the symmetric
matrix ``from_lower(dA)``: the derivative with respect to an upper entry is 0, as finite
differences on the entries confirm. Matrices may come in stacks (..., n, n), except for eigh.
"""
import numpy as np

from .. import composites
from ..nesting import plain as _plain
from .primitive import Primitive, bind, shape_of

__all__ = ["FUNCTIONS"]


def _mT(m):
    return np.swapaxes(m, -1, -2)


def _trace(m):
    return np.sum(np.diagonal(m, axis1=-2, axis2=-1), axis=-1)


def _square(name, a, stack=True):
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2] or not stack and len(shape) != 2:
        which = "a square matrix or a stack of them" if stack else "one square 2-d matrix"
        raise NotImplementedError(f"numpy.linalg.{name} on derivatives takes {which}; got shape "
                                  f"{shape}")


INV = Primitive("inv", np.linalg.inv, jvp=lambda ts, y, a: -(y @ ts[0] @ y))


def _solve_jvp(ts, x, a, b):
    ta, tb = ts
    rhs = tb
    if ta is not None:
        rhs = -(ta @ x) if rhs is None else rhs - ta @ x
    return np.linalg.solve(a, rhs)


SOLVE = Primitive("solve", np.linalg.solve, jvp=_solve_jvp,
                  transpose=lambda k, g, a, b: np.linalg.solve(_mT(a), g),
                  shape=lambda a, b: shape_of(b), linear_in=(1,))

DET = Primitive("det", np.linalg.det,
                jvp=lambda ts, d, a: d * _trace(np.linalg.solve(a, ts[0])))

LOGABSDET = Primitive("logabsdet", lambda a: np.linalg.slogdet(a).logabsdet,
                      jvp=lambda ts, out, a: _trace(np.linalg.solve(a, ts[0])))


def _cholesky_jvp(ts, low, a):
    n = shape_of(low)[-1]
    phi = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)  # lower triangle, half the diagonal
    da = composites.from_lower(ts[0])
    s = _mT(np.linalg.solve(low, _mT(np.linalg.solve(low, da))))  # L^-1 dA L^-T
    return low @ (phi * s)


CHOLESKY = Primitive("cholesky", np.linalg.cholesky, jvp=_cholesky_jvp)


def _eigen_parts(a, t):
    """V, and dA in the eigenbasis, V^T from_lower(dA) V."""
    w, v = np.linalg.eigh(a)
    return w, v, np.transpose(v) @ composites.from_lower(t) @ v


def _eigenvectors_jvp(ts, v_out, a):
    w, v, m = _eigen_parts(a, ts[0])
    n = shape_of(w)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1.0 - np.eye(n)) / (w[None, :] - w[:, None] + np.eye(n))
    return v @ (f * m)


EIGENVALUES = Primitive("eigh values", lambda a: np.linalg.eigh(a).eigenvalues,
                        jvp=lambda ts, w, a: np.diagonal(_eigen_parts(a, ts[0])[2]))
EIGENVECTORS = Primitive("eigh vectors", lambda a: np.linalg.eigh(a).eigenvectors,
                         jvp=_eigenvectors_jvp)
_EIGH_RESULT = type(np.linalg.eigh(np.eye(1)))  # numpy's named tuple (eigenvalues, eigenvectors)
_SLOGDET_RESULT = type(np.linalg.slogdet(np.eye(1)))


def _one(name, prim, stack=True):
    def handler(a, *rest, **kwargs):
        _square(name, a, stack)
        if name == "cholesky" and kwargs.pop("upper", False):
            raise NotImplementedError("numpy.linalg.cholesky on derivatives: upper=True is not "
                                      "supported; transpose the lower factor instead")
        if rest or kwargs:
            raise TypeError(f"numpy.linalg.{name} takes one matrix")
        return bind(prim, a)
    return handler


def _solve(a, b):
    _square("solve", a)
    return bind(SOLVE, a, b)


def _slogdet(a):
    _square("slogdet", a)
    sign = np.linalg.slogdet(_plain(a)).sign  # piecewise constant
    return _SLOGDET_RESULT(sign, bind(LOGABSDET, a))


def _eigh(a, UPLO="L"):
    _square("eigh", a, stack=False)
    if UPLO != "L":
        raise NotImplementedError("numpy.linalg.eigh on derivatives reads the lower triangle "
                                  "(UPLO='L') only")
    return _EIGH_RESULT(bind(EIGENVALUES, a), bind(EIGENVECTORS, a))


FUNCTIONS = {
    np.linalg.inv: _one("inv", INV),
    np.linalg.solve: _solve,
    np.linalg.det: _one("det", DET),
    np.linalg.slogdet: _slogdet,
    np.linalg.cholesky: _one("cholesky", CHOLESKY),
    np.linalg.eigh: _eigh,
}
