"""numpy.fft in both modes: real functions of real inputs through complex intermediates.

Every transform is checked against HIPS autograd (where autograd's rule holds: even lengths for the
real transforms, norm None or "ortho"), against central differences (every size, axis and norm),
to second order, and each primitive's transpose against <u, L v> = <L^T u, v> for the real inner
product Re(sum(conj(u) * v)); closed forms (Parseval, a circular convolution) check a few by hand.
"""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import derivative, grad, hessian, hvp, jacfwd, jacrev, jvp, vjp
from course_lib.rules import fft

# name: (the transform written for a numpy module m, whether its input is a spectrum (complex))
ONE_AXIS = ["fft", "ifft", "rfft", "irfft"]
TRANSFORMS = ONE_AXIS + ["fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn", "irfftn"]
COMPLEX_INPUT = {"ifft", "irfft", "ifft2", "irfft2", "ifftn", "irfftn"}


def _signal(m, x, shape, complex_input):
    """The transform's input from the real vector x: a real array, or a complex one whose real and
    imaginary parts are the two halves of x."""
    n = int(np.prod(shape))
    if complex_input:
        return m.reshape(x[:n] + 1j * x[n:], shape)
    return m.reshape(x, shape)


def _scalar(name, shape, kwargs, w):
    """A real, nonlinear function of the real vector x through the transform ``name``."""
    def make(m):
        def f(x):
            y = getattr(m.fft, name)(_signal(m, x, shape, name in COMPLEX_INPUT), **kwargs)
            return m.sum(w[0] * m.real(y) ** 2) + m.sum(w[1] * m.imag(y) * m.real(y))
        return f
    return make


def _size(name, shape):
    return int(np.prod(shape)) * (2 if name in COMPLEX_INPUT else 1)


def _weights(name, shape, kwargs, seed):
    y = getattr(np.fft, name)(np.ones(shape, complex if name in COMPLEX_INPUT else float),
                              **kwargs)
    rng = np.random.default_rng(seed)
    return rng.standard_normal(y.shape), rng.standard_normal(y.shape)


# (transform, input shape, keyword arguments): autograd's rules hold for these
AUTOGRAD_CASES = [
    ("fft", (6,), {}), ("fft", (4, 5), {"n": 7, "axis": 0}), ("fft", (6,), {"norm": "ortho"}),
    ("ifft", (5,), {}), ("ifft", (3, 4), {"n": 2, "axis": -1, "norm": "ortho"}),
    ("rfft", (8,), {}), ("rfft", (4, 6), {"axis": 0}), ("rfft", (6,), {"norm": "ortho"}),
    ("irfft", (5,), {}), ("irfft", (4, 3), {"axis": 0, "n": 6}),
    ("fft2", (4, 5), {}), ("fft2", (2, 3, 4), {"s": (4, 2), "axes": (0, 2)}),
    ("ifft2", (3, 4), {"norm": "ortho"}), ("rfft2", (4, 6), {}),
    ("irfft2", (4, 3), {}), ("irfft2", (3, 4), {"s": (4, 6)}),
    ("fftn", (2, 3, 4), {}), ("ifftn", (3, 4), {"axes": (1,)}),
    ("rfftn", (3, 4), {"s": (5, 6), "axes": (0, 1)}), ("irfftn", (2, 3, 4), {"axes": (0, 2)}),
]


@pytest.mark.parametrize("name, shape, kwargs", AUTOGRAD_CASES,
                         ids=[f"{n} {s} {k}" for n, s, k in AUTOGRAD_CASES])
def test_transforms_in_both_modes_to_second_order_against_autograd(name, shape, kwargs):
    f = _scalar(name, shape, kwargs, _weights(name, shape, kwargs, 1))
    rng = np.random.default_rng(2)
    x, v = rng.standard_normal((2, _size(name, shape)))
    want = autograd.grad(f(anp))(x)
    ours = grad(f(np))(x)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jvp(f(np), x, v)[1], want @ v, rtol=1e-10, atol=1e-12)
    hess = autograd.hessian(f(anp))(x)
    np.testing.assert_allclose(hessian(f(np))(x), hess, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(hvp(f(np), x, v), hess @ v, rtol=1e-9, atol=1e-11)
    second = jvp(lambda z: jvp(f(np), z, v)[1], x, v)[1]  # forward over forward
    np.testing.assert_allclose(second, v @ hess @ v, rtol=1e-9, atol=1e-11)


@st.composite
def transform_calls(draw):
    """A transform, an input shape, and numpy's keyword arguments: sizes that pad or cut, any
    axes (negative too), every norm, odd and even lengths."""
    name = draw(st.sampled_from(TRANSFORMS))
    nd = draw(st.integers(1, 3)) if name in ONE_AXIS or name.endswith("n") else draw(
        st.integers(2, 3))
    shape = tuple(draw(st.lists(st.integers(2, 5), min_size=nd, max_size=nd)))
    kwargs = {}
    if draw(st.booleans()):
        kwargs["norm"] = draw(st.sampled_from([None, "backward", "ortho", "forward"]))
    if name in ONE_AXIS:
        kwargs["axis"] = draw(st.integers(-nd, nd - 1))
        if draw(st.booleans()):
            kwargs["n"] = draw(st.integers(1, 7))
    else:
        k = 2 if name.endswith("2") else draw(st.integers(1, nd))
        axes = draw(st.permutations(range(nd)))[:k]
        if draw(st.booleans()) or name.endswith("2"):
            kwargs["axes"] = tuple(a - nd if draw(st.booleans()) else a for a in axes)
        elif k != nd:
            kwargs["axes"] = tuple(axes)
        if draw(st.booleans()):
            kwargs["s"] = tuple(draw(st.lists(st.integers(1, 7), min_size=k, max_size=k)))
            kwargs.setdefault("axes", tuple(axes))  # numpy 2 deprecates s without axes
    return name, shape, kwargs


def _no_empty_output(name, shape, kwargs):
    try:
        y = getattr(np.fft, name)(np.ones(shape, complex if name in COMPLEX_INPUT else float),
                                  **kwargs)
    except ValueError:  # numpy refuses this call itself (an irfft of 0 points)
        return False
    return y.size > 0


@settings(max_examples=80)
@given(transform_calls())
def test_any_sizes_axes_and_norms_against_central_differences(call):
    name, shape, kwargs = call
    if not _no_empty_output(name, shape, kwargs):
        return
    f = _scalar(name, shape, kwargs, _weights(name, shape, kwargs, 3))(np)
    rng = np.random.default_rng(4)
    x, v = rng.standard_normal((2, _size(name, shape)))
    h = 1e-5
    fd = (f(x + h * v) - f(x - h * v)) / (2 * h)
    scale = 1.0 + abs(fd)
    g = grad(f)(x)
    np.testing.assert_allclose(g @ v / scale, fd / scale, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(jvp(f, x, v)[1], g @ v, rtol=1e-10, atol=1e-10)
    # second order: the directional derivative of the gradient against a difference of gradients
    gd = (grad(f)(x + h * v) - grad(f)(x - h * v)) / (2 * h)
    np.testing.assert_allclose(hvp(f, x, v), gd, rtol=1e-6, atol=1e-6 * (1 + np.abs(gd).max()))


@st.composite
def primitive_calls(draw):
    """One of the four primitives with explicit sizes, axes and norm, on a random input shape."""
    prim = draw(st.sampled_from([fft.FFTN, fft.IFFTN, fft.RFFTN, fft.IRFFTN]))
    nd = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd)))
    k = draw(st.integers(1, nd))
    axes = tuple(draw(st.permutations(range(nd)))[:k])
    s = tuple(draw(st.lists(st.integers(1, 7), min_size=k, max_size=k)))
    norm = draw(st.sampled_from(["backward", "ortho", "forward"]))
    complex_input = prim is not fft.RFFTN and draw(st.booleans())
    return prim, shape, {"s": s, "axes": axes, "norm": norm}, complex_input


@given(primitive_calls(), st.integers(0, 2 ** 32 - 1))
def test_each_transpose_is_the_adjoint_for_the_real_inner_product(call, seed):
    prim, shape, params, complex_input = call
    rng = np.random.default_rng(seed)

    def rand(shape, complex_):
        return rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if complex_ else 0)

    def inner(a, b):
        return np.real(np.sum(np.conj(a) * b))
    v = rand(shape, complex_input)
    out = prim.impl(v, **params)
    assert tuple(prim.shape(v, **params)) == out.shape
    assert prim.dtype(v, **params) == out.dtype
    u = rand(out.shape, np.iscomplexobj(out))
    back = prim.transpose(0, u, v, **params)
    assert back.shape == v.shape and (complex_input or not np.iscomplexobj(back))
    np.testing.assert_allclose(inner(u, out), inner(back, v), rtol=1e-10, atol=1e-10)


# ---- closed forms, shifts, Jacobians, refusals ---------------------------------------------------

def test_parseval_gradient_in_closed_form():
    """sum |fft(x)|^2 = n sum x^2, so its gradient is 2 n x, in both modes."""
    x = np.random.default_rng(5).standard_normal(7)

    def f(z):
        return np.sum(np.abs(np.fft.fft(z)) ** 2)
    np.testing.assert_allclose(grad(f)(x), 14.0 * x, rtol=1e-13)
    np.testing.assert_allclose(jacfwd(f)(x), 14.0 * x, rtol=1e-13)
    np.testing.assert_allclose(hessian(f)(x), 14.0 * np.eye(7), rtol=1e-12, atol=1e-12)


def test_circular_convolution_by_rfft_against_its_matrix():
    """irfft(rfft(x) * rfft(k)) is the circular convolution of x with k: the matrix C with
    C[i, j] = k[(i - j) mod n]; its Jacobian is C, in both modes and through jacrev."""
    rng = np.random.default_rng(6)
    for n in (6, 7):
        x, k = rng.standard_normal((2, n))
        circulant = np.array([[k[(i - j) % n] for j in range(n)] for i in range(n)])

        def conv(z):
            return np.fft.irfft(np.fft.rfft(z) * np.fft.rfft(k), n)
        np.testing.assert_allclose(conv(x), circulant @ x, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(jacfwd(conv)(x), circulant, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(jacrev(conv)(x), circulant, rtol=1e-12, atol=1e-12)
        y, pullback = vjp(conv, x)
        np.testing.assert_allclose(pullback(np.ones(n)), circulant.T @ np.ones(n), rtol=1e-12)


def test_filtering_through_the_complex_transforms_against_autograd():
    """np.real(ifft(fft(x) * h)) with a complex filter h, and a power spectrum of an image."""
    rng = np.random.default_rng(7)
    x, img = rng.standard_normal(8), rng.standard_normal((4, 6))
    h = rng.standard_normal(8) + 1j * rng.standard_normal(8)

    def filt(m):
        return lambda z: m.sum(m.real(m.fft.ifft(m.fft.fft(z) * h)) ** 3)

    def power(m):
        return lambda z: m.sum(m.log(1.0 + m.abs(m.fft.fftshift(m.fft.fft2(z))) ** 2))
    for f, a in ((filt, x), (power, img)):
        np.testing.assert_allclose(grad(f(np))(a), autograd.grad(f(anp))(a), rtol=1e-11)
        np.testing.assert_allclose(hessian(f(np))(a), autograd.hessian(f(anp))(a), rtol=1e-9,
                                   atol=1e-10)


@pytest.mark.parametrize("axes", [None, 0, (1,), (-1, 0)])
@pytest.mark.parametrize("shift", ["fftshift", "ifftshift"])
def test_shifts_against_numpy_and_autograd(shift, axes):
    x = np.random.default_rng(8).standard_normal((5, 4))
    w = np.random.default_rng(9).standard_normal((5, 4))

    def f(m):
        return lambda z: m.sum(w * getattr(m.fft, shift)(z, axes) ** 2)
    np.testing.assert_array_equal(jvp(lambda z: getattr(np.fft, shift)(z, axes), x, x)[0],
                                  getattr(np.fft, shift)(x, axes))
    np.testing.assert_allclose(grad(f(np))(x), autograd.grad(f(anp))(x), rtol=1e-14)


def test_the_modulus_of_a_complex_value_and_its_convention_at_zero():
    """d|z| = Re(conj(z) dz) / |z|, 0 at z = 0 (as |x| at 0), to second order."""
    def f(m):
        return lambda x: m.sum(m.abs(x[:3] + 1j * x[3:]) ** 3 + m.angle(x[:3] - 2j * x[3:] + 1.0))
    x = np.array([0.0, 1.5, -0.3, 0.0, -2.0, 0.4])
    np.testing.assert_allclose(grad(f(np))(x), autograd.grad(f(anp))(x), rtol=1e-13)
    np.testing.assert_allclose(hessian(f(np))(x + 0.1), autograd.hessian(f(anp))(x + 0.1),
                               rtol=1e-10)
    assert grad(lambda x: np.abs(x * 1j))(0.0) == 0.0
    assert derivative(lambda x: np.abs(x * (1 + 1j)), 0.0) == 0.0
    assert derivative(lambda t: derivative(lambda x: np.abs(np.exp(1j * x) * x), t), 2.0) == 0.0


def test_complex_input_and_complex_output_are_refused_with_the_reason():
    with pytest.raises(TypeError, match="complex numbers are outside"):
        grad(lambda z: np.sum(np.abs(np.fft.fft(z))))(np.array([1.0 + 1j, 2.0]))
    with pytest.raises(TypeError, match="complex numbers are outside"):
        grad(lambda z: np.sum(np.fft.fft(z)))(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="complex numbers are outside"):
        jvp(lambda z: np.fft.rfft(z), np.ones(4), np.ones(4))
    with pytest.raises(NotImplementedError, match="repeated axis"):
        grad(lambda z: np.sum(np.abs(np.fft.fftn(z, axes=(0, 0)))))(np.ones((2, 2)))
    with pytest.raises(TypeError, match="numpy.maximum orders complex numbers"):
        grad(lambda z: np.sum(np.abs(np.maximum(np.fft.fft(z), 0.0))))(np.ones(3))
    with pytest.raises(TypeError, match="numpy.fmin orders complex numbers"):
        jvp(lambda z: np.sum(np.abs(np.fmin(0.5, np.fft.fft(z)))), np.ones(3), np.ones(3))


COMPLEX_ARITHMETIC = {  # real functions of real x through complex arithmetic
    "z ** 2.5": lambda m, x: m.sum(m.real((x[:2] + 1j * x[2:]) ** 2.5)),
    "1 / z": lambda m, x: m.sum(m.imag(1 / (x[:2] + 1j * x[2:]))),
    "z / w": lambda m, x: m.sum(m.real((x[:2] + 1j) / (x[2:] - 2j * x[:2]))),
    "|exp(i x) x + x|": lambda m, x: m.sum(m.abs(m.exp(1j * x) * x + x[::-1])),
    "conj, sums and products": lambda m, x: m.sum(m.real(m.conj(x * 1j + x[0]) * (x - 1j)) ** 2),
    "sqrt": lambda m, x: m.sum(m.abs(m.sqrt(x + 0.5j))),
    "scalars": lambda m, x: m.abs((x[0] + 1j * x[1]) * (2 - 1j) * x[2]) + m.real((x[3] * 1j) ** 2),
}


@pytest.mark.parametrize("name", list(COMPLEX_ARITHMETIC))
def test_complex_arithmetic_in_both_modes_to_second_order_against_autograd(name):
    def f(m):
        return lambda x: COMPLEX_ARITHMETIC[name](m, x)
    x = np.array([0.3, -1.2, 0.7, 2.0])
    want = autograd.grad(f(anp))(x)
    np.testing.assert_allclose(grad(f(np))(x), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jvp(f(np), x, x)[1], want @ x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hessian(f(np))(x), autograd.hessian(f(anp))(x), rtol=1e-10,
                               atol=1e-13)


A34 = (np.random.default_rng(10).standard_normal((3, 4))
       + 1j * np.random.default_rng(11).standard_normal((3, 4)))
PRODUCTS_AND_NORMS = {  # products with complex factors (conjugated in their transposes), norms
    "complex matrix @ x": lambda m, x: m.sum(m.real(A34 @ x) ** 2 + m.imag(A34 @ x) ** 3),
    "fft(x) @ fft(x reversed)": lambda m, x: m.real(m.fft.fft(x) @ m.fft.fft(x[::-1])),
    "einsum with a complex factor": lambda m, x: m.sum(m.abs(m.einsum("ij,j->i", A34, x * x))),
    "dot of two spectra": lambda m, x: m.imag(m.dot(m.fft.fft(x), m.fft.ifft(x) * 1j)),
    "vdot conjugates its first argument": lambda m, x: m.real(m.vdot(A34[0] * x, m.fft.fft(x))),
    "norm of a spectrum": lambda m, x: m.linalg.norm(m.fft.rfft(x)),
    "norm of a complex matrix": lambda m, x: m.linalg.norm(m.outer(m.fft.fft(x), x)),
    "var of a spectrum": lambda m, x: m.var(m.fft.fft(x)) + m.std(m.fft.fft(x * x)),
}


@pytest.mark.parametrize("name", list(PRODUCTS_AND_NORMS))
def test_products_and_norms_of_complex_values_against_numpy_and_autograd(name):
    def f(m):
        return lambda x: PRODUCTS_AND_NORMS[name](m, x)
    x = np.array([0.3, -1.2, 0.7, 2.0])
    np.testing.assert_allclose(jvp(f(np), x, x)[0], f(np)(x), rtol=1e-14)  # numpy's own value
    ours = grad(f(np))(x)
    h = 1e-6
    fd = [(f(np)(x + h * e) - f(np)(x - h * e)) / (2 * h) for e in np.eye(4)]
    np.testing.assert_allclose(ours, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(jvp(f(np), x, x)[1], ours @ x, rtol=1e-12)
    if not name.startswith(("var", "norm of a complex", "vdot")):  # autograd's var and norm
        # are not written for complex values, and vdot has no rule there
        np.testing.assert_allclose(ours, autograd.grad(f(anp))(x), rtol=1e-12)
        np.testing.assert_allclose(hessian(f(np))(x), autograd.hessian(f(anp))(x), rtol=1e-9,
                                   atol=1e-12)


def test_what_has_no_derivative_for_complex_values_is_refused():
    with pytest.raises(TypeError, match="linalg.inv of a complex matrix"):
        grad(lambda x: np.real(np.sum(np.linalg.inv(np.outer(x, x) * 1j + np.eye(2)))))(
            np.ones(2))
    with pytest.raises(TypeError, match="numpy.sign of a complex value"):
        jvp(lambda x: np.real(np.sign(x * 1j)), np.ones(2), np.ones(2))


def test_every_transform_autograd_differentiates_has_a_rule_here():
    """numpy.fft coverage, against the list of HIPS autograd's own rules (autograd/numpy/fft.py)."""
    import autograd.numpy.fft as autograd_fft
    from autograd.core import primitive_vjps

    from course_lib.rules import FUNCTIONS
    theirs = {name for name in dir(np.fft) if not name.startswith("_")
              and getattr(autograd_fft, name, None) in primitive_vjps}
    assert len(theirs) == 14
    assert {name for name in theirs if getattr(np.fft, name) not in FUNCTIONS} == set()
