"""The front ends' precedence writer (exprgrad.frontends.text) on its own: what it writes
parses back to the tree it was given, with parentheses exactly where the grammar needs them."""

from __future__ import annotations

import itertools
import math

import pytest

from exprgrad.core import syntax
from exprgrad.core.parsing import parse
from exprgrad.core.primitives import BINARY_OPERATORS, BY_NAME, COMPARISONS
from exprgrad.errors import ArgumentValueError, FormulaError
from exprgrad.frontends.text import (
    ATOM,
    LEFT,
    PRECEDENCE,
    RIGHT,
    SYMBOL,
    UNARY,
    binary,
    enclose,
    negative,
    number,
    operand,
    precedence,
)

BINARY = [name for name in PRECEDENCE if name != "neg"]
A, B, C = ("a", ATOM), ("b", ATOM), ("c", ATOM)


def _tree(node: syntax.Expr):
    """A syntax tree as nested tuples of primitive names (parentheses leave no trace)."""
    if isinstance(node, syntax.Binary):
        return (BINARY_OPERATORS[node.op], _tree(node.left), _tree(node.right))
    if isinstance(node, syntax.Compare):
        return (COMPARISONS[node.op], _tree(node.left), _tree(node.right))
    if isinstance(node, syntax.Unary):
        return ("neg", _tree(node.operand)) if node.op == "-" else _tree(node.operand)
    if isinstance(node, syntax.Number):
        return node.value
    if isinstance(node, syntax.Name):
        return node.id
    raise AssertionError(node)


def _parsed(text: str):
    (statement,) = parse(text).statements
    return _tree(statement)


def _plain(text: str):
    """The tree of the text with its parentheses dropped, or None where that fails to parse."""
    try:
        return _parsed(text.replace("(", "").replace(")", ""))
    except FormulaError:
        return None


def test_the_symbols_are_the_primitive_tables():
    assert SYMBOL == {name: BY_NAME[name].symbol for name in PRECEDENCE}
    assert set(BINARY_OPERATORS.values()) | set(COMPARISONS.values()) == set(BINARY)
    assert SYMBOL["pow"] == "**" and SYMBOL["neg"] == "-"
    assert precedence("exp") == ATOM and precedence("neg") == UNARY


@pytest.mark.parametrize(("outer", "inner"), list(itertools.product(BINARY, BINARY)))
def test_every_operator_pair_on_both_sides(outer, inner):
    inside = binary(inner, A, B)
    for side, text, tree in (
        (LEFT, binary(outer, inside, C), (outer, (inner, "a", "b"), "c")),
        (RIGHT, binary(outer, C, inside), (outer, "c", (inner, "a", "b"))),
    ):
        assert _parsed(text[0]) == tree, (text, side)
        assert text[1] == PRECEDENCE[outer]
        # parentheses only where the text without them would mean something else
        assert ("(" in text[0]) == (_plain(text[0]) != tree), text


@pytest.mark.parametrize("name", BINARY)
def test_a_sign_and_each_operator(name):
    minus_a = negative(A)
    assert minus_a == ("-a", UNARY)
    for text, tree in (
        (negative(binary(name, A, B)), ("neg", (name, "a", "b"))),
        (binary(name, minus_a, B), (name, ("neg", "a"), "b")),
        (binary(name, A, minus_a), (name, "a", ("neg", "a"))),
    ):
        assert _parsed(text[0]) == tree, text
        assert ("(" in text[0]) == (_plain(text[0]) != tree), text
    # what the sign binds tighter or looser than
    assert negative(binary("pow", A, B))[0] == "-a ** b"
    assert binary("pow", minus_a, B)[0] == "(-a) ** b"
    assert binary("pow", A, minus_a)[0] == "a ** -a"
    assert negative(minus_a) == ("--a", UNARY)


def test_powers_associate_to_the_right():
    assert binary("pow", A, binary("pow", B, C))[0] == "a ** b ** c"
    assert binary("pow", binary("pow", A, B), C)[0] == "(a ** b) ** c"
    assert _parsed("a ** b ** c") == ("pow", "a", ("pow", "b", "c"))
    assert binary("sub", A, binary("sub", B, C))[0] == "a - (b - c)"
    assert binary("div", binary("div", A, B), C)[0] == "a / b / c"


def test_comparisons_do_not_chain():
    assert binary("lt", binary("lt", A, B), C)[0] == "(a < b) < c"
    assert binary("lt", A, binary("add", B, C))[0] == "a < b + c"
    assert binary("add", binary("ge", A, B), C)[0] == "(a >= b) + c"


VALUES = [0.0, 1.0, 2.0, 0.1, 1e16, 1e15 + 1, 2.0**53, 1e300, 5e-324, 2.2250738585072014e-308]


@pytest.mark.parametrize("value", [v for x in VALUES for v in (x, -x)])
@pytest.mark.parametrize("keep_point", [False, True])
def test_numbers_parse_back_bit_for_bit(value, keep_point):
    text, level = number(value, keep_point=keep_point)
    negated = math.copysign(1.0, value) < 0
    assert level == (UNARY if negated else ATOM)
    parsed = _parsed(text)
    if negated:
        assert parsed[0] == "neg"
        parsed = -parsed[1]
    assert parsed == value and math.copysign(1.0, parsed) == math.copysign(1.0, value)
    # a negative number is a sign: as the base of a power it keeps its parentheses
    power = binary("pow", (text, level), B)[0]
    assert _parsed(power)[0] == "pow"


def test_whole_numbers_and_negative_zero():
    assert number(2.0) == ("2", ATOM) and number(2.0, keep_point=True) == ("2.0", ATOM)
    assert number(-2.0) == ("-2", UNARY) and number(-2.5) == ("-2.5", UNARY)
    assert number(-0.0) == ("-0", UNARY) and number(0.0) == ("0", ATOM)
    assert number(-0.0, keep_point=True) == ("-0.0", UNARY)
    assert number(1e16) == ("1e+16", ATOM) and number(1e15 + 1) == ("1000000000000001", ATOM)
    assert binary("pow", number(-0.0), B)[0] == "(-0) ** b"
    assert binary("mul", A, number(-3.0))[0] == "a * -3"


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_numbers_that_are_not_finite_have_no_text(value):
    with pytest.raises(ArgumentValueError, match="no formula text"):
        number(value)


def test_operand_and_enclose():
    total = binary("add", A, B)
    assert operand(total, "mul", LEFT) == "(a + b)" and operand(total, "sub", LEFT) == "a + b"
    assert operand(total, "sub", RIGHT) == "(a + b)"
    assert enclose(total, ATOM) == ("(a + b)", ATOM) and enclose(A, ATOM) == A
    assert enclose(negative(A), UNARY) == ("-a", UNARY)
