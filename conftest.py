"""Repository-wide pytest set-up.

``pytest`` runs the tests and deselects the benchmarks in ``benchmarks/``;
``pytest --benchmark-only`` times the benchmarks and deselects the tests;
``pytest --benchmark-disable benchmarks`` runs each benchmark body once (CI).
"""


def _is_benchmark(item):
    return "benchmark" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", False):
        keep = _is_benchmark
    elif config.getoption("benchmark_disable", False) or config.getoption("benchmark_enable", False):
        return
    else:
        keep = lambda item: not _is_benchmark(item)  # noqa: E731
    dropped = [it for it in items if not keep(it)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [it for it in items if keep(it)]
