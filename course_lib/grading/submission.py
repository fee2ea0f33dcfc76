"""Grade one submitted notebook: its cells in a sandbox, its tests judged by this process.

The student's code cells run in order, each under a time limit; a cell that raises, loops or
crashes costs only the questions whose tests then fail, and the reason names the cell. If the
sandbox dies (a crash, a limit), it is started again and the cells that ran are run again, without
the one that killed it. Then the master's set-up code runs into the tests' own namespace, and the
tests run: every public test first, then the hidden ones, so that a hidden test's code is never in
the sandbox while a message that is handed back is being made.
"""
import ast
import re
import time
from dataclasses import dataclass, field

from course_lib.grading import verdicts
from course_lib.grading.sandbox import Sandbox, SandboxError, TimedOut

CHECK_CELL = re.compile(r"^\s*check\(\s*['\"]\w+['\"]\s*\)\s*$")
MAX_RESTARTS = 4


@dataclass
class Graded:
    """The result of one notebook.

    scores: {question: [earned, possible]}; tests: {question: [(public?, message)]};
    notes: what went wrong, one short line each (cells, missing answers); status: "graded" or
    "timed out"; detail: for the instructor only.
    """
    scores: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    status: str = "graded"
    detail: list = field(default_factory=list)
    asserts: dict = field(default_factory=dict)  # {question: [assertions judged per test]}


def code_cells(nb):
    """Return [(cell number from 1, source)] of a notebook's code cells, without check cells."""
    found = []
    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code" and cell.source.strip() and not CHECK_CELL.match(cell.source):
            found.append((number, cell.source))
    return found


def defined_names(source):
    """Names a cell defines at its top level (functions, classes, assignments), or none if it
    does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


class Run:
    """A submission's sandbox with the cells that ran in it, started again when it dies."""

    def __init__(self, cells, setup, limits, unsafe):
        self.cells, self.setup, self.limits, self.unsafe = cells, setup, limits, unsafe
        self.skipped = set()  # cells that killed the sandbox or ran out of time
        self.restarts = 0
        self.sandbox = None
        self.deadline = time.monotonic() + limits["notebook"]

    def remaining(self, cap):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimedOut("the notebook's time limit")
        return min(cap, left)

    def over(self):
        """Raise TimedOut if the notebook's own time limit has passed."""
        if time.monotonic() >= self.deadline:
            raise TimedOut("the notebook's time limit")

    def request(self, message, cap):
        timeout = self.remaining(cap)
        self.sandbox.send({**message, "timeout": timeout})
        return self.sandbox.receive(time.monotonic() + timeout + 5)

    def start(self, graded, first=False):
        """Start the sandbox and run the cells (all of them the first time; then only those that
        did not kill it), then the master's set-up code."""
        if self.sandbox:
            self.sandbox.close()
        self.restarts += 0 if first else 1
        if self.restarts > MAX_RESTARTS:
            raise SandboxError("the notebook's Python died too many times")
        self.sandbox = Sandbox(self.limits["notebook"] + 10, self.unsafe)
        for number, source in self.cells:
            if number in self.skipped:
                continue
            try:
                reply = self.request({"op": "cell", "source": source}, self.limits["cell"])
            except SandboxError as exc:
                self.over()
                self.skipped.add(number)
                if first:
                    graded.notes.append(f"cell {number} {_stopped(exc, self.limits['cell'])}")
                return self.start(graded)
            error = reply.get("error")
            if error and first:
                if error[0] == "CellTimeout":
                    self.skipped.add(number)
                    graded.notes.append(f"cell {number} stopped at the time limit of "
                                        f"{self.limits['cell']:g} s")
                else:
                    graded.notes.append(f"cell {number} raised {error[0]}")
                graded.detail.append(f"cell {number}: {' '.join(map(str, error))}")
        reply = self.request({"op": "tools", "source": self.setup}, self.limits["cell"])
        if reply.get("error"):
            raise SandboxError(f"the master's set-up code failed in the sandbox: {reply['error']}")

    def close(self):
        if self.sandbox:
            self.sandbox.close()


def _stopped(exc, cell_limit):
    if isinstance(exc, TimedOut):
        return f"stopped at the time limit of {cell_limit:g} s"
    return f"stopped the notebook: {exc}"


def grade_cells(bundle, cells, limits, unsafe=False):
    """Grade a submission's code cells against a bundle of tests.

    Args:
        bundle: {"setup": code, "questions": {q: {"points", "answers", "tests": [{"code",
            "hidden", "asserts"}]}}} (course_lib/classroom.py builds it from a master).
        cells: [(cell number, source)] of the submission's code cells.
        limits: seconds, {"notebook": whole notebook, "cell": one cell, "test": one test}.
        unsafe: run without bubblewrap.
    Returns:
        A Graded.
    """
    graded = Graded()
    tools = {}
    exec(compile(bundle["setup"], "<set-up>", "exec"), tools)
    questions = bundle["questions"]
    owner = {}
    for number, source in cells:
        names = defined_names(source)
        for q, spec in questions.items():
            if names & set(spec["answers"]):
                owner.setdefault(number, q)
    run = Run(cells, bundle["setup"], limits, unsafe)
    results = {q: [None] * len(spec["tests"]) for q, spec in questions.items()}
    try:
        run.start(graded, first=True)
        for q, spec in questions.items():
            reply = run.request({"op": "answers", "names": spec["answers"]}, limits["cell"])
            if reply.get("missing"):
                graded.notes.append(f"{q}: {', '.join(f'`{n}`' for n in reply['missing'])} "
                                    "not defined by any cell")
            elif reply.get("blank"):
                graded.notes.append(f"{q}: not answered ({', '.join(reply['blank'])} "
                                    "still has a `...`)")
        order = [(q, i, t) for hidden in (False, True) for q, spec in questions.items()
                 for i, t in enumerate(spec["tests"]) if bool(t["hidden"]) == hidden]
        for q, i, test in order:
            results[q][i] = _one_test(run, test, tools, limits, graded)
    except SandboxError as exc:
        graded.status = "timed out" if isinstance(exc, TimedOut) else "graded"
        graded.notes.append(f"grading stopped: {exc}" if not isinstance(exc, TimedOut) else
                            f"stopped at the notebook's time limit of {limits['notebook']:g} s")
    finally:
        run.close()
    graded.notes = [_with_owner(note, owner) for note in graded.notes]
    for q, spec in questions.items():
        share = float(spec["points"]) / len(spec["tests"])
        lines, earned = [], 0.0
        for test, result in zip(spec["tests"], results[q]):
            passed = bool(result and result.passed)
            message = result.message if result else "not run"
            earned += share if passed else 0.0
            lines.append([not test["hidden"], message])
        graded.scores[q] = [round(earned, 6), float(spec["points"])]
        graded.tests[q] = lines
        graded.asserts[q] = [result.asserts if result else 0 for result in results[q]]
    return graded


def _with_owner(note, owner):
    """A note about a cell, with the question whose answer that cell holds."""
    found = re.match(r"cell (\d+) ", note)
    number = int(found.group(1)) if found else None
    return f"{note} ({owner[number]}'s answer)" if number in owner else note


def _one_test(run, test, tools, limits, graded):
    """Run one test; a sandbox that dies or loops costs this test, and is started again."""
    try:
        prepared = verdicts.prepare(test["code"], tools)
        result = verdicts.run_test(run.sandbox, prepared, tools, run.remaining(limits["test"]))
    except TimedOut:
        run.over()
        result = verdicts.TestResult(False, f"stopped at the time limit of {limits['test']:g} s")
        run.start(graded)
    except SandboxError as exc:
        result = verdicts.TestResult(False, f"stopped: {exc}")
        run.start(graded)
    if result.passed and result.asserts < test.get("asserts", 1):
        result.passed = False
        result.message = (f"failed: only {result.asserts} of the test's "
                          f"{test.get('asserts', 1)} checks were reached")
    if result.detail:
        graded.detail.append(result.detail)
    return result
