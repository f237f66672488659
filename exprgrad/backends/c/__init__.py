"""The C backend: programs -> C99, built with the system compiler through cffi.

spellings.py (each primitive in C), codegen.py (a program -> C functions over an input
and an output array, returning which op failed), build.py (C source -> a loaded library,
cached on disk), calls.py (the Python that calls them: per point, vectors, batches),
function.py (CFunction). cffi and numpy are the optional extra exprgrad[c].
"""
