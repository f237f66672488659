"""The compiler: formula text -> programs (value, gradient, Hessian, ...), knowing no backend.

primitives.py is the table every stage reads. The stages, in order: parsing.py (text ->
syntax.py's tree), lower.py (tree -> ir.py's program), optimize.py (folding, dead code),
regions.py (what is computed inside which `where` branch), reverse.py and forward.py
(differentiation: programs -> programs), shapes.py (the array backends' shape pass),
tracing.py (a trace's table). pipeline.py is the one chain of them every caller uses.
"""
