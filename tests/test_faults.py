"""The fetcher against misbehaving servers, killed runs and damaged caches.

Every server here listens on 127.0.0.1, answers a bounded number of requests
and stops by itself within a few seconds.
"""

import os
import time
import warnings
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from conftest import ThreadedServer
from numpy.testing import assert_array_equal

from sksoftmax import _datasets, fetch_fashion_mnist

pytestmark = pytest.mark.usefixtures("offline")
MIRROR_ENV = _datasets._MIRROR_ENV
LABELS = "t10k-labels-idx1-ubyte.gz"
CLOSED_PORT = "http://127.0.0.1:9/"  # the discard port: nothing listens there


class FaultServer(ThreadedServer):
    """Answer every request with one fault: hang, trickle, flood or 404."""

    def __init__(self, fault, limit_seconds=3.0):
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                deadline = time.monotonic() + limit_seconds
                if fault == "404":
                    self.send_error(404)
                    return
                if fault == "hang":  # accept, then never answer
                    while time.monotonic() < deadline:
                        time.sleep(0.05)
                    return
                self.send_response(200)
                if fault == "announce-huge":
                    self.send_header("Content-Length", str(10**9))
                self.end_headers()
                chunk = b"\0" if fault == "trickle" else bytes(2**16)
                try:
                    while time.monotonic() < deadline:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if fault == "trickle":
                            time.sleep(0.05)
                except OSError:  # the client went away, as it should
                    pass

            def log_message(self, *args):
                pass

        super().__init__(Handler)


@pytest.fixture
def fault_server():
    servers = []

    def start(fault, **options):
        servers.append(FaultServer(fault, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.mark.parametrize("fault", ["hang", "trickle", "flood", "announce-huge"])
def test_a_bad_source_falls_through_to_the_next(
    fake_fashion_mnist, fault_server, monkeypatch, home, fault
):
    if fault == "flood":  # more bytes than the official file has
        monkeypatch.setitem(_datasets._SIZES, LABELS, 1000)
        for name in ("t10k-images-idx3-ubyte.gz",):
            monkeypatch.setitem(_datasets._SIZES, name, 10**6)
    bad = fault_server(fault)
    monkeypatch.setattr(_datasets, "_BASE_URLS", (fake_fashion_mnist.folder.as_uri(),))
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these is retried
        bunch = fetch_fashion_mnist(
            subset="test", data_home=home, mirror=bad.url, timeout=0.5
        )
    assert time.monotonic() - start < 3
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])
    assert bad.requests == 2  # once per file: no retry
    assert sorted(os.listdir(home / "fashion_mnist")) == ["test.npz"]


def test_http_4xx_is_not_retried_and_the_error_names_each_source(
    fault_server, monkeypatch, home
):
    missing = fault_server("404")
    monkeypatch.setattr(_datasets, "_BASE_URLS", (CLOSED_PORT,))
    start = time.monotonic()
    with pytest.raises(OSError) as excinfo:
        fetch_fashion_mnist(data_home=home, mirror=missing.url, delay=5)
    assert time.monotonic() - start < 2  # no delay: nothing was retried
    message = str(excinfo.value)
    assert f"{missing.url}train-images-idx3-ubyte.gz: HTTP Error 404" in message
    assert f"{CLOSED_PORT}train-images-idx3-ubyte.gz: " in message
    assert f"Set mirror= or {MIRROR_ENV}" in message
    assert missing.requests == 1
    assert not any(home.rglob("*.gz")) and not any(home.rglob("*.npz"))


def test_the_mirror_argument_goes_before_the_environment(
    fake_fashion_mnist, monkeypatch, home, tmp_path
):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "nowhere"))
    bunch = fetch_fashion_mnist(
        subset="test", data_home=home, mirror=fake_fashion_mnist.folder
    )
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])


@pytest.mark.parametrize("mirror", ["ftp://example.org/fashion", "gopher://x/"])
def test_an_unsupported_mirror_is_named(mirror, home):
    with pytest.raises(ValueError, match="unsupported scheme"):
        fetch_fashion_mnist(data_home=home, mirror=mirror)


def test_progress_is_shown_when_asked(fake_fashion_mnist, home, capsys):
    fetch_fashion_mnist(
        subset="test", data_home=home, mirror=fake_fashion_mnist.folder, progress=True
    )
    assert "Downloading t10k-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_temporary_folders_of_killed_runs_are_removed(fake_fashion_mnist, home):
    folder = home / "fashion_mnist"
    stale, live = folder / ".test-killed", folder / ".test-running"
    other = folder / ".someone-elses"  # not ours: never touched
    for tmp in (stale, live, other):
        tmp.mkdir(parents=True)
        (tmp / LABELS).write_bytes(b"partial")
    long_ago = time.time() - 2 * _datasets._STALE_SECONDS
    for path in (stale / LABELS, stale, other / LABELS, other):
        os.utime(path, (long_ago, long_ago))
    fetch_fashion_mnist(subset="test", data_home=home, mirror=fake_fashion_mnist.folder)
    assert not stale.exists()
    assert live.exists()  # may belong to a call running now
    assert other.exists()


# ------------------------------------------------------------------ the cache


@pytest.fixture
def cache(fake_fashion_mnist, home):
    fetch_fashion_mnist(subset="test", data_home=home, mirror=fake_fashion_mnist.folder)
    return home / "fashion_mnist" / "test.npz"


def test_every_single_byte_change_of_the_cache_is_caught(cache, tmp_path):
    good = cache.read_bytes()
    data, target = _datasets._read_cache(cache)
    damaged = tmp_path / "damaged.npz"
    for position in range(len(good)):
        content = bytearray(good)
        content[position] ^= 0xFF
        damaged.write_bytes(bytes(content))
        try:
            read = _datasets._read_cache(damaged)
        except ValueError:
            continue  # the caller warns and rebuilds
        # Or the change was harmless (zip metadata): the very same arrays.
        assert_array_equal(read[0], data) and assert_array_equal(read[1], target)


def test_an_empty_cache_is_rebuilt(fake_fashion_mnist, cache, home):
    np.savez(cache, data=np.zeros((0, 784), np.uint8), target=np.zeros(0, np.uint8))
    with pytest.warns(UserWarning, match="corrupted .*rebuilding it"):
        bunch = fetch_fashion_mnist(
            subset="test", data_home=home, mirror=fake_fashion_mnist.folder
        )
    assert len(bunch.target) == len(fake_fashion_mnist.arrays["test"][1])
