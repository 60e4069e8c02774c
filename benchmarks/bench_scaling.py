"""How SoftmaxRegression's fit time scales with the samples, classes and sparsity.

Three experiments, each printed as a markdown table:

- samples: Fashion-MNIST (uint8) grown to 2x and 4x its 60,000 training images
  with copies shifted by one pixel; a linear cost gives ratios of 2 and 4;
- classes: synthetic data (``make_classification``, 60,000 x 784, float32)
  with 10, 20 and 40 classes; the time of an epoch is compared with the floor of
  one full-batch forward and backward pass (``X @ W`` then ``X.T @ G``);
- sparse: a 100,000 x 100,000 CSR matrix with 0.1% non-zeros (float32) and
  20 classes from a planted linear model, which must be fitted without
  densifying it (dense, it would take 37 GiB); peak memory (tracemalloc, in a
  separate untimed fit) is compared with the size of the CSR arrays and of the
  weights, and ``SGDClassifier(loss="log_loss")`` is fitted on the same data.

Usage::

    python benchmarks/bench_scaling.py [--quick] [--repeat N] [--threads N]
        [--data-home DIR] [--only {samples,classes,sparse} ...] [--save]

``--save`` merges the figures of the experiments run into
``benchmarks/results/bench_scaling.json``, from which ``docs/make_figures.py``
draws the performance page's scaling figure.
"""

import argparse
from functools import partial

import numpy as np
import scipy.sparse as sp
from _common import (
    MIB,
    best_time,
    best_times,
    environment,
    fitting,
    full_batch_pass,
    limit_threads,
    load_fashion_mnist,
    markdown_table,
    nbytes,
    peak_memory,
    save_results,
)
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss

from sksoftmax import SoftmaxRegression

FACTORS = (1, 2, 4)
# Copies of the images shifted by one pixel (rows, columns): more data of the
# same kind; mirrored copies would make a harder problem for a linear model.
SHIFTS = ((0, 0), (0, 1), (0, -1), (1, 0))
N_CLASSES = (10, 20, 40)
SPARSE_SHAPE, SPARSE_DENSITY, SPARSE_TEST = (100_000, 100_000), 0.001, 10_000
SPARSE_CLASSES = 20
softmax = partial(SoftmaxRegression, random_state=0)


def grown(X, y, factor):
    """The 28x28 images of X and ``factor - 1`` shifted copies, with their labels."""
    images = X.reshape(-1, 28, 28)
    copies = [np.roll(images, shift, axis=(1, 2)) for shift in SHIFTS[:factor]]
    return np.concatenate(copies).reshape(-1, X.shape[1]), np.tile(y, factor)


def sample_scaling(args):
    X, y, X_test, y_test = load_fashion_mnist(args.data_home)
    data = [grown(X, y, factor) for factor in FACTORS]
    timed = best_times([fitting(softmax, X, y) for X, y in data], args.repeat)
    times = [seconds for seconds, _ in timed]
    rows = []
    for factor, (X, _), (seconds, model) in zip(FACTORS, data, timed, strict=True):
        per_sample = seconds / (model.n_iter_ * X.shape[0])
        rows.append(
            [
                f"{factor}x",
                X.shape[0],
                f"{seconds:.2f}",
                model.n_iter_,
                f"{seconds / times[0]:.2f}",
                f"{per_sample * 1e6:.2f}",
                f"{model.score(X_test, y_test):.4f}",
            ]
        )
    print("\nSamples: SoftmaxRegression() on Fashion-MNIST uint8 and shifted copies")
    headers = ["size", "n_samples", "fit (s)", "epochs", "÷ 1x", "µs per sample-epoch"]
    print(markdown_table([*headers, "test acc"], rows))
    print(
        f"t(2x)/t(1x) = {times[1] / times[0]:.2f}, t(4x)/t(1x) ="
        f" {times[2] / times[0]:.2f} (linear: 2 and 4)"
    )
    return [
        dict(n_samples=X.shape[0], seconds=seconds, epochs=int(model.n_iter_))
        for (X, _), (seconds, model) in zip(data, timed, strict=True)
    ]


def class_scaling(args):
    data = []
    for n_classes in N_CLASSES:
        X, y = make_classification(
            n_samples=60_000,
            n_features=784,
            n_informative=50,
            n_redundant=0,
            n_classes=n_classes,
            n_clusters_per_class=1,
            random_state=0,
        )
        data.append((X.astype(np.float32), y))
    floors = [
        partial(full_batch_pass, X, np.ones((X.shape[1], k), dtype=X.dtype))
        for (X, _), k in zip(data, N_CLASSES, strict=True)
    ]
    fits = [fitting(softmax, X, y) for X, y in data]
    timed = best_times(fits + floors, [args.repeat] * 3 + [max(5, args.repeat)] * 3)
    times = [seconds for seconds, _ in timed[:3]]
    rows = []
    for i, n_classes in enumerate(N_CLASSES):
        (seconds, model), (floor, _) = timed[i], timed[i + 3]
        epoch = seconds / model.n_iter_
        rows.append(
            [
                n_classes,
                f"{seconds:.2f}",
                model.n_iter_,
                f"{seconds / times[0]:.2f}",
                f"{epoch * 1e3:.0f}",
                f"{floor * 1e3:.0f}",
                f"{epoch / floor:.2f}",
            ]
        )
    print("\nClasses: SoftmaxRegression() on make_classification, 60,000 x 784 float32")
    headers = ["n_classes", "fit (s)", "epochs", "÷ 10 classes", "fit / epochs (ms)"]
    print(markdown_table([*headers, "floor (ms)", "÷ floor"], rows))
    print(
        f"t(20)/t(10) = {times[1] / times[0]:.2f}, t(40)/t(10) ="
        f" {times[2] / times[0]:.2f}; floor = X @ W then X.T @ G, full batch;"
        " fit / epochs includes the fixed costs"
    )
    return [
        dict(
            n_classes=n_classes,
            seconds=seconds,
            epochs=int(model.n_iter_),
            floor_seconds=floor,
        )
        for n_classes, (seconds, model), (floor, _) in zip(
            N_CLASSES, timed[:3], timed[3:], strict=True
        )
    ]


def planted_sparse_problem(seed=0):
    """CSR float32 data, labels drawn from a softmax of a random linear model."""
    rng = np.random.default_rng(seed)
    n_rows, n_features = SPARSE_SHAPE[0] + SPARSE_TEST, SPARSE_SHAPE[1]
    # Positional arguments: the generator's keyword changed in SciPy 1.15.
    X = sp.random(n_rows, n_features, SPARSE_DENSITY, "csr", np.float32, rng)
    coef = rng.standard_normal((n_features, SPARSE_CLASSES)).astype(np.float32)
    y = np.argmax(X @ coef + rng.gumbel(size=(n_rows, SPARSE_CLASSES)), axis=1)
    split = SPARSE_SHAPE[0]
    return X[:split], y[:split], X[split:], y[split:]


def sparse_problem(args):
    X, y, X_test, y_test = planted_sparse_problem()
    models = {
        "SoftmaxRegression()": softmax,
        'SGDClassifier(loss="log_loss")': partial(
            SGDClassifier, loss="log_loss", random_state=0
        ),
    }
    rows, reference = [], None
    weights = X.shape[1] * SPARSE_CLASSES * X.dtype.itemsize
    for name, make in models.items():
        seconds, model = best_time(fitting(make, X, y), 1)
        reference = reference or seconds
        peak = peak_memory(fitting(make, X, y))
        proba = model.predict_proba(X_test)
        rows.append(
            [
                name,
                f"{seconds:.2f}",
                f"{seconds / reference:.2f}",
                int(np.max(model.n_iter_)),
                f"{model.score(X_test, y_test):.4f}",
                f"{log_loss(y_test, proba, labels=model.classes_):.4f}",
                f"{peak / MIB:.1f}",
                f"{peak / nbytes(X):.2f}",
                f"{peak / weights:.2f}",
            ]
        )
    dense_gib = X.shape[0] * X.shape[1] * X.dtype.itemsize / 2**30
    print(
        f"\nSparse: {X.shape[0]:,} x {X.shape[1]:,} CSR {X.dtype}, {X.nnz:,} non-zeros"
        f" ({nbytes(X) / MIB:.0f} MiB; {dense_gib:.0f} GiB if dense),"
        f" {SPARSE_CLASSES} classes from a planted linear model, {SPARSE_TEST:,}"
        f" held-out rows; weights {weights / MIB:.1f} MiB"
    )
    headers = ["estimator", "fit (s)", "÷ ours", "epochs", "held-out acc", "log loss"]
    headers += ["fit peak (MiB)", "÷ CSR size", "÷ weights"]
    print(markdown_table(headers, rows))
    print(
        f"chance: accuracy {1 / SPARSE_CLASSES}, log loss {np.log(SPARSE_CLASSES):.4f}"
    )
    return dict(
        shape=list(X.shape), nnz=int(X.nnz), n_classes=SPARSE_CLASSES, rows=rows
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per point")
    parser.add_argument(
        "--repeat", type=int, help="runs per point, best kept (default 2)"
    )
    parser.add_argument(
        "--threads", type=int, help="limit the BLAS and OpenMP threads to this"
    )
    parser.add_argument("--data-home", help="scikit-learn data home (cache)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["samples", "classes", "sparse"],
        default=["samples", "classes", "sparse"],
        help="experiments run",
    )
    parser.add_argument(
        "--save",
        action="store_true",
        help="merge the figures into benchmarks/results/bench_scaling.json",
    )
    args = parser.parse_args()
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2

    with limit_threads(args.threads):
        print(environment())
        experiments = dict(
            samples=sample_scaling, classes=class_scaling, sparse=sparse_problem
        )
        figures = {name: experiments[name](args) for name in args.only}
    if args.save:
        save_results("bench_scaling", figures)


if __name__ == "__main__":
    main()
