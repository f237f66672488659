"""exprgrad.sugar: the public path of exprgrad.frontends.sugar.
The operator-overloading front end (param, const, ...).

The module object is the same: exprgrad.sugar is exprgrad.frontends.sugar."""

import sys

from .frontends import sugar

sys.modules[__name__] = sugar
