"""The default SoftmaxRegression on the real Fashion-MNIST (skipped without it).

The bar is LogisticRegression's converged optimum on pixels scaled to [0, 1]:
test accuracy 0.8435 and test log loss 0.450.
"""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss
from sklearn.preprocessing import StandardScaler

from sksoftmax import SoftmaxRegression, fetch_fashion_mnist

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def fashion(real_data_home):
    train = fetch_fashion_mnist(subset="train", data_home=real_data_home)
    test = fetch_fashion_mnist(subset="test", data_home=real_data_home)
    return train.data, train.target, test.data, test.target


@pytest.mark.parametrize("pixels", ["raw uint8", "standardized"])
@pytest.mark.parametrize("seed", [0, 1])
def test_defaults_reach_the_logistic_regression_optimum(fashion, pixels, seed):
    X, y, X_test, y_test = fashion
    if pixels == "standardized":
        scaler = StandardScaler().fit(X)
        X, X_test = scaler.transform(X), scaler.transform(X_test)
    clf = SoftmaxRegression(random_state=seed).fit(X, y)
    proba = clf.predict_proba(X_test)
    assert np.isfinite(proba).all()
    assert accuracy_score(y_test, clf.classes_[proba.argmax(axis=1)]) >= 0.8435
    assert log_loss(y_test, proba) <= 0.450
