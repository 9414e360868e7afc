"""Per-network options: what each costs beside the plain sweep, measured in one run.

Gender data, 3000 epochs, lr 0.2, S = 10,000 seeds, all threads. Every round
runs each configuration once, in turn, so all see the same machine; the
figures are the best of 5 rounds (on a shared box the slow rounds are other
tenants' bursts, which medians of 3 did not average away: ±20 % between
runs). ``tol`` is set where every network meets it after the first epoch
(MSE < 4 always holds for these targets), so the loss is evaluated only at
the end and the ratios compare the training arithmetic itself, not how fast
each recipe converges (which decides how long exact ``epochs_to_tol`` keeps
evaluating the loss).
"""

import time

import numpy as np
import pytest

from fastbackprop import datasets, sweep

from .conftest import SMOKE, seeds

pytestmark = pytest.mark.bench

X, Y = datasets.gender()
S = seeds(10_000)
EPOCHS = 3000
TOL = 4.0

CONFIGS = {
    "plain (scalar settings)": {},
    "per-network arrays of one value": dict(
        lr=np.full(S, 0.2), lr_output=np.full(S, 0.2), momentum=np.zeros(S), init_scale=np.ones(S)
    ),
    "momentum 0.9": dict(momentum=0.9),
    "tanh": dict(activation="tanh"),
    "tanh + momentum 0.9 + lr_output": dict(activation="tanh", momentum=0.9, lr_output=0.05),
}
#: Slowest each may be, as a fraction of the plain sweep's speed.
OPTION_BARS = {"per-network arrays of one value": 0.95, "momentum 0.9": 0.75, "tanh": 0.9}


# The smoke run (each body once) trains float64 only: the float32 variants would compile for nothing timed.
@pytest.mark.parametrize("dtype", ["float64"] if SMOKE else ["float64", "float32"])
def test_sweep_options(benchmark, dtype):
    benchmark.group = f"options {dtype}, S={S // 1000}k, 3000 epochs"
    benchmark.extra_info["label"] = "every configuration, in turn, per round"
    for options in CONFIGS.values():
        sweep(X, Y, 256, epochs=2, dtype=dtype, **{k: v[:256] if np.ndim(v) else v for k, v in options.items()})
    times = {name: [] for name in CONFIGS}

    def each_in_turn():
        for name, options in CONFIGS.items():
            start = time.perf_counter()
            sweep(X, Y, S, epochs=EPOCHS, dtype=dtype, tol=TOL, **options)
            times[name].append(time.perf_counter() - start)

    benchmark.pedantic(each_in_turn, rounds=5)
    plain = min(times["plain (scalar settings)"])
    benchmark.extra_info["options"] = {
        name: {"runs_per_second": S / min(t), "vs_plain": plain / min(t)} for name, t in times.items()
    }


XOR_CONFIGS = {"XOR, exact epochs_to_tol (default)": {}, "XOR, epochs_to_tol=False": dict(epochs_to_tol=False)}
OPTION_BARS["XOR, epochs_to_tol=False"] = 1.5


@pytest.mark.parametrize("dtype", ["float64"] if SMOKE else ["float64", "float32"])
def test_xor_without_epochs_to_tol(benchmark, dtype):
    """XOR at lr 0.5, where a quarter of the seeds never reach tol: their blocks evaluate the loss
    after every epoch while epochs to tol is tracked, and only at the end when it is not."""
    Xx, Yx = datasets.xor()
    benchmark.group = f"options XOR {dtype}, S={S // 1000}k, 3000 epochs, lr 0.5"
    benchmark.extra_info["label"] = "tracked and untracked, in turn, per round"
    for options in XOR_CONFIGS.values():
        sweep(Xx, Yx, 256, epochs=2, dtype=dtype, **options)
    times = {name: [] for name in XOR_CONFIGS}

    def each_in_turn():
        for name, options in XOR_CONFIGS.items():
            start = time.perf_counter()
            sweep(Xx, Yx, S, epochs=EPOCHS, lr=0.5, dtype=dtype, **options)
            times[name].append(time.perf_counter() - start)

    benchmark.pedantic(each_in_turn, rounds=5)
    tracked = min(times["XOR, exact epochs_to_tol (default)"])
    benchmark.extra_info["options"] = {
        name: {"runs_per_second": S / min(t), "vs_plain": tracked / min(t)} for name, t in times.items()
    }
