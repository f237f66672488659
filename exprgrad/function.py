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
import linecache
from collections.abc import Callable, Iterable
from typing import Any

from . import codegen, symbolic
from .errors import EvaluationError, FormulaError, Span
from .helpers import runtime_namespace
from .ir import Op, Program, dump
from .lower import lower
from .optimize import optimize
from .parsing import parse
from .primitives import BY_NAME
from .reverse import differentiate
from .syntax import Assign

_MATH_ERRORS = (ArithmeticError, ValueError)  # math domain errors, overflow, division by zero


def compile(formula: str, wrt: Iterable[str] | str | None = None) -> Function:  # noqa: A001
    """Compile a formula into a Function computing its value and gradient.

    formula: statements separated by newlines or ';'; the last one is the value.
    wrt: the inputs to differentiate with respect to (a list, or a comma-separated
        string); default all. The backward code does no work for the others.

    Raises FormulaError (a ValueError) for any bad formula or wrt name.
    """
    collecting = gc.isenabled()
    gc.disable()  # the IR has no reference cycles; collections only slow large formulas down
    try:
        tree = parse(formula)
        lowered = lower(tree)
        forward = optimize(lowered)
        wrt_names = _resolve_wrt(forward, wrt, tree)
        full = optimize(differentiate(forward, wrt_names))
        return Function(formula, lowered, forward, full)
    finally:
        if collecting:
            gc.enable()


def _resolve_wrt(program: Program, wrt: Iterable[str] | str | None, tree) -> tuple[str, ...]:
    if wrt is None:
        return program.inputs
    names = [w.strip() for w in wrt.split(",")] if isinstance(wrt, str) else list(wrt)
    # A wrt name has no place in the formula; errors point at what is differentiated.
    value_span = tree.statements[-1].span
    seen = set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"wrt names must be str, not {type(name).__name__}")
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
    formula: str, filename: str, line_ops: dict[int, Op]
) -> Callable[[BaseException], Exception]:
    def evaluation_error(error: BaseException) -> Exception:
        line = None
        traceback = error.__traceback__
        while traceback is not None:  # the innermost frame of generated code failed
            if traceback.tb_frame.f_code.co_filename == filename:
                line = traceback.tb_lineno
            traceback = traceback.tb_next
        op = line_ops.get(line)
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


def _bind_formula_names(function: Callable, inputs: tuple[str, ...]) -> Callable:
    """For formulas whose names Python can't take as parameters (lambda, print, ...):
    accept the formula's own names as keywords, and name them in TypeErrors."""
    index = {name: i for i, name in enumerate(inputs)}

    def call(*args, **kwargs):
        if len(args) > len(inputs):
            raise TypeError(f"takes {len(inputs)} arguments but {len(args)} were given")
        values = list(args) + [_MISSING] * (len(inputs) - len(args))
        for name, value in kwargs.items():
            position = index.get(name)
            if position is None:
                raise TypeError(f"got an unexpected argument '{name}'")
            if values[position] is not _MISSING:
                raise TypeError(f"got multiple values for argument '{name}'")
            values[position] = value
        missing = [repr(inputs[i]) for i, v in enumerate(values) if v is _MISSING]
        if missing:
            raise TypeError(f"missing required argument(s): {', '.join(missing)}")
        return function(*values)

    call.__doc__ = function.__doc__
    return call


_MISSING = object()


class Function:
    """A compiled formula.

    f(*args, **kwargs) -> float: the value; positional arguments follow f.inputs.
    f.forward: the generated function behind f(...).
    f.value_and_grad(...) -> (value, {input: d value / d input}) for each wrt input.
    f.grad(...) -> the gradient dict alone.
    f.inputs: the formula's free names, in order of first appearance.
    f.wrt: the inputs the gradient covers.
    f.source: the generated Python source of forward() and value_and_grad().
    f.ir: the optimized gradient program as text.
    """

    def __init__(self, formula: str, lowered: Program, forward: Program, full: Program):
        self.formula = formula
        self.lowered_program = lowered  # before folding: exact constants, for sympy
        self.inputs: tuple[str, ...] = forward.inputs
        self.wrt: tuple[str, ...] = tuple(full.grads)
        self.forward_program = forward
        self.program = full
        generated = codegen.python_source(forward, full)
        self.source = generated.source
        # Same source, same file name; linecache makes tracebacks show the generated lines.
        digest = hashlib.sha1(self.source.encode()).hexdigest()[:12]
        filename = f"<exprgrad {digest}>"
        linecache.cache[filename] = (len(self.source), None, self.source.splitlines(True), filename)
        namespace = runtime_namespace()
        namespace["_MATH_ERRORS"] = _MATH_ERRORS
        namespace["_evaluation_error"] = _evaluation_error_maker(
            formula, filename, generated.line_ops
        )
        # Safe to run: every identifier and number in the source was written by codegen.
        exec(builtins.compile(self.source, filename, "exec"), namespace)  # noqa: S102
        forward_function, value_and_grad = namespace["forward"], namespace["value_and_grad"]
        value_and_grad.__doc__ = "(value, {input: gradient}) at the given point."
        if generated.params != self.inputs:
            forward_function = _bind_formula_names(forward_function, self.inputs)
            value_and_grad = _bind_formula_names(value_and_grad, self.inputs)
        self.forward = forward_function
        self.value_and_grad = value_and_grad
        # Python looks __call__ up on the class, so each Function gets a class whose
        # __call__ is the generated forward(): f(...) then costs no extra call.
        self.__class__ = type(
            "Function",
            (Function,),
            {"__call__": staticmethod(forward_function), "__module__": Function.__module__},
        )

    def __call__(self, *args: float, **kwargs: float) -> float:
        # Each instance's class overrides this with forward itself (see __init__).
        return self.forward(*args, **kwargs)

    def grad(self, *args: float, **kwargs: float) -> dict[str, float]:
        """{input: d value / d input} at the given point."""
        return self.value_and_grad(*args, **kwargs)[1]

    @property
    def ir(self) -> str:
        return dump(self.program)

    def to_sympy(self) -> Any:
        """The formula's value as a sympy expression over real symbols."""
        return symbolic.to_sympy(self.lowered_program, [self.lowered_program.value])[0]

    def check(self, seed: int = 0) -> symbolic.CheckReport:
        """Prove every gradient component equal to sympy.diff of the formula (see CheckReport)."""
        return symbolic.check(self.program, self.to_sympy(), seed=seed)

    def latex(self) -> str:
        """The formula and its partial derivatives as LaTeX."""
        return symbolic.latex(self.lowered_program, list(self.wrt))

    def module_source(self) -> str:
        """A standalone Python module computing the same, needing only `math`."""
        return codegen.module_source(self.forward_program, self.program)

    def __reduce__(self):
        # Generated code does not pickle; the formula does, and compiles to the same bytes.
        return (compile, (self.formula, self.wrt))

    def __repr__(self) -> str:
        return f"exprgrad.compile({self.formula!r})"
