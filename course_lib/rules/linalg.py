"""Linear-algebra rules: inv, solve, det, slogdet, cholesky, eigh, svd, by their JVPs.

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
  (a repeated one gives inf or nan, never a silent number);
* the thin SVD ``A = U diag(s) V^T``, with ``dP = U^T dA V`` and ``F_ij = 1 / (s_j^2 - s_i^2)``
  (Townsend 2016, "Differentiating the singular value decomposition"): ``ds = diag(dP)``,
  ``dU = U (F * (dP S + S dP^T)) + (I - U U^T) dA V S^-1`` and the same for V with ``A^T``;
  distinct, nonzero singular values are needed for U and V.

numpy's cholesky and eigh read only the lower triangle of A, so their rules see the symmetric
matrix ``from_lower(dA)``: the derivative with respect to an upper entry is 0, as finite
differences on the entries confirm. Square matrices may come in stacks (..., n, n); the SVD takes
one matrix.
"""
import numpy as np

from .. import composites
from ..nesting import COMPLEX_REFUSED, is_complex
from ..nesting import plain as _plain
from .primitive import Primitive, bind, shape_of

__all__ = ["FUNCTIONS"]


def _mT(m):
    return np.swapaxes(m, -1, -2)


def _trace(m):
    return np.sum(np.diagonal(m, axis1=-2, axis2=-1), axis=-1)


def _real_matrix(name, a):
    if is_complex(a):
        raise TypeError(f"numpy.linalg.{name} of a complex matrix: {COMPLEX_REFUSED}")


def _square(name, a, stack=True):
    _real_matrix(name, a)
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
    """w, V, and dA in the eigenbasis, V^T from_lower(dA) V."""
    w, v = np.linalg.eigh(a)
    return w, v, _mT(v) @ composites.from_lower(t) @ v


def _eigenvectors_jvp(ts, v_out, a):
    w, v, m = _eigen_parts(a, ts[0])
    n = shape_of(w)[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1.0 - np.eye(n)) / (w[..., None, :] - w[..., :, None] + np.eye(n))
    return v @ (f * m)


EIGENVALUES = Primitive("eigh values", lambda a: np.linalg.eigh(a).eigenvalues,
                        jvp=lambda ts, w, a: np.diagonal(_eigen_parts(a, ts[0])[2], axis1=-2,
                                                         axis2=-1))
EIGENVECTORS = Primitive("eigh vectors", lambda a: np.linalg.eigh(a).eigenvectors,
                         jvp=_eigenvectors_jvp)
_EIGH_RESULT = type(np.linalg.eigh(np.eye(1)))  # numpy's named tuple (eigenvalues, eigenvectors)


def _svd_parts(a, t):
    """U, s, V of the thin SVD, dP = U^T dA V, and F_ij = 1 / (s_j^2 - s_i^2) (0 on the diagonal)."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    v = np.transpose(vh)
    k = shape_of(s)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1.0 - np.eye(k)) / (s[None, :] ** 2 - s[:, None] ** 2 + np.eye(k))
    return u, s, v, np.transpose(u) @ t @ v, f


def _svd_u_jvp(ts, u_out, a):
    u, s, v, dp, f = _svd_parts(a, ts[0])
    m = shape_of(u)[0]
    inside = u @ (f * (dp * s[None, :] + s[:, None] * np.transpose(dp)))
    return inside + (np.eye(m) - u @ np.transpose(u)) @ ts[0] @ (v / s[None, :])


def _svd_vh_jvp(ts, vh_out, a):
    u, s, v, dp, f = _svd_parts(a, ts[0])
    n = shape_of(v)[0]
    inside = v @ (f * (s[:, None] * dp + np.transpose(dp) * s[None, :]))
    dv = inside + (np.eye(n) - v @ np.transpose(v)) @ np.transpose(ts[0]) @ (u / s[None, :])
    return np.transpose(dv)


SVD_U = Primitive("svd U", lambda a: np.linalg.svd(a, full_matrices=False).U, jvp=_svd_u_jvp)
SVD_S = Primitive("svd S", lambda a: np.linalg.svd(a, compute_uv=False),
                  jvp=lambda ts, s, a: np.diagonal(_svd_parts(a, ts[0])[3]))
SVD_VH = Primitive("svd Vh", lambda a: np.linalg.svd(a, full_matrices=False).Vh, jvp=_svd_vh_jvp)
_SVD_RESULT = type(np.linalg.svd(np.eye(1)))  # numpy's named tuple (U, S, Vh)
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
    _square("eigh", a)
    if UPLO != "L":
        raise NotImplementedError("numpy.linalg.eigh on derivatives reads the lower triangle "
                                  "(UPLO='L') only")
    return _EIGH_RESULT(bind(EIGENVALUES, a), bind(EIGENVECTORS, a))


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    _real_matrix("svd", a)
    shape = shape_of(a)
    if len(shape) != 2:
        raise NotImplementedError(f"numpy.linalg.svd on derivatives takes one 2-d matrix; got "
                                  f"shape {shape}")
    if not compute_uv:
        return bind(SVD_S, a)
    if full_matrices and shape[0] != shape[1]:
        raise NotImplementedError("numpy.linalg.svd on derivatives gives the thin SVD only: pass "
                                  "full_matrices=False (the extra columns have no derivative)")
    return _SVD_RESULT(bind(SVD_U, a), bind(SVD_S, a), bind(SVD_VH, a))


FUNCTIONS = {
    np.linalg.svd: _svd,
    np.linalg.inv: _one("inv", INV),
    np.linalg.solve: _solve,
    np.linalg.det: _one("det", DET),
    np.linalg.slogdet: _slogdet,
    np.linalg.cholesky: _one("cholesky", CHOLESKY),
    np.linalg.eigh: _eigh,
}
