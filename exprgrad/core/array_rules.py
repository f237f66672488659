"""The array rows' rules: shapes from operand shapes, and derivative rules as IR.

For the primitive table (primitives.py), which names each of these in its row: a shape
rule gives an op's result shape from its operands' (and its axis, or its whole-number
parameters); a GradRule builds g * d(out)/d(operand) for each operand, and a tangent
rule (forward mode) the operand's tangent carried to the result. Rules build IR with the
ops of other rows: the gradient of a convolution is two convolution-gradient rows, the
tangent of a reduction the same reduction, so both can be differentiated again.

The Python-function rules of scalar rows (min and max's tie split) use the same
RuleBuilder. This module imports nothing of exprgrad's beyond errors (the table imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..errors import ShapeError

# More elements than any memory holds: a shape past it is a ShapeError at the op (a padding
# of 1e9 written in a formula), not numpy's "array is too big" from deep inside a call.
MAX_ELEMENTS = 2**48


def check_size(shape: Sequence[int], what: str) -> None:
    size = size_of(shape)
    if size > MAX_ELEMENTS or any(n > MAX_ELEMENTS for n in shape):
        raise ShapeError(f"{what} would have shape {tuple(shape)}: more than any memory holds")


class RuleBuilder(Protocol):
    """What a Python-function derivative rule may use to build gradient IR."""

    def op(self, prim: str, *args: int) -> int: ...
    def const(self, value: float) -> int: ...


GradRule = Callable[[RuleBuilder, tuple[int, ...], int, int], tuple[int, ...]]


def broadcast(shapes: Sequence[tuple[int, ...]], axis: int | None = None) -> tuple[int, ...]:
    """numpy's broadcasting: shapes aligned on the right, each dimension equal or 1."""
    size = max(len(s) for s in shapes)
    result = []
    for k in range(size):
        sizes = {s[len(s) - size + k] for s in shapes if len(s) - size + k >= 0} - {1}
        if len(sizes) > 1:
            raise ShapeError("shapes " + " and ".join(map(str, shapes)) + " do not broadcast")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def axis_index(shape: tuple[int, ...], axis: int) -> int:
    if not -len(shape) <= axis < len(shape):
        raise ShapeError(f"axis {axis} is out of range for shape {shape}")
    return axis % len(shape)


def reduced_shape(shapes: Sequence[tuple[int, ...]], axis: int | None) -> tuple[int, ...]:
    (shape,) = shapes[:1]
    if axis is None:
        return ()
    kept = axis_index(shape, axis)
    return shape[:kept] + shape[kept + 1 :]


def same_shape(shapes: Sequence[tuple[int, ...]], axis: int | None) -> tuple[int, ...]:
    if axis is not None:
        axis_index(shapes[0], axis)
    return shapes[0]


def matmul_shape(shapes: Sequence[tuple[int, ...]], axis: int | None) -> tuple[int, ...]:
    left, right = shapes
    if not (1 <= len(left) <= 2 and 1 <= len(right) <= 2):
        raise ShapeError(f"@ takes 1-D and 2-D operands, not shapes {left} and {right}")
    if left[-1] != right[0]:
        raise ShapeError(f"shapes {left} and {right} do not match for @ ({left[-1]} != {right[0]})")
    return left[:-1] + right[1:]


def extreme_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    """amax, amin: the tied extreme elements share the gradient evenly; a NaN result (the
    row held a NaN) gives the whole row a NaN gradient, as max and min do (and jax)."""
    x, *axis = args
    hit = b.op("eq", x, b.op("expand", out, x, *axis))
    count = b.op("expand", b.op("sum", hit, *axis), x, *axis)
    share = b.op("div", b.op("expand", g, x, *axis), count)
    lost = b.op("where", b.op("eq", out, out), b.const(0.0), out)  # 0, or the NaN itself
    return (b.op("where", hit, share, b.op("expand", lost, x, *axis)), None)


def reduce_rule(name: str) -> GradRule:
    def rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
        x, *axis = args
        if name == "mean":  # divided while it is small, then back to x's shape
            share = b.op("div", g, b.op("count", x, *axis))
            return (b.op("expand", share, x, *axis), None)
        wide = b.op("expand", g, x, *axis)  # the reduced gradient, back to x's shape
        if name == "sum":
            return (wide, None)
        # logsumexp: d/dx = exp(x - out), the softmax along the axis
        spread = b.op("exp", b.op("sub", x, b.op("expand", out, x, *axis)))
        return (b.op("mul", wide, spread), None)

    return rule


def softmax_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, axis = args
    inner = b.op("expand", b.op("sum", b.op("mul", g, out), axis), out, axis)
    return (b.op("mul", out, b.op("sub", g, inner)), None)


def log_softmax_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, axis = args
    total = b.op("expand", b.op("sum", g, axis), out, axis)
    return (b.op("sub", g, b.op("mul", b.op("exp", out), total)), None)


def matmul_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, y = args
    return (b.op("matmul_dx", g, x, y), b.op("matmul_dy", g, x, y))


def expand_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    # expand broadcasts its first operand to the second's shape: its adjoint sums back
    return (b.op("sum", g, *args[2:]) if len(args) > 2 else b.op("unbroadcast", g, args[0]),)


def window_count(size: int, k: int, stride: int, padding: int = 0) -> int:
    """How many windows of k fit along an axis of `size` (padded on both sides), `stride` apart."""
    return (size + 2 * padding - k) // stride + 1


def conv2d_shape(shapes: Sequence[tuple[int, ...]], params: tuple[int, ...]) -> tuple[int, ...]:
    x, w = shapes[:2]
    stride, padding = params
    if len(x) != 4 or len(w) != 4:
        raise ShapeError(
            f"conv2d takes an image batch (N, C, H, W) and filters (F, C, kh, kw), "
            f"not shapes {x} and {w}"
        )
    if x[1] != w[1]:
        raise ShapeError(f"the image has {x[1]} channels and the filters take {w[1]}")
    check_size((x[0], x[1], x[2] + 2 * padding, x[3] + 2 * padding), "the padded image")
    if x[2] + 2 * padding < w[2] or x[3] + 2 * padding < w[3]:
        raise ShapeError(
            f"the {w[2]}x{w[3]} kernel is larger than the {x[2]}x{x[3]} image padded by {padding}"
        )
    return (
        x[0],
        w[0],
        window_count(x[2], w[2], stride, padding),
        window_count(x[3], w[3], stride, padding),
    )


def pool_shape(shapes: Sequence[tuple[int, ...]], params: tuple[int, ...]) -> tuple[int, ...]:
    x = shapes[0]
    k, stride = params
    if len(x) < 2:
        raise ShapeError(f"pooling takes windows over the last two axes, not shape {x}")
    if x[-2] < k or x[-1] < k:
        raise ShapeError(f"the {k}x{k} window is larger than the {x[-2]}x{x[-1]} image")
    return x[:-2] + (window_count(x[-2], k, stride), window_count(x[-1], k, stride))


def size_of(shape: Sequence[int]) -> int:
    size = 1
    for n in shape:
        size *= n
    return size


def reshape_shape(shapes: Sequence[tuple[int, ...]], params: tuple[int, ...]) -> tuple[int, ...]:
    x, size = shapes[0], size_of(shapes[0])
    if params.count(-1) > 1:
        raise ShapeError(f"reshape takes at most one -1, not {params}")
    known = size_of(n for n in params if n != -1)
    if -1 in params:
        if known == 0 or size % known:
            raise ShapeError(f"shape {x} ({size} elements) cannot be reshaped to {params}")
        params = tuple(size // known if n == -1 else n for n in params)
    if size_of(params) != size:
        raise ShapeError(f"shape {x} ({size} elements) cannot be reshaped to {params}")
    return params


def flatten_shape(shapes: Sequence[tuple[int, ...]], params: Any) -> tuple[int, ...]:
    x = shapes[0]
    if not x:
        raise ShapeError("flatten takes an array of one axis or more (axis 0 is kept)")
    return (x[0], size_of(x[1:]))


def conv2d_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, w, *params = args
    return (b.op("conv2d_dx", g, x, w, *params), b.op("conv2d_dw", g, x, w, *params), None, None)


def maxpool_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    # the tied largest elements of each window share its gradient, as amax's do
    x, *params = args
    return (b.op("maxpool2d_dx", g, x, out, *params), None, None)


def avgpool_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, *params = args
    return (b.op("avgpool2d_dx", g, x, *params), None, None)


def reshape_rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    return (b.op("reshape_as", g, args[0]), *(None for _ in args[1:]))


def extreme_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    """amax, amin along g: the tied extreme elements' tangents averaged, as the gradient
    splits evenly; a row holding a NaN has no element equal to its NaN result: 0/0, NaN."""
    x, *axis = args
    hit = b.op("eq", x, b.op("expand", out, x, *axis))
    picked = b.op("sum", b.op("where", hit, g, b.const(0.0)), *axis)
    return (b.op("div", picked, b.op("sum", hit, *axis)), None)


def linear_rule(name: str) -> GradRule:
    """The rule of an op linear in its first operand (sum, expand, avgpool2d, ...), whose
    others give only a shape, an axis or parameters, or, for maxpool2d_dx, which elements
    share a window (piecewise constant): the op itself applied to the tangent."""

    def rule(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
        return (b.op(name, g, *args[1:]), *(None for _ in args[1:]))

    return rule


def logsumexp_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, *axis = args  # g weighted by the softmax along the axis, exp(x - out)
    spread = b.op("exp", b.op("sub", x, b.op("expand", out, x, *axis)))
    return (b.op("sum", b.op("mul", spread, g), *axis), None)


def log_softmax_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, axis = args  # g less its mean weighted by the softmax, exp(out), along the axis
    mean = b.op("sum", b.op("mul", b.op("exp", out), g), axis)
    return (b.op("sub", g, b.op("expand", mean, out, axis)), None)


def matmul_dx_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    adjoint, x, y = args  # g @ y.T, bilinear in (adjoint, y); x gives only a shape
    return (b.op("matmul_dx", g, x, y), None, b.op("matmul_dx", adjoint, x, g))


def matmul_dy_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    adjoint, x, y = args  # x.T @ g, bilinear in (adjoint, x); y gives only a shape
    return (b.op("matmul_dy", g, x, y), b.op("matmul_dy", adjoint, g, y), None)


def conv2d_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, w, *params = args  # bilinear in (x, w)
    return (b.op("conv2d", g, w, *params), b.op("conv2d", x, g, *params), None, None)


def maxpool_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    x, *params = args  # each window's tied largest elements' tangents averaged
    return (b.op("maxpool2d_jvp", g, x, out, *params), None, None)


def reshape_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    # reshape, flatten, reshape_as: g in the result's shape (its adjoint takes x's)
    return (b.op("reshape_as", g, out), *(None for _ in args[1:]))


def conv2d_dx_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    adjoint, x, w, *params = args  # bilinear in (adjoint, w); x gives only a shape
    spread = b.op("conv2d_dx", adjoint, x, g, *params)
    return (b.op("conv2d_dx", g, x, w, *params), None, spread, None, None)


def conv2d_dw_tangent(b: RuleBuilder, args: tuple[int, ...], out: int, g: int) -> tuple:
    adjoint, x, w, *params = args  # bilinear in (adjoint, x); w gives only a shape
    against = b.op("conv2d_dw", adjoint, g, w, *params)
    return (b.op("conv2d_dw", g, x, w, *params), against, None, None, None)
