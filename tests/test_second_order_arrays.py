"""Second order on the numpy backend (f.jvp, f.hvp, f.hessian) against jax.jvp and jax.hessian.

The jax side is either written by hand (logistic and MLP losses) or exprgrad's forward IR
interpreted op by op with jax functions (test_against_jax.jax_function), so jax supplies
every derivative: exprgrad's tangent rules, reverse pass and code generator are not used.
"""

from __future__ import annotations

import zlib

import pytest

import exprgrad
from exprgrad.core.primitives import PRIMITIVES

np = pytest.importorskip("numpy")
jax = pytest.importorskip("jax", reason="jax is a test extra: pip install 'exprgrad[test]'")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

from reference import _jax_table, jax_of_ir  # noqa: E402
from test_against_jax import ARRAY_JAX, ARRAY_LIST, ARRAY_SHAPES, AXIS  # noqa: E402

RTOL = 1e-10


def assert_close(got, expected, rtol=RTOL, what=""):
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))  # as test_against_jax
    assert np.allclose(got, expected, rtol=rtol, atol=rtol * scale, equal_nan=True), (
        what,
        got,
        expected,
    )


def jax_function(f):
    """f's forward IR interpreted op by op with jax functions (as test_against_jax does),
    its constants Python floats, so that jax.jit sees the parameters of conv2d or reshape
    as the numbers they are."""
    return jax_of_ir(f.forward_program, {**_jax_table(), **ARRAY_JAX}, AXIS, number=float)


def flat_jax(f, point, function=None):
    """jax's function of the wrt inputs flattened in C order and concatenated (the others
    fixed at the point), and that vector at the point."""
    function = function or jax_function(f)
    shapes = [np.shape(point[name]) for name in f.wrt]
    sizes = [int(np.prod(shape)) for shape in shapes]

    def of_vector(vector):
        values, start = dict(point), 0
        for name, shape, size in zip(f.wrt, shapes, sizes, strict=True):
            values[name] = vector[start : start + size].reshape(shape)
            start += size
        return function(*(jnp.asarray(values[name]) for name in f.inputs))

    flat = np.concatenate([np.ravel(point[name]) for name in f.wrt])
    return of_vector, flat


def check_against_jax(f, point, seed=0, function=None, rtol=RTOL):
    """f.jvp, f.hvp and f.hessian at the point against jax, along a random direction."""
    rng = np.random.default_rng(seed)
    of_vector, flat = flat_jax(f, point, function)
    direction = {name: rng.normal(size=np.shape(point[name])) for name in f.wrt}
    v = np.concatenate([np.ravel(direction[name]) for name in f.wrt]).astype(flat.dtype)
    value, tangent = f.jvp(direction, **point)
    jax_value, jax_tangent = jax.jit(lambda x, v: jax.jvp(of_vector, (x,), (v,)))(flat, v)
    assert_close(value, jax_value, rtol, "value")
    assert_close(tangent, jax_tangent, rtol, "jvp")
    if np.shape(jax_value) != ():
        return
    hessian = np.asarray(jax.jit(jax.hessian(of_vector))(flat))
    assert_close(f.hessian(**point), hessian, rtol, "hessian")
    products = f.hvp(direction, **point)
    assert list(products) == list(f.wrt)
    start = 0
    for name in f.wrt:
        size = np.size(point[name])
        assert np.shape(products[name]) == np.shape(point[name]), name
        assert_close(np.ravel(products[name]), (hessian @ v)[start : start + size], rtol, name)
        start += size


# --- the losses of the issue -----------------------------------------------------------------

LOGISTIC = "mean(softplus(X @ w + b) - y * (X @ w + b)) + lam * norm2(w)"


def logistic_point(seed=0, rows=30, columns=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, columns))
    y = (X @ rng.normal(size=columns) + 0.5 * rng.normal(size=rows) > 0).astype(float)
    point = {"X": X, "y": y, "w": rng.normal(size=columns), "b": 0.2, "lam": 0.01}
    return {k: np.asarray(v, dtype=dtype) for k, v in point.items()}


def test_logistic_loss_against_hand_written_jax():
    f = exprgrad.compile(LOGISTIC, backend="numpy", wrt=["w", "b"])
    point = logistic_point()

    def loss(X, w, b, y, lam):  # f.inputs order
        z = X @ w + b
        return jnp.mean(jnp.logaddexp(0.0, z) - y * z) + lam * jnp.sum(w * w)

    assert f.inputs == ("X", "w", "b", "y", "lam")
    check_against_jax(f, point, function=loss)
    assert f.hessian(**point).shape == (5, 5)


MLP = """
h = relu(X @ W1 + b1)
logits = h @ W2 + b2
mean(logsumexp(logits, 1) - sum(Y * logits, 1))
"""


def mlp_point(seed=1, rows=7, features=5, hidden=4, classes=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=rows)
    return {
        "X": rng.normal(size=(rows, features)),
        "W1": rng.normal(size=(features, hidden)) / 2,
        "b1": rng.normal(size=hidden) / 2,  # broadcast over the rows: a leading axis
        "W2": rng.normal(size=(hidden, classes)) / 2,
        "b2": rng.normal(size=classes) / 2,
        "Y": np.eye(classes)[labels],
    }


def test_mlp_softmax_cross_entropy_against_hand_written_jax():
    f = exprgrad.compile(MLP, backend="numpy", wrt=["W1", "b1", "W2", "b2"])
    point = mlp_point()

    def loss(X, W1, b1, W2, b2, Y):
        logits = jax.nn.relu(X @ W1 + b1) @ W2 + b2
        return jnp.mean(jax.scipy.special.logsumexp(logits, axis=1) - jnp.sum(Y * logits, 1))

    assert f.inputs == ("X", "W1", "b1", "W2", "b2", "Y")
    check_against_jax(f, point, function=loss)
    assert f.hessian(**point).shape == (20 + 4 + 12 + 3,) * 2


CNN = """
a = maxpool2d(relu(conv2d(X, K, 1, 1) + c), 2)
logits = flatten(a) @ W + b
mean(logsumexp(logits, 1) - sum(Y * logits, 1))
"""


def cnn_point(seed=6, rows=3, channels=2, filters=3, size=6, classes=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=rows)
    return {
        "X": rng.normal(size=(rows, channels, size, size)),
        "K": rng.normal(size=(filters, channels, 3, 3)) / 2,
        "c": rng.normal(size=(filters, 1, 1)) / 2,  # a bias per filter, broadcast
        "W": rng.normal(size=(filters * (size // 2) ** 2, classes)) / 4,
        "b": rng.normal(size=classes) / 2,
        "Y": np.eye(classes)[labels],
    }


def test_cnn_loss_against_hand_written_jax():
    f = exprgrad.compile(CNN, backend="numpy", wrt=["K", "c", "W", "b"])
    point = cnn_point()

    def loss(X, K, c, W, b, Y):
        conv = jax.lax.conv_general_dilated(
            X, K, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        hidden = jax.nn.relu(conv + c)
        pooled = jax.lax.reduce_window(
            hidden, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID"
        )
        logits = pooled.reshape(pooled.shape[0], -1) @ W + b
        return jnp.mean(jax.scipy.special.logsumexp(logits, axis=1) - jnp.sum(Y * logits, 1))

    assert f.inputs == ("X", "K", "c", "W", "b", "Y")
    check_against_jax(f, point, function=loss)
    # and with respect to the images too: the gradient's conv2d_dx and conv2d_dw both move
    g = exprgrad.compile(CNN, backend="numpy", wrt=["X", "K"])
    check_against_jax(g, cnn_point(seed=7, rows=2, size=4), seed=3, function=loss)


@pytest.mark.parametrize(("k", "stride"), [(2, 2), (3, 1), (2, 3)])
def test_maxpool_tangents_against_jax_and_ties_averaged(k, stride):
    f = exprgrad.compile(f"sum(maxpool2d(I, {k}, {stride}) ** 2)", backend="numpy")
    rng = np.random.default_rng(k * 10 + stride)
    image, direction = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(2, 2, 5, 5))

    def loss(images):
        window, strides = (1, 1, k, k), (1, 1, stride, stride)
        return jnp.sum(
            jax.lax.reduce_window(images, -jnp.inf, jax.lax.max, window, strides, "VALID") ** 2
        )

    check_against_jax(f, {"I": image}, function=loss)
    # ties (jax picks one element; exprgrad averages, as the gradient splits)
    g = exprgrad.compile(f"sum(maxpool2d(I, {k}, {stride}) * J)", backend="numpy", wrt=["I"])
    tied = np.round(image)
    windows = np.lib.stride_tricks.sliding_window_view(tied, (k, k), axis=(-2, -1))
    windows = windows[..., ::stride, ::stride, :, :]
    hit = windows == windows.max(axis=(-2, -1), keepdims=True)
    assert (hit.sum(axis=(-2, -1)) > 1).any()
    moved = np.lib.stride_tricks.sliding_window_view(direction, (k, k), axis=(-2, -1))
    moved = moved[..., ::stride, ::stride, :, :]
    averaged = (hit * moved).sum(axis=(-2, -1)) / hit.sum(axis=(-2, -1))
    weights = rng.normal(size=averaged.shape)
    _, tangent = g.jvp({"I": direction}, I=tied, J=weights)
    assert_close(tangent, np.sum(averaged * weights))


# --- every array row --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "formula"), ARRAY_LIST, ids=[f for _, f in ARRAY_LIST])
def test_every_array_row(name, formula):
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    point = {n: rng.normal(size=ARRAY_SHAPES[n]) for n in f.inputs}
    check_against_jax(f, point, seed=1)


# a value that is an array: its jvp has the value's shape
ARRAY_VALUES = [
    "softmax(A)",
    "log_softmax(A, 0)",
    "A @ B",
    "u @ A",
    "transpose(A) * u",
    "amax(A, 1)",
    "amin(A, 0) * v",
    "logsumexp(A, -1)",
    "mean(A, 0)",
    "sum(A, 1) + u",
    "exp(u) + 1",
    "where(A > 0, A * A, v)",
    "B * 0 + 1",  # a tangent of zeros in the value's shape
]


@pytest.mark.parametrize("formula", ARRAY_VALUES)
def test_jvp_of_array_values(formula):
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    point = {n: rng.normal(size=ARRAY_SHAPES[n]) for n in f.inputs}
    check_against_jax(f, point)


def test_hvp_differentiates_every_op_reverse_mode_makes_for_arrays():
    # the gradient programs of the tests above hold each of them, and the jvp programs
    # the one forward mode makes
    made = {p.name for p in PRIMITIVES if p.arrays and not (p.callable or p.symbol)}
    gradients, tangents = set(), set()
    for formula in [LOGISTIC, MLP, CNN, *(f for _, f in ARRAY_LIST)]:
        f = exprgrad.compile(formula, backend="numpy")
        gradients |= {op.prim for op in f.program.ops}
        tangents |= {op.prim for op in f._derived_program("jvp").ops}
    assert {"expand", "unbroadcast", "count", "matmul_dx", "matmul_dy", "conv2d_dx"} <= made
    assert made - {"maxpool2d_jvp"} <= gradients
    assert "maxpool2d_jvp" in tangents


# --- broadcasting and where -----------------------------------------------------------------

BROADCASTING = [
    "sum((x + Y) ** 2 * exp(x))",  # x gains a leading axis, then is reduced
    "sum(tanh(c * Y + x) * Y)",
    "mean(x * Y) + sum(x) * c",
    "norm2(Y - x) / c",
    "sum(logsumexp(Y * x + c, 0) * x)",
    "sum(max(Y, x) * min(x, c))",
    "sum(hypot(Y, x) + atan2(x, Y + 3))",
    "sum(where(Y > x, Y * x * x, x * c))",  # where picks among broadcast branches
    "sum(where(x > 0, log(x * x + 1), Y * Y))",
    "sum(softmax(Y + x) * Y)",
    "sum(Y * Y * x) * c * c",
    "sum(clip(Y * x, -0.5, c))",
]


@pytest.mark.parametrize("formula", BROADCASTING)
def test_broadcasting_that_adds_leading_axes(formula):
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    shapes = {"x": (3,), "Y": (4, 3), "c": ()}
    point = {n: rng.normal(size=shapes[n]) for n in f.inputs}
    if "c" in point:
        point["c"] = 0.75
    check_against_jax(f, point, seed=2)


def test_amax_ties_share_the_tangent_and_a_nan_row_gives_nan():
    f = exprgrad.compile("sum(amax(A, 1) * u)", backend="numpy", wrt=["A"])
    A = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    u = np.array([1.0, 2.0])
    direction = np.array([[5.0, 1.0, 2.0], [1.0, 7.0, 7.0]])
    _, tangent = f.jvp({"A": direction}, A=A, u=u)
    assert tangent == pytest.approx(1.5 * 1 + 1.0 * 2)  # (1 + 2) / 2, then 1
    jax_tangent = jax.jvp(lambda a: jnp.sum(jnp.max(a, 1) * u), (A,), (direction,))[1]
    assert tangent == pytest.approx(float(jax_tangent), rel=1e-15)
    A[1, 2] = np.nan
    value, tangent = f.jvp({"A": direction}, A=A, u=u)
    assert np.isnan(value) and np.isnan(tangent)


# --- float32 ------------------------------------------------------------------------------


def test_float32_stays_float32_and_agrees_with_float64():
    f = exprgrad.compile(MLP, backend="numpy", wrt=["W1", "b1", "W2", "b2"])
    point64 = mlp_point(seed=3)
    point32 = {k: v.astype(np.float32) for k, v in point64.items()}
    rng = np.random.default_rng(4)
    direction = {name: rng.normal(size=point64[name].shape) for name in f.wrt}
    value, tangent = f.jvp(direction, **point32)
    assert value.dtype == tangent.dtype == np.float32
    assert_close(tangent, f.jvp(direction, **point64)[1], 1e-5)
    products = f.hvp(direction, **point32)
    for name, product in f.hvp(direction, **point64).items():
        assert products[name].dtype == np.float32 and products[name].shape == product.shape
        assert_close(products[name], product, 1e-4, name)
    hessian = f.hessian(**point32)
    assert hessian.dtype == np.float32
    assert_close(hessian, f.hessian(**point64), 1e-4)
    assert "float32" in f.hvp_source_for(**point32)


def test_float32_logistic_against_jax_in_float32():
    f = exprgrad.compile(LOGISTIC, backend="numpy", wrt=["w", "b"])
    point = logistic_point(dtype=np.float32)
    check_against_jax(f, point, rtol=1e-5)


# --- a Newton method through f.hvp ----------------------------------------------------------


def test_scipy_newton_cg_trains_a_logistic_regression_through_hvp():
    optimize = pytest.importorskip("scipy.optimize")
    f = exprgrad.compile(LOGISTIC, backend="numpy", wrt=["w", "b"])
    point = logistic_point(seed=5, rows=200, columns=6)
    data = {k: point[k] for k in ("X", "y", "lam")}

    def split(theta):
        return {"w": theta[:-1], "b": theta[-1]}

    def fun(theta):
        value, grads = f.value_and_grad(**split(theta), **data)
        return float(value), np.append(grads["w"], grads["b"])

    def hessp(theta, p):
        products = f.hvp(split(p), **split(theta), **data)
        return np.append(products["w"], products["b"])

    # the minimum, by jax's Newton steps and by a long gradient run
    def loss(t):
        z = data["X"] @ t[:-1] + t[-1]
        return jnp.mean(jnp.logaddexp(0.0, z) - data["y"] * z) + data["lam"] * jnp.sum(t[:-1] ** 2)

    newton_step = jax.jit(lambda t: t - jnp.linalg.solve(jax.hessian(loss)(t), jax.grad(loss)(t)))
    exact = jnp.zeros(7)
    for _ in range(30):
        exact = newton_step(exact)
    theta = np.zeros(7)
    for _ in range(20_000):
        theta -= 1.0 * fun(theta)[1]
    assert_close(theta, exact, 1e-12)

    # trust-ncg through f.hvp: its own tolerance on the gradient is what bounds it (a
    # smaller one asks for changes of the loss below its rounding)
    result = optimize.minimize(fun, np.zeros(7), jac=True, hessp=hessp, method="trust-ncg",
                               options={"gtol": 1e-8})  # fmt: skip
    assert result.success and result.nhev > 0 and result.nit <= 10
    assert np.abs(fun(result.x)[1]).max() < 1e-8
    assert_close(result.x, exact, 1e-7)
    # Newton's method through f.hessian: quadratic convergence, to rounding
    theta = np.zeros(7)
    for _ in range(8):
        hessian = f.hessian(**split(theta), **data)
        theta -= np.linalg.solve(hessian, fun(theta)[1])
    assert_close(theta, exact, 1e-12)


# --- arguments, errors and the generated code -------------------------------------------------


def test_directions_as_sequences_and_missing_names():
    f = exprgrad.compile("sum(a * a * B) + norm2(B)", backend="numpy", wrt=["a", "B"])
    point = {"a": np.array([1.0, 2.0]), "B": np.array([[0.5, -1.0], [2.0, 3.0]])}
    ones = {"a": np.ones(2), "B": np.ones((2, 2))}
    assert f.jvp([ones["a"], ones["B"]], **point)[1] == f.jvp(ones, **point)[1]
    only_a = f.hvp({"a": ones["a"]}, **point)
    zeros = f.hvp([ones["a"], np.zeros((2, 2))], **point)
    assert all(np.array_equal(only_a[n], zeros[n]) for n in f.wrt)
    assert f.jvp({}, **point) == (f(**point), 0.0)
    assert all(not p.any() for p in f.hvp({}, **point).values())
    assert f.hvp({"a": [1, 1]}, **point)["a"].tolist() == only_a["a"].tolist()  # lists too


def test_bad_points_and_directions():
    f = exprgrad.compile("sum(a * x) + b", backend="numpy", wrt=["a", "x"])
    point = {"a": np.ones(3), "x": np.arange(3.0), "b": 0.5}
    with pytest.raises(TypeError, match="hessian\\(\\) is missing argument.*'b'"):
        f.hessian(a=np.ones(3), x=np.ones(3))
    with pytest.raises(TypeError, match="jvp\\(\\) is missing argument.*'x'"):
        f.jvp({"a": np.ones(3)}, a=np.ones(3), b=2.0)
    with pytest.raises(TypeError, match="hvp\\(\\) is missing"):
        f.hvp({"a": np.ones(3)}, a=np.ones(3))
    with pytest.raises(TypeError, match="unexpected argument 'q'"):
        f.jvp({"a": np.ones(3)}, **point, q=1.0)
    with pytest.raises(ValueError, match="'b', which the gradient does not cover"):
        f.jvp({"b": 1.0}, **point)
    with pytest.raises(ValueError, match="has 3 entries; expected 2"):
        f.jvp([np.ones(3)] * 3, **point)
    with pytest.raises(ValueError, match="has 1 entries; expected 2"):
        f.hvp([np.ones(3)], **point)
    with pytest.raises(TypeError, match=r"^tangents\['a'\] must be an array or a real number"):
        f.jvp({"a": "1"}, **point)
    with pytest.raises(TypeError, match=r"^v\['x'\] must be an array or a real number"):
        f.hvp([np.ones(3), None], **point)
    with pytest.raises(TypeError, match="must be a dict over a, x or a sequence of 2 arrays"):
        f.jvp(1.0, **point)
    with pytest.raises(TypeError, match="not ndarray"):
        f.jvp(np.ones((2, 3)), **point)
    with pytest.raises(exprgrad.ShapeError, match=r"tangents\['x'\] has shape \(2,\), the input"):
        f.jvp({"x": np.ones(2)}, **point)
    with pytest.raises(TypeError, match="argument 'x' must be an array or a real number"):
        f.hessian(a=np.ones(3), x="2", b=0.0)
    vector = exprgrad.compile("a * x", backend="numpy")
    with pytest.raises(exprgrad.ShapeError, match="hvp needs a scalar value"):
        vector.hvp({}, a=np.ones(3), x=np.ones(3))
    with pytest.raises(exprgrad.ShapeError, match="hessian needs a scalar value"):
        vector.hessian(a=np.ones(3), x=np.ones(3))
    with pytest.raises(exprgrad.EvaluationError, match="in the gradient of sqrt"):
        exprgrad.compile("sum(sqrt(x) * y)", backend="numpy").jvp(
            {"x": np.ones(2)}, x=np.zeros(2), y=np.ones(2)
        )


def test_a_nan_direction_gives_nan_not_an_error():
    f = exprgrad.compile("sum(exp(x))", backend="numpy")
    value, tangent = f.jvp({"x": np.array([np.nan, 1.0])}, x=np.zeros(2))
    assert value == 2.0 and np.isnan(tangent)
    assert np.isnan(f.hvp({"x": [np.nan, 0.0]}, x=np.zeros(2))["x"][0])


def test_code_is_generated_once_per_signature_and_readable():
    f = exprgrad.compile(LOGISTIC, backend="numpy", wrt=["w", "b"])
    point = logistic_point()
    source = f.hvp_source_for(**point)
    assert source.startswith("def hvp(X, w, b, y, lam, w_dot, b_dot):")
    assert "X.T @" in source and "X @ w_dot" in source
    jvp_source = f.jvp_source_for(**point)
    assert jvp_source.startswith("def jvp(X, w, b, y, lam, w_dot, b_dot):")
    f.hvp({"w": np.ones(4)}, **point)
    f.hessian(**point)
    f.jvp({"b": 1.0}, **point)
    assert f.source.count("def hvp(") == 1 and f.source.count("def jvp(") == 1
    f.hvp({}, **logistic_point(rows=9))  # another signature: its own code
    assert f.source.count("def hvp(") == 2


def test_a_scalar_input_gives_numbers_and_the_hessian_layout_is_c_order():
    f = exprgrad.compile("s * sum(A * A * A)", backend="numpy", wrt=["A", "s"])
    A = np.arange(6.0).reshape(2, 3) / 3
    hessian = f.hessian(A=A, s=2.0)
    # d2/dA[i,j]^2 = 6 s A[i,j], d2/dA[i,j] ds = 3 A[i,j]^2: flattened row by row, then s
    assert_close(np.diag(hessian)[:6], 6 * 2.0 * A.ravel())
    assert_close(hessian[:6, 6], 3 * A.ravel() ** 2)
    assert_close(hessian[6, :6], 3 * A.ravel() ** 2)
    assert hessian[6, 6] == 0.0
    products = f.hvp({"s": 1.0}, A=A, s=2.0)
    assert np.shape(products["s"]) == () and products["A"].shape == (2, 3)


def test_a_tangent_name_never_meets_an_input_and_wrt_order_is_kept():
    f = exprgrad.compile("sum(log(x) * x_dot)", backend="numpy", wrt=["x_dot", "x"])
    point = {"x": np.array([2.0, 4.0]), "x_dot": np.array([1.0, 3.0])}
    assert f.hvp_source_for(**point).startswith("def hvp(x, x_dot, x_dot_dot, x_dot2):")
    hessian = f.hessian(**point)  # x_dot first, then x
    assert_close(
        hessian, [[0, 0, 0.5, 0], [0, 0, 0, 0.25], [0.5, 0, -0.25, 0], [0, 0.25, 0, -3 / 16]]
    )
    value, tangent = f.jvp([np.ones(2), np.zeros(2)], **point)
    assert_close(tangent, np.log(2.0) + np.log(4.0))


def test_where_with_an_undefined_branch_has_finite_second_derivatives():
    # jax needs the "double where" by hand for this; the gradient program has it already
    f = exprgrad.compile("sum(where(x > 0, sqrt(x) * x, 0))", backend="numpy")
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    assert_close(f.hessian(x=x), np.diag(0.75 / np.sqrt(np.maximum(x, 1e-300)) * (x > 0)))
    assert_close(f.jvp({"x": np.ones(4)}, x=x)[1], 1.5 * (np.sqrt(0.5) + np.sqrt(2.0)))
