"""Formula text -> syntax tree: an LALR(1) loop over Lark's tables; Lark itself explains errors.

Lark builds the parse table and the terminals from grammar/exprgrad.lark, the
one source of truth. A small loop runs that table (one regular expression for
the tokens, one dict lookup per action, runs of pass-through reductions taken
at once) and builds the syntax tree as rules are reduced, in a third of the
time Lark's own lexer and parser loop take. Should the loop stop on anything
unexpected, Lark parses the formula again, so every syntax error is Lark's and
is worded as before; both paths call the same actions. Nothing recurses:
1,000,000 nested parentheses and 100,000-term sums parse in constant stack depth.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import ArgumentError, FormulaError, Span, shorten
from . import syntax
from .cache import cache_dir

_PACKAGE = Path(__file__).resolve().parent.parent  # exprgrad/
# Installed wheels carry the grammar inside the package; a source checkout keeps it at the top.
_GRAMMAR_PATHS = (
    _PACKAGE / "grammar" / "exprgrad.lark",
    _PACKAGE.parent / "grammar" / "exprgrad.lark",
)


def grammar_text() -> str:
    for path in _GRAMMAR_PATHS:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"exprgrad's grammar is missing; looked in {_GRAMMAR_PATHS}")


class _ToSyntax:
    """Called as each rule is reduced: children are the rule's kept tokens, each a tuple
    (text, start, end), and finished nodes. Spans run from the first child's start to the
    last child's end (children are in source order)."""

    def program(self, statements):
        return tuple(statements)

    def assign(self, children):
        (target, start, end), _, value = children
        return syntax.Assign(target, Span(start, end), value, Span(start, value.span.end))

    def compare(self, children):
        left, (op, _, _), right = children
        return syntax.Compare(op, left, right, Span(left.span.start, right.span.end))

    def sum(self, children):
        return self._fold_left(children)

    def product(self, children):
        return self._fold_left(children)

    @staticmethod
    def _fold_left(children):
        node = children[0]
        start, binary = node.span.start, syntax.Binary
        for i in range(1, len(children), 2):
            right = children[i + 1]
            node = binary(children[i][0], node, right, Span(start, right.span.end))
        return node

    def sign(self, children):
        (op, start, _), operand = children
        return syntax.Unary(op, operand, Span(start, operand.span.end))

    def power(self, children):
        base, _, exponent = children
        return syntax.Binary("**", base, exponent, Span(base.span.start, exponent.span.end))

    def number(self, children):
        ((text, start, end),) = children
        return syntax.Number(float(text), text, Span(start, end))

    def name(self, children):
        ((text, start, end),) = children
        return syntax.Name(text, Span(start, end))

    def call(self, children):
        (func, start, end), args, rpar = children[0], children[2:-1], children[-1]
        args = tuple(args[0]) if args else ()
        return syntax.Call(func, Span(start, end), args, Span(start, rpar[2]))

    def keyword(self, children):
        (name, start, end), _, value = children
        return syntax.Keyword(name, Span(start, end), value, Span(start, value.span.end))

    def arguments(self, children):
        return [child for child in children if not isinstance(child, tuple)]

    def group(self, children):
        lpar, inner, rpar = children
        # The parentheses become part of the inner node's span, so comments quote them.
        return dataclasses.replace(inner, span=Span(lpar[1], rpar[2]))


_ACTIONS = _ToSyntax()


def _from_lark_tokens() -> Transformer:
    """The actions for Lark's own parse (after the fast loop stopped), its tokens turned
    into (text, start, end)."""

    def adapted(action):
        return lambda children: action(
            [(str(c), c.start_pos, c.end_pos) if isinstance(c, Token) else c for c in children]
        )

    names = [name for name in vars(_ToSyntax) if not name.startswith("_")]
    methods = {name: staticmethod(adapted(getattr(_ACTIONS, name))) for name in names}
    return type("_FromLarkTokens", (Transformer,), methods)()


class _NewlinesInParentheses:
    """Post-lexer: a newline inside parentheses continues the expression, as in Python."""

    always_accept = ("_SEP",)

    def process(self, stream):
        depth = 0
        for token in stream:
            if token.type == "LPAR":
                depth += 1
            elif token.type == "RPAR":
                depth -= 1
            elif token.type == "_SEP" and depth > 0 and token.value != ";":
                continue
            yield token


@functools.cache
def _lark() -> Lark:
    return Lark(
        grammar_text(),
        start="program",
        parser="lalr",
        lexer="contextual",
        postlex=_NewlinesInParentheses(),
        transformer=_from_lark_tokens(),
        cache=_grammar_cache(),
    )


def _grammar_cache() -> str | bool:
    """Where Lark keeps its analysis of the grammar (a process builds the LALR table in
    ~40 ms, loads it in ~5): a file in cache_dir("grammar") named for Lark's and Python's
    versions. Lark checks the grammar's hash in the file and builds the table again when
    it differs (or the file is unreadable); False (no cache) where the directory cannot
    be made."""
    import lark

    directory = cache_dir("grammar")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    version = f"{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    return str(directory / f"grammar-lark-{version}.cache")


# --- the fast loop over Lark's tables ------------------------------------------------

_DROP, _KEEP, _SPLICE = 0, 1, 2  # what a rule's reduction does with each of its children


@dataclass(frozen=True, slots=True)
class _Tables:
    # what Lark ignores (blanks, comments) in group 1, then every terminal, one named group
    # each, in the order Lark tries them, or the end: one match per token, none for a blank
    tokens: re.Pattern
    actions: tuple[dict[str, int], ...]  # state -> symbol -> next state, or ~rule to reduce
    rules: tuple[tuple, ...]  # (origin, length, reduce) with reduce None for a pass-through
    start: int
    end: int
    # (state below, state on top, lookahead) -> the state after its pass-through reductions
    chains: dict[tuple[int, int, str], int] = dataclasses.field(default_factory=dict)


@functools.cache
def _tables() -> _Tables:
    lark = _lark()
    table = lark.parser.parser.parser.parse_table
    # Lark's basic lexer order: priority, then longest possible match, then the longest pattern.
    terminals = sorted(
        lark.terminals,
        key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name),
    )
    ignore = set(lark.lexer_conf.ignore)  # (a Lark loaded from its cache has no ignore_tokens)
    # No other terminal starts where an ignored one can, so skipping them first is Lark's
    # order. The lookahead makes the skip atomic: a run of blanks before a character no
    # terminal matches is not tried split in every way (which takes exponential time).
    skipped = "|".join(t.pattern.to_regexp() for t in terminals if t.name in ignore)
    skip = f"(?=((?:{skipped})*))\\1"
    named = "|".join(
        f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals if t.name not in ignore
    )
    rules, rule_ids = [], {}
    actions = []
    for state in range(len(table.states)):  # Lark numbers its LALR states 0, 1, 2, ...
        row = {}
        for symbol, (action, target) in table.states[state].items():
            symbol = sys.intern(str(symbol))  # Lark's names are Tokens, slower to compare
            if action.name == "Shift":
                row[symbol] = target
                continue
            if target not in rule_ids:
                rule_ids[target] = len(rules)
                rules.append(_rule(target))
            row[symbol] = ~rule_ids[target]
        actions.append(row)
    return _Tables(
        re.compile(f"{skip}(?:{named}|\\Z)"),
        tuple(actions),
        tuple(rules),
        table.start_states["program"],
        table.end_states["program"],
    )


def _rule(rule) -> tuple:
    """How reducing one of Lark's rules builds its value, as Lark's tree builder does:
    terminals whose names start with '_' are dropped, rules whose names start with '_'
    (Lark's helpers for repetitions) are spliced into their parent, and a '?rule' left
    with one child is that child, unless the alternative is named (`NAME -> name`)."""
    kinds = tuple(
        _DROP
        if sym.is_term and sym.filter_out
        else _SPLICE
        if not sym.is_term and sym.name.startswith("_")
        else _KEEP
        for sym in rule.expansion
    )
    origin = sys.intern(str(rule.origin.name))
    if not kinds:  # the loop pops at least one value per reduction
        raise NotImplementedError(f"the grammar's rule {origin} matches nothing")
    build = _children(kinds)
    if origin.startswith("_"):  # a repetition's value: its children, for the parent to splice
        return origin, len(kinds), build or _same
    expand_single = rule.options.expand1 and not rule.alias  # `x -> name` always calls name
    if expand_single and kinds == (_KEEP,):
        return origin, 1, None  # the loop passes the one child up
    action = getattr(_ACTIONS, rule.alias or origin)
    if expand_single:

        def reduce(values):
            children = build(values) if build else values
            return children[0] if len(children) == 1 else action(children)

    elif build:

        def reduce(values):
            return action(build(values))

    else:
        reduce = action
    return origin, len(kinds), reduce


def _same(values: list) -> list:
    return values


def _children(kinds: tuple[int, ...]):
    """values (a fresh slice of the value stack) -> the rule's children; None: the values
    themselves, every one kept."""
    if all(kind == _KEEP for kind in kinds):
        return None
    if _SPLICE not in kinds:
        kept = [i for i, kind in enumerate(kinds) if kind == _KEEP]
        return lambda values: [values[i] for i in kept]

    steps = [(i, kind == _SPLICE) for i, kind in enumerate(kinds) if kind != _DROP]
    (first, splice_first), rest = steps[0], steps[1:]

    def build(values):
        # a repetition grows its own list: linear, as in Lark
        children = values[first] if splice_first else [values[first]]
        for i, splice in rest:
            if splice:
                children += values[i]
            else:
                children.append(values[i])
        return children

    return build


def _parse_fast(source: str) -> tuple[syntax.Statement, ...] | None:
    """The formula's statements, or None where the loop finds anything unexpected."""
    tables = _tables()
    actions, rules, chains, end = tables.actions, tables.rules, tables.chains, tables.end
    state, states, values = tables.start, [], []  # state: the top of the stack, states: below
    push_state, push_value = states.append, values.append
    depth, position, next_token = 0, 0, tables.tokens.match
    while True:  # (the end returns)
        match = next_token(source, position)
        if match is None:
            return None  # a character no terminal matches
        kind = match.lastgroup
        if kind is None:  # the end, blanks and comments before it
            kind, token = "$END", None
        else:
            start, position = match.end(1), match.end()  # (group 1: the blanks before it)
            text = source[start:position]
            if kind in _NESTING:
                if kind == "LPAR":
                    depth += 1
                elif kind == "RPAR":
                    depth -= 1
                elif depth > 0 and text != ";":
                    continue  # a line break in parentheses, as _NewlinesInParentheses does
            token = (text, start, position)
        while True:
            action = actions[state].get(kind)
            if action is None:
                return None
            if action >= 0:
                if token is None:
                    return None
                push_state(state)
                push_value(token)
                state = action
                break
            origin, length, reduce = rules[~action]
            if reduce is None:  # '?rule's left with one child, in a row: the child goes up
                key = (states[-1], state, kind)
                top = chains.get(key)
                if top is None:
                    top = chains[key] = _pass_through(tables, *key)
                state = top
            elif length == 1:  # (most: a token to its node) in place, the states unchanged
                values[-1] = reduce(values[-1:])
                state = actions[states[-1]][origin]
            else:
                value = reduce(values[-length:])
                del values[-length:], states[1 - length :]
                state = actions[states[-1]][origin]
                push_value(value)
            if token is None and state == end:
                return values[-1]


_NESTING = frozenset({"LPAR", "RPAR", "_SEP"})  # the kinds _NewlinesInParentheses looks at


def _pass_through(tables: _Tables, below: int, top: int, kind: str) -> int:
    """The state after every pass-through reduction, one after another, that the lookahead
    kind calls for in state top over state below (the value stack does not change)."""
    while top != tables.end:
        action = tables.actions[top].get(kind)
        if action is None or action >= 0:
            break
        origin, _, reduce = tables.rules[~action]
        if reduce is not None:
            break
        top = tables.actions[below][origin]
    return top


def parse(source: str) -> syntax.Program:
    """Parse formula text into a syntax tree; raise FormulaError on any syntax error."""
    if not isinstance(source, str):
        raise ArgumentError(f"a formula must be a str, not {type(source).__name__}")
    statements = _parse_fast(source)
    if statements is None:  # Lark parses it again, to say what is wrong in its words
        try:
            statements = _lark().parse(source)
        except UnexpectedInput as error:
            raise _formula_error(source, error) from None
    return syntax.Program(statements, source)


# --- turning Lark's errors into words ------------------------------------------------

_TOKEN_WORDS = {
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "ASSIGN": "'='",
}
_OPERATORS = {"ADD_OP", "MUL_OP", "POW_OP", "COMPARE"}


def _content_end(source: str, blanks: str) -> int:
    """Offset just after the last character that is neither in blanks nor in a comment.

    Walks the lines from the end, each character looked at a bounded number of
    times: a regular expression here backtracked exponentially on runs of '#'.
    """
    end = len(source)
    last_lf, last_cr = source.rfind("\n", 0, end), source.rfind("\r", 0, end)
    while end > 0:
        # Line breaks found so far lie at or before end, so each rfind resumes where one stopped.
        if last_lf >= end:
            last_lf = source.rfind("\n", 0, end)
        if last_cr >= end:
            last_cr = source.rfind("\r", 0, end)
        line_start = max(last_lf, last_cr) + 1
        comment = source.find("#", line_start, end)  # formulas have no strings: '#' starts one
        content = source[line_start : end if comment == -1 else comment].rstrip(blanks)
        if content:
            return line_start + len(content)
        end = line_start - 1 if line_start > 0 else 0
    return 0


def _describe_token(token: Token) -> str:
    if token.type == "NAME":
        return f"name '{shorten(token)}'"
    if token.type == "NUMBER":
        return f"number {shorten(token)}"
    if token.type == "_SEP":
        return "';'" if token == ";" else "end of line"
    return f"'{token}'"


def _describe_expected(expected: set[str]) -> str:
    words = []
    if {"NAME", "NUMBER"} & expected:
        words.append("a number, a name or '('")
    elif "LPAR" in expected:
        words.append("'('")
    if _OPERATORS & expected and "NAME" not in expected:
        words.append("an operator")
    for terminal in ("RPAR", "COMMA", "ASSIGN"):
        if terminal in expected:
            words.append(_TOKEN_WORDS[terminal])
    if {"_SEP", "$END"} & expected:
        words.append("the end of the statement")
    if not words:
        return ""
    return ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]


def _formula_error(source: str, error: UnexpectedInput) -> FormulaError:
    if isinstance(error, UnexpectedCharacters):
        char = source[error.pos_in_stream]
        span = Span(error.pos_in_stream, error.pos_in_stream + 1)
        detail = None
        if char in "'\"":
            message, detail = f"unexpected {char}", "formulas have no strings"
        elif char in "[]{}.:@`\\$!?&|~%":
            message, detail = f"unexpected '{char}'", "not part of the formula language"
        elif char.isprintable() and char.isascii():
            message = f"unexpected character '{char}'"
        else:
            message, detail = f"unexpected character {char!r}", "formulas are written in ASCII"
        return FormulaError(message, source, span, detail=detail)

    if not isinstance(error, UnexpectedToken):  # no other kind comes from LALR; stay safe
        offset = min(getattr(error, "pos_in_stream", None) or 0, len(source))
        return FormulaError("syntax error", source, Span(offset, offset + 1))
    # accepts (unlike expected) is exact: LALR merges states, so expected overstates.
    expected = _describe_expected(set(error.accepts or error.expected))
    token = error.token
    if token.type == "$END":
        # Only separators, blanks and comments before the end: there is no statement at all.
        if _content_end(source, " \t\f\r\n;") == 0:
            return FormulaError(
                "empty formula", source, Span(0, 0), detail="write an expression such as 'a*x + b'"
            )
        end = _content_end(source, " \t\f\r\n")
        return FormulaError(
            "formula ends early",
            source,
            Span(end, end),
            detail=f"expected {expected}" if expected else None,
        )

    span = Span(token.start_pos, token.end_pos)
    message = f"unexpected {_describe_token(token)}"
    hint = None
    previous = error.token_history[-1] if error.token_history else None
    if previous is not None and previous.type == "NUMBER" and token.type in ("NAME", "LPAR"):
        hint = f"write '{shorten(previous)}*{shorten(token)}' to multiply"
    elif token.type == "ASSIGN":
        hint = "only a plain name can be assigned; '==' compares"
    return FormulaError(
        message, source, span, detail=f"expected {expected}" if expected else None, hint=hint
    )
