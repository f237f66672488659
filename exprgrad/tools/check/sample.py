"""A compiled formula -> points from its domain, on every side of every kink it has.

Random points at several scales and near the formula's constants first, then, for
each kink side still missing, a walk from known points along lines to one point
there, bisection towards it from another side, and steps off the boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ...core.ir import CONST, Program
from ...errors import EvaluationError
from .bounds import Interpreter, folded_errors

WANTED_POINTS = 24  # points compared per component, beyond those that cover branches
PER_BRANCH = 3  # points wanted on each side of each kink
_RANDOM_TRIES = 400
_SEEK_TRIES = 160  # probes spent looking for one missing branch side


class Crashed(Exception):  # noqa: N818 (the sampler's way out; the reason is in .crash)
    pass


@dataclass(slots=True)
class Point:
    values: dict[str, float]
    grads: dict[str, float] = field(default_factory=dict)
    bounds: dict[str, float] = field(default_factory=dict)  # error bound of each component
    sides: dict[int, str] = field(default_factory=dict)  # site -> label, where the gradient passes


class Sampler:
    """Draws points from the formula's domain and searches out every side of every kink."""

    def __init__(self, full: Program, lowered: Program, value_and_grad: Callable, rng, budget):
        self.full = full
        self.inputs = full.inputs
        self.value_and_grad = value_and_grad
        self.rng = rng
        self.budget = budget
        self.machine = Interpreter(full, folded_errors(lowered))
        self.sites = self.machine.sites
        constants = {
            abs(op.value)
            for program in (full, lowered)
            for op in program.ops
            if op.prim == CONST and math.isfinite(op.value) and 0 < abs(op.value) < 1e15
        }
        self.constants = sorted(constants)
        self.exact = sorted({0.0, 1.0, -1.0, 2.0, 0.5, *self.constants, *(-c for c in constants)})
        self.points: list[Point] = []
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

    def probe(self, values: dict[str, float]) -> Point | None:
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
            raise Crashed from None
        if not math.isfinite(value):
            self.undefined += 1
            return None
        vals, errs = self.machine.run(values, len(self.full.ops))
        sides = self.machine.sides(vals, errs, self.full.value)
        if any(near for _, near in sides.values()):
            self.on_kink += 1
            return None
        point = Point(values, dict(grads), sides={s: label for s, (label, _) in sides.items()})
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

    def chosen(self) -> list[Point]:
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
