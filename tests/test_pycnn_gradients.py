"""Justin Johnson's pycnn gradient checks (github.com/jcjohnson/pycnn), run on exprgrad's rows.

pycnn_cpu/layers/gradcheck.py checks a layer by the objective sum(top * top_diffs): inputs
and top diffs drawn as 10 * standard_normal (or a layer's own draw), a batch of 2..10
examples, every input element moved by EPSILON = 0.001 each way (central differences through
the layer's own forward), and the Frobenius norm of analytic minus numeric gradient below
10e-3, in 10 random layers per check. Its tests (tests/layers/*_test.py) use these sizes:
fully connected in and out 2..10, relu and sigmoid on 2-4 axes of 2, softmax over 5..9,
cross-entropy and L2 loss over 2..4 (cross-entropy's values in [0.1, 1]). Its conv and
pooling layers call cuDNN and have no numeric check: they are checked here at the sizes of
its examples/pycudnn_example.py (a 5x5 image, a 3x3 filter, pad 1, stride 1) and its
PoolingLayer defaults (2x2 windows, stride 2). pycnn stores examples as columns (features,
batch); images here are NCHW, the batch first.

The bar is pycnn's or tighter, never looser: 1e-6 where the objective is linear or
quadratic in the input (central differences are exact there, up to rounding: at most 4e-8
is seen); 1e-4 for sigmoid and softmax (the difference's own error, EPSILON**2 / 6 times the
third derivative times a top diff, stays under 1e-6 per element: 8e-7 is seen); pycnn's
1e-2 for cross-entropy's p, where log's third derivative 2/p**3 reaches 2,000 (2e-4 seen).
"""

from __future__ import annotations

import numpy as np
import pytest

import exprgrad

EPSILON = 0.001  # pycnn's
PYCNN_THRESHOLD = 10e-3  # gradient_check_helper's default
EXACT = 1e-6  # for objectives linear or quadratic in the checked input
SMOOTH = 1e-4  # sigmoid and softmax
NUM_TESTS = 10


def scaled_normal(rng, shape):
    return 10.0 * rng.standard_normal(shape)


def away_from_zero(rng, shape):
    """relu_test.py's draw: relu has no derivative at 0 (pycnn's version forgets to return
    it; this one returns it)."""
    nums = rng.standard_normal(shape)
    return nums + 0.1 * np.sign(nums)


def in_probability_range(rng, shape):
    """cross_entropy_test.py's draw: values in [0.1, 1], away from log's blow-up at 0."""
    return 0.1 + 0.9 * rng.random(shape)


def numeric_gradient(f, values, name):
    """pycnn's numeric_derivative: central differences of the objective, element by element."""
    grad = np.zeros_like(values[name])
    for index in np.ndindex(grad.shape):
        moved = dict(values)
        up = values[name].copy()
        up[index] += EPSILON
        moved[name] = up
        plus = float(f(**moved))
        down = values[name].copy()
        down[index] -= EPSILON
        moved[name] = down
        minus = float(f(**moved))
        grad[index] = (plus - minus) / (2.0 * EPSILON)
    return grad


def both_gradients(layer, shapes, top_shape, wrt, draw, rng):
    """pycnn's gradient_check on one layer written as a formula over the inputs in shapes:
    exprgrad's gradient of sum(layer * top) and the numeric one."""
    f = exprgrad.compile(f"sum(({layer}) * top)", backend="numpy")
    values = {name: draw(rng, shape) for name, shape in shapes.items()}
    values["top"] = draw(rng, top_shape)
    _, grads = f.value_and_grad(**values)
    assert grads[wrt].shape == values[wrt].shape
    return grads[wrt], numeric_gradient(f, values, wrt)


def gradient_check(*args) -> float:
    """The Frobenius norm of analytic minus numeric, as pycnn reports it."""
    analytic, numeric = both_gradients(*args)
    return float(np.linalg.norm(analytic - numeric))


def fully_connected(rng, batch):
    n_in, n_out = (int(n) for n in rng.integers(2, 11, size=2))
    shapes = {"x": (n_in, batch), "W": (n_out, n_in), "b": (n_out, 1)}
    return "W @ x + b", shapes, (n_out, batch)


def elementwise(rng, batch):
    shape = (2,) * int(rng.integers(2, 5)) + (batch,)
    return {"x": shape}, shape


def relu_layer(rng, batch):
    shapes, top = elementwise(rng, batch)
    return "relu(x)", shapes, top


def sigmoid_layer(rng, batch):
    shapes, top = elementwise(rng, batch)
    return "sigmoid(x)", shapes, top


def softmax_layer(rng, batch):
    dim = int(rng.integers(5, 10))
    return "softmax(x, 0)", {"x": (dim, batch)}, (dim, batch)


def cross_entropy_layer(rng, batch):
    dim = int(rng.integers(2, 5))
    return "-sum(q * log(p))", {"q": (dim, batch), "p": (dim, batch)}, ()


def l2_loss_layer(rng, batch):
    dim = int(rng.integers(2, 5))
    return "sum((x1 - x2)**2)", {"x1": (dim, batch), "x2": (dim, batch)}, ()


def conv_layer(rng, batch):
    return "conv2d(x, w, 1, 1)", {"x": (batch, 1, 5, 5), "w": (1, 1, 3, 3)}, (batch, 1, 5, 5)


def max_pool_layer(rng, batch):
    return "maxpool2d(x, 2, 2)", {"x": (batch, 1, 5, 5)}, (batch, 1, 2, 2)


def avg_pool_layer(rng, batch):
    return "avgpool2d(x, 2, 2)", {"x": (batch, 1, 5, 5)}, (batch, 1, 2, 2)


# (layer, input checked, draw, bar): pycnn's checks, then its cuDNN conv and pooling layers
CHECKS = [
    (fully_connected, "x", scaled_normal, EXACT),
    (fully_connected, "W", scaled_normal, EXACT),
    (fully_connected, "b", scaled_normal, EXACT),
    (relu_layer, "x", away_from_zero, EXACT),
    (sigmoid_layer, "x", scaled_normal, SMOOTH),
    (softmax_layer, "x", scaled_normal, SMOOTH),
    (cross_entropy_layer, "q", in_probability_range, EXACT),
    (cross_entropy_layer, "p", in_probability_range, PYCNN_THRESHOLD),
    (l2_loss_layer, "x1", scaled_normal, EXACT),
    (l2_loss_layer, "x2", scaled_normal, EXACT),
    (conv_layer, "x", scaled_normal, EXACT),
    (conv_layer, "w", scaled_normal, EXACT),
    (max_pool_layer, "x", scaled_normal, EXACT),
    (avg_pool_layer, "x", scaled_normal, EXACT),
]


@pytest.mark.parametrize(
    ("make", "wrt", "draw", "bar"),
    CHECKS,
    ids=[f"{make.__name__}-{wrt}" for make, wrt, _, _ in CHECKS],
)
def test_pycnn_gradient_check(make, wrt, draw, bar):
    rng = np.random.default_rng(sum(map(ord, make.__name__ + wrt)))
    for _ in range(NUM_TESTS):  # gradient_check_helper's num_tests
        batch = int(rng.integers(2, 11))
        layer, shapes, top_shape = make(rng, batch)
        assert gradient_check(layer, shapes, top_shape, wrt, draw, rng) < bar, layer


def test_the_tight_bar_catches_a_small_error():
    """One element of conv2d's filter gradient off by 1e-5 fails the 1e-6 bar."""
    rng = np.random.default_rng(0)
    layer, shapes, top_shape = conv_layer(rng, 3)
    analytic, numeric = both_gradients(layer, shapes, top_shape, "w", scaled_normal, rng)
    assert np.linalg.norm(analytic - numeric) < EXACT
    analytic[0, 0, 1, 1] += 1e-5
    assert np.linalg.norm(analytic - numeric) > EXACT


def test_net_test_forward_backward_exactly():
    """net_test.py's forward_backward_test: linear regression J = sum |W x_i + b - y_i|^2
    with its worked derivatives, compared for equality as pycnn does."""
    f = exprgrad.compile("sum((W @ x + b - y)**2)", wrt=("W", "b"), backend="numpy")
    _, grads = f.value_and_grad(
        W=np.array([[1.0, 2, 3], [4, 5, 6]]),
        b=np.array([[1.0], [2]]),
        x=np.array([[1.0, 1, 2], [2, 5, 2]]).T,
        y=np.array([[1.0, 0], [0, 1]]).T,
    )
    assert np.array_equal(grads["W"], [[94, 208, 112], [230, 506, 276]])
    assert np.array_equal(grads["b"], [[56], [138]])
