"""exprgrad against tests/independent.py, which reads the formula text with its own parser.

(a) the independent parser and evaluators against values worked out by hand;
(b) a corpus covering every function and operator, through every reference,
    and a count per reference, so a reference silently dropped fails;
(c) random formulas from the whole language, points at ±0.0 and outside the
    domain included: exprgrad raises EvaluationError exactly where undefined;
(d) regressions: bugs the other references could not see.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import Counter

import independent
import pytest
import reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from independent import Call, parse
from reference import assert_gradients_agree, assert_independent_agree

import exprgrad
from exprgrad.core.primitives import PRIMITIVES


def mp_value(text: str, **point: float) -> float:
    return float(independent.mp_evaluate(parse(text), point).value)


def jax_value(text: str, **point: float) -> float:
    if independent.jax is None:
        pytest.skip("jax is not installed")
    return independent.jax_value_and_grad(parse(text), point)[0].value


def same(a: float, b: float) -> bool:
    """Equal, nan equal to nan, and 0.0 apart from -0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


# --- (a) the independent parser and evaluators, by hand -----------------------------------

NAN = math.nan
HAND = [
    # precedence and associativity
    ("-2**2", {}, -4.0),
    ("-2^2", {}, -4.0),
    ("(-2)**2", {}, 4.0),
    ("2**3**2", {}, 512.0),
    ("2^3^2", {}, 512.0),
    ("(2**3)**2", {}, 64.0),
    ("2**-1", {}, 0.5),
    ("2**-1**2", {}, 0.5),
    ("-x**2", {"x": 3.0}, -9.0),
    ("a - b - c", {"a": 10.0, "b": 3.0, "c": 2.0}, 5.0),
    ("a - (b - c)", {"a": 10.0, "b": 3.0, "c": 2.0}, 9.0),
    ("a/b/c", {"a": 8.0, "b": 4.0, "c": 2.0}, 1.0),
    ("a/b*c", {"a": 8.0, "b": 4.0, "c": 2.0}, 4.0),
    ("2 + 3*4", {}, 14.0),
    ("2*3 + 4*5", {}, 26.0),
    ("2*-3", {}, -6.0),
    ("a - -b", {"a": 1.0, "b": 2.0}, 3.0),
    ("--2", {}, 2.0),
    ("+-+2", {}, -2.0),
    ("-2*3**2", {}, -18.0),
    ("0 - x", {"x": -2.0}, 2.0),
    # numbers and constants
    ("1e-3 + .5 + 2. + 1E2", {}, 102.501),
    ("pi", {}, math.pi),
    ("e", {}, math.e),
    ("e**2", {}, math.e**2),
    # where with each comparison, and a plain number as condition
    ("where(a < b, 1, 2)", {"a": 1.0, "b": 2.0}, 1.0),
    ("where(a < b, 1, 2)", {"a": 2.0, "b": 2.0}, 2.0),
    ("where(a <= b, 1, 2)", {"a": 2.0, "b": 2.0}, 1.0),
    ("where(a <= b, 1, 2)", {"a": 3.0, "b": 2.0}, 2.0),
    ("where(a > b, 1, 2)", {"a": 3.0, "b": 2.0}, 1.0),
    ("where(a > b, 1, 2)", {"a": 2.0, "b": 2.0}, 2.0),
    ("where(a >= b, 1, 2)", {"a": 2.0, "b": 2.0}, 1.0),
    ("where(a >= b, 1, 2)", {"a": 1.0, "b": 2.0}, 2.0),
    ("where(a == b, 1, 2)", {"a": 0.0, "b": -0.0}, 1.0),
    ("where(a == b, 1, 2)", {"a": 1.0, "b": 2.0}, 2.0),
    ("where(a != b, 1, 2)", {"a": 1.0, "b": 2.0}, 1.0),
    ("where(a != b, 1, 2)", {"a": 2.0, "b": 2.0}, 2.0),
    ("where(a, 1, 2)", {"a": -0.5}, 1.0),
    ("where(a, 1, 2)", {"a": -0.0}, 2.0),
    ("where(a + 1 < 2*b, 1, 2)", {"a": 2.0, "b": 2.0}, 1.0),
    ("where(x > 0, log(x), 0)", {"x": -1.0}, 0.0),  # only the chosen branch
    # programs
    ("y = 2*x; y + 1", {"x": 3.0}, 7.0),
    ("y = 2*x\n\n# a comment\ny*y  # another\n", {"x": 3.0}, 36.0),
    ("\n;y = x;;z = y*y\r\nz + y;\n", {"x": 3.0}, 12.0),
    ("min(1,\n  2,\n  3)", {}, 1.0),
    ("(x\n + 1)", {"x": 3.0}, 4.0),
    ("y = log(x); 2", {"x": -1.0}, 2.0),  # an unused binding is never evaluated
    # the functions
    ("abs(x)", {"x": -2.0}, 2.0),
    ("abs(x)", {"x": -0.0}, 0.0),
    ("sigmoid(0)", {}, 0.5),
    ("sigmoid(x)", {"x": 40.0}, 1.0),
    ("sigmoid(x)", {"x": -40.0}, 1 / (1 + math.exp(40))),
    ("softplus(0)", {}, math.log(2)),
    ("softplus(x)", {"x": 1000.0}, 1000.0),
    ("relu(x)", {"x": -1.0}, 0.0),
    ("relu(x)", {"x": 2.0}, 2.0),
    ("hypot(3, 4)", {}, 5.0),
    ("atan2(1, 0)", {}, math.pi / 2),
    ("atan2(y, x)", {"y": 0.0, "x": -1.0}, math.pi),
    ("min(3, 1, 2)", {}, 1.0),
    ("max(3, 1, 2, 5)", {}, 5.0),
    ("clip(x, 0, 1)", {"x": 3.0}, 1.0),
    ("clip(x, 0, 1)", {"x": -3.0}, 0.0),
    ("clip(x, 0, 1)", {"x": 0.25}, 0.25),
    ("clip(x, 2, 1)", {"x": 0.0}, 1.0),  # lo above hi: hi wins
    ("pow(2, 10)", {}, 1024.0),
    ("(-2)**3", {}, -8.0),
    ("x**-2", {"x": -2.0}, 0.25),
    ("0**0", {}, 1.0),
    ("sqrt(x)", {"x": -0.0}, -0.0),
    ("erf(0)", {}, 0.0),
    ("erfc(0)", {}, 1.0),
    ("erfc(x)", {"x": 10.0}, 2.088487583762545e-45),  # 1 - erf(10) would be 0.0
    ("log1p(x)", {"x": 1e-20}, 1e-20),
    ("expm1(x)", {"x": 1e-20}, 1e-20),
    ("tan(0) + asin(1) - acos(0) + atan(0)", {}, 0.0),
    ("sinh(0) + cosh(0) + tanh(0) + exp(0) + log(1) + sin(0) + cos(0)", {}, 3.0),
    ("asinh(0) + acosh(1) + atanh(0)", {}, 0.0),
    # where log(x + sqrt(x*x + 1)) cancels or loses x (1e200: test_primitives.py)
    ("asinh(x)", {"x": -1e8}, -19.113827924512311),
    ("atanh(x)", {"x": 1e-17}, 1e-17),
    # nan propagates; comparisons with nan are false; a nan condition is true
    ("relu(x)", {"x": NAN}, NAN),
    ("abs(x)", {"x": NAN}, NAN),
    ("min(x, 1)", {"x": NAN}, NAN),
    ("min(1, x)", {"x": NAN}, NAN),
    ("max(1, x, 2)", {"x": NAN}, NAN),
    ("clip(x, 0, 1)", {"x": NAN}, NAN),
    ("clip(0.5, x, 1)", {"x": NAN}, NAN),
    ("where(x < 1, 1, 2)", {"x": NAN}, 2.0),
    ("where(x != 1, 1, 2)", {"x": NAN}, 1.0),
    ("where(x, 1, 2)", {"x": NAN}, 1.0),
]


def matches(got: float, expected: float, signed: bool = True) -> bool:
    if not signed:  # mpmath has no -0.0
        got, expected = got + 0.0, expected + 0.0
    return same(got, expected) or math.isclose(got, expected, rel_tol=1e-15)


@pytest.mark.parametrize(("text", "point", "expected"), HAND, ids=[t for t, _, _ in HAND])
def test_independent_evaluators_by_hand(text, point, expected):
    got = mp_value(text, **point)
    assert matches(got, expected, signed=False), got
    got = jax_value(text, **point)
    assert matches(got, expected), got


@pytest.mark.parametrize(("text", "point", "expected"), HAND, ids=[t for t, _, _ in HAND])
def test_exprgrad_matches_the_hand_values(text, point, expected):
    got = exprgrad.compile(text)(**point)
    assert matches(got, expected), got


UNDEFINED = [
    ("log(x)", {"x": 0.0}),
    ("log(x)", {"x": -1.0}),
    ("sqrt(x)", {"x": -1e-100}),
    ("1/x", {"x": 0.0}),
    ("x/0", {"x": 0.0}),
    ("asin(x)", {"x": 1.5}),
    ("acos(x)", {"x": -1.5}),
    ("log1p(x)", {"x": -1.0}),
    ("acosh(x)", {"x": 0.5}),
    ("atanh(x)", {"x": 1.0}),
    ("atanh(x)", {"x": -1.5}),
    ("x ** 0.5", {"x": -4.0}),
    ("pow(x, y)", {"x": -8.0, "y": 1 / 3}),
    ("x ** -1", {"x": 0.0}),
    ("pow(x, -2)", {"x": 0.0}),
    ("where(x < 0, log(x), 1)", {"x": -1.0}),
]


@pytest.mark.parametrize(("text", "point"), UNDEFINED, ids=[t for t, _ in UNDEFINED])
def test_undefined_points(text, point):
    program = parse(text)
    with pytest.raises(independent.Undefined):
        independent.mp_evaluate(program, point)
    if independent.jax is not None:
        with pytest.raises(independent.Undefined):
            independent.jax_value_and_grad(program, point)
    with pytest.raises(exprgrad.EvaluationError):
        exprgrad.compile(text)(**point)


BAD = [
    "x +",
    "1 2",
    "(x",
    "x)",
    "log(1, 2)",
    "min(1)",
    "clip(1, 2)",
    "foo(1)",
    "x; x = 1",
    "pi = 3",
    "y = 1; y = 2",
    "a < b < c",
    "",
    "# only a comment",
    "min(1; 2)",
]


@pytest.mark.parametrize("text", BAD)
def test_both_parsers_refuse(text):
    with pytest.raises(independent.FormulaSyntaxError):
        parse(text)
    with pytest.raises(exprgrad.FormulaError):
        exprgrad.compile(text)


def test_comparison_only_as_where_condition():
    with pytest.raises(independent.FormulaSyntaxError):
        independent.mp_evaluate(parse("a < b"), {"a": 1.0, "b": 2.0})
    with pytest.raises(exprgrad.FormulaError):
        exprgrad.compile("a < b")


def test_inputs_in_order_of_first_appearance():
    assert parse("b*a + c").inputs == ("b", "a", "c")
    assert parse("t = c*a; t + b").inputs == ("c", "a", "b")
    assert parse("where(1 < 2, a, b)").inputs == ("a", "b")


def test_jax_gradient_follows_the_documented_kinks():
    if independent.jax is None:
        pytest.skip("jax is not installed: the independent-jax reference is not run")

    def grad(text, **point):
        return independent.jax_value_and_grad(parse(text), point)[1]

    assert grad("min(a, b)", a=1.0, b=1.0) == {"a": 0.5, "b": 0.5}
    assert grad("max(a, b, c)", a=2.0, b=2.0, c=1.0) == {"a": 0.5, "b": 0.5, "c": 0.0}
    assert grad("relu(x) + abs(x)", x=0.0) == {"x": 0.0}
    assert grad("clip(x, lo, hi)", x=0.0, lo=0.0, hi=1.0) == {"x": 1.0, "lo": 0.0, "hi": 0.0}
    assert grad("clip(x, lo, hi)", x=3.0, lo=0.0, hi=1.0) == {"x": 0.0, "lo": 0.0, "hi": 1.0}
    assert grad("clip(x, lo, hi)", x=0.0, lo=2.0, hi=1.0) == {"x": 0.0, "lo": 0.0, "hi": 1.0}
    assert grad("where(a < b, 3*a, 5*b)", a=1.0, b=1.0) == {"a": 0.0, "b": 5.0}
    assert grad("where(x != 0, 1/x, 0)", x=0.0) == {"x": 0.0}


def test_mpmath_gradient():
    program = parse("sin(a*b)*exp(b) + a**3")
    point = {"a": 0.3, "b": 0.7}
    da = math.cos(0.21) * 0.7 * math.exp(0.7) + 3 * 0.09
    db = math.cos(0.21) * 0.3 * math.exp(0.7) + math.sin(0.21) * math.exp(0.7)
    assert math.isclose(independent.mp_gradient(program, point, "a"), da, rel_tol=1e-14)
    assert math.isclose(independent.mp_gradient(program, point, "b"), db, rel_tol=1e-14)


# --- (b) a corpus through every reference ---------------------------------------------------

WIDE = (-2.0, 2.0)
POSITIVE = (0.2, 3.0)
UNIT = (-0.9, 0.9)

# (formula, {input: sampling interval}, extra points)
CORPUS: list[tuple[str, dict[str, tuple[float, float]], list[dict[str, float]]]] = [
    ("a + b", {}, []),
    ("a - b - c", {}, []),
    ("a * b * c", {}, []),
    ("a / b / c", {"b": POSITIVE, "c": (-3.0, -0.2)}, []),
    ("a / (b - c)", {"b": (1.0, 2.0), "c": (-2.0, -1.0)}, []),
    ("-a * b", {}, []),
    ("+a - -b", {}, []),
    ("-a ** 2 + b", {}, []),
    ("a ** 3 - 2 * a", {}, [{"a": -0.0}]),
    ("a ^ b", {"a": POSITIVE}, []),
    ("2 ** -a", {}, []),
    ("a ** -2", {"a": POSITIVE}, []),
    ("a ** 0.5 + b ** 1.5", {"a": POSITIVE, "b": POSITIVE}, []),
    ("pow(a, b)", {"a": POSITIVE}, []),
    ("pow(a, 3) / (1 + b * b)", {}, []),
    ("pow(hypot(a, b), c)", {"a": POSITIVE}, []),
    ("exp(a * b)", {}, []),
    ("exp(-a ** 2 / 2) / sqrt(2 * pi)", {}, []),
    ("log(a) + log(b * b + 1)", {"a": POSITIVE}, []),
    ("log(sigmoid(a))", {}, []),
    ("sqrt(a) * b", {"a": POSITIVE}, []),
    ("sqrt(a * a + b * b) - hypot(a, b)", {}, []),
    ("sin(a) * cos(b)", {}, [{"a": -0.0, "b": 0.0}]),
    ("tan(a)", {"a": (-1.2, 1.2)}, []),
    ("asin(a) + acos(b)", {"a": UNIT, "b": UNIT}, []),
    ("asin(tanh(a)) * acos(0.5 * tanh(b))", {}, []),
    ("asinh(a * b) + acosh(1 + b * b) * atanh(tanh(c))", {}, []),
    ("atan(a / b)", {"b": POSITIVE}, []),
    ("sinh(a) - cosh(b)", {}, []),
    ("cosh(a) ** 2 - sinh(a) ** 2", {}, []),
    ("tanh(a * b + c)", {}, []),
    ("tanh(tanh(tanh(a)))", {}, []),
    ("abs(a - b)", {}, []),
    ("sigmoid(a * x + b * y + c)", {}, []),
    ("sigmoid(-a) + sigmoid(a)", {"a": (-6.0, 6.0)}, []),
    ("relu(a) + relu(-b)", {}, []),
    ("softplus(a) - softplus(-a)", {"a": (-6.0, 6.0)}, []),
    ("softplus(a * b) - log1p(exp(a * b))", {}, []),
    ("log1p(a * a)", {}, []),
    ("log1p(a)", {"a": (-0.9, 3.0)}, []),
    ("expm1(a) / (1 + b * b)", {}, []),
    ("erf(a) * erf(b)", {}, []),
    ("erf(a / sqrt(2))", {}, []),
    ("erfc(a) * exp(b) + erfc(a * b / 2)", {}, []),
    ("hypot(a, b)", {}, []),
    ("atan2(a, b)", {}, []),
    ("atan2(a, b - 3)", {"a": POSITIVE}, []),
    ("atan2(sin(a), cos(a))", {"a": (-3.0, 3.0)}, []),
    ("min(a, b)", {}, []),
    ("max(a, b, c)", {}, []),
    ("max(a, b, c, 0.5)", {}, []),
    ("min(a, b) * max(a, b)", {}, []),
    ("min(1, label*(a*x + b*y + c))", {}, []),
    ("max(0, 1 - label * (a * x + b * y + c))", {}, []),
    ("clip(a, b, c)", {"a": (-3.0, 3.0), "b": (-2.0, -0.5), "c": (0.5, 2.0)}, []),
    ("clip(a, b, c)", {"b": (0.5, 1.0), "c": (-1.0, -0.5)}, []),
    ("clip(a, -1, 1) * b", {}, []),
    ("clip(a * b, -0.5, 0.5)", {}, []),
    ("where(a < b, a * c, b * c)", {}, []),
    ("where(a <= b, sin(a), cos(b))", {}, []),
    ("where(a > 0, log(a), -a)", {}, []),
    ("where(a >= b, a, b * b)", {}, []),
    ("where(a == b, 1, a * b)", {}, [{"a": 1.5, "b": 1.5}]),
    ("where(a != b, a - b, 0)", {}, [{"a": 0.5, "b": 0.5}]),
    ("where(a, b, c)", {}, [{"a": 0.0, "b": 1.0, "c": 2.0}]),
    ("where(a * b - 0.5, exp(a), b)", {}, []),
    ("where(a < 0.5, where(b > 0, a * b, a + b), relu(c))", {}, []),
    ("y = a * x + b; sigmoid(y) * y", {}, []),
    ("h = tanh(a * x)\no = h * b\no * o", {}, []),
    ("z = a*b\n# a comment\nz*z + z  # the value", {}, []),
    ("min(1,\n  a * b)", {}, []),
    ("(a + b) * (a - b) / (1 + c * c)", {}, []),
    ("2 * pi * a + e ** b", {}, []),
    ("1e-3 * a + .5 * b", {}, []),
    (
        "n1 = relu(a1*x + b1*y + c1); n2 = relu(a2*x + b2*y + c2)\n"
        "n3 = relu(a3*x + b3*y + c3); a4*n1 + b4*n2 + c4*n3 + d4",
        {},
        [],
    ),
]


def corpus_points(text: str, domain: dict) -> list[dict[str, float]]:
    rng = random.Random(zlib.crc32(text.encode()))
    inputs = parse(text).inputs
    return [{n: rng.uniform(*domain.get(n, WIDE)) for n in inputs} for _ in range(3)]


def functions_called(node) -> set[str]:
    if isinstance(node, Call):
        return {node.function}.union(*(functions_called(arg) for arg in node.args))
    children = [getattr(node, f) for f in ("operand", "left", "right") if hasattr(node, f)]
    return set().union(*(functions_called(child) for child in children))


def test_corpus_covers_every_function_and_operator():
    called, symbols = set(), set()
    for text, _, _ in CORPUS:
        program = parse(text)
        for node in [*program.bindings.values(), program.value]:
            called |= functions_called(node)
        symbols |= {token for kind, token in independent.tokenize(text) if kind == "op"}
    scalar = [p for p in PRIMITIVES if not p.arrays]  # arrays: tests/test_against_jax.py
    assert {p.name for p in scalar if p.callable} <= called
    assert {p.symbol for p in scalar if p.symbol} | {"^"} <= symbols
    assert independent.FUNCTIONS <= called
    assert len(CORPUS) >= 60


@pytest.fixture(scope="module")
def corpus_run():
    """Every corpus formula through assert_gradients_agree once: its failure (or None)
    per formula, and how many values and components each reference verified."""
    before = Counter(reference.VERIFIED)
    failures = {}
    for text, domain, extra in CORPUS:
        f = exprgrad.compile(text)
        try:
            for k, point in enumerate(corpus_points(text, domain)):
                assert_gradients_agree(f, point, use_sympy=k == 0)  # sympy is the slow one
            for point in extra:  # ties and signed zeros, where differences mean nothing
                assert_independent_agree(f, point)
        except Exception as error:  # reported by test_corpus, formula by formula
            failures[text] = error
        else:
            failures[text] = None
    return failures, reference.VERIFIED - before


@pytest.mark.parametrize("text", [t for t, _, _ in CORPUS])
def test_corpus(corpus_run, text):
    failure = corpus_run[0][text]
    if failure is not None:
        raise failure


JAX_REFERENCES = ("jax-of-IR", "independent-jax")
MINIMUM = {
    "sympy": 80,
    "central differences": 300,
    "jax-of-IR": 500,
    "independent-mpmath": 450,
    "independent-jax": 500,
}


@pytest.mark.parametrize("name", reference.REFERENCES)
def test_every_reference_verified_the_corpus(corpus_run, name):
    if name in JAX_REFERENCES and independent.jax is None:
        pytest.skip(f"jax is not installed: the {name} reference is not run")
    assert corpus_run[1][name] >= MINIMUM[name], dict(corpus_run[1])


def test_jax_is_installed():
    if independent.jax is None:
        pytest.skip("jax is not installed: both jax references are skipped everywhere")


def test_hypothesis_tests_are_derandomized(request):
    if settings.get_current_profile_name() != "ci":
        pytest.skip("only the ci profile is derandomized")
    for item in request.session.items:
        own = getattr(getattr(item, "obj", None), "_hypothesis_internal_use_settings", None)
        if own is not None:
            assert own.derandomize, item.nodeid


# --- (c) random formulas of the whole language ----------------------------------------------

# (template, operands): unparenthesized templates leave grouping to both parsers
TEMPLATES = [
    ("-{0}", 1),
    ("+{0}", 1),
    ("-({0})", 1),
    ("{0} + {1}", 2),
    ("{0} - {1}", 2),
    ("({0} - {1})", 2),
    ("{0} * {1}", 2),
    ("{0} / {1}", 2),
    ("({0}) / ({1})", 2),
    ("{0} ** {1}", 2),
    ("({0}) ^ {1}", 2),
    ("({0} +\n {1})", 2),
    *((f"{name}({{0}})", 1) for name in sorted(independent.ONE_ARGUMENT)),
    ("pow({0}, {1})", 2),
    ("hypot({0}, {1})", 2),
    ("atan2({0}, {1})", 2),
    ("min({0}, {1})", 2),
    ("max({0}, {1}, {2})", 3),
    ("clip({0}, {1}, {2})", 3),
    ("where({0}, {1}, {2})", 3),
    *((f"where({{0}} {op} {{1}}, {{2}}, {{3}})", 4) for op in independent.COMPARISONS),
]
CONSTANTS = ["0", "1", "2", "0.5", ".5", "3", "pi", "e", "1e-3", "2.5"]
SEPARATORS = ["\n", ";", " ; ", "  # a comment\n", "\n\n", ";\n"]
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0]


@st.composite
def expressions(draw, leaves: list[str], depth: int = 3):
    if depth == 0 or (depth < 3 and draw(st.integers(0, 9)) < 3):
        return draw(st.sampled_from(leaves))
    template, arity = draw(st.sampled_from(TEMPLATES))
    return template.format(*(draw(expressions(leaves, depth - 1)) for _ in range(arity)))


@st.composite
def programs(draw):
    """One to three statements; the later ones mostly use the names bound before them."""
    leaves, lines = ["a", "b", "c"] * 2 + CONSTANTS, []
    for i in range(draw(st.integers(0, 2))):
        lines.append(f"v{i} = {draw(expressions(leaves))}")
        leaves = leaves + [f"v{i}"] * 6
    lines.append(draw(expressions(leaves)))
    text = lines[0]
    for line in lines[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + line
    return text


inputs = st.one_of(
    st.sampled_from(SPECIAL),
    st.floats(-4.0, 4.0).filter(lambda x: x == 0 or abs(x) > 1e-100),  # the reference's range
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.fixed_dictionaries({"a": inputs, "b": inputs, "c": inputs}))
def test_random_formulas_against_the_independent_references(text, values):
    f = exprgrad.compile(text)
    point = {name: values[name] for name in f.inputs}
    assert_independent_agree(f, point)


# --- (d) regressions ------------------------------------------------------------------------


def test_zero_minus_x_is_not_x():
    # once folded to x: wrong value and gradient, yet every IR-based reference agreed
    f = exprgrad.compile("0 - x")
    assert f.value_and_grad(x=-2.0) == (2.0, {"x": -1.0})
    assert_gradients_agree(f, {"x": -2.0})


SIGNED_ZERO = [
    ("atan2(0 - y, x)", {"y": 0.0, "x": -1.0}, math.atan2(0.0 - 0.0, -1.0)),
    ("atan2(y + 0, x)", {"y": -0.0, "x": -1.0}, math.atan2(-0.0 + 0.0, -1.0)),
    ("atan2(y, 0 - x)", {"y": 0.0, "x": 0.0}, math.atan2(0.0, 0.0 - 0.0)),
]


@pytest.mark.parametrize(
    ("text", "point", "expected"), SIGNED_ZERO, ids=[t for t, _, _ in SIGNED_ZERO]
)
def test_folding_keeps_the_sign_of_zero(text, point, expected):
    assert exprgrad.compile(text)(**point) == expected
    assert jax_value(text, **point) == expected


@pytest.mark.parametrize(
    ("text", "point"),
    [("where(x > 0, log(x), 0)", {"x": -1.0}), ("where(x != 0, 1/x, 0)", {"x": 0.0})],
)
def test_where_evaluates_only_the_chosen_branch(text, point):
    f = exprgrad.compile(text)
    assert f.value_and_grad(**point) == (0.0, {"x": 0.0})
    assert_independent_agree(f, point)


@pytest.mark.parametrize("value", [2, True, 2.0])
def test_inputs_are_converted_to_float(value):
    got, grads = exprgrad.compile("x * x").value_and_grad(x=value)
    assert type(got) is float and type(grads["x"]) is float
    assert got == mp_value("x * x", x=float(value))


def test_numpy_scalar_inputs():
    np = pytest.importorskip("numpy")
    got = exprgrad.compile("x * x")(x=np.float32(1.5))
    assert type(got) is float and got == 2.25


@pytest.mark.parametrize("value", ["1", None, ["1.0"], [None]])
def test_non_numbers_raise_type_error(value):
    with pytest.raises(TypeError):
        exprgrad.compile("x * 2")(x=value)


def test_a_list_is_an_array():
    assert exprgrad.compile("x * 2")(x=[1.0, 2.5]) == [2.0, 5.0]
