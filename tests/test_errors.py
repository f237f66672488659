"""One error family: every error exprgrad raises on purpose is an exprgrad.Error."""

import ast
import pathlib

import pytest

import exprgrad
from exprgrad import errors

PACKAGE = pathlib.Path(exprgrad.__file__).parent

# Raised on purpose but not exprgrad's: internal invariants (a bug, not a user's mistake),
# abstract methods, the CLI's exit, the grammar file missing from a broken install, and the
# helpers that --emit module pastes into standalone modules (function.py converts theirs).
NOT_OURS = {
    "AssertionError",
    "NotImplementedError",
    "SystemExit",
    "FileNotFoundError",
}
STANDALONE = {"helpers.py"}


def _raised_names(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            if isinstance(func, ast.Name):
                yield func.id, node.lineno


def test_every_raised_class_is_in_the_family():
    family = {
        name
        for module in (errors, exprgrad)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, errors.Error)
    } | {"DatasetError", "NonFiniteLossError"}
    strays = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in STANDALONE:
            continue
        for name, line in _raised_names(ast.parse(path.read_text())):
            builtin = name[:1].isupper() and name not in family and name not in NOT_OURS
            if builtin and not name.startswith("_") and name != "TooLarge":
                strays.append(f"{path.name}:{line} raises {name}")
    assert not strays, "\n".join(strays)


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (exprgrad.FormulaError, ValueError),
        (exprgrad.EvaluationError, ValueError),
        (exprgrad.SymbolicError, ValueError),
        (exprgrad.ShapeError, ValueError),
        (exprgrad.ArgumentError, TypeError),
        (exprgrad.ArgumentValueError, ValueError),
        (exprgrad.MissingDependencyError, ImportError),
    ],
)
def test_each_class_keeps_its_builtin_base(cls, base):
    assert issubclass(cls, exprgrad.Error)
    assert issubclass(cls, base)


def test_dataset_and_training_errors_join_the_family():
    datasets = pytest.importorskip("exprgrad.datasets")
    train = pytest.importorskip("exprgrad.train")
    assert issubclass(datasets.DatasetError, exprgrad.Error)
    assert issubclass(train.NonFiniteLossError, exprgrad.Error)


@pytest.mark.parametrize(
    "call",
    [
        lambda: exprgrad.compile("a +"),
        lambda: exprgrad.compile("log(x)").value_and_grad(x=-1.0),
        lambda: exprgrad.compile("x*y")("one", 2.0),
        lambda: exprgrad.compile("x*y")(1.0),
        lambda: exprgrad.compile("x", backend="fortran"),
        lambda: exprgrad.compile("x*y").flat(["x", "q"], y=1.0),
        lambda: exprgrad.compile("x*y").flat(["x"], y="a"),
        lambda: exprgrad.compile("x*y").flat(["x"], y=1.0)([1.0, 2.0]),
        lambda: exprgrad.compile(42),
    ],
)
def test_except_exprgrad_error_catches_what_users_trigger(call):
    # (An unexpected keyword stays Python's own TypeError: f(...) is the generated function
    # itself, with no wrapper to translate it.)
    with pytest.raises(exprgrad.Error):
        call()
