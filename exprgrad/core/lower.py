"""Syntax tree -> IR: resolves names, checks functions, arity and assignments.

Free names become inputs in order of first appearance; `pi` and `e` are
constants; `name = expr` binds an intermediate (and gives the generated code
its name). The tree is walked with an explicit stack, so a 100,000-deep
chain lowers in constant Python stack depth.
"""

from __future__ import annotations

import difflib
import math
import sys

from ..errors import FormulaError, Span, line_and_column, shorten
from . import ir, syntax
from .array_rules import MAX_ELEMENTS
from .primitives import BINARY_OPERATORS, COMPARISONS, CONSTANTS, FUNCTIONS, Primitive

_WHERE_CONDITION_ONLY = "a comparison can only be the condition of where(condition, a, b)"
_VISIT, _CONDITION, _EMIT = 0, 1, 2  # what the lowering walk does with a node it pops
_OPERANDS = {syntax.Unary: 1, syntax.Compare: 2}


# Names from numpy, torch, math and other languages -> the exprgrad spelling: a function
# name, or a formula to write instead (x, a, b stand for the arguments).
# fmt: off
_ALIASES = {
    "ln": "log", "log_e": "log", "loge": "log",
    "log10": "log(x) / log(10)", "log2": "log(x) / log(2)",
    "exp2": "2**x", "exp10": "10**x", "square": "x*x", "sqr": "x*x",
    "rsqrt": "1 / sqrt(x)", "reciprocal": "1 / x", "inv": "1 / x",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
    "cot": "1 / tan(x)", "sec": "1 / cos(x)", "csc": "1 / sin(x)",
    "sign": "where(x > 0, 1, where(x < 0, -1, 0))",
    "sgn": "where(x > 0, 1, where(x < 0, -1, 0))",
    "signum": "where(x > 0, 1, where(x < 0, -1, 0))",
    "heaviside": "where(x > 0, 1, 0)", "step": "where(x > 0, 1, 0)",
    "maximum": "max", "fmax": "max", "minimum": "min", "fmin": "min",
    "fabs": "abs", "absolute": "abs",
    "clamp": "clip",
    "power": "pow",
    "if": "where", "ifelse": "where", "if_else": "where", "select": "where", "ite": "where",
    "expit": "sigmoid", "logistic": "sigmoid",
    "logit": "log(x / (1 - x))",
    "log_sigmoid": "-softplus(-x)", "logsigmoid": "-softplus(-x)",
    "silu": "x * sigmoid(x)", "swish": "x * sigmoid(x)",
    "gelu": "0.5 * x * (1 + erf(x / sqrt(2)))",
    "elu": "where(x > 0, x, expm1(x))",
    "leaky_relu": "where(x > 0, x, 0.01*x)", "leakyrelu": "where(x > 0, x, 0.01*x)",
    "relu6": "clip(x, 0, 6)", "hardtanh": "clip(x, -1, 1)",
    "softsign": "x / (1 + abs(x))", "mish": "x * tanh(softplus(x))",
    "logaddexp": "max(a, b) + log1p(exp(-abs(a - b)))",
}
# fmt: on


def _suggest(func: str) -> str | None:
    """A hint for an unknown function: a different case, a common alias, then a near spelling."""
    lower = func.lower()
    for key in (lower, lower.replace("_", "")):
        if key in FUNCTIONS:
            return f"did you mean '{key}'?"
    for key in (func, lower):
        alias = _ALIASES.get(key)
        if alias is not None:
            return f"did you mean '{alias}'?" if alias in FUNCTIONS else f"write {alias}"
    close = difflib.get_close_matches(lower, FUNCTIONS, n=1)
    return f"did you mean '{close[0]}'?" if close else None


def _whole_number(node: syntax.Expr, what: str, source: str) -> int:
    """The whole number an axis or a parameter is written as (0, 1, -1, ...)."""
    sign = 1
    if isinstance(node, syntax.Unary):
        sign = -1 if node.op == "-" else 1
        node = node.operand
    if not (isinstance(node, syntax.Number) and node.value.is_integer()):
        raise FormulaError(
            f"{what} must be a whole number written in the formula",
            source,
            node.span,
            hint="such as 0, 1 or -1" if what.startswith("the axis") else "such as 1, 2 or 3",
        )
    if node.value > MAX_ELEMENTS:  # past any array's size: numpy's error, or a hang
        raise FormulaError(f"{what} is too large (at most 2**48)", source, node.span)
    return sign * int(node.value)


def _axis_value(node: syntax.Expr, func: str, source: str) -> int:
    return _whole_number(node, f"the axis of {func}()", source)


def _takes(primitive: Primitive) -> str:
    plural = "argument" if primitive.arity == 1 else "arguments"
    takes = f"{primitive.arity} {plural}"
    params = primitive.params
    if params is not None:
        names = params.names
        if params.variadic:
            return f"{takes} and {params.required} or more whole numbers ({names[0]})"
        given = ", ".join(names[: params.required])
        optional = ", ".join(names[params.required :])
        takes += f", then {given}" if given else ""
        return takes + (f" and optionally {optional}" if optional else "")
    return f"{takes} and an optional axis" if primitive.axis else takes


def _keywords(primitive: Primitive) -> tuple[str, ...]:
    """The keyword arguments a call may use: axis=, or the row's parameters by name."""
    if primitive.axis:
        return ("axis",)
    if primitive.params is not None and not primitive.params.variadic:
        return primitive.params.names
    return ()


_KEYWORD_FUNCTIONS = [name for name, primitive in FUNCTIONS.items() if _keywords(primitive)]


def _for_ir(span: Span) -> Span:
    """An op's own copy of its node's span. The IR outlives the syntax tree, and a span
    kept from amid the tree's nodes would keep their memory from going back to be reused
    once the tree is freed (at 10^5 operations, 10-30 MB more after compile())."""
    return Span(span.start, span.end)


def _where(source: str, span: Span) -> str:
    line, column = line_and_column(source, span.start)
    return f"line {line}, column {column}"


class _Lowering:
    def __init__(self, tree: syntax.Program):
        self.source = tree.source
        self.builder = ir.Builder()
        self.env: dict[str, int] = {}  # names assigned so far -> value id
        self.inputs: list[str] = []
        self.known: dict[str, int] = {}  # every name met so far (assigned, input, constant) -> id
        self.assigned_at: dict[str, Span] = {}  # every assignment in the program
        for statement in tree.statements:
            if isinstance(statement, syntax.Assign):
                self._check_target(statement)

    def error(
        self, message: str, span: Span, detail: str | None = None, hint: str | None = None
    ) -> FormulaError:
        return FormulaError(message, self.source, span, detail=detail, hint=hint)

    def _check_target(self, statement: syntax.Assign) -> None:
        name, span = statement.target, statement.target_span
        if name in CONSTANTS:
            raise self.error(f"cannot assign to the constant '{name}'", span)
        if name in self.assigned_at:
            first = _where(self.source, self.assigned_at[name])
            raise self.error(f"'{shorten(name)}' is assigned twice", span, f"first at {first}")
        self.assigned_at[name] = span

    def statement(self, statement: syntax.Statement) -> int:
        if isinstance(statement, syntax.Assign):
            value = self.expression(statement.value, statement.target)
            self.env[statement.target] = self.known[statement.target] = value
            if self.builder.ops[value].name is None:  # an op made before, or no op of its own
                self.builder.give_name(value, statement.target)
            return value
        return self.expression(statement)

    def name(self, node: syntax.Name) -> int:
        found = self.known.get(node.id)
        if found is not None:
            return found
        name = node.id
        if name in CONSTANTS:
            found = self.builder.const(CONSTANTS[name])
        elif name in self.assigned_at:
            at = _where(self.source, self.assigned_at[name])
            message = f"'{shorten(name)}' is used before it is assigned"
            raise self.error(message, node.span, f"it is assigned at {at}")
        else:  # an input, met for the first time
            self.inputs.append(sys.intern(name))  # interned, like Python's own keywords
            found = self.builder.input(name, _for_ir(node.span))
        self.known[name] = found
        return found

    def check_call(self, node: syntax.Call) -> syntax.Call:
        """Check a call's function and arguments; return it with an axis= keyword moved to
        the positional place it names, so both spellings lower to the same IR."""
        primitive = FUNCTIONS.get(node.func)
        if primitive is None:
            raise self.error(
                f"unknown function '{shorten(node.func)}'",
                node.func_span,
                hint=_suggest(node.func),
            )
        node = self.positional(node, primitive)
        given = len(node.args)
        if primitive.arity is None and given < 2:
            raise self.error(f"{node.func}() takes 2 or more arguments ({given} given)", node.span)
        if primitive.axis and given == primitive.arity + 1:
            _axis_value(node.args[-1], node.func, self.source)
            return node
        if primitive.params is not None:
            self.check_params(node, primitive)
            return node
        if primitive.arity is not None and given != primitive.arity:
            raise self.error(f"{node.func}() takes {_takes(primitive)} ({given} given)", node.span)
        return node

    def check_params(self, node: syntax.Call, primitive: Primitive) -> None:
        """A call of a row with whole-number parameters: enough of them, not too many,
        each a whole number written in the formula and not below its smallest value."""
        params = primitive.params
        given = len(node.args) - primitive.arity
        most = None if params.variadic else len(params.names)
        if given < params.required or (most is not None and given > most):
            message = f"{node.func}() takes {_takes(primitive)} ({len(node.args)} given)"
            raise self.error(message, node.span)
        for k, arg in enumerate(node.args[primitive.arity :]):
            name = params.names[0 if params.variadic else k]
            value = _whole_number(arg, f"the {name} of {node.func}()", self.source)
            lowest = params.lowest[0 if params.variadic else k]
            if value < lowest:
                raise self.error(f"the {name} of {node.func}() must be at least {lowest}", arg.span)

    def positional(self, node: syntax.Call, primitive: Primitive) -> syntax.Call:
        """The call with its keyword arguments (axis=, or a row's parameters: stride=, ...)
        made positional, in their places; an unknown keyword, one before a positional
        argument or one given twice is an error at that keyword."""
        func, args = node.func, node.args
        if syntax.Keyword not in map(type, args):
            return node  # (most calls)
        keywords = [k for k in args if isinstance(k, syntax.Keyword)]
        allowed = _keywords(primitive)
        for keyword in keywords:
            if not allowed:
                what = "axis" if keyword.name == "axis" else "keyword arguments"
                raise self.error(
                    f"{func}() takes no {what}",
                    keyword.span,
                    hint=f"these take keywords: {', '.join(_KEYWORD_FUNCTIONS)}",
                )
            if keyword.name not in allowed:
                close = difflib.get_close_matches(keyword.name.lower(), allowed, n=1)
                only = ", ".join(f"{k}=" for k in allowed)
                raise self.error(
                    f"unknown keyword '{shorten(keyword.name)}' in {func}()",
                    keyword.name_span,
                    hint=f"did you mean '{close[0]}'?" if close else f"the keywords are {only}",
                )
        if primitive.params is not None:
            return self.params_positional(node, primitive, keywords)
        first = keywords[0]
        if len(keywords) > 1:
            at = _where(self.source, first.span)
            raise self.error(f"axis= given twice in {func}()", keywords[1].span, f"first at {at}")
        after = args[args.index(first) + 1 :]
        if after:
            raise self.error(
                f"a positional argument follows axis= in {func}()",
                after[0].span,
                hint="write the axis last",
            )
        positional = args[:-1]
        arity = primitive.arity
        if len(positional) == arity + 1:
            raise self.error(
                f"{func}() is given its axis twice, by position and as axis=", first.span
            )
        if len(positional) < arity:
            given = len(positional)
            raise self.error(f"{func}() takes {_takes(primitive)} ({given} given)", node.span)
        return syntax.Call(func, node.func_span, (*positional, first.value), node.span)

    def params_positional(
        self, node: syntax.Call, primitive: Primitive, keywords: list[syntax.Keyword]
    ) -> syntax.Call:
        """conv2d(x, w, padding=1): each keyword in its parameter's place; one left out
        before a keyword given takes its default (the fill of those before it)."""
        func, args = node.func, node.args
        names = primitive.params.names
        first = args.index(keywords[0])
        after = [a for a in args[first:] if not isinstance(a, syntax.Keyword)]
        if after:
            raise self.error(
                f"a positional argument follows a keyword in {func}()",
                after[0].span,
                hint="write the keywords last",
            )
        positional = list(args[:first])
        given: dict[str, syntax.Keyword] = {}
        for keyword in keywords:
            place = names.index(keyword.name)
            if keyword.name in given or place + primitive.arity < len(positional):
                raise self.error(f"{func}() is given its {keyword.name} twice", keyword.span)
            given[keyword.name] = keyword
        if len(positional) < primitive.arity:
            raise self.error(
                f"{func}() takes {_takes(primitive)} ({len(positional)} given)", node.span
            )
        last = max(names.index(name) for name in given)
        for place in range(len(positional) - primitive.arity, last + 1):
            keyword = given.get(names[place])
            if keyword is None:  # a gap: the default, computed from those written before it
                if place < primitive.params.required:
                    raise self.error(f"{func}() needs its {names[place]}", node.span)
                written = [
                    _whole_number(a, f"the {n} of {func}()", self.source)
                    for a, n in zip(positional[primitive.arity :], names, strict=False)
                ]
                value = primitive.params.fill(tuple(written))[place]
                positional.append(syntax.Number(float(value), str(value), keywords[0].span))
            else:
                positional.append(keyword.value)
        return syntax.Call(func, node.func_span, tuple(positional), node.span)

    def expression(self, root: syntax.Expr, target: str | None = None) -> int:
        # Post-order walk with an explicit stack of (node, what to do): visit it, visit it as
        # where()'s condition (the one place a comparison may stand), or emit its op. A new
        # op for the root is made with the name it is assigned to, target (not renamed after).
        number, name, binary = syntax.Number, syntax.Name, syntax.Binary
        emit_binary, operators = self.builder.op, BINARY_OPERATORS
        stack: list[tuple[syntax.Expr, int]] = [(root, _VISIT)]
        push, pop = stack.append, stack.pop
        values: list[int] = []
        while stack:
            node, todo = pop()
            kind = node.__class__
            if kind is name:
                values.append(self.name(node))
            elif kind is number:
                values.append(self.number(node))
            elif todo == _EMIT:
                if kind is binary:
                    right = values.pop()
                    values[-1] = emit_binary(
                        operators[node.op],
                        values[-1],
                        right,
                        span=_for_ir(node.span),
                        name=target if node is root else None,
                    )
                else:
                    count = len(node.args) if kind is syntax.Call else _OPERANDS[kind]
                    args = tuple(values[len(values) - count :])
                    del values[len(values) - count :]
                    values.append(self.emit(node, args, target if node is root else None))
            elif kind is binary:
                push((node, _EMIT))
                push((node.right, _VISIT))
                push((node.left, _VISIT))
            else:
                if kind is syntax.Compare and todo != _CONDITION:
                    raise self.error(_WHERE_CONDITION_ONLY, node.span)
                if kind is syntax.Call:
                    node = self.check_call(node)  # positional arguments only, from here on
                    kids = node.args
                    first = _CONDITION if node.func == "where" else _VISIT
                else:
                    kids, first = syntax.children(node), _VISIT
                push((node, _EMIT))
                for index in range(len(kids) - 1, -1, -1):
                    push((kids[index], first if index == 0 else _VISIT))
        return values[0]

    def number(self, node: syntax.Number) -> int:
        if not math.isfinite(node.value):
            raise self.error(f"number {shorten(node.text)} is too large for a float", node.span)
        return self.builder.const(node.value)

    def emit(self, node: syntax.Expr, args: tuple[int, ...], target: str | None = None) -> int:
        if isinstance(node, syntax.Unary):
            if node.op == "+":
                return args[0]
            prim = "neg"
        elif isinstance(node, syntax.Binary):
            prim = BINARY_OPERATORS[node.op]
        elif isinstance(node, syntax.Compare):
            prim = COMPARISONS[node.op]
        else:
            primitive = FUNCTIONS[node.func]
            prim = primitive.name
            if primitive.axis:  # the axis is a number written in the formula: a constant
                given = len(node.args)
                if given > primitive.arity:
                    axis = _axis_value(node.args[-1], node.func, self.source)
                    args = (*args[:-1], self.builder.const(axis))
                elif primitive.default_axis is not None:
                    args = (*args, self.builder.const(primitive.default_axis))
            elif primitive.params is not None:  # whole numbers written in the formula
                arity, name = primitive.arity, primitive.params.names[0]
                written = tuple(
                    _whole_number(a, f"the {name} of {node.func}()", self.source)
                    for a in node.args[arity:]
                )
                params = primitive.params.fill(written)
                args = (*args[:arity], *(self.builder.const(p) for p in params))
        return self.builder.op(prim, *args, span=_for_ir(node.span), name=target)


def lower(tree: syntax.Program) -> ir.Program:
    """Lower a parsed formula to IR; raise FormulaError for names, calls and assignments."""
    lowering = _Lowering(tree)
    value = None
    for statement in tree.statements:
        value = lowering.statement(statement)
    ops, inputs = tuple(lowering.builder.ops), tuple(lowering.inputs)
    return ir.Program(ops, tree.source, inputs, value, assigned=dict(lowering.env))
