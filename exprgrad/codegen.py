"""IR -> Python source: straight-line code, one named value per line, comments quoting the formula.

Names: a formula name keeps its name, other values are t1, t2, ... in order,
and the gradient of v is v_grad. Any formula name that could clash with
Python or with a generated name (keywords, builtins, math, names starting or
ending with '_', t<digits>, names ending in _grad) gets a trailing '_', so
formula names and generated names can never meet. Constants are written
with repr(), so they round-trip exactly. The same program always gives the
same bytes.
"""

from __future__ import annotations

import builtins
import inspect
import keyword
import math
import re
import textwrap
from collections import Counter
from dataclasses import dataclass

from .errors import line_and_column
from .helpers import HELPERS
from .ir import CONST, INPUT, Op, Program
from .primitives import BY_NAME, COMPARISON_NAMES

_RESERVED = (
    frozenset(keyword.kwlist)
    | frozenset(keyword.softkwlist)
    | frozenset(dir(builtins))
    | {"math", "np", "forward", "value_and_grad"}
)
_GENERATED = re.compile(r"t\d+|.*_grad|_.*|.*_")

# Int operands give int results in Python arithmetic, and selecting ops return an
# operand as it is. Outputs that may be ints pass through float(), so callers
# always get floats.
_ARITHMETIC_KEEPS_INT = frozenset({"add", "sub", "mul", "neg", "abs"})
_SELECTS = frozenset({"relu", "min", "max", "clip", "where"})

COMMENT_COLUMN = 32
_QUOTE_LIMIT = 48
_HEADER_LIMIT = 96
_LINE_LIMIT = 100


def mangle(name: str) -> str:
    """The Python identifier for a formula name; injective, never a generated or reserved name."""
    if name in _RESERVED or _GENERATED.fullmatch(name):
        return name + "_"
    return name


def literal(value: float) -> str:
    """A constant as Python source that evaluates to exactly the same float."""
    if math.isnan(value):
        return "math.nan"
    if math.isinf(value):
        return "math.inf" if value > 0 else "(-math.inf)"
    text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


def quote(source: str, op: Op) -> str:
    """The formula text behind an op, on one line; long text is cut and located."""
    if op.span is None:
        return ""
    # Look at a bounded window only, so long spans (a 100,000-term sum) cost no more.
    window_end = min(op.span.end, op.span.start + 4 * _QUOTE_LIMIT)
    text = " ".join(source[op.span.start : window_end].split())
    if not (text.isascii() and text.isprintable()):  # a comment must stay one line
        text = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    if window_end < op.span.end or len(text) > _QUOTE_LIMIT:
        line, column = line_and_column(source, op.span.start)
        text = f"{text[: _QUOTE_LIMIT - 8]}... ({line}:{column})"
    return text


@dataclass(frozen=True, slots=True)
class Generated:
    source: str
    params: tuple[str, ...]  # Python parameter names, in the order of the formula's inputs
    line_ops: dict[int, Op]  # 1-based source line -> the op computed there
    helpers: tuple[str, ...]  # helper functions the code calls


def _inline_conditions(program: Program) -> set[int]:
    """Comparisons whose one use is as a where's condition: written into that line
    (`g if t4 > 0.0 else 0.0`), which reads better and saves a store and a load."""
    uses = Counter(program.outputs())
    for op in program.ops:
        uses.update(op.args)
    return {
        op.args[0]
        for op in program.ops
        if op.prim == "where"
        and program.ops[op.args[0]].prim in COMPARISON_NAMES
        and uses[op.args[0]] == 1
    }


class _Namer:
    def __init__(self, program: Program):
        self.names: dict[int, str] = {}
        self.may_be_int: list[bool] = []
        self.inlined = _inline_conditions(program)
        counter = 0
        for i, op in enumerate(program.ops):
            if i in self.inlined:
                operands = [self.names[a] for a in op.args]
                self.names[i] = BY_NAME[op.prim].emit_python(operands)
            elif op.prim == INPUT:
                self.names[i] = mangle(op.name)
            elif op.prim == CONST:
                self.names[i] = literal(op.value)
            elif op.name is not None and not op.in_gradient:
                self.names[i] = mangle(op.name)
            elif op.in_gradient and program.grad_of.get(i, i) < i:
                # (hash-consing can make an earlier op the adjoint of a later one: no name then)
                self.names[i] = self.names[program.grad_of[i]] + "_grad"
            else:
                counter += 1
                self.names[i] = f"t{counter}"
            operands = [
                self.may_be_int[a] for a in (op.args[1:] if op.prim == "where" else op.args)
            ]
            self.may_be_int.append(
                op.prim == INPUT
                or op.prim in _ARITHMETIC_KEEPS_INT
                and all(operands)
                or op.prim in _SELECTS
                and any(operands)
            )

    def output(self, op_id: int) -> str:
        name = self.names[op_id]
        return f"float({name})" if self.may_be_int[op_id] else name


def _statements(
    program: Program,
    namer: _Namer,
    start_line: int,
    indent: str,
    line_ops: dict[int, Op],
    helpers: set[str],
    sections: bool,
) -> list[str]:
    lines = []
    previous_comment = None
    in_gradient = None
    for i, op in enumerate(program.ops):
        if op.prim in (INPUT, CONST) or i in namer.inlined:
            continue
        if sections and op.in_gradient != in_gradient:
            in_gradient = op.in_gradient
            lines.append(f"{indent}# {'backward' if in_gradient else 'forward'}")
            previous_comment = None
        primitive = BY_NAME[op.prim]
        operands = [namer.names[a] for a in op.args]
        expression = primitive.emit_python(operands)
        helpers.update(h for h in HELPERS if h + "(" in primitive.python)
        code = f"{indent}{namer.names[i]} = {expression}"
        comment = quote(program.source, op)
        if comment and comment != previous_comment:
            code = f"{code.ljust(COMMENT_COLUMN)}  # {comment}"
        previous_comment = comment
        line_ops[start_line + len(lines)] = op
        lines.append(code)
    return lines


def python_source(forward: Program, full: Program, *, standalone: bool = False) -> Generated:
    """Source defining forward(...) -> value and value_and_grad(...) -> (value, {name: grad}).

    Unless standalone, each body sits in a try block whose handler turns math
    errors into exprgrad's EvaluationError (free in CPython 3.11+ until raised).
    """
    params = tuple(mangle(name) for name in forward.inputs)
    signature = ", ".join(params)
    header = []
    for text in forward.source.splitlines():
        text = "".join(ch if " " <= ch <= "~" else "?" for ch in text[: _HEADER_LIMIT + 1])
        if len(text) > _HEADER_LIMIT:
            text = text[: _HEADER_LIMIT - 3] + "..."
        header.append(f"# {text}".rstrip())
    lines = ["# generated by exprgrad from:", *header, ""]
    line_ops: dict[int, Op] = {}
    helpers: set[str] = set()
    indent = "    " if standalone else "        "
    for function, program in (("forward", forward), ("value_and_grad", full)):
        namer = _Namer(program)
        definition = f"def {function}({signature}):"
        if len(definition) <= _LINE_LIMIT:
            lines.append(definition)
        else:  # many inputs: wrap the parameters
            lines.append(f"def {function}(")
            lines.extend(
                f"    {chunk}"
                for chunk in textwrap.wrap(signature + ",", _LINE_LIMIT - 4, break_long_words=False)
            )
            lines.append("):")
        if not standalone:
            lines.append("    try:")
        body = _statements(
            program, namer, len(lines) + 1, indent, line_ops, helpers, sections=program is full
        )
        lines.extend(body)
        result = namer.output(program.value)
        if function == "value_and_grad":
            entries = [f"{name!r}: {namer.output(i)}" for name, i in program.grads.items()]
            one_line = f"{indent}return {result}, {{{', '.join(entries)}}}"
            if len(one_line) <= _LINE_LIMIT:
                lines.append(one_line)
            else:
                lines.append(f"{indent}return {result}, {{")
                lines.extend(f"{indent}    {entry}," for entry in entries)
                lines.append(f"{indent}}}")
        else:
            lines.append(f"{indent}return {result}")
        if not standalone:
            lines.append("    except _MATH_ERRORS as error:")
            lines.append("        raise _evaluation_error(error) from None")
        lines.extend(["", ""])
    return Generated("\n".join(lines[:-2]) + "\n", params, line_ops, tuple(sorted(helpers)))


def module_source(forward: Program, full: Program) -> str:
    """A standalone module: needs only `math`, with the helpers it calls pasted in."""
    generated = python_source(forward, full, standalone=True)
    parts = [
        '"""Generated by exprgrad; needs nothing but the standard library."""',
        "",
        "import math",
        "",
        "",
    ]
    for name in generated.helpers:
        parts += [inspect.getsource(HELPERS[name]).rstrip(), "", ""]
    parts.append(generated.source.rstrip())
    return "\n".join(parts) + "\n"
