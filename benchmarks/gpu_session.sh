#!/usr/bin/env bash
# Everything a lent GPU machine is for, in one call of under 10 minutes:
#
#     OUT=DIR bash benchmarks/gpu_session.sh        # from the repository root
#
# The machine has Python with numba, numba-cuda, JAX, PyTorch and pytest but no
# package registry, so the package runs from the source tree (PYTHONPATH), not
# installed. Writes into OUT: info.txt (the machine), tests.txt (the GPU tests:
# bit-identity of every option, grids and maps against the CPU at full
# length) and gpu_sweeps.json with its log (benchmarks/gpu_sweeps.py, its most
# important measurements first, stopping new ones after BUDGET seconds).
set -u
OUT=${OUT:?set OUT to a folder for the results}
BUDGET=${BUDGET:-270}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
start=$SECONDS

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    $PY -m fastbackprop info
    $PY -c "import numba_cuda, jax, torch; print('jax', jax.__version__, 'torch', torch.__version__)"
} > "$OUT/info.txt" 2>&1
cat "$OUT/info.txt"

echo "== GPU tests [at $((SECONDS - start)) s]"
timeout 200 $PY -m pytest tests/test_cuda.py -q -p no:cacheprovider -k "(gpu_ and not simulator) or info" -n 4 > "$OUT/tests.txt" 2>&1
echo "pytest exit code $?" >> "$OUT/tests.txt"
tail -25 "$OUT/tests.txt"

echo "== benchmarks/gpu_sweeps.py [at $((SECONDS - start)) s]"
$PY benchmarks/gpu_sweeps.py --out "$OUT" --budget "$BUDGET" > "$OUT/gpu_sweeps.log" 2>&1
echo "gpu_sweeps exit code $?" >> "$OUT/gpu_sweeps.log"
tail -60 "$OUT/gpu_sweeps.log"
echo "== done in $((SECONDS - start)) s"
