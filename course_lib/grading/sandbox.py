"""The sandbox a submission runs in (bubblewrap), its limits, and the grader's end of the channel.

Inside: no network; the Python installation, `.venv`, `course_lib/` and `datasets/` read-only; a
private writable `/tmp` (a small tmpfs) as home and working folder; nothing else of the course
folder (no masters, no bundle of tests, no other submission, no gradebook); its own process, IPC
and host namespaces; every process of it killed when the submission ends. Limits: address space,
file size and CPU time (set by the worker on itself), wall time per request and per notebook, and
a process count watched from outside.
"""
import os
import pathlib
import selectors
import shutil
import subprocess
import sys
import time

import psutil

from course_lib.grading import wire

ROOT = pathlib.Path(__file__).resolve().parents[2]
VISIBLE = ("course_lib", "datasets")  # the only parts of the course folder a submission sees
SYSTEM = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc")
MAX_PROCESSES = 64
MEMORY = 4 * 2 ** 30  # bytes of address space
FILE_SIZE = 100 * 2 ** 20  # bytes per file written
TMP_SIZE = 256 * 2 ** 20  # bytes of the private /tmp
INSTALL_HINT = ("bubblewrap is not installed; install it with `sudo apt-get install bubblewrap` "
                "(Debian/Ubuntu; `dnf install bubblewrap` on Fedora), or grade without a sandbox "
                "with UNSAFE=1 (student code then runs as you, and every row of the gradebook "
                "says so)")


class SandboxError(RuntimeError):
    """The sandbox could not be started, broke its limits, or its end of the channel failed."""


class TimedOut(SandboxError):
    """A request ran past its time limit; the sandbox has been stopped."""


class Died(SandboxError):
    """The sandbox's process ended (a crash, `os._exit`, or a limit)."""


def bubblewrap():
    """Return the path of `bwrap`, or None when bubblewrap is not installed."""
    return shutil.which("bwrap")


def _read_only_paths():
    """The folders a submission may read: the system, Python, its venv, the course's library."""
    paths = [p for p in SYSTEM if os.path.isdir(p)]
    for prefix in {sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix),
                   os.path.realpath(sys.prefix)}:
        paths.append(prefix)
    paths += [str(ROOT / name) for name in VISIBLE]
    return list(dict.fromkeys(paths))


def command(cpu_seconds, unsafe=False):
    """Return the command line that starts the worker, inside bubblewrap unless `unsafe`."""
    worker = [sys.executable, "-I", "-m", "course_lib.grading.student_side"] if not unsafe else \
        [sys.executable, "-m", "course_lib.grading.student_side"]
    if unsafe:
        return worker
    bwrap = bubblewrap()
    if not bwrap:
        raise SandboxError(INSTALL_HINT)
    args = [bwrap, "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--disable-userns"]
    # The private /tmp first: a course folder that itself lies under /tmp is bound on top of it.
    args += ["--dev", "/dev", "--proc", "/proc", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    for path in _read_only_paths():
        args += ["--ro-bind", path, path]
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in environment(cpu_seconds).items():
        args += ["--setenv", key, value]
    return args + ["--"] + worker


def environment(cpu_seconds):
    """The worker's environment: a home in /tmp, one BLAS thread, a plotting backend, its limits."""
    return {"HOME": "/tmp", "TMPDIR": "/tmp", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/.matplotlib", "IPYTHONDIR": "/tmp/.ipython",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
            "GRADER_LIMITS": f"{MEMORY} {FILE_SIZE} {int(cpu_seconds)}"}


class Sandbox:
    """One running submission: the worker process and the grader's end of its channel."""

    def __init__(self, cpu_seconds, unsafe=False, start_timeout=60):
        """Start the worker and wait for it to say it is ready.

        Args:
            cpu_seconds: the CPU time limit of the whole submission.
            unsafe: run without bubblewrap (only with UNSAFE=1).
            start_timeout: seconds to wait for the worker to start.
        """
        env = None
        scratch = None
        if unsafe:  # no private /tmp: give it a folder of its own at least
            import tempfile
            scratch = tempfile.mkdtemp(prefix="submission-")
            env = {**os.environ, **environment(cpu_seconds), "HOME": scratch, "TMPDIR": scratch,
                   "MPLCONFIGDIR": f"{scratch}/.matplotlib", "IPYTHONDIR": f"{scratch}/.ipython",
                   "PYTHONPATH": str(ROOT)}
        self.scratch = scratch
        self.process = subprocess.Popen(command(cpu_seconds, unsafe), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env=env, cwd=scratch or "/", start_new_session=True)
        self.buffer = b""
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)
        ready = self.receive(time.monotonic() + start_timeout)
        if ready.get("op") != "ready":
            self.close()
            raise SandboxError("the sandbox did not start")

    def send(self, message):
        """Send one request; Died if the worker has gone."""
        try:
            self.process.stdin.write(wire.dumps(message))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise Died(self.exit_reason()) from exc

    def receive(self, deadline):
        """Return the next message, waiting until `deadline` (time.monotonic()) at most."""
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise TimedOut("stopped at the time limit")
            self.watch()
            if self.selector.select(min(remaining, 0.25)):
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    reason = self.exit_reason()
                    self.close()
                    raise Died(reason)
                self.buffer += chunk
                if len(self.buffer) > wire.MAX_LINE:
                    self.close()
                    raise SandboxError("sent a message larger than the grader reads")
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            return wire.loads(line)
        except wire.WireError as exc:
            self.close()
            raise SandboxError(f"sent something that is not a message ({exc})") from exc

    def watch(self):
        """Stop the sandbox if it runs more processes than allowed."""
        try:
            count = len(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return
        if count > MAX_PROCESSES + 2:  # bubblewrap's own two processes
            self.close()
            raise SandboxError(f"started more than {MAX_PROCESSES} processes")

    def exit_reason(self):
        """Say why the worker ended, from its exit status."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the notebook's Python stopped answering"
        if code < 0 or code >= 128:
            return "the notebook's Python was killed (a crash or a resource limit)"
        return f"the notebook's Python exited (exit code {code})"

    def close(self):
        """Kill the worker and everything it started; remove its scratch folder."""
        try:
            family = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for proc in [*family, self.process]:
            try:
                proc.kill()
            except (psutil.NoSuchProcess, ProcessLookupError):
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
