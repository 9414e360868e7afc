"""The CUDA target: validation and errors here, the kernel's logic under numba-cuda's
simulator, its PTX without a GPU (no contraction, no approximations), and bit-identity
with the CPU sweep on a real GPU when there is one."""

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastbackprop as fb
from fastbackprop import _execution
from fastbackprop.cli import main

from .conftest import JIT

HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
needs_numba_cuda = pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed (the cuda or dev extra)")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gpu():
    """True when a real CUDA GPU is usable in this process."""
    if not HAS_NUMBA_CUDA or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    from numba import cuda

    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver is no GPU
        return False


GPU = _gpu()
needs_gpu = pytest.mark.skipif(not GPU, reason="no CUDA GPU here (these run on a GPU machine)")


def _run(script, compiled=False, **env):
    """Run a Python script in a fresh interpreter with ``env`` added; return its last stdout line as JSON.

    The script inherits NUMBA_DISABLE_JIT (under it, the simulated kernel and
    the CPU sweep it is compared with run the same pure-Python functions);
    ``compiled=True`` drops it, for what only compiled code can do.
    """
    full = dict(os.environ, **env)
    if compiled:
        full.pop("NUMBA_DISABLE_JIT", None)
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=600, cwd=ROOT, env=full
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# The argument and the errors, on any machine
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "device, error", [("gpu", ValueError), ("CUDA", ValueError), (None, TypeError), (0, TypeError)]
)
def test_bad_device_is_refused_naming_the_argument(device, error):
    X, y = fb.datasets.xor()
    with pytest.raises(error, match="device"):
        fb.sweep(X, y, 4, epochs=1, device=device)
    with pytest.raises(error, match="device"):
        fb.grid(X, y, 4, lrs=[0.5], epochs_list=[1], device=device)
    with pytest.raises(error, match="device"):
        fb.init_map(X, y, 1, ("w1", "w2"), ((-1, 1), (-1, 1)), (2, 2), epochs=1, device=device)
    with pytest.raises(error, match="device"):
        fb.lr_map(X, y, 1, (0.1, 1), (0.1, 1), (2, 2), epochs=1, device=device)


@pytest.mark.skipif(GPU, reason="a GPU is present")
def test_cuda_without_a_gpu_says_what_is_missing(capsys):
    X, y = fb.datasets.xor()
    expected = (
        (fb.DeviceUnavailableError, "no usable CUDA GPU")
        if HAS_NUMBA_CUDA
        else (ImportError, "cuda.*extra|fastbackprop\\[cuda\\]")
    )
    for run in (
        lambda: fb.sweep(X, y, 4, epochs=1, device="cuda"),
        lambda: fb.grid(X, y, 4, lrs=[0.5], epochs_list=[1], momenta=[0.5], device="cuda"),
        lambda: fb.init_map(X, y, 1, ("w1", "w2"), ((-1, 1), (-1, 1)), (2, 2), epochs=1, device="cuda"),
        lambda: fb.lr_map(X, y, 1, (0.1, 1), (0.1, 1), (2, 2), epochs=1, activation="tanh", device="cuda"),
    ):
        with pytest.raises(expected[0], match=expected[1]):
            run()
    for command in (
        ["sweep", "--seeds", "4", "--epochs", "1"],
        ["grid", "--seeds", "4", "--epochs", "1", "--lr", "0.5"],
        ["map", "init", "--axes", "w1", "w2", "--extent", "-1", "1", "-1", "1", "--resolution", "2", "2"],
        ["map", "lr", "--lr", "-1", "0", "--lr-output", "-1", "0", "--resolution", "2", "2", "--momentum", "0.5"],
    ):
        assert main([*command, "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("fastbackprop: error: --device cuda: ") and err.count("\n") == 1, command


@needs_numba_cuda
@pytest.mark.parametrize("installed", [False, True])
def test_numbas_own_cuda_target_is_not_taken_for_numba_cuda(installed):
    """Numba still ships a numba.cuda of its own (deprecated): without numba-cuda, or with it
    but without the .pth that points numba.cuda at it (python -S, a PYTHONPATH or --target
    install), the error says so instead of running on Numba's target."""
    out = _run(
        f"""
        import importlib.abc, json, sys

        class NoNumbaCuda(importlib.abc.MetaPathFinder):  # as if the cuda extra were not installed
            def find_spec(self, name, path=None, target=None):
                if name == "numba_cuda" or name.startswith("numba_cuda."):
                    raise ImportError(name)

        # numba.cuda not redirected to numba-cuda: Numba's own
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "NumbaCudaFinder"]
        if not {installed}:
            sys.meta_path.insert(0, NoNumbaCuda())
        import fastbackprop as fb
        from numba import cuda
        assert "numba_cuda" not in cuda.__file__, cuda.__file__  # (the simulation holds)
        X, y = fb.datasets.xor()
        try:
            fb.sweep(X, y, 4, epochs=1, device="cuda")
        except ImportError as exc:
            print(json.dumps(str(exc)))
        """
    )
    if installed:
        assert out.startswith("device='cuda' needs numba-cuda's numba.cuda, but numba.cuda is Numba's own here")
    else:
        assert out == "device='cuda' needs numba-cuda: pip install 'fastbackprop[cuda]'"


def test_cli_device_choices(capsys):
    assert main(["sweep", "--seeds", "4", "--device", "tpu"]) == 2
    assert "--device: invalid choice: 'tpu'" in capsys.readouterr().err


@needs_numba_cuda
def test_info_names_the_gpu_or_says_why_there_is_none():
    script = "import json; from fastbackprop._info import info; print(json.dumps(info()['gpu']))"
    simulated = _run(script, NUMBA_ENABLE_CUDASIM="1")
    assert simulated["usable"] and "simulator" in simulated["name"]
    here = _run(script, NUMBA_ENABLE_CUDASIM="0")
    assert here["usable"] == GPU
    if GPU:
        assert here["name"] and re.fullmatch(r"\d+\.\d+", here["compute_capability"]), here
    else:
        assert here["why"].startswith("device='cuda': "), here


def test_core_package_never_imports_numba_cuda():
    out = _run("""
        import json, sys, fastbackprop as fb
        X, y = fb.datasets.xor()
        fb.sweep(X, y, 4, epochs=2, lr=0.5)
        fb.grid(X, y, 4, lrs=[0.5], epochs_list=[1, 2])
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("numba.cuda", "numba_cuda", "cuda")))))
    """)
    assert out == []  # (numba-cuda's own .pth loads a tiny _numba_cuda_redirector at start-up)


# ---------------------------------------------------------------------------
# The kernel's logic under the simulator: every option, against the CPU, bit for bit
# (the simulator runs the kernel body in Python, calling the same compiled helpers)
# ---------------------------------------------------------------------------
SIMULATED = """
    import json, os, tempfile, numba, numpy as np, fastbackprop as fb
    from fastbackprop import _cuda, _execution
    # Both dtypes compiled; in the coverage pass (pure Python, where float32 runs the
    # same lines) float64 only, which halves that pass's longest test.
    DTYPES = ("float64",) if numba.config.DISABLE_JIT else ("float64", "float32")
    # Small chunks and launches, so that one sweep spans several launches and a
    # launch several chunks, as 10^7 seeds do on a GPU: launches of 1, 1, then 4
    # chunks (two in flight before the first is timed, then 4 times the last).
    # The CPU's chunks stay 1024 seeds: a store begun on the GPU is resumed in its own.
    _execution.CUDA_BLOCKS_PER_CHUNK = 1
    _execution.CUDA_LAUNCH_SECONDS = 1e9
    launches, launch = [], _cuda.Launches.launch
    _cuda.Launches.launch = lambda self, job: launches.append(job.seeds.shape[0]) or launch(self, job)
    FIELDS = ("params", "final_loss", "epochs_to_tol", "converged", "diverged")
    same = {}

    def check(name, run, fields=FIELDS):
        gpu, cpu = run("cuda"), run("cpu")
        same[name] = all(bits(getattr(gpu, f)) == bits(getattr(cpu, f)) for f in fields)
        return cpu

    def bits(a):  # NaNs too (which np.array_equal calls unequal)
        return None if a is None else (a.dtype, a.shape, a.tobytes())

    few = np.array([0, 1, 2, 3, 2**63 - 1, 12345678901234])
    S, rng = few.shape[0], np.random.default_rng(5)
    X, y = fb.datasets.xor()
    options = {
        "default": {},
        # momentum 0 in a momentum kernel must be plain SGD, bit for bit
        "lr, lr_output, momentum per network": dict(
            lr=rng.uniform(0.1, 4, S), lr_output=rng.uniform(0.1, 4, S), momentum=[0.0, 0.5, 0.9, 0.0, 0.3, 0.95]
        ),
        "uniform init, init_scale per network": dict(init="uniform", init_scale=rng.uniform(0.1, 5, S)),
        "normal init_scale": dict(init_scale=3.0, lr=2.0),
        "explicit starts": dict(params0=rng.normal(0, 2, (S, 9))),
        "tanh, no epochs_to_tol": dict(activation="tanh", epochs_to_tol=False),
        # where some networks meet the margin within the epochs and some do not
        "tanh, margin, momentum": dict(data="or", activation="tanh", margin=0.4, momentum=0.5, lr=0.3),
        "margin": dict(data="and", margin=0.45, lr=2.0),
    }
    for dtype in DTYPES:
        for name, kw in options.items():
            kw = {"lr": 0.5, **kw}
            Xo, yo = fb.datasets.load(kw.pop("data", "xor"))
            yo = 2 * yo - 1 if kw.get("activation") == "tanh" else yo
            run = lambda d: fb.sweep(Xo, yo, few, epochs=12, tol=0.2, dtype=dtype, device=d, **kw)
            cpu = check(f"{name} {dtype}", run)
            if "margin" in kw:
                etl = cpu.epochs_to_tol
                same[f"{name} {dtype}: met and not"] = bool((etl > 0).any() and (etl < 0).any())
    # 600 seeds: five chunks in three launches; the gender data
    Xg, yg = fb.datasets.gender()
    launches.clear()
    check("launches", lambda d: fb.sweep(Xg, yg, np.r_[np.arange(598), few[-2:]], epochs=4, lr=0.5, device=d))
    same["launches: 1 chunk, 1, then 3"] = launches == [128, 128, 344]
    # one stream's arrays, reused by a smaller launch after a larger one; a third launch waits for a stream
    from fastbackprop._validation import check_training
    training = check_training(epochs=4, lr=0.5, tol=0.1, dtype="float32", momentum=0.5, record_at=(1, 3))
    plan = _execution.Plan(Xg, yg, np.arange(300), training, chunk_size=128)
    with _cuda.Launches(2) as gpu:
        for r, units in enumerate(([[0, 1], [2]], [[2], [0]])):
            for unit in units:
                gpu.launch(plan.job(unit, "cuda"))
            try:
                gpu.launch(plan.job([1], "cuda"))
            except RuntimeError:
                same["a third launch waits"] = True
            for unit in units:
                rows, cpu = gpu.collect(), _execution.train_job(plan.job(unit, "cpu"))
                same[f"streams' arrays reused, round {r}: {unit}"] = all(map(np.array_equal, rows, cpu))
    # arrays grow to twice their rows (up to rows=), streams are the thread's own, and leaving
    # the block (here after an error) waits for what was not collected and lets go of the arrays
    plan = _execution.Plan(Xg, yg, np.arange(1300), training, chunk_size=100)
    with _cuda.Launches(1, rows=500) as gpu:
        grown = []
        for unit in ([0], [1], [2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]):
            gpu.launch(plan.job(unit, "cuda"))
            gpu.collect()
            grown.append(gpu._buffers[0][("out", 0)].shape[0])
    same["arrays grown"] = grown == [100, 100, 300, 500, 500]  # as needed, twice theirs, within rows=
    again = _cuda.Launches(2)
    same["the thread's streams"] = again._streams[0] is gpu._streams[0] and len(again._streams) == 2
    try:
        with again:
            again.launch(plan.job([0], "cuda"))
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        same["left: nothing queued, no arrays"] = again._queued == [] and again._buffers == [{}, {}]
    check("gender float32", lambda d: fb.sweep(Xg, yg, few, epochs=12, lr=0.5, dtype="float32", device=d))
    # more samples than the kernel writes out: the sample loop, with options
    Xb = rng.uniform(-2, 2, (_cuda.UNROLLED_SAMPLES + 3, 2))
    yb = (Xb[:, 0] * Xb[:, 1] > 0).astype(float)
    for dtype in DTYPES:
        kw = dict(epochs=6, lr=1.0, lr_output=[0.5, 1, 2, 3, 4, 5], momentum=[0, 0.5, 0.9, 0, 0.3, 0.9], dtype=dtype)
        check(f"sample loop {dtype}", lambda d: fb.sweep(Xb, yb, few, device=d, **kw))
    # ... and a margin, and a tol, each met by some networks and not by others
    Xa, ya = fb.datasets.load("and")
    Xa, ya = np.tile(Xa, (5, 1)), np.tile(ya, 5)
    for dtype in DTYPES:
        for criterion in ("margin", "tol"):
            kw = dict(margin=0.45) if criterion == "margin" else dict(tol=0.05)
            run = lambda d: fb.sweep(Xa, ya, few, epochs=6, lr=2.0, dtype=dtype, device=d, **kw)
            etl = check(f"sample loop, {criterion} {dtype}", run).epochs_to_tol
            same[f"sample loop, {criterion} {dtype}: met and not"] = bool((etl > 0).any() and (etl < 0).any())
    # runs that overflow: which NaN they end with is the package's, not the target's
    for dtype, huge in (("float64", 1e308), ("float32", 3e38)):
        if dtype in DTYPES:
            cpu = check(f"diverged {dtype}", lambda d: fb.sweep(X, y, few, epochs=12, lr=huge, dtype=dtype, device=d))
            same[f"diverged {dtype}: NaNs"] = bool(np.isnan(cpu.params).any() and np.isnan(cpu.final_loss).all())
    # the most samples the kernel writes out
    Xw, yw = Xb[: _cuda.UNROLLED_SAMPLES], yb[: _cuda.UNROLLED_SAMPLES]
    check("16 samples written out", lambda d: fb.sweep(Xw, yw, few, epochs=6, lr=1.0, momentum=0.5, device=d))
    ran = [variant.samples for variant, *_ in _cuda._KERNELS]  # (keyed by what is compiled in too)
    same["16 samples written out: that kernel ran"] = _cuda.UNROLLED_SAMPLES in ran
    check("epochs=0", lambda d: fb.sweep(X, y, 5, epochs=0, init="uniform", device=d))
    grid_fields = ("loss", "epochs_to_tol")
    g = check("grid", lambda d: fb.grid(X, y, 40, lrs=[0.5, 3], epochs_list=[1, 3, 5], dtype="float32",
                                         tol=0.3, device=d), grid_fields)
    # the criterion was met by some networks and not by others
    same["epochs to tol reached and not"] = bool((g.epochs_to_tol >= 1).any() and (g.epochs_to_tol == -1).any())
    check(
        "grid with momenta, lr_output, tanh",
        lambda d: fb.grid(X, 2 * y - 1, 10, lrs=[0.5, 2.0], epochs_list=[2, 6], momenta=[0.0, 0.9], lr_output=1.5,
                          activation="tanh", tol=0.3, device=d),
        grid_fields,
    )
    X4, y4 = fb.datasets.load("and")  # four distinct samples: one alone can be outside the margin
    g = check("grid with a margin", lambda d: fb.grid(X4, y4, 40, lrs=[2, 3], epochs_list=[3, 6, 12], margin=0.45,
                                                      momenta=[0.0, 0.5], dtype="float32", device=d),
              (*grid_fields, "within_margin"))
    same["grid with a margin: met and not"] = bool(g.within_margin.any() and not g.within_margin.all())
    map_fields = ("params", "final_loss", "epochs_to_tol", "converged", "diverged")
    check("init map", lambda d: fb.init_map(X, y, 3, ("w1", "b3"), ((-4, 4), (-2, 2)), (3, 2), epochs=10, lr=1.0,
                                            momentum=0.5, dtype="float32", device=d), map_fields)
    check("lr map", lambda d: fb.lr_map(X, y, 3, (0.1, 10), (0.1, 10), (3, 2), epochs=10, margin=0.45, device=d),
          map_fields)
    # A store begun on the GPU and finished on the CPU is the uninterrupted sweep.
    d = os.path.join(tempfile.mkdtemp(), "s")
    full = fb.sweep(X, y, 130, epochs=3, lr=0.5, momentum=0.3, device="cuda", store=d)
    os.remove(os.path.join(d, "chunk-000001.npz"))
    resumed = fb.sweep(X, y, 130, epochs=3, lr=0.5, momentum=0.3, store=d)
    same["store"] = all(np.array_equal(getattr(full, f), getattr(resumed, f)) for f in FIELDS)
    # ... and one begun on the CPU, in chunks other than the GPU's, finished on the GPU in the CPU's
    _execution.BLOCKS_PER_CHUNK, _execution.CUDA_BLOCKS_PER_CHUNK = 1, 2
    d = os.path.join(tempfile.mkdtemp(), "s")
    full = fb.sweep(X, y, 300, epochs=3, lr=0.5, store=d)
    os.remove(os.path.join(d, "chunk-000001.npz"))
    launches.clear()
    resumed = fb.sweep(X, y, 300, epochs=3, lr=0.5, device="cuda", store=d)
    same["store begun on the CPU"] = launches == [128] and all(
        np.array_equal(getattr(full, f), getattr(resumed, f)) for f in FIELDS
    )
    print(json.dumps(same))
"""


@needs_numba_cuda
def test_simulated_kernel_equals_cpu_sweep_for_every_option():
    same = _run(SIMULATED, NUMBA_ENABLE_CUDASIM="1")
    assert len(same) == (57 if JIT else 40) and all(same.values()), [name for name, ok in same.items() if not ok]


# ---------------------------------------------------------------------------
# The PTX, without a GPU: NVVM compiles it for an H100 (sm_90)
# ---------------------------------------------------------------------------
PTX = """
    import json, types, re
    import numpy as np
    import numba.cuda.dispatcher as dispatcher
    # numba-cuda asks the current device for its compute capability when it
    # compiles a device function; there is none here, so name sm_90.
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0), id=0)
    from numba import cuda
    from fastbackprop import _cuda
    out = {}
    ops = lambda text: re.findall(r"^\\s+([a-z]+(?:\\.[a-z0-9]+)*)", text, re.M)
    # every activation and update with per-network settings, and the scalar default kernels
    # each compile takes seconds: the default kernels (scalar settings, the loop written
    # out for 4 samples), and tanh with momentum, per-network settings and the sample loop
    variants = [("float64", False, False, False, 4), ("float32", False, False, False, 4)]
    variants += [("float64", True, True, True, 0)]
    # float32's reciprocal: the hardware's approximation, then exactly one Newton step
    newton = re.compile(
        r"rcp\\.approx\\.ftz\\.f32 (%f\\d+), (%f\\d+);\\s*// end inline asm\\s*neg\\.f32\\s+(%f\\d+), \\2;"
        r"\\s*fma\\.rn\\.f32\\s+(%f\\d+), \\3, \\1, 0f3F800000;\\s*fma\\.rn\\.f32\\s+%f\\d+, \\1, \\4, \\1;"
    )
    for dtype, tanh, momentum, per_network, samples in variants:
        variant = _cuda.Variant(np.dtype(dtype), tanh, momentum, per_network, samples)
        text = _cuda.ptx(variant)
        name = f"{dtype} tanh={tanh} momentum={momentum} per_network={per_network} samples={samples}"
        out[name] = ops(text)
        out[f"{name}: reciprocals, Newton steps"] = [text.count("rcp.approx"), len(newton.findall(text))]
    # NVVM's default, for comparison (one variant only: each compile takes seconds)
    default = _cuda.Variant(np.dtype("float64"), True, True, True, 0)
    text, _ = cuda.compile_ptx(_cuda._make_kernel(default), _cuda._signature(default).args, cc=(9, 0))
    out["nvvm default"] = ops(text)
    print(json.dumps(out))
"""


@functools.cache
def _nvvm_available():
    """Whether libNVVM loads (probed in a subprocess, seconds: asked for only by the tests that need it)."""
    if not HAS_NUMBA_CUDA:
        return False
    probe = subprocess.run(
        [sys.executable, "-c", "from numba.cuda.cudadrv import nvvm; nvvm.NVVM(); print('ok')"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return probe.stdout.strip() == "ok"


#: A condition given as text is evaluated when a test runs, not when the module is collected.
needs_nvvm = pytest.mark.skipif(
    "not _nvvm_available()", reason="libNVVM is not installed (numba-cuda[cu13] or nvidia-nvvm)"
)


@pytest.mark.skipif(not JIT, reason="PTX is compiled code: read in the JIT pass")
@needs_nvvm
def test_ptx_rounds_every_operation_as_the_cpu_does():
    """Every float add, sub and mul is ``.rn`` (which ptxas may not fuse), the only FMAs are
    the explicit ones, division and sqrt are correctly rounded, nothing flushes subnormals,
    and no helper is left as a call."""
    out = _run(PTX, compiled=True)
    default = out.pop("nvvm default")
    steps = {name.split(":")[0]: out.pop(name) for name in list(out) if name.endswith("Newton steps")}
    assert len(out) == 3
    for variant, exact in out.items():
        fl = "f64" if "float64" in variant else "f32"
        # float32's sigmoid divides by rcp.approx and one Newton step (the fast path of rcp.rn.f32), each
        # approximation followed by that step; float64 has none
        reciprocals, newton_steps = steps[variant]
        assert reciprocals == newton_steps and (reciprocals > 0) == (fl == "f32"), (variant, steps[variant])
        exact = [op for op in exact if op != "rcp.approx.ftz.f32"]
        arithmetic = [op for op in exact if re.fullmatch(r"(add|sub|mul|div|fma|rcp|sqrt)\.[a-z.]*f(32|64)", op)]
        assert arithmetic and all(".rn." in op for op in arithmetic), (variant, sorted(set(arithmetic)))
        assert not [op for op in exact if "approx" in op or "ftz" in op or "full" in op], variant
        assert f"fma.rn.{fl}" in exact and "div.rn.f64" in exact, variant  # explicit FMAs, exact seed map
        assert not [op for op in exact if op.startswith("call")], variant  # every helper inlined
    # Compiled with NVVM's default, the same kernel gains FMAs: the contraction this avoids.
    plain = out["float64 tanh=True momentum=True per_network=True samples=0"]
    assert default.count("fma.rn.f64") > plain.count("fma.rn.f64")


PTX64 = """
    import json, types, re
    import numpy as np
    import numba.cuda.dispatcher as dispatcher
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0), id=0)
    from fastbackprop import _cuda, _kernels
    _kernels.GPU_RECIPROCAL64_FAST_PATH = True  # before anything compiles
    text = _cuda.ptx(_cuda.Variant(np.dtype("float64"), False, False, False, 4))
    # rcp.rn.f64's fast path: the approximation's high word with d's high word + 0x300402 as its
    # low word, then two Newton steps of five FMAs, each on the value before it
    chain = re.compile(
        r"neg\\.f64\\s+(%fd\\d+), (%fd\\d+);\\s*// begin inline asm\\s*rcp\\.approx\\.ftz\\.f64 (%fd\\d+), \\2;"
        r"\\s*// end inline asm\\s*mov\\.b64\\s+(%rd\\d+), \\2;\\s*shr\\.u64\\s+(%rd\\d+), \\4, 32;"
        r"\\s*add\\.s64\\s+(%rd\\d+), \\5, 3146754;\\s*mov\\.b64\\s+(%rd\\d+), \\3;"
        r"\\s*and\\.b64\\s+(%rd\\d+), \\7, -4294967296;\\s*and\\.b64\\s+(%rd\\d+), \\6, 4294967295;"
        r"\\s*or\\.b64\\s+(%rd\\d+), \\9, \\8;\\s*mov\\.b64\\s+(%fd\\d+), \\10;"
        r"\\s*fma\\.rn\\.f64\\s+(%fd\\d+), \\1, \\11, 0d3FF0000000000000;"
        r"\\s*fma\\.rn\\.f64\\s+(%fd\\d+), \\12, \\12, \\12;\\s*fma\\.rn\\.f64\\s+(%fd\\d+), \\11, \\13, \\11;"
        r"\\s*fma\\.rn\\.f64\\s+(%fd\\d+), \\1, \\14, 0d3FF0000000000000;"
        r"\\s*fma\\.rn\\.f64\\s+%fd\\d+, \\14, \\15, \\14;"
    )
    print(json.dumps(dict(
        approximations=text.count("rcp.approx.ftz.f64"), chains=len(chain.findall(text)),
        correctly_rounded=text.count("rcp.rn.f64"), other_approx=len(re.findall(r"approx\\.(?!ftz\\.f64)", text)),
    )))
"""


@pytest.mark.skipif(not JIT, reason="PTX is compiled code: read in the JIT pass")
@needs_nvvm
def test_float64_reciprocal_fast_path_is_ptxas_fast_path_in_the_ptx():
    """With GPU_RECIPROCAL64_FAST_PATH, every float64 reciprocal of the sigmoid is the chain that
    ptxas writes for rcp.rn.f64's fast path (read from its SASS on an H200), instruction for
    instruction; no rcp.rn.f64 is left, and nothing else is approximate."""
    out = _run(PTX64, compiled=True)
    assert out["approximations"] > 0 and out["chains"] == out["approximations"], out
    assert out["correctly_rounded"] == 0 and out["other_approx"] == 0, out


SM90_KERNEL = """
    import hashlib, json, re, types
    import numpy as np
    import numba.cuda.dispatcher as dispatcher
    from numba.cuda import codegen
    # An sm_90 device that is not there: Numba, NVVM and nvJitLink run as on a GPU
    # machine, up to the cubin, which is cached; nothing is loaded onto a device.
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0), id=0)
    codegen.CUDACodeLibrary._ensure_cc = lambda self, cc: cc or (9, 0, "a")
    codegen.JITCUDACodegen.magic_tuple = lambda self: ("runtime", (9, 0))
    dispatcher._Kernel.bind = lambda self: self._codelibrary.get_cubin()
    from fastbackprop import _cuda
    kernel = _cuda.compile_kernel(_cuda.Variant(np.dtype("float32"), False, False, False, 4))
"""
CACHE = f"""{SM90_KERNEL}
    (sig, compiled), = kernel.overloads.items()
    library = compiled.library
    cubin = hashlib.sha256(library.get_cubin().code).hexdigest()
    loaded = [kernel.stats.cache_hits[sig], kernel.stats.cache_misses[sig]] == [1, 0]
    print(json.dumps(dict(loaded=loaded, cubin=cubin, lto=library._lto)))
"""


OTHER_DEVICE = f"""{SM90_KERNEL}
    (compiled,) = kernel.overloads.values()
    # what a launch on an sm_80 GPU compiles from the kernel's IR, outside _exact_compile
    other = compiled.library.get_asm_str(cc=(8, 0, ""))
    print(json.dumps(dict(unrounded=len(re.findall(r"\\b(?:mul|add|sub)\\.f32\\b", other)),
                          rounded=len(re.findall(r"\\b(?:mul|add|sub)\\.rn\\.f32\\b", other)))))
"""


@pytest.mark.skipif(not JIT, reason="compiled code: run in the JIT pass")
@needs_nvvm
def test_a_gpu_of_another_compute_capability_gets_the_kernel_without_contraction():
    """A launch on a GPU of another compute capability compiles PTX for it from the kernel's IR, outside
    _exact_compile, with the library's own NVVM options: they carry -fma=0 (297 mul/add/sub that ptxas
    may fuse, without: other bits on the second GPU of a mixed box)."""
    out = _run(OTHER_DEVICE, compiled=True)
    assert out["rounded"] > 0 and out["unrounded"] == 0, out


@needs_numba_cuda
@pytest.mark.parametrize(
    "module, setting, value",
    [
        ("_cuda", "MAX_REGISTERS", 56),
        ("_cuda", "WORST_SAMPLE_FIRST", False),
        ("_kernels", "GPU_RECIPROCAL_FAST_PATH", False),
        ("_kernels", "GPU_RECIPROCAL64_FAST_PATH", True),
    ],
)
def test_gpu_cache_key_changes_with_each_setting_compiled_in(monkeypatch, module, setting, value):
    """Read without compiling: the index key of the same kernel, built afresh, with one setting changed.
    (Restored: c7003c7 dropped it with the slow test it had replaced; three mutants need it.)"""
    from fastbackprop import _cuda

    class Codegen:  # numba-cuda's asks the GPU for its compute capability
        def magic_tuple(self):
            return ("runtime", (9, 0))

    variant = _cuda.Variant(np.dtype("float32"), False, False, False, 4)

    def key():
        dispatcher = _cuda._cached_dispatcher(_cuda._make_kernel(variant), variant)
        return dispatcher._cache._index_key(_cuda._signature(variant).args, Codegen())

    default = key()
    assert key() == default
    monkeypatch.setattr(importlib.import_module(f"fastbackprop.{module}"), setting, value)
    assert key() != default


@needs_numba_cuda
def test_a_kernel_compiled_before_a_setting_changed_is_not_handed_out_after(monkeypatch):
    """The register cap and the switches are compiled in (a benchmark changes them between sweeps):
    the kernel compiled under the old value must not be returned under the new one, nor compiled
    twice for one value."""
    from fastbackprop import _cuda, _kernels

    monkeypatch.setattr(_cuda, "_KERNELS", {})
    monkeypatch.setattr(_cuda, "_make_kernel", lambda variant: None)
    monkeypatch.setattr(_cuda, "_compiled", lambda body, variant: object())
    monkeypatch.setattr(_cuda, "_exact_compile", contextlib.nullcontext)
    monkeypatch.setattr(_cuda.config, "ENABLE_CUDASIM", False)
    variant = _cuda.Variant(np.dtype("float32"), False, False, False, 4)
    seen = [_cuda.compile_kernel(variant)]
    assert _cuda.compile_kernel(variant) is seen[0]
    changes = ((_cuda, "MAX_REGISTERS", 56), (_cuda, "WORST_SAMPLE_FIRST", False))
    reciprocals = ((_kernels, "GPU_RECIPROCAL_FAST_PATH", False), (_kernels, "GPU_RECIPROCAL64_FAST_PATH", True))
    for module, setting, value in (*changes, *reciprocals):
        monkeypatch.setattr(module, setting, value)
        seen.append(_cuda.compile_kernel(variant))
        assert _cuda.compile_kernel(variant) is seen[-1]
    assert len({id(kernel) for kernel in seen}) == 5


def test_a_dask_workers_gpu_launch_keeps_within_the_launch_bytes():
    """A worker launched 2^20 networks whatever each records: 23 GiB for a float64 grid of 3000
    lengths with a margin, where a local launch keeps within CUDA_LAUNCH_BYTES."""
    from fastbackprop import _execution
    from fastbackprop._settings import Execution
    from fastbackprop._validation import check_training

    X, y = fb.datasets.xor()
    execution = Execution(threads=1, progress=False, store=None, client=None, device="cuda")
    sweep_ = check_training(epochs=3000, lr=0.5, tol=0.01, dtype="float32")
    grid_ = check_training(epochs=3000, lr=0.5, tol=0.01, dtype="float64", record_at=range(1, 3001), margin=0.4)
    launched = {}
    for name, training in (("sweep", sweep_), ("grid", grid_)):
        size = _execution.chunk_size(10**7, execution, training)
        plan = _execution.Plan(X, y, np.arange(10**7), training, chunk_size=size)
        launched[name] = _execution.dask_chunks_per_unit(plan) * size
        assert launched[name] * _execution._device_bytes(training) <= _execution.CUDA_LAUNCH_BYTES
    assert launched["sweep"] == _execution.CUDA_NETWORKS_PER_LAUNCH and launched["grid"] < 2**16


@needs_numba_cuda
def test_device_functions_are_kept_apart_for_each_reciprocal_setting(monkeypatch):
    """They have the setting compiled in: a kernel compiled after it changed must not reuse them."""
    from fastbackprop import _cuda, _kernels

    made = [(_cuda._step(False, False), _cuda._output(False), _cuda._unrolled(2, False, False))]
    for setting, value in (("GPU_RECIPROCAL_FAST_PATH", False), ("GPU_RECIPROCAL64_FAST_PATH", True)):
        monkeypatch.setattr(_kernels, setting, value)
        made.append((_cuda._step(False, False), _cuda._output(False), _cuda._unrolled(2, False, False)))
        assert _cuda._output(False) is made[-1][1]
    assert len({id(f) for functions in made for f in functions}) == 9


@pytest.mark.skipif(not JIT, reason="compiled code: run in the JIT pass")
@needs_nvvm
def test_gpu_kernel_compiled_in_one_process_is_loaded_from_disk_in_the_next(tmp_path):
    """No Numba, NVVM or ptxas the second time: the same cubin, linked from the PTX compiled with -fma=0
    (not LTO-IR). Built for sm_90 without a GPU; ``test_gpu_kernel_is_loaded_from_the_disk_cache_in_a_new_process``
    runs one. What the key holds: ``test_gpu_cache_key_changes_with_each_setting_compiled_in``."""
    first, again = (_run(CACHE, compiled=True, NUMBA_CACHE_DIR=str(tmp_path)) for _ in range(2))
    assert [first["loaded"], again["loaded"]] == [False, True]
    assert first["cubin"] == again["cubin"]
    assert not first["lto"] and not again["lto"]


# ---------------------------------------------------------------------------
# On a real GPU: the CPU's bits, at full length
# ---------------------------------------------------------------------------
@needs_gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("data", ["gender", "xor"])
def test_gpu_sweep_is_bit_identical_to_cpu(monkeypatch, data, dtype):
    # chunks of one block, launches 4 times the last: several launches of several chunks, as 10^7 seeds make
    monkeypatch.setattr(_execution, "CUDA_BLOCKS_PER_CHUNK", 1)
    monkeypatch.setattr(_execution, "CUDA_LAUNCH_SECONDS", 1e9)
    X, y = fb.datasets.load(data)
    seeds = np.r_[np.arange(20_000), np.iinfo(np.int64).max - np.arange(100)]
    lr = 0.5 if data == "xor" else 0.2
    gpu = fb.sweep(X, y, seeds, epochs=3000, lr=lr, dtype=dtype, device="cuda")
    cpu = fb.sweep(X, y, seeds, epochs=3000, lr=lr, dtype=dtype)
    for f in ("params", "final_loss", "epochs_to_tol"):
        np.testing.assert_array_equal(getattr(gpu, f), getattr(cpu, f), err_msg=f)


@needs_gpu
def test_gpu_reciprocal_is_the_correctly_rounded_division_for_every_divisor_of_the_sigmoid():
    """Exhaustively, every float32 d in [1, 2**87): the sigmoid's 1 + exp(-z), |z| <= 60, is below 1.2e26."""
    from numba import cuda, types

    from fastbackprop import _cuda, _kernels

    def check(n, bad):  # counts the d = 1 + k ulp (k < n) where _recip(d) differs from 1 / d
        k = cuda.grid(1)
        if k < n:
            d = cuda.libdevice.int_as_float(np.int32(0x3F800000 + k))
            if _kernels._recip(d) != np.float32(1.0) / d:
                cuda.atomic.add(bad, 0, 1)

    with _cuda._exact_compile():  # 1 / d: division rounded correctly, as the CPU's
        kernel = cuda.jit((types.int32, types.int64[::1]), lto=False)(check)
    n = 87 << 23
    bad = cuda.to_device(np.zeros(1, np.int64))
    kernel[-(-n // 256), 256](n, bad)
    assert bad.copy_to_host()[0] == 0


@needs_gpu
def test_gpu_float64_reciprocal_fast_path_is_the_correctly_rounded_division(monkeypatch):
    """Every high word of a float64 d in [1, 2**87), the sigmoid's divisors (MUFU.RCP64H and the low word
    paired with it read only that), each with low words 0, 1, 2**31, 2**32 - 1 and four hashed."""
    from numba import cuda, types

    from fastbackprop import _cuda, _kernels

    monkeypatch.setattr(_kernels, "GPU_RECIPROCAL64_FAST_PATH", True)

    def check(n, lows, bad):  # counts the d where _recip(d) differs from 1 / d
        k = cuda.grid(1)
        if k < n:
            high = np.int64(0x3FF00000 + k) << np.int64(32)
            for j in range(lows.shape[0]):
                low = lows[j] if j < 4 else (lows[j] * np.int64(k + 1)) & np.int64(0xFFFFFFFF)
                d = cuda.libdevice.longlong_as_double(high | low)
                if _kernels._recip(d) != 1.0 / d:
                    cuda.atomic.add(bad, 0, 1)

    with _cuda._exact_compile():  # 1 / d: division rounded correctly, as the CPU's
        kernel = cuda.jit((types.int64, types.int64[::1], types.int64[::1]), lto=False)(check)
    n = 87 << 20
    lows = np.array([0, 1, 2**31, 2**32 - 1, 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F], np.int64)
    bad = cuda.to_device(np.zeros(1, np.int64))
    kernel[-(-n // 256), 256](n, cuda.to_device(lows), bad)
    assert bad.copy_to_host()[0] == 0


@needs_gpu
def test_gpu_float64_reciprocal_fast_path_sweeps_are_bit_identical_to_cpu():
    """With the switch on from the start of a process, float64 sweeps of each data set and option."""
    out = _run("""
        import json, numpy as np, fastbackprop as fb
        from fastbackprop import _kernels
        _kernels.GPU_RECIPROCAL64_FAST_PATH = True
        same = {}
        for data, kw in (("gender", dict(lr=0.2)), ("xor", dict(lr=0.5)), ("xor", dict(lr=0.05, momentum=0.9)),
                         ("xor", dict(lr=0.3, activation="tanh", margin=0.4))):
            X, y = fb.datasets.load(data)
            y = 2 * y - 1 if kw.get("activation") == "tanh" else y
            gpu = fb.sweep(X, y, 20_000, epochs=3000, dtype="float64", device="cuda", **kw)
            cpu = fb.sweep(X, y, 20_000, epochs=3000, dtype="float64", **kw)
            same[f"{data} {kw}"] = all(np.array_equal(getattr(gpu, f), getattr(cpu, f))
                                       for f in ("params", "final_loss", "epochs_to_tol"))
        print(json.dumps(same))
    """)  # fmt: skip
    assert all(out.values()), out


@needs_gpu
def test_gpu_kernel_is_loaded_from_the_disk_cache_in_a_new_process(tmp_path):
    """The second process's kernel comes from the first's cache entry and trains the same bits."""
    script = """
        import hashlib, json, time
        import fastbackprop as fb
        from fastbackprop import _cuda
        X, y = fb.datasets.xor()
        t = time.perf_counter()
        r = fb.sweep(X, y, 3000, epochs=500, lr=0.5, dtype="float32", device="cuda")
        seconds = time.perf_counter() - t
        (kernel,) = _cuda._KERNELS.values()
        digest = hashlib.sha256(r.params.tobytes() + r.final_loss.tobytes() + r.epochs_to_tol.tobytes())
        stats = [sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values())]
        print(json.dumps(dict(stats=stats, digest=digest.hexdigest(), seconds=seconds)))
    """
    first, again = (_run(script, compiled=True, NUMBA_CACHE_DIR=str(tmp_path)) for _ in range(2))
    assert first["stats"] == [0, 1] and again["stats"] == [1, 0]
    assert again["digest"] == first["digest"]
    X, y = fb.datasets.xor()
    cpu = fb.sweep(X, y, 3000, epochs=500, lr=0.5, dtype="float32")
    digest = hashlib.sha256(cpu.params.tobytes() + cpu.final_loss.tobytes() + cpu.epochs_to_tol.tobytes())
    assert again["digest"] == digest.hexdigest()
    print(f"first sweep of a new process: {first['seconds']:.2f} s compiling, {again['seconds']:.2f} s loading")


@needs_gpu
def test_gpu_grid_is_bit_identical_to_cpu():
    X, y = fb.datasets.xor()
    gpu = fb.grid(X, y, 5000, lrs=[0.1, 1.0, 8.0], epochs_list=[10, 300, 2000], device="cuda")
    cpu = fb.grid(X, y, 5000, lrs=[0.1, 1.0, 8.0], epochs_list=[10, 300, 2000])
    np.testing.assert_array_equal(gpu.loss, cpu.loss)
    np.testing.assert_array_equal(gpu.epochs_to_tol, cpu.epochs_to_tol)


@needs_gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gpu_options_are_bit_identical_to_cpu(dtype):
    X, y = fb.datasets.xor()
    n = 5000
    rng = np.random.default_rng(16)
    cases = {
        "lr, lr_output, momentum per network": dict(
            lr=rng.uniform(0.1, 4, n), lr_output=rng.uniform(0.1, 4, n), momentum=rng.choice([0.0, 0.5, 0.9], n)
        ),
        "uniform init, init_scale per network": dict(lr=0.5, init="uniform", init_scale=rng.uniform(0.2, 4, n)),
        "explicit starts": dict(lr=0.5, params0=rng.normal(0, 2, (n, 9))),
        "tanh, margin, momentum": dict(lr=0.3, activation="tanh", margin=0.4, momentum=0.5),
        "tanh, lr per network": dict(lr=rng.uniform(0.05, 1, n), activation="tanh"),
        "no epochs_to_tol": dict(lr=0.5, epochs_to_tol=False),
    }
    for name, kw in cases.items():
        yt = 2 * y - 1 if kw.get("activation") == "tanh" else y
        gpu = fb.sweep(X, yt, n, epochs=3000, dtype=dtype, device="cuda", **kw)
        cpu = fb.sweep(X, yt, n, epochs=3000, dtype=dtype, **kw)
        for f in ("params", "final_loss", "epochs_to_tol", "converged"):
            np.testing.assert_array_equal(getattr(gpu, f), getattr(cpu, f), err_msg=f"{name}: {f}")


@needs_gpu
def test_gpu_grid_with_options_is_bit_identical_to_cpu():
    X, y = fb.datasets.xor()
    kw = dict(momenta=[0.0, 0.9], lr_output=2.0, activation="tanh", dtype="float32")
    gpu = fb.grid(X, 2 * y - 1, 3000, lrs=[0.05, 0.5], epochs_list=[100, 2000], device="cuda", **kw)
    cpu = fb.grid(X, 2 * y - 1, 3000, lrs=[0.05, 0.5], epochs_list=[100, 2000], **kw)
    np.testing.assert_array_equal(gpu.loss, cpu.loss)
    np.testing.assert_array_equal(gpu.epochs_to_tol, cpu.epochs_to_tol)
    gpu = fb.grid(X, y, 3000, lrs=[0.5, 4.0], epochs_list=[100, 2000], margin=0.4, momenta=[0.0, 0.9], device="cuda")
    cpu = fb.grid(X, y, 3000, lrs=[0.5, 4.0], epochs_list=[100, 2000], margin=0.4, momenta=[0.0, 0.9])
    np.testing.assert_array_equal(gpu.within_margin, cpu.within_margin)
    np.testing.assert_array_equal(gpu.loss, cpu.loss)


@needs_gpu
def test_gpu_maps_are_bit_identical_to_cpu():
    X, y = fb.datasets.xor()
    for make in (
        lambda d: fb.init_map(X, y, 2, ("w1", "w2"), ((-6, 6), (-6, 6)), (48, 40), epochs=2000, lr=0.5, device=d),
        lambda d: fb.lr_map(X, y, 2, (0.01, 30), (0.01, 30), (40, 48), epochs=2000, dtype="float32", device=d),
    ):
        gpu, cpu = make("cuda"), make("cpu")
        for f in ("params", "final_loss", "epochs_to_tol"):
            np.testing.assert_array_equal(getattr(gpu, f), getattr(cpu, f), err_msg=f)


@pytest.mark.skipif(not JIT, reason="a compiled script's smoke test: run in the JIT pass")
@needs_numba_cuda
def test_gpu_benchmark_script_runs_under_the_simulator(tmp_path):
    """benchmarks/gpu_sweeps.py runs on GPU machines only: keep it from rotting."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env.pop("NUMBA_DISABLE_JIT", None)  # compiled: the script's sweeps are 10^4 times slower in pure Python
    res = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu_sweeps.py",
            "--scale",
            "1e-5",
            "--epochs",
            "2",
            "--skip",
            "jax,torch,option",  # the options' steps: their sweeps are the simulated test's, and compile for a minute
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads((tmp_path / "gpu_sweeps.json").read_text())
    kinds = {r["kind"] for r in rows}
    assert {"identity", "fastbackprop-cuda", "fastbackprop-cpu"} <= kinds, kinds
    identities = [r for r in rows if r["kind"] == "identity" and "data" in r]
    assert len(identities) == 4 and all(r["identical_rows"] == r["seeds"] for r in identities)
    variants = {"loop", "unrolled", "cap", "worst-first", "full-loss", "store", "grid", "launches", "launch-walls"}
    assert {"fastbackprop-cuda-map", *(f"fastbackprop-cuda-{v}" for v in variants)} <= kinds, kinds
    # the simulator has no device name or SASS: those steps report errors, nothing else does
    assert {r["step"] for r in rows if r["kind"] == "error"} <= {"env", "kernels"}


def test_gpu_session_script_selects_every_gpu_test():
    """benchmarks/gpu_session.sh picks the GPU tests by name: a renamed test must not drop out of it."""
    with open(os.path.join(ROOT, "benchmarks", "gpu_session.sh")) as f:
        script = f.read()
    assert subprocess.run(["bash", "-n", "-c", script]).returncode == 0
    selection = re.search(r'-k "([^"]+)"', script).group(1)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_cuda.py", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-k", selection],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    chosen = {line.split("::")[1].split("[")[0] for line in res.stdout.splitlines() if "::" in line}
    with open(__file__) as f:
        gpu_tests = set(re.findall(r"@needs_gpu\n(?:@.*\n)*def (test_\w+)", f.read()))
    assert gpu_tests and gpu_tests <= chosen, gpu_tests - chosen
