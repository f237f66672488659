"""The tape that a long program's first calls run (backends/python/tape.py): the generated
code's values, gradients and errors, bit for bit, and the switch to that code."""

from __future__ import annotations

import math
import random
import zlib

import pytest
from test_c_backend import FORMULAS as C_FORMULAS
from test_codegen import GOLDEN_FORMULAS
from test_primitives import CASE_LIST, points
from test_regions import CASES as REGION_CASES
from test_regions import TANGLED_IFS

import exprgrad
from exprgrad.backends.python import tape
from exprgrad.backends.python.sweep import sweepable
from exprgrad.backends.python.tape import Tape
from exprgrad.core import pipeline

np = pytest.importorskip("numpy")

CORPUS = sorted(
    {formula for _, formula, _ in CASE_LIST}
    | set(GOLDEN_FORMULAS.values())
    | {formula for formula, _ in REGION_CASES}
    | set(TANGLED_IFS)
    | set(C_FORMULAS)
    | {
        "max(a, b, c, d) - min(a, b, c, d, e) + clip(a, b, c)",
        "where(a, b, c) * where(a >= b, a, -b)",
    }
)
SPECIALS = [0.0, -0.0, 0.5, -1.5, 3.0, 1e-310, 1e308, -1e308, math.inf, -math.inf, math.nan]


def outcome(call, *args, **kwargs):
    """A call's result, comparable bit for bit (reprs: NaN and -0.0), or its error."""
    try:
        result = call(*args, **kwargs)
    except exprgrad.Error as error:
        return type(error).__name__, str(error)
    if isinstance(result, tuple) and len(result) == 3:  # a trace: rows' values, adjoints
        value, values, adjoints = result
        return repr(value), list(map(repr, values)), list(map(repr, adjoints))
    if isinstance(result, tuple):
        value, grads = result
        items = grads.items() if isinstance(grads, dict) else enumerate(grads)
        return repr(value), [(name, repr(g)) for name, g in items]
    return repr(result)


@pytest.mark.parametrize("formula", CORPUS)
def test_the_tape_is_the_generated_code_bit_for_bit(formula):
    """At points of the domain and at IEEE specials, forward and value_and_grad on a tape
    give the generated code's floats, or its error word for word."""
    f = exprgrad.compile(formula)
    namespace = f._runtime.namespace
    gradient = Tape(f.program, "value_and_grad", f.formula, namespace)
    value = Tape(f.forward_program, "forward", f.formula, namespace)
    domain = dict.fromkeys(f.inputs, (-3.0, 3.0))
    rng = random.Random(zlib.crc32(formula.encode()))
    found = [[p[name] for name in f.inputs] for p in points(f, domain, 4, seed=rng.random())]
    found += [[rng.choice(SPECIALS) for _ in f.inputs] for _ in range(16)]
    trace, rows, _ = f._trace_function()
    every = pipeline.gradient(f.forward_program, f.inputs, f._fold_with, every_adjoint=True)
    traced = Tape(every, "trace", f.formula, namespace, rows)
    for values in found:
        assert outcome(gradient, values) == outcome(f.value_and_grad, *values), values
        assert outcome(value, values) == outcome(f, *values), values
        assert outcome(traced, values) == outcome(trace, *values), values


def long_sum(terms: int) -> str:
    """A long program with a branch in every term, so the tape has blocks."""
    return " + ".join(
        f"where(x{i % 7} > {i % 5 - 2}, {i}*log(x{i % 7} - 1), x{i % 3}*x{i % 7} + {i})"
        for i in range(terms)
    )


def test_a_long_program_runs_on_the_tape_then_compiles(monkeypatch):
    # more than pieces' 10,000 operations with its gradient, not without: the gradient
    # program's tape (a longer forward program's gradients are swept: test_sweep.py)
    formula = long_sum(1500)
    point = dict(zip([f"x{i}" for i in range(7)], [2.5, -3, 2.7, -2.5, 3.1, 2.2, -4], strict=True))
    f = exprgrad.compile(formula)
    assert f._program is not None  # made by compile(): not swept
    first = f.value_and_grad(**point)
    tiered = f.value_and_grad.tiered
    assert not tiered.compiled  # one call is far from what compiling costs
    assert f(**point) == first[0]
    monkeypatch.setattr(tape, "COMPILE_SECONDS_PER_OP", 0.0)
    g = exprgrad.compile(formula)
    assert outcome(g.value_and_grad, **point) == outcome(f.value_and_grad, **point)
    assert g.value_and_grad.tiered.compiled  # the budget spent: generated code from now on
    assert outcome(g.value_and_grad, **point) == outcome(f.value_and_grad, **point)
    for x0 in (0.5, 1.0, -3.5, math.nan, -math.inf, math.inf):  # log(x0 - 1) where taken
        at = point | {"x0": x0}
        assert outcome(f.value_and_grad, **at) == outcome(g.value_and_grad, **at)
        assert outcome(f, **at) == outcome(g, **at)
    assert outcome(f.value_and_grad, **point | {"x0": 0.5})[0] == "EvaluationError"


def long_circuit_agrees_once_compiled(monkeypatch, steps: int) -> exprgrad.Function:
    """exprgrad.gates runs a circuit through its trace: a long one starts on the tape (or
    the sweep), and every gate's value and gradient are the same once the generated code
    takes over. Returns the circuit's Function."""
    from exprgrad import gates

    monkeypatch.setattr(tape, "COMPILE_SECONDS_PER_OP", 0.0)  # compile after the first call
    x, w = gates.Param(0.3, name="x"), gates.Param(-0.7, name="w")
    made, out = [], x
    for k in range(steps):
        out = gates.make("tanh", out * w + 0.01 * k) if k % 2 else gates.make("relu", out - 0.1)
        made.append(out)
    first = out.compute()
    tiered = out._circuit._trace.tiered
    assert tiered.compiled  # ran on the tape, then compiled (the budget is 0)
    out.backprop()
    seen = [(repr(g.val), repr(g.grad)) for g in made] + [repr(x.grad), repr(w.grad)]
    for gate in (*made, x, w):
        gate.grad = 0.0
    assert out.compute() == first  # now the generated code
    out.backprop()
    assert [(repr(g.val), repr(g.grad)) for g in made] + [repr(x.grad), repr(w.grad)] == seen
    return out._circuit.function


def test_a_long_circuit_of_gates_computes_on_the_tape_then_compiles(monkeypatch):
    function = long_circuit_agrees_once_compiled(monkeypatch, 4000)
    assert not sweepable(function.forward_program)  # (the trace's program on the tape)


def test_a_long_programs_flat_runs_on_the_tape_then_compiles(monkeypatch):
    formula = long_sum(1500)  # (its gradient program's tape, as above)
    point = dict(zip([f"x{i}" for i in range(7)], [2.5, -3, 2.7, -2.5, 3.1, 2.2, -4], strict=True))
    f = exprgrad.compile(formula)
    value, grads = f.value_and_grad(**point)
    fun = f.flat()
    assert not fun._call.tiered.compiled
    assert fun(list(point.values())) == (value, list(grads.values()))  # a list for a list
    assert fun(np.array(list(point.values())))[1].tolist() == list(grads.values())
    fixed = f.flat(["x3", "x1"], **{k: v for k, v in point.items() if k not in ("x1", "x3")})
    assert fixed([point["x3"], point["x1"]]) == (value, [grads["x3"], grads["x1"]])
    with pytest.raises(exprgrad.ArgumentError, match="argument 'x1'"):
        fixed([1.0, "a"])
    with pytest.raises(ValueError, match="3 entries; expected 2"):
        fixed([1.0, 2.0, 3.0])
    assert "def flat(_v):" in fun.source  # written when asked for, in pieces
    monkeypatch.setattr(tape, "COMPILE_SECONDS_PER_OP", 0.0)
    g = exprgrad.compile(formula).flat()
    for x0 in (2.5, 0.5):  # the tape, then the generated code: the same, errors too
        at = [x0, *list(point.values())[1:]]
        assert outcome(g, at) == outcome(fun, at)
        assert outcome(g, at) == outcome(fun, at)
    assert g._call.tiered.compiled


def random_long_formula(seed: int, statements: int = 2500) -> str:
    """Statements over 6 inputs and the latest results, through every kind of op the
    pieces write into their readers (+ - * and negation, up to several deep) and
    functions, branches and min/max between them."""
    rng = random.Random(seed)
    names = [f"x{i}" for i in range(6)]
    shapes = [
        "{p} - ({q} - {r})",
        "-({p} * {q}) + {r}",
        "{p} * ({q} * {r}) - {p}",
        "({p} + {q}) * ({r} - {p}) * 0.25",
        "tanh({p} - {q} * {r})",
        "where({p} > {q}, sqrt(abs({r}) + 0.5), -{p} * {q})",
        "min({p}, {q} * 0.5) - max({r}, -{q})",
        "sigmoid({p}) * (1 - {q} * {q}) - {r}",
        "{p} / (1 + {q} * {q})",
    ]
    lines = []
    for i in range(statements):
        p, q, r = (rng.choice(names[:6] + names[-12:]) for _ in range(3))
        shape = rng.choice(shapes).format(p=p, q=q, r=r)  # kept in range: few NaNs
        lines.append(f"a{i} = {shape}" if rng.random() < 0.3 else f"a{i} = tanh({shape})")
        names.append(f"a{i}")
    lines.append(" + ".join(names[-8:]))
    return "\n".join(lines)


def first_calls_and_code_agree(monkeypatch, formula: str, seed: int) -> exprgrad.Function:
    """Compile the formula twice, the second with no budget (its code compiled at the
    first call): both give the same floats and errors at points of its 6 inputs. The
    first, which stayed on its tape or sweep, is returned."""
    first = exprgrad.compile(formula)
    assert not first.value_and_grad.tiered.compiled  # made (with its budget) before:
    monkeypatch.setattr(tape, "COMPILE_SECONDS_PER_OP", 0.0)
    compiled = exprgrad.compile(formula)
    rng = random.Random(seed)
    points = [[rng.uniform(-2, 2) for _ in range(6)] for _ in range(3)]
    points += [[rng.choice(SPECIALS) for _ in range(6)] for _ in range(3)]
    outcome(compiled.value_and_grad, *points[0])  # the first call: the tape, then compiling
    assert compiled.value_and_grad.tiered.compiled
    for values in points:
        assert outcome(first.value_and_grad, *values) == outcome(compiled.value_and_grad, *values)
    assert not first.value_and_grad.tiered.compiled
    return first


@pytest.mark.parametrize("seed", [1, 2])
def test_long_random_programs_on_the_tape_and_in_pieces_agree(monkeypatch, seed):
    """The tape and the code in pieces that replaces it (arithmetic written several deep
    into its reader, values passed between pieces) give the same floats and errors."""
    on_tape = first_calls_and_code_agree(monkeypatch, random_long_formula(seed), seed)
    assert on_tape._program is not None  # (a forward program short of the sweep's)
