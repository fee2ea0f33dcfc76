"""Tests of course_lib.cannon against independent truth: the closed-form range, scipy's adaptive
ODE solver, finite differences, HIPS autograd, and hand-computed values."""
import math

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.integrate import solve_ivp
from scipy.optimize import minimize_scalar

from course_lib import derivative, grad, jvp
from course_lib.cannon import (GRAVITY, AimResult, aim, closed_form_angle, closed_form_range,
                               landing_distance, max_range, mlp_apply, mlp_init, trajectory)

angles = st.floats(0.05, 1.52)
speeds = st.floats(0.5, 50.0)
heights = st.floats(0.0, 20.0)
drags = st.floats(0.0, 0.5)


def scipy_range(angle, speed, drag, height=0.0):
    """Landing distance from scipy's adaptive DOP853 with a ground event: an independent solver."""
    def rate(t, s):
        v = math.hypot(s[2], s[3])
        return [s[2], s[3], -drag * v * s[2], -GRAVITY - drag * v * s[3]]

    def ground(t, s):
        return s[1]
    ground.direction = -1  # falling through y = 0 (the launch itself may start at y = 0)
    vy = speed * math.sin(angle)
    flight = (vy + math.sqrt(vy * vy + 2 * GRAVITY * height)) / GRAVITY  # without drag
    sol = solve_ivp(rate, (0.0, 20 * flight), [0.0, height, speed * math.cos(angle), vy],
                    method="DOP853", rtol=1e-12, atol=1e-12, events=ground, max_step=flight / 50)
    times, states = sol.t_events[0], sol.y_events[0]
    return states[times > 1e-9][0][0]


# ---- the simulator against the closed form and an independent solver ----

def test_known_values_by_hand():
    # 45 degrees at 10 m/s: R = v^2 / g = 100 / 9.81.
    assert landing_distance(math.pi / 4, 10.0) == pytest.approx(10.193679918450561, rel=1e-12)
    # 30 degrees at 20 m/s from 5 m: vx = 17.3205, vy = 10, t = (10 + sqrt(100 + 98.1)) / 9.81.
    t = (10.0 + math.sqrt(198.1)) / 9.81
    assert landing_distance(math.pi / 6, 20.0, height=5.0) == pytest.approx(
        20.0 * math.cos(math.pi / 6) * t, rel=1e-12)


@given(angles, speeds, heights)
def test_simulator_matches_closed_form_without_drag(angle, speed, height):
    exact = closed_form_range(angle, speed, height)
    assert landing_distance(angle, speed, height=height, n_steps=100) == pytest.approx(exact,
                                                                                      rel=1e-6)


@settings(max_examples=8)
@given(angles, st.floats(1.0, 30.0), st.floats(0.01, 0.3), st.floats(0.0, 5.0))
def test_simulator_matches_scipy_with_drag(angle, speed, drag, height):
    ours = landing_distance(angle, speed, drag=drag, height=height, n_steps=400)
    assert ours == pytest.approx(scipy_range(angle, speed, drag, height), rel=1e-7)


def test_error_shrinks_like_dt_to_the_fourth():
    exact = scipy_range(0.9, 10.0, 0.2)
    errors = [abs(landing_distance(0.9, 10.0, drag=0.2, n_steps=n) - exact) for n in (20, 40)]
    assert 10 < errors[0] / errors[1] < 24  # 2^4 = 16 for a fourth-order method


def test_batch_equals_one_by_one_and_broadcasts():
    a = np.array([[0.2], [0.8], [1.3]])
    v = np.array([3.0, 7.0, 12.0, 20.0])
    batch = landing_distance(a, v, drag=0.05, height=1.0)
    assert batch.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            single = landing_distance(float(a[i, 0]), float(v[j]), drag=0.05, height=1.0)
            assert batch[i, j] == pytest.approx(single, rel=1e-13)


@given(angles, st.floats(1.0, 30.0))
def test_drag_shortens_the_range_monotonically(angle, speed):
    ranges = landing_distance(angle, speed, drag=np.array([0.0, 0.01, 0.05, 0.2, 1.0]), n_steps=60)
    assert np.all(np.diff(ranges) < 0)
    assert derivative(lambda k: landing_distance(angle, speed, drag=k, n_steps=60), 0.05) < 0


def test_trajectory_starts_at_the_cannon_and_ends_at_the_landing():
    t, x, y = trajectory(0.6, 12.0, drag=0.1, height=2.0)
    assert (x[0], y[0], t[0]) == (0.0, 2.0, 0.0)
    assert x[-1] == pytest.approx(landing_distance(0.6, 12.0, drag=0.1, height=2.0), rel=1e-12)
    assert y[-1] == 0.0 and np.all(y[:-1] >= 0) and np.all(np.diff(t) > 0)


# ---- every route to the derivative agrees ----

def _fd(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("drag", [0.0, 0.1])
def test_derivative_routes_agree(drag):
    a = np.array([0.3, 0.7, 1.2])
    speed, height = 10.0, 1.5

    def f(x):
        return landing_distance(x, speed, drag=drag, height=height, n_steps=50)
    dual = jvp(f, a, np.ones(3))[1]
    tape = grad(lambda x: np.sum(f(x)))(a)
    hips = autograd.elementwise_grad(
        lambda x: landing_distance(x, speed, drag=drag, height=height, n_steps=50, xp=anp))(a)
    assert_allclose(dual, hips, rtol=1e-12)
    assert_allclose(tape, hips, rtol=1e-12)
    assert_allclose(dual, _fd(f, a), rtol=1e-7)


def test_derivatives_match_the_closed_form_without_drag():
    a, v = 0.5, 8.0
    assert derivative(lambda x: landing_distance(x, v), a) == pytest.approx(
        2 * v**2 * math.cos(2 * a) / GRAVITY, rel=1e-10)
    assert grad(lambda s: landing_distance(a, s))(v) == pytest.approx(
        2 * v * math.sin(2 * a) / GRAVITY, rel=1e-10)
    # Second derivative in angle: -4 v^2 sin(2a) / g, forward-over-forward and reverse-over-reverse.
    d2 = -4 * v**2 * math.sin(2 * a) / GRAVITY
    assert derivative(lambda x: derivative(lambda y: landing_distance(y, v, n_steps=20), x),
                      a) == pytest.approx(d2, rel=1e-9)
    assert grad(lambda x: grad(lambda y: landing_distance(y, v, n_steps=20))(x))(a) == \
        pytest.approx(d2, rel=1e-9)


def test_derivatives_in_drag_and_height_agree_with_autograd():
    def f(k, h, xp=np):
        return landing_distance(0.8, 9.0, drag=k, height=h, n_steps=40, xp=xp)
    ours = grad(f, argnums=(0, 1))(0.07, 2.0)
    hips = autograd.grad(lambda k, h: f(k, h, anp), argnum=0)(0.07, 2.0), \
        autograd.grad(lambda k, h: f(k, h, anp), argnum=1)(0.07, 2.0)
    assert_allclose(ours, hips, rtol=1e-12)
    assert ours[0] == pytest.approx(_fd(lambda k: f(k, 2.0), 0.07), rel=1e-7)


# ---- aiming ----

@pytest.mark.parametrize("arc", ["low", "high"])
def test_newton_aims_both_arcs_within_ten_iterations(arc):
    targets = np.linspace(0.5, 10.0, 12)
    result = aim(targets, 10.0, arc=arc, n_steps=8)
    assert isinstance(result, AimResult) and result.converged and result.nit <= 10
    assert_allclose(result.angle, closed_form_angle(targets, 10.0, arc=arc), atol=1e-7)
    assert np.all(result.error < 1e-6)


def test_newton_aims_with_drag_and_height_on_the_chosen_arc():
    targets = np.array([4.5, 5.5, 6.5])  # from 1 m up, a flat shot already carries 3.9 m
    _, best = max_range(10.0, drag=0.1, height=1.0, n_steps=40)
    low = aim(targets, 10.0, drag=0.1, height=1.0, n_steps=40)
    high = aim(targets, 10.0, drag=0.1, height=1.0, n_steps=40, arc="high")
    assert np.all(low.angle < best) and np.all(high.angle > best)
    for r in (low, high):
        assert r.converged and r.nit <= 10
        assert_allclose(landing_distance(r.angle, 10.0, drag=0.1, height=1.0, n_steps=40),
                        targets, atol=1e-6)


def test_gradient_descent_aims_too():
    targets = np.array([2.0, 7.0])
    result = aim(targets, 10.0, method="gd", n_steps=8, tol=1e-6)
    assert result.converged
    assert_allclose(result.angle, closed_form_angle(targets, 10.0), atol=1e-6)


def test_aiming_with_speed_and_angle_free_lands_on_target():
    targets = np.array([3.0, 20.0])
    result = aim(targets, None, drag=0.05, n_steps=40)
    assert result.converged
    assert_allclose(landing_distance(result.angle, result.speed, drag=0.05, n_steps=40), targets,
                    atol=1e-6)


def test_aiming_with_speed_free_refuses_a_target_beyond_reach_at_max_speed():
    # Without drag the farthest shot at speed v lands at v^2 / g (closed form).
    limit = 30.0
    reachable = aim(0.8 * limit**2 / 9.81, None, max_speed=limit)
    assert reachable.converged and reachable.speed <= limit
    with pytest.raises(ValueError, match="out of reach at speeds up to 30 m/s.*91.7431 m"):
        aim(limit**2 / 9.81 + 0.5, None, max_speed=limit)
    # With drag 0.1 1/m the reach grows only logarithmically with speed: 100 m is never reached by
    # a cannon (a free-speed search once returned 108,762 m/s without a word).
    with pytest.raises(ValueError, match="out of reach.*drag 0.1 1/m"):
        aim(100.0, None, drag=0.1)


def test_polishing_from_a_start_angle_stays_on_its_arc():
    start = np.array([0.2, 1.3])
    result = aim(np.array([6.0, 6.0]), 10.0, angle0=start, n_steps=8)
    assert_allclose(result.angle, [closed_form_angle(6.0, 10.0), closed_form_angle(6.0, 10.0,
                                                                                  arc="high")],
                    atol=1e-7)


@settings(max_examples=30)
@given(st.floats(0.05, 0.99), speeds, heights, st.sampled_from(["low", "high"]))
def test_closed_form_angle_inverts_closed_form_range(fraction, speed, height, arc):
    reach, _ = max_range(speed, height=height)
    target = fraction * reach
    try:
        angle = closed_form_angle(target, speed, height, arc=arc)
    except ValueError as err:  # a low arc from a height may need a downward shot
        assert arc == "low" and height > 0 and "downward" in str(err)
        return
    assert closed_form_range(angle, speed, height) == pytest.approx(target, rel=1e-9)


def test_max_range_closed_form_and_with_drag():
    reach, best = max_range(10.0)
    assert (reach, best) == (pytest.approx(100 / GRAVITY), pytest.approx(math.pi / 4))
    reach, best = max_range(10.0, drag=0.1, n_steps=40)
    scipy_best = minimize_scalar(lambda a: -landing_distance(a, 10.0, drag=0.1, n_steps=40),
                                 bounds=(0.1, 1.4), method="bounded", options={"xatol": 1e-10})
    assert best == pytest.approx(scipy_best.x, abs=1e-6)
    assert reach == pytest.approx(-scipy_best.fun, rel=1e-12)
    assert best < math.pi / 4  # drag favours a flatter shot


# ---- bad input gives a clear error, never a NaN ----

@pytest.mark.parametrize("kwargs, message", [
    (dict(angle=0.5, speed=-1.0), "speed must be positive"),
    (dict(angle=0.5, speed=0.0), "speed must be positive"),
    (dict(angle=0.0, speed=5.0), r"angle must lie in \(0, pi/2\)"),
    (dict(angle=math.pi / 2, speed=5.0), r"angle must lie in \(0, pi/2\)"),
    (dict(angle=np.array([0.3, 2.0]), speed=5.0), "got 2"),
    (dict(angle=45.0, speed=5.0), "radians"),
    (dict(angle=float("nan"), speed=5.0), "NaN"),
    (dict(angle=0.5, speed=5.0, drag=-0.1), "drag must be >= 0"),
    (dict(angle=0.5, speed=5.0, height=-1.0), "height must be >= 0"),
    (dict(angle=0.5, speed=5.0, n_steps=2), "n_steps must be an integer >= 4"),
])
def test_bad_launch_raises_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        landing_distance(**kwargs)


def test_bad_input_is_caught_under_every_route():
    with pytest.raises(ValueError, match="speed must be positive"):
        derivative(lambda v: landing_distance(0.5, v), -2.0)
    with pytest.raises(ValueError, match="angle must lie"):
        grad(lambda a: landing_distance(a, 5.0))(1.7)
    with pytest.raises(ValueError, match="speed must be positive"):
        autograd.grad(lambda v: landing_distance(0.5, v, xp=anp))(-2.0)


def test_unreachable_or_invalid_targets_raise():
    with pytest.raises(ValueError, match="beyond reach.*at most 10.19"):
        aim(11.0, 10.0)
    with pytest.raises(ValueError, match="beyond reach"):
        aim(np.array([3.0, 9.0]), 10.0, drag=0.1, n_steps=20)
    with pytest.raises(ValueError, match="positive finite"):
        aim(-1.0, 10.0)
    with pytest.raises(ValueError, match="arc must be"):
        aim(5.0, 10.0, arc="middle")
    with pytest.raises(ValueError, match="method must be"):
        aim(5.0, 10.0, method="bisection")
    with pytest.raises(ValueError, match="downward"):
        aim(1.0, 10.0, height=10.0)
    with pytest.raises(ValueError, match="beyond reach"):
        closed_form_angle(20.0, 10.0)


# ---- the small network ----

def test_mlp_shapes_and_gradient_agree_with_autograd():
    params = mlp_init((2, 8, 8, 1), rng=0)
    assert [p.shape for p in params] == [(2, 8), (8,), (8, 8), (8,), (8, 1), (1,)]
    x = np.random.default_rng(1).normal(size=(5, 2))
    assert mlp_apply(params, x).shape == (5, 1)

    def loss(ps, xp=np):
        return xp.sum(mlp_apply(ps, x, xp=xp) ** 2)
    ours = grad(loss)(params)
    hips = autograd.grad(lambda ps: loss(ps, anp))(params)
    assert len(ours) == len(params)
    for o, h, p in zip(ours, hips, params):
        assert o.shape == p.shape
        assert_allclose(o, h, rtol=1e-12, atol=1e-14)


def test_mlp_rejects_bad_shapes():
    params = mlp_init((1, 4, 2))
    with pytest.raises(ValueError, match=r"shape \(batch, 1\)"):
        mlp_apply(params, np.ones(3))
    with pytest.raises(ValueError, match="list"):
        mlp_apply(params[:3], np.ones((3, 1)))
    with pytest.raises(ValueError, match="at least two"):
        mlp_init((3,))


# ---- positions at given times (chapter 6's estimation) ----

def test_positions_match_solve_ivp_with_drag():
    from scipy.integrate import solve_ivp

    from course_lib import positions
    angle, speed, drag, height = 0.9, 60.0, 0.005, 2.0
    times = np.linspace(0.5, 6.0, 12)

    def rate(_, s):
        v = np.hypot(s[2], s[3])
        return [s[2], s[3], -drag * v * s[2], -9.81 - drag * v * s[3]]
    sol = solve_ivp(rate, (0.0, 6.0), [0.0, height, speed * np.cos(angle), speed * np.sin(angle)],
                    t_eval=times, method="DOP853", rtol=1e-12, atol=1e-10)
    got = positions(angle, speed, times, drag=drag, height=height, substeps=8)
    np.testing.assert_allclose(got, sol.y[:2].T, atol=1e-6)


def test_positions_gradient_matches_central_differences():
    from course_lib import grad, positions
    times = np.array([1.0, 2.5, 4.0])

    def f(q):
        return np.sum(positions(q[0], q[1], times, drag=q[2]) ** 2)
    q, h = np.array([0.8, 40.0, 0.01]), 1e-6
    fd = [(f(q + h * e) - f(q - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(grad(f)(q), fd, rtol=1e-6)


def test_positions_refuse_bad_times_and_negative_drag():
    from course_lib import positions
    with pytest.raises(ValueError, match="increasing times"):
        positions(0.8, 40.0, [2.0, 1.0])
    with pytest.raises(ValueError, match="drag must be"):
        positions(0.8, 40.0, [1.0], drag=-0.1)
    with pytest.raises(ValueError, match="substeps"):
        positions(0.8, 40.0, [1.0], substeps=0)
