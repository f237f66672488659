"""An IDX file (MNIST, QMNIST, Fashion-MNIST, EMNIST; raw, gzip or xz) -> a numpy array."""

from __future__ import annotations

import gzip
import lzma
import math
import os
import zlib
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any

from .common import DatasetError, _numpy, _reason

if TYPE_CHECKING:
    import numpy as np


# type byte -> (name in the IDX documentation, big-endian numpy dtype)
# fmt: off
_IDX_TYPES = {
    0x08: ("ubyte", ">u1"),
    0x09: ("byte", ">i1"),
    0x0B: ("short", ">i2"),
    0x0C: ("int", ">i4"),
    0x0D: ("float", ">f4"),
    0x0E: ("double", ">f8"),
}
# fmt: on
_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_CHUNK = 1 << 20  # data is read in pieces of this size


def _describe_start(head: bytes) -> str:
    shown = head[:4].hex(" ") or "nothing"
    hint = ""
    if head.lstrip()[:1] == b"<":
        hint = " (it looks like an HTML page: a failed download?)"
    return f"this one with {shown}{hint}"


def _read_up_to(stream: IO[bytes], size: int) -> bytearray:
    # In pieces, so a header promising a terabyte meets the end of the data long before
    # anything that large is allocated (BufferedReader.read(n) allocates n bytes up front).
    data = bytearray()
    while len(data) < size:
        piece = stream.read(min(_CHUNK, size - len(data)))
        if not piece:
            break
        data += piece
    return data


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (raw, gzip or xz, recognised by content) into a numpy array.

    The header is the magic ``00 00``, a type byte (0x08 ubyte, 0x09 byte, 0x0B short,
    0x0C int, 0x0D float, 0x0E double), a dimension count, then one big-endian uint32
    per dimension. The array has that shape and dtype (in native byte order). Exactly
    the bytes the header promises are read; anything after them is ignored. Raises
    DatasetError for a missing, truncated or malformed file.
    """
    np = _numpy()
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DatasetError(f"{path}: is a directory, not an IDX file")
    try:
        with ExitStack() as stack:
            raw = stack.enter_context(open(path, "rb"))
            start = raw.read(len(_XZ_MAGIC))
            raw.seek(0)
            compression = None
            stream: IO[bytes] = raw
            if start.startswith(_GZIP_MAGIC):
                compression = "gzip"
                stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            elif start.startswith(_XZ_MAGIC):
                compression = "xz"
                stream = stack.enter_context(lzma.LZMAFile(raw, mode="rb"))
            try:
                return _read_idx(np, path, raw, stream, compression)
            except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
                if compression is None:
                    raise
                raise DatasetError(f"{path}: corrupt {compression} data ({error})") from None
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as error:  # permissions, a device error, ...
        raise DatasetError(f"{path}: cannot read it ({_reason(error)})") from None


def _read_idx(np: Any, path: str, raw: IO[bytes], stream: IO[bytes], compression: str | None):
    head = _read_up_to(stream, 4)
    if not head:
        raise DatasetError(f"{path}: empty file, not an IDX file")
    if not b"\x00\x00".startswith(head[:2]):
        raise DatasetError(
            f"{path}: not an IDX file: wrong magic number: an IDX file starts with 00 00, "
            f"a type byte and a dimension count, {_describe_start(head)}"
        )
    if len(head) < 4:
        raise DatasetError(f"{path}: truncated IDX header: {len(head)} bytes, expected at least 4")
    type_byte, ndim = head[2], head[3]
    if type_byte not in _IDX_TYPES:
        known = ", ".join(f"0x{code:02X} {name}" for code, (name, _) in _IDX_TYPES.items())
        raise DatasetError(f"{path}: unknown IDX type byte 0x{type_byte:02X} (known: {known})")
    type_name, big_endian = _IDX_TYPES[type_byte]
    dims_bytes = _read_up_to(stream, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DatasetError(
            f"{path}: truncated IDX header: {ndim} dimensions announced, "
            f"but the file ends {4 + len(dims_bytes)} bytes in, before {4 + 4 * ndim}"
        )
    shape = tuple(int.from_bytes(dims_bytes[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = np.dtype(big_endian)
    count = math.prod(shape)
    size = count * dtype.itemsize
    values = f"{' x '.join(map(str, shape))} {type_name} values" if shape else f"one {type_name}"
    promise = f"the header promises {values} ({size:,} bytes of data)"
    if compression is None:
        # A plain file's size is known: check it before reading a byte of data.
        available = os.fstat(raw.fileno()).st_size - 4 - 4 * ndim
        if available < size:
            raise DatasetError(f"{path}: truncated IDX file: {promise}, only {available:,} follow")
    data = _read_up_to(stream, size)
    if len(data) < size:
        raise DatasetError(
            f"{path}: truncated IDX file: {promise}, the {compression} data holds only "
            f"{len(data):,}"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1)
