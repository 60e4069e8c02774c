"""SoftmaxRegression on other array libraries, through the array API.

array-api-strict (a test dependency) checks that only the standard is used;
PyTorch, when installed, is tested on the CPU (and on CUDA when there is one).
Every test compares with the NumPy path on the same data and seed.
"""

import pickle

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_classification
from sklearn.utils._array_api import move_estimator_to

from sksoftmax import SoftmaxRegression
from sksoftmax._array_api import (
    array_namespace,
    device_of,
    float64_on,
    to_numpy,
    widest_float,
)
from sksoftmax.losses import BaseLoss, HuberLoss, log_softmax, softmax


def _namespaces():
    """(name, xp, device) of every namespace to test that is installed."""
    found = []
    try:
        import array_api_strict

        found.append(("array_api_strict", array_api_strict, None))
    except ImportError:  # pragma: no cover - a test dependency
        pass
    try:
        import torch

        found.append(("torch-cpu", torch, "cpu"))
        if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
            found.append(("torch-cuda", torch, "cuda"))
    except ImportError:
        pass
    return found


NAMESPACES = _namespaces()


@pytest.fixture(params=NAMESPACES, ids=[name for name, *_ in NAMESPACES])
def namespace(request):
    return request.param[1:]


@pytest.fixture(autouse=True)
def dispatch():
    with sklearn.config_context(array_api_dispatch=True):
        yield


def on(xp, device, array):
    return xp.asarray(array, device=device)


def classification(dtype=np.float64, n_classes=3, **kwargs):
    X, y = make_classification(
        n_samples=600,
        n_features=12,
        n_informative=6,
        n_classes=n_classes,
        random_state=0,
        **kwargs,
    )
    return X.astype(dtype), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"penalty": "l1", "alpha": 1e-3},
        {"penalty": "elasticnet", "alpha": 1e-3, "l1_ratio": 0.5},
        {"loss": HuberLoss()},
        {"early_stopping": True},
        {"batch_size": 10_000},  # one full batch: accelerated steps
    ],
    ids=["default", "l1", "elasticnet", "huber", "early_stopping", "full_batch"],
)
def test_fit_matches_numpy_and_stays_in_the_namespace(namespace, dtype, params):
    xp, device = namespace
    X, y = classification(dtype)
    reference = SoftmaxRegression(random_state=0, **params).fit(X, y)
    model = SoftmaxRegression(random_state=0, **params)
    model.fit(on(xp, device, X), on(xp, device, y))
    X_xp = on(xp, device, X)
    proba = model.predict_proba(X_xp)
    # Same minibatches (a NumPy random state draws them), same steps. Only the
    # rounding differs (memory layouts, BLAS): float32's carries on along the
    # path, most where L1 thresholds a weight to zero or not.
    l1 = params.get("penalty") in ("l1", "elasticnet")
    atol = 1e-3 if l1 and dtype == np.float32 else 1e-4
    assert_allclose(to_numpy(proba), reference.predict_proba(X), atol=atol)
    for name in ("coef_", "intercept_"):
        value = getattr(model, name)
        assert array_namespace(value) is array_namespace(X_xp)
        assert device_of(value) == device_of(X_xp)
        assert value.dtype == X_xp.dtype  # float32 stays float32
    outputs = {
        "predict": model.predict(X_xp),
        "predict_proba": proba,
        "predict_log_proba": model.predict_log_proba(X_xp),
        "decision_function": model.decision_function(X_xp),
    }
    for method, output in outputs.items():
        assert array_namespace(output) is array_namespace(X_xp), method
        assert device_of(output) == device_of(X_xp), method
    # The same classes, but where the two best are tied within the rounding.
    best_two = np.sort(reference.predict_proba(X), axis=1)[:, -2:]
    clear = best_two[:, 1] - best_two[:, 0] > 2 * atol
    predicted = to_numpy(outputs["predict"])
    assert_array_equal(predicted[clear], reference.predict(X)[clear])
    assert model.score(X_xp, on(xp, device, y)) == pytest.approx(
        np.mean(predicted == y),
        abs=1e-6,  # torch counts in float32
    )


def test_images_in_uint8_and_binary_targets(namespace):
    xp, device = namespace
    X, y = load_digits(return_X_y=True)
    X, y = X.astype(np.uint8), (y >= 5).astype(np.int64)
    reference = SoftmaxRegression(random_state=0).fit(X, y)
    model = SoftmaxRegression(random_state=0).fit(on(xp, device, X), y)
    X_xp = on(xp, device, X)
    assert model.coef_.shape == (1, 64)
    assert model.coef_.dtype == xp.float32  # like NumPy: small integers in float32
    assert_allclose(
        to_numpy(model.predict_proba(X_xp)), reference.predict_proba(X), atol=1e-4
    )
    assert model.decision_function(X_xp).shape == (X.shape[0],)


def test_partial_fit_and_sample_weight_match_numpy(namespace):
    xp, device = namespace
    X, y = classification(np.float64)
    weights = np.random.RandomState(0).uniform(0.1, 3, size=y.size)
    reference, model = (
        SoftmaxRegression(random_state=0),
        SoftmaxRegression(random_state=0),
    )
    for chunk in np.array_split(np.arange(y.size), 3):
        reference.partial_fit(
            X[chunk], y[chunk], classes=[0, 1, 2], sample_weight=weights[chunk]
        )
        model.partial_fit(
            on(xp, device, X[chunk]),
            on(xp, device, y[chunk]),
            classes=[0, 1, 2],
            sample_weight=on(xp, device, weights[chunk]),
        )
    assert_allclose(
        to_numpy(model.predict_proba(on(xp, device, X))),
        reference.predict_proba(X),
        atol=1e-4,
    )
    assert array_namespace(model.optimizer_state_["coef_t"]) is array_namespace(
        on(xp, device, X)
    )


def test_heavy_tails_and_large_offsets_take_the_same_path(namespace):
    # Importance sampling (heavy tails) and float64 for float32 input whose
    # logits would be rounding noise (large offsets) work in any namespace.
    xp, device = namespace
    X, y = classification(np.float64)
    heavy = np.exp(2 * X)  # log-normal features
    offset = (X + 1e5).astype(np.float32)
    for data in (heavy, offset):
        reference = SoftmaxRegression(random_state=0).fit(data, y)
        model = SoftmaxRegression(random_state=0).fit(on(xp, device, data), y)
        assert str(model.coef_.dtype).endswith(str(reference.coef_.dtype))
        assert_allclose(
            to_numpy(model.predict_proba(on(xp, device, data))),
            reference.predict_proba(data),
            atol=1e-4,
        )


def test_probabilities_stay_finite_for_huge_inputs(namespace):
    xp, device = namespace
    X, y = classification(np.float64)
    model = SoftmaxRegression(random_state=0).fit(on(xp, device, X), y)
    huge = on(xp, device, np.full((2, X.shape[1]), 1e300))
    proba = to_numpy(model.predict_proba(huge))
    assert np.isfinite(proba).all()
    assert_allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(to_numpy(model.predict_log_proba(huge))).all()


class ArrayApiLoss(BaseLoss):
    """A user loss written against the array API: cross-entropy."""

    def loss(self, y_true, raw_prediction):
        xp = array_namespace(raw_prediction)
        return -xp.sum(y_true * log_softmax(raw_prediction), axis=1)

    def gradient(self, y_true, raw_prediction):
        return softmax(raw_prediction) - y_true


class NumPyOnlyLoss(ArrayApiLoss):
    def loss(self, y_true, raw_prediction):
        return np.zeros(raw_prediction.shape[0])


def test_a_user_loss_gets_its_namespace(namespace):
    xp, device = namespace
    X, y = classification(np.float64)
    reference = SoftmaxRegression(loss=ArrayApiLoss(), random_state=0).fit(X, y)
    model = SoftmaxRegression(loss=ArrayApiLoss(), random_state=0)
    model.fit(on(xp, device, X), y)
    assert_allclose(
        to_numpy(model.predict_proba(on(xp, device, X))),
        reference.predict_proba(X),
        atol=1e-4,
    )
    with pytest.raises(TypeError, match="array_namespace"):
        SoftmaxRegression(loss=NumPyOnlyLoss()).fit(on(xp, device, X), y)


def test_a_model_moves_to_numpy_and_pickles(namespace):
    xp, device = namespace
    X, y = classification(np.float32)
    model = SoftmaxRegression(random_state=0).fit(on(xp, device, X), y)
    expected = to_numpy(model.predict_proba(on(xp, device, X)))
    # The documented way: scikit-learn's move_estimator_to.
    moved = move_estimator_to(model, np, "cpu")
    assert isinstance(moved.coef_, np.ndarray) and moved.coef_.dtype == np.float32
    assert_allclose(moved.predict_proba(X), expected, atol=1e-6)
    with sklearn.config_context(array_api_dispatch=False):
        assert_allclose(moved.predict_proba(X), expected, atol=1e-6)
    # Training goes on in NumPy from the moved model.
    moved.partial_fit(X, y)
    assert isinstance(moved.coef_, np.ndarray)
    loaded = pickle.loads(pickle.dumps(model))
    assert_allclose(
        to_numpy(loaded.predict_proba(on(xp, device, X))), expected, atol=1e-6
    )


def test_inputs_of_another_namespace_than_fit_are_refused(namespace):
    xp, device = namespace
    X, y = classification(np.float64)
    model = SoftmaxRegression(random_state=0).fit(on(xp, device, X), y)
    with pytest.raises(ValueError, match="same namespace"):
        model.predict(X)
    with pytest.raises(ValueError, match="same namespace"):
        model.partial_fit(X, y)


def test_dispatch_off_converts_to_numpy_as_before():
    torch = pytest.importorskip("torch")
    X, y = classification(np.float32)
    reference = SoftmaxRegression(random_state=0).fit(X, y)
    with sklearn.config_context(array_api_dispatch=False):
        model = SoftmaxRegression(random_state=0).fit(torch.asarray(X), y)
        assert isinstance(model.coef_, np.ndarray)
        assert_array_equal(model.coef_, reference.coef_)
        proba = model.predict_proba(torch.asarray(X))
    assert isinstance(proba, np.ndarray)


def test_divergence_is_caught_on_the_device(namespace):
    # The losses are summed on the device and checked once per epoch: a step
    # that is far too large still stops with the error NumPy gives.
    xp, device = namespace
    X, y = classification(np.float64)
    model = SoftmaxRegression(eta0=1e8, learning_rate="constant", random_state=0)
    with pytest.raises(ValueError, match="diverged"):
        model.fit(on(xp, device, X * 1e3), y)
    assert not hasattr(model, "coef_")


def test_a_numpy_model_moves_to_the_namespace_and_trains_on(namespace):
    xp, device = namespace
    X, y = classification(np.float64)
    model = SoftmaxRegression(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    expected = model.predict_proba(X)
    moved = move_estimator_to(model, array_namespace(on(xp, device, X)), device)
    X_xp = on(xp, device, X)
    assert isinstance(moved.classes_, np.ndarray)  # labels stay on the host
    assert_allclose(to_numpy(moved.predict_proba(X_xp)), expected, atol=1e-12)
    assert_array_equal(to_numpy(moved.predict(X_xp)), model.predict(X))
    # The stream goes on in the namespace, as it would have in NumPy.
    moved.partial_fit(X_xp, on(xp, device, y))
    model.partial_fit(X, y)
    assert_allclose(
        to_numpy(moved.predict_proba(X_xp)), model.predict_proba(X), atol=1e-6
    )
    assert moved.optimizer_state_["rng"] is not model.optimizer_state_["rng"]


def test_numpy_scalar_parameters_mix_with_any_namespace(namespace):
    # Grids from np.logspace give NumPy scalars; array-api-strict refuses them.
    xp, device = namespace
    X, y = classification(np.float32)
    params = dict(
        alpha=np.float64(1e-3),
        penalty="elasticnet",
        l1_ratio=np.float64(0.5),
        loss=HuberLoss(delta=np.float64(0.3)),
        random_state=0,
    )
    model = SoftmaxRegression(**params).fit(on(xp, device, X), y)
    reference = SoftmaxRegression(**params).fit(X, y)
    assert model.coef_.dtype == xp.float32
    assert_allclose(
        to_numpy(model.predict_proba(on(xp, device, X))),
        reference.predict_proba(X),
        atol=1e-3,  # float32 with L1: see the first test
    )


def test_devices_without_float64_compute_in_float32():
    # array_api_compat lists float64 for every PyTorch device; Apple's MPS has
    # none, so moments and curvature are taken in float32 there.
    torch = pytest.importorskip("torch")
    from sklearn.externals.array_api_compat import torch as torch_namespace

    assert float64_on(torch_namespace, torch.device("cpu"))
    assert not float64_on(torch_namespace, torch.device("mps"))
    assert widest_float(torch_namespace, torch.device("mps")) == torch.float32
