"""The grader's side of a test: every assertion is evaluated here, on data from the sandbox.

A test cell of a master is ordinary Python: set-up statements and `assert` statements with a
message. For grading, each `assert` is replaced by a call that sends the values it reads to this
process and waits; the rest of the cell runs inside the sandbox. Which name means what:

- a name the test imports, or the master's set-up code defines (`np`, `autograd`, `derivative`,
  `rng`), and Python's builtins are the grader's own, whatever the student's notebook assigned to
  those names;
- a name the test cell assigns (`_ours = sensitivity(0.05)`) is read from the sandbox as data;
- any other name is the student's: read as data, or, for a function, called in the sandbox on data.

The verdict is reached here: an assertion that fails, cannot read its values, or is never reached
as often as the master's own solutions reach it, fails its test.
"""
import ast
import builtins
import time
from dataclasses import dataclass, field

from course_lib.grading import wire
from course_lib.grading.student_side import ASSERT_HOOK
from course_lib.grading.sandbox import SandboxError, TimedOut

BUILTIN_EXCEPTIONS = {name: value for name, value in vars(builtins).items()
                      if isinstance(value, type) and issubclass(value, BaseException)}


class SubmissionError(Exception):
    """A function of the submission raised an exception that is not one of Python's builtins."""


@dataclass
class PreparedTest:
    """A test cell ready to grade: the code the sandbox runs and the assertions kept here.

    sandbox_source: the cell with each `assert` replaced by a call to the hook;
    asserts: {number: source of that assert statement}; reads: {number: names to read from the
    sandbox}; imports: the cell's import statements (run here too).
    """
    sandbox_source: str
    asserts: dict
    reads: dict
    imports: str


def _bound_names(tree):
    """Names a piece of code binds anywhere (assignments, loops, defs, arguments, imports)."""
    bound, imported = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                imported.add((alias.asname or alias.name).split(".")[0])
    return bound, imported


def _loaded_names(node):
    """Names an expression or statement reads that it does not bind itself (comprehensions,
    lambdas, the walrus)."""
    own, _ = _bound_names(node)
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)} - own


class _Replace(ast.NodeTransformer):
    def __init__(self):
        self.asserts = []

    def visit_Assert(self, node):
        self.asserts.append(node)
        call = ast.Call(ast.Name(ASSERT_HOOK, ast.Load()),
                        [ast.Constant(len(self.asserts) - 1)], [])
        return ast.copy_location(ast.Expr(call), node)


def prepare(source, tools):
    """Split a test cell into what the sandbox runs and the assertions this process evaluates.

    Args:
        source: the test cell's code.
        tools: the namespace the master's set-up code made in this process.
    Returns:
        A PreparedTest.
    """
    tree = ast.parse(source)
    bound, imported = _bound_names(tree)
    imports = "\n".join(ast.unparse(n) for n in ast.walk(tree)
                        if isinstance(n, (ast.Import, ast.ImportFrom)))
    replace = _Replace()
    new_tree = ast.fix_missing_locations(replace.visit(tree))
    asserts, reads = {}, {}
    for number, node in enumerate(replace.asserts):
        asserts[number] = ast.unparse(node)
        names = _loaded_names(node)
        reads[number] = sorted(n for n in names if n not in imported and (
            n in bound - imported or (n not in tools and not hasattr(builtins, n))))
    return PreparedTest(ast.unparse(new_tree), asserts, reads, imports)


class RemoteFunction(wire.Handle):
    """A function of the submission, called in the sandbox on data; its result comes back as data."""

    def __init__(self, handle, sandbox, deadline, tools):
        super().__init__(handle.number, handle.label)
        self.sandbox, self.deadline, self.tools = sandbox, deadline, tools

    def __call__(self, *args, **kwargs):
        refer = reference_to(self.tools)
        message = {"op": "call", "handle": self.number,
                   "args": [wire.encode(a, "argument", references=refer) for a in args],
                   "kwargs": {k: wire.encode(v, k, references=refer) for k, v in kwargs.items()}}
        self.sandbox.send(message)
        reply = self.sandbox.receive(self.deadline)
        error = reply.get("error") or []
        if reply.get("op") == "done" and error[:1] == ["CellTimeout"]:
            raise TimedOut(f"{self.label} ran past the test's time limit")
        if reply.get("op") != "result":
            raise SandboxError("the submission's side broke the grading protocol")
        if error:
            kind, text = (list(error) + ["", ""])[:2]
            exc = BUILTIN_EXCEPTIONS.get(kind, SubmissionError)(
                text if kind in BUILTIN_EXCEPTIONS else f"{kind}: {text}")
            exc.kind = kind  # what the feedback may show: the type, not the student's text
            raise exc
        return _live(wire.decode(reply.get("value")), self.sandbox, self.deadline, self.tools)


def reference_to(tools):
    """Return a function naming objects the sandbox has too: set-up names, library functions."""
    by_id = {id(v): name for name, v in tools.items() if not name.startswith("__")}

    def refer(value):
        if id(value) in by_id:
            return by_id[id(value)]
        module = getattr(value, "__module__", None) or (
            "numpy" if type(value).__name__ == "ufunc" else None)
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        if callable(value) and module and name and "<" not in name:
            return f"{module}:{name}"
        return None
    return refer


def _live(value, sandbox, deadline, tools):
    """Make the handles inside a decoded value callable."""
    return wire.map_leaves(value, lambda v: RemoteFunction(v, sandbox, deadline, tools)
                           if isinstance(v, wire.Handle) else v)


@dataclass
class TestResult:
    """How one test went: passed or not, the message to show, how many assertions were judged."""
    passed: bool
    message: str = ""
    asserts: int = 0
    detail: str = ""  # for the instructor only: the error the submission's side reported
    failures: list = field(default_factory=list)


def judge(test, number, values, tools, sandbox, deadline):
    """Evaluate one assertion here; return "" if it holds, else the message saying why not.

    ``tools`` is the namespace the assertion starts from: the set-up's names and the test's imports.
    """
    scope = dict(tools)
    for name, form in values.items():
        if name in test.reads[number]:
            scope[name] = _live(wire.decode(form), sandbox, deadline, tools)
    try:
        exec(compile(test.asserts[number], "<assertion>", "exec"), scope)
    except AssertionError as exc:
        return str(exc) or f"this does not hold: {test.asserts[number]}"[:200]
    except SandboxError:
        raise
    except Exception as exc:  # any error while judging fails the assertion, with its type
        if hasattr(exc, "kind"):  # raised by the submission's code: its text is not shown
            return f"error: your code raised {exc.kind}"
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return ""


def run_test(sandbox, test, tools, timeout):
    """Run one prepared test: its statements in the sandbox, its assertions here.

    Args:
        sandbox: a running Sandbox with the student's cells already run.
        test: a PreparedTest; tools: the master's set-up namespace in this process.
        timeout: seconds for the whole test.
    Returns:
        A TestResult. Raises SandboxError (TimedOut, Died) if the sandbox stopped.
    """
    deadline = time.monotonic() + timeout
    own = dict(tools)  # the set-up's names and the test's own imports, for every assertion
    if test.imports:
        exec(compile(test.imports, "<test imports>", "exec"), own)
    sandbox.send({"op": "test", "source": test.sandbox_source, "timeout": timeout,
                  "asserts": {str(k): v for k, v in test.reads.items()}})
    result = TestResult(passed=False)
    while True:
        message = sandbox.receive(deadline + 5)
        if message.get("op") == "assert" and message.get("id") in test.asserts:
            why = judge(test, message["id"], message.get("names") or {}, own, sandbox,
                        deadline + 5)
            result.asserts += 1
            if why:
                result.failures.append(why)
            sandbox.send({"op": "verdict", "ok": not why, "message": "" if not why else "failed"})
        elif message.get("op") == "done":
            break
        else:
            raise SandboxError("the submission's side broke the grading protocol")
    error = message.get("error")
    if result.failures:
        result.message = f"failed: {result.failures[0]}"
    elif error:
        kind = error[0] if isinstance(error, list) and error else "an error"
        result.message = ("stopped at the time limit" if kind == "CellTimeout"
                          else f"error: the test raised {kind} in your code")
        result.detail = " ".join(map(str, error))[:300]
    else:
        result.passed = True
        result.message = "passed"
    return result
