"""Reading an exercise master independently of the tools: its solutions, tests and points.

Shared by tests/test_workbook.py; nothing here imports course_lib.
"""
import ast
import json
import pathlib
import re

import nbformat

MESSAGE = "message: "  # marks a needle that is a hidden test's string, searched anywhere


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


