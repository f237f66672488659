"""The project's origin programs and the guide's numbers, run as written (Python 3 print)."""

from __future__ import annotations

import io
import random
import textwrap
from contextlib import redirect_stdout

import pytest

import exprgrad.sugar as sugar
from exprgrad.core.primitives import FUNCTIONS
from exprgrad.sugar import const, maximum, param, sigmoid


def run(program: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        exec(textwrap.dedent(program), {})  # noqa: S102 (the test's own program text)
    return out.getvalue()


def test_single_gate():
    assert (
        run("""
        from exprgrad.sugar import *
        a, b = const(3, -1)
        ab = a * b
        print(ab.compute())             # -3.0
        ab.backprop(grad=1)
        print(a.grad, b.grad)           # -1.0 3.0
    """)
        == "-3.0\n-1.0 3.0\n"
    )


def test_polynomial_minimum_prints_the_origin_sequence():
    out = run("""
        from exprgrad.sugar import *
        x = param(1)
        f = 3 * x**2 - 2 * x + 1
        for _ in range(16):
            print('f({:.5}) = {:.5}'.format(x.val, f.compute()))
            f.backprop(grad=-1, lr=0.1)
    """)
    lines = out.splitlines()
    assert lines[:8] == [
        "f(1.0) = 2.0",
        "f(0.6) = 0.88",
        "f(0.44) = 0.7008",
        "f(0.376) = 0.67213",
        "f(0.3504) = 0.66754",
        "f(0.34016) = 0.66681",
        "f(0.33606) = 0.66669",
        "f(0.33443) = 0.66667",
    ]
    assert len(lines) == 16 and lines[-1] == "f(0.33333) = 0.66667"
    assert all(line.endswith("= 0.66667") for line in lines[7:])


def test_svm_program_trains_as_the_guide_does():
    random.seed(0)  # the program draws with random.choice
    out = run("""
        from exprgrad.sugar import *
        from random import choice
        dataset = (((1.2, 0.7), +1.0), ((-0.3, 0.5), -1.0), ((-3.0, -1.0), +1.0),
                   ((0.1, 1.0), -1.0), ((3.0, 1.1), -1.0), ((2.1, -3.0), +1.0))
        a, b, c = param(1, -2, -1)
        x, y, label = const(0, 0, 0)
        f = minimum(1, label * (a * x + b * y + c))
        for iteration in range(35000):
            (x.val, y.val), label.val = choice(dataset)
            f.compute()
            f.backprop(0.1)
        print('a, b, c = {:.2f}, {:.2f}, {:.2f}'.format(a.val, b.val, c.val))
    """)
    # the same loop by hand with the compiled formula and dicts, same random draws
    import exprgrad

    random.seed(0)
    f = exprgrad.compile("min(1, label*(a*x + b*y + c))")
    p = {"a": 1.0, "b": -2.0, "c": -1.0}
    dataset = (((1.2, 0.7), +1.0), ((-0.3, 0.5), -1.0), ((-3.0, -1.0), +1.0),
               ((0.1, 1.0), -1.0), ((3.0, 1.1), -1.0), ((2.1, -3.0), +1.0))  # fmt: skip
    for _ in range(35000):
        (x, y), label = random.choice(dataset)
        grads = f.grad(x=x, y=y, label=label, **p)
        for k in p:
            p[k] += 0.1 * grads[k]
    assert out == "a, b, c = {:.2f}, {:.2f}, {:.2f}\n".format(p["a"], p["b"], p["c"])
    # every point ends on the right side: label * score >= 1
    a, b, c = p["a"], p["b"], p["c"]
    assert all(label * (a * x + b * y + c) >= 1 for (x, y), label in dataset)


def test_the_guides_chapter_one_neuron():
    a, b, c, x, y = param(1, 2, -3, -1, 3)
    f = sigmoid(a * x + b * y + c)
    assert f.compute() == 0.8807970779778823
    f.backprop()
    assert a.grad == -0.10499358540350662
    assert (x.grad, b.grad, y.grad, c.grad) == pytest.approx(
        (0.10499358540350662, 0.31498075621051985, 0.20998717080701323, 0.10499358540350662),
        rel=1e-15,
    )
    f.backprop(lr=0.01)
    assert f.compute() == 0.8825501816218984


def test_every_function_of_the_language_is_a_builder():
    renamed = {"min": "minimum", "max": "maximum", "abs": "absolute", "pow": "power"}
    for name in (n for n, p in FUNCTIONS.items() if not p.arrays):
        assert callable(getattr(sugar, renamed.get(name, name)))
        assert renamed.get(name, name) in sugar.__all__
    assert {"param", "const", "eq", "ne"} <= set(sugar.__all__)
    assert "sum" not in sugar.__all__  # `from exprgrad.sugar import *` keeps Python's sum


def test_numbers_on_either_side_and_names():
    w, b = param(2, 0.5, names="w b")
    x = const(3, names=["x"])
    f = maximum(0, 1 - (w * x + b) / 4) ** 2 + 2**w - w / 8 + -w
    assert f.formula() == "max(0, 1 - (w * x + b) / 4) ** 2 + 2 ** w - w / 8 + -w"
    expected = exprgrad_value(f.formula(), w=2.0, b=0.5, x=3.0)
    assert f.compute() == expected
    with pytest.raises(ValueError, match="2 values but 1 names"):
        param(1, 2, names="a")
    with pytest.raises(TypeError, match="at least one value"):
        param()


def exprgrad_value(formula: str, **point: float) -> float:
    import exprgrad

    return exprgrad.compile(formula)(**point)


def test_eq_and_ne_compare_for_equality():
    from exprgrad.sugar import eq, ne, where

    a, b = param(2.0, 3.0)
    equal, different = where(eq(a, b), 1.0, 0.0), where(ne(a, b), 1.0, 0.0)
    assert (equal.compute(), different.compute()) == (0.0, 1.0)
    assert "a" not in different.formula() and " != " in different.formula()
    b.val = 2.0
    assert (equal.compute(), different.compute()) == (1.0, 0.0)
