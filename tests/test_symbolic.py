"""sympy round trip: to_sympy, check() and latex()."""

from __future__ import annotations

import pytest

import exprgrad
from exprgrad.symbolic import CheckReport, ComponentCheck

sp = pytest.importorskip("sympy")


def test_to_sympy_uses_real_symbols_and_exact_constants():
    f = exprgrad.compile("a*x**2 + 0.1*pi - e")
    a, x = sp.symbols("a x", real=True)
    assert sp.simplify(f.to_sympy() - (a * x**2 + sp.Rational(1, 10) * sp.pi - sp.E)) == 0


def test_check_proves_smooth_gradients_symbolically():
    report = exprgrad.compile("sigmoid(a*x + b*y + c)").check()
    assert report.ok
    assert [c.method for c in report.components] == ["symbolic"] * 5
    assert "all components confirmed" in str(report)


def test_check_falls_back_to_numbers_for_kinks():
    report = exprgrad.compile("min(1, label*(a*x + b*y + c))").check()
    assert report.ok
    assert all(c.method == "numeric" and "non-smooth" in c.detail for c in report.components)


def test_check_catches_a_wrong_gradient(monkeypatch):
    # Break one derivative rule and the proof must fail.
    import exprgrad.primitives as primitives
    from exprgrad import reverse

    broken = primitives.Primitive(
        **{
            **{
                f: getattr(primitives.BY_NAME["tanh"], f)
                for f in primitives.Primitive.__dataclass_fields__
            },
            "grads": ("g * (1 + out * out)",),
        }
    )
    monkeypatch.setitem(primitives.BY_NAME, "tanh", broken)
    reverse.rule_program.cache_clear()
    report = exprgrad.compile("tanh(a*x)").check()
    assert not report.ok
    assert {c.method for c in report.components} == {"failed"}
    assert "GRADIENT MISMATCH" in str(report)


def test_report_is_plain_data():
    report = CheckReport((ComponentCheck("a", "numeric", "agrees at 12 random points"),))
    assert report.ok and str(report).startswith("d/da: numeric")


def test_latex_lists_formula_and_partials():
    text = exprgrad.compile("a*x**2", wrt=["x"]).latex()
    lines = text.splitlines()
    assert lines[0] == "f = a x^{2}"
    assert lines[1] == r"\frac{\partial f}{\partial x} = 2 a x"
    assert len(lines) == 2
