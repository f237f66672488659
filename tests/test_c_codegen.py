"""backends/c: generated C, built with build.py and called through cffi, against the Python backend.

Every scalar primitive (tests/test_primitives.py's CASES), the golden formulas and a few
branch cases are compiled into one C module, then called at random points and at edges
(0.0, -0.0, inf, -inf, nan, huge, tiny): the value and the gradient equal the Python
backend's bit for bit (within 2 ulp where a formula calls a libm function other than the
ones both sides share exactly), and the C code fails exactly where the Python backend's
generated code raises - with the same kind of error, at the same op.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import shlex
import shutil
import struct
import subprocess
import sys
import time

import pytest

cffi = pytest.importorskip("cffi")
if shutil.which((shlex.split(os.environ.get("CC") or "cc") or ["cc"])[0]) is None:
    pytest.skip("no C compiler", allow_module_level=True)

from test_codegen import GOLDEN_FORMULAS  # noqa: E402
from test_primitives import CASES, WIDE  # noqa: E402

import exprgrad  # noqa: E402
from exprgrad.backends.c import build, codegen, entries, pieces, spellings  # noqa: E402
from exprgrad.backends.python import codegen as python_codegen  # noqa: E402
from exprgrad.backends.python.helpers import runtime_namespace  # noqa: E402
from exprgrad.core.primitives import BY_NAME, PRIMITIVES  # noqa: E402
from exprgrad.errors import EvaluationError, MissingDependencyError  # noqa: E402

# Rows computed with the same operations on both sides: bit for bit. (The other rows call
# the same glibc functions as Python's math module too, but need not on another libm.)
EXACT = {"add", "sub", "mul", "div", "neg", "relu", "abs", "min", "max", "clip", "where",
         "sigmoid", "softplus", "lt", "le", "gt", "ge", "eq", "ne"}  # fmt: skip
KINDS = {ValueError: spellings.DOMAIN, ZeroDivisionError: spellings.DIVISION}
KINDS[OverflowError] = spellings.OVERFLOW
EDGES = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, -5e-324, 1e-300,
         1.0, -1.0, 0.5, -2.5, 3.0, 710.0, -710.0]  # fmt: skip
BRANCHES = [
    "where(x > 0, log(x), 0)",
    "where(x != 0, 1 / x, 0) + where(x < 700, exp(x), x)",
    "where(x >= -1, where(x <= 1, asin(x) + atanh(x), 0), 0)",
    "where(x > 0, x ** y, sqrt(-x)) + cosh(y)",
    "x ** -3 + sinh(x) + expm1(y) + log1p(x * y)",
]
FORMULAS = sorted(
    {formula for cases in CASES.values() for formula, _ in cases}
    | set(GOLDEN_FORMULAS.values())
    | set(BRANCHES)
)
DOMAINS = {formula: domain for cases in CASES.values() for formula, domain in cases}


class Case:
    """One formula: its Python Function, its C names, and the Python backend's raw code."""

    def __init__(self, k: int, formula: str):
        self.formula = formula
        self.function = exprgrad.compile(formula)
        self.programs = {"fwd": self.function.forward_program, "vg": self.function.program}
        self.names = {part: f"f{k}_{part}" for part in self.programs}
        # the Python backend's generated code, math errors left as Python raises them
        generated = python_codegen.python_source(
            self.function.forward_program, self.function.program, standalone=True
        )
        self.filename = f"<python {formula!r}>"
        namespace = dict(runtime_namespace(), _INPUTS=self.function.inputs)
        exec(compile(generated.source, self.filename, "exec"), namespace)
        self.python = {"fwd": namespace["forward"], "vg": namespace["value_and_grad"]}
        self.line_ops = generated.line_ops
        ops = {p.name for program in self.programs.values() for p in _prims(program)}
        self.exact = ops <= EXACT

    def python_result(self, part: str, point: list[float]):
        """(outputs, None), or (None, (kind, op id)) where Python's generated code raises."""
        try:
            result = self.python[part](*point)
        except (ArithmeticError, ValueError) as error:
            traceback, op = error.__traceback__, None
            while traceback is not None:
                if traceback.tb_frame.f_code.co_filename == self.filename:
                    op = self.line_ops[traceback.tb_lineno]
                traceback = traceback.tb_next
            ops = self.programs[part].ops
            return None, (KINDS[type(error)], next(i for i, o in enumerate(ops) if o is op))
        if part == "fwd":
            return [result], None
        value, grads = result
        return [value, *grads.values()], None


def _prims(program):
    return [BY_NAME[op.prim] for op in program.ops if op.prim in BY_NAME]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every case, built into one library (a fresh cache: the compiler runs once)."""
    os.environ["EXPRGRAD_CACHE_DIR"] = str(tmp_path_factory.mktemp("c-cache"))
    cases = [Case(k, formula) for k, formula in enumerate(FORMULAS)]
    parts = [
        entries.function_source(case.programs[part], case.names[part])
        for case in cases
        for part in ("fwd", "vg")
    ]
    source = codegen.module("(the test corpus)", parts)
    ffi, lib = build.build(source, [p.name for p in parts])
    yield cases, ffi, lib, source
    del os.environ["EXPRGRAD_CACHE_DIR"]


def _points(case: Case, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    inputs = case.function.inputs
    domain = DOMAINS.get(case.formula, {})
    random_points = [[rng.uniform(*domain.get(n, WIDE)) for n in inputs] for _ in range(12)]
    if len(inputs) <= 2:
        edges = [list(p) for p in itertools.product(EDGES, repeat=len(inputs))]
    else:
        edges = [[rng.choice(EDGES) for _ in inputs] for _ in range(250)]
    mixed = [[rng.choice([rng.uniform(-3, 3), rng.choice(EDGES)]) for _ in inputs]]
    return random_points + edges + mixed * 40


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _agree(got: float, expected: float, exact: bool) -> bool:
    if math.isnan(got) or math.isnan(expected):
        return math.isnan(got) and math.isnan(expected)
    if _bits(got) == _bits(expected):
        return True
    if exact or math.isinf(got) or math.isinf(expected):
        return False
    scale = max(abs(got), abs(expected))
    return abs(got - expected) <= max(1e-15 * scale, 2 * math.ulp(scale))


def test_every_scalar_primitive_is_spelled_with_its_check():
    scalar = {p.name for p in PRIMITIVES if not p.arrays}
    assert set(spellings.SPELLINGS) == scalar
    assert spellings.NOT_SPELLED == {p.name for p in PRIMITIVES if p.arrays}
    assert set(spellings.CHECKS) <= {p.name for p in PRIMITIVES if p.may_raise}
    programs = [exprgrad.compile(formula).program for formula in FORMULAS]
    covered = {p.name for program in programs for p in _prims(program)}
    assert scalar <= covered


def test_values_gradients_and_errors_equal_the_python_backend(compiled):
    cases, ffi, lib, _ = compiled
    errors = {kind: 0 for kind in KINDS.values()}
    for seed, case in enumerate(cases):
        for part in ("fwd", "vg"):
            size = 1 + len(case.programs[part].grads)
            c_function = getattr(lib, case.names[part])
            out = ffi.new("double[]", size)
            for point in _points(case, seed):
                code = c_function(ffi.new("double[]", point or [0.0]), out)
                expected, failure = case.python_result(part, point)
                where = f"{case.formula} {part} at {point}"
                if failure is not None:
                    assert (code % 4, code // 4 - 1) == failure, where
                    errors[failure[0]] += 1
                    if part == "vg":
                        with pytest.raises(EvaluationError):
                            case.function.value_and_grad(*point)
                    continue
                assert code == 0, f"{where}: C failed with {code}"
                for k, value in enumerate(expected):
                    assert _agree(out[k], value, case.exact), f"{where}[{k}]: {out[k]!r} {value!r}"
    assert all(errors.values()), errors  # each kind of error was met


def _run_batch(ffi, batch, columns: list, shared: list[bool], n: int, size: int, total: bool):
    arrays = [
        ffi.new("double[]", c if not s else c[:1]) for c, s in zip(columns, shared, strict=True)
    ]
    steps = ffi.new("long[]", [0 if s else 1 for s in shared] or [0])
    values, grads = ffi.new("double[]", max(n, 1)), ffi.new("double[]", max((size - 1) * n, 1))
    failed = ffi.new("long *")
    table = ffi.new("double *[]", arrays or [ffi.NULL])
    code = batch(n, table, steps, values, grads, int(total), failed)
    per_point = [[values[p]] + [grads[k * n + p] for k in range(size - 1)] for p in range(n)]
    return code, failed[0], per_point, list(values[0:1]) + list(grads[0 : size - 1])


def _number(bits: bytes) -> float:
    return math.nan if bits == b"nan" else struct.unpack("<d", bits)[0]


def _same(x: float) -> bytes:
    """x's bits; every NaN the same (which NaN's sign and payload an op passes on when both
    operands are NaN depends on operand order, which the C compiler may swap)."""
    return b"nan" if math.isnan(x) else _bits(x)


def test_batch_in_lanes_is_the_point_function_at_every_point_bit_for_bit(compiled):
    """NAME_batch runs blocks of LANES points in lanes (entries.py): over the corpus's points
    (edges, NaN, inf, -0.0, and points where an op fails), per point and summed, every
    input a column or one shared number, it agrees bit for bit with NAME at each point
    (any NaN for NaN), and a failure names the first failing point and op as NAME does."""
    cases, ffi, lib, _ = compiled
    in_lanes = 0
    for seed, case in enumerate(cases):
        for part in ("fwd", "vg"):
            name = case.names[part]
            point_function, batch = getattr(lib, name), getattr(lib, name + "_batch")
            size = 1 + len(case.programs[part].grads)
            points = _points(case, seed)
            out = ffi.new("double[]", size)
            expected = []
            for point in points:
                code = point_function(ffi.new("double[]", point or [0.0]), out)
                expected.append((code, [_same(v) for v in out]))
            fine = [p for p, (code, _) in zip(points, expected, strict=True) if not code]
            fine_results = [bits for code, bits in expected if not code]
            width = len(case.function.inputs if part == "fwd" else case.programs[part].inputs)
            if width == 0 or not fine:
                continue
            copies = -(-(2 * entries.LANES + 7) // len(fine))  # two blocks and a few points
            fine, fine_results = fine * copies, fine_results * copies
            in_lanes += 1
            columns = [[p[k] for p in fine] for k in range(width)]
            for shared in ([False] * width, [True] + [False] * (width - 1)):
                if shared[0]:  # every point takes the first point's first input
                    fine_now = [[fine[0][0], *p[1:]] for p in fine]
                    results = []
                    for point in fine_now:
                        code = point_function(ffi.new("double[]", point), out)
                        results.append((code, [_same(v) for v in out]))
                    if any(code for code, _ in results):
                        continue
                    results = [bits for _, bits in results]
                else:
                    results = fine_results
                n = len(fine)
                code, _, got, _ = _run_batch(ffi, batch, columns, shared, n, size, False)
                assert code == 0, case.formula
                assert [[_same(v) for v in row] for row in got] == results, case.formula
                code, _, _, sums = _run_batch(ffi, batch, columns, shared, n, size, True)
                totals = [0.0] * size
                for bits in results:
                    for k in range(size):
                        totals[k] += _number(bits[k])
                assert [_same(v) for v in sums] == [_same(v) for v in totals], case.formula
            failing = [p for p, (code, _) in enumerate(expected) if code]
            if failing:  # two blocks of good points, then the points as given: the first
                # failure (in the third block or later), and everything before it
                lead = 2 * entries.LANES
                points = fine[:lead] + points
                expected = [(0, bits) for bits in fine_results[:lead]] + expected
                columns = [[p[k] for p in points] for k in range(width)]
                first = lead + failing[0]
                code, failed, got, _ = _run_batch(
                    ffi, batch, columns, [False] * width, len(points), size, False
                )
                assert (code, failed) == (expected[first][0], first), case.formula
                got_bits = [[_same(v) for v in row] for row in got[:first]]
                assert got_bits == [bits for _, bits in expected[:first]], case.formula
    assert in_lanes > 50


def test_a_failing_op_in_the_branch_not_taken_is_no_error(compiled):
    cases, ffi, lib, _ = compiled
    case = next(c for c in cases if c.formula == BRANCHES[1])
    out = ffi.new("double[]", 2)
    for x in (0.0, -0.0, 1000.0):
        assert getattr(lib, case.names["vg"])(ffi.new("double[]", [x]), out) == 0
        assert out[0] == case.function(x)
    (log_case,) = [c for c in cases if c.formula == BRANCHES[0]]
    assert getattr(lib, log_case.names["fwd"])(ffi.new("double[]", [-1.0]), out) == 0
    assert out[0] == 0.0


def test_source_reads_like_the_python_output(compiled):
    _, _, _, source = compiled
    # <math.h>, and <stdlib.h> for the blocks a batch allocates; a standalone file math.h only
    assert re.findall(r"#include <(.*)>", source) == ["math.h", "stdlib.h"]
    standalone = exprgrad.compile("log(x)*y", backend="c").c_source()
    assert re.findall(r"#include <(.*)>", standalone) == ["math.h"]
    function = exprgrad.compile("sigmoid(a*x + b*y + c)")
    text = codegen.function_source(function.program, "f").source
    assert "const double t1 = a * x;" in text and "/* a*x */" in text
    assert "_sigmoid(t4);" in text and "x_grad" in text
    odd = exprgrad.compile("double + int*1e-310 + log(errno)")  # C words; a subnormal
    text = codegen.function_source(odd.program, "f").source
    assert "double_ = in[0];" in text and "int_ * 0x0.0" in text and "log(errno_)" in text


def test_batch_stores_or_sums_per_point_and_names_the_failing_point(compiled):
    cases, ffi, lib, _ = compiled
    case = next(c for c in cases if c.formula == BRANCHES[3])  # x, y
    name = case.names["vg"]
    xs = [0.5, 2.0, -1.0, 3.0]
    n, grads = len(xs), len(case.function.wrt)
    columns = [ffi.new("double[]", xs), ffi.new("double[]", [0.25])]
    keep = [columns]
    steps = ffi.new("long[]", [1, 0])  # y shared by every point
    values, gradients = ffi.new("double[]", n), ffi.new("double[]", grads * n)
    failed = ffi.new("long *")
    table = ffi.new("double *[]", columns)
    assert getattr(lib, name + "_batch")(n, table, steps, values, gradients, 0, failed) == 0
    expected = [case.function.value_and_grad(x, 0.25) for x in xs]
    assert list(values) == [v for v, _ in expected]
    for k, key in enumerate(case.function.wrt):
        assert list(gradients[k * n : (k + 1) * n]) == [g[key] for _, g in expected]
    assert getattr(lib, name + "_batch")(n, table, steps, values, gradients, 1, failed) == 0
    assert values[0] == sum(v for v, _ in expected)
    columns[0][2] = 0.0  # 0 ** 0.25 is fine, but its gradient divides by zero
    code = getattr(lib, name + "_batch")(n, table, steps, values, gradients, 0, failed)
    assert code != 0 and failed[0] == 2
    assert (code % 4, code // 4 - 1) == case.python_result("vg", [0.0, 0.25])[1]
    del keep


def test_the_build_cache_loads_without_the_compiler(compiled, monkeypatch):
    *_, source = compiled
    monkeypatch.setattr(build, "LOADED", {})

    def refuse(*args):
        raise AssertionError("the compiler ran for a cached source")

    monkeypatch.setattr(build, "_compile", refuse)
    started = time.perf_counter()
    names = re.findall(r"^int (f\d+_(?:fwd|vg))\(", source, re.M)
    ffi, lib = build.build(source, names)
    assert time.perf_counter() - started < 0.5
    assert hasattr(lib, names[0])


def test_missing_compiler_and_cffi_are_clear_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPRGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "/nonexistent/exprgrad-cc")
    with pytest.raises(MissingDependencyError, match="install gcc or clang.*CC"):
        build.build("int f(const double *in, double *out) { return 0; }", ["f"])
    monkeypatch.setitem(sys.modules, "cffi", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'exprgrad\[c\]'"):
        build.build("", [])


@pytest.mark.parametrize("piece_ops", [None, 5])
def test_emitted_module_compiles_alone_and_runs(tmp_path, monkeypatch, piece_ops):
    """The --emit c file, whole and (piece_ops) in pieces passing values through a malloc'd
    array (pieces.py), compiles with cc -std=c99 -c alone and computes what f does."""
    if piece_ops:
        monkeypatch.setattr(pieces, "PIECE_OPS", piece_ops)
        monkeypatch.setattr(pieces, "STACK_SLOTS", 2)
    compiler = shlex.split(os.environ.get("CC") or "cc")
    formula = GOLDEN_FORMULAS["two_layer_net"].rstrip() + " + log(x)"  # on its last line
    function = exprgrad.compile(formula)
    source = codegen.module_source(function.program, "net")
    assert "in[0]   = " in source and "NaN" in source and "_point" in source
    assert ("piece 2 of" in source and "malloc(" in source) == bool(piece_ops)
    (tmp_path / "net.c").write_text(source)
    n, m = len(function.inputs), len(function.wrt)
    main = f"""#include <stdio.h>
#include <stdlib.h>
double net_value_and_grad(const double *in, double *grad);
int main(int argc, char **argv)
{{
    double in[{n}], grad[{m}];
    for (int i = 0; i < {n}; i++) in[i] = strtod(argv[1 + i], NULL);
    printf("%a", net_value_and_grad(in, grad));
    for (int k = 0; k < {m}; k++) printf(" %a", grad[k]);
    printf("\\n");
    return 0;
}}
"""
    (tmp_path / "main.c").write_text(main)
    run = {"cwd": tmp_path, "check": True, "capture_output": True, "text": True}
    subprocess.run([*compiler, "-std=c99", "-c", "net.c"], **run)
    subprocess.run([*compiler, "-std=c99", "-c", "main.c"], **run)
    subprocess.run([*compiler, "main.o", "net.o", "-lm", "-o", "net"], **run)
    rng = random.Random(5)
    for trial in range(4):
        point = [rng.uniform(0.1, 2.0) for _ in range(n)]
        if trial == 3:
            point[function.inputs.index("x")] = -1.0  # log(-1): NaN everywhere
        output = subprocess.run(["./net", *map(repr, point)], **run).stdout.split()
        got = [float.fromhex(text) for text in output]
        if trial == 3:
            assert all(math.isnan(v) for v in got)
            continue
        value, grads = function.value_and_grad(*point)
        assert got == [value, *grads.values()]
