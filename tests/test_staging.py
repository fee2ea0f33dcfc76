"""Tests of course_lib.staging and course_lib.compiling: programs evaluate to f; their JVP,
linearized, transposed and gradient programs agree with Dual, the tape and HIPS autograd on named
and on random programs; emitted source equals the tape's gradient; the cache keys on shapes and
dtypes; a data-dependent branch gets the clear error."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib import grad, jvp, mlp_apply, mlp_init
from course_lib.compiling import compiled_grad, jit, to_source
from course_lib.staging import (DataDependentBranch, cse, dce, grad_program, jvp as jvp_program,
                                linearize, make_program, transpose, vjp_program, vmap)

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 3))
S = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
X = RNG.standard_normal(3)
TOL = dict(rtol=1e-12, atol=1e-12)

FUNCTIONS = {  # name: f(m, x), x of shape (3,), a scalar output
    "Baydin's f": lambda m, x: m.log(x[0] ** 2) + x[0] * x[1] - m.sin(x[1]),
    "matmul, tanh, sum": lambda m, x: m.sum(m.tanh(A @ x) ** 2),
    "where, comparison": lambda m, x: m.sum(m.where(x > 0, x ** 3, 2.0 * x)),
    "reshape, transpose, broadcast": lambda m, x: m.sum(m.transpose(m.reshape(
        m.outer(x, x), (9, 1))) * m.arange(9.0)),
    "indexing with repeats, concatenate": lambda m, x: m.sum(m.concatenate(
        [x[[0, 0, 2]], x[1:] ** 2]) ** 2),
    "max, mean, exp": lambda m, x: m.max(m.exp(x)) + m.mean(x * x),
    "einsum, cumsum": lambda m, x: m.sum(m.cumsum(m.einsum("ij,j->i", A, x) * x[0])),
    "solve, det": lambda m, x: m.sum(m.linalg.solve(S + m.diag(x), x)) * m.linalg.det(S),
    "power, hypot, arctan2": lambda m, x: m.sum(m.hypot(x, 2.0) ** 1.5 + m.arctan2(x, 1.0 + x * x)),
}


def _dual_grad(f, x):
    return np.array([jvp(f, x, e)[1] for e in np.eye(len(x))])


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_every_route_agrees_on_named_functions(name):
    f = FUNCTIONS[name]
    program = make_program(lambda x: f(np, x), X)
    assert np.allclose(program(X), f(np, X), **TOL)
    want = autograd.grad(lambda z: f(anp, z))(X)
    tape = grad(lambda z: f(np, z))(X)
    dual = _dual_grad(lambda z: f(np, z), X)
    staged = grad_program(program)(X)
    compiled = compiled_grad(lambda z: f(np, z))(X)
    for got in (tape, dual, staged, compiled):
        assert np.allclose(got, want, **TOL), (name, got, want)
    assert np.array_equal(compiled, staged)  # the same program, run as source or interpreted


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jvp_linearize_and_transpose_programs(name):
    f = FUNCTIONS[name]
    program = make_program(lambda x: f(np, x), X)
    v, u = RNG.standard_normal(3), 0.7
    y, ydot = jvp_program(program)(X, v)
    want_y, want_ydot = jvp(lambda z: f(np, z), X, v)
    assert np.allclose(y, want_y, **TOL) and np.allclose(ydot, want_ydot, **TOL)
    primal, linear = linearize(program)
    outs = primal(X)
    y, residuals = outs[0], list(outs[1:])
    assert np.allclose(y, want_y, **TOL)
    assert np.allclose(linear(*residuals, v), want_ydot, **TOL)
    back = transpose(linear, len(residuals))
    xbar = back(*residuals, u)
    xbar = xbar[0] if isinstance(xbar, tuple) else xbar
    # the adjoint identity <u, J v> = <J^T u, v>, and J^T u against autograd
    assert np.allclose(u * linear(*residuals, v), np.dot(xbar, v), **TOL)
    assert np.allclose(xbar, u * autograd.grad(lambda z: f(anp, z))(X), **TOL)
    y2, xbar2 = vjp_program(program)(X, u)
    assert np.allclose(y2, want_y, **TOL) and np.allclose(xbar2, xbar, **TOL)


def test_baydin_listing_and_sizes():
    def f(x1, x2):
        return np.log(x1) + x1 * x2 - np.sin(x2)
    program = make_program(f, 2.0, 5.0)
    assert str(program).splitlines()[1:] == [
        "    v1:f64[] = log v-1",
        "    v2:f64[] = multiply v-1 v0",
        "    v3:f64[] = add v1 v2",
        "    v4:f64[] = sin v0",
        "    v5:f64[] = subtract v3 v4",
        "  return v5 }"]
    g = grad_program(program)
    assert [float(d) for d in g(2.0, 5.0)] == pytest.approx([5.5, 1.7163378145367738], abs=1e-15)
    assert len(g) <= 6


# ---- random programs (property tests) -------------------------------------------------------

UNARY = [lambda m, a: m.sin(a), lambda m, a: m.tanh(a), lambda m, a: m.exp(0.3 * a),
         lambda m, a: m.log(1.0 + a * a), lambda m, a: m.sqrt(1.0 + a * a), lambda m, a: -a,
         lambda m, a: a ** 3, lambda m, a: m.where(a > 0.1, a * a, m.cos(a)),
         lambda m, a: m.cumsum(a), lambda m, a: a[::-1] * a, lambda m, a: m.abs(a) + 1.0]
BINARY = [lambda m, a, b: a + b, lambda m, a, b: a - b, lambda m, a, b: a * b,
          lambda m, a, b: a / (1.0 + b * b), lambda m, a, b: m.maximum(a, b),
          lambda m, a, b: m.dot(a, b) * b, lambda m, a, b: m.arctan2(a, 2.0 + b * b),
          lambda m, a, b: m.concatenate([a[:2], b[2:]])]


@st.composite
def random_programs(draw):
    """A list of steps: each reads earlier values and appends one; the loss sums a mix of them."""
    steps = []
    for k in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            steps.append(("u", draw(st.integers(0, len(UNARY) - 1)), draw(st.integers(0, k + 1))))
        else:
            steps.append(("b", draw(st.integers(0, len(BINARY) - 1)),
                          draw(st.integers(0, k + 1)), draw(st.integers(0, k + 1))))
    return steps


def _build(steps):
    def f(m, x, y):
        values = [x, y]
        for step in steps:
            if step[0] == "u":
                values.append(UNARY[step[1]](m, values[step[2]]))
            else:
                values.append(BINARY[step[1]](m, values[step[2]], values[step[3]]))
        return m.sum(values[-1] ** 2) + m.sum(m.sin(values[len(values) // 2]))
    return f


@given(random_programs(), st.integers(0, 2 ** 31))
def test_random_programs_agree_with_tape_dual_and_autograd(steps, seed):
    f = _build(steps)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-1.5, 1.5, 4), rng.uniform(-1.5, 1.5, 4)
    program = make_program(lambda a, b: f(np, a, b), x, y)
    assert np.allclose(program(x, y), f(np, x, y), **TOL)
    want = autograd.grad(lambda a, b: f(anp, a, b), (0, 1))(x, y)
    tape = grad(lambda a, b: f(np, a, b), (0, 1))(x, y)
    staged = grad_program(program)(x, y)
    compiled = compiled_grad(lambda a, b: f(np, a, b), argnums=1)(x, y)
    for got in (tape, staged):
        for g, w in zip(got, want):
            assert np.allclose(g, w, **TOL)
    assert np.allclose(compiled, want[1], **TOL)
    v = rng.standard_normal(4)
    _, ydot = jvp_program(program, wrt=[0])(x, y, v)
    assert np.allclose(ydot, jvp(lambda a: f(np, a, y), x, v)[1], **TOL)
    assert np.allclose(ydot, np.dot(want[0], v), **TOL)


# ---- simplification, source, cache ----------------------------------------------------------

def test_dce_and_cse_keep_the_values():
    def f(x):
        unused = np.exp(x) * 3.0  # noqa: F841 (dead code)
        return np.sum(np.sin(x) * np.sin(x) + np.sin(x))
    program = make_program(f, X)
    small = cse(dce(program))
    assert len(program) == 8 and len(dce(program)) == 6 and len(small) == 4
    assert np.array_equal(small(X), program(X))


def test_emitted_source_executed_equals_the_tape():
    params = mlp_init((2, 8, 1), rng=3)
    data = RNG.standard_normal((5, 2))

    def loss(p, x):
        return np.mean((mlp_apply(p, x) - 1.0) ** 2)
    g = compiled_grad(loss)
    got, want = g(params, data), grad(loss)(params, data)
    assert isinstance(got, list) and len(got) == 4
    for a, b in zip(got, want):
        assert a.shape == b.shape and np.allclose(a, b, **TOL)
    source = g.source(params, data)
    assert source.startswith("def staged(") and "np.tanh(" in source
    text, namespace = to_source(g.program(params, data), "grad_loss")
    exec(compile(text, "<test>", "exec"), namespace)
    for a, b in zip(namespace["grad_loss"](*params, data), want):
        assert np.allclose(a, b, **TOL)
    # jit of the tape's own grad stages its backward pass: the same numbers again
    taped = jit(grad(loss))(params, data)
    for a, b in zip(taped, want):
        assert np.allclose(a, b, **TOL)


def test_the_cache_keys_on_shapes_and_dtypes():
    g = compiled_grad(lambda x: np.sum(np.tanh(x) ** 2))
    g(np.ones(3))
    g(np.zeros(3) + 0.5)
    assert g.compiled.traces == 1
    g(np.ones(4))
    g(np.ones(3, dtype=np.float32))
    g(np.ones((3, 1)))
    assert g.compiled.traces == 4 and len(g.cache) == 4
    assert g(np.ones(3, dtype=np.float32)).dtype == np.float32
    assert {k[1][0] for k in g.cache} == {(3,), (4,), (3, 1)}


def test_a_data_dependent_branch_gets_the_clear_error():
    def f(x):
        if np.sum(x) > 0:
            return np.sum(np.sin(x))
        return np.sum(x)
    with pytest.raises(DataDependentBranch, match="np.where.*course_lib.grad"):
        make_program(f, X)
    with pytest.raises(DataDependentBranch, match="the tape"):
        compiled_grad(f)(X)
    assert np.allclose(grad(f)(X), np.cos(X) if np.sum(X) > 0 else np.ones(3))
    # written with np.where it stages, and gives the tape's gradient
    g = compiled_grad(lambda x: np.where(np.sum(x) > 0, np.sum(np.sin(x)), np.sum(x)))
    assert np.allclose(g(X), grad(f)(X), **TOL) and np.allclose(g(-X), grad(f)(-X), **TOL)


@pytest.mark.parametrize("name", ["matmul, tanh, sum", "einsum, cumsum", "max, mean, exp",
                                  "solve, det", "indexing with repeats, concatenate"])
def test_batched_programs_and_jacobians_by_batched_jvps_and_vjps(name):
    f = FUNCTIONS[name]
    points = RNG.standard_normal((5, 3))
    program = make_program(lambda x: f(np, x), X)
    assert np.allclose(vmap(program, 5)(points), [f(np, p) for p in points], **TOL)
    # one batched pass of the gradient program gives the five gradients
    grads = vmap(grad_program(program), 5)(points)
    want = [autograd.grad(lambda z: f(anp, z))(p) for p in points]
    assert np.allclose(grads, want, **TOL)
    # the Jacobian of x -> (f(x), sin(x) * f(x)) by three JVPs in one pass and two VJPs in one
    g = make_program(lambda x: np.concatenate([np.reshape(f(np, x), (1,)),
                                               np.sin(x) * f(np, x)]), X)
    jac = autograd.jacobian(lambda z: anp.concatenate([anp.reshape(f(anp, z), (1,)),
                                                       anp.sin(z) * f(anp, z)]))(X)
    _, columns = vmap(jvp_program(g), 3, batched=[1])(X, np.eye(3))
    assert np.allclose(columns.T, jac, **TOL)
    primal, linear = linearize(g)
    residuals = list(primal(X)[1:])
    rows = vmap(transpose(linear, len(residuals)), 4, batched=[len(residuals)])(
        *residuals, np.eye(4))
    assert np.allclose(rows, jac, **TOL)


def test_importing_course_lib_imports_no_jax():
    import subprocess
    import sys
    code = "import sys, course_lib; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "course_lib must not import jax (chapter 7 imports it)"
