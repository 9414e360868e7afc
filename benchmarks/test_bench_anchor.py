"""The CPU anchor: JAX at its best on the same cores, beside the package's sweep, in one run.

JAX at its best here is ``pmap`` over one host device per core, each training
10,000 networks (``benchmarks/jax_anchor.py``): per device, 10,000 beat 2,500
(too little work per dispatch) and 40,000 (the batch's state leaves the core's
cache) — 24,400 vs 21,900 and 18,400 runs/s at 300 epochs, float64, on the
2-core Zen 3 box. The package sweeps the same 2 x 10,000 seeds on all threads.
Skipped where JAX is not installed (``pip install 'fastbackprop[bench]'``).
"""

import importlib.util
import json
import os
import subprocess
import sys

import numba
import pytest

from fastbackprop import datasets, sweep

from .conftest import SMOKE

pytestmark = [
    pytest.mark.bench,
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (the bench extra)"),
]

EPOCHS = 30 if SMOKE else 3000
PER_DEVICE = 1000 if SMOKE else 10_000
DEVICES = numba.config.NUMBA_NUM_THREADS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sweep_beside_jax_at_its_best(benchmark, dtype):
    cmd = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "jax_anchor.py"),
        "--dtype",
        dtype,
        "--per-device",
        str(PER_DEVICE),
        "--epochs",
        str(EPOCHS),
        "--devices",
        str(DEVICES),
    ]
    anchor = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800).stdout)
    n = DEVICES * PER_DEVICE
    X, y = datasets.gender()
    sweep(X, y, 256, epochs=2, dtype=dtype)  # compile / load outside the timing
    benchmark.group = f"sweep {dtype} beside JAX at its best, {n:,} networks, {EPOCHS} epochs"
    benchmark.extra_info["label"] = "numba kernel, all threads"
    benchmark.pedantic(sweep, args=(X, y, n), kwargs=dict(epochs=EPOCHS, dtype=dtype), rounds=3)
    benchmark.extra_info.update(runs=n, jax_runs_per_second=anchor["runs_per_second"], jax=anchor)
