"""What a bug report needs: versions, the CPU and its vector width, threads, the kernel cache, extras, the GPU."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import sys
from typing import Any

#: Optional extras and the module each one installs.
EXTRAS = {"progress": "tqdm", "plot": "matplotlib", "distributed": "distributed", "cuda": "numba_cuda"}


def info() -> dict[str, Any]:
    """The environment as a JSON-ready dict; compiles no kernel (``_target``'s probe only).

    ``gpu`` is None without the cuda extra, else ``_cuda.describe()``: the
    device numba-cuda would use, or why there is none (this starts the CUDA
    driver, when there is one).
    """
    import llvmlite
    import llvmlite.binding as llvm
    import numba
    import numpy as np

    from . import _kernels
    from ._version import __version__

    cpu, width, fma = _target(numba.config.CPU_NAME, numba.config.CPU_FEATURES)
    cache = getattr(_kernels.train_blocks, "_cache", None)
    cache_dir = getattr(cache, "_cache_path", None)
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
    return {
        "fastbackprop": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "llvm": ".".join(map(str, llvm.llvm_version_info)),
        "cpu": cpu,
        "vector_bits": width,
        "fma": fma,
        "cpu_count": os.cpu_count(),
        "threads": numba.config.NUMBA_NUM_THREADS,
        "kernel_cache": cache_dir,
        "kernel_cache_warm": bool(index and os.path.exists(index)),
        "extras": {name: importlib.util.find_spec(module) is not None for name, module in EXTRAS.items()},
        "gpu": _gpu(),
        "executable": sys.executable,
    }


#: An FMA and a 512-bit addition, compiled for the kernels' target to see what it makes of them.
_PROBE = """
define double @f(double %a, double %b, double %c) {
  %r = call double @llvm.fma.f64(double %a, double %b, double %c)
  ret double %r
}
define <16 x float> @g(<16 x float> %a, <16 x float> %b) {
  %r = fadd <16 x float> %a, %b
  ret <16 x float> %r
}
declare double @llvm.fma.f64(double, double, double)
"""


def _target(cpu_name: str | None, cpu_features: str | None) -> tuple[str, int | None, bool | None]:
    """The CPU the kernels compile for, the widest vector registers it has (bits) and whether it has FMA
    (None, None where LLVM cannot be asked: a bug report must not fail for it).

    This CPU, or NUMBA_CPU_NAME / NUMBA_CPU_FEATURES (a kernel cache shared by
    machines; "generic" has no features), by Numba's rules (NUMBA_ENABLE_AVX
    included), read from the code LLVM makes for it: feature strings apply in
    order and imply one another ("-avx" takes FMA with it), and some targets
    have FMA without naming it (every 64-bit ARM). Without FMA the kernels'
    explicit FMAs become a C library call per lane, which also stops their
    vectorisation: the same bits, a sweep 20-35 times slower.
    """
    import llvmlite.binding as llvm
    from numba.core import codegen

    name = cpu_name or llvm.get_host_cpu_name()
    features = cpu_features if cpu_features is not None else codegen.get_host_cpu_features()
    try:
        codegen.initialize_llvm()
        target = llvm.Target.from_triple(llvm.get_process_triple())
        machine = target.create_target_machine(cpu=name, features=features, opt=2)
        asm = machine.emit_assembly(llvm.parse_assembly(_PROBE))
    except Exception:  # noqa: BLE001 - Numba's and llvmlite's internals move between releases
        return name, None, None
    width = 512 if "zmm" in asm else 256 if "ymm" in asm else 128
    return name, width, re.search(r"(?<![\w.])fma(?!\w)", asm) is None  # no call to libm's fma


def _gpu() -> dict[str, Any] | None:
    if importlib.util.find_spec(EXTRAS["cuda"]) is None:
        return None
    from . import _cuda

    return _cuda.describe()
