"""SoftmaxRegression: multinomial logistic regression trained by minibatch SGD."""

import contextlib
import copy
import functools
import math
import os
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_random_state, compute_class_weight, gen_batches
from sklearn.utils._array_api import check_same_namespace
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)
from threadpoolctl import threadpool_limits

from sksoftmax import _optim
from sksoftmax._array_api import (
    array_namespace,
    copy_of,
    device_of,
    float64_on,
    from_numpy,
    numpy_float,
    to_numpy,
    widest_float,
)
from sksoftmax._losses import LOSSES, CrossEntropyLoss, log_softmax, softmax

# max_iter="auto": at least this many epochs, and enough epochs for this many
# optimizer steps, so that small datasets (a few minibatches) converge too.
AUTO_EPOCHS = 6
AUTO_STEPS = 500
# With early stopping, the stopping rule's patience is at least
# n_iter_no_change times this many steps (see _train).
PATIENCE_STEPS = 50
# The cross-entropy's curvature is measured again at the weights once this many
# steps have passed, then after twice as many, and so on.
REMEASURE_STEPS = 100
# Each time an epoch diverges with eta0="auto", the step is divided by this and
# the epoch is run again from where it started, at most MAX_BACKTRACKS times.
BACKTRACK_FACTOR = 4
MAX_BACKTRACKS = 10
# partial_fit cannot know the stream's length: its default schedule is
# eta0 / sqrt(1 + t / STREAM_DECAY_SAMPLES) in the samples seen t, and it
# publishes the average of the iterates, the k-th weighing k ** STREAM_RECENT
# (the last tenth or so of the steps). Each chunk gives at least STREAM_STEPS
# minibatches of at least STREAM_MIN_BATCH samples.
STREAM_DECAY_SAMPLES = 300_000
STREAM_RECENT = 10
STREAM_STEPS, STREAM_MIN_BATCH = 4, 16
# The largest rounding error of uncentred logits that float32 steps accept
# (see _optim.logit_rounding); beyond it they run in float64.
MAX_LOGIT_ROUNDING = 1e-3
# Minibatch products of fewer multiply-adds than this (about 2 ms on one core)
# run on one BLAS thread: threads save little of a fit there, and on a busy
# machine the waits for a descheduled thread cost many times the product.
BLAS_THREADS_FROM = 2**25
# Rows are drawn by importance when the largest row curvature (times its
# weight) is more than IMPORTANCE_SKEW times the mean, or when that allows a
# step IMPORTANCE_GAIN times as large: the gain must outweigh drawing with
# replacement, which leaves a third of the rows out of each epoch (on
# Fashion-MNIST, whose skew is 12 and gain 1.04, importance sampling cost
# 0.002 of accuracy in 6 epochs). Skewed rows gain more than the step: they
# hold the rare features, learned in more draws (on 40,000 images with rare
# edge pixels, a gain of 1.6, the training objective falls to 0.500 instead
# of 0.528). Dense X without weights is measured on SKEW_SAMPLE rows.
IMPORTANCE_SKEW, IMPORTANCE_GAIN = 32, 2
SKEW_SAMPLE = 4096
# Rows holding more than this share of all rows' standardized squared
# deviations (a row of X multiplied by 100, say) hold much of each feature's
# variance: every feature's step is scaled to them, the other rows are learned
# slowly (digits: 0.90 accuracy against 0.96), and a warning names them. They
# are looked for where the most extreme value of the median feature holds
# over CONCENTRATION of its variance (at most 0.06 on the suite's dense data,
# 0.3 to 1 with such rows), or where rows are skewed.
DOMINANT_ROW_SHARE = 0.25
CONCENTRATION = 0.1


def _compute_dtype(X):
    """float32/float64 stay as they are; small integers (images) fit in float32.

    A dtype of X's namespace; float32 where X's device has no float64.
    """
    xp = array_namespace(X)
    if X.dtype in (xp.float32, xp.float64):
        return X.dtype
    if xp.isdtype(X.dtype, "bool"):
        bits = 1
    elif xp.isdtype(X.dtype, "integral"):
        bits = xp.iinfo(X.dtype).bits
    else:  # float16
        bits = xp.finfo(X.dtype).bits
    return xp.float32 if bits <= 16 else widest_float(xp, device_of(X))


def _host_dtype(array):
    """NumPy's float dtype of the same width as ``array``'s, for its limits."""
    return numpy_float(array.dtype, array_namespace(array))


def _minibatches(X, order, batch_size, dtype):
    """Yield (slice of ``order``, X[order[slice]] as dtype) for each minibatch.

    Dense rows are gathered into one reused buffer and, for integer input,
    converted into a second one: X is never copied or converted as a whole.
    """
    if sp.issparse(X):
        for batch in gen_batches(order.size, batch_size):
            yield batch, X[order[batch]].astype(dtype, copy=False)
        return
    if order.size == batch_size == X.shape[0] and X.dtype == dtype:
        if np.array_equal(order, np.arange(order.size)):  # one batch: X itself
            yield slice(0, order.size), X
            return
    xp = array_namespace(X)
    if xp is not np:  # gathered on X's device
        order = from_numpy(order, xp, device_of(X))
        for batch in gen_batches(order.shape[0], batch_size):
            Xb = xp.take(X, order[batch], axis=0)
            yield batch, Xb if Xb.dtype == dtype else xp.astype(Xb, dtype)
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


def _blas_threads(X, batch_size, n_classes):
    """A context for a call's training: one BLAS thread for small products.

    The rule is BLAS_THREADS_FROM; sparse products do not use BLAS.
    """
    if not (sp.issparse(X) or isinstance(X, np.ndarray)):
        return contextlib.nullcontext()  # another library's arrays
    if sp.issparse(X) or batch_size * X.shape[1] * n_classes < BLAS_THREADS_FROM:
        return threadpool_limits(limits=1, user_api="blas")
    return contextlib.nullcontext()


def _warn(message, category):
    """Warn with the caller's line: the first frame outside sksoftmax and sklearn."""
    inside = (os.path.dirname(__file__), os.path.dirname(sklearn.__file__))
    frame, level = sys._getframe(1), 2  # level 2 is our caller's frame
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _underflow_to_zero(method):
    """Run ``method`` with NumPy's underflow ignored: softmax tails and tiny
    steps underflow to zero by design, also where the caller raises on
    floating-point errors (``np.seterr(all="raise")``)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with np.errstate(under="ignore"):
            return method(*args, **kwargs)

    return wrapper


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    """Multinomial (softmax) logistic regression trained by minibatch SGD.

    One weight vector per class, probabilities ``softmax(X @ coef_.T +
    intercept_)``, trained by vectorized minibatch stochastic gradient descent
    with Nesterov momentum on a pluggable loss. Steps are taken on internally
    standardized features and sized by the measured curvature of a minibatch,
    so the defaults train well on raw data (``uint8`` pixels, unscaled counts,
    columns of wildly different units) as well as on standardized data.

    The objective is the mean sample loss plus ``alpha`` times the penalty, as
    for :class:`~sklearn.linear_model.SGDClassifier`; the L2 penalty is
    ``0.5 * ||coef||^2`` on the coefficients in the units of X, and the
    intercept is not penalized. With ``penalty="l2"`` its optimum is that of
    ``LogisticRegression(C=1 / (alpha * n_samples))`` for three classes or more;
    for two classes, whose two logits are both penalized, it is
    ``C=2 / (alpha * n_samples)``. The default ``alpha="auto"`` makes it the
    optimum of ``LogisticRegression()``.

    Parameters
    ----------
    loss : str or loss object, default="log_loss"
        The loss: ``"log_loss"`` (cross-entropy, alias ``"cross_entropy"``),
        ``"squared_error"`` (``"mse"``), ``"absolute_error"`` (``"l1"``),
        ``"huber"``, ``"focal"``, or an instance of any class with ``loss`` and
        ``gradient`` methods, such as the classes of :mod:`sksoftmax.losses`.
        The object is never modified; a copy of it is stored in
        ``loss_function_``.

    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        The regularization term. Penalties are applied by their proximal
        operators after each gradient step, so their optimum is exact and L1
        makes coefficients exactly zero. Minibatch noise hides some of the
        optimum's zeros: ``fit`` with minibatches and no early stopping ends
        with one full-batch proximal step, which finds most of them (full
        batches find all).

    alpha : float or "auto", default="auto"
        Multiplier of the penalty; non-negative. "auto" is the penalty of
        ``LogisticRegression()`` (``C=1``): ``1 / n_samples`` for three classes
        or more and ``2 / n_samples`` for two (in ``partial_fit``, the number
        of samples trained on so far: those of an earlier ``fit``, counted
        once, plus those of each ``partial_fit`` call).

    l1_ratio : float, default=0.15
        Share of L1 in the elastic net, in [0, 1]; used with
        ``penalty="elasticnet"`` only.

    fit_intercept : bool, default=True
        Whether to learn one intercept per class.

    batch_size : int or "auto", default="auto"
        Samples per minibatch; "auto" is ``min(256, n_samples)``. The step size
        adapts to it.

    max_iter : int or "auto", default="auto"
        Number of epochs (passes over the training data). It is also the length
        of the ``"cosine"`` schedule, which ends its annealing at the last
        epoch. "auto" runs at least 6 epochs and at least 500 optimizer steps
        (small datasets, of a few minibatches, take many cheap epochs). In
        ``partial_fit`` each call is one epoch, and "auto" stands for 6 calls.

    tol : float or None, default=1e-4
        The stopping rule of the ``"constant"``, ``"invscaling"`` and
        ``"adaptive"`` schedules: training stops when the training objective
        (or, with ``early_stopping``, the validation accuracy) has not improved
        by at least ``tol`` for ``n_iter_no_change`` consecutive epochs. The
        ``"cosine"`` schedule always runs its ``max_iter`` epochs, stopping
        earlier only with ``early_stopping``. None disables the rule.

    n_iter_no_change : int, default=5
        Number of epochs without improvement that the stopping rule waits;
        with ``early_stopping`` on data of fewer than 50 minibatches, as many
        times 50 steps (an epoch of one or two steps is too short for the
        validation accuracy to move).

    early_stopping : bool, default=False
        Whether to hold out ``validation_fraction`` of the training data
        (stratified), score it after each epoch, stop when it no longer
        improves and, at the end, restore the coefficients of the best epoch
        (the last of those that score alike). Not available in
        ``partial_fit``.

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
        "auto" is ``2.4 / lambda``, where ``lambda`` is the largest eigenvalue
        of the standardized second-moment matrix of a minibatch (measured on a
        few random minibatches): the curvature scale of the loss. With the
        cross-entropy, ``fit`` measures it again at the weights as training
        goes (see the user guide's "Step size"). With "auto", an epoch whose
        objective grows is run again with a step 4 times smaller; with a
        given ``eta0`` it raises an error instead.

    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule.

    momentum : float or "auto", default="auto"
        Momentum of the updates, in [0, 1). "auto" is 0.9 for minibatch steps;
        when one minibatch holds all the training data (small datasets), the
        steps are deterministic and ``fit`` uses Nesterov's accelerated
        schedule instead (momentum ``k / (k + 3)`` at step ``k``, restarted
        whenever a step turns back). On sparse X whose minibatches hold less
        than half of the features (text, hashed or high-cardinality one-hot
        features), "auto" is 0: each step then reads and writes only the
        weights of its minibatch's features, and the penalty's shrinking of
        the others is kept implicit and exact. ``momentum=0`` on any sparse X
        takes these steps too.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (the gradient is taken at the
        look-ahead point).

    average : bool or int, default=False
        When True, ``coef_`` and ``intercept_`` are the average of the iterates
        (averaged SGD); an int ``k`` starts averaging once ``k`` samples have been
        seen.

    shuffle : bool, default=True
        Whether to shuffle the samples at each epoch.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{label: weight}``; "balanced" weighs classes
        inversely to their frequency in ``y``, counted with ``sample_weight``
        as ``LogisticRegression`` does (in ``fit`` only). They multiply
        ``sample_weight``.

    warm_start : bool, default=False
        Whether ``fit`` starts from the current ``coef_`` and ``intercept_``
        instead of zeros. The classes and the number of features must not
        change.

    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling, the curvature measurement and the validation
        split; pass an int for reproducible results.

    verbose : int, default=0
        Prints the progress when positive: the training objective (and the
        validation accuracy) of about ten evenly spaced epochs, the last one
        included; 2 or more prints every epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights; one row for two classes, as in scikit-learn's linear models.
        Further training (``partial_fit``, ``warm_start``) starts from them.

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

    optimizer_state_ : dict
        What further training (``partial_fit``, ``warm_start``) goes on from,
        as plain arrays and numbers: the feature moments of the
        preconditioner, the measured curvature, the step's backtracking factor
        and the random state; after ``partial_fit`` also the iterate, its
        momentum and its average, so that a stream goes on exactly. Delete it
        (``del clf.optimizer_state_``) to save only the model: training then
        starts the optimizer afresh from ``coef_`` and ``intercept_``.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The same model, batch solvers.
    sklearn.linear_model.SGDClassifier : One-vs-rest linear models by SGD.
    sklearn.neural_network.MLPClassifier : Neural networks by SGD or Adam.

    Notes
    -----
    The two matrix products of each minibatch run on NumPy's BLAS. Products
    of fewer than 2**25 multiply-adds (``batch_size * n_features *
    n_classes``, e.g. Fashion-MNIST's) run on one BLAS thread during training:
    threads save little there, and on a busy machine they made fits 5 to 9
    times slower. Larger products keep the threads NumPy is configured with;
    when you run such fits several at once in processes you start yourself,
    limit each with ``threadpoolctl.threadpool_limits(1)``. scikit-learn's
    own parallel tools, such as ``GridSearchCV(n_jobs=...)``, already limit
    the threads of their workers. The last digits of the weights depend on
    the number of threads.

    Under ``sklearn.set_config(array_api_dispatch=True)`` (with the
    environment variable ``SCIPY_ARRAY_API=1``), PyTorch, CuPy and other array
    API arrays are fitted and predicted in their own namespace, on their
    device; ``coef_``, ``intercept_`` and the methods' outputs are arrays of
    that namespace, ``classes_`` stays a NumPy array on the host. See the user
    guide's page on GPUs and other array libraries.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sksoftmax import SoftmaxRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegression(random_state=0).fit(X, y)
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
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "learning_rate": [StrOptions({"cosine", "constant", "invscaling", "adaptive"})],
        "eta0": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
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
        alpha="auto",
        l1_ratio=0.15,
        fit_intercept=True,
        batch_size="auto",
        max_iter="auto",
        tol=1e-4,
        n_iter_no_change=5,
        early_stopping=False,
        validation_fraction=0.1,
        learning_rate="cosine",
        eta0="auto",
        power_t=0.5,
        momentum="auto",
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

    def __sklearn_array_api_convert__(self, converter):
        """A copy whose arrays are converted by ``converter``.

        scikit-learn's ``move_estimator_to`` calls it: ``coef_``,
        ``intercept_`` and the weights in ``optimizer_state_`` move to the
        target namespace and device; ``classes_``, the feature moments and
        the random state stay on the host, as fitting keeps them.
        """
        moved = clone(self)
        for key, value in vars(self).items():
            if key in ("coef_", "intercept_"):
                value = converter(value)
            elif key == "optimizer_state_":
                value = {
                    name: converter(item)
                    if name in _WEIGHTS and item is not None
                    else copy.deepcopy(item)
                    for name, item in value.items()
                }
            elif key.endswith("_") or key.startswith("_"):  # fitted, not a parameter
                value = copy.deepcopy(value)
            else:
                continue
            setattr(moved, key, value)
        return moved

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    # ----------------------------------------------------------------- fitting

    @_fit_context(prefer_skip_nested_validation=True)
    @_underflow_to_zero
    def fit(self, X, y, sample_weight=None):
        """Fit the model by minibatch SGD over ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Integer data (such as ``uint8`` images) is converted
            one minibatch at a time; float32 stays float32 unless its
            logits would be rounding noise (features thousands of standard
            deviations from zero), which train in float64.
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

    @_fit_context(prefer_skip_nested_validation=True)
    @_underflow_to_zero
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of SGD over the given samples.

        Training continues from ``coef_`` and ``intercept_``.

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
        """Run ``method``; if it fails (bad input, divergence), undo its changes.

        The calls never change an attribute's object in place (they build new
        arrays, lists and optimizer states), so restoring the attributes'
        bindings restores the estimator: nothing is copied on success.
        """
        saved = dict(self.__dict__)
        try:
            return method(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y, sample_weight):
        warm = self.warm_start and hasattr(self, "coef_")
        previous_classes = getattr(self, "classes_", None)
        X, y = self._validate_X_y(X, y, reset=not warm)
        if warm:
            check_same_namespace(X, self, attribute="coef_", method="fit")
        classes, y_index = np.unique(y, return_inverse=True)
        # Vectors indexed by sample are much of what a wide or long fit holds:
        # indices in 32 bits where they fit.
        y_index = y_index.astype(_optim.index_dtype(classes.size), copy=False)
        if classes.size < 2:
            raise ValueError(
                "SoftmaxRegression needs samples of at least 2 classes in the data,"
                f" but the data contains only one class: {classes[0]!r}."
            )
        if warm and not np.array_equal(classes, previous_classes):
            raise ValueError(
                "warm_start can only be used where y has the same classes as in"
                f" the previous call to fit: previously {previous_classes.tolist()},"
                f" now {classes.tolist()}. Set warm_start=False to start afresh."
            )
        self.classes_ = classes
        weights = self._sample_weights(X, y_index, sample_weight)
        rng = check_random_state(self.random_state)
        rows = np.arange(X.shape[0], dtype=_optim.index_dtype(X.shape[0]))
        validation = None
        if self.early_stopping:
            rows, validation = self._validation_split(y_index, weights, rng)
        state, _ = self._starting_state(
            X, rng, from_published=warm, continue_optimizer=False
        )
        n_train = rows.size
        batch_size = self._batch_size(n_train)
        steps_per_epoch = math.ceil(n_train / batch_size)
        if self.max_iter == "auto":
            n_epochs = max(AUTO_EPOCHS, math.ceil(AUTO_STEPS / steps_per_epoch))
        else:
            n_epochs = self.max_iter
        with _blas_threads(X, batch_size, classes.size):
            weights = self._set_up_optimizer(
                state, X, rows, weights, batch_size, n_train, False
            )
            history = self._new_history()
            self._train(X, y_index, weights, rows, state, history, n_epochs, validation)
        return self

    def _partial_fit(self, X, y, classes, sample_weight):
        first_call = not hasattr(self, "classes_")
        if first_call and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: list"
                " every label that will appear, e.g. partial_fit(X, y,"
                " classes=np.unique(y_all))."
            )
        if self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: hold out a"
                " validation set yourself and score it between calls."
            )
        X, y = self._validate_X_y(X, y, reset=first_call)
        if not first_call:
            check_same_namespace(X, self, attribute="coef_", method="partial_fit")
        _check_partial_fit_first_call(self, to_numpy(classes))
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
        state = getattr(self, "optimizer_state_", None)
        # A copy: a failed call must leave the stream's random state as it was.
        rng = (
            check_random_state(self.random_state)
            if state is None
            else copy.deepcopy(state["rng"])
        )
        state, continued = self._starting_state(
            X, rng, from_published=not first_call, continue_optimizer=True
        )
        rows = np.arange(X.shape[0])
        batch_size = self._batch_size(X.shape[0], streaming=True)
        # alpha="auto" counts the samples trained on: an earlier fit's (not
        # its epochs'), then each chunk's.
        previous = getattr(self, "optimizer_state_", {})
        n_before = previous.get("n_samples", getattr(self, "t_", 0))
        # A stream that publishes an average, restarted from coef_, averages
        # from that model.
        average_from = self._averaging(streaming=True)[0]
        averaging = (
            not first_call and average_from is not None and self.t_ >= average_from
        )
        if averaging and not continued:
            self._seed_average(state, n_before / batch_size)
        n_seen = n_before + X.shape[0]
        with _blas_threads(X, batch_size, self.classes_.size):
            weights = self._set_up_optimizer(
                state, X, rows, weights, batch_size, n_seen, True
            )
            history = self._new_history() if first_call else self._history()
            self._train(X, y_index, weights, rows, state, history, 1, streaming=True)
        return self

    def _seed_average(self, state, n_steps):
        """Count the published model as the average of ``n_steps`` steps.

        A stream that goes on from ``fit``'s model (or from ``coef_`` written
        by the user) publishes an average of its iterates (``_averaging``);
        begun afresh, that average would be the first few noisy steps of the
        new chunk and undo the fitted model. Seeded with the steps of one pass
        over the samples trained on (they count once, as for alpha="auto"),
        it moves from the fitted model as the stream's samples outnumber
        them: a stream of the same data refines the model, a changed one is
        learned.
        """
        state["average_t"] = copy_of(state["coef_t"])
        state["average_intercept"] = copy_of(state["intercept"])
        state["n_averaged"] = max(1, math.ceil(n_steps))

    def _validate_X_y(self, X, y, reset):
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype="numeric", reset=reset
        )
        # The labels are bookkeeping: they live on the host, as NumPy.
        y = to_numpy(y)
        check_classification_targets(y)
        if sp.issparse(X) and X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        return X, y

    def _sample_weights(self, X, y_index, sample_weight):
        """sample_weight times class_weight (float64); None if both are unit."""
        if sample_weight is None and self.class_weight is None:
            return None  # unit weights: the minibatch loop skips the products
        # On the host, as NumPy, like the labels (y_index stands for X's rows).
        weights = _check_sample_weight(
            to_numpy(sample_weight), y_index, dtype=np.float64
        )
        if self.class_weight is not None:
            # "balanced" counts the classes with the sample weights, as
            # LogisticRegression does: a weight of k is k copies of a sample.
            with np.errstate(divide="ignore"):  # a class of zero weight: below
                per_class = compute_class_weight(
                    self.class_weight,
                    classes=self.classes_,
                    y=self.classes_[y_index],
                    sample_weight=None if sample_weight is None else weights,
                )
            weightless = self.classes_[~np.isfinite(per_class)]
            if weightless.size:
                raise ValueError(
                    f'class_weight="balanced" cannot weigh classes'
                    f" {weightless.tolist()}: all their samples have zero"
                    " sample_weight. Give some of them a positive weight, or"
                    " leave those samples out of y."
                )
            weights = weights * per_class[y_index]
        if (weights < 0).any():
            raise ValueError(
                "Sample weights (sample_weight times class_weight) must not be"
                " negative: a negative weight rewards a sample's loss, and the"
                " objective has no minimum. Give those samples zero weight."
            )
        if not weights.any():
            raise ValueError(
                "All sample weights (sample_weight times class_weight) are zero:"
                " give some samples a positive weight."
            )
        return weights

    def _validation_split(self, y_index, weights, rng):
        """Stratified (train rows, validation rows) for early stopping."""
        split = StratifiedShuffleSplit(
            test_size=self.validation_fraction, random_state=rng
        )
        try:
            rows, validation = next(split.split(np.zeros((y_index.size, 1)), y_index))
        except ValueError as error:
            raise ValueError(
                f"early_stopping cannot hold out validation_fraction="
                f"{self.validation_fraction} of {y_index.size} samples with every"
                f" class in both parts ({error}). Increase validation_fraction,"
                " give more samples or disable early_stopping."
            ) from error
        if weights is not None and not weights[validation].any():
            raise ValueError(
                "The sample weights of the validation set are all zero; use"
                " another random_state or validation_fraction."
            )
        return np.sort(rows), np.sort(validation)

    def _batch_size(self, n_samples, streaming=False):
        if self.batch_size != "auto":
            return min(self.batch_size, n_samples)
        if streaming:  # a few steps from each chunk, however small
            return min(256, max(STREAM_MIN_BATCH, -(-n_samples // STREAM_STEPS)))
        return min(256, n_samples)

    def _starting_state(self, X, rng, from_published, continue_optimizer):
        """A new optimizer state: from zeros, or from coef_ and intercept_; and
        whether it goes on exactly where the last call's stream stopped.

        The momentum (and average) of the last call carries over when
        ``continue_optimizer`` and ``coef_`` and ``intercept_`` are still the
        ones it published.
        """
        xp, device = array_namespace(X), device_of(X)
        dtype = _compute_dtype(X)
        if from_published and self.coef_.dtype == xp.float64:
            dtype = xp.float64  # a float64 model stays float64
        n_classes, n_features = self.classes_.size, X.shape[1]
        if not from_published:
            coef_t = xp.zeros((n_features, n_classes), dtype=dtype, device=device)
            intercept = xp.zeros(n_classes, dtype=dtype, device=device)
            return _optim.new_state(coef_t, intercept, rng), False
        coef, intercept = self.coef_, self.intercept_
        if xp is np:  # written by the user as lists, say
            coef, intercept = np.asarray(coef), np.asarray(intercept)
        if coef.ndim != 2 or coef.shape[-1] != n_features:
            raise ValueError(
                f"X has {n_features} features, but the fitted coef_ has shape"
                f" {coef.shape}: further training needs the same features. Set"
                " warm_start=False to start afresh."
            )
        rows = 1 if n_classes == 2 else n_classes
        if coef.shape[0] != rows or intercept.shape != (rows,):
            raise ValueError(
                f"coef_ has shape {coef.shape} and intercept_ {intercept.shape},"
                f" but {n_classes} classes need ({rows}, {n_features}) and"
                f" ({rows},) (one row for two classes, as in scikit-learn's"
                " linear models) to train further from them."
            )
        if not (xp.all(xp.isfinite(coef)) and xp.all(xp.isfinite(intercept))):
            raise ValueError(
                "coef_ or intercept_ holds NaN or infinite values: further"
                " training needs finite ones. Set warm_start=False to start"
                " afresh."
            )
        coef_t, intercept = _multinomial(coef, intercept, dtype)
        old = getattr(self, "optimizer_state_", None)
        state = _optim.new_state(coef_t, intercept, rng)
        continued = False
        if continue_optimizer and old is not None:
            for key in ("moments", "curvature", "eta_factor"):
                state[key] = old[key]
            continued = "velocity_t" in old and self._published_by(old)
            if continued:
                for key in ("coef_t", "intercept", "velocity_t", "velocity_intercept"):
                    if old[key] is not None:
                        state[key] = xp.astype(old[key], dtype)
                if old["n_averaged"]:
                    state["average_t"] = copy_of(old["average_t"])
                    state["average_intercept"] = copy_of(old["average_intercept"])
                    state["n_averaged"] = old["n_averaged"]
        return state, continued

    def _published_by(self, state):
        """Whether coef_ and intercept_ are what ``state`` published last."""
        coef, intercept = self._publishable(state)
        xp = array_namespace(coef)
        return all(
            type(new) is type(published)
            and new.shape == published.shape
            and bool(xp.all(new == published))
            for new, published in [(coef, self.coef_), (intercept, self.intercept_)]
        )

    def _set_up_optimizer(
        self, state, X, rows, weights, batch_size, n_samples, streaming
    ):
        """Moments, preconditioner, step size and penalty for this call.

        Returns the sample weights, made explicit where the unit weights of
        this call are not the mean weight of all samples trained on.
        """
        moments = _optim.feature_moments(X, rows, weights)
        previous = state["moments"]
        if previous is not None:  # (on the host, even if the model was moved)
            previous = {key: to_numpy(value) for key, value in previous.items()}
            moments = _optim.merge_moments(previous, moments)
        # Weights enter the steps divided by their mean over every sample
        # trained on, and alpha likewise: the same minimizer, a step size that
        # does not depend on their scale, and chunks of a stream that weigh as
        # their samples do (a chunk's own mean would give each chunk the same).
        state["mean_weight"] = moments["weight"] / n_samples
        if weights is None and state["mean_weight"] != 1:
            weights = np.ones(X.shape[0])
        xp, device = array_namespace(X), device_of(X)
        dtype, host_dtype = state["coef_t"].dtype, _host_dtype(state["coef_t"])
        extreme = _optim.extreme_features(moments, host_dtype)
        if (
            host_dtype == np.float32
            and float64_on(xp, device)
            and (
                extreme.size
                or _optim.logit_rounding(moments, host_dtype) > MAX_LOGIT_ROUNDING
            )
        ):
            dtype, host_dtype = xp.float64, np.float64  # float32 cannot resolve them
            _optim.astype_state(state, dtype)
            extreme = _optim.extreme_features(moments, host_dtype)
        if extreme.size:
            first = extreme[0]
            raise ValueError(
                f"Features {extreme[:10].tolist()} of X vary on scales that"
                " float64 cannot standardize (feature"
                f" {first} ranges from {moments['low'][first]:.3g} to"
                f" {moments['high'][first]:.3g}): the squares of values beyond"
                " about 1e154 overflow, deviations below about 1e-154"
                " underflow. Rescale them first: multiply them by a power of"
                " ten (sklearn.preprocessing.MaxAbsScaler does it for large"
                " values, not for tiny ones)."
            )
        # Kept in the weights' precision: on wide data these vectors are much
        # of what a fit holds.
        moments = state["moments"] = _optim.moments_as(moments, host_dtype)
        steps = self._steps(X, moments, batch_size, rows.size, streaming)
        centered = self.fit_intercept
        if steps == "touched rows":  # centring a feature means stepping it always
            centered = centered & _optim.frequent_features(moments, batch_size)
        center, scale = _optim.preconditioner(moments, batch_size, centered, host_dtype)
        state["center"], state["scale"], state["steps"] = center, scale, steps
        curvature = self._set_up_sampling(
            state, X, rows, weights, batch_size, centered, streaming
        )
        if previous is not None:  # partial_fit: the mean over the chunks seen
            share = 1 - previous["weight"] / moments["weight"]
            curvature = state["curvature"] + share * (curvature - state["curvature"])
        state["curvature"] = curvature
        state["batch_size"] = batch_size
        state["n_samples"] = n_samples
        return weights

    def _set_up_sampling(
        self, state, X, rows, weights, batch_size, centered, streaming
    ):
        """How the epochs draw their rows, and the curvature their steps meet.

        Rows are drawn by importance (:func:`_optim.importance_sampling`) where
        rows of extreme values (heavy tails, long documents) or weights would
        otherwise cap the step of all the others: where the largest row
        curvature, times its weight, is over IMPORTANCE_SKEW times the mean,
        or where drawing by importance allows a step at least IMPORTANCE_GAIN
        times as large. The sampling keeps every draw's curvature under twice
        the mean, and the preconditioner then only standardizes (no range
        term). The skew, and the step of draws by importance (probed only
        where some row's load is over twice the mean), are measured on an
        even sample of the rows for dense X without weights, on every row
        otherwise; the step of uniform draws on random minibatches. Dense X
        drawn by importance, or whose moments suggest rows far outside the
        others, is checked for rows that hold most of the variance
        (:func:`_warn_of_dominant_rows`), on every row, whatever the steps.
        """
        if weights is not None:
            weights = weights / state["mean_weight"]
        state["probabilities"], state["draw_weights"] = None, weights
        curvature_of = functools.partial(
            _optim.batch_curvature,
            X,
            batch_size=batch_size,
            fit_intercept=self.fit_intercept,
            momentum=self._momentum(state["steps"]),
            streaming=streaming,
        )
        # One minibatch of every row draws nothing: its rows are taken once.
        drawn = (
            not streaming
            and self.shuffle
            and state["steps"] != "accelerated"
            and batch_size < rows.size
        )
        # Rows far outside the others are looked for in dense X (a sparse row
        # holds a few features' variance) where the data suggest them.
        suspect = (
            not streaming
            and not sp.issparse(X)
            and _optim.concentration(state["moments"]) > CONCENTRATION
        )
        uniform = functools.partial(
            curvature_of, rows, state["center"], state["scale"], weights=weights
        )
        if not (drawn or suspect):
            return uniform(rng=state["rng"])
        checked = rows
        if weights is None and not sp.issparse(X) and rows.size > SKEW_SAMPLE:
            checked = rows[np.linspace(0, rows.size - 1, SKEW_SAMPLE).astype(np.intp)]
        every = checked is rows

        def loads(curvatures, rows):
            return curvatures if weights is None else curvatures * weights[rows]

        curvatures = _optim.row_curvatures(
            X, checked, state["center"], state["scale"], self.fit_intercept
        )
        curvature = uniform(rng=state["rng"], curvatures=curvatures if every else None)
        load = loads(curvatures, checked)
        # Skewed rows are drawn by importance, whatever the step gained.
        importance = drawn and load.max() > IMPORTANCE_SKEW * load.mean()
        # Drawn by importance: standardized features (no range term), and no
        # draw's load over twice the mean.
        dtype = _host_dtype(state["coef_t"])
        center, scale = _optim.preconditioner(state["moments"], None, centered, dtype)

        def by_importance(rows, curvatures, rng):
            """(probabilities, draw weights over X's rows, curvature)."""
            probabilities, draw_weights = _optim.importance_sampling(
                curvatures, None if weights is None else weights[rows]
            )
            all_weights = np.zeros(X.shape[0])
            all_weights[rows] = draw_weights
            curvature = curvature_of(
                rows,
                center,
                scale,
                rng=rng,
                weights=all_weights,
                probabilities=probabilities,
                curvatures=curvatures,
            )
            return probabilities, all_weights, curvature

        drawing = None
        # (The sample must hold more than a minibatch, or the probe would
        # measure a full batch, without noise.)
        probed = drawn and not importance and batch_size < checked.size
        if probed:
            curvatures = _optim.row_curvatures(
                X, checked, center, scale, self.fit_intercept
            )
            load = loads(curvatures, checked)
            if load.max() > 2 * load.mean():
                # On a copy of the generator: uniform draws stay as they were.
                rng = copy.deepcopy(state["rng"])
                drawing = by_importance(checked, curvatures, rng)
                importance = curvature >= IMPORTANCE_GAIN * drawing[2]
        if not (importance or suspect):
            return curvature
        if not (probed and every):  # every row's, standardized
            curvatures = _optim.row_curvatures(
                X, rows, center, scale, self.fit_intercept
            )
        if not sp.issparse(X):
            load = loads(curvatures, rows)
            _warn_of_dominant_rows(X, rows, load / load.sum(), center, scale, weights)
        if not importance:
            return curvature
        if drawing is None or not every:
            drawing = by_importance(rows, curvatures, state["rng"])
        state["center"], state["scale"] = center, scale
        state["probabilities"], state["draw_weights"], curvature = drawing
        return curvature

    def _penalty_alphas(self, n_samples):
        """The (L1, L2) multipliers of the penalty."""
        if self.penalty is None:
            return 0.0, 0.0
        alpha = self.alpha
        if alpha == "auto":  # LogisticRegression(C=1), see the class docstring
            alpha = (2.0 if self.classes_.size == 2 else 1.0) / max(n_samples, 1)
        # Python floats: NumPy scalars (np.logspace grids) do not mix with
        # other namespaces' arrays.
        alpha, l1_ratio = float(alpha), float(self.l1_ratio)
        if self.penalty == "l2":
            return 0.0, alpha
        if self.penalty == "l1":
            return alpha, 0.0
        return alpha * l1_ratio, alpha * (1 - l1_ratio)

    def _resolve_loss(self):
        """A fresh, validated loss object for this call."""
        loss = self.loss
        if isinstance(loss, str):
            return LOSSES[loss]()
        if isinstance(loss, type):
            raise TypeError(
                f"loss={loss.__name__} is a class; pass an instance of it, e.g."
                f" loss={loss.__name__}()."
            )
        loss = clone(loss, safe=False)  # later changes to the user's object stay out
        if hasattr(loss, "_validate_params"):
            loss._validate_params()
        return loss

    def _new_history(self):
        early = self.early_stopping
        return {
            "n_iter_": 0,
            "t_": 0,
            "loss_curve_": [],
            "best_loss_": None if early else np.inf,
            "validation_scores_": [] if early else None,
            "best_validation_score_": -np.inf if early else None,
        }

    def _history(self):
        """The fitted history, which ``_train`` copies before extending it."""
        return {name: getattr(self, name) for name in self._new_history()}

    # ---------------------------------------------------------------- training

    def _train(
        self,
        X,
        y_index,
        weights,
        rows,
        state,
        history,
        n_epochs,
        validation=None,
        streaming=False,
    ):
        """Run ``n_epochs`` epochs over ``X[rows]``; publish the model on success.

        ``streaming`` (``partial_fit``): the schedule counts the samples seen
        over all calls, with no horizon.
        """
        loss_function = self._resolve_loss()
        n_train = rows.size
        mean_weight = state["mean_weight"]  # see _set_up_optimizer
        if mean_weight <= 0:
            raise ValueError(
                "The training samples' weights are all zero: give some samples"
                " a positive weight."
            )
        step_weights = None if weights is None else weights / mean_weight
        draw_weights = state["draw_weights"]
        alpha_l1, alpha_l2 = self._penalty_alphas(state["n_samples"])
        batch_size = state["batch_size"]
        accelerated = state["steps"] == "accelerated"
        alphas = dict(alpha_l1=alpha_l1 / mean_weight, alpha_l2=alpha_l2 / mean_weight)
        # The exact training objective of a snapshot's weights (a pass over X).
        objective_of = functools.partial(
            _objective,
            loss_function,
            X,
            y_index,
            step_weights,
            rows,
            mean_weight=mean_weight,
            alpha_l1=alpha_l1,
            alpha_l2=alpha_l2,
        )
        if state["steps"] == "touched rows":
            stepper = _optim.TouchedRowStepper(
                state, fit_intercept=self.fit_intercept, **alphas
            )
        else:
            stepper = _optim.Stepper(
                state,
                momentum=None if accelerated else self._momentum(state["steps"]),
                nesterov=self.nesterovs_momentum,
                fit_intercept=self.fit_intercept,
                **alphas,
            )
        # The objective to stay under: the all-zero model's, or where the call
        # started if that was worse on this data (a continued model on a new
        # chunk); the latter costs a pass over X and is only taken if needed.
        floor = mean_weight * _zero_model_loss(
            loss_function, y_index[rows], step_weights, rows, state["coef_t"]
        )
        xp = array_namespace(state["coef_t"])
        start_checked = not (xp.any(state["coef_t"]) or xp.any(state["intercept"]))
        steps_per_epoch = math.ceil(n_train / batch_size)
        # The stopping rule waits n_iter_no_change epochs; with early stopping,
        # no fewer than n_iter_no_change * PATIENCE_STEPS steps: where an epoch
        # is a step or two (small data), the accuracy on a few dozen
        # validation samples cannot move in a few of them.
        patience = self.n_iter_no_change
        if validation is not None:
            patience *= max(1, math.ceil(PATIENCE_STEPS / steps_per_epoch))
        average_from, recent = self._averaging(streaming)
        best_coef, no_improvement, backtracks = None, 0, 0
        # The cross-entropy curves less where the model grows confident: its
        # curvature is measured again at the weights at the start of an epoch,
        # once REMEASURE_STEPS steps have passed, then twice as many, ... The
        # first measurement bounds it everywhere, and stays for other losses
        # (their curvature is unknown), full batches and streams.
        local = (
            not (streaming or accelerated)
            and self.eta0 == "auto"
            and type(loss_function) is CrossEntropyLoss
        )
        bound, unmeasured, interval = state["curvature"], 0, REMEASURE_STEPS
        # Where this call started: the one point known to be good.
        start, start_history = _snapshot(state), history
        history = copy.deepcopy(start_history)
        epoch = 0
        while epoch < n_epochs:
            start_time = time.perf_counter()
            if local and unmeasured >= interval:
                unmeasured, interval = 0, 2 * interval
                state["curvature"] = self._local_curvature(state, X, rows)
            # The losses are taken along the epoch, from where it starts: the
            # penalty is taken there too (for a full batch, exactly).
            penalty = _optim.penalty_value(state["coef_t"], alpha_l1, alpha_l2)
            if streaming:  # samples seen
                progress = history["t_"] + np.arange(steps_per_epoch) * batch_size
            else:  # epochs
                progress = epoch + np.arange(steps_per_epoch) / steps_per_epoch
            etas = self._etas(state, progress, n_epochs, accelerated, streaming)
            order = self._epoch_order(rows, state, batch_size)
            # The draws' weights: n_train but for the importance weights of
            # drawn rows, whose sum varies (a self-normalized estimate).
            drawn = (
                n_train if draw_weights is None else float(draw_weights[order].sum())
            )
            loss_sum = _run_epoch(
                X,
                y_index,
                draw_weights,
                order,
                batch_size,
                etas,
                loss_function,
                stepper,
                average_from,
                recent,
                history,
            )
            unmeasured += steps_per_epoch
            objective = None
            if loss_sum is not None:
                objective = mean_weight * loss_sum / drawn + penalty
            if not start_checked and (objective is None or objective > floor):
                start_checked = True
                floor = max(floor, objective_of(start))
            if _diverged(objective, floor, streaming) and objective is not None:
                # Minibatches in a fixed order (shuffle=False on rows grouped
                # by class) each meet a model fitted to the ones before: their
                # losses rise above the floor with no divergence. The
                # objective of the weights themselves decides.
                objective = objective_of(state)
            if _diverged(objective, floor, streaming):
                backtracks += 1
                _restore(state, start)
                stepper.restart()
                self._check_backtrack(
                    objective,
                    backtracks,
                    state,
                    loss_function,
                    X,
                    y_index,
                    rows,
                    history["n_iter_"] + 1,
                )
                # Start the call again with smaller steps.
                state["eta_factor"] /= BACKTRACK_FACTOR
                state["curvature"], unmeasured, interval = bound, 0, REMEASURE_STEPS
                history = copy.deepcopy(start_history)
                epoch, best_coef, no_improvement = 0, None, 0
                continue
            epoch += 1
            history["n_iter_"] += 1
            history["loss_curve_"].append(objective)
            if history["best_loss_"] is not None:
                improved = objective < history["best_loss_"] - (self.tol or 0)
                history["best_loss_"] = min(history["best_loss_"], objective)
            if validation is not None:
                published = self._publishable(state)
                score = self._validation_score(
                    X, y_index, weights, validation, published
                )
                history["validation_scores_"].append(score)
                improved = score > history["best_validation_score_"] + (self.tol or 0)
                # Of epochs that score alike (a small validation set saturates),
                # the last, further trained, is kept.
                if score >= history["best_validation_score_"]:
                    history["best_validation_score_"] = score
                    best_coef = published
            # About ten lines whatever the budget; verbose >= 2: every epoch.
            every = 1 if self.verbose > 1 else max(1, n_epochs // 10)
            if self.verbose and (epoch % every == 0 or epoch == n_epochs):
                _print_progress(history, time.perf_counter() - start_time)
            no_improvement = 0 if improved else no_improvement + 1
            watching = validation is not None or self.learning_rate != "cosine"
            if watching and self.tol is not None and no_improvement >= patience:
                no_improvement = 0
                if self.learning_rate == "adaptive" and state["eta_factor"] > 1e-6:
                    state["eta_factor"] /= 5
                    continue
                break
        else:
            if (
                not streaming
                and self.tol is not None
                and self.learning_rate != "cosine"
            ):
                _warn(
                    f"SoftmaxRegression stopped at max_iter={n_epochs} epochs"
                    " before the stopping rule was met; increase max_iter or use"
                    ' learning_rate="cosine", which anneals within max_iter.',
                    ConvergenceWarning,
                )
        if alpha_l1 and best_coef is None and not (streaming or accelerated):
            _polish_zeros(
                state,
                loss_function,
                X,
                y_index,
                step_weights,
                rows,
                objective_of,
                alphas,
                self.fit_intercept,
            )
        state["curvature"] = bound  # where a further call starts
        # The weights after fit are not kept in optimizer_state_: no copy.
        coef, intercept = best_coef or self._publishable(state, copy=streaming)
        # Success: swap the new model in.
        self.coef_, self.intercept_ = coef, intercept
        self.loss_function_ = loss_function
        self.optimizer_state_ = _kept(state, streaming)
        for name, value in history.items():
            setattr(self, name, value)

    def _local_curvature(self, state, X, rows):
        """The curvature that the steps meet at the weights (see _train)."""
        return _optim.batch_curvature(
            X,
            rows,
            state["center"],
            state["scale"],
            batch_size=state["batch_size"],
            fit_intercept=self.fit_intercept,
            momentum=self._momentum(state["steps"]),
            rng=state["rng"],
            weights=state["draw_weights"],
            probabilities=state["probabilities"],
            confidence=functools.partial(
                _optim.confidence, coef_t=state["coef_t"], intercept=state["intercept"]
            ),
        )

    def _steps(self, X, moments, batch_size, n_train, streaming):
        """Which steps a call takes: "accelerated", "touched rows" or "momentum".

        One minibatch of all the data: deterministic steps, accelerated. Sparse
        X whose minibatches hold a small part of the features (text, hashed or
        one-hot features of many values), by default, or any sparse X with
        ``momentum=0``: steps without momentum that touch only those features'
        weights. Otherwise minibatch steps with momentum.
        """
        if not streaming and self.momentum == "auto" and batch_size >= n_train:
            return "accelerated"
        if sp.issparse(X) and (
            self.momentum == 0
            or self.momentum == "auto"
            and _optim.touched_fraction(moments, batch_size) < 0.5
        ):
            return "touched rows"
        return "momentum"

    def _momentum(self, steps):
        """The momentum of minibatch steps: "auto" is 0.9, or 0 on touched rows."""
        if steps == "touched rows":
            return 0.0
        return 0.9 if self.momentum == "auto" else self.momentum

    def _etas(self, state, progress, horizon, accelerated, streaming):
        """Step sizes at ``progress``: epochs into ``fit``, or samples seen."""
        if self.eta0 == "auto":
            scale = _optim.ACCELERATED_STEP_SCALE if accelerated else _optim.STEP_SCALE
            eta = scale / state["curvature"]
        else:
            eta = self.eta0
        eta = eta * state["eta_factor"]
        schedule = self.learning_rate
        if streaming and schedule in ("cosine", "invscaling"):
            power = 0.5 if schedule == "cosine" else self.power_t
            etas = eta / (1 + progress / STREAM_DECAY_SAMPLES) ** power
        elif schedule == "cosine":
            etas = _optim.cosine(eta, progress / horizon)
        elif schedule == "invscaling":
            etas = eta / (1 + progress) ** self.power_t
        else:
            etas = np.full(progress.shape, eta)
        etas = etas.astype(_host_dtype(state["coef_t"]))
        # NumPy scalars of the weights' dtype for NumPy; Python floats for other
        # namespaces, which take no NumPy scalars.
        return etas if isinstance(state["coef_t"], np.ndarray) else etas.tolist()

    def _epoch_order(self, rows, state, batch_size):
        """The rows in the order the minibatches read them."""
        if not self.shuffle or batch_size >= rows.size:  # one batch: no order
            return rows
        if state["probabilities"] is not None:  # drawn by importance
            draws = state["rng"].choice(rows.size, rows.size, p=state["probabilities"])
            order = rows[draws]
        else:
            order = state["rng"].permutation(rows)
        # Sorted rows within each batch: the same sums, gathered faster.
        full = order.size - order.size % batch_size
        order[:full].reshape(-1, batch_size).sort(axis=1)
        order[full:].sort()
        return order

    def _averaging(self, streaming):
        """(samples after which iterates are averaged or None, their weighting)."""
        if self.average:
            return (0 if self.average is True else int(self.average)), 0
        if streaming and self.learning_rate == "cosine":
            return 0, STREAM_RECENT
        return None, 0

    def _check_backtrack(
        self, objective, backtracks, state, loss_function, X, y_index, rows, epoch
    ):
        """Raise the error that names the cause of a divergence, if it is final."""
        if self.eta0 != "auto":
            raise ValueError(
                f"SoftmaxRegression diverged in epoch {epoch}: the training"
                f" objective became {objective}, worse than the all-zero model's."
                f" eta0={self.eta0} is too large for this data: pass a smaller"
                ' eta0, or eta0="auto", which sizes and backs off the step by'
                " itself."
            )
        cause = _loss_fault(loss_function, X, y_index, rows, state)
        if cause is not None:
            raise ValueError(cause)
        if backtracks > MAX_BACKTRACKS:
            raise ValueError(
                f"SoftmaxRegression diverged in epoch {epoch} even with steps"
                f" {BACKTRACK_FACTOR**MAX_BACKTRACKS:.0e} times smaller than the"
                " measured curvature allows: the objective became"
                f" {objective}. The loss's gradient may not match its values"
                " (check gradient against finite differences), or a few samples"
                " carry most of the weight (sample_weight, class_weight)."
            )

    def _publishable(self, state, copy=True):
        """(coef_, intercept_) as published from ``state``: new arrays, or
        views of the state's (``copy=False``, when it is not kept)."""
        coef_t, intercept = state["coef_t"], state["intercept"]
        if state["n_averaged"]:
            coef_t, intercept = state["average_t"], state["average_intercept"]
        xp = array_namespace(coef_t)
        if coef_t.shape[1] == 2:  # binary: one row, the difference of the two logits
            return (
                xp.reshape(coef_t[:, 1] - coef_t[:, 0], (1, -1)),
                xp.reshape(intercept[1] - intercept[0], (1,)),
            )
        if not copy:
            return coef_t.T, intercept
        return copy_of(coef_t.T), copy_of(intercept)

    def _validation_score(self, X, y_index, weights, validation, published):
        """Weighted accuracy of the ``published`` model on ``X[validation]``."""
        coef, intercept = published
        xp = array_namespace(coef)
        correct = np.empty(validation.size, dtype=bool)
        on_device = xp is not np
        for rows in _optim.row_chunks(validation.size, X.shape[1], on_device):
            chunk = validation[rows]
            scores = _scores(_optim.take_rows(X, chunk), coef, intercept)
            best = to_numpy(xp.argmax(_as_logits(scores), axis=1))
            correct[rows] = best == y_index[chunk]
        if weights is not None:
            weights = weights[validation]
        return float(np.average(correct, weights=weights))

    # -------------------------------------------------------------- prediction

    @_underflow_to_zero
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
            per class. Scores beyond the floating-point range are infinite.
        """
        X = self._validated(X, "decision_function")
        with np.errstate(over="ignore", invalid="ignore"):
            scores = _scores(X, self.coef_, self.intercept_)
            xp = array_namespace(scores)
            broken = ~xp.all(xp.isfinite(scores), axis=1)
            if xp.any(broken):  # overflow (inf - inf): redo from rescaled rows
                product, size = _rescaled_product(X[broken], self.coef_)
                intercept = xp.astype(self.intercept_, product.dtype)
                scores[broken] = xp.astype(product * size + intercept, scores.dtype)
        if scores.shape[1] == 1:
            return array_namespace(scores).reshape(scores, (-1,))
        return scores

    def _validated(self, X, method):
        check_is_fitted(self)
        # scikit-learn's finiteness check sums X: +1e308 and -1e308 make it warn.
        with np.errstate(over="ignore", invalid="ignore"):
            X = validate_data(
                self, X, accept_sparse="csr", dtype="numeric", reset=False
            )
        check_same_namespace(X, self, attribute="coef_", method=method)
        return X

    def _relative_logits(self, X, method):
        """Logits up to a per-row constant, finite for every finite input."""
        X = self._validated(X, method)
        with np.errstate(over="ignore", invalid="ignore"):
            logits = _as_logits(_scores(X, self.coef_, self.intercept_))
        xp = array_namespace(logits)
        broken = ~xp.all(xp.isfinite(logits), axis=1)
        if xp.any(broken):  # overflow: redo those rows from rescaled inputs
            logits[broken] = _limit_logits(X[broken], self.coef_, self.intercept_)
        return logits

    @_underflow_to_zero
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
        logits = self._relative_logits(X, "predict")  # checks fitted first
        xp = array_namespace(logits)
        best = xp.argmax(logits, axis=1)
        if xp is np:
            return self.classes_[best]
        if self.classes_.dtype.kind not in "biuf":  # labels only NumPy holds
            return self.classes_[to_numpy(best)]
        return xp.take(xp.asarray(self.classes_, device=device_of(logits)), best)

    @_underflow_to_zero
    def predict_proba(self, X):
        """Estimate class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``; finite,
            and each row sums to one, for any finite input.
        """
        logits = self._relative_logits(X, "predict_proba")
        with np.errstate(over="ignore"):  # -inf for classes of probability 0
            proba = softmax(logits)
        if isinstance(proba, np.ndarray):
            return np.ascontiguousarray(proba)
        return proba

    @_underflow_to_zero
    def predict_log_proba(self, X):
        """Compute the log of the class probabilities, stably.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probability of each class, in the order of ``classes_``; finite
            for any finite input (at least the dtype's most negative number).
        """
        logits = self._relative_logits(X, "predict_log_proba")
        xp = array_namespace(logits)
        with np.errstate(over="ignore"):
            log_proba = xp.clip(log_softmax(logits), min=xp.finfo(logits.dtype).min)
        if xp is np:
            return np.ascontiguousarray(log_proba)
        return log_proba


# Its public home, for pickle, skops and the docs: a saved model names no
# private module.
SoftmaxRegression.__module__ = "sksoftmax"

# ------------------------------------------------------------------- helpers


def _run_epoch(
    X,
    y_index,
    weights,
    order,
    batch_size,
    etas,
    loss_function,
    stepper,
    average_from,
    recent,
    history,
):
    """One pass of minibatch steps over ``X[order]``: the hot loop.

    Returns the weighted sum of the minibatch losses, or None if one is not
    finite (the steps diverged): NumPy stops at the first; other namespaces sum
    the losses on their device and check them at the end of the epoch, so that
    no step waits for the device.
    """
    coef_t = stepper.state["coef_t"]
    xp, device, dtype = array_namespace(coef_t), device_of(coef_t), coef_t.dtype
    # Everything indexed by sample is put in batch order once per epoch, on
    # the weights' device.
    y_order = from_numpy(y_index[order], xp, device)
    weights_order = None
    if weights is not None:
        weights_order = from_numpy(weights[order], xp, device, dtype)
    loss_sum, loss_dtype = 0.0, widest_float(xp, device)
    # Overflow is detected from the losses and handled by the caller.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        batches = _minibatches(X, order, batch_size, dtype)
        for (batch, Xb), eta in zip(batches, etas, strict=True):
            m = Xb.shape[0]
            # Column-major, like the losses' work arrays: mixing the two
            # memory orders would slow every elementwise operation.
            Yb = _one_hot(y_order[batch], coef_t.shape[1], dtype)
            raw = stepper.logits(Xb)
            sample_loss, grad = _loss_and_gradient(loss_function, Yb, raw)
            if weights_order is None:
                batch_loss = xp.sum(sample_loss)
            else:
                batch_weights = weights_order[batch]
                batch_loss = sample_loss @ batch_weights
                grad = grad * batch_weights[:, None]
            if xp is np:  # stop at the first non-finite loss
                batch_loss = float(batch_loss)
                if not math.isfinite(batch_loss):
                    return None
            else:  # summed on the device: steps queue up without waiting
                batch_loss = xp.astype(batch_loss, loss_dtype)
            loss_sum += batch_loss
            stepper.step(grad, eta)
            history["t_"] += m
            if average_from is not None and history["t_"] >= average_from:
                stepper.accumulate_average(recent)
    stepper.flush()
    loss_sum = float(loss_sum)
    return loss_sum if math.isfinite(loss_sum) else None


def _polish_zeros(
    state, loss_function, X, y_index, weights, rows, objective_of, alphas, fit_intercept
):
    """One proximal step on the full gradient from the model to publish, kept
    if it does not raise the objective (``objective_of(snapshot)``).

    Minibatch noise pushes weights whose optimum is zero out of the L1
    threshold at every step, so SGD's model has few exact zeros where the
    optimum has many (7% against 88% on a problem with 10 informative
    features of 100). A deterministic proximal step from it, the step of
    full-batch training, sets them to zero and moves the others by one step.
    ``weights`` and ``alphas`` are divided by the mean weight. Beside the
    weights it holds one array of their size: the step is taken a block of
    features at a time.
    """
    averaged = state["n_averaged"] > 0
    keys = ("average_t", "average_intercept") if averaged else ("coef_t", "intercept")
    model = {"coef_t": state[keys[0]], "intercept": state[keys[1]]}
    coef_t, intercept = model["coef_t"], model["intercept"]
    xp, device, dtype = array_namespace(coef_t), device_of(coef_t), coef_t.dtype
    step, step_intercept = xp.zeros_like(coef_t), xp.zeros_like(intercept)
    every_row = rows.size == X.shape[0]  # a slice of X is no copy
    for chunk in _optim.row_chunks(rows.size, X.shape[1], xp is not np):
        chunk_rows = rows[chunk]
        Xc = X[chunk, ...] if every_row else _optim.take_rows(X, chunk_rows)
        raw = _scores(Xc, coef_t.T, intercept)
        with np.errstate(all="ignore"):
            _, grad = _loss_and_gradient(
                loss_function, _host_one_hot(y_index[chunk_rows], raw), raw
            )
        if weights is not None:
            grad = grad * from_numpy(weights[chunk_rows], xp, device, dtype)[:, None]
        Xc = (
            Xc.astype(dtype, copy=False)
            if sp.issparse(Xc)
            else xp.astype(Xc, dtype, copy=False)
        )
        step += Xc.T @ grad
        step_intercept += xp.sum(grad, axis=0)
    # The full-batch step of the "accelerated" steps, without momentum.
    eta = _optim.ACCELERATED_STEP_SCALE / state["curvature"] * state["eta_factor"]
    step *= -eta / rows.size
    step_intercept *= -eta / rows.size
    center, scale = (
        from_numpy(state[key], xp, device, dtype) for key in ("center", "scale")
    )
    new_intercept = intercept + step_intercept
    for block in _optim.row_chunks(coef_t.shape[0], coef_t.shape[1], xp is not np):
        new_rows, change = _optim.proximal_gradient(
            coef_t[block, :],
            step[block, :],
            step_intercept,
            eta,
            center=center[block] if fit_intercept else None,
            scale=scale[block, None],
            feature_scale=scale[block],
            **alphas,
        )
        step[block, :] = new_rows
        if fit_intercept:
            new_intercept = new_intercept + change
    polished = {
        "coef_t": step,
        "intercept": new_intercept if fit_intercept else intercept,
    }
    if objective_of(polished) <= objective_of(model):
        state[keys[0]], state[keys[1]] = polished["coef_t"], polished["intercept"]


def _objective(
    loss_function, X, y_index, weights, rows, snapshot, mean_weight, alpha_l1, alpha_l2
):
    """The training objective of a snapshot's weights over ``X[rows]``:
    ``weights`` are divided by ``mean_weight``, the alphas are not."""
    loss = _mean_loss(loss_function, X, y_index, weights, rows, snapshot)
    return mean_weight * loss + _optim.penalty_value(
        snapshot["coef_t"], alpha_l1, alpha_l2
    )


def _multinomial(coef, intercept, dtype):
    """(coef_t, intercept) with one column per class, as ``dtype``, from
    published coefficients (checked): the binary row ``w1 - w0`` is split
    symmetrically."""
    xp = array_namespace(coef)
    if coef.shape[0] == 1:
        coef_t = xp.stack([-0.5 * coef[0, :], 0.5 * coef[0, :]], axis=1)
        intercept = xp.stack([-0.5 * intercept[0], 0.5 * intercept[0]])
    else:
        coef_t = coef.T
    return xp.astype(coef_t, dtype), xp.astype(intercept, dtype)


def _warn_of_dominant_rows(X, rows, share, center, scale, weights):
    """Warn of rows far outside the others, which hold over DOMINANT_ROW_SHARE
    of all rows' standardized squared deviations (``share`` is each of
    ``rows``'); ``center`` and ``scale`` standardize. A row of heavy-tailed
    values holds much of a few features' variance, such a row much of nearly
    every feature's: rows are named where they hold over a twentieth of the
    median feature's."""
    # Each holds a tenth of that, and ten times a row's mean share.
    heavy = np.flatnonzero(share > max(DOMINANT_ROW_SHARE / 10, 10 / share.size))
    if share[heavy].sum() <= DOMINANT_ROW_SHARE:
        return
    heavy = heavy[np.argsort(share[heavy])[::-1][:10]]
    values = np.asarray(to_numpy(_optim.take_rows(X, rows[heavy])), dtype=float)
    varying = scale > 0
    deviations = (values[:, varying] - center[varying]) ** 2 * scale[varying]
    if weights is not None:
        deviations *= weights[rows[heavy], None]
    typical = np.median(deviations, axis=1) / share.size  # of a feature's variance
    outside = heavy[typical > 1 / 20]
    if share[outside].sum() <= DOMINANT_ROW_SHARE:
        return
    _warn(
        f"Rows {np.sort(rows[outside]).tolist()} of X hold"
        f" {share[outside].sum():.0%} of all rows' squared deviations from the"
        " feature means, and much of nearly every feature's variance (their"
        " values, or weights, are far above the others'): every feature's"
        " step is scaled to them, so the other rows may be learned slowly and"
        " the model left short of its optimum. If they are errors (a glitch, a"
        " wrong unit), fix or drop them; otherwise compare with"
        " LogisticRegression, whose full-batch solver they do not slow down.",
        UserWarning,
    )


def _loss_and_gradient(loss_function, targets, raw):
    """Per-sample losses and their gradient, in one call when the loss has one."""
    if hasattr(loss_function, "loss_gradient"):
        return loss_function.loss_gradient(targets, raw)
    return loss_function.loss(targets, raw), loss_function.gradient(targets, raw)


def _zero_model_loss(loss_function, y_index, weights, rows, coef_t):
    """Mean (normalized-weight) loss of the all-zero model: the floor to beat.

    It is also the first call of the loss, in the namespace of ``coef_t``:
    what it returns is checked here.
    """
    xp, device = array_namespace(coef_t), device_of(coef_t)
    n_classes, dtype = coef_t.shape[1], coef_t.dtype
    targets = xp.eye(n_classes, dtype=dtype, device=device)
    logits = xp.zeros((n_classes, n_classes), dtype=dtype, device=device)
    per_class, gradient = _loss_and_gradient(loss_function, targets, logits)
    _check_loss_output(loss_function, per_class, gradient, logits)
    counts = np.bincount(
        y_index, weights=None if weights is None else weights[rows], minlength=n_classes
    )
    return float(to_numpy(per_class).astype(np.float64) @ counts) / y_index.size


def _diverged(objective, floor, streaming):
    """Whether an epoch's objective shows that the steps diverge.

    Non-finite, or worse than ``floor`` (the all-zero model's objective, or the
    starting model's if that is worse). A rise that stays below the floor is
    not taken as divergence: an epoch's objective is its minibatch losses
    along the way plus the penalty where it started, and a strong penalty
    legitimately brings it back up to the floor when its optimum is the zero
    model. A ``partial_fit`` call may hold a few steps on a small chunk, whose
    running objective is noisy: there only twice the floor counts as
    diverging.
    """
    if objective is None or not math.isfinite(objective):
        return True
    return objective > floor * (2 if streaming else 1 + 1e-6)


def _mean_loss(loss_function, X, y_index, weights, rows, weights_of):
    """Mean (normalized-weight) loss over ``X[rows]`` of a snapshot's weights."""
    coef, intercept = weights_of["coef_t"].T, weights_of["intercept"]
    on_device = array_namespace(coef) is not np
    total = 0.0
    for chunk in _optim.row_chunks(rows.size, X.shape[1], on_device):
        chunk_rows = rows[chunk]
        raw = _scores(_optim.take_rows(X, chunk_rows), coef, intercept)
        targets = _host_one_hot(y_index[chunk_rows], raw)
        with np.errstate(all="ignore"):
            losses = to_numpy(loss_function.loss(targets, raw)).astype(np.float64)
        if weights is not None:
            losses = losses * weights[chunk_rows]
        total += float(losses.sum())
    return total / rows.size


def _one_hot(labels, n_classes, dtype):
    """Column-major one-hot targets, ``(labels.size, n_classes)`` of ``dtype``,
    in the namespace and on the device of the integer array ``labels``."""
    if isinstance(labels, np.ndarray):  # a scatter: at 1,000 classes 15 times
        # faster than a gather (and no array_namespace call in the hot loop)
        targets = np.zeros((labels.size, n_classes), dtype=dtype, order="F")
        targets[np.arange(labels.size), labels] = 1
        return targets
    xp = array_namespace(labels)
    classes = xp.arange(n_classes, device=device_of(labels))
    return xp.astype(classes[:, None] == labels[None, :], dtype).T


def _host_one_hot(y_index, raw):
    """One-hot targets of host labels, in the namespace, device and dtype of
    the logits ``raw``."""
    labels = from_numpy(y_index, array_namespace(raw), device_of(raw))
    return _one_hot(labels, raw.shape[1], raw.dtype)


_ITERATE = ("coef_t", "intercept", "average_t", "average_intercept")
# The arrays of the optimizer's state that live in the data's namespace.
_WEIGHTS = (*_ITERATE, "velocity_t", "velocity_intercept")


def _kept(state, streaming):
    """What of the optimizer's state the fitted model keeps (``optimizer_state_``).

    Always what further training needs to go on where it stopped: the feature
    moments, the measured curvature, the step's backtracking factor, the
    random state and the number of samples trained on. After ``partial_fit``
    also the iterate, its momentum and its average, so that the stream goes on
    exactly; not after ``fit``, whose continuation starts from ``coef_``. The
    rest is derived again by each call.
    """
    kept = ["moments", "curvature", "eta_factor", "rng", "n_samples"]
    if streaming:
        kept += [*_ITERATE, "velocity_t", "velocity_intercept", "n_averaged"]
    return {key: state[key] for key in kept}


def _snapshot(state):
    """Copies of the weights (and their average), to go back to.

    All-zero weights (a fit from scratch) are saved as a read-only broadcast
    zero, which takes no memory.
    """
    saved = {
        key: None if state[key] is None else copy_of(state[key]) for key in _ITERATE[1:]
    }
    coef_t = state["coef_t"]
    xp = array_namespace(coef_t)
    if not xp.any(coef_t):
        zero = xp.zeros((), dtype=coef_t.dtype, device=device_of(coef_t))
        saved["coef_t"] = xp.broadcast_to(zero, coef_t.shape)
    else:
        saved["coef_t"] = copy_of(coef_t)
    return saved | {"n_averaged": state["n_averaged"]}


def _restore(state, saved):
    """Go back to the weights of ``saved``."""
    for key in _ITERATE:
        state[key] = None if saved[key] is None else copy_of(saved[key])
    state["n_averaged"] = saved["n_averaged"]


def _loss_fault(loss_function, X, y_index, rows, state):
    """A message if the loss gives non-finite values at finite logits, else None."""
    head = rows[: state["batch_size"]]
    raw = _scores(_optim.take_rows(X, head), state["coef_t"].T, state["intercept"])
    xp = array_namespace(raw)
    if not xp.all(xp.isfinite(raw)):
        return None
    with np.errstate(all="ignore"):
        loss, grad = _loss_and_gradient(
            loss_function, _host_one_hot(y_index[head], raw), raw
        )
    if xp.all(xp.isfinite(loss)) and xp.all(xp.isfinite(grad)):
        return None
    name = type(loss_function).__name__
    return (
        f"The loss {name} returned non-finite values (NaN or inf) for finite"
        " logits: its loss and gradient must be finite for every finite input."
        " Compute them stably, e.g. with sksoftmax.losses.log_softmax."
    )


def _check_loss_output(loss_function, sample_loss, grad, raw):
    """Name the mistake when a user's loss returns something unusable."""
    name = type(loss_function).__name__
    xp = array_namespace(raw)
    for what, value, shape in [
        ("loss", sample_loss, raw.shape[:1]),
        ("gradient", grad, raw.shape),
    ]:
        if not _is_array_of(value, xp):
            kind = "a NumPy array" if xp is np else f"an array of {xp.__name__}"
            raise TypeError(
                f"{name}.{what} must return {kind} (the logits' namespace) of"
                f" shape {shape}; got {type(value).__name__}. Compute it with"
                " the namespace of its inputs: xp ="
                " sksoftmax.losses.array_namespace(raw_prediction)."
            )
        if not xp.isdtype(value.dtype, "real floating"):
            raise TypeError(
                f"{name}.{what} must return real floating-point values (the"
                f" logits' dtype, {raw.dtype}); got {value.dtype}."
            )
        if value.shape != shape:
            raise ValueError(
                f"{name}.{what} must return shape {shape} ((n_samples,) for loss,"
                f" (n_samples, n_classes) for gradient); got shape {value.shape}."
            )


def _is_array_of(value, xp):
    """Whether ``value`` is an array of namespace ``xp``."""
    if xp is np:
        return isinstance(value, np.ndarray)
    try:
        return array_namespace(value) is xp
    except TypeError:
        return False


def _scores(X, coef, intercept):
    """``X @ coef.T + intercept`` for validated X, shape (n_samples, n_rows)."""
    if sp.issparse(X) or X.dtype == coef.dtype:
        return X @ coef.T + intercept
    # Convert a chunk at a time: never a float copy of all of X.
    xp = array_namespace(coef)
    parts = [
        xp.astype(X[rows, ...], coef.dtype) @ coef.T
        for rows in _optim.row_chunks(*X.shape, on_device=xp is not np)
    ]
    scores = xp.concat(parts, axis=0) if len(parts) != 1 else parts[0]
    scores += intercept
    return scores


def _as_logits(scores):
    """One logit per class, also for two classes (a zero logit for classes_[0])."""
    if scores.shape[1] == 1:
        xp = array_namespace(scores)
        return xp.concat([xp.zeros_like(scores), scores], axis=1)
    return scores


def _rescaled_product(X, coef):
    """``(X / s) @ coef.T`` and ``s``, each row's largest absolute value, in
    the widest float (a float32 model's input cannot overflow on conversion):
    the scores of rows that overflow are ``s`` times the first."""
    xp, device = array_namespace(coef), device_of(coef)
    wide = widest_float(xp, device)
    X = xp.astype(X.toarray() if sp.issparse(X) else X, wide)
    size = xp.max(xp.abs(X), axis=1, keepdims=True)
    size = xp.where(size == 0, xp.ones_like(size), size)
    return (X / size) @ xp.astype(coef.T, wide), size


def _limit_logits(X, coef, intercept):
    """Logits, up to a per-row constant, of rows whose scores overflow.

    The scores of each row divided by its largest absolute value ``s``
    (:func:`_rescaled_product`) are shifted so that the largest is 0, then
    multiplied back by ``s``. The product only overflows to ``-inf`` towards
    classes of zero probability, which the result floors at the dtype's most
    negative number.
    """
    xp = array_namespace(coef)
    product, size = _rescaled_product(X, coef)
    wide = product.dtype
    reduced = _as_logits(product)
    reduced -= xp.max(reduced, axis=1, keepdims=True)
    with np.errstate(over="ignore"):
        logits = reduced * size + _as_logits(xp.astype(intercept[None, :], wide))
    dtype = coef.dtype
    return xp.astype(xp.clip(logits, min=xp.finfo(dtype).min), dtype)


def _print_progress(history, seconds):
    message = f"Epoch {history['n_iter_']}: loss {history['loss_curve_'][-1]:.5f}"
    if history["validation_scores_"]:
        message += f", validation accuracy {history['validation_scores_'][-1]:.4f}"
    print(f"{message}, {seconds:.2f} s")
