"""Mutation check: plant one bug at a time in a copy of the repository and run the tests on it.

Each mutant below is one exact substitution (old text, new text) with a description. It names
no file: its file is the one under exprgrad/ or grammar/ that holds the old text, which must
occur exactly once in all of them together, so moving code between modules needs no edit
here. For each, the working tree is copied (the files git tracks or does not ignore) into a
fresh temporary directory, the substitution is made there, and pytest runs in that copy with
PYTHONPATH pointing at it, so the tests and the processes they start import the mutated
package, never the working tree's. First the tests of the mutant's area run (-x); only if
they pass does the rest of the suite run (`-m "not slow"`). A mutant no test catches
SURVIVES: either a test is missing or the mutant cannot change behaviour (then replace it).

tests/test_style.py (ruff) is left out of every run: a mutant caught only by the linter
says nothing about the tests. The working tree itself is never written.

    python benchmarks/mutation.py                 # every mutant, one at a time
    python benchmarks/mutation.py --list          # the mutants, their files and substitutions
    python benchmarks/mutation.py --check-only    # each old text in one file? test files there?
    python benchmarks/mutation.py --only F1,R2    # some of them
    python benchmarks/mutation.py --jobs 2        # in parallel (only on an idle machine)
    python benchmarks/mutation.py --ref HEAD      # a commit instead of the working tree
    python benchmarks/mutation.py --leave-out tests/test_x.py   # skip a file being written

Exit status 1 if a mutant survived, was not applicable (its old text does not occur
exactly once: keep the list in step with the code) or could not be run; 0 otherwise.
--list and --check-only exit 1 if a mutant is not applicable or an area's test file is missing.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Mutant:
    id: str
    area: str
    description: str
    # Found, never named: the one file under the package or the grammar's directory that
    # holds it, exactly once in all of them together (a longer text, rather than a hint).
    old: str
    new: str
    hint: str | None = None  # a fragment of the file's path, only for a text found twice


# Every path below is derived from these names: a restructure edits them only, if anything.
PACKAGE = "exprgrad"  # the package's directory (relative to the root) and import name
GRAMMAR = "grammar"  # the directory of the grammar, searched for old texts with the package
TESTS = "tests"


def tests(*names: str) -> list[str]:
    """The paths of test files tests/test_NAME.py, relative to the repository root."""
    return [f"{TESTS}/test_{name}.py" for name in names]


# The tests run first for each area; the rest of the suite runs only if they pass.
AREA_TESTS = {
    "parser": tests("parsing"),
    "lowering": tests("parsing"),
    "folding": tests("optimize"),
    "reverse": tests("primitives", "reverse", "regions"),
    "codegen": tests("codegen", "function", "primitives"),
    "errors": tests("parsing", "function", "errors"),
    "cli": tests("cli"),
    "numpy": tests("arrays", "numpy_examples"),
    "forward": tests("forward"),
    "interop": tests("interop"),
    "sympy": tests("interop"),
    "gates": tests("gates", "sugar"),
    "tracing": tests("tracing"),
    "regions": tests("regions", "reverse"),
    "train": tests("train"),
    "datasets": tests("datasets"),
    "graph": tests("graph"),
}
LEFT_OUT = tests("style")

# fmt: off
MUTANTS: tuple[Mutant, ...] = (
    # --- parser: the grammar and the parser -----------------------------------------------
    Mutant("P1", "parser",
           "unary minus binds tighter than ** (-x**2 parses as (-x)**2)",
           "?unary: ADD_OP unary               -> sign\n      | power\n"
           "?power: atom POW_OP unary          -> power\n      | atom\n",
           "?unary: power\n?power: signed POW_OP unary -> power\n      | signed\n"
           "?signed: ADD_OP signed -> sign\n       | atom\n"),
    Mutant("P2", "parser",
           "NUMBER uses \\d: digits of other scripts (Arabic-Indic, fullwidth) become numbers",
           r"NUMBER: /([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?/",
           r"NUMBER: /(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?/"),
    Mutant("P3", "parser",
           "';' inside parentheses is dropped like a newline",
           'elif token.type == "_SEP" and depth > 0 and token.value != ";":',
           'elif token.type == "_SEP" and depth > 0:'),
    Mutant("P4", "parser",
           "'empty formula' path: only-';' formulas say 'formula ends early'",
           'if _content_end(source, " \\t\\f\\r\\n;") == 0:',
           'if _content_end(source, " \\t\\f\\r\\n") == 0:'),
    Mutant("P5", "parser",
           "trailing-comment scan by the old regex, (blank|#comment)+ at the end (backtracks)",
           "    end = len(source)\n    last_lf, last_cr = ",
           '    re = __import__("re")  # what the linear scan replaced\n'
           '    return len(re.sub(rf"(?:[{re.escape(blanks)}]|#[^\\r\\n]*)+\\Z", "", source))\n'
           "    end = len(source)\n    last_lf, last_cr = "),
    Mutant("P6", "parser",
           "trailing-comment scan: a comment starts at the last '#' of a line, not the first",
           'comment = source.find("#", line_start, end)',
           'comment = source.rfind("#", line_start, end)'),
    # --- lowering: syntax tree -> ops -----------------------------------------------------
    Mutant("L1", "lowering",
           "a name used before its assignment silently becomes an input",
           "        if node.id in self.assigned_at:\n            at = _where(",
           "        if node.id in self.env:\n            at = _where("),
    Mutant("L2", "lowering",
           "comparisons accepted in every argument of where, not only the condition",
           "stack.append((kids[index], False, is_where and index == 0))",
           "stack.append((kids[index], False, is_where))"),
    Mutant("L3", "lowering",
           "min()/max() with a single argument accepted",
           "if primitive.arity is None and given < 2:",
           "if primitive.arity is None and given < 1:"),
    Mutant("L4", "lowering",
           "alias hints only for the exact spelling ('Ln' no longer suggests log)",
           "for key in (func, lower):",
           "for key in (func,):"),
    Mutant("L5", "lowering",
           "a number too large for a float becomes inf instead of an error",
           "if not math.isfinite(node.value):",
           "if math.isnan(node.value):"),
    # --- folding: constant folding, identities, dead code ---------------------------------
    Mutant("F1", "folding",
           "wrong identity: 0 - x folded to x",
           '        if _is_negative_zero(c[0]):\n            return rewrite("neg", args[1])',
           "        if c[0] == 0.0:\n            return args[1]"),
    Mutant("F2", "folding",
           "signed-zero identity x + 0 -> x reintroduced (turns -0.0 + 0.0 into -0.0)",
           "        if _is_negative_zero(c[1]):\n            return args[0]\n"
           "        if _is_negative_zero(c[0]):\n            return args[1]\n",
           "        if c[1] == 0.0:\n            return args[0]\n"
           "        if c[0] == 0.0:\n            return args[1]\n"),
    Mutant("F3", "folding",
           "pow -> powi (plain **) for non-integer constant exponents too",
           'if prim == "pow" and exponent is not None and exponent.is_integer():',
           'if prim == "pow" and exponent is not None:'),
    Mutant("F4", "folding",
           "the constant folder folds an op that raises (log(-1)) to nan",
           "        return None  # left in place",
           "        return math.nan  # left in place"),
    Mutant("F5", "folding",
           "wrong identity: x * 0 folded to 0 (wrong for nan, inf and negative x)",
           "            if c[mine] == 1.0:\n                return args[other]\n",
           "            if c[mine] == 1.0:\n                return args[other]\n"
           "            if c[mine] == 0.0:\n                return args[mine]\n"),
    Mutant("F6", "folding",
           "a constant NaN condition of where folds to the else branch (NaN is nonzero)",
           "            return args[1] if c[0] else args[2]",
           "            return args[1] if c[0] == c[0] and c[0] else args[2]"),
    Mutant("F7", "folding",
           "dead-code elimination drops unused inputs (changes the signature)",
           "live = [op.prim == INPUT for op in program.ops]",
           "live = [False for op in program.ops]"),
    # --- reverse mode: the derivative rules, regions, the sweep ---------------------------
    Mutant("R1", "reverse",
           "sign flipped in cos's derivative rule",
           '_fn("cos", ("-g * sin(x)",)),',
           '_fn("cos", ("g * sin(x)",)),'),
    Mutant("R2", "reverse",
           "min/max of two: a tie gives each argument the whole gradient (0.5 -> 1.0)",
           'half = builder.op("mul", builder.const(0.5), g)',
           'half = builder.op("mul", builder.const(1.0), g)'),
    Mutant("R3", "reverse",
           "min/max of two: the first tied argument gets everything, the second nothing",
           'builder.op("where", tie, half, builder.op(',
           'builder.op("where", tie, g if a == x else zero, builder.op('),
    Mutant("R4", "reverse",
           "NaN dropped in min/max gradients: the losers of a NaN result get 0",
           'lost = builder.op("where", builder.op("eq", out, out), zero, out)',
           "lost = zero"),
    Mutant("R5", "reverse",
           "where's rule: branches swapped (the branch not taken gets the gradient)",
           '_fn("where", (None, "where(x, g, 0)", "where(x, 0, g)"),',
           '_fn("where", (None, "where(x, 0, g)", "where(x, g, 0)"),'),
    Mutant("R6", "reverse",
           "relu's gradient at x == 0 becomes 1",
           '("where(x > 0, g, out)",),  # out is 0 there',
           '("where(x >= 0, g, out)",),  # out is 0 there'),
    Mutant("R7", "reverse",
           "NaN dropped in relu's gradient (0 instead of NaN for a NaN x)",
           '("where(x > 0, g, out)",),  # out is 0 there',
           '("where(x > 0, g, 0)",),  # out is 0 there'),
    Mutant("R8", "reverse",
           "clip: x gets no gradient at x == lo (open interval at the bottom)",
           '_NAN_OUT.format("where(x >= y, where(x <= z, g, 0), 0)")',
           '_NAN_OUT.format("where(x > y, where(x <= z, g, 0), 0)")'),
    Mutant("R9", "reverse",
           "lazy where broken: placement puts every op at the top level",
           "    if not any(needed):\n        return [None] * len(program.ops)\n",
           "    if True:\n        return [None] * len(program.ops)\n"),
    Mutant("R10", "reverse",
           "need(): the last use of a value decides its region (no union of regions)",
           "needed[arg] = edge if previous is _UNUSED else guards.union(previous, edge)",
           "needed[arg] = edge"),
    Mutant("R11", "reverse",
           "a branch's gradient leaves the branch unguarded (0 * inf = nan comes back)",
           "            for guard in reversed(regions.unsettled(chain, to)):",
           "            for guard in ():"),
    Mutant("R12", "reverse",
           "a contribution made under one chain of an Either region reaches the others "
           "(where(b > 0, a*a, 0) + where(c > 0, a, 0): d/da = 9 at b = -1, c = 1)",
           "    known = known_conditions(region)\n",
           "    known = known_conditions(next(o for o in chains(region) if contains(o, chain)))\n"),
    # --- codegen: the Python backend, its helpers and spellings ---------------------------
    Mutant("C1", "codegen",
           "type guards: only the first input is checked (ints compute exactly, 0 unsigned)",
           "if op.prim == INPUT and op.name not in floats\n    ]",
           "if op.prim == INPUT and op.name not in floats\n    ][:1]"),
    Mutant("C2", "codegen",
           "type guards: _to_float passes any number through (a bool, a numpy scalar)",
           "    if type(value) is int:\n        try:\n            return float(value)",
           "    if True:\n        try:\n            return value + 0"),
    Mutant("C3", "codegen",
           "mangling: keyword names ('lambda') do not get their '_'",
           "    frozenset(keyword.kwlist)\n    | frozenset(keyword.softkwlist)",
           "    frozenset(keyword.softkwlist)"),
    Mutant("C4", "codegen",
           "mangling: formula names ending in '_' are not mangled (x_ meets mangled x)",
           '_GENERATED = re.compile(r"t\\d+|.*_grad|_.*|.*_")',
           '_GENERATED = re.compile(r"t\\d+|.*_grad|_.*")'),
    Mutant("C5", "codegen",
           "-inf literal without parentheses (-math.inf ** 2 is -inf)",
           'return "math.inf" if value > 0 else "(-math.inf)"',
           'return "math.inf" if value > 0 else "-math.inf"'),
    Mutant("C6", "codegen",
           "NaN dropped in min/max of two variables (min(1, nan) style)",
           'return f"{y} if {y} {less} {x} else {x} if {y} == {y} else {y}"',
           'return f"{y} if {y} {less} {x} else {x}"'),
    Mutant("C7", "codegen",
           "NaN dropped in relu's value (relu(nan) is 0.0)",
           '"relu": "0.0 if {0} <= 0.0 else {0}",',
           '"relu": "{0} if {0} > 0.0 else 0.0",'),
    Mutant("C8", "codegen",
           "NaN dropped in the n-ary _max helper",
           "        if arg > result:\n            result = arg\n"
           "        elif arg != arg:\n            return arg\n",
           "        if arg > result:\n            result = arg\n"),
    Mutant("C9", "codegen",
           "_clip: a NaN bound gives x instead of NaN",
           "    if lo != lo or hi != hi:\n        return lo + hi",
           "    if lo != lo or hi != hi:\n        return x"),
    Mutant("C10", "codegen",
           "argument conversion accepts numeric strings ('1.5') and bytes",
           'if not hasattr(type(value), "__float__") or',
           'if not isinstance(value, (str, bytes)) and not hasattr(type(value), "__float__") or'),
    Mutant("C11", "codegen",
           "if-blocks of a where's else branch test the condition, not its negation",
           'terms = [("" if g.taken else "not ") + names[g.condition] for g in chain.chain()]',
           "terms = [names[g.condition] for g in chain.chain()]"),
    # --- errors: positions, error mapping, arguments --------------------------------------
    Mutant("E1", "errors",
           "error.span = None",
           "        self.source = source\n        self.span = span\n",
           "        self.source = source\n        self.span = None\n"),
    Mutant("E2", "errors",
           "error.line and error.column stay None (the message still has them)",
           "            self.line, self.column = line_and_column(source, span.start)\n"
           '            text += f" at line {self.line}, column {self.column}"',
           "            line, column = line_and_column(source, span.start)\n"
           '            text += f" at line {line}, column {column}"'),
    Mutant("E3", "errors",
           "off by one: columns count from 0",
           "return line, offset - starts[line - 1] + 1",
           "return line, offset - starts[line - 1]"),
    Mutant("E4", "errors",
           "lines end only at '\\n' ('\\r' line endings count as one line)",
           '_LINE_END = re.compile(r"\\r\\n|\\r|\\n")',
           '_LINE_END = re.compile(r"\\n")'),
    Mutant("E5", "errors",
           "one caret for every span, however long",
           "width = max(1, min(span.end, end) - span.start)",
           "width = 1"),
    Mutant("X1", "errors",
           "f.value_and_grad wrapped in a lambda (the README says it IS the generated function)",
           'built = self.__dict__["value_and_grad"] = self._runtime.build(name, self.program)',
           'built = self.__dict__["value_and_grad"] = (lambda vg: lambda *a, **k: vg(*a, **k))('
           'self._runtime.build(name, self.program))'),
    Mutant("X2", "errors",
           "the linecache entry is never removed when the Function dies",
           "weakref.finalize(owner, linecache.cache.pop, filename, None)",
           "weakref.finalize(owner, linecache.cache.get, filename, None)"),
    Mutant("X3", "errors",
           "EvaluationError loses its position (no line, column, span or caret)",
           "    return EvaluationError(message, formula, op.span or Span(0, len(formula)))",
           "    return EvaluationError(message)"),
    Mutant("X4", "errors",
           "keyword-named formulas: an argument given twice is accepted (keyword wins)",
           "            if values[position] is not MISSING:\n"
           "                raise ArgumentError(f\"got multiple values for argument '{name}'\")\n",
           ""),
    Mutant("X5", "errors",
           "a single missing argument is not named as missing",
           "    if not missing:\n        return None\n",
           "    if len(missing) < 2:\n        return None\n"),
    Mutant("X6", "errors",
           "retry with all-float arguments raises a new TypeError, not the original error",
           "            raise error  # they were floats already",
           "            raise TypeError('an argument is not a number') from None"
           "  # they were floats already"),
    Mutant("X7", "errors",
           "math domain errors (ValueError) escape raw instead of as EvaluationError",
           "MATH_ERRORS = (ArithmeticError, ValueError)",
           "MATH_ERRORS = (ArithmeticError,)"),
    Mutant("X8", "errors",
           "an int argument too large for a float raises a raw OverflowError",
           "        return _float_arguments(names, args)\n"
           "    except OverflowError as overflow:\n"
           "        raise EvaluationError(str(overflow)) from None\n",
           "        return _float_arguments(names, args)\n"
           "    except OverflowError:\n        raise\n"),
    # --- cli: the command line ------------------------------------------------------------
    Mutant("K1", "cli",
           "--check exits 0 when a component failed",
           "return EXIT_FAILED if report.failed else 3",
           "return 0 if report.failed else 3"),
    Mutant("K2", "cli",
           "--at NAME=VALUE format message replaced by nonsense",
           'f"--at wants NAME=VALUE pairs separated by commas, got {shorten(item)!r}"',
           '"--at: xyzzy"'),
    Mutant("K3", "cli",
           "--at missing/unknown names message replaced by nonsense",
           "parser.error(f\"--at: {'; '.join(problems)} "
           "(give NAME=VALUE for each input: {listed})\")",
           'parser.error("--at: please try again")'),
    Mutant("K4", "cli",
           "an EvaluationError with --at exits 2 instead of 1",
           "        except EvaluationError as error:\n"
           '            print(f"exprgrad: error: {error}", file=sys.stderr)\n'
           "            return EXIT_FAILED\n",
           "        except EvaluationError as error:\n"
           '            print(f"exprgrad: error: {error}", file=sys.stderr)\n'
           "            return EXIT_BAD_INPUT\n"),
    Mutant("K5", "cli",
           "a byte-order mark on standard input is kept",
           'return text[1:] if text.startswith("\\ufeff") else text',
           "return text"),
    Mutant("K6", "cli",
           "--wrt is ignored",
           "compile_formula(formula, wrt=args.wrt)",
           "compile_formula(formula)"),
    Mutant("K7", "cli",
           "a flag before a formula starting with '-' swallows it as its value",
           "if len(matches) == 1 and matches[0] in takes_value and index < len(argv):",
           "if len(matches) == 1 and index < len(argv):"),
    # --- numpy backend: codegen, shapes and dtypes, arrays --------------------------------
    Mutant("N1", "numpy",
           "broadcast gradient summed over the wrong axis when leading dimensions were added",
           "kept = [lead + k for k, n in enumerate(shape) if n == 1 and have[lead + k] != 1]",
           "kept = [k for k, n in enumerate(shape) if n == 1 and have[lead + k] != 1]"),
    Mutant("N2", "numpy",
           "a reduction's gradient expanded along the wrong axis (always a new first axis)",
           "name = f\"{name}[{':, ' * (axis % len(shape))}None]\"",
           'name = f"{name}[None]"'),
    Mutant("N3", "numpy",
           "a float32 input's gradient returned as float64 when it met a float64 operand",
           "        elif specs[i].dtype != dtype:",
           '        elif specs[i].dtype not in (dtype, "float64"):'),
    Mutant("N4", "numpy",
           "float32 wins when float32 meets float64 (precision lost)",
           'return "float64" if "float64" in floats else "float32"',
           'return "float32" if "float32" in floats else "float64"'),
    Mutant("N5", "numpy",
           "counting (sum of a comparison) is float64 in a float32 formula",
           '.dtype == "bool":\n            dtype = working',
           '.dtype == "bool":\n            dtype = "float64"'),
    Mutant("N6", "numpy",
           "the code cache is keyed on shapes, not dtypes (float32 runs float64's code)",
           "key = tuple((a.shape, a.dtype.char) for a in arrays)",
           "key = tuple(a.shape for a in arrays)"),
    Mutant("N7", "numpy",
           "float16 arrays compute in float64, not float32",
           "float32, exactly\n            return array.astype(np.float32)",
           "float32, exactly\n            return array.astype(np.float64)"),
    Mutant("N8", "numpy",
           "non-finite check inverted: finite inputs never raise, non-finite ones do",
           "        if not all(np.isfinite(a).all() for a in arrays):",
           "        if all(np.isfinite(a).all() for a in arrays):"),
    # --- forward mode: tangents, Jacobians, Hessians --------------------------------------
    Mutant("J1", "forward",
           "a tangent keeps only its last argument's part (no sum over arguments)",
           "total = part if total is None else _add(builder, ops, total, part)",
           "total = part"),
    Mutant("J2", "forward",
           "Hessian and Jacobian columns seeded with 2, not 1 (off by a factor)",
           "zero, one = builder.const(0.0), builder.const(1.0)",
           "zero, one = builder.const(0.0), builder.const(2.0)"),
    Mutant("J3", "forward",
           "the Hessian's diagonal is never computed (lower triangle from r > c)",
           "for r in range(c if lower_triangle else 0, len(outputs)):",
           "for r in range(c + 1 if lower_triangle else 0, len(outputs)):"),
    Mutant("J4", "forward",
           "the tangents of where's two branches swapped when merged into one where",
           'return ops.op("where", a.args[0], a.args[1], b.args[2])',
           'return ops.op("where", a.args[0], b.args[2], a.args[1])'),
    # --- interop: flat vectors, tangents, residuals ---------------------------------------
    Mutant("I1", "interop",
           "f.flat takes the vector in input order, not the order of the names given",
           "inputs=names + others)",
           "inputs=tuple(n for n in forward.inputs if n in names) + others)"),
    Mutant("I2", "interop",
           "fixed inputs take their values in keyword order, not input order",
           "[fixed[n] for n in others])",
           "list(fixed.values()))"),
    Mutant("I3", "interop",
           "a name missing from a tangent dict counts as 1, not 0",
           "values = [tangents.get(name, 0.0) for name in wrt]",
           "values = [tangents.get(name, 1.0) for name in wrt]"),
    Mutant("I4", "interop",
           "residuals: spans of later formulas shifted (the joining newline not counted)",
           "offset += len(text) + 1",
           "offset += len(text)"),
    # --- sympy front end: a sympy expression -> formula text ------------------------------
    Mutant("S1", "sympy",
           "sympy's asin mapped to acos",
           '"asin": "asin",',
           '"asin": "acos",'),
    Mutant("S2", "sympy",
           "a Rational written without parentheses (x**(1/3) becomes x ** 1 / 3)",
           'return whole if q == 1 else binary("div", whole, number(float(q)))',
           'return whole if q == 1 else (binary("div", whole, number(float(q)))[0], ATOM)'),
    Mutant("S3", "sympy",
           "Piecewise: the last matching piece wins, not the first",
           "for condition, value in reversed(conditions):",
           "for condition, value in conditions:"),
    Mutant("S4", "sympy",
           "sympy's acosh mapped to exprgrad's asinh",
           '"acosh": "acosh",',
           '"acosh": "asinh",'),
    # --- gates: circuits of gates, sugar, the precedence writer ---------------------------
    Mutant("G1", "gates",
           "ne(a, b) builds an eq gate",
           'BUILDERS["ne"] = _builder("ne")',
           'BUILDERS["ne"] = _builder("eq")'),
    Mutant("G2", "gates",
           "a power as the base of ** written without parentheses ((a**b)**c as a**b**c)",
           "return operand <= POWER if side == LEFT else operand < UNARY",
           "return operand < POWER if side == LEFT else operand < UNARY"),
    Mutant("G3", "gates",
           "a sum on the right of - written without parentheses (a - (b - c) as a - b - c)",
           "return operand < level if side == LEFT else operand <= level",
           "return operand < level if side == LEFT else operand < level"),
    Mutant("G4", "gates",
           "backprop(grad=...) ignores grad unless it is 1",
           'scaled = [f"        {gate} = {adjoint} * grad" for gate, adjoint in adjoints]',
           'scaled = [f"        {gate} = {adjoint}" for gate, adjoint in adjoints]'),
    Mutant("G5", "gates",
           "backprop recomputes only when nothing changed (guard inverted)",
           'f"    if _arguments != {args}:  # new values since compute(): compute again",',
           'f"    if _arguments == {args}:  # new values since compute(): compute again",'),
    Mutant("G6", "gates",
           "update(lr) moves parameters against the gradient",
           "        for param in self.params:\n            param.val += lr * param.grad",
           "        for param in self.params:\n            param.val -= lr * param.grad"),
    # --- tracing: the trace table ---------------------------------------------------------
    Mutant("T1", "tracing",
           "a trace row's gradient taken from the line above",
           "Row(names[i], quote(formula, ops[i]), values[k], adjoints[k])",
           "Row(names[i], quote(formula, ops[i]), values[k], adjoints[k - 1])"),
    Mutant("T2", "tracing",
           "a long table's count of elided lines counts one end only",
           "len(self.rows) - 2 * _SHOWN, self.rows[-_SHOWN:]",
           "len(self.rows) - _SHOWN, self.rows[-_SHOWN:]"),
    # --- regions: where a value is needed -------------------------------------------------
    Mutant("W1", "regions",
           "a branch of where is needed under the other branch's condition",
           "edge = guards.child(region, op.args[0], k == 1)",
           "edge = guards.child(region, op.args[0], k == 2)"),
    Mutant("W2", "regions",
           "a value needed in several branches knows every branch's conditions (union)",
           "{c: t for c, t in known.items() if mine.get(c) == t}",
           "known | mine"),
    Mutant("W3", "regions",
           "a chain is cut at any later condition, not only one computed from the op",
           "if guard.condition > i and _depends_on(program, guard.condition, i):",
           "if guard.condition > i:"),
    # --- training: optimisers, initialisers, schedules, fitting ---------------------------
    Mutant("O1", "train",
           "SGD on floats steps up the gradient (sign flipped)",
           "        return value - lr * grad\n",
           "        return value + lr * grad\n"),
    Mutant("O2", "train",
           "Adam on floats without bias correction of the first moment",
           "return value - lr / (1.0 - beta1**t) * m / denominator",
           "return value - lr * m / denominator"),
    Mutant("O3", "train",
           "Adam on arrays without bias correction of the second moment",
           "        scratch /= math.sqrt(1.0 - beta2**t)\n",
           ""),
    Mutant("O4", "train",
           "Xavier bound of a float parameter from fan_in only",
           'fans = _fan(fan_in, "fan_in") + (_fan(fan_out, "fan_out") if with_out else 0.0)',
           'fans = _fan(fan_in, "fan_in")'),
    Mutant("O5", "train",
           "momentum misapplied on arrays: the new gradient is scaled by momentum too",
           "            velocity *= self.momentum\n            velocity += grad\n",
           "            velocity += grad\n            velocity *= self.momentum\n"),
    Mutant("O6", "train",
           "an epoch schedule is called with the next epoch (off by one)",
           "lr = _scheduled(schedule, epoch) if schedule",
           "lr = _scheduled(schedule, epoch + 1) if schedule"),
    Mutant("O7", "train",
           "patience waits one epoch too many",
           "epoch - (history.best_epoch or 0) >= patience:",
           "epoch - (history.best_epoch or 0) > patience:"),
    Mutant("O8", "train",
           "StepDecay decays one epoch early",
           "return self.lr * self.gamma ** (t // self.every)",
           "return self.lr * self.gamma ** ((t + 1) // self.every)"),
    Mutant("O9", "train",
           "Cosine keeps going past total (no floor afterwards)",
           "progress = min(t, self.total) / self.total",
           "progress = t / self.total"),
    # --- data sets: loaders and preprocessing ---------------------------------------------
    Mutant("D1", "datasets",
           "one_hot puts each 1 one column to the left (label offset by one)",
           "result[np.arange(len(labels)), labels] = 1",
           "result[np.arange(len(labels)), labels - 1] = 1"),
    Mutant("D2", "datasets",
           "standardize uses the statistics of every array, test sets included",
           "mean, std = first.mean(axis=0), first.std(axis=0)",
           "mean, std = np.concatenate(arrays).mean(axis=0), np.concatenate(arrays).std(axis=0)"),
    Mutant("D3", "datasets",
           "standardize fills NaNs with medians of every array, test sets included",
           "medians = np.nanmedian(first, axis=0)",
           "medians = np.nanmedian(np.concatenate(arrays), axis=0)"),
    Mutant("D4", "datasets",
           "IDX dimensions read little-endian",
           'int.from_bytes(dims_bytes[i : i + 4], "big")',
           'int.from_bytes(dims_bytes[i : i + 4], "little")'),
    Mutant("D5", "datasets",
           "MNIST labels up to 10 accepted (guard off by one)",
           "bad = np.flatnonzero((labels < 0) | (labels > 9))",
           "bad = np.flatnonzero((labels < 0) | (labels > 10))"),
    # --- graph: the graph view ------------------------------------------------------------
    Mutant("V1", "graph",
           "gradient view: adjoint nodes labelled with the forward value of their op",
           "value = numbers[of][1]",
           "value = numbers[of][0]"),
    Mutant("V2", "graph",
           "gradient view: the first gradient op is put in the forward part",
           "part = FORWARD if i < split else GRADIENT",
           "part = FORWARD if i <= split else GRADIENT"),
    Mutant("V3", "graph",
           "an input node's gradient shows its value",
           "numbers[i] = (trace.values[op.name], trace.grads[op.name])",
           "numbers[i] = (trace.values[op.name], trace.values[op.name])"),
)
# fmt: on


# --- copies ---------------------------------------------------------------------------------


def working_tree_files() -> list[str]:
    """The files of the working tree as git sees them: tracked, or untracked and not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(name for name in set(listed.split("\0")) if name and (ROOT / name).is_file())


def snapshot(target: Path, ref: str | None) -> None:
    """Copy the working tree (or commit `ref`) once; every mutant starts from this copy, so
    all see one state even while the working tree is being edited."""
    if ref is not None:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
                tar.extractall(target, filter="data")
            else:
                tar.extractall(target)  # our own repository's archive
        return
    for name in working_tree_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)


# --- finding a mutant's file ----------------------------------------------------------------


@functools.cache
def sources(tree: Path) -> dict[str, str]:
    """The text of every file an old text is looked for in, by path relative to the tree: the
    package's modules and the grammar's directory. Read once per tree (mutants edit copies)."""
    modules = sorted((tree / PACKAGE).rglob("*.py"))
    grammar = sorted(path for path in (tree / GRAMMAR).rglob("*") if path.is_file())
    return {
        path.relative_to(tree).as_posix(): path.read_text(encoding="utf-8")
        for path in modules + grammar
    }


def locate(text: str, tree: Path, hint: str | None = None) -> tuple[str | None, str | None]:
    """(the path of the one file holding `text`, None), or (None, why there is no one file):
    the text must occur exactly once in the package and the grammar together (in the files
    whose path contains `hint`, if given)."""
    found = [
        path
        for path, source in sources(tree).items()
        if hint is None or hint in path
        for _ in range(source.count(text))
    ]
    if len(found) == 1:
        return found[0], None
    scope = f"{PACKAGE}/ and {GRAMMAR}/" + (f" (paths containing {hint!r})" if hint else "")
    where = f": {', '.join(sorted(set(found)))}" if found else ""
    return None, f"old text occurs {len(found)} times under {scope}{where}"


def mutate(mutant: Mutant, path: str, tree: Path) -> None:
    file = tree / path
    text = file.read_text(encoding="utf-8")
    file.write_text(text.replace(mutant.old, mutant.new, 1), encoding="utf-8")


def missing_tests(tree: Path) -> list[str]:
    """The areas' test files that do not exist in the tree."""
    named = {path for paths in AREA_TESTS.values() for path in paths}
    return sorted(path for path in named if not (tree / path).is_file())


def environment(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)  # in-process imports and the tests' subprocesses alike
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("EXPRGRAD_UPDATE_GOLDEN", None)  # would rewrite the golden files, not compare
    return env


# --- running pytest -------------------------------------------------------------------------

_FIRST_FAILURE = re.compile(r"^(?:FAILED|ERROR) (\S+?(?:\[.*?\])?)(?= - |$)", re.MULTILINE)


@dataclass(slots=True)
class Run:
    status: int | None  # pytest's exit status; None: timed out
    output: str

    def first_failure(self) -> str:
        if self.status is None:
            return "timeout"
        match = _FIRST_FAILURE.search(self.output)
        if match:
            return match.group(1)
        last = self.output.strip().splitlines()[-1:] or [""]
        return f"pytest exit status {self.status}: {last[0][:80]}"


_RUNNING: set[subprocess.Popen] = set()  # pytest runs under way, each its own process group
_RUNNING_LOCK = threading.Lock()


def stop_running() -> None:
    """End the pytest runs this script started (and what they started), by process group."""
    with _RUNNING_LOCK:
        for process in _RUNNING:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)


def pytest(python: str, tree: Path, args: list[str], timeout: float) -> Run:
    command = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
    command += [f"--ignore={path}" for path in LEFT_OUT] + args
    process = subprocess.Popen(
        command,
        cwd=tree,
        env=environment(tree),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a timeout ends the tests' children
    )
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return Run(None, output)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
    return Run(process.returncode, output)


@dataclass(slots=True)
class Result:
    mutant: Mutant
    path: str | None  # the mutated file; None if no one file holds the old text
    outcome: str  # "killed", "SURVIVED", "NOT APPLICABLE"
    detail: str  # the first failing test id, or why
    seconds: float


def run_mutant(mutant: Mutant, base: Path, work: Path, python: str, timeout: float) -> Result:
    start = time.perf_counter()
    path, problem = locate(mutant.old, base, mutant.hint)
    if path is None:
        return Result(mutant, None, "NOT APPLICABLE", problem, 0.0)
    tree = Path(tempfile.mkdtemp(prefix=f"{mutant.id}-", dir=work))
    try:
        shutil.copytree(base, tree, dirs_exist_ok=True)
        mutate(mutant, path, tree)
        subset = [path for path in AREA_TESTS[mutant.area] if path not in LEFT_OUT]
        run = pytest(python, tree, subset, timeout) if subset else Run(0, "")
        if run.status == 0:
            run = pytest(python, tree, [f"--ignore={path}" for path in subset], timeout)
        if run.status == 0:
            return Result(mutant, path, "SURVIVED", "", time.perf_counter() - start)
        return Result(mutant, path, "killed", run.first_failure(), time.perf_counter() - start)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


# --- start-up checks ------------------------------------------------------------------------

_GRAMMAR_READER = "def grammar_text("  # the function that reads the grammar, found like old


def check_isolation(base: Path, work: Path, python: str) -> None:
    """A mutated copy is what a subprocess with the tests' environment imports, grammar too."""
    reader, problem = locate(_GRAMMAR_READER, base)
    if reader is None:
        sys.exit(f"mutation: no one module reads the grammar ({_GRAMMAR_READER!r}): {problem}")
    module = reader.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    tree = work / "sentinel"
    shutil.copytree(base, tree)
    with open(tree / PACKAGE / "__init__.py", "a", encoding="utf-8") as handle:
        handle.write('\n_MUTATION_SENTINEL = "mutated"\n')
    for grammar in (tree / GRAMMAR).rglob("*.lark"):
        with open(grammar, "a", encoding="utf-8") as handle:
            handle.write("\n// mutation sentinel\n")
    where_imported = (
        f"import {PACKAGE}, {module}; "
        f"print({PACKAGE}.__file__); "
        f"print(getattr({PACKAGE}, '_MUTATION_SENTINEL', 'no sentinel')); "
        f"print('mutation sentinel' in {module}.grammar_text())"
    )
    elsewhere = work / "elsewhere"  # not the copy: the import must come from PYTHONPATH
    elsewhere.mkdir()
    done = subprocess.run(
        [python, "-c", where_imported],
        cwd=elsewhere,
        env=environment(tree),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stdout.split("\n")
    expected = str((tree / PACKAGE / "__init__.py").resolve())
    if done.returncode != 0 or lines[:3] != [expected, "mutated", "True"]:
        sys.exit(
            "mutation: a mutated copy is not what the tests would import\n"
            f"expected {expected}, 'mutated', 'True'; got:\n{done.stdout}{done.stderr}"
        )
    print(f"isolation: a subprocess imports {expected} and its grammar")
    shutil.rmtree(tree)


def check_baseline(base: Path, work: Path, python: str, timeout: float) -> float:
    tree = work / "baseline"
    shutil.copytree(base, tree)
    start = time.perf_counter()
    run = pytest(python, tree, [], timeout)
    seconds = time.perf_counter() - start
    if run.status != 0:
        sys.exit(
            "mutation: the unmutated copy does not pass the tests; fix that first\n"
            f"first failure: {run.first_failure()}\n{run.output[-6000:]}"
        )
    summary = run.output.strip().splitlines()[-1] if run.output.strip() else ""
    print(f"baseline: the unmutated copy passes ({summary.strip('= ')}, {seconds:.0f} s)")
    shutil.rmtree(tree)
    return seconds


# --- command line ---------------------------------------------------------------------------


def default_python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def print_list(mutants: list[Mutant], substitutions: bool) -> int:
    """Each mutant's file (found in the working tree) and, if asked, its substitution; with
    the mutants no one file holds and the areas' missing test files. 1 if any, else 0."""
    bad = 0
    for mutant in mutants:
        path, problem = locate(mutant.old, ROOT, mutant.hint)
        bad += path is None
        if substitutions or path is None:
            print(f"{mutant.id:<4} {mutant.area:<8} {path or '?'}: {mutant.description}")
        if path is None:
            print(f"     NOT APPLICABLE: {problem}")
        if not substitutions:
            continue
        for sign, text in (("-", mutant.old), ("+", mutant.new)):
            for line in text.rstrip("\n").split("\n") if text else [""]:
                print(f"     {sign} {line}")
    missing = missing_tests(ROOT)
    for path in missing:
        print(f"missing test file: {path}")
    counts = {area: sum(m.area == area for m in mutants) for area in AREA_TESTS}
    print(f"{len(mutants)} mutants: " + ", ".join(f"{a} {n}" for a, n in counts.items() if n))
    print(f"{len(mutants) - bad} found in one file each, {bad} not applicable")
    return 1 if bad or missing else 0


def print_table(results: list[Result]) -> None:
    width = max(len(r.mutant.description) for r in results)
    verdicts = [
        r.detail if r.outcome == "killed" else f"{r.outcome}{': ' + r.detail if r.detail else ''}"
        for r in results
    ]
    verdict_width = max(len(v) for v in verdicts)
    print(f"\n{'id':<4} {'area':<8} {'description':<{width}}  {'killed by':<{verdict_width}}  s")
    for result, verdict in zip(results, verdicts, strict=True):
        m = result.mutant
        print(
            f"{m.id:<4} {m.area:<8} {m.description:<{width}}  {verdict:<{verdict_width}}"
            f"  {result.seconds:.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="only check that each mutant's old text is in one file and the test files exist",
    )
    parser.add_argument("--only", metavar="ID[,ID]", help="run only these mutants")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--python", default=default_python(), help="the interpreter for pytest")
    parser.add_argument(
        "--ref", help="mutate this git commit (e.g. HEAD) instead of the working tree"
    )
    parser.add_argument(
        "--leave-out",
        action="append",
        default=[],
        metavar="PATH",
        help="also leave this test file out of every run (one under construction); "
        "the report should say so",
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds for one pytest run (default 600)"
    )
    args = parser.parse_args(argv)

    ids = [m.id for m in MUTANTS]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates or any(m.area not in AREA_TESTS for m in MUTANTS):
        sys.exit(f"mutation: duplicate ids {duplicates} or an unknown area in the list")
    mutants = list(MUTANTS)
    if args.only:
        wanted = [i.strip() for i in args.only.split(",") if i.strip()]
        unknown = [i for i in wanted if i not in ids]
        if unknown:
            sys.exit(f"mutation: unknown mutant id(s) {', '.join(unknown)}")
        mutants = [m for m in MUTANTS if m.id in wanted]
    if args.list or args.check_only:
        return print_list(mutants, substitutions=args.list)

    LEFT_OUT.extend(args.leave_out)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f"{PACKAGE}-mutation-"))
    # SIGTERM unwinds like Ctrl-C, so the finally below ends the runs and removes the copies
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("mutation: terminated"))
    try:
        base = work / "base"
        base.mkdir()
        snapshot(base, args.ref)
        if missing_tests(base):
            sys.exit(f"mutation: missing test file(s) {', '.join(missing_tests(base))}")
        for mutant in mutants:
            path, problem = locate(mutant.old, base, mutant.hint)
            if path is None:
                print(f"NOT APPLICABLE: {mutant.id}: {problem}")
        check_isolation(base, work, args.python)
        check_baseline(base, work, args.python, args.timeout)

        results: dict[str, Result] = {}
        lock = threading.Lock()

        def one(mutant: Mutant) -> None:
            result = run_mutant(mutant, base, work, args.python, args.timeout)
            with lock:
                results[mutant.id] = result
                verdict = result.detail if result.outcome == "killed" else result.outcome
                print(
                    f"[{len(results)}/{len(mutants)}] {mutant.id} ({result.path}): {verdict} "
                    f"({result.seconds:.0f} s)",
                    flush=True,
                )

        pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
        try:
            list(pool.map(one, mutants))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # on Ctrl-C: start no more
    finally:
        stop_running()
        shutil.rmtree(work, ignore_errors=True)

    ordered = [results[m.id] for m in mutants]
    print_table(ordered)
    survived = [r.mutant.id for r in ordered if r.outcome == "SURVIVED"]
    skipped = [r.mutant.id for r in ordered if r.outcome == "NOT APPLICABLE"]
    killed = len(ordered) - len(survived) - len(skipped)
    print(f"\ntest files left out of every run: {', '.join(LEFT_OUT)}")
    print(
        f"{len(ordered)} mutants: {killed} killed, {len(survived)} survived"
        f"{' (' + ', '.join(survived) + ')' if survived else ''}, "
        f"{len(skipped)} not applicable{' (' + ', '.join(skipped) + ')' if skipped else ''}; "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    if skipped:
        print("NOT APPLICABLE mutants: update their old text to the current code", file=sys.stderr)
    return 1 if survived or skipped else 0


if __name__ == "__main__":
    raise SystemExit(main())
