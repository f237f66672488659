"""f.graph(): DOT text and SVG pictures of a formula's operations; the CLI's --trace, --dot,
--svg."""

from __future__ import annotations

import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET

import pytest

import exprgrad
from exprgrad.core.ir import CONST, INPUT
from exprgrad.graph import _GRAPHVIZ_SEGMENTS, Graph
from exprgrad.tools import cli
from exprgrad.tools.layout import long_edge_segments

GUIDE = "sigmoid(a*x + b*y + c)"
POINT = dict(a=1.0, b=2.0, c=-3.0, x=-1.0, y=3.0)
SVG = "{http://www.w3.org/2000/svg}"

has_graphviz = shutil.which("dot") is not None
try:
    import graphviz  # noqa: F401
except ImportError:
    has_graphviz = False
needs_graphviz = pytest.mark.skipif(
    not has_graphviz, reason="needs the graphviz package and Graphviz's dot program"
)


def dot_nodes(dot: str) -> dict[int, str]:
    """node id -> its attribute text."""
    return {int(m[1]): m[2] for m in re.finditer(r"^\s*n(\d+) \[(.*)\];$", dot, re.M)}


def dot_edges(dot: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"^\s*n(\d+) -> n(\d+)", dot, re.M)]


def mlp(inputs: int = 10, hidden: int = 15) -> str:
    """A one-hidden-layer net: about 500 operations (530 at the defaults)."""
    lines = []
    for j in range(hidden):
        terms = " + ".join(f"w{j}_{i}*x{i}" for i in range(inputs))
        lines.append(f"h{j} = tanh({terms} + b{j})")
    lines.append(" + ".join(f"v{j}*h{j}" for j in range(hidden)))
    return "\n".join(lines)


def chain(depth: int) -> str:
    """tanh(tanh(x + x) + x)...: x is used on every level, far below its row."""
    text = "x"
    for _ in range(depth):
        text = f"tanh({text} + x)"
    return text


# --- DOT --------------------------------------------------------------------------------


def test_dot_has_a_node_per_op_and_an_edge_per_operand():
    graph = exprgrad.compile(GUIDE).graph(**POINT)
    dot = graph.dot()
    ops = graph.program.ops
    assert sorted(dot_nodes(dot)) == list(range(len(ops))) == [n.id for n in graph.nodes]
    links = [(arg, i) for i, op in enumerate(ops) for arg in op.args]
    assert dot_edges(dot) == links == graph.edges
    assert dot.startswith("digraph exprgrad {") and dot.endswith("}\n")


def test_labels_carry_the_formula_text_the_value_and_the_gradient():
    f = exprgrad.compile(GUIDE)
    graph = f.graph(**POINT)
    trace = f.trace(**POINT)
    nodes = dot_nodes(graph.dot())
    by_text = {node.label[0]: node for node in graph.nodes}
    for row in trace.rows:  # every line of the trace is a node with its numbers
        node = by_text[row.text]
        assert f"value = {row.value!r}" in node.tooltip
        assert f"gradient = {row.grad!r}" in node.tooltip
        assert row.text in nodes[node.id]
    s = trace.value
    assert by_text[GUIDE].label == (GUIDE, f"value {s:.6g}", "grad 1.0")
    assert by_text[GUIDE].output
    assert by_text["a"].label == ("a", "value 1.0", f"grad {-s * (1 - s):.6g}")
    assert by_text["a"].kind == "input"
    assert "grad -0.104994</FONT>" in nodes[by_text["a"].id]
    assert 'label="sigmoid(a*x + b*y + c)\\nat a=1.0, x=-1.0, b=2.0, y=3.0, c=-3.0"' in (
        graph.dot()
    )


def test_without_a_point_nodes_show_what_they_compute_only():
    graph = exprgrad.compile(GUIDE).graph()
    assert [node.label for node in graph.nodes if node.kind == "forward"] == [
        ("a*x",),
        ("b*y",),
        ("a*x + b*y",),
        ("a*x + b*y + c",),
        (GUIDE,),
    ]
    assert "value" not in graph.dot()


def test_the_formula_as_written_before_folding():
    # 2*3 folds to 6 in the generated code; the picture keeps the formula's own structure
    f = exprgrad.compile("z = 2*3*x\nz*z")
    graph = f.graph(x=0.5)
    labels = {node.label[0]: node for node in graph.nodes}
    assert "2*3" in labels and labels["2*3"].label[1] == "value 6.0"
    assert labels["z = 2*3*x"].label[1:] == ("value 3.0", "grad 6.0")
    assert labels["z*z"].label[1:] == ("value 9.0", "grad 1.0")
    assert labels["x"].label[1:] == ("value 0.5", "grad 36.0") and f.grad(x=0.5) == {"x": 36.0}
    assert [n.label[0] for n in graph.nodes if n.kind == "constant"] == ["2.0", "3.0"]
    unfolded = exprgrad.compile("z = 2*3*x\nz*z", optimize=False)  # its own trace, no copy
    assert unfolded.graph(x=0.5).dot() == graph.dot()


def test_a_branch_not_taken_is_not_computed():
    graph = exprgrad.compile("where(x > 0, log(x), -x)").graph(x=-2.0)
    labels = {node.label[0]: node.label for node in graph.nodes}
    assert labels["log(x)"] == ("log(x)", "value not computed", "grad 0.0")
    assert labels["x > 0"] == ("x > 0",)  # a comparison has no row in the trace
    assert labels["where(x > 0, log(x), -x)"][1] == "value 2.0"


def test_gradient_view_shows_the_program_the_code_runs_in_two_parts():
    f = exprgrad.compile(GUIDE)
    graph = Graph(f, POINT, gradient=True)
    dot = graph.dot()
    assert len(dot_nodes(dot)) == len(f.program.ops) == len(graph.nodes)
    assert dot_edges(dot) == [(a, i) for i, op in enumerate(f.program.ops) for a in op.args]
    forward, gradient = dot.split("subgraph cluster_gradient")
    assert "subgraph cluster_forward" in forward
    split = len(f.forward_program.ops)
    assert set(dot_nodes(gradient)) == set(range(split, len(f.program.ops)))
    assert all(node.part == ("forward" if node.id < split else "gradient") for node in graph.nodes)
    grads = f.grad(**POINT)
    returned = {
        name: graph.nodes[i] for name, i in f.program.grads.items() if i >= split
    }  # d/da = d(t4) * x ... each a gradient op here
    assert sorted(returned) == sorted(f.wrt)
    for name, node in returned.items():
        assert f"d/d{name}" in node.label[0]
        assert f"value = {grads[name]!r}" in node.tooltip
        assert node.output
    assert Graph(f, gradient=True).dot().count("subgraph cluster_") == 2


def test_gradient_view_with_wrt_and_without_a_point():
    f = exprgrad.compile("a*x + sin(x)", wrt="x")
    graph = Graph(f, gradient=True)
    assert [n.label[0] for n in graph.nodes if n.output and n.part == "gradient"] == ["d/dx"]
    assert not any("value" in line for n in graph.nodes for line in n.label)


def test_dot_is_deterministic():
    formula = mlp(3, 2)
    point = {name: 0.25 * k for k, name in enumerate(exprgrad.compile(formula).inputs)}
    first, second = (exprgrad.compile(formula).graph(**point) for _ in range(2))
    assert first.dot() == second.dot()
    assert first.svg("builtin") == second.svg("builtin")
    gradient = Graph(exprgrad.compile(formula), point, gradient=True)
    assert gradient.dot() == Graph(exprgrad.compile(formula), point, gradient=True).dot()


# --- escaping ---------------------------------------------------------------------------

COMMENTED = 'where(x < 1, x, 2) # "q" & \\ <b> \u00e9'


def test_dot_and_svg_escape_quotes_backslashes_and_markup():
    graph = exprgrad.compile(COMMENTED).graph(x=0.5)
    dot = graph.dot()
    title = 'where(x < 1, x, 2) # \\"q\\" & \\\\ <b> \u00e9\\nat x=0.5'
    assert f'label="{title}"' in dot
    assert "label=<x &lt; 1>" in dot  # an HTML-like label: markup escaped
    assert 'tooltip="x < 1"' in dot
    root = ET.fromstring(graph.svg("builtin"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert 'where(x < 1, x, 2) # "q" & \\ <b> \u00e9' in texts
    assert "x < 1" in texts and "where(x < 1, x, 2)" in texts
    assert "x < 1" in [t.text for t in root.iter(f"{SVG}title")]


def test_control_characters_never_reach_the_xml():
    graph = exprgrad.compile("x + 1 # bell \x07 here").graph()
    root = ET.fromstring(graph.svg("builtin"))
    assert "x + 1 # bell ? here" in [t.text for t in root.iter(f"{SVG}text")]


def test_only_the_gradient_numbers_are_red():
    graph = exprgrad.compile("grad = x*x\ngrad + 1").graph(x=1)  # a name 'grad' is not one
    dot = graph.dot()
    assert dot.count("<FONT") == 3  # x, grad = x*x, grad + 1
    assert "label=<grad = x*x<BR/>value 1.0<BR/><FONT" in dot


@needs_graphviz
def test_graphviz_reads_the_escaped_dot():
    graph = exprgrad.compile(COMMENTED).graph(x=0.5)
    root = ET.fromstring(graph.svg("graphviz").encode())
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "x < 1" in texts and 'where(x < 1, x, 2) # "q" & \\ <b> \u00e9' in texts


# --- SVG --------------------------------------------------------------------------------


def test_builtin_svg_is_a_real_picture():
    graph = exprgrad.compile(GUIDE).graph(**POINT)
    root = ET.fromstring(graph.svg("builtin"))
    assert root.tag == f"{SVG}svg" and float(root.get("width")) > 300
    boxes = [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "")]
    assert len(boxes) == len(graph.nodes)
    lines = [p for p in root.iter(f"{SVG}polyline") if p.get("marker-end")]
    assert len(lines) == len(graph.edges)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for node in graph.nodes:
        assert all(line in texts for line in node.label)
    # layered: each operand's box lies above its user's
    tops = {}
    for g in boxes:
        rect = g.find(f"{SVG}rect")
        tops[g.find(f"{SVG}title").text.split("\n")[0]] = float(rect.get("y"))
    assert tops["a"] < tops["a*x"] < tops["a*x + b*y"] < tops["a*x + b*y + c"] < tops[GUIDE]


def test_builtin_gradient_picture_has_both_parts():
    root = ET.fromstring(Graph(exprgrad.compile(GUIDE), POINT, gradient=True).svg("builtin"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "forward" in texts and "gradient" in texts and "d/da" in texts


def test_repr_svg_is_the_picture():
    graph = exprgrad.compile("x*x").graph(x=3)
    assert graph._repr_svg_() == graph.svg()
    ET.fromstring(graph._repr_svg_().encode())
    assert repr(graph) == "<Graph of 'x*x': 2 nodes, 2 edges>"


def test_x_times_x_draws_two_edges_apart():
    graph = exprgrad.compile("x*x").graph()
    assert graph.edges == [(0, 1), (0, 1)]
    root = ET.fromstring(graph.svg("builtin"))
    ends = [p.get("points").split()[-1] for p in root.iter(f"{SVG}polyline")]
    assert len(ends) == 2 and ends[0] != ends[1]


def test_formulas_without_operations():
    for formula in ("x", "3", "pi"):
        graph = exprgrad.compile(formula).graph()
        assert len(graph.nodes) == 1 and graph.nodes[0].output and not graph.edges
        ET.fromstring(graph.svg("builtin"))
    assert exprgrad.compile("x").graph(x=2).nodes[0].label == ("x", "value 2.0", "grad 1.0")
    assert Graph(exprgrad.compile("2*3"), {}).nodes[-1].label[:2] == ("2*3", "value 6.0")


def test_renderer_choice_and_fallback(monkeypatch):
    graph = exprgrad.compile(GUIDE).graph()
    with pytest.raises(ValueError, match="renderer must be one of auto, graphviz, builtin"):
        graph.svg("dot")
    builtin = graph.svg("builtin")
    monkeypatch.setitem(sys.modules, "graphviz", None)  # as if not installed
    with pytest.raises(RuntimeError, match="pip install graphviz"):
        graph.svg("graphviz")
    assert graph.svg() == builtin


@needs_graphviz
def test_without_the_dot_program_auto_falls_back(monkeypatch):
    graph = exprgrad.compile(GUIDE).graph()
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RuntimeError, match="dot program"):
        graph.svg("graphviz")
    assert graph.svg() == graph.svg("builtin")


@needs_graphviz
def test_graphviz_svg():
    graph = exprgrad.compile(GUIDE).graph(**POINT)
    svg = graph.svg("graphviz")
    assert svg == graph.svg()  # auto: graphviz when installed
    root = ET.fromstring(svg.encode())
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(nodes) == len(graph.nodes)
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]) == 9


def test_five_hundred_nodes_render_quickly():
    f = exprgrad.compile(mlp())
    graph = f.graph(**{name: 0.01 * k for k, name in enumerate(f.inputs)})
    assert len(graph.nodes) >= 500
    started = time.perf_counter()
    ET.fromstring(graph.svg("builtin"))
    assert time.perf_counter() - started < 10  # about 0.05 s; bound for a loaded machine
    # the worst shape: x used on every one of 166 levels, and the gradient mirrored below
    deep = Graph(exprgrad.compile(chain(83)), gradient=True)
    assert len(deep.nodes) >= 490
    started = time.perf_counter()
    ET.fromstring(deep.svg("builtin"))
    assert time.perf_counter() - started < 10  # about 0.3 s


@needs_graphviz
def test_five_hundred_nodes_through_graphviz():
    f = exprgrad.compile(mlp())
    graph = f.graph(**{name: 0.01 * k for k, name in enumerate(f.inputs)})
    started = time.perf_counter()
    ET.fromstring(graph.svg("graphviz").encode())
    assert time.perf_counter() - started < 10  # about 0.2 s


def test_auto_leaves_graphs_dot_would_take_minutes_over_to_the_builtin_layout():
    deep = exprgrad.compile(chain(83)).graph()  # dot: over a minute without its limits
    assert deep.dot().count("nslimit=2, mclimit=0.5") == 1  # big graphs: passes bounded
    assert "nslimit" not in exprgrad.compile(GUIDE).graph().dot()
    deeper = Graph(exprgrad.compile(chain(83)), gradient=True)  # even with them
    assert long_edge_segments(deeper._diagram()) > _GRAPHVIZ_SEGMENTS
    assert deeper.svg() == deeper.svg("builtin")


# --- bad input --------------------------------------------------------------------------


def test_missing_or_unknown_inputs_are_type_errors():
    f = exprgrad.compile(GUIDE)
    with pytest.raises(TypeError, match=r"graph\(\) is missing input\(s\) 'y' \(inputs: a, x"):
        f.graph(a=1, b=2, c=3, x=4)
    with pytest.raises(TypeError, match=r"unknown input\(s\) 'z'"):
        f.graph(**POINT, z=1)
    with pytest.raises(TypeError, match="takes 5 inputs but 6 were given"):
        f.graph(1, 2, 3, 4, 5, 6)
    with pytest.raises(TypeError, match="multiple values for input 'a'"):
        f.graph(1, a=1)
    with pytest.raises(TypeError, match="missing"):
        Graph(f, {"a": 1})
    with pytest.raises(TypeError, match="number"):
        f.graph(a="one", b=2, c=3, x=4, y=5)  # the trace names a bad value


def test_positional_arguments_and_any_input_name():
    f = exprgrad.compile(GUIDE)
    assert f.graph(1, -1, 2, 3, -3).dot() == f.graph(**POINT).dot()
    g = exprgrad.compile("self*gradient + point + function")
    graph = g.graph(self=1, gradient=2, point=3, function=4)
    assert graph.nodes[-1].label[1] == "value 9.0" and not graph.gradient


def test_not_a_function():
    with pytest.raises(TypeError, match="Graph wants a Function from exprgrad.compile"):
        Graph("x*x")
    with pytest.raises(TypeError, match="Graph wants a Function from exprgrad.compile"):
        Graph(lambda x: x * x)
    with pytest.raises(TypeError, match="must map input names"):
        Graph(exprgrad.compile("x*x"), [1.0])


def test_an_array_function_is_not_one_graph_draws():
    pytest.importorskip("numpy")
    f = exprgrad.compile("x*x", backend="numpy")
    with pytest.raises(TypeError, match="not ArrayFunction"):
        Graph(f)


def test_an_evaluation_error_at_the_point():
    with pytest.raises(exprgrad.EvaluationError, match="log of a non-positive number"):
        exprgrad.compile("log(x)").graph(x=-1)


def test_the_intermediate_ops_are_what_the_ir_holds():
    graph = exprgrad.compile("min(a, b) / max(a, 1)").graph()
    kinds = {op.prim for op in graph.program.ops}
    assert INPUT in kinds and CONST in kinds and {"min", "max", "div"} <= kinds


# --- the command line ---------------------------------------------------------------------


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(args))
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_trace(capsys):
    code, out, _ = run_cli(capsys, GUIDE, "--at", "a=1,b=2,c=-3,x=-1,y=3", "--trace")
    assert code == 0
    assert out == str(exprgrad.compile(GUIDE).trace(**POINT)) + "\n"
    assert out.splitlines()[0].split() == ["name", "computes", "value", "gradient"]


def test_cli_trace_needs_a_point(capsys):
    code, _, err = run_cli(capsys, GUIDE, "--trace")
    assert code == 2 and "--trace needs --at" in err and err.startswith("usage:")


def test_cli_dot(capsys):
    code, out, _ = run_cli(capsys, GUIDE, "--dot")
    assert code == 0 and out == exprgrad.compile(GUIDE).graph().dot()
    code, out, _ = run_cli(capsys, GUIDE, "--dot", "--at", "a=1,b=2,c=-3,x=-1,y=3")
    assert code == 0 and out == exprgrad.compile(GUIDE).graph(**POINT).dot()


def test_cli_svg(capsys, tmp_path):
    path = tmp_path / "graph.svg"
    code, out, _ = run_cli(capsys, GUIDE, "--svg", str(path))
    assert code == 0 and out == ""
    ET.parse(path)
    code, out, _ = run_cli(capsys, GUIDE, "--at", "a=1,b=2,c=-3,x=-1,y=3", "--svg", str(path))
    assert code == 0 and out.startswith("value = 0.8807970779778823\n")  # --at prints too
    assert "grad 0.314981" in path.read_text(encoding="utf-8")


def test_cli_bad_combinations(capsys, tmp_path):
    for args in (("--dot", "--ir"), ("--dot", "--latex"), ("--trace", "--at", "x=1", "--check")):
        code, _, err = run_cli(capsys, "x*x", *args)
        assert code == 2 and "both print; give one of them" in err
    code, _, err = run_cli(capsys, "x*x", "--dot", "--emit", "module")
    assert code == 2 and "--dot and --emit module" in err
    code, _, err = run_cli(capsys, "x*x", "--svg", str(tmp_path / "no" / "such" / "dir.svg"))
    assert code == 2 and "cannot write" in err
    code, _, err = run_cli(capsys, "log(x)", "--at", "x=-1", "--dot")
    assert code == 1 and "log of a non-positive number" in err
    code, _, err = run_cli(capsys, "log(x)", "--at", "y=1", "--trace")
    assert code == 2 and "missing x" in err


def test_cli_help_lists_the_new_flags(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for flag in ("--trace", "--dot", "--svg FILE"):
        assert flag in out
    assert "forward/backward table" in out and "Graphviz DOT" in out and "SVG picture" in out


def test_gradient_view_labels_adjoint_ops_with_the_adjoint_not_the_value():
    """In gradient=True, an op computing d value / d(some line) shows that adjoint (the
    trace's gradient of the line), never the line's own value."""
    f = exprgrad.compile("log(a * x + 2) * sin(a * x)")
    point = dict(a=0.5, x=3.0)
    graph = Graph(f, point, gradient=True)
    trace = f.trace(**point)
    forward = f.forward_program.ops
    lines = [i for i, op in enumerate(forward) if op.prim not in (INPUT, CONST)]
    adjoint = dict(zip(lines, (row.grad for row in trace.rows), strict=True))
    value = dict(zip(lines, (row.value for row in trace.rows), strict=True))
    shown = [
        (node, f.program.grad_of[node.id])
        for node in graph.nodes
        if node.part == "gradient"
        and node.id not in f.program.grads.values()
        and f.program.grad_of.get(node.id) in adjoint
    ]
    assert shown  # d/d(a * x + 2), d/d(a * x)
    for node, of in shown:
        assert adjoint[of] != value[of]
        assert f"value = {adjoint[of]!r}" in node.tooltip.splitlines()
