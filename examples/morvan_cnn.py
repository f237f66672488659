"""Morvan Zhou's CNN classifier (simple-neural-networks, train_cnn.py) as one exprgrad formula.

His network: Conv2D(1 -> 6, 5x5, stride 1, "same" padding), MaxPool2D(2, 2), Conv2D(6 -> 16,
5x5, stride 1, "same"), MaxPool2D(2, 2), Flatten, Dense(-> 10), no activation between them
(the pooling is the only nonlinearity), softmax cross-entropy on the logits. "Same" padding
of a 5x5 kernel at stride 1 is 2 pixels on each side, so on the numpy backend it reads

    c1 = maxpool2d(conv2d(X, K1, stride=1, padding=2) + a1, 2, stride=2)
    c2 = maxpool2d(conv2d(c1, K2, stride=1, padding=2) + a2, 2, stride=2)
    logits = flatten(c2) @ W + b
    mean(logsumexp(logits, 1) - sum(Y * logits, 1))

(--pool avg swaps in avgpool2d, his AvgPool2D). His setup: raw pixel values 0..255, weights
from his TruncatedNormal(0, 0.01) (normal draws clipped to +-0.02), biases 0.01; Adam with
learning rate 0.001; 300 steps of 64 images (reshuffled each pass, no partial batch); every
50 steps the batch loss and the accuracy on the first 2,000 test images.

With MNIST's IDX files (pass their directory) this is his setup on 28x28 images, Dense
7*7*16 -> 10. Without them it runs on scikit-learn's 8x8 digits, scaled to 0..255, with a
seeded quarter held out: 8x8 -> 4x4 -> 2x2, so Dense 2*2*16 -> 10, in a few seconds. His
train_cnn.py, run on the same digits split (seed 1), prints "Step: 250 | loss: 0.040 |
acc: 0.97" (0.97-0.98 over seeds 1-3); this example prints acc 0.98 at step 250 and a
test accuracy of 0.9733 after 300 steps (seed 1; 0.8756 with --pool avg).

Differences: NCHW images and OIHW filters where his layers are channels-last (the same
network, W's rows permuted), float64 where he uses float32, and exprgrad.train.Adam, Adam as
published, where his restarts its bias correction each step (see morvan_regression.py).

    python examples/morvan_cnn.py [MNIST_DIRECTORY] [--steps 300] [--pool max|avg] [--seed 1]
"""

import argparse
import sys

import numpy as np

import exprgrad
from exprgrad import datasets, train

NETWORK = """\
c1 = {pool}pool2d(conv2d(X, K1, stride=1, padding=2) + a1, 2, stride=2)
c2 = {pool}pool2d(conv2d(c1, K2, stride=1, padding=2) + a2, 2, stride=2)
logits = flatten(c2) @ W + b"""
LOSS = "\nmean(logsumexp(logits, 1) - sum(Y * logits, 1))"
HIS_FIGURE = "Step: 250 | loss: 0.040 | acc: 0.97"  # his train_cnn.py on these digits, seed 1


def load(directory: str | None):
    """(x_train, y_train, x_test, y_test): images (n, 1, h, w), raw pixel values 0..255."""
    if directory is None:
        images, labels = datasets.load_digits(flatten=False)
        x_train, x_test, y_train, y_test = datasets.train_test_split(
            images, labels, test_size=0.25, seed=0
        )
    else:
        try:
            x_train, y_train = datasets.load_mnist(directory, "train", dtype="float64")
            x_test, y_test = datasets.load_mnist(directory, "test", dtype="float64")
        except datasets.DatasetError as error:
            print(f"morvan_cnn.py: error: {error}", file=sys.stderr)
            sys.exit(2)
        x_test, y_test = x_test[:2000], y_test[:2000]
    return x_train[:, None] * 255, y_train, x_test[:, None] * 255, y_test


def his_init(rng, shapes):
    """TruncatedNormal(0, 0.01) as he writes it: normal draws clipped to two deviations."""
    return {name: np.clip(rng.normal(0.0, 0.01, shape), -0.02, 0.02) for name, shape in shapes}


def batches(rng, count: int, size: int):
    """Index batches forever, as his DataLoader gives them: a fresh order each pass, and
    no batch shorter than size."""
    while True:
        order = rng.permutation(count)
        for start in range(0, count - size + 1, size):
            yield order[start : start + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", help="MNIST's IDX files (default: digits)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step")
    parser.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate")
    parser.add_argument("--pool", choices=("max", "avg"), default="max", help="pooling")
    parser.add_argument("--seed", type=int, default=1, help="initial weights and order")
    options = parser.parse_args()

    x_train, y_train, x_test, y_test = load(options.directory)
    height, width = x_train.shape[2:]
    side = height // 4  # after two 2x2 poolings
    print(f"{len(x_train)} training and {len(x_test)} test images, {height}x{width}")
    network = NETWORK.format(pool=options.pool)
    loss = exprgrad.compile(network + LOSS, wrt=("K1", "a1", "K2", "a2", "W", "b"),
                            backend="numpy")  # fmt: skip
    scores = exprgrad.compile(network, backend="numpy")
    rng = np.random.default_rng(options.seed)
    shapes = [("K1", (6, 1, 5, 5)), ("K2", (16, 6, 5, 5)), ("W", (16 * side * side, 10))]
    params = his_init(rng, shapes)
    params |= {"a1": np.full((6, 1, 1), 0.01), "a2": np.full((16, 1, 1), 0.01)}
    params["b"] = np.full(10, 0.01)
    adam = train.Adam(lr=options.lr)

    def test_accuracy() -> float:
        return float(np.mean(scores(**params, X=x_test).argmax(axis=1) == y_test))

    order = batches(rng, len(x_train), options.batch_size)
    for step in range(options.steps):
        i = next(order)
        value, grads = loss.value_and_grad(
            **params, X=x_train[i], Y=datasets.one_hot(y_train[i], 10)
        )
        adam.step(params, grads)
        if step % 50 == 0:
            print(f"Step: {step} | loss: {float(value):.3f} | acc: {test_accuracy():.2f}")
    print(f"test accuracy {test_accuracy():.4f} after {options.steps} steps")
    if options.directory is None:
        print(f"Morvan's train_cnn.py on the same digits: {HIS_FIGURE}")


if __name__ == "__main__":
    main()
