"""The Python backend: programs -> straight-line Python that needs only math.

spellings.py (each primitive in Python), codegen.py (a program -> source), helpers.py
(the math-only functions generated code calls), runtime.py (source -> callables, errors
named in the formula), function.py (Function, what compile() returns), vectors.py (flat
vectors for scipy), evaluate.py (the spellings as functions, for constant folding).
"""
