"""The exprgrad command: print the code generated for a formula, or evaluate, check, typeset it.

A formula on arrays (sum(X), X @ W, softmax) computes on nested Python lists, with code
generated for one signature of shapes: --shapes X=4x2,W=2x3,b=3 names it (dimensions
joined by x; a scalar input as s=, s=scalar, or left out), and the default view prints
that code, --emit module a standalone module of it (only math and operator). A scalar
formula takes --shapes too: its inputs broadcast as arrays. --at takes lists as JSON
(X=[[1,2],[3,4]]), and --ir shows an array formula's program; --check, --latex, --dot,
--svg, --trace and --emit c are for scalar formulas.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from typing import Any

from .. import __version__
from ..api import compile as compile_formula
from ..backends.lists.function import ListFunction
from ..backends.lists.spellings import REFUSED as LISTS_REFUSED
from ..backends.python.function import Function
from ..core import pipeline
from ..core.ir import dump
from ..core.lower import lower
from ..core.parsing import parse
from ..errors import (
    ArgumentError,
    EvaluationError,
    FormulaError,
    MissingDependencyError,
    ShapeError,
    shorten,
)

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command a pipe cut short
MAX_ELEMENTS = 10**6  # per --shapes input: the code is the same for any size, zeros are not
_DIMENSIONS = re.compile(r"[0-9]{1,9}(x[0-9]{1,9})*")  # 9 digits: int() stays cheap

_DESCRIPTION = """\
Compile a formula into Python code for its value and reverse-mode gradient,
and print that code.

examples:
  exprgrad 'sigmoid(a*x + b*y + c)'
  exprgrad 'min(1, label*(a*x + b*y + c))' --at a=1,b=-2,c=-1,x=1.2,y=0.7,label=1
  exprgrad -f loss.txt --wrt w1,w2 --check
  echo 'log(1 + x*x)' | exprgrad - --emit module > loss.py
  exprgrad 'sum(X @ W)' --shapes X=4x2,W=2x3
  exprgrad 'h = tanh(X @ W1 + b1); mean((h @ W2 + b2 - y)**2)' \
      --shapes X=8x2,W1=2x4,b1=4,W2=4,b2=,y=8 --emit module > mlp.py
  exprgrad 'sum(W @ x)' --at 'W=[[1,2],[3,4]],x=[1,-1]'
  exprgrad 'log(1 + x*x)' --emit c > loss.c
  exprgrad 'sigmoid(a*x + b*y + c)' --at a=1,b=2,c=-3,x=-1,y=3 --trace --svg graph.svg
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exprgrad",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("formula", nargs="?", help="the formula; '-' reads it from standard input")
    parser.add_argument("-f", "--file", help="read the formula from FILE ('-': standard input)")
    parser.add_argument("--wrt", help="differentiate only these inputs, comma-separated")
    parser.add_argument(
        "--at",
        action="append",
        metavar="NAME=VALUE,...",
        help="evaluate at this point and print the value and the gradient (may be repeated); "
        "an array as JSON: X=[[1,2],[3,4]]",
    )
    parser.add_argument(
        "--shapes",
        action="append",
        metavar="NAME=DxD,...",
        help="the inputs' shapes, for a formula on arrays (nested lists): dimensions joined "
        "by x (X=4x2,b=3), a scalar as s=, s=scalar or left out; the default view prints "
        "the code for those shapes, --emit module a standalone module of it (may be repeated)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="confirm each gradient component against sympy.diff, symbolically or at "
        "points on every side of every kink; exit 0 if all are confirmed, 1 if one "
        "fails, 3 if none fails but some stay undecided (time limit, no point in the "
        "domain, too deep for sympy)",
    )
    parser.add_argument(
        "--latex",
        action="store_true",
        help="print the formula and its partial derivatives as LaTeX (exit 1 if sympy "
        "cannot take the formula)",
    )
    parser.add_argument("--ir", action="store_true", help="print the optimized gradient IR")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="with --at: print every line's value and gradient (d value / d line), the "
        "forward/backward table",
    )
    parser.add_argument(
        "--dot",
        action="store_true",
        help="print the formula's graph as Graphviz DOT: a node per operation, an edge per "
        "operand; with --at, each node's value and gradient",
    )
    parser.add_argument(
        "--svg",
        metavar="FILE",
        help="write that graph as an SVG picture to FILE (laid out by Graphviz's dot when "
        "it and the graphviz package are installed, else by exprgrad); with --at, each "
        "node's value and gradient",
    )
    parser.add_argument(
        "--emit",
        choices=("source", "module", "c"),
        default="source",
        help="source: the generated functions (default); module: a standalone "
        "module that needs only the standard library (for an array formula, at --shapes); "
        "c: a standalone C99 file (exprgrad_value_and_grad, needing only <math.h>) for "
        "embedding",
    )
    parser.add_argument("--version", action="version", version=f"exprgrad {__version__}")
    return parser


def _formula_last(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Move a formula that starts with '-' ('-log(p)', '-3', '-x*y') after a '--'.

    argparse would read it as an option. Any argument starting with a single '-'
    that is not '-' itself, not exactly a short option and not the value of an
    option is taken for the formula.
    """
    options = [
        (option, action.nargs != 0)
        for action in parser._actions
        for option in action.option_strings
    ]
    takes_value = {option for option, value in options if value}
    short = {option for option, _ in options if not option.startswith("--")}
    long = [option for option, _ in options if option.startswith("--")]
    kept: list[str] = []
    formulas: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":  # the rest is positional already
            kept.append(arg)
            break
        if arg.startswith("--"):
            # argparse accepts unique prefixes: '--fi' is '--file'
            matches = (
                [arg] if arg in long else [option for option in long if option.startswith(arg)]
            )
            if len(matches) == 1 and matches[0] in takes_value and index < len(argv):
                kept.extend((arg, argv[index]))
                index += 1
                continue
        elif arg.startswith("-") and arg != "-" and arg not in short:
            # argparse's attached form (-fFILE) names an existing file; anything else
            # starting with '-' is the formula
            if arg[:2] in takes_value and os.path.exists(arg[2:]):
                kept.append(arg)
                continue
            formulas.append(arg)
            continue
        elif arg in takes_value and index < len(argv):
            kept.extend((arg, argv[index]))
            index += 1
            continue
        kept.append(arg)
    if not formulas:
        return argv
    rest = argv[index:]
    if kept and kept[-1] == "--":
        return kept + formulas + rest
    return kept + ["--"] + formulas + rest


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(shorten(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def _read_formula(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    if args.file is not None and args.formula is not None:
        parser.error("give the formula as an argument or with -f, not both")
    source = args.file if args.file is not None else args.formula
    if source is None:
        parser.error("no formula given (pass it as an argument, with -f FILE, or '-' for stdin)")
    if source == "-":
        text = sys.stdin.read()
        return text[1:] if text.startswith("\ufeff") else text  # a byte-order mark from an editor
    if args.file is None:
        return source
    try:
        with open(source, encoding="utf-8-sig") as handle:  # -sig: drops a byte-order mark
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        # strerror alone: str(OSError) repeats the file name, however long it is
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        parser.exit(EXIT_BAD_INPUT, f"exprgrad: cannot read {shorten(source, 200)}: {reason}\n")


def _items(text: str) -> list[str]:
    """Split at the commas outside brackets: X=[[1,2],[3,4]],y=1 is two items."""
    items, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += (char == "[") - (char == "]")
        if char == "," and depth <= 0:
            items.append(text[start:index])
            start = index + 1
    return [*items, text[start:]]


def _parse_point(texts: list[str], parser: argparse.ArgumentParser) -> dict[str, float | list]:
    """Merge every --at into one point; a name given twice, in one --at or in two, is an error."""
    point: dict[str, float | list] = {}
    for text in texts:
        if not text.strip():
            continue  # a formula without inputs: `--at ''`
        for item in _items(text):
            name, equals, value = item.partition("=")
            name = name.strip()
            if not equals or not name:
                parser.error(
                    f"--at wants NAME=VALUE pairs separated by commas, got {shorten(item)!r}"
                )
            if name in point:
                parser.error(f"--at gives {shorten(name)!r} twice")
            try:
                point[name] = json.loads(value) if value.strip()[:1] == "[" else float(value)
            except (ValueError, RecursionError):  # RecursionError: [[[[... nested too deeply
                parser.error(
                    f"--at: {shorten(value.strip())!r} is not a number or a JSON list "
                    f"(for {shorten(name)})"
                )
    return point


def _parse_shapes(
    texts: list[str], inputs: tuple[str, ...], parser: argparse.ArgumentParser
) -> dict[str, tuple[int, ...]]:
    """Every --shapes merged into {input: shape}, one for each input: () where left out."""
    given: dict[str, tuple[int, ...]] = {}
    for text in texts:
        if not text.strip():
            continue  # every input a scalar: `--shapes ''`
        for item in text.split(","):
            name, equals, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if not equals or not name:
                parser.error(
                    "--shapes wants NAME=SHAPE pairs separated by commas (X=4x2,b=3,s=scalar), "
                    f"got {shorten(item)!r}"
                )
            if name in given:
                parser.error(f"--shapes gives {shorten(name)!r} twice")
            if value in ("", "scalar"):
                given[name] = ()
                continue
            if not _DIMENSIONS.fullmatch(value):
                parser.error(
                    f"--shapes: {shorten(value)!r} is not a shape (for {shorten(name)}): "
                    "positive whole numbers joined by x, as 4x2, or scalar"
                )
            shape = given[name] = tuple(int(size) for size in value.split("x"))
            if 0 in shape:  # nested lists lose the axes after an empty one: [] is (0,)
                parser.error(
                    f"--shapes: {shorten(name)} has an axis of size 0; each must be 1 or more"
                )
            if math.prod(shape) > MAX_ELEMENTS:
                parser.error(
                    f"--shapes: {shorten(name)} would have {math.prod(shape):,} elements; "
                    f"at most {MAX_ELEMENTS:,} (the code is the same for any size)"
                )
    known = set(inputs)
    unknown = [name for name in given if name not in known]
    if unknown:
        parser.error(
            f"--shapes: unknown {_names(unknown)} (the inputs: {_names(list(inputs)) or 'none'})"
        )
    return {name: given.get(name, ()) for name in inputs}


def _zeros(shape: tuple[int, ...]) -> float | list:
    """An argument of this shape; the rows are shared, as the code only reads them."""
    value: float | list = 0.0
    for size in reversed(shape):
        value = [value] * size
    return value


def _shapes_hint(function: ListFunction) -> str:
    """An example --shapes for this formula's inputs: all vectors, or all square matrices,
    whichever the formula takes; else a template."""
    for shape in ((3,), (3, 3)):
        try:
            function.source_for(**{name: _zeros(shape) for name in function.inputs})
        except (FormulaError, ShapeError):
            continue
        size = "x".join(map(str, shape))
        return ",".join(f"{name}={size}" for name in function.inputs)
    return ",".join(f"{name}=2x3" for name in function.inputs)


def _check_views(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--trace, --dot and --svg: usage errors for combinations that cannot work."""
    if args.trace and args.at is None:
        parser.error("--trace needs --at NAME=VALUE,... (the point whose lines it shows)")
    printing = [
        flag
        for flag, given in (
            ("--trace", args.trace),
            ("--dot", args.dot),
            ("--check", args.check),
            ("--latex", args.latex),
            ("--ir", args.ir),
            ("--emit module", args.emit == "module"),
            ("--emit c", args.emit == "c"),
        )
        if given
    ]
    if len(printing) > 1 and {"--trace", "--dot"} & set(printing):
        parser.error(f"{printing[0]} and {printing[1]} both print; give one of them")
    if args.shapes is not None:
        others = [flag for flag in printing if flag != "--emit module"]
        others += [flag for flag, given in (("--at", args.at), ("--svg", args.svg)) if given]
        if others:
            parser.error(
                f"--shapes is for the printed code (the default view, --emit module), "
                f"not {others[0]}"
            )


def _array_views(args: argparse.Namespace) -> str | None:
    """The first view asked for that only a scalar formula has, or None."""
    for flag, given in (
        ("--check", args.check),
        ("--latex", args.latex),
        ("--trace", args.trace),
        ("--dot", args.dot),
        ("--svg", args.svg is not None),
        ("--emit c", args.emit == "c"),
    ):
        if given:
            return flag
    return None


def _show(
    function: Function, point: dict[str, float] | None, args: argparse.Namespace
) -> int | None:
    """--svg, --dot, --trace. The exit status, or None when other output is still to come
    (--svg beside --at's value, --check, --latex, --ir or --emit)."""
    if args.svg is None and not args.dot and not args.trace:
        return None
    from .graph import Graph

    try:
        if args.svg is not None or args.dot:
            graph = Graph(function, point)
        if args.svg is not None:
            picture = graph.svg()
            try:
                with open(args.svg, "w", encoding="utf-8") as handle:
                    handle.write(picture)
            except OSError as error:
                reason = error.strerror or error
                print(f"exprgrad: cannot write {shorten(args.svg, 200)}: {reason}", file=sys.stderr)
                return EXIT_BAD_INPUT
        if args.dot:
            print(graph.dot(), end="")
        if args.trace:
            print(function.trace(**point))
    except EvaluationError as error:
        print(f"exprgrad: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    emits = args.emit != "source"
    others = point is not None or args.check or args.latex or args.ir or emits
    return None if args.svg is not None and not args.dot and not args.trace and others else 0


def main(argv: list[str] | None = None) -> int:
    """The command; a reader that stops early (`| head -c 1`, `| dot` without Graphviz)
    ends it quietly with status 141, not a BrokenPipeError traceback."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, not at exit, where the error could only be printed
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull, so the flush at exit finds no pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return status


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(_formula_last(sys.argv[1:] if argv is None else argv, parser))
    _check_views(args, parser)
    formula = _read_formula(args, parser)
    try:
        function = _compiled(formula, args.wrt)
        if args.emit == "c":  # C is for scalar formulas: an array formula's error, placed
            pipeline.forward_and_gradient(formula, args.wrt, None, arrays=False)
    except FormulaError as error:
        print(f"exprgrad: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT

    arrays = getattr(function, "backend", None) in ("lists", "numpy")
    if arrays and _array_views(args) is not None:
        print(
            f"exprgrad: error: {_array_views(args)} is for scalar formulas, and this one "
            "computes with arrays (print its code with --shapes, its program with --ir, "
            "or evaluate it with --at)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.at is not None:
        point = _parse_point(args.at, parser)
        missing = [name for name in function.inputs if name not in point]
        inputs = set(function.inputs)
        unknown = [name for name in point if name not in inputs]
        if missing or unknown:
            problems = ([f"missing {_names(missing)}"] if missing else []) + (
                [f"unknown {_names(unknown)}"] if unknown else []
            )
            listed = _names(list(function.inputs))
            parser.error(f"--at: {'; '.join(problems)} (give NAME=VALUE for each input: {listed})")
        if any(isinstance(value, list) for value in point.values()) and (
            args.trace or args.dot or args.svg is not None
        ):
            parser.error("--trace, --dot and --svg take numbers in --at, not lists")
        shown = _show(function, point, args)
        if shown is not None:
            return shown
        return _evaluate(function, point)
    shown = _show(function, None, args)
    if shown is not None:
        return shown
    if args.check:
        # Each component's line as soon as it is decided: a slow check shows its progress.
        report = function.check(on_component=lambda component: print(component, flush=True))
        print(report.verdict)
        if report.ok:
            return 0
        return EXIT_FAILED if report.failed else 3  # 3: none failed, some undecided
    if args.latex:
        from ..errors import SymbolicError

        try:
            text = function.latex()
        except SymbolicError as error:
            print(f"exprgrad: error: {error}", file=sys.stderr)
            return EXIT_FAILED
        print(text)
        return 0
    if args.ir:
        print(dump(function.program))
        return 0
    if args.emit == "c":  # the same programs the C backend builds; no compiler needed here
        from ..backends.c.codegen import module_source

        print(module_source(function.program), end="")
        return 0
    if args.shapes is None:
        if arrays:
            parser.error(
                "this formula computes with arrays, and its code is generated for their "
                f"shapes: give them with --shapes, e.g. --shapes {_shapes_hint(function)}"
            )
        print(function.module_source() if args.emit == "module" else function.source, end="")
        return 0
    shapes = _parse_shapes(args.shapes, function.inputs, parser)
    point = {name: _zeros(shape) for name, shape in shapes.items()}
    if args.emit == "module" and function.backend == "numpy":
        print(
            "exprgrad: error: --emit module writes code that needs only the standard library, "
            "and convolution and pooling are computed with numpy: print the numpy code "
            "without --emit",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        text = (
            function.module_source(**point)
            if args.emit == "module"
            else function.source_for(**point)
        )
    except (FormulaError, ShapeError) as error:  # the formula's shapes do not fit these
        print(f"exprgrad: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


def _compiled(formula: str, wrt: Any) -> Any:
    """The formula for the Python backend (scalars, or arrays as nested lists), or for
    numpy where it must be: convolution and pooling, which the lists backend refuses."""
    try:
        return compile_formula(formula, wrt=wrt)
    except FormulaError as refused:
        ops = lower(parse(formula)).ops  # (it parsed and lowered: the error came after)
        if not any(op.prim in LISTS_REFUSED for op in ops):
            raise
        try:
            return compile_formula(formula, wrt=wrt, backend="numpy")
        except MissingDependencyError:  # no numpy: the lists backend's refusal stands
            raise refused from None


def _plain(value: Any) -> Any:
    """A numpy result as the lists and floats the other backends give."""
    return value.tolist() if hasattr(value, "tolist") else value


def _evaluate(function: Function | ListFunction, point: dict) -> int:
    """--at: the value and the gradient; a value that is an array, alone (its gradient
    is not defined)."""
    try:
        try:
            value, grads = function.value_and_grad(**point)
        except ShapeError:
            value, grads = function(**point), {}
            if not isinstance(value, list):
                raise  # not the array value's error: the arguments' shapes
    except EvaluationError as error:
        print(f"exprgrad: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (FormulaError, ShapeError, ArgumentError) as error:  # lists of the wrong shapes
        print(f"exprgrad: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"value = {_plain(value)!r}")
    for name, gradient in grads.items():
        print(f"d/d{name} = {_plain(gradient)!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
