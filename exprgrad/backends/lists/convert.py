"""Arguments -> nested lists of floats and their shapes: what generated list code reads.

A number is a float of shape (); a list or tuple (of lists or tuples, ...) of real numbers
is a nested list of floats, rectangular, copied (the caller's lists are never the ones the
code reads or returns). Anything with .tolist() and .shape (a numpy array) is read through
tolist(), without importing numpy. Strings, bytes, None and complex numbers, anywhere, are
an ArgumentError (a TypeError) naming the argument.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

from ...errors import ArgumentError, EvaluationError
from .helpers import _flatten

_FLOAT_ROW = frozenset({float})
_REAL_ROW = frozenset({float, int, bool})


def as_nested(name: str, value: Any) -> tuple[Any, tuple[int, ...]]:
    """(the argument as a float or a nested list of floats, its shape)."""
    if type(value) is float:
        return value, ()
    if isinstance(value, str | bytes | bytearray | memoryview):
        raise ArgumentError(
            f"argument {name!r} is {type(value).__name__}; formulas compute with real numbers"
        )
    if type(value).__name__ == "MaskedArray":
        raise ArgumentError(
            f"argument {name!r} is a masked array, and exprgrad would drop its mask: pass "
            f"{name}.filled(value) or the unmasked elements, {name}.compressed()"
        )
    if hasattr(value, "tolist") and hasattr(value, "shape"):  # numpy arrays and scalars
        shape = tuple(value.shape)
        if 0 in shape:  # tolist() of an empty array keeps no trace of its later axes
            return _empty(shape), shape
        value = value.tolist()
    elif isinstance(value, list | tuple) and any(_is_array_object(item) for item in value):
        value = [item.tolist() if _is_array_object(item) else item for item in value]
    if not isinstance(value, list | tuple):
        return _number(name, value, None), ()
    shape = []
    probe = value
    while isinstance(probe, list | tuple):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    shape = tuple(shape)
    rows = [value]
    for depth in range(1, len(shape)):  # every level lists of lists of the same length
        items = list(chain.from_iterable(rows))
        kinds = set(map(type, items))
        if items and (
            not all(issubclass(kind, list | tuple) for kind in kinds)
            or set(map(len, items)) != {shape[depth]}
        ):
            raise _ragged(name, value)
        rows = items
    kinds = set(map(type, chain.from_iterable(rows)))  # one pass over every number
    if kinds <= _FLOAT_ROW:
        converted = [list(row) for row in rows]
    else:
        converted = [_row(name, row) for row in rows]
    if len(shape) == 1:
        return converted[0], shape
    for depth in range(len(shape) - 2, 0, -1):  # group the rows back, innermost first
        size = shape[depth]
        converted = [converted[k : k + size] for k in range(0, len(converted), size)]
    return converted, shape


def _is_array_object(value: Any) -> bool:
    return hasattr(value, "tolist") and bool(getattr(value, "ndim", 0))


def _empty(shape: tuple[int, ...]) -> list:
    """The nested lists of an array with no elements (shape (2, 0): [[], []])."""
    if len(shape) == 1 or shape[0] == 0:
        return []
    return [_empty(shape[1:]) for _ in range(shape[0])]


def _row(name: str, row: list | tuple) -> list[float]:
    kinds = set(map(type, row))
    if kinds <= _FLOAT_ROW:
        return list(row)
    if kinds <= _REAL_ROW:
        try:
            return [float(a) for a in row]
        except OverflowError:
            raise EvaluationError(f"argument {name!r} holds an int too large for a float") from None
    return [a if type(a) is float else _number(name, a, row) for a in row]


def _number(name: str, value: Any, within: Any) -> float:
    where = f"argument {name!r}" if within is None else f"argument {name!r} holds"
    if isinstance(value, list | tuple):
        raise ArgumentError(f"argument {name!r} is a list of unequal rows (or of depths)")
    if (
        isinstance(value, str | bytes | complex)
        or value is None
        or not hasattr(type(value), "__float__")
    ):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        hint = " (to pass a dict of inputs, call f(**point))" if isinstance(value, dict) else ""
        raise ArgumentError(
            f"{where} {type(value).__name__} {shown}; formulas compute with real numbers{hint}"
            if within is not None
            else f"{where} must be a real number or a list of them, not "
            f"{type(value).__name__} {shown}{hint}"
        )
    try:
        return float(value)
    except OverflowError:
        raise EvaluationError(f"{where} an int too large for a float") from None
    except (TypeError, ValueError) as error:
        raise ArgumentError(f"{where} a value that is not a real number: {error}") from None


def _ragged(name: str, value: Any) -> ArgumentError:
    kind = type(value).__name__
    return ArgumentError(f"argument {name!r} is a {kind} of unequal rows: arrays are rectangular")


def is_array(value: Any) -> bool:
    """Would this argument be an array (a list, a tuple, a numpy array of one axis or more)?"""
    if isinstance(value, list | tuple):
        return True
    return bool(getattr(value, "ndim", 0)) and hasattr(value, "tolist")


def finite(value: Any, rank: int) -> bool:
    """Is every number of a float or nested list of that rank finite?"""
    if rank == 0:
        return math.isfinite(value)
    numbers = value if rank == 1 else _flatten(value, rank)
    # a sum is finite when every number is (it may overflow: then look at each)
    return math.isfinite(sum(numbers, 0.0)) or all(map(math.isfinite, numbers))
