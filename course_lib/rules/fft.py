"""FFT rules: numpy.fft's transforms are linear, so each is its own derivative with one transpose.

Every transform of numpy.fft is one of four primitives over explicit sizes ``s`` and ``axes``
(``fft`` is ``fftn`` over one axis, ``fft2`` over the last two): the complex transforms ``fftn`` and
``ifftn``, and the real ones ``rfftn`` (a real signal to the half spectrum, the last axis cut to
``n // 2 + 1`` bins) and ``irfftn`` (a half spectrum to a real signal of ``n`` samples). A size
larger than the input pads it with zeros; a smaller one cuts it.

Forward mode runs the transform on the tangent. Reverse mode runs the transpose for the real inner
product ``Re(sum(conj(u) * v))`` (``course_lib.rules.complexes``). The discrete Fourier matrix F is
symmetric, so its transpose in that sense is its conjugate, the inverse transform without the
``1/n``: the transpose of a transform with ``norm="backward"`` is the inverse transform with
``norm="forward"``, and the other way round (``"ortho"`` is unitary: its transpose is its inverse).
Then:

* ``fftn``, ``ifftn``: the inverse transform with the swapped norm, cut or padded back to the
  input's sizes (padding and cutting are each other's transposes); its real part for a real input;
* ``rfftn``: the half spectrum padded with zeros to the full one, then as ``fftn``;
* ``irfftn``: the signal uses each bin k of the half spectrum twice, as z_k and as conj(z_k) at
  n - k, except the first bin and (n even) the last: the transpose is ``rfftn`` with the swapped
  norm, the doubled bins times 2.

``fftshift`` and ``ifftshift`` are rolls (``course_lib.composites``). Repeated axes are refused.
"""
import numpy as np

from ..nesting import dtype_of, is_complex
from .primitive import Primitive, bind, shape_of
from .structural import UNINDEX

__all__ = ["FFTN", "IFFTN", "RFFTN", "IRFFTN", "FUNCTIONS"]

_NORMS = {None: "backward", "backward": "backward", "ortho": "ortho", "forward": "forward"}
_SWAPPED = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _fit(g, axes, sizes):
    """``g`` cut, or padded with zeros at the end, along ``axes`` to ``sizes``."""
    shape = list(shape_of(g))
    cut = [slice(None)] * len(shape)
    for a, n in zip(axes, sizes):
        if shape[a] > n:
            cut[a], shape[a] = slice(0, n), n
    if any(c != slice(None) for c in cut):
        g = g[tuple(cut)]
    target = list(shape)
    for a, n in zip(axes, sizes):
        target[a] = n
    if target != shape:
        g = bind(UNINDEX, g, index=tuple(slice(0, m) for m in shape), shape=tuple(target))
    return g


def _sizes(x, axes):
    return [shape_of(x)[a] for a in axes]


def _resized(x, s, axes, last=None):
    """The output shape: ``x``'s with the sizes ``s`` on ``axes`` (the last one ``last``)."""
    shape = list(shape_of(x))
    for a, n in zip(axes, s):
        shape[a] = n
    if last is not None:
        shape[axes[-1]] = last
    return tuple(shape)


def _complex_dtype(x, *_, **__):
    return np.result_type(dtype_of(x), np.complex64)


def _real_dtype(x, *_, **__):
    return np.empty(0, _complex_dtype(x)).real.dtype


def _real_if(x, value):
    """The cotangent of ``x``: its real part if ``x`` is real."""
    return value if is_complex(x) else np.real(value)


def _fftn_transpose(k, g, x, s, axes, norm):
    return _real_if(x, _fit(np.fft.ifftn(g, axes=axes, norm=_SWAPPED[norm]), axes, _sizes(x, axes)))


def _ifftn_transpose(k, g, x, s, axes, norm):
    return _real_if(x, _fit(np.fft.fftn(g, axes=axes, norm=_SWAPPED[norm]), axes, _sizes(x, axes)))


def _rfftn_transpose(k, g, x, s, axes, norm):
    full = _fit(g, axes[-1:], s[-1:])  # the half spectrum padded to the full one
    return np.real(_fit(np.fft.ifftn(full, axes=axes, norm=_SWAPPED[norm]), axes,
                        _sizes(x, axes)))


def _irfftn_transpose(k, g, z, s, axes, norm):
    n = s[-1]
    twice = np.full(n // 2 + 1, 2.0)  # the bins that stand for two of the full spectrum
    twice[0] = 1.0
    if n % 2 == 0:
        twice[-1] = 1.0
    twice = np.reshape(twice, (-1,) + (1,) * (len(shape_of(g)) - 1 - axes[-1]))
    u = np.fft.rfftn(g, axes=axes, norm=_SWAPPED[norm]) * twice
    return _real_if(z, _fit(u, axes, _sizes(z, axes)))


FFTN = Primitive("fftn", lambda x, s, axes, norm: np.fft.fftn(x, s, axes, norm),
                 transpose=_fftn_transpose, dtype=_complex_dtype,
                 shape=lambda x, s, axes, norm: _resized(x, s, axes))
IFFTN = Primitive("ifftn", lambda x, s, axes, norm: np.fft.ifftn(x, s, axes, norm),
                  transpose=_ifftn_transpose, dtype=_complex_dtype,
                  shape=lambda x, s, axes, norm: _resized(x, s, axes))
RFFTN = Primitive("rfftn", lambda x, s, axes, norm: np.fft.rfftn(x, s, axes, norm),
                  transpose=_rfftn_transpose, dtype=_complex_dtype,
                  shape=lambda x, s, axes, norm: _resized(x, s, axes, s[-1] // 2 + 1))
IRFFTN = Primitive("irfftn", lambda x, s, axes, norm: np.fft.irfftn(x, s, axes, norm),
                   transpose=_irfftn_transpose, dtype=_real_dtype,
                   shape=lambda x, s, axes, norm: _resized(x, s, axes))


# ---- the numpy functions that reach these primitives ----

def _transform(prim, name, a, s, axes, norm, out):
    """Bind ``prim`` with numpy's defaults written out: every axis, its size, the norm."""
    if out is not None:
        raise NotImplementedError(f"numpy.fft.{name} with out= is not supported on derivatives; "
                                  "call it without out=")
    if norm not in _NORMS:
        raise ValueError(f"numpy.fft.{name}: norm must be 'backward', 'ortho' or 'forward' "
                         f"(or None); got {norm!r}")
    shape = shape_of(a)
    nd = len(shape)
    if axes is None:
        axes = range(nd) if s is None else range(nd - len(s), nd)
    axes = tuple(int(ax) % nd for ax in axes)
    if len(set(axes)) != len(axes):
        raise NotImplementedError(f"numpy.fft.{name} over a repeated axis {axes} is not supported "
                                  "on derivatives; transform once per axis instead")
    if s is not None and len(s) != len(axes):
        raise ValueError(f"numpy.fft.{name}: give one size per axis; got s={s} for axes {axes}")
    default = [shape[ax] for ax in axes]
    if prim is IRFFTN:
        default[-1] = 2 * (default[-1] - 1)
    s = default if s is None else [d if n == -1 else int(n) for n, d in zip(s, default)]
    return bind(prim, a, s=tuple(s), axes=axes, norm=_NORMS[norm])


def _one_axis(prim, name):
    def handler(a, n=None, axis=-1, norm=None, out=None):
        return _transform(prim, name, a, None if n is None else (n,), (axis,), norm, out)
    return handler


def _many_axes(prim, name, default_axes):
    def handler(a, s=None, axes=default_axes, norm=None, out=None):
        return _transform(prim, name, a, s, axes, norm, out)
    return handler


FUNCTIONS = {}
for _prim, _stem in ((FFTN, "fft"), (IFFTN, "ifft"), (RFFTN, "rfft"), (IRFFTN, "irfft")):
    FUNCTIONS[getattr(np.fft, _stem)] = _one_axis(_prim, _stem)
    FUNCTIONS[getattr(np.fft, _stem + "2")] = _many_axes(_prim, _stem + "2", (-2, -1))
    FUNCTIONS[getattr(np.fft, _stem + "n")] = _many_axes(_prim, _stem + "n", None)
