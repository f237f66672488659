"""exprgrad.arrays: the public path of exprgrad.backends.numpy.function.
Kept so that pickles of array Functions made by earlier versions load.

The module object is the same: exprgrad.arrays is exprgrad.backends.numpy.function."""

import sys

from .backends.numpy import function

sys.modules[__name__] = function
