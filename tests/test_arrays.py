"""The numpy backend's runtime: specialisation per signature, source, trace, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
