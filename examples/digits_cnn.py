"""Handwritten digits with a small convolutional network, one formula on the numpy backend.

scikit-learn's 1,797 8x8 digits (exprgrad.datasets.load_digits; needs scikit-learn) as
images of one channel, (N, 1, 8, 8) in NCHW order, a stratified, seeded quarter kept for
testing. The network and its loss is one formula, compiled once with backend="numpy":

    h = maxpool2d(relu(conv2d(X, K, 1, 1) + c), 2)     # 16 3x3 filters, padding 1 -> 16x4x4
    logits = flatten(h) @ W + b                        # 256 features -> 10 scores
    mean(logsumexp(logits, 1) - sum(Y * logits, 1))    # softmax cross-entropy, Y one-hot

K holds the filters (OIHW: 16 out, 1 in, 3x3), c their biases as (16, 1, 1) so that they
broadcast over the pixels. exprgrad.train does the rest, as for digits_mlp.py: He-normal
weights, minibatch SGD with momentum and decoupled weight decay, a cosine schedule. It
prints each epoch's loss and accuracies, then the test accuracy, the loss curve, the
learned filters and the misclassified test digits as text; with matplotlib, it saves the
curves, the filters and the misclassified digits as pictures.

    python examples/digits_cnn.py [--epochs 30] [--filters 16] [--picture-dir .] [--show-code]

--show-code prints the numpy code exprgrad generated for one batch, f.source_for(...).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import exprgrad
from exprgrad import datasets, train

NETWORK = """\
h = maxpool2d(relu(conv2d(X, K, 1, 1) + c), 2)
logits = flatten(h) @ W + b"""
LOSS = NETWORK + "\nmean(logsumexp(logits, 1) - sum(Y * logits, 1))"
PARAMS = ("K", "c", "W", "b")
SHADES = " .:-=+*#%@"  # light to dark, as ink on paper


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
    parser.add_argument("--filters", type=int, default=16, help="3x3 convolution filters")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step")
    parser.add_argument("--lr", type=float, default=0.05, help="initial learning rate")
    parser.add_argument("--seed", type=int, default=0, help="split, initial weights, order")
    parser.add_argument("--picture-dir", default=".", help="where to save the pictures")
    parser.add_argument("--show-code", action="store_true", help="print the generated code")
    options = parser.parse_args()

    images, labels = datasets.load_digits()
    images = images.reshape(-1, 1, 8, 8)  # NCHW: one channel of 8x8 pixels
    x_train, x_test, y_train, y_test = datasets.train_test_split(
        images, labels, test_size=0.25, seed=options.seed
    )
    print(f"{len(x_train)} training and {len(x_test)} test digits, 1x8x8 pixels each")

    loss = exprgrad.compile(LOSS, wrt=PARAMS, backend="numpy")
    scores = exprgrad.compile(NETWORK, backend="numpy")  # the logits alone, to classify
    filters = options.filters
    shapes = {"K": (filters, 1, 3, 3), "W": (filters * 4 * 4, 10)}
    params = train.init(shapes, "he_normal", seed=options.seed)
    params |= train.init({"c": (filters, 1, 1), "b": (10,)}, "zeros")
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
    print()
    print("\n".join(loss_curve(history.train_loss)))
    print()
    print(
        f"the {filters} learned 3x3 filters (each from its lowest weight, blank, to its highest, @)"
    )
    kernels = history.params["K"][:, 0]
    print("\n".join(grid([shaded(k) for k in kernels], [f"{i}" for i in range(filters)], 8)))
    print()
    shown = wrong[:12]
    print(f"misclassified test digits, true as predicted ({len(shown)} of {len(wrong)} shown)")
    digits = [shaded(x_test[i, 0]) for i in shown]
    print("\n".join(grid(digits, [f"{y_test[i]} as {predicted[i]}" for i in shown], 6)))
    save_pictures(Path(options.picture_dir), history, accuracies, x_test, y_test, predicted)


def shaded(image) -> list[str]:
    """A 2-D array as rows of characters, lowest value blank, highest '@'; each pixel two
    characters wide, so that it looks square on a terminal."""
    low, high = float(np.min(image)), float(np.max(image))
    levels = (image - low) / (high - low) if high > low else np.zeros_like(image)
    steps = np.rint(levels * (len(SHADES) - 1)).astype(int)
    return ["".join(SHADES[s] * 2 for s in row) for row in steps]


def grid(pictures: list[list[str]], captions: list[str], per_row: int) -> list[str]:
    """Pictures of equal size as text lines, per_row side by side, each with its caption
    below it."""
    width = max(len(pictures[0][0]), *(len(caption) for caption in captions)) + 2
    lines = []
    for start in range(0, len(pictures), per_row):
        row = pictures[start : start + per_row]
        for rows in zip(*row, strict=True):
            lines.append("".join(part.ljust(width) for part in rows).rstrip())
        lines.append("".join(c.ljust(width) for c in captions[start : start + per_row]).rstrip())
    return lines


def loss_curve(losses, height: int = 8) -> list[str]:
    """The training loss per epoch on a log scale, one column per epoch, as text."""
    logs = np.log10(losses)
    top, bottom = float(logs.max()), float(logs.min())
    span = top - bottom if top > bottom else 1.0
    filled = np.rint((logs - bottom) / span * (height - 1)).astype(int) + 1  # 1..height
    lines = [f"training loss, log scale: {losses[0]:.3g} at epoch 1 to {losses[-1]:.3g}"]
    for level in range(height, 0, -1):
        lines.append(("| " + "".join("#" if f >= level else " " for f in filled)).rstrip())
    lines.append("+-" + "-" * len(losses) + " epoch")
    return lines


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
    path = directory / "digits_cnn_training.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved the loss and accuracy curves to {path}")

    kernels = history.params["K"][:, 0]
    columns = 8
    rows = -(-len(kernels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.2), squeeze=False)
    limit = float(np.max(np.abs(kernels)))
    for axis in axes.flat:
        axis.axis("off")
    for number, (axis, kernel) in enumerate(zip(axes.flat, kernels, strict=False)):
        axis.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axis.set_title(f"filter {number}", fontsize=8)
    figure.suptitle("learned 3x3 filters (red: positive, blue: negative)")
    figure.tight_layout()
    path = directory / "digits_cnn_filters.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved the {len(kernels)} filters to {path}")

    shown = np.flatnonzero(predicted != y)[:24]
    columns = 8
    rows = max(1, -(-len(shown) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.4), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, shown, strict=False):
        axis.imshow(x[index, 0], cmap="gray_r")
        axis.set_title(f"{y[index]} as {predicted[index]}", fontsize=9)
    figure.suptitle("misclassified test digits: true as predicted")
    figure.tight_layout()
    path = directory / "digits_cnn_misclassified.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved {len(shown)} misclassified digits to {path}")


if __name__ == "__main__":
    main()
