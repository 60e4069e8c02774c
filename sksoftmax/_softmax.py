"""SoftmaxRegression: multinomial logistic regression trained by minibatch SGD."""

import copy
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_class_weight, gen_batches
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
)
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from sksoftmax._losses import LOSSES, log_softmax, softmax

# Steps are taken on internally standardized features; "auto" is AUTO_STEP over
# the largest eigenvalue of their covariance (the curvature scale of the loss).
# Heavy-ball momentum 0.9 is stable below about 7.6 / eigenvalue for the log loss.
AUTO_STEP = 3.6
# Power iterations run, on a sample of CHUNK_ELEMENTS values, to estimate it.
CURVATURE_ITERATIONS = 20
# A feature's variance is floored at this fraction of the mean variance, so that
# nearly constant features (image corners) do not get huge steps.
VARIANCE_FLOOR = 1e-2
# The cosine schedule anneals to this fraction of eta0.
COSINE_FLOOR = 1e-2
# Rows converted at once when non-float input is cast for prediction or moments.
CHUNK_ELEMENTS = 2**18


def _compute_dtype(X):
    """float32/float64 stay as they are; small integers (images) fit in float32."""
    if X.dtype in (np.float32, np.float64):
        return X.dtype.type
    return np.float32 if X.dtype.itemsize <= 2 else np.float64


def _row_chunks(n_rows, n_features):
    """Slices of rows holding about CHUNK_ELEMENTS values each."""
    return gen_batches(n_rows, max(1, CHUNK_ELEMENTS // max(n_features, 1)))


def _moments(X):
    """Count, mean and sum of squared deviations of each feature (float64)."""
    n = X.shape[0]
    if sp.issparse(X):
        mean, var = mean_variance_axis(X, axis=0)
        return n, mean.astype(np.float64), var.astype(np.float64) * n
    # One pass over X, in chunks that bound the float64 temporaries. Sums are
    # taken around the first row, which removes most of the cancellation.
    shift = X[0].astype(np.float64)
    total = np.zeros_like(shift)
    squares = np.zeros_like(shift)
    for rows in _row_chunks(*X.shape):
        diff = X[rows] - shift
        total += diff.sum(axis=0)
        squares += np.einsum("ij,ij->j", diff, diff)
    mean_diff = total / n
    return n, shift + mean_diff, np.maximum(squares - n * mean_diff**2, 0.0)


def _minibatches(X, order, batch_size, dtype):
    """Yield (slice of ``order``, X[order[slice]] as dtype) for each minibatch.

    Dense rows are gathered into one reused buffer and, for integer input,
    converted into a second one: X is never copied or converted as a whole.
    """
    if sp.issparse(X):
        for batch in gen_batches(order.size, batch_size):
            yield batch, X[order[batch]].astype(dtype, copy=False)
        return
    gathered = np.empty((batch_size, X.shape[1]), dtype=X.dtype)
    converted = gathered if X.dtype == dtype else np.empty_like(gathered, dtype)
    for batch in gen_batches(order.size, batch_size):
        m = batch.stop - batch.start
        # mode="clip" lets take write straight into `out` (no bounds buffer).
        X.take(order[batch], axis=0, out=gathered[:m], mode="clip")
        if converted is not gathered:
            converted[:m] = gathered[:m]
        yield batch, converted[:m]


def _merge_moments(a, b):
    """Combine two (count, mean, m2) summaries (Chan et al.'s parallel update)."""
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta**2 * (n_a * n_b / n)


class _SGDState:
    """Everything the optimizer carries between epochs and partial_fit calls.

    ``coef_t`` (n_features, n_classes), the transpose of ``coef_``, and
    ``intercept`` hold one logit per class, also for two classes. In that layout
    ``X_b @ coef_t`` and the gradient ``X_b.T @ G`` are both C-ordered, so the
    update mixes no memory orders. Updates are preconditioned by the feature
    moments: a step is plain SGD on the centred features divided by their
    standard deviation, mapped back to the original coordinates. The fitted model
    does not depend on it, only the path to it does.
    """

    def __init__(self, coef_t, intercept, random_state):
        self.coef_t = coef_t
        self.intercept = intercept
        self.velocity_t = np.zeros_like(coef_t)
        self.velocity_intercept = np.zeros_like(intercept)
        self.average_t = None
        self.average_intercept = None
        self.n_averaged = 0
        self.moments = None
        self.epochs_done = 0
        self.eta_factor = 1.0  # lowered by the "adaptive" schedule
        self.horizon = None  # epochs of the "cosine" schedule
        self.rng = random_state

    def update_preconditioner(self, X, fit_intercept):
        moments = _moments(X)
        if self.moments is not None:
            moments = _merge_moments(self.moments, moments)
        self.moments = moments
        n, mean, m2 = moments
        second = m2 / n
        if fit_intercept:
            center = mean
        else:  # without an intercept to absorb it, the mean cannot be removed
            second = second + mean**2
            center = np.zeros_like(mean)
        floor = VARIANCE_FLOOR * second.mean()
        scale = 1.0 / np.maximum(second, floor if floor > 0 else 1.0)
        dtype = self.coef_t.dtype
        self.center = center.astype(dtype)
        # The scale of each entry of coef_t, spelt out: NumPy broadcasts over
        # rows of a few classes slowly.
        self.scale = np.repeat(scale.astype(dtype)[:, None], self.coef_t.shape[1], 1)
        self.curvature = _top_eigenvalue(X, center, scale, self.rng)

    def step(
        self, Xb, grad, eta, *, momentum, nesterov, fit_intercept, alpha_l1, alpha_l2
    ):
        """One preconditioned momentum step from the loss gradient on a minibatch.

        ``grad`` is the gradient of the batch's summed loss with respect to its
        logits; the step follows their mean. It is plain SGD on the standardized
        features, ``(x - center) * sqrt(scale)``, mapped back to the coordinates
        of X.
        """
        # Scaling is cheaper on (n_samples, n_classes) than on the step.
        grad = grad * (-eta / Xb.shape[0])
        step = Xb.T @ grad  # serves a sparse X_b too
        step_intercept = grad.sum(axis=0)
        if fit_intercept:  # the gradient on centred features; np.dot is BLAS
            step -= np.dot(self.center[:, None], step_intercept[None, :])
        if alpha_l2:
            step -= (eta * alpha_l2) * self.coef_t
        step *= self.scale
        if fit_intercept:
            step_intercept -= self.center @ step
        else:
            step_intercept[:] = 0
        self.velocity_t *= momentum
        self.velocity_t += step
        self.velocity_intercept *= momentum
        self.velocity_intercept += step_intercept
        if nesterov:
            self.coef_t += step
            self.coef_t += momentum * self.velocity_t
            self.intercept += step_intercept + momentum * self.velocity_intercept
        else:
            self.coef_t += self.velocity_t
            self.intercept += self.velocity_intercept
        if alpha_l1:  # proximal step: soft-threshold, exact zeros
            threshold = (eta * alpha_l1) * self.scale
            shrunk = np.maximum(np.abs(self.coef_t) - threshold, 0)
            np.copyto(self.coef_t, np.sign(self.coef_t) * shrunk)

    def accumulate_average(self):
        """Add the current iterate to the running average (averaged SGD)."""
        if self.n_averaged == 0:
            self.average_t = np.zeros_like(self.coef_t)
            self.average_intercept = np.zeros_like(self.intercept)
        self.n_averaged += 1
        self.average_t += (self.coef_t - self.average_t) / self.n_averaged
        self.average_intercept += (
            self.intercept - self.average_intercept
        ) / self.n_averaged


def _top_eigenvalue(X, center, scale, rng):
    """Largest eigenvalue of the covariance of the standardized features.

    Power iteration on a row sample; centring and scaling stay implicit, so a
    sparse X is never densified.
    """
    n_rows = min(X.shape[0], max(256, CHUNK_ELEMENTS // X.shape[1]))
    sample = X[rng.randint(X.shape[0], size=n_rows)]
    if not sp.issparse(sample):
        sample = sample.astype(np.float64)
    root_scale = np.sqrt(scale)
    vector = np.full(X.shape[1], X.shape[1] ** -0.5)
    eigenvalue = 0.0
    for _ in range(CURVATURE_ITERATIONS):
        scaled = root_scale * vector
        projection = sample @ scaled - center @ scaled
        image = root_scale * (sample.T @ projection - center * projection.sum())
        image /= sample.shape[0]
        eigenvalue = float(np.linalg.norm(image))
        if eigenvalue == 0.0:  # every feature constant in the sample
            return 1.0
        vector = image / eigenvalue
    return eigenvalue


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    """Multinomial (softmax) logistic regression trained by minibatch SGD.

    One weight vector per class, probabilities ``softmax(X @ coef_.T +
    intercept_)``, trained by vectorized minibatch stochastic gradient descent
    with momentum on a pluggable loss. Steps are preconditioned by the features'
    means and variances, so the defaults train well on raw data (``uint8``
    pixels, unscaled counts) as well as on standardized data.

    The objective is the mean sample loss plus ``alpha`` times the penalty, as
    for :class:`~sklearn.linear_model.SGDClassifier`; the L2 penalty is
    ``0.5 * ||coef||^2`` and the intercept is not penalized. With
    ``penalty="l2"`` its optimum is that of
    ``LogisticRegression(C=1 / (alpha * n_samples))`` for three classes or more;
    for two classes, whose two logits are both penalized, it is
    ``C=2 / (alpha * n_samples)``.

    Parameters
    ----------
    loss : str or loss object, default="log_loss"
        The loss: ``"log_loss"`` (cross-entropy, alias ``"cross_entropy"``),
        ``"squared_error"`` (``"mse"``), ``"absolute_error"`` (``"l1"``),
        ``"huber"``, ``"focal"``, or any object with ``loss`` and ``gradient``
        methods, such as the classes of :mod:`sksoftmax.losses`. The object is
        never modified; a copy of it is stored in ``loss_function_``.

    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        The regularization term. L1 is applied by a proximal (soft-threshold)
        step after each update, so coefficients can become exactly zero.

    alpha : float, default=1e-4
        Multiplier of the penalty; non-negative.

    l1_ratio : float, default=0.15
        Share of L1 in the elastic net, in [0, 1]; used with
        ``penalty="elasticnet"`` only.

    fit_intercept : bool, default=True
        Whether to learn one intercept per class.

    batch_size : int or "auto", default="auto"
        Samples per minibatch; "auto" is ``min(256, n_samples)``. Larger batches
        are a little faster per epoch and need more epochs.

    max_iter : int, default=6
        Number of epochs (passes over the training data). It is also the length
        of the ``"cosine"`` schedule, which ends its annealing at the last epoch.

    tol : float or None, default=1e-4
        The stopping rule: training stops when the training loss (or, with
        ``early_stopping``, the validation accuracy) has not improved by at least
        ``tol`` for ``n_iter_no_change`` consecutive epochs. None disables it.

    n_iter_no_change : int, default=5
        Number of epochs without improvement that the stopping rule waits.

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training data
        (stratified), score it after each epoch and, at the end, restore the
        coefficients of the best epoch.

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping, in (0, 1).

    learning_rate : {"cosine", "constant", "invscaling", "adaptive"}, \
            default="cosine"
        The step-size schedule, in epochs ``e`` (fractional within an epoch):

        - ``"cosine"``: ``eta0 * (0.01 + 0.99 * (1 + cos(pi * e / max_iter)) / 2)``,
          annealing to ``eta0 / 100`` over ``max_iter`` epochs;
        - ``"constant"``: ``eta0``;
        - ``"invscaling"``: ``eta0 / (1 + e) ** power_t``;
        - ``"adaptive"``: ``eta0``, divided by 5 each time the stopping rule
          fires; training stops once it has fallen below ``eta0 * 1e-6``.

        ``partial_fit`` counts each call as one epoch.

    eta0 : float or "auto", default="auto"
        Initial step size, measured on the internally standardized features (so
        for data that are already standardized it is the usual step size).
        "auto" uses ``3.6 / lambda``, where ``lambda`` is the largest eigenvalue
        of the covariance of the standardized features (estimated by power
        iteration on a sample of rows): the curvature scale of the loss.

    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule.

    momentum : float, default=0.9
        Momentum of the updates, in [0, 1).

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum.

    average : bool or int, default=False
        When True, ``coef_`` and ``intercept_`` are the average of the iterates
        (averaged SGD); an int ``k`` starts averaging once ``k`` samples have been
        seen.

    shuffle : bool, default=True
        Whether to shuffle the samples at each epoch.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{label: weight}``; "balanced" weighs classes
        inversely to their frequency in ``y`` (in ``fit`` only). They multiply
        ``sample_weight``.

    warm_start : bool, default=False
        Whether ``fit`` starts from the previous solution instead of zeros.

    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the validation split; pass an int for
        reproducible results.

    verbose : int, default=0
        Prints one line per epoch when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights; one row for two classes, as in scikit-learn's linear models.

    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.

    loss_function_ : loss object
        The loss used, resolved from ``loss``.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    n_iter_ : int
        Number of epochs run.

    t_ : int
        Number of training samples seen by the optimizer.

    loss_curve_ : list of float
        Objective (mean training loss plus penalty) after each epoch.

    best_loss_ : float or None
        Lowest value of ``loss_curve_``; None with ``early_stopping``.

    validation_scores_ : list of float or None
        Accuracy on the validation set after each epoch, with
        ``early_stopping``; otherwise None.

    best_validation_score_ : float or None
        Best of ``validation_scores_``, with ``early_stopping``; otherwise None.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The same model, batch solvers.
    sklearn.linear_model.SGDClassifier : One-vs-rest linear models by SGD.
    sklearn.neural_network.MLPClassifier : Neural networks by SGD or Adam.

    Notes
    -----
    The two matrix products of each minibatch run on NumPy's BLAS with as many
    threads as it is configured to use, as in the rest of scikit-learn. When
    several fits run at once in processes you start yourself (two notebooks, a
    process pool), their BLAS threads compete for the cores and the small
    products slow down steeply; limit each fit with
    ``threadpoolctl.threadpool_limits(1)``. scikit-learn's own parallel tools,
    such as ``GridSearchCV(n_jobs=...)``, already limit the threads of their
    workers. The last digits of the weights depend on the number of threads.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sksoftmax import SoftmaxRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegression(max_iter=20, random_state=0).fit(X, y)
    >>> clf.predict(X[:2])
    array([0, 0])
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    >>> round(clf.score(X, y), 2) >= 0.9
    True
    """

    _parameter_constraints: dict = {
        "loss": [StrOptions(set(LOSSES)), HasMethods(["loss", "gradient"])],
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "learning_rate": [StrOptions({"cosine", "constant", "invscaling", "adaptive"})],
        "eta0": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "average": [Interval(Integral, 1, None, closed="left"), "boolean"],
        "shuffle": ["boolean"],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        loss="log_loss",
        penalty="l2",
        alpha=1e-4,
        l1_ratio=0.15,
        fit_intercept=True,
        batch_size="auto",
        max_iter=6,
        tol=1e-4,
        n_iter_no_change=5,
        early_stopping=False,
        validation_fraction=0.1,
        learning_rate="cosine",
        eta0="auto",
        power_t=0.5,
        momentum=0.9,
        nesterovs_momentum=True,
        average=False,
        shuffle=True,
        class_weight=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.average = average
        self.shuffle = shuffle
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ----------------------------------------------------------------- fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model by minibatch SGD over ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Integer data (such as ``uint8`` images) is converted
            one minibatch at a time; float32 stays float32.
        y : array-like of shape (n_samples,)
            Class labels, at least two distinct values of any hashable type.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples; multiplied by ``class_weight``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._unchanged_on_error(self._fit, X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        X, y = self._validate_X_y(X, y, reset=True)
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                "SoftmaxRegression needs samples of at least 2 classes in the data,"
                f" but the data contains only one class: {classes[0]!r}."
            )
        warm = (
            self.warm_start
            and hasattr(self, "_state")
            and np.array_equal(classes, self.classes_)
            and self._state.coef_t.shape[0] == X.shape[1]
        )
        self.classes_ = classes
        weights = self._sample_weights(X, y_index, sample_weight)
        self._state = self._new_state(X, coef_from_fitted=warm)
        self._resolve_loss()
        self._state.update_preconditioner(X, self.fit_intercept)

        train, validation = np.arange(X.shape[0]), None
        if self.early_stopping:
            train, validation = train_test_split(
                train,
                test_size=self.validation_fraction,
                stratify=y_index,
                random_state=self._state.rng,
            )
        self._reset_history()
        best_coef, no_improvement = None, 0
        for _ in range(self.max_iter):
            self._epoch(X, y_index, weights, train)
            if validation is None:
                loss = self.loss_curve_[-1]
                improved = self.tol is None or loss < self.best_loss_ - self.tol
                self.best_loss_ = min(self.best_loss_, loss)
            else:
                score = self._validation_score(X, y_index, weights, validation)
                self.validation_scores_.append(score)
                best = self.best_validation_score_
                improved = self.tol is None or score > best + self.tol
                if score > best:
                    self.best_validation_score_ = score
                    best_coef = (self.coef_.copy(), self.intercept_.copy())
            if self.verbose:
                self._print_progress()
            no_improvement = 0 if improved else no_improvement + 1
            state = self._state
            if state.horizon is not None and state.epochs_done >= state.horizon:
                break  # the last annealing epoch, see below, is done
            if self.tol is not None and no_improvement >= self.n_iter_no_change:
                no_improvement = 0
                if self.learning_rate == "adaptive" and state.eta_factor > 1e-6:
                    state.eta_factor /= 5
                    continue
                if self.learning_rate == "cosine":
                    # Stopping at a large step would leave a noisy model: finish
                    # the annealing in one last epoch instead.
                    state.horizon = state.epochs_done + 1
                    continue
                break
        else:
            if self.tol is not None and self.learning_rate != "cosine":
                warnings.warn(
                    f"SoftmaxRegression stopped at max_iter={self.max_iter} epochs"
                    " before the stopping rule was met; increase max_iter or use"
                    ' learning_rate="cosine", which anneals within max_iter.',
                    ConvergenceWarning,
                    stacklevel=2,
                )
        if best_coef is not None:
            self.coef_, self.intercept_ = best_coef
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of SGD over the given samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data.
        y : array-like of shape (n_samples,)
            Its class labels, each one of ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever be seen. Required on the first call,
            optional (and then checked) afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples; multiplied by ``class_weight``.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._unchanged_on_error(self._partial_fit, X, y, classes, sample_weight)

    def _unchanged_on_error(self, method, *args):
        """Run ``method``; if it fails (bad input, divergence), undo its changes."""
        saved = copy.deepcopy(self.__dict__)
        try:
            return method(*args)
        except Exception:
            self.__dict__ = saved
            raise

    def _partial_fit(self, X, y, classes, sample_weight):
        first_call = not hasattr(self, "_state")
        if first_call and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: list"
                " every label that will appear, e.g. partial_fit(X, y,"
                " classes=np.unique(y_all))."
            )
        X, y = self._validate_X_y(X, y, reset=first_call)
        _check_partial_fit_first_call(self, classes)
        if self.classes_.size < 2:
            raise ValueError(
                f"classes must hold at least 2 labels, got {self.classes_.tolist()}."
            )
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that are not in classes_"
                f" {self.classes_.tolist()}. Pass every label that can occur in"
                " `classes` on the first call to partial_fit."
            )
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the whole target and is not"
                " supported by partial_fit; compute the weights once with"
                " sklearn.utils.compute_class_weight('balanced', classes=classes,"
                " y=y_sample) and pass them as a dict."
            )
        y_index = np.searchsorted(self.classes_, y)
        weights = self._sample_weights(X, y_index, sample_weight)
        if first_call:
            self._state = self._new_state(X, coef_from_fitted=False)
            self._resolve_loss()
            self._reset_history()
        self._state.update_preconditioner(X, self.fit_intercept)
        self._epoch(X, y_index, weights, np.arange(X.shape[0]))
        if self.best_loss_ is not None:
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
        if self.verbose:
            self._print_progress()
        return self

    def _validate_X_y(self, X, y, reset):
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype="numeric", reset=reset
        )
        check_classification_targets(y)
        if sp.issparse(X) and X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return X, y

    def _sample_weights(self, X, y_index, sample_weight):
        """sample_weight times class_weight in the computation's dtype; None if unit."""
        if sample_weight is None and self.class_weight is None:
            return None  # unit weights: the minibatch loop skips the products
        state = getattr(self, "_state", None)
        dtype = _compute_dtype(X) if state is None else state.coef_t.dtype
        weights = _check_sample_weight(sample_weight, X, dtype=dtype)
        if self.class_weight is not None:
            per_class = compute_class_weight(
                self.class_weight, classes=self.classes_, y=self.classes_[y_index]
            )
            weights = weights * per_class.astype(dtype)[y_index]
        return weights

    def _new_state(self, X, coef_from_fitted):
        dtype = _compute_dtype(X)
        n_classes, n_features = self.classes_.size, X.shape[1]
        if coef_from_fitted:
            coef_t = self._state.coef_t.astype(dtype)
            intercept = self._state.intercept.astype(dtype)
        else:
            coef_t = np.zeros((n_features, n_classes), dtype=dtype)
            intercept = np.zeros(n_classes, dtype=dtype)
        return _SGDState(coef_t, intercept, check_random_state(self.random_state))

    def _resolve_loss(self):
        if isinstance(self.loss, str):
            self.loss_function_ = LOSSES[self.loss]()
        else:  # a copy, so that changing the user's object later changes nothing
            self.loss_function_ = clone(self.loss, safe=False)

    def _reset_history(self):
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.best_loss_ = None if self.early_stopping else np.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None

    def _eta(self, state, progress):
        """Step size at ``progress`` (an array) epochs into training."""
        if self.eta0 == "auto":
            eta = AUTO_STEP / state.curvature
        else:
            eta = self.eta0
        if self.learning_rate == "cosine":
            horizon = state.horizon or self.max_iter
            cosine = 0.5 * (1 + np.cos(np.pi * np.minimum(progress / horizon, 1.0)))
            return eta * (COSINE_FLOOR + (1 - COSINE_FLOOR) * cosine)
        if self.learning_rate == "invscaling":
            return eta / (1 + progress) ** self.power_t
        return eta * state.eta_factor

    def _penalty_alphas(self):
        """The (L1, L2) multipliers of the penalty."""
        if self.penalty == "l2":
            return 0.0, self.alpha
        if self.penalty == "l1":
            return self.alpha, 0.0
        if self.penalty == "elasticnet":
            return self.alpha * self.l1_ratio, self.alpha * (1 - self.l1_ratio)
        return 0.0, 0.0

    def _epoch(self, X, y_index, weights, indices):
        """One pass of minibatch SGD over ``X[indices]``; updates state and history."""
        state = self._state
        dtype = state.coef_t.dtype
        n_classes = state.coef_t.shape[1]
        n = indices.size
        batch_size = min(256 if self.batch_size == "auto" else self.batch_size, n)
        loss_function = self.loss_function_
        loss_gradient = getattr(loss_function, "loss_gradient", None)
        alpha_l1, alpha_l2 = self._penalty_alphas()
        momentum = dtype.type(self.momentum)
        order = indices
        if self.shuffle:
            order = state.rng.permutation(indices)
            # Sorted rows within each batch: the same sums, gathered faster.
            full = n - n % batch_size
            order[:full].reshape(-1, batch_size).sort(axis=1)
            order[full:].sort()
        # Everything indexed by sample is put in batch order once per epoch.
        y_order = y_index[order]
        weights_order = None if weights is None else weights[order]
        progress = state.epochs_done + np.arange(0, n, batch_size) / n
        etas = np.broadcast_to(self._eta(state, progress), progress.shape)
        one_hot = np.eye(n_classes, dtype=dtype)
        # Targets are column-major like the losses' work arrays: mixing the two
        # memory orders would slow every elementwise operation on them.
        targets_t = np.empty((n_classes, batch_size), dtype=dtype)
        loss_sum = 0.0
        start_time = time.perf_counter()
        # Overflow is detected below, once per epoch, and reported as divergence.
        with np.errstate(over="ignore", invalid="ignore"):
            batches = _minibatches(X, order, batch_size, dtype)
            for (batch, Xb), eta in zip(batches, etas.astype(dtype), strict=True):
                m = Xb.shape[0]
                Yb = one_hot.take(y_order[batch], axis=1, out=targets_t[:, :m]).T
                raw = Xb @ state.coef_t
                raw += state.intercept
                if loss_gradient is not None:
                    sample_loss, grad = loss_gradient(Yb, raw)
                else:
                    sample_loss = loss_function.loss(Yb, raw)
                    grad = loss_function.gradient(Yb, raw)
                if state.epochs_done == 0 and batch.start == 0:
                    _check_loss_output(loss_function, sample_loss, grad, (m, n_classes))
                if weights_order is None:
                    loss_sum += float(sample_loss.sum())
                else:
                    batch_weights = weights_order[batch]
                    loss_sum += float(sample_loss @ batch_weights)
                    grad = grad * batch_weights[:, None]
                state.step(
                    Xb,
                    grad,
                    eta,
                    momentum=momentum,
                    nesterov=self.nesterovs_momentum,
                    fit_intercept=self.fit_intercept,
                    alpha_l1=alpha_l1,
                    alpha_l2=alpha_l2,
                )
                self.t_ += m
                if self.average and self.t_ >= int(self.average):
                    state.accumulate_average()
            objective = loss_sum / n + _penalty(state.coef_t, alpha_l1, alpha_l2)
        if not (np.isfinite(objective) and np.isfinite(state.coef_t).all()):
            raise ValueError(
                f"SoftmaxRegression diverged in epoch {self.n_iter_ + 1}: the"
                f" training loss became {objective}. The step size is too large"
                f" for this data: pass a smaller eta0 (the last step was {eta:.3g}"
                " in standardized units), or scale the features, e.g. with"
                " sklearn.preprocessing.StandardScaler."
            )
        state.epochs_done += 1
        self.n_iter_ += 1
        self.loss_curve_.append(objective)
        self._epoch_time = time.perf_counter() - start_time
        self._publish_coef()

    def _publish_coef(self):
        state = self._state
        coef_t, intercept = state.coef_t, state.intercept
        if state.n_averaged:
            coef_t, intercept = state.average_t, state.average_intercept
        if coef_t.shape[1] == 2:  # binary: one row, the difference of the two logits
            self.coef_ = (coef_t[:, 1] - coef_t[:, 0])[None, :]
            self.intercept_ = np.atleast_1d(intercept[1] - intercept[0])
        else:
            self.coef_ = coef_t.T.copy()
            self.intercept_ = intercept.copy()

    def _validation_score(self, X, y_index, weights, validation):
        """Weighted accuracy on ``X[validation]``, gathered a chunk at a time."""
        correct = np.empty(validation.size, dtype=bool)
        for rows in _row_chunks(validation.size, X.shape[1]):
            chunk = validation[rows]
            correct[rows] = self._logits(X[chunk]).argmax(axis=1) == y_index[chunk]
        if weights is not None:
            weights = weights[validation]
        return float(np.average(correct, weights=weights))

    def _print_progress(self):
        message = f"Epoch {self.n_iter_}: loss {self.loss_curve_[-1]:.5f}"
        if self.validation_scores_:
            message += f", validation accuracy {self.validation_scores_[-1]:.4f}"
        print(f"{message}, {self._epoch_time:.2f} s")

    # -------------------------------------------------------------- prediction

    def decision_function(self, X):
        """Compute the logits (scores) of the samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the score of ``classes_[1]`` against
            ``classes_[0]`` (positive means ``classes_[1]``); otherwise one logit
            per class.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype="numeric", reset=False)
        scores = self._scores(X)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def _scores(self, X):
        """``X @ coef_.T + intercept_`` for validated X, shape (n_samples, n_rows)."""
        coef, intercept = self.coef_, self.intercept_
        if sp.issparse(X) or X.dtype == coef.dtype:
            return X @ coef.T + intercept
        # Convert a chunk at a time: never a float copy of all of X.
        scores = np.empty((X.shape[0], coef.shape[0]), dtype=coef.dtype)
        for rows in _row_chunks(*X.shape):
            np.matmul(X[rows].astype(coef.dtype), coef.T, out=scores[rows])
        scores += intercept
        return scores

    def _logits(self, X):
        """One logit per class, also for two classes; X is validated already."""
        scores = self._scores(X)
        if scores.shape[1] == 1:
            return np.column_stack([np.zeros_like(scores), scores])
        return scores

    def _validated_logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype="numeric", reset=False)
        return self._logits(X)

    def predict(self, X):
        """Predict the class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of each sample.
        """
        best = self._validated_logits(X).argmax(axis=1)  # checks fitted first
        return self.classes_[best]

    def predict_proba(self, X):
        """Estimate class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        return np.ascontiguousarray(softmax(self._validated_logits(X)))

    def predict_log_proba(self, X):
        """Compute the log of the class probabilities, stably.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probability of each class, in the order of ``classes_``.
        """
        return np.ascontiguousarray(log_softmax(self._validated_logits(X)))


def _penalty(coef, alpha_l1, alpha_l2):
    penalty = 0.0
    if alpha_l2:
        penalty += 0.5 * alpha_l2 * float(np.vdot(coef, coef))
    if alpha_l1:
        penalty += alpha_l1 * float(np.abs(coef).sum())
    return penalty


def _check_loss_output(loss_function, sample_loss, grad, expected):
    """Name the mistake when a user's loss returns arrays of the wrong shape."""
    name = type(loss_function).__name__
    if np.shape(sample_loss) != expected[:1]:
        raise ValueError(
            f"{name}.loss must return one value per sample, shape {expected[:1]};"
            f" got shape {np.shape(sample_loss)}."
        )
    if np.shape(grad) != expected:
        raise ValueError(
            f"{name}.gradient must return shape (n_samples, n_classes) ="
            f" {expected}; got shape {np.shape(grad)}."
        )
