"""``python -m fastbackprop`` and the ``fastbackprop`` console script."""

import os
import sys


def main() -> int:
    """Load the command line (NumPy, Numba: most of a second) and run it; Ctrl-C meanwhile exits 130."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:  # started with it closed (>&-): its output goes nowhere, as it would
            setattr(sys, name, open(os.devnull, "w"))
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        print("fastbackprop: interrupted", file=sys.stderr)
        return 130
    return run()


if __name__ == "__main__":
    sys.exit(main())
