"""The shape pass: every value's shape and dtype, for one signature of input arrays.

The numpy backend compiles a formula once to IR and its gradient, then, on the
first call with given input shapes and dtypes, runs this pass over that IR:
each op's shape follows numpy (broadcasting for elementwise ops, the table's
`shape` rule for the others), and an impossible program is a FormulaError
naming the operation, its place in the formula and every shape involved.

dtypes: float64, float32 or bool (comparisons). Constants are "weak" like
Python floats in numpy: 2.0 * a float32 array stays float32. A value computed
from constants alone (where(x > 0, 1, 2), a gradient's where(c, 1.0, 0.0)) is
an array, and numpy's arrays are never weak: it takes the inputs' float dtype
(float64 if any input is float64), and the code generator writes it in that dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormulaError, ShapeError, Span
from .array_rules import broadcast, check_size, size_of
from .ir import CONST, INPUT, Program, quote
from .primitives import BY_NAME, COMPARISON_NAMES

WEAK = "weak"  # a Python number: takes the dtype of what it meets
# Ops that need one element or more: there is no mean or max of nothing (a sum is 0).
_NEED_ELEMENTS = ("mean", "amax", "amin", "logsumexp", "softmax", "log_softmax")


@dataclass(frozen=True, slots=True)
class Spec:
    shape: tuple[int, ...]
    dtype: str  # "float64", "float32", "bool" or WEAK


def axis_of(program: Program, op_id: int) -> int | None:
    """The axis argument of an op of a primitive with one (None: all axes / not given)."""
    op = program.ops[op_id]
    primitive = BY_NAME[op.prim]
    if primitive.axis and len(op.args) > primitive.arity:
        return int(program.ops[op.args[-1]].value)
    return None


def operands(program: Program, op_id: int) -> tuple[int, ...]:
    """The op's array operands: its arguments without a trailing axis or parameters."""
    op = program.ops[op_id]
    primitive = BY_NAME[op.prim]
    if (primitive.axis or primitive.params) and len(op.args) > primitive.arity:
        return op.args[: primitive.arity]
    return op.args


def params_of(program: Program, op_id: int) -> tuple[int, ...]:
    """The whole-number parameters of an op of a row with some (conv2d's stride, padding)."""
    op = program.ops[op_id]
    return tuple(int(program.ops[a].value) for a in op.args[BY_NAME[op.prim].arity :])


def element_count(shape: tuple[int, ...], axis: int | None) -> int:
    """How many elements a reduction over `axis` of `shape` (None: every axis) takes."""
    return size_of(shape if axis is None else (shape[axis],))


def _dtype(dtypes: list[str]) -> str:
    floats = [d for d in dtypes if d not in (WEAK, "bool")]
    if not floats:
        return WEAK
    return "float64" if "float64" in floats else "float32"


def infer(program: Program, inputs: dict[str, Spec]) -> list[Spec]:
    """Shape and dtype of every op, given each input's (by formula name)."""
    specs: list[Spec] = []
    working = _dtype([s.dtype for s in inputs.values()])  # the float dtype of the whole
    working = working if working != WEAK else "float64"
    for i, op in enumerate(program.ops):
        if op.prim == INPUT:
            specs.append(inputs[op.name])
            continue
        if op.prim == CONST:
            specs.append(Spec((), WEAK))
            continue
        primitive = BY_NAME[op.prim]
        args = operands(program, i)
        shapes = [specs[a].shape for a in args]
        try:
            if primitive.params is not None:
                shape = primitive.shape(shapes, params_of(program, i))
            elif primitive.shape is not None:
                shape = primitive.shape(shapes, axis_of(program, i))
            else:
                shape = broadcast(shapes)
            check_size(shape, "the result")
        except ShapeError as error:
            raise _shape_error(program, i, str(error), shapes) from None
        if op.prim in COMPARISON_NAMES:
            dtype = "bool"
        elif op.prim == "where":
            dtype = _dtype([specs[a].dtype for a in args[1:]])
        elif op.prim == "count":
            dtype = WEAK  # written as the number it is
        elif op.prim == "sum" and specs[args[0]].dtype == "bool":
            dtype = working
        else:
            dtype = _dtype([specs[a].dtype for a in args])
        if dtype == WEAK and op.prim != "count":  # computed from constants alone
            dtype = working
        specs.append(Spec(shape, dtype))
    return specs


def _shape_error(program: Program, i: int, message: str, shapes: list) -> FormulaError:
    op = program.ops[i]
    text = quote(program.source, op) or op.prim
    detail = "operand shapes " + ", ".join(str(s) for s in shapes)
    if op.in_gradient:
        text = f"the gradient of {text}"
    return FormulaError(
        f"{message} in {text}",
        program.source,
        op.span or Span(0, len(program.source)),
        detail=detail,
    )


def check_elements(program: Program, specs: list[Spec]) -> None:
    """A mean, max or softmax over an empty axis is a ShapeError naming the op, its place
    and the shape, before any code runs (a sum of nothing is 0: fine). The forward ops
    come first in every program, with these specs: checking them is enough."""
    for i, op in enumerate(program.ops):
        if op.prim not in _NEED_ELEMENTS:
            continue
        shape = specs[op.args[0]].shape
        axis = axis_of(program, i)
        if element_count(shape, axis) > 0:
            continue
        over = "of an empty array" if axis is None else f"over axis {axis}, of length 0,"
        raise ShapeError(
            f"{op.prim}() {over} in {quote(program.source, op) or op.prim}",
            program.source,
            op.span or Span(0, len(program.source)),
            detail=f"operand shape {shape}",
            hint="a sum of nothing is 0; a mean, max or softmax of nothing is undefined",
        )
