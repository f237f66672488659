"""Programs -> a CFunction: the formula as C, built once through cffi, called from Python.

compile(formula, backend="c") runs the same pipeline as the Python backend; each program
(the value, the value and gradient, a flat vector's) becomes C (codegen.py), built with
the system compiler and cached on disk (build.py). calls.py holds what calls the C:
a small generated Python function per program, and the vector and batch calls that hand
numpy arrays to C by address. Scalars only: an array formula is refused by the pipeline
(ARRAYS below) with a FormulaError that points to backend='numpy'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ...errors import MissingDependencyError

try:
    import numpy  # noqa: F401 (flat and batch take and return numpy arrays)
except ImportError:
    raise MissingDependencyError(
        "compile(..., backend='c') needs numpy: pip install 'exprgrad[c]'"
    ) from None

from ...core import pipeline
from ...core.ir import Program, dump
from ...core.pipeline import Programs
from ..python import vectors
from ..python.evaluate import FOLD  # constants fold as for the Python backend, bit for bit
from ..runtime import compile_options
from . import build, codegen, entries
from .calls import Built, flat_function, per_point, run_batch

ARRAYS = False  # the pipeline refuses array functions for this backend


def make_function(formula: str, programs: Programs, *, fold: bool, fold_forward: bool) -> CFunction:
    """The backend's entry (backends/__init__.py): a CFunction over the pipeline's programs."""
    return CFunction(formula, programs, fold, fold_forward)


def _rebuild(
    formula: str, wrt: tuple[str, ...], fold: bool, inputs: tuple[str, ...] | None = None
) -> CFunction:
    """What a pickled CFunction loads as: the same formula, compiled again (from the cache)."""
    programs = pipeline.forward_and_gradient(formula, wrt, FOLD if fold else None, inputs=inputs)
    return CFunction(formula, programs, fold, fold)


class CFunction:
    """A formula compiled to C (compile(..., backend="c")).

    f(*args, **kwargs) -> float: the value; positional arguments follow f.inputs.
    f.value_and_grad(...) -> (value, {input: d value / d input}) for each wrt input.
    f.grad(...) -> the gradient dict alone.
    f.flat(names, **fixed) -> fun(x) -> (value, gradient), numpy vectors in and out.
    f.batch(**columns) -> (values, {input: gradients}) at many points in one C loop.
    f.inputs, f.wrt, f.formula as for the Python backend; f.source: the generated C;
    f.batch_source: the batch's C (built by the first f.batch call, None before);
    f.c_source(): a standalone C file for embedding.
    """

    def __init__(self, formula: str, programs: Programs, fold: bool, fold_forward: bool):
        self.formula = formula
        self._fold = fold
        self._fold_forward = fold_forward
        self.lowered_program = programs.lowered
        self.inputs: tuple[str, ...] = programs.forward.inputs
        self.wrt: tuple[str, ...] = tuple(programs.full.grads)
        self.forward_program = programs.forward
        self.program = programs.full
        # the value and the value and gradient: one C file, built (or loaded) at once
        built, self.source = self._build(
            {"forward": programs.forward, "value_and_grad": self.program}
        )
        self.callers: dict[str, str] = {}  # generated Python that calls the C, by function
        self.forward = self._per_point("forward", built["forward"], gradient=False)
        self.value_and_grad = self._per_point("value_and_grad", built["value_and_grad"])
        self.value_and_grad.__doc__ = "(value, {input: gradient}) at the given point."
        self._batch: Built | None = None  # built by the first f.batch call
        self.batch_source: str | None = None
        self._flat: dict[tuple[str, ...], tuple[Built, str]] = {}  # flat's, by names
        # Python looks __call__ up on the class, so each CFunction gets a class of its own
        # whose __call__ is the generated forward caller itself: f(...) costs no extra call.
        self.__class__ = type(
            "CFunction",
            (CFunction,),
            {"__call__": staticmethod(self.forward), "__module__": CFunction.__module__},
        )

    def _build(
        self, programs: dict[str, Program], batch: bool = False
    ) -> tuple[dict[str, Built], str]:
        """The programs as one C file (a function each, under its name), built; with batch,
        each with its NAME_batch too."""
        functions = [
            entries.function_source(program, name, batch) for name, program in programs.items()
        ]
        source = codegen.module(self.formula, functions)
        ffi, library = build.build(source, list(programs), batch)
        built = {
            name: Built(self.formula, program, library, ffi, name)
            for name, program in programs.items()
        }
        return built, source

    def _per_point(self, name: str, built: Built, gradient: bool = True) -> Callable:
        call, self.callers[name] = per_point(self, name, built, gradient)
        return call

    def __call__(self, /, *args: float, **kwargs: float) -> float:
        # Each instance's class overrides this with forward itself (see __init__).
        return self.forward(*args, **kwargs)

    def grad(self, /, *args: float, **kwargs: float) -> dict[str, float]:
        """{input: d value / d input} at the given point."""
        return self.value_and_grad(*args, **kwargs)[1]

    def c_source(self) -> str:
        """A standalone C99 file, exprgrad_value_and_grad(in, grad) -> the value, needing only
        <math.h> (cc -std=c99 -c), for embedding; its header comment gives the input order."""
        return codegen.module_source(self.program)

    @property
    def ir(self) -> str:
        return dump(self.program)

    def flat(self, names: Iterable[str] | str | None = None, /, **fixed: float) -> Callable:
        """fun(x) -> (value, gradient) over one vector x of the inputs in `names`, in that
        order (default f.wrt less the fixed ones), the other inputs fixed by keyword, as
        the Python backend's flat() (scipy.optimize.minimize(fun, x0, jac=True) takes it).
        x is a numpy array (or a list, tuple): C reads a contiguous float64 array where it
        lies, and other arrays are converted once; the gradient is a new numpy array (a
        list for a list or tuple, as in the Python backend)."""
        names, others, values = vectors.flat_inputs(self.inputs, self.wrt, names, fixed)
        found = self._flat.get(names)
        if found is None:  # the gradient over `names`, the vector's inputs first
            fold = FOLD if self._fold else None
            program = vectors.flat_program(self.forward_program, names, others, fold)
            built, source = self._build({"flat": program})
            found = self._flat[names] = (built["flat"], source)
        fun = flat_function(found[0], names, values)
        fun.names = names
        fun.source = found[1]
        fun.__doc__ = f"(value, gradient) at the vector of {', '.join(names[:6])}."
        return fun

    def batch(self, /, **columns: Any) -> tuple[Any, dict[str, Any]]:
        """The value and gradient at many points in one C loop: each input a 1-D array of
        points (all of one length) or a number shared by every point. Returns (values
        array, {wrt input: array of gradients}); batch(sum=True, ...) returns their sums
        instead, (value, {input: float}), added in point order (a loss over data). In a
        formula with an input called `sum`, sum= is that column."""
        total = False if "sum" in self.inputs else bool(columns.pop("sum", False))
        if self._batch is None:  # its C is built now (f.batch_source shows it)
            built, self.batch_source = self._build({"value_and_grad": self.program}, batch=True)
            self._batch = built["value_and_grad"]
        return run_batch(self._batch, self.wrt, columns, total)

    def __reduce__(self):
        # Built code does not pickle; the formula does, and builds again from the cache.
        named = self.inputs if self.inputs != self.lowered_program.inputs else None
        return (_rebuild, (self.formula, self.wrt, self._fold, named))

    def __repr__(self) -> str:
        return f"exprgrad.compile({self.formula!r}{compile_options(self)}, backend='c')"
