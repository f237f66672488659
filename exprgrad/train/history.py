"""History: what fit() returns, the losses and learning rates of a run and its parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(repr=False)
class History:
    """What fit() did. Lists are indexed by epoch (step_loss by step), from 0.

    params: the trained parameters (the best ones by validation loss when patience is set).
    train_loss: each epoch's mean loss over its training examples.
    val_loss: each epoch's mean validation loss, after its last step (empty without
        validation).
    step_loss: each step's mean loss over its minibatch, before the update.
    lr: the learning rate of each epoch's first step.
    best_epoch: the epoch with the lowest validation loss (None without validation).
    stopped_early: patience ran out, or the callback asked to stop.
    """

    params: dict[str, Any]
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        """A summary: the lists hold a number per epoch or step, too many to print."""
        parts = [f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"]
        if self.stopped_early:
            parts[0] += ", stopped early"
        best = self.best_epoch
        if best is not None and best < min(len(self.train_loss), len(self.val_loss)):
            parts.append(
                f"best epoch {best}: train loss {self.train_loss[best]:.6g}, "
                f"val loss {self.val_loss[best]:.6g}"
            )
        if self.train_loss:
            last = f"last train loss {self.train_loss[-1]:.6g}"
            if self.val_loss:
                last += f", val loss {self.val_loss[-1]:.6g}"
            parts.append(last)
        parts.append(f"params {', '.join(map(str, self.params)) or 'none'}")
        return f"<History: {'; '.join(parts)}>"
