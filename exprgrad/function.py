"""exprgrad.function: the public path of exprgrad.api (compile, compile_unfolded).
Kept so that pickles and reprs of Functions made by earlier versions load.

The module object is the same: exprgrad.function is exprgrad.api."""

import sys

from . import api

sys.modules[__name__] = api
