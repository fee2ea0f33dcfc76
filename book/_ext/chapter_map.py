"""Sphinx directive `chapter-map`: every chapter and what it teaches, for the book's landing page.

The map is read from the chapter notebooks themselves (their title and the list of what the reader
will be able to do), so it stays in step with the chapters without being edited. Used by
book/index.md (`make book`).
"""
import json
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

CHAPTER_GLOB = "notebooks/[0-9][0-9]_*.ipynb"


def chapter_summary(path):
    """Return the title of a chapter notebook and what the reader will be able to do after it.

    Args:
        path: the .ipynb file; its first markdown cell opens with a `# ` title.
    Returns:
        (title, goals): the title text, and the bullet items that follow "... able to" in the
        opening cell, each on one line; without such a list, the paragraph after the title.
    """
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        match = re.search(r"^# +(.+)$", source, flags=re.MULTILINE)
        if match:
            rest = source[match.end():].strip()
            goals = _goal_list(rest)
            if not goals and rest and not rest.startswith("#"):
                goals = [" ".join(rest.split("\n\n")[0].split())]
            return match.group(1).strip(), goals
    raise ValueError(f"{path} has no markdown cell with a '# ' title; open the chapter with one.")


def _goal_list(text):
    """The bullet items after the first line that says "able to", joined onto one line each."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "able to" in line), None)
    if start is None:
        return []
    goals = []
    for line in lines[start + 1:]:
        bullet = re.match(r"^[-*] +(.*)$", line)
        if bullet:
            goals.append(bullet.group(1).strip())
        elif goals and line.startswith((" ", "\t")) and line.strip():
            goals[-1] += " " + line.strip()
        elif goals or line.strip():
            break
    return goals


class ChapterMap(SphinxDirective):
    """Render the chapter map: each chapter as a link, with what the reader will be able to do."""

    def run(self):
        root = Path(self.env.srcdir)
        here = Path(self.env.doc2path(self.env.docname)).parent
        lines = []
        for path in sorted(root.glob(CHAPTER_GLOB)):
            if path.stem.endswith("_exercises"):
                continue
            self.env.note_dependency(str(path))
            title, goals = chapter_summary(path)
            link = Path(os.path.relpath(path, here)).as_posix()
            lines.append(f"- **[{title}]({link})**")
            lines += [f"  - {goal}" for goal in goals]
        container = nodes.container(classes=["chapter-map"])
        self.state.nested_parse(StringList(lines, source="chapter-map"), self.content_offset,
                                container)
        return [container]


def setup(app):
    app.add_directive("chapter-map", ChapterMap)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
