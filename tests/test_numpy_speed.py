"""The numpy backend's speed work changes no bit: each rewrite against the spelling before it.

The reference is the code the backend wrote before (numbers broadcast where reverse mode
made them; sums alone written in place, and only when nothing else named their operand,
shape reads included), generated here from the same program and run on the same inputs, nan, inf
and -0.0 among them; values and gradients must be equal bit for bit, dtypes included.
"""

from __future__ import annotations

import pytest

import exprgrad
from exprgrad.errors import EvaluationError

np = pytest.importorskip("numpy")

from exprgrad.backends.emit import use_counts  # noqa: E402
from exprgrad.backends.numpy import codegen, helpers, spellings  # noqa: E402
from exprgrad.core import shapes  # noqa: E402

MLP = (
    "h = relu(X @ W1 + b1)\nlogits = h @ W2 + b2\n"
    "mean(logsumexp(logits, 1) - sum(Y * logits, 1)) + lam * (norm2(W1) + norm2(W2))"
)
FORMULAS = [
    MLP,
    "mean(-(x * y))",
    "sum(-mean(x * y, 1))",
    "-mean(log1p(exp(-y * (x * x + y))))",
    "mean(relu(x * y + x))",
    "mean(-x) + sum(y)",
    "sum(mean(x * y, 0)) + mean(-mean(x, 1))",
    "mean(x * c + r * c)",
    "sum(amax(x, 1)) + sum(amin(y, 0)) + mean(softmax(x, 1) * y) + sum(log_softmax(y, 0) * x)",
]
OLD_SPELLINGS = {
    "sum": "np.sum({0}, axis={1})",
    "amax": "np.max({0}, axis={1})",
    "amin": "np.min({0}, axis={1})",
}
SPECIALS = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e300, -1e-320]


def _old_source(f, arrays, function="value_and_grad"):
    """value_and_grad as the backend wrote it before: no late broadcasts, only sums
    written in place, and every read of an operand (its shape's too) keeping a sum out
    of it; np.sum and np.max, and the helpers as they were."""
    inputs = {n: shapes.Spec(a.shape, a.dtype.name) for n, a in zip(f.inputs, arrays, strict=True)}
    program = f.program if function == "value_and_grad" else f.forward_program
    specs = shapes.infer(program, inputs)
    returns = list(program.grads.items()) if function == "value_and_grad" else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen, "_value_reads", use_counts)
        patch.setattr(codegen, "_AUGMENTED", {"add": "+="})  # sums alone
        patch.setattr(codegen, "_in_place_ufunc", lambda prim: None)
        for prim, spelling in OLD_SPELLINGS.items():
            patch.setitem(spellings.SPELLINGS, prim, spelling)
        patch.setattr(codegen.ExpressionWriter, "unbroadcast", _old_unbroadcast)
        patch.setattr(codegen.ExpressionWriter, "mean", _old_mean)
        generated = codegen.specialised_source(program, specs, function, returns=returns)
    namespace = helpers.namespace()
    namespace.update(_logsumexp=_old_logsumexp, _softmax=_old_softmax)
    namespace.update(_log_softmax=_old_log_softmax)
    exec(generated.source, namespace)  # noqa: S102 (generated code)
    return generated.source, namespace[function]


def _old_unbroadcast(self, value, shape):
    have, name = self.shape(value), self.names[value]
    if have == shape:
        return name
    name = self.typed(value, "float32" if "float32" in self.dtypes else "float64")
    lead = len(have) - len(shape)
    if lead < 0 or any(h < s for h, s in zip(have[lead:], shape, strict=True)):
        return f"np.broadcast_to({name}, {shape})"
    if shape == ():
        return f"np.sum({name})"
    kept = [lead + k for k, n in enumerate(shape) if n == 1 and have[lead + k] != 1]
    if not kept:
        return f"np.sum({name}, axis={tuple(range(lead))})"
    summed = f"np.sum({name}, axis={tuple(range(lead)) + tuple(kept)}, keepdims=True)"
    return f"{summed}.reshape({shape})"


def _old_mean(self, name, value, axis):
    return f"np.mean({name})" if axis is None else f"np.mean({name}, axis={axis})"


def _bits(value):
    array = np.asarray(value)
    return array.dtype, array.shape, array.tobytes()


def _inputs(formula, rng, dtype, specials):
    shapes_ = {"X": (6, 5), "W1": (5, 4), "b1": (4,), "W2": (4, 3), "b2": (3,), "Y": (6, 3)}
    shapes_ |= {"c": (6, 1), "r": (3,)}  # summed back over a kept and a leading axis
    names = exprgrad.compile(formula, backend="numpy").inputs
    values = {}
    for name in names:
        if name == "lam":
            values[name] = 1e-3
            continue
        array = rng.normal(size=shapes_.get(name, (6, 3))).astype(dtype)
        if specials:
            flat = array.reshape(-1)
            at = rng.choice(flat.size, size=min(3, flat.size), replace=False)
            with np.errstate(over="ignore"):  # 1e300 is inf in float32
                flat[at] = rng.choice(SPECIALS, size=len(at)).astype(dtype)
        values[name] = array
    return values


def test_forward_bit_for_bit_as_before(monkeypatch):
    monkeypatch.setattr(codegen, "_OUT_MIN_SIZE", 0)  # out= forms on small arrays too
    for formula in FORMULAS:
        f = exprgrad.compile(formula, backend="numpy")
        rng = np.random.default_rng(2)
        for trial in range(10):
            arrays = f._arrays((), _inputs(formula, rng, np.float64, specials=trial > 0))
            _, old = _old_source(f, arrays, "forward")
            with np.errstate(all="ignore"):
                new = f._function(f._for(arrays), "forward")(*arrays)
                assert _bits(new) == _bits(old(*arrays))


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_and_grad_bit_for_bit_as_before(formula, dtype, monkeypatch):
    monkeypatch.setattr(codegen, "_OUT_MIN_SIZE", 0)  # out= forms on small arrays too
    f = exprgrad.compile(formula, backend="numpy")
    rng = np.random.default_rng(0)
    changed = False
    for trial in range(40):
        values = _inputs(formula, rng, dtype, specials=trial > 0)
        arrays = f._arrays((), values)
        new = f._function(f._for(arrays), "value_and_grad")
        source, old = _old_source(f, arrays)
        changed = changed or source != f._for(arrays).sources["value_and_grad"]
        with np.errstate(all="ignore"):
            old_value, old_grads = old(*arrays)
            new_value, new_grads = new(*arrays)
        assert _bits(new_value) == _bits(old_value), source
        assert new_grads.keys() == old_grads.keys()
        for name, grad in old_grads.items():
            assert _bits(new_grads[name]) == _bits(grad), (name, source)
    assert changed  # the comparison is between two spellings


def test_relu_gradient_passes_nan_on():
    f = exprgrad.compile("sum(relu(x) * y)", backend="numpy")
    x = np.array([np.nan, -1.0, 2.0, -0.0])
    grads = f.grad(x=x, y=np.array([1.0, np.inf, 3.0, -2.0]))
    assert np.isnan(grads["x"][0]) and list(grads["x"][1:]) == [0.0, 3.0, 0.0]


def test_mlp_value_and_grad_allocates_no_broadcast_and_adds_biases_in_place():
    f = exprgrad.compile(MLP, backend="numpy")
    rng = np.random.default_rng(1)
    source = f.source_for(**_inputs(MLP, rng, np.float64, specials=False))
    gradient = source[source.index("def value_and_grad") :]
    assert "np.full" not in gradient and "broadcast_to" not in gradient
    assert "t2 += b1" in gradient and "logits += b2" in gradient


def test_huge_finite_gradients_are_no_error_and_an_inf_one_is():
    """The finiteness check's sum of squares overflows on 1e200: it looks closer."""
    f = exprgrad.compile("sum(x * y)", backend="numpy")
    value, grads = f.value_and_grad(x=np.full(3, 1e200), y=np.full(3, 1e-300))
    assert np.isfinite(value) and grads["y"][0] == 1e200
    g = exprgrad.compile("sum(exp(x) * y)", backend="numpy")
    with pytest.raises(EvaluationError, match="overflow"):
        g.value_and_grad(x=np.array([1000.0, 0.0]), y=np.array([0.0, 1.0]))


def test_fast_argument_binding_keeps_the_binders_errors():
    f = exprgrad.compile("sum(x * y)", backend="numpy")
    x = np.ones(2)
    assert f(x, x) == f(x=x, y=x) == f(x, y=x) == 2.0
    assert f(x=1.0, y=x) == 2.0  # a number is a 0-d float64
    with pytest.raises(exprgrad.ArgumentError, match="unexpected argument 'z'"):
        f(x=x, z=x)
    with pytest.raises(exprgrad.ArgumentError, match="missing argument"):
        f(x=x)
    with pytest.raises(exprgrad.ArgumentError):
        f(x, x, x)


# the helpers as they were written before: the reference for the ones in helpers.py
def _old_logsumexp(x, axis):
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    total = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top
    return np.squeeze(total, axis=axis)


def _old_softmax(x, axis):
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def _old_log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_helpers_bit_for_bit_as_before(dtype):
    rng = np.random.default_rng(3)
    pairs = [
        (helpers._logsumexp, _old_logsumexp),
        (helpers._softmax, _old_softmax),
        (helpers._log_softmax, _old_log_softmax),
    ]
    for trial in range(60):
        x = (rng.normal(size=(5, 4)) * 10.0 ** rng.integers(0, 40)).astype(dtype)
        if trial % 2:
            flat = x.reshape(-1)
            at = rng.choice(flat.size, size=4, replace=False)
            with np.errstate(over="ignore"):
                flat[at] = rng.choice(SPECIALS, size=4).astype(dtype)
        if trial % 7 == 0:
            x[1] = -np.inf  # a row of -inf
        for new, old in pairs:
            for axis in (0, 1, -1):
                with np.errstate(all="ignore"):
                    assert _bits(new(x, axis)) == _bits(old(x, axis)), (new.__name__, x, axis)
