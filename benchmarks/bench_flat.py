"""f.flat: the per-call cost of value and gradient over one vector, against hand-written code.

scipy.optimize.minimize(fun, x0, jac=True) calls fun(x) with a numpy vector and wants
(value, gradient vector). This times one such call of f.flat(...) for formulas of 200
inputs (and a 2,000-input one), against a hand-written Python function of the same list
that returns (value, tuple of gradients): what a careful person would write with `math`,
loops over the terms (as benchmarks/bench.py's hand-written functions do). Each case
first checks that both agree (rel tol 1e-9). Times are the best of many short timeit
runs, exprgrad and hand-written alternating; the ratio is exprgrad's time over the
hand-written one's. Rows:

    list -> list    fun(list): the gradient comes back as a list (fun is the generated
                    code itself, which unpacks the list)
    array -> array  fun(numpy vector), as scipy calls it: x.tolist() first, the gradient
                    a numpy array
    hand-written    hand(list) -> (value, tuple)

Then the table of the anchor formulas F1-F6 (anchor_table): fun(list) against a
hand-written function of a list returning (value, list), and fun(numpy vector) against
the same hand-written function of x.tolist() whose gradient becomes an array.

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


def row(name: str, fun, hand, vector: list[float]) -> None:
    value, gradient = fun(vector)
    hand_value, hand_gradient = hand(vector)
    assert agree([value, *gradient], [hand_value, *hand_gradient]), name
    array = np.array(vector)
    number = max(1, 20_000 // len(vector))
    times = {"list -> list": [], "array -> array": [], "hand-written": []}
    for _ in range(5):  # alternate, so load on the machine hits all alike
        times["list -> list"].append(best(fun, vector, number, 5))
        times["array -> array"].append(best(fun, array, number, 5))
        times["hand-written"].append(best(hand, vector, number, 5))
    hand_time = min(times["hand-written"])
    print(f"\n{name} ({len(vector)} in the vector)")
    for label, found in times.items():
        t = min(found)
        print(f"  {label:15} {t * 1e6:9.1f} us   {t / hand_time:5.2f}x")


# --- the anchor formulas F1-F6, each against a hand-written function of a sequence -------------
# Each hand-written function takes the vector as a list, in the order its names say, and
# returns (value, list of gradients): what a careful person writes for scipy with `math`.

HINGE = "min(1, label*(a*x + b*y + c))"
HINGE_NAMES = ("a", "b", "c", "x", "y", "label")


def hinge_hand(v):
    a, b, c, x, y, label = v
    s = a * x + b * y + c
    z = label * s
    value, dz = (z, 1.0) if z < 1.0 else (1.0, 0.0)
    ds = dz * label
    return value, [ds * x, ds * y, ds, ds * a, ds * b, dz * s]


NEURON = "sigmoid(a*x + b*y + c)"
NEURON_NAMES = ("a", "b", "c", "x", "y")


def neuron_hand(v):
    a, b, c, x, y = v
    s = 1.0 / (1.0 + math.exp(-(a * x + b * y + c)))
    ds = s * (1.0 - s)
    return s, [ds * x, ds * y, ds, ds * a, ds * b]


POLYNOMIAL = "3*x**2 - 2*x + 1"  # the guide's "minima of a polynomial"


def polynomial_hand(v):
    (x,) = v
    return 3.0 * x * x - 2.0 * x + 1.0, [6.0 * x - 2.0]


NET = """n1 = relu(a1*x + b1*y + c1)
n2 = relu(a2*x + b2*y + c2)
n3 = relu(a3*x + b3*y + c3)
score = a4*n1 + b4*n2 + c4*n3 + d4
max(0, 1 - label*score)"""
NET_NAMES = tuple("a1 b1 c1 a2 b2 c2 a3 b3 c3 a4 b4 c4 d4 x y label".split())


def net_hand(v):
    a1, b1, c1, a2, b2, c2, a3, b3, c3, a4, b4, c4, d4, x, y, label = v
    n1 = max(0.0, a1 * x + b1 * y + c1)
    n2 = max(0.0, a2 * x + b2 * y + c2)
    n3 = max(0.0, a3 * x + b3 * y + c3)
    score = a4 * n1 + b4 * n2 + c4 * n3 + d4
    margin = 1.0 - label * score
    loss, dscore, dlabel = (margin, -label, -score) if margin > 0.0 else (0.0, 0.0, 0.0)
    dz1 = dscore * a4 if n1 > 0.0 else 0.0
    dz2 = dscore * b4 if n2 > 0.0 else 0.0
    dz3 = dscore * c4 if n3 > 0.0 else 0.0
    grads = [dz1 * x, dz1 * y, dz1, dz2 * x, dz2 * y, dz2, dz3 * x, dz3 * y, dz3]
    grads += [dscore * n1, dscore * n2, dscore * n3, dscore]
    grads += [a1 * dz1 + a2 * dz2 + a3 * dz3, b1 * dz1 + b2 * dz2 + b3 * dz3, dlabel]
    return loss, grads


DEPTH = 50  # h_i = tanh(w_i*h_(i-1) + b_i), h_0 = x
CHAIN = (
    "\n".join(
        ["h1 = tanh(w1*x + b1)"]
        + [f"h{i} = tanh(w{i}*h{i - 1} + b{i})" for i in range(2, DEPTH + 1)]
    )
    + f"\nh{DEPTH}"
)
CHAIN_NAMES = ("x",) + tuple(name for i in range(1, DEPTH + 1) for name in (f"w{i}", f"b{i}"))


def chain_hand(v):
    hs = [v[0]]
    for i in range(1, 2 * DEPTH, 2):
        hs.append(math.tanh(v[i] * hs[-1] + v[i + 1]))
    grads = [0.0] * len(v)
    g = 1.0
    for i in range(DEPTH - 1, -1, -1):
        h = hs[i + 1]
        dz = g * (1.0 - h * h)
        grads[2 * i + 1] = dz * hs[i]
        grads[2 * i + 2] = dz
        g = dz * v[2 * i + 1]
    grads[0] = g
    return hs[-1], grads


def anchors() -> list[tuple[str, str, tuple[str, ...] | None, object]]:
    """(name, formula, the vector's names (None: f.wrt), hand-written function)."""
    return [
        ("F1 hinge", HINGE, HINGE_NAMES, hinge_hand),
        ("F2 neuron", NEURON, NEURON_NAMES, neuron_hand),
        ("F3 polynomial", POLYNOMIAL, ("x",), polynomial_hand),
        ("F4 2-layer net", NET, NET_NAMES, net_hand),
        ("F5 logistic, 100 weights", logistic_formula(TERMS), None, logistic_hand),
        (f"F6 tanh chain, {DEPTH} deep", CHAIN, CHAIN_NAMES, chain_hand),
    ]


def anchor_table(rounds: int = 5) -> None:
    """flat() on F1-F6 against the hand-written functions: a list in (list out), and a numpy
    vector in (array out) against the hand-written function of x.tolist() whose gradient
    list becomes an array, as scipy calls it."""
    rng = random.Random(1)
    print("\n| formula | hand list | flat list | flat/hand | hand array | flat array | flat/hand |")
    print("|---|---|---|---|---|---|---|")
    for name, formula, names, hand in anchors():
        f = exprgrad.compile(formula)
        fun = f.flat(names) if names else f.flat()
        vector = [rng.uniform(-1.0, 1.0) for _ in fun.names]
        if name.startswith("F1"):
            vector[-1] = 1.0  # the label: the hinge's live side
        value, gradient = fun(vector)
        hand_value, hand_gradient = hand(vector)
        assert agree([value, *gradient], [hand_value, *hand_gradient]), name
        array = np.array(vector)

        def hand_array(x, hand=hand):
            value, gradient = hand(x.tolist())
            return value, np.array(gradient)

        number = max(1, 50_000 // len(vector))
        pairs = {"hand list": (hand, vector), "flat list": (fun, vector)}
        pairs |= {"hand array": (hand_array, array), "flat array": (fun, array)}
        times = {label: [] for label in pairs}
        for _ in range(rounds):  # alternate, so load on the machine hits all alike
            for label, (function, argument) in pairs.items():
                times[label].append(best(function, argument, number, 5))
        t = {label: min(found) * 1e6 for label, found in times.items()}
        print(
            f"| {name} | {t['hand list']:.2f} | {t['flat list']:.2f} | "
            f"{t['flat list'] / t['hand list']:.2f} | {t['hand array']:.2f} | "
            f"{t['flat array']:.2f} | {t['flat array'] / t['hand array']:.2f} |"
        )


def main() -> None:
    print(f"Python {platform.python_version()} on {platform.machine()}, numpy {np.__version__}")
    rng = random.Random(0)

    f = exprgrad.compile(logistic_formula(TERMS))
    vector = [rng.uniform(-0.5, 0.5) for _ in f.wrt]
    row("logistic loss, weights and features", f.flat(), logistic_hand, vector)

    features = {f"x{i}": rng.uniform(-1.0, 1.0) for i in range(2 * TERMS)}
    f = exprgrad.compile(logistic_formula(2 * TERMS))
    weights = [f"w{i}" for i in range(2 * TERMS)]
    fun = f.flat(weights, **features)
    hand = fixed_hand([features[f"x{i}"] for i in range(2 * TERMS)])
    row("logistic loss, 200 weights, 200 features fixed", fun, hand, [0.01] * len(weights))

    f = exprgrad.compile(squares_formula(2 * TERMS))
    vector = [rng.uniform(-1.0, 1.0) for _ in f.wrt]
    row("sum of squares", f.flat(), squares_hand(2 * TERMS), vector)

    f = exprgrad.compile(squares_formula(2000))
    vector = [rng.uniform(-1.0, 1.0) for _ in f.wrt]
    row("sum of squares", f.flat(), squares_hand(2000), vector)

    anchor_table()


if __name__ == "__main__":
    sys.exit(main())
