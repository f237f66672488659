"""The primitive table: every operation exprgrad knows, declared once.

A row gives the name (as written in formulas and IR dumps), the arity, the
sympy counterpart, the derivative rules and what passes need to know (may it
raise, where is its kink). Adding a function to the language is one row here
plus its tests; each backend spells it in its own table, keyed by name
(backends/python/spellings.py, backends/numpy/spellings.py), and a test checks
that every backend covers every row.

Derivative rules are written in exprgrad's own formula language, one per
argument: `x`, `y`, `z` are the arguments, `out` the result, `g` the incoming
gradient; each rule is g * d(out)/d(argument). None marks an argument that
gets no gradient (a condition, a constant exponent). reverse.py parses each
rule once and splices it into the gradient program, so gradient code is made
of the same primitives as everything else and can be differentiated again.
The one rule text can't express (n-ary min/max, which split the gradient
evenly between tied arguments) is a Python function instead.

Forward mode (forward.py) binds g to the argument's tangent instead, which is
right where d(out)/d(argument) acts elementwise: every scalar row. An array
row whose reverse rule is an adjoint (sum's is expand(g); its tangent map is
sum(g)) gives its tangent map in `tangents`, in the same format, beside it.

NaN propagates: a primitive with a NaN argument gives NaN (relu, abs, min, max
and clip included, which Python's own comparisons would silently drop), and so
do the derivative rules of the selecting primitives. `may_raise` marks the
primitives that can raise for some float arguments (a domain error, overflow,
division by zero); `where` computes those only when its condition picks them.

The array rows' shape and derivative rules are functions in array_rules.py, named here
in their rows. This module imports nothing else of exprgrad's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError
from .array_rules import (
    GradRule,
    RuleBuilder,
    avgpool_rule,
    conv2d_dw_tangent,
    conv2d_dx_tangent,
    conv2d_rule,
    conv2d_shape,
    conv2d_tangent,
    expand_rule,
    extreme_rule,
    extreme_tangent,
    flatten_shape,
    linear_rule,
    log_softmax_rule,
    log_softmax_tangent,
    logsumexp_tangent,
    matmul_dx_tangent,
    matmul_dy_tangent,
    matmul_rule,
    matmul_shape,
    maxpool_rule,
    maxpool_tangent,
    pool_shape,
    reduce_rule,
    reduced_shape,
    reshape_rule,
    reshape_shape,
    reshape_tangent,
    same_shape,
    softmax_rule,
)


@dataclass(frozen=True, slots=True)
class Primitive:
    name: str  # as written in formulas and IR dumps
    arity: int | None  # None: two or more (min, max)
    sympy: Callable[..., Any]  # gets the sympy module first: lambda sp, x: sp.tanh(x)
    grads: tuple[str | None, ...] | GradRule  # g * d(out)/d(arg i), formula syntax
    symbol: str | None = None  # operator spelling ("+", "**"); None for functions
    callable: bool = True  # may a formula call it by name, as name(...)?
    domain: str | None = None  # what a math domain error (ValueError) means here
    may_raise: bool = True  # can it raise for some float arguments?
    # can a derivative be inf or nan for finite arguments (1/x at 0, exp's overflow)?
    singular: bool = False
    # Where the derivative jumps, for the checks that visit every side of it: "sign" where
    # the first argument crosses 0 (relu, abs), "select" where the argument that is the
    # result changes (min, max, clip), "branch" where the condition flips (where).
    kink: str | None = None
    # Is the result one of the arguments, bit for bit (no rounding): min, max, clip?
    selects: bool = False
    # kink "sign": is the result 0 where the first argument is not above 0 (relu), so that
    # neither the argument's error nor the gradient passes there? (abs is -x there: both pass)
    zero_below: bool = False
    # kink "select": is the first argument held between the second and the third (clip)?
    # Its sides are then named by role (x, lo, hi) and found as max(x, lo), then min with
    # hi; otherwise a side is "kth wins", the first argument equal to the result (min, max).
    clamps: bool = False
    # Arrays (the array backends). A row for arrays only has arrays=True; `axis` marks an
    # optional last argument that must be a whole number written in the formula (the
    # axis of a reduction; default_axis fills it in when omitted, None reduces all);
    # `shape` gives the result's shape from the operands' (None: numpy broadcasting).
    arrays: bool = False
    axis: bool = False
    default_axis: int | None = None
    shape: Callable[[Sequence[tuple[int, ...]], Any], tuple[int, ...]] | None = None
    # Whole-number parameters written after the array operands (conv2d's stride and
    # padding, a pool's window, reshape's dimensions): lowering makes them constants,
    # every one filled in, and `shape` gets them as a tuple in place of the axis.
    params: Params | None = None
    # Arrays, forward mode: d(out) in the direction g of arg i (g has that argument's
    # shape), where the reverse rule is not that map; None: `grads` is (elementwise rows,
    # and softmax and transpose, whose Jacobians are symmetric).
    tangents: tuple[str | None, ...] | GradRule | None = None


@dataclass(frozen=True, slots=True)
class Params:
    """A row's whole-number parameters: their names (the keywords a call may use), how many
    must be written, the smallest value each may take, and how the omitted ones are filled
    in from those written. variadic: any number of them from `required` on (reshape's
    dimensions, all named by the one name, given by position only)."""

    names: tuple[str, ...]
    required: int
    lowest: tuple[int, ...]
    fill: Callable[[tuple[int, ...]], tuple[int, ...]] = lambda given: given
    variadic: bool = False


def _where_sympy(sp, cond, a, b):
    # a number as condition: nonzero is true (a Symbol counts as a Boolean to sympy)
    if cond.is_Symbol or not isinstance(cond, sp.logic.boolalg.Boolean):
        cond = sp.Ne(cond, 0)
    return sp.Piecewise((a, cond), (b, True))


def _tie_split(builder: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple[int, ...]:
    """min/max: the arguments equal to the result share the gradient evenly; a NaN result
    (some argument was NaN) gives every argument a NaN gradient."""
    zero = builder.const(0.0)
    # 0 for the arguments that lost, or the NaN itself when nothing equals the result
    lost = builder.op("where", builder.op("eq", out, out), zero, out)
    if len(args) == 2:
        x, y = args
        tie = builder.op("eq", x, y)
        half = builder.op("mul", builder.const(0.5), g)
        return tuple(
            builder.op("where", tie, half, builder.op("where", builder.op("eq", a, out), g, lost))
            for a in args
        )
    hits = [builder.op("eq", a, out) for a in args]
    one = builder.const(1.0)
    count = builder.op("where", hits[0], one, zero)
    for hit in hits[1:]:
        count = builder.op("add", count, builder.op("where", hit, one, zero))
    # count is 0 only when the result is NaN (then every argument gets `lost`); max keeps
    # the shared division from failing there
    share = builder.op("div", g, builder.op("max", count, one))
    return tuple(builder.op("where", hit, share, lost) for hit in hits)


def _op(name, symbol, rules, sympy, *, may_raise=False, domain=None, call=False, singular=False):
    """An operator: written with a symbol (and called by name too if `call`)."""
    return Primitive(
        name,
        len(rules),
        sympy,
        rules,
        symbol=symbol,
        callable=call,
        domain=domain,
        may_raise=may_raise,
        singular=singular,
    )


_SINGULAR = {"exp", "log", "sqrt", "tan", "asin", "acos", "sinh", "cosh", "acosh", "atanh",
             "log1p", "expm1", "hypot", "atan2"}  # fmt: skip


def _fn(name, rules, sympy=None, *, may_raise=True, **fields):
    """A function called by name: one rule per argument; sympy's function of that name
    by default; `fields` are the row's other fields (domain, kink, ...)."""
    return Primitive(
        name,
        len(rules),
        sympy or (lambda sp, *xs: getattr(sp, name)(*xs)),
        rules,
        may_raise=may_raise,
        singular=name in _SINGULAR,
        **fields,
    )


def _compare(name: str, symbol: str, sympy: Callable[..., Any]) -> Primitive:
    return _op(name, symbol, (None, None), sympy)


_CONV_PARAMS = Params(("stride", "padding"), 0, (1, 0), lambda given: given + (1, 0)[len(given) :])
# a pool's stride is its window unless given
_POOL_PARAMS = Params(("k", "stride"), 1, (1, 1), lambda given: (given + given)[:2])
_RESHAPE_PARAMS = Params(("shape",), 1, (-1,), variadic=True)


def _array(name, arity, rules, shape, *, axis=False, default_axis=None, call=True, params=None,
           tangents=None):  # fmt: skip
    """A function of arrays: the array backends only; sympy has no counterpart here."""
    return Primitive(
        name, arity, _no_sympy, rules, callable=call, may_raise=False, arrays=True, axis=axis,
        default_axis=default_axis, shape=shape, params=params, tangents=tangents,
    )  # fmt: skip


def _no_sympy(sp, *args):
    raise ArgumentError("sympy has no counterpart for exprgrad's array functions")


_POW_DOMAIN = "pow of a negative number to a fractional power, or of 0 to a negative power"
_NAN_OUT = "where(out == out, {}, out)"  # a NaN result gives a NaN gradient

# fmt: off
PRIMITIVES: tuple[Primitive, ...] = (
    # operators
    _op("add", "+", ("g", "g"), lambda sp, x, y: x + y),
    _op("sub", "-", ("g", "-g"), lambda sp, x, y: x - y),
    _op("mul", "*", ("g * y", "g * x"), lambda sp, x, y: x * y),
    _op("div", "/", ("g / y", "-g * out / y"), lambda sp, x, y: x / y, may_raise=True,
        singular=True),
    _op("neg", "-", ("-g",), lambda sp, x: -x),
    # x ** y for any y never gives a complex number (a domain error instead); optimize.py
    # turns a constant whole exponent into powi.
    _op("pow", "**", ("g * y * x ** (y - 1)", "g * out * log(x)"), lambda sp, x, y: x**y,
        may_raise=True, domain=_POW_DOMAIN, call=True, singular=True),
    _op("powi", "**", ("g * y * x ** (y - 1)", None), lambda sp, x, y: x**y,
        may_raise=True, singular=True),
    # functions of one argument
    _fn("exp", ("g * out",)),
    _fn("log", ("g / x",), domain="log of a non-positive number"),
    _fn("sqrt", ("g / (2 * out)",), domain="sqrt of a negative number"),
    _fn("sin", ("g * cos(x)",)),
    _fn("cos", ("-g * sin(x)",)),
    _fn("tan", ("g * (1 + out * out)",)),
    _fn("asin", ("g / sqrt(1 - x * x)",), domain="asin of a number outside [-1, 1]"),
    _fn("acos", ("-g / sqrt(1 - x * x)",), domain="acos of a number outside [-1, 1]"),
    _fn("atan", ("g / (1 + x * x)",)),
    _fn("sinh", ("g * cosh(x)",)),
    _fn("cosh", ("g * sinh(x)",)),
    _fn("tanh", ("g * (1 - out * out)",)),
    # hypot(x, 1) and the split products never overflow or cancel where x*x would
    _fn("asinh", ("g / hypot(x, 1)",)),
    _fn("acosh", ("g / (sqrt(x - 1) * sqrt(x + 1))",), domain="acosh of a number below 1"),
    _fn("atanh", ("g / ((1 - x) * (1 + x))",), domain="atanh of a number outside (-1, 1)"),
    _fn("abs", ("where(x > 0, g, where(x < 0, -g, where(x == 0, 0, x)))",),
        lambda sp, x: sp.Abs(x), may_raise=False, kink="sign"),
    _fn("sigmoid", ("g * out * (1 - out)",), lambda sp, x: 1 / (1 + sp.exp(-x))),
    _fn("relu", ("where(x > 0, g, out)",),  # out is 0 there, or NaN for a NaN x
        lambda sp, x: sp.Piecewise((x, x > 0), (0, True)), may_raise=False, kink="sign",
        zero_below=True),
    _fn("softplus", ("g * sigmoid(x)",), lambda sp, x: sp.log(1 + sp.exp(x))),
    _fn("log1p", ("g / (1 + x)",), lambda sp, x: sp.log(1 + x), domain="log1p of a number <= -1"),
    _fn("expm1", ("g * (out + 1)",), lambda sp, x: sp.exp(x) - 1),
    _fn("erf", ("g * (2 / sqrt(pi)) * exp(-(x * x))",)),
    # erfc(x) for large x is far below erf's rounding step: 1 - erf(x) would be 0.0
    _fn("erfc", ("g * (-2 / sqrt(pi)) * exp(-(x * x))",)),
    # functions of several arguments
    _fn("hypot", ("g * x / out", "g * y / out"), lambda sp, x, y: sp.sqrt(x**2 + y**2)),
    # hypot keeps x*x + y*y from underflowing to 0 at tiny x and y
    _fn("atan2", ("g * (y / hypot(x, y)) / hypot(x, y)", "-g * (x / hypot(x, y)) / hypot(x, y)")),
    # clip(x, lo, hi) = min(max(x, lo), hi); x gets the gradient on the closed
    # interval, lo and hi only where they are the result.
    _fn("clip", (_NAN_OUT.format("where(x >= y, where(x <= z, g, 0), 0)"),
                 _NAN_OUT.format("where(x < y, where(y <= z, g, 0), 0)"),
                 _NAN_OUT.format("where(x > z, g, where(y > z, g, 0))")),
        lambda sp, x, lo, hi: sp.Min(sp.Max(x, lo), hi), may_raise=False, kink="select",
        selects=True, clamps=True),
    # a backend computes only the branch the condition picks (a domain error in the other
    # is no error)
    _fn("where", (None, "where(x, g, 0)", "where(x, 0, g)"), _where_sympy, may_raise=False,
        kink="branch"),
    Primitive("min", None, lambda sp, *xs: sp.Min(*xs), _tie_split, may_raise=False,
              kink="select", selects=True),
    Primitive("max", None, lambda sp, *xs: sp.Max(*xs), _tie_split, may_raise=False,
              kink="select", selects=True),
    # comparisons: only where(...)'s condition, so they carry no gradient
    _compare("lt", "<", lambda sp, x, y: sp.Lt(x, y)),
    _compare("le", "<=", lambda sp, x, y: sp.Le(x, y)),
    _compare("gt", ">", lambda sp, x, y: sp.Gt(x, y)),
    _compare("ge", ">=", lambda sp, x, y: sp.Ge(x, y)),
    _compare("eq", "==", lambda sp, x, y: sp.Eq(x, y)),
    _compare("ne", "!=", lambda sp, x, y: sp.Ne(x, y)),
    # arrays (the array backends): an optional last argument is a whole-number axis;
    # tangents= is forward mode's rule where the reverse rule is an adjoint
    Primitive("matmul", 2, _no_sympy, matmul_rule, symbol="@", callable=False, may_raise=False,
              arrays=True, shape=matmul_shape, tangents=("g @ y", "x @ g")),
    _array("sum", 1, reduce_rule("sum"), reduced_shape, axis=True, tangents=linear_rule("sum")),
    _array("mean", 1, reduce_rule("mean"), reduced_shape, axis=True, tangents=linear_rule("mean")),
    _array("amax", 1, extreme_rule, reduced_shape, axis=True, tangents=extreme_tangent),
    _array("amin", 1, extreme_rule, reduced_shape, axis=True, tangents=extreme_tangent),
    _array("logsumexp", 1, reduce_rule("logsumexp"), reduced_shape, axis=True,
           tangents=logsumexp_tangent),
    _array("softmax", 1, softmax_rule, same_shape, axis=True, default_axis=-1),  # symmetric
    _array("log_softmax", 1, log_softmax_rule, same_shape, axis=True, default_axis=-1,
           tangents=log_softmax_tangent),
    _array("transpose", 1, ("transpose(g)",), lambda s, a: s[0][::-1]),  # its own adjoint
    _array("norm2", 1, ("2 * x * g",), lambda s, a: (), tangents=("2 * sum(x * g)",)),
    # images NCHW, filters OIHW (PyTorch's layout); cross-correlation with zero padding
    _array("conv2d", 2, conv2d_rule, conv2d_shape, params=_CONV_PARAMS,
           tangents=conv2d_tangent),
    _array("maxpool2d", 1, maxpool_rule, pool_shape, params=_POOL_PARAMS,
           tangents=maxpool_tangent),
    _array("avgpool2d", 1, avgpool_rule, pool_shape, params=_POOL_PARAMS,
           tangents=linear_rule("avgpool2d")),
    _array("reshape", 1, reshape_rule, reshape_shape, params=_RESHAPE_PARAMS,
           tangents=reshape_tangent),
    _array("flatten", 1, reshape_rule, flatten_shape, tangents=reshape_tangent),
    # made by reverse mode for arrays (the array backends write them from the shapes)
    _array("expand", 2, expand_rule, lambda s, a: s[1], axis=True, call=False,
           tangents=linear_rule("expand")),
    _array("unbroadcast", 2, ("expand(g, x)", None), lambda s, a: s[1], call=False,
           tangents=linear_rule("unbroadcast")),
    _array("count", 1, (None,), lambda s, a: (), axis=True, call=False),  # a constant
    _array("matmul_dx", 3, None, lambda s, a: s[1], call=False, tangents=matmul_dx_tangent),
    _array("matmul_dy", 3, None, lambda s, a: s[2], call=False, tangents=matmul_dy_tangent),
    # conv2d_dx(g, x, w, stride, padding): the gradient for the image (x gives its shape);
    # conv2d_dw(...) for the filters; the pools' spread g back over their windows
    _array("conv2d_dx", 3, None, lambda s, a: s[1], call=False, params=_CONV_PARAMS,
           tangents=conv2d_dx_tangent),
    _array("conv2d_dw", 3, None, lambda s, a: s[2], call=False, params=_CONV_PARAMS,
           tangents=conv2d_dw_tangent),
    _array("maxpool2d_dx", 3, None, lambda s, a: s[1], call=False, params=_POOL_PARAMS,
           tangents=linear_rule("maxpool2d_dx")),
    _array("avgpool2d_dx", 2, None, lambda s, a: s[1], call=False, params=_POOL_PARAMS,
           tangents=linear_rule("avgpool2d_dx")),
    _array("reshape_as", 2, reshape_rule, lambda s, a: s[1], call=False,
           tangents=reshape_tangent),
    # made by forward mode: maxpool2d's tangent, maxpool2d_jvp(t, x, out, k, stride) (the
    # shape of out), each window's tied largest elements' tangents averaged
    _array("maxpool2d_jvp", 3, None, lambda s, a: s[2], call=False, params=_POOL_PARAMS),
)
# fmt: on

BY_NAME: dict[str, Primitive] = {p.name: p for p in PRIMITIVES}

# What formulas may call by name, and what their operator symbols mean.
FUNCTIONS: dict[str, Primitive] = {p.name: p for p in PRIMITIVES if p.callable}
BINARY_OPERATORS: dict[str, str] = {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "@": "matmul",
    "**": "pow",
    "^": "pow",
}
COMPARISON_NAMES = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
COMPARISONS: dict[str, str] = {BY_NAME[n].symbol: n for n in sorted(COMPARISON_NAMES)}

# Named constants of the formula language.
CONSTANTS: dict[str, float] = {"pi": 3.141592653589793, "e": 2.718281828459045}

# Ops whose operands may be swapped without changing the result bit for bit;
# the IR builder uses this to find more common subexpressions.
COMMUTATIVE = frozenset({"add", "mul", "eq", "ne"})
