"""Data that crosses between a sandboxed submission and the grader: JSON lines, arrays as `.npy`.

Only data crosses: None, bools, numbers, strings, numpy arrays and scalars (as `.npy` bytes read
back with `allow_pickle=False`), numpy dtypes, and lists, tuples and string-keyed dicts of these
(a dict subclass such as scipy's OptimizeResult arrives as a dict whose keys read as attributes).
A function on the sandbox's side crosses as a numbered handle the grader can call; an object both
sides have (a library function such as `np.sin`, a name of the master's set-up code) crosses as
its name; anything else crosses as the name of its type, which the grader cannot use. Nothing is ever unpickled.
"""
import base64
import io
import json
import math

import numpy as np

MAX_LINE = 64 * 2 ** 20  # bytes in one message; a larger one is refused, not read
MAX_DEPTH = 20


class WireError(ValueError):
    """A message is not well-formed data; the grader treats the submission's side as failed."""


class Handle:
    """A function that lives on the other side, by number (the sandbox keeps the object)."""

    def __init__(self, number, label):
        self.number, self.label = number, label

    def __repr__(self):
        return f"<function {self.label} of the submission>"


class Record(dict):
    """A dict whose keys read as attributes too: how a result object (OptimizeResult) crosses."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Reference:
    """An object both sides have: a name of the master's set-up code, or "module:name"."""

    def __init__(self, name):
        self.name = name


class Unreadable:
    """A value the grader cannot read (it was neither data nor a function); every use fails."""

    def __init__(self, label, kind):
        self._label, self._kind = label, kind

    def _refuse(self, *args, **kwargs):
        raise TypeError(f"`{self._label}` is a {self._kind}, which the grader cannot read: the "
                        "tests read numbers, arrays, strings and lists or dicts of them")

    __getattr__ = __call__ = __bool__ = __len__ = __iter__ = __float__ = __int__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __getitem__ = __array__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _refuse
    __rtruediv__ = __neg__ = __abs__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _refuse
    __hash__ = None

    def __repr__(self):
        return f"<unreadable {self._kind} {self._label}>"


def encode(value, label="value", handles=None, depth=0, references=None):
    """Return a JSON-ready form of a value.

    Args:
        value: the value to send.
        label: how to name it if it cannot be read (e.g. the variable's name).
        handles: a list to append functions to (their index is their handle), or None to refuse
            functions.
        references: a function giving the name by which the other side finds the same object
            itself (a set-up name, or "module:qualified.name"), or None for objects it has not.
    Returns:
        A JSON-serialisable object; see the module docstring for what crosses.
    """
    if depth > MAX_DEPTH:
        return {"unreadable": label, "kind": "too deeply nested value"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, np.void) \
            and value.dtype != object:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(value), allow_pickle=False)
        return {"npy": base64.b64encode(buffer.getvalue()).decode(), "scalar":
                isinstance(value, np.generic)}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"dtype": np.dtype(value).str, "type": isinstance(value, type)}
    if type(value) in (list, tuple):
        items = [encode(v, f"{label}[{i}]", handles, depth + 1, references) for i, v in enumerate(value)]
        return items if type(value) is list else {"tuple": items}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"dict": {k: encode(v, f"{label}[{k!r}]", handles, depth + 1, references)
                         for k, v in value.items()}}
    if isinstance(value, Handle):
        return {"handle": value.number, "label": value.label}
    if references is not None:
        reference = references(value)
        if reference:
            return {"reference": reference}
    if isinstance(value, dict) and all(type(k) is str for k in value):  # e.g. OptimizeResult
        return {"record": {k: encode(v, f"{label}.{k}", handles, depth + 1, references)
                           for k, v in value.items()}, "kind": type(value).__name__}
    if callable(value) and handles is not None:
        handles.append(value)
        return {"handle": len(handles) - 1, "label": label}
    return {"unreadable": label, "kind": type(value).__name__}


def decode(obj, depth=0):
    """Return the value a JSON-ready form stands for (arrays read without pickle).

    Raises WireError for anything that is not a form `encode` makes.
    """
    if depth > MAX_DEPTH + 1:
        raise WireError("too deeply nested")
    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, list):
        return [decode(v, depth + 1) for v in obj]
    if not isinstance(obj, dict):
        raise WireError(f"not a data form: {type(obj).__name__}")
    if "npy" in obj:
        try:
            array = np.load(io.BytesIO(base64.b64decode(obj["npy"])), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise WireError(f"not an .npy array: {exc}") from exc
        return array[()] if obj.get("scalar") else array
    if "float" in obj:
        if obj["float"] not in ("nan", "inf", "-inf"):
            raise WireError("not a float")
        return float(obj["float"])
    if "dtype" in obj:
        dtype = np.dtype(str(obj["dtype"]))
        if dtype == object:
            raise WireError("object dtype")
        return dtype.type if obj.get("type") else dtype
    if "tuple" in obj and isinstance(obj["tuple"], list):
        return tuple(decode(v, depth + 1) for v in obj["tuple"])
    if "dict" in obj and isinstance(obj["dict"], dict):
        return {str(k): decode(v, depth + 1) for k, v in obj["dict"].items()}
    if "record" in obj and isinstance(obj["record"], dict):
        return Record({str(k): decode(v, depth + 1) for k, v in obj["record"].items()})
    if "handle" in obj:
        return Handle(int(obj["handle"]), str(obj.get("label", "function")))
    if "reference" in obj:
        return Reference(str(obj["reference"]))
    if "unreadable" in obj:
        return Unreadable(str(obj["unreadable"]), str(obj.get("kind", "object")))
    raise WireError("not a data form")


def map_leaves(value, leaf):
    """Return a decoded value with ``leaf`` applied to everything but its lists, tuples and dicts.

    Dicts keep their type (a Record stays a Record).
    """
    if isinstance(value, list):
        return [map_leaves(v, leaf) for v in value]
    if isinstance(value, tuple):
        return tuple(map_leaves(v, leaf) for v in value)
    if isinstance(value, dict):
        return type(value)({k: map_leaves(v, leaf) for k, v in value.items()})
    return leaf(value)


def dumps(message):
    """Return one message as a JSON line (bytes, ending in a newline)."""
    return (json.dumps(message, allow_nan=False, separators=(",", ":")) + "\n").encode()


def loads(line):
    """Return the message of one JSON line; WireError if it is not a JSON object."""
    if len(line) > MAX_LINE:
        raise WireError(f"a message of {len(line)} bytes is larger than {MAX_LINE}")
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise WireError("a message must be a JSON object")
    return message
