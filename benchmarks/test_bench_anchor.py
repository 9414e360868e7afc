"""The CPU anchor: JAX at its best on the same cores, beside the package's sweep, in one run.

JAX at its best here is the hand-batched training (``rivals.jax_train_batched``:
one array per parameter, which XLA fuses into one pass per epoch; 2.6-3.5x
the float64 and 6-8x the float32 speed of ``vmap`` of one network's scan),
``pmap`` over one host device per core, each training 10,000 networks
(``benchmarks/jax_anchor.py``): per device, 5,000-20,000 give the same speed
within noise, 2,500 less (too little work per dispatch: -20 % in float64)
and 40,000 less in float32 (-23 %: the batch's state leaves the core's L2),
at 300 epochs on the 2-core Zen 3 box. The package sweeps the same
2 x 10,000 seeds on all threads.
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
    # JAX trains the same networks (its own exp and sigmoid: rounding differences, grown over 3000 epochs)
    assert anchor["max_abs_diff_vs_fastbackprop"] < (1e-9 if dtype == "float64" else 1e-2), anchor
    n = DEVICES * PER_DEVICE
    X, y = datasets.gender()
    sweep(X, y, 256, epochs=2, dtype=dtype)  # compile / load outside the timing
    benchmark.group = f"sweep {dtype} beside JAX at its best, {n:,} networks, {EPOCHS} epochs"
    benchmark.extra_info["label"] = "numba kernel, all threads"
    benchmark.pedantic(sweep, args=(X, y, n), kwargs=dict(epochs=EPOCHS, dtype=dtype), rounds=3)
    benchmark.extra_info.update(runs=n, jax_runs_per_second=anchor["runs_per_second"], jax=anchor)
