"""Pictures of a formula: the graph of its operations, as Graphviz DOT text or as SVG.

Graph(f, point) has one node per IR op of the formula as written (before constant
folding), labelled with the formula text it computes and, at a point, its value and its
gradient d value / d node (from a trace: generated code, never an interpreter); an edge
runs from each operand to its user. Graph(f, point, gradient=True) shows the optimized
program the generated code runs instead, forward ops and gradient ops apart.

.svg() draws it with Graphviz's dot when the graphviz package and the dot program are
both installed, and otherwise with the small layered layout below: longest-path layers,
barycentric ordering, positions by isotonic regression, poly-line edges. The same graph
always gives the same DOT text and the same built-in SVG.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from ..backends.python.function import Function, compile_unfolded
from ..core.ir import CONST, INPUT, Program, format_const, quote
from ..core.optimize import eliminate_dead_code
from ..core.primitives import COMPARISON_NAMES
from ..core.regions import untangle
from ..core.tracing import Trace
from ..errors import ArgumentError, ArgumentValueError, MissingDependencyError

FORWARD = "forward"
GRADIENT = "gradient"
RENDERERS = ("auto", "graphviz", "builtin")

_FILL = {"input": "#dbe8fb", "constant": "#eeeeee", FORWARD: "#fff4cc", GRADIENT: "#fbdede"}
_GRAD_COLOUR = "#b42318"  # gradient lines and edges into gradient ops
_GREY = "#777777"
_TITLE_LIMIT = 100
# dot's time grows with the layers its edges cross: 15,000 take it about a second with its
# passes bounded (_DOT_LIMITS), and minutes without; beyond, auto draws with the builtin.
_GRAPHVIZ_SEGMENTS = 15_000
_DOT_LIMITS = ", nslimit=2, mclimit=0.5"


@dataclass(frozen=True, slots=True)
class Node:
    id: int  # the op's id in Graph.program
    kind: str  # "input", "constant" or the part: "forward" or "gradient"
    part: str  # FORWARD or GRADIENT
    label: tuple[str, ...]  # what it computes, then "value ..." and "grad ..." at a point
    tooltip: str  # the label with exact numbers
    output: bool  # the formula's value, or (gradient=True) a gradient the code returns


class Graph:
    """The operations of a compiled formula as a graph.

    Graph(f) or f.graph(): a node per operation of the formula as written, an edge from
        each operand to its user.
    Graph(f, point) or f.graph(**point): every node also shows its value and its gradient
        d value / d node at the point (missing or unknown inputs: TypeError).
    Graph(f, point, gradient=True): the optimized program the generated code runs, its
        forward ops and its gradient ops in two parts.

    .dot() -> Graphviz DOT text; .svg(renderer="auto") -> an SVG picture (in a notebook
    a Graph shows as that picture); .nodes, .edges (operand id, user id), .program.
    """

    def __init__(
        self,
        function: Function,
        point: Mapping[str, float] | None = None,
        *,
        gradient: bool = False,
    ):
        if not isinstance(function, Function):
            raise ArgumentError(
                f"Graph wants a Function from exprgrad.compile(), not {type(function).__name__}"
            )
        if point is not None and not isinstance(point, Mapping):
            raise ArgumentError(
                f"the point must map input names to numbers, not {type(point).__name__}"
            )
        if point is not None:
            _check_point(function.inputs, point)
        self.formula = function.formula
        self.point = None if point is None else {name: point[name] for name in function.inputs}
        self.gradient = bool(gradient)
        if self.gradient:
            self.program, self.nodes = _gradient_view(function, self.point)
        else:
            self.program, self.nodes = _formula_view(function, self.point)
        self.edges = [(arg, i) for i, op in enumerate(self.program.ops) for arg in op.args]

    def title(self) -> list[str]:
        """The picture's heading: the formula on one line, then the point if any."""
        lines = [_cut(_one_line(self.formula), _TITLE_LIMIT)]
        if self.point:
            at = ", ".join(f"{name}={_short(float(v))}" for name, v in self.point.items())
            lines.append(_cut(f"at {at}", _TITLE_LIMIT))
        return lines

    def dot(self) -> str:
        """Graphviz DOT text: one node per op, an edge from each operand to its user."""
        lines = [
            "digraph exprgrad {",
            f"  graph [label={_dot_string(chr(10).join(self.title()))}, labelloc=t, "
            f"fontname=monospace, fontsize=12{_DOT_LIMITS if len(self.nodes) > 100 else ''}];",
            '  node [shape=box, style="rounded,filled", fontname=monospace, fontsize=10, '
            'color="#555555", margin="0.12,0.04"];',
            '  edge [color="#777777", arrowsize=0.6];',
        ]
        if self.gradient:
            for part, colour in ((FORWARD, "#888888"), (GRADIENT, _GRAD_COLOUR)):
                lines.append(f"  subgraph cluster_{part} {{")
                lines.append(
                    f'    graph [label="{part}", labeljust=l, style=rounded, color="{colour}"];'
                )
                lines += ["  " + _dot_node(n) for n in self.nodes if n.part == part]
                lines.append("  }")
        else:
            lines += [_dot_node(node) for node in self.nodes]
        for arg, user in self.edges:
            colour = f' [color="{_GRAD_COLOUR}"]' if self.nodes[user].part == GRADIENT else ""
            lines.append(f"  n{arg} -> n{user}{colour};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def svg(self, renderer: str = "auto") -> str:
        """The picture as SVG text.

        renderer: "graphviz" (the graphviz package and Graphviz's dot program; RuntimeError
        when either is missing), "builtin" (exprgrad's own layout, no dependency) or
        "auto" (default): graphviz when both are installed and the graph is one dot
        lays out in about a second, else builtin.
        """
        if renderer not in RENDERERS:
            raise ArgumentValueError(
                f"renderer must be one of {', '.join(RENDERERS)}, not {renderer!r}"
            )
        if renderer == "auto" and _long_edge_segments(self) > _GRAPHVIZ_SEGMENTS:
            renderer = "builtin"  # dot would take minutes (a value used far below, a lot)
        if renderer != "builtin":
            try:
                return _graphviz_svg(self.dot())
            except RuntimeError:
                if renderer == "graphviz":
                    raise
        return _builtin_svg(self)

    def _repr_svg_(self) -> str:
        return self.svg()

    def __repr__(self) -> str:
        return (
            f"<Graph of {_cut(_one_line(self.formula), 60)!r}: "
            f"{len(self.nodes)} nodes, {len(self.edges)} edges>"
        )


def call_point(
    inputs: Sequence[str], args: tuple, kwargs: Mapping[str, Any]
) -> dict[str, Any] | None:
    """f.graph(*args, **kwargs)'s point: positional arguments follow f.inputs; None if none."""
    if not args and not kwargs:
        return None
    if len(args) > len(inputs):
        raise ArgumentError(f"graph() takes {len(inputs)} inputs but {len(args)} were given")
    point = dict(zip(inputs, args, strict=False))
    for name, value in kwargs.items():
        if name in point:
            raise ArgumentError(f"graph() got multiple values for input '{name}'")
        point[name] = value
    return point


def _check_point(inputs: Sequence[str], point: Mapping[str, Any]) -> None:
    known = set(inputs)
    missing = [name for name in inputs if name not in point]
    unknown = [name for name in point if name not in known]
    problems = []
    if missing:
        problems.append(f"is missing input(s) {', '.join(repr(n) for n in missing)}")
    if unknown:
        problems.append(f"got unknown input(s) {', '.join(repr(str(n)) for n in unknown)}")
    if problems:
        listed = ", ".join(inputs) or "none"
        raise ArgumentError(f"graph() {' and '.join(problems)} (inputs: {listed})")


# --- the nodes: what each op computes, and its numbers at a point ------------------------


def _traced_ids(program: Program) -> list[int]:
    """The ops a Trace has rows for, in its order: every line but inputs and comparisons."""
    return [
        i
        for i, op in enumerate(program.ops)
        if op.prim not in (INPUT, CONST) and op.prim not in COMPARISON_NAMES
    ]


def _numbers(program: Program, trace: Trace) -> dict[int, tuple[float | None, float]]:
    """op id -> (value, gradient) for every op the trace covers, inputs included."""
    ids = _traced_ids(program)
    if len(ids) != len(trace.rows):  # a trace of some other program: show no numbers
        return {}
    numbers = {i: (row.value, row.grad) for i, row in zip(ids, trace.rows, strict=True)}
    for i, op in enumerate(program.ops):
        if op.prim == INPUT:
            numbers[i] = (trace.values[op.name], trace.grads[op.name])
    return numbers


def _text(formula: str, program: Program, i: int) -> str:
    op = program.ops[i]
    if op.prim == INPUT:
        return op.name
    if op.prim == CONST:
        return format_const(op.value)
    text = quote(formula, op) or op.prim
    return f"{op.name} = {text}" if op.name else text


def _kind(prim: str, part: str) -> str:
    return "input" if prim == INPUT else "constant" if prim == CONST else part


def _formula_view(function: Function, point: dict | None) -> tuple[Program, list[Node]]:
    """The formula as written: the forward program before folding, without dead code."""
    program = untangle(eliminate_dead_code(function.lowered_program))
    numbers: dict[int, tuple[float | None, float]] = {}
    if point is not None:
        # The trace of a Function whose forward program is this one (values are the same
        # bit for bit as the optimized program's), so its rows are these ops, in order.
        traced = function
        if function.forward_program.ops != program.ops:
            traced = compile_unfolded(function.formula)
            program = traced.forward_program
        numbers = _numbers(program, traced.trace(**point))
    nodes = []
    for i, op in enumerate(program.ops):
        text = _text(function.formula, program, i)
        label, tooltip = [text], [text]
        if i in numbers and op.prim != CONST:
            value, grad = numbers[i]
            label += [f"value {_short(value)}", f"grad {_short(grad)}"]
            tooltip += [f"value = {_exact(value)}", f"gradient = {_exact(grad)}"]
        kind = _kind(op.prim, FORWARD)
        nodes.append(Node(i, kind, FORWARD, tuple(label), "\n".join(tooltip), i == program.value))
    return program, nodes


def _gradient_view(function: Function, point: dict | None) -> tuple[Program, list[Node]]:
    """The optimized program: reverse mode keeps the forward ops at their ids and appends
    the gradient ops, so ids below len(forward_program.ops) are the forward part."""
    program, forward = function.program, function.forward_program
    split = len(forward.ops)
    trace = None if point is None else function.trace(**point)
    numbers = {} if trace is None else _numbers(forward, trace)
    if any(a.prim != b.prim for a, b in zip(program.ops, forward.ops, strict=False)):
        numbers = {}  # not the layout described above: show no numbers rather than wrong ones
    returned: dict[int, list[str]] = {}  # gradient id -> the inputs it is d/d of
    for name, i in program.grads.items():
        returned.setdefault(i, []).append(name)
    nodes = []
    for i, op in enumerate(program.ops):
        part = FORWARD if i < split else GRADIENT
        kind = _kind(op.prim, part)
        text = _text(function.formula, program, i)
        label = [text] if kind != GRADIENT else []
        if i in returned:
            label.append(", ".join(f"d/d{name}" for name in returned[i]))
        of = program.grad_of.get(i)
        if kind == GRADIENT and i not in returned and of is not None:
            label.append(f"d/d({_text(function.formula, program, of)})")
        if kind == GRADIENT:
            label.append(f"{op.prim} for {text}")
        tooltip = list(label)
        if kind == GRADIENT and trace is not None:
            value = None
            if i in returned:
                value = trace.grads[returned[i][0]]
            elif of in numbers and numbers[of][0] is not None:
                value = numbers[of][1]
            if i in returned or of in numbers:
                label.append(f"value {_short(value)}")
                tooltip.append(f"value = {_exact(value)}")
        elif i in numbers:
            value, grad = numbers[i]
            label += [f"value {_short(value)}", f"grad {_short(grad)}"]
            tooltip += [f"value = {_exact(value)}", f"gradient = {_exact(grad)}"]
        output = i == program.value or i in returned
        nodes.append(Node(i, kind, part, tuple(label), "\n".join(tooltip), output))
    return program, nodes


def _short(value: float | None) -> str:
    if value is None:
        return "not computed"
    text = repr(value)
    return text if len(text) <= 10 else f"{value:.6g}"


def _exact(value: float | None) -> str:
    return "not computed (branch not taken)" if value is None else repr(value)


def _printable(text: str) -> str:
    # DOT and SVG are UTF-8; only control characters (no XML can hold most) become '?'
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _one_line(formula: str) -> str:
    statements = [" ".join(line.split()) for line in formula.splitlines()]
    return _printable("; ".join(s for s in statements if s))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- DOT ---------------------------------------------------------------------------------


def _dot_string(text: str) -> str:
    """A DOT quoted string; newlines become centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _is_gradient_line(k: int, line: str) -> bool:
    return k > 0 and line.startswith("grad ")  # line 0 is a name or formula text


def _dot_label(node: Node) -> str:
    """An HTML-like label (gradient lines in red); its text escaped for HTML."""
    lines = []
    for k, line in enumerate(node.label):
        text = escape(line)
        if _is_gradient_line(k, line):
            text = f'<FONT COLOR="{_GRAD_COLOUR}">{text}</FONT>'
        lines.append(text)
    return "<" + "<BR/>".join(lines) + ">"


def _dot_node(node: Node) -> str:
    attributes = [
        f"label={_dot_label(node)}",
        f"tooltip={_dot_string(node.tooltip)}",
        f'fillcolor="{_FILL[node.kind]}"',
    ]
    if node.output:
        attributes.append("penwidth=2")
    return f"  n{node.id} [{', '.join(attributes)}];"


def _graphviz_svg(dot: str) -> str:
    try:
        import graphviz
    except ImportError:
        raise MissingDependencyError(
            "the graphviz renderer needs the graphviz package (pip install graphviz) "
            "and Graphviz's dot program; renderer='builtin' needs neither"
        ) from None
    try:
        return graphviz.Source(dot).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise MissingDependencyError(
            "the graphviz renderer needs Graphviz's dot program on PATH "
            "(https://graphviz.org/download/); renderer='builtin' needs nothing"
        ) from None
    except graphviz.CalledProcessError as error:
        raise MissingDependencyError(f"Graphviz's dot failed: {error}") from None


# --- the built-in layout -----------------------------------------------------------------

_FONT = 11  # px, monospace
_CHAR = 0.62 * _FONT  # a monospace character's advance
_LINE = 14  # px per label line
_PAD_X, _PAD_Y = 8, 5
_GAP_Y = 30  # between layers
_GAP = {(True, True): 16, (True, False): 10, (False, True): 10, (False, False): 6}  # real?
_DUMMY = 2  # width of a dummy node (a long edge passing through a layer)
_MARGIN = 12
_SWEEPS = 8


@dataclass(slots=True)
class _Layout:
    x: list[float]  # centre of every item: real nodes first, then dummies
    y_top: list[float]  # top of every layer
    height: list[float]  # of every layer
    layer: list[int]
    trunk: list[dict[int, int]]  # real node -> {layer: dummy item} of its long edges
    width: float
    total_height: float


def _long_edge_segments(graph: Graph) -> int:
    """How many layers edges cross in all (each one a dummy node for dot's passes)."""
    layer = _layers(graph)
    return sum(layer[user] - layer[arg] - 1 for arg, user in graph.edges)


def _layers(graph: Graph) -> list[int]:
    """Longest-path layers; a node without operands sits just above its first user, and
    the gradient part (gradient=True) below the whole forward part."""
    ops, nodes = graph.program.ops, graph.nodes
    layer = [0] * len(ops)
    users: list[list[int]] = [[] for _ in ops]
    for arg, user in graph.edges:
        users[arg].append(user)
    forward_depth = 0
    for i, op in enumerate(ops):
        if op.args:
            layer[i] = 1 + max(layer[a] for a in op.args)
            if nodes[i].part == GRADIENT:
                layer[i] = max(layer[i], forward_depth + 2)
            else:
                forward_depth = max(forward_depth, layer[i])
    for i, op in enumerate(ops):
        if not op.args and users[i]:
            layer[i] = min(layer[u] for u in users[i]) - 1
    return layer


def _isotonic(targets: list[float]) -> list[float]:
    """The non-decreasing sequence nearest to targets (least squares: pool adjacent
    violators)."""
    sums: list[float] = []
    counts: list[int] = []
    for t in targets:
        total, count = t, 1
        while sums and sums[-1] * count > total * counts[-1]:
            total += sums.pop()
            count += counts.pop()
        sums.append(total)
        counts.append(count)
    result: list[float] = []
    for total, count in zip(sums, counts, strict=True):
        result += [total / count] * count
    return result


def _crossings(order: list[list[int]], down: list[list[int]], pos: list[int]) -> int:
    """Edge crossings between adjacent layers (inversions, counted with bisect)."""
    total = 0
    for items in order[:-1]:
        ends = [pos[v] for u in items for v in sorted(down[u], key=pos.__getitem__)]
        seen: list[int] = []
        for end in ends:
            total += len(seen) - bisect.bisect_right(seen, end)
            bisect.insort(seen, end)
    return total


def _layout(graph: Graph, sizes: list[tuple[float, float]]) -> _Layout:
    n = len(sizes)
    layer = _layers(graph)
    users: list[list[int]] = [[] for _ in range(n)]
    for arg, user in graph.edges:
        if user not in users[arg]:
            users[arg].append(user)
    # One shared chain of dummies (a trunk) carries all the long edges of a node, so
    # the item count stays near the node count when a value is used far below.
    item_layer = list(layer)
    real = [True] * n
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    trunk: list[dict[int, int]] = [{} for _ in range(n)]

    def link(a: int, b: int) -> None:
        if b not in down[a]:
            down[a].append(b)
            up[b].append(a)

    for u in range(n):
        if not users[u]:
            continue
        last = max(layer[v] for v in users[u])
        previous = u
        for level in range(layer[u] + 1, last):
            item = len(item_layer)
            item_layer.append(level)
            real.append(False)
            up.append([])
            down.append([])
            trunk[u][level] = item
            link(previous, item)
            previous = item
        for v in users[u]:
            link(trunk[u].get(layer[v] - 1, u), v)

    depth = max(item_layer, default=0) + 1
    order: list[list[int]] = [[] for _ in range(depth)]
    for item, level in enumerate(item_layer):  # dummies follow their node's id order
        order[level].append(item)
    owner = list(range(n)) + [0] * (len(item_layer) - n)
    for u in range(n):
        for item in trunk[u].values():
            owner[item] = u
    for items in order:
        items.sort(key=lambda item: (owner[item], item))
    pos = [0] * len(item_layer)

    def number(items: list[int]) -> None:
        for k, item in enumerate(items):
            pos[item] = k

    for items in order:
        number(items)

    def sweep(levels: range, neighbours: list[list[int]]) -> None:
        for level in levels:
            items = order[level]
            keys = {}
            for item in items:
                near = neighbours[item]
                keys[item] = sum(pos[v] for v in near) / len(near) if near else pos[item]
            items.sort(key=lambda item: (keys[item], pos[item]))
            number(items)

    best, best_order = _crossings(order, down, pos), [list(items) for items in order]
    for _ in range(_SWEEPS):
        if best == 0:
            break
        sweep(range(1, depth), up)
        sweep(range(depth - 2, -1, -1), down)
        count = _crossings(order, down, pos)
        if count < best:
            best, best_order = count, [list(items) for items in order]
    order = best_order
    for items in order:
        number(items)

    width = [w for w, _ in sizes] + [_DUMMY] * (len(item_layer) - n)
    x = [0.0] * len(item_layer)
    for items in order:
        at = 0.0
        for k, item in enumerate(items):
            if k:
                at += (width[items[k - 1]] + width[item]) / 2 + _GAP[real[items[k - 1]], real[item]]
            x[item] = at

    def place(items: list[int], neighbours: list[list[int]] | None) -> None:
        if not items:
            return
        offsets = [0.0]
        for a, b in zip(items, items[1:], strict=False):
            offsets.append(offsets[-1] + (width[a] + width[b]) / 2 + _GAP[real[a], real[b]])
        targets = []
        for item, offset in zip(items, offsets, strict=True):
            near = (up[item] + down[item]) if neighbours is None else neighbours[item]
            wanted = sum(x[v] for v in near) / len(near) if near else x[item]
            targets.append(wanted - offset)
        for item, value, offset in zip(items, _isotonic(targets), offsets, strict=True):
            x[item] = value + offset

    for _ in range(4):
        for level in range(1, depth):
            place(order[level], up)
        for level in range(depth - 2, -1, -1):
            place(order[level], down)
    for level in range(depth):
        place(order[level], None)

    left = min((x[i] - width[i] / 2 for i in range(len(x))), default=0.0)
    right = max((x[i] + width[i] / 2 for i in range(len(x))), default=0.0)
    x = [value - left + _MARGIN for value in x]
    height = [10.0] * depth
    for i in range(n):
        height[layer[i]] = max(height[layer[i]], sizes[i][1])
    at = _MARGIN + 16 * len(graph.title()) + 8 + (18 if graph.gradient else 0)  # 18: frames
    y_top = []
    for level in range(depth):
        y_top.append(at)
        at += height[level] + _GAP_Y
    return _Layout(
        x, y_top, height, layer, trunk, right - left + 2 * _MARGIN, at - _GAP_Y + _MARGIN
    )


def _builtin_svg(graph: Graph) -> str:
    nodes = graph.nodes
    sizes = [
        (
            max(28.0, max(len(line) for line in node.label) * _CHAR + 2 * _PAD_X),
            len(node.label) * _LINE + 2 * _PAD_Y,
        )
        for node in nodes
    ]
    layout = _layout(graph, sizes)
    title = graph.title()
    width = max(layout.width, max(len(line) for line in title) * 7.4 + 2 * _MARGIN)
    height = layout.total_height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Menlo, Consolas, '
        f'DejaVu Sans Mono, monospace" font-size="{_FONT}">',
        "<defs>",
        '<marker id="exprgrad-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777777"/></marker>',
        '<marker id="exprgrad-arrow-grad" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        f'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{_GRAD_COLOUR}"/>'
        "</marker>",
        "</defs>",
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for k, line in enumerate(title):
        out.append(
            f'<text x="{_MARGIN}" y="{_MARGIN + 12 + 16 * k}" font-size="12">{escape(line)}</text>'
        )

    def box(i: int) -> tuple[float, float, float, float]:
        w, h = sizes[i]
        level = layout.layer[i]
        top = layout.y_top[level] + (layout.height[level] - h) / 2
        return layout.x[i] - w / 2, top, w, h

    if graph.gradient:  # a frame around each part; the gradient part sits below
        for part, colour in ((FORWARD, "#888888"), (GRADIENT, _GRAD_COLOUR)):
            boxes = [box(node.id) for node in nodes if node.part == part]
            if not boxes:
                continue
            left = min(b[0] for b in boxes) - 6
            top = min(b[1] for b in boxes) - 16
            right = max(b[0] + b[2] for b in boxes) + 6
            bottom = max(b[1] + b[3] for b in boxes) + 6
            out.append(
                f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
                f'height="{bottom - top:.1f}" rx="6" fill="none" stroke="{colour}" '
                'stroke-dasharray="4 3"/>'
            )
            out.append(f'<text x="{left + 6:.1f}" y="{top + 11:.1f}" fill="{colour}">{part}</text>')
    out += _edges(graph, layout, box)
    for node in nodes:
        out.append(_node_svg(node, box(node.id)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edges(graph: Graph, layout: _Layout, box) -> list[str]:
    """A node's long edges share one trunk, drawn once down the layers they cross; each
    operand link is then a line from the node (or its trunk) into its user's top, where
    operands arrive left to right in their order (x - y: x's edge on the left)."""
    ops, nodes = graph.program.ops, graph.nodes
    out = []
    for arg, trunk in enumerate(layout.trunk):
        if trunk:
            x, top, w, h = box(arg)
            points = [(x + w / 2, top + h)]
            for level, item in sorted(trunk.items()):
                points.append((layout.x[item], layout.y_top[level]))
                points.append((layout.x[item], layout.y_top[level] + layout.height[level]))
            out.append(_polyline(points, _GREY, None))
    for user, op in enumerate(ops):
        x, top, w, _ = box(user)
        count = len(op.args)
        spread = min(14.0, w / (count + 1))
        gradient = nodes[user].part == GRADIENT
        for k, arg in enumerate(op.args):
            item = layout.trunk[arg].get(layout.layer[user] - 1)
            if item is None:
                ax, atop, aw, ah = box(arg)
                start = (ax + aw / 2, atop + ah)
            else:
                level = layout.layer[user] - 1
                start = (layout.x[item], layout.y_top[level] + layout.height[level])
            end = (x + w / 2 + (k - (count - 1) / 2) * spread, top)
            out.append(_polyline([start, end], _GRAD_COLOUR if gradient else _GREY, gradient))
    return out


def _polyline(points: list[tuple[float, float]], colour: str, arrow: bool | None) -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    marker = (
        "" if arrow is None else f' marker-end="url(#exprgrad-arrow{"-grad" if arrow else ""})"'
    )
    return f'<polyline points="{path}" fill="none" stroke="{colour}"{marker}/>'


def _node_svg(node: Node, box: tuple[float, float, float, float]) -> str:
    left, top, w, h = box
    stroke = "2" if node.output else "1"
    parts = [
        f'<g class="node {node.kind}">',
        f"<title>{escape(node.tooltip)}</title>",
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" rx="5" '
        f'fill="{_FILL[node.kind]}" stroke="#555555" stroke-width="{stroke}"/>',
    ]
    centre = left + w / 2
    for k, line in enumerate(node.label):
        y = top + _PAD_Y + (k + 1) * _LINE - 3
        colour = _GRAD_COLOUR if _is_gradient_line(k, line) else "#111111"
        parts.append(
            f'<text x="{centre:.1f}" y="{y:.1f}" text-anchor="middle" fill="{colour}">'
            f"{escape(line)}</text>"
        )
    parts.append("</g>")
    return "".join(parts)
