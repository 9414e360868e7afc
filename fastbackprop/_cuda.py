"""The CUDA target: seed sweeps on one NVIDIA GPU with numba-cuda.

Private, and imported only when ``device="cuda"`` is asked for: the core
package never imports numba-cuda. One thread trains one network with its
parameters in registers, calling the very functions the CPU kernels are made
of (``_kernels._init_params_into``, ``_sgd_update``, ``_squared_error``),
which numba-cuda compiles as device functions. The counter-based seed map runs on
the device, so a network's start does not depend on the launch.

The same bits as the CPU: the maths is the package's own (its exp, its
explicit FMAs, correctly rounded division and sqrt, which numba-cuda emits
without ``fastmath``). What numba-cuda does not let one choose is NVVM's
default ``-fma=1``, under which LLVM and then ptxas contract ``a * b + c``
into an FMA where the CPU rounds twice (the SGD update ``p - lr * g`` and the
loss sum would change). ``_exact_compile`` passes ``-fma=0`` for this
package's kernels only; explicit FMAs stay FMAs. numba-cuda has no public
option for it yet (NVIDIA/numba-cuda#118, #839), hence the narrow patch,
held under Numba's compiler lock, and a test that reads the PTX.
"""

import contextlib
from types import FunctionType
from typing import Any

import numpy as np
from numba import config

try:
    from numba import cuda
    from numba.core.compiler_lock import global_compiler_lock
except ImportError:  # pragma: no cover - exercised by the missing-extra test
    cuda = None

from . import _kernels
from ._errors import DeviceUnavailableError
from ._layout import N_PARAMS

#: Threads per block. Each thread is independent (no shared memory, no
#: synchronisation); 128 keeps the tail block small and leaves the scheduler
#: free to fill an SM with blocks.
THREADS_PER_BLOCK = 128
#: Register cap per thread. At 64 an H100 SM holds 32 warps of float64
#: threads instead of 24 (78 registers uncapped), which hides more of each
#: network's serial latency: +7 % runs/s in both dtypes on an H100
#: (BENCHMARKS.md, GPU roofline).
MAX_REGISTERS = 64

_KERNELS: dict[np.dtype[Any], Any] = {}
# Set per dtype by _body in the kernel function's own globals: the float type
# of a thread's parameters, and the dataset loss as a device function.
_DTYPE: Any = None
_device_loss: Any = None


def _missing():
    """Why ``device="cuda"`` cannot run here, or None if it can."""
    if cuda is None:
        return "device='cuda' needs numba-cuda: pip install 'fastbackprop[cuda]'"
    try:
        if not cuda.is_available():
            return "device='cuda': no usable CUDA GPU or driver was found (numba.cuda.is_available() is False)"
    except Exception as exc:  # noqa: BLE001 - any driver failure means no GPU here
        return f"device='cuda': the CUDA driver failed to start ({exc})"
    return None


def require():
    """Raise an error saying what is missing, unless a GPU can run the kernels."""
    why = _missing()
    if why is not None:
        raise (ImportError if cuda is None else DeviceUnavailableError)(why)


@contextlib.contextmanager
def _exact_compile():
    """Compile with NVVM's ``-fma=0`` (no contraction) while this block runs.

    The option reaches every ``nvvm.compile_ir`` call made inside, and only
    those: Numba's global compiler lock keeps other threads' compilations out.
    """
    from numba.cuda.cudadrv import nvvm

    with global_compiler_lock:
        original = nvvm.compile_ir

        def compile_ir(llvmir, **options):
            return original(llvmir, **dict(options, fma=False))

        nvvm.compile_ir = compile_ir
        # numba-cuda <= 0.30.4 registers an overload of np.row_stack when it
        # first compiles array code; NumPy 2.5 removed the name: lend it.
        lend = not hasattr(np, "row_stack")
        if lend:
            np.row_stack = np.vstack  # noqa: NPY201 - lent back to numba-cuda on purpose
        try:
            yield
        finally:
            nvvm.compile_ir = original
            if lend:
                del np.row_stack  # noqa: NPY201


def _dataset_loss(p, X, y):
    """``_kernels._mse`` for a thread's network (the same operations, in order).

    Not ``_mse`` itself: under numba-cuda's simulator the data arrive as fake
    device arrays, which a CPU-compiled function cannot take; the per-sample
    term, ``_squared_error``, is shared.
    """
    acc = _kernels._like(y[0], 0.0)
    for s in range(X.shape[0]):
        acc += _kernels._squared_error(p, X[s, 0], X[s, 1], y[s], False)
    return acc / _kernels._like(y[0], X.shape[0])


def _train_one(X, y, seeds, epochs, lr, tol, record_at, params_out, loss_out, etl_out, loss_at_out):
    """Kernel body: thread i trains seeds[i]; the arguments as in ``_kernels.train_blocks``."""
    i = cuda.grid(1)
    if i >= seeds.shape[0]:
        return
    init = cuda.local.array(N_PARAMS, np.float64)
    _kernels._init_params_into(seeds[i], init)
    p = cuda.local.array(N_PARAMS, _DTYPE)
    for k in range(N_PARAMS):
        p[k] = init[k]
    etl = -1
    r = 0
    loss = _device_loss(p, X, y)  # the result when epochs == 0
    for e in range(epochs):
        for s in range(X.shape[0]):
            _kernels._sgd_update(p, X[s, 0], X[s, 1], y[s], lr)
        recording = r < record_at.shape[0] and record_at[r] == e + 1
        # As on the CPU: the loss after every epoch until tol is reached, then
        # only where it is recorded and at the end (it never feeds training).
        if etl < 0 or recording or e + 1 == epochs:
            loss = _device_loss(p, X, y)
            if etl < 0 and loss < tol:
                etl = e + 1
            if recording:
                loss_at_out[i, r] = loss
                r += 1
    for k in range(N_PARAMS):
        params_out[i, k] = p[k]
    loss_out[i] = loss
    etl_out[i] = etl


def _body(dtype):
    """The kernel's Python function for one float dtype.

    The parameter array's dtype must be a compile-time constant: one function
    per dtype, from the same code.
    """
    scope = dict(_train_one.__globals__, _DTYPE=np.dtype(dtype).type, _device_loss=cuda.jit(device=True)(_dataset_loss))
    return FunctionType(_train_one.__code__, scope)


def _signature(dtype):
    """The one signature the kernel is compiled for.

    C-contiguous arrays (cheaper indexing in the sample loop), except the two
    that are often empty (record_at, loss_at_out): an empty device array may
    type as layout "A", to which any layout converts.
    """
    from numba import from_dtype, types

    f, i = from_dtype(np.dtype(dtype)), types.int64
    return types.void(f[:, ::1], f[::1], i[::1], i, f, f, i[:], f[:, ::1], f[::1], i[::1], f[:, :])


def compile_kernel(dtype):
    """The sweep kernel for ``dtype``, compiled once per process (a few seconds) without FMA contraction.

    Compiled eagerly for one signature, after which the dispatcher compiles
    nothing more: a launch with other argument types is an error, never a
    silent recompilation without ``_exact_compile``.
    """
    dtype = np.dtype(dtype)
    if dtype not in _KERNELS:
        if config.ENABLE_CUDASIM:
            _KERNELS[dtype] = cuda.jit(_body(dtype))
        else:
            # lto=False: the cubin is linked from the PTX compiled here, not
            # from LTO-IR that NVVM would compile again, at launch, with -fma=1.
            with _exact_compile():
                _KERNELS[dtype] = cuda.jit(_signature(dtype), lto=False, max_registers=MAX_REGISTERS)(_body(dtype))
    return _KERNELS[dtype]


def ptx(dtype, cc=(9, 0)):
    """The kernel's PTX for compute capability ``cc``, compiled as ``compile_kernel`` does."""
    with _exact_compile():
        text, _ = cuda.compile_ptx(_body(dtype), _signature(dtype).args, cc=cc)
    return text


def train_chunk(X, y, seeds, epochs, lr, tol, record_at):
    """``_execution.train_job`` on the GPU: the same inputs and outputs, one launch.

    X (n, 2), y (n,), lr, tol of one float dtype F; seeds (S,) int64;
    record_at (R,) int64. Returns params (S, 9) F, loss (S,) F, etl (S,)
    int64, loss_at (S, R) F, on the host.
    """
    F = X.dtype
    S, R = seeds.shape[0], record_at.shape[0]
    kernel = compile_kernel(F)
    d_X, d_y = cuda.to_device(X), cuda.to_device(y)
    d_seeds, d_rec = cuda.to_device(seeds), cuda.to_device(record_at)
    d_params = cuda.device_array((S, N_PARAMS), dtype=F)
    d_loss = cuda.device_array(S, dtype=F)
    d_etl = cuda.device_array(S, dtype=np.int64)
    d_loss_at = cuda.device_array((S, R), dtype=F)
    if S:
        blocks = -(-S // THREADS_PER_BLOCK)
        kernel[blocks, THREADS_PER_BLOCK](
            d_X, d_y, d_seeds, np.int64(epochs), F.type(lr), F.type(tol), d_rec, d_params, d_loss, d_etl, d_loss_at
        )
    return d_params.copy_to_host(), d_loss.copy_to_host(), d_etl.copy_to_host(), d_loss_at.copy_to_host()
