"""Verdicts -> the report: how each gradient component was decided, and the overall verdict."""

from __future__ import annotations

from dataclasses import dataclass

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
