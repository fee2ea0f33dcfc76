"""Tests of course_lib.batching: whole Jacobians in one pass (jacfwd, jacrev, hessian) against HIPS
autograd, through every batching rule, the one-at-a-time fallback and nesting."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from course_lib import hessian, jacfwd, jacrev
from course_lib.batching import Batched, stack_of

RNG = np.random.default_rng(2)
A = RNG.standard_normal((4, 3))
S = RNG.standard_normal((2, 3, 3)) + 3 * np.eye(3)
X = RNG.standard_normal(3)

FUNCTIONS = {  # name: f(m, x) for x of shape (3,)
    "matmul, matrix @ x": lambda m, x: m.tanh(A @ x),
    "matmul, x @ matrix": lambda m, x: m.sin(x @ A.T),
    "matmul, a stack of matrices @ x (one at a time)": lambda m, x: m.matmul(S, x) ** 2,
    "reshape, transpose, sum": lambda m, x: m.sum(m.transpose(m.reshape(m.outer(x, x), (9, 1))),
                                                  axis=0),
    "broadcast, where": lambda m, x: m.where(x > 0, x, 2.0 * x) + m.broadcast_to(x[:1], (3,)),
    "indexing with repeats, concatenate": lambda m, x: m.concatenate([x[[0, 0, 2]], x[1:] ** 2]),
    "indexing with separated arrays (one at a time)": lambda m, x: m.reshape(
        m.outer(x, x), (3, 1, 3))[[0, 2], :, [1, 1]],
    "cumsum, einsum": lambda m, x: m.cumsum(m.einsum("ij,j->i", A, x) * x[0]),
    "solve, det, inv": lambda m, x: m.linalg.solve(S[0] + m.diag(x), x) * m.linalg.det(
        S[1] + m.outer(x, x)) + m.sum(m.linalg.inv(S[0] * x[0])),
    "max, sort": lambda m, x: m.concatenate([m.max(m.outer(x, x), axis=0), m.sort(x * 2.0)]),
    "fft2, rfft, irfft, real, imag, conj": lambda m, x: m.concatenate([
        m.ravel(m.real(m.fft.fft2(m.outer(x, x[:2])) * (1 + 2j))),
        m.fft.irfft(m.fft.rfft(m.concatenate([x, x ** 2])) ** 2, 4),
        m.imag(m.conj(m.fft.ifft(x * 1j) * (2 - 1j)))]),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jacobians_in_one_pass_against_autograd(name):
    f = FUNCTIONS[name]
    want = autograd.jacobian(lambda z: f(anp, z))(X)
    np.testing.assert_allclose(jacfwd(lambda z: f(np, z))(X), want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jacrev(lambda z: f(np, z))(X), want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", ["matmul, matrix @ x", "solve, det, inv", "cumsum, einsum",
                                  "fft2, rfft, irfft, real, imag, conj"])
def test_second_order_by_every_nesting(name):
    f = FUNCTIONS[name]
    scalar = lambda m: lambda z: m.sum(f(m, z) ** 2)  # noqa: E731
    want = autograd.hessian(scalar(anp))(X)
    for label, h in [("hessian", hessian(scalar(np))), ("fwd-over-fwd", jacfwd(jacfwd(scalar(np)))),
                     ("fwd-over-rev", jacfwd(jacrev(scalar(np)))),
                     ("rev-over-fwd", jacrev(jacfwd(scalar(np))))]:
        np.testing.assert_allclose(h(X), want, rtol=1e-10, atol=1e-12, err_msg=label)


def test_a_batch_acts_on_each_of_its_values():
    stack = RNG.standard_normal((5, 3, 4))
    b = stack_of(stack)
    assert b.shape == (3, 4) and b.ndim == 2
    out = np.sum(np.sin(b) * np.arange(4.0), axis=0)[1:] @ np.ones((3, 2))
    assert isinstance(out, Batched)
    want = [np.sum(np.sin(s) * np.arange(4.0), axis=0)[1:] @ np.ones((3, 2)) for s in stack]
    np.testing.assert_allclose(out.value, np.stack(want), rtol=1e-14)


def test_an_output_that_does_not_depend_on_the_input_has_zero_jacobians():
    f = lambda x: np.ones(2) * 3.0  # noqa: E731
    np.testing.assert_array_equal(jacfwd(f)(X), np.zeros((2, 3)))
    np.testing.assert_array_equal(jacrev(f)(X), np.zeros((2, 3)))
