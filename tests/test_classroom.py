"""Tests of the classroom tool: student copies built and graded offline by otter-grader.

Every exercise master in masters/ (found by glob, so the tests grow with the chapters) and the
small master in tests/data/classroom/ are assigned once per test session. Truth comes from outside
the tool: the masters' own marker lines and points (read here with a separate parser), otter's
grading of the master's own solutions, and notebooks that are wrong on purpose.
"""
import ast
import copy
import csv
import json
import pathlib
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat
import psutil
import pytest

from course_lib import classroom

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "classroom" / "00_fixture_exercises.ipynb"
MASTERS = sorted((ROOT / "masters").glob("*_exercises.ipynb")) + [FIXTURE]
LOOP_LIMIT = 30  # seconds; the looping submission must be stopped at this limit
HALVES = ("a_half_answered.ipynb", "b_other_half_answered.ipynb")
MESSAGE = "message: "  # marks a needle that is a hidden test's string, searched anywhere


def run_tool(*args, timeout=600):
    """Run `python -m course_lib.classroom ...` as `make` does; return the finished process."""
    return subprocess.run([sys.executable, "-m", "course_lib.classroom", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


# ---- reading a master independently of the tool and of otter ----

def master_parts(master):
    """Split a master by its raw marker cells: solution lines, public and hidden tests, the rest.

    Returns a dict of lists of stripped code lines ("solution", "hidden", "public", "other"), the
    hidden and public test cells' sources ("hidden_cells", "public_cells"), and {question: points} read from the
    "# BEGIN QUESTION" cells.
    """
    nb = nbformat.read(master, as_version=4)
    parts = {"solution": [], "hidden": [], "public": [], "other": [], "hidden_cells": [],
             "public_cells": []}
    points, region = {}, None
    for cell in nb.cells:
        if cell.cell_type == "raw":
            text = cell.source.strip()
            if text.startswith("# BEGIN QUESTION"):
                fields = dict(re.findall(r"^(\w+):\s*(\S+)", text, flags=re.MULTILINE))
                points[fields["name"]] = float(fields["points"])
            region = {"# BEGIN SOLUTION": "solution", "# BEGIN TESTS": "tests"}.get(text, region)
            region = None if text in ("# END SOLUTION", "# END TESTS") else region
            continue
        lines = [line.rstrip() for line in cell.source.splitlines()]
        if region == "tests":
            kind = "hidden" if lines and lines[0].strip() == "# HIDDEN" else "public"
            parts[kind] += [line.strip() for line in lines]
            parts[f"{kind}_cells"].append(cell.source)
        elif region == "solution":
            inside = False
            for line in lines:
                if line.strip() in ("# BEGIN SOLUTION", "# END SOLUTION"):
                    inside = line.strip() == "# BEGIN SOLUTION"
                elif inside or line.endswith("# SOLUTION"):
                    parts["solution"].append(line.split("# SOLUTION")[0].strip())
                else:
                    parts["other"].append(line.strip())
        else:
            parts["other"] += [line.strip() for line in lines]
    return parts, points


def secret_needles(master):
    """Text that must not reach students: solution lines and hidden test code and messages.

    Hidden test statements are also given as otter rewrites them (ast.unparse), and their string
    literals (assertion messages) on their own. Short lines and lines that also occur in the
    public part of the master (e.g. `h = 1e-6`) are left out: they are not secrets.
    """
    parts, _ = master_parts(master)
    public = set(parts["public"]) | set(parts["other"])
    needles = {line for line in parts["solution"] if len(line) >= 6}
    hidden = {l for l in parts["hidden"] if len(l) >= 6 and not l.startswith("#")}
    for source in parts["hidden_cells"]:
        tree = ast.parse(source)
        for statement in tree.body:
            hidden.add(ast.unparse(statement))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and len(node.value) >= 10:
                hidden.add(MESSAGE + node.value)
    public_code = "\n".join(parts["public"] + parts["other"] + parts["public_cells"])
    hidden = {h for h in hidden - public if h.removeprefix(MESSAGE) not in public_code}
    return needles - public, hidden


def strings_in(path):
    """All text of a file: every string inside a notebook's JSON (sources, metadata, outputs)."""
    path = pathlib.Path(path)
    if path.suffix == ".zip":
        import zipfile
        with zipfile.ZipFile(path) as bundle:
            return "\n".join(bundle.read(n).decode(errors="replace") for n in bundle.namelist())
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text
    found = []

    def walk(node):
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                found.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(json.loads(text))
    return "\n".join(found)


def shows(needle, text):
    """Whether text contains needle: as a whole line for short code, anywhere for long text."""
    if needle.startswith(MESSAGE):
        return needle.removeprefix(MESSAGE) in text
    if "\n" in needle or len(needle) >= 30:
        return needle in text
    prompts = (">>> ", "... ")  # otter stores test code as doctests
    lines = {line.split("# SOLUTION")[0].strip().removeprefix(prompts[0])
             .removeprefix(prompts[1]).strip() for line in text.splitlines()}
    return needle in lines


# ---- generated submissions ----

def answer_cells(student_nb):
    """Return [(cell index, question)] for the student's answer cells, from the check cells."""
    pending, found = [], []
    for i, cell in enumerate(student_nb.cells):
        if "otter_answer_cell" in cell.get("metadata", {}).get("tags", []):
            pending.append(i)
        code = cell.source if cell.cell_type == "code" else ""
        check = re.search(r'grader\.check\("(\w+)"\)', code)
        if check:
            found += [(j, check.group(1)) for j in pending]
            pending = []
    return found


def half_answered(assignment, parity):
    """The master's solutions with every other question's answer left blank as handed out.

    parity 0 blanks questions 1, 3, 5, ...; parity 1 blanks 2, 4, ... (in notebook order).
    Returns (notebook, the questions left blank).
    """
    solutions = nbformat.read(assignment.autograder.parent / f"{assignment.name}.ipynb", 4)
    student = nbformat.read(assignment.student, as_version=4)
    assert len(solutions.cells) == len(student.cells), "student and solution copies should align"
    cells = answer_cells(student)
    questions = list(dict.fromkeys(q for _, q in cells))
    blank = set(questions[parity::2])
    wrong = copy.deepcopy(solutions)
    for i, question in cells:
        if question in blank:
            wrong.cells[i].source = student.cells[i].source
    return wrong, blank


# ---- fixtures: assign every master once, grade every batch once ----

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("classroom")


@pytest.fixture(scope="module")
def assigned(workdir):
    """{master name: Assignment or the ClassroomError it raised}, assigned two at a time."""
    def attempt(master):
        try:
            return classroom.assign_one(master, workdir / "assignments", run_tests=False)
        except classroom.ClassroomError as exc:
            return exc
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((m.stem for m in MASTERS), pool.map(attempt, MASTERS)))


def solutions_copy(assignment, folder, stem):
    folder.mkdir(parents=True, exist_ok=True)
    source = assignment.autograder.parent / f"{assignment.name}.ipynb"
    (folder / f"{stem}.ipynb").write_bytes(source.read_bytes())


def fixture_variant(assignment, folder, stem, q1_source):
    """The fixture's solutions with question 1's answer cell replaced."""
    nb = nbformat.read(assignment.autograder.parent / f"{assignment.name}.ipynb", 4)
    student = nbformat.read(assignment.student, as_version=4)
    [(index, _)] = [(i, q) for i, q in answer_cells(student) if q == "q1"]
    nb.cells[index].source = q1_source
    nbformat.write(nb, folder / f"{stem}.ipynb")


@pytest.fixture(scope="module")
def graded(assigned, workdir):
    """Grade every batch with the command-line tool; {batch: (process, CSV rows, output folder)}.

    Per master: two complementary half-answered copies of its solutions (each question is answered
    in one and blank in the other). For the fixture master, also the failure cases, and a second
    batch, one at a time under a short limit: a submission that loops forever, then the complete
    solutions.
    """
    batches = {}
    for name, assignment in assigned.items():
        if isinstance(assignment, Exception):
            continue
        folder = workdir / "submissions" / name
        folder.mkdir(parents=True)
        for parity in (0, 1):
            nbformat.write(half_answered(assignment, parity)[0], folder / HALVES[parity])
        batches[name] = (folder, ["--jobs", 1, "--timeout", 300])
    fixture = assigned[FIXTURE.stem]
    folder = workdir / "submissions" / FIXTURE.stem
    fixture_variant(fixture, folder, "c_raises", "slope = 1 / 0")
    fixture_variant(fixture, folder, "d_kernel_dies", "import os\nos._exit(3)")
    (folder / "e_essay.txt").write_text("My answers are in the email.")
    (folder / "f_truncated.ipynb").write_text('{"cells": [{"cell_type": "code", "sou')
    (folder / "g_not_notebook_json.ipynb").write_text('{"cells": 3}')
    (folder / "h_other_course.ipynb").write_bytes((ROOT / "notebooks" / "00_welcome.ipynb")
                                                   .read_bytes())
    (folder / ".ipynb_checkpoints").mkdir()
    loop_folder = workdir / "submissions" / "loop"
    loop_folder.mkdir(parents=True)
    fixture_variant(fixture, loop_folder, "a_loops", "while True:\n    pass")
    solutions_copy(fixture, loop_folder, "b_next")
    # First, so that it runs while the machine is least busy.
    batches = {"loop": (loop_folder, ["--jobs", 1, "--timeout", LOOP_LIMIT]), **batches}

    def grade(item):
        key, (folder, options) = item
        out = workdir / "grades" / key
        done = run_tool("grade", fixture.name if key == "loop" else key, folder,
                        "--assignments", workdir / "assignments", "--out", out, *options)
        csvs = list(out.glob("*.csv"))
        return key, (done, read_csv(csvs[0]) if csvs else {}, out)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two grading processes at a time
        return dict(pool.map(grade, batches.items()))


# ---- every master ----

@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_master_assigns_cleanly(master, assigned):
    assignment = assigned[master.stem]
    assert not isinstance(assignment, Exception), str(assignment)
    student = nbformat.read(assignment.student, as_version=4)
    nbformat.validate(student)
    _, points = master_parts(master)
    assert classroom.question_points(assignment.autograder) == pytest.approx(points), \
        "the autograder should carry the points written in the master's BEGIN QUESTION cells"
    checks = re.findall(r'grader\.check\("(\w+)"\)', strings_in(assignment.student))
    assert sorted(set(checks)) == sorted(points), "each question needs a grader.check cell"


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_student_copy_has_no_solution_and_no_hidden_test(master, assigned):
    assignment = assigned[master.stem]
    assert not isinstance(assignment, Exception), str(assignment)
    solutions, hidden = secret_needles(master)
    assert solutions and hidden, "a master needs solution lines and hidden tests"
    # The needles are real: they are in the instructor's copies.
    instructor = strings_in(assignment.autograder.parent / f"{assignment.name}.ipynb")
    assert all(shows(s, instructor) for s in solutions), "solution lines should be there"
    bundle = strings_in(assignment.autograder)
    assert any(shows(h, bundle) for h in hidden), "hidden tests should be in the autograder zip"
    student_files = [p for p in assignment.student.parent.rglob("*") if p.is_file()]
    for path in student_files:
        text = strings_in(path)
        leaked = sorted(s for s in solutions | hidden if shows(s, text))
        assert not leaked, f"{path.name} shows students: {leaked}"


def test_leak_search_finds_a_planted_solution_and_hidden_test(assigned, tmp_path):
    assignment = assigned[FIXTURE.stem]
    solutions, hidden = secret_needles(FIXTURE)
    nb = nbformat.read(assignment.student, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("slope = 3 * 2.0 ** 2"))
    nb.metadata["otter"]["tests"]["q1"]["suites"][0]["cases"].append(
        {"code": ">>> assert isinstance(slope, float), 'slope should be a float'\n"})
    planted = tmp_path / "planted.ipynb"
    nbformat.write(nb, planted)
    text = strings_in(planted)
    assert {s for s in solutions if shows(s, text)} == {"slope = 3 * 2.0 ** 2"}
    assert MESSAGE + "slope should be a float" in {h for h in hidden if shows(h, text)}


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_solutions_get_full_marks_and_blank_answers_lose_them(master, graded, assigned):
    done, rows, out = graded[master.stem]
    assert done.returncode == 0, done.stderr
    _, points = master_parts(master)
    possible = sum(points.values())
    _, hidden = secret_needles(master)
    for parity, file in enumerate(HALVES):
        row = rows[pathlib.Path(file).stem]
        _, blank = half_answered(assigned[master.stem], parity)
        assert row["status"] == "graded", row["reason"]
        assert float(row["possible"]) == pytest.approx(possible)
        for question, most in points.items():
            if question in blank:
                assert float(row[question]) < most, \
                    f"{question}'s tests give marks to the blank answer handed out"
            else:
                assert float(row[question]) == pytest.approx(most), \
                    f"the master's solution to {question} loses marks when graded"
        assert 0 < float(row["total"]) < possible, "half the answers should get partial marks"
        feedback = (out / master.stem / "feedback" / f"{row['student']}.md").read_text()
        assert f"Score: {float(row['total']):g} / {possible:g}" in feedback
        assert not [h for h in hidden if shows(h, feedback)], "feedback must not show hidden tests"


# ---- failure cases, on the fixture master ----

def test_failures_score_zero_with_a_reason_and_the_batch_goes_on(graded):
    done, rows, out = graded[FIXTURE.stem]
    assert done.returncode == 0, done.stderr
    assert set(rows) == {"a_half_answered", "b_other_half_answered", "c_raises", "d_kernel_dies",
                         "e_essay", "f_truncated", "g_not_notebook_json", "h_other_course"}
    raises = rows["c_raises"]  # a raising cell costs its question; the other is still marked
    assert (raises["status"], raises["q1"], raises["q2"]) == ("graded", "0", "3")
    assert "ZeroDivisionError" in raises["reason"]
    expected = {"d_kernel_dies": ("error", "kernel died"),
                "e_essay": ("not a notebook", "not a .ipynb notebook"),
                "f_truncated": ("corrupt", "not valid notebook JSON"),
                "g_not_notebook_json": ("corrupt", "not a valid notebook"),
                "h_other_course": ("error", "not a copy of this assignment")}
    for student, (status, reason) in expected.items():
        row = rows[student]
        assert (row["status"], row["total"], row["q1"], row["q2"]) == (status, "0", "0", "0")
        assert reason in row["reason"], row["reason"]
        assert (out / FIXTURE.stem / "feedback" / f"{student}.md").exists()


def test_looping_submission_is_stopped_at_the_limit_and_the_next_is_graded(graded):
    done, rows, out = graded["loop"]
    assert done.returncode == 0, done.stderr
    loops = rows["a_loops"]
    assert (loops["status"], loops["total"]) == ("timed out", "0")
    assert f"time limit of {LOOP_LIMIT} s" in loops["reason"]
    seconds = json.loads((out / FIXTURE.stem / "details" / "a_loops.json").read_text())["seconds"]
    assert LOOP_LIMIT <= seconds < LOOP_LIMIT + 5, "stopped at the limit, not long after"
    assert (rows["b_next"]["status"], rows["b_next"]["total"]) == ("graded", "5")
    # The kernel was started with its files in this test's folder: no such process is left.
    left = [p.info["pid"] for p in psutil.process_iter(["pid", "cmdline"])
            if str(out) in " ".join(p.info["cmdline"] or [])]
    assert not left, "the looping notebook's kernel should be killed with its grader"


def test_student_copy_gives_instant_feedback(assigned, workdir):
    assignment = assigned[FIXTURE.stem]
    folder = workdir / "student"
    folder.mkdir()
    nb = nbformat.read(assignment.student, as_version=4)
    [(index, _)] = [(i, q) for i, q in answer_cells(nb) if q == "q1"]
    nb.cells[index].source = "slope = 12.0"  # q1 answered, q2 left as handed out
    path = folder / assignment.student.name
    nbformat.write(nb, path)
    done = subprocess.run([sys.executable, ROOT / "tests" / "execute_notebooks.py", path],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    outputs = strings_in(path)
    assert "q1 results: All test cases passed!" in outputs
    assert "q2 results:" in outputs and "Test case failed" in outputs


# ---- fast checks of inputs (no kernel) ----

def test_check_submission_names_the_problem(tmp_path):
    (tmp_path / "good.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    (tmp_path / "bad.ipynb").write_bytes(b"\xff\xfe not text")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    assert classroom.check_submission(tmp_path / "good.ipynb") is None
    assert classroom.check_submission(tmp_path / "bad.ipynb")[0] == "corrupt"
    assert classroom.check_submission(tmp_path / "photo.png")[0] == "not a notebook"
    assert classroom.check_submission(tmp_path)[0] == "not a notebook"


def test_bad_commands_explain_what_to_do(tmp_path, capsys):
    code = classroom.main(["grade", "99", str(tmp_path), "--assignments", str(tmp_path / "none")])
    assert code == 2 and "make assignments" in capsys.readouterr().err
    master = tmp_path / "01_misnamed_exercises.ipynb"
    nb = nbformat.read(FIXTURE, as_version=4)
    nbformat.write(nb, master)
    with pytest.raises(classroom.ClassroomError, match="set it to the file stem"):
        classroom.assign_one(master, tmp_path / "out")
    nb.cells.pop(0)
    nbformat.write(nb, master)
    with pytest.raises(classroom.ClassroomError, match="ASSIGNMENT CONFIG"):
        classroom.assign_one(master, tmp_path / "out")
    with pytest.raises(classroom.ClassroomError, match="time limit|timeout"):
        classroom.grade_submissions("x", tmp_path / "x.zip", [], tmp_path, timeout=0)
