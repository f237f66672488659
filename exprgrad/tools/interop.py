"""Plugging compiled formulas into numeric code: flat vectors for scipy.optimize, residuals
for least squares, and the shapes the higher-order functions return.

    fun = f.flat(["a", "b"], x=1.5)           # fun([a, b]) -> (value, gradient vector)
    scipy.optimize.minimize(fun, x0, jac=True)
    r = exprgrad.residuals(["a*exp(-b*0.5) - 1.2", "a*exp(-b*1.5) - 0.4"])
    scipy.optimize.least_squares(r, x0, jac=r.jac)

Everything here calls generated functions; the programs behind them come from the one
pipeline (core/pipeline.py; forward.py for tangents and Jacobians), they run in the
Python backend's Runtime, and its codegen.RETURNS writes their `return` lines:

    hessian, jacobian   [[h00, h01], [h10, h11]]   (program.grads keyed "row,column")
    residuals           [r0, r1, ...]
    jvp                 value, tangent
    hvp                 {'a': ..., 'b': ...}
    flat                value, [gradient in the vector's order]
    hessp               [(H p) in the vector's order]

numpy is optional: with it, vectors and matrices come back as numpy arrays (what scipy
wants), without it as lists.
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..backends.emit import header
from ..backends.python.evaluate import FOLD
from ..backends.python.helpers import _float_arguments
from ..backends.python.runtime import Runtime
from ..core import forward, pipeline
from ..core.ir import INPUT, Builder, Program
from ..core.lower import lower
from ..core.parsing import parse
from ..errors import ArgumentError, ArgumentValueError, EvaluationError, Span


@functools.cache
def _numpy() -> Any:
    """numpy, imported on first use (import exprgrad stays fast), or None without it."""
    try:
        import numpy
    except ImportError:  # an optional extra: lists instead of arrays
        return None
    return numpy


def _array(values: list) -> Any:
    """A vector or matrix of floats as scipy wants it: a numpy array, or the lists as they
    are without numpy."""
    numpy = _numpy()
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
    repeated = sorted({n for n in found if found.count(n) > 1})
    if repeated:
        raise ArgumentValueError(f"{what} lists {', '.join(map(repr, repeated))} more than once")
    return tuple(found)


def split_inputs(
    inputs: Sequence[str], names: Sequence[str], fixed: Mapping[str, Any], what: str
) -> tuple[tuple[str, ...], list[float]]:
    """The inputs not in `names` (in input order) and their fixed values as floats.
    Every input is in exactly one of the two."""
    unknown = [n for n in names if n not in inputs]
    if unknown:
        raise ArgumentValueError(
            f"{what} lists {', '.join(map(repr, unknown))}, which is not an input "
            f"(inputs: {', '.join(inputs) or 'none'})"
        )
    both = [n for n in fixed if n in names]
    if both:
        raise ArgumentValueError(
            f"{', '.join(map(repr, both))} is both in the vector and fixed; give it one place"
        )
    extra = [n for n in fixed if n not in inputs]
    if extra:
        raise ArgumentError(
            f"unexpected fixed input(s) {', '.join(map(repr, extra))} "
            f"(inputs: {', '.join(inputs) or 'none'})"
        )
    others = tuple(n for n in inputs if n not in names)
    missing = [n for n in others if n not in fixed]
    if missing:
        raise ArgumentError(
            f"missing fixed input(s) {', '.join(map(repr, missing))}: every input not in "
            "the vector needs a value by keyword"
        )
    return others, _labelled_floats([f"argument {n!r}" for n in others], [fixed[n] for n in others])


# --- f.flat -------------------------------------------------------------------------------


def flat_function(
    generated: Callable, names: tuple[str, ...], fixed: Sequence[float], source: str
) -> Callable[[Any], tuple[float, Any]]:
    """fun(x) -> (value, gradient): x a list, tuple or numpy vector in `names` order.
    fun.names: those names; fun.source: the generated code it calls."""
    size, rest = len(names), tuple(fixed)
    numpy = _numpy()
    if numpy is None:
        array = list
    else:  # fromiter with a known count: a third faster than numpy.array(list) at 200

        def array(gradient, fromiter=numpy.fromiter, float64=numpy.float64):
            return fromiter(gradient, float64, size)

    def fun(x):
        if type(x) is not list and type(x) is not tuple or len(x) != size:
            x = _flat_vector(x, names)  # numpy arrays: floats, not numpy scalars
        value, gradient = generated(*x, *rest)
        return value, array(gradient)

    fun.names = names
    fun.source = source
    fun.__doc__ = f"(value, gradient) at the vector of {_few(names)}."
    return fun


def _flat_vector(x: Any, names: tuple[str, ...], what: str = "the vector") -> Any:
    """x as a list or tuple of len(names) (numpy arrays: floats, not numpy scalars)."""
    if type(x) is not list and type(x) is not tuple:
        if x is None or isinstance(x, str | bytes | Mapping) or not isinstance(x, Iterable):
            raise ArgumentError(
                f"{what} must be a list, tuple or 1-D array of {len(names)} numbers "
                f"({_few(names)}), not {type(x).__name__}"
            )
        return _vector(x, len(names), what)
    if len(x) != len(names):
        raise ArgumentValueError(
            f"{what} has {len(x)} entries; expected {len(names)} ({_few(names)})"
        )
    return x


def flat_matrix_function(
    generated: Callable, names: tuple[str, ...], fixed: Sequence[float], source: str
) -> Callable[[Any], Any]:
    """hess(x) -> the matrix over the vector x in `names` order (f.flat_hess)."""
    rest = tuple(fixed)

    def hess(x):
        return _array(generated(*_flat_vector(x, names), *rest))

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
        return _array(generated(*_flat_vector(x, names), *rest, *_flat_vector(p, names, "p")))

    hessp.names = names
    hessp.source = source
    hessp.__doc__ = f"The Hessian at x times p, vectors of {_few(names)} in that order."
    return hessp


def _few(names: Sequence[str]) -> str:
    shown = ", ".join(names[:6])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 6 else "")


# --- residuals ----------------------------------------------------------------------------


def _merge(formulas: Sequence[Any]) -> tuple[tuple[str, ...], Program]:
    """One program computing every residual: each formula lowered alone (its errors point
    into it), then appended to one builder, inputs shared by name, spans moved to the
    residuals' text joined by newlines; grads {"0": r0, "1": r1, ...}."""
    from ..frontends.sympy import formula_text

    texts = [f if isinstance(f, str) else formula_text(f) for f in formulas]
    builder = Builder()
    inputs: list[str] = []
    outputs: dict[str, int] = {}
    offset = 0
    for k, text in enumerate(texts):
        program = lower(parse(text))
        new_id: list[int] = []
        for op in program.ops:
            span = op.span and Span(op.span.start + offset, op.span.end + offset)
            # names given by one formula may be given again by another: drop them
            moved = replace(op, span=span, name=op.name if op.prim == INPUT else None)
            if op.prim == INPUT and op.name not in inputs:
                inputs.append(op.name)
            new_id.append(builder.add(moved, tuple(new_id[a] for a in op.args)))
        outputs[str(k)] = new_id[program.value]
        offset += len(text) + 1
    source = "\n".join(texts)
    merged = Program(tuple(builder.ops), source, tuple(inputs), outputs["0"], outputs)
    return tuple(texts), merged


class Residuals:
    """Residuals r_k(x) of several formulas over one parameter vector x, for least squares.

    r(x) -> the residual vector; r.jac(x) -> the Jacobian (len(formulas) x len(wrt)),
    both numpy arrays when numpy is installed (lists otherwise), so
    scipy.optimize.least_squares(r, x0, jac=r.jac) takes them directly.
    r.wrt: the parameters, in the vector's order; r.inputs: every input.
    r.source: the generated residuals() and jacobian().
    """

    def __init__(self, formulas: Sequence[Any], wrt: Any = None, fixed: Mapping[str, Any] = ()):
        one = isinstance(formulas, str) or not isinstance(formulas, Iterable)  # sympy.Expr
        formulas = [formulas] if one else list(formulas)
        if not formulas:
            raise ArgumentValueError("residuals() needs at least one formula")
        texts, merged = _merge(formulas)
        source = merged.source
        program = pipeline.value_program(merged, FOLD)
        pipeline.check_size(program, "the residuals")
        self.formulas: tuple[str, ...] = texts
        self.inputs: tuple[str, ...] = program.inputs
        fixed = dict(fixed)
        if wrt is None and "wrt" in fixed and "wrt" not in self.inputs:
            wrt = fixed.pop("wrt")  # residuals(formulas, wrt=[...]) names the parameters
        if wrt is None:  # every input not fixed
            wrt = tuple(name for name in self.inputs if name not in fixed)
        else:
            wrt = parse_names(wrt, "wrt")
        if not wrt:
            raise ArgumentValueError("residuals() needs at least one parameter (wrt)")
        others, values = split_inputs(self.inputs, wrt, fixed, "wrt")
        self.wrt: tuple[str, ...] = wrt
        program = replace(program, inputs=wrt + others)
        outputs = list(program.grads.values())
        keys = (list(program.grads), wrt)

        def make(fold: Callable | None) -> Program:
            limit = pipeline.derived_limit()
            builder, matrix = forward.columns(program, outputs, wrt, fold, limit=limit)
            return forward.matrix_program(program, builder, matrix, keys)

        jacobian = pipeline.derive(make, FOLD, "their Jacobian program")
        # One Runtime over the joined text runs the generated code: error positions (line
        # k + 1 of the joined text is formula k), linecache entries.
        self._runtime = runtime = Runtime(source, program.inputs)
        self._residuals = runtime.build_apart("residuals", "residuals", program, floats=others)
        self._jacobian = runtime.build_apart("jacobian", "jacobian", jacobian, floats=others)
        self._rest = tuple(values)
        self._fixed = dict(zip(others, self._rest, strict=True))  # for repr

    def _vector(self, x: Any) -> Any:
        return _flat_vector(x, self.wrt, "the parameter vector")

    def __call__(self, x: Any) -> Any:
        return _array(self._residuals(*self._vector(x), *self._rest))

    def jac(self, x: Any) -> Any:
        """The Jacobian d r_k / d wrt[j] at x, one row per residual."""
        return _array(self._jacobian(*self._vector(x), *self._rest))

    @property
    def source(self) -> str:
        generated = self._runtime.generated
        body = generated["residuals"].source + "\n\n" + generated["jacobian"].source
        return header(self._runtime.formula) + "\n" + body

    def __repr__(self) -> str:
        fixed = self._fixed
        # wrt by keyword reads better; positionally when an input is called wrt
        wrt = f"{list(self.wrt)!r}" if "wrt" in fixed else f"wrt={list(self.wrt)!r}"
        keywords = [f"{n}={v!r}" for n, v in fixed.items() if _keyword_safe(n)]
        odd = {n: v for n, v in fixed.items() if not _keyword_safe(n)}  # lambda=, print=
        if odd:
            keywords.append(f"**{odd!r}")
        return f"exprgrad.residuals({', '.join([repr(list(self.formulas)), wrt, *keywords])})"


def _keyword_safe(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)
