"""IR -> IR passes: constant folding with algebraic simplification, and dead-code elimination.

Both passes are one loop over the op list. Folding re-emits every op through
a hash-consing Builder, so it also merges subexpressions that became equal
(x*1 and x) and common subexpression elimination comes for free.

Folding computes a constant op with an `evaluate` function the caller gives
(the pipeline gives the Python backend's, so a folded constant is the number the
generated Python code would compute): the core knows no backend.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from .ir import CONST, INPUT, Builder, Op, Program
from .primitives import BY_NAME

# prim, its operands' values -> its value (None: it has none at numbers, as softmax);
# raises ArithmeticError or ValueError where the primitive fails (log(-1))
Evaluate = Callable[[str, Sequence[float]], "float | bool | None"]
# what reverse and forward mode pass each new op through: builder, op, operand ids -> id
Fold = Callable[[Builder, Op, tuple[int, ...]], int]


def folding(evaluate: Evaluate) -> Fold:
    """simplify() with its evaluator bound: the `fold` every pass takes."""
    return functools.partial(_simplify, evaluate)  # (bound by position: a quicker call)


def _fold(prim: str, values: list[float], evaluate: Evaluate) -> float | None:
    primitive = BY_NAME[prim]
    if primitive.arrays and len(values) != primitive.arity:
        return None  # an axis a number lacks: left for the shape pass, which names the op
    try:
        result = evaluate(prim, values)
    except (ArithmeticError, ValueError):
        return None  # left in place: it fails at run time, where the error can name its position
    # comparisons give bool; every other primitive a float (None: no value at a number)
    return None if result is None else float(result)


def _may_fail(builder: Builder, op_id: int) -> bool:
    """Can computing this op raise for some float inputs (a domain error, overflow, a
    division by zero), here or in what it is computed from? A rewrite that drops an
    operand must not drop such an error: where(log(x) > 0, a, a) is undefined at x = -1."""
    known: list[bool] = builder.__dict__.setdefault("_may_fail", [])
    for op in builder.ops[len(known) : op_id + 1]:
        own = op.prim not in (INPUT, CONST) and BY_NAME[op.prim].may_raise
        known.append(own or any(known[a] for a in op.args))
    return known[op_id]


def _is_negative_zero(value: float | None) -> bool:
    return value == 0.0 and math.copysign(1.0, value) < 0.0


def _is_positive_zero(value: float | None) -> bool:
    return value == 0.0 and math.copysign(1.0, value) > 0.0


# the primitives simplify() has identities for; any other op is folded or kept as it is
_IDENTITIES = frozenset({"add", "sub", "mul", "div", "neg", "pow", "powi", "where"})
_OF_OPERANDS = frozenset({"neg", "where"})  # the ones that apply without a constant operand


def simplify(builder: Builder, op: Op, args: tuple[int, ...], evaluate: Evaluate) -> int:
    """The id of a value equal to op(args): a constant, an operand, a cheaper op, or op itself."""
    return _simplify(evaluate, builder, op, args)


def _simplify(evaluate: Evaluate, builder: Builder, op: Op, args: tuple[int, ...]) -> int:
    ops = builder.ops
    prim = op.prim
    if args and prim not in _OF_OPERANDS:  # most ops: no constant operand, nothing to do
        for a in args:
            if ops[a].prim == CONST:
                break
        else:
            new = builder.add(op, args)
            if op.name is not None:
                builder.give_name(new, op.name)
            return new
    consts = [ops[a].value if ops[a].prim == CONST else None for a in args]
    if None not in consts:
        folded = _fold(prim, consts, evaluate)
        if folded is not None:
            return builder.const(folded)
    if prim in _IDENTITIES and (consts.count(None) < len(consts) or prim in _OF_OPERANDS):
        found = _identity(builder, op, args, consts, evaluate)
        if found is not None:
            return found
    new = builder.add(op, args)
    if op.name is not None:
        builder.give_name(new, op.name)
    return new


def _identity(
    builder: Builder, op: Op, args: tuple[int, ...], c: list, evaluate: Evaluate
) -> int | None:
    """simplify()'s rewrites: the id of a simpler value equal to op(args), or None."""

    def rewrite(prim: str, *new_args: int) -> int:
        return simplify(builder, replace(op, prim=prim), new_args, evaluate)

    # Each identity holds bit for bit for every IEEE operand, signed zeros, inf and nan
    # included: x + (-0.0) is x, but x + 0.0 turns -0.0 into 0.0, and 0.0 - x is not -x
    # at x = 0.0. A rewrite that changed one bit would change results such as atan2's.
    prim = op.prim
    if prim == "add":
        if _is_negative_zero(c[1]):
            return args[0]
        if _is_negative_zero(c[0]):
            return args[1]
    elif prim == "sub":
        if _is_positive_zero(c[1]):
            return args[0]
        if _is_negative_zero(c[0]):
            return rewrite("neg", args[1])
    elif prim == "mul":
        for mine, other in ((0, 1), (1, 0)):
            if c[mine] == 1.0:
                return args[other]
            if c[mine] == -1.0:
                return rewrite("neg", args[other])
    elif prim == "div":
        if c[1] == 1.0:
            return args[0]
        if c[1] == -1.0:
            return rewrite("neg", args[0])
    elif prim == "neg":
        inner = builder.ops[args[0]]
        if inner.prim == "neg":
            return inner.args[0]
    elif prim in ("pow", "powi"):
        exponent = c[1]
        if exponent == 1.0:
            return args[0]
        if exponent == 0.0 and not _may_fail(builder, args[0]):
            return builder.const(1.0)  # x**0 is 1 for every x, nan included
        if prim == "pow" and exponent is not None and exponent.is_integer():
            return rewrite("powi", *args)  # a whole exponent can't go complex: use plain **
    elif prim == "where":
        if c[0] is not None:
            return args[1] if c[0] else args[2]
        if args[1] == args[2] and not _may_fail(builder, args[0]):
            return args[1]
    return None


def fold_constants(program: Program, fold: Fold) -> Program:
    """Evaluate constant subexpressions and apply identities (x*1, x+0, --x, x**1, ...):
    every op passed through fold (folding(evaluate))."""
    if _folds_nothing(program, fold):
        return program  # (no copy of a large program)
    builder = Builder()
    new_id: list[int] = []
    for op in program.ops:
        if op.prim in (INPUT, CONST):
            new_id.append(builder.add(op, ()))
        else:
            new_id.append(fold(builder, op, tuple(map(new_id.__getitem__, op.args))))
    return program.remap(builder.ops, new_id)


def _folds_nothing(program: Program, fold: Fold) -> bool:
    """Would simplify() keep every op as it is? It is asked itself, op by op, on a probe
    builder that answers what it reads and stops it where it would make or find another
    op than the one asked about (a 500,000-op graph with a constant in every other op is
    asked in a fifth of the time folding takes). An op it adds as it is finds no equal op
    in a program a Builder made (hash-consed already). Another fold is never skipped."""
    if getattr(fold, "func", None) is not _simplify:
        return False
    probe = _Probe(program.ops)
    try:
        for op in program.ops:
            if op.prim != INPUT and op.prim != CONST:
                probe.asked = op
                if fold(probe, op, op.args) is not _KEPT:
                    return False  # an operand or another op stands for it
    except _Rewritten:
        return False
    return True


_KEPT = -1  # what the probe answers for the op asked about, added as it is


class _Rewritten(Exception):
    """simplify() would make an op (a constant, a cheaper op): the program changes."""


class _Probe:
    """A builder for simplify() to be asked on: the program's ops to read (and
    _may_fail's record), the op asked about kept as it is, any other op refused."""

    def __init__(self, ops: Sequence[Op]):
        self.ops = ops
        self.asked: Op | None = None

    def add(self, op: Op, args: tuple[int, ...]) -> int:
        if op is self.asked and args == op.args:
            return _KEPT
        raise _Rewritten

    def const(self, value: float) -> int:
        raise _Rewritten

    def give_name(self, op_id: int, name: str) -> None:
        pass  # (the op asked about keeps its own name)


def eliminate_dead_code(program: Program) -> Program:
    """Drop ops no output depends on; inputs always stay (they are the signature)."""
    program_ops = program.ops
    count = len(program_ops)
    live = [op.prim == INPUT for op in program_ops]
    for output in program.outputs():
        live[output] = True
    for i, op in zip(range(count - 1, -1, -1), reversed(program_ops), strict=True):
        if live[i]:
            for arg in op.args:
                live[arg] = True
    if all(live):
        return program  # nothing to drop: no copy of a large program
    first = live.index(False)  # before the first op dropped, every op stays as it is
    new_id: list[int | None] = [*range(first), *[None] * (count - first)]
    ops: list[Op] = list(program_ops[:first])
    for i in range(first + 1, count):
        if live[i]:
            op = program_ops[i]
            new_id[i] = len(ops)
            ops.append(op.with_args(tuple(map(new_id.__getitem__, op.args))))
    return program.remap(ops, new_id)


def optimize(program: Program, fold: Fold) -> Program:
    return eliminate_dead_code(fold_constants(program, fold))
