"""Small data sets for examples: MNIST and QMNIST IDX files, the Titanic CSV, scikit-learn's
bundled digits and breast cancer, and helpers (a seeded train/test split, one-hot labels,
standardisation with a training set's statistics).

Nothing is downloaded: the loaders read files the user already has and say where to get
them when they are missing. numpy (the ``array`` extra) is imported by the functions that
need it, so ``import exprgrad.datasets`` works without it.

>>> images, labels = load_mnist("data/mnist", "train", flatten=True)  # doctest: +SKIP
>>> images.shape, images.dtype, labels[:5]  # doctest: +SKIP
((60000, 784), dtype('float32'), array([5, 0, 4, 1, 9]))

Modules, each imported here so that exprgrad.datasets.X keeps working:
    idx.py           load_idx: one IDX file (raw, gzip or xz)
    mnist.py         load_mnist, load_qmnist, QMNIST_COLUMNS
    titanic.py       load_titanic, TitanicData, TitanicStats, TITANIC_FEATURES
    scikit_learn.py  load_digits, load_breast_cancer
    preprocess.py    train_test_split, standardize, one_hot
    common.py        DatasetError, and the numpy import the modules share
"""

from .common import DatasetError
from .idx import load_idx
from .mnist import QMNIST_COLUMNS, load_mnist, load_qmnist
from .preprocess import one_hot, standardize, train_test_split
from .scikit_learn import load_breast_cancer, load_digits
from .titanic import TITANIC_FEATURES, TitanicData, TitanicStats, load_titanic

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
