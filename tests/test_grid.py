"""grid(): one run per seed and learning rate, all cells in one sweep, every shorter length read from its history."""

import dataclasses

import numpy as np
import pytest

from fastbackprop import GridResult, datasets, grid, sweep
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
