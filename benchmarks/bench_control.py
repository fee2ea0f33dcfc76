"""Chapter 6's optimisers: shooting's gradient through the rollout, tape against HIPS autograd, and
the time of one iLQR iteration against one Newton-shooting iteration.

Run: .venv/bin/python benchmarks/bench_control.py [--quick]
The problem is chapter 6's pendulum swing-up (course_lib.control.swing_up_step and swing_up_cost).
Prints one row per measurement: the time, the reference measured in the same run and their ratio.
The gradient's rows are per step of the horizon, so a flat column means the cost grows linearly
with the horizon. BLAS is limited to one thread so the numbers are stable.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402

import autograd  # noqa: E402
import autograd.numpy as anp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from course_lib import grad, hessian  # noqa: E402
from course_lib.control import ilqr, rollout, swing_up_cost, swing_up_step  # noqa: E402

QUICK = "--quick" in sys.argv
X0 = np.array([np.pi, 0.0])


def best(*fns, repeat=5, number=1):
    """Best time of one call of each function (seconds), the functions taking turns per repeat."""
    timers = [timeit.Timer(fn) for fn in fns]
    times = [[] for _ in fns]
    for _ in range(repeat):
        for timer, t in zip(timers, times):
            t.append(timer.timeit(number) / number)
    return [min(t) for t in times]


def fmt(t):
    return f"{t * 1e3:9.3f} ms" if t >= 1e-3 else f"{t * 1e6:9.1f} µs"


def objective(vs, xp=np):
    """The swing-up cost as a function of the controls alone: what shooting minimises."""
    return swing_up_cost(rollout(lambda x, v: swing_up_step(x, v, xp), X0, vs, xp), vs, xp)


ROWS = []


def row(name, t, ref_name, t_ref):
    ROWS.append((name, fmt(t), ref_name, fmt(t_ref), f"{t / t_ref:8.2f}x"))


# ---- 1. shooting's gradient through the rollout, per step of the horizon -------------------------

rng = np.random.default_rng(0)
for T in ([25, 50] if QUICK else [25, 50, 100, 200]):
    vs = rng.normal(size=(T, 1))
    t_tape, t_ag, t_f = best(lambda: grad(objective)(vs),
                             lambda: autograd.grad(lambda v: objective(v, anp))(vs),
                             lambda: objective(vs))
    row(f"gradient T={T}, tape, per step", t_tape / T, "autograd, per step", t_ag / T)
    row(f"gradient T={T}, tape, per step", t_tape / T, "f, per step", t_f / T)

# ---- 2. one iLQR iteration against one Newton-shooting iteration ------------------------------

T = 30 if QUICK else 60
vs0 = np.zeros((T, 1))
vs0[:5] = 1.0
iterations = 5
start = time.perf_counter()
result = ilqr(swing_up_step, swing_up_cost, X0, vs0, maxiter=iterations)
t_ilqr = (time.perf_counter() - start) / max(result.nit, 1)
t_newton = best(lambda: (grad(objective)(vs0), hessian(objective)(vs0)), repeat=3)[0]
row(f"iLQR iteration T={T}", t_ilqr, "Newton shooting: grad + Hessian", t_newton)

# ---- the table --------------------------------------------------------------------------------

head = ("measurement", "time", "reference", "ref. time", "ratio")
widths = [max(len(str(r[i])) for r in ROWS + [head]) for i in range(len(head))]
print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
print("  ".join("-" * w for w in widths))
for r in ROWS:
    print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
