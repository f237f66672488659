"""How a Function and a Trace show in a notebook, and the tour notebook, run end to end."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import exprgrad
from exprgrad.tools import display

GUIDE = "sigmoid(a*x + b*y + c)"
POINT = dict(a=1.0, b=2.0, c=-3.0, x=-1.0, y=3.0)
TOUR = Path(__file__).resolve().parent.parent / "examples" / "tour.ipynb"


# --- LaTeX ------------------------------------------------------------------------------


def test_latex_repr_aligns_the_formula_and_its_partials():
    f = exprgrad.compile("a*x**2", wrt="x")
    text = f._repr_latex_()
    assert text.startswith("$$\\begin{aligned}\n") and text.endswith("\n\\end{aligned}$$")
    rows = text.splitlines()[1:-1]
    assert rows == [
        "f &= a x^{2} \\\\",
        "\\frac{\\partial f}{\\partial x} &= 2 a x",
    ]


def test_latex_repr_is_none_when_sympy_cannot_take_the_formula():
    f = exprgrad.compile("relu(log(0))")
    with pytest.raises(exprgrad.SymbolicError):
        f.latex()
    assert f._repr_latex_() is None  # Jupyter falls back to another form


def test_latex_repr_is_none_for_formulas_too_big_to_read():
    f = exprgrad.compile(" + ".join(f"x{i}*y{i}" for i in range(display.LATEX_LIMIT)))
    assert f._repr_latex_() is None


# --- HTML -------------------------------------------------------------------------------


def test_html_repr_shows_inputs_wrt_and_the_coloured_source():
    pytest.importorskip("pygments")
    f = exprgrad.compile("where(x < 1, a*x, 2)", wrt="x")
    page = f._repr_html_()
    assert "<b>exprgrad.Function</b> <code>where(x &lt; 1, a*x, 2)</code>" in page
    assert "<td>x, a</td>" in page  # inputs
    assert "gradient with respect to</th><td>x</td>" in page
    assert '<details open=""><summary>generated source (' in page
    assert 'style="color:' in page or "style='color:" in page or "<span style=" in page
    assert "value_and_grad" in page and "where(x < 1" not in page  # escaped everywhere
    assert "all inputs" in exprgrad.compile(GUIDE)._repr_html_()


def test_html_repr_without_pygments_is_escaped_plain_text(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygments", None)  # as if not installed
    f = exprgrad.compile("where(x < 1, x, 2)")
    page = f._repr_html_()
    assert "<pre>" in page and "<span" not in page
    assert "# where(x &lt; 1, x, 2)" in page
    ET.fromstring(page)  # well-formed


def test_html_repr_of_a_long_source_is_cut_and_folded():
    f = exprgrad.compile(" + ".join(f"sin(x{i})" for i in range(3000)))
    page = f._repr_html_()
    assert f"(the first {display.SOURCE_LIMIT:,} of" in page
    assert "<details><summary>" in page  # folded


def test_trace_html_is_a_table_of_every_line():
    trace = exprgrad.compile(GUIDE).trace(**POINT)
    table = ET.fromstring(trace._repr_html_())
    assert table.tag == "table" and table.find("caption").text == GUIDE
    rows = table.find("tbody").findall("tr")
    computes = ["input"] * len(trace.inputs) + [row.text for row in trace.rows]
    assert [r.findall("td")[1].text for r in rows] == computes
    assert [r.findall("td")[0].text for r in rows[: len(trace.inputs)]] == list(trace.inputs)
    assert [h.text for h in table.find("thead").iter("th")] == [
        "name",
        "computes",
        "value",
        "gradient",
    ]


# --- the tour notebook ------------------------------------------------------------------


def test_the_tour_notebook_runs():
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient")
    pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel")
    notebook = nbformat.read(TOUR, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(TOUR.parent)}},
    )
    client.execute()  # raises CellExecutionError if a cell fails
    outputs = {cell.id: cell.outputs for cell in notebook.cells if cell.cell_type == "code"}
    assert not [o for cell in outputs.values() for o in cell if o.output_type == "error"]

    def data(cell: str, mime: str) -> str:
        found = [o["data"][mime] for o in outputs[cell] if mime in o.get("data", {})]
        assert found, f"cell {cell} shows no {mime}"
        return found[0]

    assert "exprgrad.Function" in data("compile", "text/html")
    assert "0.8807970779778823" in data("evaluate", "text/plain")
    trace = data("trace", "text/html")
    assert trace.startswith("<table>") and "a*x + b*y + c" in trace
    for cell in ("graph", "gradient"):
        ET.fromstring(data(cell, "image/svg+xml").encode())
    assert "grad 0.314981" in data("graph", "image/svg+xml")
    assert "d/da" in data("gradient", "image/svg+xml")
    check = "".join(o.get("text", "") for o in outputs["check"])
    assert "all components confirmed" in check
    assert "\\frac{\\partial f}{\\partial a}" in data("latex", "text/latex")
