"""conv2d, maxpool2d, avgpool2d, reshape and flatten on the numpy backend, against jax.lax.

Images NCHW, filters OIHW. Each row is checked on random shapes, strides and paddings:
the value and the gradient for every operand against jax (conv_general_dilated,
reduce_window, jnp.reshape), in float64 and float32; max pooling's ties split the
gradient evenly (as jnp.max's do), and a NaN in a window gives that window a NaN
gradient. Then the errors: every impossible shape names the op and its shapes.
"""

from __future__ import annotations

import numpy as np
import pytest

import exprgrad
from exprgrad.errors import FormulaError

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

TOL = {np.float64: 1e-11, np.float32: 2e-5}


def conv_ref(x, w, stride, padding):
    """jax.lax's convolution. The image is padded and cropped to the rows and columns the
    windows reach first: XLA aborts the process differentiating a strided convolution
    whose last window stops short of the edge (jax 0.9 on CPU)."""
    x = jnp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h = (x.shape[2] - w.shape[2]) // stride * stride + w.shape[2]
    width = (x.shape[3] - w.shape[3]) // stride * stride + w.shape[3]
    x = x[:, :, :h, :width]
    numbers = ("NCHW", "OIHW", "NCHW")
    return jax.lax.conv_general_dilated(x, w, (stride, stride), "VALID", dimension_numbers=numbers)


def windows_ref(x, k, stride):
    """Every k x k window, (..., k*k, OH, OW), from strided slices (jnp.max of it splits
    ties evenly, as exprgrad's maxpool2d does)."""
    oh = (x.shape[-2] - k) // stride + 1
    ow = (x.shape[-1] - k) // stride + 1
    parts = [
        x[..., i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]
        for i in range(k)
        for j in range(k)
    ]
    return jnp.stack(parts, axis=-3)


def pool_ref(kind, x, k, stride):
    if kind == "avg":
        window = (1,) * (x.ndim - 2) + (k, k)
        steps = (1,) * (x.ndim - 2) + (stride, stride)
        return jax.lax.reduce_window(x, 0.0, jax.lax.add, window, steps, "VALID") / (k * k)
    return jnp.max(windows_ref(x, k, stride), axis=-3)


def close(actual, expected, dtype=np.float64):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == dtype
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def conv_case(rng):
    n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
    kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
    stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    h = int(rng.integers(max(1, kh - 2 * padding), 9))
    w = int(rng.integers(max(1, kw - 2 * padding), 9))
    return (n, c, h, w), (f, c, kh, kw), stride, padding


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_conv2d_matches_jax(seed, dtype):
    rng = np.random.default_rng(seed)
    x_shape, w_shape, stride, padding = conv_case(rng)
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=w_shape).astype(dtype)
    out = conv_ref(x, w, stride, padding)
    r = rng.normal(size=out.shape).astype(dtype)
    f = exprgrad.compile(f"sum(conv2d(x, w, {stride}, {padding}) * r)", backend="numpy")
    value, grads = f.value_and_grad(x=x, w=w, r=r)

    def loss(x, w):
        return jnp.sum(conv_ref(x, w, stride, padding) * r)

    expected, (dx, dw) = jax.value_and_grad(loss, argnums=(0, 1))(x, w)
    close(value, expected, dtype)
    close(grads["x"], dx, dtype)
    close(grads["w"], dw, dtype)
    close(exprgrad.compile(f"conv2d(x, w, {stride}, {padding})", backend="numpy")(x=x, w=w),
          out, dtype)  # fmt: skip


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(10))
def test_pools_match_jax(kind, seed):
    rng = np.random.default_rng(100 + seed)
    k, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    lead = tuple(int(v) for v in rng.integers(1, 4, size=int(rng.integers(0, 3))))
    shape = (*lead, int(rng.integers(k, 9)), int(rng.integers(k, 9)))
    x = rng.integers(-3, 4, size=shape).astype(np.float64)  # ties in many windows
    out = pool_ref(kind, x, k, stride)
    r = rng.normal(size=out.shape)
    f = exprgrad.compile(f"sum({kind}pool2d(x, {k}, {stride}) * r)", backend="numpy")
    value, grads = f.value_and_grad(x=x, r=r)
    expected, dx = jax.value_and_grad(lambda x: jnp.sum(pool_ref(kind, x, k, stride) * r))(x)
    close(value, expected)
    close(grads["x"], dx)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools_in_float32_and_the_default_stride(kind):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 7, 6)).astype(np.float32)
    f = exprgrad.compile(f"sum({kind}pool2d(x, 2))", backend="numpy")
    value, grads = f.value_and_grad(x=x)
    expected, dx = jax.value_and_grad(lambda x: jnp.sum(pool_ref(kind, x, 2, 2)))(x)
    close(value, expected, np.float32)
    close(grads["x"], dx, np.float32)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_an_infinite_gradient_reaches_only_the_largest_of_its_window(stride):
    """Windows apart (stride 2), with gaps (3) or overlapping (1): an infinite gradient goes
    to the window's largest element, the others get 0, not inf * 0."""
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    f = exprgrad.compile(f"maxpool2d(x, 2, {stride})", backend="numpy")
    g = np.ones(f(x=x).shape)
    g[0, 0, 0, 0] = np.inf
    _, vjp = f.vjp(g, x=x)
    expected = np.zeros_like(x)
    rows = np.arange(g.shape[2]) * stride + 1  # each window's largest is its bottom right
    np.add.at(expected[0, 0], np.ix_(rows, rows), g[0, 0])
    np.testing.assert_array_equal(vjp["x"], expected)


def test_a_nan_in_a_max_window_gives_that_window_nan():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    f = exprgrad.compile("maxpool2d(x, 2) * 1", backend="numpy")
    out = f(x=x)
    assert np.isnan(out[0, 0, 0, 0]) and np.isfinite(out[0, 0, 1:, :]).all()
    _, vjp = f.vjp(np.ones((1, 1, 2, 2)), x=x)
    window = vjp["x"][0, 0, :2, :2]
    assert np.isnan(window).all()
    assert np.isfinite(vjp["x"][0, 0, 2:, :]).all() and vjp["x"][0, 0, 3, 3] == 1.0


def test_reshape_and_flatten_match_jax():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4))
    w = rng.normal(size=(12, 5))
    f = exprgrad.compile("sum(tanh(flatten(x) @ w)) + sum(reshape(x, 4, -1) ** 2)",
                         backend="numpy")  # fmt: skip

    def loss(x, w):
        return jnp.sum(jnp.tanh(x.reshape(2, -1) @ w)) + jnp.sum(x.reshape(4, -1) ** 2)

    value, grads = f.value_and_grad(x=x, w=w)
    expected, (dx, dw) = jax.value_and_grad(loss, argnums=(0, 1))(x, w)
    close(value, expected)
    close(grads["x"], dx)
    close(grads["w"], dw)
    assert f.source_for(x=x, w=w).count("np.reshape(") >= 2


def test_keywords_name_the_parameters():
    rng = np.random.default_rng(4)
    x, w = rng.normal(size=(1, 2, 7, 7)), rng.normal(size=(3, 2, 3, 3))
    same = [
        ("conv2d(x, w, 1, 1)", "conv2d(x, w, padding=1)"),
        ("conv2d(x, w, 2, 0)", "conv2d(x, w, stride=2)"),
        ("conv2d(x, w, 2, 1)", "conv2d(x, w, padding=1, stride=2)"),
        ("maxpool2d(x, 2, 2)", "maxpool2d(x, k=2)"),
        ("avgpool2d(x, 3, 1)", "avgpool2d(x, 3, stride=1)"),
    ]
    for positional, keywords in same:
        a = exprgrad.compile(positional, backend="numpy")(x=x, w=w) if "w" in positional else None
        a = exprgrad.compile(f"sum({positional})", backend="numpy")
        b = exprgrad.compile(f"sum({keywords})", backend="numpy")
        arrays = {"x": x, "w": w} if "conv" in positional else {"x": x}
        assert a(**arrays) == b(**arrays), keywords


def test_a_small_cnn_loss_matches_jax_in_every_gradient():
    """conv, bias, relu, max pool, flatten, dense, softmax cross-entropy."""
    rng = np.random.default_rng(5)
    arrays = {
        "X": rng.normal(size=(4, 1, 8, 8)),
        "K": rng.normal(size=(3, 1, 3, 3)) * 0.5,
        "c": rng.normal(size=(3, 1, 1)),
        "W": rng.normal(size=(27, 10)) * 0.2,
        "b": rng.normal(size=10),
        "Y": np.eye(10)[rng.integers(0, 10, size=4)],
    }
    formula = (
        "h = maxpool2d(relu(conv2d(X, K) + c), 2)\n"
        "logits = flatten(h) @ W + b\n"
        "mean(logsumexp(logits, 1) - sum(Y * logits, 1))"
    )
    f = exprgrad.compile(formula, backend="numpy", wrt=["K", "c", "W", "b"])

    def loss(K, c, W, b):
        h = jnp.max(windows_ref(jax.nn.relu(conv_ref(arrays["X"], K, 1, 0) + c), 2, 2), axis=-3)
        logits = h.reshape(4, -1) @ W + b
        return jnp.mean(jax.nn.logsumexp(logits, 1) - jnp.sum(arrays["Y"] * logits, 1))

    value, grads = f.value_and_grad(**arrays)
    names = ("K", "c", "W", "b")
    expected, jgrads = jax.value_and_grad(loss, argnums=(0, 1, 2, 3))(*(arrays[n] for n in names))
    close(value, expected)
    for name, jgrad in zip(names, jgrads, strict=True):
        close(grads[name], jgrad)


def test_the_generated_code_is_readable_numpy():
    f = exprgrad.compile("sum(maxpool2d(relu(conv2d(x, w, 1, 1)), 2))", backend="numpy")
    source = f.source_for(x=np.ones((2, 1, 6, 6)), w=np.ones((4, 1, 3, 3)))
    assert "_conv2d(x, w, 1, 1)" in source and "[2x4x6x6]" in source
    assert "_maxpool2d(" in source and "_maxpool2d_dx(" in source
    assert "_conv2d_dw(" in source and "for " not in source


@pytest.mark.parametrize(
    ("formula", "shapes", "message"),
    [
        ("conv2d(x, w)", {"x": (1, 3, 5, 5), "w": (2, 2, 3, 3)}, "3 channels and the filters"),
        ("conv2d(x, w)", {"x": (1, 1, 2, 5), "w": (2, 1, 3, 3)}, "3x3 kernel is larger"),
        ("conv2d(x, w, 1, 1)", {"x": (1, 1, 1, 1), "w": (2, 1, 4, 4)}, "padded by 1"),
        ("conv2d(x, w)", {"x": (3, 5, 5), "w": (2, 3, 3, 3)}, "image batch (N, C, H, W)"),
        ("maxpool2d(x, 3)", {"x": (1, 1, 2, 5)}, "3x3 window is larger"),
        ("avgpool2d(x, 2)", {"x": (4,)}, "last two axes"),
        ("reshape(x, 5, -1)", {"x": (2, 3)}, "cannot be reshaped to (5, -1)"),
        ("reshape(x, 4, 2)", {"x": (2, 3)}, "cannot be reshaped to (4, 2)"),
        ("reshape(x, -1, -1)", {"x": (2, 3)}, "at most one -1"),
    ],
)
def test_impossible_shapes_name_the_op_and_the_shapes(formula, shapes, message):
    f = exprgrad.compile(f"sum({formula})", backend="numpy")
    with pytest.raises(FormulaError) as info:
        f(**{name: np.ones(shape) for name, shape in shapes.items()})
    text = str(info.value)
    assert message in text and formula in text
    assert "operand shapes" in text and "^" in text


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("conv2d(x)", "conv2d() takes 2 arguments and optionally stride, padding (1 given)"),
        ("conv2d(x, w, 0)", "the stride of conv2d() must be at least 1"),
        ("conv2d(x, w, 1, -1)", "the padding of conv2d() must be at least 0"),
        ("conv2d(x, w, s)", "the stride of conv2d() must be a whole number"),
        ("conv2d(x, w, 1.5)", "must be a whole number"),
        ("conv2d(x, w, 1, 1, 1)", "(5 given)"),
        ("conv2d(x, w, strides=2)", "did you mean 'stride'?"),
        ("conv2d(x, w, 2, stride=2)", "given its stride twice"),
        ("conv2d(x, w, padding=1, 2)", "a positional argument follows a keyword"),
        ("maxpool2d(x)", "maxpool2d() takes 1 argument, then k and optionally stride"),
        ("maxpool2d(x, stride=2)", "needs its k"),
        ("reshape(x)", "1 or more whole numbers"),
        ("reshape(x, 2, shape=3)", "takes no keyword arguments"),
        ("flatten(x, 1)", "flatten() takes 1 argument (2 given)"),
    ],
)
def test_bad_calls_are_formula_errors_at_the_call(formula, message):
    with pytest.raises(FormulaError) as info:
        exprgrad.compile(formula, backend="numpy")
    assert message in str(info.value)


def test_the_lists_and_c_backends_refuse_convolution_at_the_op():
    with pytest.raises(FormulaError, match="needs the numpy backend") as info:
        exprgrad.compile("sum(maxpool2d(conv2d(x, w), 2))", backend="python")
    assert info.value.span.start == len("sum(maxpool2d(")
    with pytest.raises(FormulaError, match="needs arrays"):
        exprgrad.compile("sum(conv2d(x, w))", backend="c")


def test_reshape_and_flatten_on_lists_equal_numpy():
    rng = np.random.default_rng(9)
    x, w = rng.normal(size=(2, 3, 2)), rng.normal(size=(6, 2))
    formula = "sum(tanh(flatten(x) @ w)) + sum(reshape(x, 3, -1) * reshape(x, 3, 4))"
    on_lists = exprgrad.compile(formula, backend="python")
    on_numpy = exprgrad.compile(formula, backend="numpy")
    value, grads = on_lists.value_and_grad(x=x.tolist(), w=w.tolist())
    expected, expected_grads = on_numpy.value_and_grad(x=x, w=w)
    assert value == pytest.approx(float(expected), rel=1e-12)
    for name in ("x", "w"):
        np.testing.assert_allclose(np.array(grads[name]), expected_grads[name], rtol=1e-12)


def test_a_cnn_loss_over_dask_rows_is_the_whole_batch_loss():
    """conv2d by parameter filters, pooling and flatten treat each image on its own: over
    Dask arrays chunked along the images the chunks' sums add up to the whole's."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(12, 1, 6, 6)), np.eye(3)[rng.integers(0, 3, size=12)]
    K, W = rng.normal(size=(2, 1, 3, 3)), rng.normal(size=(8, 3)) * 0.3
    f = exprgrad.compile(
        "logits = flatten(avgpool2d(relu(conv2d(X, K, padding=1)), 3)) @ W\n"
        "mean(logsumexp(logits, 1) - sum(Y * logits, 1))",
        backend="numpy",
        wrt=["K", "W"],
    )
    chunked = {"X": da.from_array(X, chunks=(5, 1, 6, 6)), "Y": da.from_array(Y, chunks=(5, 3))}
    value, grads = f.value_and_grad(**chunked, K=K, W=W)
    expected, expected_grads = f.value_and_grad(X=X, Y=Y, K=K, W=W)
    assert value == pytest.approx(float(expected), rel=1e-13)
    for name in ("K", "W"):
        np.testing.assert_allclose(grads[name], expected_grads[name], rtol=1e-12, atol=1e-15)
    across = exprgrad.compile("sum(maxpool2d(transpose(X), 2))", backend="numpy")
    with pytest.raises(FormulaError, match="windows run across the rows"):
        across.value_and_grad(X=da.from_array(X[:, 0], chunks=(5, 6, 6)))


def test_the_command_line_prints_and_evaluates_conv_formulas_with_numpy(capsys):
    from exprgrad.tools.cli import main

    formula = "sum(maxpool2d(conv2d(X, K), 2))"
    assert main([formula, "--shapes", "X=2x1x5x5,K=3x1x2x2"]) == 0
    assert "_conv2d(X, K, 1, 0)" in capsys.readouterr().out
    assert main([formula, "--at", "X=[[[[1,2,3],[4,5,6],[7,8,9]]]],K=[[[[1,0],[0,1]]]]"]) == 0
    out = capsys.readouterr().out
    assert "value = 14.0" in out and "d/dK = [[[[5.0, 6.0], [8.0, 9.0]]]]" in out
    assert main([formula, "--shapes", "X=2x1x5x5,K=3x1x2x2", "--emit", "module"]) == 2
    assert "needs only the standard library" in capsys.readouterr().err


@pytest.mark.parametrize("cotangent", [-0.0, -1.0])
@pytest.mark.parametrize(("stride", "nan"), [(2, False), (2, True), (1, False)])
def test_max_pooling_gives_where_signed_zeros(stride, nan, cotangent):
    """Windows side by side: a -0.0 (or -1.0) cotangent reaches each window's largest
    element and leaves the others +0.0, as where(hit, share, 0) does (a multiply by the
    hit mask alone would not), whether or not another window holds a NaN. Overlapping
    windows sum their parts from +0.0: a -0.0 makes every pixel +0.0."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    if nan:
        x = np.pad(x, ((0, 0), (0, 0), (0, 0), (0, 2)), constant_values=np.nan)
    f = exprgrad.compile(f"maxpool2d(x, 2, {stride})", backend="numpy")
    out_shape = f(x=x).shape
    _, grads = f.vjp(np.full(out_shape, cotangent), x=x)
    hit = np.zeros((4, 4), dtype=bool)
    for i in range(out_shape[2]):
        for j in range(out_shape[3]):
            if j * stride + 2 > 4:
                continue  # the NaN columns' windows
            window = x[0, 0, i * stride : i * stride + 2, j * stride : j * stride + 2]
            r, c = np.unravel_index(np.argmax(window), (2, 2))
            hit[i * stride + r, j * stride + c] = True
    if stride == 1 and cotangent == 0:
        hit[:] = False
    if cotangent == 0:
        assert (grads["x"][0, 0, :, :4] == 0).all()
    else:  # the largest elements get the gradient, the others +0.0 (not False * -1.0)
        assert np.array_equal(grads["x"][0, 0, :, :4] != 0, hit)
    assert np.array_equal(np.signbit(grads["x"][0, 0, :, :4]), hit)
    assert np.isnan(grads["x"][0, 0, :, 4:]).all() and grads["x"].shape[-1] == (6 if nan else 4)
