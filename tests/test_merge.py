"""Job arrays: seed ranges, merging the pieces, and the command-line conventions."""

import dataclasses
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastbackprop import Network, datasets, load_sweep, merge_sweeps, sweep
from fastbackprop._layout import W5
from fastbackprop.cli import main
from fastbackprop.merge import missing_seeds

from .conftest import JIT, SWEEP_EPOCHS

XOR = datasets.xor()
EPOCHS = SWEEP_EPOCHS // 10 if JIT else 2
N = 3000 if JIT else 300
FIELDS = ("seeds", "params", "final_loss", "epochs_to_tol", "converged", "diverged")


def _same(a, b):
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def whole():
    return sweep(*XOR, N, epochs=EPOCHS, lr=0.5)


def test_a_three_part_merge_equals_the_whole_sweep(tmp_path, whole):
    cut = [0, N // 3, 2 * N // 3 + 7, N]
    sweep(*XOR, range(cut[0], cut[1]), epochs=EPOCHS, lr=0.5).save(tmp_path / "a.npz")
    sweep(*XOR, range(cut[1], cut[2]), epochs=EPOCHS, lr=0.5, store=tmp_path / "b")  # a store
    c = sweep(*XOR, range(cut[2], cut[3]), epochs=EPOCHS, lr=0.5)  # in memory
    merged = merge_sweeps([tmp_path / "b", c, str(tmp_path / "a.npz")])  # any order
    _same(merged, whole)
    assert merged.complete and merged.epochs == whole.epochs and merged.lr == whole.lr


def test_the_cli_slices_and_merges_like_a_job_array(tmp_path, whole, capsys):
    parts = []
    for k, (lo, hi) in enumerate([(0, N // 2), (N // 2, N)]):
        parts.append(str(tmp_path / f"part-{k}"))
        args = ["sweep", "--dataset", "xor", "--seeds", f"{lo}:{hi}", "--epochs", str(EPOCHS), "--lr", "0.5"]
        assert main([*args, "--store", parts[-1]]) == 0
    capsys.readouterr()
    assert main(["merge", "--overwrite", str(tmp_path / "all.npz"), *parts, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == N and report["missing"] == [] and report["parts"] == 2 and report["complete"] is True
    assert report["runs_per_second"] is None  # a merge trains nothing
    _same(load_sweep(tmp_path / "all.npz"), whole)


def test_missing_seeds_and_partial_parts_are_reported(tmp_path, capsys):
    a = sweep(*XOR, range(0, 10), epochs=EPOCHS, lr=0.5)
    b = sweep(*XOR, range(20, 25), epochs=EPOCHS, lr=0.5)
    merged = merge_sweeps([a, b])
    assert not merged.complete and merged.n == 15
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    assert (
        main(["merge", "--overwrite", str(tmp_path / "m.npz"), str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 0
    )
    out = capsys.readouterr().out
    assert "missing seeds: 10..19" in out and "15 seeds trained, summed over the result files" in out  # not here
    assert "read from the store" not in out
    assert (
        main(
            [
                "merge",
                "--overwrite",
                str(tmp_path / "m.npz"),
                str(tmp_path / "a.npz"),
                str(tmp_path / "b.npz"),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["computed"] == 15 and report["runs_per_second"] is None  # a merge trains nothing
    assert main(["merge", "--overwrite", str(tmp_path / "one.npz"), str(tmp_path / "a.npz")]) == 0
    assert "merged 1 part: 10 seeds" in capsys.readouterr().out


def test_a_merge_of_a_store_and_a_file_does_not_count_rows_read_from_a_store(tmp_path, capsys):
    """A loaded store keeps no wall time or count of seeds trained: only the files' are summed."""
    sweep(*XOR, range(0, 100), epochs=EPOCHS, lr=0.5, store=tmp_path / "p0")
    sweep(*XOR, range(50, 150), epochs=EPOCHS, lr=0.5).save(tmp_path / "p1.npz")
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), str(tmp_path / "p0"), str(tmp_path / "p1.npz")]) == 0
    out = capsys.readouterr().out
    assert "merged 2 parts: 150 seeds" in out and "summed over" not in out  # the store's time is not known
    assert "read from the store" not in out
    assert (
        main(
            ["merge", "--overwrite", str(tmp_path / "m.npz"), str(tmp_path / "p0"), str(tmp_path / "p1.npz"), "--json"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["wall_seconds"] is None and report["computed"] is None  # not the file's time as all parts'
    assert "wall time" not in load_sweep(tmp_path / "m.npz").summary()


def test_a_partial_stores_unfinished_seeds_are_reported_missing(tmp_path, capsys):
    """Not only gaps between the seeds present: a store's seeds past its last finished chunk too."""
    store = tmp_path / "s"
    sweep(*XOR, range(5, 1030), epochs=EPOCHS, lr=0.5, threads=1, store=store)  # chunks of 1024 seeds
    (store / "chunk-000001.npz").unlink()  # seed 1029, the last
    merged = merge_sweeps([store])
    assert not merged.complete and merged.n == 1024
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), str(store)]) == 0
    assert "missing seeds: 1029" in capsys.readouterr().out
    (store / "chunk-000000.npz").unlink()  # as if interrupted before its first chunk
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), str(store), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == 0 and report["missing"] == [[5, 1030]]
    assert report["computed"] is None and report["wall_seconds"] is None  # stores keep neither (0 was said)


def test_a_partial_result_saved_to_a_file_stays_partial(tmp_path, capsys):
    store = tmp_path / "s"
    sweep(*XOR, range(5, 1030), epochs=EPOCHS, lr=np.linspace(0.1, 1, 1025), threads=1, store=store)
    (store / "chunk-000001.npz").unlink()
    load_sweep(store).save(tmp_path / "part.npz")
    assert not merge_sweeps([tmp_path / "part.npz"]).complete
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), str(tmp_path / "part.npz")]) == 0
    assert "incomplete: a part is a partial result, which does not say which seeds" in capsys.readouterr().out
    # all its seeds in another part: still unknown whether the partial one was meant for more
    whole = sweep(*XOR, range(5, 1030), epochs=EPOCHS, lr=np.linspace(0.1, 1, 1025))
    assert not merge_sweeps([tmp_path / "part.npz", whole]).complete
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), str(tmp_path / "part.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["complete"] is False and report["missing"] == []
    (store / "chunk-000000.npz").unlink()  # no rows, a setting per network
    empty = merge_sweeps([store])
    assert empty.n == 0 and not empty.complete


def test_a_seed_asked_for_twice_in_overlapping_parts_is_kept_twice():
    """A part's own duplicates are kept, and a run in two parts once: as often as one part has it."""
    a = sweep(*XOR, [0, 1, 1], epochs=EPOCHS, lr=0.5)
    b = sweep(*XOR, [1, 1, 2, 3], epochs=EPOCHS, lr=0.5)
    c = sweep(*XOR, [3, 1], epochs=EPOCHS, lr=0.5)
    for parts in ([a, b], [b, a], [a, b, c], [c, a]):
        merged = merge_sweeps(parts)
        expect = [0, 1, 1] + [2, 3] * (b in parts) + [3] * (b not in parts)
        np.testing.assert_array_equal(merged.seeds, expect)
        _same(merged, sweep(*XOR, expect, epochs=EPOCHS, lr=0.5))
    with pytest.raises(TypeError, match="parts must be a list of sweeps"):
        merge_sweeps("run.npz")


@settings(max_examples=40 if JIT else 8, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=5), min_size=1, max_size=3))
def test_each_seed_is_kept_as_often_as_the_part_listing_it_most(seed_lists):
    merged = merge_sweeps([sweep(*XOR, seeds, epochs=2, lr=0.5) for seeds in seed_lists])
    expect = sorted(s for s in set().union(*seed_lists) for _ in range(max(p.count(s) for p in seed_lists)))
    np.testing.assert_array_equal(merged.seeds, expect)
    _same(merged, sweep(*XOR, expect, epochs=2, lr=0.5))


def test_duplicates_are_kept_once_when_identical_and_refused_otherwise():
    a = sweep(*XOR, range(0, 10), epochs=EPOCHS, lr=0.5)
    b = sweep(*XOR, range(5, 15), epochs=EPOCHS, lr=0.5)
    merged = merge_sweeps([a, b])
    np.testing.assert_array_equal(merged.seeds, np.arange(15))
    forged = dataclasses.replace(b, params=b.params + 1.0)
    with pytest.raises(ValueError, match=r"seed 5 has different results in part 1 \(a SweepResult\) and part 2 "):
        merge_sweeps([a, forged])
    with pytest.raises(ValueError, match=r"part 1 \(a SweepResult\) has 2, part 2 \(a SweepResult\) has 3"):
        merge_sweeps([sweep(*XOR, 5, epochs=2), sweep(*XOR, 5, epochs=3)])


def test_runs_that_differ_in_a_signed_zero_are_two_runs_in_any_part_order():
    """+0.0 and -0.0 sort alike but are different starts: a run's copies must still meet."""
    P = Network(seed=3).params
    P[W5] = 0.0
    Q = P.copy()
    Q[W5] = -0.0
    a, b, c = (sweep(*XOR, None, epochs=EPOCHS, lr=0.5, params0=p[None]) for p in (P, Q, P))  # c repeats a
    for parts in ([a, b, c], [a, c, b], [b, a, c]):
        merged = merge_sweeps(parts)
        assert merged.n == 2
        signs = np.signbit(merged.params0[:, W5])
        assert sorted(signs) == [False, True]
        both = sweep(*XOR, None, epochs=EPOCHS, lr=0.5, params0=merged.params0)
        for name in ("params", "final_loss", "epochs_to_tol"):
            np.testing.assert_array_equal(getattr(merged, name), getattr(both, name), err_msg=name)


def test_a_merge_of_overlapping_parts_saved_loads_and_merges_again(tmp_path):
    """Its computed counts every part's runs, more than its rows: not a sign of a damaged file."""
    a = sweep(*XOR, range(0, 30), epochs=EPOCHS, lr=0.5)
    b = sweep(*XOR, range(20, 50), epochs=EPOCHS, lr=0.5)
    merged = merge_sweeps([a, b])
    assert merged.n == 50 and merged.computed == 60
    merged.save(tmp_path / "m.npz")
    again = merge_sweeps([tmp_path / "m.npz"])
    _same(again, merged)
    assert load_sweep(tmp_path / "m.npz").computed == 60


def test_a_part_without_lr_output_and_one_giving_lrs_value_merge_to_one_scalar():
    """None means "lr": both parts train the output at 0.5, which the merge says once, not per network."""
    a = sweep(*XOR, range(0, 10, 2), epochs=EPOCHS, lr=0.5)
    b = sweep(*XOR, range(1, 10, 2), epochs=EPOCHS, lr=0.5, lr_output=0.5)
    merged = merge_sweeps([a, b])
    assert merged.lr_output == 0.5 and merged.lr == 0.5
    _same(merged, sweep(*XOR, 10, epochs=EPOCHS, lr=0.5, lr_output=0.5))
    c = sweep(*XOR, range(1, 10, 2), epochs=EPOCHS, lr=1.0, lr_output=0.5)
    mixed = merge_sweeps([a, c])  # lr per network; lr_output 0.5 for all
    assert mixed.lr_output == 0.5 and mixed.lr.tolist() == [0.5, 1.0] * 5


def test_merge_out_inside_a_parts_store_is_refused(tmp_path, capsys):
    sweep(*XOR, range(0, 5), epochs=EPOCHS, lr=0.5, store=tmp_path / "st")
    sweep(*XOR, range(5, 10), epochs=EPOCHS, lr=0.5).save(tmp_path / "a.npz")
    files = sorted(p.name for p in (tmp_path / "st").iterdir())
    out = tmp_path / "st" / "manifest.json"
    assert main(["merge", "--overwrite", str(out), str(tmp_path / "a.npz"), str(tmp_path / "st")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lies inside the store" in err
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == files and load_sweep(tmp_path / "st").n == 5


def test_files_and_stores_of_other_versions_are_not_merged(tmp_path, monkeypatch, capsys):
    from fastbackprop import _execution, results

    sweep(*XOR, range(0, 5), epochs=EPOCHS, lr=0.5).save(tmp_path / "a.npz")
    sweep(*XOR, range(10, 15), epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    monkeypatch.setattr(results, "__version__", "9.9.9")
    monkeypatch.setattr(_execution, "__version__", "9.9.9")
    sweep(*XOR, range(5, 10), epochs=EPOCHS, lr=0.5).save(tmp_path / "b.npz")
    sweep(*XOR, range(15, 20), epochs=EPOCHS, lr=0.5, store=tmp_path / "t")
    monkeypatch.undo()
    for other in ("b.npz", "t"):
        for mine in ("a.npz", "s"):
            with pytest.raises(ValueError, match=f"different fastbackprop versions.*{other}' by 9.9.9"):
                merge_sweeps([tmp_path / mine, tmp_path / other])
    merged = merge_sweeps([tmp_path / "b.npz", tmp_path / "t"])  # one version, whichever: merged
    np.testing.assert_array_equal(merged.seeds, np.r_[5:10, 15:20])
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), str(tmp_path / "a.npz"), str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different fastbackprop versions" in err


@pytest.mark.parametrize(
    "other, setting",
    [
        (dict(epochs=EPOCHS + 1), "epochs"),
        (dict(dtype="float32"), "dtype"),
        (dict(activation="tanh"), "activation"),
        (dict(margin=0.3), "margin"),
        (dict(init="uniform"), "init"),
        (dict(tol=0.02), "tol"),
        (dict(y=np.array([0.0, 1.0, 1.0, 1.0])), "the training data"),
    ],
)
def test_parts_of_other_settings_are_refused_naming_the_setting(tmp_path, capsys, other, setting):
    args = dict(X=XOR[0], y=XOR[1], epochs=EPOCHS, lr=0.5)
    sweep(seeds=range(0, 5), **args).save(tmp_path / "a.npz")
    sweep(seeds=range(5, 10), **{**args, **other}).save(tmp_path / "b.npz")
    with pytest.raises(ValueError, match=f"parts disagree on {setting}"):
        merge_sweeps([tmp_path / "a.npz", tmp_path / "b.npz"])
    out = tmp_path / "m.npz"
    assert main(["merge", "--overwrite", str(out), str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"disagree on {setting}" in err and "b.npz" in err
    assert not out.exists()  # nothing written


def test_the_seeds_planned_find_a_first_or_last_task_that_never_ran(tmp_path, capsys):
    """Only gaps between the seeds present were seen: without seeds 0..99 and 300..399 the merge was complete."""
    parts = [sweep(*XOR, range(k * 100, k * 100 + 100), epochs=EPOCHS, lr=0.5) for k in (1, 2)]
    assert merge_sweeps(parts).complete  # nothing says more seeds were meant
    merged = merge_sweeps(parts, seeds=400)
    assert not merged.complete and merged.n == 200
    assert missing_seeds(merged, range(400)) == [(0, 100), (300, 400)]
    assert merge_sweeps(parts, seeds=range(100, 300)).complete
    # a partial result does not say what it was made for; the seeds planned do
    partial = dataclasses.replace(parts[0], complete=False)
    assert not merge_sweeps([partial, parts[1]]).complete
    assert merge_sweeps([partial, parts[1]], seeds=range(100, 300)).complete
    for k, part in enumerate(parts):
        part.save(tmp_path / f"p{k}.npz")
    files = [str(tmp_path / f"p{k}.npz") for k in range(2)]
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), *files, "--seeds", "0:400", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["complete"] is False and report["missing"] == [[0, 100], [300, 400]]
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), *files, "--seeds", "400"]) == 0
    assert "missing seeds: 0..99, 300..399" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"^seeds must be non-negative"):
        merge_sweeps(parts, seeds=[-1, 5])
    assert main(["merge", "--overwrite", str(tmp_path / "m.npz"), *files, "--seeds", "5:3"]) == 2
    assert "--seeds: range '5:3': START must be < STOP" in capsys.readouterr().err


def test_a_plan_of_many_seeds_is_checked_in_linear_time_and_memory(monkeypatch, capsys):
    """--seeds 10^8 of two small parts: a set difference sorted the whole range (minutes, 8 GB,
    deaf to Ctrl-C); the seeds planned outside the parts are found in one pass, or refused up front."""
    from fastbackprop import _validation

    parts = [sweep(*XOR, r, epochs=EPOCHS, lr=0.5) for r in (range(1000, 1100), range(5000, 5100), range(70, 80))]
    merged = merge_sweeps(parts, seeds=10**7)
    assert not merged.complete
    want = [(0, 70), (80, 1000), (1100, 5000), (5100, 10**7)]
    assert missing_seeds(merged, range(10**7)) == want
    # plans out of order and overlapping (a part's store and the whole sweep's) give one set of ranges
    planned = np.r_[np.arange(20, 0, -1), np.arange(5, 60), 9001, 9000]
    assert missing_seeds(merged, planned) == [(1, 60), *want[1:3], (9000, 9002)]
    monkeypatch.setattr(_validation, "available_memory", lambda: 1 << 30)  # a 1 GiB machine
    with pytest.raises(ValueError, match=r"^seeds: the 100,000,000 seeds planned would take"):
        merge_sweeps(parts, seeds=10**8)
    assert main(["merge", "--overwrite", "m.npz", "--seeds", "100000000", "whatever.npz"]) == 2
    assert "the 100,000,000 seeds planned" in capsys.readouterr().err


def test_the_gaps_of_a_plan_inside_another_are_the_larger_ones():
    from fastbackprop.merge import _gaps

    assert _gaps(np.array([50, 51]), [np.arange(100), np.arange(10, 20)]) == [(0, 50), (52, 100)]


def test_a_plan_too_large_is_refused_at_its_measured_cost_before_it_is_made(monkeypatch):
    """25 bytes a seed were measured (the plan, a mask, the copy beyond the parts, their differences)."""
    import tracemalloc

    from fastbackprop import _validation

    parts = [sweep(*XOR, 10, epochs=EPOCHS, lr=0.5)]
    monkeypatch.setattr(_validation, "available_memory", lambda: 2 << 30)  # 16 bytes a seed fit, 25 do not
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="the 100,000,000 seeds planned"):
            merge_sweeps(parts, seeds=10**8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak  # refused before the 800 MB plan was made


def test_with_a_margin_parts_may_differ_in_tol(tmp_path):
    """A margin decides convergence, so tol decides nothing: such parts were refused."""
    args = dict(X=XOR[0], y=XOR[1], epochs=EPOCHS, lr=0.5, margin=0.4)
    whole = sweep(seeds=range(10), **args, tol=0.01)
    merged = merge_sweeps([sweep(seeds=range(5), **args, tol=0.01), sweep(seeds=range(5, 10), **args, tol=0.2)])
    assert merged.tol == 0.01  # the first part's
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name), err_msg=name)


@pytest.mark.parametrize("kind", ["not a sweep file", "missing", "not a store"])
def test_a_part_that_is_not_a_sweep_is_one_line_naming_the_file(tmp_path, capsys, kind):
    good = tmp_path / "good.npz"
    sweep(*XOR, 5, epochs=EPOCHS, lr=0.5).save(good)
    bad = tmp_path / "bad.npz"
    if kind == "not a sweep file":
        np.savez(bad, a=np.arange(3))
    elif kind == "not a store":
        bad = tmp_path / "dir"
        bad.mkdir()
    out = tmp_path / "m.npz"
    assert main(["merge", "--overwrite", str(out), str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "Traceback" not in err
    assert ("no such sweep file or store" in err) == (kind == "missing")
    assert not out.exists()
    with pytest.raises(TypeError, match="parts must be SweepResults or paths"):
        merge_sweeps([3])
    with pytest.raises(ValueError, match="at least one"):
        merge_sweeps([])


@pytest.mark.parametrize(
    "value, message",
    [
        ("5:3", "START must be < STOP"),
        ("5:5", "START must be < STOP"),
        ("-1:5", "START must be >= 0"),
        (f"0:{2**63 + 1}", "fit in int64"),
        ("a:b", "give START:STOP"),
        ("1:2:3", "give START:STOP"),
        ("x", "give N or START:STOP"),
    ],
)
def test_bad_seed_ranges_are_one_line_exit_2(value, message, capsys):
    assert main(["sweep", f"--seeds={value}", "--epochs", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--seeds" in err and message in err


def test_a_seed_range_gives_the_rows_of_the_big_sweep(whole, capsys):
    assert (
        main(
            ["sweep", "--dataset", "xor", "--seeds", f"{N - 40}:{N}", "--epochs", str(EPOCHS), "--lr", "0.5", "--json"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    tail = sweep(*XOR, range(N - 40, N), epochs=EPOCHS, lr=0.5)
    _same(tail, merge_sweeps([tail]))
    np.testing.assert_array_equal(tail.params, whole.params[N - 40 :])
    assert report["seeds"] == 40


def test_version_and_info(capsys):
    from fastbackprop import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fastbackprop {__version__}"
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in (
        "fastbackprop",
        "python",
        "numpy",
        "numba",
        "llvm",
        "cpu",
        "vector_bits",
        "fma",
        "threads",
        "kernel_cache",
        "kernel_cache_warm",
        "extras",
    ):
        assert key in info, key
    assert info["vector_bits"] in (128, 256, 512) and set(info["extras"]) == {"progress", "plot", "distributed", "cuda"}
    gpu = info["gpu"]
    if not info["extras"]["cuda"]:
        assert gpu is None
    elif not gpu["usable"]:
        assert "no usable CUDA GPU" in gpu["why"] or "driver failed" in gpu["why"]
    else:
        assert gpu["name"] and re.fullmatch(r"\d+\.\d+", gpu["compute_capability"]) and gpu["numba_cuda"]
    res = subprocess.run([sys.executable, "-m", "fastbackprop", "info"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "numba:" in res.stdout and "kernel_cache_warm:" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("gpu: ")


def test_no_help_text_shows_a_doubled_percent(capsys):
    for cmd in ([], ["train"], ["sweep"], ["grid"], ["merge"], ["info"]):
        assert main([*cmd, "--help"]) == 0
        text = capsys.readouterr().out
        assert "%%" not in text and "usage:" in text


def test_a_partial_store_covered_by_another_part_merges_complete(tmp_path, whole):
    import os

    store = tmp_path / "rerun"
    sweep(*XOR, 2048, epochs=EPOCHS, lr=0.5, threads=1, store=store)  # chunks of 1024 seeds
    os.remove(store / "chunk-000001.npz")  # a preempted task's store
    assert not load_sweep(store).complete
    rerun = sweep(*XOR, range(1024, 2048), epochs=EPOCHS, lr=0.5)  # its missing seeds, run elsewhere
    merged = merge_sweeps([store, rerun])
    assert merged.complete and merged.n == 2048
    assert not merge_sweeps([store]).complete


def test_cli_errors_of_training_are_one_line(capsys):
    assert main(["train", "--lr", "1e308", "--epochs", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged" in err


def test_out_is_written_even_when_the_reader_goes_away(tmp_path):
    out = tmp_path / "o.npz"
    code = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'fastbackprop', 'sweep', '--seeds', '5', '--epochs', '2', "
        f"'--out', {str(out)!r}], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "p.stdout.close()\n"
        "err = p.stderr.read().decode()\n"
        "print(p.wait(), repr(err.splitlines()[-1:]))\n"
    )
    res = subprocess.run(
        [sys.executable, "-W", "ignore::RuntimeWarning", "-c", code], capture_output=True, text=True, timeout=300
    )
    assert res.stdout.startswith("141 ") and "Broken pipe" not in res.stdout, res
    assert load_sweep(out).n == 5


def test_info_does_not_fail_where_llvm_cannot_be_asked(monkeypatch, capsys):
    import llvmlite.binding as llvm

    from fastbackprop.cli import main

    def refuse(*args, **kwargs):
        raise RuntimeError("no target")

    monkeypatch.setattr(llvm.Target, "from_triple", refuse)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "fma: not known\n" in out and "vector_bits: None\n" in out


# ---------------------------------------------------------------------------
# Grids run in pieces
# ---------------------------------------------------------------------------
GRID_EPOCHS = [EPOCHS // 2, EPOCHS] if JIT else [1, 2]


def _grid(seeds, **options):
    from fastbackprop import grid

    return grid(*XOR, seeds, lrs=[0.5, 4.0], epochs_list=GRID_EPOCHS, **options)


def _assert_same_grid(a, b):
    from fastbackprop import GridResult

    for field in dataclasses.fields(GridResult):
        if field.name in ("wall_seconds", "computed", "complete"):  # (complete: asserted where it matters)
            continue
        x, y = getattr(a, field.name), getattr(b, field.name)
        assert type(x) is type(y), field.name
        if isinstance(x, np.ndarray):
            assert (x.dtype, x.shape, x.tobytes()) == (y.dtype, y.shape, y.tobytes()), field.name
        else:
            assert x == y, field.name


@pytest.mark.parametrize(
    "options",
    [{}, {"momenta": [0.0, 0.9], "margin": 0.4, "dtype": "float32"}, {"epochs_to_tol": False, "init": "uniform"}],
    ids=["plain", "momenta, margin, float32", "untracked, uniform"],
)
def test_a_grid_in_three_parts_merges_to_the_whole_grid_bit_for_bit(tmp_path, options):
    from fastbackprop import load_grid, merge_grids

    cut = [0, 70, 200, 300]
    whole = _grid(300, **options)
    _grid(range(cut[1], cut[2]), store=tmp_path / "b", **options)  # a finished store
    _grid(range(cut[2], cut[3]), **options).save(tmp_path / "c.npz")  # a file
    parts = [tmp_path / "c.npz", _grid(range(cut[0], cut[1]), **options), tmp_path / "b"]  # any order
    merged = merge_grids(parts)
    _assert_same_grid(merged, whole)
    assert merged.computed == 0 and np.isnan(merged.wall_seconds)  # b is a store: the whole's work is unknown
    files = merge_grids([tmp_path / "c.npz", parts[1]])
    cells = 2 * (2 if "momenta" in options else 1)
    assert files.computed == (70 + 100) * cells and files.wall_seconds > 0  # every part's, summed
    merged.save(tmp_path / "m.npz")
    _assert_same_grid(load_grid(tmp_path / "m.npz"), whole)


def test_per_seed_settings_that_differ_between_grid_parts_become_one_value_per_seed():
    from fastbackprop import merge_grids

    scales = np.r_[np.full(40, 0.5), np.linspace(0.2, 2, 60)]
    whole = _grid(100, init_scale=scales, lr_output=1.5)
    merged = merge_grids(
        [_grid(range(40), init_scale=0.5, lr_output=1.5), _grid(range(40, 100), init_scale=scales[40:], lr_output=1.5)]
    )
    _assert_same_grid(merged, whole)
    assert merged.lr_output == 1.5  # the same in every part: one value
    starts = np.random.default_rng(2).normal(size=(30, 9))
    merged = merge_grids([_grid(range(10), params0=starts[:10]), _grid(range(10, 30), params0=starts[10:])])
    _assert_same_grid(merged, _grid(30, params0=starts))
    # parts out of seed order (a shell's glob puts part-10 before part-2): each seed keeps its own settings
    merged = merge_grids(
        [_grid(range(40, 100), init_scale=scales[40:], lr_output=1.5), _grid(range(40), init_scale=0.5, lr_output=1.5)]
    )
    _assert_same_grid(merged, whole)
    merged = merge_grids([_grid([22, 3, 17], params0=starts[[22, 3, 17]]), _grid(range(10, 15), params0=starts[10:15])])
    assert not merged.complete  # 4 .. 9 and others are missing
    _assert_same_grid(merged, _grid([3, 10, 11, 12, 13, 14, 17, 22], params0=starts[[3, 10, 11, 12, 13, 14, 17, 22]]))


def test_a_seed_in_two_grid_parts_is_kept_once_if_identical_and_refused_otherwise(tmp_path):
    from fastbackprop import load_grid, merge_grids
    from fastbackprop.merge import missing_seeds

    merged = merge_grids([_grid(range(0, 60)), _grid(range(40, 100)), _grid(range(150, 160))])
    _assert_same_grid(merged, _grid(np.r_[0:100, 150:160]))  # 40 .. 59 once
    assert not merged.complete and "complete=False" in repr(merged) and "(incomplete: " in merged.summary()
    assert merge_grids([_grid(range(0, 60)), _grid(range(40, 100))]).complete
    assert not merge_grids([_grid(range(0, 60)), _grid(range(40, 100))], seeds=120).complete
    _assert_same_grid(merge_grids([_grid(range(100))]), _grid(100))
    assert missing_seeds(merged) == [(100, 150)] and missing_seeds(merged, range(170)) == [(100, 150), (160, 170)]
    assert missing_seeds(merged, 170) == [(100, 150), (160, 170)]  # an int N is 0 .. N-1, as merge --seeds N
    twice = merge_grids([_grid(range(0, 6)), _grid(range(3, 8))])  # computed counts both parts' networks
    assert twice.computed > twice.n * 2
    twice.save(tmp_path / "twice.npz")
    _assert_same_grid(load_grid(tmp_path / "twice.npz"), _grid(8))  # and it loads, and merges again
    _assert_same_grid(merge_grids([tmp_path / "twice.npz", _grid(range(8, 10))]), _grid(10))
    other = _grid(range(40, 100), init_scale=0.9)
    with pytest.raises(
        ValueError,
        match=r"seed 40 has different loss, (epochs_to_tol, )?init_scale in part 1 \(a GridResult\) and part 2",
    ):
        merge_grids([_grid(range(0, 60)), other])


@pytest.mark.parametrize(
    "other, setting",
    [
        (dict(lrs=[0.5, 2.0]), "lrs"),
        (dict(epochs_list=[1, 3]), "epochs"),
        (dict(momenta=[0.0]), "momenta"),
        (dict(dtype="float32"), "dtype"),
        (dict(margin=0.3), "margin"),
        (dict(init="uniform"), "init"),
        (dict(tol=0.02), "tol"),
        (dict(lr_output=1.0), "lr_output"),
        (dict(epochs_to_tol=False), "epochs_to_tol"),
        (dict(params0=np.zeros((5, 9))), "params0"),
        (dict(y=np.array([0.0, 1.0, 1.0, 1.0])), "the training data"),
    ],
)
def test_grid_parts_of_other_cells_or_settings_are_refused_naming_them(tmp_path, capsys, other, setting):
    from fastbackprop import grid, merge_grids

    args = dict(X=XOR[0], y=XOR[1], lrs=[0.5, 4.0], epochs_list=GRID_EPOCHS)
    grid(seeds=range(0, 5), **args).save(tmp_path / "a.npz")
    grid(seeds=range(5, 10), **{**args, **other}).save(tmp_path / "b.npz")
    with pytest.raises(ValueError, match=f"parts disagree on {setting}"):
        merge_grids([tmp_path / "a.npz", tmp_path / "b.npz"])
    out = tmp_path / "m.npz"
    assert main(["merge", "--overwrite", str(out), str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"disagree on {setting}" in err and "b.npz" in err
    assert not out.exists()


def test_grid_merges_refuse_what_is_not_one_grid(tmp_path, monkeypatch):
    from fastbackprop import _execution, merge_grids, results

    with pytest.raises(ValueError, match="at least one grid"):
        merge_grids([])
    with pytest.raises(TypeError, match="parts must be a list of grids"):
        merge_grids(str(tmp_path))
    with pytest.raises(TypeError, match="parts must be GridResults or paths, got int"):
        merge_grids([3])
    sweep(*XOR, 4, epochs=2).save(tmp_path / "s.npz")
    with pytest.raises(ValueError, match=r"holds a sweep, not a grid; read it with fastbackprop\.load_sweep"):
        merge_grids([tmp_path / "s.npz"])
    _grid(range(5)).save(tmp_path / "a.npz")
    monkeypatch.setattr(results, "__version__", "9.9.9")
    monkeypatch.setattr(_execution, "__version__", "9.9.9")
    _grid(range(5, 10)).save(tmp_path / "b.npz")
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"different fastbackprop versions.*b\.npz' by 9\.9\.9"):
        merge_grids([tmp_path / "a.npz", tmp_path / "b.npz"])


def test_the_cli_merges_grid_parts_into_a_grid_and_refuses_a_mix(tmp_path, capsys):
    from fastbackprop import load_grid

    common = ["grid", "--dataset", "xor", "--lr", "0.5", "4", "--epochs", *map(str, GRID_EPOCHS)]
    assert main([*common, "--seeds", "0:50", "--out", str(tmp_path / "a.npz")]) == 0
    assert main([*common, "--seeds", "50:100", "--store", str(tmp_path / "b")]) == 0
    assert main([*common, "--seeds", "100", "--json"]) == 0
    capsys.readouterr()
    out = tmp_path / "m.npz"
    assert (
        main(
            ["merge", "--overwrite", str(out), str(tmp_path / "a.npz"), str(tmp_path / "b"), "--seeds", "120", "--json"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["missing"] == [[100, 120]] and report["parts"] == 2 and report["runs_per_second"] is None
    assert report["complete"] is False and not load_grid(out).complete  # kept in the file
    _assert_same_grid(load_grid(out), _grid(100))
    assert report["cells"] == _grid(100).cells()
    assert main(["merge", "--overwrite", str(out), str(tmp_path / "a.npz"), str(tmp_path / "b")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("merged 2 parts: 100 seeds per cell") and "summed over" not in text  # (b: a store)
    _grid(range(100, 120)).save(tmp_path / "c.npz")
    assert main(["merge", "--overwrite", str(out), str(tmp_path / "a.npz"), str(tmp_path / "c.npz")]) == 0
    text = capsys.readouterr().out  # every part keeps its time: their sum
    assert "the parts' wall time" in text and f" s and {(50 + 20) * 2} networks trained, summed over" in text
    sweep(*XOR, 5, epochs=2).save(tmp_path / "s.npz")
    assert (
        main(["merge", "--overwrite", str(tmp_path / "x.npz"), str(tmp_path / "a.npz"), str(tmp_path / "s.npz")]) == 2
    )
    err = capsys.readouterr().err
    assert "holds a grid and PART" in err and "does not: merge joins the parts of one sweep or of one grid" in err
    assert (
        main(["merge", "--overwrite", str(tmp_path / "x.npz"), str(tmp_path / "a.npz"), str(tmp_path / "typo.npz")])
        == 2
    )
    assert "no such result file or store: " in capsys.readouterr().err  # its own error, not "not a grid"


def test_merge_refuses_an_existing_out_without_overwrite(tmp_path, capsys):
    """`fastbackprop merge parts/*.npz` made the first part the output, and lost it."""
    sweep(*XOR, range(0, 5), epochs=EPOCHS, lr=0.5).save(tmp_path / "a.npz")
    sweep(*XOR, range(5, 10), epochs=EPOCHS, lr=0.5).save(tmp_path / "b.npz")
    before = (tmp_path / "a.npz").read_bytes()
    assert main(["merge", str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 2
    err = capsys.readouterr().err
    assert f"OUT {str(tmp_path / 'a.npz')!r} exists: give --overwrite to replace it" in err
    assert (tmp_path / "a.npz").read_bytes() == before
    assert main(["merge", str(tmp_path / "m.npz"), str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 0
    assert main(["merge", str(tmp_path / "m.npz"), str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 2
    assert (
        main(["merge", "--overwrite", str(tmp_path / "m.npz"), str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 0
    )
    assert load_sweep(tmp_path / "m.npz").n == 10


def test_an_incomplete_grid_stays_incomplete_when_merged_again(tmp_path):
    from fastbackprop import GridResult, load_grid, merge_grids

    gappy = merge_grids([_grid(range(0, 10)), _grid(range(10, 20))], seeds=30)
    assert not gappy.complete
    gappy.save(tmp_path / "g.npz")
    for again in (
        merge_grids([tmp_path / "g.npz"]),
        merge_grids([gappy]),
        merge_grids([load_grid(tmp_path / "g.npz")]),
    ):
        assert not again.complete  # which seeds it lacked, only the first merge's seeds= knew
    assert merge_grids([gappy, _grid(range(20, 30))], seeds=30).complete  # the plan, given again, says it is whole
    with pytest.raises(TypeError, match=r"^complete must be a bool, got 0"):
        dataclasses.replace(gappy, complete=0)
    assert dataclasses.replace(gappy, complete=np.bool_(True)).complete is True
    assert isinstance(gappy, GridResult)


def test_missing_seeds_names_its_arguments(monkeypatch):
    from fastbackprop import _validation, missing_seeds

    res = sweep(*XOR, range(5, 10), epochs=EPOCHS, lr=0.5)
    for planned, message in [
        (0, "planned must be >= 1"),
        (-1, "planned must be >= 1"),
        ([], "planned must not be empty"),
    ]:
        with pytest.raises(ValueError, match=rf"^{message}"):
            missing_seeds(res, planned)
    with pytest.raises(TypeError, match=r"^planned must be an int, a range or an array of ints, got 3.0"):
        missing_seeds(res, 3.0)
    with pytest.raises(TypeError, match=r"^result must be a SweepResult or a GridResult, got str"):
        missing_seeds("res.npz", 10)
    monkeypatch.setattr(_validation, "available_memory", lambda: 10**6)
    with pytest.raises(
        ValueError, match=r"^planned: the 1,000,000,000 seeds planned would take"
    ):  # before they are made
        missing_seeds(res, 10**9)
