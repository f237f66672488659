"""A directory of MNIST or QMNIST IDX files -> images and labels (QMNIST's extended labels
too): finds the files under their usual names, checks they agree, scales the pixels."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import ArgumentValueError
from .common import DatasetError, _numpy, _reason
from .idx import load_idx

if TYPE_CHECKING:
    import numpy as np


_MNIST_URL = (
    "http://yann.lecun.com/exdb/mnist/ or its mirror https://ossci-datasets.s3.amazonaws.com/mnist/"
)
_QMNIST_URL = "https://github.com/facebookresearch/qmnist"


# file name stems tried in a directory, each raw or compressed
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_COMPRESSED = ("", ".gz", ".xz")

QMNIST_COLUMNS = (
    "class",  # 0 to 9, the label
    "hsf_series",  # NIST HSF series: 0, 1 or 4
    "writer_id",  # NIST writer: 0-610 and 2100-2599
    "writer_digit_index",  # index of the digit among its writer's: 0 to 149
    "nist_class_code",  # 30-39 (ASCII code of the digit, in hex)
    "nist_digit_index",  # index in the xnist files: 0 to 402952
    "duplicate",  # xnist only: index of the digit this one duplicates, else 0
    "unused",  # 0
)


def _variants(stem: str) -> list[str]:
    # "train-images.idx3-ubyte" is how some archives (Kaggle's among them) spell the names.
    dotted = stem.replace("-idx", ".idx")
    return [stem + suffix for suffix in _COMPRESSED] + [dotted + suffix for suffix in _COMPRESSED]


def _check_directory(directory: str, dataset: str, where: str) -> None:
    if os.path.isdir(directory):
        return
    if os.path.exists(directory):
        raise DatasetError(
            f"{directory}: is a file; pass the directory holding the {dataset} files"
        )
    raise DatasetError(f"{directory}: no such directory (download {dataset} from {where})")


def _find(directory: str, stems: tuple[str, ...], what: str, dataset: str, where: str) -> str:
    names = [name for stem in stems for name in _variants(stem)]
    for name in names:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    raise DatasetError(
        f"{directory}: no {what} file found; looked for {', '.join(names)} "
        f"(download {dataset} from {where})"
    )


def _check_images(np: Any, path: str, images: Any) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"{path}: expected images, an n x rows x columns array of unsigned bytes, "
            f"found shape {images.shape} of {images.dtype}"
        )


def _as_float(images: Any, flatten: bool, dtype: Any) -> Any:
    scaled = images.astype(dtype)
    scaled /= 255
    return scaled.reshape(len(images), -1) if flatten else scaled


def _check_labels(np: Any, path: str, labels: Any, count: int, images_path: str) -> Any:
    if len(labels) != count:
        raise DatasetError(f"{path}: {len(labels):,} labels for {count:,} images in {images_path}")
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        first = int(bad[0])
        raise DatasetError(
            f"{path}: label {int(labels[first])} at index {first} is outside 0..9 "
            f"({bad.size:,} such labels)"
        )
    return labels.astype(np.int64)


def load_mnist(
    directory: str | os.PathLike[str],
    kind: str = "train",
    *,
    flatten: bool = False,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's training or test set from a directory holding the four IDX files.

    kind is "train" (train-images-idx3-ubyte, train-labels-idx1-ubyte) or "test"
    (t10k-...); each file may be raw, .gz or .xz. Returns (images, labels): images of
    the given float dtype in [0, 1], shape (n, 28, 28), or (n, 784) with flatten=True;
    labels int64 in 0..9. Fashion-MNIST uses the same names and loads the same way. For
    QMNIST's files, use load_qmnist.
    """
    np = _numpy()
    directory = os.fspath(directory)
    if kind not in _MNIST_FILES:
        raise ArgumentValueError(f"kind must be 'train' or 'test', not {kind!r}")
    _check_directory(directory, "MNIST", _MNIST_URL)
    images_stem, labels_stem = _MNIST_FILES[kind]
    where = _MNIST_URL
    try:
        names = os.listdir(directory)
    except OSError as error:
        raise DatasetError(f"{directory}: cannot list it ({_reason(error)})") from None
    if any(name.startswith(("qmnist-", "xnist-")) for name in names):
        where += "; this directory holds QMNIST files: load them with load_qmnist"
    images_path = _find(directory, (images_stem,), f"MNIST {kind}", "MNIST", where)
    labels_path = _find(directory, (labels_stem,), f"MNIST {kind}", "MNIST", where)
    images = load_idx(images_path)
    _check_images(np, images_path, images)
    labels = load_idx(labels_path)
    if labels.ndim != 1:
        raise DatasetError(
            f"{labels_path}: expected one label per image, found shape {labels.shape}"
        )
    labels = _check_labels(np, labels_path, labels, len(images), images_path)
    return _as_float(images, flatten, dtype), labels


# kind -> (images stem, label stems in order of preference, rows kept)
_QMNIST_FILES = {
    "train": ("qmnist-train-images-idx3-ubyte", ("qmnist-train-labels-idx2-int",), None),
    "test": (
        "qmnist-test-images-idx3-ubyte",
        ("qmnist-test-labels-idx2-int", "qmnist-test-labels-idx1-ubyte"),
        None,
    ),
    "test10k": (
        "qmnist-test-images-idx3-ubyte",
        ("qmnist-test-labels-idx2-int", "qmnist-test-labels-idx1-ubyte"),
        slice(0, 10000),
    ),
    "test50k": (
        "qmnist-test-images-idx3-ubyte",
        ("qmnist-test-labels-idx2-int", "qmnist-test-labels-idx1-ubyte"),
        slice(10000, None),
    ),
    "nist": ("xnist-images-idx3-ubyte", ("xnist-labels-idx2-int",), None),
}


def load_qmnist(
    directory: str | os.PathLike[str],
    kind: str = "train",
    *,
    flatten: bool = False,
    extra: bool = False,
    dtype: str = "float32",
) -> tuple[np.ndarray, ...]:
    """QMNIST from a directory holding its IDX files (raw, .gz or .xz).

    kind: "train" (60,000 digits matching MNIST's training set), "test" (60,000: the first
    10,000 match MNIST's test set), "test10k" and "test50k" (those two parts of it), or
    "nist" (xnist-*, all 402,953 NIST digits). Returns (images, labels) as load_mnist does;
    with extra=True, (images, labels, table), table being the int64 n x 8 extended labels
    of the idx2-int file, columns named by QMNIST_COLUMNS (class, NIST HSF series, writer
    id, digit index for the writer, NIST class code, global NIST index, duplicate, unused).
    """
    np = _numpy()
    directory = os.fspath(directory)
    if kind not in _QMNIST_FILES:
        raise ArgumentValueError(
            f"kind must be one of {', '.join(map(repr, _QMNIST_FILES))}, not {kind!r}"
        )
    _check_directory(directory, "QMNIST", _QMNIST_URL)
    images_stem, label_stems, rows = _QMNIST_FILES[kind]
    images_path = _find(directory, (images_stem,), f"QMNIST {kind}", "QMNIST", _QMNIST_URL)
    labels_path = _find(directory, label_stems, f"QMNIST {kind}", "QMNIST", _QMNIST_URL)
    images = load_idx(images_path)
    _check_images(np, images_path, images)
    table = load_idx(labels_path)
    if table.ndim == 1 and table.dtype == np.uint8:
        if extra:
            raise DatasetError(
                f"{labels_path}: holds the classes only; extra=True needs the extended labels "
                f"{label_stems[0]}.gz (from {_QMNIST_URL})"
            )
        labels = table
    elif table.ndim == 2 and table.shape[1] == len(QMNIST_COLUMNS) and table.dtype == np.int32:
        labels = table[:, 0]
    else:
        raise DatasetError(
            f"{labels_path}: expected QMNIST's extended labels, an n x 8 array of int, "
            f"found shape {table.shape} of {table.dtype}"
        )
    labels = _check_labels(np, labels_path, labels, len(images), images_path)
    if rows is not None:
        images, labels, table = images[rows], labels[rows], table[rows]
    images = _as_float(images, flatten, dtype)
    if extra:
        return images, labels, table.astype(np.int64)
    return images, labels
