"""regions.untangle: an op whose every use is tangled waits for its users' copies (it was
copied again and again until the round limit, and the branch not taken then ran), and a
4,000-statement chain of where, relu, min and max compiles in seconds (minutes when each
round copied one op), its value and gradient agreeing with tests/independent.py."""

from __future__ import annotations

import math
import random
import sys
import time

import independent
import pytest

import exprgrad
from exprgrad.backends.python.evaluate import FOLD
from exprgrad.core import pipeline, regions
from exprgrad.errors import MissingDependencyError

# log(x) is read only by exp(a), needed when y > 0 or when b > 0 (b computed from it):
# copying log for its one use changes nothing; once exp(a) has a copy for b > 0, log has
# two uses, and a copy of its own for the one under b > 0
EVERY_USE_TANGLED = "a = log(x)\nb = where(y > 0, exp(a), y)\nwhere(b > 0, exp(a), b)"


def backends() -> list[str]:
    try:
        exprgrad.compile("x", backend="c")
    except MissingDependencyError:  # no C compiler here
        return ["python"]
    return ["python", "c"]


@pytest.mark.parametrize("backend", backends())
def test_an_op_whose_every_use_is_tangled_waits_for_its_users_copies(backend):
    forward = pipeline.forward_and_gradient(EVERY_USE_TANGLED, (), FOLD).forward
    assert sorted(op.prim for op in forward.ops if op.copy) == ["exp", "log"]
    f = exprgrad.compile(EVERY_USE_TANGLED, backend=backend)
    for (x, y), expected in [
        ((-1.0, -1.0), (-1.0, {"x": 0.0, "y": 1.0})),  # log(-1) in no branch taken
        ((2.0, -1.0), (-1.0, {"x": 0.0, "y": 1.0})),
        ((2.0, 1.0), (2.0, {"x": 1.0, "y": 0.0})),
    ]:
        value, gradient = f.value_and_grad(x=x, y=y)
        assert value == pytest.approx(expected[0], rel=1e-15), (x, y)
        assert gradient == pytest.approx(expected[1], rel=1e-15), (x, y)
    with pytest.raises(exprgrad.EvaluationError):
        f(x=-1.0, y=1.0)  # the branch taken reads log(-1)


STATEMENTS = 4000
TEMPLATES = [
    "relu({p})*0.5 + {q}",
    "where({p} > {q}, tanh({r}), {p}*{q})",
    "min({p}, {q}, {r}) - 0.25",
    "max({p}, sin({q}))*0.9",
    "{p}*0.3 + {q}*0.3 + {r}*0.3",
    "abs({p})/(1 + {q}*{q})",
    "where({p} < 0, exp(-{p}*{p}), log(1 + {p}*{p}))",
    "sigmoid({p}) - {r}",
]
POINTS = [
    [0.3, -1.2, 0.7, 1.9, -0.4, 0.05, -2.2, 1.1],
    [-0.8, 0.45, 1.3, -1.7, 0.9, -0.15, 0.6, -1.05],
    [1.25, 0.2, -0.55, 0.35, -1.4, 2.1, -0.7, 0.85],
]


def chain(statements: int, seed: int = 7) -> str:
    """Statements a_i reading three of x0..x7 and the 28 latest a's; the value sums the
    last ten. Each where's branch is read under conditions computed from other branches."""
    rng = random.Random(seed)
    names = [f"x{i}" for i in range(8)]
    lines = []
    for i in range(statements):
        pool = names[:8] + names[-28:]
        p, q, r = (rng.choice(pool) for _ in range(3))
        lines.append(f"a{i} = " + rng.choice(TEMPLATES).format(p=p, q=q, r=r))
        names.append(f"a{i}")
    lines.append(" + ".join(names[-10:]))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def compiled() -> tuple[str, exprgrad.Function, float]:
    text = chain(STATEMENTS)
    start = time.perf_counter()
    function = exprgrad.compile(text)
    return text, function, time.perf_counter() - start


@pytest.fixture(scope="module")
def reference(compiled) -> independent.Program:
    return independent.parse(compiled[0])


def test_a_long_chain_of_branches_compiles_in_seconds(compiled):
    text, _, seconds = compiled
    assert seconds < 60, f"{STATEMENTS} statements compiled in {seconds:.1f} s"
    forward = pipeline.forward_and_gradient(text, (), FOLD).forward
    copies = sum(op.copy > 0 for op in forward.ops)
    assert 0 < copies < 100, copies  # some ops need a copy; before, 10,757 were made
    assert regions.untangle(forward) is forward  # the fixpoint: nothing left to copy


@pytest.fixture
def deep_stack():
    """The independent evaluator recurses along the chain of statements."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    yield
    sys.setrecursionlimit(limit)


@pytest.mark.parametrize("values", POINTS)
def test_its_value_and_gradient_agree_with_the_independent_evaluator(
    compiled, reference, values, deep_stack
):
    function, program = compiled[1], reference
    point = dict(zip([f"x{i}" for i in range(8)], values, strict=True))
    value, gradient = function.value_and_grad(**point)
    expected = float(independent.mp_evaluate(program, point).value)
    assert math.isfinite(value) and math.isclose(value, expected, rel_tol=1e-9), (value, expected)
    for name in function.wrt:
        slope = independent.mp_gradient(program, point, name)
        assert math.isfinite(gradient[name])
        assert math.isclose(gradient[name], slope, rel_tol=1e-9, abs_tol=1e-12), (name, slope)
