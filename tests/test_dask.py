"""Formulas summed over the rows of Dask arrays (core/rows.py, tools/over_dask.py,
train/dask_fit.py): the same value and gradient as numpy on the whole data, on threads and
on a 2-process LocalCluster; formulas that are not sums over rows refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import exprgrad
from exprgrad import train

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from exprgrad.tools import over_dask  # noqa: E402 (after the skip: it imports dask)

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(7)
N = 1003  # chunks of 250 leave a short last chunk
X = RNG.normal(size=(N, 3))
Y = (RNG.uniform(size=N) < 1 / (1 + np.exp(-X @ [1.0, -1.0, 0.5]))).astype(np.float64)
K = RNG.poisson(2.0, size=N).astype(np.float64)
POINT = {"w": np.array([0.3, -0.5, 0.2]), "b": 0.1, "lam": 0.25, "c": 1.5}


def chunked(x=X, y=Y, k=K, rows=250):
    return {
        "X": da.from_array(x, chunks=(rows, x.shape[1])),
        "y": da.from_array(y, chunks=rows + 17),  # chunked unlike X: aligned to X's rows
        "k": da.from_array(k, chunks=rows),
    }


def call(f, data):
    point = {**POINT, **data}
    return f.value_and_grad(**{n: point[n] for n in f.inputs})


def assert_same(f, *, rows=250, x=X, rtol=1e-12):
    want_value, want = call(f, {"X": x, "y": Y, "k": K})
    value, grads = call(f, chunked(x=x, rows=rows))
    assert np.isclose(value, want_value, rtol=rtol, atol=1e-12)
    assert set(grads) == set(want)
    # the data's gradients: Dask arrays, all chunked alike along the rows
    row_chunks = {grads[n].chunks[0] for n in want if n in ("X", "y", "k")}
    assert len(row_chunks) <= 1
    for name, grad in want.items():
        got = grads[name]
        assert isinstance(got, da.Array) == (name in ("X", "y", "k"))
        got = np.asarray(got)
        assert got.shape == np.shape(grad)
        np.testing.assert_allclose(got, grad, rtol=rtol, atol=1e-12)


SUMS = [
    "z = X @ w + b; sum(softplus(z) - y * z)",  # logistic
    "z = X @ w + b; mean(softplus(z) - y * z) + lam * norm2(w)",  # a penalty: counted once
    "z = X @ w + b; mean(exp(z) - k * z)",  # Poisson
    "norm2(X @ w - y) / 2 - lam * sum(w) + c",  # norm2 over rows; constant terms
    "mean((X - w)**2) * c",  # a mean over every axis: over all rows and columns
    "sum(sum(X * w, 1) * y) - 3 * mean(y)",  # reduced across a row first
    "y @ (X @ w) + sum(log_softmax(X, 1) @ w)",  # @ over the rows; softmax within a row
    "sum(transpose(X) * transpose(X), 1) @ w / 2",  # rows on the second axis
    "s = sum(X, 0); s @ w - where(c > 1, sum(s), b)",  # a branch picked by a parameter
]


@pytest.mark.parametrize("formula", SUMS)
def test_a_sum_over_rows_is_the_numpy_result(formula):
    f = exprgrad.compile(formula, backend="numpy")
    assert_same(f)


def test_one_chunk_many_chunks_and_the_value_alone():
    f = exprgrad.compile("z = X @ w + b; mean(softplus(z) - y * z)", wrt="w,b", backend="numpy")
    for rows in (N, 100, 37):
        assert_same(f, rows=rows)
    data = chunked()
    want = f(X=X, y=Y, w=POINT["w"], b=0.1)
    assert np.isclose(f(X=data["X"], y=data["y"], w=POINT["w"], b=0.1), want, rtol=1e-13)


def test_float32_data_compute_in_float32():
    f = exprgrad.compile("mean((X @ w - y)**2)", wrt="w", backend="numpy")
    x32 = X.astype(np.float32)
    w32 = POINT["w"].astype(np.float32)
    data = chunked(x=x32)
    value, grads = f.value_and_grad(X=data["X"], y=data["y"].astype(np.float32), w=w32)
    want_value, want = f.value_and_grad(X=x32, y=Y.astype(np.float32), w=w32)
    assert grads["w"].dtype == np.float32
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    np.testing.assert_allclose(grads["w"], want["w"], rtol=1e-5)


REFUSED = {
    "amax(X @ w)": "amax over the rows",
    "logsumexp(X @ w)": "logsumexp over the rows",
    "sum(X @ w)**2": "of a sum over rows",
    "s = sum(X @ w); s * s": "of a sum over rows",  # the same, through a name
    "sum(X @ w) * sum(y)": "of a sum over rows",  # a product of sums
    "log(sum(exp(X @ w)))": "log of a sum over rows",
    "sum((X - mean(X, 0)) @ w)": "mixes each row with a sum over all the rows",
    "sum(softmax(X @ w))": "softmax across the rows",
    "sum(X @ transpose(X))": "pairs every row with every other",
    "X @ w": "a value per row",
}


@pytest.mark.parametrize("formula", REFUSED)
def test_a_formula_that_is_not_a_sum_over_rows_is_refused(formula):
    f = exprgrad.compile(formula, backend="numpy")
    point = {**POINT, **chunked()}
    with pytest.raises(exprgrad.FormulaError) as error:
        f.value_and_grad(**{n: point[n] for n in f.inputs})
    assert REFUSED[formula] in str(error.value)
    if REFUSED[formula]:
        assert "not a sum over rows" in str(error.value)


def test_the_refusal_reads_the_ir_not_the_text():
    # the same reductions, the same text around them: only the IR tells them apart
    ok = exprgrad.compile("s = sum(X @ w); s + s", backend="numpy")
    assert_same(ok)
    squared = exprgrad.compile("s = sum(X @ w); s * s", backend="numpy")
    with pytest.raises(exprgrad.FormulaError):
        squared.value_and_grad(X=chunked()["X"], w=POINT["w"])


def test_arguments_that_do_not_line_up_are_errors():
    f = exprgrad.compile("sum(X @ w - y)", backend="numpy")
    with pytest.raises(exprgrad.ArgumentValueError, match="same known number of rows"):
        f.value_and_grad(X=chunked()["X"], y=da.ones(N - 1, chunks=100), w=POINT["w"])
    with pytest.raises(exprgrad.ArgumentError, match="missing"):
        f.value_and_grad(X=chunked()["X"], w=POINT["w"])


def test_the_core_never_imports_dask():
    code = (
        "import sys, numpy as np, exprgrad\n"
        "from exprgrad import train\n"
        "f = exprgrad.compile('sum((X @ w - y)**2)', backend='numpy')\n"
        "f.value_and_grad(X=np.ones((4, 2)), y=np.ones(4), w=np.ones(2))\n"
        "exprgrad.compile('x*y').value_and_grad(x=1, y=2)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_minimize_and_fit_chunks_fit_the_same_coefficients_as_numpy():
    f = exprgrad.compile("z = X @ w + b; mean(softplus(z) - y * z)", wrt="w,b", backend="numpy")
    start = {"w": np.zeros(3), "b": 0.0}
    whole = train.minimize(f, start, {"X": X, "y": Y}).params
    data = {"X": chunked()["X"], "y": chunked()["y"]}
    fitted = train.minimize(f, start, data, progress=False)
    assert np.abs(fitted.params["w"] - whole["w"]).max() < 1e-8
    assert abs(fitted.params["b"] - whole["b"]) < 1e-8
    assert fitted.train_loss[-1] < fitted.train_loss[0]
    steps = train.minimize(f, start, data, method=train.SGD(lr=1.0), max_iter=20)
    assert len(steps.train_loss) == 20 and steps.train_loss[-1] < steps.train_loss[0]
    even = chunked(rows=251)  # four chunks: no 3-row minibatch pulling the steps about
    by_chunk = train.fit_chunks(
        f, start, {"X": even["X"], "y": even["y"]}, epochs=40, optimizer=train.Adam(lr=0.02)
    )
    assert len(by_chunk.step_loss) == 40 * 4
    assert np.abs(by_chunk.params["w"] - whole["w"]).max() < 0.01
    assert start["w"].tolist() == [0.0, 0.0, 0.0]  # not modified


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


def test_a_local_cluster_of_two_processes_gives_the_numpy_result(cluster):
    f = exprgrad.compile("z = X @ w + b; mean(exp(z) - k * z) + lam * norm2(w)", backend="numpy")
    for _ in range(2):  # the second call compiles nothing new
        assert_same(f, rows=100)
    workers = cluster.run(lambda: over_dask.builds)
    assert len(workers) == 2
    # 11 chunks on 2 workers: each compiled the chunk code once (for the parameters' and
    # the data's gradients alike: one kernel), not once per chunk or per call
    assert all(count <= 1 for count in workers.values()), workers
    assert sum(workers.values()) >= 1
    refused = exprgrad.compile("amax(X @ w)", backend="numpy")
    with pytest.raises(exprgrad.FormulaError, match="not a sum over rows"):
        refused.value_and_grad(X=chunked()["X"], w=POINT["w"])


def test_the_example_fits_both_families_to_1e_6():
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "dask_glm.py"), "--rows", "100000",
         "--chunk", "25000"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "every coefficient agrees to 1e-06" in out.stdout
    assert out.stdout.count("Newton on the same rows") == 2


def test_numpy_arrays_as_long_as_the_rows_are_data_when_the_formula_sums_over_them():
    f = exprgrad.compile("z = X @ w + b; mean(softplus(z) - y * z)", backend="numpy")
    assert_same(f)  # y chunked, as reference
    value, grads = f.value_and_grad(X=chunked()["X"], y=Y, w=POINT["w"], b=0.1)
    want_value, want = f.value_and_grad(X=X, y=Y, w=POINT["w"], b=0.1)
    assert np.isclose(value, want_value, rtol=1e-13)
    assert isinstance(grads["y"], da.Array)
    np.testing.assert_allclose(np.asarray(grads["y"]), want["y"], rtol=1e-12)
    # with 3 rows, w is as long as the rows: the formula has it as a parameter, y as data
    short = {"X": X[:3], "y": Y[:3], "w": POINT["w"], "b": 0.1}
    value, grads = f.value_and_grad(**short | {"X": da.from_array(X[:3], chunks=(2, 3))})
    want_value, want = f.value_and_grad(**short)
    assert np.isclose(value, want_value, rtol=1e-13)
    assert not isinstance(grads["w"], da.Array)
    np.testing.assert_allclose(grads["w"], want["w"], rtol=1e-12)


def test_methods_that_do_not_sum_over_chunks_refuse_dask_arrays():
    f = exprgrad.compile("sum(X @ w)", backend="numpy")
    with pytest.raises(exprgrad.ArgumentError, match="Dask collection"):
        f.vjp(1.0, X=chunked()["X"], w=POINT["w"])
