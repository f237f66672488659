"""Where each value is needed: the guards of `where` that must hold for it to matter.

`where(c, a, b)` needs `a` only when `c` holds and `b` only when it does not.
need() walks the program backwards once and gives every op the region in
which some output depends on it: the top level (None), a chain of guards
(a Guard: inside where(c1, where(c2, HERE, .), .)), or, for a value used
inside several branches with different conditions, any of a few chains (an
Either: in where(b > 0, log(a), 0) + where(b < 0, log(a), 1), log(a) is
needed when b > 0 or when b < 0, and not at all when b == 0).

Reverse mode uses this to keep the gradient of a branch inside that branch
(contributions leave it multiplied by the guard, never as 0 * inf), and the
code generator to compute an op that can fail (log, division, ...) only when
its guards hold: `where(x > 0, log(x), 0)` never takes the log of -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .ir import Op, Program
from .primitives import BY_NAME

# An op needed inside more branches than this is computed where they all meet instead:
# a longer `if a or b or ...` would cost more than it could save.
MAX_ALTERNATIVES = 8


@dataclass(frozen=True, slots=True, eq=False)
class Guard:
    """One condition on the way down from the top level: `condition` (an op id) is
    true (taken) or false (not taken). Guards are interned, so chains compare by `is`.
    facts: (condition, taken) of every guard of the chain, which is what it means; the
    order matters only to the `if` testing it (outermost first, each condition computed
    where the guards above it hold)."""

    condition: int
    taken: bool
    parent: Guard | None
    depth: int
    facts: frozenset[tuple[int, bool]]

    def chain(self) -> list[Guard]:
        """The guards from the outermost to this one."""
        guards: list[Guard] = []
        guard: Guard | None = self
        while guard is not None:
            guards.append(guard)
            guard = guard.parent
        return guards[::-1]


@dataclass(frozen=True, slots=True, eq=False)
class Either:
    """Needed when any of these chains holds (two or more, none inside another)."""

    chains: tuple[Guard, ...]


Region = Guard | Either | None  # None: the top level, where everything is unconditional


def chains(region: Region) -> tuple[Guard | None, ...]:
    return region.chains if isinstance(region, Either) else (region,)


def depth(guard: Guard | None) -> int:
    return 0 if guard is None else guard.depth


def common(a: Guard | None, b: Guard | None) -> Guard | None:
    """The deepest chain containing both."""
    while depth(a) > depth(b):
        a = a.parent
    while depth(b) > depth(a):
        b = b.parent
    while a is not b:
        a, b = a.parent, b.parent
    return a


def prefix(region: Region) -> Guard | None:
    """The guards every chain of the region shares."""
    found = chains(region)
    result = found[0]
    for chain in found[1:]:
        result = common(result, chain)
    return result


def facts(chain: Guard | None) -> frozenset[tuple[int, bool]]:
    return frozenset() if chain is None else chain.facts


def _under(outer: Guard | None, inner: Guard | None) -> bool:
    """Does the chain `outer` hold wherever `inner` does (its guards among inner's)?"""
    return facts(outer) <= facts(inner)


def _order(chain: Guard) -> tuple:
    """A chain's guards as data: a stable order for chains (the same program, the same code)."""
    return (chain.depth, tuple((g.condition, g.taken) for g in chain.chain()))


def contains(outer: Region, inner: Region) -> bool:
    """Does `outer` hold wherever `inner` does (every chain of inner inside one of outer)?"""
    return all(any(_under(o, i) for o in chains(outer)) for i in chains(inner))


def known_conditions(region: Region) -> dict[int, bool]:
    """Condition op id -> its value everywhere inside the region."""
    known: dict[int, bool] | None = None
    for chain in chains(region):
        mine = {} if chain is None else {g.condition: g.taken for g in chain.chain()}
        known = mine if known is None else {c: t for c, t in known.items() if mine.get(c) == t}
    return known or {}


def _twins(ordered: list[Guard]) -> tuple[Guard, Guard] | None:
    """Two chains (p and c), (p and not c) (p the same guards in either), if any."""
    for k, chain in enumerate(ordered):
        other_side = (chain.condition, not chain.taken)
        for other in ordered[k + 1 :]:
            if (other.condition, other.taken) == other_side:
                if facts(other.parent) == facts(chain.parent):
                    return chain, other
    return None


def unsettled(chain: Guard | None, region: Region) -> list[Guard]:
    """The guards of the chain (outermost first) that do not hold everywhere in the region.
    A chain inside one of an Either's chains is not inside the Either: in
    where(b > 0, a*a, 0) + where(c > 0, a, 0), a is needed when b > 0 or c > 0, and a
    contribution made under b > 0 must still test b > 0 there."""
    if chain is None:
        return []
    known = known_conditions(region)
    return [g for g in chain.chain() if known.get(g.condition) != g.taken]


class Guards:
    """Interns guards and alternatives, so that equal regions are the same object."""

    def __init__(self) -> None:
        self._made: dict[tuple, Guard | Either] = {}

    def child(self, parent: Region, condition: int, taken: bool) -> Region:
        """`parent`, and the condition having this value."""
        if isinstance(parent, Either):  # (a or b) and c: (a and c) or (b and c)
            return self.either([self.child(p, condition, taken) for p in parent.chains])
        if (condition, taken) in facts(parent):  # known already: no second test
            return parent
        key = (id(parent), condition, taken)
        guard = self._made.get(key)
        if guard is None:
            known = facts(parent) | {(condition, taken)}
            guard = Guard(condition, taken, parent, depth(parent) + 1, known)
            self._made[key] = guard
        return guard

    def either(self, found: Sequence[Guard | None]) -> Region:
        """Any of these chains, simplified: (p and c) or (p and not c) is p, and a chain
        inside another is dropped. a or (not a and b) stays as it is: b's condition may be
        computed only where not a holds (where(a, 0, where(log(x) > 0, ...))), and a chain
        is tested from the outside in, so that each condition it reads has been computed."""
        kept: set[Guard | None] = set(found)
        while None not in kept:
            twins = _twins(sorted(kept, key=_order))  # type: ignore[arg-type]
            if twins is None:
                break
            kept -= set(twins)
            kept.add(twins[0].parent)
        if None in kept:
            return None
        ordered: list[Guard] = []
        for chain in sorted(kept, key=_order):  # type: ignore[arg-type]  (shorter first)
            if not any(_under(o, chain) for o in ordered):  # inside one kept: adds nothing
                ordered.append(chain)
        if len(ordered) == 1:
            return ordered[0]
        if len(ordered) > MAX_ALTERNATIVES:
            return prefix(Either(tuple(ordered)))
        key = ("either", *(id(g) for g in ordered))
        either = self._made.get(key)
        if either is None:
            either = self._made[key] = Either(tuple(ordered))
        return either

    def union(self, a: Region, b: Region) -> Region:
        if a is b:
            return a
        return self.either([*chains(a), *chains(b)])


_UNUSED = object()


def need(program: Program, guards: Guards, *, cut: bool = True) -> list[Region]:
    """For each op, the region in which some output depends on it (None for the top level).
    Ops nothing depends on get None too (dead code elimination removes them).

    cut: no op waits for a condition that waits for it. A condition computed from the op
    is cut off its chains at once (_without_own_conditions); one that waits for it only
    through the `if` of another op (sqrt(a) needed when t2, or when t19 and t20; t20 read
    from sqrt(c), needed when t19, or when t2 and sqrt(a) < b) is cut when the walk is
    done, and the walk is made again."""
    if not any(op.prim == "where" for op in program.ops):
        return [None] * len(program.ops)  # no branches: everything at the top level
    cuts: dict[int, set[int]] = {}
    for _ in range(len(program.ops)):
        needed = _walk(program, guards, cut, cuts)
        cycle = _region_cycle(program, needed) if cut else None
        if cycle is None:
            break
        cuts.setdefault(cycle[0], set()).add(cycle[1])
    return needed


def _walk(program: Program, guards: Guards, cut: bool, cuts: dict[int, set[int]]) -> list[Region]:
    needed: list[Region | object] = [_UNUSED] * len(program.ops)
    for output in program.outputs():
        needed[output] = None
    for i in reversed(range(len(program.ops))):
        region = needed[i]
        if region is _UNUSED:
            needed[i] = None
            continue
        if cut and isinstance(region, Either):
            region = needed[i] = _without_own_conditions(program, i, region, guards)
        if i in cuts:
            region = needed[i] = guards.either([_cut(c, cuts[i]) for c in chains(region)])
        op = program.ops[i]
        for k, arg in enumerate(op.args):
            edge = region
            if op.prim == "where" and k > 0:
                edge = guards.child(region, op.args[0], k == 1)
            previous = needed[arg]
            needed[arg] = edge if previous is _UNUSED else guards.union(previous, edge)
    return needed  # type: ignore[return-value]


def _cut(chain: Guard | None, conditions: set[int]) -> Guard | None:
    """The chain above its first guard on one of the conditions."""
    for guard in [] if chain is None else chain.chain():
        if guard.condition in conditions:
            return guard.parent
    return chain


def _region_cycle(program: Program, needed: Sequence[Region]) -> tuple[int, int] | None:
    """(op, condition of its region) on a cycle of waiting, if there is one: an op waits
    for its operands and for the conditions of its `if` (operands alone never cycle)."""
    waits = [
        [*op.args, *(g.condition for c in chains(needed[i]) if c is not None for g in c.chain())]
        for i, op in enumerate(program.ops)
    ]
    state = [0] * len(program.ops)  # 0 unseen, 1 on the path, 2 done
    for root in range(len(program.ops)):
        if state[root]:
            continue
        path, nexts = [root], [0]
        state[root] = 1
        while path:
            i, k = path[-1], nexts[-1]
            if k == len(waits[i]):
                state[i] = 2
                path.pop()
                nexts.pop()
                continue
            nexts[-1] += 1
            j = waits[i][k]
            if state[j] == 1:  # back on the path: a cycle, with a region's edge in it
                loop = path[path.index(j) :] + [j]
                for u, v in zip(loop, loop[1:], strict=False):
                    if v not in program.ops[u].args:
                        return u, v
            elif state[j] == 0:
                state[j] = 1
                path.append(j)
                nexts.append(0)
    return None


def _depends_on(program: Program, value: int, op_id: int) -> bool:
    """Is op `value` computed from op `op_id` (which comes before it)?"""
    stack, seen = [value], set()
    while stack:
        i = stack.pop()
        if i == op_id:
            return True
        for arg in program.ops[i].args:
            if arg >= op_id and arg not in seen:
                seen.add(arg)
                stack.append(arg)
    return False


def tangled_guard(program: Program, i: int, chain: Guard) -> Guard | None:
    """The outermost guard of the chain whose condition is computed from op i, if any."""
    for guard in chain.chain():
        if guard.condition > i and _depends_on(program, guard.condition, i):
            return guard
    return None


def _without_own_conditions(program: Program, i: int, region: Either, guards: Guards) -> Region:
    """An op cannot wait for a condition computed from it. untangle() gives such an op a
    copy of its own; where that was not done, the chain is cut above the guard (the op
    is then computed more widely than it is needed)."""
    kept = []
    for chain in region.chains:
        guard = tangled_guard(program, i, chain)
        kept.append(chain if guard is None else guard.parent)
    return guards.either(kept)


def untangle(program: Program) -> Program:
    """Copies of the ops whose use inside a branch would wait for a condition they help
    compute. In where(where(b < 3, c, f(log(a))) > 0, log(a), 0), log(a) is needed when
    b >= 3 (for the condition) or, later, when the condition holds: one computation cannot
    be guarded by both, so the branch gets a copy computed under its own guard.

    Forward-mode tangents meet such chains more often than a formula does (the tangent of
    a branch flows on through the wheres of later rules, so it is needed under conditions
    in another order), which is why a use moves to the copy when any chain it is read
    under lies inside a tangled one. An op with no such use stays, and so does one whose
    every use is tangled (its copy would be the op again); need() then cuts its chain
    and computes it more widely than it is needed.

    Each round copies every op that qualifies in one need() snapshot at once (a copy
    splits the region of its op in two and leaves the other ops' regions alone), until
    none does: a copy may be tangled in its turn, or untangle an operand's uses."""
    budget = 4 * len(program.ops)  # copies: each splits an op's uses, far fewer are made
    while budget > 0:
        guards = Guards()
        needed = need(program, guards, cut=False)
        # (every region None, the top level: most programs, told apart without a Python loop)
        if not any(needed) or not any(isinstance(region, Either) for region in needed):
            return program  # no op needed in several branches: none to copy
        users = _users(program)
        copies: dict[int, list[tuple[int, int]]] = {}
        for i, op in enumerate(program.ops):  # only what may fail is worth a copy
            region = needed[i]
            if not (isinstance(region, Either) and op.args and BY_NAME[op.prim].may_raise):
                continue
            tangled = [c for c in region.chains if tangled_guard(program, i, c) is not None]
            moved = _uses_under(program, needed, guards, users[i], tangled) if tangled else []
            if moved and len(moved) < len(users[i]):
                copies[i] = moved
        if not copies:
            return program
        copies = dict(list(copies.items())[:budget])
        budget -= len(copies)
        program = _copy_for(program, copies)
    return program


def _users(program: Program) -> list[list[tuple[int, int]]]:
    """For each op, (user, operand position) of each of its uses."""
    users: list[list[tuple[int, int]]] = [[] for _ in program.ops]
    for u, op in enumerate(program.ops):
        for k, arg in enumerate(op.args):
            users[arg].append((u, k))
    return users


def _uses_under(
    program: Program,
    needed: Sequence[Region],
    guards: Guards,
    uses: list[tuple[int, int]],
    tangled: list[Guard],
) -> list[tuple[int, int]]:
    """The uses (user, operand position) of an op read under one of the tangled chains."""
    moved = []
    for u, k in uses:
        op, read = program.ops[u], needed[u]
        if op.prim == "where" and k > 0:
            read = guards.child(read, op.args[0], k == 1)
        if read is not None and any(contains(c, r) for c in tangled for r in chains(read)):
            moved.append((u, k))
    return moved


def _copy_for(program: Program, copies: dict[int, list[tuple[int, int]]]) -> Program:
    """The program with each op i of `copies` computed a second time for its moved uses
    (user, operand position); a copy stands before the first of them, and reads the
    copies its original's moved operands read."""
    before: dict[int, list[int]] = {}  # user -> the ops copied just before it
    copied_for: dict[tuple[int, int], int] = {}  # moved use -> the op it reads a copy of
    for i in sorted(copies):
        before.setdefault(min(u for u, _ in copies[i]), []).append(i)
        copied_for.update(dict.fromkeys(copies[i], i))
    number = max(op.copy for op in program.ops)
    copy_id: dict[int, int] = {}
    ops: list[Op] = []
    new_id: list[int] = []

    def args_of(u: int) -> tuple[int, ...]:
        found = enumerate(program.ops[u].args)
        return tuple(copy_id[a] if (u, k) in copied_for else new_id[a] for k, a in found)

    for u, op in enumerate(program.ops):
        for i in before.get(u, ()):
            number += 1
            ops.append(replace(program.ops[i], name=None, copy=number).with_args(args_of(i)))
            copy_id[i] = len(ops) - 1
        new_id.append(len(ops))
        ops.append(op.with_args(args_of(u)))
    return program.remap(ops, new_id)


def placement(program: Program, needed: Sequence[Region], guards: Guards) -> list[Region]:
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
        # as high as every operand is computed; a branch of where only needs to be
        # computed where it is read: in that region, with the where's condition
        branch = op.prim == "where"
        plain = [placed[a] for k, a in enumerate(op.args) if not (branch and k > 0)]
        region = _inner_most([r for r in plain if r is not None])
        if region is not _TANGLED and branch:
            for k in (1, 2):
                read = guards.child(region, op.args[0], k == 1)
                if not contains(placed[op.args[k]], read):
                    region = _TANGLED
                    break
        placed.append(needed[i] if region is _TANGLED else region)
    return placed


_TANGLED = object()  # regions that do not nest: compute the op where it is needed


def _inner_most(regions: list[Region]) -> Region | object:
    """The region inside all the others, if they nest; else _TANGLED."""
    inner: Region = None
    for region in regions:
        if contains(inner, region):
            inner = region
        elif not contains(region, inner):
            return _TANGLED
    return inner
