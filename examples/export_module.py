"""Export a gradient as a standalone module that needs only the standard library.

python examples/export_module.py [OUTPUT.py]

Without OUTPUT.py the module is written to a temporary directory, removed at the end.
"""

import contextlib
import runpy
import sys
import tempfile
from pathlib import Path

import exprgrad

logistic = exprgrad.compile("softplus(-label*(w1*x1 + w2*x2 + b))")

with contextlib.ExitStack() as cleanup:
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
    else:
        target = Path(cleanup.enter_context(tempfile.TemporaryDirectory())) / "logistic.py"
    target.write_text(logistic.module_source())
    print(f"wrote {target}")

    # The module's functions give exactly what exprgrad's do.
    module = runpy.run_path(str(target))
    point = dict(label=1.0, w1=0.5, x1=2.0, w2=-1.0, x2=0.3, b=0.1)
    exported = module["value_and_grad"](**point)
    assert exported == logistic.value_and_grad(**point)
    value, grads = exported
    print(f"loss = {value:.6f}")
    for name, gradient in grads.items():
        print(f"d/d{name} = {gradient:+.6f}")
