"""fit(): minibatch gradient descent on the mean of a compiled loss over a data set.

Checks fit()'s arguments, picks the engine for the loss's backend, and runs the epochs:
schedule, shuffle, steps, validation, patience and the callback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ArgumentError, ArgumentValueError
from .checks import _check_count, _check_seed, _numpy_of
from .engine import _Engine
from .history import History
from .lists_engine import _ListEngine
from .nested import copied
from .numpy_engine import _ArrayEngine
from .progress import _progress
from .python_engine import _NumberEngine
from .schedules import _check_unit


def fit(
    loss: Any,
    params: Mapping[str, Any],
    data: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    epochs: int,
    batch_size: int,
    optimizer: Any,
    schedule: Callable[[int], float] | None = None,
    validation: float | Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    patience: int | None = None,
    seed: int | None = 0,
    progress: bool | None = None,
    callback: Callable[[int, dict[str, Any], History], Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> History:
    """Minibatch gradient descent on the mean of a compiled loss over a data set.

    loss: a compiled exprgrad Function of the parameters and the data inputs; compile it
        with wrt=list(params) so that the backward code does no work for the data.
    params: name -> initial value (a float; a numpy array with the numpy backend; nested
        lists with the lists backend); every name must be an input of loss and in
        loss.wrt. params is not modified: the trained values are history.params.
    data: examples, each a dict of the loss's other inputs (extra keys are ignored), or a
        dict of columns (input -> sequence of values, one per example).
    epochs, batch_size: passes over the data and examples per step (the last step of an
        epoch takes what is left; a batch_size above the data's size is the full batch).
    optimizer: SGD, Adam, AdamW or anything with step(params, grads, lr).
    schedule: the learning rate as a function of the epoch, or of the step when it has
        unit="step" (Constant, StepDecay, Cosine); default optimizer.lr.
    validation: a fraction in (0, 1) of data held out after the seeded shuffle, or separate
        examples in data's format; its mean loss is measured after every epoch.
    patience: stop after this many epochs without a lower validation loss, and return the
        parameters of the best epoch (needs validation).
    seed: the validation split and the order of each epoch's examples (None: not repeatable).
    progress: a tqdm bar on stderr; None: when tqdm is installed and stderr is a terminal
        (shown once a run takes over a second), True: always (a line per epoch without
        tqdm), False: never.
    callback: called as callback(epoch, params, history) after each epoch; returning True
        stops training.
    fixed: input name -> value held fixed, the same in every loss call: hyperparameters
        such as a penalty's weight (fixed={"lam": 1e-4} for a loss "... + lam*w**2"), as
        in f.flat(names, **fixed). A number (or an array with the numpy backend, nested
        lists with the lists backend, passed whole, not sliced); a name must be an input
        of the loss, and neither a parameter nor a column of data or validation.

    The batch loss and gradient, with the Python backend: the mean of the examples' values
    and gradients, each one a call of loss.value_and_grad with positional arguments (the
    formula is one example's loss). With the numpy backend (compile(..., backend="numpy")):
    one value_and_grad call per batch on the sliced columns (first axis: the examples),
    and the formula's value IS the batch loss, a scalar; its gradients are used as they
    are. The lists backend (an array formula compiled with backend="python" or "lists")
    works the same way on nested Python lists, without numpy: a column is a list (or a
    numpy array, converted once) with one number or nested list per example, a batch is
    its examples' values in a list, and the parameters are floats or nested lists of
    floats, updated in place. Write mean(...) over the examples, so that the loss and the
    step do not grow with the batch size; a sum(...) works too, as a loss batch_size times
    larger. A value that is not a scalar (a loss per example) is a ValueError at the first
    batch. Either way,
    step_loss records each batch's loss, train_loss the mean of an epoch's step losses
    weighted by their batch sizes (the mean loss per example for a mean formula) and
    val_loss the loss on the held-out examples (in calls of at most 4,096 examples, weighted
    the same way). Array parameters are copied (float32 stays float32, other dtypes become
    float64) and updated in place; nested lists are copied as lists of floats.

    Raises ArgumentValueError (ArgumentError for a value of the wrong type) before the
    first step for a bad argument, an unknown or undifferentiated parameter, or an example
    without an input; NonFiniteLossError when the loss or its gradient at an example is inf
    or NaN (it says whether the example's data, a fixed value or an initial parameter is
    not finite, or the training diverged); EvaluationError, with the example's index
    added, when the formula fails at one.
    """
    names = _check_params(loss, params)
    fixed = _check_fixed(loss, params, fixed)
    _check_seed(seed)
    _check_count(epochs, "epochs")
    _check_count(batch_size, "batch_size")
    if patience is not None:
        _check_count(patience, "patience")
        if validation is None:
            raise ArgumentValueError("patience needs validation (a fraction of data or examples)")
    if isinstance(optimizer, type):
        raise ArgumentError(
            f"optimizer must be an optimiser, such as {optimizer.__name__}(lr=0.1), not the "
            f"class {optimizer.__name__}"
        )
    if not callable(getattr(optimizer, "step", None)):
        raise ArgumentError(f"optimizer must have a step(params, grads, lr) method: {optimizer!r}")
    if schedule is not None and not callable(schedule):
        raise ArgumentError(f"schedule must be a callable of the epoch, not {schedule!r}")
    if callback is not None and not callable(callback):
        raise ArgumentError(f"callback must be a callable, not {callback!r}")
    unit = getattr(schedule, "unit", "epoch")
    _check_unit(unit)
    fraction = None
    if (
        isinstance(validation, float)
        or isinstance(validation, int)
        and not isinstance(validation, bool)
    ):
        if not 0 < validation < 1:
            raise ArgumentValueError(f"a validation fraction must be in (0, 1), not {validation!r}")
        fraction = float(validation)
    elif validation is not None and (
        isinstance(validation, (str, bytes)) or not isinstance(validation, (Sequence, Mapping))
    ):
        raise ArgumentError(f"validation must be a fraction or examples, not {validation!r}")

    backend = getattr(loss, "backend", None)
    engines = {"numpy": _ArrayEngine, "lists": _ListEngine}
    engine: _Engine = engines.get(backend, _NumberEngine)(
        loss, names, params, fixed, data, validation, fraction, seed
    )
    history = History(params=engine.params)
    steps = math.ceil(engine.size / batch_size)
    best = math.inf
    best_params = None
    bar = _progress(progress, epochs * steps)
    try:
        for epoch in range(epochs):
            lr = _scheduled(schedule, epoch) if schedule is not None and unit == "epoch" else None
            order = engine.shuffled()
            total = 0.0
            for step in range(steps):
                batch = order[step * batch_size : (step + 1) * batch_size]
                if unit == "step":
                    lr = _scheduled(schedule, epoch * steps + step)
                if step == 0:
                    history.lr.append(getattr(optimizer, "lr", math.nan) if lr is None else lr)
                value, grads = engine.batch(batch, epoch, step)
                optimizer.step(engine.params, grads, lr)
                history.step_loss.append(value)
                total += value * len(batch)
                if bar is not None:
                    bar.step()
            history.train_loss.append(total / engine.size)
            if engine.validating:
                history.val_loss.append(engine.validate(epoch))
                if history.val_loss[-1] < best:
                    best = history.val_loss[-1]
                    history.best_epoch = epoch
                    if patience is not None:
                        best_params = _copy(engine.params)
            if bar is not None:
                bar.epoch(epoch, epochs, history)
            if callback is not None and callback(epoch, engine.params, history) is True:
                history.stopped_early = True
                break
            if patience is not None and epoch - (history.best_epoch or 0) >= patience:
                history.stopped_early = True
                break
    finally:
        if bar is not None:
            bar.close()
    if best_params is not None:
        engine.params.update(best_params)
    return history


def _copy(params: dict[str, Any]) -> dict[str, Any]:
    return {
        name: copied(value) if _numpy_of(value) is None else value.copy()
        for name, value in params.items()
    }


def _scheduled(schedule: Callable[[int], float], t: int) -> float:
    lr = schedule(t)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0:
        raise ArgumentValueError(
            f"schedule({t}) returned {lr!r}: a learning rate must be a number >= 0"
        )
    return lr


def _check_fixed(loss: Any, params: Mapping[str, Any], fixed: Any) -> dict[str, Any]:
    """fixed as a dict, its names checked against the loss's inputs and the parameters (the
    data's columns are checked when they are read)."""
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise ArgumentError(f"fixed must be a dict of input name -> value, not {fixed!r}")
    unknown = [name for name in fixed if name not in loss.inputs]
    if unknown:
        raise ArgumentValueError(
            f"fixed names {', '.join(map(repr, unknown))}, not inputs of the loss "
            f"({', '.join(loss.inputs)})"
        )
    both = [name for name in fixed if name in params]
    if both:
        raise ArgumentValueError(
            f"{', '.join(map(repr, both))} is both a parameter and fixed: give it in one of them"
        )
    return dict(fixed)


def _check_params(loss: Any, params: Mapping[str, Any]) -> tuple[str, ...]:
    for attribute in ("inputs", "wrt", "value_and_grad"):
        if not hasattr(loss, attribute):
            raise ArgumentError(f"loss must be a compiled exprgrad Function, not {loss!r}")
    if not isinstance(params, Mapping) or not params:
        raise ArgumentValueError(
            "params must be a non-empty dict of parameter name -> initial value"
        )
    inputs = ", ".join(loss.inputs)
    for name in params:
        if name not in loss.inputs:
            raise ArgumentValueError(
                f"unknown parameter {name!r}: not an input of the loss ({inputs})"
            )
        if name not in loss.wrt:
            wrt = ", ".join(loss.wrt) or "nothing"
            raise ArgumentValueError(
                f"parameter {name!r} is not differentiated by the loss (wrt: {wrt}); "
                f"compile it with wrt={list(params)!r}"
            )
    return tuple(params)
