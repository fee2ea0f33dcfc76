"""Tests of the learner's exercise notebooks (course_lib.workbook) and their checks (feedback).

Truth comes from outside the generator: the masters' own marker cells (read with master_text's
separate parser), kernels that run the learner copies, blank as committed and with the masters'
solutions pasted in, and answers that are wrong on purpose.
"""
import json
import pathlib
import re
import shutil

import nbformat
import pytest

from course_lib import feedback, workbook
from execute_notebooks import execute
from master_text import master_parts, secret_needles, shows, strings_in

ROOT = pathlib.Path(__file__).resolve().parent.parent
MASTERS = sorted((ROOT / "masters").glob("[0-9][0-9]_*_exercises.ipynb"))
CHECK_CELL = re.compile(r'^check\("(\w+)"\)$')


def learner_copy(master):
    return ROOT / "notebooks" / master.name


def check_outputs(nb):
    """Return {question: printed text} for every check cell of an executed notebook."""
    found = {}
    for cell in nb.cells:
        match = CHECK_CELL.match(cell.source.strip()) if cell.cell_type == "code" else None
        if match:
            found[match.group(1)] = "".join(o.get("text", "") for o in cell.outputs
                                            if o.output_type == "stream")
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
    return found


def test_there_are_masters_and_each_has_a_learner_copy():
    assert len(MASTERS) >= 5
    assert not list((ROOT / "masters").glob("*.json"))
    for master in MASTERS:
        assert learner_copy(master).is_file(), f"{master.name} has no learner copy in notebooks/"


def test_committed_copies_equal_what_the_masters_give():
    assert workbook.drift() == [], "run `make workbook` and commit the result"
    assert workbook.main(["--check"]) == 0


def test_drift_is_reported(tmp_path):
    master = MASTERS[0]
    workbook.write_workbook([master], tmp_path, tmp_path)
    copy = tmp_path / master.name
    nb = nbformat.read(copy, as_version=4)
    nb.cells[3].source += "\nprint('edited')"
    nbformat.write(nb, copy)
    spec = json.loads((tmp_path / f"{master.stem}.json").read_text())
    spec["questions"]["q1"]["tests"].append("assert True")
    (tmp_path / f"{master.stem}.json").write_text(json.dumps(spec))
    assert workbook.drift([master], tmp_path, tmp_path) == [
        f"{master.name} differs from its master",
        f"{master.stem}.json differs from its master's public tests"]


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_learner_copy_has_no_solution_and_no_hidden_test(master):
    solutions, hidden = secret_needles(master)
    assert solutions and hidden, "a master needs solution lines and hidden tests"
    spec = json.loads((feedback.CHECKS / f"{master.stem}.json").read_text())
    checks_text = "\n".join(test for q in spec["questions"].values() for test in q["tests"])
    for text in (strings_in(learner_copy(master)), checks_text):
        leaked = sorted(s for s in solutions | hidden if shows(s, text))
        assert not leaked, f"{master.name}: the learner sees {leaked}"


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_blank_copy_has_a_check_per_question_and_each_says_not_answered(master):
    """nbval reruns the committed copy and compares, so these are the outputs of a fresh run."""
    _, points = master_parts(master)
    outputs = check_outputs(nbformat.read(learner_copy(master), as_version=4))
    assert list(outputs) == list(points), "one check cell per question, in order"
    for question, text in outputs.items():
        assert re.fullmatch(rf"{question}: not answered yet \(`\w+` still has a `...` to "
                            r"replace\)\n", text), text


@pytest.mark.parametrize("master", MASTERS, ids=[m.stem for m in MASTERS])
def test_solutions_pasted_in_pass_every_check_under_another_file_name(master, tmp_path):
    """The master's solution cells replace the learner's answer cells (same cell ids)."""
    master_nb = nbformat.read(master, as_version=4)
    solution_ids, region = set(), None
    for cell in master_nb.cells:
        if cell.cell_type == "raw":
            region = {"# BEGIN SOLUTION": "solution", "# END SOLUTION": None}.get(
                cell.source.strip(), region)
        elif region == "solution":
            solution_ids.add(cell.id)
    solved = {cell.id: cell.source for cell in master_nb.cells if cell.id in solution_ids}
    nb = nbformat.read(learner_copy(master), as_version=4)
    replaced = 0
    for cell in nb.cells:
        if cell.id in solved:
            cell.source, replaced = solved[cell.id], replaced + 1
    assert replaced == len(solved)
    # A browser's name for a second download, in a folder far from the course.
    path = tmp_path / "Downloads" / f"{master.stem} (1).ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    execute(path)
    outputs = check_outputs(nbformat.read(path, as_version=4))
    _, points = master_parts(master)
    assert list(outputs) == list(points)
    for question, text in outputs.items():
        lines = text.splitlines()
        assert lines and all(re.fullmatch(rf"{question} test \d+/\d+: passed", l) for l in lines), \
            text


# ---- the checks themselves, without a kernel ----

@pytest.fixture(scope="module")
def chapter1():
    return feedback.checks_for("01_derivatives_exercises")


def test_a_wrong_answer_gets_its_assertion_message_in_one_line(chapter1):
    import numpy as np

    def best_steps(dtype=np.float64):
        return 1e-3, 1e-5
    lines = chapter1.lines("q1", {"np": np, "best_steps": best_steps})
    assert len(lines) == len(chapter1.questions["q1"]["tests"])
    assert lines[0].startswith("q1 test 1/"), lines
    assert "failed: typical forward-difference error" in lines[0]
    assert all("\n" not in line and "Traceback" not in line and len(line) < 200 for line in lines)


def test_an_error_in_the_answer_is_one_line(chapter1):
    import autograd
    import numpy as np

    def jacobian(f, x):
        return 1 / 0
    lines = chapter1.lines("q4", {"np": np, "autograd": autograd, "jacobian": jacobian,
                                  "example": lambda x: x})
    assert lines[0].endswith("error: ZeroDivisionError: division by zero"), lines


def test_an_assertion_without_message_shows_the_failing_line():
    checker = feedback.Checker({"name": "demo", "questions": {"q1": {
        "answers": ["x"], "tests": ["assert x > 0, 'x must be positive'", "y = 1\nassert x == 2",
                                    "assert x < 10"]}}})
    assert checker.lines("q1", {"x": 1}) == [
        "q1 test 1/3: passed", "q1 test 2/3: failed: this does not hold: assert x == 2",
        "q1 test 3/3: passed"]
    assert checker.lines("q1", {"x": -1})[0] == "q1 test 1/3: failed: x must be positive"
    assert checker.lines("q1", {}) == ["q1: not answered yet (`x` is not defined: run your "
                                       "answer's cell first)"]
    assert checker.lines("q1", {"x": ...}) == ["q1: not answered yet (`x` still has a `...` to "
                                               "replace)"]


def test_blank_functions_are_recognised():
    def blank(f, x):
        y = 2 * x
        ...

    def answered(x):
        return x[..., 0]
    assert feedback.is_blank(blank) and feedback.is_blank(...)
    assert not feedback.is_blank(answered) and not feedback.is_blank(None)


def test_unknown_names_explain_what_exists(chapter1, tmp_path):
    with pytest.raises(feedback.FeedbackError, match="its questions are q1, q2"):
        chapter1.lines("q9", {})
    with pytest.raises(feedback.FeedbackError, match="01_derivatives_exercises"):
        feedback.checks_for("01_derivative_exercises")
    shutil.copy(feedback.CHECKS / "01_derivatives_exercises.json", tmp_path / "x.json")
    assert feedback.checks_for("x", tmp_path).questions == chapter1.questions


def test_a_master_out_of_order_is_refused(tmp_path):
    nb = nbformat.read(MASTERS[0], as_version=4)
    end = next(i for i, c in enumerate(nb.cells) if c.source.strip() == "# END QUESTION")
    nb.cells.pop(end)
    bad = tmp_path / MASTERS[0].name
    nbformat.write(nb, bad)
    with pytest.raises(workbook.WorkbookError, match="cell .*END QUESTION"):
        workbook.learner_copy(bad)
