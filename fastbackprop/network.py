"""The Python face of the compiled kernels: one 2-2-1 network (sigmoid or tanh units)."""

from __future__ import annotations

import secrets
import threading
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from . import _kernels, _seeding
from ._jit import compile_while_waiting
from ._layout import N_PARAMS, PARAM_NAMES
from ._settings import ACTIVATIONS, INITS
from ._validation import (
    MAX_EPOCHS,
    check_bool,
    check_choice,
    check_dataset,
    check_init_scale,
    check_inputs,
    check_int,
    check_memory,
    check_momentum,
    check_no_init_options,
    check_params,
    check_positive_float,
    check_sample,
    check_seed,
)

#: Sample steps per call of the compiled training loop: about 0.1 s of work.
_STEPS_PER_SLICE = 2**21


class Network:
    """A 2-2-1 sigmoid (or tanh) network trained by per-sample SGD on squared error.

    ``h1 = s(w1 x0 + w2 x1 + b1)``, ``h2 = s(w3 x0 + w4 x1 + b2)``,
    ``ypred = s(w5 h1 + w6 h2 + b3)`` with ``s(z) = 1 / (1 + exp(-z))``, or
    ``s = tanh`` on all three neurons.

    Parameters
    ----------
    seed : int, optional
        Non-negative seed of the starting parameters: nine deviates from the
        counter-based map of ``fastbackprop._seeding``, so ``Network(seed=i)``
        equals the row of seed ``i`` in any seed sweep with the same init options. If
        neither ``seed`` nor ``params`` is given, a random seed is drawn and
        kept in ``.seed``, so every network can be recreated (with ``.init``
        and ``.init_scale``).
    params : array_like of 9 finite reals, optional
        Starting parameters ``[w1, w2, w3, w4, w5, w6, b1, b2, b3]`` (copied).
        Give ``seed`` or ``params``, not both.
    init : {"normal", "uniform"}
        The seed map's distribution: standard normal (each parameter's first
        accepted Marsaglia polar deviate) or U[-1, 1) (the 53-bit uniform of
        each parameter's first counter), O(1) per seed and the same on every
        machine.
    init_scale : float > 0
        Multiplies the seed map's deviates: the standard deviation (normal) or
        half-width (uniform) of the start. 1.0 gives the map's values exactly.
    activation : {"sigmoid", "tanh"}
        Of all three neurons. tanh is computed as ``2 sigmoid(2z) - 1``; its
        targets lie in [-1, 1].

    Attributes
    ----------
    seed : int or None
        The seed of the starting parameters (None when ``params`` was given).
    init : str or None
        The seed map's distribution (None when ``params`` was given).
    init_scale : float or None
        The seed map's scale (None when ``params`` was given).
    activation : str
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

    def __init__(
        self,
        seed: int | None = None,
        params: npt.ArrayLike | None = None,
        *,
        init: Literal["normal", "uniform"] = "normal",
        init_scale: float = 1.0,
        activation: Literal["sigmoid", "tanh"] = "sigmoid",
    ) -> None:
        start = check_choice(init, "init", INITS)
        scale = check_positive_float(init_scale, "init_scale")
        check_init_scale(scale, "float64")
        self.activation: str = check_choice(activation, "activation", ACTIVATIONS)
        if params is not None:
            if seed is not None:
                raise ValueError(f"give seed or params, not both (seed={seed!r})")
            check_no_init_options("params", start, scale)
            self._params: npt.NDArray[np.float64] = check_params(params)
            self.seed: int | None = None
            self.init: str | None = None
            self.init_scale: float | None = None
        else:
            self.seed = secrets.randbits(63) if seed is None else check_seed(seed)
            self.init, self.init_scale = start, float(scale)
            self._params = _seeding.starting_params(np.array([self.seed], dtype=np.int64), start, scale)[0]
        self.epochs_trained = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A network pickled before activations (init options) existed is a sigmoid one (from the standard map).
        seeded = state.get("seed") is not None
        old = {"activation": "sigmoid", "init": "normal" if seeded else None, "init_scale": 1.0 if seeded else None}
        self.__dict__.update({**old, **state}, _lock=threading.Lock())

    @property
    def params(self) -> npt.NDArray[np.float64]:
        """A copy of the parameters, float64 of shape (9,), in layout order."""
        return self._params.copy()

    @overload
    def train(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        epochs: int = ...,
        lr: float = ...,
        *,
        lr_output: float | None = ...,
        momentum: float = ...,
        history: Literal[True] = ...,
        history_every: int = ...,
    ) -> npt.NDArray[np.float64]: ...

    @overload
    def train(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        epochs: int = ...,
        lr: float = ...,
        *,
        lr_output: float | None = ...,
        momentum: float = ...,
        history: Literal[False],
        history_every: int = ...,
    ) -> None: ...

    @overload
    def train(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        epochs: int = ...,
        lr: float = ...,
        *,
        lr_output: float | None = ...,
        momentum: float = ...,
        history: bool,
        history_every: int = ...,
    ) -> npt.NDArray[np.float64] | None: ...

    def train(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        epochs: int = 3000,
        lr: float = 0.2,
        *,
        lr_output: float | None = None,
        momentum: float = 0.0,
        history: bool = True,
        history_every: int = 1,
    ) -> npt.NDArray[np.float64] | None:
        """Train in place by per-sample SGD, samples in order.

        Parameters
        ----------
        X : array_like, shape (n, 2)
        y : array_like, shape (n,), values in [0, 1] ([-1, 1] for tanh)
        epochs : int >= 0
        lr : float > 0
            Learning rate, of every parameter, or with ``lr_output`` of the
            hidden layer (w1-w4, b1, b2).
        lr_output : float > 0, optional
            Learning rate of the output neuron (w5, w6, b3); None: ``lr``.
        momentum : float in [0, 1)
            Classical momentum, per sample: ``v <- momentum v - lr dL/dp``,
            ``p <- p + v``, with v = 0 at the start of each call. 0 is plain
            SGD, bit for bit.
        history : bool
            Record the loss after every epoch (8 bytes per epoch). False for
            long runs: then nothing is recorded and None is returned.
        history_every : int >= 1
            With ``history``, record the loss only after every
            ``history_every``-th epoch and after the last (a long run's log):
            the same numbers as those entries of the full history.

        Returns
        -------
        ndarray of float64, shape (ceil(epochs / history_every),), or None
            Full-dataset MSE after each epoch's updates: entry k is the loss
            after k + 1 epochs (entry 0 is the original tutorial's "Epoch 0";
            ``fastbackprop train`` prints it as "Epoch 1", its "Epoch 0" being
            the loss before training), entry ``epochs - 1`` the final loss;
            with ``history_every`` k, entry i the loss after min((i + 1) k,
            epochs) epochs.

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
        X, y = check_dataset(X, y, self.activation)
        epochs = check_int(epochs, "epochs", maximum=MAX_EPOCHS)
        lr = check_positive_float(lr, "lr")
        lr_out = lr if lr_output is None else check_positive_float(lr_output, "lr_output")
        momentum = check_momentum(momentum)
        history = check_bool(history, "history")
        every = check_int(history_every, "history_every", minimum=1) * history  # 0: nothing kept
        kept = -(-epochs // every) if every else 0
        if history:
            check_memory(
                8 * kept,
                "epochs",
                f"a loss history of {kept:,} epochs" if every == 1 else f"{kept:,} losses (one in {every:,} epochs)",
                "; history=False keeps none, history_every=K one in K",
            )
        losses = np.empty(kept)
        kernel = _kernels.training_kernels(self.activation == "tanh", momentum != 0.0).train
        if not getattr(kernel, "signatures", True):  # its first call compiles or loads it: no epochs
            nothing = self.params, np.zeros(N_PARAMS), X, y, 0, lr, lr_out, momentum, losses[:0]
            compile_while_waiting(lambda: kernel(*nothing))
        # The compiled loop runs a slice of epochs at a time (same bits: the
        # state between epochs is the parameters and velocities): Ctrl-C is
        # seen between slices, and a run that has blown up stops there.
        per_slice = max(1, _STEPS_PER_SLICE // X.shape[0])
        scratch = np.empty(min(per_slice, epochs) if every > 1 else 0)  # a slice's losses, some kept
        with self._lock:
            params = self._params.copy()
            velocity = np.zeros_like(params)
            for start in range(0, epochs, per_slice):
                stop = min(epochs, start + per_slice)
                out = losses[start:stop] if every == 1 else scratch[: stop - start] if every else losses
                kernel(params, velocity, X, y, stop - start, lr, lr_out, momentum, out)
                if every > 1:  # the losses after epochs every, 2 every, ... in this slice, and the last
                    first = start // every + 1  # the first kept epoch here is first * every
                    taken = out[first * every - start - 1 :: every]
                    losses[first - 1 : first - 1 + taken.shape[0]] = taken
                    if stop == epochs:
                        losses[-1] = out[-1]
                finite = np.isfinite(out)
                if not (finite.all() and np.isfinite(params).all()):
                    # the recorded loss names the epoch; the parameters are seen only at the slice's end
                    when = f"in epoch {start + int(np.argmin(finite)) + 1}" if not finite.all() else f"by epoch {stop}"
                    rates = f"lr={lr!r}" + (f", lr_output={lr_out!r}" if lr_output is not None else "")
                    raise FloatingPointError(
                        f"training diverged: values stopped being finite {when} ({rates}); the network is unchanged"
                    )
            self._params = params
            self.epochs_trained += epochs
        return losses if history else None

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Network output for each row of X (n, 2); float64 of shape (n,)."""
        X = check_inputs(X)
        out = np.empty(X.shape[0])
        _kernels.forward(self._params, X, out, self.activation == "tanh")
        return out

    def feedforward(self, x: npt.ArrayLike) -> float:
        """Network output for one input ``x`` of shape (2,), as a float."""
        x = check_sample(x, "x")
        out = np.empty(1)
        _kernels.forward(self._params, x.reshape(1, 2), out, self.activation == "tanh")
        return float(out[0])

    def loss(self, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Full-dataset mean squared error on (X, y), as a float."""
        X, y = check_dataset(X, y, self.activation)
        return float(_kernels.mse(self._params, X, y, self.activation == "tanh"))

    def __repr__(self) -> str:
        values = ", ".join(f"{n}={v:.4g}" for n, v in zip(PARAM_NAMES, self._params))
        options = "".join(
            f", {name}={value!r}"
            for name, value, default in (
                ("init", self.init, "normal"),
                ("init_scale", self.init_scale, 1.0),
                ("activation", self.activation, "sigmoid"),
            )
            if value is not None and value != default
        )
        return f"Network(seed={self.seed}{options}, epochs_trained={self.epochs_trained}, {values})"
