"""Running a sweep: the chunk plan, one small function per target, the store as the sink.

A sweep is cut into chunks of whole kernel blocks (``Plan``). The targets --
``run_threads`` (the CPU's threads), ``run_gpu`` (launches on one GPU) and
``run_dask`` (a Dask client's workers) -- take the same plan and units of
chunks and hand each unit's rows, as it finishes, to one sink; ``execute`` reads finished
chunks back from a store, gives the rest to a target, and its sink writes them
to the store and to the output arrays. Each row's arithmetic depends on its seed only, never on
its chunk, unit, thread or machine.
"""

import contextlib
import dataclasses
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from . import _kernels
from ._jit import compile_while_waiting
from ._layout import N_PARAMS
from ._settings import PER_ROW, Execution, PerNetwork, StartGrid, Training
from ._version import __version__
from .store import OMITTED_AT_DEFAULT, SweepStore, canonical_nans, chunk_bounds, n_chunks, sha256

#: Seeds per chunk on the CPU are LANES * BLOCKS_PER_CHUNK (1024): ~10-30 ms
#: of work each, the unit of progress, of store writes and of load balancing;
#: fewer (whole blocks) in a sweep too small to give every thread a chunk.
BLOCKS_PER_CHUNK = 8
#: Into a store, CPU chunks grow up to this many times (8192 seeds) while every
#: thread still gets 8 or more: a store writes a file per chunk (~0.7 ms, which
#: added 12-17 % to a float32 sweep on 2 cores at 1024 seeds, 0-4 % at 8192).
STORE_CHUNK_GROWTH = 8
#: Seeds per chunk on a GPU (2**16): a launch's rows reach a store as a few
#: large files, which one writer manages at ~10^7 rows/s, not 1.5*10^6.
CUDA_BLOCKS_PER_CHUNK = 512
#: Networks per GPU launch on a Dask worker (within CUDA_LAUNCH_BYTES): a few waves of
#: an H100 (132 SMs x up to 2048 threads), 0.1-0.5 s of 3000 epochs on 4 samples.
CUDA_NETWORKS_PER_LAUNCH = 2**20
#: A local GPU sweep's launches are sized by the speed measured so far to
#: about this long, so that progress and Ctrl-C stay prompt however long each
#: network trains (the first launch is one chunk), and short trainings are not
#: all per-launch copies and Python.
CUDA_LAUNCH_SECONDS = 0.2
#: ... and within this much device memory a stream, whatever is recorded per network.
CUDA_LAUNCH_BYTES = 2**30
#: Launches in flight, each on a stream of its own: the next one trains while
#: the last one's rows come back (``_cuda.Launches``). 1: one at a time.
CUDA_LAUNCHES_IN_FLIGHT = 2
#: Threads writing a GPU launch's chunks to a store at once. A 2**16-row chunk is
#: ~4.6 ms of SHA-256, npz and fsync, most of it outside the GIL: one writer's
#: ~1.4*10^7 rows/s is less than an H200 trains in float32 (1.67-2.1x with 4 on 2 cores).
STORE_WRITERS = 4

#: Seconds between a Dask worker process's looks at whether the sweep it trains for was stopped.
STOP_WATCH_SECONDS = 1.0
#: Seconds after which an interrupted sweep's stop Event is cleared (and so deleted): ten looks of
#: every watch, so that none misses it.
STOP_CLEAR_SECONDS = 10 * STOP_WATCH_SECONDS

Unit = Sequence[int]  # chunk indices trained by one kernel call


class Rows(NamedTuple):
    """Results of consecutive seeds (S of them) in the training dtype F."""

    params: npt.NDArray[Any]  # (S, 9) F
    final_loss: npt.NDArray[Any]  # (S,) F
    epochs_to_tol: npt.NDArray[np.int64]  # (S,)
    loss_at: npt.NDArray[Any]  # (S, R) F, the loss after record_at[r] epochs
    within_at: npt.NDArray[Any]  # (S, R) bool with a margin, else (S, 0): every error below it then


Sink = Callable[[Unit, Rows], None]  # receives each finished unit's rows
Put = Callable[[int, int, Rows], None]  # places rows [lo, hi) of a sweep, from any thread


class Trained(NamedTuple):
    """What ``execute`` returns: every seed's rows, the wall time, and how many rows it trained."""

    rows: Rows  # none where the caller placed them (``execute(put=)``)
    wall_seconds: float
    computed: int  # rows trained by this call (the others were read from the store)
    training: Training  # the plan's, but a resumed store's tol where its margin made tol moot


@dataclasses.dataclass(frozen=True)
class Job:
    """One kernel call: the unit of work, sent as it is to a Dask worker.

    The per-network settings are scalars, or this call's rows of them.
    """

    X: npt.NDArray[Any]  # (n, 2) F
    y: npt.NDArray[Any]  # (n,) F
    seeds: npt.NDArray[np.int64]  # (S,)
    params0: npt.NDArray[np.float64] | None  # (S, 9) explicit starts, or None: from the seeds
    start_grid: StartGrid | None  # a map's starts, from the seeds (its pixel numbers)
    uniform: bool  # the seed map's distribution: U[-1, 1) rather than normal
    init_scale: PerNetwork
    lr: PerNetwork
    lr_output: PerNetwork
    momentum: PerNetwork
    with_momentum: bool  # the sweep's kernel variant: the same for every job of a sweep
    tanh: bool
    epochs: int
    tol: np.floating[Any]  # F
    margin: np.floating[Any]  # F; 0 when success is loss < tol
    track: bool  # find each network's epochs to tol
    record_at: npt.NDArray[np.int64]
    device: str

    @property
    def tol_sum(self) -> np.floating[Any]:
        """``_kernels.tol_sum`` of this job's tol and samples: one squared error at or
        above it shows a network's loss not below tol (both targets' check)."""
        return _kernels.tol_sum(self.tol, self.X.shape[0])

    @property
    def n_within(self) -> int:
        """Columns of ``Rows.within_at``: ``Training.n_within`` of this job's settings."""
        return self.record_at.shape[0] if self.margin > 0 else 0

    def explicit_starts(self) -> npt.NDArray[np.float64] | None:
        """The given starting points, (S, 9) float64, or None when they come from the seed map."""
        if self.params0 is not None:
            return self.params0
        if self.start_grid is not None:
            return self.start_grid.starts(self.seeds)
        return None

    def starts(self) -> npt.NDArray[np.float64]:
        """The starting points, (S, 9) float64."""
        given = self.explicit_starts()
        if given is not None:
            return given
        out = np.empty((self.seeds.shape[0], N_PARAMS))
        _kernels.init_params(self.seeds, self.uniform, self.per_network("init_scale", np.float64), out)
        return out

    def per_network(self, name: str, dtype: Any) -> npt.NDArray[Any]:
        """Setting ``name`` (one of PER_NETWORK) as one value per network, (S,) C-contiguous of ``dtype``."""
        value = getattr(self, name)
        if np.ndim(value):
            return np.ascontiguousarray(value, dtype=dtype)
        return np.full(self.seeds.shape[0], value, dtype=dtype)


def train_job(job: Job, cancel: npt.NDArray[np.uint8] | None = None) -> Rows | None:
    """Train the job's networks on ``job.device``; the same rows on every target.

    None if ``cancel[0]`` was set before the kernel finished (CPU; a GPU
    launch runs to its end).
    """
    if job.device == "cuda":
        from . import _cuda  # only here: the core package never imports numba-cuda

        return Rows(*_cuda.train_chunk(job))
    F = job.X.dtype
    rows = _empty_rows(job.seeds.shape[0], job.record_at.shape[0], job.n_within, F)
    if cancel is None:
        cancel = np.zeros(1, np.uint8)
    kernel = _kernels.training_kernels(job.tanh, job.with_momentum).train_blocks
    done = kernel(
        job.X,
        job.y,
        job.starts(),
        *(job.per_network(name, F) for name in ("lr", "lr_output", "momentum")),
        job.epochs,
        job.tol,
        job.tol_sum,
        job.margin,
        job.track,
        job.record_at,
        *rows,
        cancel,
    )
    return rows if done else None


def _empty_rows(n_seeds: int, n_record: int, n_within: int, dtype: Any) -> Rows:
    return Rows(
        np.empty((n_seeds, N_PARAMS), dtype=dtype),
        np.empty(n_seeds, dtype=dtype),
        np.empty(n_seeds, dtype=np.int64),
        np.empty((n_seeds, n_record), dtype=dtype),
        np.empty((n_seeds, n_within), dtype=np.bool_),
    )


@dataclasses.dataclass(frozen=True)
class Plan:
    """A sweep cut into chunks: validated data, seeds and training settings.

    Chunk ``i`` holds rows ``bounds(i)`` of ``seeds``; its size is a whole number
    of kernel blocks.
    """

    X: npt.NDArray[np.float64]  # (n, 2)
    y: npt.NDArray[np.float64]  # (n,)
    seeds: npt.NDArray[np.int64]  # (S,)
    training: Training
    chunk_size: int = dataclasses.field(default_factory=lambda: _kernels.LANES * BLOCKS_PER_CHUNK)
    #: A grid's cells, JSON-ready ({"lrs": [...], "momenta": [...] or None, "seeds": S}): its rows are
    #: the seeds once per cell. Kept in a store's manifest, so that another grid is named as such.
    grid: dict[str, Any] | None = None
    # Derived once: the data and record_at in the kernels' types.
    _Xf: npt.NDArray[Any] = dataclasses.field(init=False, repr=False)
    _yf: npt.NDArray[Any] = dataclasses.field(init=False, repr=False)
    _record_at: npt.NDArray[np.int64] = dataclasses.field(init=False, repr=False)
    _with_momentum: bool = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        F = self.training.float_type
        object.__setattr__(self, "_Xf", self.X.astype(F))
        object.__setattr__(self, "_yf", self.y.astype(F))
        object.__setattr__(self, "_record_at", np.array(self.training.record_at, dtype=np.int64))
        object.__setattr__(self, "_with_momentum", self.training.uses_momentum)

    @property
    def n_chunks(self) -> int:
        return n_chunks(self.seeds.shape[0], self.chunk_size)

    def bounds(self, index: int) -> tuple[int, int]:
        return chunk_bounds(index, self.chunk_size, self.seeds.shape[0])

    def _rows(self, value: Any, unit: Unit) -> Any:
        """The rows of the unit's chunks of a per-network setting (a scalar stays a scalar)."""
        if value is None or not np.ndim(value):
            return value
        return np.concatenate([value[slice(*self.bounds(i))] for i in unit] or [value[:0]])

    def job(self, unit: Unit, device: str) -> Job:
        """The kernel call that trains the chunks of ``unit``, in order."""
        F, t = self.training.float_type, self.training
        lr = self._rows(t.lr, unit)
        return Job(
            X=self._Xf,
            y=self._yf,
            seeds=self._rows(self.seeds, unit),
            params0=self._rows(t.params0, unit),
            start_grid=t.start_grid,
            uniform=t.init == "uniform",
            init_scale=self._rows(t.init_scale, unit),
            lr=lr,
            lr_output=lr if t.lr_output is None else self._rows(t.lr_output, unit),
            momentum=self._rows(t.momentum, unit),
            with_momentum=self._with_momentum,
            tanh=t.tanh,
            epochs=t.epochs,
            tol=F(t.tol),
            margin=F(0.0 if t.margin is None else t.margin),
            track=t.epochs_to_tol,
            record_at=self._record_at,
            device=device,
        )

    def split(self, unit: Unit, rows: Rows) -> Iterator[tuple[int, Rows]]:
        """A unit's rows as (chunk index, that chunk's rows)."""
        at = 0
        for i in unit:
            lo, hi = self.bounds(i)
            yield i, Rows(*(a[at : at + hi - lo] for a in rows))
            at += hi - lo

    def store_settings(self) -> dict[str, Any]:
        """What a store's manifest must match (JSON-ready); per-network arrays by their digests."""
        t = self.training

        def setting(value: Any) -> Any:
            if isinstance(value, np.ndarray):
                return {"sha256": sha256(value)}
            return value

        return dict(
            epochs=t.epochs,
            lr=setting(t.lr),
            dtype=t.dtype,
            tol=t.tol,
            record_at=list(t.record_at),
            lr_output=setting(t.lr_output),
            momentum=setting(t.momentum),
            activation=t.activation,
            margin=t.margin,
            init=t.init,
            init_scale=setting(t.init_scale),
            params0=setting(t.params0),
            start_grid=None if t.start_grid is None else t.start_grid.settings(),
            # only when off: stores made before the option existed stay resumable
            **{k: getattr(t, k) for k, default in OMITTED_AT_DEFAULT.items() if getattr(t, k) != default},
            chunk_size=self.chunk_size,
            package_version=__version__,
            **({} if self.grid is None else {"grid": self.grid}),
        )

    def store_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The per-network settings that are arrays, kept in a store's inputs."""
        t = self.training
        return {n: getattr(t, n) for n in PER_ROW if isinstance(getattr(t, n), np.ndarray)}

    def warm_up(self, device: str) -> None:
        """Compile or load the kernel now, so that timings are training only (on the CPU,
        ``_jit.compile_while_waiting``: Ctrl-C meanwhile stops the sweep at once)."""
        if device == "cuda":
            from . import _cuda

            _cuda.compile_kernel(_cuda.Variant.of(self.job([], device)))
        else:
            compile_while_waiting(lambda: train_job(self.job([], device)))


def run_threads(plan: Plan, units: Sequence[Unit], threads: int, finish: Sink) -> None:
    """Train the units on the CPU, on a pool of ``threads`` Python threads.

    Each finished unit goes to ``finish(unit, rows)`` from its worker thread,
    the moment it is done. The calling thread only waits, so Ctrl-C reaches it
    at once; then, as on any error, a cancel flag stops the running kernels
    within an epoch, and the units not started are dropped. At most two units
    per thread are submitted ahead: a sweep of 10^6 chunks holds a handful of
    futures.
    """
    if not units:
        return
    workers = min(threads, len(units))
    cancel = np.zeros(1, np.uint8)

    def work(unit: Unit) -> None:
        rows = train_job(plan.job(unit, "cpu"), cancel)
        if rows is not None:
            finish(unit, rows)

    pool = ThreadPoolExecutor(workers)
    waiting = iter(units)
    pending: set[Future[None]] = set()

    def submit(count: int) -> None:
        pending.update(pool.submit(work, unit) for unit in itertools.islice(waiting, count))

    try:
        submit(2 * workers)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # a worker's error is raised here
            submit(len(done))
    finally:
        cancel[0] = 1  # nothing is running after a normal end; after an error or Ctrl-C, stop
        pool.shutdown(wait=True, cancel_futures=True)


def run_gpu(plan: Plan, todo: Sequence[int], finish: Sink, gpu: Any = None) -> None:
    """Train chunks ``todo`` on the GPU from this thread, whose CUDA context compiled the kernel,
    in launches of as many chunks as ``_LaunchSizes`` says; Ctrl-C is seen between launches.

    ``gpu`` (a ``_cuda.Launches`` of CUDA_LAUNCHES_IN_FLIGHT streams unless
    given) keeps the next launch queued while this thread collects the last.
    Each launch's rows go to ``finish`` on one writer thread while the GPU
    trains, so a store's writes overlap training. A launch's rows are queued
    before this thread waits for the write before them: whatever stops the
    sweep (an error, Ctrl-C), every collected launch is written.
    """
    sizes = _LaunchSizes(plan)
    if gpu is None:
        from . import _cuda

        gpu = _cuda.Launches(CUDA_LAUNCHES_IN_FLIGHT, rows=sizes.most * plan.chunk_size)
    chunks = iter(todo)
    launched: list[tuple[list[int], float]] = []  # (unit, when queued), oldest first
    pending: list[Future[None]] = []  # the writes not yet waited for, in order: two at most
    try:
        with gpu, ThreadPoolExecutor(1) as writer:  # leaving waits for the writes queued
            while True:
                while len(launched) < CUDA_LAUNCHES_IN_FLIGHT:
                    unit = list(itertools.islice(chunks, sizes.chunks()))
                    if not unit:
                        break
                    gpu.launch(plan.job(unit, "cuda"))
                    launched.append((unit, time.perf_counter()))
                if not launched:
                    break
                unit, queued = launched.pop(0)
                # queued for writing before anything else runs: Ctrl-C after this collect keeps its rows
                pending.append(writer.submit(finish, unit, Rows(*gpu.collect())))
                sizes.took(len(unit), queued, time.perf_counter())
                if len(pending) == 2:
                    pending.pop(0).result()  # a failed write stops the sweep
    except BaseException as exc:
        failed = [f.exception() for f in pending if f.done() and f.exception() is not None]
        if failed and failed[0] is not exc and hasattr(exc, "add_note"):  # not lost behind a launch's error
            exc.add_note(f"also, writing a launch's rows failed: {failed[0]!r}")
        raise
    for written in pending:
        written.result()


class _LaunchSizes:
    """Chunks per GPU launch: one until a launch has been collected, then what the GPU's
    speed trains in CUDA_LAUNCH_SECONDS, at most 4 times the last launch and within
    CUDA_LAUNCH_BYTES. Sizes change no bit (a row depends on its seed only).

    The speed is the chunks of the last CUDA_LAUNCHES_IN_FLIGHT launches collected over
    the time since the collection before them (or since the first launch was queued):
    launches in flight share the GPU, so one alone would look too fast or too slow.
    """

    def __init__(self, plan: Plan):
        self.most = max(1, CUDA_LAUNCH_BYTES // (_device_bytes(plan.training) * plan.chunk_size))  # chunks a launch
        self._next = 1
        self._since: float | None = None  # when the window of recent collections began
        self._recent: list[tuple[float, int]] = []  # (collected at, chunks) of the launches in the window

    def chunks(self) -> int:
        """Chunks in the next launch."""
        return self._next

    def took(self, n_chunks: int, queued: float, done: float) -> None:
        """Record that a launch of ``n_chunks`` chunks, queued at ``queued``, was collected at ``done``
        (``time.perf_counter``'s seconds)."""
        if self._since is None:
            self._since = queued
        self._recent.append((done, n_chunks))
        if len(self._recent) > CUDA_LAUNCHES_IN_FLIGHT:
            self._since = self._recent.pop(0)[0]
        chunks = sum(n for _, n in self._recent)
        fits = int(chunks * CUDA_LAUNCH_SECONDS / max(done - self._since, 1e-6))
        self._next = max(1, min(fits, 4 * n_chunks, self.most))


def _device_bytes(t: Training) -> int:
    """Device memory a GPU launch takes per network of training ``t``: inputs and rows."""
    F = np.dtype(t.float_type).itemsize
    return (
        8  # seed
        + 8 * (1 + N_PARAMS * (t.params0 is not None or t.start_grid is not None))  # init_scale, starts
        + 3 * F  # lr, lr_output, momentum (at most)
        + F * (N_PARAMS + 1 + len(t.record_at))  # params, loss, loss_at
        + 8  # epochs to tol
        + t.n_within
    )


def run_dask(plan: Plan, units: Sequence[Unit], client: Any, device: str, finish: Sink) -> None:
    """Train the units on a Dask client's workers; ``finish(unit, rows)`` runs here as each arrives.

    Workers only compute: this process writes the store, and only rows from
    a worker with its own fastbackprop version (another could compute other
    numbers), checked before the job is opened. Every unit is submitted at
    once (an adaptive cluster scales to the work it sees queued), and each
    result is let go once written: the workers do not hold the sweep's
    results. On an error or Ctrl-C the futures not started are cancelled and
    the running ones told to stop (a Dask Event each worker process looks at
    once a second, ``_StopWatch``), so the cluster is free again within a
    second or two.
    """
    from concurrent.futures import CancelledError

    from dask.distributed import Event, as_completed  # only reached with a Dask client

    def versioned(job: Job, expected: str, stop: str) -> tuple[str, Rows | None]:
        # A local function travels by value: a worker on any version runs it
        # and says which; a module function would be looked up by name there.
        from fastbackprop import _execution, _version

        if _version.__version__ != expected:  # another version's Job may not even open
            return _version.__version__, None
        return _version.__version__, _execution.train_on_worker(job, stop)

    stop = f"fastbackprop-stop-{uuid.uuid4().hex}"
    futures = {client.submit(versioned, plan.job(unit, device), __version__, stop, pure=False): unit for unit in units}
    stopped = True  # an error or Ctrl-C: the running units are told to stop
    try:
        for future in as_completed(futures, loop=client.loop):
            try:
                version, rows = future.result()
            except CancelledError as exc:
                stopped = False  # no scheduler to tell (asking would wait for its connect timeout)
                raise RuntimeError(f"the Dask client was closed or lost its scheduler mid-sweep ({exc})") from None
            unit = futures.pop(future)
            future.release()
            if version != __version__:
                raise RuntimeError(
                    f"a Dask worker runs fastbackprop {version}, this process {__version__}: "
                    "install the same version on every worker"
                )
            finish(unit, rows)
        stopped = False
    finally:
        if stopped and client.status == "running":
            with contextlib.suppress(Exception):  # the cluster's trouble is not the error to show
                client.cancel(list(futures))
                Event(stop, client=client).set()
                _clear_later(stop, client)


def _clear_later(stop: str, client: Any) -> None:
    """Have the scheduler clear a sweep's stop Event once every worker's watch has seen it set: a
    cleared Event that nobody waits on is deleted, so the scheduler keeps nothing of the sweep, also
    when this process ends at once (the command line after Ctrl-C). A scheduler that cannot be asked
    (another distributed's events) is cleared from a daemon thread here, while this process lives."""

    def clear_on_scheduler(dask_scheduler: Any, name: str, delay: float) -> None:
        # A local function travels by value: any version's scheduler runs it, on its event loop.
        import asyncio
        import inspect

        events = dask_scheduler.extensions["events"]

        def clear() -> None:
            done = events.event_clear(name=name)
            if inspect.isawaitable(done):  # (a coroutine in some distributed versions)
                asyncio.ensure_future(done)  # noqa: RUF006 - one clear: lost only with the scheduler

        asyncio.get_running_loop().call_later(delay, clear)

    try:
        client.run_on_scheduler(clear_on_scheduler, name=stop, delay=STOP_CLEAR_SECONDS)
        return
    except Exception:  # noqa: BLE001 - tidying up: the error to show is the sweep's
        pass
    from dask.distributed import Event

    def clear() -> None:
        with contextlib.suppress(Exception):  # a client closed meanwhile: nothing to tidy
            if client.status == "running":
                Event(stop, client=client).clear()

    timer = threading.Timer(STOP_CLEAR_SECONDS, clear)
    timer.daemon = True
    timer.start()


def train_on_worker(job: Job, stop: str) -> Rows | None:
    """``train_job`` on a Dask worker, cancelled within a second or so once Dask Event ``stop`` is set
    (None then). Same version as the client: ``run_dask`` checked."""
    from dask.distributed import Event, get_client

    cancel = np.zeros(1, np.uint8)
    try:  # outside the lock: a worker's first get_client() connects, which takes a while
        event = Event(stop, client=get_client())  # the worker's client, found from the task's thread only
    except Exception:  # noqa: BLE001 - stopping early is an optimisation: train without it
        return train_job(job, cancel)
    watch = _watched(stop, event, cancel)
    try:
        return train_job(job, cancel)
    finally:
        if watch is not None:
            with _WATCHES_LOCK:
                del watch.cancels[id(cancel)]


def _watched(stop: str, event: Any, cancel: npt.NDArray[np.uint8]) -> "_StopWatch | None":
    """The watch of this process for Event ``stop``, now also setting ``cancel``; started if there
    was none, or None if no thread can be had (the task then trains unwatched)."""
    with _WATCHES_LOCK:
        watch = _WATCHES.get(stop)
        if watch is None:
            watch = _StopWatch(stop, event)
            try:
                watch.start()
            except RuntimeError:  # "can't start new thread": nothing registered
                return None
            _WATCHES[stop] = watch
        watch.cancels[id(cancel)] = cancel
        return watch


class _StopWatch(threading.Thread):
    """One look a second at a sweep's stop Event for all its tasks running in this worker process
    (one request a second a process, not a thread: a worker may run dozens of tasks at once).
    It ends once no task of the sweep is running here, or the scheduler cannot be asked.
    A quick look, not a long wait, which would still be open at the scheduler when the tasks end."""

    def __init__(self, stop: str, event: Any):
        super().__init__(name=f"fastbackprop stop watch {stop}", daemon=True)
        self.stop, self.event = stop, event
        self.cancels: dict[int, npt.NDArray[np.uint8]] = {}  # each running task's flag, by its id

    def run(self) -> None:
        while True:
            time.sleep(STOP_WATCH_SECONDS)
            with _WATCHES_LOCK:
                if not self.cancels:
                    del _WATCHES[self.stop]
                    return
            try:
                stopped = self.event.is_set()
            except Exception:  # noqa: BLE001 - the scheduler gone: these tasks' results are lost anyway
                stopped = None
            if stopped is False:
                continue
            with _WATCHES_LOCK:
                for cancel in self.cancels.values() if stopped else ():
                    cancel[0] = 1
                del _WATCHES[self.stop]  # a task starting after this ends starts a watch of its own
            return


_WATCHES: dict[str, _StopWatch] = {}  # a sweep's stop Event's name: its watch in this process
_WATCHES_LOCK = threading.Lock()


def dask_chunks_per_unit(plan: Plan) -> int:
    """Chunks a Dask worker's GPU trains in one launch: CUDA_NETWORKS_PER_LAUNCH networks, within
    CUDA_LAUNCH_BYTES of device memory as a local launch (a grid recording thousands of lengths)."""
    networks = min(CUDA_NETWORKS_PER_LAUNCH, CUDA_LAUNCH_BYTES // _device_bytes(plan.training))
    return max(1, networks // plan.chunk_size)


def chunk_size(n_seeds: int, execution: Execution, training: Training) -> int:
    """Seeds per chunk of a new sweep of ``n_seeds``: the device's (on a GPU, fewer where
    a chunk would not fit CUDA_LAUNCH_BYTES; on the CPU, smaller where threads, local or
    a Dask cluster's, would have none; into a store, larger while every thread still
    gets 8). A store that exists keeps its own (``SweepStore``)."""
    if execution.device == "cuda":
        fits = CUDA_LAUNCH_BYTES // (_device_bytes(training) * _kernels.LANES)  # blocks
        return _kernels.LANES * max(1, min(CUDA_BLOCKS_PER_CHUNK, fits))
    base = _kernels.LANES * BLOCKS_PER_CHUNK
    threads = execution.threads if execution.client is None else _cluster_threads(execution.client)
    # a small sweep: up to a chunk a thread, of whole blocks
    size = min(base, _kernels.LANES * max(1, -(-n_seeds // (threads * _kernels.LANES))))
    if execution.store is not None:
        while 2 * size <= base * STORE_CHUNK_GROWTH and n_seeds >= 8 * threads * 2 * size:
            size *= 2
    return size


def _cluster_threads(client: Any) -> int:
    """A Dask client's worker threads, or 1 if it cannot say: chunk sizes change no bit, so never an error here."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - a scheduler's trouble is for submitting to report
        return 1


def execute(
    plan: Plan, execution: Execution, on_rows: Callable[[int], None] | None = None, put: Put | None = None
) -> Trained:
    """Train every seed of ``plan`` where ``execution`` says, reading and feeding its store.

    ``on_rows(k)`` is called as each chunk of k rows is in place (progress).
    The store is locked for the duration; a chunk reaches it as soon as it is
    trained, so an interrupted sweep loses nothing finished. ``put(lo, hi,
    rows)``, if given, places each chunk's rows instead of the returned rows
    (then empty): a grid's go straight into its cells.
    """
    t, device = plan.training, execution.device
    plan = dataclasses.replace(plan, chunk_size=chunk_size(plan.seeds.shape[0], execution, t))
    out = _empty_rows(0 if put else plan.seeds.shape[0], len(t.record_at), t.n_within, t.float_type)

    def put_out(lo: int, hi: int, rows: Rows) -> None:
        for dst, src in zip(out, rows):
            dst[lo:hi] = src  # rows of distinct chunks: threads never write the same ones

    store = None
    if execution.store is not None:
        store = SweepStore(execution.store, plan.store_settings(), plan.X, plan.y, plan.seeds, plan.store_arrays())
    progress_lock = threading.Lock()

    def place(index: int, rows: Rows) -> None:
        lo, hi = plan.bounds(index)
        (put or put_out)(lo, hi, rows)
        if on_rows is not None:
            with progress_lock:
                on_rows(hi - lo)

    def keep(index: int, rows: Rows) -> None:
        if store is not None:
            store.write(index, rows)
        place(index, rows)

    # a GPU launch's chunks reach a store from several threads (a CPU chunk is a unit of its own)
    writers = ThreadPoolExecutor(STORE_WRITERS) if store is not None and device == "cuda" else None

    def finish(unit: Unit, rows: Rows) -> None:
        rows = Rows(*canonical_nans(rows))
        if writers is None or len(unit) == 1:
            for i, chunk in plan.split(unit, rows):
                keep(i, chunk)
            return
        written = [writers.submit(keep, i, chunk) for i, chunk in plan.split(unit, rows)]
        # exception() waits: every chunk is written or failed before the first error is raised
        failed = [exc for exc in (f.exception() for f in written) if exc is not None]
        if failed:
            for other in failed[1:]:
                if hasattr(failed[0], "add_note"):  # (Python 3.11)
                    failed[0].add_note(f"also, writing another chunk failed: {other!r}")
            raise failed[0]

    with store if store is not None else contextlib.nullcontext(), writers or contextlib.nullcontext():
        if store is not None and store.chunk_size != plan.chunk_size:  # resumed: the store's own, on any device
            plan = dataclasses.replace(plan, chunk_size=store.chunk_size)
        if store is not None and store.settings["tol"] != t.tol:  # resumed under a margin: the store's own
            plan = dataclasses.replace(plan, training=dataclasses.replace(t, tol=store.settings["tol"]))
        if execution.client is None or device == "cpu":  # a cluster's GPUs compile on their workers
            plan.warm_up(device)
        start = time.perf_counter()
        todo = []
        for i in range(plan.n_chunks):
            stored = None if store is None else store.read(i)
            if stored is None:
                todo.append(i)
            else:
                place(i, Rows(*stored))
        if execution.client is not None:
            # A unit is one chunk on the CPU and many on the GPU, which needs ~10^5
            # networks in flight; stores and progress still see chunks.
            per_unit = dask_chunks_per_unit(plan) if device == "cuda" else 1
            units = [todo[k : k + per_unit] for k in range(0, len(todo), per_unit)]
            run_dask(plan, units, execution.client, device, finish)
        elif device == "cuda":
            run_gpu(plan, todo, finish)
        else:
            run_threads(plan, [[i] for i in todo], execution.threads, finish)
        computed = sum(hi - lo for lo, hi in map(plan.bounds, todo))
        return Trained(out, time.perf_counter() - start, computed, plan.training)


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A tqdm bar's ``update`` for ``total`` runs while the block runs, or None when not enabled."""
    if not enabled:
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("progress bars need tqdm: pip install 'fastbackprop[progress]'") from None
    # Asked for, shown: also when stderr is a log file (a batch job's), not a terminal.
    bar = tqdm(total=total, unit="run", disable=False, smoothing=0.1)
    try:
        yield bar.update
    finally:
        bar.close()
