"""compile(): the whole pipeline in one place, and the Function it returns.

    text --parse--> syntax --lower--> IR --optimize--> IR --differentiate--> IR
         --optimize--> IR --codegen--> Python source --compile/exec--> functions

Generated functions are called directly: f.value_and_grad *is* the
generated function, so no wrapper sits between the caller and the code.
"""

from __future__ import annotations

import builtins
import gc
import hashlib
import itertools
import linecache
import sys
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ...core.ir import CONST, INPUT, Op, Program, dump
from ...core.lower import lower
from ...core.optimize import eliminate_dead_code, simplify
from ...core.optimize import optimize as optimize_program
from ...core.parsing import parse
from ...core.primitives import BY_NAME
from ...core.regions import untangle
from ...core.reverse import differentiate
from ...core.syntax import Assign
from ...core.tracing import Trace, make_trace, trace_rows
from ...errors import ArgumentError, ArgumentValueError, EvaluationError, FormulaError, Span
from ...tools import symbolic
from . import codegen
from .helpers import _float_arguments, runtime_namespace

_MATH_ERRORS = (ArithmeticError, ValueError)  # math domain errors, overflow, division by zero

# The most operations and inputs a generated function may hold: each is a line of Python
# (an input may need a type check), and Python's own compiler needs about 5 KB a line,
# so a program at this limit peaks under 1 GB; beyond it, a FormulaError.
MAX_OPERATIONS = 150_000


def derived_limit() -> int:
    """What forward mode may build before it stops early (forward.TooLarge): dead tangents
    included, its builder holds about twice what stays after dead-code elimination.
    Read at each call, so it follows MAX_OPERATIONS."""
    return 3 * MAX_OPERATIONS


def compile(  # noqa: A001 (exprgrad.compile is the API)
    formula: str,
    wrt: Iterable[str] | str | None = None,
    *,
    inputs: Iterable[str] | str | None = None,
    optimize: bool = True,
    backend: str = "python",
) -> Function:
    """Compile a formula into a Function computing its value and gradient.

    formula: statements separated by newlines or ';'; the last one is the value.
    wrt: the inputs to differentiate with respect to (a list, or a comma-separated
        string); default all, in f.inputs order. The backward code does no work for the
        others.
    inputs: every input of the formula, each once, in the order positional arguments,
        f.inputs, and so the default wrt, flat vectors and Hessian rows take them (as
        lambdify's argument list). Default: order of first appearance in the formula,
        so "100*(x1 - x0**2)**2 + (1 - x0)**2" has inputs ('x1', 'x0').
    optimize: fold constants and drop dead code (default). False keeps the program as
        written and differentiated: the same values bit for bit, and the same gradients
        but for the sign of a zero (README, "How it works").
    backend: "python" (scalars, code that needs only math) or "numpy" (arrays: the code
        is specialised on the first call with each signature of shapes and dtypes;
        returns an exprgrad.arrays.ArrayFunction).

    Raises FormulaError (a ValueError) for any bad formula or wrt name.
    A sympy expression in place of the text is written as formula text first
    (exprgrad.from_sympy), so f.formula is that text.
    """
    if not isinstance(formula, str) and _is_sympy(formula):
        from ...frontends.sympy import formula_text  # a front end: text the parser reads

        formula = formula_text(formula)
    if backend not in ("python", "numpy"):
        raise ArgumentValueError(f"backend must be 'python' or 'numpy', not {backend!r}")
    return _pipeline(
        formula,
        wrt,
        fold_forward=optimize,
        fold_gradient=optimize,
        arrays=backend == "numpy",
        inputs=inputs,
    )


def _is_sympy(formula: Any) -> bool:
    """Is it a sympy object? (Without importing sympy: if it isn't imported, it is not.
    The class of sympy.Function("f")(x) is made on the fly, its __module__ None.)"""
    sympy = sys.modules.get("sympy")
    return sympy is not None and isinstance(formula, sympy.Basic)


def _rebuild(
    formula: str,
    wrt: tuple[str, ...],
    fold: bool,
    fold_forward: bool,
    inputs: tuple[str, ...] | None = None,
) -> Function:
    return _pipeline(formula, wrt, fold_forward=fold_forward, fold_gradient=fold, inputs=inputs)


def compile_unfolded(formula: str) -> Function:
    """compile(), with the forward program left exactly as written (one line for every
    operation, as exprgrad.gates needs) and only the gradient folded."""
    return _pipeline(formula, None, fold_forward=False, fold_gradient=True)


def _pipeline(
    formula: str,
    wrt: Iterable[str] | str | None,
    *,
    fold_forward: bool,
    fold_gradient: bool,
    arrays: bool = False,
    inputs: Iterable[str] | str | None = None,
) -> Function:
    collecting = gc.isenabled()
    gc.disable()  # the IR has no reference cycles; collections only slow large formulas down
    try:
        tree = parse(formula)
        lowered = lower(tree)
        if not arrays:
            _scalars_only(lowered)
        forward = optimize_program(lowered) if fold_forward else eliminate_dead_code(lowered)
        forward = untangle(forward)  # rare: see regions.untangle
        if inputs is not None:  # the lowered program keeps the order of appearance
            forward = replace(forward, inputs=_resolve_inputs(forward, inputs, tree))
        check_size(forward, "the formula")
        wrt_names = _resolve_wrt(forward, wrt, tree)
        fold = simplify if fold_gradient else None  # reverse mode folds ops as it makes them
        full = eliminate_dead_code(differentiate(forward, wrt_names, fold, arrays=arrays))
        check_size(full, "its gradient program")
        if arrays:
            from ..numpy.function import ArrayFunction  # imports numpy: only the numpy backend does

            return ArrayFunction(formula, lowered, forward, full)
        return Function(formula, lowered, forward, full, fold_gradient, fold_forward)
    finally:
        if collecting:
            gc.enable()


def _scalars_only(program: Program) -> None:
    """The Python backend computes with numbers: a formula that needs arrays says where."""
    for op in program.ops:
        if op.prim not in (INPUT, CONST) and BY_NAME[op.prim].arrays:
            text = codegen.quote(program.source, op)
            raise FormulaError(
                f"{text} needs arrays",
                program.source,
                op.span,
                detail="compile it with exprgrad.compile(..., backend='numpy')",
            )


def check_size(program: Program, what: str) -> None:
    size = sum(op.prim != CONST for op in program.ops)
    if size > MAX_OPERATIONS:
        raise FormulaError(
            "formula too large",
            program.source,
            Span(0, len(program.source)),
            detail=f"{what} has {size:,} operations and inputs, over the limit of "
            f"{MAX_OPERATIONS:,} (exprgrad.function.MAX_OPERATIONS: each is a line of "
            "Python, and Python's compiler needs about 5 KB a line)",
        )


def _resolve_inputs(program: Program, inputs: Iterable[str] | str, tree) -> tuple[str, ...]:
    """compile(inputs=...): the formula's inputs, every one named once, in the caller's order."""
    names = [n.strip() for n in inputs.split(",")] if isinstance(inputs, str) else list(inputs)
    value_span = tree.statements[-1].span
    have = ", ".join(program.inputs) or "none"
    for name in names:
        if not isinstance(name, str):
            raise ArgumentError(f"inputs must be str, not {type(name).__name__}")
        if names.count(name) > 1:
            raise FormulaError(f"inputs lists '{name}' twice", tree.source, value_span)
        if name not in program.inputs:
            raise FormulaError(
                f"inputs lists '{name}', which is not an input of the formula (inputs: {have})",
                tree.source,
                value_span,
            )
    missing = [name for name in program.inputs if name not in names]
    if missing:
        raise FormulaError(
            f"inputs leaves out {', '.join(map(repr, missing))}: name every input of the "
            f"formula (inputs: {have})",
            tree.source,
            value_span,
        )
    return tuple(names)


def _resolve_wrt(program: Program, wrt: Iterable[str] | str | None, tree) -> tuple[str, ...]:
    if wrt is None:
        return program.inputs
    names = [w.strip() for w in wrt.split(",")] if isinstance(wrt, str) else list(wrt)
    # A wrt name has no place in the formula; errors point at what is differentiated.
    value_span = tree.statements[-1].span
    seen = set()
    for name in names:
        if not isinstance(name, str):
            raise ArgumentError(f"wrt names must be str, not {type(name).__name__}")
        if name in seen:
            raise FormulaError(f"wrt names '{name}' twice", tree.source, value_span)
        seen.add(name)
        if name in program.inputs:
            continue
        inputs = ", ".join(program.inputs) or "none"
        for statement in tree.statements:
            if isinstance(statement, Assign) and statement.target == name:
                raise FormulaError(
                    f"wrt names '{name}', which is assigned here, not an input (inputs: {inputs})",
                    tree.source,
                    statement.target_span,
                )
        raise FormulaError(
            f"wrt names '{name}', which is not an input of the formula (inputs: {inputs})",
            tree.source,
            value_span,
        )
    return tuple(names)


def _evaluation_error_maker(
    formula: str, line_ops: dict[str, dict[int, Op]]
) -> Callable[[BaseException], Exception]:
    """The handler generated code calls on a math error: names the failing op's place.
    line_ops: for each generated file, line number -> the op computed on that line."""

    def evaluation_error(error: BaseException) -> Exception:
        op = None
        traceback = error.__traceback__
        while traceback is not None:  # the innermost frame of generated code failed
            lines = line_ops.get(traceback.tb_frame.f_code.co_filename)
            if lines is not None:
                op = lines.get(traceback.tb_lineno)
            traceback = traceback.tb_next
        if op is None:
            return error
        if isinstance(error, ValueError):
            reason = BY_NAME[op.prim].domain or f"math domain error in {op.prim}"
        elif isinstance(error, ZeroDivisionError):
            reason = "division by zero"
        elif isinstance(error, OverflowError):
            reason = "overflow"
        else:
            reason = str(error)
        text = codegen.quote(formula, op)
        if op.in_gradient:
            message = f"{reason} in the gradient of {text}"
        elif isinstance(error, ValueError) and BY_NAME[op.prim].domain:
            message = reason
        else:
            message = f"{reason} in {text}"
        return EvaluationError(message, formula, op.span or Span(0, len(formula)))

    return evaluation_error


class _Missing:
    """The default of every generated parameter: a missing argument reaches _retry, which
    names it (and says f(**point) when a dict was passed instead)."""

    def __repr__(self) -> str:
        return "_MISSING"


_MISSING = _Missing()


def missing_message(function_name: str, names: tuple[str, ...], values: Sequence) -> str | None:
    """The message naming the arguments left _MISSING, as f() is missing argument(s) 'a'
    (and saying f(**point) when a dict came first), or None when none is."""
    missing = [name for name, value in zip(names, values, strict=True) if value is _MISSING]
    if not missing:
        return None
    message = f"{function_name}() is missing argument(s) {', '.join(repr(n) for n in missing)}"
    if isinstance(values[0], Mapping):
        message += "; to pass a dict of inputs, call it with f(**point)"
    return message


def _retry_maker(function_name: str) -> Callable:
    """The handler generated code calls when an argument is not a float (see codegen)."""

    def _retry(function: Callable, names: tuple[str, ...], args: tuple, error: BaseException):
        message = missing_message(function_name, names, args)
        if message is not None:
            raise ArgumentError(message) from None
        try:
            values = _float_arguments(names, args)
        except OverflowError as overflow:
            raise EvaluationError(str(overflow)) from None
        except TypeError as bad:  # the helpers stay standalone (--emit module): builtin errors
            raise ArgumentError(str(bad)) from None
        if all(value is arg for value, arg in zip(values, args, strict=True)):
            raise error  # they were floats already: the error has another cause
        return function(*values)

    return _retry


def bind_formula_names(function: Callable, inputs: tuple[str, ...]) -> Callable:
    """For formulas whose names Python can't take as parameters (lambda, print, ...):
    accept the formula's own names as keywords."""
    index = {name: i for i, name in enumerate(inputs)}

    def call(*args, **kwargs):
        if len(args) > len(inputs):
            raise ArgumentError(f"takes {len(inputs)} arguments but {len(args)} were given")
        values = list(args) + [_MISSING] * (len(inputs) - len(args))
        for name, value in kwargs.items():
            position = index.get(name)
            if position is None:
                raise ArgumentError(f"got an unexpected argument '{name}'")
            if values[position] is not _MISSING:
                raise ArgumentError(f"got multiple values for argument '{name}'")
            values[position] = value
        return function(*values)

    call.__doc__ = function.__doc__
    return call


_SERIAL = itertools.count(1)


def run_source(owner: object, source: str, label: str, namespace: dict) -> str:
    """Compile generated source and run it in the namespace; returns its file name.

    linecache makes tracebacks show the generated lines, for as long as `owner` lives
    (each owner its own entries, so dropping one never hides another's)."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    filename = f"<exprgrad {digest} #{next(_SERIAL)} {label}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    weakref.finalize(owner, linecache.cache.pop, filename, None)
    # Safe to run: every identifier and number in the source was written by a code generator.
    exec(builtins.compile(source, filename, "exec"), namespace)  # noqa: S102
    return filename


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

    def __init__(
        self,
        formula: str,
        lowered: Program,
        forward: Program,
        full: Program,
        fold: bool = True,
        fold_forward: bool = True,
    ):
        self.formula = formula
        self._fold = fold  # fold the gradient ops of programs made later (the trace)
        self._fold_forward = fold_forward  # compile_unfolded leaves the forward as written
        self.lowered_program = lowered  # before folding: exact constants, for sympy
        self.inputs: tuple[str, ...] = forward.inputs
        self.wrt: tuple[str, ...] = tuple(full.grads)
        self.forward_program = forward
        self.program = full
        self._generated: dict[str, codegen.Generated] = {}
        self._line_ops: dict[str, dict[int, Op]] = {}  # generated file -> its lines' ops
        namespace = runtime_namespace()
        namespace["_INPUTS"] = self.inputs
        namespace["_MISSING"] = _MISSING
        namespace["_retry"] = _retry_maker("f")
        namespace["_MATH_ERRORS"] = _MATH_ERRORS
        namespace["_evaluation_error"] = _evaluation_error_maker(formula, self._line_ops)
        self._namespace = namespace
        self.value_and_grad = self._build("value_and_grad", full)
        self.value_and_grad.__doc__ = "(value, {input: gradient}) at the given point."
        # Python looks __call__ up on the class, so each Function gets a class of its own,
        # whose __call__ becomes the generated forward() itself: f(...) then costs no
        # extra call. forward() is compiled on the first call (training needs only
        # value_and_grad, and Python's compiler is a third of compile() for big formulas).
        this = weakref.ref(self)

        def first_call(*args, **kwargs):
            return this().forward(*args, **kwargs)

        self.__class__ = type(
            "Function",
            (Function,),
            {"__call__": staticmethod(first_call), "__module__": Function.__module__},
        )

    def _text(self, function: str, program: Program, rows: list[int] = ()) -> codegen.Generated:
        generated = self._generated.get(function)
        if generated is None:
            generated = codegen.function_source(program, function, rows=rows)
            self._generated[function] = generated
        return generated

    def _build(self, function: str, program: Program, rows: list[int] = ()) -> Callable:
        """Generate, compile and run the source of one function of the formula's inputs."""
        generated = self._text(function, program, rows)
        self._run(generated, function, self._namespace)
        built = self._namespace[function]
        # Every parameter defaults to _MISSING, so that a missing argument reaches _retry,
        # which names it (set here rather than in the source, which stays plain).
        built.__defaults__ = (_MISSING,) * len(self.inputs)
        if generated.params != self.inputs:
            built = bind_formula_names(built, self.inputs)
        return built

    @property
    def forward(self) -> Callable[..., float]:
        """The generated function behind f(...), compiled on first use."""
        built = self.__dict__.get("_forward")
        if built is None:
            built = self.__dict__["_forward"] = self._build("forward", self.forward_program)
            type(self).__call__ = staticmethod(built)
        return built

    def _trace_function(self) -> tuple[Callable, list[int], int]:
        """The generated trace(...) -> (value, row values, row adjoints), its rows (the
        inputs, then every line but comparisons), and how many of them are inputs."""
        built = self.__dict__.get("_trace")
        if built is None:
            forward = self.forward_program
            fold = simplify if self._fold else None
            program = eliminate_dead_code(
                differentiate(forward, forward.inputs, fold, every_adjoint=True)
            )
            rows = trace_rows(forward)
            count = sum(forward.ops[i].prim == INPUT for i in rows)
            built = self.__dict__["_trace"] = (self._build("trace", program, rows), rows, count)
        return built

    def trace(self, /, *args: float, **kwargs: float) -> Trace:
        """The value and the gradient (adjoint) of every line at the given point, as
        a Trace: the forward/backward table of Karpathy's guide (print it)."""
        function, rows, _ = self._trace_function()
        value, values, adjoints = function(*args, **kwargs)
        names = self._text("value_and_grad", self.program).names
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
        forward = self._text("forward", self.forward_program).source
        both = forward + "\n\n" + self._text("value_and_grad", self.program).source
        return codegen.header(self.formula) + "\n" + both

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
        return symbolic.to_sympy(self.lowered_program, [self.lowered_program.value])[0]

    def check(
        self,
        seed: int = 0,
        time_limit: float = 20.0,
        on_component: Callable[[symbolic.ComponentCheck], None] | None = None,
    ) -> symbolic.CheckReport:
        """Confirm every gradient component against sympy.diff of the formula.

        Symbolically (simplify(generated - diff) == 0) where that is cheap and
        decisive, otherwise numerically: the compiled gradient against sympy.diff
        evaluated to 30 digits, at points of the formula's domain on every side of
        every kink and where. Each component is "symbolic", "numeric", "failed" or
        "undecided" (time_limit seconds spent, no point in the domain, or a formula
        sympy cannot take); report.ok only if all are confirmed. on_component is
        called with each component's result as soon as it is decided.
        """
        return symbolic.check(
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
        return symbolic.latex(self.lowered_program, list(self.wrt))

    def module_source(self) -> str:
        """A standalone Python module computing the same, needing only `math`."""
        return codegen.module_source(self.forward_program, self.program)

    def __reduce__(self):
        # Generated code does not pickle; the formula does, and compiles to the same bytes.
        named = self.inputs if self.inputs != self.lowered_program.inputs else None
        return (_rebuild, (self.formula, self.wrt, self._fold, self._fold_forward, named))

    def __repr__(self) -> str:
        options = "" if self.wrt == self.inputs else f", wrt={list(self.wrt)!r}"
        if self.inputs != self.lowered_program.inputs:
            options += f", inputs={list(self.inputs)!r}"
        if not self._fold:
            options += ", optimize=False"
        if self._fold and not self._fold_forward:  # exprgrad.gates' circuits
            return f"exprgrad.function.compile_unfolded({self.formula!r})"
        return f"exprgrad.compile({self.formula!r}{options})"

    # --- higher order and numeric interop (forward.py, interop.py) ------------------------

    def _build_apart(
        self, key: str, function: str, program: Program, floats: Iterable[str] = ()
    ) -> Callable:
        """_build() for a program whose parameters are not f.inputs as they stand (a jvp's
        tangents follow them, a flat vector reorders them): compiled into a namespace of
        its own whose _INPUTS names those parameters for _retry; called positionally.
        floats: parameters always passed as floats (fixed inputs, converted once)."""
        generated = codegen.function_source(program, function, floats=frozenset(floats))
        self._generated[key] = generated
        namespace = dict(self._namespace, _INPUTS=program.inputs)
        self._run(generated, key, namespace)
        return namespace[function]

    def _run(self, generated: codegen.Generated, label: str, namespace: dict) -> None:
        """Compile generated source and run it in the namespace (defining its function)."""
        filename = run_source(self, generated.source, label, namespace)
        self._line_ops[filename] = generated.line_ops

    def _point(self, args: tuple, kwargs: dict, what: str) -> tuple:
        """The point's values in f.inputs order, from arguments as f(...) takes them."""
        if not kwargs and len(args) == len(self.inputs):
            return args
        binder = self.__dict__.get("_binder")
        if binder is None:
            binder = self.__dict__["_binder"] = bind_formula_names(lambda *v: v, self.inputs)
        values = binder(*args, **kwargs)
        message = missing_message(what, self.inputs, values)
        if message is not None:
            raise ArgumentError(message)
        return values

    def _higher(self, key: str, make: Callable[[Callable | None], Program]) -> Program:
        """A derived program (Hessian, jvp, hvp), made once, folded like the gradient."""
        program = self.__dict__.get(key)
        if program is None:
            program = self.__dict__[key] = self._derive(key.strip("_"), make)
        return program

    def _derive(self, what: str, make: Callable[[Callable | None], Program]) -> Program:
        """make(fold)'s program (forward mode over a gradient), dead code dropped, its size
        checked and its branches untangled."""
        from ...core import forward as forward_mode

        try:
            program = eliminate_dead_code(make(simplify if self._fold else None))
        except forward_mode.TooLarge as error:  # stopped early: far over the limit
            program = error.program
        check_size(program, f"its {what} program")
        # a tangent flowing out of a branch through a rule's where (clip's, min's) is
        # needed under conditions computed from the branch: a copy keeps it guarded
        return untangle(program)

    def _hessian_program(self) -> Program:
        from ...core import forward as forward_mode

        def make(fold: Callable | None) -> Program:
            return forward_mode.hessian_program(self.program, self.wrt, fold, derived_limit())

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
            built = self._build("hessian", self._hessian_program())
            self.__dict__["_hessian_function"] = built
        return built(*args, **kwargs)

    @property
    def hessian_source(self) -> str:
        """The generated Python source of hessian()."""
        source = self._text("hessian", self._hessian_program()).source
        return codegen.header(self.formula) + "\n" + source

    def jvp(self, tangents: Any, /, *args: float, **kwargs: float) -> tuple[float, float]:
        """(value, directional derivative) at the point, by forward mode.

        tangents: {wrt name: number} (a missing name counts as 0) or a sequence of
        len(f.wrt) numbers in f.wrt order. The point follows, as f(...) takes it.
        """
        from ...core import forward as forward_mode
        from ...tools import interop

        direction = interop.tangent_values(tangents, self.wrt)
        return self._directional(
            "jvp",
            lambda fold: forward_mode.jvp_program(self.forward_program, self.wrt, fold),
            direction,
            args,
            kwargs,
        )

    def hvp(self, v: Any, /, *args: float, **kwargs: float) -> dict[str, float]:
        """The Hessian-vector product {wrt name: (H v)[name]} at the point: forward mode
        over the gradient program (the jvp of the gradient), one pass whatever len(wrt).

        v: {wrt name: number} (a missing name counts as 0) or a sequence in f.wrt order.
        """
        from ...core import forward as forward_mode
        from ...tools import interop

        direction = interop.tangent_values(v, self.wrt, "v")
        return self._directional(
            "hvp",
            lambda fold: forward_mode.hvp_program(self.program, self.wrt, fold),
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
            built = self.__dict__[f"_{key}_function"] = self._build_apart(key, key, program)
        return built(*self._point(args, kwargs, key), *direction)

    def flat(self, names: Iterable[str] | str | None = None, /, **fixed: float) -> Callable:
        """fun(x) -> (value, gradient) over one vector x of the inputs in `names`, in that
        order (default f.wrt less the fixed ones: f.inputs order, which is the order of
        first appearance unless compile(..., inputs=[...]) named it), the other inputs
        fixed by keyword, so that scipy.optimize.minimize(fun, x0, jac=True) takes it as
        it is. x is a list, tuple or numpy array; the gradient comes back as a numpy array
        (a list without numpy). fun.names: the vector's order. An input called `names` can
        be fixed by keyword; otherwise names=... is the vector's names.

        The generated code (fun.source) takes the vector's values positionally, so a call
        costs the arithmetic and a copy of the vector, and no keyword matching.
        """
        from ...tools import interop

        names, others, values = self._flat_inputs(names, fixed)
        key = f"flat {','.join(names)}"
        built = self._flat_built(key, "flat", names, others, lambda program, fold: program)
        source = codegen.header(self.formula) + "\n" + self._generated[key].source
        return interop.flat_function(built, names, values, source)

    def flat_hess(self, names: Iterable[str] | str | None = None, /, **fixed: float) -> Callable:
        """hess(x) -> the Hessian matrix at the vector x, rows and columns in the vector's
        order: names and fixed inputs as for flat() (same defaults), so that
        scipy.optimize.minimize(f.flat(), x0, jac=True, hess=f.flat_hess(),
        method="trust-exact") takes it. A numpy array (lists without numpy)."""
        from ...core import forward as forward_mode
        from ...tools import interop

        names, others, values = self._flat_inputs(names, fixed)
        key = f"flat_hess {','.join(names)}"

        def make(program: Program, fold: Callable | None) -> Program:
            return forward_mode.hessian_program(program, names, fold, derived_limit())

        built = self._flat_built(key, "hessian", names, others, make)
        source = codegen.header(self.formula) + "\n" + self._generated[key].source
        return interop.flat_matrix_function(built, names, values, source)

    def flat_hessp(self, names: Iterable[str] | str | None = None, /, **fixed: float) -> Callable:
        """hessp(x, p) -> the Hessian at the vector x times the vector p (one forward pass
        over the gradient, whatever the size): names and fixed inputs as for flat(), so
        scipy.optimize.minimize(f.flat(), x0, jac=True, hessp=f.flat_hessp(),
        method="Newton-CG") takes it. A numpy array (a list without numpy)."""
        from ...core import forward as forward_mode
        from ...tools import interop

        names, others, values = self._flat_inputs(names, fixed)
        key = f"flat_hessp {','.join(names)}"

        def make(program: Program, fold: Callable | None) -> Program:
            return forward_mode.hvp_program(program, names, fold)

        built = self._flat_built(key, "hessp", names, others, make)
        source = codegen.header(self.formula) + "\n" + self._generated[key].source
        return interop.flat_product_function(built, names, values, source)

    def _flat_inputs(self, names: Any, fixed: dict) -> tuple[tuple[str, ...], tuple, list]:
        """flat()'s arguments: the vector's names, the other inputs, their fixed values."""
        from ...tools import interop

        if names is None and "names" in fixed and "names" not in self.inputs:
            names = fixed.pop("names")
        if names is None:  # f.wrt, less what is fixed
            names = tuple(name for name in self.wrt if name not in fixed)
        else:
            names = interop.parse_names(names, "names")
        others, values = interop.split_inputs(self.inputs, names, fixed, "names")
        return names, others, values

    def _flat_built(
        self, key: str, function: str, names: tuple, others: tuple, make: Callable
    ) -> Callable:
        """The generated function over (vector, fixed inputs) of the program make() derives
        from the gradient over `names` (flat: that gradient itself); made once per kind and
        list of names."""
        from ...tools import interop

        cache = self.__dict__.setdefault("_flat_functions", {})
        built = cache.get(key)
        if built is None:
            program = interop.flat_program(self.forward_program, names, others, self._fold)
            check_size(program, "its gradient program")
            if function != "flat":
                gradient = program
                program = self._derive(function, lambda fold: make(gradient, fold))
            built = cache[key] = self._build_apart(key, function, program, floats=others)
        return built
