"""sympy round trip: to_sympy, check() and latex()."""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import HealthCheck, given, settings
from test_reverse import programs

import exprgrad
from exprgrad.tools.check import CheckReport, ComponentCheck

sp = pytest.importorskip("sympy")

TWO_LAYER_NET = """\
n1 = relu(a1*x + b1*y + c1)
n2 = relu(a2*x + b2*y + c2)
n3 = relu(a3*x + b3*y + c3)
score = a4*n1 + b4*n2 + c4*n3 + d4
loss = max(0, 1 - label*score)"""


def test_to_sympy_uses_real_symbols_and_exact_constants():
    f = exprgrad.compile("a*x**2 + 0.1*pi - e")
    a, x = sp.symbols("a x", real=True)
    assert sp.simplify(f.to_sympy() - (a * x**2 + sp.Rational(1, 10) * sp.pi - sp.E)) == 0


def test_check_proves_smooth_gradients_symbolically():
    report = exprgrad.compile("sigmoid(a*x + b*y + c)").check()
    assert report.ok and not report.failed and not report.undecided
    assert [c.method for c in report.components] == ["symbolic"] * 5
    assert str(report).splitlines()[-1] == "all components confirmed"


def test_check_falls_back_to_numbers_for_kinks():
    report = exprgrad.compile("min(1, label*(a*x + b*y + c))").check()
    assert report.ok, str(report)
    for c in report.components:
        assert c.method == "numeric" and "non-smooth" in c.detail
        assert c.points >= 12
        assert set(c.branches) == {
            "min(1, label*(a*x + b*y + c)) 1st wins",
            "min(1, label*(a*x + b*y + c)) 2nd wins",
        }


# Each of these once failed or could not be checked, though its gradient is right.
CORRECT = [
    "max(0, 1 - l*relu(a*x))",  # min/max tie tests, rewritten by sympy, were false in floats
    "max(0, 1 - l*abs(x))",
    "max(x, 1e-3*z)",
    "max(expm1(z), atan(z))",
    "where(y, y + 3, y)",  # a plain number as condition
    "sqrt(x - 5) * log(3)",  # defined only beyond the old sampling range
    "where(x > 3, x*x, 0)",
    "clip(x, lo, hi) * x",
    "min(c, c) + max(a, a, a)",  # a tie everywhere is no kink
    "where(x > 0, log(x), 0)",
    "relu(1 + x*x)",
    "atan2(y, x) + hypot(x, y)",
]


@pytest.mark.parametrize("formula", CORRECT)
def test_check_confirms_correct_formulas(formula):
    report = exprgrad.compile(formula).check()
    assert report.ok, str(report)
    assert report.verdict == "all components confirmed"


def test_check_covers_both_branches_of_a_where_beyond_the_old_range():
    (component,) = exprgrad.compile("where(x > 3, x*x, 0)").check().components
    assert component.method == "numeric"
    assert "where(x > 3, x*x, 0) true" in component.branches
    assert "where(x > 3, x*x, 0) false" in component.branches
    assert component.missing == ()


def test_check_names_a_branch_it_cannot_reach_without_failing():
    (component,) = exprgrad.compile("relu(1 + x*x)").check().components
    assert component.method == "numeric"
    assert component.missing == ("relu(1 + x*x) < 0",)
    assert "never reached: relu(1 + x*x) < 0" in component.detail


def test_two_layer_net_is_confirmed_quickly():
    f = exprgrad.compile(TWO_LAYER_NET)
    start = time.perf_counter()
    report = f.check()
    elapsed = time.perf_counter() - start
    assert report.ok, str(report)
    assert len(report.components) == 16
    for c in report.components:
        for neuron in ("relu(a1*x + b1*y + c1)", "relu(a3*x + b3*y + c3)"):
            assert {f"{neuron} > 0", f"{neuron} < 0"} <= set(c.branches), c
    assert elapsed < 30, f"{elapsed:.1f} s"  # about 1 s on the development machine


# --- formulas check() cannot decide ----------------------------------------------------------


def test_formula_defined_nowhere_is_undecided():
    report = exprgrad.compile("log(-1 - x*x)").check()
    assert report.undecided and not report.ok and not report.failed
    (component,) = report.components
    assert component.method == "undecided"
    assert "no point found where the formula and its gradient are defined" in component.detail
    assert report.verdict.startswith("UNDECIDED: d/dx")


def test_constant_formula_defined_nowhere_is_undecided():
    report = exprgrad.compile("relu(log(acos(1)))").check()
    assert report.components == ()
    assert report.undecided
    assert "defined nowhere: log of a non-positive number" in str(report)
    report = exprgrad.compile("x + relu(log(acos(1)))").check()
    assert report.undecided and "no point found" in report.components[0].detail


DEEP = "sin(" * 200 + "x" + ")" * 200


def test_too_deep_for_sympy_is_undecided_and_latex_says_so():
    f = exprgrad.compile(DEEP)
    report = f.check()
    assert report.undecided
    assert "too deeply nested for sympy" in report.components[0].detail
    with pytest.raises(exprgrad.SymbolicError, match="too deeply nested"):
        f.latex()
    assert issubclass(exprgrad.SymbolicError, ValueError)


def test_latex_of_a_formula_sympy_cannot_take():
    with pytest.raises(exprgrad.SymbolicError, match="sympy cannot take"):
        exprgrad.compile("x + relu(log(acos(1)))").latex()


def _slow_simplify(monkeypatch):
    from exprgrad.tools.check import checker

    def simplify(expr, *args, **kwargs):
        time.sleep(3600)  # a simplify that never ends; the alarm must interrupt it

    monkeypatch.setattr(sp, "simplify", simplify)
    return checker


def test_slow_simplify_falls_back_to_numbers(monkeypatch):
    _slow_simplify(monkeypatch)
    start = time.perf_counter()
    report = exprgrad.compile("tanh(a*x)").check(time_limit=4.0)
    assert time.perf_counter() - start < 4.0 + 2.0
    assert report.ok, str(report)
    assert all(
        c.method == "numeric" and "simplify took over" in c.detail for c in report.components
    )


def test_slow_simplify_hits_the_time_budget(monkeypatch):
    checker = _slow_simplify(monkeypatch)
    monkeypatch.setattr(checker, "SIMPLIFY_SECONDS", 1e9)
    monkeypatch.setattr(checker, "SIMPLIFY_SHARE", 1.0)
    start = time.perf_counter()
    report = exprgrad.compile("tanh(a*x)").check(time_limit=1.5)
    assert time.perf_counter() - start < 1.5 + 2.0
    assert report.undecided and not report.failed
    assert [c.method for c in report.components] == ["undecided", "undecided"]
    assert all("time limit of 1.5 s reached" in c.detail for c in report.components)
    assert report.verdict.startswith("UNDECIDED: d/da, d/dx neither confirmed nor refuted")


def test_a_spent_budget_is_undecided_never_passed():
    report = exprgrad.compile(TWO_LAYER_NET).check(time_limit=0.0)
    assert report.undecided and len(report.components) == 16
    assert {c.method for c in report.components} == {"undecided"}


# --- wrong derivative rules must fail --------------------------------------------------------


def _first_wins(builder, args, out, g):
    return (g,) + (builder.const(0.0),) * (len(args) - 1)


# (primitive, wrong rules, formula); "only ..." marks rules wrong on one branch alone,
# a branch the old sampling in [-2.5, 2.5] never reached.
WRONG_RULES = [
    ("tanh", ("g * (1 + out * out)",), "tanh(a*x)"),
    ("sigmoid", ("g * out",), "sigmoid(x*y)"),
    ("sqrt", ("g / out",), "sqrt(x - 5) * log(3)"),
    ("relu", ("where(x > 0, g, 0.5 * g)",), "relu(x + 3)"),  # only x < -3
    ("abs", ("where(x > 0, g, where(x < 0, g, 0))",), "abs(x + 4) * y"),  # only x < -4
    ("max", _first_wins, "max(x, 1e-3*z)"),  # only where the second wins
    ("where", (None, "where(x, 2 * g, 0)", "where(x, 0, g)"), "where(x > 3, x*x, sin(x))"),
    ("where", (None, "where(x, g, 0)", "where(x, 0, -g)"), "where(x < 3, x*x, sin(x))"),
    (
        "clip",
        ("where(x >= y, where(x <= z, g, 0), 0)", "where(x < y, where(y <= z, g, 0), 0)", "g"),
        "clip(x, lo, hi)",
    ),
]


@pytest.mark.parametrize(
    ("name", "grads", "formula"), WRONG_RULES, ids=[f"{n}:{f}" for n, _, f in WRONG_RULES]
)
def test_check_catches_a_wrong_rule(monkeypatch, name, grads, formula):
    import exprgrad.core.primitives as primitives
    from exprgrad.core import reverse

    broken = dataclasses.replace(primitives.BY_NAME[name], grads=grads)
    monkeypatch.setitem(primitives.BY_NAME, name, broken)
    reverse.rule_program.cache_clear()
    try:
        report = exprgrad.compile(formula).check()
    finally:
        reverse.rule_program.cache_clear()
    assert report.failed and not report.ok and not report.undecided, str(report)
    assert "GRADIENT MISMATCH" in str(report)
    failed = [c for c in report.components if c.method == "failed"]
    assert failed and all(" != sympy.diff " in c.detail for c in failed)


# --- random formulas ------------------------------------------------------------------------


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(programs())
def test_check_never_fails_a_random_formula(source):
    report = exprgrad.compile(source).check(time_limit=10.0)
    assert not report.failed, f"{source!r}\n{report}"
    for c in report.components:
        if c.method == "undecided":
            # out of time, or outside the domain (or at no well-conditioned point of it)
            reasons = ("time limit", "no point found", "well-conditioned")
            assert any(reason in c.detail for reason in reasons), str(report)


# --- the report -----------------------------------------------------------------------------


def test_report_is_plain_data():
    report = CheckReport((ComponentCheck("a", "numeric", "agrees at 12 points"),))
    assert report.ok and str(report).startswith("d/da: numeric")
    failed = CheckReport(
        (ComponentCheck("a", "failed", "1.0 != 2.0"), ComponentCheck("b", "undecided", "time"))
    )
    assert failed.failed and not failed.undecided and not failed.ok
    assert str(failed).splitlines()[-1] == "GRADIENT MISMATCH in d/da"
    undecided = CheckReport((ComponentCheck("a", "undecided", "time limit of 1 s reached"),))
    assert undecided.undecided and not undecided.failed
    assert str(undecided).splitlines()[-1] == (
        "UNDECIDED: d/da neither confirmed nor refuted (time limit of 1 s reached)"
    )


def test_check_streams_each_component():
    seen = []
    report = exprgrad.compile("relu(a*x) + b").check(on_component=seen.append)
    assert seen == list(report.components)
    assert [c.name for c in seen] == ["a", "x", "b"]


def test_latex_lists_formula_and_partials():
    text = exprgrad.compile("a*x**2", wrt=["x"]).latex()
    lines = text.splitlines()
    assert lines[0] == "f = a x^{2}"
    assert lines[1] == r"\frac{\partial f}{\partial x} = 2 a x"
    assert len(lines) == 2
