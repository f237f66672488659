"""A long program -> a tape that its first calls run while its code is not compiled yet.

CPython's compiler needs about 10 us for a line of generated code, so a program of 10^5
operations takes seconds to compile, and one of 10^6 a minute, before its first value
comes back. Most of that is worth paying only for a function called many times. So the
first calls of a long program's forward, value_and_grad, trace (what gates run) and flat
(runtime.Runtime.build, build_apart: more than pieces' 10,000 operations) walk a tape
instead, as CasADi's SX functions do (and the gradients of a forward program that long,
whose gradient program is not made yet, walk its tape and sweep back: sweep.py):

    entry = (operation, out, a, b, c)      values[out] = operation(values, a, b, c)

one entry an op, in the order and regions the generated code has (layout.plan). Each
operation is a small function made once per primitive (and arity, and for min and max
which operands are constants) from the very spelling the generated line uses
(spellings.py), so every op computes the same float from the same floats, and the ops of
a branch of `where` run only where the generated `if` would (regions.py): the tape's
values, gradients and errors are the generated code's, bit for bit (tests/test_tape.py
compares them over the test corpus).

A walk costs about 0.1-0.2 us an op, several times the generated code's, so a Tiered call
keeps count: once its calls have spent as long on the tape as compiling would take
(COMPILE_SECONDS_PER_OP), it compiles the generated code and calls that from then on.
It never spends more than about twice what the better of the two choices would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from ...core import regions
from ...core.ir import CONST, INPUT, Program
from ...errors import EvaluationError, FormulaError
from .. import runtime
from ..layout import plan
from .spellings import CHOSEN, spell

MATH_ERRORS = (ArithmeticError, ValueError)
# What compiling generated code costs an op of the program (code generation and CPython's
# compiler; 10-15 us on the machines benchmarks/bench_scale.py ran on): the tape's budget.
COMPILE_SECONDS_PER_OP = 12e-6
_OPERANDS = ("_v[_a]", "_v[_b]", "_v[_c]")


class Tape:
    """A program's ops as a list of entries, called with the inputs' values (floats, in
    program.inputs order); returns what `function` returns (values: every op's value, a
    list by op id, for a sweep (sweep.py); forward: the value;
    value_and_grad: (value, {name: gradient}); flat: (value, [gradient]); trace: (value,
    the rows' values, their adjoints), a row in a branch not taken None, a row without an
    adjoint 0.0)."""

    def __init__(
        self,
        program: Program,
        function: str,
        formula: str,
        namespace: dict,
        rows: Sequence[int] = (),
        *,
        branches: bool = True,
    ):
        """branches=False: the program has no `where` (sweep.has_branches), so its ops
        run in program order, none in a region, without a layout to plan."""
        self.program = program
        self.function = function
        self.formula = formula
        self.branches = branches
        size = len(program.ops)
        self._dummy = size  # where a block of a branch "writes"
        start: list[Any] = [None] * (size + 2)
        start[size + 1] = 0.0  # a trace's row without an adjoint
        self._rows = list(rows)
        adjoints = [program.adjoints.get(i) for i in rows]
        self._adjoints = [size + 1 if a is None else a for a in adjoints]
        ids: dict[str, int] = {}
        order = []  # (program order: a layout's without branches)
        for i, op in enumerate(program.ops):
            prim = op.prim
            if prim == CONST:  # the value its literal (emit.literal) evaluates to
                start[i] = math.nan if op.value != op.value else float(op.value)
            elif prim == INPUT:
                ids[op.name] = i
            else:
                order.append(i)
        self._start = start
        self.input_ids = [ids[name] for name in program.inputs]  # in program.inputs order
        self._operations: dict[tuple, Callable] = {}
        self._namespace = namespace
        if branches:
            layout = plan(program, rows, frozenset(program.inputs))
            self.entries = self._entries(layout.order, layout.placed)
        else:
            self.entries = self._entries(order, None)
        self._grads = tuple(program.grads.items())

    def _entries(self, order: list[int], placed: list[regions.Region] | None) -> list[tuple]:
        """The tape: each op's entry in `order`, the ops of one branch gathered into one
        block entry that tests the branch's conditions and runs them (placed: each op's
        region; None: none in one)."""
        ops, operations = self.program.ops, self._operations
        entries: list[tuple] = []
        block: list[tuple] = []
        opened: regions.Region = None
        for i in order:
            op = ops[i]
            prim, args = op.prim, op.args
            arity = len(args)
            if prim in CHOSEN:  # min and max: spelled by which operands are constants
                constant = tuple(ops[a].prim == CONST for a in args)
                key: tuple = (prim, arity, constant)
            else:
                key, constant = (prim, arity), (False,) * arity
            operation = operations.get(key)
            if operation is None:
                operation = operations[key] = self._operation(prim, arity, constant)
            if arity == 2:
                entry = (operation, i, args[0], args[1], 0)
            elif arity == 1:
                entry = (operation, i, args[0], 0, 0)
            elif arity == 3:
                entry = (operation, i, *args)
            else:  # none (a where of constants folds away) or more than three: a tuple
                entry = (operation, i, args, 0, 0)
            if placed is None:
                entries.append(entry)
                continue
            region = placed[i]
            if region is not opened:
                if block:
                    entries.append(self._block(opened, block))
                block, opened = [], region
            (entries if region is None else block).append(entry)
        if block:
            entries.append(self._block(opened, block))
        return entries

    def _operation(self, prim: str, arity: int, constant: tuple[bool, ...]) -> Callable:
        """operation(values, a, b, c) -> the op's value: its spelling over values[a], ...
        (more than three operands: a is the tuple of their indexes)."""
        if arity > len(_OPERANDS) or arity == 0:
            operands = [f"_v[_a[{k}]]" for k in range(arity)]
        else:
            operands = list(_OPERANDS[:arity])
        expression = spell(prim, operands, constant)  # the table's text and these names only
        return eval(f"lambda _v, _a, _b, _c: {expression}", self._namespace)  # noqa: S307

    def _block(self, region: regions.Region, block: list[tuple]) -> tuple:
        """One entry running a branch's ops where its `if` would: the region's alternatives
        (each a chain of conditions that must be true, or false where not taken)."""
        alternatives = [  # (a chain of None: no condition)
            [(g.condition, bool(g.taken)) for g in (chain.chain() if chain else ())]
            for chain in regions.chains(region)
        ]
        program, formula = self.program, self.formula

        def run(values: list, _a: int, _b: int, _c: int) -> None:
            for alternative in alternatives:  # `a and not b or c`, as the generated if tests
                if all(bool(values[c]) == taken for c, taken in alternative):
                    break
            else:
                return
            out = -1
            try:
                for operation, out, a, b, c in block:
                    values[out] = operation(values, a, b, c)
            except MATH_ERRORS as error:
                raise _failed(formula, program, out, error) from None

        return (run, self._dummy, 0, 0, 0)

    def compile_cost(self) -> float:
        """About what generating and compiling the program's code takes, in seconds."""
        return COMPILE_SECONDS_PER_OP * len(self.program.ops)

    def __call__(self, values: Sequence[float]) -> Any:
        v = self._start.copy()
        for i, value in zip(self.input_ids, values, strict=True):
            v[i] = value
        out = -1
        try:
            for operation, out, a, b, c in self.entries:
                v[out] = operation(v, a, b, c)
        except EvaluationError:
            raise
        except MATH_ERRORS as error:
            raise _failed(self.formula, self.program, out, error) from None
        if self.function == "values":
            return v
        value = v[self.program.value]
        if self.function == "forward":
            return value
        if self.function == "trace":  # rows not computed (a branch not taken) keep None
            return (
                value,
                list(map(v.__getitem__, self._rows)),
                list(map(v.__getitem__, self._adjoints)),
            )
        if self.function == "flat":  # the gradient in the vector's order, as a list
            return value, [v[i] for _, i in self._grads]
        return value, {name: v[i] for name, i in self._grads}


def _failed(formula: str, program: Program, out: int, error: BaseException) -> EvaluationError:
    """The EvaluationError the generated code raises where op `out` fails."""
    return runtime.evaluation_error(formula, program.ops[out], type(error), str(error))


class Tiered:
    """A long program's function: the tape until its calls have cost what compiling would,
    then the generated code (compiled(): a callable taking the inputs' values as a list)."""

    def __init__(self, tape: Tape, compiled: Callable[[], Callable]):
        self._tape = tape  # (or a Sweep, sweep.py: a tape and a sweep back)
        self._compile = compiled
        self._budget = tape.compile_cost()
        self._spent = 0.0
        self._call: Callable = self._on_tape

    def _on_tape(self, values: Sequence[float]) -> Any:
        start = time.perf_counter()
        try:
            return self._tape(values)
        finally:
            self._spent += time.perf_counter() - start
            if self._spent >= self._budget:  # from now on, the generated code
                try:
                    self._call = self._compile()
                    self._tape = None
                except FormulaError:  # a gradient program over the size limit (sweep.py)
                    self._budget = math.inf  # runs on as it is

    def __call__(self, values: Sequence[float]) -> Any:
        return self._call(values)

    @property
    def compiled(self) -> bool:
        return self._tape is None
