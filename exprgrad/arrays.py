"""The numpy backend's runtime: a compiled formula specialised for each signature of its inputs.

compile(formula, backend="numpy") lowers, folds and differentiates once, as for
scalars. The first call with a given signature (every input's shape and dtype)
runs the shape pass (shapes.py) and the numpy code generator
(numpy_codegen.py) for it, and keeps the compiled functions; later calls with
that signature go straight to them. Inputs are never modified; numbers and
lists become float64 arrays, float32 arrays stay float32.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import numpy_codegen, numpy_helpers, regions, shapes
from .codegen import quote
from .errors import ArgumentError, EvaluationError, ShapeError, Span
from .function import bind_formula_names, missing_message, run_source
from .ir import CONST, INPUT, Program
from .optimize import eliminate_dead_code, simplify
from .primitives import BY_NAME
from .reverse import differentiate

_FLOATS = ("float32", "float64")


def _as_array(name: str, value: Any) -> np.ndarray:
    """An argument as a float array: float32 and float64 arrays as they are (never
    copied), other real numbers and arrays as float64; anything else a TypeError."""
    if type(value) is np.ndarray and value.dtype.char in "fd":  # the common case, fast
        return value
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        kind = value.dtype.kind
        if kind == "f":
            if value.dtype.name in _FLOATS:
                return np.asarray(value)
            return np.asarray(value, dtype=np.float32)  # float16 computes in float32
        if kind in "biu":
            return np.asarray(value, dtype=np.float64)
        what = "complex" if kind == "c" else f"of dtype {value.dtype}"
        raise ArgumentError(f"argument {name!r} is an array {what}; formulas compute with reals")
    if isinstance(value, bool | int | float) and not isinstance(value, complex):
        return np.asarray(float(value))
    if isinstance(value, list | tuple):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            kind = type(value).__name__
            raise ArgumentError(f"argument {name!r} is a {kind} of non-numbers") from None
        return array
    if hasattr(type(value), "__float__") and not isinstance(value, complex | str | bytes):
        return np.asarray(float(value))  # Fraction, Decimal, ...
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise ArgumentError(
        f"argument {name!r} must be an array or a real number, not {type(value).__name__} {shown}"
    )


@dataclass(slots=True)
class _Specialized:
    """The code for one signature: specs of the forward ops, and the compiled functions."""

    specs: list[shapes.Spec]
    functions: dict[str, Callable] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    line_ops: dict[str, dict] = field(default_factory=dict)


class ArrayFunction:
    """A formula compiled for numpy arrays (compile(..., backend="numpy")).

    f(*args, **kwargs): the value; positional arguments follow f.inputs.
    f.value_and_grad(...): (value, {input: gradient}) for a scalar value; each gradient
        has its input's shape and dtype (summed back over broadcasting).
    f.grad(...): the dict alone. f.vjp(cotangent, ...): (value, {input: gradient}) of
        <cotangent, value> for a value of any shape.
    f.source_for(...): the numpy source generated for these inputs' shapes and dtypes.
    """

    backend = "numpy"

    def __init__(self, formula: str, lowered: Program, forward: Program, full: Program):
        self.formula = formula
        self.lowered_program = lowered
        self.forward_program = forward
        self.program = full
        self.inputs: tuple[str, ...] = forward.inputs
        self.wrt: tuple[str, ...] = tuple(full.grads)
        self._bind = bind_formula_names(lambda *values: values, self.inputs)
        self._specialized: dict[tuple, _Specialized] = {}
        self._vjp_program: Program | None = None

    # --- arguments -------------------------------------------------------------------

    def _arrays(self, args: tuple, kwargs: dict) -> list[np.ndarray]:
        values = self._bind(*args, **kwargs)
        message = missing_message("f", self.inputs, values)
        if message is not None:
            raise ArgumentError(message)
        return [_as_array(name, value) for name, value in zip(self.inputs, values, strict=True)]

    def _for(self, arrays: list[np.ndarray]) -> _Specialized:
        key = tuple((a.shape, a.dtype.char) for a in arrays)
        found = self._specialized.get(key)
        if found is None:
            inputs = {
                name: shapes.Spec(a.shape, a.dtype.name)
                for name, a in zip(self.inputs, arrays, strict=True)
            }
            # the forward program's alone: a gradient exists only for a scalar value
            forward = shapes.infer(self.forward_program, inputs)
            found = self._specialized[key] = _Specialized(forward)
        return found

    def _function(self, special: _Specialized, function: str) -> Callable:
        built = special.functions.get(function)
        if built is not None:
            return built
        inputs = {
            op.name: special.specs[i]
            for i, op in enumerate(self.forward_program.ops)
            if op.prim == INPUT
        }
        if function == "forward":
            program, returns, specs = self.forward_program, None, special.specs
        elif function == "value_and_grad":
            program, returns = self.program, list(self.program.grads.items())
            specs = shapes.infer(program, inputs)
        else:  # vjp
            program = self._vjp()
            returns = list(program.grads.items())
            inputs[numpy_codegen.SEED] = special.specs[self.forward_program.value]
            specs = shapes.infer(program, inputs)
        generated = numpy_codegen.function_source(program, specs, function, returns=returns)
        namespace = numpy_helpers.namespace()
        run_source(self, generated.source, f"numpy {function}", namespace)
        built = special.functions[function] = namespace[function]
        special.sources[function] = generated.source
        special.line_ops[function] = (program, specs)
        return built

    def _vjp(self) -> Program:
        if self._vjp_program is None:
            forward = self.forward_program
            program = differentiate(
                forward, self.wrt, simplify, arrays=True, seed=numpy_codegen.SEED
            )
            self._vjp_program = eliminate_dead_code(program)
        return self._vjp_program

    # --- calls -----------------------------------------------------------------------

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        arrays = self._arrays(args, kwargs)
        special = self._for(arrays)
        value = self._function(special, "forward")(*arrays)
        self._check_finite(special, "forward", arrays, value)
        return value

    def value_and_grad(self, /, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        arrays = self._arrays(args, kwargs)
        special = self._for(arrays)
        value_shape = special.specs[self.program.value].shape
        if value_shape != ():
            raise ShapeError(
                f"value_and_grad needs a scalar value, and this one has shape {value_shape}: "
                "reduce it (sum, mean) in the formula, or use f.vjp(cotangent, ...)"
            )
        value, grads = self._function(special, "value_and_grad")(*arrays)
        self._check_finite(special, "value_and_grad", arrays, value, grads)
        return value, grads

    def grad(self, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.value_and_grad(*args, **kwargs)[1]

    def vjp(self, /, cotangent: Any, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """(value, {input: the gradient of sum(cotangent * value)}): the gradient of a
        value of any shape against a cotangent of that shape."""
        arrays = self._arrays(args, kwargs)
        special = self._for(arrays)
        cotangent = _as_array("cotangent", cotangent)
        want = special.specs[self.forward_program.value]
        if cotangent.shape != want.shape:
            raise ShapeError(
                f"the cotangent has shape {cotangent.shape}, the value {want.shape}: "
                "they must be equal"
            )
        cotangent = cotangent.astype(want.dtype if want.dtype in _FLOATS else "float64")
        value, grads = self._function(special, "vjp")(*arrays, cotangent)
        self._check_finite(special, "vjp", arrays, value, grads)
        return value, grads

    def trace(self, /, *args: Any, **kwargs: Any):
        """Every line's value and adjoint (arrays) at these inputs, as a Trace."""
        from .tracing import make_trace, trace_rows

        arrays = self._arrays(args, kwargs)
        special = self._for(arrays)
        if "trace" not in special.functions:
            forward = self.forward_program
            program = eliminate_dead_code(
                differentiate(forward, forward.inputs, simplify, arrays=True, every_adjoint=True)
            )
            inputs = {name: special.specs[i] for name, i in forward.input_ids().items()}
            specs = shapes.infer(program, inputs)
            rows = trace_rows(forward)
            generated = numpy_codegen.function_source(program, specs, "trace", rows=rows)
            namespace = numpy_helpers.namespace()
            run_source(self, generated.source, "numpy trace", namespace)
            special.functions["trace"] = namespace["trace"]
            special.sources["trace"] = generated.source
            special.line_ops["trace"] = (rows, generated.names)
        rows, names = special.line_ops["trace"]
        value, values, adjoints = special.functions["trace"](*arrays)
        return make_trace(self.formula, self.forward_program, names, rows, value, values, adjoints)

    def source_for(self, /, *args: Any, **kwargs: Any) -> str:
        """The numpy source generated for inputs of these shapes and dtypes."""
        arrays = self._arrays(args, kwargs)
        special = self._for(arrays)
        self._function(special, "forward")
        if special.specs[self.program.value].shape == ():
            self._function(special, "value_and_grad")
        return "\n\n".join(special.sources.values())

    @property
    def source(self) -> str:
        """The numpy source generated so far, for every signature called."""
        parts = [s for special in self._specialized.values() for s in special.sources.values()]
        if not parts:
            return "# no code yet: numpy code is generated for the shapes of the first call\n"
        return "\n\n".join(parts)

    # --- non-finite results ------------------------------------------------------------

    def _check_finite(self, special, function, arrays, value, grads=None) -> None:
        outputs = [value, *(grads or {}).values()]
        # a sum is finite when every element is (it may overflow: then look closer)
        total = 0.0
        for output in outputs:
            total += float(np.add.reduce(output, None))
        if math.isfinite(total):
            return
        if all(np.isfinite(o).all() for o in outputs):
            return
        if not all(np.isfinite(a).all() for a in arrays):
            return  # NaN and inf in, NaN and inf out: as numpy does
        raise self._non_finite(special, function, arrays)

    def _non_finite(self, special, function, arrays) -> EvaluationError:
        """The first op that made an inf or nan from finite operands, for the message."""
        program, specs = special.line_ops[function]
        rows = [i for i, op in enumerate(program.ops) if op.prim not in (INPUT, CONST)]
        generated = numpy_codegen.function_source(program, specs, "trace", rows=rows)
        namespace = numpy_helpers.namespace()
        exec(builtins.compile(generated.source, "<exprgrad diagnosis>", "exec"), namespace)  # noqa: S102
        extra = [arrays[-1]] if function == "vjp" else []
        with np.errstate(all="ignore"):
            _, values = namespace["trace"](*arrays[: len(self.inputs)], *extra)
        value_of = dict(zip(rows, values, strict=True))
        finite = {i: np.isfinite(v).all() for i, v in value_of.items()}
        needed = regions.need(program, regions.Guards())
        candidates = [
            i
            for i in rows
            if not finite[i] and all(finite.get(a, True) for a in program.ops[i].args)
        ]
        candidates.sort(key=lambda i: (needed[i] is not None, i))  # outside any where first
        if not candidates:
            return EvaluationError("the result is not finite", self.formula, Span(0, 0))
        op = program.ops[candidates[0]]
        reason = BY_NAME[op.prim].domain or "a non-finite value (inf or nan)"
        if op.prim in ("div",) or op.prim == "pow" and "inf" in repr(value_of[candidates[0]]):
            reason = "division by zero" if op.prim == "div" else reason
        text = quote(self.formula, op)
        where = f"the gradient of {text}" if op.in_gradient else text
        return EvaluationError(f"{reason} in {where}", self.formula, op.span or Span(0, 0))

    def __repr__(self) -> str:
        return f"exprgrad.compile({self.formula!r}, backend='numpy')"

    def __reduce__(self):
        return (_rebuild, (self.formula, self.wrt))


def _rebuild(formula: str, wrt: tuple[str, ...]) -> ArrayFunction:
    from .function import compile as compile_formula

    return compile_formula(formula, wrt, backend="numpy")


def differentiate_arrays(forward: Program, wrt: tuple[str, ...], fold: bool) -> Program:
    return eliminate_dead_code(differentiate(forward, wrt, simplify if fold else None, arrays=True))
