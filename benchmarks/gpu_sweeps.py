"""GPU sweeps, measured: fastbackprop on CUDA beside JAX and PyTorch on the same GPU,
and the CPU sweep on the same machine's cores.

    python benchmarks/gpu_sweeps.py --out DIR [--budget SECONDS]

Prints one line per measurement as it is made (so a run cut short keeps what it
measured) and writes DIR/gpu_sweeps.json, and the kernels' SASS and register
counts to DIR. Each timing excludes compilation (a warm-up run first) and is
the median of the repeats; runs/s = networks / seconds. Not a pytest module:
it needs a GPU, and its sizes (10^6-10^7 networks) are for one.
"""

import argparse
import json
import os
import platform
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastbackprop as fb
from benchmarks import rivals
from fastbackprop import _cuda, _execution, _kernels, reference

LR = {"gender": 0.2, "xor": 0.5}
EPOCHS = 3000
RESULTS = []
START = time.perf_counter()


def record(**row):
    row["t"] = round(time.perf_counter() - START, 1)
    RESULTS.append(row)
    print(json.dumps(row), flush=True)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), float(min(times)), float(max(times))


def env_info():
    import numba
    from numba import cuda

    dev = cuda.get_current_device()
    info = dict(
        gpu=dev.name.decode() if isinstance(dev.name, bytes) else dev.name,
        cc=list(dev.compute_capability),
        sms=dev.MULTIPROCESSOR_COUNT,
        python=platform.python_version(),
        numpy=np.__version__,
        numba=numba.__version__,
        cpu_cores=os.cpu_count(),
    )
    for mod in ("numba_cuda", "jax", "torch"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception as exc:  # noqa: BLE001
            info[mod] = f"unavailable: {exc}"
    record(kind="env", **info)


def compile_times():
    """The default kernels' first compile (or load, from a filled disk cache): 4 samples written out, as
    gender and XOR run; every other variant compiles on its first use in the run."""
    for dtype in ("float64", "float32"):
        t = time.perf_counter()
        kernel = _cuda.compile_kernel(_cuda.Variant(np.dtype(dtype), False, False, False, samples=4))
        loaded = hasattr(kernel, "stats") and sum(kernel.stats.cache_hits.values()) > 0  # (simulator: no cache)
        record(kind="compile", dtype=dtype, seconds=round(time.perf_counter() - t, 2), loaded_from_cache=loaded)


def kernels():
    """Registers and local memory of every variant the run compiled, and their SASS in OUT/sass."""
    for (variant, *compiled_in), kernel in _cuda._KERNELS.items():
        if tuple(compiled_in) != _cuda._compiled_in(variant):  # for a side-by-side run of another setting
            continue
        name = "_".join(
            [str(variant.dtype), "tanh" if variant.tanh else "sigmoid"]
            + ["momentum"] * variant.momentum
            + ["per_network"] * variant.per_network
            + ([f"{variant.samples}_samples_written_out"] if variant.samples else [])
        )
        record(
            kind="kernel",
            variant=name,
            max_registers=variant.max_registers,
            regs_per_thread=kernel.get_regs_per_thread(),
            local_bytes=kernel.get_local_mem_per_thread(),
            overloads=len(kernel.overloads),
        )
        if OUT:
            try:
                os.makedirs(os.path.join(OUT, "sass"), exist_ok=True)
                with open(os.path.join(OUT, "sass", f"{name}.txt"), "w") as f:
                    sass = kernel.inspect_sass()
                    f.write(sass if isinstance(sass, str) else "\n".join(sass.values()))
            except Exception as exc:  # noqa: BLE001 - nvdisasm missing: the numbers above still stand
                record(kind="sass", variant=name, error=str(exc))


def identity(n):
    X, y = fb.datasets.xor()
    starts = [
        fb.sweep(X, y, n, epochs=0, dtype=dt, device=dev).params
        for dt in ("float64", "float32")
        for dev in ("cuda", "cpu")
    ]
    record(
        kind="identity",
        what="starting parameters (seed map)",
        seeds=n,
        identical_f64=bool(np.array_equal(starts[0], starts[1])),
        identical_f32=bool(np.array_equal(starts[2], starts[3])),
    )
    for data in ("gender", "xor"):
        X, y = fb.datasets.load(data)
        for dtype in ("float64", "float32"):
            gpu = fb.sweep(X, y, n, epochs=EPOCHS, lr=LR[data], dtype=dtype, device="cuda")
            cpu = fb.sweep(X, y, n, epochs=EPOCHS, lr=LR[data], dtype=dtype)
            rows = (
                np.all(gpu.params == cpu.params, axis=1)
                & (gpu.final_loss == cpu.final_loss)
                & (gpu.epochs_to_tol == cpu.epochs_to_tol)
            )
            record(
                kind="identity",
                data=data,
                dtype=dtype,
                seeds=n,
                identical_rows=int(rows.sum()),
                max_abs_diff=float(np.max(np.abs(gpu.params.astype(float) - cpu.params))),
                outcome_agreement=float(np.mean(gpu.converged == cpu.converged)),
                gpu_runs_per_s=round(gpu.runs_per_second),
                cpu_runs_per_s=round(cpu.runs_per_second),
            )


def option_cases(n):
    """Every per-network option the GPU kernel takes, on XOR (the tanh case with targets in {-1, 1})."""
    rng = np.random.default_rng(16)
    return {
        "momentum 0.9, lr 0.05": dict(lr=0.05, momentum=0.9),
        "tanh, margin 0.4": dict(lr=0.3, activation="tanh", margin=0.4),
        "lr, lr_output, momentum per network": dict(
            lr=rng.uniform(0.1, 4, n), lr_output=rng.uniform(0.1, 4, n), momentum=rng.choice([0.0, 0.5, 0.9], n)
        ),
        "uniform init, scale 2": dict(lr=0.5, init="uniform", init_scale=2.0),
        "explicit starts": dict(lr=0.5, params0=rng.normal(0, 2, (n, 9))),
        "no epochs_to_tol": dict(lr=0.5, epochs_to_tol=False),
    }


def option_identity(n):
    """Each option's rows on the GPU against the CPU sweep, both dtypes."""
    X, y = fb.datasets.xor()
    for name, kw in option_cases(n).items():
        yt = 2 * y - 1 if kw.get("activation") == "tanh" else y
        for dtype in ("float64", "float32"):
            gpu = fb.sweep(X, yt, n, epochs=EPOCHS, dtype=dtype, device="cuda", **kw)
            cpu = fb.sweep(X, yt, n, epochs=EPOCHS, dtype=dtype, **kw)
            etl_same = gpu.epochs_to_tol is None or gpu.epochs_to_tol == cpu.epochs_to_tol
            rows = np.all(gpu.params == cpu.params, axis=1) & (gpu.final_loss == cpu.final_loss) & etl_same
            record(kind="identity", option=name, dtype=dtype, seeds=n, identical_rows=int(rows.sum()))


def option_speed(n):
    """runs/s of each option beside the default sweep, in one run (XOR)."""
    X, y = fb.datasets.xor()
    cases = {"default, lr 0.5": dict(lr=0.5), **option_cases(n)}
    for dtype in ("float32", "float64"):
        for name, kw in cases.items():
            yt = 2 * y - 1 if kw.get("activation") == "tanh" else y
            warm = min(n, 1000)
            fb.sweep(X, yt, warm, epochs=EPOCHS, dtype=dtype, device="cuda", **_first(kw, warm))
            res = fb.sweep(X, yt, n, epochs=EPOCHS, dtype=dtype, device="cuda", **kw)
            record(
                kind="fastbackprop-cuda-option",
                option=name,
                dtype=dtype,
                seeds=n,
                seconds=round(res.wall_seconds, 4),
                runs_per_s=round(n / res.wall_seconds),
            )


def _first(kw, k):
    """The options for the first k networks (per-network arrays cut to k rows)."""
    return {key: v[:k] if isinstance(v, np.ndarray) else v for key, v in kw.items()}


def unrolled_vs_loop(n):
    """The default kernel with the sample loop written out (4 samples) against the loop, side by side."""
    for data in ("gender", "xor"):
        X, y = fb.datasets.load(data)
        for dtype in ("float32", "float64"):
            for unrolled in (_cuda.UNROLLED_SAMPLES, 0):
                saved, _cuda.UNROLLED_SAMPLES = _cuda.UNROLLED_SAMPLES, unrolled
                try:
                    fb.sweep(X, y, min(n, 1000), epochs=EPOCHS, lr=LR[data], dtype=dtype, device="cuda")  # warm
                    res = fb.sweep(X, y, n, epochs=EPOCHS, lr=LR[data], dtype=dtype, device="cuda")
                finally:
                    _cuda.UNROLLED_SAMPLES = saved
                record(
                    kind="fastbackprop-cuda-unrolled" if unrolled else "fastbackprop-cuda-loop",
                    data=data,
                    dtype=dtype,
                    seeds=n,
                    seconds=round(res.wall_seconds, 4),
                    runs_per_s=round(n / res.wall_seconds),
                )


def _walls_with(setting, value, data, dtype, n):
    """Wall times of 3 GPU sweeps of n seeds with ``_cuda.<setting> = value``, after a warm-up."""
    X, y = fb.datasets.load(data)
    saved = getattr(_cuda, setting)
    setattr(_cuda, setting, value)
    try:
        fb.sweep(X, y, min(n, 1000), epochs=EPOCHS, lr=LR[data], dtype=dtype, device="cuda")  # warm
        return [
            fb.sweep(X, y, n, epochs=EPOCHS, lr=LR[data], dtype=dtype, device="cuda").wall_seconds for _ in range(3)
        ]
    finally:
        setattr(_cuda, setting, saved)


def _record_walls(walls, n, **row):
    med = float(np.median(walls))
    spread = [round(min(walls), 4), round(max(walls), 4)]
    record(**row, seeds=n, seconds=round(med, 4), spread=spread, runs_per_s=round(n / med))


def worst_sample_first(n):
    """Epochs to tol with the worst sample checked alone first, against the full loss every epoch, side by side."""
    for data in ("xor", "gender"):
        for dtype in ("float32", "float64"):
            for first in (True, False):
                walls = _walls_with("WORST_SAMPLE_FIRST", first, data, dtype, n)
                kind = "fastbackprop-cuda-worst-first" if first else "fastbackprop-cuda-full-loss"
                _record_walls(walls, n, kind=kind, data=data, dtype=dtype)


def register_caps(n):
    """The default kernels at other register caps, side by side (1e6 seeds, median of 3).

    From the SASS (no GPU): float32 fits 48 registers with one local load an
    epoch (40 warps an SM instead of 36 at 54-56), float64 56 with three
    loads and three stores (36 warps instead of 32); whether more warps beat
    the spills only a GPU can say.
    """
    caps = {"float32": (48, 56, 64), "float64": (56, 64)}
    for data in ("gender", "xor"):
        for dtype, tried in caps.items():
            for cap in tried:
                walls = _walls_with("MAX_REGISTERS", cap, data, dtype, n)
                _record_walls(walls, n, kind="fastbackprop-cuda-cap", data=data, dtype=dtype, max_registers=cap)


def map_speed(side):
    """A side x side map of starting points on XOR, float32 (issue 11's 1024^2 map: 27 s on 2 CPU cores)."""
    X, y = fb.datasets.xor()
    for dtype in ("float32", "float64"):
        kw = dict(epochs=EPOCHS, lr=0.5, dtype=dtype)
        warm = min(side, 32)
        fb.init_map(X, y, 2, ("w1", "w2"), ((-8, 8), (-8, 8)), (warm, warm), device="cuda", **kw)
        res = fb.init_map(X, y, 2, ("w1", "w2"), ((-8, 8), (-8, 8)), (side, side), device="cuda", **kw)
        record(
            kind="fastbackprop-cuda-map",
            dtype=dtype,
            pixels=side * side,
            seconds=round(res.wall_seconds, 3),
            runs_per_s=round(side * side / res.wall_seconds),
        )


def launches(n):
    """float32 gender sweeps of n seeds, alternating, 3 each: launches of 2**20 networks one at a time (as
    before 2026-11-28), sized by time one at a time, and sized by time two in flight (the default), to
    0.2 s and 0.4 s a launch: a launch's tail wave and the gaps between launches against progress and Ctrl-C."""
    X, y = fb.datasets.gender()
    kw = dict(epochs=EPOCHS, lr=LR["gender"], dtype="float32", device="cuda")
    fb.sweep(X, y, min(n, 1000), **kw)  # warm
    configs = {  # (in flight, chunks a launch or None: sized by time, seconds a launch)
        "2**20 a launch, one in flight": (1, 2**20 // (_execution.CUDA_BLOCKS_PER_CHUNK * _kernels.LANES), 0.2),
        "sized to 0.2 s, one in flight": (1, None, 0.2),
        "sized to 0.2 s, two in flight (default)": (2, None, 0.2),
        "sized to 0.4 s, two in flight": (2, None, 0.4),
    }
    defaults = _execution.CUDA_LAUNCHES_IN_FLIGHT, _execution._LaunchSizes.chunks, _execution.CUDA_LAUNCH_SECONDS
    launch, sizes = _cuda.Launches.launch, []
    _cuda.Launches.launch = lambda self, job: sizes.append(job.seeds.shape[0]) or launch(self, job)
    walls: dict[str, list[float]] = {label: [] for label in configs}
    counts: dict[str, int] = {}
    try:
        for _ in range(3):
            for label, (in_flight, chunks, seconds) in configs.items():
                _execution.CUDA_LAUNCHES_IN_FLIGHT, _execution.CUDA_LAUNCH_SECONDS = in_flight, seconds
                _execution._LaunchSizes.chunks = defaults[1] if chunks is None else (lambda self, c=chunks: c)
                sizes.clear()
                walls[label].append(fb.sweep(X, y, n, **kw).wall_seconds)
                counts[label] = len(sizes)
    finally:
        _execution.CUDA_LAUNCHES_IN_FLIGHT, _execution._LaunchSizes.chunks, _execution.CUDA_LAUNCH_SECONDS = defaults
        _cuda.Launches.launch = launch
    for label, spent in walls.items():
        _record_walls(spent, n, kind="fastbackprop-cuda-launches", data="gender", dtype="float32", how=label,
                      launches=counts[label])  # fmt: skip


def launch_walls(n):
    """Where a float32 gender sweep of n seeds spends its wall time, launched as by default: waiting in
    ``_cuda.Launches.collect`` (for the GPU and the copies back; ncu.txt's Duration is one kernel of 2**20
    networks alone) and elsewhere (queueing launches, the jobs' host arrays, the store and progress sinks),
    with each launch's networks, one sweep after a warm-up."""
    X, y = fb.datasets.gender()
    kw = dict(epochs=EPOCHS, lr=LR["gender"], dtype="float32", device="cuda")
    fb.sweep(X, y, min(n, 1000), **kw)  # warm
    collect, launch, waits, sizes = _cuda.Launches.collect, _cuda.Launches.launch, [], []

    def timed(self):
        start = time.perf_counter()
        try:
            return collect(self)
        finally:
            waits.append(time.perf_counter() - start)

    _cuda.Launches.collect = timed
    _cuda.Launches.launch = lambda self, job: sizes.append(job.seeds.shape[0]) or launch(self, job)
    try:
        wall = fb.sweep(X, y, n, **kw).wall_seconds
    finally:
        _cuda.Launches.collect, _cuda.Launches.launch = collect, launch
    record(kind="fastbackprop-cuda-launch-walls", seeds=n, seconds=round(wall, 4), networks=sizes,
           collect_s=[round(t, 4) for t in waits], outside_s=round(wall - sum(waits), 4))  # fmt: skip


def grid_speed(n):
    """A float32 XOR grid of 20 learning rates x 5 momenta x n seeds: every cell in one sweep, against its
    cells one sweep (one launch of n networks) each, as grids ran before."""
    X, y = fb.datasets.xor()
    lrs, momenta = np.geomspace(0.1, 10, 20), [0.0, 0.5, 0.8, 0.9, 0.95]
    kw = dict(dtype="float32", device="cuda")
    fb.grid(X, y, 100, lrs=lrs[:2], epochs_list=[10], momenta=momenta[:2], **kw)  # warm
    for m in (0.0, momenta[1]):  # the cells' two kernels (plain, momentum), compiled outside the timing
        fb.sweep(X, y, 100, epochs=10, lr=1.0, momentum=m, **kw)
    start = time.perf_counter()
    g = fb.grid(X, y, n, lrs=lrs, epochs_list=[EPOCHS], momenta=momenta, **kw)
    whole = time.perf_counter() - start
    start = time.perf_counter()
    cells = [fb.sweep(X, y, n, epochs=EPOCHS, lr=lr, momentum=m, **kw).final_loss for lr in lrs for m in momenta]
    seconds_cells = time.perf_counter() - start
    same = all(np.array_equal(c, g.loss[i, k, -1]) for (i, k), c in zip(np.ndindex(len(lrs), len(momenta)), cells))
    runs = len(lrs) * len(momenta) * n
    for label, seconds in (("one sweep", whole), ("cells one at a time", seconds_cells)):
        record(kind="fastbackprop-cuda-grid", how=label, networks=runs, seconds=round(seconds, 4),
               runs_per_s=round(runs / seconds), training_seconds=round(g.wall_seconds, 4),
               cells_identical=same)  # fmt: skip


def store_speed(n):
    """A float32 gender sweep into a new store against the same without: a store writes a file per chunk
    (2**16 rows on a GPU, while the next launch runs, by STORE_WRITERS threads), which a GPU's 10^7 runs/s
    may outrun; and with one writer, as before 2026-11-28 (later), and with the CPU's 1024-row chunks."""
    import tempfile

    X, y = fb.datasets.gender()
    kw = dict(epochs=EPOCHS, lr=LR["gender"], dtype="float32", device="cuda")
    fb.sweep(X, y, min(n, 1000), **kw)  # warm
    plain = fb.sweep(X, y, n, **kw)
    runs = {"without": plain}
    blocks, writers = _execution.CUDA_BLOCKS_PER_CHUNK, getattr(_execution, "STORE_WRITERS", 1)
    arms = (
        (f"with ({writers} writers)", blocks, writers),
        ("with, one writer", blocks, 1),
        ("with, chunks of 1024 rows (the CPU's)", 8, writers),
    )
    for label, chunk_blocks, chunk_writers in arms:
        _execution.CUDA_BLOCKS_PER_CHUNK, _execution.STORE_WRITERS = chunk_blocks, chunk_writers
        try:
            with tempfile.TemporaryDirectory() as d:
                runs[label] = fb.sweep(X, y, n, store=os.path.join(d, "s"), **kw)
        finally:
            _execution.CUDA_BLOCKS_PER_CHUNK, _execution.STORE_WRITERS = blocks, writers
    for label, res in runs.items():
        record(kind="fastbackprop-cuda-store", store=label, seeds=n, seconds=round(res.wall_seconds, 4),
               runs_per_s=round(n / res.wall_seconds),
               identical=bool(np.array_equal(res.params, plain.params)))  # fmt: skip


def ours(data, dtype, n, repeats=3):
    X, y = fb.datasets.load(data)
    fb.sweep(X, y, min(n, 1000), epochs=EPOCHS, lr=LR[data], dtype=dtype, device="cuda")  # warm
    walls = []
    for _ in range(repeats):
        res = fb.sweep(X, y, n, epochs=EPOCHS, lr=LR[data], dtype=dtype, device="cuda")
        walls.append(res.wall_seconds)
    med = float(np.median(walls))
    record(
        kind="fastbackprop-cuda",
        data=data,
        dtype=dtype,
        seeds=n,
        seconds=round(med, 4),
        spread=[round(min(walls), 4), round(max(walls), 4)],
        runs_per_s=round(n / med),
        success_rate=res.success_rate,
        launch_seconds=_execution.CUDA_LAUNCH_SECONDS,
        launches_in_flight=_execution.CUDA_LAUNCHES_IN_FLIGHT,
        threads_per_block=_cuda.THREADS_PER_BLOCK,
        max_registers=_cuda.MAX_REGISTERS,
    )
    return res


def cpu(data, dtype, n):
    X, y = fb.datasets.load(data)
    fb.sweep(X, y, 1024, epochs=EPOCHS, lr=LR[data], dtype=dtype)
    res = fb.sweep(X, y, n, epochs=EPOCHS, lr=LR[data], dtype=dtype)
    record(
        kind="fastbackprop-cpu",
        data=data,
        dtype=dtype,
        seeds=n,
        threads=numba.config.NUMBA_NUM_THREADS,
        seconds=round(res.wall_seconds, 3),
        runs_per_s=round(res.runs_per_second),
    )


def _rival_on_the_gpu(name):
    """Refuse a rival that would run on the CPU (no GPU, or its CUDA plugin failed to load):
    at these sizes it would take the rest of the session, for a figure that means nothing here."""
    if name.startswith("jax"):
        import jax

        backend = jax.default_backend()
    else:
        import torch

        backend = "gpu" if torch.cuda.is_available() else "cpu"
    if backend != "gpu":
        raise RuntimeError(f"{name} would run on {backend!r}, not on the GPU")


def rival(name, data, dtype, n, check):
    X, y = fb.datasets.load(data)
    p0 = reference.init_params(np.arange(n))
    _rival_on_the_gpu(name)
    if name.startswith("jax"):  # "jax": the hand-batched form (the faster on CPUs), "jax-vmap": vmap(scan)
        go = rivals.jax_sweep(X, y, p0, EPOCHS, LR[data], 1e-2, dtype, form="vmap" if name == "jax-vmap" else "batched")
    else:
        go = rivals.torch_sweep(X, y, p0, EPOCHS, LR[data], 1e-2, dtype)
    t = time.perf_counter()
    p, _, etl = go()  # compiles (JAX) / warms up
    first = time.perf_counter() - t
    med, lo, hi = median_time(go, 2)
    agree = {}
    if check is not None:
        agree = dict(
            max_abs_diff_vs_ours=float(np.max(np.abs(p[: check.n] - check.params[: len(p)]))),
            etl_agreement=float(np.mean(etl[: check.n] == check.epochs_to_tol[: len(p)])),
        )
    record(
        kind=name,
        data=data,
        dtype=dtype,
        seeds=n,
        seconds=round(med, 4),
        spread=[round(lo, 4), round(hi, 4)],
        first_call_seconds=round(first, 2),
        runs_per_s=round(n / med),
        **agree,
    )


def main():
    global OUT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--budget", type=float, default=420, help="stop starting new measurements after this many s")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size by this (a smoke test: 1e-4)")
    ap.add_argument("--epochs", type=int, default=3000)
    ap.add_argument("--skip", default="", help="comma-separated prefixes of steps to skip (e.g. jax-xor,torch)")
    ap.add_argument("--only", default="", help="comma-separated prefixes of the only steps to run (env always runs)")
    args = ap.parse_args()
    global EPOCHS
    OUT, EPOCHS = args.out, args.epochs
    M, BIG = max(1, int(1e6 * args.scale)), max(1, int(1e7 * args.scale))
    if OUT:
        os.makedirs(OUT, exist_ok=True)

    def save():
        if OUT:
            with open(os.path.join(OUT, "gpu_sweeps.json.tmp"), "w") as f:
                json.dump(RESULTS, f, indent=1)
            os.replace(os.path.join(OUT, "gpu_sweeps.json.tmp"), os.path.join(OUT, "gpu_sweeps.json"))

    def step(name, fn, *a, **k):
        if any(name.startswith(prefix) for prefix in args.skip.split(",") if prefix):
            return None
        if args.only and name != "env" and not any(name.startswith(p) for p in args.only.split(",") if p):
            return None
        if time.perf_counter() - START > args.budget:
            record(kind="skipped", step=name, reason="budget")
            return None
        try:
            return fn(*a, **k)
        except Exception as exc:  # noqa: BLE001 - one failed measurement must not lose the others
            record(kind="error", step=name, error=f"{type(exc).__name__}: {exc}"[:2000])
            return None
        finally:
            save()  # after every step: a run killed by the caller's timeout keeps its JSON

    step("env", env_info)
    step("compile", compile_times)
    step("identity", identity, max(1, int(1e5 * args.scale)))
    # Most important first, so that a run cut short by --budget keeps them: the
    # headline figures, then what has not been measured on a GPU yet, then JAX
    # side by side (the ratios), then the 10^7 rows and the other rivals.
    base = {}
    for data in ("gender", "xor"):
        for dtype in ("float32", "float64"):
            base[data, dtype] = step("ours 1e6", ours, data, dtype, M)
    step("launches", launches, BIG)
    step("launches", launches, M)  # the first launches are one chunk each: does 10^6 pay for the ramp?
    step("launch walls", launch_walls, BIG)
    step("register caps", register_caps, M)
    step("worst first", worst_sample_first, M)
    step("unrolled", unrolled_vs_loop, M)
    step("option identity", option_identity, max(1, int(2e4 * args.scale)))
    step("option speed", option_speed, M)
    step("map", map_speed, max(1, int(1024 * args.scale**0.5)))
    step("store", store_speed, max(1, int(4e6 * args.scale)))
    step("grid", grid_speed, max(1, int(2000 * args.scale)))
    step("kernels", kernels)
    for dtype in ("float32", "float64"):
        step("jax-vmap", rival, "jax-vmap", "gender", dtype, M, base.get(("gender", dtype)))
    for data in ("gender", "xor"):
        for dtype in ("float32", "float64"):
            step("ours big", ours, data, dtype, BIG, repeats=1)
    for data in ("gender", "xor"):
        for dtype in ("float32", "float64"):
            step(f"jax-{data}", rival, "jax", data, dtype, M, base.get((data, dtype)))
    # 10^7 networks' parameters no longer fit in the GPU's L2 cache, as 10^6 do
    for dtype in ("float32", "float64"):
        step("jax-big", rival, "jax", "gender", dtype, BIG, None)
    for dtype in ("float32", "float64"):
        step("cpu", cpu, "gender", dtype, max(1, M // 5))
    for dtype in ("float32", "float64"):
        step(
            f"torch-{dtype}",
            rival,
            "torch",
            "gender",
            dtype,
            M if dtype == "float32" else M // 5,
            base.get(("gender", dtype)),
        )
    save()


OUT = None
if __name__ == "__main__":
    main()
