"""The numpy backend's runtime: a compiled formula specialised for each signature of its inputs.

compile(formula, backend="numpy") lowers, folds and differentiates once, as for
scalars (core/pipeline.py). The first call with a given signature (every input's
shape and dtype) runs the shape pass (core/shapes.py) and the numpy code generator
(codegen.py) for it, and keeps the compiled functions; later calls with
that signature go straight to them. Inputs are never modified; numbers, lists,
integer and bool arrays become float64 arrays, float32 arrays stay float32,
float16 computes in float32 (exactly); a wider float (longdouble) is refused
rather than rounded in silence. numpy's warnings are off during each call:
a non-finite result is checked once, on the way out, and named as an error.
"""

from __future__ import annotations

import builtins
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import (
    ArgumentError,
    EvaluationError,
    MissingDependencyError,
    ShapeError,
    Span,
)

try:
    import numpy as np
except ImportError:  # the optional extra: the scalar backend never needs it
    raise MissingDependencyError(
        "compile(..., backend='numpy') needs numpy: pip install 'exprgrad[array]'"
    ) from None

from ...core import pipeline, shapes
from ...core.ir import CONST, INPUT, Program, quote
from ...core.pipeline import Programs
from ...core.primitives import BY_NAME
from ..emit import PIECE_LINES, literal
from ..python.evaluate import FOLD  # constants fold as for scalars: as Python computes them
from ..runtime import point_binder, run_source
from . import codegen as numpy_codegen
from . import helpers as numpy_helpers
from .broadcasts import broadcast_late
from .second_order import SecondOrder

ARRAYS = True  # the pipeline keeps array functions for this backend

_FLOATS = ("float32", "float64")
# numpy's warnings off for a whole call: an overflow or a nan is found on the way out
# (_check_finite) and raised as an error naming the op. A decorator is the cheap form.
_quiet = np.errstate(all="ignore")


def _has_dask(values: tuple) -> bool:
    """Is an argument a Dask collection? (If dask is not imported, none is.)"""
    return "dask" in sys.modules and any(hasattr(type(v), "__dask_graph__") for v in values)


def _as_array(name: str, value: Any) -> np.ndarray:
    """An argument as a float array: float32 and float64 arrays as they are (never
    copied), other real numbers and arrays as float64, float16 as float32; anything
    else an ArgumentError naming the argument."""
    if type(value) is np.ndarray and value.dtype.char in "fd":  # the common case, fast
        return value
    if isinstance(value, np.ma.MaskedArray):
        raise ArgumentError(
            f"argument {name!r} is a masked array, and exprgrad would drop its mask: pass "
            f"{name}.filled(value) or the unmasked elements, {name}.compressed()"
        )
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return _real_array(name, np.asarray(value), "an array")
    if isinstance(value, bool | int | float):
        return np.float64(value)  # a numpy number: 0-d like an array, and quicker to make
    if isinstance(value, list | tuple):
        kind = type(value).__name__
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):  # ragged: [[1], [1, 2]]
            raise ArgumentError(f"argument {name!r} is a {kind} of unequal rows") from None
        if array.dtype.kind == "O":  # Fractions, Decimals, ...; but never a string
            for item in array.flat:
                if isinstance(item, str | bytes | complex) or not hasattr(item, "__float__"):
                    shown = repr(item) if len(repr(item)) <= 20 else repr(item)[:17] + "..."
                    raise ArgumentError(
                        f"argument {name!r} is a {kind} holding {type(item).__name__} {shown}; "
                        "formulas compute with real numbers"
                    )
            return np.asarray(array, dtype=np.float64)
        return _real_array(name, array, f"a {kind}").astype(np.float64, copy=False)
    if hasattr(type(value), "__dask_graph__"):  # only value_and_grad and f() sum over chunks
        raise ArgumentError(
            f"argument {name!r} is a Dask collection: f(...), f.value_and_grad and f.grad "
            "take Dask arrays (their value summed over chunks of rows), this method does not"
        )
    if hasattr(type(value), "__float__") and not isinstance(value, complex):
        return np.asarray(float(value))  # Fraction, Decimal, ...
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise ArgumentError(
        f"argument {name!r} must be an array or a real number, not {type(value).__name__} {shown}"
    )


def _real_array(name: str, array: np.ndarray, what: str) -> np.ndarray:
    """The array as a float32 or float64 array, or an ArgumentError saying why not."""
    dtype = array.dtype
    if dtype.kind == "f":
        if dtype.char in "fd":
            return array
        if dtype.itemsize < 4:  # float16: every value is a float32, exactly
            return array.astype(np.float32)
        if dtype.itemsize == 8:  # a longdouble that is a double (Windows, ARM)
            return array.astype(np.float64)
        raise ArgumentError(
            f"argument {name!r} is {what} of {dtype} ({np.finfo(dtype).bits}-bit floats); "
            f"exprgrad computes in float64 or float32 and would round it: pass "
            f"{name}.astype(np.float64) if that is what you want"
        )
    if dtype.kind in "biu":
        return array.astype(np.float64)
    if dtype.kind == "c":
        holds = "complex numbers"
    elif dtype.kind in "US":
        holds = "strings"
    else:
        holds = f"values of dtype {dtype}"
    raise ArgumentError(
        f"argument {name!r} is {what} of {holds}; formulas compute with real numbers"
    )


@dataclass(slots=True)
class _Specialized:
    """The code for one signature: specs of the forward ops, and the compiled functions."""

    specs: list[shapes.Spec]
    functions: dict[str, Callable] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    line_ops: dict[str, dict] = field(default_factory=dict)


class ArrayFunction(SecondOrder):
    """A formula compiled for numpy arrays (compile(..., backend="numpy")).

    f(*args, **kwargs): the value; positional arguments follow f.inputs.
    f.value_and_grad(...): (value, {input: gradient}) for a scalar value; each gradient
        has its input's shape and dtype (summed back over broadcasting).
    f.grad(...): the dict alone. f.vjp(cotangent, ...): (value, {input: gradient}) of
        <cotangent, value> for a value of any shape.
    f.source_for(...): the numpy source generated for these inputs' shapes and dtypes.
    f.jvp(tangents, ...), f.hvp(v, ...), f.hessian(...): second order (second_order.py).
    Dask arrays among the arguments of f(...), f.value_and_grad and f.grad are data chunked
    along their rows: a value that is a sum (or mean) over the rows is summed over the
    chunks on the active Dask scheduler (tools/over_dask.py); any other is a FormulaError.
    """

    backend = "numpy"
    _convert = staticmethod(_as_array)  # an argument as an array, for second_order.py

    def __init__(self, formula: str, programs: Programs):
        self.formula = formula
        self.lowered_program = programs.lowered
        self.forward_program = forward = programs.forward
        self.program = full = programs.full
        self.inputs: tuple[str, ...] = forward.inputs
        self.wrt: tuple[str, ...] = tuple(full.grads)
        self._point = point_binder(self.inputs)
        self._specialized: dict[tuple, _Specialized] = {}
        self._vjp_program: Program | None = None

    # --- arguments -------------------------------------------------------------------

    def _arrays(self, args: tuple, kwargs: dict) -> list[np.ndarray]:
        return self._arrays_of(self._values(args, kwargs))

    def _values(self, args: tuple, kwargs: dict) -> Sequence:
        """The arguments in inputs order. The common calls, f(**point) with every input
        and f(*values), are bound here directly; any other goes through the binder, which
        names what is missing or unexpected."""
        inputs = self.inputs
        if not args and len(kwargs) == len(inputs):
            try:  # equal sizes and every input found: the same names
                return [kwargs[name] for name in inputs]
            except KeyError:
                pass
        elif not kwargs and len(args) == len(inputs):
            return args
        return self._point(args, kwargs)

    def _arrays_of(self, values: Sequence) -> list[np.ndarray]:
        # a float64 or float32 array, the common case, is tested here without a call
        fast = np.ndarray
        return [
            value if type(value) is fast and value.dtype.char in "fd" else _as_array(name, value)
            for name, value in zip(self.inputs, values, strict=True)
        ]

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
            shapes.check_elements(self.forward_program, forward)
            found = self._specialized[key] = _Specialized(forward)
        return found

    def _function(self, special: _Specialized, function: str) -> Callable:
        built = special.functions.get(function)
        if built is not None:
            return built
        inputs = self._input_specs(special)
        if function == "forward":
            program, returns, specs = self.forward_program, None, special.specs
        else:  # value_and_grad, vjp: a gradient's numbers broadcast late (broadcasts.py)
            if function == "value_and_grad":
                program = self.program
            else:
                program = self._vjp()
                inputs[numpy_codegen.SEED] = special.specs[self.forward_program.value]
            specs = shapes.infer(program, inputs)
            late = broadcast_late(program, specs)
            if late is not program:  # (the shapes of what it moved: inferred again)
                program, specs = late, shapes.infer(late, inputs)
            returns = list(program.grads.items())
        return self._install(special, function, program, specs, returns)

    def _vjp(self) -> Program:
        if self._vjp_program is None:
            self._vjp_program = pipeline.gradient(
                self.forward_program, self.wrt, FOLD, arrays=True, seed=numpy_codegen.SEED
            )
        return self._vjp_program

    # --- calls -----------------------------------------------------------------------

    @_quiet
    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        values = self._values(args, kwargs)
        if _has_dask(values):  # the value is summed over chunks of rows (tools/over_dask.py)
            from ...tools import over_dask

            return over_dask.value(self, dict(zip(self.inputs, values, strict=True)))
        arrays = self._arrays_of(values)
        special = self._for(arrays)
        value = self._function(special, "forward")(*arrays)
        self._check_finite(special, "forward", arrays, value)
        return value

    @_quiet
    def value_and_grad(self, /, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        values = self._values(args, kwargs)
        if _has_dask(values):  # the value is summed over chunks of rows (tools/over_dask.py)
            from ...tools import over_dask

            return over_dask.value_and_grad(self, dict(zip(self.inputs, values, strict=True)))
        arrays = self._arrays_of(values)
        special = self._for(arrays)
        function = special.functions.get("value_and_grad")
        if function is None:  # the first call with this signature
            value_shape = special.specs[self.program.value].shape
            if value_shape != ():
                raise ShapeError(
                    f"value_and_grad needs a scalar value, and this one has shape {value_shape}: "
                    "reduce it (sum, mean) in the formula, or use f.vjp(cotangent, ...)"
                )
            function = self._function(special, "value_and_grad")
        value, grads = function(*arrays)
        self._check_finite(special, "value_and_grad", arrays, value, grads)
        return value, grads

    def grad(self, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.value_and_grad(*args, **kwargs)[1]

    @_quiet
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
        arrays.append(cotangent)  # a nan in it gives nan gradients, not an error
        value, grads = self._function(special, "vjp")(*arrays)
        self._check_finite(special, "vjp", arrays, value, grads)
        return value, grads

    @_quiet
    def trace(self, /, *args: Any, **kwargs: Any):
        """Every line's value and adjoint (arrays) at these inputs, as a Trace."""
        from ...core.tracing import make_trace, trace_rows

        arrays = self._arrays(args, kwargs)
        special = self._for(arrays)
        if "trace" not in special.functions:
            forward = self.forward_program
            program = pipeline.gradient(
                forward, forward.inputs, FOLD, arrays=True, every_adjoint=True
            )
            specs = shapes.infer(program, self._input_specs(special))
            rows = trace_rows(forward)
            generated = numpy_codegen.specialised_source(program, specs, "trace", rows=rows)
            namespace = numpy_helpers.namespace()
            run_source(self, generated.source, "numpy trace", namespace, generated.parts)
            special.functions["trace"] = namespace["trace"]
            special.sources["trace"] = generated.source
            special.line_ops["trace"] = (rows, generated.names)
        rows, names = special.line_ops["trace"]
        result = special.functions["trace"](*arrays)
        value, values = result[0], result[1]
        # a constant value has no adjoints at all, and a line it does not use has 0.0:
        # each adjoint is given in its line's shape and dtype, as a gradient is
        adjoints = result[2] if len(result) == 3 else [0.0] * len(values)
        adjoints = [_adjoint(a, v) for a, v in zip(adjoints, values, strict=True)]
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
        # A sum of squares is finite only when every element is: an inf or a nan makes it
        # inf or nan, and no inf of another sign can cancel it (it may overflow on huge
        # finite elements: then look closer). One BLAS dot an array, the cheapest pass.
        for output in outputs:
            if type(output) is not np.ndarray:  # a number
                if not math.isfinite(output):
                    break
                continue
            flat = output.reshape(-1)
            if not math.isfinite(flat.dot(flat)):
                break
        else:
            return
        if all(np.isfinite(o).all() for o in outputs):
            return
        if not all(np.isfinite(a).all() for a in arrays):
            return  # NaN and inf in, NaN and inf out: as numpy does
        raise self._non_finite(special, function, arrays)

    def _non_finite(self, special, function, arrays) -> EvaluationError:
        """The error naming the op that made, from finite operands, the inf or nan in a result."""
        program, specs = special.line_ops[function]
        names = (*self.inputs, numpy_codegen.SEED) if function == "vjp" else program.inputs
        given = dict(zip(names, arrays, strict=True))
        value_of = _every_value(program, specs, given)
        origin = _origin(program, value_of)
        if origin is None:  # from a constant folded to inf, say
            return EvaluationError("the result is not finite", self.formula, Span(0, 0))
        op = program.ops[origin]
        reason = _reason(program, origin, value_of)
        text = quote(self.formula, op)
        where = f"the gradient of {text}" if op.in_gradient else text
        return EvaluationError(f"{reason} in {where}", self.formula, op.span or Span(0, 0))

    def __repr__(self) -> str:
        return f"exprgrad.compile({self.formula!r}, backend='numpy')"

    def __reduce__(self):
        return (_rebuild, (self.formula, self.wrt))


def _every_value(program: Program, specs: list, given: dict[str, Any]) -> dict[int, Any]:
    """Every op's value (constants aside), each computed on a line of its own: the
    generated functions write sums in place and share names, so they cannot show them.
    A long program is computed in functions of at most PIECE_LINES lines, each reading
    what it needs from the values so far."""
    names = {
        i: literal(op.value) if op.prim == CONST else f"v{i}" for i, op in enumerate(program.ops)
    }
    writer = numpy_codegen.ExpressionWriter(program, specs, names)
    inputs = [i for i, op in enumerate(program.ops) if op.prim == INPUT]
    value_of = {i: given[program.ops[i].name] for i in inputs}
    kept = [i for i, op in enumerate(program.ops) if op.prim not in (INPUT, CONST)]
    for start in range(0, len(kept), PIECE_LINES):
        piece = kept[start : start + PIECE_LINES]
        reads = {a for i in piece for a in program.ops[i].args if a in value_of}
        lines = ["def every(_values):"]
        lines += [f"    {names[a]} = _values[{a}]" for a in sorted(reads)]
        lines += [f"    {names[i]} = {writer.expression(i)}" for i in piece]
        lines.append(f"    return [{', '.join(names[i] for i in piece)}]")
        namespace = numpy_helpers.namespace()
        code = builtins.compile("\n".join(lines), "<exprgrad diagnosis>", "exec")
        exec(code, namespace)  # noqa: S102
        value_of.update(zip(piece, namespace["every"](value_of), strict=True))
    return value_of


def _origin(program: Program, value_of: dict[int, Any]) -> int | None:
    """The op that made, from finite operands, an inf or nan that reaches an output.

    Element by element, each non-finite value is traced to its maker: an elementwise op
    passes on its operands' makers (where passes on the chosen branch's), any other op
    (a reduction, @, a reshape) the first maker among its operands; where none, the op
    itself made it. A log(0) in a branch that where did not choose, or that a zero
    adjoint masked, reaches no output and is not blamed. Linear in the program's size."""
    made_by: dict[int, Any] = {}  # op -> int array of makers, -1 where finite
    for i, op in enumerate(program.ops):
        if i not in value_of or op.prim in (INPUT, CONST):
            continue
        value = np.asarray(value_of[i])
        bad = ~np.isfinite(value)
        if not bad.any():
            continue
        inherited = np.full(value.shape, -1)
        sources = [a for a in op.args if a in made_by]
        if op.prim == "where" and sources:
            picked = np.broadcast_to(np.asarray(value_of[op.args[0]], bool), value.shape)
            for branch, chosen in ((op.args[1], picked), (op.args[2], ~picked)):
                if branch in made_by:
                    mine = np.broadcast_to(made_by[branch], value.shape)
                    inherited = np.where(chosen & (inherited < 0), mine, inherited)
        elif sources and BY_NAME.get(op.prim) is not None and BY_NAME[op.prim].shape is None:
            for a in sources:  # elementwise, broadcasting as numpy does
                try:
                    mine = np.broadcast_to(made_by[a], value.shape)
                except ValueError:
                    mine = np.full(value.shape, made_by[a].max())
                inherited = np.where(inherited < 0, mine, inherited)
        else:  # one element may come from all of its operands' elements
            makers = [int(m[m >= 0].min()) for a in sources if (m := made_by[a]).max() >= 0]
            if makers:
                inherited = np.full(value.shape, min(makers))
        made_by[i] = np.where(bad, np.where(inherited >= 0, inherited, i), -1)
    for output in program.outputs():
        makers = made_by.get(output)
        if makers is not None and makers.max() >= 0:
            return int(makers[makers >= 0].min())
    return None


def _reason(program: Program, i: int, value_of: dict[int, Any]) -> str:
    """Why op i made an inf or a nan from finite operands, in words."""
    op, value = program.ops[i], np.asarray(value_of[i])
    domain = BY_NAME[op.prim].domain
    bad = ~np.isfinite(value)

    def zero_where_bad(arg: int) -> bool:  # div and the powers are elementwise: they broadcast
        found = program.ops[arg]
        zero = np.asarray(found.value == 0 if found.prim == CONST else value_of[arg] == 0)
        return bool(np.broadcast_to(zero, value.shape)[bad].any())

    if op.prim == "div" and zero_where_bad(op.args[1]):
        return "division by zero"
    if op.prim == "powi" and zero_where_bad(op.args[0]):
        return "division by zero"  # x**-1 at 0, as the scalar backend says
    if op.prim == "pow" and zero_where_bad(op.args[0]):
        return domain  # 0 to a negative power
    if domain and op.prim != "pow" and (np.isnan(value).any() or op.prim in ("log", "log1p")):
        return domain  # log(0) is -inf: a non-positive number too
    if op.prim == "pow" and np.isnan(value).any():
        return domain
    if np.isinf(value).any():
        return "overflow"
    return "a non-finite value (inf or nan)"


def _adjoint(adjoint: Any, value: Any) -> Any:
    """adjoint in the shape and float dtype of value (a number for a scalar)."""
    dtype = value.dtype if getattr(value, "dtype", None) in _FLOATS else np.dtype(np.float64)
    shape = np.shape(value)
    if np.shape(adjoint) == shape and getattr(adjoint, "dtype", None) == dtype:
        return adjoint
    return np.full(shape, adjoint, dtype=dtype)[()]  # [()]: a 0-d array becomes a number


def make_function(
    formula: str, programs: Programs, *, fold: bool, fold_forward: bool
) -> ArrayFunction:
    """The backend's entry (backends/__init__.py). Derived programs (vjp, trace) are
    folded whatever `fold` says, as the gradient of an optimized formula is."""
    return ArrayFunction(formula, programs)


def _rebuild(formula: str, wrt: tuple[str, ...]) -> ArrayFunction:
    """What a pickled ArrayFunction loads as: the same formula, compiled again."""
    return ArrayFunction(formula, pipeline.forward_and_gradient(formula, wrt, FOLD, arrays=True))
