"""SoftmaxRegression on a GPU (or any PyTorch device), through the array API.

Two problems, each fitted in one run by every estimator on the same device:

- a synthetic linear probe: by default 1,000,000 x 1,024 float32 training rows,
  50,000 held-out rows and 1,000 classes, drawn from the planted model of
  ``bench_linear_probe.py`` (embedding-like correlated Gaussian features,
  labels from a random softmax model; its own scores are the ``Bayes`` row);
- Fashion-MNIST (``uint8`` pixels sent to the device as they are), when its
  files are found (``../shared/datasets/fashion-mnist`` or the mirror of
  ``SKSOFTMAX_FASHION_MNIST_MIRROR``); ``--no-fashion`` leaves it out.

The estimators, on PyTorch tensors on ``--device`` (default: CUDA when there
is one):

- ``SoftmaxRegression()`` under ``sklearn.config_context(array_api_dispatch=True)``,
  and the same with ``batch_size=--large-batch`` (4,096), which gives a GPU
  larger products per step;
- ``LogisticRegression()`` (lbfgs) under array API dispatch, on the device:
  the optimum that the others are measured against (``÷LR`` is the fit-time
  ratio; ``Δ loss`` the test log loss minus LogisticRegression's);
- a plain PyTorch loop: ``nn.Linear`` trained by SGD (momentum 0.9, batch 256,
  cross-entropy, weight decay ``1 / n_samples`` as LogisticRegression's
  penalty), for as many epochs as SoftmaxRegression ran;
- cuML's ``LogisticRegression`` (on CuPy arrays) when ``cuml`` imports.

Fit times are taken around ``fit`` with the device synchronized before and
after; each estimator is fitted once after an untimed warm-up fit on a small
slice (CUDA kernels, cuBLAS handles). SciPy's array API support must be on
before SciPy is imported: the script sets ``SCIPY_ARRAY_API=1`` itself. This is
a benchmark, not a test: it always exits with 0.

Usage::

    python benchmarks/bench_gpu.py [--device DEVICE] [--n-samples N]
        [--n-features D] [--n-classes K] [--n-test N] [--large-batch B]
        [--lr-max-iter N] [--skip NAME [NAME ...]] [--no-fashion] [--seed N]
        [--save]

On a CPU, for a check of the script: ``--device cpu --n-samples 20000
--n-features 64 --n-classes 20 --n-test 5000``.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before SciPy is imported

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from _common import (  # noqa: E402
    LOCAL_MIRROR,
    MIRROR_ENV,
    environment,
    load_fashion_mnist,
    save_results,
    text_table,
)
from bench_linear_probe import PlantedModel, test_scores  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from sksoftmax import SoftmaxRegression  # noqa: E402

TORCH_LR, TORCH_MOMENTUM, TORCH_BATCH = 0.1, 0.9, 256
HEADERS = ["problem", "estimator", "fit s", "÷LR", "epochs", "test acc", "log loss"]
HEADERS += ["Δ loss"]


def synchronize(torch, device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(torch, device, fit):
    """Seconds of ``fit()``, the device synchronized before and after."""
    synchronize(torch, device)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fit()
    synchronize(torch, device)
    return time.perf_counter() - start, result


def as_numpy(array):
    return array.detach().cpu().numpy() if hasattr(array, "detach") else array


class TorchLinear:
    """nn.Linear + SGD with momentum on ``device``: the loop a PyTorch user writes."""

    def __init__(self, torch, n_classes, epochs, seed):
        self.torch, self.n_classes, self.epochs, self.seed = (
            torch,
            n_classes,
            epochs,
            seed,
        )

    def fit(self, X, y):
        torch = self.torch
        generator = torch.Generator(device=X.device).manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.model = torch.nn.Linear(X.shape[1], self.n_classes, device=X.device)
        weight_decay = 1 / X.shape[0]
        optimizer = torch.optim.SGD(
            [
                dict(params=[self.model.weight], weight_decay=weight_decay),
                dict(params=[self.model.bias], weight_decay=0.0),
            ],
            lr=TORCH_LR,
            momentum=TORCH_MOMENTUM,
        )
        for _ in range(self.epochs):
            order = torch.randperm(X.shape[0], generator=generator, device=X.device)
            for start in range(0, X.shape[0], TORCH_BATCH):
                batch = order[start : start + TORCH_BATCH]
                logits = self.model(self._features(X[batch]))
                loss = torch.nn.functional.cross_entropy(logits, y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        self.n_iter_ = self.epochs
        return self

    def _features(self, X):
        """float32 features; uint8 pixels scaled to [0, 1], as torchvision's
        ToTensor does (raw pixels make this loop's steps diverge)."""
        if X.dtype == self.torch.uint8:
            return X.to(self.torch.float32) / 255
        return X.to(self.torch.float32)

    def predict_proba(self, X):
        with self.torch.no_grad():
            return self.torch.softmax(self.model(self._features(X)), dim=1)


def cuml_estimator():
    """cuML's LogisticRegression, fitted on CuPy arrays, or None."""
    try:
        import cupy
        from cuml.linear_model import LogisticRegression as CumlLogisticRegression
    except ImportError:
        return None

    class Cuml:
        def fit(self, X, y):
            self.model = CumlLogisticRegression(C=1.0, max_iter=1000)
            self.model.fit(cupy.from_dlpack(X), cupy.from_dlpack(y))
            self.n_iter_ = int(np.max(self.model.n_iter_))
            return self

        def predict_proba(self, X):
            return cupy.asnumpy(self.model.predict_proba(cupy.from_dlpack(X)))

    return Cuml


def run_problem(torch, args, label, data, n_classes):
    """Fit every estimator on ``data`` (NumPy) moved to ``args.device``."""
    X, y, X_test, y_test = data
    device = args.device
    Xd, yd = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    Xd_test = torch.as_tensor(X_test, device=device)
    # LogisticRegression and cuML take floats: uint8 pixels are converted for them.
    Xd_float = Xd.to(torch.float32)
    Xd_test_float = Xd_test.to(torch.float32)
    makers = {
        "SoftmaxRegression": lambda: SoftmaxRegression(random_state=args.seed),
        f"SoftmaxRegression(batch_size={args.large_batch})": lambda: SoftmaxRegression(
            batch_size=args.large_batch, random_state=args.seed
        ),
        "LogisticRegression": lambda: LogisticRegression(max_iter=args.lr_max_iter),
        "torch": None,  # its epochs follow SoftmaxRegression's
    }
    cuml = cuml_estimator()
    if cuml is not None and torch.device(device).type == "cuda":
        makers["cuML LogisticRegression"] = cuml
    results = {}
    warm_rows = min(2048, X.shape[0])
    for name, make in makers.items():
        if name.split("(")[0] in args.skip or name in args.skip:
            continue
        if name == "torch":
            epochs = results.get("SoftmaxRegression", {}).get("epochs", 6)

            def make(epochs=epochs):
                return TorchLinear(torch, n_classes, epochs, args.seed)

        floats = name.endswith("LogisticRegression")
        X_fit, X_eval = (Xd_float, Xd_test_float) if floats else (Xd, Xd_test)
        try:
            with sklearn.config_context(array_api_dispatch=True):
                make().fit(X_fit[:warm_rows], yd[:warm_rows])  # untimed warm-up
                seconds, model = timed(
                    torch, device, lambda m=make, X=X_fit: m().fit(X, yd)
                )
                proba = as_numpy(model.predict_proba(X_eval))
        except Exception as error:  # one estimator failing must not stop all
            print(f"  {name}: raised {type(error).__name__}: {error}", flush=True)
            continue
        classes = as_numpy(getattr(model, "classes_", np.arange(n_classes)))
        accuracy, loss = test_scores(
            proba.astype(np.float64), classes, y_test, n_classes
        )
        epochs = int(np.max(as_numpy(getattr(model, "n_iter_", 0))))
        results[name] = dict(seconds=seconds, epochs=epochs, acc=accuracy, loss=loss)
        print(
            f"  {label} {name}: fit {seconds:.2f} s, {epochs} epochs,"
            f" test acc {accuracy:.4f}, log loss {loss:.4f}",
            flush=True,
        )
    return results


def table_rows(label, results, bayes=None):
    lr = results.get("LogisticRegression")
    rows = []
    for name, r in results.items():
        ratio = f"{r['seconds'] / lr['seconds']:.3f}" if lr else "-"
        delta = f"{r['loss'] - lr['loss']:+.4f}" if lr else "-"
        rows.append(
            [
                label,
                name,
                f"{r['seconds']:.2f}",
                ratio,
                str(r["epochs"]),
                f"{r['acc']:.4f}",
                f"{r['loss']:.4f}",
                delta,
            ]
        )
    if bayes is not None:
        acc, loss = bayes
        rows.append([label, "Bayes (planted model)", "", "", "", f"{acc:.4f}"])
        rows[-1] += [f"{loss:.4f}", ""]
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="a torch device (cuda)")
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=1024)
    parser.add_argument("--n-classes", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=50_000)
    parser.add_argument("--bayes-accuracy", type=float, default=0.65)
    parser.add_argument("--large-batch", type=int, default=4096)
    parser.add_argument("--lr-max-iter", type=int, default=100)
    parser.add_argument("--skip", nargs="+", default=[], metavar="NAME")
    parser.add_argument("--no-fashion", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--save", action="store_true", help="write results/bench_gpu.json"
    )
    args = parser.parse_args()
    try:
        import torch
    except ImportError as error:
        print(f"bench_gpu.py needs PyTorch ({error}).")
        return
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    print(environment())
    print(f"torch {torch.__version__}, device {args.device}", end="")
    if torch.device(args.device).type == "cuda":
        print(f" ({torch.cuda.get_device_name(args.device)})", end="")
    print("\n", flush=True)

    rows, figures = [], {"device": args.device}
    rng = np.random.default_rng(args.seed)
    planted = PlantedModel(args.n_features, args.n_classes, args.bayes_accuracy, rng)
    X, y, _, _ = planted.sample(args.n_samples)
    X_test, y_test, p_label, correct = planted.sample(args.n_test)
    eps = np.finfo(np.float32).eps
    bayes = (correct.mean(), -np.log(np.clip(p_label, eps, 1)).mean())
    label = f"probe {args.n_samples}x{args.n_features}, {args.n_classes} cl"
    results = run_problem(torch, args, label, (X, y, X_test, y_test), args.n_classes)
    rows += table_rows(label, results, bayes)
    figures["linear_probe"] = results
    del X, X_test

    have_fashion = os.environ.get(MIRROR_ENV) or LOCAL_MIRROR.is_dir()
    if not args.no_fashion and have_fashion:
        data = load_fashion_mnist()
        results = run_problem(torch, args, "Fashion-MNIST", data, 10)
        rows += table_rows("Fashion-MNIST", results)
        figures["fashion_mnist"] = results
    elif not args.no_fashion:
        print("Fashion-MNIST files not found: that part is skipped.")
    print()
    print(text_table(HEADERS, rows, left={0, 1}))
    if args.save:
        save_results("bench_gpu", figures)


if __name__ == "__main__":
    main()
