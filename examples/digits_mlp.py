"""Handwritten digits with a two-layer network, written as one formula on the numpy backend.

scikit-learn's 1,797 8x8 digits (exprgrad.datasets.load_digits; needs scikit-learn), a
stratified, seeded quarter kept for testing. The whole network and its loss is one
formula, compiled once with backend="numpy":

    h = relu(X @ W1 + b1)                              # 64 pixels -> 128 hidden units
    logits = h @ W2 + b2                               # -> 10 scores
    mean(logsumexp(logits, 1) - sum(Y * logits, 1))    # softmax cross-entropy, Y one-hot

X is a batch of images (rows), so the formula's value is the batch's mean loss and
value_and_grad gives the gradient of W1, b1, W2, b2 in their shapes. exprgrad.train does
the rest: He-normal weights, minibatch SGD with momentum and decoupled weight decay, a
cosine schedule. It prints each epoch's loss and accuracies (with a tqdm bar on a
terminal when tqdm is installed), then the test accuracy; with matplotlib, it saves the
training curves and the misclassified test digits.

    python examples/digits_mlp.py [--epochs 30] [--picture-dir .] [--show-code]

--show-code prints the numpy code exprgrad generated for one batch, f.source_for(...).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import exprgrad
from exprgrad import datasets, train

NETWORK = """\
h = relu(X @ W1 + b1)
logits = h @ W2 + b2"""
LOSS = NETWORK + "\nmean(logsumexp(logits, 1) - sum(Y * logits, 1))"
PARAMS = ("W1", "b1", "W2", "b2")


def progress_bar_shown() -> bool:
    """fit(progress=None) shows a tqdm bar when tqdm is installed and stderr a terminal."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return sys.stderr.isatty()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training data")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step")
    parser.add_argument("--lr", type=float, default=0.2, help="initial learning rate")
    parser.add_argument("--seed", type=int, default=0, help="split, initial weights, order")
    parser.add_argument("--picture-dir", default=".", help="where to save the pictures")
    parser.add_argument("--show-code", action="store_true", help="print the generated code")
    options = parser.parse_args()

    images, labels = datasets.load_digits()
    x_train, x_test, y_train, y_test = datasets.train_test_split(
        images, labels, test_size=0.25, seed=options.seed
    )
    print(f"{len(x_train)} training and {len(x_test)} test digits, 8x8 pixels each")

    loss = exprgrad.compile(LOSS, wrt=PARAMS, backend="numpy")
    scores = exprgrad.compile(NETWORK, backend="numpy")  # the logits alone, to classify
    shapes = {"W1": (64, options.hidden), "W2": (options.hidden, 10)}
    params = train.init(shapes, "he_normal", seed=options.seed)
    params |= train.init({"b1": (options.hidden,), "b2": (10,)}, "zeros")
    columns = {"X": x_train, "Y": datasets.one_hot(y_train, 10)}
    if options.show_code:
        batch = {name: column[: options.batch_size] for name, column in columns.items()}
        print(loss.source_for(**params, **batch))

    def accuracy(params, x, y) -> float:
        return float(np.mean(scores(**params, X=x).argmax(axis=1) == y))

    report = print
    if progress_bar_shown():
        from tqdm import tqdm

        report = tqdm.write  # a line above the bar, not through it

    accuracies = {"training": [], "test": []}

    def after_epoch(epoch, params, history):
        accuracies["training"].append(accuracy(params, x_train, y_train))
        accuracies["test"].append(accuracy(params, x_test, y_test))
        report(
            f"epoch {epoch + 1:2}/{options.epochs}: loss {history.train_loss[-1]:.4f}, "
            f"training accuracy {accuracies['training'][-1]:.4f}, "
            f"test accuracy {accuracies['test'][-1]:.4f}"
        )

    history = train.fit(
        loss,
        params,
        columns,
        epochs=options.epochs,
        batch_size=options.batch_size,
        optimizer=train.SGD(lr=options.lr, momentum=0.9, weight_decay=1e-4),
        schedule=train.Cosine(lr=options.lr, total=options.epochs),
        seed=options.seed,
        callback=after_epoch,
    )
    predicted = scores(**history.params, X=x_test).argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_test)
    print(f"test accuracy {1 - len(wrong) / len(y_test):.4f} ({len(wrong)} of {len(y_test)} wrong)")
    save_pictures(Path(options.picture_dir), history, accuracies, x_test, y_test, predicted)


def save_pictures(directory, history, accuracies, x, y, predicted):
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")
        return
    matplotlib.use("Agg")  # no window: draw to a file
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    epochs = range(1, history.epochs + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history.train_loss)
    left.set(xlabel="epoch", ylabel="mean cross-entropy", yscale="log", title="training loss")
    for label, values in accuracies.items():
        right.plot(epochs, values, label=label)
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    right.legend()
    figure.tight_layout()
    path = directory / "digits_mlp_training.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved the loss and accuracy curves to {path}")

    shown = np.flatnonzero(predicted != y)[:24]
    columns = 8
    rows = max(1, -(-len(shown) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.4), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, shown, strict=False):
        axis.imshow(x[index].reshape(8, 8), cmap="gray_r")
        axis.set_title(f"{y[index]} as {predicted[index]}", fontsize=9)
    figure.suptitle("misclassified test digits: true as predicted")
    figure.tight_layout()
    path = directory / "digits_mlp_misclassified.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved {len(shown)} misclassified digits to {path}")


if __name__ == "__main__":
    main()
