"""Reader for gzip-compressed IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values in C
order. Every size is checked against the file before memory is allocated, and
nothing is decompressed beyond what the header announces (plus the few bytes
that confirm the end of the stream).
"""

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

_UNSIGNED_BYTE = 0x08


def read_idx_gz(path, shape):
    """Read a gzip-compressed IDX file of unsigned bytes.

    Parameters
    ----------
    path : str or path-like
        The ``.gz`` file.

    shape : tuple of int or None
        Expected dimensions, ``None`` where any size is allowed, for example
        ``(None, 28, 28)`` for images and ``(None,)`` for labels.

    Returns
    -------
    ndarray of dtype uint8
        The values, with the shape the header gives. Read-only.

    Raises
    ------
    ValueError
        If the file is not gzip, is truncated, or its header or size does not
        match ``shape``; the message names the file and the problem.
    """
    path = Path(path)
    try:
        return _read(path, shape)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path.name}: cannot decompress ({exc})") from exc


def _read(path, shape):
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

        # The gzip trailer records the uncompressed size (mod 2**32). Requiring
        # it to equal the header's size, before allocating what the header asks
        # for, bounds the allocation and catches most truncated files early.
        n_bytes = math.prod(dims)
        recorded = _gzip_uncompressed_size(path)
        if header_size + n_bytes != recorded:
            _fail(
                path,
                f"the header announces {header_size + n_bytes} bytes but the "
                f"gzip trailer records {recorded}: truncated or corrupted file",
            )
        data = f.read(n_bytes)
        # Reading one more byte checks the gzip CRC and that nothing follows.
        if len(data) < n_bytes or f.read(1):
            _fail(path, f"the data does not match the {n_bytes} bytes announced")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _gzip_uncompressed_size(path):
    with open(path, "rb") as f:
        f.seek(-4, 2)
        return struct.unpack("<I", f.read(4))[0]


def _fail(path, problem):
    raise ValueError(f"{path.name}: malformed IDX file: {problem}")
