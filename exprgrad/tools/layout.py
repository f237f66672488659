"""A Diagram (boxes of text, edges between them) -> an SVG picture, laid out in layers.

Longest-path layers, barycentric ordering, positions by isotonic regression, poly-line
edges; the long edges of one box share one trunk. It takes plain data and knows nothing
of formulas (exprgrad.tools.graph makes the Diagram). The same Diagram always gives the
same SVG.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True, slots=True)
class Box:
    """A node: lines of text, each in its colour, in a rounded box."""

    lines: tuple[str, ...]
    colours: tuple[str, ...]  # one per line
    tooltip: str
    kind: str  # the class of its SVG group
    fill: str
    bold: bool  # a thicker outline
    part: int | None = None  # its frame: an index into Diagram.parts
    accent: bool = False  # the edges into it are drawn in Diagram.accent


@dataclass(frozen=True, slots=True)
class Part:
    """A group of boxes framed in its colour, below every part before it."""

    name: str
    colour: str


@dataclass(frozen=True, slots=True)
class Diagram:
    """What to draw. Each edge (source, target) goes from a box to one listed after it;
    a box's edges arrive at its top from left to right in the order they are listed."""

    title: tuple[str, ...]
    boxes: Sequence[Box]
    edges: Sequence[tuple[int, int]]
    parts: tuple[Part, ...]
    accent: str  # the colour of accented edges


_FONT = 11  # px, monospace
_CHAR = 0.62 * _FONT  # a monospace character's advance
_LINE = 14  # px per label line
_PAD_X, _PAD_Y = 8, 5
_GAP_Y = 30  # between layers
_GAP = {(True, True): 16, (True, False): 10, (False, True): 10, (False, False): 6}  # real?
_DUMMY = 2  # width of a dummy node (a long edge passing through a layer)
_MARGIN = 12
_SWEEPS = 8
_GREY = "#777777"  # edges


@dataclass(slots=True)
class _Placement:
    x: list[float]  # centre of every item: real boxes first, then dummies
    y_top: list[float]  # top of every layer
    height: list[float]  # of every layer
    layer: list[int]
    trunk: list[dict[int, int]]  # box -> {layer: dummy item} of its long edges
    width: float
    total_height: float


def long_edge_segments(diagram: Diagram) -> int:
    """How many layers edges cross in all (each one a dummy node for a layout's passes)."""
    layer = _layers(diagram)
    return sum(layer[target] - layer[source] - 1 for source, target in diagram.edges)


def _sources(diagram: Diagram) -> list[list[int]]:
    """box -> the sources of its edges, in order."""
    into: list[list[int]] = [[] for _ in diagram.boxes]
    for source, target in diagram.edges:
        into[target].append(source)
    return into


def _layers(diagram: Diagram) -> list[int]:
    """Longest-path layers; a box no edge enters sits just above its first target, and a
    part at least two layers below the parts before it (room for its frame)."""
    boxes, into = diagram.boxes, _sources(diagram)
    layer = [0] * len(boxes)
    users: list[list[int]] = [[] for _ in boxes]
    for source, target in diagram.edges:
        users[source].append(target)
    deepest = [0] * len(diagram.parts)  # of each part so far
    for i, box in enumerate(boxes):
        if into[i]:
            layer[i] = 1 + max(layer[a] for a in into[i])
            if box.part is not None:
                if box.part:
                    layer[i] = max(layer[i], max(deepest[: box.part]) + 2)
                deepest[box.part] = max(deepest[box.part], layer[i])
    for i in range(len(boxes)):
        if not into[i] and users[i]:
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


def _place(diagram: Diagram, sizes: list[tuple[float, float]]) -> _Placement:
    n = len(sizes)
    layer = _layers(diagram)
    users: list[list[int]] = [[] for _ in range(n)]
    for source, target in diagram.edges:
        if target not in users[source]:
            users[source].append(target)
    # One shared chain of dummies (a trunk) carries all the long edges of a box, so
    # the item count stays near the box count when a box has targets far below.
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
    for item, level in enumerate(item_layer):  # dummies follow their box's order
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
    at = _MARGIN + 16 * len(diagram.title) + 8 + (18 if diagram.parts else 0)  # 18: frames
    y_top = []
    for level in range(depth):
        y_top.append(at)
        at += height[level] + _GAP_Y
    return _Placement(
        x, y_top, height, layer, trunk, right - left + 2 * _MARGIN, at - _GAP_Y + _MARGIN
    )


def _size(box: Box) -> tuple[float, float]:
    width = max(28.0, max((len(line) for line in box.lines), default=0) * _CHAR + 2 * _PAD_X)
    return width, len(box.lines) * _LINE + 2 * _PAD_Y


def svg(diagram: Diagram) -> str:
    """The diagram laid out in layers, as SVG text."""
    boxes = diagram.boxes
    sizes = [_size(box) for box in boxes]
    placement = _place(diagram, sizes)
    title = diagram.title
    width = max(placement.width, max((len(line) for line in title), default=0) * 7.4 + 2 * _MARGIN)
    height = placement.total_height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Menlo, Consolas, '
        f'DejaVu Sans Mono, monospace" font-size="{_FONT}">',
        "<defs>",
        '<marker id="exprgrad-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        f'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{_GREY}"/></marker>',
        # the accent's arrow keeps the id it had when only gradients were accented
        '<marker id="exprgrad-arrow-grad" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        f'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{diagram.accent}"/>'
        "</marker>",
        "</defs>",
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for k, line in enumerate(title):
        out.append(
            f'<text x="{_MARGIN}" y="{_MARGIN + 12 + 16 * k}" font-size="12">{escape(line)}</text>'
        )

    def bounds(i: int) -> tuple[float, float, float, float]:
        w, h = sizes[i]
        level = placement.layer[i]
        top = placement.y_top[level] + (placement.height[level] - h) / 2
        return placement.x[i] - w / 2, top, w, h

    for number, part in enumerate(diagram.parts):  # a frame around each part's boxes
        rects = [bounds(i) for i, box in enumerate(boxes) if box.part == number]
        if not rects:
            continue
        left = min(f[0] for f in rects) - 6
        top = min(f[1] for f in rects) - 16
        right = max(f[0] + f[2] for f in rects) + 6
        bottom = max(f[1] + f[3] for f in rects) + 6
        out.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
            f'height="{bottom - top:.1f}" rx="6" fill="none" stroke="{part.colour}" '
            'stroke-dasharray="4 3"/>'
        )
        out.append(
            f'<text x="{left + 6:.1f}" y="{top + 11:.1f}" fill="{part.colour}">'
            f"{escape(part.name)}</text>"
        )
    out += _edges(diagram, placement, bounds)
    for i, box in enumerate(boxes):
        out.append(_box_svg(box, bounds(i)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edges(
    diagram: Diagram,
    placement: _Placement,
    bounds: Callable[[int], tuple[float, float, float, float]],
) -> list[str]:
    """A box's long edges share one trunk, drawn once down the layers they cross; each
    edge is then a line from the box (or its trunk) into its target's top, where edges
    arrive left to right in their order (x - y: x's edge on the left)."""
    out = []
    for source, trunk in enumerate(placement.trunk):
        if trunk:
            x, top, w, h = bounds(source)
            points = [(x + w / 2, top + h)]
            for level, item in sorted(trunk.items()):
                points.append((placement.x[item], placement.y_top[level]))
                points.append((placement.x[item], placement.y_top[level] + placement.height[level]))
            out.append(_polyline(points, _GREY, None))
    for target, sources in enumerate(_sources(diagram)):
        x, top, w, _ = bounds(target)
        count = len(sources)
        spread = min(14.0, w / (count + 1))
        accent = diagram.boxes[target].accent
        for k, source in enumerate(sources):
            item = placement.trunk[source].get(placement.layer[target] - 1)
            if item is None:
                sx, stop, sw, sh = bounds(source)
                start = (sx + sw / 2, stop + sh)
            else:
                level = placement.layer[target] - 1
                start = (placement.x[item], placement.y_top[level] + placement.height[level])
            end = (x + w / 2 + (k - (count - 1) / 2) * spread, top)
            out.append(_polyline([start, end], diagram.accent if accent else _GREY, accent))
    return out


def _polyline(points: list[tuple[float, float]], colour: str, accent: bool | None) -> str:
    """accent None: no arrow head."""
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    marker = (
        "" if accent is None else f' marker-end="url(#exprgrad-arrow{"-grad" if accent else ""})"'
    )
    return f'<polyline points="{path}" fill="none" stroke="{colour}"{marker}/>'


def _box_svg(box: Box, rect: tuple[float, float, float, float]) -> str:
    left, top, w, h = rect
    stroke = "2" if box.bold else "1"
    parts = [
        f'<g class="node {box.kind}">',
        f"<title>{escape(box.tooltip)}</title>",
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" rx="5" '
        f'fill="{box.fill}" stroke="#555555" stroke-width="{stroke}"/>',
    ]
    centre = left + w / 2
    for k, (line, colour) in enumerate(zip(box.lines, box.colours, strict=True)):
        y = top + _PAD_Y + (k + 1) * _LINE - 3
        parts.append(
            f'<text x="{centre:.1f}" y="{y:.1f}" text-anchor="middle" fill="{colour}">'
            f"{escape(line)}</text>"
        )
    parts.append("</g>")
    return "".join(parts)
