"""The public contract of exprgrad.compile and Function."""

from __future__ import annotations

import math
import pickle
import traceback

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exprgrad
from exprgrad.errors import ShapeError

HINGE = "min(1, label*(a*x + b*y + c))"
POINT = dict(a=1, b=-2, c=-1, x=1.2, y=0.7, label=1)


def test_inputs_follow_first_appearance():
    assert exprgrad.compile(HINGE).inputs == ("label", "a", "x", "b", "y", "c")
    assert exprgrad.compile("z = y*x\nz + w + x").inputs == ("y", "x", "w")


def test_inputs_in_the_callers_order():
    f = exprgrad.compile("100*(y - x**2)**2 + (1 - x)**2", inputs=["x", "y"])
    assert f.inputs == f.wrt == ("x", "y")
    assert f(1.0, 2.0) == f(x=1.0, y=2.0) == 100.0
    assert f.value_and_grad(1.0, 2.0) == (100.0, {"x": -400.0, "y": 200.0})
    assert f.hessian(1.0, 2.0) == [[402.0, -400.0], [-400.0, 200.0]]  # rows: x, then y
    assert "def forward(x, y):" in f.source
    assert exprgrad.compile(f.formula, inputs="y, x").inputs == ("y", "x")
    assert exprgrad.compile(f.formula, wrt=["y"], inputs=["x", "y"]).wrt == ("y",)
    assert exprgrad.compile("a*x", inputs=("x", "a"), backend="numpy").inputs == ("x", "a")


def test_inputs_survive_repr_and_pickle():
    f = exprgrad.compile("b - a", inputs=["a", "b"], optimize=False)
    assert repr(f) == "exprgrad.compile('b - a', inputs=['a', 'b'], optimize=False)"
    for again in (pickle.loads(pickle.dumps(f)), eval(repr(f), {"exprgrad": exprgrad})):
        assert again.inputs == ("a", "b") and again(1.0, 3.0) == 2.0
    plain = exprgrad.compile("b - a", inputs=["b", "a"])  # the order of appearance
    assert repr(plain) == "exprgrad.compile('b - a')"


@settings(max_examples=30)
@given(st.permutations(["a", "b", "c", "d"]), st.lists(st.floats(-2, 2), min_size=4, max_size=4))
def test_positional_calls_flat_and_hessian_follow_inputs(order, values):
    """Whatever order inputs= names, every vector and matrix is in that order."""
    formula = "b*sin(a) + c*d*d - a*b*c"
    f = exprgrad.compile(formula, inputs=order)
    point = dict(zip(order, values, strict=True))
    value, grads = f.value_and_grad(**point)
    assert f(*values) == value and f.value_and_grad(*values) == (value, grads)
    assert list(grads) == order and f.flat()(values)[1] == list(grads.values())
    hessian = exprgrad.compile(formula, wrt=order).hessian(**point)
    assert f.hessian(*values) == hessian == f.flat_hess()(values)


@pytest.mark.parametrize(
    ("inputs", "error", "message"),
    [
        (["x"], exprgrad.FormulaError, "inputs leaves out 'y'"),
        (["x", "y", "z"], exprgrad.FormulaError, "inputs lists 'z', which is not an input"),
        (["x", "y", "x"], exprgrad.FormulaError, "inputs lists 'x' twice"),
        (["x", 1], exprgrad.ArgumentError, "inputs must be str, not int"),
        ([], exprgrad.FormulaError, "inputs leaves out 'x', 'y'"),
    ],
)
def test_inputs_must_name_every_input_once(inputs, error, message):
    with pytest.raises(error, match=message):
        exprgrad.compile("x*y", inputs=inputs)


def test_call_value_and_grad_and_grad_agree():
    f = exprgrad.compile(HINGE)
    value, grads = f.value_and_grad(**POINT)
    assert f(**POINT) == value
    assert f.grad(**POINT) == grads
    assert isinstance(value, float)
    assert list(grads) == list(f.inputs)
    assert isinstance(f, exprgrad.Function)


def test_positional_arguments_follow_inputs():
    f = exprgrad.compile(HINGE)
    args = [POINT[name] for name in f.inputs]
    assert f(*args) == f(**POINT)
    assert f.value_and_grad(*args) == f.value_and_grad(**POINT)
    assert f.value_and_grad(*args[:3], **{k: POINT[k] for k in f.inputs[3:]}) == (
        f.value_and_grad(**POINT)
    )


def test_outputs_are_floats_even_for_int_inputs():
    for source in (
        "a*b",
        "min(a, b)",
        "max(1, a)",
        "where(a < b, a, b)",
        "relu(a)",
        "abs(a)",
        "clip(a, 0, b)",
        "a",
        "-a + b",
    ):
        f = exprgrad.compile(source)
        point = {name: value for name, value in (("a", 3), ("b", 5)) if name in f.inputs}
        value, grads = f.value_and_grad(**point)
        assert type(value) is float and type(f(**point)) is float, source
        assert all(type(g) is float for g in grads.values()), source


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f(a=1),
        lambda f: f.value_and_grad(a=1),
        lambda f: f.grad(a=1),
    ],
)
def test_missing_argument_is_a_type_error_naming_it(call):
    with pytest.raises(TypeError, match="'b'"):
        call(exprgrad.compile("a*b"))


def test_unexpected_argument_is_a_type_error_naming_it():
    f = exprgrad.compile("a*b")
    with pytest.raises(TypeError, match="'c'"):
        f.value_and_grad(a=1, b=2, c=3)
    with pytest.raises(TypeError):
        f(1, 2, 3)


def test_python_keywords_as_formula_names():
    f = exprgrad.compile("lambda*def + print**2 - math")
    assert f.inputs == ("lambda", "def", "print", "math")
    point = {"lambda": 2.0, "def": 3.0, "print": 4.0, "math": 1.0}
    assert f(**point) == 2 * 3 + 16 - 1
    assert f.grad(**point) == {"lambda": 3.0, "def": 2.0, "print": 8.0, "math": -1.0}
    assert f(2.0, 3.0, 4.0, 1.0) == f(**point)
    with pytest.raises(TypeError, match="'math'"):
        f(**{"lambda": 2.0, "def": 3.0, "print": 4.0})
    with pytest.raises(TypeError, match="'lambda_'"):
        f(**point, lambda_=1.0)


def test_names_that_look_generated_stay_apart():
    f = exprgrad.compile("t1 = x*x\nx_grad = t1 + _sigmoid\nx_grad * t2")
    point = {"x": 3.0, "_sigmoid": 1.0, "t2": 2.0}
    assert f(**point) == (9 + 1) * 2
    assert f.grad(**point) == {"x": 2 * 3 * 2, "_sigmoid": 2.0, "t2": 10.0}


# --- evaluation errors name the operation and the position --------------------------------


@pytest.mark.parametrize(
    ("source", "point", "message", "column"),
    [
        ("y + log(x)", {"x": -1.0, "y": 0}, "log of a non-positive number", 5),
        ("sqrt(x)", {"x": -1.0}, "sqrt of a negative number", 1),
        ("2 * asin(x)", {"x": 2.0}, "asin of a number outside", 5),
        ("a / b", {"a": 1.0, "b": 0.0}, "division by zero in a / b", 1),
        ("exp(x)", {"x": 1000.0}, "overflow in exp(x)", 1),
        ("x ** 0.5", {"x": -2.0}, "pow of a negative number", 1),
        ("x ** -1", {"x": 0.0}, "division by zero", 1),
        ("log1p(x)", {"x": -1.0}, "log1p of a number <= -1", 1),
    ],
)
def test_evaluation_errors(source, point, message, column):
    f = exprgrad.compile(source)
    for call in (f, f.value_and_grad):
        with pytest.raises(exprgrad.EvaluationError) as caught:
            call(**point)
        error = caught.value
        assert isinstance(error, ValueError)
        assert message in str(error)
        assert (error.line, error.column) == (1, column)
        assert "^" in str(error)
        assert error.__cause__ is None and error.__suppress_context__


def test_gradient_only_failures_say_so():
    f = exprgrad.compile("sqrt(x)")
    assert f(x=0.0) == 0.0
    with pytest.raises(exprgrad.EvaluationError, match="in the gradient of sqrt"):
        f.value_and_grad(x=0.0)


def test_evaluation_error_on_a_later_line():
    f = exprgrad.compile("z = x - 1\nw = 2*z\nlog(w)")
    with pytest.raises(exprgrad.EvaluationError) as caught:
        f(x=0.5)
    assert (caught.value.line, caught.value.column) == (3, 1)
    assert "    log(w)\n    ^^^^^^" in str(caught.value)


def test_tracebacks_show_generated_lines():
    f = exprgrad.compile("log(x)")
    try:
        f(x=-1.0)
    except exprgrad.EvaluationError as error:
        text = "".join(traceback.format_exception(error))
    assert "raise _evaluation_error(error) from None" in text


# --- formulas never run code -------------------------------------------------------------


def test_generated_namespace_has_no_dangerous_builtins():
    f = exprgrad.compile("x")
    namespace = f.forward.__globals__
    allowed = {"min", "max", "abs", "float", "type", "TypeError", "list", "tuple", "ValueError"}
    assert set(namespace["__builtins__"]) == allowed
    assert "__import__" not in namespace["__builtins__"]


@pytest.mark.parametrize(
    "formula",
    [
        "__import__('os').system('echo pwned')",
        "x\nimport os",
        "x # \n__import__('os')",
        "x;exec('1')",
        "(x)\r__import__('os')",
    ],
)
def test_hostile_formulas_are_refused(formula):
    with pytest.raises(exprgrad.FormulaError):
        exprgrad.compile(formula)


def test_comments_in_formulas_cannot_break_out_of_generated_comments():
    f = exprgrad.compile("(x # ) \n + 1)\n# x = 1\n")
    assert f(x=2.0) == 3.0
    compiled_lines = [line for line in f.source.splitlines() if not line.lstrip().startswith("#")]
    assert not any("x = 1" in line for line in compiled_lines)


def test_repr_introspection_and_pickle():
    f = exprgrad.compile("a*b")
    assert repr(f) == "exprgrad.compile('a*b')"
    g = exprgrad.compile("a*b + c", wrt=["c", "a"])
    assert repr(g) == "exprgrad.compile('a*b + c', wrt=['c', 'a'])"
    again = eval(repr(g), {"exprgrad": exprgrad})  # repr round-trips, wrt included
    assert (again.wrt, again.source) == (g.wrt, g.source)
    assert "value_and_grad" in f.source and "forward" in f.source
    assert f.ir.startswith("inputs: a, b")
    g = pickle.loads(pickle.dumps(exprgrad.compile(HINGE, wrt=["a", "c"])))
    assert g.wrt == ("a", "c")
    assert g.value_and_grad(**POINT) == exprgrad.compile(HINGE, wrt="a,c").value_and_grad(**POINT)


def test_formula_must_be_a_string():
    with pytest.raises(TypeError):
        exprgrad.compile(b"a*b")


def test_nan_and_infinity_flow_through():
    f = exprgrad.compile("a*b + 1")
    value, grads = f.value_and_grad(a=math.inf, b=2.0)
    assert value == math.inf and grads["b"] == math.inf
    assert math.isnan(f(a=math.nan, b=1.0))


def test_overflow_follows_python_floats():
    # as documented: arithmetic rounds to inf, math calls and ** raise
    assert exprgrad.compile("x*x").value_and_grad(x=1e200) == (math.inf, {"x": 2e200})
    for formula in ("x**2", "exp(x)", "cosh(x)"):
        with pytest.raises(exprgrad.EvaluationError, match="overflow"):
            exprgrad.compile(formula).value_and_grad(x=1e200)


# --- arguments that are not floats --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1", "must be a real number, not str '1'"),
        (b"1", "must be a real number, not bytes"),
        (None, "must be a real number, not NoneType"),
        (1j, "is complex (1j)"),
        (complex(2, 0), "is complex"),
    ],
)
@pytest.mark.parametrize(
    "formula",
    [
        "a*x",  # "1"*2 is "11", which float() would read as 11.0
        "x + a",  # "1" + "2" is "12"
        "2*x*a",
        "where(a == 0, x, 2*x)",  # == never raises, whatever a is
        "where(a, x, 0)",  # any object has a truth value
        "where(a < x, 1, 2)",  # strings compare with strings
        "min(a, x)",
        "relu(a) + x",
        "exp(a*x)",
        "x",  # a is unused after all: still an argument
    ],
)
def test_non_numbers_are_a_type_error_naming_the_argument(formula, value, fragment):
    f = exprgrad.compile(formula if "a" in formula else formula + " + 0*a")
    other = "2" if isinstance(value, str) else value  # the silent cases need two of a kind
    for x in (2, 2.0, other):
        for call in (f, f.value_and_grad, f.grad):
            with pytest.raises(TypeError) as caught:
                call(a=value, x=x)
            message = str(caught.value)
            assert "'a'" in message or "'x'" in message, message
            assert fragment in message or x is other, message
            assert caught.value.__suppress_context__


@pytest.mark.parametrize("formula", ["a*x", "sigmoid(a*x)", "relu(a)*x", "where(a > 0, x, 0)"])
def test_lists_tuples_and_numpy_arrays_are_arrays(formula):
    """A list argument is an array (issue 19): the formula computes element by element on
    the lists backend, as the numpy backend does on arrays."""
    f = exprgrad.compile(formula)
    by_element = [f(a=a, x=2.0) for a in (1.0, -2.0, 3.0)]
    assert f(a=[1.0, -2.0, 3.0], x=2.0) == by_element
    assert f(a=(1, -2, 3), x=2) == by_element
    assert f([[1.0, -2.0, 3.0]], 2.0) == [by_element]
    with pytest.raises(ShapeError, match="needs a scalar value"):
        f.value_and_grad(a=[1.0, 2.0], x=2.0)
    total = exprgrad.compile(f"sum({formula})")
    value, grads = total.value_and_grad(a=[1.0, -2.0, 3.0], x=2.0)
    assert value == pytest.approx(sum(by_element))
    assert grads["a"] == [total.grad(a=a, x=2.0)["a"] for a in (1.0, -2.0, 3.0)]
    np = pytest.importorskip("numpy")
    assert f(a=np.array([1.0, -2.0, 3.0]), x=2.0) == by_element


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (["1", 2.0], "holds str '1'"),
        ([1.0, b"1"], "holds bytes"),
        ([[1.0], [None]], "holds NoneType"),
        ([1j, 2.0], "holds complex"),
        ([[1.0], [1.0, 2.0]], "unequal rows"),
        ([[1.0], 2.0], "unequal rows"),
    ],
)
def test_lists_of_non_numbers_are_a_type_error_naming_the_argument(value, fragment):
    f = exprgrad.compile("a*x")
    for call in (f, f.value_and_grad, exprgrad.compile("sum(a*x)").value_and_grad):
        with pytest.raises(TypeError, match="argument 'a'") as caught:
            call(a=value, x=2.0)
        assert fragment in str(caught.value)


def test_numbers_of_other_types_become_floats():
    np = pytest.importorskip("numpy")
    from decimal import Decimal
    from fractions import Fraction

    f = exprgrad.compile("a*x + where(a > x, a, x)")
    expected = f.value_and_grad(a=0.5, x=3.0)
    for a, x in (
        (np.float32(0.5), 3),
        (np.float64(0.5), np.int64(3)),
        (Fraction(1, 2), 3),
        (Decimal("0.5"), True + 2),
        (np.float16(0.5), np.uint8(3)),
        (0.5, np.array(3.0)),  # a 0-d array is a number
    ):
        value, grads = f.value_and_grad(a=a, x=x)
        assert (value, grads) == expected, (a, x)
        assert type(value) is float and all(type(g) is float for g in grads.values())
        assert type(f(a, x)) is float
    # numpy integers would overflow silently; as floats they do not
    big = np.int64(2**62)
    with np.errstate(over="ignore"):  # the first, int64 attempt overflows, then floats take over
        assert exprgrad.compile("a*x")(big, np.int64(4)) == 2.0**64
    # float32 arithmetic would round the product before exp; floats do not
    third = np.float32(1 / 3)
    assert exprgrad.compile("exp(a*x)")(third, 3.0) == math.exp(float(third) * 3.0)


def test_ints_are_converted_to_floats_first():
    f = exprgrad.compile("x*x")
    assert f(10**200) == f(1e200) == math.inf  # as for floats: arithmetic rounds to inf
    assert f.value_and_grad(3) == (9.0, {"x": 6.0})
    with pytest.raises(exprgrad.EvaluationError, match="argument 'x' is too large for a float"):
        f(10**400)


@pytest.mark.parametrize(
    ("formula", "ints"),
    [
        ("-x*y", (0, 1)),  # int 0 has no sign: -0 * 1.0 would be 0.0, not -0.0
        ("x - y + 0.5", (2**60 + 1, 2**60)),  # exact: 1.5, where floats give 0.5
        ("x*y + 0.5", (2**40 + 1, 2**40 + 1)),  # the exact product rounds differently
        ("x/y", (2**60 + 1, 3)),  # int / int rounds once, floats twice
        ("x/y + z", (0, -1, 0)),  # 0 / -1 is 0.0, 0.0 / -1.0 is -0.0
    ],
)
def test_ints_compute_what_their_floats_do(formula, ints):
    """An int argument gives the same bits as the float it converts to: never exact
    int arithmetic that a later float operand hides from the type checks."""
    f = exprgrad.compile(formula)
    floats = tuple(float(v) for v in ints)
    assert repr(f(*ints)) == repr(f(*floats))
    assert repr(f.value_and_grad(*ints)) == repr(f.value_and_grad(*floats))


_LEAVES = st.sampled_from(["x", "y", "z", "0.5", "3", "-x"])
_TERMS = st.recursive(
    _LEAVES,
    lambda inner: (
        st.tuples(inner, st.sampled_from(" + - * / ".split()), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        )
        | inner.map(lambda t: f"-{t}")
        | inner.map(lambda t: f"min({t}, 0.25)")
    ),
    max_leaves=6,
)
_INTS = st.integers(-(2**64), 2**64) | st.integers(-3, 3)


@settings(max_examples=200)
@given(_TERMS, st.tuples(_INTS, _INTS, _INTS))
def test_int_arguments_match_float_arguments(formula, ints):
    """Any arithmetic of int arguments, constants and floats: the bits of the float call."""
    f = exprgrad.compile(f"{formula} + 0 * (x + y + z)")
    floats = [float(v) for v in ints]
    for call in (f, f.value_and_grad):
        try:
            expected = repr(call(*floats))
        except exprgrad.EvaluationError as error:
            with pytest.raises(exprgrad.EvaluationError) as caught:
                call(*ints)
            assert str(caught.value) == str(error)
            continue
        assert repr(call(*ints)) == expected, (formula, ints)


def test_int_arguments_are_converted_in_place():
    """Ints, what people type most, cost no second call through _retry (the slow path)."""
    f = exprgrad.compile("sigmoid(a*x + b*y + c)")
    f.value_and_grad(1.0, 2.0, 3.0, 4.0, 5.0)

    def no_retry(*args):
        raise AssertionError("an int argument went through _retry")

    f._runtime.namespace["_retry"] = no_retry
    assert f.value_and_grad(1, 2, 3, 4, 5) == f.value_and_grad(1.0, 2.0, 3.0, 4.0, 5.0)
    assert f(1, 2, 3, 4, 5) == f(1.0, 2.0, 3.0, 4.0, 5.0)
    with pytest.raises(AssertionError, match="went through _retry"):
        f(True, 2, 3, 4, 5)  # a bool, a numpy scalar, a string: the slow path, as before


def test_an_input_named_self_is_an_ordinary_keyword():
    f = exprgrad.compile("self*2 + x")
    point = {"self": 1.5, "x": 2.0}
    assert f(**point) == 5.0
    assert f.grad(**point) == {"self": 2.0, "x": 1.0}
    assert f.value_and_grad(**point) == (5.0, {"self": 2.0, "x": 1.0})


def test_a_dict_instead_of_keywords_says_how_to_pass_it():
    f = exprgrad.compile(HINGE)
    for call in (f, f.value_and_grad, f.grad):
        with pytest.raises(TypeError, match=r"f\(\*\*point\)"):
            call(POINT)


def test_missing_arguments_are_named_together():
    f = exprgrad.compile("a*b + c")
    with pytest.raises(TypeError, match="missing argument\\(s\\) 'b', 'c'"):
        f(a=1.0)


def test_linecache_entries_live_as_long_as_their_function():
    import gc
    import linecache

    source = "+".join(f"w{i}*x{i}" for i in range(200))
    before = len(linecache.cache)
    for _ in range(60):
        exprgrad.compile(source)
    gc.collect()
    assert len(linecache.cache) <= before + 1  # not one entry per compile
    f = exprgrad.compile("log(x)")
    filename = f.value_and_grad.__code__.co_filename
    assert linecache.getline(filename, 1) == "def value_and_grad(x):\n"
    try:
        f(x=-1.0)
    except exprgrad.EvaluationError as error:
        text = "".join(traceback.format_exception(error))
    assert "raise _evaluation_error(error) from None" in text
    del f
    gc.collect()
    assert filename not in linecache.cache


def test_formulas_over_the_size_limit_are_a_formula_error(monkeypatch):
    from exprgrad.core import pipeline

    assert pipeline.MAX_OPERATIONS == 5_000_000  # README, "Limits"
    monkeypatch.setattr(pipeline, "MAX_OPERATIONS", 1_000)
    small = " + ".join(f"w{i}*x{i}" for i in range(250))  # 500 inputs, 499 ops: fits
    f = exprgrad.compile(small)
    assert f.value_and_grad(**dict.fromkeys(f.inputs, 1.0))[0] == 250.0
    too_large = "formula too large.*1,003 operations"
    with pytest.raises(exprgrad.FormulaError, match=too_large) as caught:
        exprgrad.compile(small + " + v*y")
    assert (caught.value.line, caught.value.column) == (1, 1)
    assert len(str(caught.value)) < 600
    # the gradient program can go over when the formula does not
    chain = "\n".join(["h0 = x"] + [f"h{i} = tanh(h{i - 1})" for i in range(1, 600)])
    with pytest.raises(exprgrad.FormulaError, match="its gradient program has"):
        exprgrad.compile(chain)


def test_repr_and_pickle_keep_the_options():
    plain = exprgrad.compile("x*1 + y", wrt=["x"], optimize=False)
    assert repr(plain) == "exprgrad.compile('x*1 + y', wrt=['x'], optimize=False)"
    again = pickle.loads(pickle.dumps(plain))
    assert (again.ir, again.wrt, repr(again)) == (plain.ir, plain.wrt, repr(plain))
    assert eval(repr(plain), {"exprgrad": exprgrad}).ir == plain.ir


# --- tests that killed mutants benchmarks/mutation.py planted -------------------------------


def test_outputs_are_floats_when_ints_pass_the_checks():
    # a*x is a float (x is), so the check before the comparison passes with an int a;
    # a + a would then be the int 4 without the check on the returned value
    value = exprgrad.compile("where(a*x > 0, a + a, 0)")(a=2, x=3.0)
    assert value == 4.0 and type(value) is float


def test_names_ending_in_underscore_stay_apart_from_mangled_ones():
    f = exprgrad.compile("t1 + t1_")
    assert f.value_and_grad(t1=1.0, t1_=2.0) == (3.0, {"t1": 1.0, "t1_": 1.0})


def test_keyword_names_given_twice():
    f = exprgrad.compile("lambda * x")
    with pytest.raises(TypeError, match="multiple values for argument 'lambda'"):
        f.value_and_grad(2.0, **{"lambda": 3.0, "x": 5.0})


def test_one_missing_argument_is_named_missing():
    with pytest.raises(TypeError, match=r"missing argument\(s\) 'x'"):
        exprgrad.compile("a*x").value_and_grad(a=2.0)


def test_a_type_error_with_float_arguments_is_not_swallowed():
    f = exprgrad.compile("sigmoid(x)")

    def broken(x):
        raise TypeError("boom")

    # a fault inside the generated code, not the arguments
    f._runtime.namespace["_sigmoid"] = broken
    with pytest.raises(TypeError, match="^boom$"):
        f.value_and_grad(x=1.0)


# Pickles written by exprgrad before the package had subpackages (exprgrad.function and
# exprgrad.arrays were modules then): they still load, as the same Functions.
EARLIER_PICKLES = [
    (b"\x80\x04\x95J\x00\x00\x00\x00\x00\x00\x00\x8c\x11exprgrad.function\x94\x8c\x08_rebuild"
     b"\x94\x93\x94(\x8c\x0ca*x + sin(b)\x94\x8c\x01a\x94\x85\x94\x88\x88\x8c\x01x\x94h\x04\x8c"
     b"\x01b\x94\x87\x94t\x94R\x94.",
     "exprgrad.compile('a*x + sin(b)', wrt=['a'], inputs=['x', 'a', 'b'])"),
    (b"\x80\x04\x955\x00\x00\x00\x00\x00\x00\x00\x8c\x0fexprgrad.arrays\x94\x8c\x08_rebuild\x94"
     b"\x93\x94\x8c\x08sum(x*x)\x94\x8c\x01x\x94\x85\x94\x86\x94R\x94.",
     "exprgrad.compile('sum(x*x)', backend='numpy')"),
    (b"\x80\x04\x95<\x00\x00\x00\x00\x00\x00\x00\x8c\x11exprgrad.function\x94\x8c\x08_rebuild\x94"
     b"\x93\x94(\x8c\ta*2 + 1*a\x94\x8c\x01a\x94\x85\x94\x88\x89Nt\x94R\x94.",
     "exprgrad.function.compile_unfolded('a*2 + 1*a')"),
    (b"\x80\x04\x956\x00\x00\x00\x00\x00\x00\x00\x8c\x11exprgrad.function\x94\x8c\x08_rebuild\x94"
     b"\x93\x94(\x8c\x03a/1\x94\x8c\x01a\x94\x85\x94\x89\x89Nt\x94R\x94.",
     "exprgrad.compile('a/1', optimize=False)"),
]  # fmt: skip


@pytest.mark.parametrize("data, shown", EARLIER_PICKLES, ids=lambda x: str(x)[:20])
def test_pickles_of_earlier_versions_load_and_reprs_compile_the_same(data, shown):
    loaded = pickle.loads(data)
    assert repr(loaded) == shown
    again = eval(shown, {"exprgrad": exprgrad})  # noqa: S307 (our own repr)
    assert repr(again) == shown
    if "numpy" in shown:
        np = pytest.importorskip("numpy")
        assert loaded.value_and_grad(x=np.array([1.0, 2.0]))[0] == 5.0
    else:
        point = {name: 0.5 for name in loaded.inputs}
        assert loaded.value_and_grad(**point) == again.value_and_grad(**point)
        assert loaded.source == again.source


def test_every_repr_compiles_again_in_a_fresh_process():
    """A repr names only what `import exprgrad` makes available (exprgrad.function too)."""
    import subprocess
    import sys

    from exprgrad import gates

    circuit = gates.AddGate(gates.MulGate(gates.Param(2.0), gates.Param(3.0)), 1.0)
    circuit.compute()
    shown = [repr(exprgrad.compile("a*x", wrt="a")), repr(circuit.function)]
    assert shown[1].startswith("exprgrad.function.compile_unfolded(")
    script = f"import exprgrad\nfor text in {shown!r}:\n    assert repr(eval(text)) == text\n"
    subprocess.run([sys.executable, "-c", script], check=True)
