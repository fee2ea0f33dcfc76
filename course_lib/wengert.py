"""The tape printed as a Wengert list, with values, tangents and adjoints (chapter 2).

``trace(f, *args)`` records ``f`` on a tape that keeps every value and returns a ``Trace``: one row
per variable, numbered as in Baydin et al. (2018), with its operation, inputs, value and adjoint.
"""
import numpy as np

from .nesting import is_plain, shape_of
from .reverse import _finish, _trace_call
from .tape import Traced, backward

__all__ = ["Trace", "trace"]


# ---- printing the tape as a Wengert list ----------------------------------------------------

class Trace:
    """A recorded tape with its values and adjoints, printable as a Wengert list (chapter 2).

    Rows are numbered as in Baydin et al. (2018): the n inputs are v_{1-n} .. v_0, the operations
    v_1, v_2, ... Attributes: ``rows`` (a list of dicts with keys ``var``, ``op``, ``inputs``,
    ``value``, ``adjoint``), ``value`` (the output) and ``grads`` (the input adjoints).
    """

    def __init__(self, rows, value, grads, entries, n_inputs):
        self.rows = rows
        self.value = value
        self.grads = grads
        self._entries = entries
        self._n_inputs = n_inputs

    def _name(self, i):
        return f"v{i - self._n_inputs + 1}"

    def tangents(self, *dx):
        """Push an input tangent forwards through the recorded scalar tape (the forward trace).

        For scalars each local derivative is one number, the same in both directions, so the VJP
        rule applied to a tangent gives the JVP. Args: one tangent per input. Returns: a list of
        the tangent of every row.
        """
        if len(dx) != self._n_inputs:
            raise ValueError(f"give one tangent per input ({self._n_inputs})")
        if any(shape_of(e.value) != () for e in self._entries):
            raise ValueError("tangents() works on scalar tapes only; use course_lib.dual for arrays")
        tan = []
        for i, (parents, vjps, _, _) in enumerate(self._entries):
            if i < self._n_inputs:
                tan.append(float(dx[i]))
            else:
                tan.append(float(sum(fn(tan[p]) for p, fn in zip(parents, vjps))))
        return tan

    def partials(self):
        """The linearized tape of a scalar trace: each row's local derivatives towards its inputs.

        Row ``i`` stands for the linear step ``dv_i = sum_p d_p * dv_p``; its transpose, run from
        the last row to the first, adds ``d_p * adjoint_i`` to each input's adjoint. Returns: a
        list with, per row, a list of ``(input var, local derivative)`` pairs (empty for inputs).
        """
        if any(shape_of(e.value) != () for e in self._entries):
            raise ValueError("partials() works on scalar tapes only")
        return [[(self._name(p), float(fn(1.0))) for p, fn in zip(parents, vjps)]
                for parents, vjps, _, _ in self._entries]

    def table(self, digits=4, tangents=None):
        """The Wengert list as text: one row per variable, with value and adjoint (and tangent)."""
        head = f"{'var':>5}  {'op':<12} {'inputs':<14} {'value':>12}"
        if tangents is not None:
            head += f" {'tangent':>12}"
        head += f" {'adjoint':>12}"
        lines = [head, "-" * len(head)]
        for k, r in enumerate(self.rows):
            val = "-" if r["value"] is None else _fmt(r["value"], digits)  # a linear step
            line = f"{r['var']:>5}  {r['op']:<12} {', '.join(r['inputs']):<14} {val:>12}"
            if tangents is not None:
                line += f" {_fmt(tangents[k], digits):>12}"
            line += f" {_fmt(r['adjoint'], digits):>12}"
            lines.append(line)
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def __repr__(self):
        return self.table()

    def __len__(self):
        return len(self.rows)


def _fmt(x, digits):
    if x is None:
        return "0"
    if is_plain(x) and np.ndim(x) == 0:
        return f"{float(x):.{digits}g}"
    if is_plain(x):
        return f"array{np.shape(x)}"
    return type(x).__name__


def trace(f, *args):
    """Run ``f(*args)`` on a tape and return it with values and adjoints, as a printable Wengert list.

    Chapter 2 introduces it. Args: ``f``, scalar-output numpy code; ``args``, its inputs (all are
    traced). Returns: a ``Trace``; ``print(trace(f, 2.0, 5.0))`` shows one row per variable with
    the operation, its inputs, the value and the adjoint d(output)/d(variable).
    """
    out, tape, structure = _trace_call(f, args, tuple(range(len(args))), keep_values=True)
    entries = tape.entries
    n_inputs = sum(len(idx) for _, _, idx in structure)
    mine = isinstance(out, Traced) and out._tag == tape.tag
    value = out.value if mine else out
    if mine and shape_of(value) != ():
        raise TypeError("trace needs a scalar-output function (the adjoints are of that output)")
    ct = backward(entries, [(out._index, 1.0)], keep=set(range(len(entries)))) if mine else \
        [None] * len(entries)
    rows = []
    for i, (parents, vjps, name, val) in enumerate(entries):
        var = f"v{i - n_inputs + 1}"
        rows.append({"var": var, "op": name, "inputs": [f"v{p - n_inputs + 1}" for p in parents],
                     "value": val, "adjoint": ct[i] if ct[i] is not None else 0.0})
    grads = tuple(_finish(ct[i], e.value) for i, e in enumerate(entries[:n_inputs]))
    return Trace(rows, value, grads, entries, n_inputs)
