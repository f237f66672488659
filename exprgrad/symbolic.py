"""IR -> sympy, and the proof that generated gradients equal sympy.diff.

sympy is imported on first use: `import exprgrad` stays fast, and code that
never asks for a proof never pays for it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from .ir import CONST, INPUT, Program
from .primitives import BY_NAME

SIMPLIFY_OP_LIMIT = 400  # larger differences go straight to the numeric comparison
_SHORT_DECIMAL = 10


def _NON_SMOOTH(sp):  # noqa: N802 (a constant that needs the lazily imported module)
    return (sp.Piecewise, sp.Min, sp.Max, sp.Heaviside, sp.DiracDelta, sp.sign)


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


@dataclass(frozen=True, slots=True)
class ComponentCheck:
    name: str
    method: str  # "symbolic", "numeric" or "failed"
    detail: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Which way each gradient component was confirmed against sympy.diff."""

    components: tuple[ComponentCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.method != "failed" for c in self.components)

    def __str__(self) -> str:
        lines = [f"d/d{c.name}: {c.method} ({c.detail})" for c in self.components]
        lines.append("all components confirmed" if self.ok else "GRADIENT MISMATCH")
        return "\n".join(lines)


def _number(sp, expr, subs) -> complex | None:
    try:
        value = complex(expr.evalf(subs=subs))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        return None
    return value


def _compare_numerically(
    sp, generated, expected, syms, rng: random.Random, wanted: int = 12, tries: int = 400
) -> tuple[bool, str]:
    agreed = 0
    for _ in range(tries):
        subs = {s: sp.Float(rng.uniform(-2.5, 2.5)) for s in syms}
        a, b = _number(sp, generated, subs), _number(sp, expected, subs)
        if a is None or b is None or abs(a.imag) > 1e-12 or abs(b.imag) > 1e-12:
            continue  # outside the domain at this point (log of a negative, a kink, ...)
        if abs(a - b) > 1e-8 * (1 + max(abs(a), abs(b))):
            where = ", ".join(f"{s}={float(v):.6g}" for s, v in subs.items())
            return False, f"{a.real!r} != {b.real!r} at {where}"
        agreed += 1
        if agreed == wanted:
            break
    if agreed == 0:
        return False, "no random point inside the domain"
    return True, f"agrees at {agreed} random points"


def check(full: Program, formula: Any, seed: int = 0) -> CheckReport:
    """Prove each gradient component of `full` equal to sympy.diff of the formula's
    sympy expression (built from the IR before folding, so its constants are exact)."""
    sp = _sympy()
    syms = symbols(full)
    names = list(full.grads)
    grads = to_sympy(full, list(full.grads.values())) if names else []
    rng = random.Random(seed)
    results = []
    for name, generated in zip(names, grads, strict=True):
        expected = sp.diff(formula, syms[name])
        difference = generated - expected
        # simplify can take minutes on Piecewise/Min/Max and rarely decides them, and
        # cannot prove anything exact about a folded constant such as log(2).
        smooth = not difference.has(*_NON_SMOOTH(sp))
        exact = not difference.atoms(sp.Float)
        if (
            smooth
            and exact
            and sp.count_ops(difference) <= SIMPLIFY_OP_LIMIT
            and (sp.simplify(difference) == 0)
        ):
            results.append(ComponentCheck(name, "symbolic", "simplify(generated - diff) == 0"))
            continue
        ok, detail = _compare_numerically(sp, generated, expected, list(syms.values()), rng)
        if not smooth:
            detail = f"non-smooth, {detail}"
        elif not exact:
            detail = f"inexact constants, {detail}"
        results.append(ComponentCheck(name, "numeric" if ok else "failed", detail))
    return CheckReport(tuple(results))


def latex(program: Program, wrt: list[str]) -> str:
    """The formula and its partial derivatives, one LaTeX equation per line."""
    sp = _sympy()
    syms = symbols(program)
    (value,) = to_sympy(program, [program.value])
    lines = [f"f = {sp.latex(value)}"]
    for name in wrt:
        derivative = sp.diff(value, syms[name])
        lines.append(
            rf"\frac{{\partial f}}{{\partial {sp.latex(syms[name])}}} = "
            f"{sp.latex(derivative)}"
        )
    return "\n".join(lines)
