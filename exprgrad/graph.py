"""exprgrad.graph: the public path of exprgrad.tools.graph.
Pictures of a formula's operations (Graph).

The module object is the same: exprgrad.graph is exprgrad.tools.graph."""

import sys

from .tools import graph

sys.modules[__name__] = graph
