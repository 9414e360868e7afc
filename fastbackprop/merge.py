"""Merging sweeps and grids run in pieces (a job array's tasks) into the one big sweep or grid."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ._settings import PER_ROW
from ._validation import check_memory, check_seeds
from .results import GRID_PER_SEED, GridResult, SweepResult, load_grid, load_sweep, made_with
from .store import planned_seeds

__all__ = ["merge_grids", "merge_sweeps", "missing_seeds"]

#: Settings every part must share; those of PER_ROW may differ row by row and are merged as columns.
#: tol after margin: with a margin, tol decides nothing and may differ.
_AGREE = ("epochs", "dtype", "activation", "margin", "tol", "init")

Part = SweepResult | str | os.PathLike[str]


class _Part(NamedTuple):
    name: str
    result: SweepResult
    planned: npt.NDArray[np.int64] | None  # the seeds it was meant to cover, None if unknown
    version: str | None  # the fastbackprop that made it, None if unknown (a SweepResult)


def _load(k: int, part: Part) -> _Part:
    """The k-th part (from 0), loaded."""
    if isinstance(part, SweepResult):
        return _Part(f"part {k + 1} (a SweepResult)", part, part.seeds if part.complete else None, None)
    if not isinstance(part, (str, os.PathLike)):
        raise TypeError(f"parts must be SweepResults or paths, got {type(part).__name__}")
    result, version = load_sweep(part), made_with(part)
    if os.path.isdir(part):
        return _Part(repr(os.fspath(part)), result, planned_seeds(part), version)
    # a partial result saved
    return _Part(repr(os.fspath(part)), result, result.seeds if result.complete else None, version)


def merge_sweeps(parts: Iterable[Part], seeds: range | npt.ArrayLike | None = None) -> SweepResult:
    """One ``SweepResult`` from several sweeps of the same settings, rows in seed order.

    Parameters
    ----------
    parts : iterable of SweepResult, or paths of result files or stores
        Stores may be partial: their finished rows are taken. A grid's store
        is a sweep of its cells' networks here, each with its learning rate
        (``merge_grids`` joins grids as grids).
    seeds : int, range or array of ints, optional
        The seeds the whole sweep was meant to cover, as ``sweep`` takes
        them (an int N: 0 .. N-1). Without them, a part that never ran at the
        start or the end of the range (a job array's first or last task) is
        not missed: only gaps between the seeds present, and the unfinished
        seeds of partial stores, are.

    Returns
    -------
    SweepResult
        Equal, bit for bit, to one sweep of all the parts' seeds in increasing
        order. Per-network settings (lr, lr_output, momentum, init_scale,
        params0) that differ between parts become one value per row; a seed's
        rows with different settings are different runs, all kept (in the
        order of their settings). A seed's duplicates within one part are
        kept; a run in several parts keeps the rows of the part that lists it
        most often.
        ``complete`` is False if seeds a partial part was made for, or
        ``seeds``, are in no part, or seeds between the smallest and the
        largest are missing (``missing_seeds`` lists them), or, without
        ``seeds``, a part is a partial result (a ``SweepResult`` or its
        file, not a store), which does not say which seeds it was made for;
        ``wall_seconds`` and ``computed`` are the parts' totals where every
        part keeps its own (NaN and 0 otherwise, as a store's result has them).

    Raises
    ------
    ValueError
        If the parts disagree on the data, epochs, dtype, activation,
        margin, tol (unless a margin decides convergence: then the first
        part's tol is kept), init, on whether starts are explicit or on whether
        epochs_to_tol was tracked (naming the setting and
        the parts), if one run (a seed with the same settings) has different rows in two parts
        (bit-identical duplicates are kept once), if files or stores among
        the parts were written by different fastbackprop versions (as a store
        made by another version is not resumed), if there are no parts, or
        if ``seeds`` are too many to hold in memory (about 26 bytes a seed;
        refused before any part is read).
    TypeError
        If a part is neither a SweepResult nor a path.
    """
    return _merge(parts, seeds)[0]


def _merge(parts: Iterable[Part], seeds: Any = None) -> tuple[SweepResult, list[tuple[int, int]]]:
    """``merge_sweeps(parts, seeds)``, and its missing seeds (``missing_seeds``, of the seeds planned if known)."""
    if isinstance(parts, (str, os.PathLike, SweepResult)):
        raise TypeError(f"parts must be a list of sweeps (results or paths), got one: {parts!r:.80}")
    expected = None if seeds is None else _planned(seeds)
    loaded = [_load(k, p) for k, p in enumerate(parts)]
    if not loaded:
        raise ValueError("parts must hold at least one sweep")
    first_name, first = loaded[0].name, loaded[0].result
    _check_versions([(p.name, p.version) for p in loaded])
    for name, part, _, _ in loaded[1:]:
        for setting in _AGREE:
            if setting == "tol" and first.margin is not None:
                continue
            if getattr(part, setting) != getattr(first, setting):
                raise ValueError(
                    f"parts disagree on {setting}: {first_name} has {getattr(first, setting)!r}, "
                    f"{name} has {getattr(part, setting)!r}"
                )
        if (part.epochs_to_tol is None) != (first.epochs_to_tol is None):
            raise ValueError(
                f"parts disagree on epochs_to_tol: one of {first_name} and {name} was made with epochs_to_tol=False"
            )
        if (part.params0 is None) != (first.params0 is None):
            raise ValueError(f"parts disagree on params0: one of {first_name} and {name} has explicit starts")
        if not (np.array_equal(part.X, first.X) and np.array_equal(part.y, first.y)):
            raise ValueError(f"parts disagree on the training data (X, y): {first_name} and {name}")
    results = [p.result for p in loaded]
    seeds = np.concatenate([r.seeds for r in results])
    part_of = np.concatenate([np.full(r.n, k) for k, r in enumerate(results)])
    settings = {name: _per_row_setting(results, name) for name in PER_ROW}
    varying = [v for v in settings.values() if isinstance(v, np.ndarray)]
    # A run is a seed and its settings: rows in seed order, those of one seed by their settings,
    # then by their bits, so that the rows of one run are together (not split by a -0.0 or a NaN).
    keys = [column for v in varying for column in _rows(v).T]
    keys += [column for v in varying for column in _rows(v).view(np.uint64).T]
    order = np.lexsort((*reversed(keys), seeds))
    seeds, part_of = seeds[order], part_of[order]
    columns = {name: np.concatenate([getattr(r, name) for r in results])[order] for name in ("params", "final_loss")}
    # not tracked: -1 stands in, and from_rows drops it again
    etl = [np.full(r.n, -1, np.int64) if r.epochs_to_tol is None else r.epochs_to_tol for r in results]
    columns["epochs_to_tol"] = np.concatenate(etl)[order]
    settings = {k: v[order] if isinstance(v, np.ndarray) else v for k, v in settings.items()}
    varying = [v for v in settings.values() if isinstance(v, np.ndarray)]
    # A run in several parts (overlapping job-array tasks) keeps the rows of the part
    # that lists it most often; its rows are bit-identical (NaN too) or refused.
    same_run = seeds[1:] == seeds[:-1]
    for v in varying:  # bit for bit, as the rows' results are compared
        bits = _rows(v).view(np.uint64)
        same_run &= (bits[1:] == bits[:-1]).all(axis=1)
    keep = np.ones(seeds.shape[0], dtype=bool)
    bounds = np.flatnonzero(np.r_[True, ~same_run, True]) if seeds.size else np.zeros(1, np.intp)
    starts, stops = bounds[:-1], bounds[1:]
    across = part_of[starts] != part_of[stops - 1]  # a run in two parts or more (its rows are in part order)
    for lo, hi in zip(starts[across], stops[across]):
        ids, counts = np.unique(part_of[lo:hi], return_counts=True)
        kept = ids[np.argmax(counts)]
        for i in range(lo, hi):
            if not all(c[i].tobytes() == c[lo].tobytes() for c in columns.values()):
                one, other = loaded[part_of[lo]].name, loaded[part_of[i]].name
                raise ValueError(
                    f"seed {int(seeds[i])} has different results in {one} and {other}; they are not one sweep"
                )
            keep[i] = part_of[i] == kept
    seeds = seeds[keep]
    settings = {k: v[keep] if isinstance(v, np.ndarray) else v for k, v in settings.items()}
    training = dataclasses.replace(first.training(), **settings)
    merged = SweepResult.from_rows(
        seeds,
        columns["params"][keep],
        columns["final_loss"][keep],
        columns["epochs_to_tol"][keep],
        first.X,
        first.y,
        training,
        **_totals(results),
    )
    # Complete: no gap between the smallest and largest seed, and every seed a
    # part was meant to cover (a partial store's unfinished ones too) is here.
    known = [p.planned for p in loaded if p.planned is not None]
    if expected is not None:  # the whole sweep's: a part of unknown plan was made for some of them
        known.append(expected)
    planned = expected is not None or len(known) == len(loaded)
    gaps = _gaps(np.unique(merged.seeds), known if planned else [])
    complete = planned and not gaps
    return (merged if complete else dataclasses.replace(merged, complete=False)), gaps


def _check_versions(named: Sequence[tuple[str, str | None]]) -> None:
    """ValueError if parts (name, the fastbackprop that made it, None if unknown) were made by two versions."""
    versions = [(name, version) for name, version in named if version is not None]
    for name, version in versions[1:]:
        if version != versions[0][1]:  # as a store resumed or a Dask worker's rows
            raise ValueError(
                f"parts were made by different fastbackprop versions, which may compute other numbers: "
                f"{versions[0][0]} by {versions[0][1]}, {name} by {version}"
            )


GridPart = GridResult | str | os.PathLike[str]
#: Settings every part of a grid must share, besides its cells (lrs, momenta, lengths) and data.
_GRID_AGREE = ("dtype", "activation", "margin", "tol", "init")
#: A grid's results, seed on the last axis.
_GRID_ROWS = ("loss", "diverged", "epochs_to_tol", "within_margin")


def merge_grids(parts: Iterable[GridPart], seeds: range | npt.ArrayLike | None = None) -> GridResult:
    """One ``GridResult`` from grids of the same cells run on different seeds (a job array's tasks,
    each ``grid(..., seeds=range(start, stop))``), seeds in increasing order.

    Parameters
    ----------
    parts : iterable of GridResult, or paths of grid files or finished grids' stores
    seeds : int, range or array of ints, optional
        The seeds the whole grid was meant to cover: ``missing_seeds(result,
        seeds)`` then lists those in no part (without them, only the gaps
        between the seeds present are seen).

    Returns
    -------
    GridResult
        Equal, bit for bit, to one grid of all the parts' seeds in increasing
        order (a seed in several parts once: with the rows of the first part,
        in the order given, that has it, which the others' must equal bit for
        bit); per-seed settings that differ
        between parts (``lr_output``, ``init_scale``) become one value per
        seed; ``wall_seconds`` and ``computed`` are the parts' totals where
        every part keeps its own (NaN and 0 otherwise, as a store's result has them).
        ``complete`` is False where seeds are missing (``missing_seeds``):
        between the smallest and the largest, or of ``seeds``; without
        ``seeds``, also where a part is itself incomplete.

    Raises
    ------
    ValueError
        If the parts disagree on the cells (learning rates, momenta, lengths),
        the data, dtype, activation, margin, tol (unless a margin decides:
        then the first part's is kept), init, on whether ``lr_output`` is set,
        whether starts are explicit or whether epochs to tol were tracked
        (naming the setting and the parts); if a seed has different results or
        settings in two parts (naming them); if the parts were written by different
        fastbackprop versions; or if there are none, or a path does not hold a
        finished grid.
    TypeError
        If a part is neither a GridResult nor a path.
    """
    return _merge_grids(parts, seeds)[0]


def _merge_grids(parts: Iterable[GridPart], seeds: Any = None) -> tuple[GridResult, list[tuple[int, int]]]:
    """``merge_grids(parts, seeds)``, and its missing seeds (``missing_seeds``)."""
    if isinstance(parts, (str, os.PathLike, GridResult)):
        raise TypeError(f"parts must be a list of grids (results or paths), got one: {parts!r:.80}")
    expected = None if seeds is None else _planned(seeds)
    loaded: list[tuple[str, GridResult]] = []
    versions: list[tuple[str, str | None]] = []
    for k, part in enumerate(parts):
        if isinstance(part, GridResult):
            loaded.append((f"part {k + 1} (a GridResult)", part))
            versions.append((loaded[-1][0], None))
        elif isinstance(part, (str, os.PathLike)):
            loaded.append((repr(os.fspath(part)), load_grid(part)))
            versions.append((loaded[-1][0], made_with(part)))
        else:
            raise TypeError(f"parts must be GridResults or paths, got {type(part).__name__}")
    if not loaded:
        raise ValueError("parts must hold at least one grid")
    _check_versions(versions)
    first_name, first = loaded[0]
    for name, part in loaded[1:]:
        _check_grids_agree(first_name, first, name, part)
    grids = [g for _, g in loaded]
    seeds_all = np.concatenate([g.seeds for g in grids])
    part_of = np.concatenate([np.full(g.n, k) for k, g in enumerate(grids)])
    per_seed = {name: _grid_per_seed(grids, name) for name in GRID_PER_SEED}
    rows = {  # seed first, so that rows are taken and compared seed by seed
        name: np.concatenate([np.moveaxis(getattr(g, name), -1, 0) for g in grids])
        for name in _GRID_ROWS
        if getattr(first, name) is not None
    }
    rows.update({name: v for name, v in per_seed.items() if isinstance(v, np.ndarray)})
    order = np.argsort(seeds_all, kind="stable")
    seeds_all, part_of = seeds_all[order], part_of[order]
    rows = {name: v[order] for name, v in rows.items()}
    # A seed in several parts (overlapping tasks) keeps the rows of the first part that has it; the
    # others' must be its bits (NaN too), or the parts are not one grid.
    n = seeds_all.shape[0]
    run_start = np.maximum.accumulate(np.where(np.r_[True, seeds_all[1:] != seeds_all[:-1]], np.arange(n), 0))
    keep = part_of == part_of[run_start]
    if not keep.all():
        dropped, kept = np.flatnonzero(~keep), run_start[~keep]
        differ = np.zeros(dropped.shape[0], dtype=bool)
        for v in rows.values():
            bits = v.reshape(n, -1).view(np.uint8) if v.size else v.reshape(n, 0)
            differ |= (bits[dropped] != bits[kept]).any(axis=1)
        if differ.any():
            i, lo = dropped[differ][0], kept[differ][0]
            one, other = loaded[part_of[lo]][0], loaded[part_of[i]][0]
            which = [name for name, v in rows.items() if v[i].tobytes() != v[lo].tobytes()]
            raise ValueError(
                f"seed {int(seeds_all[i])} has different {', '.join(which)} in {one} and {other}; they are not one grid"
            )
    fields: dict[str, Any] = {  # each back with its seed last; a result the grids do not have stays None
        name: np.ascontiguousarray(np.moveaxis(rows[name][keep], 0, -1)) if name in rows else None
        for name in _GRID_ROWS
    }
    fields |= {k: rows[k][keep] if k in rows else v for k, v in per_seed.items()}  # (in seed order, as the rows)
    gaps = _gaps(np.unique(seeds_all[keep]), [] if expected is None else [expected])
    result = dataclasses.replace(
        first,
        seeds=seeds_all[keep],
        **_totals(grids),
        # a part lacking seeds it was made for says so; which they were, only seeds= can say
        complete=not gaps and (expected is not None or all(g.complete for g in grids)),
        **fields,
    )
    return result, gaps


def _totals(results: Sequence[SweepResult | GridResult]) -> dict[str, Any]:
    """The parts' wall time and runs trained, summed, as ``wall_seconds`` and ``computed``: unknown (NaN
    and 0, as a store's own result says them) unless every part keeps its own, so that a merge never
    reports the work of some parts as that of all."""
    if not all(math.isfinite(r.wall_seconds) for r in results):
        return {"wall_seconds": math.nan, "computed": 0}
    return {"wall_seconds": math.fsum(r.wall_seconds for r in results), "computed": sum(r.computed for r in results)}


def _check_grids_agree(first_name: str, first: GridResult, name: str, part: GridResult) -> None:
    """ValueError naming what two parts of a merge disagree on: they must be one grid's."""
    for setting in ("lrs", "momenta", "epochs"):  # the cells, bit for bit (momenta may be None: no axis)
        a, b = getattr(first, setting), getattr(part, setting)
        if (None if a is None else a.tobytes()) != (None if b is None else b.tobytes()):
            shown = [None if x is None else x.tolist() for x in (a, b)]
            raise ValueError(f"parts disagree on {setting}: {first_name} has {shown[0]}, {name} has {shown[1]}")
    for setting in _GRID_AGREE:
        if setting == "tol" and first.margin is not None:
            continue
        if getattr(part, setting) != getattr(first, setting):
            raise ValueError(
                f"parts disagree on {setting}: {first_name} has {getattr(first, setting)!r}, "
                f"{name} has {getattr(part, setting)!r}"
            )
    for setting, what in (
        ("epochs_to_tol", "was made with epochs_to_tol=False"),
        ("lr_output", "sets lr_output"),
        ("params0", "has explicit starts"),
    ):
        if (getattr(part, setting) is None) != (getattr(first, setting) is None):
            raise ValueError(f"parts disagree on {setting}: one of {first_name} and {name} {what}")
    if not (np.array_equal(part.X, first.X) and np.array_equal(part.y, first.y)):
        raise ValueError(f"parts disagree on the training data (X, y): {first_name} and {name}")


def _grid_per_seed(grids: Sequence[GridResult], name: str) -> Any:
    """A per-seed setting of the merged grid: the parts' common value, or one row per seed, parts in order."""
    values = [getattr(g, name) for g in grids]
    if all(v is None for v in values):
        return None
    if all(not isinstance(v, np.ndarray) for v in values) and all(v == values[0] for v in values):
        return values[0]
    row = GRID_PER_SEED[name]
    return np.concatenate(
        [np.broadcast_to(np.asarray(v, dtype=np.float64), (g.n, *row)) for g, v in zip(grids, values, strict=True)]
    )


def _rows(v: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A per-row setting (S,) or (S, 9) as a 2-d array, one row per network (S may be 0)."""
    return v.reshape(v.shape[0], int(np.prod(v.shape[1:])))


def _per_row_setting(results: Sequence[SweepResult], name: str) -> Any:
    """A per-network setting of the merged sweep: the parts' common scalar, or one value per row, parts in order."""
    values = [getattr(r, name) for r in results]
    if all(v is None for v in values):
        return None
    if name == "lr_output":  # None is "the same as lr": a part without it and one with lr's value agree
        values = [r.lr if v is None else v for r, v in zip(results, values)]
    scalars = [v for v in values if not isinstance(v, np.ndarray)]
    if len(scalars) == len(values) and all(v == scalars[0] for v in scalars):
        return scalars[0]
    return np.concatenate(
        [
            np.broadcast_to(np.asarray(v, dtype=np.float64), (r.n,)) if np.ndim(v) == 0 else v
            for r, v in zip(results, values)
        ]
    )


def missing_seeds(result: SweepResult | GridResult, planned: npt.ArrayLike | None = None) -> list[tuple[int, int]]:
    """The seeds ``result`` lacks, as sorted [start, stop) ranges.

    Those between its smallest and its largest seed, and, if given, those of
    ``planned`` (the seeds its parts were made for, as ``sweep`` takes them:
    an int N is 0 .. N-1) outside them.
    """
    if not isinstance(result, (SweepResult, GridResult)):
        raise TypeError(f"result must be a SweepResult or a GridResult, got {type(result).__name__}")
    return _gaps(np.unique(result.seeds), [] if planned is None else [_planned(planned, "planned")])


def _planned(seeds: Any, name: str = "seeds") -> npt.NDArray[np.int64]:
    """The seeds a whole sweep or grid was meant to cover (argument ``name``), as ``sweep`` takes them;
    refused before they are made if they and finding their gaps (a mask, a copy, differences: about 26
    bytes a seed) would not fit in memory."""

    def budget(n: int) -> None:
        check_memory(26 * n, name, f"the {n:,} seeds planned")

    return check_seeds(seeds, budget, name)


def _gaps(seeds: npt.NDArray[np.int64], planned: list[npt.NDArray[np.int64]]) -> list[tuple[int, int]]:
    """The [start, stop) ranges missing between sorted unique ``seeds``, and of each array of
    ``planned`` outside them. In linear time where a plan is in order (a range), as 10^9 may be."""
    gaps = [(int(seeds[i]) + 1, int(seeds[i + 1])) for i in np.flatnonzero(np.diff(seeds) > 1)]
    for seeds_planned in planned:
        beyond = seeds_planned
        if seeds.size:
            beyond = beyond[(beyond < seeds[0]) | (beyond > seeds[-1])]
        if beyond.size > 1 and not (np.diff(beyond) > 0).all():
            beyond = np.unique(beyond)
        if beyond.size:
            runs = np.split(beyond, np.flatnonzero(np.diff(beyond) != 1) + 1)
            gaps += [(int(run[0]), int(run[-1]) + 1) for run in runs]
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(gaps):  # one range where those of two plans overlap or touch
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def describe_gaps(gaps: Sequence[tuple[int, int]], limit: int = 5) -> str:
    """``gaps`` as text: "1024..2047, 5000" (at most ``limit`` ranges, then a count)."""
    shown = [f"{a}" if b == a + 1 else f"{a}..{b - 1}" for a, b in gaps[:limit]]
    more = f" and {len(gaps) - limit} more ranges" if len(gaps) > limit else ""
    return ", ".join(shown) + more
