"""``python -m fastbackprop`` and the ``fastbackprop`` console script."""

import os
import signal
import sys
import threading


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
    except Exception as exc:  # noqa: BLE001 - NumPy or Numba refusing to load (NUMBA_NUM_THREADS=0): one line
        print(f"fastbackprop: error: cannot load NumPy and Numba: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return run()


def script() -> int:
    """The program (console script, ``python -m``): ``main``, then Ctrl-C ignored while the process exits.

    A Ctrl-C while the interpreter shuts down (a few tenths of a second) came
    too late to stop anything, and must not kill the process by signal
    (status 130, silently) after its work is done. ``main`` itself leaves the
    process's signal handlers alone, for programs that call it.
    """
    code = main()
    if threading.current_thread() is threading.main_thread():
        try:
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            except KeyboardInterrupt:  # pressed just before: ignore the next ones too
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except KeyboardInterrupt:  # twice
            pass
    return code


if __name__ == "__main__":
    sys.exit(script())
