"""Circuits written with Python operators, as in the project's origin and Karpathy's guide:

    from exprgrad.sugar import *
    a, b, c, x, y = param(1, 2, -3, -1, 3)
    f = sigmoid(a*x + b*y + c)
    f.compute()          # 0.8807970779778823
    f.backprop(lr=0.01)  # a.grad == -0.10499358540350662, and every parameter moved

param() and const() make the leaves (one value: one gate; several: a tuple);
+ - * / ** and unary minus combine gates and numbers on either side; every
function of the formula language is a gate builder here, made from the
primitive table: sigmoid, relu, tanh, exp, log, clip, where, ... with min,
max, abs and pow spelled minimum, maximum, absolute and power (Python's own
names stay Python's; abs(gate) works too). Comparisons (x > 0) make where's
condition; eq(a, b) and ne(a, b) compare for equality, since == on gates
stays identity. The gates are exprgrad.gates' (see there for how a circuit
becomes generated code).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..core.primitives import FUNCTIONS
from ..errors import ArgumentError, ArgumentValueError
from .gates import GATES, Constant, Gate, Param

_RENAMED = {"min": "minimum", "max": "maximum", "abs": "absolute", "pow": "power"}


def _leaves(kind: type[Param | Constant], values, names) -> Gate | tuple[Gate, ...]:
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    if names is not None and len(names) != len(values):
        raise ArgumentValueError(f"{len(values)} values but {len(names)} names")
    gates = tuple(
        kind(value, None if names is None else names[k]) for k, value in enumerate(values)
    )
    if not gates:
        raise ArgumentError(f"{kind.kind}() needs at least one value")
    return gates[0] if len(gates) == 1 else gates


def param(*values: float, names: str | Sequence[str] | None = None):
    """Parameters with these starting values: one gate, or a tuple for several.
    names: optional formula names ("a b c" or a list); p1, p2, ... otherwise."""
    return _leaves(Param, values, names)


def const(*values: float, names: str | Sequence[str] | None = None):
    """Constants (inputs that never move) with these values: one gate or a tuple."""
    return _leaves(Constant, values, names)


def _builder(name: str) -> Callable[..., Gate]:
    gate = GATES[name]

    def build(*args: Gate | float) -> Gate:
        return gate(*args)

    build.__name__ = build.__qualname__ = _RENAMED.get(name, name)
    build.__doc__ = f"A {gate.__name__}: the formula language's {name}(...) as a gate."
    return build


BUILDERS: dict[str, Callable[..., Gate]] = {
    _RENAMED.get(name, name): _builder(name) for name in FUNCTIONS if name in GATES
}
BUILDERS["eq"] = _builder("eq")
BUILDERS["ne"] = _builder("ne")
globals().update(BUILDERS)

__all__ = ["param", "const", *BUILDERS]
