"""Vectors in, vectors out: the Python backend's interface for numeric code.

    fun = f.flat(["a", "b"], x=1.5)           # fun([a, b]) -> (value, gradient vector)
    scipy.optimize.minimize(fun, x0, jac=True)

The generated functions take their values positionally; what is here turns vectors,
dicts and fixed inputs into those arguments and the results into what scipy wants.
codegen.RETURNS writes the generated functions' `return` lines:

    hessian, jacobian   [[h00, h01], [h10, h11]]   (program.grads keyed "row,column")
    residuals           [r0, r1, ...]
    jvp                 value, tangent
    hvp                 {'a': ..., 'b': ...}
    flat                value, [gradient in the vector's order]
    hessp               [(H p) in the vector's order]

What comes back follows what goes in: a list or tuple x gives lists (the fastest call, and
what plain Python works with), any other vector (a numpy array, as scipy passes it) numpy
arrays; without numpy, lists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ...core import pipeline
from ...core.ir import Program
from ...core.optimize import Fold
from ...errors import ArgumentError, ArgumentValueError, EvaluationError
from .helpers import _float_arguments


@functools.cache
def numpy_module() -> Any:
    """numpy, imported on first use (import exprgrad stays fast), or None without it."""
    try:
        import numpy
    except ImportError:  # an optional extra: lists instead of arrays
        return None
    return numpy


def as_array(values: list) -> Any:
    """A vector or matrix of floats as scipy wants it: a numpy array, or the lists as they
    are without numpy."""
    numpy = numpy_module()
    return values if numpy is None else numpy.array(values, dtype=numpy.float64)


# --- arguments ----------------------------------------------------------------------------


def tangent_values(tangents: Any, wrt: Sequence[str], what: str = "tangents") -> list[float]:
    """A direction as floats in wrt order, from a dict over wrt names (a missing name is 0)
    or a sequence of len(wrt) numbers."""
    if isinstance(tangents, Mapping):
        unknown = [name for name in tangents if name not in wrt]
        if unknown:
            listed = ", ".join(repr(name) for name in unknown)
            raise ArgumentValueError(
                f"{what} name {listed}, which the gradient does not cover "
                f"(wrt: {', '.join(wrt) or 'none'})"
            )
        values = [tangents.get(name, 0.0) for name in wrt]
    elif isinstance(tangents, str | bytes) or not isinstance(tangents, Iterable):
        raise ArgumentError(
            f"{what} must be a dict over {', '.join(wrt) or 'no inputs'} or a sequence of "
            f"{len(wrt)} numbers, not {type(tangents).__name__}"
        )
    else:
        values = _vector(tangents, len(wrt), what)
    return _labelled_floats([f"{what}[{name!r}]" for name in wrt], values)


def _labelled_floats(labels: list[str], values: list) -> list[float]:
    """The values as floats, or the error of an argument, naming the label instead."""
    try:
        return _float_arguments(labels, values)
    except (TypeError, OverflowError) as error:
        message = str(error)
        for label in labels:
            message = message.replace(f"argument {label!r}", label, 1)
        kind = ArgumentError if isinstance(error, TypeError) else EvaluationError
        raise kind(message) from None


def _vector(values: Any, size: int, what: str) -> list:
    if getattr(values, "ndim", 1) != 1:
        raise ArgumentValueError(f"{what} must be a 1-D vector, not shape {values.shape}")
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    if len(values) != size:
        raise ArgumentValueError(f"{what} has {len(values)} entries; expected {size}")
    return values


def parse_names(names: Iterable[str] | str, what: str) -> tuple[str, ...]:
    """Names from a list or a comma-separated string; each a str, none twice."""
    found = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    for name in found:
        if not isinstance(name, str):
            raise ArgumentError(f"{what} must be str, not {type(name).__name__}")
    seen: set[str] = set()
    repeated = sorted({n for n in found if n in seen or seen.add(n)})  # linear, not count()
    if repeated:
        raise ArgumentValueError(f"{what} lists {', '.join(map(repr, repeated))} more than once")
    return tuple(found)


def split_inputs(
    inputs: Sequence[str], names: Sequence[str], fixed: Mapping[str, Any], what: str
) -> tuple[tuple[str, ...], list[float]]:
    """The inputs not in `names` (in input order) and their fixed values as floats.
    Every input is in exactly one of the two. Sets, not tuples, are searched: linear in the
    number of inputs."""
    known, vector = set(inputs), set(names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ArgumentValueError(
            f"{what} lists {', '.join(map(repr, unknown))}, which is not an input "
            f"(inputs: {', '.join(inputs) or 'none'})"
        )
    both = [n for n in fixed if n in vector]
    if both:
        raise ArgumentValueError(
            f"{', '.join(map(repr, both))} is both in the vector and fixed; give it one place"
        )
    extra = [n for n in fixed if n not in known]
    if extra:
        raise ArgumentError(
            f"unexpected fixed input(s) {', '.join(map(repr, extra))} "
            f"(inputs: {', '.join(inputs) or 'none'})"
        )
    others = tuple(n for n in inputs if n not in vector)
    missing = [n for n in others if n not in fixed]
    if missing:
        raise ArgumentError(
            f"missing fixed input(s) {', '.join(map(repr, missing))}: every input not in "
            "the vector needs a value by keyword"
        )
    return others, _labelled_floats([f"argument {n!r}" for n in others], [fixed[n] for n in others])


# --- f.flat -------------------------------------------------------------------------------


class LongFlat:
    """fun(x) -> (value, gradient) over a long program, whose function takes every input
    in one call, positionally (a tape first, then code in pieces): x a list, tuple or numpy
    vector in `names` order. fun.source: the generated code, written on first use."""

    def __init__(
        self, call: Callable, names: tuple[str, ...], fixed: Sequence[float], source: Callable
    ):
        self._call, self._rest, self._source = call, list(fixed), source
        self.names = names
        self.__doc__ = f"(value, gradient) at the vector of {_few(names)}."

    def __call__(self, x: Any) -> tuple[float, Any]:
        names = self.names
        if type(x) is not list and type(x) is not tuple or len(x) != len(names):
            value, gradient = self._call(*flat_vector(x, names), *self._rest)  # numpy: floats
            return value, list(gradient) if isinstance(x, list | tuple) else as_array(gradient)
        value, gradient = self._call(*x, *self._rest)
        return value, list(gradient)

    @property
    def source(self) -> str:
        return self._source()


def described(fun: Callable, names: tuple[str, ...], source: str) -> Callable:
    """fun with its vector's names, its generated source and a docstring saying so."""
    fun.names = names
    fun.source = source
    fun.__doc__ = f"(value, gradient) at the vector of {_few(names)}."
    return fun


def flat_vector(x: Any, names: tuple[str, ...], what: str = "the vector") -> Any:
    """x as a list or tuple of len(names) (numpy arrays: floats, not numpy scalars)."""
    if type(x) is not list and type(x) is not tuple:
        if x is None or isinstance(x, str | bytes | Mapping) or not isinstance(x, Iterable):
            raise ArgumentError(
                f"{what} must be a list, tuple or 1-D array of {len(names)} numbers "
                f"({_few(names)}), not {type(x).__name__}"
            )
        return _vector(x, len(names), what)
    if len(x) != len(names):
        raise length_error(x, names, what)
    return x


def length_error(x: Sequence, names: tuple[str, ...], what: str = "the vector") -> Exception:
    """The error of a list or tuple of another length than `names`."""
    return ArgumentValueError(f"{what} has {len(x)} entries; expected {len(names)} ({_few(names)})")


def flat_matrix_function(
    generated: Callable, names: tuple[str, ...], fixed: Sequence[float], source: str
) -> Callable[[Any], Any]:
    """hess(x) -> the matrix over the vector x in `names` order (f.flat_hess)."""
    rest = tuple(fixed)

    def hess(x):
        matrix = generated(*flat_vector(x, names), *rest)
        return matrix if isinstance(x, list | tuple) else as_array(matrix)

    hess.names = names
    hess.source = source
    hess.__doc__ = f"The Hessian at the vector of {_few(names)}, in that order."
    return hess


def flat_product_function(
    generated: Callable, names: tuple[str, ...], fixed: Sequence[float], source: str
) -> Callable[[Any, Any], Any]:
    """hessp(x, p) -> (Hessian at x) @ p, both vectors in `names` order (f.flat_hessp)."""
    rest = tuple(fixed)

    def hessp(x, p):
        product = generated(*flat_vector(x, names), *rest, *flat_vector(p, names, "p"))
        return product if isinstance(x, list | tuple) else as_array(product)

    hessp.names = names
    hessp.source = source
    hessp.__doc__ = f"The Hessian at x times p, vectors of {_few(names)} in that order."
    return hessp


def _few(names: Sequence[str]) -> str:
    shown = ", ".join(names[:6])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 6 else "")


def flat_inputs(
    inputs: tuple[str, ...], wrt: tuple[str, ...], names: Any, fixed: dict
) -> tuple[tuple[str, ...], tuple[str, ...], list]:
    """flat()'s arguments, for every backend: the vector's names (default wrt, less what is
    fixed), the other inputs and their fixed values. An input called `names` can be fixed by
    keyword; otherwise names=... is the vector's names."""
    if names is None and "names" in fixed and "names" not in inputs:
        names = fixed.pop("names")
    if names is None:
        names = tuple(name for name in wrt if name not in fixed)
    else:
        names = parse_names(names, "names")
    others, values = split_inputs(inputs, names, fixed, "names")
    return names, others, values


def flat_program(
    forward: Program, names: tuple[str, ...], others: tuple[str, ...], fold: Fold | None
) -> Program:
    """The value and gradient over `names`, its parameters in (names, others) order: the
    vector first, then the fixed inputs."""
    return replace(pipeline.gradient(forward, names, fold), inputs=names + others)
