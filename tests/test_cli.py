"""The command line: in-process through ``main`` and, as a user runs it, in a subprocess."""

import subprocess
import sys

import pytest

from fastbackprop.cli import main

from .conftest import JIT


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "fastbackprop", *args], capture_output=True, text=True, timeout=600
    )


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
    res = subprocess.run(["fastbackprop", "train", "--epochs", "10"], capture_output=True, text=True)
    assert res.returncode == 0 and "Epoch 10:" in res.stdout


def test_bad_option_in_a_subprocess_is_one_line_without_traceback():
    res = run("train", "--lr", "-1")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == "fastbackprop: error: lr must be finite and > 0, got -1.0\n"


def test_options(capsys):
    epochs = "700" if JIT else "7"
    assert main(["train", "--dataset", "xor", "--seed", "3", "--epochs", epochs, "--lr", "0.5", "--log-every", "3"]) == 0
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
    assert "--log-every" in out and "example:" in out


def test_gender_queries_in_process(capsys):
    assert main(["train", "--epochs", "30" if JIT else "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("Emily: ") and out[-1].startswith("Frank: ")


def test_python_dash_m_entry_point(monkeypatch, capsys):
    import runpy

    monkeypatch.setattr(sys, "argv", ["fastbackprop", "train", "--epochs", "2"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("fastbackprop", run_name="__main__")
    assert exc.value.code == 0
    assert "Epoch 2:" in capsys.readouterr().out
