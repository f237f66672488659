"""Every ```python block of README.md runs as written.

The rule, stated in the README's "Development" section: each block runs on its own, in a
fresh namespace (as a file given to `python` would), so a reader can copy any one of
them; a block right after a line `<!-- no-run: why -->` is an excerpt (generated code, a
reference listing) and is skipped, with its reason. Blocks run with matplotlib's Agg
backend and with the network refused.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NO_RUN = re.compile(r"<!-- no-run: (.+?) -->\n\Z")


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line of the fence, the code, the no-run reason or None) for each ```python block."""
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        skip = NO_RUN.search(text, 0, match.start())
        blocks.append((line, match.group(1), skip.group(1) if skip else None))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_rule_finds_blocks_and_reasons():
    text = "a\n```python\nx = 1\n```\n<!-- no-run: an excerpt -->\n```python\ny\n```\n"
    assert python_blocks(text) == [(2, "x = 1\n", None), (6, "y\n", "an excerpt")]
    # a no-run line applies only to the block right after it
    assert python_blocks("<!-- no-run: x -->\n\n```python\ny\n```\n")[0][2] is None
    assert len(BLOCKS) >= 5 and sum(reason is None for _, _, reason in BLOCKS) >= 4
    assert "<!-- no-run: why -->" in README.read_text(encoding="utf-8")  # the rule is stated


@pytest.fixture
def offline(monkeypatch):
    """matplotlib draws to files only; any network connection fails."""
    monkeypatch.setenv("MPLBACKEND", "Agg")

    def refuse(*args, **kwargs):
        raise OSError("README blocks must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    "line, code, reason", BLOCKS, ids=[f"line {line}" for line, _, _ in BLOCKS]
)
def test_readme_block_runs_as_written(line, code, reason, offline, capsys):
    if reason is not None:
        pytest.skip(f"no-run: {reason}")
    program = compile(code, f"README.md, the block at line {line}", "exec")
    exec(program, {"__name__": "__main__"})


def test_the_training_block_prints_what_it_says(offline, capsys):
    (code,) = [code for _, code, _ in BLOCKS if "print(history)" in code]
    claimed = code[code.index("print(history)  # ") :].splitlines()[0]
    claimed = claimed.removeprefix("print(history)  # ").removesuffix("...")
    exec(compile(code, "README.md, the training block", "exec"), {"__name__": "__main__"})
    printed = capsys.readouterr().out
    assert printed.startswith(claimed) and printed.startswith("<History: 20 epochs; best")


def test_the_lists_block_prints_what_it_says_and_its_excerpt_is_the_code(capsys):
    (code,) = [code for _, code, _ in BLOCKS if "f.source_for(**point)" in code]
    claimed = code[code.index("# 0.694349") + 2 :].splitlines()[0]
    exec(compile(code, "README.md, the lists block", "exec"), {"__name__": "__main__"})
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == claimed
    (excerpt,) = [code for _, code, _ in BLOCKS if "_columns = list(zip(*W1))" in code]
    for line in excerpt.splitlines():
        if line.strip() not in ("...", ""):
            assert line in printed.splitlines(), line


def test_the_dask_block_prints_what_it_says(capsys):
    pytest.importorskip("dask")
    (code,) = [code for _, code, _ in BLOCKS if "import dask.array as da" in code]
    claimed = code[code.index("# 0.693147") + 2 :].splitlines()[0]
    exec(compile(code, "README.md, the Dask block", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.splitlines()[-1] == claimed
