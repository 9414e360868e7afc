"""The settings of a sweep: two frozen objects with named fields, built once by ``_validation``.

``Training`` holds what sets the numbers (change a field and the results
change); ``Execution`` holds where and how the work runs, which never changes
a bit of them. Both travel whole from the public functions to the targets.
"""

import dataclasses
import os
from typing import Any

import numpy as np
import numpy.typing as npt

#: The float dtypes a sweep can train in, by name.
DTYPES: dict[str, type[np.floating[Any]]] = {"float64": np.float64, "float32": np.float32}


#: Settings a sweep may give one value per network, as arrays of shape (S,).
PER_NETWORK = ("lr", "lr_output", "momentum", "init_scale")
#: Settings that may hold one row per network: those, and explicit starts (S, 9).
PER_ROW = (*PER_NETWORK, "params0")
#: The options beyond epochs, lr, tol and dtype: at their defaults they change nothing.
OPTIONS = ("lr_output", "momentum", "activation", "margin", "init", "init_scale", "params0", "epochs_to_tol")
#: The starting-point distributions and activations, by name.
INITS = ("normal", "uniform")
ACTIVATIONS = ("sigmoid", "tanh")

PerNetwork = float | npt.NDArray[np.float64]  # a scalar, or one float64 per network (S,)


@dataclasses.dataclass(frozen=True, eq=False)
class Training:
    """How every network of a sweep starts, is trained and is judged.

    Attributes
    ----------
    epochs : int
        Passes over the data.
    lr : float or ndarray of float64, shape (S,)
        Learning rate (of the hidden layer when ``lr_output`` is set).
    tol : float
        Loss threshold of ``converged`` and ``epochs_to_tol`` (without a margin).
    dtype : str
        "float64" or "float32", the precision of the arithmetic.
    record_at : tuple of int
        Increasing epoch counts in [1, epochs] after which each network's loss
        is also recorded (a grid's shorter training lengths); empty for a sweep.
    lr_output : float or ndarray of float64, shape (S,), or None
        Learning rate of w5, w6, b3; None: ``lr``.
    momentum : float or ndarray of float64, shape (S,)
        Classical momentum in [0, 1); 0 is plain SGD.
    activation : str
        "sigmoid" or "tanh", of all three neurons.
    margin : float or None
        When set, a network meets the criterion when every sample's
        ``|y - ypred| < margin`` (instead of loss < tol).
    init : str
        "normal" or "uniform": the seed map's distribution.
    init_scale : float or ndarray of float64, shape (S,)
        Standard deviation (normal) or half-width (uniform) of the start.
    params0 : ndarray of float64, shape (S, 9), or None
        Explicit starting points instead of the seed map.
    epochs_to_tol : bool
        Find each network's first epoch meeting the criterion (which costs a
        loss evaluation after every epoch until a block of networks has met
        it); False: only the final outcome.
    """

    epochs: int
    lr: PerNetwork
    tol: float
    dtype: str
    record_at: tuple[int, ...] = ()
    lr_output: PerNetwork | None = None
    momentum: PerNetwork = 0.0
    activation: str = "sigmoid"
    margin: float | None = None
    init: str = "normal"
    init_scale: PerNetwork = 1.0
    params0: npt.NDArray[np.float64] | None = None
    epochs_to_tol: bool = True

    @property
    def float_type(self) -> type[np.floating[Any]]:
        """``np.float64`` or ``np.float32``."""
        return DTYPES[self.dtype]

    @property
    def tanh(self) -> bool:
        return self.activation == "tanh"

    @property
    def uses_momentum(self) -> bool:
        """Whether any network has momentum (then the momentum kernel runs)."""
        return bool(np.any(np.asarray(self.momentum) != 0.0))

    def is_default(self, name: str) -> bool:
        """Whether option ``name`` has its default value (so a sweep computes what it always did)."""
        default = {f.name: f.default for f in dataclasses.fields(self)}[name]
        value = getattr(self, name)
        if isinstance(value, np.ndarray) or default is None or value is None:
            return value is None and default is None
        return bool(value == default)


@dataclasses.dataclass(frozen=True)
class Execution:
    """Where and how a sweep runs; no field changes a bit of the result.

    Attributes
    ----------
    threads : int
        Local threads (unused with a client or on the GPU).
    progress : bool
        Show a progress bar.
    store : str or os.PathLike or None
        Directory that keeps finished chunks.
    client : dask.distributed.Client or None
        Cluster to run on instead of local threads.
    device : str
        "cpu" or "cuda".
    """

    threads: int
    progress: bool = False
    store: str | os.PathLike[str] | None = None
    client: Any = None
    device: str = "cpu"
