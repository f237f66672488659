"""An outside review of the conv2d, pool and reshape rows (commit d73119b): each test is a
bug found by using them as a user would (each fixed since).

Each names the bug in a comment above it. What held up (values and every gradient against
jax.lax on random shapes, strides up to 5 and paddings up to 4, float32, ties, NaN, -0.0,
reused subexpressions and in-place additions, where(), trace, pickle, the parser's
keywords) is in tests/test_conv.py or was checked by hand and is not repeated here.
"""

from __future__ import annotations

import numpy as np
import pytest

import exprgrad
from exprgrad.errors import Error, FormulaError


def _numpy(formula: str):
    return exprgrad.compile(formula, backend="numpy")


# Bug 1: a batch of 0 images (or 0 filters) is a ValueError from deep inside numpy
# ("cannot reshape array of size 0 into shape (0,4,3,newaxis)": helpers._conv2d's
# reshape(n, f, oh, -1)), where jax.lax gives an empty (0, F, OH, OW) and a sum of it is 0.
# Pools on a batch of 0 work.
def test_conv2d_of_an_empty_batch_is_empty():
    x, w = np.ones((0, 3, 5, 5)), np.ones((4, 3, 3, 3))
    assert _numpy("conv2d(x, w)")(x=x, w=w).shape == (0, 4, 3, 3)
    value, grads = _numpy("sum(conv2d(x, w, 2, 1))").value_and_grad(x=x, w=w)
    assert value == 0.0
    assert grads["x"].shape == x.shape and np.array_equal(grads["w"], np.zeros_like(w))


def test_conv2d_with_no_filters_is_empty():
    x, w = np.ones((2, 3, 5, 5)), np.ones((0, 3, 3, 3))
    value, grads = _numpy("sum(conv2d(x, w))").value_and_grad(x=x, w=w)
    assert value == 0.0 and np.array_equal(grads["x"], np.zeros_like(x))
    assert grads["w"].shape == (0, 3, 3, 3)


# Bug 2: a padding written in the formula that no memory can hold reaches np.pad, whose
# ValueError ("array is too big") escapes at the call: no exprgrad error class, no place.
# The shape pass could refuse it (or the call name the op), as it names impossible shapes.
def test_a_padding_too_large_for_memory_is_an_exprgrad_error():
    f = _numpy("sum(conv2d(x, w, 1, 1e9))")
    with pytest.raises(Error) as info:
        f(x=np.ones((1, 1, 2, 2)), w=np.ones((1, 1, 1, 1)))
    assert "conv2d(x, w, 1, 1e9)" in str(info.value)


# Bug 3: over Dask arrays the shape pass runs on one chunk's shape, so reshape(X, 8, -1) of
# an (8, 1, 5, 5) Dask array in chunks of 4 rows is refused as "shape (4, 1, 5, 5) (100
# elements) cannot be reshaped to (8, -1)": a shape the user never passed, for a reshape
# that is right for the array given. It should be refused as not a sum over rows (as
# reshape(X, -1) is: "reshape of values per row"), or computed.
def test_a_reshape_over_dask_rows_is_refused_for_the_rows_not_a_chunk_shape():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(0)
    X = da.from_array(rng.normal(size=(8, 1, 5, 5)), chunks=(4, 1, 5, 5))
    f = _numpy("sum(reshape(X, 8, -1) @ W)")
    with pytest.raises(FormulaError) as info:
        f.value_and_grad(X=X, W=rng.normal(size=(25, 1)))
    assert "(4, 1, 5, 5)" not in str(info.value)
    assert "rows" in str(info.value)


# Bug 4: the command line compiles for the lists backend, which refuses conv2d and the
# pools at the op, so every view of a conv formula is refused, --ir included (a program
# dump that needs no backend; the array error's own hint sends users to --ir), and the
# advice given is Python's ("compile it with exprgrad.compile(..., backend='numpy')"),
# which no CLI option can follow.
def test_the_cli_prints_the_program_of_a_conv_formula(capsys):
    from exprgrad.tools.cli import main

    assert main(["sum(maxpool2d(relu(conv2d(X, K, stride=2)), 2))", "--ir"]) == 0
    out, err = capsys.readouterr()
    assert "conv2d" in out and "maxpool2d_dx" in out and not err


# Bug 5: the shape pass accepts reshape to a shape with no elements whatever its other
# dimensions: reshape(x, 1e30, 0) of an empty x has shape (10**30, 0). numpy then raises
# its own ValueError ("Maximum allowed dimension exceeded") at the call, and the lists
# backend builds 10**30 empty lists (it never returns; 1e7 already takes 9 s), so no test
# of that here. A dimension past what an array can have could be a ShapeError at the op.
def test_a_huge_dimension_of_an_empty_reshape_is_an_exprgrad_error():
    with pytest.raises(Error) as info:
        _numpy("sum(reshape(x, 1e30, 0))").value_and_grad(x=np.zeros((0, 3)))
    assert "reshape(x, 1e30, 0)" in str(info.value)


def test_a_huge_dimension_of_an_empty_value_on_lists_is_a_shape_error_not_a_hang():
    """Bug 5 on the lists backend: reshape(x, 1e12, 0) of an empty x holds no number but
    would be 10**12 empty lists; the shape pass's signature check refuses it at the op."""
    from exprgrad.errors import ShapeError

    f = exprgrad.compile("sum(reshape(x, 1e12, 0))", backend="python")
    with pytest.raises(ShapeError, match="would take 1,000,000,000,000 lists") as info:
        f.value_and_grad(x=[[], [], []])
    assert "reshape(x, 1e12, 0)" in str(info.value)
    small = exprgrad.compile("sum(reshape(x, 3, 0))", backend="python")
    assert small.value_and_grad(x=[[], [], []]) == (0.0, {"x": [[], [], []]})
