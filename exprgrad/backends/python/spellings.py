"""Primitive name -> Python source: how the Python backend writes each row of the table.

Templates get operands that are always names or constants: "{0}", "{1}", ... by position,
"{args}" for all of them joined by ", " (n-ary rows). A few rows are a function of the
operands instead (min and max compare a constant operand once). The array rows spelled
here are their values at a number, which constant folding computes (sum(2) is 2.0);
the others have no value at a number and the Python backend refuses them
(tests/test_primitives.py checks that the two sets cover the table).

The helpers (_sigmoid, ...) are in helpers.py: math only, two branches where needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# Spelling chosen from the operands: their source text, and which are constants.
Emitter = Callable[[Sequence[str], Sequence[bool]], str]


def _selector(less: str, helper: str) -> Emitter:
    """min (less "<") or max (less ">"): Python's min/max, except that NaN propagates.

    Ties return the first argument, as the builtins do. A constant operand is never
    NaN, so one comparison decides; two variables need a second test for NaN."""

    def emit(operands: Sequence[str], constant: Sequence[bool]) -> str:
        if len(operands) != 2:
            return f"{helper}({', '.join(operands)})"
        x, y = operands
        if constant[1]:
            return f"{y} if {y} {less} {x} else {x}"  # x NaN: the comparison fails, x wins
        if constant[0]:
            return f"{x} if {x} {less}= {y} else {y}"  # y NaN: the comparison fails, y wins
        return f"{y} if {y} {less} {x} else {x} if {y} == {y} else {y}"

    return emit


# fmt: off
SPELLINGS: dict[str, str | Emitter] = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "neg": "-{0}",
    # x ** y for any y goes through math.pow, which raises instead of returning a complex
    # number; constant folding turns a constant whole exponent into powi
    "pow": "math.pow({0}, {1})", "powi": "{0} ** {1}",
    "exp": "math.exp({0})", "log": "math.log({0})", "sqrt": "math.sqrt({0})",
    "sin": "math.sin({0})", "cos": "math.cos({0})", "tan": "math.tan({0})",
    "asin": "math.asin({0})", "acos": "math.acos({0})", "atan": "math.atan({0})",
    "sinh": "math.sinh({0})", "cosh": "math.cosh({0})", "tanh": "math.tanh({0})",
    "asinh": "math.asinh({0})", "acosh": "math.acosh({0})", "atanh": "math.atanh({0})",
    "abs": "abs({0})",
    "sigmoid": "_sigmoid({0})",
    "relu": "0.0 if {0} <= 0.0 else {0}",  # NaN stays NaN: the comparison fails
    "softplus": "_softplus({0})",
    "log1p": "math.log1p({0})", "expm1": "math.expm1({0})",
    "erf": "math.erf({0})", "erfc": "math.erfc({0})",
    "hypot": "math.hypot({0}, {1})", "atan2": "math.atan2({0}, {1})",
    "clip": "_clip({0}, {1}, {2})",
    # Python's conditional expression only evaluates the branch it picks.
    "where": "{1} if {0} else {2}",
    "min": _selector("<", "_min"), "max": _selector(">", "_max"),
    "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "eq": "{0} == {1}", "ne": "{0} != {1}",
    # array functions at a number (no axis), bit for bit what the numpy code computes
    # there: numpy's sum of a -0.0 is 0.0, and log(exp(x - x)) + x is 0.0 + x
    "sum": "0.0 + {0}", "mean": "0.0 + {0}", "logsumexp": "0.0 + {0}",
    "amax": "{0}", "amin": "{0}", "transpose": "{0}", "norm2": "{0} * {0}",
}
# fmt: on

# Array functions with no value at a number: the pipeline refuses them for this backend.
NOT_SPELLED = frozenset(
    {"matmul", "softmax", "log_softmax", "expand", "unbroadcast", "count", "matmul_dx", "matmul_dy",
     "conv2d", "conv2d_dx", "conv2d_dw", "maxpool2d", "maxpool2d_dx", "avgpool2d", "avgpool2d_dx",
     "reshape", "flatten", "reshape_as", "maxpool2d_jvp"}
)  # fmt: skip


# The rows spelled by a function of their operands: only these read `constant`.
CHOSEN = frozenset(prim for prim, spelling in SPELLINGS.items() if not isinstance(spelling, str))
_JOINED = frozenset(prim for prim, spelling in SPELLINGS.items() if "{args}" in str(spelling))


def spell(prim: str, operands: Sequence[str], constant: Sequence[bool] = ()) -> str:
    """The Python expression computing prim on the operands (names or constants);
    `constant` (which operands are constants) matters to the rows in CHOSEN only."""
    spelling = SPELLINGS[prim]
    if prim in CHOSEN:
        return spelling(operands, constant or [False] * len(operands))
    if prim in _JOINED:
        return spelling.format(*operands, args=", ".join(operands))
    return spelling.format(*operands)
