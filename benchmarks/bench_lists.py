"""exprgrad's lists backend against micrograd and against exprgrad's numpy backend.

The network: a 2-H-1 tanh MLP with a mean squared error over a batch of B points,

    h = tanh(X @ W1 + b1)
    mean((h @ W2 + b2 - y)**2)

and one minibatch value-and-gradient (the loss and its gradients in W1, b1, W2, b2) per
call, three ways:

  lists      exprgrad.compile(..., backend="python") called with nested Python lists
             (X B x 2, y B, W1 2 x H, b1 H, W2 H, b2 a float): f.value_and_grad(**point)
  numpy      the same formula, backend="numpy", called with numpy arrays
  micrograd  karpathy/micrograd's Value: the network built from Values for the B points
             (the weights as Values, the data as floats, micrograd.nn's neuron sum and
             its demo's loss * (1.0 / B)), then loss.backward(). A real `micrograd` when
             one is importable, else benchmarks/micrograd_engine.py (its engine.py
             vendored, with the lecture's tanh added).

Before anything is timed, at every size, the three are checked to give the same loss and
gradients (rel 1e-9, gradients against their largest entry), so no ratio is against a
wrong answer. Times are per call, the best of --repeats timeit runs of as many calls as
fill 0.2 s, in CPU time of the process (time.process_time: not the time other processes
hold the CPU; --wall for wall-clock time), best-of because they still slow it (the
caches, the memory bus). timeit turns the garbage collector off while it times, which
favours micrograd (its graphs are reference cycles, left for the collector); --gc times
with it on. numpy runs single-threaded (the BLAS thread variables are set to 1 before it
is imported).

The headline is B = 200, H = 16 (the issue's "at least 10x faster than micrograd"); the
table adds B in 50, 200, 1000 and H in 16, 64. Run by hand from the repository root (it
is not a test):

    python benchmarks/bench_lists.py [--repeats 5]
    python benchmarks/bench_lists.py --quick      # B = 200, H = 16 only, 3 repeats
    python benchmarks/bench_lists.py --profile    # where the lists backend's time goes
    python benchmarks/bench_lists.py --gc | --wall  # the collector on; wall-clock time

--profile splits one lists call of the headline size (argument conversion, the generated
code, the finiteness check: exprgrad's private API), times each generated line alone, and
prints cProfile's top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import os
import platform
import pstats
import random
import re
import sys
import time
import timeit

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before numpy starts its BLAS

import numpy as np  # noqa: E402

import exprgrad  # noqa: E402
from exprgrad.backends.lists import function as lists_function  # noqa: E402

try:
    from micrograd.engine import Value

    MICROGRAD = "micrograd (installed)"
except ImportError:
    from micrograd_engine import Value  # benchmarks/ is sys.path[0] when run as a script

    MICROGRAD = "micrograd (vendored, benchmarks/micrograd_engine.py)"

FORMULA = "h = tanh(X @ W1 + b1)\nmean((h @ W2 + b2 - y)**2)"
PARAMS = ("W1", "b1", "W2", "b2")
REL_TOL = 1e-9
HEADLINE = (200, 16)
SIZES = [(batch, hidden) for hidden in (16, 64) for batch in (50, 200, 1000)]


def make_point(batch: int, hidden: int, seed: int = 0) -> dict:
    """Inputs as nested lists of floats: weights scaled 1/sqrt(fan-in), a noisy target."""
    rng = random.Random(seed)
    X = [[rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0)] for _ in range(batch)]
    y = [math.sin(a) * math.cos(b) + rng.gauss(0.0, 0.1) for a, b in X]
    W1 = [[rng.gauss(0.0, 1.0 / math.sqrt(2)) for _ in range(hidden)] for _ in range(2)]
    b1 = [rng.gauss(0.0, 0.1) for _ in range(hidden)]
    W2 = [rng.gauss(0.0, 1.0 / math.sqrt(hidden)) for _ in range(hidden)]
    return {"X": X, "W1": W1, "b1": b1, "W2": W2, "b2": 0.1, "y": y}


# --- micrograd: the same network from Values --------------------------------------------------


def micrograd_value_and_grad(X, W1, b1, W2, b2, y):
    """The loss and the weights' gradients, micrograd's way: a graph of Values, backward()."""
    hidden = len(b1)
    w1 = [[Value(w) for w in row] for row in W1]
    c1 = [Value(b) for b in b1]
    w2 = [Value(w) for w in W2]
    c2 = Value(b2)
    losses = []
    for point, target in zip(X, y, strict=True):
        # micrograd.nn.Neuron: sum((wi*xi for wi, xi in zip(self.w, x)), self.b)
        h = [
            sum((w1[k][j] * point[k] for k in range(len(point))), c1[j]).tanh()
            for j in range(hidden)
        ]
        out = sum((wi * hi for wi, hi in zip(w2, h, strict=True)), c2)
        losses.append((out - target) ** 2)
    loss = sum(losses) * (1.0 / len(losses))  # demo.ipynb's data_loss
    loss.backward()
    grads = {
        "W1": [[w.grad for w in row] for row in w1],
        "b1": [b.grad for b in c1],
        "W2": [w.grad for w in w2],
        "b2": c2.grad,
    }
    return loss.data, grads


# --- checks and timing ------------------------------------------------------------------------


def flat(value) -> list[float]:
    value = np.asarray(value, dtype=float)
    return value.ravel().tolist()


def agree(what: str, value, grads, ref_value, ref_grads) -> None:
    """Exit with a message unless (value, grads) match the reference to REL_TOL."""
    if not math.isclose(value, ref_value, rel_tol=REL_TOL):
        sys.exit(f"{what}: loss {value!r}, but the lists backend's is {ref_value!r}")
    for name in PARAMS:
        got, want = flat(grads[name]), flat(ref_grads[name])
        scale = max(map(abs, want))
        error = max(abs(a - b) for a, b in zip(got, want, strict=True))
        if error > REL_TOL * scale:
            sys.exit(f"{what}: the gradient of {name} is off by {error:.3g} (largest {scale:.3g})")


CLOCK = time.process_time  # CPU time of the process; --wall: time.perf_counter


def per_call(call, repeats: int, with_gc: bool) -> float:
    """Seconds a call: the best of `repeats` timeit runs of as many calls as fill 0.2 s."""
    setup = "gc.enable()" if with_gc else "pass"
    timer = timeit.Timer(call, setup, timer=CLOCK, globals={"gc": gc})
    number, _ = timer.autorange()
    best = min(timer.repeat(repeats, number)) / number
    gc.collect()  # micrograd's cyclic graphs, before the next timing
    return best


def measure(batch: int, hidden: int, lists_f, numpy_f, repeats: int, with_gc: bool) -> dict:
    point = make_point(batch, hidden)
    arrays = {name: np.asarray(value, dtype=float) for name, value in point.items()}
    arrays["b2"] = point["b2"]
    ref_value, ref_grads = lists_f.value_and_grad(**point)
    agree(f"numpy at {batch}x{hidden}", *numpy_f.value_and_grad(**arrays), ref_value, ref_grads)
    size = f"micrograd at {batch}x{hidden}"
    agree(size, *micrograd_value_and_grad(**point), ref_value, ref_grads)
    return {
        "lists": per_call(lambda: lists_f.value_and_grad(**point), repeats, with_gc),
        "numpy": per_call(lambda: numpy_f.value_and_grad(**arrays), repeats, with_gc),
        "micrograd": per_call(lambda: micrograd_value_and_grad(**point), repeats, with_gc),
    }


def print_table(rows: dict, repeats: int) -> None:
    print(f"\nper call, best of {repeats} (ms); ratios of the per-call times")
    print(
        f"  {'B':>5} {'H':>3}  {'lists':>9} {'numpy':>9} {'micrograd':>10}"
        f"  {'micrograd/lists':>15} {'lists/numpy':>11}"
    )
    for (batch, hidden), t in rows.items():
        print(
            f"  {batch:>5} {hidden:>3}  {t['lists'] * 1e3:9.3f} {t['numpy'] * 1e3:9.3f}"
            f" {t['micrograd'] * 1e3:10.2f}  {t['micrograd'] / t['lists']:14.1f}x"
            f" {t['lists'] / t['numpy']:10.1f}x"
        )


# --- --profile: where the lists backend's time goes --------------------------------------------

ASSIGNMENT = re.compile(r"\s+\w+ = ")


def profile(f, repeats: int) -> None:
    point = make_point(*HEADLINE)
    values, special = f._arguments((), point)
    generated = f._function(special, "value_and_grad")
    result = generated(*values)
    runs = 50
    parts = {
        "f.value_and_grad(**point)": lambda: f.value_and_grad(**point),
        "  argument conversion (_arguments)": lambda: f._arguments((), point),
        "  the generated value_and_grad": lambda: generated(*values),
        "  the finiteness check (_finite)": lambda: f._finite(special, "value_and_grad", result),
    }
    print(f"\nprofile at B={HEADLINE[0]}, H={HEADLINE[1]}: one lists call, split (us a call)")
    for name, call in parts.items():
        seconds = min(timeit.repeat(call, number=runs, repeat=repeats, timer=CLOCK)) / runs
        print(f"  {name:<40} {seconds * 1e6:8.1f} us")

    namespace = lists_function.namespace()
    namespace.update(zip(f.inputs, values, strict=True))
    rows = []
    for line in special.sources["value_and_grad"].splitlines():
        if not ASSIGNMENT.match(line):
            continue
        exec(line.strip(), namespace)  # noqa: S102 (a generated line: sets its variable)
        timer = timeit.Timer(line.strip(), timer=CLOCK, globals=namespace)
        seconds = min(timer.repeat(repeats, runs)) / runs
        rows.append((seconds, line.strip()))
    total = sum(seconds for seconds, _ in rows)
    print(f"\neach generated line alone, in us (sum {total * 1e6:.1f} us), largest first:")
    for seconds, line in sorted(rows, reverse=True):
        print(f"  {seconds * 1e6:7.1f} {seconds / total:6.1%}  {line[:110]}")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        f.value_and_grad(**point)
    profiler.disable()
    print(f"\ncProfile of {runs} calls, top functions by their own time:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timeit runs, the best kept")
    parser.add_argument("--quick", action="store_true", help="B=200, H=16 only, 3 repeats")
    parser.add_argument("--gc", action="store_true", help="time with the garbage collector on")
    parser.add_argument("--profile", action="store_true", help="where the lists time goes")
    parser.add_argument("--wall", action="store_true", help="wall-clock time, not CPU time")
    options = parser.parse_args()
    if options.wall:
        global CLOCK
        CLOCK = time.perf_counter
    repeats = 3 if options.quick else options.repeats
    # micrograd's backward() sorts the graph recursively; the loss of B points is a chain
    # of B additions (Python's sum), deeper than the default limit of 1000 at B = 1000
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {MICROGRAD}")
    lists_f = exprgrad.compile(FORMULA, wrt=PARAMS, backend="python")
    numpy_f = exprgrad.compile(FORMULA, wrt=PARAMS, backend="numpy")
    assert lists_f.backend == "lists", lists_f.backend
    sizes = [HEADLINE] if options.quick else SIZES
    rows = {}
    for batch, hidden in sizes:
        rows[batch, hidden] = measure(batch, hidden, lists_f, numpy_f, repeats, options.gc)
    print("lists, numpy and micrograd agree on the loss and gradients (rel 1e-9) at every size")
    print_table(rows, repeats)
    headline = rows[HEADLINE]
    print(
        f"\nB={HEADLINE[0]}, H={HEADLINE[1]}: lists {headline['lists'] * 1e3:.3f} ms a call, "
        f"micrograd {headline['micrograd'] * 1e3:.2f} ms: "
        f"{headline['micrograd'] / headline['lists']:.1f}x faster than micrograd"
    )
    if options.profile:
        profile(lists_f, repeats)


if __name__ == "__main__":
    main()
