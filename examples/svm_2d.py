"""The Hacker's guide's linear SVM on six points, trained with exprgrad's gates.

Chapter 2 of Karpathy's guide scores a point (x, y) with a*x + b*y + c and, for one
random example at a time, pulls the score up (label +1) or down (label -1) while it is
on the wrong side of the margin: label*score < 1. That pull is the gradient of
min(1, label*score), so the circuit below is that hinge, and backprop(lr) moves a, b, c
uphill along it (exprgrad's backprop adds lr * gradient, as the guide does). The
guide's regularisation pull, -a and -b, is the gradient of -(a*a + b*b)/2.

The six points are those chapter 2 opens with, which exprgrad's origin trains on (the
guide's code listing then trains on six others). Two runs:

1. hinge only, at the step 0.1 of exprgrad's origin: every point ends on its side
   (100%) after about 4,500 examples. (-0.3, 0.5), (1.2, 0.7) and (3.0, 1.1) lie
   almost on one line with alternating labels, so a boundary between them passes
   close to all three, and a margin of 1 there needs large weights.
2. with the guide's regularisation pull, at the guide's step 0.01: accuracy settles at
   5/6. The weights that separate all six points cost more in a*a + b*b than the one
   point they win, so the best regularised weights give (1.2, 0.7) up; so do those of
   a pull a thousand times weaker (solved exactly, as a quadratic programme). The
   hinge alone is the way to a perfect score on these six points.

    python examples/svm_2d.py [--picture svm_2d.png]

With matplotlib installed, it saves the points and both decision boundaries.
"""

import argparse
import random

from exprgrad.sugar import const, minimum, param

DATA = (
    ((1.2, 0.7), +1),
    ((-0.3, 0.5), -1),
    ((-3.0, -1.0), +1),
    ((0.1, 1.0), -1),
    ((3.0, 1.1), -1),
    ((2.1, -3.0), +1),
)


def train(regularise: bool, lr: float, iterations: int, seed: int = 0) -> dict:
    """The guide's loop: a random example, then one step along the pull. Prints the
    training accuracy every 25 iterations for the guide's first 400, then every 1,000;
    stops once every point is classified (checked every 25 iterations)."""
    a, b, c = param(1, -2, -1, names="a b c")  # the guide's starting parameters
    x, y, label = const(0, 0, 0, names="x y label")  # the example being learnt from
    score = a * x + b * y + c
    circuit = minimum(1, label * score)  # the hinge: its gradient is the guide's pull
    if regularise:
        circuit = circuit - (a * a + b * b) / 2  # pulls a and b toward zero by -a, -b

    def accuracy() -> float:
        hits = 0
        for (x.val, y.val), truth in DATA:
            hits += (score.compute() > 0) == (truth > 0)
        return hits / len(DATA)

    rng = random.Random(seed)
    reached = None
    for iteration in range(iterations):
        (x.val, y.val), label.val = rng.choice(DATA)
        circuit.backprop(lr)  # forward, backward, and a, b, c += lr * gradient
        if iteration % 25 == 0:
            correct = accuracy()
            if iteration < 400 or iteration % 1000 == 0 or correct == 1.0:
                print(f"training accuracy at iteration {iteration}: {correct:.4f}")
            if correct == 1.0:
                reached = iteration
                break
    final = accuracy()
    wrong = []
    for (x.val, y.val), truth in DATA:
        if (score.compute() > 0) != (truth > 0):
            wrong.append((x.val, y.val))
    print(
        f"a, b, c = {a.val:.2f}, {b.val:.2f}, {c.val:.2f}: training accuracy {final:.4f}"
        + (f" (misclassified: {', '.join(map(str, wrong))})" if wrong else "")
    )
    return {"a": a.val, "b": b.val, "c": c.val, "accuracy": final, "reached": reached}


def save_picture(path: str, runs: dict[str, dict]) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")
        return
    matplotlib.use("Agg")  # no window: draw to a file
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 5))
    for (px, py), truth in DATA:
        axes.scatter(px, py, c="tab:blue" if truth > 0 else "tab:red", s=60, zorder=3)
    xs = [-4.0, 4.0]
    for (name, run), style in zip(runs.items(), ["-", "--"], strict=False):
        a, b, c = run["a"], run["b"], run["c"]
        axes.plot(xs, [-(a * x + c) / b for x in xs], "k" + style, label=name)
    axes.set(xlim=(-4, 4), ylim=(-4, 4), xlabel="x", ylabel="y")
    axes.set_title("linear SVM: blue +1, red -1; a*x + b*y + c = 0")
    axes.legend(loc="lower left")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved the decision boundaries to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default="svm_2d.png", help="where to save the picture")
    options = parser.parse_args()
    print("1. the hinge's pull only, step 0.1")
    plain = train(regularise=False, lr=0.1, iterations=20_000)
    print("\n2. with the guide's regularisation pull -a, -b, step 0.01")
    regularised = train(regularise=True, lr=0.01, iterations=4_000)
    save_picture(options.picture, {"hinge only": plain, "with regularisation": regularised})


if __name__ == "__main__":
    main()
