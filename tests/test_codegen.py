"""Generated source: golden files, names, literals, determinism, size."""

from __future__ import annotations

import builtins
import keyword
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exprgrad
from exprgrad.backends.emit import literal, mangle
from exprgrad.backends.python import codegen

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("EXPRGRAD_UPDATE_GOLDEN") == "1"

GOLDEN_FORMULAS = {
    "sigmoid_circuit": "sigmoid(a*x + b*y + c)",
    "hinge": "min(1, label*(a*x + b*y + c))",
    "two_layer_net": (
        "# Karpathy's 2-layer net with an SVM loss\n"
        "n1 = relu(a1*x + b1*y + c1)\n"
        "n2 = relu(a2*x + b2*y + c2)\n"
        "n3 = relu(a3*x + b3*y + c3)\n"
        "score = a4*n1 + b4*n2 + c4*n3 + d4\n"
        "max(0, 1 - label*score)\n"
    ),
    "keywords": "lambda = 2*print\nlog(lambda - exec) + min(x, 0.5, -2)",
    "stable": "softplus(w*x) + erf(x)/sqrt(2*pi) + x**3",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_FORMULAS))
def test_golden_source(name):
    source = exprgrad.compile(GOLDEN_FORMULAS[name]).source
    path = GOLDEN / f"{name}.py"
    if UPDATE:
        path.write_text(source)
    assert path.read_text() == source, f"set EXPRGRAD_UPDATE_GOLDEN=1 to accept {path}"


def test_same_formula_same_bytes_across_processes():
    formula = GOLDEN_FORMULAS["two_layer_net"]
    code = f"import exprgrad, sys; sys.stdout.write(exprgrad.compile({formula!r}).source)"
    env = dict(os.environ, PYTHONHASHSEED="123")
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert other == exprgrad.compile(formula).source


def test_assigned_names_survive_and_gradients_are_named_after_values():
    source = exprgrad.compile(GOLDEN_FORMULAS["two_layer_net"]).source
    for line in ("n1 = ", "score = ", "score_grad = ", "a4_grad = "):
        assert line in source
    assert "t1 = a1 * x" in source


def test_one_primitive_per_line_with_comments_quoting_the_formula():
    source = exprgrad.compile("sigmoid(a*x + b*y + c)").source
    assert "t1 = a * x                # a*x" in source
    assert "t5 = _sigmoid(t4)         # sigmoid(a*x + b*y + c)" in source
    body = [line for line in source.splitlines() if " = " in line]
    assert all(line.count(" = ") == 1 for line in body)


def test_long_spans_are_cut_and_located():
    formula = "z = " + " + ".join(f"w{i}*x{i}" for i in range(30))
    source = exprgrad.compile(formula + "\nz").source
    assert "... (1:5)" in source
    assert max(len(line) for line in source.splitlines()) < 120


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2.0"),
        (0.1, "0.1"),
        (-2.0, "(-2.0)"),
        (1e-300, "1e-300"),
        (-0.0, "(-0.0)"),
        (math.inf, "math.inf"),
        (-math.inf, "(-math.inf)"),
        (math.nan, "math.nan"),
    ],
)
def test_literals_round_trip(value, text):
    assert literal(value) == text
    result = eval(text, {"math": math})
    assert result == value or (math.isnan(value) and math.isnan(result))
    assert math.copysign(1, result) == math.copysign(1, value)


def test_negative_constant_base_keeps_its_sign():
    f = exprgrad.compile("(-2) ** t")
    assert f(t=2.0) == 4.0
    assert exprgrad.compile("-2 ** t")(t=2.0) == -4.0


NAMES = st.one_of(
    st.sampled_from(
        sorted(
            set(keyword.kwlist)
            | set(keyword.softkwlist)
            | set(dir(builtins))
            | {
                "math",
                "np",
                "t1",
                "t12",
                "x_grad",
                "x_",
                "_x",
                "__x__",
                "_sigmoid",
                "_softplus",
                "_MATH_ERRORS",
                "_evaluation_error",
                "forward",
                "value_and_grad",
                "float",
                "g",
                "out",
            }
        )
    ),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
).filter(lambda n: n not in ("pi", "e") and n.isascii())


@settings(max_examples=300, deadline=None)
@given(st.lists(NAMES, min_size=2, max_size=2, unique=True))
def test_mangling_is_injective_and_safe(names):
    a, b = (mangle(n) for n in names)
    assert a != b
    for original, mangled in zip(names, (a, b), strict=True):
        assert mangled.isidentifier() and not keyword.iskeyword(mangled)
        assert mangled not in dir(builtins) and mangled not in ("math", "np")
        assert not mangled.startswith("t") or not mangled[1:].isdigit()
        assert not mangled.endswith("_grad")
        assert mangled == original or mangled == original + "_"


@settings(max_examples=150, deadline=None)
@given(st.lists(NAMES, min_size=3, max_size=3, unique=True))
def test_any_names_compile_and_compute(names):
    p, q, r = names
    f = exprgrad.compile(f"{p}*{q} + sigmoid({r}) - {p}")
    point = {p: 2.0, q: 3.0, r: 0.0}
    assert f(**point) == 2 * 3 + 0.5 - 2
    assert f.grad(**point) == {p: 2.0, q: 2.0, r: 0.25}


@pytest.mark.slow
def test_hundred_thousand_terms_compile_flat():
    formula = " + ".join(["a*x"] * 50_000 + ["x"] * 50_000)
    f = exprgrad.compile(formula)
    value, grads = f.value_and_grad(a=2.0, x=3.0)
    assert value == 2 * 3 * 50_000 + 3 * 50_000
    assert grads == {"a": 3.0 * 50_000, "x": 2.0 * 50_000 + 50_000}


def test_module_source_needs_only_math(tmp_path):
    f = exprgrad.compile(GOLDEN_FORMULAS["stable"])
    module = f.module_source()
    assert "exprgrad" not in module.replace("Generated by exprgrad", "").replace(
        "generated by exprgrad", ""
    )
    assert "def _softplus" in module and "def _sigmoid" in module
    path = tmp_path / "loss.py"
    path.write_text(module)
    code = (
        "import runpy, sys; m = runpy.run_path(sys.argv[1]); "
        "print(repr(m['value_and_grad'](0.3, -1.2)))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == repr(f.value_and_grad(0.3, -1.2))


GENERATED_FUNCTIONS = sorted({*codegen.RETURNS, "trace", "flat_with"})


@pytest.mark.parametrize("name", [*GENERATED_FUNCTIONS, "error"])
def test_a_formula_name_never_shadows_generated_functions(name):
    """The generated functions call themselves again with converted arguments (a Fraction
    here, which the inline int check does not take), and their handlers bind `error`: an
    input of the same name is renamed in the code, so every call still computes."""
    assert mangle(name) == name + "_"
    f = exprgrad.compile(f"{name}*x + sin({name})")
    half = Fraction(1, 2)
    expected = exprgrad.compile("a*x + sin(a)").value_and_grad(a=0.5, x=3.0)
    value, grads = f.value_and_grad(half, 3.0)
    assert (value, list(grads.values())) == (expected[0], list(expected[1].values()))
    assert f(half, 3.0) == expected[0]
    assert f.flat()([half, 3.0]) == (expected[0], list(expected[1].values()))
    assert f.flat([name], x=3.0)([half]) == (expected[0], [expected[1]["a"]])
    assert f.trace(half, 3.0).value == expected[0]
    assert f.hessian(half, 3.0) == exprgrad.compile("a*x + sin(a)").hessian(a=0.5, x=3.0)
    assert f.flat_hessp()([half, 3.0], [1.0, 0.0]) == list(f.hvp([1.0, 0.0], 0.5, 3.0).values())
