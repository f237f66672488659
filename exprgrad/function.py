"""exprgrad.function: the public path of exprgrad.backends.python.function.

The module object is the same: exprgrad.function is exprgrad.backends.python.function."""

import sys

from .backends.python import function

sys.modules[__name__] = function
