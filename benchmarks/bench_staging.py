"""Staged and compiled gradients (course_lib.staging, course_lib.compiling) against the tape,
HIPS autograd and JAX (eager and jit), side by side in one run.

Run: .venv/bin/python benchmarks/bench_staging.py [--quick]
Prints two tables: the cannon's gradient (chapter 3's simulator, the step count fixed beforehand)
as a multiple of one plain float run, and a scalar multiply-add loop's gradient per recorded
operation; then the compile times, measured separately (the first call for a shape). The long
cannon (n_steps=1000) is timed for the float run, the tape and the compiled gradient only
(JAX's eager gradient and XLA's compile of 100,000 unrolled operations take minutes); --quick
skips it. BLAS is limited to one thread.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402

import autograd  # noqa: E402
import autograd.numpy as anp  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

from course_lib import grad, landing_distance, landing_steps  # noqa: E402
from course_lib.compiling import compiled_grad  # noqa: E402
from course_lib.staging import make_program  # noqa: E402

QUICK = "--quick" in sys.argv


def best(fn, repeat=5, number=None):
    """Best time of one call (seconds)."""
    timer = timeit.Timer(fn)
    if number is None:
        number = max(1, timer.autorange()[0] // 5)
    return min(timer.repeat(repeat, number)) / number


def first_call(fn):
    """The time of one call, which for a compiled function includes tracing and compiling."""
    start = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - start


def fmt(t):
    if t < 1e-6:
        return f"{t * 1e9:9.1f} ns"
    return f"{t * 1e3:9.3f} ms" if t >= 1e-3 else f"{t * 1e6:9.1f} µs"


def table(title, rows, ref, unit):
    print(f"\n{title}")
    print(f"  {'route':<28} {'time':>12}  {unit:>12}")
    for name, t in rows.items():
        print(f"  {name:<28} {fmt(t):>12}  {t / rows[ref]:11.3f}x")


# ---- 1. the cannon's gradient in the launch angle ------------------------------------------

def cannon_rows(n_steps, with_jax):
    angle, speed, drag = 0.7, 50.0, 0.005
    steps = landing_steps(angle, speed, drag, n_steps=n_steps)

    def cannon(a, v=speed, k=drag, xp=np):
        return landing_distance(a, v, k, n_steps=n_steps, steps=steps, xp=xp)
    compiled = compiled_grad(cannon)
    compile_ours = first_call(lambda: compiled(angle))
    want = grad(cannon)(angle)
    assert abs(compiled(angle) - want) < 1e-12 * abs(want)
    rows = {"float run": best(lambda: landing_distance(angle, speed, drag, n_steps=n_steps)),
            "tape gradient": best(lambda: grad(cannon)(angle), repeat=3),
            "staged and compiled": best(lambda: compiled(angle))}
    compiles = {"ours (trace, transform, exec)": compile_ours}
    lines = len(make_program(cannon, angle)), len(compiled.program(angle))
    if with_jax:
        rows["autograd gradient"] = best(lambda: autograd.grad(
            lambda a: landing_distance(a, speed, drag, n_steps=n_steps, xp=anp))(angle),
            repeat=2, number=1)
        eager = jax.grad(lambda a: cannon(a, xp=jnp))
        jitted = jax.jit(eager)
        compiles["JAX jit (trace, XLA)"] = first_call(lambda: jitted(angle))
        assert abs(float(jitted(angle)) - want) < 1e-10 * abs(want)
        rows["JAX eager gradient"] = best(lambda: eager(angle), repeat=1, number=1)
        rows["JAX jit gradient"] = best(lambda: jitted(angle).block_until_ready())
    return steps, lines, rows, compiles


# ---- 2. a scalar loop of multiply-adds, per operation ----------------------------------------

def loop(a, n=1000):
    x = 0.3
    for _ in range(n):
        x = x * a + 0.1
    return x


def loop_rows():
    n_ops = len(make_program(loop, 0.5))
    compiled = compiled_grad(loop)
    jitted = jax.jit(jax.grad(loop))
    compiles = {"ours (trace, transform, exec)": first_call(lambda: compiled(0.5)),
                "JAX jit (trace, XLA)": first_call(lambda: jitted(0.5))}
    assert abs(compiled(0.5) - grad(loop)(0.5)) < 1e-12
    rows = {"float run": best(lambda: loop(0.5)),
            "tape gradient": best(lambda: grad(loop)(0.5)),
            "staged and compiled": best(lambda: compiled(0.5)),
            "autograd gradient": best(lambda: autograd.grad(loop)(0.5), repeat=3),
            "JAX eager gradient": best(lambda: jax.grad(loop)(0.5), repeat=1, number=1),
            "JAX jit gradient": best(lambda: jitted(0.5).block_until_ready())}
    return n_ops, {k: t / n_ops for k, t in rows.items()}, compiles


steps, lines, rows, compiles = cannon_rows(100, with_jax=True)
table(f"cannon gradient, {steps} RK4 steps (program {lines[0]} lines, gradient program "
      f"{lines[1]})", rows, "float run", "vs float")
n_ops, per_op, loop_compiles = loop_rows()
table(f"scalar loop gradient, per operation ({n_ops} operations)", per_op, "tape gradient",
      "vs tape")
print("\ncompile times (first call)")
for name, t in compiles.items():
    print(f"  cannon, {name:<32} {fmt(t)}")
for name, t in loop_compiles.items():
    print(f"  loop, {name:<34} {fmt(t)}")
if not QUICK:
    steps, lines, rows, compiles = cannon_rows(1000, with_jax=False)
    table(f"cannon gradient, {steps} RK4 steps (program {lines[0]} lines, gradient program "
          f"{lines[1]})", rows, "float run", "vs float")
    for name, t in compiles.items():
        print(f"  compile, {name:<32} {fmt(t)}")
