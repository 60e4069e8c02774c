"""Fashion-MNIST: a fetcher for the full dataset and a loader for a bundled sample.

Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) holds 70 000 grayscale 28x28
images of Zalando articles in ten classes. It is published under the MIT
licence by Zalando SE: https://github.com/zalandoresearch/fashion-mnist
"""

import base64
import hashlib
import http.client
import os
import shutil
import socket
import sys
import threading
import time
import warnings
from contextlib import contextmanager, suppress
from importlib import resources
from numbers import Integral, Real
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit
from urllib.request import (
    HTTPHandler,
    HTTPSHandler,
    Request,
    build_opener,
    url2pathname,
)

import numpy as np
from sklearn.datasets import get_data_home
from sklearn.datasets._base import _convert_data_dataframe
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from sksoftmax._idx import read_idx_gz

# SHA-256 of the four official files, as published by Zalando SE.
_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
    ),
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
    ),
}
# Their sizes in bytes: a source that sends more is cut off.
_SIZES = {
    "train-images-idx3-ubyte.gz": 26_421_880,
    "train-labels-idx1-ubyte.gz": 29_515,
    "t10k-images-idx3-ubyte.gz": 4_422_102,
    "t10k-labels-idx1-ubyte.gz": 5_148,
}
# And decompressed (header included): the IDX reader reads no more.
_IDX_SIZES = {
    "train-images-idx3-ubyte.gz": 16 + 60_000 * 784,
    "train-labels-idx1-ubyte.gz": 8 + 60_000,
    "t10k-images-idx3-ubyte.gz": 16 + 10_000 * 784,
    "t10k-labels-idx1-ubyte.gz": 8 + 10_000,
}
# The official hosts, tried in turn after the mirror (mirror= or _MIRROR_ENV).
_BASE_URLS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
_MIRROR_ENV = "SKSOFTMAX_FASHION_MNIST_MIRROR"
# How a failed download's message ends (the main job names its own options).
_MIRROR_HINT = (
    f"Set mirror= or {_MIRROR_ENV} to a folder or URL holding the four official files."
)
# A download that brings less than this many bytes in `timeout` seconds is
# stalled; temporary folders untouched for this long belong to killed runs,
# as running calls touch theirs every _HEARTBEAT_SECONDS.
_MIN_BYTES_PER_TIMEOUT = 1024
_STALE_SECONDS = 600
_HEARTBEAT_SECONDS = 60
# The longest `timeout` and `delay`: longer ones overflow the clocks of sockets,
# threads or time.sleep (OverflowError), and a day is as good as for ever here.
_MAX_SECONDS = 86_400
_FILE_PREFIX = {"train": "train", "test": "t10k"}
_N_SAMPLES = {"train": 60_000, "test": 10_000}

_IMAGE_SHAPE = (28, 28)
_N_FEATURES = _IMAGE_SHAPE[0] * _IMAGE_SHAPE[1]
# Column names of OpenML's copy (data set 40996), so frames are interchangeable.
_FEATURE_NAMES = [f"pixel{i}" for i in range(1, _N_FEATURES + 1)]
_TARGET_COLUMN = "class"
_TARGET_NAMES = np.array(
    [
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
)
_SUBSETS = StrOptions({"train", "test", "all"})


@validate_params(
    {
        "subset": [_SUBSETS],
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "return_X_y": ["boolean"],
        "as_frame": ["boolean"],
        "n_retries": [Interval(Integral, 0, None, closed="left")],
        "delay": [Interval(Real, 0.0, _MAX_SECONDS, closed="both")],
        "mirror": [str, os.PathLike, None],
        "timeout": [Interval(Real, 0.0, _MAX_SECONDS, closed="right")],
        "progress": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_fashion_mnist(
    *,
    subset="train",
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
    as_frame=False,
    n_retries=3,
    delay=1.0,
    mirror=None,
    timeout=30.0,
    progress=False,
):
    """Load the Fashion-MNIST dataset (classification), downloading it if needed.

    =================   ==========================
    Classes                                     10
    Samples total            70000 (60000 + 10000)
    Dimensionality                             784
    Features            integers 0-255 (uint8)
    =================   ==========================

    The four official files are downloaded once, checked against their
    SHA-256, parsed and cached as ``fashion_mnist/{train,test}.npz`` in
    `data_home`; later calls read the cache and need no network. A corrupted
    cache is detected (zip CRC-32, array shapes, labels), reported with a
    warning and rebuilt.

    A mirror, given by `mirror` or the environment variable
    ``SKSOFTMAX_FASHION_MNIST_MIRROR``, is tried before the official hosts: a
    base URL (``http://``, ``https://``, ``file://``; a query, such as a
    token, is kept; ``user:password@`` is sent as Basic authorization; both
    are masked in messages) or a local folder holding the four ``.gz`` files.
    Files from a mirror are checked against the same SHA-256.

    Each source is read with a timeout and cut off beyond the official file's
    size; a source that fails (unreachable, HTTP 4xx, stalled, too large, wrong
    checksum) is left for the next one, and only errors that can pass (HTTP
    5xx, a dropped connection) are retried. An error writing to `data_home`
    (such as a full disk) is raised at once. Nothing partial is left in
    `data_home`, and temporary folders of killed runs are removed.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        The 60000 training images, the 10000 test images, or both, training
        images first.

    data_home : str or path-like, default=None
        Download and cache folder. By default all scikit-learn data is stored
        in ``~/scikit_learn_data`` or in the folder named by the
        ``SCIKIT_LEARN_DATA`` environment variable; see
        :func:`sklearn.datasets.get_data_home`.

    download_if_missing : bool, default=True
        If False, raise an OSError if the data is not cached locally instead
        of downloading it.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, `data` is a pandas DataFrame with the columns ``"pixel1"`` to
        ``"pixel784"``, `target` a Series named ``"class"``, and `frame` holds
        both; these are the names used by ``fetch_openml("Fashion-MNIST")``.

    n_retries : int, default=3
        Number of retries of a source after an error that can pass: HTTP 5xx
        or a dropped connection (also one that closes before the announced
        length). Unreachable hosts, missing files (HTTP 4xx), stalled sources
        (see `timeout`), oversized or corrupted files are not retried: the
        next source is tried at once, as retrying a stall would multiply the
        wait.

    delay : float, default=1.0
        Number of seconds between retries, at most 86400 (a day).

    mirror : str or path-like, default=None
        A source tried before the official hosts: a base URL (``http://``,
        ``https://``, ``file://``) or a local folder holding the four ``.gz``
        files. None uses the environment variable
        ``SKSOFTMAX_FASHION_MNIST_MIRROR``, if set.

    timeout : float, default=30.0
        Seconds to connect (to each address of a host), then a source that
        sends less than 1 KiB in `timeout` seconds is dropped as stalled: the
        status line and the headers count too. At most 86400 (a day).

    progress : bool, default=False
        Whether to show the progress of downloads on standard error.

    Returns
    -------
    dataset : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {ndarray, DataFrame} of shape (n_samples, 784)
            One flattened image per row, pixels of dtype uint8 in 0..255.
        target : {ndarray, Series} of shape (n_samples,)
            The class of each image, integers 0 to 9 (int64). Unlike OpenML's
            copy, whose target is the strings ``"0"`` to ``"9"``.
        frame : DataFrame of shape (n_samples, 785) or None
            `data` and `target` together, only when `as_frame=True`.
        images : ndarray of shape (n_samples, 28, 28)
            The images, a view of `data` (as an ndarray) without a copy.
        feature_names : list of str
            ``"pixel1"`` to ``"pixel784"``.
        target_names : ndarray of str of shape (10,)
            The article names, indexed by class: ``target_names[target]``.
        DESCR : str
            Description of the dataset, its licence and citation.

    (data, target) : tuple if ``return_X_y`` is True
        `data` and `target` as described above.

    See Also
    --------
    load_fashion_mnist_sample : A small sample of Fashion-MNIST shipped with
        the package, for offline use.

    Examples
    --------
    >>> from sksoftmax import fetch_fashion_mnist
    >>> X, y = fetch_fashion_mnist(return_X_y=True)  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((60000, 784), (60000,))
    """
    folder = Path(get_data_home(data_home)) / "fashion_mnist"
    download = _Downloader(mirror, n_retries, delay, timeout, progress)
    parts = [
        _fetch_subset(name, folder, download_if_missing, download)
        for name in _subset_names(subset)
    ]
    return _bunch(parts, "fetch_fashion_mnist", return_X_y, as_frame)


@validate_params(
    {
        "subset": [_SUBSETS],
        "return_X_y": ["boolean"],
        "as_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_fashion_mnist_sample(*, subset="train", return_X_y=False, as_frame=False):
    """Load a small sample of Fashion-MNIST that ships with the package.

    =================   ==========================
    Classes                                     10
    Samples total               1500 (1200 + 300)
    Dimensionality                             784
    Features            integers 0-255 (uint8)
    =================   ==========================

    The sample holds real Fashion-MNIST images, stratified: 120 of each class
    from the training set and 30 of each class from the test set. It needs no
    network; use :func:`fetch_fashion_mnist` for the full dataset, whose
    fields it shares.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        The 1200 images drawn from the training set, the 300 drawn from the
        test set, or both, training images first.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, `data` is a pandas DataFrame with the columns ``"pixel1"`` to
        ``"pixel784"``, `target` a Series named ``"class"``, and `frame` holds
        both.

    Returns
    -------
    dataset : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {ndarray, DataFrame} of shape (n_samples, 784)
            One flattened image per row, pixels of dtype uint8 in 0..255.
        target : {ndarray, Series} of shape (n_samples,)
            The class of each image, integers 0 to 9 (int64).
        frame : DataFrame of shape (n_samples, 785) or None
            `data` and `target` together, only when `as_frame=True`.
        images : ndarray of shape (n_samples, 28, 28)
            The images, a view of `data` (as an ndarray) without a copy.
        feature_names : list of str
            ``"pixel1"`` to ``"pixel784"``.
        target_names : ndarray of str of shape (10,)
            The article names, indexed by class: ``target_names[target]``.
        DESCR : str
            Description of the dataset, its licence and citation.

    (data, target) : tuple if ``return_X_y`` is True
        `data` and `target` as described above.

    See Also
    --------
    fetch_fashion_mnist : The full dataset, downloaded and cached.

    Examples
    --------
    >>> from sksoftmax import load_fashion_mnist_sample
    >>> sample = load_fashion_mnist_sample()
    >>> sample.data.shape, sample.images.shape
    ((1200, 784), (1200, 28, 28))
    >>> sample.target_names[sample.target[:3]].tolist()
    ['T-shirt/top', 'Trouser', 'T-shirt/top']
    """
    sample = resources.files("sksoftmax") / "data" / "fashion_mnist_sample.npz"
    with sample.open("rb") as f, np.load(f) as npz:
        parts = [
            (npz[f"{name}_data"], npz[f"{name}_target"])
            for name in _subset_names(subset)
        ]
    return _bunch(parts, "load_fashion_mnist_sample", return_X_y, as_frame)


def _subset_names(subset):
    return ["train", "test"] if subset == "all" else [subset]


def _bunch(parts, caller_name, return_X_y, as_frame):
    """Build the result of both loaders from a list of (data, target) pairs."""
    if len(parts) == 1:
        data, target = parts[0]
    else:
        data = np.concatenate([data for data, _ in parts])
        target = np.concatenate([target for _, target in parts])
    target = target.astype(np.int64)
    images = data.reshape(-1, *_IMAGE_SHAPE)

    frame = None
    if as_frame:
        frame, data, target = _convert_data_dataframe(
            caller_name, data, target, _FEATURE_NAMES, [_TARGET_COLUMN]
        )
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        images=images,
        feature_names=list(_FEATURE_NAMES),
        target_names=_TARGET_NAMES.copy(),
        DESCR=_load_descr(),
    )


def _load_descr():
    descr = resources.files("sksoftmax") / "descr" / "fashion_mnist.rst"
    return descr.read_text(encoding="utf-8")


def _fetch_subset(subset, folder, download_if_missing, download):
    """Return (data, target) of one subset, from the cache or built into it."""
    cache = folder / f"{subset}.npz"
    if cache.exists():
        try:
            return _read_cache(cache, _N_SAMPLES[subset])
        except ValueError as exc:
            if not download_if_missing:
                raise OSError(
                    f"The cached Fashion-MNIST file {cache} is corrupted ({exc}) and"
                    " download_if_missing=False forbids rebuilding it."
                ) from exc
            warnings.warn(
                f"The cached Fashion-MNIST file {cache} is corrupted ({exc}); "
                "rebuilding it.",
                # fetch_fashion_mnist, on any Python: a comprehension has a
                # frame of its own only before 3.12, so a higher level lands
                # in scikit-learn's validate_params on later ones.
                stacklevel=2,
            )
    if not download_if_missing:
        raise OSError(f"Data not found and `download_if_missing` is False: no {cache}")
    _build_cache(subset, cache, download)
    # Read back what was written: the same arrays (writable) as later calls get.
    return _read_cache(cache, _N_SAMPLES[subset])


def _build_cache(subset, cache, download):
    """Download and parse the two files of `subset` into the `cache` file."""
    with _writing_to(cache.parent):
        cache.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_folders(cache.parent)
        # Made last: a Ctrl-C between its making and the `with` below would
        # leave it behind for as long as the traceback lives (in a notebook).
        temporary = TemporaryDirectory(dir=cache.parent, prefix=f".{subset}-")
    # A private folder next to the cache: concurrent calls never share a
    # partial file, everything is removed on error, and os.replace is atomic
    # because both live on the same file system.
    with temporary as tmp, _heartbeat(tmp):
        prefix = _FILE_PREFIX[subset]
        images, labels = (
            read_idx_gz(download(name, Path(tmp)), shape, max_bytes=_IDX_SIZES[name])
            for name, shape in [
                (f"{prefix}-images-idx3-ubyte.gz", (None, *_IMAGE_SHAPE)),
                (f"{prefix}-labels-idx1-ubyte.gz", (None,)),
            ]
        )
        if len(labels) != len(images):
            raise ValueError(
                f"{prefix}-labels-idx1-ubyte.gz holds {len(labels)} labels but "
                f"{prefix}-images-idx3-ubyte.gz holds {len(images)} images"
            )
        _check_labels(labels, f"{prefix}-labels-idx1-ubyte.gz")
        tmp_cache = Path(tmp) / cache.name
        with _writing_to(cache.parent):
            np.savez(tmp_cache, data=images.reshape(-1, _N_FEATURES), target=labels)
            os.replace(tmp_cache, cache)


def _check_labels(labels, where):
    if labels.max(initial=0) >= len(_TARGET_NAMES):
        raise ValueError(
            f"{where}: label {labels.max()} is not in 0..{len(_TARGET_NAMES) - 1}"
        )


@contextmanager
def _heartbeat(folder):
    """Touch `folder` every _HEARTBEAT_SECONDS while the block runs.

    A thread does it, so it goes on while the call waits for a server or
    between retries: _remove_stale_folders leaves the folder alone.
    """
    done = threading.Event()

    def beat():
        while not done.wait(_HEARTBEAT_SECONDS):
            try:
                os.utime(folder)
            except OSError:  # removed: nothing left to keep
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextmanager
def _writing_to(folder):
    """Report an OSError in the block as the cache folder's: see _CacheError."""
    try:
        yield
    except OSError as exc:
        raise _CacheError(
            f"Could not write to the Fashion-MNIST cache folder {folder} ({exc});"
            " check that it is writable and has free space, or choose another"
            " data_home."
        ) from exc


def _created(path, folder):
    """Open `path` in the cache `folder` for writing; see _writing_to."""
    with _writing_to(folder):
        return open(path, "wb")


def _remove_stale_folders(folder):
    """Remove the temporary folders that killed runs left behind.

    A running call touches its folder every _HEARTBEAT_SECONDS (see
    _heartbeat), whatever it is doing; one untouched for _STALE_SECONDS belongs
    to no running call.
    """
    now = time.time()
    ours = [tmp for subset in _FILE_PREFIX for tmp in folder.glob(f".{subset}-*")]
    for tmp in ours:
        try:
            touched = max(p.stat().st_mtime for p in [tmp, *tmp.rglob("*")])
        except OSError:  # removed meanwhile by another call
            continue
        if tmp.is_dir() and now - touched > _STALE_SECONDS:
            shutil.rmtree(tmp, ignore_errors=True)


def _read_cache(path, n_samples):
    """Load and check a cache file of `n_samples` rows; any corruption is a ValueError.

    zipfile checks each member's CRC-32; a damaged zip or ``.npy`` header can
    raise many kinds of errors inside NumPy, all of which mean "corrupted". A
    file that cannot be opened (permission denied) is not corrupted: that is a
    _CacheError.
    """
    # Opened here: np.load would leak the file when it is not a valid zip.
    try:
        f = open(path, "rb")
    except FileNotFoundError as exc:  # removed since it was found: rebuilt
        raise ValueError(str(exc)) from exc
    except OSError as exc:
        raise _CacheError(
            f"Could not read the cached Fashion-MNIST file {path} ({exc}); check"
            " its permissions, or choose another data_home."
        ) from exc
    with f:
        try:
            with np.load(f) as npz:
                data, target = npz["data"], npz["target"]
        except Exception as exc:  # noqa: BLE001 - untrusted bytes, see above
            raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    if not (
        data.dtype == target.dtype == np.uint8
        and data.shape == (n_samples, _N_FEATURES)
        and target.shape == (n_samples,)
    ):
        raise ValueError(
            f"unexpected arrays: data {data.dtype}{data.shape}, "
            f"target {target.dtype}{target.shape}; expected {n_samples} rows"
        )
    _check_labels(target, "target")
    return data, target


class _Downloader:
    """Fetch a file, checksum-verified, from the first source that has it."""

    def __init__(self, mirror, n_retries, delay, timeout, progress):
        self.mirror = mirror
        self.n_retries, self.delay = n_retries, delay
        self.timeout, self.progress = timeout, progress

    def __call__(self, filename, folder):
        errors = []
        # Resolved here, when a download is needed: a bad mirror setting does
        # not stop reading the cache.
        for base in _sources(self.mirror):
            url = _file_url(base, filename)
            try:
                return self._fetch(url, folder / filename)
            except _CacheError:
                raise
            except OSError as exc:
                errors.append(f"  {_shown(url)}: {exc}")
        raise OSError(
            f"Could not download {filename}; tried:\n"
            + "\n".join(errors)
            + f"\n{_MIRROR_HINT}"
        )

    def _fetch(self, url, path):
        """Copy `url` to `path`, retrying only errors that can pass."""
        for attempt in range(self.n_retries + 1):
            try:
                with _Watchdog(self.timeout) as watchdog:
                    return self._copy(url, path, watchdog)
            except _CacheError:
                raise
            except (OSError, http.client.HTTPException) as exc:
                # Not retried, as that would multiply the wait: the next source.
                if watchdog.stalled or isinstance(exc, TimeoutError):
                    raise OSError(
                        f"stalled: less than 1 KiB in {self.timeout} s"
                    ) from exc
                if isinstance(exc, _Hopeless):
                    raise OSError(str(exc)) from None
                if attempt == self.n_retries:
                    raise OSError(_reason(exc)) from exc
                warnings.warn(
                    f"Retry downloading from url: {_shown(url)} ({_reason(exc)})",
                    stacklevel=2,
                )
                time.sleep(self.delay)

    def _copy(self, url, path, watchdog):
        filename = path.name
        limit = _SIZES[filename]
        digest = hashlib.sha256()
        opener = build_opener(_WatchedHTTP(watchdog), _WatchedHTTPS(watchdog))
        try:
            response = opener.open(_request(url), timeout=self.timeout)
        except (ValueError, http.client.InvalidURL) as exc:  # such as a bad port
            raise _Hopeless(str(exc)) from exc
        except HTTPError as exc:
            if exc.code < 500:
                raise _Hopeless(_reason(exc)) from exc
            raise
        except URLError as exc:
            if isinstance(exc.reason, TimeoutError):  # no answer: not a stall
                raise _Hopeless(f"could not connect in {self.timeout} s") from exc
            # Unknown host, refused connection, missing local file: hopeless.
            raise _Hopeless(_reason(exc)) from exc
        cache_folder = path.parent.parent  # path is in a temporary folder there
        with response, _created(path, cache_folder) as out:
            announced = _announced_size(response)
            if announced is not None and announced > limit:
                raise _Hopeless(f"announces {announced} bytes; {filename} has {limit}")
            size = 0
            try:
                while chunk := response.read1(1 << 16):
                    watchdog.received(len(chunk))
                    size += len(chunk)
                    if size > limit:
                        raise _Hopeless(
                            f"sends more than the {limit} bytes of {filename}"
                        )
                    digest.update(chunk)
                    with _writing_to(cache_folder):
                        out.write(chunk)
                        out.flush()  # so that a full disk shows here, not at close
                    if self.progress:
                        _show_progress(filename, size, announced or limit)
            finally:
                if self.progress and size:  # end the progress line
                    print(file=sys.stderr)
            if announced is not None and size < announced:
                # read1 ends quietly here, where read raises IncompleteRead.
                raise ConnectionError(
                    f"connection closed after {size} of {announced} bytes"
                )
        if digest.hexdigest() != _SHA256[filename]:
            path.unlink()
            # The size tells an error page (a proxy's login...) from a damaged file.
            got = "" if size == limit else f"; got {size} bytes, not {limit}"
            raise _Hopeless(
                f"the SHA256 checksum of {filename} ({digest.hexdigest()}) differs"
                f" from the official file's ({_SHA256[filename]}){got}"
            )
        return path


class _Hopeless(OSError):  # noqa: N818 - an error that retrying cannot fix
    """A source that retrying cannot fix: left for the next one at once."""


class _CacheError(OSError):
    """Writing to the cache folder, or reading a cache file, failed: not retried,
    nor blamed on a source."""


class _Watchdog:
    """Shut a request's socket down when it brings less than 1 KiB in `timeout` s.

    The socket's own timeout restarts with every byte: a server that trickles
    its status line, headers or chunk sizes would hold the call for ever.
    """

    def __init__(self, timeout):
        self.timeout, self.stalled = timeout, False
        self.sock = None  # see connected
        self._received, self._deadline = 0, time.monotonic() + timeout
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._thread.join()

    def received(self, n_bytes):
        """Count `n_bytes` more: each KiB gives the source `timeout` more seconds."""
        self._received += n_bytes
        if self._received >= _MIN_BYTES_PER_TIMEOUT:
            self._received, self._deadline = 0, time.monotonic() + self.timeout

    def connected(self, sock):
        """Watch `sock`, from now: connecting is bounded by the socket's own
        timeout, for each address tried (a dead IPv6 route, then IPv4)."""
        self.sock = sock
        self._received, self._deadline = 0, time.monotonic() + self.timeout

    def _watch(self):
        while not self._done.wait(max(self._deadline - time.monotonic(), 0.05)):
            if self.sock is not None and time.monotonic() >= self._deadline:
                self.stalled = True
                with suppress(OSError):  # closed meanwhile
                    self.sock.shutdown(socket.SHUT_RDWR)
                return


class _Watched:
    """A urllib handler that shows each socket it connects to a _Watchdog."""

    def __init__(self, watchdog):
        super().__init__()
        self.watchdog = watchdog

    def do_open(self, http_class, req, **kwargs):
        watchdog = self.watchdog

        class Connection(http_class):
            def connect(self):
                super().connect()
                watchdog.connected(self.sock)

        return super().do_open(Connection, req, **kwargs)


class _WatchedHTTP(_Watched, HTTPHandler):
    pass


class _WatchedHTTPS(_Watched, HTTPSHandler):
    pass


def _announced_size(response):
    """The Content-Length of `response`, or None if absent or not a number.

    A value repeated ("N, N") counts once; any other is ignored, and
    http.client then reads until the connection closes.
    """
    header = response.headers.get("Content-Length", "")
    values = {value.strip() for value in header.split(",")}
    value = values.pop() if len(values) == 1 else ""
    return int(value) if value.isdecimal() else None


def _reason(exc):
    """A short reason for an error, without urllib's nesting.

    An HTTPError keeps its status ("HTTP Error 503: Service Unavailable").
    """
    if isinstance(exc, URLError) and not isinstance(exc, HTTPError):
        exc = exc.reason
    return str(exc) or type(exc).__name__


def _show_progress(filename, size, total):
    print(
        f"\rDownloading {filename}: {size / 2**20:5.1f} of {total / 2**20:.1f} MiB",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _file_url(base, filename):
    """The URL of `filename` under the URL `base`, whose query (a token...) is kept."""
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{filename}"))


def _request(url):
    """A request for `url`, whose ``user:password@`` (which urllib would take
    for part of the host name) goes in a Basic Authorization header that no
    redirect forwards."""
    parts = urlsplit(url)
    credentials, at, host = parts.netloc.rpartition("@")
    request = Request(urlunsplit(parts._replace(netloc=host)))
    if at:
        token = base64.b64encode(unquote(credentials).encode()).decode()
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _shown(url):
    """`url` as messages show it: a password or a query (a token) is masked."""
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    if ":" in user:
        user = user.split(":", 1)[0] + ":***"
    return urlunsplit(
        parts._replace(netloc=user + at + host, query="***" if parts.query else "")
    )


def _sources(mirror):
    """The mirror (the argument, else the environment), then the official hosts."""
    mirror = _chosen_mirror(mirror)
    return ((_mirror_url(os.fspath(mirror)),) if mirror else ()) + tuple(_BASE_URLS)


def _chosen_mirror(mirror):
    """The `mirror` argument, else the environment variable's value, else None."""
    if mirror is None:
        mirror = os.environ.get(_MIRROR_ENV, "").strip()
    return mirror or None


def _mirror_url(mirror):
    """Turn a URL or a local folder into a URL that urlopen reads."""
    parsed = urlparse(mirror)
    if parsed.scheme in ("http", "https"):
        return mirror
    if parsed.scheme not in ("", "file") and len(parsed.scheme) > 1:  # C:\ is a path
        raise ValueError(
            f"The Fashion-MNIST mirror {mirror!r} has the unsupported scheme"
            f" {parsed.scheme!r}: give an http://, https:// or file:// URL, or a"
            " local folder."
        )
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        # urllib would read the local path and drop the host without a word.
        raise ValueError(
            f"The Fashion-MNIST mirror {mirror!r} names the host"
            f" {parsed.netloc!r}: a file:// URL is read on this machine"
            " (file:///path or file://localhost/path). Mount that host's folder"
            " and give its local path, or serve it over http://."
        )
    path = url2pathname(parsed.path) if parsed.scheme == "file" else mirror
    return Path(path).expanduser().resolve().as_uri()
