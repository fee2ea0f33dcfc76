"""Flags for review: answers that touch the grader's or the interpreter's machinery, and copies.

A flag is not a grade: the gradebook's `flags` column lists them for the instructor to read the
cells. The scan reads the student's code without running it.
"""
import ast
import re
from collections import defaultdict

MODULES = {
    "ctypes": "loads C code (ctypes)", "subprocess": "starts programs (subprocess)",
    "socket": "opens network connections (socket)", "multiprocessing": "starts processes",
    "signal": "handles signals (the grader's time limits use them)", "gc": "walks the "
    "interpreter's objects (gc)", "inspect": "inspects frames or source (inspect)", "builtins":
    "edits Python's builtins", "importlib": "imports by hand (importlib)", "threading":
    "starts threads", "pickle": "unpickles data", "marshal": "loads code objects", "dis":
    "reads bytecode", "sys": None, "os": None, "shutil": "moves or deletes files (shutil)",
    "urllib": "fetches URLs", "http": "makes HTTP requests", "requests": "makes HTTP requests",
    "pty": "opens terminals", "resource": "changes resource limits", "faulthandler": None,
    "otter": "drives a grading tool", "pytest": "drives a test runner"}
ATTRIBUTES = {
    "settrace": "traces execution (sys.settrace)", "setprofile": "profiles execution",
    "_getframe": "reads the caller's frames", "modules": "reads or edits sys.modules",
    "meta_path": "installs an import hook", "path_hooks": "installs an import hook",
    "get_objects": "walks every object (gc.get_objects)", "get_referrers": "walks references",
    "f_back": "reads the caller's frames", "f_globals": "reads a frame's globals",
    "f_locals": "reads a frame's locals", "__globals__": "reads a function's globals",
    "__code__": "edits a function's code", "__subclasses__": "walks classes",
    "__builtins__": "edits Python's builtins", "system": "runs shell commands", "popen":
    "runs shell commands", "fork": "starts processes", "kill": "sends signals", "_exit":
    "exits the interpreter", "dup2": "rewires file descriptors", "write": None,
    "execv": "replaces the process", "execve": "replaces the process", "setrlimit":
    "changes resource limits", "setitimer": "changes the grader's timer", "alarm":
    "changes the grader's timer"}
CALLS = {"exec": "runs code from a string (exec)", "eval": "runs code from a string (eval)",
         "compile": "compiles code", "open": "opens a file", "__import__": "imports by hand",
         "setattr": None, "globals": "edits the notebook's globals()", "breakpoint": None}
OS_FILE_CALLS = {"open", "write", "read", "fdopen", "dup", "dup2", "listdir", "scandir", "walk",
                 "remove", "unlink", "rename", "replace"}
SHOWN = 3  # classmates named in a copy flag
MAGIC = re.compile(r"^\s*%%?(sx|sh|bash|script|writefile|run|load|env|cd|pip)\b", re.M)


def flags_of(cells, imported_by_course=("numpy", "autograd", "course_lib", "scipy")):
    """Return the reasons to look at a submission's code, one short phrase each, sorted.

    Args:
        cells: the source of each of the student's code cells.
        imported_by_course: modules whose attributes an answer may read but should not assign.
    Returns:
        A sorted list of distinct phrases, e.g. ["reads the caller's frames (cell 3)"].
    """
    found = set()
    for number, source in cells:
        where = f" (cell {number})"
        if MAGIC.search(source):
            found.add("runs shell or file magics" + where)
        try:
            from IPython.core.inputtransformer2 import TransformerManager
            tree = ast.parse(TransformerManager().transform_cell(source))
        except SyntaxError:
            continue
        modules = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names]
                for name in names:
                    top = name.split(".")[0]
                    if MODULES.get(top):
                        found.add(MODULES[top] + where)
                for alias in node.names:
                    modules[alias.asname or alias.name.split(".")[0]] = names[0].split(".")[0] \
                        if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
            elif isinstance(node, ast.Attribute):
                reason = ATTRIBUTES.get(node.attr)
                base = node.value.id if isinstance(node.value, ast.Name) else ""
                if node.attr in OS_FILE_CALLS and modules.get(base) == "os":
                    found.add("reads or writes files through os" + where)
                elif reason:
                    found.add(reason + where)
                if isinstance(node.ctx, (ast.Store, ast.Del)) and \
                        modules.get(base, base) in (*imported_by_course, "sys", "os", "builtins"):
                    found.add(f"assigns to an attribute of module `{base}`" + where)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                reason = CALLS.get(node.func.id)
                if reason:
                    found.add(reason + where)
                if node.func.id == "setattr" and node.args and isinstance(node.args[0], ast.Name) \
                        and node.args[0].id in modules:
                    found.add(f"assigns to an attribute of module `{node.args[0].id}`" + where)
            elif isinstance(node, ast.Name) and node.id == "__builtins__":
                found.add("edits Python's builtins" + where)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("read_text", "read_bytes", "write_text", "write_bytes",
                                       "load", "loadtxt", "genfromtxt", "fromfile", "read_csv"):
                found.add("reads or writes files" + where)
    return sorted(found)


def normalized(source):
    """Return a cell's code without comments, blank lines or layout (for finding copies)."""
    try:
        return ast.dump(ast.parse(source))
    except SyntaxError:
        return " ".join(source.split())


def copies(answers, blanks):
    """Find answers that are identical between submissions.

    Args:
        answers: {student: {question: answer source}}.
        blanks: {question: the handed-out blank's source} (an unanswered question is no copy).
    Returns:
        {student: ["q3 answer identical to bob, carol and 4 more", ...]}.
    """
    groups = defaultdict(list)
    for student, by_question in answers.items():
        for question, source in by_question.items():
            key = normalized(source)
            if key != normalized(blanks.get(question, "")):
                groups[(question, key)].append(student)
    found = defaultdict(list)
    for (question, _), students in groups.items():
        if len(students) > 1:
            for student in students:
                others = [s for s in students if s != student]
                named = ", ".join(others[:SHOWN])
                more = f" and {len(others) - SHOWN} more" if len(others) > SHOWN else ""
                found[student].append(f"{question} answer identical to {named}{more}")
    return dict(found)
