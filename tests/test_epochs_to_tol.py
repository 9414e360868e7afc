"""``epochs_to_tol=False``: the same sweeps and grids, without the per-epoch search for epochs to tol.

Everything but ``epochs_to_tol`` must stay bit-identical; the search is the
only work it removes (the speed is in benchmarks/test_bench_sweep.py).
"""

import json

import numpy as np
import pytest

from fastbackprop import datasets, grid, load_sweep, merge_sweeps, sweep
from fastbackprop.cli import main

from .conftest import JIT

XOR = datasets.xor()
TANH_XOR = (2 * XOR[0] - 1, 1.8 * XOR[1] - 0.9)
EPOCHS = 400 if JIT else 3
S = 300  # three blocks, the last one partial
FIELDS = ("seeds", "params", "final_loss", "converged", "diverged")


def _same(a, b):
    for name in FIELDS:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "options",
    [
        dict(lr=0.5),
        dict(lr=np.geomspace(0.05, 5, S), momentum=0.9),
        dict(lr=0.3, activation="tanh", margin=0.2, init="uniform", init_scale=0.5),
        dict(lr=2.0, margin=0.4, lr_output=0.5),
    ],
)
def test_untracked_sweeps_are_the_tracked_sweeps_without_epochs_to_tol(options, dtype):
    data = TANH_XOR if options.get("activation") == "tanh" else XOR
    tracked = sweep(*data, S, epochs=EPOCHS, dtype=dtype, **options)
    untracked = sweep(*data, S, epochs=EPOCHS, dtype=dtype, epochs_to_tol=False, **options)
    _same(tracked, untracked)
    assert untracked.epochs_to_tol is None and tracked.epochs_to_tol is not None
    if JIT:  # the comparison means something: some converge, some do not
        assert 0 < tracked.converged.sum() < S
    assert untracked.training().epochs_to_tol is False and tracked.training().epochs_to_tol is True


def test_untracked_grids_have_the_same_cells():
    kw = dict(lrs=[0.5, 2.0], epochs_list=[EPOCHS // 4 or 1, EPOCHS], momenta=[0.0, 0.9])
    tracked = grid(*XOR, 200, **kw)
    untracked = grid(*XOR, 200, **kw, epochs_to_tol=False)
    assert untracked.loss.tobytes() == tracked.loss.tobytes()
    assert untracked.epochs_to_tol is None and tracked.epochs_to_tol.shape == (2, 2, 200)
    assert untracked.table() == tracked.table()


def test_untracked_results_round_trip_through_files_stores_and_merges(tmp_path):
    res = sweep(*XOR, S, epochs=EPOCHS, lr=0.5, epochs_to_tol=False, store=tmp_path / "s")
    res.save(tmp_path / "r.npz")
    for loaded in (load_sweep(tmp_path / "r.npz"), load_sweep(tmp_path / "s")):
        _same(res, loaded)
        assert loaded.epochs_to_tol is None
    again = sweep(*XOR, S, epochs=EPOCHS, lr=0.5, epochs_to_tol=False, store=tmp_path / "s")
    assert again.computed == 0
    _same(res, again)
    with pytest.raises(ValueError, match=r"made with epochs_to_tol=False, this run has epochs_to_tol=True"):
        sweep(*XOR, S, epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    # A default store's manifest is what it was before the option: still resumable by older stores' rules.
    sweep(*XOR, S, epochs=EPOCHS, lr=0.5, store=tmp_path / "d")
    assert "epochs_to_tol" not in json.loads((tmp_path / "d" / "manifest.json").read_text())["settings"]
    with pytest.raises(ValueError, match=r"made with epochs_to_tol=True, this run has epochs_to_tol=False"):
        sweep(*XOR, S, epochs=EPOCHS, lr=0.5, epochs_to_tol=False, store=tmp_path / "d")
    rest = sweep(*XOR, range(S, S + 50), epochs=EPOCHS, lr=0.5, epochs_to_tol=False)
    merged = merge_sweeps([rest, tmp_path / "r.npz"])
    _same(merged, sweep(*XOR, S + 50, epochs=EPOCHS, lr=0.5, epochs_to_tol=False))
    assert merged.epochs_to_tol is None and merged.complete
    with pytest.raises(ValueError, match="parts disagree on epochs_to_tol"):
        merge_sweeps([res, sweep(*XOR, range(S, S + 50), epochs=EPOCHS, lr=0.5)])


def test_untracked_reports_say_so():
    res = sweep(*XOR, 50, epochs=EPOCHS, lr=0.5, epochs_to_tol=False)
    report = json.loads(json.dumps(res.report(), allow_nan=False))
    assert report["epochs_to_tol"] is False and report["median_epochs_to_tol"] is None
    assert "epochs to tol: not tracked" in res.summary()
    assert "epochs_to_tol=False" in repr(res)
    assert "epochs_to_tol" not in sweep(*XOR, 50, epochs=EPOCHS, lr=0.5).report()


def test_bad_values_are_refused(tmp_path):
    for bad in (0, "no", None):
        with pytest.raises(TypeError, match=r"^epochs_to_tol must be a bool"):
            sweep(*XOR, 4, epochs=2, epochs_to_tol=bad, store=tmp_path / "s")
    with pytest.raises(TypeError, match=r"^epochs_to_tol must be a bool"):
        grid(*XOR, 4, lrs=[0.5], epochs_list=[2], epochs_to_tol=1)
    assert not (tmp_path / "s").exists()


def test_the_cli_flag(capsys, tmp_path):
    png = tmp_path / "s.png"
    args = ["sweep", "--dataset", "xor", "--seeds", "40", "--epochs", str(EPOCHS), "--lr", "0.5"]
    assert main([*args, "--no-epochs-to-tol", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["epochs_to_tol"] is False and report["median_epochs_to_tol"] is None
    assert main([*args, "--no-epochs-to-tol", "--plot", str(png)]) == 0
    assert "not tracked" in capsys.readouterr().out and png.stat().st_size > 0
    grid_args = ["grid", "--dataset", "xor", "--seeds", "40", "--epochs", "2", "--lr", "0.5", "--no-epochs-to-tol"]
    assert main(grid_args) == 0
