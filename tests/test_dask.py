"""SoftmaxRegression with Dask: dask-ml's Incremental, joblib's dask backend.

Runs on a small in-process cluster (one worker, two threads, no TCP, no
dashboard). Skipped without the optional ``dask`` extra; the Fashion-MNIST test
is also skipped without the real files (see conftest.py).
"""

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import GridSearchCV

from sksoftmax import SoftmaxRegression, fetch_fashion_mnist

_REASON = 'needs dask, distributed and dask-ml: pip install "sksoftmax[dask]"'
dask = pytest.importorskip("dask", reason=_REASON)
da = pytest.importorskip("dask.array", reason=_REASON)
distributed = pytest.importorskip("distributed", reason=_REASON)
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers", reason=_REASON)

BLOCK_ROWS = 5000
PASSES = 3


@pytest.fixture(scope="module")
def client():
    """A Client of an in-process LocalCluster; it is the default scheduler."""
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def fashion(real_data_home):
    X, y = fetch_fashion_mnist(
        subset="train", data_home=real_data_home, return_X_y=True
    )
    X_test, y_test = fetch_fashion_mnist(
        subset="test", data_home=real_data_home, return_X_y=True
    )
    return X, y, X_test, y_test


def _on_cluster(client, array):
    """``array`` as a dask array of blocks of BLOCK_ROWS rows, held by the worker.

    Scattered, not ``da.from_array``: that embeds the 47 MB of pixels in every
    graph, and distributed warns "Sending large graph" at each pass.
    """
    whole = da.from_delayed(
        dask.delayed(client.scatter(array)), array.shape, dtype=array.dtype
    )
    return whole.rechunk((BLOCK_ROWS, *array.shape[1:])).persist()


@pytest.mark.real_data
def test_incremental_passes_reach_fit(client, fashion):
    X, y, X_test, y_test = fashion
    reference = SoftmaxRegression(random_state=0).fit(X, y)
    fit_accuracy = accuracy_score(y_test, reference.predict(X_test))
    fit_log_loss = log_loss(y_test, reference.predict_proba(X_test))

    dX, dy = _on_cluster(client, X), _on_cluster(client, y)
    dX_test, dy_test = _on_cluster(client, X_test), _on_cluster(client, y_test)
    assert dX.numblocks == (len(X) // BLOCK_ROWS, 1)
    # Each pass feeds the blocks to partial_fit in a random order; a RandomState
    # (unlike an int) draws a new order at each pass.
    inc = dask_ml_wrappers.Incremental(
        SoftmaxRegression(random_state=0),
        scoring="accuracy",
        random_state=np.random.RandomState(0),
    )
    for _ in range(PASSES):
        inc.partial_fit(dX, dy, classes=np.arange(10))
    assert inc.estimator_.t_ == PASSES * len(X)

    dproba = inc.predict_proba(dX_test)
    assert isinstance(dproba, da.Array)
    proba = dproba.compute()
    assert_allclose(proba, inc.estimator_.predict_proba(X_test), rtol=1e-5, atol=1e-7)
    dpredict = inc.predict(dX_test)
    assert isinstance(dpredict, da.Array)
    assert_allclose(dpredict.compute(), inc.estimator_.predict(X_test))
    score = inc.score(dX_test, dy_test)
    assert score == pytest.approx(inc.estimator_.score(X_test, y_test), abs=1e-12)

    inc_accuracy = accuracy_score(y_test, proba.argmax(axis=1))
    inc_log_loss = log_loss(y_test, proba)
    assert score == pytest.approx(inc_accuracy, abs=1e-12)
    numbers = (
        f"after {PASSES} passes: accuracy {inc_accuracy:.4f}, log loss "
        f"{inc_log_loss:.4f}; fit: accuracy {fit_accuracy:.4f}, log loss "
        f"{fit_log_loss:.4f}"
    )
    assert inc_accuracy >= fit_accuracy - 0.005, numbers
    assert inc_log_loss <= fit_log_loss + 0.01, numbers


def test_grid_search_under_dask_backend_matches_loky(client):
    X, y = load_digits(return_X_y=True)
    grid = {"alpha": [1e-4, 1e-2], "batch_size": [32, "auto"]}
    scoring = ["accuracy", "neg_log_loss"]  # the log loss sees the last digits

    def cv_results():
        search = GridSearchCV(
            SoftmaxRegression(random_state=0),
            grid,
            scoring=scoring,
            refit="accuracy",
            cv=3,
        )
        return search.fit(X, y).cv_results_

    with joblib.parallel_backend("loky", n_jobs=2):
        loky = cv_results()
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            on_dask = cv_results()
    assert tasks.data, "the dask backend ran no task on the cluster"

    assert on_dask["params"] == loky["params"]
    for key in loky:
        if key == "params" or key.endswith("_time"):
            continue
        if key.startswith("rank_") or key.startswith("param_"):
            assert list(on_dask[key]) == list(loky[key]), key
        else:
            # Equal to the bit here; the tolerance allows for BLAS thread counts
            # (loky limits its workers' threads, dask's threads do not).
            assert_allclose(on_dask[key], loky[key], rtol=1e-7, err_msg=key)
