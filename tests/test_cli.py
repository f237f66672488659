"""The exprgrad command: in-process through exprgrad.tools.cli.main, and as a real process."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import exprgrad
from exprgrad.tools.cli import main

REPO = Path(__file__).resolve().parent.parent
SEED = "sigmoid(a*x + b*y + c)"
SEED_AT = "a=1,b=2,c=-3,x=-1,y=3"
SEED_VALUE = 0.8807970779778823
SEED_D_DA = -0.10499358540350662


def run_main(argv: list[str]) -> int:
    """main's exit status, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 1


def run_process(
    *args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exprgrad", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def parse_at_output(text: str) -> dict[str, str]:
    """'value = 1.0' / 'd/da = 2.0' lines -> {'value': '1.0', 'd/da': '2.0'}, in order."""
    result = {}
    for line in text.splitlines():
        name, equals, number = line.partition(" = ")
        assert equals, f"unexpected output line {line!r}"
        result[name] = number
    return result


# --- printing the generated code -----------------------------------------------------------


def test_prints_generated_source(capsys):
    assert run_main([SEED]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "def value_and_grad(a, x, b, y, c):" in out
    assert "def forward(a, x, b, y, c):" in out
    assert out == exprgrad.compile(SEED).source


def test_formula_from_file(tmp_path, capsys):
    path = tmp_path / "loss.txt"
    path.write_text("# a loss\nz = a*x + b  # the score\nlog1p(exp(-z))\n", encoding="utf-8")
    assert run_main(["-f", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert "def value_and_grad(a, x, b):" in out
    assert run_main(["--file", str(path), "--at", "a=2,x=0.5,b=-1"]) == 0
    out, _ = capsys.readouterr()
    assert parse_at_output(out) == {
        "value": repr(exprgrad.compile(path.read_text())(2, 0.5, -1)),
        **{
            f"d/d{k}": repr(v)
            for k, v in exprgrad.compile(path.read_text()).grad(2, 0.5, -1).items()
        },
    }


@pytest.mark.parametrize("argv", [["-"], ["-f", "-"], ["--file", "-"]])
def test_formula_from_stdin(argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("(a*x +\n  b)  # from stdin\n"))
    assert run_main([*argv, "--at", "a=2,x=3,b=1"]) == 0
    out, _ = capsys.readouterr()
    assert out == "value = 7.0\nd/da = 3.0\nd/dx = 2.0\nd/db = 1.0\n"


def test_stdin_source_output(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("log(1 + x*x)"))
    assert run_main(["-"]) == 0
    out, _ = capsys.readouterr()
    assert out == exprgrad.compile("log(1 + x*x)").source


def test_wrt_restricts_the_gradient(capsys):
    assert run_main(["a*x + b*y + c", "--wrt", "a,b", "--at", "a=1,b=2,c=3,x=4,y=5"]) == 0
    out, _ = capsys.readouterr()
    assert out == "value = 17.0\nd/da = 4.0\nd/db = 5.0\n"
    assert run_main(["a*x + b*y + c", "--wrt", "c"]) == 0
    out, _ = capsys.readouterr()
    assert out == exprgrad.compile("a*x + b*y + c", wrt=["c"]).source
    assert "'c'" in out and "'a'" not in out and "'x'" not in out


def test_at_prints_exact_value_and_gradient(capsys):
    assert run_main([SEED, "--at", SEED_AT]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"value = {SEED_VALUE!r}"
    assert lines[1] == f"d/da = {SEED_D_DA!r}"
    assert lines[0] == "value = 0.8807970779778823"
    assert lines[1] == "d/da = -0.10499358540350662"
    # every float printed exactly (repr) and every input present, in the formula's order
    value, grads = exprgrad.compile(SEED).value_and_grad(a=1, b=2, c=-3, x=-1, y=3)
    assert out == "".join(
        [f"value = {value!r}\n"] + [f"d/d{k} = {v!r}\n" for k, v in grads.items()]
    )
    assert [line.split(" = ")[0] for line in lines[1:]] == ["d/da", "d/dx", "d/db", "d/dy", "d/dc"]


def test_at_accepts_spaces_and_keyword_names(capsys):
    assert run_main(["lambda*x", "--at", " lambda = 2 , x = 3 "]) == 0
    out, _ = capsys.readouterr()
    assert out == "value = 6.0\nd/dlambda = 3.0\nd/dx = 2.0\n"


def test_check_confirms_each_component(capsys):
    assert run_main([SEED, "--check"]) == 0
    out, _ = capsys.readouterr()
    for name in ("a", "x", "b", "y", "c"):
        line = next(line for line in out.splitlines() if line.startswith(f"d/d{name}:"))
        assert "symbolic" in line or "numeric" in line, line
    assert "confirmed" in out


def test_check_non_smooth_formula(capsys):
    assert run_main(["relu(a*x) + abs(b) + y", "--check"]) == 0
    out, _ = capsys.readouterr()
    names = ["a", "x", "b", "y"]
    lines = [line for line in out.splitlines() if line.startswith("d/d")]
    assert [line.split(":")[0] for line in lines] == [f"d/d{n}" for n in names]
    assert all("symbolic" in line or "numeric" in line for line in lines), out


def test_check_prints_each_component_as_it_is_decided(capsys, monkeypatch):
    from exprgrad.tools.check import checker

    printed_before = []  # what was on stdout when each component's check began
    component = checker._State.component

    def watched(self, name):
        printed_before.append(capsys.readouterr().out)
        return component(self, name)

    monkeypatch.setattr(checker._State, "component", watched)
    assert run_main(["max(0, 1 - l*relu(a*x))", "--check"]) == 0
    out = "".join(printed_before) + capsys.readouterr().out
    assert [text.count("\n") for text in printed_before] == [0, 1, 1]
    assert printed_before[1].startswith("d/dl: numeric (")
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "d/dl",
        "d/da",
        "d/dx",
        "all components confirmed",
    ]


def test_check_exit_status_1_when_a_component_fails(capsys, monkeypatch):
    import dataclasses

    import exprgrad.core.primitives as primitives
    from exprgrad.core import reverse

    wrong = dataclasses.replace(primitives.BY_NAME["relu"], grads=("where(x > 0, g, 0.5 * g)",))
    monkeypatch.setitem(primitives.BY_NAME, "relu", wrong)
    reverse.rule_program.cache_clear()
    try:
        assert run_main(["relu(x + 3) + y", "--check"]) == 1
    finally:
        reverse.rule_program.cache_clear()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("d/dx: failed (generated 0.5 != sympy.diff 0.0 at x=")
    assert lines[1].startswith("d/dy: ")
    assert lines[2] == "GRADIENT MISMATCH in d/dx"


@pytest.mark.parametrize(
    ("formula", "reason"),
    [
        ("log(-1 - x*x)", "no point found where the formula and its gradient are defined"),
        ("sin(" * 200 + "x" + ")" * 200, "too deeply nested for sympy"),
    ],
)
def test_check_exit_status_3_when_undecided(capsys, formula, reason):
    assert run_main([formula, "--check"]) == 3
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and reason in lines[0], out
    assert lines[0].startswith("d/dx: undecided (")
    assert lines[1].startswith("UNDECIDED: d/dx neither confirmed nor refuted")
    assert err == ""


def test_check_help_lists_exit_statuses(capsys):
    assert run_main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "exit 0 if all are confirmed, 1 if one fails, 3 if none fails" in text


def test_latex_of_a_formula_sympy_cannot_take(capsys):
    assert run_main(["sin(" * 200 + "x" + ")" * 200, "--latex"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("exprgrad: error: cannot typeset the formula: it is too deeply nested")
    assert "Traceback" not in err


def test_latex(capsys):
    assert run_main([SEED, "--latex"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("f = ")
    for name in ("a", "x", "b", "y", "c"):
        assert f"\\frac{{\\partial f}}{{\\partial {name}}}" in out
    assert run_main(["a*x", "--wrt", "a", "--latex"]) == 0
    out, _ = capsys.readouterr()
    assert "\\frac{\\partial f}{\\partial a}" in out
    assert "\\partial x}" not in out


def test_ir(capsys):
    assert run_main(["a*x + b", "--ir"]) == 0
    out, _ = capsys.readouterr()
    assert out == exprgrad.compile("a*x + b").ir + "\n"
    assert "inputs: a, x, b" in out
    assert "mul a x" in out
    assert "d/da" in out and "d/db" in out


def test_version(capsys):
    assert run_main(["--version"]) == 0
    out, _ = capsys.readouterr()
    assert out.strip() == f"exprgrad {exprgrad.__version__}"


MODULE_FORMULA = (
    "sigmoid(a*x + b*y + c) + softplus(x) + where(x < y, erf(x), relu(y))"
    " + min(a, b, c) + lambda*abs(y)"
)
MODULE_POINT = {"a": 1.0, "x": -1.0, "b": 2.0, "y": 3.0, "c": -3.0, "lambda": 0.5}


def test_emit_module_runs_without_exprgrad(tmp_path, capsys):
    assert run_main([MODULE_FORMULA, "--emit", "module"]) == 0
    out, _ = capsys.readouterr()
    (tmp_path / "loss_module.py").write_text(out, encoding="utf-8")
    args = [MODULE_POINT[name] for name in exprgrad.compile(MODULE_FORMULA).inputs]
    code = textwrap.dedent(f"""
        import json, runpy, sys
        try:
            import exprgrad
        except ImportError:
            isolated = True
        else:
            isolated = False
        namespace = runpy.run_path("loss_module.py")
        value, grads = namespace["value_and_grad"](*{args!r})
        print(json.dumps({{"isolated": isolated, "value": value, "grads": grads,
                          "forward": namespace["forward"](*{args!r}),
                          "modules": sorted(m for m in sys.modules if "exprgrad" in m)}}))
    """)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["isolated"], "exprgrad was importable; the check proves nothing"
    assert result["modules"] == []
    value, grads = exprgrad.compile(MODULE_FORMULA).value_and_grad(**MODULE_POINT)
    assert result["value"] == value  # json round-trips floats exactly
    assert result["forward"] == value
    assert result["grads"] == grads
    assert list(result["grads"]) == ["a", "x", "b", "y", "c", "lambda"]


# --- bad input ---------------------------------------------------------------------------


def test_bad_formula_in_process(capsys):
    assert run_main(["a*(b+"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "line 1, column 6" in err
    assert err.endswith("    a*(b+\n         ^\n")


def test_bad_formula_process():
    done = run_process("a*(b+")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "exprgrad: error:" in done.stderr
    assert "formula ends early at line 1, column 6" in done.stderr
    assert "    a*(b+\n         ^" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_formula_on_line_three_from_stdin():
    done = run_process("-", stdin="a = x*2\nb = a + 1\nc = b * (a + )\nc\n")
    assert done.returncode == 2
    assert "line 3, column 14" in done.stderr
    assert "    c = b * (a + )\n                 ^" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("at", "fragments"),
    [
        ("a=1", ["--at", "missing x"]),
        ("a=1,x=2,z=3", ["--at", "unknown z"]),
        ("a=1,x=foo", ["--at", "'foo' is not a number", "x"]),
        ("a=1,x", ["--at", "NAME=VALUE", "'x'"]),
        ("a=1,=2", ["--at", "NAME=VALUE"]),
        ("", ["--at", "NAME=VALUE"]),
        ("a=1;x=2", ["--at"]),
    ],
)
def test_bad_at(at, fragments, capsys):
    assert run_main(["a*x", "--at", at]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err


def test_at_with_no_inputs(capsys):
    assert run_main(["2*pi", "--at", ""]) == 0
    assert capsys.readouterr().out == f"value = {2 * math.pi!r}\n"


def test_bad_at_process():
    done = run_process("a*x", "--at", "a=1,x=oops")
    assert done.returncode == 2
    assert "'oops' is not a number" in done.stderr
    assert "Traceback" not in done.stderr


def test_at_rejects_a_name_given_twice(capsys):
    assert run_main(["a*x", "--at", "a=1,x=2,a=5"]) == 2
    _, err = capsys.readouterr()
    assert "--at gives 'a' twice" in err


def test_repeated_at_is_merged(capsys):
    assert run_main(["a*x", "--at", "a=3", "--at", "x=2"]) == 0
    out, _ = capsys.readouterr()
    assert out == "value = 6.0\nd/da = 2.0\nd/dx = 3.0\n"
    assert run_main(["a*x + b", "--at", "b=1", "--at", "x=2,a=4", "--at", ""]) == 0
    out, _ = capsys.readouterr()
    assert out == "value = 9.0\nd/da = 2.0\nd/dx = 4.0\nd/db = 1.0\n"


@pytest.mark.parametrize(
    "ats",
    [["a=1", "a=2"], ["a=1,x=2", "a=1"], ["x=2", "a=1", "x=2"], ["a=1", "x=1, a=2"]],
)
def test_repeated_at_rejects_a_name_given_twice(ats, capsys):
    twice = "x" if ats[0] == "x=2" else "a"
    argv = ["a*x"]
    for at in ats:
        argv += ["--at", at]
    assert run_main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"--at gives '{twice}' twice" in err, err


def test_repeated_at_process():
    done = run_process("a*x", "--at", "a=1", "--at", "x=5")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "value = 5.0\nd/da = 5.0\nd/dx = 1.0\n"
    done = run_process("a*x", "--at", "a=1,x=5", "--at", "x=6")
    assert done.returncode == 2
    assert "--at gives 'x' twice" in done.stderr
    assert "Traceback" not in done.stderr


def test_at_messages_are_bounded(capsys):
    long_name = "n" * 100_000
    for at in (f"{long_name}", f"a=1,x={long_name}", f"a=1,x=2,{long_name}=3"):
        assert run_main(["a*x", "--at", at]) == 2
        _, err = capsys.readouterr()
        assert len(err) < 1000, len(err)
        assert "n" * 20 in err and "n" * 30 not in err
    formula = " + ".join(f"w{i}" for i in range(5000))
    assert run_main([formula, "--at", "w0=1"]) == 2
    _, err = capsys.readouterr()
    assert len(err) < 1000, len(err)
    assert "missing w1, w2," in err and "more" in err


# --- formulas that start with '-' --------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-log(p)", "--at", "p=2"], {"value": repr(-math.log(2)), "d/dp": "-0.5"}),
        (["--at", "p=2", "-log(p)"], {"value": repr(-math.log(2)), "d/dp": "-0.5"}),
        (["-3", "--at", ""], {"value": "-3.0"}),
        (["-x*y", "--at", "x=2,y=3"], {"value": "-6.0", "d/dx": "-3.0", "d/dy": "-2.0"}),
        (["--wrt", "y", "-x*y", "--at", "x=2,y=3"], {"value": "-6.0", "d/dy": "-2.0"}),
        (["-x", "--at=x=4"], {"value": "-4.0", "d/dx": "-1.0"}),
        (["--at", "x=4", "--", "-x"], {"value": "-4.0", "d/dx": "-1.0"}),
        (["-.5*x", "--at", "x=4"], {"value": "-2.0", "d/dx": "-0.5"}),
    ],
)
def test_formula_starting_with_minus(argv, expected, capsys):
    assert run_main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert parse_at_output(out) == expected


def test_formula_starting_with_minus_prints_source(capsys):
    assert run_main(["-x*y"]) == 0
    out, _ = capsys.readouterr()
    assert out == exprgrad.compile("-x*y").source


def test_formula_starting_with_minus_process():
    done = run_process("-log(p)", "--at", "p=2")
    assert done.returncode == 0, done.stderr
    assert parse_at_output(done.stdout) == {"value": repr(-math.log(2)), "d/dp": "-0.5"}
    done = run_process("-3", "--at", "")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "value = -3.0\n"


def test_options_beside_a_minus_formula_keep_their_meaning(tmp_path, capsys):
    # the value of -f is a file name even when it starts with '-'
    path = tmp_path / "-loss.txt"
    path.write_text("-x", encoding="utf-8")
    assert run_main(["-f", str(path), "--at", "x=1"]) == 0
    assert capsys.readouterr().out == "value = -1.0\nd/dx = -1.0\n"
    assert run_main(["--fi", str(path), "--at", "x=1"]) == 0  # argparse's abbreviation
    assert capsys.readouterr().out == "value = -1.0\nd/dx = -1.0\n"
    assert run_main(["-h"]) == 0
    assert "usage: exprgrad" in capsys.readouterr().out
    # two formulas are still an error
    assert run_main(["-x", "-y"]) == 2
    assert "unrecognized arguments: -y" in capsys.readouterr().err


# --- byte-order marks ------------------------------------------------------------------------


def test_file_with_byte_order_mark(tmp_path, capsys):
    path = tmp_path / "loss.txt"
    path.write_bytes(b"\xef\xbb\xbfa*x + 1\n")
    assert run_main(["-f", str(path), "--at", "a=2,x=3"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == "value = 7.0\nd/da = 3.0\nd/dx = 2.0\n"
    done = run_process("-f", str(path), "--at", "a=2,x=3")
    assert done.returncode == 0, done.stderr
    assert done.stdout == out


def test_stdin_with_byte_order_mark(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeffa*x + 1\n"))
    assert run_main(["-", "--at", "a=2,x=3"]) == 0
    assert capsys.readouterr().out == "value = 7.0\nd/da = 3.0\nd/dx = 2.0\n"
    done = subprocess.run(
        [sys.executable, "-m", "exprgrad", "-", "--at", "a=2,x=3"],
        input=b"\xef\xbb\xbfa*x + 1\n",
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == "value = 7.0\nd/da = 3.0\nd/dx = 2.0\n"


def test_byte_order_mark_only_at_the_start_is_dropped(tmp_path, capsys):
    path = tmp_path / "loss.txt"
    path.write_bytes(b"a*x\xef\xbb\xbf")
    assert run_main(["-f", str(path)]) == 2
    assert "ASCII" in capsys.readouterr().err


def test_evaluation_error_exits_1_without_traceback():
    done = run_process("1 + log(x)", "--at", "x=-1")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "log" in done.stderr
    assert "line 1, column 5" in done.stderr
    assert "    1 + log(x)\n        ^^^^^^" in done.stderr
    assert "Traceback" not in done.stderr


def test_evaluation_error_in_process(capsys):
    assert run_main(["sqrt(x) + 1", "--at", "x=-4"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "sqrt" in err and "line 1, column 1" in err


def test_no_formula(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("never read"))
    assert run_main([]) == 2
    _, err = capsys.readouterr()
    assert "no formula" in err
    done = run_process()
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_formula_and_file_together(tmp_path, capsys):
    path = tmp_path / "f.txt"
    path.write_text("x", encoding="utf-8")
    assert run_main(["x", "-f", str(path)]) == 2
    _, err = capsys.readouterr()
    assert "not both" in err


def test_empty_stdin_is_a_formula_error(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run_main(["-"]) == 2
    _, err = capsys.readouterr()
    assert "empty formula" in err


def test_missing_file(tmp_path, capsys):
    missing = tmp_path / "no such file.txt"
    assert run_main(["-f", str(missing)]) == 2
    _, err = capsys.readouterr()
    assert "cannot read" in err and "no such file.txt" in err
    done = run_process("-f", str(missing))
    assert done.returncode == 2
    assert "cannot read" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreadable_file_message_is_bounded(tmp_path, capsys):
    missing = tmp_path / ("long" * 2000)  # longer than any file name may be
    assert run_main(["-f", str(missing)]) == 2
    _, err = capsys.readouterr()
    assert "cannot read" in err
    assert len(err) < 1000, len(err)


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_unreadable_file(kind, tmp_path):
    if kind == "directory":
        path = tmp_path
    else:
        path = tmp_path / "bad.txt"
        path.write_bytes(b"\xff\xfe x + 1")
    done = run_process("-f", str(path))
    assert done.returncode == 2
    assert "cannot read" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_wrt(capsys):
    assert run_main(["a*x", "--wrt", "z"]) == 2
    _, err = capsys.readouterr()
    assert "'z'" in err and "not an input" in err


def test_hostile_formula_process(tmp_path):
    sentinel = tmp_path / "pwned"
    done = run_process(f"__import__('os').system('touch {sentinel}')", cwd=tmp_path)
    assert done.returncode == 2
    assert "no strings" in done.stderr
    assert "Traceback" not in done.stderr
    assert not sentinel.exists()


def test_control_characters_do_not_reach_the_terminal():
    done = run_process("x + \x1b[2J\x07y")
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr


def test_module_entry_point_process():
    done = run_process(SEED, "--at", SEED_AT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [f"value = {SEED_VALUE!r}", f"d/da = {SEED_D_DA!r}"]


# --- the installed command ---------------------------------------------------------------


@pytest.mark.slow
def test_installed_command_in_fresh_venv(tmp_path):
    """A non-editable install ships the grammar inside the wheel: run it outside the repo."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, capture_output=True
    )
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-cache-dir",
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]

    where = subprocess.run(
        [
            str(python),
            "-c",
            "import exprgrad, pathlib; p = pathlib.Path(exprgrad.__file__).parent; "
            "print(p); print((p / 'grammar' / 'exprgrad.lark').is_file())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    package_dir, grammar_inside = where.stdout.splitlines()
    assert Path(package_dir).resolve().is_relative_to(venv.resolve())  # not the checkout
    assert grammar_inside == "True"

    done = subprocess.run(
        [str(bindir / "exprgrad"), SEED, "--at", SEED_AT],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "value = 0.8807970779778823\n"
        "d/da = -0.10499358540350662\n"
        "d/dx = 0.10499358540350662\n"
        "d/db = 0.31498075621051985\n"
        "d/dy = 0.20998717080701323\n"
        "d/dc = 0.10499358540350662\n"
    )
    bad = subprocess.run(
        [str(bindir / "exprgrad"), "a*(b+"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert "line 1, column 6" in bad.stderr and "Traceback" not in bad.stderr


def test_a_minus_formula_after_a_flag_without_value(capsys):
    assert run_main(["--ir", "-x*y"]) == 0
    assert "mul" in capsys.readouterr().out


def test_attached_file_option(tmp_path, capsys):
    path = tmp_path / "f.txt"
    path.write_text("a*x", encoding="utf-8")
    assert run_main([f"-f{path}", "--at", "a=2,x=3"]) == 0
    assert capsys.readouterr().out.startswith("value = 6.0")


@pytest.mark.parametrize(
    "args",
    [["x*y"], ["x*y", "--dot"], ["x*y", "--at", "x=1,y=2", "--trace"]],
    ids=["source", "dot", "trace"],
)
def test_a_reader_that_stops_early_ends_it_quietly(args):
    """`exprgrad 'x*y' | head -c 1`, `--dot | dot` without Graphviz: the pipe closes
    before the output is written; no BrokenPipeError traceback, status 141 as a shell
    gives a command SIGPIPE cut short."""
    process = subprocess.Popen(
        [sys.executable, "-m", "exprgrad", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()  # before the command gets to write anything
    error = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=120) == 141
    assert error == ""


# --- formulas on arrays: --shapes, --emit module at a signature, --at with lists ---------

MLP = "h = tanh(X @ W1 + b1)\nmean((h @ W2 + b2 - y)**2)"
MLP_SHAPES = {"X": (4, 2), "W1": (2, 3), "b1": (3,), "W2": (3,), "b2": (), "y": (4,)}


def shapes_text(shapes: dict[str, tuple[int, ...]]) -> str:
    return ",".join(f"{name}={'x'.join(map(str, shape))}" for name, shape in shapes.items())


def random_nested(shape: tuple[int, ...], rng) -> float | list:
    if not shape:
        return rng.uniform(-1, 1)
    return [random_nested(shape[1:], rng) for _ in range(shape[0])]


def close(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def run_exported(tmp_path: Path, module: str, point: dict) -> dict:
    """The module written to a file and run under python -I -S with a driver appended: its
    value, forward and gradients at the point, as JSON; and whether exprgrad was importable."""
    driver = textwrap.dedent(f"""

        import json as _json, sys as _sys
        try:
            import exprgrad
        except ImportError:
            _isolated = True
        else:
            _isolated = False
        _point = {point!r}
        _args = [_point[name] for name in _INPUTS]
        _value, _grads = value_and_grad(*_args)
        print(_json.dumps({{"isolated": _isolated, "value": _value, "grads": _grads,
                           "forward": forward(*_args),
                           "modules": sorted(m for m in _sys.modules if "exprgrad" in m)}}))
    """)
    path = tmp_path / "exported.py"
    path.write_text(module + driver, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["isolated"], "exprgrad was importable; the check proves nothing"
    assert result["modules"] == []
    return result


@pytest.mark.parametrize(
    ("formula", "shapes"),
    [
        ("sum(X @ W)", {"X": (4, 2), "W": (2, 3)}),
        (MLP, MLP_SHAPES),
        ("sum(log_softmax(Z, 1) * T)", {"Z": (3, 4), "T": (3, 4)}),
        ("norm2(x - c) + s*sum(where(x > 0, x, 0.5*x))", {"x": (5,), "c": (5,), "s": ()}),
    ],
)
def test_emit_module_at_shapes_runs_isolated(formula, shapes, tmp_path, capsys):
    import random

    assert run_main([formula, "--shapes", shapes_text(shapes), "--emit", "module"]) == 0
    module, err = capsys.readouterr()
    assert err == ""
    rng = random.Random(19)
    point = {name: random_nested(shape, rng) for name, shape in shapes.items()}
    result = run_exported(tmp_path, module, point)
    reference = exprgrad.compile(formula, backend="lists")
    value, grads = reference.value_and_grad(**point)
    assert close(result["value"], value)
    assert close(result["forward"], value)
    assert list(result["grads"]) == list(grads) == list(reference.inputs)
    for name, gradient in grads.items():
        assert close(result["grads"][name], gradient), name


def test_emitted_array_module_imports_only_math_and_operator(capsys):
    import ast

    assert run_main([MLP, "--shapes", shapes_text(MLP_SHAPES), "--emit", "module"]) == 0
    tree = ast.parse(capsys.readouterr().out)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            imported.add("__import__")
    assert imported <= {"math", "operator"}
    assert imported  # the check sees the imports there are


def test_shapes_prints_the_code_for_that_signature(capsys):
    assert run_main(["sum(X @ W)", "--shapes", "X=4x2", "--shapes", "W=2x3"]) == 0
    out, _ = capsys.readouterr()
    function = exprgrad.compile("sum(X @ W)")
    zeros = {"X": [[0.0] * 2] * 4, "W": [[0.0] * 3] * 2}
    assert out == function.source_for(**zeros)
    assert "def forward(X, W):" in out and "def value_and_grad(X, W):" in out
    assert "[4x3]" in out  # specialised: X @ W's shape is in the code


def test_shapes_with_wrt(capsys):
    assert run_main(["sum(X @ W)", "--shapes", "X=4x2,W=2x3", "--wrt", "W"]) == 0
    out, _ = capsys.readouterr()
    assert "return t" in out and "{'W': " in out and "'X': " not in out


@pytest.mark.parametrize("scalar", ["b=", "b=scalar", ""])
def test_shapes_of_a_scalar_formula_broadcasts_its_inputs(scalar, tmp_path, capsys):
    formula = "sum(sigmoid(a*x + b))"
    shapes = ",".join(part for part in ("x=5", "a=5", scalar) if part)
    assert run_main([formula, "--shapes", shapes, "--emit", "module"]) == 0
    module = capsys.readouterr().out
    assert "# for inputs of shapes a: 5, x: 5, b: scalar" in module
    point = {"x": [0.1, -0.2, 0.3, 1.5, -2.0], "a": [1.0, 2.0, -1.0, 0.5, 3.0], "b": 0.25}
    result = run_exported(tmp_path, module, point)
    value, grads = exprgrad.compile(formula).value_and_grad(**point)
    assert close(result["value"], value)
    assert all(close(result["grads"][name], grads[name]) for name in grads)


def test_shapes_all_scalar_is_the_scalar_code(capsys):
    assert run_main(["x*y + 1", "--shapes", "x=,y=scalar"]) == 0
    assert capsys.readouterr().out == exprgrad.compile("x*y + 1").source


@pytest.mark.parametrize("argv", [["sum(X @ W)"], ["sum(X @ W)", "--emit", "module"]])
def test_array_formula_without_shapes_asks_for_them(argv, capsys):
    assert run_main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "give them with --shapes, e.g. --shapes X=" in err and ",W=" in err
    example = err.split("e.g. ")[1].split()[1]
    assert run_main([*argv, "--shapes", example]) == 0  # the example works


@pytest.mark.parametrize(
    ("shapes", "fragment"),
    [
        ("Z=3", "unknown Z"),
        ("X=4x2,W=2x3,X=4x2", "'X' twice"),
        ("X=4x0,W=2", "axis of size 0"),
        ("X=-4x2,W=2", "'-4x2' is not a shape (for X)"),
        ("X=four,W=2", "'four' is not a shape (for X)"),
        ("X=4x,W=2", "'4x' is not a shape (for X)"),
        ("X=4x2,W", "NAME=SHAPE pairs"),
        ("X=100000x100000,W=2", "10,000,000,000 elements"),
        ("X=" + "9" * 5000, "is not a shape (for X)"),
    ],
)
def test_bad_shapes_are_usage_errors(shapes, fragment, capsys):
    assert run_main(["sum(X @ W)", "--shapes", shapes]) == 2
    out, err = capsys.readouterr()
    assert out == "" and fragment in err and "Traceback" not in err


def test_shapes_the_formula_cannot_take_are_formula_errors(capsys):
    assert run_main(["sum(X @ W)", "--shapes", "X=4x2,W=3"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("exprgrad: error: shapes (4, 2) and (3,) do not match for @")
    assert "^^^^^" in err  # placed in the formula, as other formula errors are


@pytest.mark.parametrize("flag", ["--ir", "--check", "--latex", "--dot", "--emit c"])
def test_shapes_only_with_the_printed_code(flag, capsys):
    assert run_main(["x*y", "--shapes", "x=3", *flag.split()]) == 2
    assert f"--shapes is for the printed code (the default view, --emit module), not {flag}" in (
        capsys.readouterr().err
    )


def test_shapes_and_at_together_is_a_usage_error(capsys):
    assert run_main(["x*y", "--shapes", "x=3", "--at", "x=1,y=2"]) == 2
    assert "not --at" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--check", "--latex", "--dot", "--svg=out.svg"])
def test_scalar_only_views_of_an_array_formula(flag, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_main(["sum(X @ W)", flag]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "is for scalar formulas, and this one computes with arrays" in err
    assert not (tmp_path / "out.svg").exists()


def test_ir_of_an_array_formula(capsys):
    assert run_main(["sum(X @ W)", "--ir"]) == 0
    out = capsys.readouterr().out
    assert "matmul X W" in out and "outputs: value=" in out


def test_at_takes_json_lists(capsys):
    assert run_main(["sum(X @ W)", "--at", "X=[[1,2],[3,4]], W=[1, -1]"]) == 0
    value, grads = exprgrad.compile("sum(X @ W)").value_and_grad(X=[[1, 2], [3, 4]], W=[1, -1])
    lines = parse_at_output(capsys.readouterr().out)
    assert lines == {
        "value": repr(value),
        "d/dX": repr(grads["X"]),
        "d/dW": repr(grads["W"]),
    }


def test_at_with_lists_for_a_scalar_formula_and_an_array_value(capsys):
    assert run_main(["x*y", "--at", "x=[1,2],y=3"]) == 0
    assert capsys.readouterr().out == "value = [3.0, 6.0]\n"  # no gradient of an array


@pytest.mark.parametrize(
    ("at", "fragment"),
    [
        ("X=[[1,2],[3]],W=[1,2]", "unequal rows"),
        ("X=[[1,2],[3,4]],W=[1,2,3]", "do not match for @"),
        ('X=[["a"]],W=[1]', "'X'"),
        ("X=[1,W=2", "is not a number or a JSON list (for X)"),
    ],
)
def test_bad_list_values_in_at(at, fragment, capsys):
    assert run_main(["sum(X @ W)", "--at", at]) == 2
    out, err = capsys.readouterr()
    assert out == "" and fragment in err and "Traceback" not in err


def test_trace_takes_no_lists(capsys):
    assert run_main(["x*y", "--at", "x=[1,2],y=3", "--trace"]) == 2
    assert "take numbers in --at, not lists" in capsys.readouterr().err


def test_emit_module_of_the_mlp_process(tmp_path):
    done = run_process(MLP, "--shapes", shapes_text(MLP_SHAPES), "--emit", "module")
    assert done.returncode == 0, done.stderr
    assert "def value_and_grad(X, W1, b1, W2, b2, y):" in done.stdout
    missing = run_process(MLP)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "--shapes X=" in missing.stderr


def test_at_with_lists_nested_too_deeply_for_json(capsys):
    assert run_main(["sum(X)", "--at", "X=" + "[" * 100_000]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "is not a number or a JSON list (for X)" in err
