"""Math-only functions that generated code calls: numerically delicate primitives, and the
conversion of arguments that are not floats.

Each is plain Python over the standard library, so `--emit module` can paste
its source into a standalone module. Names start with `_`; formula names
never do after mangling, so the two can never meet.
"""

import math


def _sigmoid(x):
    # two branches so exp never overflows: sigmoid(-1000) is 0.0, not an OverflowError
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _softplus(x):
    # log(1 + exp(x)) = x + log1p(exp(-x)) for x > 0, so softplus(1000) is 1000.0
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


def _min(*args):
    # min(args) keeping the first of equal arguments, as the builtin does, but NaN anywhere
    # gives NaN (the builtin keeps or drops a NaN depending on where it stands)
    result = args[0]
    for arg in args[1:]:
        if arg < result:
            result = arg
        elif arg != arg:
            return arg
    return result


def _max(*args):
    # max(args), with the same tie and NaN rules as _min
    result = args[0]
    for arg in args[1:]:
        if arg > result:
            result = arg
        elif arg != arg:
            return arg
    return result


def _clip(x, lo, hi):
    # min(max(x, lo), hi) as the builtins compute it, but a NaN bound gives NaN too
    if lo != lo or hi != hi:
        return lo + hi
    low = lo if lo > x else x
    return hi if hi < low else low


class _NotFloat(Exception):  # noqa: N818 (a signal, not an error anyone sees)
    """Raised by generated code when a value is not a float; the call is repeated on floats."""


def _to_float(value):
    # An int argument as float(value), in place: no second call. Anything else (a bool, a
    # numpy scalar, an int too large for a float, a string) goes to _retry, which converts
    # it or names it.
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            pass
    raise _NotFloat


def _float_arguments(names, args):
    # The arguments as floats. Ints, bools and other real numbers (numpy scalars, Fraction,
    # Decimal: whatever float() takes but strings) are converted; anything else is a
    # TypeError that names the argument.
    values = []
    for name, value in zip(names, args, strict=True):
        if type(value) is not float:
            kind = type(value).__name__
            dtype = getattr(getattr(value, "dtype", None), "kind", "")  # numpy scalars
            if getattr(value, "ndim", 0):
                raise TypeError(
                    f"argument {name!r} is an array of shape {getattr(value, 'shape', '?')}; "
                    "this Function computes with numbers: compile(..., backend='numpy') "
                    "takes arrays"
                ) from None
            if isinstance(value, complex) or dtype == "c":
                raise TypeError(
                    f"argument {name!r} is complex ({_shown(value)}); "
                    "formulas compute with real numbers"
                ) from None
            if not hasattr(type(value), "__float__") or dtype not in ("", "b", "i", "u", "f"):
                hint = " (to pass a dict of inputs, call f(**point))" if kind == "dict" else ""
                raise TypeError(
                    f"argument {name!r} must be a real number, not {kind} {_shown(value)}{hint}"
                ) from None
            try:
                value = float(value)
            except OverflowError:
                raise OverflowError(
                    f"argument {name!r} is too large for a float"
                    f" ({int(value).bit_length()}-bit {kind})"
                ) from None
            except (TypeError, ValueError) as error:
                raise TypeError(f"argument {name!r} is not a real number: {error}") from None
        values.append(value)
    return values


def _shown(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _retry(function, names, args, error):
    # Generated code raised _NotFloat or TypeError: call again with every argument a float.
    values = _float_arguments(names, args)
    if all(value is arg for value, arg in zip(values, args, strict=True)):
        raise error  # they were floats already: the error has another cause
    return function(*values)


def _gathered(values, slots):
    # Code in pieces returns its results from the slots of its list of values.
    return list(map(values.__getitem__, slots))


def _named(names, values, slots):
    return dict(zip(names, map(values.__getitem__, slots), strict=True))


HELPERS = {
    f.__name__: f
    for f in (
        _sigmoid,
        _softplus,
        _min,
        _max,
        _clip,
        _NotFloat,
        _to_float,
        _shown,
        _float_arguments,
        _retry,
        _gathered,
        _named,
    )  # fmt: skip
}


def runtime_namespace() -> dict:
    """The only globals generated code sees: math, the helpers, and eight builtins (list,
    tuple and ValueError for f.flat's vector, codegen._vector_head)."""
    allowed = {"abs": abs, "float": float, "max": max, "min": min, "type": type}
    allowed |= {"list": list, "tuple": tuple, "TypeError": TypeError, "ValueError": ValueError}
    return {"math": math, **HELPERS, "__builtins__": allowed}
