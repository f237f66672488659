"""exprgrad.tools.layout: plain boxes and edges -> a layered SVG picture."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from exprgrad.tools.layout import Box, Diagram, Part, long_edge_segments, svg

SVG = "{http://www.w3.org/2000/svg}"


def box(text: str, part: int | None = None, accent: bool = False) -> Box:
    return Box((text,), ("#111111",), text, "plain", "#ffffff", False, part, accent)


def tops(picture: str) -> dict[str, float]:
    """box text -> the top of its rectangle."""
    root = ET.fromstring(picture)
    return {
        g.find(f"{SVG}title").text: float(g.find(f"{SVG}rect").get("y"))
        for g in root.iter(f"{SVG}g")
    }


def test_sources_lie_above_their_targets_and_long_edges_share_a_trunk():
    # a feeds b, c and d; d is three layers below a, so a's edge to it crosses two layers
    boxes = [box("a"), box("b"), box("c"), box("d")]
    edges = [(0, 1), (1, 2), (0, 2), (2, 3), (0, 3)]
    diagram = Diagram(("a title",), boxes, edges, (), "#ff0000")
    assert long_edge_segments(diagram) == 1 + 2
    picture = svg(diagram)
    top = tops(picture)
    assert top["a"] < top["b"] < top["c"] < top["d"]
    root = ET.fromstring(picture)
    arrows = [p for p in root.iter(f"{SVG}polyline") if p.get("marker-end")]
    trunks = [p for p in root.iter(f"{SVG}polyline") if not p.get("marker-end")]
    assert len(arrows) == len(edges) and len(trunks) == 1
    assert picture == svg(diagram)  # the same diagram, the same bytes


def test_a_later_part_lies_below_and_its_edges_take_the_accent():
    boxes = [box("x", 0), box("y", 0), box("x'", 1, accent=True)]
    diagram = Diagram(
        (), boxes, [(0, 1), (1, 2)], (Part("top", "#888"), Part("low", "#f00")), "#f00"
    )
    picture = svg(diagram)
    top = tops(picture)
    assert top["y"] < top["x'"]
    root = ET.fromstring(picture)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "top" in texts and "low" in texts  # each part framed under its name
    arrows = [p for p in root.iter(f"{SVG}polyline") if p.get("marker-end")]
    assert [p.get("stroke") for p in arrows] == ["#777777", "#f00"]
