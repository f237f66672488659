"""Linear regression with exprgrad.train.fit: learn Fahrenheit = 1.8 * Celsius + 32.

The data are 100 temperatures drawn (seeded) between -40 and 100 degrees Celsius, each
with its exact Fahrenheit value. The loss of one example is the squared error of the
line w*celsius + b, compiled with wrt="w,b" so the backward code skips the data; fit()
runs minibatch Adam over it. Adam scales each parameter's step by its own gradient
history, which matters here: the slope's gradient is about 50 times the intercept's
(it is multiplied by celsius), so plain SGD would crawl along b.

    python examples/celsius_fahrenheit.py [--picture celsius_fahrenheit.png]

With matplotlib installed, it saves the loss curve.
"""

import argparse
import random

import exprgrad
from exprgrad import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default="celsius_fahrenheit.png", help="picture file")
    options = parser.parse_args()

    rng = random.Random(0)
    celsius = [rng.uniform(-40.0, 100.0) for _ in range(100)]
    data = {"celsius": celsius, "fahrenheit": [1.8 * c + 32.0 for c in celsius]}  # columns

    loss = exprgrad.compile("(w*celsius + b - fahrenheit)**2", wrt="w,b")
    history = train.fit(
        loss,
        {"w": 0.0, "b": 0.0},
        data,
        epochs=200,
        batch_size=10,
        optimizer=train.Adam(lr=0.5),
        seed=0,
    )
    w, b = history.params["w"], history.params["b"]
    print(f"epoch   1: mean squared error {history.train_loss[0]:.6g}")
    print(f"epoch {history.epochs}: mean squared error {history.train_loss[-1]:.6g}")
    print(f"learnt: fahrenheit = {w:.6f} * celsius + {b:.6f}  (exact: 1.8 and 32)")
    for c in (-40.0, 0.0, 37.0, 100.0):
        print(f"  {c:6.1f} C -> {w * c + b:7.2f} F")
    save_picture(options.picture, history)


def save_picture(path: str, history: train.History) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")
        return
    matplotlib.use("Agg")  # no window: draw to a file
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    epochs = range(1, history.epochs + 1)
    axes.semilogy(epochs, [max(v, 1e-30) for v in history.train_loss])
    axes.set(xlabel="epoch", ylabel="mean squared error (log scale)")
    axes.set_title("Celsius to Fahrenheit: Adam, batches of 10")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved the loss curve to {path}")


if __name__ == "__main__":
    main()
