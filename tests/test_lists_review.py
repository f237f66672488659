"""An adversarial review of the lists backend (issue 19): each confirmed bug as a minimal
repro, xfail(strict) until fixed, so that a fix turns it into a pass that must be kept."""

from __future__ import annotations

import pytest

import exprgrad


def lists(formula: str):
    return exprgrad.compile(formula, backend="python")


@pytest.mark.xfail(
    strict=True,
    reason="review: the gradient of a size-1 axis broadcast against a 0-length one "
    "raises IndexError from helpers._broadcast instead of summing nothing to 0.0",
)
def test_gradient_of_a_size_one_axis_broadcast_against_an_empty_one():
    value, grads = lists("sum(x*y)").value_and_grad(x=[], y=[1.0])
    assert value == 0.0
    assert grads == {"x": [], "y": [0.0]}


@pytest.mark.xfail(
    strict=True,
    reason="review: transpose of a (0, n) value gives [] (shape (0,)), so the gradient "
    "of a (2, 0) input comes back as [] instead of [[], []]",
)
def test_gradient_through_transpose_of_an_empty_matrix_keeps_the_input_shape():
    assert lists("sum(transpose(x))").grad(x=[[], []]) == {"x": [[], []]}
    assert lists("sum(x @ transpose(x))").grad(x=[[], []]) == {"x": [[], []]}


@pytest.mark.xfail(
    strict=True,
    reason="review: module_source has no IEEE fallback, so a where whose untaken branch "
    "hits a math domain error raises ValueError in the module where f(...) gives 0.0",
)
def test_module_source_where_computes_only_the_chosen_branch():
    f = lists("sum(where(x > 0, log(x), 0))")
    point = {"x": [0.0, 1.0]}
    assert f(**point) == 0.0
    module: dict = {}
    exec(f.module_source(**point), module)
    assert module["forward"]([0.0, 1.0]) == 0.0
    value, grads = module["value_and_grad"]([0.0, 1.0])
    assert (value, grads) == (0.0, {"x": [0.0, 1.0]})


@pytest.mark.xfail(
    strict=True,
    reason="review: a numpy array with an empty axis before a non-empty one is read "
    "through tolist() alone, so shape (0, 3) becomes (0,) and the formula fails to broadcast",
)
def test_numpy_array_with_an_empty_leading_axis_keeps_its_shape():
    np = pytest.importorskip("numpy")
    f = lists("sum(x*y)")
    assert f(x=np.zeros((0, 3)), y=[1.0, 2.0, 3.0]) == 0.0


@pytest.mark.xfail(
    strict=True,
    reason="review: fit() on a lists loss with an int too large for a float in the data "
    "raises a bare OverflowError from train/engine._number, not an exprgrad error naming it",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="review: a memoryview (it has .tolist() and .shape) is read as its byte values, "
    "f(x=memoryview(b'ab')) == 97**2 + 98**2, where bytes are refused and the numpy backend "
    "refuses it",
)
def test_memoryview_is_refused_as_bytes_are():
    f = lists("sum(x*x)")
    with pytest.raises(exprgrad.errors.ArgumentError):
        f(x=b"ab")
    with pytest.raises(exprgrad.errors.ArgumentError):
        f(x=memoryview(b"ab"))
