"""Arrays -> second order on the numpy backend: jvp, Hessian-vector products and Hessians.

Forward mode over the formula (core/forward.py, arrays=True) gives the jvp program, and
forward mode over its reverse-mode gradient program the Hessian-vector product; each is
derived once, then specialised per signature of input shapes and dtypes and written by
the numpy code generator like f's own code, cached beside it (f.source shows it). A
tangent has its input's shape and dtype. The Hessian of a small problem is one
Hessian-vector product per column of the identity.

SecondOrder is mixed into ArrayFunction (function.py), whose argument binding,
specialisation and non-finite checks it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ...core import forward, pipeline, shapes
from ...core.ir import Program
from ...errors import ArgumentError, ArgumentValueError, ShapeError
from ..python.evaluate import FOLD
from ..runtime import run_source
from . import codegen as numpy_codegen
from . import helpers as numpy_helpers

_TANGENT = ""  # the jvp function's key for the value's tangent: no input is called ""
_ZEROS = object()  # what a direction given as a dict has for a name it leaves out
# numpy's warnings off for a whole call, as in function.py: a non-finite result is named
_quiet = np.errstate(all="ignore")


class SecondOrder:
    """f.jvp, f.hvp, f.hessian and the source of the first two, for ArrayFunction."""

    # --- calls -----------------------------------------------------------------------

    @_quiet
    def jvp(self, tangents: Any, /, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """(value, directional derivative) at the point, by forward mode: the derivative
        has the value's shape (the value may be an array).

        tangents: {wrt name: array of that input's shape} (a missing name counts as
        zeros) or a sequence of len(f.wrt) arrays in f.wrt order. The point follows, as
        f(...) takes it.
        """
        arrays = self._arrays_of(self._point(args, kwargs, "jvp"))
        special = self._for(arrays)
        given = [*arrays, *self._direction(tangents, arrays, "tangents")]
        value, outputs = self._derived(special, "jvp")(*given)
        self._check_finite(special, "jvp", given, value, outputs)
        return value, outputs[_TANGENT]

    @_quiet
    def hvp(self, v: Any, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The Hessian-vector product {wrt name: (H v)[name]} at the point, each in its
        input's shape and dtype: forward mode over the gradient program (the jvp of the
        gradient), one pass whatever the size. The value must be a scalar.

        v: {wrt name: array of that input's shape} (a missing name counts as zeros) or a
        sequence of len(f.wrt) arrays in f.wrt order.
        """
        arrays = self._arrays_of(self._point(args, kwargs, "hvp"))
        special = self._for(arrays)
        self._need_scalar(special, "hvp")
        given = [*arrays, *self._direction(v, arrays, "v")]
        value, products = self._derived(special, "hvp")(*given)
        self._check_finite(special, "hvp", given, value, products)
        return products

    @_quiet
    def hessian(self, /, *args: Any, **kwargs: Any) -> Any:
        """The matrix of second derivatives over the flattened wrt inputs, for small
        problems: with flat = np.concatenate([a.ravel() for a in the wrt inputs]) (f.wrt
        order, each input flattened in C order), entry [i, j] is d2 value / d flat[i]
        d flat[j]. An n x n numpy array (float32 when every wrt input is float32); column
        j is one f.hvp along the j-th unit vector, so it costs n passes, and it is
        symmetric up to rounding. The value must be a scalar.
        """
        arrays = self._arrays_of(self._point(args, kwargs, "hessian"))
        special = self._for(arrays)
        self._need_scalar(special, "hessian")
        point = dict(zip(self.inputs, arrays, strict=True))
        units = [np.zeros_like(point[name]) for name in self.wrt]
        size = sum(unit.size for unit in units)
        dtype = np.result_type(*units) if units else np.float64
        matrix = np.empty((size, size), dtype=dtype)
        hvp = self._derived(special, "hvp")
        column = 0
        for unit in units:
            for k in range(unit.size):
                unit.flat[k] = 1.0
                given = [*arrays, *units]
                value, products = hvp(*given)
                self._check_finite(special, "hvp", given, value, products)
                flat = [np.ravel(products[name]) for name in self.wrt]
                matrix[:, column] = np.concatenate(flat)
                unit.flat[k] = 0.0
                column += 1
        return matrix

    def jvp_source_for(self, /, *args: Any, **kwargs: Any) -> str:
        """The numpy source of f.jvp for inputs of these shapes and dtypes (its tangent
        inputs, x_dot for x, follow the formula's)."""
        arrays = self._arrays_of(self._point(args, kwargs, "jvp_source_for"))
        special = self._for(arrays)
        self._derived(special, "jvp")
        return special.sources["jvp"]

    def hvp_source_for(self, /, *args: Any, **kwargs: Any) -> str:
        """The numpy source of f.hvp (and f.hessian) for inputs of these shapes and dtypes."""
        arrays = self._arrays_of(self._point(args, kwargs, "hvp_source_for"))
        special = self._for(arrays)
        self._need_scalar(special, "hvp")
        self._derived(special, "hvp")
        return special.sources["hvp"]

    # --- directions and programs -------------------------------------------------------

    def _direction(self, given: Any, arrays: list, what: str) -> list[np.ndarray]:
        """A direction as arrays in f.wrt order, each in its input's shape and dtype, from
        a dict over wrt names (a missing one: zeros) or a sequence of len(f.wrt) arrays."""
        point = dict(zip(self.inputs, arrays, strict=True))
        wrt = self.wrt
        if isinstance(given, Mapping):
            unknown = [name for name in given if name not in wrt]
            if unknown:
                raise ArgumentValueError(
                    f"{what} name {', '.join(map(repr, unknown))}, which the gradient does "
                    f"not cover (wrt: {', '.join(wrt) or 'none'})"
                )
            values = [given.get(name, _ZEROS) for name in wrt]
        elif isinstance(given, str | bytes | np.ndarray) or not isinstance(given, Iterable):
            raise ArgumentError(
                f"{what} must be a dict over {', '.join(wrt) or 'no inputs'} or a sequence "
                f"of {len(wrt)} arrays, not {type(given).__name__}"
            )
        else:
            values = list(given)
            if len(values) != len(wrt):
                raise ArgumentValueError(f"{what} has {len(values)} entries; expected {len(wrt)}")
        return [
            self._tangent_array(f"{what}[{name!r}]", value, point[name], name)
            for name, value in zip(wrt, values, strict=True)
        ]

    def _tangent_array(self, label: str, value: Any, like: np.ndarray, name: str) -> np.ndarray:
        if value is _ZEROS:  # a name the dict leaves out
            return np.zeros_like(like)
        try:
            array = self._convert(label, value)
        except ArgumentError as error:  # named as the direction's entry, not an argument
            raise ArgumentError(str(error).replace(f"argument {label!r}", label, 1)) from None
        if array.shape != like.shape:
            raise ShapeError(
                f"{label} has shape {array.shape}, the input {name!r} {like.shape}: "
                "they must be equal"
            )
        return array.astype(like.dtype, copy=False)  # a nan in it gives nan, not an error

    def _need_scalar(self, special, what: str) -> None:
        shape = special.specs[self.forward_program.value].shape
        if shape != ():
            raise ShapeError(
                f"{what} needs a scalar value, and this one has shape {shape}: reduce it "
                "(sum, mean) in the formula"
            )

    def _derived_program(self, kind: str) -> Program:
        """The jvp or hvp program, derived once (folded like the gradient)."""
        key = f"_{kind}_program"
        program = self.__dict__.get(key)
        if program is None:
            make: Callable[[Any], Program]
            if kind == "jvp":
                make = lambda fold: forward.jvp_program(  # noqa: E731
                    self.forward_program, self.wrt, fold, arrays=True
                )
            else:
                make = lambda fold: forward.hvp_program(  # noqa: E731
                    self.program, self.wrt, fold, arrays=True
                )
            program = self.__dict__[key] = pipeline.derive(make, FOLD, f"its {kind} program")
        return program

    def _derived(self, special, kind: str) -> Callable:
        """The generated function of `kind` (jvp, hvp) for this signature, made on first
        use: the point's arrays, then the direction's in f.wrt order -> (value, outputs)."""
        built = special.functions.get(kind)
        if built is not None:
            return built
        program = self._derived_program(kind)
        inputs = self._input_specs(special)
        tangent_names = program.inputs[len(self.inputs) :]
        for name, tangent in zip(self.wrt, tangent_names, strict=True):
            inputs[tangent] = inputs[name]  # a tangent has its input's shape and dtype
        specs = shapes.infer(program, inputs)
        if kind == "jvp":
            returns = [(_TANGENT, program.grads["tangent"])]
        else:
            returns = list(program.grads.items())
        return self._install(special, kind, program, specs, returns)

    def _input_specs(self, special) -> dict:
        """The formula's inputs' shapes and dtypes at this signature, by name: what the
        shape pass starts every generated function's program from."""
        return {name: special.specs[i] for name, i in self.forward_program.input_ids().items()}

    def _install(self, special, kind: str, program, specs, returns) -> Callable:
        """The numpy code of `kind` for this signature, generated, compiled and kept (its
        source and its lines' ops too, for errors): every kind of function, first order too."""
        generated = numpy_codegen.specialised_source(program, specs, kind, returns=returns)
        namespace = numpy_helpers.namespace()
        run_source(self, generated.source, f"numpy {kind}", namespace, generated.parts)
        built = special.functions[kind] = namespace[kind]
        special.sources[kind] = generated.source
        special.line_ops[kind] = (program, specs)
        return built
