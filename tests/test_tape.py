"""Tests of course_lib.tape: reverse mode against HIPS autograd, dual numbers and finite differences."""
import autograd
import autograd.numpy as anp
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib import Dual, derivative, jvp
from course_lib.reverse import grad, hessian, hvp, hvp_reverse, jacrev, value_and_grad, vjp
from course_lib.tape import Traced, unbroadcast
from course_lib.wengert import trace

RTOL, ATOL = 1e-7, 1e-9


def close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rtol, atol=atol)


def central_difference(f, x, v, h=1e-6):
    """d/dt f(x + t v) at t = 0 by central differences (independent of every AD code path)."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


# ---- hard-coded known values (no helpers involved) -------------------------------------------

def baydin(x1, x2):
    v1 = np.log(x1)
    v2 = x1 * x2
    v3 = np.sin(x2)
    v4 = v1 + v2
    return v4 - v3


def test_baydin_numbers():
    value, (g1, g2) = value_and_grad(baydin, (0, 1))(2.0, 5.0)
    assert round(float(value), 3) == 11.652
    assert round(float(g1), 3) == 5.5
    assert round(float(g2), 3) == 1.716


def test_baydin_wengert_table():
    t = trace(baydin, 2.0, 5.0)
    assert [r["var"] for r in t.rows] == ["v-1", "v0", "v1", "v2", "v3", "v4", "v5"]
    assert [r["op"] for r in t.rows[2:]] == ["log", "multiply", "sin", "add", "subtract"]
    values = [round(float(r["value"]), 3) for r in t.rows]
    assert values == [2.0, 5.0, 0.693, 10.0, -0.959, 10.693, 11.652]
    adjoints = [round(float(r["adjoint"]), 3) for r in t.rows]
    assert adjoints == [5.5, 1.716, 1.0, 1.0, -1.0, 1.0, 1.0]
    # forward tangent trace for dx1 = 1 (Baydin et al. 2018, Table 2): 1, 0, 0.5, 5, 0, 5.5, 5.5
    assert [round(t_, 3) for t_ in t.tangents(1.0, 0.0)] == [1.0, 0.0, 0.5, 5.0, 0.0, 5.5, 5.5]
    assert "v5" in str(t) and "adjoint" in str(t)


def test_simple_closed_forms():
    assert grad(lambda x: x * x * x)(2.0) == 12.0
    close(grad(lambda x: np.sum(x ** 2))(np.arange(3.0)), [0.0, 2.0, 4.0])
    close(grad(np.tanh)(0.5), 1 - np.tanh(0.5) ** 2)
    assert grad(lambda x: 3.0)(1.0) == 0.0


# ---- random programs with broadcasting: tape vs autograd vs dual vs finite differences -------

UNARY = [
    lambda xp, a: xp.sin(a), lambda xp, a: xp.cos(a), lambda xp, a: xp.tanh(a),
    lambda xp, a: xp.exp(0.5 * a), lambda xp, a: xp.log(1.0 + a * a),
    lambda xp, a: xp.sqrt(1.0 + a * a), lambda xp, a: a ** 2, lambda xp, a: xp.arctan(a),
    lambda xp, a: -a, lambda xp, a: xp.log1p(xp.exp(a)),
]
BINARY = [
    lambda xp, a, b: a + b, lambda xp, a, b: a - b, lambda xp, a, b: a * b,
    lambda xp, a, b: a / (1.5 + xp.sin(b)), lambda xp, a, b: xp.logaddexp(a, b),
    lambda xp, a, b: xp.hypot(a, b + 2.0), lambda xp, a, b: (1.0 + a * a) ** xp.cos(b),
]

shapes_pair = st.sampled_from([((), ()), ((3,), ()), ((), (3,)), ((2, 3), (3,)),
                               ((2, 1), (1, 3)), ((4,), (4,)), ((2, 3), (2, 3)), ((3, 1), (3,))])
program = st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.integers(0, 6),
                             st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=6)


def run_program(xp, steps, x, y):
    """A straight-line program over a growing list of values; returns a scalar."""
    vals = [x, y]
    for is_unary, u, b, i, j in steps:
        a = vals[i % len(vals)]
        if is_unary:
            vals.append(UNARY[u](xp, a))
        else:
            vals.append(BINARY[b](xp, a, vals[j % len(vals)]))
    return xp.sum(xp.tanh(vals[-1]) * 0.7 + vals[-1] * 0.1) + xp.sum(x * x * y)


def draw_inputs(data, shapes):
    elems = st.floats(-1.5, 1.5)
    x = data.draw(hnp.arrays(float, shapes[0], elements=elems))
    y = data.draw(hnp.arrays(float, shapes[1], elements=elems))
    return np.asarray(x, float), np.asarray(y, float)


@given(steps=program, shapes=shapes_pair, data=st.data())
def test_random_programs_first_order(steps, shapes, data):
    x, y = draw_inputs(data, shapes)
    gx, gy = grad(lambda x, y: run_program(np, steps, x, y), (0, 1))(x, y)
    ax, ay = autograd.grad(lambda x, y: run_program(anp, steps, x, y), (0, 1))(x, y)
    assert np.shape(gx) == np.shape(x) and np.shape(gy) == np.shape(y)
    close(gx, ax)
    close(gy, ay)
    # forward mode and finite differences along a direction
    rng = np.random.default_rng(0)
    vx, vy = rng.normal(size=np.shape(x)), rng.normal(size=np.shape(y))
    along = np.sum(gx * vx) + np.sum(gy * vy)
    both = np.concatenate([np.ravel(x), np.ravel(y)])
    direction = np.concatenate([np.ravel(vx), np.ravel(vy)])

    def flat(z):
        zx = np.reshape(z[:np.size(x)], np.shape(x))
        zy = np.reshape(z[np.size(x):], np.shape(y))
        return run_program(np, steps, zx, zy)
    close(jvp(flat, both, direction)[1], along)
    close(central_difference(flat, both, direction), along, rtol=1e-5, atol=1e-6)


@given(steps=program, data=st.data())
def test_random_programs_second_order(steps, data):
    x, y = draw_inputs(data, ((3,), (3,)))

    def f(x):
        return run_program(np, steps, x, y)

    def fa(x):
        return run_program(anp, steps, x, y)
    h_ag = autograd.hessian(fa)(x)
    close(hessian(f)(x), h_ag, rtol=1e-6, atol=1e-8)
    v = np.array([0.3, -1.0, 0.5])
    close(hvp(f, x, v), h_ag @ v, rtol=1e-6, atol=1e-8)  # forward-over-reverse (Dual)
    close(hvp_reverse(f, x, v), h_ag @ v, rtol=1e-6, atol=1e-8)  # reverse-over-reverse
    # grad's own derivative by finite differences
    close(central_difference(grad(f), x, v, h=1e-5), h_ag @ v, rtol=1e-4, atol=1e-6)


# ---- one operation at a time: reductions, shapes, indexing, products, selection --------------

def check_op(fn, *arrays, argnums=0):
    """Tape gradient of sum(w * fn(...)) equals autograd's, for a fixed random weight w."""
    out = fn(np, *arrays)
    w = np.random.default_rng(1).normal(size=np.shape(out))
    g = grad(lambda *a: np.sum(w * fn(np, *a)), argnums)(*arrays)
    ga = autograd.grad(lambda *a: anp.sum(w * fn(anp, *a)), argnums)(*arrays)
    close(g, ga)


A = np.random.default_rng(2).normal(size=(3, 4))
B = np.random.default_rng(3).normal(size=(4, 2))
V = np.random.default_rng(4).normal(size=4)
T3 = np.random.default_rng(5).normal(size=(2, 3, 4))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std"])
def test_reductions(name, axis, keepdims):
    check_op(lambda xp, a: getattr(xp, name)(a, axis=axis, keepdims=keepdims), A)


def test_max_shares_ties_like_autograd():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    close(grad(lambda x: np.max(x))(x), autograd.grad(lambda x: anp.max(x))(x))


@pytest.mark.parametrize("fn", [
    lambda xp, a: xp.reshape(a, (4, 3)), lambda xp, a: a.T, lambda xp, a: xp.transpose(a),
    lambda xp, a: xp.swapaxes(a, 0, 1), lambda xp, a: xp.ravel(a),
    lambda xp, a: xp.expand_dims(a, 1), lambda xp, a: xp.squeeze(a[:, :1]),
    lambda xp, a: a.reshape(2, 6), lambda xp, a: xp.broadcast_to(a[:1], (3, 4)),
    lambda xp, a: xp.cumsum(a, axis=1), lambda xp, a: xp.flip(a, 0) if xp is np else a[::-1],
    lambda xp, a: xp.linalg.norm(a), lambda xp, a: xp.linalg.norm(a, axis=1),
    lambda xp, a: xp.clip(a, -0.5, 0.5), lambda xp, a: xp.abs(a),
])
def test_shape_ops(fn):
    check_op(fn, A)


@pytest.mark.parametrize("index", [0, -1, (1, 2), slice(1, 3), (slice(None), 2),
                                   (Ellipsis, 1), (None, 0), np.array([0, 2, 2]),
                                   (np.array([0, 1, 1]), np.array([3, 0, 0])),
                                   np.array([True, False, True])])
def test_indexing(index):
    check_op(lambda xp, a: a[index], A)


def test_boolean_mask_from_comparison():
    check_op(lambda xp, a: a[a > 0], A)


def test_transpose_with_axes():
    check_op(lambda xp, a: xp.transpose(a, (2, 0, 1)), T3)


@pytest.mark.parametrize("fn, args", [
    (lambda xp, a, b: a @ b, (A, B)), (lambda xp, a, b: xp.dot(a, b), (A, B)),
    (lambda xp, a, v: a @ v, (A, V)), (lambda xp, v, b: v @ b, (V, B)),
    (lambda xp, v, w: xp.dot(v, w), (V, V[::-1].copy())),
    (lambda xp, t, b: xp.matmul(t, b), (T3, B)), (lambda xp, t, v: t @ v, (T3, V)),
    (lambda xp, v, w: xp.outer(v, w), (V, V[:3].copy())),
    (lambda xp, a, b: xp.concatenate([a, b.T], axis=0), (A, B)),
    (lambda xp, a, b: xp.concatenate([a.T, b], axis=1), (A, B)),
    (lambda xp, a, v: xp.stack([a[0], v, a[1]], axis=1), (A, V)),
    (lambda xp, a, v: xp.stack([a[0], v]), (A, V)),
    (lambda xp, a, v: xp.hstack([a[0], v]), (A, V)),
    (lambda xp, a, v: xp.vstack([a, v]), (A, V)),
    (lambda xp, a, v: xp.maximum(a, v), (A, V)), (lambda xp, a, v: xp.minimum(a, v), (A, V)),
    (lambda xp, a, v: xp.arctan2(a, v), (A, V)),
])
@pytest.mark.parametrize("argnums", [0, 1])
def test_binary_array_ops(fn, args, argnums):
    check_op(fn, *args, argnums=argnums)


def finite_difference_gradient(f, x, h=1e-6):
    """Gradient of scalar f by central differences, one coordinate at a time."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("fn", [lambda a, v: np.where(a > 0, a, v),
                                lambda a, v: np.where(a > 0, np.sin(v), a * a)])
def test_where_broadcasts_against_finite_differences(fn):
    # (autograd's np.where rule does not unbroadcast, so finite differences are the oracle here)
    w = np.random.default_rng(1).normal(size=A.shape)
    close(grad(lambda a: np.sum(w * fn(a, V)))(A),
          finite_difference_gradient(lambda a: np.sum(w * fn(a, V)), A), rtol=1e-6, atol=1e-8)
    close(grad(lambda v: np.sum(w * fn(A, v)))(V),
          finite_difference_gradient(lambda v: np.sum(w * fn(A, v)), V), rtol=1e-6, atol=1e-8)


COMPOSITE_CASES = [
    (lambda xp, a: xp.diff(a, axis=1), (A,)), (lambda xp, a: xp.diff(a, n=2, axis=0), (A,)),
    (lambda xp, a: xp.roll(a, 2, axis=1), (A,)), (lambda xp, a: xp.roll(a, -1), (A,)),
    (lambda xp, a: xp.trace(a[:, :3]), (A,)),
    (lambda xp, a: xp.repeat(a, 2, axis=0), (A,)), (lambda xp, a: xp.tile(a, (2, 1)), (A,)),
    (lambda xp, a: xp.real(a), (A,)),
    (lambda xp, v, w: xp.column_stack([v, w]), (V, V[::-1].copy())),
    (lambda xp, a, b: xp.cross(a[:, :3], b[:3, :].T), (A, B[:, :1] * B[:3, :1].T[:, :3] + 1)),
    (lambda xp, a, b: xp.kron(a, b), (A[:2, :2], B[:2, :])),
    (lambda xp, a, b: xp.einsum("ij,jk->ik", a, b), (A, B)),
    (lambda xp, a, b: xp.einsum("ij,jk->i", a, b), (A, B)),
    (lambda xp, t, v: xp.einsum("abc,c->ab", t, v), (T3, V)),
    (lambda xp, a, v: xp.einsum("ij,j", a, v), (A, V)),  # implicit output: "i"
    (lambda xp, a, b: xp.einsum("ji,ik", b[:3, :].T, a), (A, B)),  # implicit output: "jk"
    (lambda xp, t, b: xp.einsum("...ij,jk->...ik", t, b), (T3, B)),
    (lambda xp, t, v: xp.einsum("...j,j", t, v), (T3, V)),  # implicit output: "...i" (here "ab")
    (lambda xp, t, u: xp.einsum("...ij,...kj->...ik", t, u), (T3, T3[:1])),  # batch axis 1 vs 2
    (lambda xp, t, b: xp.tensordot(t, b, axes=1), (T3, B)),
    (lambda xp, t, a: xp.tensordot(t, a, axes=([1, 2], [0, 1])), (T3, A)),
]


@pytest.mark.parametrize("fn, args, argnums", [
    (fn, args, k) for fn, args in COMPOSITE_CASES for k in range(len(args))])
def test_composite_array_functions(fn, args, argnums):
    check_op(fn, *args, argnums=argnums)


@pytest.mark.parametrize("offset", [0, 1, -1])
def test_diagonal_against_finite_differences(offset):
    # (autograd's rule for np.diagonal covers only other axes, so finite differences are the oracle)
    w = np.arange(1.0, 4.0)[:len(np.diagonal(A, offset))]
    close(grad(lambda a: np.sum(w * np.diagonal(a, offset)))(A),
          finite_difference_gradient(lambda a: np.sum(w * np.diagonal(a, offset)), A),
          rtol=1e-6, atol=1e-8)


def logsumexp(xp, a):
    m = xp.max(a, axis=1, keepdims=True)
    return m[:, 0] + xp.log(xp.sum(xp.exp(a - m), axis=1))


def test_log_sum_exp_style_code():
    check_op(logsumexp, A * 30.0)
    close(hessian(lambda a: np.sum(logsumexp(np, a)))(A[0:1]),
          autograd.hessian(lambda a: anp.sum(logsumexp(anp, a)))(A[0:1]))


def test_unbroadcast_shapes():
    g = np.ones((2, 3, 4))
    assert unbroadcast(g, (3, 4)).shape == (3, 4)
    close(unbroadcast(g, (3, 1)), np.full((3, 1), 8.0))
    close(unbroadcast(g, ()), 24.0)
    assert unbroadcast(g, (2, 3, 4)) is g


# ---- the public transformations --------------------------------------------------------------

@given(data=st.data(), n=st.integers(1, 4), m=st.integers(1, 4))
def test_vjp_adjoint_identity(data, n, m):
    """<u, J v> (forward mode) equals <J^T u, v> (the tape's pullback)."""
    rng = np.random.default_rng(n * 10 + m)
    W = rng.normal(size=(m, n))
    x = data.draw(hnp.arrays(float, n, elements=st.floats(-2, 2)))
    u, v = rng.normal(size=m), rng.normal(size=n)

    def f(x):
        return np.tanh(W @ x) * np.exp(np.sin(x[0]))
    y, pullback = vjp(f, x)
    close(y, f(x))
    close(np.dot(u, jvp(f, x, v)[1]), np.dot(pullback(u), v))
    close(pullback(u), pullback(u))  # the pullback can be called again with the same answer


def test_jacrev_matches_autograd_and_dual():
    f = lambda x: np.sin(A @ x) * x[0]  # noqa: E731
    fa = lambda x: anp.sin(anp.dot(A, x)) * x[0]  # noqa: E731
    J = jacrev(f)(V)
    assert J.shape == (3, 4)
    close(J, autograd.jacobian(fa)(V))
    close(J @ V[::-1], jvp(f, V, V[::-1])[1])


def test_jacrev_of_matrix_output():
    f = lambda a: np.tanh(a) * 2.0  # noqa: E731
    close(jacrev(f)(A), autograd.jacobian(lambda a: anp.tanh(a) * 2.0)(A))


def test_gradient_twice_gives_the_same_answer():
    df = grad(lambda w: np.sum(np.tanh(A @ w) ** 2))
    first = df(V)
    second = df(V)
    close(first, second, rtol=0, atol=0)


def test_long_loop_no_recursion_limit():
    def f(x):
        for _ in range(100_000):
            x = x * 1.00001 + 1e-6
        return x
    g = grad(f)(1.0)
    close(g, 1.00001 ** 100_000, rtol=1e-9)


def test_tape_is_released_after_grad():
    kept = []

    def f(x):
        kept.append(x)
        return np.sum(x * x)
    grad(f)(V)
    assert kept[0]._tape.entries == []
    with pytest.raises(RuntimeError, match="escaped"):
        kept[0] * 2.0


def test_pytree_arguments():
    params = [A, {"b": V[:3].copy(), "c": (2.0,)}]

    def loss(p):
        W, rest = p
        return np.sum(np.tanh(W @ V + rest["b"]) ** 2) * rest["c"][0]

    def loss_a(p):
        W, rest = p
        return anp.sum(anp.tanh(anp.dot(W, V) + rest["b"]) ** 2) * rest["c"][0]
    g = grad(loss)(params)
    ga = autograd.grad(loss_a)(params)
    assert isinstance(g, list) and isinstance(g[1], dict) and isinstance(g[1]["c"], tuple)
    close(g[0], ga[0])
    close(g[1]["b"], ga[1]["b"])
    close(g[1]["c"][0], ga[1]["c"][0])


# A small network whose parameters are a list with a dict inside: the trees of chapter 3.
NET = [A[:, :3].copy(), {"b": V[:3].copy(), "w": V[1:].copy()}]
NET_DIR = [A[:, 1:].copy(), {"b": V[1:].copy(), "w": V[:3].copy() * 0.5}]


def net_loss(p, xp=np):
    W, rest = p
    h = xp.tanh(xp.dot(W, V[:3]) + rest["b"])
    return xp.sum((h * rest["w"]) ** 2) + xp.sum(W ** 3) * 0.1


def flat_net(theta):
    """Autograd's view of NET: one vector (independent of our tree code)."""
    W = anp.reshape(theta[:9], (3, 3))
    return [W, {"b": theta[9:12], "w": theta[12:15]}]


def as_vector(p):
    return np.concatenate([p[0].ravel(), p[1]["b"], p[1]["w"]])


def test_hvp_takes_trees():
    H = autograd.hessian(lambda t: net_loss(flat_net(t), anp))(as_vector(NET))
    want = H @ as_vector(NET_DIR)
    for got in (hvp(net_loss, NET, NET_DIR), hvp_reverse(net_loss, NET, NET_DIR)):
        assert isinstance(got, list) and isinstance(got[1], dict)
        assert got[0].shape == (3, 3) and got[1]["b"].shape == (3,)
        close(as_vector(got), want)
    with pytest.raises(ValueError, match="structure of x"):
        hvp(net_loss, NET, NET_DIR[:1])


def test_hessian_of_a_tree_has_a_block_per_pair_of_leaves():
    H = autograd.hessian(lambda t: net_loss(flat_net(t), anp))(as_vector(NET))
    got = hessian(net_loss)(NET)
    leaves = lambda p: [p[0], p[1]["b"], p[1]["w"]]  # noqa: E731
    sizes = [x.size for x in leaves(NET)]
    # block [i][j] has the shape of leaf i followed by that of leaf j: d2 f / dx_i dx_j
    dense = np.block([[np.reshape(b, (m, n)) for b, n in zip(leaves(row), sizes)]
                      for row, m in zip(leaves(got), sizes)])
    assert got[1]["b"][0].shape == (3, 3, 3)
    close(dense, H)


def test_jacrev_takes_trees_and_tuples_of_argnums():
    def f(p, s):
        return np.stack([np.sum(np.sin(p["x"]) * s), p["y"][0][0] * s ** 2])

    def f_a(p, s):
        return anp.array([anp.sum(anp.sin(p["x"]) * s), p["y"][0][0] * s ** 2])
    p, s = {"x": V[:3].copy(), "y": (V[3:].copy(),)}, 1.3
    got = jacrev(f, (0, 1))(p, s)
    close(got[0]["x"], autograd.jacobian(lambda x: f_a({"x": x, "y": p["y"]}, s))(p["x"]))
    close(got[0]["y"][0], autograd.jacobian(lambda y: f_a({"x": p["x"], "y": (y,)}, s))(p["y"][0]))
    close(got[1], autograd.jacobian(lambda t: f_a(p, t))(s))
    assert got[0]["y"][0].shape == (2,) + p["y"][0].shape and got[1].shape == (2,)
    # a tuple output: one block per output, the input's structure inside
    two = jacrev(lambda x: (x * 2.0, np.sum(x)))(V)
    close(two[0], 2.0 * np.eye(V.size))
    close(two[1], np.ones(V.size))


def test_unused_argument_has_zero_gradient():
    g = grad(lambda x, y: np.sum(x * 2.0), (0, 1))(V, A)
    close(g[1], np.zeros_like(A))
    assert g[1].shape == A.shape


def test_integer_input_is_differentiated_as_float():
    close(grad(lambda x: x ** 3)(2), 12.0)


# ---- nesting: higher order and no perturbation confusion -------------------------------------

def test_grad_of_grad_scalar():
    d3 = grad(grad(grad(lambda x: np.sin(x) * x)))
    x = 0.7
    close(d3(x), -3 * np.sin(x) - x * np.cos(x))


def test_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] = 1 (a confused implementation gives 2)
    assert grad(lambda x: x * grad(lambda y: x + y)(1.0))(1.0) == 1.0
    assert derivative(lambda x: x * grad(lambda y: x + y)(1.0), 1.0) == 1.0
    assert grad(lambda x: x * derivative(lambda y: x + y, 1.0))(1.0) == 1.0


def test_reverse_over_forward():
    f = lambda x: np.sum(np.exp(A @ x))  # noqa: E731
    fa = lambda x: anp.sum(anp.exp(anp.dot(A, x)))  # noqa: E731
    v = np.ones(4)
    # gradient of the directional derivative  d/dx <grad f(x), v> = H v
    g = grad(lambda x: jvp(f, x, v)[1])(V)
    close(g, autograd.hessian(fa)(V) @ v)


def test_forward_over_reverse_dual_through_tape():
    f = lambda x: np.sum(np.tanh(A @ x) ** 2) + np.max(x) * x[1]  # noqa: E731
    fa = lambda x: anp.sum(anp.tanh(anp.dot(A, x)) ** 2) + anp.max(x) * x[1]  # noqa: E731
    g = grad(f)(Dual(V, V[::-1].copy()))
    assert isinstance(g, Dual)
    close(g.primal, autograd.grad(fa)(V))
    close(g.tangent, autograd.hessian(fa)(V) @ V[::-1])


def test_hessian_of_indexing_and_concatenate():
    f = lambda x: np.sum(np.concatenate([x[:2] ** 3, np.sin(x[2:])]) * x[::-1])  # noqa: E731
    fa = lambda x: anp.sum(anp.concatenate([x[:2] ** 3, anp.sin(x[2:])]) * x[::-1])  # noqa
    close(hessian(f)(V), autograd.hessian(fa)(V))
    close(hvp(f, V, V), autograd.hessian(fa)(V) @ V)
    close(hvp(lambda x: np.sum(x[np.array([0, 0, 2])] ** 3), V, V),
          autograd.hessian(lambda x: anp.sum(x[np.array([0, 0, 2])] ** 3))(V) @ V)


# ---- errors that say what to do --------------------------------------------------------------

def test_grad_of_vector_output_says_use_jacrev():
    with pytest.raises(TypeError, match="jacrev"):
        grad(lambda x: x * 2.0)(V)


# ---- linear algebra and sorting ---------------------------------------------------------------

LIN = np.array([[2.0, 1.0, 0.3], [0.5, 3.0, 0.1], [0.2, 0.4, 1.5]])
LINEAR_ALGEBRA = {
    "inv": lambda xp, a: xp.sum(xp.linalg.inv(a) ** 2),
    "solve, vector": lambda xp, a: xp.sum(xp.linalg.solve(a, xp.sin(a[0])) ** 3),
    "solve, matrix": lambda xp, a: xp.sum(xp.linalg.solve(a.T, xp.dot(a, a)) ** 2),
    "det": lambda xp, a: xp.linalg.det(a) ** 2,
    "slogdet": lambda xp, a: xp.linalg.slogdet(a)[1] * xp.sum(a),
    "sort, 1-d": lambda xp, a: xp.sum(xp.sort(xp.ravel(a)) ** 3 * xp.arange(9.0)),
    "eigh, values": lambda xp, a: xp.sum(xp.linalg.eigh(a + a.T)[0] ** 3 * xp.arange(1.0, 4.0)),
    "eigh, vectors": lambda xp, a: xp.sum(LIN * xp.linalg.eigh(xp.dot(a, a.T))[1] ** 2),
    "cholesky": lambda xp, a: xp.sum(LIN * xp.linalg.cholesky(xp.dot(a, a.T) + xp.eye(3))),
}


@pytest.mark.parametrize("name", LINEAR_ALGEBRA)
def test_linear_algebra_to_second_order_against_autograd(name):
    fn = LINEAR_ALGEBRA[name]
    want_g = autograd.grad(lambda a: fn(anp, a))(LIN)
    want_h = autograd.hessian(lambda a: fn(anp, a))(LIN)
    close(grad(lambda a: fn(np, a))(LIN), want_g)
    close(hessian(lambda a: fn(np, a))(LIN), want_h)
    close(hvp(lambda a: fn(np, a), LIN, A[:, :3]), np.tensordot(want_h, A[:, :3], 2))
    close(jvp(lambda a: fn(np, a), LIN, A[:, :3])[1], np.sum(want_g * A[:, :3]))


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_sort_along_any_axis_against_finite_differences(axis):
    # (autograd sorts 1-d arrays only, so finite differences are the oracle here)
    w = np.arange(1.0, 10.0)
    f = lambda a: np.sum(np.ravel(np.sort(a, axis=axis)) * w * np.ravel(a))  # noqa: E731
    close(grad(f)(LIN), finite_difference_gradient(f, LIN), rtol=1e-6, atol=1e-8)
    close(hvp(f, LIN, A[:, :3]), (grad(f)(LIN + 1e-6 * A[:, :3]) - grad(f)(LIN - 1e-6 * A[:, :3]))
          / 2e-6, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["cholesky", "eigh"])
def test_cholesky_and_eigh_read_the_lower_triangle_as_numpy_does(name):
    # On an unsymmetric matrix numpy uses its lower triangle: finite differences on each entry
    # (independent of every AD rule) see derivative 0 above the diagonal, and so must we.
    a = np.tril(LIN) + np.tril(LIN, -1).T + 3 * np.eye(3) + np.triu(A[:, :3], 1)
    fn = {"cholesky": lambda a: np.sum(LIN * np.linalg.cholesky(a)),
          "eigh": lambda a: np.sum(LIN * np.linalg.eigh(a)[1] ** 2 + np.linalg.eigh(a)[0] ** 2)}
    f = fn[name]
    want = finite_difference_gradient(f, a)
    assert np.all(np.triu(want, 1) == 0)
    close(grad(f)(a), want, rtol=1e-6, atol=1e-8)
    close(jvp(f, a, A[:, :3])[1], np.sum(want * A[:, :3]), rtol=1e-6, atol=1e-8)


def test_linear_algebra_errors_say_what_is_supported():
    with pytest.raises(NotImplementedError, match="square matrix or a stack of them"):
        grad(lambda a: np.linalg.det(a))(A)
    with pytest.raises(NotImplementedError, match="one 2-d matrix"):
        grad(lambda a: np.sum(np.linalg.svd(a, compute_uv=False)))(np.stack([LIN, LIN]))


def test_take_along_axis_with_repeated_indices_against_indexing_in_autograd():
    # (autograd has no rule for take_along_axis: it gets the same selection by indexing)
    idx = np.array([0, 0, 2])
    f = lambda x: np.sum(np.take_along_axis(x, idx, 0) ** 2 * V[:3])  # noqa: E731
    g = lambda x: anp.sum(x[idx] ** 2 * V[:3])  # noqa: E731
    close(grad(f)(V[:3]), autograd.grad(g)(V[:3]))
    close(hessian(f)(V[:3]), autograd.hessian(g)(V[:3]))


@pytest.mark.parametrize("subscripts, shape", [
    ("ii->i", (3, 3)), ("ii", (3, 3)), ("iij->j", (3, 3, 2)), ("iji->j", (3, 2, 3)),
    ("...ii->...i", (2, 3, 3)), ("iijj", (2, 2, 3, 3)), ("ij,jj->i", (4, 4))])
def test_einsum_with_a_repeated_index_against_finite_differences(subscripts, shape):
    # (autograd refuses these subscripts, so finite differences are the oracle; with two
    # operands, the first is a constant matrix and x the second)
    x = np.random.default_rng(6).normal(size=shape)
    before = (A,) if "," in subscripts else ()
    w = np.random.default_rng(7).normal(size=np.shape(np.einsum(subscripts, *before, x)))
    f = lambda x: np.sum(w * np.einsum(subscripts, *before, x) ** 2)  # noqa: E731
    close(jvp(lambda x: np.einsum(subscripts, *before, x), x, x)[0],
          np.einsum(subscripts, *before, x))
    close(grad(f)(x), finite_difference_gradient(f, x), rtol=1e-6, atol=1e-8)
    v = np.random.default_rng(8).normal(size=shape)
    close(hvp(f, x, v), (grad(f)(x + 1e-5 * v) - grad(f)(x - 1e-5 * v)) / 2e-5, rtol=1e-5,
          atol=1e-6)


def test_einsum_under_the_tape_gives_numpys_values():
    for subscripts, operands in [("...ij,...kj->...ik", (T3, T3[:1])), ("...j,j", (T3, V)),
                                 ("iij->j", (np.ones((2, 2, 3)),)),
                                 ("ij,jj->i", (A[:, :3], A[:, :3]))]:
        want = np.einsum(subscripts, *operands)
        y, _ = vjp(lambda *ops: np.einsum(subscripts, *ops), *operands)
        assert np.shape(y) == np.shape(want)
        close(y, want, rtol=1e-15, atol=1e-15)


def test_missing_rule_names_the_op():
    with pytest.raises(NotImplementedError, match="numpy.interp"):
        grad(lambda x: np.sum(np.interp(x, [0.0, 1.0], [1.0, 2.0])))(V)
    with pytest.raises(NotImplementedError, match="numpy.linalg.eig"):
        grad(lambda x: np.sum(np.linalg.eig(x)[0]))(A[:, :3])
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        grad(lambda x: np.sum(np.linalg.svd(x)[0]))(A)
    with pytest.raises(NotImplementedError, match="UPLO='L'"):
        grad(lambda x: np.sum(np.linalg.eigh(x, UPLO="U")[0]))(A[:, :3])
    with pytest.raises(NotImplementedError, match="reduce"):
        grad(lambda x: np.add.reduce(x))(V)


def test_conversions_that_lose_the_derivative_are_refused():
    with pytest.raises(TypeError, match="derivative"):
        grad(lambda x: float(x))(1.0)
    with pytest.raises(TypeError, match="np.stack"):
        grad(lambda x: np.sum(np.array([x, x])))(1.0)
    with pytest.raises(TypeError, match="immutable"):
        def assign(x):
            x[0] = 1.0
            return np.sum(x)
        grad(assign)(V)


def test_bad_arguments():
    with pytest.raises(ValueError, match="argnums"):
        grad(lambda x: x, argnums=2)(1.0)
    with pytest.raises(ValueError, match="same shape"):
        hvp(lambda x: np.sum(x), V, A)
    y, pullback = vjp(lambda x: x * 2.0, V)
    with pytest.raises(ValueError, match="shape"):
        pullback(np.ones(3))


def test_traced_value_behaves_like_an_array():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, length=len(x), size=x.size,
                    is_traced=isinstance(x, Traced), rows=[r.shape for r in x])
        return np.sum(x)
    grad(f)(A)
    assert seen == {"shape": (3, 4), "ndim": 2, "length": 3, "size": 12, "is_traced": True,
                    "rows": [(4,)] * 3}


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.tanh(A @ x) ** 2),
    lambda x: np.max(x) * np.sum(np.exp(np.sin(x))),
    lambda x: np.concatenate([x[1:] * x[:-1], np.cumsum(x)]),
    lambda x: np.where(x > 0, np.sqrt(1.0 + x * x), np.logaddexp(x, 0.5 * x)),
])
def test_course_gradient_checker_to_second_order(f):
    from course_lib.numerics import check_grads
    check_grads(f, V, order=2, modes=("rev",))


def test_second_order_through_composites():
    M = A[:, :3] @ A[:, :3].T + np.eye(3)

    def f(x, xp):
        quad = xp.einsum("i,ij,j->", x, M, x)
        return quad * xp.sum(xp.roll(x, 1) * xp.diff(xp.tile(x, 2))[:3] ** 2)
    H = autograd.hessian(lambda x: f(x, anp))(V[:3])
    close(hessian(lambda x: f(x, np))(V[:3]), H)
    close(hvp(lambda x: f(x, np), V[:3], V[1:]), H @ V[1:])


def test_clip_bounds_are_differentiable_and_a_bound_itself_has_derivative_0():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])  # below, at the lower bound, inside, at, above
    f = lambda lo: np.sum(np.clip(x, lo, 1.0) * (1.0 + x))  # noqa: E731
    assert grad(f)(0.0) == derivative(f, 0.0) == 1.0  # d/dlo: entries at or below lo follow it
    close(grad(lambda v: np.sum(np.clip(v, 0.0, 1.0)))(x), [0.0, 0.0, 1.0, 0.0, 0.0])
    close(grad(lambda v: np.sum(np.clip(v, 0.0, 1.0)))(x),
          autograd.grad(lambda v: anp.sum(anp.clip(v, 0.0, 1.0)))(x))


def test_baydin_partials_are_the_linearized_tape():
    # local derivatives of ln x1 + x1 x2 - sin x2 at (2, 5), by hand: 1/x1; x2, x1; cos x2; 1, 1; 1, -1
    t = trace(baydin, 2.0, 5.0)
    want = [[], [], [("v-1", 0.5)], [("v-1", 5.0), ("v0", 2.0)], [("v0", np.cos(5.0))],
            [("v1", 1.0), ("v2", 1.0)], [("v4", 1.0), ("v3", -1.0)]]
    assert t.partials() == want
    # the transposed steps, run backwards, give the adjoints
    adj = {r["var"]: 0.0 for r in t.rows}
    adj["v5"] = 1.0
    for r, steps in reversed(list(zip(t.rows, t.partials()))):
        for name, d in steps:
            adj[name] += d * adj[r["var"]]
    assert [adj[r["var"]] for r in t.rows] == [float(r["adjoint"]) for r in t.rows]


def test_linear_steps_of_a_rule_print_without_a_value():
    t = trace(lambda a: np.sum(np.linalg.inv(a)), np.array([[2.0, 1.0], [1.0, 3.0]]))
    assert [r["op"] for r in t.rows] == ["input", "matmul", "matmul", "negative", "inv", "sum"]
    assert [r["value"] is None for r in t.rows] == [False, True, True, True, False, False]
    assert str(t).splitlines()[3].split()[3] == "-"
