"""Seed sweeps and grids: train many independently initialised networks, deterministically.

The public ``sweep`` and ``grid``: they validate their arguments into a
``Training`` and an ``Execution`` (``_validation``), cut the seeds into a
``Plan`` and run it (``_execution``), and wrap the rows in a result
(``results``, whose names are also importable from here).
"""

import dataclasses
import os
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._execution import Plan, execute, progress_bar
from ._layout import N_PARAMS
from ._settings import Training
from ._validation import (
    MAX_EPOCHS,
    check_dataset,
    check_execution,
    check_int,
    check_list,
    check_memory,
    check_positive_float,
    check_representable,
    check_seeds,
    check_training,
)
from .results import GridResult, SweepResult, load_sweep, wilson_interval

__all__ = ["GridResult", "SweepResult", "grid", "load_sweep", "sweep", "wilson_interval"]

DTypeName = Literal["float64", "float32"]


def _check_result_memory(n_seeds: int, training: Training, n_lrs: int = 0) -> None:
    """Refuse up front a sweep (or a grid of ``n_lrs`` lrs) whose results cannot fit in memory."""
    f, r = np.dtype(training.dtype).itemsize, len(training.record_at)
    # per seed: params, final loss, loss_at (F), epochs to tol, the seed (8), converged, diverged (1)
    per_seed = f * (N_PARAMS + 1 + r) + 8 + 8 + 2 + n_lrs * (r * f + 8)
    what = f"{n_seeds:,} seeds" + (f" x {n_lrs} learning rates" if n_lrs else "")
    check_memory(n_seeds * per_seed, "seeds", f"the results of {what}", "; split the seeds over several calls")


Device = Literal["cpu", "cuda"]


def sweep(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    seeds: int | range | npt.ArrayLike,
    epochs: int = 3000,
    lr: float = 0.2,
    *,
    dtype: DTypeName | npt.DTypeLike = "float64",
    threads: int | None = None,
    tol: float = 1e-2,
    progress: bool = False,
    store: str | os.PathLike[str] | None = None,
    client: Any = None,
    device: Device = "cpu",
) -> SweepResult:
    """Train one network per seed and collect the outcomes.

    Seed ``i`` starts from exactly ``Network(seed=i).params`` (rounded to
    float32 for ``dtype="float32"``) and follows the same arithmetic as
    ``Network.train``: in float64 the final parameters are bit-identical to it.
    Results do not depend on ``threads``, on chunking, or on the order of
    ``seeds``.

    Parameters
    ----------
    X : array_like, shape (n, 2)
    y : array_like, shape (n,), values in [0, 1]
    seeds : int, range or array_like of int
        An int N means seeds 0 .. N-1. Seeds must be >= 0 and fit in int64;
        duplicates are allowed.
    epochs : int >= 0
    lr : float > 0
    dtype : {"float64", "float32"}
        Precision of the training arithmetic.
    threads : int, optional
        Threads for this call (a pool of Python threads running the GIL-free
        kernel; nothing global changes). Default ``numba.config.NUMBA_NUM_THREADS``,
        which is the number of cores unless set in the environment.
    tol : float > 0
        Loss threshold for ``converged`` and ``epochs_to_tol``.
    progress : bool
        Show a tqdm progress bar on a terminal, updated as each chunk of 1024
        seeds finishes (needs the ``progress`` extra).
    store : str or os.PathLike, optional
        A directory to keep results in, chunk by chunk as they finish (see
        ``fastbackprop.store``). Calling the same sweep again with the same
        store reads the finished chunks instead of recomputing them; the result
        is bit-identical to an uninterrupted sweep. A store made with other
        settings is refused with a ``ValueError`` naming the setting.
    client : dask.distributed.Client, optional
        Run the chunks on the cluster's workers instead of local threads
        (``threads`` is then unused); results are bit-identical.
    device : {"cpu", "cuda"}
        Where to train: "cuda" runs one network per GPU thread on the current
        CUDA device (needs the ``cuda`` extra and an NVIDIA GPU; with
        ``client``, on the workers' GPUs); results are bit-identical to the
        CPU's. ``threads`` is unused there.

    Returns
    -------
    SweepResult
    """
    X64, y64 = check_dataset(X, y)
    training = check_training(epochs=epochs, lr=lr, tol=tol, dtype=dtype)
    check_representable(X64, y64, training)
    seed_array = check_seeds(seeds, budget=lambda n: _check_result_memory(n, training))
    execution = check_execution(threads=threads, progress=progress, store=store, client=client, device=device)
    with progress_bar(seed_array.shape[0], execution.progress) as on_rows:
        trained = execute(Plan(X64, y64, seed_array, training), execution, on_rows)
    rows = trained.rows
    return SweepResult.from_rows(
        seed_array,
        rows.params,
        rows.final_loss,
        rows.epochs_to_tol,
        X64,
        y64,
        training,
        trained.wall_seconds,
        computed=trained.computed,
    )


def grid(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    seeds: int | range | npt.ArrayLike,
    lrs: Iterable[float],
    epochs_list: Iterable[int],
    *,
    dtype: DTypeName | npt.DTypeLike = "float64",
    threads: int | None = None,
    tol: float = 1e-2,
    progress: bool = False,
    store: str | os.PathLike[str] | None = None,
    client: Any = None,
    device: Device = "cpu",
) -> GridResult:
    """Success rate for every (learning rate, training length) pair.

    One training run per learning rate, for ``max(epochs_list)`` epochs; the
    loss after each shorter length is read from that run's history, so cell
    (lr, E) equals ``sweep(X, y, seeds, E, lr).converged`` bit for bit without
    retraining.

    Parameters
    ----------
    X, y, seeds, dtype, threads, tol, progress, client, device :
        As in ``sweep``.
    store : str or os.PathLike, optional
        A directory holding one sweep store per learning rate
        (``lr-000``, ``lr-001``, ...), resumable as in ``sweep``.
    lrs : sequence of float > 0
    epochs_list : sequence of int >= 1
        Sorted and de-duplicated in the result.

    Returns
    -------
    GridResult
    """
    X64, y64 = check_dataset(X, y)
    lr_array = np.array(check_list(lrs, "lrs", check_positive_float), dtype=np.float64)
    epochs = np.unique(
        check_list(epochs_list, "epochs_list", lambda v, name: check_int(v, name, minimum=1, maximum=MAX_EPOCHS))
    )
    # One run per lr for the longest length; the shorter ones are recorded on the way.
    training = check_training(epochs=int(epochs[-1]), lr=lr_array[0], tol=tol, dtype=dtype, record_at=epochs)
    check_representable(X64, y64, training)
    for lr in lr_array[1:]:
        check_training(epochs=training.epochs, lr=lr, tol=tol, dtype=dtype)  # each lr survives the dtype
    L = lr_array.shape[0]
    seed_array = check_seeds(seeds, budget=lambda n: _check_result_memory(n, training, n_lrs=L))
    execution = check_execution(threads=threads, progress=progress, store=store, client=client, device=device)
    S = seed_array.shape[0]
    loss = np.empty((L, epochs.shape[0], S), dtype=training.float_type)
    etl = np.empty((L, S), dtype=np.int64)
    wall = 0.0
    with progress_bar(S * L, execution.progress) as on_rows:
        for i, lr in enumerate(lr_array):
            plan = Plan(X64, y64, seed_array, dataclasses.replace(training, lr=float(lr)))
            sub = None if store is None else os.path.join(store, f"lr-{i:03d}")
            trained = execute(plan, dataclasses.replace(execution, store=sub), on_rows)
            etl[i] = trained.rows.epochs_to_tol
            loss[i] = trained.rows.loss_at.T
            wall += trained.wall_seconds
    return GridResult(
        lrs=lr_array,
        epochs=epochs,
        seeds=seed_array,
        loss=loss,
        epochs_to_tol=etl,
        X=X64,
        y=y64,
        tol=training.tol,
        dtype=training.dtype,
        wall_seconds=wall,
    )
