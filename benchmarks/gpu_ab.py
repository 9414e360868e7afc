"""One source tree's GPU sweeps, for side-by-side comparisons of kernel versions in one GPU call.

    mkdir -p ab/old && git archive REV fastbackprop | tar -x -C ab/old   # another version, beside this one
    for tree in ab/old . ab/old .; do python benchmarks/gpu_ab.py $tree; done

Imports ``fastbackprop`` from TREE (a folder holding the package) and prints a
JSON line per configuration: runs/s of one sweep of --seeds networks, 3000
epochs, after a warm-up, and a SHA-256 digest of its parameters, final losses
and epochs to tol (the same digest in every tree: the same bits). Alternate the trees, as above:
processes started one after another on one GPU differ by a few per cent.
Used for the worst-sample-first comparison in BENCHMARKS.md; ``--division``
gives the float32 kernels before their reciprocal's fast path (the same digest
expected); ``--reciprocal64`` the float64 kernels with theirs (``--max-registers``
to lift the cap it spills under: 80 or 96); ``--in-flight 1 --launch-chunks 16`` launches 2**20 networks one at
a time, as sweeps did before their launches were sized by time, and as
``gpu_session.sh``'s Nsight Compute step needs (its second launch: 2**20 networks).
"""

import argparse
import hashlib
import json
import os
import sys

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("tree", help="folder holding the fastbackprop package to measure")
ap.add_argument("--seeds", type=float, default=1e7)
ap.add_argument("--full-loss", action="store_true", help="set _cuda.WORST_SAMPLE_FIRST = False")
ap.add_argument("--division", action="store_true", help="set _kernels.GPU_RECIPROCAL_FAST_PATH = False")
ap.add_argument("--reciprocal64", action="store_true", help="set _kernels.GPU_RECIPROCAL64_FAST_PATH = True")
ap.add_argument("--max-registers", type=int, default=None, help="set _cuda.MAX_REGISTERS (not momentum's)")
ap.add_argument("--dtypes", default="float32,float64", help="comma-separated (default float32,float64)")
ap.add_argument("--in-flight", type=int, default=None, help="set _execution.CUDA_LAUNCHES_IN_FLIGHT")
ap.add_argument("--launch-chunks", type=int, default=None, help="chunks (2**16 networks) a launch, not sized by time")
args = ap.parse_args()
tree = os.path.abspath(args.tree)
sys.path.insert(0, tree)

import fastbackprop as fb  # noqa: E402 - from the tree named on the command line
from fastbackprop import _cuda, _execution, _kernels  # noqa: E402

assert fb.__file__.startswith(tree), fb.__file__
label = args.tree
if args.full_loss:
    _cuda.WORST_SAMPLE_FIRST = False
    label += " (full loss)"
if args.division:
    _kernels.GPU_RECIPROCAL_FAST_PATH = False
    label += " (division)"
if args.reciprocal64:
    _kernels.GPU_RECIPROCAL64_FAST_PATH = True
    label += " (float64 reciprocal)"
if args.max_registers is not None:
    _cuda.MAX_REGISTERS = args.max_registers
    label += f" ({args.max_registers} registers)"
if args.in_flight is not None:  # (trees before 2026-11-28's launches have neither setting)
    _execution.CUDA_LAUNCHES_IN_FLIGHT = args.in_flight
    label += f" ({args.in_flight} in flight)"
if args.launch_chunks is not None:
    _execution._LaunchSizes.chunks = lambda self: args.launch_chunks
    label += f" ({args.launch_chunks} chunks a launch)"
LR = {"gender": 0.2, "xor": 0.5}
n = int(args.seeds)
for data in ("gender", "xor"):
    X, y = fb.datasets.load(data)
    for dtype in args.dtypes.split(","):
        fb.sweep(X, y, min(n, 1000), epochs=3000, lr=LR[data], dtype=dtype, device="cuda")
        res = fb.sweep(X, y, n, epochs=3000, lr=LR[data], dtype=dtype, device="cuda")
        row = dict(tree=label, data=data, dtype=dtype, seeds=n, runs_per_s=round(n / res.wall_seconds))
        fields = (res.params, res.final_loss, res.epochs_to_tol)
        digest = hashlib.sha256(b"".join(a.tobytes() for a in fields)).hexdigest()[:16]
        print(json.dumps(dict(row, digest=digest)), flush=True)
