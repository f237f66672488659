"""exprgrad.train on nested Python lists: the optimisers and init(lists=True) against their
numpy arrays, fit() on a lists-backend loss against the same fit on the numpy backend, its
checks of the data, and the origin's examples (joelnet's XOR, James Loy's network) run with
numpy made unimportable."""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import exprgrad
from exprgrad import train
from exprgrad.train.nested import copied

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MLP = "h = tanh(X @ W1 + b1)\nmean((h @ W2 + b2 - y)**2)"

OPTIMISERS = {
    "sgd": lambda: train.SGD(lr=0.1),
    "momentum": lambda: train.SGD(lr=0.1, momentum=0.9),
    "nesterov, decay": lambda: train.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda: train.Adam(lr=0.01),
    "adamw": lambda: train.AdamW(lr=0.01),
    "adam, decay": lambda: train.Adam(lr=0.05, weight_decay=0.1),
}


def without_numpy(code: str) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter in which import numpy raises ImportError, and check
    afterwards that nothing got numpy in."""
    prelude = "import sys\nsys.modules['numpy'] = None  # import numpy: ImportError\n"
    after = "\nassert sys.modules['numpy'] is None, 'numpy was imported'\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", prelude + code + after],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done


def run_example(name: str, *args: str) -> str:
    code = (
        "import runpy\n"
        f"sys.argv = [{name!r}, *{list(args)!r}]\n"
        f"runpy.run_path({str(EXAMPLES / name)!r}, run_name='__main__')\n"
    )
    return without_numpy(code).stdout


def numbers(line: str) -> list[float]:
    return [float(n) for n in re.findall(r"[-+]?\d+\.?\d*(?:e[-+]?\d+)?", line)]


def nested(shape, rng):
    if not shape:
        return rng.gauss(0.0, 1.0)
    return [nested(shape[1:], rng) for _ in range(shape[0])]


# --- optimisers ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", OPTIMISERS.values(), ids=OPTIMISERS.keys())
def test_optimisers_update_nested_lists_as_they_update_arrays(make):
    np = pytest.importorskip("numpy")
    rng = random.Random(1)
    start = {
        "W": nested((2, 3), rng),
        "b": nested((3,), rng),
        "K": nested((2, 1, 2), rng),
        "c": 0.5,
    }
    lists = {name: copied(value) for name, value in start.items()}
    arrays = {
        name: np.array(value) if isinstance(value, list) else value for name, value in start.items()
    }
    on_lists, on_arrays = make(), make()
    for step in range(25):
        grads = {name: nested(np.shape(value), rng) for name, value in start.items()}
        on_lists.step(lists, grads, lr=0.05 if step > 10 else None)
        on_arrays.step(
            arrays,
            {name: np.array(g) if isinstance(g, list) else g for name, g in grads.items()},
            lr=0.05 if step > 10 else None,
        )
    for name in start:
        assert np.shape(lists[name]) == np.shape(arrays[name])
        assert np.abs(np.array(lists[name]) - arrays[name]).max() <= 1e-12


def test_optimisers_update_nested_lists_in_place():
    W = [[1.0, 2.0], [3.0, 4.0]]
    params = {"W": W}
    train.SGD(lr=0.5).step(params, {"W": [[1.0, 1.0], [2.0, 2.0]]})
    assert params["W"] is W and W == [[0.5, 1.5], [2.0, 3.0]]


def test_momentum_starts_again_when_a_list_parameter_changes_shape():
    sgd = train.SGD(lr=1.0, momentum=0.5)
    params = {"w": [0.0, 0.0]}
    sgd.step(params, {"w": [1.0, 1.0]})
    sgd.step(params, {"w": [1.0, 1.0]})  # velocity 1.5
    assert params["w"] == [-2.5, -2.5]
    params["w"] = [0.0, 0.0, 0.0]
    sgd.step(params, {"w": [1.0, 1.0, 1.0]})  # a new velocity: 1
    assert params["w"] == [-1.0, -1.0, -1.0]


def test_a_list_parameter_needs_a_gradient_of_its_shape_and_lists_not_tuples():
    with pytest.raises(exprgrad.ArgumentValueError, match=r"gradient of 'w' has shape \(3,\)"):
        train.Adam().step({"w": [0.0, 0.0]}, {"w": [1.0, 1.0, 1.0]})
    with pytest.raises(exprgrad.ArgumentError, match="'w' is a tuple: give nested lists"):
        train.SGD().step({"w": (0.0, 0.0)}, {"w": [1.0, 1.0]})


# --- init(lists=True) ---------------------------------------------------------------------


def test_init_lists_draws_nested_lists_from_the_floats_generator():
    params = train.init(
        {"a": None, "W": (2, 3), "b": 3}, "he_uniform", fan_in=4, lists=True, seed=5
    )
    rng = random.Random(5)
    a = rng.uniform(-math.sqrt(6 / 4), math.sqrt(6 / 4))
    assert params["a"] == a
    # the array's fan_in is given: 4; row-major draws, after the float's
    limit = math.sqrt(6 / 4)
    assert params["W"] == [[rng.uniform(-limit, limit) for _ in range(3)] for _ in range(2)]
    assert params["b"] == [rng.uniform(-limit, limit) for _ in range(3)]
    again = train.init({"a": None, "W": (2, 3), "b": 3}, "he_uniform", fan_in=4, lists=True, seed=5)
    assert again == params


def test_init_lists_fans_come_from_the_shape_and_zeros_are_lists():
    params = train.init({"W": (30, 20), "s": ()}, "xavier_normal", lists=True, seed=0)
    flat = [v for row in params["W"] for v in row]
    assert len(params["W"]) == 30 and {len(row) for row in params["W"]} == {20}
    std = math.sqrt(sum(v * v for v in flat) / len(flat))
    assert 0.8 * math.sqrt(2 / 50) < std < 1.2 * math.sqrt(2 / 50)
    assert isinstance(params["s"], float)
    zeros = train.init({"b": (2, 2)}, "zeros", lists=True)
    assert zeros == {"b": [[0.0, 0.0], [0.0, 0.0]]}


def test_init_without_numpy_gives_lists_and_points_at_them():
    out = without_numpy(
        "from exprgrad import train\n"
        "print(train.init({'W': (2, 2)}, 'zeros', lists=True))\n"
        "try:\n"
        "    train.init({'W': (2, 2)}, 'zeros')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    ).stdout
    assert out.startswith("{'W': [[0.0, 0.0], [0.0, 0.0]]}\n")
    assert "lists=True) gives nested lists instead" in out and "needs numpy" in out


# --- fit() on the lists backend -----------------------------------------------------------


def mlp_problem(np):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (40, 2))
    y = np.sin(2 * X[:, 0]) * X[:, 1]
    params = {
        "W1": rng.standard_normal((2, 4)),
        "b1": np.zeros(4),
        "W2": rng.standard_normal(4),
        "b2": 0.1,
    }
    return X, y, params


def as_lists(params):
    return {
        name: value.tolist() if hasattr(value, "tolist") else value
        for name, value in params.items()
    }


@pytest.mark.parametrize(
    "make", [OPTIMISERS["nesterov, decay"], OPTIMISERS["adamw"]], ids=["sgd", "adamw"]
)
def test_fit_on_lists_agrees_with_fit_on_arrays(make):
    np = pytest.importorskip("numpy")
    X, y, params = mlp_problem(np)
    held_out = {"X": X[:8], "y": y[:8]}
    # the full batch each step: the two engines shuffle with different generators
    kwargs = dict(epochs=30, batch_size=40, seed=3)
    on_arrays = train.fit(
        exprgrad.compile(MLP, wrt="W1,b1,W2,b2", backend="numpy"),
        params,
        {"X": X, "y": y},
        optimizer=make(),
        validation=held_out,
        **kwargs,
    )
    loss = exprgrad.compile(MLP, wrt="W1,b1,W2,b2", backend="python")
    assert loss.backend == "lists"
    on_lists = train.fit(
        loss,
        as_lists(params),
        {"X": X.tolist(), "y": y.tolist()},
        optimizer=make(),
        validation={"X": X[:8].tolist(), "y": y[:8].tolist()},
        **kwargs,
    )
    assert on_lists.train_loss[-1] < on_lists.train_loss[0] / 2
    for name, value in on_arrays.params.items():
        got = on_lists.params[name]
        assert isinstance(got, float if isinstance(value, float) else list)
        assert np.abs(np.array(got) - value).max() <= 1e-9
    assert np.abs(np.array(on_lists.train_loss) - on_arrays.train_loss).max() <= 1e-9
    assert np.abs(np.array(on_lists.val_loss) - on_arrays.val_loss).max() <= 1e-9


def test_fit_on_lists_takes_rows_and_leaves_the_initial_parameters_alone():
    loss = exprgrad.compile("mean((x @ w + b - y)**2)", wrt="w,b", backend="lists")
    rng = random.Random(0)
    rows = []
    for _ in range(30):
        x = [rng.uniform(-1, 1), rng.uniform(-1, 1)]
        rows.append({"x": x, "y": 3 * x[0] - 2 * x[1] + 1, "ignored": "text"})
    start = {"w": [0.0, 0.0], "b": 0.0}
    history = train.fit(
        loss, start, rows, epochs=80, batch_size=8, optimizer=train.SGD(lr=0.2, momentum=0.5)
    )
    assert start == {"w": [0.0, 0.0], "b": 0.0}
    assert [round(v, 6) for v in history.params["w"]] == [3.0, -2.0]
    assert round(history.params["b"], 6) == 1.0
    assert len(history.step_loss) == 80 * 4


def test_fit_on_lists_is_seeded_and_holds_out_a_fraction():
    loss = exprgrad.compile("mean((x * w - y)**2)", wrt="w", backend="lists")
    data = {"x": [k / 10 for k in range(20)], "y": [2 * k / 10 for k in range(20)]}

    def run(seed):
        return train.fit(
            loss,
            {"w": [0.0]},
            data,
            epochs=3,
            batch_size=3,
            optimizer=train.SGD(lr=0.1),
            validation=0.25,
            seed=seed,
        )

    first, again, other = run(1), run(1), run(2)
    assert first.step_loss == again.step_loss and first.val_loss == again.val_loss
    assert first.step_loss != other.step_loss
    assert len(first.step_loss) == 3 * math.ceil(15 / 3) and len(first.val_loss) == 3


def test_fit_on_lists_holds_a_fixed_value_and_stops_with_patience():
    loss = exprgrad.compile("mean((x @ w - y)**2) + lam*sum(w**2)", wrt="w", backend="lists")
    data = {"x": [[1.0, 0.0], [0.0, 1.0]] * 5, "y": [1.0, -1.0] * 5}
    history = train.fit(
        loss,
        {"w": [0.0, 0.0]},
        data,
        epochs=200,
        batch_size=10,
        optimizer=train.SGD(lr=0.5),
        fixed={"lam": 0.5},
        validation=data,
        patience=3,
    )
    # ridge: half the examples pull each weight -> w = (1, -1) / (1 + 2*lam)
    assert [round(v, 6) for v in history.params["w"]] == [0.5, -0.5]
    assert history.stopped_early


def test_fit_on_lists_checks_its_data():
    loss = exprgrad.compile("mean((x @ w - y)**2)", wrt="w", backend="lists")
    fit = lambda data, **kw: train.fit(  # noqa: E731
        loss, {"w": [0.0, 0.0]}, data, epochs=1, batch_size=2, optimizer=train.SGD(), **kw
    )
    with pytest.raises(exprgrad.ArgumentValueError, match=r"data\['x'\]\[1\] has shape \(3,\)"):
        fit({"x": [[1.0, 2.0], [1.0, 2.0, 3.0]], "y": [1.0, 2.0]})
    with pytest.raises(exprgrad.ArgumentError, match=r"data\['x'\]\[0\]\[1\] must be a number"):
        fit({"x": [[1.0, "2"]], "y": [1.0]})
    with pytest.raises(exprgrad.ArgumentValueError, match="no column for input 'y'"):
        fit({"x": [[1.0, 2.0]]})
    with pytest.raises(exprgrad.ArgumentValueError, match="differ in length"):
        fit({"x": [[1.0, 2.0]], "y": [1.0, 2.0]})
    with pytest.raises(exprgrad.ArgumentValueError, match=r"data\[0\] has no value for input 'y'"):
        fit([{"x": [1.0, 2.0]}])
    with pytest.raises(exprgrad.ArgumentValueError, match="must be a column"):
        fit({"x": [[1.0, 2.0]], "y": 1.0})


def test_fit_on_lists_wants_a_scalar_loss_and_gradients_of_the_parameters_shapes():
    per_example = exprgrad.compile("(x @ w - y)**2", wrt="w", backend="lists")
    with pytest.raises(exprgrad.ArgumentValueError, match=r"shape \(2,\) on a batch of 2"):
        train.fit(
            per_example,
            {"w": [0.0, 0.0]},
            {"x": [[1.0, 2.0], [3.0, 4.0]], "y": [1.0, 2.0]},
            epochs=1,
            batch_size=2,
            optimizer=train.SGD(),
        )


def test_fit_on_lists_names_the_input_that_is_not_finite():
    loss = exprgrad.compile("mean((x @ w - y)**2) + lam*sum(w)", wrt="w", backend="lists")

    def fit(x, y, w=(0.0, 0.0), lam=0.0, **kwargs):
        data = {"x": x, "y": y}
        kwargs = {"epochs": 1, "batch_size": 3, "optimizer": train.SGD(), **kwargs}
        return train.fit(loss, {"w": list(w)}, data, fixed={"lam": lam}, **kwargs)

    x = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    with pytest.raises(train.NonFiniteLossError) as caught:
        fit(x, [1.0, math.nan, 2.0])
    assert str(caught.value) == (
        "the loss is nan at data[1] (epoch 0, step 0): data['y'][1] is nan, not a finite "
        "number: clean that input, or guard the formula"
    )
    assert caught.value.example == 1 and caught.value.step == 0
    with pytest.raises(train.NonFiniteLossError, match=r"data\['x'\]\[2\] is -inf, not a fin"):
        fit([[1.0, 2.0], [3.0, 4.0], [5.0, -math.inf]], [1.0, 1.0, 1.0])
    with pytest.raises(train.NonFiniteLossError, match=r"fixed\['lam'\] is inf, not a finite"):
        fit(x, [1.0, 1.0, 1.0], lam=math.inf)
    with pytest.raises(train.NonFiniteLossError, match="the initial parameter 'w' is nan, not a"):
        fit(x, [1.0, 1.0, 1.0], w=(0.0, math.nan))
    # finite inputs to an inf: as with the numpy backend, an EvaluationError names the op
    # and the example
    with pytest.raises(exprgrad.EvaluationError, match=r"at data\[\d\] \(epoch \d+, step 0\): ov"):
        fit([[10.0, 20.0]] * 4, [1.0] * 4, epochs=60, batch_size=4, optimizer=train.SGD(lr=10.0))


def test_fit_on_lists_runs_without_numpy():
    out = without_numpy(
        "import exprgrad\n"
        "from exprgrad import train\n"
        f"loss = exprgrad.compile({MLP!r}, wrt='W1,b1,W2,b2', backend='python')\n"
        "X = [[a / 4, b / 4] for a in range(-4, 5) for b in range(-4, 5)]\n"
        "y = [x1 * x2 for x1, x2 in X]\n"
        "params = train.init({'W1': (2, 8), 'b1': (8,), 'W2': (8,)}, lists=True, seed=1)\n"
        "params['b2'] = 0.0\n"
        "history = train.fit(loss, params, {'X': X, 'y': y}, epochs=200, batch_size=27,\n"
        "                    optimizer=train.Adam(lr=0.02), validation=0.2)\n"
        "print(history.train_loss[0], history.train_loss[-1], history.val_loss[-1])\n"
        "print(type(history.params['W1']).__name__)\n"
    ).stdout
    first, last, val = numbers(out.splitlines()[0])
    assert last < first / 5 and val < first / 5
    assert out.splitlines()[1] == "list"


# --- the origin's examples, numpy made unimportable ---------------------------------------


def test_joelnet_xor_without_numpy():
    out = run_example("joelnet_xor.py")
    outputs = {}
    for line in out.splitlines():
        if " XOR " in line:
            x1, x2, target, output = numbers(line)
            outputs[x1, x2] = output
            assert (output > 0.5) == (target == 1) == (x1 != x2)
    assert len(outputs) == 4
    assert out.endswith("4 of 4 outputs on the right side of 0.5\n")
    errors = [numbers(line)[-1] for line in out.splitlines() if "total squared error" in line]
    assert len(errors) == 5 and errors[-1] < 1e-6


def test_joelnet_xor_on_lists_falls_into_the_trap_from_seed_0():
    # random.Random(0)'s weights: the local minimum the docstring explains the default by
    out = run_example("joelnet_xor.py", "--seed", "0")
    assert out.endswith("2 of 4 outputs on the right side of 0.5\n")


def test_loy_network_without_numpy():
    out = run_example("loy_network.py")
    (check,) = [line for line in out.splitlines() if "Loy's backprop differ by at most" in line]
    assert numbers(check)[-1] < 1e-12
    errors = [numbers(line)[-1] for line in out.splitlines() if "sum of squared errors" in line]
    assert len(errors) == 6 and errors[-1] < errors[0] / 100
    outputs = [numbers(line)[-2:] for line in out.splitlines() if line.startswith("input ")]
    assert [target for target, _ in outputs] == [0, 1, 1, 0]
    assert all(abs(output - target) < 0.1 for target, output in outputs)
    assert out.splitlines()[-4].startswith("input [0 0 1]: target 0, output ")


def test_the_examples_python_backend_with_numpy_installed(capsys, monkeypatch):
    pytest.importorskip("numpy")
    import runpy

    monkeypatch.setattr(sys, "argv", ["loy_network.py", "--backend", "python", "--steps", "301"])
    runpy.run_path(str(EXAMPLES / "loy_network.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "step  300: sum of squared errors" in out and "after 301 steps" in out


def test_list_parameters_of_a_scalar_loss_point_at_an_array_formula():
    loss = exprgrad.compile("(w*x - y)**2", wrt="w")
    with pytest.raises(exprgrad.ArgumentError, match="train nested lists with an array formula"):
        train.fit(
            loss,
            {"w": [0.0]},
            [{"x": 1.0, "y": 1.0}],
            epochs=1,
            batch_size=1,
            optimizer=train.SGD(),
        )
