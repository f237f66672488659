"""Gradients -> updated parameters: SGD (momentum, Nesterov), Adam and AdamW.

step(params, grads, lr) updates params in place (numpy arrays and nested lists of floats in
place, floats by replacing the dict entry). Nested lists (the lists backend's arrays) are
updated element by element with the array path's arithmetic, in its order, so the two agree
to the last bit. Decoupled weight decay shrinks a parameter by lr*weight_decay of itself each
step, apart from the gradient (Loshchilov & Hutter, 2019).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import ArgumentError, ArgumentValueError
from .checks import _check_rate, _numpy_of
from .nested import rows, shape_of, zeros


class _Optimizer:
    def __init__(self, lr: float, weight_decay: float):
        _check_rate(lr, "lr")
        _check_rate(weight_decay, "weight_decay")
        self.lr = lr
        self.weight_decay = weight_decay
        self.state: dict[str, Any] = {}  # parameter name -> its moments
        self._moments = 0  # nested lists of a list parameter's shape that _row keeps

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
            if np is not None:
                self._array(np, name, value, grad, lr)
            elif isinstance(value, list):
                self._lists(name, value, grad, lr)
            elif isinstance(value, tuple):
                raise ArgumentError(
                    f"parameter {name!r} is a tuple: give nested lists, which are updated in place"
                )
            else:
                params[name] = self._number(name, value, grad, lr)

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

    def _lists(self, name: str, value: list, grad: Any, lr: float) -> None:
        """Update nested lists of floats in place, one innermost row at a time."""
        shape = shape_of(value)
        if shape_of(grad) != shape:
            raise ArgumentValueError(
                f"the gradient of {name!r} has shape {shape_of(grad)}, not the parameter's "
                f"shape {shape}"
            )
        state = self.state.get(name)
        if not (isinstance(state, _ListState) and state.shape == shape):
            state = self.state[name] = _ListState(shape, self._moments)
        state.steps += 1
        moments = [rows(moment) for moment in state.moments]
        for row, grad_row, *moment_rows in zip(rows(value), rows(grad), *moments, strict=True):
            self._row(row, grad_row, moment_rows, lr, state.steps)

    def _row(self, row: list, grad: list, moments: list[list], lr: float, t: int) -> None:
        raise NotImplementedError

    def _number(self, name: str, value: float, grad: float, lr: float) -> float:
        raise NotImplementedError

    def _array(self, np, name: str, value, grad, lr: float) -> None:
        raise NotImplementedError


class _ListState:
    """A nested-list parameter's moments (nested lists of its shape) and its step count."""

    def __init__(self, shape: tuple[int, ...], count: int):
        self.shape = shape
        self.moments = [zeros(shape) for _ in range(count)]
        self.steps = 0


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
        self._moments = 1 if momentum else 0  # the velocity

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

    def _row(self, row, grad, moments, lr, t):
        momentum, nesterov = self.momentum, self.nesterov
        decay = 1.0 - lr * self.weight_decay if self.weight_decay else None
        velocity = moments[0] if momentum else None
        for i, g in enumerate(grad):
            p = row[i] if decay is None else row[i] * decay
            if momentum:
                v = velocity[i] = velocity[i] * momentum + g
                g = v * momentum + g if nesterov else v
            row[i] = p - g * lr

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
        self._moments = 2  # m and v

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

    def _row(self, row, grad, moments, lr, t):
        beta1, beta2 = self.betas
        m, v = moments
        decay = 1.0 - lr * self.weight_decay if self.weight_decay else None
        root = math.sqrt(1.0 - beta2**t)
        scale = lr / (1.0 - beta1**t)
        for i, g in enumerate(grad):
            m_i = m[i] = m[i] * beta1 + g * (1.0 - beta1)
            v_i = v[i] = v[i] * beta2 + g * g * (1.0 - beta2)
            p = row[i] if decay is None else row[i] * decay
            row[i] = p - m_i / (math.sqrt(v_i) / root + self.eps) * scale

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
