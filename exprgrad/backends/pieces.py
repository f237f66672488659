"""Long array code -> pieces: functions of at most PIECE_LINES lines passing values on.

The array backends' version of python/pieces.py, for code made of assignments (and blocks,
such as loops, that are never cut): the numpy and lists backends write such code. It has
no `if` blocks, but names are shared (a sum accumulated in place keeps its first
operand's name, an alias is its operand's name), so the values passed on are found by
name: each piece loads the names it reads before writing them, and stores, at its end,
those a later piece or the `return` reads. The main function keeps the signature and the
`with np.errstate` of the plain function, and its last piece returns the result:

    def value_and_grad(*_args):
        # 3 pieces of at most 10,000 lines; _v: the inputs, then the values pieces pass on
        _v = [*_args, *[None] * 5]
        _value_and_grad_1(_v)
        ...
        return _value_and_grad_3(_v)
"""

from __future__ import annotations

import re

from .emit import PIECE_LINES, covered

_READ = re.compile(r"(?<![.\w'])[A-Za-z_]\w*")  # a name read, not an attribute or a string


def _split(line: str) -> tuple[str | None, list[str]]:
    """The name a statement writes (or None) and the names it reads."""
    code = line.split("  # ", 1)[0].strip()
    if code.startswith("#") or not code:
        return None, []
    if code.startswith("return ") or " = " not in code:  # a return, or its continuation
        return None, _READ.findall(code.removeprefix("return "))
    target, _, value = code.partition(" = ")
    if target.endswith(" +"):  # in place: reads its target too
        target = target[:-2]
        return target, [target, *_READ.findall(value)]
    return target, _READ.findall(value)


def in_pieces(
    function: str,
    params: list[str],
    with_line: str | None,
    body: list[str],
    spans: list,
    source: str,
) -> tuple:
    """(source, parts) of `function` in pieces: body is the plain function's statements and
    `return`, inside with_line (np.errstate's) if given, spans the formula text behind each
    line (or None); parts as run_source takes them."""
    indent = len(body[0]) - len(body[0].lstrip())
    ranges, start = [], 0
    last = next(k for k, line in enumerate(body) if line.lstrip().startswith("return "))
    for k in range(last + 1):  # the return, which may take several lines, in the last piece
        # cut only before a statement of the body itself, never inside a block (a loop)
        if k - start >= PIECE_LINES and body[k][indent] != " ":
            ranges.append((start, k))
            start = k
    ranges.append((start, len(body)))
    slot = {name: k for k, name in enumerate(params)}
    known = set(params)
    # a name written inside a block (a loop's) is that block's own: only the body's pass on
    statements = [_split(line) if line[indent] != " " else (None, _split(line)[1]) for line in body]
    known.update(target for target, _ in statements if target is not None)
    reads_after: list[set[str]] = [set() for _ in ranges]  # names later pieces read
    later: set[str] = set()
    for p in reversed(range(len(ranges))):
        reads_after[p] = set(later)
        for _, reads in statements[ranges[p][0] : ranges[p][1]]:
            later.update(name for name in reads if name in known)
    pieces = []
    for p, (start, end) in enumerate(ranges):
        written: dict[str, None] = {}
        loads: dict[str, None] = {}
        for target, reads in statements[start:end]:
            loads.update((name, None) for name in reads if name in known and name not in written)
            if target is not None:
                written[target] = None
        stored = [name for name in written if name in reads_after[p]] if p + 1 < len(ranges) else []
        for name in [*loads, *stored]:
            slot.setdefault(name, len(slot))
        lines = [f"def _{function}_{p + 1}(_v):", f"    # {covered(spans[start:end], source)}"]
        lines += [f"    {name} = _v[{slot[name]}]" for name in loads]
        lines += ["    " + line[indent:] for line in body[start:end]]
        lines += [f"    _v[{slot[name]}] = {name}" for name in stored]
        pieces.append("\n".join(lines) + "\n")
    main = [
        f"def {function}(*_args):",
        f"    # {len(ranges):,} pieces of at most {PIECE_LINES:,} lines; _v: the inputs, then "
        "the values pieces pass on",
        f"    _v = [*_args, *[None] * {len(slot) - len(params)}]",
    ]
    inner = "    "
    if with_line is not None:
        main.append(with_line)
        inner = "        "
    main += [f"{inner}_{function}_{p + 1}(_v)" for p in range(len(ranges) - 1)]
    main.append(f"{inner}return _{function}_{len(ranges)}(_v)")
    texts = ["\n".join(main) + "\n", *pieces]
    parts, line, offset = [], 1, 0
    for k, text in enumerate(texts):
        if k:
            line, offset = line + 2, offset + 2  # two blank lines between functions
        parts.append((line, offset, offset + len(text)))
        line, offset = line + text.count("\n"), offset + len(text)
    return "\n\n".join(texts), tuple(parts)
