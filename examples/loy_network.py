"""James Loy's two-layer sigmoid network ("How to build your own Neural Network from
scratch in Python", 2018), with exprgrad writing the backpropagation.

Loy's network has 3 inputs, 4 hidden sigmoid units, one sigmoid output, no biases,
weights drawn uniformly from [0, 1) (np.random.rand), and learns y = x1 XOR x2 from four
examples (the third input is always 1) by 1,500 steps of

    weights += d_weights      # minus the gradient of the sum of squared errors

with derivatives he works out by the chain rule. Here the network and its loss are one
formula on the numpy backend,

    output = sigmoid(sigmoid(X @ W1) @ W2)
    sum((y - output)**2)

and the loop is Loy's, with f.value_and_grad in place of his backprop(). The first step
checks exprgrad's gradient against his hand-written formulas.

With --backend python (the default where numpy is not installed) the formulas are compiled
for nested Python lists, and Loy's backprop is written with loops over lists; the weights
then come from random.Random(seed).

    python examples/loy_network.py [--seed 0] [--steps 1500] [--backend python]
"""

import argparse
import math
import random

try:
    import numpy as np
except ImportError:  # the python backend computes on lists
    np = None

import exprgrad

NETWORK = "sigmoid(sigmoid(X @ W1) @ W2)"
INPUTS = [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
TARGETS = [[0.0], [1.0], [1.0], [0.0]]


def loy_backprop(X, Y, W1, W2):
    """Loy's gradient step (d_weights1, d_weights2): minus the loss's gradient."""

    def sigmoid(x):
        return 1.0 / (1 + np.exp(-x))

    def sigmoid_derivative(s):  # of sigmoid, at s = sigmoid(x)
        return s * (1.0 - s)

    layer1 = sigmoid(X @ W1)
    output = sigmoid(layer1 @ W2)
    delta = 2 * (Y - output) * sigmoid_derivative(output)
    d_weights2 = layer1.T @ delta
    d_weights1 = X.T @ ((delta @ W2.T) * sigmoid_derivative(layer1))
    return d_weights1, d_weights2


def loy_backprop_lists(X, Y, W1, W2):
    """The same formulas on nested lists, element by element."""

    def matmul(A, B):
        inner, columns = range(len(B)), range(len(B[0]))
        return [[sum(row[k] * B[k][j] for k in inner) for j in columns] for row in A]

    def transpose(A):
        return [[row[j] for row in A] for j in range(len(A[0]))]

    def elementwise(f, *arrays):
        rows = zip(*arrays, strict=True)
        return [[f(*values) for values in zip(*row, strict=True)] for row in rows]

    def sigmoid(x):
        return 1.0 / (1 + math.exp(-x))

    def sigmoid_derivative(s):
        return s * (1.0 - s)

    layer1 = elementwise(sigmoid, matmul(X, W1))
    output = elementwise(sigmoid, matmul(layer1, W2))
    delta = elementwise(lambda y, o: 2 * (y - o) * sigmoid_derivative(o), Y, output)
    d_weights2 = matmul(transpose(layer1), delta)
    back = matmul(delta, transpose(W2))
    hidden = elementwise(lambda b, s: b * sigmoid_derivative(s), back, layer1)
    d_weights1 = matmul(transpose(X), hidden)
    return d_weights1, d_weights2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="initial weights")
    parser.add_argument("--steps", type=int, default=1500, help="gradient steps")
    parser.add_argument(
        "--backend",
        choices=["numpy", "python"],
        default="python" if np is None else "numpy",
        help="arrays or nested lists (default numpy when it is installed)",
    )
    options = parser.parse_args()

    loss = exprgrad.compile(f"output = {NETWORK}\nsum((y - output)**2)", backend=options.backend)
    network = exprgrad.compile(NETWORK, backend=options.backend)
    if options.backend == "numpy":
        X, Y = np.array(INPUTS), np.array(TARGETS)
        rng = np.random.default_rng(options.seed)
        W1 = rng.random((3, 4))  # Loy: np.random.rand(3, 4)
        W2 = rng.random((4, 1))
        by_hand = loy_backprop(X, Y, W1, W2)
    else:
        X, Y = INPUTS, TARGETS
        rng = random.Random(options.seed)
        W1 = [[rng.random() for _ in range(4)] for _ in range(3)]
        W2 = [[rng.random()] for _ in range(4)]
        by_hand = loy_backprop_lists(X, Y, W1, W2)

    _, grads = loss.value_and_grad(X=X, y=Y, W1=W1, W2=W2)
    difference = max(
        abs(g + h)
        for name, hand in zip(("W1", "W2"), by_hand, strict=True)
        for grad_row, hand_row in zip(grads[name], hand, strict=True)
        for g, h in zip(grad_row, hand_row, strict=True)
    )
    print(f"exprgrad's gradient and Loy's backprop differ by at most {difference:.1e}")

    for step in range(options.steps):
        value, grads = loss.value_and_grad(X=X, y=Y, W1=W1, W2=W2)
        if step % 300 == 0:
            print(f"step {step:4}: sum of squared errors {value:.6f}")
        if options.backend == "numpy":
            W1 -= grads["W1"]  # Loy's step: the whole gradient (a learning rate of 1)
            W2 -= grads["W2"]
        else:
            for weights, grad in ((W1, grads["W1"]), (W2, grads["W2"])):
                for row, grad_row in zip(weights, grad, strict=True):
                    for j, g in enumerate(grad_row):
                        row[j] -= g
    print(f"after {options.steps} steps: sum of squared errors {loss(X=X, y=Y, W1=W1, W2=W2):.6f}")
    for x, target, output in zip(X, Y, network(X=X, W1=W1, W2=W2), strict=True):
        bits = " ".join(f"{v:.0f}" for v in x)  # as numpy prints x.astype(int)
        print(f"input [{bits}]: target {target[0]:.0f}, output {output[0]:.4f}")


if __name__ == "__main__":
    main()
