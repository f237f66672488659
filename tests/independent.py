"""An independent reference for exprgrad: values and gradients from the formula text.

Nothing here comes from exprgrad. The tokenizer, the parser and the tables of
functions are written from README.md ("The formula language", "Non-smooth
points", "Numerics"), so a bug in exprgrad's parser, lowering, optimizer or
code generator has no copy here to agree with it.

One syntax tree, two evaluators walking it with the same rules for the
non-smooth parts (where, min, max, clip, relu, abs):

    mp_evaluate(program, point)          the value in mpmath at 40 digits
    mp_gradient(program, point, name)    mpmath.diff of that, one input at a time
    jax_value_and_grad(program, point)   float64 value and jax.grad, with signed zeros

`where` evaluates only the branch it picks, and a name bound by `name = expr`
is evaluated where it is used (so an unused binding is never evaluated). A
point outside the domain raises Undefined. Each evaluation lists the kinks it
passed (ties, clip bounds, where conditions, sqrt at 0, the atan2 branch
cut...), so a caller can skip what mpmath's exact arithmetic and float64
rounding could decide differently. Formulas are test-sized: the parser and
the evaluators recurse.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import mpmath

# --- the language, from README.md ----------------------------------------------------------

CONSTANTS = {"pi": math.pi, "e": math.e}  # the float64 values a formula computes with
ONE_ARGUMENT = frozenset(
    "abs exp log sqrt sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh "
    "sigmoid relu softplus log1p expm1 erf erfc".split()
)
SEVERAL = {"min": None, "max": None, "pow": 2, "hypot": 2, "atan2": 2, "clip": 3, "where": 3}
FUNCTIONS = ONE_ARGUMENT | frozenset(SEVERAL)  # None above: two or more arguments
OPERATORS = ("+", "-", "*", "/", "**", "^")
COMPARISONS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}

# Two values this close (relative to the largest magnitude computed) may compare
# differently in exact and in float64 arithmetic.
NEAR = 1e-9
# Magnitudes whose squares (gradient rules multiply values) stay inside float64: beyond
# them, overflow and underflow decide the result, not the formula.
LARGEST, SMALLEST = 1e150, 1e-150


class FormulaSyntaxError(ValueError):
    """The text is not a formula of the documented language."""


class Undefined(ArithmeticError):
    """The formula has no value at the point (log of a negative number, ...).

    marginal: the operand is so close to the domain's edge that float64 code
    may land on either side."""

    def __init__(self, message: str, marginal: bool = False):
        super().__init__(message)
        self.marginal = marginal


class OutOfRange(ArithmeticError):
    """A value on the way overflows or underflows float64: no fair comparison."""


# --- syntax tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Num:
    value: float


@dataclass(frozen=True, slots=True)
class Name:
    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "+"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / ** ("^" is read as "**")
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Node
    right: Node


Node = Num | Name | Unary | Binary | Call | Compare


@dataclass(frozen=True, slots=True)
class Program:
    text: str
    bindings: dict[str, Node]  # name = expr
    value: Node  # the last statement
    inputs: tuple[str, ...]  # free names in order of first appearance


# --- tokenizer and parser ------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<skip>[ \t\f]+|\#[^\r\n]*)
      | (?P<sep>\r\n|\r|\n|;)
      | (?P<number>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>\*\*|<=|>=|==|!=|[-+*/^<>=(),])""",
    re.VERBOSE,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, depth, position = [], 0, 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FormulaSyntaxError(f"unexpected {text[position]!r} at offset {position}")
        position = match.end()
        kind, token = match.lastgroup, match.group()
        if kind == "skip" or (kind == "sep" and token != ";" and depth > 0):
            continue  # a newline inside parentheses continues the expression
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        tokens.append((kind, token))
    tokens.append(("end", ""))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.at = 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def is_op(self, *ops: str) -> bool:
        kind, token = self.peek()
        return kind == "op" and token in ops

    def expect(self, op: str) -> None:
        if not self.is_op(op):
            raise FormulaSyntaxError(f"expected {op!r}, found {self.peek()[1]!r}")
        self.take()

    def statements(self) -> list[tuple[str | None, Node]]:
        statements = []
        while self.peek()[0] == "sep":
            self.take()
        while self.peek()[0] != "end":
            if self.peek()[0] == "name" and self.peek(1) == ("op", "="):
                target = self.take()[1]
                self.take()
                statements.append((target, self.test()))
            else:
                statements.append((None, self.test()))
            if self.peek()[0] not in ("sep", "end"):
                raise FormulaSyntaxError(f"unexpected {self.peek()[1]!r}")
            while self.peek()[0] == "sep":
                self.take()
        if not statements:
            raise FormulaSyntaxError("empty formula")
        return statements

    def test(self) -> Node:
        left = self.sum()
        if self.is_op(*COMPARISONS):
            op = self.take()[1]
            return Compare(op, left, self.sum())
        return left

    def sum(self) -> Node:
        node = self.product()
        while self.is_op("+", "-"):
            op = self.take()[1]
            node = Binary(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.is_op("*", "/"):
            op = self.take()[1]
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:  # a sign binds looser than power: -x**2 is -(x**2)
        if self.is_op("+", "-"):
            op = self.take()[1]
            return Unary(op, self.unary())
        return self.power()

    def power(self) -> Node:  # right-associative; the exponent may carry a sign
        base = self.atom()
        if self.is_op("**", "^"):
            self.take()
            return Binary("**", base, self.unary())
        return base

    def atom(self) -> Node:
        kind, token = self.take()
        if kind == "number":
            return Num(float(token))
        if kind == "name" and self.is_op("("):
            self.take()
            args = []
            if not self.is_op(")"):
                args.append(self.test())
                while self.is_op(","):
                    self.take()
                    args.append(self.test())
            self.expect(")")
            return _call(token, args)
        if kind == "name":
            return Num(CONSTANTS[token]) if token in CONSTANTS else Name(token)
        if (kind, token) == ("op", "("):
            node = self.test()
            self.expect(")")
            return node
        raise FormulaSyntaxError(f"expected a number, a name or '(', found {token!r}")


def _call(function: str, args: list[Node]) -> Call:
    if function not in FUNCTIONS:
        raise FormulaSyntaxError(f"unknown function {function!r}")
    arity = 1 if function in ONE_ARGUMENT else SEVERAL[function]
    if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
        raise FormulaSyntaxError(f"{function} takes {arity or 'two or more'} arguments")
    return Call(function, tuple(args))


def _names(node: Node) -> list[str]:
    """Names in the order the text shows them (every node is prefix or infix)."""
    if isinstance(node, Name):
        return [node.name]
    if isinstance(node, Unary):
        return _names(node.operand)
    if isinstance(node, Binary | Compare):
        return _names(node.left) + _names(node.right)
    if isinstance(node, Call):
        return [name for arg in node.args for name in _names(arg)]
    return []


def parse(text: str) -> Program:
    statements = _Parser(text).statements()
    targets = {target for target, _ in statements if target}
    bindings: dict[str, Node] = {}
    inputs: list[str] = []
    for target, expr in statements:
        for name in _names(expr):
            if name in bindings:
                continue
            if name in targets:
                raise FormulaSyntaxError(f"{name!r} is used before it is assigned")
            if name not in inputs:
                inputs.append(name)
        if target is not None:
            if target in CONSTANTS or target in bindings:
                raise FormulaSyntaxError(f"{target!r} cannot be assigned here")
            bindings[target] = expr
    return Program(text, bindings, statements[-1][1], tuple(inputs))


# --- evaluation, shared by both evaluators ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kink:
    kind: str  # "kink": the gradient jumps; "jump": the value jumps;
    # "edge": the domain ends or the derivative is infinite
    what: str
    gap: float  # distance from the point to the kink, in the operands' units
    inputs: frozenset[str]  # the inputs the operands depend on
    exact: bool  # the operands are the same numbers float64 code computes


@dataclass
class Evaluation:
    value: Any  # an mpf or a float
    kinks: list[Kink]
    scale: float  # the largest magnitude computed on the way
    exact: bool  # the value is the number float64 code computes, bit for bit
    # mpmath only: float64 rounding after every operation changes no decision and
    # no value on the way by more than ILL_CONDITIONED (relative)
    conditioned: bool = True

    def near(self, trust_exact: bool) -> list[Kink]:
        """The kinks this evaluator can't be trusted to decide as float64 code does.

        trust_exact: ties between exactly computed operands are decided the same
        by any float64 code (the jax evaluator); mpmath has no signed zero and
        differentiates numerically, so it trusts none of them."""
        margin = NEAR * max(1.0, self.scale)
        near = []
        for kink in self.kinks:
            if kink.exact:
                close = kink.gap == 0 and (kink.kind == "edge" or not trust_exact)
            else:
                close = kink.gap <= margin
            if close:
                near.append(kink)
        return near


class _V(NamedTuple):
    v: Any  # the backend's number (mpf, or a jax array or tracer)
    r: Any  # its value as a plain number (mpf or float), for decisions
    inputs: frozenset[str]
    exact: bool  # equal to what float64 code computes (see each backend's EXACT)


class _Walker:
    def __init__(self, program, env, backend, rounding=False, check_range=True):
        self.program, self.env, self.b = program, env, backend
        self.cache: dict[str, _V] = {}
        self.kinks: list[Kink] = []
        self.scale = 0.0
        self.rounding = rounding  # round every result to float64 (mpmath only)
        self.check_range = check_range
        self.trace: list = []  # every value computed, in order
        self.decisions: list = []  # every branch taken at a non-smooth point, in order

    def evaluation(self) -> Evaluation:
        out = self.eval(self.program.value)
        return Evaluation(out.r, self.kinks, self.scale, out.exact)

    def make(self, v, operands: list[_V], exact: bool) -> _V:
        if self.rounding:
            v = mpmath.mpf(float(v))
        r = self.b.real(v)
        self.trace.append(r)
        self.in_range(r)
        return _V(v, r, frozenset().union(*(o.inputs for o in operands)), exact)

    def in_range(self, r) -> None:
        size = abs(r)
        if size == size and self.check_range:  # not nan
            if size > LARGEST or 0 < size < SMALLEST:
                raise OutOfRange(f"{r} is outside float64's comfortable range")
            self.scale = max(self.scale, float(size))

    def kink(self, kind: str, what: str, gap, operands: list[_V]) -> None:
        inputs = frozenset().union(*(o.inputs for o in operands))
        self.kinks.append(Kink(kind, what, float(abs(gap)), inputs, all(o.exact for o in operands)))

    def undefined(self, what: str, gap, operands: list[_V]):
        exact = all(o.exact for o in operands)
        marginal = not exact and abs(gap) <= NEAR * max(1.0, self.scale)
        return Undefined(what, marginal)

    def eval(self, node: Node) -> _V:
        if isinstance(node, Num):
            return self.make(self.b.const(node.value), [], True)
        if isinstance(node, Name):
            if node.name in self.env:
                self.in_range(self.env[node.name].r)
                return self.env[node.name]
            if node.name not in self.cache:
                self.cache[node.name] = self.eval(self.program.bindings[node.name])
            return self.cache[node.name]
        if isinstance(node, Unary):
            x = self.eval(node.operand)
            return x if node.op == "+" else self.make(-x.v, [x], x.exact)
        if isinstance(node, Binary):
            return self.binary(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, Compare):
            raise FormulaSyntaxError("a comparison is only allowed as the condition of where")
        if node.function == "where":
            return self.where(*node.args)
        args = [self.eval(arg) for arg in node.args]
        if node.function in ("min", "max"):
            return self.extreme(node.function, args)
        if node.function in ("clip", "relu", "abs"):
            return getattr(self, node.function)(*args)
        if node.function == "pow":
            return self.binary("**", *args)
        return self.smooth(node.function, args)

    def binary(self, op: str, x: _V, y: _V) -> _V:
        if op == "/":
            if y.r == 0:
                raise self.undefined("division by zero", y.r, [y])
            self.kink("edge", "division", y.r, [y])
        if op == "**":
            self.power_domain(x, y)
            v = self.b.call("pow", x.v, y.v)
        else:
            v = _ARITHMETIC[op](x.v, y.v)
        return self.make(v, [x, y], x.exact and y.exact and op in self.b.EXACT)

    def power_domain(self, x: _V, y: _V) -> None:
        # README: a whole constant exponent is Python's **, any other goes through
        # math.pow, "which raises rather than returning a complex number"; both
        # refuse 0 to a negative power.
        if x.r == 0:
            if y.r < 0:
                raise self.undefined("0 to a negative power", x.r, [x])
            self.kink("edge", "power of 0", 0.0, [x, y])
        elif x.r < 0:
            off = y.r % 1 if y.r == y.r else 0
            off_whole = min(off, 1 - off)
            if off_whole != 0:
                gap = min(off_whole, abs(x.r))
                raise self.undefined("negative base, fractional power", gap, [x, y])
            if y.inputs:
                self.kink("edge", "negative base: no derivative in the exponent", 0.0, [y])
            self.kink("edge", "negative base", x.r, [x, y])
        elif x.r > 0:
            self.kink("edge", "positive base", x.r, [x, y])

    def smooth(self, function: str, args: list[_V]) -> _V:
        x = args[0]
        if function == "log" and x.r <= 0:
            raise self.undefined("log of a non-positive number", x.r, [x])
        if function == "sqrt" and x.r < 0:
            raise self.undefined("sqrt of a negative number", x.r, [x])
        if function in ("asin", "acos") and abs(x.r) > 1:
            raise self.undefined(f"{function} outside [-1, 1]", abs(x.r) - 1, [x])
        if function == "log1p" and x.r <= -1:
            raise self.undefined("log1p at or below -1", x.r + 1, [x])
        if function == "acosh" and x.r < 1:
            raise self.undefined("acosh below 1", 1 - x.r, [x])
        if function == "atanh" and abs(x.r) >= 1:
            raise self.undefined("atanh outside (-1, 1)", abs(x.r) - 1, [x])
        edges = {
            "log": lambda: x.r,
            "sqrt": lambda: x.r,
            "asin": lambda: 1 - abs(x.r),
            "acos": lambda: 1 - abs(x.r),
            "log1p": lambda: x.r + 1,
            "acosh": lambda: x.r - 1,
            "atanh": lambda: 1 - abs(x.r),
            "hypot": lambda: max(abs(x.r), abs(args[1].r)),
        }
        if function in edges:
            self.kink("edge", function, edges[function](), args)
        if function == "atan2":  # atan2(y, x): a cut along x <= 0, and the origin
            y, xx = args
            if xx.r <= 0:
                self.kink("jump", "atan2 branch cut", y.r, args)
            origin = max(abs(y.r), abs(xx.r))
            self.kink("jump", "atan2 at the origin", origin, args)
            self.kink("edge", "atan2 at the origin", origin, args)
        return self.make(self.b.call(function, *(a.v for a in args)), args, False)

    def where(self, cond: Node, then: Node, other: Node) -> _V:
        if isinstance(cond, Compare):
            left, right = self.eval(cond.left), self.eval(cond.right)
            chosen = COMPARISONS[cond.op](left.r, right.r)  # False whenever a nan is involved
            self.kink("jump", f"where({cond.op})", left.r - right.r, [left, right])
        else:
            c = self.eval(cond)
            chosen = bool(c.r != 0)  # a plain number: nonzero (and nan) is true
            self.kink("jump", "where(number)", c.r, [c])
        self.decisions.append(chosen)
        return self.eval(then if chosen else other)

    def extreme(self, function: str, args: list[_V]) -> _V:
        if any(a.r != a.r for a in args):
            return self.make(self.b.const(math.nan), args, all(a.exact for a in args))
        best = (min if function == "min" else max)(a.r for a in args)
        tied = [a for a in args if a.r == best]
        self.decisions.append(tuple(i for i, a in enumerate(args) if a.r == best))
        for a in args:
            if a is not tied[0]:
                self.kink("kink", f"{function} tie", a.r - best, [a, tied[0]])
        exact = all(a.exact for a in tied)
        if len(tied) == 1:
            return tied[0]
        if best == 0 and len({math.copysign(1, a.r) for a in tied}) > 1:
            # min(-0.0, 0.0): the README leaves the sign open, and atan2 can tell
            inputs = frozenset().union(*(a.inputs for a in tied))
            self.kinks.append(Kink("jump", "tie between 0.0 and -0.0", 0.0, inputs, False))
        # tied arguments split the gradient evenly
        return self.make(self.b.tie([a.v for a in tied]), tied, exact)

    def clip(self, x: _V, lo: _V, hi: _V) -> _V:
        # clip(x, lo, hi) = min(max(x, lo), hi); x gets the gradient on lo <= x <= hi,
        # lo or hi only where it is the result
        if any(a.r != a.r for a in (x, lo, hi)):
            return self.make(self.b.const(math.nan), [x, lo, hi], x.exact)
        self.kink("kink", "clip at lo", x.r - lo.r, [x, lo])
        self.kink("kink", "clip at hi", x.r - hi.r, [x, hi])
        self.kink("kink", "clip lo against hi", lo.r - hi.r, [lo, hi])
        if lo.r <= x.r <= hi.r:
            self.decisions.append("x")
            return x
        if x.r < lo.r and lo.r <= hi.r:
            self.decisions.append("lo")
            return lo
        self.decisions.append("hi")
        return hi

    def relu(self, x: _V) -> _V:
        self.kink("kink", "relu at 0", x.r, [x])
        self.decisions.append(x.r > 0)
        if x.r > 0 or x.r != x.r:
            return x
        return self.make(self.b.const(0.0), [x], x.exact)  # relu'(0) = 0

    def abs(self, x: _V) -> _V:
        self.kink("kink", "abs at 0", x.r, [x])
        self.decisions.append((x.r > 0, x.r < 0))
        if x.r > 0 or x.r != x.r:
            return x
        if x.r < 0:
            return self.make(-x.v, [x], x.exact)
        return self.make(self.b.const(0.0), [x], x.exact)  # abs'(0) = 0, abs(-0.0) = 0.0


# --- (a) mpmath at 40 digits ---------------------------------------------------------------

DPS = 40


class _Mp:
    # mpmath computes + - * / exactly rounded at 40 digits, not as float64 does:
    # only inputs, constants and selections of them are the float64 numbers.
    EXACT = frozenset()
    FUNCTIONS = {
        "exp": mpmath.exp,
        "log": mpmath.log,
        "sqrt": mpmath.sqrt,
        "sin": mpmath.sin,
        "cos": mpmath.cos,
        "tan": mpmath.tan,
        "asin": mpmath.asin,
        "acos": mpmath.acos,
        "atan": mpmath.atan,
        "sinh": mpmath.sinh,
        "cosh": mpmath.cosh,
        "tanh": mpmath.tanh,
        "asinh": mpmath.asinh,
        "acosh": mpmath.acosh,
        "atanh": mpmath.atanh,
        "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
        "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
        "log1p": mpmath.log1p,
        "expm1": mpmath.expm1,
        "erf": mpmath.erf,
        "erfc": mpmath.erfc,
        "pow": mpmath.power,
        "hypot": mpmath.hypot,
        "atan2": mpmath.atan2,
    }

    @staticmethod
    def const(x: float):
        return mpmath.mpf(x)

    @staticmethod
    def real(v):
        return v

    @classmethod
    def call(cls, function: str, *args):
        return cls.FUNCTIONS[function](*args)

    @staticmethod
    def tie(values: list):
        return values[0]


def _mp_env(program: Program, point: dict[str, float], name=None, at=None) -> dict[str, _V]:
    env = {}
    for n in program.inputs:
        x = mpmath.mpf(float(point[n])) if n != name else at
        env[n] = _V(x, x, frozenset({n}), n != name)
    return env


ILL_CONDITIONED = 1e-11


def _relative_error(exact, rounded) -> float:
    if exact == rounded or (exact != exact and rounded != rounded):
        return 0.0
    return float(abs(exact - rounded) / abs(exact)) if exact else math.inf


def mp_evaluate(program: Program, point: dict[str, float]) -> Evaluation:
    """The value at 40 digits (Evaluation.value is an mpf); raises Undefined or OutOfRange.

    A second walk rounds every result to float64, as float64 code does at best:
    where it takes another branch, leaves the domain or drifts by more than
    ILL_CONDITIONED, the point is ill-conditioned (Evaluation.conditioned is False;
    an Undefined is marginal)."""
    with mpmath.workdps(DPS):
        env = _mp_env(program, point)
        exact = _Walker(program, env, _Mp)
        rounded = _Walker(program, env, _Mp, rounding=True)
        try:
            evaluation = exact.evaluation()
        except Undefined as error:
            try:
                rounded.evaluation()
            except (Undefined, OutOfRange):
                raise error from None
            raise Undefined(str(error), marginal=True) from None
        try:
            rounded.evaluation()
        except (Undefined, OutOfRange):
            evaluation.conditioned = False
        else:
            evaluation.conditioned = exact.decisions == rounded.decisions and all(
                _relative_error(e, r) <= ILL_CONDITIONED
                for e, r in zip(exact.trace, rounded.trace, strict=True)
            )
        return evaluation


def mp_gradient(program: Program, point: dict[str, float], name: str) -> float:
    """d value / d name by mpmath.diff: a central difference with a step 2**-146 times
    min(|x|, 1) (2**-146 at 0), computed at 90 digits or more. Exact away from kinks;
    raises Undefined or OutOfRange."""

    def value(t):
        env = _mp_env(program, point, name, t)
        return _Walker(program, env, _Mp, check_range=False).eval(program.value).r

    with mpmath.workdps(DPS):
        x = mpmath.mpf(float(point[name]))
        # a step far below both 1 and |x| (so a kink at 0 stays out of reach), with
        # enough extra digits for x + h, and f(x + h) - f(x - h), to mean something
        h = mpmath.ldexp(min(abs(x), 1) if x else 1, -mpmath.mp.prec - 10)
        extra = abs(int(mpmath.mag(x))) if x else 0
        return float(mpmath.diff(value, x, h=h, addprec=10 + extra))


# --- (b) jax in float64 --------------------------------------------------------------------

try:
    import jax
    import jax.numpy as jnp
    import jax.scipy.special

    jax.config.update("jax_enable_x64", True)
except ImportError:  # the caller reports the skip
    jax = None


def _jax_sigmoid(x):
    if x >= 0:  # two branches so exp never overflows
        return 1 / (1 + jnp.exp(-x))
    z = jnp.exp(x)
    return z / (1 + z)


def _jax_softplus(x):  # log(1 + e**x)
    if x > 0:
        return x + jnp.log1p(jnp.exp(-x))
    return jnp.log1p(jnp.exp(x))


class _Jax:
    # IEEE 754 rounds + - * / exactly, so any float64 code gets the same bits
    EXACT = frozenset("+-*/")
    FUNCTIONS = {
        "exp": "exp",
        "log": "log",
        "sqrt": "sqrt",
        "sin": "sin",
        "cos": "cos",
        "tan": "tan",
        "asin": "arcsin",
        "acos": "arccos",
        "atan": "arctan",
        "sinh": "sinh",
        "cosh": "cosh",
        "tanh": "tanh",
        "asinh": "arcsinh",
        "acosh": "arccosh",
        "atanh": "arctanh",
        "log1p": "log1p",
        "expm1": "expm1",
        "pow": "power",
        "hypot": "hypot",
        "atan2": "arctan2",
    }

    @staticmethod
    def const(x: float):
        return jnp.float64(x)

    @staticmethod
    def real(v) -> float:
        return float(jax.lax.stop_gradient(v))

    @classmethod
    def call(cls, function: str, *args):
        if function == "sigmoid":
            return _jax_sigmoid(*args)
        if function == "softplus":
            return _jax_softplus(*args)
        if function in ("erf", "erfc"):
            return getattr(jax.scipy.special, function)(*args)
        return getattr(jnp, cls.FUNCTIONS[function])(*args)

    @staticmethod
    def tie(values: list):
        # the value of the first, the gradient shared evenly: x - stop_gradient(x) is 0
        share = sum(v - jax.lax.stop_gradient(v) for v in values) / len(values)
        return jax.lax.stop_gradient(values[0]) + share


def jax_value_and_grad(
    program: Program, point: dict[str, float], wrt=None
) -> tuple[Evaluation, dict[str, float]]:
    """(Evaluation with a float value, {input: jax.grad}) in float64; raises Undefined,
    OutOfRange, or RuntimeError when jax is not installed."""
    if jax is None:
        raise RuntimeError("jax is not installed")
    names = program.inputs
    wrt = names if wrt is None else tuple(wrt)
    walkers, exact = [], []

    def value(*args):
        env = {
            n: _V(a, float(point[n]), frozenset({n}), True)
            for n, a in zip(names, args, strict=True)
        }
        walkers.append(_Walker(program, env, _Jax))
        out = walkers[-1].eval(program.value)
        exact.append(out.exact)
        return jnp.asarray(out.v, dtype=jnp.float64)

    args = [jnp.float64(float(point[n])) for n in names]
    if names:
        out, grads = jax.value_and_grad(value, argnums=tuple(range(len(names))))(*args)
    else:
        out, grads = value(), ()
    walker = walkers[-1]
    by_name = dict(zip(names, (float(g) for g in grads), strict=True))
    evaluation = Evaluation(float(out), walker.kinks, walker.scale, exact[-1])
    return evaluation, {n: by_name[n] for n in wrt}
