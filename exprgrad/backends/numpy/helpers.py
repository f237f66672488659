"""The numpy functions generated numpy code calls beyond numpy's own, each written to be stable.

Imported only by the numpy backend: `import exprgrad` never imports numpy.
"""

from __future__ import annotations

import math

import numpy as np

try:  # scipy's erf and erfc are ufuncs; numpy has neither
    from scipy.special import erf as _scipy_erf
    from scipy.special import erfc as _scipy_erfc
except ImportError:  # scipy is optional
    _scipy_erf = _scipy_erfc = None


def _erf(x):
    if _scipy_erf is not None:
        return _scipy_erf(x)
    return np.vectorize(math.erf, otypes=[np.result_type(x, np.float32)])(x)


def _erfc(x):
    if _scipy_erfc is not None:
        return _scipy_erfc(x)
    return np.vectorize(math.erfc, otypes=[np.result_type(x, np.float32)])(x)


# The reductions below are the ufuncs' own (np.max is np.maximum.reduce, np.sum is
# np.add.reduce, behind a layer of Python), and the arrays they make are written into
# with augmented assignments (which a 0-d input's numbers take too).


def _logsumexp(x, axis):
    # max subtracted first, so exp never overflows; a row of -inf gives -inf, not nan
    top = np.maximum.reduce(x, axis, keepdims=True)
    if not math.isfinite(np.add.reduce(top, None)):  # finite: so is each row's max
        top = np.where(np.isfinite(top), top, 0.0)
    total = np.log(np.add.reduce(np.exp(x - top), axis, keepdims=True))
    total += top
    return np.squeeze(total, axis=axis)


def _softmax(x, axis):
    shifted = np.exp(x - np.maximum.reduce(x, axis, keepdims=True))
    shifted /= np.add.reduce(shifted, axis, keepdims=True)
    return shifted


def _log_softmax(x, axis):
    shifted = x - np.maximum.reduce(x, axis, keepdims=True)
    shifted -= np.log(np.add.reduce(np.exp(shifted), axis, keepdims=True))
    return shifted


# Images are NCHW and filters OIHW. A convolution is im2col (every window, as a view from
# sliding_window_view, copied once into columns) and one matmul per image; a pool reduces
# the windows' last two axes. Gradients spread each window's share back with one strided
# add per kernel offset (kh * kw of them), never a loop over pixels or images.


def _windows(x, kh, kw, stride):
    # every kh x kw window of the last two axes, stride apart: a view (..., OH, OW, kh, kw)
    view = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(-2, -1))
    return view[..., ::stride, ::stride, :, :] if stride > 1 else view


def _padded(x, padding):
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def _columns(x, kh, kw, stride, padding):
    # im2col: (N, C*kh*kw, OH*OW), one column per output pixel
    windows = _windows(_padded(x, padding), kh, kw, stride)  # N C OH OW kh kw
    n, c, oh, ow = windows.shape[:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)


def _conv2d(x, w, stride, padding):
    f, _, kh, kw = w.shape
    columns = _columns(x, kh, kw, stride, padding)
    out = w.reshape(f, -1) @ columns  # N F OH*OW
    n = x.shape[0]
    oh = (x.shape[2] + 2 * padding - kh) // stride + 1
    return out.reshape(n, f, oh, -1)


def _conv2d_dw(g, x, w, stride, padding):
    # d/dw: each filter's gradient is g's pixels against the columns they were computed from
    f, c, kh, kw = w.shape
    columns = _columns(x, kh, kw, stride, padding)
    n = g.shape[0]
    grad = np.tensordot(g.reshape(n, f, -1), columns, axes=((0, 2), (0, 2)))  # F C*kh*kw
    return grad.reshape(w.shape)


def _conv2d_dx(g, x, w, stride, padding):
    # d/dx: each output pixel's g, times the filters, added back onto the window it read
    n, f, oh, ow = g.shape
    _, c, kh, kw = w.shape
    parts = (w.reshape(f, -1).T @ g.reshape(n, f, -1)).reshape(n, c, kh, kw, oh, ow)
    h, width = x.shape[2] + 2 * padding, x.shape[3] + 2 * padding
    grad = np.zeros((n, c, h, width), dtype=parts.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride)
            grad[:, :, rows, columns] += parts[:, :, i, j]
    return grad[:, :, padding : h - padding, padding : width - padding]


def _spread(parts, shape, stride):
    # parts (..., OH, OW, kh, kw): each window's share, added onto the pixels it covers
    oh, ow, kh, kw = parts.shape[-4:]
    grad = np.zeros(shape, dtype=parts.dtype)
    if stride == kh == kw:  # windows side by side: one block write
        grad[..., : oh * kh, : ow * kw] = parts.swapaxes(-3, -2).reshape(
            *shape[:-2], oh * kh, ow * kw
        )
        return grad
    for i in range(kh):
        for j in range(kw):
            rows, columns = slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride)
            grad[..., rows, columns] += parts[..., i, j]
    return grad


def _tiles(x, k):
    # stride k: the windows side by side, as a reshape of x cropped to whole windows
    oh, ow = x.shape[-2] // k, x.shape[-1] // k
    return x[..., : oh * k, : ow * k].reshape(*x.shape[:-2], oh, k, ow, k)


def _maxpool2d(x, k, stride):
    if stride == k:
        return np.max(_tiles(x, k), axis=(-3, -1))
    return np.max(_windows(x, k, k, stride), axis=(-2, -1))  # NaN propagates


def _avgpool2d(x, k, stride):
    if stride == k:
        return np.mean(_tiles(x, k), axis=(-3, -1))
    return np.mean(_windows(x, k, k, stride), axis=(-2, -1))


def _maxpool2d_dx(g, x, out, k, stride):
    # the tied largest elements of a window share its gradient; a window holding a NaN
    # (its max is NaN, equal to nothing) gives each of its elements a NaN gradient
    hit = _windows(x, k, k, stride) == out[..., None, None]
    count = np.sum(hit, axis=(-2, -1)).astype(g.dtype)
    share = g / np.maximum(count, 1)
    lost = np.where(out == out, 0, out).astype(g.dtype)
    parts = np.where(hit, share[..., None, None], lost[..., None, None])
    return _spread(parts, x.shape, stride)


def _maxpool2d_jvp(t, x, out, k, stride):
    # maxpool2d's tangent along t: each window's tied largest elements' tangents averaged
    # (as the gradient splits); a window holding a NaN (equal to nothing) gives 0/0, NaN
    hit = _windows(x, k, k, stride) == out[..., None, None]
    picked = np.sum(np.where(hit, _windows(t, k, k, stride), 0), axis=(-2, -1))
    return picked / np.sum(hit, axis=(-2, -1)).astype(picked.dtype)


def _avgpool2d_dx(g, x, k, stride):
    share = g / (k * k)
    parts = np.broadcast_to(share[..., None, None], share.shape + (k, k))
    return _spread(parts, x.shape, stride)


# what the conv and pool rows' code calls (and a module of it must carry: function.py)
WINDOW_HELPERS = ("_windows", "_padded", "_columns", "_conv2d", "_conv2d_dw", "_conv2d_dx",
                  "_spread", "_tiles", "_maxpool2d", "_avgpool2d", "_maxpool2d_dx",
                  "_avgpool2d_dx", "_maxpool2d_jvp")  # fmt: skip


def namespace() -> dict:
    """The globals generated numpy code runs with."""
    return {
        "np": np,
        "math": math,
        "_erf": _erf,
        "_erfc": _erfc,
        "_logsumexp": _logsumexp,
        "_softmax": _softmax,
        "_log_softmax": _log_softmax,
        **{name: globals()[name] for name in WINDOW_HELPERS},
        "__builtins__": {"float": float},
    }
