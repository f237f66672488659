"""The numpy backend's runtime: specialisation per signature, source, trace, errors."""

from __future__ import annotations

import re
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


def test_a_formula_needing_arrays_in_the_python_backend_computes_with_lists():
    for formula in ("sum(x)", "a @ b"):
        assert exprgrad.compile(formula).backend == "lists"  # backends/lists: nested lists
        with pytest.raises(exprgrad.FormulaError, match="backend='numpy'"):
            exprgrad.compile(formula, backend="c")
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


# --- non-finite results: an error naming the op, and never a numpy warning ---------------


def test_overflow_is_an_evaluation_error_and_warns_nothing():
    import warnings

    f = exprgrad.compile("sum(x*y) + norm2(x)", backend="numpy")
    x, y = np.array([1e200, 1.0]), np.array([1e200, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the test
        for call in (f, f.value_and_grad, lambda **p: f.vjp(1.0, **p)):
            with pytest.raises(exprgrad.EvaluationError, match=r"^overflow in x\*y at line 1"):
                call(x=x, y=y)
        # inf in, nan out (inf * 0), as numpy does: no error and no warning either
        assert np.isnan(f(x=np.array([np.inf, 1.0]), y=np.array([0.0, 1.0])))
    g = exprgrad.compile("h = a*b + c*d\nsum(h * 1e300)", backend="numpy")
    one = np.ones(3)
    with pytest.raises(exprgrad.EvaluationError, match=r"^overflow in h \* 1e300"):
        g.value_and_grad(a=one, b=one, c=one, d=one * 1e10)


_VALUES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 3.0, 1e200, -1e200, 1e-300, 700.0])
_LEAVES = st.sampled_from(["x", "y", "2", "0.5"])


def _formulas():
    def grow(inner):
        unary = st.sampled_from(["exp", "log", "sqrt", "tanh", "abs", "log1p", "sigmoid"])
        reduce = st.sampled_from(["sum", "mean", "amax", "logsumexp", "norm2"])
        binary = st.sampled_from(["+", "-", "*", "/"])
        return st.one_of(
            st.tuples(unary, inner).map(lambda t: f"{t[0]}({t[1]})"),
            # + 0*x: a reduction of constants alone is a folding question, not this test's
            st.tuples(reduce, inner).map(lambda t: f"{t[0]}({t[1]} + 0*x)"),
            st.tuples(inner, binary, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        )

    return st.recursive(_LEAVES, grow, max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(
    _formulas(),
    st.lists(_VALUES, min_size=3, max_size=3),
    st.lists(_VALUES, min_size=3, max_size=3),
)
def test_fuzz_finite_inputs_give_finite_results_or_an_evaluation_error(formula, xs, ys):
    """From finite inputs, every call returns finite numbers or raises EvaluationError
    naming an op of the formula; no numpy warning escapes, and nothing else is raised."""
    import warnings

    f = exprgrad.compile(f"sum({formula} + 0*x + 0*y)", backend="numpy")
    point = {"x": np.array(xs), "y": np.array(ys)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            value, grads = f.value_and_grad(**point)
        except exprgrad.EvaluationError as error:
            assert error.line == 1 and error.column >= 1 and " in " in error.message
            return
    assert np.isfinite(value) and all(np.isfinite(g).all() for g in grads.values())


# --- traces --------------------------------------------------------------------------------


def test_trace_of_a_constant_value_and_of_an_unused_input():
    f = exprgrad.compile("h0 = v0\n3", backend="numpy")
    v0 = np.ones(2, dtype=np.float32)
    trace = f.trace(v0=v0)
    assert trace.value == 3.0
    assert trace.grads["v0"].dtype == np.float32 and trace.grads["v0"].tolist() == [0.0, 0.0]
    g = exprgrad.compile("h = y*2\nsum(x)", backend="numpy")
    trace = g.trace(x=np.ones(2), y=np.ones(3, dtype=np.float32))
    assert trace.grads["y"].shape == (3,) and trace.grads["y"].dtype == np.float32
    assert not trace.grads["y"].any() and trace.grads["x"].tolist() == [1.0, 1.0]


# --- empty arrays --------------------------------------------------------------------------


@pytest.mark.parametrize("func", ["mean", "amax", "amin", "logsumexp", "softmax", "log_softmax"])
def test_an_empty_axis_is_a_shape_error_naming_the_op(func):
    f = exprgrad.compile(f"s = 2*x\nsum({func}(s, 0))", backend="numpy")
    with pytest.raises(exprgrad.ShapeError) as info:
        f.value_and_grad(x=np.ones((0, 3)))
    error = info.value
    assert error.message.startswith(f"{func}() over axis 0, of length 0, in {func}(s, 0)")
    assert "operand shape (0, 3)" in error.message
    assert (error.line, error.column) == (2, 5) and "^^^" in str(error)
    assert f.value_and_grad(x=np.ones((3, 0)))[0] == 0.0 or func in ("softmax", "log_softmax")
    if func not in ("softmax", "log_softmax"):  # no axis: of everything
        with pytest.raises(exprgrad.ShapeError, match=rf"^{func}\(\) of an empty array"):
            exprgrad.compile(f"{func}(x)", backend="numpy")(x=np.ones((0, 3)))


def test_a_sum_of_nothing_is_zero():
    f = exprgrad.compile("sum(x) + sum(sum(x, 1)) + norm2(x)", backend="numpy")
    value, grads = f.value_and_grad(x=np.ones((0, 3)))
    assert value == 0.0 and grads["x"].shape == (0, 3)


_REDUCTIONS = ["sum", "mean", "amax", "amin", "logsumexp", "softmax", "log_softmax"]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(_REDUCTIONS),
    st.lists(st.integers(0, 2), min_size=1, max_size=3),
    st.sampled_from([None, 0, -1, 1]),
)
def test_fuzz_reductions_of_empty_arrays(func, shape, axis):
    """A reduction over an axis of length 0 (or of an empty array) is a ShapeError,
    except for sum; anything else computes, without warnings, in numpy's shapes."""
    import warnings

    if axis is not None and not -len(shape) <= axis < len(shape):
        return
    written = f"{func}(x)" if axis is None else f"{func}(x, axis={axis})"
    f = exprgrad.compile(f"sum({written} * 2)", backend="numpy")
    x = np.ones(shape)
    empty = x.size == 0 if axis is None or func in ("softmax", "log_softmax") else False
    if axis is not None:
        empty = shape[axis] == 0
    elif func in ("softmax", "log_softmax"):
        empty = shape[-1] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if empty and func != "sum":
            with pytest.raises(exprgrad.ShapeError, match=rf"^{func}\(\) "):
                f.value_and_grad(x=x)
            return
        value, grads = f.value_and_grad(x=x)
    assert np.isfinite(value) and grads["x"].shape == x.shape


# --- arguments: dtypes, strings, masks, cotangents ------------------------------------------


def test_input_dtypes():
    f = exprgrad.compile("sum(x * x)", backend="numpy")
    half = f.value_and_grad(x=np.array([1.5, 2.0], dtype=np.float16))
    assert half[0].dtype == np.float32 and half[1]["x"].dtype == np.float32
    for other in (np.array([1, 2]), np.array([True, False]), np.array([1, 2], dtype=np.uint8)):
        value, grads = f.value_and_grad(x=other)
        assert value.dtype == np.float64 and grads["x"].dtype == np.float64
    wide = np.array([1.0, 2.0], dtype=np.longdouble)
    if np.finfo(np.longdouble).bits > 64:  # wider than float64: refused, never rounded
        with pytest.raises(exprgrad.ArgumentError, match=r"argument 'x' is an array of float"):
            f(x=wide)
    else:  # a longdouble that is a double
        assert f.value_and_grad(x=wide)[1]["x"].dtype == np.float64


def test_arguments_that_are_not_real_numbers_are_refused():
    f = exprgrad.compile("sum(x * x)", backend="numpy")
    for bad, fragment in [
        (["1", "2"], "a list of strings"),
        ([1.0, "2"], "a list of strings"),
        ((1.0, None), "a tuple holding NoneType None"),
        ([[1.0], [1.0, 2.0]], "a list of unequal rows"),
        ([1j, 2.0], "a list of complex numbers"),
        (np.array(["1.0"]), "an array of strings"),
        (np.array([1 + 2j]), "an array of complex numbers"),
        ("1.0", "must be an array or a real number, not str"),
    ]:
        with pytest.raises(exprgrad.ArgumentError, match=rf"^argument 'x' .*{fragment}"):
            f(x=bad)
    from fractions import Fraction

    assert f(x=[Fraction(1, 2), 2]) == 4.25 and f(x=[True, 2]) == 5.0
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(exprgrad.ArgumentError, match="argument 'x' is a masked array"):
        f(x=masked)


def test_a_nan_cotangent_propagates():
    f = exprgrad.compile("x * x", backend="numpy")
    value, grads = f.vjp(np.array([np.nan, 1.0]), x=np.array([1.0, 3.0]))
    assert value.tolist() == [1.0, 9.0]
    assert np.isnan(grads["x"][0]) and grads["x"][1] == 6.0


def test_shape_errors_at_call_time_are_shape_errors():
    f = exprgrad.compile("x * x", backend="numpy")
    with pytest.raises(exprgrad.ShapeError, match="needs a scalar value"):
        f.value_and_grad(x=np.ones(2))
    with pytest.raises(exprgrad.ShapeError, match=r"the cotangent has shape \(3,\)"):
        f.vjp(np.ones(3), x=np.ones(2))


def test_without_numpy_the_backend_names_what_to_install():
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import exprgrad\n"
        "try:\n"
        "    exprgrad.compile('sum(x)', backend='numpy')\n"
        "except exprgrad.MissingDependencyError as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("MissingDependencyError ")
    assert "pip install 'exprgrad[array]'" in out.stdout


_ITEMS = st.one_of(
    st.integers(-5, 5),
    st.floats(-10, 10),
    st.booleans(),
    st.fractions(max_denominator=7).filter(lambda q: abs(q) < 10),
    st.sampled_from(["1", "2.5", "x", b"1", None, 1j, 2 + 0j, [1.0, 2.0]]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_ITEMS, min_size=1, max_size=4), st.booleans())
def test_fuzz_list_arguments(items, as_tuple):
    """A list (or tuple) of real numbers computes as the float64 array of its values;
    anything else in it (a string, bytes, None, a complex number, a ragged row) is an
    ArgumentError naming the argument, never a silent conversion."""
    f = exprgrad.compile("sum(x * x)", backend="numpy")
    value = tuple(items) if as_tuple else items
    real = all(isinstance(i, int | float) or type(i).__name__ == "Fraction" for i in items)
    rows = all(isinstance(i, list) for i in items)  # equal rows: a matrix
    if real or rows:
        expected = np.array(items if rows else [float(i) for i in items])
        got, grads = f.value_and_grad(x=value)
        assert got == float(np.sum(expected * expected))
        assert grads["x"].dtype == np.float64 and grads["x"].tolist() == (2 * expected).tolist()
    else:
        with pytest.raises(exprgrad.ArgumentError, match="^argument 'x' "):
            f(x=value)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(
        ["f2", "f4", "f8", "g", "i1", "i8", "u2", "?", "c8", "c16", "U3", "S2", "O", "M8[s]"]
    )
)
def test_fuzz_array_dtypes(dtype):
    """Every dtype either computes in float32 or float64 (by the documented rule) or is an
    ArgumentError naming the argument."""
    f = exprgrad.compile("sum(x * x)", backend="numpy")
    x = np.array([1, 2], dtype=dtype) if dtype not in ("U3", "S2") else np.array(["1", "2"], dtype)
    wanted = {"f2": np.float32, "f4": np.float32}.get(dtype, np.float64)
    if np.dtype(dtype) == np.longdouble and np.finfo(np.longdouble).bits > 64:
        wanted = None
    if np.dtype(dtype).kind not in "biuf":
        wanted = None
    if wanted is None:
        with pytest.raises(exprgrad.ArgumentError, match="^argument 'x' is an array of "):
            f(x=x)
        return
    value, grads = f.value_and_grad(x=x)
    assert value == np.sum(x.astype(np.float64) ** 2) and value.dtype == wanted
    assert grads["x"].dtype == wanted


@pytest.mark.parametrize(
    ("formula", "point", "message"),
    [
        ("sum(x**2)", {"x": [0.0, 1e200]}, "overflow in x**2"),
        ("sum(x**-1)", {"x": [0.0, 1.0]}, "division by zero in x**-1"),
        ("sum(x**0.5)", {"x": [-1.0, 1.0]}, "pow of a negative number"),
        ("sum(a/b)", {"a": [1e300, 1.0], "b": [1e-300, 0.5]}, "overflow in a/b"),
        ("sum(a/b)", {"a": [1e300, 1.0], "b": [1e-300, 0.0]}, "division by zero in a/b"),
        ("sum(log(x))", {"x": [0.0, 1.0]}, "log of a non-positive number in log(x)"),
        ("sum(exp(x))", {"x": [1000.0, 1.0]}, "overflow in exp(x)"),
        ("sum(sqrt(x))", {"x": [0.0, 1.0]}, "division by zero in the gradient of sqrt(x)"),
        ("mean(x @ x)", {"x": [[1e200, 1.0], [1.0, 1.0]]}, "overflow in x @ x"),
    ],
)
def test_non_finite_reasons(formula, point, message):
    f = exprgrad.compile(formula, backend="numpy")
    with pytest.raises(exprgrad.EvaluationError) as info:
        f.value_and_grad(**{k: np.array(v) for k, v in point.items()})
    assert info.value.message.startswith(message)


def test_a_traced_row_is_never_accumulated_into():
    """The diagnosis traces every op; a gradient accumulated in place (x_grad += t) had
    renamed the rows it overwrote: a NameError instead of the error's message."""
    f = exprgrad.compile("sum(where(x > 0, x*log(x), 0)) + sum(log(x))", backend="numpy")
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive number"):
        f.value_and_grad(x=np.array([0.0, 1.0]))


@pytest.mark.parametrize("formula", ["sum(s)", "mean(s) + norm2(s)", "transpose(s)", "amax(s)"])
def test_a_number_in_gives_numpy_scalars_out(formula):
    """The gradient of sum(s) at a number s is the literal 1.0: `1.0[()]` was a TypeError
    ('float' object is not subscriptable) inside the generated code."""
    f = exprgrad.compile(formula, backend="numpy")
    for s, dtype in ((2.0, np.float64), (np.float32(2.0), np.float32)):
        value, grads = f.value_and_grad(s=s)
        assert type(value) is dtype and type(grads["s"]) is dtype
        assert grads["s"] == {"sum(s)": 1.0, "transpose(s)": 1.0, "amax(s)": 1.0}.get(formula, 5.0)


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


@pytest.mark.parametrize(
    "formula", ["sum(amax(x, 0))", "sum(amin(x) * x)", "max(x, 1.5) @ ones", "mean(x)"]
)
def test_a_float32_program_computes_every_line_in_float32(formula):
    """Float32 in, float32 throughout: the tie counts of amax/amin and every other line of
    the generated code are float32 arrays (a float64 count would double the memory of that
    line and turn what it meets into float64 until the last cast)."""
    f = exprgrad.compile(formula, backend="numpy")
    x = np.array([[1.0, 3.0, 3.0], [3.0, 2.0, 2.0]], np.float32)
    point = {"x": x, "ones": np.ones(3, np.float32)} if "ones" in formula else {"x": x}
    value = f(**point)
    f.vjp(np.ones_like(value), **point) if np.ndim(value) else f.value_and_grad(**point)
    source = f.source_for(**point)
    lines = [line for line in source.splitlines() if "# " in line and "[" in line]
    assert lines and all("float32]" in line or "bool]" in line for line in lines), source


@pytest.mark.parametrize(
    ("formula", "point", "blamed"),
    [
        # log(0) sits in the branch where did not choose: the 0/0 after it is to blame
        (
            "sum(where(x > 0, x*log(x), 0) / y)",
            {"x": [0.0, 1.0], "y": [0.0, 1.0]},
            "division by zero in where(x > 0, x*log(x), 0) / y",
        ),
        (
            "sum(where(x > 0, sqrt(x) * log(x), 1) * exp(y))",
            {"x": [0.0, 2.0], "y": [1000.0, 0.0]},
            "overflow in exp(y)",
        ),
        # the chosen branch's own failure is still named
        (
            "sum(where(x > -1, log(x), 0))",
            {"x": [0.0, 1.0]},
            "log of a non-positive number in log(x)",
        ),
        # a reduction passes its operand's maker on
        ("amax(log(x) * y)", {"x": [0.0, 0.0], "y": [1.0, 1.0]}, "log of a non-positive"),
    ],
)
def test_the_op_blamed_for_a_non_finite_result_is_the_one_whose_value_reaches_it(
    formula, point, blamed
):
    f = exprgrad.compile(formula, backend="numpy")
    with pytest.raises(exprgrad.EvaluationError) as info:
        f.value_and_grad(**{k: np.array(v) for k, v in point.items()})
    assert info.value.message.startswith(blamed), info.value.message


@pytest.mark.parametrize(
    ("formula", "message"),
    [("sum(x) + 1/0", "division by zero in 1/0"), ("sum(x) + 10.0**400", "overflow in 10.0**400")],
)
def test_numbers_alone_that_python_cannot_compute_are_named_as_numpy_computes_them(
    formula, message
):
    # an op of two numbers is Python arithmetic, which raises where numpy gives an inf
    for backend in ("numpy", "python"):
        f = exprgrad.compile(formula, backend=backend)
        x = np.array([1.0]) if backend == "numpy" else [1.0]
        for call in (f, f.value_and_grad):
            with pytest.raises(exprgrad.EvaluationError, match=re.escape(message)):
                call(x=x)
