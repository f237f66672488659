"""IR -> IR passes: constant folding with algebraic simplification, and dead-code elimination.

Both passes are one loop over the op list. Folding re-emits every op through
a hash-consing Builder, so it also merges subexpressions that became equal
(x*1 and x) and common subexpression elimination comes for free.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import replace

from ..backends.python.helpers import runtime_namespace
from .ir import CONST, INPUT, Builder, Op, Program
from .primitives import BY_NAME


@functools.cache
def evaluator(prim: str, arity: int) -> Callable[..., float]:
    """A Python function computing one primitive, made from its table template."""
    params = [f"v{i}" for i in range(arity)]
    body = BY_NAME[prim].emit_python(params)
    # The template is ours (primitives.py), never formula text.
    return eval(f"lambda {', '.join(params)}: {body}", runtime_namespace())  # noqa: S307


def _fold(prim: str, values: list[float]) -> float | None:
    primitive = BY_NAME[prim]
    if primitive.arrays and (not primitive.python or len(values) != primitive.arity):
        # no value at a number (softmax, @), or an axis a number lacks: left for the
        # shape pass, which names the op
        return None
    try:
        result = evaluator(prim, len(values))(*values)
    except (ArithmeticError, ValueError):
        return None  # left in place: it fails at run time, where the error can name its position
    return float(result)  # comparisons give bool; every other primitive a float


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


def simplify(builder: Builder, op: Op, args: tuple[int, ...]) -> int:
    """The id of a value equal to op(args): a constant, an operand, a cheaper op, or op itself."""
    consts = [builder.ops[a].value if builder.is_const(a) else None for a in args]
    if None not in consts:
        folded = _fold(op.prim, consts)
        if folded is not None:
            return builder.const(folded)

    def rewrite(prim: str, *new_args: int) -> int:
        return simplify(builder, replace(op, prim=prim), new_args)

    # Each identity holds bit for bit for every IEEE operand, signed zeros, inf and nan
    # included: x + (-0.0) is x, but x + 0.0 turns -0.0 into 0.0, and 0.0 - x is not -x
    # at x = 0.0. A rewrite that changed one bit would change results such as atan2's.
    prim, c = op.prim, consts
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
    new = builder.add(op, args)
    if op.name is not None:
        builder.give_name(new, op.name)
    return new


def fold_constants(program: Program) -> Program:
    """Evaluate constant subexpressions and apply identities (x*1, x+0, --x, x**1, ...)."""
    builder = Builder()
    new_id: list[int] = []
    for op in program.ops:
        if op.prim in (INPUT, CONST):
            new_id.append(builder.add(op, ()))
        else:
            new_id.append(simplify(builder, op, tuple(new_id[a] for a in op.args)))
    return program.remap(builder.ops, new_id)


def eliminate_dead_code(program: Program) -> Program:
    """Drop ops no output depends on; inputs always stay (they are the signature)."""
    live = [op.prim == INPUT for op in program.ops]
    for output in program.outputs():
        live[output] = True
    for i in reversed(range(len(program.ops))):
        if live[i]:
            for arg in program.ops[i].args:
                live[arg] = True
    new_id: dict[int, int] = {}
    ops: list[Op] = []
    for i, op in enumerate(program.ops):
        if live[i]:
            new_id[i] = len(ops)
            ops.append(op.with_args(tuple(new_id[a] for a in op.args)))
    return program.remap(ops, new_id)


def optimize(program: Program) -> Program:
    return eliminate_dead_code(fold_constants(program))
