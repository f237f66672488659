"""Program + shapes -> Program: a number broadcast to an array is broadcast as late as it can be.

The gradient of mean(v) starts as 1/n broadcast to v's shape, then negated, then broadcast
again to a matrix (the gradient of a sum over an axis). Written as it comes, that is an
np.full and two array operations before any arithmetic. Moved past the negation and the
second broadcast, the number stays a number until an elementwise op with an array of the
full shape meets it (`-t10 * Y`), where codegen leaves the broadcast to numpy (its loose
expands). Every rewrite copies values and commutes with negation, so each element is the
same, bit for bit: -(broadcast s) is broadcast(-s), and a number broadcast twice is the
number broadcast once.
"""

from __future__ import annotations

from dataclasses import replace

from ...core.ir import Builder, Program
from ...core.optimize import eliminate_dead_code
from ...core.shapes import Spec


def broadcast_late(program: Program, specs: list[Spec]) -> Program:
    """The program with broadcasts of a number (a 0-d value) moved past negations and
    merged with the broadcasts that read them (through unbroadcasts that sum over
    nothing, which codegen writes as no code anyway); unchanged (the same object) when there
    is none to move."""
    builder = Builder()
    new_id: list[int] = []
    scalar: list[bool] = []  # by new id: is the value a number (shape ())?
    moved = False

    def add(op, args: tuple[int, ...], is_scalar: bool) -> int:
        i = builder.add(op, args)
        if i == len(scalar):
            scalar.append(is_scalar)
        return i

    for old, op in enumerate(program.ops):
        args = tuple(new_id[a] for a in op.args)
        inner = builder.ops[args[0]] if args else None
        number_broadcast = inner is not None and inner.prim == "expand" and scalar[inner.args[0]]
        if op.prim == "unbroadcast" and number_broadcast and specs[old] == specs[op.args[0]]:
            new_id.append(args[0])  # one that sums over nothing: the broadcast itself
        elif op.prim == "neg" and number_broadcast:  # -(broadcast s) -> broadcast(-s)
            negated = add(op, (inner.args[0],), True)
            new_id.append(add(replace(inner, span=op.span), (negated, inner.args[1]), False))
            moved = True
        elif op.prim == "expand" and number_broadcast:  # s broadcast twice -> once
            new_id.append(add(op, (inner.args[0], args[1]), False))
            moved = True
        else:
            new_id.append(add(op, args, specs[old].shape == ()))
    if not moved:
        return program
    return eliminate_dead_code(program.remap(builder.ops, new_id))
