"""Forward mode with dual numbers (course_lib.dual) against plain numpy, a minimal dual class and
HIPS autograd's forward mode, side by side in one run.

Run: .venv/bin/python benchmarks/bench_dual.py [--quick]
Prints one row per measurement: the time, the reference measured in the same run, their ratio,
the target and PASS/MISS. BLAS is limited to one thread so the numbers are stable.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import timeit  # noqa: E402

import autograd.numpy as anp  # noqa: E402
import numpy as np  # noqa: E402
from autograd import make_jvp  # noqa: E402

from course_lib import derivative, jvp  # noqa: E402

QUICK = "--quick" in sys.argv
REPEAT = 3 if QUICK else 7


def best(fn, repeat=REPEAT, number=None):
    """Best time of one call over ``repeat`` timeit runs (seconds)."""
    timer = timeit.Timer(fn)
    if number is None:
        number, _ = timer.autorange()
        number = max(1, number // 5)
    return min(timer.repeat(repeat=repeat, number=number)) / number


def fmt(t):
    return f"{t * 1e3:9.3f} ms" if t >= 1e-3 else f"{t * 1e6:9.1f} µs"


ROWS = []


def row(name, t, ref_name, t_ref, target, ok):
    ROWS.append((name, fmt(t), ref_name, fmt(t_ref), f"{t / t_ref:8.2f}x", target,
                 "PASS" if ok is True else "MISS" if ok is False else ok))


# ---- 1. jvp of vectorized array functions ----------------------------------------------------

def elementwise(xp, x):
    return xp.sum(xp.tanh(x) * xp.exp(-x * x) + xp.sqrt(1.0 + x * x))


def layer(xp, x, a):
    return xp.tanh(a @ x) * xp.sin(x[: a.shape[0]])


rng = np.random.default_rng(0)
n = 20_000 if QUICK else 200_000
x, v = rng.standard_normal(n), rng.standard_normal(n)
a = rng.standard_normal((300, 300)) / 20
xa, va = rng.standard_normal(300), rng.standard_normal(300)

for name, f_np, f_anp, args in [
        (f"elementwise, n={n}", lambda z: elementwise(np, z), lambda z: elementwise(anp, z),
         (x, v)),
        ("tanh(A @ x) * sin(x), 300x300", lambda z: layer(np, z, a), lambda z: layer(anp, z, a),
         (xa, va))]:
    t_f = t_jvp = t_ag = float("inf")
    for _ in range(REPEAT):  # interleaved rounds, the best of each kept
        t_f = min(t_f, best(lambda: f_np(args[0]), repeat=1))
        t_jvp = min(t_jvp, best(lambda: jvp(f_np, *args), repeat=1))
        t_ag = min(t_ag, best(lambda: make_jvp(f_anp)(args[0])(args[1]), repeat=1))
    assert np.allclose(jvp(f_np, *args)[1], make_jvp(f_anp)(args[0])(args[1])[1])
    row(f"jvp {name}", t_jvp, "f", t_f, "<= 3x f", t_jvp <= 3 * t_f)
    row(f"autograd make_jvp {name}", t_ag, "f", t_f, "(reference)", "-")


# ---- 2. a 1000-step scalar RK4 loop: a projectile with quadratic drag --------------------------

def flight(speed, steps=1000, dt=1e-3, drag=0.05, angle=0.6):
    """Range-like state after ``steps`` RK4 steps of a projectile (scalar Python arithmetic)."""
    x, y = 0.0, 0.0
    vx, vy = speed * 0.8253356149096783, speed * 0.5646424733950354  # cos, sin of 0.6

    def accel(vx, vy):
        s = (vx * vx + vy * vy) ** 0.5
        return -drag * s * vx, -9.81 - drag * s * vy

    for _ in range(steps):
        k1x, k1y = vx, vy
        a1x, a1y = accel(vx, vy)
        k2x, k2y = vx + 0.5 * dt * a1x, vy + 0.5 * dt * a1y
        a2x, a2y = accel(k2x, k2y)
        k3x, k3y = vx + 0.5 * dt * a2x, vy + 0.5 * dt * a2y
        a3x, a3y = accel(k3x, k3y)
        k4x, k4y = vx + dt * a3x, vy + dt * a3y
        a4x, a4y = accel(k4x, k4y)
        x = x + dt / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
        y = y + dt / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
        vx = vx + dt / 6 * (a1x + 2 * a2x + 2 * a3x + a4x)
        vy = vy + dt / 6 * (a1y + 2 * a2y + 2 * a3y + a4y)
    return x + y


class MinimalDual:
    """The smallest dual number that runs ``flight``: no tags, no arrays, no checks."""
    __slots__ = ("p", "t")

    def __init__(self, p, t):
        self.p, self.t = p, t

    def __add__(self, o):
        if isinstance(o, MinimalDual):
            return MinimalDual(self.p + o.p, self.t + o.t)
        return MinimalDual(self.p + o, self.t)

    __radd__ = __add__

    def __sub__(self, o):
        if isinstance(o, MinimalDual):
            return MinimalDual(self.p - o.p, self.t - o.t)
        return MinimalDual(self.p - o, self.t)

    def __rsub__(self, o):
        return MinimalDual(o - self.p, -self.t)

    def __mul__(self, o):
        if isinstance(o, MinimalDual):
            return MinimalDual(self.p * o.p, self.t * o.p + self.p * o.t)
        return MinimalDual(self.p * o, self.t * o)

    __rmul__ = __mul__

    def __pow__(self, c):
        return MinimalDual(self.p ** c, c * self.p ** (c - 1) * self.t)


speed = 40.0
ours = derivative(flight, speed)
assert abs(ours - flight(MinimalDual(speed, 1.0)).t) < 1e-9 * abs(ours)
assert abs(ours - make_jvp(flight)(speed)(1.0)[1]) < 1e-9 * abs(ours)
# interleaved rounds: a busy machine slows all three alike, and the best round of each is kept
t_plain = t_dual = t_min = float("inf")
for _ in range(REPEAT * 3):
    t_plain = min(t_plain, best(lambda: flight(speed), repeat=1, number=10))
    t_dual = min(t_dual, best(lambda: derivative(flight, speed), repeat=1, number=2))
    t_min = min(t_min, best(lambda: flight(MinimalDual(speed, 1.0)), repeat=1, number=2))
t_ag = best(lambda: make_jvp(flight)(speed)(1.0), repeat=1 if QUICK else 3, number=1)
row("RK4 loop: derivative by Dual", t_dual, "plain float", t_plain, "<= 30x",
    t_dual <= 30 * t_plain)
row("RK4 loop: minimal dual class", t_min, "plain float", t_plain, "(reference)", "-")
row("RK4 loop: autograd make_jvp", t_ag, "plain float", t_plain, "(reference)", "-")
row("RK4 loop: derivative by Dual", t_dual, "minimal dual", t_min, "(reference)", "-")


# ---- the table ----------------------------------------------------------------------------------

header = ("measurement", "time", "reference", "ref. time", "ratio", "target", "result")
widths = [max(len(str(r[i])) for r in ROWS + [header]) for i in range(len(header))]
print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
print("  ".join("-" * w for w in widths))
for r in ROWS:
    print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
