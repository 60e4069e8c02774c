"""scikit-learn's own conformance suite, with every known deviation explained."""

from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from sksoftmax import SoftmaxRegression

# {check name: why a stochastic minibatch solver cannot satisfy it}. The suite
# runs with xfail_strict, so a deviation that gets fixed is noticed.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is not equivalent to removing/repeating samples: the"
        " minibatches differ, as for SGDClassifier."
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "sample_weight is not equivalent to removing/repeating samples: the"
        " minibatches differ, as for SGDClassifier."
    ),
}


@parametrize_with_checks(
    [SoftmaxRegression(random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_param_validation():
    # check_estimator leaves this one out; it checks _parameter_constraints.
    check_param_validation("SoftmaxRegression", SoftmaxRegression())
