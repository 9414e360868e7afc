"""Prints, after a benchmark run, each group's ratios to the compiled kernel and the bars."""

from collections import defaultdict

# (group, slower implementation, minimum speed-up of the kernel over it)
BARS = [
    ("full run: 3000 epochs, loss history recorded", "numpy reference", 200.0),
    ("full run: 3000 epochs, loss history recorded", "plain python", 40.0),
]
FULL_RUN_MEDIAN_BAR_S = 1e-3


def _name(bench):
    return bench.name.split("[", 1)[1].rstrip("]") if "[" in bench.name else bench.name


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = defaultdict(dict)
    for bench in session.benchmarks:
        if bench.stats is not None and bench.stats.rounds:
            groups[bench.group][_name(bench)] = bench
    tr = terminalreporter
    tr.section("fastbackprop: medians side by side (ratio = time / numba kernel time)")
    for group, benches in groups.items():
        tr.write_line(f"{group}:")
        base = benches.get("numba kernel")
        for name, b in benches.items():
            med = b.stats.median
            ratio = f"  {med / base.stats.median:10.1f}x" if base else ""
            extra = "".join(f"  {k}={v:.3f}" for k, v in b.extra_info.items())
            tr.write_line(f"  {name:34s} {med * 1e3:12.4f} ms{ratio}{extra}")
    tr.section("fastbackprop: bars")
    for group, slow, bar in BARS:
        benches = groups.get(group, {})
        if "numba kernel" in benches and slow in benches:
            r = benches[slow].stats.median / benches["numba kernel"].stats.median
            tr.write_line(f"  kernel vs {slow}: {r:8.1f}x  (bar >= {bar:g}x)  {'met' if r >= bar else 'MISSED'}")
    full = groups.get(BARS[0][0], {}).get("numba kernel")
    if full is not None:
        med = full.stats.median
        ok = "met" if med <= FULL_RUN_MEDIAN_BAR_S else "MISSED"
        tr.write_line(f"  full run with history: {med * 1e3:.3f} ms median  (bar <= 1 ms)  {ok}")
