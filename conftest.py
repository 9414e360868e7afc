"""Repository-wide pytest set-up.

``pytest`` runs the tests; the benchmarks in ``benchmarks/`` are collected only
when a benchmark option asks for them (``--benchmark-only`` to time them,
``--benchmark-disable`` to run each body once, as CI does). With
``--benchmark-only`` the tests are deselected rather than listed as skipped.
"""

from pathlib import Path

_BENCHMARKS = Path(__file__).parent / "benchmarks"


def pytest_ignore_collect(collection_path, config):
    if collection_path == _BENCHMARKS:
        wanted = config.getoption("benchmark_only", False) or config.getoption("benchmark_disable", False)
        return None if wanted else True
    return None


def pytest_collection_modifyitems(config, items):
    if not config.getoption("benchmark_only", False):
        return
    keep = [it for it in items if "benchmark" in getattr(it, "fixturenames", ())]
    dropped = [it for it in items if "benchmark" not in getattr(it, "fixturenames", ())]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
