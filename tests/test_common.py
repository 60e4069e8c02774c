"""scikit-learn's own conformance suite."""

from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from sksoftmax import SoftmaxRegression


# Every check passes, the sample-weight equivalence ones included (scikit-learn
# expects SGDClassifier to fail those): alpha="auto" gives repeated samples and
# their weights the same minimizer, and small data get deterministic steps.
@parametrize_with_checks([SoftmaxRegression(random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_param_validation():
    # check_estimator leaves this one out; it checks _parameter_constraints.
    check_param_validation("SoftmaxRegression", SoftmaxRegression())
