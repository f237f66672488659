"""The C backend (compile(..., backend="c")): per call and per point, against hand-written code.

Three anchor formulas of benchmarks/bench.py, at the sizes issue 20 names:

    F1  min(1, label*(a*x + b*y + c))               6 inputs
    F5  softplus(-(w0*x0 + ... + w99*x99))          100 weights, 100 features
    F6  h_i = tanh(w_i*h_(i-1) + b_i), 50 deep      101 inputs

Table 1, per call (microseconds): fun = f.flat(names) called with a numpy vector of every
input, returning (value, numpy gradient) as scipy.optimize wants, against a hand-written
Python function of a list returning (value, list or tuple; F5's is bench_flat.py's),
the Python backend's flat() with the same numpy vector, a hand-written C function
built through cffi and called as flat calls (numpy vector in by address, a new numpy
array out), and jax.jit(jax.value_and_grad) of a vector and a CasADi Function of the
value and gradient (an SX graph) when they are installed. Then
f.value_and_grad(**point) of both backends (keys interned, as literal keywords are).

Table 2, per point (nanoseconds) of 10,000 points in one call: f.batch(**columns) (F1:
x, y, label per point, the weights shared; F5: the features per point; F6: x per point),
against a hand-written Python loop, the hand-written C function in a C loop, the numpy
backend's value_and_grad on the same columns, and jax.jit(jax.vmap(...)).

Every exprgrad result is first checked against the hand-written C (rel tol 1e-9). Times
are the best of several timeit runs, each about 0.2 s. Run by hand from the repository
root (it is not a test; it builds into the usual cache, ~/.cache/exprgrad/c):

    python benchmarks/bench_c.py
"""

from __future__ import annotations

import math
import platform
import random
import sys
import tempfile
import timeit
from collections.abc import Callable
from functools import partial

import cffi
import numpy as np

import exprgrad

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench import chain_formula, hinge_value_and_grad  # noqa: E402
from bench_flat import logistic_formula, logistic_hand  # noqa: E402

POINTS = 10_000
WEIGHTS = 100
DEPTH = 50
REL_TOL = 1e-9

# --- the hand-written C: one point (in, out as the generated ABI), and a loop over points --

HAND_C = r"""
#include <math.h>
static int f1(const double *in, double *out) {  /* a, b, c, x, y, label */
    const double a = in[0], b = in[1], c = in[2], x = in[3], y = in[4], label = in[5];
    const double s = a * x + b * y + c, v = label * s;
    double dv = 1.0;
    out[0] = v;
    if (!(v < 1.0)) { out[0] = 1.0; dv = 0.0; }
    const double ds = dv * label;
    out[1] = ds * x; out[2] = ds * y; out[3] = ds; out[4] = ds * a; out[5] = ds * b;
    out[6] = dv * s;
    return 0;
}
static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }
static int f5(const double *in, double *out) {  /* w0, x0, w1, x1, ... */
    double s = 0.0;
    for (int i = 0; i < NW; i++) s += in[2 * i] * in[2 * i + 1];
    out[0] = softplus(-s);
    const double ds = -1.0 / (1.0 + exp(s));
    for (int i = 0; i < NW; i++) {
        out[1 + 2 * i] = ds * in[2 * i + 1];
        out[2 + 2 * i] = ds * in[2 * i];
    }
    return 0;
}
static int f6(const double *in, double *out) {  /* x, w1, b1, w2, b2, ... */
    double h[DEPTH + 1];
    h[0] = in[0];
    for (int i = 0; i < DEPTH; i++) h[i + 1] = tanh(in[1 + 2 * i] * h[i] + in[2 + 2 * i]);
    out[0] = h[DEPTH];
    double g = 1.0;
    for (int i = DEPTH - 1; i >= 0; i--) {
        const double dz = g * (1.0 - h[i + 1] * h[i + 1]);
        out[2 + 2 * i] = dz * h[i];
        out[3 + 2 * i] = dz;
        g = dz * in[1 + 2 * i];
    }
    out[1] = g;
    return 0;
}
#define LOOP(F, NIN, NOUT) \
int F##_point(const double *in, double *out) { return F(in, out); } \
int F##_batch(long n, const double *const *columns, double *values, double *grads) { \
    double in[NIN], out[NOUT]; \
    for (long p = 0; p < n; p++) { \
        for (int i = 0; i < NIN; i++) in[i] = columns[i][p]; \
        F(in, out); \
        values[p] = out[0]; \
        for (int k = 1; k < NOUT; k++) grads[(k - 1) * n + p] = out[k]; \
    } \
    return 0; \
}
LOOP(f1, 6, 7)
LOOP(f5, 2 * NW, 1 + 2 * NW)
LOOP(f6, 1 + 2 * DEPTH, 2 + 2 * DEPTH)
"""


def hand_c() -> tuple:
    ffi = cffi.FFI()
    for name in ("f1", "f5", "f6"):
        ffi.cdef(
            f"int {name}_point(const double *in, double *out);\n"
            f"int {name}_batch(long n, const double *const *columns, double *values, "
            "double *grads);"
        )
    defines = f"#define NW {WEIGHTS}\n#define DEPTH {DEPTH}\n"
    ffi.set_source("_bench_c_hand", defines + HAND_C, extra_compile_args=["-O2", "-std=c99"])
    directory = tempfile.mkdtemp(prefix="exprgrad-bench-c-")
    sys.path.insert(0, directory)
    ffi.compile(tmpdir=directory)
    import _bench_c_hand

    return _bench_c_hand.ffi, _bench_c_hand.lib


def hand_flat(ffi, point: Callable, outputs: int) -> Callable:
    """The hand-written C called as f.flat calls the generated C: by address in and out."""

    def fun(x):
        out = np.empty(outputs)
        point(ffi.from_buffer("double[]", x), ffi.from_buffer("double[]", out))
        return out.item(0), out[1:]

    return fun


# --- hand-written Python over lists ------------------------------------------------------


def f1_list(v):
    value, grads = hinge_value_and_grad(*v)
    return value, list(grads.values())


def f6_list(v):
    hs = [v[0]]
    for i in range(DEPTH):
        hs.append(math.tanh(v[1 + 2 * i] * hs[-1] + v[2 + 2 * i]))
    grads = [0.0] * (1 + 2 * DEPTH)
    g = 1.0
    for i in range(DEPTH - 1, -1, -1):
        h = hs[i + 1]
        dz = g * (1.0 - h * h)
        grads[1 + 2 * i] = dz * hs[i]
        grads[2 + 2 * i] = dz
        g = dz * v[1 + 2 * i]
    grads[0] = g
    return hs[-1], grads


# --- timing ------------------------------------------------------------------------------


def best(call: Callable, repeat: int = 7, budget: float = 0.2) -> float:
    """Best seconds per call over `repeat` runs of about `budget` seconds."""
    timer = timeit.Timer(call)
    number, elapsed = timer.autorange()
    number = max(1, int(number * budget / elapsed))
    return min(timer.timeit(number) / number for _ in range(repeat))


def agree(label: str, got: tuple, expected: tuple) -> None:
    values = [got[0], *np.ravel(np.asarray(got[1], dtype=float))]
    wanted = [expected[0], *np.ravel(np.asarray(expected[1], dtype=float))]
    if len(values) != len(wanted) or not all(
        math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-300)
        for a, b in zip(values, wanted, strict=True)
    ):
        raise AssertionError(f"{label}: exprgrad and the hand-written C disagree")


def cases(rng: random.Random) -> list[dict]:
    f5_names = [n for i in range(WEIGHTS) for n in (f"w{i}", f"x{i}")]
    chain_names = ["x"] + [n for i in range(1, DEPTH + 1) for n in (f"w{i}", f"b{i}")]
    chain_point = [0.3] + [rng.uniform(0.5, 1.5) if i % 2 == 0 else rng.uniform(-0.5, 0.5)
                           for i in range(2 * DEPTH)]  # fmt: skip
    return [
        dict(
            name="F1 hinge, 6 inputs",
            formula="min(1, label*(a*x + b*y + c))",
            names=["a", "b", "c", "x", "y", "label"],
            vector=[1.0, -2.0, -1.0, 1.2, 0.7, 1.0],
            hand="f1",
            hand_python=f1_list,
            per_point=["x", "y", "label"],
        ),
        dict(
            name=f"F5 logistic, {WEIGHTS} weights",
            formula=logistic_formula(WEIGHTS),
            names=f5_names,
            vector=[
                rng.uniform(-0.5, 0.5) if i % 2 == 0 else rng.uniform(-1, 1)
                for i in range(2 * WEIGHTS)
            ],  # fmt: skip
            hand="f5",
            hand_python=logistic_hand,
            per_point=[f"x{i}" for i in range(WEIGHTS)],
        ),
        dict(
            name=f"F6 tanh chain, {DEPTH} deep",
            formula=chain_formula(DEPTH),
            names=chain_names,
            vector=chain_point,
            hand="f6",
            hand_python=f6_list,
            per_point=["x"],
        ),
    ]


def per_call_table(ffi, lib, rng: random.Random) -> None:
    jax = _jax()
    print(f"Table 1: per call, microseconds (best of 7; {platform.python_implementation()} "
          f"{platform.python_version()}, numpy {np.__version__})")  # fmt: skip
    headers = ["formula", "hand Py", "C flat", "hand Py/C", "Py flat", "hand C", "C/hand C"]
    headers += ["jax.jit", "CasADi", "C vg(**p)", "Py vg(**p)"]
    rows = []
    for case in cases(rng):
        c = exprgrad.compile(case["formula"], backend="c")
        python = exprgrad.compile(case["formula"])
        names = case["names"]
        x = np.array(case["vector"])
        fun, python_fun = c.flat(names), python.flat(names)
        hand = hand_flat(ffi, getattr(lib, f"{case['hand']}_point"), len(names) + 1)
        agree(case["name"], fun(x), hand(x))
        agree(case["name"] + " (hand Python)", case["hand_python"](list(x)), hand(x))
        vector_list = x.tolist()
        keywords = {sys.intern(n): v for n, v in zip(names, vector_list, strict=True)}
        agree(case["name"] + " (value_and_grad)", _vg(c, keywords, names), hand(x))
        times = {
            "hand Py": best(partial(case["hand_python"], vector_list)),
            "C flat": best(partial(fun, x)),
            "Py flat": best(partial(python_fun, x)),
            "hand C": best(partial(hand, x)),
            "C vg(**p)": best(partial(c.value_and_grad, **keywords)),
            "Py vg(**p)": best(partial(python.value_and_grad, **keywords)),
        }
        times["jax.jit"] = _jax_per_call(jax, case, x) if jax else math.nan
        times["CasADi"] = _casadi_per_call(case, x, hand(x))
        rows.append(
            [
                case["name"],
                f"{times['hand Py'] * 1e6:.2f}",
                f"{times['C flat'] * 1e6:.2f}",
                f"{times['hand Py'] / times['C flat']:.2f}",
                f"{times['Py flat'] * 1e6:.2f}",
                f"{times['hand C'] * 1e6:.2f}",
                f"{times['C flat'] / times['hand C']:.2f}",
                f"{times['jax.jit'] * 1e6:.2f}",
                f"{times['CasADi'] * 1e6:.2f}",
                f"{times['C vg(**p)'] * 1e6:.2f}",
                f"{times['Py vg(**p)'] * 1e6:.2f}",
            ]
        )
    _print(headers, rows)


def _vg(c, keywords: dict, names: list[str]) -> tuple:
    value, grads = c.value_and_grad(**keywords)
    return value, [grads[name] for name in names]


def per_point_table(ffi, lib, rng: random.Random) -> None:
    jax = _jax()
    print(f"\nTable 2: {POINTS:,} points in one call, nanoseconds per point (best of 7)")
    headers = ["formula", "C batch", "hand Py loop", "hand Py/C", "hand C loop", "C/hand C"]
    headers += ["numpy backend", "numpy/C", "jax.jit(vmap)", "sum=True"]
    rows = []
    for case in cases(rng):
        c = exprgrad.compile(case["formula"], backend="c")
        arrays = exprgrad.compile(case["formula"], backend="numpy")
        names = list(c.inputs)
        shared = dict(zip(case["names"], case["vector"], strict=True))
        columns = {
            n: rng_array(rng, shared[n]) if n in case["per_point"] else shared[n] for n in names
        }
        if "label" in case["per_point"]:
            columns["label"] = np.sign(columns["label"])
        full = {
            n: np.broadcast_to(np.asarray(v, dtype=float), (POINTS,)) for n, v in columns.items()
        }
        values, grads = c.batch(**columns)
        hand_batch, order = getattr(lib, f"{case['hand']}_batch"), case["names"]
        hand_values, hand_grads = _hand_batch(ffi, hand_batch, full, order)
        for p in (0, POINTS // 2, POINTS - 1):
            agree(case["name"] + " (batch)", (values[p], [grads[n][p] for n in order]),
                  (hand_values[p], hand_grads[:, p]))  # fmt: skip
        hand_python = _hand_python_loop(case, full)
        times = {
            "C": best(partial(c.batch, **columns), budget=0.3),
            "hand Py": best(hand_python, repeat=3, budget=0.5),
            "hand C": best(
                partial(_hand_batch, ffi, hand_batch, full, order),
                budget=0.3,
            ),
            # the numpy backend: the value and every gradient at every point (a vjp of ones
            # over arrays of every input: per-point gradients, as batch returns them)
            "numpy": best(partial(arrays.vjp, np.ones(POINTS), **full), budget=0.3),
            "sum": best(partial(c.batch, sum=True, **columns), budget=0.3),
        }
        times["jax"] = _jax_batch(jax, c, full) if jax else math.nan
        per = {k: v / POINTS * 1e9 for k, v in times.items()}
        rows.append(
            [
                case["name"],
                f"{per['C']:.1f}",
                f"{per['hand Py']:.0f}",
                f"{per['hand Py'] / per['C']:.0f}",
                f"{per['hand C']:.1f}",
                f"{per['C'] / per['hand C']:.2f}",
                f"{per['numpy']:.1f}",
                f"{per['numpy'] / per['C']:.2f}",
                f"{per['jax']:.1f}",
                f"{per['sum']:.1f}",
            ]
        )
    _print(headers, rows)


def rng_array(rng: random.Random, around: float) -> np.ndarray:
    generator = np.random.default_rng(rng.randrange(2**32))
    return around + generator.normal(scale=0.5, size=POINTS)


def _hand_batch(ffi, batch: Callable, full: dict, order: list[str]) -> tuple:
    columns = [np.ascontiguousarray(full[n]) for n in order]
    pointers = ffi.new("double *[]", [ffi.from_buffer("double[]", a) for a in columns])
    values, grads = np.empty(POINTS), np.empty((len(order), POINTS))
    batch(POINTS, pointers, ffi.from_buffer("double[]", values), ffi.from_buffer("double[]", grads))
    return values, grads


def _hand_python_loop(case: dict, full: dict) -> Callable:
    """The hand-written Python value and gradient at every point, one call each."""
    lists = [full[n].tolist() for n in case["names"]]
    hand = case["hand_python"]

    def loop():
        for values in zip(*lists, strict=True):
            hand(values)

    return loop


# --- jax, where installed --------------------------------------------------------------------


def _jax():
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        return jax
    except ImportError:
        return None


def _jax_function(jax, case: dict) -> Callable:
    """The formula in jax.numpy, over the case's vector."""
    jnp = jax.numpy
    if case["hand"] == "f1":
        return lambda v: jnp.minimum(1.0, v[5] * (v[0] * v[3] + v[1] * v[4] + v[2]))
    if case["hand"] == "f5":
        return lambda v: jax.nn.softplus(-jnp.dot(v[0::2], v[1::2]))

    def chain(v):
        h = v[0]
        for i in range(DEPTH):
            h = jnp.tanh(v[1 + 2 * i] * h + v[2 + 2 * i])
        return h

    return chain


def _jax_per_call(jax, case: dict, x: np.ndarray) -> float:
    fun = jax.jit(jax.value_and_grad(_jax_function(jax, case)))

    def call():
        value, gradient = fun(x)
        return float(value), np.asarray(gradient)

    call()
    return best(call)


def _casadi_per_call(case: dict, x: np.ndarray, expected: tuple) -> float:
    """CasADi, where installed: the formula as an SX graph, a Function of the value and its
    gradient, called with the numpy vector as (value, numpy gradient), as flat returns."""
    try:
        import casadi as ca
    except ImportError:
        return math.nan
    v = ca.SX.sym("v", len(x))
    if case["hand"] == "f1":
        value = ca.fmin(1.0, v[5] * (v[0] * v[3] + v[1] * v[4] + v[2]))
    elif case["hand"] == "f5":
        z = -ca.dot(v[0::2], v[1::2])
        value = ca.if_else(z > 0, z + ca.log1p(ca.exp(-z)), ca.log1p(ca.exp(z)))
    else:
        value = v[0]
        for i in range(DEPTH):
            value = ca.tanh(v[1 + 2 * i] * value + v[2 + 2 * i])
    function = ca.Function("f", [v], [value, ca.gradient(value, v)])

    def call():
        result, gradient = function(x)
        return float(result), np.asarray(gradient).ravel()

    agree(case["name"] + " (CasADi)", call(), expected)
    return best(call)


def _jax_batch(jax, c, columns: dict) -> float:
    """jax.jit(jax.vmap(value_and_grad)) over the per-point columns, as f.batch computes."""
    names = list(c.inputs)
    jnp = jax.numpy
    local = {"jnp": jnp, "jax": jax}
    text = c.formula.replace("softplus", "jax.nn.softplus").replace("min(1,", "jnp.minimum(1.0,")
    text = text.replace("tanh", "jnp.tanh")
    lines = [line.strip() for line in text.splitlines()]
    body = "\n".join(f"    {line}" for line in lines[:-1])
    last = lines[-1].split("=", 1)[-1] if "=" in lines[-1] and lines[-1][0] != "(" else lines[-1]
    source = f"def formula({', '.join(names)}):\n{body}\n    return {last}\n"
    exec(source, local)  # noqa: S102 (the benchmark's own formula text)
    vectorized = jax.jit(
        jax.vmap(jax.value_and_grad(local["formula"], argnums=tuple(range(len(names)))),
                 in_axes=[0 if np.ndim(columns[n]) else None for n in names])
    )  # fmt: skip
    args = [np.asarray(columns[n], dtype=float) for n in names]

    def call():
        value, grads = vectorized(*args)
        return np.asarray(value), [np.asarray(g) for g in grads]

    call()
    return best(call, budget=0.3)


def _print(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def main() -> None:
    ffi, lib = hand_c()
    per_call_table(ffi, lib, random.Random(0))
    per_point_table(ffi, lib, random.Random(1))


if __name__ == "__main__":
    main()
