"""Seed sweeps and grids: train many independently initialised networks, deterministically.

The public ``sweep`` and ``grid``: they validate their arguments into a
``Training`` and an ``Execution`` (``_validation``), cut the seeds into a
``Plan`` and run it (``_execution``), and wrap the rows in a result
(``results``, whose names are also importable from here).
"""

import dataclasses
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ._execution import Plan, Rows, execute, progress_bar
from ._layout import N_PARAMS
from ._settings import ACTIVATIONS, Training
from ._validation import (
    MAX_EPOCHS,
    MAX_LENGTHS,
    check_choice,
    check_dataset,
    check_execution,
    check_grid_training,
    check_int,
    check_list,
    check_memory,
    check_momentum,
    check_positive_float,
    check_representable,
    check_sweep_seeds,
    check_training,
)
from .results import GRID_PER_SEED, GridResult, SweepResult, diverged_rows, load_grid, load_sweep, wilson_interval
from .store import MANIFEST

__all__ = ["GridResult", "SweepResult", "grid", "load_grid", "load_sweep", "sweep", "wilson_interval"]

DTypeName = Literal["float64", "float32"]


def _check_result_memory(
    n_seeds: int, training: Training, n_cells: int = 0, pixels: bool = False, extra_per_seed: int = 0
) -> None:
    """Refuse up front a sweep (a grid of ``n_cells`` cells, a map of ``n_seeds`` pixels) that cannot fit in memory.

    ``extra_per_seed``: bytes a seed takes beyond the results (a map's per-pixel learning rates).
    """
    f, r = np.dtype(training.dtype).itemsize, len(training.record_at)
    w = training.n_within  # within_at (1)
    # per seed: params, final loss, loss_at (F), within_at, epochs to tol, the seed (8), converged, diverged (1)
    per_seed = f * (N_PARAMS + 1 + r) + w + 8 + 8 + 2 + extra_per_seed + pixels
    if n_cells:
        # a grid's cells, one sweep placed straight into them: a cell's loss, within and epochs to tol;
        # the sweep's seed, lr and momentum rows, and the per-seed settings repeated per cell
        repeated = sum(
            8 * np.size(getattr(training, name)) // n_seeds
            for name in GRID_PER_SEED
            if isinstance(getattr(training, name), np.ndarray)
        )
        per_seed = 8 + 2 * repeated + n_cells * (r * f + w + 8 + 24 + repeated)  # + the caller's and checked copies
    if pixels:
        check_memory(n_seeds * per_seed, "resolution", f"a map of {n_seeds:,} pixels", "; use a smaller resolution")
        return
    what = f"{n_seeds:,} seeds" + (f" x {n_cells} grid cells" if n_cells else "")
    check_memory(n_seeds * per_seed, "seeds", f"the results of {what}", "; split the seeds over several calls")


def _refuse_per_cell_stores(store: str | os.PathLike[str]) -> None:
    """ValueError for a grid's store of the earlier layout (one store per cell), which this grid would not read."""
    path = os.fspath(store)
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, MANIFEST)):
        earlier = sorted(
            n
            for n in os.listdir(path)
            if re.fullmatch(r"lr-\d{3}(-m-\d{3})?", n) and os.path.isfile(os.path.join(path, n, MANIFEST))
        )
        if earlier:
            raise ValueError(
                f"store {path!r} holds a grid's stores of an earlier layout, one per cell ({earlier[0]}, ...), "
                "which a grid now keeps in one; use another store (load_sweep reads each of those)"
            )


Device = Literal["cpu", "cuda"]
Init = Literal["normal", "uniform"]
Activation = Literal["sigmoid", "tanh"]


def sweep(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    seeds: int | range | npt.ArrayLike | None,
    epochs: int = 3000,
    lr: float | npt.ArrayLike = 0.2,
    *,
    lr_output: float | npt.ArrayLike | None = None,
    momentum: float | npt.ArrayLike = 0.0,
    init: Init = "normal",
    init_scale: float | npt.ArrayLike = 1.0,
    params0: npt.ArrayLike | None = None,
    activation: Activation = "sigmoid",
    margin: float | None = None,
    dtype: DTypeName | npt.DTypeLike = "float64",
    threads: int | None = None,
    tol: float = 1e-2,
    epochs_to_tol: bool = True,
    progress: bool = False,
    store: str | os.PathLike[str] | None = None,
    client: Any = None,
    device: Device = "cpu",
) -> SweepResult:
    """Train one network per seed (or per starting point) and collect the outcomes.

    Row ``i`` starts from exactly ``Network(seed=seeds[i], init=..., init_scale=...).params``
    (or ``params0[i]``), rounded to float32 for ``dtype="float32"``, and follows
    the same arithmetic as ``Network.train`` with the same options: in float64
    the final parameters are bit-identical to it. Results do not depend on
    ``threads``, on chunking, or on the order of the rows.

    Parameters
    ----------
    X : array_like, shape (n, 2)
    y : array_like, shape (n,), values in [0, 1] ([-1, 1] for tanh)
    seeds : int, range, array_like of int, or None
        An int N means seeds 0 .. N-1. Seeds must be >= 0 and fit in int64;
        duplicates are allowed. None only with ``params0``: rows are then
        labelled 0 .. S-1.
    epochs : int >= 0
    lr : float > 0, or array_like of shape (S,)
        Learning rate, of every parameter, or with ``lr_output`` of the hidden
        layer (w1-w4, b1, b2).
    lr_output : float > 0, or array_like of shape (S,), optional
        Learning rate of the output neuron (w5, w6, b3); None: ``lr``.
    momentum : float in [0, 1), or array_like of shape (S,)
        Classical momentum, per sample: ``v <- momentum v - lr dL/dp``,
        ``p <- p + v``, v = 0 at the start. 0 is plain SGD, bit for bit.
    init : {"normal", "uniform"}
        Distribution of the seed map's starting parameters: standard normal,
        or U[-1, 1), each times ``init_scale``.
    init_scale : float > 0, or array_like of shape (S,)
        Standard deviation (normal) or half-width (uniform) of the starts.
    params0 : array_like, shape (S, 9), optional
        Explicit starting points, one row per network (layout ``w1 .. w6,
        b1 .. b3``), instead of the seed map; ``init`` options are then refused.
    activation : {"sigmoid", "tanh"}
        Of all three neurons; tanh targets lie in [-1, 1].
    margin : float > 0, optional
        Success criterion: a network has converged when every sample's
        ``|y - ypred| < margin`` (the classic "all outputs within 0.4"); then
        ``converged`` and ``epochs_to_tol`` follow this criterion instead of
        ``final loss < tol`` (``tol`` is not used).
    dtype : {"float64", "float32"}
        Precision of the training arithmetic.
    threads : int, optional
        Threads for this call (a pool of Python threads running the GIL-free
        kernel; nothing global changes). Default ``numba.config.NUMBA_NUM_THREADS``,
        which is the number of cores unless set in the environment.
    tol : float > 0
        Loss threshold for ``converged`` and ``epochs_to_tol``.
    epochs_to_tol : bool
        Find each network's epochs to tol: the criterion is decided after
        every epoch until all 128 networks of a kernel block have met it
        once, which on XOR, where some never do, costs up to 40 % of the
        speed. False: the result's ``epochs_to_tol`` is None; every other
        field is bit-identical.
    progress : bool
        Show a tqdm progress bar on stderr, updated as each chunk of seeds
        finishes (up to 8192 on the CPU, 65,536 on a GPU; needs the
        ``progress`` extra).
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
        CPU's, with every option above. ``threads`` is unused there.

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> import numpy as np
    >>> from fastbackprop import datasets, sweep
    >>> X, y = datasets.xor()
    >>> res = sweep(X, y, 256, epochs=500, lr=np.geomspace(0.1, 10, 256), momentum=0.9)
    >>> res.converged.shape
    (256,)
    """
    X64, y64 = check_dataset(X, y, check_choice(activation, "activation", ACTIVATIONS))
    training = check_training(
        epochs=epochs,
        lr=lr,
        tol=tol,
        dtype=dtype,
        lr_output=lr_output,
        momentum=momentum,
        activation=activation,
        margin=margin,
        init=init,
        init_scale=init_scale,
        params0=params0,
        epochs_to_tol=epochs_to_tol,
    )
    check_representable(X64, y64, training)
    seed_array = check_sweep_seeds(seeds, training, budget=lambda n: _check_result_memory(n, training))
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
        trained.training,
        trained.wall_seconds,
        computed=trained.computed,
    )


def grid(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    seeds: int | range | npt.ArrayLike | None,
    *,
    lrs: Sequence[float] | npt.NDArray[Any] | Iterator[float],
    epochs_list: Sequence[int] | npt.NDArray[Any] | Iterator[int],
    momenta: Sequence[float] | npt.NDArray[Any] | Iterator[float] | None = None,
    lr_output: float | npt.ArrayLike | None = None,
    init: Init = "normal",
    init_scale: float | npt.ArrayLike = 1.0,
    params0: npt.ArrayLike | None = None,
    activation: Activation = "sigmoid",
    margin: float | None = None,
    dtype: DTypeName | npt.DTypeLike = "float64",
    threads: int | None = None,
    tol: float = 1e-2,
    epochs_to_tol: bool = True,
    progress: bool = False,
    store: str | os.PathLike[str] | None = None,
    client: Any = None,
    device: Device = "cpu",
) -> GridResult:
    """Success rate for every (learning rate, training length) pair, or (lr, momentum, length) triple.

    One training run of each seed at each learning rate (and momentum), for
    ``max(epochs_list)`` epochs, all cells in one sweep (the learning rate and
    momentum per network); the loss after each shorter length is read from
    that run's history, so cell (lr, E) equals ``sweep(X, y, seeds, E,
    lr).converged`` bit for bit without retraining.

    Parameters
    ----------
    X, y, seeds, lr_output, init, init_scale, params0, activation, margin, dtype, threads, tol, progress, client, \
device :
        As in ``sweep``. With a ``margin``, whether every sample's error is
        below it is recorded after each length too, and is the cells' criterion.
    epochs_to_tol : bool
        As in ``sweep``. The cells' success rates do not use it: False makes
        a grid faster and changes none of them.
    lrs : sequence of float > 0
    epochs_list : sequence of int >= 1
        Sorted and de-duplicated in the result; at most 10**6 distinct lengths
        (``MAX_LENGTHS``, the most a store's manifest lists).
    momenta : sequence of float in [0, 1), optional
        Momenta to cross with the learning rates: the result then has a
        momentum axis after the learning-rate axis.
    store : str or os.PathLike, optional
        A sweep store, resumable as in ``sweep``, of every cell's networks:
        the seeds once per learning rate (per learning rate and momentum),
        with those as per-network settings.

    Returns
    -------
    GridResult
    """
    X64, y64 = check_dataset(X, y, check_choice(activation, "activation", ACTIVATIONS))
    lr_array = np.array(check_list(lrs, "lrs", check_positive_float), dtype=np.float64)
    m_array = None if momenta is None else np.array(check_list(momenta, "momenta", check_momentum), dtype=np.float64)
    epochs = np.unique(
        check_list(epochs_list, "epochs_list", lambda v, name: check_int(v, name, minimum=1, maximum=MAX_EPOCHS))
    )
    if epochs.shape[0] > MAX_LENGTHS:  # (a store lists them in its manifest)
        raise ValueError(f"epochs_list must hold at most {MAX_LENGTHS:,} lengths, got {epochs.shape[0]:,}")
    options: dict[str, Any] = dict(
        lr_output=lr_output,
        activation=activation,
        init=init,
        init_scale=init_scale,
        params0=params0,
        margin=margin,
        epochs_to_tol=epochs_to_tol,
    )
    # One run per (lr, momentum) for the longest length; the shorter ones are recorded on the way.
    training = check_grid_training(lr_array, m_array, epochs, dtype=dtype, tol=tol, **options)
    check_representable(X64, y64, training)
    pairs = [
        (float(lr), 0.0 if m_array is None else float(m))
        for lr in lr_array
        for m in (m_array if m_array is not None else [0.0])
    ]
    L, M = lr_array.shape[0], 1 if m_array is None else m_array.shape[0]
    K = L * M
    seed_array = check_sweep_seeds(seeds, training, budget=lambda n: _check_result_memory(n, training, n_cells=K))
    execution = check_execution(threads=threads, progress=progress, store=store, client=client, device=device)
    if store is not None:
        _refuse_per_cell_stores(store)
    S = seed_array.shape[0]
    # Every cell's networks in one sweep, cell after cell, with their learning rate and momentum as
    # per-network settings: one pool of threads or one GPU launch for all, however few seeds a cell has.
    lr_rows, m_rows = (np.repeat(np.array(values, dtype=np.float64), S) for values in zip(*pairs, strict=True))

    def cells(value: Any) -> Any:
        """A per-network setting's rows for every cell (a scalar stays a scalar)."""
        return np.tile(value, (K,) + (1,) * (value.ndim - 1)) if isinstance(value, np.ndarray) else value

    whole = dataclasses.replace(
        training,
        lr=lr_rows,
        momentum=0.0 if m_array is None else m_rows,
        **{name: cells(getattr(training, name)) for name in GRID_PER_SEED},
    )
    loss = np.empty((K, epochs.shape[0], S), dtype=training.float_type)
    within = np.empty((K, training.n_within, S), dtype=np.bool_)
    etl = np.empty((K, S) if training.epochs_to_tol else 0, dtype=np.int64)
    diverged = np.empty((K, S), dtype=np.bool_)

    def put(lo: int, hi: int, rows: Rows) -> None:
        """Rows [lo, hi) of the sweep into their cells: row i is seed i % S of cell i // S."""
        at = lo
        while at < hi:
            k, s = divmod(at, S)
            n = min(hi - at, S - s)
            part = slice(at - lo, at - lo + n)
            loss[k, :, s : s + n] = rows.loss_at[part].T
            within[k, :, s : s + n] = rows.within_at[part].T
            if training.epochs_to_tol:
                etl[k, s : s + n] = rows.epochs_to_tol[part]
            diverged[k, s : s + n] = diverged_rows(rows.params[part], rows.final_loss[part])
            at += n

    grid_cells = {"lrs": lr_array.tolist(), "momenta": None if m_array is None else m_array.tolist(), "seeds": S}
    plan = Plan(X64, y64, np.tile(seed_array, K), whole, grid=grid_cells)
    with progress_bar(S * K, execution.progress) as on_rows:
        trained = execute(plan, execution, on_rows, put)
    wall, tol = trained.wall_seconds, trained.training.tol  # a resumed store's tol where a margin made it moot
    if m_array is not None:  # the momentum axis, after the learning rates'
        loss = loss.reshape(L, M, epochs.shape[0], S)
        within = within.reshape(L, M, -1, S)
        etl = etl.reshape(L, M, S) if training.epochs_to_tol else etl
        diverged = diverged.reshape(L, M, S)
    return GridResult(
        lrs=lr_array,
        epochs=epochs,
        seeds=seed_array,
        loss=loss,
        epochs_to_tol=etl if training.epochs_to_tol else None,
        X=X64,
        y=y64,
        tol=tol,
        dtype=training.dtype,
        wall_seconds=wall,
        momenta=m_array,
        activation=training.activation,
        lr_output=training.lr_output,
        init=training.init,
        init_scale=training.init_scale,
        params0=training.params0,
        margin=training.margin,
        within_margin=within if training.margin is not None else None,
        diverged=diverged,
        computed=trained.computed,
    )
