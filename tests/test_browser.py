"""Learners study in JupyterLab: run every chapter there, through the UI, in a real browser.

One JupyterLab server for the module (isolated config, data, runtime and workspace folders, a
token, announcements off) serves copies of the chapter notebooks, so the committed ones are never
touched. For each chapter, and for one learner's exercise notebook, Debian's Chromium (driven by Playwright) opens the notebook, runs all
cells from the Run menu, and waits for every cell to finish and the kernel to show "Idle". Then:
no cell shows an error (except cells tagged `raises-exception`, which show one on purpose), every
code cell ran once in order, and a known output of the chapter is visible: the first line of the
last printed output that does not change between runs (the lines tests/sanitize.cfg rewrites, such
as timings, are skipped), as committed in the notebook; for the exercise notebook that is the
last check's feedback line. A screenshot per chapter goes to
screenshots/ (git-ignored). Where Chromium is missing, the chapter tests skip and say how to
install it.
"""
import configparser
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = pathlib.Path("/usr/bin/chromium")
# Flags that make Chromium run headless in a container and stay off the network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CHAPTERS = sorted(path for path in ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")
                  if not path.stem.endswith("_exercises"))
# A learner's exercise notebook, opened as it is after `make lab`: blank answers, working checks.
EXERCISE = ROOT / "notebooks" / "01_derivatives_exercises.ipynb"
SCREENSHOTS = ROOT / "screenshots"
SERVER_START_TIMEOUT_S = 120
NOTEBOOK_OPEN_TIMEOUT_S = 120
# A new kernel is idle within seconds; one that is not after this long is reloaded.
KERNEL_IDLE_TIMEOUT_S = 60
KERNEL_ATTEMPTS = 3
# A chapter runs in about 60 s on 2 free cores; the test shares them with the rest of the suite.
RUN_ALL_TIMEOUT_S = 360
# JupyterLab shows "Python 3 (ipykernel) | Idle" in the status bar item that switches the kernel.
KERNEL_STATUS = '.jp-StatusBar-TextItem[title^="Change kernel"]'
# An error output in JupyterLab is rendered as stderr text holding the traceback.
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception)\b", re.M)


# ---- what a chapter must show --------------------------------------------------------------

def _volatile_patterns():
    """The regular expressions tests/sanitize.cfg uses for outputs that change between runs."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tests" / "sanitize.cfg", encoding="utf-8")
    return [re.compile(config[section]["regex"]) for section in config.sections()]


def known_output(notebook):
    """Return the first line of the last stable plain-text output of a notebook, as committed.

    Args:
        notebook: the notebook as a dict (nbformat 4 JSON).
    Returns:
        A line of text a fresh run must show again (not a timing, ratio, version, address or
        progress bar), or None when the notebook prints nothing stable.
    """
    volatile = _volatile_patterns()
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for cell in reversed(code_cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text = "".join(output["text"])
            elif output.get("output_type") in ("execute_result", "display_data") \
                    and set(output.get("data", {})) == {"text/plain"}:
                text = "".join(output["data"]["text/plain"])
            else:
                continue
            line = next((line.strip() for line in text.splitlines() if line.strip()), "")
            if line and "\x1b" not in line and not any(p.search(line) for p in volatile):
                return line
    return None


# ---- one JupyterLab server for the module --------------------------------------------------

def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A running JupyterLab server: its URL, token and the folder of notebook copies it serves."""

    def __init__(self, folder):
        self.folder = folder
        self.notebooks = folder / "course" / "notebooks"
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.log = None

    def api(self, method, path):
        """Call the server's REST API; return the decoded JSON reply (None when empty)."""
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def start(self):
        # Copies of the chapters, beside a link to the data, as in the course folder.
        shutil.copytree(ROOT / "notebooks", self.notebooks,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        if (ROOT / "datasets").is_dir():
            (self.folder / "course" / "datasets").symlink_to(ROOT / "datasets")
        config = self.folder / "config"
        (config / "labconfig").mkdir(parents=True)
        # The announcements plugin pops a "news" notification over the notebook; turn it off.
        (config / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
        env = dict(os.environ,
                   JUPYTER_CONFIG_DIR=str(config),
                   JUPYTER_DATA_DIR=str(self.folder / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.folder / "runtime"),
                   # Kernels get the same figure check as the notebook tests.
                   IPYTHONDIR=str(ROOT / "tests" / "ipython"))
        command = [str(pathlib.Path(sys.executable).parent / "jupyter-lab"), "--no-browser",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                   f"--ServerApp.root_dir={self.notebooks}",
                   f"--LabApp.workspaces_dir={self.folder / 'workspaces'}"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.log = open(self.folder / "jupyterlab.log", "w", encoding="utf-8")
        # A session of its own, so the server and its children are stopped by its process group.
        self.process = subprocess.Popen(command, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited at start:\n{self.log_text()}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT_S} s:\n"
                           f"{self.log_text()}")

    def shut_down_kernels(self):
        for session in self.api("GET", "/api/sessions") or []:
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            try:
                self.shut_down_kernels()
            except (urllib.error.URLError, ConnectionError):
                pass
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        if self.log is not None:
            self.log.close()

    def log_text(self):
        self.log.flush()
        return (self.folder / "jupyterlab.log").read_text(encoding="utf-8")[-4000:]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on copies of the notebooks, stopped by its own process group."""
    server = Lab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright's Python package (skips without it)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: the browser test drives Debian's "
                    "Chromium; install it with `apt-get install chromium` (never `playwright "
                    "install`, which downloads another browser)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# ---- the tests -----------------------------------------------------------------------------

def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks (notebooks/NN_name.ipynb) were found"


def test_known_output_skips_volatile_lines():
    notebook = {"cells": [
        {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout",
                                           "text": ["\n", "loss 0.125\n", "step 2\n"]}]},
        {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout",
                                           "text": ["took 12.3 ms\n"]}]},
        {"cell_type": "code", "outputs": [{"output_type": "display_data",
                                           "data": {"image/png": "", "text/plain": ["<Figure>"]}}]},
    ]}
    assert known_output(notebook) == "loss 0.125"
    assert known_output({"cells": [{"cell_type": "markdown", "source": ["# only prose"]}]}) is None


# Runs in the page: done when every code cell has left the queue ("[*]"), the last non-empty code
# cell has an execution count (or a cell stopped the run with an error) and the kernel is idle.
RUN_FINISHED_JS = """([lastIndex, statusSelector]) => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')];
  const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt') || {}).textContent || '');
  const status = (document.querySelector(statusSelector) || {}).textContent || '';
  const lastDone = /\\[\\d+\\]/.test(prompts[lastIndex] || '');
  const stopped = document.querySelector(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]') !== null;
  return cells.length > lastIndex && !prompts.some(p => p.includes('*'))
         && (lastDone || stopped) && /\\|\\s*Idle\\s*$/.test(status);
}"""


def _menu(page, menu, item):
    """Choose a command from JupyterLab's menu bar, as a learner does (e.g. Run > Run All Cells)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


KERNEL_IDLE_JS = "s => /\\|\\s*Idle\\s*$/.test((document.querySelector(s) || {}).textContent || '')"


def _open_notebook(page, lab, chapter, screenshot):
    """Open a chapter and wait until its kernel is idle, reloading the page if it hangs.

    Now and then the browser's websocket to a new kernel stays "Connecting" (a known JupyterLab
    behaviour on a loaded machine); a learner reloads the page, and so does the test, up to
    KERNEL_ATTEMPTS times. If the kernel never becomes idle, the failure shows what the status
    bar said, a screenshot and the end of the server's log.
    """
    # ?reset: start from an empty workspace, so no earlier notebook reopens beside this one.
    page.goto(f"{lab.url}/lab/tree/{chapter.name}?reset&token={lab.token}")
    for attempt in range(1, KERNEL_ATTEMPTS + 1):
        try:
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            page.wait_for_function(KERNEL_IDLE_JS, arg=KERNEL_STATUS,
                                   timeout=KERNEL_IDLE_TIMEOUT_S * 1000)
            return
        except PlaywrightTimeout:
            if attempt == KERNEL_ATTEMPTS:
                status = page.locator(KERNEL_STATUS).all_text_contents()
                page.screenshot(path=str(screenshot))
                pytest.fail(f"{chapter.name}: the kernel was not idle after {KERNEL_ATTEMPTS} "
                            f"tries of {KERNEL_IDLE_TIMEOUT_S} s; status bar: {status}; "
                            f"screenshot: {screenshot}; server log:\n{lab.log_text()}")
            page.reload()


@pytest.mark.parametrize("chapter", CHAPTERS + [EXERCISE],
                         ids=[path.stem for path in CHAPTERS + [EXERCISE]])
def test_chapter_runs_in_jupyterlab(browser, lab, chapter):
    committed = json.loads(chapter.read_text(encoding="utf-8"))
    expected = known_output(committed)
    assert expected is not None, (
        f"{chapter.name} prints no stable text output, so the test cannot see that it ran; "
        "print a result (in a fixed format) in at least one code cell")
    code_cells = [cell for cell in committed["cells"] if cell["cell_type"] == "code"]
    ran = [i for i, cell in enumerate(code_cells) if "".join(cell["source"]).strip()]
    allowed_errors = sum("raises-exception" in cell.get("metadata", {}).get("tags", [])
                         for cell in code_cells)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(NOTEBOOK_OPEN_TIMEOUT_S * 1000)
    SCREENSHOTS.mkdir(exist_ok=True)
    screenshot = SCREENSHOTS / f"{chapter.stem}.png"
    try:
        _open_notebook(page, lab, chapter, screenshot)

        # Clear the committed outputs first, so everything checked below comes from this run.
        _menu(page, "Edit", "Clear Outputs of All Cells")
        page.locator(".jp-Notebook .jp-OutputArea-output").first.wait_for(state="detached")
        _menu(page, "Run", "Run All Cells")
        page.wait_for_function(RUN_FINISHED_JS, arg=[ran[-1], KERNEL_STATUS],
                               timeout=RUN_ALL_TIMEOUT_S * 1000, polling=500)

        visible = page.locator(".jp-OutputArea-output", has_text=expected)
        if visible.count():
            visible.first.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot))

        # textContent, not innerText: cells scrolled out of view are not rendered (JupyterLab's
        # content-visibility windowing) and would read as empty.
        stderr = page.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        errors = [text for text in stderr.all_text_contents() if ERROR_TEXT.search(text)]
        assert len(errors) <= allowed_errors, (
            f"{chapter.name} shows an error in JupyterLab (screenshot: {screenshot}):\n"
            + "\n".join(text[-1500:] for text in errors))
        assert visible.count() >= 1 and visible.first.is_visible(), (
            f"{chapter.name}: the output line {expected!r} is not visible after Run All "
            f"(screenshot: {screenshot})")
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()
        counts = [int(m.group(1)) for m in (re.search(r"\[(\d+)\]", p) for p in prompts) if m]
        assert counts == list(range(1, len(ran) + 1)), (
            f"{chapter.name}: code cells did not run once each, in order; prompts: {prompts}")
    finally:
        page.close()
        lab.shut_down_kernels()
