"""Standard-library functions that generated list code calls: lanes of a reduction or a
softmax, the IEEE results where Python's math raises, and shape changes for any rank.

Plain Python over math and operator only, so a standalone module (f.module_source) can
paste their source. Names start with `_`; formula names never do after mangling.
"""

import math
from operator import mul as _mul  # noqa: F401 (generated code's dot products)


def _amax(lane):
    # max of a lane; NaN anywhere gives NaN (the builtin keeps or drops a NaN by position)
    top = max(lane)
    return top if top == top and all(a == a for a in lane) else math.nan


def _amin(lane):
    low = min(lane)
    return low if low == low and all(a == a for a in lane) else math.nan


def _sum(lane):
    return sum(lane, 0.0)


def _mean(lane):
    return sum(lane, 0.0) / len(lane)


def _logsumexp(lane):
    # the max subtracted first, so exp never overflows; a lane of -inf gives -inf, not nan
    top = _amax(lane)
    if top != top:
        return top
    if math.isinf(top):
        return top if top < 0 else math.inf
    return math.log(sum([math.exp(a - top) for a in lane], 0.0)) + top


def _softmax(lane):
    top = _amax(lane)
    shifted = [math.exp(a - top) if top == top else math.nan for a in lane]
    total = sum(shifted, 0.0)
    return [s / total for s in shifted]


def _log_softmax(lane):
    top = _amax(lane)
    shifted = [a - top for a in lane]
    log_total = math.log(sum([math.exp(s) for s in shifted], 0.0))
    return [s - log_total for s in shifted]


def _flatten(x, rank):
    # a nested list of that rank -> its numbers in row-major order
    for _ in range(rank - 1):
        x = [a for row in x for a in row]
    return list(x) if rank else [x]


def _nest(flat, shape):
    # numbers in row-major order -> the nested list of that shape (a number for shape ())
    if not shape:
        return flat[0]
    for k in range(len(shape) - 1, 0, -1):
        size = shape[k]
        flat = [flat[i * size : (i + 1) * size] for i in range(math.prod(shape[:k]))]
    return list(flat)


def _strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


def _lanes(shape, axis):
    # the flat indices of every lane along `axis`, lanes in row-major order of the rest
    strides = _strides(shape)
    rest = [k for k in range(len(shape)) if k != axis]
    starts = [0]
    for k in rest:
        starts = [s + i * strides[k] for s in starts for i in range(shape[k])]
    return [[s + i * strides[axis] for i in range(shape[axis])] for s in starts]


def _reduce_axis(function, x, shape, axis):
    # function of each lane along axis: the result has that axis removed
    flat = _flatten(x, len(shape))
    values = [function([flat[i] for i in lane]) for lane in _lanes(shape, axis)]
    return _nest(values, shape[:axis] + shape[axis + 1 :])


def _along(function, x, shape, axis):
    # function (a lane -> a lane) applied along axis: the result has x's shape
    flat = _flatten(x, len(shape))
    result = [0.0] * len(flat)
    for lane in _lanes(shape, axis):
        for i, value in zip(lane, function([flat[i] for i in lane]), strict=True):
            result[i] = value
    return _nest(result, shape)


def _transpose(x, shape):
    # every axis reversed, as numpy's transpose
    flat = _flatten(x, len(shape))
    strides = _strides(shape)
    indices = [0]
    for k in reversed(range(len(shape))):
        indices = [i + j * strides[k] for i in indices for j in range(shape[k])]
    return _nest([flat[i] for i in indices], shape[::-1])


def _spread(flat, shape, to):
    # the numbers of an array of `shape`, in row-major order, broadcast to `to` (numpy's
    # rules), in row-major order
    lead = len(to) - len(shape)
    strides = _strides(shape)
    indices = [0]
    for k, size in enumerate(to):
        own = k - lead
        step = strides[own] if own >= 0 and shape[own] != 1 else 0
        indices = [i + j * step for i in indices for j in range(size)]
    return [flat[i] for i in indices]


def _broadcast(x, shape, to):
    # x (of `shape`) broadcast to `to`, as numpy broadcasts: fresh lists
    return _nest(_spread(_flatten(x, len(shape)), shape, to), to)


def _unbroadcast(g, shape, to):
    # g (of `shape`) summed over the axes broadcasting added or stretched, back to `to`
    flat = _flatten(g, len(shape))
    lead = len(shape) - len(to)
    strides = _strides(to)
    sums = [0.0] * math.prod(to)
    targets = [0]
    for k, size in enumerate(shape):
        own = k - lead
        step = strides[own] if own >= 0 and to[own] != 1 else 0
        targets = [t + j * step for t in targets for j in range(size)]
    for target, value in zip(targets, flat, strict=True):
        sums[target] += value
    return _nest(sums, to)


def _expand(v, shape, axis):
    # v, reduced over axis of `shape` (all axes when None), broadcast back to `shape`
    if axis is None or not isinstance(v, list):
        return _broadcast(v, (), shape)
    kept = shape[:axis] + (1,) + shape[axis + 1 :]
    return _broadcast(_nest(_flatten(v, len(shape) - 1), kept), kept, shape)


def _copy(x):
    # a fresh nested list: no result shares a list with another
    return [_copy(row) for row in x] if isinstance(x, list) else x


def _ieee(prim, function, *args):
    # function(*args) as IEEE arithmetic (and numpy) gives it: inf or nan where Python's
    # math raises. Only the code that explains a non-finite result calls this.
    try:
        return function(*args)
    except ZeroDivisionError:
        x, y = args
        if prim == "div":
            if x == 0 or x != x:
                return math.nan
            return math.copysign(math.inf, x) * math.copysign(1, y)
        return -math.inf if math.copysign(1, x) < 0 and y % 2 == 1 else math.inf  # 0 ** -n
    except OverflowError:
        x = args[0]
        if prim in ("pow", "powi"):
            odd = args[1] % 2 == 1
            return -math.inf if x < 0 and odd else math.inf
        return math.copysign(math.inf, x) if prim == "sinh" else math.inf
    except ValueError:
        x = args[0]
        if prim in ("log", "log1p") and x == (0 if prim == "log" else -1):
            return -math.inf
        if prim == "atanh" and abs(x) == 1:
            return math.copysign(math.inf, x)
        if prim == "pow" and x == 0 and args[1] < 0:
            odd = args[1] % 2 == 1
            return -math.inf if math.copysign(1, x) < 0 and odd else math.inf
        return math.nan


HELPERS = {
    f.__name__: f
    for f in (
        _amax, _amin, _sum, _mean, _logsumexp, _softmax, _log_softmax, _flatten, _nest, _strides,
        _lanes, _reduce_axis, _along, _transpose, _spread, _broadcast, _unbroadcast, _expand, _copy,
        _ieee,
    )
}  # fmt: skip
# which helpers each helper calls, so a standalone module pastes them too
NEEDS = {
    "_logsumexp": ("_amax",), "_softmax": ("_amax",), "_log_softmax": ("_amax",),
    "_reduce_axis": ("_flatten", "_nest", "_lanes"), "_along": ("_flatten", "_nest", "_lanes"),
    "_lanes": ("_strides",), "_transpose": ("_flatten", "_nest", "_strides"),
    "_broadcast": ("_flatten", "_nest", "_spread"), "_spread": ("_strides",),
    "_unbroadcast": ("_flatten", "_nest", "_strides"),
    "_expand": ("_broadcast", "_nest", "_flatten"),
}  # fmt: skip
