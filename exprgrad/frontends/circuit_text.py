"""A circuit of gates -> formula text: each gate once, in order, with as few parentheses as
keep its structure, and each gate's span in the text (for its comment in generated code).

Works on any gate (gates.py): `_prim` names its primitive ("param" and "const" for the
leaves), `_args` holds its operands (gates and floats), `_name` a leaf's own name.
Writes through text.py, the one precedence writer of the front ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core.primitives import COMPARISON_NAMES
from ..errors import ArgumentValueError
from .text import ATOM, LEFT, PRECEDENCE, RIGHT, SYMBOL, needs_parentheses, number, precedence

if TYPE_CHECKING:
    from .circuit_ir import CircuitLowering

Gate = Any  # a gates.Gate (not imported: gates.py imports this module)
_LEAVES = ("param", "const")
_NUMBER, _NAMED, _WRITTEN = range(3)  # how write() writes a node: a number, a name, its text


def _is_gate(operand: Any) -> bool:
    return not isinstance(operand, float)  # a gate's operands are gates and floats


def _is_leaf(gate: Gate) -> bool:
    return gate._prim in _LEAVES


def postorder(output: Gate) -> list[Gate]:
    """Every gate of the circuit once, operands before the gates using them (no recursion:
    a circuit may be thousands of gates deep)."""
    order: list[Gate] = []
    seen: set[Gate] = set()  # (a gate hashes and compares as itself)
    stack: list[tuple[Gate, bool]] = [(output, False)]
    pop, push = stack.pop, stack.append
    while stack:
        gate, expanded = pop()
        if expanded:
            order.append(gate)
        elif gate not in seen:
            seen.add(gate)
            push((gate, True))
            args = gate._args
            if len(args) == 1:  # most gates: no generator to make
                if args[0].__class__ is not float:
                    push((args[0], False))
            else:
                stack.extend((a, False) for a in reversed(args) if _is_gate(a))
    return order


def leaf_names(leaves: Sequence[Gate]) -> dict[Gate, str]:
    """Each parameter and constant's name in the formula: its own, or p1, p2, ... and c1,
    c2, ... in order of appearance, skipping names already taken."""
    taken: dict[str, Gate] = {}
    for leaf in leaves:
        if leaf._name is not None:
            other = taken.setdefault(leaf._name, leaf)
            if other is not leaf:
                raise ArgumentValueError(f"two gates of one circuit are named {leaf._name!r}")
            if leaf._name in ("pi", "e"):
                raise ArgumentValueError(f"{leaf._name!r} is a constant of the formula language")
    names: dict[Gate, str] = {}
    counters = {"p": 0, "c": 0}
    for leaf in leaves:
        if leaf._name is not None:
            names[leaf] = leaf._name
            continue
        prefix = "p" if leaf._prim == "param" else "c"
        while True:
            counters[prefix] += 1
            name = f"{prefix}{counters[prefix]}"
            if name not in taken:
                break
        names[leaf] = name
    return names


def _precedence_of(node: Gate | float) -> int:
    return precedence(node._prim) if _is_gate(node) else number(node)[1]


def _pieces(node: Gate, names: dict[Gate, str]) -> list[str | tuple[Gate | float, bool]]:
    """A node's text as literal pieces and (operand, parenthesize?) pairs, left to right,
    with as few parentheses as keep the structure: a*(b*c) keeps them, (a*b)*c does not.
    An operand written as a name needs none."""

    def _precedence(operand: Gate | float) -> int:
        return ATOM if operand in names else _precedence_of(operand)

    prim, args = node._prim, node._args
    if prim == "neg":
        (operand,) = args
        # a negated number stays the neg gate it is: -(2), not the number -2
        paren = needs_parentheses(_precedence(operand), prim) or not _is_gate(operand)
        return [SYMBOL[prim], (operand, paren)]
    if prim in PRECEDENCE:  # a binary operator or a comparison
        left, right = args
        return [
            (left, needs_parentheses(_precedence(left), prim, LEFT)),
            f" {SYMBOL[prim]} ",
            (right, needs_parentheses(_precedence(right), prim, RIGHT)),
        ]
    pieces: list[str | tuple[Gate | float, bool]] = [f"{prim}("]
    for k, arg in enumerate(args):
        pieces += [", "] * bool(k) + [(arg, False)]
    return [*pieces, ")"]


def write(
    output: Gate,
    gates: list[Gate],
    names: dict[Gate, str],
    lowering: CircuitLowering | None = None,
) -> tuple[str, dict[Gate, tuple[int, int]]]:
    """The circuit as formula text, and each operation gate's span in it (parentheses
    around it included, as the parser's spans do). A gate used more than once is
    written once, as a statement `h1 = ...`, and named after that: a circuit that
    shares its parts stays as long as it has gates, not as long as its paths.
    lowering (circuit_ir.py) is told each node as its text ends, to build the IR
    that lowering the text would."""
    uses: dict[Gate, int] = {}
    for gate in gates:
        for arg in gate._args:
            if _is_gate(arg) and not _is_leaf(arg):
                uses[arg] = uses.get(arg, 0) + 1
    taken = set(names.values())
    counter = 0
    for gate in gates:  # operands first, so a statement only uses names defined above it
        if uses.get(gate, 0) > 1 and gate is not output and gate._prim not in COMPARISON_NAMES:
            counter += 1
            while f"h{counter}" in taken:
                counter += 1
            names[gate] = f"h{counter}"
    text: list[str] = []
    length = 0
    spans: dict[Gate, tuple[int, int]] = {}

    def emit(piece: str) -> None:
        nonlocal length
        text.append(piece)
        length += len(piece)

    def expression(root: Gate, target: str | None) -> None:
        # explicit stack: ("text", str) | ("open", node, paren)
        # | ("close", node, paren, start, how: _NUMBER, _NAMED or _WRITTEN, number text)
        stack: list[tuple] = [("open", root, False)]
        while stack:
            item = stack.pop()
            if item[0] == "text":
                emit(item[1])
            elif item[0] == "close":
                _, node, paren, start, how, written = item
                if paren:
                    emit(")")
                if how == _WRITTEN:
                    spans.setdefault(node, (start, length))
                if lowering is None:
                    continue
                if how == _WRITTEN:
                    lowering.operation(node, start, length, target if node is root else None)
                elif how == _NAMED:
                    lowering.named(node, start, length)
                else:
                    lowering.number(written, start, length)
            else:
                _, node, paren = item
                start = length
                if paren:
                    emit("(")
                if not _is_gate(node):
                    written = number(node)[0]
                    stack.append(("close", node, paren, start, _NUMBER, written))
                    emit(written)
                elif node in names and (node is not root or _is_leaf(node)):
                    stack.append(("close", node, paren, start, _NAMED, None))
                    emit(names[node])
                else:
                    stack.append(("close", node, paren, start, _WRITTEN, None))
                    for piece in reversed(_pieces(node, names)):
                        if isinstance(piece, str):
                            stack.append(("text", piece))
                        else:
                            stack.append(("open", piece[0], piece[1]))

    for gate in gates:
        if gate in names and not _is_leaf(gate):
            emit(f"{names[gate]} = ")
            start = length
            expression(gate, names[gate])
            spans[gate] = (start, length)
            if lowering is not None:
                lowering.statement(names[gate])
            emit("\n")
    expression(output, None)
    return "".join(text), spans
