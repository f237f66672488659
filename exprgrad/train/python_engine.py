"""Data and a compiled Python-backend loss -> batch losses and gradients, one
value_and_grad call per example."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from itertools import repeat
from operator import itemgetter
from typing import Any

from ..errors import ArgumentError, ArgumentValueError, EvaluationError
from .checks import _numpy_of
from .engine import (
    _at_example,
    _check_not_fixed,
    _check_row,
    _Engine,
    _no_column,
    _non_finite,
    _number,
    _rows,
    _scalar_column,
)


def _non_finite_float(value: float) -> float | None:
    return None if math.isfinite(value) else value


class _NumberEngine(_Engine):
    """The Python backend: one value_and_grad call per example, with positional arguments.

    The data are kept as columns of floats, one per input, converted once; a step maps
    value_and_grad over the batch's slices of them (map and itemgetter loop in C).
    """

    def __init__(self, loss, names, params, fixed, data, validation, fraction, seed):
        self.names = names
        self.value_and_grad = loss.value_and_grad
        self.value = loss if callable(loss) else lambda *args: loss.value_and_grad(*args)[0]
        self.params = {}
        for name in names:
            self.params[name] = self._float(params[name], f"parameter {name!r}")
        self.fixed = {name: self._float(value, f"fixed[{name!r}]") for name, value in fixed.items()}
        self.inputs = tuple(loss.inputs)
        self.data_names = [n for n in self.inputs if n not in self.params and n not in self.fixed]
        self.columnar = {"data": isinstance(data, Mapping), "validation": False}
        self.columns, size = self._columns(data, "data")
        self.rng = random.Random(seed)
        self._split(size, validation, fraction)

    @staticmethod
    def _float(value: Any, where: str) -> float:
        if _numpy_of(value) is not None and value.ndim:
            raise ArgumentError(
                f"{where} is an array, but the loss computes with numbers: "
                "compile it with backend='numpy'"
            )
        if isinstance(value, (list, tuple)):
            raise ArgumentError(
                f"{where} is a list, but the loss is one example's formula of numbers: train "
                "nested lists with an array formula of the batch, such as mean((x @ w - y)**2)"
            )
        return _number(value, where)

    def _columns(self, data: Any, what: str) -> tuple[list[list[float] | None], int]:
        """For each of loss.inputs, its value in every example (None for a parameter or a
        fixed input), and the number of examples."""
        wanted = self.data_names
        if isinstance(data, Mapping):
            _check_not_fixed(data, self.fixed, what)
            columns = {}
            for name in wanted:
                if name not in data:
                    raise _no_column(what, name, data)
                where = f"{what}[{name!r}]"
                column = data[name]
                if isinstance(column, (str, bytes)) or not isinstance(column, Iterable):
                    raise _scalar_column(what, name, column)
                columns[name] = [_number(v, f"{where}[{i}]") for i, v in enumerate(column)]
            sizes = {len(column) for column in columns.values()}
            if len(sizes) > 1:
                listed = ", ".join(f"{name}: {len(column)}" for name, column in columns.items())
                raise ArgumentValueError(f"the columns of {what} differ in length ({listed})")
            size = sizes.pop() if sizes else 0
        else:
            rows = _rows(data, what)
            columns = {name: [] for name in wanted}
            for index, row in enumerate(rows):
                _check_row(row, index, wanted, what, self.fixed)
                for name in wanted:
                    columns[name].append(_number(row[name], f"{what}[{index}][{name!r}]"))
            size = len(rows)
        if not size:
            raise ArgumentValueError(f"{what} is empty: there are no examples to train on")
        return [columns.get(name) for name in self.inputs], size

    def _map(self, function, columns, batch) -> list:
        """function at each example of batch, its arguments in loss.inputs order."""
        take = itemgetter(*batch) if len(batch) > 1 else lambda column: (column[batch[0]],)
        held = {**self.fixed, **self.params} if self.fixed else self.params
        arguments = [
            repeat(held[name], len(batch)) if column is None else take(column)
            for name, column in zip(self.inputs, columns, strict=True)
        ]
        return list(map(function, *arguments))

    def _one_by_one(self, function, columns, batch, label: str, context: str) -> None:
        """Raise an EvaluationError that a batch raised again, naming its example."""
        for index in batch:
            try:
                self._map(function, columns, [index])
            except EvaluationError as error:
                raise _at_example(error, label, index, context) from error

    def shuffled(self) -> list[int]:
        self.rng.shuffle(self.order)
        return self.order

    def batch(self, batch, epoch, step):
        try:
            results = self._map(self.value_and_grad, self.columns, batch)
        except EvaluationError:
            self._one_by_one(
                self.value_and_grad, self.columns, batch, "data", f"epoch {epoch}, step {step}"
            )
            raise
        total = sum(map(itemgetter(0), results))
        grads = list(map(itemgetter(1), results))
        sums = {name: sum(map(itemgetter(name), grads)) for name in self.names}
        if not (math.isfinite(total) and all(map(math.isfinite, sums.values()))):
            for index, (value, grad) in zip(batch, results, strict=True):
                checks = [("the loss", value)]
                checks += [(f"the gradient of {name!r}", grad[name]) for name in self.names]
                for what, number in checks:
                    if not math.isfinite(number):
                        cause = self._cause(self.columns, index, epoch, step, _non_finite_float)
                        where = f"data[{index}]"
                        raise _non_finite(what, number, where, epoch, step, index, cause)
            raise _non_finite(
                "the batch's total loss", total, "no single example", epoch, step, None, None
            )
        scale = 1.0 / len(batch)
        return total * scale, {name: value * scale for name, value in sums.items()}

    def _example(self, columns, name, index):
        return columns[self.inputs.index(name)][index]

    def validate(self, epoch):
        columns = self.validation_columns
        try:
            values = self._map(self.value, columns, self.held_out)
        except EvaluationError:
            context = f"validation after epoch {epoch}"
            self._one_by_one(self.value, columns, self.held_out, self.validation_label, context)
            raise
        return sum(values) / len(values)
