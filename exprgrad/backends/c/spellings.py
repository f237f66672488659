"""Primitive name -> C99 source: how the C backend writes each row of the table, and checks it.

Templates get operands that are always names or constants: "{0}", "{1}", ... by position.
min and max are a function of the operands (a constant operand is compared once), as in
the Python backend. The helpers (_sigmoid, ...) are small static functions that codegen.py
pastes in, with the same branches as the Python helpers. The array rows have no spelling:
this backend refuses them.

CHECKS holds, for the rows that may raise, when the result is an error and which: a list
of (C condition over the operands {0}, {1} and the result {r}, kind), tested in order;
kind 1 is a domain error (Python raises ValueError), 2 a division by zero
(ZeroDivisionError), 3 an overflow (OverflowError). The conditions are the ones CPython
uses: float division fails for a zero divisor; math.pow, the functions of math_1 and
float ** check the libm result (a NaN from non-NaN arguments is a domain error, an
infinite result from finite arguments an overflow or, where the function can't
overflow there, a domain error: log(0), atanh(1), 0 ** -1). A row that may raise by the
table but never does for any double (sigmoid, softplus, erf, ...) has no check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...core.primitives import PRIMITIVES

Emitter = Callable[[Sequence[str], Sequence[bool]], str]

DOMAIN, DIVISION, OVERFLOW = 1, 2, 3
KIND_NAMES = {DOMAIN: "domain error", DIVISION: "division by zero", OVERFLOW: "overflow"}


def _selector(less: str, helper: str) -> Emitter:
    """min (less "<") or max (less ">"): as the Python backend's spelling, NaN propagating;
    more than two operands go to the helper as a C99 compound literal."""

    def emit(operands: Sequence[str], constant: Sequence[bool]) -> str:
        if len(operands) != 2:
            return f"{helper}({len(operands)}, (const double[]){{{', '.join(operands)}}})"
        x, y = operands
        if constant[1]:
            return f"{y} {less} {x} ? {y} : {x}"  # x NaN: the comparison fails, x wins
        if constant[0]:
            return f"{x} {less}= {y} ? {x} : {y}"  # y NaN: the comparison fails, y wins
        return f"{y} {less} {x} ? {y} : {y} == {y} ? {x} : {y}"

    return emit


# fmt: off
SPELLINGS: dict[str, str | Emitter] = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "neg": "-{0}",
    "pow": "pow({0}, {1})", "powi": "pow({0}, {1})",
    "exp": "exp({0})", "log": "log({0})", "sqrt": "sqrt({0})",
    "sin": "sin({0})", "cos": "cos({0})", "tan": "tan({0})",
    "asin": "asin({0})", "acos": "acos({0})", "atan": "atan({0})",
    "sinh": "sinh({0})", "cosh": "cosh({0})", "tanh": "tanh({0})",
    "asinh": "asinh({0})", "acosh": "acosh({0})", "atanh": "atanh({0})",
    "abs": "fabs({0})",
    "sigmoid": "_sigmoid({0})",
    "relu": "{0} <= 0.0 ? 0.0 : {0}",  # NaN stays NaN: the comparison fails
    "softplus": "_softplus({0})",
    "log1p": "log1p({0})", "expm1": "expm1({0})",
    "erf": "erf({0})", "erfc": "erfc({0})",
    "hypot": "hypot({0}, {1})", "atan2": "atan2({0}, {1})",
    "clip": "_clip({0}, {1}, {2})",
    # C's conditional operator, like Python's, only evaluates the branch it picks; a
    # number as condition is true when nonzero (NaN too), as in Python
    "where": "{0} ? {1} : {2}",
    "min": _selector("<", "_min"), "max": _selector(">", "_max"),
    "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "eq": "{0} == {1}", "ne": "{0} != {1}",
}
# fmt: on

# The array rows: compile(..., backend="c") refuses them (the numpy backend takes arrays).
NOT_SPELLED = frozenset(p.name for p in PRIMITIVES if p.arrays)

_NAN_RESULT = ("isnan({r}) && !isnan({0})", DOMAIN)
_POLE = ("isinf({r}) && isfinite({0})", DOMAIN)  # log(0), log1p(-1), atanh(1)
_OVERFLOW = ("isinf({r}) && isfinite({0})", OVERFLOW)

CHECKS: dict[str, list[tuple[str, int]]] = {
    "div": [("{1} == 0.0", DIVISION)],
    # math.pow: finite arguments only; an infinite result is 0 to a negative power or overflow
    "pow": [
        ("isnan({r}) && isfinite({0}) && isfinite({1})", DOMAIN),
        ("isinf({r}) && {0} == 0.0 && isfinite({1})", DOMAIN),
        ("isinf({r}) && isfinite({0}) && isfinite({1})", OVERFLOW),
    ],
    # float ** a whole number (a constant): 0 to a negative power, or overflow
    "powi": [("isinf({r}) && {0} == 0.0", DIVISION), ("isinf({r}) && isfinite({0})", OVERFLOW)],
    "exp": [_OVERFLOW], "expm1": [_OVERFLOW], "sinh": [_OVERFLOW], "cosh": [_OVERFLOW],
    "log": [_NAN_RESULT, _POLE], "log1p": [_NAN_RESULT, _POLE], "atanh": [_NAN_RESULT, _POLE],
    "sqrt": [_NAN_RESULT], "acosh": [_NAN_RESULT], "asin": [_NAN_RESULT],
    "acos": [_NAN_RESULT], "sin": [_NAN_RESULT], "cos": [_NAN_RESULT], "tan": [_NAN_RESULT],
}  # fmt: skip


def spell(prim: str, operands: Sequence[str], constant: Sequence[bool] = ()) -> str:
    """The C expression computing prim on the operands (names or constants)."""
    spelling = SPELLINGS[prim]
    if not isinstance(spelling, str):
        return spelling(operands, constant or [False] * len(operands))
    return spelling.format(*operands)


def checks(prim: str, operands: Sequence[str], result: str) -> list[tuple[str, int]]:
    """The conditions under which prim's result is an error, with the kind of each."""
    return [
        (condition.format(*operands, r=result), kind) for condition, kind in CHECKS.get(prim, ())
    ]
