"""The primitive table: every operation exprgrad knows, declared once.

A row gives the name (as written in formulas and IR dumps), the arity, the
Python and numpy spellings, the sympy counterpart and the derivative rules.
Adding a function to the language is one row here plus its tests.

Templates get operands that are always names or constants: "{0}", "{1}", ...
by position, "{args}" for all of them joined by ", " (n-ary rows).

Derivative rules are written in exprgrad's own formula language, one per
argument: `x`, `y`, `z` are the arguments, `out` the result, `g` the incoming
gradient; each rule is g * d(out)/d(argument). None marks an argument that
gets no gradient (a condition, a constant exponent). reverse.py parses each
rule once and splices it into the gradient program, so gradient code is made
of the same primitives as everything else and can be differentiated again.
The one rule text can't express (n-ary min/max, which split the gradient
evenly between tied arguments) is a Python function instead.

This module imports nothing of exprgrad's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class RuleBuilder(Protocol):
    """What a Python-function derivative rule may use to build gradient IR."""

    def op(self, prim: str, *args: int) -> int: ...
    def const(self, value: float) -> int: ...


GradRule = Callable[[RuleBuilder, tuple[int, ...], int, int], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Primitive:
    name: str  # as written in formulas and IR dumps
    arity: int | None  # None: two or more (min, max)
    python: str  # "math.tanh({0})"
    numpy: str  # "np.tanh({0})"
    sympy: Callable[..., Any]  # gets the sympy module first: lambda sp, x: sp.tanh(x)
    grads: tuple[str | None, ...] | GradRule  # g * d(out)/d(arg i), formula syntax
    symbol: str | None = None  # operator spelling ("+", "**"); None for functions
    callable: bool = True  # may a formula call it by name, as name(...)?
    domain: str | None = None  # what a math domain error (ValueError) means here
    python_pair: str | None = None  # a faster Python spelling for exactly two operands

    def emit_python(self, operands: Sequence[str]) -> str:
        template = self.python_pair if self.python_pair and len(operands) == 2 else self.python
        return template.format(*operands, args=", ".join(operands))

    def emit_numpy(self, operands: Sequence[str]) -> str:
        return self.numpy.format(*operands, args=", ".join(operands))


def _where_sympy(sp, cond, a, b):
    if not isinstance(cond, sp.logic.boolalg.Boolean):
        cond = sp.Ne(cond, 0)  # a plain number as condition: nonzero is true
    return sp.Piecewise((a, cond), (b, True))


def _tie_split(builder: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple[int, ...]:
    """min/max: the arguments equal to the result share the gradient evenly."""
    if len(args) == 2:
        x, y = args
        tie = builder.op("eq", x, y)
        half = builder.op("mul", builder.const(0.5), g)
        zero = builder.const(0.0)
        return tuple(
            builder.op("where", tie, half, builder.op("where", builder.op("eq", a, out), g, zero))
            for a in args
        )
    hits = [builder.op("eq", a, out) for a in args]
    one, zero = builder.const(1.0), builder.const(0.0)
    count = builder.op("where", hits[0], one, zero)
    for hit in hits[1:]:
        count = builder.op("add", count, builder.op("where", hit, one, zero))
    share = builder.op("div", g, count)
    return tuple(builder.op("where", hit, share, zero) for hit in hits)


def _unary(
    name: str,
    rule: str,
    sympy: Callable[..., Any],
    *,
    python: str | None = None,
    numpy: str | None = None,
    domain: str | None = None,
) -> Primitive:
    return Primitive(
        name,
        1,
        python or f"math.{name}({{0}})",
        numpy or f"np.{name}({{0}})",
        sympy,
        (rule,),
        domain=domain,
    )


def _compare(name: str, symbol: str, sympy: Callable[..., Any]) -> Primitive:
    return Primitive(
        name,
        2,
        f"{{0}} {symbol} {{1}}",
        f"{{0}} {symbol} {{1}}",
        sympy,
        (None, None),
        symbol=symbol,
        callable=False,
    )


_POW_DOMAIN = "pow of a negative number to a fractional power, or of 0 to a negative power"

# fmt: off  (a table: one row per primitive reads better than one argument per line)
PRIMITIVES: tuple[Primitive, ...] = (
    # operators
    Primitive(
        "add",
        2,
        "{0} + {1}",
        "{0} + {1}",
        lambda sp, x, y: x + y,
        ("g", "g"),
        symbol="+",
        callable=False,
    ),
    Primitive(
        "sub",
        2,
        "{0} - {1}",
        "{0} - {1}",
        lambda sp, x, y: x - y,
        ("g", "-g"),
        symbol="-",
        callable=False,
    ),
    Primitive(
        "mul",
        2,
        "{0} * {1}",
        "{0} * {1}",
        lambda sp, x, y: x * y,
        ("g * y", "g * x"),
        symbol="*",
        callable=False,
    ),
    Primitive(
        "div",
        2,
        "{0} / {1}",
        "{0} / {1}",
        lambda sp, x, y: x / y,
        ("g / y", "-g * out / y"),
        symbol="/",
        callable=False,
    ),
    Primitive("neg", 1, "-{0}", "-{0}", lambda sp, x: -x, ("-g",), symbol="-", callable=False),
    # x ** y for any y goes through math.pow, which raises instead of returning a
    # complex number; optimize.py turns a constant whole exponent into powi.
    Primitive(
        "pow",
        2,
        "math.pow({0}, {1})",
        "np.power({0}, {1})",
        lambda sp, x, y: x**y,
        ("g * y * x ** (y - 1)", "g * out * log(x)"),
        symbol="**",
        domain=_POW_DOMAIN,
    ),
    Primitive(
        "powi",
        2,
        "{0} ** {1}",
        "{0} ** {1}",
        lambda sp, x, y: x**y,
        ("g * y * x ** (y - 1)", None),
        symbol="**",
        callable=False,
    ),
    # functions of one argument
    _unary("exp", "g * out", lambda sp, x: sp.exp(x)),
    _unary("log", "g / x", lambda sp, x: sp.log(x), domain="log of a non-positive number"),
    _unary("sqrt", "g / (2 * out)", lambda sp, x: sp.sqrt(x), domain="sqrt of a negative number"),
    _unary("sin", "g * cos(x)", lambda sp, x: sp.sin(x)),
    _unary("cos", "-g * sin(x)", lambda sp, x: sp.cos(x)),
    _unary("tan", "g * (1 + out * out)", lambda sp, x: sp.tan(x)),
    _unary(
        "asin",
        "g / sqrt(1 - x * x)",
        lambda sp, x: sp.asin(x),
        numpy="np.arcsin({0})",
        domain="asin of a number outside [-1, 1]",
    ),
    _unary(
        "acos",
        "-g / sqrt(1 - x * x)",
        lambda sp, x: sp.acos(x),
        numpy="np.arccos({0})",
        domain="acos of a number outside [-1, 1]",
    ),
    _unary("atan", "g / (1 + x * x)", lambda sp, x: sp.atan(x), numpy="np.arctan({0})"),
    _unary("sinh", "g * cosh(x)", lambda sp, x: sp.sinh(x)),
    _unary("cosh", "g * sinh(x)", lambda sp, x: sp.cosh(x)),
    _unary("tanh", "g * (1 - out * out)", lambda sp, x: sp.tanh(x)),
    _unary(
        "abs", "where(x > 0, g, where(x < 0, -g, 0))", lambda sp, x: sp.Abs(x), python="abs({0})"
    ),
    _unary(
        "sigmoid",
        "g * out * (1 - out)",
        lambda sp, x: 1 / (1 + sp.exp(-x)),
        python="_sigmoid({0})",
        numpy="np.exp(-np.logaddexp(0.0, -{0}))",
    ),
    _unary(
        "relu",
        "where(x > 0, g, 0)",
        lambda sp, x: sp.Piecewise((x, x > 0), (0, True)),
        python="{0} if {0} > 0.0 else 0.0",
        numpy="np.maximum({0}, 0.0)",
    ),
    _unary(
        "softplus",
        "g * sigmoid(x)",
        lambda sp, x: sp.log(1 + sp.exp(x)),
        python="_softplus({0})",
        numpy="np.logaddexp(0.0, {0})",
    ),
    _unary("log1p", "g / (1 + x)", lambda sp, x: sp.log(1 + x), domain="log1p of a number <= -1"),
    _unary("expm1", "g * (out + 1)", lambda sp, x: sp.exp(x) - 1),
    _unary(
        "erf",
        "g * (2 / sqrt(pi)) * exp(-(x * x))",
        lambda sp, x: sp.erf(x),
        numpy="np.vectorize(math.erf, otypes=[float])({0})",
    ),
    # functions of several arguments
    Primitive(
        "hypot",
        2,
        "math.hypot({0}, {1})",
        "np.hypot({0}, {1})",
        lambda sp, x, y: sp.sqrt(x**2 + y**2),
        ("g * x / out", "g * y / out"),
    ),
    Primitive(
        "atan2",
        2,
        "math.atan2({0}, {1})",
        "np.arctan2({0}, {1})",
        lambda sp, x, y: sp.atan2(x, y),
        ("g * y / (x * x + y * y)", "-g * x / (x * x + y * y)"),
    ),
    # clip(x, lo, hi) = min(max(x, lo), hi); x gets the gradient on the closed
    # interval, lo and hi only where they are the result.
    Primitive(
        "clip",
        3,
        "min(max({0}, {1}), {2})",
        "np.minimum(np.maximum({0}, {1}), {2})",
        lambda sp, x, lo, hi: sp.Min(sp.Max(x, lo), hi),
        (
            "where(x >= y, where(x <= z, g, 0), 0)",
            "where(x < y, where(y <= z, g, 0), 0)",
            "where(x > z, g, where(y > z, g, 0))",
        ),
    ),
    Primitive(
        "where",
        3,
        "{1} if {0} else {2}",
        "np.where({0}, {1}, {2})",
        _where_sympy,
        (None, "where(x, g, 0)", "where(x, 0, g)"),
    ),
    # The pair spellings return exactly what the builtins do (first argument on ties
    # and nan), without the cost of a call.
    Primitive(
        "min",
        None,
        "min({args})",
        "np.min(np.broadcast_arrays({args}), axis=0)",
        lambda sp, *xs: sp.Min(*xs),
        _tie_split,
        python_pair="{1} if {1} < {0} else {0}",
    ),
    Primitive(
        "max",
        None,
        "max({args})",
        "np.max(np.broadcast_arrays({args}), axis=0)",
        lambda sp, *xs: sp.Max(*xs),
        _tie_split,
        python_pair="{1} if {1} > {0} else {0}",
    ),
    # comparisons: only where(...)'s condition, so they carry no gradient
    _compare("lt", "<", lambda sp, x, y: sp.Lt(x, y)),
    _compare("le", "<=", lambda sp, x, y: sp.Le(x, y)),
    _compare("gt", ">", lambda sp, x, y: sp.Gt(x, y)),
    _compare("ge", ">=", lambda sp, x, y: sp.Ge(x, y)),
    _compare("eq", "==", lambda sp, x, y: sp.Eq(x, y)),
    _compare("ne", "!=", lambda sp, x, y: sp.Ne(x, y)),
)
# fmt: on

BY_NAME: dict[str, Primitive] = {p.name: p for p in PRIMITIVES}

# What formulas may call by name, and what their operator symbols mean.
FUNCTIONS: dict[str, Primitive] = {p.name: p for p in PRIMITIVES if p.callable}
BINARY_OPERATORS: dict[str, str] = {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "**": "pow",
    "^": "pow",
}
COMPARISON_NAMES = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
COMPARISONS: dict[str, str] = {BY_NAME[n].symbol: n for n in sorted(COMPARISON_NAMES)}

# Named constants of the formula language.
CONSTANTS: dict[str, float] = {"pi": 3.141592653589793, "e": 2.718281828459045}

# Ops whose operands may be swapped without changing the result bit for bit;
# the IR builder uses this to find more common subexpressions.
COMMUTATIVE = frozenset({"add", "mul", "eq", "ne"})
