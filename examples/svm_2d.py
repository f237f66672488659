"""Train the Hacker's guide's 2-D support vector machine with exprgrad gradients.

The loss for one example is the hinge max(0, 1 - label*score) plus a pull of
the weights toward zero; its gradient is exactly the guide's "pull" update.

    python examples/svm_2d.py
"""

import random

import exprgrad

data = [(1.2, 0.7), (-0.3, -0.5), (3.0, 0.1), (-0.1, -1.0), (-1.0, 1.1), (2.1, -3.0)]
labels = [1, -1, 1, -1, -1, 1]

loss = exprgrad.compile(
    "score = a*x + b*y + c\nmax(0, 1 - label*score) + 0.5*(a*a + b*b)",
    wrt=["a", "b", "c"],
)


def accuracy(a, b, c):
    hits = sum(
        (a * x + b * y + c > 0) == (label == 1) for (x, y), label in zip(data, labels, strict=True)
    )
    return hits / len(data)


random.seed(0)
params = {"a": 1.0, "b": -2.0, "c": -1.0}
step = 0.01
for iteration in range(400):
    i = random.randrange(len(data))
    (x, y), label = data[i], labels[i]
    grads = loss.grad(**params, x=x, y=y, label=label)
    for name in params:
        params[name] -= step * grads[name]
    if iteration % 25 == 0:
        print(f"training accuracy at iteration {iteration}: {accuracy(**params):.4f}")

print(
    f"final: a={params['a']:.4f} b={params['b']:.4f} c={params['c']:.4f} "
    f"accuracy={accuracy(**params):.4f}"
)
