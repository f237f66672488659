"""The lists backend's runtime: an array formula on nested Python lists, specialised per
signature of shapes, with no numpy anywhere.

compile(formula, backend="python") returns a ListFunction for a formula that needs arrays
(and a scalar Function hands its list arguments to one). As with the numpy backend, the
pipeline runs once; the first call with each signature (every input's shape) runs the
shape pass (core/shapes.py) and the code generator (codegen.py), and keeps the compiled
functions. Inputs are copied into nested lists of floats (convert.py) and never modified.

Python's math raises where numpy gives an inf or a nan (log(-1), exp(1000), 1/0). When
the generated code raises, or returns an inf or a nan, the same code is run with IEEE
results (spellings.IEEE): if the results are finite, the failure was in an element that
a where did not choose, and they are the answer (so a where takes only the chosen branch
of each element, as the numpy backend's np.where does); if an input was not finite, inf
and NaN in give inf and NaN out; otherwise the op that made the inf or nan is named in
an EvaluationError, by the numpy backend's rules (diagnosis.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...core import pipeline, shapes
from ...core.ir import CONST, Program, quote
from ...core.pipeline import Programs
from ...errors import EvaluationError, FormulaError, ShapeError, Span
from ..emit import header
from ..python.evaluate import FOLD  # constants fold as for scalars: as Python computes them
from ..python.helpers import HELPERS as PYTHON_HELPERS
from ..python.helpers import runtime_namespace
from ..runtime import point_binder, run_source
from . import codegen, diagnosis
from .convert import as_nested, finite
from .helpers import HELPERS, _broadcast, _mul
from .spellings import REFUSED

ARRAYS = True  # the pipeline keeps array functions for this backend
_BUILTINS = ("sum", "zip", "list", "range", "map", "float", "abs", "max", "min", "type")


def namespace() -> dict:
    """The globals generated list code runs with: math, the helpers, a few builtins."""
    names = runtime_namespace()
    names.update(HELPERS)
    names["_mul"] = _mul
    builtins = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
    names["__builtins__"] = {name: builtins[name] for name in _BUILTINS}
    return names


@dataclass(slots=True)
class _Specialized:
    """The code for one signature: the forward ops' specs and the compiled functions."""

    specs: list[shapes.Spec]
    inputs: dict[str, shapes.Spec]
    functions: dict[tuple[str, bool], Callable] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    programs: dict[str, tuple[Program, list[shapes.Spec]]] = field(default_factory=dict)


class ListFunction:
    """A formula compiled for Python lists (compile(..., backend="python") for arrays).

    f(*args, **kwargs): the value, a float or nested lists; positional arguments follow
        f.inputs. Arguments: numbers, or nested lists (or tuples) of numbers.
    f.value_and_grad(...): (value, {input: gradient}) for a scalar value; each gradient a
        nested list in its input's shape (summed back over broadcasting), or a float.
    f.grad(...): the dict alone. f.vjp(cotangent, ...): the gradient of
        sum(cotangent * value) for a value of any shape.
    f.source_for(...): the code generated for these inputs' shapes;
    f.module_source(...): a standalone module of it, needing only the standard library.
    """

    backend = "lists"

    def __init__(self, formula: str, programs: Programs, fold: bool = True):
        _refuse_unwritten(programs.forward)
        self.formula = formula
        self._fold = fold
        self.lowered_program = programs.lowered
        self.forward_program = forward = programs.forward
        self.program = programs.full
        self.inputs: tuple[str, ...] = forward.inputs
        self.wrt: tuple[str, ...] = tuple(self.program.grads)
        self._point = point_binder(self.inputs)
        self._specialized: dict[tuple, _Specialized] = {}
        self._vjp_program: Program | None = None

    # --- arguments and signatures -----------------------------------------------------

    def _arguments(self, args: tuple, kwargs: dict) -> tuple[list, _Specialized]:
        values = self._point(args, kwargs, "f")
        converted, key = [], []
        for name, value in zip(self.inputs, values, strict=True):
            nested, shape = as_nested(name, value)
            converted.append(nested)
            key.append(shape)
        return converted, self._for(tuple(key))

    def _for(self, key: tuple) -> _Specialized:
        found = self._specialized.get(key)
        if found is None:
            inputs = {
                name: shapes.Spec(shape, "float64")
                for name, shape in zip(self.inputs, key, strict=True)
            }
            forward = shapes.infer(self.forward_program, inputs)
            shapes.check_elements(self.forward_program, forward)
            _check_lists(self.forward_program, forward)
            found = self._specialized[key] = _Specialized(forward, inputs)
        return found

    def _program(self, special: _Specialized, function: str):
        """(program, specs, returns) of one generated function at this signature."""
        found = special.programs.get(function)
        if found is None:
            inputs = dict(special.inputs)
            if function == "forward":
                program, specs = self.forward_program, special.specs
            elif function == "value_and_grad":
                program = self.program
                specs = shapes.infer(program, inputs)
            elif function == "trace":  # every line's adjoint too
                forward = self.forward_program
                program = pipeline.gradient(
                    forward, forward.inputs, FOLD, arrays=True, every_adjoint=True
                )
                specs = shapes.infer(program, inputs)
            else:  # vjp
                program = self._vjp()
                inputs[codegen.SEED] = special.specs[self.forward_program.value]
                specs = shapes.infer(program, inputs)
            found = special.programs[function] = (program, specs)
        program, specs = found
        returns = None if function == "forward" else list(program.grads.items())
        return program, specs, returns

    def _function(
        self, special: _Specialized, function: str, ieee: bool = False, every: bool = False
    ) -> Callable:
        """The generated function (every: the one returning every op's value, for the
        trace and the diagnosis of a non-finite result)."""
        built = special.functions.get((function, ieee, every))
        if built is None:
            program, specs, returns = self._program(special, function)
            name = "every" if every else function
            generated = codegen.specialised_source(
                program, specs, name, returns=returns, ieee=ieee, every=every
            )
            names = namespace()
            run_source(self, generated.source, f"lists {name}", names, generated.parts)
            built = special.functions[function, ieee, every] = names[name]
            if not ieee and not every:
                special.sources[function] = generated.source
        return built

    def _vjp(self) -> Program:
        if self._vjp_program is None:
            self._vjp_program = pipeline.gradient(
                self.forward_program, self.wrt, FOLD, arrays=True, seed=codegen.SEED
            )
        return self._vjp_program

    # --- calls --------------------------------------------------------------------------

    def _run(self, special: _Specialized, function: str, values: list) -> Any:
        try:
            result = self._function(special, function)(*values)
        except (ArithmeticError, ValueError):  # math raised: see what numpy would give
            return self._explain(special, function, values)
        if not self._finite(special, function, result):
            return self._explain(special, function, values)
        return result

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        values, special = self._arguments(args, kwargs)
        return self._run(special, "forward", values)

    def value_and_grad(self, /, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        values, special = self._arguments(args, kwargs)
        value_shape = special.specs[self.forward_program.value].shape
        if value_shape != ():
            raise ShapeError(
                f"value_and_grad needs a scalar value, and this one has shape {value_shape}: "
                "reduce it (sum, mean) in the formula, or use f.vjp(cotangent, ...)"
            )
        return self._run(special, "value_and_grad", values)

    def grad(self, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.value_and_grad(*args, **kwargs)[1]

    def vjp(self, /, cotangent: Any, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """(value, {input: the gradient of sum(cotangent * value)}): the gradient of a
        value of any shape against a cotangent of that shape."""
        values, special = self._arguments(args, kwargs)
        cotangent, shape = as_nested("cotangent", cotangent)
        want = special.specs[self.forward_program.value].shape
        if shape != want:
            raise ShapeError(
                f"the cotangent has shape {shape}, the value {want}: they must be equal"
            )
        return self._run(special, "vjp", [*values, cotangent])

    def _finite(self, special: _Specialized, function: str, result: Any) -> bool:
        program, specs, _ = self._program(special, function)
        if function == "forward":
            return finite(result, len(specs[program.value].shape))
        value, grads = result
        if not finite(value, len(specs[program.value].shape)):
            return False
        ranks = {name: len(spec.shape) for name, spec in special.inputs.items()}
        return all(finite(g, ranks[name]) for name, g in grads.items())

    def _explain(self, special: _Specialized, function: str, values: list) -> Any:
        """The IEEE result where it is finite or came from non-finite inputs; otherwise the
        EvaluationError naming the op that made the inf or nan."""
        result = self._function(special, function, ieee=True)(*values)
        if self._finite(special, function, result):
            return result
        ranks = [len(special.inputs[name].shape) for name in self.inputs]
        if function == "vjp":
            ranks.append(len(special.specs[self.forward_program.value].shape))
        if not all(finite(v, r) for v, r in zip(values, ranks, strict=True)):
            return result  # NaN and inf in, NaN and inf out, as numpy gives them
        program, specs, _ = self._program(special, function)
        every = self._function(special, function, ieee=True, every=True)(*values)
        op_shapes = [spec.shape for spec in specs]
        culprit = diagnosis.origin(program, op_shapes, every)
        if culprit is None:  # from a constant folded to inf, say
            return result
        op = program.ops[culprit]
        why = diagnosis.reason(program, op_shapes, every, culprit)
        text = quote(self.formula, op)
        where = f"the gradient of {text}" if op.in_gradient else text
        raise EvaluationError(f"{why} in {where}", self.formula, op.span or Span(0, 0))

    def trace(self, /, *args: Any, **kwargs: Any):
        """Every line's value and adjoint (floats or nested lists) at these inputs, as a
        Trace; an inf or nan shows in the table, as it does on numpy."""
        from ...core.tracing import make_trace, trace_rows

        values, special = self._arguments(args, kwargs)
        program, specs, _ = self._program(special, "trace")
        try:
            every = self._function(special, "trace", every=True)(*values)
        except (ArithmeticError, ValueError):
            every = self._function(special, "trace", ieee=True, every=True)(*values)
        rows = trace_rows(self.forward_program)

        def value_of(i: int) -> Any:  # the every-function returns None for constants
            op = program.ops[i]
            return op.value if op.prim == CONST else every[i]

        adjoints = []
        for i in rows:
            shape = specs[i].shape
            adjoint = value_of(program.adjoints[i]) if i in program.adjoints else 0.0
            if shape and not isinstance(adjoint, list):  # one number for every element
                adjoint = _broadcast(float(adjoint), (), shape)
            adjoints.append(adjoint if shape else float(adjoint))
        values = [value_of(i) for i in rows]
        names = codegen.names_of(program)
        return make_trace(
            self.formula,
            self.forward_program,
            names,
            rows,
            value_of(program.value),
            values,
            adjoints,
        )

    # --- the generated code ---------------------------------------------------------------

    def _sources(self, args: tuple, kwargs: dict) -> tuple[_Specialized, list[str]]:
        _, special = self._arguments(args, kwargs)
        wanted = ["forward"]
        if special.specs[self.forward_program.value].shape == ():
            wanted.append("value_and_grad")
        for function in wanted:
            self._function(special, function)
        return special, [special.sources[f] for f in wanted]

    def source_for(self, /, *args: Any, **kwargs: Any) -> str:
        """The Python source generated for inputs of these shapes."""
        return "\n\n".join(self._sources(args, kwargs)[1])

    @property
    def source(self) -> str:
        """The source generated so far, for every signature called."""
        order = ("forward", "value_and_grad", "vjp")
        parts = [
            special.sources[name]
            for special in self._specialized.values()
            for name in order
            if name in special.sources
        ]
        if not parts:
            return "# no code yet: list code is generated for the shapes of the first call\n"
        return "\n\n".join(parts)

    def module_source(self, /, *args: Any, **kwargs: Any) -> str:
        """A standalone module computing this formula for inputs of these shapes: only the
        standard library (math, operator), the helpers it calls pasted in. Its functions
        take nested lists of floats in those shapes, in f.inputs order. Each is the code
        source_for shows, guarded as f's calls are: where Python's math raises, the same
        code with IEEE results gives the answer if that is finite (a where dropped the
        failing element), and otherwise the math error stands."""
        special, sources = self._sources(args, kwargs)
        signature = ", ".join(
            f"{name}: {'x'.join(map(str, spec.shape)) or 'scalar'}"
            for name, spec in special.inputs.items()
        )
        functions = ["forward", "value_and_grad"][: len(sources)]
        guards = []
        for function in functions:
            program, specs, returns = self._program(special, function)
            ieee = f"_{function}_ieee"
            sources.append(
                codegen.specialised_source(
                    program, specs, function, returns=returns, ieee=True, name=ieee
                ).source
            )
            guards.append(f"{function} = _guarded({function}, {ieee})")
        body = "\n\n".join(sources) + "\n\n" + "\n".join(guards)
        parts = [
            '"""Generated by exprgrad; needs nothing but the standard library."""',
            "",
            header(self.formula).rstrip(),
            f"# for inputs of shapes {signature}",
            "",
            "import math",
            "from operator import mul as _mul",
            "",
            f"_INPUTS = {self.inputs!r}",
            "",
            "",
        ]
        for name in [n for n in PYTHON_HELPERS if n in body] + codegen.used_helpers(body):
            helper = PYTHON_HELPERS.get(name) or HELPERS[name]
            parts += [inspect.getsource(helper).rstrip(), "", ""]
        parts.append(body.rstrip())
        return "\n".join(parts) + "\n"

    def __repr__(self) -> str:
        return f"exprgrad.compile({self.formula!r}, backend='lists')"

    def __reduce__(self):
        return (_rebuild, (self.formula, self.wrt, self.inputs, self._fold))


_MOST_LISTS = 10**8  # nested lists one value may take: beyond, the code would run for hours


def _check_lists(program: Program, specs: list) -> None:
    """A value whose nested lists no memory holds (reshape(x, 1e12, 0) of an empty x: no
    numbers, 10**12 empty lists) is a ShapeError at its op, not a call that never ends. The
    gradient's values have the forward values' shapes: checking these is enough."""
    for op, spec in zip(program.ops, specs, strict=True):
        lists, prefix = 0, 1
        for n in spec.shape[:-1]:
            prefix *= n
            lists += prefix
        if lists > _MOST_LISTS:
            raise ShapeError(
                f"as nested lists, shape {spec.shape} would take {lists:,} lists",
                program.source,
                op.span or Span(0, len(program.source)),
                hint="the numpy backend (backend='numpy') holds it as one array",
            )


def _refuse_unwritten(program: Program) -> None:
    """Convolution and pooling are the numpy backend's: a FormulaError at the op."""
    for op in program.ops:
        if op.prim in REFUSED:
            raise FormulaError(
                f"{quote(program.source, op)} needs the numpy backend",
                program.source,
                op.span,
                detail="the lists backend has no convolution or pooling: compile it with "
                "exprgrad.compile(..., backend='numpy')",
            )


def make_function(
    formula: str, programs: Programs, *, fold: bool, fold_forward: bool
) -> ListFunction:
    """The backend's entry (backends/__init__.py)."""
    return ListFunction(formula, programs, fold)


def _rebuild(formula: str, wrt: tuple, inputs: tuple, fold: bool) -> ListFunction:
    """What a pickled ListFunction loads as: the same formula, compiled again."""
    programs = pipeline.forward_and_gradient(
        formula, wrt, FOLD if fold else None, arrays=True, inputs=inputs
    )
    return ListFunction(formula, programs, fold)
