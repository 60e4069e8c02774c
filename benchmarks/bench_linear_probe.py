"""Many classes: a linear probe on embedding-like features.

A linear probe fits a softmax classifier on frozen embeddings: many rows, a few
hundred dense float32 features and many classes. By default 200,000 x 512
float32 training rows, 20,000 held-out rows and 1,000 classes, drawn from a
planted model (seeded, generated in chunks of 8,192 rows):

- features: Gaussian with a random mean (norm 2) and a covariance of a random
  low-rank part (rank ``n_features // 16``, half of the variance) plus a
  multiple of the identity, so each feature has variance about 1 and the
  features are correlated, as embeddings are;
- labels: drawn from ``softmax((X - mean) @ W + b)``, with ``W`` Gaussian,
  rescaled so that the Bayes accuracy (the mean largest class probability of
  the planted model, bisected on 4,096 pilot rows) is ``--bayes-accuracy``
  (0.65), and ``b`` Gaussian (s.d. 0.5), so that class sizes differ. The
  planted model's own test accuracy and log loss are printed as the
  ``Bayes`` row: no estimator can do better on average.

Each estimator is fitted on the same data in one run: ``SoftmaxRegression()``,
``LogisticRegression()`` (lbfgs, ``max_iter=--lr-max-iter``),
``SGDClassifier(loss="log_loss")`` (one-vs-rest: a binary problem per class,
and float64: it copies X), ``MLPClassifier(hidden_layer_sizes=())`` (adam)
and, when ``torch`` imports, a plain ``nn.Linear`` trained by SGD (momentum
0.9, batch 256, cross-entropy, the weight decay ``1 / n_samples`` of
``LogisticRegression()``'s penalty) for ``--torch-epochs`` epochs. The table
gives the fit time (``time.perf_counter`` around ``fit`` only), its ratio to
``LogisticRegression()``'s, the epochs or iterations run, whether a
ConvergenceWarning came (warn: conv; they are silenced), the test accuracy and
the test log loss (mean of ``-log p(true class)``, clipped at the float
epsilon as in ``sklearn.metrics.log_loss``).

SoftmaxRegression's epoch is then compared with a GEMM floor: one pass of the
two products of a minibatch step, ``X_b @ W`` (rows x n_features times
n_features x n_classes) and ``X_b.T @ G`` (G: rows x n_classes), over all of
the float32 training rows in contiguous chunks, without the softmax, the
gather of shuffled rows or the update; best of 3. The chunks are of
SoftmaxRegression's batch size (256; products of under 2**25 multiply-adds on
one BLAS thread, as SoftmaxRegression runs them) and of 8,192 rows (all BLAS
threads: close to the machine's peak). The epoch is measured three ways: fit
time / epochs run (fixed costs included), a fit with ``max_iter=1`` (one epoch
and the fixed costs) and the difference of fits with ``max_iter=2`` and
``max_iter=1`` (one epoch alone, noisier; each fitted once).

At the default size on a 2-core machine, LogisticRegression, MLPClassifier and
above all SGDClassifier (1,000 binary problems of several epochs each) can take
very long: leave them out with ``--skip``, or bound LogisticRegression with
``--lr-max-iter``. This is a benchmark, not a test: it always exits with 0.

Usage::

    python benchmarks/bench_linear_probe.py [--n-samples N] [--n-features D]
        [--n-classes K] [--n-test N] [--skip NAME [NAME ...]] [--lr-max-iter N]
        [--torch-epochs N] [--bayes-accuracy A] [--seed N]
"""

import argparse
import time
import warnings

import numpy as np
from _common import best_time, blas_threads, environment, text_table
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

import sksoftmax._softmax as _softmax_module
from sksoftmax import SoftmaxRegression

CHUNK = 8_192  # rows generated at once, and rows of the large floor chunks
RANK_DIVISOR, LOW_RANK_SHARE, MEAN_NORM, BIAS_SD = 16, 0.5, 2.0, 0.5
PILOT_ROWS = 4_096  # rows on which W's scale is set
BATCH_SIZE = 256  # SoftmaxRegression's "auto" (at most) and the torch loop's
TORCH_LR, TORCH_MOMENTUM = 0.1, 0.9
# SoftmaxRegression runs products of fewer multiply-adds on one BLAS thread.
BLAS_THREADS_FROM = getattr(_softmax_module, "BLAS_THREADS_FROM", 2**25)
NAMES = ["SoftmaxRegression", "LogisticRegression", "SGDClassifier", "MLPClassifier"]
NAMES += ["torch"]
HEADERS = ["estimator", "fit s", "÷LR", "epochs", "warn", "test acc", "log loss"]


class PlantedModel:
    """Embedding-like Gaussian features and softmax labels of a random linear model."""

    def __init__(self, n_features, n_classes, bayes_accuracy, rng):
        rank = max(1, n_features // RANK_DIVISOR)
        self.factors = rng.standard_normal((n_features, rank)).astype(np.float32)
        self.factors *= np.sqrt(LOW_RANK_SHARE / rank)
        self.noise = np.float32(np.sqrt(1 - LOW_RANK_SHARE))
        self.mean = rng.standard_normal(n_features) * MEAN_NORM / np.sqrt(n_features)
        self.mean = self.mean.astype(np.float32)
        self.coef = rng.standard_normal((n_features, n_classes)).astype(np.float32)
        self.coef /= np.sqrt(n_features)
        self.intercept = (rng.standard_normal(n_classes) * BIAS_SD).astype(np.float32)
        self.rank, self.rng = rank, rng
        self.scale = self._calibrate(bayes_accuracy)
        self.coef *= np.float32(self.scale)

    def features(self, n_rows):
        X = self.rng.standard_normal((n_rows, self.mean.size), dtype=np.float32)
        X *= self.noise
        X += self.rng.standard_normal((n_rows, self.rank), dtype=np.float32) @ (
            self.factors.T
        )
        X += self.mean
        return X

    def slopes(self, X):
        """``(X - mean) @ coef``: class sizes are set by the intercept alone."""
        logits = X @ self.coef
        logits -= self.mean @ self.coef
        return logits

    def proba(self, slopes, scale=1.0):
        """The class probabilities, computed in place of ``slopes``."""
        logits = slopes
        if scale != 1.0:
            logits *= np.float32(scale)
        logits += self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def _calibrate(self, target):
        """The scale of W whose mean largest probability on a pilot sample is target.

        It grows with the scale (for each row it does, but for the intercept);
        bisection on the log of the scale.
        """
        slopes = self.slopes(self.features(PILOT_ROWS))
        low, high = -10.0, 10.0
        for _ in range(40):
            middle = (low + high) / 2
            bayes = self.proba(slopes.copy(), np.exp(middle)).max(axis=1).mean()
            low, high = (middle, high) if bayes < target else (low, middle)
        return float(np.exp((low + high) / 2))

    def sample(self, n_rows):
        """X (float32), y, and the planted probability of each row's label."""
        X = np.empty((n_rows, self.mean.size), dtype=np.float32)
        y = np.empty(n_rows, dtype=np.int64)
        p_label = np.empty(n_rows)
        correct = np.empty(n_rows, dtype=bool)
        for start in range(0, n_rows, CHUNK):
            stop = min(start + CHUNK, n_rows)
            X[start:stop] = self.features(stop - start)
            proba = self.proba(self.slopes(X[start:stop]))
            # Inverse CDF: the first class whose cumulative probability passes u.
            cumulative = np.cumsum(proba, axis=1)
            u = self.rng.random((stop - start, 1)) * cumulative[:, -1:]
            labels = np.minimum((cumulative < u).sum(axis=1), proba.shape[1] - 1)
            y[start:stop] = labels
            rows = np.arange(stop - start)
            p_label[start:stop] = proba[rows, labels]
            correct[start:stop] = proba.argmax(axis=1) == labels
        return X, y, p_label, correct


def make_problem(args):
    rng = np.random.default_rng(args.seed)
    model = PlantedModel(args.n_features, args.n_classes, args.bayes_accuracy, rng)
    X, y, _, _ = model.sample(args.n_samples)
    X_test, y_test, p_label, correct = model.sample(args.n_test)
    eps = np.finfo(np.float32).eps
    bayes = dict(acc=correct.mean(), loss=-np.log(np.clip(p_label, eps, 1)).mean())
    return model, (X, y, X_test, y_test), bayes


def test_scores(proba, classes, y_test, n_classes):
    """Accuracy and log loss; labels unseen in training get probability 0."""
    accuracy = np.mean(classes[proba.argmax(axis=1)] == y_test)
    column = np.full(n_classes, -1)
    column[classes] = np.arange(classes.size)
    columns = column[y_test]
    p = np.where(columns >= 0, proba[np.arange(y_test.size), columns], 0.0)
    eps = np.finfo(proba.dtype).eps
    return accuracy, -np.log(np.clip(p, eps, 1)).mean()


def torch_linear(args, n_features, n_classes):
    """A plain nn.Linear and SGD loop with sklearn-like fit and predict_proba."""
    import torch

    class TorchLinear:
        def fit(self, X, y):
            generator = torch.Generator().manual_seed(args.seed)
            torch.manual_seed(args.seed)
            self.model = torch.nn.Linear(n_features, n_classes)
            optimizer = torch.optim.SGD(
                [
                    dict(params=[self.model.weight], weight_decay=1 / X.shape[0]),
                    dict(params=[self.model.bias], weight_decay=0.0),
                ],
                lr=TORCH_LR,
                momentum=TORCH_MOMENTUM,
            )
            X, y = torch.from_numpy(X), torch.from_numpy(y)
            for _ in range(args.torch_epochs):
                order = torch.randperm(X.shape[0], generator=generator)
                for start in range(0, X.shape[0], BATCH_SIZE):
                    batch = order[start : start + BATCH_SIZE]
                    loss = torch.nn.functional.cross_entropy(
                        self.model(X[batch]), y[batch]
                    )
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            self.n_iter_ = args.torch_epochs
            self.classes_ = np.arange(n_classes)
            return self

        def predict_proba(self, X):
            with torch.no_grad():
                logits = self.model(torch.from_numpy(X))
                return torch.softmax(logits, dim=1).numpy()

    # torch's one-time start (kernels, autograd) is left out of the timed fit.
    warm_up = torch.nn.Linear(n_features, n_classes)
    torch.nn.functional.cross_entropy(
        warm_up(torch.zeros(2, n_features)), torch.zeros(2, dtype=torch.int64)
    ).backward()
    return TorchLinear()


def estimators(args, n_features, n_classes):
    """name: (make or None, note); a None make is skipped, the note says why."""
    result = dict(
        SoftmaxRegression=lambda: SoftmaxRegression(random_state=args.seed),
        LogisticRegression=lambda: LogisticRegression(max_iter=args.lr_max_iter),
        SGDClassifier=lambda: SGDClassifier(loss="log_loss", random_state=args.seed),
        MLPClassifier=lambda: MLPClassifier(
            hidden_layer_sizes=(), random_state=args.seed
        ),
    )
    result = {name: (make, "") for name, make in result.items()}
    try:
        import torch

        threads = torch.get_num_threads()
        note = f"torch {torch.__version__}, {threads} thread{'s' * (threads > 1)}"
        result["torch"] = (lambda: torch_linear(args, n_features, n_classes), note)
    except ImportError as error:
        result["torch"] = (None, f"torch does not import ({error})")
    for name in args.skip:
        result[name] = (None, "--skip")
    return result


def fit_quietly(model, X, y):
    """Fit time, and whether a ConvergenceWarning came (other warnings shown)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    warned = False
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            warned = True
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return seconds, warned


def compare(args, data, n_classes):
    X, y, X_test, y_test = data
    results = {}
    for name, (make, note) in estimators(args, X.shape[1], n_classes).items():
        if make is None:
            print(f"  {name}: skipped ({note})", flush=True)
            continue
        try:
            model = make()
            seconds, warned = fit_quietly(model, X, y)
            accuracy, loss = test_scores(
                model.predict_proba(X_test), model.classes_, y_test, n_classes
            )
        except Exception as error:  # one estimator failing must not stop all
            print(f"  {name}: raised {type(error).__name__}: {error}", flush=True)
            continue
        results[name] = dict(
            seconds=seconds,
            epochs=int(np.max(model.n_iter_)),
            warned=warned,
            acc=accuracy,
            loss=loss,
            note=note,
        )
        print(
            f"  {name}: fit {seconds:.2f} s, {results[name]['epochs']} epochs,"
            f" test acc {accuracy:.4f}, log loss {loss:.4f}",
            flush=True,
        )
    return results


def gemm_pass(X, coef, gradient, rows):
    """X_b @ coef and X_b.T @ gradient for each chunk X_b of ``rows`` rows of X."""
    logits = np.empty((rows, coef.shape[1]), dtype=X.dtype)
    product = np.empty_like(coef)
    for start in range(0, X.shape[0], rows):
        chunk = X[start : start + rows]
        m = chunk.shape[0]
        np.matmul(chunk, coef, out=logits[:m])
        np.matmul(chunk.T, gradient[:m], out=product)


def gemm_floor(X, n_classes, rows, thread_rule):
    """Best of 3 passes and their BLAS threads; with ``thread_rule``, one thread
    for products that SoftmaxRegression runs on one."""
    rng = np.random.default_rng(0)
    coef = rng.standard_normal((X.shape[1], n_classes)).astype(X.dtype)
    gradient = rng.standard_normal((rows, n_classes)).astype(X.dtype)
    one_thread = thread_rule and rows * X.shape[1] * n_classes < BLAS_THREADS_FROM
    with threadpool_limits(limits=1 if one_thread else None, user_api="blas"):
        seconds, _ = best_time(lambda: gemm_pass(X, coef, gradient, rows), 3)
        threads = blas_threads()
    return seconds, threads


def epoch_table(args, data, fitted, n_classes):
    """SoftmaxRegression's epoch times against the GEMM floors."""
    X, y = data[0], data[1]
    batch = min(BATCH_SIZE, X.shape[0])
    sizes = [(batch, True)]
    if X.shape[0] > batch:
        sizes.append((min(CHUNK, X.shape[0]), False))
    floors = [(rows, *gemm_floor(X, n_classes, rows, rule)) for rows, rule in sizes]
    epochs = {}
    for max_iter in (1, 2):
        model = SoftmaxRegression(max_iter=max_iter, random_state=args.seed)
        epochs[max_iter], _ = fit_quietly(model, X, y)
    measures = [
        (
            f"fit / epochs ({fitted['epochs']} epochs)",
            fitted["seconds"] / fitted["epochs"],
        ),
        ("fit(max_iter=1)", epochs[1]),
        ("fit(max_iter=2) - fit(max_iter=1)", epochs[2] - epochs[1]),
    ]
    for rows, floor, threads in floors:
        plural = "s" if threads > 1 else ""
        label = f"floor: chunks of {rows} rows, {threads} BLAS thread{plural}"
        measures.append((label, floor))
    headers = ["SoftmaxRegression epoch", "seconds"]
    headers += [f"÷ floor {rows}" for rows, _, _ in floors]
    rows = [
        [label, f"{value:.4f}"] + [f"{value / floor:.2f}" for _, floor, _ in floors]
        for label, value in measures
    ]
    print(
        f"\nSoftmaxRegression's epoch against the GEMM floor: one pass of X_b @ W"
        f" ({X.shape[1]} x {n_classes}) and X_b.T @ G over the {X.shape[0]:,}"
        f" training rows in contiguous chunks X_b (best of 3)"
    )
    print(text_table(headers, rows, left={0}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=200_000, help="train rows")
    parser.add_argument("--n-features", type=int, default=512)
    parser.add_argument("--n-classes", type=int, default=1_000)
    parser.add_argument("--n-test", type=int, default=20_000, help="held-out rows")
    parser.add_argument(
        "--skip",
        nargs="+",
        choices=NAMES,
        default=[],
        metavar="NAME",
        help=f"estimators left out, of {', '.join(NAMES)}",
    )
    parser.add_argument(
        "--lr-max-iter",
        type=int,
        default=100,
        help="max_iter of LogisticRegression (default scikit-learn's 100)",
    )
    parser.add_argument(
        "--torch-epochs", type=int, default=5, help="epochs of the torch loop"
    )
    parser.add_argument(
        "--bayes-accuracy",
        type=float,
        default=0.65,
        help="mean largest class probability of the planted model",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the data and the estimators"
    )
    args = parser.parse_args()

    print(environment())
    start = time.perf_counter()
    planted, data, bayes = make_problem(args)
    X, y = data[0], data[1]
    counts = np.bincount(y, minlength=args.n_classes)
    print(
        f"\n{X.shape[0]:,} x {X.shape[1]} float32 training rows"
        f" ({X.nbytes / 2**20:,.0f} MiB), {args.n_test:,} test rows,"
        f" {args.n_classes:,} classes ({np.count_nonzero(counts):,} in training,"
        f" {counts.min()} to {counts.max()} rows each); planted model: covariance"
        f" rank {planted.rank} + identity, W scaled by {planted.scale:.3g};"
        f" made in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    results = compare(args, data, args.n_classes)

    lr = results.get("LogisticRegression")
    rows = []
    for name, result in results.items():
        ratio = f"{result['seconds'] / lr['seconds']:.3f}" if lr else "-"
        rows.append(
            [
                name,
                f"{result['seconds']:.2f}",
                ratio,
                str(result["epochs"]),
                "conv" if result["warned"] else "",
                f"{result['acc']:.4f}",
                f"{result['loss']:.4f}",
            ]
        )
    rows.append(
        ["Bayes (planted model)", "", "", "", "", f"{bayes['acc']:.4f}"]
        + [f"{bayes['loss']:.4f}"]
    )
    print(
        f"\nLinear probe, {args.n_classes:,} classes: ÷LR = fit time /"
        f" LogisticRegression(max_iter={args.lr_max_iter})'s; epochs: n_iter_"
        " (LogisticRegression: lbfgs iterations); warn: conv = ConvergenceWarning"
    )
    print(text_table(HEADERS, rows, left={0, 4}))
    print(
        f"chance: accuracy {counts.max() / counts.sum():.4f} (largest class),"
        f" log loss {np.log(args.n_classes):.4f} (uniform)"
    )
    for name, result in results.items():
        if result["note"]:
            print(f"{name}: {result['note']}")

    if "SoftmaxRegression" in results:
        epoch_table(args, data, results["SoftmaxRegression"], args.n_classes)


if __name__ == "__main__":
    main()
