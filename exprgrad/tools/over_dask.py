"""A numpy-backend formula and Dask arrays -> its value and gradient, summed over chunks.

f.value_and_grad(X=dask_X, y=dask_y, w=w) comes here when an argument is a Dask array.
The Dask arrays are the data, chunked along their rows (first axis); every other
argument is a parameter, the same for every chunk. core/rows.py proves from the IR that
the value is a sum (or mean) over the rows, and rewrites it so that the chunks' values
add up to the whole's; each chunk's value and gradient come from the numpy code
generated for that program, and a tree reduction adds them up. It runs on the active
Dask scheduler (threads by default; a dask.distributed Client when there is one).

The graph holds the parameters once, as one key (a worker fetches them once), and the
chunk kernel once: it pickles as its description, and a process compiles each
description once (_KERNELS), so each worker compiles the formula once, not per chunk
(numpy code is then specialised per chunk shape, as for any call: two shapes when the
last chunk is shorter). Gradients of the parameters are computed; gradients of data
inputs (when f.wrt names them) are Dask arrays chunked like the data, computed when asked.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np

from .. import backends
from ..backends.python.evaluate import FOLD
from ..core import pipeline, rows, shapes
from ..core.pipeline import Programs
from ..errors import ArgumentError, ArgumentValueError, FormulaError

_MOST_TRIED = 3  # numpy arrays as long as the rows that may be left out as parameters
FAN_IN = 8  # partial sums added per task of the tree reduction
builds = 0  # kernels compiled in this process: once per worker per formula and chunk layout
KEPT = 64  # kernels a process keeps, the oldest dropped first
_KERNELS: dict[Key, Kernel] = {}
_LOCK = threading.Lock()  # the threaded scheduler's chunks share one kernel


def is_dask(value: Any) -> bool:
    """Is it a Dask collection (an array, a bag, a delayed value)?"""
    return hasattr(type(value), "__dask_graph__")


@dataclass(frozen=True, slots=True)
class Key:
    """All that a kernel is made from: small, so that it pickles cheaply."""

    formula: str
    inputs: tuple[str, ...]  # f.inputs, the order of the kernel's arguments
    data: tuple[str, ...]  # the chunked inputs
    wrt: tuple[str, ...]  # the parameters differentiated
    data_wrt: tuple[str, ...]  # the data inputs differentiated
    specs: tuple[tuple[tuple[int, ...], str], ...]  # per input: one chunk's shape, dtype


class Kernel:
    """The numpy code for one chunk: value_and_grad(total_rows, params, *chunk) -> (value,
    the parameters' gradients), value(...) -> (value, ()), data_grads(...) -> the data
    inputs' gradients; chunk holds one block per data input, in key.data order."""

    def __init__(self, key: Key):
        global builds
        self.key = key
        programs = pipeline.forward_and_gradient(
            key.formula, (), FOLD, arrays=True, inputs=key.inputs
        )
        forward = programs.forward
        rows.refuse_reshapes(forward, key.data)
        specs = shapes.infer(
            forward, {n: shapes.Spec(*s) for n, s in zip(key.inputs, key.specs, strict=True)}
        )
        shapes.check_elements(forward, specs)
        self.chunk = rows.per_chunk(forward, specs, key.data)
        extra = self.chunk.program.inputs[len(key.inputs) :]
        self._extra = [name == self.chunk.rows for name in extra]  # True: rows; False: share
        self._lowered = programs.lowered
        # rows and share in the dtype of the whole: float32 only when every input is
        single = all(dtype == "float32" for _, dtype in key.specs)
        self._dtype = np.dtype("float32" if single else "float64")
        self.params = self._function(key.wrt)
        self._data: Any = None
        builds += 1

    def _function(self, wrt: tuple[str, ...]) -> Any:
        """The numpy backend's function of the chunk program (through the registry: a tool
        never imports a Function class)."""
        full = pipeline.gradient(self.chunk.program, wrt, FOLD, arrays=True)
        programs = Programs(self._lowered, self.chunk.program, full, arrays=True)
        numpy_backend = backends.backend("numpy")
        return numpy_backend.make_function(self.key.formula, programs, fold=True, fold_forward=True)

    def _arguments(self, total_rows: int, values: tuple) -> list:
        chunk_rows = values[self.key.inputs.index(self.key.data[0])].shape[0]
        extra = [total_rows if is_rows else chunk_rows / total_rows for is_rows in self._extra]
        return [*values, *(np.asarray(x, self._dtype)[()] for x in extra)]

    def value_and_grad(self, total_rows: int, params: dict, *chunk: np.ndarray) -> tuple:
        values = self._values(params, chunk)
        value, grads = self.params.value_and_grad(*self._arguments(total_rows, values))
        return value, tuple(grads[name] for name in self.key.wrt)

    def value(self, total_rows: int, params: dict, *chunk: np.ndarray) -> tuple:
        return self.params(*self._arguments(total_rows, self._values(params, chunk))), ()

    def data_grads(self, total_rows: int, params: dict, *chunk: np.ndarray) -> tuple:
        if self._data is None:
            self._data = self._function(self.key.data_wrt)
        values = self._values(params, chunk)
        _, grads = self._data.value_and_grad(*self._arguments(total_rows, values))
        return tuple(grads[name] for name in self.key.data_wrt)

    def _values(self, params: dict, chunk: tuple) -> tuple:
        given = dict(zip(self.key.data, chunk, strict=True))
        return tuple(given[n] if n in given else params[n] for n in self.key.inputs)

    def __reduce__(self):
        return (kernel_for, (self.key,))

    def __dask_tokenize__(self):
        return ("exprgrad-kernel", hash(self.key), self.key.formula)


def kernel_for(key: Key) -> Kernel:
    """The kernel of this description, compiled once per process."""
    kernel = _KERNELS.get(key)
    if kernel is None:
        with _LOCK:
            kernel = _KERNELS.get(key)
            if kernel is None:
                kernel = _KERNELS[key] = Kernel(key)
                if len(_KERNELS) > KEPT:
                    del _KERNELS[next(iter(_KERNELS))]
    return kernel


def _add(*parts: tuple) -> tuple:
    """Partial sums (value, gradients) -> their sum."""
    value, grads = parts[0][0], list(parts[0][1])
    for part_value, part_grads in parts[1:]:
        value = value + part_value
        grads = [g + h for g, h in zip(grads, part_grads, strict=True)]
    return value, tuple(grads)


@dataclass(slots=True)
class Plan:
    """One call's pieces: the kernel, the data's chunks as delayed blocks, the parameters."""

    kernel: Kernel
    total_rows: int
    blocks: list[list[Any]]  # per chunk: one delayed block per data input
    block_rows: list[int]
    data: dict[str, Any]  # the data inputs, rechunked along the rows
    params: dict[str, np.ndarray]

    @property
    def kernel_key(self) -> Any:
        """The kernel as one key of the graph (it pickles as its description)."""
        return dask.delayed(self.kernel, pure=True, traverse=False)

    @property
    def params_key(self) -> Any:
        """The parameters as one key of the graph: a worker fetches them once."""
        return dask.delayed(self.params, pure=True, traverse=False)


def plan(f: Any, values: dict[str, Any]) -> Plan:
    """The Dask arrays among values are the data, and so are the numpy arrays with as many
    rows, unless the formula says otherwise (it is then not a sum over their rows, and is
    a sum over the Dask arrays' rows alone); the others are the parameters."""
    data = _dask_arrays(values)
    first = next(iter(data.values()))
    row_chunks = first.chunks[0]
    total_rows = int(first.shape[0])
    if total_rows == 0:
        raise ArgumentValueError("the Dask arrays have no rows")
    params = {n: _parameter(n, v) for n, v in values.items() if n not in data}
    long = [n for n, a in params.items() if a.ndim and a.shape[0] == total_rows]
    kernel, long = _kernel_choosing(f, data, params, long, row_chunks)
    long = {n: params[n] for n in long}
    for name, array in long.items():  # chunked like the Dask arrays
        data[name] = da.from_array(params.pop(name), (row_chunks, *array.shape[1:]))
    data = {n: v.rechunk((row_chunks,) + tuple(-1 for _ in v.shape[1:])) for n, v in data.items()}
    delayed = {n: v.to_delayed().ravel() for n, v in data.items()}
    kept = [i for i, n in enumerate(row_chunks) if n > 0]
    blocks = [[delayed[n][i] for n in kernel.key.data] for i in kept]
    return Plan(kernel, total_rows, blocks, [row_chunks[i] for i in kept], data, params)


def _kernel_choosing(f: Any, data: dict, params: dict, long: list[str], row_chunks) -> tuple:
    """The kernel, and the numpy arrays as long as the rows that it takes as data: as many
    as the formula allows (the sets leaving out at most _MOST_TRIED of them tried, the
    largest first: with 3 rows, a 3-vector of weights is a parameter). If none works, the
    error of taking them all."""
    first_error = None
    for size in range(len(long), -1, -1):
        for chosen in itertools.combinations(long, size):
            try:
                given = data | {n: params[n] for n in chosen}
                return kernel_for(_key(f, given, params, row_chunks)), chosen
            except FormulaError as error:
                first_error = first_error or error
        if size == len(long) - _MOST_TRIED:
            break
    raise first_error


def _dask_arrays(values: dict[str, Any]) -> dict[str, Any]:
    """The Dask arrays among the arguments, checked: real numbers, equally many rows."""
    data = {n: v for n, v in values.items() if is_dask(v)}
    for name, value in data.items():
        if not isinstance(value, da.Array):
            raise ArgumentError(
                f"argument {name!r} is a {type(value).__name__}: exprgrad sums over the "
                "chunks of Dask arrays (dask.array), such as dask.array.from_array(...)"
            )
        if value.ndim == 0:
            raise ArgumentValueError(f"argument {name!r} is a Dask scalar: data need rows")
        if value.dtype.kind not in "fiub":
            raise ArgumentError(
                f"argument {name!r} is a Dask array of {value.dtype}; formulas compute with "
                "real numbers"
            )
    counts = {name: value.shape[0] for name, value in data.items()}
    if len(set(counts.values())) > 1 or any(np.isnan(n) for n in counts.values()):
        shown = ", ".join(f"{n}: {c}" for n, c in counts.items())
        raise ArgumentValueError(
            f"the Dask arrays must have the same known number of rows ({shown})"
        )
    return data


def _key(f: Any, data: dict[str, Any], params: dict[str, Any], row_chunks) -> Key:
    """The kernel's description: data's shapes are one chunk's (the first with rows)."""
    probe = next(n for n in row_chunks if n > 0)
    specs = tuple(
        ((probe, *data[n].shape[1:]), _dtype(data[n].dtype))
        if n in data
        else (params[n].shape, params[n].dtype.name)
        for n in f.inputs
    )
    return Key(
        f.formula,
        f.inputs,
        tuple(n for n in f.inputs if n in data),
        tuple(n for n in f.wrt if n not in data),
        tuple(n for n in f.wrt if n in data),
        specs,
    )


def _dtype(dtype: np.dtype) -> str:
    """The dtype the numpy backend computes an argument of this dtype in."""
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        return dtype.name
    return "float32" if dtype.kind == "f" and dtype.itemsize < 4 else "float64"


def _parameter(name: str, value: Any) -> np.ndarray:
    """A parameter as an array in the dtype the numpy backend computes it in (it checks
    the values again, and names what is wrong, in the chunks' calls)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise ArgumentError(f"argument {name!r} is not an array of numbers") from None
    if array.dtype.kind not in "fiub":
        raise ArgumentError(
            f"argument {name!r} holds {array.dtype} values; formulas compute with real numbers"
        )
    return array.astype(_dtype(array.dtype), copy=False)


def value(f: Any, values: dict[str, Any]) -> Any:
    """The value summed over the chunks, on the active scheduler."""
    p = plan(f, values)
    return _summed(p, _chunk_value)[0]


def value_and_grad(f: Any, values: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(the value summed over the chunks, {input: gradient}) on the active scheduler."""
    p = plan(f, values)
    value, grads = _summed(p, _chunk_value_and_grad)
    key = p.kernel.key
    result = dict(zip(key.wrt, grads, strict=True))
    if key.data_wrt:
        result.update(_data_grads(p))
    return value, {name: result[name] for name in f.wrt}


def _summed(p: Plan, per_chunk) -> tuple:
    """per_chunk's (value, gradients) over every chunk, added up by a tree of tasks."""
    level = [
        dask.delayed(per_chunk, pure=True)(p.kernel_key, p.total_rows, p.params_key, *block)
        for block in p.blocks
    ]
    while len(level) > 1:
        level = [
            dask.delayed(_add, pure=True)(*level[i : i + FAN_IN])
            for i in range(0, len(level), FAN_IN)
        ]
    return dask.compute(level[0])[0]


def _chunk_value_and_grad(kernel: Kernel, total_rows: int, params: dict, *chunk) -> tuple:
    return kernel.value_and_grad(total_rows, params, *chunk)


def _chunk_value(kernel: Kernel, total_rows: int, params: dict, *chunk) -> tuple:
    return kernel.value(total_rows, params, *chunk)


def _data_grads(p: Plan) -> dict[str, Any]:
    """The data inputs' gradients, lazily: Dask arrays chunked like the data."""
    key = p.kernel.key
    parts: dict[str, list] = {n: [] for n in key.data_wrt}
    for block, n in zip(p.blocks, p.block_rows, strict=True):
        grads = dask.delayed(_chunk_data, pure=True, nout=len(key.data_wrt))(
            p.kernel_key, p.total_rows, p.params_key, *block
        )
        for name, grad in zip(key.data_wrt, grads, strict=True):
            shape = (n, *p.data[name].shape[1:])
            dtype = _dtype(p.data[name].dtype)
            parts[name].append(da.from_delayed(grad, shape, dtype=dtype))
    return {name: da.concatenate(arrays, axis=0) for name, arrays in parts.items()}


def _chunk_data(kernel: Kernel, total_rows: int, params: dict, *chunk) -> tuple:
    return kernel.data_grads(total_rows, params, *chunk)
