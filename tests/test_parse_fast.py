"""The parser's fast loop over Lark's tables agrees with Lark's own parser, token for token
and node for node; where the loop stops, Lark says what is wrong (tests/test_errors.py
checks the words)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from exprgrad.core import parsing, syntax
from exprgrad.errors import FormulaError

FIXED = [
    "x",
    "a*x + b",
    "x ** -2",
    "2^3^4",
    "-x**2",
    "+-+x",
    "a@b / c - d",
    "a <= b",
    "where(a == b, 1, 2)",
    "where(x != 0, x, 1) + where(x >= 1, 1, 0)",
    "(((x)))",
    "sum(x, axis=-1)",
    "conv2d(x, w, padding=1, stride=2)",
    "f()",
    "x = 1; y = x\ny",
    ";;\n x = 2 # two\n\n x*x ;",
    "a\n(b\n+\nc)",
    "f(x,\r\n axis=1)",
    "1.e5 + .5e-3 + 7 + 7.25E+2",
    "x\r\ny",
    "x\ry",
    "\t\fx  # only a comment after",
    "v_1 = tanh(v0 + 0.5*x_2)\nv_1",
]
# Token by token valid, but not formulas; then characters no terminal matches.
MISPLACED = ["", "1 2", "a b", "a = = b", "x =", "x**", "x***y", "(x", "x)", "2x", "f(,)"]
INVALID = [*MISPLACED, "x $ y", "é", "'s'"]


def _random_formula(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(["x", "y1", "_w", "2", "0.5", "1e3", ".25"])
    a, b = _random_formula(rng, depth - 1), _random_formula(rng, depth - 1)
    return rng.choice(
        [
            f"{a} + {b}",
            f"{a} - {b} * {a}",
            f"{a} / {b}",
            f"{a}**{b}",
            f"-{a}",
            f"({a})",
            f"tanh({a})",
            f"max({a}, {b}, {a})",
            f"where({a} < {b}, {a}, {b})",
            f"sum({a}, axis=0)",
            f"({a}\n + {b})",
        ]
    )


def _random_program(seed: int) -> str:
    rng = random.Random(seed)
    lines = [f"v{k} = {_random_formula(rng, 4)}" for k in range(rng.randrange(3))]
    return "\n".join([*lines, _random_formula(rng, 5)])


FORMULAS = FIXED + [_random_program(seed) for seed in range(300)]


def _lark_statements(source: str):
    return parsing._lark().parse(source)


def _assert_same_tree(left, right) -> None:
    """Field by field, with an explicit stack (trees may be deep)."""
    stack = [(left, right)]
    while stack:
        a, b = stack.pop()
        if isinstance(a, tuple):
            assert isinstance(b, tuple) and len(a) == len(b)
            stack.extend(zip(a, b, strict=True))
        elif dataclasses.is_dataclass(a) and not isinstance(a, type):
            assert type(a) is type(b)
            stack.extend((getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
        else:
            assert type(a) is type(b) and a == b


@pytest.mark.parametrize("source", FORMULAS)
def test_the_fast_loop_builds_the_tree_lark_builds(source):
    fast = parsing._parse_fast(source)
    assert fast is not None
    _assert_same_tree(fast, _lark_statements(source))


@pytest.mark.parametrize("source", FORMULAS + MISPLACED)
def test_the_fast_lexer_reads_the_tokens_lark_reads(source):
    # Separators aside: Lark.lex drops newlines in parentheses (the tree test covers them).
    lark_tokens = [(t.type, t.start_pos, t.end_pos) for t in parsing._lark().lex(source)]
    lark_tokens = [token for token in lark_tokens if token[0] != "_SEP"]
    tables = parsing._tables()
    ours = []
    for match in tables.tokens.finditer(source):
        # blanks and comments come before a token's group; the last match (None) is the end
        if match.lastgroup not in (None, "_SEP"):
            ours.append((match.lastgroup, *match.span(match.lastgroup)))
    assert ours == lark_tokens


@pytest.mark.parametrize("source", INVALID)
def test_where_the_fast_loop_stops_lark_raises(source):
    assert parsing._parse_fast(source) is None
    with pytest.raises(FormulaError):
        parsing.parse(source)


def test_a_sum_of_100_000_terms_folds_left_over_the_whole_text():
    program = parsing.parse(" + ".join(f"w{i}*x{i}" for i in range(100_000)))
    (node,) = program.statements
    terms = 1
    while isinstance(node, syntax.Binary) and node.op == "+":
        assert (node.span.start, node.span.end) == (0, node.right.span.end)
        node, terms = node.left, terms + 1
    assert terms == 100_000 and node.op == "*" and node.left.id == "w0"


def test_a_million_nested_parentheses_parse_and_100_000_unclosed_ones_are_an_error():
    n = 1_000_000
    (node,) = parsing.parse("(" * n + "x" + ")" * n).statements
    assert isinstance(node, syntax.Name) and (node.span.start, node.span.end) == (0, 2 * n + 1)
    with pytest.raises(FormulaError, match=r"formula ends early .* expected '\)'"):
        parsing.parse("(" * 100_000 + "x")


def test_whatever_the_fast_loop_accepts_lark_accepts_with_the_same_tree():
    """Token soup, mostly not formulas: where the loop builds a tree, Lark builds the same
    one; where Lark refuses, the loop stops (and Lark's error is what parse raises)."""
    vocabulary = "x y2 f 1 2.5e3 + - * / ** ^ @ ( ) , = == < >= != ; axis".split()
    vocabulary += ["\n", " ", "# c\n", "\t"]
    rng = random.Random(11)
    accepted = 0
    for _ in range(8000):
        source = "".join(rng.choice(vocabulary) for _ in range(rng.randrange(1, 12)))
        fast = parsing._parse_fast(source)
        try:
            expected = _lark_statements(source)
        except Exception:  # noqa: BLE001 (Lark's own errors, whatever their class)
            assert fast is None, source
            continue
        if fast is not None:
            accepted += 1
            _assert_same_tree(fast, expected)
    assert accepted > 300  # formulas, not only errors


def test_the_loop_runs_on_a_grammar_lark_loads_from_its_cache(tmp_path, monkeypatch):
    """Lark keeps its analysis of the grammar in exprgrad's cache directory; a process that
    loads it from there (a Lark without some attributes a fresh one has) parses the same."""
    expected = [parsing._parse_fast(source) for source in FIXED]
    monkeypatch.setenv("EXPRGRAD_CACHE_DIR", str(tmp_path))
    for _ in ("built and saved", "loaded"):
        parsing._lark.cache_clear()
        parsing._tables.cache_clear()
        for source, tree in zip(FIXED, expected, strict=True):
            _assert_same_tree(parsing._parse_fast(source), tree)
        with pytest.raises(FormulaError):
            parsing.parse("x $ y")
    assert [p.name for p in tmp_path.iterdir()] == [Path(parsing._grammar_cache()).name]
    parsing._lark.cache_clear()
    parsing._tables.cache_clear()
