"""Loss objects for softmax regression: a public protocol and the built-ins.

Every loss maps targets ``y_true`` (one-hot or soft labels, shape
``(n_samples, n_classes)``) and logits ``raw_prediction`` (same shape and dtype)
to per-sample losses and to their gradient with respect to the logits. The
probabilities are always ``softmax(raw_prediction)``.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from sksoftmax._array_api import array_namespace, device_of


def log_softmax(raw_prediction):
    """Compute the log of the softmax along axis 1, stably (log-sum-exp).

    Parameters
    ----------
    raw_prediction : array of shape (n_samples, n_classes)
        Logits: a NumPy array, or an array of any array API namespace.

    Returns
    -------
    log_proba : array of shape (n_samples, n_classes)
        Log-probabilities, finite for any finite logits, in the input's
        namespace and dtype (for NumPy in column-major order, like the built-in
        losses' arrays).

    Examples
    --------
    >>> import numpy as np
    >>> from sksoftmax.losses import log_softmax
    >>> log_softmax(np.array([[0.0, 1e4]]))
    array([[-10000.,      0.]])
    """
    xp = array_namespace(raw_prediction)
    shifted = _shifted(raw_prediction)
    shifted -= xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    return shifted


def softmax(raw_prediction):
    """Compute the softmax along axis 1 without overflow.

    Parameters
    ----------
    raw_prediction : array of shape (n_samples, n_classes)
        Logits: a NumPy array, or an array of any array API namespace.

    Returns
    -------
    proba : array of shape (n_samples, n_classes)
        Probabilities: each row is non-negative and sums to one. In the
        input's namespace (for NumPy in column-major order, like the built-in
        losses' arrays).

    Examples
    --------
    >>> import numpy as np
    >>> from sksoftmax.losses import softmax
    >>> softmax(np.array([[0.0, 0.0], [-1e4, 1e4]]))
    array([[0.5, 0.5],
           [0. , 1. ]])
    """
    xp = array_namespace(raw_prediction)
    proba = _shifted(raw_prediction)
    if xp is np:
        np.exp(proba, out=proba)
    else:
        proba = xp.exp(proba)
    proba /= xp.sum(proba, axis=1, keepdims=True)
    return proba


def _shifted(raw_prediction):
    """A copy of the logits minus each row's maximum, so that exp cannot overflow.

    The copy is column-major: NumPy reduces rows of a few classes about ten times
    faster in that layout, and elementwise operations do not care.
    """
    xp = array_namespace(raw_prediction)
    if xp is np:
        shifted = np.array(raw_prediction, order="F")
    else:
        shifted = xp.asarray(raw_prediction, copy=True)
    shifted -= xp.max(shifted, axis=1, keepdims=True)
    return shifted


def _through_softmax(proba, grad_proba):
    """Chain a gradient with respect to the probabilities back to the logits.

    The softmax Jacobian is ``diag(p) - p p^T``, so the product is
    ``p * (g - <p, g>)`` row by row: no ``(n_classes, n_classes)`` matrix is built.
    """
    xp = array_namespace(proba)
    return proba * (grad_proba - xp.sum(proba * grad_proba, axis=1, keepdims=True))


class BaseLoss(BaseEstimator):
    """Base class of the losses that :class:`~sksoftmax.SoftmaxRegression` takes.

    A loss maps targets and logits to one loss per sample and to the gradient of
    each sample's loss with respect to its logits. The model's probabilities are
    ``softmax(raw_prediction)``; a loss of probabilities chains its gradient
    through the softmax Jacobian itself.

    A subclass implements :meth:`loss` and :meth:`gradient`; it may override
    :meth:`loss_gradient` when both share work (the estimator calls it once per
    minibatch). Parameters of the loss are ``__init__`` keyword arguments stored
    unchanged, as for scikit-learn estimators, so losses can be cloned, pickled
    and searched over (``GridSearchCV(..., {"loss__delta": [0.1, 0.5]})``).
    Sample and class weights are applied by the estimator, not by the loss.

    Any object with ``loss`` and ``gradient`` methods of these signatures is
    accepted; subclassing only adds the helpers below.

    The arrays a loss receives are of the data's namespace: NumPy, or under
    scikit-learn's array API dispatch those of PyTorch, CuPy, ... on their
    device. A loss that computes with ``xp = array_namespace(raw_prediction)``
    (see :func:`array_namespace`) and returns arrays of that namespace serves
    them all; the built-in losses do.

    Attributes
    ----------
    differentiable : bool
        Whether the loss is differentiable everywhere. When False,
        :meth:`gradient` returns a subgradient.

    See Also
    --------
    CrossEntropyLoss : The default loss.

    Notes
    -----
    Shapes and dtypes: ``y_true`` and ``raw_prediction`` are both
    ``(n_samples, n_classes)`` arrays of the same floating dtype (float32 or
    float64); :meth:`loss` returns ``(n_samples,)`` and :meth:`gradient`
    ``(n_samples, n_classes)``, in that dtype. ``y_true`` is one-hot for hard
    labels; any rows of non-negative numbers that sum to one (soft labels) are
    valid too.

    Examples
    --------
    A mean absolute error on the log-probabilities, written from scratch:

    >>> import numpy as np
    >>> from sksoftmax.losses import BaseLoss, log_softmax, softmax
    >>> class NegLogLikelihood(BaseLoss):
    ...     def loss(self, y_true, raw_prediction):
    ...         return -(y_true * log_softmax(raw_prediction)).sum(axis=1)
    ...     def gradient(self, y_true, raw_prediction):
    ...         return softmax(raw_prediction) - y_true
    >>> y_true = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> logits = np.zeros((2, 2))
    >>> round(NegLogLikelihood()(y_true, logits), 4)
    0.6931
    """

    differentiable = True
    # Checked by SoftmaxRegression before training, as for estimators.
    _parameter_constraints: dict = {}

    def loss(self, y_true, raw_prediction):
        """Compute the per-sample loss.

        Parameters
        ----------
        y_true : ndarray of shape (n_samples, n_classes)
            One-hot or soft-label targets.
        raw_prediction : ndarray of shape (n_samples, n_classes)
            Logits.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            The loss of each sample.
        """
        raise NotImplementedError

    def gradient(self, y_true, raw_prediction):
        """Compute the gradient of each sample's loss with respect to its logits.

        Parameters
        ----------
        y_true : ndarray of shape (n_samples, n_classes)
            One-hot or soft-label targets.
        raw_prediction : ndarray of shape (n_samples, n_classes)
            Logits.

        Returns
        -------
        gradient : ndarray of shape (n_samples, n_classes)
            Row ``i`` is the gradient of ``loss[i]`` with respect to
            ``raw_prediction[i]``.
        """
        raise NotImplementedError

    def loss_gradient(self, y_true, raw_prediction):
        """Compute the per-sample loss and gradient in one call.

        Parameters
        ----------
        y_true : ndarray of shape (n_samples, n_classes)
            One-hot or soft-label targets.
        raw_prediction : ndarray of shape (n_samples, n_classes)
            Logits.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            The loss of each sample.
        gradient : ndarray of shape (n_samples, n_classes)
            The gradient of each sample's loss with respect to its logits.
        """
        return self.loss(y_true, raw_prediction), self.gradient(y_true, raw_prediction)

    def __call__(self, y_true, raw_prediction, sample_weight=None):
        """Compute the weighted mean loss.

        Parameters
        ----------
        y_true : ndarray of shape (n_samples, n_classes)
            One-hot or soft-label targets.
        raw_prediction : ndarray of shape (n_samples, n_classes)
            Logits.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples; None weighs them equally.

        Returns
        -------
        loss : float
            The (weighted) mean of :meth:`loss`.
        """
        loss = self.loss(y_true, raw_prediction)
        xp = array_namespace(loss)
        if sample_weight is None:
            return float(xp.mean(loss))
        weights = xp.asarray(sample_weight, dtype=loss.dtype, device=device_of(loss))
        return float(xp.sum(weights * loss) / xp.sum(weights))


class CrossEntropyLoss(BaseLoss):
    r"""Cross-entropy of the softmax probabilities (multinomial log loss).

    :math:`\ell(y, z) = \log \sum_k e^{z_k} - \sum_k \tilde y_k z_k` with
    :math:`\tilde y = (1 - \varepsilon) y + \varepsilon / K`; its gradient with
    respect to the logits is :math:`\operatorname{softmax}(z) - \tilde y`.

    Parameters
    ----------
    label_smoothing : float, default=0.0
        :math:`\varepsilon` in [0, 1): the weight moved from the target class to
        a uniform distribution over the ``K`` classes, which keeps logits from
        growing without bound on separable data.

    See Also
    --------
    FocalLoss : Cross-entropy that down-weights well-classified samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sksoftmax.losses import CrossEntropyLoss

    A confidently wrong logit costs its size, not ``inf``:

    >>> y_true = np.array([[0.0, 1.0, 0.0]])
    >>> CrossEntropyLoss().loss(y_true, np.array([[1e4, 0.0, 0.0]]))
    array([10000.])
    """

    _parameter_constraints: dict = {
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, label_smoothing=0.0):
        self.label_smoothing = label_smoothing

    def _smoothed(self, y_true):
        if not self.label_smoothing:
            return y_true
        eps = float(self.label_smoothing)  # a Python float mixes with any namespace
        return (1 - eps) * y_true + eps / y_true.shape[1]

    def loss(self, y_true, raw_prediction):
        target_log_proba = self._smoothed(y_true) * log_softmax(raw_prediction)
        return -array_namespace(raw_prediction).sum(target_log_proba, axis=1)

    def gradient(self, y_true, raw_prediction):
        return softmax(raw_prediction) - self._smoothed(y_true)

    def loss_gradient(self, y_true, raw_prediction):
        # log_softmax and softmax in one pass: a single exp.
        xp = array_namespace(raw_prediction)
        target = self._smoothed(y_true)
        shifted = _shifted(raw_prediction)
        proba = xp.exp(shifted)
        total = xp.sum(proba, axis=1, keepdims=True)
        loss = xp.log(total[:, 0]) - xp.sum(target * shifted, axis=1)
        proba /= total
        proba -= target
        return loss, proba


class _ResidualLoss(BaseLoss):
    """A loss summed over classes of the residuals ``softmax(z) - y``.

    Subclasses give the loss of a residual and its derivative; the chain through
    the softmax Jacobian lives here once.
    """

    def _residual_loss(self, residual):
        raise NotImplementedError

    def _residual_derivative(self, residual):
        raise NotImplementedError

    def loss(self, y_true, raw_prediction):
        residual_loss = self._residual_loss(softmax(raw_prediction) - y_true)
        return array_namespace(raw_prediction).sum(residual_loss, axis=1)

    def gradient(self, y_true, raw_prediction):
        return self.loss_gradient(y_true, raw_prediction)[1]

    def loss_gradient(self, y_true, raw_prediction):
        proba = softmax(raw_prediction)
        residual = proba - y_true
        loss = array_namespace(residual).sum(self._residual_loss(residual), axis=1)
        return loss, _through_softmax(proba, self._residual_derivative(residual))


class SquaredErrorLoss(_ResidualLoss):
    r"""Squared error between the probabilities and the targets (Brier score).

    :math:`\ell(y, z) = \sum_k (p_k - y_k)^2` with
    :math:`p = \operatorname{softmax}(z)`, the multiclass Brier score. Its
    gradient with respect to the logits is
    :math:`J^\top 2 (p - y)`, :math:`J = \operatorname{diag}(p) - p p^\top`.
    Bounded in [0, 2], so single mislabelled samples weigh less than with the
    cross-entropy, but it also learns more slowly from confident mistakes.

    See Also
    --------
    HuberLoss : Squared near zero, linear further out.

    Examples
    --------
    >>> import numpy as np
    >>> from sksoftmax.losses import SquaredErrorLoss
    >>> SquaredErrorLoss().loss(np.array([[1.0, 0.0]]), np.zeros((1, 2)))
    array([0.5])
    """

    def _residual_loss(self, residual):
        return residual**2

    def _residual_derivative(self, residual):
        return 2 * residual


class AbsoluteErrorLoss(_ResidualLoss):
    r"""Absolute error (L1) between the probabilities and the targets.

    :math:`\ell(y, z) = \sum_k |p_k - y_k|`, which for a one-hot target is
    :math:`2 (1 - p_y)`. Its (sub)gradient with respect to the logits is
    :math:`J^\top \operatorname{sign}(p - y)`. The most robust of the built-ins
    to label noise, and the slowest to train: its gradient vanishes both for
    confident right and confident wrong predictions.

    See Also
    --------
    SquaredErrorLoss : The squared residuals instead of their absolute values.

    Examples
    --------
    >>> import numpy as np
    >>> from sksoftmax.losses import AbsoluteErrorLoss
    >>> AbsoluteErrorLoss().loss(np.array([[1.0, 0.0]]), np.zeros((1, 2)))
    array([1.])
    """

    differentiable = False

    def _residual_loss(self, residual):
        return array_namespace(residual).abs(residual)

    def _residual_derivative(self, residual):
        return array_namespace(residual).sign(residual)


class HuberLoss(_ResidualLoss):
    r"""Huber loss of the residuals between the probabilities and the targets.

    For each class, :math:`h(r) = r^2 / 2` when :math:`|r| \le \delta` and
    :math:`\delta (|r| - \delta / 2)` beyond, with :math:`r = p_k - y_k`; the loss
    sums :math:`h` over classes. Its gradient with respect to the logits is
    :math:`J^\top \operatorname{clip}(r, -\delta, \delta)`. Residuals lie in
    [-1, 1], so ``delta >= 1`` gives half the squared error and small ``delta``
    approaches ``delta`` times the absolute error.

    Parameters
    ----------
    delta : float, default=0.5
        The residual beyond which the loss grows linearly; must be positive.

    See Also
    --------
    SquaredErrorLoss : The limit of large ``delta`` (up to a factor 2).
    AbsoluteErrorLoss : The limit of small ``delta`` (up to a factor ``delta``).

    Examples
    --------
    >>> import numpy as np
    >>> from sksoftmax.losses import HuberLoss
    >>> HuberLoss(delta=0.25).loss(np.array([[1.0, 0.0]]), np.zeros((1, 2)))
    array([0.1875])
    """

    _parameter_constraints: dict = {
        "delta": [Interval(Real, 0, None, closed="neither")]
    }

    def __init__(self, delta=0.5):
        self.delta = delta

    def _residual_loss(self, residual):
        xp = array_namespace(residual)
        abs_residual = xp.abs(residual)
        quadratic = xp.clip(abs_residual, max=float(self.delta))
        return quadratic * (abs_residual - 0.5 * quadratic)

    def _residual_derivative(self, residual):
        delta = float(self.delta)
        return array_namespace(residual).clip(residual, min=-delta, max=delta)


class FocalLoss(BaseLoss):
    r"""Focal loss: cross-entropy that down-weights well-classified samples.

    :math:`\ell(y, z) = -\sum_k y_k (1 - p_k)^\gamma \log p_k` (Lin et al., 2017).
    ``gamma=0`` is the cross-entropy; larger ``gamma`` focuses training on the
    hard samples. The gradient is computed from log-probabilities, so it stays
    finite for any finite logits.

    Parameters
    ----------
    gamma : float, default=2.0
        The focusing exponent, non-negative.

    See Also
    --------
    CrossEntropyLoss : The case ``gamma=0``.

    Examples
    --------
    >>> import numpy as np
    >>> from sksoftmax.losses import FocalLoss
    >>> FocalLoss(gamma=2.0).loss(np.array([[1.0, 0.0]]), np.zeros((1, 2))).round(4)
    array([0.1733])
    """

    _parameter_constraints: dict = {"gamma": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, gamma=2.0):
        self.gamma = gamma

    def loss(self, y_true, raw_prediction):
        xp = array_namespace(raw_prediction)
        log_proba = log_softmax(raw_prediction)
        focal = (-xp.expm1(log_proba)) ** float(self.gamma)
        return -xp.sum(y_true * focal * log_proba, axis=1)

    def gradient(self, y_true, raw_prediction):
        return self.loss_gradient(y_true, raw_prediction)[1]

    def loss_gradient(self, y_true, raw_prediction):
        xp = array_namespace(raw_prediction)
        log_proba = log_softmax(raw_prediction)
        proba = xp.exp(log_proba)
        complement = -xp.expm1(log_proba)  # 1 - p, accurate when p is near 1
        gamma = float(self.gamma)
        focal = complement**gamma
        loss = -xp.sum(y_true * focal * log_proba, axis=1)
        # p_k * dloss/dp_k, written without 1/p_k. (1 - p)^(gamma - 1) is taken as
        # focal / (1 - p): it multiplies p log p, which -> 0 as p -> 1.
        tiny = xp.finfo(proba.dtype).smallest_normal
        gamma_term = gamma * focal / xp.clip(complement, min=tiny)
        scaled = y_true * (gamma_term * proba * log_proba - focal)
        return loss, scaled - proba * xp.sum(scaled, axis=1, keepdims=True)


# Names accepted by ``SoftmaxRegression(loss=...)``: scikit-learn's names first,
# then short aliases.
LOSSES = {
    "log_loss": CrossEntropyLoss,
    "cross_entropy": CrossEntropyLoss,
    "squared_error": SquaredErrorLoss,
    "mse": SquaredErrorLoss,
    "absolute_error": AbsoluteErrorLoss,
    "l1": AbsoluteErrorLoss,
    "huber": HuberLoss,
    "focal": FocalLoss,
}
