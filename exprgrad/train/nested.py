"""Nested lists of numbers -> their shape, float copies, zeros, innermost rows and first
non-finite number: what the optimisers, init(lists=True) and the lists engine share to
treat a parameter held as plain Python lists (the lists backend's arrays) without numpy.

A nested list is rectangular: [[1.0, 2.0], [3.0, 4.0]] has shape (2, 2); a float is ().
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..errors import ArgumentError, shorten
from .checks import _numpy_of
from .engine import _number


def shape_of(value: Any) -> tuple[int, ...]:
    """The shape read along the first elements (the value is assumed rectangular)."""
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def float_copy(value: Any, where: str) -> Any:
    """value (a number, or nested lists or tuples of numbers, or a numpy array) as nested
    lists of floats, a new copy; an ArgumentError naming where for a ragged nesting or a
    non-number."""
    if _numpy_of(value) is not None:
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return _number(value, where)
    copy = [float_copy(item, f"{where}[{index}]") for index, item in enumerate(value)]
    shapes = {shape_of(item) if isinstance(item, list) else () for item in copy}
    if len(shapes) > 1:
        raise ArgumentError(
            f"{where} must be rectangular nested lists of numbers, not {shorten(repr(value))} "
            f"(its items have shapes {', '.join(map(str, sorted(shapes)))})"
        )
    return copy


def zeros(shape: tuple[int, ...]) -> Any:
    """Nested lists of 0.0 of that shape (0.0 for ())."""
    if not shape:
        return 0.0
    return [zeros(shape[1:]) for _ in range(shape[0])]


def copied(value: Any) -> Any:
    """A copy of nested lists of floats, so that updating one leaves the other alone."""
    return [copied(item) for item in value] if isinstance(value, list) else value


def rows(value: list) -> Iterator[list]:
    """The innermost lists (the rows of floats) of nested lists, in row-major order: an
    optimiser updates them in place, element by element."""
    if value and isinstance(value[0], (list, tuple)):
        for item in value:
            yield from rows(item)
    else:
        yield value


def first_non_finite(value: Any) -> float | None:
    """The first number of value (a float or nested lists) that is inf or NaN, else None."""
    if isinstance(value, (list, tuple)):
        for item in value:
            bad = first_non_finite(item)
            if bad is not None:
                return bad
        return None
    return None if math.isfinite(value) else value
