"""The Hacker's guide's 2-layer neural network SVM, trained with exprgrad's gates.

Chapter 2 of Karpathy's guide replaces the linear score by three ReLU neurons and a
weighted sum of them,

    n1 = relu(a1*x + b1*y + c1)    n2 = relu(a2*x + b2*y + c2)    n3 = relu(a3*x + b3*y + c3)
    score = a4*n1 + b4*n2 + c4*n3 + d4

and pulls the score towards each example's label with the hinge: the pull is the
gradient of min(1, label*score). The guide writes 13 parameters' backward pass by hand;
here the circuit is built once from gates and backprop(lr) runs the generated code.
The score is written once, too: the training accuracy reads the score gate's .val after
the circuit's compute(), for each point.

The parameters start as in the guide, uniform in [-0.5, 0.5). From many starts the
network settles with one point on the wrong side: its pull is cancelled by those of its
neighbours, or no neuron fires at it any more (a local optimum of the hinge). So
training restarts from the next seed when 3,000 examples did not classify all six.

    python examples/guide_two_layer_net.py [--picture guide_two_layer_net.png]

With matplotlib installed, it saves the points and the learnt decision regions.
"""

import argparse
import random

from exprgrad.sugar import const, minimum, param, relu

DATA = (
    ((1.2, 0.7), +1),
    ((-0.3, 0.5), -1),
    ((-3.0, -1.0), +1),
    ((0.1, 1.0), -1),
    ((3.0, 1.1), -1),
    ((2.1, -3.0), +1),
)
NAMES = "a1 b1 c1 a2 b2 c2 a3 b3 c3 a4 b4 c4 d4".split()
STEP = 0.01  # the guide's step_size


def build(seed: int):
    """The circuit, from parameters drawn as the guide draws them."""
    rng = random.Random(seed)
    p = dict(zip(NAMES, param(*[rng.random() - 0.5 for _ in NAMES], names=NAMES), strict=True))
    x, y, label = const(0, 0, 0, names="x y label")
    n1 = relu(p["a1"] * x + p["b1"] * y + p["c1"])
    n2 = relu(p["a2"] * x + p["b2"] * y + p["c2"])
    n3 = relu(p["a3"] * x + p["b3"] * y + p["c3"])
    score = p["a4"] * n1 + p["b4"] * n2 + p["c4"] * n3 + p["d4"]
    hinge = minimum(1, label * score)  # its gradient is the guide's pull on the score
    return rng, p, (x, y, label), score, hinge


def scores(inputs, score, hinge, points) -> list[float]:
    """The score at each point, as the circuit computes it (score.val after compute())."""
    x, y, _ = inputs
    values = []
    for x.val, y.val in points:
        hinge.compute()
        values.append(score.val)
    return values


def accuracy(inputs, score, hinge) -> float:
    values = scores(inputs, score, hinge, [point for point, _ in DATA])
    hits = sum((s > 0) == (truth > 0) for s, (_, truth) in zip(values, DATA, strict=True))
    return hits / len(DATA)


def train(seed: int, iterations: int = 3000):
    rng, p, inputs, score, hinge = build(seed)
    x, y, label = inputs
    shown = []
    for iteration in range(iterations):
        (x.val, y.val), label.val = rng.choice(DATA)
        hinge.backprop(STEP)  # forward, backward, every parameter += STEP * gradient
        if iteration % 100 == 0 or iteration == iterations - 1:
            correct = accuracy(inputs, score, hinge)
            if iteration % 500 == 0 or correct == 1.0 or iteration == iterations - 1:
                shown.append(f"{correct:.2f} ({iteration})")
            if correct == 1.0:
                break
    print(f"start {seed}: training accuracy (at iteration) {', '.join(shown)}")
    return iteration, p, inputs, score, hinge


def save_picture(path: str, inputs, score, hinge) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")
        return
    matplotlib.use("Agg")  # no window: draw to a file
    import matplotlib.pyplot as plt

    ticks = [-4 + 8 * k / 60 for k in range(61)]
    grid = [(gx, gy) for gy in ticks for gx in ticks]
    values = scores(inputs, score, hinge, grid)
    rows = [values[k * len(ticks) : (k + 1) * len(ticks)] for k in range(len(ticks))]
    figure, axes = plt.subplots(figsize=(5.5, 5))
    axes.contourf(ticks, ticks, rows, levels=[-1e9, 0, 1e9], colors=["#f4c7c3", "#c6dbef"])
    axes.contour(ticks, ticks, rows, levels=[0], colors="k")
    for (px, py), truth in DATA:
        axes.scatter(px, py, c="tab:blue" if truth > 0 else "tab:red", s=60, zorder=3)
    axes.set(xlabel="x", ylabel="y", title="2-layer net: score > 0 blue, < 0 red")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved the decision regions to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default="guide_two_layer_net.png", help="picture file")
    options = parser.parse_args()
    for seed in range(10):
        iteration, p, inputs, score, hinge = train(seed)
        final = accuracy(inputs, score, hinge)
        if final == 1.0:
            break
    print(f"training accuracy {final:.4f} at iteration {iteration} of start {seed}")
    values = scores(inputs, score, hinge, [point for point, _ in DATA])
    for ((px, py), truth), value in zip(DATA, values, strict=True):
        print(f"  ({px:+.1f}, {py:+.1f}) label {truth:+d}: score {value:+.3f}")
    print("parameters: " + ", ".join(f"{name} = {gate.val:.3f}" for name, gate in p.items()))
    save_picture(options.picture, inputs, score, hinge)


if __name__ == "__main__":
    main()
