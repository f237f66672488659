"""Scale: programs in pieces (backends/python/pieces.py, backends/pieces.py), wide
formulas bound through one dict, the size limit (core/pipeline.MAX_OPERATIONS)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import exprgrad
from exprgrad.backends.emit import PIECE_LINES
from exprgrad.backends.python.pieces import WIDE_INPUTS
from exprgrad.core import pipeline

ROOT = Path(__file__).resolve().parent.parent


def fresh(code: str) -> dict:
    """Run code in a fresh interpreter (its memory its own); it prints one JSON line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def tanh_chain(x: float, depth: int) -> tuple[float, float]:
    value, slope = x, 1.0
    for _ in range(depth):
        value = math.tanh(value)
        slope *= 1.0 - value * value
    return value, slope


# --- 200,000 operations, in a fresh process ------------------------------------------------


@pytest.mark.slow
def test_a_sum_of_100_000_products_compiles_and_its_gradient_is_right():
    found = fresh(
        """
        import json, exprgrad
        n = 100_000
        f = exprgrad.compile(" + ".join(f"w{i}*x{i}" for i in range(n)))
        point = {f"w{i}": float(i) for i in range(n)} | {f"x{i}": 2.0 for i in range(n)}
        value, grads = f.value_and_grad(**point)  # 200,000 keywords
        fun = f.flat()
        flat_value, flat_grad = fun([point[name] for name in fun.names])
        print(json.dumps({"value": value, "w7": grads["w7"], "x7": grads["x7"], "n": len(grads),
            "flat": flat_value, "flat_x7": float(flat_grad[fun.names.index("x7")]),
            "forward": f(**point)}))
        """
    )
    assert found["value"] == found["forward"] == found["flat"] == 2.0 * sum(range(100_000))
    assert (found["w7"], found["x7"], found["n"], found["flat_x7"]) == (2.0, 7.0, 200_000, 7.0)


@pytest.mark.slow
def test_a_tanh_chain_50_000_deep_compiles_and_backpropagates():
    found = fresh(
        """
        import json, exprgrad
        depth = 50_000  # 50,000 operations forward, about 200,000 with the gradient
        f = exprgrad.compile("tanh(" * depth + "x" + ")" * depth)
        value, grads = f.value_and_grad(x=0.5)
        operations = sum(op.prim not in ("input", "const") for op in f.program.ops)
        print(json.dumps({"value": value, "slope": grads["x"], "operations": operations}))
        """
    )
    value, slope = tanh_chain(0.5, 50_000)
    assert found["value"] == pytest.approx(value, rel=1e-12)
    assert found["slope"] == pytest.approx(slope, rel=1e-9)
    assert found["operations"] > 150_000  # (fewer lines: arithmetic is written into its reader)


# --- pieces --------------------------------------------------------------------------------


DEPTH = 3 * PIECE_LINES // 2  # a chain whose gradient takes several pieces
SHORT = PIECE_LINES // 2 + 500  # a chain whose gradient program (4 operations a tanh) is long


def test_a_long_program_is_written_in_pieces_that_say_what_they_cover():
    # 3 pieces of forward lines, then one of the backward (4 links of the chain rule a line)
    deep = 3 * PIECE_LINES - 10
    f = exprgrad.compile("tanh(" * deep + "x" + ")" * deep)
    value, grads = f.value_and_grad(x=0.5)
    expected, slope = tanh_chain(0.5, deep)
    assert value == pytest.approx(expected, rel=1e-12)
    assert grads["x"] == pytest.approx(slope, rel=1e-9)
    assert f(0.5) == value and f(x=1) == f(1.0)  # an int converted, positional or keyword
    source = f.source
    assert "def value_and_grad(_v):" in source and "def _value_and_grad_4(_v):" in source
    assert "    # forward: formula line 1, columns" in source
    assert "    # backward: formula line 1, columns" in source
    for piece in source.split("\ndef ")[1:]:  # bounded: a piece's lines, loads and stores
        assert piece.count("\n") < 4 * PIECE_LINES


def test_a_branch_and_an_error_in_a_later_piece():
    terms = " + ".join(f"sin(x*{i})" for i in range(PIECE_LINES))
    f = exprgrad.compile(f"{terms} + where(x > 0, log(x), 0) + log(y)")
    at = 0.3
    expected = sum(math.sin(at * i) for i in range(PIECE_LINES)) + math.log(at)
    value, grads = f.value_and_grad(x=at, y=1.0)
    assert value == pytest.approx(expected, rel=1e-12)
    slope = sum(i * math.cos(at * i) for i in range(PIECE_LINES)) + 1 / at
    assert grads["x"] == pytest.approx(slope, rel=1e-12)
    assert f.value_and_grad(x=-at, y=1.0)[1]["x"] == pytest.approx(slope - 1 / at, rel=1e-12)
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive number") as caught:
        f.value_and_grad(x=at, y=-1.0)
    assert caught.value.column == len(terms) + len(" + where(x > 0, log(x), 0) + ") + 1
    with pytest.raises(exprgrad.ArgumentError, match="'y' must be a real number"):
        f(x=1.0, y="a")


def test_code_in_pieces_computes_bit_for_bit_what_one_function_does(monkeypatch):
    """Cut into pieces of 8 lines, a random graph loads values left by pieces far back,
    and its arithmetic is written into the lines that read it, with only the parentheses
    Python needs: every number is the one plain code gives, and so is an error."""
    from exprgrad.backends.python import pieces

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from bench_scale import formula, point

    texts = [
        formula("dag", 300),
        "a*b*c + a*(b*c) + (a + b) + c + a + (b + c) + a - (b - c) + (a - b) - c + -(-a)"
        " + -(a*b) + (-a)*b + a*-b + (a*b)**2 + -(a + b)**2 + (-a)**2 - -(a - b) + sin(a*b + c)",
    ]
    points = [point("dag", 300), {"a": 0.1, "b": 0.7, "c": -2.5}]
    plain = [exprgrad.compile(t).value_and_grad(**at) for t, at in zip(texts, points, strict=True)]
    monkeypatch.setattr(pieces, "PIECE_LINES", 8)
    for text, at, expected in zip(texts, points, plain, strict=True):
        f = exprgrad.compile(text)
        assert f.value_and_grad(**at) == expected
    assert "= _gathered(_v, _value_and_grad_loads_" in exprgrad.compile(texts[0]).source
    code = "\n".join(line.split("  # ")[0] for line in f.source.splitlines() if line[:1] != "#")
    assert "t1 * c + a * (b * c)" in code and "- (b - c)" in code and "((" not in code
    errors = []
    for cut in (False, True):
        monkeypatch.setattr(pieces, "PIECE_LINES", 8 if cut else PIECE_LINES)
        g = exprgrad.compile(" + ".join(f"x*y*{i}" for i in range(60)) + " + log(x - 40)")
        with pytest.raises(exprgrad.EvaluationError) as caught:
            g.value_and_grad(x=30.5, y=1.0)
        errors.append((str(caught.value), caught.value.column))
    assert "def _value_and_grad_3(_v):" in g.source and errors[0] == errors[1]


def test_traces_hessians_and_vectors_of_a_long_program():
    chain = "tanh(" * SHORT + "x*y" + ")" * SHORT
    f = exprgrad.compile(chain)
    value, grads = f.value_and_grad(x=0.5, y=0.8)
    assert f.trace(x=0.5, y=0.8).value == value
    fun = f.flat()
    flat_value, gradient = fun([0.5, 0.8])
    assert flat_value == value and gradient == [grads["x"], grads["y"]]  # a list for a list
    assert fun(np.array([0.5, 0.8]))[1].tolist() == gradient  # an array for an array
    hessian = f.hessian(x=0.5, y=0.8)
    h = 1e-5
    column = (np.array(fun([0.5 + h, 0.8])[1]) - np.array(fun([0.5 - h, 0.8])[1])) / (2 * h)
    assert np.allclose([row[0] for row in hessian], column, rtol=1e-4, atol=1e-9)
    assert f.jvp([1.0, 0.0], x=0.5, y=0.8)[1] == pytest.approx(grads["x"], rel=1e-12)


def test_the_standalone_module_of_a_long_program_runs():
    f = exprgrad.compile(" + ".join(f"sin(w{i})*x{i}" for i in range(WIDE_INPUTS)))
    namespace: dict = {}
    exec(f.module_source(), namespace)  # noqa: S102
    point = [0.001 * k for k in range(2 * WIDE_INPUTS)]
    assert namespace["value_and_grad"](list(point)) == f.value_and_grad(*point)


def test_the_numpy_backend_writes_long_programs_in_pieces():
    f = exprgrad.compile("sum(" + "tanh(" * SHORT + "x" + ")" * SHORT + ")", backend="numpy")
    value, grads = f.value_and_grad(x=np.array([0.5, -0.25]))
    first, second = tanh_chain(0.5, SHORT), tanh_chain(-0.25, SHORT)
    assert value == pytest.approx(first[0] + second[0], rel=1e-12)
    assert np.allclose(grads["x"], [first[1], second[1]], rtol=1e-9)
    source = f.source_for(x=np.array([0.5, -0.25]))
    assert "def _value_and_grad_2(_v):" in source and "    # formula line 1, columns" in source
    # a nan is traced to its op through every value, computed in pieces too
    f = exprgrad.compile("sum(log(" + "tanh(" * SHORT + "x" + ")" * SHORT + "))", backend="numpy")
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive") as caught:
        f.value_and_grad(x=np.array([0.5, -0.25]))
    assert caught.value.column == len("sum(") + 1


# --- wide formulas -------------------------------------------------------------------------


def test_a_wide_formula_takes_keywords_positions_and_both():
    n = WIDE_INPUTS + 50
    f = exprgrad.compile(" + ".join(f"a{i}*b{i}" for i in range(n)))
    point = {f"a{i}": float(i) for i in range(n)} | {f"b{i}": 3 for i in range(n)}
    value, grads = f.value_and_grad(**point)
    assert value == 3.0 * sum(range(n)) and grads["a5"] == 3.0 and grads["b5"] == 5.0
    values = [point[name] for name in f.inputs]
    assert f.value_and_grad(*values) == (value, grads)
    assert f(*values[:10], **{name: point[name] for name in f.inputs[10:]}) == value
    assert "def value_and_grad(_v):" in f.source
    with pytest.raises(exprgrad.ArgumentError, match="missing argument.*'b0'"):
        f(**{name: v for name, v in point.items() if name != "b0"})
    with pytest.raises(exprgrad.ArgumentError, match="unexpected argument 'c'"):
        f(c=1.0, **point)
    with pytest.raises(exprgrad.ArgumentError, match="multiple values for argument 'a0'"):
        f(1.0, **point)


def test_a_formula_just_narrow_enough_keeps_its_parameters():
    f = exprgrad.compile(" + ".join(f"p{i}" for i in range(WIDE_INPUTS)))
    assert f.source.splitlines()[3].startswith("def forward(")
    assert "def forward(_v)" not in f.source


# --- the limit -----------------------------------------------------------------------------


def test_the_limit_is_well_above_a_million_and_beyond_it_a_formula_error(monkeypatch):
    assert pipeline.MAX_OPERATIONS >= 4_000_000
    monkeypatch.setattr(pipeline, "MAX_OPERATIONS", 5 * PIECE_LINES)
    fits = "tanh(" * PIECE_LINES + "x" + ")" * PIECE_LINES  # 4 operations a tanh with its gradient
    assert exprgrad.compile(fits)(x=0.5) == pytest.approx(tanh_chain(0.5, PIECE_LINES)[0])
    beyond = 5 * PIECE_LINES + 1
    too_large = "tanh(" * beyond + "x" + ")" * beyond
    with pytest.raises(exprgrad.FormulaError, match="formula too large.*over the limit of 50,000"):
        exprgrad.compile(too_large)
    gates = pytest.importorskip("exprgrad.gates")
    x = gates.Param(0.5, name="x")
    out = x
    for _ in range(beyond):
        out = gates.make("tanh", out)
    with pytest.raises(exprgrad.FormulaError, match="formula too large"):
        out.compute()


def test_a_gradient_program_over_the_limit_is_refused_where_it_is_made(monkeypatch):
    """A formula within the limit whose gradient program is not (a tanh chain's has four
    operations a tanh) computes its gradients by sweep (backends/python/sweep.py), which
    needs no gradient program; what needs one (its source, its compiled code) gets the
    FormulaError, and the calls stay on the sweep instead of compiling."""
    from exprgrad.backends.python import tape

    monkeypatch.setattr(pipeline, "MAX_OPERATIONS", 5 * PIECE_LINES)
    monkeypatch.setattr(tape, "COMPILE_SECONDS_PER_OP", 0.0)  # compile at the first call
    value, slope = tanh_chain(0.5, DEPTH)
    for inner in ("x", "where(x > 0, x, -x)"):  # (a branch too)
        f = exprgrad.compile("tanh(" * DEPTH + inner + ")" * DEPTH)
        for _ in range(2):
            got, grads = f.value_and_grad(x=0.5)
            assert got == pytest.approx(value, rel=1e-12)
            assert grads["x"] == pytest.approx(slope, rel=1e-9)
            assert not f.value_and_grad.tiered.compiled
        with pytest.raises(exprgrad.FormulaError, match="its gradient program has .* over the"):
            f.source  # noqa: B018 (a property)


def test_a_chain_of_gates_longer_than_a_piece_computes_and_backpropagates():
    from exprgrad import gates

    x = gates.Param(0.5, name="x")
    out = x
    for _ in range(DEPTH):
        out = gates.make("tanh", out)
    value, slope = tanh_chain(0.5, DEPTH)
    assert out.compute() == pytest.approx(value, rel=1e-12)
    out.backprop()
    assert x.grad == pytest.approx(slope, rel=1e-9)


def test_long_list_code_is_written_in_pieces_and_agrees_with_short_code(monkeypatch):
    """The lists backend cuts long code as numpy's does (backends/pieces.py); with the
    threshold lowered, a short formula shows it, and pieces compute what one function does."""
    from exprgrad.backends import pieces
    from exprgrad.backends.lists import codegen as lists_codegen

    formula = "h = tanh(X @ W + b)\nsum(where(h > 0, h * h, log1p(h * h))) + norm2(W)"
    point = {"X": [[0.5, -1.0], [2.0, 0.25]], "W": [[0.3, -0.7], [0.9, 0.1]], "b": [0.2, -0.4]}
    whole = exprgrad.compile(formula, backend="lists")
    expected = whole.value_and_grad(**point)
    monkeypatch.setattr(lists_codegen, "PIECE_LINES", 4)
    monkeypatch.setattr(pieces, "PIECE_LINES", 4)
    cut = exprgrad.compile(formula, backend="lists")
    assert "pieces of at most 4 lines" in cut.source_for(**point)
    assert cut.value_and_grad(**point) == expected and cut(**point) == whole(**point)


def test_the_collector_comes_back_as_it_was_and_frozen_objects_stay_frozen():
    """compile() pauses the garbage collector; after it, the collector runs again, or stays
    off if it was off, and objects a program froze (gc.freeze before a fork) stay frozen."""
    import gc

    assert gc.isenabled()
    exprgrad.compile("x*y + sin(x)").value_and_grad(x=1.0, y=2.0)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        exprgrad.compile("x*y + cos(x)").value_and_grad(x=1.0, y=2.0)
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        exprgrad.compile("x*y + tan(x)").value_and_grad(x=1.0, y=2.0)
        assert gc.get_freeze_count() == frozen and gc.isenabled()
    finally:
        gc.unfreeze()
