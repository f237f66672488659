"""Epoch or step number -> learning rate: Constant, StepDecay and Cosine.

Callables of the epoch number (unit="epoch", fit calls them at the start of each epoch) or
of the step number (unit="step", before each step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ArgumentValueError
from .checks import _check_count, _check_rate


def _check_unit(unit: str) -> None:
    if unit not in ("epoch", "step"):
        raise ArgumentValueError(f"unit must be 'epoch' or 'step', not {unit!r}")


@dataclass(frozen=True)
class Constant:
    """lr at every epoch (or step)."""

    lr: float
    unit: str = "epoch"

    def __post_init__(self):
        _check_rate(self.lr, "lr")
        _check_unit(self.unit)

    def __call__(self, t: int) -> float:
        return self.lr


@dataclass(frozen=True)
class StepDecay:
    """lr * gamma**(t // every): multiplied by gamma every `every` epochs (or steps)."""

    lr: float
    every: int
    gamma: float = 0.1
    unit: str = "epoch"

    def __post_init__(self):
        _check_rate(self.lr, "lr")
        _check_count(self.every, "every")
        _check_rate(self.gamma, "gamma")
        _check_unit(self.unit)

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** (t // self.every)


@dataclass(frozen=True)
class Cosine:
    """Cosine annealing from lr at t = 0 to floor at t = total, floor afterwards:
    floor + (lr - floor) * (1 + cos(pi * min(t, total) / total)) / 2."""

    lr: float
    total: int
    floor: float = 0.0
    unit: str = "epoch"

    def __post_init__(self):
        _check_rate(self.lr, "lr")
        _check_count(self.total, "total")
        _check_rate(self.floor, "floor")
        _check_unit(self.unit)

    def __call__(self, t: int) -> float:
        progress = min(t, self.total) / self.total
        return self.floor + (self.lr - self.floor) * (1.0 + math.cos(math.pi * progress)) / 2
