"""Primitive name, numbers -> number: the Python backend's spellings as functions.

Constant folding uses `evaluate` (the pipeline gives it to every backend's programs), so
a folded constant is bit for bit what generated Python computes; the symbolic check
evaluates a program op by op with `evaluator`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ...core.optimize import folding
from .helpers import runtime_namespace
from .spellings import SPELLINGS, spell


@functools.cache
def evaluator(prim: str, arity: int) -> Callable[..., float] | None:
    """A Python function computing one primitive on `arity` numbers, made from its
    spelling; None for a primitive with no value at numbers (softmax, @)."""
    if prim not in SPELLINGS:
        return None
    params = [f"v{i}" for i in range(arity)]
    # The spelling is ours (spellings.py), never formula text.
    return eval(f"lambda {', '.join(params)}: {spell(prim, params)}", runtime_namespace())  # noqa: S307


def evaluate(prim: str, values: Sequence[float]) -> float | bool | None:
    """prim's value at the numbers (a bool for comparisons), or None where it has none;
    raises ArithmeticError or ValueError where Python's math does (log(-1))."""
    function = evaluator(prim, len(values))
    return None if function is None else function(*values)


# The fold of every backend's programs: constants computed as generated Python computes them.
FOLD = folding(evaluate)
