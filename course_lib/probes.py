"""Probes for the exercises' tests: run an answer with library functions unavailable or watched.

A question that says "without `jacfwd`" or "no `grad`" is checked by running the answer while
those functions refuse to run; a question about memory is checked by watching the calls an answer
makes. Both replace a function everywhere an answer can reach it, in the answer's own globals and
in the modules of course_lib and autograd, and put everything back when the `with` block ends.
"""
import contextlib
import sys

REACHABLE = ("course_lib", "autograd")


class NotAvailable(RuntimeError):
    """An answer called a function its question rules out."""


def _holders(answer):
    """The namespaces an answer looks functions up in: its globals and the reachable modules."""
    found = {id(answer.__globals__): answer.__globals__}
    for name, module in list(sys.modules.items()):
        if module is not None and name.split(".")[0] in REACHABLE:
            found.setdefault(id(vars(module)), vars(module))
    return list(found.values())


@contextlib.contextmanager
def replaced(answer, substitutes):
    """Replace functions wherever an answer can reach them, for the length of a `with` block.

    Args:
        answer: the learner's function (its module globals are searched, with course_lib's and
            autograd's modules).
        substitutes: {original function: the function to call instead}.
    """
    by_id = {id(original): (original, new) for original, new in substitutes.items()}
    saved = []
    try:
        for holder in _holders(answer):
            for key, value in list(holder.items()):
                original, new = by_id.get(id(value), (None, None))
                if original is not None and value is original:
                    saved.append((holder, key, value))
                    holder[key] = new
        yield
    finally:
        for holder, key, value in reversed(saved):
            holder[key] = value


def unavailable(answer, *functions, reason="this question asks you to build it yourself"):
    """Make functions refuse to run while an answer runs, with a message naming them.

    Args:
        answer: the learner's function.
        *functions: the library functions the question rules out (e.g. course_lib.jacfwd).
        reason: the end of the message a refused call raises.
    Returns:
        A context manager; inside it a call to any of `functions` raises NotAvailable.
    """
    def refusal(function):
        name = getattr(function, "__name__", "this function")

        def refuse(*args, **kwargs):
            raise NotAvailable(f"{name} is not available here: {reason}")
        return refuse
    return replaced(answer, {f: refusal(f) for f in functions})
