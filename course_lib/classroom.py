"""Classroom assignments: student copies of the exercise masters, and grading a class offline.

This is the instructor's tool from the README section "Teaching with this course"; it is not part
of the learners' API.

    python -m course_lib.classroom assign [MASTER.ipynb ...]    # make assignments
    python -m course_lib.classroom grade CHAPTER FOLDER          # make grade CHAPTER= SUBMISSIONS=

`assign` writes, for each master `masters/NN_<chapter>_exercises.ipynb`, into
`dist/assignments/<name>/`: `<name>.ipynb`, the copy to hand out (the learner's copy: answers
blank, a `check("qN")` cell per question for instant feedback), and `tests.json`, every test of the
master, hidden ones included, with `tests.sha256`. It grades the master's own solutions first and
stops if they do not get full marks.

`grade` grades each file of a folder in a bubblewrap sandbox of its own (course_lib/grading/),
with the verdicts reached outside it, into `dist/grades/<name>.csv` (per-question scores, total,
status, reason, flags), `dist/grades/<name>/feedback/<student>.md` (to hand back: scores and the
grader's own messages) and `dist/grades/<name>/details/<student>.json` (for the instructor).
"""
import argparse
import csv
import hashlib
import json
import multiprocessing
import os
import pathlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import nbformat

from course_lib import workbook
from course_lib.grading import scan, submission
from course_lib.grading.sandbox import INSTALL_HINT, SandboxError, bubblewrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
MASTERS = ROOT / "masters"
ASSIGNMENTS = ROOT / "dist" / "assignments"
GRADES = ROOT / "dist" / "grades"
DEFAULT_TIMEOUT = 300.0  # seconds per notebook
CELL_TIMEOUT = 60.0  # seconds per cell and per test
DEFAULT_JOBS = os.cpu_count() or 1
REBUILD_HINT = "Build the assignments again with `make assignments`."
UNSAFE_NOTE = "graded WITHOUT the sandbox (UNSAFE=1): the submission's code ran as you"


class ClassroomError(RuntimeError):
    """A master, an assignment folder or an argument is unusable; the message says what to do."""


def limits(timeout):
    """Seconds per notebook, per cell and per test for a notebook time limit."""
    return {"notebook": timeout, "cell": min(CELL_TIMEOUT, timeout),
            "test": min(CELL_TIMEOUT, timeout)}


# ---- assign: masters -> the copy to hand out + the bundle of tests ----

@dataclass
class Assignment:
    """What `assign` built for one master: the copy to hand out and the bundle of its tests."""
    name: str
    student: pathlib.Path
    bundle: pathlib.Path
    seconds: float = 0.0


def find_masters(masters_dir=MASTERS):
    """Return the exercise masters (`NN_<chapter>_exercises.ipynb`) in a folder, sorted."""
    return workbook.find_masters(masters_dir)


def bundle_of(master, unsafe=None):
    """Read a master, grade its own solutions, and return (copy to hand out, bundle of tests).

    The bundle records how many assertions each test judges on the master's solutions; a
    submission's test must reach as many. Raises ClassroomError if the solutions lose a point.
    """
    master = pathlib.Path(master)
    try:
        learner, _, solved, bundle = workbook.read_master(master)
    except (workbook.WorkbookError, OSError, ValueError) as exc:
        raise ClassroomError(f"{master}: {exc}") from exc
    unsafe = bubblewrap() is None if unsafe is None else unsafe  # the master's code is trusted
    graded = submission.grade_cells(bundle, submission.code_cells(solved),
                                    limits(DEFAULT_TIMEOUT), unsafe)
    lost = [f"{q} test {i + 1}: {message}" for q, lines in graded.tests.items()
            for i, (_, message) in enumerate(lines) if message != "passed"]
    if lost:
        raise ClassroomError(f"{master.name}: the master's own solutions do not get full marks; "
                             "fix the master:\n" + "\n".join(graded.notes + lost))
    for q, spec in bundle["questions"].items():
        for test, count in zip(spec["tests"], graded.asserts[q]):
            test["asserts"] = count
    bundle["blanks"] = answer_sources(submission.code_cells(learner), bundle)
    return learner, bundle


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def assign_one(master, out_dir=ASSIGNMENTS):
    """Build the copy to hand out and the bundle of tests of one master.

    Args:
        master: path of an exercise master; out_dir: output goes to out_dir/<name>/ (replaced).
    Returns:
        An Assignment; raises ClassroomError if the master is unusable.
    """
    start = time.perf_counter()
    learner, bundle = bundle_of(master)
    dest = pathlib.Path(out_dir) / bundle["name"]
    dest.mkdir(parents=True, exist_ok=True)
    student = dest / f"{bundle['name']}.ipynb"
    nbformat.write(learner, student)
    text = json.dumps(bundle, indent=1, sort_keys=True) + "\n"
    (dest / "tests.json").write_text(text, encoding="utf-8")
    (dest / "tests.sha256").write_text(f"{_digest(text)}  tests.json\n")
    return Assignment(bundle["name"], student, dest / "tests.json", time.perf_counter() - start)


def assign(masters=None, out_dir=ASSIGNMENTS):
    """Assign every master (default: all of masters/); return the Assignments.

    Every master is attempted; if any fails, ClassroomError lists all failures at the end.
    """
    masters = [pathlib.Path(m) for m in (masters if masters else find_masters())]
    if not masters:
        raise ClassroomError(f"No exercise masters in {MASTERS}.")
    built, failures = [], []
    for master in masters:
        try:
            built.append(assign_one(master, out_dir))
        except ClassroomError as exc:
            failures.append(str(exc))
    if failures:
        raise ClassroomError("\n\n".join(failures))
    return built


def load_bundle(chapter, assignments_dir=ASSIGNMENTS, masters_dir=MASTERS):
    """Return the verified bundle of an assignment named by its name or a unique prefix ("01").

    Raises ClassroomError if it is missing, its checksum does not match, or its master's tests
    have changed since it was built.
    """
    folder = pathlib.Path(assignments_dir)
    names = sorted(p.parent.name for p in folder.glob("*/tests.json"))
    if not chapter:
        raise ClassroomError(f"Say which assignment to grade, one of {names or 'none yet'} "
                             "(e.g. make grade CHAPTER=01 SUBMISSIONS=path/to/folder).")
    matches = [n for n in names if n == chapter] or [n for n in names if n.startswith(chapter)]
    if len(matches) != 1:
        found = f"several match: {', '.join(matches)}" if matches else \
            f"available: {', '.join(names) or 'none'}"
        raise ClassroomError(f"No single assignment named {chapter!r} in {folder} ({found}). "
                             f"{REBUILD_HINT}")
    text = (folder / matches[0] / "tests.json").read_text(encoding="utf-8")
    recorded = (folder / matches[0] / "tests.sha256").read_text().split()[:1] \
        if (folder / matches[0] / "tests.sha256").exists() else []
    if recorded != [_digest(text)]:
        raise ClassroomError(f"{matches[0]}/tests.json does not match its checksum: it was "
                             f"changed after it was built. {REBUILD_HINT}")
    bundle = json.loads(text)
    master = pathlib.Path(masters_dir) / f"{matches[0]}.ipynb"
    if master.exists():
        current = workbook.read_master(master)[3]
        if [(q, [t["code"] for t in s["tests"]], s["points"]) for q, s in
                current["questions"].items()] != [(q, [t["code"] for t in s["tests"]],
                                                   s["points"]) for q, s in
                                                  bundle["questions"].items()]:
            raise ClassroomError(f"The tests in {master.name} changed since the assignment was "
                                 f"built. {REBUILD_HINT}")
    return bundle


# ---- grade: submissions -> gradebook, feedback ----

@dataclass
class Outcome:
    """The grade of one submitted file (status: graded, timed out, not a notebook, corrupt)."""
    student: str
    file: str
    status: str
    reason: str = ""
    scores: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    seconds: float = 0.0
    answers: dict = field(default_factory=dict)

    @property
    def total(self):
        """Points earned over all questions."""
        return sum(earned for earned, _ in self.scores.values())


def check_submission(path):
    """Return None if `path` is a readable notebook, else (status, reason) saying what is wrong."""
    path = pathlib.Path(path)
    if path.is_dir() or path.suffix.lower() != ".ipynb":
        return "not a notebook", f"{path.name} is not a .ipynb notebook; ask for the .ipynb file"
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return "corrupt", (f"{path.name} is not valid notebook JSON ({exc}); the file was "
                           "damaged, ask for a fresh copy saved from Jupyter")
    try:
        nbformat.validate(nbformat.reads(text, as_version=4))
    except Exception as exc:  # nbformat raises several types for malformed notebooks
        first_line = str(exc).strip().splitlines()[0]
        return "corrupt", f"{path.name} is JSON but not a valid notebook ({first_line})"
    return None


def answer_sources(cells, bundle):
    """Return {question: the source of the cells that define its answers} (for finding copies)."""
    found = {}
    named = [(src, submission.defined_names(src)) for _, src in cells]
    for q, spec in bundle["questions"].items():
        parts = [src for src, names in named if names & set(spec["answers"])]
        if parts:
            found[q] = "\n".join(parts)
    return found


def _grade_file(student, path, bundle, timeout, unsafe):
    """Grade one notebook (runs in a fresh process of the grader's, never in the sandbox)."""
    start = time.monotonic()
    nb = nbformat.read(path, as_version=4)
    cells = submission.code_cells(nb)
    try:
        graded = submission.grade_cells(bundle, cells, limits(timeout), unsafe)
    except SandboxError as exc:
        graded = submission.Graded(status="error", notes=[f"the sandbox failed: {exc}"])
    return {"student": student, "file": path.name, "status": graded.status,
            "reason": "; ".join(graded.notes), "scores": graded.scores, "tests": graded.tests,
            "flags": scan.flags_of(cells), "answers": answer_sources(cells, bundle),
            "detail": graded.detail, "seconds": time.monotonic() - start}


def student_names(paths):
    """File stems, or full file names where two files share a stem."""
    stems = [p.stem for p in paths]
    return [p.stem if stems.count(p.stem) == 1 else p.name for p in paths]


def grade_submissions(bundle, paths, details_dir, timeout=DEFAULT_TIMEOUT, jobs=DEFAULT_JOBS,
                      unsafe=False):
    """Grade files against a bundle, each in a fresh grading process and its own sandbox.

    Returns one Outcome per path, in order, with copy flags added; writes details_dir/<student>.json.
    """
    if timeout <= 0 or jobs < 1:
        raise ClassroomError(f"timeout must be > 0 s and jobs >= 1 (got {timeout} and {jobs}).")
    if not unsafe and not bubblewrap():
        raise ClassroomError(INSTALL_HINT)
    details_dir = pathlib.Path(details_dir)
    details_dir.mkdir(parents=True, exist_ok=True)
    outcomes, futures = {}, {}
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["course_lib.grading.submission", "course_lib.workbook",
                                    "autograd", "scipy.optimize"])
    with ProcessPoolExecutor(max(1, jobs), mp_context=context, max_tasks_per_child=1) as pool:
        for path, student in zip(paths, student_names(paths)):
            problem = check_submission(path)
            if problem:
                outcomes[path] = Outcome(student, path.name, *problem)
            else:
                futures[path] = pool.submit(_grade_file, student, path, bundle, timeout, unsafe)
        for path, future in futures.items():
            try:
                found = future.result()
            except Exception as exc:  # the grading process itself failed: say so, go on
                found = {"student": student_names(paths)[paths.index(path)], "file": path.name,
                         "status": "error", "reason": f"grading failed: {type(exc).__name__}"}
            (details_dir / f"{found['student']}.json").write_text(json.dumps(found, indent=1))
            outcomes[path] = Outcome(**{k: v for k, v in found.items() if k != "detail"})
    copied = scan.copies({o.student: o.answers for o in outcomes.values()},
                         bundle.get("blanks", {}))
    for outcome in outcomes.values():
        outcome.flags += copied.get(outcome.student, [])
        if unsafe:
            outcome.flags.insert(0, UNSAFE_NOTE)
    return [outcomes[path] for path in paths]


def _points(x):
    return f"{x:g}" if x is not None else ""


def write_gradebook(csv_path, outcomes, points):
    """Write the gradebook: student, file, one column per question, total, status, flags."""
    possible = sum(points.values())
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "file", *points, "total", "possible", "status", "reason",
                         "flags"])
        for o in outcomes:
            per_question = [_points(o.scores.get(q, (0,))[0]) for q in points]
            writer.writerow([o.student, o.file, *per_question, _points(o.total),
                             _points(possible), o.status, o.reason, "; ".join(o.flags)])


def write_feedback(feedback_dir, name, outcome, points):
    """Write the feedback handed back to one student: scores and the grader's own messages."""
    lines = [f"# {name}: feedback for {outcome.student}", "",
             f"Score: {_points(outcome.total)} / {_points(sum(points.values()))} "
             f"({outcome.status})", ""]
    if outcome.reason:
        lines += [f"Note: {outcome.reason}", ""]
    lines += ["| question | score | out of |", "|---|---|---|"]
    lines += [f"| {q} | {_points(outcome.scores.get(q, (0,))[0])} | {_points(p)} |"
              for q, p in points.items()]
    lines += ["", "## Tests", ""]
    for q, results in outcome.tests.items():
        public = [message for is_public, message in results if is_public]
        hidden = [message for is_public, message in results if not is_public]
        lines += [f"- {q} public test {i}/{len(public)}: {m}" for i, m in enumerate(public, 1)]
        if hidden:
            passed = sum(m == "passed" for m in hidden)
            lines.append(f"- {q} hidden tests: {passed} of {len(hidden)} passed")
    lines += ["", "Hidden tests count towards the score; their code is not shown.", ""]
    feedback_dir.mkdir(parents=True, exist_ok=True)
    (feedback_dir / f"{outcome.student}.md").write_text("\n".join(lines), encoding="utf-8")


def grade(chapter, submissions, assignments_dir=ASSIGNMENTS, out_dir=GRADES,
          timeout=DEFAULT_TIMEOUT, jobs=DEFAULT_JOBS, unsafe=False):
    """Grade every file in a folder against one assignment; write the CSV and the feedback.

    Returns (csv path, list of Outcome).
    """
    bundle = load_bundle(chapter, assignments_dir)
    if not str(submissions).strip():
        raise ClassroomError("Say which folder to grade, e.g. make grade CHAPTER=01 "
                             "SUBMISSIONS=path/to/folder.")
    submissions = pathlib.Path(submissions)
    if not submissions.is_dir():
        raise ClassroomError(f"SUBMISSIONS={submissions} is not a folder; give the folder that "
                             "holds the returned notebooks.")
    paths = sorted(p for p in submissions.iterdir() if not p.name.startswith("."))
    if not paths:
        raise ClassroomError(f"{submissions} is empty; nothing to grade.")
    name = bundle["name"]
    out_dir = pathlib.Path(out_dir)
    points = {q: spec["points"] for q, spec in bundle["questions"].items()}
    outcomes = grade_submissions(bundle, paths, out_dir / name / "details", timeout, jobs,
                                 unsafe)
    csv_path = out_dir / f"{name}.csv"
    write_gradebook(csv_path, outcomes, points)
    for outcome in outcomes:
        write_feedback(out_dir / name / "feedback", name, outcome, points)
    return csv_path, outcomes


def main(argv=None):
    """Run `assign` or `grade` from the command line; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.classroom", description=(
        "Build student copies of the exercise masters and grade returned notebooks offline."))
    sub = parser.add_subparsers(dest="command", required=True)
    p_assign = sub.add_parser("assign", help="build dist/assignments/<name>/ for every master")
    p_assign.add_argument("masters", nargs="*", type=pathlib.Path,
                          help="exercise masters (default: every one in masters/)")
    p_assign.add_argument("--out", type=pathlib.Path, default=ASSIGNMENTS)
    p_grade = sub.add_parser("grade", help="grade a folder of submissions into dist/grades/")
    p_grade.add_argument("chapter", help="assignment name or a unique prefix, e.g. 01")
    p_grade.add_argument("submissions", help="folder of returned notebooks")
    p_grade.add_argument("--assignments", type=pathlib.Path, default=ASSIGNMENTS)
    p_grade.add_argument("--out", type=pathlib.Path, default=GRADES)
    p_grade.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                         help="seconds per notebook (a cell or a test gets at most "
                              f"{CELL_TIMEOUT:g})")
    p_grade.add_argument("--jobs", type=int, default=DEFAULT_JOBS)
    p_grade.add_argument("--unsafe", action="store_true",
                         help="grade without the bubblewrap sandbox (the gradebook says so)")
    args = parser.parse_args(argv)
    try:
        if args.command == "assign":
            for a in assign(args.masters, args.out):
                print(f"{a.name}: {a.student} and {a.bundle.name} ({a.seconds:.1f} s)")
        else:
            start = time.perf_counter()
            csv_path, outcomes = grade(args.chapter, args.submissions, args.assignments,
                                       args.out, args.timeout, args.jobs, args.unsafe)
            for o in outcomes:
                note = f" - {o.reason}" if o.reason else ""
                print(f"{o.student}: {_points(o.total)} ({o.status}, {o.seconds:.1f} s){note}")
            print(f"{len(outcomes)} files graded into {csv_path} "
                  f"({time.perf_counter() - start:.1f} s)")
    except ClassroomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # Through the package, so that worker processes find the functions under their module name.
    from course_lib.classroom import main as package_main
    sys.exit(package_main())
