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

    python examples/loy_network.py [--seed 0] [--steps 1500]
"""

import argparse

import numpy as np

import exprgrad

NETWORK = "sigmoid(sigmoid(X @ W1) @ W2)"
X = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def loy_backprop(W1, W2):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="initial weights")
    parser.add_argument("--steps", type=int, default=1500, help="gradient steps")
    options = parser.parse_args()

    loss = exprgrad.compile(f"output = {NETWORK}\nsum((y - output)**2)", backend="numpy")
    network = exprgrad.compile(NETWORK, backend="numpy")
    rng = np.random.default_rng(options.seed)
    W1 = rng.random((3, 4))  # Loy: np.random.rand(3, 4)
    W2 = rng.random((4, 1))

    by_hand = loy_backprop(W1, W2)
    _, grads = loss.value_and_grad(X=X, y=Y, W1=W1, W2=W2)
    difference = max(np.abs(grads["W1"] + by_hand[0]).max(), np.abs(grads["W2"] + by_hand[1]).max())
    print(f"exprgrad's gradient and Loy's backprop differ by at most {difference:.1e}")

    for step in range(options.steps):
        value, grads = loss.value_and_grad(X=X, y=Y, W1=W1, W2=W2)
        if step % 300 == 0:
            print(f"step {step:4}: sum of squared errors {value:.6f}")
        W1 -= grads["W1"]  # Loy's step: the whole gradient (a learning rate of 1)
        W2 -= grads["W2"]
    print(f"after {options.steps} steps: sum of squared errors {loss(X=X, y=Y, W1=W1, W2=W2):.6f}")
    for x, target, output in zip(X, Y[:, 0], network(X=X, W1=W1, W2=W2)[:, 0], strict=True):
        print(f"input {x.astype(int)}: target {target:.0f}, output {output:.4f}")


if __name__ == "__main__":
    main()
