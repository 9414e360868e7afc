"""What a bug report needs: versions, the CPU and its vector width, threads, the kernel cache, extras, the GPU."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from typing import Any

#: Optional extras and the module each one installs.
EXTRAS = {"progress": "tqdm", "plot": "matplotlib", "distributed": "distributed", "cuda": "numba_cuda"}


def info() -> dict[str, Any]:
    """The environment as a JSON-ready dict; compiles nothing.

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

    cpu, features, fma = _target(numba.config, llvm)
    # The widest registers LLVM may use for the kernels' lane loops on this CPU.
    width = 512 if features.get("avx512f") else 256 if features.get("avx2") or features.get("avx") else 128
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


def _target(config: Any, llvm: Any) -> tuple[str, dict[str, bool], bool | None]:
    """The CPU the kernels compile for: its name, its features, and whether it has FMA (None: not known).

    This CPU, or the one NUMBA_CPU_NAME and NUMBA_CPU_FEATURES name (a kernel
    cache shared by machines; "generic" has no features at all). Without FMA
    the kernels' explicit FMAs become a C library call per lane, which also
    stops their vectorisation: the same bits, a sweep 25-35 times slower.
    """
    name = config.CPU_NAME or llvm.get_host_cpu_name()
    if config.CPU_FEATURES is None:  # (Numba's own rule: the host's features)
        features = {k: bool(v) for k, v in llvm.get_host_cpu_features().items()}
        return name, features, features.get("fma", False)
    features = {f[1:]: f[0] == "+" for f in config.CPU_FEATURES.split(",") if f[:1] in ("+", "-")}
    # beyond the listed features, a named CPU has its own, which LLVM knows and this does not
    return name, features, features.get("fma", False if name == "generic" else None)


def _gpu() -> dict[str, Any] | None:
    if importlib.util.find_spec(EXTRAS["cuda"]) is None:
        return None
    from . import _cuda

    return _cuda.describe()
