"""IR -> sympy, and the proof that generated gradients equal sympy.diff.

check() confirms each gradient component one of two ways:

- symbolic: simplify(generated - sympy.diff(formula)) == 0, tried only where that
  is cheap and decisive: no kinks, exact constants, a small difference;
- numeric: the compiled function's gradient against sympy.diff of the formula,
  evaluated with mpmath at 30 digits, at points drawn from the formula's own
  domain, with both sides of every kink and `where` visited. Floats and exact
  numbers may differ by what rounding allows: a bound on it is carried op by op
  through the program, so a point too ill-conditioned to tell is skipped, and
  so is a point so near a kink that floats might take the other side.

A time budget bounds all of it (simplify included: SIGALRM interrupts sympy where
the platform allows); what it leaves unproved is "undecided", never passed.
sympy is imported on first use: `import exprgrad` stays fast, and code that
never asks for a proof never pays for it.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..backends.python.evaluate import evaluator
from ..core.ir import CONST, INPUT, Program, const_key, quote
from ..core.primitives import BY_NAME, COMPARISON_NAMES
from ..errors import EvaluationError, SymbolicError

SIMPLIFY_OP_LIMIT = 400  # larger differences go straight to the numeric comparison
SIMPLIFY_PROGRAM_LIMIT = 300  # IR ops of the gradient program worth turning into sympy
SIMPLIFY_SECONDS = 3.0  # at most this long per component, then numbers decide,
SIMPLIFY_SHARE = 0.25  # and at most this share of the time left
_SHORT_DECIMAL = 10

_KINKS = frozenset({"relu", "abs", "min", "max", "clip", "where"})
_EPS = 2.0**-52  # one ulp of 1.0: a generous bound on one rounding
_SUBNORMAL = 5e-324  # absolute rounding below the normal range
_MARGIN = 1e3  # a kink this many error bounds away is on the same side in floats and exactly
_TOLERANCE = 1e3  # generated and exact may differ by this many error bounds
_DIGITS = 30  # mpmath precision for sympy.diff; 60 to confirm a mismatch
WANTED_POINTS = 24  # points compared per component, beyond those that cover branches
PER_BRANCH = 3  # points wanted on each side of each kink
MIN_POINTS = 3  # fewer agreeing points than this proves nothing
_RANDOM_TRIES = 400
_SEEK_TRIES = 160  # probes spent looking for one missing branch side


def _sympy():
    import sympy

    return sympy


def _constant(sp, value: float):
    if math.isnan(value):
        return sp.nan
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    if value == math.pi:
        return sp.pi
    if value == math.e:
        return sp.E
    if value.is_integer() and abs(value) < 2**53:
        return sp.Integer(int(value))
    text = repr(value)
    if len(text) <= _SHORT_DECIMAL:
        return sp.Rational(text)  # a decimal as the formula wrote it (0.5, 1e-3), exactly
    return sp.Float(text, 17)  # a folded constant such as log(2): inexact, and marked so


def _exact_constant(value: float) -> bool:
    """Is the float the very number _constant gives sympy (1.5 yes; 0.1, pi, log(2) no)?"""
    if not math.isfinite(value) or (value.is_integer() and abs(value) < 2**53):
        return True
    text = repr(value)
    return len(text) <= _SHORT_DECIMAL and Fraction(text) == Fraction(value)


def _constant_error(value: float, folded: dict[str, float] | None) -> float:
    if folded is None or const_key(value) not in folded:
        if _exact_constant(value):
            return 0.0
        return _EPS * abs(value) if folded is None else 4 * _EPS * max(abs(value), 1.0)
    return folded[const_key(value)]


def _folded_errors(lowered: Program) -> dict[str, float]:
    """Error bounds of the formula's constants and constant subexpressions, by value: what
    folding made of them is that far from the exact number sympy sees."""
    machine = _Interpreter(lowered)
    vals, errs = machine.run(dict.fromkeys(lowered.inputs, math.nan), len(lowered.ops))
    constant = [False] * len(lowered.ops)
    found: dict[str, float] = {}
    for i, op in enumerate(lowered.ops):
        constant[i] = op.prim == CONST or (op.prim != INPUT and all(constant[a] for a in op.args))
        if constant[i] and vals[i] is not None and op.prim not in COMPARISON_NAMES:
            key = const_key(float(vals[i]))
            found[key] = max(found.get(key, 0.0), errs[i])
    return found


def symbols(program: Program) -> dict[str, Any]:
    sp = _sympy()
    return {name: sp.Symbol(name, real=True) for name in program.inputs}


def to_sympy(program: Program, op_ids: list[int]) -> list[Any]:
    """sympy expressions for the given op ids; inputs become real symbols."""
    sp = _sympy()
    names = symbols(program)
    exprs: list[Any] = []
    for op in program.ops[: max(op_ids) + 1]:
        if op.prim == INPUT:
            exprs.append(names[op.name])
        elif op.prim == CONST:
            exprs.append(_constant(sp, op.value))
        else:
            exprs.append(BY_NAME[op.prim].sympy(sp, *(exprs[a] for a in op.args)))
    return [exprs[i] for i in op_ids]


# --- the report ----------------------------------------------------------------------------

CONFIRMED = frozenset({"symbolic", "numeric"})


@dataclass(frozen=True, slots=True)
class ComponentCheck:
    """One gradient component: how it was decided, and on what evidence."""

    name: str
    method: str  # "symbolic", "numeric", "failed" or "undecided"
    detail: str
    points: int = 0  # points where generated and sympy.diff agreed
    branches: tuple[str, ...] = ()  # branch sides ("relu(a*x) > 0") among those points
    missing: tuple[str, ...] = ()  # branch sides no search reached (maybe unreachable)

    @property
    def confirmed(self) -> bool:
        return self.method in CONFIRMED

    def __str__(self) -> str:
        return f"d/d{self.name}: {self.method} ({self.detail})"


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Each gradient component against sympy.diff of the formula.

    A component is "symbolic" (simplify proved the difference zero), "numeric"
    (equal to high precision at points on every side of every kink found),
    "failed" (a point where they differ: a wrong gradient) or "undecided" (time
    ran out, or no point was found where the formula is defined, or sympy
    cannot take the formula). `ok` holds only when every component is
    confirmed; `failed` and `undecided` tell the two other verdicts apart.
    """

    components: tuple[ComponentCheck, ...]
    note: str = ""  # why a report with nothing confirmed is undecided

    @property
    def ok(self) -> bool:
        return not self.note and all(c.confirmed for c in self.components)

    @property
    def failed(self) -> bool:
        return any(c.method == "failed" for c in self.components)

    @property
    def undecided(self) -> bool:
        return not self.ok and not self.failed

    @property
    def verdict(self) -> str:
        if self.failed:
            names = ", ".join(f"d/d{c.name}" for c in self.components if c.method == "failed")
            return f"GRADIENT MISMATCH in {names}"
        if self.ok:
            return "all components confirmed" if self.components else "no gradient to check"
        pending = [c for c in self.components if not c.confirmed]
        if not pending:
            return f"UNDECIDED: {self.note}"
        names = ", ".join(f"d/d{c.name}" for c in pending)
        return f"UNDECIDED: {names} neither confirmed nor refuted ({pending[0].detail})"

    def __str__(self) -> str:
        return "\n".join([*(str(c) for c in self.components), self.verdict])


# --- the time budget -----------------------------------------------------------------------


class _OutOfTime(BaseException):  # noqa: N818 (not an error: a signal to stop, past sympy's excepts)
    pass


def _alarm(signum, frame):
    raise _OutOfTime


class _Crashed(Exception):  # noqa: N818 (the sampler's way out; the reason is in .crash)
    pass


class _Budget:
    """A deadline for the whole check. limit() interrupts a block, sympy calls included,
    with SIGALRM when this is the main thread of a Unix process; elsewhere the clock is
    read between steps only."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self._ends: list[float] = []
        self._alarms = (
            hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0  # the caller's timer wins
        )
        self._previous: Any = None

    @property
    def alarms(self) -> bool:
        return self._alarms

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def tick(self) -> None:
        if time.monotonic() >= self.deadline:
            raise _OutOfTime

    def _arm(self, end: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, max(end - time.monotonic(), 1e-4))

    @contextmanager
    def limit(self, seconds: float | None = None) -> Iterator[None]:
        end = self.deadline if seconds is None else min(self.deadline, time.monotonic() + seconds)
        if end <= time.monotonic():
            raise _OutOfTime
        if not self._alarms:
            yield
            return
        if not self._ends:
            self._previous = signal.signal(signal.SIGALRM, _alarm)
        self._ends.append(end)
        self._arm(end)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._ends.pop()
            if self._ends:
                self._arm(self._ends[-1])
            else:
                signal.signal(signal.SIGALRM, self._previous)


# --- floats with error bounds, and where the kinks are -------------------------------------


@dataclass(frozen=True, slots=True)
class _Site:
    """A branch point of the forward program: relu, abs, min, max, clip or where."""

    op: int
    prim: str
    text: str
    labels: tuple[str, ...]

    def name(self, label: str) -> str:
        return f"{self.text} {label}"


def _site_labels(prim: str, arity: int) -> tuple[str, ...]:
    if prim in ("relu", "abs"):
        return ("> 0", "< 0")
    if prim == "where":
        return ("true", "false")
    if prim == "clip":
        return ("x", "lo", "hi")
    ordinals = ("1st", "2nd", "3rd")
    return tuple(f"{ordinals[i] if i < 3 else f'{i + 1}th'} wins" for i in range(arity))


class _Interpreter:
    """Runs a program on floats, with a first-order bound on each value's distance from
    the exact formula (rounding, inexact constants), and reads off which side of each
    kink the point lies and whether it is safely away from it."""

    def __init__(self, program: Program, folded: dict[str, float] | None = None):
        self.program = program
        ops = program.ops
        self.calls = [
            None if op.prim in (INPUT, CONST, "where") else evaluator(op.prim, len(op.args))
            for op in ops
        ]
        # A constant as written is exact or one rounding away; a folded one (cos(asin(-1))
        # is 6e-17, not 0) as far as the constant ops it replaced, which `folded` holds.
        self.const_err = [
            0.0 if op.prim != CONST else _constant_error(op.value, folded) for op in ops
        ]
        forward = [i for i, op in enumerate(ops) if not op.in_gradient]
        self.forward_end = max(forward, default=-1) + 1
        self.sites = [
            _Site(
                i,
                op.prim,
                quote(program.source, op) or op.prim,
                _site_labels(op.prim, len(op.args)),
            )
            for i, op in enumerate(ops[: self.forward_end])
            if op.prim in _KINKS and not op.in_gradient
        ]

    def run(self, point: dict[str, float], end: int) -> tuple[list, list]:
        ops, calls = self.program.ops, self.calls
        vals: list[Any] = [None] * end
        errs = [0.0] * end
        for i in range(end):
            op = ops[i]
            prim = op.prim
            if prim == INPUT:
                vals[i] = point[op.name]
            elif prim == CONST:
                vals[i] = op.value
                errs[i] = self.const_err[i]
            elif prim == "where":  # only the chosen branch need be defined
                condition = vals[op.args[0]]
                if condition is not None:
                    pick = op.args[1] if condition else op.args[2]
                    vals[i], errs[i] = vals[pick], errs[pick]
            else:
                args = [vals[a] for a in op.args]
                if None in args:
                    continue
                try:
                    value = calls[i](*args)
                except (ArithmeticError, ValueError):
                    continue
                if isinstance(value, complex):  # ** of a negative number: math.pow raises
                    continue
                vals[i] = value
                errs[i] = self._error(i, args, value, [errs[a] for a in op.args])
        return vals, errs

    def _error(self, i: int, args: list, value: Any, arg_errs: list[float]) -> float:
        prim = self.program.ops[i].prim
        if prim in COMPARISON_NAMES:
            return 0.0
        value = float(value)
        if prim in ("neg", "abs"):
            return arg_errs[0]
        if prim == "relu":
            return arg_errs[0] if args[0] > 0 else 0.0
        if prim in ("min", "max", "clip"):
            for arg, err in zip(args, arg_errs, strict=True):
                if arg == value:
                    return err
            return max(arg_errs)
        rounding = 2 * _EPS * abs(value) + _SUBNORMAL
        if not any(arg_errs):
            return rounding
        if prim in ("add", "sub"):
            return arg_errs[0] + arg_errs[1] + rounding
        if prim == "mul":
            (x, y), (ex, ey) = args, arg_errs
            return abs(y) * ex + abs(x) * ey + ex * ey + rounding
        if prim == "div":
            (x, y), (ex, ey) = args, arg_errs
            if abs(y) <= ey:
                return math.inf
            return (ex + abs(value) * ey) / (abs(y) - ey) + rounding
        total = rounding
        for k, err in enumerate(arg_errs):
            if err:
                total += self._spread(i, args, float(value), k, err)
        return total

    def _spread(self, i: int, args: list, value: float, k: int, err: float) -> float:
        """How far the op moves while argument k moves within its error: sampled across
        the error (cos of a huge, inexact argument may be anything), or, for an error
        below the argument's resolution, the slope over one ulp times the error."""
        call, x = self.calls[i], args[k]

        def at(shifted: float) -> float | None:
            try:
                moved = call(*args[:k], shifted, *args[k + 1 :])
            except (ArithmeticError, ValueError):
                return None
            return None if isinstance(moved, complex) else float(moved)

        worst, resolved = 0.0, False
        for shift in (err, -err, 0.5 * err, -0.5 * err):
            if x + shift == x:
                continue
            moved = at(x + shift)
            if moved is None:
                return math.inf  # the error reaches outside the domain
            worst, resolved = max(worst, abs(moved - value)), True
        if not resolved:
            step = math.ulp(x)
            moved = at(x + step)
            if moved is None:
                moved, step = at(x - step), -step
            if moved is None:
                return math.inf
            worst = abs(moved - value) / abs(step) * err
        return worst if math.isfinite(worst) else math.inf

    def sides(self, vals: list, errs: list, value: int) -> dict[int, tuple[str, bool]]:
        """{site index: (label, too close to the kink)} for the sites the gradient passes
        through: down chosen `where` branches, min/max winners, relu's positive side."""
        ops = self.program.ops
        live = [False] * self.forward_end
        if value < self.forward_end:
            live[value] = True
        for i in reversed(range(self.forward_end)):
            if not live[i] or vals[i] is None:
                continue
            op = ops[i]
            if op.prim == "where":
                live[op.args[1] if vals[op.args[0]] else op.args[2]] = True
            elif op.prim in ("min", "max", "clip"):
                for a in op.args:
                    if vals[a] == vals[i]:
                        live[a] = True
                        break
            elif op.prim == "relu":
                if vals[op.args[0]] > 0:
                    live[op.args[0]] = True
            else:
                for a in op.args:
                    live[a] = True
        found = {}
        for s, site in enumerate(self.sites):
            if live[site.op] and vals[site.op] is not None:
                found[s] = self._side(site, vals, errs)
        return found

    def _side(self, site: _Site, vals: list, errs: list) -> tuple[str, bool]:
        op = self.program.ops[site.op]
        args = op.args

        def close(p: int, q: int | None, exact_tie_ok: bool = False) -> bool:
            if p == q:
                return False  # one value against itself (min(c, c)): a tie everywhere, no kink
            a, b = vals[p], 0.0 if q is None else vals[q]
            err = errs[p] + (0.0 if q is None else errs[q])
            gap = abs(a - b)
            if not math.isfinite(gap) or not math.isfinite(err):
                return True
            if gap == 0 and err == 0:
                return not exact_tie_ok  # an exact tie is the same side everywhere, not a kink
            return gap <= _MARGIN * err + 1e-12 * max(abs(a), abs(b))

        if site.prim in ("relu", "abs"):
            x = args[0]
            return ("> 0" if vals[x] > 0 else "< 0"), close(x, None)
        if site.prim == "where":
            condition = args[0]
            label = "true" if vals[condition] else "false"
            cond_op = self.program.ops[condition]
            if cond_op.prim in COMPARISON_NAMES:
                return label, close(cond_op.args[0], cond_op.args[1], exact_tie_ok=True)
            return label, close(condition, None, exact_tie_ok=True)
        if site.prim == "clip":
            x, lo, hi = args
            if vals[hi] < max(vals[x], vals[lo]):
                top = x if vals[x] >= vals[lo] else lo
                return "hi", close(top, hi) or close(x, lo)
            if vals[x] >= vals[lo]:
                return "x", close(x, lo) or close(x, hi)
            return "lo", close(x, lo) or close(lo, hi)
        winner = next((k for k, a in enumerate(args) if vals[a] == vals[site.op]), None)
        if winner is None:  # NaN
            return site.labels[0], True
        near = any(close(args[winner], a) for k, a in enumerate(args) if k != winner)
        return site.labels[winner], near


# --- points ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Point:
    values: dict[str, float]
    grads: dict[str, float] = field(default_factory=dict)
    bounds: dict[str, float] = field(default_factory=dict)  # error bound of each component
    sides: dict[int, str] = field(default_factory=dict)  # site -> label, where the gradient passes


class _Sampler:
    """Draws points from the formula's domain and searches out every side of every kink."""

    def __init__(self, full: Program, lowered: Program, value_and_grad: Callable, rng, budget):
        self.full = full
        self.inputs = full.inputs
        self.value_and_grad = value_and_grad
        self.rng = rng
        self.budget = budget
        self.machine = _Interpreter(full, _folded_errors(lowered))
        self.sites = self.machine.sites
        constants = {
            abs(op.value)
            for program in (full, lowered)
            for op in program.ops
            if op.prim == CONST and math.isfinite(op.value) and 0 < abs(op.value) < 1e15
        }
        self.constants = sorted(constants)
        self.exact = sorted({0.0, 1.0, -1.0, 2.0, 0.5, *self.constants, *(-c for c in constants)})
        self.points: list[_Point] = []
        self.count: dict[tuple[int, str], int] = {}
        self.tries = 0
        self.crash = ""  # what the compiled function raised, other than EvaluationError
        self.undefined = 0  # probes outside the domain of the compiled function
        self.on_kink = 0  # probes too close to a kink to tell its side

    # one coordinate at several scales, near the formula's constants, or exact
    def _coordinate(self) -> float:
        rng = self.rng
        r = rng.random()
        sign = rng.choice((-1.0, 1.0))
        if r < 0.35:
            return rng.uniform(-2.5, 2.5)
        if r < 0.5:
            return rng.uniform(-30.0, 30.0)
        if r < 0.7:
            return sign * 10 ** rng.uniform(-4.0, 4.0)
        if r < 0.9 and self.constants:
            c = rng.choice(self.constants) * rng.choice((-1.0, 1.0))
            return c + sign * max(1.0, abs(c)) * 10 ** rng.uniform(-3.0, 0.5)
        return rng.choice(self.exact)

    def _draw(self) -> dict[str, float]:
        return {name: self._coordinate() for name in self.inputs}

    def sides_only(self, values: dict[str, float]) -> dict[int, tuple[str, bool]]:
        vals, errs = self.machine.run(values, self.machine.forward_end)
        return self.machine.sides(vals, errs, self.full.value)

    def probe(self, values: dict[str, float]) -> _Point | None:
        """The point, if the compiled function is defined there, finite, and off every kink."""
        self.tries += 1
        try:
            value, grads = self.value_and_grad(*(values[name] for name in self.inputs))
        except (EvaluationError, ArithmeticError, ValueError):
            self.undefined += 1
            return None
        except Exception as error:  # noqa: BLE001 (a crash of generated code is a finding)
            self.crash = f"the generated code raised {type(error).__name__}: {error} at " + (
                ", ".join(f"{n}={v!r}" for n, v in values.items())
            )
            raise _Crashed from None
        if not math.isfinite(value):
            self.undefined += 1
            return None
        vals, errs = self.machine.run(values, len(self.full.ops))
        sides = self.machine.sides(vals, errs, self.full.value)
        if any(near for _, near in sides.values()):
            self.on_kink += 1
            return None
        point = _Point(values, dict(grads), sides={s: label for s, (label, _) in sides.items()})
        for name, op_id in self.full.grads.items():
            mine = vals[op_id]
            if mine is None:
                point.bounds[name] = math.nan  # not interpreted here: a loose comparison only
            elif not math.isfinite(errs[op_id]):
                point.bounds[name] = math.inf  # hopelessly ill-conditioned: no comparison
            else:
                point.bounds[name] = errs[op_id] + abs(float(mine) - grads[name])
        self.points.append(point)
        for s, label in point.sides.items():
            self.count[s, label] = self.count.get((s, label), 0) + 1
        return point

    def sample(self) -> None:
        while self.tries < _RANDOM_TRIES:
            self.budget.tick()
            if len(self.points) >= WANTED_POINTS and self.tries >= 2 * WANTED_POINTS:
                break
            self.probe(self._draw())
        for s, site in enumerate(self.sites):
            for label in site.labels:
                if self.count.get((s, label), 0) < PER_BRANCH:
                    self._seek(s, label)

    def _seek(self, s: int, label: str) -> None:
        """Find points on one side of one kink: a point there (from those seen, or by walking
        from known points along lines), then bisect towards it from a point on another side
        and step off the boundary both ways."""
        budget, rng = self.budget, self.rng
        if not self.points:
            return
        starts = [p for p in self.points if s in p.sides]
        target = next((p.values for p in starts if p.sides[s] == label), None)
        spent = 0
        bases = starts or self.points
        while target is None and spent < _SEEK_TRIES:
            budget.tick()
            base = rng.choice(bases).values
            if rng.random() < 0.5:
                direction = {n: rng.gauss(0.0, 1.0) for n in self.inputs}
            else:
                axis = rng.choice(self.inputs)
                direction = {n: float(n == axis) for n in self.inputs}
            for scale in (0.1, 0.3, 1.0, 3.0, 10.0, 100.0, 1e3, 1e4):
                spent += 1
                t = scale * rng.choice((-1.0, 1.0))
                values = {n: base[n] + t * direction[n] for n in self.inputs}
                side = self.sides_only(values).get(s)
                if side is not None and side[0] == label:
                    target = values
                    break
        if target is None:
            return
        if self.probe(target) is None:
            spent += 1
        others = [p.values for p in starts if p.sides[s] != label]
        while self.count.get((s, label), 0) < PER_BRANCH and spent < _SEEK_TRIES:
            budget.tick()
            if others:
                spent += self._bisect(s, label, rng.choice(others), target)
            for _ in range(3):
                spent += 1
                near = {n: v + rng.gauss(0.0, 1e-3 * (abs(v) + 1e-3)) for n, v in target.items()}
                self.probe(near)
            if not others:
                spent += 10

    def _bisect(self, s: int, label: str, start: dict, target: dict) -> int:
        def at(t: float) -> dict[str, float]:
            return {n: start[n] + t * (target[n] - start[n]) for n in self.inputs}

        def on_target(t: float) -> bool:
            side = self.sides_only(at(t)).get(s)
            return side is not None and side[0] == label

        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if on_target(mid):
                hi = mid
            else:
                lo = mid
        for fraction in (1e-6, 1e-4, 1e-2, 0.1, 0.5):
            self.probe(at(hi + fraction * (1.0 - hi)))
            self.probe(at(lo - fraction * lo))
        return 70

    def chosen(self) -> list[_Point]:
        """Up to PER_BRANCH points for each side seen, then others up to WANTED_POINTS."""
        picked, rest = [], []
        taken: dict[tuple[int, str], int] = {}
        for point in self.points:
            if any(taken.get(side, 0) < PER_BRANCH for side in point.sides.items()):
                for side in point.sides.items():
                    taken[side] = taken.get(side, 0) + 1
                picked.append(point)
            else:
                rest.append(point)
        return picked + rest[: max(0, WANTED_POINTS - len(picked))]


# --- sympy.diff at high precision -----------------------------------------------------------


def _mp_functions() -> dict[str, Any]:
    import mpmath

    def heaviside(x, at_zero=0.5):
        return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else mpmath.mpf(at_zero)

    return {
        "Heaviside": heaviside,
        "sign": mpmath.sign,
        "DiracDelta": lambda x, *k: mpmath.mpf(0) if x != 0 else mpmath.inf,
        "Min": min,
        "Max": max,
    }


def _exact_value(function: Callable, point: _Point, inputs: tuple[str, ...], digits: int):
    """sympy.diff at the point with mpmath, or None where it is not a finite real number."""
    import mpmath

    with mpmath.workdps(digits):
        try:
            result = mpmath.mpmathify(function(*(mpmath.mpf(point.values[n]) for n in inputs)))
        except (ArithmeticError, ValueError, TypeError):
            return None
        if isinstance(result, mpmath.mpc):
            if abs(result.imag) > mpmath.mpf(10) ** (-digits // 2) * (1 + abs(result.real)):
                return None
            result = result.real
        if not mpmath.isfinite(result):
            return None
        return result


def _tolerance(bound: float, exact) -> float:
    if math.isnan(bound):  # no bound from the interpreter (an op it could not run)
        return 1e-6 * (1.0 + abs(float(exact)))
    return _TOLERANCE * bound + 1e-9 * abs(float(exact)) + 1e-300


def _where(point: _Point) -> str:
    return ", ".join(f"{n}={v!r}" for n, v in point.values.items())


# --- check ----------------------------------------------------------------------------------


def _deep(error: BaseException) -> str:
    return f"the formula is too deeply nested for sympy ({type(error).__name__})"


def _unrepresentable(error: BaseException) -> str:
    return f"sympy cannot take the formula ({type(error).__name__}: {error})"


_SYMPY_ERRORS = (TypeError, ValueError, ArithmeticError, AttributeError, NotImplementedError)


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
    budget = _Budget(time_limit)
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
    except _OutOfTime:
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

    def __init__(self, lowered, full, value_and_grad, budget: _Budget, seed: int):
        self.lowered, self.full, self.budget = lowered, full, budget
        self.value_and_grad = value_and_grad
        self.rng = random.Random(seed)
        self.sp = None
        self.formula: Any = None
        self.syms: dict[str, Any] = {}
        self.formula_problem: str | None = None
        self.sampler: _Sampler | None = None
        self.smooth = (
            all(
                op.prim not in _KINKS
                and op.prim not in COMPARISON_NAMES
                and (op.prim != CONST or _exact_constant(op.value) or op.value in (math.pi, math.e))
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
            self.sp = _sympy()
            try:
                (self.formula,) = to_sympy(self.lowered, [self.lowered.value])
                self.syms = symbols(self.lowered)
            except RecursionError as error:
                self.formula_problem = _deep(error)
            except _SYMPY_ERRORS as error:
                self.formula_problem = _unrepresentable(error)
        return self.formula_problem

    def component(self, name: str) -> ComponentCheck:
        # Points first: a formula defined nowhere (log(-1 - x*x)) proves nothing, even if
        # simplify would take its complex-valued derivative.
        if self.sampler is None:
            self.sampler = _Sampler(
                self.full, self.lowered, self.value_and_grad, self.rng, self.budget
            )
            try:
                self.sampler.sample()
            except _Crashed:
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
            except _SYMPY_ERRORS as error:
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
        except _OutOfTime:
            self.budget.tick()  # the whole budget, or only simplify's share?
            return False, f"simplify took over {seconds:.3g} s"
        except (RecursionError, *_SYMPY_ERRORS):
            return False, "simplify failed"
        return zero, "" if zero else "simplify left a difference"

    def _has_kinks(self) -> bool:
        return any(op.prim in _KINKS for op in self.full.ops)

    def _numeric(self, name: str, expected, problem: str | None, why: str) -> ComponentCheck:
        sampler = self.sampler
        if problem is not None:
            return ComponentCheck(name, "undecided", problem)
        try:
            function = self.sp.lambdify(
                [self.syms[n] for n in self.full.inputs],
                expected.xreplace({self.sp.zoo: self.sp.nan}),  # where log(0) was taken
                modules=[_mp_functions(), "mpmath"],
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
            exact = _exact_value(function, point, self.full.inputs, _DIGITS)
            if exact is None:
                continue
            tolerance = _tolerance(point.bounds[name], exact)
            if abs(generated - exact) > tolerance:
                exact = _exact_value(function, point, self.full.inputs, 2 * _DIGITS)
                if exact is not None and abs(generated - exact) > _tolerance(
                    point.bounds[name], exact
                ):
                    return ComponentCheck(
                        name,
                        "failed",
                        f"generated {generated!r} != sympy.diff {float(exact)!r} "
                        f"at {_where(point)}",
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


def _branch_summary(sites: list[_Site], covered: set) -> str:
    parts = []
    for s, site in enumerate(sites):
        labels = [label for label in site.labels if (s, label) in covered]
        parts.append(f"{site.text} [{', '.join(labels) or 'none'}]")
    return "; ".join(parts)


def latex(program: Program, wrt: list[str]) -> str:
    """The formula and its partial derivatives, one LaTeX equation per line."""
    sp = _sympy()
    try:
        syms = symbols(program)
        (value,) = to_sympy(program, [program.value])
        lines = [f"f = {sp.latex(value)}"]
        for name in wrt:
            derivative = sp.diff(value, syms[name])
            lines.append(
                rf"\frac{{\partial f}}{{\partial {sp.latex(syms[name])}}} = "
                f"{sp.latex(derivative)}"
            )
    except RecursionError:
        raise SymbolicError(
            "cannot typeset the formula: it is too deeply nested for sympy"
        ) from None
    except _SYMPY_ERRORS as error:
        raise SymbolicError(
            f"cannot typeset the formula: sympy cannot take it ({type(error).__name__}: {error})"
        ) from None
    return "\n".join(lines)
