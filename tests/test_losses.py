"""The loss protocol, the built-in losses and their use by the estimator."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sksoftmax import SoftmaxRegression
from sksoftmax.losses import (
    AbsoluteErrorLoss,
    BaseLoss,
    CrossEntropyLoss,
    FocalLoss,
    HuberLoss,
    SquaredErrorLoss,
    log_softmax,
    softmax,
)


class ClippedLogLoss(BaseLoss):
    """A user's loss: the log loss with probabilities clipped away from zero."""

    def __init__(self, floor=0.05):
        self.floor = floor

    def loss(self, y_true, raw_prediction):
        proba = self.floor + (1 - self.floor) * softmax(raw_prediction)
        return -(y_true * np.log(proba)).sum(axis=1)

    def gradient(self, y_true, raw_prediction):
        p = softmax(raw_prediction)
        clipped = self.floor + (1 - self.floor) * p
        grad_proba = -(1 - self.floor) * y_true / clipped
        return p * (grad_proba - (p * grad_proba).sum(axis=1, keepdims=True))


LOSSES = [
    CrossEntropyLoss(),
    CrossEntropyLoss(label_smoothing=0.1),
    SquaredErrorLoss(),
    AbsoluteErrorLoss(),
    HuberLoss(delta=0.3),
    FocalLoss(gamma=2.0),
    FocalLoss(gamma=0.5),
    ClippedLogLoss(),
]


def _problem(dtype, n_samples=40, n_classes=4, scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    raw = (scale * rng.standard_normal((n_samples, n_classes))).astype(dtype)
    y_true = np.eye(n_classes, dtype=dtype)[rng.integers(n_classes, size=n_samples)]
    return y_true, raw


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_gradient_matches_central_finite_differences(loss):
    y_true, raw = _problem(np.float64)
    # Soft labels too: the protocol accepts any rows on the simplex.
    soft = 0.7 * y_true + 0.3 * softmax(np.random.default_rng(1).normal(size=raw.shape))
    for target in (y_true, soft):
        step = 1e-6
        numeric = np.empty_like(raw)
        for k in range(raw.shape[1]):
            shift = np.zeros_like(raw)
            shift[:, k] = step
            plus = loss.loss(target, raw + shift)
            minus = loss.loss(target, raw - shift)
            numeric[:, k] = (plus - minus) / (2 * step)
        assert_allclose(loss.gradient(target, raw), numeric, rtol=1e-5, atol=1e-7)
        value, grad = loss.loss_gradient(target, raw)
        assert_allclose(value, loss.loss(target, raw))
        assert_allclose(grad, loss.gradient(target, raw))


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_give_finite_values_in_the_input_dtype(loss, dtype):
    y_true, raw = _problem(dtype, scale=1e4)
    raw[0] = [1e4, -1e4, 0, 0]
    value, grad = loss.loss_gradient(y_true, raw)
    assert value.shape == (len(raw),) and grad.shape == raw.shape
    assert value.dtype == dtype and grad.dtype == dtype
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    assert (value >= 0).all()


def test_cross_entropy_values():
    y_true = np.array([[0.0, 1.0, 0.0]])
    raw = np.array([[1.0, 2.0, 3.0]])
    expected = -np.log(np.exp(2) / np.exp([1, 2, 3]).sum())
    assert_allclose(CrossEntropyLoss().loss(y_true, raw), [expected])
    assert_allclose(CrossEntropyLoss()(y_true, raw), expected)
    assert_allclose(log_softmax(raw), np.log(softmax(raw)))
    # A confidently wrong logit of 1e4 costs 1e4, not inf.
    assert_allclose(CrossEntropyLoss().loss(y_true, np.array([[1e4, 0, 0]])), [1e4])


def test_residual_losses_relate_as_documented():
    y_true, raw = _problem(np.float64)
    residual = softmax(raw) - y_true
    assert_allclose(SquaredErrorLoss().loss(y_true, raw), (residual**2).sum(axis=1))
    assert_allclose(AbsoluteErrorLoss().loss(y_true, raw), np.abs(residual).sum(1))
    assert_allclose(
        HuberLoss(delta=1.0).loss(y_true, raw),
        0.5 * SquaredErrorLoss().loss(y_true, raw),
    )
    assert_allclose(
        FocalLoss(gamma=0).loss(y_true, raw), CrossEntropyLoss().loss(y_true, raw)
    )


def test_weighted_mean_call():
    y_true, raw = _problem(np.float64)
    weights = np.arange(len(raw), dtype=float)
    loss = SquaredErrorLoss()
    expected = (loss.loss(y_true, raw) * weights).sum() / weights.sum()
    assert_allclose(loss(y_true, raw, sample_weight=weights), expected)


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_losses_pickle_and_keep_their_parameters(loss):
    restored = pickle.loads(pickle.dumps(loss))
    assert restored.get_params() == loss.get_params()
    y_true, raw = _problem(np.float64)
    assert_allclose(restored.loss(y_true, raw), loss.loss(y_true, raw))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:1200], y[:1200], X[1200:], y[1200:]


@pytest.mark.parametrize(
    "loss",
    ["log_loss", "cross_entropy", "squared_error", "absolute_error", "huber", "focal"]
    + LOSSES,
    ids=repr,
)
def test_estimator_fits_every_loss_by_name_and_object(digits, loss):
    X, y, X_test, y_test = digits
    before = pickle.dumps(loss)
    clf = SoftmaxRegression(loss=loss, max_iter=20, random_state=0).fit(X, y)
    assert clf.score(X_test, y_test) > 0.85
    assert pickle.dumps(loss) == before  # the user's object is never modified
    assert isinstance(clf.loss_function_, BaseLoss)
    if not isinstance(loss, str):  # a copy: later changes to `loss` don't leak in
        assert clf.loss_function_ is not loss
        assert clf.loss_function_.get_params() == loss.get_params()


def test_a_duck_typed_loss_without_the_base_class_works(digits):
    X, y, X_test, y_test = digits

    class PlainLogLoss:
        def loss(self, y_true, raw_prediction):
            return -(y_true * log_softmax(raw_prediction)).sum(axis=1)

        def gradient(self, y_true, raw_prediction):
            return softmax(raw_prediction) - y_true

    clf = SoftmaxRegression(loss=PlainLogLoss(), random_state=0).fit(X, y)
    assert clf.score(X_test, y_test) > 0.9


def test_unknown_loss_names_and_objects_are_refused(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="'loss' parameter.*'log_loss'"):
        SoftmaxRegression(loss="hinge").fit(X, y)

    class NoGradient:
        def loss(self, y_true, raw_prediction):
            return np.zeros(len(y_true))

    with pytest.raises(ValueError, match="'loss' parameter.*gradient"):
        SoftmaxRegression(loss=NoGradient()).fit(X, y)

    class WrongShape(CrossEntropyLoss):
        def loss_gradient(self, y_true, raw_prediction):
            loss, grad = super().loss_gradient(y_true, raw_prediction)
            return loss, grad[:, :-1]

    with pytest.raises(ValueError, match=r"WrongShape.gradient must return shape"):
        SoftmaxRegression(loss=WrongShape()).fit(X, y)


def test_grid_search_over_loss_objects_and_their_parameters(digits):
    X, y, _, _ = digits
    grid = GridSearchCV(
        SoftmaxRegression(max_iter=10, random_state=0),
        [
            {"loss": [HuberLoss()], "loss__delta": [0.05, 0.5]},
            {"loss": [CrossEntropyLoss(label_smoothing=0.1), "squared_error"]},
        ],
        cv=3,
        error_score="raise",
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    deltas = list(grid.cv_results_["param_loss__delta"][:2])
    assert deltas == [0.05, 0.5]
    scores = grid.cv_results_["mean_test_score"]
    assert scores[0] != scores[1]  # the nested parameter reached the fitted loss
    assert grid.best_score_ > 0.85
    assert isinstance(grid.best_estimator_.loss_function_, BaseLoss)
