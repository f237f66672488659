"""IR -> IR reverse-mode differentiation: the gradient program is IR again.

Walks the ops backwards once, giving each value that depends on a
differentiated input an adjoint (d value / d that value). Each primitive's
rule (a short formula in primitives.py) is parsed once and spliced into the
program with the op's operands, result and adjoint bound to x, y, z, out, g.
The result is ordinary IR, so it is optimized, printed and differentiated
again (for Hessians) like any other program. Values that do not depend on a
differentiated input get no adjoint, so `wrt` really saves work.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from .errors import Span
from .ir import CONST, INPUT, Builder, Program
from .lower import lower
from .parsing import parse
from .primitives import BY_NAME

_RULE_ARGUMENTS = ("x", "y", "z")


@functools.cache
def rule_program(rule: str) -> Program:
    """A derivative rule, parsed and lowered once; its inputs are among x, y, z, out, g."""
    return lower(parse(rule))


class _RuleOps:
    """Builds a rule's gradient ops, tagged with the span of the op being differentiated."""

    def __init__(self, builder: Builder, span: Span | None):
        self.builder = builder
        self.span = span

    def op(self, prim: str, *args: int) -> int:
        return self.builder.op(prim, *args, span=self.span, in_gradient=True)

    def const(self, value: float) -> int:
        return self.builder.const(value)


def _splice(rule: Program, bindings: dict[str, int], ops: _RuleOps) -> int:
    ids: list[int] = []
    for op in rule.ops:
        if op.prim == INPUT:
            ids.append(bindings[op.name])
        elif op.prim == CONST:
            ids.append(ops.const(op.value))
        else:
            ids.append(ops.op(op.prim, *(ids[a] for a in op.args)))
    return ids[rule.value]


def differentiate(program: Program, wrt: Sequence[str]) -> Program:
    """Add gradient ops for d(value)/d(input) for each input named in wrt.

    The returned program keeps every op of the original at the same id and
    appends the backward ops; run optimize() on it to fold and prune.
    """
    builder = Builder(program.ops)
    input_ids = program.input_ids()
    wanted = {input_ids[name] for name in wrt}
    depends = [False] * len(program.ops)
    for i, op in enumerate(program.ops):
        depends[i] = i in wanted or any(depends[a] for a in op.args)

    adjoint: dict[int, int] = {}
    if depends[program.value]:
        adjoint[program.value] = builder.const(1.0)
    grad_of: dict[int, int] = {}

    def accumulate(target: int, contribution: int) -> None:
        if target in adjoint:
            span = program.ops[target].span
            contribution = builder.op(
                "add", adjoint[target], contribution, span=span, in_gradient=True
            )
        adjoint[target] = contribution

    for i in reversed(range(len(program.ops))):
        op = program.ops[i]
        g = adjoint.get(i)
        if g is None or op.prim in (INPUT, CONST):
            continue
        grad_of.setdefault(g, i)  # every consumer of op i comes later, so g is final
        targets = [k for k, arg in enumerate(op.args) if depends[arg]]
        if not targets:
            continue
        rules = BY_NAME[op.prim].grads
        ops = _RuleOps(builder, op.span)
        if callable(rules):
            contributions = rules(ops, op.args, i, g)
            for k in targets:
                accumulate(op.args[k], contributions[k])
            continue
        bindings = dict(zip(_RULE_ARGUMENTS, op.args, strict=False)) | {"out": i, "g": g}
        for k in targets:
            if rules[k] is not None:
                accumulate(op.args[k], _splice(rule_program(rules[k]), bindings, ops))

    grads = {}
    for name in wrt:
        gradient = adjoint.get(input_ids[name])
        if gradient is None:
            gradient = builder.const(0.0)  # the value does not depend on this input
        else:
            grad_of.setdefault(gradient, input_ids[name])
        grads[name] = gradient
    return Program(
        tuple(builder.ops), program.source, program.inputs, program.value, grads, grad_of
    )
