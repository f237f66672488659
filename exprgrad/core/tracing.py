"""The value and the gradient of every line: Karpathy's forward/backward table, as data.

A Trace is what f.trace(...) returns: one Row per line of the optimized program
(its name in the generated code, the formula text it computes, its value and
its adjoint d value / d line), and for the formula's inputs and the names it
assigns, their values and adjoints; printed, the inputs come first, their
gradients being what value_and_grad returns. The numbers come from a generated function
like forward() and value_and_grad(), never from an interpreter.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from .ir import CONST, INPUT, Program, quote
from .primitives import COMPARISON_NAMES


class Row(NamedTuple):
    name: str  # the line's name in the generated code: t3, or a name the formula assigned
    text: str  # the formula text the line computes
    value: float | None  # None for a line inside a where branch not taken (an array: numpy)
    grad: float  # d(value of the formula) / d(this line), of the line's shape


HEADINGS = ("name", "computes", "value", "gradient")
_ELIDE_ABOVE = 60  # rows; a longer table shows its first and last rows and a count between
_SHOWN = 25  # rows shown at each end of a long table


def _number(value: float | None) -> str:
    if value is None:
        return "(not computed)"
    shape = getattr(value, "shape", ())
    if shape:  # an array (the numpy backend): its shape and range
        low, high = float(value.min()), float(value.max())
        return f"{'x'.join(map(str, shape))} in [{low:.6g}, {high:.6g}]"
    if isinstance(value, list):  # nested lists (the lists backend): the same
        sizes, flat = [], [value]
        while flat and isinstance(flat[0], list):
            sizes.append(len(flat[0]))
            flat = [item for row in flat for item in row]
        if not flat:
            return f"{'x'.join(map(str, sizes))} (empty)"
        nan = any(item != item for item in flat)
        low, high = (math.nan, math.nan) if nan else (min(flat), max(flat))
        return f"{'x'.join(map(str, sizes))} in [{low:.6g}, {high:.6g}]"
    value = float(value)
    return repr(value) if math.isfinite(value) or math.isnan(value) else str(value)


class Trace:
    """Values and adjoints of every line of a formula at one point.

    rows: a Row(name, text, value, grad) per line, in program order.
    value: the formula's value.
    values, grads: the formula's inputs and assigned names -> value and d value / d it;
        grads over the inputs equal f.grad at the same point.
    inputs: the formula's input names; the printed table starts with them.
    str(trace) is the guide's forward/backward table; in a notebook it shows as HTML.
    """

    def __init__(
        self,
        formula: str,
        value: float,
        rows: list[Row],
        values: Mapping[str, float | None],
        grads: Mapping[str, float],
        inputs: tuple[str, ...] = (),
    ):
        self.formula = formula
        self.value = value
        self.rows = rows
        self.values = dict(values)
        self.grads = dict(grads)
        self.inputs = inputs

    def _shown_rows(self) -> tuple[list[Row], int, list[Row]]:
        """The rows to show, inputs first: all of them, or the first and last lines with
        the count between."""
        given = [Row(n, "input", self.values[n], self.grads[n]) for n in self.inputs]
        if len(self.rows) <= _ELIDE_ABOVE:
            return given + self.rows, 0, []
        return given + self.rows[:_SHOWN], len(self.rows) - 2 * _SHOWN, self.rows[-_SHOWN:]

    def _cells(self, rows: list[Row]) -> list[tuple[str, str, str, str]]:
        return [(r.name, r.text, _number(r.value), _number(r.grad)) for r in rows]

    def __str__(self) -> str:
        head, elided, tail = self._shown_rows()
        cells = self._cells(head) + self._cells(tail)
        widths = [max([len(h), *(len(c[k]) for c in cells)]) for k, h in enumerate(HEADINGS)]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        lines = [line(HEADINGS), line(tuple("-" * w for w in widths))]
        lines += [line(c) for c in self._cells(head)]
        if elided:
            lines.append(f"... {elided} more lines ...")
            lines += [line(c) for c in self._cells(tail)]
        lines.append(f"value = {_number(self.value)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head, elided, tail = self._shown_rows()

        def row(cells: tuple[str, ...], tag: str = "td") -> str:
            inner = "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells)
            return f"<tr>{inner}</tr>"

        body = [row(c) for c in self._cells(head)]
        if elided:
            body.append(f'<tr><td colspan="4">... {elided} more lines ...</td></tr>')
            body += [row(c) for c in self._cells(tail)]
        return (
            f"<table><caption>{html.escape(self.formula)}</caption>"
            f"<thead>{row(HEADINGS, 'th')}</thead><tbody>{''.join(body)}</tbody>"
            f'<tfoot><tr><td colspan="4">value = {_number(self.value)}</td></tr></tfoot>'
            "</table>"
        )

    def __repr__(self) -> str:
        return f"<Trace of {self.formula!r}: value {self.value!r}, {len(self.rows)} lines>"


def trace_rows(program: Program) -> list[int]:
    """The ops a generated trace function returns: the inputs, then every line but
    comparisons (they are written into their where)."""
    inputs = [i for i, op in enumerate(program.ops) if op.prim == INPUT]
    lines = [
        i
        for i, op in enumerate(program.ops)
        if op.prim not in (INPUT, CONST) and op.prim not in COMPARISON_NAMES
    ]
    return inputs + lines


def make_trace(
    formula: str,
    program: Program,
    names: Mapping[int, str],
    rows: Sequence[int],
    value: float,
    values: Sequence,
    adjoints: Sequence,
) -> Trace:
    """The Trace of a generated trace function's results: program is the forward program
    whose trace_rows() were returned, names the generated code's names of its ops."""
    ops = program.ops
    count = sum(ops[i].prim == INPUT for i in rows)  # the inputs come first
    table = [
        Row(names[i], quote(formula, ops[i]), values[k], adjoints[k])
        for k, i in enumerate(rows[count:], start=count)
    ]
    row_of = {i: k for k, i in enumerate(rows)}
    named = [(name, row_of[i]) for name, i in program.input_ids().items()]
    # score = z names z's line too
    named += [(name, row_of[i]) for name, i in program.assigned.items() if i in row_of]
    by_name = {name: values[k] for name, k in named}
    gradients = {name: adjoints[k] for name, k in named}
    return Trace(formula, value, table, by_name, gradients, tuple(program.input_ids()))
