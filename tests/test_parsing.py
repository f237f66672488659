"""The formula language and the bad-input contract.

Grammar facts are checked through the public API (exprgrad.compile and calling
the result). Every malformed or hostile formula must raise FormulaError (a
ValueError) and nothing else, with a message that says where (line, column) and
shows the line with a caret, and without Lark's internals.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exprgrad
from exprgrad import FormulaError
from exprgrad.core.lower import _ALIASES
from exprgrad.core.primitives import FUNCTIONS

LARK_INTERNALS = (
    "Token(",
    "$END",
    "LPAR",
    "RPAR",
    "_SEP",
    "Traceback",
    "UnexpectedToken",
    "UnexpectedCharacters",
    "NAME",
    "NUMBER",
)


def value(formula: str, *args: float, **kwargs: float) -> float:
    return exprgrad.compile(formula)(*args, **kwargs)


def formula_error(formula: str) -> FormulaError:
    with pytest.raises(FormulaError) as info:
        exprgrad.compile(formula)
    return info.value


def caret_column(error: FormulaError) -> int:
    """1-based column of the first caret, relative to the quoted formula line above it."""
    lines = str(error).split("\n")
    caret = lines[-1]
    assert caret.strip() and set(caret.strip()) == {"^"}, str(error)
    return len(caret) - len(caret.lstrip(" \t")) - 4 + 1


def quoted_line(error: FormulaError) -> str:
    lines = str(error).split("\n")
    assert len(lines) >= 3, str(error)
    assert lines[-2].startswith("    "), str(error)
    return lines[-2][4:]


# --- grammar facts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3.0),
        ("2.5", 2.5),
        (".5", 0.5),
        ("1e-3", 0.001),
        ("1.", 1.0),
        ("1E3", 1000.0),
        ("2.5e+2", 250.0),
        ("007", 7.0),
        ("0.0", 0.0),
        ("1e-400", 0.0),
    ],
)
def test_number_literals(text, expected):
    f = exprgrad.compile(text)
    assert f.inputs == ()
    assert f() == expected
    assert type(f()) is float


def test_numbers_inside_expressions():
    assert value(".5*x + 1.*x + 1e-3", 2.0) == pytest.approx(3.001, abs=1e-15)


def test_unary_minus_binds_looser_than_power():
    f, g = exprgrad.compile("-x**2"), exprgrad.compile("-(x**2)")
    assert f(3.0) == g(3.0) == -9.0
    assert f.grad(x=3.0) == g.grad(x=3.0) == {"x": -6.0}
    assert value("(-x)**2", 3.0) == 9.0
    assert value("-2**2") == -4.0


def test_signed_exponent():
    assert value("2**-1") == 0.5
    assert value("2**+3") == 8.0
    assert value("2**--1") == 2.0
    assert value("x**-2", 2.0) == 0.25


def test_caret_is_an_alias_of_double_star():
    for x in (0.5, 1.5, 3.0):
        assert value("x^2", x) == value("x**2", x)
        assert value("2^x", x) == value("2**x", x)
    assert exprgrad.compile("x^3").grad(x=2.0) == {"x": 12.0}
    assert value("2^3^2") == 512.0


def test_power_is_right_associative():
    assert value("2**3**2") == 512.0
    assert value("(2**3)**2") == 64.0
    assert value("2**1**3") == 2.0


def test_precedence_and_left_associativity():
    assert value("1 + 2*3") == 7.0
    assert value("8/4/2") == 1.0
    assert value("10-3-2") == 5.0
    assert value("2*3**2") == 18.0
    assert value("(1 + 2)*3") == 9.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+x", 2.0),
        ("-x", -2.0),
        ("--x", 2.0),
        ("-+-x", 2.0),
        ("- - - x", -2.0),
        ("x - -y", 5.0),
        ("x * -y", -6.0),
        ("x + +y", 5.0),
        ("-x*y", -6.0),
    ],
)
def test_unary_signs(text, expected):
    f = exprgrad.compile(text)
    assert f(**{name: {"x": 2.0, "y": 3.0}[name] for name in f.inputs}) == expected


def test_unary_sign_gradients():
    assert exprgrad.compile("--x").grad(x=2.0) == {"x": 1.0}
    assert exprgrad.compile("-x*y").grad(x=2.0, y=3.0) == {"x": -3.0, "y": -2.0}


@pytest.mark.parametrize("separator", [";", "\n", "\r\n", "\r", ";\n", "\n\n", " ;; "])
def test_statement_separators(separator):
    f = exprgrad.compile(f"h = x*2{separator}k = h + y{separator}k*h")
    assert f.inputs == ("x", "y")
    assert f(3.0, 1.0) == 42.0  # h = 6, k = 7
    assert f.grad(x=3.0, y=1.0) == {"x": 2 * 6.0 + 2 * 7.0, "y": 6.0}


def test_leading_and_trailing_separators():
    assert value("\n;\n x*2 ;\n\n", 4.0) == 8.0


def test_comments():
    f = exprgrad.compile(
        "# header comment\nh = x*2  # twice x\n# between\nh + 1 # the value\n# end"
    )
    assert f.inputs == ("x",)
    assert f(3.0) == 7.0
    # a comment swallows the rest of its line only
    assert value("x # + 100\n+ 1 - 1", 3.0) == 0.0  # second statement: +1-1
    # '#' inside parentheses: the comment ends at the newline, the expression continues
    assert value("(x # first\n + 1)", 3.0) == 4.0


def test_newlines_inside_parentheses_continue_the_expression():
    assert value("(x +\n 1) * (\n y)", 2.0, 3.0) == 9.0
    f = exprgrad.compile("min(x,\n y,\r\n 1)")
    assert f.inputs == ("x", "y")
    assert f(2.0, 3.0) == 1.0
    assert value("where(x\n < y,\n x,\n y)", 2.0, 3.0) == 2.0
    # outside parentheses a newline ends the statement
    with pytest.raises(FormulaError):
        exprgrad.compile("x +\ny")


def test_value_is_the_last_statement():
    f = exprgrad.compile("x*2; y*3")
    assert f(2.0, 5.0) == 15.0
    assert f.grad(x=2.0, y=5.0) == {"x": 0.0, "y": 3.0}
    assert value("a = x*2; a\n a*100", 1.0) == 200.0
    assert value("x = 1") == 1.0


def test_inputs_in_order_of_first_appearance():
    f = exprgrad.compile("zeta*b + alpha*b + zeta + c")
    assert f.inputs == ("zeta", "b", "alpha", "c")
    assert list(f.grad(1, 2, 3, 4)) == ["zeta", "b", "alpha", "c"]
    assert exprgrad.compile("h = y*x; h + w").inputs == ("y", "x", "w")
    # positional arguments follow that order
    assert exprgrad.compile("a - b")(5.0, 3.0) == 2.0
    assert exprgrad.compile("b - a")(5.0, 3.0) == 2.0


def test_pi_and_e_are_constants():
    assert value("pi") == math.pi
    assert value("e") == math.e
    f = exprgrad.compile("e*x + pi*x**2")
    assert f.inputs == ("x",)
    assert f.grad(x=1.0) == {"x": pytest.approx(math.e + 2 * math.pi, rel=1e-15)}


@pytest.mark.parametrize(
    ("op", "x", "y", "expected"),
    [
        ("<", 1.0, 2.0, 10.0),
        ("<", 2.0, 2.0, 20.0),
        ("<=", 2.0, 2.0, 10.0),
        (">", 3.0, 2.0, 10.0),
        (">=", 1.0, 2.0, 20.0),
        ("==", 2.0, 2.0, 10.0),
        ("!=", 2.0, 2.0, 20.0),
    ],
)
def test_comparisons_as_where_condition(op, x, y, expected):
    assert value(f"where(x {op} y, 10, 20)", x, y) == expected


# --- malformed and hostile formulas -----------------------------------------------------

# (formula, a fragment the message must contain or None)
BAD = [
    # syntax
    ("a +", "ends early"),
    ("(a", "ends early"),
    ("a)", "unexpected ')'"),
    ("a b", "unexpected name 'b'"),
    ("*a", "unexpected '*'"),
    ("a**", "ends early"),
    (",", "unexpected ','"),
    ("min(a,)", "unexpected ')'"),
    ("f(a b)", "unexpected name 'b'"),
    ("a ** ** b", None),
    ("1 = x", None),
    ("=", None),
    ("a =", "ends early"),
    ("x ==", None),
    ("a // b", None),
    ("2x", "2*x"),
    ("3(x)", None),
    ("0x10", None),
    ("1_000", None),
    ("1e", None),
    ("min(,a)", None),
    ("()", None),
    (")))", "unexpected ')'"),
    ("(((", "ends early"),
    ("x +\ny", "end of line"),
    # empty
    ("", "empty formula"),
    ("   ", "empty formula"),
    ("\n\n\t\n", "empty formula"),
    ("# just a comment", "empty formula"),
    ("# one\n# two\n", "empty formula"),
    (";;", "empty formula"),
    (";;\n\n", "empty formula"),
    ("; # only a comment\n;", "empty formula"),
    # functions and arity
    ("sigmod(x)", "did you mean 'sigmoid'"),
    ("foo(x)", "unknown function 'foo'"),
    ("exp()", "exp() takes 1 argument (0 given)"),
    ("exp(a, b)", "exp() takes 1 argument (2 given)"),
    ("min(a)", "min() takes 2 or more arguments (1 given)"),
    ("max()", "max() takes 2 or more arguments (0 given)"),
    ("clip(a, b)", "clip() takes 3 arguments (2 given)"),
    ("where(a<b, 1)", "where() takes 3 arguments (2 given)"),
    ("add(a, b)", None),
    ("neg(a)", None),
    ("powi(a, 2)", None),
    ("x(1)", None),
    # comparisons outside where's condition
    ("a < b", "where"),
    ("where(a, b<c, 1)", "where"),
    ("where(a<b, 1, c>d)", "where"),
    ("(a<b)*2", "where"),
    ("y = a < b; y", "where"),
    ("exp(a == b)", "where"),
    ("a < b < c", None),
    ("where(a<b<c, 1, 2)", None),
    # names and assignments
    ("y = x + z; z = 1; y", "used before it is assigned"),
    ("a = 1; a = 2; a", "assigned twice"),
    ("pi = 3; pi", "constant 'pi'"),
    ("e = 1; e", "constant 'e'"),
    ("x = x + 1; x", "used before it is assigned"),
    # numbers
    ("1e999", "too large"),
    ("x * 1e400", "too large"),
    ("9" * 400, "too large"),
    # Python that must never run
    ("__import__('os').system('echo pwned')", "no strings"),
    ("__import__(os).system(x)", None),
    ("__import__(os)", "unknown function '__import__'"),
    ("a.b", "'.'"),
    ("x.__class__", "'.'"),
    ("x.__class__.__bases__[0].__subclasses__()", None),
    ("lambda: 1", None),
    ("lambda x: x", None),
    ("x[0]", "'['"),
    ('"abc"', "no strings"),
    ("'abc'", "no strings"),
    ('f"{x}"', "no strings"),
    ("f'{__import__(\"os\")}'", "no strings"),
    ('exec("1")', "no strings"),
    ("exec(x)", "unknown function 'exec'"),
    ("eval('1')", "no strings"),
    ("eval(x)", "unknown function 'eval'"),
    ("open('/etc/passwd').read()", "no strings"),
    ("getattr(x, 'y')", "no strings"),
    ("getattr(x, y)", "unknown function 'getattr'"),
    ("(a := 1)", None),
    ("a if b else c", None),
    ("[x for x in y]", None),
    ("{x: 1}", None),
    ("import os", None),
    ("x; import os", None),
    ("def f(): return 1", None),
    ("`x`", None),
    ("a % b", "'%'"),
    ("!x", "'!'"),
    ("a && b", "'&'"),
    ("a || b", None),
    ("~x", None),
    ("a\\\nb", None),
    ("x $ y", None),
    ("x ? y : z", None),
    # non-ASCII, control characters
    ("é", "ASCII"),
    ("x²", "ASCII"),
    ("α + 1", "ASCII"),
    ("x − y", "ASCII"),  # U+2212 minus sign
    ("\ufeffx", "ASCII"),
    ("x\x00", None),
    ("\x00", None),
    ("x\x01 + 1", None),
    ("x\x7f", None),
    ("\x1b[31m", None),
    ("x + \x1b[2Jy", None),
    ("x\x08 + y", None),
    ("x\u200b+y", None),
    ("x\ud800", None),
    # digits of other scripts are not numbers
    ("x * \uff12", "ASCII"),  # fullwidth 2
    ("x + \u0661", "ASCII"),  # Arabic-Indic 1
]


@pytest.mark.parametrize(("formula", "fragment"), BAD, ids=[ascii(f)[:40] for f, _ in BAD])
def test_bad_formula_raises_formula_error(formula, fragment):
    try:
        exprgrad.compile(formula)
    except FormulaError as error:
        assert isinstance(error, ValueError)
        text = str(error)
        assert "line" in text and "column" in text, text
        assert isinstance(error.line, int) and error.line >= 1
        assert isinstance(error.column, int) and error.column >= 1
        assert f"line {error.line}, column {error.column}" in text
        caret_column(error)  # the last line is a caret line
        for internal in LARK_INTERNALS:
            assert internal not in text, (internal, text)
        if fragment is not None:
            assert fragment in text, text
        # the quoted line is printable: control characters never reach the terminal
        assert all(ch == "\t" or ch >= " " and ch != "\x7f" for ch in quoted_line(error))
        assert error.__cause__ is None or isinstance(error.__cause__, FormulaError)
        assert error.__suppress_context__ or error.__context__ is None
    except Exception as error:  # the point: nothing but FormulaError
        pytest.fail(f"{formula!r} raised {type(error).__name__}: {error}")
    else:
        pytest.fail(f"{formula!r} compiled")


def test_formula_error_is_a_value_error():
    assert issubclass(FormulaError, ValueError)
    assert exprgrad.FormulaError is FormulaError


def test_non_string_formula_is_a_type_error():
    with pytest.raises(TypeError):
        exprgrad.compile(b"x + 1")
    with pytest.raises(TypeError):
        exprgrad.compile(None)


@pytest.mark.parametrize(
    ("formula", "fragment", "line", "column"),
    [
        ("a*(b+", "ends early", 1, 6),
        ("sigmod(x)", "unknown function", 1, 1),
        ("x + sigmod(x)", "unknown function", 1, 5),
        ("y = x + z; z = 1; y", "'z'", 1, 9),
        ("a = 1; a = 2; a", "'a'", 1, 8),
        ("x + 1e999", "1e999", 1, 5),
        ("x + y.z", "'.'", 1, 6),
        ("where(a, b<c, 1)", "where", 1, 10),
        ("exp(a, b) + 1", "exp()", 1, 1),
        ("a +\t", "ends early", 1, 4),
        ("a + # comment", "ends early", 1, 4),
        ("x +   \t  ", "ends early", 1, 4),
        ("x +\ny", "end of line", 1, 4),
        ("h = x\nk = h +\nk", "end of line", 2, 8),
        ("h = x\r\nh + \x1b", "ASCII", 2, 5),
        ("h = x\rh * é", "ASCII", 2, 5),
    ],
)
def test_error_positions(formula, fragment, line, column):
    error = formula_error(formula)
    assert (error.line, error.column) == (line, column), str(error)
    assert fragment in str(error)
    assert caret_column(error) == column, str(error)


def test_end_of_input_error_points_after_the_last_character():
    error = formula_error("a*(b+")
    assert (error.line, error.column) == (1, 6)
    assert (error.source, error.span.start, error.span.end) == ("a*(b+", 5, 5)
    assert str(error).endswith("\n    a*(b+\n         ^")
    assert error.message == "formula ends early: expected a number, a name or '('"
    assert "line" not in error.message  # the position lives in str(error), line and column


def test_use_before_assignment_names_both_places():
    error = formula_error("b = c + 1\nc = 2\nb")
    assert str(error) == (
        "'c' is used before it is assigned at line 1, column 5: it is assigned at line 2,"
        " column 1\n    b = c + 1\n        ^"
    )
    error = formula_error("x = 1; x = 2; x")
    assert (error.line, error.column) == (1, 8)
    assert error.message == "'x' is assigned twice: first at line 1, column 1"


def test_error_on_line_three_shows_line_three():
    formula = "a = x*2\nb = a + 1\nc = b * (a + )\nc"
    error = formula_error(formula)
    assert error.line == 3
    assert error.column == formula.split("\n")[2].index(")") + 1 == 14
    assert "line 3, column 14" in str(error)
    assert quoted_line(error) == "c = b * (a + )"
    assert caret_column(error) == 14
    assert "b = a + 1" not in str(error)  # only the failing line is quoted


def test_error_on_line_three_of_a_lowering_error():
    formula = "a = x*2\n# comment\n  b = a + sigmod(x)\nb"
    error = formula_error(formula)
    assert (error.line, error.column) == (3, 11)
    assert quoted_line(error) == "  b = a + sigmod(x)"
    assert str(error).endswith("\n      b = a + sigmod(x)\n              ^^^^^^")


def test_caret_under_tabs_stays_aligned():
    error = formula_error("\tx +\t* y")
    assert (error.line, error.column) == (1, 6)
    lines = str(error).split("\n")
    # the caret line copies the tabs, so the caret sits under the '*' in a terminal too
    assert lines[-1] == "    \t   \t^"
    assert lines[-2] == "    \tx +\t* y"


def test_message_free_of_lark_internals_for_every_kind():
    for formula in ("a*(b+", "a)", "a b", ",", "", "x[0]", "a < b", "'s'", "é", "a ** ** b"):
        text = str(formula_error(formula))
        for internal in LARK_INTERNALS:
            assert internal not in text, (formula, text)


@pytest.mark.parametrize("separators", [";", ";;", ";;\n\n", "\n;\n", " ; # c\n ;\t", "#\n;#;\n"])
def test_only_separators_is_an_empty_formula(separators):
    error = formula_error(separators)
    assert error.message.startswith("empty formula"), str(error)
    assert "ends early" not in str(error)


# --- numbers are ASCII digits -------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "column"),
    [
        ("x * \uff12", 5),  # FULLWIDTH DIGIT TWO
        ("x + \u0661", 5),  # ARABIC-INDIC DIGIT ONE
        ("1\u0660", 2),  # 1 then ARABIC-INDIC DIGIT ZERO
        ("\u0967 + x", 1),  # DEVANAGARI DIGIT ONE
        ("2.\uff15", 3),
        ("\u0661.5", 1),
        ("x\U0001d7ce", 2),  # MATHEMATICAL BOLD DIGIT ZERO
    ],
)
def test_digits_of_other_scripts_are_not_numbers(formula, column):
    error = formula_error(formula)
    assert "formulas are written in ASCII" in str(error), str(error)
    assert (error.line, error.column) == (1, column), str(error)
    assert caret_column(error) == column


# --- long input: errors stay fast and short -----------------------------------------------

_TIMED_ERRORS = textwrap.dedent("""
    import json, sys, time
    import exprgrad
    exprgrad.compile("x")  # build the parser outside the timings
    results = []
    for source in json.load(sys.stdin):
        start = time.perf_counter()
        try:
            exprgrad.compile(source)
        except exprgrad.FormulaError as error:
            results.append([time.perf_counter() - start, error.message, error.line,
                            error.column, str(error)])
        else:
            results.append([time.perf_counter() - start, None, None, None, None])
    print(json.dumps(results))
""")

N = 100_000
# (source about N characters long, start of the message, line, column), positions by construction
LONG_BAD = [
    ("(x #" + "#" * (N - 6) + "\n+", "formula ends early", 2, 2),
    ("(x #" + "#" * 40 + "\n+", "formula ends early", 2, 2),
    ("(" + " " * (N - 2) + "x", "formula ends early", 1, N + 1),
    ("(x" + ("#" * 99 + "\n") * (N // 100), "formula ends early", 1, 3),
    ("(x +" + " \t# ;;#\n" * (N // 8), "formula ends early", 1, 5),
    ("x +" + " " * N, "formula ends early", 1, 4),
    ("a = (b" + "\n#" * (N // 2), "formula ends early", 1, 7),
    ("x*(y" + "\n" * N + "#" * N, "formula ends early", 1, 5),
    (";" * (N - 1) + "*", "unexpected '*'", 1, N),
    ("x" + "\n" * (N - 2) + ")", "unexpected ')'", N - 1, 1),
    ("x +" + " #;\n" * (N // 4) + "y", "unexpected end of line", 1, 7),  # at the first '\n'
    ("#" * N + "\n*", "unexpected '*'", 2, 1),
    (";\n #\t;" * (N // 6), "empty formula", 1, 1),
    ("# c\n" + ";  \t;\n" * (N // 7) + "#" * 100, "empty formula", 1, 1),
    ("(" * N, "formula ends early", 1, N + 1),
    ("x" + " " * N + "y", "unexpected name 'y'", 1, N + 2),
    ("-" * N, "formula ends early", 1, N + 1),
]


def test_errors_on_long_input_are_fast_and_placed():
    sources = [source for source, *_ in LONG_BAD]
    # In a subprocess, so a parser that backtracks for hours is stopped by the timeout.
    try:
        done = subprocess.run(
            [sys.executable, "-c", _TIMED_ERRORS],
            input=json.dumps(sources),
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("error reporting on long inputs did not finish within 120 s")
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    for (source, start, line, column), result in zip(LONG_BAD, results, strict=True):
        elapsed, message, error_line, error_column, text = result
        label = ascii(source[:30])
        assert message is not None, f"{label} compiled"
        assert elapsed < 5.0, (label, elapsed)  # linear: well under a second
        assert message.startswith(start), (label, message)
        assert (error_line, error_column) == (line, column), (label, text[:300])
        assert len(text) < 1000, (label, len(text))
        for internal in LARK_INTERNALS:
            assert internal not in text, (label, internal)


def test_huge_number_message_is_bounded():
    digits = "9" * 100_000
    error = formula_error(digits)
    text = str(error)
    assert len(text) < 1000, len(text)
    assert "too large for a float" in text
    assert "9" * 20 in error.message and "9" * 30 not in error.message
    assert "100,000" in error.message  # says how long the number is
    assert (error.line, error.column) == (1, 1)
    # the carets start under the number's first digit and stay within the shown window
    assert caret_column(error) == 1
    shown, carets = quoted_line(error), text.split("\n")[-1][4:]
    assert shown.startswith("9" * 50) and shown.endswith("...")
    assert len(carets) <= len(shown) - 3


def test_huge_number_before_a_name_hint_is_bounded():
    error = formula_error("9" * 100_000 + "x")
    assert len(str(error)) < 1000
    assert "unexpected name 'x'" in str(error)
    assert (error.line, error.column) == (1, 100_001)
    assert quoted_line(error)[caret_column(error) - 1] == "x"


def test_long_name_messages_are_bounded():
    name = "w" * 100_000
    for formula in (f"{name}(x)", f"y = {name} + 1; {name} = 2; y", f"{name} = 1; {name} = 2"):
        error = formula_error(formula)
        assert len(str(error)) < 1000, (formula[:10], len(str(error)))
        assert "w" * 20 in error.message and "w" * 30 not in error.message


def test_caret_window_on_a_200000_character_line():
    left, right = "x + " * 25_000, " + y" * 25_000  # 100,000 characters each side
    formula = left + ")" + right
    assert len(formula) > 200_000
    error = formula_error(formula)
    text = str(error)
    assert len(text) < 1000, len(text)
    assert "unexpected ')'" in text
    assert (error.line, error.column) == (1, 100_001)
    shown = quoted_line(error)
    assert shown.startswith("...") and shown.endswith("...")
    assert 100 <= len(shown) <= 120, len(shown)
    assert shown[caret_column(error) - 1] == ")"
    assert text.split("\n")[-1].strip() == "^"


@pytest.mark.parametrize(
    ("formula", "column", "char"),
    [
        ("a" * 150 + " * )", 154, ")"),  # near the end of a long line: no '...' after
        ("( * " + "b" * 150, 3, "*"),  # near the start: no '...' before
        ("h = 1\n" + "\t" * 200 + "x +* y\nh", 204, "*"),  # tabs kept, carets aligned
    ],
)
def test_caret_window_near_the_ends_of_a_long_line(formula, column, char):
    error = formula_error(formula)
    assert error.column == column
    shown = quoted_line(error)
    assert len(shown) <= 110
    assert shown[caret_column(error) - 1] == char
    line = formula.split("\n")[error.line - 1]
    assert shown.startswith("...") == (not line.startswith(shown[:10]))
    assert shown.endswith("...") == (not line.endswith(shown[-10:]))
    caret_line = str(error).split("\n")[-1]
    # the caret line copies the tabs of the quoted line, so a terminal aligns them alike
    assert caret_line[4:].rstrip("^") == "".join(
        ch if ch == "\t" else " " for ch in shown[: caret_column(error) - 1]
    )


# --- suggestions for unknown functions ----------------------------------------------------


@pytest.mark.parametrize(
    ("func", "hint"),
    [
        ("Min", "did you mean 'min'?"),
        ("Max", "did you mean 'max'?"),
        ("ReLU", "did you mean 'relu'?"),
        ("TANH", "did you mean 'tanh'?"),
        ("Sigmoid", "did you mean 'sigmoid'?"),
        ("LOG1P", "did you mean 'log1p'?"),
        ("soft_plus", "did you mean 'softplus'?"),
        ("ln", "did you mean 'log'?"),
        ("Ln", "did you mean 'log'?"),
        ("arctan", "did you mean 'atan'?"),
        ("arcsin", "did you mean 'asin'?"),
        ("arccos", "did you mean 'acos'?"),
        ("arctan2", "did you mean 'atan2'?"),
        ("log10", "write log(x) / log(10)"),
        ("log2", "write log(x) / log(2)"),
        ("sign", "write where(x > 0, 1, where(x < 0, -1, 0))"),
        ("maximum", "did you mean 'max'?"),
        ("minimum", "did you mean 'min'?"),
        ("fabs", "did you mean 'abs'?"),
        ("clamp", "did you mean 'clip'?"),
        ("power", "did you mean 'pow'?"),
        ("if", "did you mean 'where'?"),
        ("ifelse", "did you mean 'where'?"),
        ("select", "did you mean 'where'?"),
        ("heaviside", "write where(x > 0, 1, 0)"),
        ("step", "write where(x > 0, 1, 0)"),
        ("expit", "did you mean 'sigmoid'?"),
        ("sigmod", "did you mean 'sigmoid'?"),
    ],
)
def test_unknown_function_suggestion(func, hint):
    error = formula_error(f"y + {func}(x)")
    assert error.message == f"unknown function '{func}'"
    assert error.hint == hint
    assert f"({hint})" in str(error).split("\n")[0]
    assert (error.line, error.column) == (1, 5)


def test_no_suggestion_for_a_name_like_nothing():
    error = formula_error("qqqq(x)")
    assert error.hint is None
    assert "did you mean" not in str(error)


def test_written_out_suggestions_are_formulas():
    for name, alias in _ALIASES.items():
        assert name not in FUNCTIONS, name
        if alias.isidentifier():
            assert alias in FUNCTIONS, (name, alias)
            continue
        f = exprgrad.compile(alias)  # every written-out suggestion is valid exprgrad
        assert set(f.inputs) <= {"x", "a", "b"}, (name, alias)
    sign = exprgrad.compile(_ALIASES["sign"])
    assert [sign(x) for x in (-2.5, 0.0, 3.0)] == [-1.0, 0.0, 1.0]
    assert exprgrad.compile(_ALIASES["log10"])(1000.0) == pytest.approx(3.0, rel=1e-15)
    assert exprgrad.compile(_ALIASES["log2"])(8.0) == pytest.approx(3.0, rel=1e-15)
    step = exprgrad.compile(_ALIASES["step"])
    assert [step(x) for x in (-1.0, 0.0, 2.0)] == [0.0, 0.0, 1.0]


# --- hostile input never runs ----------------------------------------------------------

INJECTIONS = [
    "__import__('os').system('touch {sentinel}')",
    '__import__("os").system("touch {sentinel}")',
    "exec(\"open('{sentinel}', 'w').close()\")",
    "eval(\"__import__('os').system('touch {sentinel}')\")",
    "open('{sentinel}', 'w').close()",
    "x; __import__('subprocess').run(['touch', '{sentinel}'])",
    "x = 1\n__import__('os').system('touch {sentinel}')\nx",
    "(lambda: __import__('os').system('touch {sentinel}'))()",
    "getattr(__import__('os'), 'system')('touch {sentinel}')",
    "x.__class__.__base__.__subclasses__()",
    '__builtins__.exec(\'open("{sentinel}", "w")\')',
]


@pytest.fixture
def guarded(monkeypatch):
    """Record every import, exec, eval, open, os.system and subprocess spawn during the test."""
    exprgrad.compile("sigmoid(a*x) + where(a < x, 1, 2)")  # warm caches: grammar, parser
    calls: list[tuple[str, str]] = []
    real_import, real_exec, real_eval, real_open = (
        builtins.__import__,
        builtins.exec,
        builtins.eval,
        builtins.open,
    )

    def record(kind, real):
        def wrapper(*args, **kwargs):
            calls.append((kind, str(args[0]) if args else ""))
            return real(*args, **kwargs)

        return wrapper

    def refuse(kind):
        def wrapper(*args, **kwargs):
            calls.append((kind, repr(args)))
            raise AssertionError(f"{kind} called with {args!r}")

        return wrapper

    monkeypatch.setattr(builtins, "exec", record("exec", real_exec))
    monkeypatch.setattr(builtins, "eval", record("eval", real_eval))
    monkeypatch.setattr(builtins, "open", record("open", real_open))
    monkeypatch.setattr(os, "system", refuse("os.system"))
    monkeypatch.setattr(os, "popen", refuse("os.popen"))
    monkeypatch.setattr(subprocess, "Popen", refuse("subprocess.Popen"))
    # last: monkeypatch.setattr itself imports inspect
    monkeypatch.setattr(builtins, "__import__", record("import", real_import))
    return calls


@pytest.mark.parametrize("template", INJECTIONS)
def test_injection_is_refused_and_nothing_runs(template, guarded, tmp_path):
    sentinel = tmp_path / "pwned"
    formula = template.format(sentinel=sentinel)
    guarded.clear()  # fixture set-up may import; count only what compile does
    with pytest.raises(FormulaError) as info:
        exprgrad.compile(formula)
    assert "line" in str(info.value) and "column" in str(info.value)
    assert not sentinel.exists()
    kinds = {kind for kind, _ in guarded}
    assert "os.system" not in kinds and "os.popen" not in kinds
    assert "subprocess.Popen" not in kinds
    assert "exec" not in kinds and "eval" not in kinds  # nothing was generated, nothing ran
    assert not [
        arg
        for kind, arg in guarded
        if kind == "import"
        if arg.split(".")[0] in ("os", "subprocess", "sys", "posix", "shutil")
    ]
    assert not [arg for kind, arg in guarded if kind == "open" and "pwned" in arg]


def test_the_guard_would_see_an_import(guarded):
    # the recording wrapper is live: a real import of os during the test is recorded
    __import__("os")
    assert ("import", "os") in guarded


def test_valid_formula_with_hostile_names_runs_only_arithmetic(guarded):
    guarded.clear()  # fixture set-up may import; count only what compile and the call do
    f = exprgrad.compile("os*system + __import__*exec + eval - open")
    assert f.inputs == ("os", "system", "__import__", "exec", "eval", "open")
    assert f(2, 3, 4, 5, 6, 7) == 2 * 3 + 4 * 5 + 6 - 7
    assert not [arg for kind, arg in guarded if kind == "import"]


# --- keywords and builtins as variable names -------------------------------------------

ODD_NAMES = [
    "lambda",
    "def",
    "print",
    "math",
    "exec",
    "eval",
    "__builtins__",
    "__import__",
    "None",
    "True",
    "False",
    "_sigmoid",
    "_softplus",
    "t1",
    "t2",
    "x_grad",
    "value_and_grad",
    "forward",
    "float",
    "min",
    "max",
    "abs",
    "exp",
    "sigmoid",
    "class",
    "return",
    "import",
    "if",
    "not",
    "and",
    "is",
    "in",
    "self",
    "g",
    "out",
    "np",
    "_MATH_ERRORS",
    "_evaluation_error",
    "error",
    "_",
    "__name__",
    "dict",
    "inf",
    "nan",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_keyword_and_builtin_names_are_ordinary_variables(name):
    f = exprgrad.compile(f"exp({name}) * sigmoid({name}) + {name}**2 + log1p({name}*{name})")
    assert f.inputs == (name,)
    x = 0.3
    s = 1 / (1 + math.exp(-x))
    expected_value = math.exp(x) * s + x * x + math.log1p(x * x)
    expected_grad = math.exp(x) * s + math.exp(x) * s * (1 - s) + 2 * x + 2 * x / (1 + x * x)
    value_, grads = f.value_and_grad(**{name: x})
    assert value_ == pytest.approx(expected_value, rel=1e-14)
    assert list(grads) == [name]
    assert grads[name] == pytest.approx(expected_grad, rel=1e-14)
    assert f(x) == value_
    assert f(**{name: x}) == value_
    assert f.value_and_grad(x) == (value_, grads)


def test_keywords_together():
    f = exprgrad.compile("lambda*def + print**2")
    assert f.inputs == ("lambda", "def", "print")
    value_, grads = f.value_and_grad(**{"lambda": 2.0, "def": 3.0, "print": 0.5})
    assert value_ == 6.25
    assert grads == {"lambda": 3.0, "def": 2.0, "print": 1.0}


def test_none_true_false_are_variables():
    f = exprgrad.compile("None*True + False**2")
    assert f.inputs == ("None", "True", "False")
    assert f.value_and_grad(2.0, 3.0, 4.0) == (22.0, {"None": 3.0, "True": 2.0, "False": 8.0})


def test_min_as_variable_and_as_function():
    f = exprgrad.compile("min*2 + min(min, 1)")
    assert f.inputs == ("min",)
    assert f.value_and_grad(min=0.5) == (1.5, {"min": 3.0})
    assert f.value_and_grad(min=3.0) == (7.0, {"min": 2.0})


@pytest.mark.parametrize(
    ("formula", "point", "expected_value", "expected_grads"),
    [
        ("lambda = x*2; lambda + 1", {"x": 1.5}, 4.0, {"x": 2.0}),
        ("None = x*x; None*3", {"x": 2.0}, 12.0, {"x": 12.0}),
        ("_sigmoid = x*2; sigmoid(_sigmoid)*0 + _sigmoid", {"x": 1.0}, 2.0, {"x": 2.0}),
        (
            "t1 = x*x; t2 = t1*t1; t0 = t2 + t1; t0*t1",
            {"x": 1.5},
            1.5**6 + 1.5**4,
            {"x": 6 * 1.5**5 + 4 * 1.5**3},
        ),
        ("x_grad = x*x; x_grad*x", {"x": 2.0}, 8.0, {"x": 12.0}),
        ("x_grad*x + x", {"x_grad": 2.0, "x": 3.0}, 9.0, {"x_grad": 3.0, "x": 3.0}),
        (
            "value_and_grad = x + forward; value_and_grad*forward",
            {"x": 2.0, "forward": 3.0},
            15.0,
            {"x": 3.0, "forward": 8.0},
        ),
        ("math = x*2; exp(math)", {"x": 0.5}, math.e, {"x": 2 * math.e}),
        ("float = x + 1; float*float", {"x": 2.0}, 9.0, {"x": 6.0}),
    ],
)
def test_odd_names_as_intermediates(formula, point, expected_value, expected_grads):
    value_, grads = exprgrad.compile(formula).value_and_grad(**point)
    assert value_ == pytest.approx(expected_value, rel=1e-14)
    assert grads.keys() == expected_grads.keys()
    for name, expected in expected_grads.items():
        assert grads[name] == pytest.approx(expected, rel=1e-14)


# --- huge but valid ----------------------------------------------------------------------


def test_5000_nested_parentheses():
    f = exprgrad.compile("(" * 5000 + "x*y" + ")" * 5000 + " + " + "(" * 5000 + "x" + ")" * 5000)
    assert f.inputs == ("x", "y")
    assert f.value_and_grad(x=1.5, y=2.0) == (4.5, {"x": 3.0, "y": 1.5})


@pytest.mark.parametrize("depth", [2000, 2001])
def test_2000_deep_negation(depth):
    f = exprgrad.compile("-(" * depth + "x*y" + ")" * depth)
    sign = -1.0 if depth % 2 else 1.0
    assert f.value_and_grad(x=0.25, y=2.0) == (sign * 0.5, {"x": sign * 2.0, "y": sign * 0.25})
    g = exprgrad.compile("-" * depth + "x")
    assert g.value_and_grad(x=0.25) == (sign * 0.25, {"x": sign})


def test_2000_deep_tanh():
    depth = 2000
    f = exprgrad.compile("tanh(" * depth + "x" + ")" * depth)
    x, slope = 0.3, 1.0
    for _ in range(depth):
        x = math.tanh(x)
        slope *= 1 - x * x
    value_, grads = f.value_and_grad(x=0.3)
    assert value_ == pytest.approx(x, rel=1e-12)
    assert grads["x"] == pytest.approx(slope, rel=1e-9)


def test_wide_sum_of_20000_terms():
    f = exprgrad.compile(" + ".join(["a*x"] * 20_000))
    assert f.inputs == ("a", "x")
    assert f.value_and_grad(a=0.5, x=2.0) == (20000.0, {"a": 40000.0, "x": 10000.0})


def test_5000_chained_statements():
    lines = ["h0 = x"] + [f"h{i} = h{i - 1}*0.5 + x" for i in range(1, 5000)] + ["h4999"]
    f = exprgrad.compile("\n".join(lines))
    # h_n = x * (2 - 0.5**n), so dh/dx = 2 - 0.5**4999 = 2.0 in floats
    value_, grads = f.value_and_grad(x=3.0)
    assert value_ == pytest.approx(6.0, rel=1e-12)
    assert grads["x"] == pytest.approx(2.0, rel=1e-12)


_HUGE_SUM = textwrap.dedent("""
    import json, sys
    import exprgrad
    joiner = sys.argv[1]
    f = exprgrad.compile(joiner.join(["x"] * 100_000))
    g = exprgrad.compile(joiner.join(["a*x"] * 100_000))
    print(json.dumps([f.value_and_grad(x=0.5), g.value_and_grad(a=0.5, x=2.0), f.inputs,
                      sys.getrecursionlimit()]))
""")


def _check_huge_sum(joiner: str, timeout: float) -> None:
    # In a subprocess, so a compile that runs away is stopped by the timeout.
    try:
        done = subprocess.run(
            [sys.executable, "-c", _HUGE_SUM, joiner],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"two 100,000-term sums did not compile and evaluate within {timeout} s")
    assert done.returncode == 0, done.stderr[-3000:]
    sum_x, sum_ax, inputs, recursion_limit = json.loads(done.stdout)
    assert sum_x == [50000.0, {"x": 100000.0}]
    assert sum_ax == [100000.0, {"a": 200000.0, "x": 50000.0}]
    assert inputs == ["x"]
    assert recursion_limit <= 10_000  # done without raising the recursion limit


@pytest.mark.slow
def test_100000_term_sum_compiles():
    _check_huge_sum(" + ", timeout=180)  # about 25 s on a 2-core machine


@pytest.mark.slow
def test_100000_term_sum_without_spaces_compiles():
    # without spaces a whole sum is one "word": quoting it must still cost O(1) per op
    _check_huge_sum("+", timeout=180)


# --- fuzz: anything either compiles or raises FormulaError --------------------------------

ALPHABET = "abxyze019" + "+-*/^" + "()" + ",;\n \t" + "=<>!.'\"[]#"
PIECES = [
    "sin",
    "min",
    "where",
    "clip",
    "exp",
    "pi",
    "e",
    "**",
    "1e5",
    "1e999",
    ".5",
    "lambda",
    "None",
    "x",
    "y",
    "(",
    ")",
    ",",
    "<",
    "=",
    "\n",
    ";",
]


def _compiles_or_formula_error(text: str) -> None:
    try:
        exprgrad.compile(text)
    except FormulaError as error:
        message = str(error)
        assert "line" in message and "column" in message, (text, message)
        assert "^" in message.split("\n")[-1], (text, message)
        for internal in LARK_INTERNALS:
            assert internal not in message, (text, message)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=30))
def test_fuzz_characters(text):
    _compiles_or_formula_error(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES + list(ALPHABET)), max_size=16).map("".join))
def test_fuzz_pieces(text):
    _compiles_or_formula_error(text)


# --- wrt ---------------------------------------------------------------------------------


def test_wrt_restricts_the_gradient():
    f = exprgrad.compile("a*x + b", wrt=["a", "b"])
    assert f.wrt == ("a", "b")
    assert f.value_and_grad(a=2.0, x=3.0, b=1.0) == (7.0, {"a": 3.0, "b": 1.0})
    g = exprgrad.compile("a*x + b", wrt=" x , a")
    assert g.wrt == ("x", "a")
    assert g.grad(a=2.0, x=3.0, b=1.0) == {"x": 2.0, "a": 3.0}
    assert exprgrad.compile("a*x + b", wrt=[]).grad(1, 2, 3) == {}


@pytest.mark.parametrize("wrt", [["z"], "z", "a,z", ["pi"], "a,"])
def test_wrt_unknown_name(wrt):
    with pytest.raises(FormulaError) as info:
        exprgrad.compile("a*x + b", wrt=wrt)
    assert "not an input" in str(info.value)
    assert "a, x, b" in str(info.value)
    # no place in the formula names a wrt: the error points at what is differentiated
    assert (info.value.line, info.value.column) == (1, 1)
    assert str(info.value).endswith("\n    a*x + b\n    ^^^^^^^")


def test_wrt_error_points_at_the_value_statement():
    with pytest.raises(FormulaError) as info:
        exprgrad.compile("h = a*x\nh + b", wrt=["z"])
    assert (info.value.line, info.value.column) == (2, 1)
    assert str(info.value).endswith("line 2, column 1\n    h + b\n    ^^^^^")


def test_wrt_intermediate():
    with pytest.raises(FormulaError) as info:
        exprgrad.compile("h = a*x\nh + b", wrt=["h"])
    error = info.value
    assert "'h'" in str(error)
    assert "assigned" in str(error)
    assert (error.line, error.column) == (1, 1)
    assert str(error).endswith("\n    h = a*x\n    ^")


def test_wrt_intermediate_message_keeps_the_input_list_intact():
    with pytest.raises(FormulaError) as info:
        exprgrad.compile("h = a*x\nh + b", wrt=["h"])
    text = str(info.value)
    assert "(inputs: a, x, b)" in text, text
    assert "line 1, column 1" in text


@pytest.mark.parametrize("wrt", [["a", "a"], "a,a", "a, x, a"])
def test_wrt_duplicate_name(wrt):
    with pytest.raises(FormulaError) as info:
        exprgrad.compile("a*x + b", wrt=wrt)
    assert "'a' twice" in str(info.value)
    assert info.value.line == 1


@pytest.mark.parametrize("wrt", [[1], ["a", 2.0], [None]])
def test_wrt_non_string_is_a_type_error(wrt):
    with pytest.raises(TypeError) as info:
        exprgrad.compile("a*x + b", wrt=wrt)
    assert not isinstance(info.value, FormulaError)


@pytest.mark.parametrize("formula", ["(a;)", "(a; b)", "f(a;b)"])
def test_a_semicolon_inside_parentheses_is_an_error(formula):
    # only newlines continue inside parentheses; ';' always ends a statement
    with pytest.raises(exprgrad.FormulaError, match="unexpected ';'"):
        exprgrad.compile(formula)


# --- the axis= keyword -------------------------------------------------------------------

AXIS_FUNCTIONS = [name for name, primitive in FUNCTIONS.items() if primitive.axis]


def _ir(formula: str) -> list[tuple]:
    from exprgrad.core.lower import lower
    from exprgrad.core.parsing import parse

    program = lower(parse(formula))
    return [(op.prim, op.args, op.value) for op in program.ops]


def test_axis_keyword_lowers_like_the_positional_axis():
    assert AXIS_FUNCTIONS == [
        "sum", "mean", "amax", "amin", "logsumexp", "softmax", "log_softmax"
    ]  # fmt: skip
    for func in AXIS_FUNCTIONS:
        for axis in ("0", "1", "-1", "+1"):
            assert _ir(f"{func}(x, axis={axis})") == _ir(f"{func}(x, {axis})"), (func, axis)
    assert _ir("h = sum(X * W,\n  axis = -1)\nmean(h)") == _ir("h = sum(X * W, -1)\nmean(h)")
    np = pytest.importorskip("numpy")
    f = exprgrad.compile("sum(softmax(x, axis=0) * y)", backend="numpy")
    x, y = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    assert f(x=x, y=y) == exprgrad.compile("sum(softmax(x, 0) * y)", backend="numpy")(x=x, y=y)


@pytest.mark.parametrize(
    ("formula", "fragment", "column"),
    [
        ("sin(x, axis=1)", "sin() takes no axis", 8),
        ("min(x, y, axis=0)", "min() takes no axis", 11),
        ("exp(x, base=2)", "exp() takes no keyword arguments", 8),
        ("sum(x, axes=1)", "unknown keyword 'axes' in sum() at line 1, column 8 (did you mean", 8),
        ("softmax(x, dim=0)", "unknown keyword 'dim' in softmax()", 12),
        ("sum(axis=1, x)", "a positional argument follows axis= in sum()", 13),
        ("sum(x, axis=1, axis=0)", "axis= given twice in sum() at line 1, column 16: first at", 16),
        ("mean(x, 1, axis=0)", "mean() is given its axis twice, by position and as axis=", 12),
        ("amax(axis=0)", "amax() takes 1 argument and an optional axis (0 given)", 1),
        ("sum(x, axis=y)", "the axis of sum() must be a whole number", 13),
        ("sum(x, axis=1.5)", "the axis of sum() must be a whole number", 13),
        ("y = 2\nsum(x,\n  axis=)", "unexpected ')'", 8),
    ],
)  # fmt: skip
def test_axis_keyword_errors(formula, fragment, column):
    with pytest.raises(FormulaError) as info:
        exprgrad.compile(formula, backend="numpy")
    assert fragment in str(info.value)
    assert caret_column(info.value) == column and info.value.column == column


_ARGUMENT = st.sampled_from(["x", "y", "1", "-1", "axis=0", "axis=-1", "axes=0", "dim=1", "k=x"])


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([*AXIS_FUNCTIONS, "exp", "min", "clip"]), st.lists(_ARGUMENT, max_size=4))
def test_fuzz_keyword_arguments(func, arguments):
    """Any mix of positional and keyword arguments either lowers to the same IR as its
    positional spelling, or is a FormulaError with a position and a caret."""
    formula = f"{func}({', '.join(arguments)})"
    try:
        lowered = _ir(formula)
    except FormulaError as error:
        assert error.line == 1 and "^" in str(error).split("\n")[-1], formula
        return
    keywords = [a for a in arguments if "=" in a]
    assert keywords in ([], ["axis=0"], ["axis=-1"]), formula
    if keywords:
        assert FUNCTIONS[func].axis and arguments[-1] == keywords[0], formula
        positional = [*arguments[:-1], keywords[0].removeprefix("axis=")]
        assert lowered == _ir(f"{func}({', '.join(positional)})"), formula
