"""The exprgrad command: print the code generated for a formula, or evaluate, check, typeset it."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import EvaluationError, FormulaError
from .function import compile as compile_formula

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1

_DESCRIPTION = """\
Compile a formula into Python code for its value and reverse-mode gradient,
and print that code.

examples:
  exprgrad 'sigmoid(a*x + b*y + c)'
  exprgrad 'min(1, label*(a*x + b*y + c))' --at a=1,b=-2,c=-1,x=1.2,y=0.7,label=1
  exprgrad -f loss.txt --wrt w1,w2 --check
  echo 'log(1 + x*x)' | exprgrad - --emit module > loss.py
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
        metavar="NAME=VALUE,...",
        help="evaluate at this point and print the value and the gradient",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="prove each gradient component against sympy; exit 1 if one fails",
    )
    parser.add_argument(
        "--latex",
        action="store_true",
        help="print the formula and its partial derivatives as LaTeX",
    )
    parser.add_argument("--ir", action="store_true", help="print the optimized gradient IR")
    parser.add_argument(
        "--emit",
        choices=("source", "module"),
        default="source",
        help="source: the generated functions (default); module: a standalone "
        "module that needs only the standard library",
    )
    parser.add_argument("--version", action="version", version=f"exprgrad {__version__}")
    return parser


def _read_formula(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    if args.file is not None and args.formula is not None:
        parser.error("give the formula as an argument or with -f, not both")
    source = args.file if args.file is not None else args.formula
    if source is None:
        parser.error("no formula given (pass it as an argument, with -f FILE, or '-' for stdin)")
    if source == "-":
        return sys.stdin.read()
    if args.file is None:
        return source
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        parser.exit(EXIT_BAD_INPUT, f"exprgrad: cannot read {source}: {error}\n")


def _parse_point(text: str, parser: argparse.ArgumentParser) -> dict[str, float]:
    point: dict[str, float] = {}
    if not text.strip():
        return point  # a formula without inputs: `--at ''`
    for item in text.split(","):
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals or not name:
            parser.error(f"--at wants NAME=VALUE pairs separated by commas, got {item!r}")
        if name in point:
            parser.error(f"--at gives {name} twice")
        try:
            point[name] = float(value)
        except ValueError:
            parser.error(f"--at: {value.strip()!r} is not a number (for {name})")
    return point


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    formula = _read_formula(args, parser)
    try:
        function = compile_formula(formula, wrt=args.wrt)
    except FormulaError as error:
        print(f"exprgrad: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if args.at is not None:
        point = _parse_point(args.at, parser)
        missing = [name for name in function.inputs if name not in point]
        unknown = [name for name in point if name not in function.inputs]
        if missing or unknown:
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(unknown)}"] if unknown else []
            )
            inputs = ", ".join(function.inputs)
            parser.error(f"--at: {'; '.join(problems)} (give NAME=VALUE for each input: {inputs})")
        try:
            value, grads = function.value_and_grad(**point)
        except EvaluationError as error:
            print(f"exprgrad: error: {error}", file=sys.stderr)
            return EXIT_FAILED
        print(f"value = {value!r}")
        for name, gradient in grads.items():
            print(f"d/d{name} = {gradient!r}")
        return 0
    if args.check:
        report = function.check()
        print(report)
        return 0 if report.ok else EXIT_FAILED
    if args.latex:
        print(function.latex())
        return 0
    if args.ir:
        print(function.ir)
        return 0
    print(function.module_source() if args.emit == "module" else function.source, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
