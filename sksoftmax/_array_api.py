"""Array namespaces: where SoftmaxRegression computes.

NumPy input (and any input while scikit-learn's ``array_api_dispatch`` is off)
is computed with NumPy itself, exactly as without this module. Under
``sklearn.set_config(array_api_dispatch=True)``, arrays of another library that
implements the array API standard (PyTorch, CuPy, array-api-strict, ...) are
computed with that library's namespace, on their device.

What stays on the host, as NumPy, whatever the input: the labels and their
classes, the per-sample weights, the orders in which rows are drawn (a NumPy
random state draws them, so that a seed gives the same minibatches in every
namespace) and the per-feature moments from which the preconditioner is built.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.externals import array_api_compat


def array_namespace(*arrays):
    """Return the namespace of arrays: the module whose functions compute on them.

    The losses call it on their inputs so that one implementation serves NumPy
    and every library that implements the `array API standard
    <https://data-apis.org/array-api/latest/>`_ (PyTorch, CuPy, ...), on the
    arrays' device; a user's loss does the same.

    Parameters
    ----------
    *arrays : arrays
        Arrays of one library: NumPy arrays (or SciPy sparse matrices), or
        arrays of an array API library.

    Returns
    -------
    xp : module
        ``numpy`` itself for NumPy input; otherwise the array API namespace of
        the arrays (``array_api_compat``'s wrapper for PyTorch and CuPy).

    Examples
    --------
    >>> import numpy as np
    >>> from sksoftmax.losses import array_namespace
    >>> raw_prediction = np.array([[0.0, 1.0]])
    >>> xp = array_namespace(raw_prediction)
    >>> xp is np
    True
    >>> xp.exp(raw_prediction - xp.max(raw_prediction, axis=1, keepdims=True))
    array([[0.36787944, 1.        ]])
    """
    if len(arrays) == 1 and type(arrays[0]) is np.ndarray:  # the hot loop's case
        return np
    if all(isinstance(a, (np.ndarray, np.generic)) or sp.issparse(a) for a in arrays):
        return np  # SciPy's sparse matrices compute with NumPy
    return array_api_compat.array_namespace(*arrays)


def device_of(array):
    """The device of an array: None for NumPy (and SciPy's sparse matrices)."""
    if isinstance(array, np.ndarray) or sp.issparse(array):
        return None
    return array_api_compat.device(array)


def float64_on(xp, device):
    """Whether ``device`` computes in float64 (some GPUs, such as Apple's, do not)."""
    if xp is np:
        return True
    # array_api_compat lists the same dtypes for every PyTorch device.
    if array_api_compat.is_torch_namespace(xp) and getattr(device, "type", "") == "mps":
        return False
    floats = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    return "float64" in floats


def widest_float(xp, device):
    """float64 where the device has it, float32 otherwise."""
    return xp.float64 if float64_on(xp, device) else xp.float32


def to_numpy(array):
    """Any namespace's array as a NumPy array on the host.

    NumPy arrays, scalars and None are returned as they are; a CPU tensor may
    share its memory with the result.
    """
    if array is None or isinstance(array, np.ndarray) or np.isscalar(array):
        return array
    if array_api_compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(array):
        return array.get()
    if hasattr(array, "__array_namespace__"):  # array-api-strict and the like
        xp = array.__array_namespace__()
        if hasattr(xp, "Device"):
            array = xp.asarray(array, device=xp.Device("CPU_DEVICE"))
    return np.asarray(array)


def from_numpy(array, xp, device, dtype=None):
    """A host NumPy array in namespace ``xp`` on ``device``, as ``dtype``.

    Converted on the host first: a device without float64 never sees one, and
    half the bytes cross. NumPy arrays stay themselves when they need no cast
    (callers do not write into what they get).
    """
    if array is None:
        return None
    if dtype is not None:
        array = array.astype(numpy_float(dtype, xp), copy=False)
    return array if xp is np else xp.asarray(array, device=device)


def numpy_float(dtype, xp):
    """NumPy's float dtype of the width of ``xp``'s float ``dtype``."""
    return np.float32 if dtype == xp.float32 else np.float64


def copy_of(array):
    """A copy of ``array``: C-contiguous for NumPy, as ``ndarray.copy`` gives."""
    if isinstance(array, np.ndarray):
        return array.copy()
    return array_namespace(array).asarray(array, copy=True)
