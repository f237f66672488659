"""Victor Zhou's CNN from "CNNs, Part 1/2" (victorzhou.com), as one formula on the numpy backend.

His network, github.com/vzhou842/cnn-from-scratch: a 3x3 convolution with 8 filters and no
padding or bias, 2x2 max pooling, then a dense softmax layer over 10 classes:

    h = maxpool2d(conv2d(X, K), 2)                     # 1x28x28 -> 8x26x26 -> 8x13x13
    logits = flatten(h) @ W + b                        # -> 10 scores
    mean(logsumexp(logits, 1) - sum(Y * logits, 1))    # softmax cross-entropy, Y one-hot

and his training schedule: pixels scaled to (image / 255) - 0.5, filters drawn from
randn / 9, dense weights from randn / input_len, biases 0; plain SGD with learning rate
0.005, one image at a time, 3 epochs over the first 1,000 training images (reshuffled each
epoch), then the loss and accuracy on the first 1,000 test images. It prints what his
cnn.py prints: every 100 steps the average loss and the accuracy of the past 100.

With MNIST's IDX files (pass their directory; exprgrad.datasets.load_mnist reads them and
downloads nothing) this is his setup exactly. Without them it runs on scikit-learn's 8x8
digits (a seeded quarter held out; the first 1,000 of the rest for training, all 450 for
testing): the 3x3 convolution and the pooling give 8x3x3, so W is 72x10.

His post ("CNNs, Part 2") reports, after those 3,000 steps on MNIST, "Test Loss:
0.5979384893783474" and "Test Accuracy: 0.78" (the same network in Keras, trained the same
way on all 60,000 images, reaches 97.4%). On the digits this example gets a test loss of
0.59 and an accuracy of 0.856 (seed 0; 0.59-0.66 and 0.856-0.891 over seeds 0-2), and his
own cnn.py on the same digits split gets 0.59-0.68 and 0.853-0.878 (seeds 0-4).

The only departures: images are NCHW (1 channel) and flatten keeps channels first, where
his layers hold (height, width, filters): the same network with W's rows permuted. And
where a 2x2 window holds equal maxima, his backprop gives each the whole gradient while
maxpool2d splits it (as amax does), which matters only for exact ties.

    python examples/zhou_cnn.py [MNIST_DIRECTORY] [--epochs 3] [--train 1000] [--seed 0]
"""

import argparse
import sys

import numpy as np

import exprgrad
from exprgrad import datasets, train

NETWORK = "h = maxpool2d(conv2d(X, K), 2)\nlogits = flatten(h) @ W + b"
LOSS = NETWORK + "\nmean(logsumexp(logits, 1) - sum(Y * logits, 1))"
FILTERS = 8


def load(directory: str | None, train_size: int, test_size: int):
    """(x_train, y_train, x_test, y_test, name): images (n, 1, h, w) in [0, 1]."""
    if directory is None:
        images, labels = datasets.load_digits(flatten=False)
        x_train, x_test, y_train, y_test = datasets.train_test_split(
            images, labels, test_size=0.25, seed=0
        )
        name = "8x8 digits"
    else:
        try:
            x_train, y_train = datasets.load_mnist(directory, "train", dtype="float64")
            x_test, y_test = datasets.load_mnist(directory, "test", dtype="float64")
        except datasets.DatasetError as error:
            print(f"zhou_cnn.py: error: {error}", file=sys.stderr)
            sys.exit(2)
        name = "MNIST"
    x_train, y_train = x_train[:train_size, None], y_train[:train_size]
    x_test, y_test = x_test[:test_size, None], y_test[:test_size]
    return x_train, y_train, x_test, y_test, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", help="MNIST's IDX files (default: digits)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training set")
    parser.add_argument("--train", type=int, default=1000, help="training images used")
    parser.add_argument("--test", type=int, default=1000, help="test images used")
    parser.add_argument("--lr", type=float, default=0.005, help="SGD's learning rate")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and order")
    options = parser.parse_args()

    x_train, y_train, x_test, y_test, name = load(options.directory, options.train, options.test)
    x_train, x_test = x_train - 0.5, x_test - 0.5  # his (image / 255) - 0.5; ours are /255
    height, width = x_train.shape[2:]
    input_len = FILTERS * ((height - 2) // 2) * ((width - 2) // 2)
    print(f"{name}: {len(x_train)} training and {len(x_test)} test images, {height}x{width}")

    loss = exprgrad.compile(LOSS, wrt=("K", "W", "b"), backend="numpy")
    scores = exprgrad.compile(NETWORK, backend="numpy")
    rng = np.random.default_rng(options.seed)
    params = {
        "K": rng.standard_normal((FILTERS, 1, 3, 3)) / 9,
        "W": rng.standard_normal((input_len, 10)) / input_len,
        "b": np.zeros(10),
    }
    sgd = train.SGD(lr=options.lr)
    print("MNIST CNN initialized!" if name == "MNIST" else "digits CNN initialized!")
    for epoch in range(options.epochs):
        print(f"--- Epoch {epoch + 1} ---")
        order = rng.permutation(len(x_train))
        total, correct = 0.0, 0
        for step, i in enumerate(order, 1):
            x, y = x_train[i : i + 1], y_train[i : i + 1]
            correct += int(scores(**params, X=x).argmax() == y[0])
            value, grads = loss.value_and_grad(**params, X=x, Y=datasets.one_hot(y, 10))
            total += float(value)
            sgd.step(params, grads)
            if step % 100 == 0:
                print(
                    f"[Step {step}] Past 100 steps: Average Loss {total / 100:.3f} | "
                    f"Accuracy: {correct}%"
                )
                total, correct = 0.0, 0

    print("\n--- Testing the CNN ---")
    test_loss = float(loss(**params, X=x_test, Y=datasets.one_hot(y_test, 10)))
    accuracy = float(np.mean(scores(**params, X=x_test).argmax(axis=1) == y_test))
    print(f"Test Loss: {test_loss:.4f}")
    print(f"Test Accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
