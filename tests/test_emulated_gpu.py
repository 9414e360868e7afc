"""The GPU host path on numba-cuda's own device arrays, copies and kernel arguments, no GPU needed.

The simulator's device arrays are NumPy's, and the stand-ins of test_concurrency.py are
written here: neither slices, copies or passes arrays as numba-cuda does. On an H200 a
launch of several chunks got one row of an (n, 0) loss history (numba-cuda slices such an
array to (1, 0)), which neither could show. ``emulated_gpu`` keeps numba-cuda's real
DeviceNDArray, dummyarray, copies and argument packing, and emulates only device memory
(host RAM, filled with garbage), streams (queues run at synchronisation) and the kernel
(the CPU kernels, reading the packed arguments as the compiled signature lays them out).
"""

import numpy as np
import pytest

import fastbackprop as fb

from .conftest import JIT

pytest.importorskip("numba_cuda")
pytest.importorskip("cuda.bindings")
pytestmark = pytest.mark.skipif(not JIT, reason="the CPU kernels stand in for the GPU's: compiled, in the JIT pass")


@pytest.fixture
def gpu(monkeypatch):
    from fastbackprop import _execution

    from .emulated_gpu import emulated_gpu

    monkeypatch.setattr(_execution, "CUDA_BLOCKS_PER_CHUNK", 1)  # chunks of 128: launches of several chunks
    monkeypatch.setattr(_execution, "CUDA_LAUNCH_SECONDS", 1e9)  # growing 4x: buffers reused and outgrown
    with emulated_gpu() as kernels:
        yield kernels


def _same(a, b, fields):
    for f in fields:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_sweeps_with_every_option_equal_the_cpu(gpu):
    X, y = fb.datasets.xor()
    n = 128 * 11 + 5
    rng = np.random.default_rng(1)
    cases = {
        "float32": dict(lr=0.5, dtype="float32"),
        "float64": dict(lr=0.5, dtype="float64"),
        "per network": dict(lr=rng.uniform(0.1, 4, n), lr_output=rng.uniform(0.1, 4, n),
                            momentum=rng.choice([0.0, 0.9], n), dtype="float32"),
        "params0": dict(lr=0.5, params0=rng.normal(0, 2, (n, 9))),
        "uniform, init_scale per network": dict(lr=0.5, init="uniform", init_scale=rng.uniform(0.2, 4, n)),
        "tanh, margin, momentum": dict(lr=0.3, activation="tanh", margin=0.4, momentum=0.5),
        "no epochs_to_tol": dict(lr=0.5, epochs_to_tol=False),
    }  # fmt: skip
    for kw in cases.values():
        yt = 2 * y - 1 if kw.get("activation") == "tanh" else y
        _same(fb.sweep(X, yt, n, epochs=40, device="cuda", **kw), fb.sweep(X, yt, n, epochs=40, **kw),
              ("params", "final_loss", "epochs_to_tol", "converged"))  # fmt: skip
    launches = sorted({blocks for kernel in gpu.values() for blocks, _ in kernel.launches})
    assert launches[-1] > 1  # launches of several chunks


def test_grids_maps_and_the_sample_loop_equal_the_cpu(gpu):
    X, y = fb.datasets.xor()
    for kw in (dict(), dict(margin=0.4), dict(momenta=[0.0, 0.9])):
        fields = ("loss", "epochs_to_tol") + (("within_margin",) if "margin" in kw else ())
        args = (X, y, 700)
        _same(fb.grid(*args, lrs=[0.1, 1.0], epochs_list=[3, 10, 40], device="cuda", **kw),
              fb.grid(*args, lrs=[0.1, 1.0], epochs_list=[3, 10, 40], **kw), fields)  # fmt: skip
    make = lambda d: fb.init_map(X, y, 2, ("w1", "w2"), ((-6, 6), (-6, 6)), (40, 48), epochs=40, lr=0.5, device=d)  # noqa: E731
    _same(make("cuda"), make("cpu"), ("params", "final_loss", "epochs_to_tol"))
    rng = np.random.default_rng(2)
    X20, y20 = rng.normal(0, 1, (20, 2)), (rng.random(20) > 0.5).astype(float)  # > 16 samples: the loop kernel
    _same(fb.sweep(X20, y20, 300, epochs=5, lr=0.5, device="cuda"), fb.sweep(X20, y20, 300, epochs=5, lr=0.5),
          ("params", "final_loss", "epochs_to_tol"))  # fmt: skip


def test_a_store_written_and_read_back_equals_the_cpu(gpu, tmp_path):
    X, y = fb.datasets.xor()
    fields = ("params", "final_loss", "epochs_to_tol")
    cpu = fb.sweep(X, y, 128 * 9, epochs=40, lr=0.5)
    _same(fb.sweep(X, y, 128 * 9, epochs=40, lr=0.5, device="cuda", store=tmp_path / "s"), cpu, fields)
    again = fb.sweep(X, y, 128 * 9, epochs=40, lr=0.5, device="cuda", store=tmp_path / "s")  # every chunk read
    assert again.computed == 0
    _same(again, cpu, fields)
    _same(fb.load_sweep(tmp_path / "s"), cpu, fields)
