"""Interop: f.flat for scipy.optimize.minimize, exprgrad.residuals for least squares,
compile(sympy expression) (exprgrad/from_sympy.py), and examples/curve_fit.py."""

from __future__ import annotations

import functools
import math
import pickle
import random
import runpy
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_codegen import GOLDEN_FORMULAS
from test_primitives import CASE_LIST, points

import exprgrad
from exprgrad.backends.python import vectors
from exprgrad.frontends.sympy import formula_text

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
    expected = [grads[name] for name in f.wrt]
    for vector in ([0.5, 1.5, -2.0, 3.0], (0.5, 1.5, -2.0, 3.0)):  # lists in, a list out
        got, gradient = fun(vector)
        assert got == value and type(gradient) is list and gradient == expected
        assert all(type(entry) is float for entry in gradient)
    got, gradient = fun(np.array([0.5, 1.5, -2, 3]))  # what scipy passes: an array out
    assert got == value
    assert isinstance(gradient, np.ndarray) and gradient.dtype == np.float64
    assert gradient.tolist() == expected
    ints, floats = fun([1, 2, 3, 4]), fun([1.0, 2.0, 3.0, 4.0])  # ints are converted
    assert ints == floats and type(ints[0]) is float


def test_flat_names_order_and_fixed_inputs():
    f = exprgrad.compile("a*x**2 + sin(b*x) + c", wrt=["a", "b"])
    point = {"a": 0.5, "x": 1.5, "b": -2.0, "c": 3.0}
    value, grads = exprgrad.compile(f.formula).value_and_grad(**point)
    fun = f.flat(["x", "a"], b=-2, c=3.0)  # any inputs, not only f.wrt
    got, gradient = fun([1.5, 0.5])
    assert got == value and gradient == [grads["x"], grads["a"]]
    # the fixed inputs are the closure of the function of the vector, which fun is
    assert "def flat_with(b, c):\n    def flat(_x):\n" in fun.source and "return t" in fun.source
    with pytest.raises(TypeError):
        fun([1.5, 0.5], b=1.0)  # so they cannot be passed again
    assert f.flat("x, a", b=-2, c=3)([1.5, 0.5])[1] == gradient
    assert f.flat(names=["x", "a"], b=-2, c=3)([1.5, 0.5])[0] == value
    # the generated code is made once per list of names, whatever the fixed values
    assert f.flat(["x", "a"], b=0.0, c=0.0).__closure__ is not None
    assert len(f.__dict__["_flat_functions"]) == 1


def test_fixed_inputs_are_converted_once_not_checked_each_call():
    f = exprgrad.compile("a*x + b")
    fun = f.flat(["a"], x=2, b=True)  # converted to floats here, once
    assert "if type(a) is not float" in fun.source and "type(x)" not in fun.source
    assert fun([3])[0] == 7.0 and type(fun([3])[0]) is float
    r = exprgrad.residuals(["a*x - 1"], ["a"], x=2)
    assert "type(x)" not in r.source and r([1]).tolist() == [1.0]


def test_fixed_inputs_go_by_name_whatever_the_keyword_order():
    """Fixed inputs given by keyword in another order than the formula's still reach
    their own parameter (flat and residuals alike)."""
    f = exprgrad.compile("x * b + c")
    fun = f.flat(["x"], c=10.0, b=2.0)
    assert fun([3.0])[0] == 16.0 and fun([3.0])[1] == [2.0]
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
    assert fun([1.0, 1.0])[1] == [-2.0, 2.0]


def test_flat_inputs_called_names():
    f = exprgrad.compile("names*x + x*x")
    fun = f.flat(["x"], names=2.0)  # an input called `names` is fixed by keyword
    assert fun([3.0])[0] == 15.0
    assert f.flat(["names"], x=3.0)([2.0])[1] == [3.0]


def test_flat_without_numpy_returns_lists(monkeypatch):
    monkeypatch.setattr(vectors, "numpy_module", lambda: None)
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


ROSEN = " + ".join(f"100*(x{i + 1} - x{i}**2)**2 + (1 - x{i})**2" for i in range(9))
ROSEN_INPUTS = [f"x{i}" for i in range(10)]


def test_flat_follows_compile_inputs():
    """Inputs in order of first appearance put x1 before x0 here, so flat() took scipy's
    vector in another order (2734.6 against scipy.optimize.rosen's 2057.0); inputs=
    names the order, and flat, hessian and positional calls follow it."""
    optimize = pytest.importorskip("scipy.optimize")
    x = np.linspace(-1.0, 2.0, 10) ** 3
    assert exprgrad.compile(ROSEN).inputs[:3] == ("x1", "x0", "x2")
    f = exprgrad.compile(ROSEN, inputs=ROSEN_INPUTS)
    assert f.inputs == f.wrt == tuple(ROSEN_INPUTS) and f.flat().names == f.inputs
    value, gradient = f.flat()(x)
    assert value == pytest.approx(optimize.rosen(x), rel=1e-14)
    assert np.allclose(gradient, optimize.rosen_der(x), rtol=1e-13, atol=0)
    assert f(*x.tolist()) == value
    assert np.allclose(f.hessian(*x.tolist()), optimize.rosen_hess(x), rtol=1e-13, atol=1e-12)


def test_flat_hess_and_hessp_for_scipy():
    optimize = pytest.importorskip("scipy.optimize")
    f = exprgrad.compile(ROSEN, inputs=ROSEN_INPUTS)
    fun, hess, hessp = f.flat(), f.flat_hess(), f.flat_hessp()
    assert hess.names == hessp.names == fun.names == tuple(ROSEN_INPUTS)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x, p = rng.normal(size=10), rng.normal(size=10)
        assert np.allclose(hess(x), optimize.rosen_hess(x), rtol=1e-13, atol=1e-12)
        assert isinstance(hess(x), np.ndarray) and hess(x).shape == (10, 10)
        assert np.allclose(hessp(x, p), optimize.rosen_hess_prod(x, p), rtol=1e-13, atol=1e-11)
        assert hessp(x.tolist(), list(p)) == hessp(x, p).tolist()  # lists in, a list out
    x0 = np.full(10, -1.2)
    for method, ours, theirs in [
        ("trust-exact", {"hess": hess}, {"hess": optimize.rosen_hess}),
        ("Newton-CG", {"hessp": hessp}, {"hessp": optimize.rosen_hess_prod}),
    ]:
        options = {"xtol": 1e-10} if method == "Newton-CG" else {}
        result = optimize.minimize(fun, x0, jac=True, method=method, options=options, **ours)
        scipys = optimize.minimize(
            optimize.rosen, x0, jac=optimize.rosen_der, method=method, options=options, **theirs
        )
        assert result.success and np.allclose(result.x, np.ones(10), atol=1e-7), method
        assert np.allclose(result.x, scipys.x, atol=1e-9) and result.nit == scipys.nit
    # names and fixed inputs as flat() takes them; the vector's order is the rows' order
    g = exprgrad.compile("a*x**2*y + sin(x*y)")
    point = dict(a=0.5, x=1.5, y=-0.7)
    full = exprgrad.compile(g.formula, wrt=["y", "x"]).hessian(**point)
    assert g.flat_hess(["y", "x"], a=0.5)([-0.7, 1.5]) == full
    product = g.flat_hessp("y, x", a=0.5)([-0.7, 1.5], [1.0, 0.0])
    assert product == [full[0][0], full[1][0]]
    with pytest.raises(ValueError, match="p has 3 entries; expected 2"):
        g.flat_hessp(["y", "x"], a=0.5)([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="missing fixed input.*'a'"):
        g.flat_hess(["y", "x"])


def test_flat_hess_without_numpy_returns_lists(monkeypatch):
    monkeypatch.setattr(vectors, "numpy_module", lambda: None)
    f = exprgrad.compile(ROSENBROCK)
    assert f.flat_hess()([1.0, 1.0]) == [[802.0, -400.0], [-400.0, 200.0]]
    assert f.flat_hessp()([1.0, 1.0], [1.0, 0.0]) == [802.0, -400.0]


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
    for wrong, kind in ((None, "NoneType"), ("ab", "str"), ({"a": 1.0, "x": 2.0}, "dict")):
        with pytest.raises(exprgrad.ArgumentError, match=f"list, tuple or 1-D array.*not {kind}"):
            fun(wrong)
    for short in ([], (1.0,)):  # a list or tuple of another length, before any arithmetic
        with pytest.raises(exprgrad.ArgumentValueError, match=f"has {len(short)} entries"):
            fun(short)
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
    # not a vector at all: named as such, not "'NoneType' object is not iterable", and a
    # dict's keys are not taken for its values
    for bad in (None, {"a": 1.0, "x": 2.0}, "ab", 3.0):
        with pytest.raises(exprgrad.ArgumentError, match="the vector must be a list, tuple"):
            fun(bad)
    with pytest.raises(exprgrad.ArgumentError, match="parameter vector must be a list"):
        exprgrad.residuals(["a*x - 1"], ["a"], x=1.0)({"a": 1.0})


def test_messages_say_each_word_once():
    f = exprgrad.compile("a*x + b")
    with pytest.raises(ValueError) as caught:
        f.flat(["a", "z"], b=1.0, x=2.0)
    assert "names names" not in str(caught.value) and "'z'" in str(caught.value)
    with pytest.raises(ValueError) as caught:
        f.flat(["a", "a"], b=1.0, x=2.0)
    assert "names names" not in str(caught.value)


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


def test_residuals_repr_keeps_the_fixed_inputs():
    r = exprgrad.residuals(["a*t - c", "lambda*a"], ["a"], c=2, t=0.5, **{"lambda": 3})
    assert repr(r) == (
        "exprgrad.residuals(['a*t - c', 'lambda*a'], wrt=['a'], t=0.5, c=2.0, **{'lambda': 3.0})"
    )
    again = eval(repr(r), {"exprgrad": exprgrad})
    assert again([1.5]).tolist() == r([1.5]).tolist() == [-1.25, 4.5]
    s = exprgrad.residuals(["wrt*x - 1"], ["x"], wrt=3.0)  # an input called wrt
    assert repr(s) == "exprgrad.residuals(['wrt*x - 1'], ['x'], wrt=3.0)"
    assert eval(repr(s), {"exprgrad": exprgrad})([1.0]).tolist() == [2.0]


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
    monkeypatch.setattr(exprgrad.core.pipeline, "MAX_OPERATIONS", 100)
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


SPECIALS = [0.0, -0.0, 1.0, -2.5, 3, True, math.inf, -math.inf, math.nan, 1e308, -1e-310]


def outcome(call, *args):
    """What a call gives, comparable bit for bit (NaN, -0.0) or as (error type, message)."""
    try:
        value, gradient = call(*args)
    except exprgrad.Error as error:
        return type(error), str(error)
    entries = gradient.tolist() if isinstance(gradient, np.ndarray) else gradient
    return repr(value), [repr(entry) for entry in entries]


@pytest.mark.parametrize(("formula", "domain"), CORPUS, ids=[f for f, _ in CORPUS])
def test_flat_is_value_and_grad_bit_for_bit(formula, domain):
    """fun(list), fun(tuple) and fun(numpy vector) are value_and_grad at the same point, bit
    for bit or the same error, at points of the domain and at IEEE specials (ints and bools
    converted as value_and_grad converts them); with half the inputs fixed as well."""
    f = exprgrad.compile(formula)
    fun = f.flat()
    rng = random.Random(zlib.crc32(formula.encode()))
    domain = DOMAINS.get(formula, domain)
    found = points(f, domain, 3, seed=zlib.crc32(formula.encode()))
    found += [{name: rng.choice(SPECIALS) for name in f.inputs} for _ in range(12)]
    half = f.inputs[: len(f.inputs) // 2]
    for point in found:
        vector = [point[name] for name in f.wrt]
        expected = outcome(_grads_in_order, f, point)
        assert outcome(fun, vector) == outcome(fun, tuple(vector)) == expected, point
        array = outcome(fun, np.array(vector, dtype=np.float64))
        assert array == outcome(fun, [float(x) for x in vector]), point
        rest = [name for name in f.wrt if name not in half]
        fixed = {name: point[name] for name in half}
        partial = f.flat(rest, **fixed)
        got = outcome(partial, [point[name] for name in rest])
        assert got[0] == expected[0], point
        if type(got[0]) is str:
            assert got[1] == [expected[1][f.wrt.index(name)] for name in rest], point


def _grads_in_order(f, point):
    value, grads = f.value_and_grad(**point)
    return value, [grads[name] for name in f.wrt]


def test_each_flat_call_has_its_own_fixed_values_and_the_same_code():
    f = exprgrad.compile("a*x + b")
    one, two = f.flat(["a"], x=2.0, b=1.0), f.flat(["a"], x=-3.0, b=0.5)
    assert one.__code__ is two.__code__  # generated once for the names, fixed in closures
    assert one([1.0]) == (3.0, [2.0]) and two([1.0]) == (-2.5, [-3.0])
    assert one([1.0]) == (3.0, [2.0])  # the second did not change the first
    assert one.__code__.co_filename.startswith("<exprgrad")  # fun is the generated code
    no_fixed = f.flat()
    assert no_fixed.__code__.co_filename.startswith("<exprgrad")
    assert no_fixed([1.0, 2.0, 3.0]) == (5.0, [2.0, 1.0, 1.0])


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


def test_sympy_inverse_hyperbolic_functions_are_primitives():
    """Not rewritten through log and sqrt: log(x + sqrt(x*x + 1)) is inf at 1e200, raises
    at -1e8 (log(0)), is off by 7.6e-6 at -1e6; 0.5*log((1 + x)/(1 - x)) is 0 at 1e-17."""
    x = sp.Symbol("x", real=True)
    for function, name, where in [
        (sp.asinh, "asinh", [1e200, -1e8, -1e6, 1e-17]),
        (sp.acosh, "acosh", [1e200, 1.5]),
        (sp.atanh, "atanh", [1e-17, -0.5]),
    ]:
        f = exprgrad.compile(function(x))
        assert f.formula == f"{name}(x)"
        for point in where:
            assert f(x=point) == getattr(math, name)(point), (name, point)
    assert formula_text(sp.asinh(2 * x) * sp.atanh(x)) == "asinh(2 * x) * atanh(x)"


# sympy's elementary functions of one argument, and mpmath's spelling of each
SYMPY_UNARY = {name: name for name in "exp log sin cos tan asin acos atan sinh cosh tanh asinh "
               "acosh atanh erf".split()}  # fmt: skip


@settings(max_examples=150)
@given(st.sampled_from(sorted(SYMPY_UNARY)), st.floats(allow_nan=False, allow_infinity=False))
def test_sympy_functions_are_accurate(name, x):
    """compile(sympy function) is within 2 ulp of the exact value, or an EvaluationError
    where it is undefined or overflows: not a rewriting that overflows or cancels."""
    mpmath = pytest.importorskip("mpmath")
    f = _compiled_sympy(name)
    with mpmath.workdps(60):
        exact = getattr(mpmath, SYMPY_UNARY[name])(mpmath.mpf(x))
        finite = isinstance(exact, mpmath.mpf) and mpmath.isfinite(exact)
        if not finite or abs(exact) > sys.float_info.max:
            with pytest.raises(exprgrad.EvaluationError):
                f(x=x)
            return
        got = f(x=x)
        assert abs(got - exact) <= 2 * math.ulp(float(exact)), (name, x, got)


@functools.cache
def _compiled_sympy(name):
    return exprgrad.compile(getattr(sp, name)(sp.Symbol("x", real=True)))


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
        (lambda x, y: sp.Function("f")(x), "sympy's undefined function f has no"),
        (lambda x, y: sp.Integer(10**5000) + x, "number 1.0000e\\+5000 is too large for a float"),
        (lambda x, y: -sp.Integer(10**400) * x, "number 1.0000e\\+400 is too large"),
        (lambda x, y: x / sp.Rational(1, 10**400), "number 1.0000e\\+400 is too large"),
        (lambda x, y: sp.Float("1e400") * x, "number 1.0000e\\+400 is too large"),
        (lambda x, y: sp.Float("nan") * x, "sympy's NaN has no counterpart"),
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


def test_sympy_exact_numbers_become_the_nearest_float():
    """Near 1, tiny or huge exact numbers are rounded once, correctly, not refused as too
    large (10**400 / (10**400 + 1) was) nor rounded twice (float() of a sympy Float
    below 2**-1022 is)."""
    x = sp.Symbol("x", real=True)
    assert exprgrad.compile(sp.Rational(10**400 + 1, 10**400) * x)(x=3.0) == 3.0
    assert exprgrad.compile(sp.Rational(10**400 - 1, 3 * 10**400) * x)(x=3.0) == 1.0
    assert exprgrad.compile(x / 10**400)(x=1e300) == 0.0  # 1e-400 rounds to 0, as in IEEE
    assert exprgrad.compile(x + sp.Rational(1, 10**400))(x=0.0) == 0.0
    assert exprgrad.compile(x + sp.Rational(3, 10**324))(x=0.0) == 5e-324  # the subnormal
    assert exprgrad.compile(x + sp.Integer(2**53 + 1))(x=0.0) == 2.0**53  # ties to even
    assert exprgrad.compile(x + sp.Integer(10**300))(x=0.0) == 1e300
    assert exprgrad.compile(x * sp.Float("1e-400", 30))(x=1.0) == 0.0
    # 2.5 + 2**-60 units of the smallest subnormal: 3 units, not 2 (rounded to 53 bits first)
    tiny = sp.Float(sp.Rational(5 * 2**60 + 2, 2**61) / 2**1074, 40)
    assert exprgrad.compile(x * tiny)(x=1.0) == 3 * 2.0**-1074
    assert formula_text(sp.Rational(1, 3) * x) == "x / 3"  # small parts: still as written
    assert formula_text(sp.Rational(10**20, 3) * x) == f"{10**20 / 3!r} * x"
    # a tiny negative number rounds to -0.0, a sign and its operand: (-0.0) ** x, not -(0.0 ** x)
    assert formula_text(sp.Pow(sp.Float("-1e-400"), x)) == "(-0.0) ** x"
    assert math.copysign(1.0, exprgrad.compile(sp.Pow(sp.Float("-1e-400"), x))(x=2.0)) == 1.0


def _nearest(exact: Fraction, value: float) -> bool:
    """Is value a float nearest to the exact number (ties: the even one)?"""
    if math.isinf(value):
        return False
    error = abs(Fraction(value) - exact)
    for neighbour in (math.nextafter(value, math.inf), math.nextafter(value, -math.inf)):
        if math.isfinite(neighbour):
            other = abs(Fraction(neighbour) - exact)
            if other < error or (other == error and int(value / math.ulp(value)) % 2):
                return False
    return True


@settings(max_examples=120)
@given(
    st.integers(-(10**330), 10**330),
    st.integers(1, 10**340) | st.sampled_from([1, 3, 2**1074, 10**400]),
    st.sampled_from(["rational", "float"]),
)
def test_sympy_numbers_round_correctly(p, q, kind):
    """Every exact number (a Rational, or a Float of 200 bits) is the float nearest it, or
    a FormulaError only when that nearest float would be beyond the largest."""
    x = sp.Symbol("x", real=True)
    number = sp.Rational(p, q) if kind == "rational" else sp.Float(sp.Rational(p, q), 60)
    exact = Fraction(int(sp.Rational(number).p), int(sp.Rational(number).q))
    try:
        value = exprgrad.compile(x + number)(x=0.0)
    except exprgrad.FormulaError:
        biggest = Fraction(sys.float_info.max)
        assert abs(exact) >= biggest + Fraction(math.ulp(sys.float_info.max)) / 2
        return
    assert _nearest(exact, value), (p, q, value)


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


def test_flat_and_residuals_without_numpy_installed():
    """Not only _numpy() patched: a process where `import numpy` fails, as on a machine
    without it, and where compiling and calling never imports it."""
    code = """if True:
        import sys
        import exprgrad
        f = exprgrad.compile("100*(x1 - x0**2)**2 + (1 - x0)**2", inputs=["x0", "x1"])
        f.value_and_grad(1, 2), f.hessian(1.0, 2.0)
        assert "numpy" not in sys.modules, "the core imported numpy"
        sys.modules["numpy"] = None  # from here on, import numpy raises ImportError
        assert f.flat()([1.0, 2.0]) == (100.0, [-400.0, 200.0])
        assert f.flat_hess()((1, 2)) == [[402.0, -400.0], [-400.0, 200.0]]
        assert f.flat_hessp()([1.0, 2.0], [1, 0]) == [402.0, -400.0]
        r = exprgrad.residuals(["a - 1", "a*b"])
        assert r([2.0, 3.0]) == [1.0, 6.0] and r.jac([2.0, 3.0]) == [[1.0, 0.0], [3.0, 2.0]]
        print("ok")
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout == "ok\n", done.stderr


def test_sympy_erfc_is_exprgrads_erfc_not_one_minus_erf():
    x = sp.Symbol("x", real=True)
    f = exprgrad.compile(sp.erfc(x))
    assert "erfc" in formula_text(sp.erfc(x)) and f(x=10.0) == math.erfc(10.0) > 0.0
