"""`make lab` starts JupyterLab on notebooks/: start it headless, see /api/status answer, stop it."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from test_notebooks import ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_serves_the_notebooks(tmp_path):
    port, token = free_port(), "course-lab-test"
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token} "
            "--LabApp.news_url=None --LabApp.check_for_updates_class="
            "jupyterlab.NeverCheckForUpdate")
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
                                cwd=ROOT, env=env, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        status, deadline = None, time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/status?token={token}"
                with urllib.request.urlopen(url, timeout=2) as response:
                    status = json.load(response)
                break
            except OSError:
                time.sleep(0.5)
        assert status is not None, (
            f"JupyterLab did not answer /api/status within 90 s: {log.read_text()[-2000:]}")
        assert "started" in status
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        with urllib.request.urlopen(url, timeout=5) as response:
            names = {item["name"] for item in json.load(response)["content"]}
        assert "00_welcome.ipynb" in names, "make lab must serve the notebooks/ folder"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode not in (0, -signal.SIGTERM, 2):
        pytest.fail(f"make lab exited with {proc.returncode}: {log.read_text()[-2000:]}")
