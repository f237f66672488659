"""A loss summed over the rows of Dask arrays -> fitted parameters: full batch or by chunks.

minimize(): every iteration evaluates the loss and its gradient over all the rows (one
loss.value_and_grad call with the Dask arrays: a pass over every chunk on the active
scheduler); scipy.optimize.minimize through a flat vector of the parameters (L-BFGS-B by
default), or an exprgrad optimiser taking full-batch steps. fit_chunks(): minibatch
descent where each step is one chunk of rows, in a seeded shuffled order each epoch.
Both take numpy data too (minimize calls loss.value_and_grad with it as it is; fit_chunks
with the numpy arrays' row blocks). Written against the public API, as a user's code is.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ArgumentError, ArgumentValueError
from .checks import _check_count, _check_seed
from .history import History
from .progress import _progress


def minimize(
    loss: Any,
    params: Mapping[str, Any],
    data: Mapping[str, Any],
    *,
    method: str | Any = "L-BFGS-B",
    max_iter: int = 200,
    tol: float = 1e-12,
    fixed: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> History:
    """Minimise a loss over all of data (full batch): the loss is the formula's value at
    the parameters, with data's columns (Dask arrays, chunked along their rows) and fixed
    as its other inputs. method: a scipy.optimize.minimize method that uses gradients
    ("L-BFGS-B", "BFGS", "CG"), or an exprgrad optimiser (SGD(lr=...), Adam(...)) taking
    max_iter full-batch steps. History: train_loss and step_loss hold each iteration's
    loss; params the result (arrays copied as float64, scalars as floats)."""
    names, start, shapes = _start(loss, params)
    inputs = {**dict(fixed or {}), **dict(data)}
    _check_count(max_iter, "max_iter")
    history = History(params={})
    bar = _progress(progress, max_iter)

    def evaluate(current: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        value, grads = loss.value_and_grad(**inputs, **current)
        return float(value), grads

    try:
        if isinstance(method, str):
            result = _scipy(evaluate, names, start, shapes, method, max_iter, tol, history, bar)
        elif callable(getattr(method, "step", None)):
            result = _steps(evaluate, names, start, shapes, method, max_iter, history, bar)
        else:
            raise ArgumentError(f"method must be a scipy method name or an optimiser: {method!r}")
    finally:
        if bar is not None:
            bar.close()
    history.params = result
    return history


def _start(loss: Any, params: Mapping[str, Any]) -> tuple[list[str], Any, list[tuple]]:
    import numpy as np

    if not isinstance(params, Mapping) or not params:
        raise ArgumentValueError("params must be a non-empty dict of parameter name -> value")
    for name in params:
        if name not in getattr(loss, "wrt", ()):
            raise ArgumentValueError(
                f"parameter {name!r} is not differentiated by the loss; compile it with "
                f"wrt={list(params)!r}"
            )
    names = list(params)
    arrays = [np.asarray(params[n], dtype=np.float64) for n in names]
    start = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    return names, start, [a.shape for a in arrays]


def _unflatten(vector: Any, names: list[str], shapes: list[tuple]) -> dict[str, Any]:
    out, at = {}, 0
    for name, shape in zip(names, shapes, strict=True):
        size = math.prod(shape)
        part = vector[at : at + size]
        out[name] = float(part[0]) if shape == () else part.reshape(shape).copy()
        at += size
    return out


def _flatten(grads: Mapping[str, Any], names: list[str]) -> Any:
    import numpy as np

    return np.concatenate([np.asarray(grads[n], dtype=np.float64).ravel() for n in names])


def _scipy(evaluate, names, start, shapes, method, max_iter, tol, history, bar):
    try:
        from scipy.optimize import minimize as scipy_minimize
    except ImportError:
        raise ArgumentError(
            f"method={method!r} needs scipy (pip install scipy), or pass an exprgrad "
            "optimiser such as SGD(lr=0.1)"
        ) from None

    def fun(vector):
        value, grads = evaluate(_unflatten(vector, names, shapes))
        history.step_loss.append(value)
        return value, _flatten(grads, names)

    def iteration(intermediate_result) -> None:
        history.train_loss.append(float(intermediate_result.fun))
        if bar is not None:
            bar.step()
            bar.epoch(len(history.train_loss) - 1, max_iter, history)

    options = {"maxiter": max_iter}
    if method.upper() == "L-BFGS-B":
        options.update(ftol=tol, gtol=tol)
    result = scipy_minimize(fun, start, jac=True, method=method, callback=iteration,
                            tol=tol, options=options)  # fmt: skip
    return _unflatten(result.x, names, shapes)


def _steps(evaluate, names, start, shapes, optimizer, max_iter, history, bar):
    current = _unflatten(start, names, shapes)
    for step in range(max_iter):
        value, grads = evaluate(current)
        history.step_loss.append(value)
        history.train_loss.append(value)
        optimizer.step(current, grads)
        if bar is not None:
            bar.step()
            bar.epoch(step, max_iter, history)
    return current


def fit_chunks(
    loss: Any,
    params: Mapping[str, Any],
    data: Mapping[str, Any],
    *,
    epochs: int,
    optimizer: Any,
    schedule: Callable[[int], float] | None = None,
    fixed: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    progress: bool | None = None,
    callback: Callable[[int, dict[str, Any], History], Any] | None = None,
) -> History:
    """Minibatch descent whose batches are the chunks of rows of data's Dask arrays (all
    chunked alike along their rows; the first one's row chunks are used): each step is one
    loss.value_and_grad call on one chunk, computed where the chunk is, then
    optimizer.step. Write mean(...) over the rows so that the step does not grow with the
    chunk. schedule(epoch) gives the learning rate. History as fit()'s: step_loss per
    chunk, train_loss per epoch (the steps' losses weighted by their rows)."""
    names, start, shapes = _start(loss, params)
    _check_count(epochs, "epochs")
    _check_seed(seed)
    if not callable(getattr(optimizer, "step", None)):
        raise ArgumentError(f"optimizer must have a step(params, grads, lr) method: {optimizer!r}")
    if not data:
        raise ArgumentValueError("data must hold at least one column, chunked along its rows")
    columns = dict(data)
    row_chunks = _row_chunks(next(iter(columns.values())))
    bounds = [0]
    for n in row_chunks:
        bounds.append(bounds[-1] + n)
    chunks = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    current = _unflatten(start, names, shapes)
    history = History(params=current)
    order = list(range(len(chunks)))
    shuffle = random.Random(seed)
    bar = _progress(progress, epochs * len(chunks))
    try:
        for epoch in range(epochs):
            lr = None if schedule is None else schedule(epoch)
            history.lr.append(getattr(optimizer, "lr", math.nan) if lr is None else lr)
            shuffle.shuffle(order)
            total = 0.0
            for i in order:
                a, b = chunks[i]
                batch = {name: column[a:b] for name, column in columns.items()}
                value, grads = loss.value_and_grad(**dict(fixed or {}), **batch, **current)
                optimizer.step(current, grads, lr)
                history.step_loss.append(float(value))
                total += float(value) * (b - a)
                if bar is not None:
                    bar.step()
            history.train_loss.append(total / bounds[-1])
            if bar is not None:
                bar.epoch(epoch, epochs, history)
            if callback is not None and callback(epoch, current, history) is True:
                history.stopped_early = True
                break
    finally:
        if bar is not None:
            bar.close()
    return history


def _row_chunks(column: Any) -> tuple[int, ...]:
    chunks = getattr(column, "chunks", None)
    if chunks is None:  # a numpy array: one chunk
        return (len(column),)
    return tuple(chunks[0])
