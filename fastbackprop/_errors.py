"""Exceptions of the package's own."""


class DeviceUnavailableError(RuntimeError):
    """``device="cuda"`` was asked for where no usable CUDA GPU or driver is found."""


class StoreLockedError(RuntimeError):
    """A sweep store is being written by another run (another process, or another thread of this one)."""
