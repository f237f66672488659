"""Math-only functions that generated code calls for numerically delicate primitives.

Each is plain Python over `math`, so `--emit module` can paste its source into
a standalone module. Names start with `_`; formula names never do after
mangling, so the two can never meet.
"""

import math


def _sigmoid(x):
    # two branches so exp never overflows: sigmoid(-1000) is 0.0, not an OverflowError
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _softplus(x):
    # log(1 + exp(x)) = x + log1p(exp(-x)) for x > 0, so softplus(1000) is 1000.0
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


HELPERS = {f.__name__: f for f in (_sigmoid, _softplus)}


def runtime_namespace() -> dict:
    """The only globals generated code sees: math, the helpers, and four builtins."""
    allowed = {"min": min, "max": max, "abs": abs, "float": float}
    return {"math": math, **HELPERS, "__builtins__": allowed}
