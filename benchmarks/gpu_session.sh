#!/usr/bin/env bash
# Everything a lent GPU machine is for, in one call of under 10 minutes:
#
#     OUT=DIR bash benchmarks/gpu_session.sh        # from the repository root
#
# The machine has Python with numba, numba-cuda, JAX, PyTorch and pytest but no
# package registry, so the package runs from the source tree (PYTHONPATH), not
# installed. Writes into OUT: info.txt (the machine), tests.txt (the GPU tests:
# bit-identity of every option, grids and maps against the CPU at full
# length), ncu.txt (Nsight Compute's counters of one float32 and one float64
# launch: stall reasons, issue slots, occupancy), gpu_sweeps.json with its log
# (benchmarks/gpu_sweeps.py, its most important measurements first, stopping
# new ones after BUDGET seconds), sass.tgz (each compiled kernel's SASS) and
# ab.txt: the float64 reciprocal's fast path against the division and, where
# another version is given as ab/old, the two versions alternated.
set -u
OUT=${OUT:?set OUT to a folder for the results}
BUDGET=${BUDGET:-330}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
start=$SECONDS

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    $PY -m fastbackprop info
    $PY -c "import numba_cuda, jax, torch; print('jax', jax.__version__, 'torch', torch.__version__)"
} > "$OUT/info.txt" 2>&1
# What a user waits for: the first sweep in a fresh process (CUDA context, and
# Numba, NVVM and ptxas, or with the kernel in the disk cache a load), then the
# same sweep again. Each its own cache here, first empty, then filled.
CACHES=$(mktemp -d)
trap 'rm -rf "$CACHES"' EXIT
for dtype in float32 float64; do
    for cache in empty filled; do
        NUMBA_CACHE_DIR=$CACHES/$dtype timeout 120 $PY - "$dtype" "$cache" >> "$OUT/info.txt" 2>&1 <<'EOF'
import sys, time
t0 = time.perf_counter()
import fastbackprop as fb
t1 = time.perf_counter()
X, y = fb.datasets.xor()
fb.sweep(X, y, 1000, epochs=3000, lr=0.5, dtype=sys.argv[1], device="cuda")
t2 = time.perf_counter()
fb.sweep(X, y, 1000, epochs=3000, lr=0.5, dtype=sys.argv[1], device="cuda")
t3 = time.perf_counter()
print(
    f"fresh process, {sys.argv[1]}, kernel cache {sys.argv[2]}: import {t1 - t0:.2f} s, "
    f"first sweep {t2 - t1:.2f} s, the same again {t3 - t2:.3f} s"
)
EOF
    done
done
cat "$OUT/info.txt"

echo "== GPU tests [at $((SECONDS - start)) s]"
timeout 200 $PY -m pytest tests/test_cuda.py -q -p no:cacheprovider -k "(gpu_ and not simulator) or info" -n 4 > "$OUT/tests.txt" 2>&1
echo "pytest exit code $?" >> "$OUT/tests.txt"
tail -25 "$OUT/tests.txt"

# Another kernel version beside this one, if given (ab/old, ignored by git: carry it), alternated
# with this tree at the float32 bar's size: e.g. the kernel before a change,
#     mkdir -p ab/old && git archive REV fastbackprop | tar -x -C ab/old
if [ -d ab/old/fastbackprop ]; then
    echo "== ab/old against this tree, float32, gender and XOR, 10^7 seeds [at $((SECONDS - start)) s]"
    for tree in ab/old . ab/old .; do
        NUMBA_CACHE_DIR=$CACHES/ab-$(basename "$tree") timeout 60 $PY benchmarks/gpu_ab.py "$tree" --dtypes float32 \
            >> "$OUT/ab.txt" 2>&1
    done
    cat "$OUT/ab.txt"
fi

# float64 with its reciprocal's fast path (_kernels.GPU_RECIPROCAL64_FAST_PATH: an epoch of 1841
# instructions at 64 registers with spills, 1458 at 96 without, against 2533; the FP64 pipe's 990
# operations an epoch are a floor of 1980 cycles a warp), against the division, alternated, 10^7 seeds
echo "== float64: the reciprocal's fast path at 64 and 96 registers against the division [at $((SECONDS - start)) s]"
for round in 1 2; do
    for opts in "" "--reciprocal64" "--reciprocal64 --max-registers 96"; do
        # shellcheck disable=SC2086 # (the options are words)
        NUMBA_CACHE_DIR=$CACHES/ab64 timeout 60 $PY benchmarks/gpu_ab.py . --dtypes float64 $opts >> "$OUT/ab.txt" 2>&1
    done
done
grep '^{' "$OUT/ab.txt" | tail -12

echo "== ncu: where the issue slots go, gender, 2^20 networks (one launch) [at $((SECONDS - start)) s]"
# Hardware counters (Firecracker machines have them, gVisor ones do not): stall
# reasons, issue slots used, occupancy. --launch-skip 1: past gpu_ab's warm-up.
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2> /dev/null | tail -1)
if [ -n "$NCU" ]; then
    for dtype in float32 float64; do
        timeout 120 "$NCU" --clock-control none --kernel-name-base mangled --kernel-name regex:_make_kernel \
            --launch-skip 1 --launch-count 1 \
            --section SpeedOfLight --section Occupancy --section LaunchStats --section SchedulerStats \
            --section WarpStateStats --section InstructionStats --section ComputeWorkloadAnalysis \
            --print-details all \
            $PY benchmarks/gpu_ab.py . --seeds 1048576 --dtypes "$dtype" --in-flight 1 --launch-chunks 16 \
            >> "$OUT/ncu.txt" 2>&1
        echo "ncu $dtype exit code $?" >> "$OUT/ncu.txt"
        # no counters here (gVisor): the other dtype would fail the same way
        grep -q "Failed to initialize the profiler\|ERR_NVGPUCTRPERM" "$OUT/ncu.txt" && break
    done
    grep -E "exit code|Issue Slots Busy|Achieved Occupancy|No Eligible|Warp Cycles Per Issued|Registers Per" "$OUT/ncu.txt"
else
    echo "ncu not found" | tee "$OUT/ncu.txt"
fi

# What is left of the call's 10 minutes bounds the budget: a run cut short
# brings back only what it had written.
left=$((540 - (SECONDS - start) - 60))
[ "$left" -lt "$BUDGET" ] && BUDGET=$((left > 20 ? left : 20))
echo "== benchmarks/gpu_sweeps.py, budget $BUDGET s [at $((SECONDS - start)) s]"
# (its own empty kernel cache: its first compiles are compiles)
NUMBA_CACHE_DIR=$CACHES/sweeps timeout $((BUDGET + 60)) $PY benchmarks/gpu_sweeps.py --out "$OUT" --budget "$BUDGET" > "$OUT/gpu_sweeps.log" 2>&1
echo "gpu_sweeps exit code $?" >> "$OUT/gpu_sweeps.log"
tail -60 "$OUT/gpu_sweeps.log"
# One archive: the device tool brings back at most 8 files.
[ -d "$OUT/sass" ] && tar czf "$OUT/sass.tgz" -C "$OUT" sass && rm -rf "$OUT/sass"
echo "== done in $((SECONDS - start)) s"
