"""Where exprgrad keeps what it builds between processes: Lark's tables, C libraries.

$EXPRGRAD_CACHE_DIR when set (everything in that one directory), else
$XDG_CACHE_HOME/exprgrad/PART, else ~/.cache/exprgrad/PART.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(part: str) -> Path:
    """The directory for one kind of cached file ("grammar", "c"); not made here."""
    chosen = os.environ.get("EXPRGRAD_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "exprgrad" / part
