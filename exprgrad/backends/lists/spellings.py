"""Primitive name -> Python source per element: how the lists backend writes each row.

An elementwise row is written as the Python backend writes it for numbers (its template
over one element of each operand), inside a comprehension that codegen.py builds from the
shapes. The rows in NOT_SPELLED (reductions, @, softmax, the shape changes reverse mode
makes) depend on the operands' shapes, and codegen.py writes them as loops or helper calls;
the two sets cover the table (tests/test_primitives.py).

IEEE holds, for each row that may raise, what the code that explains an inf or a nan
writes instead: the same spelling through _ieee, which gives numpy's inf or nan where
Python's math raises.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...core.primitives import BY_NAME, PRIMITIVES
from ..python import spellings as python_spellings

SPELLINGS = {
    name: spelling
    for name, spelling in python_spellings.SPELLINGS.items()
    if not BY_NAME[name].arrays
}
NOT_SPELLED = frozenset(p.name for p in PRIMITIVES if p.arrays)
# Array rows this backend refuses, with a FormulaError at the op (function.py): convolution
# and pooling are numpy's (im2col and one matmul; as lists, loops over every pixel).
REFUSED = frozenset(
    {"conv2d", "conv2d_dx", "conv2d_dw", "maxpool2d", "maxpool2d_dx", "avgpool2d", "avgpool2d_dx",
     "maxpool2d_jvp"}
)  # fmt: skip
# Per element, an op raises only where its row says it may.
IEEE = frozenset(p.name for p in PRIMITIVES if p.may_raise and not p.arrays)


def spell(prim: str, operands: Sequence[str], constant: Sequence[bool] = (), ieee=False) -> str:
    """The Python expression computing prim on one element of each operand; with ieee, an
    inf or a nan where Python's math would raise."""
    text = python_spellings.spell(prim, operands, constant)
    if ieee and prim in IEEE:
        params = [f"_v{k}" for k in range(len(operands))]
        inner = python_spellings.spell(prim, params, constant)
        return f"_ieee({prim!r}, lambda {', '.join(params)}: {inner}, {', '.join(operands)})"
    return text
