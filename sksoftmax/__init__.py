"""Multinomial (softmax) regression for scikit-learn, and the Fashion-MNIST dataset."""

from sksoftmax import losses  # also gives the loss classes their public module
from sksoftmax._datasets import fetch_fashion_mnist, load_fashion_mnist_sample
from sksoftmax._softmax import SoftmaxRegression

__version__ = "0.1.0"

__all__ = [
    "SoftmaxRegression",
    "fetch_fashion_mnist",
    "load_fashion_mnist_sample",
    "losses",
]
