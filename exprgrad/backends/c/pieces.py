"""A long program -> NAME in pieces: static functions of at most PIECE_OPS ops passing values on.

A C compiler's time grows faster than a function's length (gcc -O2 spends 29 s on one
function of 6,000 ops, and minutes past 20,000), so a program of more than PIECE_OPS ops
is written as pieces, each a static function of whole runs (a branch's `if` block is
never cut) of about PIECE_OPS ops, that pass the values a later piece reads (or NAME
returns) through one array, a slot a value, slots reused once no later piece reads them:

    static int f_1(const double *in, double *v)  /* piece 1 of 3: formula line 1, ... */
    {
        const double a = in[0];
        ...
        v[0] = t5;
        return 0;
    }
    ...
    int f(const double *in, double *out)
    {
        double *const v = malloc(sizeof(double) * 12);
        if (!v)
            return -1;  /* no memory for the values pieces pass on */
        int code = f_1(in, v);
        if (!code)
            code = f_2(in, v);
        ...
        if (!code) {
            out[0] = v[3];
            ...
        }
        free(v);
        return code;
    }

Each piece's lines are NAME's own (codegen.run_lines), so the results are the same bit
for bit; an op's failure returns its code through NAME as before.
"""

from __future__ import annotations

from collections.abc import Callable

from ...core.ir import INPUT, Program
from ...core.primitives import COMPARISON_NAMES
from ..emit import covered
from ..layout import Layout, guards_of, values_read

PIECE_OPS = 1_500  # about this many ops a piece (whole runs)
STACK_SLOTS = 4_096  # more values passed on than this: the array is malloc'd
OUT_OF_MEMORY = -1  # NAME's return when malloc fails


def needed(program: Program) -> bool:
    return len(program.ops) > 2 * PIECE_OPS


def point_lines(
    layout: Layout, runs: list, names: dict[int, str], name: str, run_lines: Callable
) -> tuple[list[str], list[str]]:
    """(the pieces' source lines, NAME's body lines from `{` to `}`): runs as codegen
    orders them, each piece's lines written by codegen's run_lines(program, runs)."""
    program = layout.program
    groups: list[list] = [[]]
    size = 0
    for section, region, ops in runs:
        # a branch's `if` block stays whole; straight-line ops are cut anywhere
        step = len(ops) if region is not None else PIECE_OPS
        for start in range(0, len(ops), step):
            if size >= PIECE_OPS:
                groups.append([])
                size = 0
            chunk = ops[start : start + step]
            groups[-1].append((section if start == 0 else None, region, chunk))
            size += len(chunk)
    outputs = [program.value, *program.grads.values()]
    defined = {i: g for g, group in enumerate(groups) for _, _, ops in group for i in ops}
    reads = [_reads(layout, group) for group in groups]
    last: dict[int, int] = {}
    for g, found in enumerate(reads):
        for i in found:
            if i in defined and defined[i] != g:
                last[i] = g
    for i in outputs:
        if i in defined:
            last[i] = len(groups)  # read by NAME itself
    slot: dict[int, int] = {}
    free: list[int] = []
    count = 0
    lines: list[str] = []
    dying: dict[int, list[int]] = {}
    for i, g in last.items():
        dying.setdefault(g, []).append(i)
    position = {name: k for k, name in enumerate(program.inputs)}
    for g, group in enumerate(groups):
        free += [slot[i] for i in dying.get(g, ())]  # loaded at this piece's top
        ops = [i for _, _, run in group for i in run]
        stored = [i for i in ops if i in last]
        for i in stored:
            if free:
                slot[i] = free.pop()
            else:
                slot[i], count = count, count + 1
        spans = [program.ops[i].span for i in ops]
        note = f"piece {g + 1} of {len(groups)}: {covered(spans, program.source)}"
        lines += ["", f"static int {name}_{g + 1}(const double *in, double *v)  /* {note} */"]
        lines.append("{")
        found = reads[g]
        lines += [
            f"    const double {names[i]} = in[{position[program.ops[i].name]}];"
            for i in sorted(found)
            if program.ops[i].prim == INPUT
        ]
        lines += [
            f"    const {'int' if program.ops[i].prim in COMPARISON_NAMES else 'double'} "
            f"{names[i]} = v[{slot[i]}];"
            for i in sorted(found)
            if i in defined and defined[i] < g
        ]
        lines += run_lines(group)
        lines += [f"    v[{slot[i]}] = {names[i]};" for i in stored]
        lines += ["    return 0;", "}"]
    body = ["{"]
    if count > STACK_SLOTS:
        body += [
            f"    double *const v = malloc(sizeof(double) * {count});",
            "    if (!v)",
            f"        return {OUT_OF_MEMORY};  /* no memory for the values pieces pass on */",
        ]
    else:
        body.append(f"    double v[{max(count, 1)}];")
    body.append(f"    int code = {name}_1(in, v);")
    for g in range(1, len(groups)):
        body += ["    if (!code)", f"        code = {name}_{g + 1}(in, v);"]
    body += ["    if (!code) {"]
    for k, i in enumerate(outputs):
        if i in slot:
            body.append(f"        out[{k}] = v[{slot[i]}];")
        elif program.ops[i].prim == INPUT:
            body.append(f"        out[{k}] = in[{position[program.ops[i].name]}];")
        else:
            body.append(f"        out[{k}] = {names[i]};")
    body.append("    }")
    if count > STACK_SLOTS:
        body.append("    free(v);")
    return lines, body + ["    return code;", "}"]


def _reads(layout: Layout, group: list) -> set[int]:
    """The values the runs read: operands, and conditions of their branches."""
    found: set[int] = set()
    for _, region, ops in group:
        for i in ops:
            found.update(values_read(layout, layout.program.ops[i].args))
        if region is not None:
            found.update(values_read(layout, [g.condition for g in guards_of(region)]))
    return found
