"""Program -> Layout: where each op of a program goes in generated code, in which order.

What a code generator needs to know about a program beyond its ops, the same for every
language: the region each op is computed in (an op that may fail and is needed by one
branch of a `where` only goes inside an `if` for that branch, core/regions.py), the order
ops are written in, the comparisons written into their one `where`, the conditions of the
`if` blocks, and the inputs checked at the top (the Python backend's type checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..core import regions
from ..core.ir import CONST, INPUT, Program
from .emit import inlined_comparisons


@dataclass(slots=True)
class Layout:
    """What the emitter needs to know about a program, computed once per function."""

    program: Program
    placed: list[regions.Region]  # where each op is computed
    order: list[int]  # ops in emission order (inputs and constants left out)
    inlined: set[int]  # comparisons written into their one where
    guarded_by: set[int]  # conditions of some `if` block
    checked_inputs: list[int]  # inputs checked (and ints converted) at the top
    rows: Sequence[int] = ()  # ops whose values and adjoints a trace returns


def guards_of(region: regions.Region) -> list[regions.Guard]:
    """Every guard an `if` for the region tests."""
    return [g for chain in regions.chains(region) if chain is not None for g in chain.chain()]


def values_read(layout: Layout, ids: Iterable[int]) -> list[int]:
    """The values code reads where it writes the ops `ids` (an op's operands, an `if`'s
    conditions): a comparison written into its reader reads its own operands instead, and
    a constant is written as a literal, not read."""
    program, found = layout.program, []
    for i in ids:
        if i in layout.inlined:  # its operands are values, never inlined themselves
            found += [a for a in program.ops[i].args if program.ops[a].prim != CONST]
        elif program.ops[i].prim != CONST:
            found.append(i)
    return found


def schedule(program: Program, placed: list[regions.Region]) -> list[int]:
    """Top-level ops in program order; each op inside a branch goes right before the first
    top-level op that needs it, so a branch's ops stand together above its where. An op
    inside a branch also waits for the conditions of its `if`, which program order alone
    does not promise (a tie test made while differentiating comes after the ops it guards)."""
    size = len(program.ops)
    if not any(placed):  # no branches: program order
        return [i for i, op in enumerate(program.ops) if op.prim not in (INPUT, CONST)]
    anchor = list(range(size))  # the first top-level op that needs each op
    first_use = [size] * size
    for i in reversed(range(size)):
        if placed[i] is not None and first_use[i] < size:
            anchor[i] = first_use[i]
        for arg in program.ops[i].args:
            first_use[arg] = min(first_use[arg], anchor[i])
    attached: dict[int, list[int]] = {}
    for i in range(size):
        if placed[i] is not None:
            attached.setdefault(anchor[i], []).append(i)

    def dependencies(i: int) -> list[int]:
        conditions = [g.condition for g in guards_of(placed[i])]
        return [*program.ops[i].args, *conditions]

    emitted = [False] * size
    started = [False] * size
    order: list[int] = []
    for top in range(size):
        if placed[top] is not None:
            continue
        for start in [*attached.get(top, ()), top]:
            stack = [(start, False)]
            while stack:  # depth first, each op after what it depends on
                i, ready = stack.pop()
                if emitted[i]:
                    continue
                if ready:
                    emitted[i] = True
                    if program.ops[i].prim not in (INPUT, CONST):
                        order.append(i)
                    continue
                if started[i]:  # regions.need() cuts such chains; never loop if one slips
                    raise AssertionError(f"op {i} waits for a condition computed from it")
                started[i] = True
                stack.append((i, True))
                stack.extend((d, False) for d in reversed(dependencies(i)) if not emitted[d])
    return order


def plan(
    program: Program, rows: Sequence[int] = (), floats: frozenset[str] = frozenset()
) -> Layout:
    guards = regions.Guards()
    placed = regions.placement(program, regions.need(program, guards), guards)
    order = schedule(program, placed)
    guarded_by = {g.condition for r in set(placed) for g in guards_of(r)}
    inlined = inlined_comparisons(program) - guarded_by
    # every input is checked (see the module docstring): then every value is a float
    checked_inputs = [
        i for i, op in enumerate(program.ops) if op.prim == INPUT and op.name not in floats
    ]
    return Layout(program, placed, order, inlined, guarded_by, checked_inputs, rows)
