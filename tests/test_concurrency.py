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
def _launches(monkeypatch, fail_at=None):
    """``_execution._run_launches`` over 4 units, with launches faked on the CPU; its log of events."""
    from fastbackprop import _execution
    from fastbackprop._validation import check_training

    log = []
    real = _execution.train_job

    def launch(job):
        log.append(("launch", int(job.seeds[0]), threading.get_ident()))
        if job.seeds[0] == fail_at:
            raise KeyboardInterrupt
        time.sleep(0.05)
        return real(dataclasses.replace(job, device="cpu"))

    def finish(unit, rows):
        log.append(("write", unit[0], threading.get_ident()))
        time.sleep(0.1)
        log.append(("written", unit[0], threading.get_ident()))

    monkeypatch.setattr(_execution, "train_job", launch)
    training = check_training(epochs=2, lr=0.5, tol=0.01, dtype="float32")
    plan = _execution.Plan(*datasets.xor(), np.arange(4 * 128), training, chunk_size=128)
    if fail_at is None:
        _execution._run_launches(plan, [[0], [1], [2], [3]], finish)
    else:
        with pytest.raises(KeyboardInterrupt):  # after the write in flight is done
            _execution._run_launches(plan, [[0], [1], [2], [3]], finish)
    return log


def test_gpu_launches_overlap_their_writes(monkeypatch):
    log = _launches(monkeypatch)
    main = threading.get_ident()
    assert [e[1] for e in log if e[0] == "written"] == [0, 1, 2, 3]  # every unit, in order
    assert {e[2] for e in log if e[0] == "launch"} == {main}
    assert main not in {e[2] for e in log if e[0] != "launch"}
    # unit k + 1 was launched while unit k was being written
    for k in range(3):
        written = next(i for i, e in enumerate(log) if e[:2] == ("written", k))
        assert log.index(("launch", 128 * (k + 1), main)) < written


def test_gpu_launches_interrupted_write_every_finished_unit(monkeypatch):
    log = _launches(monkeypatch, fail_at=2 * 128)
    assert [e[1] for e in log if e[0] == "written"] == [0, 1]
    assert not any(e[:2] == ("launch", 3 * 128) for e in log)
