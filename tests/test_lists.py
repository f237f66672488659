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
import subprocess
import sys
import textwrap
import zlib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import exprgrad

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
    np_point = {n: np.array(v, dtype=np.float64) if isinstance(v, np.ndarray | list) else v
                for n, v in point.items()}  # fmt: skip
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
    want, np_error = _outcome(lambda: getattr(numpy_f, how, numpy_f)(*np_args, **np_point))
    got, list_error = _outcome(lambda: getattr(lists_f, how, lists_f)(*list_args, **list_point))
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


def _normal(rng, shape):
    return float(rng.normal()) if shape == () else rng.normal(size=shape)


# --- every array primitive (test_against_jax.ARRAY_CASES) -----------------------------------


@pytest.mark.parametrize("formula", [f for _, f in jax_corpus.ARRAY_LIST])
def test_every_array_primitive(formula):
    rng = np.random.default_rng(zlib.crc32(formula.encode()))
    names = exprgrad.compile(formula, backend="numpy").inputs
    for _ in range(2):
        agree(formula, {n: rng.normal(size=jax_corpus.ARRAY_SHAPES[n]) for n in names})


@pytest.mark.parametrize("name, formula, domain", jax_corpus.SCALAR_CASES[::1],
                         ids=[c[1] for c in jax_corpus.SCALAR_CASES])  # fmt: skip
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
@given(jax_corpus.broadcast_expression(), st.integers(0, 2**31 - 1))
def test_random_broadcasting_that_adds_leading_axes(body, seed):
    rng = np.random.default_rng(seed)
    formula = f"sum({body})"
    names = exprgrad.compile(formula, backend="numpy").inputs
    agree(formula, {n: _normal(rng, jax_corpus.BROADCAST_VARIABLES[n]) for n in names})


@pytest.mark.parametrize("formula, shapes, culprit", jax_corpus.IMPOSSIBLE,
                         ids=[i[0] for i in jax_corpus.IMPOSSIBLE])  # fmt: skip
def test_impossible_shapes(formula, shapes, culprit):
    point = {n: np.ones(s) if s else 1.0 for n, s in shapes.items()}
    assert agree(formula, point, how="value_and_grad") is None  # both raised, alike


def test_vjp_of_a_matrix_value_and_its_cotangent_errors():
    rng = np.random.default_rng(3)
    point = {"X": rng.normal(size=(3, 4)), "W": rng.normal(size=(4, 2)), "z": rng.normal(size=2)}
    agree("tanh(X @ W) * z", point, how="vjp", cotangent=rng.normal(size=(3, 2)))
    agree("tanh(X @ W) * z", point, how="vjp", cotangent=np.ones(2))
    agree("tanh(X @ W) * z", point, how="value_and_grad")


@pytest.mark.parametrize("formula, shape", [("transpose(A)", (3, 2)), ("log_softmax(X, -1)", (2, 3))])
def test_vjp_of_array_valued_formulas(formula, shape):
    name = exprgrad.compile(formula, backend="numpy").inputs[0]
    agree(formula, {name: np.random.default_rng(5).normal(size=shape)})


@pytest.mark.parametrize("formula", [d[0] for d in jax_corpus.DOUBLE_WHERE])
def test_where_takes_only_the_chosen_branch(formula):
    for x in ([0.0, 1.0], [-2.0, 0.0, 0.5, 3.0], [-1.0]):
        agree(formula, {"x": np.array(x)})


@pytest.mark.parametrize("formula", ["amax(x)", "amin(x)", "sum(amax(X, 1))", "sum(amin(X, 0))",
                                     "logsumexp(x)", "sum(logsumexp(X, 1))", "norm2(x)",
                                     "sum(softmax(X) * X)", "mean(x)"])  # fmt: skip
def test_nan_in_a_reduction(formula):
    point = {"x": np.array([1.0, np.nan, 3.0]),
             "X": np.array([[1.0, np.nan, 2.0], [3.0, 4.0, 4.0]])}  # fmt: skip
    names = exprgrad.compile(formula).inputs
    agree(formula, {n: point[n] for n in names})


@pytest.mark.parametrize("x_shape, b_shape", jax_corpus.BROADCASTS,
                         ids=[str(b) for b in jax_corpus.BROADCASTS])  # fmt: skip
def test_broadcast_gradients(x_shape, b_shape):
    rng = np.random.default_rng(11)
    point = {"x": _normal(rng, x_shape), "b": _normal(rng, b_shape)}
    agree("sum(x * b + exp(b) * x * x)", point)


@fuzz(1)
@given(data=st.data())
@pytest.mark.parametrize("name, call", jax_corpus.CALLS, ids=[c for _, c in jax_corpus.CALLS])
def test_scalar_operands_of_every_primitive(name, call, data):
    import re

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
