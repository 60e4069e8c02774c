"""Tests of fetch_fashion_mnist and load_fashion_mnist_sample, all offline."""

import gzip
import json
import subprocess
import sys
import warnings
from importlib import resources

import numpy as np
import pytest
from conftest import idx_gz, subprocess_env
from sklearn.utils._param_validation import InvalidParameterError

from sksoftmax import _datasets, fetch_fashion_mnist, load_fashion_mnist_sample

SAMPLE = resources.files("sksoftmax") / "data" / "fashion_mnist_sample.npz"

pytestmark = pytest.mark.usefixtures("offline")

MIRROR_ENV = _datasets._MIRROR_ENV
TARGET_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
NO_DOWNLOAD = "Data not found and `download_if_missing` is False"


@pytest.fixture
def home(tmp_path):
    """The data home: a folder of its own, so that leftovers are easy to spot."""
    return tmp_path / "home"


def expected(fake, subset):
    parts = [fake.arrays[name] for name in _datasets._subset_names(subset)]
    return np.concatenate([d for d, _ in parts]), np.concatenate([t for _, t in parts])


def files_in(folder):
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    )


def check_bunch(bunch, data, target):
    """The fields shared by both loaders, for arrays (as_frame=False)."""
    assert bunch.data.dtype == np.uint8
    np.testing.assert_array_equal(bunch.data, data)
    assert bunch.target.dtype == np.int64
    np.testing.assert_array_equal(bunch.target, target)
    assert bunch.images.shape == (len(data), 28, 28)
    assert np.shares_memory(bunch.images, bunch.data)  # a view, not a copy
    np.testing.assert_array_equal(bunch.images[:, 3, 5], data[:, 3 * 28 + 5])
    assert bunch.feature_names == [f"pixel{i}" for i in range(1, 785)]
    assert bunch.target_names.tolist() == TARGET_NAMES
    assert bunch.frame is None
    assert "Fashion-MNIST" in bunch.DESCR and "Zalando SE" in bunch.DESCR
    assert "MIT" in bunch.DESCR and "arXiv:1708.07747" in bunch.DESCR


@pytest.mark.parametrize("subset", ["train", "test", "all"])
def test_fetch_through_http_mirror(
    fake_fashion_mnist, http_server, monkeypatch, home, subset
):
    server = http_server(fake_fashion_mnist.folder)
    monkeypatch.setenv(MIRROR_ENV, server.url)
    bunch = fetch_fashion_mnist(subset=subset, data_home=home)
    check_bunch(bunch, *expected(fake_fashion_mnist, subset))
    assert files_in(home) == sorted(
        f"fashion_mnist/{name}.npz" for name in _datasets._subset_names(subset)
    )


def test_cache_is_reused_without_network(
    fake_fashion_mnist, http_server, monkeypatch, home
):
    server = http_server(fake_fashion_mnist.folder)
    monkeypatch.setenv(MIRROR_ENV, server.url)
    first = fetch_fashion_mnist(subset="all", data_home=home)
    n_requests = len(server.requests)
    server.close()
    monkeypatch.delenv(MIRROR_ENV)

    for download_if_missing in (True, False):
        again = fetch_fashion_mnist(
            subset="all", data_home=home, download_if_missing=download_if_missing
        )
        check_bunch(again, first.data, first.target)
    assert len(server.requests) == n_requests == 4


def test_data_home_defaults_to_scikit_learn_data(
    fake_fashion_mnist, monkeypatch, tmp_path
):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "from_env"))
    monkeypatch.setenv(MIRROR_ENV, str(fake_fashion_mnist.folder))
    fetch_fashion_mnist(subset="test")
    assert files_in(tmp_path / "from_env") == ["fashion_mnist/test.npz"]


def test_download_if_missing_false(fake_fashion_mnist, monkeypatch, home):
    monkeypatch.setenv(MIRROR_ENV, str(fake_fashion_mnist.folder))
    with pytest.raises(OSError, match=NO_DOWNLOAD):
        fetch_fashion_mnist(data_home=home, download_if_missing=False)
    fetch_fashion_mnist(subset="train", data_home=home)
    # "all" needs the test subset too, which is not cached.
    with pytest.raises(OSError, match=NO_DOWNLOAD):
        fetch_fashion_mnist(subset="all", data_home=home, download_if_missing=False)


def test_download_if_missing_false_names_the_missing_file(home):
    with pytest.raises(OSError, match=NO_DOWNLOAD) as excinfo:
        fetch_fashion_mnist(subset="test", data_home=home, download_if_missing=False)
    assert str(home / "fashion_mnist" / "test.npz") in str(excinfo.value)


def test_retries_until_the_server_recovers(
    fake_fashion_mnist, http_server, monkeypatch, home
):
    server = http_server(fake_fashion_mnist.folder, fail_first=2)
    monkeypatch.setenv(MIRROR_ENV, server.url)
    with pytest.warns(UserWarning, match="Retry downloading") as record:
        bunch = fetch_fashion_mnist(
            subset="test", data_home=home, n_retries=2, delay=0.01
        )
    assert len(record) == 2
    check_bunch(bunch, *expected(fake_fashion_mnist, "test"))


def test_gives_up_after_n_retries(fake_fashion_mnist, http_server, monkeypatch, home):
    server = http_server(fake_fashion_mnist.folder, fail_first=3)
    monkeypatch.setenv(MIRROR_ENV, server.url)
    with pytest.warns(UserWarning, match="Retry downloading"):
        with pytest.raises(
            OSError, match="Could not download t10k-images-idx3-ubyte.gz"
        ):
            fetch_fashion_mnist(subset="test", data_home=home, n_retries=2, delay=0.01)
    assert files_in(home) == []


def test_sources_are_tried_in_turn(
    fake_fashion_mnist, http_server, monkeypatch, tmp_path, home
):
    """A mirror without the files, then a dead host, then one that has them."""
    empty = tmp_path / "empty_mirror"
    empty.mkdir()
    dead = http_server(empty)
    dead.close()
    alive = http_server(fake_fashion_mnist.folder)
    monkeypatch.setenv(MIRROR_ENV, str(empty))
    monkeypatch.setattr(_datasets, "_BASE_URLS", (dead.url, alive.url))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a refused connection is not retried
        bunch = fetch_fashion_mnist(
            subset="test", data_home=home, n_retries=1, delay=0.01
        )
    check_bunch(bunch, *expected(fake_fashion_mnist, "test"))


def test_error_lists_every_source_tried(monkeypatch, tmp_path, home):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "nowhere"))
    monkeypatch.setattr(_datasets, "_BASE_URLS", ("file:///also/nowhere/",))
    with pytest.raises(OSError) as excinfo:
        fetch_fashion_mnist(data_home=home)
    message = str(excinfo.value)
    assert message.startswith("Could not download train-images-idx3-ubyte.gz; tried:")
    assert f"{(tmp_path / 'nowhere').as_posix()}/train-images" in message
    assert "/also/nowhere/train-images" in message


@pytest.mark.parametrize("mirror", ["folder", "file:///", "file://localhost/"])
def test_local_mirror(fake_fashion_mnist, monkeypatch, home, mirror):
    folder = fake_fashion_mnist.folder
    value = (
        str(folder)
        if mirror == "folder"
        else mirror + folder.as_uri()[len("file:///") :]
    )
    monkeypatch.setenv(MIRROR_ENV, value)
    bunch = fetch_fashion_mnist(subset="all", data_home=home)
    check_bunch(bunch, *expected(fake_fashion_mnist, "all"))
    assert files_in(home) == [
        "fashion_mnist/test.npz",
        "fashion_mnist/train.npz",
    ]


def test_wrong_bytes_leave_nothing_behind(
    fake_fashion_mnist, http_server, monkeypatch, home
):
    images = fake_fashion_mnist.folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-1] + b"!")  # the checksum is not updated
    server = http_server(fake_fashion_mnist.folder)
    monkeypatch.setenv(MIRROR_ENV, server.url)
    with pytest.raises(OSError, match="SHA256 checksum of train-images-idx3-ubyte.gz"):
        fetch_fashion_mnist(data_home=home)
    assert files_in(home) == []


def _header(ndim, dims, type_code=0x08):
    return bytes([0, 0, type_code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims)


def _flip_crc(gz):
    return gz[:-8] + bytes([gz[-8] ^ 0xFF]) + gz[-7:]


IMAGES = "train-images-idx3-ubyte.gz"
LABELS = "train-labels-idx1-ubyte.gz"
PIXELS = bytes(30 * 784)
NOISE = np.random.default_rng(0).integers(0, 256, size=(30, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize(
    "filename, content, problem",
    [
        (
            IMAGES,
            _header(3, (30, 28, 28)) + PIXELS,
            "cannot decompress .*Not a gzipped file",
        ),
        (IMAGES, idx_gz(NOISE)[:5000], "truncated or corrupted"),
        (IMAGES, gzip.compress(_header(3, (30, 28))), "truncated header"),
        (
            IMAGES,
            gzip.compress(_header(1, (30,)) + bytes(30)),
            r"bad magic number 2049 \(expected 2051\)",
        ),
        (
            IMAGES,
            gzip.compress(_header(3, (30, 28, 28), 0x0D) + PIXELS),
            "bad magic number 3331",
        ),
        (
            IMAGES,
            idx_gz(np.zeros((30, 32, 32))),
            r"dimensions \(30, 32, 32\), expected \('n', 28, 28\)",
        ),
        (
            IMAGES,
            gzip.compress(_header(3, (31, 28, 28)) + PIXELS),
            "the header announces 24320 bytes",
        ),
        (
            IMAGES,
            gzip.compress(_header(3, (2**32 - 1, 28, 28)) + PIXELS),
            "the header announces .* bytes, over 47040016",  # the official size
        ),
        (
            IMAGES,
            gzip.compress(_header(3, (30, 28, 28)) + PIXELS)
            + gzip.compress(bytes(16 + 30 * 784)),
            "the data does not match the 23520 bytes announced",
        ),
        (
            IMAGES,
            _flip_crc(idx_gz(NOISE)),
            "cannot decompress .*CRC check failed",
        ),
        (LABELS, idx_gz(np.arange(30) % 11), r"label 10 is not in 0..9"),
        (
            LABELS,
            idx_gz(np.zeros(29)),
            "holds 29 labels but train-images-idx3-ubyte.gz holds 30",
        ),
    ],
    ids=[
        "not-gzip",
        "truncated-gzip",
        "truncated-header",
        "labels-magic",
        "not-unsigned-bytes",
        "wrong-image-size",
        "header-overstates",
        "header-claims-4GiB",
        "trailing-data",
        "bad-crc",
        "label-out-of-range",
        "count-mismatch",
    ],
)
def test_malformed_idx(
    fake_fashion_mnist, monkeypatch, home, filename, content, problem
):
    fake_fashion_mnist.write(filename, content)
    monkeypatch.setenv(MIRROR_ENV, str(fake_fashion_mnist.folder))
    with pytest.raises(ValueError, match=problem) as excinfo:
        fetch_fashion_mnist(data_home=home)
    assert str(excinfo.value).startswith("train-")  # the message names the file
    assert files_in(home) == []


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_middle_byte(path):
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def _wrong_shape(path):
    np.savez(path, data=np.zeros((20, 100), np.uint8), target=np.zeros(20, np.uint8))


def _wrong_keys(path):
    np.savez(path, images=np.zeros((20, 784), np.uint8))


def _too_few_rows(path):
    with np.load(path) as npz:
        data, target = npz["data"], npz["target"]
    np.savez(path, data=data[:5], target=target[:5])


def _labels_out_of_range(path):
    with np.load(path) as npz:
        data, target = npz["data"], npz["target"]
    np.savez(path, data=data, target=target + 50)


@pytest.mark.parametrize(
    "corrupt",
    [
        _truncate,
        _flip_middle_byte,
        _wrong_shape,
        _wrong_keys,
        _too_few_rows,
        _labels_out_of_range,
        lambda p: p.write_text("junk"),
    ],
    ids=[
        "truncated",
        "flipped-byte",
        "wrong-shape",
        "wrong-keys",
        "too-few-rows",
        "labels-out-of-range",
        "junk",
    ],
)
def test_corrupted_cache_is_rebuilt(fake_fashion_mnist, monkeypatch, home, corrupt):
    monkeypatch.setenv(MIRROR_ENV, str(fake_fashion_mnist.folder))
    fetch_fashion_mnist(subset="test", data_home=home)
    cache = home / "fashion_mnist" / "test.npz"
    corrupt(cache)

    with pytest.warns(UserWarning, match=r"test.npz is corrupted .*rebuilding it"):
        bunch = fetch_fashion_mnist(subset="test", data_home=home)
    check_bunch(bunch, *expected(fake_fashion_mnist, "test"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fetch_fashion_mnist(subset="test", data_home=home, download_if_missing=False)


def test_corrupted_cache_without_download(fake_fashion_mnist, home):
    (home / "fashion_mnist").mkdir(parents=True)
    (home / "fashion_mnist" / "train.npz").write_text("junk")
    # An accurate error, and no promise of a rebuild that cannot happen.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            OSError, match="train.npz is corrupted .*download_if_missing=False"
        ):
            fetch_fashion_mnist(data_home=home, download_if_missing=False)


CHILD = """
import json, sys
from sksoftmax import _datasets
_datasets._SHA256.update(json.loads(sys.argv[1]))
_datasets._N_SAMPLES.update(json.loads(sys.argv[2]))
_datasets._BASE_URLS = ()
print("ready", flush=True)
sys.stdin.readline()  # start both processes' fetch at the same moment
X, y = _datasets.fetch_fashion_mnist(
    subset="all", data_home=sys.argv[3], return_X_y=True
)
print(int(X.sum()), y.tolist())
"""


def test_two_processes_fetch_into_one_data_home(fake_fashion_mnist, http_server, home):
    # Slow answers make sure that both processes are downloading at once.
    server = http_server(fake_fashion_mnist.folder, delay=0.25)
    env = subprocess_env(**{MIRROR_ENV: server.url})
    patches = [json.dumps(_datasets._SHA256), json.dumps(_datasets._N_SAMPLES)]
    args = [sys.executable, "-c", CHILD, *patches, str(home)]
    children = [
        subprocess.Popen(
            args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout.readline() == "ready\n"
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [child.communicate(timeout=60)[0] for child in children]

    assert [child.returncode for child in children] == [0, 0]
    data, target = expected(fake_fashion_mnist, "all")
    assert outputs == [f"{int(data.sum())} {target.tolist()}\n"] * 2
    assert len(server.requests) == 8  # each process downloaded its own copy
    assert files_in(home) == ["fashion_mnist/test.npz", "fashion_mnist/train.npz"]
    check_bunch(fetch_fashion_mnist(subset="all", data_home=home), data, target)


def test_as_frame(fake_fashion_mnist, monkeypatch, home):
    pd = pytest.importorskip("pandas")
    monkeypatch.setenv(MIRROR_ENV, str(fake_fashion_mnist.folder))
    bunch = fetch_fashion_mnist(subset="all", data_home=home, as_frame=True)
    data, target = expected(fake_fashion_mnist, "all")

    assert isinstance(bunch.data, pd.DataFrame)
    assert list(bunch.data.columns) == [f"pixel{i}" for i in range(1, 785)]
    assert (bunch.data.dtypes == np.uint8).all()
    np.testing.assert_array_equal(bunch.data.to_numpy(), data)
    assert isinstance(bunch.target, pd.Series)
    assert bunch.target.name == "class" and bunch.target.dtype == np.int64
    np.testing.assert_array_equal(bunch.target.to_numpy(), target)
    assert list(bunch.frame.columns) == bunch.feature_names + ["class"]
    assert bunch.frame.shape == (50, 785)
    assert bunch.images.shape == (50, 28, 28)

    X, y = fetch_fashion_mnist(
        subset="all", data_home=home, as_frame=True, return_X_y=True
    )
    pd.testing.assert_frame_equal(X, bunch.data)
    pd.testing.assert_series_equal(y, bunch.target)


def test_return_X_y(fake_fashion_mnist, monkeypatch, home):
    monkeypatch.setenv(MIRROR_ENV, str(fake_fashion_mnist.folder))
    X, y = fetch_fashion_mnist(subset="test", data_home=home, return_X_y=True)
    data, target = expected(fake_fashion_mnist, "test")
    np.testing.assert_array_equal(X, data)
    np.testing.assert_array_equal(y, target)
    assert y.dtype == np.int64


@pytest.mark.parametrize(
    "params",
    [
        {"subset": "validation"},
        {"data_home": 3},
        {"download_if_missing": "yes"},
        {"as_frame": None},
        {"n_retries": -1},
        {"delay": -1},
        {"timeout": 0},
        {"mirror": 3},
        {"progress": "yes"},
    ],
)
def test_fetch_validates_parameters(params):
    with pytest.raises(InvalidParameterError):
        fetch_fashion_mnist(**params)


@pytest.mark.parametrize(
    "subset, n_per_class", [("train", 120), ("test", 30), ("all", 150)]
)
def test_sample(subset, n_per_class):
    bunch = load_fashion_mnist_sample(subset=subset)
    parts = [_sample_arrays(name) for name in _datasets._subset_names(subset)]
    data = np.concatenate([d for d, _ in parts])
    check_bunch(bunch, data, np.concatenate([t for _, t in parts]))
    assert np.bincount(bunch.target).tolist() == [n_per_class] * 10
    assert len(np.unique(data, axis=0)) == len(data)


def _sample_arrays(subset):
    with SAMPLE.open("rb") as f, np.load(f) as npz:
        return npz[f"{subset}_data"], npz[f"{subset}_target"]


def test_sample_is_small():
    assert len(SAMPLE.read_bytes()) < 1_000_000


def test_sample_as_frame_and_return_X_y():
    pd = pytest.importorskip("pandas")
    bunch = load_fashion_mnist_sample(subset="test", as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame) and bunch.data.shape == (300, 784)
    assert bunch.target.name == "class" and bunch.frame.shape == (300, 785)
    X, y = load_fashion_mnist_sample(subset="test", return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data.to_numpy())
    np.testing.assert_array_equal(y, bunch.target.to_numpy())
    with pytest.raises(InvalidParameterError):
        load_fashion_mnist_sample(subset="validation")


# The real files: once per session, fetched through the loopback server.


@pytest.mark.real_data
def test_real_fashion_mnist(real_data_home):
    bunch = fetch_fashion_mnist(
        subset="all", data_home=real_data_home, download_if_missing=False
    )
    assert bunch.data.shape == (70000, 784) and bunch.data.dtype == np.uint8
    assert bunch.images.shape == (70000, 28, 28)
    assert np.shares_memory(bunch.images, bunch.data)
    # Statistics recorded in the data's SOURCE.md.
    assert bunch.data[:60000].mean() == pytest.approx(72.9404, abs=1e-4)
    assert bunch.data[60000:].mean() == pytest.approx(73.1466, abs=1e-4)
    assert np.bincount(bunch.target[:60000]).tolist() == [6000] * 10
    assert np.bincount(bunch.target[60000:]).tolist() == [1000] * 10
    assert bunch.target[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert bunch.target_names[bunch.target[0]] == "Ankle boot"


@pytest.mark.real_data
@pytest.mark.parametrize("subset", ["train", "test"])
def test_sample_is_drawn_from_the_real_data(real_data_home, subset):
    X, y = fetch_fashion_mnist(subset=subset, data_home=real_data_home, return_X_y=True)
    with SAMPLE.open("rb") as f, np.load(f) as npz:
        index = npz[f"{subset}_index"]
        np.testing.assert_array_equal(npz[f"{subset}_data"], X[index])
        np.testing.assert_array_equal(npz[f"{subset}_target"], y[index])
