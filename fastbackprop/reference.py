"""Plain-NumPy reference implementation: the correctness oracle.

The same maths as the compiled kernels, written for clarity rather than speed
and without Numba. Every function works on a *batch* of networks: parameters
are an array of shape (S, 9) (one row per network, columns in the layout of
``fastbackprop._layout``) and every operation is elementwise across the batch,
so one code path serves a single network (S = 1) and a seed sweep alike.

Arithmetic is done in the dtype of ``params`` (float64 or float32). The
sigmoid is ``1 / (1 + exp(-z))`` with NumPy's ``exp``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _seeding
from ._layout import B1, B2, B3, N_PARAMS, W1, W2, W3, W4, W5, W6


def sigmoid(z: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Logistic function; exp overflow for very negative z correctly gives 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _columns(params: npt.NDArray[np.floating[Any]]) -> list[npt.NDArray[np.floating[Any]]]:
    return [params[:, k] for k in range(N_PARAMS)]


def forward(params: npt.NDArray[np.floating[Any]], X: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Predictions of each network for each sample.

    Parameters
    ----------
    params : ndarray, shape (S, 9)
    X : ndarray, shape (n, 2)

    Returns
    -------
    ndarray, shape (S, n)
    """
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = (c[:, None] for c in _columns(params))
    x0, x1 = X[:, 0], X[:, 1]
    h1 = sigmoid(w1 * x0 + w2 * x1 + b1)
    h2 = sigmoid(w3 * x0 + w4 * x1 + b2)
    return sigmoid(w5 * h1 + w6 * h2 + b3)


def mse(
    params: npt.NDArray[np.floating[Any]], X: npt.NDArray[np.floating[Any]], y: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.floating[Any]]:
    """Full-dataset mean squared error of each network, shape (S,)."""
    err = y - forward(params, X)
    return np.mean(err * err, axis=1)


def gradient(
    params: npt.NDArray[np.floating[Any]],
    x: npt.NDArray[np.floating[Any]],
    y: float | np.floating[Any],
    scale: float | np.floating[Any] = 1.0,
) -> npt.NDArray[np.floating[Any]]:
    """``scale * dL/dparams`` for one sample, L = (y - ypred)**2.

    Parameters
    ----------
    params : ndarray, shape (S, 9)
    x : ndarray, shape (2,)
    y : float
    scale : float
        1 for the gradient, the learning rate for an SGD step (the products
        then keep the classic order ``lr * d_L_d_ypred * d_ypred_d_h1 * ...``).

    Returns
    -------
    ndarray, shape (S, 9)
    """
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = _columns(params)
    x0, x1 = x[0], x[1]
    one = params.dtype.type(1.0)

    h1 = sigmoid(w1 * x0 + w2 * x1 + b1)
    deriv_h1 = h1 * (one - h1)  # sigmoid'(sum_h1) from the activation
    d_h1_d_w1 = x0 * deriv_h1
    d_h1_d_w2 = x1 * deriv_h1
    d_h1_d_b1 = deriv_h1

    h2 = sigmoid(w3 * x0 + w4 * x1 + b2)
    deriv_h2 = h2 * (one - h2)
    d_h2_d_w3 = x0 * deriv_h2
    d_h2_d_w4 = x1 * deriv_h2
    d_h2_d_b2 = deriv_h2

    ypred = sigmoid(w5 * h1 + w6 * h2 + b3)
    deriv_o1 = ypred * (one - ypred)
    d_ypred_d_w5 = h1 * deriv_o1
    d_ypred_d_w6 = h2 * deriv_o1
    d_ypred_d_b3 = deriv_o1
    d_ypred_d_h1 = w5 * deriv_o1
    d_ypred_d_h2 = w6 * deriv_o1

    d_L_d_ypred = -2.0 * (y - ypred)

    g = np.empty_like(params)
    s = scale * d_L_d_ypred
    g[:, W1] = s * d_ypred_d_h1 * d_h1_d_w1
    g[:, W2] = s * d_ypred_d_h1 * d_h1_d_w2
    g[:, W3] = s * d_ypred_d_h2 * d_h2_d_w3
    g[:, W4] = s * d_ypred_d_h2 * d_h2_d_w4
    g[:, W5] = s * d_ypred_d_w5
    g[:, W6] = s * d_ypred_d_w6
    g[:, B1] = s * d_ypred_d_h1 * d_h1_d_b1
    g[:, B2] = s * d_ypred_d_h2 * d_h2_d_b2
    g[:, B3] = s * d_ypred_d_b3
    return g


def sgd_step(
    params: npt.NDArray[np.floating[Any]],
    x: npt.NDArray[np.floating[Any]],
    y: float | np.floating[Any],
    lr: float | np.floating[Any],
) -> npt.NDArray[np.floating[Any]]:
    """Parameters after one SGD step on sample (x, y); a new (S, 9) array."""
    return params - gradient(params, x, y, scale=lr)


def train(
    params: npt.NDArray[np.floating[Any]],
    X: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    epochs: int,
    lr: float | np.floating[Any],
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]]]:
    """Per-sample SGD, samples in order, ``epochs`` passes.

    Parameters
    ----------
    params : ndarray, shape (S, 9)
        Starting parameters (not modified); float64 or float32.
    X : ndarray, shape (n, 2)
    y : ndarray, shape (n,)
    epochs : int
    lr : float

    Returns
    -------
    params : ndarray, shape (S, 9)
        Final parameters.
    history : ndarray, shape (S, epochs)
        Full-dataset MSE after each epoch's updates.
    """
    dt = params.dtype.type
    X, y, lr = X.astype(params.dtype), y.astype(params.dtype), dt(lr)
    history = np.empty((params.shape[0], epochs), dtype=params.dtype)
    for e in range(epochs):
        for i in range(X.shape[0]):
            params = sgd_step(params, X[i], y[i], lr)
        history[:, e] = mse(params, X, y)
    return params, history


def init_params(seeds: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Starting parameters of each seed, shape (S, 9) float64 (see ``_seeding``)."""
    return _seeding.init_params(seeds)


def epochs_to_tol(history: npt.NDArray[np.floating[Any]], tol: float | np.floating[Any]) -> npt.NDArray[np.int64]:
    """First epoch count k >= 1 with ``history[:, k - 1] < tol``, else -1; shape (S,)."""
    below = history < tol
    if below.shape[1] == 0:
        return np.full(below.shape[0], -1)
    return np.where(below.any(axis=1), below.argmax(axis=1) + 1, -1)


def sweep(
    X: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    seeds: npt.ArrayLike,
    epochs: int,
    lr: float,
    tol: float,
    dtype: npt.DTypeLike = np.float64,
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]], npt.NDArray[np.int64]]:
    """Seed sweep vectorised across seeds: the oracle for ``fastbackprop.sweep``.

    Returns
    -------
    params : ndarray, shape (S, 9), ``dtype``
    final_loss : ndarray, shape (S,), ``dtype``
        Full-dataset MSE after the last epoch (of the initial parameters if
        ``epochs == 0``).
    epochs_to_tol : ndarray, shape (S,), int64
    """
    dt: np.dtype[Any] = np.dtype(dtype)
    params = init_params(np.asarray(seeds, dtype=np.int64)).astype(dt)
    params, history = train(params, X, y, epochs, lr)
    if epochs:
        final_loss = history[:, -1]
    else:
        final_loss = mse(params, X.astype(dt), y.astype(dt))
    return params, final_loss, epochs_to_tol(history, dt.type(tol)).astype(np.int64)
