"""MNIST with a two-layer network written as one formula, on exprgrad's numpy backend.

Reads MNIST's four IDX files (raw, .gz or .xz) from a directory you give, as an argument
or in the environment variable MNIST_DIR (with --qmnist, QMNIST's files instead), with
exprgrad.datasets.load_mnist. Nothing is downloaded: when the files are missing it says
where to get them and exits with status 2. The network and its loss are one formula,

    h = relu(X @ W1 + b1)                              # 784 pixels -> 128 hidden units
    logits = h @ W2 + b2                               # -> 10 scores
    mean(logsumexp(logits, 1) - sum(Y * logits, 1))    # softmax cross-entropy, Y one-hot

in float32 (as load_mnist returns the images), trained by exprgrad.train.fit with
minibatch SGD, momentum and decoupled weight decay, He-normal weights. After each epoch
it prints the training loss and the test accuracy.

    python examples/mnist_mlp.py [DIRECTORY] [--epochs 3] [--hidden 128] [--qmnist]
"""

import argparse
import os
import sys

import numpy as np

import exprgrad
from exprgrad import datasets, train

NETWORK = "h = relu(X @ W1 + b1)\nlogits = h @ W2 + b2"
LOSS = NETWORK + "\nmean(logsumexp(logits, 1) - sum(Y * logits, 1))"
HOW_TO_GET_THEM = """\
Get MNIST's four files, train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz, from
    http://yann.lecun.com/exdb/mnist/
or its mirror https://ossci-datasets.s3.amazonaws.com/mnist/ (QMNIST's from
https://github.com/facebookresearch/qmnist, then pass --qmnist), put them in one
directory and run: python examples/mnist_mlp.py DIRECTORY (or set MNIST_DIR=DIRECTORY)."""


def fail(message: str) -> None:
    print(f"mnist_mlp.py: error: {message}\n{HOW_TO_GET_THEM}", file=sys.stderr)
    sys.exit(2)


def load(directory: str, qmnist: bool):
    """(x_train, y_train, x_test, y_test), or a message and exit status 2."""
    loader = datasets.load_qmnist if qmnist else datasets.load_mnist
    kinds = ("train", "test10k") if qmnist else ("train", "test")
    try:
        x_train, y_train = loader(directory, kinds[0], flatten=True)
        x_test, y_test = loader(directory, kinds[1], flatten=True)
    except datasets.DatasetError as error:  # missing, truncated, malformed: the message says
        fail(str(error))
    return x_train, y_train, x_test, y_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", help="the IDX files (default: $MNIST_DIR)")
    parser.add_argument("--qmnist", action="store_true", help="read QMNIST's files")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training data")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and order")
    options = parser.parse_args()
    directory = options.directory or os.environ.get("MNIST_DIR")
    if not directory:
        fail("no directory given, and MNIST_DIR is not set")

    x_train, y_train, x_test, y_test = load(directory, options.qmnist)
    pixels = x_train.shape[1]
    print(f"{len(x_train)} training and {len(x_test)} test images, {pixels} pixels each")

    loss = exprgrad.compile(LOSS, wrt="W1,b1,W2,b2", backend="numpy")
    scores = exprgrad.compile(NETWORK, backend="numpy")
    shapes = {"W1": (pixels, options.hidden), "W2": (options.hidden, 10)}
    params = train.init(shapes, "he_normal", seed=options.seed)
    params |= train.init({"b1": (options.hidden,), "b2": (10,)}, "zeros")
    params = {name: value.astype(np.float32) for name, value in params.items()}

    def accuracy(params) -> float:
        hits = 0
        for start in range(0, len(x_test), 10_000):  # bounds the memory of the hidden layer
            part = slice(start, start + 10_000)
            hits += np.sum(scores(**params, X=x_test[part]).argmax(axis=1) == y_test[part])
        return hits / len(x_test)

    def after_epoch(epoch, params, history):
        print(
            f"epoch {epoch + 1}/{options.epochs}: loss {history.train_loss[-1]:.4f}, "
            f"test accuracy {accuracy(params):.4f}",
            flush=True,
        )

    history = train.fit(
        loss,
        params,
        {"X": x_train, "Y": datasets.one_hot(y_train, 10, dtype="float32")},
        epochs=options.epochs,
        batch_size=options.batch_size,
        optimizer=train.SGD(lr=0.1, momentum=0.9, weight_decay=1e-4),
        seed=options.seed,
        callback=after_epoch,
    )
    print(f"test accuracy {accuracy(history.params):.4f}")


if __name__ == "__main__":
    main()
