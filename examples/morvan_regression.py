"""Morvan Zhou's noisy 1-D regression (simple-neural-networks, train_regressor.py) in exprgrad.

His data, drawn as he draws it: np.random.seed(1), 200 points x evenly spaced in [-1, 1] and
y = x**2 + normal(0, 0.1). His network, 1 -> 10 -> 10 -> 1 with tanh hidden layers, weights
uniform in [0, 1) and biases 0.1 (drawn from the same seeded stream right after the data, so
the starting weights are his), and his loss, half the mean squared error:

    h1 = tanh(x @ W1 + b1)
    h2 = tanh(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    mean((out - y)**2) / 2

trained as he trains it: Adam with learning rate 0.1 on the full batch, 100 steps, printing
"Step: i | loss: ..." before each update. Then his final loss next to this example's.

One difference: the optimizer is exprgrad.train.Adam, Adam as published. His Adam
(neuralnets/optimizers.py) restarts its bias-correction powers at every step and advances
them once per parameter array, so the k-th array's update is scaled by a constant
sqrt(1 - 0.999**(k+2)) / (1 - 0.9**(k+2)), 0.16-0.24 once the averages have warmed up,
instead of tending to 1; and his eps sits inside the square root. His code, run here,
ends at loss 0.00447 (step 99); this example starts at his step-0 loss, 7.78291, and
ends at 0.00440: both fit the curve down to the noise (whose half-variance is 0.005).

    python examples/morvan_regression.py [--steps 100] [--lr 0.1]
"""

import argparse

import numpy as np

import exprgrad
from exprgrad import train

NETWORK = """\
h1 = tanh(x @ W1 + b1)
h2 = tanh(h1 @ W2 + b2)
out = h2 @ W3 + b3"""
LOSS = NETWORK + "\nmean((out - y)**2) / 2"
HIS_FINAL_LOSS = 0.00447  # his train_regressor.py's last line: "Step: 99 | loss: 0.00447"


def his_data_and_weights():
    """His seeded draws in his order: the noise, then each Dense layer's uniform weights."""
    stream = np.random.RandomState(1)  # the legacy generator behind his np.random.seed(1)
    x = np.linspace(-1, 1, 200)[:, None]
    y = x**2 + stream.normal(0.0, 0.1, (200, 1))
    params = {}
    for i, (n_in, n_out) in enumerate([(1, 10), (10, 10), (10, 1)], 1):
        params[f"W{i}"] = stream.uniform(0.0, 1.0, (n_in, n_out))
        params[f"b{i}"] = np.full(n_out, 0.1)
    return x, y, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="full-batch Adam steps")
    parser.add_argument("--lr", type=float, default=0.1, help="Adam's learning rate")
    options = parser.parse_args()

    x, y, params = his_data_and_weights()
    loss = exprgrad.compile(LOSS, wrt=tuple(params), backend="numpy")
    adam = train.Adam(lr=options.lr)
    for step in range(options.steps):
        value, grads = loss.value_and_grad(**params, x=x, y=y)
        adam.step(params, grads)
        print(f"Step: {step} | loss: {float(value):.5f}")
    print(f"Morvan's train_regressor.py: loss {HIS_FINAL_LOSS:.5f} after 100 steps")
    print(f"exprgrad: loss {float(value):.5f} after {options.steps} steps")


if __name__ == "__main__":
    main()
