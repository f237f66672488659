"""A circuit of gates -> the IR that lowering makes of its formula text, without the text
being parsed: lower(parse(text)) op for op (primitive, operands, name, span), the same
inputs, value and `h1 = ...` names, and each gate's op.

circuit_text.write() calls a CircuitLowering as it writes each node (operands first, left
to right: the order lowering walks the parsed text in), with the node's span in the text,
parentheses included, as the parser's spans have them. The ops go through core.ir's
hash-consing Builder as lowering's do, so equal gates (p1 + p2 and p2 + p1) share an op.
A circuit whose text the parser or lowering refuses (lowerable() says) is left to them.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from ..core.ir import Builder, Program
from ..core.primitives import COMPARISON_NAMES, FUNCTIONS
from ..errors import Span
from .text import PRECEDENCE

Gate = Any  # a gates.Gate (not imported: gates.py imports this module)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # grammar/exprgrad.lark's NAME
_LEAVES = ("param", "const")
# written as an operator (text.PRECEDENCE) or a call that lowering makes an op of its own
# primitive (FUNCTIONS): what the op of a gate of any other primitive is, is not guessed
_AS_WRITTEN = frozenset(PRECEDENCE) | {n for n, p in FUNCTIONS.items() if p.name == n}


def lowerable(output: Gate, gates: list[Gate], names: dict[Gate, str]) -> bool:
    """Whether the circuit's text parses and lowers (else the parser's or lowering's error
    says why): its leaves' names are the grammar's names, and a comparison stands only as
    where's condition (lowering's rule), never as the output or another gate's operand."""
    prims = {gate._prim for gate in gates}
    if not prims <= _AS_WRITTEN | set(_LEAVES):
        return False
    if not all(_NAME.fullmatch(name) for name in names.values()):
        return False  # (a Python identifier beyond ASCII: the lexer's error)
    if prims.isdisjoint(COMPARISON_NAMES):
        return True  # (most circuits: no operands to look at)
    if output._prim in COMPARISON_NAMES:
        return False
    for gate in gates:
        args = gate._args[1:] if gate._prim == "where" else gate._args
        if any(arg.__class__ is not float and arg._prim in COMPARISON_NAMES for arg in args):
            return False
    return True


class CircuitLowering:
    """The IR of a circuit, built as circuit_text.write() writes it: number(), named() and
    operation() for each node as its text ends, statement() after each `h1 = ...`.
    Keeps the operands' ids on a stack, as lowering does."""

    def __init__(self, names: dict[Gate, str]):
        self.builder = Builder()
        self.names = names  # each leaf's name in the formula (and the h-named gates')
        self.ops: dict[Gate, int] = {}  # each gate (leaves too) -> its op's id
        self.inputs: list[str] = []  # in order of first appearance
        self.assigned: dict[str, int] = {}  # `h1 = ...` -> its value's id
        self.values: list[int] = []

    def number(self, text: str, start: int, end: int) -> None:
        """A number as write() wrote it: a negative one is a sign and its operand, so the
        parser makes it neg of a constant (spanning the parentheses around it, if any)."""
        builder = self.builder
        if text[0] == "-":
            constant = builder.const(float(text[1:]))
            self.values.append(builder.op("neg", constant, span=Span(start, end)))
        else:
            self.values.append(builder.const(float(text)))

    def named(self, gate: Gate, start: int, end: int) -> None:
        """A gate written as its name: a leaf (an input where it first appears) or a gate
        an `h1 = ...` statement computed."""
        found = self.ops.get(gate)
        if found is None:  # a leaf, met for the first time
            name = self.names[gate]
            self.inputs.append(sys.intern(name))  # (interned, as lowering does)
            found = self.ops[gate] = self.builder.input(name, Span(start, end))
        self.values.append(found)

    def operation(self, gate: Gate, start: int, end: int, target: str | None) -> None:
        """A gate written out: its op over the operands just written, named `target` where
        it is the value of a statement `target = ...`."""
        values = self.values
        count = len(gate._args)
        if count == 1:  # (most gates)
            found = self.builder.op(gate._prim, values[-1], span=Span(start, end), name=target)
            values[-1] = found
        else:
            args = values[-count:]
            del values[-count:]
            found = self.builder.op(gate._prim, *args, span=Span(start, end), name=target)
            values.append(found)
        self.ops[gate] = found

    def statement(self, name: str) -> None:
        """The end of `name = ...`: an op made before (hash-consed) takes the name unless it
        has one, as lowering gives it."""
        value = self.values.pop()
        if self.builder.ops[value].name is None:
            self.builder.give_name(value, name)
        self.assigned[name] = value

    def program(self, source: str) -> Program:
        """The lowered program, once write() has written the output's expression."""
        (value,) = self.values
        ops, inputs = tuple(self.builder.ops), tuple(self.inputs)
        return Program(ops, source, inputs, value, assigned=self.assigned)
