"""The numpy backend: programs -> numpy code, specialised for each signature of shapes.

spellings.py (each primitive in numpy), codegen.py (a program and its shapes -> source),
helpers.py (the stable functions generated code calls), function.py (ArrayFunction),
second_order.py (its jvp, hvp and hessian).
Only this backend imports numpy: `import exprgrad` never does.
"""
