"""IR construction and passes: hash-consing, constant folding, identities, dead code."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_reverse import programs

import exprgrad
from exprgrad.backends.python.evaluate import FOLD
from exprgrad.backends.python.function import Function
from exprgrad.core.ir import CONST, INPUT, Builder, dump
from exprgrad.core.lower import lower
from exprgrad.core.optimize import eliminate_dead_code, fold_constants, optimize
from exprgrad.core.parsing import parse
from exprgrad.core.pipeline import Programs
from exprgrad.core.reverse import differentiate


def forward(source: str):
    return optimize(lower(parse(source)), FOLD)


def prims(program) -> list[str]:
    return [op.prim for op in program.ops if op.prim not in (INPUT, CONST)]


def test_builder_hash_conses_and_respects_commutativity():
    b = Builder()
    x, y = b.input("x"), b.input("y")
    assert b.op("mul", x, y) == b.op("mul", y, x)
    assert b.op("sub", x, y) != b.op("sub", y, x)
    assert b.const(0.0) != b.const(-0.0)
    assert b.const(math.nan) == b.const(math.nan)
    assert b.op("min", x, y) != b.op("min", y, x)  # min(nan, 1) != min(1, nan) in Python


def test_common_subexpressions_are_computed_once():
    program = forward("sin(a*x) + cos(x*a) + (a*x)**2")
    assert prims(program).count("mul") == 1


def test_constants_fold_and_identities_vanish():
    assert prims(forward("x*1 - 0 + -(2*3 - 6)")) == []  # x - 0.0 and x + -0.0 are x
    assert prims(forward("--x")) == []
    assert prims(forward("x**1")) == []
    assert prims(forward("x/-1")) == prims(forward("x*-1")) == ["neg"]
    assert dump(forward("x**0")).endswith("value=1.0")
    assert prims(forward("x ** 2")) == ["powi"]
    assert prims(forward("x ** 2.5")) == ["pow"]
    assert prims(forward("where(1 < 2, x, y)")) == []
    assert prims(forward("where(y < 2, x, x)")) == []
    assert prims(forward("log(2) * x")) == ["mul"]


@pytest.mark.parametrize(
    "formula",
    ["x + 0", "0 + x", "0 - x", "e ** x", "x * 0", "x - x", "0 * x + y"],
)
def test_rewrites_that_would_change_a_bit_are_not_made(formula):
    # x + 0.0 is 0.0 at x = -0.0; 0.0 - x is 0.0, not -0.0, at x = 0.0; e**x is
    # math.pow(2.718281828459045, x), which differs from exp(x) in the last bit
    program = forward(formula)
    assert prims(program) == prims(lower(parse(formula)))


def test_constant_errors_are_left_for_run_time():
    program = forward("log(-1) + x")
    assert "log" in prims(program)
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive number"):
        exprgrad.compile("log(-1) + x")(x=1.0)


def test_folding_keeps_names_and_spans():
    program = fold_constants(lower(parse("z = a*x\nw = x*a\nz + w")), FOLD)
    named = [op for op in program.ops if op.name == "z"]
    assert len(named) == 1 and named[0].span is not None


def test_dead_code_is_removed_but_inputs_stay():
    program = lower(parse("unused = sin(a)*b\nb + 1"))
    pruned = eliminate_dead_code(program)
    assert "sin" not in prims(pruned)
    assert pruned.inputs == ("a", "b")
    assert {op.name for op in pruned.ops if op.prim == INPUT} == {"a", "b"}


def test_passes_are_linear_loops_over_deep_chains():
    depth = 20_000
    lines = [f"h{i} = tanh(h{i - 1})" for i in range(1, depth)]
    source = "\n".join(["h0 = x", *lines, f"h{depth - 1}"])
    program = forward(source)
    assert prims(program).count("tanh") == depth - 1


def test_dump_reads_like_a_jaxpr():
    text = dump(forward("z = a*x\nsigmoid(z + 1)"))
    assert text.splitlines() == [
        "inputs: a, x",
        "  %2 = mul a x  ; z",
        "  %4 = add %2 1.0",
        "  %5 = sigmoid %4",
        "outputs: value=%5",
    ]


# --- optimizations never change a result, for any IEEE input -------------------------------

SPECIAL = (0.0, -0.0, 1.0, -1.0, 2.5, -0.5, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 1e308)


def same_bits(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def outcome(call, point):
    try:
        return call(**point)
    except exprgrad.EvaluationError:
        return None


def fold_gradient_only(source: str) -> exprgrad.Function:
    """The folded forward program, differentiated, with the gradient ops left unfolded."""
    lowered = lower(parse(source))
    forward_program = optimize(lowered, FOLD)
    full = eliminate_dead_code(differentiate(forward_program, forward_program.inputs))
    return Function(source, Programs(lowered, forward_program, full), True, True)


def assert_optimization_is_exact(source: str, points, unfolded_gradient: bool = True) -> int:
    """The optimized program against the unoptimized one: the value bit for bit, and the
    gradient bit for bit against the same (folded) forward program differentiated without
    folding. Against the wholly unfolded gradient only the sign of a zero may differ
    (where(c, a, a) folds to a, so a's gradient lacks the + 0.0 of the branch not taken);
    x**0, whose derivative folds to exactly 0 (0 * x**-1 unfolded: -0.0, nan, or an error
    at 0), is left out of that comparison. Returns how many points were compared."""
    fast = exprgrad.compile(source)
    plain = exprgrad.compile(source, optimize=False)
    gradient_unfolded = fold_gradient_only(source)
    assert fast.inputs == plain.inputs
    compared = 0
    for point in points:
        expected = outcome(plain, point)
        if expected is not None:  # optimizing may drop a failing dead computation, never add one
            got = outcome(fast, point)
            assert got is not None and same_bits(got, expected), (source, point, got, expected)
            compared += 1
        references = [(gradient_unfolded, True)] + [(plain, False)] * unfolded_gradient
        for reference, exact in references:
            expected = outcome(reference.value_and_grad, point)
            if expected is None:
                continue
            got = outcome(fast.value_and_grad, point)
            assert got is not None, (source, point)
            assert same_bits(got[0], expected[0]), (source, point, got[0], expected[0])
            for name, gradient in expected[1].items():
                same = same_bits(got[1][name], gradient) or not exact and got[1][name] == gradient
                assert same, (source, point, name, got[1][name], gradient)
    return compared


@pytest.mark.parametrize(
    ("source", "point", "value"),
    [
        ("atan2(0 - y, x)", {"y": 0.0, "x": -1.0}, math.pi),
        ("atan2(y + 0, x)", {"y": -0.0, "x": -1.0}, math.pi),
        ("atan2(y, 0 - x)", {"y": 0.0, "x": 0.0}, 0.0),
        ("0 - x", {"x": -2.0}, 2.0),
    ],
)
def test_signed_zeros_survive_folding(source, point, value):
    # Python itself: 0.0 - 0.0 is 0.0 and -0.0 + 0.0 is 0.0, so atan2 sees +0.0
    assert exprgrad.compile(source)(**point) == value
    assert exprgrad.compile(source, optimize=False)(**point) == value
    assert assert_optimization_is_exact(source, [point]) == 1


IDENTITY_FORMULAS = [
    "x*1 + y*-1", "x/1 - y/-1", "--x", "x**1 - y", "x - 0", "x + -0.0", "-0.0 - x",
    "pow(x, 2) + pow(y, 3)", "x**2.0 * y**-1", "where(1 > 0, x, y)", "where(x < y, x, x)",
    "x**0 * y**1",
    "e**x", "2**x", "min(x, 1) + max(0, y)", "x*0 + y", "0*x", "x - x", "0 - x", "x + 0",
]  # fmt: skip


def test_identities_are_exact_at_every_special_value():
    formulas = IDENTITY_FORMULAS
    compared = 0
    for source in formulas:
        points = [{"x": a, "y": b} for a in SPECIAL for b in SPECIAL]
        f = exprgrad.compile(source)
        points = [{k: p[k] for k in f.inputs} for p in points]
        compared += assert_optimization_is_exact(source, points, "**0" not in source)
    assert compared > len(formulas) * 100


def test_the_derivative_of_x_to_the_zero_is_exactly_zero():
    f = exprgrad.compile("x**0 + y")
    for x in SPECIAL:
        assert f.value_and_grad(x=x, y=1.0) == (2.0, {"x": 0.0, "y": 1.0})


@settings(max_examples=60, deadline=None)
@given(programs(), st.lists(st.sampled_from(SPECIAL), min_size=3, max_size=3))
def test_random_programs_optimized_and_not_agree_bit_for_bit(source, values):
    f = exprgrad.compile(source)
    point = dict(zip(f.inputs, values, strict=False))
    assume(len(point) == len(f.inputs))
    assert_optimization_is_exact(source, [point, {k: -v for k, v in point.items()}])


def test_a_constant_nan_condition_is_true_folded_or_not():
    # Python, numpy and the generated code all take a nan condition as true (nonzero)
    for optimize_ in (True, False):
        f = exprgrad.compile("where(1e308*10 - 1e308*10, a, b)", optimize=optimize_)
        assert f(a=1.0, b=2.0) == 1.0


def test_a_program_with_nothing_to_fold_is_kept_as_it_is(monkeypatch):
    """fold_constants returns a program it would only copy (no constant operand, no
    negation, no where) as it is: the same program the full pass makes."""
    from test_tape import CORPUS

    from exprgrad.core import optimize as optimize_module

    texts = [*CORPUS, "z = a*x\nw = x*a\nz + w", " + ".join(f"w{i}*x{i}" for i in range(300))]
    texts += ["-(-x) * y", "where(x > y, y, y) + x", "-(x*y) + sin(-(-y))"]  # no constant
    texts += [*IDENTITY_FORMULAS, "0.5*x + y*2 - hypot(x, 1)", "where(x > 0, log(x), log(x))"]
    texts += ["x*1 + y", "1*(x + y)", "y/1", "x**1.0 + y", "x + (-0.0)"]  # one identity alone
    kept = 0
    for text in texts:
        lowered = lower(parse(text))
        shortcut = fold_constants(lowered, FOLD)
        with monkeypatch.context() as patch:
            patch.setattr(optimize_module, "_folds_nothing", lambda program, fold: False)
            full = fold_constants(lowered, FOLD)
        assert shortcut == full, text
        kept += shortcut is lowered
    assert kept > 30  # the shortcut was taken
