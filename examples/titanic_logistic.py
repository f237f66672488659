"""Who survived the Titanic? Logistic regression on a CSV file you give it.

Reads Kaggle's train.csv (or CS109's titanic.csv) with exprgrad.datasets.load_titanic:
8 features per passenger (class, sex, age with missing ages flagged, relatives aboard,
log fare), label Survived. A stratified, seeded quarter of the passengers is kept for
testing, and datasets.standardize fills missing values and scales every column with the
training passengers' medians, means and deviations alone, so that nothing of the test
passengers leaks into training. The model is one formula with a named weight per feature,

    z = w_pclass_2*pclass_2 + ... + w_log_fare*log_fare + b;  softplus(z) - survived*z

trained by exprgrad.train.fit with minibatch Adam. It prints the test accuracy and the
learnt weights (a negative weight: the feature lowers the odds of surviving).

    python examples/titanic_logistic.py PATH/TO/train.csv [--picture titanic_logistic.png]

Get the file from https://www.kaggle.com/c/titanic/data or
https://web.stanford.edu/class/archive/cs/cs109/cs109.1166/stuff/titanic.csv. A missing
or malformed file is reported in one line, with exit status 2. With matplotlib
installed, it saves the loss curve.
"""

import argparse
import sys

import exprgrad
from exprgrad import datasets, train

FEATURES = datasets.TITANIC_FEATURES
WEIGHTS = [f"w_{name}" for name in FEATURES]
SCORE = " + ".join(f"{w}*{x}" for w, x in zip(WEIGHTS, FEATURES, strict=True)) + " + b"


def load(path: str):
    """The passengers, or a one-line error and exit status 2."""
    try:
        return datasets.load_titanic(path, standardize=False)  # raw: split first
    except datasets.DatasetError as error:  # missing, empty, malformed: the message says
        message = str(error)
    except OSError as error:  # unreadable for another reason (permissions, ...)
        message = f"{path}: {error.strerror or error}"
    print(f"titanic_logistic.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="the Titanic passengers: Kaggle's train.csv or CS109's")
    parser.add_argument("--picture", default="titanic_logistic.png", help="picture file")
    parser.add_argument("--epochs", type=int, default=40, help="passes over the training data")
    options = parser.parse_args()

    features, labels, _ = load(options.csv)
    try:
        x_train, x_test, y_train, y_test = datasets.train_test_split(
            features, labels, test_size=0.25, seed=0
        )
    except ValueError as error:  # too few passengers to split
        print(f"titanic_logistic.py: error: {options.csv}: {error}", file=sys.stderr)
        sys.exit(2)
    x_train, x_test = datasets.standardize(x_train, x_test)  # the training rows' statistics
    print(f"{len(features)} passengers: {len(x_train)} to train on, {len(x_test)} to test")

    loss = exprgrad.compile(f"z = {SCORE}\nsoftplus(z) - survived*z", wrt=[*WEIGHTS, "b"])
    score = exprgrad.compile(SCORE)  # z alone: z > 0 predicts survival
    columns = {name: x_train[:, i] for i, name in enumerate(FEATURES)} | {"survived": y_train}
    params = dict.fromkeys([*WEIGHTS, "b"], 0.0)
    history = train.fit(
        loss,
        params,
        columns,
        epochs=options.epochs,
        batch_size=16,
        optimizer=train.Adam(lr=0.05),
        seed=0,
    )

    def accuracy(rows, truth) -> float:
        hits = 0
        for row, label in zip(rows, truth, strict=True):
            point = dict(zip(FEATURES, row.tolist(), strict=True))
            hits += (score(**history.params, **point) > 0) == (label == 1)
        return hits / len(truth)

    print(f"cross-entropy: {history.train_loss[0]:.4f} -> {history.train_loss[-1]:.4f}")
    print(f"training accuracy {accuracy(x_train, y_train):.4f}")
    print(f"test accuracy {accuracy(x_test, y_test):.4f}")
    print("weights (per standard deviation of the feature):")
    for weight, name in zip(WEIGHTS, FEATURES, strict=True):
        print(f"  {name:<12} {history.params[weight]:+.3f}")
    print(f"  {'bias':<12} {history.params['b']:+.3f}")
    save_picture(options.picture, history)


def save_picture(path: str, history: train.History) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")
        return
    matplotlib.use("Agg")  # no window: draw to a file
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(range(1, history.epochs + 1), history.train_loss)
    axes.set(xlabel="epoch", ylabel="mean cross-entropy", title="Titanic: logistic regression")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved the loss curve to {path}")


if __name__ == "__main__":
    main()
