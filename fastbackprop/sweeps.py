"""Seed sweeps: train many independently initialised networks, deterministically."""

import dataclasses
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from . import _kernels
from ._layout import N_PARAMS
from ._version import __version__
from .store import SweepStore, read_store
from ._validation import MAX_EPOCHS, MAX_SEEDS, MAX_THREADS, check_dataset, check_int, check_positive_float, is_int

_DTYPES = {"float64": np.float64, "float32": np.float32}
#: Seeds per unit of work are LANES * _BLOCKS_PER_CHUNK (1024): ~10-30 ms each.
_BLOCKS_PER_CHUNK = 8
#: Chunks per GPU launch: 2**20 networks, a few waves of an H100 (132 SMs x
#: up to 2048 threads), 0.1-0.5 s of work, so progress and Ctrl-C stay prompt.
_CUDA_CHUNKS_PER_LAUNCH = 1024
_Z95 = 1.959963984540054  # standard-normal 97.5 % quantile
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
_FORMAT_VERSION = 1


def wilson_interval(successes, n, z=_Z95):
    """Wilson score interval of a binomial proportion; (lo, hi) as floats."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    # At p = 0 or 1 one end is exactly 0 or 1; say so rather than 1 - 1e-16.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """Outcome of ``sweep``: one row per seed, in the order the seeds were given.

    Attributes
    ----------
    seeds : ndarray of int64, shape (S,)
    params : ndarray, shape (S, 9), the sweep's dtype
        Final parameters, columns ``w1 .. w6, b1 .. b3``.
    final_loss : ndarray, shape (S,), the sweep's dtype
        Full-dataset MSE after the last epoch (of the starting parameters when
        ``epochs == 0``).
    epochs_to_tol : ndarray of int64, shape (S,)
        The first epoch count k >= 1 after which the full-dataset MSE is below
        ``tol`` (exact: the loss is evaluated after every epoch), -1 if never.
    converged : ndarray of bool, shape (S,)
        ``final_loss < tol``.
    diverged : ndarray of bool, shape (S,)
        A final parameter or the final loss is not finite.
    X, y : ndarray of float64
        The training data.
    epochs, lr, tol, dtype :
        The settings (``dtype`` as a string, "float64" or "float32").
    wall_seconds : float
        Training time of this call, without the one-off compile or cache load
        of the kernel (a resumed sweep counts only the chunks it computed).
    complete : bool
        False for a partial store read by ``load_sweep``: then only the rows of
        the finished chunks are present.
    """

    seeds: np.ndarray
    params: np.ndarray
    final_loss: np.ndarray
    epochs_to_tol: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    X: np.ndarray
    y: np.ndarray
    epochs: int
    lr: float
    tol: float
    dtype: str
    wall_seconds: float = math.nan
    complete: bool = True

    @property
    def n(self):
        """Number of seeds."""
        return int(self.seeds.shape[0])

    @property
    def success_rate(self):
        """Fraction of seeds that converged (final loss below tol)."""
        return float(np.mean(self.converged)) if self.n else math.nan

    @property
    def success_ci95(self):
        """95 % Wilson score interval of ``success_rate``, (lo, hi)."""
        return wilson_interval(int(np.count_nonzero(self.converged)), self.n)

    @property
    def runs_per_second(self):
        return self.n / self.wall_seconds if self.wall_seconds > 0 else math.nan

    def report(self):
        """The headline numbers as a JSON-ready dict (what ``fastbackprop sweep --json`` prints).

        Keys: seeds, epochs, lr, dtype, tol, converged, diverged, success_rate,
        success_ci95, final_loss_quantiles (10/25/50/75/90 %, finite losses; None
        when there are none), median_epochs_to_tol (over seeds that reached
        tol; None if none did), wall_seconds, runs_per_second.
        """
        finite = self.final_loss[np.isfinite(self.final_loss)].astype(np.float64)
        reached = self.epochs_to_tol[self.epochs_to_tol >= 0]
        q = np.quantile(finite, QUANTILES) if finite.size else [None] * len(QUANTILES)
        return {
            "seeds": self.n,
            "epochs": self.epochs,
            "lr": self.lr,
            "dtype": self.dtype,
            "tol": self.tol,
            "converged": int(np.count_nonzero(self.converged)),
            "diverged": int(np.count_nonzero(self.diverged)),
            "success_rate": self.success_rate,
            "success_ci95": list(self.success_ci95),
            "final_loss_quantiles": {f"{p:g}": None if v is None else float(v) for p, v in zip(QUANTILES, q)},
            "median_epochs_to_tol": float(np.median(reached)) if reached.size else None,
            "wall_seconds": self.wall_seconds,
            "runs_per_second": self.runs_per_second,
        }

    def summary(self):
        """A short human-readable report of ``report()``."""
        r = self.report()
        lo, hi = r["success_ci95"]
        quantiles = ", ".join(f"{float(k):.0%} {v:.3g}" for k, v in r["final_loss_quantiles"].items() if v is not None)
        med = r["median_epochs_to_tol"]
        lines = [
            f"{self.n} seeds, {self.epochs} epochs, lr {self.lr:g}, {self.dtype}, tol {self.tol:g}",
            f"converged (final loss < tol): {r['converged']}/{self.n} = {self.success_rate:.2%} "
            f"(95% CI {lo:.2%} .. {hi:.2%})" + (f"; diverged: {r['diverged']}" if r["diverged"] else ""),
            "final loss quantiles: " + (quantiles or "none finite"),
            "epochs to tol: " + (f"median {med:g} over seeds that got there" if med is not None else "never reached"),
        ]
        if math.isfinite(self.wall_seconds):
            lines.append(f"wall time {self.wall_seconds:.3g} s ({self.runs_per_second:,.0f} runs/s)")
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"SweepResult(n={self.n}, epochs={self.epochs}, lr={self.lr:g}, dtype={self.dtype!r}, "
            f"tol={self.tol:g}, success_rate={self.success_rate:.4g})"
        )

    def save(self, path):
        """Write to ``path`` as a NumPy .npz file; ``load_sweep`` reads it back bit for bit."""
        np.savez(
            path,
            format_version=_FORMAT_VERSION,
            package_version=__version__,
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
        )


def _outcomes(params, final_loss, dtype, tol):
    """``converged`` (final loss < tol, compared in the sweep's dtype) and ``diverged``."""
    return dict(
        converged=final_loss < _DTYPES[dtype](tol),
        diverged=~(np.isfinite(params).all(axis=1) & np.isfinite(final_loss)),
    )


def load_sweep(path):
    """Read a ``SweepResult`` from a file written by ``SweepResult.save`` or from a store.

    A store (the directory given as ``sweep(..., store=PATH)``) may be partial:
    then ``complete`` is False and only the finished chunks' rows are present.
    """
    if os.path.isdir(path):
        settings, X, y, seeds, rows, (params, final_loss, etl, _) = read_store(path)
        tol = float(settings["tol"])
        return SweepResult(
            seeds=seeds[rows], params=params, final_loss=final_loss, epochs_to_tol=etl,
            **_outcomes(params, final_loss, settings["dtype"], tol),
            X=X, y=y, epochs=int(settings["epochs"]), lr=float(settings["lr"]), tol=tol,
            dtype=settings["dtype"], complete=rows.shape[0] == seeds.shape[0],
        )
    with np.load(path, allow_pickle=False) as f:
        if "format_version" not in f or int(f["format_version"]) != _FORMAT_VERSION:
            raise ValueError(f"path {str(path)!r} is not a fastbackprop sweep file (version {_FORMAT_VERSION})")
        fields = {}
        for field in dataclasses.fields(SweepResult):
            value = f[field.name]
            fields[field.name] = value if field.type is np.ndarray else field.type(value.item())
    return SweepResult(**fields)


def _check_seeds(seeds):
    """Seeds as a new int64 array: an int N (0 .. N-1), a range, or integers."""
    if is_int(seeds):
        return np.arange(check_int(seeds, "seeds", minimum=1, maximum=MAX_SEEDS), dtype=np.int64)
    if isinstance(seeds, (bool, np.bool_, float, str, bytes)):
        raise TypeError(f"seeds must be an int, a range or an array of ints, got {seeds!r}")
    if isinstance(seeds, range):
        values = seeds
    else:
        try:
            values = np.asarray(seeds)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"seeds must be a 1-d array of ints: {exc}") from None
        if values.ndim != 1:
            raise ValueError(f"seeds must be 1-d, got shape {values.shape}")
    if len(values) == 0:
        raise ValueError(f"seeds must not be empty, got {seeds!r}")
    if len(values) > MAX_SEEDS:
        raise ValueError(f"seeds must hold at most {MAX_SEEDS} seeds, got {len(values)}")
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "O" and all(is_int(v) for v in values):
            values = [int(v) for v in values]  # Python ints, maybe past int64
        elif values.dtype.kind not in "iu":
            raise TypeError(f"seeds must hold ints, got dtype {values.dtype}")
    lo, hi = int(min(values)), int(max(values))
    if lo < 0:
        raise ValueError(f"seeds must be non-negative, got {lo}")
    if hi > np.iinfo(np.int64).max:
        raise ValueError(f"seeds must fit in int64, got {hi}")
    return np.array(values, dtype=np.int64)


def _check_dtype(dtype):
    """'float64' or 'float32' (also given as a NumPy dtype or type)."""
    try:
        name = None if dtype is None or isinstance(dtype, bool) else np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return name


def _check_threads(threads):
    """Thread count: None means ``numba.config.NUMBA_NUM_THREADS`` (all cores by default)."""
    if threads is None:
        return numba.config.NUMBA_NUM_THREADS
    return check_int(threads, "threads", minimum=1, maximum=MAX_THREADS)


def _progress_bar(total):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError(
            "progress=True needs tqdm: pip install 'fastbackprop[progress]'"
        ) from None
    # disable=None: a bar on a terminal, nothing when stderr is not one.
    return tqdm(total=total, unit="run", disable=None, smoothing=0.1)


def sweep(X, y, seeds, epochs=3000, lr=0.2, *, dtype="float64", threads=None, tol=1e-2, progress=False,
          store=None, client=None, device="cpu"):
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
    seeds = _check_seeds(seeds)
    epochs = check_int(epochs, "epochs", maximum=MAX_EPOCHS)
    lr = check_positive_float(lr, "lr")
    settings = _check_settings(dtype, threads, tol, progress)
    store, client, device = _check_store(store), _check_client(client), _check_device(device)
    out = _train_seeds(X64, y64, seeds, epochs, lr, np.empty(0, dtype=np.int64), *settings,
                       store=store, client=client, device=device)
    params, final_loss, etl, _, wall = out
    dtype, _, tol, _ = settings
    return SweepResult(
        seeds=seeds,
        params=params,
        final_loss=final_loss,
        epochs_to_tol=etl,
        **_outcomes(params, final_loss, dtype, tol),
        X=X64,
        y=y64,
        epochs=epochs,
        lr=lr,
        tol=tol,
        dtype=dtype,
        wall_seconds=wall,
    )


def _check_settings(dtype, threads, tol, progress):
    """The keyword settings shared by ``sweep`` and ``grid``, validated."""
    dtype = _check_dtype(dtype)
    threads = _check_threads(threads)
    tol = check_positive_float(tol, "tol")
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be a bool, got {progress!r}")
    return dtype, threads, tol, bool(progress)


def _chunk_task(Xf, yf, seeds, epochs, lr, tol, record_at, device="cpu"):
    """Train one unit of seeds and return its results: the unit of work sent to Dask workers."""
    if device == "cuda":
        from . import _cuda  # only here: the core package never imports numba-cuda

        return _cuda.train_chunk(Xf, yf, seeds, epochs, lr, tol, record_at)
    S = seeds.shape[0]
    params = np.empty((S, N_PARAMS), dtype=Xf.dtype)
    final_loss = np.empty(S, dtype=Xf.dtype)
    etl = np.empty(S, dtype=np.int64)
    loss_at = np.empty((S, record_at.shape[0]), dtype=Xf.dtype)
    _kernels.sweep(Xf, yf, seeds, epochs, lr, tol, record_at, params, final_loss, etl, loss_at)
    return params, final_loss, etl, loss_at


def _check_store(store):
    if store is not None and not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store must be a path (str or os.PathLike), got {type(store).__name__}")
    return store


def _check_device(device):
    """'cpu' or 'cuda'; for 'cuda', an error saying what is missing unless a GPU can run the kernel."""
    if not isinstance(device, str):
        raise TypeError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        from . import _cuda

        _cuda.require()
    return device


def _check_client(client):
    if client is not None and not (callable(getattr(client, "map", None)) and callable(getattr(client, "gather", None))):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    return client


def _train_seeds(X64, y64, seeds, epochs, lr, record_at, dtype, threads, tol, progress, bar=None,
                 store=None, client=None, device="cpu"):
    """Train every seed, chunk by chunk: on a pool of ``threads`` threads, on a
    Dask ``client``'s workers, or on the GPU (``device="cuda"``, many chunks per
    launch); with a ``store``, finished chunks are read back instead of
    recomputed and new ones are written as they finish.

    Returns params (S, 9), final_loss (S,), epochs_to_tol (S,), loss_at (S, R)
    (the loss after record_at[r] epochs) and the wall time in seconds.
    """
    F = _DTYPES[dtype]
    S = seeds.shape[0]
    Xf, yf = X64.astype(F), y64.astype(F)
    out = (
        np.empty((S, N_PARAMS), dtype=F),
        np.empty(S, dtype=F),
        np.empty(S, dtype=np.int64),
        np.empty((S, record_at.shape[0]), dtype=F),
    )
    # Chunks of whole blocks, many per thread, handed out as threads free up.
    # Each row's arithmetic does not depend on its chunk, thread or machine.
    chunk = _kernels.LANES * _BLOCKS_PER_CHUNK
    n_chunks = -(-S // chunk)
    bounds = [(i * chunk, min(S, (i + 1) * chunk)) for i in range(n_chunks)]
    own_bar = bar is None and progress
    if own_bar:
        bar = _progress_bar(S)
    # Compile or load the kernel for this dtype now, so the timing is training only.
    if device == "cuda":
        from . import _cuda

        _cuda.compile_kernel(F)
    else:
        _kernels.sweep(Xf, yf, seeds[:0], epochs, F(lr), F(tol), record_at, *(a[:0] for a in out))
    # A unit of work is one chunk on the CPU and many on the GPU, which needs
    # ~10^5 networks in flight; stores and progress still see chunks.
    per_unit = _CUDA_CHUNKS_PER_LAUNCH if device == "cuda" else 1
    start = time.perf_counter()
    disk = pool = None

    def place(i, arrays):
        """Put chunk i's results in the output arrays."""
        lo, hi = bounds[i]
        for dst, src in zip(out, arrays):
            dst[lo:hi] = src
        if bar is not None:
            bar.update(hi - lo)

    def task(unit):
        unit_seeds = np.concatenate([seeds[slice(*bounds[i])] for i in unit])
        return (Xf, yf, unit_seeds, epochs, F(lr), F(tol), record_at, device)

    def split(unit, arrays):
        """The unit's results as (chunk index, that chunk's rows), each written to the store."""
        at = 0
        for i in unit:
            n = bounds[i][1] - bounds[i][0]
            rows = tuple(a[at : at + n] for a in arrays)
            at += n
            if disk is not None:
                disk.write(i, *rows)  # by the client: Dask workers never touch the store
            yield i, rows

    def run(unit):
        return list(split(unit, _chunk_task(*task(unit))))

    def on_cluster(units):
        from dask.distributed import as_completed  # only reached with a Dask client

        futures = {client.submit(_chunk_task, *task(unit), pure=False): k for k, unit in enumerate(units)}
        for f in as_completed(futures):
            yield list(split(units[futures[f]], f.result()))

    try:
        todo = list(range(n_chunks))
        if store is not None:
            settings = dict(epochs=epochs, lr=lr, dtype=dtype, tol=tol, record_at=record_at.tolist(),
                            chunk_size=chunk, package_version=__version__)
            disk = SweepStore(store, settings, X64, y64, seeds)
            done = {i: disk.read(i) for i in todo}
            todo = [i for i, arrays in done.items() if arrays is None]
            for i, arrays in done.items():
                if arrays is not None:
                    place(i, arrays)
        units = [todo[k : k + per_unit] for k in range(0, len(todo), per_unit)]
        if client is not None:
            finished = on_cluster(units)
        else:
            if threads > 1 and len(units) > 1 and device == "cpu":
                pool = ThreadPoolExecutor(min(threads, len(units)))
            finished = (pool.map if pool else map)(run, units)
        for chunks in finished:
            for i, arrays in chunks:
                place(i, arrays)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)  # on an error, drop the chunks not started
        if own_bar:
            bar.close()
    return (*out, time.perf_counter() - start)


@dataclasses.dataclass(frozen=True, eq=False)
class GridResult:
    """Outcome of ``grid``: success rates over learning rates x training lengths.

    Attributes
    ----------
    lrs : ndarray of float64, shape (L,)
        Learning rates, in the order given.
    epochs : ndarray of int64, shape (E,)
        Training lengths, increasing.
    seeds : ndarray of int64, shape (S,)
    loss : ndarray, shape (L, E, S), the grid's dtype
        Full-dataset MSE of each seed after ``epochs[j]`` epochs at ``lrs[i]``,
        all read from one training run per learning rate.
    epochs_to_tol : ndarray of int64, shape (L, S)
        As in ``SweepResult``, for the longest run.
    tol, dtype, X, y, wall_seconds :
        As in ``SweepResult``.
    """

    lrs: np.ndarray
    epochs: np.ndarray
    seeds: np.ndarray
    loss: np.ndarray
    epochs_to_tol: np.ndarray
    X: np.ndarray
    y: np.ndarray
    tol: float
    dtype: str
    wall_seconds: float = math.nan

    @property
    def n(self):
        return int(self.seeds.shape[0])

    @property
    def successes(self):
        """Seeds with loss below tol, shape (L, E) int64."""
        return np.count_nonzero(self.loss < _DTYPES[self.dtype](self.tol), axis=2).astype(np.int64)

    @property
    def success_rate(self):
        """Fraction converged per (lr, epochs) cell, shape (L, E)."""
        return self.successes / self.n

    @property
    def success_ci95(self):
        """Wilson 95 % intervals per cell, shape (L, E, 2)."""
        k = self.successes
        return np.array([[wilson_interval(int(c), self.n) for c in row] for row in k])

    def cells(self):
        """One dict per (lr, epochs) cell, in row-major order (JSON-ready)."""
        k, ci = self.successes, self.success_ci95
        return [
            {
                "lr": float(lr),
                "epochs": int(ep),
                "successes": int(k[i, j]),
                "n": self.n,
                "success_rate": float(k[i, j] / self.n),
                "success_ci95": [float(ci[i, j, 0]), float(ci[i, j, 1])],
            }
            for i, lr in enumerate(self.lrs)
            for j, ep in enumerate(self.epochs)
        ]

    def to_frame(self):
        """The cells as a pandas DataFrame (needs pandas, which is not a dependency)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("GridResult.to_frame needs pandas: pip install pandas") from None
        rows = [dict(c, ci_lo=c["success_ci95"][0], ci_hi=c["success_ci95"][1]) for c in self.cells()]
        for r in rows:
            del r["success_ci95"]
        return pd.DataFrame(rows, columns=["lr", "epochs", "successes", "n", "success_rate", "ci_lo", "ci_hi"])

    def table(self):
        """Success rates as a text table: one row per lr, one column per epochs value."""
        ci = self.success_ci95
        width = 22
        head = "lr \\ epochs".ljust(12) + "".join(f"{int(e):>{width}}" for e in self.epochs)
        lines = [head]
        for i, lr in enumerate(self.lrs):
            cells = "".join(
                f"{f'{self.success_rate[i, j]:.1%} [{ci[i, j, 0]:.1%}, {ci[i, j, 1]:.1%}]':>{width}}"
                for j in range(self.epochs.shape[0])
            )
            lines.append(f"{lr:<12g}{cells}")
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"GridResult(n={self.n}, lrs={self.lrs.tolist()}, epochs={self.epochs.tolist()}, "
            f"dtype={self.dtype!r}, tol={self.tol:g})"
        )


def _check_list(values, name, check):
    """A non-empty 1-d sequence, each item passed through ``check(item, name)``."""
    try:
        items = list(values) if np.ndim(values) == 1 else []
    except (TypeError, ValueError):  # ragged nesting
        items = []
    if not items:
        raise ValueError(f"{name} must be a non-empty 1-d sequence, got {values!r}")
    return [check(v, name) for v in items]


def grid(X, y, seeds, lrs, epochs_list, *, dtype="float64", threads=None, tol=1e-2, progress=False,
         store=None, client=None, device="cpu"):
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
    seeds = _check_seeds(seeds)
    lrs = np.array(_check_list(lrs, "lrs", check_positive_float), dtype=np.float64)
    epochs = np.unique(_check_list(epochs_list, "epochs_list", lambda v, n: check_int(v, n, minimum=1, maximum=MAX_EPOCHS)))
    dtype, threads, tol, progress = _check_settings(dtype, threads, tol, progress)
    store, client, device = _check_store(store), _check_client(client), _check_device(device)
    S = seeds.shape[0]
    loss = np.empty((lrs.shape[0], epochs.shape[0], S), dtype=_DTYPES[dtype])
    etl = np.empty((lrs.shape[0], S), dtype=np.int64)
    bar = _progress_bar(S * lrs.shape[0]) if progress else None
    wall = 0.0
    try:
        for i, lr in enumerate(lrs):
            sub = None if store is None else os.path.join(store, f"lr-{i:03d}")
            out = _train_seeds(X64, y64, seeds, int(epochs[-1]), float(lr), epochs, dtype, threads, tol, progress,
                               bar, store=sub, client=client, device=device)
            etl[i] = out[2]
            loss[i] = out[3].T
            wall += out[4]
    finally:
        if bar is not None:
            bar.close()
    return GridResult(
        lrs=lrs, epochs=epochs, seeds=seeds, loss=loss, epochs_to_tol=etl,
        X=X64, y=y64, tol=tol, dtype=dtype, wall_seconds=wall,
    )
