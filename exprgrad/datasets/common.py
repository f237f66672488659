"""What every data set module shares: DatasetError, the numpy import that says how to
install numpy, and an OSError's reason for a message."""

from __future__ import annotations

from typing import Any

from ..errors import Error, require_numpy


class DatasetError(Error, ValueError):
    """A data file is missing, truncated or malformed; the message names the file."""


def _numpy() -> Any:
    return require_numpy("exprgrad.datasets")


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__
