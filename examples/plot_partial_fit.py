"""
===================================
Streaming training with partial_fit
===================================

:meth:`~sksoftmax.SoftmaxRegression.partial_fit` trains on data that arrive in
chunks, or that do not fit in memory at once. Each call runs one pass of
minibatch SGD over the chunk it is given. The stream's length is unknown, so
the step size depends on the number of samples seen, not on a horizon or on the
number of calls, and the model published after each call is an average of the
recent iterates. This example streams Fashion-MNIST and follows the test log
loss against the samples seen, for ``SoftmaxRegression`` and for the two
scikit-learn estimators that stream a linear model:
:class:`~sklearn.linear_model.SGDClassifier` (one-vs-rest) and
:class:`~sklearn.neural_network.MLPClassifier` without hidden layer.
"""

# %%
# Load the data
# -------------
#
# As in the other examples: the full dataset if it can be fetched, else the
# sample bundled with the package.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier

from sksoftmax import (
    SoftmaxRegression,
    fetch_fashion_mnist,
    load_fashion_mnist_sample,
)

try:
    train = fetch_fashion_mnist(subset="train")
    test = fetch_fashion_mnist(subset="test")
    source = "the full Fashion-MNIST"
except OSError as exc:
    print(f"Fashion-MNIST is not available: {exc}")
    train = load_fashion_mnist_sample(subset="train")
    test = load_fashion_mnist_sample(subset="test")
    source = "the sample bundled with sksoftmax, not the full dataset"
print(f"Data: {source}, {len(train.target)} training, {len(test.target)} test images")

X, y = train.data, train.target
classes = np.arange(len(train.target_names))

# %%
# The reference: fit
# ------------------
#
# :meth:`~sksoftmax.SoftmaxRegression.fit` sees all the data at once and makes
# several passes (epochs) with a cosine schedule that anneals over them: 6 on
# the full dataset, more on a small one (at least 500 steps).
reference = SoftmaxRegression(random_state=0).fit(X, y)
reference_loss = log_loss(test.target, reference.predict_proba(test.data))
print(f"fit, {reference.n_iter_} epochs: test log loss {reference_loss:.4f}")

# %%
# Streaming
# ---------
#
# The stream is the training set cut into 50 chunks, read in the same order at
# each of 3 passes. The first call to ``partial_fit`` lists every class in
# ``classes``. ``SoftmaxRegression`` takes the raw ``uint8`` pixels (its steps
# are preconditioned); the scikit-learn learners get pixels scaled to [0, 1],
# which they need.
chunks = np.array_split(np.arange(len(y)), 50)
n_passes = 3
learners = {
    "SoftmaxRegression": (SoftmaxRegression(random_state=0), 1),
    "SGDClassifier(log_loss)": (SGDClassifier(loss="log_loss", random_state=0), 255),
    "MLPClassifier(())": (MLPClassifier(hidden_layer_sizes=(), random_state=0), 255),
}
curves = {}
for name, (learner, scale) in learners.items():
    seen, losses = [], []
    for _ in range(n_passes):
        for number, rows in enumerate(chunks, start=1):
            learner.partial_fit(X[rows] / scale, y[rows], classes=classes)
            if number % 5 == 0:  # every tenth of a pass
                proba = learner.predict_proba(test.data / scale)
                seen.append((len(seen) + 1) * len(y) / 10)
                losses.append(log_loss(test.target, proba, labels=classes))
    curves[name] = (np.asarray(seen), np.asarray(losses))
    print(f"partial_fit, {name}: test log loss {losses[-1]:.4f}")

# %%
# Plot the test log loss against the samples seen.
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
for name, (seen, losses) in curves.items():
    ax.plot(seen, losses, label=f"{name}.partial_fit")
fit_label = f"fit ({reference.n_iter_} epochs)"
ax.axhline(reference_loss, color="black", linestyle="--", label=fit_label)
ax.set(
    xlabel="samples seen",
    ylabel="test log loss",
    yscale="log",
    title="Streaming Fashion-MNIST in 50 chunks",
)
ax.legend(loc="upper right")
plt.show()

# %%
# What to take from it
# --------------------
#
# - ``SoftmaxRegression.partial_fit`` needs no setting for the stream: on the
#   full dataset, after two passes its test log loss is within about 0.01 of
#   ``fit``'s, and after five it matches it (the table of :ref:`streaming` has
#   the figures for 10, 50 and 200 chunks).
# - The number of calls does not matter, only the samples seen: more, smaller
#   chunks give the same curve.
# - The preconditioner of the steps (the features' means and variances) is
#   updated with each chunk, so raw pixels need no scaler in streaming either.
