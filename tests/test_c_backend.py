"""The C backend's interface (compile(..., backend="c")), against the Python backend: values,
gradients, argument handling and errors must be the same; flat and batch take numpy arrays."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
import threading

import pytest

import exprgrad
from exprgrad.errors import (
    ArgumentError,
    ArgumentValueError,
    EvaluationError,
    FormulaError,
    MissingDependencyError,
)

np = pytest.importorskip("numpy")
pytest.importorskip("cffi")
try:
    exprgrad.compile("x", backend="c")
except MissingDependencyError as missing:  # no C compiler here
    pytest.skip(str(missing), allow_module_level=True)

FORMULAS = [
    "a*log(x) - exp(y)/x + x**2",
    "min(1, label*(a*x + b*y + c))",
    "where(x > 1, log(x - 1), -x) + relu(y)*sigmoid(a)",
    "t = tanh(a*x); t*t + softplus(y - a) + abs(x)",
    "max(a, x, y) + clip(x, a, y) + sqrt(y*y + 1)",
]
POINTS = [
    {"a": 1.5, "x": 2.25, "y": 0.5, "b": -2.0, "c": 0.25, "label": 1.0},
    {"a": -0.5, "x": 0.75, "y": 3.0, "b": 1.0, "c": -1.0, "label": -1.0},
]


def both(formula: str, **options):
    return exprgrad.compile(formula, **options), exprgrad.compile(formula, backend="c", **options)


def raised(call, *args, **kwargs) -> tuple[type, str]:
    try:
        call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 (the two backends' errors are compared)
        return type(error), str(error)
    raise AssertionError("no error")


@pytest.mark.parametrize("formula", FORMULAS)
def test_value_and_gradient_equal_the_python_backend(formula):
    python, c = both(formula)
    for full in POINTS:
        point = {name: full[name] for name in python.inputs}
        assert c(**point) == python(**point)
        assert c.value_and_grad(**point) == python.value_and_grad(**point)
        assert c.grad(*point.values()) == python.grad(*point.values())


def test_attributes_repr_and_pickling():
    python, c = both("100*(y - x**2)**2 + (1 - x)**2", wrt="x", inputs="x, y")
    assert (c.inputs, c.wrt, c.formula) == (python.inputs, python.wrt, python.formula)
    assert repr(c) == (
        "exprgrad.compile('100*(y - x**2)**2 + (1 - x)**2', wrt=['x'], inputs=['x', 'y'], "
        "backend='c')"
    )
    again = pickle.loads(pickle.dumps(c))
    assert repr(again) == repr(c) and again.value_and_grad(1.5, 2.0) == c.value_and_grad(1.5, 2.0)
    assert eval(repr(c), {"exprgrad": exprgrad}).value_and_grad(1.5, 2.0) == c.value_and_grad(
        1.5, 2.0
    )
    assert repr(exprgrad.compile("x*y", backend="c", optimize=False)).endswith(
        "optimize=False, backend='c')"
    )
    assert "log" in exprgrad.compile("log(x)", backend="c").source


def test_ints_bools_and_numpy_scalars_as_in_python():
    python, c = both("a*x - 2**60*x")
    for args in [(1, 2), (True, 3), (np.int64(3), np.float32(0.5)), (2**60 + 1, 1.0)]:
        assert c.value_and_grad(*args) == python.value_and_grad(*args)


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f(1.0),
        lambda f: f.value_and_grad(a=1.0),
        lambda f: f({"a": 1.0, "x": 2.0}),
        lambda f: f(1.0, "2"),
        lambda f: f(1.0, 2j),
        lambda f: f(1.0, 10**400),
        lambda f: f(1.0, 2.0, 3.0),
        lambda f: f.value_and_grad(1.0, x=2.0),
        lambda f: f(0.0, 1.0),
        lambda f: f.value_and_grad(-1.0, -2.0),
        lambda f: f(1.0, 1000.0),
    ],
)
def test_argument_and_evaluation_errors_as_in_python(call):
    python, c = both("log(x)*exp(a) + sqrt(a*x)/x")
    assert raised(call, c) == raised(call, python)


def test_an_array_argument_is_refused_where_python_computes_with_lists():
    python, c = both("log(x)*exp(a) + sqrt(a*x)/x")
    with pytest.raises(ArgumentError, match=r"'a' is an array of shape \(2,\).*numpy"):
        c(1.0, np.array([1.0, 2.0]))
    assert python(1.0, np.array([1.0, 2.0])) == [python(1.0, 1.0), python(1.0, 2.0)]


def test_errors_in_the_gradient_and_branches_not_taken():
    python, c = both("where(x >= 0, sqrt(x), 0) + 1/y")
    assert c.value_and_grad(-1.0, 2.0) == python.value_and_grad(-1.0, 2.0)  # sqrt not taken
    assert raised(c.value_and_grad, 0.0, 1.0) == raised(python.value_and_grad, 0.0, 1.0)
    assert raised(c, 1.0, 0.0) == raised(python, 1.0, 0.0)


def test_names_python_cannot_take_as_parameters():
    python, c = both("lambda*x + print")
    point = {"lambda": 2.0, "x": 3.0, "print": 1.0}
    assert c.value_and_grad(**point) == python.value_and_grad(**point)
    assert c(2.0, 3.0, 1.0) == python(2.0, 3.0, 1.0)


def test_an_array_formula_points_to_the_numpy_backend():
    with pytest.raises(FormulaError, match="needs arrays") as error:
        exprgrad.compile("sum(x*w)", backend="c")
    assert "backend='numpy'" in str(error.value)


def test_flat_takes_and_returns_numpy_vectors():
    python, c = both("a*log(x) - exp(y)/x + x**2")
    x = np.array([1.5, 2.0, 0.5])
    value, gradient = c.flat()(x)
    expected_value, expected = python.flat()(x)
    assert value == expected_value and type(value) is float
    assert gradient.dtype == np.float64 and gradient.tolist() == expected.tolist()
    fun, reference = c.flat(["x"], a=1, y=3), python.flat(["x"], a=1, y=3)
    assert fun.names == ("x",) and fun.source
    for given in ([2], (2.0,), np.array([2]), np.array([2.0, 9.0])[:1], np.arange(4.0)[2:3]):
        (got, gradient), (want, wanted) = fun(given), reference(given)
        assert got == want and type(gradient) is type(wanted)  # a list for a list
        assert list(gradient) == list(wanted)
    strided = np.array([1.5, 9.0, 2.0, 9.0, 0.5])[::2]
    assert c.flat()(strided)[1].tolist() == expected.tolist()


def test_flat_failures_and_nan_with_and_without_fixed_inputs():
    python, c = both("a*log(x) - exp(y)/x + x**2")
    for names, fixed in ((None, {}), (["x"], {"a": 1.0, "y": 3.0})):
        fun, reference = c.flat(names, **fixed), python.flat(names, **fixed)
        size = len(fun.names)
        for x in (np.full(size, -1.0), np.full(size, np.nan), np.full(size, np.inf)):
            expected = raised(reference, x) if x[0] == -1.0 else reference(x)
            if x[0] == -1.0:  # log of a non-positive number, twice (the error cell is reused)
                assert raised(fun, x) == expected and raised(fun, x) == expected
                continue
            value, gradient = fun(x)
            assert repr(value) == repr(expected[0])
            assert repr(gradient.tolist()) == repr(expected[1].tolist())


@pytest.mark.parametrize(
    "given", [[1.0, 2.0], np.zeros((3, 1)), "abc", {"a": 1}, [1.0, "x", 2.0], [1.0, 0.0, 1.0]]
)
def test_flat_errors_as_in_python(given):
    python, c = both("a*log(x) - exp(y)/x + x**2")
    assert raised(c.flat(), given) == raised(python.flat(), given)


def test_batch_per_point_and_summed():
    python, c = both("min(1, label*(a*x + b*y + c))")
    rng = np.random.default_rng(0)
    columns = {
        "x": rng.normal(size=50),
        "y": rng.normal(size=50),
        "label": np.sign(rng.normal(size=50)),
    }
    weights = {"a": 0.5, "b": -1.0, "c": 2}
    values, grads = c.batch(**columns, **weights)
    assert values.shape == (50,) and set(grads) == set(c.wrt)
    total, summed = 0.0, dict.fromkeys(c.wrt, 0.0)
    for p in range(50):
        point = {name: float(column[p]) for name, column in columns.items()}
        value, gradient = python.value_and_grad(**point, **weights)
        assert values[p] == value
        for name in c.wrt:
            assert grads[name][p] == gradient[name]
            summed[name] += gradient[name]
        total += value
    assert c.batch(sum=True, **columns, **weights) == (total, summed)


def test_batch_conversions_and_errors():
    c = exprgrad.compile("log(x)*a", backend="c")
    values, grads = c.batch(x=[1, 2, 4], a=np.float32(2))
    assert values.tolist() == [2 * np.log(v) for v in (1.0, 2.0, 4.0)]
    assert grads["a"].tolist() == [np.log(v) for v in (1.0, 2.0, 4.0)]
    with pytest.raises(EvaluationError, match="at point 1 of the batch"):
        c.batch(x=np.array([1.0, -1.0]), a=1.0)
    with pytest.raises(ArgumentError, match=r"batch\(\) is missing argument\(s\) 'a'"):
        c.batch(x=np.ones(3))
    with pytest.raises(ArgumentError, match="unexpected argument 'z'"):
        c.batch(x=np.ones(3), a=1.0, z=1.0)
    with pytest.raises(ArgumentValueError, match="differ in length"):
        c.batch(x=np.ones(3), a=np.ones(2))
    with pytest.raises(ArgumentValueError, match="1-D array of points"):
        c.batch(x=np.ones((3, 2)), a=1.0)
    with pytest.raises(ArgumentError, match="argument 'a' must be a real number, not str"):
        c.batch(x=np.ones(3), a="1")


def test_calls_from_several_threads_share_no_buffer():
    python, c = both("a*log(x) - exp(y)/x + x**2")
    points = [(1.0 + i, 2.0 + i / 7, 0.5 - i / 11) for i in range(64)]
    expected = [python.value_and_grad(*p) for p in points]
    failures = []

    def run():
        for _ in range(200):
            if [c.value_and_grad(*p) for p in points] != expected:
                failures.append(1)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_without_numpy_the_backend_names_what_to_install(monkeypatch):
    for name in [n for n in sys.modules if n.startswith("exprgrad.backends.c")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(MissingDependencyError, match=r"exprgrad\[c\]"):
        exprgrad.compile("x", backend="c")


def test_without_cffi_the_backend_names_what_to_install(monkeypatch):
    for name in [n for n in sys.modules if n.startswith("exprgrad.backends.c")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cffi", None)
    with pytest.raises(MissingDependencyError, match=r"exprgrad\[c\]"):
        exprgrad.compile("x*y", backend="c")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no cc")
def test_emit_c_compiles_on_its_own(tmp_path, capsys):
    from exprgrad.tools.cli import main

    assert main(["sigmoid(a*x + b) + log(1 + x*x)", "--emit", "c"]) == 0
    source = capsys.readouterr().out
    assert source == exprgrad.compile("sigmoid(a*x + b) + log(1 + x*x)", backend="c").c_source()
    path = tmp_path / "formula.c"
    path.write_text(source)
    subprocess.run(
        ["cc", "-std=c99", "-c", str(path), "-o", str(tmp_path / "formula.o")], check=True
    )


@pytest.mark.parametrize(
    "formula, fragment", [("sum(x*x)", "needs arrays"), ("log(", "formula ends early")]
)
def test_emit_c_of_a_bad_formula_is_a_clear_error(formula, fragment, capsys):
    from exprgrad.tools.cli import main

    assert main([formula, "--emit", "c"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and fragment in captured.err and "Traceback" not in captured.err


def test_no_gradient_no_inputs_and_an_input_called_sum():
    for formula, options in [("x*y", {"wrt": []}), ("2 + 3", {}), ("sum*x", {"wrt": "sum"})]:
        python, c = both(formula, **options)
        args = [2.0] * len(python.inputs)
        assert c.value_and_grad(*args) == python.value_and_grad(*args)
        assert c(*args) == python(*args)
    values, grads = c.batch(sum=np.arange(3.0), x=2.0)  # sum= is the input's column here
    assert values.tolist() == [0.0, 2.0, 4.0] and grads["sum"].tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("name", ["given", "results", "buffers", "given_c", "results_c",
                                  "value", "g0", "code", "b"])  # fmt: skip
def test_inputs_named_like_the_callers_locals_stay_themselves(name):
    """The generated caller's own names start with '_', which no mangled formula name does."""
    formula = f"{name}*2 + {name}*{name}"
    c, python = exprgrad.compile(formula, backend="c"), exprgrad.compile(formula)
    assert c(1.5) == python(1.5)
    assert c.value_and_grad(**{name: 1.5}) == python.value_and_grad(**{name: 1.5})


def test_a_zero_dimensional_array_is_one_number_for_every_point():
    f = exprgrad.compile("x*y", backend="c")
    values, grads = f.batch(x=np.array([1.0, 2.0]), y=np.array(3.0))
    assert values.tolist() == [3.0, 6.0] and grads["y"].tolist() == [1.0, 2.0]


def test_a_long_program_in_pieces_computes_the_same(monkeypatch):
    """Above 2 * PIECE_OPS ops NAME is static pieces passing values through an array
    (backends/c/pieces.py): the values, gradients, errors and batches are those of the
    Python backend, in pieces of 4 ops (the array on the stack) and of 3 with the array
    malloc'd (STACK_SLOTS 2)."""
    from exprgrad.backends.c import pieces

    formulas = [*FORMULAS, "where(x > 1, log(x - 1), -x) + tanh(a*y)*sqrt(y)"]
    for piece_ops, stack_slots in ((4, 4096), (3, 2)):
        monkeypatch.setattr(pieces, "PIECE_OPS", piece_ops)
        monkeypatch.setattr(pieces, "STACK_SLOTS", stack_slots)
        for formula in formulas:
            python, c = both(formula)
            assert "piece 2 of" in c.source, formula
            assert ("malloc(" in c.source) == (stack_slots == 2), formula
            for full in [*POINTS, {"a": 0.5, "x": 0.5, "y": -1.0, "b": 0, "c": 0, "label": 1}]:
                point = {name: full[name] for name in python.inputs}
                try:
                    expected = python.value_and_grad(**point)
                except EvaluationError:
                    assert raised(c.value_and_grad, **point) == raised(
                        python.value_and_grad, **point
                    )
                    continue
                assert c.value_and_grad(**point) == expected
                assert c(**point) == python(**point)
            columns = {n: np.array([POINTS[0][n], POINTS[1][n]] * 40) for n in python.inputs}
            values, grads = c.batch(**columns)
            for p in (0, 1, 79):
                point = {n: float(column[p]) for n, column in columns.items()}
                assert (values[p], {k: g[p] for k, g in grads.items()}) == python.value_and_grad(
                    **point
                )
