"""fastbackprop: a 2-2-1 sigmoid network with hand-derived backprop, compiled by Numba.

Public API: ``Network`` (one network), ``sweep`` / ``SweepResult`` /
``load_sweep`` (many seeds, on the CPU or with ``device="cuda"`` on a GPU),
``merge_sweeps`` / ``merge_grids`` / ``missing_seeds`` (sweeps and grids run in pieces, as one),
``grid`` / ``GridResult`` / ``load_grid`` (learning rates x training lengths),
``init_map`` / ``lr_map`` / ``MapResult`` / ``load_map`` (one network per
pixel of a slice of starting points or learning rates), ``plot``
(figures, optional matplotlib), ``datasets``, and ``reference`` (the
plain-NumPy oracle).

The names are loaded on first use (PEP 562), so that ``import fastbackprop``
and the console script start without NumPy and Numba, and a Ctrl-C while
they load is the command line's own.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from . import datasets
    from ._errors import DeviceUnavailableError, StoreLockedError
    from .maps import MapResult, init_map, load_map, lr_map
    from .merge import merge_grids, merge_sweeps, missing_seeds
    from .network import Network
    from .sweeps import GridResult, SweepResult, grid, load_grid, load_sweep, sweep, wilson_interval

#: Each public name, and the module that defines it.
_HOMES = {
    "DeviceUnavailableError": "_errors",
    "GridResult": "sweeps",
    "MapResult": "maps",
    "Network": "network",
    "StoreLockedError": "_errors",
    "SweepResult": "sweeps",
    "grid": "sweeps",
    "init_map": "maps",
    "load_grid": "sweeps",
    "load_map": "maps",
    "load_sweep": "sweeps",
    "lr_map": "maps",
    "merge_grids": "merge",
    "merge_sweeps": "merge",
    "missing_seeds": "merge",
    "sweep": "sweeps",
    "wilson_interval": "sweeps",
}

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
    "load_grid",
    "load_map",
    "load_sweep",
    "lr_map",
    "merge_grids",
    "merge_sweeps",
    "missing_seeds",
    "sweep",
    "wilson_interval",
]


#: The public modules, loaded as attributes too (``fb.plot``; ``fb.sweeps`` as when the package loaded them all).
_MODULES = {"datasets", "maps", "merge", "network", "plot", "reference", "results", "store", "sweeps"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value  # once: later lookups do not come here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *_MODULES})
