"""What runs inside a submission's sandbox: the student's cells, then the tests' statements.

    python -m course_lib.grading.student_side      # started by sandbox.py, never by hand

The grader sends requests as JSON lines on stdin and reads replies on stdout (course_lib/grading/
wire.py); the student's own prints go nowhere. Requests: run one of the student's cells, run the
master's set-up code into the tests' own namespace, or run one test. A test arrives with every
`assert` replaced by a call that sends the values the assertion reads to the grader and waits for
its verdict: the assertion itself is evaluated outside this process (course_lib/grading/
verdicts.py). While it waits, the grader may call the submission's functions on data.
"""
import builtins
import os
import resource
import signal
import sys

from course_lib.grading import wire

ASSERT_HOOK = "__grader_assert__"
MESSAGE_CHARS = 300


class CellTimeout(BaseException):
    """A cell or a test ran past its time limit (a BaseException, so `except Exception` misses it)."""


class Worker:
    """The sandbox's end of the channel: the student's namespace, the tests' tools, the handles."""

    def __init__(self, inbox, outbox):
        from IPython.core.interactiveshell import InteractiveShell

        self.inbox, self.outbox = inbox, outbox
        self.shell = InteractiveShell.instance(colors="NoColor")
        self.shell.showtraceback = lambda *args, **kwargs: None  # errors are reported as data
        self.tools = {}
        self.handles = []
        self.asserts = {}

    # ---- the channel ----

    def send(self, message):
        self.outbox.write(wire.dumps(message))
        self.outbox.flush()

    def receive(self):
        line = self.inbox.readline(wire.MAX_LINE + 1)
        if not line:
            raise SystemExit(0)  # the grader has gone: nothing more to do
        return wire.loads(line)

    # ---- requests ----

    def serve(self):
        """Answer requests until the grader closes the channel."""
        self.send({"op": "ready"})
        while True:
            request = self.receive()
            op = request.get("op")
            if op == "cell":
                self.send(self.run_cell(request["source"], request["timeout"]))
            elif op == "tools":
                self.send(self.run_code(request["source"], self.tools, request["timeout"]))
            elif op == "test":
                self.send(self.run_test(request))
            elif op == "answers":
                self.send(self.answers(request["names"]))
            else:
                self.send({"op": "done", "error": ["ValueError", f"unknown request {op!r}"]})

    def run_cell(self, source, timeout):
        """Run one of the student's cells as Jupyter would (magics included)."""
        with time_limit(timeout):
            try:
                result = self.shell.run_cell(source, store_history=False)
                error = result.error_before_exec or result.error_in_exec
            except CellTimeout as exc:
                error = exc
        return {"op": "done", **describe(error)}

    def run_code(self, source, namespace, timeout, filename="<set-up>"):
        """Run code into a namespace under a time limit (the master's set-up code, a test)."""
        with time_limit(timeout):
            try:
                exec(compile(source, filename, "exec"), namespace)
                error = None
            except BaseException as exc:  # noqa: B036 - reported to the grader as data
                error = exc
        return {"op": "done", **describe(error)}

    def run_test(self, request):
        """Run one test's statements; each assertion is sent to the grader for its verdict."""
        self.handles = []
        self.asserts = {int(k): v for k, v in request["asserts"].items()}
        scope = {k: v for k, v in self.shell.user_ns.items() if not k.startswith("_i")}
        scope.update(self.tools)
        scope[ASSERT_HOOK] = self.assertion
        return self.run_code(request["source"], scope, request["timeout"], "<test>")

    def answers(self, names):
        """Say which of a question's answer names are missing or still hold a `...`."""
        from course_lib.feedback import is_blank

        user = self.shell.user_ns
        return {"op": "done", "missing": [n for n in names if n not in user],
                "blank": [n for n in names if n in user and is_blank(user[n])]}

    # ---- inside a test ----

    def assertion(self, number):
        """Send the values an assertion reads; serve the grader's calls until its verdict."""
        frame = sys._getframe(1)
        values = {}
        for name in self.asserts.get(number, []):
            for space in (frame.f_locals, frame.f_globals):
                if name in space:
                    values[name] = wire.encode(space[name], name, self.handles)
                    break
        self.send({"op": "assert", "id": number, "names": values})
        while True:
            request = self.receive()
            if request.get("op") == "verdict":
                if not request.get("ok"):
                    raise AssertionError(request.get("message") or "")
                return
            if request.get("op") == "call":
                self.send(self.call(request))
            else:
                raise wire.WireError(f"unexpected request {request.get('op')!r} in a test")

    def call(self, request):
        """Call a handle of this test on data; reply with the result or the error's type."""
        try:
            function = self.handles[int(request["handle"])]
            args = [self.resolve(wire.decode(a)) for a in request.get("args", [])]
            kwargs = {k: self.resolve(wire.decode(v)) for k, v in request.get("kwargs", {}).items()}
            value = function(*args, **kwargs)
        except CellTimeout:
            raise
        except BaseException as exc:  # noqa: B036 - the student's function may raise anything
            return {"op": "result", **describe(exc)}
        return {"op": "result", "value": wire.encode(value, "result", self.handles)}

    def resolve(self, value):
        """Turn handles and references from the grader into this side's objects."""
        return wire.map_leaves(value, self._resolve_leaf)

    def _resolve_leaf(self, value):
        if isinstance(value, wire.Handle):
            return self.handles[value.number]
        if isinstance(value, wire.Reference):
            return self.find(value.name)
        return value


    def find(self, name):
        """Return the object a reference names: a set-up name, or "module:qualified.name"."""
        if ":" not in name:
            return self.tools[name]
        import importlib

        module, _, path = name.partition(":")
        value = importlib.import_module(module)
        for part in path.split("."):
            value = getattr(value, part)
        return value


def describe(error):
    """Return {"error": [type name, message]} for an exception, or {} for none."""
    if error is None:
        return {}
    return {"error": [type(error).__name__, str(error)[:MESSAGE_CHARS]]}


class time_limit:
    """Raise CellTimeout in this thread when a block runs longer than `seconds`."""

    def __init__(self, seconds):
        self.seconds = float(seconds)

    def __enter__(self):
        def expire(signum, frame):
            raise CellTimeout(f"stopped after the time limit of {self.seconds:g} s")
        self.previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


def limit_resources(memory_bytes, file_bytes, cpu_seconds):
    """Cap this process's address space, the size of files it writes and its CPU time."""
    for kind, value in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_FSIZE, file_bytes),
                        (resource.RLIMIT_CPU, cpu_seconds)):
        resource.setrlimit(kind, (int(value), int(value)))


def main():
    """Take the channel off stdin/stdout, silence the student's output, apply limits, serve."""
    inbox = os.fdopen(os.dup(0), "rb")
    outbox = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    limits = [float(v) for v in os.environ.get("GRADER_LIMITS", "4e9 1e8 600").split()]
    limit_resources(*limits)
    builtins.input = lambda *args: ""  # a cell waiting for keyboard input gets an empty line
    Worker(inbox, outbox).serve()


if __name__ == "__main__":
    main()
