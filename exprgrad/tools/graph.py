"""Pictures of a formula: the graph of its operations, as Graphviz DOT text or as SVG.

Graph(f, point) has one node per IR op of the formula as written (before constant
folding), labelled with the formula text it computes and, at a point, its value and its
gradient d value / d node (from a trace: generated code, never an interpreter); an edge
runs from each operand to its user. Graph(f, point, gradient=True) shows the optimized
program the generated code runs instead, forward ops and gradient ops apart.

.svg() draws it with Graphviz's dot when the graphviz package and the dot program are
both installed, and otherwise with exprgrad's own layered layout (exprgrad.tools.layout).
The same graph always gives the same DOT text and the same built-in SVG.

Graph takes any compiled formula with what CompiledFormula lists; it never imports the
Function class, whose graph() method imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from xml.sax.saxutils import escape

from ..core import pipeline
from ..core.ir import CONST, INPUT, Program, format_const, quote
from ..core.primitives import COMPARISON_NAMES
from ..core.tracing import Trace
from ..errors import ArgumentError, ArgumentValueError, MissingDependencyError
from . import layout

FORWARD = "forward"
GRADIENT = "gradient"
RENDERERS = ("auto", "graphviz", "builtin")

_FILL = {"input": "#dbe8fb", "constant": "#eeeeee", FORWARD: "#fff4cc", GRADIENT: "#fbdede"}
_GRAD_COLOUR = "#b42318"  # gradient lines and edges into gradient ops
_TEXT_COLOUR = "#111111"
_PARTS = (layout.Part(FORWARD, "#888888"), layout.Part(GRADIENT, _GRAD_COLOUR))
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


@runtime_checkable
class CompiledFormula(Protocol):
    """What Graph needs of a compiled formula: exprgrad.compile()'s Function."""

    formula: str
    inputs: tuple[str, ...]
    lowered_program: Program  # as written, before constant folding
    forward_program: Program
    program: Program  # forward_program with its gradient ops appended

    def trace(self, /, *args: float, **kwargs: float) -> Trace: ...

    def unfolded(self) -> CompiledFormula:
        """The formula compiled with forward_program == lowered_program."""


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
        function: CompiledFormula,
        point: Mapping[str, float] | None = None,
        *,
        gradient: bool = False,
    ):
        if not isinstance(function, CompiledFormula):
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
        if renderer == "auto" and layout.long_edge_segments(self._diagram()) > _GRAPHVIZ_SEGMENTS:
            renderer = "builtin"  # dot would take minutes (a value used far below, a lot)
        if renderer != "builtin":
            try:
                return _graphviz_svg(self.dot())
            except RuntimeError:
                if renderer == "graphviz":
                    raise
        return layout.svg(self._diagram())

    def _diagram(self) -> layout.Diagram:
        """The graph as plain boxes and edges for exprgrad's own layout; gradient=True
        frames the two parts and draws the edges into gradient ops red."""
        boxes = [
            layout.Box(
                lines=node.label,
                colours=tuple(
                    _GRAD_COLOUR if _is_gradient_line(k, line) else _TEXT_COLOUR
                    for k, line in enumerate(node.label)
                ),
                tooltip=node.tooltip,
                kind=node.kind,
                fill=_FILL[node.kind],
                bold=node.output,
                part=(FORWARD, GRADIENT).index(node.part) if self.gradient else None,
                accent=node.part == GRADIENT,
            )
            for node in self.nodes
        ]
        parts = _PARTS if self.gradient else ()
        return layout.Diagram(tuple(self.title()), boxes, self.edges, parts, _GRAD_COLOUR)

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


def _formula_view(function: CompiledFormula, point: dict | None) -> tuple[Program, list[Node]]:
    """The formula as written: the forward program before folding, without dead code."""
    program = pipeline.value_program(function.lowered_program, None)
    numbers: dict[int, tuple[float | None, float]] = {}
    if point is not None:
        # The trace of a Function whose forward program is this one (values are the same
        # bit for bit as the optimized program's), so its rows are these ops, in order.
        traced = function
        if function.forward_program.ops != program.ops:
            traced = function.unfolded()
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


def _gradient_view(function: CompiledFormula, point: dict | None) -> tuple[Program, list[Node]]:
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
