"""Interop: f.flat for scipy.optimize.minimize, exprgrad.residuals for least squares,
compile(sympy expression) (exprgrad/from_sympy.py), and examples/curve_fit.py."""

from __future__ import annotations

import math
import pickle
import random
import runpy
import sys
import zlib
from pathlib import Path

import pytest
from test_codegen import GOLDEN_FORMULAS
from test_primitives import CASE_LIST, points

import exprgrad
from exprgrad import interop
from exprgrad.from_sympy import formula_text

np = pytest.importorskip("numpy")
sp = pytest.importorskip("sympy")

ROSENBROCK = "(1 - a)**2 + 100*(b - a*a)**2"

# --- f.flat ----------------------------------------------------------------------------------


def test_flat_is_value_and_gradient_over_one_vector():
    f = exprgrad.compile("a*x**2 + sin(b*x) + c")
    point = {"a": 0.5, "x": 1.5, "b": -2.0, "c": 3.0}
    value, grads = f.value_and_grad(**point)
    fun = f.flat()
    assert fun.names == f.wrt == ("a", "x", "b", "c")
    for vector in ([0.5, 1.5, -2.0, 3.0], (0.5, 1.5, -2.0, 3.0), np.array([0.5, 1.5, -2, 3])):
        got, gradient = fun(vector)
        assert got == value
        assert isinstance(gradient, np.ndarray) and gradient.dtype == np.float64
        assert gradient.tolist() == [grads[name] for name in f.wrt]
    ints, floats = fun([1, 2, 3, 4]), fun([1.0, 2.0, 3.0, 4.0])  # ints are converted
    assert ints[0] == floats[0] and ints[1].tolist() == floats[1].tolist()


def test_flat_names_order_and_fixed_inputs():
    f = exprgrad.compile("a*x**2 + sin(b*x) + c", wrt=["a", "b"])
    point = {"a": 0.5, "x": 1.5, "b": -2.0, "c": 3.0}
    value, grads = exprgrad.compile(f.formula).value_and_grad(**point)
    fun = f.flat(["x", "a"], b=-2, c=3.0)  # any inputs, not only f.wrt
    got, gradient = fun([1.5, 0.5])
    assert got == value and gradient.tolist() == [grads["x"], grads["a"]]
    assert "def flat(x, a, b, c):" in fun.source and "return t" in fun.source
    assert f.flat("x, a", b=-2, c=3)([1.5, 0.5])[1].tolist() == gradient.tolist()
    assert f.flat(names=["x", "a"], b=-2, c=3)([1.5, 0.5])[0] == value
    # the generated code is made once per list of names, whatever the fixed values
    assert f.flat(["x", "a"], b=0.0, c=0.0).__closure__ is not None
    assert len(f.__dict__["_flat_functions"]) == 1


def test_fixed_inputs_go_by_name_whatever_the_keyword_order():
    """Fixed inputs given by keyword in another order than the formula's still reach
    their own parameter (flat and residuals alike)."""
    f = exprgrad.compile("x * b + c")
    fun = f.flat(["x"], c=10.0, b=2.0)
    assert fun([3.0])[0] == 16.0 and fun([3.0])[1].tolist() == [2.0]
    r = exprgrad.residuals(["x * b + c", "x - b"], ["x"], c=10.0, b=2.0)
    assert r([3.0]).tolist() == [16.0, 1.0] and r.jac([3.0]).tolist() == [[2.0], [1.0]]


def test_a_name_left_out_of_a_tangent_dict_counts_as_zero():
    f = exprgrad.compile("a * a * b")
    assert f.jvp({"a": 1.0}, a=3.0, b=2.0) == (18.0, 12.0)
    assert f.jvp({"b": 1.0}, a=3.0, b=2.0) == (18.0, 9.0)
    assert f.hvp({"a": 1.0}, a=3.0, b=2.0) == {"a": 4.0, "b": 6.0}


def test_flat_default_names_leave_out_the_fixed_inputs():
    f = exprgrad.compile("(x - t)**2 + y*t")
    fun = f.flat(t=2.0)
    assert fun.names == ("x", "y")
    assert fun([1.0, 1.0])[1].tolist() == [-2.0, 2.0]


def test_flat_inputs_called_names():
    f = exprgrad.compile("names*x + x*x")
    fun = f.flat(["x"], names=2.0)  # an input called `names` is fixed by keyword
    assert fun([3.0])[0] == 15.0
    assert f.flat(["names"], x=3.0)([2.0])[1].tolist() == [3.0]


def test_flat_without_numpy_returns_lists(monkeypatch):
    monkeypatch.setattr(interop, "_numpy", lambda: None)
    fun = exprgrad.compile(ROSENBROCK).flat()
    assert fun([1.0, 1.0]) == (0.0, [0.0, 0.0])
    r = exprgrad.residuals(["a - 1", "a*b"])
    assert r([2.0, 3.0]) == [1.0, 6.0]
    assert r.jac([2.0, 3.0]) == [[1.0, 0.0], [3.0, 2.0]]


def test_flat_with_scipy_minimize():
    optimize = pytest.importorskip("scipy.optimize")
    fun = exprgrad.compile(ROSENBROCK).flat()
    result = optimize.minimize(fun, [-1.2, 1.0], jac=True, method="BFGS")
    assert result.success and np.allclose(result.x, [1.0, 1.0], atol=1e-5)
    fixed = exprgrad.compile("(x - t)**2 + (y + t)**2").flat(["x", "y"], t=2.5)
    result = optimize.minimize(fixed, np.zeros(2), jac=True, method="L-BFGS-B")
    assert np.allclose(result.x, [2.5, -2.5], atol=1e-6)


def test_flat_bad_input():
    f = exprgrad.compile("a*x + b")
    fun = f.flat(["a", "x"], b=1.0)
    with pytest.raises(ValueError, match="has 3 entries; expected 2 \\(a, x\\)"):
        fun([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="has 1 entries; expected 2"):
        fun(np.array([1.0]))
    with pytest.raises(ValueError, match="1-D"):
        fun(np.ones((2, 2)))
    with pytest.raises(TypeError, match="argument 'x' must be a real number, not str"):
        fun([1.0, "2"])
    with pytest.raises(ValueError, match="'q', which is not an input"):
        f.flat(["a", "q"], b=1.0, x=2.0)
    with pytest.raises(ValueError, match="'b' is both in the vector and fixed"):
        f.flat(["a", "b"], b=1.0, x=2.0)
    with pytest.raises(TypeError, match="missing fixed input.*'b'"):
        f.flat(["a", "x"])
    with pytest.raises(TypeError, match="unexpected fixed input.*'z'"):
        f.flat(["a", "x"], b=1.0, z=2.0)
    with pytest.raises(ValueError, match="'a' more than once"):
        f.flat(["a", "a", "x"], b=1.0)
    with pytest.raises(TypeError, match="argument 'b' must be a real number, not NoneType"):
        f.flat(["a", "x"], b=None)
    with pytest.raises(TypeError, match="names must be str"):
        f.flat([1, 2], b=1.0)


# --- residuals -------------------------------------------------------------------------------


def test_residuals_and_their_jacobian():
    formulas = ["a*exp(-b*0.5) - 1.2", "a*exp(-b*1.5) - 0.4", "where(b > 0, log(b), 0) + a"]
    r = exprgrad.residuals(formulas)
    assert r.wrt == r.inputs == ("a", "b") and r.formulas == tuple(formulas)
    x = [2.0, 0.7]
    values, jacobian = r(x), r.jac(np.array(x))
    assert values.shape == (3,) and jacobian.shape == (3, 2)
    for k, formula in enumerate(formulas):
        value, grads = exprgrad.compile(formula).value_and_grad(a=2.0, b=0.7)
        assert values[k] == pytest.approx(value, rel=1e-15)
        assert jacobian[k].tolist() == pytest.approx([grads["a"], grads["b"]], rel=1e-15)
    # the branch not taken: no log(-1), no nan
    assert np.isfinite(r.jac([2.0, -1.0])).all()
    assert "def residuals(a, b):" in r.source and "def jacobian(a, b):" in r.source
    assert repr(r) == f"exprgrad.residuals({formulas!r}, wrt=['a', 'b'])"


def test_residuals_wrt_fixed_and_sympy():
    t = sp.Symbol("t", real=True)
    k = sp.Symbol("k", real=True)
    r = exprgrad.residuals(["k*t - 1", sp.exp(k * t) - 2], wrt=["k"], t=0.5)
    assert r.wrt == ("k",) and r.inputs == ("k", "t")
    assert r([2.0]).tolist() == [0.0, math.exp(1.0) - 2]
    assert r.jac([2.0]).tolist() == [[0.5], [0.5 * math.exp(1.0)]]
    s = exprgrad.residuals(["wrt*x - 1"], ["x"], wrt=3.0)  # an input called wrt
    assert s([1.0]).tolist() == [2.0]
    one = exprgrad.residuals(sp.exp(k * t) - 2, t=0.0)  # one expression; wrt: all not fixed
    assert one.wrt == ("k",) and one([5.0]).tolist() == [-1.0]


def test_residuals_over_the_size_limit(monkeypatch):
    monkeypatch.setattr(exprgrad.function, "MAX_OPERATIONS", 100)
    formulas = [f"tanh(a*{k} + b) - 0.5" for k in range(20)]
    with pytest.raises(exprgrad.FormulaError, match="their Jacobian program has"):
        exprgrad.residuals(formulas)


def test_least_squares_fit():
    optimize = pytest.importorskip("scipy.optimize")
    rng = random.Random(1)
    data = [(t / 4, 3.0 * math.exp(-0.8 * t / 4) + rng.gauss(0, 0.01)) for t in range(20)]
    r = exprgrad.residuals([f"A*exp(-k*{t!r}) - ({y!r})" for t, y in data])
    fit = optimize.least_squares(r, [1.0, 0.1], jac=r.jac)
    assert fit.success and np.allclose(fit.x, [3.0, 0.8], atol=0.02)


def test_residuals_bad_input():
    r = exprgrad.residuals(["a + b", "a*b"])
    with pytest.raises(ValueError, match="has 3 entries; expected 2"):
        r([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="has 1 entries"):
        r.jac(np.array([1.0]))
    with pytest.raises(ValueError, match="at least one formula"):
        exprgrad.residuals([])
    with pytest.raises(TypeError, match="missing fixed input.*'b'"):
        exprgrad.residuals(["a + b"], ["a"])
    with pytest.raises(exprgrad.FormulaError, match="unknown function 'lgo'"):
        exprgrad.residuals(["a", "lgo(a)"])
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive.*line 2"):
        exprgrad.residuals(["a", "log(a)"])([-1.0])


# --- compile(sympy expression) ---------------------------------------------------------------

CORPUS = [(formula, domain) for _, formula, domain in CASE_LIST] + [
    (formula, {}) for formula in GOLDEN_FORMULAS.values()
]
# Domains where the goldens are defined: stable's softplus and erf anywhere, keywords'
# log(2*print - exec) needs 2*print > exec.
DOMAINS = {GOLDEN_FORMULAS["keywords"]: {"print": (1.0, 2.0), "exec": (-2.0, 0.5)}}


@pytest.mark.parametrize(("formula", "domain"), CORPUS, ids=[f for f, _ in CORPUS])
def test_sympy_round_trip(formula, domain):
    """compile(f.to_sympy()) gives the same values and gradients, to 1e-12 relative (1e-14
    absolute; 2e-14 is the worst seen): sympy reorders sums and rewrites sigmoid, softplus,
    log1p, expm1, hypot and clip in exp, log, sqrt, Min and Max, which round differently."""
    f = exprgrad.compile(formula)
    g = exprgrad.compile(f.to_sympy())
    assert set(g.inputs) <= set(f.inputs)
    domain = DOMAINS.get(formula, domain)
    for point in points(f, domain, 4, seed=zlib.crc32(formula.encode())):
        value, grads = f.value_and_grad(**point)
        got, got_grads = g.value_and_grad(**{name: point[name] for name in g.inputs})
        assert got == pytest.approx(value, rel=1e-12, abs=1e-14)
        for name in f.wrt:
            expected = got_grads.get(name, 0.0)
            assert expected == pytest.approx(grads[name], rel=1e-12, abs=1e-14), name


def test_sympy_formula_text():
    x, y = sp.symbols("x y", real=True)
    assert formula_text(sp.exp(-(x**2)) / (1 + y**2)) == "exp(-x ** 2) / (1 + y ** 2)"
    assert formula_text(x - 2 * y) == "x - 2 * y"
    assert formula_text(sp.Rational(1, 3) * x) == "x / 3"
    assert formula_text(1 / sp.sqrt(x) + sp.sqrt(y)) == "1 / sqrt(x) + sqrt(y)"
    assert formula_text(x**-2) == "x ** -2"
    assert formula_text(sp.Float("0.1") * x) == "0.1 * x"
    assert formula_text(sp.pi * sp.E * x) == "e * pi * x"
    assert formula_text(sp.Piecewise((x, x > 0), (y, x < -1), (0, True))) == (
        "where(x > 0, x, where(x < -1, y, 0))"
    )
    assert formula_text(sp.Min(x, y, 0)) == "min(0, x, y)"
    # a number as condition (a Symbol is a sympy Boolean too): nonzero is true, as in where
    assert formula_text(sp.Piecewise((x, y), (0, True))) == "where(y, x, 0)"
    # and back: where(c, a, b) with a plain number as condition is Piecewise on c != 0
    where = exprgrad.compile("where(c, a, b)").to_sympy()
    c = sp.Symbol("c", real=True)
    assert where.subs(c, 0) == sp.Symbol("b", real=True)
    assert where.subs(c, 2) == sp.Symbol("a", real=True)
    assert exprgrad.compile(where)(a=1.0, b=2.0, c=0.0) == 2.0
    f = exprgrad.compile(sp.Rational(1, 3) * x + sp.atan2(y, x) + sp.Abs(y))
    assert f.formula == "x / 3 + abs(y) + atan2(y, x)"
    assert f(x=3.0, y=0.0) == 1.0
    assert pickle.loads(pickle.dumps(f)).formula == f.formula
    assert exprgrad.compile(sp.Heaviside(x))(x=0.0) == 0.5
    assert exprgrad.compile(sp.sign(x) + sp.erfc(x) + sp.asinh(x))(x=0.0) == 1.0
    assert exprgrad.compile(2 * x, wrt=["x"]).grad(x=1.0) == {"x": 2.0}


# every sympy function from_sympy maps, and points inside its domain
_SYMPY_FUNCTIONS = [
    ("exp", (-1.5, 0.3, 2.0)),
    ("log", (0.2, 1.5, 4.0)),
    ("sin", (-1.5, 0.3, 2.0)),
    ("cos", (-1.5, 0.3, 2.0)),
    ("tan", (-1.2, 0.3, 1.0)),
    ("asin", (-0.9, 0.2, 0.7)),
    ("acos", (-0.9, 0.2, 0.7)),
    ("atan", (-1.5, 0.3, 2.0)),
    ("sinh", (-1.5, 0.3, 2.0)),
    ("cosh", (-1.5, 0.3, 2.0)),
    ("tanh", (-1.5, 0.3, 2.0)),
    ("Abs", (-1.5, 0.3, 2.0)),
    ("erf", (-1.5, 0.3, 2.0)),
    ("erfc", (-1.5, 0.3, 2.0)),
    ("asinh", (-1.5, 0.3, 2.0)),
    ("acosh", (1.2, 2.0, 5.0)),
    ("atanh", (-0.9, 0.2, 0.7)),
    ("cot", (0.3, 1.0, 2.0)),
    ("sec", (-1.2, 0.3, 1.0)),
    ("csc", (0.3, 1.0, 2.0)),
    ("sign", (-2.0, 3.0)),
]


@pytest.mark.parametrize(("name", "at"), _SYMPY_FUNCTIONS, ids=[n for n, _ in _SYMPY_FUNCTIONS])
def test_each_sympy_function_means_what_sympy_means(name, at):
    """compile(F(x)) has sympy's value and derivative of F(x), for every function
    from_sympy maps (each on its own, so no round trip through exprgrad hides a swap)."""
    x = sp.Symbol("x", real=True)
    expr = getattr(sp, name)(x)
    f = exprgrad.compile(expr)
    for v in at:
        value, grads = f.value_and_grad(x=v)
        assert value == pytest.approx(float(expr.subs(x, v)), rel=1e-12, abs=1e-15)
        expected = float(sp.diff(expr, x).subs(x, v))
        assert grads["x"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    y = sp.Symbol("y", real=True)
    for two in (sp.Min(x, y), sp.Max(x, y), sp.atan2(y, x)):
        g = exprgrad.compile(two)
        assert g(x=0.5, y=-2.0) == pytest.approx(float(two.subs({x: 0.5, y: -2.0})), rel=1e-15)


def test_sympy_rational_exponents_keep_their_parentheses():
    x = sp.Symbol("x", real=True)
    assert formula_text(x ** sp.Rational(1, 3)) == "x ** (1 / 3)"
    assert exprgrad.compile(x ** sp.Rational(-2, 3))(x=8.0) == pytest.approx(0.25, rel=1e-15)


def test_sympy_shared_subexpressions_are_written_once():
    x = sp.Symbol("x", real=True)
    expr = x
    for _ in range(40):  # a tree of 2**40 leaves, a DAG of 40 nodes
        expr = sp.sin(expr) + sp.cos(expr) * expr
    text = formula_text(expr)
    assert len(text) < 5_000 and text.count("\n") == 39  # s1 ... s39, then the value
    f = exprgrad.compile(expr)
    reference = 0.3
    for _ in range(40):
        reference = math.sin(reference) + math.cos(reference) * reference
    assert f(x=0.3) == pytest.approx(reference, rel=1e-12)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda x, y: sp.Derivative(sp.Function("f")(x), x), "sympy's Derivative has no"),
        (lambda x, y: sp.Function("f")(x) + y, "sympy's undefined function f has no"),
        (lambda x, y: sp.Integral(x, x), "sympy's Integral has no counterpart"),
        (lambda x, y: sp.I * x, "sympy's ImaginaryUnit has no counterpart"),
        (lambda x, y: sp.oo * x, "sympy's Infinity has no counterpart"),
        (lambda x, y: sp.gamma(x), "sympy's gamma has no counterpart"),
        (lambda x, y: sp.Piecewise((x, x > 0)), "Piecewise has no counterpart.*True"),
        (
            lambda x, y: sp.Piecewise((x, (x > 0) & (y > 0)), (0, True)),
            "sympy's And has no counterpart.*one comparison",
        ),
        (lambda x, y: x < y, "StrictLessThan is a condition"),
        (lambda x, y: sp.Symbol("e") * x, "'e' is exprgrad's constant e"),
        (lambda x, y: sp.Symbol("x y") * x, "'x y' is not a name"),
        (lambda x, y: sp.Symbol("x") * x, "two different sympy symbols are both named 'x'"),
    ],
)
def test_sympy_nodes_without_counterpart(make, message):
    x, y = sp.symbols("x y", real=True)
    with pytest.raises(exprgrad.FormulaError, match=message):
        exprgrad.compile(make(x, y))


def test_not_a_formula():
    with pytest.raises(TypeError, match="a formula must be a str, not int"):
        exprgrad.compile(3)
    with pytest.raises(TypeError, match="expected a sympy expression, not list"):
        formula_text([1])


# --- the example -----------------------------------------------------------------------------


def test_curve_fit_example(capsys, monkeypatch, tmp_path):
    pytest.importorskip("scipy")
    picture = tmp_path / "fit.png"
    example = Path(__file__).resolve().parent.parent / "examples" / "curve_fit.py"
    monkeypatch.setattr(sys, "argv", [str(example), "--picture", str(picture)])
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    truth = {"K": 10.0, "r": 1.2, "t0": 4.0}
    for label in ("BFGS:", "least squares:"):
        line = next(line for line in out.splitlines() if line.startswith(label))
        fitted = dict(part.split(" = ") for part in line.split(":", 1)[1].strip().split(", "))
        for name, value in truth.items():
            assert abs(float(fitted[name]) - value) < 0.1, (label, name, fitted)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
    else:
        assert picture.stat().st_size > 0 and f"saved {picture}" in out
