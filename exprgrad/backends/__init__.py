"""The backends: each turns the pipeline's programs into code and runs it.

emit.py and runtime.py hold what every backend shares (names, literals, comments; compiling
generated source, binding arguments); python/, lists/, numpy/ and c/ are one backend each
(python hands array formulas and list arguments to lists).

A backend is one folder here: its function module has ARRAYS (does it compute with
arrays: True, False, or None for "where the formula needs them", when the pipeline
decides and Programs.arrays says) and make_function(formula, programs, fold=...,
fold_forward=...), and may have gradient_now(forward program) -> bool, whether compile()
makes the gradient program now (default yes; python's sweeps a long one's first
gradients without it); its
spellings.py has SPELLINGS, keyed by primitive name, and NOT_SPELLED, the rows it
writes another way or refuses (tests/test_primitives.py checks that the two cover the
table, for every backend registered here).
Registering it is one line below; compile(..., backend=NAME) finds it here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ArgumentValueError

# name -> the module holding the backend's ARRAYS and make_function (imported when used:
# the numpy backend imports numpy, which `import exprgrad` never does)
BACKENDS = {
    "python": "exprgrad.backends.python.function",
    "numpy": "exprgrad.backends.numpy.function",
    "c": "exprgrad.backends.c.function",
    "lists": "exprgrad.backends.lists.function",
}


def backend(name: str) -> ModuleType:
    """The backend registered as `name`, or an ArgumentValueError naming the ones there are."""
    module = BACKENDS.get(name) if isinstance(name, str) else None
    if module is None:
        names = " or ".join(repr(n) for n in BACKENDS)
        raise ArgumentValueError(f"backend must be {names}, not {name!r}")
    return importlib.import_module(module)
