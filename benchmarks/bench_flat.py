"""f.flat: the per-call cost of value and gradient over one vector, against hand-written code.

scipy.optimize.minimize(fun, x0, jac=True) calls fun(x) with a numpy vector and wants
(value, gradient vector). This times one such call of f.flat(...) for formulas of 200
inputs (and a 2,000-input one), against a hand-written Python function of the same list
that returns (value, tuple of gradients): what a careful person would write with `math`,
loops over the terms (as benchmarks/bench.py's hand-written functions do). Each case
first checks that both agree (rel tol 1e-9). Times are the best of many short timeit
runs, exprgrad and hand-written alternating; the ratio is exprgrad's time over the
hand-written one's. Rows:

    list -> array   fun(list): the gradient comes back as a numpy array (the default)
    array -> array  fun(numpy vector), as scipy calls it: also x.tolist() first
    generated       the generated flat() behind fun, called with the list: what the
                    arithmetic costs as exprgrad writes it, without the vector handling
    hand-written    hand(list) -> (value, tuple)

Run by hand from the repository root (it is not a test):

    python benchmarks/bench_flat.py
"""

from __future__ import annotations

import math
import platform
import random
import sys
import timeit

import numpy as np

import exprgrad

REL_TOL = 1e-9
TERMS = 100  # logistic loss of a 100-weight linear model: 200 inputs


def logistic_formula(terms: int) -> str:
    return "softplus(-(" + " + ".join(f"w{i}*x{i}" for i in range(terms)) + "))"


def logistic_hand(v):
    """v = [w0, x0, w1, x1, ...] (the formula's order of first appearance)."""
    w, x = v[0::2], v[1::2]
    s = 0.0
    for wi, xi in zip(w, x, strict=True):
        s += wi * xi
    value = math.log1p(math.exp(-s)) if s > 0 else -s + math.log1p(math.exp(s))
    ds = -1.0 / (1.0 + math.exp(s))  # d softplus(-s) / ds = -sigmoid(-s)
    grads = []
    for wi, xi in zip(w, x, strict=True):
        grads.append(ds * xi)
        grads.append(ds * wi)
    return value, tuple(grads)


def fixed_hand(features):
    """Logistic loss over the weights alone, the features fixed."""

    def hand(w):
        s = 0.0
        for wi, xi in zip(w, features, strict=True):
            s += wi * xi
        value = math.log1p(math.exp(-s)) if s > 0 else -s + math.log1p(math.exp(s))
        ds = -1.0 / (1.0 + math.exp(s))
        return value, tuple([ds * xi for xi in features])

    return hand


def squares_formula(terms: int) -> str:
    return " + ".join(f"(p{i} - {0.01 * i!r})**2" for i in range(terms))


def squares_hand(terms: int):
    targets = [0.01 * i for i in range(terms)]

    def hand(p):
        value = 0.0
        grads = []
        for pi, ti in zip(p, targets, strict=True):
            d = pi - ti
            value += d * d
            grads.append(2.0 * d)
        return value, tuple(grads)

    return hand


def best(function, argument, number: int, repeat: int) -> float:
    return min(timeit.repeat(lambda: function(argument), number=number, repeat=repeat)) / number


def agree(a, b) -> bool:
    return all(
        math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-12) for x, y in zip(a, b, strict=True)
    )


def row(name: str, f: exprgrad.Function, fun, hand, vector: list[float], rest=()) -> None:
    value, gradient = fun(vector)
    hand_value, hand_gradient = hand(vector)
    assert agree([value, *gradient], [hand_value, *hand_gradient]), name
    array = np.array(vector)
    generated = f.__dict__["_flat_functions"][f"flat {','.join(fun.names)}"]

    def raw(x):
        return generated(*x, *rest)

    number = max(1, 20_000 // len(vector))
    times = {"list -> array": [], "array -> array": [], "generated": [], "hand-written": []}
    for _ in range(5):  # alternate, so load on the machine hits all alike
        times["list -> array"].append(best(fun, vector, number, 5))
        times["array -> array"].append(best(fun, array, number, 5))
        times["generated"].append(best(raw, vector, number, 5))
        times["hand-written"].append(best(hand, vector, number, 5))
    hand_time = min(times["hand-written"])
    print(f"\n{name} ({len(vector)} in the vector)")
    for label, found in times.items():
        t = min(found)
        print(f"  {label:15} {t * 1e6:9.1f} us   {t / hand_time:5.2f}x")


def main() -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, numpy {np.__version__}")
    rng = random.Random(0)

    f = exprgrad.compile(logistic_formula(TERMS))
    vector = [rng.uniform(-0.5, 0.5) for _ in f.wrt]
    row("logistic loss, weights and features", f, f.flat(), logistic_hand, vector)

    features = {f"x{i}": rng.uniform(-1.0, 1.0) for i in range(2 * TERMS)}
    f = exprgrad.compile(logistic_formula(2 * TERMS))
    weights = [f"w{i}" for i in range(2 * TERMS)]
    fun = f.flat(weights, **features)
    hand = fixed_hand([features[f"x{i}"] for i in range(2 * TERMS)])
    rest = [features[f"x{i}"] for i in range(2 * TERMS)]
    row("logistic loss, 200 weights, 200 features fixed", f, fun, hand, [0.01] * len(weights), rest)

    f = exprgrad.compile(squares_formula(2 * TERMS))
    vector = [rng.uniform(-1.0, 1.0) for _ in f.wrt]
    row("sum of squares", f, f.flat(), squares_hand(2 * TERMS), vector)

    f = exprgrad.compile(squares_formula(2000))
    vector = [rng.uniform(-1.0, 1.0) for _ in f.wrt]
    row("sum of squares", f, f.flat(), squares_hand(2000), vector)


if __name__ == "__main__":
    sys.exit(main())
