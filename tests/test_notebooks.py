"""Notebook hygiene: every notebook is committed executed, small, on the python3 kernel, and every
figure drawn while the notebooks run is labelled (checked in the kernel by the startup hook)."""
import json
import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "masters").glob("*.ipynb"))
MAX_BYTES = 1_500_000


def test_there_are_notebooks():
    assert any(p.name == "00_welcome.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_executed_in_order(path):
    nb = json.loads(path.read_text())
    counts = [c.get("execution_count") for c in nb["cells"]
              if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name} is not executed top to bottom in one run (execution counts {counts}); "
        "re-run it with `.venv/bin/python tests/execute_notebooks.py` and commit it")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_unexpected_errors(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        expected = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        assert expected or not errors, (
            f"{path.name}, cell {i}: committed with an error output ({errors[0].get('ename')}); "
            "fix the cell, or tag it `raises-exception` if the error is the lesson")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_and_size(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", (
        f"{path.name} must use the python3 kernelspec")
    assert path.stat().st_size < MAX_BYTES, (
        f"{path.name} is {path.stat().st_size / 1e6:.2f} MB; keep notebooks under 1.5 MB "
        "(fewer or smaller figures)")


def _run(cells):
    """Execute code cells in a kernel started the way nbval starts them (IPYTHONDIR from conftest)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def test_figure_check_rejects_unlabelled_axes():
    """The kernel hook fails a cell that leaves a plot without labels, title or legend."""
    assert os.environ["IPYTHONDIR"].endswith(os.path.join("tests", "ipython"))
    with pytest.raises(CellExecutionError) as info:
        _run(["import matplotlib.pyplot as plt\nplt.plot([0, 1], [0, 1], label='a')\n"
              "plt.plot([0, 1], [1, 0], label='b')"])
    message = str(info.value)
    for missing in ["no x label", "no y label", "no title", "2 labelled lines but no legend"]:
        assert missing in message


def test_figure_check_accepts_a_labelled_plot():
    nb = _run(["import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
               "ax.plot([0, 1], [0, 1], label='a')\nax.plot([0, 1], [1, 0], label='b')\n"
               "ax.set(xlabel='time (s)', ylabel='height (m)', title='two lines')\nax.legend()\n"
               "plt.show()"])
    assert not [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in nb.cells[0].outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_machine_dependent_values_are_asserted_and_explained(path):
    """A value printed with a dagger varies by CPU: its cell asserts a bound, its chapter explains."""
    nb = json.loads(path.read_text())
    marked = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        text = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                       for o in cell.get("outputs", []))
        if "\u2020" in text:
            marked.append(i)
            assert "assert " in "".join(cell["source"]), (
                f"{path.name}, cell {i} prints a machine-dependent value (marked with a dagger) "
                "but asserts nothing: assert the bound that holds on every machine")
    prose = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert not marked or "marked \u2020" in prose, (
        f"{path.name} prints daggers (cells {marked}) but never says what 'marked \u2020' means")


def test_sanitizer_hides_only_values_marked_as_machine_dependent():
    """nbval's own parser reads tests/sanitize.cfg; marked values vanish, columns stay aligned."""
    import re

    from nbval.plugin import get_sanitize_patterns
    patterns = get_sanitize_patterns((ROOT / "tests" / "sanitize.cfg").read_text())

    def sanitize(s):
        for regex, replace in patterns:
            s = re.sub(regex, replace, s)
        return s

    here = "bfgs |      355\u2020  471\u2020 | 0.527021 | converged in 154\u2020 steps (at most 300)"
    there = "bfgs |     1002\u2020  46\u2020 | 0.527021 | converged in 98\u2020 steps (at most 300)"
    assert sanitize(here) == sanitize(there)
    assert "0.527021" in sanitize(here) and "steps (at most 300)" in sanitize(here)
    for marked in ["0.05%\u2020", "-22.1\u2020", "9.4e-04\u2020", "1,234\u2020", "3e-15\u2020"]:
        assert sanitize(f"miss {marked} m") == "missVARIES m", marked
    assert sanitize("miss 0.05% of the target") == "miss 0.05% of the target"
