"""Behaviour of SoftmaxRegression that a scikit-learn user relies on."""

import math
import pickle
import tracemalloc

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
)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from sksoftmax import SoftmaxRegression
from sksoftmax.losses import CrossEntropyLoss


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.uint8), y  # 0..16 pixel counts, like small images


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_l2_optimum_is_logistic_regression(wine):
    # Mean loss + alpha * 0.5 ||W||^2 has LogisticRegression(C=1/(alpha n))'s optimum.
    X, y = wine
    alpha = 0.01
    reference = LogisticRegression(C=1 / (alpha * len(X)), tol=1e-12, max_iter=10_000)
    reference.fit(X, y)
    clf = SoftmaxRegression(
        alpha=alpha, batch_size=32, max_iter=300, tol=None, random_state=0
    ).fit(X, y)
    assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-2)


def test_binary_l2_optimum_is_logistic_regression_with_twice_the_c():
    # Two classes keep two penalized logits: W1 - W0 = w at the symmetric optimum
    # W1 = -W0 = w / 2, so the penalty is alpha * ||w||^2 / 4, i.e. C = 2/(alpha n).
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    alpha = 0.01
    reference = LogisticRegression(C=2 / (alpha * len(X)), tol=1e-12, max_iter=10_000)
    reference.fit(X, y)
    # Full-batch steps: this checks the objective, not the minibatch noise.
    clf = SoftmaxRegression(alpha=alpha, batch_size=len(X), max_iter=500, tol=None)
    clf.fit(X, y)
    assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-2)
    assert_allclose(clf.coef_, reference.coef_, atol=2e-2)


def test_raw_integer_pixels_need_no_scaler(digits):
    X, y = digits
    raw = SoftmaxRegression(random_state=0).fit(X[:1200], y[:1200])
    assert raw.score(X[1200:], y[1200:]) > 0.9
    # Scaling the features leaves the fitted model (up to the tiny L2 term) as is.
    scaled = SoftmaxRegression(random_state=0, alpha=0).fit(X[:1200] / 16.0, y[:1200])
    raw = SoftmaxRegression(random_state=0, alpha=0).fit(X[:1200], y[:1200])
    assert_allclose(
        scaled.predict_proba(X[1200:] / 16.0), raw.predict_proba(X[1200:]), atol=1e-4
    )


def test_pipeline_and_grid_search(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), SoftmaxRegression(random_state=0))
    search = GridSearchCV(
        pipe, {"softmaxregression__alpha": [1e-4, 1e-1]}, cv=3, error_score="raise"
    ).fit(X, y)
    assert search.best_params_ == {"softmaxregression__alpha": 1e-4}
    assert search.score(X, y) > 0.9


def test_clone_and_pickle_of_a_fitted_model(digits):
    X, y = digits
    clf = SoftmaxRegression(random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf)
    assert not hasattr(fresh, "coef_")
    assert_array_equal(fresh.fit(X, y).coef_, clf.coef_)  # same seed, same model


def test_partial_fit_in_chunks_matches_fit(digits):
    X, y = digits
    X_train, y_train, X_test, y_test = X[:1400], y[:1400], X[1400:], y[1400:]
    n_epochs, n_chunks = 6, 7
    # As many passes over the data as fit makes.
    fitted = SoftmaxRegression(max_iter=n_epochs, random_state=0)
    fitted.fit(X_train, y_train)
    # Each partial_fit call is one epoch of the cosine schedule: span them all.
    streamed = SoftmaxRegression(max_iter=n_epochs * n_chunks, random_state=0)
    for _ in range(n_epochs):
        for chunk in np.array_split(np.arange(len(X_train)), n_chunks):
            streamed.partial_fit(X_train[chunk], y_train[chunk], classes=np.arange(10))
    assert streamed.n_iter_ == n_epochs * n_chunks
    assert streamed.t_ == n_epochs * len(X_train)
    fit_score = fitted.score(X_test, y_test)
    assert streamed.score(X_test, y_test) > fit_score - 0.02


def test_partial_fit_after_fit_continues_training(digits):
    X, y = digits
    clf = SoftmaxRegression(
        learning_rate="constant", max_iter=1, tol=None, random_state=0
    )
    clf.fit(X, y)
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2
    assert clf.loss_curve_[1] < clf.loss_curve_[0]


def test_warm_start_starts_from_the_previous_solution(digits):
    X, y = digits
    params = dict(learning_rate="constant", max_iter=2, tol=None, random_state=0)
    cold = SoftmaxRegression(**params).fit(X, y)
    warm = SoftmaxRegression(warm_start=True, **params).fit(X, y)
    warm.set_params(max_iter=1).fit(X, y)
    assert warm.loss_curve_[0] < cold.loss_curve_[0]
    assert warm.loss_curve_[0] < cold.loss_curve_[-1] + 0.05


def test_early_stopping_restores_the_best_epoch(digits):
    X, y = digits
    # A constant, large step makes the validation score wander; with a constant
    # schedule the first k epochs of a long run equal a run of max_iter=k.
    params = dict(
        early_stopping=True, learning_rate="constant", eta0=1.0, random_state=0
    )
    long_run = SoftmaxRegression(max_iter=12, tol=None, **params).fit(X, y)
    scores = long_run.validation_scores_
    assert len(scores) == 12 and long_run.best_loss_ is None
    best_epoch = len(scores) - int(np.argmax(scores[::-1]))  # the last of the best
    assert long_run.best_validation_score_ == max(scores)
    short_run = SoftmaxRegression(max_iter=best_epoch, tol=None, **params).fit(X, y)
    assert_allclose(long_run.coef_, short_run.coef_)
    assert_allclose(long_run.intercept_, short_run.intercept_)


def test_early_stopping_stops_when_validation_stalls(digits):
    X, y = digits
    clf = SoftmaxRegression(
        early_stopping=True, learning_rate="constant", max_iter=200, tol=0.5
    ).fit(X, y)
    # The first epoch, then the patience: n_iter_no_change epochs, at least
    # 50 steps each (1,617 training samples: 7 steps an epoch).
    assert clf.n_iter_ == 1 + clf.n_iter_no_change * math.ceil(50 / 7)


def test_dtypes_float32_stays_float32_and_uint8_converts_per_batch(digits):
    X, y = digits
    X32 = X.astype(np.float32)
    clf32 = SoftmaxRegression(random_state=0).fit(X32, y)
    assert clf32.coef_.dtype == np.float32
    assert clf32.predict_proba(X32).dtype == np.float32
    clf8 = SoftmaxRegression(random_state=0).fit(X, y)
    # uint8 is computed in float32, one minibatch at a time: the same arithmetic.
    assert clf8.coef_.dtype == np.float32
    assert_array_equal(clf8.coef_, clf32.coef_)
    assert_array_equal(clf8.predict_proba(X), clf32.predict_proba(X32))
    clf64 = SoftmaxRegression(random_state=0).fit(X.astype(np.float64), y)
    assert clf64.coef_.dtype == np.float64
    assert_allclose(clf64.predict_proba(X), clf32.predict_proba(X32), atol=1e-4)


def test_uint8_fit_makes_no_float_copy_of_X():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(30_000, 784), dtype=np.uint8)
    y = (X[:, :10].sum(axis=1) > 1275).astype(int) + (X[:, 10] > 128)
    clf = SoftmaxRegression(max_iter=1, random_state=0)
    tracemalloc.start()
    clf.fit(X, y)
    clf.predict_proba(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.25 * X.nbytes, f"peak {peak / 2**20:.1f} MiB"


def test_sparse_input_reaches_the_dense_model(digits):
    # Sparse X takes other steps (no momentum, no centring: see test_sparse.py)
    # towards the same optimum.
    X, y = digits
    X = X.astype(np.float64)
    dense = SoftmaxRegression(random_state=0, max_iter=60).fit(X, y)
    sparse = SoftmaxRegression(random_state=0, max_iter=60).fit(sp.csr_matrix(X), y)
    assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), atol=0.05
    )
    assert np.mean(sparse.predict(sp.csr_matrix(X)) == dense.predict(X)) > 0.99


def test_dataframe_feature_names_and_string_labels():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = SoftmaxRegression(random_state=0, max_iter=30).fit(X, labels)
    assert_array_equal(clf.feature_names_in_, X.columns)
    assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    assert set(clf.predict(X)) <= set(labels)
    assert clf.score(X, labels) > 0.9
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X.to_numpy())
    assert isinstance(X, pd.DataFrame)


def test_binary_outputs_follow_scikit_learn_shapes():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    clf = SoftmaxRegression(random_state=0).fit(X, labels)
    assert clf.coef_.shape == (1, 5) and clf.intercept_.shape == (1,)
    scores = clf.decision_function(X)
    assert scores.shape == (200,)
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 2)
    # C order, as scikit-learn returns, though the softmax works column-major.
    assert proba.flags.c_contiguous and clf.predict_log_proba(X).flags.c_contiguous
    assert_array_equal(clf.predict(X), np.where(scores > 0, "yes", "no"))
    assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scores)), rtol=1e-6)
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-6)


def test_class_weight_equals_the_same_sample_weight(digits):
    X, y = digits
    weights = {label: 1.0 + label for label in range(10)}
    by_class = SoftmaxRegression(class_weight=weights, random_state=0).fit(X, y)
    by_sample = SoftmaxRegression(random_state=0).fit(X, y, sample_weight=1.0 + y)
    assert_allclose(by_class.coef_, by_sample.coef_, rtol=1e-5)
    # partial_fit honours them too.
    streamed = SoftmaxRegression(class_weight=weights, random_state=0)
    streamed.partial_fit(X, y, classes=np.arange(10))
    reference = SoftmaxRegression(random_state=0)
    reference.partial_fit(X, y, classes=np.arange(10), sample_weight=1.0 + y)
    assert_allclose(streamed.coef_, reference.coef_, rtol=1e-5)


def test_balanced_class_weight_lifts_the_minority_class():
    X, y = make_classification(
        n_samples=600, weights=[0.93], flip_y=0, class_sep=0.5, random_state=0
    )
    plain = SoftmaxRegression(random_state=0).fit(X, y)
    balanced = SoftmaxRegression(class_weight="balanced", random_state=0).fit(X, y)
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_zero_sample_weight_ignores_samples(digits):
    X, y = digits
    y_noisy = y.copy()
    y_noisy[:500] = (y[:500] + 1) % 10  # corrupted labels, given no weight
    weights = np.r_[np.zeros(500), np.ones(len(y) - 500)]
    clf = SoftmaxRegression(random_state=0).fit(X, y_noisy, sample_weight=weights)
    assert clf.score(X[:500], y[:500]) > 0.9


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_l1_penalties_make_exact_zeros(digits, penalty):
    X, y = digits
    l2 = SoftmaxRegression(alpha=0.01, random_state=0).fit(X, y)
    clf = SoftmaxRegression(penalty=penalty, alpha=0.01, random_state=0).fit(X, y)
    assert (clf.coef_ == 0).mean() > (l2.coef_ == 0).mean() + 0.05
    assert clf.score(X, y) > 0.8


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_average_and_schedules_train(digits):
    X, y = digits
    for params in [
        dict(average=True),
        dict(average=500, learning_rate="constant"),
        dict(learning_rate="invscaling", max_iter=10),
        dict(learning_rate="adaptive", max_iter=20, tol=1e-3, n_iter_no_change=2),
        dict(nesterovs_momentum=False),
        dict(momentum=0.0, eta0=0.5),
        dict(fit_intercept=False),
        dict(shuffle=False),
    ]:
        clf = SoftmaxRegression(random_state=0, **params).fit(X, y)
        assert clf.score(X, y) > 0.9, params


def test_max_iter_without_convergence_warns(digits):
    X, y = digits
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="max_iter"):
        SoftmaxRegression(learning_rate="constant", max_iter=2).fit(X, y)


def test_verbose_prints_one_line_per_epoch(digits, capsys):
    X, y = digits
    SoftmaxRegression(max_iter=3, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Epoch 1", "Epoch 2", "Epoch 3"]
    # Long budgets: about ten lines, the last epoch included; verbose=2: all.
    SoftmaxRegression(max_iter=55, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11 and lines[-1].startswith("Epoch 55:")
    SoftmaxRegression(max_iter=55, verbose=2).fit(X, y)
    assert len(capsys.readouterr().out.splitlines()) == 55


# ------------------------------------------------------------------ errors


def test_nan_and_inf_are_refused_with_a_fix():
    X, y = load_iris(return_X_y=True)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="(?s)Input X contains NaN.*imputer"):
        SoftmaxRegression().fit(X_nan, y)
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        SoftmaxRegression().fit(X_inf, y)


def test_wrong_shapes_and_targets():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features.*expecting 4"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="at least 2 classes.*only one class"):
        SoftmaxRegression().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        SoftmaxRegression().fit(X, X[:, 0])
    with pytest.raises(NotFittedError):
        SoftmaxRegression().predict_proba(X)


def test_partial_fit_errors_name_the_fix():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        SoftmaxRegression().partial_fit(X, y)
    clf = SoftmaxRegression().partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels \[2\].*first call to partial_fit"):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 1  # the failed call changed nothing
    first = SoftmaxRegression()
    with pytest.raises(ValueError, match=r"labels \[2\]"):
        first.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(first, "classes_")
    with pytest.raises(ValueError, match="not supported by partial_fit"):
        SoftmaxRegression(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_divergence_raises_and_keeps_the_previous_model():
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)  # overflows sooner than float64
    with pytest.raises(ValueError, match="diverged.*smaller eta0"):
        SoftmaxRegression(eta0=1e4).fit(X, y)
    clf = SoftmaxRegression(random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(eta0=1e8, learning_rate="constant")
    with pytest.raises(ValueError, match="diverged"):
        clf.partial_fit(X, y)
    assert_array_equal(clf.predict_proba(X), before)
    assert np.isfinite(clf.coef_).all()


def test_invalid_parameters_are_named():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="'learning_rate' parameter"):
        SoftmaxRegression(learning_rate="fast").fit(X, y)
    with pytest.raises(ValueError, match="'loss' parameter"):
        SoftmaxRegression(loss="hinge").fit(X, y)


def _blas_threads():
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


class _ThreadRecordingLoss(CrossEntropyLoss):
    """Cross-entropy that records the BLAS threads it is called under."""

    threads = []

    def loss_gradient(self, y_true, raw):
        self.threads.append(_blas_threads())
        return super().loss_gradient(y_true, raw)


@pytest.mark.parametrize("n_classes, small", [(5, True), (300, False)])
def test_small_minibatch_products_run_on_one_blas_thread(n_classes, small):
    # The rule of BLAS_THREADS_FROM: 256 x 512 x 5 multiply-adds on one thread,
    # 256 x 512 x 300 on the threads NumPy is configured with; either way the
    # configuration is the user's again afterwards.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 512)).astype(np.float32)
    y = np.arange(600) % n_classes
    with threadpool_limits(limits=2, user_api="blas"):
        configured = _blas_threads()
        _ThreadRecordingLoss.threads = []
        SoftmaxRegression(loss=_ThreadRecordingLoss(), max_iter=1).fit(X, y)
        after = _blas_threads()
    assert set(_ThreadRecordingLoss.threads) == {1 if small else configured}
    assert after == configured


def test_a_scalar_sample_weight_weighs_every_sample_alike(wine):
    # scikit-learn accepts a number for sample_weight: the same for all samples
    # (against the same penalty, as LogisticRegression weighs it).
    X, y = wine
    array = SoftmaxRegression(random_state=0).fit(X, y, np.full(len(y), 3.0))
    scalar = SoftmaxRegression(random_state=0).fit(X, y, sample_weight=3.0)
    assert_array_equal(scalar.coef_, array.coef_)
