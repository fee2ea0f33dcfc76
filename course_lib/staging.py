"""Staging: trace numpy code into a program that can be printed, run and transformed (chapter 7).

``make_program(f, *args)`` runs ``f`` once on *staged* values: each numpy operation they meet is
not only computed but written down, one primitive per line, as an equation of a ``Program`` (the
course's small jaxpr). The primitives are those of ``course_lib.rules``: ufuncs, and the
``Primitive`` objects every numpy function there reaches. A program is a value too: printed, it
reads like chapter 2's Wengert list; called, it computes what ``f`` computes.

Transformations take a program and return a new one (``jvp``, ``linearize``, ``transpose``,
``vjp_program``, ``grad_program``, ``vmap``, ``dce``, ``cse``); they are in
``course_lib.transforms`` and importable from here too. None has a derivative rule of its own.

Tracing runs ``f`` once, so a Python loop is unrolled and a Python ``if`` is decided then. The
staged values carry the example's numbers only to learn shapes and dtypes; a program must serve
every input of those shapes, so a branch on a staged value is refused (``DataDependentBranch``).
"""
import numpy as np

from .nesting import ArrayMethods, UfuncOperators, flat_args, new_tag, shape_of, top_tag
from .rules import handler_for
from .rules.elementwise import OPERATORS, PIECEWISE_CONSTANT
from .rules.primitive import Primitive, bind
from .rules.products import matmul
from .rules.structural import GETITEM, getitem

__all__ = ["Var", "Eqn", "Program", "Staged", "DataDependentBranch", "make_program", "jvp",
           "linearize", "transpose", "vjp_program", "grad_program", "vmap", "dce", "cse", "op_name"]


# ---- programs: variables, equations, printing, evaluation -----------------------------------

class Var:
    """A variable of a program: its shape, dtype and the value it had when traced (an example)."""
    __slots__ = ("shape", "dtype", "example")

    def __init__(self, example):
        self.example = example
        if example.__class__ is float:  # the common case in scalar loops, without numpy
            self.shape, self.dtype = (), _FLOAT
        else:
            self.shape, self.dtype = shape_of(example), np.asarray(example).dtype


_FLOAT = np.dtype(float)


class Eqn:
    """One line of a program: ``out = op(*args, **params)``; args and params may hold ``Var``s."""
    __slots__ = ("op", "args", "params", "out")

    def __init__(self, op, args, params, out):
        self.op, self.args, self.params, self.out = op, args, params, out

    def inputs(self):
        """The variables this equation reads, in order (repeats included)."""
        return [v for v in _leaves((self.args, tuple(self.params.values()))) if type(v) is Var]


class Program:
    """A traced function: input variables, equations (one primitive each) and outputs.

    Calling it evaluates the equations in order (``program(*args)``); ``str(program)`` is its
    listing; ``len(program)`` is its number of equations. Outputs may be constants.
    """

    def __init__(self, inputs, eqns, outputs):
        self.inputs, self.eqns, self.outputs = list(inputs), list(eqns), list(outputs)

    def __len__(self):
        return len(self.eqns)

    def __call__(self, *args):
        outs = self.evaluate(args)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def evaluate(self, args):
        """Run the equations on ``args`` (values of any kind: floats, Duals, traced values)."""
        if len(args) != len(self.inputs):
            raise TypeError(f"this program takes {len(self.inputs)} inputs, got {len(args)}")
        env = dict(zip(self.inputs, args))

        def read(x):
            return env[x] if type(x) is Var else x
        for e in self.eqns:
            params = {k: _map(read, v) for k, v in e.params.items()} if e.params else e.params
            env[e.out] = _run(e.op, _map(read, e.args), params)
        return [read(o) for o in self.outputs]

    def names(self):
        """Each variable's name: inputs v{1-n} .. v0, equations v1, v2, ... (Baydin et al. 2018)."""
        n = len(self.inputs)
        names = {v: f"v{k - n + 1}" for k, v in enumerate(self.inputs)}
        names.update((e.out, f"v{k + 1}") for k, e in enumerate(self.eqns))
        return names

    def listing(self, max_lines=None):
        """The program as text: a header with the inputs, one line per equation, the outputs."""
        names = self.names()
        show = lambda x: _show(x, names)  # noqa: E731
        head = ", ".join(f"{names[v]}:{_type(v)}" for v in self.inputs)
        lines = [f"{{ lambda {head} ."]
        eqns = self.eqns if max_lines is None or len(self.eqns) <= max_lines else None
        for e in eqns if eqns is not None else self.eqns[:max_lines]:
            params = ", ".join(f"{k}={show(v)}" for k, v in e.params.items())
            args = " ".join(show(a) for a in e.args)
            lines.append(f"    {names[e.out]}:{_type(e.out)} = {op_name(e.op)}"
                         f"{f'[{params}]' if params else ''} {args}")
        if eqns is None:
            lines.append(f"    ... ({len(self.eqns) - max_lines} more lines)")
        lines.append(f"  return {', '.join(show(o) for o in self.outputs)} }}")
        return "\n".join(lines)

    __str__ = __repr__ = listing


def op_name(op):
    """How listings name an operation: the ufunc's, the primitive's or the numpy function's name."""
    return op.name if isinstance(op, Primitive) else op.__name__


_SHORT = {"float64": "f64", "float32": "f32", "bool": "bool", "int64": "i64", "complex128": "c128"}


def _type(v):
    return f"{_SHORT.get(v.dtype.name, v.dtype.name)}[{','.join(map(str, v.shape))}]"


def _show(x, names):
    if type(x) is Var:
        return names[x]
    if isinstance(x, np.ndarray):
        return f"array({_type(Var(x))})"
    if isinstance(x, tuple):
        return "(" + ", ".join(_show(a, names) for a in x) + ("," if len(x) == 1 else "") + ")"
    if isinstance(x, list):
        return "[" + ", ".join(_show(a, names) for a in x) + "]"
    if isinstance(x, np.generic):
        return repr(x.item())
    if isinstance(x, slice):
        text = ":".join("" if p is None else _show(p, names) for p in (x.start, x.stop))
        return text if x.step is None else f"{text}:{_show(x.step, names)}"
    if callable(x):
        return getattr(x, "__name__", repr(x))
    return repr(x)


def _leaves(x):
    if isinstance(x, (tuple, list)):
        return [leaf for a in x for leaf in _leaves(a)]
    return [x]


def _map(fn, x):
    """``fn`` applied to every leaf of nested tuples and lists (numpy arguments such as indices)."""
    cls = x.__class__
    if cls is tuple or cls is list:
        return cls([_map(fn, a) if a.__class__ in _SEQUENCES else fn(a) for a in x])
    return fn(x)


_SEQUENCES = (tuple, list)


def _run(op, args, params):
    """Run one equation's operation on values of any kind, as numpy code would."""
    if isinstance(op, Primitive):
        return bind(op, *args, **params)
    if isinstance(op, np.ufunc):
        operator = OPERATORS.get(op)  # Python's operators, as the tape computes them
        if operator is not None:
            try:
                return operator(*args)
            except DataDependentBranch:
                raise
            except TypeError:  # a kind of value without this operator (a batch has no **)
                pass
        return op(*args)
    return op(*args, **params)


# ---- tracing: staged values record what is done to them -------------------------------------

class DataDependentBranch(TypeError):
    """A branch (``if``, ``while``, ``bool()``, ``float()``) on a staged value's numbers."""


_BRANCH = ("a branch on a staged value's numbers (if, while, bool(), float(), or a conversion to a "
           "numpy array) cannot be staged: the program must work for every input of these "
           "shapes, and this choice depends on the input's numbers. Compute both sides and choose "
           "with np.where(condition, a, b), or differentiate with the tape (course_lib.grad), "
           "which records the branch taken at each call")


def _example_of(x):
    return x.var.example if x.__class__ is Staged else x


def _var_of(x):
    return x.var if x.__class__ is Staged else x


class _Builder:
    __slots__ = ("tag", "eqns", "active")

    def __init__(self):
        self.tag, self.eqns, self.active = new_tag(), [], True

    def record(self, op, args, params, frozen):
        """Compute ``op`` on the examples, append its equation, return the staged output."""
        if not self.active:
            raise RuntimeError("a staged value escaped from the make_program call that created "
                               "it; return it from f instead of keeping it")
        for a in _leaves(args) + _leaves(tuple(params.values())):
            if a.__class__ is Staged and a._builder is not self:
                raise ValueError("staged values of two make_program calls met; stage one "
                                 "function at a time")
        if op is np.multiply and len(args) == 2:  # a product by the constant 1.0 is the other
            for one, other in (args, args[::-1]):  # factor, bit for bit: no line for it
                if (one.__class__ is float and one == 1.0 and other.__class__ is Staged
                        and other.var.dtype.kind == "f"):
                    return other
        if params:
            out = _run(op, _map(_example_of, args),
                       {k: _map(_example_of, v) for k, v in params.items()})
            params = {k: _map(_var_of, p) for k, p in params.items()}
        else:
            out = _run(op, _map(_example_of, args), params)
        args = _map(_var_of, args)
        v = Var(out)
        self.eqns.append(Eqn(op, args, params, v))
        return Staged(v, self, 0 if frozen else self.tag)


def _operator(ufunc, reflected=False):
    """A Python operator on a staged value: recorded directly when the other operand is a number
    or a staged value of the same kind (numpy's dispatch costs more than the recording)."""
    def method(self, other):
        cls = other.__class__
        if cls is float or cls is int or cls is Staged and other._tag == self._tag:
            args = (other, self) if reflected else (self, other)
            return self._builder.record(ufunc, args, {}, not self._tag)
        return ufunc(other, self) if reflected else ufunc(self, other)
    return method


class Staged(ArrayMethods, UfuncOperators):
    """A value being traced into a program: a variable and the builder that records its uses.

    Chapter 7 introduces it. A staged value with a tag is differentiable: the modes of
    ``course_lib`` treat it as a number of an outer computation. A *frozen* one (tag 0: the
    result of a comparison, of ``np.floor``, ...) has no derivative, so every mode takes it as a
    constant, yet it is still a variable of the program (a mask for ``np.where``, say).
    """
    __slots__ = ("var", "_builder", "_tag")
    __array_priority__ = 100.0

    def __init__(self, var, builder, tag):
        self.var, self._builder, self._tag = var, builder, tag

    @property
    def shape(self):
        return self.var.shape

    @property
    def dtype(self):
        return self.var.dtype

    @property
    def primal(self):  # for course_lib.nesting.plain: the same variable, as a constant
        if not self._tag:
            raise AttributeError("a frozen staged value is its own plain value")
        return Staged(self.var, self._builder, 0)

    def __repr__(self):
        return f"Staged({_type(self.var)}{', frozen' if not self._tag else ''})"

    # numpy calls one staged value per operation, the first: a frozen one may act for the rest
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        tag = top_tag(inputs)
        if tag != self._tag:
            self = _staged_with(tag, inputs)
            if self is None:
                return NotImplemented  # a Dual or traced value of an inner computation handles it
        if method != "__call__" or kwargs:
            raise NotImplementedError(f"staging supports numpy.{ufunc.__name__} called plainly "
                                      f"(not .{method}, no {sorted(kwargs) or 'keywords'})")
        if ufunc is np.matmul and self._tag:
            return matmul(*inputs)
        frozen = not self._tag or ufunc in PIECEWISE_CONSTANT
        return self._builder.record(ufunc, inputs, {}, frozen)

    def __array_function__(self, func, types, args, kwargs):
        values = flat_args(args) + list(kwargs.values())
        tag = top_tag(values)
        if tag != self._tag:
            self = _staged_with(tag, values)
            if self is None:
                return NotImplemented
        if self._tag:  # the code every mode runs for func: primitives come back to _apply
            return handler_for(func)(*args, **kwargs)
        return self._builder.record(func, args, kwargs, True)  # no derivative: func as it is

    def _apply(self, prim, args, params):
        return self._builder.record(prim, args, params, False)

    def __getitem__(self, index):
        if self._tag:
            return getitem(self, index)
        return self._builder.record(GETITEM, (self,), {"index": index}, True)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a scalar staged value")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        raise DataDependentBranch(_BRANCH)

    def __float__(self):
        raise DataDependentBranch(_BRANCH)

    __int__ = __index__ = __float__

    def __array__(self, dtype=None, copy=None):
        raise DataDependentBranch(_BRANCH)

    __add__, __radd__ = _operator(np.add), _operator(np.add, True)
    __sub__, __rsub__ = _operator(np.subtract), _operator(np.subtract, True)
    __mul__, __rmul__ = _operator(np.multiply), _operator(np.multiply, True)
    __truediv__, __rtruediv__ = _operator(np.true_divide), _operator(np.true_divide, True)
    __pow__, __rpow__ = _operator(np.power), _operator(np.power, True)

    def __mod__(self, other):
        return np.remainder(self, other)

    def __pos__(self):
        return self

    def __abs__(self):
        return np.absolute(self)

    def __lt__(self, other):
        return np.less(self, other)

    def __le__(self, other):
        return np.less_equal(self, other)

    def __gt__(self, other):
        return np.greater(self, other)

    def __ge__(self, other):
        return np.greater_equal(self, other)

    def __eq__(self, other):
        return np.equal(self, other)

    def __ne__(self, other):
        return np.not_equal(self, other)

    def __and__(self, other):
        return np.logical_and(self, other)

    def __or__(self, other):
        return np.logical_or(self, other)

    def __invert__(self):
        return np.logical_not(self)

    __hash__ = object.__hash__


def _staged_with(tag, values):
    """The staged value among ``values`` with this tag, if there is one."""
    for v in values:
        if v.__class__ is Staged and v._tag == tag:
            return v
    return None


def make_program(f, *args):
    """Trace ``f(*args)`` into a ``Program``: one equation per primitive it runs (chapter 7).

    Args:
        f: numpy code taking arrays or numbers and returning one or a tuple of them.
        args: example inputs; only their shapes and dtypes matter to the program.
    Returns:
        A ``Program`` whose inputs are ``args`` and whose outputs are ``f``'s.
    Raises:
        DataDependentBranch: ``f`` branches on its inputs' numbers.
    """
    builder = _Builder()
    inputs = [Staged(Var(_example(a)), builder, builder.tag) for a in args]
    try:
        out = f(*inputs)
    finally:
        builder.active = False
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for o in outs:
        if getattr(o, "_tag", 0) and o.__class__ is not Staged:
            raise TypeError(f"f returned a {type(o).__name__} of a derivative computation that "
                            "started inside it; return plain results")
    return Program([s.var for s in inputs], builder.eqns,
                   [o.var if o.__class__ is Staged else o for o in outs])


def _example(a):
    return a if isinstance(a, (float, np.ndarray, np.generic)) else np.asarray(a, dtype=float)


def _examples(variables):
    return [v.example if type(v) is Var else v for v in variables]


def _tangent_example(v):
    return 1.0 if v.shape == () and v.example.__class__ is float else np.ones(v.shape, v.dtype)


# ---- the transformations, in course_lib.transforms (imported last: they build on programs) ----

from .transforms import (cse, dce, grad_program, jvp, linearize, transpose,  # noqa: E402
                         vjp_program, vmap)
