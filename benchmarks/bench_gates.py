"""exprgrad's gates in a training loop, against the same loop by hand and against micrograd.

Loop 1 is the program exprgrad grows out of: the linear SVM of Karpathy's Hacker's guide
on six points, 35,000 steps of `choice(dataset)`, `f.compute()`, `f.backprop(0.1)`,
written three ways:

  gates      exprgrad.sugar: param/const gates, min(1, label*(a*x + b*y + c)), compute and
             backprop(0.1) each step (the origin's program, as written)
  hand       exprgrad.compile(...).value_and_grad with the parameters in a dict, each
             gradient added by hand (what a user writes without the gates)
  micrograd  karpathy/micrograd's Value: the graph built anew each step, backward(),
             parameters moved by hand (skipped with a message when micrograd is absent)

Loop 2 is the guide's 2-layer network (3 ReLU neurons, 13 parameters, the hinge) on the
same data, 10,000 steps, the same three ways. Every way draws the same examples from
random.seed(0), and the parameters each way ends with are checked against the hand
loop's before any time is printed (micrograd's hinge picks one side at a tie, exprgrad's
splits it, so they are compared to 1e-9).

Then a long chain, x = param(0.5); g = x; g = g*0.9999 + 0.0001 n times (2n + 1 gates),
computed and backpropagated once in a fresh process: its peak memory (Linux's VmHWM, as
benchmarks/bench.py measures it) and time, beside compiling the same formula text directly
and calling value_and_grad once (the gates' circuit compiles it, and every gate's line too).

Run by hand from the repository root (it is not a test):

    python benchmarks/bench_gates.py            # a first run, then the best of 3 more
    python benchmarks/bench_gates.py --repeat 1
    python benchmarks/bench_gates.py --quick    # one timed run, chains of 10,000 only

The first run of each way includes compiling (the gates' circuit, the hand loop's formula);
the best of the later runs is the loop alone.
"""

from __future__ import annotations

import argparse
import functools
import math
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable

import exprgrad
from exprgrad.sugar import const, minimum, param, relu

DATASET = (
    ((1.2, 0.7), +1.0),
    ((-0.3, 0.5), -1.0),
    ((-3.0, -1.0), +1.0),
    ((0.1, 1.0), -1.0),
    ((3.0, 1.1), -1.0),
    ((2.1, -3.0), +1.0),
)
SVM_STEPS = 35_000
NET_STEPS = 10_000
NET_NAMES = "a1 b1 c1 a2 b2 c2 a3 b3 c3 a4 b4 c4 d4".split()
NET_LR = 0.01

try:
    from micrograd.engine import Value
except ImportError:
    Value = None


# --- loop 1: the linear SVM ------------------------------------------------------------------


@functools.cache
def compiled(formula: str, wrt: tuple[str, ...] | None) -> exprgrad.Function:
    # compiled on the first run only, as the gates' circuits are (exprgrad caches those)
    return exprgrad.compile(formula, wrt=wrt)


def svm_gates() -> dict[str, float]:
    choice = random.choice
    a, b, c = param(1, -2, -1)
    x, y, label = const(0, 0, 0)
    f = minimum(1, label * (a * x + b * y + c))
    for _ in range(SVM_STEPS):
        (x.val, y.val), label.val = choice(DATASET)
        f.compute()
        f.backprop(0.1)
    return {"a": a.val, "b": b.val, "c": c.val}


def svm_hand() -> dict[str, float]:
    choice = random.choice
    value_and_grad = compiled("min(1, label*(a*x + b*y + c))", None).value_and_grad
    p = {"a": 1.0, "b": -2.0, "c": -1.0}
    for _ in range(SVM_STEPS):
        (x, y), label = choice(DATASET)
        _, grads = value_and_grad(x=x, y=y, label=label, **p)
        for k in p:
            p[k] += 0.1 * grads[k]
    return p


def svm_micrograd() -> dict[str, float]:
    choice = random.choice
    a, b, c = Value(1.0), Value(-2.0), Value(-1.0)
    for _ in range(SVM_STEPS):
        (x, y), label = choice(DATASET)
        s = (a * x + b * y + c) * label
        f = s if s.data < 1 else Value(1.0)  # min(1, s): micrograd has no min
        for v in (a, b, c):
            v.grad = 0.0
        f.backward()
        for v in (a, b, c):
            v.data += 0.1 * v.grad
    return {"a": a.data, "b": b.data, "c": c.data}


# --- loop 2: the guide's 2-layer network ---------------------------------------------------


def net_start() -> list[float]:
    rng = random.Random(1)
    return [rng.random() - 0.5 for _ in NET_NAMES]


def net_gates() -> dict[str, float]:
    choice = random.choice
    p = dict(zip(NET_NAMES, param(*net_start(), names=NET_NAMES), strict=True))
    x, y, label = const(0, 0, 0, names="x y label")
    n1 = relu(p["a1"] * x + p["b1"] * y + p["c1"])
    n2 = relu(p["a2"] * x + p["b2"] * y + p["c2"])
    n3 = relu(p["a3"] * x + p["b3"] * y + p["c3"])
    score = p["a4"] * n1 + p["b4"] * n2 + p["c4"] * n3 + p["d4"]
    f = minimum(1, label * score)
    for _ in range(NET_STEPS):
        (x.val, y.val), label.val = choice(DATASET)
        f.backprop(NET_LR)
    return {name: gate.val for name, gate in p.items()}


NET_FORMULA = """
n1 = relu(a1*x + b1*y + c1)
n2 = relu(a2*x + b2*y + c2)
n3 = relu(a3*x + b3*y + c3)
score = a4*n1 + b4*n2 + c4*n3 + d4
min(1, label*score)
"""


def net_hand() -> dict[str, float]:
    choice = random.choice
    value_and_grad = compiled(NET_FORMULA, tuple(NET_NAMES)).value_and_grad
    p = dict(zip(NET_NAMES, net_start(), strict=True))
    for _ in range(NET_STEPS):
        (x, y), label = choice(DATASET)
        _, grads = value_and_grad(x=x, y=y, label=label, **p)
        for k in p:
            p[k] += NET_LR * grads[k]
    return p


def net_micrograd() -> dict[str, float]:
    choice = random.choice
    p = {name: Value(v) for name, v in zip(NET_NAMES, net_start(), strict=True)}
    params = list(p.values())
    for _ in range(NET_STEPS):
        (x, y), label = choice(DATASET)
        n1 = (p["a1"] * x + p["b1"] * y + p["c1"]).relu()
        n2 = (p["a2"] * x + p["b2"] * y + p["c2"]).relu()
        n3 = (p["a3"] * x + p["b3"] * y + p["c3"]).relu()
        score = p["a4"] * n1 + p["b4"] * n2 + p["c4"] * n3 + p["d4"]
        s = score * label
        f = s if s.data < 1 else Value(1.0)
        for v in params:
            v.grad = 0.0
        f.backward()
        for v in params:
            v.data += NET_LR * v.grad
    return {name: v.data for name, v in p.items()}


# --- timing ----------------------------------------------------------------------------------


def timed(
    loop: Callable[[], dict[str, float]], repeat: int
) -> tuple[float, float, dict[str, float]]:
    """The wall time of the first run (compiling included) and the best of the other
    `repeat` runs, each from random.seed(0), and the final parameters."""
    seconds = []
    result: dict[str, float] = {}
    for _ in range(repeat + 1):
        random.seed(0)
        start = time.perf_counter()
        result = loop()
        seconds.append(time.perf_counter() - start)
    return seconds[0], min(seconds[1:]), result


def compare(name: str, steps: int, loops: dict[str, Callable], repeat: int) -> None:
    print(f"\n{name}: {steps:,} steps")
    times: dict[str, float] = {}
    first: dict[str, float] = {}
    results: dict[str, dict[str, float]] = {}
    for way, loop in loops.items():
        if loop is None:
            print(f"  {way:<10} skipped: micrograd is not installed (pip install micrograd)")
            continue
        first[way], times[way], results[way] = timed(loop, repeat)
    reference = results["hand"]
    for way, result in results.items():
        for key, value in reference.items():
            if not math.isclose(result[key], value, rel_tol=1e-9, abs_tol=1e-9):
                sys.exit(f"{name}: {way} ends with {key} = {result[key]!r}, hand with {value!r}")
    hand = times["hand"]
    print(f"  {'':<10} {'best':>9}  {'per step':>12}  {'/ hand':>8}  first run (compiling too)")
    for way, seconds in times.items():
        per_step = seconds / steps * 1e6
        ratio = seconds / hand
        print(
            f"  {way:<10} {seconds:7.3f} s  {per_step:7.2f} µs  {ratio:6.2f} x  {first[way]:7.3f} s"
        )
    if "micrograd" in times:
        print(f"  micrograd / gates: {times['micrograd'] / times['gates']:.1f}")


# --- a long chain: peak memory and time in a fresh process ----------------------------------

# VmHWM, not ru_maxrss (which Linux carries over from the parent through fork and exec)
_CHAIN = """
import sys, time
import exprgrad
from exprgrad.sugar import param

n, way = int(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
if way == "gates":
    x = param(0.5)
    g = x
    for _ in range(n):
        g = g * 0.9999 + 0.0001
    value = g.compute()
    g.backprop()
    grad = x.grad
else:  # the gates' formula text, written directly
    text = "(" * (n - 1) + "x * 0.9999 + 0.0001" + ") * 0.9999 + 0.0001" * (n - 1)
    value, grads = exprgrad.compile(text).value_and_grad(x=0.5)
    grad = grads["x"]
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print(peak, seconds, repr(value), repr(grad))
"""


def chain(steps: int, way: str) -> tuple[float, float, float, float]:
    """Peak megabytes, seconds, value and gradient of a chain of `steps` steps."""
    done = subprocess.run(
        [sys.executable, "-c", _CHAIN, str(steps), way], capture_output=True, text=True, check=True
    )
    peak, seconds, value, grad = done.stdout.split()
    return int(peak) / 1024, float(seconds), float(value), float(grad)


def compare_chains(lengths: tuple[int, ...]) -> None:
    print("\na chain g = g*0.9999 + 0.0001: compute() and backprop() once, in a fresh process")
    print(f"  {'steps':>7}  {'gates':>7}  {'way':<8} {'peak':>9}  {'time':>8}")
    for steps in lengths:
        results = {way: chain(steps, way) for way in ("gates", "text")}
        if results["gates"][2:] != results["text"][2:]:
            sys.exit(f"chain of {steps}: the gates give {results['gates'][2:]}, the text "
                     f"{results['text'][2:]}")  # fmt: skip
        for way, (peak, seconds, _, _) in results.items():
            gates = f"{2 * steps + 1:,}" if way == "gates" else ""
            print(f"  {steps:>7,}  {gates:>7}  {way:<8} {peak:6.0f} MB  {seconds:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the first")
    parser.add_argument("--quick", action="store_true", help="--repeat 1, chains of 10,000 only")
    options = parser.parse_args()
    if options.quick:
        options.repeat = 1
    version, machine = platform.python_version(), platform.machine()
    print(f"Python {version} on {machine}: the first run, then the best of {options.repeat}")
    micrograd = Value is not None
    compare(
        "the guide's linear SVM (the origin's program)",
        SVM_STEPS,
        {"gates": svm_gates, "hand": svm_hand, "micrograd": svm_micrograd if micrograd else None},
        options.repeat,
    )
    compare(
        "the guide's 2-layer network",
        NET_STEPS,
        {"gates": net_gates, "hand": net_hand, "micrograd": net_micrograd if micrograd else None},
        options.repeat,
    )
    compare_chains((10_000,) if options.quick else (10_000, 50_000))


if __name__ == "__main__":
    main()
