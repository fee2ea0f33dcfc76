"""The exercises need the skill they teach: each known shortcut answer fails its question's tests.

For each shortcut (an answer that avoids the skill: a constant read off a plot, a finite
difference where an exact derivative is asked for, the library function the learner is asked to
build, a formula copied from a hint...), the master's set-up cells run, then the shortcut in place
of the solution, then the question's tests, public and hidden, in one namespace as a grader runs
them. At least one test must fail, and the test names which. As a control, the master's own
solution passes every test of its question in the same harness.
"""
import pathlib
import warnings

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MASTERS = {p.stem.split("_")[0]: p for p in sorted((ROOT / "masters").glob("*_exercises.ipynb"))}


def read_questions(master):
    """Split a master by its raw markers: set-up code, and per question its solution and tests.

    Returns (set-up sources, {question: {"solution": [sources], "tests": [(hidden?, source)]}}).
    """
    nb = nbformat.read(master, as_version=4)
    setup, questions, question, region = [], {}, None, None
    for cell in nb.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw":
            if text.startswith("# BEGIN QUESTION"):
                question = text.split("name:")[1].split()[0]
                questions[question] = {"solution": [], "tests": []}
            elif text == "# END QUESTION":
                question = None
            elif text in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                region = text.split()[-1]
            elif text in ("# END SOLUTION", "# END TESTS"):
                region = None
            continue
        if cell.cell_type != "code":
            continue
        if question is None:
            setup.append(cell.source)
        elif region == "SOLUTION":
            questions[question]["solution"].append(cell.source)
        elif region == "TESTS":
            questions[question]["tests"].append((text.startswith("# HIDDEN"), cell.source))
    return setup, questions


def given_code(chapter, question):
    """The code a question's answer cells give the learner: the solution cells with blanks."""
    from course_lib.workbook import blank_source
    _, questions = read_questions(MASTERS[chapter])
    return "\n\n".join(blank_source(source)[0] for source in questions[question]["solution"])


def run_question(chapter, question, answer):
    """Run a master's set-up, then `answer`, then the question's tests; return each test's fate.

    Returns a list of (label, None if it passed else the exception's type and message).
    """
    setup, questions = read_questions(MASTERS[chapter])
    namespace = {"__name__": "__main__"}
    fates = []
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as in a notebook: warnings are shown, not raised
        for source in setup:
            exec(compile(source, "<set-up>", "exec"), namespace)
        exec(compile(answer, "<answer>", "exec"), namespace)
        for i, (hidden, source) in enumerate(questions[question]["tests"], 1):
            label = f"{'hidden' if hidden else 'public'} test {i}"
            try:
                exec(compile(source, f"<{label}>", "exec"), namespace)
            except Exception as exc:  # any failure of the answer counts as refused
                fates.append((label, f"{type(exc).__name__}: {exc}"))
            else:
                fates.append((label, None))
    return fates


# (chapter, question, what the shortcut does, its code): the shortcuts issue 15 lists, and the
# obvious ways around each reworked question.
SHORTCUTS = [
    ("01", "q1", "steps read off a double-precision plot", """
def best_steps(dtype=np.float64):
    return 1.5e-8, 6e-6
"""),
    ("01", "q3", "a finite difference instead of an exact derivative", """
def balance(rate, years=30):
    b = 1000.0
    for _ in range(years):
        b = b * (1 + rate) - 20.0
    return b


def sensitivity(rate, years=30):
    return central_difference(lambda r: balance(r, years), rate)
"""),
    ("01", "q3", "a typed constant (the old question's answer)", """
def balance(rate, years=30):
    b = 1000.0
    for _ in range(years):
        b = b * (1 + rate) - 20.0
    return b


def sensitivity(rate, years=30):
    return 100665.97971807391
"""),
    ("01", "q3", "autograd instead of course_lib", """
def balance(rate, years=30):
    b = 1000.0
    for _ in range(years):
        b = b * (1 + rate) - 20.0
    return b


def sensitivity(rate, years=30):
    return autograd.grad(balance)(rate, years)
"""),
    ("01", "q4", "jacfwd, which the question asks to build", """
from course_lib import jacfwd


def jacobian(f, x):
    return jacfwd(f)(np.asarray(x, dtype=float))


def example(x):
    return np.stack([x[0] * x[1], np.sin(x[2]) + x[0], np.exp(x[1] - x[2])])
"""),
    ("01", "q4", "jacfwd through the module", """
import course_lib


def jacobian(f, x):
    return course_lib.dual.jacfwd(f)(np.asarray(x, dtype=float))


def example(x):
    return np.stack([x[0] * x[1], np.sin(x[2]) + x[0], np.exp(x[1] - x[2])])
"""),
    ("01", "q4", "jacrev instead of jvp", """
from course_lib import jacrev


def jacobian(f, x):
    return jacrev(f)(np.asarray(x, dtype=float))


def example(x):
    return np.stack([x[0] * x[1], np.sin(x[2]) + x[0], np.exp(x[1] - x[2])])
"""),
    ("01", "q5", "the old answer: a typed constant beside a textbook second derivative", """
def second_derivative(f, x):
    return derivative(lambda z: derivative(f, z), x)


def mixed_partial(f, x, y):
    return 6.0
"""),
    ("01", "q5", "finite differences of finite differences", """
def second_derivative(f, x, h=1e-4):
    return (f(x + h) - 2 * f(x) + f(x - h)) / h**2


def mixed_partial(f, x, y, h=1e-4):
    return (f(x + h, y + h) - f(x + h, y - h) - f(x - h, y + h) + f(x - h, y - h)) / (4 * h * h)
"""),
    ("01", "q5", "the library's Hessian", """
from course_lib import hessian


def second_derivative(f, x):
    return hessian(lambda v: f(v[0]))(np.array([float(x)]))[0, 0]


def mixed_partial(f, x, y):
    return hessian(lambda v: f(v[0], v[1]))(np.array([float(x), float(y)]))[0, 1]
"""),
    ("01", "q6", "a wrong rule of one's own (custom_jvp), not the function's derivative", """
from course_lib import custom_jvp


@custom_jvp
def trap(x):
    return np.sin(x)


@trap.defjvp
def _(primals, tangents):
    return trap(*primals), 100.0 * tangents[0]
"""),
    ("01", "q6", "a jump at the end of the step, which the derivative does not see", """
def trap(x):
    return x + 10.0 * (x >= 1e-3)
"""),
    ("01", "q6", "a kink inside the step", """
def trap(x):
    return 1000.0 * np.abs(x - 1e-4)
"""),
    ("01", "q6", "a smooth function the step gets right", """
def trap(x):
    return np.sin(10.0 * x)
"""),
    ("02", "q1", "course_lib.grad instead of the two sweeps", """
def program(x, w, n):
    v = x
    for _ in range(n):
        v = v + np.sin(w * v)
    return v


def adjoints(x, w, n):
    vs = [x]
    for _ in range(n):
        vs.append(program(vs[-1], w, 1))
    v_bars = [grad(lambda v: program(v, w, n - k))(vs[k]) if k < n else 1.0 for k in range(n + 1)]
    return vs[n], v_bars[0], grad(program, 1)(x, w, n), v_bars
"""),
    ("02", "q1", "the closed form of one step, the old question's shortcut", """
def program(x, w, n):
    v = x
    for _ in range(n):
        v = v + np.sin(w * v)
    return v


def adjoints(x, w, n):
    c = np.cos(w * x)
    return program(x, w, n), 1 + w * c, x * c, [1 + w * c] * n + [1.0]
"""),
    ("02", "q1", "forward-mode tangents by hand in place of adjoints", """
def program(x, w, n):
    v = x
    for _ in range(n):
        v = v + np.sin(w * v)
    return v


def adjoints(x, w, n):
    v, dv_dx, dv_dw = x, 1.0, 0.0
    tangents = [1.0]
    for _ in range(n):
        c = np.cos(w * v)
        dv_dx, dv_dw = dv_dx * (1 + w * c), dv_dw * (1 + w * c) + v * c
        v = v + np.sin(w * v)
        tangents.append(dv_dx)
    return v, dv_dx, dv_dw, tangents
"""),
    ("02", "q3", "plain grad of the unrolled loop", """
def checkpointed_grad(step, loss, x0, n_steps, every):
    def unrolled(x):
        for _ in range(n_steps):
            x = step(x)
        return loss(x)
    return grad(unrolled)(x0)
"""),
    ("02", "q3", "one vjp over the whole loop (no checkpoints)", """
def checkpointed_grad(step, loss, x0, n_steps, every):
    def unrolled(x):
        for _ in range(n_steps):
            x = step(x)
        return loss(x)
    _, pullback = vjp(unrolled, x0)
    return pullback(1.0)
"""),
    ("02", "q3", "the chapter's version, which needs every to divide n_steps", """
def checkpointed_grad(step, loss, x0, n_steps, every):
    def run(x, k):
        for _ in range(k):
            x = step(x)
        return x
    checkpoints, x = [x0], x0
    for i in range(n_steps):
        x = step(x)
        if (i + 1) % every == 0:
            checkpoints.append(x)
    _, pullback = vjp(loss, x)
    g = pullback(1.0)
    for start in reversed(checkpoints[:-1]):
        _, pullback = vjp(lambda s: run(s, every), start)
        g = pullback(g)
    return g
"""),
    ("02", "q3", "forward mode, one jvp per input", """
def checkpointed_grad(step, loss, x0, n_steps, every):
    def unrolled(x):
        for _ in range(n_steps):
            x = step(x)
        return loss(x)
    return np.array([jvp(unrolled, x0, e)[1] for e in np.eye(len(x0))])
"""),
    ("02", "q4", "the library's hvp", """
import course_lib


def hvp_rr(f, x, v):
    return course_lib.hvp(f, x, v)
"""),
    ("02", "q4", "the library's reverse-over-reverse hvp", """
from course_lib.reverse import hvp_reverse


def hvp_rr(f, x, v):
    return hvp_reverse(f, x, v)
"""),
    ("02", "q4", "the dense Hessian times v", """
from course_lib import hessian


def hvp_rr(f, x, v):
    return hessian(f)(x) @ v
"""),
    ("02", "q5", "the given rule handed back unchanged", """
def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def softmax_vjp(g, z):
    s = softmax(z)
    return s * g - s * np.sum(g)
"""),
    ("02", "q5", "the tape's vjp instead of a fixed rule", """
def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def softmax_vjp(g, z):
    return vjp(softmax, z)[1](g)
"""),
    ("03", "q3", "the old answer: a typed constant", """
def drag_sensitivity(angle, speed, drag):
    return -54.712304299376164
"""),
    ("03", "q3", "a finite difference instead of the tape", """
def drag_sensitivity(angle, speed, drag):
    return central_difference(lambda k: landing_distance(angle, speed, drag=k, n_steps=40), drag)
"""),
    ("03", "q3", "autograd instead of the course's tape", """
def drag_sensitivity(angle, speed, drag):
    return autograd.grad(lambda k: landing_distance(angle, speed, drag=k, n_steps=40,
                                                    xp=anp))(drag)
"""),
    ("03", "q5", "the library's aim, free in angle and speed", """
from course_lib import aim


def cheapest_shot(target):
    shot = aim(target, drag=0.1, n_steps=40)
    return shot.angle, shot.speed
"""),
    ("03", "q5", "a shot that lands on target, but faster than needed", """
def cheapest_shot(target):
    speed = 1.2 * np.sqrt(9.81 * target) + 2.0
    theta = 0.3
    for _ in range(30):
        f = lambda a: landing_distance(a, speed, drag=0.1, n_steps=40)
        theta = theta - (f(theta) - target) / derivative(f, theta)
    return theta, speed
"""),
    ("03", "q5", "the least speed without drag (too slow to reach)", """
def cheapest_shot(target):
    return np.pi / 4, np.sqrt(9.81 * target)
"""),
    ("04", "q2", "the most frequent words (the start of the vocabulary)", """
def nearest_words(emb, word, k=5):
    return [w for w in emb.words if w != word][:k]
"""),
    ("04", "q2", "dot products instead of cosines", """
def nearest_words(emb, word, k=5):
    scores = emb.vectors @ emb.vectors[emb.id(word)]
    scores[emb.id(word)] = -np.inf
    return [emb.words[i] for i in np.argsort(-scores)[:k]]
"""),
    ("04", "q2", "the library's own neighbour search", """
def nearest_words(emb, word, k=5):
    return [w for w, _ in emb.most_similar(word, k)]
"""),
    ("04", "q4", "the tape's gradient instead of a derivation", """
def score(E, ids, w):
    return np.tanh(np.mean(E[ids], axis=0) @ w)


def score_grad(E, ids, w):
    return grad(score)(E, ids, w)
"""),
    ("04", "q4", "the formula with repeated words counted once", """
def score(E, ids, w):
    return np.tanh(np.mean(E[ids], axis=0) @ w)


def score_grad(E, ids, w):
    s = score(E, ids, w)
    G = np.zeros_like(E)
    G[ids] += (1 - s**2) * w / len(ids)
    return G
"""),
    ("04", "q5", "the estimate without the replaced word's term", """
def swap_estimates(G, E_sent, E_cand):
    return G @ E_cand.T
"""),
    ("04", "q6", "brute force: the model run on every swap", """
def flip_word(model, emb, words, candidates):
    E_s = np.asarray(emb.vectors[emb.ids(words)], dtype=float)
    side = np.sign(model(E_s))
    best = None
    for i in range(len(words)):
        for word in candidates:
            edited = E_s.copy()
            edited[i] = emb.vectors[emb.id(word)]
            moved = -side * model(edited)
            if best is None or moved > best[0]:
                best = (moved, i, word)
    return best[1], best[2]
"""),
    ("04", "q6", "a gradient by finite differences instead of the tape", """
def flip_word(model, emb, words, candidates):
    E_s = np.asarray(emb.vectors[emb.ids(words)], dtype=float)
    E_c = np.asarray(emb.vectors[emb.ids(candidates)], dtype=float)
    z0 = model(E_s)
    G = np.zeros_like(E_s)
    for index in np.ndindex(*E_s.shape):
        step = np.zeros_like(E_s)
        step[index] = 1e-6
        G[index] = (model(E_s + step) - model(E_s - step)) / 2e-6
    gain = -np.sign(z0) * (G @ E_c.T - np.sum(G * E_s, axis=1, keepdims=True))
    i, j = np.unravel_index(np.argmax(gain), gain.shape)
    return int(i), candidates[j]
"""),
    ("04", "q6", "the best estimated swap, never checked on the model", """
def flip_word(model, emb, words, candidates):
    E_s = np.asarray(emb.vectors[emb.ids(words)], dtype=float)
    E_c = np.asarray(emb.vectors[emb.ids(candidates)], dtype=float)
    z0 = model(E_s)
    G = grad(model)(E_s)
    gain = -np.sign(z0) * (G @ E_c.T - np.sum(G * E_s, axis=1, keepdims=True))
    i, j = np.unravel_index(np.argmax(gain), gain.shape)
    return int(i), candidates[j]
"""),
    ("04", "q6", "the set-up's model scored word by word, whatever model is passed", """
def flip_word(model, emb, words, candidates):
    E_s = np.asarray(emb.vectors[emb.ids(words)], dtype=float)
    base = model_q6(E_s)
    best = None
    for i in range(len(words)):
        for word in candidates:
            edited = E_s.copy()
            edited[i] = emb.vectors[emb.id(word)]
            moved = -np.sign(base) * model_q6(edited)
            if best is None or moved > best[0]:
                best = (moved, i, word)
    return best[1], best[2]
"""),
    ("04", "q6", "a word from the whole vocabulary, not from the candidates", """
def flip_word(model, emb, words, candidates):
    E_s = np.asarray(emb.vectors[emb.ids(words)], dtype=float)
    z0 = model(E_s)
    G = grad(model)(E_s)
    V = np.asarray(emb.vectors, dtype=float)
    gain = -np.sign(z0) * (G @ V.T - np.sum(G * E_s, axis=1, keepdims=True))
    best = None
    for k in np.argsort(-gain, axis=None)[:10]:
        i, j = np.unravel_index(k, gain.shape)
        edited = E_s.copy()
        edited[i] = V[j]
        moved = -np.sign(z0) * model(edited)
        if best is None or moved > best[0]:
            best = (moved, int(i), emb.words[j])
    return best[1], best[2]
"""),
    ("05", "q6", "the basin of sqrt(1 + u^2), |u| < 1, carried over to every function", """
def newton_edge(f, x_min):
    return x_min + 1.0 - 5e-5, x_min + 1.0
"""),
    ("05", "q6", "a wide bracket: the minimum and a far start", """
def newton_edge(f, x_min):
    return x_min + 1e-3, x_min + 10.0
"""),
    ("05", "q6", "the edge of log cosh in closed form, whatever the function", """
def newton_edge(f, x_min):
    u = 1.0
    for _ in range(50):  # Newton on sinh(2u) = 4u, where Newton's map sends u to -u
        u = u - (np.sinh(2 * u) - 4 * u) / (2 * np.cosh(2 * u) - 4)
    return x_min + u - 2e-5, x_min + u + 2e-5
"""),
    ("05", "q6", "a bracket decided by a single Newton step (does it overshoot the minimum?)", """
def newton_edge(f, x_min):
    df, d2f = grad(f), grad(grad(f))
    inner, outer = x_min + 1e-3, x_min + 5.0
    while outer - inner > 5e-5:
        middle = 0.5 * (inner + outer)
        if middle - df(middle) / d2f(middle) > x_min:
            inner = middle
        else:
            outer = middle
    return inner, outer
"""),
    ("02", "q6", "the same array code twice: tapes of the same length", """
def long_tape(x):
    return np.sum(np.sin(x) * x)


def short_tape(x):
    return np.sum(np.sin(x) * x)
"""),
    ("02", "q6", "two tapes of different lengths for different functions", """
def long_tape(x):
    total = 0.0
    for i in range(len(x)):
        total = total + x[i] * x[i]
    return total


def short_tape(x):
    return np.sum(x)
"""),
    ("02", "q6", "constants, which depend on nothing", """
def long_tape(x):
    total = 0.0
    for _ in range(50):
        total = total + 0.0
    return total


def short_tape(x):
    return 0.0
"""),
    ("02", "q6", "a long tape written for length 8 only", """
def long_tape(x):
    total = 0.0
    for i in range(8):
        total = total + np.sin(x[i]) * x[i]
    return total


def short_tape(x):
    return np.sum(np.sin(x) * x)
"""),
    ("05", "q4", "the explicit d x d matrix the old public test built (O(d^2) memory)", """
def two_loop(g, s_list, y_list):
    d = len(g)
    H = (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1]) * np.eye(d)
    for s, y in zip(s_list, y_list):
        rho = 1.0 / (y @ s)
        H = (np.eye(d) - rho * np.outer(s, y)) @ H @ (np.eye(d) - rho * np.outer(y, s)) \\
            + rho * np.outer(s, s)
    return -H @ g
"""),
    ("06", "q1", "the library's Riccati recursion called for one step", """
def riccati_step(A, B, Q, R, P):
    Ks, Ps = lqr(A, B, Q, R, 1, Qf=P)
    return Ks[0], Ps[0]
"""),
    ("06", "q2", "the library's costate recursion instead of reverse mode", """
def costates(step, x0, us, Q, Qf):
    xs = rollout(step, np.asarray(x0, float), us)
    A = np.array([[1.0, 0.1], [0.0, 1.0]])
    return costate(A, Q, xs, Qf)
"""),
    ("06", "q3", "the finite-horizon LQR controls called instead of shooting", """
def feedback_shooting(a, b, q, r, x0, T):
    return lqr_controls(np.array([[a]]), np.array([[b]]), np.array([[q]]), np.array([[r]]),
                        x0, T)[0]
"""),
    ("06", "q5", "one step of the library's value iteration", """
from course_lib import value_iteration


def bellman_backup(V_next, axis, controls, step, stage):
    axis = np.asarray(axis, float)
    V = value_iteration(lambda x, u: np.asarray(step(x[0], u[0]))[None],
                        lambda x, u: stage(x[0], u[0]),
                        lambda x: np.interp(x[0], axis, V_next), [axis],
                        np.asarray(controls, float)[None, :], 1)
    return V[0]
"""),
    ("07", "q3", "the library's transpose called instead of one written by hand", """
def transposed_by_hand(residuals, y_bar):
    return transpose(linear, len(residuals))(*residuals, y_bar)
"""),
    ("07", "q4", "the tape's gradient instead of the corrected source", """
fixed_source = (
    "def grad_f(vm1, v0):\\n"
    "    return grad(lambda a, b: np.log(a) + a * b - np.sin(b), (0, 1))(vm1, v0)\\n")
"""),
]


@pytest.mark.parametrize("chapter, question, what, code", SHORTCUTS,
                         ids=[f"{c}-{q}-{w}" for c, q, w, _ in SHORTCUTS])
def test_shortcut_is_refused(chapter, question, what, code):
    # The learner's answer cell as given (its blanks left as they are), then the shortcut.
    fates = run_question(chapter, question, given_code(chapter, question) + "\n\n" + code)
    refused = [f"{label}: {why}" for label, why in fates if why]
    assert refused, f"chapter {chapter} {question}: '{what}' passes every test"
    print(f"chapter {chapter} {question}, {what}: refused by {refused}")


QUESTIONS = sorted({(chapter, question) for chapter, question, _, _ in SHORTCUTS})


@pytest.mark.parametrize("chapter, question", QUESTIONS, ids=[f"{c}-{q}" for c, q in QUESTIONS])
def test_the_masters_solution_passes_in_the_same_harness(chapter, question):
    _, questions = read_questions(MASTERS[chapter])
    fates = run_question(chapter, question, "\n\n".join(questions[question]["solution"]))
    assert len(fates) >= 2 and all(why is None for _, why in fates), fates


# ---- public tests do not give solutions away ----

def _tokens(code):
    """Python tokens of some code, without comments, line breaks or indentation."""
    import io
    import tokenize
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    return [t.string for t in tokenize.generate_tokens(io.StringIO(code).readline)
            if t.type not in skip]


def shared_run(solution, test, least=20):
    """The longest run of `least` or more tokens (about a line) a solution and a test share."""
    import difflib
    a, b = _tokens(solution), _tokens(test)
    match = difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match()
    return " ".join(a[match.a:match.a + match.size]) if match.size >= least else ""


def solution_lines(sources):
    """The code of a question's solution lines (between BEGIN/END SOLUTION or marked # SOLUTION)."""
    found = []
    for source in sources:
        inside = False
        for line in source.splitlines():
            if line.strip() in ("# BEGIN SOLUTION", "# END SOLUTION"):
                inside = line.strip() == "# BEGIN SOLUTION"
            elif inside or line.rstrip().endswith("# SOLUTION"):
                found.append(line.split("# SOLUTION")[0].strip())
    return "\n".join(found)


@pytest.mark.parametrize("chapter", sorted(MASTERS))
def test_no_public_test_contains_a_solution(chapter):
    _, questions = read_questions(MASTERS[chapter])
    leaks = []
    for answered, spec in questions.items():
        solution = solution_lines(spec["solution"])
        for tested, other in questions.items():
            for hidden, test in other["tests"]:
                run = "" if hidden else shared_run(solution, test)
                if run:
                    leaks.append(f"{tested}'s public test shows {answered}'s answer: {run}")
    assert not leaks, leaks


def test_the_leak_check_finds_the_old_bfgs_leak():
    """Chapter 5's question 4 once checked its answer with the BFGS update, question 2's answer."""
    solution = ("rho = 1.0 / (y @ s)\nI = np.eye(len(s))\n"
                "return (I - rho * np.outer(s, y)) @ H @ (I - rho * np.outer(y, s)) "
                "+ rho * np.outer(s, s)")
    old_test = ("for s, y in zip(s_list, y_list):\n    rho = 1.0 / (y @ s)\n"
                "    H = (np.eye(d) - rho * np.outer(s, y)) @ H @ (np.eye(d) - rho * "
                "np.outer(y, s)) \\\n        + rho * np.outer(s, s)\n")
    assert "np . outer ( y , s ) )" in shared_run(solution, old_test)
    assert not shared_run(solution, "assert np.allclose(H_new @ y, s), 'the secant condition'")
