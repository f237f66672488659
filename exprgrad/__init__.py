"""exprgrad: compile formula strings into readable Python code for their value and gradient.

>>> import exprgrad
>>> f = exprgrad.compile("sigmoid(a*x + b*y + c)")
>>> value, grads = f.value_and_grad(a=1, b=2, c=-3, x=-1, y=3)
>>> round(value, 6), round(grads["a"], 6)
(0.880797, -0.104994)
"""

from . import function  # noqa: F401 (exprgrad.function.compile_unfolded: gates' reprs)
from .api import compile, hessian, residuals  # noqa: A004 (exprgrad.compile is the API)
from .backends.python.function import Function
from .errors import (
    ArgumentError,
    ArgumentValueError,
    Error,
    EvaluationError,
    FormulaError,
    MissingDependencyError,
    ShapeError,
    SymbolicError,
)

__all__ = [
    "ArgumentError",
    "ArgumentValueError",
    "Error",
    "EvaluationError",
    "MissingDependencyError",
    "ShapeError",
    "Function",
    "FormulaError",
    "SymbolicError",
    "compile",
    "hessian",
    "residuals",
]
__version__ = "0.1.0"
