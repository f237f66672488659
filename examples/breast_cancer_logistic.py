"""Logistic regression on scikit-learn's breast cancer data, one formula of 30 weights.

The 569 tumours have 30 measurements each and a label, 1 benign or 0 malignant
(exprgrad.datasets.load_breast_cancer; needs scikit-learn). A stratified, seeded split
keeps a quarter for testing; each feature is standardised with the training rows'
mean and deviation. The model is one scalar formula with the 30 weights as named
inputs,

    z = w0*x0 + w1*x1 + ... + w29*x29 + b
    softplus(z) - y*z                      # the cross-entropy of sigmoid(z) against y

built with " + ".join(...) and compiled with wrt the weights. exprgrad.train gives the
rest: Xavier initial weights (train.init), minibatch SGD with momentum and decoupled
weight decay, a cosine learning-rate schedule, and fit() with a held-out tenth of the
training rows for a validation curve.

    python examples/breast_cancer_logistic.py [--picture breast_cancer_logistic.png]

With matplotlib installed, it saves the loss curves.
"""

import argparse

import exprgrad
from exprgrad import datasets, train

FEATURES = 30
WEIGHTS = [f"w{i}" for i in range(FEATURES)]
INPUTS = [f"x{i}" for i in range(FEATURES)]
SCORE = " + ".join(f"{w}*{x}" for w, x in zip(WEIGHTS, INPUTS, strict=True)) + " + b"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default="breast_cancer_logistic.png", help="picture file")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training data")
    options = parser.parse_args()

    features, labels = datasets.load_breast_cancer()
    x_train, x_test, y_train, y_test = datasets.train_test_split(
        features, labels, test_size=0.25, seed=0
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    print(f"{len(x_train)} training and {len(x_test)} test tumours, {FEATURES} features each")

    loss = exprgrad.compile(f"z = {SCORE}\nsoftplus(z) - y*z", wrt=[*WEIGHTS, "b"])
    score = exprgrad.compile(SCORE)  # z alone, to classify: z > 0 means benign
    columns = {x: x_train[:, i] for i, x in enumerate(INPUTS)} | {"y": y_train}
    params = train.init(WEIGHTS, "xavier_uniform", fan_in=FEATURES, fan_out=1, seed=0)
    params["b"] = 0.0
    history = train.fit(
        loss,
        params,
        columns,
        epochs=options.epochs,
        batch_size=32,
        optimizer=train.SGD(lr=0.1, momentum=0.9, weight_decay=0.01),
        schedule=train.Cosine(lr=0.1, total=options.epochs),
        validation=0.1,
        seed=0,
    )
    print(
        f"cross-entropy: epoch 1 {history.train_loss[0]:.4f} (validation "
        f"{history.val_loss[0]:.4f}), epoch {history.epochs} {history.train_loss[-1]:.4f} "
        f"(validation {history.val_loss[-1]:.4f})"
    )

    def accuracy(rows, truth) -> float:
        hits = 0
        for row, label in zip(rows, truth, strict=True):
            point = dict(zip(INPUTS, row.tolist(), strict=True))
            hits += (score(**history.params, **point) > 0) == (label == 1)
        return hits / len(truth)

    print(f"training accuracy {accuracy(x_train, y_train):.4f}")
    print(f"test accuracy {accuracy(x_test, y_test):.4f}")
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
    axes.plot(epochs, history.train_loss, label="training")
    axes.plot(epochs, history.val_loss, label="validation (a tenth held out)")
    axes.set(xlabel="epoch", ylabel="mean cross-entropy")
    axes.set_title("breast cancer: logistic regression, SGD + weight decay")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"saved the loss curves to {path}")


if __name__ == "__main__":
    main()
