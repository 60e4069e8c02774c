"""Loss objects for :class:`~sksoftmax.SoftmaxRegression`.

Each loss maps one-hot (or soft-label) targets and logits to per-sample losses
and their gradient with respect to the logits; see :class:`BaseLoss` for the
protocol and how to write your own.
"""

from sksoftmax._array_api import array_namespace
from sksoftmax._losses import (
    AbsoluteErrorLoss,
    BaseLoss,
    CrossEntropyLoss,
    FocalLoss,
    HuberLoss,
    SquaredErrorLoss,
    log_softmax,
    softmax,
)

__all__ = [
    "AbsoluteErrorLoss",
    "BaseLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "HuberLoss",
    "SquaredErrorLoss",
    "array_namespace",
    "log_softmax",
    "softmax",
]

# Their public home, for pickle, skops and the docs: a saved model names no
# private module. (sksoftmax imports this module, so it is always set.)
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
