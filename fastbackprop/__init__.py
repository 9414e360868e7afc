"""fastbackprop: a 2-2-1 sigmoid network with hand-derived backprop, compiled by Numba.

Public API: ``Network`` (one network), ``sweep`` / ``SweepResult`` /
``load_sweep`` (many seeds, on the CPU or with ``device="cuda"`` on a GPU),
``merge_sweeps`` (sweeps run in pieces, as one),
``grid`` / ``GridResult`` (learning rates x training lengths),
``init_map`` / ``lr_map`` / ``MapResult`` / ``load_map`` (one network per
pixel of a slice of starting points or learning rates), ``plot``
(figures, optional matplotlib), ``datasets``, and ``reference`` (the
plain-NumPy oracle).
"""

from . import datasets
from ._errors import DeviceUnavailableError, StoreLockedError
from ._version import __version__
from .maps import MapResult, init_map, load_map, lr_map
from .merge import merge_sweeps
from .network import Network
from .sweeps import GridResult, SweepResult, grid, load_sweep, sweep, wilson_interval

__all__ = [
    "DeviceUnavailableError",
    "GridResult",
    "MapResult",
    "Network",
    "StoreLockedError",
    "SweepResult",
    "__version__",
    "datasets",
    "grid",
    "init_map",
    "load_map",
    "load_sweep",
    "lr_map",
    "merge_sweeps",
    "sweep",
    "wilson_interval",
]
