"""IR -> Python source: straight-line code, one named value per line, comments quoting the formula.

Names: a formula name keeps its name, other values are t1, t2, ... in order,
and the gradient of v is v_grad. Any formula name that could clash with
Python or with a generated name (keywords, builtins, math, names starting or
ending with '_', t<digits>, names ending in _grad) gets a trailing '_', so
formula names and generated names can never meet. Constants are written
with repr(), so they round-trip exactly. The same program always gives the
same bytes.

Two things make the code more than a list of assignments:

- An op that may fail (log, division, ...) and is needed only by one branch of
  a `where` is computed inside `if condition:` (core/regions.py), just before the
  line that needs it, so `where(x > 0, log(x), 0)` never takes log(-1).
- Type guards. The code is fast only on floats, and other arguments (ints,
  numpy scalars, strings, complex numbers) must never give a number other
  than the same call with floats gives. Proving an argument merely a real
  number is not enough: ints compute exactly (2**60 + 1 - 2**60 is 1, not 0)
  and int 0 has no sign (-x * y is 0.0, not -0.0). So each input is checked
  once, at the top (`type(v) is not float`, a few nanoseconds), and then every
  value is a float: arithmetic, math functions and the helpers make floats
  of floats. An int (what people type most) is converted right there by
  _to_float; anything else raises _NotFloat, and _retry converts every
  argument, or names the one that is not a number, and calls again.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence

from ...core import regions
from ...core.ir import CONST, Op, Program, quote
from ..emit import (
    COMMENT_COLUMN,
    LINE_LIMIT,
    Generated,
    Namer,
    header,
    mangle,
    wrapped_call,
)
from ..layout import Layout, guards_of, plan
from . import pieces
from .helpers import HELPERS
from .spellings import CHOSEN, SPELLINGS, spell


def _check(indent: str, name: str) -> str:
    return f"{indent}if type({name}) is not float: {name} = _to_float({name})"


def _condition(region: regions.Region, names: dict[int, str]) -> str:
    """The test of an `if` for the region: `t1 and not t4`, or `t1 or (t3 and t5)`."""
    alternatives = []
    for chain in regions.chains(region):
        terms = [("" if g.taken else "not ") + names[g.condition] for g in chain.chain()]
        alternatives.append(" and ".join(terms))
    if len(alternatives) == 1:
        return alternatives[0]
    return " or ".join(f"({a})" if " and " in a else a for a in alternatives)


@functools.cache
def _writer(prim: str) -> tuple[Callable[..., str] | None, frozenset[str]]:
    """How a line spells the primitive: its template's format method and the helpers the
    template calls (operands are names, literals or arithmetic, which call none); None for
    a spelling chosen from the operands (min, max), left to spell() and whose expression
    is searched for helpers instead."""
    template = SPELLINGS[prim]
    if prim in CHOSEN or "{args}" in template:
        return None, frozenset()
    return template.format, frozenset(h for h in HELPERS if h + "(" in template)


def _statements(
    layout: Layout,
    names: dict[int, str],
    start_line: int,
    line_ops: dict[int, Op] | None,
    helpers: set[str],
    sections: bool,
    owners: pieces.Owners | None = None,
    indent: str = "        ",
) -> list[str]:
    """The body's lines, each op's line recorded in line_ops; or, for code in pieces
    (pieces.py), each line's op (or None) and the values it reads in owners. indent: the
    statements' (a plain function's are in a try block; a piece's are not)."""
    program = layout.program
    column = COMMENT_COLUMN - 8 + len(indent)  # where comments stand, as in a plain function
    ops, source, inlined, placed = program.ops, program.source, layout.inlined, layout.placed
    lines = [_check(indent, names[i]) for i in layout.checked_inputs]
    if owners is not None:
        for i in layout.checked_inputs:
            owners.other((i,))
    comments: dict[int, str] = {}  # id of a span -> its quote: gradient ops share spans
    name_of = names.__getitem__
    previous_comment = None
    in_gradient = None
    opened: regions.Region = None
    for i in layout.order:
        if i in inlined:
            continue
        op = ops[i]
        region = placed[i]
        if sections and op.in_gradient != in_gradient:
            in_gradient = op.in_gradient
            lines.append(f"{indent}# {'backward' if in_gradient else 'forward'}")
            if owners is not None:
                owners.other(())
            previous_comment = None
            opened = None  # a comment closes any open `if` block
        if region is not opened:
            if region is not None:
                lines.append(f"{indent}if {_condition(region, names)}:")
                if owners is not None:
                    owners.other(tuple(g.condition for g in guards_of(region)))
            opened = region
            previous_comment = None
        inner = indent if region is None else indent + "    "
        args, prim = op.args, op.prim
        write, called = _writer(prim)
        if write is not None:
            expression = write(*map(name_of, args))
            if called:
                helpers.update(called)
        else:
            constant = [ops[a].prim == CONST for a in args]
            expression = spell(prim, [names[a] for a in args], constant)
            if "_" in expression and "(" in expression:  # a helper: '_' and a call
                helpers.update(h for h in HELPERS if h + "(" in expression)
        code = f"{inner}{names[i]} = {expression}"
        span = op.span
        comment = comments.get(id(span))
        if comment is None:
            comment = comments[id(span)] = quote(source, op)
        if comment and comment != previous_comment:
            code = f"{code.ljust(column)}  # {comment}"
        previous_comment = comment
        if owners is None:
            line_ops[start_line + len(lines)] = op
        else:  # (code in pieces numbers its lines itself)
            owners.line(i)
        lines.append(code)
    return lines


def _one_per_line(head: str, items: list[str], tail: str, indent: str = "        ") -> list[str]:
    """`head` + items + `tail` on one line, or one item a line when that is too long."""
    one_line = f"{indent}{head}{', '.join(items)}{tail}"
    if len(one_line) <= LINE_LIMIT or not items:
        return [one_line]
    return [f"{indent}{head}", *(f"{indent}    {item}," for item in items), f"{indent}{tail}"]


def _return_value(program: Program, names: dict[int, str], layout: Layout) -> list[str]:
    return [f"        return {names[program.value]}"]


def _return_value_and_grad(program: Program, names: dict[int, str], layout: Layout) -> list[str]:
    entries = [f"{name!r}: {names[i]}" for name, i in program.grads.items()]
    return _one_per_line(f"return {names[program.value]}, {{", entries, "}")


def _return_trace(program: Program, names: dict[int, str], layout: Layout) -> list[str]:
    """(value, (each row's value), (each row's adjoint)): a row computed inside a branch
    not taken has the value None; a row without an adjoint (no input reaches it) 0.0."""
    values, adjoints = [], []
    for i in layout.rows:
        region = layout.placed[i]
        if region is None:
            values.append(names[i])
        else:
            values.append(f"({names[i]} if {_condition(region, names)} else None)")
        adjoint = program.adjoints.get(i)
        adjoints.append(names[adjoint] if adjoint is not None else "0.0")
    lines = [f"        return {names[program.value]}, ("]
    lines += [f"            {v}," for v in values]
    lines += ["        ), ("]
    lines += [f"            {a}," for a in adjoints]
    lines += ["        )"]
    return lines


def _return_matrix(program: Program, names: dict[int, str], layout: Layout) -> list[str]:
    rows: dict[str, list[str]] = {}
    for key, i in program.grads.items():
        rows.setdefault(key.split(",")[0], []).append(names[i])
    lines = [f"[{', '.join(row)}]" for row in rows.values()]
    return _one_per_line("return [", lines, "]")


def _return_list(program: Program, names: dict[int, str], layout: Layout) -> list[str]:
    return _one_per_line("return [", [names[i] for i in program.grads.values()], "]")


def _return_value_and_tangent(program: Program, names: dict[int, str], layout: Layout) -> list[str]:
    return [f"        return {names[program.value]}, {names[program.grads['tangent']]}"]


def _return_dict(program: Program, names: dict[int, str], layout: Layout) -> list[str]:
    entries = [f"{name!r}: {names[i]}" for name, i in program.grads.items()]
    return _one_per_line("return {", entries, "}")


# what a function of one vector (_vector_head) returns its gradient as: the list, or the
# array of it
_GIVEN_KIND = "_gradient if _x is _given else _as_given(_gradient, _given)"


def _return_vector(program: Program, names: dict[int, str], layout: Layout) -> list[str]:
    """flat's return over one vector: value and the gradient as a list or an array."""
    grads = [names[i] for i in program.grads.values()]
    lines = _one_per_line("_gradient = [", grads, "]")
    return [*lines, f"        return {names[program.value]}, {_GIVEN_KIND}"]


# the function each kind of generated code ends with; the higher-order ones return
# Hessians and Jacobians (program.grads keyed "row,column"), residuals, tangents, flat
# gradients (vectors.py, tools/residuals.py, core/forward.py)
RETURNS = {
    "forward": _return_value,
    "value_and_grad": _return_value_and_grad,
    "hessian": _return_matrix,
    "jacobian": _return_matrix,
    "residuals": _return_list,
    "jvp": _return_value_and_tangent,
    "hvp": _return_dict,
    "hessp": _return_list,
    "flat": _return_vector,  # always over one vector (function_source's `vector`)
}


def function_source(
    program: Program,
    function: str,
    *,
    standalone: bool = False,
    start_line: int = 1,
    rows: Sequence[int] = (),
    floats: frozenset[str] = frozenset(),
    positional: bool = False,
    vector: int = 0,
) -> Generated:
    """Source of one function of the formula's inputs: `forward` returns the value,
    `value_and_grad` (value, {name: gradient}), `trace` (value, values, adjoints) of
    the ops listed in `rows` (the program must carry their adjoints: reverse mode's
    every_adjoint). Line numbers in line_ops count from start_line, where the `def`
    will stand. `floats`: inputs the caller always passes as floats (a flat vector's
    fixed inputs, converted once), left unchecked. `positional`: called with positions
    only, so many inputs need no pieces (pieces.needed). `vector`: the first `vector`
    inputs come as one list or tuple, the others are fixed (f.flat: _vector_head).

    The body sits in a try block: _NotFloat (or a TypeError) means an argument is not
    a float, and _retry converts them all and calls again, or names the bad one;
    unless standalone, a second handler turns math errors into exprgrad's
    EvaluationError. Both handlers are free in CPython 3.11+ until something raises.
    """
    if pieces.needed(program, positional):
        sections = function != "forward"

        def statements(layout, names, line_ops, helpers, owners):
            return _statements(
                layout, names, start_line, line_ops, helpers, sections, owners, pieces.INDENT
            )

        return pieces.function_source(
            program, function, statements, standalone=standalone, start_line=start_line, rows=rows
        )
    params = tuple(mangle(name) for name in program.inputs)
    layout = plan(program, rows, floats)
    names = Namer(program, layout.inlined, spell).names
    line_ops: dict[int, Op] = {}
    helpers: set[str] = {"_NotFloat", "_retry", "_float_arguments", "_shown", "_to_float"}
    fixed = params[vector:] if vector else ()
    outer = wrapped_call(f"def {function}_with(", list(fixed), "):", "") if fixed else []
    if vector:
        lines = _vector_head(function, params[:vector])
    else:
        lines = wrapped_call(f"def {function}(", list(params), "):", "")
    lines.append("    try:")
    sections = function != "forward"
    first = start_line + len(outer) + len(lines)
    lines.extend(_statements(layout, names, first, line_ops, helpers, sections))
    returns = _return_trace if function == "trace" else RETURNS[function]
    lines.extend(returns(program, names, layout))
    lines.append("    except (TypeError, _NotFloat) as error:  # an argument is not a float")
    if vector:  # the vector's entries as floats (or the ArgumentError naming one), again
        lines.append(f"        _value, _gradient = {function}(_floats(_x, error))")
        lines.append(f"        return _value, {_GIVEN_KIND}")
    else:
        tail = ",), error)" if len(params) == 1 else "), error)"  # (x,) is a tuple
        lines.extend(
            wrapped_call(f"return _retry({function}, _INPUTS, (", list(params), tail, "        ")
        )
    if not standalone:
        lines.append("    except _MATH_ERRORS as error:")
        lines.append("        raise _evaluation_error(error) from None")
    if outer:  # the fixed inputs of a vector's function are its closure (_vector_head)
        lines = [*outer, *("    " + line for line in lines), f"    return {function}"]
    source = "\n".join(lines) + "\n"
    return Generated(source, params, line_ops, tuple(sorted(helpers)), names)


def _vector_head(function: str, taken: Sequence[str]) -> list[str]:
    """The opening of a function of one vector (f.flat): its entries are unpacked from a
    list or tuple right there; anything else (a numpy array) becomes a list first
    (_as_list, which names what is wrong with a vector it cannot take), and a list of
    another length is an ArgumentValueError saying so. Fixed inputs are not parameters:
    the function is written inside `def {function}_with(fixed inputs):`, which each
    f.flat(..., **fixed) calls once, so they are its closure and cannot be passed. (No
    second call of the function: in CPython 3.11 a frame over a few hundred names nested
    in another of the same code costs a fresh block of frame memory, 10-20 us, a call.)"""
    unpack = wrapped_call("(", list(taken), ",) = _x" if len(taken) == 1 else ") = _x", "        ")
    return [
        f"def {function}(_x):",
        "    _given = _x  # the gradient comes back as a list for a list, else an array",
        "    if type(_x) is not list and type(_x) is not tuple:",
        "        _x = _as_list(_x)",
        "    try:",  # free until it raises (CPython 3.11+): cheaper than len(_x)
        *unpack,
        "    except ValueError:  # another length",
        "        raise _length_error(_x) from None",
    ]


def python_source(forward: Program, full: Program, *, standalone: bool = False) -> Generated:
    """Source defining forward(...) -> value and value_and_grad(...) -> (value, {name: grad})."""
    text = header(forward.source) + "\n"
    line_ops: dict[int, Op] = {}
    helpers: set[str] = set()
    tables: dict[str, tuple] = {}
    for function, program in (("forward", forward), ("value_and_grad", full)):
        if function != "forward":
            text += "\n\n"
        start = text.count("\n") + 1
        part = function_source(program, function, standalone=standalone, start_line=start)
        text += part.source
        line_ops.update(part.line_ops)
        helpers.update(part.helpers)
        tables.update(part.tables)
    params = tuple(mangle(name) for name in forward.inputs)
    return Generated(text, params, line_ops, tuple(sorted(helpers)), tables=tables)


def module_source(forward: Program, full: Program) -> str:
    """A standalone module: needs only `math`, with the helpers it calls pasted in."""
    generated = python_source(forward, full, standalone=True)
    parts = [
        '"""Generated by exprgrad; needs nothing but the standard library."""',
        "",
        "import math",
        "",
        f"_INPUTS = {forward.inputs!r}",
        "",
        "",
    ]
    if generated.tables:  # code in pieces (pieces.py): called with a list of floats
        parts[4:4] = [
            "# forward([...]) and value_and_grad([...]) take a list of the inputs' values, as",
            "# floats in _INPUTS order; the tables name the slots that hold their results",
            *(f"{name} = {value!r}" for name, value in generated.tables.items()),
        ]
    for name in generated.helpers:
        parts += [inspect.getsource(HELPERS[name]).rstrip(), "", ""]
    parts.append(generated.source.rstrip())
    return "\n".join(parts) + "\n"
