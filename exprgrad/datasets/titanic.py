"""The Titanic CSV (Kaggle's or CS109's columns) -> features for logistic regression,
labels, and the statistics to apply unchanged to test data."""

from __future__ import annotations

import csv
import math
import os
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ArgumentValueError
from .common import DatasetError, _numpy, _reason

if TYPE_CHECKING:
    import numpy as np


_TITANIC_URL = (
    "https://www.kaggle.com/c/titanic/data (train.csv) or "
    "https://web.stanford.edu/class/archive/cs/cs109/cs109.1166/stuff/titanic.csv"
)


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
