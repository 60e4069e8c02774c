"""The gzip IDX reader: valid variants, malformed files, bounded memory, fuzzing."""

import gzip
import math
import struct
import time
import tracemalloc

import numpy as np
import pytest

from sksoftmax._idx import read_idx_gz

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
LABELS = RNG.integers(0, 10, size=7, dtype=np.uint8)
CASES = [(IMAGES, (None, 28, 28)), (LABELS, (None,))]
MiB = 2**20


def _idx(array, dims=None):
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.tobytes()


def _gz(raw):
    return gzip.compress(raw, mtime=0)


def _read(tmp_path, content, shape, **kwargs):
    path = tmp_path / "data-idx-ubyte.gz"
    path.write_bytes(content)
    return read_idx_gz(path, shape, **kwargs)


def _forge_isize(content, size):
    return content[:-4] + struct.pack("<I", size % 2**32)


@pytest.mark.parametrize("array, shape", CASES)
def test_reads_valid_file(tmp_path, array, shape):
    result = _read(tmp_path, _gz(_idx(array)), shape)
    np.testing.assert_array_equal(result, array)
    assert result.dtype == np.uint8
    assert not result.flags.writeable


@pytest.mark.parametrize("array, shape", CASES)
def test_reads_multi_member_and_zero_padded_files(tmp_path, array, shape):
    raw = _idx(array)
    # Cut inside the header, inside the data, and leave an empty member.
    cuts = sorted([0, 3, 9, len(raw) // 2, len(raw) // 2, len(raw)])
    members = b"".join(_gz(raw[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    padded = _gz(raw) + bytes(1000)
    for content in [members, padded, members + bytes(7)]:
        np.testing.assert_array_equal(_read(tmp_path, content, shape), array)


def test_max_bytes(tmp_path):
    content = _gz(_idx(IMAGES))
    size = 16 + IMAGES.size
    np.testing.assert_array_equal(
        _read(tmp_path, content, (None, 28, 28), max_bytes=size), IMAGES
    )
    with pytest.raises(ValueError, match=f"announces {size} bytes, over {size - 1}"):
        _read(tmp_path, content, (None, 28, 28), max_bytes=size - 1)


def test_forged_sizes_allocate_nothing(tmp_path):
    # A header announcing 60000 images, nothing after it, and a gzip trailer
    # forged to record the size that the header announces.
    announced = 16 + 60000 * 28 * 28
    unforged = _gz(_idx(IMAGES[:0], (60000, 28, 28)))
    content = _forge_isize(unforged, announced)
    assert len(content) < 40
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=r"^data-idx-ubyte\.gz: "):
            _read(tmp_path, content, (None, 28, 28))
        # Without the trailer check, the header against the data decides.
        with pytest.raises(ValueError, match=f"announces {announced} bytes but"):
            _read(tmp_path, unforged, (None, 28, 28))
        with pytest.raises(ValueError, match=f"announces {announced} bytes, over"):
            _read(tmp_path, unforged, (None, 28, 28), max_bytes=10**6)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1
    assert peak < 2 * MiB


TRUNCATED = "truncated or corrupted"


@pytest.mark.parametrize(
    "content, problem",
    [
        (_idx(IMAGES), r"cannot decompress \(Not a gzipped file"),
        (_gz(_idx(IMAGES))[:-1], TRUNCATED),
        (_gz(_idx(IMAGES))[:200], TRUNCATED),
        (_gz(_idx(IMAGES))[:5], TRUNCATED),
        (b"", r"truncated header \(0 of 16 bytes\)"),
        (_gz(_idx(IMAGES)[:10]), r"truncated header \(10 of 16 bytes\)"),
        (_gz(_idx(np.zeros(30, np.uint8))), r"bad magic number 2049 \(expected 2051\)"),
        (_gz(_idx(np.zeros((7, 28, 27), np.uint8))), r"dimensions \(7, 28, 27\)"),
        (_gz(_idx(IMAGES, (8, 28, 28))), "announces 6288 bytes but the file holds"),
        (_gz(_idx(IMAGES, (6, 28, 28))), "more data follows"),
        (_gz(_idx(IMAGES)) + _gz(b"\0"), "more data follows"),
        (_gz(_idx(IMAGES)) + b"garbage", r"cannot decompress \(Not a gzipped"),
        (_gz(_idx(IMAGES)) + bytes(3) + b"\x1f", TRUNCATED),
        (_forge_isize(_gz(_idx(IMAGES)), 0), "Incorrect length"),
        (_gz(_idx(IMAGES))[:-8] + bytes(8), "CRC check failed"),
    ],
)
def test_malformed(tmp_path, content, problem):
    with pytest.raises(ValueError, match=problem) as excinfo:
        _read(tmp_path, content, (None, 28, 28))
    assert str(excinfo.value).startswith("data-idx-ubyte.gz: ")


def _mutate(rng, content, array):
    content = bytearray(content)
    kind = rng.integers(7)
    pos = int(rng.integers(len(content)))
    if kind == 0:  # flip one bit
        content[pos] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # replace a few bytes
        for pos in rng.integers(len(content), size=rng.integers(1, 4)):
            content[pos] = rng.integers(256)
    elif kind == 2:  # truncate
        del content[pos:]
    elif kind == 3:  # insert bytes
        content[pos:pos] = rng.integers(0, 256, rng.integers(1, 9), np.uint8).tobytes()
    elif kind == 4:  # delete bytes
        del content[pos : pos + rng.integers(1, 9)]
    else:  # huge sizes: in the trailer only, or in the header with it
        dims = list(array.shape)
        if kind == 6:
            dims[rng.integers(len(dims))] = rng.choice([2**31, 2**32 - 1, 60000])
            content = bytearray(_gz(_idx(array, dims)))
        huge = 4 + 4 * len(dims) + math.prod(dims) if kind == 6 else 2**32 - 1
        content = _forge_isize(content, int(huge))
    return bytes(content)


def test_fuzz(tmp_path):
    rng = np.random.default_rng(0)
    files = [(array, shape, _gz(_idx(array))) for array, shape in CASES]
    outcomes = {"equal": 0, "ValueError": 0}
    tracemalloc.start()
    try:
        for i in range(3000):
            array, shape, content = files[i % 2]
            mutated = _mutate(rng, content, array)
            try:
                result = _read(tmp_path, mutated, shape)
            except ValueError as exc:
                assert str(exc).startswith("data-idx-ubyte.gz: ")
                outcomes["ValueError"] += 1
            else:
                np.testing.assert_array_equal(result, array, strict=True)
                outcomes["equal"] += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * MiB
    assert outcomes["equal"] > 10 and outcomes["ValueError"] > 2000, outcomes


@pytest.mark.real_data
@pytest.mark.parametrize("prefix, n", [("train", 60000), ("t10k", 10000)])
def test_official_files(real_data_dir, prefix, n):
    images = read_idx_gz(
        real_data_dir / f"{prefix}-images-idx3-ubyte.gz",
        (None, 28, 28),
        max_bytes=16 + n * 784,
    )
    labels = read_idx_gz(real_data_dir / f"{prefix}-labels-idx1-ubyte.gz", (None,))
    assert images.shape == (n, 28, 28) and labels.shape == (n,)
    assert images.dtype == labels.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, n // 10))
    assert 0 < images.mean() < 255
