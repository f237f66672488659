"""compile(): formula text (or a sympy expression) -> a compiled Function.

Picks the front end and the backend, and runs the one pipeline between them
(core/pipeline.py); nothing else. hessian() and residuals() are compile()'s
siblings for second derivatives and least squares.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import backends
from .backends.python.evaluate import FOLD

# _rebuild: what pickles of Functions made before exprgrad.backends existed name
from .backends.python.function import Function, _rebuild, compile_unfolded  # noqa: F401
from .core import pipeline
from .frontends.sympy import formula_text
from .tools.residuals import Residuals

__all__ = ["compile", "compile_unfolded", "hessian", "residuals"]


def compile(  # noqa: A001 (exprgrad.compile is the API)
    formula: str,
    wrt: Iterable[str] | str | None = None,
    *,
    inputs: Iterable[str] | str | None = None,
    optimize: bool = True,
    backend: str = "python",
) -> Function:
    """Compile a formula into a Function computing its value and gradient.

    formula: statements separated by newlines or ';'; the last one is the value.
    wrt: the inputs to differentiate with respect to (a list, or a comma-separated
        string); default all, in f.inputs order. The backward code does no work for the
        others.
    inputs: every input of the formula, each once, in the order positional arguments,
        f.inputs, and so the default wrt, flat vectors and Hessian rows take them (as
        lambdify's argument list). Default: order of first appearance in the formula,
        so "100*(x1 - x0**2)**2 + (1 - x0)**2" has inputs ('x1', 'x0').
    optimize: fold constants and drop dead code (default). False keeps the program as
        written and differentiated: the same values bit for bit, and the same gradients
        but for the sign of a zero (README, "How it works").
    backend: "python" (scalars, code that needs only math) or "numpy" (arrays: the code
        is specialised on the first call with each signature of shapes and dtypes;
        returns an ArrayFunction); exprgrad.backends lists the backends.

    Raises FormulaError (a ValueError) for any bad formula or wrt name.
    A sympy expression in place of the text is written as formula text first
    (exprgrad.frontends.sympy), so f.formula is that text.
    """
    if not isinstance(formula, str) and _is_sympy(formula):
        formula = formula_text(formula)  # a front end: text the parser reads
    chosen = backends.backend(backend)
    programs = pipeline.forward_and_gradient(
        formula,
        wrt,
        FOLD if optimize else None,
        arrays=chosen.ARRAYS,
        inputs=inputs,
        with_gradient=getattr(chosen, "gradient_now", True),
    )
    return chosen.make_function(formula, programs, fold=optimize, fold_forward=optimize)


def _is_sympy(formula: Any) -> bool:
    """Is it a sympy object? (Without importing sympy: if it isn't imported, it is not.
    The class of sympy.Function("f")(x) is made on the fly, its __module__ None.)"""
    sympy = sys.modules.get("sympy")
    return sympy is not None and isinstance(formula, sympy.Basic)


def hessian(formula: Any, wrt: Iterable[str] | str | None = None) -> Callable[..., Any]:
    """Compile a formula (text or sympy expression) and return its Hessian function:
    hessian(*args, **point) -> [[d2 value / d wrt[i] d wrt[j], ...], ...], rows and
    columns in wrt order (default every input). It is Function.hessian of
    exprgrad.compile(formula, wrt), whose generated code is built here, at once."""
    function = compile(formula, wrt)
    pipeline.scalars_only(function.lowered_program, "Hessians are of scalar formulas")
    function._hessian_program()  # a program too large fails now, not on the first call
    return function.hessian


def residuals(formulas: Sequence[Any], wrt: Any = None, /, **fixed: Any) -> Residuals:
    """Residuals of several formulas as functions of one parameter vector, for least squares.

    formulas: formula strings (or sympy expressions), one per residual.
    wrt: the parameters, in the vector's order (a list or "a, b"); default every input
        not fixed, in order of first appearance. Every other input is fixed by keyword.

    r = exprgrad.residuals([...]); r(x) is the residual vector, r.jac(x) its Jacobian,
    so scipy.optimize.least_squares(r, x0, jac=r.jac). Any input may be fixed by keyword,
    even one called `wrt`; otherwise wrt=... names the parameters.
    """
    return Residuals(formulas, wrt, fixed)
