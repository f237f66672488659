"""Export a gradient as a standalone module that needs only the standard library.

python examples/export_module.py [OUTPUT.py]
"""

import runpy
import sys
import tempfile
from pathlib import Path

import exprgrad

logistic = exprgrad.compile("softplus(-label*(w1*x1 + w2*x2 + b))")

target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "logistic.py"
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
