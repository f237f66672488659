"""Formulas of 10^4 to 10^6 operations: compile plus the first value_and_grad, time and peak memory.

Three formulas, each at a number of operations n:

    wx     a sum of n/2 terms w_i*x_i (n inputs; the call passes them by keyword)
    tanh   tanh(tanh(...tanh(x)...)), n deep
    dag    a random graph with sharing: n/2 statements v_k = tanh(v_(k-1) + 0.5*v_j),
           sin(v_(k-1) - v_j) or v_(k-1)*v_j, j an earlier statement at random, over 100
           inputs; the value is the last statement
    gates  the tanh chain as n exprgrad.gates gates: out.compute() and out.backprop()
           (exprgrad only)

Each measurement is a fresh subprocess (so VmHWM, the peak resident memory, is its own):
the time from the formula text to the first call's result (exprgrad: compile() and
f.value_and_grad(**point)), the CPU time the process spent (less sensitive to other load
on the machine than the wall time), and the process's VmHWM (Python, the imports and the
formula text included). CasADi builds the same graph as SX and a Function of the value
and its jacobian, then calls it once; sympy builds the expression, differentiates it by
every input and lambdifies the result. Each has a time limit; "-" is a run past it (or out
of memory). The values of the three agree (checked when they finish).

--inputs times what each call costs as the number of inputs grows (the wx sum of 10^3,
10^4, 10^5 inputs): value_and_grad(**point) with keywords and with positions, building
f.flat() and calling it with a list; each should grow linearly.

Run by hand from the repository root (it is not a test):

    python benchmarks/bench_scale.py                       # 10^4, 10^5, 10^6; all tools
    python benchmarks/bench_scale.py --sizes 10000,100000 --tools exprgrad,casadi
    python benchmarks/bench_scale.py --inputs 1000,10000,100000
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import resource
import subprocess
import sys
import time

CASES = ("wx", "tanh", "dag", "gates")
TOOLS = ("exprgrad", "casadi", "sympy")
DAG_INPUTS = 100


def peak_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def dag_lines(n: int) -> list[tuple[str, int, int]]:
    """(kind, previous, shared) for each statement of the random graph."""
    rng = random.Random(n)
    kinds = [("tanh", 3), ("sin", 2), ("mul", 1)]  # (kind, operations)
    lines, ops = [], 0
    while ops < n - DAG_INPUTS:
        kind, cost = rng.choice(kinds)
        k = len(lines)  # the first statements read every input once
        shared = -k - 1 if k < DAG_INPUTS else rng.randrange(-DAG_INPUTS, k)
        lines.append((kind, k - 1, shared))
        ops += cost
    return lines


def formula(case: str, n: int) -> str:
    if case == "wx":
        return " + ".join(f"w{i}*x{i}" for i in range(n // 2))
    if case in ("tanh", "gates"):
        return "tanh(" * n + "x" + ")" * n
    rows = []
    for k, (kind, previous, shared) in enumerate(dag_lines(n)):
        a = f"v{previous}" if previous >= 0 else "x0"
        b = f"v{shared}" if shared >= 0 else f"x{-shared - 1}"
        spelled = {"tanh": f"tanh({a} + 0.5*{b})", "sin": f"sin({a} - {b})", "mul": f"{a}*{b}"}
        rows.append(f"v{k} = {spelled[kind]}")
    rows.append(f"v{len(rows) - 1}")
    return "\n".join(rows)


def point(case: str, n: int) -> dict[str, float]:
    if case == "wx":
        return {f"{v}{i}": 0.5 + 1e-6 * i for i in range(n // 2) for v in "wx"}
    if case in ("tanh", "gates"):
        return {"x": 0.5}
    return {f"x{i}": math.sin(i + 1.0) for i in range(DAG_INPUTS)}


def run_gates(n: int) -> tuple[float, float, float, float]:
    from exprgrad import gates

    x = gates.Param(0.5, name="x")
    start = time.perf_counter()
    out = x
    for _ in range(n):
        out = gates.make("tanh", out)
    value = out.compute()
    out.backprop()
    return time.perf_counter() - start, peak_kb(), value, x.grad


def run_exprgrad(case: str, n: int) -> tuple[float, float, float, float]:
    import exprgrad

    if case == "gates":
        return run_gates(n)

    text, values = formula(case, n), point(case, n)
    start = time.perf_counter()
    f = exprgrad.compile(text)
    value, grads = f.value_and_grad(**values)
    return time.perf_counter() - start, peak_kb(), value, sum(grads.values())


def graph(case: str, n: int, x: list, tanh, sin):
    """The formula's value built by operators on x (the inputs in point() order) and the
    given tanh and sin: CasADi's and sympy's graph of it."""
    if case == "wx":
        value = 0
        for i in range(n // 2):
            value = value + x[2 * i] * x[2 * i + 1]
        return value
    if case in ("tanh", "gates"):
        value = x[0]
        for _ in range(n):
            value = tanh(value)
        return value
    v = []
    for kind, previous, shared in dag_lines(n):
        a = v[previous] if previous >= 0 else x[0]
        b = v[shared] if shared >= 0 else x[-shared - 1]
        v.append(tanh(a + 0.5 * b) if kind == "tanh" else sin(a - b) if kind == "sin" else a * b)
    return v[-1]


def run_casadi(case: str, n: int):
    import casadi as ca

    values = list(point(case, n).values())
    start = time.perf_counter()
    x = ca.SX.sym("x", len(values))
    value = graph(case, n, [x[i] for i in range(len(values))], ca.tanh, ca.sin)
    function = ca.Function("f", [x], [value, ca.jacobian(value, x)])
    result, jacobian = function(values)
    total = float(ca.sum2(jacobian))
    return time.perf_counter() - start, peak_kb(), float(result), total


def run_sympy(case: str, n: int):
    import sympy as sp

    values = point(case, n)
    start = time.perf_counter()
    symbols = [sp.Symbol(name) for name in values]
    expression = graph(case, n, symbols, sp.tanh, sp.sin)
    gradient = [sp.diff(expression, s) for s in symbols]
    function = sp.lambdify(symbols, [expression, *gradient], "math")
    result = function(*values.values())
    return time.perf_counter() - start, peak_kb(), result[0], sum(result[1:])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(tool: str, case: str, n: int) -> None:
    sys.setrecursionlimit(100_000)
    runner = {"exprgrad": run_exprgrad, "casadi": run_casadi, "sympy": run_sympy}[tool]
    before = cpu_seconds()
    seconds, kb, value, grad_sum = runner(case, n)
    cpu = cpu_seconds() - before  # the formula text included: a few percent
    found = {"seconds": seconds, "cpu": cpu, "mb": kb / 1024, "value": value, "grads": grad_sum}
    print(json.dumps(found))


def measure(tool: str, case: str, n: int, timeout: float) -> dict | None:
    command = [sys.executable, __file__, "--child", tool, case, str(n)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        print(f"  {tool} {case} {n}: failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_of(function, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def inputs_table(sizes: list[int]) -> None:
    import exprgrad

    print("| inputs | compile+call s | keywords ms | positions ms | flat() s | flat call ms |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        values = point("wx", n)
        start = time.perf_counter()
        f = exprgrad.compile(formula("wx", n))
        f.value_and_grad(**values)  # compiled on first use
        compiled = time.perf_counter() - start
        ordered = [values[name] for name in f.inputs]
        keywords = best_of(lambda: f.value_and_grad(**values))  # noqa: B023
        positions = best_of(lambda: f.value_and_grad(*ordered))  # noqa: B023
        start = time.perf_counter()
        fun = f.flat()
        built = time.perf_counter() - start
        vector = [values[name] for name in fun.names]
        call = best_of(lambda: fun(vector))  # noqa: B023
        print(
            f"| {n:,} | {compiled:.2f} | {keywords * 1e3:.1f} | {positions * 1e3:.1f} | "
            f"{built:.2f} | {call * 1e3:.1f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a run")
    parser.add_argument("--inputs", help="the per-call table at these numbers of inputs")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        tool, case, n = options.child
        return child(tool, case, int(n))
    print(f"Python {platform.python_version()} on {platform.machine()}")
    if options.inputs:
        return inputs_table([int(n) for n in options.inputs.split(",")])
    tools = options.tools.split(",")
    print("| formula | operations | " + " | ".join(f"{t} s (CPU s), MB" for t in tools) + " |")
    print("|---|---|" + "---|" * len(tools))
    for case in options.cases.split(","):
        for n in map(int, options.sizes.split(",")):
            cells, reference = [], None
            for tool in tools:
                found = measure(tool, case, n, options.timeout)
                if found is None:
                    cells.append("-")
                    continue
                if reference is None:
                    reference = found
                elif not math.isclose(found["value"], reference["value"], rel_tol=1e-6):
                    cells.append(f"value {found['value']} != {reference['value']}")
                    continue
                cells.append(f"{found['seconds']:.2f} ({found['cpu']:.2f}) s, {found['mb']:.0f} MB")
            print(f"| {case} | {n:,} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
