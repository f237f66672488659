"""The sweep that a long program's first gradients run (backends/python/sweep.py): the
forward tape, then reverse mode on numbers, giving the gradient program's floats bit for
bit, its errors word for word, and the switch to its generated code."""

from __future__ import annotations

import math
import random
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_primitives import points
from test_reverse import programs
from test_tape import (
    CORPUS,
    SPECIALS,
    first_calls_and_code_agree,
    long_circuit_agrees_once_compiled,
    outcome,
    random_long_formula,
)

import exprgrad
from exprgrad.backends.python import sweep, tape
from exprgrad.backends.python.sweep import Sweep, sweepable
from exprgrad.backends.python.tape import Tape
from exprgrad.core import pipeline
from exprgrad.core.tracing import trace_rows


class Exact:
    """The gradient program's tape that a sweep hands a failing call to, counting calls."""

    def __init__(self, tape: Tape):
        self.tape, self.calls = tape, 0

    def __call__(self) -> Tape:
        self.calls += 1
        return self.tape


def swept(f: exprgrad.Function, function: str, program, wrt, rows=()):
    """A Sweep of f's forward program (whatever its length) beside the generated code."""
    namespace = f._runtime.namespace
    forward = f.forward_program
    exact = Exact(Tape(program, function, f.formula, namespace, rows))
    values = Tape(forward, "values", f.formula, namespace, branches=sweep.has_branches(forward))
    return Sweep(forward, function, wrt, values, exact, rows), exact


COMPILED = {  # how the formula is compiled: as compile() does, unfolded, for one input
    "default": {},
    "unfolded": {"optimize": False},
    "wrt the last input": {"wrt": "last"},
}


@pytest.mark.parametrize("how", COMPILED)
@pytest.mark.parametrize("formula", CORPUS)
def test_the_sweep_is_the_gradient_program_bit_for_bit(formula, how):
    """At points of the domain and at IEEE specials, value_and_grad, the trace of every
    line and flat by sweep give the generated code's floats, or its error word for word;
    a sweep hands a call to the gradient program only where that program fails too.
    Unfolded (optimize=False), a sweep meets ops of constants alone; over one input, ops
    that need no adjoint."""
    options = dict(COMPILED[how])
    if options.get("wrt") == "last":
        options["wrt"] = exprgrad.compile(formula).inputs[-1:]
    f = exprgrad.compile(formula, **options)
    if not sweep._unswept().isdisjoint(op.prim for op in f.forward_program.ops):
        pytest.skip("a rule the sweep leaves to the gradient program")
    gradient, exact = swept(f, "value_and_grad", f.program, f.wrt)
    rows = trace_rows(f.forward_program)
    every = pipeline.gradient(f.forward_program, f.inputs, f._fold_with, every_adjoint=True)
    traced, exact_trace = swept(f, "trace", every, f.inputs, rows)
    trace, _, _ = f._trace_function()
    flat, _ = swept(f, "flat", f.program, f.wrt)
    domain = dict.fromkeys(f.inputs, (-3.0, 3.0))
    rng = random.Random(zlib.crc32(formula.encode()))
    found = [[p[name] for name in f.inputs] for p in points(f, domain, 4, seed=rng.random())]
    found += [[rng.choice(SPECIALS) for _ in f.inputs] for _ in range(16)]
    for values in found:
        calls, trace_calls = exact.calls, exact_trace.calls
        expected = outcome(f.value_and_grad, *values)
        assert outcome(gradient, values) == expected, values
        traced_expected = outcome(trace, *values)
        assert outcome(traced, values) == traced_expected, values
        if expected[0] == "EvaluationError":
            assert outcome(flat, values) == expected, values
            continue
        value, grads = expected
        assert outcome(flat, values) == (value, [(k, g) for k, (_, g) in enumerate(grads)])
        assert exact.calls == calls, values  # the sweep fails only where the code fails
        if traced_expected[0] != "EvaluationError":
            assert exact_trace.calls == trace_calls, values


def test_which_programs_are_swept():
    """Long programs are swept (with branches too); short ones are not."""
    long_chain = "tanh(" * 10001 + "x" + ")" * 10001
    assert sweepable(exprgrad.compile(long_chain).forward_program)
    assert not sweepable(exprgrad.compile("tanh(tanh(x))").forward_program)
    branch = "where(x > 0, log(x), -x) + " + long_chain
    assert sweepable(exprgrad.compile(branch).forward_program)
    for formula in (long_chain, branch):
        f = exprgrad.compile(formula)
        assert f._program is None  # compile() made no gradient program: the sweep needs none
        f.value_and_grad(x=0.5)
        f.value_and_grad(x=-0.5)  # (log(x) not taken)
        assert f._program is None
        assert not f.value_and_grad.tiered.compiled


def long_formula(seed: int) -> str:
    """random_long_formula without its branches: every kind of op, min/max, a long chain."""
    return random_long_formula(seed, 3500).replace("where(", "min(").replace(" > ", ", ")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_random_programs_swept_and_compiled_agree(monkeypatch, seed):
    """With branches (seed 3: a where in some statements, each a region) and without."""
    formula = random_long_formula(seed, 3500) if seed == 3 else long_formula(seed)
    assert sweepable(exprgrad.compile(formula).forward_program)
    on_sweep = first_calls_and_code_agree(monkeypatch, formula, seed)
    assert on_sweep._program is None
    # the source is the gradient program's, made when asked for
    assert "def value_and_grad" in on_sweep.source


def test_a_failing_rule_hands_the_call_to_the_gradient_program(monkeypatch):
    """sqrt(x) at x = 0 is 0; its rule g / (2*out) divides by zero: the generated code's
    error word for word, from the gradient program's tape."""
    formula = " + ".join(f"{k + 1}*sqrt(x{k % 5})*x{(k + 1) % 5}" for k in range(4000))
    f = exprgrad.compile(formula)
    assert sweepable(f.forward_program)
    at = {f"x{k}": 1.0 + k for k in range(5)}
    assert not f.value_and_grad.tiered.compiled
    monkeypatch.setattr(tape, "COMPILE_SECONDS_PER_OP", 0.0)
    compiled = exprgrad.compile(formula)
    compiled.value_and_grad(**at)
    assert compiled.value_and_grad.tiered.compiled
    assert outcome(f.value_and_grad, **at) == outcome(compiled.value_and_grad, **at)
    at["x3"] = 0.0
    got = outcome(f.value_and_grad, **at)
    assert got == outcome(compiled.value_and_grad, **at)
    assert got[0] == "EvaluationError"
    assert "sqrt(x3)" in got[1]
    assert not f.value_and_grad.tiered.compiled


def test_a_long_circuit_of_gates_is_swept():
    """A chain of tanh gates: compute() and backprop() by sweep, the values of central
    differences, every gate's gradient."""
    from exprgrad import gates

    x = gates.Param(0.3, name="x")
    out = x
    for _ in range(4000):  # (12,000 operations)
        out = gates.make("tanh", out * 1.5 + 0.1)
    value = out.compute()
    out.backprop()
    assert not out._circuit._trace.tiered.compiled
    assert out._circuit.function._program is None
    h = 1e-6

    def at(v: float) -> float:
        y = v
        for _ in range(4000):
            y = math.tanh(y * 1.5 + 0.1)
        return y

    assert value == at(0.3)
    assert x.grad == pytest.approx((at(0.3 + h) - at(0.3 - h)) / (2 * h), rel=1e-6)


def test_a_long_circuit_of_gates_is_swept_then_compiled_gate_by_gate(monkeypatch):
    """Every gate's value and gradient from the sweep are the compiled trace's, bit for bit."""
    function = long_circuit_agrees_once_compiled(monkeypatch, 5000)
    assert sweepable(function.forward_program)


def test_a_long_flat_is_swept_with_fixed_inputs(monkeypatch):
    formula = long_formula(3)
    f = exprgrad.compile(formula)
    point = [0.3, -0.2, 0.7, 1.1, -0.9, 0.4]
    value, grads = f.value_and_grad(*point)
    fun = f.flat()
    assert not fun._call.tiered.compiled
    assert fun(point) == (value, list(grads.values()))
    at = dict(zip(f.inputs, point, strict=True))
    fixed = f.flat(["x3", "x1"], **{k: v for k, v in at.items() if k not in ("x1", "x3")})
    assert fixed([at["x3"], at["x1"]]) == (value, [grads["x3"], grads["x1"]])
    assert "def flat(_v):" in fun.source
    monkeypatch.setattr(tape, "COMPILE_SECONDS_PER_OP", 0.0)
    g = exprgrad.compile(formula).flat()
    assert g(point) == fun(point)
    assert g._call.tiered.compiled
    assert g(point) == fun(point)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.lists(st.sampled_from(SPECIALS), min_size=3, max_size=3), st.booleans())
def test_random_programs_swept_bit_for_bit(source, values, optimize):
    """Random formulas over every primitive (constants under each, shared intermediates,
    comparisons in wheres) at IEEE specials: the sweep's value_and_grad and trace are
    the generated code's."""
    f = exprgrad.compile(source, optimize=optimize)
    point = values[: len(f.inputs)]
    gradient, exact = swept(f, "value_and_grad", f.program, f.wrt)
    rows = trace_rows(f.forward_program)
    every = pipeline.gradient(f.forward_program, f.inputs, f._fold_with, every_adjoint=True)
    traced, _ = swept(f, "trace", every, f.inputs, rows)
    trace, _, _ = f._trace_function()
    for at in (point, [-v for v in point]):
        calls = exact.calls
        expected = outcome(f.value_and_grad, *at)
        assert outcome(gradient, at) == expected, at
        assert outcome(traced, at) == outcome(trace, *at), at
        if expected[0] != "EvaluationError":
            assert exact.calls == calls, at


def test_a_long_formula_of_arrays_makes_its_gradient_program_for_the_lists():
    """The Python backend hands a formula of arrays to nested lists (ListFunction), which
    needs the gradient program from compile(), however long the formula."""
    f = exprgrad.compile(" + ".join(f"sum(X*{k}.5)" for k in range(4000)))
    assert f.program is not None
    value, grads = f.value_and_grad(X=[1.0, 2.0])
    assert value == sum(3 * (k + 0.5) for k in range(4000))
    assert grads["X"] == [sum(k + 0.5 for k in range(4000))] * 2


def test_a_swept_function_is_freed_without_the_collector():
    """The swept calls reach their Function's gradient program through a weak reference:
    no cycle keeps a long formula's programs alive until the collector runs."""
    import gc
    import weakref

    f = exprgrad.compile("tanh(" * 10001 + "x" + ")" * 10001)
    f.value_and_grad(x=0.5)
    f.flat()([0.5])
    f._trace_function()
    freed = weakref.ref(f)
    gc.disable()
    try:
        del f
        assert freed() is None
    finally:
        gc.enable()
