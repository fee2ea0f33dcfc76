"""Reverse mode on the tape (course_lib.tape) against HIPS autograd, side by side in one run.

Run: .venv/bin/python benchmarks/bench_tape.py [--quick]
Prints one row per measurement: the time, the reference measured in the same run, their ratio,
the target and PASS/MISS. BLAS is limited to one thread so the numbers are stable.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import timeit  # noqa: E402

import autograd  # noqa: E402
import autograd.numpy as anp  # noqa: E402
import numpy as np  # noqa: E402

from course_lib import grad, hvp  # noqa: E402

QUICK = "--quick" in sys.argv


def best(*fns, repeat=9, number=None):
    """Best time of one call of each function (seconds), timed in turns.

    The functions take turns within every repeat, so a burst of other work on the machine slows
    them alike instead of spoiling one side of a ratio.
    """
    timers = [timeit.Timer(fn) for fn in fns]
    if number is None:
        number = max(1, timers[0].autorange()[0] // 5)
    times = [[] for _ in fns]
    for _ in range(repeat):
        for timer, t in zip(timers, times):
            t.append(timer.timeit(number) / number)
    return [min(t) for t in times] if len(fns) > 1 else min(times[0])


def fmt(t):
    return f"{t * 1e3:9.3f} ms" if t >= 1e-3 else f"{t * 1e6:9.1f} µs"


ROWS = []


def row(name, t, ref_name, t_ref, target, ok):
    ROWS.append((name, fmt(t), ref_name, fmt(t_ref), f"{t / t_ref:8.2f}x", target,
                 "PASS" if ok else "MISS"))


# ---- 1. MLP loss, 1-64-64-1, tanh, 1024 samples --------------------------------------------

def mlp_loss(xp, params, x, y):
    W1, b1, W2, b2, W3, b3 = params
    h = xp.tanh(x @ W1 + b1)
    h = xp.tanh(h @ W2 + b2)
    out = h @ W3 + b3
    return xp.mean((out - y) ** 2)


rng = np.random.default_rng(0)
x = rng.uniform(-2, 2, size=(1024, 1))
y = np.sin(2 * x)
params = [rng.normal(size=(1, 64)), np.zeros(64), rng.normal(size=(64, 64)) / 8, np.zeros(64),
          rng.normal(size=(64, 1)) / 8, np.zeros(1)]

t_tape, t_f, t_ag = best(lambda: grad(lambda p: mlp_loss(np, p, x, y))(params),
                         lambda: mlp_loss(np, params, x, y),
                         lambda: autograd.grad(lambda p: mlp_loss(anp, p, x, y))(params))
row("MLP grad (tape)", t_tape, "f", t_f, "<= 3x f", t_tape <= 3 * t_f)
row("MLP grad (autograd)", t_ag, "f", t_f, "(reference)", True)
row("MLP grad (tape)", t_tape, "autograd", t_ag, "< 1x", t_tape < t_ag)

# ---- 2. hvp against the gradient (same MLP, all parameters flattened into one vector) -------

sizes = [p.size for p in params]
shapes = [p.shape for p in params]


def unpack(theta):
    out, k = [], 0
    for n, s in zip(sizes, shapes):
        out.append(np.reshape(theta[k:k + n], s))
        k += n
    return out


theta = np.concatenate([p.ravel() for p in params])
v = rng.normal(size=theta.size)
flat_loss = lambda th: mlp_loss(np, unpack(th), x, y)  # noqa: E731
t_hvp, t_g = best(lambda: hvp(flat_loss, theta, v), lambda: grad(flat_loss)(theta))
row("MLP hvp (tape+dual)", t_hvp, "tape grad", t_g, "<= 2.5x", t_hvp <= 2.5 * t_g)

# the same with the parameters as they are, a list of arrays (hvp and grad take trees)
v_list = unpack(v)
list_loss = lambda p: mlp_loss(np, p, x, y)  # noqa: E731
t_hvp_l, t_g_l = best(lambda: hvp(list_loss, params, v_list), lambda: grad(list_loss)(params))
row("MLP hvp, list of arrays", t_hvp_l, "tape grad", t_g_l, "<= 2.5x", t_hvp_l <= 2.5 * t_g_l)

# ---- 3. A 1000-step scalar RK4 loop (a damped pendulum), gradient in the damping ------------


def pendulum_rk4(damping, xp=np, steps=1000, dt=0.01):
    def rhs(theta, omega):
        return omega, -xp.sin(theta) - damping * omega
    theta, omega = 1.0, 0.0
    for _ in range(steps):
        k1t, k1w = rhs(theta, omega)
        k2t, k2w = rhs(theta + 0.5 * dt * k1t, omega + 0.5 * dt * k1w)
        k3t, k3w = rhs(theta + 0.5 * dt * k2t, omega + 0.5 * dt * k2w)
        k4t, k4w = rhs(theta + dt * k3t, omega + dt * k3w)
        theta = theta + dt / 6 * (k1t + 2 * k2t + 2 * k3t + k4t)
        omega = omega + dt / 6 * (k1w + 2 * k2w + 2 * k3w + k4w)
    return theta


t_rk_tape, t_plain = best(lambda: grad(pendulum_rk4)(0.3), lambda: pendulum_rk4(0.3),
                          repeat=5, number=1)
t_rk_ag = best(lambda: autograd.grad(lambda c: pendulum_rk4(c, anp))(0.3), repeat=3, number=1)
row("RK4 grad (tape)", t_rk_tape, "plain float", t_plain, "<= 100x", t_rk_tape <= 100 * t_plain)
row("RK4 grad (autograd)", t_rk_ag, "plain float", t_plain, "(reference)", True)

# ---- 4. L2 logistic regression, n = d = 10,000 (memory-bound: X is 800 MB) -----------------

n = d = 2_000 if QUICK else 10_000
X = rng.normal(size=(n, d)) / np.sqrt(d)
labels = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
w0 = rng.normal(size=d) * 0.1


def logistic_loss(w, xp=np):
    margins = labels * (X @ w)
    return xp.mean(xp.logaddexp(0.0, -margins)) + 0.5e-3 * xp.sum(w * w)


t_lr_tape, t_lr_ag = best(lambda: grad(logistic_loss)(w0),
                          lambda: autograd.grad(lambda w: logistic_loss(w, anp))(w0),
                          repeat=5, number=1)
row(f"logistic grad n=d={n}", t_lr_tape, "autograd", t_lr_ag, "<= 1.1x",
    t_lr_tape <= 1.1 * t_lr_ag)
v_lr = rng.normal(size=d)
t_lr_hvp, t_lr_g = best(lambda: hvp(logistic_loss, w0, v_lr), lambda: grad(logistic_loss)(w0),
                        repeat=5, number=1)
row(f"logistic hvp n=d={n}", t_lr_hvp, "tape grad", t_lr_g, "<= 2x", t_lr_hvp <= 2 * t_lr_g)

# ---- the table --------------------------------------------------------------------------------

head = ("measurement", "time", "reference", "ref. time", "ratio", "target", "")
widths = [max(len(str(r[i])) for r in ROWS + [head]) for i in range(len(head))]
print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
print("  ".join("-" * w for w in widths))
for r in ROWS:
    print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
