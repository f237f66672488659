"""Formula text -> syntax tree, via Lark's LALR parser; every Lark error becomes a FormulaError.

The syntax tree is built while parsing (Lark's inline transformer), so no
parse tree is materialized and nothing here recurses: 5,000 nested
parentheses and 100,000-term sums parse in constant stack depth.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import ArgumentError, FormulaError, Span, shorten
from . import syntax

_PACKAGE = Path(__file__).resolve().parent.parent  # exprgrad/
# Installed wheels carry the grammar inside the package; a source checkout keeps it at the top.
_GRAMMAR_PATHS = (
    _PACKAGE / "grammar" / "exprgrad.lark",
    _PACKAGE.parent / "grammar" / "exprgrad.lark",
)


def grammar_text() -> str:
    for path in _GRAMMAR_PATHS:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"exprgrad's grammar is missing; looked in {_GRAMMAR_PATHS}")


def _span(item: Token | syntax.Expr) -> Span:
    if isinstance(item, Token):
        return Span(item.start_pos, item.end_pos)
    return item.span


class _ToSyntax(Transformer):
    """Called by the parser as each rule is reduced; children are tokens or finished nodes."""

    def program(self, statements):
        return tuple(statements)

    def assign(self, children):
        target, _, value = children
        return syntax.Assign(str(target), _span(target), value, _span(target).cover(value.span))

    def compare(self, children):
        left, op, right = children
        return syntax.Compare(str(op), left, right, left.span.cover(right.span))

    def sum(self, children):
        return self._fold_left(children)

    def product(self, children):
        return self._fold_left(children)

    @staticmethod
    def _fold_left(children):
        node = children[0]
        for i in range(1, len(children), 2):
            right = children[i + 1]
            node = syntax.Binary(str(children[i]), node, right, node.span.cover(right.span))
        return node

    def sign(self, children):
        op, operand = children
        return syntax.Unary(str(op), operand, _span(op).cover(operand.span))

    def power(self, children):
        base, _, exponent = children
        return syntax.Binary("**", base, exponent, base.span.cover(exponent.span))

    def number(self, children):
        (token,) = children
        return syntax.Number(float(token), str(token), _span(token))

    def name(self, children):
        (token,) = children
        return syntax.Name(str(token), _span(token))

    def call(self, children):
        func, args, rpar = children[0], children[2:-1], children[-1]
        args = args[0] if args else ()
        return syntax.Call(str(func), _span(func), tuple(args), _span(func).cover(_span(rpar)))

    def keyword(self, children):
        name, _, value = children
        return syntax.Keyword(str(name), _span(name), value, _span(name).cover(value.span))

    def arguments(self, children):
        return [child for child in children if not isinstance(child, Token)]

    def group(self, children):
        lpar, inner, rpar = children
        # The parentheses become part of the inner node's span, so comments quote them.
        return dataclasses.replace(inner, span=_span(lpar).cover(_span(rpar)))


class _NewlinesInParentheses:
    """Post-lexer: a newline inside parentheses continues the expression, as in Python."""

    always_accept = ("_SEP",)

    def process(self, stream):
        depth = 0
        for token in stream:
            if token.type == "LPAR":
                depth += 1
            elif token.type == "RPAR":
                depth -= 1
            elif token.type == "_SEP" and depth > 0 and token.value != ";":
                continue
            yield token


@functools.cache
def _parser() -> Lark:
    return Lark(
        grammar_text(),
        start="program",
        parser="lalr",
        lexer="contextual",
        postlex=_NewlinesInParentheses(),
        transformer=_ToSyntax(),
    )


def parse(source: str) -> syntax.Program:
    """Parse formula text into a syntax tree; raise FormulaError on any syntax error."""
    if not isinstance(source, str):
        raise ArgumentError(f"a formula must be a str, not {type(source).__name__}")
    try:
        statements = _parser().parse(source)
    except UnexpectedInput as error:
        raise _formula_error(source, error) from None
    return syntax.Program(statements, source)


# --- turning Lark's errors into words ------------------------------------------------

_TOKEN_WORDS = {
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "ASSIGN": "'='",
}
_OPERATORS = {"ADD_OP", "MUL_OP", "POW_OP", "COMPARE"}


def _content_end(source: str, blanks: str) -> int:
    """Offset just after the last character that is neither in blanks nor in a comment.

    Walks the lines from the end, each character looked at a bounded number of
    times: a regular expression here backtracked exponentially on runs of '#'.
    """
    end = len(source)
    last_lf, last_cr = source.rfind("\n", 0, end), source.rfind("\r", 0, end)
    while end > 0:
        # Line breaks found so far lie at or before end, so each rfind resumes where one stopped.
        if last_lf >= end:
            last_lf = source.rfind("\n", 0, end)
        if last_cr >= end:
            last_cr = source.rfind("\r", 0, end)
        line_start = max(last_lf, last_cr) + 1
        comment = source.find("#", line_start, end)  # formulas have no strings: '#' starts one
        content = source[line_start : end if comment == -1 else comment].rstrip(blanks)
        if content:
            return line_start + len(content)
        end = line_start - 1 if line_start > 0 else 0
    return 0


def _describe_token(token: Token) -> str:
    if token.type == "NAME":
        return f"name '{shorten(token)}'"
    if token.type == "NUMBER":
        return f"number {shorten(token)}"
    if token.type == "_SEP":
        return "';'" if token == ";" else "end of line"
    return f"'{token}'"


def _describe_expected(expected: set[str]) -> str:
    words = []
    if {"NAME", "NUMBER"} & expected:
        words.append("a number, a name or '('")
    elif "LPAR" in expected:
        words.append("'('")
    if _OPERATORS & expected and "NAME" not in expected:
        words.append("an operator")
    for terminal in ("RPAR", "COMMA", "ASSIGN"):
        if terminal in expected:
            words.append(_TOKEN_WORDS[terminal])
    if {"_SEP", "$END"} & expected:
        words.append("the end of the statement")
    if not words:
        return ""
    return ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]


def _formula_error(source: str, error: UnexpectedInput) -> FormulaError:
    if isinstance(error, UnexpectedCharacters):
        char = source[error.pos_in_stream]
        span = Span(error.pos_in_stream, error.pos_in_stream + 1)
        detail = None
        if char in "'\"":
            message, detail = f"unexpected {char}", "formulas have no strings"
        elif char in "[]{}.:@`\\$!?&|~%":
            message, detail = f"unexpected '{char}'", "not part of the formula language"
        elif char.isprintable() and char.isascii():
            message = f"unexpected character '{char}'"
        else:
            message, detail = f"unexpected character {char!r}", "formulas are written in ASCII"
        return FormulaError(message, source, span, detail=detail)

    if not isinstance(error, UnexpectedToken):  # no other kind comes from LALR; stay safe
        offset = min(getattr(error, "pos_in_stream", None) or 0, len(source))
        return FormulaError("syntax error", source, Span(offset, offset + 1))
    # accepts (unlike expected) is exact: LALR merges states, so expected overstates.
    expected = _describe_expected(set(error.accepts or error.expected))
    token = error.token
    if token.type == "$END":
        # Only separators, blanks and comments before the end: there is no statement at all.
        if _content_end(source, " \t\f\r\n;") == 0:
            return FormulaError(
                "empty formula", source, Span(0, 0), detail="write an expression such as 'a*x + b'"
            )
        end = _content_end(source, " \t\f\r\n")
        return FormulaError(
            "formula ends early",
            source,
            Span(end, end),
            detail=f"expected {expected}" if expected else None,
        )

    span = Span(token.start_pos, token.end_pos)
    message = f"unexpected {_describe_token(token)}"
    hint = None
    previous = error.token_history[-1] if error.token_history else None
    if previous is not None and previous.type == "NUMBER" and token.type in ("NAME", "LPAR"):
        hint = f"write '{shorten(previous)}*{shorten(token)}' to multiply"
    elif token.type == "ASSIGN":
        hint = "only a plain name can be assigned; '==' compares"
    return FormulaError(
        message, source, span, detail=f"expected {expected}" if expected else None, hint=hint
    )
