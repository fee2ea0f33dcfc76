"""Benchmark course_lib.minimize against scipy.optimize on L2-regularised logistic regression.

Run: .venv/bin/python benchmarks/bench_optim.py [--quick]

Our L-BFGS and Newton-CG with derivatives from course_lib's tape against scipy's L-BFGS-B and
Newton-CG with derivatives from HIPS autograd (f and gradient from one autograd call, jac=True),
side by side in one run, n = 10,000 examples and d in {100, 1,000, 10,000}. Then our Newton-CG at
d = 100,000 (n = 1,000, so the data matrix fits in 800 MB), run in a fresh process so that its
peak resident memory is its own. Targets (issue 7): iterations within +-20% of scipy's, final f
within 1e-6 relative, wall time <= 1.2x scipy's; d = 100,000 in <= 60 s and <= 2 GB peak.
Chapter 5 refers to it.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import autograd  # noqa: E402
import autograd.numpy as anp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from course_lib import minimize  # noqa: E402

LAM = 1e-3
# Both sides stop on the same test, ||grad f||_2 <= GTOL: ours natively; scipy through a callback
# that raises StopIteration (its own tests, max |grad_i| for L-BFGS-B and the step length for
# Newton-CG, are switched off). The callback reuses the gradient of the last evaluation.
GTOL = 1e-6


def make_problem(n, d, seed=0):
    """Standard normal features; labels from a hidden weight vector with as much noise as signal."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sign(X @ rng.standard_normal(d) + np.sqrt(d) * rng.standard_normal(n))

    def loss(xp):
        def f(w):
            return xp.mean(xp.logaddexp(0.0, -y * (X @ w))) + 0.5 * LAM * xp.sum(w * w)
        return f
    return loss(np), loss(anp)


def best_of(run, repeat):
    """Run `run()` `repeat` times; return (best wall time in s, result of the last run)."""
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def ours(f, d, method):
    res = minimize(f, np.zeros(d), method=method, gtol=GTOL)
    return res.nit, res.nfev, res.fun, res.success


def theirs(f_ag, d, method):
    value_and_grad = autograd.value_and_grad(f_ag)
    last = {}

    def vg(x):
        value, g = value_and_grad(x)
        last["x"], last["g"] = x.copy(), g
        return value, g

    def stop_on_gradient(intermediate_result):
        x = intermediate_result.x
        g = last["g"] if np.array_equal(last["x"], x) else value_and_grad(x)[1]
        if np.linalg.norm(g) <= GTOL:
            raise StopIteration

    if method == "L-BFGS-B":
        res = so.minimize(vg, np.zeros(d), method=method, jac=True, callback=stop_on_gradient,
                          options={"gtol": 0.0, "ftol": 0.0, "maxiter": 1000})
    else:
        res = so.minimize(vg, np.zeros(d), method=method, jac=True, callback=stop_on_gradient,
                          hessp=autograd.hessian_vector_product(f_ag),
                          options={"xtol": 1e-30, "maxiter": 1000})
    converged = np.linalg.norm(value_and_grad(res.x)[1]) <= GTOL
    return res.nit, res.nfev, float(res.fun), bool(converged)


def side_by_side(n=10_000, dims=(100, 1_000, 10_000)):
    print(f"L2 logistic regression, n = {n:,}, lambda = {LAM:g}, one BLAS thread, "
          "best-of-N wall time")
    header = (f"{'d':>7s} {'ours':>9s} {'nit':>4s} {'nfev':>5s} {'time':>8s} | {'scipy':>9s} "
              f"{'nit':>4s} {'nfev':>5s} {'time':>8s} | {'nit diff':>8s} {'f rel diff':>10s} "
              f"{'time ratio':>10s}  target: nit +-20%, f 1e-6, time <= 1.2x")
    print(header)
    print("-" * len(header))
    for d in dims:
        f_np, f_ag = make_problem(n, d)
        repeat = 3 if d <= 1_000 else 2
        for mine, ref in [("lbfgs", "L-BFGS-B"), ("newton-cg", "Newton-CG")]:
            t_a, (nit_a, nfev_a, f_a, ok_a) = best_of(lambda: ours(f_np, d, mine), repeat)
            t_b, (nit_b, nfev_b, f_b, ok_b) = best_of(lambda: theirs(f_ag, d, ref), repeat)
            nit_diff = (nit_a - nit_b) / nit_b
            f_diff = abs(f_a - f_b) / abs(f_b)
            ratio = t_a / t_b
            verdict = " ".join([
                "PASS" if abs(nit_diff) <= 0.2 else "MISS",
                "PASS" if f_diff <= 1e-6 else "MISS",
                "PASS" if ratio <= 1.2 else "MISS"])
            print(f"{d:7,d} {mine:>9s} {nit_a:4d} {nfev_a:5d} {t_a:7.3f}s | {ref:>9s} {nit_b:4d} "
                  f"{nfev_b:5d} {t_b:7.3f}s | {nit_diff:+8.0%} {f_diff:10.1e} {ratio:9.2f}x  "
                  f"{verdict}{'' if ok_a and ok_b else '  (a run reported no success)'}")


def large_newton_cg(n=1_000, d=100_000):
    """Newton-CG at d = 100,000 in this process; prints one JSON line (run in a fresh process)."""
    start = time.perf_counter()
    f_np, _ = make_problem(n, d)
    t_data = time.perf_counter() - start
    start = time.perf_counter()
    res = minimize(f_np, np.zeros(d), method="newton-cg", gtol=GTOL)
    t_solve = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({"n": n, "d": d, "nit": res.nit, "nhev": res.nhev, "nfev": res.nfev,
                      "fun": res.fun, "grad_norm": float(np.linalg.norm(res.jac)),
                      "success": bool(res.success), "t_data": t_data, "t_solve": t_solve,
                      "peak_bytes": peak}))


def large():
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--large"],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    data_gb = 8 * r["n"] * r["d"] / 1e9
    print(f"\nNewton-CG at d = {r['d']:,}, n = {r['n']:,} (data {data_gb:.1f} GB; a dense "
          f"Hessian would need {8 * r['d'] ** 2 / 1e9:.0f} GB), fresh process")
    print(f"  {r['nit']} iterations, {r['nhev']} Hessian-vector products, {r['nfev']} gradients, "
          f"f = {r['fun']:.6g}, |grad f| = {r['grad_norm']:.1e}, success {r['success']}")
    print(f"  solve time {r['t_solve']:.1f} s (data generation {r['t_data']:.1f} s)   "
          f"target <= 60 s: {'PASS' if r['t_solve'] <= 60 else 'MISS'}")
    print(f"  peak resident memory {r['peak_bytes'] / 2**30:.2f} GiB   target <= 2 GB: "
          f"{'PASS' if r['peak_bytes'] <= 2e9 else 'MISS'}")


if __name__ == "__main__":
    if "--large" in sys.argv:
        large_newton_cg()
    elif "--quick" in sys.argv:
        side_by_side(n=2_000, dims=(100, 1_000))
    else:
        side_by_side()
        large()
