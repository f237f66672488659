"""Forward mode and second derivatives: jvp, hvp and the Hessian against jax (float64) on
every primitive and on random formulas, against sympy on a few, and their edge cases."""

from __future__ import annotations

import math
import random
import zlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reference import close
from test_primitives import CASE_LIST, points
from test_reverse import LEAVES, TEMPLATES, _apply

import exprgrad
from exprgrad.core import forward
from exprgrad.core.ir import Builder
from exprgrad.core.primitives import BY_NAME, PRIMITIVES

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)


def jax_of(function: exprgrad.Function):
    """The formula's forward IR interpreted with jax (it shares no rule, pass or code with
    exprgrad's), as one jitted function of the input vector v and a direction t:
    (value, jax.jvp's tangent, jax.hessian, the jvp of jax.grad). One trace per formula,
    reused at every point."""
    from reference import _jax_table, jax_of_ir

    assert function.wrt == function.inputs
    program = function.forward_program
    of_values = jax_of_ir(program, _jax_table())

    def evaluate(vector):
        return of_values(*(vector[k] for k in range(len(program.inputs))))

    def everything(vector, direction):
        value, tangent = jax.jvp(evaluate, (vector,), (direction,))
        products = jax.jvp(jax.grad(evaluate), (vector,), (direction,))[1]
        return value, tangent, jax.hessian(evaluate)(vector), products

    return jax.jit(everything)


def agree(got: float, expected: float, scale: float = 1.0) -> bool:
    if math.isnan(expected):
        return math.isnan(got)
    return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-11 * max(1.0, scale))


def assert_second_order_agrees(
    f: exprgrad.Function, point: dict[str, float], seed: int, reference=None
) -> None:
    """f.hessian, f.jvp and f.hvp at the point against jax.hessian, jax.jvp and the jvp of
    jax.grad; entries jax finds infinite or undefined are left out."""
    reference = reference or jax_of(f)
    rng = random.Random(seed)
    direction = [rng.uniform(-1.0, 1.0) for _ in f.wrt]
    vector = jnp.array([float(point[name]) for name in f.inputs], dtype=jnp.float64)
    tangent = jnp.array(direction, dtype=jnp.float64)
    _, expected_t, expected_h, expected_hv = reference(vector, tangent)
    expected_t, expected_h, expected_hv = float(expected_t), expected_h.tolist(), expected_hv

    hessian = f.hessian(**point)
    n = len(f.wrt)
    assert len(hessian) == n and all(len(row) == n for row in hessian)
    scale = max([1.0, *(abs(h) for row in expected_h for h in row if math.isfinite(h))])
    for i in range(n):
        for j in range(n):
            assert hessian[i][j] == hessian[j][i]  # symmetric by construction: one line
            if math.isfinite(expected_h[i][j]):
                assert agree(hessian[i][j], expected_h[i][j], scale), (
                    f.formula,
                    point,
                    (f.wrt[i], f.wrt[j]),
                    hessian[i][j],
                    expected_h[i][j],
                )
    value, derivative = f.jvp(dict(zip(f.wrt, direction, strict=True)), **point)
    assert value == f(**point)
    if math.isfinite(expected_t):
        grads = f.grad(**point)
        scale_t = max([1.0, *(abs(g) for g in grads.values())])
        assert agree(derivative, expected_t, scale_t), (f.formula, point, derivative, expected_t)
    products = f.hvp(direction, **point)
    assert list(products) == list(f.wrt)
    for name, expected in zip(f.wrt, expected_hv.tolist(), strict=True):
        if math.isfinite(expected):
            assert agree(products[name], expected, scale * n), (f.formula, name, expected)


# --- every primitive -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "formula", "domain"), CASE_LIST, ids=[f"{n}:{f}" for n, f, _ in CASE_LIST]
)
def test_every_primitive_against_jax(name, formula, domain):
    f = exprgrad.compile(formula)
    seed, reference = zlib.crc32(formula.encode()), jax_of(f)
    for k, point in enumerate(points(f, domain, 3, seed=seed)):
        assert_second_order_agrees(f, point, seed + k, reference)


@pytest.mark.parametrize(
    ("name", "formula", "domain"), CASE_LIST, ids=[f"{n}:{f}" for n, f, _ in CASE_LIST]
)
def test_jvp_is_the_gradient_along_the_direction(name, formula, domain):
    # forward mode from the table's rules against reverse mode from the same rules
    f = exprgrad.compile(formula)
    for point in points(f, domain, 3, seed=zlib.crc32(formula.encode()) + 1):
        direction = {w: 0.5 + 0.25 * k for k, w in enumerate(f.wrt)}
        value, grads = f.value_and_grad(**point)
        expected = sum(grads[w] * direction[w] for w in f.wrt)
        assert f.jvp(direction, **point) == (value, pytest.approx(expected, rel=1e-12, abs=1e-14))


# --- random formulas -------------------------------------------------------------------------

# test_reverse's templates (one or more per table row), less the numpy backend's array rows
_ARRAYS = [p for p in PRIMITIVES if getattr(p, "arrays", False)]
SCALAR_TEMPLATES = [
    t for t in TEMPLATES if not any(p.name + "(" in t or f" {p.symbol} " in t for p in _ARRAYS)
]


def expressions(leaves):
    def extend(children):
        templates = st.sampled_from(SCALAR_TEMPLATES)
        return st.builds(_apply, templates, st.lists(children, min_size=3, max_size=3))

    return st.recursive(leaves, extend, max_leaves=6)


@st.composite
def programs(draw):
    """test_reverse.programs() over the scalar templates: up to three statements, later
    ones using the intermediates before them."""
    count = draw(st.integers(1, 3))
    lines, names = [], []
    for i in range(count):
        pool = st.sampled_from(["a", "b", "c", *names]) if names else LEAVES
        expression = draw(expressions(st.one_of(LEAVES, pool)))
        lines.append(f"v{i} = {expression}" if i < count - 1 else expression)
        names.append(f"v{i}")
    return "\n".join(lines)


@settings(max_examples=40, deadline=None)
@given(programs(), st.integers(0, 10**6))
def test_random_programs_against_jax(source, seed):
    f = exprgrad.compile(source)
    assume(f.inputs)
    rng = random.Random(seed)
    point = {name: rng.uniform(-2.0, 2.0) for name in f.inputs}
    try:
        value = f(**point)
        f.hessian(**point)
    except exprgrad.EvaluationError:
        assume(False)
    assume(abs(value) < 1e6)
    assert_second_order_agrees(f, point, seed)


# Branches that fail unless their guard holds, and points that sit on the guards
LAZY_TEMPLATES = [
    "where({0} > 0, log({0}), {1})",
    "where({0} != 0, 1/{0}, {1})",
    "where({0} > 0, sqrt({0})*{1}, {2})",
    "where({0} < 1, where({0} > -1, asin({0}), {1}), {2})",
]
EDGES = st.sampled_from([0.0, -1.0, 1.0, 2.0, -0.5, 0.25])


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        LEAVES,
        lambda children: st.builds(
            _apply,
            st.sampled_from(LAZY_TEMPLATES + LAZY_TEMPLATES + SCALAR_TEMPLATES),
            st.lists(children, min_size=3, max_size=3),
        ),
        max_leaves=6,
    ),
    st.lists(EDGES, min_size=3, max_size=3),
)
def test_second_order_computes_no_branch_that_is_not_taken(source, values):
    """Where the value is defined, jvp, hvp and the Hessian may only fail in a derivative
    (an infinite second derivative), never in a branch not taken."""
    f = exprgrad.compile(source)
    assume(f.inputs)
    point = dict(zip(f.inputs, values, strict=False))
    assume(len(point) == len(f.inputs))
    try:
        f(**point)
    except exprgrad.EvaluationError:
        assume(False)
    direction = dict.fromkeys(f.wrt, 1.0)
    for second in (f.hessian, lambda **p: f.jvp(direction, **p), lambda **p: f.hvp(direction, **p)):
        try:
            second(**point)
        except exprgrad.EvaluationError as error:
            assert "in the gradient of" in str(error), (source, point, str(error))


# --- sympy's second derivatives ---------------------------------------------------------------


@pytest.mark.parametrize(
    "formula",
    [
        "sigmoid(a*x + b)",
        "a**3*log(x) + x*b",
        "tanh(a*x)*exp(x - b)",
        "z = hypot(a, x); z*atan2(x, a) + softplus(b*z)",
        "where(x > 0, sqrt(x)*a, erf(a*b))",
    ],
)
def test_hessian_against_sympy(formula):
    sp = pytest.importorskip("sympy")
    f = exprgrad.compile(formula)
    symbols = [sp.Symbol(name, real=True) for name in f.wrt]
    expected = sp.hessian(f.to_sympy(), symbols)
    for point in ({"a": 0.7, "x": 1.3, "b": 0.2}, {"a": -0.4, "x": 0.9, "b": -1.1}):
        subs = {s: sp.Float(point[s.name], 30) for s in symbols}
        hessian = f.hessian(**point)
        for i in range(len(symbols)):
            for j in range(len(symbols)):
                assert close(hessian[i][j], float(expected[i, j].evalf(30, subs=subs)), 1e-11)


# --- where: the branch not taken ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "point"),
    [
        ("where(x > 0, log(x), 0)", {"x": -1.0}),
        ("where(x != 0, 1/x, 0)", {"x": 0.0}),
        ("where(x > 0, sqrt(x), 0)", {"x": 0.0}),
        ("where(x > 0, sqrt(x)**3, y*y)", {"x": 0.0, "y": 3.0}),
        ("where(x < 1, where(x > -1, asin(x), 0), log(x))", {"x": 3.0}),
        # the tangent of 1/x leaves its branch through clip's rule, whose conditions
        # are computed from 1/x: a copy of 1/x stays inside the branch
        ("clip(where(x != 0, 1/x, 0), -1, 1)", {"x": 0.0}),
        # 1/x needed where x != 0, and where (the condition) and then x != 0
        ("where(where(x != 0, 1/x, x) > 0, log(where(x != 0, 1/x, x)), x)", {"x": 0.0}),
    ],
)
def test_branch_not_taken_leaks_nothing(formula, point):
    f = exprgrad.compile(formula)
    for row in f.hessian(**point):
        assert all(math.isfinite(h) for h in row)
    value, derivative = f.jvp(dict.fromkeys(f.wrt, 1.0), **point)
    assert math.isfinite(value) and math.isfinite(derivative)
    assert all(math.isfinite(v) for v in f.hvp(dict.fromkeys(f.wrt, 1.0), **point).values())
    # the tangent of the branch not taken is computed inside `if`, as the gradient is
    assert "if t" in f._runtime.generated["jvp"].source


def test_where_second_derivatives_follow_the_branch_taken():
    f = exprgrad.compile("where(x > 0, x**3, -x*x*y)")
    assert f.hessian(x=2.0, y=5.0) == [[12.0, 0.0], [0.0, 0.0]]
    assert f.hessian(x=-2.0, y=5.0) == [[-10.0, 4.0], [4.0, 0.0]]


# --- kinks: README's conventions carry over ---------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "point", "expected"),
    [
        ("relu(x)", {"x": 0.0}, [[0.0]]),
        ("abs(x)", {"x": 0.0}, [[0.0]]),
        ("max(x, y)", {"x": 1.0, "y": 1.0}, [[0.0, 0.0], [0.0, 0.0]]),
        ("clip(x, y, z)", {"x": 1.0, "y": 1.0, "z": 2.0}, [[0.0] * 3] * 3),
        # relu's gradient takes the side x <= 0 at 0 (gradient 0): so does its derivative
        ("relu(x) * x", {"x": 0.0}, [[0.0]]),
        ("relu(x) * x", {"x": 1.0}, [[2.0]]),
        # a tie splits the gradient evenly; the second derivative is that average's
        ("max(x*x, 2*x)", {"x": 2.0}, [[1.0]]),
    ],
)
def test_kinks(formula, point, expected):
    assert exprgrad.compile(formula).hessian(**point) == expected


# --- the API -------------------------------------------------------------------------------


def test_hessian_rows_and_columns_follow_wrt():
    f = exprgrad.compile("a*b*b + c*a**3", wrt=["c", "a"])
    assert f.hessian(a=2.0, b=3.0, c=5.0) == [[0.0, 12.0], [12.0, 60.0]]
    assert exprgrad.compile("a*b", wrt=[]).hessian(a=1.0, b=2.0) == []
    # positional arguments follow f.inputs, keywords any order, ints fine
    f = exprgrad.compile("x*y*z")
    assert f.hessian(1, 2, 3) == [[0.0, 3.0, 2.0], [3.0, 0.0, 1.0], [2.0, 1.0, 0.0]]
    assert all(type(h) is float for row in f.hessian(1, 2, 3) for h in row)


def test_exprgrad_hessian_returns_the_compiled_function():
    hessian = exprgrad.hessian("x**2 * y + exp(y)", wrt="y, x")
    assert hessian(x=1.0, y=0.0) == [[1.0, 2.0], [2.0, 0.0]]
    assert hessian(1.0, 0.0) == hessian(x=1.0, y=0.0)


def test_hessian_source_is_generated_code_compiled_once():
    f = exprgrad.compile("sigmoid(a*x + b)")
    source = f.hessian_source
    assert source.startswith("# generated by exprgrad from:")
    assert "def hessian(a, x, b):" in source and "return [[" in source
    assert f.hessian_source == source
    first = f.hessian(a=1.0, x=2.0, b=0.5)
    assert f.__dict__["_hessian_function"] is not None
    assert f.hessian(a=1.0, x=2.0, b=0.5) == first


def test_any_input_name_works_as_a_keyword():
    f = exprgrad.compile("self*x + tangents*v + v*v")
    point = {"self": 1.0, "x": 2.0, "tangents": 3.0, "v": 4.0}
    assert f.hessian(**point)[3] == [0.0, 0.0, 1.0, 2.0]
    assert f.jvp({"self": 1.0}, **point) == (f(**point), 2.0)
    assert f.hvp({"v": 1.0}, **point) == {"self": 0.0, "x": 0.0, "tangents": 1.0, "v": 2.0}
    g = exprgrad.compile("lambda*print + x_dot*x")  # names the generated code must rename
    assert g.jvp({"x": 1.0, "x_dot": 2.0}, 1, 2, 3, 4) == (14.0, 3.0 + 2 * 4.0)


def test_jvp_and_hvp_take_sequences_and_missing_names():
    f = exprgrad.compile("a*a*b + sin(b)", wrt=["a", "b"])
    point = {"a": 1.5, "b": 0.5}
    assert f.jvp([1.0, 0.0], **point) == f.jvp({"a": 1.0}, **point)
    assert f.hvp((0.0, 1.0), **point) == f.hvp({"b": 1}, **point)
    assert f.hvp({}, **point) == {"a": 0.0, "b": 0.0}
    assert f.jvp({}, **point) == (f(**point), 0.0)
    hessian = f.hessian(**point)
    products = f.hvp({"a": 2.0, "b": -1.0}, **point)
    assert products["a"] == pytest.approx(2 * hessian[0][0] - hessian[0][1])
    assert products["b"] == pytest.approx(2 * hessian[1][0] - hessian[1][1])


def test_optimize_false_gives_the_same_second_derivatives():
    point = {"a": 0.3, "x": -1.2}
    formula = "exp(a*x)*x**2 + 0*a"
    folded, plain = exprgrad.compile(formula), exprgrad.compile(formula, optimize=False)
    for row, plain_row in zip(folded.hessian(**point), plain.hessian(**point), strict=True):
        assert row == pytest.approx(plain_row, rel=1e-15)
    assert folded.jvp([1, 2], **point) == pytest.approx(plain.jvp([1, 2], **point), rel=1e-15)


# --- bad input -----------------------------------------------------------------------------


def test_bad_points_and_tangents():
    f = exprgrad.compile("a*x + b", wrt=["a", "x"])
    with pytest.raises(TypeError, match="missing argument.*'b'"):
        f.hessian(a=1.0, x=2.0)
    with pytest.raises(TypeError, match="jvp\\(\\) is missing argument.*'x'"):
        f.jvp({"a": 1.0}, a=1.0, b=2.0)
    with pytest.raises(TypeError, match="hvp\\(\\) is missing"):
        f.hvp({"a": 1.0}, a=1.0)
    with pytest.raises(TypeError, match="unexpected argument 'q'"):
        f.jvp({"a": 1.0}, a=1.0, x=2.0, b=0.0, q=1.0)
    with pytest.raises(ValueError, match="'b', which the gradient does not cover"):
        f.jvp({"b": 1.0}, a=1.0, x=2.0, b=0.0)
    with pytest.raises(ValueError, match="'q'"):
        f.hvp({"q": 1.0}, a=1.0, x=2.0, b=0.0)
    with pytest.raises(ValueError, match="has 3 entries; expected 2"):
        f.jvp([1.0, 2.0, 3.0], a=1.0, x=2.0, b=0.0)
    with pytest.raises(ValueError, match="has 1 entries; expected 2"):
        f.hvp([1.0], a=1.0, x=2.0, b=0.0)
    with pytest.raises(TypeError, match=r"^tangents\['a'\] must be a real number, not str"):
        f.jvp({"a": "1"}, a=1.0, x=2.0, b=0.0)
    with pytest.raises(TypeError, match=r"v\['x'\] must be a real number"):
        f.hvp([1.0, None], a=1.0, x=2.0, b=0.0)
    with pytest.raises(TypeError, match="must be a dict over a, x or a sequence of 2"):
        f.jvp(1.0, a=1.0, x=2.0, b=0.0)
    with pytest.raises(TypeError, match="argument 'x' must be a real number, not str"):
        f.hessian(a=1.0, x="2", b=0.0)
    with pytest.raises(exprgrad.EvaluationError, match="in the gradient of sqrt"):
        exprgrad.compile("sqrt(x)*y").jvp({"x": 1.0}, x=0.0, y=1.0)


def test_numpy_tangents():
    np = pytest.importorskip("numpy")
    f = exprgrad.compile("a*b")
    assert f.jvp(np.array([1.0, 2.0]), a=3.0, b=4.0) == (12.0, 4.0 + 6.0)
    assert f.hvp({"a": np.float32(1.0)}, a=3.0, b=4.0) == {"a": 0.0, "b": 1.0}
    with pytest.raises(ValueError, match="1-D"):
        f.jvp(np.ones((2, 1)), a=3.0, b=4.0)


# --- the IR pass itself ----------------------------------------------------------------------


def test_tangent_names_never_meet_an_input():
    assert forward.tangent_names(["a", "a_dot", "a_dot2"], ["a"]) == ("a_dot3",)
    assert forward.tangent_names(["a", "b"], ["a", "b"]) == ("a_dot", "b_dot")


def test_where_tangent_stays_one_where():
    f = exprgrad.compile("where(x > y, x*x, y)")
    program = forward.jvp_program(f.forward_program, f.wrt)
    tangent = program.ops[program.grads["tangent"]]
    assert tangent.prim == "where" and tangent.args[0] == f.forward_program.ops[-1].args[0]


def test_every_rule_is_used_as_written():
    # one tangent per primitive, from the reverse-mode rule with g bound to the tangent:
    # x*y in direction (1, 0) is y; only array rows, whose reverse rules are adjoints,
    # have forward rules of their own (tests/test_second_order_arrays.py)
    assert not any(p.tangents is not None for p in BY_NAME.values() if not p.arrays)
    assert BY_NAME["sum"].tangents is not None
    builder = Builder()
    x, y = builder.input("x"), builder.input("y")
    product = builder.op("mul", x, y)
    program = exprgrad.core.ir.Program(tuple(builder.ops), "x*y", ("x", "y"), product)
    found = forward.tangents(builder, program, [None] * 3, {x: builder.const(1.0)})
    assert builder.ops[found[product]].prim == "mul"


def test_a_hessian_over_the_size_limit_is_refused_early(monkeypatch):
    monkeypatch.setattr(exprgrad.core.pipeline, "MAX_OPERATIONS", 300)
    terms = " + ".join(f"w{i}*x{i}" for i in range(20))
    f = exprgrad.compile(f"softplus(-({terms}))")  # a gradient of about 130 operations
    with pytest.raises(exprgrad.FormulaError, match="its hessian program has .* over the limit"):
        f.hessian(*[0.1] * 40)
    with pytest.raises(exprgrad.FormulaError, match="formula too large"):
        exprgrad.hessian(f.formula)
