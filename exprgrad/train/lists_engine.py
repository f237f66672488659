"""Data columns and a compiled lists-backend loss -> batch losses and gradients, one
value_and_grad call per batch on nested Python lists; numpy is never imported here."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ArgumentValueError, EvaluationError
from .checks import _numpy_of
from .engine import (
    _at_example,
    _check_not_fixed,
    _check_row,
    _Engine,
    _no_column,
    _non_finite,
    _rows,
    _scalar_column,
)
from .nested import first_non_finite, float_copy, shape_of


class _ListEngine(_Engine):
    """The lists backend (an array formula compiled with backend="python" or "lists"): one
    value_and_grad call per batch, on the columns' slices as nested lists.

    As with the numpy backend, the formula's value is the batch's loss (a scalar, such as
    mean(...) over the examples' axis) and its gradients are the step's, used as they are.
    Parameters are floats or nested lists of floats, copied and updated in place; a column
    is a list with one value (a number or nested lists) per example, all of one shape.
    """

    backend = "lists"

    def __init__(self, loss, names, params, fixed, data, validation, fraction, seed):
        self.names = names
        self.value_and_grad = loss.value_and_grad
        self.value = loss if callable(loss) else lambda **point: loss.value_and_grad(**point)[0]
        self.params = {name: float_copy(params[name], f"parameter {name!r}") for name in names}
        self.fixed = {name: float_copy(value, f"fixed[{name!r}]") for name, value in fixed.items()}
        self.inputs = tuple(loss.inputs)
        self.data_names = [n for n in self.inputs if n not in self.params and n not in fixed]
        self.columnar = {"data": isinstance(data, Mapping), "validation": False}
        self.columns, size = self._columns(data, "data")
        self.rng = random.Random(seed)
        self._split(size, validation, fraction)
        self.checked = False  # the first batch checks the value's and gradients' shapes

    def _columns(self, data: Any, what: str) -> tuple[dict[str, list], int]:
        """Each data input's column (a list, one float or nested list per example, converted
        once) and the number of examples."""
        wanted = self.data_names
        columns: dict[str, list] = {}
        if isinstance(data, Mapping):
            _check_not_fixed(data, self.fixed, what)
            for name in wanted:
                if name not in data:
                    raise _no_column(what, name, data)
                values = data[name]
                if _numpy_of(values) is not None:
                    values = values.tolist()  # a 0-d array: a number, refused below
                if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                    raise _scalar_column(what, name, data[name])
                columns[name] = _column(values, lambda i, name=name: f"{what}[{name!r}][{i}]")
        else:
            rows = _rows(data, what)
            for index, row in enumerate(rows):
                _check_row(row, index, wanted, what, self.fixed)
            for name in wanted:
                values = (row[name] for row in rows)
                columns[name] = _column(values, lambda i, name=name: f"{what}[{i}][{name!r}]")
        sizes = {len(column) for column in columns.values()}
        if len(sizes) > 1:
            listed = ", ".join(f"{name}: {len(column)}" for name, column in columns.items())
            raise ArgumentValueError(f"the columns of {what} differ in length ({listed})")
        size = sizes.pop() if sizes else 0
        if not size:
            raise ArgumentValueError(f"{what} is empty: there are no examples to train on")
        return columns, size

    def _point(self, columns: dict[str, list], batch: list[int]) -> dict[str, Any]:
        point = {name: [columns[name][i] for i in batch] for name in self.data_names}
        point.update(self.fixed)
        point.update(self.params)
        return point

    def _example(self, columns, name, index):
        return columns[name][index]

    def shuffled(self) -> list[int]:
        self.rng.shuffle(self.order)
        return self.order

    def batch(self, batch, epoch, step):
        context = f"epoch {epoch}, step {step}"
        point = self._point(self.columns, batch)
        try:
            value, grads = self.value_and_grad(**point)
        except EvaluationError:
            self._find(self.columns, batch, "data", context)
            raise
        except ValueError:
            if not self.checked:  # value_and_grad may refuse a value that is not a scalar
                self._check_scalar(self._value_shape(point), len(batch))
            raise
        if not self.checked:
            self._check_scalar(shape_of(value), len(batch))
            for name in self.names:
                grad, param = shape_of(grads[name]), shape_of(self.params[name])
                if grad != param:
                    raise ArgumentValueError(
                        f"the loss's gradient of {name!r} has shape {grad}, not the "
                        f"parameter's shape {param}"
                    )
            self.checked = True
        loss = float(value)
        if not (math.isfinite(loss) and all(_finite(grads[name]) for name in self.names)):
            index, what, shown = self._find(self.columns, batch, "data", context)
            if index is None:
                what, shown, where, cause = "the batch's loss", loss, "no single example", None
            else:
                where = f"data[{index}]"
                cause = self._cause(self.columns, index, epoch, step, first_non_finite)
            raise _non_finite(what, shown, where, epoch, step, index, cause)
        return loss, grads

    def _value_shape(self, point) -> tuple[int, ...]:
        try:
            return shape_of(self.value(**point))
        except Exception:  # the forward fails too: value_and_grad's error says why
            return ()

    def _find(self, columns, indices, label, context):
        """The first example (and what of it) that is not finite, evaluated one by one
        since that is rare; an EvaluationError at one is raised naming it."""
        for index in indices:
            try:
                value, grads = self.value_and_grad(**self._point(columns, [index]))
            except EvaluationError as error:
                raise _at_example(error, label, index, context) from error
            checks = [("the loss", value)] + [
                (f"the gradient of {n!r}", grads[n]) for n in self.names
            ]
            for what, result in checks:
                bad = first_non_finite(result)
                if bad is not None:
                    return index, what, bad
        return None, None, None

    def validate(self, epoch):
        return self._validate_in_chunks(epoch)

    def _value_at(self, columns, part):
        return self.value(**self._point(columns, part))


def _column(values: Iterable, at: Callable[[int], str]) -> list:
    """A column's values as floats or nested lists of floats, every example of the first's
    shape so that a batch is rectangular; at(i) names example i in an error."""
    column = [float_copy(value, at(index)) for index, value in enumerate(values)]
    first = shape_of(column[0]) if column else ()
    for index, value in enumerate(column):
        if shape_of(value) != first:
            raise ArgumentValueError(
                f"{at(index)} has shape {shape_of(value)}, but {at(0)} has shape {first}: "
                "the examples of a column must have one shape"
            )
    return column


def _finite(value: Any) -> bool:
    return first_non_finite(value) is None
