"""Argument checks shared by the public API and the command line.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right
kind, bad value) with a message that names the argument and shows the value.
They run before any compiled code, and never modify their input.
"""

import numbers

import numpy as np

from ._layout import N_PARAMS

_MAX_INT64 = np.iinfo(np.int64).max
#: Upper bounds that keep a typo from becoming a days-long run or a huge
#: allocation: 10**9 epochs of one sample take about a minute per network,
#: 10**9 seeds need about 100 GB of results; more threads than 4096 is a typo.
MAX_EPOCHS = 10**9
MAX_SEEDS = 10**9
MAX_THREADS = 4096


def _show(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_int(value):
    """True for Python/NumPy integers, False for bools (which are ints in Python)."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def is_real(value):
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_int(value, name, minimum=0, maximum=None):
    """An int in [minimum, maximum] (bools and floats refused); returns a Python int."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {_show(value)} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_seed(seed, name="seed"):
    seed = check_int(seed, name)
    if seed > _MAX_INT64:
        raise ValueError(f"{name} must fit in int64 (<= {_MAX_INT64}), got {seed}")
    return seed


def check_positive_float(value, name):
    """A finite real > 0, returned as a Python float."""
    if not is_real(value):
        raise TypeError(f"{name} must be a real number, got {_show(value)} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def as_real_array(value, name):
    """``value`` as a new float64 array (any real dtype, order, strides)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be a rectangular array of real numbers: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must hold real numbers, got dtype {arr.dtype} ({_show(value)})"
        )
    arr = np.array(arr, dtype=np.float64, order="C")  # always a copy
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise ValueError(f"{name} must be finite, got {float(bad)!r} in {name}")
    return arr


def check_inputs(X):
    """A validated float64 copy of inputs X of shape (n, 2), n >= 1."""
    X = as_real_array(X, "X")
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got shape {X.shape}")
    if X.shape[0] < 1:
        raise ValueError("X must have at least one sample, got shape (0, 2)")
    return X


def check_dataset(X, y):
    """Validated copies: X (n, 2) and y (n,) float64, n >= 1, y in [0, 1]."""
    X = check_inputs(X)
    y = as_real_array(y, "y")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got shape {y.shape}")
    if np.any((y < 0.0) | (y > 1.0)):
        bad = y[(y < 0.0) | (y > 1.0)][0]
        raise ValueError(f"y must lie in [0, 1], got {float(bad)!r} in y")
    return X, y


def check_params(params):
    """A validated float64 copy of shape (9,)."""
    p = as_real_array(params, "params")
    if p.shape != (N_PARAMS,):
        raise ValueError(f"params must have shape ({N_PARAMS},), got shape {p.shape}")
    return p


def check_sample(x, name="x"):
    """One input point: a validated float64 copy of shape (2,)."""
    x = as_real_array(x, name)
    if x.shape != (2,):
        raise ValueError(f"{name} must have shape (2,), got shape {x.shape}")
    return x
