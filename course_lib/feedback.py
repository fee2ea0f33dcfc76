"""Instant feedback in a learner's exercise notebook: each question's public tests, one line each.

The learner's copy of an exercise notebook starts with

    from course_lib.feedback import checks_for
    check = checks_for("01_derivatives_exercises")

and has a cell `check("q1")` after each question. The public tests come from
`course_lib/checks/<name>.json`, written with the learner copies by `make workbook`
(course_lib/workbook.py), so a check works offline, from any folder and under any file name. A
check prints one short line per test: "passed", the failing assertion's own message, or, while the
answer still holds a `...`, "not answered yet". It never prints a traceback.
"""
import ast
import inspect
import json
import pathlib
import sys
import textwrap
import types

CHECKS = pathlib.Path(__file__).resolve().parent / "checks"
MAX_MESSAGE = 160  # characters of an error message shown on a feedback line


class FeedbackError(ValueError):
    """An exercise or a question name is unknown; the message lists the known ones."""


def checks_for(name, folder=CHECKS):
    """Return the check function of one exercise notebook.

    Args:
        name: the exercise notebook's name, e.g. "01_derivatives_exercises".
        folder: where the public tests are stored (default: course_lib/checks/).
    Returns:
        A Checker: call it with a question name, e.g. check("q1").
    """
    path = pathlib.Path(folder) / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in pathlib.Path(folder).glob("*.json"))
        raise FeedbackError(f"No checks for {name!r}; known exercise notebooks: "
                            f"{', '.join(known) or 'none'}. Run `make workbook` to write them.")
    return Checker(json.loads(path.read_text(encoding="utf-8")))


class Checker:
    """Runs the public tests of one exercise notebook's questions on the learner's answers."""

    def __init__(self, spec):
        """Keep an exercise's checks.

        Args:
            spec: {"name": ..., "questions": {question: {"answers": [names], "tests": [code]}}}.
        """
        self.name = spec["name"]
        self.questions = spec["questions"]

    def __call__(self, question, namespace=None):
        """Print one line per public test of `question`, run on the caller's variables.

        Args:
            question: a question name, e.g. "q1".
            namespace: the variables to test (default: the calling notebook's globals).
        """
        if namespace is None:
            namespace = sys._getframe(1).f_globals
        print("\n".join(self.lines(question, namespace)))

    def lines(self, question, namespace):
        """Return the feedback lines of one question, without printing them.

        Args:
            question: a question name, e.g. "q1".
            namespace: a dict of the learner's variables.
        Returns:
            A list of one-line strings: "not answered yet" once, or one line per public test.
        """
        if question not in self.questions:
            raise FeedbackError(f"{self.name} has no question {question!r}; its questions are "
                                f"{', '.join(self.questions)}.")
        spec = self.questions[question]
        missing = unanswered(spec["answers"], namespace)
        if missing:
            return [f"{question}: not answered yet ({missing})"]
        tests = spec["tests"]
        return [f"{question} test {i}/{len(tests)}: {run_test(code, namespace)}"
                for i, code in enumerate(tests, 1)]


def unanswered(names, namespace):
    """Say why an answer is still blank, or return "" when every answer name is filled in.

    Args:
        names: the variables and functions the question asks for.
        namespace: a dict of the learner's variables.
    Returns:
        A short reason ("`h_forward` still has a `...` to replace") or "".
    """
    for name in names:
        if name not in namespace:
            return f"`{name}` is not defined: run your answer's cell first"
        if is_blank(namespace[name]):
            return f"`{name}` still has a `...` to replace"
    return ""


def is_blank(value):
    """Return whether a value is an unanswered blank: `...` itself, or a function with a `...` line.

    Args:
        value: any object from the learner's notebook.
    Returns:
        True for Ellipsis and for a function whose body still has a statement that is only `...`.
    """
    if value is Ellipsis:
        return True
    if not isinstance(value, types.FunctionType):
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(value)))
    except (OSError, TypeError, SyntaxError):  # source unavailable: treat it as answered
        return False
    return any(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
               and node.value.value is Ellipsis for node in ast.walk(tree))


def run_test(code, namespace):
    """Run one public test on a copy of the learner's variables; describe the result in one line.

    Args:
        code: the test's source (statements, usually asserts with a message).
        namespace: a dict of the learner's variables (the test's own names do not leak into it).
    Returns:
        "passed", "failed: <the assertion's message>" or "error: <exception type and message>".
    """
    scope = dict(namespace)
    try:
        exec(compile(code, "<public test>", "exec"), scope)
    except AssertionError as exc:
        return f"failed: {_short(str(exc)) or _failed_line(code, exc)}"
    except Exception as exc:  # the learner's code may raise anything; report it in one line
        return f"error: {type(exc).__name__}: {_short(str(exc))}".rstrip(": ")
    return "passed"


def _failed_line(code, exc):
    """The assert statement that failed, for an assertion written without a message."""
    frames = [f for f in _frames(exc.__traceback__)
              if f.tb_frame.f_code.co_filename == "<public test>"]
    if not frames:
        return "an assertion failed"
    lineno = frames[-1].tb_lineno
    return _short(f"this does not hold: {code.splitlines()[lineno - 1].strip()}")


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _short(text):
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."
