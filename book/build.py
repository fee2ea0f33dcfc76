"""Build the course as a static HTML book that reads offline (`make book`; output in _build/html).

Jupyter Book 1.x renders every chapter notebook with its committed outputs (nothing is executed).
Math is typeset by MathJax 3, installed once from the npm registry into _build/mathjax/ and copied
into the site as mathjax/, so no page loads a script from another host. That npm install is the
only download; later builds reuse it.

Usage: .venv/bin/python book/build.py [--output DIR]
    DIR gets DIR/_build/html/index.html (default: the repository root, i.e. _build/html).
"""
import argparse
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
MATHJAX_VERSION = "3.2.2"
MATHJAX_PREFIX = ROOT / "_build" / "mathjax"
MATHJAX_ES5 = MATHJAX_PREFIX / "node_modules" / "mathjax" / "es5"
# Must match mathjax_path in book/_config.yml (../mathjax/tex-mml-chtml.js, resolved from _static/).
MATHJAX_ENTRY = "tex-mml-chtml.js"


class BookBuildError(RuntimeError):
    """The book could not be built; the message says which step failed and how to fix it."""


def ensure_mathjax():
    """Install MathJax 3 from the npm registry into _build/mathjax once; return its es5 folder.

    Returns:
        Path of the folder that holds tex-mml-chtml.js and the fonts and components it loads.
    """
    if (MATHJAX_ES5 / MATHJAX_ENTRY).is_file():
        return MATHJAX_ES5
    npm = shutil.which("npm")
    if npm is None:
        raise BookBuildError(
            "npm is not installed, and the book needs MathJax from the npm registry once. Install "
            "Node.js with npm (e.g. `apt-get install npm`), or put MathJax 3's es5 folder at "
            f"{MATHJAX_ES5}.")
    MATHJAX_PREFIX.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(MATHJAX_PREFIX), "--no-save", "--no-audit",
               "--no-fund", "--loglevel=error", f"mathjax@{MATHJAX_VERSION}"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not (MATHJAX_ES5 / MATHJAX_ENTRY).is_file():
        raise BookBuildError(f"`{' '.join(command)}` failed (is the npm registry reachable?):\n"
                             f"{result.stdout}{result.stderr}")
    return MATHJAX_ES5


def build(output=ROOT):
    """Build the book under `output`/_build/html and return the path of its index.html.

    Args:
        output: folder that receives _build/ (the repository root by default).
    Returns:
        Path of the site's index.html (a redirect to the landing page).
    """
    output = pathlib.Path(output).resolve()
    html = output / "_build" / "html"
    # Copied before Sphinx writes the pages, so each page's MathJax link carries a checksum.
    shutil.copytree(ensure_mathjax(), html / "mathjax", dirs_exist_ok=True)
    jupyter_book = pathlib.Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(ROOT), "--path-output", str(output),
               "--config", str(BOOK / "_config.yml"), "--toc", str(BOOK / "_toc.yml"),
               "--builder", "html"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0 or not (html / "index.html").is_file():
        raise BookBuildError(f"Jupyter Book failed:\n{result.stdout}\n{result.stderr}")
    warnings = [line for line in (result.stdout + result.stderr).splitlines() if "WARNING" in line]
    for line in warnings:
        print(line, file=sys.stderr)
    return html / "index.html"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT),
                        help="folder that receives _build/html (default: the repository root)")
    args = parser.parse_args()
    try:
        index = build(args.output)
    except BookBuildError as error:
        sys.exit(f"make book: {error}")
    print(f"The book is at {index}; open it in a browser (it works offline).")
