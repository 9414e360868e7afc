"""``python -m fastbackprop`` and the ``fastbackprop`` console script."""

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any


def main() -> int:
    """Load the command line (NumPy, Numba: most of a second) and run it; Ctrl-C meanwhile exits 130."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:  # started with it closed (>&-): its output goes nowhere, as it would
            setattr(sys, name, open(os.devnull, "w"))
    pressed: list[bool] = []  # Ctrl-C while loading: NumPy's compiled import may turn it into an ImportError
    previous = _watch_ctrl_c(pressed)
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        print("fastbackprop: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - NumPy or Numba refusing to load (NUMBA_NUM_THREADS=0): one line
        if pressed:
            print("fastbackprop: interrupted", file=sys.stderr)
            return 130
        print(f"fastbackprop: error: cannot load NumPy and Numba: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return run()


def _watch_ctrl_c(pressed: list[bool]) -> Any:
    """On the main thread, note each Ctrl-C in ``pressed`` (and raise KeyboardInterrupt as ever);
    return the handler to put back, or None where signals cannot be handled."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def note(signum: int, frame: FrameType | None) -> None:
        pressed.append(True)
        signal.default_int_handler(signum, frame)

    return signal.signal(signal.SIGINT, note)


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
