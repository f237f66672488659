"""IR -> sympy: expressions over real symbols with exact constants, and their LaTeX.

sympy is imported on first use: `import exprgrad` stays fast, and code that never
asks for sympy never pays for it.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from ...core.ir import CONST, INPUT, Program
from ...core.primitives import BY_NAME
from ...errors import SymbolicError

_SHORT_DECIMAL = 10

# what sympy raises for a formula it cannot take
SYMPY_ERRORS = (TypeError, ValueError, ArithmeticError, AttributeError, NotImplementedError)


def sympy_module():
    import sympy

    return sympy


def _constant(sp, value: float):
    if math.isnan(value):
        return sp.nan
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    if value == math.pi:
        return sp.pi
    if value == math.e:
        return sp.E
    if value.is_integer() and abs(value) < 2**53:
        return sp.Integer(int(value))
    text = repr(value)
    if len(text) <= _SHORT_DECIMAL:
        return sp.Rational(text)  # a decimal as the formula wrote it (0.5, 1e-3), exactly
    return sp.Float(text, 17)  # a folded constant such as log(2): inexact, and marked so


def exact_constant(value: float) -> bool:
    """Is the float the very number _constant gives sympy (1.5 yes; 0.1, pi, log(2) no)?"""
    if not math.isfinite(value) or (value.is_integer() and abs(value) < 2**53):
        return True
    text = repr(value)
    return len(text) <= _SHORT_DECIMAL and Fraction(text) == Fraction(value)


def symbols(program: Program) -> dict[str, Any]:
    sp = sympy_module()
    return {name: sp.Symbol(name, real=True) for name in program.inputs}


def to_sympy(program: Program, op_ids: list[int]) -> list[Any]:
    """sympy expressions for the given op ids; inputs become real symbols."""
    sp = sympy_module()
    names = symbols(program)
    exprs: list[Any] = []
    for op in program.ops[: max(op_ids) + 1]:
        if op.prim == INPUT:
            exprs.append(names[op.name])
        elif op.prim == CONST:
            exprs.append(_constant(sp, op.value))
        else:
            exprs.append(BY_NAME[op.prim].sympy(sp, *(exprs[a] for a in op.args)))
    return [exprs[i] for i in op_ids]


def latex(program: Program, wrt: list[str]) -> str:
    """The formula and its partial derivatives, one LaTeX equation per line."""
    sp = sympy_module()
    try:
        syms = symbols(program)
        (value,) = to_sympy(program, [program.value])
        lines = [f"f = {sp.latex(value)}"]
        for name in wrt:
            derivative = sp.diff(value, syms[name])
            lines.append(
                rf"\frac{{\partial f}}{{\partial {sp.latex(syms[name])}}} = "
                f"{sp.latex(derivative)}"
            )
    except RecursionError:
        raise SymbolicError(
            "cannot typeset the formula: it is too deeply nested for sympy"
        ) from None
    except SYMPY_ERRORS as error:
        raise SymbolicError(
            f"cannot typeset the formula: sympy cannot take it ({type(error).__name__}: {error})"
        ) from None
    return "\n".join(lines)
