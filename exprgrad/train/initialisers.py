"""Parameter shapes and a scheme -> seeded initial values: Xavier (Glorot) and He schemes,
one number at a time or init() for a whole dict of floats and numpy arrays (or nested lists)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from ..errors import ArgumentError, ArgumentValueError, require_numpy
from .checks import _check_seed
from .nested import zeros


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
    lists: bool = False,
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
    lists: a tuple shape gives nested lists of floats instead of a numpy array (the lists
        backend's arrays, for a loss compiled with backend="python"; numpy is not needed):
        drawn from the same random.Random(seed) as the floats, in the order of params,
        each array's elements in row-major order.

    >>> params = init("a,b,c", "he_uniform", fan_in=2, seed=1)
    >>> sorted(params), all(abs(value) <= 3**0.5 for value in params.values())
    (['a', 'b', 'c'], True)
    >>> {**init({"W1": (2, 3)}, "he_normal"), **init({"b1": (3,)}, "zeros")}["W1"].shape
    (2, 3)
    >>> init({"W1": (2, 3), "b1": (3,)}, "zeros", lists=True)
    {'W1': [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], 'b1': [0.0, 0.0, 0.0]}
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
        if rule is None:
            values[name] = zeros(shape) if lists else _numpy(name, shape).zeros(shape)
            continue
        uniform, numerator, with_out = rule
        shape_in, shape_out = _fans_of_shape(shape)
        fans = _fan(shape_in if fan_in is None else fan_in, f"fan_in of {name!r}")
        if with_out:
            fans += _fan(shape_out if fan_out is None else fan_out, f"fan_out of {name!r}")
        bound = math.sqrt(numerator / fans)
        if lists:
            draw = partial(rng.uniform, -bound, bound) if uniform else partial(rng.gauss, 0, bound)
            values[name] = _filled(shape, draw)
            continue
        if array_rng is None:
            array_rng = _numpy(name, shape).random.default_rng(seed)
        if uniform:
            values[name] = array_rng.uniform(-bound, bound, size=shape)
        else:
            values[name] = array_rng.normal(0.0, bound, size=shape)
    return values


def _numpy(name: str, shape: tuple[int, ...]) -> Any:
    return require_numpy(
        f"the array parameter {name!r} (shape {shape}) as a numpy array (init(..., lists=True) "
        "gives nested lists instead)"
    )


def _filled(shape: tuple[int, ...], draw: Callable[[], float]) -> Any:
    """Nested lists of that shape, draw() at each element in row-major order (() is one
    number, as zeros(()) is)."""
    if not shape:
        return draw()
    return [_filled(shape[1:], draw) for _ in range(shape[0])]
