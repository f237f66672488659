"""The numpy backend's runtime: specialisation per signature, source, trace, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exprgrad

np = pytest.importorskip("numpy")

NET = "h = relu(X @ W + b)\nscore = h @ v\nmean(log1p(exp(-y * score)))"


def point(seed=0, rows=5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    values = dict(
        X=rng.normal(size=(rows, 3)),
        W=rng.normal(size=(3, 4)),
        b=rng.normal(size=4),
        v=rng.normal(size=4),
        y=np.sign(rng.normal(size=rows)),
    )
    return {k: v.astype(dtype) for k, v in values.items()}


def test_code_is_generated_once_per_signature():
    f = exprgrad.compile(NET, backend="numpy")
    assert f.backend == "numpy" and f.inputs == ("X", "W", "b", "v", "y")
    assert f.source.startswith("# no code yet")
    f.value_and_grad(**point())
    f.value_and_grad(**point(seed=1))  # same shapes: same code
    assert len(f._specialized) == 1
    f.value_and_grad(**point(rows=7))  # another batch size: code for it
    f.value_and_grad(**point(dtype=np.float32))  # and for float32
    assert len(f._specialized) == 3
    code = f.source_for(**point(rows=7))
    assert "def value_and_grad(X, W, b, v, y):" in code
    assert "h = np.maximum(t2, 0.0)" in code and "relu(X @ W + b)  [7x4]" in code
    assert "for " not in code  # no Python loop over elements


def test_positional_arguments_and_grad():
    f = exprgrad.compile(NET, backend="numpy")
    p = point()
    value, grads = f.value_and_grad(**p)
    assert f(*[p[n] for n in f.inputs]) == value
    assert f.grad(**p).keys() == grads.keys()


def test_trace_of_arrays_matches_the_gradient():
    f = exprgrad.compile(NET, backend="numpy")
    p = point()
    trace = f.trace(**p)
    value, grads = f.value_and_grad(**p)
    assert trace.value == value
    for name in f.inputs:
        assert np.allclose(trace.grads[name], grads[name], rtol=1e-12)
    assert trace.values["score"].shape == (5,) and trace.grads["h"].shape == (5, 4)
    assert "5x4 in [" in str(trace)


def test_non_finite_results_name_the_operation():
    f = exprgrad.compile("sum(log(x))", backend="numpy")
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive number in log"):
        f.value_and_grad(x=np.array([1.0, -1.0]))
    g = exprgrad.compile("sum(a / b)", backend="numpy")
    with pytest.raises(exprgrad.EvaluationError, match="division by zero in a / b"):
        g(a=np.ones(2), b=np.array([1.0, 0.0]))
    # NaN in, NaN out: as numpy does, no error
    assert np.isnan(exprgrad.compile("sum(x)", backend="numpy")(x=np.array([np.nan, 1.0])))


def test_where_masks_the_branch_not_taken():
    f = exprgrad.compile("sum(where(x > 0, sqrt(x), 0) + where(x != 0, 1 / x, 0))", backend="numpy")
    x = np.array([-1.0, 0.0, 4.0])
    value, grads = f.value_and_grad(x=x)
    assert value == 2.0 + (-1.0 + 0.25)
    assert np.allclose(grads["x"], [-1.0, 0.0, 0.25 - 1 / 16])  # no nan from sqrt'(0), 1/0


def test_a_formula_needing_arrays_in_the_scalar_backend():
    with pytest.raises(exprgrad.FormulaError, match="backend='numpy'"):
        exprgrad.compile("sum(x)")
    with pytest.raises(exprgrad.FormulaError, match="backend='numpy'"):
        exprgrad.compile("a @ b")
    with pytest.raises(ValueError, match="backend must be"):
        exprgrad.compile("a", backend="torch")


def test_repr_and_pickle():
    import pickle

    f = exprgrad.compile("sum(x * x)", backend="numpy")
    assert repr(f) == "exprgrad.compile('sum(x * x)', backend='numpy')"
    g = pickle.loads(pickle.dumps(f))
    assert g(x=np.arange(3.0)) == 5.0


def test_the_core_never_imports_numpy():
    code = (
        "import sys, exprgrad; f = exprgrad.compile('a*x'); f(1.0, 2.0); f.grad(1.0, 2.0);"
        "f.trace(1.0, 2.0); print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_where_branches_warn_nothing_and_relu_pays_no_errstate():
    """Both branches of a where are computed, so log(-1) made for an unchosen element
    must not warn; relu's where picks between values computed anyway, so its code is not
    wrapped in np.errstate (which costs a few microseconds a call)."""
    import warnings

    guarded = exprgrad.compile("sum(where(x > 0, log(x), 0))", backend="numpy")
    x = np.array([1.0, -1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the test
        value, grads = guarded.value_and_grad(x=x)
    assert value == 0.0 and grads["x"].tolist() == [1.0, 0.0, 0.0]
    assert "np.errstate" in guarded.source_for(x=x)
    net = exprgrad.compile("h = relu(X @ W)\nmean(h)", backend="numpy")
    X, W = np.ones((3, 4)), np.ones((4, 2))
    assert "np.errstate" not in net.source_for(X=X, W=W)
    assert net.grad(X=X, W=W)["W"].tolist() == [[0.5, 0.5]] * 4


def test_argument_errors_name_what_is_wrong():
    f = exprgrad.compile("sum(x * y)", backend="numpy")
    x = np.ones(2)
    with pytest.raises(
        TypeError, match=r"missing argument\(s\) 'y'; .*call it with f\(\*\*point\)"
    ):
        f({"x": x, "y": x})
    with pytest.raises(TypeError, match=r"^f\(\) is missing argument\(s\) 'y'$"):
        f(x=x)
    with pytest.raises(TypeError, match="got an unexpected argument 'z'"):
        f(x=x, y=x, z=x)
    with pytest.raises(TypeError, match="got multiple values for argument 'x'"):
        f(x, x=x)
    with pytest.raises(TypeError, match="takes 2 arguments but 3 were given"):
        f(x, x, x)


# --- dtypes and broadcasting, behaviour by behaviour ------------------------------------------


def test_float32_after_float64_of_the_same_shape_gets_float32_code():
    """Code is specialised on dtypes as well as shapes: float32 arguments after float64
    ones of the same shape get float32 results, not those of the float64 code."""
    f = exprgrad.compile("sum(x * x + 3 * x)", backend="numpy")
    x = np.array([1.0, 2.0, 3.0])
    value64, grads64 = f.value_and_grad(x=x)
    value32, grads32 = f.value_and_grad(x=x.astype(np.float32))
    assert value64.dtype == np.float64 and grads64["x"].dtype == np.float64
    assert value32.dtype == np.float32 and grads32["x"].dtype == np.float32
    assert f(x=x.astype(np.float32)).dtype == np.float32
    value16, grads16 = f.value_and_grad(x=x.astype(np.float16))  # float16 computes in float32
    assert value16.dtype == np.float32 and grads16["x"].dtype == np.float32


def test_float64_wins_and_each_gradient_keeps_its_inputs_dtype():
    """float32 meeting float64 computes in float64, as numpy does; each gradient comes
    back in its own input's dtype; a count (sum of a comparison) takes the float dtype
    of the formula's inputs."""
    f = exprgrad.compile("sum(a * b)", backend="numpy")
    a, b = np.array([0.1, 0.2], dtype=np.float32), np.array([1 / 3, 2 / 3])
    value, grads = f.value_and_grad(a=a, b=b)
    assert value.dtype == np.float64 and value == np.sum(a.astype(np.float64) * b)
    assert grads["a"].dtype == np.float32 and grads["a"].tolist() == b.astype(np.float32).tolist()
    assert grads["b"].dtype == np.float64 and grads["b"].tolist() == a.tolist()
    counted = exprgrad.compile("sum(amax(x, 0))", backend="numpy")  # the gradient counts ties
    trace = counted.trace(x=np.array([[3.0, 1.0], [3.0, 2.0]], dtype=np.float32))
    assert trace.grads["x"].dtype == np.float32
    assert trace.grads["x"].tolist() == [[0.5, 0.0], [0.5, 1.0]]


@st.composite
def _broadcast_pairs(draw):
    """A shape, and one that broadcasts to it: some leading dimensions dropped, some of
    the rest 1."""
    full = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    lead = draw(st.integers(0, len(full)))
    small = [1 if draw(st.booleans()) else n for n in full[lead:]]
    return tuple(full), tuple(small)


@settings(max_examples=40)
@given(_broadcast_pairs(), st.integers(0, 2**32 - 1))
def test_a_broadcast_operand_gets_its_gradient_summed_over_the_right_axes(pair, seed):
    """sum(x * b) with b broadcast to x's shape: d/db sums x over the dimensions
    broadcasting added in front and those where b has size 1 (x (4, 3, 3), b (3, 1):
    over axes 0 and 2)."""
    full, small = pair
    rng = np.random.default_rng(seed)
    x, b = rng.normal(size=full), rng.normal(size=small)
    grads = exprgrad.compile("sum(x * b)", backend="numpy").grad(x=x, b=b)
    added = x.sum(axis=tuple(range(len(full) - len(small))))
    ones = tuple(k for k, n in enumerate(small) if n == 1)
    np.testing.assert_allclose(grads["b"], added.sum(axis=ones, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(grads["x"], np.broadcast_to(b, full))
    assert grads["b"].shape == small


_MIXED = (
    "sum(a * b)",
    "sum(a * b * 2)",
    "sum(a + b)",
    "mean(a * b)",
    "sum(exp(a) * b)",
    "sum(a * a * b) + sum(b)",
    "sum(a / (b * b + 1))",
    "sum(where(a > 0, a * b, b))",
    "sum(amax(a * b, 0))",
)


@settings(max_examples=30)
@given(st.sampled_from(_MIXED), st.sampled_from(["float32", "float64"]), st.booleans())
def test_dtypes_of_mixed_float32_and_float64_inputs(formula, dtype_a, b_is_float64):
    """The value is float64 if any input is, float32 otherwise; each gradient has its
    input's dtype and the float64 gradient's value (to float32's precision)."""
    dtype_b = "float64" if b_is_float64 else "float32"
    rng = np.random.default_rng(len(formula))
    a, b = rng.normal(size=(3, 2)).astype(dtype_a), rng.normal(size=(3, 2)).astype(dtype_b)
    f = exprgrad.compile(formula, backend="numpy")
    value, grads = f.value_and_grad(a=a, b=b)
    exact_value, exact = f.value_and_grad(a=a.astype(np.float64), b=b.astype(np.float64))
    assert value.dtype == ("float64" if "float64" in (dtype_a, dtype_b) else "float32")
    assert grads["a"].dtype == dtype_a and grads["b"].dtype == dtype_b
    np.testing.assert_allclose(value, exact_value, rtol=1e-5)
    for name in "ab":
        np.testing.assert_allclose(grads[name], exact[name], rtol=1e-5, atol=1e-6)
