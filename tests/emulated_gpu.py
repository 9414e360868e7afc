"""A GPU for fastbackprop's host path, emulated below numba-cuda: its real DeviceNDArray, dummyarray,
copies and kernel-argument packing (``_Kernel._prepare_args``) run; device memory is host RAM filled
with garbage (as uninitialised device memory is), streams are queues run only at synchronisation, and
the kernel reads the packed arguments as the compiled signature lays them out and trains with the CPU
kernels. No GPU needed. (Written in a review hunting what only a real GPU would show, 2026-11-28.)"""

import contextlib
import ctypes
import weakref

import numpy as np
from cuda.bindings.driver import CUdeviceptr
from numba import cuda, types
from numba.cuda.cudadrv import devices, driver
from numba.cuda.dispatcher import _Kernel

from fastbackprop import _cuda, _kernels
from fastbackprop._layout import N_PARAMS

GARBAGE = 0xFF  # float NaN / int -1 / bool 255 bytes: what a launch did not write shows


class FakeCtx:
    def __init__(self):
        self.allocations, self.bufs = {}, {}

    def memalloc(self, size):
        buf = np.full(size, GARBAGE, np.uint8)
        addr = buf.ctypes.data

        def fin(addr=addr):
            self.allocations.pop(addr, None)
            self.bufs.pop(addr, None)

        mem = driver.AutoFreePointer(weakref.proxy(self), CUdeviceptr(addr), size, finalizer=fin)
        self.bufs[addr] = buf
        self.allocations[addr] = mem
        return mem.own()


class FakeStream:
    def __init__(self):
        self.queue = []
        self.handle = id(self)

    def synchronize(self):
        while self.queue:
            self.queue.pop(0)()


CTX = FakeCtx()


def host_to_device(dst, src, size, stream=0):
    staged = ctypes.string_at(driver.host_pointer(src, readonly=True), size)  # pageable: staged at once
    ptr = driver.device_pointer(dst)
    op = lambda: ctypes.memmove(ptr, staged, size)  # noqa: E731
    stream.queue.append(op) if stream else op()


def device_to_host(dst, src, size, stream=0):
    if stream:
        stream.synchronize()  # pageable D2H: returns once done, so after the stream's earlier work
    ctypes.memmove(driver.host_pointer(dst), driver.device_pointer(src), size)


def _unpack(ty, flat):
    """One argument as the kernel sees it, from the flat marshalled list."""
    if isinstance(ty, types.Array):
        _meminfo, _parent, size, itemsize, ptr = flat[:5]
        shape = tuple(int(s) for s in flat[5 : 5 + ty.ndim])
        strides = tuple(int(s) for s in flat[5 + ty.ndim : 5 + 2 * ty.ndim])
        del flat[: 5 + 2 * ty.ndim]
        dtype = np.dtype(str(ty.dtype)) if ty.dtype != types.boolean else np.dtype(np.bool_)
        assert itemsize == dtype.itemsize, f"{ty}: itemsize {itemsize} passed"  # what no launch checks
        assert size == int(np.prod(shape)), (ty, size, shape)
        if ty.layout == "C":  # the kernel indexes a C array by its shape, never its strides
            strides = tuple(int(np.prod(shape[k + 1 :])) * dtype.itemsize for k in range(len(shape)))
        if size == 0:
            return np.empty(shape, dtype)
        extent = sum((n - 1) * s for n, s in zip(shape, strides)) + dtype.itemsize
        buf = (ctypes.c_char * extent).from_address(ptr)
        return np.ndarray(shape, dtype, buffer=buf, strides=strides)
    if isinstance(ty, types.BaseTuple):
        return tuple(_unpack(t, flat) for t in ty)
    v = flat.pop(0)
    v = v.value if hasattr(v, "value") else v
    return np.dtype(str(ty)).type(v) if ty != types.boolean else bool(v)


class EmulatedKernel:
    def __init__(self, variant):
        self.variant = variant
        self.sig = _cuda._signature(variant)
        self.launches = []

    def __getitem__(self, config):
        blocks, tpb, stream = config

        def launch(*args):
            flat, retr = [], []
            stub = type("K", (), {"extensions": [], "_prepare_args": _Kernel._prepare_args})()
            for t, v in zip(self.sig.args, args):
                _Kernel._prepare_args(stub, t, v, stream, retr, flat)
            self.launches.append((blocks, tpb))
            stream.queue.append(lambda: self._run(blocks * tpb, list(flat)))

        return launch

    def _run(self, threads, flat):
        v = self.variant
        args = [_unpack(t, flat) for t in self.sig.args]
        (data, X, y, seeds, params0, uniform, scale, lr, lr_out, m, epochs, tol, tol_sum, margin, track, record_at,
         params_out, loss_out, etl_out, loss_at_out, within_at_out) = args  # fmt: skip
        assert not flat, f"{len(flat)} marshalled values left over"
        S = seeds.shape[0]
        assert threads >= S
        if v.samples:  # the unrolled kernel reads its samples from the tuple, not X and y
            d = np.array(data).reshape(v.samples, 3)
            X, y = np.ascontiguousarray(d[:, :2]), np.ascontiguousarray(d[:, 2])
        if params0.shape[0] > 0:
            starts = np.array(params0[:S], np.float64)
        else:
            starts = np.empty((S, N_PARAMS))
            _kernels.init_params(np.array(seeds), uniform, np.array(scale), starts)
        rates = [np.array(r) if v.per_network else np.full(S, r) for r in (lr, lr_out, m)]
        F = v.dtype
        R = record_at.shape[0]
        rows = [np.empty((S, N_PARAMS), F), np.empty(S, F), np.empty(S, np.int64), np.empty((S, R), F),
                np.empty((S, R if v.within else 0), np.bool_)]  # fmt: skip
        kernel = _kernels.training_kernels(v.tanh, v.momentum).train_blocks
        kernel(X, y, starts, *rates, int(epochs), tol, tol_sum, margin, track, np.array(record_at), *rows,
               np.zeros(1, np.uint8))  # fmt: skip
        params_out[...] = rows[0]
        loss_out[...] = rows[1]
        etl_out[...] = rows[2]
        loss_at_out[...] = rows[3]
        if v.within:
            within_at_out[...] = rows[4]


@contextlib.contextmanager
def emulated_gpu():
    from numba.cuda.cudadrv import devicearray

    kernels = {}
    saved = [
        (devices._runtime, "ensure_context", devices._runtime.ensure_context),
        (devices._runtime, "get_or_create_context", devices._runtime.get_or_create_context),
        (driver, "host_to_device", driver.host_to_device),
        (driver, "device_to_host", driver.device_to_host),
        (_cuda, "compile_kernel", _cuda.compile_kernel),
        (_cuda, "_missing", _cuda._missing),
        (cuda, "stream", cuda.stream),
    ]
    devices._runtime.ensure_context = contextlib.nullcontext
    devices._runtime.get_or_create_context = lambda devnum=None: CTX
    driver.host_to_device, driver.device_to_host = host_to_device, device_to_host
    _cuda.compile_kernel = lambda variant: kernels.setdefault(variant, EmulatedKernel(variant))
    _cuda._missing = lambda: None
    cuda.stream = FakeStream
    _cuda._STREAMS.__dict__.clear()
    assert devicearray._driver is driver
    try:
        yield kernels
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)
        _cuda._STREAMS.__dict__.clear()
