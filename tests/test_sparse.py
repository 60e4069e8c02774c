"""Sparse X: steps that touch only a minibatch's features (issue 16).

Without momentum (the default for sparse X), a step reads and writes only the
weights of the features its minibatch holds; the penalty's shrinking of every
weight is kept implicit. These tests check that those steps are exactly the
general ones, that they reach the same optimum, that a wide problem is
fitted without dense temporaries, and that the feature moments of sparse X are
those of the data dense, computed in a few vectors of n_features.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression

from sksoftmax import SoftmaxRegression, _optim
from sksoftmax.losses import CrossEntropyLoss


def _text_like(n_samples=3000, n_features=2000, n_classes=5, density=0.01, seed=0):
    """Sparse counts whose rare words carry the class, as in text."""
    rng = np.random.default_rng(seed)
    X = sp.random(n_samples, n_features, density, "csr", np.float64, rng)
    coef = rng.standard_normal((n_features, n_classes)) * 3
    y = np.argmax(X @ coef + rng.gumbel(size=(n_samples, n_classes)), axis=1)
    return X, y


def _steps(stepper_class, X, y, state, etas, **kwargs):
    """Run one minibatch step per eta with ``stepper_class``; the weights after."""
    state = {
        key: (v.copy() if isinstance(v, np.ndarray) else v) for key, v in state.items()
    }
    stepper = stepper_class(state, **kwargs)
    loss = CrossEntropyLoss()
    batch = state["batch_size"]
    for k, eta in enumerate(etas):
        rows = np.arange(k * batch, (k + 1) * batch) % X.shape[0]
        Xb = X[rows]
        raw = stepper.logits(Xb)
        targets = np.eye(raw.shape[1], dtype=raw.dtype)[y[rows]]
        _, grad = loss.loss_gradient(targets, raw)
        stepper.step(grad, eta)
    stepper.flush()
    return state["coef_t"], state["intercept"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "alpha_l1, alpha_l2", [(0, 0), (0, 1e-3), (1e-3, 0), (1e-3, 1e-3), (0, 3.0)]
)
def test_touched_row_steps_are_the_general_steps(dtype, alpha_l1, alpha_l2):
    # alpha_l2=3 shrinks the untouched weights until the implicit multiplier
    # is folded into them along the way.
    X, y = _text_like(n_samples=400, n_features=300)
    rng = np.random.default_rng(1)
    X = X.tolil()
    n_classes = np.unique(y).size
    state = _optim.new_state(
        rng.standard_normal((X.shape[1], n_classes)).astype(dtype),
        rng.standard_normal(n_classes).astype(dtype),
        rng,
    )
    X[:, :3] = rng.random((X.shape[0], 3))  # dense features, which are centred
    X = X.tocsr().astype(dtype)
    moments = _optim.feature_moments(X, np.arange(X.shape[0]), None)
    centered = _optim.frequent_features(moments, 32)
    assert_array_equal(np.flatnonzero(centered), [0, 1, 2])
    center, scale = _optim.preconditioner(moments, 32, centered, dtype)
    state.update(center=center, scale=scale, batch_size=32)
    etas = np.linspace(0.3, 0.01, 40).astype(dtype)
    penalty = dict(fit_intercept=True, alpha_l1=alpha_l1, alpha_l2=alpha_l2)
    general = _steps(
        _optim.Stepper, X, y, state, etas, momentum=0.0, nesterov=False, **penalty
    )
    touched = _steps(_optim.TouchedRowStepper, X, y, state, etas, **penalty)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    for expected, actual in zip(general, touched, strict=True):
        assert actual.dtype == dtype
        assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)
    if alpha_l1:  # the same exact zeros
        assert_array_equal(touched[0] == 0, general[0] == 0)


BATCH = 32


def _wide():
    """Minibatches of BATCH of these rows hold about 15% of the features."""
    X, y = _text_like(n_features=3000, density=0.005)
    moments = _optim.feature_moments(X, np.arange(X.shape[0]), None)
    assert _optim.touched_fraction(moments, BATCH) < 0.5
    return X, y


def test_sparse_fit_reaches_the_l2_optimum():
    X, y = _wide()
    alpha, n = 1e-3, X.shape[0]
    reference = LogisticRegression(C=1 / (alpha * n), tol=1e-10, max_iter=10_000)
    expected = reference.fit(X, y).predict_proba(X)
    clf = SoftmaxRegression(alpha=alpha, batch_size=BATCH, max_iter=100, random_state=0)
    clf.fit(X, y)
    assert_allclose(clf.predict_proba(X), expected, atol=0.03)


def test_sparse_l1_optimum_is_the_general_steps_optimum():
    # Full batches are deterministic: steps on the touched rows (momentum=0,
    # which are then all the rows) and the accelerated general steps, which
    # test_robustness.py compares with saga, find the same exact zeros.
    X, y = _wide()
    params = dict(penalty="l1", alpha=3e-4, batch_size=X.shape[0], max_iter=2000)
    touched = SoftmaxRegression(momentum=0.0, **params).fit(X, y)
    general = SoftmaxRegression(**params).fit(X, y)
    assert 0.1 < np.mean(general.coef_ == 0) < 0.9
    assert np.abs(touched.coef_ - general.coef_).max() < 1e-3
    assert_array_equal(touched.coef_ == 0, general.coef_ == 0)


def test_a_strong_l1_penalty_gives_the_zero_model_without_error():
    # Its epochs' objectives rise back to the all-zero model's: not divergence.
    X, y = _text_like()
    clf = SoftmaxRegression(penalty="l1", alpha=1.0, random_state=0).fit(X, y)
    assert not clf.coef_.any()
    frequencies = np.bincount(y) / y.size
    assert_allclose(clf.predict_proba(X[:5]), np.tile(frequencies, (5, 1)), atol=0.02)


def test_wide_sparse_fit_makes_no_dense_temporaries():
    # 10,000 features x 50 classes: the weights are 2 MB in float32; a dense
    # step of the general kind would allocate several such arrays per step.
    rng = np.random.default_rng(0)
    X = sp.random(5000, 10_000, 0.002, "csr", np.float32, rng)
    y = rng.integers(50, size=X.shape[0])
    weights = X.shape[1] * 50 * 4
    tracemalloc.start()
    clf = SoftmaxRegression(max_iter=2, random_state=0).fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert clf.coef_.dtype == np.float32
    assert peak < 4 * weights, f"peak {peak / weights:.2f} x the weights"


def _offset_text(n_samples=900, n_features=400, seed=0):
    """Text-like counts, plus two dense features far from zero and one of
    constant non-zero value with some zeros: the cancellation cases."""
    X, y = _text_like(n_samples, n_features, n_classes=3, density=0.02, seed=seed)
    rng = np.random.default_rng(seed)
    X = X.tolil()
    X[:, 0] = 1e4 + rng.standard_normal((n_samples, 1))
    X[:, 1] = 100 + 0.01 * rng.standard_normal((n_samples, 1))
    X[::3, 2] = 7.0
    return X.tocsr(), y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_moments_stream_to_the_dense_moments(dtype, weighted):
    # The moments kept in optimizer_state_, and that scale every step, are
    # those of the data whatever its format, also merged over partial_fit
    # calls, with sample weights, and in float32 (whose weighted sparse
    # moments once raised an error).
    X, y = _offset_text()
    X = X.astype(dtype)
    weights = np.random.default_rng(1).random(X.shape[0]) * 3 if weighted else None
    dense = SoftmaxRegression(max_iter=1).fit(X.toarray(), y, sample_weight=weights)
    clf = SoftmaxRegression()
    for chunk in np.array_split(np.arange(X.shape[0]), 3):
        seen = clf.optimizer_state_["moments"] if chunk[0] else None
        kept = None if seen is None else {k: np.copy(v) for k, v in seen.items()}
        part_weights = None if weights is None else weights[chunk]
        clf.partial_fit(X[chunk], y[chunk], range(3), sample_weight=part_weights)
        if seen is not None:  # merged into new arrays: the old state is intact
            for key, value in kept.items():
                assert_array_equal(seen[key], value)
    streamed = clf.optimizer_state_["moments"]
    expected = dense.optimizer_state_["moments"]
    assert_allclose(streamed["weight"], expected["weight"], rtol=1e-12)
    assert_allclose(streamed["mean"], expected["mean"], rtol=1e-12, atol=1e-14)
    assert_allclose(streamed["m2"], expected["m2"], rtol=1e-9, atol=1e-12)
    assert_array_equal(streamed["low"], expected["low"])
    assert_array_equal(streamed["high"], expected["high"])
    assert_array_equal(streamed["nonzero"], (X != 0).sum(axis=0).A1)
    assert streamed["rows"] == X.shape[0]


def test_wide_sparse_moments_hold_a_few_vectors():
    # On wide data the moments' vectors of n_features, not X's chunks, are
    # what the set-up of a fit holds beyond the weights: the summary's five,
    # two for the work and two chunks of X (8 in all), not a second summary
    # and its temporaries for each chunk (18 in all).
    n_features = 200_000
    rng = np.random.default_rng(0)
    X = sp.random(4000, n_features, 0.0005, "csr", np.float32, rng)
    vector = n_features * 8
    tracemalloc.start()
    moments = _optim.feature_moments(X, np.arange(X.shape[0]), None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert moments["mean"].shape == (n_features,)
    assert peak < 10 * vector, f"peak {peak / vector:.1f} vectors of n_features"


def test_a_wide_sparse_fit_holds_at_most_twice_its_weights():
    # The weights once, a few vectors of n_features and of n_samples, and
    # small chunks of one minibatch's touched rows: no copy of the weights per
    # epoch (the penalty's value), no large temporaries in the set-up (row
    # norms, power iterations), float32 moments and 32-bit indices for a
    # float32 model. 4.0 before all that.
    rng = np.random.default_rng(0)
    X = sp.random(20_000, 50_000, 0.001, "csr", np.float32, rng)
    coef = rng.standard_normal((50_000, 20)).astype(np.float32)
    y = np.argmax(X @ coef + rng.gumbel(size=(20_000, 20)), axis=1)
    weights = 50_000 * 20 * 4
    tracemalloc.start()
    SoftmaxRegression(random_state=0).fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * weights, f"peak {peak / weights:.2f} times the weights"
