"""Ctrl-C: training, sweeps and grids stop within about a second at any size and thread count.

Each case runs in a subprocess that prints "started" just before the long
call; SIGINT follows shortly after, and the time to exit is measured from it.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastbackprop import datasets, load_sweep, sweep

from .conftest import JIT

pytestmark = pytest.mark.skipif(not JIT, reason="needs compiled runs that last minutes if not stopped")

#: Time allowed from SIGINT to exit: "about a second", with room for a loaded CI box.
PROMPT_S = 2.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _interrupt(code, after=1.0, ready=None):
    """Run ``code``, send SIGINT ``after`` s past its "started" line (and past ``ready()``, if given).

    Returns the exit code, the output after "started", stderr, and the seconds from SIGINT to exit.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # A shell's background job (CI, nohup) starts with SIGINT ignored, and Python
        # keeps it so: give the child the default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 120
        while ready is not None and not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(after)
        assert proc.poll() is None, "finished before it was interrupted: the test proves nothing"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        return proc.returncode, out, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


CATCH = """
    import sys, time, fastbackprop as fb
    X, y = fb.datasets.xor()
    fb.sweep(X, y, 256, epochs=2, threads=1)  # compiled or loaded before "started"
    print("started", flush=True)
    try:
        {call}
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(0)
    sys.exit(3)
"""


@pytest.mark.parametrize(
    "call",
    [
        "fb.Network(seed=1).train(X, y, epochs=10**9, history=False)",
        "fb.sweep(X, y, 1000, epochs=2 * 10**6, threads=1)",  # one chunk, one thread
        "fb.sweep(X, y, 1000, epochs=10**9)",  # one chunk, all threads
        "fb.sweep(X, y, 100 * 1024, epochs=10**6, threads=2)",  # many chunks in flight
        "fb.grid(X, y, 3000, lrs=[0.5, 1.0], epochs_list=[10**6, 10**9], threads=2)",
    ],
    ids=["Network.train", "sweep, 1 chunk, 1 thread", "sweep, 1 chunk", "sweep, 2 threads", "grid"],
)
def test_ctrl_c_stops_within_a_second(call):
    code, out, err, delay = _interrupt(CATCH.format(call=call))
    assert code == 0 and out.split() == ["interrupted"], (code, out, err)
    assert delay < PROMPT_S, delay


FIRST_COMPILE = """
    import os, signal, sys, time
    from numba.core import codegen
    # Ctrl-C at the worst moment: while LLVM calls back into Python (as it does for each
    # module it compiles), where a KeyboardInterrupt raised is printed and dropped.
    hook, sent = codegen.JITCodeLibrary._object_compiled_hook.__func__, []

    def ctrl_c_in_llvm_callback(cls, ll_module, buf):
        if not sent:
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the signal is handled here, in this thread, if it can be
        return hook(cls, ll_module, buf)

    codegen.JITCodeLibrary._object_compiled_hook = classmethod(ctrl_c_in_llvm_callback)  # before Numba's JIT starts
    import fastbackprop as fb
    from fastbackprop.cli import main
    X, y = fb.datasets.xor()
    try:
        {call}  # compiles its kernel first: the cache is empty
    except KeyboardInterrupt:
        print("interrupted", round(time.monotonic() - sent[0], 3), flush=True)
        sys.exit(0)
    sys.exit(3)
"""


@pytest.mark.parametrize(
    "call",
    [
        "fb.sweep(X, y, 20000, epochs=1000, momentum=0.3)",
        "sys.exit(main(['sweep', '--dataset', 'xor', '--seeds', '20000', '--epochs', '1000', '--momentum', '0.3']))",
        "fb.Network(seed=1).train(X, y, epochs=10**9, momentum=0.3, history=False)",
    ],
    ids=["sweep", "cli", "Network.train"],
)
def test_ctrl_c_during_the_first_compile_stops_at_once(call, tmp_path):
    """The first call of a kernel compiles it (seconds); Ctrl-C then must not be lost in one of
    LLVM's callbacks, leaving the run to go on to its end."""
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FIRST_COMPILE.format(call=call))],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    if call.startswith("sys.exit(main("):
        assert res.returncode == 130 and res.stderr == "fastbackprop: interrupted\n", (res.returncode, res.stderr)
    else:
        assert res.returncode == 0 and res.stdout.split()[0] == "interrupted", (res.returncode, res.stderr[-2000:])
        assert float(res.stdout.split()[1]) < PROMPT_S and not res.stderr, (res.stdout, res.stderr)


def test_an_interrupted_network_is_unchanged():
    _, out, err, _ = _interrupt(
        """
        import numpy as np, fastbackprop as fb
        X, y = fb.datasets.xor()
        net = fb.Network(seed=1)
        net.train(X, y, epochs=2)
        before = net.params
        print("started", flush=True)
        try:
            net.train(X, y, epochs=10**9, history=False)
        except KeyboardInterrupt:
            print(np.array_equal(net.params, before), net.epochs_trained, flush=True)
        """
    )
    assert out.split() == ["True", "2"], (out, err)


def test_an_interrupted_store_keeps_every_finished_chunk(tmp_path):
    path = tmp_path / "s"
    n, epochs = 64 * 1024, 10_000  # ~5 s on 2 fast cores, in chunks of 4096 seeds
    code, out, err, delay = _interrupt(
        f"""
        import fastbackprop as fb
        from fastbackprop import _execution
        X, y = fb.datasets.xor()
        fb.sweep(X, y, 256, epochs=2)
        trained = _execution.train_job

        def train_job(job, cancel=None):  # says which chunks finished training (not stopped by Ctrl-C)
            rows = trained(job, cancel)
            if rows is not None and job.seeds.shape[0]:  # (not the warm-up's empty call)
                print("trained", int(job.seeds[0]), flush=True)
            return rows

        _execution.train_job = train_job
        print("started", flush=True)
        fb.sweep(X, y, {n}, epochs={epochs}, lr=0.5, threads=2, store={str(path)!r})
        """,
        after=0.5,
        ready=lambda: path.is_dir() and any(re.fullmatch(r"chunk-\d+\.npz", f) for f in os.listdir(path)),
    )
    assert code != 0 and "KeyboardInterrupt" in err and delay < PROMPT_S
    partial = load_sweep(path)
    chunks = [f for f in os.listdir(path) if f.startswith("chunk-")]
    size = json.loads((path / "manifest.json").read_text())["settings"]["chunk_size"]
    assert 0 < partial.n < n and partial.n == len(chunks) * size  # every chunk file a whole, valid chunk
    finished = {int(line.split()[1]) for line in out.splitlines() if line.startswith("trained")}
    assert finished and finished <= set(partial.seeds.tolist())  # every chunk that finished training is kept
    np.testing.assert_array_equal(partial.params, sweep(*datasets.xor(), partial.seeds, epochs=epochs, lr=0.5).params)


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--dataset", "xor", "--epochs", "30000000"],
        ["sweep", "--dataset", "xor", "--seeds", "1000", "--epochs", "2000000", "--threads", "1"],
    ],
    ids=["train", "sweep"],
)
def test_cli_ctrl_c_is_one_line_and_exit_130(args, tmp_path):
    code, _, err, delay = _interrupt(
        f"""
        import sys
        from fastbackprop import datasets, sweep
        from fastbackprop.cli import main
        sweep(*datasets.xor(), 256, epochs=2)
        print("started", flush=True)
        sys.exit(main({args!r}))
        """
    )
    assert code == 130 and err == "fastbackprop: interrupted\n" and delay < PROMPT_S, (code, err, delay)


def test_cli_ctrl_c_while_numpy_and_numba_load_is_one_line_and_exit_130():
    """The console script's entry point: SIGINT arrives while ``import numpy`` runs (an import hook sends it)."""
    code = """
        import os, signal, sys

        class Interrupt:  # sends SIGINT the moment NumPy starts to load
            def find_spec(self, name, path=None, target=None):
                if name == "numpy":
                    os.kill(os.getpid(), signal.SIGINT)

        sys.meta_path.insert(0, Interrupt())
        from fastbackprop.__main__ import main
        assert "numpy" not in sys.modules  # the entry point itself loads nothing heavy
        sys.argv = ["fastbackprop", "info"]
        sys.exit(main())
    """
    proc = _entry_point(code)
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "fastbackprop: interrupted\n", "")


def _entry_point(code):
    """Run ``code`` (which calls the console script's ``main``) in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.parametrize(
    "when",
    [
        "cli._build_parser = lambda: os.kill(os.getpid(), signal.SIGINT)",  # while the parser is built
        # matplotlib's C extension cut short by Ctrl-C: ImportError("initialization failed") from it
        "cli._COMMANDS['info'] = lambda args: cut_short()",
    ],
    ids=["building the parser", "an import cut short"],
)
def test_cli_ctrl_c_at_any_moment_is_one_line_and_exit_130(when):
    proc = _entry_point(
        f"""
        import os, signal, sys
        from fastbackprop import cli
        from fastbackprop.__main__ import main

        def cut_short():
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise ImportError("initialization failed") from None

        {when}
        sys.argv = ["fastbackprop", "info"]
        sys.exit(main())
        """
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "fastbackprop: interrupted\n", "")


def test_cli_ctrl_c_after_the_work_is_done_does_not_turn_it_into_130():
    """Once the program's work is done, the interpreter's shutdown (tenths of a second) ignores Ctrl-C."""
    proc = _entry_point(
        """
        import os, signal, sys
        from fastbackprop.__main__ import script

        sys.argv = ["fastbackprop", "info"]
        code = script()
        os.kill(os.getpid(), signal.SIGINT)  # as if pressed as the interpreter shuts down
        sys.exit(code)
        """
    )
    assert proc.returncode == 0 and proc.stderr == "" and "fastbackprop" in proc.stdout, proc.stderr[-2000:]
