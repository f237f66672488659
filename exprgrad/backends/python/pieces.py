"""A long or wide program -> Python source in pieces: functions of at most PIECE_LINES lines.

CPython compiles a function's body as a whole, needing about 5 KB a line, and matches a
keyword argument by scanning the parameter list, so neither a program of a million
operations nor a formula of 20,000 inputs can be one plain function. Such a program is
written instead as a main function over one list and the pieces it calls in order:

    def value_and_grad(_v):
        # 3 pieces of at most 10,000 lines; _v: the inputs' values (floats, in order),
        # then the values one piece leaves for a later one or for the result
        _v += [None] * 6002
        try:
            _value_and_grad_1(_v)
            _value_and_grad_2(_v)
            _value_and_grad_3(_v)
            return _v[6001], _named(_value_and_grad_names, _v, _value_and_grad_slots)
        except _MATH_ERRORS as error:
            raise _evaluation_error(error) from None

    def _value_and_grad_1(_v):
        # forward: formula line 1, columns 5,010-17,004
        x = _v[0]
        t1 = math.tanh(x)         # tanh(x)
        ...
        _v[1:7] = t1, t2, t3, t4, t5, t6

    def _value_and_grad_3(_v):
        # backward: formula line 1, columns 1-12,004
        t1, t2, t3, t4, t5, t6 = _v[1:7]
        x28, v15, v38 = _gathered(_v, _value_and_grad_loads_3)  # slots apart: one table
        ...
        t2_grad = t4_grad * (1.0 - t4 * t4) * (1.0 - t3 * t3)  # + - * read once: written in

The runtime binds the arguments through one dict (keywords cost linear time whatever the
width), converts each to float once and calls the main function; each piece is compiled on
its own (backends/runtime.run_source), so compiling needs memory for one piece at a time.
The lists of result slots (`_value_and_grad_slots`, ...) are constants in the namespace
(Generated.tables): a million gradients are no million-entry display to compile.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

from ...core.ir import CONST, INPUT, Program
from ..emit import (
    PIECE_LINES,
    Generated,
    LineOps,
    NameList,
    Namer,
    covered,
    literal,
    mangle,
)
from ..layout import Layout, plan
from .spellings import SPELLINGS, spell

_ARITHMETIC = frozenset({"add", "sub", "mul", "neg"})
_NESTED = 6  # a line's arithmetic at most this deep: 4 links of a chain rule
_LEVEL = {"add": 1, "sub": 1, "mul": 2, "neg": 3}  # Python's precedence of arithmetic
_WRITE = {prim: SPELLINGS[prim].format for prim in _ARITHMETIC}
# the operands each primitive's spelling passes to a call whole: math.tanh({0}), _clip({0}, ...)
_ARGUMENTS = {
    prim: frozenset(
        k
        for k in range(3)
        if any(f"{a}{{{k}}}{b}" in spelling for a in ("(", ", ") for b in (")", ","))
    )
    for prim, spelling in SPELLINGS.items()
    if isinstance(spelling, str) and "{args}" not in spelling
}
_PER_LINE = 6  # names a line loads or stores
WIDE_INPUTS = 255  # more inputs than CPython once allowed parameters: bound through a dict
INDENT = "    "  # the statements' indent in a piece (codegen writes them so)


def needed(program: Program, positional: bool = False) -> bool:
    """Does the program need pieces: too many operations for one function, or too many
    inputs for a parameter list that keywords are matched against (not when the function
    is only ever called with positions: a flat vector's)?"""
    if len(program.inputs) > WIDE_INPUTS and not positional:
        return True
    if len(program.ops) <= PIECE_LINES:
        return False
    operations = (op for op in program.ops if op.prim != CONST and op.prim != INPUT)
    return next(itertools.islice(operations, PIECE_LINES, None), None) is not None


class Owners:
    """What code in pieces needs to know of each line of the plain function's body: the
    op it computes (None: a check, a comment, an `if`) and the named values it reads."""

    __slots__ = ("ops", "reads", "_ops", "_inlined", "_apart")

    def __init__(self, program: Program, layout: Layout) -> None:
        self.ops: list[int | None] = []
        self.reads: list[tuple[int, ...] | None] = []
        self._ops, self._inlined = program.ops, layout.inlined
        # operands not read as they are: inlined (their operands are) or constants (literals)
        consts = (i for i, op in enumerate(program.ops) if op.prim == CONST)
        self._apart = layout.inlined.union(consts)

    def line(self, i: int) -> None:
        """The line computing op i, which reads its operands: most often the very tuple."""
        self.ops.append(i)
        args = self._ops[i].args
        if self._apart.isdisjoint(args):
            self.reads.append(args)
            return
        ops, inlined = self._ops, self._inlined
        used, stack = [], list(args)
        while stack:
            a = stack.pop()
            if a in inlined:
                stack.extend(ops[a].args)
            elif ops[a].prim != CONST:
                used.append(a)
        self.reads.append(tuple(used))

    def other(self, reads: tuple[int, ...]) -> None:
        """A line computing no op (a check, a comment, an `if`), which reads `reads`."""
        self.ops.append(None)
        self.reads.append(reads)


def _runs(moves: list[tuple[int, str]]) -> list[tuple[int, list[str]]]:
    """The moves (slot, name), in slot order, as runs of consecutive slots of at most
    _PER_LINE names: (first slot, names)."""
    runs: list[tuple[int, list[str]]] = []
    run: list[str] = []
    last = -2  # the slot moved last
    for slot, name in moves:
        if slot == last + 1 and len(run) < _PER_LINE:
            run.append(name)
        else:
            run = [name]
            runs.append((slot, run))
        last = slot
    return runs


def _stores(moves: list[tuple[int, str]]) -> list[str]:
    """Lines storing names into their slots in _v, a run of consecutive slots a line:
    `_v[40:43] = t3, t4, t5`."""
    lines = []
    for first, names in _runs(moves):
        where = f"_v[{first}]" if len(names) == 1 else f"_v[{first}:{first + len(names)}]"
        lines.append(f"    {where} = {', '.join(names)}")
    return lines


def _loads(moves: list[tuple[int, str]], table: str, tables: dict[str, tuple]) -> list[str]:
    """Lines loading names from their slots in _v: a run of consecutive slots a line
    (`t3, t4, t5 = _v[40:43]`), and the slots standing alone all in one statement
    through a table of them (`x28, v15, ... = _gathered(_v, _f_loads_3)`): a line
    `x28 = _v[28]` each costs CPython's parser about twice as much a name."""
    lines, alone = [], []
    for first, names in _runs(moves):
        if len(names) > 1:
            lines.append(f"    {', '.join(names)} = _v[{first}:{first + len(names)}]")
        else:
            alone.append((first, names[0]))
    if len(alone) == 1:
        lines.append(f"    {alone[0][1]} = _v[{alone[0][0]}]")
    elif alone:
        tables[table] = tuple(slot for slot, _ in alone)
        names = [name for _, name in alone]
        if len(names) <= _PER_LINE:
            return [*lines, f"    {', '.join(names)} = _gathered(_v, {table})"]
        rows = [names[k : k + _PER_LINE] for k in range(0, len(names), _PER_LINE)]
        lines.append("    (")
        lines += [f"        {', '.join(row)}," for row in rows]
        lines.append(f"    ) = _gathered(_v, {table})")
    return lines


def _fused(program: Program, layout: Layout) -> dict[int, int]:
    """Arithmetic read once, in the same block, written into the line that reads it
    (`t2_grad = t4_grad * (1.0 - t4 * t4) * (1.0 - t3 * t3)`), at most _NESTED deep:
    a third of the lines for Python to compile. Only + - * and negation, which never
    raise on floats, so a line that fails is still the op its comment names. Each such
    op -> the op reading it."""
    ops, placed, inlined = program.ops, layout.placed, layout.inlined
    count = Counter(itertools.chain.from_iterable(op.args for op in ops))  # (counted in C)
    count.update(program.outputs())
    kept = {*layout.rows, *layout.guarded_by}  # a trace's rows, an `if`'s conditions
    depth = [0] * len(ops)  # 1 + the deepest fused operand's, for a fused op; else 0
    fused: dict[int, int] = {}
    for reader in layout.order:  # each operand is decided at its one reader, in order
        if reader in inlined:
            continue
        for i in ops[reader].args:
            op = ops[i]
            if op.prim not in _ARITHMETIC or count[i] != 1 or i in kept:
                continue
            if placed[reader] != placed[i]:
                continue
            deepest = 1 + max(map(depth.__getitem__, op.args))
            if deepest < _NESTED:
                fused[i] = reader
                depth[i] = deepest
    return fused


def _bare(prim: str, reader: str, k: int) -> bool:
    """Can arithmetic (prim) be written as operand k of its reader (a primitive) without
    parentheses, the same expression to Python? Each pair costs CPython's parser about as
    much as a name: `t2_grad * (1.0 - t2 * t2)`, not `t2_grad * (1.0 - (t2 * t2))`."""
    level = _LEVEL[prim]
    if reader == "neg":
        return level == _LEVEL["neg"]  # --a, but -(a * b)
    if reader in _LEVEL:  # left-associative: (a - b) + c is a - b + c, a - (b + c) not
        return level >= _LEVEL[reader] + k
    return k in _ARGUMENTS.get(reader, ())


# (arithmetic, its reader, the operand it is) -> written without parentheses
_BARE = frozenset(
    (prim, reader, k)
    for prim in _ARITHMETIC
    for reader in SPELLINGS
    for k in range(3)
    if _bare(prim, reader, k)
)


def _ranges(lines: list[str], limit: int) -> list[tuple[int, int]]:
    """Cut the statements into runs of at most about `limit` lines, only between top-level
    statements (never inside an `if` block)."""
    ranges, start = [], 0
    for k, line in enumerate(lines):
        top = line[len(INDENT)] != " "
        if k - start >= limit and top and not line.lstrip().startswith("#"):
            ranges.append((start, k))
            start = k
    ranges.append((start, len(lines)))
    return ranges


class _Slots:
    """Each value's place in _v: an input's is its position, others follow as needed."""

    def __init__(self, program: Program):
        self.program = program
        position = {name: k for k, name in enumerate(program.inputs)}
        self.of: dict[int, int] = {
            i: position[op.name] for i, op in enumerate(program.ops) if op.prim == INPUT
        }
        self.count = len(program.inputs)
        self.constants: dict[str, int] = {}  # literal -> its slot, set by the main function

    def __call__(self, i: int) -> int:
        if self.program.ops[i].prim == CONST:
            return self.constant(literal(self.program.ops[i].value))
        slot = self.of.get(i)
        if slot is None:
            slot = self.of[i] = self._next()
        return slot

    def constant(self, text: str) -> int:
        slot = self.constants.get(text)
        if slot is None:
            slot = self.constants[text] = self._next()
        return slot

    def _next(self) -> int:
        self.count += 1
        return self.count - 1


def _results(
    function: str, program: Program, layout: Layout, slot: _Slots
) -> tuple[str, dict[str, tuple]]:
    """The main function's `return` expression, reading the results from their slots
    (helpers._gathered, _named), and the tables of slots it names."""
    table, tables = f"_{function}_slots", {}
    value = f"_v[{slot(program.value)}]"
    grads = program.grads
    if function == "forward":
        return value, tables
    if function == "jvp":
        return f"{value}, _v[{slot(grads['tangent'])}]", tables
    if function in ("hessian", "jacobian"):
        rows: dict[str, list[int]] = {}
        for key, i in grads.items():
            rows.setdefault(key.split(",")[0], []).append(slot(i))
        tables[table] = tuple(map(tuple, rows.values()))
        return f"[_gathered(_v, row) for row in {table}]", tables
    if function == "trace":  # a row in a branch not taken keeps its None
        adjoints = [program.adjoints.get(i) for i in layout.rows]
        tables[table] = tuple(slot(i) for i in layout.rows)
        tables[f"_{function}_adjoints"] = tuple(
            slot.constant("0.0") if a is None else slot(a) for a in adjoints
        )
        return f"{value}, _gathered(_v, {table}), _gathered(_v, _{function}_adjoints)", tables
    tables[table] = tuple(slot(i) for i in grads.values())
    if function in ("value_and_grad", "hvp"):
        tables[f"_{function}_names"] = tuple(grads)
        named = f"_named(_{function}_names, _v, {table})"
        return (f"{value}, {named}" if function == "value_and_grad" else named), tables
    if function == "flat":
        return f"{value}, _gathered(_v, {table})", tables
    return f"_gathered(_v, {table})", tables  # residuals, hessp


def function_source(
    program: Program,
    function: str,
    statements: Callable,
    *,
    standalone: bool = False,
    start_line: int = 1,
    rows=(),
) -> Generated:
    """The source of `function` in pieces (see the module docstring). statements: codegen's
    statement writer, called as statements(layout, names, line_ops, helpers, owners)
    (line_ops None, owners an Owners)."""
    every_input = frozenset(program.inputs)  # the runtime converts them all first
    layout = plan(program, rows, every_input)
    names = Namer(program, layout.inlined, spell).names
    readers = _fused(program, layout)
    fused = sorted(readers)  # operands first
    plain = [names[i] for i in fused]  # their names in a trace, put back below
    ops = program.ops
    for i in fused:  # (+ - * and negation: no constants needed)
        op, reader = ops[i], ops[readers[i]]
        args = op.args
        if len(args) == 2:
            expression = _WRITE[op.prim](names[args[0]], names[args[1]])
        else:
            expression = _WRITE[op.prim](names[args[0]])
        if (op.prim, reader.prim, reader.args.index(i)) not in _BARE:
            expression = f"({expression})"
        names[i] = expression
    layout.inlined.update(fused)
    helpers: set[str] = {"_gathered", "_named"}
    owners = Owners(program, layout)
    lines: list[str | None] = statements(layout, names, None, helpers, owners)
    # every name as a trace shows it (no line below reads a value written into its reader)
    names.update(zip(fused, plain, strict=True))
    names = list(names.values())  # Namer named the ops in order: a list of them is leaner
    del fused, plain, readers
    ranges = _ranges(lines, PIECE_LINES)
    home = [-1] * len(program.ops)  # the piece computing each op
    for p, (start, end) in enumerate(ranges):
        for k in range(start, end):
            if owners.ops[k] is not None:
                home[owners.ops[k]] = p
    slots = _Slots(program)
    outsides = [
        {u for k in range(start, end) for u in owners.reads[k] if home[u] != p}
        for p, (start, end) in enumerate(ranges)
    ]
    for u in sorted(set().union(*outsides)):  # in program order: a piece's stores are a run
        slots(u)
    result, tables = _results(function, program, layout, slots)
    loads = [sorted(outside, key=slots.of.__getitem__) for outside in outsides]
    piece = f"_{function}_"
    main = [
        f"def {function}(_v):",
        f"    # {len(ranges):,} pieces of at most {PIECE_LINES:,} lines; _v: the inputs' values "
        "(floats, in order),",
        "    # then the values one piece leaves for a later one or for the result",
        f"    _v += [None] * {slots.count - len(program.inputs)}",
    ]
    main += [f"    _v[{s}] = {text}" for text, s in slots.constants.items()]
    calls = [f"{piece}{p + 1}(_v)" for p in range(len(ranges))] + [f"return {result}"]
    if standalone:
        main += [f"    {call}" for call in calls]
    else:
        main += ["    try:", *(f"        {call}" for call in calls)]
        main.append("    except _MATH_ERRORS as error:")
        main.append("        raise _evaluation_error(error) from None")
    texts = ["\n".join(main) + "\n"]
    parts = [(start_line, 0, len(texts[0]))]  # (first line, first and last character)
    line, offset = start_line + len(main), len(texts[0])
    line_ops = LineOps()
    add_line, ops, placed, slot_of = line_ops.add, program.ops, layout.placed, slots.of
    owner_ops, owner_reads = owners.ops, owners.reads
    for p, (start, end) in enumerate(ranges):
        piece_ops = owner_ops[start:end]
        ids = [i for i in piece_ops if i is not None]
        kinds = {program.ops[i].in_gradient for i in ids}
        kind = "backward" if kinds == {True} else "forward" if kinds == {False} else "both"
        line += 2  # two blank lines before each def
        spans = [program.ops[i].span for i in ids]
        body = [f"def {piece}{p + 1}(_v):", f"    # {kind}: {covered(spans, program.source)}"]
        moves = [(slots.of[u], names[u]) for u in loads[p]]
        body += _loads(moves, f"_{function}_loads_{p + 1}", tables)
        if any(placed[i] is not None and i in slot_of for i in ids):  # (stores in `if` blocks)
            stored = []  # values computed outside any `if` block, stored at the end
            for text, defined in zip(lines[start:end], piece_ops, strict=True):
                body.append(text)
                if defined is None:
                    continue
                add_line(line + len(body) - 1, ops[defined])
                slot = slot_of.get(defined)
                if slot is not None:
                    if placed[defined] is None:
                        stored.append((slot, names[defined]))
                    else:
                        indent = text[: len(text) - len(text.lstrip())]
                        body.append(f"{indent}_v[{slot}] = {names[defined]}")
        else:  # no line to add: the piece's lines as they stand, in one go
            first = line + len(body)
            body += lines[start:end]
            line_ops.extend(
                [first + k for k, i in enumerate(piece_ops) if i is not None], [ops[i] for i in ids]
            )
            stored = [(slot_of[i], names[i]) for i in ids if i in slot_of]
        lines[start:end] = owner_reads[start:end] = [None] * (end - start)  # (freed as it goes)
        body += _stores(sorted(stored))
        text = "\n".join(body) + "\n"
        texts += ("\n\n", text)
        parts.append((line, offset + 2, offset + 2 + len(text)))
        line, offset = line + len(body), offset + 2 + len(text)
    del layout, placed, lines, owners, owner_reads, home, outsides, loads, slots, slot_of
    # (all of them dropped before the source is joined)
    params = tuple(mangle(name) for name in program.inputs)
    shown = NameList(names)
    return Generated(
        "".join(texts), params, line_ops, tuple(sorted(helpers)), shown, tuple(parts), tables
    )
