"""How a Function shows in a notebook: Jupyter calls f._repr_html_() and f._repr_latex_().

HTML: the formula, its inputs, what the gradient covers and the generated source, with
syntax colours when pygments is installed (plain escaped text otherwise). LaTeX: the
formula and its partial derivatives (f.latex()) as one aligned block, or None, so Jupyter
falls back to another form, when sympy cannot take the formula or it is too big to read.
"""

from __future__ import annotations

import html
from typing import Any

from ..core.ir import CONST
from ..errors import SymbolicError

LATEX_LIMIT = 300  # operations: beyond, sympy is slow and the derivatives unreadable
SOURCE_LIMIT = 100_000  # characters of source shown (coloured) in HTML
_OPEN_LINES = 60  # a longer source starts folded


def latex_repr(function: Any) -> str | None:
    """f.latex() for Jupyter: one aligned block, each equation on its line."""
    size = sum(op.prim != CONST for op in function.lowered_program.ops)
    if size > LATEX_LIMIT:
        return None
    try:
        text = function.latex()
    except SymbolicError:
        return None
    rows = [line.replace(" = ", " &= ", 1) for line in text.splitlines()]
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


def highlight(source: str) -> str:
    """Python source as an HTML <pre>: coloured by pygments (inline styles, so no
    stylesheet is needed) when it is installed, escaped plain text otherwise."""
    try:
        from pygments import highlight as pygments_highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return f"<pre>{html.escape(source)}</pre>"
    formatter = HtmlFormatter(noclasses=True, nobackground=True)
    return pygments_highlight(source, PythonLexer(), formatter)


def html_repr(function: Any) -> str:
    """The formula, inputs, wrt and the generated source as HTML."""
    source = function.source
    cut = ""
    if len(source) > SOURCE_LIMIT:
        cut = f"<p>(the first {SOURCE_LIMIT:,} of {len(source):,} characters)</p>"
        source = source[:SOURCE_LIMIT]
    lines = source.count("\n") + 1
    opened = ' open=""' if lines <= _OPEN_LINES else ""
    inputs = ", ".join(function.inputs) or "(none)"
    wrt = "all inputs" if function.wrt == function.inputs else ", ".join(function.wrt) or "none"
    return (
        '<div class="exprgrad-function">'
        f"<p><b>exprgrad.Function</b> <code>{html.escape(function.formula)}</code></p>"
        "<table>"
        f"<tr><th style='text-align:left'>inputs</th><td>{html.escape(inputs)}</td></tr>"
        f"<tr><th style='text-align:left'>gradient with respect to</th>"
        f"<td>{html.escape(wrt)}</td></tr>"
        "</table>"
        f"<details{opened}><summary>generated source ({lines:,} lines)</summary>"
        f"{highlight(source)}{cut}</details>"
        "</div>"
    )
