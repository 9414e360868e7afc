"""grid(): one run per seed and learning rate, all cells in one sweep, every shorter length read from its history."""

import dataclasses

import numpy as np
import pytest

from fastbackprop import GridResult, datasets, grid, load_grid, load_sweep, sweep
from fastbackprop._validation import MAX_LENGTHS, check_training

from .conftest import JIT

XOR = datasets.xor()
EPOCHS = [500, 1000, 3000] if JIT else [1, 2, 3]
N = 300 if JIT else 130


def test_cells_equal_separate_sweeps_bit_for_bit():
    g = grid(*XOR, N, lrs=[0.5, 2.0], epochs_list=[*EPOCHS[::-1], EPOCHS[0]])
    np.testing.assert_array_equal(g.epochs, EPOCHS)  # sorted, de-duplicated
    assert g.loss.shape == (2, 3, N) and g.successes.shape == (2, 3)
    for i, lr in enumerate(g.lrs):
        for j, ep in enumerate(g.epochs):
            s = sweep(*XOR, N, epochs=int(ep), lr=lr)
            np.testing.assert_array_equal(g.loss[i, j], s.final_loss)
            assert g.successes[i, j] == s.converged.sum()
        np.testing.assert_array_equal(g.epochs_to_tol[i], s.epochs_to_tol)


# In the pure-Python (coverage) pass only the first: the others run the same lines.
_COMPILED_ONLY = pytest.mark.skipif(not JIT, reason="the same lines as float64 without options")


@pytest.mark.parametrize(
    "dtype, options",
    [
        ("float64", {}),
        pytest.param("float32", {}, marks=_COMPILED_ONLY),
        pytest.param("float64", dict(activation="tanh", momenta=[0.0, 0.9], lr_output=0.3), marks=_COMPILED_ONLY),
    ],
)
def test_margin_cells_equal_separate_sweeps_bit_for_bit(dtype, options):
    """With a margin, cell (lr, [momentum,] E) counts the rows of ``sweep(..., epochs=E, margin=...)``
    that converged: every sample's error below the margin after E epochs, recorded on the way."""
    # compiled: XOR for thousands of epochs; in pure Python AND, which a few epochs decide
    (X, y), lrs, margin = (XOR, [0.5, 2.0], 0.4) if JIT else (datasets.load("and"), [2.0, 4.0], 0.49)
    X, y = (X, y) if "activation" not in options else (2 * X - 1, 2 * y - 1)
    momenta = options.get("momenta", [0.0])
    g = grid(X, y, N, lrs=lrs, epochs_list=EPOCHS, margin=margin, dtype=dtype, **options)
    shape = (2, *([2] if "momenta" in options else []), 3)
    assert g.margin == margin and g.within_margin.shape == (*shape, N) and g.within_margin.dtype == np.bool_
    for i, lr in enumerate(g.lrs):
        for k, m in enumerate(momenta):
            at = (i, k) if "momenta" in options else (i,)
            for j, ep in enumerate(g.epochs):
                kw = {n: v for n, v in options.items() if n != "momenta"}
                s = sweep(X, y, N, epochs=int(ep), lr=lr, momentum=m, margin=margin, dtype=dtype, **kw)
                np.testing.assert_array_equal(g.within_margin[at][j], s.converged)
                np.testing.assert_array_equal(g.loss[at][j], s.final_loss)
            np.testing.assert_array_equal(g.epochs_to_tol[at], s.epochs_to_tol)
    assert ((g.successes > 0) & (g.successes < N)).any(), g.successes  # the criterion decides something
    # the loss alone would count other cells: the margin, not tol, is the criterion
    assert not np.array_equal(g.successes, np.count_nonzero(g.loss < g.tol, axis=-1))
    assert f"margin={margin}" in repr(g) and grid(*XOR, 4, lrs=[0.5], epochs_list=[1]).within_margin is None
    with pytest.raises(ValueError, match="within_margin must be given with a margin, and only then"):
        dataclasses.replace(g, within_margin=None)


def test_statistics_on_a_constructed_grid():
    """Counts, rates and intervals of a grid built by hand, against hand counts and
    statsmodels' Wilson intervals (proportion_confint(method="wilson"))."""
    loss = np.array(
        [
            [
                [0.001, 0.5, 0.009, 0.2, 0.0099, 0.3, 0.7, 0.011],  # lr 0.5, 10 epochs: 3 of 8
                [0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001],
            ]
        ]
    )  # 20 epochs: 8 of 8
    g = GridResult(
        lrs=np.array([0.5]),
        epochs=np.array([10, 20]),
        seeds=np.arange(8),
        loss=loss,
        epochs_to_tol=np.full((1, 8), -1),
        X=np.zeros((4, 2)),
        y=np.zeros(4),
        tol=0.01,
        dtype="float64",
    )
    assert g.successes.tolist() == [[3, 8]] and g.success_rate.tolist() == [[0.375, 1.0]]
    np.testing.assert_allclose(g.success_ci95[0, 0], [0.136844286, 0.694257605], atol=1e-9)
    assert g.success_ci95[0, 1, 1] == 1.0 and g.success_ci95[0, 1, 0] == pytest.approx(0.675592435, abs=1e-9)
    assert [c["successes"] for c in g.cells()] == [3, 8]
    assert not g.diverged.any() and g.diverged.shape == (1, 8)  # made without it: from the final losses
    nan = dataclasses.replace(g, loss=np.where(np.arange(8) == 2, np.nan, loss), diverged=None)
    assert nan.diverged.tolist() == [[False, False, True, *[False] * 5]]


def test_report_summary_diverged_and_computed(tmp_path):
    import json
    import warnings

    lrs, momenta = [0.5, 1e308], [0.0, 0.9]
    kw = dict(lrs=lrs, epochs_list=EPOCHS, momenta=momenta, init_scale=0.5, store=tmp_path / "g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the pure-Python coverage run's NumPy scalars warn of the overflow)
        g = grid(*XOR, N, **kw)
        again = grid(*XOR, N, **kw)  # read from the store
    report = json.loads(json.dumps(g.report(), allow_nan=False))
    assert report == {
        "seeds": N,
        "complete": True,
        "dtype": "float64",
        "tol": 0.01,
        "init_scale": 0.5,
        "lrs": lrs,
        "momenta": momenta,
        "epochs": EPOCHS,
        "cells": g.cells(),
        "diverged": [[0, 0], [N, N]],  # every network at lr 1e308 overflows; none at 0.5
        "wall_seconds": g.wall_seconds,
        "computed": 4 * N,
        "runs_per_second": 4 * N / g.wall_seconds,
    }
    assert g.diverged.shape == (2, 2, N) and g.diverged[1].all() and not g.diverged[0].any()
    assert again.computed == 0 and again.report()["runs_per_second"] is None
    np.testing.assert_array_equal(again.diverged, g.diverged)
    assert f"diverged by epoch {EPOCHS[-1]}: {N} at lr 1e+308, momentum 0; {N} at lr 1e+308, momentum 0.9" in (
        g.summary()
    )
    assert g.summary().startswith(f"{N} seeds per cell, float64, tol 0.01, init scale 0.5; success rate")
    assert f"{4 * N} networks trained (" in g.summary() and g.table() in g.summary()
    assert f": 0 networks trained, {4 * N} read from the store" in again.summary()
    plain = grid(*XOR, 4, lrs=[0.5], epochs_list=[1], params0=np.zeros((4, 9)), epochs_to_tol=False, margin=0.4)
    options = {k: plain.report()[k] for k in ("margin", "params0", "epochs_to_tol")}
    assert options == {"margin": 0.4, "params0": "given", "epochs_to_tol": False} and "diverged" not in plain.summary()
    assert "tol" not in plain.summary().splitlines()[0] and "explicit starts" in plain.summary()


def test_statistics_table_and_cells():
    g = grid(*XOR, N, lrs=[0.5, 1.0], epochs_list=EPOCHS, dtype="float32", tol=0.05)
    assert g.loss.dtype == np.float32
    assert g.success_rate.shape == (2, 3) and np.all((0 <= g.success_rate) & (g.success_rate <= 1))
    ci = g.success_ci95
    assert ci.shape == (2, 3, 2) and np.all(ci[..., 0] <= g.success_rate) and np.all(g.success_rate <= ci[..., 1])
    cells = g.cells()
    assert len(cells) == 6 and cells[0]["lr"] == 0.5 and cells[0]["epochs"] == EPOCHS[0]
    assert set(cells[0]) == {"lr", "epochs", "successes", "n", "success_rate", "success_ci95"}
    text = g.table()
    assert text.splitlines()[0].split()[-1] == str(EPOCHS[-1]) and len(text.splitlines()) == 3
    assert "GridResult(n=" in repr(g)


def test_to_frame():
    pd = pytest.importorskip("pandas")
    g = grid(*XOR, N, lrs=[0.5, 1.0], epochs_list=EPOCHS)
    df = g.to_frame()
    assert isinstance(df, pd.DataFrame) and len(df) == 6
    assert list(df.columns) == ["lr", "epochs", "successes", "n", "success_rate", "ci_lo", "ci_hi"]
    assert df["successes"].tolist() == g.successes.ravel().tolist()


def test_to_frame_without_pandas(monkeypatch):
    import sys

    g = grid(*XOR, 10, lrs=[0.5], epochs_list=[2])
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="needs pandas"):
        g.to_frame()


def test_list_arguments_may_be_iterators():
    lists = grid(*XOR, 5, lrs=[0.5, 1.0], epochs_list=[2, 3], momenta=[0.0, 0.5])
    read_once = grid(
        *XOR, 5, lrs=(lr for lr in (0.5, 1.0)), epochs_list=iter([2, 3]), momenta=map(float, "0 .5".split())
    )
    for f in ("lrs", "epochs", "momenta", "loss", "epochs_to_tol"):
        np.testing.assert_array_equal(getattr(read_once, f), getattr(lists, f), err_msg=f)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(lrs=[]), ValueError, "lrs must be a non-empty 1-d sequence"),
        (dict(lrs=0.5), ValueError, "lrs must be a non-empty 1-d sequence"),
        (dict(lrs={0.5, 1.0}), TypeError, "lrs must be an ordered sequence"),  # which row is which?
        (dict(momenta=frozenset([0.0])), TypeError, "momenta must be an ordered sequence"),
        (dict(lrs=[0.5, -1]), ValueError, "lrs must be finite and > 0, got -1.0"),
        (dict(lrs=[0.5, "a"]), TypeError, "lrs must be a real number"),
        (dict(epochs_list=[]), ValueError, "epochs_list must be a non-empty 1-d sequence"),
        (dict(epochs_list=[10, 0]), ValueError, "epochs_list must be >= 1, got 0"),
        (dict(epochs_list=[1.5]), TypeError, "epochs_list must be an int"),
        (dict(epochs_list=[[1, 2]]), ValueError, "epochs_list must be a non-empty 1-d sequence"),
        (dict(seeds=-1), ValueError, "seeds must be >= 1"),
        (dict(tol=-1.0), ValueError, "tol must be finite and > 0"),
        (dict(dtype="int8"), ValueError, "dtype must be"),
        (dict(lrs=[0.5, 1e-50], dtype="float32"), ValueError, r"^lrs=1e-50 is outside what float32 holds"),
        (dict(lrs=[1e39], dtype="float32"), ValueError, r"^lrs=1e\+39 is outside what float32 holds"),
        (dict(momenta=[0.0, 0.99999999], dtype="float32"), ValueError, r"^momenta must stay below 1 in float32"),
        (dict(momenta=[1e-50], dtype="float32"), ValueError, r"^momenta=1e-50 is outside what float32 holds"),
    ],
)
def test_validation(kwargs, exc, match):
    args = dict(X=XOR[0], y=XOR[1], seeds=5, lrs=[0.5], epochs_list=[2])
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        grid(**args)


def test_per_network_options_apply_to_every_cell():
    """A grid's cells are one sweep: per-seed settings are repeated for every cell, each cell is its sweep."""
    rng = np.random.default_rng(3)
    per_seed = [
        dict(params0=rng.normal(0, 1, (N, 9))),
        dict(init="uniform", init_scale=rng.uniform(0.5, 2, N), lr_output=rng.uniform(0.5, 2, N)),
    ]
    for options in per_seed:
        g = grid(*XOR, N, lrs=[0.5, 2.0], epochs_list=EPOCHS, momenta=[0.0, 0.5], **options)
        for i, lr in enumerate(g.lrs):
            for k, m in enumerate(g.momenta):
                s = sweep(*XOR, N, epochs=int(g.epochs[-1]), lr=lr, momentum=m, **options)
                np.testing.assert_array_equal(g.loss[i, k, -1], s.final_loss)
                np.testing.assert_array_equal(g.epochs_to_tol[i, k], s.epochs_to_tol)


@pytest.mark.parametrize("record_at", [(3, 2), (2, 2), (0, 2), (2, 9)])
def test_recorded_lengths_out_of_order_or_range_are_refused(record_at):
    """The kernels step through ``record_at`` once, in order, up to ``epochs``: anything else is refused."""
    with pytest.raises(ValueError, match=r"^record_at must be increasing epoch counts in \[1, 5\]"):
        check_training(epochs=5, lr=0.5, tol=0.1, dtype="float64", record_at=record_at)
    check_training(epochs=5, lr=0.5, tol=0.1, dtype="float64", record_at=(1, 5))


def test_a_grids_losses_that_overflow_are_the_one_quiet_nan():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = grid(*XOR, 20, lrs=[3e38, 0.5], epochs_list=[1, 3, 5], dtype="float32")
    canonical = np.array(np.nan, np.float32).tobytes()
    assert np.isnan(g.loss).any() and {v.tobytes() for v in g.loss[np.isnan(g.loss)]} == {canonical}


def test_a_grid_store_of_the_most_lengths_is_read_by_load_sweep(tmp_path, monkeypatch):
    from fastbackprop import load_sweep, store, sweeps

    monkeypatch.setattr(store, "MAX_LENGTHS", 50)
    monkeypatch.setattr(sweeps, "MAX_LENGTHS", 50)
    grid(*XOR, 1, lrs=[0.5], epochs_list=range(1, 51), store=tmp_path / "s")
    assert load_sweep(tmp_path / "s").n == 1


@pytest.mark.skipif(not JIT, reason="10^6 epochs: compiled code only")
def test_a_grid_of_the_most_lengths_keeps_a_store_it_reads_and_one_more_is_refused(tmp_path):
    """Grids took any number of lengths, and a store of more than its manifest may list was written, unreadable."""
    lengths = range(1, MAX_LENGTHS + 1)
    first = grid(*XOR, 1, lrs=[0.5], epochs_list=lengths, store=tmp_path / "s")
    again = grid(*XOR, 1, lrs=[0.5], epochs_list=lengths, store=tmp_path / "s")  # resumed: its manifest read back
    np.testing.assert_array_equal(again.loss, first.loss)
    with pytest.raises(ValueError, match=r"^epochs_list must hold at most 1,000,000 lengths, got 1,000,001"):
        grid(*XOR, 1, lrs=[0.5], epochs_list=range(1, MAX_LENGTHS + 2), store=tmp_path / "t")
    assert not (tmp_path / "t").exists()


# ---------------------------------------------------------------------------
# Files and stores: GridResult.save, load_grid
# ---------------------------------------------------------------------------
def _assert_identical(a, b):
    """Every field of two GridResults the same, bit for bit and of one type (timing aside)."""
    for field in dataclasses.fields(GridResult):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if field.name in ("wall_seconds", "computed"):
            continue
        assert type(x) is type(y), field.name
        if isinstance(x, np.ndarray):
            assert (x.dtype, x.shape) == (y.dtype, y.shape), field.name
            assert x.tobytes() == y.tobytes(), field.name
        else:
            assert x == y, field.name
    assert a.table() == b.table() and a.cells() == b.cells()


RNG_STARTS = np.random.default_rng(5).normal(size=(N, 9))
ROUND_TRIPS = {
    "defaults": {},
    "momenta": {"momenta": [0.0, 0.5, 0.9]},
    "margin float32": {"margin": 0.4, "dtype": "float32"},
    "untracked, lr_output per seed": {"epochs_to_tol": False, "lr_output": np.linspace(0.1, 2.0, N)},
    "params0 and one momentum": {"params0": RNG_STARTS, "momenta": [0.9]},
    "tanh uniform, scale per seed": {"activation": "tanh", "init": "uniform", "init_scale": np.linspace(0.2, 2, N)},
}


@pytest.mark.parametrize("options", list(ROUND_TRIPS))
def test_a_grid_reads_back_from_its_file_and_its_store_bit_for_bit(tmp_path, options):
    kwargs = ROUND_TRIPS[options]
    X, y = datasets.xor_bipolar() if kwargs.get("activation") == "tanh" else XOR
    g = grid(X, y, N, lrs=[0.5, 2.0, 1e3], epochs_list=EPOCHS, store=tmp_path / "s", **kwargs)
    g.save(tmp_path / "g.npz")
    from_file, from_store = load_grid(tmp_path / "g.npz"), load_grid(tmp_path / "s")
    _assert_identical(from_file, g)
    _assert_identical(from_store, g)
    assert (from_file.wall_seconds, from_file.computed) == (g.wall_seconds, g.computed)
    assert np.isnan(from_store.wall_seconds) and from_store.computed == 0
    assert from_store.summary() == g.summary().rsplit("\n", 1)[0]  # all but the timing line


def test_a_grid_store_with_networks_to_train_is_refused_until_a_rerun_finishes_it(tmp_path, monkeypatch):
    from fastbackprop import _execution

    monkeypatch.setattr(_execution, "BLOCKS_PER_CHUNK", 1)  # 128-network chunks
    monkeypatch.setattr(_execution, "STORE_CHUNK_GROWTH", 1)
    whole = grid(*XOR, N, lrs=[0.5, 2.0], epochs_list=EPOCHS, store=tmp_path / "s")
    chunks = sorted((tmp_path / "s").glob("chunk-*.npz"))
    assert len(chunks) > 1
    chunks[1].unlink()
    with pytest.raises(
        ValueError, match=rf"holds a grid with 128 of its {2 * N} networks without results \(not trained yet"
    ):
        load_grid(tmp_path / "s")
    assert load_sweep(tmp_path / "s").n == 2 * N - 128  # the finished ones
    grid(*XOR, N, lrs=[0.5, 2.0], epochs_list=EPOCHS, store=tmp_path / "s")
    _assert_identical(load_grid(tmp_path / "s"), whole)


def test_files_and_stores_of_other_kinds_name_their_reader(tmp_path):
    from fastbackprop import init_map, load_map

    g = grid(*XOR, 4, lrs=[0.5], epochs_list=[2], store=tmp_path / "gs")
    g.save(tmp_path / "g.npz")
    sweep(*XOR, 4, epochs=2, store=tmp_path / "ss").save(tmp_path / "s.npz")
    init_map(*XOR, 3, ("w1", "w5"), [(-1, 1), (-1, 1)], (2, 2), epochs=2, store=tmp_path / "ms").save(
        tmp_path / "m.npz"
    )
    for path, kind, reader in [
        ("s.npz", "sweep", "load_sweep"),
        ("ss", "sweep", "load_sweep"),
        ("m.npz", "map", "load_map"),
        ("ms", "map", "load_map"),
    ]:
        with pytest.raises(ValueError, match=rf"holds a {kind}, not a grid; read it with fastbackprop\.{reader}$"):
            load_grid(tmp_path / path)
    for path in ("g.npz", "gs"):
        with pytest.raises(ValueError, match=r"holds a grid, not a map; read it with fastbackprop\.load_grid$"):
            load_map(tmp_path / path)
    with pytest.raises(ValueError, match=r"holds a grid, not a sweep; read it with fastbackprop\.load_grid$"):
        load_sweep(tmp_path / "g.npz")
    assert load_sweep(tmp_path / "gs").n == 4  # a grid's store is a sweep of its cells' networks
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(ValueError, match=r"is not a fastbackprop grid file \(version 1\)"):
        load_grid(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="is not a readable fastbackprop grid store"):
        load_grid(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such grid file or store"):
        load_grid(tmp_path / "missing.npz")
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike"):
        load_grid(3)


def _grid_fields(g):
    return {f.name: getattr(g, f.name) for f in dataclasses.fields(g) if getattr(g, f.name) is not None}


def _nan_at(a, where):
    a = a.copy()
    a[where] = np.nan
    return a


#: Each edit of a grid file (float64, lrs [0.5, 2], 6 seeds, lengths [2, 3]; with a margin where it
#: says so) that must be refused: the fields it replaces (None: removed), from the grid.
GRID_EDITS = {
    "loss missing": lambda g: {"loss": None},
    "diverged missing": lambda g: {"diverged": None},
    "loss float16": lambda g: {"loss": g.loss.astype(np.float16)},
    "loss one seed short": lambda g: {"loss": g.loss[..., :-1]},
    "dtype unknown": lambda g: {"dtype": "int8"},
    "dtype an array": lambda g: {"dtype": np.array(["float64", "float32"])},
    "lrs negative": lambda g: {"lrs": np.array([-0.5, 2.0])},
    "lrs 2-d": lambda g: {"lrs": np.array([[0.5, 2.0]])},
    "lrs int": lambda g: {"lrs": np.array([1, 2])},
    "momenta 1": lambda g: {"momenta": np.array([1.0])},
    "momenta without their axis": lambda g: {"momenta": np.array([0.0, 0.5])},
    "epochs unsorted": lambda g: {"epochs": g.epochs[::-1].copy()},
    "epochs 0": lambda g: {"epochs": np.array([0, 3])},
    "epochs float": lambda g: {"epochs": g.epochs.astype(np.float64)},
    "seeds negative": lambda g: {"seeds": -g.seeds - 1},
    "no seeds": lambda g: {
        "seeds": g.seeds[:0],
        "loss": g.loss[..., :0],
        "diverged": g.diverged[..., :0],
        "epochs_to_tol": g.epochs_to_tol[..., :0],
        "computed": 0,
    },
    "epochs_to_tol past the longest run": lambda g: {"epochs_to_tol": np.full_like(g.epochs_to_tol, 4)},
    "epochs_to_tol 0": lambda g: {"epochs_to_tol": np.zeros_like(g.epochs_to_tol)},
    "diverged int": lambda g: {"diverged": g.diverged.astype(np.int64)},
    "within_margin without a margin": lambda g: {"within_margin": np.ones(g.loss.shape, np.bool_)},
    "margin without within_margin": lambda g: {"margin": 0.3},
    "tol NaN": lambda g: {"tol": np.nan},
    "tol an int": lambda g: {"tol": np.array(3)},
    "lr_output 0": lambda g: {"lr_output": 0.0},
    "lr_output an int": lambda g: {"lr_output": np.array(1)},
    "init_scale one seed short": lambda g: {"init_scale": np.ones(5)},
    "params0 NaN": lambda g: {"params0": np.full((6, 9), np.nan)},
    "params0 with init options": lambda g: {"params0": np.zeros((6, 9)), "init": "uniform", "init_scale": 3.0},
    "activation unknown": lambda g: {"activation": "relu"},
    "activation an array": lambda g: {"activation": np.array(["sigmoid", "tanh"])},
    "init unknown": lambda g: {"init": "zeros"},
    "computed negative": lambda g: {"computed": -1},
    "lrs empty": lambda g: {
        "lrs": g.lrs[:0],
        "loss": g.loss[:0],
        "diverged": g.diverged[:0],
        "epochs_to_tol": g.epochs_to_tol[:0],
        "computed": 0,
    },
    "computed a bool": lambda g: {"computed": True},
    "wall_seconds infinite": lambda g: {"wall_seconds": np.inf},
    "wall_seconds a string": lambda g: {"wall_seconds": "fast"},
    "y out of range": lambda g: {"y": np.array([0.0, 1.0, 1.0, 2.0])},
    "X with NaN": lambda g: {"X": np.array([[np.nan, 0.0], [0, 1], [1, 0], [1, 1]])},
    "X uint8": lambda g: {"X": g.X.astype(np.uint8)},
    "y float32": lambda g: {"y": g.y.astype(np.float32)},
    # each of these contradicts the losses, or is a setting grid refuses
    "a negative loss": lambda g: {"loss": -g.loss},
    "a NaN final loss not diverged": lambda g: {"loss": _nan_at(g.loss, (0, -1, 0))},
    "within a margin with a NaN error (margin)": lambda g: {
        "loss": _nan_at(g.loss, (0, -1, 0)),
        "diverged": np.ones_like(g.diverged),  # (diverged may hold where the loss is finite)
        "within_margin": np.ones_like(g.within_margin),
    },
    "float32 lrs that round to 0 or inf": lambda g: {
        "dtype": "float32",
        "loss": g.loss.astype(np.float32),
        "lrs": np.array([1e-60, 1e300]),
    },
    "float32 init_scale past float32's range": lambda g: {
        "dtype": "float32",
        "loss": g.loss.astype(np.float32),
        "init_scale": 1e38,
    },
}


@pytest.mark.parametrize("edit", list(GRID_EDITS))
def test_an_edited_grid_file_is_refused(tmp_path, edit):
    with_margin = {"margin": 0.45} if "(margin)" in edit else {}
    g = grid(*XOR, 6, lrs=[0.5, 2.0], epochs_list=[2, 3], **with_margin)
    fields = _grid_fields(g)
    for name, value in GRID_EDITS[edit](g).items():
        if value is None:
            del fields[name]
        else:
            fields[name] = value
    np.savez(tmp_path / "edited.npz", format="fastbackprop-grid", format_version=1, **fields)
    with pytest.raises(ValueError, match=r"is a damaged grid file: (its fields do not fit together|\w+ is missing)$"):
        load_grid(tmp_path / "edited.npz")


def test_the_unedited_grid_file_of_the_edit_tests_loads(tmp_path):
    """The edits above are refused for what they change: the same file unedited loads."""
    g = grid(*XOR, 6, lrs=[0.5, 2.0], epochs_list=[2, 3])
    np.savez(tmp_path / "unedited.npz", format="fastbackprop-grid", format_version=1, **_grid_fields(g))
    _assert_identical(load_grid(tmp_path / "unedited.npz"), g)


@pytest.mark.parametrize("version", [2, "1", np.array([1, 1]), True, 1.0, np.zeros((), dtype=[("a", "<i8")])])
def test_a_grid_file_of_another_format_version_is_refused(tmp_path, version):
    grid(*XOR, 4, lrs=[0.5], epochs_list=[2]).save(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as f:
        fields = dict(f)
    np.savez(tmp_path / "g.npz", **dict(fields, format_version=version))
    with pytest.raises(ValueError, match=r"is not a (readable )?fastbackprop grid file"):
        load_grid(tmp_path / "g.npz")


def test_a_hostile_or_truncated_grid_file_is_refused_before_allocating(tmp_path):
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(tmp_path / "hostile.npz", "w") as z:  # a few hundred bytes claiming 7 TiB
        z.writestr("loss.npy", header.getvalue())  # (the header comes with its magic string)
    grid(*XOR, 20, lrs=[0.5], epochs_list=[2]).save(tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    for name in ("hostile.npz", "truncated.npz"):
        with pytest.raises(ValueError, match="not a readable fastbackprop grid file"):
            load_grid(tmp_path / name)


@pytest.mark.parametrize(
    "edit",
    [
        {"lrs": [0.5, -1.0]},
        {"lrs": []},
        {"momenta": [1.5]},
        {"seeds": 7},
        {"seeds": True},
        {"extra": 1},
        "not a dict",
    ],
    ids=str,
)
def test_a_grid_store_with_an_edited_cell_list_is_damaged(tmp_path, edit):
    import json

    grid(*XOR, 6, lrs=[0.5, 2.0], epochs_list=[2], store=tmp_path / "s")
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    if isinstance(edit, dict):
        manifest["settings"]["grid"].update(edit)
    else:
        manifest["settings"]["grid"] = edit
    (tmp_path / "s" / "manifest.json").write_text(json.dumps(manifest))
    for read in (load_grid, load_sweep):
        with pytest.raises(ValueError, match="damaged manifest"):
            read(tmp_path / "s")


def test_a_grid_store_whose_rows_are_not_its_cells_is_damaged(tmp_path):
    """A manifest that names a grid its rows are not (written so; the chunks' digests agree with it)."""
    from fastbackprop import _execution
    from fastbackprop._validation import check_execution

    S = 5
    training = check_training(epochs=3, lr=0.5, tol=1e-2, dtype="float64", record_at=np.array([2, 3]))
    rows = dataclasses.replace(training, lr=np.repeat([2.0, 0.5], S))  # the cells in the other order
    plan = _execution.Plan(*XOR, np.tile(np.arange(S), 2), rows, grid={"lrs": [0.5, 2.0], "momenta": None, "seeds": S})
    execution = check_execution(threads=None, progress=False, store=tmp_path / "s", client=None, device="cpu")
    _execution.execute(plan, execution, lambda n: None, lambda lo, hi, r: None)
    with pytest.raises(ValueError, match="is a damaged grid store: its rows are not its grid's cells"):
        load_grid(tmp_path / "s")


def _with_member(path, name, header, data):
    """``path`` (an .npz file) with member ``name`` replaced by a raw .npy of ``header`` and ``data``."""
    import io
    import zipfile

    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist() if n != f"{name}.npy"}
    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, header)
    members[f"{name}.npy"] = raw.getvalue() + data  # (the header written with its magic string)
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


@pytest.mark.parametrize("member", ["format", "lrs", "format_version"])
def test_a_member_of_objects_or_records_is_refused_by_every_loader_naming_the_path(tmp_path, member):
    """np.load raised its own ValueError (no path) for objects, and a TypeError comparing a record."""
    from fastbackprop import load_map

    grid(*XOR, 4, lrs=[0.5], epochs_list=[2]).save(tmp_path / "g.npz")
    for header in (
        {"descr": "|O", "fortran_order": False, "shape": (2,)},
        {"descr": [("a", "<i8")], "fortran_order": False, "shape": ()},
    ):
        _with_member(tmp_path / "g.npz", member, header, bytes(16 if header["descr"] == "|O" else 8))
        for read in (load_grid, load_sweep, load_map):
            with pytest.raises(ValueError, match=rf"path '{tmp_path}/g.npz' is not a readable fastbackprop"):
                read(tmp_path / "g.npz")


def test_a_fortran_ordered_array_loads_in_c_order(tmp_path):
    g = grid(*XOR, 6, lrs=[0.5, 2.0], epochs_list=[2, 3])
    np.savez(
        tmp_path / "f.npz",
        format="fastbackprop-grid",
        format_version=1,
        **{**_grid_fields(g), "loss": np.asfortranarray(g.loss)},
    )
    loaded = load_grid(tmp_path / "f.npz")
    assert loaded.loss.flags.c_contiguous
    _assert_identical(loaded, g)


def test_a_store_of_another_kind_is_named_before_its_rows_are_read(tmp_path, monkeypatch):
    from fastbackprop import init_map, load_map, results, store

    sweep(*XOR, 4, epochs=2, store=tmp_path / "s")
    init_map(*XOR, 3, ("w1", "w5"), [(-1, 1), (-1, 1)], (2, 2), epochs=2, store=tmp_path / "m")

    def no_reading(*args, **kwargs):
        raise AssertionError("read every row first")

    monkeypatch.setattr(results, "read_store", no_reading)
    monkeypatch.setattr(store, "read_store", no_reading)
    import fastbackprop.maps as maps

    monkeypatch.setattr(maps, "read_store", no_reading)
    with pytest.raises(ValueError, match="holds a sweep, not a grid"):
        load_grid(tmp_path / "s")
    with pytest.raises(ValueError, match="holds a map, not a grid"):
        load_grid(tmp_path / "m")
    with pytest.raises(ValueError, match="holds a map, not a sweep"):
        load_sweep(tmp_path / "m")
    with pytest.raises(ValueError, match="holds a sweep, not a map"):
        load_map(tmp_path / "s")
