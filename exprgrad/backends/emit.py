"""What every code generator shares: names, literals, use counts, comments, the header.

A backend's code generator turns a program into source in its own language; the
rules here keep the generated code of every backend alike to read: a formula name
keeps its name (mangled where it could clash), other values are t1, t2, ... and the
gradient of v is v_grad, constants round-trip exactly, comments quote the formula.
"""

from __future__ import annotations

import bisect
import builtins
import keyword
import math
import re
import textwrap
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain

from ..core.ir import CONST, INPUT, Op, Program
from ..core.primitives import COMPARISON_NAMES
from ..errors import line_and_column

_RESERVED = (
    frozenset(keyword.kwlist)
    | frozenset(keyword.softkwlist)
    | frozenset(dir(builtins))
    | {"math", "np"}
    # the Python backend's generated functions, which call themselves again on converted
    # arguments, and the name its handlers bind the exception to: a formula name must not
    # shadow them (tests/test_codegen.py checks the list against codegen.RETURNS)
    | {"forward", "value_and_grad", "trace", "hessian", "jacobian", "residuals", "jvp", "hvp"}
    | {"hessp", "flat", "flat_with", "error"}
)
_GENERATED = re.compile(r"t\d+|.*_grad|_.*|.*_")

COMMENT_COLUMN = 32
HEADER_LIMIT = 96
LINE_LIMIT = 100
# Longer code is written in functions of at most this many lines (python/pieces.py): about
# 50 MB for CPython's compiler, which compiles a function as a whole
PIECE_LINES = 10_000


def mangle(name: str) -> str:
    """The Python identifier for a formula name; injective, never a generated or reserved name."""
    if name in _RESERVED:
        return name + "_"
    # _GENERATED's names start with t or _, or end with _ (or _grad): others skip the pattern
    if (name[:1] in "t_" or name[-1:] in "_d") and _GENERATED.fullmatch(name):
        return name + "_"
    return name


def literal(value: float) -> str:
    """A constant as Python source that evaluates to exactly the same float."""
    if math.isnan(value):
        return "math.nan"
    if math.isinf(value):
        return "math.inf" if value > 0 else "(-math.inf)"
    text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


@dataclass(frozen=True, slots=True)
class Generated:
    source: str
    params: tuple[str, ...]  # parameter names, in the order of the formula's inputs
    line_ops: Mapping[int, Op]  # 1-based source line -> the op computed there
    helpers: tuple[str, ...]  # helper functions the code calls
    names: Mapping[int, str] = field(default_factory=dict)  # op id -> its name in the code
    # code in pieces (python/pieces.py): each piece's (first line, first and last character),
    # compiled one at a time, and the constants the code names (tables of slots)
    parts: tuple[tuple[int, int, int], ...] = ()
    tables: dict[str, tuple] = field(default_factory=dict)


class NameList(Mapping[int, str]):
    """Op id -> its name in the code, for every op, held in a list: what the Generated of
    a long program keeps (a dict would hold an int object and a hash entry per op too,
    three times the memory)."""

    __slots__ = ("_names",)

    def __init__(self, names: list[str]):
        self._names = names

    def __getitem__(self, op_id: int) -> str:
        if not 0 <= op_id < len(self._names):
            raise KeyError(op_id)
        return self._names[op_id]

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self._names)))

    def __len__(self) -> int:
        return len(self._names)


class LineOps(Mapping[int, Op]):
    """1-based source line -> the op computed there, for lines added in increasing order,
    held in an array and a list: what the Generated of a long program keeps (a dict
    would hold an int object and a hash entry per line too)."""

    __slots__ = ("_lines", "_ops")

    def __init__(self) -> None:
        self._lines = array("q")
        self._ops: list[Op] = []

    def add(self, line: int, op: Op) -> None:
        self._lines.append(line)
        self._ops.append(op)

    def __getitem__(self, line: int) -> Op:
        k = bisect.bisect_left(self._lines, line)
        if k == len(self._lines) or self._lines[k] != line:
            raise KeyError(line)
        return self._ops[k]

    def __iter__(self) -> Iterator[int]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._ops)


def use_counts(program: Program) -> Counter:
    uses = Counter(program.outputs())
    uses.update(chain.from_iterable(op.args for op in program.ops))  # counted in C
    return uses


def inlined_comparisons(program: Program) -> set[int]:
    """Comparisons read once, by a where: written into its condition, not on a line."""
    ops = program.ops
    conditions = [
        op.args[0] for op in ops if op.prim == "where" and ops[op.args[0]].prim in COMPARISON_NAMES
    ]
    if not conditions:  # no use counts needed (most programs have no where)
        return set()
    uses = use_counts(program)
    return {condition for condition in conditions if uses[condition] == 1}


class Namer:
    """Each op's name in generated code: a formula name (mangled), a literal, v_grad for
    the gradient of v, t1, t2, ... otherwise; an inlined comparison is its expression."""

    def __init__(self, program: Program, inlined: set[int], spell: Callable[[str, list[str]], str]):
        self.names: dict[int, str] = {}
        names, grad_of = self.names, program.grad_of
        counter = 0
        for i, op in enumerate(program.ops):
            if i in inlined:
                operands = [names[a] for a in op.args]
                names[i] = spell(op.prim, operands)
            elif op.prim == INPUT:
                names[i] = mangle(op.name)
            elif op.prim == CONST:
                names[i] = literal(op.value)
            elif op.name is not None and not op.in_gradient:
                names[i] = mangle(op.name)
            elif op.in_gradient and grad_of.get(i, i) < i:
                # (hash-consing can make an earlier op the adjoint of a later one: no name then)
                names[i] = names[grad_of[i]] + "_grad"
            else:
                counter += 1
                names[i] = f"t{counter}"


def covered(spans: list, source: str) -> str:
    """The part of the formula some ops come from, for the comment opening a piece of
    code: 'formula lines 3-40' or 'formula line 1, columns 1-9,000'."""
    spans = [span for span in spans if span is not None]
    if not spans:
        return "no formula text"
    first, start = line_and_column(source, min(s.start for s in spans))
    last, end = line_and_column(source, max(s.end for s in spans) - 1)
    if first != last:
        return f"formula lines {first:,}-{last:,}"
    return f"formula line {first:,}, columns {start:,}-{end:,}"


def wrapped_call(head: str, items: list[str], tail: str, indent: str) -> list[str]:
    """`head` + items + `tail` (head ends with an opening bracket, tail starts with its
    closing one) on one line, or with the items wrapped within the line limit."""
    one_line = f"{indent}{head}{', '.join(items)}{tail}"
    if len(one_line) <= LINE_LIMIT:
        return [one_line]
    width = LINE_LIMIT - len(indent) - 4
    chunks = textwrap.wrap(", ".join(items) + ",", width, break_long_words=False)
    return [f"{indent}{head}", *(f"{indent}    {chunk}" for chunk in chunks), f"{indent}{tail}"]


def header(source: str) -> str:
    """The comment that opens generated source: the formula, one comment line per line."""
    lines = ["# generated by exprgrad from:"]
    for text in source.splitlines():
        text = "".join(ch if " " <= ch <= "~" else "?" for ch in text[: HEADER_LIMIT + 1])
        if len(text) > HEADER_LIMIT:
            text = text[: HEADER_LIMIT - 3] + "..."
        lines.append(f"# {text}".rstrip())
    return "\n".join(lines) + "\n"
