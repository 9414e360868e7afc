"""Durable stores: resume after SIGKILL, recompute damaged chunks, refuse other settings."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastbackprop import _execution, _kernels, datasets, grid, load_sweep, sweep

from .conftest import JIT, SWEEP_EPOCHS

XOR = datasets.xor()
N = 3000 if JIT else 400
EPOCHS = SWEEP_EPOCHS // 3 if JIT else 2


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)  # 128-seed chunks


@pytest.fixture
def kernel_calls(monkeypatch):
    calls = []
    real = _kernels.train_blocks

    def counting(*args):
        if args[2].shape[0]:  # not the empty warm-up call
            calls.append(args[2].shape[0])
        return real(*args)

    monkeypatch.setattr(_kernels, "train_blocks", counting)
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
    np.testing.assert_array_equal(partial.seeds, plain.seeds[3 * _kernels.LANES :])
    kernel_calls.clear()
    resumed = sweep(*XOR, N, epochs=EPOCHS, lr=0.5, store=path)
    assert kernel_calls == [_kernels.LANES] * 3  # exactly the three bad chunks
    _same(resumed, plain)
    assert load_sweep(path).complete


@pytest.mark.parametrize("field", ["params", "final_loss", "epochs_to_tol", "loss_at"])
def test_damage_to_any_stored_array_is_caught(tmp_path, small_chunks, kernel_calls, field):
    """The checksum covers every array of a chunk, not only the parameters."""
    path = tmp_path / "g"
    first = grid(*XOR, 300, [0.5], [EPOCHS // 2, EPOCHS], store=path)  # loss_at has columns in a grid
    chunk = path / "lr-000" / "chunk-000001.npz"
    with np.load(chunk) as f:
        fields = dict(f)
    assert fields[field].size
    fields[field] = fields[field] + np.ones((), dtype=fields[field].dtype)  # a valid file, wrong contents
    np.savez(chunk, **fields)
    kernel_calls.clear()
    again = grid(*XOR, 300, [0.5], [EPOCHS // 2, EPOCHS], store=path)
    assert kernel_calls == [_kernels.LANES]  # that chunk, recomputed
    np.testing.assert_array_equal(again.loss, first.loss)
    np.testing.assert_array_equal(again.epochs_to_tol, first.epochs_to_tol)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads file names from /proc")
def test_every_file_is_synced_before_it_is_renamed_into_place(tmp_path, small_chunks, monkeypatch):
    synced, renamed = set(), []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        synced.add(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src, dst):
        renamed.append((os.path.realpath(src) in synced, os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    sweep(*XOR, 300, epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    names = sorted(name for _, name in renamed)
    assert names == ["chunk-000000.npz", "chunk-000001.npz", "chunk-000002.npz", "inputs.npz", "manifest.json"]
    assert all(was_synced for was_synced, _ in renamed), renamed


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(epochs=EPOCHS + 1), "epochs="),
        (dict(lr=0.25), "lr=0.5, this run has lr=0.25"),
        (dict(dtype="float32"), "dtype='float64', this run has dtype='float32'"),
        (dict(tol=0.02), "tol="),
        (dict(seeds=np.arange(1, 301)), "was made for other seeds"),
        (dict(seeds=500), "n_seeds=300, this run has n_seeds=500"),
        (dict(y=np.array([0, 1, 1, 1.0])), "was made for other training data"),
    ],
)
def test_other_settings_are_refused(tmp_path, change, match):
    args = dict(X=XOR[0], y=XOR[1], seeds=300, epochs=EPOCHS, lr=0.5)
    sweep(**args, store=tmp_path / "s")
    args.update(change)
    with pytest.raises(ValueError, match=match):
        sweep(**args, store=tmp_path / "s")


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
    with pytest.raises(TypeError, match="store must be a path"):
        sweep(*XOR, 10, epochs=2, store=3)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="no readable fastbackprop manifest"):
        sweep(*XOR, 10, epochs=2, store=tmp_path / "junk")
    with pytest.raises(ValueError, match="not a readable fastbackprop sweep store"):
        load_sweep(tmp_path / "junk")


def test_grid_store_resumes_per_learning_rate(tmp_path, small_chunks, kernel_calls):
    epochs = [EPOCHS // 2, EPOCHS]
    first = grid(*XOR, 300, [0.5, 1.0], epochs, store=tmp_path / "g")
    assert sorted(os.listdir(tmp_path / "g")) == ["lr-000", "lr-001"]
    kernel_calls.clear()
    again = grid(*XOR, 300, [0.5, 1.0], epochs, store=tmp_path / "g")
    assert kernel_calls == []
    np.testing.assert_array_equal(again.loss, first.loss)
    np.testing.assert_array_equal(again.epochs_to_tol, first.epochs_to_tol)
    with pytest.raises(ValueError, match=r"lr=0\.5, this run has lr=2\.0"):
        grid(*XOR, 300, [2.0], epochs, store=tmp_path / "g")


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
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = (
                [f for f in os.listdir(path) if f.startswith("chunk-") and f.endswith(".npz")] if path.exists() else []
            )
            if len(done) >= 3:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = load_sweep(path)
    assert not partial.complete and 3 * 1024 <= partial.n < n
    resumed = sweep(*XOR, n, epochs=epochs, lr=0.5, store=path)
    _same(resumed, sweep(*XOR, n, epochs=epochs, lr=0.5))
