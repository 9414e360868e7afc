"""Local threads vs a Dask LocalCluster of 2 single-thread worker processes.

Gender data, 3000 epochs, S = 100,000, float64. Cluster start-up and the
workers' kernel load happen before the timing.
"""

import pytest

from fastbackprop import datasets, sweep

from .conftest import seeds

pytestmark = pytest.mark.bench

distributed = pytest.importorskip("dask.distributed")

X, Y = datasets.gender()
S = seeds(100_000)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as c:
        sweep(X, Y, 3000, epochs=2, client=c)  # workers load the kernel
        yield c
    cluster.close()


@pytest.mark.parametrize("where", ["local, 2 threads", "dask, 2 single-thread workers"])
def test_sweep_where(benchmark, where, client):
    benchmark.group = "sweep float64 on a cluster, S=100k, 3000 epochs"
    benchmark.extra_info["label"] = where
    kwargs = dict(client=client) if where.startswith("dask") else {}
    sweep(X, Y, 256, epochs=2)
    res = benchmark.pedantic(sweep, args=(X, Y, S), kwargs=dict(epochs=3000, **kwargs), rounds=3)
    benchmark.extra_info["runs"] = S
    assert res.success_rate == 1.0
