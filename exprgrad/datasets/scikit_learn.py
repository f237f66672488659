"""scikit-learn's bundled data sets (shipped with it, read offline) -> numpy arrays:
the digits and the Wisconsin breast cancer data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError
from .common import _numpy

if TYPE_CHECKING:
    import numpy as np


def _sklearn_datasets(caller: str) -> Any:
    try:
        from sklearn import datasets
    except ImportError:
        raise MissingDependencyError(
            f"{caller} needs scikit-learn: pip install scikit-learn "
            "(or pip install 'exprgrad[examples]')"
        ) from None
    return datasets


def load_digits(*, flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits: images float64 in [0, 1], shape (n, 64) or (n, 8, 8)
    with flatten=False, and labels int64 0..9."""
    np = _numpy()
    bunch = _sklearn_datasets("load_digits").load_digits()
    images = np.asarray(bunch.images, dtype=np.float64) / 16  # pixels are 0..16
    images = images.reshape(len(images), -1) if flatten else images
    return images, np.asarray(bunch.target, dtype=np.int64)


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's Wisconsin breast cancer data: 569 x 30 float64 features (raw, not
    standardised) and labels int64, 1 benign, 0 malignant."""
    np = _numpy()
    bunch = _sklearn_datasets("load_breast_cancer").load_breast_cancer()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)
