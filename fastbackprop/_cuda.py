"""The CUDA target: seed sweeps on one NVIDIA GPU with numba-cuda.

Private, and imported only when ``device="cuda"`` is asked for: the core
package never imports numba-cuda. One thread trains one network with its
parameters in registers, calling the very functions the CPU kernels are made
of (``_kernels._init_params_into``, ``_activations``, ``_apply_step``,
``_momentum_step``), which numba-cuda compiles as device functions; a kernel
exists per dtype, activation and momentum on or off, as on the CPU. Every
per-network setting arrives as one value per thread. The counter-based seed
map runs on the device, so a network's start does not depend on the launch;
explicit starts (``params0``, a map's pixels) are copied in.

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
import functools
import os
import threading
from typing import Any, NamedTuple

import numpy as np
from numba import config
from numba.core.compiler_lock import global_compiler_lock

from . import _kernels
from ._errors import DeviceUnavailableError
from ._jit import OPTS, cached, jit
from ._layout import N_PARAMS


def _numba_cuda() -> tuple[Any, str | None]:
    """numba-cuda's ``numba.cuda``, or None and why not.

    Without numba-cuda, Numba (to 0.6x) still ships a ``numba.cuda`` of its own,
    deprecated, which ``_exact_compile`` does not patch (its kernels would
    contract FMAs); numba-cuda's .pth points ``numba.cuda`` at numba-cuda, but
    does not run under ``python -S`` or for a PYTHONPATH or ``--target`` install.
    """
    try:
        import numba_cuda
        from numba import cuda
    except ImportError:  # pragma: no cover - exercised in a subprocess by the missing-extra test
        return None, "device='cuda' needs numba-cuda: pip install 'fastbackprop[cuda]'"
    home = os.path.realpath(os.path.dirname(numba_cuda.__file__))
    if os.path.commonpath([os.path.realpath(cuda.__file__), home]) != home:  # pragma: no cover - in a subprocess
        return None, (
            "device='cuda' needs numba-cuda's numba.cuda, but numba.cuda is Numba's own here (numba-cuda's "
            ".pth redirect did not run: python -S, or numba-cuda on PYTHONPATH or in a --target folder)"
        )
    return cuda, None


cuda, _NOT_NUMBA_CUDA = _numba_cuda()

#: Threads per block. Each thread is independent (no shared memory, no
#: synchronisation); 128 keeps the tail block small and leaves the scheduler
#: free to fill an SM with blocks.
THREADS_PER_BLOCK = 128
#: Register cap per thread. At 64 an H100 SM holds 32 warps of float64
#: threads instead of 24 (78 registers uncapped), which hides more of each
#: network's serial latency: +7 % runs/s in both dtypes on an H100
#: (BENCHMARKS.md, GPU roofline).
MAX_REGISTERS = 64

#: Register cap of float64 momentum kernels: their 9 velocities take 18 more
#: registers, and at 64 ptxas spills into the step loop (7-13 local loads and
#: 6-9 stores a step in the sm_90 SASS); 80 is the lowest cap of those read
#: (64, 72, 80, 96, none) that keeps the loop free of spills
#: (``benchmarks/cuda_sass.py``). Chosen from the SASS, not timed against other caps.
MOMENTUM_REGISTERS = 80


class Variant(NamedTuple):
    """What one kernel is compiled for; each field is a compile-time constant."""

    dtype: np.dtype[Any]  # of the parameters and the arithmetic
    tanh: bool  # tanh units, else sigmoid
    momentum: bool  # classical momentum, else plain SGD
    #: lr, lr_output and momentum arrive as one value per network, else as
    #: scalars: kernel arguments, which live in the constant bank, not in
    #: registers (a float32 thread needs 4 fewer)
    per_network: bool
    #: The number of samples, when the sample loop is written out (the samples
    #: then arrive as kernel arguments), or 0 for a loop over X and y
    samples: int = 0
    #: Whether the margin criterion is recorded with the loss at each recorded
    #: length (a grid's with a margin): only these kernels have the store, which
    #: in the others cost registers and spills (sm_90 SASS, ``benchmarks/cuda_sass.py``)
    within: bool = False

    @classmethod
    def of(cls, job: Any) -> "Variant":
        """The variant that trains ``job`` (an ``_execution.Job``)."""
        per_network = any(np.ndim(getattr(job, name)) for name in ("lr", "lr_output", "momentum"))
        n = job.X.shape[0]
        samples = n if n <= UNROLLED_SAMPLES else 0
        return cls(job.X.dtype, bool(job.tanh), bool(job.with_momentum), per_network, samples, job.n_within > 0)

    @property
    def max_registers(self) -> int:
        """MAX_REGISTERS, or MOMENTUM_REGISTERS for momentum in float64."""
        return MOMENTUM_REGISTERS if self.momentum and self.dtype == np.float64 else MAX_REGISTERS


#: Data sets of at most this many samples train in a kernel with the sample
#: loop written out, each sample a kernel argument (read from the constant
#: bank): no loads, no index arithmetic, no loop. In the sm_90 SASS of the
#: default kernels for 4 samples, an epoch with its loss evaluation is about a
#: fifth fewer instructions, with fewer registers: 1.04-1.20x the loop's runs/s
#: on an H200 (BENCHMARKS.md; 16 samples not timed). 0: always the loop.
UNROLLED_SAMPLES = 16

#: While a network searches for its epochs to tol, first check after each
#: epoch only the sample that had the largest error at the last full
#: evaluation: if its error alone shows the criterion unmet (|err| not below
#: the margin, or err**2 >= ``_kernels.tol_sum``), the other samples are not
#: evaluated. Exact (the same decision as the full loss, proved at
#: ``_kernels.tol_sum``); it pays where warps search long, as on XOR, where 27 % of
#: the networks never converge and the loss was two fifths of an epoch's
#: instructions: 1.1-1.2x there on an H200, no change on gender (BENCHMARKS.md).
#: False: always the full loss.
WORST_SAMPLE_FIRST = True

#: The compiled kernels, by variant and what else is compiled into them (``_compiled_in``).
_KERNELS: dict[tuple[Variant, int, bool, bool, bool], Any] = {}


def _missing():
    """Why ``device="cuda"`` cannot run here, or None if it can."""
    if cuda is None:
        return _NOT_NUMBA_CUDA
    try:
        if not cuda.is_available():
            return "device='cuda': no usable CUDA GPU or driver was found (numba.cuda.is_available() is False)"
    except Exception as exc:  # noqa: BLE001 - any driver failure means no GPU here
        return f"device='cuda': the CUDA driver failed to start ({exc})"
    try:  # a GPU in exclusive-process mode held by another process has a driver but no context for this one
        cuda.current_context()
    except Exception as exc:  # noqa: BLE001 - (numba-cuda's driver errors are not RuntimeErrors)
        return f"device='cuda': the GPU cannot be used ({exc})"
    return None


def _gpu_errors(method):
    """``method`` with numba-cuda's driver errors (out of memory, a device lost) raised as
    ``DeviceUnavailableError``: they are plain Exceptions, which the command line would show as
    a traceback, where the package's errors are one line."""

    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        try:
            from numba.cuda.cudadrv.error import CudaDriverError

            driver_errors: tuple[type[Exception], ...] = (CudaDriverError,)
        except ImportError:  # the simulator's driver raises none
            driver_errors = ()
        try:
            return method(*args, **kwargs)
        except driver_errors as exc:
            raise DeviceUnavailableError(f"device='cuda': the GPU failed: {exc}") from exc

    return wrapped


def require():
    """Raise an error saying what is missing, unless a GPU can run the kernels."""
    why = _missing()
    if why is not None:
        raise (ImportError if cuda is None else DeviceUnavailableError)(why)


def describe() -> dict[str, Any]:
    """The GPU as ``fastbackprop info`` reports it: the device, or why there is none; compiles nothing."""
    from importlib.metadata import version

    why = _missing()
    if why is not None:
        return {"usable": False, "why": why}
    found: dict[str, Any] = {"usable": True, "numba_cuda": version("numba-cuda")}
    if config.ENABLE_CUDASIM:
        return {**found, "name": "numba-cuda's simulator (NUMBA_ENABLE_CUDASIM=1)", "compute_capability": None}
    try:
        device = cuda.get_current_device()
    except Exception as exc:  # noqa: BLE001 - reported, not raised: info describes what it finds
        return {"usable": False, "why": f"device='cuda': the GPU cannot be used ({exc})"}
    name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    return {**found, "name": name, "compute_capability": "{}.{}".format(*device.compute_capability)}


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


def _device_function(func):
    """``func`` as the kernel calls it: a device function that NVVM inlines (LLVM's
    ``alwaysinline``), each compiled once however often it is called; under the
    simulator, which runs the kernel in Python, a CPU function, so that the
    arithmetic still runs compiled (the same bits).

    Not inlined in Numba IR as the CPU kernels' helpers are: a written-out epoch
    calls ``step`` once per sample, and Numba typing one copy per sample took
    a kernel 12 s (4 samples) and 113 s (16) to compile to PTX, not 3 s.

    The CPU functions are cached on disk (a simulated test's processes share
    them), except those of generated source, which has no file to stamp.
    """
    if config.ENABLE_CUDASIM:
        return jit(**OPTS)(func)
    return cuda.jit(device=True, forceinline=True)(func)


def _make_kernel(variant):
    """The kernel's Python function for one ``Variant``.

    Its fields are closure constants, as in ``_kernels._make_training_kernels``:
    the parameters' dtype must be known at compile time, and each variant
    compiles only its own activation, update and settings.
    """
    F = variant.dtype.type
    tanh, momentum, per_network, within = variant.tanh, variant.momentum, variant.per_network, variant.within
    like = _kernels._like

    step, output = _step(tanh, momentum), _output(tanh)

    @cuda.jit(device=True)
    def dataset_loss(p, X, y, margin):
        """(MSE, with a margin > 0 the samples with |y - ypred| not below it, the sample
        of the largest error) of a thread's network.

        ``_kernels._block_loss`` for one lane: the same operations, in order.
        """
        acc = like(y[0], 0.0)
        outside = 0
        worst, largest = 0, like(y[0], 0.0)
        for s in range(X.shape[0]):
            err = y[s] - output(p, X[s, 0], X[s, 1])
            acc += err * err
            if margin > like(margin, 0.0):
                outside += not (abs(err) < margin)  # NaN is never within
            if err * err > largest:
                worst, largest = s, err * err
        return acc / like(y[0], X.shape[0]), outside, worst

    @cuda.jit(device=True)
    def sample_unmet(p, X, y, s, margin, tol_sum):
        """Whether sample s alone shows the criterion unmet (``WORST_SAMPLE_FIRST``)."""
        err = y[s] - output(p, X[s, 0], X[s, 1])
        if margin > like(margin, 0.0):
            return not (abs(err) < margin)
        return err * err >= tol_sum

    samples = variant.samples
    unrolled: tuple[Any, Any, Any] = _unrolled(samples, tanh, momentum) if samples else (None, None, None)
    unrolled_epoch, unrolled_loss, unrolled_sample_unmet = unrolled

    def train(
        data, X, y, seeds, params0, uniform, scale, lr, lr_out, m, epochs, tol, tol_sum, margin, track,
        record_at, params_out, loss_out, etl_out, loss_at_out, within_at_out,
    ):  # fmt: skip
        """Thread i trains network i; the arguments as in ``_kernels.train_blocks``, except
        the starts: params0 (S, 9) float64, or with no rows the seed map of seeds (S,)
        (U[-1, 1) when ``uniform``, else normal) times scale (S,) float64; lr,
        lr_out, m are scalars unless ``per_network``; with ``samples``, data
        holds the samples (x0, x1, y, x0, x1, y, ...), else it is empty; and
        tol_sum is ``Job.tol_sum``."""
        i = cuda.grid(1)
        if i >= seeds.shape[0]:
            return
        init = cuda.local.array(N_PARAMS, np.float64)
        if params0.shape[0] > 0:
            for k in range(N_PARAMS):
                init[k] = params0[i, k]
        else:
            _kernels._init_params_into(seeds[i], uniform, scale[i], init)
        p = cuda.local.array(N_PARAMS, F)
        u = cuda.local.array(N_PARAMS, F)  # momentum: the negated velocities, as on the CPU
        for k in range(N_PARAMS):
            p[k] = init[k]
            u[k] = like(tol, 0.0)
        if per_network:
            lr_i, lr_out_i, m_i = lr[i], lr_out[i], m[i]
        else:
            lr_i, lr_out_i, m_i = lr, lr_out, m
        by_margin = margin > like(margin, 0.0)
        searching = track
        etl = -1
        r = 0
        # the result when epochs == 0
        if samples:
            loss, outside, worst = unrolled_loss(p, data, margin)
        else:
            loss, outside, worst = dataset_loss(p, X, y, margin)
        for e in range(epochs):
            if samples:
                unrolled_epoch(p, u, data, lr_i, lr_out_i, m_i)
            else:
                for s in range(X.shape[0]):
                    step(p, u, X[s, 0], X[s, 1], y[s], lr_i, lr_out_i, m_i)
            recording = r < record_at.shape[0] and record_at[r] == e + 1
            # As on the CPU: the criterion after every epoch until it is met,
            # then the loss only where it is recorded and at the end.
            if searching or recording or e + 1 == epochs:
                # Only the decision is needed here: one sample may settle it.
                if searching and not (recording or e + 1 == epochs) and WORST_SAMPLE_FIRST:
                    if samples:
                        unmet = unrolled_sample_unmet(p, data, worst, margin, tol_sum)
                    else:
                        unmet = sample_unmet(p, X, y, worst, margin, tol_sum)
                    if unmet:
                        continue
                if samples:
                    loss, outside, worst = unrolled_loss(p, data, margin)
                else:
                    loss, outside, worst = dataset_loss(p, X, y, margin)
                if searching and (outside == 0 if by_margin else loss < tol):
                    etl = e + 1
                    searching = False
                if recording:
                    loss_at_out[i, r] = loss
                    if within:
                        within_at_out[i, r] = outside == 0
                    r += 1
        for k in range(N_PARAMS):
            params_out[i, k] = p[k]
        loss_out[i] = loss
        etl_out[i] = etl

    return train


def _reciprocals() -> tuple[bool, bool]:
    """``_kernels``' switches for the reciprocal's fast path: float32's, float64's."""
    return _kernels.GPU_RECIPROCAL_FAST_PATH, _kernels.GPU_RECIPROCAL64_FAST_PATH


def _per_reciprocal(make):
    """``functools.cache(make)``, kept apart for each value of ``_reciprocals()``.

    The device functions ``make`` returns have those settings compiled in, and
    a kernel's cache entry is keyed by their values when the kernel compiles.
    """
    made = functools.cache(lambda fast_paths, *args: make(*args))
    return functools.wraps(make)(lambda *args: made(_reciprocals(), *args))


@_per_reciprocal
def _step(tanh, momentum):
    """One step of a thread's network on one sample, as ``_kernels.train`` takes it.

    A ``_device_function``: under the simulator it runs compiled, as one call,
    and no activation crosses into Python (which would box a float32 as a
    float64). One per activation and momentum, shared by the variants' kernels
    (its dtype is its argument's).
    """

    @_device_function
    def step(p, u, x0, x1, y, lr, lr_out, m):
        h1, h2, ypred = _kernels._activations(p, 0, 1, x0, x1, tanh)
        if momentum:
            _kernels._momentum_step(p, u, 0, 1, 0, x0, x1, y, lr, lr_out, m, h1, h2, ypred, tanh)
        else:
            _kernels._apply_step(p, 0, 1, x0, x1, y, lr, lr_out, h1, h2, ypred, tanh)

    return step


@_per_reciprocal
def _output(tanh):
    """ypred of a thread's network on one sample: ``_kernels._activations``'s output.

    Shared by the variants' losses, so that it is compiled once per
    activation and dtype.
    """

    @_device_function
    def output(p, x0, x1):
        return _kernels._activations(p, 0, 1, x0, x1, tanh)[2]

    return output


@_per_reciprocal
def _unrolled(n, tanh, momentum):
    """(epoch, loss, sample_unmet) for n samples given as one flat tuple (x0, x1, y, x0, x1, y, ...).

    The generic kernel's sample loops written out, sample by sample, in the
    same order: ``epoch(p, u, data, lr, lr_out, m)`` takes one step per
    sample, ``loss(p, data, margin)`` is ``dataset_loss`` and
    ``sample_unmet(p, data, s, margin, tol_sum)`` is ``sample_unmet``, its
    sample picked by selects. Generated source: a tuple is indexed by
    constants only, so each sample stays a kernel argument (NVVM does not
    unroll a loop over a tuple; it indexes it by a chain of compares).
    ``_device_function``s; under the simulator the epoch stays Python, a
    sequence of compiled steps.
    """
    at = [(f"data[{3 * s}]", f"data[{3 * s + 1}]", f"data[{3 * s + 2}]") for s in range(n)]
    lines = ["def epoch(p, u, data, lr, lr_out, m):"]
    lines += [f"    step(p, u, {x0}, {x1}, {y}, lr, lr_out, m)" for x0, x1, y in at]
    lines += ["def loss(p, data, margin):", "    acc = like(margin, 0.0)", "    outside = 0"]
    lines += ["    worst, largest = 0, like(margin, 0.0)"]
    for s, (x0, x1, y) in enumerate(at):
        lines += [
            f"    err = {y} - output(p, {x0}, {x1})",
            "    acc += err * err",
            "    if margin > like(margin, 0.0):",
            "        outside += not (abs(err) < margin)",
            "    if err * err > largest:",
            f"        worst, largest = {s}, err * err",
        ]
    lines.append(f"    return acc / like(margin, {n}), outside, worst")
    lines += ["def sample_unmet(p, data, s, margin, tol_sum):", "    x0, x1, y = {}, {}, {}".format(*at[0])]
    for s, (x0, x1, y) in enumerate(at[1:], 1):
        lines += [f"    if s == {s}:", f"        x0, x1, y = {x0}, {x1}, {y}"]
    lines += [
        "    err = y - output(p, x0, x1)",
        "    if margin > like(margin, 0.0):",
        "        return not (abs(err) < margin)",
        "    return err * err >= tol_sum",
    ]
    scope = {"step": _step(tanh, momentum), "output": _output(tanh), "like": _kernels._like}
    exec(compile("\n".join(lines), f"<fastbackprop._cuda unrolled over {n} samples>", "exec"), scope)
    # (seconds less to compile under the simulator, the same bits)
    epoch = scope["epoch"] if config.ENABLE_CUDASIM else _device_function(scope["epoch"])
    return epoch, _device_function(scope["loss"]), _device_function(scope["sample_unmet"])


def _signature(variant):
    """The one signature a variant's kernel is compiled for.

    C-contiguous arrays (cheaper indexing in the sample loop), except those
    that are often empty (params0, record_at, loss_at_out, within_at_out): an empty device
    array may type as layout "A", to which any layout converts.
    """
    from numba import from_dtype, types

    f, i, b, d = from_dtype(variant.dtype), types.int64, types.boolean, types.float64
    r = f[::1] if variant.per_network else f  # lr, lr_out, m
    data = types.UniTuple(f, 3 * variant.samples) if variant.samples else types.Tuple(())
    return types.void(
        data, f[:, ::1], f[::1], i[::1], d[:, :], b, d[::1], r, r, r, i, f, f, f, b, i[:],
        f[:, ::1], f[::1], i[::1], f[:, :], b[:, :],
    )  # fmt: skip


def compile_kernel(variant):
    """The sweep kernel of ``variant`` without FMA contraction, compiled (seconds) or loaded once per process.

    Compiled eagerly for one signature, after which the dispatcher compiles
    nothing more, so never without ``_exact_compile``. It launches its one
    kernel without checking argument types: ``train_chunk`` passes those of
    ``_signature``.
    """
    key = (variant, *_compiled_in(variant))
    if key not in _KERNELS:
        body = _make_kernel(variant)
        if config.ENABLE_CUDASIM:
            _compile_simulated(variant)
            _KERNELS[key] = cuda.jit(body)
        else:
            with _exact_compile():
                _KERNELS[key] = _compiled(body, variant)
    return _KERNELS[key]


def _compiled_in(variant: Variant) -> tuple[int, bool, bool, bool]:
    """What is compiled into ``variant``'s kernel besides the variant: module settings a benchmark
    changes (its register cap, the switches)."""
    return variant.max_registers, WORST_SAMPLE_FIRST, *_reciprocals()


def _compiled(body, variant):
    """``cuda.jit(_signature(variant), ...)(body)``, its cubin cached on disk as the CPU kernels are.

    A process's first sweep otherwise spends seconds in Numba, NVVM and ptxas
    for each variant. The entries are written from inside ``_exact_compile``
    only; ``_cached_dispatcher`` says how they are keyed.
    """
    dispatcher = _cached_dispatcher(body, variant)
    dispatcher.compile(_signature(variant).args)
    (kernel,) = dispatcher.overloads.values()
    # A GPU of another compute capability gets PTX compiled from the kernel's IR at its first
    # launch there, outside _exact_compile, with the library's own NVVM options: -fma=0 in them.
    kernel._codelibrary._nvvm_options["fma"] = False
    kernel.bind()  # (compiled: done; loaded: onto the GPU now, not in the first, timed launch)
    # as cuda.jit(signature) leaves its dispatcher: one kernel, no other compiles
    dispatcher._specialized = True
    dispatcher.disable_compile()
    return dispatcher


def _cached_dispatcher(body, variant):
    """``body``'s dispatcher, not compiled yet, with its entries keyed by all that is compiled into them.

    numba-cuda keys an entry by the GPU's compute capability, the versions of
    NVRTC and numba-cuda, and the kernel's closure, whose device functions it
    pickles with their code and options (the variant is in them).
    ``_jit.harden_cache`` adds the sources and ``settings``, read while compiling.
    """
    settings = _compiled_in(variant)
    # lto=False: the cubin is linked from the PTX compiled here, not from
    # LTO-IR that NVVM would compile again, at launch, with -fma=1.
    # (given with the function: cuda.jit(lto=False) without it drops lto)
    return cached(lambda cache: cuda.jit(body, cache=cache, lto=False, max_registers=variant.max_registers), settings)


def _compile_simulated(variant):
    """Under the simulator, compile the CPU functions ``variant``'s kernel calls, in this thread.

    Left to the first launch, they compiled in the simulator's threads, which
    share the GIL with its polling scheduler: 5-12 times as long (15 s instead
    of 3 s for a float64 kernel). The arguments have the types the kernel
    passes: NumPy scalars of the dtype and arrays from ``cuda.local.array``.
    """
    F = variant.dtype.type
    z, p = F(0), np.zeros(N_PARAMS, F)
    init = np.zeros(N_PARAMS, np.float64)
    _kernels._init_params_into(np.int64(0), False, np.float64(1), init)
    _step(variant.tanh, variant.momentum)(p, p.copy(), z, z, z, z, z, z)
    _output(variant.tanh)(p, z, z)
    if variant.samples:
        _, loss, sample_unmet = _unrolled(variant.samples, variant.tanh, variant.momentum)
        data = (z,) * (3 * variant.samples)
        loss(p, data, z)
        sample_unmet(p, data, 0, z, z)


def ptx(variant, cc=(9, 0)):
    """The PTX of ``variant``'s kernel for compute capability ``cc``, compiled as ``compile_kernel`` does."""
    with _exact_compile():
        text, _ = cuda.compile_ptx(_make_kernel(variant), _signature(variant).args, cc=cc)
    return text


def train_chunk(job):
    """``_execution.train_job`` on the GPU: the same inputs and outputs, one launch.

    Returns params (S, 9) F, loss (S,) F, etl (S,) int64, loss_at (S, R) F,
    within_at (S, R or 0) bool, on the host, F the float dtype of ``job.X``.
    """
    with Launches(1) as gpu:
        gpu.launch(job)
        return gpu.collect()


class Launches:
    """Up to ``depth`` launches in flight, each on a CUDA stream of its own, in order.

    ``launch`` queues a job's copies and kernel and returns at once;
    ``collect`` waits for the oldest and returns its rows as ``train_chunk``
    does. With two in flight the GPU trains the next launch while the last
    one's rows are copied back and handed on, and the two kernels share the
    SMs where one ends in a partial wave. Each stream keeps its device
    arrays from launch to launch (grown to twice their rows, up to ``rows``,
    when a launch needs more; a launch uses their first rows): a free
    synchronises the device, stalling the other stream, so a sweep frees
    only the few arrays its growing launches outgrow, and the rest when it
    ends (numba-cuda's deferred frees; holding them off for the block would
    hold them for good: its pending frees are flushed only as others come).
    Leaving the block waits for the launches not collected.
    """

    @_gpu_errors
    def __init__(self, depth: int, rows: int = 0):
        require()  # on a Dask worker, the first look at its GPU
        self._streams = _thread_streams(depth)
        self._rows = rows
        self._buffers: list[dict[Any, Any]] = [{} for _ in range(depth)]
        #: (stream, its output arrays, the host inputs its copies may still read), oldest first
        self._queued: list[tuple[int, list[Any], list[Any]]] = []
        self._next = 0  # the stream of the next launch: launches go round the streams in order

    def __enter__(self) -> "Launches":
        return self

    def __exit__(self, *exc: Any) -> None:
        for stream in self._streams:  # after an error or Ctrl-C (even one inside ``launch``): nothing left running
            with contextlib.suppress(Exception):
                stream.synchronize()
        self._queued.clear()
        self._buffers = [{} for _ in self._streams]

    def _device(self, k: int, key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        """Stream k's device array ``key``, its first ``shape[0]`` rows."""
        if 0 in shape:
            # numba-cuda slices an (n, 0) array to (1, 0) (its row stride is 0), so a
            # launch of several chunks got one row of the loss history: none is kept
            return cuda.device_array(shape, dtype=dtype)
        buf = self._buffers[k].get(key)
        if buf is None or buf.dtype != dtype or buf.shape[1:] != shape[1:] or buf.shape[0] < shape[0]:
            grown = 0 if buf is None or buf.shape[1:] != shape[1:] else 2 * buf.shape[0]
            rows = max(shape[0], min(grown, self._rows))
            buf = self._buffers[k][key] = cuda.device_array((rows, *shape[1:]), dtype=dtype)
        return buf[: shape[0]]

    @_gpu_errors
    def launch(self, job) -> None:
        """Queue ``job``'s inputs, kernel and nothing else on the next stream; returns at once."""
        if len(self._queued) == len(self._streams):
            raise RuntimeError("collect a launch before queueing another: every stream is busy")
        k, stream = self._next, self._streams[self._next]
        F = job.X.dtype
        S, R = job.seeds.shape[0], job.record_at.shape[0]
        variant = Variant.of(job)
        kernel = compile_kernel(variant)
        starts = job.explicit_starts()
        rates = ("lr", "lr_output", "momentum")
        inputs = [
            tuple(np.column_stack([job.X, job.y]).ravel()) if variant.samples else (),
            job.X,
            job.y,
            job.seeds,
            np.empty((0, N_PARAMS)) if starts is None else starts,
            job.uniform,
            job.per_network("init_scale", np.float64),
            *(job.per_network(name, F) if variant.per_network else F.type(getattr(job, name)) for name in rates),
            np.int64(job.epochs),
            job.tol,
            job.tol_sum,
            job.margin,
            job.track,
            job.record_at,
        ]
        args, hosts = [], []
        for i, a in enumerate(inputs):
            if isinstance(a, np.ndarray):
                a = np.ascontiguousarray(a)
                hosts.append(a)  # kept until collected: a copy from pageable memory may read it late
                dev = self._device(k, i, a.shape, a.dtype)
                if a.size:
                    dev.copy_to_device(a, stream=stream)
                a = dev
            args.append(a)
        shapes = [((S, N_PARAMS), F), ((S,), F), ((S,), np.int64), ((S, R), F), ((S, job.n_within), np.bool_)]
        outputs = [self._device(k, ("out", i), shape, dtype) for i, (shape, dtype) in enumerate(shapes)]
        if S:
            kernel[-(-S // THREADS_PER_BLOCK), THREADS_PER_BLOCK, stream](*args, *outputs)
        self._queued.append((k, outputs, hosts))
        self._next = (k + 1) % len(self._streams)

    @_gpu_errors
    def collect(self):
        """The oldest launch's rows on the host (new arrays), once it is done."""
        k, outputs, _ = self._queued[0]
        stream = self._streams[k]
        rows = tuple(a.copy_to_host(stream=stream) for a in outputs)
        stream.synchronize()
        self._queued.pop(0)
        return rows


_STREAMS = threading.local()


def _thread_streams(n: int) -> list[Any]:
    """n CUDA streams of this thread's, the same from one call to the next: numba-cuda's
    launch configurations (an LRU cache of 128) hold on to the streams they were given."""
    streams = _STREAMS.__dict__.setdefault("streams", [])
    while len(streams) < n:
        streams.append(cuda.stream())
    return streams[:n]
