"""IR -> C99 source: straight-line code, one value a line, comments quoting the formula.

Names and order are the Python backend's (backends/emit.py, backends/layout.py): a formula
name keeps its name (with a trailing '_' where it would clash with C or <math.h>), other
values are t1, t2, ..., and an op that may fail inside one branch of a `where` is
computed in an `if` block, declared above it. The ABI (both sides rely on it exactly):

    int NAME(const double *in, double *out);
        in[i]: program.inputs[i]; out[0]: the value, out[1 + k]: the k-th gradient entry.
        Returns 0, or 4 * (op_id + 1) + kind for the first op that fails (op_id: its index
        in program.ops; kind: 1 domain error, 2 division by zero, 3 overflow, as
        spellings.CHECKS says).

    double NAME_flat(const double *in, double *grad, int *code);
        NAME, the value returned and the gradient entries in grad[k]; *code is NAME's
        return (the value NaN where it is not 0).

    int NAME_batch(long n, const double *const *columns, const long *steps,
                   double *values, double *grads, int sum, long *failed);
        NAME at each point p: in[i] = columns[i][p * steps[i]]; sum == 0: values[p] and
        grads[k * n + p]; sum != 0: the sums (in point order) in values[0] and grads[k].
        Returns 0, or the failing point's code with *failed = p.

The generated code includes <math.h> only and has no globals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ...core import regions
from ...core.ir import CONST, INPUT, Program, quote
from ...core.primitives import COMPARISON_NAMES
from ..emit import HEADER_LIMIT, Namer
from ..layout import Layout, plan
from . import pieces
from .spellings import KIND_NAMES, checks, spell

COMMENT_COLUMN = 44

# C99 keywords, what <math.h> declares or defines (glibc's extensions and the float and
# long double variants included), and the names the generated functions use themselves
_MATH = (
    "acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 frexp "
    "ilogb ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow sqrt erf "
    "erfc lgamma tgamma ceil floor nearbyint rint lrint llrint round lround llround trunc fmod "
    "remainder remquo copysign nan nextafter nexttoward fdim fmax fmin fma j0 j1 jn y0 y1 yn "
    "gamma drem finite significand exp10 pow10 sincos scalb matherr"
).split()
RESERVED = frozenset(
    (
        "auto break case char const continue default do double else enum extern float for goto "
        "if inline int long register restrict return short signed sizeof static struct switch "
        "typedef union unsigned void volatile while _Bool _Complex _Imaginary "
        "isnan isinf isfinite isnormal signbit fpclassify isgreater isgreaterequal isless "
        "islessequal islessgreater isunordered INFINITY NAN HUGE HUGE_VAL HUGE_VALF HUGE_VALL "
        "float_t double_t math_errhandling MATH_ERRNO MATH_ERREXCEPT DOMAIN SING OVERFLOW "
        "UNDERFLOW TLOSS PLOSS exception unix linux errno "
        "in out grad n columns steps values grads sum failed p i k code scratch bad LANES"
    ).split()
    + _MATH
    + [f + suffix for f in _MATH for suffix in ("f", "l")]
)
_FP_OR_M = re.compile(r"(FP|M)_.*")  # FP_NAN, M_PI, ...


def c_name(python_name: str) -> str:
    """A name from emit.Namer (already clear of generated names) as a C identifier."""
    if python_name in RESERVED or _FP_OR_M.fullmatch(python_name):
        return python_name + "_"
    return python_name


def c_literal(value: float) -> str:
    """A constant as C source that is exactly the same double."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "(-INFINITY)"
    if value != 0.0 and abs(value) < 2.2250738585072014e-308:  # subnormal: exact in hex
        text = float(value).hex()
    else:
        text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


def comment(text: str) -> str:
    """Text that is safe inside /* */: no comment delimiters, no trigraphs."""
    text = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return text.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")


# The helpers generated code calls, with the Python helpers' branches (python/helpers.py).
HELPERS = {
    "_sigmoid": """\
static double _sigmoid(double x)
{
    /* two branches so exp never overflows: sigmoid(-1000) is 0.0 */
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    const double z = exp(x);
    return z / (1.0 + z);
}""",
    "_softplus": """\
static double _softplus(double x)
{
    /* log(1 + exp(x)) = x + log1p(exp(-x)) for x > 0, so softplus(1000) is 1000.0 */
    if (x > 0.0)
        return x + log1p(exp(-x));
    return log1p(exp(x));
}""",
    "_min": """\
static double _min(int n, const double *args)
{
    /* the first of equal arguments wins; NaN anywhere gives NaN */
    double result = args[0];
    for (int i = 1; i < n; i++) {
        if (args[i] < result)
            result = args[i];
        else if (args[i] != args[i])
            return args[i];
    }
    return result;
}""",
    "_max": """\
static double _max(int n, const double *args)
{
    /* the first of equal arguments wins; NaN anywhere gives NaN */
    double result = args[0];
    for (int i = 1; i < n; i++) {
        if (args[i] > result)
            result = args[i];
        else if (args[i] != args[i])
            return args[i];
    }
    return result;
}""",
    "_clip": """\
static double _clip(double x, double lo, double hi)
{
    /* min(max(x, lo), hi) as Python's builtins compute it, but a NaN bound gives NaN too */
    if (lo != lo || hi != hi)
        return lo + hi;
    const double low = lo > x ? lo : x;
    return hi < low ? hi : low;
}""",
}


@dataclass(frozen=True, slots=True)
class CSource:
    """One generated function (and, unless standalone, its batch loop)."""

    source: str
    name: str
    inputs: tuple[str, ...]  # program.inputs: in[i]
    outputs: tuple[str, ...]  # out[1 + k]: the gradient entries (program.grads' keys)
    helpers: tuple[str, ...]  # the static helpers it calls
    names: dict[int, str]  # op id -> its name in the code
    layout: Layout


def c_names(program: Program, layout: Layout) -> dict[int, str]:
    """Each op's name in C: the Python backend's names, C literals, C-safe formula names;
    an inlined comparison is its C expression."""
    names = Namer(program, layout.inlined, lambda prim, operands: "").names
    for i, op in enumerate(program.ops):
        if op.prim == CONST:
            names[i] = c_literal(op.value)
        elif i in layout.inlined:
            names[i] = spell(op.prim, [names[a] for a in op.args])
        else:
            names[i] = c_name(names[i])
    return names


def _condition(region: regions.Region, names: dict[int, str]) -> str:
    """The test of an `if` for the region: `t1 && !t4`, or `t1 || (t3 && t5)`."""
    alternatives = []
    for chain in regions.chains(region):
        terms = [("" if g.taken else "!") + _operand(names[g.condition]) for g in chain.chain()]
        alternatives.append(" && ".join(terms))
    if len(alternatives) == 1:
        return alternatives[0]
    return " || ".join(f"({a})" if " && " in a else a for a in alternatives)


def _operand(name: str) -> str:
    return f"({name})" if " " in name else name


def _runs(layout: Layout, sections: bool) -> list[tuple[str | None, regions.Region, list[int]]]:
    """The ops to write, in runs: (section comment or None, region, ops) - a run of ops in
    the same `if` block, as the Python backend opens and closes them."""
    program = layout.program
    runs: list[tuple[str | None, regions.Region, list[int]]] = []
    in_gradient = None
    for i in layout.order:
        if i in layout.inlined:
            continue
        op, region = program.ops[i], layout.placed[i]
        section = None
        if sections and op.in_gradient != in_gradient:
            in_gradient = op.in_gradient
            section = "backward" if in_gradient else "forward"
        if section is not None or not runs or runs[-1][1] is not region:
            runs.append((section, region, []))
        runs[-1][2].append(i)
    return runs


def _body(layout: Layout, names: dict[int, str], helpers: set[str], sections: bool) -> list[str]:
    program = layout.program
    lines = [f"    const double {names[i]} = in[{k}];" for k, i in _input_ids(program)]
    return lines + run_lines(program, _runs(layout, sections), names, helpers)


def run_lines(
    program: Program, runs: list, names: dict[int, str], helpers: set[str], set_all: bool = False
) -> list[str]:
    """The runs' ops, a line each with its checks, a branch's ops in an `if` block whose
    values are declared above it (set_all: set to 0 there, for code that stores every
    value it computed, taken or not)."""
    lines: list[str] = []
    previous_comment = None
    for section, region, ops in runs:
        if section is not None:
            lines.append(f"    /* {section} */")
            previous_comment = None
        indent = "    "
        if region is not None:
            for kind in ("int", "double"):  # the block's values, read after it
                declared = [names[i] for i in ops if _type(i, program) == kind]
                if declared and set_all:
                    declared = [f"{name} = 0" for name in declared]
                if declared:
                    lines.append(f"    {kind} {', '.join(declared)};")
            lines.append(f"    if ({_condition(region, names)}) {{")
            indent = "        "
            previous_comment = None
        for i in ops:
            op = program.ops[i]
            operands = [names[a] for a in op.args]
            constant = [program.ops[a].prim == CONST for a in op.args]
            expression = spell(op.prim, operands, constant)
            helpers.update(h for h in HELPERS if h + "(" in expression)
            declared = "" if region is not None else f"const {_type(i, program)} "
            code = f"{indent}{declared}{names[i]} = {expression};"
            text = comment(quote(program.source, op))
            if text and text != previous_comment:
                code = f"{code.ljust(COMMENT_COLUMN)}  /* {text} */"
            previous_comment = text
            lines.append(code)
            for condition, kind in checks(op.prim, operands, names[i]):
                code = 4 * (i + 1) + kind
                lines.append(f"{indent}if ({condition}) return {code};  /* {KIND_NAMES[kind]} */")
        if region is not None:
            lines.append("    }")
    return lines


def _type(i: int, program: Program) -> str:
    return "int" if program.ops[i].prim in COMPARISON_NAMES else "double"


def _input_ids(program: Program) -> list[tuple[int, int]]:
    """(position in program.inputs, op id) of each input op."""
    position = {name: k for k, name in enumerate(program.inputs)}
    return [(position[op.name], i) for i, op in enumerate(program.ops) if op.prim == INPUT]


def function_source(program: Program, name: str, *, standalone: bool = False) -> CSource:
    """NAME(in, out) computing program's value and gradient entries (see the module
    docstring), in pieces if it is long (pieces.py); static when standalone (for
    module_source). entries.py writes the functions Python calls around it (NAME_flat,
    NAME_batch)."""
    layout = plan(program)
    names = c_names(program, layout)
    helpers: set[str] = set()
    storage = "static int" if standalone else "int"
    if pieces.needed(program):
        runs = _runs(layout, sections=bool(program.grads))

        def lines_of(group: list) -> list[str]:
            return run_lines(program, group, names, helpers, set_all=True)

        parts, body = pieces.point_lines(layout, runs, names, name, lines_of)
        lines = [*parts[1:], "", f"{storage} {name}(const double *in, double *out)", *body]
    else:
        lines = [f"{storage} {name}(const double *in, double *out)", "{"]
        lines += _body(layout, names, helpers, sections=bool(program.grads))
        outputs = [program.value, *program.grads.values()]
        lines += [f"    out[{k}] = {names[i]};" for k, i in enumerate(outputs)]
        lines += ["    return 0;", "}"]
    return CSource(
        "\n".join(lines) + "\n",
        name,
        program.inputs,
        tuple(program.grads),
        tuple(sorted(helpers)),
        names,
        layout,
    )


def header(formula: str, notes: Sequence[str] = ()) -> str:
    """The comment that opens a generated file: the formula, one line per line, then notes."""
    lines = ["/* generated by exprgrad from:"]
    for text in formula.splitlines():
        text = comment(text[: HEADER_LIMIT + 1])
        if len(text) > HEADER_LIMIT:
            text = text[: HEADER_LIMIT - 3] + "..."
        lines.append(f" *   {text}".rstrip())
    for note in notes:
        lines.append(f" * {comment(note)}".rstrip())
    lines.append(" */")
    return "\n".join(lines) + "\n"


def module(formula: str, functions: Sequence[CSource], notes: Sequence[str] = ()) -> str:
    """A C file: the header, <math.h> (and <stdlib.h> where a batch allocates its blocks),
    the helpers the functions call, the functions."""
    used = sorted({h for f in functions for h in f.helpers})
    includes = "#include <math.h>\n"
    if any("malloc(" in f.source for f in functions):
        includes += "#include <stdlib.h>\n"
    parts = [header(formula, notes), includes]
    parts += [HELPERS[h] + "\n" for h in used]
    parts += [f.source for f in functions]
    return "\n".join(parts)


def _standalone_notes(full: Program, name: str, stdlib: bool) -> list[str]:
    width = max([1, *(len(n) for n in full.inputs)])
    headers = "<math.h> and <stdlib.h> (malloc)" if stdlib else "<math.h>"
    notes = [
        "",
        f"double {name}_value_and_grad(const double *in, double *grad)",
        f"returns the value and writes the gradient. C99, {headers} only: cc -std=c99 -c",
        "(link with -lm). On an evaluation error (log of a non-positive number, division",
        "by zero, overflow in exp, ...) it returns NaN and writes NaN to every grad entry.",
        "",
    ]
    notes += [f"in[{k}]{' ' * (4 - len(str(k)))}= {n}" for k, n in enumerate(full.inputs)]
    notes.append("")
    notes += [
        f"grad[{k}]{' ' * (2 - len(str(k)))}= d value / d {n.ljust(width)}"
        for k, n in enumerate(full.grads)
    ]
    return notes


def module_source(full: Program, name: str = "exprgrad") -> str:
    """A standalone C file (`--emit c`): NAME_value_and_grad(in, grad) -> the value,
    NaN and NaN gradients on an evaluation error; compiles with `cc -std=c99 -c` alone."""
    point = f"{name}_point"
    part = function_source(full, point, standalone=True)
    grads = len(full.grads)
    wrapper = [
        "",
        f"double {name}_value_and_grad(const double *in, double *grad)",
        "{",
        f"    double out[{grads + 1}];",
        f"    const int failed = {point}(in, out);",
    ]
    if grads:
        each = f"for (int k = 0; k < {grads}; k++)"
        wrapper.append(f"    {each} grad[k] = failed ? NAN : out[1 + k];")
    else:
        wrapper.append("    (void)grad;")
    wrapper += ["    return failed ? NAN : out[0];", "}"]
    standalone = CSource(
        part.source + "\n".join(wrapper) + "\n",
        name,
        part.inputs,
        part.outputs,
        part.helpers,
        part.names,
        part.layout,
    )
    notes = _standalone_notes(full, name, "malloc(" in standalone.source)
    return module(full.source, [standalone], notes)
