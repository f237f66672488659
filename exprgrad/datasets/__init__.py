"""Small data sets for examples: MNIST and QMNIST IDX files, the Titanic CSV, scikit-learn's
bundled digits and breast cancer, and helpers (a seeded train/test split, one-hot labels,
standardisation with a training set's statistics).

Nothing is downloaded: the loaders read files the user already has and say where to get
them when they are missing. numpy (the ``array`` extra) is imported by the functions that
need it, so ``import exprgrad.datasets`` works without it.

>>> images, labels = load_mnist("data/mnist", "train", flatten=True)  # doctest: +SKIP
>>> images.shape, images.dtype, labels[:5]  # doctest: +SKIP
((60000, 784), dtype('float32'), array([5, 0, 4, 1, 9]))
"""

from __future__ import annotations

import csv
import gzip
import lzma
import math
import os
import statistics
import zlib
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from ..errors import ArgumentValueError, Error, MissingDependencyError, require_numpy

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "QMNIST_COLUMNS",
    "DatasetError",
    "TitanicData",
    "TITANIC_FEATURES",
    "TitanicStats",
    "load_breast_cancer",
    "load_digits",
    "load_idx",
    "load_mnist",
    "load_qmnist",
    "load_titanic",
    "one_hot",
    "standardize",
    "train_test_split",
]

_MNIST_URL = (
    "http://yann.lecun.com/exdb/mnist/ or its mirror https://ossci-datasets.s3.amazonaws.com/mnist/"
)
_QMNIST_URL = "https://github.com/facebookresearch/qmnist"
_TITANIC_URL = (
    "https://www.kaggle.com/c/titanic/data (train.csv) or "
    "https://web.stanford.edu/class/archive/cs/cs109/cs109.1166/stuff/titanic.csv"
)


class DatasetError(Error, ValueError):
    """A data file is missing, truncated or malformed; the message names the file."""


def _numpy() -> Any:
    return require_numpy("exprgrad.datasets")


# ---------------------------------------------------------------------------------------------
# IDX files (MNIST, QMNIST, Fashion-MNIST, EMNIST)

# type byte -> (name in the IDX documentation, big-endian numpy dtype)
# fmt: off
_IDX_TYPES = {
    0x08: ("ubyte", ">u1"),
    0x09: ("byte", ">i1"),
    0x0B: ("short", ">i2"),
    0x0C: ("int", ">i4"),
    0x0D: ("float", ">f4"),
    0x0E: ("double", ">f8"),
}
# fmt: on
_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_CHUNK = 1 << 20  # data is read in pieces of this size


def _describe_start(head: bytes) -> str:
    shown = head[:4].hex(" ") or "nothing"
    hint = ""
    if head.lstrip()[:1] == b"<":
        hint = " (it looks like an HTML page: a failed download?)"
    return f"this one with {shown}{hint}"


def _read_up_to(stream: IO[bytes], size: int) -> bytearray:
    # In pieces, so a header promising a terabyte meets the end of the data long before
    # anything that large is allocated (BufferedReader.read(n) allocates n bytes up front).
    data = bytearray()
    while len(data) < size:
        piece = stream.read(min(_CHUNK, size - len(data)))
        if not piece:
            break
        data += piece
    return data


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (raw, gzip or xz, recognised by content) into a numpy array.

    The header is the magic ``00 00``, a type byte (0x08 ubyte, 0x09 byte, 0x0B short,
    0x0C int, 0x0D float, 0x0E double), a dimension count, then one big-endian uint32
    per dimension. The array has that shape and dtype (in native byte order). Exactly
    the bytes the header promises are read; anything after them is ignored. Raises
    DatasetError for a missing, truncated or malformed file.
    """
    np = _numpy()
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DatasetError(f"{path}: is a directory, not an IDX file")
    try:
        with ExitStack() as stack:
            raw = stack.enter_context(open(path, "rb"))
            start = raw.read(len(_XZ_MAGIC))
            raw.seek(0)
            compression = None
            stream: IO[bytes] = raw
            if start.startswith(_GZIP_MAGIC):
                compression = "gzip"
                stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            elif start.startswith(_XZ_MAGIC):
                compression = "xz"
                stream = stack.enter_context(lzma.LZMAFile(raw, mode="rb"))
            try:
                return _read_idx(np, path, raw, stream, compression)
            except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
                if compression is None:
                    raise
                raise DatasetError(f"{path}: corrupt {compression} data ({error})") from None
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as error:  # permissions, a device error, ...
        raise DatasetError(f"{path}: cannot read it ({_reason(error)})") from None


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _read_idx(np: Any, path: str, raw: IO[bytes], stream: IO[bytes], compression: str | None):
    head = _read_up_to(stream, 4)
    if not head:
        raise DatasetError(f"{path}: empty file, not an IDX file")
    if not b"\x00\x00".startswith(head[:2]):
        raise DatasetError(
            f"{path}: not an IDX file: wrong magic number: an IDX file starts with 00 00, "
            f"a type byte and a dimension count, {_describe_start(head)}"
        )
    if len(head) < 4:
        raise DatasetError(f"{path}: truncated IDX header: {len(head)} bytes, expected at least 4")
    type_byte, ndim = head[2], head[3]
    if type_byte not in _IDX_TYPES:
        known = ", ".join(f"0x{code:02X} {name}" for code, (name, _) in _IDX_TYPES.items())
        raise DatasetError(f"{path}: unknown IDX type byte 0x{type_byte:02X} (known: {known})")
    type_name, big_endian = _IDX_TYPES[type_byte]
    dims_bytes = _read_up_to(stream, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DatasetError(
            f"{path}: truncated IDX header: {ndim} dimensions announced, "
            f"but the file ends {4 + len(dims_bytes)} bytes in, before {4 + 4 * ndim}"
        )
    shape = tuple(int.from_bytes(dims_bytes[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = np.dtype(big_endian)
    count = math.prod(shape)
    size = count * dtype.itemsize
    values = f"{' x '.join(map(str, shape))} {type_name} values" if shape else f"one {type_name}"
    promise = f"the header promises {values} ({size:,} bytes of data)"
    if compression is None:
        # A plain file's size is known: check it before reading a byte of data.
        available = os.fstat(raw.fileno()).st_size - 4 - 4 * ndim
        if available < size:
            raise DatasetError(f"{path}: truncated IDX file: {promise}, only {available:,} follow")
    data = _read_up_to(stream, size)
    if len(data) < size:
        raise DatasetError(
            f"{path}: truncated IDX file: {promise}, the {compression} data holds only "
            f"{len(data):,}"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1)


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


# ---------------------------------------------------------------------------------------------
# Titanic


@dataclass(frozen=True, slots=True)
class TitanicStats:
    """What load_titanic learnt from the training file, to apply unchanged to test data."""

    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]  # 1.0 for a constant column
    age_median: float  # fills a missing Age
    fare_median: float  # fills a missing Fare (one row of Kaggle's test.csv)


class TitanicData(NamedTuple):
    features: np.ndarray  # n x 8, float64, standardised (raw with standardize=False)
    labels: np.ndarray | None  # n, int64 0/1; None with labels=False
    stats: TitanicStats | None  # None with standardize=False


TITANIC_FEATURES = (
    "pclass_2",  # 1 in second class
    "pclass_3",  # 1 in third class (first class is the baseline: no column beside the bias)
    "male",  # sex: 1 male, 0 female
    "age",  # missing ages filled with the training median
    "age_missing",  # 1 where the age was missing
    "sibsp",  # siblings and spouses aboard
    "parch",  # parents and children aboard
    "log_fare",  # log1p(fare)
)

# column -> accepted header spellings (Kaggle's, CS109's), compared without case or spaces around
_TITANIC_COLUMNS = {
    "Survived": ("Survived",),
    "Pclass": ("Pclass",),
    "Sex": ("Sex",),
    "Age": ("Age",),
    "SibSp": ("SibSp", "Siblings/Spouses Aboard"),
    "Parch": ("Parch", "Parents/Children Aboard"),
    "Fare": ("Fare",),
}


def _column_indexes(path: str, header: list[str], labels: bool) -> dict[str, int]:
    found = {name.strip().lower(): index for index, name in reversed(list(enumerate(header)))}
    indexes = {}
    for column, spellings in _TITANIC_COLUMNS.items():
        if column == "Survived" and not labels:
            continue
        index = next((found[s.lower()] for s in spellings if s.lower() in found), None)
        if index is None:
            wanted = " or ".join(map(repr, spellings))
            raise DatasetError(
                f"{path}: no column {wanted}; the columns found are: {', '.join(header)}"
            )
        indexes[column] = index
    return indexes


class _RowError(Exception):
    pass


def _number(text: str, column: str, whole: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _RowError(f"{column} is not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (whole and not value.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise _RowError(f"{column} must be {kind} >= 0, not {text!r}")
    return value


def _passenger(fields: list[str], indexes: dict[str, int], header: list[str]) -> tuple[Any, ...]:
    value = {column: fields[index].strip() for column, index in indexes.items()}
    name = {column: header[index].strip() for column, index in indexes.items()}  # as spelt
    survived = None
    if "Survived" in value:
        if value["Survived"] not in ("0", "1"):
            raise _RowError(f"{name['Survived']} must be 0 or 1, not {value['Survived']!r}")
        survived = int(value["Survived"])
    if value["Pclass"] not in ("1", "2", "3"):
        raise _RowError(f"{name['Pclass']} must be 1, 2 or 3, not {value['Pclass']!r}")
    sex = value["Sex"].lower()
    if sex not in ("male", "female"):
        raise _RowError(f"{name['Sex']} must be male or female, not {value['Sex']!r}")
    age = _number(value["Age"], name["Age"]) if value["Age"] else None
    fare = _number(value["Fare"], name["Fare"]) if value["Fare"] else None
    sibsp = _number(value["SibSp"], name["SibSp"], whole=True)
    parch = _number(value["Parch"], name["Parch"], whole=True)
    return survived, int(value["Pclass"]), float(sex == "male"), age, sibsp, parch, fare


def load_titanic(
    path: str | os.PathLike[str],
    *,
    stats: TitanicStats | None = None,
    labels: bool = True,
    standardize: bool = True,
) -> TitanicData:
    """The Titanic passengers of a CSV file as features for logistic regression.

    Accepts Kaggle's columns (Survived, Pclass, Sex, Age, SibSp, Parch, Fare, others
    ignored) or CS109's (Siblings/Spouses Aboard, Parents/Children Aboard). Returns
    (features, labels, stats): features an n x 8 float64 array, columns TITANIC_FEATURES
    (class as two indicators with first class the baseline, male 0/1, age with missing
    ages filled by the median known age, an age-missing indicator, siblings/spouses,
    parents/children, log1p(fare)), every column standardised to mean 0 and standard
    deviation 1; labels int64 Survived. Pass the training file's stats to load test data
    with the same medians, means and deviations; labels=False reads a file without
    Survived (Kaggle's test.csv) and returns None for labels.

    These statistics are the whole file's. To split the file and learn them from the
    training part alone, load it with standardize=False: features are then the raw
    values (age in years, log1p(fare), the indicators 0/1), a missing age or fare is NaN
    (age_missing still flags the age) and stats is None; split, then
    standardize(x_train, x_test) fills each NaN with the training column's median and
    standardises with the training columns' means and deviations.
    """
    np = _numpy()
    path = os.fspath(path)
    if not standardize and stats is not None:
        raise ArgumentValueError(
            "stats are applied by standardising: pass standardize=True with them"
        )
    rows = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path}: empty file, expected a header row of column names")
            indexes = _column_indexes(path, header, labels)
            for number, fields in enumerate(reader, start=1):
                if not fields:
                    continue  # a blank line
                where = f"{path}: row {number} (line {reader.line_num})"
                if len(fields) != len(header):
                    raise DatasetError(
                        f"{where} has {len(fields)} fields, the header has {len(header)}: "
                        f"{','.join(fields)[:80]!r}"
                    )
                try:
                    rows.append(_passenger(fields, indexes, header))
                except _RowError as error:
                    raise DatasetError(f"{where}: {error}") from None
    except FileNotFoundError:
        raise DatasetError(
            f"{path}: no such file (download the Titanic data from {_TITANIC_URL})"
        ) from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a directory; pass the Titanic CSV file") from None
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except csv.Error as error:
        raise DatasetError(f"{path}: malformed CSV ({error})") from None
    except OSError as error:  # permissions, a device error, ...
        raise DatasetError(f"{path}: cannot read it ({_reason(error)})") from None
    if not rows:
        raise DatasetError(f"{path}: no passengers after the header")

    label_array = np.array([row[0] for row in rows], dtype=np.int64) if labels else None
    if not standardize:
        age_median = fare_median = math.nan  # left missing: standardize() fills them
    elif stats is None:
        ages = [row[3] for row in rows if row[3] is not None]
        fares = [row[6] for row in rows if row[6] is not None]
        if not ages or not fares:
            missing = "Age" if not ages else "Fare"
            raise DatasetError(
                f"{path}: no row has a value for {missing}, so no median to fill gaps"
            )
        age_median, fare_median = statistics.median(ages), statistics.median(fares)
    else:
        age_median, fare_median = stats.age_median, stats.fare_median
    table = [
        (
            float(pclass == 2),
            float(pclass == 3),
            male,
            age_median if age is None else age,
            float(age is None),
            sibsp,
            parch,
            math.log1p(fare_median if fare is None else fare),
        )
        for _, pclass, male, age, sibsp, parch, fare in rows
    ]
    features = np.array(table, dtype=np.float64)
    if not standardize:
        return TitanicData(features, label_array, None)
    if stats is None:
        mean = features.mean(axis=0)
        std = features.std(axis=0)
        std[std == 0] = 1.0  # a constant column (say, no missing ages) stays 0
        stats = TitanicStats(
            TITANIC_FEATURES,
            tuple(map(float, mean)),
            tuple(map(float, std)),
            float(age_median),
            float(fare_median),
        )
    features = (features - np.array(stats.mean)) / np.array(stats.std)
    return TitanicData(features, label_array, stats)


# ---------------------------------------------------------------------------------------------
# scikit-learn's bundled data sets (shipped with the package, read offline)


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


# ---------------------------------------------------------------------------------------------
# helpers


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
