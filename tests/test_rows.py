"""core/rows.py: where each value keeps its rows, what is a sum over rows, and the rewrite
that makes per-chunk values add up (no Dask needed: tests/test_dask.py runs the chunks)."""

from __future__ import annotations

import pytest

import exprgrad
from exprgrad.backends.python.evaluate import FOLD
from exprgrad.core import pipeline, rows, shapes

SHAPES = {"X": (5, 3), "y": (5,), "S": (5, 5), "w": (3,), "b": (), "M": (3, 2)}


def forward(formula: str):
    program = pipeline.forward_and_gradient(formula, (), FOLD, arrays=True).forward
    inputs = {n: shapes.Spec(SHAPES[n], "float64") for n in program.inputs}
    return program, shapes.infer(program, inputs)


def value_state(formula: str, data=("X", "y", "S")) -> rows.State:
    program, specs = forward(formula)
    return rows.classify(program, specs, data)[program.value]


@pytest.mark.parametrize(
    ("formula", "state"),
    [
        ("X @ w + b", rows.State(rows.ROWS, 0)),
        ("transpose(X)", rows.State(rows.ROWS, 1)),
        ("X @ M", rows.State(rows.ROWS, 0)),
        ("sum(X, 1)", rows.State(rows.ROWS, 0)),
        ("amax(X, 1) - y", rows.State(rows.ROWS, 0)),
        ("sum(X, 0)", rows.State(rows.TOTAL)),
        ("y @ X", rows.State(rows.TOTAL)),
        ("transpose(X) @ y", rows.State(rows.TOTAL)),
        ("norm2(X @ w - y)", rows.State(rows.TOTAL)),
        ("mean(sum(X, 0) @ M) * b - norm2(w)", rows.State(rows.TOTAL)),
        ("norm2(w) + b", rows.State(rows.PARAM)),
    ],
)
def test_where_the_rows_go(formula, state):
    assert value_state(formula) == state


@pytest.mark.parametrize(
    ("formula", "words"),
    [
        ("amax(X @ w)", "amax over the rows"),
        ("sum(X @ w) * sum(y)", "* of a sum over rows"),
        ("exp(mean(y))", "exp of a sum over rows"),
        ("sum(X - mean(X, 0))", "mixes each row with a sum over all the rows"),
        ("sum(log_softmax(X, 0))", "log_softmax across the rows"),
        ("sum(X @ transpose(X))", "pairs every row with every other"),
        ("sum(S * y)", "lines up the rows of one operand with another axis"),
    ],
)
def test_what_is_not_a_sum_over_rows_is_refused_at_its_op(formula, words):
    program, specs = forward(formula)
    with pytest.raises(exprgrad.FormulaError, match="not a sum over rows") as error:
        rows.per_chunk(program, specs, ("X", "y", "S"))
    assert words in str(error.value)
    assert error.value.span is not None


def test_a_value_per_row_or_without_data_is_refused():
    for formula, words in (("X @ w", "a value per row"), ("norm2(w)", "does not depend")):
        program, specs = forward(formula)
        with pytest.raises(exprgrad.FormulaError, match=words):
            rows.per_chunk(program, specs, ("X", "y"))


def test_a_parameter_as_long_as_the_rows_is_named():
    program, specs = forward("sum(X @ w * y)")
    with pytest.raises(exprgrad.FormulaError, match="'y' is not chunked"):
        rows.per_chunk(program, specs, ("X",))


def test_the_rewrite_adds_the_row_count_and_the_share_only_where_needed():
    for formula, extra in (
        ("sum(X @ w)", ()),
        ("mean(X @ w)", ("rows",)),
        ("sum(X @ w) + norm2(w)", ("share",)),
        ("mean(X @ w) - b", ("rows", "share")),
    ):
        program, specs = forward(formula)
        chunk = rows.per_chunk(program, specs, ("X",))
        assert chunk.program.inputs == program.inputs + extra, formula
        assert all(op.prim != "mean" for op in chunk.program.ops), formula  # sum / rows


def test_the_extra_inputs_never_take_a_formula_name():
    formula = "z = X @ w; mean(z) - rows * share"
    SHAPES.update(rows=(), share=())
    try:
        program, specs = forward(formula)
        chunk = rows.per_chunk(program, specs, ("X",))
    finally:
        del SHAPES["rows"], SHAPES["share"]
    assert chunk.rows == "rows_" and chunk.share == "share_"
    assert chunk.program.inputs[-2:] == ("rows_", "share_")
