"""Where each value is needed: the guards of `where` that must hold for it to matter.

`where(c, a, b)` needs `a` only when `c` holds and `b` only when it does not.
need() walks the program backwards once and gives every op the chain of such
guards under which some output depends on it; a value used in both branches,
or outside any `where`, needs only the guards its uses share.

Reverse mode uses this to keep the gradient of a branch inside that branch
(contributions leave it multiplied by the guard, never as 0 * inf), and the
code generator to compute an op that can fail (log, division, ...) only when
its guards hold: `where(x > 0, log(x), 0)` never takes the log of -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ir import Program
from .primitives import BY_NAME


@dataclass(frozen=True, slots=True, eq=False)
class Guard:
    """One condition on the way down from the top level: `condition` (an op id) is
    true (taken) or false (not taken). Guards are interned, so chains compare by `is`."""

    condition: int
    taken: bool
    parent: Guard | None
    depth: int

    def chain(self) -> list[Guard]:
        """The guards from the outermost to this one."""
        guards: list[Guard] = []
        guard: Guard | None = self
        while guard is not None:
            guards.append(guard)
            guard = guard.parent
        return guards[::-1]


Region = Guard | None  # None: the top level, where everything is unconditional


class Guards:
    """Interns guards, so that equal chains are the same object."""

    def __init__(self) -> None:
        self._made: dict[tuple[int, int, bool], Guard] = {}

    def child(self, parent: Region, condition: int, taken: bool) -> Guard:
        key = (id(parent), condition, taken)
        guard = self._made.get(key)
        if guard is None:
            depth = 1 if parent is None else parent.depth + 1
            guard = self._made[key] = Guard(condition, taken, parent, depth)
        return guard


def depth(region: Region) -> int:
    return 0 if region is None else region.depth


def common(a: Region, b: Region) -> Region:
    """The deepest region containing both: what two uses in a and b share."""
    while depth(a) > depth(b):
        a = a.parent
    while depth(b) > depth(a):
        b = b.parent
    while a is not b:
        a, b = a.parent, b.parent
    return a


def contains(outer: Region, inner: Region) -> bool:
    """Is `inner` the same region as `outer` or nested inside it?"""
    while depth(inner) > depth(outer):
        inner = inner.parent
    return inner is outer


def known_conditions(region: Region) -> dict[int, bool]:
    """Condition op id -> its value inside the region."""
    return {} if region is None else {g.condition: g.taken for g in region.chain()}


_UNUSED = object()


def need(program: Program, guards: Guards | None = None) -> list[Region]:
    """For each op, the region in which some output depends on it (None for the top level).
    Ops nothing depends on get None too (dead code elimination removes them)."""
    if not any(op.prim == "where" for op in program.ops):
        return [None] * len(program.ops)  # no branches: everything at the top level
    guards = guards or Guards()
    needed: list[Region | object] = [_UNUSED] * len(program.ops)
    for output in program.outputs():
        needed[output] = None
    for i in reversed(range(len(program.ops))):
        region = needed[i]
        if region is _UNUSED:
            needed[i] = None
            continue
        op = program.ops[i]
        for k, arg in enumerate(op.args):
            edge = region
            if op.prim == "where" and k > 0:
                edge = guards.child(region, op.args[0], k == 1)
            previous = needed[arg]
            needed[arg] = edge if previous is _UNUSED else common(previous, edge)
    return needed  # type: ignore[return-value]


def placement(program: Program, needed: Sequence[Region]) -> list[Region]:
    """Where the code generator computes each op: an op that may raise (log, division...)
    in the region that needs it; any other op as high as its operands allow, since it
    can neither fail nor cost much, and an extra `if` would cost more than it saves."""
    if not any(needed):
        return [None] * len(program.ops)
    placed: list[Region] = []
    for i, op in enumerate(program.ops):
        if op.args and BY_NAME[op.prim].may_raise:
            placed.append(needed[i])
            continue
        region: Region = None
        for k, arg in enumerate(op.args):
            where_from = placed[arg]
            if op.prim == "where" and k > 0 and where_from is not None:
                # the conditional expression reads a branch only when it is taken
                if depth(where_from) > depth(needed[i]):
                    where_from = where_from.parent
            if depth(where_from) > depth(region):
                region = where_from
        placed.append(region)
    return placed
