"""A derivative from sympy and a point -> its exact value there (mpmath at high precision),
and how far the generated float may stray from it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .sample import Point

_TOLERANCE = 1e3  # generated and exact may differ by this many error bounds


def mp_functions() -> dict[str, Any]:
    import mpmath

    def heaviside(x, at_zero=0.5):
        return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else mpmath.mpf(at_zero)

    return {
        "Heaviside": heaviside,
        "sign": mpmath.sign,
        "DiracDelta": lambda x, *k: mpmath.mpf(0) if x != 0 else mpmath.inf,
        "Min": min,
        "Max": max,
    }


def exact_value(function: Callable, point: Point, inputs: tuple[str, ...], digits: int):
    """sympy.diff at the point with mpmath, or None where it is not a finite real number."""
    import mpmath

    with mpmath.workdps(digits):
        try:
            result = mpmath.mpmathify(function(*(mpmath.mpf(point.values[n]) for n in inputs)))
        except (ArithmeticError, ValueError, TypeError):
            return None
        if isinstance(result, mpmath.mpc):
            if abs(result.imag) > mpmath.mpf(10) ** (-digits // 2) * (1 + abs(result.real)):
                return None
            result = result.real
        if not mpmath.isfinite(result):
            return None
        return result


def tolerance_at(bound: float, exact) -> float:
    if math.isnan(bound):  # no bound from the interpreter (an op it could not run)
        return 1e-6 * (1.0 + abs(float(exact)))
    return _TOLERANCE * bound + 1e-9 * abs(float(exact)) + 1e-300


def coordinates(point: Point) -> str:
    return ", ".join(f"{n}={v!r}" for n, v in point.values.items())
