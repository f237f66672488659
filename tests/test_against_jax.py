"""Both backends against jax.grad / jax.vjp in float64: every primitive, random array programs,
float32 against float64, and programs with impossible shapes.

The jax side interprets exprgrad's *forward* IR with jax functions (the table below), so it
shares the parser and lowering with exprgrad but none of its derivative rules, reverse
pass, shape pass or code generators. tests/independent.py reads scalar formulas with its
own parser; arrays have only this reference.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import exprgrad
from exprgrad.backends.python.evaluate import FOLD
from exprgrad.core.ir import CONST, Builder, Program
from exprgrad.core.optimize import fold_constants
from exprgrad.core.primitives import PRIMITIVES

np = pytest.importorskip("numpy")
jax = pytest.importorskip("jax", reason="jax is a test extra: pip install 'exprgrad[test]'")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

from reference import _jax_table, jax_of_ir  # noqa: E402 (needs jax configured first)
from test_conv import conv_ref, windows_ref  # noqa: E402
from test_primitives import CASES, WIDE  # noqa: E402

RTOL = 1e-9

# exprgrad's array primitives (scalar ones come from reference._jax_table)
ARRAY_JAX = {
    "matmul": jnp.matmul,
    "sum": lambda x, axis=None: jnp.sum(x, axis=axis),
    "mean": lambda x, axis=None: jnp.mean(x, axis=axis),
    "amax": lambda x, axis=None: jnp.max(x, axis=axis),
    "amin": lambda x, axis=None: jnp.min(x, axis=axis),
    "logsumexp": lambda x, axis=None: jax.scipy.special.logsumexp(x, axis=axis),
    "softmax": lambda x, axis=-1: jax.nn.softmax(x, axis=axis),
    "log_softmax": lambda x, axis=-1: jax.nn.log_softmax(x, axis=axis),
    "transpose": jnp.transpose,
    "norm2": lambda x: jnp.sum(x * x),
    # parameters arrive as constants of the IR (whole numbers as floats)
    "conv2d": lambda x, w, stride, padding: conv_ref(x, w, int(stride), int(padding)),
    "maxpool2d": lambda x, k, stride: jnp.max(windows_ref(x, int(k), int(stride)), axis=-3),
    "avgpool2d": lambda x, k, stride: jnp.mean(windows_ref(x, int(k), int(stride)), axis=-3),
    "reshape": lambda x, *shape: jnp.reshape(x, tuple(int(n) for n in shape)),
    "flatten": lambda x: jnp.reshape(x, (x.shape[0], -1)),
}
AXIS = {"sum", "mean", "amax", "amin", "logsumexp", "softmax", "log_softmax"}


def jax_function(f):
    """A jax function of the inputs (in f.inputs order) computing f's value from its IR."""
    return jax_of_ir(f.forward_program, {**_jax_table(), **ARRAY_JAX}, AXIS)


def jax_value_and_grad(f, point):
    args = [jnp.asarray(point[name], dtype=jnp.float64) for name in f.inputs]
    value, grads = jax.value_and_grad(jax_function(f), argnums=tuple(range(len(args))))(*args)
    by_name = dict(zip(f.inputs, grads, strict=True))
    return np.asarray(value), {name: np.asarray(by_name[name]) for name in f.wrt}


def assert_close(got, expected, rtol=RTOL, what=""):
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert np.allclose(got, expected, rtol=rtol, atol=rtol * scale, equal_nan=True), (
        what,
        got,
        expected,
    )


def assert_agrees_with_jax(f, point, rtol=RTOL):
    value, grads = f.value_and_grad(**point)
    jax_value, jax_grads = jax_value_and_grad(f, point)
    assert_close(value, jax_value, rtol, "value")
    assert set(grads) == set(jax_grads)
    for name, gradient in grads.items():
        assert np.shape(gradient) == np.shape(point[name]), name  # the input's own shape
        assert_close(gradient, jax_grads[name], rtol, name)


# --- every primitive -------------------------------------------------------------------------

SCALAR_CASES = [(n, f, d) for n, cases in CASES.items() for f, d in cases]
# array shapes per input letter: broadcasting between (3, 4), (4,) and scalars
SHAPES = {"a": (3, 4), "b": (4,), "c": ()}


def draw(rng, domain, shape):
    low, high = domain
    return rng.uniform(low, high, size=shape) if shape else float(rng.uniform(low, high))


@pytest.mark.parametrize(
    ("name", "formula", "domain"), SCALAR_CASES, ids=[c[1] for c in SCALAR_CASES]
)
def test_every_scalar_primitive_on_both_backends(name, formula, domain):
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    python_f = exprgrad.compile(formula)
    numpy_f = exprgrad.compile(formula, backend="numpy")
    for _ in range(2):
        point = {n: draw(rng, domain.get(n, WIDE), ()) for n in python_f.inputs}
        assert_agrees_with_jax(python_f, point)
        assert_agrees_with_jax(numpy_f, point)
    # and broadcasting arrays, elementwise, summed to a scalar
    summed = exprgrad.compile(f"sum({formula})", backend="numpy")
    point = {n: draw(rng, domain.get(n, WIDE), SHAPES[n]) for n in summed.inputs}
    assert_agrees_with_jax(summed, point)


ARRAY_CASES = {
    "matmul": ["sum(A @ B)", "sum(A @ v)", "sum(u @ A)", "u @ (A @ v)", "sum(tanh(A @ B) @ w)"],
    "sum": ["sum(A*A)", "sum(sum(A, 0) * v)", "sum(sum(A, -1) * u)", "sum(sum(A, 1)) + 0"],
    "mean": ["mean(A)", "mean(mean(A, 0) * v)", "sum(mean(A, 1))"],
    "amax": ["amax(A)", "sum(amax(A, 0))", "sum(amax(A, -1) * u)"],
    "amin": ["amin(A)", "sum(amin(A, 1))"],
    "logsumexp": ["logsumexp(A)", "sum(logsumexp(A, 1))", "sum(logsumexp(A, 0) * v)"],
    "softmax": ["sum(softmax(A) * A)", "sum(softmax(A, 0) @ B @ w)", "softmax(v) @ v"],
    "log_softmax": ["sum(log_softmax(A) * A)", "sum(log_softmax(A, 0))"],
    "transpose": ["sum(transpose(A) @ u * v)", "sum(transpose(B) * transpose(B))"],
    "norm2": ["norm2(A)", "norm2(A @ B) + norm2(u)"],
    "conv2d": ["sum(conv2d(I, K))", "sum(tanh(conv2d(I, K, 2, 1)))",
               "sum(conv2d(I, K, padding=1) * conv2d(I, K, 1, 1))"],
    "maxpool2d": ["sum(maxpool2d(I, 2))", "sum(maxpool2d(I, 3, 1) ** 2)",
                  "norm2(maxpool2d(A, 2, 1))"],
    "avgpool2d": ["sum(avgpool2d(I, 2))", "sum(tanh(avgpool2d(I, 3, 2)))",
                  "sum(avgpool2d(A, 3, 1) * w)"],
    "reshape": ["sum(reshape(A, 2, 6) @ reshape(A, 6, 2))", "sum(reshape(A, -1) * reshape(A, 12))",
                "sum(reshape(u, 3, 1) * v)"],
    "flatten": ["sum(tanh(flatten(I)))", "norm2(flatten(maxpool2d(I, 2)))",
                "sum(flatten(A) * A)"],
}  # fmt: skip
# images NCHW and filters OIHW for the conv and pool rows
ARRAY_SHAPES = {"A": (3, 4), "B": (4, 2), "u": (3,), "v": (4,), "w": (2,),
                "I": (2, 3, 5, 5), "K": (4, 3, 3, 3)}  # fmt: skip
ARRAY_LIST = [(n, f) for n, fs in ARRAY_CASES.items() for f in fs]


def test_every_primitive_has_cases():
    scalar = {p.name for p in PRIMITIVES if not p.arrays}
    callable_arrays = {p.name for p in PRIMITIVES if p.arrays and (p.callable or p.symbol)}
    assert scalar <= set(CASES) and callable_arrays == set(ARRAY_CASES)


@pytest.mark.parametrize(("name", "formula"), ARRAY_LIST, ids=[f for _, f in ARRAY_LIST])
def test_every_array_primitive(name, formula):
    f = exprgrad.compile(formula, backend="numpy")
    assert any(op.prim == name for op in f.forward_program.ops)
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    for _ in range(2):
        point = {n: rng.normal(size=ARRAY_SHAPES[n]) for n in f.inputs}
        assert_agrees_with_jax(f, point)


def test_ties_of_amax_split_the_gradient_evenly():
    f = exprgrad.compile("sum(amax(A, 1))", backend="numpy")
    A = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    assert_close(f.grad(A=A)["A"], [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], 1e-15)
    assert_agrees_with_jax(f, {"A": A})  # jax splits ties evenly too


# --- random array programs -------------------------------------------------------------------

DIMS = {"n": 3, "k": 4, "m": 2}
VARIABLES = {"X": ("n", "k"), "W": ("k", "m"), "V": ("n", "m"), "x": ("k",), "y": ("n",),
             "z": ("m",), "s": ()}  # fmt: skip
UNARY = ["tanh({})", "sigmoid({})", "exp(tanh({}))", "relu({})", "softplus({})", "({})**2",
         "sin({})", "abs({})", "log1p({}*{})", "sqrt(1 + {}*{})"]  # fmt: skip
BINARY = ["({} + {})", "({} - {})", "({} * {})", "({} / (1 + {}*{}))", "max({}, {})",
          "min({}, {})", "where({} > {}, {}, {})", "hypot({}, {})"]  # fmt: skip


def shape_of(dims):
    return tuple(DIMS[d] for d in dims)


@st.composite
def array_expression(draw, dims, depth=3):
    """Formula text of an expression whose shape is `dims` (a tuple of dimension letters)."""
    leaves = [name for name, shape in VARIABLES.items() if shape == dims]
    choices = ["leaf"] if depth == 0 else ["leaf", "unary", "binary", "broadcast", "reduce"]
    if len(dims) <= 2 and depth > 0:
        choices += ["matmul"]
    if len(dims) >= 1 and depth > 0:
        choices += ["softmax"]
    kind = draw(st.sampled_from(choices))
    if kind == "leaf" or (kind == "matmul" and len(dims) == 0):
        if leaves:
            return draw(st.sampled_from(leaves))
        return (
            f"(0.5 + 0*{draw(array_expression(dims, 0))})"
            if dims == ()
            else (draw(array_expression(dims, max(depth, 1))))
        )
    sub = lambda d=dims: array_expression(d, depth - 1)  # noqa: E731
    if kind == "unary":
        template = draw(st.sampled_from(UNARY))
        inner = draw(sub())
        return template.format(*[inner] * template.count("{}"))
    if kind == "binary":
        template = draw(st.sampled_from(BINARY))
        parts = [draw(sub()) for _ in range(template.count("{}"))]
        return template.format(*parts)
    if kind == "broadcast":  # an operand of fewer dimensions (or a scalar) broadcasts
        smaller = dims[1:] if dims else ()
        return f"({draw(sub())} * {draw(sub(smaller))})"
    if kind == "reduce":
        extra = draw(st.sampled_from(sorted(DIMS)))
        wide = (*dims, extra)
        function = draw(st.sampled_from(["sum", "mean", "amax", "logsumexp"]))
        if len(wide) > 2:
            return draw(sub())
        return f"{function}({draw(sub(wide))}, -1)"
    if kind == "softmax":
        function = draw(st.sampled_from(["softmax", "log_softmax"]))
        return f"{function}({draw(sub())}, -1)"
    # matmul: dims (a, b) = (a, k) @ (k, b); (a,) = (a, k) @ (k,); (b,) = (k,) @ (k, b)
    inner = draw(st.sampled_from(sorted(DIMS)))
    if len(dims) == 2:
        return f"({draw(sub((dims[0], inner)))} @ {draw(sub((inner, dims[1])))})"
    left_vector = draw(st.booleans())
    if left_vector:
        return f"({draw(sub((inner,)))} @ {draw(sub((inner, dims[0])))})"
    return f"({draw(sub((dims[0], inner)))} @ {draw(sub((inner,)))})"


@st.composite
def array_programs(draw):
    dims = draw(st.sampled_from([(), ("n",), ("k",), ("n", "k"), ("n", "m")]))
    body = draw(array_expression(dims))
    return body if dims == () else f"{draw(st.sampled_from(['sum', 'mean']))}({body})"


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(array_programs(), st.integers(0, 2**31 - 1))
def test_random_array_programs_against_jax(formula, seed):
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(seed)
    point = {name: rng.normal(size=shape_of(VARIABLES[name])) for name in f.inputs}
    try:
        value, grads = f.value_and_grad(**point)
    except exprgrad.EvaluationError:
        assume(False)
    jax_value, jax_grads = jax_value_and_grad(f, point)
    assume(np.isfinite(jax_value) and all(np.isfinite(g).all() for g in jax_grads.values()))
    # where(a > b, ...) ties and relu/abs/max at 0 have measure zero with normal draws
    assert_close(value, jax_value, 1e-8, "value")
    for name, gradient in grads.items():
        assert np.shape(gradient) == np.shape(point[name])
        assert_close(gradient, jax_grads[name], 1e-8, name)


# --- float32 stays float32, close to the float64 result --------------------------------------


@pytest.mark.parametrize(
    "formula",
    [
        "mean(log1p(exp(-y * (X @ w + b))))",
        "sum(log_softmax(X @ W, -1) * T)",
        "norm2(tanh(X @ W) - T) + 0.01 * norm2(W)",
        "mean(amax(X, 1)) + logsumexp(X)",
    ],
)
def test_float32_stays_float32_and_close_to_float64(formula):
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(7)
    shapes = {"X": (8, 3), "y": (8,), "w": (3,), "b": (), "W": (3, 4), "T": (8, 4)}
    point64 = {n: rng.normal(size=shapes[n]) for n in f.inputs}
    point32 = {n: np.asarray(v, dtype=np.float32) for n, v in point64.items()}
    value32, grads32 = f.value_and_grad(**point32)
    value64, grads64 = f.value_and_grad(**point64)
    assert np.asarray(value32).dtype == np.float32
    for name in f.inputs:
        assert grads32[name].dtype == np.float32 and grads64[name].dtype == np.float64
        assert_close(grads32[name], grads64[name], 1e-4, name)
    assert_close(value32, value64, 1e-4)
    assert "float32" in f.source_for(**point32)  # the shape comments say so


# --- impossible shapes: the operation, its place and every shape -----------------------------

IMPOSSIBLE = [
    ("a + b", {"a": (3,), "b": (4,)}, "a + b"),
    ("a * b", {"a": (2, 3), "b": (3, 2)}, "a * b"),
    ("sum(a - b)", {"a": (5,), "b": (2,)}, "a - b"),
    ("sum(a / b)", {"a": (2, 3), "b": (2,)}, "a / b"),
    ("sum(a ** b)", {"a": (3,), "b": (2,)}, "a ** b"),
    ("sum(where(a > b, a, b))", {"a": (3,), "b": (4,)}, "a > b"),
    ("sum(where(c, a, b))", {"c": (2,), "a": (3,), "b": (3,)}, "where(c, a, b)"),
    ("sum(max(a, b))", {"a": (3,), "b": (4,)}, "max(a, b)"),
    ("sum(min(a, b, c))", {"a": (3,), "b": (3,), "c": (2,)}, "min(a, b, c)"),
    ("sum(hypot(a, b))", {"a": (3,), "b": (4,)}, "hypot(a, b)"),
    ("sum(atan2(a, b))", {"a": (2, 2), "b": (3,)}, "atan2(a, b)"),
    ("sum(clip(a, b, c))", {"a": (3,), "b": (2,), "c": ()}, "clip(a, b, c)"),
    ("sum(A @ B)", {"A": (2, 3), "B": (2, 3)}, "A @ B"),
    ("sum(A @ v)", {"A": (2, 3), "v": (2,)}, "A @ v"),
    ("sum(v @ A)", {"v": (3,), "A": (2, 3)}, "v @ A"),
    ("v @ u", {"v": (3,), "u": (4,)}, "v @ u"),
    ("sum(A @ B)", {"A": (2, 3, 4), "B": (4, 2)}, "A @ B"),
    ("sum(s @ A)", {"s": (), "A": (2, 2)}, "s @ A"),
    ("sum(sum(A, 2))", {"A": (2, 3)}, "sum(A, 2)"),
    ("sum(mean(A, -3))", {"A": (2, 3)}, "mean(A, -3)"),
    ("sum(amax(v, 1))", {"v": (3,)}, "amax(v, 1)"),
    ("amin(s, 0)", {"s": ()}, "amin(s, 0)"),
    ("sum(logsumexp(A, 5))", {"A": (2, 3)}, "logsumexp(A, 5)"),
    ("sum(softmax(A, 2))", {"A": (2, 3)}, "softmax(A, 2)"),
    ("sum(log_softmax(v, -2))", {"v": (3,)}, "log_softmax(v, -2)"),
    ("sum(softmax(s))", {"s": ()}, "softmax(s)"),
    ("sum(transpose(A) + A)", {"A": (2, 3)}, "transpose(A) + A"),
    ("sum(tanh(a) * exp(b))", {"a": (3,), "b": (4,)}, "tanh(a) * exp(b)"),
    ("z = a + 1\nsum(z * b)", {"a": (3,), "b": (2,)}, "z * b"),
    ("sum(sum(A, 0) + sum(A, 1))", {"A": (2, 3)}, "sum(A, 0) + sum(A, 1)"),
    ("norm2(A) + sum(A @ A)", {"A": (2, 3)}, "A @ A"),
    ("sum((A @ B) * C)", {"A": (2, 3), "B": (3, 4), "C": (4, 2)}, "(A @ B) * C"),
]


@pytest.mark.parametrize(
    ("formula", "shapes", "culprit"), IMPOSSIBLE, ids=[i[0] for i in IMPOSSIBLE]
)
def test_impossible_shapes_name_the_operation_place_and_shapes(formula, shapes, culprit):
    f = exprgrad.compile(formula, backend="numpy")  # shapes are unknown until called
    point = {name: np.ones(shape) for name, shape in shapes.items()}
    with pytest.raises(exprgrad.FormulaError) as caught:
        f.value_and_grad(**point)
    error = caught.value
    message = str(error)
    assert culprit in message, message
    start = (
        formula.index(culprit.split(" ")[0]) if culprit not in formula else formula.index(culprit)
    )
    line = formula.count("\n", 0, start) + 1
    assert error.line == line, message
    assert "operand shapes (" in message
    operands = re.fullmatch(r"(\w+) \S+ (\w+)|\w+\(([\w, ]+)\)", culprit)
    if operands:  # operands that are inputs: their own shapes are named
        names = [n for group in operands.groups() if group for n in re.split(r", ", group)]
        for name in names:
            if name in shapes and shapes[name]:
                assert str(shapes[name]) in message, (name, message)
    assert "^" in message
    assert len(IMPOSSIBLE) >= 30


# --- vjp: values of any shape ----------------------------------------------------------------


def test_vjp_against_jax():
    f = exprgrad.compile("tanh(X @ W) * z", backend="numpy")
    rng = np.random.default_rng(3)
    point = {"X": rng.normal(size=(3, 4)), "W": rng.normal(size=(4, 2)), "z": rng.normal(size=2)}
    cotangent = rng.normal(size=(3, 2))
    value, grads = f.vjp(cotangent, **point)
    args = [jnp.asarray(point[n]) for n in f.inputs]
    jax_value, pullback = jax.vjp(jax_function(f), *args)
    jax_grads = dict(zip(f.inputs, pullback(jnp.asarray(cotangent)), strict=True))
    assert_close(value, jax_value)
    for name in f.inputs:
        assert_close(grads[name], jax_grads[name], what=name)
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\), the value \(3, 2\)"):
        f.vjp(np.ones(2), **point)
    with pytest.raises(ValueError, match="value_and_grad needs a scalar value.*shape \\(3, 2\\)"):
        f.value_and_grad(**point)


def test_inputs_of_every_kind_and_never_modified():
    f = exprgrad.compile("sum(a * b) + c", backend="numpy")
    a = np.arange(3.0)
    before = a.copy()
    value, grads = f.value_and_grad(a=a, b=[1, 2, 3], c=2)
    assert value == 0 * 1 + 1 * 2 + 2 * 3 + 2
    assert (a == before).all() and grads["a"] is not a
    assert grads["b"].dtype == np.float64 and type(grads["c"]) is np.float64
    grads["a"][0] = 99.0  # a gradient is the caller's own array to change
    assert a[0] == 0.0
    for bad, fragment in (("x", "must be an array or a real number, not str"),
                          (None, "not NoneType"), (np.array([1j]), "complex")):  # fmt: skip
        with pytest.raises(TypeError, match=fragment):
            f(a=bad, b=1.0, c=1.0)
    with pytest.raises(TypeError, match="missing argument"):
        f(a=1.0)
    assert math.isfinite(f(1.0, 2.0, 3.0))


# --- array functions of numbers: folded bit for bit, or refused with the op named ------------


@pytest.mark.parametrize("function", ["sum", "mean", "amax", "amin", "logsumexp", "transpose",
                                      "norm2"])  # fmt: skip
def test_array_functions_of_a_constant_fold_to_what_numpy_computes(function):
    """`function(constant)` folds at compile time to the very number (signed zeros, inf and
    nan included) that the generated numpy code gives for an input holding it."""
    f = exprgrad.compile(f"{function}(c)", backend="numpy")
    for c in (-0.0, 0.0, 2.5, -3.0, 1e308, 1e-320, math.inf, -math.inf, math.nan):
        builder = Builder()
        value = builder.op(function, builder.const(c))
        folded = fold_constants(Program(tuple(builder.ops), "", (), value), FOLD)
        assert folded.ops[folded.value].prim == CONST, function
        with np.errstate(all="ignore"):  # the generated code itself (1e308**2 is inf)
            computed = f._function(f._for([np.asarray(c)]), "forward")(np.asarray(c))
        assert repr(folded.ops[folded.value].value) == repr(float(computed)), (function, c)


@pytest.mark.parametrize(
    ("formula", "point"),
    [
        ("sum(3) + x", {"x": 1.5}),
        ("norm2(1.5) + x", {"x": 1.5}),
        ("norm2(pi) - v0", {"v0": 0.5}),
        ("sum(transpose(2) * x) + mean(4)", {"x": np.ones((2, 3))}),
        ("logsumexp(1) * sum(x)", {"x": np.ones(3)}),
    ],
)
def test_constant_array_functions_compile_and_agree_with_jax(formula, point):
    """Constant folding used to run an array function through its (empty) Python spelling:
    a SyntaxError inside exprgrad."""
    assert_agrees_with_jax(exprgrad.compile(formula, backend="numpy"), point)


def test_an_axis_of_a_number_is_refused_at_the_call_naming_the_op():
    """jax refuses an axis of a 0-d array (numpy lets axis 0 and -1 through, a legacy
    quirk); so does the shape pass, naming the op, whether the operand is constant or not."""
    for formula in ("sum(3, 0) + x", "x + softmax(2)", "sum(max(acos(0.5*sin(x)), atan(.5)), -1)"):
        f = exprgrad.compile(formula, backend="numpy")  # compiles: shapes come at the call
        with pytest.raises(exprgrad.FormulaError, match="axis .* out of range for shape"):
            f.value_and_grad(x=0.5)
    with pytest.raises(ValueError):
        jnp.sum(jnp.float64(3.0), axis=0)


@pytest.mark.parametrize(("formula", "shape"), [("transpose(A)", (3, 2)),
                                                ("log_softmax(X, -1)", (2, 3))])  # fmt: skip
def test_vjp_of_array_valued_formulas(formula, shape):
    """Their value_and_grad program (seeded with the constant 1.0) used to fold
    transpose(1.0) and fail; and sum(1.0, -1) in it must not stop a call either."""
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(5)
    x = rng.normal(size=shape)
    cotangent = rng.normal(size=np.shape(f(x)))
    value, grads = f.vjp(cotangent, x)
    jax_value, pullback = jax.vjp(jax_function(f), jnp.asarray(x))
    assert_close(value, jax_value)
    assert_close(grads[f.inputs[0]], pullback(jnp.asarray(cotangent))[0])


# --- where: a branch's elements not taken raise nothing and poison no gradient ---------------

DOUBLE_WHERE = [  # (formula, the same with jax's "double where": the branch at a safe x)
    ("sum(where(x > 0, log(x)*log(x), 0))", lambda x, s: jnp.log(s) * jnp.log(s)),
    ("sum(where(x > 0, x*log(x), 0))", lambda x, s: s * jnp.log(s)),
    ("sum(where(x > 0, sqrt(x)*exp(x), 0))", lambda x, s: jnp.sqrt(s) * jnp.exp(s)),
    ("sum(where(x > 0, tanh(1/x) * x, 0))", lambda x, s: jnp.tanh(1 / s) * s),
    ("sum(where(x > 0, (x*log(x) + 1)**2, 0))", lambda x, s: (s * jnp.log(s) + 1) ** 2),
    ("sum(where(x > 0, sin(log(x)) / x, 0))", lambda x, s: jnp.sin(jnp.log(s)) / s),
]


@pytest.mark.parametrize(("formula", "branch"), DOUBLE_WHERE, ids=[d[0] for d in DOUBLE_WHERE])
def test_where_equals_jax_double_where_in_value_and_gradient(formula, branch):
    """Only log, sqrt, 1/x ... were masked: log(x)*log(x) at x = 0 made 0 * inf = nan in
    the gradient ("log of a non-positive number"), x*log(x) a NameError in the diagnosis."""
    import warnings

    def reference(x):
        taken = x > 0
        safe = jnp.where(taken, x, 1.0)
        return jnp.sum(jnp.where(taken, branch(x, safe), 0.0))

    f = exprgrad.compile(formula, backend="numpy")
    for x in (np.array([0.0, 1.0]), np.array([-2.0, 0.0, 0.5, 3.0]), np.array([-1.0])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning either
            value, grads = f.value_and_grad(x=x)
        want, want_grad = jax.value_and_grad(reference)(jnp.asarray(x))
        assert_close(value, want, 1e-12, "value")
        assert np.isfinite(grads["x"]).all()
        assert_close(grads["x"], want_grad, 1e-12, "gradient")


# --- dtypes: each gradient in its own input's dtype ------------------------------------------


@pytest.mark.parametrize(
    "formula",
    ["sum(x * where(x > 0, 1, 2))", "where(3 < x, x, 3)", "sum(max(x, 0.5, -1))",
     "sum(where(x > 0, 1, 0) * 2 + x)", "mean(amax(x * 0 + 1))"],
)  # fmt: skip
def test_float32_gradients_of_values_made_from_constants_stay_float32(formula):
    """where(c, 1.0, 2.0) is a float64 array in numpy: it used to make a float32 input's
    gradient (and value) float64."""
    f = exprgrad.compile(formula, backend="numpy")
    for x in (np.float32(4.0), np.array([-1.0, 0.25, 2.0], dtype=np.float32)):
        value = np.asarray(f(x=x))
        if value.shape == ():
            value, grads = f.value_and_grad(x=x)
            assert np.asarray(value).dtype == np.float32 and grads["x"].dtype == np.float32
        value, grads = f.vjp(np.ones_like(value), x=x)
        assert np.asarray(value).dtype == np.float32 and grads["x"].dtype == np.float32


def test_vjp_of_max_with_constants_in_float32():
    f = exprgrad.compile("max(x, 0.5, -1)", backend="numpy")
    x = np.array([0.0, 1.0, 0.5], dtype=np.float32)
    value, grads = f.vjp(np.ones(3, dtype=np.float32), x=x)
    assert value.dtype == np.float32 and grads["x"].dtype == np.float32
    assert grads["x"].tolist() == [0.0, 1.0, 0.5]


@pytest.mark.parametrize("formula", ["sum(a * b)", "sum(a * b * 2) + sum(where(a > 0, 1, 0))",
                                     "sum(b) + sum(a)", "sum(a @ transpose(B))"])  # fmt: skip
def test_mixed_float32_and_float64_inputs_get_gradients_in_their_own_dtypes(formula):
    """sum(a * b) with a float32 and b float64 gave b's gradient in float32."""
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(2)
    point = {"a": rng.normal(size=3).astype(np.float32), "b": rng.normal(size=3),
             "B": rng.normal(size=(2, 3))}  # fmt: skip
    point = {n: point[n] for n in f.inputs}
    value, grads = f.value_and_grad(**point)
    for name in f.inputs:
        assert grads[name].dtype == point[name].dtype, name
    assert_agrees_with_jax(f, {n: np.asarray(v, dtype=np.float64) for n, v in point.items()})
    jax_value, jax_grads = jax_value_and_grad(f, point)  # jax in float64 at these points
    assert_close(value, jax_value, 1e-6)
    for name in f.inputs:
        assert_close(grads[name], jax_grads[name], 1e-6, name)


def test_the_same_shape_in_float32_then_float64_gives_each_its_dtype():
    """Code is kept per signature: shapes and dtypes (a cache keyed on shapes alone would
    hand float64 inputs the float32 code)."""
    f = exprgrad.compile("sum(x * where(x > 0, 1, 2)) + sum(x @ W)", backend="numpy")
    x, W = np.array([1.0, -2.0]), np.ones((2, 3))
    for dtype in (np.float32, np.float64, np.float32):
        value, grads = f.value_and_grad(x=x.astype(dtype), W=W.astype(dtype))
        assert np.asarray(value).dtype == dtype
        assert grads["x"].dtype == dtype and grads["W"].dtype == dtype
        assert value == 1.0 - 4.0 - 3.0 and grads["x"].tolist() == [4.0, 5.0]


# --- NaN reaches the gradients of the selecting reductions -----------------------------------


@pytest.mark.parametrize(
    "formula",
    ["amax(x)", "amin(x)", "sum(amax(X, 1))", "sum(amin(X, 0))", "logsumexp(x)",
     "sum(logsumexp(X, 1))", "norm2(x)", "sum(softmax(X) * X)", "mean(x)"],
)  # fmt: skip
def test_nan_in_a_reduction_reaches_its_gradient_as_in_jax(formula):
    """amax at [1, nan] was nan with gradient [0, 0]: a NaN that vanished from the
    gradient, where README's NaN policy (and jax) has it reach every element it chose."""
    f = exprgrad.compile(formula, backend="numpy")
    point = {"x": np.array([1.0, np.nan, 3.0]),
             "X": np.array([[1.0, np.nan, 2.0], [3.0, 4.0, 4.0]])}  # fmt: skip
    point = {n: point[n] for n in f.inputs}
    value, grads = f.value_and_grad(**point)
    jax_value, jax_grads = jax_value_and_grad(f, point)
    assert np.isnan(value)
    for name, gradient in grads.items():
        assert np.array_equal(np.isnan(gradient), np.isnan(jax_grads[name])), name
        assert_close(gradient, jax_grads[name], RTOL, name)
    if formula in ("amax(x)", "amin(x)"):
        assert np.isnan(grads["x"]).all()  # as max(a, b, c) with a NaN: README "Numerics"
        scalar = exprgrad.compile(formula[1:4] + "(a, b, c)")  # max(a, b, c) or min
        assert all(math.isnan(g) for g in scalar.grad(1.0, math.nan, 3.0).values())


# --- broadcasting that adds leading dimensions -----------------------------------------------

BROADCASTS = [((4, 3, 3), (3, 1)), ((4, 3, 3), (1, 3)), ((4, 3, 3), (3,)), ((4, 3, 3), ()),
              ((4, 1, 3), (2, 1)), ((2, 3, 4), (1, 3, 1)), ((5, 1), (1, 4)), ((3,), (2, 1, 3)),
              ((1, 1), (2, 3)), ((2, 1, 1), (1,))]  # fmt: skip


@pytest.mark.parametrize(("x_shape", "b_shape"), BROADCASTS, ids=[str(b) for b in BROADCASTS])
def test_broadcast_gradients_sum_over_added_and_stretched_axes(x_shape, b_shape):
    """Each gradient is summed over the leading axes broadcasting added and over its own
    size-1 axes that were stretched: the hand-written sums, and jax."""
    f = exprgrad.compile("sum(x * b + exp(b) * x * x)", backend="numpy")
    rng = np.random.default_rng(11)
    x, b = rng.normal(size=x_shape), rng.normal(size=b_shape)
    value, grads = f.value_and_grad(x=x, b=b)
    full = np.broadcast_shapes(x_shape, b_shape)
    by_hand = {"x": np.broadcast_to(b + 2 * np.exp(b) * x, full),
               "b": np.broadcast_to(x + np.exp(b) * x * x, full)}  # fmt: skip
    for name, shape in (("x", x_shape), ("b", b_shape)):
        lead = len(full) - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + k for k, n in enumerate(shape) if n == 1 and full[lead + k] != 1
        )
        want = np.sum(by_hand[name], axis=axes, keepdims=True).reshape(shape)
        assert np.shape(grads[name]) == shape
        assert_close(grads[name], want, 1e-12, name)
    assert_agrees_with_jax(f, {"x": x, "b": b})


# --- random programs by category, each counted (tests/conftest.py prints the counts) ---------
#
# Each program is compiled and called; the result is one of: agreed with jax (value and
# every gradient, and each gradient in its input's dtype), refused with exprgrad's own
# error (a FormulaError for impossible shapes, an EvaluationError for a non-finite result:
# jax must then fail or be non-finite too), or "jax not finite" (nothing to compare).

RANDOM_PROGRAMS: dict[str, Counter] = {}
_OUTCOMES = ("generated", "compiled", "agreed with jax", "refused with a clear error")


def _counts(category: str) -> Counter:
    return RANDOM_PROGRAMS.setdefault(category, Counter({k: 0 for k in _OUTCOMES}))


def _finite(value, grads) -> bool:
    return bool(np.isfinite(value).all() and all(np.isfinite(g).all() for g in grads.values()))


def run_against_jax(category, f, point, reference=None, rtol=1e-8):
    """Call f on point and compare with `reference` (jax's value and gradients in float64,
    by default of f's forward IR); count the outcome under `category`."""
    counts = _counts(category)
    counts["generated"] += 1
    reference = reference or (lambda: jax_value_and_grad(f, point))
    try:
        value, grads = f.value_and_grad(**point)
    except exprgrad.Error as error:
        if not isinstance(error, exprgrad.FormulaError | exprgrad.ShapeError):
            counts["compiled"] += 1
        try:
            jax_value, jax_grads = reference()
        except (TypeError, ValueError, IndexError):  # jax refuses it too (an axis of a number)
            assert isinstance(error, exprgrad.FormulaError), (f.formula, error)
        else:
            assert not _finite(jax_value, jax_grads), (f.formula, point, error)
        counts["refused with a clear error"] += 1
        return
    counts["compiled"] += 1
    jax_value, jax_grads = reference()
    if not _finite(jax_value, jax_grads):
        counts["jax not finite"] += 1
        return
    assert_close(value, jax_value, rtol, f"value of {f.formula}")
    for name, gradient in grads.items():
        wanted = np.asarray(point[name]).dtype if isinstance(point[name], np.ndarray) else None
        assert np.shape(gradient) == np.shape(point[name]), (f.formula, name)
        assert wanted is None or gradient.dtype == wanted, (f.formula, name, gradient.dtype)
        assert_close(gradient, jax_grads[name], rtol, f"d/d{name} of {f.formula}")
    counts["agreed with jax"] += 1


# 1. constants and scalar-valued subexpressions as the operands of every primitive

SCALAR_OPERAND = ["{c}", "s_{v}", "(0 * amax(x) + s_{v})", "(mean(x) - mean(x) + {c})",
                  "sum(0 * x + s_{v}) / 3", "norm2(s_{v}) / s_{v}"]  # fmt: skip
CALLS = (
    [(p.name, f) for p in PRIMITIVES if not p.arrays for f, _ in CASES[p.name]]
    + [
        (p.name, f"{p.name}(a{axis})")
        for p in PRIMITIVES
        if p.arrays and p.callable and p.params is None
        for axis in (["", ", 0", ", -1"] if p.axis else [""])
    ]
    + [("matmul", "a @ b"), ("conv2d", "conv2d(a, b)"), ("conv2d", "conv2d(a, b, 2, 1)")]
    + [("maxpool2d", "maxpool2d(a, 1)"), ("avgpool2d", "avgpool2d(a, 2, 1)")]
    + [("reshape", "reshape(a, 1)"), ("reshape", "reshape(a, -1, 1)")]
)


@settings(max_examples=2)
@given(data=st.data())
@pytest.mark.parametrize(("name", "call"), CALLS, ids=[c for _, c in CALLS])
def test_random_scalar_operands_of_every_primitive(name, call, data):
    """Every primitive with numbers, scalar inputs and scalar-valued subexpressions of an
    array as its operands: folded, computed, or (an axis of a number) refused at the call."""
    domains = dict(next((d for f, d in CASES.get(name, []) if f == call), {}))
    letters = [v for v in "abc" if re.search(rf"\b{v}\b", call)]
    point = {"x": np.array([0.5, -1.0, 2.0])}
    operands = {}
    for v in letters:
        low, high = domains.get(v, WIDE)
        number = data.draw(st.floats(low, high).map(lambda t: round(t, 3)), label=v)
        template = data.draw(st.sampled_from(SCALAR_OPERAND), label=f"{v} as")
        if "norm2" in template and number == 0:
            template = "{c}"
        operands[v] = "(" + template.format(c=repr(number), v=v) + ")"
        if "s_" in template:
            point[f"s_{v}"] = number
    body = re.sub(r"\b([abc])\b", lambda m: operands[m.group(1)], call)
    f = exprgrad.compile(f"sum(x * {body})", backend="numpy")
    point = {n: point[n] for n in f.inputs}
    run_against_jax("scalar operands of every primitive", f, point, rtol=1e-9)


# 2. reductions with an axis over scalar-valued subexpressions

SCALAR_VALUED = ["s", "0.5", "max(acos(0.5*sin(s)), atan(.5))", "sum(x)", "amax(x) * s",
                 "norm2(x - s)", "where(s > 0, log(s), s)", "logsumexp(x) + mean(x)"]  # fmt: skip


@settings(max_examples=20)
@given(
    st.sampled_from(["sum", "mean", "amax", "amin", "logsumexp", "softmax", "log_softmax"]),
    st.sampled_from(SCALAR_VALUED),
    st.sampled_from([", 0", ", -1", ", 1", ""]),
    st.floats(0.1, 2.0),
)
def test_random_reductions_with_an_axis_over_numbers(function, inner, axis, s):
    """numpy lets axis 0 and -1 of a 0-d array through; jax and exprgrad refuse every axis
    of a number (a FormulaError naming the op: it used to be a TypeError inside the code)."""
    f = exprgrad.compile(f"sum(x) * {function}({inner}{axis})", backend="numpy")
    point = {n: {"x": np.array([0.5, 1.5]), "s": s}[n] for n in f.inputs}
    run_against_jax("reductions with an axis over numbers", f, point)
    if axis or function in ("softmax", "log_softmax"):
        with pytest.raises(exprgrad.FormulaError, match=rf"axis .* in {function}\("):
            f.value_and_grad(**point)


# 3. broadcasting that adds leading axes: operands of different ranks, size-1 axes

BROADCAST_VARIABLES = {"P": (2, 3, 4), "Q": (3, 1), "R": (1, 4), "T": (2, 1, 4), "u": (4,),
                       "w": (3, 1, 1), "s": ()}  # fmt: skip


# values made from constants alone (where's 1 and 2), or constants among the operands
CONSTANT_VALUED = ["({} * where({} > 0, 1, 2))", "max({}, 0.5, {})", "where(3 < {}, {}, 3)"]


@st.composite
def broadcast_expression(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(sorted(BROADCAST_VARIABLES)))
    kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce"]))
    if kind == "unary":
        template = draw(st.sampled_from(UNARY))
        inner = draw(broadcast_expression(depth - 1))
        return template.format(*[inner] * template.count("{}"))
    if kind == "binary":
        template = draw(st.sampled_from(BINARY + CONSTANT_VALUED))
        parts = [draw(broadcast_expression(depth - 1)) for _ in range(template.count("{}"))]
        return template.format(*parts)
    # a reduction over the first axis of a 3-D operand: one dimension less, broadcast again
    function = draw(st.sampled_from(["sum", "mean", "amax", "logsumexp"]))
    return f"{function}(P * {draw(broadcast_expression(depth - 1))}, 0)"


@settings(max_examples=30)
@given(broadcast_expression(), st.integers(0, 2**31 - 1))
def test_random_broadcasting_that_adds_leading_axes(body, seed):
    f = exprgrad.compile(f"sum({body})", backend="numpy")
    rng = np.random.default_rng(seed)
    point = {n: rng.normal(size=BROADCAST_VARIABLES[n]) for n in f.inputs}
    point = {n: float(v) if np.ndim(v) == 0 else v for n, v in point.items()}
    run_against_jax("broadcasting that adds leading axes", f, point)


# 4. mixed float32 and float64 inputs: each gradient in its own input's dtype


MIXED_SHAPES = {**{n: shape_of(d) for n, d in VARIABLES.items()}, **BROADCAST_VARIABLES}


@settings(max_examples=30)
@given(
    st.one_of(array_programs(), broadcast_expression().map(lambda body: f"sum({body})")),
    st.integers(0, 2**31 - 1),
    st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_random_programs_of_mixed_float32_and_float64_inputs(formula, seed, narrow):
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(seed)
    point = {}
    for k, name in enumerate(f.inputs):
        value = rng.normal(size=MIXED_SHAPES[name])
        point[name] = np.asarray(value, dtype=np.float32 if narrow[k] else np.float64)
    wide = {n: np.asarray(v, dtype=np.float64) for n, v in point.items()}
    run_against_jax(
        "mixed float32 and float64 inputs",
        f,
        point,
        reference=lambda: jax_value_and_grad(f, wide),
        rtol=1e-3 if any(narrow[: len(f.inputs)]) else 1e-8,
    )


# 5. where with branches outside their domain where not taken: log, sqrt, /, products


MASKED = {  # condition, and branches defined (with a finite gradient) where it holds
    "x > 0": ["log(x)", "sqrt(x)", "1 / x", "log(x) * log(x)", "x * log(x)", "sqrt(x) * y",
              "log(x) / sqrt(x)", "y * log(x) + x * x", "exp(log(x) * y)"],
    "x != 0": ["1 / x", "y / x", "log(abs(x)) * x", "sin(1 / x) * x", "(1 / x) ** 2"],
    "x > 1": ["log(log(x))", "sqrt(x - 1) * log(x)", "1 / (x - 1) + y", "acos(1 / x)"],
}  # fmt: skip
MASKED_CASES = [(c, b) for c, bs in MASKED.items() for b in bs]
COMPLEMENT = {"x > 0": "x <= 0", "x != 0": "x == 0", "x > 1": "x <= 1"}
_SAFE = 1.5  # inside every domain above


@settings(max_examples=30)
@given(
    st.sampled_from(MASKED_CASES),
    st.sampled_from(["0", "y", "x * y", "where(x > 0, 0, y)"]),
    st.booleans(),
    st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, -0.5, 3.0]), min_size=1, max_size=5),
    st.integers(0, 2**31 - 1),
)
def test_random_where_with_masked_domain_branches(case, other, taken_first, xs, seed):
    """The value and gradient of jax's "double where": the branch computed at a safe x
    where it is not taken, so nothing untaken raises or reaches the gradient."""
    condition, branch = case
    branches = (branch, other) if taken_first else (other, branch)
    test = condition if taken_first else COMPLEMENT[condition]  # the branch second
    f = exprgrad.compile(f"sum(where({test}, {branches[0]}, {branches[1]}))", backend="numpy")
    x = np.array(xs)
    y = np.random.default_rng(seed).normal(size=x.shape)
    point = {n: {"x": x, "y": y}[n] for n in f.inputs}
    # the reference: the same formula, its branch reading a safe copy xs of x
    safe_text = f"sum(where({test}, {{}}, {{}}))".format(
        *[re.sub(r"\bx\b", "xs", b) if b == branch else b for b in branches]
    )
    safe = exprgrad.compile(safe_text, backend="numpy")
    evaluate = jax_function(safe)
    holds = {"x > 0": lambda v: v > 0, "x != 0": lambda v: v != 0, "x > 1": lambda v: v > 1}

    def reference_function(x, y):
        taken = holds[condition](x)
        values = {"x": x, "y": y, "xs": jnp.where(taken, x, _SAFE)}
        return evaluate(*[values[n] for n in safe.inputs])

    def reference():
        value, (gx, gy) = jax.value_and_grad(reference_function, argnums=(0, 1))(
            jnp.asarray(x), jnp.asarray(y)
        )
        return np.asarray(value), {"x": np.asarray(gx), "y": np.asarray(gy)}

    run_against_jax("where with masked-domain branches", f, point, reference, rtol=1e-9)
