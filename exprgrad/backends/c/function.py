"""Programs -> a CFunction: the formula as C, built once through cffi, called from Python.

compile(formula, backend="c") runs the same pipeline as the Python backend; each program
(the value, the value and gradient, a flat vector's) becomes C (codegen.py), built with
the system compiler and cached on disk (build.py). calls.py holds what calls the C:
a small generated Python function per program, and the vector and batch calls that hand
numpy arrays to C by address. Scalars only: an array formula is refused by the pipeline
(ARRAYS below) with a FormulaError that points to backend='numpy'.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import replace
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
from . import build, codegen
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
        self._built: dict[str, Built] = {}  # C function name -> its program, built
        self.c_sources: dict[str, str] = {}  # C function name -> its generated C
        self.callers: dict[str, str] = {}  # C function name -> the Python that calls it
        self.value_and_grad = self._per_point("value_and_grad", self.program)
        self.value_and_grad.__doc__ = "(value, {input: gradient}) at the given point."
        # As in the Python backend: each CFunction gets a class of its own, whose __call__
        # becomes the generated forward caller itself, built on the first call.
        this = weakref.ref(self)

        def first_call(*args, **kwargs):
            return this().forward(*args, **kwargs)

        self.__class__ = type(
            "CFunction",
            (CFunction,),
            {"__call__": staticmethod(first_call), "__module__": CFunction.__module__},
        )

    def _build(self, name: str, program: Program) -> Built:
        """The program as the C function `name` (and name_batch), built once."""
        built = self._built.get(name)
        if built is None:
            source = codegen.function_source(program, name).source
            library, ffi = build.build(source, [name, f"{name}_batch"])
            built = self._built[name] = Built(self.formula, program, library, ffi, name)
            self.c_sources[name] = source
        return built

    def _per_point(self, name: str, program: Program) -> Callable:
        call, self.callers[name] = per_point(self, name, self._build(name, program))
        return call

    @property
    def forward(self) -> Callable[..., float]:
        """The caller of the value's C function behind f(...), built on first use."""
        built = self.__dict__.get("_forward")
        if built is None:
            built = self.__dict__["_forward"] = self._per_point("forward", self.forward_program)
            type(self).__call__ = staticmethod(built)
        return built

    def __call__(self, /, *args: float, **kwargs: float) -> float:
        # Each instance's class overrides this with forward itself (see __init__).
        return self.forward(*args, **kwargs)

    def grad(self, /, *args: float, **kwargs: float) -> dict[str, float]:
        """{input: d value / d input} at the given point."""
        return self.value_and_grad(*args, **kwargs)[1]

    @property
    def source(self) -> str:
        """The generated C of the value and of the value and gradient."""
        self.forward  # noqa: B018 (built on first use)
        return self.c_sources["forward"] + "\n" + self.c_sources["value_and_grad"]

    def c_source(self) -> str:
        """A standalone C99 file computing the value and gradient, needing only <math.h>,
        for embedding: its header comment documents the function and its input order."""
        return codegen.function_source(self.program, "formula", standalone=True).source

    @property
    def ir(self) -> str:
        return dump(self.program)

    def flat(self, names: Iterable[str] | str | None = None, /, **fixed: float) -> Callable:
        """fun(x) -> (value, gradient) over one vector x of the inputs in `names`, in that
        order (default f.wrt less the fixed ones), the other inputs fixed by keyword, as
        the Python backend's flat() (scipy.optimize.minimize(fun, x0, jac=True) takes it).
        x is a numpy array (or a list, tuple): C reads a contiguous float64 array where it
        lies, and other arrays are converted once; the gradient is a new numpy array."""
        if names is None and "names" in fixed and "names" not in self.inputs:
            names = fixed.pop("names")
        if names is None:
            names = tuple(name for name in self.wrt if name not in fixed)
        else:
            names = vectors.parse_names(names, "names")
        others, values = vectors.split_inputs(self.inputs, names, fixed, "names")
        key = "flat_" + str(len(self.__dict__.setdefault("_flat_names", {})))
        key = self.__dict__["_flat_names"].setdefault(names, key)
        gradient = pipeline.gradient(self.forward_program, names, FOLD if self._fold else None)
        built = self._build(key, replace(gradient, inputs=names + others))
        fun = flat_function(built, names, values)
        fun.names = names
        fun.source = self.c_sources[key]
        fun.__doc__ = f"(value, gradient) at the vector of {', '.join(names[:6])}."
        return fun

    def batch(self, /, **columns: Any) -> tuple[Any, dict[str, Any]]:
        """The value and gradient at many points in one C loop: each input a 1-D array of
        points (all of one length) or a number shared by every point. Returns (values
        array, {wrt input: array of gradients}); batch(sum=True, ...) returns their sums
        instead, (value, {input: float}), added in point order (a loss over data). In a
        formula with an input called `sum`, sum= is that column."""
        total = False if "sum" in self.inputs else bool(columns.pop("sum", False))
        return run_batch(self._build("value_and_grad", self.program), self.wrt, columns, total)

    def __reduce__(self):
        # Built code does not pickle; the formula does, and builds again from the cache.
        named = self.inputs if self.inputs != self.lowered_program.inputs else None
        return (_rebuild, (self.formula, self.wrt, self._fold, named))

    def __repr__(self) -> str:
        options = "" if self.wrt == self.inputs else f", wrt={list(self.wrt)!r}"
        if self.inputs != self.lowered_program.inputs:
            options += f", inputs={list(self.inputs)!r}"
        if not self._fold:
            options += ", optimize=False"
        return f"exprgrad.compile({self.formula!r}{options}, backend='c')"
