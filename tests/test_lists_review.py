"""An adversarial review of the lists backend (issue 19): each bug it found, as a minimal
repro that failed until the fix and must keep passing."""

from __future__ import annotations

import pytest

import exprgrad


def lists(formula: str):
    return exprgrad.compile(formula, backend="python")


def test_gradient_of_a_size_one_axis_broadcast_against_an_empty_one():
    value, grads = lists("sum(x*y)").value_and_grad(x=[], y=[1.0])
    assert value == 0.0
    assert grads == {"x": [], "y": [0.0]}


def test_gradient_through_transpose_of_an_empty_matrix_keeps_the_input_shape():
    assert lists("sum(transpose(x))").grad(x=[[], []]) == {"x": [[], []]}
    assert lists("sum(x @ transpose(x))").grad(x=[[], []]) == {"x": [[], []]}


def test_module_source_where_computes_only_the_chosen_branch():
    f = lists("sum(where(x > 0, log(x), 0))")
    point = {"x": [0.0, 1.0]}
    assert f(**point) == 0.0
    module: dict = {}
    exec(f.module_source(**point), module)
    assert module["forward"]([0.0, 1.0]) == 0.0
    value, grads = module["value_and_grad"]([0.0, 1.0])
    assert (value, grads) == (0.0, {"x": [0.0, 1.0]})


def test_numpy_array_with_an_empty_leading_axis_keeps_its_shape():
    np = pytest.importorskip("numpy")
    f = lists("sum(x*y)")
    assert f(x=np.zeros((0, 3)), y=[1.0, 2.0, 3.0]) == 0.0


def test_fit_on_lists_names_an_int_too_large_in_the_data():
    from exprgrad import train

    loss = lists("mean((X @ w - y)**2)")
    data = {"X": [[10**400, 2.0]], "y": [1.0]}
    with pytest.raises(exprgrad.errors.Error, match=r"X"):
        train.fit(
            loss,
            {"w": [0.1, 0.2]},
            data,
            epochs=1,
            batch_size=1,
            optimizer=train.SGD(lr=0.01),
            progress=False,
        )


def test_memoryview_is_refused_as_bytes_are():
    f = lists("sum(x*x)")
    with pytest.raises(exprgrad.errors.ArgumentError):
        f(x=b"ab")
    with pytest.raises(exprgrad.errors.ArgumentError):
        f(x=memoryview(b"ab"))
