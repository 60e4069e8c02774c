"""The fetcher against misbehaving servers, killed runs and damaged caches.

Every server here listens on 127.0.0.1, answers a bounded number of requests
and stops by itself within a few seconds.
"""

import base64
import errno
import http.client
import io
import os
import shutil
import socket
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeFashionMNIST, ThreadedServer
from numpy.testing import assert_array_equal
from sklearn.utils._param_validation import InvalidParameterError

from sksoftmax import _datasets, fetch_fashion_mnist

pytestmark = pytest.mark.usefixtures("offline")
MIRROR_ENV = _datasets._MIRROR_ENV
LABELS = "t10k-labels-idx1-ubyte.gz"
CLOSED_PORT = "http://127.0.0.1:9/"  # the discard port: nothing listens there
# Sent before one "0" after another: the status line, a header or the size of
# the first chunk never ends.
PREAMBLES = {
    "trickle-status": b"HTTP/1.1 200 ",
    "trickle-header": b"HTTP/1.1 200 OK\r\nX-Slow: ",
    "trickle-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
}


class FaultServer(ThreadedServer):
    """Answer every request with one fault: hang, trickle, flood, 404...

    "serve" sends the files of `folder` with the header ``Content-Length:
    {content_length}`` (``{n}``: the file's size); "cut-first" too, but the
    first answer ends, and the connection closes, halfway through the file.
    """

    def __init__(self, fault, limit_seconds=3.0, folder=None, content_length="{n}"):
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                deadline = time.monotonic() + limit_seconds
                if fault == "404":
                    self.send_error(404)
                    return
                if fault == "503":  # come back tomorrow
                    self.send_response(503)
                    self.send_header("Retry-After", "86400")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault == "html":  # a proxy's login page, say
                    body = b"<html><body>Please log in</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if fault == "hang":  # accept, then never answer
                    while time.monotonic() < deadline:
                        time.sleep(0.05)
                    return
                if fault in ("serve", "cut-first"):
                    body = (folder / self.path.lstrip("/")).read_bytes()
                    self.send_response(200)
                    length = content_length.format(n=len(body))
                    self.send_header("Content-Length", length)
                    self.end_headers()
                    if fault == "cut-first" and server.requests == 1:
                        body = body[: len(body) // 2]
                    self.wfile.write(body)
                    return
                if fault in PREAMBLES:
                    self.wfile.write(PREAMBLES[fault])
                else:
                    self.send_response(200)
                    if fault == "announce-huge":
                        self.send_header("Content-Length", str(10**9))
                    self.end_headers()
                trickle = fault == "trickle" or fault in PREAMBLES
                chunk = b"0" if trickle else bytes(2**16)
                try:
                    while time.monotonic() < deadline:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if trickle:
                            time.sleep(0.05)
                except OSError:  # the client went away, as it should
                    pass

            def log_message(self, *args):
                pass

        super().__init__(Handler)


class RunOnAppend(list):
    """A list that calls `function` before each append."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def append(self, item):
        self.function()
        super().append(item)


def wait_for(condition, seconds=5):
    """Return the first true value of `condition()` within `seconds`, or fail."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


def failing_writes(error):
    """An `open` for _datasets: files opened for writing fail with `error`."""

    class FailingFile(io.FileIO):
        def write(self, data):
            raise OSError(error, os.strerror(error))

    def open_(file, mode="r", *args, **kwargs):
        if "w" in mode:
            return FailingFile(file, mode)
        return open(file, mode, *args, **kwargs)

    return open_


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


# The PREAMBLES trickle the status line, headers or chunk sizes, on which the
# socket's timeout restarts with each byte: the request has its own deadline.
@pytest.mark.parametrize(
    "fault", ["hang", "trickle", *PREAMBLES, "flood", "announce-huge"]
)
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


def test_a_slow_connection_is_not_a_stall(
    fake_fashion_mnist, http_server, monkeypatch, home
):
    # Connecting is bounded per address by the socket's timeout (a dead IPv6
    # route, then IPv4); the watch for 1 KiB per `timeout` starts once
    # connected.
    server = http_server(fake_fashion_mnist.folder)
    connect = socket.create_connection

    def slow_connect(*args, **kwargs):
        time.sleep(1.5)
        return connect(*args, **kwargs)

    monkeypatch.setattr(http.client.socket, "create_connection", slow_connect)
    bunch = fetch_fashion_mnist(
        subset="test", data_home=home, mirror=server.url, timeout=1
    )
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])


def test_a_body_cut_short_of_its_content_length_is_retried(
    fake_fashion_mnist, fault_server, home
):
    server = fault_server("cut-first", folder=fake_fashion_mnist.folder)
    with pytest.warns(UserWarning, match=r"connection closed after \d+ of \d+ bytes"):
        bunch = fetch_fashion_mnist(
            subset="test", data_home=home, mirror=server.url, delay=0.01
        )
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])
    assert server.requests == 3  # the images twice, the labels once


@pytest.mark.parametrize("content_length", ["abc", "{n}, {n}", "{n}, 7", ""])
def test_an_unreadable_content_length_is_ignored(
    fake_fashion_mnist, fault_server, home, content_length
):
    """As http.client does, which then reads until the connection closes."""
    server = fault_server(
        "serve", folder=fake_fashion_mnist.folder, content_length=content_length
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bunch = fetch_fashion_mnist(subset="test", data_home=home, mirror=server.url)
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])


def test_a_url_with_a_bad_port_is_not_retried(fake_fashion_mnist, monkeypatch, home):
    monkeypatch.setattr(_datasets, "_BASE_URLS", (fake_fashion_mnist.folder.as_uri(),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bunch = fetch_fashion_mnist(
            subset="test", data_home=home, mirror="http://127.0.0.1:abc/", delay=5
        )
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS, errno.ENOENT])
def test_an_error_writing_the_cache_folder_is_not_the_sources(
    fake_fashion_mnist, http_server, monkeypatch, home, error
):
    """Raised at once, naming the folder: no retry, no other source, no hint."""
    server = http_server(fake_fashion_mnist.folder)
    other = http_server(fake_fashion_mnist.folder)
    monkeypatch.setattr(_datasets, "_BASE_URLS", (other.url,))
    if error == errno.ENOENT:  # the temporary folder, removed while the call waits

        def remove_it():
            for tmp in (home / "fashion_mnist").glob(".test-*"):
                shutil.rmtree(tmp)

        monkeypatch.setattr(server, "requests", RunOnAppend(remove_it))
    else:  # a full or read-only disk
        monkeypatch.setattr(_datasets, "open", failing_writes(error), raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not retried
        with pytest.raises(OSError) as excinfo:
            fetch_fashion_mnist(
                subset="test", data_home=home, mirror=server.url, delay=5
            )
    message = str(excinfo.value)
    assert f"cache folder {home / 'fashion_mnist'} " in message
    assert os.strerror(error) in message
    assert MIRROR_ENV not in message
    assert len(server.requests) == 1 and other.requests == []
    assert not any(home.rglob("*.gz"))


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


def test_a_mirror_s_user_and_password_are_sent_as_basic_authorization(
    fake_fashion_mnist, http_server, home
):
    server = http_server(fake_fashion_mnist.folder)
    host = server.url.removeprefix("http://")
    mirror = f"http://reader:p%40ss@{host}"  # a quoted "@" in the password
    bunch = fetch_fashion_mnist(subset="test", data_home=home, mirror=mirror)
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])
    expected = "Basic " + base64.b64encode(b"reader:p@ss").decode()
    assert server.authorizations == [expected, expected]


def test_messages_mask_the_mirror_s_password_and_token(fault_server, home):
    """Errors and warnings end up in logs: no credentials in them."""
    busy = fault_server("503")
    host = busy.url.removeprefix("http://")
    mirror = f"http://user:secret@{host}fashion?token=abc"
    with pytest.warns(UserWarning) as record:
        with pytest.raises(OSError) as excinfo:
            fetch_fashion_mnist(data_home=home, mirror=mirror, n_retries=1, delay=0)
    shown = f"http://user:***@{host}fashion/train-images-idx3-ubyte.gz?***"
    for message in [str(excinfo.value), str(record[0].message)]:
        assert shown in message
        assert "secret" not in message and "abc" not in message


def test_http_5xx_is_retried_and_named_with_its_status(fault_server, home):
    """Retried `delay` apart, not after the day that Retry-After asks for."""
    busy = fault_server("503")
    start = time.monotonic()
    with pytest.warns(UserWarning, match=r"\(HTTP Error 503: ") as record:
        with pytest.raises(OSError, match=r"gz: HTTP Error 503: Service Unavailable"):
            fetch_fashion_mnist(
                data_home=home, mirror=busy.url, n_retries=2, delay=0.01
            )
    assert time.monotonic() - start < 3
    assert len(record) == 2 and busy.requests == 3


def test_a_page_in_place_of_a_file_is_reported_as_such(fault_server, home):
    """Such as a proxy's login page: the error says how little came."""
    page = fault_server("html")
    with pytest.raises(OSError, match=r"SHA256 checksum") as excinfo:
        fetch_fashion_mnist(data_home=home, mirror=page.url)
    assert "got 39 bytes, not 26421880" in str(excinfo.value)


def test_a_connection_that_times_out_is_not_called_a_stall(monkeypatch, home):
    """A host behind a firewall that drops packets: nothing was ever received."""

    def timed_out(*args, **kwargs):
        raise TimeoutError("timed out")

    monkeypatch.setattr(http.client.socket, "create_connection", timed_out)
    with pytest.raises(OSError) as excinfo:
        fetch_fashion_mnist(data_home=home, mirror=CLOSED_PORT, timeout=0.5)
    message = str(excinfo.value)
    url = f"{CLOSED_PORT}train-images-idx3-ubyte.gz"
    assert f"{url}: could not connect in 0.5 s" in message
    assert "stalled" not in message


@pytest.mark.parametrize("option", ["timeout", "delay"])
def test_a_wait_too_long_for_the_system_clocks_is_rejected(fault_server, home, option):
    """Rather than an OverflowError from a socket, a thread or time.sleep."""
    busy = fault_server("503")  # retried: `delay` is used too
    with pytest.raises(InvalidParameterError, match=f"'{option}' parameter"):
        fetch_fashion_mnist(data_home=home, mirror=busy.url, **{option: 1e10})


@pytest.mark.parametrize("folder", ["fashion", "fashion/"])
def test_a_mirror_url_with_a_query_keeps_it(
    fake_fashion_mnist, http_server, tmp_path, home, folder
):
    """A signed or token-protected mirror: the file name goes in the path."""
    shutil.copytree(fake_fashion_mnist.folder, tmp_path / "served" / "fashion")
    server = http_server(tmp_path / "served")
    mirror = f"{server.url}{folder}?token=abc"
    bunch = fetch_fashion_mnist(subset="test", data_home=home, mirror=mirror)
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])
    assert server.requests[0] == "/fashion/t10k-images-idx3-ubyte.gz?token=abc"


def test_the_mirror_argument_goes_before_the_environment(
    fake_fashion_mnist, monkeypatch, home, tmp_path
):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "nowhere"))
    bunch = fetch_fashion_mnist(
        subset="test", data_home=home, mirror=fake_fashion_mnist.folder
    )
    assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])


def test_a_file_url_naming_another_host_is_refused(home):
    with pytest.raises(ValueError, match="names the host 'fileserver'"):
        fetch_fashion_mnist(data_home=home, mirror="file://fileserver/share/fashion")


@pytest.mark.parametrize("mirror", ["ftp://example.org/fashion", "gopher://x/"])
def test_an_unsupported_mirror_is_named(mirror, home):
    with pytest.raises(ValueError, match="unsupported scheme"):
        fetch_fashion_mnist(data_home=home, mirror=mirror)


def test_a_bad_mirror_setting_does_not_stop_reading_the_cache(
    fake_fashion_mnist, monkeypatch, home
):
    fetch_fashion_mnist(subset="test", data_home=home, mirror=fake_fashion_mnist.folder)
    monkeypatch.setenv(MIRROR_ENV, "s3://bucket/fashion-mnist")
    for download_if_missing in (True, False):
        bunch = fetch_fashion_mnist(
            subset="test", data_home=home, download_if_missing=download_if_missing
        )
        assert_array_equal(bunch.target, fake_fashion_mnist.arrays["test"][1])
    with pytest.raises(ValueError, match="unsupported scheme 's3'"):
        fetch_fashion_mnist(subset="train", data_home=home)  # needs a download


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


def test_the_temporary_folder_of_a_live_call_is_kept(
    fake_fashion_mnist, http_server, monkeypatch, home
):
    """However long the call waits (here for the server), its folder stays fresh."""
    monkeypatch.setattr(_datasets, "_HEARTBEAT_SECONDS", 0.05)
    answer = threading.Event()
    server = http_server(fake_fashion_mnist.folder)
    monkeypatch.setattr(server, "requests", RunOnAppend(lambda: answer.wait(30)))
    results = []
    call = threading.Thread(
        target=lambda: results.append(
            fetch_fashion_mnist(subset="test", data_home=home, mirror=server.url)
        )
    )
    call.start()
    try:
        (tmp,) = wait_for(lambda: list((home / "fashion_mnist").glob(".test-*")))
        long_ago = time.time() - 2 * _datasets._STALE_SECONDS
        for path in [*tmp.rglob("*"), tmp]:
            os.utime(path, (long_ago, long_ago))
        wait_for(lambda: tmp.stat().st_mtime > long_ago)  # its heartbeat
        _datasets._remove_stale_folders(home / "fashion_mnist")
        assert tmp.exists()
    finally:
        answer.set()
        call.join()
    assert_array_equal(results[0].target, fake_fashion_mnist.arrays["test"][1])


def test_an_interrupt_before_the_download_leaves_no_temporary_folder(
    fake_fashion_mnist, monkeypatch, home
):
    """Ctrl-C while the folders of killed runs are looked for.

    Checked while the traceback, which holds the call's frames, lives on, as a
    notebook keeps it: the folder must not wait for the garbage collector.
    """

    def interrupt(folder):
        raise KeyboardInterrupt

    monkeypatch.setattr(_datasets, "_remove_stale_folders", interrupt)
    with pytest.raises(KeyboardInterrupt) as excinfo:
        fetch_fashion_mnist(
            subset="test", data_home=home, mirror=fake_fashion_mnist.folder
        )
    assert excinfo.traceback  # the call's frames, and their locals, live on
    assert os.listdir(home / "fashion_mnist") == []


# ------------------------------------------------------------------ the cache


@pytest.fixture
def cache(fake_fashion_mnist, home):
    fetch_fashion_mnist(subset="test", data_home=home, mirror=fake_fashion_mnist.folder)
    return home / "fashion_mnist" / "test.npz"


def test_every_single_byte_change_of_the_cache_is_caught(cache, tmp_path):
    good = cache.read_bytes()
    n_samples = FakeFashionMNIST.sizes["test"]
    data, target = _datasets._read_cache(cache, n_samples)
    damaged = tmp_path / "damaged.npz"
    for position in range(len(good)):
        content = bytearray(good)
        content[position] ^= 0xFF
        damaged.write_bytes(bytes(content))
        try:
            read = _datasets._read_cache(damaged, n_samples)
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


@pytest.mark.parametrize("download_if_missing", [True, False])
def test_an_unreadable_cache_is_not_called_corrupted(
    fake_fashion_mnist, cache, monkeypatch, home, download_if_missing
):
    """Permission denied (say, in a data home shared between users) is named as
    such: no warning of corruption, no download, and the cache is left alone."""
    good = cache.read_bytes()

    def open_(file, mode="r", *args, **kwargs):
        if Path(file) == cache:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(_datasets, "open", open_, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(OSError) as excinfo:
            fetch_fashion_mnist(
                subset="test",
                data_home=home,
                mirror=fake_fashion_mnist.folder,
                download_if_missing=download_if_missing,
            )
    denied = f"[Errno {errno.EACCES}] {os.strerror(errno.EACCES)}"
    message = f"Could not read the cached Fashion-MNIST file {cache} ({denied}"
    assert str(excinfo.value).startswith(message)
    assert cache.read_bytes() == good
