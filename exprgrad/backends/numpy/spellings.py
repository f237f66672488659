"""Primitive name -> numpy source: how the numpy backend writes each row of the table.

Templates get operands that are names or constants: "{0}", "{1}", ... by position; an
axis row's "{1}" is its axis; min and max (n operands) are a function of the operands.
The rows in NOT_SPELLED need the operands' shapes and codegen.py writes them;
the two sets cover the table (tests/test_primitives.py). The helpers (_erf, _softmax, ...)
are in helpers.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def _pairwise(function: str) -> Callable[[Sequence[str]], str]:
    """n-ary min or max as nested two-argument ufuncs: np.minimum(np.minimum(a, b), c)."""

    def emit(operands: Sequence[str]) -> str:
        text = operands[0]
        for operand in operands[1:]:
            text = f"{function}({text}, {operand})"
        return text

    return emit


# fmt: off
SPELLINGS: dict[str, str | Callable[[Sequence[str]], str]] = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "neg": "-{0}", "pow": "np.power({0}, {1})", "powi": "{0} ** {1}",
    "exp": "np.exp({0})", "log": "np.log({0})", "sqrt": "np.sqrt({0})",
    "sin": "np.sin({0})", "cos": "np.cos({0})", "tan": "np.tan({0})",
    "asin": "np.arcsin({0})", "acos": "np.arccos({0})", "atan": "np.arctan({0})",
    "sinh": "np.sinh({0})", "cosh": "np.cosh({0})", "tanh": "np.tanh({0})",
    "asinh": "np.arcsinh({0})", "acosh": "np.arccosh({0})", "atanh": "np.arctanh({0})",
    "abs": "np.abs({0})",
    "sigmoid": "np.exp(-np.logaddexp(0.0, -{0}))",  # never overflows
    "relu": "np.maximum({0}, 0.0)",
    "softplus": "np.logaddexp(0.0, {0})",
    "log1p": "np.log1p({0})", "expm1": "np.expm1({0})",
    "erf": "_erf({0})", "erfc": "_erfc({0})",
    "hypot": "np.hypot({0}, {1})", "atan2": "np.arctan2({0}, {1})",
    "clip": "np.minimum(np.maximum({0}, {1}), {2})",
    "where": "np.where({0}, {1}, {2})",
    "min": _pairwise("np.minimum"), "max": _pairwise("np.maximum"),  # NaN propagates
    "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "eq": "{0} == {1}", "ne": "{0} != {1}",
    "matmul": "{0} @ {1}",
    # reductions as the ufuncs' own (np.sum calls np.add.reduce, through a layer of Python
    # that costs a microsecond a call); the axis positional, None summing over all
    "sum": "np.add.reduce({0}, {1})", "mean": "np.mean({0}, axis={1})",
    "amax": "np.maximum.reduce({0}, {1})", "amin": "np.minimum.reduce({0}, {1})",
    "logsumexp": "_logsumexp({0}, {1})",
    "softmax": "_softmax({0}, {1})", "log_softmax": "_log_softmax({0}, {1})",
    "transpose": "np.transpose({0})", "norm2": "np.vdot({0}, {0})",
}
# fmt: on

# What reverse mode makes for arrays: written from the operands' shapes (codegen.py).
NOT_SPELLED = frozenset({"expand", "unbroadcast", "count", "matmul_dx", "matmul_dy"}) | {
    # the conv, pool and reshape rows: helper calls with their parameters as whole numbers
    "conv2d", "conv2d_dx", "conv2d_dw", "maxpool2d", "maxpool2d_dx", "avgpool2d",
    "avgpool2d_dx", "reshape", "flatten", "reshape_as", "maxpool2d_jvp",
}  # fmt: skip


def spell(prim: str, operands: Sequence[str]) -> str:
    """The numpy expression computing prim on the operands (names, constants, an axis)."""
    spelling = SPELLINGS[prim]
    if not isinstance(spelling, str):
        return spelling(operands)
    return spelling.format(*operands)
