"""fastbackprop: a 2-2-1 sigmoid network with hand-derived backprop, compiled by Numba.

Public API: ``Network`` (one network), ``datasets``, and ``reference`` (the
plain-NumPy oracle).
"""

from . import datasets
from .network import Network

__version__ = "0.1.0"
__all__ = ["Network", "datasets", "__version__"]
