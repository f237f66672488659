"""Logistic and Poisson regression written as formulas, fitted over 10^7 rows of Dask arrays.

The data set is synthetic and made chunk by chunk where the chunk is computed (a seeded
numpy generator per chunk), never whole on the driver: 4 standard normal features, a
0/1 label drawn from sigmoid(X @ beta + b) and a count drawn from Poisson(exp(X @ gamma
+ c)). Each model is one formula, its value a mean over the rows,

    z = X @ w + b;  mean(softplus(z) - y * z)        # logistic: cross-entropy
    z = X @ w + b;  mean(exp(z) - k * z)             # Poisson: negative log-likelihood

and exprgrad.train.minimize fits it with L-BFGS: each iteration one value_and_grad call
with the Dask arrays, summed chunk by chunk on the active Dask scheduler. Two checks,
each to 1e-6 in every coefficient: Newton's method on the same 10^7 rows with the
hand-written gradient and Hessian of each family (as dask-glm writes them), and
scikit-learn on a subsample that fits in memory (the first chunk), fitted again with
exprgrad on that subsample.

    python examples/dask_glm.py [--rows 10000000] [--chunk 500000] [--workers 0]

--workers N > 0 starts a dask.distributed LocalCluster of N worker processes (and keeps
the generated chunks in their memory); 0 uses Dask's threads in this process.
"""

import argparse
import time

import dask
import dask.array as da
import numpy as np

import exprgrad
from exprgrad import train

FEATURES = 4
TRUE = {
    "logistic": (np.array([0.5, -1.0, 0.25, 0.0]), 0.3),
    "poisson": (np.array([0.3, -0.2, 0.1, 0.05]), 0.5),
}
LOSSES = {
    "logistic": "z = X @ w + b; mean(softplus(z) - y * z)",
    "poisson": "z = X @ w + b; mean(exp(z) - y * z)",
}
TOLERANCE = 1e-6


def make_features(seed: int, index: int, rows: int) -> np.ndarray:
    """Chunk `index` of the features: its own seeded generator, so any chunk can be made
    anywhere, in any order, again."""
    return np.random.default_rng([seed, 0, index]).standard_normal((rows, FEATURES))


def make_targets(x: np.ndarray, family: str, seed: int, block_id=(0,)) -> np.ndarray:
    """The chunk's 0/1 labels or counts, drawn from the family's model at its features."""
    rng = np.random.default_rng([seed, 1 if family == "logistic" else 2, block_id[0]])
    w, b = TRUE[family]
    z = x @ w + b
    if family == "logistic":
        return (rng.uniform(size=len(x)) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return rng.poisson(np.exp(z)).astype(np.float64)


def synthetic(rows: int, chunk: int, seed: int = 0) -> tuple[da.Array, da.Array, da.Array]:
    """The data set as Dask arrays (features, labels, counts): each chunk a task."""
    blocks = []
    for index, start in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - start)
        made = dask.delayed(make_features, pure=True)(seed, index, n)
        blocks.append(da.from_delayed(made, (n, FEATURES), dtype=np.float64))
    x = da.concatenate(blocks)
    labels, counts = (
        x.map_blocks(make_targets, family, seed, drop_axis=1, dtype=np.float64)
        for family in ("logistic", "poisson")
    )
    return x, labels, counts


def fit(family: str, x, y) -> dict:
    loss = exprgrad.compile(LOSSES[family], wrt="w,b", backend="numpy")
    start = {"w": np.zeros(FEATURES), "b": 0.0}
    history = train.minimize(loss, start, {"X": x, "y": y}, max_iter=100, progress=False)
    return history.params


def newton(family: str, x, y, iterations: int = 20) -> dict:
    """The reference: Newton's method with each family's hand-written gradient and Hessian
    (of the mean loss, intercept last), every sum a Dask reduction over the chunks."""
    n = x.shape[0]
    ones = da.ones((n, 1), chunks=(x.chunks[0], 1))
    x1 = da.concatenate([x, ones], axis=1).rechunk({1: -1})
    theta = np.zeros(FEATURES + 1)
    for _ in range(iterations):
        z = x1 @ theta
        mean = 1 / (1 + da.exp(-z)) if family == "logistic" else da.exp(z)
        weight = mean * (1 - mean) if family == "logistic" else mean
        gradient, hessian = dask.compute(x1.T @ (mean - y) / n, (x1 * weight[:, None]).T @ x1 / n)
        step = np.linalg.solve(hessian, gradient)
        theta = theta - step
        if np.abs(step).max() < 1e-13:
            break
    return {"w": theta[:FEATURES], "b": float(theta[FEATURES])}


def scikit_learn(family: str, x: np.ndarray, y: np.ndarray) -> dict | None:
    try:
        from sklearn.linear_model import LogisticRegression, PoissonRegressor
    except ImportError:
        return None
    if family == "logistic":
        model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=100)
        model.fit(x, y)
        return {"w": model.coef_[0], "b": float(model.intercept_[0])}
    model = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-12, max_iter=100)
    model.fit(x, y)
    return {"w": model.coef_, "b": float(model.intercept_)}


def difference(a: dict, b: dict) -> float:
    return max(float(np.abs(a["w"] - b["w"]).max()), abs(a["b"] - b["b"]))


def shown(params: dict) -> str:
    return "w = [" + ", ".join(f"{v:+.6f}" for v in params["w"]) + f"], b = {params['b']:+.6f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the data set")
    parser.add_argument("--chunk", type=int, default=500_000, help="rows per chunk")
    parser.add_argument("--workers", type=int, default=0, help="LocalCluster worker processes")
    options = parser.parse_args()

    client = None
    if options.workers > 0:
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=options.workers, threads_per_worker=1)
        client = Client(cluster)
    try:
        x, labels, counts = synthetic(options.rows, options.chunk)
        if client is not None:
            x, labels, counts = client.persist([x, labels, counts])
        print(f"{options.rows:,} rows in {x.numblocks[0]} chunks of {options.chunk:,}")
        failed = False
        for family, y in (("logistic", labels), ("poisson", counts)):
            began = time.perf_counter()
            fitted = fit(family, x, y)
            took = time.perf_counter() - began
            print(f"{family}: {shown(fitted)}  ({took:.1f} s)")
            reference = newton(family, x, y)
            gap = difference(fitted, reference)
            print(f"  Newton on the same rows: {shown(reference)}  (differs by {gap:.1e})")
            failed |= gap > TOLERANCE
            rows = min(options.chunk, options.rows)
            sample_x, sample_y = dask.compute(x[:rows], y[:rows])
            sklearn = scikit_learn(family, sample_x, sample_y)
            if sklearn is None:
                print("  scikit-learn is not installed: no subsample check")
                continue
            quarter = rows // 4 + 1  # the same rows, in 4 chunks, where they already are
            mine = fit(family, x[:rows].rechunk((quarter, FEATURES)), y[:rows].rechunk(quarter))
            gap = difference(mine, sklearn)
            print(f"  scikit-learn on the first {rows:,} rows: differs by {gap:.1e}")
            failed |= gap > TOLERANCE
        print("FAILED" if failed else f"every coefficient agrees to {TOLERANCE:g}")
    finally:
        if client is not None:
            client.close()
            cluster.close()
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
