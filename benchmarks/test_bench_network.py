"""One network: the compiled kernel beside the NumPy reference and plain Python.

Run with ``pytest -m bench --benchmark-only``; each group times the same work, on the
same seed, for the three implementations of ``benchmarks.registry``.
"""

import numpy as np
import pytest

from fastbackprop import datasets
from fastbackprop._seeding import init_normal

from .registry import IMPLEMENTATIONS

pytestmark = pytest.mark.bench

X, Y = datasets.gender()
PARAMS = init_normal([2])[0]
NAMES = list(IMPLEMENTATIONS["train"])


@pytest.mark.parametrize("name", NAMES)
def test_forward(benchmark, name):
    benchmark.group = "forward pass (4 samples)"
    fn = IMPLEMENTATIONS["forward"][name]
    out = benchmark(fn, PARAMS, X)
    assert out.shape == (4,)


@pytest.mark.parametrize("name", NAMES)
def test_sgd_step(benchmark, name):
    benchmark.group = "one SGD step"
    fn = IMPLEMENTATIONS["sgd_step"][name]
    out = benchmark(fn, PARAMS, X[1], Y[1], 0.2)
    assert out.shape == (9,)


@pytest.mark.parametrize("name", NAMES)
def test_full_run(benchmark, name):
    benchmark.group = "full run: 3000 epochs, loss history recorded"
    fn = IMPLEMENTATIONS["train"][name]
    fn(PARAMS, X, Y, 1, 0.2)  # compile outside the timing
    rounds = 3 if name == "numpy reference" else 20
    params, history = benchmark.pedantic(fn, args=(PARAMS, X, Y, 3000, 0.2), rounds=rounds, warmup_rounds=1)
    assert history.shape == (3000,) and history[-1] < 0.005
    assert np.all(np.isfinite(params))
