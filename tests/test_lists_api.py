"""The lists backend as the API shows it: which compile() calls reach it, what refuses it,
its source, modules, pickles and reprs. (tests/test_lists.py compares it with numpy.)"""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import exprgrad
from exprgrad.backends.lists.function import ListFunction

MLP = "h = tanh(X @ W1 + b1)\nmean((h @ W2 + b2 - y)**2)"
POINT = {
    "X": [[0.0, 0.5], [1.0, -1.0], [0.25, 1.0]],
    "W1": [[0.5, -0.3, 0.8], [-0.6, 0.9, 0.4]],
    "b1": [0.1, 0.0, -0.1],
    "W2": [0.7, -0.5, 0.2],
    "b2": 0.3,
    "y": [0.0, 1.0, 1.0],
}


def test_an_array_formula_on_the_python_backend_is_a_list_function():
    for backend in ("python", "lists"):
        f = exprgrad.compile(MLP, backend=backend)
        assert isinstance(f, ListFunction) and f.backend == "lists"
        value, grads = f.value_and_grad(**POINT)
        assert isinstance(value, float) and set(grads) == set(f.inputs)
    assert exprgrad.compile("sum(x)", backend="lists").inputs == ("x",)
    # a scalar formula asked for lists outright computes with lists for numbers too
    g = exprgrad.compile("x*y", backend="lists")
    assert g(x=2.0, y=3.0) == 6.0 and g(x=[2.0], y=3.0) == [6.0]


def test_a_scalar_function_hands_list_calls_to_the_array_code():
    f = exprgrad.compile("log(x)*y + where(x > 1, x, 0)", wrt="x")
    assert f(x=[1.0, 2.0], y=3.0) == [f(x=1.0, y=3.0), f(x=2.0, y=3.0)]
    total = exprgrad.compile("sum(log(x)*y)", wrt="x")
    value, grads = total.value_and_grad(x=[1.0, 2.0], y=3.0)
    assert set(grads) == {"x"} and grads["x"] == [3.0, 1.5]
    # positional, keyword and mixed calls reach it alike
    assert f([1.0, 2.0], 3.0) == f([1.0, 2.0], y=3.0) == f(y=3.0, x=(1, 2))
    # and the numbers-only code is what it was
    assert "for _a in" not in f.source and f(2.0, 3.0) == pytest.approx(3 * 0.6931471805599453 + 2)
    assert "for _a in x" in f.source_for(x=[1.0, 2.0], y=3.0)
    assert f.source_for(x=1.0, y=3.0) == f.source


@pytest.mark.parametrize(
    "call",
    [
        lambda: exprgrad.hessian("sum(x*x)"),
        lambda: exprgrad.residuals(["sum(x) - 1"]),
        lambda: exprgrad.compile("sum(x)", backend="c"),
    ],
)
def test_what_computes_with_numbers_only_refuses_an_array_formula_with_its_place(call):
    with pytest.raises(exprgrad.FormulaError, match=r"sum\(x.*\) needs arrays") as caught:
        call()
    assert "line 1, column" in str(caught.value)


def test_repr_pickle_and_source():
    f = exprgrad.compile(MLP)
    assert repr(f) == f"exprgrad.compile({MLP!r}, backend='lists')"
    assert "no code yet" in f.source
    again = pickle.loads(pickle.dumps(f))
    assert again.value_and_grad(**POINT) == f.value_and_grad(**POINT)
    source = f.source_for(**POINT)
    assert "def forward(X, W1, b1, W2, b2, y):" in source and "def value_and_grad(" in source
    assert "# tanh(X @ W1 + b1)  [3x3]" in source and "import" not in source
    assert f.source == source  # what has been generated so far: this signature's code
    restricted = exprgrad.compile(MLP, wrt="W1,b2", inputs="X,y,W1,b1,W2,b2")
    assert set(restricted.grad(**POINT)) == {"W1", "b2"}
    assert restricted.inputs == ("X", "y", "W1", "b1", "W2", "b2")


def test_a_module_runs_under_python_isolated_without_site(tmp_path):
    f = exprgrad.compile(MLP)
    path = tmp_path / "mlp.py"
    path.write_text(f.module_source(**POINT))
    driver = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import mlp; "
        f"print(repr(mlp.value_and_grad(**{POINT!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", driver], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == repr(f.value_and_grad(**POINT))


def test_inputs_are_copied_never_modified_and_results_share_no_list():
    f = exprgrad.compile("sum(x*w) + sum(z*w)")
    x, w, z = [1.0, 2.0], [3.0, 4.0], [5.0, 6.0]
    _, grads = f.value_and_grad(x=x, w=w, z=z)
    assert grads["x"] == grads["z"] == w and grads["x"] is not grads["z"]
    assert grads["x"] is not w and (x, w, z) == ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0])
    grads["x"][0] = 99.0
    assert grads["z"][0] == 3.0 and w[0] == 3.0


def test_vjp_of_a_scalar_formula_on_lists_and_on_numbers():
    f = exprgrad.compile("x * 2 + log(y)")
    assert f.vjp([1.0, 0.5], x=[1.0, 2.0], y=1.0) == ([2.0, 4.0], {"x": [2.0, 1.0], "y": 1.5})
    assert f.vjp(3.0, x=2.0, y=1.0) == (4.0, {"x": 6.0, "y": 3.0})


def test_the_trace_on_lists_is_the_numpy_trace():
    np = pytest.importorskip("numpy")
    f = exprgrad.compile(MLP)
    on_numpy = exprgrad.compile(MLP, backend="numpy")
    trace = f.trace(**POINT)
    expected = on_numpy.trace(**{k: np.asarray(v) for k, v in POINT.items()})
    assert [(r.name, r.text) for r in trace.rows] == [(r.name, r.text) for r in expected.rows]
    for row, want in zip(trace.rows, expected.rows, strict=True):  # to rounding: sums differ
        np.testing.assert_allclose(row.value, want.value, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(row.grad, want.grad, rtol=1e-12, atol=1e-15)
    assert trace.grads["b1"] == f.grad(**POINT)["b1"] and trace.value == f(**POINT)
    assert isinstance(trace.values["h"], list) and len(trace.values["h"]) == 3
    # a scalar Function's trace with a list among the arguments is the array code's
    scalar = exprgrad.compile("x*y + 2")
    assert str(scalar.trace(x=[1.0, 2.0], y=2.0)) == str(
        exprgrad.compile("x*y + 2", backend="lists").trace(x=[1.0, 2.0], y=2.0)
    )
    assert scalar.trace(x=1.0, y=2.0).value == 4.0
