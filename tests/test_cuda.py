"""The CUDA target: validation and errors here, the kernel's logic under numba-cuda's
simulator, its PTX without a GPU (no contraction, no approximations), and bit-identity
with the CPU sweep on a real GPU when there is one."""

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
        fb.grid(X, y, 4, [0.5], [1], device=device)


@pytest.mark.skipif(GPU, reason="a GPU is present")
def test_cuda_without_a_gpu_says_what_is_missing(capsys):
    X, y = fb.datasets.xor()
    expected = (
        (fb.DeviceUnavailableError, "no usable CUDA GPU")
        if HAS_NUMBA_CUDA
        else (ImportError, "cuda.*extra|fastbackprop\\[cuda\\]")
    )
    with pytest.raises(expected[0], match=expected[1]):
        fb.sweep(X, y, 4, epochs=1, device="cuda")
    assert main(["sweep", "--seeds", "4", "--epochs", "1", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastbackprop: error: device='cuda'") and err.count("\n") == 1


def test_cli_device_choices(capsys):
    assert main(["sweep", "--seeds", "4", "--device", "tpu"]) == 2
    assert "--device: invalid choice: 'tpu'" in capsys.readouterr().err


def test_core_package_never_imports_numba_cuda():
    out = _run("""
        import json, sys, fastbackprop as fb
        X, y = fb.datasets.xor()
        fb.sweep(X, y, 4, epochs=2, lr=0.5)
        fb.grid(X, y, 4, [0.5], [1, 2])
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("numba.cuda", "numba_cuda", "cuda")))))
    """)
    assert out == []  # (numba-cuda's own .pth loads a tiny _numba_cuda_redirector at start-up)


# ---------------------------------------------------------------------------
# The kernel's logic under the simulator: every option, against the CPU, bit for bit
# (the simulator runs the kernel body in Python, calling the same compiled helpers)
# ---------------------------------------------------------------------------
SIMULATED = """
    import json, numpy as np, fastbackprop as fb
    from fastbackprop import _execution
    # Small chunks and launches, so that one sweep spans several launches and a
    # launch several chunks, as 10^7 seeds do on a GPU.
    _execution.BLOCKS_PER_CHUNK = 1
    _execution.CUDA_CHUNKS_PER_LAUNCH = 2
    fields = ("params", "final_loss", "epochs_to_tol", "converged", "diverged")
    same = {}
    few = np.array([0, 1, 2, 3, 2**63 - 1, 12345678901234])
    for data in ("gender", "xor"):
        X, y = fb.datasets.load(data)
        for dtype in ("float64", "float32"):
            # 302 seeds (two launches, three chunks) once; a few seeds elsewhere
            seeds = np.r_[np.arange(300), few[-2:]] if (data, dtype) == ("gender", "float64") else few
            gpu = fb.sweep(X, y, seeds, epochs=4, lr=0.5, dtype=dtype, device="cuda")
            cpu = fb.sweep(X, y, seeds, epochs=4, lr=0.5, dtype=dtype)
            same[f"sweep {data} {dtype}"] = all(np.array_equal(getattr(gpu, f), getattr(cpu, f)) for f in fields)
    X, y = fb.datasets.xor()
    g = fb.grid(X, y, 40, [0.5, 3.0], [1, 3, 5], dtype="float32", tol=0.3, device="cuda")
    c = fb.grid(X, y, 40, [0.5, 3.0], [1, 3, 5], dtype="float32", tol=0.3)
    same["grid"] = np.array_equal(g.loss, c.loss) and np.array_equal(g.epochs_to_tol, c.epochs_to_tol)
    zero = fb.sweep(X, y, 5, epochs=0, device="cuda")
    same["epochs=0"] = np.array_equal(zero.final_loss, fb.sweep(X, y, 5, epochs=0).final_loss)
    same["etl reached"] = bool((g.epochs_to_tol >= 1).any() and (g.epochs_to_tol == -1).any())
    # A store begun on the GPU and finished on the CPU is the uninterrupted sweep.
    import tempfile, os
    d = os.path.join(tempfile.mkdtemp(), "s")
    full = fb.sweep(X, y, 130, epochs=3, lr=0.5, device="cuda", store=d)
    os.remove(os.path.join(d, "chunk-000001.npz"))
    resumed = fb.sweep(X, y, 130, epochs=3, lr=0.5, store=d)
    same["store"] = all(np.array_equal(getattr(full, f), getattr(resumed, f)) for f in fields)
    print(json.dumps(same))
"""


@needs_numba_cuda
def test_simulated_kernel_equals_cpu_sweep_for_every_option():
    same = _run(SIMULATED, NUMBA_ENABLE_CUDASIM="1")
    assert same and all(same.values()), same


# ---------------------------------------------------------------------------
# The PTX, without a GPU: NVVM compiles it for an H100 (sm_90)
# ---------------------------------------------------------------------------
PTX = """
    import json, types, re
    import numba.cuda.dispatcher as dispatcher
    # numba-cuda asks the current device for its compute capability when it
    # compiles a device function; there is none here, so name sm_90.
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0), id=0)
    from numba import cuda
    from fastbackprop import _cuda
    out = {}
    ops = lambda text: re.findall(r"^\\s+([a-z]+(?:\\.[a-z0-9]+)*)", text, re.M)
    for dtype in ("float64", "float32"):
        out[dtype] = {"exact": ops(_cuda.ptx(dtype))}
    # NVVM's default, for comparison (float64 only: each compile takes seconds)
    default, _ = cuda.compile_ptx(_cuda._body("float64"), _cuda._signature("float64").args, cc=(9, 0))
    out["float64"]["default"] = ops(default)
    print(json.dumps(out))
"""


def _nvvm_available():
    if not HAS_NUMBA_CUDA:
        return False
    probe = subprocess.run(
        [sys.executable, "-c", "from numba.cuda.cudadrv import nvvm; nvvm.NVVM(); print('ok')"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return probe.stdout.strip() == "ok"


@pytest.mark.skipif(not JIT, reason="PTX is compiled code: read in the JIT pass")
@pytest.mark.skipif(not _nvvm_available(), reason="libNVVM is not installed (numba-cuda[cu13] or nvidia-nvvm)")
def test_ptx_rounds_every_operation_as_the_cpu_does():
    """Every float add, sub and mul is ``.rn`` (which ptxas may not fuse), the only FMAs are
    the explicit ones, division and sqrt are correctly rounded, nothing flushes subnormals."""
    out = _run(PTX, compiled=True)
    for dtype, ops in out.items():
        exact = ops["exact"]
        fl = "f64" if dtype == "float64" else "f32"
        arithmetic = [op for op in exact if re.fullmatch(r"(add|sub|mul|div|fma|rcp|sqrt)\.[a-z.]*f(32|64)", op)]
        assert arithmetic and all(".rn." in op for op in arithmetic), sorted(set(arithmetic))
        assert not [op for op in exact if "approx" in op or "ftz" in op or "full" in op]
        assert f"fma.rn.{fl}" in exact and "div.rn.f64" in exact  # explicit FMAs, exact seed map
    # Compiled with NVVM's default, the same kernel gains FMAs: the contraction this avoids.
    assert out["float64"]["default"].count("fma.rn.f64") > out["float64"]["exact"].count("fma.rn.f64")


# ---------------------------------------------------------------------------
# On a real GPU: the CPU's bits, at full length
# ---------------------------------------------------------------------------
@needs_gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("data", ["gender", "xor"])
def test_gpu_sweep_is_bit_identical_to_cpu(data, dtype):
    X, y = fb.datasets.load(data)
    seeds = np.r_[np.arange(20_000), np.iinfo(np.int64).max - np.arange(100)]
    lr = 0.5 if data == "xor" else 0.2
    gpu = fb.sweep(X, y, seeds, epochs=3000, lr=lr, dtype=dtype, device="cuda")
    cpu = fb.sweep(X, y, seeds, epochs=3000, lr=lr, dtype=dtype)
    for f in ("params", "final_loss", "epochs_to_tol"):
        np.testing.assert_array_equal(getattr(gpu, f), getattr(cpu, f), err_msg=f)


@needs_gpu
def test_gpu_grid_is_bit_identical_to_cpu():
    X, y = fb.datasets.xor()
    gpu = fb.grid(X, y, 5000, [0.1, 1.0, 8.0], [10, 300, 2000], device="cuda")
    cpu = fb.grid(X, y, 5000, [0.1, 1.0, 8.0], [10, 300, 2000])
    np.testing.assert_array_equal(gpu.loss, cpu.loss)
    np.testing.assert_array_equal(gpu.epochs_to_tol, cpu.epochs_to_tol)


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
            "jax,torch",
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
    assert all(r["identical_rows"] == r["seeds"] for r in rows if r["kind"] == "identity" and "data" in r)
    # the simulator has no device name or SASS: those steps report errors, nothing else does
    assert {r["step"] for r in rows if r["kind"] == "error"} <= {"env", "compile"}
