"""What every backend's runtime shares: compiling generated source, binding arguments.

Generated code is compiled from source the code generators wrote (never formula
text: every identifier and number in it was written by a code generator), into a
namespace of the backend's choosing, with linecache entries so that tracebacks
show the generated lines.
"""

from __future__ import annotations

import builtins
import hashlib
import itertools
import linecache
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import CodeType
from typing import Any

from ..core.ir import Op, quote
from ..core.primitives import BY_NAME
from ..errors import ArgumentError, EvaluationError, Span


class _Missing:
    """The default of every generated parameter: a missing argument reaches the retry
    handler, which names it (and says f(**point) when a dict was passed instead)."""

    def __repr__(self) -> str:
        return "_MISSING"


MISSING = _Missing()


def missing_message(function_name: str, names: tuple[str, ...], values: Sequence) -> str | None:
    """The message naming the arguments left MISSING, as f() is missing argument(s) 'a'
    (and saying f(**point) when a dict came first), or None when none is."""
    missing = [name for name, value in zip(names, values, strict=True) if value is MISSING]
    if not missing:
        return None
    message = f"{function_name}() is missing argument(s) {', '.join(repr(n) for n in missing)}"
    if isinstance(values[0], Mapping):
        message += "; to pass a dict of inputs, call it with f(**point)"
    return message


def bind_formula_names(function: Callable, inputs: tuple[str, ...]) -> Callable:
    """For formulas whose names Python can't take as parameters (lambda, print, ...):
    accept the formula's own names as keywords."""
    index = {name: i for i, name in enumerate(inputs)}

    def call(*args, **kwargs):
        if len(args) > len(inputs):
            raise ArgumentError(f"takes {len(inputs)} arguments but {len(args)} were given")
        values = list(args) + [MISSING] * (len(inputs) - len(args))
        for name, value in kwargs.items():
            position = index.get(name)
            if position is None:
                raise ArgumentError(f"got an unexpected argument '{name}'")
            if values[position] is not MISSING:
                raise ArgumentError(f"got multiple values for argument '{name}'")
            values[position] = value
        return function(*values)

    call.__doc__ = function.__doc__
    return call


def evaluation_error(
    formula: str, op: Op, kind: type[BaseException], detail: str = ""
) -> EvaluationError:
    """The EvaluationError of an op that failed, naming its place in the formula. kind: the
    exception Python's math raises for it (ValueError: a domain error, ZeroDivisionError,
    OverflowError); detail: the message of any other kind."""
    if issubclass(kind, ValueError):
        reason = BY_NAME[op.prim].domain or f"math domain error in {op.prim}"
    elif issubclass(kind, ZeroDivisionError):
        reason = "division by zero"
    elif issubclass(kind, OverflowError):
        reason = "overflow"
    else:
        reason = detail
    text = quote(formula, op)
    if op.in_gradient:
        message = f"{reason} in the gradient of {text}"
    elif issubclass(kind, ValueError) and BY_NAME[op.prim].domain:
        message = reason
    else:
        message = f"{reason} in {text}"
    return EvaluationError(message, formula, op.span or Span(0, len(formula)))


def point_binder(inputs: tuple[str, ...]) -> Callable[[tuple, dict, str], tuple]:
    """point(args, kwargs, what) -> the values in inputs order, from arguments as f(...)
    takes them (a formula's own names as keywords); a missing one is an ArgumentError
    naming it, as what() would."""
    bind = bind_formula_names(lambda *values: values, inputs)

    def point(args: tuple, kwargs: dict, what: str = "f") -> tuple:
        values = bind(*args, **kwargs)
        message = missing_message(what, inputs, values)
        if message is not None:
            raise ArgumentError(message)
        return values

    return point


_SERIAL = itertools.count(1)


def run_source(
    owner: object, source: str, label: str, namespace: dict, parts: Sequence = ()
) -> str:
    """Compile generated source and run it in the namespace; returns its file name.

    linecache makes tracebacks show the generated lines, for as long as `owner` lives
    (each owner its own entries, so dropping one never hides another's). parts: code in
    pieces, (first line, first and last character) each, compiled one at a time, so the
    compiler holds one piece at a time (python/pieces.py)."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    filename = f"<exprgrad {digest} #{next(_SERIAL)} {label}>"
    linecache.cache[filename] = (len(source), None, _Lines(source), filename)
    weakref.finalize(owner, linecache.cache.pop, filename, None)
    # Safe to run: every identifier and number in the source was written by a code generator.
    for first_line, start, end in parts or ((1, 0, len(source)),):
        code = builtins.compile(source[start:end], filename, "exec")
        exec(_shifted(code, first_line - 1) if first_line > 1 else code, namespace)  # noqa: S102
    return filename


class _Lines(Sequence):
    """The source's lines (splitlines(True)) for linecache, split on first use: only a
    traceback or inspect reads them, and a long program's list of lines would take more
    memory than its source."""

    def __init__(self, source: str):
        self._source = source
        self._lines: list[str] | None = None

    def _split(self) -> list[str]:
        if self._lines is None:
            self._lines = self._source.splitlines(True)
        return self._lines

    def __getitem__(self, index):  # an int or a slice, as on the list
        return self._split()[index]

    def __len__(self) -> int:
        return len(self._split())


def _shifted(code: CodeType, lines: int) -> CodeType:
    """The code as if its text began `lines` lines further down (line numbers in CPython's
    tables are relative to co_firstlineno)."""
    consts = tuple(_shifted(c, lines) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=consts)


def compile_options(function: Any) -> str:
    """The arguments after the formula of the exprgrad.compile(...) call a Function's repr
    shows: those that differ from the defaults (", wrt=[...], inputs=[...], optimize=False")."""
    options = "" if function.wrt == function.inputs else f", wrt={list(function.wrt)!r}"
    if function.inputs != function.lowered_program.inputs:
        options += f", inputs={list(function.inputs)!r}"
    if not function._fold:
        options += ", optimize=False"
    return options
