"""The GPU kernels' epochs, read from their SASS: no GPU needed.

    python benchmarks/cuda_sass.py [--nvdisasm PATH] [--cc 9.0]

Compiles each kernel variant (dtype, activation, momentum, per-network
settings, the sample loop written out for 4 samples or not) to PTX as
``_cuda.compile_kernel`` does, links it with nvJitLink for the given compute
capability at its register cap and with none, disassembles the cubin with
``nvdisasm`` (the ``nvidia-cuda-nvdisasm`` wheel, or a CUDA toolkit) and
prints, per variant, the registers ptxas used, its spills, the instructions
one epoch issues on 4 samples with its loss evaluation (counted from the
loops' lengths, the correctly rounded reciprocal's slow paths included), the
lengths of the sample loops, and the local-memory loads and stores in the
epoch loop. The kernel is issue-bound on an H100 (BENCHMARKS.md), so these
counts compare variants; they are not a speed measurement.
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

#: Samples of the data sets the counts are for (XOR, gender, AND, OR).
N = 4


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


def _count(code, loop, pattern):
    return sum(bool(re.search(pattern, text)) for text in code[loop[0] : loop[1] + 1])


def epoch_loop(code, loops):
    """The epoch loop, the outermost loop with neurons (reciprocals) in it, and the loops inside it."""
    neurons = [lp for lp in loops if _count(code, lp, r"MUFU\.RCP") >= 3]
    outer = max(neurons, key=lambda lp: lp[1] - lp[0])
    inner = [lp for lp in neurons if lp != outer and outer[0] <= lp[0] and lp[1] <= outer[1]]
    return outer, inner


def per_epoch(code, loops, n):
    """Instructions an epoch with its loss evaluation issues for n samples, slow paths included:
    the epoch loop's, with each sample loop n times (of the two copies of the loss loop that
    ptxas makes, for a margin and without, the first only)."""
    outer, inner = epoch_loop(code, loops)
    lengths = [e - s + 1 for s, e in inner]
    extra = sum((n - 1) * k for k in lengths[:2]) - sum(lengths[2:])  # step loop, loss loop; drop the copy
    return outer[1] - outer[0] + 1 + extra, lengths


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

    print(f"{'variant':46} cap  regs  spill st/ld  epoch ({N} samples)  sample loops  LDL  STL")
    for dtype in ("float64", "float32"):
        for per_network, samples in ((False, N), (False, 0), (True, 0)):
            for tanh in (False, True):
                for momentum in (False, True):
                    variant = _cuda.Variant(np.dtype(dtype), tanh, momentum, per_network, samples)
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
        code, loops = instructions(sass)
        epoch, lengths = per_epoch(code, loops, N)
        (lo, hi), _ = epoch_loop(code, loops)
        ops = collections.Counter(re.sub(r"^@!?\w+\s+", "", t).split()[0].split(".")[0] for t in code[lo : hi + 1])
        regs = re.search(r"Used (\d+) registers", log).group(1)
        spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log).groups()
        name = " ".join(
            [str(variant.dtype), "tanh" if variant.tanh else "sigmoid"]
            + ["momentum"] * variant.momentum
            + ["per-network"] * variant.per_network
            + [f"unrolled {variant.samples}"] * bool(variant.samples)
        )
        print(
            f"{name:46} {cap or 'none':>4} {regs:>4}  {'/'.join(spill):>10}  {epoch:>17}  "
            f"{str(lengths) if lengths else '-':>12} {ops['LDL']:>4} {ops['STL']:>4}"
        )


if __name__ == "__main__":
    main()
