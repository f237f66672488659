"""The lists backend (backend="python" on array formulas) against the numpy backend, case by
case over the array corpora of tests/test_against_jax.py and tests/test_arrays.py, plus
rank-3 shapes, ties and kinks, NaN and inf inputs, and a run with numpy unimportable.

agree(formula, point) calls both backends at the same point (numpy arrays for one, their
.tolist() nested lists for the other) and wants the same values and gradients (1e-12
relative, float64), Python floats and fresh nested lists out, inputs untouched; or the
same exception class with the same message from both.
"""

from __future__ import annotations

import copy
import math
import os
import re
import subprocess
import sys
import textwrap
import zlib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import exprgrad
from exprgrad.backends.lists import spellings as lists_spellings
from exprgrad.errors import FormulaError

np = pytest.importorskip("numpy")
pytest.importorskip("jax", reason="the corpora live in test_against_jax.py, which needs jax")

import test_against_jax as jax_corpus  # noqa: E402 (constants and strategies only)
import test_arrays as arrays_corpus  # noqa: E402

RTOL = 1e-12
ATOL = 1e-13  # sums that cancel to about 0 differ by rounding in the order of their terms

# --- the comparison ----------------------------------------------------------------------


def _shape_and_leaves(value, lists: list) -> tuple[tuple[int, ...], list]:
    """(shape, leaves) of a float or nested lists of floats; every list object into lists."""
    if not isinstance(value, list):
        assert type(value) is float, f"{type(value).__name__} {value!r}, not a float"
        return (), [value]
    lists.append(value)
    parts = [_shape_and_leaves(item, lists) for item in value]
    inner = {shape for shape, _ in parts}
    assert len(inner) <= 1, f"ragged result {value!r}"
    return (len(value), *(inner.pop() if inner else ())), [x for _, xs in parts for x in xs]


def _close(got, want, what: str) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (what, got, want)
    infinite = np.isinf(want) | np.isinf(got)
    assert np.array_equal(got[infinite], want[infinite]), (what, got, want)
    finite = ~(np.isnan(want) | infinite)
    assert np.allclose(got[finite], want[finite], rtol=RTOL, atol=ATOL), (what, got, want)


def _outcome(call):
    try:
        return call(), None
    except Exception as error:  # noqa: BLE001 (the error itself is what is compared)
        return None, error


def _as_lists(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def agree(formula, point, *, how=None, cotangent=None):
    """Call `formula` on both backends at `point` ({name: array or float}) and compare.

    how: "call", "value_and_grad" or "vjp"; by default value_and_grad for a scalar value
    and vjp (with a fixed random cotangent) for any other. Returns the lists result."""
    numpy_f = exprgrad.compile(formula, backend="numpy")
    lists_f = exprgrad.compile(formula, backend="python")
    np_point = {
        n: np.array(v, dtype=np.float64) if isinstance(v, np.ndarray | list) else v
        for n, v in point.items()
    }
    list_point = {n: _as_lists(v) for n, v in point.items()}
    before = copy.deepcopy(list_point)
    if how is None:
        try:
            shape = np.shape(numpy_f(**np_point))
        except exprgrad.Error:
            shape = ()
        how = "value_and_grad" if shape == () else "vjp"
        if how == "vjp" and cotangent is None:
            cotangent = np.random.default_rng(zlib.crc32(formula.encode())).normal(size=shape)
    np_args, list_args = (), ()
    if how == "vjp":
        np_args, list_args = (np.asarray(cotangent, dtype=np.float64),), (_as_lists(cotangent),)
    np_call = numpy_f if how == "call" else getattr(numpy_f, how)
    want, np_error = _outcome(lambda: np_call(*np_args, **np_point))
    got, list_error = _outcome(
        lambda: (lists_f if how == "call" else getattr(lists_f, how))(*list_args, **list_point)
    )
    assert list_point == before or _nan_equal(list_point, before), "an input was modified"
    if np_error or list_error:
        assert (type(list_error), str(list_error)) == (type(np_error), str(np_error)), (
            formula,
            point,
        )
        return None
    made: list = []
    if how == "call":
        shape, _ = _shape_and_leaves(got, made)
        assert shape == np.shape(want)
        _close(got, want, f"value of {formula}")
    else:
        value, grads = got
        _shape_and_leaves(value, made)
        _close(value, want[0], f"value of {formula}")
        assert set(grads) == set(want[1]), formula
        for name, gradient in grads.items():
            shape, _ = _shape_and_leaves(gradient, made)
            assert shape == np.shape(np_point[name]), (formula, name, shape)
            _close(gradient, want[1][name], f"d/d{name} of {formula}")
    inputs: list = []
    for value in list_point.values():
        if isinstance(value, list):
            _shape_and_leaves(value, inputs)
    ids = [id(x) for x in made]
    assert len(set(ids)) == len(ids), "two results share a list"
    assert not set(ids) & {id(x) for x in inputs}, "a result is an input's list"
    return got


def _nan_equal(a, b) -> bool:
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


def _listable(shape) -> bool:
    """Whether nested lists can hold the shape: (0, 3) is [] as (0,) is."""
    return 0 not in shape[:-1]


def _normal(rng, shape):
    return float(rng.normal()) if shape == () else rng.normal(size=shape)


# --- every array primitive (test_against_jax.ARRAY_CASES) -----------------------------------


def refused_by_lists(formula: str) -> bool:
    """Does the formula use convolution or pooling, which the lists backend refuses (at the
    op, with a FormulaError saying to use numpy)? Checked here whenever it does."""
    program = exprgrad.compile(formula, backend="numpy").forward_program
    if not any(op.prim in lists_spellings.REFUSED for op in program.ops):
        return False
    with pytest.raises(FormulaError, match="needs the numpy backend"):
        exprgrad.compile(formula, backend="lists")
    return True


@pytest.mark.parametrize("formula", [f for _, f in jax_corpus.ARRAY_LIST])
def test_every_array_primitive(formula):
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    names = exprgrad.compile(formula, backend="numpy").inputs
    if refused_by_lists(formula):
        return
    for _ in range(2):
        agree(formula, {n: rng.normal(size=jax_corpus.ARRAY_SHAPES[n]) for n in names})


@pytest.mark.parametrize(
    "name, formula, domain",
    jax_corpus.SCALAR_CASES[::1],
    ids=[c[1] for c in jax_corpus.SCALAR_CASES],
)
def test_every_scalar_primitive_elementwise_on_broadcast_arrays(name, formula, domain):
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    summed = f"sum({formula})"
    names = exprgrad.compile(summed, backend="numpy").inputs
    low_high = {n: domain.get(n, jax_corpus.WIDE) for n in names}
    point = {}
    for n in names:
        shape = jax_corpus.SHAPES[n]
        low, high = low_high[n]
        point[n] = rng.uniform(low, high, size=shape) if shape else float(rng.uniform(low, high))
    agree(summed, point)
    agree(formula, point, how="call")


def fuzz(examples: int):
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))


@fuzz(150)
@given(jax_corpus.array_programs(), st.integers(0, 2**31 - 1))
def test_random_array_programs(formula, seed):
    rng = np.random.default_rng(seed)
    names = exprgrad.compile(formula, backend="numpy").inputs
    agree(formula, {n: _normal(rng, jax_corpus.shape_of(jax_corpus.VARIABLES[n])) for n in names})


@fuzz(60)
@given(
    st.sampled_from([("n",), ("k",), ("n", "k"), ("n", "m")]).flatmap(jax_corpus.array_expression),
    st.integers(0, 2**31 - 1),
)
def test_random_array_valued_programs_by_vjp(body, seed):
    rng = np.random.default_rng(seed)
    names = exprgrad.compile(body, backend="numpy").inputs
    point = {n: _normal(rng, jax_corpus.shape_of(jax_corpus.VARIABLES[n])) for n in names}
    agree(body, point)
    agree(body, point, how="call")


@fuzz(60)
@given(jax_corpus.broadcast_expression(), st.integers(0, 2**31 - 1))
def test_random_broadcasting_that_adds_leading_axes(body, seed):
    rng = np.random.default_rng(seed)
    formula = f"sum({body})"
    names = exprgrad.compile(formula, backend="numpy").inputs
    agree(formula, {n: _normal(rng, jax_corpus.BROADCAST_VARIABLES[n]) for n in names})


@pytest.mark.parametrize(
    "formula, shapes, culprit", jax_corpus.IMPOSSIBLE, ids=[i[0] for i in jax_corpus.IMPOSSIBLE]
)
def test_impossible_shapes(formula, shapes, culprit):
    point = {n: np.ones(s) if s else 1.0 for n, s in shapes.items()}
    assert agree(formula, point, how="value_and_grad") is None  # both raised, alike


def test_vjp_of_a_matrix_value_and_its_cotangent_errors():
    rng = np.random.default_rng(3)
    point = {"X": rng.normal(size=(3, 4)), "W": rng.normal(size=(4, 2)), "z": rng.normal(size=2)}
    agree("tanh(X @ W) * z", point, how="vjp", cotangent=rng.normal(size=(3, 2)))
    agree("tanh(X @ W) * z", point, how="vjp", cotangent=np.ones(2))
    agree("tanh(X @ W) * z", point, how="value_and_grad")


@pytest.mark.parametrize(
    "formula, shape", [("transpose(A)", (3, 2)), ("log_softmax(X, -1)", (2, 3))]
)
def test_vjp_of_array_valued_formulas(formula, shape):
    name = exprgrad.compile(formula, backend="numpy").inputs[0]
    agree(formula, {name: np.random.default_rng(5).normal(size=shape)})


@pytest.mark.parametrize("formula", [d[0] for d in jax_corpus.DOUBLE_WHERE])
def test_where_takes_only_the_chosen_branch(formula):
    for x in ([0.0, 1.0], [-2.0, 0.0, 0.5, 3.0], [-1.0]):
        agree(formula, {"x": np.array(x)})


@pytest.mark.parametrize(
    "formula",
    [
        "amax(x)",
        "amin(x)",
        "sum(amax(X, 1))",
        "sum(amin(X, 0))",
        "logsumexp(x)",
        "sum(logsumexp(X, 1))",
        "norm2(x)",
        "sum(softmax(X) * X)",
        "mean(x)",
    ],
)
def test_nan_in_a_reduction(formula):
    point = {
        "x": np.array([1.0, np.nan, 3.0]),
        "X": np.array([[1.0, np.nan, 2.0], [3.0, 4.0, 4.0]]),
    }
    names = exprgrad.compile(formula).inputs
    agree(formula, {n: point[n] for n in names})


@pytest.mark.parametrize(
    "x_shape, b_shape", jax_corpus.BROADCASTS, ids=[str(b) for b in jax_corpus.BROADCASTS]
)
def test_broadcast_gradients(x_shape, b_shape):
    rng = np.random.default_rng(11)
    point = {"x": _normal(rng, x_shape), "b": _normal(rng, b_shape)}
    agree("sum(x * b + exp(b) * x * x)", point)


@fuzz(1)
@given(data=st.data())
@pytest.mark.parametrize("name, call", jax_corpus.CALLS, ids=[c for _, c in jax_corpus.CALLS])
def test_scalar_operands_of_every_primitive(name, call, data):
    domains = dict(next((d for f, d in jax_corpus.CASES.get(name, []) if f == call), {}))
    point = {"x": np.array([0.5, -1.0, 2.0])}
    operands = {}
    for v in [v for v in "abc" if re.search(rf"\b{v}\b", call)]:
        low, high = domains.get(v, jax_corpus.WIDE)
        number = data.draw(st.floats(low, high).map(lambda t: round(t, 3)), label=v)
        template = data.draw(st.sampled_from(jax_corpus.SCALAR_OPERAND), label=f"{v} as")
        if "norm2" in template and number == 0:
            template = "{c}"
        operands[v] = "(" + template.format(c=repr(number), v=v) + ")"
        if "s_" in template:
            point[f"s_{v}"] = number
    body = re.sub(r"\b([abc])\b", lambda m: operands[m.group(1)], call)
    formula = f"sum(x * {body})"
    names = exprgrad.compile(formula, backend="numpy").inputs
    if refused_by_lists(formula):
        return
    agree(formula, {n: point[n] for n in names})


@fuzz(30)
@given(
    st.sampled_from(["sum", "mean", "amax", "amin", "logsumexp", "softmax", "log_softmax"]),
    st.sampled_from(jax_corpus.SCALAR_VALUED),
    st.sampled_from([", 0", ", -1", ", 1", ""]),
    st.floats(0.1, 2.0),
)
def test_reductions_with_an_axis_over_numbers(function, inner, axis, s):
    formula = f"sum(x) * {function}({inner}{axis})"
    names = exprgrad.compile(formula, backend="numpy").inputs
    agree(formula, {n: {"x": np.array([0.5, 1.5]), "s": s}[n] for n in names})


@fuzz(40)
@given(
    st.sampled_from(jax_corpus.MASKED_CASES),
    st.sampled_from(["0", "y", "x * y", "where(x > 0, 0, y)"]),
    st.booleans(),
    st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, -0.5, 3.0]), min_size=1, max_size=5),
    st.integers(0, 2**31 - 1),
)
def test_where_with_masked_domain_branches(case, other, taken_first, xs, seed):
    condition, branch = case
    branches = (branch, other) if taken_first else (other, branch)
    test = condition if taken_first else jax_corpus.COMPLEMENT[condition]
    formula = f"sum(where({test}, {branches[0]}, {branches[1]}))"
    y = np.random.default_rng(seed).normal(size=len(xs))
    names = exprgrad.compile(formula, backend="numpy").inputs
    agree(formula, {n: {"x": np.array(xs), "y": y}[n] for n in names})


# --- the corpus of tests/test_arrays.py ------------------------------------------------------


def _cases(test) -> list:
    """The parameter sets of a parametrized test of another module."""
    return list(test.pytestmark[0].args[1])


@pytest.mark.parametrize("formula, point, message", _cases(arrays_corpus.test_non_finite_reasons))
def test_non_finite_reasons(formula, point, message):
    assert agree(formula, {k: np.array(v) for k, v in point.items()}) is None
    with pytest.raises(exprgrad.EvaluationError, match="^" + re.escape(message)):
        exprgrad.compile(formula, backend="python").value_and_grad(**point)


_BLAMED = _cases(arrays_corpus.test_the_op_blamed_for_a_non_finite_result_is_the_one_whose_value_reaches_it)  # fmt: skip  # noqa: E501


@pytest.mark.parametrize("formula, point, blamed", _BLAMED)
def test_the_op_blamed_for_a_non_finite_result(formula, point, blamed):
    assert agree(formula, {k: np.array(v) for k, v in point.items()}) is None


@pytest.mark.parametrize("func", arrays_corpus._REDUCTIONS)
def test_an_empty_axis_is_the_same_shape_error(func):
    for shape in ((3, 0), (2, 3, 0), (0,)):  # (0, 3) is [], as (0,) is: not a list's shape
        agree(f"s = 2*x\nsum({func}(s, 0))", {"x": np.ones(shape)})
        agree(f"{func}(x)", {"x": np.ones(shape)})
    agree("sum(x) + sum(sum(x, 1)) + norm2(x)", {"x": np.ones((3, 0))})


@fuzz(60)
@given(
    st.sampled_from(arrays_corpus._REDUCTIONS),
    st.lists(st.integers(0, 2), min_size=1, max_size=3),
    st.sampled_from([None, 0, -1, 1]),
)
def test_reductions_of_empty_arrays(func, shape, axis):
    assume(axis is None or -len(shape) <= axis < len(shape))
    assume(_listable(shape))
    written = f"{func}(x)" if axis is None else f"{func}(x, axis={axis})"
    agree(f"sum({written} * 2)", {"x": np.ones(shape)})


def test_where_masks_and_overflow_cases():
    x = np.array([-1.0, 0.0, 4.0])
    agree("sum(where(x > 0, sqrt(x), 0) + where(x != 0, 1 / x, 0))", {"x": x})
    agree("sum(where(x > 0, log(x), 0))", {"x": np.array([1.0, -1.0, 0.0])})
    agree("sum(where(x > 0, x*log(x), 0)) + sum(log(x))", {"x": np.array([0.0, 1.0])})
    overflow = "sum(x*y) + norm2(x)"
    big = {"x": np.array([1e200, 1.0]), "y": np.array([1e200, 4.0])}
    for how in ("call", "value_and_grad"):
        agree(overflow, big, how=how)
    agree(overflow, big, how="vjp", cotangent=1.0)
    agree(overflow, {"x": np.array([np.inf, 1.0]), "y": np.array([0.0, 1.0])})  # inf*0 = nan
    one = np.ones(3)
    agree("h = a*b + c*d\nsum(h * 1e300)", {"a": one, "b": one, "c": one, "d": one * 1e10})
    agree("sum(log(x))", {"x": np.array([1.0, -1.0])})
    agree("sum(a / b)", {"a": np.ones(2), "b": np.array([1.0, 0.0])}, how="call")
    agree(arrays_corpus.NET, arrays_corpus.point())


@fuzz(60)
@given(
    arrays_corpus._formulas(),
    st.lists(arrays_corpus._VALUES, min_size=3, max_size=3),
    st.lists(arrays_corpus._VALUES, min_size=3, max_size=3),
)
def test_finite_inputs_give_the_same_results_or_errors(formula, xs, ys):
    agree(f"sum({formula} + 0*x + 0*y)", {"x": np.array(xs), "y": np.array(ys)})


@fuzz(40)
@given(arrays_corpus._broadcast_pairs(), st.integers(0, 2**32 - 1))
def test_a_broadcast_operand_gets_its_gradient_summed(pair, seed):
    rng = np.random.default_rng(seed)
    agree("sum(x * b)", {"x": rng.normal(size=pair[0]), "b": rng.normal(size=pair[1])})


@fuzz(80)
@given(st.lists(arrays_corpus._ITEMS, min_size=1, max_size=4), st.booleans())
def test_list_arguments(items, as_tuple):
    """Lists of anything: both compute alike, or both raise an ArgumentError naming the
    argument (the wording differs: lists names the first bad item, numpy the array's kind)."""
    value = tuple(items) if as_tuple else items
    numpy_f = exprgrad.compile("sum(x * x)", backend="numpy")
    lists_f = exprgrad.compile("sum(x * x)", backend="python")
    want, np_error = _outcome(lambda: numpy_f.value_and_grad(x=copy.deepcopy(value)))
    got, list_error = _outcome(lambda: lists_f.value_and_grad(x=copy.deepcopy(value)))
    if np_error or list_error:
        assert type(list_error) is type(np_error) is exprgrad.ArgumentError, (np_error, list_error)
        assert str(list_error).startswith("argument 'x' "), list_error
        return
    assert type(got[0]) is float and got[0] == want[0]
    assert got[1]["x"] == want[1]["x"].tolist()


def test_argument_errors_are_the_same():
    x = np.ones(2)
    for args, kwargs in [
        (({"x": x, "y": x},), {}),
        ((), {"x": x}),
        ((), {"x": x, "y": x, "z": x}),
        ((x,), {"x": x}),
        ((x, x, x), {}),
    ]:
        outcomes = []
        for backend in ("numpy", "python"):
            f = exprgrad.compile("sum(x * y)", backend=backend)
            convert = (lambda v: v) if backend == "numpy" else _as_lists
            a = tuple(convert(v) for v in args)
            k = {n: convert(v) for n, v in kwargs.items()}
            _, error = _outcome(lambda f=f, a=a, k=k: f(*a, **k))
            outcomes.append((type(error), str(error)))
        assert outcomes[0] == outcomes[1]


# --- rank 3, ties and kinks, NaN and inf in ---------------------------------------------------

_P = np.random.default_rng(7).normal(size=(2, 3, 4))
_RANK3 = [
    f"sum({r}(P, {a}) * {r}(P, {a}))"
    for r in ("sum", "mean", "amax", "amin", "logsumexp")
    for a in (0, 1, 2, -1, -2, -3)
]
_RANK3 += [f"sum({r}(P, {a}) * P)" for r in ("softmax", "log_softmax") for a in (0, 1, 2, -1)]
_RANK3 += [
    "sum(transpose(P) * transpose(P) * 0.5)",
    "norm2(P)",
    "mean(P) * amax(P)",
    "logsumexp(P) + amin(P)",
    "sum(softmax(P) * P)",
    "sum(exp(P) * 2)",
]


@pytest.mark.parametrize("formula", _RANK3)
def test_rank_3_reductions_and_softmax_over_each_axis(formula):
    agree(formula, {"P": _P})


@pytest.mark.parametrize(
    "formula",
    [
        "transpose(P)",
        "softmax(P, 1)",
        "log_softmax(P, 0)",
        "sum(P, 1)",
        "amax(P, 0)",
        "mean(P, -1)",
        "P * 2",
    ],
)
def test_vjp_of_rank_3_values(formula):
    agree(formula, {"P": _P})
    agree(formula, {"P": _P}, how="call")


@pytest.mark.parametrize(
    "formula, shapes",
    [
        ("sum(u + P)", {"u": (4,), "P": (2, 3, 4)}),
        ("sum((Q * T) ** 2)", {"Q": (3, 1), "T": (2, 1, 4)}),
        ("Q * T", {"Q": (3, 1), "T": (2, 1, 4)}),
        ("u + P", {"u": (4,), "P": (2, 3, 4)}),
        ("sum(max(u, P) * min(Q, T))", {"u": (4,), "P": (2, 3, 4), "Q": (3, 1), "T": (2, 1, 4)}),
        ("sum(where(Q > T, Q, T * s))", {"Q": (3, 1), "T": (2, 1, 4), "s": ()}),
        ("sum(P @ v)", {"P": (2, 3, 4), "v": (4,)}),
        ("sum(u @ P)", {"u": (3,), "P": (2, 3, 4)}),
        ("sum(P @ W)", {"P": (2, 3, 4), "W": (4, 5)}),
    ],
)
def test_rank_3_broadcasting(formula, shapes):
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    agree(formula, {n: _normal(rng, s) for n, s in shapes.items()})


_TIES = [
    ("amax(x)", {"x": [1.0, 3.0, 3.0]}),
    ("amin(x)", {"x": [2.0, 2.0, 5.0]}),
    ("sum(amax(X, 1))", {"X": [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]}),
    ("sum(amin(X, 0))", {"X": [[1.0, 3.0, 3.0], [1.0, 2.0, 3.0]]}),
    ("sum(amax(P, 2))", {"P": [[[1.0, 1.0], [0.0, 2.0]], [[5.0, 5.0], [5.0, 4.0]]]}),
    ("sum(relu(x))", {"x": [-1.0, 0.0, -0.0, 2.0]}),
    ("sum(abs(x))", {"x": [-1.0, 0.0, -0.0, 2.0]}),
    ("sum(max(x, y))", {"x": [1.0, 2.0, 0.0], "y": [1.0, 3.0, -0.0]}),
    ("sum(min(x, y))", {"x": [1.0, 2.0, 0.0], "y": [1.0, 3.0, -0.0]}),
    ("sum(max(x, y, z))", {"x": [1.0, 2.0], "y": [1.0, 2.0], "z": [1.0, 0.0]}),
    ("sum(max(x, 0.5, -1))", {"x": [0.0, 1.0, 0.5]}),
    ("sum(clip(x, -1, 1))", {"x": [-2.0, -1.0, 0.0, 1.0, 2.0]}),
    ("sum(clip(x, y, 1))", {"x": [-1.0, 0.0, 1.0], "y": [-1.0, 0.0, 1.0]}),
    ("sum(where(x > y, x, y))", {"x": [1.0, 2.0], "y": [1.0, 3.0]}),
    ("sum(sqrt(x*x + 1) * where(x > 0, 1, -1))", {"x": [-1.0, 0.0, 1.0]}),
    ("sum(softplus(x) + sigmoid(x))", {"x": [0.0, -0.0, 40.0, -800.0]}),
    ("max(s, t)", {"s": 1.0, "t": [1.0, 0.5]}),
    ("sum(hypot(x, y))", {"x": [3.0, 1.0], "y": [4.0, 1.0]}),
]


@pytest.mark.parametrize("formula, point", _TIES, ids=[t[0] for t in _TIES])
def test_ties_and_kinks(formula, point):
    agree(formula, {n: np.array(v) if isinstance(v, list) else v for n, v in point.items()})


_NAN, _INF = math.nan, math.inf
_NON_FINITE = [
    ("sum(x * 2)", {"x": [_NAN, 1.0]}),
    ("sum(exp(x))", {"x": [_INF, 1.0]}),
    ("sum(exp(x))", {"x": [-_INF, 1.0]}),
    ("sum(tanh(x))", {"x": [_INF, -_INF]}),
    ("amax(x)", {"x": [_INF, 1.0, _NAN]}),
    ("amin(x)", {"x": [-_INF, 1.0]}),
    ("logsumexp(x)", {"x": [_INF, 1.0]}),
    ("logsumexp(x)", {"x": [-_INF, 1.0]}),
    ("sum(softmax(x) * x)", {"x": [_NAN, 1.0]}),
    ("sum(x @ W)", {"x": [_NAN, 1.0], "W": [[1.0], [2.0]]}),
    ("sum(where(x > 0, x, 0))", {"x": [_NAN, 1.0, -1.0]}),
    ("sum(relu(x))", {"x": [_NAN, _INF]}),
    ("sum(max(x, y))", {"x": [_NAN, 1.0], "y": [1.0, _NAN]}),
    ("mean(x) + norm2(x)", {"x": [_INF, 0.0]}),
    ("sum(sigmoid(x))", {"x": [_INF, -_INF]}),
    ("sum(abs(x))", {"x": [-_INF, _NAN]}),
    ("x * 2", {"x": [_NAN, _INF]}),
    ("sum(x / y)", {"x": [_INF, 1.0], "y": [_INF, 2.0]}),
]


@pytest.mark.parametrize(
    "formula, point", _NON_FINITE, ids=[f"{t[0]} at {t[1]}" for t in _NON_FINITE]
)
def test_nan_and_inf_in_propagate_as_in_numpy(formula, point):
    agree(formula, {n: np.array(v) for n, v in point.items()})


_EDGES = [
    ("logsumexp(x)", {"x": [1000.0, 1000.0]}),
    ("sum(softmax(x) * x)", {"x": [1000.0, -1000.0]}),
    ("sum(log_softmax(X, 0))", {"X": [[1000.0, 1.0], [-1000.0, 2.0]]}),
    ("sum(softplus(x) + sigmoid(x))", {"x": [800.0, -800.0]}),
    ("mean(exp(x))", {"x": [800.0, 1.0]}),
    ("logsumexp(x) + amax(x)", {"x": [-_INF, -_INF]}),
    ("sum(x ** y)", {"x": [-2.0, 2.0], "y": [2.0, 0.5]}),
    ("sum(x ** y)", {"x": [0.0, 2.0], "y": [0.0, 0.5]}),
    ("sum(atan2(x, y))", {"x": [0.0, -0.0], "y": [0.0, -1.0]}),
    ("sum(x / y)", {"x": [0.0, 1.0], "y": [0.0, 1.0]}),
    ("sum(acos(x) + asin(x))", {"x": [1.0, 0.5]}),
    ("sum(log1p(x))", {"x": [-1.0, 0.5]}),
    ("sum(tanh(x) * 1e308 * 10)", {"x": [1.0, 0.5]}),
    ("sum(X @ Y)", {"X": [[1e200, 1e200]], "Y": [[1e200], [1.0]]}),
    ("sum(relu(x) * 1e308 * 1e308)", {"x": [0.0, -1.0]}),
    ("mean(x)", {"x": [1e308, 1e308]}),
    ("logsumexp(X, 0)", {"X": [[1e308], [1e308]]}),
    ("sum(min(x, y) + max(x, y))", {"x": [0.0, -0.0], "y": [-0.0, 0.0]}),
    ("sum(clip(x, 1, -1))", {"x": [0.0, 2.0]}),
]


@pytest.mark.parametrize("formula, point", _EDGES, ids=[f"{c[0]} at {c[1]}" for c in _EDGES])
def test_numerics_at_the_edges(formula, point):
    """Large and tiny arguments, 0/0, domain edges: the same numbers or the same error."""
    agree(formula, {n: np.array(v) for n, v in point.items()})


# --- numpy is never imported -----------------------------------------------------------------

_WITHOUT_NUMPY = textwrap.dedent(
    """
    import sys, exprgrad
    f = exprgrad.compile("sum(softmax(A @ x) * y) + norm2(A) + amax(where(x > 0, x, 0))")
    point = dict(A=[[1.0, 2.0], [3.0, -1.0]], x=[0.5, -2.0], y=[1, 2])
    value, grads = f.value_and_grad(**point)
    g = exprgrad.compile("transpose(P) * 2", backend="lists")
    g.vjp([[[1.0, 0.0]] * 2] * 3, P=[[[1.0, 2.0, 3.0]] * 2] * 2)
    f.source_for(**point), f.module_source(**point)
    scalar = exprgrad.compile("a * b")
    scalar(a=[1.0, 2.0], b=3.0)
    try:
        f(A=[[1.0]], x=[1.0, 2.0], y=[1.0])
    except exprgrad.FormulaError:
        pass
    try:
        exprgrad.compile("sum(log(x))")(x=[-1.0])
    except exprgrad.EvaluationError:
        pass
    print("numpy" in sys.modules, type(value).__name__)
    """
)


@pytest.mark.parametrize("blocked", [False, True])
def test_the_lists_path_never_imports_numpy(blocked, tmp_path):
    env = dict(os.environ)
    if blocked:  # a numpy that cannot be imported: the lists path must not notice
        (tmp_path / "numpy.py").write_text("raise ImportError('numpy is blocked in this test')\n")
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NUMPY], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "float"]
