"""Fashion-MNIST: a fetcher for the full dataset and a loader for a bundled sample.

Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) holds 70 000 grayscale 28x28
images of Zalando articles in ten classes. It is published under the MIT
licence by Zalando SE: https://github.com/zalandoresearch/fashion-mnist
"""

import http.client
import os
import warnings
import zipfile
from importlib import resources
from numbers import Integral, Real
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
from sklearn.datasets import fetch_file, get_data_home
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
# The official hosts, tried in turn after the mirror named by _MIRROR_ENV.
_BASE_URLS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
_MIRROR_ENV = "SKSOFTMAX_FASHION_MNIST_MIRROR"
_FILE_PREFIX = {"train": "train", "test": "t10k"}

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
        "n_retries": [Interval(Integral, 1, None, closed="left")],
        "delay": [Interval(Real, 0.0, None, closed="neither")],
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
    cache is detected (zip CRC-32 and array shapes), reported with a warning
    and rebuilt.

    The environment variable ``SKSOFTMAX_FASHION_MNIST_MIRROR`` names a mirror
    tried before the official hosts: a base URL (``http://``, ``https://``,
    ``file://``) or a local folder holding the four ``.gz`` files. Files from a
    mirror are checked against the same SHA-256.

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
        Number of retries of each URL when HTTP errors are encountered.

    delay : float, default=1.0
        Number of seconds between retries.

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
    parts = [
        _fetch_subset(name, folder, download_if_missing, n_retries, delay)
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


def _fetch_subset(subset, folder, download_if_missing, n_retries, delay):
    """Return (data, target) of one subset, from the cache or built into it."""
    cache = folder / f"{subset}.npz"
    if cache.exists():
        try:
            return _read_cache(cache)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            warnings.warn(
                f"The cached Fashion-MNIST file {cache} is corrupted ({exc}); "
                "rebuilding it.",
                stacklevel=2,
            )
    if not download_if_missing:
        raise OSError("Data not found and `download_if_missing` is False")
    _build_cache(subset, cache, n_retries, delay)
    # Read back what was written: the same arrays (writable) as later calls get.
    return _read_cache(cache)


def _build_cache(subset, cache, n_retries, delay):
    """Download and parse the two files of `subset` into the `cache` file."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    # A private folder next to the cache: concurrent calls never share a
    # partial file, everything is removed on error, and os.replace is atomic
    # because both live on the same file system.
    with TemporaryDirectory(dir=cache.parent, prefix=f".{subset}-") as tmp:
        prefix = _FILE_PREFIX[subset]
        images = read_idx_gz(
            _download(f"{prefix}-images-idx3-ubyte.gz", tmp, n_retries, delay),
            (None, *_IMAGE_SHAPE),
        )
        labels = read_idx_gz(
            _download(f"{prefix}-labels-idx1-ubyte.gz", tmp, n_retries, delay),
            (None,),
        )
        if len(labels) != len(images):
            raise ValueError(
                f"{prefix}-labels-idx1-ubyte.gz holds {len(labels)} labels but "
                f"{prefix}-images-idx3-ubyte.gz holds {len(images)} images"
            )
        if labels.max(initial=0) >= len(_TARGET_NAMES):
            raise ValueError(
                f"{prefix}-labels-idx1-ubyte.gz: label {labels.max()} is not "
                f"in 0..{len(_TARGET_NAMES) - 1}"
            )
        tmp_cache = Path(tmp) / cache.name
        np.savez(tmp_cache, data=images.reshape(-1, _N_FEATURES), target=labels)
        os.replace(tmp_cache, cache)


def _read_cache(path):
    """Load and check a cache file; zipfile checks each member's CRC-32."""
    # Opened here: np.load would leak the file when it is not a valid zip.
    with open(path, "rb") as f, np.load(f) as npz:
        data, target = npz["data"], npz["target"]
    if not (
        data.dtype == target.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == _N_FEATURES
        and target.shape == data.shape[:1]
    ):
        raise ValueError(
            f"unexpected arrays: data {data.dtype}{data.shape}, "
            f"target {target.dtype}{target.shape}"
        )
    return data, target


def _download(filename, folder, n_retries, delay):
    """Fetch one file, checksum-verified, from the first source that has it."""
    errors = []
    for base in _sources():
        url = f"{base.rstrip('/')}/{filename}"
        try:
            return fetch_file(
                url,
                folder=folder,
                local_filename=filename,
                sha256=_SHA256[filename],
                # Retrying cannot help a local file.
                n_retries=0 if url.startswith("file:") else n_retries,
                delay=delay,
            )
        except (OSError, ValueError, http.client.HTTPException) as exc:
            errors.append(f"  {url}: {exc}")
    raise OSError(f"Could not download {filename}; tried:\n" + "\n".join(errors))


def _sources():
    """The mirror named by the environment (if any), then the official hosts."""
    mirror = os.environ.get(_MIRROR_ENV, "").strip()
    return ((_mirror_url(mirror),) if mirror else ()) + tuple(_BASE_URLS)


def _mirror_url(mirror):
    """Turn a URL or a local folder into a URL that ``fetch_file`` accepts."""
    parsed = urlparse(mirror)
    if parsed.scheme in ("http", "https"):
        return mirror
    path = url2pathname(parsed.path) if parsed.scheme == "file" else mirror
    # fetch_file rejects a URL without a host; urllib reads file://localhost/
    # as a local path. fetch_file then does the checksum and atomic rename.
    uri = Path(path).expanduser().resolve().as_uri()
    return "file://localhost" + uri.removeprefix("file://")
