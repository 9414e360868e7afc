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
#: Where a sweep can run.
DEVICES = ("cpu", "cuda")
#: The lowest output (and target) of each activation; the highest is 1.
OUTPUT_LOW = {"sigmoid": 0.0, "tanh": -1.0}
#: What an error about targets below 0 for sigmoid units adds when they would do for tanh ones.
TANH_HINT = "; tanh units (activation='tanh') take targets in [-1, 1]"

PerNetwork = float | npt.NDArray[np.float64]  # a scalar, or one float64 per network (S,)


@dataclasses.dataclass(frozen=True, eq=False)
class StartGrid:
    """The starting points of a map's networks, computed from their row labels.

    Network ``r`` (pixel ``(j, i)`` of an image of n1 rows and n0 columns,
    ``r = j * n0 + i``) starts from ``base`` with parameter ``axes[0]`` set to
    ``coords0[i]`` and ``axes[1]`` to ``coords1[j]``; with no axes (a
    learning-rate map) every network starts from ``base``. Rows are made per
    chunk, so a map of 10^7 networks never holds 10^7 starting points.

    Attributes
    ----------
    base : ndarray of float64, shape (9,)
    axes : tuple of int
        Two indices into the parameter layout, or none.
    coords0, coords1 : ndarray of float64, shapes (n0,) and (n1,)
        The map's coordinates: starting values along ``axes``, or for a
        learning-rate map its learning rates (hidden, output layer).
    kind : str
        "init" or "lr".
    log : bool
        Whether the coordinates are log-spaced.
    base_seed : int or None
        The seed ``base`` was drawn from, if it was.
    """

    base: npt.NDArray[np.float64]
    axes: tuple[int, ...]
    coords0: npt.NDArray[np.float64]
    coords1: npt.NDArray[np.float64]
    kind: str = "init"
    log: bool = False
    base_seed: int | None = None

    def starts(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The starting points of networks ``rows`` (k,), as (k, 9) float64."""
        out = np.repeat(self.base[None, :], rows.shape[0], axis=0)
        if self.axes:
            n0 = self.coords0.shape[0]
            out[:, self.axes[0]] = self.coords0[rows % n0]
            out[:, self.axes[1]] = self.coords1[rows // n0]
        return out

    def settings(self) -> dict[str, Any]:
        """JSON-ready, exact (floats round-trip through their repr)."""
        return {
            "base": [float(v) for v in self.base],
            "axes": list(self.axes),
            "coords0": [float(v) for v in self.coords0],
            "coords1": [float(v) for v in self.coords1],
            "kind": self.kind,
            "log": self.log,
            "base_seed": self.base_seed,
        }

    @classmethod
    def from_settings(cls, d: dict[str, Any]) -> "StartGrid":
        """The grid ``settings()`` described."""
        return cls(
            base=np.array(d["base"], dtype=np.float64),
            axes=tuple(int(a) for a in d["axes"]),
            coords0=np.array(d["coords0"], dtype=np.float64),
            coords1=np.array(d["coords1"], dtype=np.float64),
            kind=str(d["kind"]),
            log=bool(d["log"]),
            base_seed=None if d["base_seed"] is None else int(d["base_seed"]),
        )


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
    start_grid : StartGrid or None
        A map's starting points, from the row labels (then ``params0`` is None).
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
    start_grid: StartGrid | None = None

    @property
    def float_type(self) -> type[np.floating[Any]]:
        """``np.float64`` or ``np.float32``."""
        return DTYPES[self.dtype]

    @property
    def tanh(self) -> bool:
        return self.activation == "tanh"

    @property
    def n_within(self) -> int:
        """Recorded lengths at which the margin criterion is kept (``within_at``): all of them
        with a margin (a grid's), none without."""
        return len(self.record_at) if self.margin is not None else 0

    @property
    def uses_momentum(self) -> bool:
        """Whether any network has momentum (then the momentum kernel runs)."""
        return bool(np.any(np.asarray(self.momentum) != 0.0))

    def is_default(self, name: str) -> bool:
        """Whether option ``name`` has its default value (so a sweep computes what it always did)."""
        return is_default(name, getattr(self, name))


def is_default(name: str, value: Any) -> bool:
    """Whether ``value`` is ``Training``'s default for option ``name`` (a per-network array never is)."""
    default = {f.name: f.default for f in dataclasses.fields(Training)}[name]
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
