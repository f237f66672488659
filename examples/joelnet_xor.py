"""XOR with a 2-2-1 tanh network, after Joel Grus's joelnet ("Livecoding an autograd
library", github.com/joelgrus/joelnet), on exprgrad's numpy backend.

joelnet builds the network from layers (Linear, Tanh, Linear), each with a hand-written
backward pass, and trains it with a total-squared-error loss (its class MSE sums) and
plain SGD, lr 0.01, for 5,000 epochs, weights and biases drawn from a standard normal.
Here the network and the loss are one formula, and exprgrad writes the backward pass:

    h = tanh(X @ W1 + b1)
    sum((h @ W2 + b2 - y)**2)

X holds the four inputs as rows, so the formula's value is the batch's total squared
error; exprgrad.train.fit runs the 5,000 full-batch SGD steps. Each output should end on
the right side of 0.5. (From some starting weights, seed 2 for one, a 2-2-1 network
settles in a local minimum that gets two of the four right: XOR's classic trap.)

    python examples/joelnet_xor.py [--seed 0] [--epochs 5000]
"""

import argparse

import numpy as np

import exprgrad
from exprgrad import train

NETWORK = "h = tanh(X @ W1 + b1)\nh @ W2 + b2"
LOSS = "h = tanh(X @ W1 + b1)\nsum((h @ W2 + b2 - y)**2)"
INPUTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
TARGETS = np.array([0.0, 1.0, 1.0, 0.0])  # x1 XOR x2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="initial weights")
    parser.add_argument("--epochs", type=int, default=5000, help="steps of SGD")
    options = parser.parse_args()

    loss = exprgrad.compile(LOSS, wrt="W1,b1,W2,b2", backend="numpy")
    network = exprgrad.compile(NETWORK, backend="numpy")
    rng = np.random.default_rng(options.seed)  # joelnet: np.random.randn
    params = {
        "W1": rng.standard_normal((2, 2)),
        "b1": rng.standard_normal(2),
        "W2": rng.standard_normal(2),
        "b2": float(rng.standard_normal()),  # a float parameter works as well
    }

    def every_thousand(epoch, params, history):
        if (epoch + 1) % 1000 == 0:
            print(f"epoch {epoch + 1}: total squared error {history.train_loss[-1]:.3g}")

    history = train.fit(
        loss,
        params,
        {"X": INPUTS, "y": TARGETS},
        epochs=options.epochs,
        batch_size=4,
        optimizer=train.SGD(lr=0.01),
        callback=every_thousand,
    )
    outputs = network(**history.params, X=INPUTS)
    for (x1, x2), target, output in zip(INPUTS, TARGETS, outputs, strict=True):
        print(f"{x1:.0f} XOR {x2:.0f} = {target:.0f}: network {output:.4f}")
    right = int(np.sum((outputs > 0.5) == (TARGETS > 0.5)))
    print(f"{right} of 4 outputs on the right side of 0.5")


if __name__ == "__main__":
    main()
