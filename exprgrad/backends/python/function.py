"""Programs -> a Function: the Python backend's generated code, called directly.

f.value_and_grad *is* the generated function and f(...) the generated forward(), so
no wrapper sits between the caller and the code. Programs derived later (the trace,
Hessians, jvp, hvp, flat vectors) come from the same pipeline (core/pipeline.py) and
run in the same Runtime (runtime.py).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...core import pipeline
from ...core.forward import hessian_program, hvp_program, jvp_program
from ...core.ir import INPUT, Program, dump
from ...core.pipeline import Programs
from ...core.tracing import Trace, make_trace, trace_rows
from ..emit import header
from ..lists.convert import is_array
from ..lists.function import ListFunction
from ..runtime import compile_options
from . import codegen, vectors
from .evaluate import FOLD
from .runtime import Runtime
from .sweep import sweepable

if TYPE_CHECKING:
    from ...tools.check import CheckReport, ComponentCheck

# Arrays where the formula needs them: a formula calling an array function (@, sum(X, 0),
# softmax) computes on nested lists (backends/lists/), any other is a scalar Function.
ARRAYS = None


def _has_arrays(args: tuple, kwargs: dict) -> bool:
    """Is a list (tuple, array) among the arguments? Then the array code computes."""
    return any(map(is_array, args)) or any(map(is_array, kwargs.values()))


def make_function(
    formula: str, programs: Programs, *, fold: bool, fold_forward: bool
) -> Function | ListFunction:
    """The backend's entry (backends/__init__.py): a Function over the pipeline's programs,
    or a ListFunction when they compute with arrays."""
    if programs.arrays:
        return ListFunction(formula, programs, fold)
    return Function(formula, programs, fold, fold_forward)


def compile_unfolded(formula: str, lowered: Program | None = None) -> Function:
    """The Function of a formula whose forward program stays exactly as written (one line
    for every operation, as exprgrad.gates needs), with only the gradient folded.
    lowered: the program lower(parse(formula)) makes, where the caller built it itself
    (exprgrad.gates builds a circuit's from its gates): the formula is not parsed."""
    if lowered is None:
        return _rebuild(formula, None, True, False)
    programs = pipeline.from_lowered(lowered, FOLD, fold_forward=False, with_gradient=False)
    return Function(formula, programs, True, False)


def _rebuild(
    formula: str,
    wrt: tuple[str, ...] | None,
    fold: bool,
    fold_forward: bool,
    inputs: tuple[str, ...] | None = None,
) -> Function:
    """What a pickled Function loads as: the same formula, compiled again."""
    # exprgrad.gates' circuits (compile_unfolded) need only the trace: the gradient program
    # over every input is made when something asks for it (Function.program)
    later = not fold_forward and wrt is None
    programs = pipeline.forward_and_gradient(
        formula,
        wrt,
        FOLD if fold else None,
        fold_forward=fold_forward,
        inputs=inputs,
        with_gradient=False if later else gradient_now,
    )
    return Function(formula, programs, fold, fold_forward)


def gradient_now(forward: Program) -> bool:
    """compile()'s question to the backend: make the gradient program now? Not for a long
    forward program that sweep.py can differentiate on numbers: its first gradients are
    swept, and the gradient program is made when its code is compiled (or asked for).
    (A formula of arrays computes on nested lists, ListFunction: it makes it now.)"""
    return pipeline.needs_arrays(forward) or not sweepable(forward)


class Function:
    """A compiled formula.

    f(*args, **kwargs) -> float: the value; positional arguments follow f.inputs.
    f.forward: the generated function behind f(...).
    f.value_and_grad(...) -> (value, {input: d value / d input}) for each wrt input.
    f.grad(...) -> the gradient dict alone.
    f.inputs: the formula's free names, in order of first appearance, or as
        compile(..., inputs=[...]) named them.
    f.wrt: the inputs the gradient covers.
    f.source: the generated Python source of forward() and value_and_grad().
    f.ir: the optimized gradient program as text.
    """

    def __init__(self, formula: str, programs: Programs, fold: bool, fold_forward: bool):
        self.formula = formula
        self._fold = fold  # fold the gradient ops of programs made later (the trace)
        self._fold_forward = fold_forward  # compile_unfolded leaves the forward as written
        self.lowered_program = programs.lowered  # before folding: exact constants, for sympy
        self.inputs: tuple[str, ...] = programs.forward.inputs
        # no gradient program made yet (Programs.full None): it will be over every input
        made = programs.full
        if programs.wrt is not None:
            self.wrt: tuple[str, ...] = programs.wrt
        else:
            self.wrt = self.inputs if made is None else tuple(made.grads)
        self.forward_program = programs.forward
        self._program = made
        self._runtime = Runtime(formula, self.inputs)
        this = weakref.ref(self)
        self._runtime.with_arrays = lambda *call: this()._with_arrays(*call)
        # Python looks __call__ up on the class, so each Function gets a class of its own,
        # whose __call__ becomes the generated forward() itself: f(...) then costs no
        # extra call. forward() is compiled on the first call (training needs only
        # value_and_grad, and Python's compiler is a third of compile() for big formulas),
        # and value_and_grad on its first use (__getattr__).
        this = weakref.ref(self)

        def first_call(*args, **kwargs):
            return this().forward(*args, **kwargs)

        self.__class__ = type(
            "Function",
            (Function,),
            {"__call__": staticmethod(first_call), "__module__": Function.__module__},
        )

    def __getattr__(self, name: str) -> Any:
        # value_and_grad is compiled on first use, like forward(): a circuit of gates needs
        # only the trace. Then it is an attribute of the instance, found without this call.
        if name != "value_and_grad" or "_runtime" not in self.__dict__:
            raise AttributeError(name)
        if self._program is None and sweepable(self.forward_program):
            this = weakref.ref(self)  # (no cycle through the call: the Function goes freely)
            gradient = lambda: this().program  # noqa: E731 (made when the code is compiled)
            built = self._runtime.build_swept(name, self.forward_program, self.wrt, gradient)
        else:
            built = self._runtime.build(name, self.program)
        self.__dict__["value_and_grad"] = built
        built.__doc__ = "(value, {input: gradient}) at the given point."
        return built

    @property
    def program(self) -> Program:
        """The gradient program (value and gradient over wrt), made on first use if the
        pipeline left it out (Programs.full None)."""
        made = self._program
        if made is None:
            made = self._program = pipeline.gradient(
                self.forward_program, self.wrt, self._fold_with
            )
        return made

    @property
    def _fold_with(self) -> Callable | None:
        """The fold of the programs made later: the one the gradient was made with."""
        return FOLD if self._fold else None

    @property
    def forward(self) -> Callable[..., float]:
        """The generated function behind f(...), compiled on first use."""
        built = self.__dict__.get("_forward")
        if built is None:
            built = self.__dict__["_forward"] = self._runtime.build("forward", self.forward_program)
            type(self).__call__ = staticmethod(built)
        return built

    def _trace_function(self) -> tuple[Callable, list[int], int]:
        """The generated trace(...) -> (value, row values, row adjoints), its rows (the
        inputs, then every line but comparisons), and how many of them are inputs."""
        built = self.__dict__.get("_trace")
        if built is None:
            forward, fold = self.forward_program, self._fold_with
            rows = trace_rows(forward)
            count = sum(forward.ops[i].prim == INPUT for i in rows)

            @functools.cache
            def program() -> Program:
                return pipeline.gradient(forward, forward.inputs, fold, every_adjoint=True)

            if sweepable(forward):
                inputs = forward.inputs
                function = self._runtime.build_swept("trace", forward, inputs, program, rows)
            else:
                function = self._runtime.build("trace", program(), rows)
            built = self.__dict__["_trace"] = (function, rows, count)
        return built

    def trace(self, /, *args: float, **kwargs: float) -> Trace:
        """The value and the gradient (adjoint) of every line at the given point, as
        a Trace: the forward/backward table of Karpathy's guide (print it)."""
        function, rows, _ = self._trace_function()
        if _has_arrays(args, kwargs):  # the array code's Trace
            return self._lists().trace(*args, **kwargs)
        value, values, adjoints = function(*args, **kwargs)
        names = self._runtime.text("value_and_grad", self.program).names
        return make_trace(self.formula, self.forward_program, names, rows, value, values, adjoints)

    def graph(self, /, *args: float, **kwargs: float) -> Any:
        """The formula's operations as an exprgrad.graph.Graph: .dot() is Graphviz text,
        .svg() a picture. At a point (arguments as for f(...)) every node shows its value
        and gradient; Graph(f, point, gradient=True) shows the gradient program too."""
        from ...tools.graph import Graph, call_point

        return Graph(self, call_point(self.inputs, args, kwargs))

    def unfolded(self) -> Function:
        """This formula compiled with its forward program exactly as written (no constant
        folding), so a trace has a row for every operation; Graph uses it."""
        return compile_unfolded(self.formula)

    def _repr_latex_(self) -> str | None:
        from ...tools.display import latex_repr

        return latex_repr(self)

    def _repr_html_(self) -> str:
        from ...tools.display import html_repr

        return html_repr(self)

    @property
    def source(self) -> str:
        """The generated Python source of forward() and value_and_grad()."""
        forward = self._runtime.text("forward", self.forward_program).source
        both = forward + "\n\n" + self._runtime.text("value_and_grad", self.program).source
        return header(self.formula) + "\n" + both

    def __call__(self, /, *args: float, **kwargs: float) -> float:
        # Each instance's class overrides this with forward itself (see __init__).
        return self.forward(*args, **kwargs)

    def grad(self, /, *args: float, **kwargs: float) -> dict[str, float]:
        """{input: d value / d input} at the given point."""
        return self.value_and_grad(*args, **kwargs)[1]

    @property
    def ir(self) -> str:
        return dump(self.program)

    def to_sympy(self) -> Any:
        """The formula's value as a sympy expression over real symbols."""
        from ...tools.check import to_sympy

        return to_sympy(self.lowered_program, [self.lowered_program.value])[0]

    def check(
        self,
        seed: int = 0,
        time_limit: float = 20.0,
        on_component: Callable[[ComponentCheck], None] | None = None,
    ) -> CheckReport:
        """Confirm every gradient component against sympy.diff of the formula.

        Symbolically (simplify(generated - diff) == 0) where that is cheap and
        decisive, otherwise numerically: the compiled gradient against sympy.diff
        evaluated to 30 digits, at points of the formula's domain on every side of
        every kink and where. Each component is "symbolic", "numeric", "failed" or
        "undecided" (time_limit seconds spent, no point in the domain, or a formula
        sympy cannot take); report.ok only if all are confirmed. on_component is
        called with each component's result as soon as it is decided.
        """
        from ...tools.check import check

        return check(
            self.lowered_program,
            self.program,
            self.value_and_grad,
            seed=seed,
            time_limit=time_limit,
            on_component=on_component,
        )

    def latex(self) -> str:
        """The formula and its partial derivatives as LaTeX.

        Raises SymbolicError (a ValueError) for a formula sympy cannot take: nested too
        deeply for its recursion, or undefined everywhere (relu(log(0))).
        """
        from ...tools.check import latex

        return latex(self.lowered_program, list(self.wrt))

    def module_source(self, /, *args: Any, **kwargs: Any) -> str:
        """A standalone Python module computing the same, needing only `math`. Given
        arguments with lists among them, the module of the array code for their shapes
        (ListFunction.module_source)."""
        if _has_arrays(args, kwargs):
            return self._lists().module_source(*args, **kwargs)
        return codegen.module_source(self.forward_program, self.program)

    def source_for(self, /, *args: Any, **kwargs: Any) -> str:
        """The generated source these arguments run: f.source for numbers, the array code
        for their shapes where lists are among them (ListFunction.source_for)."""
        if _has_arrays(args, kwargs):
            return self._lists().source_for(*args, **kwargs)
        return self.source

    def vjp(self, /, cotangent: Any, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """(value, {input: the gradient of sum(cotangent * value)}), for a value of any
        shape: the formula on nested lists (numbers are arrays of shape ()), as
        ListFunction.vjp."""
        return self._lists().vjp(cotangent, *args, **kwargs)

    def _lists(self) -> ListFunction:
        """The formula compiled for arrays of nested lists, made on the first call with one."""
        built = self.__dict__.get("_list_function")
        if built is None:
            programs = pipeline.forward_and_gradient(
                self.formula, self.wrt, self._fold_with, arrays=True, inputs=self.inputs
            )
            built = ListFunction(self.formula, programs, self._fold)
            self.__dict__["_list_function"] = built
        return built

    def _with_arrays(self, function: str, names: tuple, args: tuple) -> Any:
        """A call of forward or value_and_grad with a list among its arguments: the same
        call on the array code (the scalar code's _retry hands it here); None for other
        functions (a Hessian's, a flat vector's: numbers only)."""
        if names != self.inputs or function not in ("forward", "value_and_grad"):
            return None
        lists = self._lists()
        return lists(*args) if function == "forward" else lists.value_and_grad(*args)

    def __reduce__(self):
        # Generated code does not pickle; the formula does, and compiles to the same bytes.
        named = self.inputs if self.inputs != self.lowered_program.inputs else None
        return (_rebuild, (self.formula, self.wrt, self._fold, self._fold_forward, named))

    def __repr__(self) -> str:
        if self._fold and not self._fold_forward:  # exprgrad.gates' circuits
            return f"exprgrad.function.compile_unfolded({self.formula!r})"
        return f"exprgrad.compile({self.formula!r}{compile_options(self)})"

    # --- higher order and vectors (core/forward.py, vectors.py) ---------------------------

    def _higher(self, key: str, make: Callable[[Callable | None], Program]) -> Program:
        """A derived program (Hessian, jvp, hvp), made once, folded like the gradient."""
        program = self.__dict__.get(key)
        if program is None:
            what = f"its {key.strip('_')} program"
            program = self.__dict__[key] = pipeline.derive(make, self._fold_with, what)
        return program

    def _hessian_program(self) -> Program:
        def make(fold: Callable | None) -> Program:
            return hessian_program(self.program, self.wrt, fold, pipeline.derived_limit())

        return self._higher("_hessian", make)

    def hessian(self, /, *args: float, **kwargs: float) -> list[list[float]]:
        """The matrix of second derivatives d2 value / d wrt[i] d wrt[j] at the point (taken
        as f(...) takes it), rows and columns in f.wrt order, as lists of floats. f.wrt
        follows f.inputs unless compile(..., wrt=[...]) named another order, and f.inputs
        is the order of first appearance unless compile(..., inputs=[...]) named it
        ("100*(x1 - x0**2)**2 + ..." starts with x1). f.flat_hess() takes a vector.

        Forward mode over the gradient program, compiled on first use into generated code
        (f.hessian_source); each entry below the diagonal is the same line as its mirror.
        """
        built = self.__dict__.get("_hessian_function")
        if built is None:
            built = self._runtime.build("hessian", self._hessian_program())
            self.__dict__["_hessian_function"] = built
        return built(*args, **kwargs)

    @property
    def hessian_source(self) -> str:
        """The generated Python source of hessian()."""
        source = self._runtime.text("hessian", self._hessian_program()).source
        return header(self.formula) + "\n" + source

    def jvp(self, tangents: Any, /, *args: float, **kwargs: float) -> tuple[float, float]:
        """(value, directional derivative) at the point, by forward mode.

        tangents: {wrt name: number} (a missing name counts as 0) or a sequence of
        len(f.wrt) numbers in f.wrt order. The point follows, as f(...) takes it.
        """
        direction = vectors.tangent_values(tangents, self.wrt)
        return self._directional(
            "jvp",
            lambda fold: jvp_program(self.forward_program, self.wrt, fold),
            direction,
            args,
            kwargs,
        )

    def hvp(self, v: Any, /, *args: float, **kwargs: float) -> dict[str, float]:
        """The Hessian-vector product {wrt name: (H v)[name]} at the point: forward mode
        over the gradient program (the jvp of the gradient), one pass whatever len(wrt).

        v: {wrt name: number} (a missing name counts as 0) or a sequence in f.wrt order.
        """
        direction = vectors.tangent_values(v, self.wrt, "v")
        return self._directional(
            "hvp",
            lambda fold: hvp_program(self.program, self.wrt, fold),
            direction,
            args,
            kwargs,
        )

    def _directional(
        self, key: str, make: Callable, direction: list, args: tuple, kwargs: dict
    ) -> Any:
        """jvp() and hvp(): the derived program's function (made on first use), called at
        the point with the direction's values after the point's."""
        built = self.__dict__.get(f"_{key}_function")
        if built is None:
            program = self._higher(f"_{key}", make)
            built = self._runtime.build_apart(key, key, program)
            self.__dict__[f"_{key}_function"] = built
        return built(*self._runtime.point(args, kwargs, key), *direction)

    def flat(self, names: Iterable[str] | str | None = None, /, **fixed: float) -> Callable:
        """fun(x) -> (value, gradient) over one vector x of the inputs in `names`, in that
        order (default f.wrt less the fixed ones: f.inputs order, which is the order of
        first appearance unless compile(..., inputs=[...]) named it), the other inputs
        fixed by keyword, so that scipy.optimize.minimize(fun, x0, jac=True) takes it as
        it is. x is a list, tuple or numpy array; the gradient comes back as a list for a
        list or tuple, as a numpy array for anything else (a list without numpy).
        fun.names: the vector's order. An input called `names` can be fixed by keyword;
        otherwise names=... is the vector's names.

        fun is the generated code itself (fun.source): it unpacks a list or tuple of floats
        where it stands and reads the fixed inputs from its closure, so a call costs the
        arithmetic alone; a numpy vector is converted to a list once.
        """
        names, others, values = self._flat_inputs(names, fixed)
        key = f"flat {','.join(names)}"
        built = self._flat_built(key, "flat", names, others, lambda program, fold: program)
        if hasattr(built, "tiered"):  # a long program: on a tape first, code in pieces later
            source = lambda: header(self.formula) + "\n" + built.text().source  # noqa: E731
            return vectors.LongFlat(built, names, values, source)
        source = header(self.formula) + "\n" + self._runtime.generated[key].source
        return vectors.described(built(*values) if others else built, names, source)

    def flat_hess(self, names: Iterable[str] | str | None = None, /, **fixed: float) -> Callable:
        """hess(x) -> the Hessian matrix at the vector x, rows and columns in the vector's
        order: names and fixed inputs as for flat() (same defaults), so that
        scipy.optimize.minimize(f.flat(), x0, jac=True, hess=f.flat_hess(),
        method="trust-exact") takes it. A numpy array (lists without numpy)."""
        names, others, values = self._flat_inputs(names, fixed)
        key = f"flat_hess {','.join(names)}"

        def make(program: Program, fold: Callable | None) -> Program:
            return hessian_program(program, names, fold, pipeline.derived_limit())

        built = self._flat_built(key, "hessian", names, others, make)
        source = header(self.formula) + "\n" + self._runtime.generated[key].source
        return vectors.flat_matrix_function(built, names, values, source)

    def flat_hessp(self, names: Iterable[str] | str | None = None, /, **fixed: float) -> Callable:
        """hessp(x, p) -> the Hessian at the vector x times the vector p (one forward pass
        over the gradient, whatever the size): names and fixed inputs as for flat(), so
        scipy.optimize.minimize(f.flat(), x0, jac=True, hessp=f.flat_hessp(),
        method="Newton-CG") takes it. A numpy array (a list without numpy)."""
        names, others, values = self._flat_inputs(names, fixed)
        key = f"flat_hessp {','.join(names)}"

        def make(program: Program, fold: Callable | None) -> Program:
            return hvp_program(program, names, fold)

        built = self._flat_built(key, "hessp", names, others, make)
        source = header(self.formula) + "\n" + self._runtime.generated[key].source
        return vectors.flat_product_function(built, names, values, source)

    def _flat_inputs(self, names: Any, fixed: dict) -> tuple[tuple[str, ...], tuple, list]:
        """flat()'s arguments: the vector's names, the other inputs, their fixed values."""
        return vectors.flat_inputs(self.inputs, self.wrt, names, fixed)

    def _flat_built(
        self, key: str, function: str, names: tuple, others: tuple, make: Callable
    ) -> Callable:
        """The generated function over (vector, fixed inputs) of the program make() derives
        from the gradient over `names` (flat: that gradient itself); made once per kind and
        list of names."""
        cache = self.__dict__.setdefault("_flat_functions", {})
        built = cache.get(key)
        forward, fold = self.forward_program, self._fold_with
        if built is None and function == "flat" and sweepable(forward):
            ordered = replace(forward, inputs=names + others)

            @functools.cache
            def made() -> Program:
                return vectors.flat_program(forward, names, others, fold)

            built = self._runtime.build_apart_swept(key, ordered, names, made, others, len(names))
            cache[key] = built
        if built is None:
            gradient = vectors.flat_program(self.forward_program, names, others, self._fold_with)
            program = gradient
            if function != "flat":
                derived = lambda fold: make(gradient, fold)  # noqa: E731
                program = pipeline.derive(derived, self._fold_with, f"its {function} program")
            vector = len(names) if function == "flat" else 0  # fun(x) is the code itself
            built = self._runtime.build_apart(key, function, program, others, vector)
            cache[key] = built
        return built
