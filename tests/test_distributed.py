"""Dask: the same bits as a local sweep, also when a worker dies mid-sweep."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from fastbackprop import datasets, grid, init_map, load_map, load_sweep, lr_map, sweep

from .conftest import JIT

distributed = pytest.importorskip("dask.distributed")

XOR = datasets.xor()
EPOCHS = 1000 if JIT else 2


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _same(a, b):
    for name in ("seeds", "params", "final_loss", "epochs_to_tol", "converged"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_cluster_sweep_is_bit_identical(client):
    n = 5000 if JIT else 300
    for dtype in ("float64", "float32"):
        local = sweep(*XOR, n, epochs=EPOCHS, lr=0.5, dtype=dtype)
        remote = sweep(*XOR, n, epochs=EPOCHS, lr=0.5, dtype=dtype, client=client)
        _same(remote, local)


def test_cluster_grid_and_store(client, tmp_path):
    g_local = grid(*XOR, 300, lrs=[0.5, 2.0], epochs_list=[EPOCHS // 2, EPOCHS])
    g_remote = grid(*XOR, 300, lrs=[0.5, 2.0], epochs_list=[EPOCHS // 2, EPOCHS], client=client, store=tmp_path / "g")
    np.testing.assert_array_equal(g_remote.loss, g_local.loss)
    kw = dict(margin=0.4, momenta=[0.0, 0.9])
    g_local, g_remote = (
        grid(*XOR, 300, lrs=[2.0], epochs_list=[10, EPOCHS], **kw),
        grid(*XOR, 300, lrs=[2.0], epochs_list=[10, EPOCHS], client=client, **kw),
    )
    np.testing.assert_array_equal(g_remote.within_margin, g_local.within_margin)
    res = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, client=client, store=tmp_path / "s")
    _same(load_sweep(tmp_path / "s"), res)


def test_cluster_sweep_with_per_network_options_is_bit_identical(client):
    n = 3000 if JIT else 300  # three chunks: each job gets its own rows of the arrays
    rng = np.random.default_rng(4)
    options = dict(
        lr=rng.uniform(0.1, 2, n), momentum=np.where(rng.random(n) < 0.5, 0.0, 0.9), init="uniform", init_scale=2.0
    )
    _same(sweep(*XOR, n, epochs=EPOCHS, client=client, **options), sweep(*XOR, n, epochs=EPOCHS, **options))


def test_cluster_maps_are_bit_identical(client, tmp_path):
    # 60 x 40 pixels: three chunks, each job making its own starting points from the pixel numbers
    args = (*XOR, 3, ("w2", "b3"), ((-3, 3), (-5, 5)), (60, 40))
    local = init_map(*args, epochs=EPOCHS, lr=0.5)
    remote = init_map(*args, epochs=EPOCHS, lr=0.5, client=client, store=tmp_path / "m")
    assert remote.params.tobytes() == local.params.tobytes()
    assert load_map(tmp_path / "m").final_loss.tobytes() == local.final_loss.tobytes()
    lr_args = (*XOR, 3, (0.05, 5), (0.05, 5), (50, 30))
    assert (
        lr_map(*lr_args, epochs=EPOCHS, client=client).params.tobytes()
        == lr_map(*lr_args, epochs=EPOCHS).params.tobytes()
    )


def _has_gpu():
    from numba import cuda

    return bool(cuda.is_available())


def test_cuda_on_a_cluster_is_checked_by_the_workers_not_the_client(client, monkeypatch):
    """A client without a GPU may send GPU work to a cluster; a worker without one says so."""
    pytest.importorskip("numba_cuda")
    from fastbackprop import DeviceUnavailableError, _cuda

    if any(client.run(_has_gpu).values()):
        pytest.skip("these workers have a GPU")
    monkeypatch.setattr(_cuda, "_missing", lambda: "checked on the client")
    with pytest.raises(DeviceUnavailableError, match="no usable CUDA GPU"):
        sweep(*XOR, 4, epochs=1, client=client, device="cuda")
    with pytest.raises(DeviceUnavailableError, match="no usable CUDA GPU"):
        init_map(*XOR, 1, ("w1", "w2"), ((-1, 1), (-1, 1)), (2, 2), epochs=1, client=client, device="cuda")


def test_rows_from_a_worker_on_another_version_are_refused_not_stored(client, monkeypatch, tmp_path):
    from fastbackprop import _execution

    monkeypatch.setattr(_execution, "__version__", "0.0.0.client")  # this process only: the workers run their own
    with pytest.raises(RuntimeError, match=r"^a Dask worker runs fastbackprop \S+, this process 0\.0\.0\.client: "):
        sweep(*XOR, 300, epochs=EPOCHS, client=client, store=tmp_path / "s")
    assert not [f for f in os.listdir(tmp_path / "s") if f.startswith("chunk-")]


def test_client_validation():
    with pytest.raises(TypeError, match=r"client must be a dask\.distributed\.Client"):
        sweep(*XOR, 10, epochs=2, client="tcp://localhost:8786")


@pytest.mark.skipif(not JIT, reason="needs tasks that run for seconds")
def test_worker_killed_mid_sweep_still_complete_and_identical(client, tmp_path):
    n, epochs = 120 * 1024, 3000  # about 3 s on two workers, once compiled
    expected = sweep(*XOR, n, epochs=epochs, lr=0.5)
    result = {}

    def run():
        result["res"] = sweep(*XOR, n, epochs=epochs, lr=0.5, client=client, store=tmp_path / "s")

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 60
    while (
        len([f for f in os.listdir(tmp_path / "s") if f.startswith("chunk-")] if (tmp_path / "s").exists() else []) < 8
    ):
        assert time.monotonic() < deadline, "no chunk arrived"
        time.sleep(0.01)
    assert t.is_alive(), "finished before a worker was killed: the test proves nothing"
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    t.join(timeout=100)
    assert not t.is_alive()
    _same(result["res"], expected)
    # The nanny restarted the killed worker (the scheduler may still list the dead one for a while).
    deadline = time.monotonic() + 30
    while len(pids := client.run(os.getpid, on_error="ignore")) != 2 or victim in pids.values():
        assert time.monotonic() < deadline, pids
        time.sleep(0.2)


def test_cli_scheduler(client, capsys):
    import json

    from fastbackprop.cli import main

    assert (
        main(
            [
                "sweep",
                "--dataset",
                "xor",
                "--seeds",
                "300",
                "--epochs",
                str(EPOCHS),
                "--lr",
                "0.5",
                "--json",
                "--scheduler",
                client.scheduler.address,
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["success_rate"] == sweep(*XOR, 300, epochs=EPOCHS, lr=0.5).success_rate


def test_the_stop_event_is_cleared_only_after_several_looks_of_every_watch():
    from fastbackprop import _execution

    assert _execution.STOP_CLEAR_SECONDS >= 5 * _execution.STOP_WATCH_SECONDS


@pytest.fixture
def ctrl_c():
    """``_thread.interrupt_main``, which does nothing where SIGINT is ignored (a background job, some CI):
    Python's own handler for the test, so that the sweeps it interrupts do not run for hours."""
    import _thread

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield _thread.interrupt_main
    signal.signal(signal.SIGINT, before)


@pytest.mark.skipif(not JIT, reason="needs tasks that run for minutes")
def test_ctrl_c_stops_the_workers_too(client, monkeypatch, ctrl_c):
    """The client stops at once, and the tasks running on the workers within about a second after
    (a Dask Event they poll): they went on training cancelled chunks for minutes before. The Event
    is then cleared, which deletes it: the scheduler kept one for every interrupted sweep."""
    from fastbackprop import _execution

    monkeypatch.setattr(_execution, "STOP_CLEAR_SECONDS", 3.0)
    sweep(*XOR, 256, epochs=2, client=client)  # compiled on both workers
    timer = threading.Timer(1.5, ctrl_c)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sweep(*XOR, 4 * 128, epochs=10**8, client=client)  # each chunk: over a minute
    timer.cancel()
    again = {}
    follow = threading.Thread(target=lambda: again.update(res=sweep(*XOR, 256, epochs=2, client=client)))
    follow.start()  # needs both workers free
    follow.join(15)  # (not waited for past that: before, the workers were busy for minutes)
    assert not follow.is_alive() and again["res"].n == 256

    def events():
        return client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.extensions["events"]._events))

    deadline = time.monotonic() + 15
    while events() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert events() == []


@pytest.mark.skipif(not JIT, reason="needs tasks that run for minutes")
def test_an_interrupted_sweeps_stop_event_is_cleared_when_its_client_is_gone(client, monkeypatch, ctrl_c):
    """The scheduler clears it: cleared from the client, the Event of a sweep run from the command line
    stayed on the scheduler, the process ending right after Ctrl-C."""
    from fastbackprop import _execution

    monkeypatch.setattr(_execution, "STOP_CLEAR_SECONDS", 2.0)
    sweep(*XOR, 256, epochs=2, client=client)  # compiled on both workers
    with distributed.Client(client.scheduler.address) as gone:
        timer = threading.Timer(1.5, ctrl_c)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            sweep(*XOR, 4 * 128, epochs=10**8, client=gone)
        timer.cancel()
    # the interrupted sweep's client is closed: nothing left in this process can clear its Event

    def events():
        return client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.extensions["events"]._events))

    deadline = time.monotonic() + 15
    while events() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert events() == []


@pytest.mark.skipif(not JIT, reason="needs tasks that run for seconds")
def test_a_worker_process_asks_once_a_second_for_all_its_tasks(monkeypatch, ctrl_c):
    """Each running task asked the scheduler once a second whether to stop: 30,000 requests a second
    at 30,000 worker threads. One look a second a worker process now serves all its tasks."""
    from fastbackprop import _execution

    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)  # 128-seed chunks: 4, one a thread
    looks = []
    is_set = distributed.Event.is_set

    def looking(self, *args, **kwargs):
        looks.append(time.monotonic())
        return is_set(self, *args, **kwargs)

    monkeypatch.setattr(distributed.Event, "is_set", looking)  # the workers run in this process
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=4, processes=False, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        sweep(*XOR, 4 * 128, epochs=2, client=c)  # compiled
        timer = threading.Timer(4.0, ctrl_c)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            sweep(*XOR, 4 * 128, epochs=10**8, client=c)  # each chunk: over a minute
        timer.cancel()
        watches = [t for t in threading.enumerate() if t.name.startswith("fastbackprop stop watch")]
        assert len(watches) <= 1
        assert 1 <= len(looks) <= 5  # about 4 looks in 4 s for 4 tasks (16 when each task looked)
        start = time.monotonic()
        assert sweep(*XOR, 4 * 128, epochs=2, client=c).n == 512  # the 4 tasks stopped: threads free
        assert time.monotonic() - start < 5
    time.sleep(2 * _execution.STOP_WATCH_SECONDS)
    assert not _execution._WATCHES  # each ends within a look of its sweep's last task here


def test_tasks_that_cannot_be_watched_train_at_once_unwatched(monkeypatch):
    """Without a worker client (or a thread for the watch) a task trains unwatched: it trained
    under the watches' lock, so a worker process ran its tasks one at a time."""
    from fastbackprop import _execution

    running, most = [], []

    def train(job, cancel):
        running.append(1)
        most.append(len(running))
        time.sleep(0.5)
        running.pop()

    def no_client():
        raise ValueError("No global client found")

    monkeypatch.setattr(_execution, "train_job", train)
    monkeypatch.setattr(distributed, "get_client", no_client)
    for no_thread in (False, True):  # no worker client: get_client() fails; then no thread to start
        if no_thread:
            monkeypatch.setattr(distributed, "get_client", lambda: None)
            monkeypatch.setattr(distributed, "Event", lambda *a, **k: None)
            monkeypatch.setattr(_execution._StopWatch, "start", lambda self: (_ for _ in ()).throw(RuntimeError()))
        most.clear()
        tasks = [threading.Thread(target=_execution.train_on_worker, args=(None, "stop-x")) for _ in range(4)]
        for t in tasks:
            t.start()
        for t in tasks:
            t.join()
        assert max(most) == 4 and not _execution._WATCHES


def test_a_sweep_lets_each_result_go_once_written(client, monkeypatch):
    """The workers do not hold the sweep's results (16.7 MB for 200 chunks, 9 GB at 10^8 seeds) until it ends."""
    from fastbackprop import _execution

    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)  # 128-seed chunks: 40 of them
    ours, released, seen = set(), set(), []
    submit, release, result = client.submit, distributed.Future.release, distributed.Future.result

    def submitted(*args, **kwargs):
        future = submit(*args, **kwargs)
        ours.add(future.key)
        return future

    def releasing(self):
        released.add(self.key)
        return release(self)

    def fetched(self, *args, **kwargs):
        if self.key in ours:
            seen.append(len(released & ours))  # this sweep's results let go when the next is fetched
        return result(self, *args, **kwargs)

    monkeypatch.setattr(client, "submit", submitted)
    monkeypatch.setattr(distributed.Future, "release", releasing)
    monkeypatch.setattr(distributed.Future, "result", fetched)
    res = sweep(*XOR, 40 * 128, epochs=EPOCHS, client=client)
    assert res.n == 40 * 128 and len(ours) == 40
    assert seen == list(range(40))  # each let go as it is written, not when the sweep ends


@pytest.mark.skipif(not JIT, reason="needs tasks that run for seconds")
def test_a_client_closed_mid_sweep_is_one_clear_error():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None, silence_logs=40
    ) as cluster:
        c = distributed.Client(cluster)
        sweep(*XOR, 128, epochs=2, client=c)
        threading.Timer(1.0, c.close).start()
        with pytest.raises(RuntimeError, match="the Dask client was closed or lost its scheduler mid-sweep"):
            sweep(*XOR, 8 * 128, epochs=3 * 10**5, client=c)  # about 2 s on one thread
