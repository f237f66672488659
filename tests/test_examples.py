"""The examples run and print what they promise."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

import exprgrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, capsys, monkeypatch, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def test_sigmoid_neuron(capsys, monkeypatch):
    out = run("sigmoid_neuron.py", capsys, monkeypatch)
    assert "circuit output: 0.8808" in out
    assert "circuit output after one backprop: 0.88255" in out
    assert "def value_and_grad(a, x, b, y, c):" in out


def test_svm_learns_the_data(capsys, monkeypatch):
    out = run("svm_2d.py", capsys, monkeypatch)
    first = float(out.splitlines()[0].rsplit(" ", 1)[1])
    final = float(out.strip().splitlines()[-1].rsplit("=", 1)[1])
    assert final > first
    assert final >= 0.8


def test_export_module(capsys, monkeypatch, tmp_path):
    target = tmp_path / "logistic.py"
    out = run("export_module.py", capsys, monkeypatch, str(target))
    assert f"wrote {target}" in out and "d/dw1 = " in out
    assert "import exprgrad" not in target.read_text()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_is_tested(path):
    assert f'"{path.name}"' in Path(__file__).read_text()


# --- the README tells the truth ---------------------------------------------------------

README = (EXAMPLES.parent / "README.md").read_text()


def _python_block_after(marker: str) -> str:
    after = README[README.index(marker) :]
    start = after.index("```python\n") + len("```python\n")
    return after[start : after.index("```", start)]


def test_readme_generated_code_is_what_the_cli_prints():
    block = _python_block_after("The first prints, among other things:")
    assert block.startswith("def value_and_grad(a, x, b, y, c):")
    assert block in exprgrad.compile("sigmoid(a*x + b*y + c)").source


def test_readme_opening_example_values():
    block = _python_block_after("# exprgrad")
    claimed = block[block.index("# value = ") :].splitlines()[0]
    f = exprgrad.compile("min(1, label*(a*x + b*y + c))")
    value, grads = f.value_and_grad(a=1, b=-2, c=-1, x=1.2, y=0.7, label=1)
    assert claimed == f"# value = {value!r}, grads = {grads!r}"
