"""exprgrad.datasets: IDX files written here (raw, gzip, xz), tiny Titanic CSVs, the helpers."""

from __future__ import annotations

import gzip
import lzma
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

from exprgrad import datasets  # noqa: E402 (numpy first: the loaders need it)
from exprgrad.datasets import DatasetError  # noqa: E402

IDX_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D}
IDX_CODES["float64"] = 0x0E


def idx_bytes(array, type_byte=None, shape=None) -> bytes:
    array = np.asarray(array)
    code = IDX_CODES[array.dtype.name] if type_byte is None else type_byte
    shape = array.shape if shape is None else shape
    header = bytes([0, 0, code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data: bytes, compression: str = ""):
    if compression == "gz":
        data = gzip.compress(data)
    elif compression == "xz":
        data = lzma.compress(data)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# load_idx


@pytest.mark.parametrize("compression", ["", "gz", "xz"])
@pytest.mark.parametrize(
    ("dtype", "shape"),
    [
        ("uint8", (7,)),
        ("int8", (3, 4)),
        ("int16", (2, 3, 4)),
        ("int32", (5, 8)),
        ("float32", (2, 2, 2, 3)),
        ("float64", (4, 1)),
        ("uint8", (0, 28, 28)),
    ],
)
def test_load_idx_round_trip(tmp_path, compression, dtype, shape):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        array = rng.normal(size=shape).astype(dtype)
    else:
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    path = write(tmp_path / "data.idx", idx_bytes(array), compression)
    loaded = datasets.load_idx(path)
    assert loaded.shape == shape
    assert loaded.dtype == np.dtype(dtype)  # native byte order
    assert loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


def test_load_idx_detects_compression_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    gz_named_raw = write(tmp_path / "raw.gz", idx_bytes(array))
    raw_named_gz = write(tmp_path / "plain-idx2-short", idx_bytes(array), "gz")
    xz_named_nothing = write(tmp_path / "noext", idx_bytes(array), "xz")
    for path in (gz_named_raw, raw_named_gz, xz_named_nothing):
        np.testing.assert_array_equal(datasets.load_idx(str(path)), array)


def test_load_idx_reads_only_what_the_header_promises(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    raw = write(tmp_path / "raw", idx_bytes(array) + b"trailing bytes")
    np.testing.assert_array_equal(datasets.load_idx(raw), array)
    # garbage after the gzip member is never decompressed
    packed = tmp_path / "packed.gz"
    packed.write_bytes(gzip.compress(idx_bytes(array)) + b"not gzip at all")
    np.testing.assert_array_equal(datasets.load_idx(packed), array)


def test_load_idx_missing_file_and_directory(tmp_path):
    with pytest.raises(DatasetError, match="no such file") as error:
        datasets.load_idx(tmp_path / "nothing-here")
    assert str(tmp_path / "nothing-here") in str(error.value)
    with pytest.raises(DatasetError, match="is a directory"):
        datasets.load_idx(tmp_path)
    assert issubclass(DatasetError, ValueError)


def test_load_idx_empty_and_short_header(tmp_path):
    with pytest.raises(DatasetError, match="empty file"):
        datasets.load_idx(write(tmp_path / "empty", b""))
    with pytest.raises(DatasetError, match="truncated IDX header: 3 bytes"):
        datasets.load_idx(write(tmp_path / "three", b"\x00\x00\x08"))
    # three dimensions announced, one and a half given
    with pytest.raises(DatasetError, match="truncated IDX header: 3 dimensions announced"):
        datasets.load_idx(write(tmp_path / "dims", b"\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00"))


@pytest.mark.parametrize("compression", ["", "gz"])
def test_load_idx_wrong_magic(tmp_path, compression):
    path = write(tmp_path / "bad", b"\x12\x34\x08\x01\x00\x00\x00\x01\x00", compression)
    with pytest.raises(
        DatasetError,
        match="wrong magic number: an IDX file starts with 00 00, .* this one with 12 34 08 01",
    ) as e:
        datasets.load_idx(path)
    assert str(path) in str(e.value)
    html = write(tmp_path / "page.gz", b"<!DOCTYPE html><html>Forbidden</html>")
    with pytest.raises(DatasetError, match="HTML page"):
        datasets.load_idx(html)


def test_load_idx_unknown_type_byte(tmp_path):
    path = write(tmp_path / "odd", b"\x00\x00\x0a\x01\x00\x00\x00\x02ab")
    with pytest.raises(DatasetError, match=r"unknown IDX type byte 0x0A \(known: 0x08 ubyte"):
        datasets.load_idx(path)


@pytest.mark.parametrize("compression", ["", "gz", "xz"])
def test_load_idx_truncated_data(tmp_path, compression):
    data = idx_bytes(np.arange(100, dtype=np.int32).reshape(10, 10))
    path = write(tmp_path / "cut", data[:-5], compression)
    with pytest.raises(DatasetError, match=r"truncated IDX file: .* 10 x 10 int .*400 bytes"):
        datasets.load_idx(path)


@pytest.mark.parametrize("compression", ["", "gz", "xz"])
def test_load_idx_huge_header_fails_without_allocating(tmp_path, compression):
    # 10**12 doubles promised, 16 bytes present: must fail at once, not allocate 8 TB
    data = idx_bytes(np.zeros(2), type_byte=0x0E, shape=(10**6, 10**6))
    path = write(tmp_path / "huge", data, compression)
    start = time.perf_counter()
    with pytest.raises(DatasetError, match="truncated IDX file: the header promises 1000000 x"):
        datasets.load_idx(path)
    assert time.perf_counter() - start < 2


def test_load_idx_corrupt_compressed_stream(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32))))
    packed[20:40] = bytes(20)
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(DatasetError, match="corrupt gzip data"):
        datasets.load_idx(path)


# ---------------------------------------------------------------------------------------------
# load_mnist


def mnist_dir(tmp_path, n=5, compression="gz", labels=None, prefix="train", sep="-"):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8) if labels is None else labels
    suffix = "." + compression if compression else ""
    write(tmp_path / f"{prefix}-images{sep}idx3-ubyte{suffix}", idx_bytes(images), compression)
    write(tmp_path / f"{prefix}-labels{sep}idx1-ubyte{suffix}", idx_bytes(labels), compression)
    return images, np.asarray(labels)


def test_load_mnist_train_and_test(tmp_path):
    images, labels = mnist_dir(tmp_path, 5, "gz")
    test_images, test_labels = mnist_dir(tmp_path, 3, "", prefix="t10k")
    x, y = datasets.load_mnist(tmp_path)
    assert x.shape == (5, 28, 28) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_allclose(x, images / 255, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    x, y = datasets.load_mnist(str(tmp_path), "test", flatten=True, dtype="float64")
    assert x.shape == (3, 784) and x.dtype == np.float64
    assert 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(x, test_images.reshape(3, -1) / 255)
    np.testing.assert_array_equal(y, test_labels)


def test_load_mnist_dotted_names(tmp_path):
    # as some archives spell them: train-images.idx3-ubyte
    _, labels = mnist_dir(tmp_path, 4, "", sep=".")
    np.testing.assert_array_equal(datasets.load_mnist(tmp_path)[1], labels)


def test_load_mnist_missing_directory_names_the_download(tmp_path):
    missing = tmp_path / "mnist"
    with pytest.raises(DatasetError, match="no such directory") as error:
        datasets.load_mnist(missing)
    assert str(missing) in str(error.value) and "yann.lecun.com/exdb/mnist" in str(error.value)
    afile = write(tmp_path / "a-file", b"")
    with pytest.raises(DatasetError, match="is a file; pass the directory"):
        datasets.load_mnist(afile)


def test_load_mnist_missing_file_lists_the_names(tmp_path):
    mnist_dir(tmp_path, 2, "gz")
    with pytest.raises(DatasetError) as error:
        datasets.load_mnist(tmp_path, "test")
    message = str(error.value)
    assert "no MNIST test file found" in message and str(tmp_path) in message
    assert "t10k-images-idx3-ubyte, t10k-images-idx3-ubyte.gz" in message
    assert "http://yann.lecun.com/exdb/mnist/" in message
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz"):
        datasets.load_mnist(tmp_path)
    with pytest.raises(ValueError, match="kind must be 'train' or 'test'"):
        datasets.load_mnist(tmp_path, "validation")


def test_load_mnist_points_to_qmnist(tmp_path):
    write(tmp_path / "qmnist-train-images-idx3-ubyte.gz", b"")
    with pytest.raises(DatasetError, match="holds QMNIST files: load them with load_qmnist"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_label_count_and_range(tmp_path):
    mnist_dir(tmp_path, 5, "", labels=np.array([1, 2, 3, 4], dtype=np.uint8))
    with pytest.raises(DatasetError, match="4 labels for 5 images"):
        datasets.load_mnist(tmp_path)
    mnist_dir(tmp_path, 5, "", labels=np.array([1, 2, 10, 4, 200], dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"label 10 at index 2 is outside 0..9 \(2 such"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_wrong_shapes(tmp_path):
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((3, 784), np.uint8)))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DatasetError, match=r"expected images, .* found shape \(3, 784\)"):
        datasets.load_mnist(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((3, 2, 2), np.uint8)))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros((3, 2), np.uint8)))
    with pytest.raises(DatasetError, match="expected one label per image"):
        datasets.load_mnist(tmp_path)


# ---------------------------------------------------------------------------------------------
# load_qmnist


def qmnist_table(n, rng):
    table = np.zeros((n, 8), dtype=np.int32)
    table[:, 0] = rng.integers(0, 10, n)  # class
    table[:, 1] = rng.choice([0, 1, 4], n)  # HSF series
    table[:, 2] = rng.integers(0, 611, n)  # writer
    table[:, 3] = rng.integers(0, 150, n)  # digit index for the writer
    table[:, 4] = 30 + table[:, 0]  # NIST class code
    table[:, 5] = np.arange(n)  # global NIST index
    return table


def qmnist_files(tmp_path, stem_images, stem_labels, n, compression="gz", rows=2):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(n, rows, rows), dtype=np.uint8)
    table = qmnist_table(n, rng)
    suffix = "." + compression if compression else ""
    write(tmp_path / (stem_images + suffix), idx_bytes(images), compression)
    write(tmp_path / (stem_labels + suffix), idx_bytes(table), compression)
    return images, table


def test_load_qmnist_extended_labels(tmp_path):
    images, table = qmnist_files(
        tmp_path, "qmnist-train-images-idx3-ubyte", "qmnist-train-labels-idx2-int", 6, rows=28
    )
    assert idx_bytes(table)[:4] == b"\x00\x00\x0c\x02"  # QMNIST's magic 0x0C02
    x, y = datasets.load_qmnist(tmp_path)
    assert x.shape == (6, 28, 28) and y.dtype == np.int64
    np.testing.assert_array_equal(y, table[:, 0])
    x, y, extra = datasets.load_qmnist(tmp_path, "train", flatten=True, extra=True)
    assert x.shape == (6, 784) and extra.shape == (6, 8) and extra.dtype == np.int64
    np.testing.assert_array_equal(extra, table)
    assert datasets.QMNIST_COLUMNS[2] == "writer_id" and len(datasets.QMNIST_COLUMNS) == 8


def test_load_qmnist_test_parts(tmp_path):
    images, table = qmnist_files(
        tmp_path, "qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int", 10_004, ""
    )
    x, y = datasets.load_qmnist(tmp_path, "test")
    assert len(x) == 10_004
    x, y, extra = datasets.load_qmnist(tmp_path, "test10k", extra=True)
    assert len(x) == len(y) == len(extra) == 10_000
    x, y = datasets.load_qmnist(tmp_path, "test50k")
    np.testing.assert_array_equal(y, table[10_000:, 0])
    np.testing.assert_array_equal(x, images[10_000:] / np.float32(255))


def test_load_qmnist_nist_xz(tmp_path):
    _, table = qmnist_files(tmp_path, "xnist-images-idx3-ubyte", "xnist-labels-idx2-int", 4, "xz")
    _, y = datasets.load_qmnist(tmp_path, "nist")
    np.testing.assert_array_equal(y, table[:, 0])


def test_load_qmnist_class_only_labels(tmp_path):
    rng = np.random.default_rng(5)
    write(
        tmp_path / "qmnist-test-images-idx3-ubyte.gz",
        idx_bytes(rng.integers(0, 256, (3, 2, 2), dtype=np.uint8)),
        "gz",
    )
    write(tmp_path / "qmnist-test-labels-idx1-ubyte.gz", idx_bytes(np.uint8([7, 1, 0])), "gz")
    np.testing.assert_array_equal(datasets.load_qmnist(tmp_path, "test")[1], [7, 1, 0])
    with pytest.raises(DatasetError, match="extra=True needs the extended labels"):
        datasets.load_qmnist(tmp_path, "test", extra=True)


def test_load_qmnist_errors(tmp_path):
    with pytest.raises(DatasetError) as error:
        datasets.load_qmnist(tmp_path, "train")
    message = str(error.value)
    assert "qmnist-train-images-idx3-ubyte.gz" in message
    assert "https://github.com/facebookresearch/qmnist" in message
    with pytest.raises(DatasetError, match="no such directory.*facebookresearch/qmnist"):
        datasets.load_qmnist(tmp_path / "missing")
    with pytest.raises(ValueError, match="kind must be one of 'train', 'test'"):
        datasets.load_qmnist(tmp_path, "valid")

    images, table = qmnist_files(
        tmp_path, "qmnist-train-images-idx3-ubyte", "qmnist-train-labels-idx2-int", 4
    )
    write(tmp_path / "qmnist-train-labels-idx2-int.gz", idx_bytes(table[:, :7]), "gz")
    with pytest.raises(DatasetError, match=r"n x 8 array of int, found shape \(4, 7\)"):
        datasets.load_qmnist(tmp_path)
    write(tmp_path / "qmnist-train-labels-idx2-int.gz", idx_bytes(table[:3]), "gz")
    with pytest.raises(DatasetError, match="3 labels for 4 images"):
        datasets.load_qmnist(tmp_path)
    table[1, 0] = -1
    write(tmp_path / "qmnist-train-labels-idx2-int.gz", idx_bytes(table), "gz")
    with pytest.raises(DatasetError, match="label -1 at index 1 is outside 0..9"):
        datasets.load_qmnist(tmp_path)


# ---------------------------------------------------------------------------------------------
# load_titanic

KAGGLE = """\
PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked
1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S
2,1,1,"Cumings, Mrs. John Bradley (Florence Briggs Thayer)",female,38,1,0,PC 17599,71.2833,C85,C
3,1,3,"Heikkinen, Miss. Laina",female,26,0,0,STON/O2. 3101282,7.925,,S
6,0,3,"Moran, Mr. James",male,,0,0,330877,8.4583,,Q
7,0,1,"McCarthy, Mr. Timothy J",male,54,0,0,17463,51.8625,E46,S
8,0,2,"Palsson, Master. Gosta Leonard",male,2,3,1,349909,21.075,,S
"""

CS109 = """\
Survived,Pclass,Name,Sex,Age,Siblings/Spouses Aboard,Parents/Children Aboard,Fare
0,3,Mr. Owen Harris Braund,male,22,1,0,7.25
1,1,Mrs. John Bradley (Florence Briggs Thayer) Cumings,female,38,1,0,71.2833
1,3,Miss. Laina Heikkinen,female,26,0,0,7.925
0,3,Mr. James Moran,male,,0,0,8.4583
0,1,Mr. Timothy J McCarthy,male,54,0,0,51.8625
0,2,Master. Gosta Leonard Palsson,male,2,3,1,21.075
"""


def csv_file(tmp_path, text, name="titanic.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_load_titanic_both_spellings(tmp_path):
    kaggle = datasets.load_titanic(csv_file(tmp_path, KAGGLE, "train.csv"))
    cs109 = datasets.load_titanic(csv_file(tmp_path, CS109, "titanic.csv"))
    np.testing.assert_array_equal(kaggle.features, cs109.features)
    np.testing.assert_array_equal(kaggle.labels, [0, 1, 1, 0, 0, 0])
    assert kaggle.labels.dtype == np.int64
    assert kaggle.stats == cs109.stats


def test_load_titanic_features(tmp_path):
    features, labels, stats = datasets.load_titanic(csv_file(tmp_path, KAGGLE))
    assert features.shape == (6, 8) and features.dtype == np.float64
    assert stats.feature_names == datasets.TITANIC_FEATURES
    np.testing.assert_allclose(features.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(features.std(axis=0), 1)
    raw = features * stats.std + stats.mean
    assert stats.age_median == 26  # median of 22, 38, 26, 54, 2
    np.testing.assert_allclose(raw[:, 0], [0, 0, 0, 0, 0, 1])  # pclass_2
    np.testing.assert_allclose(raw[:, 1], [1, 0, 1, 1, 0, 0])  # pclass_3
    np.testing.assert_allclose(raw[:, 2], [1, 0, 0, 1, 1, 1])  # male
    np.testing.assert_allclose(raw[:, 3], [22, 38, 26, 26, 54, 2])  # age, filled
    np.testing.assert_allclose(raw[:, 4], [0, 0, 0, 1, 0, 0])  # age_missing
    np.testing.assert_allclose(raw[:, 5], [1, 1, 0, 0, 0, 3])  # sibsp
    np.testing.assert_allclose(raw[:, 6], [0, 0, 0, 0, 0, 1])  # parch
    np.testing.assert_allclose(raw[3, 7], np.log1p(8.4583))  # log_fare


def test_load_titanic_test_data_uses_training_stats(tmp_path):
    train = datasets.load_titanic(csv_file(tmp_path, KAGGLE, "train.csv"))
    # Kaggle's test.csv: no Survived, one missing Fare; a constant column stays finite
    test_csv = (
        "PassengerId,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
        '892,3,"Kelly, Mr. James",male,,0,0,330911,,,Q\n'
    )
    test = datasets.load_titanic(
        csv_file(tmp_path, test_csv, "test.csv"), stats=train.stats, labels=False
    )
    assert test.labels is None and test.stats is train.stats
    raw = test.features * train.stats.std + train.stats.mean
    np.testing.assert_allclose(raw[0, 3:5], [26, 1])  # the training median age, flagged
    np.testing.assert_allclose(raw[0, 7], np.log1p(train.stats.fare_median))
    no_missing = KAGGLE.replace("male,,0", "male,30,0")
    _, _, stats = datasets.load_titanic(csv_file(tmp_path, no_missing, "full.csv"))
    assert stats.std[4] == 1.0  # age_missing is all 0: divided by 1, not 0


def test_load_titanic_bom_blank_lines_and_spaces(tmp_path):
    text = "\ufeff" + CS109.replace("Siblings/Spouses Aboard", " siblings/spouses aboard ") + "\n\n"
    path = csv_file(tmp_path, text)
    np.testing.assert_array_equal(datasets.load_titanic(path).labels, [0, 1, 1, 0, 0, 0])


def test_load_titanic_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file.*kaggle.com/c/titanic") as error:
        datasets.load_titanic(tmp_path / "train.csv")
    assert str(tmp_path / "train.csv") in str(error.value)
    with pytest.raises(DatasetError, match="is a directory"):
        datasets.load_titanic(tmp_path)


def test_load_titanic_missing_column(tmp_path):
    path = csv_file(tmp_path, KAGGLE.replace("SibSp", "Siblings"))
    with pytest.raises(DatasetError) as error:
        datasets.load_titanic(path)
    message = str(error.value)
    assert "no column 'SibSp' or 'Siblings/Spouses Aboard'" in message
    assert (
        "the columns found are: PassengerId, Survived, Pclass, Name, Sex, Age, Siblings," in message
    )
    path = csv_file(tmp_path, CS109.replace("Survived,", "Lived,"))
    with pytest.raises(DatasetError, match="no column 'Survived'"):
        datasets.load_titanic(path)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("female,26,", "female,twenty,", "row 3 (line 4): Age is not a number: 'twenty'"),
        ("female,26,", "female,-26,", "row 3 (line 4): Age must be a number >= 0, not '-26'"),
        ("1,3,Miss", "1,4,Miss", "row 3 (line 4): Pclass must be 1, 2 or 3, not '4'"),
        ("1,3,Miss", "yes,3,Miss", "row 3 (line 4): Survived must be 0 or 1, not 'yes'"),
        ("Heikkinen,female", "Heikkinen,f", "row 3 (line 4): Sex must be male or female, not 'f'"),
        ("26,0,0,7.925", "26,0.5,0,7.925", "Siblings/Spouses Aboard must be a whole number >= 0"),
        ("26,0,0,7.925", "26,0,0,nan", "row 3 (line 4): Fare must be a number >= 0, not 'nan'"),
        ("26,0,0,7.925", "26,0,0", "row 3 (line 4) has 7 fields, the header has 8"),
    ],
)
def test_load_titanic_malformed_row(tmp_path, old, new, expected):
    assert old in CS109
    path = csv_file(tmp_path, CS109.replace(old, new, 1))
    with pytest.raises(DatasetError, match="titanic.csv") as error:
        datasets.load_titanic(path)
    assert expected in str(error.value)


def test_load_titanic_malformed_row_names_the_column_as_spelt(tmp_path):
    path = csv_file(tmp_path, KAGGLE.replace("male,2,3,1", "male,2,three,1"))
    with pytest.raises(DatasetError, match=r"row 6 \(line 7\): SibSp is not a number: 'three'"):
        datasets.load_titanic(path)


def test_load_titanic_empty_and_undecodable(tmp_path):
    with pytest.raises(DatasetError, match="empty file, expected a header row"):
        datasets.load_titanic(csv_file(tmp_path, ""))
    with pytest.raises(DatasetError, match="no passengers after the header"):
        datasets.load_titanic(csv_file(tmp_path, CS109.splitlines()[0] + "\n"))
    path = csv_file(tmp_path, CS109.splitlines()[0] + "\n0,3,A,male,,0,0,7.25\n")
    with pytest.raises(DatasetError, match="no row has a value for Age"):
        datasets.load_titanic(path)
    path = tmp_path / "latin1.csv"
    path.write_bytes(CS109.replace("Laina", "L\xe4ina").encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8 text"):
        datasets.load_titanic(path)


def test_load_titanic_raw_features_for_a_split(tmp_path):
    path = csv_file(tmp_path, KAGGLE)
    features, labels, stats = datasets.load_titanic(path, standardize=False)
    assert stats is None and features.shape == (6, 8) and features.dtype == np.float64
    np.testing.assert_array_equal(labels, [0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(features[:, 3], [22, 38, 26, np.nan, 54, 2])  # age, NaN kept
    np.testing.assert_array_equal(features[:, 4], [0, 0, 0, 1, 0, 0])  # still flagged
    fares = [7.25, 71.2833, 7.925, 8.4583, 51.8625, 21.075]
    np.testing.assert_allclose(features[:, 7], np.log1p(fares))
    # standardised with the whole file: load_titanic's own features
    (whole,) = datasets.standardize(features)
    np.testing.assert_allclose(whole, datasets.load_titanic(path).features, atol=1e-12)
    # with the first four rows alone: their median age fills the gap, their means centre
    train, test = datasets.standardize(features[:4], features[4:])
    filled = features[:4].copy()
    filled[3, 3] = 26.0  # the median of 22, 38 and 26
    mean, std = filled.mean(axis=0), filled.std(axis=0)
    assert std[0] == 0  # nobody in second class among them: divided by 1
    std[std == 0] = 1.0
    np.testing.assert_allclose(train, (filled - mean) / std)
    np.testing.assert_allclose(test, (features[4:] - mean) / std)
    assert np.isnan(features[3, 3])  # the arguments are not modified
    # a gap in the test rows is filled from the training rows too: median(22, 38, 26, 54)
    train, test = datasets.standardize(features[[0, 1, 2, 4]], features[[3]])
    ages = np.array([22.0, 38, 26, 54])
    assert test[0, 3] == pytest.approx((32 - ages.mean()) / ages.std())
    with pytest.raises(ValueError, match="stats are applied by standardising"):
        datasets.load_titanic(path, stats=datasets.load_titanic(path).stats, standardize=False)


def test_standardize_errors():
    with pytest.raises(ValueError, match="2-D arrays .* not \\(3,\\)"):
        datasets.standardize([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="the same columns, not \\(2, 2\\), \\(1, 3\\)"):
        datasets.standardize(np.zeros((2, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="needs training rows"):
        datasets.standardize(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="column 1 of train has no known value"):
        datasets.standardize([[1.0, np.nan], [2.0, np.nan]])


def refuse(*args, **kwargs):
    raise PermissionError(13, "Permission denied")


def test_unreadable_files_are_dataset_errors(tmp_path, monkeypatch):
    # (the tests may run as root, which chmod does not stop: open itself refuses here)
    titanic = csv_file(tmp_path, KAGGLE)
    mnist_dir(tmp_path)
    for module in (datasets.idx, datasets.titanic):  # the modules that open files
        monkeypatch.setattr(module, "open", refuse, raising=False)
    with pytest.raises(DatasetError, match="titanic.csv: cannot read it \\(Permission denied\\)"):
        datasets.load_titanic(titanic)
    with pytest.raises(DatasetError, match="idx3-ubyte.gz: cannot read it \\(Permission denied\\)"):
        datasets.load_mnist(tmp_path)
    monkeypatch.setattr(datasets.mnist.os, "listdir", refuse)
    with pytest.raises(DatasetError, match="cannot list it \\(Permission denied\\)"):
        datasets.load_mnist(tmp_path)


# ---------------------------------------------------------------------------------------------
# scikit-learn's data sets, numpy and scikit-learn missing


def test_sklearn_loaders():
    pytest.importorskip("sklearn")
    x, y = datasets.load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float64 and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 1 and set(y) == set(range(10))
    assert datasets.load_digits(flatten=False)[0].shape == (1797, 8, 8)
    x, y = datasets.load_breast_cancer()
    assert x.shape == (569, 30) and set(y) == {0, 1}


def test_missing_sklearn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    for loader in (datasets.load_digits, datasets.load_breast_cancer):
        with pytest.raises(ImportError, match=r"pip install scikit-learn .*exprgrad\[examples\]"):
            loader()


def test_missing_numpy_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(ImportError, match="needs numpy: pip install numpy"):
        datasets.load_idx(tmp_path / "x")


def test_docstring_examples():
    import doctest

    # the package's docstring (its examples skipped: they need MNIST), and standardize's
    results = [doctest.testmod(module) for module in (datasets, datasets.preprocess)]
    assert sum(r.attempted for r in results) > 0 and sum(r.failed for r in results) == 0


def test_module_imports_without_numpy():
    code = "import sys; sys.modules['numpy'] = None; import exprgrad.datasets; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


# ---------------------------------------------------------------------------------------------
# helpers


def test_train_test_split_stratified_and_seeded():
    labels = np.array([0] * 40 + [1] * 20 + [2] * 8)
    features = np.arange(len(labels) * 2).reshape(-1, 2)
    x_train, x_test, y_train, y_test = datasets.train_test_split(features, labels, test_size=0.25)
    assert len(x_test) == 10 + 5 + 2 and len(x_train) == 68 - 17
    assert np.bincount(y_test).tolist() == [10, 5, 2]
    # rows stay with their labels; together the two sets are a partition
    np.testing.assert_array_equal(labels[x_train[:, 0] // 2], y_train)
    rows = np.concatenate([x_train[:, 0], x_test[:, 0]]) // 2
    assert sorted(rows.tolist()) == list(range(68))
    again = datasets.train_test_split(features, labels, test_size=0.25)
    for a, b in zip(again, (x_train, x_test, y_train, y_test), strict=True):
        np.testing.assert_array_equal(a, b)
    other = datasets.train_test_split(features, labels, test_size=0.25, seed=1)
    assert not np.array_equal(other[1], x_test)
    plain = datasets.train_test_split(features, labels, test_size=0.5, stratify=False)
    assert len(plain[1]) == 34


def test_train_test_split_errors():
    with pytest.raises(ValueError, match="3 rows of features but 2 labels"):
        datasets.train_test_split(np.zeros((3, 1)), [0, 1])
    with pytest.raises(ValueError, match="test_size must be a fraction"):
        datasets.train_test_split(np.zeros((3, 1)), [0, 1, 1], test_size=2)
    with pytest.raises(ValueError, match="leaves the test set empty"):
        datasets.train_test_split(np.zeros((3, 1)), [0, 1, 1], test_size=0.1)


def test_one_hot():
    np.testing.assert_array_equal(datasets.one_hot([2, 0, 1]), np.eye(3)[[2, 0, 1]])
    encoded = datasets.one_hot(np.array([1.0, 0.0]), 4, dtype="float32")
    assert encoded.shape == (2, 4) and encoded.dtype == np.float32
    with pytest.raises(ValueError, match="label 5 at index 1 is outside 0..3"):
        datasets.one_hot([0, 5], 4)
    with pytest.raises(ValueError, match="label -1 at index 0"):
        datasets.one_hot([-1, 0])
    with pytest.raises(ValueError, match="whole numbers"):
        datasets.one_hot([0.5, 1.0])


def test_standardize_learns_from_train_alone():
    """Medians and statistics come from train only: the test rows' own values (100, 200)
    move neither the filled gap nor the mean."""
    train = np.array([[1.0], [2.0], [np.nan], [6.0]])
    x_train, x_test = datasets.standardize(train, [[np.nan], [100.0], [200.0]])
    filled = np.array([1.0, 2.0, 2.0, 6.0])
    mean, std = filled.mean(), filled.std()
    np.testing.assert_allclose(x_train[:, 0], (filled - mean) / std)
    np.testing.assert_allclose(x_test[:, 0], (np.array([2.0, 100.0, 200.0]) - mean) / std)


@settings(max_examples=30)
@given(st.integers(0, 2**32 - 1))
def test_standardize_never_depends_on_the_other_arrays(seed):
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(int(rng.integers(1, 7)), 3))
    train[rng.random(train.shape) < 0.3] = np.nan
    train[0] = rng.normal(size=3)  # every column has a known value
    other = rng.normal(loc=5.0, size=(int(rng.integers(1, 5)), 3))
    other[rng.random(other.shape) < 0.3] = np.nan
    other[0] = rng.normal(size=3)
    (alone,) = datasets.standardize(train)
    together, _ = datasets.standardize(train, other)
    np.testing.assert_array_equal(together, alone)
    first, _ = datasets.standardize(other, train)  # and other, as train, on its own
    np.testing.assert_array_equal(first, datasets.standardize(other)[0])
