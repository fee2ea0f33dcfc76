"""Dynamic programming on a grid: the Bellman equation solved state by state, and what it costs.

Chapter 6 measures the curse of dimensionality with this module. Where the Riccati recursion
solves the Bellman equation exactly for linear dynamics and quadratic costs, any other problem
can be solved on a grid of states: the cost-to-go V_t is stored at every grid point, and one
backward step

    V_t(x) = min over u of  stage(x, u) + V_{t+1}(step(x, u))

tries every control from a finite list at every grid point, reading V_{t+1} between grid points
by multilinear interpolation. The answer is the best control for every state at every time (a
feedback law, found globally, not by descent), at a price of (points per axis)^d grid points.

Layout: states put their coordinates on the *first* axis, x of shape (d, ...), and controls
likewise, u of shape (m, ...), so that dynamics written as ``x[0]``, ``x[1]``, ``u[0]``
(``pendulum_step`` of ``course_lib.control``) evaluate every grid point and every control at once
by broadcasting.
"""
import itertools

import numpy as np


def _check_axes(axes, periodic):
    """Return the axes as 1-D float arrays and the periodic flags; raise ValueError with the fix."""
    if len(axes) == 0:
        raise ValueError("axes must list at least one grid axis (a 1-D array of coordinates)")
    out = []
    for i, axis in enumerate(axes):
        axis = np.asarray(axis, float)
        if axis.ndim != 1 or axis.size < 2:
            raise ValueError(f"axis {i} must be a 1-D array of at least 2 coordinates; got shape "
                             f"{axis.shape}")
        steps = np.diff(axis)
        if steps.min() <= 0 or np.abs(steps - steps[0]).max() > 1e-9 * abs(steps[0]):
            raise ValueError(f"axis {i} must be evenly spaced and increasing (np.linspace, or "
                             "np.arange for a periodic axis)")
        out.append(axis)
    flags = tuple(bool(i in periodic) for i in range(len(axes)))
    if any(i not in range(len(axes)) for i in periodic):
        raise ValueError(f"periodic lists axis numbers; there are {len(axes)} axes, got "
                         f"{tuple(periodic)}")
    return out, flags


def grid_interpolate(values, axes, points, periodic=()):
    """Return the multilinear interpolation of grid values at arbitrary points.

    Outside the grid the nearest edge value is used, except on periodic axes, which wrap around
    (the point after the last is the first again, one grid step further on).
    Args:
        values: the values on the grid, shape (N_1, .., N_d).
        axes: d evenly spaced 1-D arrays, the grid's coordinates along each axis.
        points: shape (d, ...): the coordinates of the points, first axis first.
        periodic: the numbers of the axes that wrap (an angle on [-pi, pi)).
    Returns:
        The interpolated values, shape (...). Chapter 6.
    """
    axes, flags = _check_axes(axes, periodic)
    values = np.asarray(values, float)
    if values.shape != tuple(a.size for a in axes):
        raise ValueError(f"values must have shape {tuple(a.size for a in axes)} to match the "
                         f"axes; got {values.shape}")
    points = np.asarray(points, float)
    if points.shape[:1] != (len(axes),):
        raise ValueError(f"points must have shape ({len(axes)}, ...), coordinates first; got "
                         f"{points.shape}")
    lower, weight = [], []
    for axis, wraps, p in zip(axes, flags, points):
        h, n = axis[1] - axis[0], axis.size
        s = (p - axis[0]) / h
        if wraps:
            i = np.floor(s)
            lower.append(i.astype(int) % n)
        else:
            s = np.clip(s, 0.0, n - 1.0)
            i = np.minimum(np.floor(s), n - 2)
            lower.append(i.astype(int))
        weight.append(s - i)
    out = 0.0
    for corner in itertools.product((0, 1), repeat=len(axes)):
        index, w = [], 1.0
        for c, i, frac, axis, wraps in zip(corner, lower, weight, axes, flags):
            j = i + c
            index.append(j % axis.size if wraps else j)
            w = w * (frac if c else 1.0 - frac)
        out = out + w * values[tuple(index)]
    return out


def value_iteration(step, stage_cost, final_cost, axes, controls, horizon, periodic=()):
    """Return the cost-to-go on a grid for every time, by the Bellman equation solved backwards.

    V_T = final_cost on the grid; then, for t = T-1 .. 0, every control of ``controls`` is tried
    at every grid point and the best is kept: V_t(x) = min_u stage(x, u) + V_{t+1}(step(x, u)).
    Args:
        step: the dynamics ``step(x, u)`` for x of shape (d, ...) and u of shape (m, ...),
            broadcasting, returning (d, ...).
        stage_cost: ``stage_cost(x, u)`` -> the cost of one step, shape (...).
        final_cost: ``final_cost(x)`` -> the cost of ending at x, shape (...).
        axes: d evenly spaced 1-D arrays, the grid.
        controls: the controls to try, shape (m, K).
        horizon: the number of steps T >= 1.
        periodic: the axes that wrap (see ``grid_interpolate``).
    Returns:
        The cost-to-go, shape (T + 1, N_1, .., N_d). Chapter 6.
    """
    axes, _ = _check_axes(axes, periodic)
    controls = np.asarray(controls, float)
    if controls.ndim != 2:
        raise ValueError(f"controls must have shape (m, K): m control inputs, K choices to try; "
                         f"got {controls.shape} (for one input, controls[None, :])")
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1 (steps); got {horizon!r}")
    shape = tuple(a.size for a in axes)
    grid = np.stack(np.meshgrid(*axes, indexing="ij")).reshape(len(axes), -1)  # (d, P)
    x, u = grid[:, :, None], controls[:, None, :]  # (d, P, 1) and (m, 1, K)
    nxt = step(x, u)  # (d, P, K): the same for every t, the dynamics being time-invariant
    stage = stage_cost(x, u) + np.zeros(nxt.shape[1:])
    values = [np.reshape(final_cost(grid), shape)]
    for _ in range(horizon):
        q = stage + grid_interpolate(values[0], axes, nxt, periodic)
        values.insert(0, q.min(axis=1).reshape(shape))
    return np.array(values)


def greedy_control(values_next, step, stage_cost, axes, controls, x, periodic=()):
    """Return the control of ``controls`` that minimises stage(x, u) + V_{t+1}(step(x, u)).

    The feedback law of dynamic programming, from the next time's cost-to-go, at one state or
    at many at once.
    Args:
        values_next: V_{t+1} on the grid (one slice of ``value_iteration``'s answer).
        step, stage_cost, axes, controls, periodic: as in ``value_iteration``.
        x: the state, shape (d,), or S states, shape (d, S).
    Returns:
        The control, shape (m,), or one per state, shape (m, S). Chapter 6.
    """
    controls = np.asarray(controls, float)
    x = np.asarray(x, float)
    if x.ndim not in (1, 2) or x.shape[0] != len(axes):
        raise ValueError(f"x must have shape ({len(axes)},) or ({len(axes)}, S) to match the "
                         f"{len(axes)} grid axes; got {x.shape}")
    states, u = x.reshape(len(axes), -1)[:, :, None], controls[:, None, :]
    q = stage_cost(states, u) + grid_interpolate(values_next, axes, step(states, u), periodic)
    best = controls[:, np.argmin(q, axis=-1)]
    return best[:, 0] if x.ndim == 1 else best
