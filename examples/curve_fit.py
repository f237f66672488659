"""Fit a logistic growth curve to noisy data, twice: BFGS on the sum of squares
(scipy.optimize.minimize with f.flat) and least squares on the residuals
(scipy.optimize.least_squares with exprgrad.residuals and its Jacobian).

The model is y = K / (1 + exp(-r*(t - t0))): a population that grows at rate r
and levels off at K, with its steepest growth at t0. The data are 40 points of
it for K = 10, r = 1.2, t0 = 4, with Gaussian noise of standard deviation 0.2
(seeded, so every run prints the same numbers). Both fits recover the three
parameters to within about 0.1; the formulas are plain text, the gradient and
the Jacobian generated code.

    python examples/curve_fit.py [--picture curve_fit.png]

scipy is an optional extra (pip install scipy); with matplotlib installed, the
data and both fitted curves are saved as a picture (curve_fit.png unless
--picture names another file; --picture '' saves none).
"""

import argparse
import random
import sys

import exprgrad

TRUTH = {"K": 10.0, "r": 1.2, "t0": 4.0}
MODEL = "K / (1 + exp(-r*({t} - t0)))"


def data(count: int = 40, noise: float = 0.2, seed: int = 0) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    f = exprgrad.compile(MODEL.format(t="t"))
    points = []
    for k in range(count):
        t = 10.0 * k / (count - 1)
        points.append((t, f(t=t, **TRUTH) + rng.gauss(0.0, noise)))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--picture",
        default="curve_fit.png",
        help="save the data and the fits here, with matplotlib ('' for none)",
    )
    args = parser.parse_args()
    try:
        from scipy.optimize import least_squares, minimize
    except ImportError:
        sys.exit("this example needs scipy, an optional extra: pip install scipy")

    points = data()
    # one residual per point: the data are numbers written into the formula text
    residual_formulas = [f"{MODEL.format(t=repr(t))} - ({y!r})" for t, y in points]
    names = ["K", "r", "t0"]
    start = [max(y for _, y in points), 1.0, 5.0]

    # 1. BFGS on the sum of squares: one formula, value and gradient from f.flat
    loss = exprgrad.compile(" + ".join(f"({r})**2" for r in residual_formulas))
    fun = loss.flat(names)
    bfgs = minimize(fun, start, jac=True, method="BFGS")
    show("BFGS:         ", dict(zip(names, bfgs.x, strict=True)))

    # 2. least squares: residual vector and Jacobian, both generated code
    residuals = exprgrad.residuals(residual_formulas, wrt=names)
    fit = least_squares(residuals, start, jac=residuals.jac)
    show("least squares:", dict(zip(names, fit.x, strict=True)))
    show("truth:        ", TRUTH)
    print(f"sum of squares: BFGS {bfgs.fun:.5f}, least squares {2 * fit.cost:.5f}")

    if args.picture:
        picture(points, bfgs.x, fit.x, args.picture)


def show(label: str, params: dict[str, float]) -> None:
    print(label, ", ".join(f"{name} = {value:.4f}" for name, value in params.items()))


def picture(points, bfgs, fit, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no picture: matplotlib is not installed (pip install matplotlib)")
        return
    curve = exprgrad.compile(MODEL.format(t="t"))
    ts = [10.0 * k / 199 for k in range(200)]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot([t for t, _ in points], [y for _, y in points], "o", color="gray", label="data")
    for params, style, label in ((bfgs, "-", "BFGS"), (fit, "--", "least squares")):
        point = dict(zip(("K", "r", "t0"), params, strict=True))
        axes.plot(ts, [curve(t=t, **point) for t in ts], style, label=label)
    axes.set_xlabel("t")
    axes.set_ylabel("y")
    axes.legend()
    figure.savefig(path, dpi=100)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
