"""Python -> built C functions: the calls of the C backend, each as cheap as it can be made.

A built program (codegen.py writes it, build.py compiles it) is two C functions:

    int NAME(const double *in, double *out)             one point: in -> value, gradient
    double NAME_flat(in, grad, code)                     the same, the value returned
    int NAME_batch(n, columns, steps, values, grads, sum, failed)   n points in one loop

What calls them from Python is generated per program (per_point_source): it checks each
argument is a float (`type(v) is not float`, as the Python backend's code does; anything
else goes through the Python backend's conversion, so ints, bools and numpy scalars
are taken and strings named with the same messages), writes the floats into a buffer,
calls C and turns a nonzero return into the EvaluationError the Python backend raises
for the same op. cffi lets other threads run during a C call, so each call takes its
buffers from a free list rather than sharing one. Vectors (flat) and batches cross as
numpy arrays, handed to C by address (ffi.from_buffer), never element by element.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ...core.ir import Program
from ...errors import ArgumentError, ArgumentValueError, EvaluationError
from ..emit import mangle
from ..python.helpers import _float_arguments
from ..python.runtime import float_arguments
from ..python.vectors import flat_vector
from ..runtime import MISSING, bind_formula_names, evaluation_error, missing_message, run_source
from .pieces import OUT_OF_MEMORY

_KINDS = {1: ValueError, 2: ZeroDivisionError, 3: OverflowError}  # the C code's error kinds
_F64 = np.dtype(np.float64)


class Built:
    """One program's C functions (the library build.py loaded) and its failures in
    exprgrad's terms."""

    def __init__(self, formula: str, program: Program, library: Any, ffi: Any, name: str):
        self.formula = formula
        self.program = program
        self.ffi = ffi
        self.point = getattr(library, name)
        self.flat = getattr(library, f"{name}_flat")
        self.batch = getattr(library, f"{name}_batch", None)  # where it was built
        self.size = len(program.inputs)
        self.outputs = 1 + len(program.grads)
        self.names = frozenset(program.inputs)

    def error(self, code: int) -> EvaluationError:
        """The EvaluationError of a C error code: 4 * (op id + 1) + kind."""
        if code == OUT_OF_MEMORY:
            return EvaluationError(
                "no memory for the values a long formula's C code passes between its pieces"
            )
        op = self.program.ops[code // 4 - 1]
        return evaluation_error(self.formula, op, _KINDS[code % 4])

    def buffers(self) -> Callable[[], tuple]:
        """A maker of (inputs, outputs, their C pointers): arrays C writes and reads in place."""
        from_buffer = self.ffi.from_buffer
        size, outputs = max(self.size, 1), self.outputs

        def make() -> tuple:
            given, results = array("d", bytes(8 * size)), array("d", bytes(8 * outputs))
            return given, results, from_buffer("double[]", given), from_buffer("double[]", results)

        return make


def floats_maker(names: tuple[str, ...]) -> Callable[[tuple], list[float]]:
    """The conversion of arguments that are not all floats: as the Python backend's _retry
    does it (the same messages), naming a missing argument as f() does."""

    def floats(args: tuple) -> list[float]:
        return float_arguments("f", names, args)

    return floats


def per_point_source(function: str, inputs: Sequence[str], grads: Sequence[str] | None) -> str:
    """The Python function calling one program's C function at a point:

        def value_and_grad(a=_MISSING, x=_MISSING):
            if type(a) is not float or type(x) is not float:
                a, x = _floats((a, x))
            _b = _free.pop() if _free else _buffers()
            _given, _results, _given_c, _results_c = _b
            _given[0] = a
            _given[1] = x
            _code = _c(_given_c, _results_c)
            _value, _g0, _g1 = _results
            _free.append(_b)
            if _code:
                raise _error(_code) from None
            return _value, {'a': _g0, 'x': _g1}

    grads None: the value alone (forward). Its own names start with '_', which no formula
    name does once mangled, so an input called `given` or `value` stays itself."""
    params = [mangle(name) for name in inputs]
    signature = ", ".join(f"{p}=_MISSING" for p in params)
    lines = [f"def {function}({signature}):"]
    if params:
        checks = " or ".join(f"type({p}) is not float" for p in params)
        lines.append(f"    if {checks}:")
        listed = ", ".join(params) + ("," if len(params) == 1 else "")
        lines.append(f"        {listed} = _floats(({listed}))")
    lines.append("    _b = _free.pop() if _free else _buffers()")
    lines.append("    _given, _results, _given_c, _results_c = _b")
    lines += [f"    _given[{i}] = {p}" for i, p in enumerate(params)]
    lines.append("    _code = _c(_given_c, _results_c)")
    outputs = ["_value"] + [f"_g{k}" for k in range(len(grads or ()))]
    lines.append(f"    {', '.join(outputs)} = _results" if grads else "    _value = _results[0]")
    lines.append("    _free.append(_b)")
    lines.append("    if _code:")
    lines.append("        raise _error(_code) from None")
    if grads is not None:
        entries = ", ".join(f"{name!r}: _g{k}" for k, name in enumerate(grads))
        lines.append(f"    return _value, {{{entries}}}")
    else:
        lines.append("    return _value")
    return "\n".join(lines) + "\n"


def per_point(
    owner: object, function: str, built: Built, gradient: bool = True
) -> tuple[Callable, str]:
    """The generated caller of a built program (per_point_source) and its source;
    gradient False: the caller returns the value alone."""
    program = built.program
    source = per_point_source(function, program.inputs, tuple(program.grads) if gradient else None)
    namespace = {
        "__builtins__": {"type": type, "float": float},
        "_MISSING": MISSING,
        "_floats": floats_maker(program.inputs),
        "_free": [],
        "_buffers": built.buffers(),
        "_c": built.point,
        "_error": built.error,
    }
    run_source(owner, source, f"c {function}", namespace)
    call = namespace[function]
    if any(mangle(name) != name for name in program.inputs):
        call = bind_formula_names(call, program.inputs)
    return call, source


# --- vectors: f.flat ---------------------------------------------------------------------


def flat_function(built: Built, names: tuple[str, ...], fixed: Sequence[float]) -> Callable:
    """fun(x) -> (value, gradient array): x a numpy vector (or a list, tuple: the gradient a
    list) in `names` order, handed to C by address; the fixed inputs follow it in C's input
    array. C
    (NAME_flat) returns the value and writes the gradient into a new array; its error
    code goes into a cell of its own per call (cffi lets other threads run meanwhile)."""
    size, shape, grads = len(names), (len(names),), built.outputs - 1
    ffi, flat, error = built.ffi, built.flat, built.error
    from_buffer, memmove, empty, ndarray = ffi.from_buffer, ffi.memmove, np.empty, np.ndarray
    floats = floats_maker(names)
    cells: list = []  # free `int *` error cells
    inputs: list = []  # free input arrays, the fixed values in place after the vector's

    def vector(x: Any) -> np.ndarray:
        """x as a contiguous float64 vector, converted once, or the Python backend's error."""
        if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and x.shape == shape:
            return np.ascontiguousarray(x, dtype=np.float64)
        return np.array(floats(tuple(flat_vector(x, names))), dtype=np.float64)

    def failed(value: float, code: Any) -> float:
        """The value, or the EvaluationError of a NaN that C returned for a failed op."""
        if code[0]:
            raise error(code[0]) from None
        return value

    if not fixed:

        def fun(x):
            if type(x) is not ndarray or x.dtype is not _F64 or x.shape != shape:
                if isinstance(x, list | tuple):  # lists in, lists out, as in Python
                    value, gradient = fun(vector(x))
                    return value, gradient.tolist()
                x = vector(x)
            gradient = empty(grads)
            code = cells.pop() if cells else ffi.new("int *")
            try:
                value = flat(from_buffer(x), from_buffer(gradient), code)
            except ValueError:  # not contiguous
                value = flat(from_buffer(vector(x)), from_buffer(gradient), code)
            cells.append(code)
            if value != value:
                value = failed(value, code)
            return value, gradient

    else:
        rest = array("d", [0.0] * size + list(fixed))

        def fun(x):
            if type(x) is not ndarray or x.dtype is not _F64 or x.shape != shape:
                if isinstance(x, list | tuple):  # lists in, lists out, as in Python
                    value, gradient = fun(vector(x))
                    return value, gradient.tolist()
                x = vector(x)
            given = inputs.pop() if inputs else from_buffer(array("d", rest))
            try:
                memmove(given, x, 8 * size)
            except ValueError:  # not contiguous
                memmove(given, vector(x), 8 * size)
            gradient = empty(grads)
            code = cells.pop() if cells else ffi.new("int *")
            value = flat(given, from_buffer(gradient), code)
            inputs.append(given)
            cells.append(code)
            if value != value:
                value = failed(value, code)
            return value, gradient

    return fun


# --- batches: f.batch ----------------------------------------------------------------------


def _column(name: str, value: Any) -> np.ndarray:
    """One input of a batch as a contiguous float64 array: 1-D (a point each) or 0-D (one
    number for every point). Other real numbers convert once; the rest are named."""
    if type(value) is float:  # the common cases first: a call costs ~1 us an input
        return np.array(value)
    if type(value) is np.ndarray and value.dtype is _F64 and value.ndim == 1:
        return np.ascontiguousarray(value)
    if isinstance(value, np.ndarray | list | tuple):
        column = np.asarray(value)
        if column.ndim > 1:
            raise ArgumentValueError(
                f"argument {name!r} of a batch is an array of shape {column.shape}; "
                "each input is a 1-D array of points or a number shared by all"
            )
        if column.dtype.kind in "biuf":  # a 0-d array stays 0-d: one number for every point
            return np.ascontiguousarray(column, dtype=np.float64).reshape(column.shape)
        value = column.tolist()  # complex numbers, strings, objects: named as f() names them
        if column.ndim:
            return np.array(_float_arguments([name] * len(value), value), dtype=np.float64)
    return np.asarray(floats_maker((name,))((value,))[0], dtype=np.float64)


def run_batch(built: Built, wrt: tuple[str, ...], columns: Mapping[str, Any], total: bool):
    """f.batch: the built program over every point of the columns in one C loop."""
    inputs = built.program.inputs
    if not columns.keys() <= built.names:  # a set: linear in the inputs
        unexpected = [name for name in columns if name not in built.names]
        raise ArgumentError(f"batch() got an unexpected argument {unexpected[0]!r}")
    message = missing_message("batch", inputs, [columns.get(name, MISSING) for name in inputs])
    if message is not None:
        raise ArgumentError(message)
    try:
        arrays = [_column(name, columns[name]) for name in inputs]
    except TypeError as bad:
        raise ArgumentError(str(bad)) from None
    except OverflowError as overflow:
        raise EvaluationError(str(overflow)) from None
    lengths = {name: len(a) for name, a in zip(inputs, arrays, strict=True) if a.ndim}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name!r} has {n}" for name, n in lengths.items())
        raise ArgumentValueError(f"the batch's arrays differ in length: {shown}")
    n = next(iter(lengths.values()), 1)
    ffi = built.ffi
    pointers = [ffi.from_buffer("double[]", a) for a in arrays]
    steps = ffi.new("long[]", [1 if a.ndim else 0 for a in arrays] or [0])
    values = np.empty(1 if total else n)
    grads = np.empty((len(wrt), 1 if total else n))
    failed = ffi.new("long *")
    code = built.batch(
        n,
        ffi.new("double *[]", pointers or [ffi.NULL]),
        steps,
        ffi.from_buffer("double[]", values),
        ffi.from_buffer("double[]", grads) if wrt else ffi.NULL,
        int(total),
        failed,
    )
    if code:
        error = built.error(code)
        raise EvaluationError(
            error.message, error.source, error.span, hint=f"at point {failed[0]} of the batch"
        ) from None
    if total:
        return values.item(0), {name: grads.item(k, 0) for k, name in enumerate(wrt)}
    return values, {name: grads[k] for k, name in enumerate(wrt)}
