"""Durable stores: resume after SIGKILL, recompute damaged chunks, refuse other settings."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from fastbackprop import _execution, _kernels, datasets, grid, load_sweep, sweep
from fastbackprop._settings import Execution
from fastbackprop._validation import check_training

from .conftest import JIT, SWEEP_EPOCHS

TRAINING = check_training(epochs=3000, lr=0.5, tol=0.01, dtype="float64")

XOR = datasets.xor()
N = 3000 if JIT else 400
EPOCHS = SWEEP_EPOCHS // 3 if JIT else 2


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)  # 128-seed chunks
    monkeypatch.setattr(_execution, "STORE_CHUNK_GROWTH", 1)  # also into a store, on any number of cores


@pytest.fixture
def kernel_calls(monkeypatch):
    calls = []
    real = _kernels.training_kernels

    def variant(*which):
        kernels = real(*which)

        def counting(*args):
            if args[2].shape[0]:  # not the empty warm-up call
                calls.append(args[2].shape[0])
            return kernels.train_blocks(*args)

        return kernels._replace(train_blocks=counting)

    monkeypatch.setattr(_kernels, "training_kernels", variant)
    return calls


def _same(a, b):
    for name in ("seeds", "params", "final_loss", "epochs_to_tol", "converged", "diverged"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_store_round_trip_and_resume_computes_nothing(tmp_path, small_chunks, kernel_calls):
    plain = sweep(*XOR, N, epochs=EPOCHS, lr=0.5)
    first = sweep(*XOR, N, epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    _same(first, plain)
    n_chunks = -(-N // _kernels.LANES)
    assert len([f for f in os.listdir(tmp_path / "s") if f.startswith("chunk-") and f.endswith(".npz")]) == n_chunks
    kernel_calls.clear()
    again = sweep(*XOR, N, epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    assert kernel_calls == []  # every chunk read back, none recomputed
    _same(again, plain)
    loaded = load_sweep(tmp_path / "s")
    assert loaded.complete
    _same(loaded, plain)
    assert not any(".tmp-" in f for f in os.listdir(tmp_path / "s"))


def test_missing_truncated_and_corrupt_chunks_are_recomputed(tmp_path, small_chunks, kernel_calls):
    path = tmp_path / "s"
    plain = sweep(*XOR, N, epochs=EPOCHS, lr=0.5, store=path)
    os.remove(path / "chunk-000000.npz")
    data = (path / "chunk-000001.npz").read_bytes()
    (path / "chunk-000001.npz").write_bytes(data[: len(data) // 2])  # truncated
    with np.load(path / "chunk-000002.npz") as f:  # valid file, wrong contents
        fields = dict(f)
    fields["params"] = fields["params"] + 1.0
    np.savez(path / "chunk-000002.npz", **fields)
    partial = load_sweep(path)
    assert not partial.complete and partial.n == N - 3 * _kernels.LANES
    assert partial.report()["complete"] is False and repr(partial).endswith(", complete=False)")
    np.testing.assert_array_equal(partial.seeds, plain.seeds[3 * _kernels.LANES :])
    kernel_calls.clear()
    resumed = sweep(*XOR, N, epochs=EPOCHS, lr=0.5, store=path)
    assert kernel_calls == [_kernels.LANES] * 3  # exactly the three bad chunks
    _same(resumed, plain)
    assert load_sweep(path).complete


@pytest.mark.parametrize("field", ["params", "final_loss", "epochs_to_tol", "loss_at", "within_at"])
def test_damage_to_any_stored_array_is_caught(tmp_path, small_chunks, kernel_calls, field):
    """The checksum covers every array of a chunk, not only the parameters."""
    path = tmp_path / "g"
    # loss_at and (with a margin) within_at have columns in a grid
    first = grid(*XOR, 300, lrs=[0.5], epochs_list=[EPOCHS // 2, EPOCHS], margin=0.4, store=path)
    chunk = path / "chunk-000001.npz"
    with np.load(chunk) as f:
        fields = dict(f)
    assert fields[field].size
    # a valid file, wrong contents
    fields[field] = (
        ~fields[field] if fields[field].dtype == np.bool_ else fields[field] + np.ones((), fields[field].dtype)
    )
    np.savez(chunk, **fields)
    kernel_calls.clear()
    again = grid(*XOR, 300, lrs=[0.5], epochs_list=[EPOCHS // 2, EPOCHS], margin=0.4, store=path)
    assert kernel_calls == [_kernels.LANES]  # that chunk, recomputed
    np.testing.assert_array_equal(again.loss, first.loss)
    np.testing.assert_array_equal(again.within_margin, first.within_margin)
    np.testing.assert_array_equal(again.epochs_to_tol, first.epochs_to_tol)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads file names from /proc")
def test_every_file_is_synced_before_it_is_renamed_into_place(tmp_path, small_chunks, monkeypatch):
    synced, events = set(), []  # events: ("rename", was the file synced, name) and ("sync", path)
    real_fsync, real_replace, real_link = os.fsync, os.replace, os.link

    def fsync(fd):
        synced.add(os.readlink(f"/proc/self/fd/{fd}"))
        events.append(("sync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    folder = str((tmp_path / "s").resolve())

    def renamed_into(src, dst):  # the store's own (not Numba's cache files, should a kernel compile here)
        if os.path.dirname(os.path.realpath(dst)) == folder:
            events.append(("rename", os.path.realpath(src) in synced, os.path.basename(dst)))

    def replace(src, dst):
        renamed_into(src, dst)
        real_replace(src, dst)

    def link(src, dst):  # the manifest: linked into place, so that it is created once
        renamed_into(src, dst)
        real_link(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "link", link)
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    renamed = [e for e in events if e[0] == "rename"]
    names = sorted(name for _, _, name in renamed)
    assert names == ["chunk-000000.npz", "chunk-000001.npz", "chunk-000002.npz", "inputs.npz", "manifest.json"]
    assert all(was_synced for _, was_synced, _ in renamed), renamed
    # ... and the folder after each rename, for the new name to survive a power cut too
    # (writers run on several threads: counted, not paired; the last event is the last one's)
    assert events.count(("sync", folder)) == len(renamed)
    assert events[-1] == ("sync", folder)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(epochs=EPOCHS + 1), "epochs="),
        (dict(lr=0.25), "lr=0.5, this run has lr=0.25"),
        (dict(dtype="float32"), "dtype='float64', this run has dtype='float32'"),
        (dict(tol=0.02), "tol="),
        (dict(seeds=np.arange(1, 301)), "was made for other seeds"),
        (dict(seeds=500), "was made for 300 seeds, this run has 500; use another store, or the seeds it was made for"),
        (dict(y=np.array([0, 1, 1, 1.0])), "was made for other training data"),
        # each option alone, named exactly ("init=" is not "init_scale=")
        (dict(lr_output=2.0), "made with lr_output=None, this run has lr_output=2.0;"),
        (dict(momentum=0.5), "made with momentum=0.0, this run has momentum=0.5;"),
        (dict(activation="tanh"), "made with activation='sigmoid', this run has activation='tanh';"),
        (dict(margin=0.4), "made with margin=None, this run has margin=0.4;"),
        (dict(init="uniform"), "made with init='normal', this run has init='uniform';"),
        (dict(init_scale=2.0), "made with init_scale=1.0, this run has init_scale=2.0;"),
        (dict(epochs_to_tol=False), "made with epochs_to_tol=True, this run has epochs_to_tol=False;"),
        (dict(seeds=None, params0=np.zeros((300, 9))), r"made with other values of params0 \(one per network\)"),
        (dict(lr=np.linspace(0.1, 1, 300)), r"made with other values of lr \(one per network\)"),
    ],
)
def test_other_settings_are_refused(tmp_path, change, match):
    args = dict(X=XOR[0], y=XOR[1], seeds=300, epochs=EPOCHS, lr=0.5)
    sweep(**args, store=tmp_path / "s")
    files = {f.name: f.read_bytes() for f in (tmp_path / "s").iterdir() if f.name != "lock"}
    args.update(change)
    with pytest.raises(ValueError, match=match):
        sweep(**args, store=tmp_path / "s")
    assert {f.name: f.read_bytes() for f in (tmp_path / "s").iterdir() if f.name != "lock"} == files  # untouched


def _chunk_files(path):
    return sorted(f for f in os.listdir(path) if f.startswith("chunk-"))


def test_a_store_is_resumed_in_its_own_chunk_size(tmp_path, monkeypatch, kernel_calls):
    """Begun where chunks are small (as a CPU's are beside a GPU's), finished where they are large."""
    monkeypatch.setattr(_execution, "STORE_CHUNK_GROWTH", 1)
    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)
    path = tmp_path / "s"
    whole = sweep(*XOR, N, epochs=EPOCHS, store=path)
    os.remove(path / "chunk-000002.npz")
    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 8)
    kernel_calls.clear()
    _same(sweep(*XOR, N, epochs=EPOCHS, store=path), whole)
    assert kernel_calls == [_kernels.LANES]  # the one chunk missing, in the store's size
    assert len(_chunk_files(path)) == -(-N // _kernels.LANES)


@pytest.mark.parametrize(
    ("seeds", "threads", "store", "device", "size"),
    [
        (10**9, 2, False, "cpu", 1024),  # progress and load balancing
        (1000, 2, False, "cpu", 512),  # a small sweep: a chunk for every thread
        (300, 2, True, "cpu", 256),
        (300, 16, False, "cpu", 128),
        (1, 2, False, "cpu", 128),
        (10**4, 2, True, "cpu", 1024),
        (2**16, 2, True, "cpu", 4096),  # a file per chunk: larger, still 8 a thread
        (2**17, 2, True, "cpu", 8192),
        (10**9, 2, True, "cpu", 8192),
        (2**17, 16, True, "cpu", 1024),
        (10, 2, False, "cuda", 2**16),
        (10, 2, True, "cuda", 2**16),
    ],
)
def test_chunk_size_by_device_store_and_threads(tmp_path, seeds, threads, store, device, size):
    execution = Execution(threads=threads, store=tmp_path / "new" if store else None, device=device)
    assert _execution.chunk_size(seeds, execution, TRAINING) == size


def test_a_gpu_chunk_fits_a_launchs_device_memory():
    # 3000 recorded float64 losses: 24 kB a network, so 2**16 of them would take 1.5 GiB
    training = check_training(epochs=3000, lr=0.5, tol=0.01, dtype="float64", record_at=range(1, 3001))
    size = _execution.chunk_size(10**6, Execution(threads=2, device="cuda"), training)
    assert size % 128 == 0 and size * _execution._device_bytes(training) <= _execution.CUDA_LAUNCH_BYTES
    assert (size + 128) * _execution._device_bytes(training) > _execution.CUDA_LAUNCH_BYTES  # the largest
    huge = check_training(epochs=10**6, lr=0.5, tol=0.01, dtype="float64", record_at=range(1, 10**6 + 1))
    assert _execution.chunk_size(10**6, Execution(threads=2, device="cuda"), huge) == 128  # never none


def test_a_dask_sweeps_chunks_are_sized_for_the_cluster_threads(tmp_path):
    class Cluster:  # what chunk_size asks of a dask.distributed.Client
        def nthreads(self):
            return {"tcp://a": 8, "tcp://b": 8}

    execution = Execution(threads=1, store=tmp_path / "new", client=Cluster())
    assert _execution.chunk_size(2**17, execution, TRAINING) == 1024  # 16 threads: 8 chunks each
    assert _execution.chunk_size(2**20, execution, TRAINING) == 8192
    assert _execution.chunk_size(1000, execution, TRAINING) == 128  # a small sweep: a chunk a thread, up to one a block

    class Gone:  # a scheduler that cannot say: chunks as for one thread, and submitting reports the trouble
        def nthreads(self):
            raise OSError("scheduler gone")

    assert _execution.chunk_size(1000, Execution(threads=4, client=Gone()), TRAINING) == 1024


def test_a_cpu_store_of_many_seeds_has_larger_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)  # 128 seeds, up to 1024 into a store
    res = sweep(*XOR, 2**11, epochs=1, threads=1, store=tmp_path / "s")
    assert len(_chunk_files(tmp_path / "s")) == 8  # 256 seeds each: 8 a thread
    _same(res, sweep(*XOR, 2**11, epochs=1))


def test_load_an_empty_store(tmp_path, small_chunks):
    sweep(*XOR, 300, epochs=EPOCHS, store=tmp_path / "s")
    for f in os.listdir(tmp_path / "s"):
        if f.startswith("chunk-"):
            os.remove(tmp_path / "s" / f)
    res = load_sweep(tmp_path / "s")
    assert not res.complete and res.n == 0 and res.params.shape == (0, 9)


def test_store_validation(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        sweep(*XOR, 10, epochs=2, store=tmp_path / "file")
    # named as given, before anything runs: a grid's store too, and paths that cannot be made
    with pytest.raises(ValueError, match=r"^store '.*file' exists and is not a directory$"):
        grid(*XOR, 10, lrs=[0.5], epochs_list=[2], store=tmp_path / "file")
    with pytest.raises(ValueError, match=r"^store '.*file/sub' cannot be made: '.*file' is not a directory$"):
        sweep(*XOR, 10, epochs=2, store=tmp_path / "file" / "sub")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"^store '.*dangling' exists and is not a directory$"):
        sweep(*XOR, 10, epochs=2, store=tmp_path / "dangling")
    # a link, then "..": the OS follows the link first, and so does the check
    (tmp_path / "elsewhere" / "target").mkdir(parents=True)
    (tmp_path / "file.d").mkdir()
    (tmp_path / "file.d" / "lnk").symlink_to(tmp_path / "elsewhere" / "target")
    assert sweep(*XOR, 10, epochs=2, store=tmp_path / "file.d" / "lnk" / ".." / "s").n == 10
    assert (tmp_path / "elsewhere" / "s" / "manifest.json").exists()
    with pytest.raises(TypeError, match="store must be a path"):
        sweep(*XOR, 10, epochs=2, store=3)
    with pytest.raises(ValueError, match=r"^store must name a folder"):
        sweep(*XOR, 10, epochs=2, store="")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="no readable fastbackprop manifest"):
        sweep(*XOR, 10, epochs=2, store=tmp_path / "junk")
    with pytest.raises(ValueError, match="not a readable fastbackprop sweep store"):
        load_sweep(tmp_path / "junk")


def test_grid_store_is_one_sweep_store_of_every_cell(tmp_path, small_chunks, kernel_calls):
    epochs = [EPOCHS // 2, EPOCHS]
    first = grid(*XOR, 300, lrs=[0.5, 1.0], epochs_list=epochs, momenta=[0.0, 0.9], store=tmp_path / "g")
    assert len(_chunk_files(tmp_path / "g")) == -(-4 * 300 // _kernels.LANES)  # 4 cells of 300 seeds
    os.remove(tmp_path / "g" / "chunk-000004.npz")  # rows 512..639: cells 1 (lr 0.5, m 0.9) and 2
    kernel_calls.clear()
    again = grid(*XOR, 300, lrs=[0.5, 1.0], epochs_list=epochs, momenta=[0.0, 0.9], store=tmp_path / "g")
    assert kernel_calls == [_kernels.LANES]
    np.testing.assert_array_equal(again.loss, first.loss)
    np.testing.assert_array_equal(again.epochs_to_tol, first.epochs_to_tol)
    # what the store holds is a sweep of the seeds once per cell, with the cell's settings
    stored = load_sweep(tmp_path / "g")
    np.testing.assert_array_equal(stored.seeds, np.tile(np.arange(300), 4))
    np.testing.assert_array_equal(stored.lr, np.repeat([0.5, 0.5, 1.0, 1.0], 300))
    np.testing.assert_array_equal(stored.momentum, np.tile(np.repeat([0.0, 0.9], 300), 2))
    cell = sweep(*XOR, 300, epochs=EPOCHS, lr=1.0, momentum=0.9)
    np.testing.assert_array_equal(stored.params[900:], cell.params)
    # another grid is named in the grid's terms, not in its rows' (per-network lr, n_seeds)
    ours = r"a grid of lrs \[0\.5, 1\.0\] x momenta \[0\.0, 0\.9\] x 300 seeds"
    for args, theirs in [
        ((300, [0.5, 2.0], epochs, [0.0, 0.9]), r"a grid of lrs \[0\.5, 2\.0\] x momenta \[0\.0, 0\.9\] x 300 seeds"),
        ((200, [0.5, 1.0], epochs, [0.0, 0.9]), r"a grid of lrs \[0\.5, 1\.0\] x momenta \[0\.0, 0\.9\] x 200 seeds"),
        ((600, [0.5, 1.0], epochs, None), r"a grid of lrs \[0\.5, 1\.0\] x 600 seeds"),
    ]:
        with pytest.raises(ValueError, match=rf"holds {ours}, this run is {theirs}; use another store$"):
            grid(*XOR, args[0], lrs=args[1], epochs_list=args[2], momenta=args[3], store=tmp_path / "g")
    many = list(np.linspace(0.1, 1, 7))
    with pytest.raises(ValueError, match=r"this run is a grid of lrs \[0\.1, 0\.25, \.\.\., 1\.0\] \(7 values\)"):
        grid(*XOR, 300, lrs=many, epochs_list=epochs, momenta=[0.0, 0.9], store=tmp_path / "g")
    grid(*XOR, 300, lrs=[*many[:3], 0.5, *many[4:]], epochs_list=epochs, store=tmp_path / "g7")
    with pytest.raises(ValueError, match=r"holds a grid of other lrs or momenta"):  # differing where the text elides
        grid(*XOR, 300, lrs=many, epochs_list=epochs, store=tmp_path / "g7")
    with pytest.raises(ValueError, match=r"made for other seeds"):
        grid(*XOR, range(1, 301), lrs=[0.5, 1.0], epochs_list=epochs, momenta=[0.0, 0.9], store=tmp_path / "g")
    with pytest.raises(ValueError, match=rf"holds {ours}, this run is a sweep, not a grid; use another store$"):
        sweep(*XOR, 1200, epochs=EPOCHS, lr=0.5, store=tmp_path / "g")
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    with pytest.raises(ValueError, match=r"holds a sweep, not a grid, this run is a grid of lrs \[0\.5\] x 300"):
        grid(*XOR, 300, lrs=[0.5], epochs_list=[EPOCHS], store=tmp_path / "s")
    # a hand-edited manifest's grid is named as well as it can be, never a crash
    manifest = _manifest(tmp_path / "g")
    for edited in ("x", [1], {"lrs": [0.5]}, {"lrs": [0.5], "momenta": None, "seeds": 1e308}, {"lrs": "a"}):
        manifest["settings"]["grid"] = edited
        (tmp_path / "g" / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ValueError, match=r"holds a grid, this run is a grid of lrs"):
            grid(*XOR, 300, lrs=[0.5, 2.0], epochs_list=epochs, momenta=[0.0, 0.9], store=tmp_path / "g")


def test_a_grid_refuses_a_store_of_the_earlier_per_cell_layout(tmp_path, kernel_calls):
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, threads=1, store=tmp_path / "g" / "lr-000")  # as grids kept them
    with pytest.raises(ValueError, match=r"an earlier layout, one per cell \(lr-000, \.\.\.\)"):
        grid(*XOR, 300, lrs=[0.5], epochs_list=[EPOCHS], store=tmp_path / "g")
    assert kernel_calls == [300]  # nothing trained
    assert sorted(os.listdir(tmp_path / "g")) == ["lr-000"]  # nothing written
    # a folder with such names that are not stores is a new store's
    (tmp_path / "h" / "lr-001").mkdir(parents=True)
    (tmp_path / "h" / "lr-000").write_text("notes")
    assert grid(*XOR, 300, lrs=[0.5], epochs_list=[EPOCHS], store=tmp_path / "h").n == 300


def test_a_margin_grid_store_keeps_within_margin_and_resumes(tmp_path, small_chunks, kernel_calls):
    epochs = [EPOCHS // 2, EPOCHS]
    first = grid(*XOR, 300, lrs=[0.5, 2.0], epochs_list=epochs, margin=0.4, store=tmp_path / "g")
    chunk = tmp_path / "g" / "chunk-000003.npz"  # rows 384..511: the second cell's
    with np.load(chunk) as z:
        assert z["within_at"].shape == (128, 2)
    chunk.unlink()
    kernel_calls.clear()
    again = grid(*XOR, 300, lrs=[0.5, 2.0], epochs_list=epochs, margin=0.4, store=tmp_path / "g")
    assert kernel_calls == [128]  # only the missing chunk
    np.testing.assert_array_equal(again.within_margin, first.within_margin)
    np.testing.assert_array_equal(again.loss, first.loss)
    with pytest.raises(ValueError, match=r"made with margin=0\.4, this run has margin=None"):
        grid(*XOR, 300, lrs=[0.5, 2.0], epochs_list=epochs, store=tmp_path / "g")
    # a sweep keeps no within_at (no lengths recorded): its chunks and its version are as they always were
    sweep(*XOR, 10, epochs=EPOCHS, margin=0.4, store=tmp_path / "s")
    with np.load(tmp_path / "s" / "chunk-000000.npz") as z:
        assert set(z.files) == {
            "params",
            "final_loss",
            "epochs_to_tol",
            "loss_at",
            "lo",
            "hi",
            "sha256",
            "store_sha256",
        }
    # version 4 only where chunks hold within_at: a build that reads 3 refuses such a store rather than misread it
    versions = [_manifest(tmp_path / d)["format_version"] for d in ("g", "s")]
    assert versions == [4, 3]


def test_with_a_margin_tol_may_differ_on_resume(tmp_path, small_chunks, kernel_calls):
    """A margin decides convergence, so tol decides nothing: a resume with another tol was refused."""
    first = sweep(*XOR, 300, epochs=EPOCHS, margin=0.4, tol=0.01, store=tmp_path / "s")
    (tmp_path / "s" / "chunk-000001.npz").unlink()
    kernel_calls.clear()
    again = sweep(*XOR, 300, epochs=EPOCHS, margin=0.4, tol=0.05, store=tmp_path / "s")
    assert kernel_calls == [128]  # only the missing chunk
    _same(again, first)
    assert again.tol == load_sweep(tmp_path / "s").tol == 0.01  # the store's own, as its chunk size
    g = grid(*XOR, 100, lrs=[0.5], epochs_list=[EPOCHS], margin=0.4, tol=0.01, store=tmp_path / "g")
    assert (
        grid(*XOR, 100, lrs=[0.5], epochs_list=[EPOCHS], margin=0.4, tol=0.05, store=tmp_path / "g").tol
        == g.tol
        == 0.01
    )
    with pytest.raises(ValueError, match=r"made with margin=0\.4, this run has margin=None"):
        sweep(*XOR, 300, epochs=EPOCHS, tol=0.05, store=tmp_path / "s")
    sweep(*XOR, 300, epochs=EPOCHS, tol=0.01, store=tmp_path / "t")
    with pytest.raises(ValueError, match=r"made with tol=0\.01, this run has tol=0\.05"):
        sweep(*XOR, 300, epochs=EPOCHS, tol=0.05, store=tmp_path / "t")


@pytest.mark.skipif(not JIT, reason="needs a sweep that runs for seconds; pure Python is 10^4 times slower")
def test_sigkill_then_resume_is_identical(tmp_path):
    path = tmp_path / "killed"
    n, epochs = 40 * 1024, 3000
    code = textwrap.dedent(f"""
        import fastbackprop as fb
        X, y = fb.datasets.xor()
        fb.sweep(X, y, {n}, epochs={epochs}, lr=0.5, threads=1, store={str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 120  # a hang's bound, not a timing
        done: list[str] = []
        while len(done) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
            names = os.listdir(path) if path.exists() else []
            done = [f for f in names if f.startswith("chunk-") and f.endswith(".npz")]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = load_sweep(path)
    assert not partial.complete and 3 * 1024 <= partial.n < n
    resumed = sweep(*XOR, n, epochs=epochs, lr=0.5, store=path)
    _same(resumed, sweep(*XOR, n, epochs=epochs, lr=0.5))


def test_files_a_killed_writer_left_half_written_are_removed_when_the_store_is_next_opened(tmp_path):
    path = tmp_path / "s"
    first = sweep(*XOR, 10, epochs=2, store=path)
    (path / "chunk-000001.npz.tmp-123-456-0123abcd").write_bytes(b"half a chunk")  # as write_atomic names them
    (path / "notes.tmp-mine").write_text("kept: not a name write_atomic makes")
    again = sweep(*XOR, 10, epochs=2, store=path)
    assert again.computed == 0 and sorted(os.listdir(path)) == sorted(
        ["chunk-000000.npz", "inputs.npz", "manifest.json", "lock", "notes.tmp-mine"]
    )
    _same(again, first)


# ---------------------------------------------------------------------------
# Shared stores: one writer at a time
# ---------------------------------------------------------------------------
def _manifest(path):
    import json

    with open(path / "manifest.json") as f:
        return json.load(f)


def _settings_of(path):
    return _manifest(path)["settings"]


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    from fastbackprop import StoreLockedError
    from fastbackprop.store import SweepStore

    path = tmp_path / "s"
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    X, y = (np.asarray(a, dtype=np.float64) for a in XOR)
    holder = SweepStore(path, {k: v for k, v in _settings_of(path).items()}, X, y, np.arange(300))
    with holder:  # another writer of this process (a second thread would open it the same way)
        with pytest.raises(StoreLockedError, match=rf"being written by process {os.getpid()} on "):
            sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)  # released: usable again


@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_a_writer_whose_lock_file_is_removed_stops_before_its_next_chunk(tmp_path, small_chunks, monkeypatch, how):
    """Removing DIR/lock let a second writer take a new one while the first went on writing."""
    from fastbackprop import StoreLockedError, store

    path, n = tmp_path / "s", 3 * _kernels.LANES
    real_write = store._Chunks.write

    def write_then_lose_the_lock(self, index, arrays):
        real_write(self, index, arrays)
        if index == 0:
            os.remove(path / "lock")
            if how == "replaced":  # as a second writer would: a new file, locked
                (path / "lock").write_text("{}")

    monkeypatch.setattr(store._Chunks, "write", write_then_lose_the_lock)
    with pytest.raises(StoreLockedError, match=r"its lock file was removed or replaced while this sweep held it"):
        sweep(*XOR, n, epochs=EPOCHS, lr=0.5, store=path, threads=1)
    assert sorted(f for f in os.listdir(path) if f.startswith("chunk-")) == ["chunk-000000.npz"]  # kept
    monkeypatch.undo()
    _same(sweep(*XOR, n, epochs=EPOCHS, lr=0.5, store=path), sweep(*XOR, n, epochs=EPOCHS, lr=0.5))


def test_two_threads_on_one_store_one_wins_cleanly(tmp_path, small_chunks):
    import threading

    from fastbackprop import StoreLockedError

    path, outcomes = tmp_path / "s", []

    def run():
        try:
            outcomes.append(
                sweep(*XOR, (40 if JIT else 4) * _kernels.LANES, epochs=EPOCHS, lr=0.5, store=path, threads=1)
            )
        except StoreLockedError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(outcomes) == 2 and len(results) >= 1, outcomes
    _same(load_sweep(path), results[0])
    assert not any(".tmp-" in f for f in os.listdir(path))


def test_a_manifest_that_appears_meanwhile_is_not_overwritten(tmp_path, monkeypatch):
    """The manifest is created exclusively: one written by another writer after our check stands, and is checked."""
    from fastbackprop import store

    path = tmp_path / "s"
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    for f in os.listdir(path):
        if f.startswith("chunk-"):
            os.remove(path / f)
    real_exists = os.path.exists
    monkeypatch.setattr(
        store.os.path, "exists", lambda p: False if str(p).endswith("manifest.json") else real_exists(p)
    )
    with pytest.raises(ValueError, match=r"made with lr=0\.5, this run has lr=2\.0"):
        sweep(*XOR, 300, epochs=EPOCHS, lr=2.0, store=path)
    assert _settings_of(path)["lr"] == 0.5


@pytest.mark.skipif(not JIT, reason="runs two sweeps of seconds each as subprocesses")
def test_job_array_race_on_one_store_never_mixes_settings(tmp_path):
    """Two CLI runs with other lr started together: one is refused; the store holds only the other's results.

    Which one wins, and whether by the lock or by the manifest, depends on timing;
    the deterministic checks of each are the tests above.
    """
    path = tmp_path / "s"
    cmd = [
        sys.executable,
        "-m",
        "fastbackprop",
        "sweep",
        "--dataset",
        "xor",
        "--seeds",
        "20000",
        "--epochs",
        "300",
        "--store",
        str(path),
        "--threads",
        "1",
        "--json",
    ]
    procs = [
        subprocess.Popen([*cmd, "--lr", lr], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for lr in ("0.5", "2")
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs
    loser = next(err for p, (_, err) in zip(procs, outs) if p.returncode == 2)
    assert loser.count("\n") == 1 and ("being written by process" in loser or "was made with lr=" in loser), loser
    stored = load_sweep(path)
    _same(stored, sweep(*XOR, 20000, epochs=300, lr=stored.lr))


@pytest.mark.skipif(not JIT, reason="a writer killed mid-sweep needs a sweep that runs for seconds")
def test_a_killed_writer_leaves_no_lock(tmp_path):
    path = tmp_path / "s"
    code = textwrap.dedent(f"""
        import sys, fastbackprop as fb
        X, y = fb.datasets.xor()
        print("started", flush=True)
        fb.sweep(X, y, 200000, epochs=3000, lr=0.5, threads=1, store={str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while not (path / "manifest.json").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        from fastbackprop import StoreLockedError

        with pytest.raises(StoreLockedError, match=f"process {proc.pid} "):
            sweep(*XOR, 200000, epochs=3000, lr=0.5, store=path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    partial = load_sweep(path)  # the lock died with its holder: the store opens
    assert not partial.complete


# ---------------------------------------------------------------------------
# Chunks bound to their store; hostile files
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "other",
    [dict(epochs=EPOCHS + 1), dict(dtype="float32"), dict(y=np.array([0.0, 1.0, 1.0, 1.0]))],
    ids=["other epochs", "float32 chunk", "other data"],
)
def test_a_chunk_from_another_store_is_recomputed(tmp_path, small_chunks, kernel_calls, other):
    args = dict(X=XOR[0], y=XOR[1], seeds=300, epochs=EPOCHS, lr=0.5)
    plain = sweep(**args)
    sweep(**args, store=tmp_path / "mine")
    sweep(**dict(args, **other), store=tmp_path / "theirs")
    (tmp_path / "mine" / "chunk-000001.npz").write_bytes((tmp_path / "theirs" / "chunk-000001.npz").read_bytes())
    assert load_sweep(tmp_path / "mine").n == 300 - _kernels.LANES  # not accepted as a result
    kernel_calls.clear()
    _same(sweep(**args, store=tmp_path / "mine"), plain)
    assert kernel_calls == [_kernels.LANES]


def test_a_chunk_copied_over_another_of_its_store_is_recomputed(tmp_path, small_chunks, kernel_calls):
    """Same shape, settings and a valid checksum, but other rows: its bounds give it away."""
    path = tmp_path / "s"
    plain = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    (path / "chunk-000001.npz").write_bytes((path / "chunk-000000.npz").read_bytes())
    partial = load_sweep(path)
    assert not partial.complete
    np.testing.assert_array_equal(partial.seeds, np.r_[0 : _kernels.LANES, 2 * _kernels.LANES : 300])
    kernel_calls.clear()
    _same(sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path), plain)
    assert kernel_calls == [_kernels.LANES]


def test_a_chunk_of_the_wrong_shape_with_a_valid_checksum_is_recomputed(tmp_path, small_chunks, kernel_calls):
    from fastbackprop.store import sha256

    path = tmp_path / "s"
    plain = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    chunk = path / "chunk-000000.npz"
    with np.load(chunk) as f:
        fields = dict(f)
    for name in ("params", "final_loss", "epochs_to_tol", "loss_at"):
        fields[name] = fields[name][:-1]  # one row short
    fields["sha256"] = np.str_(sha256(*(fields[k] for k in ("params", "final_loss", "epochs_to_tol", "loss_at"))))
    np.savez(chunk, **fields)
    kernel_calls.clear()
    _same(sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path), plain)
    assert kernel_calls == [_kernels.LANES]


def test_a_hostile_header_is_a_damaged_chunk_not_an_allocation(tmp_path, small_chunks):
    import io
    import zipfile

    path = tmp_path / "s"
    plain = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**11, 9)})
    with zipfile.ZipFile(path / "chunk-000002.npz", "w") as z:  # ~200 bytes claiming 6.5 TiB
        z.writestr("params.npy", header.getvalue())  # (the header comes with its magic string)
    assert os.path.getsize(path / "chunk-000002.npz") < 400
    assert load_sweep(path).n == 2 * _kernels.LANES
    _same(sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path), plain)


def test_chunks_without_a_manifest_are_refused_not_reused(tmp_path):
    path = tmp_path / "s"
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    os.remove(path / "manifest.json")  # "use another store" -- but the old chunks are still here
    with pytest.raises(ValueError, match=r"holds results .* but no manifest"):
        sweep(*XOR, 300, epochs=EPOCHS + 1, lr=0.5, store=path)
    with pytest.raises(ValueError, match="not a readable fastbackprop sweep store"):
        load_sweep(path)


def test_a_deleted_inputs_file_is_recreated(tmp_path):
    path = tmp_path / "s"
    plain = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    os.remove(path / "inputs.npz")
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    _same(load_sweep(path), plain)


def test_a_store_of_an_older_format_is_refused(tmp_path):
    import json

    path = tmp_path / "s"
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="format version 1"):
        sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    with pytest.raises(ValueError, match="format version 1"):
        load_sweep(path)


def test_grid_store_with_other_lengths_names_epochs_list(tmp_path):
    grid(*XOR, 300, lrs=[0.5], epochs_list=[EPOCHS // 2, EPOCHS], store=tmp_path / "g")
    with pytest.raises(ValueError, match=r"made with epochs_list=\["):
        grid(*XOR, 300, lrs=[0.5], epochs_list=[EPOCHS], store=tmp_path / "g")


def test_resume_and_load_hold_each_result_once(tmp_path):
    """Peak memory of resuming or loading a store: the outputs, not the outputs plus every chunk again."""
    import tracemalloc

    n = 20 * 1024 if JIT else 8 * 1024
    path = tmp_path / "s"
    first = sweep(*XOR, n, epochs=2, lr=0.5, store=path)
    result_bytes = sum(a.nbytes for a in (first.params, first.final_loss, first.epochs_to_tol, first.seeds))
    for call in (lambda: load_sweep(path), lambda: sweep(*XOR, n, epochs=2, lr=0.5, store=path)):
        tracemalloc.start()
        call()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 1.6 * result_bytes, (peak, result_bytes)


# ---------------------------------------------------------------------------
# Damaged or edited stores and files: refused or recomputed, never a traceback
# ---------------------------------------------------------------------------
def test_inputs_with_other_seeds_are_not_trusted(tmp_path):
    path = tmp_path / "s"
    plain = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    with np.load(path / "inputs.npz") as f:
        X, y, seeds = f["X"], f["y"], f["seeds"]
    np.savez(path / "inputs.npz", X=X, y=y, seeds=seeds[::-1])  # right shapes, wrong labels
    with pytest.raises(ValueError, match=r"damaged manifest or inputs\.npz"):
        load_sweep(path)
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)  # rewritten from the run's own seeds
    _same(load_sweep(path), plain)


@pytest.mark.parametrize("damage", ["encrypted", "unknown compression", "deflated"])
def test_members_not_stored_in_clear_are_damage(tmp_path, small_chunks, kernel_calls, damage):
    path = tmp_path / "s"
    plain = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    chunk = path / "chunk-000001.npz"
    data = bytearray(chunk.read_bytes())
    if damage == "deflated":
        import zipfile

        with np.load(chunk) as f:
            fields = dict(f)
        np.savez_compressed(chunk, **fields)
        assert zipfile.ZipFile(chunk).infolist()[0].compress_type == zipfile.ZIP_DEFLATED
    else:
        at = data.index(b"PK\x01\x02")  # the first central-directory entry
        if damage == "encrypted":
            data[at + 8] |= 0x1  # general-purpose flag: encrypted
        else:
            data[at + 10 : at + 12] = (99).to_bytes(2, "little")  # compression method 99
        chunk.write_bytes(bytes(data))
    kernel_calls.clear()
    _same(sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path), plain)
    assert kernel_calls == [_kernels.LANES]


@pytest.mark.parametrize(
    "edit",
    [
        dict(chunk_size=0),
        dict(dtype="float16"),
        dict(dtype="V100000000"),
        dict(n_samples=10**12),
        dict(epochs=None),
        # values the public functions refuse: merge --json printed Infinity and NaN, and wrote what no one reads
        dict(lr=math.inf),
        dict(lr=None),
        dict(tol=math.nan),
        dict(epochs=-5),
        dict(momentum=2.0),
        dict(lr_output=0.0),
        dict(margin=-1.0),
        dict(init_scale=True),
        dict(params0=5.0),
        dict(record_at=[2, 1]),
        dict(record_at=[10**9]),
        dict(momentum=1.0),
        dict(record_at=[1, 1]),
        dict(record_at=[0]),
        dict(epochs_to_tol="no"),
    ],
    ids=lambda edit: ", ".join(f"{k} {v}" for k, v in edit.items()),
)
def test_an_edited_manifest_is_refused_by_readers(tmp_path, edit):
    import json

    path = tmp_path / "s"
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["settings"].update(edit)
    if edit.get("epochs", 0) is None:
        del manifest["settings"]["epochs"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="damaged manifest"):
        load_sweep(path)


def test_inputs_and_chunks_whose_digests_were_recomputed_are_still_checked(tmp_path, small_chunks):
    """A digest says a file is the one written, not that what was written is sound: an edit with
    recomputed digests is refused for what a sweep would refuse (data, seeds, per-network values)
    or, in a chunk, for epochs to tol outside the run."""
    import json

    from fastbackprop.store import _store_digest, sha256

    path = tmp_path / "s"
    sweep(*XOR, 300, epochs=EPOCHS, lr=np.linspace(0.1, 1, 300), store=path)
    manifest = json.loads((path / "manifest.json").read_text())
    with np.load(path / "inputs.npz") as f:
        inputs = dict(f)
    chunk = path / "chunk-000000.npz"
    with np.load(chunk) as f:
        rows = dict(f)
    for name, value in [("X", np.r_[[[np.nan, 0.0]], inputs["X"][1:]]), ("seeds", inputs["seeds"] - 1)]:
        forged = dict(inputs, **{name: value})
        np.savez(path / "inputs.npz", **forged)
        settings = dict(manifest["settings"], data_sha256=sha256(forged["X"], forged["y"]))
        settings["seeds_sha256"] = sha256(forged["seeds"])
        (path / "manifest.json").write_text(json.dumps(dict(manifest, settings=settings)))
        with pytest.raises(ValueError, match=r"has a damaged manifest or inputs\.npz"):
            load_sweep(path)
    np.savez(path / "inputs.npz", **dict(inputs, lr=-inputs["lr"]))
    settings = dict(manifest["settings"], lr={"sha256": sha256(-inputs["lr"])})
    (path / "manifest.json").write_text(json.dumps(dict(manifest, settings=settings)))
    with pytest.raises(ValueError, match=r"has a damaged manifest or inputs\.npz"):
        load_sweep(path)
    np.savez(path / "inputs.npz", **inputs)
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert load_sweep(path).complete
    etl = np.full_like(rows["epochs_to_tol"], EPOCHS + 1)
    arrays = [rows[k] for k in ("params", "final_loss")] + [etl, rows["loss_at"]]
    np.savez(chunk, **dict(rows, epochs_to_tol=etl, sha256=np.str_(sha256(*arrays))))
    assert str(np.load(chunk)["store_sha256"]) == _store_digest(manifest["settings"])
    assert not load_sweep(path).complete  # the forged chunk is not used (and a rerun recomputes it)


def test_a_filesystem_without_locks_or_hard_links(tmp_path, monkeypatch):
    import errno

    from fastbackprop import StoreLockedError, store

    def no_links(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(store.os, "link", no_links)  # FAT, some network filesystems
    plain = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    _same(load_sweep(tmp_path / "s"), plain)

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(store.fcntl, "flock", no_locks)
    with pytest.raises(OSError, match=r"cannot lock store .* use a filesystem with locks") as exc:
        sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=tmp_path / "t")
    assert not isinstance(exc.value, StoreLockedError)


def test_a_result_that_cannot_be_saved_names_the_path_given(tmp_path):
    res = sweep(*XOR, 5, epochs=2)
    with pytest.raises(IsADirectoryError) as exc:
        res.save(tmp_path)
    assert exc.value.filename == str(tmp_path)
    missing = tmp_path / "no" / "r.npz"
    with pytest.raises(FileNotFoundError) as exc:
        res.save(missing)
    assert exc.value.filename == str(missing) and not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# A store damaged by the outside world (links, FIFOs, directories, a full disk)
# ---------------------------------------------------------------------------
def test_a_chunk_linked_to_another_store_is_replaced_not_written_through(tmp_path, small_chunks):
    X, y = datasets.xor()
    a, b = tmp_path / "a", tmp_path / "b"
    sweep(X, y, 512, epochs=3, lr=0.5, store=a)
    sweep(X, y, 512, epochs=3, lr=2.0, store=b)
    before = (a / "chunk-000001.npz").read_bytes()
    (b / "chunk-000001.npz").unlink()
    (b / "chunk-000001.npz").symlink_to(a / "chunk-000001.npz")  # a lr=0.5 chunk: refused, recomputed
    (b / "chunk-000002.npz").unlink()
    (b / "chunk-000002.npz").symlink_to(tmp_path / "outside.npz")  # dangling
    resumed = sweep(X, y, 512, epochs=3, lr=2.0, store=b)
    assert (a / "chunk-000001.npz").read_bytes() == before and not (tmp_path / "outside.npz").exists()
    assert not (b / "chunk-000001.npz").is_symlink() and not (b / "chunk-000002.npz").is_symlink()
    np.testing.assert_array_equal(resumed.params, sweep(X, y, 512, epochs=3, lr=2.0).params)
    assert load_sweep(a).complete and load_sweep(b).complete


def test_a_fifo_in_a_store_is_a_missing_chunk_not_a_hang(tmp_path, small_chunks):
    X, y = datasets.xor()
    path = tmp_path / "s"
    sweep(X, y, 512, epochs=3, lr=0.5, store=path)
    (path / "chunk-000003.npz").unlink()
    os.mkfifo(path / "chunk-000003.npz")

    def load():  # in a process of its own: a regression would block in open(), not fail
        code = f"import fastbackprop as fb; r = fb.load_sweep({str(path)!r}); print(r.n, r.complete)"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    res = load()
    assert res.stdout.split() == ["384", "False"], res.stderr[-2000:]
    (path / "chunk-000003.npz").unlink()
    (path / "manifest.json").unlink()
    os.mkfifo(path / "manifest.json")
    assert "is not a readable fastbackprop sweep store" in load().stderr


@pytest.mark.parametrize("name", ["chunk-000001.npz", "inputs.npz"])
def test_a_directory_in_place_of_a_stores_file_is_refused_before_training(tmp_path, small_chunks, name):
    X, y = datasets.xor()
    path = tmp_path / "s"
    sweep(X, y, 512, epochs=3, lr=0.5, store=path)
    (path / name).unlink()
    (path / name).mkdir()
    with pytest.raises(ValueError, match=rf"has {name}, which is not a regular file; remove it and run again"):
        sweep(X, y, 512, epochs=3, lr=0.5, store=path)


def test_a_full_disk_names_the_file_and_leaves_no_lock_behind(tmp_path, small_chunks, monkeypatch):
    import errno as errno_

    from fastbackprop import store as store_module

    X, y = datasets.xor()
    path = tmp_path / "s"
    real = os.fsync

    def full(fd):
        raise OSError(errno_.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "fsync", full)
    with pytest.raises(OSError, match=r"No space left on device: '.*inputs\.npz'") as failed:
        sweep(X, y, 512, epochs=3, lr=0.5, store=path)
    monkeypatch.setattr(store_module.os, "fsync", real)
    # ``failed`` keeps the traceback, and with it the store's lock object, alive (as a notebook does)
    # writing the lock holder's name fails once the lock is taken (a full disk; here, a name JSON refuses)
    monkeypatch.setattr(store_module.socket, "gethostname", object)
    with pytest.raises(TypeError, match="not JSON serializable") as failed_again:
        sweep(X, y, 512, epochs=3, lr=0.5, store=path)
    monkeypatch.undo()
    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)
    monkeypatch.setattr(_execution, "STORE_CHUNK_GROWTH", 1)
    assert sweep(X, y, 512, epochs=3, lr=0.5, store=path).complete  # not locked out by this very process
    assert failed.value is not None and failed_again.value is not None


def test_a_manifest_nested_too_deep_is_not_a_readable_store(tmp_path):
    path = tmp_path / "s"
    path.mkdir()
    (path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"is not a readable fastbackprop sweep store$"):
        load_sweep(path)


def test_a_refusal_shows_a_long_setting_by_its_first_values(tmp_path):
    X, y = datasets.xor()
    path = tmp_path / "s"
    grid(X, y, 4, lrs=[0.5], epochs_list=list(range(1, 201)), store=path)
    with pytest.raises(ValueError) as refused:
        grid(X, y, 4, lrs=[0.5], epochs_list=list(range(2, 201)), store=path)  # the same longest length
    message = str(refused.value)
    assert "[1, 2, 3, 4, 5, 6, 7, 8, ...]" in message and len(message) < 400, message


def test_links_and_fifos_where_a_stores_files_belong(tmp_path, small_chunks):
    X, y = datasets.xor()
    path, outside = tmp_path / "s", tmp_path / "outside"
    outside.mkdir()
    sweep(X, y, 512, epochs=3, lr=0.5, store=path)
    # a chunk linked to a FIFO elsewhere: the link is replaced (it was refused after training)
    os.mkfifo(outside / "fifo")
    (path / "chunk-000001.npz").unlink()
    (path / "chunk-000001.npz").symlink_to(outside / "fifo")
    assert sweep(X, y, 512, epochs=3, lr=0.5, store=path).complete
    assert not (path / "chunk-000001.npz").is_symlink()
    # the lock linked to a file elsewhere: refused, the file untouched (it was truncated and written)
    (outside / "notes.txt").write_text("mine")
    (path / "lock").unlink(missing_ok=True)
    (path / "lock").symlink_to(outside / "notes.txt")
    with pytest.raises(ValueError, match=r"has lock, which is not a regular file .*; remove it and run again"):
        sweep(X, y, 512, epochs=3, lr=0.5, store=path)
    assert (outside / "notes.txt").read_text() == "mine"
    (path / "lock").unlink()
    os.mkfifo(path / "lock")  # (opening it would wait for a writer)
    with pytest.raises(ValueError, match=r"has lock, which is not a regular file"):
        sweep(X, y, 512, epochs=3, lr=0.5, store=path)
    # a new store whose manifest.json is a dangling link: nothing is written where it points
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "manifest.json").symlink_to(outside / "manifest.json")
    with pytest.raises(ValueError, match="no readable fastbackprop manifest"):
        sweep(X, y, 512, epochs=3, lr=0.5, store=fresh)
    assert not (outside / "manifest.json").exists()


def test_a_refusal_whose_shortened_values_look_alike_says_they_differ(tmp_path):
    X, y = datasets.xor()
    path = tmp_path / "s"
    grid(X, y, 4, lrs=[0.5], epochs_list=list(range(1, 201)), store=path)
    with pytest.raises(ValueError, match=r"was made with other values of epochs_list; use another store$"):
        grid(X, y, 4, lrs=[0.5], epochs_list=[e for e in range(1, 201) if e != 150], store=path)


def test_an_output_is_tried_under_the_name_it_is_written_under_and_leaves_nothing(tmp_path, monkeypatch):
    from fastbackprop.store import cannot_write

    name = str(tmp_path / ("a" * 230 + ".pgf"))  # fits; its temporary name does not
    longer = r"\(File name too long: it is written first under a name \d\d characters longer\)$"
    assert re.search(longer, cannot_write(name))
    assert cannot_write(name + "a" * 30) == "cannot be written (File name too long)"  # its own name
    assert cannot_write(name, in_place=True) is None  # a pgf figure is written where it is
    assert cannot_write(str(tmp_path / "ok.npz")) is None
    real_close = os.close

    def quota(fd):
        real_close(fd)
        raise OSError(122, "Disk quota exceeded")  # as a network filesystem reports it, at close

    monkeypatch.setattr(os, "close", quota)
    assert cannot_write(str(tmp_path / "q.npz")) == "cannot be written (Disk quota exceeded)"
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no probe left behind


@pytest.mark.parametrize("move", ["link repointed", "working directory changed"])
def test_a_sweep_writes_into_the_folder_it_locked_whatever_its_name_comes_to_mean(tmp_path, monkeypatch, move):
    """The store's name was resolved again for each chunk: a link repointed (ln -sfn) or a chdir
    mid-sweep sent the remaining chunks into another, finished store, replacing its rows."""
    from fastbackprop import store as store_module

    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)
    monkeypatch.setattr(_execution, "STORE_CHUNK_GROWTH", 1)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    other = sweep(*XOR, 300, epochs=EPOCHS, lr=2.0, store=tmp_path / "b" / "s")  # another store, finished
    if move == "link repointed":
        (tmp_path / "a" / "s").mkdir()
        (tmp_path / "current").symlink_to(tmp_path / "a" / "s")
        name = str(tmp_path / "current")
    else:
        monkeypatch.chdir(tmp_path / "a")
        name = "s"
    write, moved = store_module.SweepStore.write, threading.Event()

    def moved_after_the_first_chunk(self, index, rows):
        write(self, index, rows)
        with lock:  # (chunks are written from every thread)
            if not moved.is_set():
                moved.set()
                if move == "link repointed":
                    (tmp_path / "current").unlink()
                    (tmp_path / "current").symlink_to(tmp_path / "b" / "s")
                else:
                    os.chdir(tmp_path / "b")

    lock = threading.Lock()

    monkeypatch.setattr(store_module.SweepStore, "write", moved_after_the_first_chunk)
    res = sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=name)
    monkeypatch.undo()
    _same(load_sweep(tmp_path / "a" / "s"), res)
    _same(load_sweep(tmp_path / "b" / "s"), other)


def test_a_store_of_explicit_starts_counts_them_as_starts(tmp_path):
    starts = np.random.default_rng(0).normal(size=(5, 9))
    sweep(*XOR, None, epochs=EPOCHS, params0=starts[:4], store=tmp_path / "s")
    with pytest.raises(ValueError, match=r"was made for 4 starting points, this run has 5; use another store$"):
        sweep(*XOR, None, epochs=EPOCHS, params0=starts, store=tmp_path / "s")
