"""A long forward program -> its first gradients on numbers: the tape, then one sweep back.

Before a long program's value_and_grad, trace (what gates run) or flat can run on the
tape (tape.py), reverse mode must make its gradient program: rules spliced in op by op,
folded and hash-consed (reverse.differentiate), dead code dropped, and a tape entry made
for each of three or four times the forward program's ops. For a formula of 10^6
operations that is a third of compile() and the first call. So the first calls of a long
program without branches (no `where`: every op runs) do what a tape-based autodiff
(micrograd, autograd) does instead: the forward program's tape gives every op's value,
then one sweep walks the ops backwards, adding each op's adjoint times its rule to its
operands' adjoints, in the order reverse.differentiate adds them. The rules are the
table's (primitives.py), written once per primitive as Python in the generated code's
spellings (spellings.py), so each contribution is the same arithmetic on the same floats:
the floats are the gradient program's, bit for bit. What differentiate's folding changes
(x*1 to x, --x to x, a constant's rule folded, a whole exponent's pow made powi) holds
bit for bit for every IEEE operand (optimize.py); tests/test_sweep.py checks the corpus.

Where a rule fails (a math error the generated code may never meet: it computes only the
branch of a rule's `where` it takes), the call is handed to the gradient program's tape,
which gives the generated code's value or its error word for word. A Tiered call
(tape.py) compiles the gradient program's code once the sweeps have cost what making and
compiling it would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ...core import regions
from ...core.ir import CONST, INPUT, Program
from ...core.primitives import BY_NAME
from ...core.reverse import rule_program
from . import pieces, tape
from .helpers import runtime_namespace
from .spellings import CHOSEN, spell
from .tape import MATH_ERRORS, Tape

# A gradient program holds about three times as many ops as its forward program has ops
# with a rule, and making it (reverse mode, dead code) costs about what compiling them
# does: the sweep's budget is what compiling this many ops an op with a rule would
# (tape.COMPILE_SECONDS_PER_OP). Measured at 10^5 operations: 21-52 us an op to make and
# compile the code of a w_i*x_i sum, a tanh chain and a random graph; this is 48 us.
GRADIENT_COST = 4
_OPERANDS = {"x": "_v[_a]", "y": "_v[_b]", "z": "_v[_c]", "out": "_o", "g": "_g"}
_RULES: dict[tuple, Callable] = {}  # (prim, arity, operands differentiated, adding) -> rule


def sweepable(program: Program) -> bool:
    """Is it long and can its gradient be swept on numbers? Long: code in pieces
    (pieces.needed), so its gradient program, which holds it, is code in pieces too: a
    function of one list of the inputs, as the sweep is, when it is compiled. Swept: no
    rule written with a CHOSEN spelling (those depend on which operands are constants,
    which a sweep of numbers does not know)."""
    if not pieces.needed(program, positional=True):
        return False
    unswept = _unswept()
    return not unswept or unswept.isdisjoint(op.prim for op in program.ops)


def has_branches(program: Program) -> bool:
    """Does some op run in a branch of a `where` only (regions.py)?"""
    return any(op.prim == "where" for op in program.ops)


@functools.cache
def _unswept() -> frozenset[str]:
    """The primitives a sweep leaves to the gradient program: any whose rule text calls
    a CHOSEN primitive (none today)."""
    unswept = set()
    for name, primitive in BY_NAME.items():  # (array primitives: never in a Python program)
        if not callable(primitive.grads) and not primitive.arrays:
            for rule in filter(None, primitive.grads):
                if any(op.prim in CHOSEN for op in rule_program(rule).ops):
                    unswept.add(name)
    return frozenset(unswept)


class Sweep:
    """The value and gradient of a forward program without branches, over wrt (every
    input that has a row, for a trace): called with the inputs' values (floats, in
    program.inputs order), returns what the generated `function` returns (tape.Tape).
    exact(): the gradient program's tape, for a call whose rules fail."""

    def __init__(
        self,
        program: Program,
        function: str,
        wrt: Sequence[str],
        tape: Tape,
        exact: Callable[[], Tape],
        rows: Sequence[int] = (),
    ):
        self.program = program  # the forward program
        self.function = function
        self._tape = tape
        self._exact = exact
        self._rows = list(rows)
        # the inputs' ids from the tape (a dict of every op's name would cost more)
        ids = dict(zip(program.inputs, tape.input_ids, strict=True))
        self._grads = [(name, ids[name]) for name in wrt]
        every = function == "trace"  # a trace shows the adjoint of every line
        depends = [False] * len(program.ops)
        for _, i in self._grads:
            depends[i] = True
        # (without branches, each entry's rule adds its contributions itself: _adder)
        targets: list[tuple[int, ...]] | None = [] if tape.branches else None
        self._entries = _entries(program.ops, depends, every, targets)
        self._seeded = depends[program.value] or every
        self._regions: list[tuple] | None = None  # each entry's regions, where there are
        if targets is not None:
            self._branches(targets)

    def _branches(self, targets: list[tuple[int, ...]]) -> None:
        """Where ops run in branches (regions.py), each entry's: the region its op is
        needed in (its rules run there) and, for each target, the region its rule runs
        in (a where's branch operand needed in that branch alone: the branch's), as
        reverse.differentiate finds them. A contribution leaving that region for the
        target's is the where of its guards: the contribution where they hold, else 0.0.
        targets: each entry's operands differentiated, by place."""
        ops = self.program.ops
        guards = regions.Guards()
        needed = regions.need(self.program, guards)
        found = []
        for (i, *_), ks in zip(self._entries, targets, strict=True):
            op = ops[i]
            here = needed[i]
            places = []
            for k in ks:
                target, region = op.args[k], here
                if op.prim == "where" and k > 0:
                    branch = guards.child(here, op.args[0], k == 1)
                    if needed[target] is branch:
                        region = branch
                places.append(region)
            found.append((here, tuple(places)))
        self._regions = found

    def compile_cost(self) -> float:
        """About what making the gradient program and compiling its code take, in seconds."""
        return tape.COMPILE_SECONDS_PER_OP * GRADIENT_COST * len(self._entries)

    def __call__(self, values: Sequence[float]) -> Any:
        v = self._tape(values)  # every op's value, or the forward program's error
        adjoint: list = [None] * len(v)
        if self._seeded:
            adjoint[self.program.value] = 1.0
        if self._regions is not None:
            return self._in_branches(values, v, adjoint)
        try:
            for i, add, a, b, c, _ in self._entries:
                g = adjoint[i]
                if g is not None:
                    add(v, adjoint, a, b, c, v[i], g)
        except MATH_ERRORS:
            return self._exact()(values)
        return self._result(v, adjoint)

    def _result(self, v: list, adjoint: list) -> Any:
        value = v[self.program.value]
        if self.function == "trace":  # (a row is never a constant: trace_rows)
            adjoints = [0.0 if adjoint[i] is None else adjoint[i] for i in self._rows]
            return value, list(map(v.__getitem__, self._rows)), adjoints
        grads = [0.0 if adjoint[i] is None else adjoint[i] for _, i in self._grads]
        if self.function == "flat":
            return value, grads
        return value, dict(zip([name for name, _ in self._grads], grads, strict=True))

    def _in_branches(self, values: Sequence[float], v: list, adjoint: list) -> Any:
        """The sweep of a program with branches: an op needed in a branch not taken runs
        no rule (the generated code never reaches it), and a contribution leaving it is
        0.0 (its where). So what a branch not taken accumulates is 0.0 alone, as the
        gradient program's where gives an input or a row needed there alone."""
        taken: dict[int, bool] = {}  # id(region) -> do its guards hold at this point?

        def holds(region: regions.Region) -> bool:
            if region is None:
                return True
            known = taken.get(id(region))
            if known is None:
                known = taken[id(region)] = any(  # `a and not b or c`, as the if tests
                    all(bool(v[g.condition]) == g.taken for g in chain.chain())
                    for chain in regions.chains(region)
                )
            return known

        try:
            for (i, rule, a, b, c, targets), (here, places) in zip(
                self._entries, self._regions, strict=True
            ):
                g = adjoint[i]
                if g is None:
                    continue
                targets = (targets,) if targets.__class__ is int else targets
                if holds(here):
                    found = rule(v, a, b, c, v[i], g)
                    found = (found,) if len(targets) == 1 else found
                else:
                    found = (None,) * len(targets)  # not computed: its rules never run
                for target, d, region in zip(targets, found, places, strict=True):
                    if d is None or not holds(region):
                        d = 0.0  # leaves as 0.0 (or stays in a branch not taken: unread)
                    old = adjoint[target]
                    adjoint[target] = d if old is None else old + d
        except MATH_ERRORS:
            return self._exact()(values)
        return self._result(v, adjoint)


def _entries(
    ops, depends: list[bool], every: bool, targets_of: list[tuple[int, ...]] | None
) -> list[tuple]:
    """The sweep's entries, last op first: (op, rule, a, b, c, target or targets), a, b, c
    the operands' ids (a: a tuple of them past three), the target the operand the one
    contribution goes to (a tuple where several do). Marks in `depends` (the inputs
    differentiated marked) every op computed from them, as it goes (operands come first).
    targets_of None: each rule adds its contributions itself (_adder); a list: each rule
    returns them (_rule), and each entry's targets by place (0 for x, ...) go in it."""
    entries: list[tuple] = []
    adding = targets_of is None
    record = None if adding else targets_of.append
    append = entries.append
    unary: dict[str, Callable | None] = {}  # prim -> rule (one loop: most ops)
    rules_of: dict[tuple, tuple] = {}  # (prim, which operands are differentiated) -> made
    for i, op in enumerate(ops):
        args = op.args
        if not args:  # an input or a constant
            continue
        if len(args) == 1:  # most ops: one operand, differentiated if it needs to be
            (a,) = args
            if depends[a]:
                depends[i] = True
            elif not every or ops[a].prim == CONST:
                continue
            prim = op.prim
            rule = unary.get(prim, False)
            if rule is False:
                rule = unary[prim] = _made_entry(prim, 1, (0,), adding)[0]
            if rule is not None:
                append((i, rule, a, 0, 0, a))
                if record:
                    record((0,))
            continue
        prim, arity = op.prim, len(args)
        if arity == 2:  # (spelled out: the other common case)
            a, b = args
            first, second = depends[a], depends[b]
            if first or second:
                depends[i] = True
            if every:
                first = first or ops[a].prim != CONST
                second = second or ops[b].prim != CONST
            if not (first or second):
                continue
            key: tuple = (prim, first, second)
            made = rules_of.get(key)
            if made is None:
                made = rules_of[key] = _made_entry(prim, 2, _PAIRS[first, second], adding)
            rule, targets = made
            if rule is not None:  # the one target, or both
                target = (a, b) if len(targets) == 2 else args[targets[0]]
                append((i, rule, a, b, 0, target))
                if record:
                    record(targets)
            continue
        marked = [depends[arg] for arg in args]
        depends[i] = any(marked)
        if every:
            marked = [m or ops[arg].prim != CONST for m, arg in zip(marked, args, strict=True)]
        key = (prim, arity, *marked)
        made = rules_of.get(key)
        if made is None:
            ks = tuple(k for k, m in enumerate(marked) if m)
            made = rules_of[key] = _made_entry(prim, arity, ks, adding)
        rule, targets = made
        if rule is not None:
            where = tuple(args[k] for k in targets)
            operands = (args, 0, 0) if arity > 3 else (*args, *(0,) * (3 - arity))
            append((i, rule, *operands, where[0] if len(where) == 1 else where))
            if record:
                record(targets)
    entries.reverse()  # the sweep goes back from the value
    if targets_of is not None:
        targets_of.reverse()
    return entries


_PAIRS = {(True, True): (0, 1), (True, False): (0,), (False, True): (1,), (False, False): ()}


def _made_entry(prim: str, arity: int, targets: tuple[int, ...], adding: bool) -> tuple:
    """(rule, the targets it computes): the operands differentiated less those whose rule
    is None (rule None where none is left); adding: the rule is _adder()'s. Made once a
    process."""
    grads = BY_NAME[prim].grads
    if not callable(grads):
        targets = tuple(k for k in targets if grads[k] is not None)
    if not targets:
        return None, ()
    key = (prim, arity, targets, adding)
    rule = _RULES.get(key)
    if rule is None:
        rule = _RULES[key] = (_adder if adding else _rule)(prim, arity, targets)
    return rule, targets


def _adder(prim: str, arity: int, targets: tuple[int, ...]) -> Callable:
    """add(values, adjoints, a, b, c, out, g): adds the op's contribution to each target
    operand's adjoint, in order (the adjoint a first contribution is), as _rule computes
    them: one call an op, and no tuple of contributions."""
    if callable(BY_NAME[prim].grads):  # min and max: through their rule
        rule = _rule(prim, arity, targets)

        def add(v: list, adjoint: list, a: Any, b: int, c: int, out: float, g: float) -> None:
            found = rule(v, a, b, c, out, g)
            ids = a if arity > 3 else (a, b, c)
            for k, d in zip(targets, (found,) if len(targets) == 1 else found, strict=True):
                old = adjoint[ids[k]]
                adjoint[ids[k]] = d if old is None else old + d

        return add
    namespace = runtime_namespace()
    lines = ["def _add(_v, _j, _a, _b, _c, _o, _g):"]
    for k in targets:
        target = ("_a", "_b", "_c")[k]
        lines += [
            f"    _d = {_expression(BY_NAME[prim].grads[k], namespace)}",
            f"    _t = _j[{target}]",
            f"    _j[{target}] = _d if _t is None else _t + _d",
        ]
    # Safe to run: the table's rules and spellings, and names of our own.
    exec("\n".join(lines), namespace)  # noqa: S102
    return namespace["_add"]


def _rule(prim: str, arity: int, targets: tuple[int, ...]) -> Callable:
    """rule(values, a, b, c, out, g) -> the contribution to each target operand (one
    alone: not a tuple), in the generated code's spellings."""
    rules = BY_NAME[prim].grads
    if callable(rules):  # min and max: made by a function of the ops' builder
        return _built_rule(rules, arity, targets)
    namespace = runtime_namespace()
    parts = [_expression(rules[k], namespace) for k in targets]
    body = parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"
    # Safe to evaluate: the table's rules and spellings, and names of our own.
    return eval(f"lambda _v, _a, _b, _c, _o, _g: {body}", namespace)  # noqa: S307


def _expression(rule: str, namespace: dict) -> str:
    """A rule as one Python expression over _OPERANDS (its constants bound in namespace),
    every operand parenthesized."""
    program = rule_program(rule)
    texts: list[str] = []
    for op in program.ops:
        if op.prim == INPUT:
            texts.append(_OPERANDS[op.name])
        elif op.prim == CONST:
            name = f"_k{len(namespace)}"
            namespace[name] = op.value
            texts.append(name)
        else:  # (no CHOSEN primitive: sweepable() leaves those rules out)
            texts.append(spell(op.prim, [f"({texts[a]})" for a in op.args]))
    return texts[program.value]


class _Number(float):
    """A constant a rule builds (RuleBuilder.const): a CHOSEN spelling asks which operands
    are constants (a constant is never NaN)."""


class _Numbers:
    """The builder a rule function (primitives.GradRule) builds on, computing as it goes."""

    def __init__(self):
        self._spelled: dict[tuple, Callable] = {}

    def const(self, value: float) -> float:
        return _Number(value)

    def op(self, prim: str, *operands: Any) -> Any:
        constant = tuple(type(o) is _Number for o in operands) if prim in CHOSEN else ()
        key = (prim, len(operands), constant)
        function = self._spelled.get(key)
        if function is None:
            names = [f"_o[{k}]" for k in range(len(operands))]
            text = spell(prim, names, constant)
            function = self._spelled[key] = eval(f"lambda _o: {text}", runtime_namespace())  # noqa: S307
        result = function(operands)
        return float(result) if type(result) is _Number else result


_NUMBERS = _Numbers()


def _built_rule(rules: Callable, arity: int, targets: tuple[int, ...]) -> Callable:
    def rule(v: list, a: Any, b: int, c: int, out: float, g: float) -> Any:
        ids = a if arity > 3 else (a, b, c)[:arity]
        contributions = rules(_NUMBERS, tuple(map(v.__getitem__, ids)), out, g)
        chosen = tuple(contributions[k] for k in targets)
        return chosen[0] if len(chosen) == 1 else chosen

    return rule
