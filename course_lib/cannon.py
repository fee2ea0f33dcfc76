"""The cannon problem: a differentiable projectile simulator, aiming it, and learning its inverse.

Chapter 3 builds on this module. A ball leaves the cannon at ``speed`` (m/s) and ``angle`` (rad
above the horizon) from ``height`` (m) above flat ground; gravity pulls it down and optional
quadratic air drag slows it. ``landing_distance`` integrates the flight with fixed-step RK4 and
finds where it crosses the ground by interpolating within the crossing step.

The simulator is written in plain numpy (ufuncs, ``np.where`` and Python operators), so the same
code runs on floats, on arrays of launches, on ``Dual`` numbers and under the reverse-mode tape.
HIPS autograd needs its own numpy wrapper: pass ``xp=autograd.numpy``. Which step crosses the
ground is decided on primal (plain float) values; the interpolation inside that step is smooth, so
the derivative is that of the simulator as written (piecewise differentiation).

The small multilayer perceptron used to learn the inverse problem (``mlp_init``, ``mlp_apply``)
also lives here; chapter 5 reuses it.
"""
import dataclasses
import math

import numpy as np

from .dual import jvp
from .reverse import grad

GRAVITY = 9.81
"""Standard gravity in m/s^2 used by default everywhere in this module."""
MAX_SPEED = 1000.0  # m/s: the fastest launch `aim` tries when the speed is free (a fast cannon)

_HERMITE_NEWTON_STEPS = 4  # Newton iterations for the crossing time inside one step


# ---- input checks ----

def _primal(value):
    """Strip AD wrappers (Dual, traced values, autograd boxes) down to a plain numpy value."""
    for _ in range(100):
        if isinstance(value, (np.ndarray, np.generic, float, int, bool, list, tuple)):
            return np.asarray(value, dtype=float) if not isinstance(value, np.ndarray) else value
        for attr in ("primal", "value", "_value"):
            inner = getattr(value, attr, None)
            if inner is not None and not callable(inner):
                value = inner
                break
        else:
            return np.asarray(value, dtype=float)
    raise TypeError("could not find the plain value inside a nested derivative object")


def _mask(condition):
    """Return a comparison's result as a plain numpy boolean array (comparisons use primals)."""
    return np.asarray(_primal(condition), dtype=bool)


def _check_launch(angle, speed, drag, height, gravity, n_steps=None):
    """Raise ValueError with the fix if a launch parameter is outside the simulator's domain."""
    a, v, k, h = (_primal(p) for p in (angle, speed, drag, height))
    for name, p in (("angle", a), ("speed", v), ("drag", k), ("height", h)):
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{name} contains NaN or infinity; pass finite numbers")
    if np.any(v <= 0):
        raise ValueError(f"speed must be positive (m/s); got {v.min():.6g}. "
                         "A cannon fires forwards: use a speed > 0.")
    if np.any(a <= 0) or np.any(a >= np.pi / 2):
        bad = a[(a <= 0) | (a >= np.pi / 2)] if a.ndim else a
        raise ValueError(f"angle must lie in (0, pi/2) radians, strictly; got "
                         f"{np.ravel(bad)[0]:.6g}. "
                         "Angles are in radians above the horizon (use np.radians for degrees).")
    if np.any(k < 0):
        raise ValueError(f"drag must be >= 0 (1/m); got {k.min():.6g}")
    if np.any(h < 0):
        raise ValueError(f"height must be >= 0 (m); got {h.min():.6g}")
    if not (isinstance(gravity, (int, float)) and gravity > 0):
        raise ValueError(f"gravity must be a positive number (m/s^2); got {gravity!r}")
    if n_steps is not None and (not isinstance(n_steps, (int, np.integer)) or n_steps < 4):
        raise ValueError(f"n_steps must be an integer >= 4; got {n_steps!r}")


# ---- closed form (no drag) ----

def closed_form_range(angle, speed, height=0.0, gravity=GRAVITY, xp=np):
    """Return the exact landing distance without drag: R = v^2 sin(2 angle) / g at height 0.

    From a launch height h the range is v cos(a) (v sin(a) + sqrt(v^2 sin(a)^2 + 2 g h)) / g.
    Introduced in chapter 3 as the truth the simulator is checked against.

    Args:
        angle: launch angle in radians, in (0, pi/2); any shape broadcasting with ``speed``.
        speed: launch speed in m/s, > 0.
        height: launch height in m, >= 0.
        gravity: in m/s^2.
        xp: the numpy module to use (``autograd.numpy`` for HIPS autograd).
    Returns:
        The range in m, with the broadcast shape of the inputs.
    """
    _check_launch(angle, speed, 0.0, height, gravity)
    vx = speed * xp.cos(angle)
    vy = speed * xp.sin(angle)
    return vx * (vy + xp.sqrt(vy * vy + 2.0 * gravity * height)) / gravity


def closed_form_angle(target, speed, height=0.0, arc="low", gravity=GRAVITY):
    """Return the launch angle that lands at ``target`` without drag, for the low or high arc.

    At height 0 this is 0.5 arcsin(g R / v^2) (low) or pi/2 minus that (high). Chapter 3 uses it
    as the exact answer the aiming methods are checked against.

    Args:
        target: distance in m, 0 < target <= maximum range; any shape.
        speed: launch speed in m/s.
        height: launch height in m.
        arc: "low" or "high".
    Returns:
        Angle(s) in radians with the broadcast shape of ``target`` and ``speed``.
    """
    _check_arc(arc)
    target, speed = np.broadcast_arrays(np.asarray(target, float), np.asarray(speed, float))
    reach, _ = max_range(speed, height=height, gravity=gravity)
    _check_target(target, reach, speed)
    # Solve h + R tan(a) - g R^2 / (2 v^2 cos(a)^2) = 0 as a quadratic in tan(a).
    c = gravity * target**2 / (2.0 * speed**2)
    disc = np.maximum(target**2 - 4.0 * c * (c - height), 0.0)
    sign = -1.0 if arc == "low" else 1.0
    angle = np.arctan((target + sign * np.sqrt(disc)) / (2.0 * c))
    if np.any(angle <= 0):
        raise ValueError("a target this close needs a downward shot from this height; "
                         "the cannon fires at angles in (0, pi/2): use arc='high'")
    return angle


# ---- the simulator: fixed-step RK4 with quadratic drag ----

def _acceleration(vx, vy, drag, gravity, xp):
    """Return (ax, ay): gravity plus quadratic drag -k |v| v, in m/s^2."""
    speed = xp.sqrt(vx * vx + vy * vy)
    return -drag * speed * vx, -gravity - drag * speed * vy


def _rk4_step(state, dt, drag, gravity, xp):
    """Advance (x, y, vx, vy) by one classical Runge-Kutta step of length dt (s)."""
    x, y, vx, vy = state

    def rate(vx_, vy_):
        ax, ay = _acceleration(vx_, vy_, drag, gravity, xp)
        return vx_, vy_, ax, ay

    k1 = rate(vx, vy)
    k2 = rate(vx + 0.5 * dt * k1[2], vy + 0.5 * dt * k1[3])
    k3 = rate(vx + 0.5 * dt * k2[2], vy + 0.5 * dt * k2[3])
    k4 = rate(vx + dt * k3[2], vy + dt * k3[3])
    return tuple(s + dt / 6.0 * (a + 2.0 * b + 2.0 * c + d)
                 for s, a, b, c, d in zip(state, k1, k2, k3, k4))


def _hermite(p0, m0, p1, m1, s):
    """Return the cubic Hermite interpolant through (p0, slope m0) and (p1, m1) at s in [0, 1]."""
    s2 = s * s
    s3 = s2 * s
    return ((2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * m0
            + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * m1)


def _hermite_slope(p0, m0, p1, m1, s):
    """Return d/ds of ``_hermite``."""
    s2 = s * s
    return ((6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * m0
            + (-6 * s2 + 6 * s) * p1 + (3 * s2 - 2 * s) * m1)


def _crossing_x(before, after, dt):
    """Return x where the cubic Hermite path of one step meets y = 0 (y before >= 0 > y after).

    The crossing fraction s starts from linear interpolation of y and is refined by a fixed number
    of Newton steps, all in differentiable operations, so the landing point is accurate to the
    integrator's order (dt^4) and its derivative is smooth.
    """
    x0, y0, vx0, vy0 = before
    x1, y1, vx1, vy1 = after
    s = y0 / (y0 - y1)
    for _ in range(_HERMITE_NEWTON_STEPS):
        s = s - (_hermite(y0, dt * vy0, y1, dt * vy1, s)
                 / _hermite_slope(y0, dt * vy0, y1, dt * vy1, s))
    return _hermite(x0, dt * vx0, x1, dt * vx1, s)


def _flight_time_no_drag(vy, height, gravity, xp):
    """Return the time of flight without drag (s)."""
    return (vy + xp.sqrt(vy * vy + 2.0 * gravity * height)) / gravity


def _step_length(speed, vy, drag, height, n_steps, gravity, xp):
    """Return the RK4 step dt = T / (n_steps + k v T), T the drag-free flight time (s).

    Without drag that is n_steps steps per flight. Strong drag adds steps so that k v dt < 1,
    which keeps RK4 stable where drag decelerates the ball quickly.
    """
    flight = _flight_time_no_drag(vy, height, gravity, xp)
    return flight / (n_steps + drag * speed * flight)


def _max_steps(speed, vy, height, dt, gravity):
    """Return a loop bound: 20 times the drag-free flight time, in steps.

    Drag usually shortens the flight, but a flat shot from a height can fly longer than without
    drag (the horizontal speed adds to the drag that slows the fall), so the bound is generous.
    """
    flight = _flight_time_no_drag(_primal(vy), _primal(height), gravity, np)
    return int(np.max(np.ceil(20 * flight / _primal(dt)))) + 4


def landing_distance(angle, speed, drag=0.0, height=0.0, n_steps=100, gravity=GRAVITY, xp=np,
                     steps=None):
    """Return how far the ball flies before it hits the ground (m), by fixed-step RK4.

    The step is dt = T / (n_steps + k v T), where T is the drag-free flight time, k the drag and
    v the speed: every launch takes ``n_steps`` steps without drag, whatever its speed, and drag
    (which shortens the flight) adds steps only where it is strong enough to need them.
    Without drag the path is a parabola, which RK4 and the cubic interpolation reproduce exactly;
    with drag the error shrinks like dt^4 (chapter 3 measures it). Introduced in chapter 3.

    Args:
        angle: launch angle in radians, in (0, pi/2).
        speed: launch speed in m/s, > 0.
        drag: quadratic drag coefficient k in 1/m (acceleration -k |v| v), >= 0;
            k = rho C_d A / (2 m), about 0.005 for a baseball.
        height: launch height in m, >= 0.
        n_steps: RK4 steps over the drag-free flight time, >= 4.
        gravity: in m/s^2.
        xp: the numpy module: ``numpy`` (floats, Dual, the tape) or ``autograd.numpy``.
        steps: ``None``, or the number of RK4 steps to run (``landing_steps`` counts them): then
            the crossing is interpolated in the last step without looking at any value (no
            checks, no branch), so the code can be staged into a program (chapter 7).
    All of angle, speed, drag and height may be arrays that broadcast together (a batch of
    launches) and may carry derivatives.
    Returns:
        Landing distance(s) in m with the broadcast shape of the inputs.
    """
    angle, speed, drag, height = (np.asarray(p, dtype=float) if isinstance(p, (list, tuple))
                                  else p for p in (angle, speed, drag, height))
    if steps is None:
        _check_launch(angle, speed, drag, height, gravity, n_steps)
    vx = speed * xp.cos(angle)
    vy = speed * xp.sin(angle)
    dt = _step_length(speed, vy, drag, height, n_steps, gravity, xp)
    state = (0.0 * vx, height + 0.0 * vy, vx, vy)
    if steps is not None:  # a straight line of steps: the loop's length was decided before
        for _ in range(steps - 1):
            state = _rk4_step(state, dt, drag, gravity, xp)
        return _crossing_x(state, _rk4_step(state, dt, drag, gravity, xp), dt)
    landed = np.zeros(np.shape(_primal(vx + vy + drag + height)), dtype=bool)
    distance = 0.0 * state[0]
    for _ in range(_max_steps(speed, vy, height, dt, gravity)):
        new = _rk4_step(state, dt, drag, gravity, xp)
        crossed = _mask(new[1] < 0.0) & ~landed
        if crossed.any():
            distance = xp.where(crossed, _crossing_x(state, new, dt), distance)
            landed = landed | crossed
            if landed.all():
                return distance
        state = new
    raise RuntimeError("the ball did not land within 20 drag-free flight times; use a smaller "
                       "drag or a steeper angle")


def landing_steps(angle, speed, drag=0.0, height=0.0, n_steps=100, gravity=GRAVITY):
    """Return how many RK4 steps ``landing_distance`` runs for one launch (floats only).

    Chapter 7 passes it as ``steps=`` to stage the simulator: the loop's exit depends on the
    values, so it is decided here, on numbers, before tracing.
    """
    _check_launch(angle, speed, drag, height, gravity, n_steps)
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    dt = _step_length(speed, vy, drag, height, n_steps, gravity, np)
    state = (0.0 * vx, height + 0.0 * vy, vx, vy)
    for k in range(1, _max_steps(speed, vy, height, dt, gravity) + 1):
        state = _rk4_step(state, dt, drag, gravity, np)
        if state[1] < 0.0:
            return k
    raise RuntimeError("the ball did not land within 20 drag-free flight times; use a smaller "
                       "drag or a steeper angle")


def trajectory(angle, speed, drag=0.0, height=0.0, n_steps=100, gravity=GRAVITY):
    """Return the flight path of one launch as arrays (t, x, y) in s and m, ending on the ground.

    For plots (floats only): the same RK4 steps as ``landing_distance``, and a last point at the
    interpolated landing. Introduced in chapter 3.
    """
    _check_launch(angle, speed, drag, height, gravity, n_steps)
    if np.ndim(angle) or np.ndim(speed) or np.ndim(drag) or np.ndim(height):
        raise ValueError("trajectory takes one launch (scalars); loop over a batch to plot several")
    angle, speed, drag, height = (float(p) for p in (angle, speed, drag, height))
    vx, vy = speed * math.cos(angle), speed * math.sin(angle)
    dt = float(_step_length(speed, vy, drag, height, n_steps, gravity, np))
    state = (0.0, height, vx, vy)
    ts, xs, ys = [0.0], [0.0], [height]
    for i in range(_max_steps(speed, vy, height, dt, gravity)):
        new = tuple(float(s) for s in _rk4_step(state, dt, drag, gravity, np))
        if new[1] < 0.0:
            xs.append(float(_crossing_x(state, new, dt)))
            ts.append(i * dt + dt * (ys[-1] / (ys[-1] - new[1])))
            ys.append(0.0)
            return np.array(ts), np.array(xs), np.array(ys)
        state = new
        ts.append((i + 1) * dt)
        xs.append(new[0])
        ys.append(new[1])
    raise RuntimeError("the ball did not land within 20 drag-free flight times")


def positions(angle, speed, times, drag=0.0, height=0.0, substeps=4, gravity=GRAVITY):
    """Return the ball's positions (x, y) in m at the given times in flight, differentiably.

    The same RK4 as ``landing_distance``, with ``substeps`` equal steps between consecutive
    times (from t = 0 to the first), so that angle, speed, drag and height may carry
    derivatives (chapter 6 fits them to observed positions). Any angle and speed are accepted
    (an optimiser may try them), and the ground is not checked: pass times before the landing.
    Args:
        angle (rad), speed (m/s), drag (1/m), height (m): one launch, as in ``landing_distance``.
        times: increasing times > 0 in s, shape (N,).
        substeps: RK4 steps per interval, >= 1.
    Returns:
        The positions, shape (N, 2). Chapter 6.
    """
    for name, p in (("angle", angle), ("speed", speed), ("drag", drag), ("height", height)):
        if not np.all(np.isfinite(_primal(p))):
            raise ValueError(f"{name} contains NaN or infinity; pass finite numbers")
    if np.any(_primal(drag) < 0):
        raise ValueError(f"drag must be >= 0 (1/m); got {float(np.min(_primal(drag))):.6g}")
    times = np.asarray(times, float)
    if times.ndim != 1 or times.size == 0 or times[0] <= 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be a non-empty 1-D array of increasing times > 0 (s)")
    if not isinstance(substeps, (int, np.integer)) or substeps < 1:
        raise ValueError(f"substeps must be an integer >= 1; got {substeps!r}")
    state = (0.0 * speed, height + 0.0 * speed, speed * np.cos(angle), speed * np.sin(angle))
    out, now = [], 0.0
    for t in times:
        dt = (t - now) / substeps
        for _ in range(substeps):
            state = _rk4_step(state, dt, drag, gravity, np)
        out.append(np.stack([state[0], state[1]]))
        now = t
    return np.stack(out)


# ---- how far can it go ----

def max_range(speed, drag=0.0, height=0.0, n_steps=100, gravity=GRAVITY):
    """Return (distance, angle): the farthest landing at this speed and the angle that reaches it.

    Without drag both are closed forms: angle = arctan(v / sqrt(v^2 + 2 g h)) and distance =
    v sqrt(v^2 + 2 g h) / g. With drag the angle is found by golden-section search on the
    simulator (to about 1e-9 rad). Vectorized over ``speed``. Introduced in chapter 3.
    """
    speed, drag, height = np.broadcast_arrays(*(np.asarray(p, float)
                                                for p in (speed, drag, height)))
    _check_launch(0.5, speed, drag, height, gravity)
    root = np.sqrt(speed**2 + 2.0 * gravity * height)
    best = np.arctan(speed / root)
    if not np.any(drag > 0):
        return speed * root / gravity, best
    lo, hi = np.full(speed.shape, 1e-6), np.full(speed.shape, np.pi / 2 - 1e-6)
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    fa = landing_distance(a, speed, drag, height, n_steps, gravity)
    fb = landing_distance(b, speed, drag, height, n_steps, gravity)
    for _ in range(45):  # the bracket shrinks by 0.618 per iteration: 1.6 * 0.618^45 < 1e-9
        left = fa > fb  # then the maximum lies in [lo, b], else in [a, hi]
        hi, lo = np.where(left, b, hi), np.where(left, lo, a)
        a, b = (np.where(left, hi - inv_phi * (hi - lo), b),
                np.where(left, a, lo + inv_phi * (hi - lo)))
        probe = np.where(left, a, b)
        fp = landing_distance(probe, speed, drag, height, n_steps, gravity)
        fa, fb = np.where(left, fp, fb), np.where(left, fa, fp)
    angle = 0.5 * (lo + hi)
    return landing_distance(angle, speed, drag, height, n_steps, gravity), angle


def _check_arc(arc):
    if arc not in ("low", "high"):
        raise ValueError(f"arc must be 'low' or 'high'; got {arc!r}")


def _check_target(target, reach, speed):
    target = np.asarray(target, float)
    if not np.all(np.isfinite(target)) or np.any(target <= 0):
        raise ValueError("target distance must be a positive finite number of metres")
    too_far = target > reach * (1 + 1e-12)
    if np.any(too_far):
        i = np.flatnonzero(np.ravel(too_far))[0]
        raise ValueError(
            f"target {np.ravel(target)[i]:.6g} m is beyond reach: at speed "
            f"{np.ravel(np.broadcast_to(speed, np.shape(target)))[i]:.6g} m/s the cannon carries "
            f"at most {np.ravel(np.broadcast_to(reach, np.shape(target)))[i]:.6g} m. "
            "Raise the speed, or pass speed=None to aim with both speed and angle free.")


# ---- aiming: Newton's method and gradient descent on the simulator ----

@dataclasses.dataclass
class AimResult:
    """Holds the outcome of ``aim`` (chapter 3); arrays have the shape of the target.

    Fields: ``angle`` (rad) and ``speed`` (m/s) to fire with, ``distance`` where that shot lands
    (m), ``error`` = |distance - target| (m), ``nit`` iterations taken, ``converged`` whether every
    error fell below the tolerance, ``history`` the largest error (m) before each iteration.
    """
    angle: np.ndarray
    speed: np.ndarray
    distance: np.ndarray
    error: np.ndarray
    nit: int
    converged: bool
    history: list


def aim(target, speed=None, *, drag=0.0, height=0.0, arc="low", method="newton", angle0=None,
        speed0=None, tol=1e-6, max_iter=None, lr=None, n_steps=100, gravity=GRAVITY,
        max_speed=MAX_SPEED):
    """Find the launch angle (and, if ``speed`` is None, the speed) that lands on ``target``.

    Both methods differentiate the simulator itself. ``method="newton"`` solves
    landing_distance(angle) = target with derivatives from forward mode (``Dual``); with the speed
    fixed it keeps a bracket on the chosen arc and falls back to bisection if a step leaves it, so
    it cannot jump to the other arc. With both parameters free it takes the minimum-norm Newton
    step in (angle, log speed), at most 0.2 rad and a factor e^0.5 in speed per iteration.
    ``method="gd"`` runs gradient descent on 0.5 (distance - target)^2, with gradients from the
    reverse-mode tape (speed fixed) or forward mode (speed free). Vectorized: every target is
    solved at once.
    Introduced in chapter 3.

    Args:
        target: distance(s) in m, > 0 and within reach; any shape.
        speed: launch speed in m/s (scalar or broadcasting with target), or None to free it.
        max_speed: with the speed free, the fastest launch allowed (m/s, default 1000, a fast
            cannon's muzzle speed); a target beyond the reach at that speed raises ValueError.
        drag, height, n_steps, gravity: as in ``landing_distance``.
        arc: "low" or "high": which of the two angles that hit a target to find (ignored when
            ``angle0`` is given: the arc is then the one ``angle0`` lies on).
        method: "newton" or "gd".
        angle0, speed0: starting point (default: the middle of the arc's angle range; with a free
            speed, speed0 defaults to sqrt(g target)).
        tol: stop when every |distance - target| < tol (m).
        max_iter: iteration limit (default 50 for Newton, 5000 for gradient descent).
        lr: gradient-descent step size in rad^2/m^2 (default 0.5 / (2 v^2 / g)^2, which is stable
            because |d distance / d angle| <= 2 v^2 / g without drag). With the speed free,
            gradient descent runs in (angle, log speed).
    Returns:
        An ``AimResult``.
    """
    _check_arc(arc)
    if method not in ("newton", "gd"):
        raise ValueError(f"method must be 'newton' or 'gd'; got {method!r}")
    target = np.asarray(target, dtype=float)
    if not np.all(np.isfinite(target)) or np.any(target <= 0):
        raise ValueError("target distance must be a positive finite number of metres")
    if max_iter is None:
        max_iter = 50 if method == "newton" else 5000
    sim = dict(drag=drag, height=height, n_steps=n_steps, gravity=gravity)
    if speed is None:
        reach, _ = max_range(max_speed, **sim)
        if np.any(target > reach):
            raise ValueError(
                f"target {float(np.max(target)):.6g} m is out of reach at speeds up to "
                f"{max_speed:g} m/s: with drag {drag:g} 1/m the farthest shot at that speed lands "
                f"at {float(reach):.6g} m"
                + (" (air drag makes the reach grow only slowly with speed)" if drag > 0 else "")
                + ". Lower the drag, move the target closer, or raise max_speed.")
        return _aim_free(target, sim, arc, method, angle0, speed0, tol, max_iter, lr, max_speed)
    target, speed = np.broadcast_arrays(target, np.asarray(speed, dtype=float))
    target, speed = target.copy(), speed.copy()
    _check_launch(0.5, speed, drag, height, gravity, n_steps)
    reach, best = max_range(speed, **sim)
    _check_target(target, reach, speed)
    edge = 1e-6
    if angle0 is None:
        low = np.full(target.shape, arc == "low")
    else:
        angle0 = np.broadcast_to(np.asarray(angle0, dtype=float), target.shape)
        _check_launch(angle0, speed, drag, height, gravity)
        low = angle0 <= best
    lo = np.where(low, edge, best)
    hi = np.where(low, best, np.pi / 2 - edge)
    nearest = landing_distance(np.where(low, lo, hi), speed, **sim)
    if np.any(target < nearest):
        raise ValueError("a target this close needs a downward shot from this height; "
                         "use arc='high'")
    angle = 0.5 * (lo + hi) if angle0 is None else angle0.copy()
    rising = np.where(low, 1.0, -1.0)  # the sign of d distance / d angle on this arc
    if lr is None:
        lr = 0.5 / (2.0 * speed**2 / gravity) ** 2
    history = []
    for nit in range(max_iter + 1):
        if method == "newton":
            distance, slope = _distance_and_slope(angle, speed, sim)
        else:
            distance = landing_distance(angle, speed, **sim)
        miss = distance - target
        history.append(float(np.max(np.abs(miss))))
        if history[-1] < tol or nit == max_iter:
            break
        # The miss's sign tells which side of the answer we are on: shrink the bracket.
        short = rising * miss < 0
        lo, hi = np.where(short, angle, lo), np.where(short, hi, angle)
        if method == "newton":
            step = angle - miss / slope
            inside = (step >= lo) & (step <= hi) & np.isfinite(step)
            new_angle = np.where(inside, step, 0.5 * (lo + hi))
        else:
            new_angle = np.clip(angle - lr * _loss_grad_angle(angle, speed, target, sim), lo, hi)
        angle = np.where(np.abs(miss) < tol, angle, new_angle)  # hits stay put
    error = np.abs(miss)
    return AimResult(angle, speed, distance, error, nit, bool(history[-1] < tol), history)


def _aim_free(target, sim, arc, method, angle0, speed0, tol, max_iter, lr, max_speed):
    """Aim with speed and angle both free (see ``aim``)."""
    if angle0 is None:
        angle0 = 0.6 if arc == "low" else 1.1
    if speed0 is None:
        speed0 = np.minimum(np.sqrt(sim["gravity"] * target), max_speed)
    angle, speed = (np.broadcast_to(np.asarray(p, dtype=float), target.shape).copy()
                    for p in (angle0, speed0))
    _check_launch(angle, speed, sim["drag"], sim["height"], sim["gravity"], sim["n_steps"])
    if lr is None:
        lr = 0.5 / (2.0 * speed**2 / sim["gravity"]) ** 2
    history = []
    for nit in range(max_iter + 1):
        distance, d_angle, d_speed = _distance_and_both_slopes(angle, speed, sim)
        miss = distance - target
        history.append(float(np.max(np.abs(miss))))
        if history[-1] < tol or nit == max_iter:
            break
        # Work in (angle, log speed): both change the distance by similar relative amounts.
        d_log_speed = speed * d_speed
        if method == "newton":  # the smallest step that zeroes the linearised miss ...
            scale = miss / (d_angle**2 + d_log_speed**2)
            step_angle, step_log_speed = -scale * d_angle, -scale * d_log_speed
            # ... shortened to at most 0.2 rad and a factor e^0.5 in speed per iteration
            shrink = np.minimum(1.0, np.minimum(0.2 / np.abs(step_angle),
                                                0.5 / np.abs(step_log_speed)))
            angle = angle + shrink * step_angle
            speed = speed * np.exp(shrink * step_log_speed)
        else:
            angle = angle - lr * miss * d_angle
            speed = speed * np.exp(-lr * miss * d_log_speed)
        angle = np.clip(angle, 1e-6, np.pi / 2 - 1e-6)
        speed = np.clip(speed, 1e-6, max_speed)
    return AimResult(angle, speed, distance, np.abs(miss), nit, bool(history[-1] < tol), history)


def _distance_and_slope(angle, speed, sim):
    """Return the landing distance and its derivative in angle, by forward mode (one Dual pass)."""
    return jvp(lambda a: landing_distance(a, speed, **sim), angle, np.ones_like(angle))


def _distance_and_both_slopes(angle, speed, sim):
    """Return the landing distance and its derivatives in angle and in speed (forward mode)."""
    distance, d_angle = jvp(lambda a: landing_distance(a, speed, **sim), angle, np.ones_like(angle))
    _, d_speed = jvp(lambda v: landing_distance(angle, v, **sim), speed, np.ones_like(speed))
    return distance, d_angle, d_speed


def _loss_grad_angle(angle, speed, target, sim):
    """Return the gradient of sum 0.5 (distance - target)^2 in angle, by the reverse-mode tape."""
    return grad(lambda a: 0.5 * np.sum((landing_distance(a, speed, **sim) - target) ** 2))(angle)


# ---- a small neural network (multilayer perceptron) ----

def mlp_init(sizes, rng=0):
    """Return random parameters [W1, b1, W2, b2, ...] for a tanh network with these layer sizes.

    Weights are drawn from N(0, 1 / fan_in) (so tanh units start in their linear range), biases
    are zero. Introduced in chapter 3; chapter 5 reuses it.

    Args:
        sizes: layer widths, input first, e.g. (1, 32, 32, 2); at least two entries.
        rng: a numpy Generator or a seed.
    Returns:
        A list of arrays: W_i of shape (sizes[i], sizes[i+1]) and b_i of shape (sizes[i+1],).
    """
    sizes = [int(n) for n in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive layer widths; got {sizes}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append(rng.normal(0.0, 1.0 / math.sqrt(n_in), size=(n_in, n_out)))
        params.append(np.zeros(n_out))
    return params


def mlp_apply(params, x, xp=np):
    """Return the network's output for inputs ``x``: tanh hidden layers, a linear last layer.

    Plain numpy (``@``, ``tanh``, ``+``), so the tape differentiates it with respect to the
    parameters and the inputs. Introduced in chapter 3; chapter 5 reuses it.

    Args:
        params: the list from ``mlp_init`` (possibly traced values while training).
        x: inputs of shape (batch, sizes[0]).
        xp: the numpy module (``autograd.numpy`` for HIPS autograd).
    Returns:
        Outputs of shape (batch, sizes[-1]).
    """
    if len(params) < 2 or len(params) % 2:
        raise ValueError("params must be the list [W1, b1, W2, b2, ...] made by mlp_init")
    x_shape = np.shape(x)  # shapes only: any kind of value (a staged one has no numbers)
    n_in = np.shape(params[0])[0]
    if len(x_shape) != 2 or x_shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}); got {x_shape}. "
                         "Reshape a vector of inputs with x[:, None].")
    h = x
    for i in range(0, len(params) - 2, 2):
        h = xp.tanh(h @ params[i] + params[i + 1])
    return h @ params[-2] + params[-1]
