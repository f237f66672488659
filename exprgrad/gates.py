"""exprgrad.gates: the public path of exprgrad.frontends.gates.
The gates front end (Param, MulGate, ...).

The module object is the same: exprgrad.gates is exprgrad.frontends.gates."""

import sys

from .frontends import gates

sys.modules[__name__] = gates
