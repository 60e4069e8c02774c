"""Shared fixtures: a loopback HTTP server, synthetic and real Fashion-MNIST files.

No test reaches the internet. The real files are looked for in the folder named
by the environment variable ``SKSOFTMAX_TEST_DATA``, else in
``<repository>/../shared/datasets/fashion-mnist``; tests that need them are
marked ``real_data`` and skipped when they are absent.
"""

import os

# scikit-learn's array API dispatch (tests/test_array_api.py, and its common
# checks of array API support) needs SciPy's, which is read at SciPy's import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import gzip  # noqa: E402
import hashlib  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sksoftmax import _datasets, fetch_fashion_mnist  # noqa: E402

REAL_DATA_ENV = "SKSOFTMAX_TEST_DATA"
REAL_DATA_DIR = Path(
    os.environ.get(REAL_DATA_ENV)
    or Path(__file__).resolve().parents[1] / ".." / "shared/datasets/fashion-mnist"
)
MIRROR_ENV = _datasets._MIRROR_ENV
LOOPBACK = "127.0.0.1,localhost"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        f"real_data: needs the real Fashion-MNIST files (set {REAL_DATA_ENV})",
    )


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Never try the official hosts, use no mirror nor the user's data home."""
    monkeypatch.setattr(_datasets, "_BASE_URLS", ())
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "scikit_learn_data"))
    # A proxy configured on the machine must not intercept the loopback server.
    monkeypatch.setenv("no_proxy", LOOPBACK)
    monkeypatch.setenv("NO_PROXY", LOOPBACK)


def subprocess_env(**variables):
    """Environment for a child Python: official hosts unreachable, no mirror."""
    env = {k: v for k, v in os.environ.items() if k != MIRROR_ENV}
    # A proxy on a closed loopback port makes any request to the internet fail
    # at once, while the loopback server stays reachable.
    dead_proxy = "http://127.0.0.1:9"
    env.update(http_proxy=dead_proxy, https_proxy=dead_proxy, no_proxy=LOOPBACK)
    env.update(HTTP_PROXY=dead_proxy, HTTPS_PROXY=dead_proxy, NO_PROXY=LOOPBACK)
    env.update(variables)
    return env


class ThreadedServer:
    """An HTTP server on 127.0.0.1 answering with `handler`, in a thread."""

    def __init__(self, handler):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class LoopbackServer(ThreadedServer):
    """Serve a folder over HTTP on 127.0.0.1, in a thread.

    The first `fail_first` requests are answered with 503, to exercise retries;
    each answer waits `delay` seconds, to make concurrent downloads overlap.
    """

    def __init__(self, folder, fail_first=0, delay=0):
        self.requests, self.authorizations = [], []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                server.requests.append(self.path)
                server.authorizations.append(self.headers.get("Authorization"))
                time.sleep(delay)
                if len(server.requests) <= fail_first:
                    self.send_error(503)
                else:
                    super().do_GET()

            def log_message(self, *args):
                pass

        super().__init__(Handler)


@pytest.fixture
def http_server():
    """Factory: ``http_server(folder, **options)`` starts a LoopbackServer."""
    servers = []

    def start(folder, **options):
        servers.append(LoopbackServer(folder, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def idx_gz(array):
    """The gzip-compressed IDX file of a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return gzip.compress(header + np.asarray(array, dtype=np.uint8).tobytes())


class FakeFashionMNIST:
    """Tiny synthetic copies of the four files, their SHA-256 patched in.

    ``arrays[subset]`` is the expected ``(data, target)``; after changing a
    file with `write`, its checksum is updated so that the parser sees it.
    """

    sizes = {"train": 30, "test": 20}

    def __init__(self, folder, monkeypatch):
        self.folder = folder
        self._monkeypatch = monkeypatch
        # Their cache holds their few rows, not 60000 and 10000.
        monkeypatch.setattr(_datasets, "_N_SAMPLES", dict(self.sizes))
        rng = np.random.default_rng(0)
        self.arrays = {}
        for subset, n in self.sizes.items():
            images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
            labels = (np.arange(n) % 10).astype(np.uint8)
            self.write(self.filename(subset, "images"), idx_gz(images))
            self.write(self.filename(subset, "labels"), idx_gz(labels))
            self.arrays[subset] = images.reshape(n, 784), labels

    @staticmethod
    def filename(subset, kind):
        prefix = _datasets._FILE_PREFIX[subset]
        return f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"

    def write(self, filename, content):
        (self.folder / filename).write_bytes(content)
        sha256 = hashlib.sha256(content).hexdigest()
        self._monkeypatch.setitem(_datasets._SHA256, filename, sha256)


@pytest.fixture
def fake_fashion_mnist(tmp_path, monkeypatch, offline):
    folder = tmp_path / "fake_fashion_mnist"
    folder.mkdir()
    return FakeFashionMNIST(folder, monkeypatch)


@pytest.fixture(scope="session")
def real_data_dir():
    """The folder holding the four real Fashion-MNIST files, or skip."""
    names = list(_datasets._SHA256)
    missing = [name for name in names if not (REAL_DATA_DIR / name).is_file()]
    if missing:
        pytest.skip(
            f"real Fashion-MNIST files not found in {REAL_DATA_DIR} (missing "
            f"{', '.join(missing)}); set {REAL_DATA_ENV} to their folder"
        )
    return REAL_DATA_DIR


@pytest.fixture(scope="session")
def real_data_home(real_data_dir, tmp_path_factory):
    """A data home into which the real files were fetched, through HTTP, once."""
    data_home = tmp_path_factory.mktemp("real_data_home")
    server = LoopbackServer(real_data_dir)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_datasets, "_BASE_URLS", ())
            mp.setenv(MIRROR_ENV, server.url)
            mp.setenv("no_proxy", LOOPBACK)
            mp.setenv("NO_PROXY", LOOPBACK)
            fetch_fashion_mnist(subset="all", data_home=data_home)
    finally:
        server.close()
    return data_home
