"""References for values and gradients, and what each one verified.

Three check exprgrad's gradient code from its own IR: sympy.diff of the
formula's sympy form, central differences of the generated forward(), and
jax.grad of the *forward* IR interpreted with a table of jax functions (so
none of them shares exprgrad's derivative rules, reverse pass or code
generator). Two more, in tests/independent.py, read the formula text with
their own parser and share nothing at all with exprgrad: mpmath at 40 digits
(value, and mpmath.diff for the gradient) and jax in float64.

Every comparison is counted in VERIFIED, every component a reference could
not decide in SKIPPED ("reference: why"), so a test can show that no
reference was silently dropped (tests/test_independent.py does).
"""

from __future__ import annotations

import math
from collections import Counter

import independent
import pytest

import exprgrad
from exprgrad.core.ir import CONST, INPUT

REFERENCES = ("sympy", "central differences", "jax-of-IR", "independent-mpmath", "independent-jax")
VERIFIED: Counter[str] = Counter()  # reference -> values and gradient components it confirmed
SKIPPED: Counter[str] = Counter()  # "reference: why" -> components it could not decide

try:
    import jax
    import jax.numpy as jnp
    import jax.scipy.special

    jax.config.update("jax_enable_x64", True)
except ImportError:  # jax is a test extra; CI installs it
    jax = None


def _jax_table():
    def fold(function):
        def apply(*xs):
            out = xs[0]
            for x in xs[1:]:
                out = function(out, x)
            return out

        return apply

    return {
        "add": jnp.add,
        "sub": jnp.subtract,
        "mul": jnp.multiply,
        "div": jnp.divide,
        "neg": jnp.negative,
        "pow": jnp.power,
        "powi": jnp.power,
        "exp": jnp.exp,
        "log": jnp.log,
        "sqrt": jnp.sqrt,
        "sin": jnp.sin,
        "cos": jnp.cos,
        "tan": jnp.tan,
        "asin": jnp.arcsin,
        "acos": jnp.arccos,
        "atan": jnp.arctan,
        "sinh": jnp.sinh,
        "cosh": jnp.cosh,
        "tanh": jnp.tanh,
        "asinh": jnp.arcsinh,
        "acosh": jnp.arccosh,
        "atanh": jnp.arctanh,
        "abs": jnp.abs,
        "sigmoid": jax.nn.sigmoid,
        "relu": jax.nn.relu,
        "softplus": jax.nn.softplus,
        "log1p": jnp.log1p,
        "expm1": jnp.expm1,
        "erf": jax.scipy.special.erf,
        "erfc": jax.scipy.special.erfc,
        "hypot": jnp.hypot,
        "atan2": jnp.arctan2,
        "clip": lambda x, lo, hi: jnp.minimum(jnp.maximum(x, lo), hi),
        "where": jnp.where,
        "min": fold(jnp.minimum),
        "max": fold(jnp.maximum),
        "lt": jnp.less,
        "le": jnp.less_equal,
        "gt": jnp.greater,
        "ge": jnp.greater_equal,
        "eq": jnp.equal,
        "ne": jnp.not_equal,
    }


def jax_of_ir(program, table, axis_prims=frozenset(), number=None):
    """The program interpreted op by op with jax functions: evaluate(*values), values in
    program.inputs order. A primitive in axis_prims with a second operand takes it as a
    constant axis= keyword (the array reductions). number: what a constant becomes
    (jnp.float64 by default; float keeps conv2d's parameters static under jax.jit)."""
    number = number or jnp.float64

    def evaluate(*values):
        by_name = dict(zip(program.inputs, values, strict=True))
        results = []
        for op in program.ops:
            if op.prim == INPUT:
                results.append(by_name[op.name])
            elif op.prim == CONST:
                results.append(number(op.value))
            elif op.prim in axis_prims and len(op.args) == 2:
                axis = int(program.ops[op.args[1]].value)
                results.append(table[op.prim](results[op.args[0]], axis=axis))
            else:
                results.append(table[op.prim](*(results[a] for a in op.args)))
        return results[program.value] * 1.0

    return evaluate


def jax_value_and_grad(function: exprgrad.Function, point: dict[str, float]):
    """jax.grad of exprgrad's forward IR, interpreted op by op with jax functions."""
    if jax is None:
        pytest.skip("jax is not installed")
    program = function.forward_program
    evaluate = jax_of_ir(program, _jax_table())
    args = [jnp.float64(point[name]) for name in program.inputs]
    value, grads = jax.value_and_grad(evaluate, argnums=tuple(range(len(args))))(*args)
    by_name = dict(zip(program.inputs, (float(g) for g in grads), strict=True))
    return float(value), {name: by_name[name] for name in function.wrt}


def central_difference(
    function: exprgrad.Function, point: dict[str, float], name: str, step: float
) -> float:
    h = step * max(1.0, abs(point[name]))
    up = dict(point, **{name: point[name] + h})
    down = dict(point, **{name: point[name] - h})
    return (function(**up) - function(**down)) / (2 * h)


def finite_difference_grad(function: exprgrad.Function, point: dict[str, float]):
    """Central differences at two step sizes; None for a component where they disagree
    (the point sits next to a kink, where a difference quotient means nothing)."""
    grads = {}
    for name in function.wrt:
        coarse = central_difference(function, point, name, 1e-5)
        fine = central_difference(function, point, name, 1e-6)
        grads[name] = fine if close(coarse, fine, 1e-4) else None
    return grads


def sympy_grad(function: exprgrad.Function, point: dict[str, float]):
    """sympy.diff of the formula, evaluated at the point; None where sympy has no number."""
    import sympy as sp

    expr = function.to_sympy()
    subs = {sp.Symbol(name, real=True): sp.Float(point[name], 30) for name in function.inputs}
    grads = {}
    for name in function.wrt:
        derivative = sp.diff(expr, sp.Symbol(name, real=True))
        try:
            value = complex(derivative.evalf(30, subs=subs))
        except (TypeError, ValueError):
            value = None
        grads[name] = (
            value.real
            if value is not None and abs(value.imag) < 1e-12 and (math.isfinite(value.real))
            else None
        )
    return grads


def close(a: float, b: float, rel: float = 1e-7, abs_tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


def assert_gradients_agree(
    function: exprgrad.Function,
    point: dict[str, float],
    *,
    use_sympy: bool = True,
    use_jax: bool = True,
    use_independent: bool = True,
) -> None:
    """exprgrad's value and gradient against sympy, central differences, jax and the
    independent references (use_jax=False leaves out both jax references)."""
    value, grads = function.value_and_grad(**point)
    assert set(grads) == set(function.wrt)
    assert close(function(**point), value, 1e-12, 1e-300)
    fd = finite_difference_grad(function, point)
    for name, expected in fd.items():
        if expected is None:
            SKIPPED["central differences: two steps disagree (a kink)"] += 1
            continue
        assert close(grads[name], expected, 1e-4, 1e-6), (name, grads[name], expected, "fd")
        VERIFIED["central differences"] += 1
    if use_sympy:
        for name, expected in sympy_grad(function, point).items():
            if expected is None:
                SKIPPED["sympy: no real number"] += 1
                continue
            assert close(grads[name], expected), (name, grads[name], expected, "sympy")
            VERIFIED["sympy"] += 1
    if use_jax and jax is None:
        SKIPPED["jax-of-IR: jax is not installed"] += 1 + len(grads)
    elif use_jax:
        jax_value, jax_grads = jax_value_and_grad(function, point)
        assert close(value, jax_value), (value, jax_value, "jax value")
        for name, expected in jax_grads.items():
            assert close(grads[name], expected), (name, grads[name], expected, "jax")
        VERIFIED["jax-of-IR"] += 1 + len(jax_grads)
    if use_independent:
        assert_independent_agree(function, point, use_jax=use_jax)


# --- the independent references: from the formula text -----------------------------------


def _agrees(got: float, expected: float, scale: float, rel: float = 1e-9) -> bool:
    if math.isnan(expected):
        return math.isnan(got)
    # rounding error in float64 code grows with the largest magnitude it computed
    return math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12 * max(1.0, scale))


def _skip(references: tuple[str, ...], why: str, count: int) -> None:
    for reference in references:
        SKIPPED[f"{reference}: {why}"] += count


BOTH = ("independent-mpmath", "independent-jax")


def assert_independent_agree(
    function: exprgrad.Function,
    point: dict[str, float],
    *,
    use_jax: bool = True,
) -> None:
    """exprgrad against tests/independent.py, which parses and evaluates the formula text itself.

    Where the reference finds the formula undefined at the point, exprgrad must raise
    EvaluationError; where it is defined, exprgrad must give its value, and its gradient
    too unless a component is infinite or undefined there. Values and gradient
    components agree to about 1e-9, except next to kinks (counted in SKIPPED)."""
    program = independent.parse(function.formula)
    assert program.inputs == function.inputs, (program.inputs, function.inputs)
    wrt, where = function.wrt, f"{function.formula!r} at {point}"
    count = 1 + len(wrt)
    try:
        mp = independent.mp_evaluate(program, point)
    except independent.OutOfRange:
        return _skip(BOTH, "outside float64's range", count)
    except independent.Undefined as error:
        if error.marginal:
            return _skip(BOTH, "at the edge of the domain", count)
        for call in (function, function.value_and_grad):
            try:
                call(**point)
            except exprgrad.EvaluationError:
                continue
            raise AssertionError(
                f"{where}: exprgrad gives a value; the reference: {error}"
            ) from None
        VERIFIED["independent-mpmath"] += 1
        return _skip(BOTH, "undefined at the point", count - 1)

    if not mp.conditioned:
        return _skip(BOTH, "ill-conditioned: float64 rounding changes the result", count)
    near = mp.near(trust_exact=False)
    blocked = frozenset().union(*(kink.inputs for kink in near))
    try:
        value = function(**point)
    except exprgrad.EvaluationError as error:
        if any(kink.kind == "edge" and not kink.exact for kink in near):
            return _skip(BOTH, "at the edge of the domain", count)
        raise AssertionError(
            f"{where}: exprgrad raised '{error}'; the value is {mp.value}"
        ) from None

    mp_grads: dict[str, float | None] = {}
    for name in wrt:
        if name not in blocked:
            try:
                mp_grads[name] = independent.mp_gradient(program, point, name)
            except (independent.Undefined, independent.OutOfRange):
                mp_grads[name] = None
    grads: dict[str, float] | None
    try:
        _, grads = function.value_and_grad(**point)
    except exprgrad.EvaluationError as error:
        singular = [kink.what for kink in near if kink.kind == "edge" and kink.inputs]
        infinite = [name for name, g in mp_grads.items() if g is None or not abs(g) < 1e300]
        assert singular or infinite, f"{where}: the gradient raised '{error}'"
        grads = None
        _skip(BOTH, "the gradient is infinite or undefined", len(wrt))

    scale = max(mp.scale, *(abs(g) for g in mp_grads.values() if g is not None), 0.0)
    if any(kink.kind == "jump" for kink in near):
        SKIPPED["independent-mpmath: the value jumps next to the point"] += 1
    else:
        expected = float(mp.value)
        assert _agrees(value, expected, mp.scale), f"{where}: value {value}, mpmath {expected}"
        VERIFIED["independent-mpmath"] += 1
    for name in wrt if grads is not None else ():
        expected = mp_grads.get(name)
        if name in blocked:
            SKIPPED["independent-mpmath: next to a kink"] += 1
        elif expected is None or not math.isfinite(expected):
            SKIPPED["independent-mpmath: not a finite number"] += 1
        else:
            got = grads[name]
            assert _agrees(got, expected, scale, 1e-8), (
                f"{where}: d/d{name} {got}, mpmath {expected}"
            )
            VERIFIED["independent-mpmath"] += 1

    if not use_jax:
        return None
    if independent.jax is None:
        return _skip(("independent-jax",), "jax is not installed", count)
    try:
        ev, jax_grads = independent.jax_value_and_grad(program, point, wrt)
    except (independent.Undefined, independent.OutOfRange) as error:
        return _skip(("independent-jax",), f"float64 evaluation: {type(error).__name__}", count)
    near = ev.near(trust_exact=True)
    blocked = frozenset().union(*(kink.inputs for kink in near))
    if any(kink.kind == "jump" for kink in near):
        SKIPPED["independent-jax: the value jumps next to the point"] += 1
    else:
        assert _agrees(value, ev.value, ev.scale), f"{where}: value {value}, jax {ev.value}"
        if ev.exact and value == 0:  # both computed exactly: the zero's sign must match too
            assert math.copysign(1, value) == math.copysign(1, ev.value), (where, value, ev.value)
        VERIFIED["independent-jax"] += 1
    for name in wrt if grads is not None else ():
        expected = jax_grads[name]
        if name in blocked:
            SKIPPED["independent-jax: next to a kink"] += 1
        elif not math.isfinite(expected):
            SKIPPED["independent-jax: not a finite number"] += 1
        else:
            got = grads[name]
            assert _agrees(got, expected, scale), f"{where}: d/d{name} {got}, jax {expected}"
            VERIFIED["independent-jax"] += 1
    return None
