"""Generated Python source -> callable functions, and their errors in exprgrad's terms.

A Runtime holds what one formula's generated functions share: one namespace (math,
the helpers, the handlers below), the generated sources by name, and which op each
generated line computes, so that a math error names its place in the formula.
Function (function.py) and the residuals of exprgrad.residuals run their code here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ...core.ir import Op, Program
from ...core.pipeline import collector_paused
from ...errors import ArgumentError, EvaluationError
from .. import runtime
from ..emit import Generated
from ..lists.convert import is_array
from ..runtime import (
    MISSING,
    bind_formula_names,
    missing_message,
    point_binder,
    run_source,
)
from . import codegen, pieces, vectors
from .helpers import _float_arguments, runtime_namespace
from .sweep import Sweep, has_branches
from .tape import Tape, Tiered
from .vectors import flat_vector, length_error

MATH_ERRORS = (ArithmeticError, ValueError)
TAPED = frozenset({"forward", "value_and_grad", "trace"})  # what a long program tapes first
_FLOATS = {float}  # math domain errors, overflow, division by zero


def _evaluation_error_maker(
    formula: str, line_ops: dict[str, Mapping[int, Op]]
) -> Callable[[BaseException], Exception]:
    """The handler generated code calls on a math error: names the failing op's place.
    line_ops: for each generated file, line number -> the op computed on that line."""

    def evaluation_error(error: BaseException) -> Exception:
        op = None
        traceback = error.__traceback__
        while traceback is not None:  # the innermost frame of generated code failed
            lines = line_ops.get(traceback.tb_frame.f_code.co_filename)
            if lines is not None:
                op = lines.get(traceback.tb_lineno)
            traceback = traceback.tb_next
        if op is None:
            return error
        return runtime.evaluation_error(formula, op, type(error), str(error))

    return evaluation_error


def float_arguments(function_name: str, names: tuple[str, ...], args: Sequence) -> list:
    """Every argument as a float (ints, bools, numpy scalars converted), or the error a call
    of generated code raises for them: a missing argument named, a string or a complex
    number an ArgumentError, an int too large for a float an EvaluationError."""
    message = missing_message(function_name, names, args)
    if message is not None:
        raise ArgumentError(message) from None
    try:
        return _float_arguments(names, args)
    except OverflowError as overflow:
        raise EvaluationError(str(overflow)) from None
    except TypeError as bad:  # the helpers stay standalone (--emit module): builtin errors
        raise ArgumentError(str(bad)) from None


def vector_handlers(names: tuple[str, ...]) -> dict[str, Callable]:
    """What a function of one vector (codegen._vector_head, f.flat) calls when the vector
    is not a list or tuple of floats; names: the vector's entries."""
    size, numpy = len(names), vectors.numpy_module()
    ndarray = numpy.ndarray if numpy is not None else None
    shape = (size,)

    def _as_list(x: Any) -> list:
        # scipy's numpy vector, the common case, first: its floats as a list
        if type(x) is ndarray and x.shape == shape:
            return x.tolist()
        return list(flat_vector(x, names))  # or the ArgumentError of what is not a vector

    def _length_error(x: Sequence) -> Exception:
        return length_error(x, names)

    def _as_given(gradient: list, given: Any) -> Any:
        # a list for a list or tuple (a subclass too), else an array, as scipy wants it
        if isinstance(given, list | tuple) or numpy is None:
            return gradient
        return numpy.fromiter(gradient, numpy.float64, size)

    def _floats(x: Sequence, error: BaseException) -> list[float]:
        values = float_arguments("f", names, x)
        if all(value is entry for value, entry in zip(values, x, strict=True)):
            raise error  # they were floats already: the error has another cause
        return values

    return {
        "_as_list": _as_list,
        "_length_error": _length_error,
        "_as_given": _as_given,
        "_floats": _floats,
    }


def _retry_maker(function_name: str, runtime: Runtime) -> Callable:
    """The handler generated code calls when an argument is not a float (see codegen): a
    list among them goes to runtime.with_arrays (the formula's array code)."""

    def _retry(function: Callable, names: tuple[str, ...], args: tuple, error: BaseException):
        if runtime.with_arrays is not None and any(map(is_array, args)):
            result = runtime.with_arrays(function.__name__, names, args)
            if result is not None:
                return result
        values = float_arguments(function_name, names, args)
        if all(value is arg for value, arg in zip(values, args, strict=True)):
            raise error  # they were floats already: the error has another cause
        return function(*values)

    return _retry


class Runtime:
    """The generated functions of one formula (or of residuals sharing one text)."""

    def __init__(self, formula: str, inputs: tuple[str, ...]):
        self.formula = formula
        self.inputs = inputs
        self.generated: dict[str, Generated] = {}  # function name -> its source
        self.line_ops: dict[str, Mapping[int, Op]] = {}  # generated file -> its lines' ops
        namespace = runtime_namespace()
        namespace["_INPUTS"] = inputs
        namespace["_MISSING"] = MISSING
        # (function name, parameter names, arguments) -> the call's result on the array
        # code, or None: set by Function, so that f(x=[1, 2]) computes with lists
        self.with_arrays: Callable[[str, tuple, tuple], Any] | None = None
        namespace["_retry"] = _retry_maker("f", self)
        namespace["_MATH_ERRORS"] = MATH_ERRORS
        namespace["_evaluation_error"] = _evaluation_error_maker(formula, self.line_ops)
        self.namespace = namespace

    def text(self, function: str, program: Program, rows: Iterable[int] = ()) -> Generated:
        """The source of `function` over the formula's inputs, generated once."""
        generated = self.generated.get(function)
        if generated is None:
            generated = codegen.function_source(program, function, rows=rows)
            self.generated[function] = generated
        return generated

    def build(self, function: str, program: Program, rows: Iterable[int] = ()) -> Callable:
        """Generate, compile and run the source of one function of the formula's inputs.
        A long program's forward, value_and_grad and trace run on a tape first (tape.py)."""
        rows = tuple(rows)
        if function in TAPED and pieces.needed(program, positional=True):
            compiled, text = self._in_pieces(function, lambda: program, rows)
            return self._taped(function, program, rows, compiled, text)
        with collector_paused():
            generated = self.text(function, program, rows)
            self.run(generated, function, self.namespace)
        built = self.namespace[function]
        if generated.parts:
            return self._list_call(built, function, self.inputs)
        # Every parameter defaults to MISSING, so that a missing argument reaches _retry,
        # which names it (set here rather than in the source, which stays plain).
        built.__defaults__ = (MISSING,) * len(self.inputs)
        if generated.params != self.inputs:
            built = bind_formula_names(built, self.inputs)
        return built

    def build_swept(
        self,
        function: str,
        forward: Program,
        wrt: tuple[str, ...],
        gradient: Callable[[], Program],
        rows: Iterable[int] = (),
    ) -> Callable:
        """build() of value_and_grad or trace for a long forward program whose gradient
        program is not made yet (sweep.sweepable): its first calls sweep the forward
        program's tape (sweep.py); gradient() makes the program they stand for."""
        rows = tuple(rows)
        compiled, text = self._in_pieces(function, gradient, rows)
        return self._swept(function, forward, wrt, gradient, compiled, text, rows)

    def _in_pieces(
        self, function: str, program: Callable[[], Program], rows: tuple[int, ...]
    ) -> tuple[Callable[[], Callable], Callable[[], Generated]]:
        """How a long program's tape becomes code: compiled() compiles it (in pieces, its
        main function over one list) and returns that; text() is its source."""

        def compiled() -> Callable:
            made = program()
            with collector_paused():
                self.run(self.text(function, made, rows), function, self.namespace)
            return self.namespace[function]

        return compiled, lambda: self.text(function, program(), rows)

    def build_apart(
        self,
        key: str,
        function: str,
        program: Program,
        floats: Iterable[str] = (),
        vector: int = 0,
    ) -> Callable:
        """build() for a program whose parameters are not the inputs as they stand (a jvp's
        tangents follow them, a flat vector reorders them): compiled into a namespace of
        its own whose _INPUTS names those parameters for _retry; called positionally.
        floats: parameters always passed as floats (fixed inputs, converted once).
        vector: the first `vector` inputs come as one list or tuple (codegen._vector_head);
        with fixed inputs after them, what is returned makes the function (NAME_with).
        A long program's flat runs on a tape first (tape.py), called positionally."""
        floats = frozenset(floats)
        if function == "flat" and pieces.needed(program, positional=True):
            compiled, text = self._apart_in_pieces(key, lambda: program, floats, vector)
            return self._taped(function, program, (), compiled, text)
        built = self._run_apart(key, function, program, floats, vector)
        if self.generated[key].parts:
            return self._list_call(built, function, program.inputs)
        return built

    def build_apart_swept(
        self,
        key: str,
        forward: Program,
        wrt: tuple[str, ...],
        gradient: Callable[[], Program],
        floats: Iterable[str],
        vector: int,
    ) -> Callable:
        """build_apart() of flat for a long forward program (sweep.sweepable) whose
        inputs are in the vector's order: its first calls sweep the forward program's
        tape; gradient() makes the program they stand for."""
        floats = frozenset(floats)
        compiled, text = self._apart_in_pieces(key, gradient, floats, vector)
        return self._swept("flat", forward, wrt, gradient, compiled, text)

    def _apart_in_pieces(
        self, key: str, program: Callable[[], Program], floats: frozenset, vector: int
    ) -> tuple[Callable[[], Callable], Callable[[], Generated]]:
        """_in_pieces() for build_apart: the flat function's code in pieces, over a list."""

        def compiled() -> Callable:
            return self._run_apart(key, "flat", program(), floats, vector)

        return compiled, lambda: self.text_apart(key, "flat", program(), floats, vector)

    def _swept(
        self,
        function: str,
        forward: Program,
        wrt: tuple[str, ...],
        gradient: Callable[[], Program],
        compiled: Callable[[], Callable],
        text: Callable[[], Generated],
        rows: tuple[int, ...] = (),
    ) -> Callable:
        """A long forward program's gradient function: swept (sweep.Sweep) until
        compiled() pays; a call whose rules fail runs the gradient program's tape."""
        exact: list[Tape] = []

        def gradient_tape() -> Tape:
            if not exact:
                with collector_paused():
                    exact.append(Tape(gradient(), function, self.formula, self.namespace, rows))
            return exact[0]

        with collector_paused():
            branches = has_branches(forward)  # (the sweep follows its tape)
            values = Tape(forward, "values", self.formula, self.namespace, branches=branches)
            sweep = Sweep(forward, function, wrt, values, gradient_tape, rows)
        return self._tiered(sweep, function, forward.inputs, compiled, text)

    def _taped(
        self,
        function: str,
        program: Program,
        rows: tuple[int, ...],
        compiled: Callable[[], Callable],
        text: Callable[[], Generated],
    ) -> Callable:
        """A long program's function: its tape until compiled() pays (_tiered)."""
        with collector_paused():
            on_tape = Tape(program, function, self.formula, self.namespace, rows)
        return self._tiered(on_tape, function, program.inputs, compiled, text)

    def _tiered(
        self,
        runs: Tape | Sweep,
        function: str,
        names: tuple[str, ...],
        compiled: Callable[[], Callable],
        text: Callable[[], Generated],
    ) -> Callable:
        """The call of a tape or sweep until compiled() pays (tape.Tiered), bound as code
        in pieces is (one list of the inputs `names`): call.tiered says which of the two
        runs, call.text() generates the source it stands for."""
        tiered = Tiered(runs, compiled)
        call = self._list_call(tiered, function, names)
        call.tiered, call.text = tiered, text
        return call

    def text_apart(
        self, key: str, function: str, program: Program, floats: frozenset, vector: int
    ) -> Generated:
        """The source build_apart compiles, generated once (self.generated[key])."""
        generated = self.generated.get(key)
        if generated is None:
            with collector_paused():
                generated = codegen.function_source(
                    program, function, floats=floats, positional=True, vector=vector
                )
            self.generated[key] = generated
        return generated

    def _run_apart(
        self, key: str, function: str, program: Program, floats: frozenset, vector: int
    ) -> Callable:
        """build_apart's source compiled in a namespace of its own: the function it defines."""
        generated = self.text_apart(key, function, program, floats, vector)
        with collector_paused():
            namespace = dict(self.namespace, _INPUTS=program.inputs)
            if vector and not generated.parts:
                namespace.update(vector_handlers(program.inputs[:vector]))
                if len(program.inputs) > vector:  # fixed inputs: the maker of functions
                    function += "_with"
            self.run(generated, key, namespace)
        return namespace[function]

    def run(self, generated: Generated, label: str, namespace: dict[str, Any]) -> None:
        """Compile generated source and run it in the namespace (defining its function)."""
        namespace.update(generated.tables)
        filename = run_source(self, generated.source, label, namespace, generated.parts)
        self.line_ops[filename] = generated.line_ops

    def _list_call(self, main: Callable, function: str, names: tuple[str, ...]) -> Callable:
        """The call of code in pieces (pieces.py), whose main function takes one list of the
        inputs' values as floats: arguments bound through one dict, each converted once (or
        a list among them handed to the array code, as _retry does)."""
        bind = bind_formula_names(lambda *values: values, names)
        size = len(names)

        def call(*args, **kwargs):
            if not kwargs and len(args) == size:
                values = list(args)
            elif not args and len(kwargs) == size and all(map(kwargs.__contains__, names)):
                values = list(map(kwargs.__getitem__, names))  # f(**point): every input by name
            else:
                values = list(bind(*args, **kwargs))
            if set(map(type, values)) != _FLOATS:
                if self.with_arrays is not None and any(map(is_array, values)):
                    result = self.with_arrays(function, names, tuple(values))
                    if result is not None:
                        return result
                values = float_arguments("f", names, values)
            return main(values)

        call.__name__ = function
        return call

    def point(self, args: tuple, kwargs: dict, what: str) -> tuple:
        """The point's values in inputs order, from arguments as f(...) takes them."""
        if not kwargs and len(args) == len(self.inputs):
            return args
        point = self.__dict__.get("_point")
        if point is None:
            point = self.__dict__["_point"] = point_binder(self.inputs)
        return point(args, kwargs, what)
