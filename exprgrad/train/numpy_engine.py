"""Data columns and a compiled numpy-backend loss -> batch losses and gradients, one
value_and_grad call per batch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ArgumentError, ArgumentValueError, EvaluationError, require_numpy, shorten
from .checks import _numpy_of
from .engine import (
    _at_example,
    _check_not_fixed,
    _check_row,
    _Engine,
    _held_out_count,
    _no_column,
    _non_finite,
    _number,
    _rows,
    _scalar_column,
)


class _ArrayEngine(_Engine):
    """The numpy backend: one value_and_grad call per batch, on the sliced columns.

    The formula's value is the batch's loss (a scalar, such as mean(...) over the examples'
    axis) and its gradients are the step's, used as they are: nothing is summed or divided
    here, so training a mean and evaluating it agree.
    """

    backend = "numpy"

    def __init__(self, loss, names, params, fixed, data, validation, fraction, seed):
        np = require_numpy("training a numpy-compiled loss")  # the loss computes with arrays
        self.np = np
        self.names = names
        self.value_and_grad = loss.value_and_grad
        self.value = loss if callable(loss) else lambda *args: loss.value_and_grad(*args)[0]
        self.params = {}
        for name in names:
            value = params[name]
            if _numpy_of(value) is not None:
                # a copy, updated in place; float32 stays float32
                self.params[name] = np.array(value, dtype=self._float(value))
            else:
                self.params[name] = _number(value, f"parameter {name!r}")
        self.fixed = {}
        for name, value in fixed.items():  # arrays are passed whole; numbers stay floats
            where = f"fixed[{name!r}]"
            is_array = _numpy_of(value) is not None or isinstance(value, (list, tuple))
            self.fixed[name] = self._array(value, where) if is_array else _number(value, where)
        self.floats = [name for name in names if isinstance(self.params[name], float)]
        self.inputs = tuple(loss.inputs)
        self.data_names = [n for n in self.inputs if n not in self.params and n not in fixed]
        self.columnar = {"data": isinstance(data, Mapping), "validation": False}
        self.columns = self._columns(data, "data")
        size = len(next(iter(self.columns.values())))
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(size)
        self.validation_columns = self.columns
        self.validation_label = "data"
        self.held_out = None
        if fraction is not None:
            self.rng.shuffle(self.order)
            count = _held_out_count(fraction, size)
            self.held_out = np.sort(self.order[:count])
            self.order = self.order[count:]
        elif validation is not None:
            self.columnar["validation"] = isinstance(validation, Mapping)
            self.validation_columns = self._columns(validation, "validation")
            validation_size = len(next(iter(self.validation_columns.values())))
            self.held_out = np.arange(validation_size)
            self.validation_label = "validation"
        self.size = len(self.order)
        self.validating = self.held_out is not None
        self.checked = False  # the first batch checks the value's and gradients' shapes

    def _float(self, array) -> Any:
        """float32 and float64 as they are, anything else (ints, bools) as float64."""
        dtype = self.np.asarray(array).dtype
        return dtype if dtype.name in ("float32", "float64") else self.np.float64

    def _array(self, values, where: str, items: Callable[[], Iterable] | None = None) -> Any:
        """values as a float array (float32 stays float32), converted once; an ArgumentError
        naming where (or the first of items(), (where, value) pairs, that is the culprit)
        for what is not an array of numbers: strings, None, ragged nesting."""
        np = self.np
        try:
            array = np.asarray(values)
            problem = None if array.dtype.kind in "biuf" else f"it holds {array.dtype} values"
        except (TypeError, ValueError) as error:  # ragged: "inhomogeneous shape"
            array, problem = None, f"numpy cannot make one of it ({error})"
        if problem is None:
            return np.asarray(array, dtype=self._float(array))
        for item, value in items() if items is not None else ():
            try:
                kind = np.asarray(value).dtype.kind
            except (TypeError, ValueError):
                kind = "O"
            if kind not in "biuf":
                raise ArgumentError(
                    f"{item} must be a number or an array of numbers, not "
                    f"{type(value).__name__} {shorten(repr(value))}"
                )
        raise ArgumentError(f"{where} must be an array of numbers: {problem}")

    def _columns(self, data, what: str) -> dict[str, Any]:
        wanted = self.data_names
        if isinstance(data, Mapping):
            _check_not_fixed(data, self.fixed, what)
            columns = {}
            for name in wanted:
                if name not in data:
                    raise _no_column(what, name, data)
                values = data[name]
                if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                    raise _scalar_column(what, name, values)
                column = self._array(
                    values,
                    f"{what}[{name!r}]",
                    lambda name=name, values=values: (
                        (f"{what}[{name!r}][{i}]", v) for i, v in enumerate(values)
                    ),
                )
                if column.ndim == 0:
                    raise _scalar_column(what, name, values)
                columns[name] = column
        else:
            rows = _rows(data, what)
            for index, row in enumerate(rows):
                _check_row(row, index, wanted, what, self.fixed)
            columns = {}
            for name in wanted:
                values = [row[name] for row in rows]
                columns[name] = self._array(
                    values,
                    f"the {name!r} values of {what}",
                    lambda name=name, values=values: (
                        (f"{what}[{i}][{name!r}]", v) for i, v in enumerate(values)
                    ),
                )
        sizes = {len(column) for column in columns.values()}
        if len(sizes) > 1:
            listed = ", ".join(f"{name}: {len(column)}" for name, column in columns.items())
            raise ArgumentValueError(f"the columns of {what} differ in length ({listed})")
        if not columns or not sizes.pop():
            raise ArgumentValueError(f"{what} is empty: there are no examples to train on")
        return columns

    def _arguments(self, columns, index):
        held = {**self.fixed, **self.params} if self.fixed else self.params
        return [held[name] if name in held else columns[name][index] for name in self.inputs]

    def _example(self, columns, name, index):
        return columns[name][index]

    def _shown(self, value) -> Any:
        """The first non-finite number of value, None if it has none."""
        np = self.np
        array = np.asarray(value)
        finite = np.isfinite(array)
        return None if finite.all() else array[~finite].flat[0]

    def shuffled(self):
        self.rng.shuffle(self.order)
        return self.order

    def batch(self, batch, epoch, step):
        np = self.np
        context = f"epoch {epoch}, step {step}"
        arguments = self._arguments(self.columns, batch)
        try:
            value, grads = self.value_and_grad(*arguments)
        except EvaluationError:
            self._find(self.columns, batch, "data", context)
            raise
        except ValueError:
            if not self.checked:  # value_and_grad refuses a value that is not a scalar
                self._check_scalar(self._shape_of_value(arguments), len(batch))
            raise
        if not self.checked:
            self._check_scalar(np.shape(value), len(batch))
            for name in self.names:
                grad, param = grads[name], self.params[name]
                if np.shape(grad) != np.shape(param):
                    raise ArgumentValueError(
                        f"the loss's gradient of {name!r} has shape {np.shape(grad)}, not the "
                        f"parameter's shape {np.shape(param)}"
                    )
            self.checked = True
        loss = float(value)
        if self.floats:  # numbers stay Python floats
            grads = dict(grads)
            for name in self.floats:
                grads[name] = float(grads[name])
        finite = math.isfinite(loss) and all(np.isfinite(grads[name]).all() for name in self.names)
        if not finite:
            index, what, shown = self._find(self.columns, batch, "data", context)
            if index is None:
                what, shown, where, cause = "the batch's loss", loss, "no single example", None
            else:
                where = f"data[{index}]"
                cause = self._cause(self.columns, index, epoch, step, self._shown)
            raise _non_finite(what, shown, where, epoch, step, index, cause)
        return loss, grads

    def _shape_of_value(self, arguments) -> tuple:
        try:
            return self.np.shape(self.value(*arguments))
        except Exception:  # the forward fails too: value_and_grad's error says why
            return ()

    def _find(self, columns, indices, label, context):
        """The first example (and what of it) that is not finite, evaluated one by one
        since that is rare; an EvaluationError at one is raised naming it."""
        np = self.np
        for index in indices:
            try:
                value, grads = self.value_and_grad(*self._arguments(columns, [index]))
            except EvaluationError as error:
                raise _at_example(error, label, index, context) from error
            checks = [("the loss", value)] + [
                (f"the gradient of {n!r}", grads[n]) for n in self.names
            ]
            for what, array in checks:
                if not np.isfinite(array).all():
                    return int(index), what, np.asarray(array)[~np.isfinite(array)].flat[0]
        return None, None, None

    def validate(self, epoch):
        return self._validate_in_chunks(epoch)

    def _value_at(self, columns, part):
        return self.value(*self._arguments(columns, part))
