"""NAME -> the C functions Python calls around it: NAME_flat, NAME_points and NAME_batch.

codegen.py writes NAME, the value and gradient at one point. f.flat calls NAME_flat (the
value returned, the gradient written into a numpy array); f.batch calls NAME_batch over
n points given as columns (the ABI in codegen.py's docstring).

Point by point (NAME_points), a batch reads a column per input and writes a column per
gradient entry at every point: with more than a few dozen columns the memory system
serves that poorly (F5's batch, 100 weights and 100 features, spends most of its time
waiting for them). So NAME_batch runs NAME's lines in lanes: blocks of LANES points,
every value an array of LANES numbers, every line (arithmetic: up to FUSED lines) a loop
over the block, reading an input column where it lies and writing a gradient column in
place, each as one contiguous run (an input given as one number gets a block of it, and
summed outputs blocks of their own, added at the block's end). Each lane computes what
NAME computes at its point, op for op (the same spellings, order and branches), so the
results are bit-identical, the sums added in point order. A block in which a lane fails
a check (log of a negative number, ...) is run again point by point from its first
point, as are the last n % LANES points, so an error names the first failing point and
its first failing op exactly as NAME_points does.
"""

from __future__ import annotations

import re

from ...core.ir import CONST, INPUT, Program, quote
from ..layout import Layout, guards_of, values_read
from . import codegen
from .codegen import COMMENT_COLUMN, CSource, _condition, _input_ids, _runs, comment
from .spellings import KIND_NAMES, checks, spell

LANES = 256  # points in a block: columns read and written in runs of 2 KiB
SCRATCH_LIMIT = 1 << 18  # doubles (2 MiB) of blocks at most, else point by point


def function_source(program: Program, name: str, batch: bool = True) -> CSource:
    """NAME (codegen.function_source) with NAME_flat after it, and with batch NAME_points
    and NAME_batch (CFunction builds those when f.batch is first called: a batch in lanes
    is several times NAME's source and takes the compiler that much longer)."""
    point = codegen.function_source(program, name)
    outputs = [program.value, *program.grads.values()]
    lines = [point.source.rstrip("\n")]
    lines += _flat(name, len(outputs))
    if batch:
        lines += _points(name, len(program.inputs), len(outputs))
        lines += _batch(program, name, point)
    return CSource(
        "\n".join(lines) + "\n",
        point.name,
        point.inputs,
        point.outputs,
        point.helpers,
        point.names,
        point.layout,
    )


def _flat(name: str, outputs: int) -> list[str]:
    """NAME_flat: NAME with the value returned, so Python gets a float and an array."""
    grads = outputs - 1
    lines = [
        "",
        f"double {name}_flat(const double *in, double *grad, int *code)",
        "{",
        f"    double out[{outputs}];",
        f"    *code = {name}(in, out);",
        "    if (*code)",
        "        return NAN;",
    ]
    if grads:
        lines.append(f"    for (int k = 0; k < {grads}; k++) grad[k] = out[1 + k];")
    else:
        lines.append("    (void)grad;")
    return lines + ["    return out[0];", "}"]


_ARGUMENTS = "columns, steps, values, grads, sum, failed"


def _points(name: str, inputs: int, outputs: int) -> list[str]:
    """NAME_points: NAME at points from, ..., n - 1, stored per point or added to the sums."""
    grads = outputs - 1
    lines = [
        "",
        f"static int {name}_points(long from, long n, const double *const *columns,",
        f"{' ' * (len(name) + 19)}const long *steps, double *values, double *grads, int sum,",
        f"{' ' * (len(name) + 19)}long *failed)",
        "{",
        f"    double in[{max(inputs, 1)}], out[{outputs}];",
        "    for (long p = from; p < n; p++) {",
    ]
    if inputs:
        loop = f"for (int i = 0; i < {inputs}; i++)"
        lines.append(f"        {loop} in[i] = columns[i][p * steps[i]];")
    lines += [
        f"        const int code = {name}(in, out);",
        "        if (code) {",
        "            *failed = p;",
        "            return code;",
        "        }",
        "        if (sum) {",
        "            values[0] += out[0];",
    ]
    if grads:
        lines.append(f"            for (int k = 0; k < {grads}; k++) grads[k] += out[1 + k];")
    lines += ["        } else {", "            values[p] = out[0];"]
    if grads:
        lines.append(
            f"            for (int k = 0; k < {grads}; k++) grads[k * n + p] = out[1 + k];"
        )
    lines += ["        }", "    }", "    return 0;", "}"]
    return lines


def _opening(name: str, grads: int) -> list[str]:
    lines = [
        "",
        f"int {name}_batch(long n, const double *const *columns, const long *steps,",
        f"{' ' * (len(name) + 11)}double *values, double *grads, int sum, long *failed)",
        "{",
        "    if (sum) {",
        "        values[0] = 0.0;",
    ]
    if grads:
        lines.append(f"        for (int k = 0; k < {grads}; k++) grads[k] = 0.0;")
    return lines + ["    }"]


def _slots(layout: Layout, runs: list, kept: set[int]) -> tuple[dict[int, int], int]:
    """A block for each value NAME computes but `kept` (the outputs, which have blocks of
    their own), shared by values whose lives do not overlap: {op: block number} and how
    many blocks. A value's block is free again once its last reader ran (in a lane, op
    after op; a branch's conditions read where its ops end); it is never handed to the op
    that reads it last, so no loop writes the array it reads."""
    program = layout.program
    order = [i for _, _, ops in runs for i in ops]
    position = {i: t for t, i in enumerate(order)}
    last: dict[int, int] = {}

    def read(ids: list[int], at: int) -> None:
        for i in values_read(layout, ids):
            if i in position:  # computed here, not an input
                last[i] = max(last.get(i, at), at)

    for _, region, ops in runs:
        for i in ops:
            read(program.ops[i].args, position[i])
        if region is not None:
            read([g.condition for g in guards_of(region)], position[ops[-1]])
    dying: dict[int, list[int]] = {}
    for i, t in last.items():
        if i not in kept:
            dying.setdefault(t, []).append(i)
    slot: dict[int, int] = {}
    free: list[int] = []
    count = 0
    for t, i in enumerate(order):
        if i in kept:
            continue
        if free:
            slot[i] = free.pop()
        else:
            slot[i], count = count, count + 1
        if i not in last:  # never read
            free.append(slot[i])
        free += [slot[a] for a in dying.get(t, ())]
    return slot, count


def _outputs(program: Program) -> list[int]:
    return [program.value, *program.grads.values()]


def _batch(program: Program, name: str, point: CSource) -> list[str]:
    """NAME_batch in lanes (the module docstring), or through NAME_points where the blocks
    would not fit SCRATCH_LIMIT.

    Each output NAME computes has a block of its own: per point (sum == 0) the block is
    its column's LANES points, written in place; summed, a block of scratch whose lanes
    are added to the totals when the block is done, a lane at a time over every output
    (so each total's additions stay in point order while the totals' additions overlap)."""
    outputs = _outputs(program)
    lines = _opening(name, len(outputs) - 1)
    runs = _runs(point.layout, sections=False)
    computed = {i for _, _, ops in runs for i in ops}
    owners = {}  # an output NAME computes -> the first output it is (its block)
    for k, i in enumerate(outputs):
        if i in computed:
            owners.setdefault(i, k)
    slot, count = _slots(point.layout, runs, set(owners))
    inputs = len(program.inputs)
    if not runs or (inputs + len(owners) + count) * LANES > SCRATCH_LIMIT:
        lines.append(f"    return {name}_points(0, n, {_ARGUMENTS});")
        return lines + ["}"]
    names = point.names
    lane = _lane_names(program, names, computed)
    lines += [
        f"    /* {name} at LANES points at a time: each name below is a block of LANES",
        "       numbers, each line a loop over the block (entries.py says why); the blocks:",
        f"       {count} for the values, {len(owners)} for the outputs when summed, one for each",
        "       input given as one number (that number in every lane) */",
        f"    enum {{ LANES = {LANES} }};",
        "    long blocks = sum ? " + f"{count + len(owners)} : {count};",
    ]
    if inputs:
        lines.append(f"    for (int k = 0; k < {inputs}; k++) blocks += !steps[k];")
    lines += [
        "    double *const scratch = malloc(sizeof(double) * LANES * (blocks ? blocks : 1));",
        f"    const double **const at = malloc(sizeof(double *) * {max(inputs, 1)});",
        "    if (!scratch || !at) {",
        "        free(scratch);",
        "        free(at);",
        f"        return {name}_points(0, n, {_ARGUMENTS});",
        "    }",
    ]
    if inputs:  # at[k] + p * steps[k]: input k's block of the points from p on
        lines += [
            f"    double *next = scratch + (sum ? {count + len(owners)} : {count}) * LANES;",
            f"    for (int k = 0; k < {inputs}; k++) {{",
            "        at[k] = next;",
            "        if (steps[k])",
            "            at[k] = columns[k];",
            "        else",
            "            for (int i = 0; i < LANES; i++) *next++ = columns[k][0];",
            "    }",
        ]
    lines += [
        f"    double *const {names[i]} = scratch + {slot[i]} * LANES;"
        for _, _, ops in runs
        for i in ops
        if i in slot
    ]
    lines += ["    long p = 0;", "    for (; p + LANES <= n; p += LANES) {"]
    lines += [
        f"        const double *const {names[i]} = at[{k}] + p * steps[{k}];"
        for k, i in _input_ids(program)
    ]
    for b, (i, k) in enumerate(owners.items(), start=count):
        column = "values + p" if k == 0 else f"grads + {k - 1} * n + p"
        lines.append(f"        double *const {names[i]} = sum ? scratch + {b} * LANES : {column};")
    if any(checks(program.ops[i].prim, ["x"] * len(program.ops[i].args), "r") for i in computed):
        lines.append("        int bad = 0;")
    previous = None
    for _, region, ops in runs:
        if region is None:
            for group in _groups(program, ops):
                body, previous = _lines(program, group, lane, previous)
                lines += _loop(body)
        else:  # a branch's ops in one loop, under the branch's condition in each lane
            body, previous = _lines(program, ops, lane, previous)
            lines += _loop(body, _condition(region, lane))
    lines += _results(outputs, owners, lane)
    lines += ["    }", "    free(scratch);", "    free(at);"]
    return lines + [f"    return {name}_points(p, n, {_ARGUMENTS});", "}"]


def _results(outputs: list[int], owners: dict[int, int], lane: dict[int, str]) -> list[str]:
    """The end of a block: its lanes added to the totals in point order, SUMMED totals a
    loop (their additions overlap, and each loop reads that many blocks), or (per point)
    the outputs that are not already in their column (an input, a constant, a value that
    is two outputs) copied there."""
    totals = [
        f"{'values[0]' if k == 0 else f'grads[{k - 1}]'} += {lane[i]};"
        for k, i in enumerate(outputs)
    ]
    lines = ["        if (sum) {"]
    for start in range(0, len(totals), SUMMED):
        lines.append(f"            {_LOOP} {{")
        lines += [f"                {total}" for total in totals[start : start + SUMMED]]
        lines.append("            }")
    lines.append("        }")
    copies = [
        f"{'values[p + i]' if k == 0 else f'grads[{k - 1} * n + p + i]'} = {lane[i]};"
        for k, i in enumerate(outputs)
        if owners.get(i) != k
    ]
    if copies:
        lines[-1] += " else {"
        lines += [f"            {_LOOP} {copy}" for copy in copies] + ["        }"]
    return lines


_LOOP = "for (int i = 0; i < LANES; i++)"
FUSED = 8  # arithmetic ops in one loop at most
SUMMED = 8  # totals added in one loop at most


def _groups(program: Program, ops: list[int]) -> list[list[int]]:
    """The ops of a run in loops: an op calling a function (exp, tanh, a helper) alone, so
    the calls of a block's lanes overlap rather than wait on each other; arithmetic in
    loops of FUSED ops (fewer loops compile faster and each still overlaps its lanes)."""
    groups: list[list[int]] = []
    open_group = False  # the last group takes arithmetic
    for i in ops:
        calls = _CALL.search(spell(program.ops[i].prim, ["x"] * len(program.ops[i].args)))
        if open_group and not calls and len(groups[-1]) < FUSED:
            groups[-1].append(i)
        else:
            groups.append([i])
        open_group = not calls
    return groups


_CALL = re.compile(r"[A-Za-z_]\w*\(")  # linear: one pass, no backtracking across matches


def _loop(body: list[tuple[str, str | None, int]], condition: str | None = None) -> list[str]:
    """A loop over the lanes of a block: one line where it can be; a check's failure in
    any lane leaves the blocks loop (the block runs again point by point)."""
    if condition is None and len(body) == 1:
        statement, text, _ = body[0]
        return [_commented(f"        {_LOOP} {statement}", text)]
    indent = "            " if condition is None else "                "
    lines = [f"        {_LOOP} {{"]
    if condition is not None:
        lines.append(f"            if ({condition}) {{")
    lines += [_commented(indent + statement, text) for statement, text, _ in body]
    if condition is not None:
        lines.append("            }")
    lines.append("        }")
    if any(kind for _, _, kind in body):
        lines += ["        if (bad)", "            break;"]
    return lines


def _commented(code: str, text: str | None) -> str:
    return f"{code.ljust(COMMENT_COLUMN + 8)}  /* {text} */" if text else code


def _lane_names(program: Program, names: dict[int, str], computed: set[int]) -> dict[int, str]:
    """Each op's value in lane i: `t1[i]`, an input's `x[i]`, a constant's literal, an
    inlined comparison its expression over those."""
    lane: dict[int, str] = {}
    for i, op in enumerate(program.ops):
        if op.prim == CONST:
            lane[i] = names[i]
        elif op.prim == INPUT or i in computed:
            lane[i] = f"{names[i]}[i]"
        else:  # written into its one reader
            lane[i] = spell(op.prim, [lane[a] for a in op.args])
    return lane


def _lines(
    program: Program, ops: list[int], lane: dict[int, str], previous: str | None
) -> tuple[list[tuple[str, str | None, int]], str | None]:
    """The ops' statements for one lane: (statement, comment or None, 0), each followed by
    its checks (statement, what it finds, its kind)."""
    body: list[tuple[str, str | None, int]] = []
    for i in ops:
        op = program.ops[i]
        operands = [lane[a] for a in op.args]
        constant = [program.ops[a].prim == CONST for a in op.args]
        text = comment(quote(program.source, op))
        body.append(
            (
                f"{lane[i]} = {spell(op.prim, operands, constant)};",
                text if text != previous else None,
                0,
            )
        )
        previous = text
        for condition, kind in checks(op.prim, operands, lane[i]):
            body.append((f"bad |= {condition};", KIND_NAMES[kind], kind))
    return body, previous
