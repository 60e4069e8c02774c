"""Helpers shared by the benchmark scripts: data, timing, memory and tables.

The scripts import this module as ``_common``: Python puts the folder of the
script being run on ``sys.path``, so run them as ``python benchmarks/<name>.py``.
"""

import contextlib
import gc
import json
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy
import sklearn
from threadpoolctl import threadpool_info, threadpool_limits

import sksoftmax

MIRROR_ENV = "SKSOFTMAX_FASHION_MNIST_MIRROR"
# The four official .gz files, next to the checkout (offline machines and CI).
LOCAL_MIRROR = Path(__file__).resolve().parents[2] / "shared/datasets/fashion-mnist"
MIB = 2**20
# Measured figures that docs/make_figures.py plots (--save of the scripts).
RESULTS = Path(__file__).resolve().parent / "results"


def load_fashion_mnist(data_home=None):
    """``(X_train, y_train, X_test, y_test)``, uint8 pixels and integer labels.

    Uses the local mirror of the official files when ``SKSOFTMAX_FASHION_MNIST_MIRROR``
    is unset and ``../shared/datasets/fashion-mnist`` exists next to the checkout.
    """
    if not os.environ.get(MIRROR_ENV) and LOCAL_MIRROR.is_dir():
        os.environ[MIRROR_ENV] = str(LOCAL_MIRROR)
    parts = [
        sksoftmax.fetch_fashion_mnist(
            subset=subset, data_home=data_home, return_X_y=True
        )
        for subset in ("train", "test")
    ]
    (X, y), (X_test, y_test) = parts
    return X, y, X_test, y_test


def fitting(make, X, y):
    """A function of no argument that fits a new ``make()`` on ``X, y``."""
    return lambda: make().fit(X, y)


def full_batch_pass(X, coef):
    """The floor of an epoch: one forward (``X @ W``) and backward (``X.T @ G``)
    product over all of X at once."""
    return X.T @ (X @ coef)


def best_time(function, repeat):
    """Best wall time of ``repeat`` calls of ``function()``, and its last result."""
    best, result = np.inf, None
    for _ in range(max(repeat, 1)):
        result = None  # let the previous result go before the next run
        gc.collect()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def best_times(functions, repeat, labels=None):
    """``best_time`` of each function, the runs going in rounds.

    One run of each function per round, so that a burst of load on the machine
    is shared by all of them instead of spoiling every run of one. ``repeat`` is
    the number of rounds, or a list with one per function; with ``labels``, each
    run is reported as it ends.
    """
    repeats = [repeat] * len(functions) if np.isscalar(repeat) else repeat
    repeats = [max(r, 1) for r in repeats]
    best, results = [np.inf] * len(functions), [None] * len(functions)
    for round_number in range(max(repeats)):
        for i, function in enumerate(functions):
            if round_number >= repeats[i]:
                continue
            seconds, results[i] = best_time(function, 1)
            best[i] = min(best[i], seconds)
            if labels is not None:
                print(f"  {labels[i]}: {seconds:.2f} s", flush=True)
    return list(zip(best, results, strict=True))


def peak_memory(function):
    """Peak bytes allocated (as seen by tracemalloc) while ``function()`` runs.

    NumPy reports its array buffers to tracemalloc, so this counts the arrays a
    fit creates on top of its input; BLAS work buffers and memory allocated by
    other libraries (PyTorch) are not seen. Tracing slows allocations down: never
    time a function while measuring its memory.
    """
    gc.collect()
    tracemalloc.start()
    try:
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def nbytes(X):
    """Bytes held by a dense array or by the arrays of a sparse matrix."""
    if hasattr(X, "indptr"):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return X.nbytes


def blas_threads():
    """The number of threads of NumPy's BLAS (the others get as many)."""
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(counts, default=1)


def limit_threads(n_threads):
    """Context limiting the BLAS and OpenMP pools to ``n_threads`` (None: no limit)."""
    if n_threads is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n_threads)


def environment():
    """Lines on the library versions and BLAS threads, and on the CPU and its load."""
    blas = ", ".join(
        sorted(
            {
                f"{info['internal_api']} {info['num_threads']} threads"
                for info in threadpool_info()
                if info["user_api"] == "blas"
            }
        )
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    busy = (
        "\nThe CPU is busy: timings are noisy, above all those of multithreaded BLAS"
        " on small minibatch products (--threads 1 steadies them)."
        if load >= 1
        else ""
    )
    return (
        f"sksoftmax {sksoftmax.__version__} ({Path(sksoftmax.__file__).parent}), "
        f"numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, BLAS: {blas}\n"
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f}"
        f"{busy}"
    )


def markdown_table(headers, rows, n_left=1):
    """A markdown table; the first ``n_left`` columns aligned left, others right."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [
        max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)
    ]
    left = [i < n_left for i in range(len(headers))]

    def line(values):
        padded = [
            value.ljust(width) if is_left else value.rjust(width)
            for value, width, is_left in zip(values, widths, left, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|".join(
        ":" + "-" * (width + 1) if is_left else "-" * (width + 1) + ":"
        for width, is_left in zip(widths, left, strict=True)
    )
    return "\n".join([line(headers), f"|{rule}|", *map(line, cells)])


def check(name, passed, detail):
    """Print one target's verdict."""
    print(f"[{'PASS' if passed else 'FAIL'}] {name}: {detail}")


def text_table(headers, rows, left):
    """Rows of strings as a plain aligned table; columns ``left`` align left."""
    widths = [max(map(len, column)) for column in zip(headers, *rows, strict=True)]

    def line(values):
        return "  ".join(
            v.ljust(w) if i in left else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join(
        [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]
    )


def save_results(script, figures):
    """Merge ``figures`` into ``benchmarks/results/<script>.json``, with the run's
    environment and date.

    The figures of the documentation are drawn from these files by
    ``docs/make_figures.py``: run a benchmark with ``--save`` to refresh them.
    Keys already in the file that this run did not measure are kept.
    """
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{script}.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved.update(figures)
    saved["environment"] = environment()
    saved["measured"] = time.strftime("%Y-%m-%d")
    path.write_text(json.dumps(saved, indent=1) + "\n")
    print(f"\nFigures saved to {path}")
