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
# sliding_window_view, copied once into columns) and one matmul per image; a pool is an
# elementwise maximum or sum over the k * k kernel offsets' strided views. Gradients go
# back with one strided write per kernel offset, never a loop over pixels or images.


def _windows(x, kh, kw, stride):
    # every kh x kw window of the last two axes, stride apart: a view (..., OH, OW, kh, kw)
    view = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(-2, -1))
    return view[..., ::stride, ::stride, :, :] if stride > 1 else view


def _padded(x, padding):
    if padding == 0:
        return x
    # zeros and one slice assignment: a fifth of np.pad's time on a digits batch
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    out[:, :, padding:-padding, padding:-padding] = x
    return out


def _columns(x, kh, kw, stride, padding):
    # im2col: (N, C*kh*kw, OH*OW), one column per output pixel
    windows = _windows(_padded(x, padding), kh, kw, stride)  # N C OH OW kh kw
    n, c, oh, ow = windows.shape[:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)


def _conv2d(x, w, stride, padding):
    f, c, kh, kw = w.shape
    columns = _columns(x, kh, kw, stride, padding)
    out = w.reshape(f, c * kh * kw) @ columns  # N F OH*OW
    n, oh, ow = x.shape[0], *_out_size(x.shape, kh, kw, stride, padding)
    return out.reshape(n, f, oh, ow)  # (every size written out: an axis may be empty)


def _out_size(shape, kh, kw, stride, padding):
    return (shape[2] + 2 * padding - kh) // stride + 1, (shape[3] + 2 * padding - kw) // stride + 1


def _conv2d_dw(g, x, w, stride, padding):
    # d/dw: each filter's gradient is g's pixels against the columns they were computed from
    # (a matmul per image, then the images' sum: tensordot over both axes would first copy
    # g and the columns into 2-D transposes as large as the image batch)
    f, c, kh, kw = w.shape
    columns = _columns(x, kh, kw, stride, padding)  # N C*kh*kw OH*OW
    n, _, oh, ow = g.shape
    per_image = g.reshape(n, f, oh * ow) @ columns.transpose(0, 2, 1)  # N F C*kh*kw
    return per_image.sum(axis=0).reshape(w.shape)


def _conv2d_dx(g, x, w, stride, padding):
    # d/dx: each output pixel's g, times the filters, added back onto the window it read
    n, f, oh, ow = g.shape
    _, c, kh, kw = w.shape
    parts = w.reshape(f, c * kh * kw).T @ g.reshape(n, f, oh * ow)
    parts = parts.reshape(n, c, kh, kw, oh, ow)
    h, width = x.shape[2] + 2 * padding, x.shape[3] + 2 * padding
    grad = np.zeros((n, c, h, width), dtype=parts.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride)
            grad[:, :, rows, columns] += parts[:, :, i, j]
    return grad[:, :, padding : h - padding, padding : width - padding]


def _offsets(shape, k, stride):
    # each kernel offset's pixels of every window: (rows, columns) slices of the last two
    # axes, each an (..., OH, OW) view when applied; k * k of them
    oh, ow = (shape[-2] - k) // stride + 1, (shape[-1] - k) // stride + 1
    return [
        (slice(i, i + stride * (oh - 1) + 1, stride), slice(j, j + stride * (ow - 1) + 1, stride))
        for i in range(k)
        for j in range(k)
    ]


def _maxpool2d(x, k, stride):
    # an elementwise maximum over the k * k offsets' views: fast strided loops where a
    # reduction over short window axes is not; np.maximum propagates NaN
    offsets = _offsets(x.shape, k, stride)
    rows, columns = offsets[0]
    out = x[..., rows, columns].copy()
    for rows, columns in offsets[1:]:
        np.maximum(out, x[..., rows, columns], out=out)
    return out


def _avgpool2d(x, k, stride):
    offsets = _offsets(x.shape, k, stride)
    rows, columns = offsets[0]
    out = x[..., rows, columns].copy()
    for rows, columns in offsets[1:]:
        out += x[..., rows, columns]
    out /= k * k
    return out


def _maxpool2d_dx(g, x, out, k, stride):
    # the tied largest elements of a window share its gradient; a window holding a NaN
    # (its max is NaN, equal to nothing) gives each of its elements a NaN gradient
    offsets = _offsets(x.shape, k, stride)
    hits = [x[..., rows, columns] == out for rows, columns in offsets]
    count = hits[0].astype(g.dtype)
    for hit in hits[1:]:
        count += hit
    share = g / np.maximum(count, 1, out=count)
    grad = np.zeros(x.shape, dtype=g.dtype)
    if stride >= k and _plain(share) and not np.isnan(out).any():
        # windows apart: each pixel is its window's where(hit, share, 0), written straight
        # into place as hit * share (3x quicker here than np.where and a copy); False *
        # -2.0 is -0.0, and adding 0.0 makes it where's +0.0 (no share is -0.0 itself)
        for (rows, columns), hit in zip(offsets, hits, strict=True):
            np.multiply(hit, share, out=grad[..., rows, columns])
        grad += 0.0
        return grad
    # 0 where not hit, or the window's NaN (a number when no window has one)
    lost = np.where(out == out, 0, out).astype(g.dtype) if np.isnan(out).any() else 0.0
    for (rows, columns), hit in zip(offsets, hits, strict=True):
        if stride >= k:  # windows apart: each pixel is one window's
            grad[..., rows, columns] = np.where(hit, share, lost)
        else:  # overlapping windows: a pixel's parts summed (from +0.0)
            grad[..., rows, columns] += np.where(hit, share, lost)
    return grad


def _plain(share):
    # every share finite and none -0.0: hit * share + 0.0 is then where(hit, share, 0)
    if not np.isfinite(share).all():
        return False
    zero = share == 0
    return not (zero.any() and np.signbit(share[zero]).any())


def _maxpool2d_jvp(t, x, out, k, stride):
    # maxpool2d's tangent along t: each window's tied largest elements' tangents averaged
    # (as the gradient splits); a window holding a NaN (equal to nothing) gives 0/0, NaN
    hit = _windows(x, k, k, stride) == out[..., None, None]
    picked = np.sum(np.where(hit, _windows(t, k, k, stride), 0), axis=(-2, -1))
    return picked / np.sum(hit, axis=(-2, -1)).astype(picked.dtype)


def _avgpool2d_dx(g, x, k, stride):
    share = g / (k * k)
    grad = np.zeros(x.shape, dtype=share.dtype)
    for rows, columns in _offsets(x.shape, k, stride):
        if stride >= k:
            grad[..., rows, columns] = share
        else:
            grad[..., rows, columns] += share
    return grad


# what the conv and pool rows' code calls (and a module of it must carry: function.py)
WINDOW_HELPERS = ("_windows", "_padded", "_columns", "_conv2d", "_out_size", "_conv2d_dw",
                  "_conv2d_dx", "_offsets", "_maxpool2d", "_avgpool2d", "_maxpool2d_dx", "_plain",
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
