"""IR -> IR reverse-mode differentiation: the gradient program is IR again.

Walks the ops backwards once, giving each value that depends on a
differentiated input an adjoint (d value / d that value). Each primitive's
rule (a short formula in primitives.py) is parsed once and spliced into the
program with the op's operands, result and adjoint bound to x, y, z, out, g.
The result is ordinary IR, so it is optimized, printed and differentiated
again (for Hessians) like any other program. Values that do not depend on a
differentiated input get no adjoint, so `wrt` really saves work.

Inside a branch of `where` (regions.py), adjoints stay in that branch: a
contribution leaves it as where(c, contribution, 0), so the branch's rules
run only where the branch was taken, and an infinite or undefined derivative
in the branch not taken never becomes 0 * inf = nan in the gradient. Arrays
(the numpy backend) compute both branches element by element, so there a
zero adjoint makes a zero contribution instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ..errors import Span
from . import regions
from .ir import CONST, INPUT, Builder, Op, Program
from .lower import lower
from .parsing import parse
from .primitives import BY_NAME

_NOTHING_KNOWN: dict[int, bool] = {}  # at the top level (read only)


@functools.cache
def rule_program(rule: str) -> Program:
    """A derivative rule, parsed and lowered once; its inputs are among x, y, z, out, g."""
    return lower(parse(rule))


# A rule's steps, one per op of its program: (None, k) takes item k of (*operands, out, g)
# (x, y, z from the front, out and g from the back), (CONST, value) a constant, (prim,
# operand steps) an op.
_BINDINGS = {"x": 0, "y": 1, "z": 2, "out": -2, "g": -1}


@functools.cache
def _rule_steps(rule: str) -> tuple[tuple[tuple, ...], int]:
    """A rule's program as steps to replay (a tight loop: every gradient op is made by
    one), and the step whose result is the rule's value."""
    program = rule_program(rule)
    steps = []
    for op in program.ops:
        if op.prim == INPUT:
            steps.append((None, _BINDINGS[op.name]))
        elif op.prim == CONST:
            steps.append((CONST, op.value))
        else:
            steps.append((op.prim, op.args))
    return tuple(steps), program.value


class RuleOps:
    """Builds a rule's gradient ops, tagged with the span of the op being differentiated.

    `known` holds the conditions that are settled where the rule runs (inside a branch
    of a where), so where(c, g, 0) on the taken branch is simply g."""

    def __init__(self, builder: Builder, span: Span | None, known: dict[int, bool], simplify):
        self.builder = builder
        self.span = span
        self.known = known
        self.simplify = simplify

    def op(self, prim: str, *args: int) -> int:
        return self.make(prim, args)

    def make(self, prim: str, args: tuple[int, ...]) -> int:
        """op(prim, *args), with the operands as one tuple."""
        if prim == "where" and args[0] in self.known:
            return args[1] if self.known[args[0]] else args[2]
        if self.simplify is None:
            return self.builder.op(prim, *args, span=self.span, in_gradient=True)
        # (the Op's fields by position: its constructor is a hot path here)
        return self.simplify(self.builder, Op(prim, args, 0.0, None, self.span, True), args)

    def const(self, value: float) -> int:
        return self.builder.const(value)


def apply_rule(rule: str, args: Sequence[int], out: int, g: int, ops: RuleOps) -> int:
    """A rule's text -> its ops, for the op with operands `args` and result `out`, with `g`
    bound to the adjoint (reverse mode) or the operand's tangent (forward mode)."""
    steps, value = _rule_steps(rule)
    bound = (*args, out, g)
    ids: list[int] = []
    step_id, make = ids.__getitem__, ops.make
    for prim, operand in steps:
        if prim is None:
            ids.append(bound[operand])
        elif prim is CONST:
            ids.append(ops.const(operand))
        else:
            ids.append(make(prim, tuple(map(step_id, operand))))
    return ids[value]


def differentiate(
    program: Program,
    wrt: Sequence[str],
    simplify: Callable[..., int] | None = None,
    *,
    every_adjoint: bool = False,
    arrays: bool = False,
    seed: str | None = None,
) -> Program:
    """Add gradient ops for d(value)/d(input) for each input named in wrt.

    The returned program keeps every op of the original at the same id and
    appends the backward ops, each passed through `simplify` (optimize.simplify:
    constants folded as they are made) if given; dead code is left for the caller.
    every_adjoint: also output the adjoint of every op that has one (Program.adjoints),
    for a trace of every line.
    arrays: for the numpy backend: every contribution is summed back to its operand's
    shape (unbroadcast, which the numpy code generator writes from the shapes).
    seed: the name of an input holding d(out)/d(value) (a vjp's cotangent) instead of 1.
    """
    builder = Builder(program.ops)
    input_ids = program.input_ids()
    wanted = {input_ids[name] for name in wrt}
    depends = [False] * len(program.ops)
    for i, op in enumerate(program.ops):
        if i in wanted:
            depends[i] = True
            continue
        for a in op.args:
            if depends[a]:
                depends[i] = True
                break
    guards = regions.Guards()
    # Arrays take both branches of a where at once, element by element: no region is
    # skipped as a whole, so there are none (see the zero adjoints below instead).
    needed = [None] * len(program.ops) if arrays else regions.need(program, guards)
    branches = arrays and any(op.prim == "where" for op in program.ops)
    # arrays: the ops computed only for some branch, on elements of which some are dropped
    in_branch = regions.need(program, guards) if branches else needed
    adjoint: dict[int, int] = {}
    if depends[program.value] or every_adjoint:  # (a trace gives the value's line 1 always)
        adjoint[program.value] = builder.input(seed) if seed else builder.const(1.0)
    grad_of: dict[int, int] = {}

    def gradient_op(prim: str, args: tuple[int, ...], span: Span | None) -> int:
        if simplify is None:
            return builder.op(prim, *args, span=span, in_gradient=True)
        return simplify(builder, Op(prim, args, 0.0, None, span, True), args)

    def leave(contribution: int, computed_in: regions.Region, to: regions.Region, span) -> int:
        """The contribution as seen from region `to`: itself where some chain of guards of
        `computed_in` holds, else 0 (each chain left from the inside out, testing each of
        its guards that does not hold everywhere in `to`)."""
        if computed_in is to:
            return contribution
        result = builder.const(0.0)
        for chain in reversed(regions.chains(computed_in)):
            value = contribution
            for guard in reversed(regions.unsettled(chain, to)):
                branches = (value, result) if guard.taken else (result, value)
                value = gradient_op("where", (guard.condition, *branches), span)
            result = value
        return result

    def accumulate(target: int, contribution: int, computed_in: regions.Region) -> None:
        span = program.ops[target].span
        if computed_in is not needed[target]:
            contribution = leave(contribution, computed_in, needed[target], span)
        if arrays and builder.ops[contribution].prim != CONST:
            # broadcasting made it bigger than its operand: sum it back (a constant
            # adjoint belongs to a scalar: only reductions make arrays of gradients)
            contribution = gradient_op("unbroadcast", (contribution, target), span)
        if target in adjoint:
            contribution = gradient_op("add", (adjoint[target], contribution), span)
        adjoint[target] = contribution

    for i in reversed(range(len(program.ops))):
        op = program.ops[i]
        g = adjoint.get(i)
        if g is None or op.prim in (INPUT, CONST):
            continue
        grad_of.setdefault(g, i)  # every consumer of op i comes later, so g is final
        # a trace wants the adjoints of lines of numbers alone (1 + 2 in (1 + 2) * x) too
        targets = [
            k
            for k, arg in enumerate(op.args)
            if depends[arg] or every_adjoint and program.ops[arg].prim != CONST
        ]
        if not targets:
            continue
        rules = BY_NAME[op.prim].grads
        known = _NOTHING_KNOWN if needed[i] is None else regions.known_conditions(needed[i])
        here = RuleOps(builder, op.span, known, simplify)
        for k in targets:
            target = op.args[k]
            # A rule runs where its op does, or inside the branch that alone needs the
            # operand (where's branches), where the branch's condition is known.
            region, ops = needed[i], here
            branch = op.prim == "where" and k > 0
            if branch and needed[target] is guards.child(region, op.args[0], k == 1):
                region = needed[target]
                ops = RuleOps(builder, op.span, regions.known_conditions(region), simplify)
            if callable(rules):
                contribution = rules(ops, op.args, i, g)[k]
            elif rules[k] is None:
                continue
            else:
                contribution = apply_rule(rules[k], op.args, i, g, ops)
            if branches and (BY_NAME[op.prim].singular or in_branch[i] is not None):
                # where(c, g, 0) gives a branch's elements not taken the adjoint 0; an
                # element of 1/x or log(x) there may be inf or nan, and so may any value
                # computed from it (x * log(x)): 0 * inf is nan. A zero adjoint
                # contributes exactly zero instead, as jax's "double where" would give
                # (only where there are branches: elsewhere a zero adjoint with an
                # infinite derivative is nan)
                zero = builder.const(0.0)
                untouched = gradient_op("eq", (g, zero), op.span)
                contribution = gradient_op("where", (untouched, zero, contribution), op.span)
            accumulate(target, contribution, region)

    grads = {}
    for name in wrt:
        index = input_ids[name]
        gradient = adjoint.get(index)
        if gradient is None:
            gradient = builder.const(0.0)  # the value does not depend on this input
        else:
            grad_of.setdefault(gradient, index)
            # an input needed only inside a branch has its adjoint there: 0 outside it
            gradient = leave(gradient, needed[index], None, program.ops[index].span)
            if arrays:
                gradient = gradient_op("unbroadcast", (gradient, index), program.ops[index].span)
        grads[name] = gradient
    adjoints = {}
    if every_adjoint:
        for i, gradient in adjoint.items():
            op = program.ops[i]
            if op.prim != CONST:  # seen from the top level: 0 where its branch is not taken
                adjoints[i] = leave(gradient, needed[i], None, op.span)
    ops = tuple(builder.ops)
    return Program(
        ops, program.source, program.inputs, program.value, grads, grad_of, adjoints,
        program.assigned,
    )  # fmt: skip
