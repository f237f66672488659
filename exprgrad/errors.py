"""Source spans and exprgrad's errors, one family under ``exprgrad.Error``.

Every error exprgrad raises on purpose is one of these classes, so
``except exprgrad.Error`` catches them all (as ``lark.exceptions.LarkError``
does for Lark); each also keeps the builtin base a caller would expect
(ValueError, TypeError, ImportError), so ``except ValueError`` still works.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from typing import Any

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(slots=True, unsafe_hash=True)
class Span:
    """Half-open character range [start, end) in the formula text.

    A value: equal and hashed by its ends, never changed once made. Not frozen, as a
    frozen dataclass is made three times slower, and the parser makes one per node."""

    start: int
    end: int

    def cover(self, other: Span) -> Span:
        return Span(min(self.start, other.start), max(self.end, other.end))


@functools.lru_cache(maxsize=4)
def _line_starts(source: str) -> list[int]:
    starts = [0]
    for match in _LINE_END.finditer(source):
        starts.append(match.end())
    return starts


def line_and_column(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset; '\\r\\n', '\\r' and '\\n' end lines."""
    # Line starts are computed once per source, so locating every op of a long file is linear.
    starts = _line_starts(source)
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def _printable(text: str) -> str:
    # Control characters would garble the terminal or shift the caret; show one '?' each.
    return "".join(ch if ch == "\t" or ch >= " " and ch != "\x7f" else "?" for ch in text)


_QUOTE_HEAD = 20


def shorten(text: str, limit: int = _QUOTE_HEAD) -> str:
    """A long user-written token cut for a message: its first characters, '...' and its length."""
    if len(text) <= limit + 3:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


_WINDOW = 100  # characters of a long line shown around the span
_BEFORE = 40  # of which, at most this many before the span starts


def render_caret(source: str, span: Span) -> str:
    """The formula line holding span.start, with carets under the span (one for a point).

    A line longer than about 100 characters is shown as a window around the span,
    with '...' where it is cut; the carets are clipped to that window.
    """
    line_start = max(source.rfind("\n", 0, span.start), source.rfind("\r", 0, span.start)) + 1
    line_end = len(source)
    for terminator in "\r\n":
        found = source.find(terminator, line_start)
        if found != -1:
            line_end = min(line_end, found)
    start, end = line_start, line_end
    if end - start > _WINDOW + 2 * len("..."):
        start = max(line_start, span.start - _BEFORE)
        end = min(line_end, start + _WINDOW)
        start = max(line_start, end - _WINDOW)  # near the line's end, keep the window full
    text = source[start:end]
    before = "..." if start > line_start else ""
    after = "..." if end < line_end else ""
    indent = " " * len(before) + "".join(
        "\t" if ch == "\t" else " " for ch in text[: span.start - start]
    )
    width = max(1, min(span.end, end) - span.start)
    return f"    {before}{_printable(text)}{after}\n    {indent}{'^' * width}"


class Error(Exception):
    """The base of every error exprgrad raises on purpose."""


class _PositionedError(Error, ValueError):
    """Renders as: what, where, ': ' detail, (hint), then the formula line with carets."""

    def __init__(
        self,
        message: str,
        source: str | None = None,
        span: Span | None = None,
        *,
        detail: str | None = None,
        hint: str | None = None,
    ):
        self.message = f"{message}: {detail}" if detail else message  # all but the position
        self.detail = detail
        self.hint = hint
        self.source = source
        self.span = span
        self.line: int | None = None
        self.column: int | None = None
        text = message
        if source is not None and span is not None:
            self.line, self.column = line_and_column(source, span.start)
            text += f" at line {self.line}, column {self.column}"
        if detail:
            text += f": {detail}"
        if hint:
            text += f" ({hint})"
        if source is not None and span is not None:
            text += f"\n{render_caret(source, span)}"
        super().__init__(text)


class FormulaError(_PositionedError):
    """A formula that cannot be compiled: bad syntax, unknown name or function, wrong arity.

    ``str(error)`` says what is wrong and where (line and column) and shows the
    formula line with carets under the spot. ``line``, ``column`` and ``span``
    hold the position; ``message`` holds the description alone.
    """


class EvaluationError(_PositionedError):
    """A compiled formula that fails at a point: log of a negative number, overflow, ...

    The message names the failing operation and its position in the formula,
    and whether it failed while computing the value or the gradient.
    """


class SymbolicError(Error, ValueError):
    """sympy cannot take a formula that compiles: it is nested too deeply for sympy's
    recursion, or sympy evaluates part of it to something undefined (log(0) in relu)."""


class ShapeError(_PositionedError):
    """Operands whose shapes a primitive cannot take (core/shapes.py adds the formula position
    and raises a FormulaError at compile time), or call-time arrays of the wrong shape:
    a cotangent unlike the value, an empty axis for mean or amax (then with the position
    of the operation, as a FormulaError has)."""


class ArgumentError(Error, TypeError):
    """An argument of the wrong kind: a string where a number goes, a missing or
    unexpected input, a dict where a vector goes. A TypeError, as Python's own are."""


class ArgumentValueError(Error, ValueError):
    """An argument of the right kind with a value that cannot be used: a learning rate
    of 0, a vector of the wrong length, an unknown option name."""


class MissingDependencyError(Error, ImportError, RuntimeError):
    """An optional package or program that a feature needs is not installed; the
    message says what to install (``pip install 'exprgrad[array]'``, Graphviz's dot)."""


def require_numpy(what: str) -> Any:
    """numpy, imported for `what` (the core never imports it), or a MissingDependencyError
    saying how to install it."""
    try:
        import numpy
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs numpy: pip install numpy (or pip install 'exprgrad[array]')"
        ) from None
    return numpy
