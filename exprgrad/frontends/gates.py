"""Circuits built in Python, as in Karpathy's guide: gates that know their value and gradient.

    from exprgrad.gates import Param, Constant, MulGate, AddGate, SigmoidGate
    a, x = Param(1.0), Constant(-1.0)
    f = SigmoidGate(AddGate(MulGate(a, x), Param(2.0)))
    f.compute(); f.backprop(lr=0.01)

(exprgrad.sugar writes the same with Python operators: sigmoid(a*x + b).)

A circuit is not interpreted gate by gate. The first compute() writes the
circuit out as a formula string (f.formula()) and, as it writes, the IR that
parsing and lowering the string would make (circuit_ir.py: no parse), compiles
it like any formula (parameters and constants are its inputs, so new values
need no new compile), and keeps the compiled Function; each compute() or backprop() is one
call of generated code (Function.trace: every line's value and adjoint),
whose numbers are then stored on the gates. A circuit built anew with the same
shape reuses the compiled code.
"""

from __future__ import annotations

import builtins
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from ..api import compile_unfolded
from ..backends.python.function import Function
from ..core import ir
from ..core.pipeline import collector_paused
from ..core.primitives import COMPARISON_NAMES, FUNCTIONS, PRIMITIVES, Primitive
from ..core.tracing import Trace
from ..errors import ArgumentError, ArgumentValueError, EvaluationError, Span
from .circuit_ir import CircuitLowering, lowerable
from .circuit_text import leaf_names, postorder, write
from .text import SYMBOL

_STEP = "backprop's and update's lr and grad are real numbers"
_UNROLLED = 500  # gates; a larger circuit's compute() and backprop() loop over them


def _checked_number(
    value: Any, role: str, wanted: str = "gates combine with gates and real numbers"
) -> float:
    """A Python number as a finite float; anything else is an error naming it (an array too:
    float() would take a one-element array, and numpy would make gates of the other's)."""
    if not isinstance(value, numbers.Real) and (
        isinstance(value, complex | str | bytes)
        or not hasattr(type(value), "__float__")
        or hasattr(value, "__array__")
    ):
        raise ArgumentError(f"{role} is {type(value).__name__} {value!r:.40}: {wanted} only")
    try:
        number = float(value)
    except OverflowError:  # an int past 1.8e308 (repr() of a huge int may itself fail)
        kind = type(value).__name__
        shown = f"{kind} of {value.bit_length()} bits" if isinstance(value, int) else kind
        raise ArgumentValueError(f"{role} is too large for a float ({shown})") from None
    if not math.isfinite(number):
        raise ArgumentValueError(f"{role} is {number}: it must be finite")
    return number


class Gate:
    """A node of a circuit: a parameter, a constant, or an operation on other gates.

    gate.val is its value (set it on parameters and constants; compute() sets the
    rest), gate.grad its gradient after backprop(). Any gate can be the output:
    out.compute(), out.backprop(lr, grad), out.reset(), out.update(lr),
    out.initialize(scheme), out.formula(), out.source, out.trace().
    """

    __slots__ = ("val", "grad", "_prim", "_args", "_name", "_circuit")
    prim: str = ""  # the primitive an operation gate applies (set on each generated class)
    # numpy's array + gate would make an array of gates; None makes it defer to the gate's
    # __radd__, which says an array is no operand
    __array_ufunc__ = None

    def __init__(self, *args: Gate | float):
        self._prim = type(self).prim
        self._args = tuple(
            arg
            if isinstance(arg, Gate)
            else _checked_number(arg, f"argument {k + 1} of {self._prim}")
            for k, arg in enumerate(args)
        )
        self._name = None
        self._circuit: _Circuit | None = None
        self.val = math.nan
        self.grad = 0.0

    # --- Python operators build gates ------------------------------------------------

    def _binary(self, prim: str, other: Any, swapped: bool = False) -> Gate:
        if not isinstance(other, Gate):
            other = _checked_number(other, f"the other operand of {SYMBOL[prim]}")
        args = (other, self) if swapped else (self, other)
        return GATES[prim](*args)

    def __add__(self, other):
        return self._binary("add", other)

    def __radd__(self, other):
        return self._binary("add", other, swapped=True)

    def __sub__(self, other):
        return self._binary("sub", other)

    def __rsub__(self, other):
        return self._binary("sub", other, swapped=True)

    def __mul__(self, other):
        return self._binary("mul", other)

    def __rmul__(self, other):
        return self._binary("mul", other, swapped=True)

    def __truediv__(self, other):
        return self._binary("div", other)

    def __rtruediv__(self, other):
        return self._binary("div", other, swapped=True)

    def __pow__(self, other):
        return self._binary("pow", other)

    def __rpow__(self, other):
        return self._binary("pow", other, swapped=True)

    def __neg__(self):
        return GATES["neg"](self)

    def __pos__(self):
        return self

    def __abs__(self):
        return GATES["abs"](self)

    # comparisons make a condition for where(...); == and != stay identity (gates are
    # dict keys): use eq(a, b) and ne(a, b) from exprgrad.sugar
    def __lt__(self, other):
        return self._binary("lt", other)

    def __le__(self, other):
        return self._binary("le", other)

    def __gt__(self, other):
        return self._binary("gt", other)

    def __ge__(self, other):
        return self._binary("ge", other)

    __hash__ = object.__hash__

    def __bool__(self):
        raise ArgumentError(
            "a gate has no truth value (if, and, or, Python's max() and min() ask for one): "
            "use where(condition, a, b), or maximum(a, b) and minimum(a, b) "
            "from exprgrad.sugar (the MaxGate and MinGate classes)"
        )

    # --- the circuit this gate is the output of --------------------------------------

    def _circuit_here(self) -> _Circuit:
        if self._circuit is None:
            with collector_paused():  # a circuit of 10^5 gates: millions of objects, no cycles
                self._circuit = _Circuit(self)
        return self._circuit

    def compute(self) -> float:
        """Run the forward pass; store .val on every gate; return this gate's value."""
        return (self._circuit or self._circuit_here()).compute()  # (one call less: hot)

    def backprop(self, lr: float = 0.0, grad: float = 1.0) -> None:
        """Run the backward pass with `grad` as this gate's gradient (computing first if the
        parameters or constants changed since), store .grad on every gate, then move every
        parameter by lr * its gradient (constants never move)."""
        if not (lr.__class__ is float is grad.__class__ and lr - lr == grad - grad):
            lr, grad = (
                _checked_number(lr, "lr", _STEP),
                _checked_number(grad, "grad", _STEP),
            )  # x - x: inf, nan
        (self._circuit or self._circuit_here()).backprop(lr, grad)

    def reset(self) -> None:
        """Set every gradient in the circuit to zero."""
        self._circuit_here().reset()

    def update(self, lr: float) -> None:
        """Move every parameter by lr * its stored gradient."""
        self._circuit_here().update(_checked_number(lr, "lr", _STEP))

    def initialize(
        self,
        scheme: str = "xavier_uniform",
        seed: int = 0,
        *,
        fan_in: float | None = None,
        fan_out: float | None = None,
    ) -> None:
        """Set every parameter from a seeded initialiser of exprgrad.train (train.init's
        schemes: xavier_uniform, xavier_normal, he_uniform, he_normal, zeros; a scalar
        parameter needs fan_in, and fan_out for Xavier, as in the layer it belongs to)."""
        self._circuit_here().initialize(scheme, seed, fan_in=fan_in, fan_out=fan_out)

    def params(self) -> list[Param]:
        return list(self._circuit_here().params)

    def consts(self) -> list[Constant]:
        return list(self._circuit_here().consts)

    def formula(self) -> str:
        """The circuit as a formula string: compiling it gives the same code."""
        return self._circuit_here().text

    @property
    def function(self) -> Function:
        """The compiled Function behind the circuit."""
        return self._circuit_here().function

    @property
    def source(self) -> str:
        """The generated Python code of the circuit."""
        return self.function.source

    def trace(self) -> Trace:
        """Every line's value and gradient at the current values: the guide's table."""
        circuit = self._circuit_here()
        return circuit.function.trace(*circuit.arguments())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(val={self.val!r}, grad={self.grad!r})"


class _Leaf(Gate):
    __slots__ = ()
    kind = ""

    def __init__(self, value: float, name: str | None = None):
        super().__init__()
        self.val = _checked_number(value, f"the value of a {self.kind}")
        if name is not None and not (isinstance(name, str) and name.isidentifier()):
            raise ArgumentValueError(f"a {self.kind}'s name must be an identifier, not {name!r}")
        self._name = name

    @property
    def name(self) -> str | None:
        return self._name

    def __repr__(self) -> str:
        named = f", name={self._name!r}" if self._name else ""
        return f"{type(self).__name__}({self.val!r}{named}, grad={self.grad!r})"


class Param(_Leaf):
    """A parameter: backprop(lr) and update(lr) move it."""

    __slots__ = ()
    kind = "param"
    prim = "param"


class Constant(_Leaf):
    """A constant input: it gets a gradient, but never moves."""

    __slots__ = ()
    kind = "const"
    prim = "const"


def _class_name(primitive: Primitive) -> str:
    return "".join(part.capitalize() for part in primitive.name.split("_")) + "Gate"


def _gate_class(primitive: Primitive) -> type[Gate]:
    def __init__(self, *args):  # noqa: N807 (the generated class's own __init__)
        arity = primitive.arity
        if arity is not None and len(args) != arity or arity is None and len(args) < 2:
            wanted = "2 or more" if arity is None else str(arity)
            raise ArgumentError(f"{type(self).__name__} takes {wanted} inputs ({len(args)} given)")
        Gate.__init__(self, *args)

    doc = f"The {primitive.name} gate (exprgrad's {primitive.name!r} primitive)."
    namespace = {"__slots__": (), "prim": primitive.name, "__init__": __init__, "__doc__": doc}
    return type(_class_name(primitive), (Gate,), namespace)


# One class per primitive, from the table: MulGate, AddGate, SigmoidGate, WhereGate, ...
# (circuits are of numbers: the array functions belong to the numpy backend)
GATES: dict[str, type[Gate]] = {
    p.name: _gate_class(p) for p in PRIMITIVES if p.name != "powi" and not p.arrays
}
globals().update({cls.__name__: cls for cls in GATES.values()})


# --- from a circuit to a formula and back --------------------------------------------------


class _Circuit:
    """The compiled form of one output gate's circuit, and the bookkeeping between the
    generated code's numbers and the gates."""

    def __init__(self, output: Gate):
        gates = postorder(output)
        self.params = [g for g in gates if isinstance(g, Param)]
        self.consts = [g for g in gates if isinstance(g, Constant)]
        names = leaf_names([g for g in gates if isinstance(g, _Leaf)])
        lowering = CircuitLowering(names) if lowerable(output, gates, names) else None
        self.text, spans = write(output, gates, names, lowering)
        if lowering is None:  # the parser's or lowering's error, as compile() gives it
            compile_unfolded(self.text)
            raise AssertionError(f"a circuit lowerable() refuses compiles: {self.text:.80}")
        lowered = lowering.program(self.text)
        # each gate's op: an operation written twice (p1 + p2 and p2 + p1 too) is one op, and
        # both gates get its numbers. (The builder's index goes before compiling: its room
        # is reverse mode's, as lowering's is after compile())
        op_ids = list(map(lowering.ops.__getitem__, gates))
        del lowering
        self.function = _compile(self.text, lowered)
        leaf_of = {name: leaf for leaf, name in names.items()}
        self.leaves = [leaf_of[name] for name in self.function.inputs]
        trace, rows, _ = self.function._trace_function()
        self._trace = trace
        row_of, copies = _rows_of_ops(self.function, rows)
        self.gates: list[tuple[Gate, tuple[int, ...]]] = [
            (gate, (row_of[i], *copies[i]) if i in copies else (row_of[i],))
            for gate, i in zip(gates, op_ids, strict=True)
            if gate._prim not in COMPARISON_NAMES  # a condition: no line of its own
        ]
        self.spans = spans
        self.compute, self.backprop = self._runners()

    def arguments(self) -> list[float]:
        return [leaf.val for leaf in self.leaves]

    def _runners(self) -> tuple[Callable[[], float], Callable[[float, float], None]]:
        """compute() and backprop(lr, grad) for this circuit, as generated code: one call
        of the trace, then one assignment a gate (a loop would cost more than the trace),
        or, past _UNROLLED gates, loops (compiling a line a gate would cost more memory
        than the compiled formula). A gate computed on several lines (regions.untangle's
        copies) takes the value of the one computed and the sum of their adjoints.

        The gates, the trace function and the last results are the code's globals."""
        unrolled = len(self.gates) <= _UNROLLED
        single = [(k, rows[0]) for k, (_, rows) in enumerate(self.gates) if len(rows) == 1]
        copied = [(k, rows) for k, (_, rows) in enumerate(self.gates) if len(rows) > 1]
        values = [
            f"    _gate{k}.val = _computed({_rows('values', rows, ', ')})" for k, rows in copied
        ]
        adjoints = [(f"_gate{k}.grad", f"({_rows('adjoints', rows, ' + ')})") for k, rows in copied]
        if unrolled:
            leaves = ", ".join(f"_leaf{k}.val" for k in range(len(self.leaves)))
            args = f"({leaves}{',' if len(self.leaves) == 1 else ''})"
            values += [f"    _gate{k}.val = values[{row}]" for k, row in single]
            adjoints += [(f"_gate{k}.grad", f"adjoints[{row}]") for k, row in single]
            grads = [f"        {gate} = {adjoint}" for gate, adjoint in adjoints]
            scaled = [f"        {gate} = {adjoint} * grad" for gate, adjoint in adjoints]
            count = range(len(self.params))
            moves = [f"_param{k}.val += lr * _param{k}.grad" for k in count] or ["pass"]
        else:
            args = "_tuple([leaf.val for leaf in _leaves])"
            values += ["    for gate, row in _gates:", "        gate.val = values[row]"]
            loop = "        for gate, row in _gates:"
            grads = [loop, "            gate.grad = adjoints[row]"]
            scaled = [loop, "            gate.grad = adjoints[row] * grad"]
            grads += [f"        {gate} = {adjoint}" for gate, adjoint in adjoints]
            scaled += [f"        {gate} = {adjoint} * grad" for gate, adjoint in adjoints]
            moves = ["for param in _params:", "    param.val += lr * param.grad"]
        source = "\n".join(
            [
                "def compute():",
                "    global _arguments, _adjoints  # the last call's, for backprop()",
                f"    arguments = {args}",
                "    value, values, _adjoints = _trace(*arguments)",
                "    _arguments = arguments",
                *values,
                "    if not -_INF < value < _INF:  # inf or nan: name the gate",
                "        _non_finite()",
                "    return value",
                "",
                "def backprop(lr, grad):",
                f"    if _arguments != {args}:  # new values since compute(): compute again",
                "        compute()",
                "    adjoints = _adjoints",
                "    if grad == 1.0:",
                *grads,
                "    else:",
                *scaled,
                "    if lr:",
                *(f"        {line}" for line in moves),
            ]
        )
        namespace: dict[str, Any] = {
            "_trace": self._trace,
            "_arguments": None,
            "_INF": math.inf,
            "_non_finite": self._name_non_finite,
            "_computed": _computed,
            "__builtins__": {},
        }
        named = range(len(self.gates)) if unrolled else (k for k, _ in copied)
        namespace.update({f"_gate{k}": self.gates[k][0] for k in named})
        if unrolled:
            namespace.update({f"_leaf{k}": leaf for k, leaf in enumerate(self.leaves)})
            namespace.update({f"_param{k}": param for k, param in enumerate(self.params)})
        else:
            gates = [(self.gates[k][0], row) for k, row in single]
            namespace.update(_tuple=tuple, _leaves=self.leaves, _gates=gates, _params=self.params)
        # Safe to run: every name in the source is one of ours, and every number an index.
        exec(builtins.compile(source, "<exprgrad circuit>", "exec"), namespace)  # noqa: S102
        return namespace["compute"], namespace["backprop"]

    def _name_non_finite(self) -> None:
        for gate, _ in self.gates:
            if gate in self.spans and isinstance(gate.val, float) and not math.isfinite(gate.val):
                start, end = self.spans[gate]
                text = self.text[start:end]
                message = f"{text} is {gate.val}"
                raise EvaluationError(message, self.text, Span(start, end))

    def reset(self) -> None:
        for gate, _ in self.gates:
            gate.grad = 0.0

    def update(self, lr: float) -> None:
        for param in self.params:
            param.val += lr * param.grad

    def initialize(self, scheme: str, seed: int, **fans) -> None:
        from .. import train  # training sits on top of the front ends: imported when used

        names = [f"p{k}" for k in range(len(self.params))]
        values = train.init(names, scheme, seed=seed, **fans)
        for param, value in zip(self.params, values.values(), strict=True):
            param.val = float(value)


def _rows(name: str, rows: Sequence[int], between: str) -> str:
    return between.join(f"{name}[{row}]" for row in rows)


def _computed(*values: float | None) -> float | None:
    """The value of the first copy computed (None: on a where branch not taken)."""
    return next((value for value in values if value is not None), None)


def _rows_of_ops(function: Function, rows: list[int]) -> tuple[list, dict[int, tuple[int, ...]]]:
    """Each op of the function's lowered program -> its row in the trace of its forward
    program, and the further rows of an op regions.untangle computed again inside a branch
    (its copies: rows of the same gate). The forward program is the lowered one (a circuit
    has no dead code: every op is its output or an operand) unless untangle made copies."""
    forward, lowered = function.forward_program, function.lowered_program
    row_of: list[int | None] = [None] * len(forward.ops)
    for row, i in enumerate(rows):
        row_of[i] = row
    if forward.ops is lowered.ops:
        return row_of, {}  # (most circuits: no copy)
    # the originals keep their order; a copy is found as lowering's builder finds an equal
    # op, by its operands' originals (one of the lowered program's: no new op is made)
    builder = ir.Builder(lowered.ops)
    first: list[int | None] = [None] * len(lowered.ops)
    copies: dict[int, tuple[int, ...]] = {}
    original: list[int] = []  # each forward op's lowered op
    originals = 0
    for i, op in enumerate(forward.ops):
        if op.copy:
            same = builder.op(op.prim, *map(original.__getitem__, op.args))
            if row_of[i] is not None:  # (a copy stands after its original)
                copies[same] = (*copies.get(same, ()), row_of[i])
        else:
            same, originals = originals, originals + 1
            first[same] = row_of[i]
        original.append(same)
    if len(builder.ops) != len(first) or originals != len(first):
        raise AssertionError("the circuit's forward program is not its lowered program")
    return first, copies


class _Compiled:
    """The Functions of the latest circuits' texts, as functools.lru_cache would keep
    them (a circuit built anew with the same shape reuses its code): the key is the
    text, the program built with it only compiles it."""

    def __init__(self, size: int):
        self.size = size
        self.functions: dict[str, Function] = {}

    def __call__(self, text: str, lowered: ir.Program | None = None) -> Function:
        functions = self.functions
        function = functions.pop(text, None)
        if function is None:
            # the forward program stays as written (one line per gate); the gradient is folded
            function = compile_unfolded(text, lowered)
            if len(functions) >= self.size:
                del functions[next(iter(functions))]  # the least recently used
        functions[text] = function
        return function


_compile = _Compiled(256)


def make(primitive: str, *args: Gate | float) -> Gate:
    """A gate applying the named primitive (as FUNCTIONS names it) to the arguments."""
    if primitive not in FUNCTIONS and primitive not in GATES:
        raise ArgumentValueError(f"no primitive named {primitive!r}")
    return GATES[primitive](*args)


Builder = Callable[..., Gate]


# What `from exprgrad.gates import *` brings: the gate classes and the ways to make them.
__all__ = ["Gate", "Param", "Constant", "GATES", "make", *(c.__name__ for c in GATES.values())]
