"""Draw the figures of the documentation into ``docs/_figures``.

Run from anywhere (the docs build runs it first)::

    python docs/make_figures.py

Two kinds of figures:

- the performance page's, drawn from the measured figures that the benchmark
  scripts save in ``benchmarks/results/*.json`` (refresh them with
  ``python benchmarks/bench_suite.py --save``,
  ``python benchmarks/bench_fashion_mnist.py --save`` and
  ``python benchmarks/bench_scaling.py --save``); a figure whose file is missing
  is skipped with a message, and the page then lacks it;
- the user guide's, computed here in a few seconds: the losses and their
  gradients, the step-size schedules, and the preconditioner's effect on a fit
  of the bundled Fashion-MNIST sample.
"""

import json
import re
import sys
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS.parent / "benchmarks" / "results"
FIGURES = DOCS / "_figures"
ESTIMATOR_STYLE = {  # colour and marker of each estimator of the suite
    "SoftmaxRegression": ("tab:blue", "o"),
    "LogisticRegression": ("tab:orange", "s"),
    "SGDClassifier": ("tab:green", "^"),
    "MLPClassifier": ("tab:red", "D"),
}


def _saved(name):
    """The figures a benchmark saved, or None (with a message) if it has not."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        print(f"make_figures: {path} is missing; run the benchmark with --save")
        return None
    return json.loads(path.read_text())


def _save(figure, name, saved=None):
    """Write ``figure``; with ``saved`` (a benchmark's figures), say when and
    on what machine they were measured."""
    if saved is not None:
        machine = saved["environment"].splitlines()[1]
        figure.text(0.0, -0.02, f"Measured {saved['measured']}: {machine}.", fontsize=7)
    figure.savefig(FIGURES / name, dpi=110, bbox_inches="tight")
    plt.close(figure)


# ------------------------------------------------------------- performance


def suite_figure():
    """Test log loss against fit time, every estimator on every dataset."""
    suite = _saved("bench_suite")
    if suite is None:
        return
    datasets = [key for key in suite if isinstance(suite[key], list)]
    columns = 3
    rows = -(-len(datasets) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False
    )
    for ax, key in zip(axes.flat, datasets, strict=False):
        records = suite[key]
        for record in records:
            colour, marker = ESTIMATOR_STYLE[record["estimator"]]
            filled = record["variant"] == "raw"
            ax.scatter(
                record["seconds"],
                record["log_loss"],
                color=colour if filled else "white",
                edgecolor=colour,
                marker=marker,
                s=45,
                zorder=3,
            )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        losses = sorted(r["log_loss"] for r in records)
        # Far-off points (a diverged SGDClassifier) would squash the others.
        top = min(losses[-1], 3 * losses[len(losses) // 2])
        ax.set_ylim(losses[0] - 0.05 * (top - losses[0]), top * 1.05)
        ax.set_title(records[0]["label"], fontsize=9)
        ax.set_xlabel("fit time (s, log scale)", fontsize=8)
        ax.set_ylabel("test log loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    handles = [
        plt.Line2D([], [], color=c, marker=m, linestyle="", label=name)
        for name, (c, m) in ESTIMATOR_STYLE.items()
    ]
    handles += [
        plt.Line2D([], [], color="grey", marker="o", linestyle="", label="raw"),
        plt.Line2D(
            [],
            [],
            color="grey",
            marker="o",
            markerfacecolor="white",
            linestyle="",
            label="standardized",
        ),
    ]
    figure.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.955),
        ncol=6,
        fontsize=8,
    )
    figure.suptitle(
        "Lower left is better: test log loss against fit time (default parameters)"
    )
    figure.tight_layout(rect=(0, 0, 1, 0.92))
    _save(figure, "perf_suite.png", suite)


def suite_table():
    """The suite's figures as an RST table, which the performance page includes."""
    suite = _saved("bench_suite")
    lines = [".. list-table::", "   :header-rows: 1", ""]
    header = ["dataset", "features", "estimator", "test acc", "log loss"]
    header += ["fit (s)", "÷ LR"]
    rows = [header]
    for records in (suite or {}).values():
        if not isinstance(records, list):
            continue
        lr = {
            r["variant"]: r["seconds"]
            for r in records
            if r["estimator"] == "LogisticRegression"
        }
        for r in records:
            ratio = r["seconds"] / lr[r["variant"]] if r["variant"] in lr else np.nan
            rows.append(
                [
                    r["label"],
                    r["variant"],
                    f"``{r['estimator']}``",
                    f"{r['accuracy']:.4f}",
                    f"{r['log_loss']:.4f}",
                    f"{r['seconds']:.3f}",
                    f"{ratio:.3f}",
                ]
            )
    for row in rows:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    if suite is None:
        lines = ["(Run ``python benchmarks/bench_suite.py --save`` for this table.)"]
    else:
        lines += ["", f"Measured {suite['measured']}; " + _one_line(suite)]
    (FIGURES / "suite_table.rst").write_text("\n".join(lines) + "\n")


def _one_line(saved):
    """The versions line of a saved run, for a caption (without the local path)."""
    return re.sub(r" \(/[^)]*\)", "", saved["environment"].splitlines()[0])


def epoch_figure():
    """One epoch against the floor of a full-batch forward and backward pass."""
    fashion = _saved("bench_fashion_mnist")
    if fashion is None:
        return
    floor = fashion["floor_seconds"] * 1e3
    names = list(fashion["epochs"])
    epochs = [fashion["epochs"][name]["epoch_seconds"] * 1e3 for name in names]
    figure, ax = plt.subplots(figsize=(6, 2.6))
    labels = ["floor: X @ W, X.T @ G (float32, full batch)"]
    labels += [f"SoftmaxRegression epoch, {name}" for name in names]
    values = [floor, *epochs]
    colours = ["grey"] + ["tab:blue"] * len(names)
    ax.barh(labels[::-1], values[::-1], color=colours[::-1])
    for y, value in enumerate(values[::-1]):
        ax.text(value, y, f" {value:.0f} ms ({value / floor:.2f}x)", va="center")
    ax.set_xlim(0, max(values) * 1.45)
    ax.set_xlabel("milliseconds per pass over Fashion-MNIST's 60,000 images")
    ax.set_title("An epoch against the arithmetic floor")
    _save(figure, "perf_epoch.png", fashion)


def scaling_figure():
    """Fit time against the number of samples and of classes."""
    scaling = _saved("bench_scaling")
    if scaling is None or not {"samples", "classes"} <= set(scaling):
        if scaling is not None:
            print("make_figures: bench_scaling.json lacks samples or classes")
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.3))
    samples = scaling["samples"]
    n = np.array([s["n_samples"] for s in samples])
    seconds = np.array([s["seconds"] for s in samples])
    left.plot(n, seconds, "o-", label="SoftmaxRegression()")
    left.plot(n, seconds[0] * n / n[0], "--", color="grey", label="linear")
    left.set_xticks(n, [f"{count // 1000:,}k" for count in n])
    left.set_xlabel("training images (Fashion-MNIST and shifted copies)")
    left.set_ylabel("fit time (s)")
    left.set_title("Samples")
    left.legend(fontsize=8)
    classes = scaling["classes"]
    k = np.array([c["n_classes"] for c in classes])
    seconds = np.array([c["seconds"] for c in classes])
    epochs = np.array([c["epochs"] for c in classes])
    floors = np.array([c["floor_seconds"] for c in classes])
    right.plot(k, seconds / epochs * 1e3, "o-", label="fit time / epochs")
    right.plot(k, floors * 1e3, "s--", color="grey", label="floor (full batch)")
    right.set_xlabel("classes (60,000 x 784 float32)")
    right.set_ylabel("milliseconds per epoch")
    right.set_title("Classes")
    right.set_ylim(bottom=0)
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, "perf_scaling.png", scaling)


# -------------------------------------------------------------- user guide


def losses_figure():
    """Each built-in loss and its gradient against the margin of the true class."""
    from sksoftmax.losses import (
        AbsoluteErrorLoss,
        CrossEntropyLoss,
        FocalLoss,
        HuberLoss,
        SquaredErrorLoss,
    )

    margin = np.linspace(-6, 6, 241)
    logits = np.column_stack([np.zeros_like(margin), margin])
    targets = np.tile([0.0, 1.0], (margin.size, 1))
    losses = {
        "CrossEntropyLoss()": CrossEntropyLoss(),
        "SquaredErrorLoss()": SquaredErrorLoss(),
        "AbsoluteErrorLoss()": AbsoluteErrorLoss(),
        "HuberLoss(delta=0.5)": HuberLoss(),
        "FocalLoss(gamma=2)": FocalLoss(),
    }
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, loss in losses.items():
        values, gradient = loss.loss_gradient(targets, logits)
        left.plot(margin, values, label=name)
        right.plot(margin, gradient[:, 1], label=name)
    left.set_title("Loss of a sample")
    right.set_title("Its gradient on the true class's logit")
    for ax in (left, right):
        ax.set_xlabel("margin of the true class: z_true - z_other (two classes)")
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.grid(alpha=0.3)
    left.set_ylim(0, 4)
    right.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, "ug_losses.png")


def schedules_figure():
    """The step-size schedules of fit (in epochs) and of partial_fit (in samples)."""
    from sksoftmax import _optim, _softmax

    epochs = np.linspace(0, 6, 601)
    cosine = _optim.cosine(1.0, epochs / 6)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    left.plot(epochs, cosine, label='"cosine" (default), max_iter=6')
    left.plot(epochs, np.ones_like(epochs), label='"constant"')
    left.plot(epochs, 1 / (1 + epochs) ** 0.5, label='"invscaling", power_t=0.5')
    # "adaptive": divided by 5 each time the stopping rule fires (here, at 2
    # and 4.5 epochs, for illustration).
    adaptive = np.where(epochs < 2, 1.0, np.where(epochs < 4.5, 0.2, 0.04))
    left.step(epochs, adaptive, where="post", label='"adaptive" (rule fires twice)')
    left.set_xlabel("epochs")
    left.set_ylabel("step size / eta0")
    left.set_title("fit")
    left.legend(fontsize=8)
    seen = np.linspace(0, 3_000_000, 301)
    decay = _softmax.STREAM_DECAY_SAMPLES
    right.plot(seen, 1 / np.sqrt(1 + seen / decay))
    right.set_xlabel("samples seen")
    right.set_ylabel("step size / eta0")
    right.set_title(f"partial_fit: 1 / sqrt(1 + t / {decay:,})")
    for ax in (left, right):
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, "ug_schedules.png")


def _plain_sgd_curve(X, y, n_epochs, batch_size=256, seed=0):
    """Mean minibatch loss along each epoch of plain minibatch SGD with
    Nesterov momentum, as ``loss_curve_`` records it.

    The steps are not preconditioned: the best single step is 2.4 over the
    largest eigenvalue of the second-moment matrix of X (the intercept as one
    more feature), as SoftmaxRegression sizes its steps on standardized data.
    """
    from sksoftmax.losses import CrossEntropyLoss

    rng = np.random.default_rng(seed)
    Z = np.column_stack([X, np.ones(len(X))])
    vector = rng.standard_normal(Z.shape[1])
    for _ in range(50):
        vector = Z.T @ (Z @ vector) / len(Z)
        curvature = np.linalg.norm(vector)
        vector /= curvature
    eta, beta = 2.4 / curvature, 0.9
    targets = np.eye(y.max() + 1)[y]
    W, velocity = np.zeros((Z.shape[1], targets.shape[1])), 0.0
    loss, curve = CrossEntropyLoss(), []
    for epoch in range(n_epochs):
        step = 0.5 * (1 + np.cos(np.pi * epoch / n_epochs))
        total = 0.0
        for batch in np.array_split(rng.permutation(len(Z)), len(Z) // batch_size):
            ahead = W + beta * velocity
            values, grad = loss.loss_gradient(targets[batch], Z[batch] @ ahead)
            total += values.sum()
            new = ahead - eta * step * Z[batch].T @ grad / len(batch)
            velocity, W = new - W, new
        curve.append(total / len(Z))
    return curve


def preconditioner_figure():
    """Training curves on raw and standardized pixels, with and without it."""
    from sklearn.preprocessing import StandardScaler

    from sksoftmax import SoftmaxRegression, load_fashion_mnist_sample

    X, y = load_fashion_mnist_sample(return_X_y=True)
    X = X.astype(np.float64)
    data = {"raw pixels (0-255)": X, "standardized": StandardScaler().fit_transform(X)}
    n_epochs = 30
    figure, ax = plt.subplots(figsize=(6.5, 3.6))
    colours = ["tab:blue", "tab:orange"]
    for (name, Xd), colour in zip(data.items(), colours, strict=True):
        model = SoftmaxRegression(max_iter=n_epochs, penalty=None, random_state=0)
        model.fit(Xd, y)
        epochs = np.arange(1, n_epochs + 1)
        width = 4 if colour == "tab:blue" else 1.5  # the two solid curves coincide
        ax.plot(
            epochs,
            model.loss_curve_,
            color=colour,
            linewidth=width,
            label=f"SoftmaxRegression, {name}",
        )
        ax.plot(
            epochs,
            _plain_sgd_curve(Xd, y, n_epochs),
            color=colour,
            linestyle="--",
            label=f"plain SGD, {name}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("epochs (cosine schedule over 30)")
    ax.set_ylabel("training log loss along the epoch")
    ax.set_title("Fashion-MNIST sample (1,500 images): the same path in any units")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    _save(figure, "ug_preconditioner.png")


FIGURES_OF = [
    suite_figure,
    suite_table,
    epoch_figure,
    scaling_figure,
    losses_figure,
    schedules_figure,
    preconditioner_figure,
]


def main():
    FIGURES.mkdir(exist_ok=True)
    for draw in FIGURES_OF:
        draw()
    print(f"make_figures: figures in {FIGURES}")


if __name__ == "__main__":
    sys.exit(main())
