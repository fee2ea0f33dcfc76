"""Classroom assignments: student copies of the exercise masters and offline batch grading.

This is the instructor's tool from the README section "Teaching with this course"; it is not part
of the learners' API. It drives otter-grader (pinned in pyproject.toml) without Docker or network:

    python -m course_lib.classroom assign [MASTER.ipynb ...]   # make assignments
    python -m course_lib.classroom grade CHAPTER FOLDER         # make grade CHAPTER= SUBMISSIONS=

`assign` runs `otter assign` on every exercise master (`masters/NN_<chapter>_exercises.ipynb`)
into `dist/assignments/<name>/`: `student/<name>.ipynb` is the copy to hand out (solutions replaced
by `...`, hidden tests removed, `grader.check("qN")` cells for instant feedback) and
`autograder/<name>-autograder_<date>.zip` holds every test, hidden ones included.

`grade` grades each file of a folder in its own process with a time limit, into
`dist/grades/<name>.csv` (one row per file: per-question scores, total, status and reason),
`dist/grades/<name>/feedback/<student>.md` (to hand back: scores and public test output only) and
`dist/grades/<name>/details/<student>.json|.log` (for the instructor: everything, hidden tests too).
A file that is not a notebook, is corrupt, loops past the limit or crashes the grader gets 0 and
its reason in the CSV; the batch goes on.
"""
import argparse
import ast
import csv
import json
import multiprocessing
import multiprocessing.connection
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nbformat
import psutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
MASTERS = ROOT / "masters"
ASSIGNMENTS = ROOT / "dist" / "assignments"
GRADES = ROOT / "dist" / "grades"
MASTER_GLOB = "*_exercises.ipynb"
DEFAULT_TIMEOUT = 120.0
DEFAULT_JOBS = os.cpu_count() or 1
REBUILD_HINT = "Build the assignments first with `make assignments`."


class ClassroomError(RuntimeError):
    """A master, an assignment folder or an argument is unusable; the message says what to do."""


# ---- assign: masters -> student copy + autograder zip ----

@dataclass
class Assignment:
    """The files `otter assign` built for one master.

    name: the assignment name (the master's file stem, e.g. "01_derivatives_exercises");
    student: the notebook to hand out; autograder: the zip that `grade` runs submissions against.
    """
    name: str
    student: pathlib.Path
    autograder: pathlib.Path
    seconds: float = 0.0


def find_masters(masters_dir=MASTERS):
    """Return the exercise masters (`NN_<chapter>_exercises.ipynb`) in a folder, sorted."""
    return sorted(pathlib.Path(masters_dir).glob(MASTER_GLOB))


def assignment_config(master):
    """Return a master's ASSIGNMENT CONFIG as {key: text}, checking what `grade` relies on.

    Raises ClassroomError if the first cell is not the raw config cell, or if its `name` differs
    from the file stem (grading finds an assignment by that name).
    """
    master = pathlib.Path(master)
    try:
        nb = nbformat.read(master, as_version=4)
    except Exception as exc:  # nbformat raises several types for unreadable files
        raise ClassroomError(f"{master} is not a readable notebook ({exc}).") from exc
    first = nb.cells[0] if nb.cells else None
    if not (first and first.cell_type == "raw" and first.source.startswith("# ASSIGNMENT CONFIG")):
        raise ClassroomError(f"{master}: the first cell must be a raw cell starting with "
                             "'# ASSIGNMENT CONFIG' (see README, Teaching with this course).")
    config = dict(re.findall(r"^(\w+):\s*(.*?)\s*$", first.source, flags=re.MULTILINE))
    if config.get("name") != master.stem:
        raise ClassroomError(f"{master}: ASSIGNMENT CONFIG has name: {config.get('name')!r}; "
                             f"set it to the file stem {master.stem!r} so `make grade "
                             f"CHAPTER={master.stem}` finds it.")
    return config


def assign_one(master, out_dir=ASSIGNMENTS, run_tests=True):
    """Build the student copy and the autograder zip of one master with `otter assign`.

    master: path of an exercise master; out_dir: the assignment goes to out_dir/<name>/ (replaced);
    run_tests: also run the master's solutions against its tests (otter's check that they pass).
    Returns an Assignment; raises ClassroomError with otter's message if assigning fails.
    """
    master = pathlib.Path(master).resolve()
    assignment_config(master)
    dest = pathlib.Path(out_dir).resolve() / master.stem
    shutil.rmtree(dest, ignore_errors=True)
    command = [sys.executable, "-m", "otter", "assign", str(master), str(dest)]
    if not run_tests:
        command.insert(4, "--no-run-tests")
    start = time.perf_counter()
    # From the master's folder, so that relative paths in its cells resolve as under nbval.
    done = subprocess.run(command, cwd=master.parent, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise ClassroomError(f"otter assign failed for {master.name} (exit code "
                             f"{done.returncode}); fix the master and rerun:\n{tail}")
    student = dest / "student" / master.name
    zips = sorted((dest / "autograder").glob("*.zip"))
    if not student.exists() or len(zips) != 1:
        raise ClassroomError(f"otter assign gave no student notebook or autograder zip in {dest}.")
    return Assignment(master.stem, student, zips[0], seconds)


def assign(masters=None, out_dir=ASSIGNMENTS, run_tests=True, jobs=DEFAULT_JOBS):
    """Assign every master (default: all of masters/), `jobs` at a time; return the Assignments.

    Every master is attempted; if any fails, ClassroomError lists all failures at the end.
    """
    masters = [pathlib.Path(m) for m in (masters if masters else find_masters())]
    if not masters:
        raise ClassroomError(f"No exercise masters ({MASTER_GLOB}) in {MASTERS}.")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(assign_one, m, out_dir, run_tests) for m in masters]
    built, failures = [], []
    for master, future in zip(masters, futures):
        try:
            built.append(future.result())
        except ClassroomError as exc:
            failures.append(str(exc))
    if failures:
        raise ClassroomError("\n\n".join(failures))
    return built


# ---- grade: submissions -> gradebook CSV + feedback ----

@dataclass
class Outcome:
    """The grade of one submitted file.

    scores: {question: (points earned, points possible)}, empty unless status is "graded";
    status: "graded", "timed out", "not a notebook", "corrupt" or "error"; reason: why, for the CSV;
    seconds: wall time of its grading process.
    """
    student: str
    file: str
    status: str
    reason: str = ""
    scores: dict = field(default_factory=dict)
    public_feedback: str = ""
    seconds: float = 0.0

    @property
    def total(self):
        """Points earned over all questions."""
        return sum(earned for earned, _ in self.scores.values())


def find_assignment(chapter, assignments_dir=ASSIGNMENTS):
    """Return (name, autograder zip) for an assignment name or a unique prefix of one ("01")."""
    assignments_dir = pathlib.Path(assignments_dir)
    names = sorted(p.parent.parent.name for p in assignments_dir.glob("*/autograder/*.zip"))
    if not chapter:
        raise ClassroomError(f"Say which assignment to grade, one of {names or 'none yet'} "
                             "(e.g. make grade CHAPTER=01 SUBMISSIONS=path/to/folder).")
    matches = [n for n in names if n == chapter] or [n for n in names if n.startswith(chapter)]
    if len(matches) != 1:
        found = (f"several match: {', '.join(matches)}" if matches
                 else f"available: {', '.join(names) or 'none'}")
        raise ClassroomError(f"No single assignment named {chapter!r} in {assignments_dir} "
                             f"({found}). {REBUILD_HINT}")
    zips = sorted((assignments_dir / matches[0] / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise ClassroomError(f"Expected one autograder zip in {assignments_dir / matches[0]}, "
                             f"found {len(zips)}. {REBUILD_HINT}")
    return matches[0], zips[0]


def question_points(autograder):
    """Return {question: points} from the test files in an autograder zip, in question order."""
    points = {}
    with zipfile.ZipFile(autograder) as bundle:
        for name in bundle.namelist():
            if name.startswith("tests/") and name.endswith(".py"):
                tree = ast.parse(bundle.read(name).decode())
                for node in tree.body:  # otter writes `test = {...}` as a plain literal
                    target = node.targets[0] if isinstance(node, ast.Assign) else None
                    if getattr(target, "id", "") == "test":
                        test = ast.literal_eval(node.value)
                        points[test["name"]] = test.get("points")
    return dict(sorted(points.items(), key=lambda kv: _natural_key(kv[0])))


def _natural_key(text):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def check_submission(path):
    """Return None if `path` is a readable notebook, else (status, reason) saying what is wrong."""
    path = pathlib.Path(path)
    if path.is_dir() or path.suffix != ".ipynb":
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


def _grade_in_child(name, submission, autograder, result_path, log_path, scratch):
    """Grade one submission with otter and write an Outcome-like JSON (runs in its own process)."""
    with open(log_path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    # Temporary files and the kernel's connection file go to a folder the parent deletes, even if
    # this process is killed; one BLAS thread per submission, as several are graded side by side.
    os.environ.update(TMPDIR=scratch, JUPYTER_RUNTIME_DIR=scratch, OPENBLAS_NUM_THREADS="1",
                      OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    tempfile.tempdir = scratch
    # Under its assignment's file name, as in the student's folder: the notebook's first cell,
    # `otter.Notebook("<name>.ipynb")`, looks for that file.
    own_copy = shutil.copy(submission, pathlib.Path(scratch) / f"{name}.ipynb")
    from otter.run import main as otter_run

    try:
        results = otter_run(own_copy, autograder=autograder, output_dir=None, no_logo=True)
    except Exception as exc:  # whatever stops otter is reported in the gradebook, not raised
        outcome = {"status": "error", "reason": _explain_failure(exc)}
    else:
        if results.catastrophic_error is not None:
            outcome = {"status": "error", "reason": _explain_failure(results.catastrophic_error)}
        else:
            outcome = {"status": "graded", "reason": _cell_errors(results.notebook, submission),
                       "scores": {q: [tf.score, tf.possible] for q, tf in results.results.items()},
                       "public_feedback": results.summary(public_only=True),
                       "full_feedback": results.summary()}
    pathlib.Path(result_path).write_text(json.dumps(outcome, indent=1))


def _explain_failure(exc):
    """Say in one line why otter could not grade a submission."""
    kind = type(exc).__name__
    if kind == "DeadKernelError":
        return "the notebook's kernel died while running (a cell crashed Python or exited it)"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
    if message.startswith("Received submission for assignment"):
        return f"not a copy of this assignment's notebook ({message})"
    return f"grading failed: {message if kind == 'OtterRuntimeError' else f'{kind}: {message}'}"


def _cell_errors(executed, submission):
    """Summarise the student's cells that raised (their tests decide the score; this says why)."""
    own = {c.source for c in nbformat.read(submission, as_version=4).cells if c.cell_type == "code"}
    notes = []
    for cell in executed.cells:
        if cell.cell_type != "code" or cell.source not in own:
            continue  # cells otter added to run the tests
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first = cell.source.strip().splitlines()[0][:40] if cell.source.strip() else ""
                notes.append(f"cell `{first}` raised {out['ename']}: {out['evalue']}"[:200])
    return "; ".join(notes)


def _kill_tree(pid):
    """Kill a process and all its descendants (the notebook kernel runs in its own session)."""
    try:
        parent = psutil.Process(pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def grade_submissions(name, autograder, paths, details_dir, timeout=DEFAULT_TIMEOUT,
                      jobs=DEFAULT_JOBS):
    """Grade files against an autograder zip, each in its own process, `jobs` at a time.

    name: the assignment name; paths: the submitted files (bad ones get a status, not a grade);
    details_dir: receives <student>.json (full results) and <student>.log (otter's output);
    timeout: seconds of wall time per submission before it is stopped and scored 0.
    Returns one Outcome per path, in the order given.
    """
    if timeout <= 0 or jobs < 1:
        raise ClassroomError(f"timeout must be > 0 s and jobs >= 1 (got {timeout} and {jobs}).")
    details_dir = pathlib.Path(details_dir)
    details_dir.mkdir(parents=True, exist_ok=True)
    students = _student_names(paths)
    outcomes = {}
    queue = []
    for path, student in zip(paths, students):
        problem = check_submission(path)
        if problem:
            outcomes[path] = Outcome(student, path.name, *problem)
        else:
            queue.append((path, student))

    # A fork server imports otter once; each submission then runs in a fresh process forked from it.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["otter.run"])
    # Each submission's temporary files, removed when its process ends (whichever way it ends).
    scratch_root = details_dir.parent / "running"
    scratch_root.mkdir(exist_ok=True)
    running = {}  # sentinel -> (process, path, student, start time, scratch folder)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                path, student = queue.pop(0)
                result_path = details_dir / f"{student}.json"
                result_path.unlink(missing_ok=True)
                scratch = tempfile.mkdtemp(prefix=f"{student}-", dir=scratch_root)
                process = context.Process(target=_grade_in_child, daemon=False, args=(
                    name, str(path.resolve()), str(pathlib.Path(autograder).resolve()),
                    str(result_path), str(details_dir / f"{student}.log"), scratch))
                process.start()
                running[process.sentinel] = (process, path, student, time.monotonic(), scratch)
            multiprocessing.connection.wait(list(running), timeout=0.5)
            for sentinel, (process, path, student, start, scratch) in list(running.items()):
                seconds = time.monotonic() - start
                if process.is_alive() and seconds <= timeout:
                    continue
                if process.is_alive():
                    _kill_tree(process.pid)
                    outcomes[path] = Outcome(student, path.name, "timed out", (
                        f"stopped after the time limit of {timeout:g} s; look for an endless loop "
                        "or a very slow cell"))
                else:
                    outcomes[path] = _read_outcome(details_dir, student, path, process.exitcode)
                outcomes[path].seconds = seconds
                process.join()
                shutil.rmtree(scratch, ignore_errors=True)
                del running[sentinel]
    finally:  # interrupted (Ctrl-C): leave no grading process or kernel behind
        for process, *_, scratch in running.values():
            _kill_tree(process.pid)
            shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(scratch_root, ignore_errors=True)
    for outcome in outcomes.values():
        _write_details(details_dir, outcome)
    return [outcomes[path] for path in paths]


def _student_names(paths):
    """File stems, or full file names where two files share a stem."""
    stems = [p.stem for p in paths]
    return [p.stem if stems.count(p.stem) == 1 else p.name for p in paths]


def _read_outcome(details_dir, student, path, exitcode):
    """Read the Outcome a grading process left in details_dir (or say that it left none)."""
    result_path = details_dir / f"{student}.json"
    if not result_path.exists():
        return Outcome(student, path.name, "error",
                       f"the grading process ended without a result (exit code {exitcode}); "
                       f"see {details_dir.name}/{student}.log")
    found = json.loads(result_path.read_text())
    scores = {q: tuple(pair) for q, pair in found.get("scores", {}).items()}
    return Outcome(student, path.name, found["status"], found.get("reason", ""), scores,
                   found.get("public_feedback", ""))


def _write_details(details_dir, outcome):
    """Add the row's status and reason to the instructor's <student>.json (kept for every file)."""
    result_path = details_dir / f"{outcome.student}.json"
    found = json.loads(result_path.read_text()) if result_path.exists() else {}
    found.update(student=outcome.student, file=outcome.file, status=outcome.status,
                 reason=outcome.reason, seconds=round(outcome.seconds, 1))
    result_path.write_text(json.dumps(found, indent=1))


def _points(x):
    return f"{x:g}" if x is not None else ""


def write_gradebook(csv_path, outcomes, points):
    """Write the gradebook: student, file, one column per question, total, possible, status."""
    possible = sum(p for p in points.values() if p is not None)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "file", *points, "total", "possible", "status", "reason"])
        for o in outcomes:
            per_question = [_points(o.scores.get(q, (0, None))[0]) for q in points]
            writer.writerow([o.student, o.file, *per_question, _points(o.total), _points(possible),
                             o.status, o.reason])


def write_feedback(feedback_dir, name, outcome, points):
    """Write the Markdown feedback handed back to one student (no hidden test is shown)."""
    possible = sum(p for p in points.values() if p is not None)
    lines = [f"# {name}: feedback for {outcome.student}", "",
             f"Score: {_points(outcome.total)} / {_points(possible)} ({outcome.status})", ""]
    if outcome.reason:
        lines += [f"Note: {outcome.reason}", ""]
    lines += ["| question | score | out of |", "|---|---|---|"]
    lines += [f"| {q} | {_points(outcome.scores.get(q, (0,))[0])} | {_points(p)} |"
              for q, p in points.items()]
    if outcome.public_feedback:
        lines += ["", "## Public tests (the ones `grader.check` runs in your notebook)", "",
                  "```text", outcome.public_feedback.strip(), "```"]
    lines += ["", "Hidden tests count towards the score; their code is not shown.", ""]
    feedback_dir.mkdir(parents=True, exist_ok=True)
    (feedback_dir / f"{outcome.student}.md").write_text("\n".join(lines), encoding="utf-8")


def grade(chapter, submissions, assignments_dir=ASSIGNMENTS, out_dir=GRADES,
          timeout=DEFAULT_TIMEOUT, jobs=DEFAULT_JOBS):
    """Grade every file in a folder against one assignment; write the CSV and the feedback.

    chapter: assignment name or unique prefix ("01"); submissions: a folder of returned files
    (hidden files are skipped); out_dir: gets <name>.csv and <name>/{feedback,details}/.
    Returns (csv path, list of Outcome).
    """
    name, autograder = find_assignment(chapter, assignments_dir)
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
    out_dir = pathlib.Path(out_dir)
    shutil.rmtree(out_dir / name, ignore_errors=True)
    points = question_points(autograder)
    outcomes = grade_submissions(name, autograder, paths, out_dir / name / "details", timeout,
                                 jobs)
    csv_path = out_dir / f"{name}.csv"
    write_gradebook(csv_path, outcomes, points)
    for outcome in outcomes:
        write_feedback(out_dir / name / "feedback", name, outcome, points)
    return csv_path, outcomes


# ---- command line ----

def main(argv=None):
    """Run `assign` or `grade` from the command line; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.classroom", description=(
        "Build student copies of the exercise masters and grade returned notebooks offline."))
    sub = parser.add_subparsers(dest="command", required=True)
    p_assign = sub.add_parser("assign", help="build dist/assignments/<name>/ for every master")
    p_assign.add_argument("masters", nargs="*", type=pathlib.Path,
                          help=f"exercise masters (default: masters/{MASTER_GLOB})")
    p_assign.add_argument("--out", type=pathlib.Path, default=ASSIGNMENTS)
    p_assign.add_argument("--no-run-tests", action="store_true",
                          help="skip running each master's solutions against its tests")
    p_assign.add_argument("--jobs", type=int, default=DEFAULT_JOBS)
    p_grade = sub.add_parser("grade", help="grade a folder of submissions into dist/grades/")
    p_grade.add_argument("chapter", help="assignment name or a unique prefix, e.g. 01")
    p_grade.add_argument("submissions", help="folder of returned notebooks")
    p_grade.add_argument("--assignments", type=pathlib.Path, default=ASSIGNMENTS)
    p_grade.add_argument("--out", type=pathlib.Path, default=GRADES)
    p_grade.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                         help="seconds per submission before it is stopped and scored 0")
    p_grade.add_argument("--jobs", type=int, default=DEFAULT_JOBS)
    args = parser.parse_args(argv)
    try:
        if args.command == "assign":
            for a in assign(args.masters, args.out, not args.no_run_tests, args.jobs):
                print(f"{a.name}: {a.student} and {a.autograder.name} ({a.seconds:.1f} s)")
        else:
            start = time.perf_counter()
            csv_path, outcomes = grade(args.chapter, args.submissions, args.assignments, args.out,
                                       args.timeout, args.jobs)
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
