"""Every row of the primitive table: its rule against sympy.diff, central differences and jax."""

from __future__ import annotations

import importlib
import math
import random
import zlib

import pytest
from reference import assert_gradients_agree, close

import exprgrad
from exprgrad import backends
from exprgrad.backends.numpy import spellings as numpy_spellings
from exprgrad.backends.python import spellings as python_spellings
from exprgrad.backends.python.evaluate import evaluator
from exprgrad.core.primitives import BY_NAME, COMPARISON_NAMES, PRIMITIVES
from exprgrad.core.reverse import rule_program

WIDE = (-2.0, 2.0)
POSITIVE = (0.2, 3.0)
UNIT = (-0.9, 0.9)

# primitive -> [(formula exercising it, {input: sampling interval})]
CASES: dict[str, list[tuple[str, dict[str, tuple[float, float]]]]] = {
    "add": [("a + b", {})],
    "sub": [("a - b", {})],
    "mul": [("a * b", {})],
    "div": [("a / b", {"b": POSITIVE}), ("a / b", {"b": (-3.0, -0.2)})],
    "neg": [("-a * b", {})],
    "pow": [
        ("a ** b", {"a": POSITIVE}),
        ("pow(a, b)", {"a": POSITIVE}),
        ("2 ** a", {}),
        ("a ^ 0.5", {"a": POSITIVE}),
    ],
    "powi": [("a ** 3", {}), ("a ** -2", {"a": POSITIVE}), ("(a - b) ** 2", {})],
    "exp": [("exp(a * b)", {})],
    "log": [("log(a)", {"a": POSITIVE})],
    "sqrt": [("sqrt(a)", {"a": POSITIVE})],
    "sin": [("sin(a)", {})],
    "cos": [("cos(a)", {})],
    "tan": [("tan(a)", {"a": (-1.2, 1.2)})],
    "asin": [("asin(a)", {"a": UNIT})],
    "acos": [("acos(a)", {"a": UNIT})],
    "atan": [("atan(a)", {})],
    "sinh": [("sinh(a)", {})],
    "cosh": [("cosh(a)", {})],
    "tanh": [("tanh(a)", {})],
    "asinh": [("asinh(a)", {}), ("asinh(a * b)", {"a": (-3e5, 3e5)})],
    "acosh": [("acosh(a)", {"a": (1.01, 4.0)})],
    "atanh": [("atanh(a)", {"a": UNIT})],
    "abs": [("abs(a)", {})],
    "sigmoid": [("sigmoid(a)", {"a": (-6.0, 6.0)})],
    "relu": [("relu(a)", {})],
    "softplus": [("softplus(a)", {"a": (-6.0, 6.0)})],
    "log1p": [("log1p(a)", {"a": (-0.9, 3.0)})],
    "expm1": [("expm1(a)", {})],
    "erf": [("erf(a)", {})],
    "erfc": [("erfc(a)", {})],
    "hypot": [("hypot(a, b)", {})],
    "atan2": [("atan2(a, b)", {})],
    "clip": [
        ("clip(a, b, c)", {"a": (-3.0, 3.0), "b": (-2.0, -0.5), "c": (0.5, 2.0)}),
        ("clip(a, b, c)", {"b": (0.5, 1.0), "c": (-1.0, -0.5)}),
    ],  # lo > hi: hi wins
    "where": [("where(a < b, a * c, b * c)", {}), ("where(a, b, c)", {})],
    "min": [("min(a, b)", {}), ("min(a, b, c)", {})],
    "max": [("max(a, b)", {}), ("max(a, b, c)", {})],
    "lt": [("where(a < b, a, b * b)", {})],
    "le": [("where(a <= b, a, b * b)", {})],
    "gt": [("where(a > b, a, b * b)", {})],
    "ge": [("where(a >= b, a, b * b)", {})],
    "eq": [("where(a == b, a, b * b)", {})],
    "ne": [("where(a != b, a, b * b)", {})],
}

CASE_LIST = [(name, formula, domain) for name, cases in CASES.items() for formula, domain in cases]


def points(function: exprgrad.Function, domain, count: int, seed: int):
    rng = random.Random(seed)
    return [
        {name: rng.uniform(*domain.get(name, WIDE)) for name in function.inputs}
        for _ in range(count)
    ]


SCALAR_PRIMITIVES = [p for p in PRIMITIVES if not p.arrays]  # arrays: test_against_jax.py


def test_every_primitive_has_cases():
    assert set(CASES) == {p.name for p in SCALAR_PRIMITIVES}


@pytest.mark.parametrize(
    ("name", "formula", "domain"), CASE_LIST, ids=[f"{n}:{f}" for n, f, _ in CASE_LIST]
)
def test_gradient_three_ways(name, formula, domain):
    f = exprgrad.compile(formula)
    assert any(op.prim == name for op in f.forward_program.ops), f"{formula} lost its {name}"
    for point in points(f, domain, 4, seed=zlib.crc32(formula.encode())):
        assert_gradients_agree(f, point)


@pytest.mark.parametrize(
    ("name", "formula", "domain"), CASE_LIST, ids=[f"{n}:{f}" for n, f, _ in CASE_LIST]
)
def test_check_proves_rule(name, formula, domain):
    report = exprgrad.compile(formula).check()
    assert report.ok, str(report)
    assert {c.method for c in report.components} <= {"symbolic", "numeric"}


@pytest.mark.parametrize("primitive", SCALAR_PRIMITIVES, ids=lambda p: p.name)
def test_table_row_is_consistent(primitive):
    arity = primitive.arity or 2
    names = [f"v{i}" for i in range(arity)]
    assert python_spellings.spell(primitive.name, names)
    assert numpy_spellings.spell(primitive.name, names)
    if callable(primitive.grads):
        return
    assert len(primitive.grads) == arity
    allowed = {"out", "g", *("x", "y", "z")[:arity]}
    for rule in primitive.grads:
        if rule is not None:
            assert set(rule_program(rule).inputs) <= allowed, rule


def backend_spellings(name: str):
    """The spellings module of a registered backend: beside its function module."""
    package = backends.BACKENDS[name].rpartition(".")[0]
    return importlib.import_module(f"{package}.spellings")


@pytest.mark.parametrize("backend", sorted(backends.BACKENDS))
def test_every_backend_spells_every_row_of_the_table(backend):
    """Every row is spelled, or listed as what the backend writes another way (from shapes)
    or refuses (no value at a number), never both: a new row fails here until each
    backend has it (as Tangent's UNIMPLEMENTED_ADJOINTS)."""
    spellings = backend_spellings(backend)
    assert set(spellings.SPELLINGS) | set(spellings.NOT_SPELLED) == set(BY_NAME), backend
    assert not set(spellings.SPELLINGS) & set(spellings.NOT_SPELLED), backend


@pytest.mark.parametrize("backend", sorted(backends.BACKENDS))
def test_every_registered_backend_has_the_seam(backend):
    module = backends.backend(backend)
    assert module.ARRAYS in (True, False, None) and callable(module.make_function)
    assert set(backends.BACKENDS) >= {"python", "numpy", "lists"}


def test_the_python_backend_spells_every_scalar_row():
    unspelled = {p.name for p in PRIMITIVES if not p.arrays} & python_spellings.NOT_SPELLED
    assert not unspelled  # only array functions may lack a value at a number


def test_kink_and_selects_fields_describe_the_piecewise_rows():
    kinks = {p.name: p.kink for p in PRIMITIVES if p.kink}
    assert kinks == {"relu": "sign", "abs": "sign", "min": "select", "max": "select",
                     "clip": "select", "where": "branch"}  # fmt: skip
    assert {p.name for p in PRIMITIVES if p.selects} == {"min", "max", "clip"}
    assert {p.name for p in PRIMITIVES if p.zero_below} == {"relu"}  # abs passes both sides
    assert {p.name for p in PRIMITIVES if p.clamps} == {"clip"}
    assert all(p.kink == "sign" for p in PRIMITIVES if p.zero_below)
    assert all(p.kink == "select" and p.selects for p in PRIMITIVES if p.clamps)


def test_comparisons_carry_no_gradient():
    for name in COMPARISON_NAMES:
        assert BY_NAME[name].grads == (None, None)


@pytest.mark.parametrize("primitive", SCALAR_PRIMITIVES, ids=lambda p: p.name)
def test_numpy_spelling_matches_python(primitive):
    np = pytest.importorskip("numpy")
    rng = random.Random(primitive.name)
    arity = primitive.arity or 3
    names = [f"v{i}" for i in range(arity)]
    code = numpy_spellings.spell(primitive.name, names)
    from exprgrad.backends.numpy.helpers import namespace  # what generated numpy code runs with

    array_function = eval(f"lambda {', '.join(names)}: {code}", namespace())
    scalar_function = evaluator(primitive.name, arity)
    domain = {
        "log": POSITIVE,
        "sqrt": POSITIVE,
        "asin": UNIT,
        "acos": UNIT,
        "log1p": (-0.9, 3.0),
        "pow": POSITIVE,
        "acosh": (1.5, 4.0),  # a * 0.75 stays at 1 or above
        "atanh": UNIT,
    }.get(primitive.name, WIDE)
    for _ in range(5):
        args = [rng.uniform(*domain) for _ in range(arity)]
        if primitive.name == "powi":  # powi only ever gets a whole constant exponent
            args[1] = float(rng.randint(-3, 3))
        columns = [np.array([a, a * 0.75]) for a in args]  # both inside the domain
        if primitive.name == "powi":
            columns[1] = np.array([args[1], args[1]])
        expected = [float(scalar_function(*[c[k] for c in columns])) for k in range(2)]
        got = array_function(*columns)
        assert [float(v) for v in got] == pytest.approx(expected, rel=1e-12, abs=1e-300)


# --- non-smooth points, as documented in the README -------------------------------------


def grad(formula, **point):
    return exprgrad.compile(formula).grad(**point)


def test_relu_and_abs_have_zero_derivative_at_zero():
    assert grad("relu(x)", x=0.0) == {"x": 0.0}
    assert grad("abs(x)", x=0.0) == {"x": 0.0}
    assert grad("relu(x)", x=1e-300) == {"x": 1.0}
    assert grad("abs(x)", x=-2.0) == {"x": -1.0}


def test_min_max_ties_return_the_first_argument():
    """README, Numerics: as the builtins do, so the sign of a tied zero is the first one's,
    whether the operands are inputs or folded constants, optimized or not."""

    def sign(v):
        return math.copysign(1.0, v)

    for optimize in (True, False):
        for name in ("min", "max"):
            f = exprgrad.compile(f"{name}(a, b)", optimize=optimize)
            assert sign(f(-0.0, 0.0)) == -1.0 and sign(f(0.0, -0.0)) == 1.0
            three = exprgrad.compile(f"{name}(a, b, c)", optimize=optimize)
            assert sign(three(-0.0, 0.0, 0.0)) == -1.0 and sign(three(0.0, -0.0, -0.0)) == 1.0
        assert sign(exprgrad.compile("min(-0.0, x)", optimize=optimize)(0.0)) == -1.0
        assert sign(exprgrad.compile("min(x, 0)", optimize=optimize)(-0.0)) == -1.0
        assert sign(exprgrad.compile("max(0, x)", optimize=optimize)(-0.0)) == 1.0


def test_min_max_ties_split_evenly():
    assert grad("min(a, b)", a=1.0, b=1.0) == {"a": 0.5, "b": 0.5}
    assert grad("max(a, b)", a=1.0, b=1.0) == {"a": 0.5, "b": 0.5}
    assert grad("max(a, b, c)", a=2.0, b=2.0, c=1.0) == {"a": 0.5, "b": 0.5, "c": 0.0}
    third = grad("min(a, b, c)", a=3.0, b=3.0, c=3.0)
    assert third == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, rel=1e-15)
    assert grad("min(a, b)", a=1.0, b=2.0) == {"a": 1.0, "b": 0.0}
    # the seed hinge at the tie: 1 == label*(...) gives half the gradient to the sum
    assert grad("min(1, x)", x=1.0) == {"x": 0.5}


def test_clip_passes_gradient_on_the_closed_interval():
    for x, expected in ((-1.0, 0.0), (0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (2.0, 0.0)):
        assert grad("clip(x, lo, hi)", x=x, lo=0.0, hi=1.0)["x"] == expected, x
    assert grad("clip(x, lo, hi)", x=-1.0, lo=0.0, hi=1.0) == {"x": 0.0, "lo": 1.0, "hi": 0.0}
    assert grad("clip(x, lo, hi)", x=3.0, lo=0.0, hi=1.0) == {"x": 0.0, "lo": 0.0, "hi": 1.0}
    # lo above hi: the result is hi, and so is the gradient
    assert grad("clip(x, lo, hi)", x=0.0, lo=2.0, hi=1.0) == {"x": 0.0, "lo": 0.0, "hi": 1.0}


def test_where_routes_gradient_to_the_chosen_branch():
    f = exprgrad.compile("where(a < b, 3*a, 5*b)")
    assert f.grad(a=1.0, b=2.0) == {"a": 3.0, "b": 0.0}
    assert f.grad(a=2.0, b=1.0) == {"a": 0.0, "b": 5.0}
    assert f.grad(a=1.0, b=1.0) == {"a": 0.0, "b": 5.0}  # condition false at equality


# --- numerically delicate primitives ------------------------------------------------------


def test_sigmoid_is_stable_far_out():
    f = exprgrad.compile("sigmoid(x)")
    assert f.value_and_grad(x=-1000.0) == (0.0, {"x": 0.0})
    assert f.value_and_grad(x=1000.0) == (1.0, {"x": 0.0})
    assert f(x=-745.0) > 0.0


def test_softplus_is_stable_far_out():
    f = exprgrad.compile("softplus(x)")
    assert f.value_and_grad(x=1000.0) == (1000.0, {"x": 1.0})
    assert f.value_and_grad(x=-1000.0) == (0.0, {"x": 0.0})
    assert f(x=-40.0) == pytest.approx(math.exp(-40.0), rel=1e-12)


def test_log1p_and_expm1_keep_precision_near_zero():
    assert exprgrad.compile("log1p(x)").value_and_grad(x=1e-20) == (1e-20, {"x": 1.0})
    assert exprgrad.compile("expm1(x)").value_and_grad(x=1e-20) == (1e-20, {"x": 1.0})
    value, grads = exprgrad.compile("log1p(x)").value_and_grad(x=1e20)
    assert close(value, math.log(1e20)) and close(grads["x"], 1e-20)


def _mp_close(got: float, exact, rel: float = 4e-16) -> bool:
    return got == float(exact) or abs(got - exact) <= rel * abs(exact)


@pytest.mark.parametrize(
    "x", [1e200, -1e200, 1e8, -1e8, -1e6, 1e-17, -1e-300, 5e-324, 0.5, 1.7976931348623157e308]
)
def test_asinh_is_accurate_everywhere(x):
    """Not log(x + sqrt(x*x + 1)), which overflows (1e200), cancels (-1e8: log(0) raises;
    -1e6: off by 7.6e-6) or loses x (1e-17); the derivative hypot(x, 1) doesn't overflow."""
    mpmath = pytest.importorskip("mpmath")
    value, grads = exprgrad.compile("asinh(x)").value_and_grad(x=x)
    with mpmath.workdps(50):
        assert _mp_close(value, mpmath.asinh(x)), value
        assert _mp_close(grads["x"], 1 / mpmath.sqrt(mpmath.mpf(x) ** 2 + 1)), grads


@pytest.mark.parametrize("x", [1e200, 1.7976931348623157e308, 1e8, 1 + 2**-52, 2.0])
def test_acosh_is_accurate_everywhere(x):
    mpmath = pytest.importorskip("mpmath")
    value, grads = exprgrad.compile("acosh(x)").value_and_grad(x=x)
    with mpmath.workdps(50):
        x = mpmath.mpf(x)
        assert _mp_close(value, mpmath.acosh(x)), value
        assert _mp_close(grads["x"], 1 / mpmath.sqrt((x - 1) * (x + 1)), 1e-15), grads


@pytest.mark.parametrize("x", [1e-17, -1e-300, 0.5, -0.999999, 1 - 2**-53])
def test_atanh_is_accurate_everywhere(x):
    mpmath = pytest.importorskip("mpmath")
    value, grads = exprgrad.compile("atanh(x)").value_and_grad(x=x)
    with mpmath.workdps(50):
        x = mpmath.mpf(x)
        assert _mp_close(value, mpmath.atanh(x)), value
        assert _mp_close(grads["x"], 1 / ((1 - x) * (1 + x)), 1e-15), grads


@pytest.mark.parametrize(
    ("formula", "x", "message"),
    [
        ("acosh(x)", 0.5, "acosh of a number below 1"),
        ("acosh(x)", -2.0, "acosh of a number below 1"),
        ("atanh(x)", 1.0, "atanh of a number outside"),
        ("atanh(x)", -1.0, "atanh of a number outside"),
        ("atanh(x)", 3.0, "atanh of a number outside"),
    ],
)
def test_inverse_hyperbolic_domain_errors(formula, x, message):
    f = exprgrad.compile(formula)
    for call in (f, f.value_and_grad):
        with pytest.raises(exprgrad.EvaluationError, match=message):
            call(x=x)


def test_acosh_at_one_has_an_infinite_derivative():
    f = exprgrad.compile("acosh(x)")
    assert f(x=1.0) == 0.0
    with pytest.raises(exprgrad.EvaluationError):
        f.value_and_grad(x=1.0)


def test_integer_power_of_negative_base_is_real():
    value, grads = exprgrad.compile("x ** 3").value_and_grad(x=-2.0)
    assert (value, grads) == (-8.0, {"x": 12.0})


def test_fractional_power_of_negative_base_is_an_evaluation_error():
    with pytest.raises(exprgrad.EvaluationError, match="pow of a negative number"):
        exprgrad.compile("x ** 0.5")(x=-4.0)


# --- NaN propagates (README "Numerics") ------------------------------------------------------

NAN_CASES = [(n, f, d) for n, f, d in CASE_LIST if n not in COMPARISON_NAMES and n != "where"]


@pytest.mark.parametrize(
    ("name", "formula", "domain"), NAN_CASES, ids=[f"{n}:{f}" for n, f, _ in NAN_CASES]
)
def test_a_nan_argument_gives_a_nan_value(name, formula, domain):
    f = exprgrad.compile(formula)
    (point,) = points(f, domain, 1, seed=zlib.crc32(formula.encode()))
    for nan_input in f.inputs:
        at = dict(point, **{nan_input: math.nan})
        value, grads = f.value_and_grad(**at)
        assert math.isnan(value) and math.isnan(f(**at)), (formula, nan_input)
        if name in ("relu", "abs", "min", "max", "clip"):
            # the selecting primitives would drop a NaN in Python; their gradients are NaN
            assert all(math.isnan(g) for g in grads.values()), (formula, nan_input, grads)


@pytest.mark.parametrize(
    ("formula", "point"),
    [
        ("min(1, x)", {"x": math.nan}),
        ("min(x, 1)", {"x": math.nan}),
        ("max(x, y)", {"x": 1.0, "y": math.nan}),
        ("max(x, y)", {"x": math.nan, "y": 1.0}),
        ("min(x, y, z)", {"x": 1.0, "y": math.nan, "z": 2.0}),
        ("max(x, y, z)", {"x": 3.0, "y": 2.0, "z": math.nan}),
        ("relu(x)", {"x": math.nan}),
        ("clip(x, lo, hi)", {"x": 0.5, "lo": math.nan, "hi": 1.0}),
        ("clip(x, lo, hi)", {"x": 0.5, "lo": 0.0, "hi": math.nan}),
        ("relu(x - y)", {"x": math.inf, "y": math.inf}),  # inf - inf inside the formula
    ],
)
def test_nan_is_never_dropped_or_turned_into_an_error(formula, point):
    value, grads = exprgrad.compile(formula).value_and_grad(**point)
    assert math.isnan(value)
    assert all(math.isnan(g) for g in grads.values()), grads


def test_comparisons_with_nan_are_false_and_a_nan_condition_is_true():
    f = exprgrad.compile("where(x > 0, a, b)")
    assert f.value_and_grad(x=math.nan, a=1.0, b=2.0) == (2.0, {"x": 0.0, "a": 0.0, "b": 1.0})
    g = exprgrad.compile("where(x, a, b)")  # a plain number: nonzero is true, and so is NaN
    assert g.value_and_grad(x=math.nan, a=1.0, b=2.0) == (1.0, {"x": 0.0, "a": 1.0, "b": 0.0})


@pytest.mark.parametrize("x", [-3.0, 0.0, 0.5, 5.0, 10.0, 26.0])
def test_erfc_keeps_its_precision_where_1_minus_erf_is_zero(x):
    """erfc is a row of its own: 1 - erf(10) is 0.0, erfc(10) is 2.09e-45; its derivative
    -2/sqrt(pi) exp(-x*x) keeps full precision too (mpmath at 40 digits decides)."""
    import mpmath

    mpmath.mp.dps = 40
    value, grads = exprgrad.compile("erfc(x)").value_and_grad(x=x)
    exact = mpmath.erfc(x)
    slope = -2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-x * x)
    assert value == pytest.approx(float(exact), rel=1e-15, abs=0)
    assert grads["x"] == pytest.approx(float(slope), rel=1e-14, abs=0)
