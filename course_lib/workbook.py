"""The learner's exercise notebooks, generated from the masters: blanks and a check per question.

A master (`masters/NN_<chapter>_exercises.ipynb`) holds each question's solution and its tests,
public and hidden, between raw marker cells (README, "Teaching with this course"). From it this
module writes

- `notebooks/NN_<chapter>_exercises.ipynb`, the learner's copy: the prose, the set-up code and
  each question's answer cell with the solution replaced by `...`, then a `check("qN")` cell;
- `course_lib/checks/NN_<chapter>_exercises.json`, the public tests those checks run
  (course_lib/feedback.py). Hidden tests and solutions go nowhere but the master.

    python -m course_lib.workbook            # make workbook: write every copy (then execute them)
    python -m course_lib.workbook --check    # exit 1 if a committed copy differs from the masters
"""
import argparse
import ast
import json
import pathlib
import re
import sys

import nbformat

from course_lib.feedback import CHECKS

ROOT = pathlib.Path(__file__).resolve().parent.parent
MASTERS = ROOT / "masters"
NOTEBOOKS = ROOT / "notebooks"
MASTER_GLOB = "[0-9][0-9]_*_exercises.ipynb"
SOLUTION_TAIL = re.compile(r"\s*#\s*SOLUTION\s*$")
ASSIGNMENT = re.compile(r"^(\s*)([A-Za-z_][\w.\[\], ]*?)\s*=(?!=)")
LOADER = ('from course_lib.feedback import checks_for\n\n'
          'check = checks_for("{name}")  # check("q1") runs question 1\'s public tests')
HOW_TO = """\
**How this notebook works.** Run the first code cell, then for each question: replace every `...`
in the answer cell with your code, run that cell, and run the `check("qN")` cell below it. The
check prints one line per public test: `passed`, what is still wrong, or `not answered yet`. The
public tests guide you; further hidden tests (used when an instructor grades) check your answer in
general, so make it right in general, not just for the visible checks. Worked solutions and every
test are in `masters/{name}.ipynb` in the course folder: try each question first."""


class WorkbookError(ValueError):
    """A master's marker cells are out of order; the message names the master and the cell."""


def find_masters(folder=MASTERS):
    """Return the exercise masters in a folder, sorted by chapter."""
    return sorted(pathlib.Path(folder).glob(MASTER_GLOB))


def blank_line(line):
    """Return a `# SOLUTION` line as the learner sees it: `x = ...`, `return ...` or `...`."""
    code = SOLUTION_TAIL.sub("", line)
    indent = code[:len(code) - len(code.lstrip())]
    if code.strip().startswith("return"):
        return f"{indent}return ..."
    match = ASSIGNMENT.match(code)
    return f"{match.group(1)}{match.group(2)} = ..." if match else f"{indent}..."


def blank_source(source):
    """Return a solution cell's code with its answers blanked, and the answer lines' numbers.

    Args:
        source: a code cell of a master's solution region.
    Returns:
        (learner source, set of 1-based line numbers of the master that are solution lines).
    """
    kept, secret, inside = [], set(), False
    for number, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == "# BEGIN SOLUTION":
            inside = True
            secret.add(number)
            kept.append(line[:len(line) - len(line.lstrip())] + "...")
        elif marker == "# END SOLUTION":
            inside = False
            secret.add(number)
        elif inside:
            secret.add(number)
        elif SOLUTION_TAIL.search(line):
            secret.add(number)
            kept.append(blank_line(line))
        else:
            kept.append(line)
    return "\n".join(kept), secret


def answer_names(source, secret_lines):
    """Return the names a solution cell defines on its solution lines, in order.

    Args:
        source: the master's solution cell; secret_lines: its solution line numbers.
    Returns:
        Top-level function and variable names whose definition spans a solution line.
    """
    names = []
    for node in ast.parse(source).body:
        span = set(range(node.lineno, node.end_lineno + 1))
        if not span & secret_lines:
            continue
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(names))


def _new_cell(kind, source, cell_id, metadata=None):
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source, metadata=metadata or {})
    cell.id = cell_id
    return cell


def learner_copy(master):
    """Build the learner's copy of one master and its public checks.

    Args:
        master: path of an exercise master.
    Returns:
        (notebook, checks) where checks is {"name": ..., "questions": {q: {"answers", "tests"}}}.
    """
    nb, checks, _, _ = read_master(master)
    return nb, checks


def read_master(master):
    """Read a master into the learner's copy, its public checks, a solved copy and every test.

    Args:
        master: path of an exercise master.
    Returns:
        (learner copy, checks, solved copy, bundle): the solved copy is the learner's copy with
        the master's solutions in the answer cells; the bundle (for grading, never for learners)
        is {"name", "setup": the set-up code, "questions": {q: {"points", "answers", "tests":
        [{"code", "hidden"}]}}}.
    """
    master = pathlib.Path(master)
    nb = nbformat.read(master, as_version=4)
    name = master.stem
    cells, questions, solved, bundle = [], {}, [], {}
    setup = []
    question = region = None
    loader_added = intro_added = False
    for index, cell in enumerate(nb.cells):
        where = f"{master.name}, cell {index}"
        if cell.cell_type == "raw":
            text = cell.source.strip()
            if text.startswith("# ASSIGNMENT CONFIG"):
                continue
            if text.startswith("# BEGIN QUESTION"):
                found = re.search(r"^name:\s*(\w+)", text, flags=re.MULTILINE)
                if question or not found:
                    raise WorkbookError(f"{where}: a BEGIN QUESTION needs a `name:` line and the "
                                        "previous question's END QUESTION.")
                question = found.group(1)
                questions[question] = {"answers": [], "tests": []}
                points = re.search(r"^points:\s*([\d.]+)", text, flags=re.MULTILINE)
                bundle[question] = {"points": float(points.group(1)) if points else 1.0,
                                    "answers": [], "tests": []}
            elif text == "# END QUESTION":
                if not question:
                    raise WorkbookError(f"{where}: END QUESTION without BEGIN QUESTION.")
                cells.append(_new_cell("code", f'check("{question}")', f"check-{question}"))
                solved.append(cells[-1])
                question = None
            elif text in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                region = text.split()[-1].lower()
            elif text in ("# END SOLUTION", "# END TESTS"):
                region = None
            continue
        if region == "tests":
            hidden = cell.source.splitlines()[:1] == ["# HIDDEN"]
            if cell.cell_type == "code" and not hidden:
                questions[question]["tests"].append(cell.source)
            if cell.cell_type == "code":
                bundle[question]["tests"].append({"code": cell.source, "hidden": hidden})
            continue
        source = cell.source
        if region == "solution" and cell.cell_type == "code":
            source, secret = blank_source(cell.source)
            questions[question]["answers"] += answer_names(cell.source, secret)
        elif cell.cell_type == "code" and not question and not loader_added:
            source = f"{source}\n\n{LOADER.format(name=name)}"
            loader_added = True
        if cell.cell_type == "code" and not question:
            setup.append(cell.source)
        if cell.cell_type == "markdown" and not intro_added:
            source = f"{source}\n\n{HOW_TO.format(name=name)}"
            intro_added = True
        copy = _new_cell(cell.cell_type, source, cell.get("id") or f"cell-{index}",
                         dict(cell.get("metadata", {})))
        cells.append(copy)
        solved.append(_new_cell(cell.cell_type, cell.source, copy.id, dict(copy.metadata))
                      if region == "solution" and cell.cell_type == "code" else copy)
    if question or region:
        raise WorkbookError(f"{master.name} ends inside a question or a marked region.")
    for q, spec in questions.items():
        if not spec["answers"] or not spec["tests"]:
            raise WorkbookError(f"{master.name}, {q}: needs solution lines that define an answer "
                                "and at least one public test.")
    for q, spec in bundle.items():
        spec["answers"] = questions[q]["answers"]
    copies = []
    for content in (cells, solved):
        out = nbformat.v4.new_notebook(cells=content, metadata=dict(nb.metadata))
        out.nbformat_minor = max(nb.nbformat_minor, 5)
        copies.append(out)
    return (copies[0], {"name": name, "questions": questions}, copies[1],
            {"name": name, "setup": "\n\n".join(setup), "questions": bundle})


def _comparable(nb):
    """A notebook's cells without outputs or execution counts, for the drift check."""
    return [(c.cell_type, c.source, c.get("id")) for c in nb.cells]


def write_workbook(masters=None, notebooks=NOTEBOOKS, checks=CHECKS):
    """Write the learner copy and the checks of every master; return the notebooks written.

    Args:
        masters: master paths (default: every master in masters/).
        notebooks: folder for the learner copies; checks: folder for the public tests.
    Returns:
        The list of learner copies written (unexecuted: `make workbook` then executes them).
    """
    written = []
    pathlib.Path(checks).mkdir(parents=True, exist_ok=True)
    for master in masters or find_masters():
        nb, spec = learner_copy(master)
        path = pathlib.Path(notebooks) / pathlib.Path(master).name
        nbformat.write(nb, path)
        (pathlib.Path(checks) / f"{spec['name']}.json").write_text(
            json.dumps(spec, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written


def drift(masters=None, notebooks=NOTEBOOKS, checks=CHECKS):
    """Return what differs between the committed learner copies and what the masters give.

    Args:
        masters: master paths (default: every master in masters/).
        notebooks, checks: the folders holding the committed copies and checks.
    Returns:
        A list of one-line descriptions; empty when everything is up to date.
    """
    problems = []
    for master in masters or find_masters():
        nb, spec = learner_copy(master)
        path = pathlib.Path(notebooks) / pathlib.Path(master).name
        checks_path = pathlib.Path(checks) / f"{spec['name']}.json"
        if not path.is_file():
            problems.append(f"{path.name} is missing")
        elif _comparable(nbformat.read(path, as_version=4)) != _comparable(nb):
            problems.append(f"{path.name} differs from its master")
        if not checks_path.is_file() or json.loads(checks_path.read_text()) != spec:
            problems.append(f"{checks_path.name} differs from its master's public tests")
    return problems


def main(argv=None):
    """Write the learner copies, or with --check report drift; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.workbook", description=(
        "Write the learner's exercise notebooks and their checks from the masters."))
    parser.add_argument("--check", action="store_true",
                        help="only report copies that differ from their masters (exit code 1)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = drift()
            for problem in problems:
                print(f"{problem}: run `make workbook` and commit the result")
            return 1 if problems else 0
        for path in write_workbook():
            print(f"wrote {path.relative_to(ROOT)}")
    except WorkbookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
