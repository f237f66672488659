"""Every op's value (computed with IEEE results) -> the op that made an inf or a nan.

The lists backend's answer to numpy's: the same rules as numpy/function.py's _origin
and _reason, element by element on flat lists. Runs only when a call failed or gave a
non-finite result, so it is written to be plain, not fast.
"""

from __future__ import annotations

import math
from typing import Any

from ...core.ir import CONST, INPUT, Program
from ...core.primitives import BY_NAME
from .helpers import _flatten, _spread


def _bad(x: Any) -> bool:
    return not (isinstance(x, bool) or math.isfinite(x))


def origin(program: Program, shapes: list[tuple], values: list) -> int | None:
    """The op that made, from finite operands, an inf or nan that reaches an output: each
    non-finite element traced to its maker (an elementwise op passes on its operands',
    a where the chosen branch's; any other op its operands' first maker; where there is
    none, the op itself). A value a where did not choose reaches no output, and is not
    blamed."""
    flat: dict[int, list] = {}
    made_by: dict[int, list[int]] = {}

    def elements(i: int) -> list:
        if i not in flat:
            op = program.ops[i]
            value = op.value if op.prim == CONST else values[i]
            flat[i] = _flatten(value, len(shapes[i]))
        return flat[i]

    for i, op in enumerate(program.ops):
        if op.prim in (INPUT, CONST) or values[i] is None:
            continue
        mine = elements(i)
        bad = [_bad(x) for x in mine]
        if not any(bad):
            continue
        shape = shapes[i]
        inherited = [-1] * len(mine)
        sources = [a for a in op.args if a in made_by]
        if op.prim == "where" and sources:
            condition = _spread(elements(op.args[0]), shapes[op.args[0]], shape)
            for branch, chosen in ((op.args[1], True), (op.args[2], False)):
                if branch in made_by:
                    makers = _spread(made_by[branch], shapes[branch], shape)
                    for k, (c, m) in enumerate(zip(condition, makers, strict=True)):
                        if bool(c) == chosen and inherited[k] < 0:
                            inherited[k] = m
        elif sources and BY_NAME[op.prim].shape is None:  # elementwise: broadcast
            for a in sources:
                makers = _spread(made_by[a], shapes[a], shape)
                inherited = [m if h < 0 else h for h, m in zip(inherited, makers, strict=True)]
        else:
            found = [min(m for m in made_by[a] if m >= 0) for a in sources if max(made_by[a]) >= 0]
            if found:
                inherited = [min(found)] * len(mine)
        pairs = zip(bad, inherited, strict=True)
        made_by[i] = [(h if h >= 0 else i) if b else -1 for b, h in pairs]
    for output in program.outputs():
        makers = [m for m in made_by.get(output, ()) if m >= 0]
        if makers:
            return min(makers)
    return None


def reason(program: Program, shapes: list[tuple], values: list, i: int) -> str:
    """Why op i made an inf or a nan from finite operands, in words."""
    op = program.ops[i]
    domain = BY_NAME[op.prim].domain
    mine = _flatten(values[i], len(shapes[i]))
    bad = [_bad(x) for x in mine]

    def zero_where_bad(arg: int) -> bool:
        found = program.ops[arg]
        if found.prim == CONST:
            return found.value == 0
        zeros = _spread(_flatten(values[arg], len(shapes[arg])), shapes[arg], shapes[i])
        return any(z == 0 and b for z, b in zip(zeros, bad, strict=True))

    nan = any(x != x for x in mine)
    if op.prim == "div" and zero_where_bad(op.args[1]):
        return "division by zero"
    if op.prim == "powi" and zero_where_bad(op.args[0]):
        return "division by zero"
    if op.prim == "pow" and zero_where_bad(op.args[0]):
        return domain
    if domain and op.prim != "pow" and (nan or op.prim in ("log", "log1p")):
        return domain
    if op.prim == "pow" and nan:
        return domain
    if any(math.isinf(x) for x in mine if not isinstance(x, bool)):
        return "overflow"
    return "a non-finite value (inf or nan)"
