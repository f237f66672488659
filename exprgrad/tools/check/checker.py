"""A compiled formula -> CheckReport: each gradient component against sympy.diff.

Each component is confirmed one of two ways:

- symbolic: simplify(generated - sympy.diff(formula)) == 0, tried only where that
  is cheap and decisive: no kinks, exact constants, a small difference;
- numeric: the compiled function's gradient against sympy.diff of the formula,
  evaluated with mpmath at 30 digits, at points drawn from the formula's own
  domain, with both sides of every kink and `where` visited. Floats and exact
  numbers may differ by what rounding allows: a bound on it is carried op by op
  through the program (bounds.py), so a point too ill-conditioned to tell is
  skipped, and so is a point so near a kink that floats might take the other side.

A time budget bounds all of it (simplify included: SIGALRM interrupts sympy where
the platform allows); what it leaves unproved is "undecided", never passed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from ...core.ir import CONST, Program
from ...core.primitives import COMPARISON_NAMES
from ...errors import EvaluationError
from .bounds import KINKS, Site
from .budget import Budget, OutOfTime
from .exact import coordinates, exact_value, mp_functions, tolerance_at
from .report import CheckReport, ComponentCheck
from .sample import Crashed, Sampler
from .sympy_bridge import SYMPY_ERRORS, exact_constant, symbols, sympy_module, to_sympy

SIMPLIFY_OP_LIMIT = 400  # larger differences go straight to the numeric comparison
SIMPLIFY_PROGRAM_LIMIT = 300  # IR ops of the gradient program worth turning into sympy
SIMPLIFY_SECONDS = 3.0  # at most this long per component, then numbers decide,
SIMPLIFY_SHARE = 0.25  # and at most this share of the time left
_DIGITS = 30  # mpmath precision for sympy.diff; 60 to confirm a mismatch
MIN_POINTS = 3  # fewer agreeing points than this proves nothing


def _deep(error: BaseException) -> str:
    return f"the formula is too deeply nested for sympy ({type(error).__name__})"


def _unrepresentable(error: BaseException) -> str:
    return f"sympy cannot take the formula ({type(error).__name__}: {error})"


def check(
    lowered: Program,
    full: Program,
    value_and_grad: Callable,
    *,
    seed: int = 0,
    time_limit: float = 20.0,
    on_component: Callable[[ComponentCheck], None] | None = None,
) -> CheckReport:
    """Confirm each gradient component of `full` (computed by calling `value_and_grad`, the
    compiled function) against sympy.diff of the formula built from `lowered` (before
    folding, so its constants are exact). See the module docstring for how."""
    budget = Budget(time_limit)
    names = list(full.grads)
    results: list[ComponentCheck] = []

    def decide(component: ComponentCheck) -> None:
        results.append(component)
        if on_component is not None:
            on_component(component)

    if not names:
        return CheckReport((), "" if full.inputs else _constant_formula_note(value_and_grad))
    state = _State(lowered, full, value_and_grad, budget, seed)
    try:
        with budget.limit():
            for name in names:
                decide(state.component(name))
    except OutOfTime:
        reason = f"time limit of {time_limit:g} s reached{state.progress()}"
        for name in names[len(results) :]:
            decide(ComponentCheck(name, "undecided", reason))
    return CheckReport(tuple(results))


def _constant_formula_note(value_and_grad: Callable) -> str:
    try:
        value_and_grad()
    except (EvaluationError, ArithmeticError, ValueError) as error:
        return f"the formula is defined nowhere: {str(error).splitlines()[0]}"
    return ""


class _State:
    """What the components of one check share: the formula in sympy, the points."""

    def __init__(self, lowered, full, value_and_grad, budget: Budget, seed: int):
        self.lowered, self.full, self.budget = lowered, full, budget
        self.value_and_grad = value_and_grad
        self.rng = random.Random(seed)
        self.sp = None
        self.formula: Any = None
        self.syms: dict[str, Any] = {}
        self.formula_problem: str | None = None
        self.sampler: Sampler | None = None
        self.smooth = (
            all(
                op.prim not in KINKS
                and op.prim not in COMPARISON_NAMES
                and (op.prim != CONST or exact_constant(op.value) or op.value in (math.pi, math.e))
                for op in full.ops
            )
            and len(full.ops) <= SIMPLIFY_PROGRAM_LIMIT
        )

    def progress(self) -> str:
        if self.sampler is None or not self.sampler.points:
            return ""
        return f" with {len(self.sampler.points)} points found"

    def _formula(self) -> str | None:
        if self.formula is None and self.formula_problem is None:
            self.sp = sympy_module()
            try:
                (self.formula,) = to_sympy(self.lowered, [self.lowered.value])
                self.syms = symbols(self.lowered)
            except RecursionError as error:
                self.formula_problem = _deep(error)
            except SYMPY_ERRORS as error:
                self.formula_problem = _unrepresentable(error)
        return self.formula_problem

    def component(self, name: str) -> ComponentCheck:
        # Points first: a formula defined nowhere (log(-1 - x*x)) proves nothing, even if
        # simplify would take its complex-valued derivative.
        if self.sampler is None:
            self.sampler = Sampler(
                self.full, self.lowered, self.value_and_grad, self.rng, self.budget
            )
            try:
                self.sampler.sample()
            except Crashed:
                pass
        if self.sampler.crash:
            return ComponentCheck(name, "failed", self.sampler.crash)
        if not self.sampler.points:
            sampler = self.sampler
            return ComponentCheck(
                name,
                "undecided",
                f"no point found where the formula and its gradient are defined and off "
                f"every kink ({sampler.tries} tried: {sampler.undefined} outside the domain, "
                f"{sampler.on_kink} on a kink)",
            )
        problem = self._formula()
        expected = None
        why = ""
        if problem is None:
            try:
                expected = self.sp.diff(self.formula, self.syms[name])
            except RecursionError as error:
                problem = _deep(error)
            except SYMPY_ERRORS as error:
                problem = _unrepresentable(error)
        if expected is not None:
            proved, why = self._symbolic(name, expected)
            if proved:
                return ComponentCheck(name, "symbolic", "simplify(generated - diff) == 0")
        return self._numeric(name, expected, problem, why)

    def _symbolic(self, name: str, expected) -> tuple[bool, str]:
        """simplify(generated - expected) == 0, tried only when cheap and decisive."""
        if not self.smooth:
            return False, "non-smooth" if self._has_kinks() else "inexact constants"
        sp = self.sp
        seconds = min(SIMPLIFY_SECONDS, SIMPLIFY_SHARE * self.budget.left())
        try:
            (generated,) = to_sympy(self.full, [self.full.grads[name]])
            difference = generated - expected
            if difference.atoms(sp.Float):
                return False, "inexact constants"
            if sp.count_ops(difference) > SIMPLIFY_OP_LIMIT:
                return False, "too large for simplify"
            if not self.budget.alarms and sp.count_ops(difference) > 60:
                return False, "too large for simplify without a timer"
            with self.budget.limit(seconds):
                zero = sp.simplify(difference) == 0
        except OutOfTime:
            self.budget.tick()  # the whole budget, or only simplify's share?
            return False, f"simplify took over {seconds:.3g} s"
        except (RecursionError, *SYMPY_ERRORS):
            return False, "simplify failed"
        return zero, "" if zero else "simplify left a difference"

    def _has_kinks(self) -> bool:
        return any(op.prim in KINKS for op in self.full.ops)

    def _numeric(self, name: str, expected, problem: str | None, why: str) -> ComponentCheck:
        sampler = self.sampler
        if problem is not None:
            return ComponentCheck(name, "undecided", problem)
        try:
            function = self.sp.lambdify(
                [self.syms[n] for n in self.full.inputs],
                expected.xreplace({self.sp.zoo: self.sp.nan}),  # where log(0) was taken
                modules=[mp_functions(), "mpmath"],
                cse=True,
                dummify=True,
            )
        except (RecursionError, SyntaxError, MemoryError) as error:
            return ComponentCheck(name, "undecided", _deep(error))
        except Exception as error:  # noqa: BLE001 (sympy's printers raise KeyError and more)
            return ComponentCheck(name, "undecided", _unrepresentable(error))
        agreed, covered = 0, set()
        for point in sampler.chosen():
            self.budget.tick()
            generated = point.grads[name]
            if not math.isfinite(generated):
                continue
            exact = exact_value(function, point, self.full.inputs, _DIGITS)
            if exact is None:
                continue
            tolerance = tolerance_at(point.bounds[name], exact)
            if abs(generated - exact) > tolerance:
                exact = exact_value(function, point, self.full.inputs, 2 * _DIGITS)
                if exact is not None and abs(generated - exact) > tolerance_at(
                    point.bounds[name], exact
                ):
                    return ComponentCheck(
                        name,
                        "failed",
                        f"generated {generated!r} != sympy.diff {float(exact)!r} "
                        f"at {coordinates(point)}",
                        agreed,
                    )
                continue
            if tolerance > 1e-6 * max(abs(float(exact)), 1.0):
                continue  # too ill-conditioned at this point to tell anything
            agreed += 1
            covered.update(point.sides.items())
        sites = sampler.sites
        branches = tuple(
            sites[s].name(label)
            for s, site in enumerate(sites)
            for label in site.labels
            if (s, label) in covered
        )
        missing = tuple(
            sites[s].name(label)
            for s, site in enumerate(sites)
            for label in site.labels
            if not sampler.count.get((s, label))
        )
        if agreed < MIN_POINTS:
            return ComponentCheck(
                name,
                "undecided",
                f"only {agreed} points where both sides are defined and well-conditioned",
                agreed,
                branches,
                missing,
            )
        detail = f"{why + ': ' if why else ''}agrees at {agreed} points"
        if sites:
            detail += f"; branches: {_branch_summary(sites, covered)}"
        if missing:
            detail += f"; never reached: {', '.join(missing)}"
        return ComponentCheck(name, "numeric", detail, agreed, branches, missing)


def _branch_summary(sites: list[Site], covered: set) -> str:
    parts = []
    for s, site in enumerate(sites):
        labels = [label for label in site.labels if (s, label) in covered]
        parts.append(f"{site.text} [{', '.join(labels) or 'none'}]")
    return "; ".join(parts)
