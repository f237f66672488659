"""Residuals of several formulas over one parameter vector, for least squares.

    r = exprgrad.residuals(["a*exp(-b*0.5) - 1.2", "a*exp(-b*1.5) - 0.4"])
    scipy.optimize.least_squares(r, x0, jac=r.jac)

The formulas are merged into one program (inputs shared by name), which goes through
the one pipeline (core/pipeline.py; forward mode for the Jacobian) and runs in the
Python backend's Runtime; backends/python/vectors.py turns vectors in and out.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..backends.emit import header
from ..backends.python.evaluate import FOLD
from ..backends.python.runtime import Runtime
from ..backends.python.vectors import as_array, flat_vector, parse_names, split_inputs
from ..core import forward, pipeline
from ..core.ir import INPUT, Builder, Program
from ..core.lower import lower
from ..core.parsing import parse
from ..errors import ArgumentValueError, Span
from ..frontends.sympy import formula_text


def _merge(formulas: Sequence[Any]) -> tuple[tuple[str, ...], Program]:
    """One program computing every residual: each formula lowered alone (its errors point
    into it), then appended to one builder, inputs shared by name, spans moved to the
    residuals' text joined by newlines; grads {"0": r0, "1": r1, ...}."""
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
        pipeline.scalars_only(merged, "residuals are scalar formulas")
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
        return flat_vector(x, self.wrt, "the parameter vector")

    def __call__(self, x: Any) -> Any:
        return as_array(self._residuals(*self._vector(x), *self._rest))

    def jac(self, x: Any) -> Any:
        """The Jacobian d r_k / d wrt[j] at x, one row per residual."""
        return as_array(self._jacobian(*self._vector(x), *self._rest))

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
