"""Argument checks that several training modules share, and how they tell a numpy array.

Kept apart so that initialisers, optimisers, schedules, the engines and fit() import them
from one place, and none of those imports another for them.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import ArgumentError, ArgumentValueError


def _numpy_of(value: Any) -> Any:
    """numpy if value is a numpy array, else None. An array means numpy is imported already."""
    np = sys.modules.get("numpy")
    return np if np is not None and isinstance(value, np.ndarray) else None


def _check_seed(seed: Any) -> None:
    # None draws fresh entropy (random.Random(None), default_rng(None)): a run not meant to repeat.
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ArgumentError(f"seed must be an int or None, not {type(seed).__name__} {seed!r}")


def _check_rate(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ArgumentValueError(f"{what} must be a number >= 0, not {value!r}")


def _check_count(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentValueError(f"{what} must be a positive integer, not {value!r}")
