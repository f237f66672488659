"""Reverse mode: seed references, random formulas from the table, wrt, second derivatives."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reference import assert_gradients_agree, close

import exprgrad
from exprgrad.backends.python.evaluate import FOLD
from exprgrad.core.ir import Program
from exprgrad.core.lower import lower
from exprgrad.core.optimize import optimize
from exprgrad.core.parsing import parse
from exprgrad.core.primitives import COMPARISON_NAMES, PRIMITIVES
from exprgrad.core.reverse import differentiate

# --- seed references (Karpathy's Hacker's guide) ------------------------------------------


def test_sigmoid_circuit_reference():
    f = exprgrad.compile("sigmoid(a*x + b*y + c)")
    value, grads = f.value_and_grad(a=1, b=2, c=-3, x=-1, y=3)
    assert value == 0.8807970779778823
    assert grads["a"] == -0.10499358540350662


def test_multiply_gate_reference():
    value, grads = exprgrad.compile("a*b").value_and_grad(a=3, b=-1)
    assert value == -3
    assert (grads["a"], grads["b"]) == (-1, 3)
    assert all(isinstance(v, float) for v in (value, *grads.values()))


def test_gradient_descent_on_a_parabola():
    f = exprgrad.compile("3*x**2 - 2*x + 1")
    x, values, xs = 1.0, [], []
    for _ in range(25):
        value, grads = f.value_and_grad(x=x)
        values.append(f"{value:.5}")
        xs.append(f"{x:.5}")
        x -= 0.1 * grads["x"]
    assert values[:8] == [
        "2.0",
        "0.88",
        "0.7008",
        "0.67213",
        "0.66754",
        "0.66681",
        "0.66669",
        "0.66667",
    ]
    assert values[8:] == ["0.66667"] * 17
    assert xs[:8] == ["1.0", "0.6", "0.44", "0.376", "0.3504", "0.34016", "0.33606", "0.33443"]
    assert f"{x:.5}" == "0.33333"


def test_hinge_seed():
    f = exprgrad.compile("min(1, label*(a*x + b*y + c))")
    assert f.inputs == ("label", "a", "x", "b", "y", "c")
    value, grads = f.value_and_grad(a=1, b=-2, c=-1, x=1.2, y=0.7, label=1)
    assert close(value, -1.2, 1e-15)
    assert grads == pytest.approx(
        {"label": -1.2, "a": 1.2, "x": 1.0, "b": 0.7, "y": -2.0, "c": 1.0}, rel=1e-15
    )
    assert f.value_and_grad(a=1, b=0, c=5, x=1, y=0, label=1) == (
        1.0,
        {"label": 0.0, "a": 0.0, "x": 0.0, "b": 0.0, "y": 0.0, "c": 0.0},
    )


# --- wrt -----------------------------------------------------------------------------------


def test_wrt_restricts_and_prunes_the_backward_code():
    src = "min(1, label*(a*x + b*y + c))"
    full = exprgrad.compile(src)
    part = exprgrad.compile(src, wrt=["a", "b", "c"])
    point = dict(a=1, b=-2, c=-1, x=1.2, y=0.7, label=1)
    assert set(part.grad(**point)) == {"a", "b", "c"}
    assert part.grad(**point) == {k: full.grad(**point)[k] for k in "abc"}
    backward = [op for op in part.program.ops if op.in_gradient]
    assert len(backward) < len([op for op in full.program.ops if op.in_gradient])
    assert "x_grad" not in part.source and "label_grad" not in part.source
    assert exprgrad.compile(src, wrt="a, c").wrt == ("a", "c")
    assert exprgrad.compile(src, wrt=[]).grad(**point) == {}


def test_input_that_does_not_reach_the_value_gets_zero():
    f = exprgrad.compile("where(1 < 2, a, b)")
    assert f.inputs == ("a", "b")
    assert f.grad(a=3.0, b=4.0) == {"a": 1.0, "b": 0.0}


def test_shared_subexpressions_accumulate():
    f = exprgrad.compile("z = a*x\nz*z + z")
    assert f.grad(a=2.0, x=3.0) == {"a": 3.0 * (2 * 6 + 1), "x": 2.0 * (2 * 6 + 1)}


# --- random formulas built from the table -------------------------------------------------

# Domain guards keep random formulas inside where they are defined; everything
# else is spelled from the table, so a new primitive is fuzzed as soon as it exists.
GUARDED = {
    "log": "log(1.5 + {0}*{0})",
    "sqrt": "sqrt(0.5 + {0}*{0})",
    "log1p": "log1p({0}*{0})",
    "asin": "asin(0.9*tanh({0}))",
    "acos": "acos(0.9*tanh({0}))",
    "exp": "exp(tanh({0}))",
    "sinh": "sinh(tanh({0}))",
    "cosh": "cosh(tanh({0}))",
    "expm1": "expm1(tanh({0}))",
    "tan": "tan(tanh({0}))",
    "pow": "pow(1 + {0}*{0}, tanh({1}))",
    "div": "({0} / (1 + {1}*{1}))",
    "powi": "(tanh({0}) ** 3)",
    "neg": "(-{0})",
    "hypot": "hypot({0}, 1 + {1}*{1})",
    "atan2": "atan2({0}, 1 + {1}*{1})",
}


def _templates() -> list[str]:
    templates = []
    for p in PRIMITIVES:
        if p.arrays:  # the numpy backend's: tests/test_against_jax.py
            continue
        if p.name in COMPARISON_NAMES:
            templates.append(f"where({{0}} {p.symbol} {{1}}, {{0}}, {{1}})")
        elif p.name in GUARDED:
            templates.append(GUARDED[p.name])
        elif p.symbol:
            templates.append(f"({{0}} {p.symbol} {{1}})")
        elif p.arity is None:
            templates += [f"{p.name}({{0}}, {{1}})", f"{p.name}({{0}}, {{1}}, {{2}})"]
        else:
            templates.append(f"{p.name}({', '.join(f'{{{i}}}' for i in range(p.arity))})")
    return templates


TEMPLATES = _templates()
LEAVES = st.sampled_from(["a", "b", "c", "a", "b", "c", "0.5", "2", "1.5", "pi", "-1"])


def _apply(template: str, operands: list[str]) -> str:
    return template.format(*operands)


def expressions(leaves=LEAVES):
    def extend(children):
        return st.builds(
            _apply, st.sampled_from(TEMPLATES), st.lists(children, min_size=3, max_size=3)
        )

    return st.recursive(leaves, extend, max_leaves=8)


@st.composite
def programs(draw):
    """One to three statements; later ones may use the intermediates before them."""
    count = draw(st.integers(1, 3))
    lines, names = [], []
    for i in range(count):
        pool = st.sampled_from(["a", "b", "c", *names]) if names else LEAVES
        expression = draw(expressions(st.one_of(LEAVES, pool)))
        if i < count - 1:
            lines.append(f"v{i} = {expression}")
            names.append(f"v{i}")
        else:
            lines.append(expression)
    return "\n".join(lines)


def _point(f, seed):
    rng = random.Random(seed)
    return {name: rng.uniform(-2.0, 2.0) for name in f.inputs}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 10**6))
def test_random_programs_three_ways(source, seed):
    f = exprgrad.compile(source)
    assume(f.inputs)
    point = _point(f, seed)
    try:
        value = f(**point)
    except exprgrad.EvaluationError:
        assume(False)
    assume(abs(value) < 1e6)
    assert_gradients_agree(f, point)


@settings(max_examples=150, deadline=None)
@given(programs(), st.integers(0, 10**6))
def test_random_programs_against_differences(source, seed):
    # Cheaper than the three-way check, so it runs on many more formulas.
    f = exprgrad.compile(source)
    assume(f.inputs)
    point = _point(f, seed)
    try:
        f(**point)
    except exprgrad.EvaluationError:
        assume(False)
    assert_gradients_agree(f, point, use_sympy=False)


# --- the gradient program is IR again: differentiate it once more -------------------------


def second_derivative(source: str, first: str, second: str) -> Program:
    forward = optimize(lower(parse(source)), FOLD)
    gradient = optimize(differentiate(forward, [first]), FOLD)
    as_value = Program(gradient.ops, gradient.source, gradient.inputs, gradient.grads[first])
    return optimize(differentiate(optimize(as_value, FOLD), [second]), FOLD)


@pytest.mark.parametrize(
    "source",
    [
        "sigmoid(a*x + b)",
        "a**3*log(x)",
        "tanh(a*x)*exp(x)",
        "softplus(a - x*x)",
        "hypot(a, x)*atan2(x, a)",
    ],
)
def test_gradient_program_can_be_differentiated_again(source):
    sp = pytest.importorskip("sympy")
    from exprgrad.backends.python import codegen
    from exprgrad.tools.check import to_sympy

    for first, second in (("a", "a"), ("a", "x"), ("x", "x")):
        hessian_entry = second_derivative(source, first, second)
        forward = optimize(lower(parse(source)), FOLD)
        (expr,) = to_sympy(forward, [forward.value])
        expected = sp.diff(expr, sp.Symbol(first, real=True), sp.Symbol(second, real=True))
        (got,) = to_sympy(hessian_entry, [hessian_entry.grads[second]])
        for values in ({"a": 0.7, "x": 1.3, "b": 0.2}, {"a": -0.4, "x": 0.9, "b": -1.1}):
            point = {sp.Symbol(name, real=True): values[name] for name in forward.inputs}
            assert close(float(got.evalf(subs=point)), float(expected.evalf(subs=point)))
        assert codegen.python_source(hessian_entry, hessian_entry).source
