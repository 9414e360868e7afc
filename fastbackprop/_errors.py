"""Exceptions of the package's own."""


class DeviceUnavailableError(RuntimeError):
    """``device="cuda"`` was asked for where no usable CUDA GPU or driver is found."""
