"""FizzBuzz learnt by a network, after Joel Grus's "Fizz Buzz in Tensorflow" (2016), on
exprgrad's numpy backend.

Each number is its 10 binary digits (least significant first); the answer is one of four
classes: the number itself, "fizz" (divisible by 3), "buzz" (by 5), "fizzbuzz" (by 15).
The network trains on 101 to 1023 and is tested on 1 to 100, numbers it never saw. The
model and its loss are one formula, a hidden ReLU layer and a 4-way softmax:

    h = relu(X @ W1 + b1)
    logits = h @ W2 + b2
    mean(logsumexp(logits, 1) - sum(Y * logits, 1))    # cross-entropy, Y one-hot

trained by exprgrad.train.fit with Adam on minibatches (Grus used plain gradient descent
for 10,000 epochs; Adam gets there in 200). It prints the answers for 1 to 100 and the
test accuracy.

    python examples/fizzbuzz.py [--epochs 200] [--hidden 256] [--seed 0]
"""

import argparse

import numpy as np

import exprgrad
from exprgrad import datasets, train

DIGITS = 10
NETWORK = "h = relu(X @ W1 + b1)\nlogits = h @ W2 + b2"
LOSS = NETWORK + "\nmean(logsumexp(logits, 1) - sum(Y * logits, 1))"


def binary(n: int) -> list[int]:
    return [n >> d & 1 for d in range(DIGITS)]


def fizz_buzz_class(n: int) -> int:
    return 3 if n % 15 == 0 else 2 if n % 5 == 0 else 1 if n % 3 == 0 else 0


def say(n: int, answer: int) -> str:
    return [str(n), "fizz", "buzz", "fizzbuzz"][answer]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="passes over 101-1023")
    parser.add_argument("--hidden", type=int, default=256, help="hidden units")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and order")
    options = parser.parse_args()

    train_numbers, test_numbers = range(101, 2**DIGITS), range(1, 101)
    x_train = np.array([binary(n) for n in train_numbers], dtype=float)
    y_train = np.array([fizz_buzz_class(n) for n in train_numbers])
    x_test = np.array([binary(n) for n in test_numbers], dtype=float)
    y_test = np.array([fizz_buzz_class(n) for n in test_numbers])

    loss = exprgrad.compile(LOSS, wrt="W1,b1,W2,b2", backend="numpy")
    network = exprgrad.compile(NETWORK, backend="numpy")
    shapes = {"W1": (DIGITS, options.hidden), "W2": (options.hidden, 4)}
    params = train.init(shapes, "he_normal", seed=options.seed)
    params |= train.init({"b1": (options.hidden,), "b2": (4,)}, "zeros")

    def every_fifty(epoch, params, history):
        if (epoch + 1) % 50 == 0:
            hits = np.mean(network(**params, X=x_test).argmax(axis=1) == y_test)
            print(f"epoch {epoch + 1}: loss {history.train_loss[-1]:.4f}, 1-100 right {hits:.2f}")

    history = train.fit(
        loss,
        params,
        {"X": x_train, "Y": datasets.one_hot(y_train, 4)},
        epochs=options.epochs,
        batch_size=32,
        optimizer=train.Adam(lr=0.003),
        seed=options.seed,
        callback=every_fifty,
    )
    predicted = network(**history.params, X=x_test).argmax(axis=1)
    print(" ".join(say(n, answer) for n, answer in zip(test_numbers, predicted, strict=True)))
    wrong = [
        f"{n} ({say(n, answer)})"
        for n, answer, truth in zip(test_numbers, predicted, y_test, strict=True)
        if answer != truth
    ]
    print(f"wrong: {', '.join(wrong) or 'none'}")
    print(f"test accuracy on 1-100: {np.mean(predicted == y_test):.2f}")


if __name__ == "__main__":
    main()
