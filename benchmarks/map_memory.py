"""Peak memory of a big map trained into a store (the size bar: 4096 x 4096 within 2 GB).

    python benchmarks/map_memory.py --side 4096 --epochs 1 --dtype float32 --store /tmp/map-store

Memory does not depend on the number of epochs (only the time does), so the
measurement trains one epoch. Prints one JSON object: the map's size, the peak
resident memory of this process (``ru_maxrss``) and that of the interpreter
before the map, the wall time, and the store's size on disk.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--store", required=True)
    args = ap.parse_args()
    import fastbackprop as fb

    X, y = fb.datasets.xor()
    fb.init_map(X, y, 2, ("w1", "w5"), ((-4, 4), (-6, 6)), (8, 8), epochs=1, dtype=args.dtype)  # compile
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    shutil.rmtree(args.store, ignore_errors=True)
    start = time.perf_counter()
    m = fb.init_map(
        X, y, 2, ("w1", "w5"), ((-4, 4), (-6, 6)), (args.side, args.side),
        epochs=args.epochs, dtype=args.dtype, store=args.store,
    )  # fmt: skip
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    disk = sum(e.stat().st_size for e in os.scandir(args.store))
    print(
        json.dumps(
            dict(
                side=args.side,
                networks=m.n,
                dtype=args.dtype,
                epochs=args.epochs,
                peak_rss_bytes=peak,
                rss_before_bytes=before,
                wall_seconds=round(wall, 1),
                store_bytes=disk,
            )
        )
    )


if __name__ == "__main__":
    main()
