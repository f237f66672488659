"""The intermediate representation: a linear SSA program of primitive ops.

An op's operands are integer ids (indexes of earlier ops), so hashing and
equality never walk a deep graph, and every pass is a loop over a list.
The Builder hash-conses: asking twice for the same op with the same operands
returns the first id, so every common subexpression is computed once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import Span, line_and_column
from .primitives import COMMUTATIVE

INPUT = "input"
CONST = "const"
_QUOTE_LIMIT = 48  # characters of formula text quoted for an op


# A value, never changed once made (passes make a new one: with_args, replace), hashed by
# its fields; not frozen, as a frozen dataclass's constructor takes three times as long
# (object.__setattr__ for each field) and every pass makes ops by the hundred thousand.
@dataclass(slots=True, unsafe_hash=True)
class Op:
    prim: str  # a primitive's name, INPUT or CONST
    args: tuple[int, ...] = ()
    value: float = 0.0  # CONST only
    name: str | None = None  # INPUT: the formula name; otherwise a name the formula assigned
    span: Span | None = None  # the formula text this op computes (or differentiates)
    in_gradient: bool = False  # made by reverse mode, for the gradient
    copy: int = 0  # > 0: a second computation of an equal op, kept apart (regions.untangle)

    def with_args(self, args: tuple[int, ...]) -> Op:
        if args == self.args:
            return self
        # the constructor, not dataclasses.replace: twice as fast, on every op of every pass
        return Op(self.prim, args, self.value, self.name, self.span, self.in_gradient, self.copy)


@dataclass(frozen=True, slots=True)
class Program:
    """Ops in dependency order, plus what the outside world sees of them."""

    ops: tuple[Op, ...]
    source: str  # the formula text spans point into
    inputs: tuple[str, ...]  # formula names, in order of first appearance
    value: int  # id of the formula's value
    grads: Mapping[str, int] = field(default_factory=dict)  # input name -> gradient id
    grad_of: Mapping[int, int] = field(default_factory=dict)  # adjoint id -> its forward id
    # forward id -> id of d(value)/d(that op), for a trace of every line (else empty)
    adjoints: Mapping[int, int] = field(default_factory=dict)
    assigned: Mapping[str, int] = field(default_factory=dict)  # `name = ...` -> its value id

    def input_ids(self) -> dict[str, int]:
        return {op.name: i for i, op in enumerate(self.ops) if op.prim == INPUT}

    def outputs(self) -> list[int]:
        return [self.value, *self.grads.values(), *self.adjoints.values()]

    def remap(self, ops: Iterable[Op], new_id: list[int | None] | dict[int, int]) -> Program:
        """The same program over rewritten ops, old ids translated through new_id (a list
        holds None for an op dropped)."""
        # an old id -> its new one, None for an op dropped (a list holds None, a dict lacks it)
        moved = new_id.get if isinstance(new_id, dict) else new_id.__getitem__
        grad_of: dict[int, int] = {}
        for adjoint, forward in self.grad_of.items():
            adjoint, forward = moved(adjoint), moved(forward)
            if adjoint is not None and forward is not None:
                grad_of.setdefault(adjoint, forward)  # merged ids: first one wins
        grads = {name: new_id[i] for name, i in self.grads.items()}
        adjoints = {new_id[f]: new_id[a] for f, a in self.adjoints.items()}
        assigned = {n: new for n, i in self.assigned.items() if (new := moved(i)) is not None}
        return replace(
            self,
            ops=tuple(ops),
            value=new_id[self.value],
            grads=_unless_equal(grads, self.grads),
            grad_of=_unless_equal(grad_of, self.grad_of),
            adjoints=_unless_equal(adjoints, self.adjoints),
            assigned=_unless_equal(assigned, self.assigned),
        )


def _unless_equal(new: dict[Any, int], old: Mapping[Any, int]) -> Mapping[Any, int]:
    """The old mapping where the new one equals it: a pass that keeps the ids (folding
    where nothing folds) keeps one copy of a program's 100,000 assigned names, not two.
    (Programs share their mappings already: replace() copies none.)"""
    return old if new == old else new


def const_key(value: float) -> str:
    # repr tells -0.0 from 0.0 and gives nan a key equal to itself.
    return repr(float(value))


def op_key(op: Op) -> tuple:
    """What makes two ops equal for hash-consing: a + b and b + a share a key."""
    key = _key_within(op)
    if op.copy:
        return (op.prim, *key)
    return (op.prim, key)


def _key_within(op: Op) -> object:
    """op_key less the primitive, which the Builder's index is split by: for most ops the
    operand tuple itself, so the index makes no tuple of its own."""
    prim = op.prim
    if prim == CONST:
        return const_key(op.value)
    if prim == INPUT:
        return op.name
    args = op.args
    if prim in COMMUTATIVE and len(args) > 1:
        if len(args) == 2:
            if args[1] < args[0]:
                args = (args[1], args[0])
        else:
            args = tuple(sorted(args))
    return (args, op.copy) if op.copy else args


class Builder:
    """Appends ops, returning the id of an equal op when one exists (hash-consing)."""

    def __init__(self, ops: Iterable[Op] = ()):
        self.ops: list[Op] = []
        self._index: dict[str, dict] = {}  # primitive -> its ops' _key_within -> id
        for op in ops:  # (of equal ops the first one stands)
            self._append(op)

    def _append(self, op: Op) -> int:
        prim, args = op.prim, op.args  # _key_within, its common cases spelled out here
        if not args or op.copy or (len(args) > 2 and prim in COMMUTATIVE):
            key = _key_within(op)
        elif len(args) == 2 and args[1] < args[0] and prim in COMMUTATIVE:
            key = (args[1], args[0])  # a + b and b + a
        else:
            key = args  # most ops: their operands
        table = self._index.get(prim)
        if table is None:
            table = self._index[prim] = {}
        found = table.get(key)
        if found is None:
            found = table[key] = len(self.ops)  # (one int for the index and the caller)
            self.ops.append(op)
        return found

    def input(self, name: str, span: Span | None = None) -> int:
        return self._append(Op(INPUT, (), 0.0, name, span))

    def const(self, value: float) -> int:
        value = float(value)
        made = self._index.get(CONST)  # most are made already: no Op to make
        existing = None if made is None else made.get(const_key(value))
        return self._append(Op(CONST, value=value)) if existing is None else existing

    def op(
        self,
        prim: str,
        *args: int,
        span: Span | None = None,
        in_gradient: bool = False,
        name: str | None = None,
    ) -> int:
        return self._append(Op(prim, args, 0.0, name, span, in_gradient))

    def add(self, op: Op, args: tuple[int, ...]) -> int:
        """Re-emit an existing op (keeping its span, name and origin) over new operands."""
        return self._append(op.with_args(args))

    def give_name(self, op_id: int, name: str) -> None:
        """Record that the formula calls this value `name` (first name wins)."""
        op = self.ops[op_id]
        if op.prim not in (INPUT, CONST) and op.name is None:
            self.ops[op_id] = replace(op, name=name)

    def is_const(self, op_id: int) -> bool:
        return self.ops[op_id].prim == CONST


def format_const(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def dump(program: Program) -> str:
    """Program text in the spirit of a jaxpr: inputs, one equation per line, outputs."""
    names = {}
    lines = [f"inputs: {', '.join(program.inputs) or '(none)'}"]
    for i, op in enumerate(program.ops):
        if op.prim == INPUT:
            names[i] = op.name
            continue
        if op.prim == CONST:
            names[i] = format_const(op.value)
            continue
        names[i] = f"%{i}"
        operands = " ".join(names[a] for a in op.args)
        note = f"  ; {op.name}" if op.name else ""
        marker = "  [grad]" if op.in_gradient else ""
        lines.append(f"  %{i} = {op.prim} {operands}{note}{marker}")
    outputs = [f"value={names[program.value]}"]
    outputs += [f"d/d{name}={names[i]}" for name, i in program.grads.items()]
    lines.append(f"outputs: {', '.join(outputs)}")
    return "\n".join(lines)


def quote(source: str, op: Op) -> str:
    """The formula text behind an op, on one line; long text is cut and located."""
    span = op.span
    if span is None:
        return ""
    # Look at a bounded window only, so long spans (a 100,000-term sum) cost no more.
    start, end = span.start, span.end
    window_end = end if end - start <= 4 * _QUOTE_LIMIT else start + 4 * _QUOTE_LIMIT
    text = " ".join(source[start:window_end].split())
    if not (text.isascii() and text.isprintable()):  # a comment must stay one line
        text = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    if window_end < end or len(text) > _QUOTE_LIMIT:
        line, column = line_and_column(source, start)
        text = f"{text[: _QUOTE_LIMIT - 8]}... ({line}:{column})"
    return text
