"""The course as an offline HTML book (`make book`): every chapter in it, nothing from the web.

Builds the book once into a temporary folder with book/build.py (the script behind `make book`) and
checks the pages themselves: each chapter page exists with its committed outputs, the landing page
maps every chapter, no page references a script or stylesheet on another host, and, where Debian's
Chromium is installed, every page opens from disk in a real browser without a single request
leaving the machine and with its formulas typeset by the bundled MathJax.
"""
import html
import importlib.util
import json
import re
import shutil

import pytest

from test_browser import CHAPTERS, CHROMIUM, CHROMIUM_ARGS, ROOT

EXERCISES = sorted(ROOT.glob("masters/[0-9][0-9]_*_exercises.ipynb"))
REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", re.IGNORECASE)
REMOTE_STYLESHEET = re.compile(
    r"<link\b(?=[^>]*\brel\s*=\s*[\"']?(stylesheet|preload|modulepreload))"
    r"[^>]*\bhref\s*=\s*[\"']?\s*(https?:)?//", re.IGNORECASE)
LOCAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*\"([^\"]+)\"", re.IGNORECASE)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _load_build_module():
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the book into a temporary folder; return the folder that holds index.html."""
    build = _load_build_module()
    if not (build.MATHJAX_ES5 / build.MATHJAX_ENTRY).is_file() and shutil.which("npm") is None:
        pytest.skip("the book needs MathJax from the npm registry once and npm is not installed; "
                    "install Node.js with npm (apt-get install npm) to build and test the book")
    output = tmp_path_factory.mktemp("book")
    return build.build(output).parent


def _pages(site):
    """Every HTML page of the book (not the files inside the bundled MathJax or theme assets)."""
    return [page for page in site.rglob("*.html")
            if page.relative_to(site).parts[0] not in ("mathjax", "_static")]


def _page_text(page):
    """The visible text of a page, tags removed, entities decoded, whitespace collapsed."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _notebook(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _title(notebook):
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^# +(.+)$", "".join(cell["source"]), flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    raise AssertionError("the chapter has no markdown cell with a '# ' title")


def _printed_first_lines(notebook):
    """The first non-empty line of each printed (stdout) output, as committed in the notebook."""
    lines = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text = ANSI_ESCAPE.sub("", "".join(output["text"]))
                first = next((line for line in text.splitlines() if line.strip()), None)
                if first:
                    lines.append(" ".join(first.split()))
    return lines


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks (notebooks/NN_name.ipynb) were found"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_chapter_page_exists_with_its_outputs(site, chapter):
    page = site / "notebooks" / f"{chapter.stem}.html"
    assert page.is_file(), f"the book has no page for {chapter.name} (expected {page})"
    notebook = _notebook(chapter)
    text = _page_text(page)
    title = _title(notebook)
    assert " ".join(title.split()) in text, f"{page.name} does not show the chapter title {title!r}"
    missing = [line for line in _printed_first_lines(notebook) if line not in text]
    assert not missing, f"{page.name} lacks committed outputs of {chapter.name}: {missing[:3]}"


def test_exercise_masters_are_not_published(site):
    published = [path.name for path in EXERCISES for folder in ("masters", "notebooks")
                 if (site / folder / f"{path.stem}.html").exists()]
    assert not published, f"exercise masters with solutions are in the book: {published}"


def test_landing_page_maps_every_chapter(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "book/index.html" in index, "index.html does not lead to the landing page"
    landing = (site / "book" / "index.html").read_text(encoding="utf-8")
    assert "Chapter map" in landing, "the landing page has no chapter map"
    for chapter in CHAPTERS:
        link = f'href="../notebooks/{chapter.stem}.html"'
        assert link in landing, f"the landing page's chapter map does not link to {chapter.stem}"


def test_no_page_references_a_remote_script_or_stylesheet(site):
    pages = _pages(site)
    assert len(pages) >= len(CHAPTERS) + 1, f"only {len(pages)} HTML pages were built"
    remote = [page.relative_to(site).as_posix() for page in pages
              if REMOTE_SCRIPT.search(page.read_text(encoding="utf-8"))
              or REMOTE_STYLESHEET.search(page.read_text(encoding="utf-8"))]
    assert not remote, f"pages that would load code or styles from another host: {remote}"


def test_every_local_script_exists_and_math_uses_the_bundled_mathjax(site):
    broken, mathjax_pages = [], []
    for page in _pages(site):
        for src in LOCAL_SCRIPT.findall(page.read_text(encoding="utf-8")):
            target = (page.parent / src.split("?")[0]).resolve()
            if not target.is_file():
                broken.append(f"{page.relative_to(site)} -> {src}")
            if target == (site / "mathjax" / "tex-mml-chtml.js").resolve():
                mathjax_pages.append(page)
    assert not broken, f"script tags that point at missing files: {broken[:5]}"
    assert mathjax_pages, "no page loads MathJax from the site's own mathjax/ folder"


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (skips where Chromium is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}; install Debian's package "
                    "(apt-get install chromium) to open the book in a real browser")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_pages_open_offline_in_chromium_with_math_typeset(site, browser):
    pages = [site / "book" / "index.html"]
    pages += [site / "notebooks" / f"{chapter.stem}.html" for chapter in CHAPTERS]
    for page_file in pages:
        page = browser.new_page()
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_file.as_uri(), wait_until="load")
        if 'class="math' in page_file.read_text(encoding="utf-8"):
            page.wait_for_selector("mjx-container", state="attached", timeout=30_000)
            # MathJax loads its fonts and components after the page: wait for all of it.
            page.evaluate("() => MathJax.startup.promise.then(() => document.fonts.ready)"
                          ".then(() => true)")
        page.close()
        remote = [url for url in requests if not url.startswith(("file:", "data:", "blob:"))]
        assert not remote, f"{page_file.name} requested from the network: {remote[:5]}"
