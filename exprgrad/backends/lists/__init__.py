"""The lists backend: array formulas on plain Python nested lists, with no numpy.

spellings.py (each primitive per element, and the IEEE forms of the rows that may raise),
codegen.py (a program and its shapes -> loops and comprehensions over lists), helpers.py
(the standard-library functions generated code calls), convert.py (arguments -> nested
lists of floats, and their shapes), diagnosis.py (which op made an inf or a nan),
function.py (ListFunction, what compile(..., backend="python") returns for arrays).
"""
