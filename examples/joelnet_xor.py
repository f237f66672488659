"""XOR with a 2-2-1 tanh network, after Joel Grus's joelnet ("Livecoding an autograd
library", github.com/joelgrus/joelnet), on exprgrad's numpy backend, or on plain Python
lists where numpy is not installed.

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

With --backend python (the default where numpy is not installed) the same formulas are
compiled for nested Python lists, and fit() trains those; the weights come from
random.Random(seed), other draws than numpy's, so that backend's default seed is 1:
random.Random(0)'s weights fall into the trap.

    python examples/joelnet_xor.py [--seed 0] [--epochs 5000] [--backend python]
"""

import argparse
import random

try:
    import numpy as np
except ImportError:  # the python backend computes on lists
    np = None

import exprgrad
from exprgrad import train

NETWORK = "h = tanh(X @ W1 + b1)\nh @ W2 + b2"
LOSS = "h = tanh(X @ W1 + b1)\nsum((h @ W2 + b2 - y)**2)"
INPUTS = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
TARGETS = [0.0, 1.0, 1.0, 0.0]  # x1 XOR x2


def initial_weights(backend: str, seed: int) -> dict:
    """Standard normal weights and biases (joelnet: np.random.randn): numpy arrays, or
    nested lists for the python backend."""
    if backend == "numpy":
        rng = np.random.default_rng(seed)
        return {
            "W1": rng.standard_normal((2, 2)),
            "b1": rng.standard_normal(2),
            "W2": rng.standard_normal(2),
            "b2": float(rng.standard_normal()),  # a float parameter works as well
        }
    rng = random.Random(seed)
    normal = [rng.gauss(0.0, 1.0) for _ in range(9)]
    return {"W1": [normal[0:2], normal[2:4]], "b1": normal[4:6], "W2": normal[6:8], "b2": normal[8]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="initial weights (default 0, python 1)")
    parser.add_argument("--epochs", type=int, default=5000, help="steps of SGD")
    parser.add_argument(
        "--backend",
        choices=["numpy", "python"],
        default="python" if np is None else "numpy",
        help="arrays or nested lists (default numpy when it is installed)",
    )
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else 0 if options.backend == "numpy" else 1

    loss = exprgrad.compile(LOSS, wrt="W1,b1,W2,b2", backend=options.backend)
    network = exprgrad.compile(NETWORK, backend=options.backend)
    params = initial_weights(options.backend, seed)
    inputs, targets = INPUTS, TARGETS  # nested lists, as the python backend takes them
    if options.backend == "numpy":
        inputs, targets = np.array(INPUTS), np.array(TARGETS)

    def every_thousand(epoch, params, history):
        if (epoch + 1) % 1000 == 0:
            print(f"epoch {epoch + 1}: total squared error {history.train_loss[-1]:.3g}")

    history = train.fit(
        loss,
        params,
        {"X": inputs, "y": targets},
        epochs=options.epochs,
        batch_size=4,
        optimizer=train.SGD(lr=0.01),
        callback=every_thousand,
    )
    outputs = network(**history.params, X=inputs)
    right = 0
    for (x1, x2), target, output in zip(INPUTS, TARGETS, outputs, strict=True):
        print(f"{x1:.0f} XOR {x2:.0f} = {target:.0f}: network {output:.4f}")
        right += bool(output > 0.5) == (target > 0.5)
    print(f"{right} of 4 outputs on the right side of 0.5")


if __name__ == "__main__":
    main()
