"""JAX at its best on this machine's cores: the CPU anchor the package's sweeps are compared with.

    python benchmarks/jax_anchor.py --dtype float64 --per-device 10000 --epochs 3000

JAX runs a vmapped scan on one core; its best on a multi-core CPU is ``pmap``
over one host device per core (``XLA_FLAGS=--xla_force_host_platform_device_count``,
which must be set before JAX is imported: hence a script of its own), each
device training a batch of networks small enough to stay in its core's cache.
The training is ``benchmarks/rivals``' (the package's maths with XLA's own
exp), from the package's seed map: ``--form batched`` (the default and the
faster: one (B,) array per parameter, XLA fuses each epoch) or ``--form vmap``
(``vmap`` of one network's scan). Prints one JSON object: runs/s (median of
--rounds, after a compiling call), the device count, batch and form.
"""

import argparse
import json
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--per-device", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--devices", type=int, default=os.cpu_count())
    ap.add_argument("--form", default="batched", choices=["batched", "vmap"])
    args = ap.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import jax
    import numpy as np

    import fastbackprop
    from benchmarks import rivals
    from fastbackprop import datasets, reference

    X, y = datasets.gender()
    n = args.devices * args.per_device
    p0 = reference.init_params(np.arange(n)).reshape(args.devices, args.per_device, 9).astype(args.dtype)
    if args.form == "batched":
        run = jax.pmap(rivals.jax_train_batched(X, y, args.epochs, 0.2, 1e-2, args.dtype))
        batches = np.ascontiguousarray(p0.transpose(0, 2, 1))  # (devices, 9, B); pmap puts batch d on device d
    else:
        run = jax.pmap(jax.vmap(rivals.jax_train(X, y, args.epochs, 0.2, 1e-2, args.dtype)))
        batches = p0

    def go():
        p, _, _ = run(batches)
        p.block_until_ready()
        return np.asarray(p)

    p = go()  # compiles
    times = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        go()
        times.append(time.perf_counter() - t)
    # The same training? Device 0's first networks against the package's sweep of the same seeds.
    check = min(args.per_device, 256)
    theirs = (p[0].T if args.form == "batched" else p[0])[:check]
    ours = fastbackprop.sweep(X, y, check, epochs=args.epochs, dtype=args.dtype, threads=1).params
    print(
        json.dumps(
            {
                "dtype": args.dtype,
                "devices": len(jax.devices()),
                "per_device": args.per_device,
                "form": args.form,
                "runs_per_second": n / statistics.median(times),
                "jax": jax.__version__,
                "max_abs_diff_vs_fastbackprop": float(np.max(np.abs(theirs - ours))),
            }
        )
    )


if __name__ == "__main__":
    main()
