"""fit()'s progress=... -> a tqdm bar counting steps, a line per epoch, or nothing."""

from __future__ import annotations

import sys

from ..errors import ArgumentError
from .history import History


class _Bar:
    """A tqdm bar counting steps, the losses as its postfix."""

    def __init__(self, tqdm, total: int, delay: float):
        self.bar = tqdm(total=total, unit="step", file=sys.stderr, delay=delay, leave=True)

    def step(self) -> None:
        self.bar.update(1)

    def epoch(self, epoch: int, epochs: int, history: History) -> None:
        postfix = {"epoch": f"{epoch + 1}/{epochs}", "loss": f"{history.train_loss[-1]:.4g}"}
        if history.val_loss:
            postfix["val"] = f"{history.val_loss[-1]:.4g}"
        self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        self.bar.close()


class _Lines:
    """progress=True without tqdm: a line per epoch on stderr."""

    def step(self) -> None:
        pass

    def epoch(self, epoch: int, epochs: int, history: History) -> None:
        text = f"epoch {epoch + 1}/{epochs}: loss {history.train_loss[-1]:.6g}"
        if history.val_loss:
            text += f", validation {history.val_loss[-1]:.6g}"
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def _progress(progress: bool | None, total: int) -> _Bar | _Lines | None:
    if progress is False:
        return None
    if progress is not None and progress is not True:
        raise ArgumentError(f"progress must be True, False or None, not {progress!r}")
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        if tqdm is None or isatty is None or not isatty():
            return None
        return _Bar(tqdm, total, delay=1.0)  # short runs finish before the bar shows
    return _Lines() if tqdm is None else _Bar(tqdm, total, delay=0.0)
