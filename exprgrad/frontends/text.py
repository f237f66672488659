"""Operators, operands and numbers -> formula text: the one precedence writer of the front
ends that write formulas (gates, sympy).

How tightly each operator binds follows grammar/exprgrad.lark, loosest first: one
comparison (not chained), sums (+ -), products (* / @), a sign (-x), powers (**: right
associative, tighter than the sign before them, while their exponent may carry one:
-x ** -2 is -(x ** (-2))), then atoms (numbers, names, calls, parentheses). Sums and
products associate to the left, so a right operand of the same level keeps its
parentheses: a - (b - c), a * (b * c). The symbols are the primitive table's.
"""

from __future__ import annotations

import math

from ..core.primitives import BY_NAME, COMPARISON_NAMES
from ..errors import ArgumentValueError

COMPARE, SUM, PRODUCT, UNARY, POWER, ATOM = range(1, 7)  # higher binds tighter
LEFT, RIGHT = 0, 1  # an operand's side of a binary operator

Text = tuple[str, int]  # formula text and the precedence of its outermost operator

# The operator primitives by level (a primitive not here is written as a call: an atom).
PRECEDENCE: dict[str, int] = {
    "add": SUM,
    "sub": SUM,
    "mul": PRODUCT,
    "div": PRODUCT,
    "matmul": PRODUCT,
    "neg": UNARY,
    "pow": POWER,
} | dict.fromkeys(sorted(COMPARISON_NAMES), COMPARE)
SYMBOL: dict[str, str] = {name: BY_NAME[name].symbol for name in PRECEDENCE}


def precedence(prim: str) -> int:
    """How tightly the text of an op of this primitive binds: a call is an atom."""
    return PRECEDENCE.get(prim, ATOM)


def needs_parentheses(operand: int, prim: str, side: int = LEFT) -> bool:
    """Whether an operand of this precedence needs parentheses on this side of the operator
    primitive `prim` (a sign has one operand, on its right: pass side LEFT or omit it)."""
    level = PRECEDENCE[prim]
    if level == UNARY:
        return operand < UNARY  # -x ** 2 is -(x ** 2); --x is -(-x)
    if level == POWER:  # the base is an atom, (-2) ** x; the exponent may be signed, x ** -2
        return operand <= POWER if side == LEFT else operand < UNARY
    if level == COMPARE:
        return operand <= COMPARE  # comparisons do not chain
    return operand < level if side == LEFT else operand <= level


def operand(text: Text, prim: str, side: int = LEFT) -> str:
    """An operand's text as it stands on that side of the operator: parenthesised if needed."""
    return f"({text[0]})" if needs_parentheses(text[1], prim, side) else text[0]


def enclose(text: Text, least: int) -> Text:
    """The text in parentheses unless it binds at least as tightly as `least`: for a writer
    that wants more parentheses than the grammar needs."""
    return text if text[1] >= least else (f"({text[0]})", ATOM)


def binary(prim: str, left: Text, right: Text) -> Text:
    """left op right, each operand parenthesised as the operator needs."""
    text = f"{operand(left, prim, LEFT)} {SYMBOL[prim]} {operand(right, prim, RIGHT)}"
    return text, PRECEDENCE[prim]


def negative(text: Text) -> Text:
    """-text, parenthesised as a sign's operand needs."""
    return f"{SYMBOL['neg']}{operand(text, 'neg')}", UNARY


def number(value: float, *, keep_point: bool = False) -> Text:
    """A finite float as formula text that parses back to it bit for bit, and its precedence
    (a negative number is a sign and its operand: (-2) ** x). repr() round trips; a whole
    number is written without its .0 unless keep_point (a sympy Float: 2.0 as sympy prints
    it), and -0.0 keeps its sign, as -0."""
    if not math.isfinite(value):
        raise ArgumentValueError(f"{value} has no formula text: formulas write finite numbers")
    sign = math.copysign(1.0, value) < 0
    level = UNARY if sign else ATOM
    if not keep_point and value.is_integer() and abs(value) < 1e16:
        return "-" * sign + str(abs(int(value))), level
    return repr(value), level
