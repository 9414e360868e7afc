"""User-visible start-up costs: first-call compilation and the warm CLI.

Each round runs a fresh interpreter. "cold" points NUMBA_CACHE_DIR at an
empty folder, so the kernels compile; "warm" reuses a filled one.
"""

import contextlib
import os
import subprocess
import sys
import tempfile

import pytest

from .conftest import SMOKE

pytestmark = pytest.mark.bench

SCRIPT = """
import time
t0 = time.perf_counter()
import numpy as np
from fastbackprop import Network, datasets
t1 = time.perf_counter()
X, y = datasets.gender()
Network(seed=2).train(X, y)
t2 = time.perf_counter()
Network(seed=3).train(X, y)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def _run(cmd, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return res.stdout


@contextlib.contextmanager
def _empty_cache():
    """An empty Numba cache folder; in a smoke run (``SMOKE``), which times nothing, the one
    in ``NUMBA_CACHE_DIR`` if set (CI's, filled by the tests): the same code, seconds less."""
    if SMOKE and os.environ.get("NUMBA_CACHE_DIR"):
        yield os.environ["NUMBA_CACHE_DIR"]
        return
    with tempfile.TemporaryDirectory() as d:
        yield d


@pytest.fixture(scope="module")
def warm_cache():
    with _empty_cache() as d:
        _run([sys.executable, "-c", SCRIPT], d)
        yield d


def _cold(benchmark, script, rounds):
    """Time ``script`` in fresh interpreters with empty caches; the minimum of each printed number."""
    benchmark.group = "start-up (fresh interpreter per round)"
    timings = []

    def run():
        with _empty_cache() as d:
            timings.append([float(v) for v in _run([sys.executable, "-c", script], d).split()])

    benchmark.pedantic(run, rounds=rounds)
    return [min(column) for column in zip(*timings)]


def test_first_train_call_cold_cache(benchmark):
    """Import + first Network.train in a new interpreter with an empty cache."""
    imp, first, second = _cold(benchmark, SCRIPT, rounds=3)
    benchmark.extra_info.update(import_s=imp, first_train_s=first, compile_s=first - second)


def test_first_train_call_warm_cache(benchmark, warm_cache):
    benchmark.group = "start-up (fresh interpreter per round)"
    timings = []
    benchmark.pedantic(
        lambda: timings.append([float(v) for v in _run([sys.executable, "-c", SCRIPT], warm_cache).split()]),
        rounds=5,
    )
    imp, first, second = (min(t[i] for t in timings) for i in range(3))
    benchmark.extra_info.update(import_s=imp, first_train_s=first, load_s=first - second)


def test_cli_train_warm_cache(benchmark, warm_cache):
    """``fastbackprop train`` end to end (interpreter start included)."""
    benchmark.group = "start-up (fresh interpreter per round)"
    benchmark.pedantic(_run, args=([sys.executable, "-m", "fastbackprop", "train"], warm_cache), rounds=5)


SWEEP_SCRIPT = """
import time
import fastbackprop as fb
X, y = fb.datasets.gender()
t0 = time.perf_counter()
fb.sweep(X, y, 256, epochs=2)
t1 = time.perf_counter()
fb.sweep(X, y, 256, epochs=2, dtype="float32")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def test_first_sweep_call_cold_cache(benchmark):
    """First sweep of each dtype in a new interpreter with an empty cache (compiles the kernel)."""
    f64, f32 = _cold(benchmark, SWEEP_SCRIPT, rounds=2)
    benchmark.extra_info.update(f64_compile_s=f64, f32_compile_s=f32)


OPTIONS_SCRIPT = """
import time
import fastbackprop as fb
X, y = fb.datasets.gender()
fb.sweep(X, y, 256, epochs=2)
times = []
for options in {variants}:
    t0 = time.perf_counter()
    fb.sweep(X, y, 256, epochs=2, **options)
    times.append(time.perf_counter() - t0)
print(*times)
"""
VARIANTS = {
    "momentum": dict(momentum=0.9),
    "tanh": dict(activation="tanh"),
    "tanh_momentum": dict(activation="tanh", momentum=0.9),
}


def test_first_sweep_of_each_option_variant_cold_cache(benchmark):
    """Each kernel variant (momentum, tanh, both) compiles on its first use, after the default's (float64).

    The smoke run compiles one variant: the same code path, a third of the time.
    """
    names = list(VARIANTS)[:1] if SMOKE else list(VARIANTS)
    times = _cold(benchmark, OPTIONS_SCRIPT.format(variants=[VARIANTS[n] for n in names]), rounds=2)
    benchmark.extra_info.update({f"{n}_compile_s": t for n, t in zip(names, times)})


PTX_SCRIPT = """
import time, types
import numpy as np
import numba.cuda.dispatcher as dispatcher
# no GPU needed: NVVM compiles for a named compute capability (sm_90)
dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0), id=0)
from fastbackprop import _cuda
times = []
for dtype, tanh, momentum, per_network, samples in {variants}:
    t0 = time.perf_counter()
    _cuda.ptx(_cuda.Variant(np.dtype(dtype), tanh, momentum, per_network, samples))
    times.append(time.perf_counter() - t0)
print(*times)
"""
GPU_VARIANTS = {
    "f32_4_samples": ("float32", False, False, False, 4),
    "f32_16_samples": ("float32", False, False, False, 16),
    "f32_loop": ("float32", False, False, False, 0),
    "f64_tanh_momentum_per_network_4_samples": ("float64", True, True, True, 4),
}


def test_gpu_kernel_compile_to_ptx(benchmark):
    """The GPU kernel's first-call compile, the part a CPU can time: Numba and NVVM to PTX, in a new
    interpreter (ptxas and loading onto the GPU follow at launch; GPU kernels are not cached on disk).

    The smoke run compiles one variant.
    """
    pytest.importorskip("numba_cuda")
    probe = "from numba.cuda.cudadrv import nvvm; nvvm.NVVM()"
    if subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode:
        pytest.skip("libNVVM is not installed (numba-cuda[cu13])")
    names = list(GPU_VARIANTS)[:1] if SMOKE else list(GPU_VARIANTS)
    times = _cold(benchmark, PTX_SCRIPT.format(variants=[GPU_VARIANTS[n] for n in names]), rounds=2)
    benchmark.extra_info.update({f"{n}_ptx_s": t for n, t in zip(names, times)})
