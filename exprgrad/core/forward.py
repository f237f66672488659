"""IR -> IR forward mode: tangents from the same derivative rules as reverse mode.

Each rule of the table is g * d(out)/d(argument), linear in g. Reverse mode
binds g to the op's adjoint; forward mode binds it to the argument's tangent
and sums over the arguments:

    tangent(out) = sum over k of rule_k(g = tangent(argument k))

so there is no second table (min/max's Python rule is called the same way).
Only ops that depend on a seeded input get a tangent, and the result is IR
again, so codegen writes it like any other program and `where` keeps its
lazy semantics: where(c, a, b)'s tangent is where(c, tangent a, tangent b), so
the tangent of the branch not taken is neither used nor, when it may fail,
computed (regions.py places it inside the branch).

Kinks follow the gradient's conventions, since the rules are the same: the
gradients of relu, abs, min, max and clip are piecewise constant, so their own
second derivatives are 0, kinks included; at a kink the Hessian differentiates
the gradient as it stands there: relu' and abs' are 0 at 0 (relu(x)*x and
abs(x)*x: 0 at 0), and a tie of min/max averages the tied arguments (max(x*x,
2*x) at x = 2: (2 + 0)/2 = 1).

Arrays (arrays=True, the numpy backend) differ twice. An array row's reverse
rule is an adjoint, not a tangent map (sum's is expand(g), its tangent sum(g)):
such a row gives its tangent map in the table's `tangents` field, which forward
mode takes before `grads`. And an operand that broadcasts (x of shape (3,) plus
y of shape (4, 3)) gives a tangent of its own, smaller shape: an elementwise
op of two or more operands wraps its tangent in expand(tangent, op), the op's
shape (a plain name where the shapes already match), so that every tangent has
its op's shape and a later reduction reduces what it should. Both branches of
a where are computed element by element, so there are no regions (reverse.py).

Built from it: a jvp program (tangent inputs beside the formula's), a
Hessian-vector product (forward over the reverse-mode gradient program), the
Hessian (one tangent pass per input, lower triangle mirrored, so it is
symmetric by construction) and a Jacobian of several outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from ..errors import ArgumentValueError
from . import regions
from .ir import CONST, INPUT, Builder, Program
from .primitives import BY_NAME
from .reverse import RuleOps, apply_rule


def _is_zero(builder: Builder, op_id: int) -> bool:
    op = builder.ops[op_id]
    return op.prim == CONST and op.value == 0.0


def _add(builder: Builder, ops: RuleOps, x: int, y: int) -> int:
    """x + y, where where(c, a, 0) + where(c, 0, b) is where(c, a, b): one op, and the
    tangent of where keeps the shape of where."""
    a, b = builder.ops[x], builder.ops[y]
    if a.prim == b.prim == "where" and a.args[0] == b.args[0]:
        if _is_zero(builder, a.args[2]) and _is_zero(builder, b.args[1]):
            return ops.op("where", a.args[0], a.args[1], b.args[2])
        if _is_zero(builder, a.args[1]) and _is_zero(builder, b.args[2]):
            return ops.op("where", a.args[0], b.args[1], a.args[2])
    return ops.op("add", x, y)


def tangents(
    builder: Builder,
    program: Program,
    needed: Sequence[regions.Region],
    seeds: Mapping[int, int],
    simplify: Callable[..., int] | None = None,
    *,
    arrays: bool = False,
) -> dict[int, int]:
    """Append to `builder` (which holds program's ops at the same ids) the tangent of
    every op that depends on a seeded one; return op id -> tangent id (no entry: 0).

    seeds: op id (an input) -> id of its tangent. needed: regions.need(program), so that
    a rule inside a branch of where knows the branch's conditions, as in reverse mode
    (arrays: a None per op). arrays: the table's tangent maps, broadcasting undone.
    """
    tangent = dict(seeds)
    for i, op in enumerate(program.ops):
        if i in tangent or op.prim in (INPUT, CONST):
            continue
        moving = [k for k, arg in enumerate(op.args) if arg in tangent]
        if not moving:
            continue
        primitive = BY_NAME[op.prim]
        rules = primitive.grads
        if arrays and primitive.tangents is not None:
            rules = primitive.tangents
        if rules is None:
            raise ArgumentValueError(f"{op.prim} has no derivative rule for forward mode")
        ops = RuleOps(builder, op.span, regions.known_conditions(needed[i]), simplify)
        total = None
        for k in moving:
            g = tangent[op.args[k]]
            if callable(rules):
                part = rules(ops, op.args, i, g)[k]
            elif rules[k] is None:
                continue  # a condition, a constant exponent: no derivative
            else:
                part = apply_rule(rules[k], op.args, i, g, ops)
            if part is None:
                continue  # an operand that gives only a shape (expand's `like`)
            total = part if total is None else _add(builder, ops, total, part)
        if total is not None:
            if arrays and primitive.shape is None and _broadcasts(program, op.args):
                total = ops.op("expand", total, i)  # back to the op's shape
            tangent[i] = total
    return tangent


def _broadcasts(program: Program, args: Sequence[int]) -> bool:
    """May an operand of an elementwise op be smaller than the result? Only where two or
    more operands are arrays (a constant is a number)."""
    return sum(program.ops[a].prim != CONST for a in args) > 1


def tangent_names(inputs: Sequence[str], names: Sequence[str]) -> tuple[str, ...]:
    """Names for the tangents of `names` (a_dot for a) that no input has. Distinct names
    stay distinct in the generated code, whose renaming (emit.mangle) is injective."""
    taken = set(inputs)
    chosen = []
    for name in names:
        candidate, count = f"{name}_dot", 1
        while candidate in taken:
            count += 1
            candidate = f"{name}_dot{count}"
        taken.add(candidate)
        chosen.append(candidate)
    return tuple(chosen)


def _tangent_inputs(
    builder: Builder, program: Program, wrt: Sequence[str]
) -> tuple[dict[int, int], tuple[str, ...]]:
    ids = program.input_ids()
    names = tangent_names(program.inputs, wrt)
    seeds = {ids[name]: builder.input(t) for name, t in zip(wrt, names, strict=True)}
    return seeds, names


def _needed(program: Program, arrays: bool) -> Sequence[regions.Region]:
    if arrays:  # both branches of a where are computed (see reverse.py)
        return [None] * len(program.ops)
    return regions.need(program, regions.Guards())


def jvp_program(
    program: Program,
    wrt: Sequence[str],
    simplify: Callable[..., int] | None = None,
    *,
    arrays: bool = False,
) -> Program:
    """The program with a tangent input for each name in wrt (named by tangent_names,
    after the formula's inputs) and grads {"tangent": d value in that direction}; for
    arrays, in the value's shape (a zero tangent too)."""
    builder = Builder(program.ops)
    seeds, names = _tangent_inputs(builder, program, wrt)
    needed = _needed(program, arrays)
    found = tangents(builder, program, needed, seeds, simplify, arrays=arrays)
    tangent = found.get(program.value, builder.const(0.0))
    if arrays:  # a zero tangent too has the value's shape
        tangent = builder.op("expand", tangent, program.value, in_gradient=True)
    return Program(
        tuple(builder.ops),
        program.source,
        program.inputs + names,
        program.value,
        {"tangent": tangent},
        program.grad_of,
    )


def hvp_program(
    gradient: Program,
    wrt: Sequence[str],
    simplify: Callable[..., int] | None = None,
    *,
    arrays: bool = False,
) -> Program:
    """Forward over reverse: the tangent of the gradient program (reverse.differentiate's
    output, made with the same `arrays`) in the direction of tangent inputs, grads
    {name: (H v)[name]} for wrt."""
    builder = Builder(gradient.ops)
    seeds, names = _tangent_inputs(builder, gradient, wrt)
    needed = _needed(gradient, arrays)
    found = tangents(builder, gradient, needed, seeds, simplify, arrays=arrays)
    zero = builder.const(0.0)
    products = {name: found.get(gradient.grads[name], zero) for name in wrt}
    return Program(
        tuple(builder.ops),
        gradient.source,
        gradient.inputs + names,
        gradient.value,
        products,
        gradient.grad_of,
    )


class TooLarge(Exception):  # noqa: N818 (a way out, turned into FormulaError by the caller)
    """More ops than the caller's limit, before the passes are done: .program holds them."""

    def __init__(self, program: Program):
        super().__init__(f"{len(program.ops):,} operations")
        self.program = program


def columns(
    program: Program,
    outputs: Sequence[int],
    wrt: Sequence[str],
    simplify: Callable[..., int] | None = None,
    *,
    lower_triangle: bool = False,
    limit: int | None = None,
) -> tuple[Builder, list[list[int]]]:
    """d outputs[r] / d wrt[c] for every r, c: one tangent pass per input, seeded with 1.
    lower_triangle: only r >= c is computed, and [c][r] is the same op (a Hessian).
    limit: raise TooLarge as soon as the builder holds more ops (dead ones included)."""
    builder = Builder(program.ops)
    ids = program.input_ids()
    needed = regions.need(program, regions.Guards())
    zero, one = builder.const(0.0), builder.const(1.0)
    matrix = [[zero] * len(wrt) for _ in outputs]
    for c, name in enumerate(wrt):
        if limit is not None and len(builder.ops) > limit:
            raise TooLarge(replace(program, ops=tuple(builder.ops)))
        found = tangents(builder, program, needed, {ids[name]: one}, simplify)
        for r in range(c if lower_triangle else 0, len(outputs)):
            matrix[r][c] = found.get(outputs[r], zero)
            if lower_triangle:
                matrix[c][r] = matrix[r][c]
    return builder, matrix


def matrix_program(program: Program, builder: Builder, matrix: list[list[int]], keys) -> Program:
    """A program whose outputs (grads) are the matrix entries, keyed "row,column"."""
    rows, cols = keys
    entries = {f"{r},{c}": matrix[i][j] for i, r in enumerate(rows) for j, c in enumerate(cols)}
    value = matrix[0][0] if matrix and matrix[0] else program.value
    return Program(
        tuple(builder.ops), program.source, program.inputs, value, entries, program.grad_of
    )


def hessian_program(
    gradient: Program,
    wrt: Sequence[str],
    simplify: Callable[..., int] | None = None,
    limit: int | None = None,
) -> Program:
    """d2 value / d wrt[r] d wrt[c], keyed "r,c" (row-major), from the gradient program:
    the tangent of its gradient outputs, one pass per input. Only r >= c is differentiated;
    entry [c][r] is the very op of [r][c], so the matrix is symmetric by construction."""
    outputs = [gradient.grads[name] for name in wrt]
    builder, matrix = columns(gradient, outputs, wrt, simplify, lower_triangle=True, limit=limit)
    return matrix_program(gradient, builder, matrix, (wrt, wrt))
