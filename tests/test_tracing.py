"""f.trace(): every line's value and adjoint, from generated code."""

from __future__ import annotations

import math

import pytest
from reference import assert_gradients_agree, central_difference

import exprgrad
from exprgrad.core.tracing import Row, Trace

GUIDE = "sigmoid(a*x + b*y + c)"
GUIDE_POINT = dict(a=1.0, b=2.0, c=-3.0, x=-1.0, y=3.0)


def test_the_guides_neuron_line_by_line():
    trace = exprgrad.compile(GUIDE).trace(**GUIDE_POINT)
    assert isinstance(trace, Trace)
    assert [r.name for r in trace.rows] == ["t1", "t2", "t3", "t4", "t5"]
    assert [r.text for r in trace.rows] == [
        "a*x",
        "b*y",
        "a*x + b*y",
        "a*x + b*y + c",
        "sigmoid(a*x + b*y + c)",
    ]
    # the guide's numbers: a*x = -1, b*y = 6, sum 2, sigmoid 0.8808; the gradient of every
    # line below the sigmoid is sigmoid * (1 - sigmoid)
    s = 1 / (1 + math.exp(-2.0))
    assert [r.value for r in trace.rows] == [-1.0, 6.0, 5.0, 2.0, s]
    assert [r.grad for r in trace.rows[:4]] == pytest.approx([s * (1 - s)] * 4, rel=1e-15)
    assert trace.rows[-1].grad == 1.0
    assert trace.value == s == 0.8807970779778823


def test_values_and_grads_of_inputs_and_named_lines():
    f = exprgrad.compile("z = a*x + b\nh = relu(z)\nscore = 2*h + c\nscore*score")
    point = dict(a=1.5, x=2.0, b=-1.0, c=0.5)
    trace = f.trace(**point)
    expected = {"a": 1.5, "x": 2.0, "b": -1.0, "z": 2.0, "h": 2.0, "c": 0.5, "score": 4.5}
    assert trace.values == expected
    assert trace.grads["score"] == 9.0 and trace.grads["h"] == 18.0 and trace.grads["z"] == 18.0
    assert {k: trace.grads[k] for k in f.inputs} == f.grad(**point)
    assert trace.value == f(**point)
    # every named line's adjoint against a difference quotient of the formula in that line
    for name, line in (("z", "z = a*x + b"), ("h", "h = relu(z)")):
        g = exprgrad.compile(f.formula.replace(line, f"{line} + shift"))
        assert "shift" in g.inputs
        slope = central_difference(g, dict(point, shift=0.0), "shift", 1e-6)
        assert trace.grads[name] == pytest.approx(slope, rel=1e-6)


@pytest.mark.parametrize(
    "formula",
    [
        "min(1, label*(a*x + b*y + c))",
        "sigmoid(a*x + b)*tanh(a - b)",
        "where(a > 0, log(a), exp(a)) + hypot(a, b)",
        "n1 = relu(a*x + b)\nn2 = relu(b*x - a)\nmax(0, 1 - n1 + n2)",
    ],
)
def test_trace_grads_equal_value_and_grad(formula):
    f = exprgrad.compile(formula)
    for seed in range(3):
        point = {name: (-1.0) ** (seed + k) * (0.3 + 0.4 * k) for k, name in enumerate(f.inputs)}
        value, grads = f.value_and_grad(**point)
        trace = f.trace(**point)
        assert trace.value == value
        assert {k: trace.grads[k] for k in f.inputs} == grads  # bit for bit
        assert_gradients_agree(f, point)


def test_wrt_subset_still_traces_every_line():
    f = exprgrad.compile("a*x + b", wrt=["a"])
    trace = f.trace(a=2.0, x=3.0, b=1.0)
    assert trace.grads == {"a": 3.0, "x": 2.0, "b": 1.0}


def test_a_branch_not_taken_is_not_computed():
    f = exprgrad.compile("where(x > 0, log(x), 0)")
    trace = f.trace(x=-1.0)
    log_row = next(r for r in trace.rows if r.text == "log(x)")
    assert log_row.value is None and log_row.grad == 0.0
    assert trace.value == 0.0 and trace.grads == {"x": 0.0}
    assert "(not computed)" in str(trace)
    taken = f.trace(x=2.0)
    log_row = next(r for r in taken.rows if r.text == "log(x)")
    assert log_row == Row("t2", "log(x)", math.log(2), 1.0)


def test_trace_takes_arguments_like_the_function():
    f = exprgrad.compile("lambda*x + self")
    by_keyword = f.trace(**{"lambda": 2.0, "x": 3.0, "self": 1.0})
    assert f.trace(2.0, 3.0, 1.0).rows == by_keyword.rows
    assert f.trace(2, 3, True).value == 7.0  # ints and bools become floats
    assert all(type(r.value) is float for r in f.trace(2, 3, True).rows)
    with pytest.raises(TypeError, match="argument 'x' must be a real number"):
        f.trace(2.0, "3", 1.0)
    with pytest.raises(TypeError, match="missing argument"):
        f.trace(2.0)
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive number"):
        exprgrad.compile("log(x)").trace(x=-1.0)


def test_text_table_and_eliding():
    text = str(exprgrad.compile(GUIDE).trace(**GUIDE_POINT))
    lines = text.splitlines()
    assert lines[0].split() == ["name", "computes", "value", "gradient"]
    inputs = exprgrad.compile(GUIDE).inputs  # listed first, with their gradients
    assert [line.split()[:2] for line in lines[2 : 2 + len(inputs)]] == [
        [name, "input"] for name in inputs
    ]
    assert lines[2 + len(inputs)].split()[:2] == ["t1", "a*x"]
    assert lines[-1] == "value = 0.8807970779778823"
    gradients = exprgrad.compile(GUIDE).grad(**GUIDE_POINT)
    for line in lines[2 : 2 + len(inputs)]:
        name, _, value, gradient = line.split()
        assert float(value) == GUIDE_POINT[name] and float(gradient) == gradients[name]
    # a formula without inputs or lines still prints
    assert str(exprgrad.compile("2*3").trace()).splitlines()[-1] == "value = 6.0"
    chain = "\n".join(["h0 = x"] + [f"h{i} = tanh(h{i - 1} + 0.01)" for i in range(1, 200)])
    long = str(exprgrad.compile(chain).trace(x=0.5))
    assert "... " in long and " more lines ..." in long
    shown = [line for line in long.splitlines() if line.startswith(("h", "t"))]
    elided = int(long.split("... ")[1].split(" more")[0])
    assert len(shown) + elided == len(exprgrad.compile(chain).trace(x=0.5).rows)


def test_html_table():
    page = exprgrad.compile("a*x + b").trace(a=1.0, x=2.0, b=3.0)._repr_html_()
    # head, the inputs a x b, the lines a*x and a*x + b, foot
    assert page.startswith("<table>") and page.count("<tr>") == 1 + 3 + 2 + 1
    assert "<td>a*x</td>" in page and "value = 5.0" in page
    assert "&lt;" in exprgrad.compile("where(a < 1, a, 2)").trace(a=0.0)._repr_html_()


def test_every_assigned_name_is_in_the_trace_even_an_alias():
    f = exprgrad.compile("z = a*x + b; score = z; min(1, label*score)")
    trace = f.trace(a=1.0, x=2.0, b=3.0, label=0.1)
    assert trace.values["score"] == trace.values["z"] == 5.0
    assert trace.grads["score"] == trace.grads["z"] == 0.1
