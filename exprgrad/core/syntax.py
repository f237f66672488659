"""The formula's syntax tree: nodes, each carrying its source span.

Nodes compare by identity (eq=False): comparing or hashing field by field
would recurse through a 100,000-deep chain. Everything after the parser
walks these nodes with explicit stacks. Nothing changes a node once the parser
has made it, but the classes are not frozen: a frozen dataclass sets each field
through object.__setattr__, which makes the parser a quarter slower.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Span


@dataclass(slots=True, eq=False)
class Number:
    value: float
    text: str
    span: Span


@dataclass(slots=True, eq=False)
class Name:
    id: str
    span: Span


@dataclass(slots=True, eq=False)
class Unary:
    op: str  # "+" or "-"
    operand: Expr
    span: Span


@dataclass(slots=True, eq=False)
class Binary:
    op: str  # "+", "-", "*", "/", "**"
    left: Expr
    right: Expr
    span: Span


@dataclass(slots=True, eq=False)
class Compare:
    op: str  # "<", "<=", ">", ">=", "==", "!="
    left: Expr
    right: Expr
    span: Span


@dataclass(slots=True, eq=False)
class Keyword:
    """`axis=-1` in a call: lowering turns it into the positional argument it names."""

    name: str
    name_span: Span
    value: Expr
    span: Span


@dataclass(slots=True, eq=False)
class Call:
    func: str
    func_span: Span
    args: tuple[Expr | Keyword, ...]  # in source order, keywords included
    span: Span


Expr = Number | Name | Unary | Binary | Compare | Call


@dataclass(slots=True, eq=False)
class Assign:
    target: str
    target_span: Span
    value: Expr
    span: Span


Statement = Assign | Expr


@dataclass(frozen=True, slots=True, eq=False)
class Program:
    statements: tuple[Statement, ...]
    source: str


def children(node: Expr | Keyword) -> tuple[Expr | Keyword, ...]:
    """The direct subexpressions of a node, in source order."""
    if isinstance(node, Keyword):
        return (node.value,)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary | Compare):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()
