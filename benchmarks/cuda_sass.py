"""The GPU kernels' training step, read from their SASS: no GPU needed.

    python benchmarks/cuda_sass.py [--nvdisasm PATH] [--cc 9.0]

Compiles each kernel variant (dtype x activation x momentum) to PTX as
``_cuda.compile_kernel`` does, links it with nvJitLink for the given compute
capability at its register cap and with none, disassembles the cubin with
``nvdisasm`` (the ``nvidia-cuda-nvdisasm`` wheel, or a CUDA toolkit) and
prints, per variant, the registers ptxas used, its spills, and the
instructions of the training-step loop (one network, one sample): all of
them, FP arithmetic, and local-memory loads and stores. The kernel is
issue-bound on an H100 (BENCHMARKS.md), so instructions per step compare
variants; they are not a speed measurement.
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numba.cuda.dispatcher as dispatcher
import numpy as np
from cuda.bindings import nvjitlink


def link(ptx, cc, max_registers):
    """(cubin bytes, ptxas info log) of ``ptx`` for compute capability ``cc``."""
    opts = [f"-arch=sm_{cc[0]}{cc[1]}", "-verbose"] + ([f"-maxrregcount={max_registers}"] if max_registers else [])
    handle = nvjitlink.create(len(opts), opts)
    data = ptx.encode()
    nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel")
    nvjitlink.complete(handle)
    cubin = bytearray(nvjitlink.get_linked_cubin_size(handle))
    nvjitlink.get_linked_cubin(handle, cubin)
    log = bytearray(nvjitlink.get_info_log_size(handle))
    nvjitlink.get_info_log(handle, log)
    nvjitlink.destroy(handle)
    return bytes(cubin), log.decode(errors="replace")


def instructions(sass):
    """[(text, labels at it)] of the disassembly, and the backward branches as (target, branch) indices."""
    code, labels, pending = [], {}, []
    for line in sass.splitlines():
        label = re.match(r"^\s*(\.L_x_\d+):", line)
        if label:
            pending.append(label.group(1))
            continue
        m = re.match(r"\s*/\*[0-9a-f]{4,}\*/\s+(.*?)\s*;", line)
        if m:
            labels.update((name, len(code)) for name in pending)
            pending = []
            code.append(m.group(1).strip())
    loops = []
    for k, text in enumerate(code):
        m = re.search(r"BRA\s+`\((\.L_x_\d+)\)", text)
        if m and labels.get(m.group(1), k) < k:
            loops.append((labels[m.group(1)], k))
    return code, loops


def step_loop(code, loops):
    """The training-step loop: of the innermost loops with three reciprocals
    (three neurons), the one with the most FP arithmetic (the loss loop has no update)."""

    def count(loop, pattern):
        return sum(bool(re.search(pattern, text)) for text in code[loop[0] : loop[1] + 1])

    neurons = [lp for lp in loops if count(lp, r"MUFU\.RCP") >= 3]
    innermost = [
        lp for lp in neurons if not any(o != lp and lp[0] <= o[0] and o[1] <= lp[1] for o in neurons)
    ]  # fmt: skip
    best = max(innermost, key=lambda lp: count(lp, r"^(@\S+\s+)?[DF](FMA|MUL|ADD)"))
    return code[best[0] : best[1] + 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvdisasm", default=shutil.which("nvdisasm"), help="path of nvdisasm (default: on PATH)")
    ap.add_argument("--cc", default="9.0", help="compute capability (default 9.0, an H100)")
    args = ap.parse_args()
    if not args.nvdisasm:
        sys.exit("nvdisasm not found: pip install nvidia-cuda-nvdisasm, or pass --nvdisasm PATH")
    cc = tuple(int(v) for v in args.cc.split("."))
    # numba-cuda asks the current device for its compute capability; there may be none.
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc, id=0)
    from fastbackprop import _cuda

    print("variant                                  cap   regs  spill st/ld  step: instrs  FP  LDL  STL")
    for dtype in ("float64", "float32"):
        for per_network in (False, True):
            for tanh in (False, True):
                for momentum in (False, True):
                    variant = _cuda.Variant(np.dtype(dtype), tanh, momentum, per_network)
                    measure(variant, cc, args.nvdisasm)


def measure(variant, cc, nvdisasm):
    """Print one line per register cap (the variant's, and none)."""
    from fastbackprop import _cuda

    ptx = _cuda.ptx(variant, cc=cc)
    for cap in (variant.max_registers, 0):
        cubin, log = link(ptx, cc, cap)
        with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
            f.write(cubin)
            f.flush()
            sass = subprocess.run([nvdisasm, "-c", f.name], capture_output=True, text=True).stdout
        step = step_loop(*instructions(sass))
        ops = collections.Counter(re.sub(r"^@!?\w+\s+", "", t).split()[0].split(".")[0] for t in step)
        fp = sum(ops[k] for k in ("DFMA", "DMUL", "DADD", "FFMA", "FMUL", "FADD"))
        regs = re.search(r"Used (\d+) registers", log).group(1)
        spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log).groups()
        name = " ".join(
            [str(variant.dtype), "tanh" if variant.tanh else "sigmoid"]
            + ["momentum"] * variant.momentum
            + ["per-network"] * variant.per_network
        )
        print(
            f"{name:40} {cap or 'none':>4} {regs:>5}  {'/'.join(spill):>10}  "
            f"{len(step):>11} {fp:>4} {ops['LDL']:>4} {ops['STL']:>4}"
        )


if __name__ == "__main__":
    main()
