"""Plain-NumPy reference implementation: the correctness oracle.

The same maths as the compiled kernels, written for clarity rather than speed
and without Numba. Every function works on a *batch* of networks: parameters
are an array of shape (S, 9) (one row per network, columns in the layout of
``fastbackprop._layout``) and every operation is elementwise across the batch,
so one code path serves a single network (S = 1) and a seed sweep alike.

Arithmetic is done in the dtype of ``params`` (float64 or float32): data and
settings are cast to it, as the kernels do. The
sigmoid is ``1 / (1 + exp(-z))`` with NumPy's ``exp``, tanh is NumPy's
``tanh``. Per-network settings (learning rates, momentum) are scalars or
arrays of shape (S,).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _seeding
from ._layout import B1, B2, B3, W1, W2, W3, W4, W5, W6


def sigmoid(z: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Logistic function; exp overflow for very negative z correctly gives 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def activate(z: npt.NDArray[np.floating[Any]], activation: str = "sigmoid") -> npt.NDArray[np.floating[Any]]:
    """The neurons' activation: ``sigmoid`` or ``np.tanh``."""
    return np.tanh(z) if activation == "tanh" else sigmoid(z)


def _slope(h: npt.NDArray[np.floating[Any]], activation: str) -> npt.NDArray[np.floating[Any]]:
    """d activation / d pre-activation, from the activation h."""
    one = h.dtype.type(1.0)
    return one - h * h if activation == "tanh" else h * (one - h)


def _columns(params: npt.NDArray[np.floating[Any]]) -> list[npt.NDArray[np.floating[Any]]]:
    """The columns w1, w2, w3, w4, w5, w6, b1, b2, b3 of params (S, 9), in that order."""
    return [params[:, k] for k in (W1, W2, W3, W4, W5, W6, B1, B2, B3)]


def forward(
    params: npt.NDArray[np.floating[Any]], X: npt.NDArray[np.floating[Any]], activation: str = "sigmoid"
) -> npt.NDArray[np.floating[Any]]:
    """Predictions of each network for each sample.

    Parameters
    ----------
    params : ndarray, shape (S, 9)
    X : ndarray, shape (n, 2)
    activation : {"sigmoid", "tanh"}

    Returns
    -------
    ndarray, shape (S, n)
    """
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = (c[:, None] for c in _columns(params))
    X = np.asarray(X, dtype=params.dtype)
    x0, x1 = X[:, 0], X[:, 1]
    h1 = activate(w1 * x0 + w2 * x1 + b1, activation)
    h2 = activate(w3 * x0 + w4 * x1 + b2, activation)
    return activate(w5 * h1 + w6 * h2 + b3, activation)


def mse(
    params: npt.NDArray[np.floating[Any]],
    X: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    activation: str = "sigmoid",
) -> npt.NDArray[np.floating[Any]]:
    """Full-dataset mean squared error of each network, shape (S,)."""
    err = np.asarray(y, dtype=params.dtype) - forward(params, X, activation)
    return np.mean(err * err, axis=1)


def max_error(
    params: npt.NDArray[np.floating[Any]],
    X: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    activation: str = "sigmoid",
) -> npt.NDArray[np.floating[Any]]:
    """Largest ``|y - ypred|`` over the samples, of each network, shape (S,) (NaN if any is NaN)."""
    return np.max(np.abs(np.asarray(y, dtype=params.dtype) - forward(params, X, activation)), axis=1)


def gradient(
    params: npt.NDArray[np.floating[Any]],
    x: npt.NDArray[np.floating[Any]],
    y: float | np.floating[Any],
    scale: Any = 1.0,
    *,
    scale_output: Any = None,
    activation: str = "sigmoid",
) -> npt.NDArray[np.floating[Any]]:
    """``scale * dL/dparams`` for one sample, L = (y - ypred)**2.

    Parameters
    ----------
    params : ndarray, shape (S, 9)
    x : ndarray, shape (2,)
    y : float
    scale : float or ndarray, shape (S,)
        1 for the gradient, the learning rate for an SGD step (the products
        then keep the classic order ``lr * d_L_d_ypred * d_ypred_d_h1 * ...``).
    scale_output : float or ndarray, shape (S,), optional
        The scale of the output neuron's parameters (w5, w6, b3) when it
        differs: the output layer's learning rate. None: ``scale``.
    activation : {"sigmoid", "tanh"}

    Returns
    -------
    ndarray, shape (S, 9)
    """
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = _columns(params)
    x0, x1 = np.asarray(x, dtype=params.dtype)
    y = params.dtype.type(y)
    scale = np.asarray(scale, dtype=params.dtype)
    scale_output = None if scale_output is None else np.asarray(scale_output, dtype=params.dtype)

    h1 = activate(w1 * x0 + w2 * x1 + b1, activation)
    deriv_h1 = _slope(h1, activation)  # act'(sum_h1) from the activation
    d_h1_d_w1 = x0 * deriv_h1
    d_h1_d_w2 = x1 * deriv_h1
    d_h1_d_b1 = deriv_h1

    h2 = activate(w3 * x0 + w4 * x1 + b2, activation)
    deriv_h2 = _slope(h2, activation)
    d_h2_d_w3 = x0 * deriv_h2
    d_h2_d_w4 = x1 * deriv_h2
    d_h2_d_b2 = deriv_h2

    ypred = activate(w5 * h1 + w6 * h2 + b3, activation)
    deriv_o1 = _slope(ypred, activation)
    d_ypred_d_w5 = h1 * deriv_o1
    d_ypred_d_w6 = h2 * deriv_o1
    d_ypred_d_b3 = deriv_o1
    d_ypred_d_h1 = w5 * deriv_o1
    d_ypred_d_h2 = w6 * deriv_o1

    d_L_d_ypred = -2.0 * (y - ypred)

    g = np.empty_like(params)
    s = scale * d_L_d_ypred
    s_out = s if scale_output is None else scale_output * d_L_d_ypred
    g[:, W1] = s * d_ypred_d_h1 * d_h1_d_w1
    g[:, W2] = s * d_ypred_d_h1 * d_h1_d_w2
    g[:, W3] = s * d_ypred_d_h2 * d_h2_d_w3
    g[:, W4] = s * d_ypred_d_h2 * d_h2_d_w4
    g[:, W5] = s_out * d_ypred_d_w5
    g[:, W6] = s_out * d_ypred_d_w6
    g[:, B1] = s * d_ypred_d_h1 * d_h1_d_b1
    g[:, B2] = s * d_ypred_d_h2 * d_h2_d_b2
    g[:, B3] = s_out * d_ypred_d_b3
    return g


def sgd_step(
    params: npt.NDArray[np.floating[Any]],
    x: npt.NDArray[np.floating[Any]],
    y: float | np.floating[Any],
    lr: Any,
    *,
    lr_output: Any = None,
    activation: str = "sigmoid",
) -> npt.NDArray[np.floating[Any]]:
    """Parameters after one SGD step on sample (x, y); a new (S, 9) array."""
    return params - gradient(params, x, y, scale=lr, scale_output=lr_output, activation=activation)


def _per_network(value: Any, dt: Any) -> Any:
    """A per-network setting as a scalar or an (S,) array of dtype ``dt`` (None stays None)."""
    return None if value is None else np.asarray(value, dtype=dt) if np.ndim(value) else dt(value)


def train(
    params: npt.NDArray[np.floating[Any]],
    X: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    epochs: int,
    lr: Any,
    *,
    lr_output: Any = None,
    momentum: Any = 0.0,
    activation: str = "sigmoid",
    margin: float | None = None,
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]]]:
    """Per-sample SGD, samples in order, ``epochs`` passes.

    Parameters
    ----------
    params : ndarray, shape (S, 9)
        Starting parameters (not modified); float64 or float32.
    X : ndarray, shape (n, 2)
    y : ndarray, shape (n,)
    epochs : int
    lr, lr_output, momentum : float or ndarray, shape (S,)
        Learning rates (hidden layer; output neuron, None: ``lr``) and
        classical momentum: ``v <- momentum v - lr dL/dp``, ``p <- p + v``.
    activation : {"sigmoid", "tanh"}
    margin : float, optional
        If given, the history holds each epoch's largest ``|y - ypred|``
        instead of the MSE.

    Returns
    -------
    params : ndarray, shape (S, 9)
        Final parameters.
    history : ndarray, shape (S, epochs)
        Full-dataset MSE (or largest error, with ``margin``) after each epoch's updates.
    """
    dt = params.dtype.type
    X, y = X.astype(params.dtype), y.astype(params.dtype)
    lr_v, lro_v, m = (_per_network(v, dt) for v in (lr, lr_output, momentum))
    m_c = m[:, None] if np.ndim(m) else m  # to broadcast over (S, 9)
    velocity = np.zeros_like(params)
    measure = mse if margin is None else max_error
    history = np.empty((params.shape[0], epochs), dtype=params.dtype)
    for e in range(epochs):
        for i in range(X.shape[0]):
            step = gradient(params, X[i], y[i], scale=lr_v, scale_output=lro_v, activation=activation)
            velocity = m_c * velocity - step
            params = params + velocity
        history[:, e] = measure(params, X, y, activation)
    return params, history


def init_params(seeds: npt.ArrayLike, init: str = "normal", init_scale: Any = 1.0) -> npt.NDArray[np.float64]:
    """Starting parameters of each seed, shape (S, 9) float64 (see ``_seeding``).

    Standard normal, or U[-1, 1) for ``init="uniform"``, times ``init_scale``
    (a scalar or one value per seed).
    """
    return _seeding.starting_params(np.asarray(seeds, dtype=np.int64), init, init_scale)


def epochs_to_tol(history: npt.NDArray[np.floating[Any]], tol: float | np.floating[Any]) -> npt.NDArray[np.int64]:
    """First epoch count k >= 1 with ``history[:, k - 1] < tol``, else -1; shape (S,)."""
    below = history < tol
    if below.shape[1] == 0:
        return np.full(below.shape[0], -1, dtype=np.int64)
    return np.where(below.any(axis=1), below.argmax(axis=1) + 1, -1).astype(np.int64)


def sweep(
    X: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    seeds: npt.ArrayLike | None,
    epochs: int,
    lr: Any,
    tol: float,
    dtype: npt.DTypeLike = np.float64,
    *,
    lr_output: Any = None,
    momentum: Any = 0.0,
    init: str = "normal",
    init_scale: Any = 1.0,
    params0: npt.ArrayLike | None = None,
    activation: str = "sigmoid",
    margin: float | None = None,
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]], npt.NDArray[np.int64]]:
    """Seed sweep vectorised across seeds: the oracle for ``fastbackprop.sweep``, with its options.

    Parameters
    ----------
    seeds : array_like of int, shape (S,), or None
        The seeds (not a count, unlike ``fastbackprop.sweep``'s); None with ``params0``.
    params0 : array_like, shape (S, 9), optional
        Explicit starts instead of the seeds'.

    The other arguments are ``fastbackprop.sweep``'s, unvalidated.

    Returns
    -------
    params : ndarray, shape (S, 9), ``dtype``
    final_loss : ndarray, shape (S,), ``dtype``
        Full-dataset MSE after the last epoch (of the initial parameters if
        ``epochs == 0``).
    epochs_to_tol : ndarray, shape (S,), int64
        First epoch after which the loss is below tol (with ``margin``: every
        error below it), -1 if never.
    """
    dt: np.dtype[Any] = np.dtype(dtype)
    if params0 is not None:
        start = np.asarray(params0, dtype=np.float64)
    else:
        start = init_params(np.asarray(seeds, dtype=np.int64), init, init_scale)
    params, history = train(
        start.astype(dt), X, y, epochs, lr, lr_output=lr_output, momentum=momentum, activation=activation, margin=margin
    )
    final_loss = mse(params, X.astype(dt), y.astype(dt), activation)
    threshold = dt.type(tol if margin is None else margin)
    return params, final_loss, epochs_to_tol(history, threshold)
