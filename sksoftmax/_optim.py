"""The optimizer of SoftmaxRegression: preconditioned proximal SGD with momentum.

Every step is plain minibatch SGD with Nesterov momentum on *standardized*
coordinates, mapped back to the coordinates of X:

- the preconditioner (:func:`preconditioner`) centres each feature (the
  intercepts absorb the centring) and divides its step by its second moment,
  so the path does not depend on the features' units;
- the step size is a constant over the curvature that minibatch steps meet
  (:func:`batch_curvature`), measured on a few random minibatches and on the
  rows' norms: it accounts for the batch size, correlated features, the
  minibatches' noise and rows of rare features at once; for the
  cross-entropy it is measured again at the weights (:func:`confidence`);
- the penalties are applied by their proximal operators (shrinking, soft
  thresholding) after each gradient step, in the same metric, so their optimum
  is exact at any momentum and a large ``alpha`` can never make steps diverge.

The optimizer's state between calls is a plain dict of arrays and numbers
(:func:`new_state`), so a fitted model pickles and loads without private types.
"""

import math

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from sksoftmax._array_api import (
    array_namespace,
    copy_of,
    device_of,
    from_numpy,
    to_numpy,
    widest_float,
)
from sksoftmax._losses import softmax

# A step is STEP_SCALE over the curvature of a minibatch of standardized
# features. With Nesterov momentum 0.9 a quadratic of curvature h is stable for
# eta * h < 2 (1 + 0.9) / (1 + 2 * 0.9) = 1.36, and the cross-entropy's
# curvature in its logits is at most 1/2: 2.4 keeps a 10% margin.
STEP_SCALE = 2.4
# Accelerated full-batch steps (momentum k / (k + 3) -> 1) are stable for
# eta * h <= 1, hence 2 over the curvature of the features.
ACCELERATED_STEP_SCALE = 2.0
# Minibatch noise: momentum steps of size eta stay stable in mean square while
# eta R^2 / (2 B (1 - momentum)) < 1 (B the batch size, R^2 the draws' fourth
# moment ratio, see batch_curvature); with eta = STEP_SCALE / curvature, a
# curvature of at least NOISE_SCALE R^2 / (B (1 - momentum)).
NOISE_SCALE = STEP_SCALE / 2
# Random minibatches, and power iterations on each, that measure the curvature.
CURVATURE_BATCHES = 8
CURVATURE_ITERATIONS = 15
# The cosine schedule anneals to this fraction of its initial step.
COSINE_FLOOR = 1e-2
# Values converted at once when rows are read in chunks: a few MiB on the CPU;
# on other devices (GPUs) larger chunks, each chunk being a few kernel launches.
CHUNK_ELEMENTS = 2**18
DEVICE_CHUNK_ELEMENTS = 2**24
# Values of the weights that a sparse step reads or writes at once: on wide
# data a step then holds a few small chunks, not all the rows it touches.
STEP_CHUNK_ELEMENTS = 2**16


def index_dtype(n):
    """The integer dtype of indices below ``n``: 32 bits where they fit. On wide
    or long data, vectors of indices are much of what a fit holds."""
    return np.int32 if n <= np.iinfo(np.int32).max else np.intp


def row_chunks(n_rows, n_features, on_device=False):
    """Slices of rows holding about CHUNK_ELEMENTS (or, ``on_device``,
    DEVICE_CHUNK_ELEMENTS) values each."""
    elements = DEVICE_CHUNK_ELEMENTS if on_device else CHUNK_ELEMENTS
    return gen_batches(n_rows, max(1, elements // max(n_features, 1)))


def sparse_row_chunks(X, rows, elements=CHUNK_ELEMENTS):
    """``X[rows]`` of a sparse X, in canonical CSR chunks of a bounded size.

    Never a copy of all of X: about ``elements`` stored values at once.
    """
    X = X.tocsr()
    every_row = rows.size == X.shape[0]  # rows are sorted: slices will do
    per_row = max(X.nnz / max(X.shape[0], 1), 1.0)
    for chunk in gen_batches(rows.size, max(1, int(elements / per_row))):
        part = X[chunk] if every_row else X[rows[chunk]]
        if not part.has_canonical_format:  # duplicate entries add up
            part = part.copy()
            part.sum_duplicates()
        yield part


# ------------------------------------------------------------ preconditioner


def feature_moments(X, rows, weights):
    """Weighted summary of each feature over ``X[rows]``, as a mergeable dict.

    ``weight`` (total weight), ``mean``, ``m2`` (weighted sum of squared
    deviations), ``low`` and ``high`` (the range, unweighted), all float64; for
    sparse X also ``rows`` (their number) and ``nonzero`` (the rows holding
    each feature). X is read in chunks of rows: never converted or copied as a
    whole.
    """
    # Squares of values beyond 1e154 overflow: extreme_features names them.
    with np.errstate(over="ignore", invalid="ignore"):
        if sp.issparse(X):
            return _sparse_moments(X, rows, weights)
        return _dense_moments(X, rows, weights)


def _dense_moments(X, rows, weights):
    """The sums of :func:`feature_moments` for dense X, in X's namespace.

    Sums are taken around the first row, which removes most of the
    cancellation, on X's device, in float64 where the device has it.
    """
    xp, device = array_namespace(X), device_of(X)
    wide = widest_float(xp, device)
    shift = xp.astype(take_rows(X, rows[:1])[0, :], wide)
    total = xp.zeros_like(shift)
    squares = xp.zeros_like(shift)
    low = xp.full_like(shift, xp.inf)
    high = xp.full_like(shift, -xp.inf)
    weight = 0.0
    every_row = rows.size == X.shape[0]  # rows are sorted: a slice will do
    for chunk in row_chunks(rows.size, X.shape[1], on_device=xp is not np):
        raw = X[chunk, ...] if every_row else take_rows(X, rows[chunk])
        low = xp.minimum(low, xp.astype(xp.min(raw, axis=0), wide))
        high = xp.maximum(high, xp.astype(xp.max(raw, axis=0), wide))
        if xp is np:  # converts and subtracts in one pass, 5x faster
            diff = raw - shift
        else:
            diff = xp.astype(raw, wide) - shift
        w = None if weights is None else weights[rows[chunk]]
        weight += diff.shape[0] if w is None else float(w.sum())
        if w is not None:
            w = from_numpy(w, xp, device, wide)
        total += xp.sum(diff, axis=0) if w is None else w @ diff
        weighted = diff if w is None else diff * w[:, None]
        if xp is np:  # without a temporary: 3x faster
            squares += np.einsum("ij,ij->j", weighted, diff)
        else:
            squares += xp.sum(weighted * diff, axis=0)
    mean_diff = total / weight if weight > 0 else total
    m2 = xp.clip(squares - weight * mean_diff**2, min=0.0)
    # The per-feature summaries live on the host (see sksoftmax._array_api).
    shift, m2, low, high, mean_diff = (
        np.asarray(to_numpy(value), dtype=np.float64)
        for value in (shift, m2, low, high, mean_diff)
    )
    return {
        "weight": float(weight),
        "mean": shift + mean_diff,
        "m2": m2,
        "low": low,
        "high": high,
    }


def take_rows(X, rows):
    """``X[rows]`` in X's namespace, for host (NumPy) ``rows``."""
    if sp.issparse(X):
        return X[rows]
    xp = array_namespace(X)
    return xp.take(X, from_numpy(rows, xp, device_of(X)), axis=0)


def _sparse_moments(X, rows, weights):
    """The sums of :func:`feature_moments` for sparse X, accumulated in place.

    The weighted sums of each feature's deviations, and of their squares, are
    taken around its mean over the first rows, which removes most of the
    cancellation; its zeros are added at the end, from the weight of the rows
    that hold it. Only the summary's vectors of n_features and two more are
    allocated whole: on wide X they, not the chunks, are the cost.
    """
    n_features = X.shape[1]
    total, squares, nonzero = (np.zeros(n_features) for _ in range(3))
    low, high = np.full(n_features, np.inf), np.full(n_features, -np.inf)
    # The weight of the rows holding each feature: their number if unweighted.
    held = nonzero if weights is None else np.zeros(n_features)
    shift, weight, start = None, 0.0, 0
    # Float64 work arrays for a few rows at a time: small chunks.
    for part in sparse_row_chunks(X, rows, CHUNK_ELEMENTS // 16):
        w = None
        if weights is not None:
            w = weights[rows[start : start + part.shape[0]]].astype(np.float64)
        start += part.shape[0]
        weight += part.shape[0] if w is None else w.sum()
        deviations = part.data.astype(np.float64)
        np.minimum.at(low, part.indices, deviations)
        np.maximum.at(high, part.indices, deviations)
        np.add.at(nonzero, part.indices, 1.0)
        if shift is None:  # the first rows' (unweighted) means
            shift = np.zeros(n_features)
            np.add.at(shift, part.indices, deviations)
            shift /= part.shape[0]
        deviations -= shift[part.indices]
        if w is None:
            np.add.at(total, part.indices, deviations)
            deviations *= deviations
        else:
            row_weights = np.repeat(w, np.diff(part.indptr))
            np.add.at(held, part.indices, row_weights)
            row_weights *= deviations
            np.add.at(total, part.indices, row_weights)
            deviations *= row_weights
        np.add.at(squares, part.indices, deviations)
    if shift is None:  # no rows
        shift = np.zeros(n_features)
    # A feature's zeros deviate by -shift, with the weight of the other rows;
    # exactly none for a feature in every row, whose rounding times a large
    # shift squared would be all of its variance.
    has_zeros = nonzero < start
    absent = np.zeros(n_features)
    np.subtract(weight, held, out=absent, where=has_zeros)
    absent *= shift
    total -= absent
    absent *= shift
    squares += absent
    mean, m2 = total, squares  # the sums become the moments, in place
    if weight > 0:
        mean /= weight
    np.square(mean, out=absent)
    absent *= weight
    m2 -= absent
    np.maximum(m2, 0.0, out=m2)
    mean += shift
    np.minimum(low, 0.0, out=low, where=has_zeros)
    np.maximum(high, 0.0, out=high, where=has_zeros)
    return {
        "weight": float(weight),
        "mean": mean,
        "m2": m2,
        "low": low,
        "high": high,
        "rows": float(start),
        "nonzero": nonzero,  # rows holding each feature: how often it is touched
    }


def merge_moments(a, b):
    """Combine two summaries of :func:`feature_moments` (Chan et al.'s update).

    The result is written over ``b``'s arrays (a new summary, as a call's
    moments are): wide data then holds two summaries at once, not three.
    ``a`` is left as it is.
    """
    total = a["weight"] + b["weight"]
    if total == 0:
        return b
    delta = np.subtract(b["mean"], a["mean"], out=b["mean"])
    m2 = b["m2"]
    m2 += a["m2"]
    m2 += delta**2 * (a["weight"] * b["weight"] / total)
    delta *= b["weight"] / total
    delta += a["mean"]
    merged = {
        "weight": total,
        "mean": delta,
        "m2": m2,
        "low": np.minimum(a["low"], b["low"], out=b["low"]),
        "high": np.maximum(a["high"], b["high"], out=b["high"]),
    }
    if "nonzero" in a and "nonzero" in b:  # both sparse
        merged["rows"] = a["rows"] + b["rows"]
        merged["nonzero"] = np.add(a["nonzero"], b["nonzero"], out=b["nonzero"])
    return merged


def moments_as(moments, dtype):
    """The summary with its vectors in ``dtype`` where they fit (computed in
    float64, a float32 model's are kept in float32, but for a vector that
    float32 cannot hold, such as the squared deviations of large values)."""
    kept = dict(moments)
    for key, value in moments.items():
        if isinstance(value, np.ndarray):
            with np.errstate(over="ignore"):
                cast = value.astype(dtype, copy=False)
            if np.array_equal(np.isfinite(cast), np.isfinite(value)):
                kept[key] = cast
    return kept


def extreme_features(moments, dtype):
    """Features that vary but whose standardized step ``dtype`` cannot hold.

    A step divides a feature's gradient by its variance, and its weight is of
    order one over its standard deviation: a variance whose inverse overflows
    or underflows ``dtype`` (values around 1e-20 or 1e19 in float32, 1e-154 or
    1e154 in float64, where the squares themselves overflow) would silently
    drop the feature or break the steps.
    """
    weight = max(moments["weight"], np.finfo(np.float64).tiny)
    info = np.finfo(dtype)
    # Two work vectors of n_features at a time: on wide data they, not the
    # few booleans, would set the fit's peak memory.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        spread = moments["high"] - moments["low"]
        work = np.abs(moments["mean"])
        holds = np.isfinite(work) & np.isfinite(spread)
        work *= 8 * info.eps
        varying = (spread > work) | ~holds  # an overflowing range or mean varies
        # No weighted variance where the range's squares do not underflow:
        # only samples of zero weight vary, and the feature is constant.
        varying &= (moments["m2"] != 0) | (spread < np.sqrt(np.finfo(np.float64).tiny))
        del spread
        var = np.divide(moments["m2"], weight, out=work)
        holds &= (var > 1 / info.max) & (var < 1 / info.tiny) & np.isfinite(var)
    return np.flatnonzero(varying & ~holds)


def concentration(moments):
    """The median, over the features that vary, of the share of a feature's
    variance that its most extreme value holds: about 1 when a row far outside
    the others holds most of every feature's variance."""
    mean = moments["mean"]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        extreme = np.maximum(moments["high"] - mean, mean - moments["low"])
        extreme **= 2
        extreme /= moments["m2"]  # (m2 = weight * variance)
    share = extreme[moments["m2"] > 0]
    return float(np.median(share)) if share.size else 0.0


def logit_rounding(moments, dtype):
    """The rounding error that logits computed in ``dtype`` on uncentred X carry.

    A logit sums ``x_j w_j`` over the features, with standardized weights
    ``w_j`` of order ``1 / sd_j``: each term is about ``|mean_j| / sd_j`` and
    rounds with a relative error ``eps``, and the errors add up like a random
    walk, while the signal, the deviations, is of order 1. Features thousands
    of standard deviations from zero, as in data with a large offset, make
    float32 logits noise.
    """
    var = moments["m2"] / max(moments["weight"], 1e-300)
    offsets = np.square(moments["mean"])  # in place: two vectors of n_features
    varying = var > 0
    np.divide(offsets, var, out=offsets, where=varying)
    offsets[~varying] = 0.0
    return float(np.finfo(dtype).eps * np.sqrt(offsets.sum()))


def astype_state(state, dtype):
    """Convert the weights, and what moves them, to ``dtype`` in place."""
    xp = array_namespace(state["coef_t"])
    for key in ("coef_t", "intercept", *_MOVES):
        if state[key] is not None:
            state[key] = xp.astype(state[key], dtype)


def touched_fraction(moments, batch_size):
    """The expected fraction of the features a random sparse minibatch holds."""
    frequency = moments["nonzero"] / max(moments["rows"], 1.0)
    return float(np.mean(1 - (1 - frequency) ** batch_size))


def frequent_features(moments, batch_size):
    """Features of sparse X in nearly every minibatch (95%): the ones centred
    by :class:`TouchedRowStepper`, which then steps them at every step."""
    frequency = moments["nonzero"] / max(moments["rows"], 1.0)
    return frequency * batch_size >= 3


def preconditioner(moments, batch_size, centered, dtype):
    """The centre and the step scale of each feature, from its moments.

    A feature's step is divided by the larger of its variance and its largest
    squared deviation over ``batch_size``: the second moment a minibatch can
    reach when it holds that extreme value. Dense features are simply
    standardized; a rare or outlying value can no longer take a step many times
    the size of a typical one. Both terms scale with the feature's units, so
    the path is the same in any units. Features that do not vary get no step.

    ``batch_size=None`` leaves the range term out: when rows are drawn by
    importance (:func:`importance_sampling`), the rows holding extreme values
    are drawn more often with smaller steps, and standardizing is enough.

    ``centered`` (a bool, or one per feature) says which features are
    centred; the others (no intercept to absorb the mean, or the rare features
    of sparse X, whose steps touch only the features a minibatch holds) are
    scaled by their second moment around zero instead. Both are returned in
    ``dtype``, the weights' (on the host).
    """
    weight = max(moments["weight"], np.finfo(np.float64).tiny)
    # In float64 (the moments may be kept in float32: squares of large values
    # overflow there), in place, in three work vectors: on wide data vectors of
    # n_features are what the set-up holds beyond the weights.
    mean = moments["mean"]
    centered = np.broadcast_to(centered, mean.shape)
    center = np.where(centered, mean, 0.0)
    # the variance, or around 0 if not centred
    second = np.divide(moments["m2"], weight, dtype=np.float64)
    work = np.square(mean, dtype=np.float64)
    np.add(second, work, out=second, where=~centered)
    spread = np.subtract(moments["high"], center, dtype=np.float64)
    np.maximum(spread, np.subtract(center, moments["low"], out=work), out=spread)
    # Variation at the rounding level of the data's dtype is no variation.
    work = np.abs(mean, out=work)
    work *= 8 * np.finfo(dtype).eps
    constant = spread <= work
    if batch_size is not None:
        np.square(spread, out=spread)
        spread /= batch_size
        np.maximum(second, spread, out=second)
    usable = (second > 0) & ~constant & np.isfinite(second)
    scale = work  # 0: no step where unusable
    scale.fill(0.0)
    np.divide(1.0, second, out=scale, where=usable)
    return center.astype(dtype, copy=False), scale.astype(dtype, copy=False)


def row_curvatures(X, rows, center, scale, fit_intercept):
    """Each row's squared norm in standardized coordinates, intercept included.

    ``||(x_i - center) * sqrt(scale)||^2 + 1``: the curvature of the step of
    that row alone (for the cross-entropy, up to its factor of at most 1/2).
    Read in bounded chunks; a sparse X is never densified.
    """
    intercept = 1.0 if fit_intercept else 0.0
    norms = np.empty(rows.size)
    if sp.issparse(X):
        # Small chunks: on wide X their temporaries, not the vectors of
        # n_features, would set the fit's peak memory.
        scaled_center, start = scale * center, 0
        for part in sparse_row_chunks(X, rows, CHUNK_ELEMENTS // 8):
            stop = start + part.shape[0]
            norms[start:stop] = part.multiply(part) @ scale
            norms[start:stop] -= 2 * (part @ scaled_center)
            start = stop
        norms += scaled_center @ center + intercept
        return norms
    xp, device = array_namespace(X), device_of(X)
    wide = widest_float(xp, device)
    center, scale = (from_numpy(v, xp, device, wide) for v in (center, scale))
    every_row = rows.size == X.shape[0]
    for chunk in row_chunks(rows.size, X.shape[1], on_device=xp is not np):
        raw = X[chunk, ...] if every_row else take_rows(X, rows[chunk])
        norms[chunk] = to_numpy(((xp.astype(raw, wide) - center) ** 2) @ scale)
    return norms + intercept


def confidence(sample, coef_t, intercept):
    """How far each row's cross-entropy curvature is below its bound of 1/2.

    ``4 max_k p_k (1 - p_k)``, in [0, 1], for the rows ``sample`` (dense in
    the weights' namespace, or sparse) at the weights ``coef_t`` and
    ``intercept``: the curvature of the cross-entropy in the logits,
    ``diag(p) - p p^T``, has its eigenvalues under ``2 max_k p_k (1 - p_k)``
    (Gershgorin's discs), which is at most 1/2, the bound the step scale
    assumes. Rows the model predicts with confidence barely curve the loss.
    Returns a NumPy vector.
    """
    xp = array_namespace(coef_t)
    if not sp.issparse(sample):  # in the sample's (widest) float
        coef_t, intercept = (xp.astype(v, sample.dtype) for v in (coef_t, intercept))
    proba = softmax(sample @ coef_t + intercept)
    return to_numpy(4 * xp.max(proba * (1 - proba), axis=1))


def importance_sampling(curvatures, weights):
    """Probabilities of drawing each row, and the weight of each draw.

    Rows are drawn with probability ``p_i = (L_i + mean(L)) / (2 n mean(L))``,
    where ``L_i`` is the row's curvature times its weight, and a draw of row
    ``i`` weighs ``weights_i / (n p_i)``: the minibatch gradient stays an
    unbiased estimate of the full one, but no draw has a curvature above
    ``2 mean(L)`` (Needell, Srebro & Ward, 2014, with half of the draws
    uniform). Rows of extreme values or weights, which would otherwise cap
    the step of every row, are drawn more often with smaller steps.
    """
    load = curvatures if weights is None else curvatures * weights
    mean = load.mean()
    probabilities = (load + mean) / (2 * load.size * mean)
    unit = 1.0 if weights is None else weights
    return probabilities, unit / (load.size * probabilities)


def batch_curvature(
    X,
    rows,
    center,
    scale,
    batch_size,
    fit_intercept,
    momentum,
    rng,
    weights=None,
    probabilities=None,
    curvatures=None,
    streaming=False,
    confidence=None,
):
    """The curvature that minibatch steps meet, in standardized coordinates.

    The largest of three figures, all including the intercept as one more,
    constant, feature:

    - the largest eigenvalue of a minibatch's second-moment matrix, by power
      iteration on a few random minibatches (their mean): correlated features
      add up here, as neighbouring pixels do;
    - the noise of the minibatches: with ``L`` a draw's squared norm times its
      weight, ``R2 = E[L^2] / E[L]`` (the mean norm for rows alike, the
      largest for one row holding most of the variance), the steps stay
      stable in mean square only under a curvature of ``NOISE_SCALE R2 /
      (batch_size (1 - momentum))``. It binds where many features share few
      rows per batch (600 dense features beside batches of 256: a test log
      loss of 1.42, not 1.53, where LogisticRegression reaches 1.41) and for
      heavy-tailed row norms;
    - for a row alone in its own direction, as a document of rare words is:
      its squared norm over the batch size, ``r``, is the curvature of its
      step, which it gets once an epoch; momentum then carries that step on
      about ``1 / (1 - momentum)`` times with nothing pulling back. Rows that
      share their directions (pixels, dense features) are pulled back by the
      other rows at every step; ``r / eigenvalue``, near 1 for orthogonal
      rows and small for shared ones, weighs the amplification.

    The rows' norms are taken over every row for sparse X, where it is cheap
    and lone rows are common, over the sampled minibatches for dense X. A
    single full batch has neither noise nor lone rows: its eigenvalue covers
    them. A stream (``streaming``) has them even where a chunk is one
    minibatch: momentum carries its steps into the next chunks. A row's step
    is divided by ``batch_size`` also in a short batch, which takes a shorter
    step.

    ``weights`` (one per sample, or None) weigh the rows, and
    ``probabilities`` (one per row, or None for uniform) draw the sampled
    minibatches, as the epochs will; ``curvatures`` are the rows' curvatures
    (:func:`row_curvatures`) when already computed. Centring and scaling stay
    implicit, so a sparse X is never densified. ``confidence`` (a function of
    rows, see :func:`confidence`, or None) weighs each row by how much the
    loss still curves there, at the current weights.
    """
    size = min(batch_size, rows.size)
    n_batches = max(1, min(CURVATURE_BATCHES, rows.size // size))
    if probabilities is None:
        drawn = rng.permutation(rows)[: n_batches * size]
    else:
        drawn = rows[rng.choice(rows.size, n_batches * size, p=probabilities)]
    batches = np.sort(drawn.reshape(n_batches, size), axis=1)
    # Dense minibatches are taken in X's namespace, on its device, in its
    # widest float; for sparse X the NumPy vectors serve as they are (on wide
    # X, copies of them would set the fit's peak memory).
    xp, device = array_namespace(X), device_of(X)
    wide = widest_float(xp, device)
    sample_center, sample_scale = center, scale
    if not sp.issparse(X):
        sample_center, sample_scale = (
            from_numpy(v, xp, device, wide) for v in (center, scale)
        )
    root_scale = sample_scale**0.5
    intercept = 1.0 if fit_intercept else 0.0
    estimates, largest_row, total, squares = [], 0.0, 0.0, 0.0
    # Every row of a sparse X, but for a measurement at the weights
    # (``confidence``): it is repeated, and would cost a pass each time.
    every_row = sp.issparse(X) and confidence is None
    for batch in batches:
        batch_weights = None if weights is None else weights[batch]
        if sp.issparse(X):
            sample = X[batch]
            if not every_row:
                norms = row_curvatures(
                    sample, np.arange(size), center, scale, fit_intercept
                )
        else:
            sample = xp.astype(take_rows(X, batch), wide)
            norms = ((sample - sample_center) ** 2) @ sample_scale + intercept
        if confidence is not None:
            factors = confidence(sample)
            batch_weights = factors * (1.0 if batch_weights is None else batch_weights)
        if batch_weights is not None and not sp.issparse(X):
            batch_weights = from_numpy(batch_weights, xp, device, wide)
        if not every_row:
            if batch_weights is not None:
                norms *= batch_weights
            largest_row = max(largest_row, float(xp.max(norms)))
            total += float(xp.sum(norms))
            squares += float(xp.vecdot(norms, norms))
        estimates.append(
            _power_iteration(
                sample, sample_center, root_scale, intercept, rng, batch_weights
            )
        )
    if every_row:
        norms = curvatures
        if norms is None:
            norms = row_curvatures(X, rows, center, scale, fit_intercept)
        if weights is not None:
            norms = norms * weights[rows]
        largest_row = float(norms.max())
        # every row, as often as it is drawn
        total = np.average(norms, weights=probabilities)
        squares = np.average(norms**2, weights=probabilities)
    curvature = max(float(np.mean(estimates)), np.finfo(np.float64).tiny)
    if size < rows.size or streaming:
        row = largest_row / batch_size
        curvature = max(curvature, row * min(row / curvature, 1) / (1 - momentum))
        fourth = squares / max(total, np.finfo(np.float64).tiny)
        noise = NOISE_SCALE * fourth / batch_size / (1 - momentum)
        curvature = max(curvature, noise)
    return curvature


def _power_iteration(sample, center, root_scale, intercept, rng, weights=None):
    """Largest eigenvalue of the standardized (weighted) second moments of
    ``sample``, the intercept being one more, constant, feature.

    The vector is held as its features' part, updated in place, and its
    intercept's: on wide X each vector of n_features costs a share of the
    weights' memory.
    """
    xp = array_namespace(center)  # that of X, or NumPy for sparse X
    start = rng.standard_normal(sample.shape[1] + 1)
    features = from_numpy(start[:-1], xp, device_of(center), center.dtype)
    constant, eigenvalue = float(start[-1]), 0.0
    for _ in range(CURVATURE_ITERATIONS):
        length = math.sqrt(float(xp.vecdot(features, features)) + constant**2)
        features /= length
        scaled = root_scale * features
        projection = sample @ scaled - center @ scaled + intercept * constant / length
        del scaled, features
        if weights is not None:
            projection *= weights
        total = xp.sum(projection)
        features = sample.T @ projection
        features -= center * total
        features *= root_scale
        features /= sample.shape[0]
        constant = intercept * float(total) / sample.shape[0]
        eigenvalue = math.sqrt(float(xp.vecdot(features, features)) + constant**2)
        if eigenvalue == 0.0:  # nothing varies: no feature, no intercept
            break
    return eigenvalue


# ------------------------------------------------------------------ the step


def new_state(coef_t, intercept, rng):
    """The optimizer's state: plain arrays and numbers, pickled with the model.

    ``coef_t`` (n_features, n_classes) is the transpose of the multinomial
    weights, one column per class also for two classes; ``velocity`` holds the
    last move of the weights, which momentum carries on (None until a
    :class:`Stepper` needs it).
    """
    return {
        "coef_t": coef_t,
        "intercept": intercept,
        "velocity_t": None,  # allocated by the steps that have momentum
        "velocity_intercept": array_namespace(intercept).zeros_like(intercept),
        "average_t": None,
        "average_intercept": None,
        "n_averaged": 0,
        "moments": None,
        "center": None,
        "scale": None,
        "curvature": None,
        "batch_size": None,
        "n_samples": 0,  # that alpha="auto" counts
        "mean_weight": 1.0,  # over those samples; derived by each call
        "eta_factor": 1.0,  # lowered by backtracking and the "adaptive" schedule
        "steps": None,  # the kind of steps of this call, see SoftmaxRegression._steps
        "probabilities": None,  # of drawing each row, when not uniform
        "draw_weights": None,  # the weight of a draw of each row
        "rng": rng,
    }


# The arrays that carry the iterate's motion and its average.
_MOVES = ("velocity_t", "velocity_intercept", "average_t", "average_intercept")


class Stepper:
    """One call's minibatch steps on a state dict, in the weights' namespace.

    The update is the accelerated proximal gradient step with momentum
    ``beta``: from the look-ahead ``Y = W + beta (W - W_prev)``, a gradient step
    on the minibatch loss, then the penalty's proximal operator. Its fixed
    points are exactly the optimum of loss plus penalty, whatever ``beta``.

    ``momentum=None`` asks for Nesterov's accelerated schedule, ``beta = k / (k +
    3)`` after ``k`` steps, restarted at ``k = 0`` whenever a step goes against
    the last move (O'Donoghue & Candes, 2015): the fast method for full-batch,
    deterministic steps on ill-conditioned problems.
    """

    def __init__(self, state, *, momentum, nesterov, fit_intercept, alpha_l1, alpha_l2):
        self.state = state
        coef_t = state["coef_t"]
        xp, device = array_namespace(coef_t), device_of(coef_t)
        self.xp = xp
        self.batch_size = state["batch_size"]
        self.accelerated = momentum is None
        self.momentum = 0.0 if momentum is None else float(momentum)
        self.k = 0
        if state["velocity_t"] is None:
            state["velocity_t"] = xp.zeros_like(coef_t)
        self.nesterov = nesterov
        self.fit_intercept = fit_intercept
        self.alpha_l1, self.alpha_l2 = alpha_l1, alpha_l2
        # The scale of each entry of coef_t, spelt out: NumPy broadcasts over
        # rows of a few classes slowly.
        scale = np.repeat(state["scale"][:, None], coef_t.shape[1], 1)
        self.scale = from_numpy(scale, xp, device, coef_t.dtype)
        if self.accelerated:  # the standardized metric of _next_momentum
            step_scale = state["scale"]
            inverse = np.divide(
                1.0, step_scale, out=np.zeros_like(step_scale), where=step_scale > 0
            )
            self.inverse_scale = from_numpy(inverse, xp, device, coef_t.dtype)
        self.center = from_numpy(state["center"], xp, device, coef_t.dtype)
        # The shrinking of the L2 penalty is the same for a feature's classes.
        self.feature_scale = from_numpy(state["scale"], xp, device, coef_t.dtype)
        # NumPy writes into reused buffers: on wide weights (a thousand classes)
        # an allocation per step costs as much as the step's arithmetic.
        self.lookahead = np.empty_like(coef_t) if xp is np else None

    def _momentum_point(self):
        """``W + beta (W - W_prev)``, where the next step starts from."""
        state = self.state
        if self.lookahead is not None:
            lookahead = np.multiply(
                state["velocity_t"], self.momentum, out=self.lookahead
            )
        else:
            lookahead = state["velocity_t"] * self.momentum
        lookahead += state["coef_t"]
        intercept = state["intercept"] + self.momentum * state["velocity_intercept"]
        return lookahead, intercept

    def point(self):
        """The weights and intercepts at which the next gradient is taken."""
        if self.nesterov:  # the look-ahead point
            return self._momentum_point()
        return self.state["coef_t"], self.state["intercept"]

    def logits(self, Xb):
        """The minibatch's logits where its gradient is taken; ``step`` follows."""
        point = self.point()
        self._batch = Xb, point
        raw = Xb @ point[0]
        raw += point[1]
        return raw

    def step(self, grad, eta):
        """Move along the minibatch gradient, then apply the penalty.

        ``grad`` is the gradient of the batch's summed loss with respect to the
        logits that :meth:`logits` returned; the step follows their mean over a
        full batch, so that a short batch (the rest of an epoch or of a chunk)
        takes a proportionally shorter step, on the loss and on the penalty
        alike: every sample moves the model alike, and an epoch takes exactly
        ``n_samples / batch_size`` steps' worth of penalty.
        """
        Xb, point = self._batch
        # Scaling is cheaper on (n_samples, n_classes) than on the step.
        grad = grad * (-eta / self.batch_size)
        step = Xb.T @ grad  # serves a sparse X_b too
        step_intercept = self.xp.sum(grad, axis=0)
        self.move(step, step_intercept, eta * grad.shape[0] / self.batch_size, point)

    def move(self, step, step_intercept, eta_share, point):
        """Take the step ``X_b.T @ G`` (``step``, a work array it overwrites)
        and the column sums of ``G`` (``step_intercept``), where ``G`` is the
        gradient at ``point`` times ``-eta / batch_size``; then the penalty's
        proximal step of size ``eta_share``."""
        state, xp = self.state, self.xp
        coef_t, intercept = state["coef_t"], state["intercept"]
        # Nesterov steps from the look-ahead point; the heavy ball from there
        # too, with the gradient taken at the weights themselves.
        start_t, start_intercept = point if self.nesterov else self._momentum_point()
        new_t, intercept_change = proximal_gradient(
            start_t,
            step,
            step_intercept,
            eta_share,
            center=self.center if self.fit_intercept else None,
            scale=self.scale,
            feature_scale=self.feature_scale,
            alpha_l1=self.alpha_l1,
            alpha_l2=self.alpha_l2,
        )
        if self.fit_intercept:
            new_intercept = start_intercept + step_intercept + intercept_change
        else:
            new_intercept = xp.zeros_like(intercept)
        if xp is np:  # the step's output is new; the velocity's buffer is reused
            np.subtract(new_t, coef_t, out=state["velocity_t"])
        else:
            state["velocity_t"] = new_t - coef_t
        state["velocity_intercept"] = new_intercept - intercept
        if self.accelerated:
            self._next_momentum(start_t, new_t)
        state["coef_t"], state["intercept"] = new_t, new_intercept

    def flush(self):
        """Make ``state["coef_t"]`` the weights (they always are here)."""

    def restart(self):
        """Forget the last move (the caller has reset the weights)."""
        xp = self.xp
        self.state["velocity_t"] = xp.zeros_like(self.state["coef_t"])
        self.state["velocity_intercept"] = xp.zeros_like(self.state["intercept"])
        if self.accelerated:
            self.k = 0
            self.momentum = 0.0

    def _next_momentum(self, start_t, new_t):
        """Grow the accelerated momentum, or restart it if the step turned back.

        The step ``new - start`` and the move ``velocity`` are compared in the
        standardized metric (each entry divided by its scale).
        """
        state, xp = self.state, self.xp
        change = (new_t - start_t) * self.inverse_scale[:, None]
        turned = xp.sum(change * state["velocity_t"])
        if float(turned) < 0:
            self.k = 0
            state["velocity_t"] = xp.zeros_like(state["velocity_t"])
            state["velocity_intercept"] = xp.zeros_like(state["velocity_intercept"])
        else:
            self.k += 1
        self.momentum = self.k / (self.k + 3)

    def accumulate_average(self, recent=0):
        accumulate_average(self.state, recent)


def proximal_gradient(
    start_t,
    step,
    step_intercept,
    eta,
    *,
    center,
    scale,
    feature_scale,
    alpha_l1,
    alpha_l2,
):
    """``prox(start_t + step)`` in the standardized metric: the new weights
    (in ``step``'s array) and the change of the intercepts beyond
    ``step_intercept``.

    ``step`` (``X_b.T @ G``, a work array) and ``step_intercept`` (the column
    sums of ``G``) come from a gradient ``G`` already scaled by minus the step
    size over the batch size; ``eta`` is the penalty's step size (a short
    batch's share of it). ``center`` (None without intercepts) centres the
    features, ``scale`` (a weight's step size over ``eta``: per feature, as a
    column, or per weight) scales the step, and ``feature_scale`` is one per
    feature.
    Any block of features' rows gives its own rows and its share of the
    intercepts' change.
    """
    if center is not None:  # the gradient on centred features, by BLAS
        # (np.dot: NumPy's matmul of an outer product is 3x slower; and no
        # array_namespace call, which costs a step of 10 classes 2%)
        numpy = isinstance(step, np.ndarray)
        outer = np.dot if numpy else array_namespace(step).matmul
        step -= outer(center[:, None], step_intercept[None, :])
    step *= scale
    change = None if center is None else -(center @ step)
    new_t = step
    new_t += start_t
    if not (alpha_l1 or alpha_l2):
        return new_t, change
    # The penalty's proximal operator. In standardized coordinates each
    # weight's step is eta * scale; the intercepts of those coordinates are
    # untouched, so the intercepts here absorb center @ (its change).
    shrinking = None
    if alpha_l2:  # the implicit step of the quadratic: a shrinking
        shrinking = 1 + (eta * alpha_l2) * feature_scale
    if not alpha_l1:  # a shrinking alone: its change is linear
        if center is not None:
            change += (center * (1 - 1 / shrinking)) @ new_t
        new_t /= shrinking[:, None]
        return new_t, change
    before = None if center is None else copy_of(new_t)
    # soft thresholding: exact zeros
    new_t = _soft_threshold(new_t, (eta * alpha_l1) * scale)
    if shrinking is not None:
        new_t /= shrinking[:, None]
    if before is not None:
        before -= new_t
        change += center @ before
    return new_t, change


class TouchedRowStepper:
    """Momentum-free steps on sparse X that touch only the minibatch's features.

    A minibatch of sparse rows has a gradient on the weights of the features it
    holds and none on the others, so only those rows of ``coef_t`` are read and
    written: the logits' sparse product reads them in place, and the step adds
    to them a few rows at a time, so that a step holds no copy of all of them.
    The penalty, which moves every weight at every step, is kept implicit and
    exact: the weights are ``multiplier[:, None] * coef_t``, the L2 shrinking of
    all features at once is one update of ``multiplier`` (a vector of
    n_features, not n_features x n_classes), and the L1 thresholds add up in
    ``threshold`` until a feature's weights are next read (soft thresholds
    compose by adding up, on the weights divided by the multiplier).
    :meth:`flush` makes ``coef_t`` the weights again.

    The centred features (:func:`frequent_features`, in nearly every minibatch
    anyway) are stepped at every step, which their centring needs; the steps
    are those of :class:`Stepper` with momentum 0, to the rounding.
    """

    def __init__(self, state, *, fit_intercept, alpha_l1, alpha_l2):
        # Rows are written through a view of one row as one item, and read in
        # place by the sparse product: coef_t must be C-contiguous.
        state["coef_t"] = np.ascontiguousarray(state["coef_t"])
        self.state = state
        self.batch_size = state["batch_size"]
        self.fit_intercept = fit_intercept
        self.alpha_l1, self.alpha_l2 = alpha_l1, alpha_l2
        n_features, n_classes = state["coef_t"].shape
        self.feature_scale = state["scale"]
        self.center = state["center"]
        centered = np.flatnonzero(self.center) if fit_intercept else []
        self.centered = np.asarray(centered, dtype=np.intp)
        self.touched = np.zeros(n_features, dtype=bool)
        self.position = np.zeros(n_features, dtype=index_dtype(n_features))
        self.chunk_rows = max(1, STEP_CHUNK_ELEMENTS // n_classes)
        self._reset_penalty()

    def _reset_penalty(self):
        n_features = self.feature_scale.size
        self.multiplier = np.ones(n_features)
        if self.alpha_l1:
            self.threshold = np.zeros(n_features)  # L1 thresholds since the flush
            self.applied = np.zeros(n_features)  # the part applied to each feature

    def logits(self, Xb):
        """The minibatch's logits, from the rows of its features only."""
        self.touched[Xb.indices] = True
        self.touched[self.centered] = False  # they come last, stepped apart
        plain = np.flatnonzero(self.touched)
        self.touched[plain] = False
        features = np.concatenate([plain, self.centered])
        if self.alpha_l1:
            self._catch_up(features)
        self.position[features] = np.arange(features.size)
        # The minibatch on its own features (m, n_touched), by column: the
        # step takes its columns a few at a time.
        shape = (Xb.shape[0], features.size)
        local = sp.csr_matrix((Xb.data, self.position[Xb.indices], Xb.indptr), shape)
        self._batch = local.tocsc(), features, self.multiplier[features]
        # The weights are multiplier * coef_t: scaling the minibatch's values
        # costs its non-zeros, and the product reads coef_t's rows in place.
        scaled = Xb.data * self.multiplier[Xb.indices].astype(Xb.dtype)
        scaled = sp.csr_matrix((scaled, Xb.indices, Xb.indptr), Xb.shape)
        raw = scaled @ self.state["coef_t"]
        raw += self.state["intercept"]
        return raw

    def _catch_up(self, features):
        """Apply the pending L1 thresholds to the stored rows of ``features``."""
        coef_t = self.state["coef_t"]
        for chunk in gen_batches(features.size, self.chunk_rows):
            some = features[chunk]
            rows = np.take(coef_t, some, axis=0)
            pending = self.threshold[some] - self.applied[some]
            _soft_threshold(rows, pending[:, None].astype(rows.dtype))
            _put_rows(coef_t, some, rows)
        self.applied[features] = self.threshold[features]

    def step(self, grad, eta):
        """A gradient step on the touched rows; the penalty's step on all.

        The same step as :meth:`Stepper.step` (momentum 0) in the stored
        coordinates ``weights / multiplier``: this step's L2 shrinking goes
        into the multiplier, so the stored rows only take the gradient step
        and the L1 threshold, both divided by the multiplier.
        """
        local, features, multiplier = self._batch
        self._batch = None  # its rows are not held while the next batch's are read
        eta_share = eta * grad.shape[0] / self.batch_size  # the penalty's, see Stepper
        grad = grad * (-eta / self.batch_size)
        step_intercept = grad.sum(axis=0)
        factor = self.feature_scale[features] / multiplier
        threshold = None
        if self.alpha_l1:  # explicit on the touched rows, pending on the others
            threshold = (eta_share * self.alpha_l1) * self.feature_scale
            threshold /= self.multiplier
            self.threshold += threshold
            self.applied[features] = self.threshold[features]
            threshold = threshold[features]
        n_plain = features.size - self.centered.size
        for chunk in gen_batches(n_plain, self.chunk_rows):
            self._step_rows(local, features, chunk, grad, factor, threshold)
        if self.centered.size:
            chunk = slice(n_plain, features.size)
            self._step_centered(
                _transposed_columns(local, chunk),
                grad,
                step_intercept,
                factor[chunk],
                None if threshold is None else threshold[chunk],
                eta_share,
            )
        elif self.fit_intercept:
            self.state["intercept"] = self.state["intercept"] + step_intercept
        if self.alpha_l2:  # this step's shrinking of every weight, in chunks
            shrinking = eta_share * self.alpha_l2
            for chunk in gen_batches(self.multiplier.size, STEP_CHUNK_ELEMENTS):
                self.multiplier[chunk] /= 1 + shrinking * self.feature_scale[chunk]
            if self.multiplier.min() < 1e-8:  # before the stored rows blow up
                self.flush()

    def _step_rows(self, local, features, chunk, grad, factor, threshold):
        """Step the stored rows of ``features[chunk]`` (and threshold them)."""
        coef_t = self.state["coef_t"]
        step = _transposed_columns(local, chunk) @ grad
        step *= factor[chunk, None].astype(step.dtype)
        rows = np.take(coef_t, features[chunk], axis=0)
        rows += step
        if threshold is not None:
            _soft_threshold(rows, threshold[chunk, None].astype(rows.dtype))
        _put_rows(coef_t, features[chunk], rows)

    def _step_centered(
        self, columns, grad, step_intercept, factor, threshold, eta_share
    ):
        """Step the centred features, whose minibatch values are ``columns``
        (n_centred, m): as in Stepper.step, the intercepts absorb ``center @
        change`` of their weights, the penalty's change included."""
        state = self.state
        coef_t = state["coef_t"]
        dtype = coef_t.dtype
        center = self.center[self.centered].astype(dtype)
        step = columns @ grad
        step -= np.dot(center[:, None], step_intercept[None, :])
        step *= factor[:, None].astype(dtype)
        stored = np.take(coef_t, self.centered, axis=0)
        stored += step
        multiplier = self.multiplier[self.centered, None].astype(dtype)
        before = stored * multiplier  # their weights before the penalty's step
        intercept = state["intercept"] + step_intercept - center @ (step * multiplier)
        if threshold is not None:
            _soft_threshold(stored, threshold[:, None].astype(dtype))
        after = stored * multiplier
        if self.alpha_l2:
            shrinking = (
                1 + (eta_share * self.alpha_l2) * self.feature_scale[self.centered]
            )
            after /= shrinking[:, None].astype(dtype)
        state["intercept"] = intercept + center @ (before - after)
        _put_rows(coef_t, self.centered, stored)

    def flush(self):
        """Apply the pending penalty to every weight: ``coef_t`` is the weights."""
        coef_t = self.state["coef_t"]
        if self.alpha_l1:
            pending = self.threshold - self.applied
            _soft_threshold(coef_t, pending[:, None].astype(coef_t.dtype))
        coef_t *= self.multiplier[:, None].astype(coef_t.dtype)
        self._reset_penalty()

    def restart(self):
        """The caller has reset the weights: no penalty is pending."""
        self._reset_penalty()

    def accumulate_average(self, recent=0):
        # The average needs the weights themselves: a dense step, as Stepper's.
        self.flush()
        accumulate_average(self.state, recent)


def _transposed_columns(csc, chunk):
    """The columns ``chunk`` of a CSC matrix, transposed: a CSR matrix of views
    of its arrays (3x faster than scipy's slicing, which copies them)."""
    start, stop = csc.indptr[chunk.start], csc.indptr[chunk.stop]
    indptr = csc.indptr[chunk.start : chunk.stop + 1] - start
    shape = (chunk.stop - chunk.start, csc.shape[0])
    return sp.csr_matrix((csc.data[start:stop], csc.indices[start:stop], indptr), shape)


def _soft_threshold(values, threshold):
    """Shrink ``values`` towards 0 by ``threshold`` (exact zeros).

    In place for NumPy, where the weights of wide data may not be copied;
    returns the result.
    """
    xp = array_namespace(values)
    if xp is not np:
        return xp.sign(values) * xp.clip(xp.abs(values) - threshold, min=0)
    shrunk = np.abs(values)
    shrunk -= threshold
    np.maximum(shrunk, 0, out=shrunk)
    np.copysign(shrunk, values, out=values)
    return values


def _put_rows(array, rows, values):
    """``array[rows] = values`` for a C-contiguous 2-d array, 3x faster."""
    row = np.dtype((np.void, array.shape[1] * array.itemsize))
    np.put(array.view(row).ravel(), rows, np.ascontiguousarray(values).view(row))


def accumulate_average(state, recent=0):
    """Add the current weights to the running average (averaged SGD).

    ``recent=0`` is the plain mean of the iterates; ``recent=r`` weighs the
    ``k``-th in proportion to ``k ** r`` (polynomial-decay averaging), so that
    the average forgets the early iterates without a horizon.
    """
    if state["n_averaged"] == 0:
        xp = array_namespace(state["coef_t"])
        state["average_t"] = xp.zeros_like(state["coef_t"])
        state["average_intercept"] = xp.zeros_like(state["intercept"])
    state["n_averaged"] += 1
    share = (1 + recent) / (state["n_averaged"] + recent)
    state["average_t"] += (state["coef_t"] - state["average_t"]) * share
    state["average_intercept"] += (
        state["intercept"] - state["average_intercept"]
    ) * share


def penalty_value(coef_t, alpha_l1, alpha_l2):
    """``alpha_l1 * ||W||_1 + alpha_l2 / 2 * ||W||^2``."""
    xp = array_namespace(coef_t)
    value = 0.0
    if alpha_l2:  # NumPy's vdot makes no copy of the weights
        squares = np.vdot(coef_t, coef_t) if xp is np else xp.sum(coef_t * coef_t)
        value += 0.5 * alpha_l2 * float(squares)
    if alpha_l1:
        value += alpha_l1 * float(xp.sum(xp.abs(coef_t)))
    return value


def cosine(eta, progress):
    """The cosine schedule at ``progress`` in [0, 1] of its horizon."""
    annealed = 0.5 * (1 + np.cos(np.pi * np.minimum(progress, 1.0)))
    return eta * (COSINE_FLOOR + (1 - COSINE_FLOOR) * annealed)
