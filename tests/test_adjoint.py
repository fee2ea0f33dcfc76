"""Tests of course_lib.adjoint against independent truth: scipy's solve_ivp on the sensitivity
equations (Jacobians written by hand), a closed form, and central differences of the solver."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.integrate import solve_ivp

from course_lib import grad
from course_lib.adjoint import adjoint_gradient, forward_sensitivities, rk4, rk4_step


def damped(z, p):
    """A damped pendulum: angle, angular speed; p = (g / l, damping)."""
    return np.stack([z[1], -p[0] * np.sin(z[0]) - p[1] * z[1]])


def damped_truth(z0, p, t1):
    """z(t1) and dz(t1)/d(z0, p) by solve_ivp on the sensitivity equations, written by hand."""
    def rate(_, w):
        z, S = w[:2], w[2:].reshape(2, 4)
        fz = np.array([[0.0, 1.0], [-p[0] * np.cos(z[0]), -p[1]]])
        fp = np.array([[0.0, 0.0], [-np.sin(z[0]), -z[1]]])
        return np.concatenate([damped(z, p), (fz @ S + np.hstack([np.zeros((2, 2)), fp])).ravel()])
    w0 = np.concatenate([z0, np.hstack([np.eye(2), np.zeros((2, 2))]).ravel()])
    sol = solve_ivp(rate, (0.0, t1), w0, method="DOP853", rtol=1e-13, atol=1e-15)
    return sol.y[:2, -1], sol.y[2:, -1].reshape(2, 4)


Z0, P, T1 = np.array([1.0, 0.0]), np.array([1.0, 0.8]), 3.0


def test_forward_sensitivities_match_solve_ivp():
    z_want, S_want = damped_truth(Z0, P, T1)
    z, S = forward_sensitivities(damped, Z0, P, T1, 400)
    assert_allclose(z, z_want, atol=1e-10)
    assert_allclose(S, S_want, atol=1e-10)


def test_solve_ivp_truth_matches_central_differences_of_solve_ivp():
    _, S_want = damped_truth(Z0, P, T1)
    w, h = np.concatenate([Z0, P]), 1e-5
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        up = damped_truth((w + e)[:2], (w + e)[2:], T1)[0]
        down = damped_truth((w - e)[:2], (w - e)[2:], T1)[0]
        assert_allclose((up - down) / (2 * h), S_want[:, j], atol=1e-8)


def test_backprop_through_rk4_equals_forward_sensitivities_to_rounding():
    # differentiating RK4's steps and integrating the sensitivity equations by RK4 are the same
    # computation, step by step
    _, S = forward_sensitivities(damped, Z0, P, T1, 37)
    for i in range(2):
        g = grad(lambda w: rk4(damped, w[:2], w[2:], T1, 37)[-1][i])(np.concatenate([Z0, P]))
        assert_allclose(g, S[i], atol=1e-13)


@given(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0))
def test_backprop_through_rk4_matches_central_differences(theta, speed):
    z0 = np.array([theta, speed])
    g = grad(lambda z: rk4(damped, z, P, 1.0, 20)[-1][0])(z0)
    h = 1e-6
    fd = [(rk4(damped, z0 + h * e, P, 1.0, 20)[-1][0] - rk4(damped, z0 - h * e, P, 1.0, 20)[-1][0])
          / (2 * h) for e in np.eye(2)]
    assert_allclose(g, fd, atol=1e-7)


def test_the_adjoint_converges_like_rk4_with_checkpoints():
    _, S_want = damped_truth(Z0, P, T1)
    errors = []
    for n in [50, 100, 200]:
        gz, gp, _ = adjoint_gradient(damped, Z0, P, T1, n, np.array([1.0, 0.0]), checkpoint_every=1)
        errors.append(np.abs(np.concatenate([gz, gp]) - S_want[0]).max())
    assert errors[-1] < 1e-8
    assert all(8 < a / b < 32 for a, b in zip(errors, errors[1:]))  # fourth order


def test_the_adjoint_of_a_harmonic_oscillator_matches_its_closed_form():
    # z'' = -w^2 z, no damping: nothing decays, so the re-solved state is accurate without
    # checkpoints. theta(t1) = theta0 cos(w t1) + v0 / w sin(w t1).
    def spring(z, p):
        return np.stack([z[1], -p[0] ** 2 * z[0]])
    theta0, v0, w, t1 = 0.7, -0.3, 1.3, 4.0
    gz, gp, zT = adjoint_gradient(spring, np.array([theta0, v0]), np.array([w]), t1, 2000,
                                  np.array([1.0, 0.0]))
    c, s = np.cos(w * t1), np.sin(w * t1)
    assert_allclose(zT[0], theta0 * c + v0 / w * s, atol=1e-12)
    assert_allclose(gz, [c, s / w], atol=1e-11)
    d_w = -theta0 * t1 * s - v0 / w ** 2 * s + v0 / w * t1 * c
    assert_allclose(gp, [d_w], atol=1e-11)


def test_without_checkpoints_the_adjoint_of_a_damped_system_is_inaccurate_and_checkpoints_fix_it():
    z0, p, t1 = np.array([1.0, 0.0]), np.array([1.0, 5.0]), 6.0
    _, S_want = damped_truth(z0, p, t1)
    plain = np.concatenate(adjoint_gradient(damped, z0, p, t1, 100, np.array([1.0, 0.0]))[:2])
    fixed = np.concatenate(adjoint_gradient(damped, z0, p, t1, 100, np.array([1.0, 0.0]),
                                            checkpoint_every=10)[:2])
    assert np.abs(plain - S_want[0]).max() > 1.0
    assert np.abs(fixed - S_want[0]).max() < 1e-6


def test_one_rk4_step_is_exact_to_fifth_order():
    # y' = y: one step multiplies by 1 + h + h^2/2 + h^3/6 + h^4/24
    h = 0.1
    got = rk4_step(lambda z, p: z, np.array([1.0]), None, h)
    assert_allclose(got, [1 + h + h ** 2 / 2 + h ** 3 / 6 + h ** 4 / 24], rtol=1e-15)


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="n_steps"):
        rk4(damped, Z0, P, 1.0, 0)
    with pytest.raises(ValueError, match="1-D arrays"):
        forward_sensitivities(damped, Z0[None], P, 1.0, 10)
    with pytest.raises(ValueError, match="t1 must be"):
        adjoint_gradient(damped, Z0, P, -1.0, 10, np.zeros(2))
    with pytest.raises(ValueError, match="a1"):
        adjoint_gradient(damped, Z0, P, 1.0, 10, np.zeros(3))
    with pytest.raises(ValueError, match="checkpoint_every"):
        adjoint_gradient(damped, Z0, P, 1.0, 10, np.zeros(2), checkpoint_every=0)
