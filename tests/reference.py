"""Three independent references for gradients: sympy.diff, central differences, jax.grad.

The jax reference interprets the *forward* IR with its own table of jax
functions, so it shares nothing with exprgrad's derivative rules, reverse
pass or code generator.
"""

from __future__ import annotations

import math

import pytest

import exprgrad
from exprgrad.ir import CONST, INPUT

try:
    import jax
    import jax.numpy as jnp
    import jax.scipy.special

    jax.config.update("jax_enable_x64", True)
except ImportError:  # jax is a test extra; CI installs it
    jax = None


def _jax_table():
    def fold(function):
        def apply(*xs):
            out = xs[0]
            for x in xs[1:]:
                out = function(out, x)
            return out

        return apply

    return {
        "add": jnp.add,
        "sub": jnp.subtract,
        "mul": jnp.multiply,
        "div": jnp.divide,
        "neg": jnp.negative,
        "pow": jnp.power,
        "powi": jnp.power,
        "exp": jnp.exp,
        "log": jnp.log,
        "sqrt": jnp.sqrt,
        "sin": jnp.sin,
        "cos": jnp.cos,
        "tan": jnp.tan,
        "asin": jnp.arcsin,
        "acos": jnp.arccos,
        "atan": jnp.arctan,
        "sinh": jnp.sinh,
        "cosh": jnp.cosh,
        "tanh": jnp.tanh,
        "abs": jnp.abs,
        "sigmoid": jax.nn.sigmoid,
        "relu": jax.nn.relu,
        "softplus": jax.nn.softplus,
        "log1p": jnp.log1p,
        "expm1": jnp.expm1,
        "erf": jax.scipy.special.erf,
        "hypot": jnp.hypot,
        "atan2": jnp.arctan2,
        "clip": lambda x, lo, hi: jnp.minimum(jnp.maximum(x, lo), hi),
        "where": jnp.where,
        "min": fold(jnp.minimum),
        "max": fold(jnp.maximum),
        "lt": jnp.less,
        "le": jnp.less_equal,
        "gt": jnp.greater,
        "ge": jnp.greater_equal,
        "eq": jnp.equal,
        "ne": jnp.not_equal,
    }


def jax_value_and_grad(function: exprgrad.Function, point: dict[str, float]):
    """jax.grad of exprgrad's forward IR, interpreted op by op with jax functions."""
    if jax is None:
        pytest.skip("jax is not installed")
    table = _jax_table()
    program = function.forward_program

    def evaluate(*values):
        by_name = dict(zip(program.inputs, values, strict=True))
        results = []
        for op in program.ops:
            if op.prim == INPUT:
                results.append(by_name[op.name])
            elif op.prim == CONST:
                results.append(jnp.float64(op.value))
            else:
                results.append(table[op.prim](*(results[a] for a in op.args)))
        return results[program.value] * 1.0

    args = [jnp.float64(point[name]) for name in program.inputs]
    value, grads = jax.value_and_grad(evaluate, argnums=tuple(range(len(args))))(*args)
    by_name = dict(zip(program.inputs, (float(g) for g in grads), strict=True))
    return float(value), {name: by_name[name] for name in function.wrt}


def central_difference(
    function: exprgrad.Function, point: dict[str, float], name: str, step: float
) -> float:
    h = step * max(1.0, abs(point[name]))
    up = dict(point, **{name: point[name] + h})
    down = dict(point, **{name: point[name] - h})
    return (function(**up) - function(**down)) / (2 * h)


def finite_difference_grad(function: exprgrad.Function, point: dict[str, float]):
    """Central differences at two step sizes; None for a component where they disagree
    (the point sits next to a kink, where a difference quotient means nothing)."""
    grads = {}
    for name in function.wrt:
        coarse = central_difference(function, point, name, 1e-5)
        fine = central_difference(function, point, name, 1e-6)
        grads[name] = fine if close(coarse, fine, 1e-4) else None
    return grads


def sympy_grad(function: exprgrad.Function, point: dict[str, float]):
    """sympy.diff of the formula, evaluated at the point; None where sympy has no number."""
    import sympy as sp

    expr = function.to_sympy()
    subs = {sp.Symbol(name, real=True): sp.Float(point[name], 30) for name in function.inputs}
    grads = {}
    for name in function.wrt:
        derivative = sp.diff(expr, sp.Symbol(name, real=True))
        try:
            value = complex(derivative.evalf(30, subs=subs))
        except (TypeError, ValueError):
            value = None
        grads[name] = (
            value.real
            if value is not None and abs(value.imag) < 1e-12 and (math.isfinite(value.real))
            else None
        )
    return grads


def close(a: float, b: float, rel: float = 1e-7, abs_tol: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


def assert_gradients_agree(
    function: exprgrad.Function,
    point: dict[str, float],
    *,
    use_sympy: bool = True,
    use_jax: bool = True,
) -> None:
    """exprgrad's value and gradient against sympy, central differences and jax."""
    value, grads = function.value_and_grad(**point)
    assert set(grads) == set(function.wrt)
    assert close(function(**point), value, 1e-12, 1e-300)
    fd = finite_difference_grad(function, point)
    for name, expected in fd.items():
        if expected is not None:
            assert close(grads[name], expected, 1e-4, 1e-6), (name, grads[name], expected, "fd")
    if use_sympy:
        for name, expected in sympy_grad(function, point).items():
            if expected is not None:
                assert close(grads[name], expected), (name, grads[name], expected, "sympy")
    if use_jax and jax is not None:
        jax_value, jax_grads = jax_value_and_grad(function, point)
        assert close(value, jax_value), (value, jax_value, "jax value")
        for name, expected in jax_grads.items():
            assert close(grads[name], expected), (name, grads[name], expected, "jax")
