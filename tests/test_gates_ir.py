"""A circuit's IR built from its gates (frontends/circuit_ir.py) is the one lowering makes of
its formula text, field by field, and its gates get the numbers the text's trace gives them.

Every circuit the gates and sugar tests build is checked as it compiles, and random
circuits of every gate primitive, shared gates, signed numbers and named leaves too. The
reference for a gate's trace rows is the way they were found before the IR was built from
the gates: the parser's hash-consing replayed over the text's forward program.
"""

from __future__ import annotations

import inspect
import math
import random

import pytest
import test_gates
import test_sugar

import exprgrad
from exprgrad import gates
from exprgrad.api import compile_unfolded
from exprgrad.core.ir import CONST, INPUT, Op, Program, op_key
from exprgrad.core.lower import lower
from exprgrad.core.parsing import parse
from exprgrad.core.primitives import COMMUTATIVE, COMPARISON_NAMES, FUNCTIONS
from exprgrad.frontends import circuit_ir, circuit_text
from exprgrad.gates import Constant, Param

_OPERATIONS = sorted(name for name in gates.GATES if name not in ("param", "const"))
_COMPARISONS = sorted(COMPARISON_NAMES)
_NUMBERS = (0.0, -0.0, 1.0, -1.0, 2.0, -2.5, 0.5, 1e-3, -7.25e-5, 1e300, -1e300, 5e-324, 3.0)


def assert_same_program(built: Program, parsed: Program) -> None:
    """Equal field by field, constants bit for bit (0.0 == -0.0 for an Op's ==)."""
    assert built.source == parsed.source
    assert built.inputs == parsed.inputs
    assert built.value == parsed.value
    assert list(built.assigned.items()) == list(parsed.assigned.items())
    assert (built.grads, built.grad_of, built.adjoints) == ({}, {}, {})
    assert (parsed.grads, parsed.grad_of, parsed.adjoints) == ({}, {}, {})
    assert len(built.ops) == len(parsed.ops)
    for i, (mine, theirs) in enumerate(zip(built.ops, parsed.ops, strict=True)):
        assert (mine.prim, mine.args, mine.name) == (theirs.prim, theirs.args, theirs.name), i
        assert repr(mine.value) == repr(theirs.value), i
        assert (mine.span, mine.in_gradient, mine.copy) == (theirs.span, False, 0), i


def _replayed_ops(gates_: list, names: dict, forward: Program) -> dict:
    """Each gate's ops in the text's forward program, as they were found before: by the
    ops of its operands, replaying the parser's hash-consing (copies of an op: all its)."""
    index: dict[tuple, int] = {}
    first: list[int] = []
    copies: dict[int, list[int]] = {}
    for i, op in enumerate(forward.ops):
        args = tuple(first[a] for a in op.args)
        key = _key(op.prim, args) if op.args else op_key(op)
        same = index.setdefault(key, i)
        first.append(same)
        copies.setdefault(same, []).append(i)

    def number(value: float) -> int:  # written -v: neg of a constant
        if math.copysign(1.0, value) < 0:
            return index[op_key(Op("neg", (number(-value),)))]
        return index[op_key(Op(CONST, value=value))]

    ops: dict = {}
    for gate in gates_:
        if gate._prim in ("param", "const"):
            ops[gate] = index[op_key(Op(INPUT, name=names[gate]))]
        else:
            args = tuple(ops[a] if isinstance(a, gates.Gate) else number(a) for a in gate._args)
            ops[gate] = index[_key(gate._prim, args)]
    return {gate: copies[op] for gate, op in ops.items()}


def _key(prim: str, args: tuple[int, ...]) -> tuple:
    return (prim, tuple(sorted(args)) if prim in COMMUTATIVE and len(args) > 1 else args)


def check_circuit(output: gates.Gate) -> gates._Circuit:
    """The circuit's IR against its text's, its gates' rows against the replayed ones, and
    (computed) its gates' values and gradients against the text's own trace."""
    circuit = output._circuit_here()
    order = circuit_text.postorder(output)
    names = circuit_text.leaf_names([g for g in order if g._prim in ("param", "const")])
    parsed = lower(parse(circuit.text))
    assert_same_program(circuit.function.lowered_program, parsed)
    text_function = compile_unfolded(circuit.text)  # the text path, compiled anew
    _, rows, _ = text_function._trace_function()
    row_of = {op: row for row, op in enumerate(rows)}
    replayed = _replayed_ops(order, names, text_function.forward_program)
    expected = [
        (gate, tuple(row_of[i] for i in replayed[gate]))
        for gate in order
        if gate._prim not in COMPARISON_NAMES
    ]
    assert [(id(g), rows) for g, rows in circuit.gates] == [(id(g), r) for g, r in expected]
    return circuit


def check_numbers(output: gates.Gate) -> None:
    """compute() and backprop() give each gate what the text's own trace gives its rows,
    bit for bit (or both fail)."""
    circuit = check_circuit(output)
    text_function = compile_unfolded(circuit.text)
    trace, _, _ = text_function._trace_function()
    try:
        value, values, adjoints = trace(*circuit.arguments())
    except exprgrad.EvaluationError:
        with pytest.raises(exprgrad.EvaluationError):
            output.compute()
        return
    try:
        assert _same(output.compute(), value)
    except exprgrad.EvaluationError:
        assert not math.isfinite(value)
    for gate, rows in circuit.gates:
        computed = next((values[r] for r in rows if values[r] is not None), None)
        assert _same(gate.val, computed), (circuit.text, gate)
    if not math.isfinite(value):
        return
    output.backprop()
    for gate, rows in circuit.gates:
        total = adjoints[rows[0]]
        for row in rows[1:]:  # a gate computed on several lines: the sum of their adjoints
            total = total + adjoints[row]
        assert _same(gate.grad, total), (circuit.text, gate)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return repr(a) == repr(b)


# --- every circuit the gates and sugar tests build ------------------------------------------


def _plain_tests(module) -> list:
    return [
        f
        for name, f in sorted(vars(module).items())
        if name.startswith("test_") and not inspect.signature(f).parameters
    ]


@pytest.mark.parametrize(
    "test", _plain_tests(test_gates) + _plain_tests(test_sugar), ids=lambda f: f.__name__
)
def test_every_circuit_of_the_gates_tests_lowers_as_its_text(test, monkeypatch):
    made = []
    init = gates._Circuit.__init__

    def checked(self, output):
        init(self, output)
        made.append(output)

    monkeypatch.setattr(gates._Circuit, "__init__", checked)
    test()
    monkeypatch.undo()  # (check_circuit makes circuits too)
    for output in made:
        output._circuit = None  # (check_circuit compiles it again, from its gates)
        check_circuit(output)


# --- random circuits -----------------------------------------------------------------------


def random_circuit(rng: random.Random) -> gates.Gate:
    """Leaves (some named, some sharing values), every primitive, comparisons as where's
    conditions, numbers of both signs on either side, and gates used again (p1 + p2 beside
    p2 + p1, diamonds, a statement's gate used inside another statement)."""
    values = (0.5, -1.5, 2.0, 0.0, -0.0, 1e-3, 3.0)
    leaves: list[gates.Gate] = []
    for k in range(rng.randint(1, 4)):
        kind = rng.choice((Param, Param, Constant))
        name = rng.choice((None, None, f"w{k}", f"h{k + 1}", f"p{k + 2}", "c1"))
        leaves.append(kind(rng.choice(values), name=name))
    names = [leaf._name for leaf in leaves if leaf._name]
    if len(set(names)) < len(names):  # two leaves of one name: refused, tested elsewhere
        for leaf in leaves:
            leaf._name = None
    pool: list[gates.Gate] = list(leaves)

    def operand(gate_only: bool = False):
        if not gate_only and rng.random() < 0.25:
            return rng.choice(_NUMBERS)
        return rng.choice(pool[-6:] if rng.random() < 0.6 else pool)

    for _ in range(rng.randint(1, 14)):
        prim = rng.choice(_OPERATIONS)
        if prim in COMPARISON_NAMES:
            continue  # (made as where's condition below)
        arity = FUNCTIONS[prim].arity if prim in FUNCTIONS else 2
        if prim == "neg":
            arity = 1
        if prim == "where":
            condition = gates.make(rng.choice(_COMPARISONS), operand(), operand(True))
            made = gates.make("where", condition, operand(), operand())
        elif arity is None:
            made = gates.make(prim, *(operand() for _ in range(rng.randint(2, 3))))
        else:
            args = [operand(k == 0) for k in range(arity)]
            rng.shuffle(args)
            made = gates.make(prim, *args)
            if prim in ("add", "mul") and rng.random() < 0.5:  # its mirror image too
                made = gates.make("add", made, gates.make(prim, *reversed(args)))
        pool.append(made)
    output = pool[-1]
    if rng.random() < 0.4:
        output = output * operand(True) + output
    return output


@pytest.mark.parametrize("seed", range(300))
def test_random_circuits_lower_as_their_text(seed):
    check_numbers(random_circuit(random.Random(seed)))


def test_a_chain_with_statements_and_a_copy_untangle_makes():
    a, b, c = Param(2.0, name="a"), Param(5.0), Constant(-1.0)
    log_a = gates.make("log", a)
    shared = gates.make("sqrt", b) * -2.0 + c  # (log(a) outside a branch needs no copy)
    out = gates.make("where", gates.make("where", b < 3, c, gates.make("exp", log_a)) > 0, log_a, 0)
    out = out * shared + shared
    circuit = check_circuit(out)
    assert any(len(rows) == 2 for _, rows in circuit.gates)  # log(a): two lines
    assert circuit.text.startswith("h1 = log(a)\nh2 = sqrt(p1) * -2 + c1\n")
    check_numbers(out)


@pytest.mark.parametrize("value", [-0.0, 0.0, -1.0, -2.5e-300, 1e300, -1e16, 123456789.0])
def test_signed_numbers_in_every_place(value):
    p = Param(1.5)
    for made in (p + value, value + p, p**value, value**p, -gates.make("neg", value) + p):
        check_numbers(gates.make("tanh", made) * value - gates.make("max", value, p, value))


def test_circuits_the_text_refuses_are_the_texts_errors():
    a, b = Param(1.0, name="a"), Param(2.0, name="α")
    product = a * b
    with pytest.raises(exprgrad.FormulaError):
        product.compute()
    assert not circuit_ir.lowerable(product, [a, b, product], {a: "a", b: "α"})
    for output in (a < 3.0, (a < 3.0) + 1, gates.make("where", (a < 2.0) > 0, 1, 2)):
        with pytest.raises(exprgrad.FormulaError, match="a comparison can only be"):
            output.compute()


def test_a_statement_over_an_op_made_before_is_named_by_it():
    # p2 + p1 is the op p1 + p2 made inside h1's text: h2 = p2 + p1 names it, as lowering does
    p1, p2 = Param(0.5), Param(-1.5)
    first = gates.make("tanh", p1 + p2)
    mirror = p2 + p1
    out = first * first + mirror * mirror
    circuit = check_circuit(out)
    assert circuit.text.startswith("h1 = tanh(p1 + p2)\nh2 = p2 + p1\n")
    lowered = circuit.function.lowered_program
    assert lowered.ops[lowered.assigned["h2"]].name == "h2"
    check_numbers(out)
