"""The right model on any data, or an error that names the cause (issue 11).

Each test states what a user switching from LogisticRegression would notice.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
    make_gaussian_quantiles,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import (
    StratifiedKFold,
    StratifiedShuffleSplit,
    cross_validate,
    train_test_split,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sksoftmax import SoftmaxRegression, _optim
from sksoftmax.losses import CrossEntropyLoss, FocalLoss, HuberLoss, log_softmax


def _badly_scaled():
    """Columns in units from 1e-3 to 1e4, as raw measurements can be."""
    X, y = make_classification(
        n_samples=3000, n_features=20, n_informative=10, n_classes=4, random_state=0
    )
    scales = np.logspace(-3, 4, X.shape[1])
    np.random.default_rng(0).shuffle(scales)
    return X * scales, y


DATASETS = {
    "iris": lambda: load_iris(return_X_y=True),
    "wine": lambda: load_wine(return_X_y=True),
    "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
    "digits": lambda: load_digits(return_X_y=True),
    "badly_scaled": _badly_scaled,
}


def _cross_validated(estimator, X, y):
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # LogisticRegression's
        scores = cross_validate(
            estimator, X, y, cv=cv, scoring=["accuracy", "neg_log_loss"]
        )
    return scores["test_accuracy"].mean(), -scores["test_neg_log_loss"].mean()


@pytest.mark.parametrize("scaled", [False, True], ids=["raw", "standardized"])
@pytest.mark.parametrize("name", list(DATASETS))
def test_defaults_reach_logistic_regression(name, scaled):
    X, y = DATASETS[name]()
    ours, reference = SoftmaxRegression(random_state=0), LogisticRegression()
    if scaled:
        ours, reference = (
            make_pipeline(StandardScaler(), e) for e in (ours, reference)
        )
    accuracy, loss = _cross_validated(ours, X, y)
    reference_accuracy, reference_loss = _cross_validated(reference, X, y)
    assert accuracy >= reference_accuracy - 0.005
    assert loss <= reference_loss + 0.01


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "badly_scaled"])
@pytest.mark.parametrize(
    "change", ["times 1e-3", "times 1e4", "noise column of std 1e4"]
)
def test_without_penalty_feature_scales_do_not_matter(name, change):
    X, y = DATASETS[name]()
    X = StandardScaler().fit_transform(X) if name != "badly_scaled" else X
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )

    def changed(X):
        if change == "noise column of std 1e4":
            noise = np.random.default_rng(len(X)).normal(scale=1e4, size=len(X))
            return np.column_stack([X, noise])
        X = X.copy()
        X[:, 1] *= 1e-3 if change == "times 1e-3" else 1e4
        return X

    def accuracy(X_train, X_test):
        clf = SoftmaxRegression(penalty=None, random_state=0).fit(X_train, y_train)
        return clf.score(X_test, y_test)

    before = accuracy(X_train, X_test)
    assert abs(accuracy(changed(X_train), changed(X_test)) - before) < 0.01


def test_the_issue_examples_give_good_models():
    # Found by users: each used to give a silently wrong model.
    X, y = make_classification(n_samples=2000, random_state=0)
    tiny = X * 0.01
    ours = SoftmaxRegression(random_state=0).fit(tiny, y)
    assert np.abs(ours.coef_).max() < 1e4
    reference = LogisticRegression().fit(tiny, y)
    assert ours.score(tiny, y) >= reference.score(tiny, y) - 0.005
    X, y = load_iris(return_X_y=True)
    assert SoftmaxRegression(alpha=2, random_state=0).fit(X, y).score(X, y) > 0.6


def _problem():
    X, y = make_classification(
        n_samples=600,
        n_features=8,
        n_informative=5,
        n_classes=3,
        flip_y=0.1,
        class_sep=0.7,
        random_state=0,
    )
    return X * np.array([1e-2, 1, 10, 100, 1, 1, 0.1, 3]), y  # raw units


@pytest.mark.parametrize("alpha", [1e-6, 1e-3, 1.0, 10.0])
def test_l2_optimum_is_logistic_regression_at_any_alpha(alpha):
    X, y = _problem()
    n = len(y)
    reference = LogisticRegression(C=1 / (alpha * n), tol=1e-12, max_iter=100_000)
    reference.fit(X, y)
    expected = reference.predict_proba(X)
    # Full batches: the objective's optimum, at both kinds of momentum.
    for momentum in ["auto", 0.9]:
        clf = SoftmaxRegression(
            alpha=alpha, batch_size=n, momentum=momentum, max_iter=300
        ).fit(X, y)
        assert_allclose(clf.predict_proba(X), expected, atol=1e-2)
    # Minibatches with momentum 0.9 reach it up to their noise, which is
    # largest where the penalty is stiff (alpha=1 on features of variance 1e-4:
    # their weights follow each minibatch's gradient).
    clf = SoftmaxRegression(alpha=alpha, max_iter=200, random_state=0).fit(X, y)
    assert_allclose(clf.predict_proba(X), expected, atol=6e-2)


@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 1.0), ("elasticnet", 0.5)])
def test_l1_and_elastic_net_optima_are_saga_s(penalty, l1_ratio):
    X, y = _problem()
    X = StandardScaler().fit_transform(X)
    alpha, n = 0.01, len(y)
    reference = LogisticRegression(
        C=1 / (alpha * n),
        l1_ratio=l1_ratio,
        solver="saga",
        tol=1e-10,
        max_iter=100_000,
    ).fit(X, y)
    params = dict(penalty=penalty, l1_ratio=l1_ratio, alpha=alpha, max_iter=200)
    for batch in [{"batch_size": n, "momentum": 0.9}, {"random_state": 0}]:
        clf = SoftmaxRegression(**params, **batch).fit(X, y)
        assert np.abs(clf.coef_ - reference.coef_).max() < 0.05, batch
    # Full batches find the same exact zeros.
    full = SoftmaxRegression(**params, batch_size=n, momentum=0.9).fit(X, y)
    assert_array_equal(full.coef_ == 0, reference.coef_ == 0)


def test_minibatch_l1_finds_most_of_the_optimum_s_zeros():
    # Minibatch noise kicks weights out of the L1 threshold at every step: 7%
    # of the weights were zero where the optimum (full batches, as saga) has
    # 88%. A full-batch proximal step at the end of fit sets them to zero.
    X, y = make_classification(
        n_samples=3500, n_features=100, n_informative=10, n_classes=3, random_state=0
    )
    params = dict(penalty="l1", alpha=0.01)
    optimum = SoftmaxRegression(**params, batch_size=len(y), max_iter=300).fit(X, y)
    clf = SoftmaxRegression(**params, random_state=0).fit(X, y)
    zeros = clf.coef_ == 0
    assert zeros.mean() > 0.8 * (optimum.coef_ == 0).mean() > 0.6
    assert not (zeros & (optimum.coef_ != 0)).any()  # no weight wrongly dropped
    assert np.abs(clf.coef_ - optimum.coef_).max() < 0.05


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_binary_elastic_net_optimum_is_saga_s_with_the_documented_mapping(l1_ratio):
    # Two classes: the L2 part of the penalty halves, the L1 part does not.
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:200])
    y = y[:200]
    alpha, n = 0.01, len(y)
    reference = LogisticRegression(
        C=2 / (alpha * n * (1 + l1_ratio)),
        l1_ratio=2 * l1_ratio / (1 + l1_ratio),
        solver="saga",
        tol=1e-10,
        max_iter=100_000,
    ).fit(X, y)
    clf = SoftmaxRegression(
        penalty="elasticnet",
        l1_ratio=l1_ratio,
        alpha=alpha,
        batch_size=n,
        momentum=0.9,
        max_iter=5000,
    ).fit(X, y)
    # The mappings of the other penalties' formulas are 0.066 to 0.14 off here.
    assert np.abs(clf.coef_ - reference.coef_).max() < 0.02


def _objective(clf, X, y):
    """Mean cross-entropy plus the L2 penalty of alpha="auto", as documented."""
    n_classes = clf.classes_.size
    log_proba = clf.predict_log_proba(X)
    loss = -log_proba[np.arange(len(y)), np.searchsorted(clf.classes_, y)].mean()
    coef = clf.coef_ if n_classes > 2 else np.vstack([-clf.coef_, clf.coef_]) / 2
    return loss + 0.5 / len(y) * (1 if n_classes > 2 else 2) * float((coef**2).sum())


@pytest.mark.parametrize("alpha", [1e3, 1e6])
def test_huge_alpha_gives_the_class_frequencies(alpha):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)  # no feature in units that dodge alpha
    clf = SoftmaxRegression(alpha=alpha, random_state=0).fit(X, y)
    frequencies = np.bincount(y) / len(y)
    assert_allclose(clf.predict_proba(X), np.tile(frequencies, (len(y), 1)), atol=0.02)


@pytest.mark.parametrize("name", list(DATASETS))
def test_a_fit_is_never_worse_than_the_all_zero_model(name):
    X, y = DATASETS[name]()
    clf = SoftmaxRegression(random_state=0).fit(X, y)
    zero_model_loss = np.log(clf.classes_.size)
    assert _objective(clf, X, y) < zero_model_loss
    assert np.isfinite(clf.loss_curve_).all()


@pytest.mark.parametrize("offset", [1e4, 1e6])
def test_float32_features_far_from_zero_train_as_float64_would(offset):
    # Logits of uncentred float32 features a million standard deviations from
    # zero are rounding noise: the fit used to raise "diverged" or score below
    # the majority class. Such data trains in float64; ordinary float32 data
    # stays float32.
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    expected, _ = _cross_validated(SoftmaxRegression(random_state=0), X, y)
    shifted = (X + offset).astype(np.float32)
    accuracy, _ = _cross_validated(SoftmaxRegression(random_state=0), shifted, y)
    assert accuracy >= expected - 0.01
    assert SoftmaxRegression().fit(shifted, y).coef_.dtype == np.float64
    plain = X.astype(np.float32) + np.float32(10)
    assert SoftmaxRegression().fit(plain, y).coef_.dtype == np.float32


def _one_feature_in_units(scale, dtype):
    """Three features, the class carried by the third, which is in ``scale``."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 2] > 0).astype(int)
    X[:, 2] *= scale
    return X.astype(dtype), y


@pytest.mark.parametrize(
    "dtype, scale",
    [
        (np.float32, 1e-20),
        (np.float32, 1e25),
        (np.float64, 1e-100),
        (np.float64, 1e100),
    ],
)
def test_features_in_extreme_units_still_train(dtype, scale):
    # float32 cannot hold these features' standardized steps (it used to drop
    # the feature silently, or raise "diverged"): they train in float64.
    X, y = _one_feature_in_units(scale, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow leaks out either
        clf = SoftmaxRegression(penalty=None, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.97


def test_float32_features_of_huge_variance_still_train():
    # The variance (3e35) fits float32, the sum of squared deviations over
    # 20,000 rows (7e38) does not: the moments keep it in float64.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20_000)
    X = rng.standard_normal((20_000, 3))
    X[:, 0] = (X[:, 0] + 3 * y) * 1e17  # the class is in this feature only
    expected = SoftmaxRegression(random_state=0).fit(X, y).score(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in a cast either
        clf = SoftmaxRegression(random_state=0).fit(X.astype(np.float32), y)
    assert clf.coef_.dtype == np.float32
    assert clf.score(X.astype(np.float32), y) == pytest.approx(expected, abs=1e-3)
    assert expected > 0.9


@pytest.mark.parametrize("scale", [1e-160, 1e160])
def test_features_float64_cannot_standardize_are_named(scale):
    X, y = _one_feature_in_units(scale, np.float64)
    with pytest.raises(ValueError, match=r"Features \[2\] .*power of ten"):
        SoftmaxRegression().fit(X, y)
    X[:, 2] /= scale  # as the message says
    assert SoftmaxRegression(random_state=0).fit(X, y).score(X, y) > 0.97


# scikit-learn's check for NaN/inf sums X, which overflows here.
@pytest.mark.filterwarnings("ignore:invalid value encountered in reduce")
def test_a_feature_whose_range_overflows_is_named():
    X, y = _one_feature_in_units(1.0, np.float64)
    X[:, 2] = np.where(y == 1, 1e308, -1e308)  # the range, 2e308, overflows
    with pytest.raises(ValueError, match=r"Features \[2\] .*power of ten"):
        SoftmaxRegression().fit(X, y)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_feature_varying_only_in_samples_of_zero_weight_is_constant(sparse):
    # Weighted, it does not vary: no step, as LogisticRegression gives it.
    X, y = load_digits(return_X_y=True)
    weights = np.random.default_rng(0).integers(0, 4, len(y)).astype(float)
    X[weights == 0, 0] = 1.0  # 0 in every sample of positive weight
    if sparse:
        X = sp.csr_matrix(X)
    clf = SoftmaxRegression(random_state=0).fit(X, y, sample_weight=weights)
    assert clf.score(X, y, sample_weight=weights) > 0.97


def test_rows_far_outside_the_others_are_named():
    # One row in 1,797 multiplied by 100 holds half of the variance: every
    # feature's step is scaled to it and the other rows are learned slowly.
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none for the data as they are
        SoftmaxRegression(random_state=0).fit(X, y)
    X[7] *= 100
    with pytest.warns(UserWarning, match=r"Rows \[7\] of X hold [4-9]\d%"):
        SoftmaxRegression(random_state=0).fit(X, y)


def test_negative_sample_weights_are_named():
    X, y = load_iris(return_X_y=True)
    weights = np.ones(len(y))
    weights[0] = -1
    with pytest.raises(ValueError, match="must not be negative"):
        SoftmaxRegression().fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("dtype, value", [(np.float64, 5e307), (np.float32, 1e38)])
def test_probabilities_are_finite_for_every_finite_input(dtype, value):
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(random_state=0).fit(X.astype(dtype), y)
    extreme = np.array(
        [[value] * 4, [-value] * 4, [value, -value, value, 0], [0, 0, 0, 0]]
    )
    for X_new in (extreme, extreme.astype(dtype), extreme.astype(np.float64)):
        proba = clf.predict_proba(X_new)
        log_proba = clf.predict_log_proba(X_new)
        assert np.isfinite(proba).all() and np.isfinite(log_proba).all()
        assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
        assert_array_equal(clf.predict(X_new), clf.classes_[proba.argmax(axis=1)])
    # Far along a row's direction, its most likely class takes everything.
    direction = X[100:101]
    far = clf.predict_proba(direction * (value / direction.max()))
    assert far.max() == 1 and far.argmax() == clf.predict(direction)[0]
    # Scores are infinite beyond the range, never NaN (inf - inf); float64
    # input on a float32 model overflows on conversion.
    huge = direction * 1e300
    scores = clf.decision_function(huge)
    assert not np.isnan(scores).any()
    assert scores.argmax() == clf.predict(huge)[0]


def test_constant_features_and_identical_rows_give_the_class_frequencies():
    y = np.array([0] * 10 + [1] * 30 + [2] * 60)
    frequencies = np.array([0.1, 0.3, 0.6])
    for X in (
        np.ones((100, 3)),
        np.full((100, 2), 1e-30),
        np.tile([3.0, -7], (100, 1)),
    ):
        proba = SoftmaxRegression(random_state=0).fit(X, y).predict_proba(X[:1])
        assert_allclose(proba[0], frequencies, atol=1e-3)
    X = np.column_stack([np.zeros(100), np.arange(100.0) % 7])  # one constant column
    clf = SoftmaxRegression(random_state=0).fit(X, y)
    assert np.isfinite(clf.coef_).all() and clf.coef_[:, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_all_zero_x_without_intercept_trains_to_even_odds(sparse):
    # No row has any norm: there is nothing to draw by importance (the
    # probabilities were 0 / 0), and nothing to learn.
    X = np.zeros((1000, 3))
    y = np.arange(1000) % 2
    clf = SoftmaxRegression(fit_intercept=False, random_state=0)
    clf.fit(sp.csr_matrix(X) if sparse else X, y)
    assert_allclose(clf.predict_proba(X[:1]), [[0.5, 0.5]])


def test_cosine_runs_its_budget_whatever_tol():
    X, y = load_wine(return_X_y=True)
    clf = SoftmaxRegression(max_iter=50, tol=1.0, n_iter_no_change=2).fit(X, y)
    assert clf.n_iter_ == 50
    # The other schedules still stop by the rule.
    constant = SoftmaxRegression(
        learning_rate="constant", max_iter=50, tol=1.0, n_iter_no_change=2
    ).fit(X, y)
    assert constant.n_iter_ == 1 + 2


def test_early_stopping_on_small_data_trains_as_long_as_it_improves():
    # One batch: an epoch is one step, and 15 validation samples saturate.
    # The patience spans at least 50 steps per n_iter_no_change, and of the
    # epochs that score alike the last is kept (0.82, 0.78 and 1.0 before, log
    # losses up to 0.66).
    X, y = load_iris(return_X_y=True)
    X, X_test, y, y_test = train_test_split(
        X, y, test_size=0.3, random_state=1, stratify=y
    )
    expected = LogisticRegression().fit(X, y).score(X_test, y_test)
    losses = []
    for seed in range(3):
        clf = SoftmaxRegression(early_stopping=True, random_state=seed).fit(X, y)
        assert clf.score(X_test, y_test) >= expected - 0.005
        losses.append(log_loss(y_test, clf.predict_proba(X_test)))
    assert np.mean(losses) < 0.22  # LogisticRegression: 0.165


def test_max_iter_auto_gives_small_data_enough_steps():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(random_state=0).fit(X, y)
    assert clf.n_iter_ == 500  # one full-batch step per epoch
    X, y = load_digits(return_X_y=True)
    steps_per_epoch = int(np.ceil(len(y) / 256))
    assert SoftmaxRegression(random_state=0).fit(X, y).n_iter_ == int(
        np.ceil(500 / steps_per_epoch)
    )


def test_batch_size_one_trains():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    clf = SoftmaxRegression(batch_size=1, max_iter=3, random_state=0)
    clf.fit(X_train, y_train)
    assert log_loss(y_test, clf.predict_proba(X_test)) < 0.3


# ---------------------------------------------------------- scikit-learn semantics


def test_partial_fit_refuses_early_stopping():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="partial_fit does not support early_stop"):
        SoftmaxRegression(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_training_continues_from_the_published_coefficients():
    X, y = load_digits(return_X_y=True)
    clf = SoftmaxRegression(random_state=0, max_iter=10).fit(X, y)
    clf.coef_ = np.zeros_like(clf.coef_)
    clf.intercept_ = np.zeros_like(clf.intercept_)
    # A step this small barely moves: the result is near what was written.
    clf.set_params(eta0=1e-9, learning_rate="constant")
    clf.partial_fit(X, y)
    assert np.abs(clf.coef_).max() < 1e-3
    # warm_start too, after early stopping restored an earlier epoch.
    early = SoftmaxRegression(
        early_stopping=True,
        learning_rate="constant",
        eta0=1.0,
        max_iter=15,
        tol=None,
        random_state=0,
        warm_start=True,
    ).fit(X, y)
    published = early.coef_.copy()
    early.set_params(eta0=1e-9, max_iter=1, early_stopping=False).fit(X, y)
    assert_allclose(early.coef_, published, atol=1e-4)


def test_warm_start_refuses_new_classes_or_features():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(warm_start=True, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="3 features.*expecting 4"):
        clf.fit(X[:, :3], y)
    assert clf.n_features_in_ == 4 and clf.classes_.tolist() == [0, 1, 2]


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_written_coefficients_of_the_wrong_shape_are_named(method):
    # Training continues from coef_ and intercept_, which users may write:
    # a wrong shape used to train a 3-class model on 2 classes, silently.
    X, y = load_iris(return_X_y=True)
    for classes, rows in [(2, 1), (3, 3)]:
        keep = y < classes
        clf = SoftmaxRegression(warm_start=True, max_iter=2, random_state=0)
        clf.partial_fit(X[keep], y[keep], classes=np.arange(classes))
        train = getattr(clf, method)
        for coef, intercept in [
            (np.zeros((rows + 1, 4)), np.zeros(rows)),
            (np.zeros((rows, 4)), np.zeros(rows + 1)),
        ]:
            clf.coef_, clf.intercept_ = coef, intercept
            with pytest.raises(ValueError, match=rf"need \({rows}, 4\) and"):
                train(X[keep], y[keep])
        clf.coef_, clf.intercept_ = np.full((rows, 4), np.nan), np.zeros(rows)
        with pytest.raises(ValueError, match="NaN or infinite"):
            train(X[keep], y[keep])


def test_validation_rows_stay_out_of_the_preconditioner():
    X, y = load_digits(return_X_y=True)
    clf = SoftmaxRegression(early_stopping=True, max_iter=2, random_state=0)
    clf.fit(X, y)
    n_validation = round(0.1 * len(y))
    assert clf.optimizer_state_["moments"]["weight"] == len(y) - n_validation


def test_all_zero_validation_weights_are_named():
    X, y = load_iris(return_X_y=True)
    # The split that random_state=0 makes, with no weight on its validation rows.
    split = StratifiedShuffleSplit(test_size=0.1, random_state=np.random.RandomState(0))
    validation = next(split.split(X, y))[1]
    weights = np.ones(len(y))
    weights[validation] = 0
    clf = SoftmaxRegression(early_stopping=True, random_state=0)
    with pytest.raises(ValueError, match="validation set are all zero"):
        clf.fit(X, y, sample_weight=weights)


def _heavy_tailed(n_samples=5000, seed=0):
    """Log-normal raw features (sigma 2) whose logarithms carry the class."""
    rng = np.random.RandomState(seed)
    X = rng.lognormal(0, 2, (n_samples, 10))
    y = (np.log(X[:, 0]) - np.log(X[:, 1]) + rng.randn(n_samples) > 0).astype(int)
    return X, y


def test_heavy_tailed_raw_features_reach_logistic_regression():
    # The few rows of extreme values used to cap the step of all the others:
    # test accuracy 10 points below LogisticRegression's, silently. They are
    # now drawn by importance: log loss 0.4029 against 0.4018 (5-fold, the
    # mean over 5 seeds), and accuracy 0.877 against 0.884 (0.885 with
    # max_iter=100, at the optimum's log loss: these rows are many models'
    # worth of accuracy apart, and one seed's accuracy scatters by a point).
    X, y = _heavy_tailed()
    accuracy, loss = _over_seeds(SoftmaxRegression(), X, y)
    lr_accuracy, lr_loss = _cross_validated(LogisticRegression(), X, y)
    assert accuracy >= lr_accuracy - 0.01
    assert loss <= lr_loss + 0.01


def _over_seeds(estimator, X, y, seeds=range(5)):
    """:func:`_cross_validated` (accuracy, log loss), the mean over seeds."""
    return np.mean(
        [
            _cross_validated(clone(estimator).set_params(random_state=seed), X, y)
            for seed in seeds
        ],
        axis=0,
    )


def _held_out_log_losses(X, y):
    """Test log losses of SoftmaxRegression() and LogisticRegression()."""
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # LogisticRegression's
        return [
            log_loss(y_test, model.fit(X_train, y_train).predict_proba(X_test))
            for model in (SoftmaxRegression(random_state=0), LogisticRegression())
        ]


def test_many_features_beside_the_batch_reach_logistic_regression():
    # 300 dense features beside minibatches of 256 rows: each step's gradient
    # is noisy in many directions at once, and the step that a minibatch's
    # curvature allows made the model noisy, silently (test log loss 0.888
    # against 0.826). The step now also keeps the noise stable: 0.815.
    X, y = make_classification(
        n_samples=6000,
        n_features=300,
        n_informative=50,
        n_redundant=0,
        n_classes=5,
        n_clusters_per_class=1,
        random_state=0,
    )
    loss, reference = _held_out_log_losses(X, y)
    assert loss <= reference + 0.01


def test_heavy_tailed_row_norms_reach_logistic_regression():
    # Degree-2 polynomial features of Gaussians: the squares and products
    # make a few rows' norms many times the others', which capped the step of
    # all the others (test log loss 0.143 against 0.086). Such rows are now
    # drawn by importance where that allows a step twice as large: 0.091.
    X, y = make_gaussian_quantiles(
        n_samples=4000, n_features=8, n_classes=3, random_state=0
    )
    loss, reference = _held_out_log_losses(PolynomialFeatures(2).fit_transform(X), y)
    assert loss <= reference + 0.01


def test_rows_of_activities_far_apart_reach_logistic_regression():
    # Event counts of users whose activity is log-normal: the busiest rows set
    # the step of all, and once the model is confident on them the loss barely
    # curves there; the step stayed that small (test log loss 0.216 against
    # 0.182). The curvature is now measured again at the weights: 0.186.
    rng = np.random.RandomState(0)
    activity = rng.lognormal(0, 1, 10_000)
    y = rng.randint(0, 5, 10_000)
    rates = (
        rng.dirichlet(np.full(100, 0.5), 5) * 0.6 + rng.dirichlet(np.ones(100)) * 0.4
    )
    X = rng.poisson(activity[:, None] * 30 * rates[y]).astype(float)
    loss, reference = _held_out_log_losses(X, y)
    assert loss <= reference + 0.01


def test_confidence_bounds_the_cross_entropy_curvature():
    # The step follows 4 max_k p_k (1 - p_k) at the weights: it must bound
    # twice the largest eigenvalue of the logits' curvature diag(p) - p p^T,
    # exactly so for two classes.
    rng = np.random.RandomState(0)
    for n_classes in (2, 3, 10):
        logits = rng.randn(200, n_classes) * rng.choice([0.1, 1, 10], (200, 1))
        factors = _optim.confidence(logits, np.eye(n_classes), np.zeros(n_classes))
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        curvatures = np.linalg.eigvalsh(
            np.einsum("ij,jk->ijk", proba, np.eye(n_classes))
            - proba[:, :, None] * proba[:, None, :]
        ).max(axis=1)
        assert np.all(curvatures <= factors / 2 + 1e-12)
        assert np.all(factors <= 1)
        if n_classes == 2:
            assert_allclose(curvatures, factors / 2, atol=1e-12)


def _word_counts(n_samples, n_words=300, n_classes=10, seed=0):
    """Raw word counts of documents whose lengths are log-normal."""
    rng = np.random.default_rng(seed)
    frequencies = np.tile(1.0 / np.arange(1, n_words + 1) ** 1.1, (n_classes, 1))
    for row in frequencies:  # each class favours words of its own
        row[rng.choice(n_words, 30, replace=False)] *= rng.lognormal(1, 1, 30)
    frequencies /= frequencies.sum(axis=1, keepdims=True)
    y = rng.integers(0, n_classes, n_samples)
    lengths = rng.lognormal(4, 0.8, n_samples).astype(int) + 5
    return sp.csr_matrix(rng.multinomial(lengths, frequencies[y]).astype(float)), y


def test_raw_word_counts_come_close_to_logistic_regression():
    # Long documents capped the step of all the others: test log loss 0.51
    # for sparse counts, 0.39 for the same counts dense (the longest rows were
    # looked for among all rows of sparse X only), against
    # LogisticRegression's 0.243. Drawn by importance: 0.295 and 0.296. The
    # rest of the gap is the budget (see the user guide's limits).
    X, y = _word_counts(10_000)
    sparse_loss, reference = _held_out_log_losses(X, y)
    dense_loss, _ = _held_out_log_losses(X.toarray(), y)
    assert sparse_loss <= reference + 0.06
    assert abs(sparse_loss - dense_loss) < 0.01


def test_balanced_class_weights_under_heavy_imbalance():
    # class_weight="balanced" on a 1:200 imbalance weighs the rare class 100
    # times the mean: the same mechanism, log loss 0.012 above
    # LogisticRegression's before; 0.003 now (the mean over 5 seeds: one
    # seed's scatters by 0.013).
    X, y = make_classification(
        10_000, 20, n_informative=5, weights=[0.995], flip_y=0, random_state=0
    )
    _, loss = _over_seeds(SoftmaxRegression(class_weight="balanced"), X, y)
    _, lr_loss = _cross_validated(LogisticRegression(class_weight="balanced"), X, y)
    assert loss <= lr_loss + 0.005


def test_a_few_heavy_sample_weights_no_longer_freeze_the_others():
    # 5 of 1,797 samples weighted 1e5 carry 99.6% of the objective; the others
    # must still be learned (LogisticRegression: training accuracy 0.99).
    # Uniform draws stopped at 0.46; drawn by importance, 0.81 (see the user
    # guide's limits of minibatch steps for the rest of the gap).
    X, y = load_digits(return_X_y=True)
    weights = np.ones(len(y))
    heavy = np.random.RandomState(0).choice(len(y), 5, replace=False)
    weights[heavy] = 1e5
    # The fit still falls short of the optimum, and says so, naming them.
    with pytest.warns(UserWarning, match=r"Rows \[[\d, ]+\] of X hold") as caught:
        clf = SoftmaxRegression(random_state=0).fit(X, y, sample_weight=weights)
    named = str(caught[0].message).split("]")[0].removeprefix("Rows [").split(", ")
    assert set(map(int, named)) <= set(heavy)
    assert clf.score(X, y) > 0.75


def test_balanced_weights_of_a_class_without_weight_name_it():
    # The class's balanced weight was infinite, its samples' weights NaN, and
    # the error blamed the features' scales.
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.r_[np.zeros(30, int), np.ones(9, int), [2]]
    weights = np.ones(40)
    weights[-1] = 0
    clf = SoftmaxRegression(class_weight="balanced")
    with pytest.raises(ValueError, match=r"classes \[2\]: all their samples"):
        clf.fit(X, y, sample_weight=weights)


def test_one_minibatch_of_all_rows_is_never_drawn_by_importance():
    # With momentum given, a single minibatch of all rows takes momentum
    # steps; its rows, heavy-tailed here, were marked as drawn by importance
    # and weighed so, but an epoch of one batch takes each row once: the fit
    # converged to a reweighted objective (coefficients 0.024 off).
    rng = np.random.default_rng(0)
    X = rng.standard_t(2, size=(2000, 10))
    y = np.argmax(X @ rng.normal(size=(10, 3)) + rng.gumbel(size=(2000, 3)), axis=1)
    reference = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    clf = SoftmaxRegression(batch_size=2000, momentum=0.9, max_iter=2000)
    clf.fit(X, y)
    centred = reference.coef_ - reference.coef_.mean(axis=0)
    assert_allclose(clf.coef_, centred, atol=1e-3)


def test_importance_sampling_is_unbiased_and_bounds_each_draw():
    rng = np.random.default_rng(0)
    curvatures = rng.lognormal(0, 2, size=1000)
    weights = rng.uniform(0, 3, size=1000)
    probabilities, draw_weights = _optim.importance_sampling(curvatures, weights)
    assert_allclose(probabilities.sum(), 1)
    # A draw of row i, of probability p_i and weight v_i, stands for weights_i:
    # the expected minibatch gradient is the full one.
    assert_allclose(1000 * probabilities * draw_weights, weights)
    load = curvatures * weights
    assert (draw_weights * curvatures).max() <= 2 * load.mean() * (1 + 1e-12)


def test_sample_weights_scale_does_not_change_the_model():
    X, y = load_wine(return_X_y=True)
    weights = np.random.default_rng(0).uniform(0.5, 2, size=len(y))
    alpha = 1 / len(y)
    small = SoftmaxRegression(alpha=alpha, random_state=0)
    small.fit(X, y, sample_weight=weights)
    large = SoftmaxRegression(alpha=alpha * 1e6, random_state=0)
    # Weights a million times larger with alpha a million times larger: the
    # same objective up to a factor, hence the same steps.
    large.fit(X, y, sample_weight=weights * 1e6)
    assert_allclose(large.predict_proba(X), small.predict_proba(X), atol=1e-6)


def test_a_failed_fit_keeps_the_parameter_objects():
    X, y = load_iris(return_X_y=True)
    loss, random_state, class_weight = (
        CrossEntropyLoss(),
        np.random.RandomState(0),
        {
            0: 1.0,
            1: 2.0,
            2: 1.0,
        },
    )
    clf = SoftmaxRegression(
        loss=loss, random_state=random_state, class_weight=class_weight, max_iter=3
    ).fit(X, y)
    coef = clf.coef_
    X_nan = X[:, :3].copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(X_nan, y)
    assert clf.loss is loss and clf.random_state is random_state
    assert clf.class_weight is class_weight and clf.coef_ is coef
    assert clf.n_features_in_ == 4


def test_a_failed_partial_fit_leaves_the_stream_as_it_was():
    # Its random state included: the stream goes on as if it was never made.
    X, y = load_digits(return_X_y=True)
    classes = np.unique(y)
    reference = SoftmaxRegression(eta0=0.01, random_state=0)
    reference.partial_fit(X[:600], y[:600], classes=classes)
    clf = pickle.loads(pickle.dumps(reference))
    with pytest.raises(ValueError, match="diverged"):
        clf.set_params(eta0=1e6).partial_fit(X[600:1200], y[600:1200])
    clf.set_params(eta0=0.01)
    for model in (reference, clf):
        model.partial_fit(X[600:1200], y[600:1200])
    assert_array_equal(clf.coef_, reference.coef_)


def test_fits_and_predictions_ignore_underflow_raised_by_the_caller():
    # Softmax tails and tiny steps underflow to zero by design, as in
    # scikit-learn's estimators under np.seterr(all="raise").
    X, y = load_digits(return_X_y=True)
    with np.errstate(all="raise"):
        for data in (X, sp.csr_matrix(X)):
            clf = SoftmaxRegression(random_state=0).fit(data, y)
            assert clf.score(data, y) > 0.95
            assert np.isfinite(clf.predict_log_proba(data * 100)).all()
        SoftmaxRegression(alpha=1e3).partial_fit(X, y, classes=np.unique(y))


def test_rows_in_a_fixed_order_of_classes_still_train():
    # shuffle=False on rows sorted by class: each minibatch meets a model
    # fitted to the classes before, so the epoch's running loss is above the
    # zero model's without any divergence ("eta0=0.03 is too large" before).
    X, y = load_digits(return_X_y=True)
    order = np.argsort(y, kind="stable")
    clf = SoftmaxRegression(shuffle=False, batch_size=64, eta0=0.03)
    assert clf.fit(X[order], y[order]).score(X, y) > 0.95


def test_balanced_class_weights_count_the_sample_weights():
    # As LogisticRegression: a sample of weight 3 is 3 copies of it.
    X, y = load_iris(return_X_y=True)
    weights = np.where(y == 0, 3, 1)
    params = dict(class_weight="balanced", batch_size=1000, max_iter=500)
    weighted = SoftmaxRegression(**params).fit(X, y, sample_weight=weights)
    copies = SoftmaxRegression(**params).fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights)
    )
    assert_allclose(weighted.coef_, copies.coef_, atol=1e-8)


def test_warnings_point_at_the_caller():
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning) as record:
        SoftmaxRegression(learning_rate="constant", max_iter=2).fit(X, y)
    assert record[0].filename == __file__


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "loss, match",
    [
        (CrossEntropyLoss(label_smoothing=1.5), "label_smoothing"),
        (HuberLoss(delta=-1), "delta"),
        (FocalLoss(gamma=-2), "gamma"),
    ],
)
def test_loss_parameters_are_validated(loss, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(InvalidParameterError, match=match):
        SoftmaxRegression(loss=loss).fit(X, y)


def test_a_loss_class_instead_of_an_instance_is_named():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match=r"pass an instance.*loss=HuberLoss\(\)"):
        SoftmaxRegression(loss=HuberLoss).fit(X, y)


class _ListLoss:
    def loss(self, y_true, raw_prediction):
        return list(-(y_true * log_softmax(raw_prediction)).sum(axis=1))

    def gradient(self, y_true, raw_prediction):
        return np.exp(log_softmax(raw_prediction)) - y_true


class _ComplexLoss(_ListLoss):
    def loss(self, y_true, raw_prediction):
        return np.asarray(super().loss(y_true, raw_prediction)) + 0j


class _NaNLoss(_ListLoss):
    def loss(self, y_true, raw_prediction):
        return np.full(len(y_true), np.nan)


@pytest.mark.parametrize(
    "loss, error, match",
    [
        (_ListLoss(), TypeError, "_ListLoss.loss must return a NumPy array.*list"),
        (_ComplexLoss(), TypeError, "real floating-point values.*complex"),
        (_NaNLoss(), ValueError, "_NaNLoss returned non-finite values"),
    ],
)
def test_a_malformed_user_loss_is_named(loss, error, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(error, match=match):
        SoftmaxRegression(loss=loss, max_iter=3).fit(X, y)


def test_divergence_from_a_given_eta0_names_it():
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match=r"diverged.*eta0=1000.0 is too large"):
        SoftmaxRegression(eta0=1e3, learning_rate="constant").fit(X, y)


def test_auto_step_backs_off_where_the_curvature_is_underestimated():
    X, y = load_digits(return_X_y=True)
    # A loss of curvature 10,000 times the cross-entropy's, for which the step
    # is sized (ten times steeper does not diverge: it saturates).
    steep = CrossEntropyLoss()

    class Steep(CrossEntropyLoss):
        def loss(self, y_true, raw_prediction):
            return steep.loss(y_true, 100 * raw_prediction)

        def gradient(self, y_true, raw_prediction):
            return 100 * steep.gradient(y_true, 100 * raw_prediction)

        def loss_gradient(self, y_true, raw_prediction):
            return self.loss(y_true, raw_prediction), self.gradient(
                y_true, raw_prediction
            )

    clf = SoftmaxRegression(loss=Steep(), random_state=0).fit(X, y)
    assert clf.optimizer_state_["eta_factor"] < 1  # backed off, then trained
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_a_short_last_batch_takes_its_share_of_the_penalty(penalty):
    # 257 samples: a batch of 256, then a batch of 1. Each takes its share of
    # the penalty's step, as of the loss's: a full step for the batch of 1
    # would weigh the penalty nearly twice.
    X, y = _problem()
    X, y = StandardScaler().fit_transform(X[:257]), y[:257]
    alpha, n = 0.01, 257
    solver = {"l2": "lbfgs", "l1": "saga"}[penalty]
    reference = LogisticRegression(
        C=1 / (alpha * n),
        l1_ratio=float(penalty == "l1"),
        solver=solver,
        tol=1e-10,
        max_iter=100_000,
    ).fit(X, y)
    clf = SoftmaxRegression(penalty=penalty, alpha=alpha, max_iter=1000, random_state=0)
    clf.fit(X, y)
    assert np.abs(clf.coef_ - reference.coef_).max() < 2e-3
    assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-3)
