"""Seed sweeps: runs per second, compiled kernel beside the NumPy reference.

Gender data, 3000 epochs, lr 0.2, S = 100,000 seeds, all threads unless the
name says otherwise. The vectorised NumPy reference runs 30 epochs and is
scaled by 100 (its cost is linear in epochs: each epoch is the same work).
"""

import statistics
import time

import numba
import pytest

from fastbackprop import datasets, reference, sweep

from .conftest import SMOKE, seeds

pytestmark = pytest.mark.bench

X, Y = datasets.gender()
S = seeds(100_000)
EPOCHS = 3000
REF_EPOCHS = 30


def _record(benchmark, runs, scale=1):
    benchmark.extra_info["runs"] = runs
    benchmark.extra_info["epoch_scale"] = scale


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sweep_kernel(benchmark, dtype):
    benchmark.group = f"sweep {dtype}, S=100k, 3000 epochs"
    benchmark.extra_info["label"] = "numba kernel, all threads"
    sweep(X, Y, 256, epochs=2, dtype=dtype)  # compile / load outside the timing
    res = benchmark.pedantic(sweep, args=(X, Y, S), kwargs=dict(epochs=EPOCHS, dtype=dtype), rounds=3)
    _record(benchmark, S)
    assert res.success_rate == 1.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sweep_thread_scaling(benchmark, dtype):
    """Each round runs the sweep on 1 thread, then on all, so both see the same machine.

    The round's time covers both; the medians of each half go into extra_info
    (``one_s``, ``all_s``) and the summary reports 1-thread runs/s from them.
    """
    benchmark.group = f"sweep {dtype}, S=100k, 3000 epochs"
    benchmark.extra_info["label"] = "numba kernel, 1 thread"
    sweep(X, Y, 256, epochs=2, dtype=dtype, threads=1)
    one, every = [], []

    def one_then_all():
        for threads, times in ((1, one), (None, every)):
            start = time.perf_counter()
            sweep(X, Y, S, epochs=EPOCHS, dtype=dtype, threads=threads)
            times.append(time.perf_counter() - start)

    benchmark.pedantic(one_then_all, rounds=3)
    _record(benchmark, S)
    benchmark.extra_info.update(
        one_s=statistics.median(one),
        all_s=statistics.median(every),
        scaling=statistics.median(one) / statistics.median(every),
        threads=numba.config.NUMBA_NUM_THREADS,
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sweep_reference(benchmark, dtype):
    benchmark.group = f"sweep {dtype}, S=100k, 3000 epochs"
    benchmark.extra_info["label"] = f"numpy reference ({REF_EPOCHS} epochs, x{EPOCHS // REF_EPOCHS})"
    benchmark.pedantic(reference.sweep, args=(X, Y, range(S), REF_EPOCHS, 0.2, 1e-2, dtype), rounds=3)
    _record(benchmark, S, EPOCHS // REF_EPOCHS)


def test_progress_bar_overhead(benchmark, monkeypatch):
    """A live tqdm bar (drawn to /dev/null, refreshed on every chunk) vs none, alternating.

    The sweep runs in the same chunks either way, so the bar's cost is its updates.
    """
    import contextlib
    import os

    from tqdm.auto import tqdm

    from fastbackprop import sweeps

    benchmark.group = "progress bar overhead, float64, S=50k"
    benchmark.extra_info["label"] = "with bar vs without (min of 5 alternating runs each)"

    @contextlib.contextmanager
    def bar_to_devnull(total, enabled):
        if not enabled:
            yield None
            return
        with open(os.devnull, "w") as devnull, tqdm(total=total, file=devnull, mininterval=0) as bar:
            yield bar.update

    monkeypatch.setattr(sweeps, "progress_bar", bar_to_devnull)
    sweep(X, Y, 256, epochs=2)
    plain, with_bar = [], []

    def both():
        for progress, times in ((False, plain), (True, with_bar)):
            start = time.perf_counter()
            sweep(X, Y, seeds(50_000), epochs=EPOCHS, progress=progress)
            times.append(time.perf_counter() - start)

    benchmark.pedantic(both, rounds=5)
    benchmark.extra_info["overhead_percent"] = 100 * (min(with_bar) / min(plain) - 1)


def test_store_overhead(benchmark, tmp_path, monkeypatch):
    """A float32 sweep into a new store vs none, alternating; also into chunks of 1024 rows, as before
    CPU stores' chunks grew. The store's cost is its chunk files: npz, SHA-256, fsync, rename."""
    from fastbackprop import _execution

    benchmark.group = "store overhead, float32, S=131k"
    benchmark.extra_info["label"] = "into a store vs none (min of 3 alternating runs each)"
    n = seeds(2**17)
    sweep(X, Y, 256, epochs=2, dtype="float32")
    times: dict[str, list[float]] = {"none": [], "store": [], "store, 1024-row chunks": []}

    def each():
        for arm, spent in times.items():
            monkeypatch.setattr(_execution, "STORE_CHUNK_GROWTH", 1 if "1024" in arm else 8)
            store = None if arm == "none" else tmp_path / f"{len(spent)}-{arm[-6:]}"
            start = time.perf_counter()
            sweep(X, Y, n, epochs=EPOCHS, dtype="float32", store=store)
            spent.append(time.perf_counter() - start)

    benchmark.pedantic(each, rounds=3)
    plain = min(times["none"])
    benchmark.extra_info["overhead_percent"] = 100 * (min(times["store"]) / plain - 1)
    benchmark.extra_info["overhead_percent_1024"] = 100 * (min(times["store, 1024-row chunks"]) / plain - 1)


@pytest.mark.parametrize("rows", [1024, 8192, 65536])
def test_store_chunk_write(benchmark, tmp_path, rows):
    """One chunk written to a store: npz, SHA-256, fsync, rename. 1024 and 8192 rows are CPU chunks,
    65536 a GPU's, which trains ~10^7 rows a second."""
    import json

    import numpy as np

    from fastbackprop import store

    benchmark.group = "store: one chunk written"
    res = sweep(X, Y, 1024, epochs=2, store=tmp_path / "s")
    with open(tmp_path / "s" / "manifest.json") as f:
        chunks = store._Chunks(str(tmp_path / "s"), dict(json.load(f)["settings"], chunk_size=rows, n_seeds=rows))
    rows_ = [np.resize(a, (rows, *a.shape[1:])) for a in (res.params, res.final_loss, res.epochs_to_tol)]
    arrays = (*rows_, np.zeros((rows, 0)), np.zeros((rows, 0), bool))
    benchmark.pedantic(chunks.write, args=(0, arrays), rounds=5 if SMOKE else max(20, 200 * 1024 // rows))
    benchmark.extra_info["rows"] = rows
    assert store.read_npz(chunks.chunk_path(0), chunks._spec(rows)) is not None


def test_gpu_store_writers(benchmark, tmp_path, monkeypatch):
    """A GPU sweep's host side into a store, its rows ready at once (a stand-in for the GPU, so no GPU is
    needed): a launch's 2**16-row float32 chunks written by one thread against STORE_WRITERS, alternating.
    On an H200, with one writer, a short float32 sweep into a store took twice as long as without."""
    import numpy as np

    pytest.importorskip("numba_cuda")
    from fastbackprop import _cuda, _execution
    from fastbackprop._settings import Execution
    from fastbackprop._validation import check_training

    class Instant:
        def __init__(self, depth, rows=0):
            self.queued = []

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def launch(self, job):
            S, F = job.seeds.shape[0], job.X.dtype
            self.queued.append((np.full((S, 9), 0.5, F), np.full(S, 0.1, F), np.full(S, 7), np.empty((S, 0), F),
                                np.empty((S, 0), np.bool_)))  # fmt: skip

        def collect(self):
            return self.queued.pop(0)

    monkeypatch.setattr(_cuda, "Launches", Instant)
    monkeypatch.setattr(_execution.Plan, "warm_up", lambda self, device: None)
    monkeypatch.setattr(_execution, "CUDA_LAUNCH_SECONDS", 1e9)  # launches growing 4x each
    writers = _execution.STORE_WRITERS
    benchmark.group = "GPU sweep into a store, host side only, float32"
    benchmark.extra_info["label"] = f"1 writer vs {writers} (min of 3 alternating runs each)"
    n = 2**16 * (4 if SMOKE else 40)
    training = check_training(epochs=EPOCHS, lr=0.2, tol=0.01, dtype="float32")
    times: dict[int, list[float]] = {1: [], writers: []}

    def each():
        for w, spent in times.items():
            monkeypatch.setattr(_execution, "STORE_WRITERS", w)
            plan = _execution.Plan(X, Y, np.arange(n), training)
            start = time.perf_counter()
            _execution.execute(plan, Execution(threads=1, device="cuda", store=tmp_path / f"{len(spent)}-{w}"))
            spent.append(time.perf_counter() - start)

    benchmark.pedantic(each, rounds=3)
    for w, spent in times.items():
        benchmark.extra_info[f"rows_per_s_{w}_writers"] = n / min(spent)
    benchmark.extra_info["speedup"] = min(times[1]) / min(times[writers])


def test_grid_of_small_cells(benchmark):
    """A grid of 20 learning rates x 1000 seeds: all cells as one sweep, against its cells one at a time
    (as grids ran before: 1000 seeds, one chunk, one thread a cell), alternating."""
    import numpy as np

    from fastbackprop import grid

    benchmark.group = "grid, 20 lrs x 1000 seeds, 1000 epochs"
    benchmark.extra_info["label"] = "one sweep of every cell vs cells one at a time (min of 3 alternating)"
    lrs, n = np.linspace(0.1, 4, 20), seeds(1000)
    grid(X, Y, 256, lrs=lrs[:2], epochs_list=[2])
    whole, cells = [], []

    def each():
        start = time.perf_counter()
        grid(X, Y, n, lrs=lrs, epochs_list=[1000])
        whole.append(time.perf_counter() - start)
        start = time.perf_counter()
        for lr in lrs:
            sweep(X, Y, n, epochs=1000, lr=lr)
        cells.append(time.perf_counter() - start)

    benchmark.pedantic(each, rounds=3)
    benchmark.extra_info["runs_per_s"] = len(lrs) * n / min(whole)
    benchmark.extra_info["speedup_over_cells"] = min(cells) / min(whole)


def test_small_sweep_uses_every_thread(benchmark, monkeypatch):
    """1000 seeds, alternating: cut so that every thread gets a chunk, against one chunk of 1024 seeds
    (as before: one thread worked)."""
    from fastbackprop import _execution

    benchmark.group = "small sweep, 1000 seeds, 3000 epochs"
    benchmark.extra_info["label"] = "a chunk a thread vs one chunk (min of 5 alternating runs each)"
    n = seeds(1000)
    sweep(X, Y, 256, epochs=2)
    times: dict[str, list[float]] = {"split": [], "one chunk": []}
    real = _execution.chunk_size

    def each():
        for arm, spent in times.items():
            monkeypatch.setattr(_execution, "chunk_size", real if arm == "split" else lambda *args: 1024)
            start = time.perf_counter()
            sweep(X, Y, n, epochs=EPOCHS)
            spent.append(time.perf_counter() - start)

    benchmark.pedantic(each, rounds=5)
    benchmark.extra_info["speedup"] = min(times["one chunk"]) / min(times["split"])
