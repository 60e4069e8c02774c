"""Reader for gzip-compressed IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values in C
order. The gzip file may hold several members (as ``cat a.gz b.gz`` makes) and
be padded with zero bytes; Python's `gzip` checks each member's CRC-32 and
size. No size announced by the file is trusted for allocation: the data are
decompressed in bounded chunks, and reading stops with an error as soon as
they exceed what the header announces, so memory never exceeds the real
decompressed size (plus one chunk).
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

_UNSIGNED_BYTE = 0x08
_CHUNK = 1 << 20  # bytes decompressed at a time


def read_idx_gz(path, shape, *, max_bytes=None):
    """Read a gzip-compressed IDX file of unsigned bytes.

    Parameters
    ----------
    path : str or path-like
        The ``.gz`` file.

    shape : tuple of int or None
        Expected dimensions, ``None`` where any size is allowed, for example
        ``(None, 28, 28)`` for images and ``(None,)`` for labels.

    max_bytes : int or None, default=None
        Largest decompressed size accepted, header included; ``None`` for no
        limit.

    Returns
    -------
    ndarray of dtype uint8
        The values, with the shape the header gives. Read-only.

    Raises
    ------
    ValueError
        If the file is not gzip, is truncated or corrupted, or its header or
        size does not match ``shape`` or ``max_bytes``; the message names the
        file and the problem.
    """
    path = Path(path)
    try:
        return _read(path, shape, max_bytes)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{path.name}: cannot decompress ({exc}): truncated or corrupted file"
        ) from exc


def _read(path, shape, max_bytes):
    header_size = 4 + 4 * len(shape)
    with gzip.open(path, "rb") as f:
        header = f.read(header_size)
        if len(header) < header_size:
            _fail(path, f"truncated header ({len(header)} of {header_size} bytes)")
        magic = int.from_bytes(header[:4], "big")
        expected = (_UNSIGNED_BYTE << 8) + len(shape)
        if magic != expected:
            _fail(path, f"bad magic number {magic} (expected {expected})")
        dims = struct.unpack(f">{len(shape)}I", header[4:])
        if any(want not in (None, got) for got, want in zip(dims, shape, strict=True)):
            wanted = tuple("n" if want is None else want for want in shape)
            _fail(path, f"dimensions {dims}, expected {wanted}")
        n_bytes = math.prod(dims)
        announced = header_size + n_bytes
        if max_bytes is not None and announced > max_bytes:
            _fail(path, f"the header announces {announced} bytes, over {max_bytes}")

        # Grow the buffer only with bytes actually decompressed. Asking for one
        # byte more than announced detects trailing data, and the last, empty
        # read checks the CRC of the last member.
        data = bytearray()
        while chunk := f.read(min(_CHUNK, n_bytes + 1 - len(data))):
            data += chunk
            if len(data) > n_bytes:
                _fail(
                    path,
                    f"the data does not match the {n_bytes} bytes announced: "
                    "more data follows them",
                )
    if len(data) < n_bytes:
        _fail(
            path,
            f"the header announces {announced} bytes but the file holds only "
            f"{header_size + len(data)}: truncated or corrupted file",
        )
    array = np.frombuffer(data, dtype=np.uint8).reshape(dims)
    array.flags.writeable = False
    return array


def _fail(path, problem):
    raise ValueError(f"{path.name}: malformed IDX file: {problem}")
