"""What works on compiled formulas: check/ (gradients against sympy), graph.py and
layout.py (pictures), display.py (notebook views), residuals.py (least squares), cli.py
(the exprgrad command)."""
