"""Gates: explicit classes from the table, circuits compiled once, numbers from generated code."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from reference import assert_gradients_agree

import exprgrad
from exprgrad import gates
from exprgrad.gates import AddGate, Constant, MulGate, Param, SigmoidGate, WhereGate
from exprgrad.primitives import PRIMITIVES
from exprgrad.sugar import absolute, clip, const, log, param, relu, sigmoid, tanh, where


def test_one_class_per_primitive():
    for primitive in PRIMITIVES:
        if primitive.name == "powi" or primitive.arrays:  # an optimizer's **; numpy's
            continue
        cls = gates.GATES[primitive.name]
        assert cls.prim == primitive.name and issubclass(cls, gates.Gate)
        assert getattr(gates, cls.__name__) is cls
    assert gates.GATES["mul"] is MulGate and gates.GATES["atan2"].__name__ == "Atan2Gate"
    with pytest.raises(TypeError, match="MulGate takes 2 inputs \\(3 given\\)"):
        MulGate(Param(1.0), Param(2.0), Param(3.0))
    with pytest.raises(TypeError, match="MaxGate takes 2 or more inputs"):
        gates.GATES["max"](Param(1.0))


def test_explicit_classes_compute_like_sugar():
    a, b, c, x, y = (Param(v) for v in (1, 2, -3, -1, 3))
    f = SigmoidGate(AddGate(AddGate(MulGate(a, x), MulGate(b, y)), c))
    g_a, g_b, g_c, g_x, g_y = param(1, 2, -3, -1, 3)
    g = sigmoid(g_a * g_x + g_b * g_y + g_c)
    assert f.formula() == g.formula()
    assert f.compute() == g.compute() == 0.8807970779778823
    f.backprop()
    g.backprop()
    assert [p.grad for p in (a, b, c, x, y)] == [p.grad for p in (g_a, g_b, g_c, g_x, g_y)]
    assert isinstance(a * x, MulGate) and isinstance(sigmoid(a), SigmoidGate)


def test_every_gate_gets_its_value_and_gradient():
    x, w = param(2.0, 0.5)
    b = const(-0.25)
    h = x * w + b
    n = relu(h)
    out = n * n + tanh(h)
    out.compute()
    assert (h.val, n.val) == (0.75, 0.75)
    out.backprop()
    dtanh = 1 - math.tanh(0.75) ** 2
    assert n.grad == 1.5 and h.grad == pytest.approx(1.5 + dtanh, rel=1e-15)
    assert x.grad == pytest.approx(0.5 * (1.5 + dtanh), rel=1e-15)
    assert b.grad == h.grad  # constants get gradients, and never move
    out.backprop(lr=0.1)
    assert b.val == -0.25 and x.val == pytest.approx(2.0 + 0.1 * x.grad, rel=1e-15)


def test_the_formula_compiles_to_the_same_numbers():
    random.seed(3)
    p, q, r = param(0.7, -1.2, 0.4)
    c = const(2.5)
    f = where(p > q, log(absolute(p) + 1), clip(q * c, -1, 1)) / (1 + r**2) - 3 * sigmoid(p - r)
    g = exprgrad.compile(f.formula())
    point = dict(zip(g.inputs, (p.val, q.val, r.val, c.val), strict=False))
    point = {name: leaf.val for name, leaf in zip(g.inputs, f._circuit_here().leaves, strict=True)}
    assert f.compute() == g(**point)
    f.backprop()
    grads = g.grad(**point)
    leaves = dict(zip(g.inputs, f._circuit_here().leaves, strict=True))
    assert {name: leaf.grad for name, leaf in leaves.items()} == grads
    assert_gradients_agree(g, point)


def test_shared_gates_are_written_once_and_named():
    x = param(1 + 1e-10)
    q = x
    for _ in range(30):
        q = q * q  # 2**30 paths, 31 gates
    text = q.formula()
    assert len(text) < 600 and text.startswith("h1 = p1 * p1\nh2 = h1 * h1\n")
    assert q.compute() == pytest.approx((1 + 1e-10) ** (2**30), rel=1e-6)


def test_a_deep_circuit_needs_no_recursion():
    p = param(0.1)
    g = p
    for _ in range(3000):
        g = tanh(g * 1.01 + 0.01)
    value = g.compute()
    g.backprop()
    h = 0.1
    slope = 1.0
    for _ in range(3000):
        h = math.tanh(h * 1.01 + 0.01)
        slope *= 1.01 * (1 - h * h)
    assert value == pytest.approx(h, rel=1e-12) and p.grad == pytest.approx(slope, rel=1e-9)


def test_compiled_once_and_reused():
    a, b = param(1.0, 2.0)
    f = a * b + a
    first = f.function
    f.compute()
    a.val = 5.0
    assert f.compute() == 15.0 and f.function is first  # new values, same code
    c, d = param(3.0, 4.0)
    assert (c * d + c).function is first  # the same shape elsewhere reuses the code


def test_backprop_computes_first_and_gradients_never_leak():
    a, b = param(2.0, 3.0)
    f = a * b
    f.backprop()  # no compute() before: it computes
    assert (f.val, a.grad, b.grad) == (6.0, 3.0, 2.0)
    a.val = 4.0
    f.backprop()  # a moved since: recomputed, and the gradients replaced, not added
    assert (f.val, a.grad, b.grad) == (12.0, 3.0, 4.0)
    f.reset()
    assert (a.grad, b.grad, f.grad) == (0.0, 0.0, 0.0)
    f.backprop(grad=-2.0)
    assert (a.grad, b.grad, f.grad) == (-6.0, -8.0, -2.0)
    f.update(0.5)  # apply the stored gradients
    assert (a.val, b.val) == (1.0, -1.0)


def test_bad_operands_are_type_errors_naming_them():
    x = param(1.0)
    for other, shown in (("1", "str '1'"), (None, "NoneType None"), ([1.0], "list [1.0]")):
        with pytest.raises(TypeError, match=re.escape(f"operand of + is {shown}")):
            x + other
        with pytest.raises(TypeError, match=re.escape(f"operand of * is {shown}")):
            other * x
    with pytest.raises(TypeError, match="complex"):
        x - 2j
    with pytest.raises(TypeError, match="argument 2 of where is str"):
        WhereGate(x > 0, "a", x)
    with pytest.raises(TypeError, match="the value of a param is str"):
        Param("1")
    with pytest.raises(ValueError, match="must be finite"):
        x * math.inf
    with pytest.raises(TypeError, match="no truth value"):
        if x > 0:
            pass


def test_non_finite_values_name_the_gate():
    big = param(400.0)
    f = gates.GATES["exp"](big) * gates.GATES["exp"](big) - 1
    with pytest.raises(exprgrad.EvaluationError, match="is inf") as caught:
        f.compute()
    assert "exp(p1) * exp(p1)" in str(caught.value)
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive number"):
        log(param(-1.0)).compute()
    with pytest.raises(exprgrad.EvaluationError, match="division by zero in 1 / p1"):
        (1 / param(0.0)).compute()


def test_leaf_names():
    a = Param(1.0, name="a")
    with pytest.raises(ValueError, match="two gates of one circuit are named 'a'"):
        (a + Param(2.0, name="a")).compute()
    with pytest.raises(ValueError, match="constant of the formula language"):
        (Param(1.0, name="pi") * 2).compute()
    with pytest.raises(ValueError, match="must be an identifier"):
        Constant(1.0, name="a b")
    p1 = Param(3.0, name="p1")  # an automatic name never takes a name already given
    assert (p1 * Param(2.0)).formula() == "p1 * p2"
    assert (Param(2.0) * p1).formula() == "p2 * p1"


def test_trace_and_source():
    a, x = param(3.0, -1.0, names="a x")
    f = a * x
    f.compute()
    trace = f.trace()
    assert [(r.text, r.value, r.grad) for r in trace.rows] == [("a * x", -3.0, 1.0)]
    assert trace.grads == {"a": -1.0, "x": 3.0}
    assert "def value_and_grad(a, x):" in f.source
    assert repr(a).startswith("Param(3.0, name='a'")


_PYTHON = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}
_TREES = st.recursive(
    st.floats(0.5, 2.0),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(sorted(_PYTHON)), inner, inner),
        st.tuples(st.just("neg"), inner),
    ),
    max_leaves=8,
)


def _build(tree, python: bool):
    """The tree as gates over fresh parameters, or its value computed by Python (an
    error where it is not differentiable: a power of a base that is not positive)."""
    if isinstance(tree, float):
        return tree if python else Param(tree)
    if tree[0] == "neg":
        operand = _build(tree[1], python)
        return -operand
    left, right = _build(tree[1], python), _build(tree[2], python)
    if python and tree[0] == "**" and not left > 0:  # d/dy x**y needs log(x)
        raise ZeroDivisionError
    return _PYTHON[tree[0]](left, right)


@settings(max_examples=60)
@given(_TREES)
@example(("-", 1.5, ("-", 0.5, 2.0)))  # a - (b - c)
@example(("**", ("**", 1.5, 2.0), 0.5))  # (a ** b) ** c
@example(("/", 1.5, ("*", 0.5, 2.0)))  # a / (b * c)
@example(("neg", ("-", 1.5, 0.5)))  # -(a - b)
@example(("**", 1.5, ("neg", 2.0)))  # a ** -b
def test_circuits_of_operators_compute_what_python_computes(tree):
    """Any nesting of + - * / ** and unary minus: the formula the circuit is written as
    keeps its structure (a - (b - c), (a ** b) ** c, a / (b * c) keep their parentheses)."""
    try:
        expected = _build(tree, python=True)
    except (ZeroDivisionError, OverflowError):
        expected = None
    assume(isinstance(expected, float) and math.isfinite(expected))
    assume(not isinstance(tree, float))  # a circuit, not a lone parameter
    out = _build(tree, python=False)
    assert out.compute() == pytest.approx(expected, rel=1e-12, abs=1e-300)
