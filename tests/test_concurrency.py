"""Concurrency: threads, fork and Numba's threading layers give the serial bits."""

import dataclasses
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fastbackprop import Network, datasets, sweep

from .conftest import JIT

X0, Y0 = datasets.gender()


# ---------------------------------------------------------------------------
# Concurrency, fork, threading layers
# ---------------------------------------------------------------------------
def _work(i):
    X, y = datasets.xor()
    net = Network(seed=i)
    h = net.train(X, y, epochs=300 if JIT else 3, lr=0.5)
    res = sweep(X, y, range(i * 500, i * 500 + 500), epochs=200 if JIT else 2, lr=0.5, threads=2)
    return net.params, h, res.params, res.epochs_to_tol


def test_train_and_sweep_from_four_threads_equal_serial():
    serial = [_work(i) for i in range(4)]
    results = [None] * 4

    def run(i):
        results[i] = _work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, results):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


CONCURRENT_SCRIPT = """
import threading, numpy as np, fastbackprop as fb
from tests.test_concurrency import _work
serial = [_work(i) for i in range(4)]
out = [None] * 4
def run(i): out[i] = _work(i)
ts = [threading.Thread(target=run, args=(i,)) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
assert all(np.array_equal(x, y) for a, b in zip(serial, out) for x, y in zip(a, b))
import multiprocessing as mp
with mp.get_context("fork").Pool(2) as pool:
    forked = pool.map(_work, range(4))
assert all(np.array_equal(x, y) for a, b in zip(serial, forked) for x, y in zip(a, b))
print("ok")
"""


@pytest.mark.skipif(not JIT, reason="threading layers are a property of compiled code")
@pytest.mark.parametrize("layer", ["workqueue", "default"])
def test_concurrency_and_fork_under_each_threading_layer(layer):
    env = dict(os.environ)
    if layer != "default":
        env["NUMBA_THREADING_LAYER"] = layer
    res = subprocess.run(
        [sys.executable, "-c", CONCURRENT_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "ok"


def test_one_network_trained_from_two_threads_loses_no_update():
    X, y = datasets.xor()
    epochs = 100_000 if JIT else 30  # long enough for the two calls to overlap
    serial = Network(seed=4)
    serial.train(X, y, epochs=epochs, lr=0.5)
    serial.train(X, y, epochs=epochs, lr=0.5)
    shared = Network(seed=4)
    threads = [threading.Thread(target=shared.train, args=(X, y, epochs, 0.5)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared.epochs_trained == 2 * epochs
    np.testing.assert_array_equal(shared.params, serial.params)  # one after the other, as if serial


def test_a_network_pickles_without_its_lock():
    import pickle

    net = Network(seed=4)
    net.train(*datasets.xor(), epochs=3)
    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(back.params, net.params)
    back.train(*datasets.xor(), epochs=3)
    assert back.epochs_trained == 6


# ---------------------------------------------------------------------------
# GPU launches: rows written on one thread while the next launch runs
# ---------------------------------------------------------------------------
def _launches(monkeypatch, launch_fails=None, write_fails=None, slow_write=None, units=4, overlap_s=10):
    """``_execution.run_gpu`` over ``units`` one-chunk launches, faked on the CPU: its log of
    events, and what it raised. Write k waits (up to ``overlap_s``) for launch k + 1 to be
    queued, and logs whether it was: whether they overlapped.
    """
    from fastbackprop import _execution
    from fastbackprop._validation import check_training

    log = []
    started = [threading.Event() for _ in range(units + 1)]
    started[units].set()

    class FakeGPU:
        """``_cuda.Launches``: a launch is queued, and trained on the CPU when collected."""

        def __init__(self):
            self.queued = []

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def launch(self, job):
            k = int(job.seeds[0]) // 128
            log.append(("launch", k, threading.get_ident()))
            started[k].set()
            if k == launch_fails:
                raise KeyboardInterrupt
            self.queued.append(job)

        def collect(self):
            return _execution.train_job(dataclasses.replace(self.queued.pop(0), device="cpu"))

    def finish(unit, rows):
        k = unit[0]
        log.append(("write", k, started[k + 1].wait(overlap_s), threading.get_ident()))
        if k == slow_write:
            time.sleep(0.3)
        if k == write_fails:
            for event in started:  # the launches stop: no write waits for them
                event.set()
            raise OSError(28, "No space left on device")
        log.append(("written", k))

    monkeypatch.setattr(_execution, "CUDA_LAUNCH_SECONDS", 0.0)  # launches of one chunk
    training = check_training(epochs=2, lr=0.5, tol=0.01, dtype="float32")
    plan = _execution.Plan(*datasets.xor(), np.arange(units * 128), training, chunk_size=128)
    try:
        _execution.run_gpu(plan, range(units), finish, gpu=FakeGPU())
    except BaseException as exc:  # noqa: BLE001 - what it raised, for the test to check
        return log, exc
    return log, None


def _written(log):
    return [e[1] for e in log if e[0] == "written"]


def test_gpu_launches_overlap_their_writes(monkeypatch):
    log, raised = _launches(monkeypatch, units=5)
    main = threading.get_ident()
    assert raised is None and _written(log) == [0, 1, 2, 3, 4]  # every unit, in order
    writes = [e for e in log if e[0] == "write"]
    assert all(overlapped for _, _, overlapped, _ in writes)  # launch k + 1 was queued before k was written
    assert {e[2] for e in log if e[0] == "launch"} == {main} and main not in {e[3] for e in writes}
    # two launches in flight, two writes pending at most: launch k + 3 is queued after write k is done
    for k in range(2):
        assert log.index(("written", k)) < log.index(("launch", k + 3, main))


@pytest.mark.parametrize("fails", [1, 2, 3])
def test_gpu_launches_stopped_write_every_collected_launch(monkeypatch, fails):
    log, raised = _launches(monkeypatch, launch_fails=fails)
    assert isinstance(raised, KeyboardInterrupt)
    assert _written(log) == list(range(fails - 1))  # launch fails - 1 was queued, not collected


def test_ctrl_c_while_waiting_for_a_write_loses_no_collected_launch(monkeypatch):
    from concurrent.futures import Future

    wait = Future.result

    def interrupted(self, timeout=None):
        if threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt  # as if pressed while this thread waits for write 0
        return wait(self, timeout)

    monkeypatch.setattr(Future, "result", interrupted)
    log, raised = _launches(monkeypatch, slow_write=0)
    assert isinstance(raised, KeyboardInterrupt)
    assert _written(log) == [0, 1]  # launch 1 was collected: its rows were queued before the wait


def test_ctrl_c_right_after_a_collect_loses_no_collected_launch(monkeypatch):
    from fastbackprop import _execution

    took = _execution._LaunchSizes.took
    calls = []

    def interrupted(self, *args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if pressed while the third launch's speed is recorded
        took(self, *args)

    monkeypatch.setattr(_execution._LaunchSizes, "took", interrupted)
    log, raised = _launches(monkeypatch)
    assert isinstance(raised, KeyboardInterrupt)
    assert _written(log) == [0, 1, 2]  # launch 2 was collected: its rows are written


def test_gpu_launch_sizes_follow_the_measured_speed(monkeypatch):
    from fastbackprop import _execution
    from fastbackprop._validation import check_training

    monkeypatch.setattr(_execution, "CUDA_LAUNCH_SECONDS", 0.2)
    training = check_training(epochs=2, lr=0.5, tol=0.01, dtype="float32")
    plan = _execution.Plan(*datasets.xor(), np.arange(10**6), training, chunk_size=128)
    sizes = _execution._LaunchSizes(plan)
    assert sizes.chunks() == 1  # nothing timed yet
    # two launches of one chunk queued at 0, sharing the GPU, collected one after the other
    sizes.took(1, 0.0, 0.01)
    assert sizes.chunks() == 4  # fast: 4 times the last at most
    sizes.took(1, 0.0, 0.011)  # timed with the first: not "done in a millisecond"
    assert sizes.chunks() == 4
    sizes.took(4, 0.01, 0.05)  # 5 chunks in the 0.04 s since the collection before them: 25 in 0.2 s
    assert sizes.chunks() == 16
    sizes.took(4, 0.011, 0.09)  # 8 chunks in 0.079 s
    assert sizes.chunks() == 16
    sizes.took(16, 0.05, 0.49)  # slower: 20 chunks in 0.44 s, 9 in 0.2 s
    assert sizes.chunks() == 9
    sizes.took(9, 0.09, 60.0)  # far too slow: one chunk, never none
    assert sizes.chunks() == 1
    # where one chunk alone takes longer than 0.2 s, the second of two concurrent ones does not grow it
    slow = _execution._LaunchSizes(plan)
    slow.took(1, 0.0, 0.52)
    slow.took(1, 0.001, 0.5205)
    assert slow.chunks() == 1
    # within CUDA_LAUNCH_BYTES, whatever is recorded per network
    monkeypatch.setattr(_execution, "CUDA_LAUNCH_BYTES", 3 * 10**6)
    training = check_training(epochs=500, lr=0.5, tol=0.01, dtype="float64", record_at=range(1, 501))
    sizes = _execution._LaunchSizes(_execution.Plan(*datasets.xor(), np.arange(10**6), training, chunk_size=128))
    sizes.took(1, 0.0, 1e-4)
    assert sizes.chunks() == 4
    sizes.took(4, 1e-4, 2e-4)  # 500 float64 losses: 4 kB a network, 5 chunks in 3 MB
    assert sizes.chunks() == 5


class _Stream:
    """A CUDA stream of the stand-in: nothing to wait for."""

    def synchronize(self):
        pass


class _Kernel:
    """A kernel of the stand-in: launched, it does nothing."""

    def __getitem__(self, configuration):
        return lambda *args: None


def _stand_in_cuda(monkeypatch, array, stream, kernel=None, **more):
    """numba.cuda as ``_cuda`` sees it, stood in for: ``array(shape, dtype)`` device arrays, ``stream()``
    streams, ``kernel`` for every variant, and ``more`` methods (fresh per-thread streams too)."""
    from fastbackprop import _cuda

    class Cuda:
        def is_available(self):
            return True

        def stream(self):
            return stream()

        def device_array(self, shape, dtype):
            return array(shape, dtype)

        def current_context(self):
            return None

    cuda = Cuda()
    for name, method in more.items():
        setattr(cuda, name, method)
    monkeypatch.setattr(_cuda, "cuda", cuda)
    monkeypatch.setattr(_cuda, "compile_kernel", lambda variant: kernel)
    monkeypatch.setattr(_cuda, "_STREAMS", threading.local())


def test_gpu_sweeps_free_their_device_arrays(monkeypatch):
    """Launches against a stand-in for numba.cuda whose frees go through numba-cuda's own deferred
    frees (``_PendingDeallocs``): holding them off for a sweep (``cuda.defer_cleanup``) held them for
    good, 600 MiB a 10^7 sweep, since numba-cuda flushes pending frees only as new ones come."""
    import weakref

    pytest.importorskip("numba_cuda")
    import logging

    from numba.cuda import config
    from numba.cuda.cudadrv import driver
    from numba.cuda.cudadrv.driver import _PendingDeallocs

    from fastbackprop import _execution
    from fastbackprop._validation import check_training

    pending = _PendingDeallocs(capacity=80 * 2**30)
    held = {"bytes": 0}

    def free(nbytes):
        held["bytes"] -= nbytes

    class Array:
        def __init__(self, shape, dtype, base=None):
            self.shape, self.dtype, self._base = tuple(shape), np.dtype(dtype), base
            n = int(np.prod(self.shape)) * self.dtype.itemsize
            if base is None and n:  # numba-cuda's empty arrays are a null pointer, never freed
                held["bytes"] += n
                weakref.finalize(self, pending.add_item, free, n, n)

        def __getitem__(self, rows):
            return Array((len(range(*rows.indices(self.shape[0]))), *self.shape[1:]), self.dtype, self._base or self)

        def copy_to_device(self, a, stream=0):
            pass

        def copy_to_host(self, stream=0):
            return np.zeros(self.shape, self.dtype)

    monkeypatch.setattr(driver, "_logger", logging.getLogger("numba.cuda"), raising=False)  # (set by a driver's start)
    _stand_in_cuda(monkeypatch, Array, _Stream, _Kernel(), defer_cleanup=pending.disable)
    monkeypatch.setattr(_execution, "CUDA_LAUNCH_SECONDS", 1e9)  # launches grow 4x each: arrays outgrown
    training = check_training(epochs=3000, lr=0.5, tol=0.01, dtype="float32")
    for _ in range(3):
        plan = _execution.Plan(*datasets.xor(), np.arange(100_000), training, chunk_size=128)
        _execution.run_gpu(plan, range(plan.n_chunks), lambda unit, rows: None)
        assert not pending.is_disabled
        # every byte still held waits in numba-cuda's queue of frees, which holds no more than its count
        # (the frees held off for each sweep: 5.6 MB held for good a sweep, 54 frees queued after the first)
        assert held["bytes"] == sum(size for *_, size in pending._cons)
        assert len(pending._cons) <= config.CUDA_DEALLOCS_COUNT


def test_gpu_launches_of_several_chunks_keep_every_row_of_an_empty_loss_history(monkeypatch):
    """Device arrays sliced as numba-cuda slices them (its pure-Python ``dummyarray``), which makes
    an (n, 0) array (1, 0): reused launch buffers, sliced to each launch's rows, gave a launch of
    several chunks one row of loss history: GPU sweeps of over two chunks failed (H200, 2026-11-28)."""
    pytest.importorskip("numba_cuda")
    from numba.cuda.api_util import prepare_shape_strides_dtype
    from numba.cuda.cudadrv import dummyarray

    from fastbackprop import _execution
    from fastbackprop._validation import check_training

    class Array:
        def __init__(self, shape, dtype, dummy=None):
            if dummy is None:
                shape, strides, dtype = prepare_shape_strides_dtype(shape, None, dtype, "C")
                dummy = dummyarray.Array.from_desc(0, shape, strides, dtype.itemsize)
            self.dtype, self._dummy, self.shape = np.dtype(dtype), dummy, dummy.shape

        def __getitem__(self, item):
            return Array(None, self.dtype, self._dummy[item])

        def copy_to_device(self, a, stream=0):
            pass

        def copy_to_host(self, stream=0):
            return np.zeros(self.shape, self.dtype)

    assert Array((4, 0), np.float64)[:2].shape == (1, 0)  # numba-cuda's slice, which the launches must avoid
    _stand_in_cuda(monkeypatch, Array, _Stream, _Kernel())
    monkeypatch.setattr(_execution, "CUDA_LAUNCH_SECONDS", 1e9)  # launches of 1, 1, 4, 4, 12 chunks
    for margin in (None, 0.4):  # within_at (S, 0) without a margin, (S, R) with one
        recording = check_training(epochs=30, lr=0.5, tol=0.01, dtype="float32", margin=margin, record_at=[10, 20])
        for training in (recording, dataclasses.replace(recording, record_at=np.empty(0, np.int64))):
            plan = _execution.Plan(*datasets.xor(), np.arange(128 * 22), training, chunk_size=128)
            shapes = []

            def finish(unit, rows, plan=plan, shapes=shapes):
                shapes.extend({f: a.shape for f, a in chunk._asdict().items()} for _, chunk in plan.split(unit, rows))

            _execution.run_gpu(plan, range(plan.n_chunks), finish)
            R, W = len(training.record_at), training.n_within
            assert shapes == [dict(params=(128, 9), final_loss=(128,), epochs_to_tol=(128,), loss_at=(128, R),
                                   within_at=(128, W))] * 22  # fmt: skip


def _instant_gpu_into_a_store(monkeypatch, path, n_chunks, fail_chunks=(), meet=()):
    """``execute`` on device "cuda" into a store at ``path``, with a stand-in GPU whose rows are ready at once
    (launches of 1, 1, 4, ... chunks of 128): the chunks written, by which threads, and what was raised."""
    from fastbackprop import _cuda, _execution, store
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
            S, seeds = job.seeds.shape[0], job.seeds.astype(np.float32)
            self.queued.append((np.repeat(seeds[:, None], 9, 1), seeds, np.full(S, 7), np.empty((S, 0), np.float32),
                                np.empty((S, 0), np.bool_)))  # fmt: skip

        def collect(self):
            return self.queued.pop(0)

    written, write = [], store.SweepStore.write
    met = threading.Barrier(len(meet), timeout=10) if meet else None

    def logged(self, index, arrays):
        if index in fail_chunks:
            raise OSError(28, f"No space left on device (chunk {index})")
        if index in meet:  # these chunks are written at once, or the barrier breaks
            met.wait()
        time.sleep(0.02)  # a chunk's SHA-256 and fsync, during which the other writers run
        write(self, index, arrays)
        written.append((index, threading.get_ident()))

    monkeypatch.setattr(_cuda, "Launches", Instant)
    monkeypatch.setattr(_execution.Plan, "warm_up", lambda self, device: None)
    monkeypatch.setattr(_execution, "CUDA_BLOCKS_PER_CHUNK", 1)  # chunks of 128
    monkeypatch.setattr(_execution, "CUDA_LAUNCH_SECONDS", 1e9)  # launches grow 4x each
    monkeypatch.setattr(store.SweepStore, "write", logged)
    training = check_training(epochs=10, lr=0.5, tol=0.01, dtype="float32")
    plan = _execution.Plan(*datasets.xor(), np.arange(128 * n_chunks), training)
    try:
        _execution.execute(plan, Execution(threads=1, device="cuda", store=path))
    except (OSError, threading.BrokenBarrierError) as exc:
        return written, exc
    return written, None


def test_a_gpu_launch_reaches_a_store_from_several_writers(monkeypatch, tmp_path):
    """A launch's chunks are written by STORE_WRITERS threads at once (with one writer, a short float32
    sweep into a store took twice as long as without on an H200), each chunk whole, every row in place."""
    from fastbackprop import load_sweep

    meet = (2, 3, 4, 5)  # the third launch's four chunks, each waiting for the others to be written
    written, raised = _instant_gpu_into_a_store(monkeypatch, tmp_path / "s", 22, meet=meet)
    assert raised is None and sorted(i for i, _ in written) == list(range(22))
    res = load_sweep(tmp_path / "s")
    np.testing.assert_array_equal(res.final_loss, np.arange(128 * 22, dtype=np.float32))
    np.testing.assert_array_equal(res.params[:, 4], res.final_loss)


def test_a_failed_chunk_write_of_a_gpu_launch_keeps_the_others(monkeypatch, tmp_path):
    """A chunk that cannot be written stops the sweep with its error once every other chunk of its
    launch is written (kept in the store), not while some are half-way."""
    from fastbackprop import load_sweep

    written, raised = _instant_gpu_into_a_store(monkeypatch, tmp_path / "s", 22, fail_chunks=(3, 5))
    assert isinstance(raised, OSError) and "(chunk 3)" in str(raised)
    if sys.version_info >= (3, 11):  # the other failure, not lost (notes are Python 3.11's)
        assert any("(chunk 5)" in note for note in raised.__notes__)
    assert {0, 1, 2, 4} <= {i for i, _ in written}  # the failing launch's others: chunks 2-5
    res = load_sweep(tmp_path / "s")
    assert not res.complete and 3 * 128 not in set(res.seeds.tolist())


def test_a_gpu_that_fails_is_one_line_on_the_command_line_and_a_device_error_in_python(monkeypatch, capsys):
    """numba-cuda's driver errors (out of memory; a device held by another process) are plain
    Exceptions: they came out of sweeps as such, and out of the command line as a traceback."""
    pytest.importorskip("numba_cuda")
    from cuda.bindings.driver import CUresult
    from numba.cuda.cudadrv.driver import CudaAPIError

    from fastbackprop import DeviceUnavailableError, _cuda
    from fastbackprop.cli import main

    def out_of_memory(shape, dtype):
        raise CudaAPIError(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "Call to cuMemAlloc results in CUDA_ERROR_OUT_OF_MEMORY")

    _stand_in_cuda(monkeypatch, out_of_memory, _Stream)
    with pytest.raises(DeviceUnavailableError, match="OUT_OF_MEMORY"):
        sweep(*datasets.xor(), 300, epochs=2, device="cuda")
    assert main(["sweep", "--seeds", "300", "--epochs", "2", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "OUT_OF_MEMORY" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

    def held(*args):  # an exclusive-process GPU in use by another process
        raise CudaAPIError(CUresult.CUDA_ERROR_DEVICE_UNAVAILABLE, "Call to cuCtxCreate results in UNAVAILABLE")

    monkeypatch.setattr(_cuda.cuda, "current_context", held, raising=False)
    monkeypatch.setattr(_cuda.cuda, "get_current_device", held, raising=False)
    with pytest.raises(DeviceUnavailableError, match="cannot be used"):
        sweep(*datasets.xor(), 300, epochs=2, device="cuda")
    assert _cuda.describe()["usable"] is False
    monkeypatch.setattr(_cuda, "_missing", lambda: None)  # a context, then the device query fails
    described = _cuda.describe()
    assert described["usable"] is False and "UNAVAILABLE" in described["why"]


def test_a_failed_gpu_write_stops_the_sweep_and_is_not_lost(monkeypatch):
    log, raised = _launches(monkeypatch, write_fails=0, units=6)
    assert isinstance(raised, OSError) and "No space left" in str(raised)
    assert max(e[1] for e in log if e[0] == "launch") < 5  # stopped, not run to the end
    log, raised = _launches(monkeypatch, write_fails=1, launch_fails=3)
    assert isinstance(raised, KeyboardInterrupt)  # the launch's error, and the write's in a note
    if sys.version_info >= (3, 11):
        assert "No space left" in "".join(raised.__notes__)


def test_leaving_gpu_launches_waits_for_every_stream_also_after_ctrl_c_inside_a_launch(monkeypatch):
    pytest.importorskip("numba_cuda")
    from fastbackprop import _cuda, _execution
    from fastbackprop._validation import check_training

    synced = []

    class Array:
        def __init__(self, shape, dtype):
            self.shape, self.dtype = tuple(shape), np.dtype(dtype)

        def __getitem__(self, rows):
            return self

        def copy_to_device(self, a, stream=0):
            raise KeyboardInterrupt  # as if pressed while the first launch's inputs are queued

    class Stream:
        def synchronize(self):
            synced.append(self)

    _stand_in_cuda(monkeypatch, Array, Stream)
    training = check_training(epochs=3, lr=0.5, tol=0.01, dtype="float32")
    plan = _execution.Plan(*datasets.xor(), np.arange(256), training, chunk_size=128)
    gpu = _cuda.Launches(2, rows=256)
    with pytest.raises(KeyboardInterrupt), gpu:
        gpu.launch(plan.job([0], "cuda"))
    assert len(synced) == 2 and set(synced) == set(gpu._streams)  # the interrupted launch's stream too
