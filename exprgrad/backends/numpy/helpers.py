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
        "__builtins__": {"float": float},
    }
