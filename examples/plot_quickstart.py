"""
==============================
A first model on Fashion-MNIST
==============================

Train :class:`~sksoftmax.SoftmaxRegression` on the raw pixels of Fashion-MNIST,
look at its mistakes with a confusion matrix, and at what it learned: one weight
per pixel and class, which can be drawn as an image.
"""

# %%
# Load the data
# -------------
#
# :func:`~sksoftmax.fetch_fashion_mnist` downloads the four official files on
# first use, checks their SHA-256 and caches the arrays; later calls read the
# cache. Where the dataset cannot be downloaded, we fall back to the 1500
# images bundled with the package (scores are then lower).
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, log_loss

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

print(f"Training images: {train.data.shape}, {train.data.dtype}")
print(f"Test images: {test.data.shape}")

# %%
# Each row of ``data`` is a 28x28 image flattened to 784 pixels, from 0
# (background) to 255; ``images`` shows the same pixels as images. One image
# of each class:
fig, axes = plt.subplots(1, 10, figsize=(10, 1.6), layout="constrained")
for label, ax in enumerate(axes):
    first = np.flatnonzero(train.target == label)[0]
    ax.imshow(train.images[first], cmap="gray_r")
    ax.set_title(train.target_names[label], fontsize=8)
    ax.set_axis_off()

# %%
# Train
# -----
#
# The pixels go in as they are, ``uint8``: the model standardizes its steps
# internally, so it needs no scaler, and converts one minibatch at a time to
# ``float32``, so the dataset is never copied. On 60,000 images the defaults
# run 6 epochs of minibatch SGD.
clf = SoftmaxRegression(random_state=0)
start = time.perf_counter()
clf.fit(train.data, train.target)
print(f"Trained in {time.perf_counter() - start:.2f} s, {clf.n_iter_} epochs")
print("Training objective after each epoch:", np.round(clf.loss_curve_, 4))

# %%
# Evaluate
# --------
#
# :meth:`~sksoftmax.SoftmaxRegression.predict_proba` gives the probability of
# each class, from which we compute the accuracy and the log loss on the test
# set.
proba = clf.predict_proba(test.data)
predicted = clf.classes_[proba.argmax(axis=1)]
print(f"Test accuracy: {accuracy_score(test.target, predicted):.4f}")
print(f"Test log loss: {log_loss(test.target, proba):.4f}")

# %%
# The confusion matrix shows which articles get mixed up. Each row is a true
# class and sums to one: the diagonal is the recall of each class. Shirts are
# the hardest: they get confused with T-shirts, pullovers and coats, which
# have similar shapes. Trousers, bags and footwear are easy.
fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
ConfusionMatrixDisplay.from_predictions(
    test.target,
    predicted,
    display_labels=test.target_names,
    normalize="true",
    values_format=".2f",
    xticks_rotation=45,
    colorbar=False,
    cmap="Blues",
    ax=ax,
)
ax.set_title("Confusion matrix on the test set (rows sum to 1)")
plt.show()

# %%
# What the model learned
# ----------------------
#
# ``coef_`` holds one weight per pixel for each class. Raw weights are hard to
# read: pixels near the border are rarely lit, so a large weight there seldom
# matters. Multiplied by the standard deviation of its pixel, a weight is the
# change of the class logit when the pixel brightens by a typical amount.
# Reshaped to 28x28, each class then shows a template: red pixels raise the
# logit of the class when they are bright, blue ones lower it. We see the
# gap between the legs of trousers, the handle of bags, and the shapes of
# sandals and sneakers.
pixel_std = train.data.std(axis=0)
weights = (clf.coef_ * pixel_std).reshape(-1, 28, 28)
limit = np.quantile(np.abs(weights), 0.995)
fig, axes = plt.subplots(2, 5, figsize=(10, 4.6), layout="constrained")
for label, ax in enumerate(axes.ravel()):
    image = ax.imshow(weights[label], cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(test.target_names[clf.classes_[label]])
    ax.set_axis_off()
fig.colorbar(image, ax=axes, shrink=0.8, label="weight x pixel std")
fig.suptitle("coef_ of each class, scaled by the pixels' standard deviations")
plt.show()

# %%
# Probabilities of single images
# ------------------------------
#
# The most confident mistakes on the test set: the image, its true class, and
# the probability the model gave to its (wrong) prediction. Some of these
# images look mislabelled rather than misread: Fashion-MNIST has a little label
# noise, which no model can get right.
confidence = proba.max(axis=1)
mistakes = np.flatnonzero(predicted != test.target)
worst = mistakes[np.argsort(confidence[mistakes])[::-1][:6]]
fig, axes = plt.subplots(1, 6, figsize=(10, 2.4), layout="constrained")
for index, ax in zip(worst, axes, strict=False):  # fewer than 6 mistakes: fine
    ax.imshow(test.images[index], cmap="gray_r")
    ax.set_title(
        f"true: {test.target_names[test.target[index]]}\n"
        f"said: {test.target_names[predicted[index]]} "
        f"({confidence[index]:.0%})",
        fontsize=8,
    )
    ax.set_axis_off()

plt.show()

# sphinx_gallery_thumbnail_number = 3
