"""C source -> a loaded cffi library: compiled once by the system C compiler, cached on disk.

The generated source is compiled on its own (`$CC -O2 -std=c99 -fPIC -c`, -O1 for a long
one, no -ffast-math: IEEE results, bit for bit what the Python backend computes where libm
agrees), so it sees <math.h> (and <stdlib.h>) and nothing else; cffi's glue, compiled
apart with Python.h, declares the functions (the ABI in codegen.py) and links the object
in. The extension module lands in the cache directory ($EXPRGRAD_CACHE_DIR, else
$XDG_CACHE_HOME/exprgrad/c, else ~/.cache/exprgrad/c) under a name hashed from the
source, the compiler (its path and `--version`), the flags and the Python version, so the
same source is compiled once: later builds, in this process or another, only load it.
Two processes building the same key at once each build in a private directory and
os.replace the result into place.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...core.cache import cache_dir
from ...errors import MissingDependencyError

FLAGS = ("-O2", "-std=c99", "-fno-fast-math", "-ffp-contract=off", "-fPIC")
# Past this many lines (pieces.py keeps each function short) -O1: the compiler's time is
# about linear in the lines either way, and -O1 takes half of -O2's (50,000 ops: ~10 s).
LONG_SOURCE = 20_000


def flags(source: str) -> tuple[str, ...]:
    """The compiler's flags for a source: FLAGS, with -O1 for a long one."""
    if source.count("\n") > LONG_SOURCE:
        return ("-O1", *FLAGS[1:])
    return FLAGS


# The arrays of NAME and NAME_flat are `void *` to cffi (C sees `double *`, the same ABI):
# a numpy array's plain ffi.from_buffer(x) passes without a type lookup (~0.1 us a call).
_SIGNATURES = (
    "int {0}(const void *in, void *out);\ndouble {0}_flat(const void *in, void *grad, int *code);\n"
)
_BATCH = (
    "int {0}_batch(long n, const double *const *columns, const long *steps,\n"
    "    double *values, double *grads, int sum, long *failed);\n"
)

LOADED: dict[str, tuple[Any, Any]] = {}  # key -> (ffi, lib) built or loaded in this process


def _cffi() -> Any:
    try:
        import cffi
    except ImportError:
        raise MissingDependencyError(
            "the C backend needs cffi: pip install 'exprgrad[c]'"
        ) from None
    return cffi


def compiler() -> list[str]:
    """The C compiler's command: $CC, else `cc`."""
    return shlex.split(os.environ.get("CC") or "cc")


@lru_cache(maxsize=8)
def _identity(command: tuple[str, ...]) -> str:
    """The compiler's path and `--version` output, or a MissingDependencyError."""
    path = shutil.which(command[0]) if command else None
    if path is None:
        shown = command[0] if command else "(empty)"
        raise MissingDependencyError(
            f"the C backend needs a C compiler, and {shown!r} was not found: install gcc or "
            "clang (apt install gcc, xcode-select --install, ...), or name one in the CC "
            "environment variable"
        )
    try:
        version = subprocess.run(
            [path, *command[1:], "--version"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise MissingDependencyError(
            f"the C compiler {path} does not run ({error}): install gcc or clang, "
            "or name a working one in the CC environment variable"
        ) from None
    return f"{path}\n{' '.join(command[1:])}\n{version}"


def key(source: str, functions: list[str], batch: bool) -> str:
    """The cache key: source, functions, compiler, flags, Python version."""
    parts = [source, *functions, str(batch), _identity(tuple(compiler())), *flags(source)]
    parts.append(sys.implementation.cache_tag or sys.version)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def build(source: str, functions: list[str], batch: bool = True) -> tuple[Any, Any]:
    """(ffi, lib) of the C source, lib.NAME, lib.NAME_flat (and with batch lib.NAME_batch)
    callable for each NAME in functions (the signatures of codegen.py's ABI); built once,
    then loaded."""
    cffi = _cffi()
    name = "_exprgrad_c_" + key(source, functions, batch)
    found = LOADED.get(name)
    if found is not None:
        return found
    directory = cache_dir("c")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = directory / (name + suffix)
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        signatures = _SIGNATURES + (_BATCH if batch else "")
        declarations = "".join(signatures.format(f) for f in functions)
        _compile(cffi, source, declarations, name, directory, target)
    spec = importlib.util.spec_from_file_location(name, target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    LOADED[name] = (module.ffi, module.lib)
    return LOADED[name]


def _compile(
    cffi: Any, source: str, declarations: str, name: str, directory: Path, target: Path
) -> None:
    """Compile the source and cffi's glue into target, through a private directory."""
    with tempfile.TemporaryDirectory(prefix=name, dir=directory) as work:
        generated = Path(work) / (name + "_code.c")
        generated.write_text(source)
        objects = Path(work) / (name + "_code.o")
        command = [*compiler(), *flags(source), "-c", str(generated), "-o", str(objects)]
        _identity(tuple(compiler()))  # a missing compiler: a clear error, not a traceback
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"the C compiler failed on generated code:\n{result.stderr}")
        ffi = cffi.FFI()
        ffi.cdef(declarations)
        ffi.set_source(name, declarations, extra_objects=[str(objects)], libraries=["m"])
        built = ffi.compile(tmpdir=work, verbose=False)
        os.replace(built, target)
