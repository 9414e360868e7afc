"""The Python face of the compiled kernels: one 2-2-1 sigmoid network."""

from __future__ import annotations

import secrets
import threading
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from . import _kernels, _seeding
from ._layout import PARAM_NAMES
from ._validation import (
    MAX_EPOCHS,
    check_dataset,
    check_inputs,
    check_int,
    check_memory,
    check_params,
    check_positive_float,
    check_sample,
    check_seed,
)

#: Sample steps per call of the compiled training loop: about 0.1 s of work.
_STEPS_PER_SLICE = 2**21


class Network:
    """A 2-2-1 sigmoid network trained by per-sample SGD on squared error.

    ``h1 = s(w1 x0 + w2 x1 + b1)``, ``h2 = s(w3 x0 + w4 x1 + b2)``,
    ``ypred = s(w5 h1 + w6 h2 + b3)`` with ``s(z) = 1 / (1 + exp(-z))``.

    Parameters
    ----------
    seed : int, optional
        Non-negative seed of the starting parameters: nine standard-normal
        deviates from the counter-based map of ``fastbackprop._seeding``, so
        ``Network(seed=i)`` equals row ``i`` of any seed sweep. If neither
        ``seed`` nor ``params`` is given, a random seed is drawn and kept in
        ``.seed``, so every network can be recreated.
    params : array_like of 9 finite reals, optional
        Starting parameters ``[w1, w2, w3, w4, w5, w6, b1, b2, b3]`` (copied).
        Give ``seed`` or ``params``, not both.

    Attributes
    ----------
    seed : int or None
        The seed of the starting parameters (None when ``params`` was given).
    epochs_trained : int
        Epochs run by ``train`` so far.

    Examples
    --------
    >>> from fastbackprop import Network, datasets
    >>> X, y = datasets.gender()
    >>> net = Network(seed=0)
    >>> history = net.train(X, y)          # 3000 epochs at lr 0.2
    >>> history.shape
    (3000,)
    """

    def __init__(self, seed: int | None = None, params: npt.ArrayLike | None = None) -> None:
        if params is not None:
            if seed is not None:
                raise ValueError(f"give seed or params, not both (seed={seed!r})")
            self._params: npt.NDArray[np.float64] = check_params(params)
            self.seed: int | None = None
        else:
            self.seed = secrets.randbits(63) if seed is None else check_seed(seed)
            self._params = _seeding.init_params(np.array([self.seed], dtype=np.int64))[0]
        self.epochs_trained = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    @property
    def params(self) -> npt.NDArray[np.float64]:
        """A copy of the parameters, float64 of shape (9,), in layout order."""
        return self._params.copy()

    @overload
    def train(
        self, X: npt.ArrayLike, y: npt.ArrayLike, epochs: int = ..., lr: float = ..., *, history: Literal[True] = ...
    ) -> npt.NDArray[np.float64]: ...

    @overload
    def train(
        self, X: npt.ArrayLike, y: npt.ArrayLike, epochs: int = ..., lr: float = ..., *, history: Literal[False]
    ) -> None: ...

    def train(
        self, X: npt.ArrayLike, y: npt.ArrayLike, epochs: int = 3000, lr: float = 0.2, *, history: bool = True
    ) -> npt.NDArray[np.float64] | None:
        """Train in place by per-sample SGD, samples in order.

        Parameters
        ----------
        X : array_like, shape (n, 2)
        y : array_like, shape (n,), values in [0, 1]
        epochs : int >= 0
        lr : float > 0
        history : bool
            Record the loss after every epoch (8 bytes per epoch). False for
            long runs: then nothing is recorded and None is returned.

        Returns
        -------
        ndarray of float64, shape (epochs,), or None
            Full-dataset MSE after each epoch's updates: entry 0 is "Epoch 0" of
            the classic log, entry ``epochs - 1`` the final loss.

        Raises
        ------
        FloatingPointError
            If the parameters overflow (only for absurd step sizes, lr ~ 1e308:
            a merely huge lr saturates every sigmoid and training stops). The
            network is then left exactly as it was before the call.
        KeyboardInterrupt
            On Ctrl-C, within a fraction of a second; the network is then left
            exactly as it was before the call.

        Notes
        -----
        One network is trained by one thread at a time: a second thread's
        ``train`` waits for the first to finish, and both runs count.
        """
        X, y = check_dataset(X, y)
        epochs = check_int(epochs, "epochs", maximum=MAX_EPOCHS)
        lr = check_positive_float(lr, "lr")
        if not isinstance(history, (bool, np.bool_)):
            raise TypeError(f"history must be a bool, got {history!r}")
        if history:
            check_memory(8 * epochs, "epochs", f"a loss history of {epochs:,} epochs", "; history=False keeps none")
        losses = np.empty(epochs if history else 0)
        # The compiled loop runs a slice of epochs at a time (same bits: the
        # state between epochs is the parameters): Ctrl-C is seen between
        # slices, and a run that has blown up stops there.
        per_slice = max(1, _STEPS_PER_SLICE // X.shape[0])
        with self._lock:
            params = self._params.copy()
            for start in range(0, epochs, per_slice):
                stop = min(epochs, start + per_slice)
                _kernels.train(params, X, y, stop - start, lr, losses[start:stop] if history else losses)
                finite = np.isfinite(losses[start:stop])
                if not (finite.all() and np.isfinite(params).all()):
                    bad = stop if finite.all() else start + int(np.argmin(finite)) + 1
                    raise FloatingPointError(
                        f"training diverged: values stopped being finite in epoch {bad} (lr={lr!r}); "
                        "the network is unchanged"
                    )
            self._params = params
            self.epochs_trained += epochs
        return losses if history else None

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Network output for each row of X (n, 2); float64 of shape (n,)."""
        X = check_inputs(X)
        out = np.empty(X.shape[0])
        _kernels.forward(self._params, X, out)
        return out

    def feedforward(self, x: npt.ArrayLike) -> float:
        """Network output for one input ``x`` of shape (2,), as a float."""
        x = check_sample(x, "x")
        out = np.empty(1)
        _kernels.forward(self._params, x.reshape(1, 2), out)
        return float(out[0])

    def loss(self, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Full-dataset mean squared error on (X, y), as a float."""
        X, y = check_dataset(X, y)
        return float(_kernels.mse(self._params, X, y))

    def __repr__(self) -> str:
        values = ", ".join(f"{n}={v:.4g}" for n, v in zip(PARAM_NAMES, self._params))
        return f"Network(seed={self.seed}, epochs_trained={self.epochs_trained}, {values})"
