"""Arrays -> arrays ready to train on: a seeded (stratified) train/test split,
standardisation with a training set's statistics, one-hot labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ArgumentValueError
from .common import _numpy

if TYPE_CHECKING:
    import numpy as np


def train_test_split(
    features: Any,
    labels: Any,
    *,
    test_size: float = 0.25,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(features_train, features_test, labels_train, labels_test), shuffled with the seed.

    test_size is the fraction of rows (0 < test_size < 1) for the test set. With
    stratify=True each label value contributes round(test_size * its count) rows, so both
    sets keep the class proportions; the same seed gives the same split.
    """
    np = _numpy()
    features, labels = np.asarray(features), np.asarray(labels)
    if len(features) != len(labels):
        raise ArgumentValueError(f"{len(features)} rows of features but {len(labels)} labels")
    if not 0 < test_size < 1:
        raise ArgumentValueError(f"test_size must be a fraction between 0 and 1, not {test_size!r}")
    rng = np.random.default_rng(seed)
    n = len(labels)
    if stratify:
        _, groups = np.unique(labels, axis=0, return_inverse=True)
        groups = groups.reshape(-1)
        test = []
        for group in range(groups.max() + 1 if n else 0):
            members = rng.permutation(np.flatnonzero(groups == group))
            test.append(members[: round(test_size * len(members))])
        test = np.concatenate(test) if test else np.array([], dtype=np.int64)
    else:
        test = rng.permutation(n)[: round(test_size * n)]
    in_test = np.zeros(n, dtype=bool)
    in_test[test] = True
    if in_test.all() or not in_test.any():
        raise ArgumentValueError(
            f"test_size={test_size} leaves the {'training' if in_test.all() else 'test'} set "
            f"empty with {n} rows"
        )
    train = rng.permutation(np.flatnonzero(~in_test))
    test = rng.permutation(np.flatnonzero(in_test))
    return features[train], features[test], labels[train], labels[test]


def standardize(train: Any, *others: Any) -> tuple[np.ndarray, ...]:
    """(train, *others) standardised with the statistics of train's columns alone, so that
    nothing of a test set leaks into the features: in every array, a NaN is replaced by the
    median of train's known values in its column, then each column has train's mean
    subtracted and is divided by train's standard deviation (1 for a constant column).
    Returns new float64 arrays, n x columns like train.

    >>> x_train, x_test = standardize([[1.0, 5.0], [3.0, float("nan")]], [[5.0, float("nan")]])
    >>> x_train.tolist(), x_test.tolist()
    ([[-1.0, 0.0], [1.0, 0.0]], [[3.0, 0.0]])
    """
    np = _numpy()
    arrays = [np.array(a, dtype=np.float64) for a in (train, *others)]  # copies
    if any(a.ndim != 2 or a.shape[1] != arrays[0].shape[1] for a in arrays):
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ArgumentValueError(
            f"standardize takes 2-D arrays (rows: examples) with the same columns, not {shapes}"
        )
    first = arrays[0]
    if not len(first):
        raise ArgumentValueError("standardize needs training rows to learn the statistics from")
    known = ~np.isnan(first)
    empty = np.flatnonzero(~known.any(axis=0))
    if empty.size:
        raise ArgumentValueError(f"column {int(empty[0])} of train has no known value (all NaN)")
    medians = np.nanmedian(first, axis=0)
    for array in arrays:
        missing = np.isnan(array)
        array[missing] = np.broadcast_to(medians, array.shape)[missing]
    mean, std = first.mean(axis=0), first.std(axis=0)
    std[std == 0] = 1.0  # a constant column stays 0
    for array in arrays:
        array -= mean
        array /= std
    return tuple(arrays)


def one_hot(labels: Any, num_classes: int | None = None, *, dtype: str = "float64") -> np.ndarray:
    """An n x num_classes array with a 1 in each row's label column (labels 0..num_classes-1;
    num_classes defaults to the largest label + 1)."""
    np = _numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ArgumentValueError(f"labels must be one-dimensional, not of shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        whole = np.issubdtype(labels.dtype, np.number) and np.all(np.mod(labels, 1) == 0)
        if not whole:
            raise ArgumentValueError(f"labels must be whole numbers, found {labels.dtype}")
    labels = labels.astype(np.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise ArgumentValueError(
            f"label {labels[bad[0]]} at index {bad[0]} is outside 0..{num_classes - 1}"
        )
    result = np.zeros((len(labels), num_classes), dtype=dtype)
    result[np.arange(len(labels)), labels] = 1
    return result
