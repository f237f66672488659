"""A front end: formula text from a sympy expression, so exprgrad.compile(expr) works.

    >>> import sympy as sp
    >>> x, y = sp.symbols("x y", real=True)
    >>> formula_text(sp.exp(-x**2) / (1 + y**2))
    'exp(-x ** 2) / (y ** 2 + 1)'

The text goes through the ordinary parser, so nothing below it knows which front
end was used, and f.formula is text that compiles to the same Function.

Add, Mul, Pow (sqrt, 1/x and whole powers included), exp, log, the trig and
hyperbolic functions and their inverses, Abs, Min, Max, erf, erfc, atan2,
sign, Heaviside and Piecewise (as nested where; each condition a comparison,
the last piece's condition True) have counterparts. Numbers become the
float nearest them, correctly rounded: an Integer as written and a Rational as
the division of two integers where both are floats exactly (up to 2**53),
otherwise (and a Float) by repr of that nearest float; pi and E as the
constants pi and e (other named constants such as EulerGamma by their float
value). A number beyond the largest float is a FormulaError; a tiny one rounds
to a subnormal or 0 as IEEE arithmetic does (as 1e-400 written in a formula).
Symbols keep their names, which must be names of the language. Anything else
(Derivative, Integral, I, oo, an undefined function, a condition joined with
And) is a FormulaError naming the sympy node. A subexpression that occurs more
than once is written once, as an assignment (s1 = ...), so shared subtrees never
make the text blow up.

sympy is imported on first use. The walk uses an explicit stack, no recursion.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from ..core.primitives import CONSTANTS, FUNCTIONS
from ..errors import ArgumentError, FormulaError, shorten
from .text import (
    ATOM,
    LEFT,
    POWER,
    PRODUCT,
    RIGHT,
    SUM,
    SYMBOL,
    Text,
    binary,
    enclose,
    negative,
    number,
    operand,
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ONE = number(1.0)

# sympy function class name -> exprgrad function of as many arguments
_CALLS = {
    "exp": "exp",
    "log": "log",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "asin": "asin",
    "acos": "acos",
    "atan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "asinh": "asinh",
    "acosh": "acosh",
    "atanh": "atanh",
    "Abs": "abs",
    "Min": "min",
    "Max": "max",
    "erf": "erf",
    "erfc": "erfc",
    "atan2": "atan2",
}
# sympy function -> a formula over its argument x (what core/lower.py suggests for the same names)
# fmt: off
_WRITTEN = {
    "cot": ("1 / tan({0})", PRODUCT),
    "sec": ("1 / cos({0})", PRODUCT),
    "csc": ("1 / sin({0})", PRODUCT),
    "sign": ("where({0} > 0, 1, where({0} < 0, -1, 0))", ATOM),
}
# fmt: on
# sympy relation class name -> exprgrad comparison
_COMPARISONS = {
    "StrictLessThan": "lt",
    "LessThan": "le",
    "StrictGreaterThan": "gt",
    "GreaterThan": "ge",
    "Equality": "eq",
    "Unequality": "ne",
}


def _no_counterpart(node: Any, why: str = "") -> FormulaError:
    from sympy.core.function import AppliedUndef

    kind = type(node).__name__
    if isinstance(node, AppliedUndef):
        kind = f"undefined function {kind}"  # sympy.Function('f'): its class is named f
    text = shorten(str(node), 60)
    return FormulaError(
        f"sympy's {kind} has no counterpart in exprgrad", detail=f"{why}{text}" if why else text
    )


_EXACT = 2**53  # integers up to this are floats exactly


def _nearest_float(node: Any, p: int, q: int) -> float:
    """The float nearest the exact p / q, correctly rounded (Python's int / int is): a
    tiny number becomes a subnormal or 0 as IEEE rounding makes it (as 1e-400 written in
    a formula does); one beyond the largest float is a FormulaError."""
    try:
        return p / q
    except OverflowError:
        approx = str(node.evalf(5))  # str() of a 5000-digit Integer would raise
        raise FormulaError(
            f"sympy number {approx} is too large for a float",
            detail=f"the largest float is {sys.float_info.max!r}",
        ) from None


def _float_text(value: float) -> Text:
    return number(value, keep_point=True)  # a float as sympy prints it: 2.0, 1e+20


def _number_text(node: Any) -> Text:
    """An exact number as text computing the float nearest it: an integer or a fraction as
    written where its parts are floats exactly (one IEEE division rounds correctly),
    otherwise the nearest float itself (never str() of a 5000-digit integer)."""
    if node.is_Rational:  # Integer included
        p, q = int(node.p), int(node.q)
        if abs(p) <= _EXACT and q <= _EXACT:
            # -2 / 3 is a quotient, (-2) / 3: it binds as loosely as one
            whole = number(float(p))
            return whole if q == 1 else binary("div", whole, number(float(q)))
        return _float_text(_nearest_float(node, p, q))
    if node.is_Float:
        sign, mantissa, exponent, bits = node._mpf_
        if not mantissa and (exponent or bits):  # mpmath's inf, -inf and nan
            raise _no_counterpart(node, "a float that is not finite: ")
        return _float_text(_float_of_mpf(node, node._mpf_))
    raise _no_counterpart(node)


def _float_of_mpf(node: Any, mpf: tuple) -> float:
    """A sympy Float (an mpmath (sign, mantissa, exponent, bits) tuple) as the float nearest
    it, correctly rounded also below 2**-1022, where float() rounds twice."""
    sign, mantissa, exponent, bits = mpf
    if not mantissa:
        return 0.0
    if exponent + bits > 1100:  # far beyond the largest float
        p, q = 2**1100, 1
    elif exponent + bits < -1100:  # far below half the smallest subnormal
        p, q = 0, 1
    else:
        p, q = (mantissa << exponent, 1) if exponent >= 0 else (mantissa, 1 << -exponent)
    value = _nearest_float(node, p, q)
    return -value if sign else value


class _TextWriter:
    """Turns one sympy expression into formula text: plans each node (its children and
    how their texts combine) once, counts uses, then writes bottom-up."""

    def __init__(self, sp: Any):
        self.sp = sp
        self.plans: dict[Any, tuple[list[Any], Callable[[list[Text]], Text]]] = {}
        self.uses: dict[Any, int] = {}

    # --- one node ------------------------------------------------------------------------

    def plan(self, node: Any) -> tuple[list[Any], Callable[[list[Text]], Text]]:
        sp = self.sp
        if isinstance(node, sp.Symbol):
            name = node.name
            if not _NAME.fullmatch(name):
                raise FormulaError(
                    f"sympy symbol {shorten(name)!r} is not a name exprgrad can use",
                    detail="names are letters, digits and '_', not starting with a digit",
                )
            if name in CONSTANTS:
                raise FormulaError(
                    f"sympy symbol {name!r} is exprgrad's constant {name}",
                    detail="rename the symbol (sympy's own constants are sp.pi and sp.E)",
                )
            return [], lambda _: (name, ATOM)
        if node is sp.pi:
            return [], lambda _: ("pi", ATOM)
        if node is sp.E:
            return [], lambda _: ("e", ATOM)
        if node.is_Number:
            text = _number_text(node)
            return [], lambda _: text
        if isinstance(node, sp.NumberSymbol):  # EulerGamma, Catalan, GoldenRatio, ...
            value = _float_of_mpf(node, node.evalf(40)._mpf_)  # 133 bits, then rounded once
            return [], lambda _: _float_text(value)
        if isinstance(node, sp.Add):
            return self._sum(node)
        if isinstance(node, sp.Mul):
            return self._product(node)
        if isinstance(node, sp.Pow):
            return self._power(node)
        if isinstance(node, sp.Piecewise):
            return self._piecewise(node)
        if isinstance(node, sp.Heaviside):
            (x, *at_zero) = node.args
            half = at_zero[0] if at_zero else sp.Rational(1, 2)
            if half is sp.nan or half is None:
                raise _no_counterpart(node, "undefined at 0: ")

            def heaviside(texts: list[Text]) -> Text:
                x, h = texts[0][0], texts[1][0]
                return f"where({x} > 0, 1, where({x} < 0, 0, {h}))", ATOM

            return [x, half], heaviside
        kind = type(node).__name__
        if kind in _CALLS and getattr(node, "is_Function", False):
            function = _CALLS[kind]
            arity = FUNCTIONS[function].arity
            if arity is not None and len(node.args) != arity:
                raise _no_counterpart(node, f"{len(node.args)} arguments: ")
            return list(node.args), lambda texts: (
                f"{function}({', '.join(t[0] for t in texts)})",
                ATOM,
            )
        if kind in _WRITTEN and getattr(node, "is_Function", False) and len(node.args) == 1:
            template, precedence = _WRITTEN[kind]
            return list(node.args), lambda texts: (
                template.format(enclose(texts[0], ATOM)[0]),
                precedence,
            )
        if kind in _COMPARISONS:
            raise FormulaError(
                f"sympy's {kind} is a condition; exprgrad formulas are numbers",
                detail="a comparison can only be the condition of a Piecewise piece",
            )
        raise _no_counterpart(node)

    def _sum(self, node: Any):
        terms = list(node.args)
        # x - y reads better than x + -y, and computes the same
        minus = [t.could_extract_minus_sign() for t in terms]
        children = [-t if n else t for t, n in zip(terms, minus, strict=True)]

        def combine(texts: list[Text]) -> Text:
            # sympy's Add is one n-ary sum: its terms are written flat, as sympy prints
            # them (an unevaluated Add among them too)
            first = texts[0]
            pieces = [negative(first)[0] if minus[0] else operand(first, "add", LEFT)]
            for text, subtracted in zip(texts[1:], minus[1:], strict=True):
                if subtracted:
                    pieces.append(f" {SYMBOL['sub']} {operand(text, 'sub', RIGHT)}")
                else:
                    pieces.append(f" {SYMBOL['add']} {enclose(text, SUM)[0]}")
            return "".join(pieces), SUM

        return children, combine

    def _product(self, node: Any):
        sp = self.sp
        coefficient, factors = node.as_coeff_mul()
        numerator, denominator = [], []
        if coefficient.is_Rational and max(abs(coefficient.p), coefficient.q) > _EXACT:
            negated = coefficient < 0  # one float, the nearest to the whole fraction
            numerator.append(-coefficient if negated else coefficient)
        elif coefficient.is_Rational:
            if abs(coefficient.p) != 1:
                numerator.append(sp.Integer(abs(coefficient.p)))
            if coefficient.q != 1:
                denominator.append(sp.Integer(coefficient.q))
            negated = coefficient < 0
        else:  # a Float coefficient
            negated = coefficient < 0
            numerator.append(-coefficient if negated else coefficient)
        for factor in factors:
            exponent = factor.exp if isinstance(factor, sp.Pow) else None
            if exponent is not None and exponent.is_Number and exponent < 0:
                denominator.append(factor.base ** (-exponent))
            else:
                numerator.append(factor)
        above = len(numerator)

        def factors(texts: list[Text]) -> Text:
            # each factor a power or an atom, x * (-2), (1 / tan(x)) * y: clearer than the
            # grammar needs, and a product of several binds as a product
            text = f" {SYMBOL['mul']} ".join(enclose(t, POWER)[0] for t in texts)
            return text, (PRODUCT if len(texts) > 1 else POWER)

        def combine(texts: list[Text]) -> Text:
            out = factors(texts[:above]) if above else _ONE
            if len(texts) > above:
                out = binary("div", out, factors(texts[above:]))
            single = above == 1 and len(texts) == 1
            if negated:
                return negative(out)
            return out[0], max(texts[0][1], POWER) if single else PRODUCT

        return numerator + denominator, combine

    def _power(self, node: Any):
        sp = self.sp
        base, exponent = node.args
        if exponent == sp.Rational(1, 2):
            return [base], lambda texts: (f"sqrt({texts[0][0]})", ATOM)
        if exponent == sp.Rational(-1, 2):
            return [base], lambda texts: binary("div", _ONE, (f"sqrt({texts[0][0]})", ATOM))
        if exponent == -1:  # a divisor as a product's: a power or an atom
            return [base], lambda texts: binary("div", _ONE, enclose(texts[0], POWER))
        return [base, exponent], lambda texts: binary("pow", *texts)

    def _piecewise(self, node: Any):
        sp = self.sp
        pieces = list(node.args)
        if pieces[-1].cond is not sp.true:
            raise _no_counterpart(
                node, "no last (expression, True) piece, so it is undefined elsewhere: "
            )
        children: list[Any] = []
        compares: list[str | None] = []  # None: a number as condition, true when nonzero
        for piece in pieces[:-1]:
            cond = piece.cond
            kind = type(cond).__name__
            if kind in _COMPARISONS:
                children += [cond.lhs, cond.rhs, piece.expr]
                compares.append(_COMPARISONS[kind])
            elif isinstance(cond, sp.Expr):  # a Symbol is a Boolean too: where(a, b, c)
                children += [cond, piece.expr]
                compares.append(None)
            else:
                raise _no_counterpart(cond, "a where() condition is one comparison: ")
        children.append(pieces[-1].expr)

        def combine(texts: list[Text]) -> Text:
            conditions, k = [], 0
            for compare in compares:
                if compare is None:
                    conditions.append((texts[k][0], texts[k + 1][0]))
                    k += 2
                else:
                    lhs, rhs, value = texts[k : k + 3]
                    conditions.append((binary(compare, lhs, rhs)[0], value[0]))
                    k += 3
            out = texts[-1][0]
            for condition, value in reversed(conditions):
                out = f"where({condition}, {value}, {out})"
            return out, ATOM

        return children, combine

    # --- the whole expression -------------------------------------------------------------

    def write(self, root: Any) -> str:
        # 1. plan every node once and count how often each is used
        order: list[Any] = []
        stack = [root]
        self.uses[root] = 1
        while stack:
            node = stack.pop()
            if node in self.plans:
                continue
            self.plans[node] = plan = self.plan(node)
            order.append(node)
            for child in plan[0]:
                self.uses[child] = self.uses.get(child, 0) + 1
                if child not in self.plans:
                    stack.append(child)
        # 2. write children before parents; a compound node used twice becomes an assignment
        # (sympy's free_symbols walks the tree, not the DAG: exponential where it is shared)
        names = [node.name for node in order if isinstance(node, self.sp.Symbol)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise FormulaError(
                f"two different sympy symbols are both named {twice[0]!r}",
                detail="their assumptions differ (or one is a Dummy); exprgrad knows names only",
            )
        taken = set(names) | set(CONSTANTS) | set(FUNCTIONS)
        counter = 0
        texts: dict[Any, Text] = {}
        lines: list[str] = []
        pending = [(root, False)]
        while pending:
            node, ready = pending.pop()
            if node in texts:
                continue
            children = self.plans[node][0]
            if not ready:
                pending.append((node, True))
                pending.extend((c, False) for c in reversed(children) if c not in texts)
                continue
            text = self.plans[node][1]([texts[c] for c in children])
            if self.uses.get(node, 0) > 1 and children and node is not root:
                counter += 1
                name = f"s{counter}"
                while name in taken:
                    counter += 1
                    name = f"s{counter}"
                lines.append(f"{name} = {text[0]}")
                text = (name, ATOM)
            texts[node] = text
        lines.append(texts[root][0])
        return "\n".join(lines)


def formula_text(expr: Any) -> str:
    """Formula text computing the sympy expression `expr` (see the module docstring).

    Raises FormulaError naming the sympy node that has no counterpart, TypeError for
    something that is not a sympy expression."""
    import sympy

    if not isinstance(expr, sympy.Basic):
        raise ArgumentError(f"expected a sympy expression, not {type(expr).__name__}")
    if not isinstance(expr, sympy.Expr):
        if isinstance(expr, sympy.logic.boolalg.Boolean):  # a Symbol is Boolean and an Expr
            raise FormulaError(
                f"sympy's {type(expr).__name__} is a condition; exprgrad formulas are numbers",
                detail=shorten(str(expr), 60),
            )
        raise _no_counterpart(expr)
    return _TextWriter(sympy).write(expr)
