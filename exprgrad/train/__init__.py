"""Training on top of compiled formulas: initialisers, optimisers, schedules and fit().

Written against exprgrad's public API only (compile, Function.value_and_grad, .inputs,
.wrt, EvaluationError), as a user's code would be. Pure Python: numpy is used only when
the parameters or the data are numpy arrays, and then it is already imported.

>>> import exprgrad
>>> from exprgrad import train
>>> loss = exprgrad.compile("(w*x + b - y)**2", wrt="w,b")
>>> data = [{"x": x / 10, "y": 3 * x / 10 + 1} for x in range(-10, 11)]
>>> history = train.fit(loss, {"w": 0.0, "b": 0.0}, data, epochs=60, batch_size=7,
...                     optimizer=train.SGD(lr=0.2, momentum=0.5))
>>> round(history.params["w"], 6), round(history.params["b"], 6)
(3.0, 1.0)

With the numpy backend the formula is the loss of a whole batch, a scalar: the data are
columns (first axis: the examples), each step is one value_and_grad call on a slice of
them, and mean(...) makes the loss the batch's mean, as above:

>>> import numpy as np
>>> loss = exprgrad.compile("mean((x @ w + b - y)**2)", wrt="w,b", backend="numpy")
>>> x = np.random.default_rng(0).uniform(-1, 1, size=(40, 2))
>>> columns = {"x": x, "y": x @ [3.0, -2.0] + 1}
>>> history = train.fit(loss, {"w": np.zeros(2), "b": 0.0}, columns, epochs=60,
...                     batch_size=8, optimizer=train.SGD(lr=0.2, momentum=0.5))
>>> history.params["w"].round(6), round(history.params["b"], 6)
(array([ 3., -2.]), 1.0)

L2 regularisation is a term of the loss formula, not the optimiser's job; a
hyperparameter such as its weight is an input held fixed, the same for every example:

>>> loss = exprgrad.compile("(w*x + b - y)**2 + lam*w**2", wrt="w,b")
>>> data = [{"x": x / 10, "y": 3 * x / 10 + 1} for x in range(-10, 11)]
>>> history = train.fit(loss, {"w": 0.0, "b": 0.0}, data, epochs=100, batch_size=21,
...                     optimizer=train.SGD(lr=0.5, momentum=0.5), fixed={"lam": 0.1})
>>> round(history.params["w"], 6)  # ridge: 3 * mean(x*x) / (mean(x*x) + lam) = 1.1 / (7/15)
2.357143
>>> history
<History: 100 epochs; last train loss 0.707143; params w, b>

Decoupled weight decay (AdamW, SGDW) is the optimisers' weight_decay instead.
Epochs and steps count from 0.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

from ..errors import (
    ArgumentError,
    ArgumentValueError,
    Error,
    EvaluationError,
    require_numpy,
    shorten,
)

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Constant",
    "Cosine",
    "History",
    "NonFiniteLossError",
    "StepDecay",
    "fit",
    "he_normal",
    "he_uniform",
    "init",
    "xavier_normal",
    "xavier_uniform",
]


def _numpy_of(value: Any) -> Any:
    """numpy if value is a numpy array, else None. An array means numpy is imported already."""
    np = sys.modules.get("numpy")
    return np if np is not None and isinstance(value, np.ndarray) else None


def _check_seed(seed: Any) -> None:
    # None draws fresh entropy (random.Random(None), default_rng(None)): a run not meant to repeat.
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ArgumentError(f"seed must be an int or None, not {type(seed).__name__} {seed!r}")


# ---------------------------------------------------------------------------------------------
# Initialisation


def _fan(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ArgumentValueError(f"{what} must be a positive number, not {value!r}")
    return float(value)


def xavier_uniform(fan_in: float, fan_out: float, rng: Any = random) -> float:
    """Glorot & Bengio (2010): uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)).

    rng: a random.Random (default: the random module's shared generator).
    """
    limit = math.sqrt(6.0 / (_fan(fan_in, "fan_in") + _fan(fan_out, "fan_out")))
    return rng.uniform(-limit, limit)


def xavier_normal(fan_in: float, fan_out: float, rng: Any = random) -> float:
    """Glorot & Bengio (2010): normal, mean 0, std = sqrt(2 / (fan_in + fan_out)).
    Not truncated (as in PyTorch; Keras truncates at two standard deviations)."""
    std = math.sqrt(2.0 / (_fan(fan_in, "fan_in") + _fan(fan_out, "fan_out")))
    return rng.gauss(0.0, std)


def he_uniform(fan_in: float, rng: Any = random) -> float:
    """He et al. (2015), for ReLU layers: uniform on [-limit, limit], limit = sqrt(6 / fan_in)."""
    limit = math.sqrt(6.0 / _fan(fan_in, "fan_in"))
    return rng.uniform(-limit, limit)


def he_normal(fan_in: float, rng: Any = random) -> float:
    """He et al. (2015), for ReLU layers: normal, mean 0, std = sqrt(2 / fan_in); not truncated."""
    return rng.gauss(0.0, math.sqrt(2.0 / _fan(fan_in, "fan_in")))


# scheme -> (uniform?, numerator, whether fan_out counts); limit or std = sqrt(num / fans)
_SCHEMES = {
    "xavier_uniform": (True, 6.0, True),
    "xavier_normal": (False, 2.0, True),
    "he_uniform": (True, 6.0, False),
    "he_normal": (False, 2.0, False),
    "zeros": None,
}


def _fans_of_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fans of a weight used as x @ W (numpy's and Keras's layout): rows in, columns out.

    (n,) -> n, n; (rows, cols) -> rows, cols; (k1, ..., in, out), a convolution kernel ->
    in*k1*..., out*k1*...; () -> 1, 1.
    """
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def init(
    params: Mapping[str, tuple[int, ...] | int | None] | Iterable[str] | str,
    scheme: str = "xavier_uniform",
    *,
    fan_in: float | None = None,
    fan_out: float | None = None,
    seed: int | None = 0,
) -> dict[str, Any]:
    """Initial values for a dict of parameters, seeded.

    params: names ("a,b,c" or a list: each a float), or a dict name -> shape; a tuple
        shape gives a numpy array of that shape (an int n is (n,)), None a float.
    scheme: "xavier_uniform"  uniform, limit sqrt(6 / (fan_in + fan_out))
            "xavier_normal"   normal, std sqrt(2 / (fan_in + fan_out))
            "he_uniform"      uniform, limit sqrt(6 / fan_in)
            "he_normal"       normal, std sqrt(2 / fan_in)
            "zeros"           0.0 (biases)
    fan_in, fan_out: required for float parameters (the number of inputs and outputs of
        the unit they belong to); for arrays they default from the shape, as for x @ W:
        a (rows, cols) weight has fan_in = rows, fan_out = cols; a (n,) one n and n; a
        kernel (k1, ..., in, out) fan_in = in*k1*..., fan_out = out*k1*....
    seed: floats are drawn from random.Random(seed), arrays from
        numpy.random.default_rng(seed), in the order of params; None for fresh entropy.

    >>> params = init("a,b,c", "he_uniform", fan_in=2, seed=1)
    >>> sorted(params), all(abs(value) <= 3**0.5 for value in params.values())
    (['a', 'b', 'c'], True)
    >>> {**init({"W1": (2, 3)}, "he_normal"), **init({"b1": (3,)}, "zeros")}["W1"].shape
    (2, 3)
    """
    if scheme not in _SCHEMES:
        raise ArgumentValueError(f"unknown scheme {scheme!r} (schemes: {', '.join(_SCHEMES)})")
    rule = _SCHEMES[scheme]
    _check_seed(seed)
    if isinstance(params, str):
        params = [name.strip() for name in params.split(",")]
    shapes = dict(params) if isinstance(params, Mapping) else dict.fromkeys(params)
    rng = random.Random(seed)
    array_rng = None
    values: dict[str, Any] = {}
    for name, shape in shapes.items():
        if not isinstance(name, str):
            raise ArgumentError(f"parameter names must be str, not {type(name).__name__}")
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if shape is not None and not (
            isinstance(shape, tuple)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise ArgumentValueError(
                f"the shape of {name!r} must be a tuple of sizes, not {shape!r}"
            )
        if shape is None:
            if rule is None:
                values[name] = 0.0
                continue
            uniform, numerator, with_out = rule
            if fan_in is None or (with_out and fan_out is None):
                needed = "fan_in and fan_out" if with_out else "fan_in"
                raise ArgumentValueError(
                    f"{scheme} needs {needed} for the float parameter {name!r}"
                )
            fans = _fan(fan_in, "fan_in") + (_fan(fan_out, "fan_out") if with_out else 0.0)
            bound = math.sqrt(numerator / fans)
            values[name] = rng.uniform(-bound, bound) if uniform else rng.gauss(0.0, bound)
            continue
        np = require_numpy(f"the array parameter {name!r} (shape {shape})")

        if rule is None:
            values[name] = np.zeros(shape)
            continue
        if array_rng is None:
            array_rng = np.random.default_rng(seed)
        uniform, numerator, with_out = rule
        shape_in, shape_out = _fans_of_shape(shape)
        fans = _fan(shape_in if fan_in is None else fan_in, f"fan_in of {name!r}")
        if with_out:
            fans += _fan(shape_out if fan_out is None else fan_out, f"fan_out of {name!r}")
        bound = math.sqrt(numerator / fans)
        if uniform:
            values[name] = array_rng.uniform(-bound, bound, size=shape)
        else:
            values[name] = array_rng.normal(0.0, bound, size=shape)
    return values


# ---------------------------------------------------------------------------------------------
# Optimisers: step(params, grads, lr) updates params in place (arrays in place, floats by
# replacing the dict entry). Decoupled weight decay shrinks a parameter by lr*weight_decay
# of itself each step, apart from the gradient (Loshchilov & Hutter, 2019).


class _Optimizer:
    def __init__(self, lr: float, weight_decay: float):
        _check_rate(lr, "lr")
        _check_rate(weight_decay, "weight_decay")
        self.lr = lr
        self.weight_decay = weight_decay
        self.state: dict[str, Any] = {}  # parameter name -> its moments

    def step(self, params: dict[str, Any], grads: Mapping[str, Any], lr: float | None = None):
        """Update every parameter in params from grads (a dict that may hold more, such as a
        value_and_grad result); lr overrides self.lr for this step."""
        lr = self.lr if lr is None else lr
        for name, value in params.items():
            try:
                grad = grads[name]
            except KeyError:
                raise ArgumentValueError(f"no gradient for parameter {name!r}") from None
            np = _numpy_of(value)
            if np is None:
                params[name] = self._number(name, value, grad, lr)
            else:
                self._array(np, name, value, grad, lr)

    def reset(self) -> None:
        """Forget the moments (momentum, Adam's averages and step counts)."""
        self.state.clear()

    def _buffers(self, np, name: str, value, count: int) -> list:
        """The parameter's state: count arrays of its shape (moments, scratch space), then
        the number of steps taken."""
        buffers = self.state.get(name)
        if buffers is None or buffers[0].shape != value.shape:
            if value.dtype.kind not in "fc":
                raise ArgumentError(
                    f"parameter {name!r} is an array of {value.dtype}: optimisers update "
                    "float arrays in place"
                )
            buffers = self.state[name] = [np.zeros_like(value) for _ in range(count)] + [0]
        return buffers

    def _number(self, name: str, value: float, grad: float, lr: float) -> float:
        raise NotImplementedError

    def _array(self, np, name: str, value, grad, lr: float) -> None:
        raise NotImplementedError


def _check_rate(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ArgumentValueError(f"{what} must be a number >= 0, not {value!r}")


class SGD(_Optimizer):
    """Stochastic gradient descent, with momentum (heavy ball or Nesterov) and decoupled
    weight decay, as torch.optim.SGD without dampening:

        p = p * (1 - lr*weight_decay)        # when weight_decay
        v = momentum*v + g                   # v starts at 0
        p = p - lr*(g + momentum*v)          # nesterov
        p = p - lr*v                         # otherwise (v = g without momentum)
    """

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        *,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(lr, weight_decay)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise ArgumentValueError(f"momentum must be a number in [0, 1), not {momentum!r}")
        if not 0 <= momentum < 1:
            raise ArgumentValueError(f"momentum must be in [0, 1), not {momentum!r}")
        if nesterov and momentum == 0:
            raise ArgumentValueError("nesterov=True needs a momentum above 0")
        self.momentum = momentum
        self.nesterov = nesterov

    def _number(self, name, value, grad, lr):
        if self.weight_decay:
            value = value * (1.0 - lr * self.weight_decay)
        if self.momentum:
            velocity = self.momentum * self.state.get(name, 0.0) + grad
            self.state[name] = velocity
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        return value - lr * grad

    def _array(self, np, name, value, grad, lr):
        if self.momentum:
            velocity, scratch, _ = self._buffers(np, name, value, 2)
        else:
            scratch, _ = self._buffers(np, name, value, 1)
        if self.weight_decay:
            value *= 1.0 - lr * self.weight_decay
        update = grad
        if self.momentum:
            velocity *= self.momentum
            velocity += grad
            update = velocity
            if self.nesterov:
                np.multiply(velocity, self.momentum, out=scratch)
                scratch += grad
                update = scratch
        np.multiply(update, lr, out=scratch)
        value -= scratch

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.lr!r}, momentum={self.momentum!r}, nesterov={self.nesterov!r}, "
            f"weight_decay={self.weight_decay!r})"
        )


class Adam(_Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, and decoupled weight decay (AdamW):

    m = beta1*m + (1 - beta1)*g;  v = beta2*v + (1 - beta2)*g*g    # both start at 0
    m_hat = m / (1 - beta1**t);   v_hat = v / (1 - beta2**t)       # t = 1, 2, ...
    p = p * (1 - lr*weight_decay)                                   # when weight_decay
    p = p - lr * m_hat / (sqrt(v_hat) + eps)
    """

    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        weight_decay: float = 0.0,
    ):
        super().__init__(lr, weight_decay)
        if len(betas) != 2 or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas
        ):
            raise ArgumentValueError(f"betas must be two numbers in [0, 1), not {betas!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ArgumentValueError(f"eps must be a number > 0, not {eps!r}")
        self.betas = tuple(betas)
        self.eps = eps

    def _number(self, name, value, grad, lr):
        beta1, beta2 = self.betas
        m, v, t = self.state.get(name, (0.0, 0.0, 0))
        t += 1
        m = beta1 * m + (1.0 - beta1) * grad
        v = beta2 * v + (1.0 - beta2) * grad * grad
        self.state[name] = (m, v, t)
        if self.weight_decay:
            value = value * (1.0 - lr * self.weight_decay)
        denominator = math.sqrt(v) / math.sqrt(1.0 - beta2**t) + self.eps
        return value - lr / (1.0 - beta1**t) * m / denominator

    def _array(self, np, name, value, grad, lr):
        beta1, beta2 = self.betas
        buffers = self._buffers(np, name, value, 3)
        m, v, scratch, t = buffers
        buffers[3] = t = t + 1
        m *= beta1
        np.multiply(grad, 1.0 - beta1, out=scratch)
        m += scratch
        v *= beta2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1.0 - beta2
        v += scratch
        if self.weight_decay:
            value *= 1.0 - lr * self.weight_decay
        np.sqrt(v, out=scratch)
        scratch /= math.sqrt(1.0 - beta2**t)
        scratch += self.eps
        np.divide(m, scratch, out=scratch)
        scratch *= lr / (1.0 - beta1**t)
        value -= scratch

    def __repr__(self) -> str:
        name = type(self).__name__
        return (
            f"{name}(lr={self.lr!r}, betas={self.betas!r}, eps={self.eps!r}, "
            f"weight_decay={self.weight_decay!r})"
        )


class AdamW(Adam):
    """Adam with decoupled weight decay, 0.01 by default (as torch.optim.AdamW)."""

    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        weight_decay: float = 0.01,
    ):
        super().__init__(lr, betas, eps, weight_decay=weight_decay)


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules: callables of the epoch number (unit="epoch", fit calls them at
# the start of each epoch) or of the step number (unit="step", before each step).


def _check_unit(unit: str) -> None:
    if unit not in ("epoch", "step"):
        raise ArgumentValueError(f"unit must be 'epoch' or 'step', not {unit!r}")


def _check_count(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentValueError(f"{what} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class Constant:
    """lr at every epoch (or step)."""

    lr: float
    unit: str = "epoch"

    def __post_init__(self):
        _check_rate(self.lr, "lr")
        _check_unit(self.unit)

    def __call__(self, t: int) -> float:
        return self.lr


@dataclass(frozen=True)
class StepDecay:
    """lr * gamma**(t // every): multiplied by gamma every `every` epochs (or steps)."""

    lr: float
    every: int
    gamma: float = 0.1
    unit: str = "epoch"

    def __post_init__(self):
        _check_rate(self.lr, "lr")
        _check_count(self.every, "every")
        _check_rate(self.gamma, "gamma")
        _check_unit(self.unit)

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** (t // self.every)


@dataclass(frozen=True)
class Cosine:
    """Cosine annealing from lr at t = 0 to floor at t = total, floor afterwards:
    floor + (lr - floor) * (1 + cos(pi * min(t, total) / total)) / 2."""

    lr: float
    total: int
    floor: float = 0.0
    unit: str = "epoch"

    def __post_init__(self):
        _check_rate(self.lr, "lr")
        _check_count(self.total, "total")
        _check_rate(self.floor, "floor")
        _check_unit(self.unit)

    def __call__(self, t: int) -> float:
        progress = min(t, self.total) / self.total
        return self.floor + (self.lr - self.floor) * (1.0 + math.cos(math.pi * progress)) / 2


# ---------------------------------------------------------------------------------------------
# fit()


class NonFiniteLossError(Error, ValueError):
    """The training loss (or its gradient) became inf or NaN. epoch and step (within the
    epoch) count from 0; example is the index into the data (None if no single example is
    non-finite: the batch's sum overflowed)."""

    def __init__(self, message: str, epoch: int, step: int, example: int | None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.example = example


@dataclass(repr=False)
class History:
    """What fit() did. Lists are indexed by epoch (step_loss by step), from 0.

    params: the trained parameters (the best ones by validation loss when patience is set).
    train_loss: each epoch's mean loss over its training examples.
    val_loss: each epoch's mean validation loss, after its last step (empty without
        validation).
    step_loss: each step's mean loss over its minibatch, before the update.
    lr: the learning rate of each epoch's first step.
    best_epoch: the epoch with the lowest validation loss (None without validation).
    stopped_early: patience ran out, or the callback asked to stop.
    """

    params: dict[str, Any]
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        """A summary: the lists hold a number per epoch or step, too many to print."""
        parts = [f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"]
        if self.stopped_early:
            parts[0] += ", stopped early"
        best = self.best_epoch
        if best is not None and best < min(len(self.train_loss), len(self.val_loss)):
            parts.append(
                f"best epoch {best}: train loss {self.train_loss[best]:.6g}, "
                f"val loss {self.val_loss[best]:.6g}"
            )
        if self.train_loss:
            last = f"last train loss {self.train_loss[-1]:.6g}"
            if self.val_loss:
                last += f", val loss {self.val_loss[-1]:.6g}"
            parts.append(last)
        parts.append(f"params {', '.join(map(str, self.params)) or 'none'}")
        return f"<History: {'; '.join(parts)}>"


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
    params: name -> initial value (a float, or a numpy array with the numpy backend); every
        name must be an input of loss and in loss.wrt. params is not modified: the trained
        values are history.params.
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
        in f.flat(names, **fixed). A number (or an array with the numpy backend, passed
        whole, not sliced); a name must be an input of the loss, and neither a parameter
        nor a column of data or validation.

    The batch loss and gradient, with the Python backend: the mean of the examples' values
    and gradients, each one a call of loss.value_and_grad with positional arguments (the
    formula is one example's loss). With the numpy backend (compile(..., backend="numpy")):
    one value_and_grad call per batch on the sliced columns (first axis: the examples),
    and the formula's value IS the batch loss, a scalar; its gradients are used as they
    are. Write mean(...) over the examples, so that the loss and the step do not grow with
    the batch size; a sum(...) works too, as a loss batch_size times larger. A value that is
    not a scalar (a loss per example) is a ValueError at the first batch. Either way,
    step_loss records each batch's loss, train_loss the mean of an epoch's step losses
    weighted by their batch sizes (the mean loss per example for a mean formula) and
    val_loss the loss on the held-out examples (in calls of at most 4,096 examples, weighted
    the same way). Array parameters are copied (float32 stays float32, other dtypes become
    float64) and updated in place.

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

    if getattr(loss, "backend", None) == "numpy":
        engine: _Engine = _ArrayEngine(loss, names, params, fixed, data, validation, fraction, seed)
    else:
        engine = _NumberEngine(loss, names, params, fixed, data, validation, fraction, seed)
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
        name: value if _numpy_of(value) is None else value.copy() for name, value in params.items()
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


def _check_not_fixed(names: Iterable[Any], fixed: Mapping[str, Any], what: str) -> None:
    """A column of data that is also fixed would be ambiguous: refuse it, naming it."""
    both = [name for name in names if name in fixed]
    if both:
        raise ArgumentValueError(
            f"{', '.join(map(repr, both))} is both fixed and a column of {what}: "
            "give it in one of them"
        )


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


def _number(value: Any, where: str) -> float:
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes)) or not hasattr(type(value), "__float__"):
        raise ArgumentError(f"{where} must be a number, not {type(value).__name__} {value!r}")
    try:
        return float(value)
    except TypeError:
        raise ArgumentError(f"{where} must be a real number, not {value!r}") from None


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
    size: int  # training examples
    validating: bool

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

    @staticmethod
    def _float(value: Any, where: str) -> float:
        if _numpy_of(value) is not None and value.ndim:
            raise ArgumentError(
                f"{where} is an array, but the loss computes with numbers: "
                "compile it with backend='numpy'"
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


class _ArrayEngine(_Engine):
    """The numpy backend: one value_and_grad call per batch, on the sliced columns.

    The formula's value is the batch's loss (a scalar, such as mean(...) over the examples'
    axis) and its gradients are the step's, used as they are: nothing is summed or divided
    here, so training a mean and evaluating it agree.
    """

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

    def _check_scalar(self, shape: tuple, size: int) -> None:
        if shape != ():
            raise ArgumentValueError(
                f"the loss has shape {shape} on a batch of {size} examples; with the numpy "
                "backend its value must be a scalar, the batch's loss: reduce it in the "
                "formula, as mean(...) over the examples"
            )

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
        total = 0.0
        chunk = 4096  # examples a call: bounds the memory of a large validation set
        for start in range(0, len(self.held_out), chunk):
            part = self.held_out[start : start + chunk]
            try:
                value = self.value(*self._arguments(self.validation_columns, part))
            except EvaluationError:
                context = f"validation after epoch {epoch}"
                self._find(self.validation_columns, part, self.validation_label, context)
                raise
            total += float(value) * len(part)  # each chunk's mean, weighted by its size
        return total / len(self.held_out)


# ---------------------------------------------------------------------------------------------
# Progress


class _Bar:
    """A tqdm bar counting steps, the losses as its postfix."""

    def __init__(self, tqdm, total: int, delay: float):
        self.bar = tqdm(total=total, unit="step", file=sys.stderr, delay=delay, leave=True)

    def step(self) -> None:
        self.bar.update(1)

    def epoch(self, epoch: int, epochs: int, history: History) -> None:
        postfix = {"epoch": f"{epoch + 1}/{epochs}", "loss": f"{history.train_loss[-1]:.4g}"}
        if history.val_loss:
            postfix["val"] = f"{history.val_loss[-1]:.4g}"
        self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        self.bar.close()


class _Lines:
    """progress=True without tqdm: a line per epoch on stderr."""

    def step(self) -> None:
        pass

    def epoch(self, epoch: int, epochs: int, history: History) -> None:
        text = f"epoch {epoch + 1}/{epochs}: loss {history.train_loss[-1]:.6g}"
        if history.val_loss:
            text += f", validation {history.val_loss[-1]:.6g}"
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def _progress(progress: bool | None, total: int) -> _Bar | _Lines | None:
    if progress is False:
        return None
    if progress is not None and progress is not True:
        raise ArgumentError(f"progress must be True, False or None, not {progress!r}")
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        if tqdm is None or isatty is None or not isatty():
            return None
        return _Bar(tqdm, total, delay=1.0)  # short runs finish before the bar shows
    return _Lines() if tqdm is None else _Bar(tqdm, total, delay=0.0)
