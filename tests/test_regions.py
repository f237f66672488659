"""`where` computes only the branch it picks: regions, lazy code, gradients kept in branches."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reference import assert_gradients_agree, central_difference, close

import exprgrad
from exprgrad.backends.python.evaluate import FOLD
from exprgrad.core import regions
from exprgrad.core.lower import lower
from exprgrad.core.optimize import optimize
from exprgrad.core.parsing import parse


def forward(source: str):
    return optimize(lower(parse(source)), FOLD)


# Hand-written guarded code, as a careful person writes it: (value, {input: gradient}).


def guarded_log(x):
    return (math.log(x), {"x": 1 / x}) if x > 0 else (0.0, {"x": 0.0})


def guarded_reciprocal(x):
    return (1 / x, {"x": -(1 / x) / x}) if x != 0 else (0.0, {"x": 0.0})


def guarded_sqrt(x):
    return (math.sqrt(x), {"x": 0.5 / math.sqrt(x)}) if x > 0 else (0.0, {"x": 0.0})


def guarded_nested(x):
    if x > 0:
        if x > 1:
            return math.log(x - 1), {"x": 1 / (x - 1)}
        return math.sqrt(x), {"x": 0.5 / math.sqrt(x)}
    return 0.0, {"x": 0.0}


def safe_ratio(x, y):
    # y / x where x is nonzero, else y: the gradient for y never sees 1/0
    if x != 0:
        return y / x, {"x": -(y / x) / x, "y": 1 / x}
    return y, {"x": 0.0, "y": 1.0}


CASES = [
    ("where(x > 0, log(x), 0)", guarded_log),
    ("where(x != 0, 1/x, 0)", guarded_reciprocal),
    ("where(x > 0, sqrt(x), 0)", guarded_sqrt),
    ("where(x > 0, where(x > 1, log(x - 1), sqrt(x)), 0)", guarded_nested),
    ("where(x != 0, y / x, y)", safe_ratio),
]
# Points where every branch is defined, so that the references (jax evaluates both
# branches of its where) have a number for each: one point per branch.
REFERENCE_POINTS = {
    "where(x > 0, log(x), 0)": (0.3, 2.2),
    "where(x != 0, 1/x, 0)": (-1.7, 0.3),
    "where(x > 0, sqrt(x), 0)": (0.3, 2.2),
    "where(x > 0, where(x > 1, log(x - 1), sqrt(x)), 0)": (1.3, 2.2),
    "where(x != 0, y / x, y)": (-1.7, 2.2),
}
POINTS = (-2.0, -1.0, -0.0, 0.0, 1e-300, 0.5, 1.0, 1.5, 3.0, math.inf)


@pytest.mark.parametrize(("formula", "hand"), CASES, ids=[c[0] for c in CASES])
def test_the_branch_not_taken_never_runs(formula, hand):
    f = exprgrad.compile(formula)
    for x in POINTS:
        point = {"x": x, "y": 2.5} if "y" in f.inputs else {"x": x}
        expected = hand(**point)
        value, grads = f.value_and_grad(**point)
        assert value == expected[0] or math.isnan(value) and math.isnan(expected[0]), (x, value)
        for name, gradient in expected[1].items():
            assert grads[name] == pytest.approx(gradient, rel=1e-15, nan_ok=True), (x, name)
        assert f(**point) == value or math.isnan(value)


@pytest.mark.parametrize(("formula", "hand"), CASES, ids=[c[0] for c in CASES])
def test_guarded_formulas_agree_with_the_references_inside_the_branches(formula, hand):
    f = exprgrad.compile(formula)
    for x in REFERENCE_POINTS[formula]:
        point = {"x": x, "y": 2.5} if "y" in f.inputs else {"x": x}
        assert_gradients_agree(f, point)


def test_the_branch_is_an_if_block_in_the_generated_code():
    source = exprgrad.compile("where(x > 0, log(x), 0)").source
    forward_part = source.split("def value_and_grad")[0]
    assert "        if t1:\n            t2 = math.log(x)" in forward_part
    assert "t3 = t2 if t1 else 0.0" in forward_part


def test_shared_subexpressions_are_still_computed_once():
    # log(1 + x*x) is needed outside the branch too: computed once, unconditionally
    source = exprgrad.compile("z = log(1 + x*x)\nwhere(x > 0, z, 0) + z").source
    forward_part = source.split("def value_and_grad")[0]
    assert forward_part.count("math.log") == 1
    assert "if t1" not in forward_part
    # two branches under the same condition share one computation
    source = exprgrad.compile("where(x > 0, log(x), 0) * where(x > 0, log(x), 1)").source
    assert source.split("def value_and_grad")[0].count("math.log") == 1


def test_gradient_of_a_branch_stays_in_the_branch():
    # d/dy of y/x would be 1/x, which is inf at x = 0; outside the branch it is never formed
    f = exprgrad.compile("where(x != 0, y / x, 0) + y")
    assert f.value_and_grad(x=0.0, y=3.0) == (3.0, {"x": 0.0, "y": 1.0})
    # the famous jnp.where trap: 0 * inf would be nan in an eager gradient
    g = exprgrad.compile("where(x > 0, x * sqrt(x), 0)")
    assert g.value_and_grad(x=0.0) == (0.0, {"x": 0.0})
    assert g.value_and_grad(x=-4.0) == (0.0, {"x": 0.0})


def test_plain_number_conditions_and_conditions_computed_in_a_branch():
    f = exprgrad.compile("where(c, log(x), 1)")
    assert f.value_and_grad(c=0.0, x=-1.0) == (1.0, {"c": 0.0, "x": 0.0})
    assert f.value_and_grad(c=2.0, x=math.e) == (1.0, {"c": 0.0, "x": 1 / math.e})
    g = exprgrad.compile("where(x > 0, where(log(x) > 1, log(log(x)), 0), 0)")
    assert g(x=-1.0) == 0.0 and g(x=2.0) == 0.0
    value, grads = g.value_and_grad(x=math.e**2)
    assert value == pytest.approx(math.log(2.0), rel=1e-15)
    assert grads["x"] == pytest.approx(1 / (2.0 * math.e**2), rel=1e-15)


# --- the analysis itself ---------------------------------------------------------------------


def test_need_gives_each_op_the_guards_of_its_uses():
    program = forward("z = x*x\nwhere(x > 0, log(z), sqrt(z)) + z")
    needed = regions.need(program, regions.Guards())
    by_prim = {op.prim: needed[i] for i, op in enumerate(program.ops)}
    condition = next(i for i, op in enumerate(program.ops) if op.prim == "gt")
    assert by_prim["mul"] is None  # z is used outside the where too
    assert by_prim["gt"] is None
    assert (by_prim["log"].condition, by_prim["log"].taken) == (condition, True)
    assert (by_prim["sqrt"].condition, by_prim["sqrt"].taken) == (condition, False)
    assert by_prim["log"].parent is None and by_prim["log"].depth == 1


def test_nested_guards_and_their_common_region():
    program = forward("where(a > 0, where(b > 0, log(a*b), 0), 0)")
    needed = regions.need(program, regions.Guards())
    log = next(i for i, op in enumerate(program.ops) if op.prim == "log")
    chain = needed[log].chain()
    assert [program.ops[g.condition].prim for g in chain] == ["gt", "gt"]
    assert regions.common(needed[log], chain[0]) is chain[0]
    assert regions.contains(chain[0], needed[log]) and not regions.contains(needed[log], chain[0])
    assert regions.known_conditions(needed[log]) == {g.condition: True for g in chain}


def test_cheap_ops_are_computed_unconditionally():
    # a product cannot fail, so it is not worth an `if`; the log that uses it is
    program = forward("where(x > 0, log(x*x + 1), 0)")
    guards = regions.Guards()
    placed = regions.placement(program, regions.need(program, guards), guards)
    prims = {op.prim: placed[i] for i, op in enumerate(program.ops)}
    assert prims["mul"] is None and prims["add"] is None and prims["log"] is not None


@pytest.mark.parametrize(
    ("formula", "point"),
    [
        # a tie test made while differentiating clip guards ops created before it
        (
            "cosh(where(tan(x) >= 2, clip(b, exp(y), max(1e-3, pi)), tanh(log(3))))",
            {"x": 1.2, "b": 0.5, "y": -1.0},
        ),
        (
            "where(expm1(log1p(2)) >= hypot(hypot(y, b), expm1(x)), clip(acos(x), asin(x), "
            "pi**2), cosh(acos(pi))) / atan2(sigmoid(x), -1)",
            {"x": 0.2, "b": 0.5, "y": -1.0},
        ),
    ],
)
def test_ops_inside_a_branch_come_after_the_conditions_of_their_if(formula, point):
    f = exprgrad.compile(formula)
    value, grads = f.value_and_grad(**point)
    assert value == f(**point)
    assert_gradients_agree(f, point)


@pytest.mark.parametrize(
    ("formula", "point", "expected"),
    [
        # log(a) is needed when b > 0 or when b < 0: at b == 0 it is never computed
        ("where(b > 0, log(a), 0) + where(b < 0, log(a), 1)", {"a": -1.0, "b": 0.0}, 1.0),
        ("where(b > 0, log(a), where(b < 0, log(a), 1))", {"a": -1.0, "b": 0.0}, 1.0),
        ("where(b > 0, log(a), 0) + where(b < 0, log(a), 1)", {"a": 0.0, "b": 0.0}, 1.0),
        # the gradient of a power in a branch not taken (c ** y at c = 0, y < 1)
        (
            "v0 = where(b > 2, 0, c); where(b != c, v0, c ** where(a >= v0, v0, b))",
            {"a": 3.0, "b": 1.6, "c": 0.0},
            0.0,
        ),  # fmt: skip
    ],
)
def test_an_op_shared_by_branches_of_different_conditions_stays_guarded(formula, point, expected):
    f = exprgrad.compile(formula)
    value, grads = f.value_and_grad(**point)
    assert value == f(**point) == expected
    assert all(math.isfinite(g) for g in grads.values())
    source = f.source
    assert "if t1 or t4:" in source or "if t" in source  # guarded by an `or` of conditions


def test_either_regions_simplify():
    guards = regions.Guards()
    a = guards.child(None, 1, True)
    not_a = guards.child(None, 1, False)
    b = guards.child(None, 2, True)
    assert guards.either([a, not_a]) is None  # c or not c: always
    # a or (not a and b) is kept: b's condition may be computed only where not a holds
    a_or_b = guards.either([a, guards.child(not_a, 2, True)])
    assert a_or_b.chains == (a, guards.child(not_a, 2, True))
    assert guards.either([guards.child(a, 2, True), guards.child(a, 2, False)]) is a
    # a chain means its guards, in any order: b and a is inside a, and a or (b and a) is a
    b_a, a_b = guards.child(b, 1, True), guards.child(a, 2, True)
    assert b_a is not a_b and b_a.facts == a_b.facts == {(1, True), (2, True)}
    assert guards.either([a, b_a]) is a and guards.either([b_a, a_b]) is a_b
    # (b and a and c) or (a and b and not c): a and b
    either = guards.either([guards.child(b_a, 3, True), guards.child(a_b, 3, False)])
    assert either in (a_b, b_a)
    assert guards.child(a_b, 1, True) is a_b  # known already: no second test
    assert guards.either([a, guards.child(a, 2, True)]) is a  # inside another: dropped
    both = guards.either([a, b])
    assert isinstance(both, regions.Either) and both is guards.either([b, a])
    assert regions.contains(both, a) and not regions.contains(a, both)
    assert regions.known_conditions(guards.child(both, 3, False)) == {3: False}
    many = guards.either([guards.child(None, k, True) for k in range(20)])
    assert many is None  # more alternatives than are worth an `if`: computed unconditionally


# --- sibling and nested wheres over shared inputs ------------------------------------------

# a is needed when b > 0 (in a*a) or when c > 0: the adjoint of a lives in that Either
# region, and the contribution 2a, made under b > 0, once reached it untested (d/da = 9).
SIBLINGS = "where(b > 0, a*a, 0) + where(c > 0, a, 0)"


@pytest.mark.parametrize(
    ("formula", "b", "expected"),
    [
        (SIBLINGS, -1.0, (4.0, 1.0, 0.0)),  # (value, d/da, d2/da2) at a = 4, c = 1
        (SIBLINGS, 1.0, (20.0, 9.0, 2.0)),
        ("where(b > 0, sqrt(a), 0) + where(c > 0, a, 0)", -1.0, (4.0, 1.0, 0.0)),
        ("where(b > 0, sqrt(a), 0) + where(c > 0, a, 0)", 1.0, (6.0, 1.25, -1 / 32)),
    ],
)
def test_a_branch_gradient_stays_in_its_branch_beside_a_sibling_where(formula, b, expected):
    f = exprgrad.compile(formula)
    point = {"a": 4.0, "b": b, "c": 1.0}
    value, d_da, d2_da2 = expected
    assert f.value_and_grad(**point) == (value, {"b": 0.0, "a": d_da, "c": 0.0})
    a = f.inputs.index("a")
    hessian = f.hessian(**point)
    assert hessian[a][a] == d2_da2
    assert sum(abs(h) for row in hessian for h in row) == abs(d2_da2)
    assert f.jvp({"a": 2.0, "b": 5.0, "c": 7.0}, **point) == (value, 2.0 * d_da)
    assert f.hvp({"a": 2.0, "b": 5.0, "c": 7.0}, **point) == {"b": 0.0, "a": 2 * d2_da2, "c": 0.0}
    assert f.grad(**point) == exprgrad.compile(formula, backend="numpy").grad(**point)


def test_an_if_reads_a_condition_only_where_it_is_computed():
    # log(a) >= 0.7 is computed only when a >= b*c; the Hessian needs sqrt(b) when c < 0.7,
    # or when a >= b*c and not log(a) >= 0.7: a or (not a and b) became a or b, whose
    # `if` read log(a) >= 0.7 where it was never computed (UnboundLocalError)
    f = exprgrad.compile(
        "where(a >= b*c, where(log(a) >= 0.7, 1, b), log(b)) * where(c >= 0.7, a, sqrt(b))"
    )
    assert f.hessian(a=2.0, b=2.0, c=3.0) == [[0.0, 0.5, 0.0], [0.5, -0.5, 0.0], [0.0] * 3]
    assert f.hessian(a=7.0, b=2.0, c=3.0) == [[0.0] * 3] * 3
    assert f.hessian(a=2.0, b=2.0, c=0.5)[1][1] == pytest.approx(0.75 / math.sqrt(2.0), 1e-15)


def test_unsettled_guards_are_those_not_holding_everywhere_in_the_region():
    guards = regions.Guards()
    b = guards.child(None, 1, True)
    c = guards.child(None, 2, True)
    b_then_d = guards.child(b, 3, False)
    either = guards.either([b, c])
    assert regions.unsettled(b, either) == [b]  # inside one chain of it, not inside it
    assert regions.unsettled(b_then_d, either) == [b, b_then_d]
    assert regions.unsettled(b_then_d, b) == [b_then_d]
    assert regions.unsettled(b_then_d, guards.either([b_then_d, guards.child(c, 1, True)])) == [
        b_then_d
    ]  # b holds in both chains
    assert regions.unsettled(None, either) == []
    assert regions.unsettled(b, None) == [b]


def _leaky_unsettled(chain, region):
    """The old rule: a chain inside one chain of the region tested only its guards below
    that chain, as if the region were that chain alone."""
    if chain is None:
        return []
    outer = next((o for o in regions.chains(region) if regions.contains(o, chain)), None)
    return [g for g in chain.chain() if g.depth > regions.depth(outer)]


def test_check_reports_a_branch_gradient_leaking_into_a_sibling(monkeypatch, capsys):
    from test_cli import run_main

    monkeypatch.setattr(regions, "unsettled", _leaky_unsettled)
    f = exprgrad.compile(SIBLINGS)
    assert f.grad(a=4.0, b=-1.0, c=1.0)["a"] == 9.0  # the planted bug is the old one
    report = f.check()
    assert report.failed and not report.ok, str(report)
    assert [c.method for c in report.components if c.name == "a"] == ["failed"]
    assert run_main([SIBLINGS, "--check"]) == 1
    assert "GRADIENT MISMATCH in d/da" in capsys.readouterr().out


# Random formulas of two or three wheres over the inputs a, b, c, all in [0.25, 3] so that
# every branch is defined: nested wheres (in branches and in conditions), conditions
# comparing inputs and expressions with constants and with each other.
_SIDES = ("a", "b", "c", "a*b", "b*c", "sqrt(c)", "log(a)", "a + c")
_CONSTANTS = ("1", "1.5", "0.7", "2")
_LEAVES = ("{x}*{x}", "sqrt({x})", "log({x})", "{x}*{y}", "{x}", "sqrt({x}*{y})", "{x}*log({y})")


@st.composite
def where_formulas(draw):
    """(formula, margins): margins are formulas for lhs - rhs of every condition."""
    margins = []

    def side():
        return draw(st.sampled_from(_SIDES))

    def condition(depth):
        lhs = where(depth + 1) if depth < 2 and draw(st.integers(0, 7)) == 0 else side()
        rhs = draw(st.one_of(st.sampled_from(_CONSTANTS), st.sampled_from(_SIDES)))
        assume(lhs != rhs)
        margins.append(f"({lhs}) - ({rhs})")
        return f"{lhs} {draw(st.sampled_from(('>', '<', '>=', '<=')))} {rhs}"

    def branch(depth):
        kind = draw(st.integers(0, 5))
        if kind == 0 and depth < 2:
            return where(depth + 1)
        if kind == 1:
            return draw(st.sampled_from(("0", "2.5", "-1")))
        x, y = draw(st.sampled_from("abc")), draw(st.sampled_from("abc"))
        return draw(st.sampled_from(_LEAVES)).format(x=x, y=y)

    def where(depth):
        return f"where({condition(depth)}, {branch(depth)}, {branch(depth)})"

    formula = where(0)
    for _ in range(draw(st.integers(1, 2))):
        formula += draw(st.sampled_from((" + ", " - ", " * "))) + where(0)
    return formula, margins


def _gradient_difference(f, point, name, h=1e-6):
    up, down = dict(point, **{name: point[name] + h}), dict(point, **{name: point[name] - h})
    return {
        k: (u - d) / (2 * h)
        for (k, u), d in zip(f.grad(**up).items(), f.grad(**down).values(), strict=True)
    }


def assert_agrees_with_differences_and_numpy(formula: str, point: dict[str, float]) -> None:
    """Value, gradient, Hessian, jvp and hvp at a point away from every kink: the gradient
    against central differences and the numpy backend (0-d arrays), the Hessian against
    differences of the gradient, jvp and hvp against the gradient and the Hessian."""
    f = exprgrad.compile(formula)
    point = {k: point[k] for k in f.inputs}
    value, grads = f.value_and_grad(**point)
    numpy_value, numpy_grads = exprgrad.compile(formula, backend="numpy").value_and_grad(
        **{k: np.array(v) for k, v in point.items()}
    )
    assert close(value, float(numpy_value), 1e-12, 1e-12), (formula, point)
    for name in f.inputs:
        assert close(grads[name], float(numpy_grads[name]), 1e-12, 1e-12), (formula, name)
        difference = central_difference(f, point, name, 1e-6)
        assert close(grads[name], difference, 1e-5, 1e-6), (formula, point, name, difference)
    hessian = f.hessian(**point)
    for j, name in enumerate(f.inputs):
        column = _gradient_difference(f, point, name)
        for i, other in enumerate(f.inputs):
            assert close(hessian[i][j], column[other], 1e-5, 1e-5), (formula, other, name)
    direction = {name: 0.3 + 0.4 * k for k, name in enumerate(f.inputs)}
    _, derivative = f.jvp(direction, **point)
    assert close(derivative, sum(grads[k] * direction[k] for k in f.inputs), 1e-12, 1e-12)
    products = f.hvp(direction, **point)
    for i, name in enumerate(f.inputs):
        expected = sum(hessian[i][j] * direction[k] for j, k in enumerate(f.inputs))
        assert close(products[name], expected, 1e-12, 1e-12), (formula, name)


@settings(max_examples=40)
@given(where_formulas(), st.lists(st.floats(0.25, 3.0), min_size=3, max_size=3))
def test_sibling_and_nested_wheres_agree_with_differences_and_numpy(case, values):
    formula, margins = case
    point = dict(zip("abc", values, strict=True))
    for margin in margins:  # away from every kink: a difference quotient means nothing there
        m = exprgrad.compile(margin)
        assume(abs(m(**{k: point[k] for k in m.inputs})) > 1e-3)
    assert_agrees_with_differences_and_numpy(formula, point)


# Found by the generator: an `if` that read a condition never computed (UnboundLocalError)
# or ops whose `if`s waited on each other (an AssertionError while compiling).
TANGLED_IFS = [
    # sqrt(a) is needed when b < 1.5, or when sqrt(b) < a and sqrt(c) < b; sqrt(c) when
    # sqrt(b) < a, or when b < 1.5 and sqrt(a) < b: each if waited for the other
    "where(b < 1.5, where(sqrt(a) < b, sqrt(c), c*c), where(c > a, c*c, b)) - where(c > 1, b, "
    "sqrt(a*b)) * where(sqrt(b) < a, where(sqrt(c) < b, sqrt(a), sqrt(c)), sqrt(c*a))",
    "where(a < 1.5, where(sqrt(b) < a, sqrt(a), b*b), where(sqrt(c) < a, 1, sqrt(c*a))) - "
    "where(a > 1, sqrt(b*a), where(sqrt(a) < b, b, c*a))",
    "where(b < 1.5, where(sqrt(b) < c, b*c, sqrt(a*b)), sqrt(b*b)) - where(a > 1, log(c), a*a) "
    "* where(c < 1.5, where(a < 1.5, 0, c*c), where(b > 1, c, a*b))",
    "where(b*c > 2, where(sqrt(b) < c, b*b, sqrt(c*c)), log(b)) + "
    "where(a < 1.5, where(sqrt(a) < b, b, b*b), sqrt(b*c))",
]


@pytest.mark.parametrize("formula", TANGLED_IFS)
def test_ifs_that_waited_on_each_other(formula):
    for a, b, c in [(2.3, 1.9, 1.7), (0.6, 2.2, 1.3), (1.3, 0.4, 2.6), (2.6, 1.3, 0.7)]:
        assert_agrees_with_differences_and_numpy(formula, {"a": a, "b": b, "c": c})
