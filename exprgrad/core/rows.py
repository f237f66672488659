"""A formula summed over rows -> the program whose per-chunk values add up to its value.

Data inputs (the Dask arrays of exprgrad.dask) hold one example per row along their
first axis, and arrive in chunks of rows. The formula's value over all the rows is the
sum of per-chunk values only when the value is a sum (or mean) over the rows of an
expression that treats each row on its own, combined linearly: sum(softplus(X @ w) -
y * (X @ w)), mean((X @ w - y)**2) + lam * norm2(w), sum(a) - 2 * sum(b). This pass
proves that from the IR and the shapes, op by op, tracking where each value keeps its
rows:

    param   depends on no data: the same in every chunk
    rows    one row per data row, along axis `axis` (its row i depends on data row i only)
    total   a sum over rows, combined linearly: the chunks' values add up to the whole's

and refuses, naming the op, anything else: a max, a product or a square of sums over
rows, a mean over rows subtracted from each row, a softmax across rows, a parameter as
long as the rows. Two rewrites make per-chunk values add up: a mean over rows divides
by the count of all the rows (an input, `rows`), not the chunk's; a parameter-only term
added to a total is weighted by the chunk's share of the rows (an input, `share`), so
that the shares add up to 1 across chunks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from ..errors import FormulaError, Span
from .ir import CONST, INPUT, Builder, Program, quote
from .primitives import BY_NAME
from .shapes import Spec, axis_of, operands

PARAM = "param"
ROWS = "rows"
TOTAL = "total"

_ROW_REDUCTIONS = ("sum", "mean", "norm2")  # over the rows: a total
_LINEAR_ELEMENTWISE = ("add", "sub", "neg")  # of totals (and of weighted parameters)
_ADDITIVE = ("add", "sub")


@dataclass(frozen=True, slots=True)
class State:
    kind: str  # PARAM, ROWS or TOTAL
    axis: int = 0  # ROWS: the axis along which the rows run


@dataclass(frozen=True, slots=True)
class ChunkProgram:
    """program's value for one chunk, summed over the chunks, is the formula's value."""

    program: Program  # inputs: the formula's, then `rows` and `share`
    rows: str  # input: the number of rows of all the chunks together (a float)
    share: str  # input: this chunk's rows / all the rows


def per_chunk(program: Program, specs: list[Spec], data: Collection[str]) -> ChunkProgram:
    """The forward program rewritten for chunks of rows of the data inputs, or a
    FormulaError saying why its value is not a sum over rows. specs: the shape pass's
    result for one chunk (every data input with its rows on axis 0)."""
    states = classify(program, specs, data)
    value = states[program.value]
    if value.kind != TOTAL:
        op = program.ops[program.value]
        what = (
            "does not depend on the data inputs"
            if value.kind == PARAM
            else "is a value per row, not a sum over the rows"
        )
        raise _refuse(program, op, f"the formula's value {what}", _NAMES.format(", ".join(data)))
    return _rewrite(program, specs, states)


_NAMES = "data inputs (the Dask arrays, chunked along their rows): {}"
_LONG_PARAMETER = (
    "{} is not chunked but has an axis along the rows: pass it as a Dask array chunked "
    "like the other data"
)
_HINT = "sum(...) or mean(...) over the rows of an expression of each row on its own"


def classify(program: Program, specs: list[Spec], data: Collection[str]) -> list[State]:
    """Each op's State; a FormulaError at the first op that breaks the row structure."""
    states: list[State] = []
    for i, op in enumerate(program.ops):
        if op.prim == INPUT:
            if op.name in data:
                if specs[i].shape == ():
                    raise _refuse(program, op, f"data input {op.name!r} has no rows (a scalar)")
                states.append(State(ROWS, 0))
            else:
                states.append(State(PARAM))
            continue
        if op.prim == CONST:
            states.append(State(PARAM))
            continue
        args = operands(program, i)
        kinds = {states[a].kind for a in args}
        if kinds == {PARAM}:
            states.append(State(PARAM))
        elif TOTAL in kinds and ROWS in kinds:
            raise _refuse(program, op, "mixes each row with a sum over all the rows", detail=_HINT)
        elif TOTAL in kinds:
            states.append(_of_totals(program, specs, states, i))
        else:
            states.append(_of_rows(program, specs, states, i))
    return states


def _of_rows(program: Program, specs: list[Spec], states: list[State], i: int) -> State:
    op = program.ops[i]
    primitive = BY_NAME[op.prim]
    args = operands(program, i)
    rank = len(specs[i].shape)
    if primitive.shape is None:  # elementwise, broadcasting: operands align on the right
        axes = set()
        for a in args:
            shape = specs[a].shape
            shift = rank - len(shape)
            if states[a].kind == ROWS:
                axes.add(states[a].axis + shift)
        if len(axes) > 1:
            raise _refuse(program, op, "lines up the rows of one operand with another axis")
        (axis,) = axes
        for a in args:  # a parameter as long as the rows would have to be chunked too
            shape = specs[a].shape
            k = axis - (rank - len(shape))
            if states[a].kind == PARAM and 0 <= k < len(shape) and shape[k] != 1:
                raise _refuse(program, op, _LONG_PARAMETER.format(_named(program, a)))
        return State(ROWS, axis)
    if op.prim == "matmul":
        return _matmul(program, specs, states, i)
    if op.prim in _PER_IMAGE:
        return _per_image(program, specs, states, i)
    if op.prim == "transpose":
        return State(ROWS, rank - 1 - states[args[0]].axis)
    axis = states[args[0]].axis
    if primitive.axis:
        given = axis_of(program, i)
        reduced = None if given is None else given % len(specs[args[0]].shape)
        if op.prim in ("softmax", "log_softmax"):
            if reduced == axis:
                raise _refuse(program, op, f"{op.prim} across the rows couples them", _HINT)
            return State(ROWS, axis)
        if reduced is None or reduced == axis:
            if op.prim in _ROW_REDUCTIONS:
                return State(TOTAL)
            raise _refuse(program, op, f"{op.prim} over the rows is not a sum over them", _HINT)
        return State(ROWS, axis - (reduced < axis))
    if op.prim == "norm2":
        return State(TOTAL)
    raise _refuse(program, op, f"{op.prim} of values per row", _HINT)


# Rows that compute each image (axis 0 of an NCHW batch) on its own.
_PER_IMAGE = ("conv2d", "maxpool2d", "avgpool2d", "flatten")


def _per_image(program: Program, specs: list[Spec], states: list[State], i: int) -> State:
    """conv2d of images by filters that are parameters, a pool over windows of the last two
    axes, flatten keeping axis 0: each row's result depends on that row alone."""
    op = program.ops[i]
    x, *others = operands(program, i)
    rank = len(specs[x].shape)
    axis = states[x].axis if states[x].kind == ROWS else None
    if any(states[a].kind != PARAM for a in others):
        raise _refuse(program, op, "conv2d's filters depend on the rows", _HINT)
    if op.prim in ("conv2d", "flatten") and axis != 0:
        raise _refuse(program, op, f"{op.prim} mixes the rows (they are not axis 0)", _HINT)
    if axis is None or (axis >= rank - 2 and op.prim != "flatten"):
        raise _refuse(program, op, f"{op.prim}'s windows run across the rows", _HINT)
    return State(ROWS, axis)


def refuse_reshapes(program: Program, data: Collection[str]) -> None:
    """A reshape of values per row is not computed chunk by chunk (flatten keeps the rows):
    refused before the shape pass, which would see one chunk's rows, not the data's."""
    depends = [False] * len(program.ops)
    for i, op in enumerate(program.ops):
        depends[i] = (op.prim == INPUT and op.name in data) or any(depends[a] for a in op.args)
        if op.prim == "reshape" and depends[i]:
            raise _refuse(
                program, op, "reshape of values per row", "flatten(X) keeps the rows on axis 0"
            )


def _matmul(program: Program, specs: list[Spec], states: list[State], i: int) -> State:
    """left @ right: left's last axis meets right's first (a 1-D right's only one)."""
    op = program.ops[i]
    left, right = operands(program, i)
    left_rank = len(specs[left].shape)
    left_rows = states[left].axis if states[left].kind == ROWS else None
    right_rows = states[right].axis if states[right].kind == ROWS else None
    left_met = left_rows == left_rank - 1
    right_met = right_rows == 0
    if left_met and right_met:  # a sum over the rows of products of rows: y @ X
        return State(TOTAL)
    if left_met or right_met:
        other = right if left_met else left
        raise _refuse(program, op, _LONG_PARAMETER.format(_named(program, other)))
    if left_rows is not None and right_rows is not None:
        raise _refuse(program, op, "@ pairs every row with every other", _HINT)
    if left_rows is not None:
        return State(ROWS, left_rows)
    return State(ROWS, left_rank - 1 + right_rows - 1)


def _of_totals(program: Program, specs: list[Spec], states: list[State], i: int) -> State:
    """Ops on totals that keep the chunks' values adding up: sums and differences,
    scaling by parameters, reductions, transposes, @ with parameters."""
    op = program.ops[i]
    args = operands(program, i)
    totals = [a for a in args if states[a].kind == TOTAL]
    linear = (
        op.prim in _LINEAR_ELEMENTWISE
        or op.prim in ("sum", "mean", "transpose")
        or (op.prim in ("mul", "matmul") and len(totals) == 1)
        or (op.prim == "div" and totals == [args[0]])
        or (op.prim == "where" and states[args[0]].kind == PARAM)
    )
    if not linear:
        name = BY_NAME[op.prim].symbol or op.prim
        raise _refuse(program, op, f"{name} of a sum over rows is not a sum over rows", _HINT)
    return State(TOTAL)


def _named(program: Program, i: int) -> str:
    op = program.ops[i]
    return repr(op.name) if op.prim == INPUT else quote(program.source, op) or "an operand"


def _refuse(program: Program, op, message: str, detail: str | None = None) -> FormulaError:
    text = quote(program.source, op)
    where = f" in {text}" if text else ""
    return FormulaError(
        f"not a sum over rows: {message}{where}",
        program.source,
        op.span or Span(0, len(program.source)),
        detail=detail,
        hint="the value over chunks of rows is summed from each chunk's value",
    )


def _rewrite(program: Program, specs: list[Spec], states: list[State]) -> ChunkProgram:
    taken = set(program.inputs)
    rows_name = _fresh("rows", taken)
    share_name = _fresh("share", taken | {rows_name})
    builder = Builder()
    new_id: list[int] = []
    rows_input = share_input = None
    for i, op in enumerate(program.ops):
        args = [new_id[a] for a in op.args]
        if op.prim == "mean" and states[i] == State(TOTAL) and states[op.args[0]].kind == ROWS:
            # mean over rows -> sum / (all the rows * the other elements of each row)
            x = op.args[0]
            per_row = 1
            given = axis_of(program, i)
            if given is None:
                shape = specs[x].shape
                for k, n in enumerate(shape):
                    if k != states[x].axis:
                        per_row *= n
            if rows_input is None:
                rows_input = builder.input(rows_name)
            total = builder.add(replace(op, prim="sum", name=None), tuple(args))
            count = rows_input
            if per_row != 1:
                count = builder.op("mul", rows_input, builder.const(per_row), span=op.span)
            new_id.append(builder.op("div", total, count, span=op.span, name=op.name))
            continue
        if states[i].kind == TOTAL and op.prim in _ADDITIVE + ("where",):
            for position, a in enumerate(op.args):
                if states[a].kind != PARAM or (op.prim == "where" and position == 0):
                    continue
                if share_input is None:
                    share_input = builder.input(share_name)
                args[position] = builder.op("mul", args[position], share_input, span=op.span)
        new_id.append(builder.add(op, tuple(args)))
    extra = tuple(
        name for name, made in ((rows_name, rows_input), (share_name, share_input)) if made
    )
    rewritten = program.remap(builder.ops, new_id)
    rewritten = replace(rewritten, inputs=program.inputs + extra)
    return ChunkProgram(rewritten, rows_name, share_name)


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name
