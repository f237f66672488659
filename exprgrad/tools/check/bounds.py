"""A program and a point -> floats with error bounds, and which side of each kink it is on.

Kinks are what the table's rows say they are (`kink`, `selects`, `zero_below`,
`clamps`), so no primitive is named here but `where`, which is structure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...backends.python.evaluate import evaluator
from ...core.ir import CONST, INPUT, Program, const_key, quote
from ...core.primitives import BY_NAME, COMPARISON_NAMES, PRIMITIVES, Primitive
from .sympy_bridge import exact_constant

KINKS = frozenset(p.name for p in PRIMITIVES if p.kink)
_EPS = 2.0**-52  # one ulp of 1.0: a generous bound on one rounding
_SUBNORMAL = 5e-324  # absolute rounding below the normal range
_MARGIN = 1e3  # a kink this many error bounds away is on the same side in floats and exactly
_CLAMP_SIDES = ("x", "lo", "hi")  # a clamp's arguments by role: value, lower and upper bound


def _constant_error(value: float, folded: dict[str, float] | None) -> float:
    if folded is None or const_key(value) not in folded:
        if exact_constant(value):
            return 0.0
        return _EPS * abs(value) if folded is None else 4 * _EPS * max(abs(value), 1.0)
    return folded[const_key(value)]


def folded_errors(lowered: Program) -> dict[str, float]:
    """Error bounds of the formula's constants and constant subexpressions, by value: what
    folding made of them is that far from the exact number sympy sees."""
    machine = Interpreter(lowered)
    vals, errs = machine.run(dict.fromkeys(lowered.inputs, math.nan), len(lowered.ops))
    constant = [False] * len(lowered.ops)
    found: dict[str, float] = {}
    for i, op in enumerate(lowered.ops):
        constant[i] = op.prim == CONST or (op.prim != INPUT and all(constant[a] for a in op.args))
        if constant[i] and vals[i] is not None and op.prim not in COMPARISON_NAMES:
            key = const_key(float(vals[i]))
            found[key] = max(found.get(key, 0.0), errs[i])
    return found


@dataclass(frozen=True, slots=True)
class Site:
    """A branch point of the forward program: an op whose row has a kink."""

    op: int
    prim: str
    text: str
    labels: tuple[str, ...]

    def name(self, label: str) -> str:
        return f"{self.text} {label}"


def _site_labels(row: Primitive, arity: int) -> tuple[str, ...]:
    if row.kink == "sign":
        return ("> 0", "< 0")
    if row.kink == "branch":
        return ("true", "false")
    if row.clamps:
        return _CLAMP_SIDES
    ordinals = ("1st", "2nd", "3rd")
    return tuple(f"{ordinals[i] if i < 3 else f'{i + 1}th'} wins" for i in range(arity))


class Interpreter:
    """Runs a program on floats, with a first-order bound on each value's distance from
    the exact formula (rounding, inexact constants), and reads off which side of each
    kink the point lies and whether it is safely away from it."""

    def __init__(self, program: Program, folded: dict[str, float] | None = None):
        self.program = program
        ops = program.ops
        self.rows = [None if op.prim in (INPUT, CONST) else BY_NAME[op.prim] for op in ops]
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
            Site(
                i,
                op.prim,
                quote(program.source, op) or op.prim,
                _site_labels(self.rows[i], len(op.args)),
            )
            for i, op in enumerate(ops[: self.forward_end])
            if op.prim in KINKS and not op.in_gradient
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
        row = self.rows[i]
        if prim == "neg":
            return arg_errs[0]
        if row.kink == "sign":  # x or -x exactly, or a zero_below row's exact 0
            return arg_errs[0] if args[0] > 0 or not row.zero_below else 0.0
        if row.selects:
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
        through: down chosen `where` branches, selected winners, a zero_below row's
        positive side."""
        ops, rows = self.program.ops, self.rows
        live = [False] * self.forward_end
        if value < self.forward_end:
            live[value] = True
        for i in reversed(range(self.forward_end)):
            if not live[i] or vals[i] is None:
                continue
            op, row = ops[i], rows[i]
            if op.prim == "where":
                live[op.args[1] if vals[op.args[0]] else op.args[2]] = True
            elif row is not None and row.selects:
                for a in op.args:
                    if vals[a] == vals[i]:
                        live[a] = True
                        break
            elif row is not None and row.zero_below:
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

    def _side(self, site: Site, vals: list, errs: list) -> tuple[str, bool]:
        row = self.rows[site.op]
        args = self.program.ops[site.op].args

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

        if row.kink == "sign":
            x = args[0]
            return ("> 0" if vals[x] > 0 else "< 0"), close(x, None)
        if row.kink == "branch":
            condition = args[0]
            label = "true" if vals[condition] else "false"
            cond_op = self.program.ops[condition]
            if cond_op.prim in COMPARISON_NAMES:
                return label, close(cond_op.args[0], cond_op.args[1], exact_tie_ok=True)
            return label, close(condition, None, exact_tie_ok=True)
        if row.clamps:  # max(x, lo) (a tie keeps x), then min with hi (a tie keeps that)
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
