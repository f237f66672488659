"""IR -> sympy, and the proof that generated gradients equal sympy.diff.

sympy_bridge.py turns IR into sympy (to_sympy, latex); checker.py decides each
gradient component (check), symbolically or at points that sample.py draws from
the formula's domain on every side of every kink, which bounds.py finds with error
bounds carried op by op; exact.py evaluates sympy.diff there with mpmath;
budget.py bounds the time; report.py holds the verdicts. sympy is imported on
first use: `import exprgrad` stays fast, and code that never asks for a proof
never pays for it.
"""

from __future__ import annotations

from .checker import check
from .report import CheckReport, ComponentCheck
from .sympy_bridge import latex, to_sympy

__all__ = ["CheckReport", "ComponentCheck", "check", "latex", "to_sympy"]
