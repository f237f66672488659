"""Gradient evaluations over Dask arrays: exprgrad's chunked value_and_grad against numpy
in one process and against dask-glm's hand-written logistic gradient.

The loss is the logistic regression of examples/dask_glm.py on --rows rows (default
10^7) of 4 features, z = X @ w + b; mean(softplus(z) - y * z); one evaluation is its
value and its gradient in w and b. The rows:

    numpy, one process       f.value_and_grad on the whole numpy arrays
    hand numpy, one process  the same loss and gradient written by hand in numpy
    dask threads             f.value_and_grad with the Dask arrays, the threaded scheduler
    LocalCluster, N workers  the same on a dask.distributed cluster of N worker processes
                             of one thread each, the chunks held in the workers' memory
    dask-glm, N workers      dask_glm.families.Logistic's loglike and gradient (hand
                             written) on the same Dask arrays and cluster, one compute

Every evaluation is checked against the numpy one before timing (rel tol 1e-9). Times
are the best of --repeats: wall-clock, and CPU time (this process's and every worker's,
all threads: on a machine other jobs keep busy, the wall-clock of a worker waiting for a
core means little, its CPU time still gives rows per second per worker). Then the peak
memory (VmHWM) of each worker of a fresh 2-worker cluster that generates the chunks as it
goes (nothing persisted), for two chunk sizes: the peak follows the chunk, not the rows.
dask-glm is used when it imports (it needs sparse and numba); otherwise its rows say so.
Run by hand from the repository root (not a test):

    python benchmarks/bench_dask.py [--rows 10000000] [--chunk 500000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from functools import partial

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one BLAS thread: the workers are the parallelism

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

import cloudpickle  # noqa: E402
import dask  # noqa: E402
import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
from distributed import Client, LocalCluster, wait  # noqa: E402

import exprgrad  # noqa: E402

# the data of examples/dask_glm.py, loaded under another name (dask_glm is dask-glm's),
# and pickled by value: the workers cannot import it
_path = Path(__file__).resolve().parent.parent / "examples" / "dask_glm.py"
_spec = importlib.util.spec_from_file_location("glm_example", _path)
example = importlib.util.module_from_spec(_spec)
sys.modules["glm_example"] = example
_spec.loader.exec_module(example)
cloudpickle.register_pickle_by_value(example)
FEATURES, synthetic = example.FEATURES, example.synthetic

LOSS = "z = X @ w + b; mean(softplus(z) - y * z)"
W = np.array([0.4, -0.8, 0.2, 0.1])
B = 0.2


def hand_numpy(x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    z = x @ W + B
    p = 1 / (1 + np.exp(-z))
    value = np.mean(np.logaddexp(0, z) - y * z)
    r = (p - y) / len(y)
    return value, {"w": x.T @ r, "b": r.sum()}


def dask_glm_evaluation(x, y):
    """dask-glm's Logistic: loglike (a sum) and gradient (X.T @ (sigmoid - y)), with the
    intercept as a column of ones, scaled to the mean as exprgrad's loss is."""
    from dask_glm.families import Logistic

    n = x.shape[0]
    x1 = da.concatenate([x, da.ones((n, 1), chunks=(x.chunks[0], 1))], axis=1)
    beta = np.append(W, B)

    def evaluate():
        xbeta = x1.dot(beta)
        value, gradient = dask.compute(Logistic.loglike(xbeta, y), Logistic.gradient(xbeta, x1, y))
        return value / n, {"w": gradient[:FEATURES] / n, "b": gradient[FEATURES] / n}

    return evaluate


def best(evaluate, repeats: int, client=None) -> tuple[float, float]:
    """The best wall-clock time of an evaluation, and the CPU time it took in this process
    and the workers (the CPU time stays true on a busy machine; the wall-clock does not)."""
    times, cpu = [], []
    for _ in range(repeats):
        began, began_cpu = time.perf_counter(), _cpu(client)
        evaluate()
        times.append(time.perf_counter() - began)
        cpu.append(_cpu(client) - began_cpu)
    return min(times), min(cpu)


def _cpu(client) -> float:
    """CPU seconds of this process and of every worker (all their threads)."""
    workers = client.run(time.process_time).values() if client is not None else ()
    return time.process_time() + sum(workers)


def check(name: str, got: tuple, want: tuple) -> None:
    assert np.isclose(got[0], want[0], rtol=1e-9), (name, got[0], want[0])
    for key in ("w", "b"):
        assert np.allclose(np.asarray(got[1][key]), want[1][key], rtol=1e-9, atol=1e-15), name


def row(name: str, seconds: float, rows: int) -> None:
    print(
        f"| {name:<28} | {1 / seconds:9.2f} | {seconds * 1e3:9.1f} | {rows / seconds / 1e6:9.1f} |"
    )


def worker_peaks(rows: int, chunk: int) -> list[float]:
    """VmHWM (MiB) of each worker of a fresh 2-worker cluster after 3 evaluations over
    chunks generated as they are needed."""
    f = exprgrad.compile(LOSS, wrt="w,b", backend="numpy")
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        x, y, _ = synthetic(rows, chunk)
        for _ in range(3):
            f.value_and_grad(X=x, y=y, w=W, b=B)
        peaks = client.run(_vmhwm)
    return sorted(peaks.values())


def _vmhwm() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def in_one_process(f, whole: dict, chunk: int, timed) -> None:
    """The rows computed in this process: numpy on the whole arrays, then Dask's threads."""
    timed("numpy, one process", lambda: f.value_and_grad(**whole, w=W, b=B))
    timed("hand numpy, one process", lambda: hand_numpy(whole["X"], whole["y"]))
    local = {
        "X": da.from_array(whole["X"], (chunk, FEATURES)),
        "y": da.from_array(whole["y"], chunk),
    }
    with dask.config.set(scheduler="threads"):
        timed("dask threads", lambda: f.value_and_grad(**local, w=W, b=B))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    rows, chunk = options.rows, options.chunk
    machine = platform.processor() or platform.machine()
    print(f"{machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}, ", end="")
    print(f"numpy {np.__version__}, dask {dask.__version__}")
    print(f"{rows:,} rows of {FEATURES} features in chunks of {chunk:,}; {LOSS}\n")

    f = exprgrad.compile(LOSS, wrt="w,b", backend="numpy")
    x, y, _ = synthetic(rows, chunk)
    whole = dict(zip("Xy", dask.compute(x, y), strict=True))  # for the one-process rows
    want = f.value_and_grad(**whole, w=W, b=B)

    def timed(name: str, evaluate, client=None) -> None:
        check(name, evaluate(), want)
        seconds, cpu = best(evaluate, options.repeats, client)
        print(f"| {name:<24} | {1 / seconds:7.2f} | {seconds * 1e3:7.0f} | ", end="")
        print(f"{rows / seconds / 1e6:7.1f} | {cpu * 1e3:7.0f} | {rows / cpu / 1e6:7.1f} |")

    print("| evaluation (value + grad) | evals/s | ms/eval | Mrows/s | CPU ms  | Mrows/CPU s |")
    print("|--------------------------|---------|---------|---------|---------|-------------|")
    in_one_process(f, whole, chunk, timed)
    whole.clear()  # the workers hold their own chunks

    try:
        import dask_glm.families  # noqa: F401
    except ImportError as error:
        missing = f"dask-glm does not import here ({error}): no dask-glm rows"
    else:
        missing = None
    for workers in (1, 2):
        label = f"{workers} worker{'s' * (workers > 1)}"
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as c,
            Client(c) as client,
        ):
            held = dict(zip("Xy", client.persist(list(synthetic(rows, chunk)[:2])), strict=True))
            wait(list(held.values()))
            evaluate = partial(f.value_and_grad, **held, w=W, b=B)
            timed(f"LocalCluster, {label}", evaluate, client)
            if missing is None:
                timed(f"dask-glm, {label}", dask_glm_evaluation(held["X"], held["y"]), client)
    if missing is not None:
        print(f"\n{missing}")

    print("\nPeak memory (VmHWM) per worker, 2 workers, chunks generated as needed:")
    for size in (chunk // 2, chunk * 2):
        peaks = worker_peaks(rows, size)
        mib = size * (FEATURES + 1) * 8 / 2**20
        shown = ", ".join(f"{p:.0f}" for p in peaks)
        print(f"  chunks of {size:>9,} rows ({mib:5.1f} MiB of data each): {shown} MiB")


if __name__ == "__main__":
    main()
