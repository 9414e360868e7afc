"""The settings of a sweep: two frozen objects with named fields, built once by ``_validation``.

``Training`` holds what sets the numbers (change a field and the results
change); ``Execution`` holds where and how the work runs, which never changes
a bit of them. Both travel whole from the public functions to the targets.
"""

import dataclasses
import os
from typing import Any

import numpy as np

#: The float dtypes a sweep can train in, by name.
DTYPES: dict[str, type[np.floating[Any]]] = {"float64": np.float64, "float32": np.float32}


@dataclasses.dataclass(frozen=True)
class Training:
    """How every network of a sweep is trained and judged.

    Attributes
    ----------
    epochs : int
        Passes over the data.
    lr : float
        Learning rate.
    tol : float
        Loss threshold of ``converged`` and ``epochs_to_tol``.
    dtype : str
        "float64" or "float32", the precision of the arithmetic.
    record_at : tuple of int
        Increasing epoch counts in [1, epochs] after which each network's loss
        is also recorded (a grid's shorter training lengths); empty for a sweep.
    """

    epochs: int
    lr: float
    tol: float
    dtype: str
    record_at: tuple[int, ...] = ()

    @property
    def float_type(self) -> type[np.floating[Any]]:
        """``np.float64`` or ``np.float32``."""
        return DTYPES[self.dtype]


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
