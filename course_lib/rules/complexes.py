"""Complex intermediates: real and imaginary parts, the conjugate, the modulus.

The course differentiates real functions of real inputs. Such a function may go through complex
values, as an FFT of a real signal does (``np.sum(np.abs(np.fft.rfft(x)) ** 2)``); the derivative
rules then treat a complex number as a pair of real numbers, and every transpose is taken for the
real inner product ``<u, v> = Re(sum(conj(u) * v))``:

======================  =====================================  ==================================
primitive               tangent                                transpose (cotangent ``g``)
======================  =====================================  ==================================
``real(z)``             ``real(dz)``                           ``g`` (a real ``g`` as complex)
``imag(z)``             ``imag(dz)``                           ``1j * g``
``conj(z)``             ``conj(dz)``                           ``conj(g)``
``abs(z)``, z complex   ``Re(conj(z) dz) / |z|``, 0 at z = 0   by its linear steps
======================  =====================================  ==================================

The arithmetic ufuncs keep their partials (``+ - * /``, ``**``, ``exp``, ... are complex
differentiable); reverse mode multiplies a cotangent by the *conjugate* partial and keeps the real
part where the input was real (``course_lib.linearize``). ``|z|`` at 0 follows ``|x|`` at 0: the
derivative is 0. ``np.angle`` is ``arctan2(imag, real)``. Complex *inputs* and complex *outputs*
of ``grad``, ``jvp`` and ``vjp`` are refused (``course_lib.nesting.COMPLEX_REFUSED``).
"""
import numpy as np

from ..nesting import dtype_of, is_complex, plain
from .primitive import Primitive, bind, shape_of

__all__ = ["REAL", "IMAG", "CONJ", "ABS", "absolute", "conjugate", "check_constant", "FUNCTIONS"]


def _real_dtype(z):
    return np.empty(0, dtype_of(z)).real.dtype


REAL = Primitive("real", np.real, transpose=lambda k, g, z: g, shape=shape_of,
                 dtype=_real_dtype)
IMAG = Primitive("imag", np.imag, transpose=lambda k, g, z: 1j * g, shape=shape_of,
                 dtype=_real_dtype)
CONJ = Primitive("conj", np.conj, transpose=lambda k, g, z: np.conj(g), shape=shape_of)


def _abs_jvp(ts, out, z):
    zero = plain(out) == 0  # the derivative at 0 is 0, as |x|'s (a plain mask)
    return np.real(np.conj(z) * ts[0]) * ((1.0 - zero) / (out + zero))


ABS = Primitive("abs complex", np.abs, jvp=_abs_jvp)


def absolute(z):
    """``|z|`` of a complex value (a real value takes the ufunc's own rule, ``sign(x)``)."""
    return bind(ABS, z)


def conjugate(z):
    """``conj(z)``: a real value is its own conjugate."""
    return bind(CONJ, z) if is_complex(z) else z


def check_constant(ufunc, inputs):
    """Raise for ``np.sign`` of a complex value, ``z / |z|``: not piecewise constant there."""
    if ufunc is np.sign and is_complex(inputs[0]):
        raise TypeError("numpy.sign of a complex value is z / |z|, which is not piecewise "
                        "constant; write z / np.abs(z) to differentiate it")


def _real(val):
    return bind(REAL, val) if is_complex(val) else val


def _imag(val):
    return bind(IMAG, val) if is_complex(val) else np.zeros(shape_of(val))


def _angle(z, deg=False):
    angle = np.arctan2(_imag(z), _real(z))
    return angle * (180.0 / np.pi) if deg else angle


FUNCTIONS = {np.real: _real, np.imag: _imag, np.angle: _angle}
