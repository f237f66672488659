"""Formula text -> programs: the one chain of passes every caller goes through.

    text --parse--> syntax --lower--> IR --fold, dead code--> forward program
         --differentiate--> --dead code--> gradient program   (each size-checked)

compile(), both backends, traces, flat vectors, residuals, Hessians, jvp and hvp
all take their programs from here: forward_and_gradient() for a formula (from_lowered()
for the IR a front end builds as lowering would, exprgrad.gates' circuits), gradient() for
reverse mode over a program, derive() for forward mode over one.
A new pass is added in one place. `fold` is optimize.folding(evaluate), or None
to keep every op as reverse mode writes it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from ..errors import ArgumentError, FormulaError, Span
from . import forward as forward_mode
from .ir import CONST, Program, quote
from .lower import lower
from .optimize import Fold, eliminate_dead_code, fold_constants
from .parsing import parse
from .primitives import BY_NAME
from .regions import untangle
from .reverse import differentiate
from .syntax import Assign

# The most operations and inputs a program may hold. Each is a line of generated Python,
# written in pieces of bounded length (backends/python/pieces.py), so Python's compiler
# (about 5 KB a line) holds one piece at a time; the IR, the source and the compiled code
# take about 1.2 KB an operation, so a program at this limit peaks near 6 GB (a
# 1,000,000-deep tanh chain's gradient program has 4,000,000); beyond it, a FormulaError.
MAX_OPERATIONS = 5_000_000


def derived_limit() -> int:
    """What forward mode may build before it stops early (forward.TooLarge): dead tangents
    included, its builder holds about twice what stays after dead-code elimination.
    Read at each call, so it follows MAX_OPERATIONS."""
    return 3 * MAX_OPERATIONS


@dataclass(frozen=True, slots=True)
class Programs:
    """What compiling a formula makes, for a backend to turn into code."""

    lowered: Program  # as written: exact constants, for sympy and the graph
    forward: Program  # the value
    full: Program | None  # the value and the gradient over wrt (full.grads); None: not made
    arrays: bool = False  # made for a backend computing with arrays
    wrt: tuple[str, ...] | None = None  # what the gradient is over (None: full's, or every input)


def forward_and_gradient(
    formula: str,
    wrt: Iterable[str] | str | None,
    fold: Fold | None,
    *,
    fold_forward: bool = True,
    arrays: bool | None = False,
    inputs: Iterable[str] | str | None = None,
    with_gradient: bool | Callable[[Program], bool] = True,
) -> Programs:
    """The formula's programs: its value (folded unless fold_forward is False: exprgrad.gates
    keeps one line per gate), and its value and gradient over wrt (default every input).
    arrays: the backend computes with arrays; False: an array function is a FormulaError;
    None: arrays if the formula calls an array function (Programs.arrays says which).
    inputs: the order of f.inputs (default: first appearance).
    with_gradient: False leaves Programs.full None, for a caller that makes a gradient
    program when it needs one (gradient()): a circuit of gates needs only its trace's; a
    function of the forward program: the backend's choice (python's sweeps the first
    gradients of a long one on numbers, backends/python/sweep.py)."""
    with collector_paused():
        tree = parse(formula)
        lowered = lower(tree)
        arrays = _arrays_checked(lowered, arrays)
        forward = value_program(lowered, fold if fold_forward else None)
        if inputs is not None:  # the lowered program keeps the order of appearance
            forward = replace(forward, inputs=_resolve_inputs(forward, inputs, tree))
        check_size(forward, "the formula")
        wrt_names = _resolve_wrt(forward, wrt, tree)
        del tree  # (the syntax tree: a third of what the IR takes, its room for reverse mode)
        return _with_gradient(lowered, forward, wrt_names, fold, arrays, with_gradient)


def from_lowered(
    lowered: Program,
    fold: Fold | None,
    *,
    fold_forward: bool = True,
    arrays: bool | None = False,
    with_gradient: bool | Callable[[Program], bool] = True,
) -> Programs:
    """forward_and_gradient() from its lowered program on, for a front end that builds the
    IR lower(parse(text)) would make without writing text to parse (exprgrad.gates): the
    same passes, the gradient over every input, in their order of appearance."""
    with collector_paused():
        arrays = _arrays_checked(lowered, arrays)
        forward = value_program(lowered, fold if fold_forward else None)
        check_size(forward, "the formula")
        return _with_gradient(lowered, forward, forward.inputs, fold, arrays, with_gradient)


def _arrays_checked(lowered: Program, arrays: bool | None) -> bool:
    """forward_and_gradient's `arrays`, None resolved; False: an array function is an error."""
    if arrays is None:
        return needs_arrays(lowered)
    if not arrays:
        scalars_only(lowered)
    return arrays


def _with_gradient(
    lowered: Program,
    forward: Program,
    wrt: tuple[str, ...],
    fold: Fold | None,
    arrays: bool,
    with_gradient: bool | Callable[[Program], bool],
) -> Programs:
    if callable(with_gradient):  # the backend's choice
        with_gradient = with_gradient(forward)
    full = gradient(forward, wrt, fold, arrays=arrays) if with_gradient else None
    return Programs(lowered, forward, full, arrays, wrt)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The collector stopped for a while: the IR and the code generated from it make
    millions of objects and no reference cycles, so its passes over them would only slow
    a large formula down (by a sixth to a third)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            # Its first collection would visit every object made meanwhile (0.3 s at
            # 10^5 operations), all alive and acyclic: they go to the oldest generation
            # unvisited instead (freeze, unfreeze: two list splices), unless the process
            # freezes objects itself (gc.freeze before a fork), which unfreeze would undo.
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def value_program(lowered: Program, fold: Fold | None) -> Program:
    """The program of a formula's value: folded (unless fold is None), without dead code."""
    program = fold_constants(lowered, fold) if fold is not None else lowered
    return untangle(eliminate_dead_code(program))  # untangle: rare, see regions.untangle


def gradient(
    program: Program,
    wrt: Iterable[str],
    fold: Fold | None,
    *,
    arrays: bool = False,
    every_adjoint: bool = False,
    seed: str | None = None,
) -> Program:
    """Reverse mode over a program (see reverse.differentiate), dead code dropped, size checked."""
    with collector_paused():
        full = differentiate(
            program, tuple(wrt), fold, arrays=arrays, every_adjoint=every_adjoint, seed=seed
        )
        full = eliminate_dead_code(full)
    check_size(full, "its gradient program")
    return full


def derive(make: Callable[[Fold | None], Program], fold: Fold | None, what: str) -> Program:
    """make(fold)'s program (forward mode over a gradient: a Hessian, jvp, hvp, Jacobian),
    dead code dropped, its size checked (`what` names it in the error) and its branches
    untangled. make may stop early (forward.TooLarge) at derived_limit()."""
    with collector_paused():
        try:
            program = eliminate_dead_code(make(fold))
        except forward_mode.TooLarge as error:  # stopped early: far over the limit
            program = error.program
        check_size(program, what)
        # a tangent flowing out of a branch through a rule's where (clip's, min's) is
        # needed under conditions computed from the branch: a copy keeps it guarded
        return untangle(program)


def check_size(program: Program, what: str) -> None:
    if len(program.ops) <= MAX_OPERATIONS:
        return  # (constants aside: no need to count them)
    size = sum(op.prim != CONST for op in program.ops)
    if size > MAX_OPERATIONS:
        raise FormulaError(
            "formula too large",
            program.source,
            Span(0, len(program.source)),
            detail=f"{what} has {size:,} operations and inputs, over the limit of "
            f"{MAX_OPERATIONS:,} (exprgrad.core.pipeline.MAX_OPERATIONS: each is a line of "
            "generated Python, and compiling them takes about 1.2 KB an operation)",
        )


_ARRAY_PRIMITIVES = frozenset(name for name, primitive in BY_NAME.items() if primitive.arrays)


def needs_arrays(program: Program) -> bool:
    """Does the program call an array function (@, a reduction, softmax, ...)?"""
    return not _ARRAY_PRIMITIVES.isdisjoint(op.prim for op in program.ops)


def scalars_only(program: Program, detail: str = "") -> None:
    """What computes with numbers only (the C backend, Hessians, residuals): a formula that
    needs arrays says where."""
    for op in program.ops:
        if op.prim in _ARRAY_PRIMITIVES:
            raise FormulaError(
                f"{quote(program.source, op)} needs arrays",
                program.source,
                op.span,
                detail=detail
                or "compile it with exprgrad.compile(..., backend='numpy') (or "
                "backend='python', which takes most array formulas as nested lists)",
            )


def _resolve_inputs(program: Program, inputs: Iterable[str] | str, tree) -> tuple[str, ...]:
    """compile(inputs=...): the formula's inputs, every one named once, in the caller's order."""
    names = [n.strip() for n in inputs.split(",")] if isinstance(inputs, str) else list(inputs)
    value_span = tree.statements[-1].span
    have = ", ".join(program.inputs) or "none"
    known, seen = set(program.inputs), set()
    for name in names:
        if not isinstance(name, str):
            raise ArgumentError(f"inputs must be str, not {type(name).__name__}")
        if name in seen:
            raise FormulaError(f"inputs lists '{name}' twice", tree.source, value_span)
        seen.add(name)
        if name not in known:
            raise FormulaError(
                f"inputs lists '{name}', which is not an input of the formula (inputs: {have})",
                tree.source,
                value_span,
            )
    missing = [name for name in program.inputs if name not in seen]
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
    seen, known = set(), set(program.inputs)
    for name in names:
        if not isinstance(name, str):
            raise ArgumentError(f"wrt names must be str, not {type(name).__name__}")
        if name in seen:
            raise FormulaError(f"wrt names '{name}' twice", tree.source, value_span)
        seen.add(name)
        if name in known:
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
