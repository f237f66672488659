"""exprgrad.train: initialisers against their formulas, optimisers against steps worked out
by hand, schedules, fit() on least squares, early stopping, every error path, the numpy
backend's batch path (the formula is the batch's loss) and the progress bar."""

from __future__ import annotations

import doctest
import io
import math
import random
import re
import statistics
import subprocess
import sys
import tracemalloc
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exprgrad
from exprgrad import train

# --- initialisation ----------------------------------------------------------------------

DRAWS = 20_000


@pytest.mark.parametrize(
    "draw, bound, uniform",
    [
        (lambda rng: train.xavier_uniform(3, 5, rng), math.sqrt(6 / 8), True),
        (lambda rng: train.xavier_normal(3, 5, rng), math.sqrt(2 / 8), False),
        (lambda rng: train.he_uniform(4, rng), math.sqrt(6 / 4), True),
        (lambda rng: train.he_normal(4, rng), math.sqrt(2 / 4), False),
    ],
    ids=["xavier_uniform", "xavier_normal", "he_uniform", "he_normal"],
)
def test_initialisers_follow_their_formulas(draw, bound, uniform):
    rng = random.Random(1)
    values = [draw(rng) for _ in range(DRAWS)]
    assert abs(statistics.fmean(values)) < 0.02 * bound
    if uniform:  # on [-limit, limit]: variance limit**2 / 3, extremes near the limits
        assert max(map(abs, values)) <= bound
        assert min(values) < -0.99 * bound and max(values) > 0.99 * bound
        assert statistics.pvariance(values) == pytest.approx(bound**2 / 3, rel=0.03)
    else:  # std is the bound
        assert statistics.pstdev(values) == pytest.approx(bound, rel=0.03)
    again = random.Random(1)
    assert [draw(again) for _ in range(100)] == values[:100]  # a seed reproduces


def test_initialisers_reject_bad_fans():
    for bad in (0, -1, True, "3", None):
        with pytest.raises(ValueError, match="fan_in must be a positive number"):
            train.he_normal(bad, random.Random(0))
    with pytest.raises(ValueError, match="fan_out must be a positive number, not 0"):
        train.xavier_uniform(3, 0, random.Random(0))


def test_init_floats_are_seeded():
    values = train.init("a, b,c", fan_in=2, fan_out=1, seed=3)
    assert list(values) == ["a", "b", "c"]
    assert all(type(v) is float and abs(v) <= math.sqrt(6 / 3) for v in values.values())
    assert train.init(["a", "b", "c"], fan_in=2, fan_out=1, seed=3) == values
    assert train.init("a,b,c", fan_in=2, fan_out=1, seed=4) != values
    rng = random.Random(3)  # the same stream as the single-value functions
    assert values["a"] == train.xavier_uniform(2, 1, rng)
    assert train.init({"a": None}, "he_normal", fan_in=2)["a"] == train.he_normal(
        2, random.Random(0)
    )
    assert train.init("a,b", "zeros") == {"a": 0.0, "b": 0.0}


def test_init_arrays_take_their_fans_from_the_shape():
    values = train.init(
        {"W": (200, 300), "K": (3, 3, 16, 32), "v": 400, "s": None}, fan_in=1, fan_out=1
    )
    W = values["W"]
    assert W.shape == (200, 300) and W.dtype == np.float64
    # an explicit fan wins over the shape's
    assert np.abs(W).max() <= math.sqrt(6 / 2) and np.abs(W).max() > 0.99 * math.sqrt(6 / 2)
    values = train.init({"W": (200, 300), "K": (3, 3, 16, 32), "v": 400}, "xavier_uniform")
    limit = math.sqrt(6 / (200 + 300))  # x @ W: rows are fan_in, columns fan_out
    assert np.abs(values["W"]).max() <= limit
    assert values["W"].var() == pytest.approx(limit**2 / 3, rel=0.03)
    limit = math.sqrt(6 / (16 * 9 + 32 * 9))  # a kernel (kh, kw, in, out)
    assert np.abs(values["K"]).max() <= limit and np.abs(values["K"]).max() > 0.95 * limit
    assert values["v"].shape == (400,) and np.abs(values["v"]).max() <= math.sqrt(6 / 800)
    normal = train.init({"W": (400, 100)}, "he_normal", seed=1)["W"]
    assert normal.std() == pytest.approx(math.sqrt(2 / 400), rel=0.03)
    assert abs(normal.mean()) < 0.01 * math.sqrt(2 / 400)
    assert np.array_equal(train.init({"W": (400, 100)}, "he_normal", seed=1)["W"], normal)
    assert not np.array_equal(train.init({"W": (400, 100)}, "he_normal", seed=2)["W"], normal)
    zeros = train.init({"b": (3,)}, "zeros")["b"]
    assert zeros.shape == (3,) and not zeros.any()


def test_init_errors():
    with pytest.raises(ValueError, match="unknown scheme 'glorot'.*xavier_uniform"):
        train.init("a", "glorot")
    with pytest.raises(ValueError, match="xavier_uniform needs fan_in and fan_out .* 'a'"):
        train.init("a", fan_in=2)
    with pytest.raises(ValueError, match="he_normal needs fan_in for the float parameter 'a'"):
        train.init("a", "he_normal")
    with pytest.raises(ValueError, match="the shape of 'W' must be a tuple of sizes"):
        train.init({"W": [2, 3]})
    with pytest.raises(ValueError, match="fan_in of 'W' must be a positive number, not 0"):
        train.init({"W": (0, 3)})


# --- optimisers: two steps on f(w) = w**2 (gradient 2w) from w = 1, worked out by hand ----


def two_steps(optimizer, start=1.0):
    params = {"w": start}
    for _ in range(2):
        optimizer.step(params, {"w": 2 * params["w"], "x": 123.0})  # extra grads are ignored
    return params["w"]


def two_array_steps(optimizer, start):
    w = np.array(start, dtype=float)
    params = {"w": w}
    for _ in range(2):
        optimizer.step(params, {"w": 2 * w})
    assert params["w"] is w  # updated in place
    return w


def test_sgd_with_momentum():
    # v = 2, w = 1 - 0.1*2 = 0.8; then g = 1.6, v = 0.9*2 + 1.6 = 3.4, w = 0.8 - 0.34
    assert two_steps(train.SGD(lr=0.1, momentum=0.9)) == pytest.approx(0.46, abs=1e-15)
    assert two_steps(train.SGD(lr=0.1)) == pytest.approx(0.64, abs=1e-15)  # 1 -> 0.8 -> 0.64


def test_sgd_nesterov():
    # g = 2, v = 2, w = 1 - 0.1*(2 + 0.9*2) = 0.62
    # g = 1.24, v = 0.9*2 + 1.24 = 3.04, w = 0.62 - 0.1*(1.24 + 0.9*3.04) = 0.2224
    assert two_steps(train.SGD(lr=0.1, momentum=0.9, nesterov=True)) == pytest.approx(
        0.2224, abs=1e-15
    )


def test_adam():
    # t = 1: g = 2, m = 0.2, v = 0.004, m_hat = 2, v_hat = 4, w = 1 - 0.1*2/(2 + 1e-8)
    w1 = 1 - 0.1 * 2 / (2 + 1e-8)
    # t = 2: g = 2*w1, m = 0.9*0.2 + 0.1*g, v = 0.999*0.004 + 0.001*g*g
    g = 2 * w1
    m, v = 0.18 + 0.1 * g, 0.003996 + 0.001 * g * g
    w2 = w1 - 0.1 * (m / (1 - 0.81)) / (math.sqrt(v / (1 - 0.998001)) + 1e-8)
    optimizer = train.Adam(lr=0.1)
    assert two_steps(optimizer) == pytest.approx(w2, rel=1e-14)
    assert optimizer.state["w"][2] == 2  # m, v and the step count t
    optimizer.reset()
    assert optimizer.state == {}


@pytest.mark.parametrize(
    "make",
    [
        lambda: train.SGD(lr=0.1),
        lambda: train.SGD(lr=0.1, momentum=0.9),
        lambda: train.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.3),
        lambda: train.Adam(lr=0.1),
        lambda: train.AdamW(lr=0.1, weight_decay=0.5),
    ],
)
def test_arrays_take_the_same_steps_as_floats(make):
    starts = [1.0, -2.5, 0.0, 3e-3]
    expected = [two_steps(make(), start) for start in starts]
    assert two_array_steps(make(), starts) == pytest.approx(expected, rel=1e-14, abs=1e-300)
    assert two_array_steps(make(), [[1.0, -2.5], [0.0, 3e-3]]).ravel() == pytest.approx(
        expected, rel=1e-14, abs=1e-300
    )


@pytest.mark.parametrize(
    "optimizer",
    [
        train.SGD(lr=0.1),
        train.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
        train.AdamW(lr=0.1),
    ],
    ids=repr,
)
def test_array_steps_make_no_temporaries(optimizer):
    w = np.ones(100_000)
    grad = 2 * w
    optimizer.step({"w": w}, {"w": grad})  # the first step allocates the state
    tracemalloc.start()
    try:
        optimizer.step({"w": w}, {"w": grad})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < w.nbytes / 10


def test_decoupled_weight_decay():
    # p*(1 - lr*wd) then the gradient step: 1*(1 - 0.05) - 0.1*2 = 0.75
    params = {"w": 1.0}
    train.SGD(lr=0.1, weight_decay=0.5).step(params, {"w": 2.0})
    assert params["w"] == pytest.approx(0.75, abs=1e-15)
    params = {"w": 1.0}  # no gradient: decay alone
    train.SGD(lr=0.1, momentum=0.9, weight_decay=0.5).step(params, {"w": 0.0})
    assert params["w"] == pytest.approx(0.95, abs=1e-15)
    # Adam's first step is lr*sign(g) whatever the gradient's size: 0.95 - 0.1
    params = {"w": 1.0}
    train.AdamW(lr=0.1, weight_decay=0.5).step(params, {"w": 1e-3})
    assert params["w"] == pytest.approx(0.85, abs=1e-6)
    assert train.AdamW().weight_decay == 0.01 and train.Adam().weight_decay == 0.0
    params = {"w": 1.0}  # the step's lr overrides the optimiser's
    train.SGD(lr=0.1, weight_decay=0.5).step(params, {"w": 0.0}, lr=1.0)
    assert params["w"] == 0.5


def test_optimiser_errors():
    with pytest.raises(ValueError, match="no gradient for parameter 'b'"):
        train.SGD().step({"w": 1.0, "b": 0.0}, {"w": 1.0})
    with pytest.raises(TypeError, match="parameter 'w' is an array of int64"):
        train.Adam().step({"w": np.arange(3)}, {"w": np.ones(3)})
    with pytest.raises(ValueError, match="momentum must be in \\[0, 1\\), not 1"):
        train.SGD(momentum=1)
    with pytest.raises(ValueError, match="nesterov=True needs a momentum above 0"):
        train.SGD(nesterov=True)
    with pytest.raises(ValueError, match="lr must be a number >= 0, not -0.1"):
        train.Adam(lr=-0.1)
    with pytest.raises(ValueError, match="betas must be two numbers in \\[0, 1\\)"):
        train.Adam(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="weight_decay must be a number >= 0"):
        train.SGD(weight_decay=-1)


# --- schedules -----------------------------------------------------------------------------


def test_schedules():
    assert [train.Constant(0.1)(t) for t in (0, 5, 1000)] == [0.1, 0.1, 0.1]
    step = train.StepDecay(1.0, every=3, gamma=0.5)
    assert [step(t) for t in range(8)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    cosine = train.Cosine(1.0, total=4, floor=0.2)
    assert cosine(0) == 1.0 and cosine(4) == pytest.approx(0.2) and cosine(40) == cosine(4)
    assert cosine(2) == pytest.approx(0.6)
    assert cosine(1) == pytest.approx(0.2 + 0.8 * (1 + math.cos(math.pi / 4)) / 2)
    assert train.Cosine(0.5, total=10, unit="step").unit == "step"
    with pytest.raises(ValueError, match="every must be a positive integer, not 0"):
        train.StepDecay(1.0, every=0)
    with pytest.raises(ValueError, match="unit must be 'epoch' or 'step', not 'batch'"):
        train.Cosine(1.0, 10, unit="batch")
    with pytest.raises(ValueError, match="total must be a positive integer"):
        train.Cosine(1.0, 2.5)


def test_fit_calls_schedules_per_epoch_or_per_step():
    loss = exprgrad.compile("(w - y)**2")
    data = [{"y": 1.0}] * 5
    calls = []

    def by_epoch(epoch):
        calls.append(epoch)
        return 0.1

    history = train.fit(
        loss, {"w": 0.0}, data, epochs=3, batch_size=2, optimizer=train.SGD(), schedule=by_epoch
    )
    assert calls == [0, 1, 2] and history.lr == [0.1, 0.1, 0.1]
    history = train.fit(
        loss,
        {"w": 0.0},
        data,
        epochs=3,
        batch_size=2,
        optimizer=train.SGD(),
        schedule=train.StepDecay(1.0, every=2, gamma=0.5, unit="step"),
    )
    assert history.lr == [1.0, 0.5, 0.125]  # steps 0, 3 and 6 start the epochs
    history = train.fit(loss, {"w": 0.0}, data, epochs=2, batch_size=2, optimizer=train.SGD(0.3))
    assert history.lr == [0.3, 0.3]


# --- fit() -----------------------------------------------------------------------------------


def celsius(n=50, seed=0):
    rng = random.Random(seed)
    temperatures = [rng.uniform(-50, 50) for _ in range(n)]
    return [{"x": c / 50, "f": 1.8 * c + 32} for c in temperatures]  # inputs scaled by 1/50


LINEAR = exprgrad.compile("(w*x + b - f)**2", wrt="w,b")


def test_fit_learns_celsius_to_fahrenheit():
    data = celsius()
    params = {"w": 0.0, "b": 0.0}
    history = train.fit(
        LINEAR, params, data, epochs=40, batch_size=10, optimizer=train.SGD(0.3, momentum=0.5)
    )
    assert history.params["w"] / 50 == pytest.approx(1.8, abs=1e-3)
    assert history.params["b"] == pytest.approx(32, abs=1e-3)
    assert params == {"w": 0.0, "b": 0.0}  # not modified
    assert history.epochs == 40 and len(history.step_loss) == 40 * 5
    assert history.train_loss[0] > 100 > 1e-6 > history.train_loss[-1]
    assert history.val_loss == [] and history.best_epoch is None and not history.stopped_early


def test_the_batch_gradient_is_the_mean_of_the_examples():
    data = celsius(7)
    seen = []

    class Record(train.SGD):
        def step(self, params, grads, lr=None):
            seen.append((dict(params), dict(grads)))
            super().step(params, grads, lr)

    history = train.fit(
        LINEAR, {"w": 0.5, "b": -1.0}, data, epochs=1, batch_size=7, optimizer=Record()
    )
    (params, grads), *_ = seen
    points = [LINEAR.value_and_grad(**params, **row) for row in data]
    assert grads["w"] == pytest.approx(statistics.fmean(g["w"] for _, g in points), rel=1e-12)
    assert grads["b"] == pytest.approx(statistics.fmean(g["b"] for _, g in points), rel=1e-12)
    assert history.step_loss == [pytest.approx(statistics.fmean(v for v, _ in points))]


def test_fit_takes_columns_and_ignores_extra_keys():
    rows = [{**row, "comment": "ignored"} for row in celsius()]
    columns = {"x": [row["x"] for row in rows], "f": np.array([row["f"] for row in rows])}
    kwargs = dict(epochs=5, batch_size=10, optimizer=train.SGD(0.3, momentum=0.5))
    by_rows = train.fit(LINEAR, {"w": 0, "b": 0}, rows, **kwargs)
    kwargs["optimizer"] = train.SGD(0.3, momentum=0.5)
    by_columns = train.fit(LINEAR, {"w": 0, "b": 0}, columns, **kwargs)
    assert by_rows.step_loss == by_columns.step_loss


def test_seeded_runs_are_reproducible():
    def run(seed):
        return train.fit(
            LINEAR,
            {"w": 0.0, "b": 0.0},
            celsius(),
            epochs=3,
            batch_size=8,
            optimizer=train.Adam(0.5),
            validation=0.2,
            seed=seed,
        )

    first, again, other = run(1), run(1), run(2)
    assert first == again
    assert first.step_loss != other.step_loss
    assert len(first.step_loss) == 3 * 5  # 40 training examples in batches of 8


def test_early_stopping_restores_the_best_parameters():
    # Training pulls w from 0 towards 1: w = 1 - 0.8**k after epoch k (k = 1, 2, ...);
    # the validation loss (w - 0.5)**2 is lowest after the third epoch, w = 0.488.
    loss = exprgrad.compile("(w - y)**2")
    history = train.fit(
        loss,
        {"w": 0.0},
        [{"y": 1.0}] * 4,
        epochs=50,
        batch_size=4,
        optimizer=train.SGD(lr=0.1),
        validation=[{"y": 0.5}],
        patience=2,
    )
    assert history.best_epoch == 2 and history.stopped_early
    assert history.epochs == 5  # epochs 3 and 4 did not improve
    assert history.params["w"] == pytest.approx(1 - 0.8**3, abs=1e-12)
    assert history.val_loss == pytest.approx([(0.5 - 0.8**k) ** 2 for k in range(1, 6)])
    assert history.train_loss == pytest.approx([0.8 ** (2 * k) for k in range(5)])


def test_a_callback_sees_every_epoch_and_can_stop():
    seen = []

    def callback(epoch, params, history):
        seen.append((epoch, params["w"], len(history.train_loss)))
        return epoch == 2 or None

    loss = exprgrad.compile("(w - y)**2")
    history = train.fit(
        loss,
        {"w": 0.0},
        [{"y": 1.0}],
        epochs=10,
        batch_size=1,
        optimizer=train.SGD(0.1),
        callback=callback,
    )
    assert [epoch for epoch, *_ in seen] == [0, 1, 2] and history.stopped_early
    assert seen[0][1:] == (pytest.approx(0.2), 1)


def test_a_non_finite_loss_names_epoch_step_and_example():
    loss = exprgrad.compile("(w*x - y)**2", wrt="w")
    data = [{"x": 1.0, "y": 1.0} for _ in range(6)]
    data[3] = {"x": 1.0, "y": math.nan}
    with pytest.raises(train.NonFiniteLossError) as caught:
        train.fit(loss, {"w": 0.0}, data, epochs=3, batch_size=2, optimizer=train.SGD())
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.epoch, error.example) == (0, 3) and 0 <= error.step < 3
    assert f"the loss is nan at data[3] (epoch 0, step {error.step})" in str(error)
    # diverging: the loss overflows to inf at the first example of some step
    with pytest.raises(train.NonFiniteLossError, match="the loss is inf at data\\[\\d\\]"):
        train.fit(
            exprgrad.compile("w*w*w*w*x"),
            {"w": 1.0},
            [{"x": 1.0}] * 4,
            epochs=100,
            batch_size=2,
            optimizer=train.SGD(lr=10.0),
        )


class Fake:
    """A Function-like object for the Python path: the gradient of w is inf at x = 13."""

    inputs = ("w", "x")
    wrt = ("w",)

    def value_and_grad(self, w, x):
        return w * x, {"w": math.inf if x == 13 else x}


def test_a_non_finite_gradient_names_the_example():
    data = [{"x": float(x)} for x in range(10, 20)]
    with pytest.raises(train.NonFiniteLossError, match="the gradient of 'w' is inf at data\\[3\\]"):
        train.fit(Fake(), {"w": 0.0}, data, epochs=1, batch_size=10, optimizer=train.SGD())


def test_an_evaluation_error_names_the_example():
    loss = exprgrad.compile("log(w*x)")
    data = [{"x": 1.0}, {"x": 2.0}, {"x": -1.0}]
    with pytest.raises(exprgrad.EvaluationError) as caught:
        train.fit(loss, {"w": 1.0}, data, epochs=1, batch_size=3, optimizer=train.SGD())
    text = str(caught.value)
    assert text.startswith(
        "at data[2] (epoch 0, step 0): log of a non-positive number at line 1, column 1\n"
    )
    assert text.endswith("    log(w*x)\n    ^^^^^^^^")
    assert caught.value.line == 1 and caught.value.column == 1
    with pytest.raises(exprgrad.EvaluationError, match="^at validation\\[0\\] \\(validation after"):
        train.fit(
            loss,
            {"w": 1.0},
            data[:2],
            epochs=1,
            batch_size=2,
            optimizer=train.SGD(),
            validation=[{"x": 0.0}],
        )


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            {"params": {"w": 0.0, "c": 0.0}},
            ValueError,
            "unknown parameter 'c': not an input of the loss \\(w, x, b, f\\)",
        ),
        (
            {"params": {"w": 0.0, "x": 0.0}},
            ValueError,
            "parameter 'x' is not differentiated by the loss \\(wrt: w, b\\); "
            "compile it with wrt=\\['w', 'x'\\]",
        ),
        ({"params": {}}, ValueError, "params must be a non-empty dict"),
        ({"data": []}, ValueError, "data is empty: there are no examples to train on"),
        ({"data": {"x": [], "f": []}}, ValueError, "data is empty"),
        (
            {"data": [{"x": 1.0, "f": 2.0}, {"x": 1.0}]},
            ValueError,
            "data\\[1\\] has no value for input 'f' \\(has x\\)",
        ),
        (
            {"data": [{"x": 1.0, "f": 2.0}, [1.0, 2.0]]},
            TypeError,
            "data\\[1\\] must be a dict of inputs, not list",
        ),
        (
            {"data": [{"x": "1.0", "f": 2.0}]},
            TypeError,
            "data\\[0\\]\\['x'\\] must be a number, not str '1.0'",
        ),
        ({"data": [{"x": 1j, "f": 2.0}]}, TypeError, "data\\[0\\]\\['x'\\] must be a"),
        (
            {"data": {"x": [1.0, 2.0], "f": [1.0]}},
            ValueError,
            "the columns of data differ in length \\(x: 2, f: 1\\)",
        ),
        ({"data": 3}, TypeError, "data must be a sequence of examples"),
        ({"epochs": 0}, ValueError, "epochs must be a positive integer, not 0"),
        ({"epochs": 2.5}, ValueError, "epochs must be a positive integer, not 2.5"),
        ({"epochs": True}, ValueError, "epochs must be a positive integer, not True"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, not 0"),
        ({"batch_size": -4}, ValueError, "batch_size must be a positive integer, not -4"),
        ({"patience": 3}, ValueError, "patience needs validation"),
        ({"patience": 0, "validation": 0.5}, ValueError, "patience must be a positive integer"),
        ({"validation": 1.5}, ValueError, "a validation fraction must be in \\(0, 1\\), not 1.5"),
        (
            {"validation": 0.01},
            ValueError,
            "a validation fraction of 0.01 of 3 examples leaves 0 for validation "
            "and 3 for training",
        ),
        ({"validation": [{"x": 1.0}]}, ValueError, "validation\\[0\\] has no value for input 'f'"),
        ({"validation": "abc"}, TypeError, "validation must be a fraction or examples"),
        (
            {"optimizer": "sgd"},
            TypeError,
            "optimizer must have a step\\(params, grads, lr\\) method",
        ),
        ({"schedule": 0.1}, TypeError, "schedule must be a callable of the epoch"),
        ({"progress": "yes"}, TypeError, "progress must be True, False or None"),
        (
            {"params": {"w": np.zeros(2)}},
            TypeError,
            "parameter 'w' is an array, but the loss computes with numbers: "
            "compile it with backend='numpy'",
        ),
        ({"params": {"w": "0"}}, TypeError, "parameter 'w' must be a number"),
        ({"loss": "(w*x + b - f)**2"}, TypeError, "loss must be a compiled exprgrad Function"),
    ],
)
def test_errors_come_before_any_step(change, error, message):
    calls = []

    class Watch(train.SGD):
        def step(self, params, grads, lr=None):
            calls.append(1)

    arguments = dict(
        loss=LINEAR,
        params={"w": 0.0, "b": 0.0},
        data=[{"x": 1.0, "f": 2.0}] * 3,
        epochs=1,
        batch_size=2,
        optimizer=Watch(),
    )
    arguments.update(change)
    with pytest.raises(error, match=message):
        train.fit(**arguments)
    assert calls == []


def test_a_batch_above_the_data_size_is_the_full_batch():
    history = train.fit(
        LINEAR, {"w": 0, "b": 0}, celsius(5), epochs=2, batch_size=100, optimizer=train.SGD()
    )
    assert len(history.step_loss) == 2


# --- the numpy backend: the formula's value is the batch's loss -------------------------------

BATCH_LINEAR = exprgrad.compile("mean((x @ w + b - y)**2)", wrt="w,b", backend="numpy")


class Recording:
    """A numpy-backend loss passed through, recording the size of every batch it sees."""

    backend = "numpy"

    def __init__(self, loss, column="x"):
        self.loss, self.inputs, self.wrt = loss, loss.inputs, loss.wrt
        self.position = loss.inputs.index(column)
        self.batches = []

    def __call__(self, *args):
        self.batches.append(len(args[self.position]))
        return self.loss(*args)

    def value_and_grad(self, *args):
        self.batches.append(len(args[self.position]))
        return self.loss.value_and_grad(*args)


class RecordSteps(train.SGD):
    """SGD that keeps a copy of the parameters and gradients of every step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def step(self, params, grads, lr=None):
        copied = {
            name: getattr(value, "copy", lambda v=value: v)() for name, value in params.items()
        }
        self.seen.append((copied, {name: np.copy(grads[name]) for name in params}))
        super().step(params, grads, lr)


def linear_columns(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    return {"x": x, "y": x @ np.array([2.0, -3.0]) + 0.5}


def test_numpy_batches_are_one_call_each():
    loss = Recording(BATCH_LINEAR)
    w = np.zeros(2)
    history = train.fit(
        loss,
        {"w": w, "b": 0.0},
        linear_columns(),
        epochs=30,
        batch_size=10,
        optimizer=train.SGD(0.2, momentum=0.5),
    )
    assert loss.batches == [10, 10, 10, 10, 10, 10, 4] * 30
    assert history.params["w"] == pytest.approx([2.0, -3.0], abs=1e-6)
    assert type(history.params["b"]) is float and history.params["b"] == pytest.approx(0.5)
    assert not w.any()  # the caller's array is copied, not trained
    # an epoch's loss: its steps' losses weighted by their batch sizes, as on the Python path
    assert history.train_loss[0] == pytest.approx(
        sum(s * n for s, n in zip(history.step_loss[:7], [10] * 6 + [4], strict=True)) / 64
    )


def test_the_formula_value_is_the_batch_loss_and_its_gradient_the_step():
    columns = linear_columns(20)
    optimizer = RecordSteps(0.1)
    history = train.fit(
        BATCH_LINEAR,
        {"w": np.ones(2), "b": 0.0},
        columns,
        epochs=1,
        batch_size=20,
        optimizer=optimizer,
    )
    (params, grads), *_ = optimizer.seen
    value, expected = BATCH_LINEAR.value_and_grad(**params, **columns)  # the whole data set
    assert history.step_loss == [pytest.approx(value, rel=1e-12)]  # not divided again
    assert grads["w"] == pytest.approx(expected["w"], rel=1e-12)
    assert grads["b"] == pytest.approx(expected["b"], rel=1e-12)
    # the same numbers as the Python backend's mean over the examples
    rows = [
        {"x1": x1, "x2": x2, "y": y} for (x1, x2), y in zip(columns["x"], columns["y"], strict=True)
    ]
    scalar = exprgrad.compile("(w1*x1 + w2*x2 + b - y)**2", wrt="w1,w2,b")
    optimizer = RecordSteps(0.1)
    again = train.fit(
        scalar,
        {"w1": 1.0, "w2": 1.0, "b": 0.0},
        rows,
        epochs=1,
        batch_size=20,
        optimizer=optimizer,
    )
    (_, by_example), *_ = optimizer.seen
    assert again.step_loss == pytest.approx(history.step_loss, rel=1e-12)
    assert [by_example["w1"], by_example["w2"]] == pytest.approx(grads["w"], rel=1e-12)


def test_a_summed_loss_is_not_divided_by_the_batch_size():
    summed = exprgrad.compile("sum((x @ w + b - y)**2)", wrt="w,b", backend="numpy")
    columns = linear_columns(20)
    steps = {}
    for loss in (BATCH_LINEAR, summed):
        optimizer = RecordSteps(0.01)
        history = train.fit(
            loss,
            {"w": np.ones(2), "b": 0.0},
            columns,
            epochs=1,
            batch_size=20,
            optimizer=optimizer,
        )
        steps[loss] = history.step_loss[0], optimizer.seen[0][1]
    (mean, mean_grads), (total, total_grads) = steps[BATCH_LINEAR], steps[summed]
    assert total == pytest.approx(20 * mean, rel=1e-12)
    assert total_grads["w"] == pytest.approx(20 * mean_grads["w"], rel=1e-12)


def test_numpy_path_takes_rows_and_validates():
    columns = linear_columns(40)
    rows = [{"x": x, "y": y} for x, y in zip(columns["x"], columns["y"], strict=True)]
    loss = Recording(BATCH_LINEAR)
    history = train.fit(
        loss,
        {"w": np.zeros(2), "b": 0.0},
        rows,
        epochs=20,
        batch_size=8,
        optimizer=train.Adam(0.1),
        validation=0.25,
        patience=5,
    )
    assert loss.batches[:4] == [8, 8, 8, 6]  # 30 training examples; validation is one call
    assert loss.batches[4] == 10
    assert len(history.val_loss) == history.epochs and history.best_epoch is not None
    assert history.val_loss[history.best_epoch] == min(history.val_loss)


def test_numpy_validation_is_the_mean_over_every_held_out_example():
    # more examples than one validation call takes (4,096): the calls' means are weighted
    loss = exprgrad.compile("mean((w - y)**2)", backend="numpy")
    held_out = {"y": np.r_[np.zeros(4096), np.full(904, 3.0)]}
    history = train.fit(
        loss,
        {"w": 0.0},
        {"y": np.ones(4)},
        epochs=1,
        batch_size=4,
        optimizer=train.SGD(0.1),
        validation=held_out,
    )
    w = history.params["w"]
    assert w == pytest.approx(0.2)
    assert history.val_loss == [pytest.approx(np.mean((w - held_out["y"]) ** 2), rel=1e-12)]


def test_numpy_early_stopping_restores_the_best_parameters():
    # as on the Python path: w = 1 - 0.8**k after epoch k; (w - 0.5)**2 is lowest at k = 3
    loss = exprgrad.compile("mean((w - y)**2)", backend="numpy")
    history = train.fit(
        loss,
        {"w": np.zeros(1)},
        {"y": np.ones(4)},
        epochs=50,
        batch_size=4,
        optimizer=train.SGD(lr=0.1),
        validation={"y": [0.5]},
        patience=2,
    )
    assert history.best_epoch == 2 and history.stopped_early and history.epochs == 5
    assert history.params["w"] == pytest.approx([1 - 0.8**3], abs=1e-12)
    assert history.val_loss == pytest.approx([(0.5 - 0.8**k) ** 2 for k in range(1, 6)])
    assert history.train_loss == pytest.approx([0.8 ** (2 * k) for k in range(5)])


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_numpy_weight_decay_is_the_optimisers_and_gives_ridge_regression(momentum):
    # Decoupled decay stops where grad = -(1 - momentum)*weight_decay*w: for the mean squared
    # error, the ridge solution (2/n X'X + (1 - momentum)*wd I) w = 2/n X'y.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=50)
    loss = exprgrad.compile("mean((x @ w - y)**2)", backend="numpy")
    decay = 0.4
    history = train.fit(
        loss,
        {"w": np.zeros(3)},
        {"x": x, "y": y},
        epochs=400,
        batch_size=50,
        optimizer=train.SGD(0.1, momentum=momentum, weight_decay=decay),
    )
    ridge = np.linalg.solve(2 / 50 * x.T @ x + (1 - momentum) * decay * np.eye(3), 2 / 50 * x.T @ y)
    assert history.params["w"] == pytest.approx(ridge, abs=1e-9)
    plain = np.linalg.lstsq(x, y, rcond=None)[0]
    assert np.linalg.norm(history.params["w"]) < np.linalg.norm(plain) - 0.1  # shrunk


@pytest.mark.parametrize(
    "make",
    [
        lambda: train.SGD(0.1, momentum=0.9, nesterov=True),
        lambda: train.Adam(0.2),
        lambda: train.AdamW(0.2, weight_decay=0.1),
    ],
    ids=["nesterov", "adam", "adamw"],
)
def test_numpy_fit_steps_as_a_loop_of_value_and_grad(make):
    columns = linear_columns(30)
    history = train.fit(
        BATCH_LINEAR,
        {"w": np.zeros(2), "b": 0.0},
        columns,
        epochs=25,
        batch_size=30,
        optimizer=make(),
    )
    params, optimizer, losses = {"w": np.zeros(2), "b": 0.0}, make(), []
    for _ in range(25):  # full batches: the order of the examples changes only rounding
        value, grads = BATCH_LINEAR.value_and_grad(**params, **columns)
        grads["b"] = float(grads["b"])
        optimizer.step(params, grads)
        losses.append(value)
    assert history.step_loss == pytest.approx(losses, rel=1e-9)
    assert history.params["w"] == pytest.approx(params["w"], rel=1e-9)
    assert losses[-1] < losses[0] / 10


def test_numpy_seeded_runs_are_reproducible():
    def run(seed):
        return train.fit(
            BATCH_LINEAR,
            {"w": np.zeros(2), "b": 0.0},
            linear_columns(50),
            epochs=3,
            batch_size=8,
            optimizer=train.Adam(0.5),
            validation=0.2,
            seed=seed,
        )

    first, again, other = run(1), run(1), run(2)
    assert first.step_loss == again.step_loss and first.val_loss == again.val_loss
    assert np.array_equal(first.params["w"], again.params["w"])
    assert first.params["b"] == again.params["b"]
    assert first.step_loss != other.step_loss
    assert len(first.step_loss) == 3 * 5  # 40 training examples in batches of 8


def test_numpy_float32_stays_float32():
    columns = {name: column.astype(np.float32) for name, column in linear_columns().items()}
    history = train.fit(
        BATCH_LINEAR,
        {"w": np.zeros(2, dtype=np.float32), "b": 0.0},
        columns,
        epochs=20,
        batch_size=16,
        optimizer=train.Adam(0.1),
    )
    assert history.params["w"].dtype == np.float32
    assert history.params["w"] == pytest.approx([2.0, -3.0], abs=0.05)


class WrongGradientShape:
    """A numpy-backend loss whose gradient of w has the wrong shape (the real backend's
    gradients always have their input's shape)."""

    inputs, wrt, backend = ("x", "w", "b", "y"), ("w", "b"), "numpy"

    def __call__(self, x, w, b, y):
        return 0.0

    def value_and_grad(self, x, w, b, y):
        return 0.0, {"w": np.zeros(len(x)), "b": 0.0}


def test_numpy_path_errors_come_before_any_step():
    calls = []

    class Watch(train.SGD):
        def step(self, params, grads, lr=None):
            calls.append(1)

    def run(loss=BATCH_LINEAR, data=None, **kwargs):
        return train.fit(
            loss,
            {"w": np.zeros(2), "b": 0.0},
            linear_columns() if data is None else data,
            epochs=1,
            batch_size=16,
            optimizer=Watch(),
            **kwargs,
        )

    with pytest.raises(ValueError, match="data has no column for input 'y' \\(has x\\)"):
        run(data={"x": np.zeros((4, 2))})
    with pytest.raises(ValueError, match="the columns of data differ in length \\(x: 4, y: 3\\)"):
        run(data={"x": np.zeros((4, 2)), "y": np.zeros(3)})
    with pytest.raises(ValueError, match="data\\['y'\\] must be a column"):
        run(data={"x": np.zeros((4, 2)), "y": 1.0})
    with pytest.raises(ValueError, match="data\\[1\\] has no value for input 'y'"):
        run(data=[{"x": [0.0, 1.0], "y": 1.0}, {"x": [0.0, 1.0]}])
    with pytest.raises(ValueError, match="data is empty"):
        run(data={"x": np.zeros((0, 2)), "y": np.zeros(0)})
    with pytest.raises(ValueError, match="validation has no column for input 'x'"):
        run(validation={"y": np.zeros(3)})
    per_example = exprgrad.compile("(x @ w + b - y)**2", wrt="w,b", backend="numpy")
    with pytest.raises(
        ValueError,
        match="^the loss has shape \\(16,\\) on a batch of 16 examples; with the numpy backend "
        "its value must be a scalar, the batch's loss: reduce it in the formula, as mean",
    ):
        run(per_example)
    with pytest.raises(
        ValueError, match="gradient of 'w' has shape \\(16,\\), not the parameter's shape \\(2,\\)"
    ):
        run(WrongGradientShape())
    assert calls == []


def test_numpy_non_finite_data_and_failing_examples_are_named():
    def run(loss, data):
        return train.fit(
            loss,
            {"w": np.zeros(2), "b": 0.0},
            data,
            epochs=1,
            batch_size=16,
            optimizer=train.SGD(),
        )

    columns = linear_columns()
    columns["y"][7] = np.inf
    with pytest.raises(train.NonFiniteLossError, match="the loss is inf at data\\[7\\] \\(epoch 0"):
        run(BATCH_LINEAR, columns)
    columns = linear_columns()
    columns["c"] = np.ones(64)
    columns["c"][9] = -1.0
    loss = exprgrad.compile("mean((x @ w + b - y)**2 + log(c))", wrt="w,b", backend="numpy")
    with pytest.raises(exprgrad.EvaluationError) as caught:
        run(loss, columns)
    assert re.match(
        "at data\\[9\\] \\(epoch 0, step \\d\\): log of a non-positive number in log\\(c\\)",
        str(caught.value),
    )
    assert caught.value.example == 9


# --- progress --------------------------------------------------------------------------------


class FakeTqdm:
    made = []

    def __init__(self, **kwargs):
        self.kwargs, self.updates, self.postfix, self.closed = kwargs, 0, None, False
        FakeTqdm.made.append(self)

    def update(self, n):
        self.updates += n

    def set_postfix(self, postfix, refresh=True):
        self.postfix = postfix

    def close(self):
        self.closed = True


class Terminal(io.StringIO):
    def isatty(self):
        return True


def fit_quietly(**kwargs):
    loss = exprgrad.compile("(w - y)**2")
    return train.fit(
        loss, {"w": 0.0}, [{"y": 1.0}] * 5, epochs=3, batch_size=2, optimizer=train.SGD(), **kwargs
    )


@pytest.fixture
def fake_tqdm(monkeypatch):
    FakeTqdm.made = []
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    return FakeTqdm.made


def test_no_bar_when_stderr_is_not_a_terminal(fake_tqdm, capsys):
    fit_quietly()
    fit_quietly(progress=False)
    assert fake_tqdm == [] and capsys.readouterr().err == ""


def test_a_bar_on_a_terminal(fake_tqdm, monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    history = fit_quietly(validation=[{"y": 0.0}])
    (bar,) = fake_tqdm
    assert bar.kwargs["total"] == 9 and bar.updates == 9 and bar.closed
    assert bar.kwargs["delay"] > 0  # short runs end before it shows
    loss, val = history.train_loss[-1], history.val_loss[-1]
    assert bar.postfix == {"epoch": "3/3", "loss": f"{loss:.4g}", "val": f"{val:.4g}"}
    fit_quietly(progress=False)
    assert len(fake_tqdm) == 1


def test_progress_true_forces_a_bar(fake_tqdm):
    fit_quietly(progress=True)
    (bar,) = fake_tqdm
    assert bar.kwargs["delay"] == 0


def test_progress_true_without_tqdm_prints_lines(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    monkeypatch.setattr(sys, "stderr", Terminal())
    fit_quietly()
    assert sys.stderr.getvalue() == ""
    history = fit_quietly(progress=True)
    assert sys.stderr.getvalue().splitlines() == [
        f"epoch {epoch}/3: loss {loss:.6g}" for epoch, loss in enumerate(history.train_loss, 1)
    ]


# --- the module -----------------------------------------------------------------------------


def test_docstring_examples():
    # the package's docstring, and its modules' (testmod reads one module at a time)
    for module in (train, train.initialisers):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_training_floats_never_imports_numpy():
    code = (
        "import sys, exprgrad\n"
        "from exprgrad import train\n"
        "loss = exprgrad.compile('(w*x + b - y)**2')\n"
        "params = train.init('w,b', 'he_normal', fan_in=1)\n"
        "train.fit(loss, params, [{'x': 1.0, 'y': 2.0}] * 4, epochs=2, batch_size=2,\n"
        "          optimizer=train.AdamW(), schedule=train.Cosine(0.1, 2), validation=0.5)\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_single_example_batches_and_a_loss_of_parameters_alone():
    loss = exprgrad.compile("(w - 3)**2")
    history = train.fit(
        loss, {"w": 0.0}, [{}] * 3, epochs=20, batch_size=1, optimizer=train.SGD(0.2)
    )
    assert len(history.step_loss) == 60 and history.params["w"] == pytest.approx(3.0)


def test_an_overflowing_batch_sum_names_no_example():
    loss = exprgrad.compile("w*x")
    with pytest.raises(train.NonFiniteLossError) as caught:
        train.fit(
            loss, {"w": 1.0}, [{"x": 1e308}] * 2, epochs=1, batch_size=2, optimizer=train.SGD()
        )
    assert caught.value.example is None
    assert str(caught.value).startswith("the batch's total loss is inf at no single example")


def test_an_evaluation_error_in_held_out_data_names_its_index():
    # the one step of epoch 0 moves w from 0 to 2, past every x: validation fails
    loss = exprgrad.compile("sqrt(x - w)")
    data = [{"x": 1.0}] * 4
    with pytest.raises(exprgrad.EvaluationError) as caught:
        train.fit(
            loss, {"w": 0.0}, data, epochs=2, batch_size=2, optimizer=train.SGD(4.0), validation=0.5
        )
    error = caught.value
    assert str(error).startswith(
        f"at data[{error.example}] (validation after epoch 0): sqrt of a negative number at line 1"
    )
    assert error.example in range(4) and error.line == 1 and error.column == 1


# --- fixed inputs: hyperparameters the same in every loss call ---------------------------------


def test_a_fixed_penalty_weight_reaches_every_scalar_loss_call():
    # a full batch: each step is the mean of value_and_grad(..., lam=lam) over the data
    loss = exprgrad.compile("(w*x + b - y)**2 + lam*w**2", wrt="w,b")
    data = [{"x": x / 10, "y": 3 * x / 10 + 1} for x in range(-10, 11)]

    def run(lam):
        return train.fit(
            loss, {"w": 2.0, "b": 0.0}, data, epochs=30, batch_size=21,
            optimizer=train.SGD(0.3), fixed={"lam": lam},
        )  # fmt: skip

    def by_hand(lam):
        w, b, losses = 2.0, 0.0, []
        for _ in range(30):
            results = [loss.value_and_grad(w=w, b=b, lam=lam, **row) for row in data]
            losses.append(sum(value for value, _ in results) / 21)
            w -= 0.3 * sum(grads["w"] for _, grads in results) / 21
            b -= 0.3 * sum(grads["b"] for _, grads in results) / 21
        return losses, w, b

    for lam in (0.0, 0.1, 1.0):
        history = run(lam)
        losses, w, b = by_hand(lam)
        assert history.step_loss == pytest.approx(losses, rel=1e-12)
        assert history.params == pytest.approx({"w": w, "b": b}, rel=1e-12)
    # the first step's loss holds lam * w**2 with w = 2: lam moves it by 4 per unit
    assert run(1.0).step_loss[0] - run(0.0).step_loss[0] == pytest.approx(4.0)
    assert run(0.1).params["w"] < run(0.0).params["w"]  # shrunk


def test_a_fixed_penalty_weight_keeps_a_numpy_loss_a_scalar():
    # lam as a column would make the loss a vector; fixed passes it whole, as a number
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=50)
    loss = exprgrad.compile("mean((x @ w - y)**2) + lam*sum(w*w)", wrt="w", backend="numpy")
    lam = 0.2
    history = train.fit(
        loss, {"w": np.zeros(3)}, {"x": x, "y": y}, epochs=400, batch_size=50,
        optimizer=train.SGD(0.1), fixed={"lam": lam},
    )  # fmt: skip
    ridge = np.linalg.solve(2 / 50 * x.T @ x + 2 * lam * np.eye(3), 2 / 50 * x.T @ y)
    assert history.params["w"] == pytest.approx(ridge, abs=1e-9)
    w = np.zeros(3)  # the same steps by hand
    for _ in range(3):
        value, grads = loss.value_and_grad(x=x, y=y, w=w, lam=lam)
        w = w - 0.1 * grads["w"]
    short = train.fit(
        loss, {"w": np.zeros(3)}, {"x": x, "y": y}, epochs=3, batch_size=50,
        optimizer=train.SGD(0.1), fixed={"lam": lam},
    )  # fmt: skip
    assert short.params["w"] == pytest.approx(w, rel=1e-12)
    assert short.step_loss[-1] == pytest.approx(float(value), rel=1e-12)
    # an array is passed whole (not sliced by the batch), in rows or columns alike
    scaled = exprgrad.compile("mean((x @ (s * w) - y)**2)", wrt="w", backend="numpy")
    rows = [{"x": list(row), "y": target} for row, target in zip(x, y, strict=True)]
    for data in ({"x": x, "y": y}, rows):
        history = train.fit(
            scaled, {"w": np.zeros(3)}, data, epochs=400, batch_size=50,
            optimizer=train.SGD(0.1), fixed={"s": np.array([0.5, 1.0, 1.5])},
        )  # fmt: skip
        plain = np.linalg.lstsq(x, y, rcond=None)[0]
        assert history.params["w"] * [0.5, 1.0, 1.5] == pytest.approx(plain, abs=1e-6)


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_fixed_names_are_checked_before_any_step(backend):
    calls = []

    class Watch(train.SGD):
        def step(self, params, grads, lr=None):
            calls.append(1)

    if backend == "numpy":
        loss = exprgrad.compile("mean((w*x - y)**2) + lam*w*w", wrt="w", backend="numpy")
        params = {"w": np.zeros(())}
    else:
        loss = exprgrad.compile("(w*x - y)**2 + lam*w*w", wrt="w")
        params = {"w": 0.0}
    rows = [{"x": 1.0, "y": 2.0}] * 4
    columns = {"x": [1.0] * 4, "y": [2.0] * 4}

    def run(fixed, data=rows, **kwargs):
        return train.fit(
            loss, params, data, epochs=1, batch_size=2, optimizer=Watch(), fixed=fixed,
            progress=False, **kwargs,
        )  # fmt: skip

    cases = [
        ({"lam": 0.1, "mu": 1.0, "nu": 2.0}, {}, exprgrad.ArgumentValueError,
         "fixed names 'mu', 'nu', not inputs of the loss \\(w, x, y, lam\\)"),
        ({"lam": 0.1, "w": 1.0}, {}, exprgrad.ArgumentValueError,
         "'w' is both a parameter and fixed"),
        ({"lam": 0.1, "y": 1.0}, {"data": columns}, exprgrad.ArgumentValueError,
         "'y' is both fixed and a column of data"),
        ({"lam": 0.1, "y": 1.0}, {}, exprgrad.ArgumentValueError,
         "'y' is both fixed and a column of data\\[0\\]"),
        ({"lam": 0.1, "y": 1.0}, {"data": [{"x": 1.0}, {"x": 1.0, "y": 2.0}]},
         exprgrad.ArgumentValueError, "'y' is both fixed and a column of data\\[1\\]"),
        ({"lam": 0.1, "y": 1.0}, {"data": [{"x": 1.0}] * 2, "validation": rows},
         exprgrad.ArgumentValueError, "'y' is both fixed and a column of validation\\[0\\]"),
        (0.1, {}, exprgrad.ArgumentError, "fixed must be a dict of input name -> value"),
        ({"lam": "0.1"}, {}, exprgrad.ArgumentError, "fixed\\['lam'\\] must be a number"),
        ({}, {}, exprgrad.ArgumentValueError,
         "data has no column for input 'lam' \\(has x, y\\); a value the same for every "
         "example goes in fixed=\\{'lam': ...\\}"),
        ({}, {"data": {**columns, "lam": 0.1}}, exprgrad.ArgumentValueError,
         "data\\['lam'\\] must be a column \\(first axis: examples\\), not float 0.1; "
         "a value the same for every example goes in fixed=\\{'lam': ...\\}"),
    ]  # fmt: skip
    for fixed, change, error, message in cases:
        if not fixed and "data" not in change:
            change = {"data": columns}
        with pytest.raises(error, match=message):
            run(fixed, **change)
    assert calls == []


# --- a non-finite loss: bad data, a bad fixed value or start, or divergence -------------------


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_a_non_finite_input_is_named_instead_of_the_learning_rate(backend):
    numpy = backend == "numpy"
    loss = (  # * rather than **: a Python float overflows to inf, not an EvaluationError
        exprgrad.compile("mean((w*x - y)*(w*x - y)) + lam*w*w", wrt="w", backend="numpy")
        if numpy
        else exprgrad.compile("(w*x - y)*(w*x - y) + lam*w*w", wrt="w")
    )

    def run(data, w=0.0, lam=0.0, lr=0.01, epochs=1):
        return train.fit(
            loss, {"w": w}, data, epochs=epochs, batch_size=2, optimizer=train.SGD(lr),
            fixed={"lam": lam}, progress=False,
        )  # fmt: skip

    rows = [{"x": 1.0, "y": 2.0} for _ in range(6)]
    rows[3] = {"x": 1.0, "y": math.nan}
    with pytest.raises(train.NonFiniteLossError) as caught:
        run(rows)
    text = str(caught.value)
    assert re.match(
        "the loss is nan at data\\[3\\] \\(epoch 0, step \\d\\): data\\[3\\]\\['y'\\] is nan, "
        "not a finite number: clean that input, or guard the formula$",
        text,
    )
    columns = {"x": [1.0, 1.0, -math.inf, 1.0], "y": [2.0] * 4}
    with pytest.raises(train.NonFiniteLossError, match="data\\['x'\\]\\[2\\] is -inf, not a fin"):
        run(columns)
    with pytest.raises(train.NonFiniteLossError, match="fixed\\['lam'\\] is inf, not a finite"):
        run([{"x": 1.0, "y": 2.0}] * 4, w=1.0, lam=math.inf)
    with pytest.raises(train.NonFiniteLossError, match="the initial parameter 'w' is nan, not a"):
        run([{"x": 1.0, "y": 2.0}] * 4, w=math.nan)
    if numpy:  # finite inputs to an inf: the numpy backend's EvaluationError names the op
        return
    # finite inputs: at the first step no learning rate is to blame; later, divergence is
    with pytest.raises(train.NonFiniteLossError) as caught:
        run([{"x": 1e200, "y": 0.0}] * 4, w=1e200)
    assert "the inputs are finite and no step has been taken yet" in str(caught.value)
    assert "learning rate" not in str(caught.value)
    with pytest.raises(train.NonFiniteLossError) as caught:
        run([{"x": 10.0, "y": 2.0}] * 4, lr=10.0, epochs=500)
    text = str(caught.value)
    assert "the inputs are finite, so training diverged: lower the learning rate" in text
    assert (caught.value.epoch, caught.value.step) != (0, 0)


@given(
    st.sampled_from(["python", "numpy"]),
    st.booleans(),  # columns or rows
    st.integers(2, 8),
    st.data(),
)
@settings(max_examples=25)
def test_generated_non_finite_data_are_named_by_row_and_column(backend, columnar, size, data):
    """Wherever a non-finite number sits in the data, the error names that place."""
    names = ["x", "y", "z"]
    loss = LOSSES[backend]
    table = {name: [float(i % 3 + 1) for i in range(size)] for name in names}
    row = data.draw(st.integers(0, size - 1), label="row")
    name = data.draw(st.sampled_from(names), label="column")
    bad = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]), label="value")
    table[name][row] = bad
    examples = table if columnar else [{n: table[n][i] for n in names} for i in range(size)]
    with pytest.raises(train.NonFiniteLossError) as caught:
        train.fit(
            loss, {"w": 0.5}, examples, epochs=2, batch_size=data.draw(st.integers(1, size)),
            optimizer=train.SGD(0.01), seed=data.draw(st.integers(0, 9)), progress=False,
        )  # fmt: skip
    place = f"data[{name!r}][{row}]" if columnar else f"data[{row}][{name!r}]"
    assert f"{place} is {bad}, not a finite number" in str(caught.value)
    assert "learning rate" not in str(caught.value) and caught.value.example == row


LOSSES = {
    "python": exprgrad.compile("(w*x + z - y)**2", wrt="w"),
    "numpy": exprgrad.compile("mean((w*x + z - y)**2)", wrt="w", backend="numpy"),
}


# --- History prints as a summary --------------------------------------------------------------


def test_history_prints_a_short_summary():
    loss = exprgrad.compile("(w*x - y)**2")
    data = [{"x": x / 10, "y": 2 * x / 10} for x in range(40)]
    history = train.fit(
        loss, {"w": 0.0}, data, epochs=500, batch_size=1, optimizer=train.SGD(0.01),
        validation=0.25, patience=3, progress=False,
    )  # fmt: skip
    text = repr(history)
    assert len(history.step_loss) > 300 and len(text) < 200 and str(history) == text
    best = history.best_epoch
    assert history.stopped_early and text == (
        f"<History: {history.epochs} epochs, stopped early; best epoch {best}: train loss "
        f"{history.train_loss[best]:.6g}, val loss {history.val_loss[best]:.6g}; last train "
        f"loss {history.train_loss[-1]:.6g}, val loss {history.val_loss[-1]:.6g}; params w>"
    )
    one = train.fit(
        loss, {"w": 0.0}, data, epochs=1, batch_size=40, optimizer=train.SGD(0.01),
        progress=False,
    )  # fmt: skip
    assert repr(one) == f"<History: 1 epoch; last train loss {one.train_loss[0]:.6g}; params w>"
    assert repr(train.History(params={"a": 1.0, "b": 2.0})) == "<History: 0 epochs; params a, b>"
    made = train.History(params={}, best_epoch=3)  # by hand, inconsistent: still prints
    assert repr(made) == "<History: 0 epochs; params none>"


# --- numpy is optional -------------------------------------------------------------------------


def test_arrays_without_numpy_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy: ImportError
    assert train.init({"w": None}, "zeros") == {"w": 0.0}  # floats need no numpy
    with pytest.raises(exprgrad.MissingDependencyError, match="pip install 'exprgrad\\[array\\]'"):
        train.init({"w": (2, 3)}, "he_normal")
    with pytest.raises(exprgrad.MissingDependencyError, match="pip install 'exprgrad\\[array\\]'"):
        train.init({"b": 3}, "zeros")

    class ArrayLoss:  # a numpy-backend loss, as fit sees one
        backend, inputs, wrt = "numpy", ("w", "x"), ("w",)

        def value_and_grad(self, w, x):
            raise AssertionError("never called")

    with pytest.raises(exprgrad.MissingDependencyError, match="numpy-compiled loss needs numpy"):
        train.fit(
            ArrayLoss(), {"w": 0.0}, [{"x": 1.0}], epochs=1, batch_size=1,
            optimizer=train.SGD(), progress=False,
        )  # fmt: skip


# --- other arguments: exprgrad errors naming them --------------------------------------------


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_bad_arguments_are_exprgrad_errors_naming_them(backend):
    loss = LOSSES[backend]
    rows = [{"x": 1.0, "y": 2.0, "z": 0.0}] * 4

    def run(**change):
        arguments = dict(
            loss=loss, params={"w": 0.0}, data=rows, epochs=1, batch_size=2,
            optimizer=train.SGD(), progress=False,
        )  # fmt: skip
        arguments.update(change)
        return train.fit(**arguments)

    cases = [
        ({"seed": "x"}, exprgrad.ArgumentError, "seed must be an int or None, not str 'x'"),
        ({"seed": 1.5}, exprgrad.ArgumentError, "seed must be an int or None, not float 1.5"),
        ({"callback": "print"}, exprgrad.ArgumentError, "callback must be a callable"),
        ({"schedule": lambda t: "0.1"}, exprgrad.ArgumentValueError,
         "schedule\\(0\\) returned '0.1': a learning rate must be a number >= 0"),
        ({"schedule": lambda t: None}, exprgrad.ArgumentValueError,
         "schedule\\(0\\) returned None"),
        ({"schedule": lambda t: 0.1 - t, "epochs": 2},
         exprgrad.ArgumentValueError, "schedule\\(1\\) returned -0.9"),
        ({"params": {"w": "0.5"}}, exprgrad.ArgumentError, "parameter 'w' must be a number"),
        ({"params": {"w": None}}, exprgrad.ArgumentError, "parameter 'w' must be a number"),
        ({"params": ["w"]}, exprgrad.ArgumentValueError, "params must be a non-empty dict"),
        ({"data": {"x": [1.0, 2.0], "y": [1.0], "z": [0.0, 0.0]}}, exprgrad.ArgumentValueError,
         "the columns of data differ in length \\(x: 2, z: 2, y: 1\\)"),
        ({"data": {"x": "ab", "y": [1.0, 2.0], "z": [0.0, 0.0]}}, exprgrad.ArgumentValueError,
         "data\\['x'\\] must be a column \\(first axis: examples\\), not str 'ab'"),
        ({"data": {"x": ["a", "b"], "y": [1.0, 2.0], "z": [0.0, 0.0]}}, exprgrad.ArgumentError,
         "data\\['x'\\]\\[0\\] must be a number"),
        ({"data": [{"x": None, "y": 1.0, "z": 0.0}]}, exprgrad.ArgumentError,
         "data\\[0\\]\\['x'\\] must be a number"),
        ({"data": [{"x": 1.0, "y": 1.0, "z": 0.0}, {"x": "1", "y": 1.0, "z": 0.0}]},
         exprgrad.ArgumentError, "data\\[1\\]\\['x'\\] must be a number"),
        ({"loss": "(w*x + z - y)**2"}, exprgrad.ArgumentError,
         "loss must be a compiled exprgrad Function"),
        ({"optimizer": train.SGD}, exprgrad.ArgumentError,
         "optimizer must be an optimiser, such as SGD\\(lr=0.1\\), not the class SGD"),
    ]  # fmt: skip
    for change, error, message in cases:
        with pytest.raises(error, match=message):
            run(**change)
    with pytest.raises(exprgrad.ArgumentValueError, match="lr must be a number >= 0, not '0.1'"):
        train.SGD(lr="0.1")
    with pytest.raises(exprgrad.ArgumentError, match="seed must be an int or None, not str 'x'"):
        train.init({"w": None}, fan_in=1, fan_out=1, seed="x")


def test_numpy_columns_that_are_not_numbers_are_named():
    loss = LOSSES["numpy"]

    def run(data):
        return train.fit(
            loss, {"w": 0.0}, data, epochs=1, batch_size=2, optimizer=train.SGD(),
            progress=False,
        )  # fmt: skip

    # None would become nan silently, a ragged list has no array
    with pytest.raises(exprgrad.ArgumentError, match="data\\[1\\]\\['x'\\] must be a number or an"):
        run([{"x": 1.0, "y": 1.0, "z": 0.0}, {"x": None, "y": 1.0, "z": 0.0}])
    with pytest.raises(exprgrad.ArgumentError, match="data\\['y'\\] must be an array of numbers"):
        run({"x": [1.0, 2.0], "y": [[1.0], [1.0, 2.0]], "z": [0.0, 0.0]})
    with pytest.raises(exprgrad.ArgumentError, match="data\\['x'\\]\\[0\\] must be a number"):
        run({"x": np.array(["a", "b"]), "y": [1.0, 2.0], "z": [0.0, 0.0]})
    with pytest.raises(exprgrad.ArgumentError, match="data\\['z'\\]\\[0\\] must be a number or"):
        run({"x": [1.0, 2.0], "y": [1.0, 2.0], "z": np.array([1 + 2j, 1j])})


def test_seed_none_draws_fresh_entropy():
    # None is random.Random's and default_rng's own word for "not repeatable": accepted.
    params = train.init("a,b", "xavier_uniform", fan_in=2, fan_out=1, seed=None)
    assert set(params) == {"a", "b"} and all(math.isfinite(v) for v in params.values())
