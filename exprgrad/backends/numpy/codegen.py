"""IR + shapes -> numpy source: the second backend, fed by the same IR and table as the first.

The program (forward and gradient) is the one the Python backend writes for scalars;
the difference is that this code is written for one signature of input
shapes and dtypes (core/shapes.py), so that what depends on shapes is decided
here, once: gradients summed back over broadcast dimensions, reductions
expanded back, which matrix product a gradient of @ is. Names, comments and
literals follow the Python backend (backends/emit.py), and each comment ends with the value's shape.

Both branches of a `where` are computed on whole arrays and np.where picks
elements; the gradient of a branch leaves it through where(condition, g, 0)
(core/reverse.py), so an inf or nan computed in a branch not taken never reaches
a result. Warnings are off inside the generated functions: a non-finite
result is checked once, on the way out, by the caller (function.py).
"""

from __future__ import annotations

import re
from collections import Counter

from ...core import regions
from ...core.array_rules import size_of
from ...core.ir import CONST, INPUT, Op, Program, quote
from ...core.primitives import BY_NAME
from ...core.shapes import Spec, axis_of, element_count, operands, params_of
from ..emit import (
    COMMENT_COLUMN,
    LINE_LIMIT,
    PIECE_LINES,
    Generated,
    Namer,
    inlined_comparisons,
    literal,
    mangle,
    use_counts,
    wrapped_call,
)
from ..pieces import in_pieces
from .spellings import SPELLINGS, spell

SEED = "<cotangent>"  # the name of vjp's cotangent input in the IR: no formula can use it
_SEED_PARAM = "_cotangent"  # and in the generated code (codegen never gives '_x' names)


_RESHAPES = ("reshape", "flatten", "reshape_as")  # the same elements, another shape


def _tuple(items: list) -> str:
    return "(" + ", ".join(map(str, items)) + ("," if len(items) == 1 else "") + ")"


class ExpressionWriter:
    def __init__(self, program: Program, specs: list[Spec], names: dict[int, str]):
        self.program, self.specs, self.names = program, specs, names
        self.dtypes = {spec.dtype for spec in specs}
        self.loose = self._loose_expands()

    def _loose_expands(self) -> set[int]:
        """expand ops that need not be broadcast to their full shape: every op reading one
        is elementwise and has another operand of its full shape and dtype, which
        broadcasting stretches it to anyway (np.broadcast_to costs more than the
        arithmetic). The dtype too: a loose 1.0 times a float32 array is float32, so a
        float64 result needs the expanded array."""
        program, specs = self.program, self.specs
        users: dict[int, list[int]] = {}
        for i, op in enumerate(program.ops):
            for arg in op.args:
                users.setdefault(arg, []).append(i)
        outputs = set(program.outputs())
        loose = set()
        for i, op in enumerate(program.ops):
            if op.prim != "expand" or i in outputs:
                continue
            fine = True
            readers = [(u, i) for u in users.get(i, [])]  # (reader, the operand it reads)
            while readers and fine:
                u, via = readers.pop()
                if self.is_alias(u):  # an unchanged unbroadcast passes the value on
                    fine = u not in outputs
                    readers += [(r, u) for r in users.get(u, [])]
                    continue
                user = program.ops[u]
                full = [
                    a
                    for a in user.args
                    if a != via
                    and program.ops[a].prim != "expand"
                    and specs[a].shape == specs[u].shape
                    and specs[a].dtype == specs[u].dtype
                ]
                elementwise = BY_NAME[user.prim].shape is None and user.prim != "where"
                fine = elementwise and bool(full)
            if fine:
                loose.add(i)
        return loose

    def shape(self, i: int) -> tuple[int, ...]:
        return self.specs[i].shape

    def is_view(self, i: int) -> bool:
        """Does the op's value share memory with something else (an input, a broadcast)?"""
        op = self.program.ops[i]
        if op.prim in (INPUT, "transpose", "expand", *_RESHAPES):
            return True
        return op.prim == "unbroadcast" and "broadcast_to" in self.expression(i)

    def expression(self, i: int) -> str:
        program = self.program
        op = program.ops[i]
        prim = op.prim
        args = operands(program, i)
        ops_ = self.operand_names(i, args)
        if prim == "unbroadcast":
            return self.unbroadcast(args[0], self.shape(args[1]))
        if prim == "expand":
            return self.expand(args[0], args[1], axis_of(program, i), i in self.loose)
        if prim == "count":
            return literal(float(element_count(self.shape(args[0]), axis_of(program, i))))
        if prim in ("matmul_dx", "matmul_dy"):
            return self.matmul_gradient(prim, *args)
        primitive = BY_NAME[prim]
        if primitive.params is not None or prim in _RESHAPES:
            return self.windowed(i, prim, ops_)
        if prim == "sum" and self.specs[args[0]].dtype == "bool":  # counting: in float
            axis = axis_of(program, i)
            where = "" if axis is None else f", axis={axis}"
            return f"np.sum({ops_[0]}{where}, dtype=np.{self.specs[i].dtype})"
        if prim == "mean" and self.specs[args[0]].dtype in ("float32", "float64"):
            return self.mean(ops_[0], args[0], axis_of(program, i))
        if primitive.axis:
            axis = axis_of(program, i)
            if axis is None:
                return spell(prim, [*ops_, "None"]).replace(", axis=None", "")
            return spell(prim, [*ops_, str(axis)])
        return spell(prim, ops_)

    def windowed(self, i: int, prim: str, names: list[str]) -> str:
        """The conv, pool and reshape rows: a helper call (helpers.py) with the parameters
        as the whole numbers they are, or a reshape to the shape the shape pass found."""
        if prim in _RESHAPES:
            return f"np.reshape({names[0]}, {_tuple(list(self.shape(i)))})"
        params = ", ".join(map(str, params_of(self.program, i)))
        return f"_{prim}({', '.join(names)}, {params})"

    def operand_names(self, i: int, args: tuple[int, ...]) -> list[str]:
        """The operands' names, a number written in the op's dtype where a Python float
        would make another: where(c, 1.0, 0.0) is float64 unless its numbers are float32,
        and 1.0 * a float32 array is float32 unless the 1.0 is a np.float64."""
        dtype = self.specs[i].dtype
        if self.program.ops[i].prim in ("div", "powi") and all(
            self.specs[a].dtype == "weak" for a in args
        ):  # numbers alone: Python would raise (1/0); numpy gives an inf, named on the way out
            first, *rest = [self.names[a] for a in args]
            return [f"np.{dtype if dtype == 'float32' else 'float64'}({first})", *rest]
        if dtype == "float32" and any(self.specs[a].dtype == "float32" for a in args):
            return [self.names[a] for a in args]  # a float32 array keeps it float32
        if dtype == "float32" or (dtype == "float64" and "float32" in self.dtypes):
            return [self.typed(a, dtype) for a in args]
        return [self.names[a] for a in args]

    def mean(self, name: str, value: int, axis: int | None) -> str:
        """np.mean's own sum and division, without the layer of Python around them (the
        division by the count rounds once, as np.mean's does, in float32 too)."""
        count = element_count(self.shape(value), axis)
        return f"np.add.reduce({name}, {axis}) / {literal(float(count))}"

    def unbroadcast(self, value: int, shape: tuple[int, ...]) -> str:
        """The value summed over the dimensions broadcasting added, to `shape`."""
        have, name = self.shape(value), self.names[value]
        if have == shape:
            return name
        name = self.typed(value, "float32" if "float32" in self.dtypes else "float64")
        lead = len(have) - len(shape)
        if lead < 0 or any(h < s for h, s in zip(have[lead:], shape, strict=True)):
            return f"np.broadcast_to({name}, {_tuple(list(shape))})"  # a folded constant
        if shape == ():
            return f"np.add.reduce({name}, None)"
        kept = [lead + k for k, n in enumerate(shape) if n == 1 and have[lead + k] != 1]
        if not kept:  # only leading dimensions were added
            return f"np.add.reduce({name}, {_tuple(list(range(lead)))})"
        summed = f"np.add.reduce({name}, {_tuple(list(range(lead)) + kept)}, keepdims=True)"
        return f"{summed}.reshape({_tuple(list(shape))})"

    def is_fresh(self, i: int) -> bool:
        """Is the op's value an array this code allocated (so it may be written into)?"""
        op = self.program.ops[i]
        if op.prim in (INPUT, CONST, "count", "expand", "transpose", *_RESHAPES):
            return False  # a view of another array (a reshape may be one)
        if self.is_alias(i):
            return False
        return "broadcast_to" not in self.expression(i)

    def is_alias(self, i: int) -> bool:
        """An op whose code would only copy a name: an unbroadcast that changes no shape,
        or an expand (forward mode's, of a tangent to its op's shape) that changes neither
        shape nor dtype."""
        op = self.program.ops[i]
        if op.prim == "unbroadcast":
            return self.shape(op.args[0]) == self.shape(op.args[1])
        if op.prim == "expand" and len(op.args) == 2:
            value, like = op.args
            return self.specs[value] == self.specs[like] and self.specs[value].dtype != "weak"
        return False

    def typed(self, value: int, dtype: str) -> str:
        """A number in the dtype of the arrays it joins: float32 stays float32, and
        float64 stays float64 where a float32 array is met (a Python float would not)."""
        name = self.names[value]
        spec = self.specs[value]
        number = spec.dtype == "weak" or (not name.isidentifier() and spec.dtype != "bool")
        if number and dtype == "float32":
            return f"np.float32({name})"
        if number and dtype == "float64" and "float32" in self.dtypes:
            return f"np.float64({name})"
        return name

    def expand(self, value: int, like: int, axis: int | None, loose: bool = False) -> str:
        """The value broadcast back to like's shape (after a reduction over `axis`); when
        `loose`, only given the dimension it lost, for the next op to broadcast."""
        shape, name = self.shape(like), self.typed(value, self.specs[like].dtype)
        if self.shape(value) == shape:
            return name
        if axis is not None and self.shape(value):  # g[:, None]: g with axis 1 of size 1
            name = f"{name}[{':, ' * (axis % len(shape))}None]"
        if loose:
            return name
        if not self.shape(value):  # one number everywhere: np.full is the quicker
            dtype = self.specs[like].dtype if self.specs[like].dtype in ("float32",) else "float64"
            return f"np.full({_tuple(list(shape))}, {name}, dtype=np.{dtype})"
        return f"np.broadcast_to({name}, {_tuple(list(shape))})"

    def matmul_gradient(self, prim: str, g: int, x: int, y: int) -> str:
        """d(x @ y) contracted with g, for each pair of 1-D and 2-D operands."""
        gn, xn, yn = self.names[g], self.names[x], self.names[y]
        nx, ny = len(self.shape(x)), len(self.shape(y))
        if prim == "matmul_dx":
            return {
                (2, 2): f"{gn} @ {yn}.T",
                (1, 2): f"{yn} @ {gn}",
                (2, 1): f"np.outer({gn}, {yn})",
                (1, 1): f"{gn} * {yn}",
            }[nx, ny]
        return {
            (2, 2): f"{xn}.T @ {gn}",
            (1, 2): f"np.outer({xn}, {gn})",
            (2, 1): f"{xn}.T @ {gn}",
            (1, 1): f"{gn} * {xn}",
        }[nx, ny]


def _may_fail_in_a_branch(program: Program) -> bool:
    """Does an op that may fail (log, division, ...), or any op of the formula (x * log(x),
    which may overflow or meet an inf: and so may its gradient), serve only some branch of
    a where? relu's where(x > 0, g, out) picks between values computed anyway: no."""
    needed = regions.need(program, regions.Guards())
    if any(
        region is not None
        and op.args
        and BY_NAME[op.prim].may_raise
        and not _safe_division(program, op)
        for op, region in zip(program.ops, needed, strict=True)
    ):
        return True
    # the formula's own ops (the gradient reads them all, if only for their shapes): they
    # come first, up to its value
    formula = Program(program.ops[: program.value + 1], program.source, (), program.value)
    needed = regions.need(formula, regions.Guards())
    return any(
        region is not None and op.args and op.prim != "where"
        for op, region in zip(formula.ops, needed, strict=True)
    )


def _safe_division(program: Program, op: Op) -> bool:
    """A division by an element count or a nonzero constant (mean's gradient): no element
    of it can fail."""
    if op.prim != "div":
        return False
    divisor = program.ops[op.args[1]]
    return divisor.prim == "count" or (divisor.prim == CONST and divisor.value != 0)


def _names(program: Program) -> tuple[dict[int, str], set[int]]:
    """Names as the Python backend gives them, comparisons used once written into their np.where."""
    inlined = inlined_comparisons(program)
    names = Namer(program, inlined, spell).names
    for i, op in enumerate(program.ops):
        if op.prim == INPUT and op.name == SEED:
            names[i] = _SEED_PARAM
    return names, inlined


def _alias(program: Program, writer: ExpressionWriter, names: dict[int, str]) -> None:
    """Ops written without a line of their own: an unbroadcast that changes nothing takes
    its operand's name (giving the operand its own name, t6_grad, if that is the only use),
    and a count is the number it is."""
    uses = use_counts(program)
    for i, op in enumerate(program.ops):
        if op.prim == "count":
            names[i] = writer.expression(i)
        elif writer.is_alias(i):
            source = op.args[0]
            own = program.ops[source].prim not in (INPUT, CONST, "count")
            own = own and not writer.is_alias(source)  # an alias has no line to rename
            if own and uses[source] == 1 and names[i].endswith("_grad"):
                names[source] = names[i]
            else:
                names[i] = names[source]


_SHAPE_READ = {"count": 0, "unbroadcast": 1, "expand": 1}  # the operand read for its shape


def _value_reads(program: Program) -> Counter:
    """How many times each op's value is read (by ops or as an output); an operand whose
    shape alone is read (unbroadcast's and expand's second, count's) is not read."""
    uses = Counter(program.outputs())
    for op in program.ops:
        shape_only = _SHAPE_READ.get(op.prim)
        uses.update(a for k, a in enumerate(op.args) if k != shape_only)
    return uses


# binary ops written in place into a fresh operand: `t -= u` where it is the first,
# np.subtract(u, t, out=t) where it is the second (the operands keep their order, so a
# result that meets two nans keeps the same one); a sum, as always, as `t += u`
_AUGMENTED = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/="}
_BINARY_UFUNC = {"add": "np.add", "sub": "np.subtract", "mul": "np.multiply", "div": "np.divide"}
_UNARY_UFUNC = re.compile(r"(np\.\w+)\(\{0\}\)")  # np.exp({0}): np.exp(t, out=t)
# the fewest elements worth an `out=` form: a smaller array costs numpy less to allocate
# than the keyword costs to parse (measured: np.exp(t, out=t) on 64x10 is the slower)
_OUT_MIN_SIZE = 4096


def _in_place_ufunc(prim: str) -> str | None:
    """The numpy ufunc an elementwise one-operand op is spelled with (neg: np.negative)."""
    if prim == "neg":
        return "np.negative"
    spelling = SPELLINGS.get(prim)
    found = _UNARY_UFUNC.fullmatch(spelling) if isinstance(spelling, str) else None
    return found.group(1) if found and BY_NAME[prim].shape is None else None


def _in_place(
    program: Program, writer: ExpressionWriter, names: dict[int, str], kept: set[int]
) -> dict[int, int | None]:
    """Elementwise ops written into an operand (`W_grad += t9`, `t4 *= t3`,
    `np.exp(t5, out=t5)`): op -> the position of its other operand (None: it has one).
    The operand written into must be an array of the result's shape and dtype that this
    code made itself (not an input, a view or a constant) and that nothing else reads:
    the op then allocates nothing. It takes the result's name. An op in `kept` (a traced
    row) is never written into: its value is returned as it was made. Reads of a shape
    alone (the array an unbroadcast or expand takes its shape from) don't count:
    `t1 = X @ W1; t1 += b1` though the gradient of the sum is shaped like X @ W1."""
    uses = _value_reads(program)
    into: dict[int, int] = {}
    others: dict[int, int | None] = {}
    for i, op in enumerate(program.ops):
        if op.prim in _AUGMENTED and op.args[0] != op.args[1]:
            positions = (0, 1)
        elif _in_place_ufunc(op.prim) and len(op.args) == 1:
            positions = (0,)
        else:
            continue
        for position in positions:
            small = size_of(writer.specs[i].shape) < _OUT_MIN_SIZE
            if _writes_with_out(op.prim, position) and small:
                continue
            operand = op.args[position]
            target, alone = operand, uses[operand] == 1 and operand not in kept
            while writer.is_alias(target):  # an unchanged unbroadcast: look through it
                target = program.ops[target].args[0]
                alone = alone and uses[target] == 1 and target not in kept
            spec = writer.specs[target]
            if (
                alone
                and spec == writer.specs[i]
                and spec.shape != ()
                and writer.is_fresh(target)
                and target not in into.values()
            ):
                into[i] = target
                others[i] = None if len(op.args) == 1 else 1 - position
                break
    for i in sorted(into, reverse=True):  # a chain of sums is one array: the last one's name
        names[into[i]] = names[i]
    return others


def _writes_with_out(prim: str, position: int) -> bool:
    """Is the op written into its operand at `position` with an out= keyword?"""
    return prim not in _AUGMENTED or (position == 1 and prim != "add")


def _in_place_line(writer: ExpressionWriter, i: int, other: int | None) -> str:
    """The statement computing op i into its operand, which already has the op's name."""
    name, prim = writer.names[i], writer.program.ops[i].prim
    if other is None:
        return f"{_in_place_ufunc(prim)}({name}, out={name})"
    operand = writer.operand_names(i, writer.program.ops[i].args)[other]
    if other == 1 or prim == "add":
        return f"{name} {_AUGMENTED[prim]} {operand}"
    return f"{_BINARY_UFUNC[prim]}({operand}, {name}, out={name})"


def _shape_text(spec: Spec) -> str:
    shape = "scalar" if spec.shape == () else "x".join(map(str, spec.shape))
    return shape if spec.dtype in ("float64", "weak") else f"{shape} {spec.dtype}"


def specialised_source(
    program: Program,
    specs: list[Spec],
    function: str,
    *,
    returns: list[tuple[str, int]] | None = None,
    rows: list[int] | None = None,
) -> Generated:
    """Source of `function` for one signature: `forward` returns the value,
    `value_and_grad` (value, {name: gradient}), `vjp` (value, {name: gradient}) with
    the cotangent as its last argument, `trace` (value, the values of `rows`, and their
    adjoints when the program has them: reverse mode's every_adjoint)."""
    names, inlined = _names(program)
    writer = ExpressionWriter(program, specs, names)
    _alias(program, writer, names)
    into = _in_place(program, writer, names, set(rows or []))
    for i in sorted(inlined):  # written with their operands' final names
        operands_ = [names[a] for a in program.ops[i].args]
        names[i] = spell(program.ops[i].prim, operands_)
    params = [mangle(name) for name in program.inputs]
    if any(op.prim == INPUT and op.name == SEED for op in program.ops):
        params.append(_SEED_PARAM)
    lines = wrapped_call(f"def {function}(", params, "):", "")
    # A where computes both branches, so an element of log(-1) may be made and dropped:
    # no warning for it. Elsewhere an inf or nan is an error, found on the way out.
    if _may_fail_in_a_branch(program):
        lines.append("    with np.errstate(all='ignore'):  # both branches of where are computed")
        indent = "        "
    else:
        indent = "    "
    line_ops: dict[int, Op] = {}
    previous_comment = None
    in_gradient = None
    head = len(lines)
    for i, op in enumerate(program.ops):
        if op.prim in (INPUT, CONST, "count") or i in inlined or writer.is_alias(i):
            continue
        if function != "forward" and op.in_gradient != in_gradient:
            in_gradient = op.in_gradient
            later = "tangent" if function == "jvp" else "backward"  # forward mode's, or reverse
            lines.append(f"{indent}# {later if in_gradient else 'forward'}")
            previous_comment = None
        if i in into:  # computed into the fresh operand, which already has this name
            code = f"{indent}{_in_place_line(writer, i, into[i])}"
        else:
            code = f"{indent}{names[i]} = {writer.expression(i)}"
        comment = quote(program.source, op)
        shape = _shape_text(specs[i])
        note = f"{comment}  [{shape}]" if comment and comment != previous_comment else f"[{shape}]"
        previous_comment = comment or previous_comment
        code = f"{code.ljust(COMMENT_COLUMN)}  # {note}"
        line_ops[len(lines) + 1] = op
        lines.append(code)
    value = _output(writer, program.value)
    if function == "forward":
        lines.append(f"{indent}return {value}")
    elif function == "trace":
        values = _tuple([names[i] for i in rows or []])
        if program.adjoints:
            adjoints = [
                _output(writer, program.adjoints[i]) if i in program.adjoints else "0.0"
                for i in rows or []
            ]
            lines.append(f"{indent}return {value}, {values}, {_tuple(adjoints)}")
        else:
            lines.append(f"{indent}return {value}, {values}")
    else:
        entries = [f"{n!r}: {_output(writer, i, n)}" for n, i in (returns or [])]
        one_line = f"{indent}return {value}, {{{', '.join(entries)}}}"
        if len(one_line) <= LINE_LIMIT:
            lines.append(one_line)
        else:
            lines += [f"{indent}return {value}, {{", *(f"{indent}    {e}," for e in entries)]
            lines.append(f"{indent}}}")
    helpers = ("_erf", "_erfc", "_log_softmax", "_logsumexp")
    if len(line_ops) > PIECE_LINES:
        with_line = lines[head - 1] if indent != "    " else None  # np.errstate's
        spans = [getattr(line_ops.get(k), "span", None) for k in range(head + 1, len(lines) + 1)]
        source, parts = in_pieces(function, params, with_line, lines[head:], spans, program.source)
        return Generated(source, tuple(params), {}, helpers, names, parts)
    source = "\n".join(lines) + "\n"
    return Generated(source, tuple(params), line_ops, helpers, names)


def _output(writer: ExpressionWriter, i: int, input_name: str = "") -> str:
    """A returned array: a copy where the value shares memory (the caller's own input is
    never handed back, nor a read-only broadcast view), and a gradient in the dtype and
    shape of its input."""
    program, specs = writer.program, writer.specs
    text = writer.names[i]
    constant = not text.isidentifier()  # a literal, or an alias of one
    if specs[i].shape == () and not input_name and (constant or writer.is_view(i)):
        dtype = specs[i].dtype if specs[i].dtype == "float32" else "float64"
        text = f"np.{dtype}({text})"  # a numpy scalar, as np.sum gives
    elif not constant and writer.is_view(i):
        text = f"np.array({text})"
    if input_name:
        wanted = specs[program.input_ids()[input_name]]
        dtype = wanted.dtype if wanted.dtype in ("float32", "float64") else "float64"
        if wanted.shape == () and specs[i].shape == ():
            # a number in, a numpy scalar out (from a 0-d array, or a Python float: the
            # gradient of sum(s) is 1.0)
            text = f"np.{dtype}({text})"
        elif specs[i].shape != wanted.shape or constant:
            text = f"np.full({_tuple(list(wanted.shape))}, {text}, dtype=np.{dtype})"
        elif specs[i].dtype != dtype:
            text = f"np.asarray({text}, dtype=np.{dtype})"
        if wanted.shape == () and text.startswith("np.full"):
            text = f"{text}[()]"
    return text
