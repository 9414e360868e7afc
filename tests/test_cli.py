"""The command line: in-process through ``main`` and, as a user runs it, in a subprocess."""

import os
import subprocess
import sys

import numpy as np
import pytest

from fastbackprop.cli import main

from .conftest import JIT


def run(*args):
    return subprocess.run([sys.executable, "-m", "fastbackprop", *args], capture_output=True, text=True, timeout=600)


def _losses(stdout):
    return {
        int(line.split(":")[0].split()[1]): float(line.split()[-1])
        for line in stdout.splitlines()
        if line.startswith("Epoch")
    }


def test_train_prints_the_classic_log():
    res = run("train")
    assert res.returncode == 0, res.stderr
    losses = _losses(res.stdout)
    assert sorted(losses) == [0, 1000, 2000, 3000]
    assert 0.3 <= losses[0] <= 0.4 and losses[3000] <= 0.005
    lines = res.stdout.splitlines()
    emily = float(lines[-2].split()[1])
    frank = float(lines[-1].split()[1])
    assert lines[-2].startswith("Emily:") and emily >= 0.95
    assert lines[-1].startswith("Frank:") and frank <= 0.05


def test_console_script_is_installed():
    import importlib.metadata
    import shutil
    import sysconfig

    try:
        importlib.metadata.distribution("fastbackprop")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fastbackprop is not installed in this environment (tests run from a source tree)")
    # this environment's script, not whichever comes first on PATH
    script = shutil.which("fastbackprop", path=sysconfig.get_path("scripts"))
    assert script is not None, f"no fastbackprop script in {sysconfig.get_path('scripts')}"
    res = subprocess.run([script, "train", "--epochs", "10"], capture_output=True, text=True)
    assert res.returncode == 0 and "Epoch 10:" in res.stdout


def test_bad_option_in_a_subprocess_is_one_line_without_traceback():
    res = run("train", "--lr", "-1")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == "fastbackprop: error: --lr must be finite and > 0, got -1.0\n"


@pytest.mark.parametrize(
    "closed, args", [(1, ["train", "--epochs", "5"]), (2, ["sweep", "--seeds", "3", "--epochs", "2"])]
)
def test_a_closed_stdout_or_stderr_is_not_a_traceback(closed, args):
    """`fastbackprop train >&-`: Python then has no sys.stdout, and printing to it raised."""
    # (the pure-Python pass's NumPy scalars warn about integer overflow in the seed map: not this test's matter)
    cmd = [sys.executable, *([] if JIT else ["-W", "ignore::RuntimeWarning"]), "-m", "fastbackprop", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, pass_fds=(), close_fds=True,
                         preexec_fn=lambda: os.close(closed))  # fmt: skip
    assert res.returncode == 0, res.stderr
    if closed == 1:
        assert res.stdout == res.stderr == ""
    else:
        assert res.stderr == "" and res.stdout.startswith("data gender: 3 seeds")


def test_options(capsys):
    epochs = "700" if JIT else "7"
    assert (
        main(["train", "--dataset", "xor", "--seed", "3", "--epochs", epochs, "--lr", "0.5", "--log-every", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert sorted(_losses(out))[:3] == [0, 3, 6] and max(_losses(out)) == int(epochs)
    assert "x = (1, 1)" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--lr", "-1"], "lr must be finite and > 0"),
        (["train", "--lr", "nan"], "lr must be finite and > 0"),
        (["train", "--epochs", "x"], "--epochs: invalid int value"),
        (["train", "--epochs", "-5"], "epochs must be >= 0"),
        (["train", "--seed", "-1"], "seed must be >= 0"),
        (["train", "--dataset", "iris"], "--dataset: invalid choice"),
        (["train", "--log-every", "0"], "--log-every must be >= 1"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["fly"], "invalid choice: 'fly'"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_options_one_line_exit_2(args, message, capsys):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err


def test_help(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--log-every" in out and "examples:" in out


def test_gender_queries_in_process(capsys):
    assert main(["train", "--epochs", "30" if JIT else "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("Emily: ") and out[-1].startswith("Frank: ")


def test_python_dash_m_entry_point(monkeypatch, capsys):
    import runpy
    import signal

    monkeypatch.setattr(sys, "argv", ["fastbackprop", "train", "--epochs", "2"])
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exc:
            runpy.run_module("fastbackprop", run_name="__main__")
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the program is done: exiting, whatever comes
    finally:
        signal.signal(signal.SIGINT, handler)  # this test's process goes on
    assert exc.value.code == 0
    assert "Epoch 2:" in capsys.readouterr().out


def test_main_leaves_the_calling_programs_ctrl_c_alone(monkeypatch, capsys):
    import signal

    from fastbackprop.__main__ import main

    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(sys, "argv", ["fastbackprop", "info"])
    assert main() == 0 and "fastbackprop" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_fifo_given_to_read_is_refused_not_waited_on(tmp_path, capsys):
    """load_sweep, load_map, merge, --params0 and --base-params opened a FIFO and waited for a writer."""
    import errno
    import threading

    from fastbackprop import load_map, load_sweep

    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    done = threading.Event()

    def writer():  # were the FIFO opened, a writer comes after 5 s: the test fails, not hangs
        while not done.wait(5):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as exc:
                assert exc.errno == errno.ENXIO  # no reader: as it should be

    threading.Thread(target=writer, daemon=True).start()
    try:
        for load in (load_sweep, load_map):
            with pytest.raises(ValueError, match="not a regular file"):
                load(fifo)
        commands = [
            ["merge", str(tmp_path / "m.npz"), fifo],
            ["sweep", "--params0", fifo],
            ["map", "init", "--base-params", fifo, "--axes", "w1", "w2", "--extent", "-1", "1", "-1", "1"],
        ]
        for argv in commands:
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "not a regular file" in err, err
    finally:
        done.set()


def test_any_failure_to_load_the_command_line_is_one_line(monkeypatch, capsys):
    import importlib.abc

    from fastbackprop.__main__ import main as program

    class Broken(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname == "fastbackprop.cli":
                raise OSError("libtbb.so.12: cannot open shared object file")
            return None

    monkeypatch.delitem(sys.modules, "fastbackprop.cli")
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    assert program() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot load NumPy and Numba: OSError: libtbb" in err


def test_ctrl_c_that_numpys_import_turns_into_an_import_error_is_an_interruption(monkeypatch, capsys):
    """NumPy's compiled import can catch the KeyboardInterrupt and raise ImportError ("bad install"):
    that was exit 2 and 24 lines instead of 130 and one."""
    import importlib.abc
    import signal

    from fastbackprop.__main__ import main as program

    class Interrupted(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname == "fastbackprop.cli":
                try:
                    signal.raise_signal(signal.SIGINT)
                except KeyboardInterrupt:
                    raise ImportError("Error importing numpy: bad install?") from None
            return None

    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.delitem(sys.modules, "fastbackprop.cli")
    monkeypatch.setattr(sys, "meta_path", [Interrupted(), *sys.meta_path])
    assert program() == 130
    assert capsys.readouterr().err == "fastbackprop: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is handler  # the caller's, put back


def test_numba_refusing_to_load_is_one_line_not_a_traceback():
    env = dict(os.environ, NUMBA_NUM_THREADS="0")
    res = subprocess.run([sys.executable, "-m", "fastbackprop", "--help"], capture_output=True, text=True, env=env)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("fastbackprop: error: cannot load NumPy and Numba")
    assert "must be > 0" in res.stderr


# ---------------------------------------------------------------------------
# sweep and grid, through a subprocess as a user runs them
# ---------------------------------------------------------------------------
SMALL = ["--seeds", "300", "--epochs", "300" if JIT else "3"]
JSON_KEYS = {
    "seeds",
    "epochs",
    "lr",
    "dtype",
    "tol",
    "success_rate",
    "success_ci95",
    "final_loss_quantiles",
    "median_epochs_to_tol",
    "wall_seconds",
    "runs_per_second",
}


def test_sweep_report():
    res = run("sweep", "--dataset", "xor", "--lr", "0.5", *SMALL)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "data xor: 300 seeds" in out and "converged (final loss < tol)" in out and "95% CI" in out
    assert "final loss quantiles: 10%" in out and "epochs to tol: " in out and "runs/s" in out


def test_sweep_json_is_one_object_and_matches_the_api(tmp_path):
    import json

    import numpy as np

    from fastbackprop import datasets, load_sweep, sweep

    out = tmp_path / "run.npz"
    res = run("sweep", "--dataset", "xor", "--lr", "0.5", *SMALL, "--json", "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)  # exactly one JSON document on stdout
    assert JSON_KEYS <= set(report)
    api = sweep(*datasets.xor(), 300, epochs=int(SMALL[3]), lr=0.5)
    assert report["success_rate"] == api.success_rate
    assert report["success_ci95"] == list(api.success_ci95)
    assert report["seeds"] == 300 and report["lr"] == 0.5 and report["dtype"] == "float64"
    loaded = load_sweep(out)
    np.testing.assert_array_equal(loaded.params, api.params)
    assert "result written to" in res.stderr


def test_sweep_plot_and_float32(tmp_path):
    png = tmp_path / "sweep.png"
    res = run("sweep", "--dataset", "and", "--dtype", "float32", "--threads", "1", *SMALL, "--plot", str(png))
    assert res.returncode == 0, res.stderr
    assert png.read_bytes()[:4] == b"\x89PNG" and "float32" in res.stdout


def test_grid_table_json_and_heatmap(tmp_path):
    import json

    epochs = ["100", "300"] if JIT else ["1", "3"]
    png = tmp_path / "grid.png"
    res = run("grid", "--dataset", "xor", "--lr", "0.5", "2", "--epochs", *epochs, "--seeds", "200", "--plot", str(png))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[1].split()[-2:] == epochs and lines[2].startswith("0.5") and lines[3].startswith("2")
    assert png.read_bytes()[:4] == b"\x89PNG"
    res = run("grid", "--dataset", "xor", "--lr", "0.5", "2", "--epochs", *epochs, "--seeds", "200", "--json")
    report = json.loads(res.stdout)
    assert len(report["cells"]) == 4 and report["epochs"] == [int(e) for e in epochs]


def test_train_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from fastbackprop import Network, plot

    drawn, summary = [], plot.train_summary
    monkeypatch.setattr(plot, "train_summary", lambda *a: drawn.append(a) or summary(*a))
    png = tmp_path / "train.png"
    assert main(["train", "--epochs", "20", "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    ((net, history, X, y),) = drawn  # the loss curve and the surface of the network trained
    want = Network(seed=2)
    np.testing.assert_array_equal(history, want.train(X, y, epochs=20))
    np.testing.assert_array_equal(net.params, want.params)


# ---------------------------------------------------------------------------
# --data FILE.csv
# ---------------------------------------------------------------------------
def test_data_file_with_and_without_header(tmp_path, capsys):
    import json

    plain = tmp_path / "plain.csv"
    plain.write_text("0,0,0\n0,1,1\n\n1,0,1\n1,1,0\n")
    header = tmp_path / "header.csv"
    header.write_text("y,x1,x0\n0,0,0\n1,1,0\n1,0,1\n0,1,1\n")
    reports = []
    for path in (plain, header):
        assert main(["sweep", "--data", str(path), "--seeds", "50", "--epochs", "5", "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    xor = main(["sweep", "--dataset", "xor", "--seeds", "50", "--epochs", "5", "--json"])
    assert xor == 0
    expected = json.loads(capsys.readouterr().out)
    for r in reports:
        assert r["final_loss_quantiles"] == expected["final_loss_quantiles"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("0,0,0\n0,1\n", "line 2: expected 3 columns (x0, x1, y), got 2"),
        ("x0,x1,y\n0,0,0\n1,abc,1\n", "line 3: 'abc' is not a number"),
        ("0,0,0\n0,1,1.5\n", "line 2: y must lie in [0, 1] for sigmoid units, got 1.5"),
        ("0,0,0\n0,1,-0.5\n", "line 2: y must lie in [0, 1] for sigmoid units, got -0.5"),  # (the file and line)
        ("0,0,0\n0,nan,1\n", "line 2: values must be finite"),
        ("", "no data rows"),
        ("x0,x1,y\n", "no data rows"),
        ("a,b,c\n0,0,0\n", "line 1: 'a' is not a number"),
        (b"x0,x1,y\n0,0,0\n1,\xe9,1\n", "line 3: not UTF-8 text"),
        ("0,0,0\n1," + "9" * 200_000 + ",1\n", "line 2: field larger than field limit"),
        (b"0,0,0\n0,\x00,1\n", "line 2:"),
    ],
)
def test_bad_data_file_is_one_line_naming_file_and_line(tmp_path, content, message, capsys):
    path = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    # in-process: an exception would escape main (the subprocess tests check the console script itself)
    assert main(["sweep", "--data", str(path), "--seeds", "5", "--epochs", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert str(path) in err and message in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["sweep", "--seeds", "0"], "seeds must be >= 1"),
        (["sweep", "--seeds", "x"], "--seeds: invalid value 'x'"),
        (["sweep", "--dtype", "float16"], "--dtype: invalid choice"),
        (["sweep", "--threads", "0"], "threads must be >= 1"),
        (["sweep", "--tol", "-1"], "tol must be finite and > 0"),
        (["sweep", "--lr", "inf"], "lr must be finite and > 0"),
        (["sweep", "--dataset", "xor", "--data", "f.csv"], "not allowed with argument"),
        (["sweep", "--data", "/no/such/file.csv"], "/no/such/file.csv"),
        (["grid", "--lr", "0.5"], "the following arguments are required: --epochs"),
        (["grid", "--lr", "0", "--epochs", "5"], "--lr must be finite and > 0"),  # (the API names it lrs)
        (["grid", "--lr", "0.5", "--epochs", "0"], "--epochs must be >= 1"),
        (["sweep", "--lr", "-inf"], "lr must be finite and > 0"),  # a number, not an unknown option
        (["sweep", "--seed", "5"], "unrecognized arguments: --seed 5"),  # train's flag is not --seeds abbreviated
        (["sweep", "--scheduler", ""], "--scheduler must name a scheduler's address"),
        (["sweep", "--dtype", "float32", "--init-scale", "1e-42"], "--init-scale=1e-42 is outside what float32 holds"),
        (["sweep", "--dtype", "float32", "--lr-output", "1e-50"], "--lr-output=1e-50 is outside what float32 holds"),
        (["sweep", "--init-scale", "1e308"], "--init-scale is too large for float64"),  # not init_scale
        (["map", "lr", "--lr", "1", "-1", "--lr-output", "0", "1"], "--lr must have LO < HI, got 1 -1"),
        (["map", "lr", "--lr", "1", "2", "--lr-output", "1", "0.5", "--linear"], "--lr-output must have lo < hi"),
    ],
)
def test_bad_sweep_and_grid_options(args, message, capsys):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_api_names_in_messages_become_flags_but_file_names_stay(tmp_path, capsys, monkeypatch):
    from fastbackprop import datasets, sweep
    from fastbackprop._settings import TANH_HINT
    from fastbackprop.cli import _in_flags

    assert _in_flags("store 's' was made with epochs_list=[1, 2], this run has epochs_list=[2]; use another store") == (
        "store 's' was made with --epochs=[1, 2], this run has --epochs=[2]; use another store"
    )
    assert _in_flags("--lr-output must have lo < hi; lrs must be finite") == (
        "--lr-output must have lo < hi; --lr must be finite"  # a flag stays as it is
    )
    assert (
        _in_flags("init_scale=(0.5, 2.0) is wrong, lr_output=0.5")
        == "--init-scale=(0.5, 2.0) is wrong, --lr-output=0.5"
    )
    assert _in_flags("lr_extent (1.0, 1.5) is too narrow") == "--lr (1.0, 1.5) is too narrow"
    names = ("momenta run.csv", "init_scale=2/xor.csv", "'lr_output=5'.csv", "seeds (1).csv", "seeds (copy).csv")
    for name in names:  # paths, quoted values
        data = tmp_path / name
        data.parent.mkdir(exist_ok=True)
        data.write_text("x0,x1,y\n")
        assert main(["sweep", "--data", str(data), "--seeds", "2", "--epochs", "1"]) == 2
        assert f"{data}: no data rows" in capsys.readouterr().err
    # a relative name starts the message, where an API name would
    monkeypatch.chdir(tmp_path)
    for name in ("lr=0.5.csv", "tol=0.01,epochs=300.csv", "epochs (1).csv", "momentum is.csv"):
        (tmp_path / name).write_text("x0,x1,y\n0,0,2\n")
        assert main(["sweep", "--data", name, "--seeds", "2", "--epochs", "1"]) == 2
        err = f"fastbackprop: error: {name}, line 2: y must lie in [0, 1] for sigmoid units, got 2.0\n"
        assert capsys.readouterr().err == err  # (and no hint of tanh units, which do not take 2 either)
    (tmp_path / "t.csv").write_text("x0,x1,y\n0,0,0\n0,1,-0.5\n")
    assert main(["train", "--data", "t.csv"]) == 2
    assert capsys.readouterr().err.endswith(
        "line 3: y must lie in [0, 1] for sigmoid units, got -0.5; tanh units (--activation tanh) take targets in "
        "[-1, 1]\n"
    )
    X, y = datasets.xor()
    for targets, hint in (
        (2 * y - 1, True),
        (np.array([0.0, 1.0, 1.0, 2.0]), False),
        (np.array([0, 1, 1, -2.0]), False),
    ):
        with pytest.raises(ValueError, match="y must lie in") as caught:
            sweep(X, targets, 2, epochs=1)
        assert str(caught.value).endswith(TANH_HINT) is hint
    # values that are not numbers are renamed with their names: a message in one spelling
    assert _in_flags("store 's' was made with margin=0.4, this run has margin=None; use another store") == (
        "store 's' was made with --margin=0.4, this run has --margin=None; use another store"
    )
    assert _in_flags("made with init='normal', this run has activation='tanh', epochs_to_tol=True") == (
        "made with --init normal, this run has --activation tanh, epochs_to_tol=True"  # (a Python-only name)
    )
    # the command's own messages name no option the command lacks
    assert main(["map", "lr", "--lr", "-1", "0", "--lr-output", "-1", "0", "--zoom", "5", "5", "2"]) == 2
    assert "--extent" not in capsys.readouterr().err


def test_paths_named_like_numbers_or_settings_survive_the_renaming(tmp_path, capsys, monkeypatch):
    """A path "1" was replaced inside the placeholder of path "0", and a store's real path was renamed."""
    from fastbackprop import datasets, grid
    from fastbackprop.cli import _in_flags

    message = "parts disagree on lrs: '0' has [0.5], '1' has [1.0]"
    assert _in_flags(message, ["0", "1"]) == message
    assert _in_flags("lr=0.5 in '/a/lr=0.5'", ["/a/lr=0.5"]) == "--lr=0.5 in '/a/lr=0.5'"
    # a short path is kept where it stands as a name, not inside the words around it; a one-word path
    # is not kept at all (a message quotes it), so that it keeps no argument name or number from its flag
    assert _in_flags("store 's' was made with epochs_list=[5]", ["s"]) == "store 's' was made with --epochs=[5]"
    assert _in_flags("lr must be finite and > 0, got -1.0", ["lr"]) == "--lr must be finite and > 0, got -1.0"
    assert _in_flags("margin=0.5 and tol=0 in 'x/0'", ["0", "x/0"]) == "--margin=0.5 and --tol=0 in 'x/0'"
    assert _in_flags("seeds: 10 seeds would take 8 B") == "--seeds: 10 seeds would take 8 B"  # (memory refusals)
    assert _in_flags("parts disagree on lrs: 'a' has [1.0]") == "parts disagree on lrs: 'a' has [1.0]"  # not mid-text
    folder = "/tmp/my lr=0.5 run"  # a missing folder of --out, named alone
    assert _in_flags(f"--out '{folder}/o.npz': '{folder}' does not exist", [f"{folder}/o.npz", folder]) == (
        f"--out '{folder}/o.npz': '{folder}' does not exist"
    )
    monkeypatch.chdir(tmp_path)
    X, y = datasets.xor()
    grid(X, y, 3, lrs=[0.5], epochs_list=[2]).save("0")
    grid(X, y, range(3, 6), lrs=[1.0], epochs_list=[2]).save("1")
    assert main(["merge", "--overwrite", "m.npz", "0", "1"]) == 2
    assert capsys.readouterr().err == f"fastbackprop: error: {message}\n"
    (tmp_path / "my seeds=3").mkdir()
    os.symlink(tmp_path / "my seeds=3", tmp_path / "link")
    assert main(["sweep", "--dataset", "xor", "--epochs", "2", "--seeds", "3", "--store", "link/s"]) == 0
    capsys.readouterr()
    assert main(["sweep", "--dataset", "xor", "--epochs", "3", "--seeds", "3", "--store", "link/s"]) == 2
    err = capsys.readouterr().err
    assert f"store '{os.path.realpath(tmp_path)}/my seeds=3/s' was made with --epochs=2" in err, err


def test_top_level_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "train" in out and "sweep" in out and "grid" in out


@pytest.mark.parametrize("cmd", ["sweep", "grid"])
def test_sweep_and_grid_help(cmd, capsys):
    assert main([cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert "example" in out and f"fastbackprop {cmd} --dataset xor" in out


def test_sweep_and_grid_in_process(tmp_path, capsys):
    import json

    epochs = "50" if JIT else "3"
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "xor",
                "--seeds",
                "200",
                "--epochs",
                epochs,
                "--lr",
                "0.5",
                "--store",
                str(tmp_path / "s"),
                "--out",
                str(tmp_path / "r.npz"),
                "--no-progress",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert "95% CI" in out and "result written to" in err
    assert main(["sweep", "--dataset", "xor", "--seeds", "200", "--epochs", epochs, "--tol", "1e-9", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["converged"] == 0 and report["median_epochs_to_tol"] is None
    assert main(["sweep", "--dataset", "xor", "--seeds", "200", "--epochs", epochs, "--tol", "1e-9"]) == 0
    assert "never reached" in capsys.readouterr().out
    assert main(["grid", "--dataset", "or", "--seeds", "200", "--lr", "0.5", "--epochs", "1", epochs]) == 0
    assert "lr \\ epochs" in capsys.readouterr().out
    assert main(["grid", "--dataset", "or", "--seeds", "200", "--lr", "0.5", "--epochs", epochs, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cells"][0]["n"] == 200


def test_diverged_seeds_are_reported(tmp_path, capsys):
    import json

    path = tmp_path / "big.csv"
    path.write_text("1e6,-1e6,1\n-1e6,1e6,0\n3e5,1e6,1\n")
    assert main(["sweep", "--data", str(path), "--seeds", "20", "--epochs", "5", "--lr", "1e308", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["diverged"] == 20 and report["final_loss_quantiles"]["0.5"] is None
    assert main(["sweep", "--data", str(path), "--seeds", "20", "--epochs", "5", "--lr", "1e308"]) == 0
    assert "diverged: 20" in capsys.readouterr().out


def test_scheduler_without_dask(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    assert main(["sweep", "--seeds", "5", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "pip install 'fastbackprop[distributed]'" in capsys.readouterr().err


def test_progress_flag_resolution(monkeypatch):
    import argparse

    from fastbackprop import cli

    assert cli._progress(argparse.Namespace(progress=True)) is True
    assert cli._progress(argparse.Namespace(progress=False)) is False
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert cli._progress(argparse.Namespace(progress=None)) is True
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert cli._progress(argparse.Namespace(progress=None)) is False


@pytest.mark.parametrize(
    "encoded",
    [
        b"\xef\xbb\xbfx0,x1,y\r\n0,0,0\r\n0,1,1\r\n",  # UTF-8 with a BOM, as spreadsheets write it
        "x0,x1,y\n0,0,0\n0,1,1\n".encode("utf-16"),  # UTF-16 with a BOM
        b"\n\n  \nx0,x1,y\n0,0,0\n0,1,1\n",  # blank lines before the header
    ],
    ids=["utf-8 BOM", "utf-16", "blank lines first"],
)
def test_common_csv_forms_are_read(tmp_path, encoded):
    from fastbackprop import datasets

    path = tmp_path / "data.csv"
    path.write_bytes(encoded)
    X, y = datasets.load_csv(path)
    assert X.tolist() == [[0.0, 0.0], [0.0, 1.0]] and y.tolist() == [0.0, 1.0]


def test_csv_size_is_bounded(tmp_path, monkeypatch):
    from fastbackprop import datasets

    monkeypatch.setattr(datasets, "MAX_CSV_BYTES", 64)
    path = tmp_path / "big.csv"
    path.write_text("0,0,0\n" * 20)
    with pytest.raises(ValueError, match="larger than"):
        datasets.load_csv(path)
    with pytest.raises(ValueError, match="larger than"):
        datasets.load_csv("/dev/zero")  # endless: read up to the bound only


# ---------------------------------------------------------------------------
# Outputs checked before computing; file names kept; pipes
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--out", "{tmp}/missing/run.npz", "does not exist"),
        ("--out", "{tmp}", "is a directory"),
        ("--out", "{tmp}/new/", "ends in a path separator"),
        ("--out", "{tmp}/fifo", "exists and is not a regular file"),
        ("--plot", "{tmp}/fifo", "exists and is not a regular file"),
        ("--plot", "{tmp}/x.unknownext", "unknown figure format 'unknownext'"),
        ("--plot", "{tmp}/missing/x.png", "does not exist"),
        ("--store", "{tmp}/file.txt", "exists and is not a directory"),
        ("--store", "{tmp}/file.txt/sub", "cannot be made: '{tmp}/file.txt' is not a directory"),
        ("--out", "", "--out must name a file"),
        ("--plot", "", "--plot must name a file"),
        ("--store", "", "--store must name a folder"),
        # found only when the result was written, after the run
        ("--out", "{tmp}/" + "a" * 300 + ".npz", "cannot be written (File name too long)"),
        ("--plot", "{tmp}/" + "a" * 300 + ".png", "cannot be written (File name too long)"),
        ("--out", "{tmp}/file.txt/x.npz", "'{tmp}/file.txt' is not a directory"),
    ],
)
def test_unwritable_outputs_are_refused_before_computing(tmp_path, monkeypatch, capsys, flag, value, message):
    from fastbackprop import _kernels

    (tmp_path / "file.txt").write_text("x")
    os.mkfifo(tmp_path / "fifo")

    def never(*args):
        raise AssertionError("computed before checking the outputs")

    monkeypatch.setattr(_kernels, "training_kernels", lambda *variant: _kernels.TrainingKernels(never, never))
    args = ["sweep", "--seeds", "5", "--epochs", "2", flag, value.format(tmp=tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(tmp=tmp_path) in err, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["sweep", "--out", "{tmp}/r.png", "--plot", "{tmp}/r.png"], "--out and --plot name the same path"),
        (["sweep", "--out", "{tmp}/s", "--store", "{tmp}/s"], "--out and --store name the same path"),
        (
            ["map", "lr", "--lr", "-1", "0", "--lr-output", "-1", "0", "--out", "{tmp}/m", "--store", "{tmp}/./m"],
            "--out and --store name the same path",
        ),
        (["merge", "{tmp}/p", "{tmp}/q", "{tmp}/p"], "OUT '{tmp}/p' is also one of the parts"),
        # an input replaced by the result: it was, after the run
        (["sweep", "--params0", "{tmp}/in.npy", "--out", "{tmp}/in.npy"], "--out and --params0 name the same file"),
        (["sweep", "--data", "{tmp}/d.svg", "--plot", "{tmp}/./d.svg"], "--plot and --data name the same file"),
        (
            [
                *"map init --axes w1 w5 --extent 0 1 0 1".split(),
                "--base-params",
                "{tmp}/in.npy",
                "--out",
                "{tmp}/in.npy",
            ],
            "--out and --base-params name the same file",
        ),
    ],
)
def test_two_outputs_on_one_path_are_refused_before_computing(tmp_path, monkeypatch, capsys, args, message):
    from fastbackprop import maps, sweeps

    # where the commands look it up (patching _execution.execute alone would reach neither, and would stay
    # in the maps module that a first import during the patch made)
    for module in (sweeps, maps):
        monkeypatch.setattr(module, "execute", lambda *a, **k: pytest.fail("computed before checking the outputs"))
    starts = np.zeros((5, 9)) if "--params0" in args else np.zeros(9)
    if any("in.npy" in a for a in args):
        np.save(tmp_path / "in.npy", starts)
        os.link(tmp_path / "in.npy", tmp_path / "hard.npy")  # one file under two names
    before = sorted(tmp_path.iterdir())
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(tmp=tmp_path) in err, err
    assert sorted(tmp_path.iterdir()) == before
    if before:
        np.testing.assert_array_equal(np.load(tmp_path / "in.npy"), starts)  # untouched
        hard = list(args)
        hard[args.index("{tmp}/in.npy")] = "{tmp}/hard.npy"  # the input by its other name
        assert main([a.format(tmp=tmp_path) for a in hard]) == 2
        assert "name the same file" in capsys.readouterr().err


def test_an_output_inside_the_store_is_refused_before_computing(tmp_path, monkeypatch, capsys):
    from fastbackprop import sweeps

    store = tmp_path / "s"
    assert main(["sweep", "--seeds", "5", "--epochs", "2", "--store", str(store)]) == 0
    capsys.readouterr()
    files = sorted(p.name for p in store.iterdir())
    monkeypatch.setattr(sweeps, "execute", lambda *a, **k: pytest.fail("computed before checking the outputs"))
    for flag, path in (("--out", store / "manifest.json"), ("--out", store / "new.npz"), ("--plot", store / "f.png")):
        assert main(["sweep", "--seeds", "5", "--epochs", "2", "--store", str(store), flag, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{flag} '{path}' lies inside --store" in err, err
    assert sorted(p.name for p in store.iterdir()) == files


def test_a_figure_format_matplotlib_cannot_write_here_is_refused_before_computing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    latex = "'xelatex' not found.  Install it or change rcParams['pgf.texsystem'] to an available TeX implementation."

    def no_latex(self, fname, **kwargs):
        if kwargs.get("format") == "pgf":
            raise RuntimeError(latex + "\nmore lines")

    monkeypatch.setattr(Figure, "savefig", no_latex)  # what a machine without LaTeX does
    assert main(["sweep", "--seeds", "5", "--epochs", "2", "--plot", str(tmp_path / "f.pgf")]) == 2
    err = capsys.readouterr().err
    assert err == f"fastbackprop: error: --plot '{tmp_path}/f.pgf': matplotlib cannot write 'pgf' here ({latex})\n"


def test_a_scheduler_that_never_answers_is_one_line_after_the_timeout(monkeypatch, capsys):
    import socket

    pytest.importorskip("dask.distributed")
    from fastbackprop import cli

    with socket.socket() as server:  # accepts (the kernel's backlog) and never says a word
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setattr(cli, "SCHEDULER_TIMEOUT_S", 1)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        assert main(["sweep", "--seeds", "5", "--epochs", "2", "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--scheduler '{address}': no Dask scheduler answered within 1 s" in err, err


def test_read_only_outputs_are_refused(tmp_path, monkeypatch, capsys):
    import os

    locked = tmp_path / "ro"
    locked.mkdir()
    real_access = os.access
    # As a user without write permission there sees it (CI may run as root, who may write anywhere).
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if os.path.realpath(p) == os.path.realpath(locked) else real_access(p, mode)
    )
    for flag, value in (("--out", locked / "r.npz"), ("--plot", locked / "p.png"), ("--store", locked / "s")):
        assert main(["sweep", "--seeds", "5", "--epochs", "2", flag, str(value)]) == 2
        assert "not writable" in capsys.readouterr().err


def test_out_is_written_under_the_name_given(tmp_path, capsys):
    from fastbackprop import load_sweep

    path = tmp_path / "run.result"
    assert main(["sweep", "--seeds", "5", "--epochs", "2", "--out", str(path)]) == 0
    assert f"result written to {path}" in capsys.readouterr().err
    assert path.exists() and not (tmp_path / "run.result.npz").exists()
    assert load_sweep(path).n == 5


def test_out_through_a_symbolic_link_writes_its_file_and_keeps_the_link(tmp_path, capsys):
    from fastbackprop import datasets, load_sweep, sweep

    (tmp_path / "real.npz").write_bytes(b"")
    (tmp_path / "link.npz").symlink_to("real.npz")
    assert main(["sweep", "--seeds", "5", "--epochs", "2", "--out", str(tmp_path / "link.npz")]) == 0
    assert (tmp_path / "link.npz").is_symlink() and load_sweep(tmp_path / "real.npz").n == 5
    os.mkfifo(tmp_path / "fifo")
    res = sweep(*datasets.xor(), 2, epochs=1)
    with pytest.raises(ValueError, match="not a regular file"):  # the API refuses what the CLI refuses
        res.save(tmp_path / "fifo")
    with pytest.raises(ValueError, match="path '' is empty"):  # not a file written beside the folder
        res.save("")
    res.save(os.fsencode(tmp_path / "b.npz"))  # a bytes path, as open() takes
    assert load_sweep(tmp_path / "b.npz").n == 2 and sorted(os.listdir(tmp_path)) == [
        "b.npz",
        "fifo",
        "link.npz",
        "real.npz",
    ]


def test_a_closed_pipe_is_silent():
    """`fastbackprop grid ... | head -1`: no "Broken pipe" error, the exit status a killed writer gets."""
    # (the pure-Python pass's NumPy scalars warn about integer overflow in the seed map: not this test's matter)
    quiet = "" if JIT else "'-W', 'ignore::RuntimeWarning', "
    code = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, {quiet}'-m', 'fastbackprop', 'grid', '--lr', '0.5', '1', '2', "
        "'--epochs', '2', '4', '--seeds', '5'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "p.stdout.close()\n"
        "err = p.stderr.read().decode()\n"
        "print(p.wait(), repr(err))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.stdout.split(" ", 1) == ["141", "''\n"], res


# ---------------------------------------------------------------------------
# Training options: --lr-output, --momentum, --init, --init-scale, --activation, --margin, --params0
# ---------------------------------------------------------------------------
NEW_OPTIONS = {"lr_output": 0.3, "momentum": 0.9, "init": "uniform", "init_scale": 0.5, "activation": "tanh"}
NEW_FLAGS = ["--lr-output", "0.3", "--momentum", "0.9", "--init", "uniform", "--init-scale", "0.5"]
NEW_FLAGS += ["--activation", "tanh"]


def test_sweep_training_flags_reach_the_api(tmp_path, capsys):
    import json

    import numpy as np

    from fastbackprop import datasets, load_sweep, sweep

    epochs = 200 if JIT else 3
    out = tmp_path / "run.npz"
    args = ["sweep", "--dataset", "xor", "--seeds", "5:25", "--epochs", str(epochs), "--lr", "0.5", *NEW_FLAGS]
    assert main([*args, "--margin", "0.4", "--json", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    api = sweep(*datasets.xor(), range(5, 25), epochs=epochs, lr=0.5, margin=0.4, **NEW_OPTIONS)
    loaded = load_sweep(out)
    np.testing.assert_array_equal(loaded.params, api.params)
    np.testing.assert_array_equal(loaded.seeds, np.arange(5, 25))
    np.testing.assert_array_equal(loaded.converged, api.converged)
    assert {k: report[k] for k in NEW_OPTIONS} == NEW_OPTIONS and report["margin"] == 0.4
    assert report["converged"] == int(api.converged.sum())


def test_sweep_params0_without_seeds_labels_rows_0_to_s_minus_1(tmp_path, capsys):
    import json

    import numpy as np

    from fastbackprop import datasets, load_sweep, sweep

    starts = np.random.default_rng(7).normal(size=(5, 9))
    path = tmp_path / "starts.npy"
    np.save(path, starts)
    out = tmp_path / "run.npz"
    assert (
        main(["sweep", "--dataset", "xor", "--epochs", "20", "--params0", str(path), "--json", "--out", str(out)]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == 5 and report["params0"] == "given"
    loaded = load_sweep(out)
    assert loaded.n == 5 and loaded.seeds.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(loaded.params, sweep(*datasets.xor(), None, epochs=20, params0=starts).params)
    # --seeds of the right length relabels the rows
    assert main(["sweep", "--dataset", "xor", "--epochs", "20", "--params0", str(path), "--seeds", "10:15"]) == 0
    assert "data xor: 5 seeds" in capsys.readouterr().out


def test_grid_momentum_cells(tmp_path, capsys):
    import json

    from fastbackprop import datasets, grid

    epochs = ["50", "100"] if JIT else ["1", "3"]
    common = ["--dataset", "xor", "--seeds", "30", "--lr", "0.5", "2", "--epochs", *epochs]
    extra = ["--activation", "tanh", "--init", "uniform", "--init-scale", "0.5", "--lr-output", "0.3"]
    assert main(["grid", *common, "--momentum", "0", "0.9", *extra, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    api = grid(
        *datasets.xor(),
        30,
        lrs=[0.5, 2],
        epochs_list=[int(e) for e in epochs],
        momenta=[0, 0.9],
        activation="tanh",
        init="uniform",
        init_scale=0.5,
        lr_output=0.3,
    )
    assert report["momenta"] == [0.0, 0.9] and report["activation"] == "tanh" and report["lr_output"] == 0.3
    assert report["cells"] == api.cells() and len(report["cells"]) == 8
    assert [(c["lr"], c["momentum"]) for c in report["cells"][::2]] == [(0.5, 0.0), (0.5, 0.9), (2.0, 0.0), (2.0, 0.9)]
    assert main(["grid", *common, "--momentum", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("lr, momentum") and lines[2].startswith("0.5, 0.5") and lines[3].startswith("2, 0.5")
    pytest.importorskip("matplotlib")
    png = tmp_path / "lr_by_momentum.png"
    assert main(["grid", *common, "--momentum", "0", "0.9", "--plot", str(png)]) == 0
    assert png.stat().st_size > 1000


def test_grid_margin(capsys):
    import json

    from fastbackprop import datasets, grid

    epochs = ["20", "200"] if JIT else ["1", "3"]
    common = ["grid", "--dataset", "xor", "--seeds", "40", "--lr", "0.5", "4", "--epochs", *epochs, "--margin", "0.45"]
    assert main([*common, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    api = grid(*datasets.xor(), 40, lrs=[0.5, 4], epochs_list=[int(e) for e in epochs], margin=0.45)
    assert report["margin"] == 0.45 and report["cells"] == api.cells()
    timing = ("wall_seconds", "runs_per_second")
    assert {k: v for k, v in report.items() if k not in timing} == {
        "data": "xor",
        **{k: v for k, v in api.report().items() if k not in timing},
    }
    assert main(common) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert "margin 0.45" in head and "tol" not in head  # the margin is the criterion


def test_grid_out_writes_the_grid_for_load_grid(tmp_path, capsys):
    import json

    from fastbackprop import load_grid

    out = tmp_path / "g.npz"
    args = ["grid", "--dataset", "xor", "--seeds", "20", "--lr", "0.5", "2", "--momentum", "0", "0.9", "--epochs", "2"]
    assert main([*args, "3", "--margin", "0.4", "--json", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"result written to {out}" in captured.err
    assert load_grid(out).report() == {k: v for k, v in json.loads(captured.out).items() if k != "data"}
    assert main([*args, "--out", str(tmp_path), "--json"]) == 2  # refused before training
    assert f"--out {str(tmp_path)!r} is a directory" in capsys.readouterr().err


def test_show_reports_every_kind_of_file_and_store_as_its_loader_reads_it(tmp_path, capsys, monkeypatch):
    import json

    from fastbackprop import load_grid, load_map, load_sweep

    monkeypatch.chdir(tmp_path)
    common = ["--dataset", "xor", "--epochs", "3"]
    assert main(["sweep", *common, "--seeds", "40", "--out", "s.npz", "--store", "ss"]) == 0
    assert main(["grid", *common, "5", "--seeds", "30", "--lr", "0.5", "2", "--out", "g.npz", "--store", "gs"]) == 0
    ranges = ["--axes", "w1", "w5", "--extent", "-4", "4", "-6", "6", "--resolution", "4", "3"]
    assert main(["map", "init", *common, *ranges, "--out", "m.npz", "--store", "ms"]) == 0
    capsys.readouterr()
    readers = {"sweep": load_sweep, "grid": load_grid, "map": load_map}
    for path, kind in [("s.npz", "sweep"), ("ss", "sweep"), ("g.npz", "grid"), ("gs", "grid"), ("m.npz", "map")]:
        loaded = readers[kind](path)
        assert main(["show", path, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown == {"path": path, "result": kind, **loaded.report()} and shown["result"] == kind
        assert main(["show", path]) == 0
        assert capsys.readouterr().out == f"{kind} {path}: {loaded.summary()}\n"
    assert "wall time" in load_grid("g.npz").summary() and "wall time" not in load_grid("gs").summary()
    pytest.importorskip("matplotlib")
    for path in ("ss", "g.npz", "ms"):
        assert main(["show", path, "--plot", f"{path}.png"]) == 0
        assert (tmp_path / f"{path}.png").stat().st_size > 1000
    assert main(["show", "m.npz", "--plot", "loss.png", "--what", "final_loss"]) == 0
    assert (tmp_path / "loss.png").read_bytes() != (tmp_path / "ms.png").read_bytes()
    for argv, message in [
        (["show", "m.npz", "--what", "final_loss"], "--what chooses what --plot draws; give --plot FILE too"),
        (
            ["show", "g.npz", "--plot", "x.png", "--what", "converged"],
            "a map's --plot draws; PATH 'g.npz' holds a grid",
        ),
    ]:
        capsys.readouterr()
        assert main(argv) == 2 and message in capsys.readouterr().err


def test_show_says_how_far_a_grid_store_got_and_refuses_what_it_cannot_read(tmp_path, capsys, monkeypatch):
    import json

    from fastbackprop import _execution

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)  # 128-network chunks
    monkeypatch.setattr(_execution, "STORE_CHUNK_GROWTH", 1)
    args = ["grid", "--dataset", "xor", "--epochs", "3", "--seeds", "200", "--lr", "0.5", "2", "--store", "gs"]
    assert main(args) == 0
    os.remove(tmp_path / "gs" / "chunk-000001.npz")
    capsys.readouterr()
    assert main(["show", "gs"]) == 0
    assert capsys.readouterr().out == (
        "grid store gs: lrs [0.5, 2.0], 200 seeds per cell, lengths [3]\n272 of 400 networks finished, 128 still "
        "to train (incomplete: run the grid again with --store gs to finish it)\n"
    )
    assert main(["show", "gs", "--json"]) == 0
    status = {"path": "gs", "result": "grid", "lrs": [0.5, 2.0], "momenta": None, "epochs": [3], "seeds": 200}
    status |= {"complete": False, "networks": 400, "finished": 272}
    assert json.loads(capsys.readouterr().out) == status
    assert main(["show", "gs", "--plot", "gs.png"]) == 2  # not a silent exit 0 without its figure
    assert "networks still to train, and a grid's figure needs them all" in capsys.readouterr().err
    assert not (tmp_path / "gs.png").exists()
    (tmp_path / "t.txt").write_text("x")
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    for argv, message in [
        (["show", "missing.npz"], "no such result file or store: 'missing.npz'"),
        (["show", "t.txt"], "path 't.txt' is not a readable fastbackprop result file"),
        (["show", "other.npz"], "path 'other.npz' is not a fastbackprop result file (a sweep's, a grid's or a map's)"),
        (["show", "."], "path '.' is not a readable fastbackprop store"),
    ]:
        assert main(argv) == 2
        assert message in capsys.readouterr().err, argv
    pytest.importorskip("matplotlib")
    assert main(["show", "t.txt", "--plot", "t.txt.png"]) == 2
    assert "is not a readable fastbackprop result file" in capsys.readouterr().err
    assert not (tmp_path / "t.txt.png").exists()
    (tmp_path / "t.png").write_text("x")
    assert main(["show", "t.png", "--plot", "t.png"]) == 2
    assert "--plot and PATH name the same file 't.png'" in capsys.readouterr().err


def test_grid_says_epochs_to_tol_is_off_as_a_sweep_does(capsys):
    import json

    common = ["grid", "--dataset", "xor", "--seeds", "8", "--lr", "0.5", "--epochs", "3", "--json"]
    assert main(common) == 0
    assert "epochs_to_tol" not in json.loads(capsys.readouterr().out)
    assert main([*common, "--no-epochs-to-tol"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_to_tol"] is False
    assert main(["sweep", *common[1:5], "--epochs", "3", "--json", "--no-epochs-to-tol"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_to_tol"] is False
    assert main(["sweep", *common[1:5], "--epochs", "3", "--no-epochs-to-tol"]) == 0
    assert "epochs to tol: not tracked (--no-epochs-to-tol)\n" in capsys.readouterr().out  # its flag, not Python's


def test_grid_params0(tmp_path, capsys):
    import json

    import numpy as np

    from fastbackprop import datasets, grid

    path = tmp_path / "starts.npy"
    starts = np.random.default_rng(3).normal(size=(4, 9))
    np.save(path, starts)
    epochs = ["30", "300"] if JIT else ["2", "3"]
    store = tmp_path / "g"
    args = ["grid", "--dataset", "xor", "--lr", "0.5", "2", "--epochs", *epochs, "--params0", str(path)]
    assert main([*args, "--json", "--store", str(store)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == 4 and report["params0"] == "given" and report["cells"][0]["n"] == 4
    # each row trained from its own start (statistics alone passed a permutation of them): the store the
    # command wrote is this grid's, row for row, so resuming it trains nothing and gives its rows
    want = grid(*datasets.xor(), None, lrs=[0.5, 2.0], epochs_list=[int(e) for e in epochs], params0=starts)
    stored = grid(
        *datasets.xor(), None, lrs=[0.5, 2.0], epochs_list=[int(e) for e in epochs], params0=starts, store=store
    )
    np.testing.assert_array_equal(stored.loss, want.loss)


def test_train_tanh_momentum_prints_the_log(capsys):
    from fastbackprop import Network, datasets

    epochs = 200 if JIT else 4
    args = ["train", "--dataset", "xor", "--epochs", str(epochs), "--lr", "0.1", "--log-every", str(epochs // 2)]
    assert main([*args, "--activation", "tanh", "--momentum", "0.5"]) == 0
    out = capsys.readouterr().out
    losses = _losses(out)
    assert sorted(losses) == [0, epochs // 2, epochs] and "x = (1, 1)" in out
    net = Network(seed=2, activation="tanh")
    history = net.train(*datasets.xor(), epochs=epochs, lr=0.1, momentum=0.5)
    assert losses[epochs] == float(f"{history[-1]:.4f}")
    # all the training flags, against the API
    assert main([*args, *NEW_FLAGS]) == 0
    losses = _losses(capsys.readouterr().out)
    net = Network(seed=2, init="uniform", init_scale=0.5, activation="tanh")
    history = net.train(*datasets.xor(), epochs=epochs, lr=0.1, lr_output=0.3, momentum=0.9)
    assert losses[epochs] == float(f"{history[-1]:.4f}")


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--momentum", "1.0"], "--momentum must lie in [0, 1), got 1.0"),
        (["train", "--init-scale", "-1"], "--init-scale must be finite and > 0, got -1.0"),
        (["train", "--lr-output", "0"], "--lr-output must be finite and > 0"),
        (["train", "--activation", "relu"], "argument --activation: invalid choice: 'relu'"),
        (["train", "--init", "cauchy"], "argument --init: invalid choice: 'cauchy'"),
        (["train", "--margin", "0.4"], "unrecognized arguments: --margin"),
        (["sweep", "--momentum", "1.0"], "--momentum must lie in [0, 1), got 1.0"),
        (["sweep", "--momentum", "nan"], "--momentum must lie in [0, 1)"),
        (["sweep", "--momentum", "x"], "argument --momentum: invalid float value"),
        (["sweep", "--init-scale", "-1"], "--init-scale must be finite and > 0, got -1.0"),
        (["sweep", "--init-scale", "inf"], "--init-scale must be finite and > 0"),
        (["sweep", "--margin", "0"], "--margin must be finite and > 0, got 0.0"),
        (["sweep", "--lr-output", "-2"], "--lr-output must be finite and > 0"),
        (["sweep", "--activation", "relu"], "argument --activation: invalid choice: 'relu'"),
        (["grid", "--lr", "0.5", "--epochs", "2", "--momentum", "0.5", "1.0"], "--momentum must lie in [0, 1)"),
        (["grid", "--lr", "0.5", "--epochs", "2", "--momentum"], "argument --momentum: expected at least one"),
        (["grid", "--lr", "0.5", "--epochs", "2", "--init-scale", "0"], "--init-scale must be finite and > 0"),
        (["grid", "--lr", "0.5", "--epochs", "2", "--margin", "0"], "--margin must be finite and > 0"),
        # the API's names spelled as the flags are: named as flags too
        (["sweep", "--seeds", "3", "--lr", "0"], "error: --lr must be finite and > 0, got 0.0"),
        (["sweep", "--seeds", "3", "--epochs", "-1"], "error: --epochs must be >= 0, got -1"),
        (["sweep", "--seeds", "3", "--tol", "0"], "error: --tol must be finite and > 0, got 0.0"),
        (["sweep", "--seeds", "3", "--threads", "0"], "error: --threads must be >= 1, got 0"),
        (["train", "--seed", "-1"], "error: --seed must be >= 0, got -1"),
        (["map", "init", "--axes", "w1", "w1", "--extent", "-1", "1", "-1", "1"], "error: --axes must name two"),
        (["map", "init", "--axes", "w1", "w9", "--extent", "-1", "1", "-1", "1"], "error: --axes holds an unknown"),
        (
            ["map", "init", "--axes", "w1", "w5", "--extent", "-1", "1", "-1", "1", "--resolution", "0", "3"],
            "error: --resolution must",
        ),
        # data for tanh units given to sigmoid ones: which units take them
        (
            ["sweep", "--seeds", "3", "--dataset", "xor-bipolar"],
            "got -0.9 in y; tanh units (--activation tanh) take targets in [-1, 1]",
        ),
    ],
)
def test_bad_training_options_one_line_exit_2(args, message, capsys):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err, err


@pytest.mark.parametrize(
    "content, extra, message",
    [
        ("wrong shape", [], "expected an (S, 9) array with S >= 1, got shape (5, 8)"),
        ("empty rows", [], "expected an (S, 9) array with S >= 1, got shape (0, 9)"),
        ("missing", [], "no such file"),
        ("text", [], "not a .npy file"),
        ("npz", [], "an .npz archive"),
        ("damaged zip", [], "cannot read it"),
        ("strings", [], "expected real numbers"),
        ("nan", [], "values must be finite"),
        ("ok", ["--seeds", "3"], "--params0 holds 5 rows (one per network) but --seeds holds 3"),
        ("ok", ["--init", "uniform"], "params0 gives the starting points; init options contradict it"),
    ],
)
@pytest.mark.parametrize("cmd", ["sweep", "grid"])
def test_bad_params0_one_line_exit_2(tmp_path, capsys, cmd, content, extra, message):
    import numpy as np

    path = tmp_path / "starts.npy"
    if content == "wrong shape":
        np.save(path, np.zeros((5, 8)))
    elif content == "empty rows":
        np.save(path, np.zeros((0, 9)))
    elif content == "text":
        path.write_text("0 0 0 0 0 0 0 0 0\n")
    elif content == "npz":
        with open(path, "wb") as f:
            np.savez(f, a=np.zeros((5, 9)))
    elif content == "damaged zip":
        path.write_bytes(b"PK\x03\x04garbagegarbage")
    elif content == "strings":
        np.save(path, np.full((5, 9), "a"))
    elif content == "nan":
        np.save(path, np.full((5, 9), np.nan))
    elif content == "ok":
        np.save(path, np.zeros((5, 9)))
    args = [cmd, "--epochs", "2", "--params0", str(path), *extra]
    if cmd == "grid":
        args += ["--lr", "0.5"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err, err
    if content != "ok":  # the CLI's own checks name the flag and the file
        assert f"--params0 {str(path)!r}" in err


@pytest.mark.parametrize(
    "content, message",
    [
        (np.zeros(8), "expected an (9,) array, got shape (8,)"),
        (b"0 0 0 0 0 0 0 0 0\n", "not a .npy file"),
        (b"PK\x03\x04garbagegarbage", "cannot read it"),
        (np.full(9, np.nan), "values must be finite"),
    ],
)
def test_bad_base_params_one_line_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "base.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    args = ["map", "init", "--axes", "w1", "w2", "--extent", "-1", "1", "-1", "1", "--base-params", str(path)]
    assert main([*args, "--resolution", "2", "2", "--epochs", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith(f"fastbackprop: error: --base-params {str(path)!r}: {message}"), err


def test_bad_new_option_in_a_subprocess_has_no_traceback(tmp_path):
    res = run("sweep", "--params0", str(tmp_path / "missing.npy"))
    assert res.returncode == 2 and res.stdout == "" and "Traceback" not in res.stderr
    assert res.stderr == f"fastbackprop: error: --params0 {str(tmp_path / 'missing.npy')!r}: no such file\n"


def test_help_shows_the_training_options(capsys):
    assert main(["sweep", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--lr-output", "--momentum", "--init", "--init-scale", "--activation", "--margin", "--params0"):
        assert flag in out
    assert "[-1, 1]" in out and "--dataset xor-bipolar --activation tanh --lr 0.1 --momentum 0.9" in out


def test_a_figure_cut_short_leaves_the_old_one(tmp_path):
    from fastbackprop import cli

    class Figure:  # savefig interrupted halfway through
        def savefig(self, f, **kw):
            assert kw["format"] == "png"
            f.write(b"half a figure")
            raise KeyboardInterrupt

    path = tmp_path / "p.png"
    path.write_bytes(b"the figure of the last run")
    with pytest.raises(KeyboardInterrupt):
        cli._save_figure(Figure(), str(path))
    assert path.read_bytes() == b"the figure of the last run" and os.listdir(tmp_path) == ["p.png"]


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "--data must name a CSV file, got ''"),  # was ignored: the run trained on the gender data
        ("{tmp}/missing.csv", "--data '{tmp}/missing.csv': No such file or directory"),
        ("{tmp}", "--data '{tmp}': Is a directory"),
    ],
)
def test_a_data_file_that_cannot_be_read_is_named_by_its_flag(tmp_path, capsys, value, message):
    assert main(["sweep", "--seeds", "3", "--epochs", "2", "--data", value.format(tmp=tmp_path)]) == 2
    assert capsys.readouterr().err == f"fastbackprop: error: {message.format(tmp=tmp_path)}\n"


def test_train_plot_is_checked_before_training(tmp_path, monkeypatch, capsys):
    """An epoch-0 run or data matplotlib cannot draw failed after the run and its log."""
    from fastbackprop import Network

    monkeypatch.setattr(Network, "train", lambda *a, **k: pytest.fail("trained before checking --plot"))
    (tmp_path / "huge.csv").write_text("1e300,0,1\n0,0,0\n")
    for args, message in (
        (["--epochs", "0"], "--plot draws the loss of each epoch: --epochs 0 trains none"),
        (["--data", str(tmp_path / "huge.csv")], "--plot: X must lie within ±1e250 to be drawn, got 1e+300"),
    ):
        assert main(["train", *args, "--plot", str(tmp_path / "t.png")]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err == f"fastbackprop: error: {message}\n"
    assert not (tmp_path / "t.png").exists()


def test_train_keeps_only_the_losses_it_logs(monkeypatch, capsys):
    """`train --epochs 1000000000` kept 8 GB of losses to print ten of them (or was refused, naming history=False)."""
    from fastbackprop import _validation

    epochs = 10**5 if JIT else 50
    every = epochs // 10 - 1
    args = ["train", "--epochs", str(epochs), "--log-every", str(every), "--momentum", "0.5"]
    assert main(args) == 0
    full = capsys.readouterr().out
    monkeypatch.setattr(_validation, "_SMALL", 0)
    monkeypatch.setattr(_validation, "available_memory", lambda: 200)  # 8 bytes a logged loss fit, a history not
    assert main(args) == 0
    assert capsys.readouterr().out == full  # epochs 0, k, 2k, ... and the last
    assert len(_losses(full)) == 1 + epochs // every + 1 and epochs % every
    assert main([*args, "--plot", "never.png"]) == 2
    err = capsys.readouterr().err
    assert "--epochs: the loss of each of" in err and "; without --plot only the losses logged are kept" in err


def test_what_without_plot_is_refused(capsys):
    args = [
        "map",
        "init",
        "--axes",
        "w1",
        "w5",
        "--extent",
        "0",
        "1",
        "0",
        "1",
        "--epochs",
        "2",
        "--what",
        "final_loss",
    ]
    assert main(args) == 2
    assert "--what chooses what --plot draws; give --plot FILE too" in capsys.readouterr().err


def test_map_summary_counts_the_diverged(capsys):
    args = ["map", "init", "--dataset", "xor", "--axes", "w1", "w5", "--extent", "0", "1", "0", "1", "--epochs", "5"]
    args += ["--resolution", "4", "4"]
    assert main([*args, "--lr", "1e308"]) == 0
    assert "; diverged: 16" in capsys.readouterr().out  # as --json's "diverged" and sweep's summary


@pytest.mark.parametrize(
    "env, cpu",
    [
        ({}, None),  # this CPU
        ({"NUMBA_CPU_NAME": "generic"}, "generic"),  # no features: no FMA, no SIMD beyond SSE2
        ({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "+avx2,+fma,-avx"}, "haswell"),  # -avx takes FMA along
        ({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}, "haswell"),  # its own features: AVX2 and FMA
        ({"NUMBA_ENABLE_AVX": "0"}, None),  # Numba drops this CPU's avx* features (FMA brings AVX back)
    ],
)
@pytest.mark.skipif(not JIT, reason="reads the code Numba compiles")
def test_info_says_what_the_kernels_target_has_as_numba_compiles_them(env, cpu):
    """``info``'s fma and vector width against the code Numba makes for the package's own FMA."""
    import json
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64") and env:
        pytest.skip("the CPU names and features are x86's")
    script = """if True:
        import json, re, sys
        import numba
        from fastbackprop import _kernels
        from fastbackprop._info import info

        @numba.njit
        def f(a, b, c):
            return _kernels._fma(a, b, c)

        f(1.0, 2.0, 3.0)
        asm = f.inspect_asm(f.signatures[0])
        print(json.dumps([info(), re.search(r"(?<![\\w.])fma(?!\\w)", asm) is None]))
    """
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **env})
    assert res.returncode == 0, res.stderr
    report, kernel_fma = json.loads(res.stdout)
    assert report["fma"] is kernel_fma and report["cpu"] == (cpu or report["cpu"])
    if cpu == "generic":
        assert not kernel_fma and report["vector_bits"] == 128
    if "NUMBA_CPU_FEATURES" in env:
        own = env["NUMBA_CPU_FEATURES"] == ""  # haswell's own: AVX2 and FMA
        assert kernel_fma is own and report["vector_bits"] == (256 if own else 128)
    if "NUMBA_ENABLE_AVX" in env:
        assert report["vector_bits"] <= 256  # no AVX-512
    text = subprocess.run(
        [sys.executable, "-m", "fastbackprop", "info"], capture_output=True, text=True, env={**os.environ, **env}
    ).stdout
    no_fma = "fma: no: each FMA of the kernels is a library call, a sweep 20-35x slower (the same bits)\n"
    assert ("fma: yes\n" in text) is kernel_fma and (no_fma in text) is not kernel_fma


def test_an_interruption_says_chunks_are_kept_only_where_there_are_some(tmp_path, capsys):
    import argparse

    from fastbackprop.cli import _report_interrupt

    store = tmp_path / "s"
    store.mkdir()  # made, then interrupted before its first chunk
    assert _report_interrupt(argparse.Namespace(store=str(store))) == 130
    assert capsys.readouterr().err == "fastbackprop: interrupted\n"
    (store / "chunk-000000.npz").write_bytes(b"")
    assert _report_interrupt(argparse.Namespace(store=str(store))) == 130
    assert capsys.readouterr().err == f"fastbackprop: interrupted; finished chunks are kept in {store}\n"
    assert _report_interrupt(None) == 130 and capsys.readouterr().err == "fastbackprop: interrupted\n"
