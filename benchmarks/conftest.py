"""Prints, after a benchmark run, each group's ratios to the compiled kernel and the bars."""

import os
from collections import defaultdict

#: CI runs each benchmark body once (``--benchmark-disable``) so that none rots;
#: with FASTBACKPROP_BENCH_SMOKE=1 it also trains 50x fewer seeds: the code
#: paths are the same, and nothing is timed in that run.
SMOKE = os.environ.get("FASTBACKPROP_BENCH_SMOKE") == "1"


def seeds(n):
    """``n`` seeds for a timed run, 50x fewer (at least 2048) in a smoke run."""
    return max(2048, n // 50) if SMOKE else n


# (group, slower implementation, minimum speed-up of the kernel over it)
BARS = [
    ("full run: 3000 epochs, loss history recorded", "numpy reference", 200.0),
    ("full run: 3000 epochs, loss history recorded", "plain python", 40.0),
]
FULL_RUN_MEDIAN_BAR_S = 1e-3
# dtype -> (runs/s bar at all threads, minimum speed-up over the NumPy reference)
SWEEP_BARS = {"float64": (25_000, 12.0), "float32": (60_000, 10.0)}
THREAD_SCALING_BAR = 1.8


def _name(bench):
    if "label" in bench.extra_info:
        return bench.extra_info["label"]
    return bench.name.split("[", 1)[1].rstrip("]") if "[" in bench.name else bench.name


def _runs_per_second(bench):
    info = bench.extra_info
    seconds = info.get("one_s", bench.stats.median)  # the thread-scaling test times two halves
    return info["runs"] / (seconds * info.get("epoch_scale", 1))


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
        timed = [b for b in benches.values() if "bar_s" in b.extra_info]
        for b in timed:  # a run against a time bar: one big map
            sec, bar, runs = b.extra_info["seconds"], b.extra_info["bar_s"], b.extra_info["runs"]
            verdict = "met" if sec <= bar else "MISSED"
            rate = f"{runs / sec:,.0f} runs/s"
            tr.write_line(f"  {runs:,} networks in {sec:.1f} s: {rate}  (bar <= {bar:g} s)  {verdict}")
        if timed:
            continue
        if group.startswith("options") or group.startswith("map"):
            from .test_bench_maps import MAP_BAR
            from .test_bench_options import OPTION_BARS

            OPTION_BARS.setdefault("map", MAP_BAR)
            for b in benches.values():
                for name, o in b.extra_info["options"].items():
                    bar = OPTION_BARS.get(name)
                    met = bar is not None and o["vs_plain"] >= bar
                    verdict = "" if bar is None else f"  (bar >= {bar:g}x)  {'met' if met else 'MISSED'}"
                    tr.write_line(f"  {name:36s} {o['runs_per_second']:12,.0f} runs/s  {o['vs_plain']:.2f}x{verdict}")
            continue
        if group.startswith("progress"):
            for name, b in benches.items():
                tr.write_line(f"  {name}: {b.extra_info['overhead_percent']:+.2f} %  (bar < 2 %)")
            continue
        if group.startswith("sweep"):
            for name, b in benches.items():
                tr.write_line(f"  {name:44s} {_runs_per_second(b):12,.0f} runs/s")
                jax = b.extra_info.get("jax_runs_per_second")
                if jax:
                    j = b.extra_info["jax"]
                    label = f"JAX {j.get('form', 'vmap')}, pmap {j['devices']} x {j['per_device']:,}"
                    tr.write_line(
                        f"  {label:44s} {jax:12,.0f} runs/s  (fastbackprop / JAX = {_runs_per_second(b) / jax:.2f}x)"
                    )
            continue
        base = benches.get("numba kernel")
        for name, b in benches.items():
            med = b.stats.median
            ratio = f"  {med / base.stats.median:10.1f}x" if base else ""
            extra = "".join(f"  {k}={v:.3f}" for k, v in b.extra_info.items() if k != "label")
            tr.write_line(f"  {name:34s} {med * 1e3:12.4f} ms{ratio}{extra}")
    tr.section("fastbackprop: bars")
    for group, slow, bar in BARS:
        benches = groups.get(group, {})
        if "numba kernel" in benches and slow in benches:
            r = benches[slow].stats.median / benches["numba kernel"].stats.median
            tr.write_line(f"  kernel vs {slow}: {r:8.1f}x  (bar >= {bar:g}x)  {'met' if r >= bar else 'MISSED'}")
    for dtype, (bar, ratio_bar) in SWEEP_BARS.items():
        benches = groups.get(f"sweep {dtype}, S=100k, 3000 epochs", {})
        rate = {_name(b).split(" (")[0]: _runs_per_second(b) for b in benches.values()}
        scaling = [b.extra_info["scaling"] for b in benches.values() if "scaling" in b.extra_info]
        if "numba kernel, all threads" in rate:
            r = rate["numba kernel, all threads"]
            tr.write_line(f"  sweep {dtype}: {r:,.0f} runs/s  (bar >= {bar:,})  {'met' if r >= bar else 'MISSED'}")
            ref = rate.get("numpy reference")
            if ref:
                ok = "met" if r / ref >= ratio_bar else "MISSED"
                tr.write_line(f"  sweep {dtype} vs NumPy reference: {r / ref:.1f}x  (bar >= {ratio_bar:g}x)  {ok}")
        for sc in scaling:
            ok = "met" if sc >= THREAD_SCALING_BAR else "MISSED"
            tr.write_line(
                f"  sweep {dtype} all threads vs 1 (interleaved): {sc:.2f}x  (bar >= {THREAD_SCALING_BAR})  {ok}"
            )
    full = groups.get(BARS[0][0], {}).get("numba kernel")
    if full is not None:
        med = full.stats.median
        ok = "met" if med <= FULL_RUN_MEDIAN_BAR_S else "MISSED"
        tr.write_line(f"  full run with history: {med * 1e3:.3f} ms median  (bar <= 1 ms)  {ok}")
