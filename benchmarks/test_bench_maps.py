"""Maps: as fast as a sweep of as many networks, and a 1024 x 1024 XOR map against its 15 s bar.

The first test alternates a 128 x 128 init map with a sweep of 16,384 seeds
(gender data, 3000 epochs, both threads, best of 5 rounds). Both skip the
search for epochs to tol (``epochs_to_tol=False``): how long that search runs
depends on how fast each network converges, which differs between the map's
starting points and the seeds', while the ratio is meant to measure what a
map adds -- making its starting points per chunk.
"""

import time

import pytest

from fastbackprop import datasets, init_map, sweep

from .conftest import SMOKE

pytestmark = pytest.mark.bench

X, Y = datasets.gender()
SIDE = 32 if SMOKE else 128
EPOCHS = 3000
MAP_BAR = 0.9
BIG_SIDE = 64 if SMOKE else 1024
BIG_BAR_S = 15.0


def _map(side, **kw):
    return init_map(X, Y, 2, ("w1", "w5"), ((-4, 4), (-6, 6)), (side, side), **kw)


def test_map_beside_a_sweep(benchmark):
    n = SIDE * SIDE
    benchmark.group = f"map {SIDE}x{SIDE} beside a sweep of {n:,} seeds, float32, 3000 epochs"
    benchmark.extra_info["label"] = "map and sweep, in turn, per round"
    _map(4, epochs=2, dtype="float32", epochs_to_tol=False)
    sweep(X, Y, 256, epochs=2, dtype="float32", epochs_to_tol=False)
    times = {"sweep": [], "map": []}

    def both():
        for name, run in (
            ("sweep", lambda: sweep(X, Y, n, epochs=EPOCHS, dtype="float32", epochs_to_tol=False)),
            ("map", lambda: _map(SIDE, epochs=EPOCHS, dtype="float32", epochs_to_tol=False)),
        ):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    benchmark.pedantic(both, rounds=5)
    plain = min(times["sweep"])
    benchmark.extra_info["options"] = {
        name: {"runs_per_second": n / min(t), "vs_plain": plain / min(t)} for name, t in times.items()
    }


def test_a_1024_square_xor_map_in_float32(benchmark):
    Xx, Yx = datasets.xor()
    benchmark.group = f"map {BIG_SIDE}x{BIG_SIDE}, XOR, float32, 3000 epochs, lr 0.5"
    benchmark.extra_info["label"] = "init_map, all threads"
    init_map(Xx, Yx, 2, ("w1", "w5"), ((-4, 4), (-6, 6)), (4, 4), epochs=2, lr=0.5, dtype="float32")
    res = benchmark.pedantic(
        init_map,
        args=(Xx, Yx, 2, ("w1", "w5"), ((-4, 4), (-6, 6)), (BIG_SIDE, BIG_SIDE)),
        kwargs=dict(epochs=EPOCHS, lr=0.5, dtype="float32"),
        rounds=1,
    )
    benchmark.extra_info.update(runs=BIG_SIDE**2, bar_s=BIG_BAR_S, seconds=res.wall_seconds)
