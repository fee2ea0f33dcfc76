"""Tests of course_lib.control against independent truth: scipy's discrete algebraic Riccati solver,
python-control's dlqr, Gymnasium's Pendulum-v1, HIPS autograd and central differences."""
import autograd
import autograd.numpy as anp
import control as ct
import gymnasium
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.linalg import solve_discrete_are

from course_lib import grad, jacfwd, jvp, vjp
from course_lib.control import (PENDULUM, costate, double_integrator, ilqr, linear_step,
                                lq_value_and_grad, lqr, lqr_controls, lqr_gain, pendulum_step,
                                pendulum_torque, quadratic_cost, rollout, shooting,
                                swing_up_cost, swing_up_step)

Q2, R1, QF2 = np.diag([1.0, 0.1]), np.array([[0.1]]), np.diag([10.0, 1.0])
X0 = np.array([1.0, 0.0])


def random_system(seed):
    """A random (A, B, Q, R): B of full rank almost surely, so (A, B) is controllable."""
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 5), rng.integers(1, 3)
    A = rng.normal(size=(n, n)) * rng.uniform(0.3, 1.5) / np.sqrt(n)
    B = rng.normal(size=(n, m))
    M, N = rng.normal(size=(n, n)), rng.normal(size=(m, m))
    return A, B, M @ M.T + 0.1 * np.eye(n), N @ N.T + 0.1 * np.eye(m)


def wrap(theta):
    """The angle in [-pi, pi): its distance from the top (theta = 0)."""
    return (theta + np.pi) % (2 * np.pi) - np.pi


# ---- the infinite-horizon gain against scipy and python-control ----

@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1))
def test_infinite_horizon_gain_matches_scipy_and_python_control(seed):
    A, B, Q, R = random_system(seed)
    K, P = lqr_gain(A, B, Q, R)
    P_scipy = solve_discrete_are(A, B, Q, R)
    K_scipy = np.linalg.solve(R + B.T @ P_scipy @ B, B.T @ P_scipy @ A)
    K_ct, P_ct, _ = ct.dlqr(A, B, Q, R)
    scale = max(1.0, np.abs(P_scipy).max())
    assert_allclose(P, P_scipy, rtol=1e-8, atol=1e-9 * scale)
    assert_allclose(K, K_scipy, rtol=1e-7, atol=1e-8 * max(1.0, np.abs(K_scipy).max()))
    assert_allclose(K, K_ct, rtol=1e-7, atol=1e-8 * max(1.0, np.abs(K_scipy).max()))
    assert np.abs(np.linalg.eigvals(A - B @ K)).max() < 1.0


def test_finite_horizon_tends_to_the_infinite_horizon_gain():
    A, B = double_integrator(0.1)
    K_inf, P_inf = lqr_gain(A, B, Q2, R1)
    Ks, Ps = lqr(A, B, Q2, R1, 400)
    assert Ks.shape == (400, 1, 2) and Ps.shape == (401, 2, 2)
    assert_allclose(Ks[0], K_inf, rtol=1e-9)
    assert_allclose(Ps[0], solve_discrete_are(A, B, Q2, R1), rtol=1e-9)


def test_a_known_scalar_riccati_step_by_hand():
    # x+ = x + u, q = r = 1, P_T = 1: K = P / (1 + P) = 1/2, P_prev = 1 + P - P^2 / (1 + P) = 3/2.
    Ks, Ps = lqr([[1.0]], [[1.0]], [[1.0]], [[1.0]], 1)
    assert Ks[0, 0, 0] == pytest.approx(0.5) and Ps[0, 0, 0] == pytest.approx(1.5)
    # The fixed point: P = 1 + P / (1 + P), so P = (1 + sqrt(5)) / 2.
    assert lqr_gain([[1.0]], [[1.0]], [[1.0]], [[1.0]])[1][0, 0] == pytest.approx(
        (1 + np.sqrt(5)) / 2, rel=1e-12)


# ---- LQR three ways: Riccati, shooting, the costate ----

@pytest.fixture(scope="module")
def lq_problem():
    A, B = double_integrator(0.1)
    T = 30
    us, xs = lqr_controls(A, B, Q2, R1, X0, T, QF2)
    return A, B, T, us, xs


def test_riccati_controls_equal_newton_shooting_in_one_step(lq_problem):
    A, B, T, us, xs = lq_problem
    result = shooting(linear_step(A, B), quadratic_cost(Q2, R1, QF2), X0, np.zeros((T, 1)),
                      method="newton", gtol=1e-9)
    assert result.success and result.nit == 1
    assert np.abs(result.us - us).max() < 1e-8
    _, Ps = lqr(A, B, Q2, R1, T, QF2)
    assert result.fun == pytest.approx(0.5 * X0 @ Ps[0] @ X0, rel=1e-12)  # Bellman's value


def test_riccati_controls_satisfy_the_costate_condition(lq_problem):
    A, B, T, us, xs = lq_problem
    lams = costate(A, Q2, xs, QF2)
    # Pontryagin: at the optimum R u_t + B^T lambda_{t+1} = 0, the gradient of the cost.
    assert np.abs(us @ R1 + lams[1:] @ B).max() < 1e-8
    _, g = lq_value_and_grad(A, B, Q2, R1, X0, us, QF2)
    assert np.abs(g).max() < 1e-8


def test_costate_is_the_tapes_adjoint_of_the_states(lq_problem):
    A, B, T, _, _ = lq_problem
    us = np.random.default_rng(0).normal(size=(T, 1))
    step = linear_step(A, B)
    xs = rollout(step, X0, us)
    lams = costate(A, Q2, xs, QF2)
    partial = np.vstack([xs[:-1] @ Q2, xs[-1:] @ QF2])  # d cost / d x_t, holding the rest fixed
    for t in range(T + 1):
        _, pullback = vjp(lambda x: rollout(step, x, us[t:]), xs[t])
        assert_allclose(pullback(partial[t:]), lams[t], rtol=1e-13, atol=1e-13)
    cost = quadratic_cost(Q2, R1, QF2)
    tape = grad(lambda u: cost(rollout(step, X0, u), u))(us)
    assert_allclose(lq_value_and_grad(A, B, Q2, R1, X0, us, QF2)[1], tape, rtol=1e-13, atol=1e-13)


def test_lbfgs_shooting_reaches_the_riccati_controls(lq_problem):
    A, B, T, us, _ = lq_problem
    result = shooting(linear_step(A, B), quadratic_cost(Q2, R1, QF2), X0, np.zeros((T, 1)),
                      method="lbfgs", gtol=1e-7)
    assert result.success
    assert np.abs(result.us - us).max() < 1e-5  # |u - u*| <= |grad| / lambda_min, lambda_min >= 0.1


def test_ilqr_solves_a_linear_quadratic_problem_in_one_iteration(lq_problem):
    A, B, T, us, _ = lq_problem
    result = ilqr(linear_step(A, B), quadratic_cost(Q2, R1, QF2), X0, np.zeros((T, 1)),
                  gtol=1e-9)
    assert result.success and result.nit == 1
    assert np.abs(result.us - us).max() < 1e-8


# ---- rollout derivatives against autograd and central differences ----

def test_rollout_derivatives_match_autograd_and_central_differences():
    rng = np.random.default_rng(1)
    x0, us = np.array([2.5, -0.3]), rng.normal(size=(12, 1))

    def final_height(u, xp=np):
        return xp.sum(xp.cos(rollout(lambda x, v: pendulum_step(x, v, xp), x0, u, xp)[:, 0]))
    ours = grad(final_height)(us)
    hips = autograd.grad(lambda u: final_height(u, anp))(us)
    assert_allclose(ours, hips, rtol=1e-12, atol=1e-14)
    direction = rng.normal(size=us.shape)
    h = 1e-6
    central = (final_height(us + h * direction) - final_height(us - h * direction)) / (2 * h)
    assert jvp(final_height, us, direction)[1] == pytest.approx(central, rel=1e-7, abs=1e-9)
    assert np.sum(ours * direction) == pytest.approx(central, rel=1e-7, abs=1e-9)


def test_rollout_jacobian_forward_equals_reverse():
    A, B = double_integrator(0.2)
    us = np.random.default_rng(2).normal(size=(5, 1))
    J = jacfwd(lambda x: rollout(linear_step(A, B), x, us))(X0)
    assert J.shape == (6, 2, 2)
    for t in range(6):
        assert_allclose(J[t], np.linalg.matrix_power(A, t), rtol=1e-14, atol=1e-15)


# ---- the pendulum against Gymnasium ----

def test_pendulum_step_matches_gymnasium():
    env = gymnasium.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(3)
    for _ in range(300):
        state = np.array([rng.uniform(-8, 8), rng.uniform(-9, 9)])
        torque = np.array([rng.uniform(-3, 3)])  # beyond the limit too: both clip
        env.state = state.copy()
        env.step(torque)
        assert_allclose(pendulum_step(state, torque), env.state, rtol=1e-15, atol=1e-15)
    assert (env.dt, env.g, env.m, env.l, env.max_speed, env.max_torque) == tuple(
        PENDULUM[k] for k in ("dt", "g", "m", "l", "max_speed", "max_torque"))


@pytest.fixture(scope="module")
def swing_up():
    T = 60
    x0 = np.array([np.pi, 0.0])  # hanging down, at rest
    vs0 = np.zeros((T, 1))
    vs0[:5] = 1.0  # a first push, so the first guess is not the bottom's stationary point

    def cost(xs, vs):
        return swing_up_cost(xs, vs, final=100.0)
    return x0, vs0, cost, ilqr(swing_up_step, cost, x0, vs0, gtol=1e-6)


def test_ilqr_reaches_the_optimum_newton_shooting_reaches(swing_up):
    x0, vs0, cost, result = swing_up
    shot = shooting(swing_up_step, cost, x0, vs0, method="newton", gtol=1e-6)
    assert result.success and shot.success
    assert result.fun == pytest.approx(shot.fun, rel=1e-8)
    assert result.nit < shot.nit + 20
    assert abs(wrap(result.xs[-1, 0])) < 0.1 and abs(wrap(shot.xs[-1, 0])) < 0.1


def test_swing_up_replayed_in_gymnasium_ends_upright(swing_up):
    x0, _, _, result = swing_up
    env = gymnasium.make("Pendulum-v1")
    env.reset(seed=0)
    env.unwrapped.state = x0.copy()
    for v in result.us:
        env.step(pendulum_torque(v))
    theta, speed = env.unwrapped.state
    assert abs(wrap(theta)) < 0.1 and abs(speed) < 0.5
    assert_allclose(env.unwrapped.state, result.xs[-1], rtol=1e-12, atol=1e-12)


def test_ilqr_reports_regularisation_where_q_uu_is_indefinite():
    # At the bottom the cost 2 (1 - cos theta) curves downwards: Q_uu starts indefinite.
    T = 20
    vs0 = np.zeros((T, 1))
    vs0[:3] = 1.0
    result = ilqr(swing_up_step, lambda xs, vs: swing_up_cost(xs, vs, effort=1e-4),
                  np.array([np.pi, 0.0]), vs0, maxiter=3)
    assert result.n_regularised >= 1 and max(result.history["mu"]) > 0


# ---- bad input gives a clear error ----

def test_mismatched_shapes_are_named():
    A, B = double_integrator()
    with pytest.raises(ValueError, match=r"B must have shape \(n, m\) = \(2, m\)"):
        lqr_gain(A, B.T, Q2, R1)
    with pytest.raises(ValueError, match=r"Q must have shape \(2, 2\)"):
        lqr(A, B, np.eye(3), R1, 10)
    with pytest.raises(ValueError, match=r"R must have shape \(1, 1\)"):
        lqr(A, B, Q2, np.eye(2), 10)
    with pytest.raises(ValueError, match="square"):
        lqr_gain(np.ones((2, 3)), B, Q2, R1)
    with pytest.raises(ValueError, match="positive definite"):
        lqr_gain(A, B, Q2, [[0.0]])
    with pytest.raises(ValueError, match="horizon must be an integer"):
        lqr(A, B, Q2, R1, 0)
    with pytest.raises(ValueError, match=r"us must have shape \(T, m\)"):
        rollout(linear_step(A, B), X0, np.zeros(5))


def test_a_system_that_cannot_be_stabilised_is_refused():
    A = np.diag([1.2, 0.5])
    B = np.array([[0.0], [1.0]])  # the unstable mode 1.2 gets no input
    with pytest.raises(ValueError, match="not stabilisable.*1.2"):
        lqr_gain(A, B, np.eye(2), np.eye(1))
    lqr(A, B, np.eye(2), np.eye(1), 10)  # a finite horizon is still fine
