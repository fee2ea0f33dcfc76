"""Whole Jacobians and Hessians (jacfwd, jacrev, hessian) against HIPS autograd, in one run.

Run: .venv/bin/python benchmarks/bench_jacobians.py [--quick]
F(x) = tanh(A x) with A of n x n, and the scalar f(x) = sum(tanh(A x)^2) for the Hessian. Prints
the time, the reference measured in the same run, their ratio and the target. BLAS is limited
to one thread so the numbers are stable. Where JAX is installed (it is not a dependency of the
course), its eager and compiled Jacobians are timed on the same function too.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import timeit  # noqa: E402

import autograd  # noqa: E402
import autograd.numpy as anp  # noqa: E402
import numpy as np  # noqa: E402

from course_lib import hessian, jacfwd, jacrev  # noqa: E402

try:  # JAX is not a dependency of the course; where it is installed, its eager times are printed
    import jax  # noqa: E402
    import jax.numpy as jnp  # noqa: E402
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
except ImportError:
    jax = None

QUICK = "--quick" in sys.argv
SIZES = (10, 100) if QUICK else (10, 100, 1000)


def best(fn, repeat=3):
    number = max(1, timeit.Timer(fn).autorange()[0] // 5)
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def fmt(t):
    return f"{t * 1e3:10.2f} ms" if t >= 1e-3 else f"{t * 1e6:10.1f} µs"


print(f"{'measurement':<22} {'ours':>13} {'autograd':>13} {'ratio':>7} {'f':>13} {'ours / f':>9}"
      f"  target")
for n in SIZES:
    rng = np.random.default_rng(n)
    a, x = rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal(n)

    def F(z, xp=np):
        return xp.tanh(a @ z)

    def f(z, xp=np):
        return xp.sum(xp.tanh(a @ z) ** 2)
    t_F, t_f = best(lambda: F(x)), best(lambda: f(x))
    cases = [("jacfwd", lambda: jacfwd(F)(x), lambda: autograd.jacobian(lambda z: F(z, anp))(x),
              t_F, None),
             ("jacrev", lambda: jacrev(F)(x), lambda: autograd.jacobian(lambda z: F(z, anp))(x),
              t_F, None),
             ("hessian", lambda: hessian(f)(x), lambda: autograd.hessian(lambda z: f(z, anp))(x),
              t_f, 1 / 3 if n == 1000 else None)]
    for name, ours, ref, t_base, target in cases:
        t_ours, t_ref = best(ours), best(ref)
        verdict = "" if target is None else (
            f"<= {target:.2f}x autograd: {'PASS' if t_ours <= target * t_ref else 'MISS'}")
        print(f"{name + f', n = {n}':<22} {fmt(t_ours)} {fmt(t_ref)} {t_ours / t_ref:6.2f}x "
              f"{fmt(t_base)} {t_ours / t_base:8.0f}x  {verdict}")
        if jax is not None and name in ("jacfwd", "jacrev"):
            aj, xj = jnp.asarray(a), jnp.asarray(x)
            transform = jax.jacfwd if name == "jacfwd" else jax.jacrev
            eager = transform(lambda z: jnp.tanh(aj @ z))
            compiled = jax.jit(eager)
            compiled(xj).block_until_ready()
            t_eager = best(lambda: eager(xj).block_until_ready())
            t_jit = best(lambda: compiled(xj).block_until_ready())
            verdict = "" if n != 1000 else (
                f"<= 2x JAX eager: {'PASS' if t_ours <= 2 * t_eager else 'MISS'}")
            print(f"{'  JAX eager / jit':<22} {fmt(t_eager)} {fmt(t_jit)}   ours / eager "
                  f"{t_ours / t_eager:.2f}x, ours / jit {t_ours / t_jit:.1f}x  {verdict}")
