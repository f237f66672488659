"""What both engines share: the engine interface, the checks of the data they read, and
NonFiniteLossError with the message that says which input or step made the loss inf or NaN.

An engine holds the data prepared for one backend (python_engine.py, numpy_engine.py) and
runs one batch's value_and_grad, or the validation loss, for fit().
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ArgumentError, ArgumentValueError, Error, EvaluationError, shorten


class NonFiniteLossError(Error, ValueError):
    """The training loss (or its gradient) became inf or NaN. epoch and step (within the
    epoch) count from 0; example is the index into the data (None if no single example is
    non-finite: the batch's sum overflowed)."""

    def __init__(self, message: str, epoch: int, step: int, example: int | None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.example = example


def _check_not_fixed(names: Iterable[Any], fixed: Mapping[str, Any], what: str) -> None:
    """A column of data that is also fixed would be ambiguous: refuse it, naming it."""
    both = [name for name in names if name in fixed]
    if both:
        raise ArgumentValueError(
            f"{', '.join(map(repr, both))} is both fixed and a column of {what}: "
            "give it in one of them"
        )


def _number(value: Any, where: str) -> float:
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes)) or not hasattr(type(value), "__float__"):
        raise ArgumentError(f"{where} must be a number, not {type(value).__name__} {value!r}")
    try:
        return float(value)
    except TypeError:
        raise ArgumentError(f"{where} must be a real number, not {value!r}") from None
    except OverflowError:
        raise ArgumentError(f"{where} is an int too large for a float") from None


def _rows(data: Any, what: str) -> list:
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise ArgumentError(f"{what} must be a sequence of examples (dicts), not {data!r}")
    return list(data)


def _check_row(row: Any, index: int, wanted: list[str], what: str, fixed: Mapping) -> None:
    if not isinstance(row, Mapping):
        raise ArgumentError(f"{what}[{index}] must be a dict of inputs, not {type(row).__name__}")
    if fixed:
        _check_not_fixed(row, fixed, f"{what}[{index}]")
    for name in wanted:
        if name not in row:
            has = ", ".join(map(str, row)) or "nothing"
            raise ArgumentValueError(f"{what}[{index}] has no value for input {name!r} (has {has})")


def _no_column(what: str, name: str, data: Mapping) -> ArgumentValueError:
    has = ", ".join(map(str, data)) or "nothing"
    return ArgumentValueError(
        f"{what} has no column for input {name!r} (has {has}); a value the same for every "
        f"example goes in fixed={{{name!r}: ...}}"
    )


def _scalar_column(what: str, name: str, value: Any) -> ArgumentValueError:
    return ArgumentValueError(
        f"{what}[{name!r}] must be a column (first axis: examples), not "
        f"{type(value).__name__} {shorten(repr(value))}; a value the same for every example "
        f"goes in fixed={{{name!r}: ...}}"
    )


def _at_example(error: EvaluationError, label: str, index: Any, context: str) -> EvaluationError:
    """The same EvaluationError, its message starting with the example that caused it
    (label[index]); its attribute example holds the index."""
    message = error.message
    if error.detail:
        message = message[: -len(error.detail) - 2]  # message holds "what: detail"
    where = f"at {label}[{index}] ({context}): {message}"
    again = EvaluationError(where, error.source, error.span, detail=error.detail, hint=error.hint)
    again.example = int(index)
    return again


def _held_out_count(fraction: float, size: int) -> int:
    count = round(fraction * size)
    if not 0 < count < size:
        raise ArgumentValueError(
            f"a validation fraction of {fraction} of {size} examples leaves "
            f"{count} for validation and {size - count} for training"
        )
    return count


class _Engine:
    """Data prepared for one backend: batches, validation, the non-finite check."""

    params: dict[str, Any]
    backend: str  # the loss's backend, as errors name it
    size: int  # training examples
    validating: bool

    def _split(self, size: int, validation: Any, fraction: float | None) -> None:
        """The training order and what validates, by Python's random (self.rng), for the
        engines that keep data in lists: a fraction of the data held out, or the
        validation set's columns (self._columns reads them)."""
        order = list(range(size))
        self.held_out: list[int] = []
        self.validation_columns = self.columns
        self.validation_label = "data"
        if fraction is not None:
            self.rng.shuffle(order)
            count = _held_out_count(fraction, size)
            self.held_out, order = sorted(order[:count]), order[count:]
        elif validation is not None:
            self.columnar["validation"] = isinstance(validation, Mapping)
            self.validation_columns, count = self._columns(validation, "validation")
            self.held_out = list(range(count))
            self.validation_label = "validation"
        self.order, self.size = order, len(order)
        self.validating = bool(self.held_out)

    def _check_scalar(self, shape: tuple[int, ...], size: int) -> None:
        """The array engines' batch loss is one number, the formula's reduction of the batch."""
        if shape != ():
            raise ArgumentValueError(
                f"the loss has shape {shape} on a batch of {size} examples; with the "
                f"{self.backend} backend its value must be a scalar, the batch's loss: reduce "
                "it in the formula, as mean(...) over the examples"
            )

    def _validate_in_chunks(self, epoch: int) -> float:
        """The array engines' validation loss: the mean over the held-out examples, 4,096
        a call (a large validation set's memory stays bounded), each call's mean weighted
        by its size; an EvaluationError names the example that fails."""
        total = 0.0
        chunk = 4096
        for start in range(0, len(self.held_out), chunk):
            part = self.held_out[start : start + chunk]
            try:
                value = self._value_at(self.validation_columns, part)
            except EvaluationError:
                context = f"validation after epoch {epoch}"
                self._find(self.validation_columns, part, self.validation_label, context)
                raise
            total += float(value) * len(part)
        return total / len(self.held_out)

    def _value_at(self, columns: Any, part: Any) -> Any:
        raise NotImplementedError

    def shuffled(self) -> Any:
        raise NotImplementedError

    def batch(self, batch: Any, epoch: int, step: int) -> tuple[float, dict[str, Any]]:
        raise NotImplementedError

    def validate(self, epoch: int) -> float:
        raise NotImplementedError

    def _cause(self, columns: Any, index: Any, epoch: int, step: int, shown) -> str | None:
        """Which input of example index is not finite (its data, a fixed value, or at the
        first step an initial parameter), as "data[3]['y'] is nan"; None if all are.
        shown(value) is the value's first non-finite number, None if it has none."""
        label = "data" if columns is self.columns else "validation"
        at = (
            (lambda name: f"{label}[{name!r}][{index}]")
            if self.columnar[label]
            else (lambda name: f"{label}[{index}][{name!r}]")
        )
        inputs = [(at(name), self._example(columns, name, index)) for name in self.data_names]
        inputs += [(f"fixed[{name!r}]", value) for name, value in self.fixed.items()]
        if epoch == 0 and step == 0:  # afterwards a non-finite parameter is divergence
            inputs += [
                (f"the initial parameter {name!r}", self.params[name]) for name in self.names
            ]
        for where, value in inputs:
            bad = shown(value)
            if bad is not None:
                return f"{where} is {bad}"
        return None

    def _example(self, columns: Any, name: str, index: Any) -> Any:
        raise NotImplementedError


def _non_finite(
    what: str, value: Any, where: str, epoch: int, step: int, example, cause: str | None
):
    """cause: the input that is not finite ("data[3]['y'] is nan"), or None: then the
    formula overflowed at the initial parameters (the first step), or training diverged."""
    if cause is not None:
        advice = f"{cause}, not a finite number: clean that input, or guard the formula"
    elif epoch == 0 and step == 0:
        advice = (
            "the inputs are finite and no step has been taken yet: guard the formula "
            "(where, clip), or scale the data or the initial parameters"
        )
    else:
        advice = (
            "the inputs are finite, so training diverged: lower the learning rate, or guard "
            "the formula (where, clip)"
        )
    return NonFiniteLossError(
        f"{what} is {value} at {where} (epoch {epoch}, step {step}): {advice}",
        epoch,
        step,
        example,
    )
