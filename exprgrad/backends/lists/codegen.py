"""IR + shapes -> Python over nested lists: array formulas as loops anyone can read.

The program is the one the numpy backend writes (core/pipeline.py with arrays), and the
code is written for one signature of input shapes (core/shapes.py), as the numpy
backend's is. Every array is a nested list of floats (a list of rows for a matrix), a
scalar a float. Each op is one line, or a short block that ends by naming its value:

    t1 = [[_a + _b for _a, _b in zip(_a0, b1)] for _a0 in t0]      # X @ W1 + b1  [4x3]

An elementwise op is a comprehension that zips its operands level by level (an operand
broadcast along a level stays put there); a comparison read once by a where is written
into it. Reductions, @ and the shape changes of reverse mode are comprehensions for
vectors and matrices, and helpers (helpers.py) for higher ranks. Python's math raises
where numpy gives an inf or a nan: function.py then runs the same code written with
`ieee` (spellings.IEEE) to find out whether the value reaches a result.
"""

from __future__ import annotations

from ...core.ir import CONST, INPUT, Op, Program, quote
from ...core.primitives import BY_NAME
from ...core.shapes import Spec, axis_of, element_count, operands
from ..emit import (
    COMMENT_COLUMN,
    LINE_LIMIT,
    PIECE_LINES,
    Generated,
    Namer,
    inlined_comparisons,
    literal,
    mangle,
    wrapped_call,
)
from ..pieces import in_pieces
from ..python import spellings as python_spellings
from .helpers import HELPERS, NEEDS
from .spellings import spell

SEED = "<cotangent>"  # vjp's cotangent input in the IR (no formula can name it)
_SEED_PARAM = "_cotangent"
# a lane of numbers -> one number: how each reduction reads a lane
_LANE = {
    "sum": "sum({}, 0.0)",
    "mean": "_mean({})",
    "amax": "_amax({})",
    "amin": "_amin({})",
    "logsumexp": "_logsumexp({})",
}
_UNROLLED = 4  # a dot product of at most this many terms is written out (x0*y0 + x1*y1)
_FUNCTIONS = {"sum": "_sum", "mean": "_mean", "amax": "_amax", "amin": "_amin"}
_FUNCTIONS.update(logsumexp="_logsumexp", softmax="_softmax", log_softmax="_log_softmax")


def _letter(k: int) -> str:
    return f"_{'abcdefghijklmnopqrstuvwxyz'[k]}" if k < 26 else f"_v{k}"


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(map(str, items)) + ("," if len(items) == 1 else "") + ")"


class ListWriter:
    """Each op's code, from the op, its operands' names and every value's shape."""

    def __init__(self, program: Program, specs: list[Spec], names: dict[int, str], ieee: bool):
        self.program, self.specs, self.names, self.ieee = program, specs, names, ieee
        self.inlined: set[int] = set()

    def shape(self, i: int) -> tuple[int, ...]:
        return self.specs[i].shape

    def is_alias(self, i: int) -> bool:
        """An op whose value is its first operand's, unchanged (written without a line)."""
        op = self.program.ops[i]
        if op.prim in ("unbroadcast", "expand"):
            return self.shape(op.args[0]) == self.shape(i)
        return op.prim == "transpose" and len(self.shape(i)) <= 1

    def code(self, i: int) -> tuple[list[str], str]:
        """(lines to run first, the expression of the value) of op i."""
        program = self.program
        op = program.ops[i]
        prim = op.prim
        args = operands(program, i)
        primitive = BY_NAME[prim]
        if not primitive.arrays:
            return [], self.elementwise(i)
        if self.is_alias(i):
            return [], self.names[args[0]]
        if prim != "count" and any(0 in self.shape(a) for a in (i, *args)) and self.shape(i):
            # an empty operand: sums of nothing are 0 (zip(*x) of no rows would lose the
            # axes); an empty result: its nested empty lists
            return [], f"_broadcast(0.0, (), {_tuple(self.shape(i))})"
        if not self.shape(args[0]) and prim in python_spellings.SPELLINGS:
            # an array function of a number is the number's (folding computes it so too)
            number = [self.names[a] for a in args]
            return [], python_spellings.spell(prim, number)
        axis = axis_of(program, i)
        if axis is not None:  # an axis of the array reduced (expand: of the one it reduced)
            axis %= max(1, len(self.shape(args[1 if prim == "expand" else 0])))
        names = [self.names[a] for a in args]
        if prim in _LANE:
            return [], self.reduce(prim, names[0], self.shape(args[0]), axis)
        if prim in ("softmax", "log_softmax"):
            return [], self.along(_FUNCTIONS[prim], names[0], self.shape(args[0]), axis)
        if prim in ("reshape", "flatten", "reshape_as"):  # the same numbers, regrouped
            shape = self.shape(args[0])
            flat = f"list({self.flat(names[0], shape)})" if shape else f"[{names[0]}]"
            return [], f"_nest({flat}, {_tuple(self.shape(i))})"
        if prim == "transpose":
            if len(self.shape(args[0])) == 2:
                return [], f"[list(_c) for _c in zip(*{names[0]})]"
            return [], f"_transpose({names[0]}, {_tuple(self.shape(args[0]))})"
        if prim == "norm2":
            flat = self.flat(names[0], self.shape(args[0]))
            return [], f"sum([_a * _a for _a in {flat}], 0.0)"
        if prim == "count":
            return [], literal(float(element_count(self.shape(args[0]), axis)))
        if prim == "expand":
            return [], self.expand(names[0], self.shape(args[0]), self.shape(args[1]), axis)
        if prim == "unbroadcast":
            return [], self.unbroadcast(names[0], self.shape(args[0]), self.shape(args[1]))
        if prim == "matmul":
            return self.matmul(*names, self.shape(args[0]), self.shape(args[1]))
        return self.matmul_gradient(prim, *args)

    # --- elementwise ------------------------------------------------------------------

    def elementwise(self, i: int) -> str:
        """A comprehension over the op's shape: operands zipped level by level."""
        program = self.program
        op = program.ops[i]
        leaves: list[int] = []  # array operands, each read through one loop variable

        def collect(j: int) -> None:
            if j in self.inlined:  # a comparison written into the where that reads it
                for a in program.ops[j].args:
                    collect(a)
            elif program.ops[j].prim != CONST and self.shape(j) and j not in leaves:
                leaves.append(j)

        for a in op.args:
            collect(a)
        shape = self.shape(i)
        rank = len(shape)
        variables = {j: _letter(k) for k, j in enumerate(leaves)}
        current = {j: self.names[j] for j in leaves}  # how the body reads each operand
        levels: list[list[tuple[str, str]]] = []  # per level: (loop variable, iterable)
        for k in range(rank):
            level = []
            for j in leaves:
                own = self.shape(j)
                at = k - (rank - len(own))
                if at < 0:
                    continue  # broadcasting adds this axis: the operand stays whole
                if own[at] == shape[k]:
                    variable = variables[j] if k == rank - 1 else f"{variables[j]}{k}"
                    level.append((variable, current[j]))
                    current[j] = variable
                else:  # size 1, stretched: its only element, at every step of this level
                    current[j] = f"{current[j]}[0]"
            levels.append(level)

        def element(j: int) -> tuple[str, bool]:
            if j in self.inlined:
                parts = [element(a) for a in program.ops[j].args]
                text = spell(program.ops[j].prim, [p for p, _ in parts], [c for _, c in parts])
                return text, False
            if j in current:
                return current[j], False
            return self.names[j], program.ops[j].prim == CONST

        parts = [element(a) for a in op.args]
        body = spell(op.prim, [p for p, _ in parts], [c for _, c in parts], self.ieee)
        for k in reversed(range(rank)):
            level = levels[k]
            if not level:
                clause = f"for _ in range({shape[k]})"
            elif len(level) == 1:
                clause = f"for {level[0][0]} in {level[0][1]}"
            else:
                names = ", ".join(v for v, _ in level)
                clause = f"for {names} in zip({', '.join(it for _, it in level)})"
            body = f"[{body} {clause}]"
        return body

    # --- reductions and lanes -----------------------------------------------------------

    def flat(self, name: str, shape: tuple[int, ...]) -> str:
        """An iterable of every element, row by row."""
        if len(shape) == 1:
            return name
        if len(shape) == 2:
            return f"[_a for _a0 in {name} for _a in _a0]"
        return f"_flatten({name}, {len(shape)})"

    def reduce(self, prim: str, name: str, shape: tuple[int, ...], axis: int | None) -> str:
        lane = _LANE[prim]
        if axis is None:
            return lane.format(self.flat(name, shape))
        if len(shape) == 1:
            return lane.format(name)
        if len(shape) == 2:
            if axis == 1:
                return f"[{lane.format('_r')} for _r in {name}]"
            return f"[{lane.format('_c')} for _c in zip(*{name})]"
        function = _FUNCTIONS[prim]
        return f"_reduce_axis({function}, {name}, {_tuple(shape)}, {axis})"

    def along(self, function: str, name: str, shape: tuple[int, ...], axis: int) -> str:
        if len(shape) == 1:
            return f"{function}({name})"
        if len(shape) == 2 and axis == 1:
            return f"[{function}(_r) for _r in {name}]"
        return f"_along({function}, {name}, {_tuple(shape)}, {axis})"

    # --- shape changes of reverse mode -----------------------------------------------------

    def expand(self, name: str, have: tuple, shape: tuple, axis: int | None) -> str:
        """The value broadcast back to `shape`, after a reduction over `axis` (None: all)."""
        if not have:  # one number everywhere
            if len(shape) == 1:
                return f"[{name}] * {shape[0]}"
            if len(shape) == 2:
                return f"[[{name}] * {shape[1]} for _ in range({shape[0]})]"
            return f"_broadcast({name}, (), {_tuple(shape)})"
        if len(shape) == 2 and axis == 1:
            return f"[[_a] * {shape[1]} for _a in {name}]"
        if len(shape) == 2 and axis == 0:
            return f"[list({name}) for _ in range({shape[0]})]"
        return f"_expand({name}, {_tuple(shape)}, {axis})"

    def unbroadcast(self, name: str, have: tuple, shape: tuple) -> str:
        """The value summed over the axes broadcasting added or stretched, to `shape`."""
        lead = len(have) - len(shape)
        if lead < 0 or any(h < s for h, s in zip(have[lead:], shape, strict=True)):
            return f"_broadcast({name}, {_tuple(have)}, {_tuple(shape)})"  # a folded constant
        if not shape:
            return f"sum({self.flat(name, have)}, 0.0)"
        if have == (have[0], *shape) and len(shape) == 1:  # (N, F) -> (F,)
            return f"[sum(_c, 0.0) for _c in zip(*{name})]"
        return f"_unbroadcast({name}, {_tuple(have)}, {_tuple(shape)})"

    # --- matrix products -------------------------------------------------------------------

    def matmul(self, x: str, y: str, xs: tuple, ys: tuple) -> tuple[list[str], str]:
        inner = xs[-1]
        if 0 < inner <= _UNROLLED and len(ys) == 2:  # a short dot product, written out
            xv = [f"_x{k}" for k in range(inner)]
            yv = [f"_y{k}" for k in range(inner)]
            dot = " + ".join(f"{a} * {b}" for a, b in zip(xv, yv, strict=True))
            rows = ", ".join(xv) + ("," if inner == 1 else "")
            columns = ", ".join(yv) + ("," if inner == 1 else "")
            if len(xs) == 1:
                return [], f"[{dot} for {columns} in zip(*{y}) for {rows} in [{x}]]"
            return [f"_columns = list(zip(*{y}))"], (
                f"[[{dot} for {columns} in _columns] for {rows} in {x}]"
            )
        if len(xs) == 1 and len(ys) == 1:
            return [], f"sum(map(_mul, {x}, {y}), 0.0)"
        if len(ys) == 1:  # (N, K) @ (K,)
            return [], f"[sum(map(_mul, _r, {y}), 0.0) for _r in {x}]"
        if len(xs) == 1:  # (K,) @ (K, M)
            return [], f"[sum(map(_mul, {x}, _c), 0.0) for _c in zip(*{y})]"
        return [f"_columns = list(zip(*{y}))"], (
            f"[[sum(map(_mul, _r, _c), 0.0) for _c in _columns] for _r in {x}]"
        )

    def matmul_gradient(self, prim: str, g: int, x: int, y: int) -> tuple[list[str], str]:
        """d(x @ y) contracted with g, for each pair of 1-D and 2-D operands."""
        gn, xn, yn = self.names[g], self.names[x], self.names[y]
        ranks = len(self.shape(x)), len(self.shape(y))
        if prim == "matmul_dx":
            return [], {
                (2, 2): f"[[sum(map(_mul, _r, _s), 0.0) for _s in {yn}] for _r in {gn}]",
                (1, 2): f"[sum(map(_mul, _s, {gn}), 0.0) for _s in {yn}]",
                (2, 1): f"[[_g * _b for _b in {yn}] for _g in {gn}]",
                (1, 1): f"[{gn} * _b for _b in {yn}]",
            }[ranks]
        if ranks == (2, 2):
            return [f"_columns = list(zip(*{gn}))"], (
                f"[[sum(map(_mul, _a, _c), 0.0) for _c in _columns] for _a in zip(*{xn})]"
            )
        return [], {
            (1, 2): f"[[_a * _g for _g in {gn}] for _a in {xn}]",
            (2, 1): f"[sum(map(_mul, _a, {gn}), 0.0) for _a in zip(*{xn})]",
            (1, 1): f"[{gn} * _a for _a in {xn}]",
        }[ranks]


def _names(program: Program, writer_inlined: set[int]) -> dict[int, str]:
    names = Namer(program, writer_inlined, python_spellings.spell).names
    for i, op in enumerate(program.ops):
        if op.prim == INPUT and op.name == SEED:
            names[i] = _SEED_PARAM
    return names


def names_of(program: Program) -> dict[int, str]:
    """Each op's name in the code generated for the program (a trace's labels)."""
    return _names(program, inlined_comparisons(program))


def specialised_source(
    program: Program,
    specs: list[Spec],
    function: str,
    *,
    returns: list[tuple[str, int]] | None = None,
    ieee: bool = False,
    every: bool = False,
    name: str | None = None,
) -> Generated:
    """Source of `function` for one signature: `forward` returns the value, `value_and_grad`
    and `vjp` (value, {name: gradient}) (vjp's cotangent is its last parameter). With
    `ieee`, an inf or a nan where Python's math raises; with `every`, each op gets a name
    of its own and the function returns [every op's value] (None for constants): what
    function.py reads to explain a non-finite result. name: the def's, if not `function`."""
    inlined = set() if every else inlined_comparisons(program)
    names = _names(program, inlined)
    if every:
        for i, op in enumerate(program.ops):  # every op its own name: no inlining, no alias
            if op.prim not in (INPUT, CONST):
                names[i] = f"_v{i}"
    writer = ListWriter(program, specs, names, ieee)
    writer.inlined = inlined
    for i in range(len(program.ops)):  # an alias takes its operand's name
        if not every and writer.is_alias(i):
            names[i] = names[program.ops[i].args[0]]
    params = [mangle(name) for name in program.inputs]
    if any(op.prim == INPUT and op.name == SEED for op in program.ops):
        params.append(_SEED_PARAM)
    def_name = name or function
    lines = wrapped_call(f"def {def_name}(", params, "):", "")
    line_ops: dict[int, Op] = {}
    previous_comment, in_gradient = None, None
    for i, op in enumerate(program.ops):
        if op.prim in (INPUT, CONST) or i in inlined:
            continue
        if not every and (writer.is_alias(i) or op.prim == "count"):
            if op.prim == "count":
                names[i] = writer.code(i)[1]
            continue
        if function not in ("forward", "every") and op.in_gradient != in_gradient:
            in_gradient = op.in_gradient
            lines.append(f"    # {'backward' if in_gradient else 'forward'}")
            previous_comment = None
        before, expression = writer.code(i)
        for line in before:
            line_ops[len(lines) + 1] = op
            lines.append(f"    {line}")
        code = f"    {names[i]} = {expression}"
        comment = quote(program.source, op)
        shape = _shape_text(specs[i])
        note = f"{comment}  [{shape}]" if comment and comment != previous_comment else f"[{shape}]"
        previous_comment = comment or previous_comment
        line_ops[len(lines) + 1] = op
        lines.append(f"{code.ljust(COMMENT_COLUMN)}  # {note}")
    if every:
        values = [names[i] if op.prim != CONST else "None" for i, op in enumerate(program.ops)]
        lines += wrapped_call("return [", values, "]", "    ")
    elif function == "forward":
        lines.append(f"    return {_output(program, specs, names, program.value, ())}")
    else:
        value = _output(program, specs, names, program.value, ())
        returned = [names[program.value]] + [names[i] for _, i in returns or []]
        entries = []
        for input_name, i in returns or []:
            wanted = specs[program.input_ids()[input_name]].shape
            repeated = returned.count(names[i]) > 1 or names[i] in params
            entries.append(f"{input_name!r}: {_output(program, specs, names, i, wanted, repeated)}")
        one_line = f"    return {value}, {{{', '.join(entries)}}}"
        if len(one_line) <= LINE_LIMIT:
            lines.append(one_line)
        else:
            lines += ["    return " + value + ", {", *(f"        {e}," for e in entries), "    }"]
    if len(line_ops) > PIECE_LINES and not every:  # long code: compiled a piece at a time
        head = next(k for k, line in enumerate(lines) if line.endswith("):")) + 1
        spans = [getattr(line_ops.get(k), "span", None) for k in range(head + 1, len(lines) + 1)]
        source, parts = in_pieces(def_name, params, None, lines[head:], spans, program.source)
        return Generated(source, tuple(params), {}, (), names, parts)
    source = "\n".join(lines) + "\n"
    return Generated(source, tuple(params), line_ops, (), names)


def _output(program, specs, names, i, wanted, copy=False) -> str:
    """A returned value: a float for a scalar, a fresh nested list in the wanted shape
    (a gradient of an input) for an array; never a list another result shares."""
    text, shape = names[i], specs[i].shape
    if not shape:
        if wanted:  # one number for every element of an array input
            return f"_broadcast({text}, (), {_tuple(wanted)})"
        return text
    if wanted and shape != wanted:
        return f"_broadcast({text}, {_tuple(shape)}, {_tuple(wanted)})"
    return f"_copy({text})" if copy else text


def _shape_text(spec: Spec) -> str:
    return "scalar" if spec.shape == () else "x".join(map(str, spec.shape))


def used_helpers(source: str) -> list[str]:
    """The helpers (helpers.py) a generated source calls, for a standalone module."""
    wanted = [name for name in HELPERS if name in source]
    k = 0
    while k < len(wanted):
        for need in NEEDS.get(wanted[k], ()):
            if need not in wanted:
                wanted.append(need)
        k += 1
    return sorted(wanted, key=list(HELPERS).index)
