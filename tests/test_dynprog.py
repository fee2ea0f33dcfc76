"""Tests of course_lib.dynprog against independent truth: scipy's grid interpolator, exhaustive
search over every control sequence, and the Riccati recursion."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.interpolate import RegularGridInterpolator

from course_lib import lqr, pendulum_step
from course_lib.dynprog import greedy_control, grid_interpolate, value_iteration

AXES = [np.linspace(-1.0, 2.0, 7), np.linspace(0.0, 1.0, 5), np.linspace(-3.0, 3.0, 4)]


# ---- interpolation ----

@given(st.integers(0, 2**31 - 1))
def test_interpolation_matches_scipy_inside_the_grid(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=tuple(a.size for a in AXES))
    points = np.stack([rng.uniform(a[0], a[-1], size=20) for a in AXES])
    want = RegularGridInterpolator(AXES, values, method="linear")(points.T)
    assert_allclose(grid_interpolate(values, AXES, points), want, rtol=1e-12, atol=1e-12)


def test_interpolation_is_exact_at_grid_points_and_clamps_outside():
    values = np.arange(35.0).reshape(7, 5)
    axes = AXES[:2]
    assert grid_interpolate(values, axes, np.array([[axes[0][3]], [axes[1][2]]]))[0] == 17.0
    assert grid_interpolate(values, axes, np.array([[-5.0], [9.0]]))[0] == values[0, -1]


@given(st.floats(-20.0, 20.0))
def test_a_periodic_axis_wraps(theta):
    axis = np.linspace(-np.pi, np.pi, 40, endpoint=False)
    values = np.cos(axis)
    got = grid_interpolate(values, [axis], np.array([theta]), periodic=(0,))
    # linear interpolation of cos between neighbours: error at most h^2 / 8
    assert abs(got - np.cos(theta)) <= (2 * np.pi / 40) ** 2 / 8 + 1e-12
    shifted = grid_interpolate(values, [axis], np.array([theta + 2 * np.pi]), periodic=(0,))
    assert_allclose(shifted, got, atol=1e-12)


def test_bad_grids_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="evenly spaced"):
        grid_interpolate(np.zeros(3), [np.array([0.0, 1.0, 3.0])], np.zeros((1, 1)))
    with pytest.raises(ValueError, match="to match the axes"):
        grid_interpolate(np.zeros(4), [np.linspace(0, 1, 3)], np.zeros((1, 1)))
    with pytest.raises(ValueError, match="coordinates first"):
        grid_interpolate(np.zeros(3), [np.linspace(0, 1, 3)], np.zeros((2, 1)))
    with pytest.raises(ValueError, match="periodic lists axis numbers"):
        grid_interpolate(np.zeros(3), [np.linspace(0, 1, 3)], np.zeros((1, 1)), periodic=(1,))


# ---- value iteration ----

def test_value_iteration_equals_exhaustive_search_when_steps_land_on_grid_points():
    # x on the integers -4..4, u in {-1, 0, 1}: every step lands on a grid point (or is
    # clamped at the edge, which the dynamics do too), so the grid is exact
    axis = np.arange(-4.0, 5.0)
    controls = np.array([[-1.0, 0.0, 1.0]])

    def step(x, u):
        return np.clip(x + u, -4.0, 4.0)

    def stage(x, u):
        return np.cos(1.3 * x[0]) + 0.5 * u[0] ** 2

    def final(x):
        return (x[0] - 2.0) ** 2

    horizon = 5
    V = value_iteration(step, stage, final, [axis], controls, horizon)
    for start in axis:
        best = np.inf
        for us in itertools.product([-1.0, 0.0, 1.0], repeat=horizon):
            x, total = np.array([start]), 0.0
            for u in us:
                total += stage(x, np.array([u]))
                x = step(x, np.array([u]))
            best = min(best, total + final(x))
        assert_allclose(V[0][int(start) + 4], best, rtol=1e-12)


def test_value_iteration_approaches_the_riccati_cost_on_a_fine_grid():
    a, b, q, r, horizon = 0.9, 0.5, 1.0, 0.2, 10
    _, P = lqr(np.array([[a]]), np.array([[b]]), np.array([[q]]), np.array([[r]]), horizon)
    axis = np.linspace(-3.0, 3.0, 601)
    controls = np.linspace(-6.0, 6.0, 1201)[None, :]
    V = value_iteration(lambda x, u: a * x + b * u, lambda x, u: 0.5 * (q * x[0] ** 2 + r * u[0] ** 2),
                        lambda x: 0.5 * q * x[0] ** 2, [axis], controls, horizon)
    inner = np.abs(axis) <= 1.5
    assert_allclose(V[0][inner], 0.5 * P[0, 0, 0] * axis[inner] ** 2, atol=2e-4)


def test_the_greedy_control_steers_the_pendulum_like_a_feedback_law():
    axes = [np.linspace(-np.pi, np.pi, 41, endpoint=False), np.linspace(-8.0, 8.0, 41)]
    controls = np.linspace(-2.0, 2.0, 9)[None, :]

    def stage(x, u):
        return 2 * (1 - np.cos(x[0])) + 0.1 * x[1] ** 2 + 0.01 * u[0] ** 2

    V = value_iteration(pendulum_step, stage, lambda x: 0.0 * x[0], axes, controls, 1,
                        periodic=(0,))
    many = np.array([[0.3, -0.2, 2.0], [0.0, 1.0, -3.0]])
    batch = greedy_control(V[1], pendulum_step, stage, axes, controls, many, periodic=(0,))
    assert batch.shape == (1, 3)
    for i in range(3):
        one = greedy_control(V[1], pendulum_step, stage, axes, controls, many[:, i],
                             periodic=(0,))
        # the best of the nine torques by brute force, on the same one-step problem
        q = [stage(many[:, i], u) + grid_interpolate(V[1], axes, pendulum_step(many[:, i], u)[:, None],
                                                     periodic=(0,))[0] for u in controls.T]
        assert one.shape == (1,) and one[0] == batch[0, i] == controls[0, int(np.argmin(q))]


def test_value_iteration_refuses_bad_input():
    axis = [np.linspace(0, 1, 3)]
    with pytest.raises(ValueError, match=r"shape \(m, K\)"):
        value_iteration(lambda x, u: x, lambda x, u: 0 * x[0], lambda x: 0 * x[0], axis,
                        np.zeros(3), 2)
    with pytest.raises(ValueError, match="horizon"):
        value_iteration(lambda x, u: x, lambda x, u: 0 * x[0], lambda x: 0 * x[0], axis,
                        np.zeros((1, 3)), 0)
    with pytest.raises(ValueError, match="at least one grid axis"):
        value_iteration(lambda x, u: x, lambda x, u: 0 * x[0], lambda x: 0 * x[0], [],
                        np.zeros((1, 3)), 2)
    with pytest.raises(ValueError, match=r"x must have shape \(1,\)"):
        greedy_control(np.zeros(3), lambda x, u: x, lambda x, u: 0 * x[0], axis,
                       np.zeros((1, 3)), np.zeros(2))
