"""Maps of trainability: one network per pixel of a 2-D slice of starting points or learning rates.

``init_map`` varies two starting parameters of one network, ``lr_map`` the
learning rates of its hidden layer and its output neuron. Both are sweeps
underneath -- one network per pixel, numbered row by row -- so threads, Dask,
stores and progress work as for ``sweep``, and in float64 every pixel is
bit-identical to ``Network(params=...)`` trained with the same arguments.
The starting points are made per chunk from the pixel numbers: a map of 10^7
networks never holds 10^7 of them.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _seeding
from ._execution import Plan, execute, progress_bar
from ._layout import N_PARAMS, PARAM_NAMES
from ._settings import ACTIVATIONS, DTYPES, StartGrid, Training
from ._validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_dataset,
    check_execution,
    check_int,
    check_memory,
    check_representable,
    check_seed,
    check_survives,
    check_training,
    is_int,
    is_real,
    recorded_data_ok,
    recorded_settings_ok,
    unwrapped,
)
from ._version import __version__
from .results import epochs_to_tol_text, outcome_report, outcomes, per_second, trained_text, wilson_interval
from .store import (
    NPZ_FORMATS,
    OMITTED_AT_DEFAULT,
    canonical_nans,
    check_kind,
    check_npz_format,
    check_npz_sizes,
    existing_path,
    manifest_settings,
    read_store,
    store_kind,
    write_atomic,
)
from .sweeps import Activation, Device, DTypeName, _check_result_memory

__all__ = ["MAX_SIDE", "MapResult", "init_map", "load_map", "lr_map"]

#: Most pixels along either axis of a map (a 16384 x 16384 map is 2.7e8 networks).
MAX_SIDE = 16_384
#: Largest magnitude of a map's coordinates: spacing and pixel edges stay finite.
MAX_COORDINATE = 1e300
#: The map file format written by ``MapResult.save``.
FORMAT_VERSION = 1

PixelRows = tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[np.int64]]  # params, final_loss, epochs_to_tol


@dataclasses.dataclass(frozen=True, eq=False)
class MapResult:
    """Outcome of ``init_map`` or ``lr_map``: images of n1 rows (``coords1``) by n0 columns (``coords0``).

    Pixel ``(j, i)`` is the network that started from ``base`` with
    ``axes[0] = coords0[i]`` and ``axes[1] = coords1[j]`` (an init map), or
    that trained with ``lr = coords0[i]`` and ``lr_output = coords1[j]`` (a
    learning-rate map); ``pixel(j, i)`` gives its start and learning rates.

    Attributes
    ----------
    kind : str
        "init" or "lr".
    axes : tuple of str
        The two parameter names (``w1 .. w6, b1 .. b3``), or ("lr", "lr_output").
    coords0 : ndarray of float64, shape (n0,)
    coords1 : ndarray of float64, shape (n1,)
    log : bool
        Whether the coordinates are log-spaced (learning-rate maps).
    base : ndarray of float64, shape (9,)
        The starting point every pixel shares but for its axes.
    base_seed : int or None
        The seed ``base`` was drawn from (``Network(seed=base_seed).params``), if it was.
    params : ndarray, shape (n1, n0, 9), the map's dtype
        Final parameters.
    final_loss : ndarray, shape (n1, n0), the map's dtype
    epochs_to_tol : ndarray of int64, shape (n1, n0), or None
        As in ``SweepResult``: the first epoch count meeting the criterion, -1
        if never; None with ``epochs_to_tol=False``.
    converged, diverged : ndarray of bool, shape (n1, n0)
    finished : ndarray of bool, shape (n1, n0)
        Pixels with results: all of them unless read from a partial store
        (the others hold NaN, -1 and False).
    X, y : ndarray of float64
    epochs, lr, lr_output, momentum, activation, margin, tol, dtype :
        The training settings (``lr`` and ``lr_output`` None in a learning-rate map).
    wall_seconds : float
    complete : bool
    computed : int
        Pixels trained by this call (the others were read from a store).
    """

    kind: str
    axes: tuple[str, str]
    coords0: npt.NDArray[np.float64]
    coords1: npt.NDArray[np.float64]
    log: bool
    base: npt.NDArray[np.float64]
    base_seed: int | None
    params: npt.NDArray[np.floating[Any]]
    final_loss: npt.NDArray[np.floating[Any]]
    epochs_to_tol: npt.NDArray[np.int64] | None
    converged: npt.NDArray[np.bool_]
    diverged: npt.NDArray[np.bool_]
    finished: npt.NDArray[np.bool_]
    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    epochs: int
    lr: float | None
    lr_output: float | None
    momentum: float
    activation: str
    margin: float | None
    tol: float
    dtype: str
    wall_seconds: float = math.nan
    complete: bool = True
    computed: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        """(n1, n0): rows, columns."""
        return (int(self.coords1.shape[0]), int(self.coords0.shape[0]))

    @property
    def n(self) -> int:
        """Pixels with results."""
        return int(np.count_nonzero(self.finished))

    @property
    def success_rate(self) -> float:
        """Fraction of the finished pixels that converged."""
        return float(np.count_nonzero(self.converged) / self.n) if self.n else math.nan

    @property
    def success_ci95(self) -> tuple[float, float]:
        """95 % Wilson interval of ``success_rate``."""
        return wilson_interval(int(np.count_nonzero(self.converged)), self.n)

    @property
    def runs_per_second(self) -> float:
        """Pixels trained by this call per second of ``wall_seconds`` (NaN when unknown)."""
        return per_second(self.computed, self.wall_seconds)

    def pixel(self, j: int, i: int) -> dict[str, Any]:
        """What pixel (j, i) trains: its start and its settings.

        Returns
        -------
        dict
            ``params0`` (9,) float64, and ``lr``, ``lr_output``, ``momentum``,
            ``epochs``, ``activation``:
            ``net = Network(params=p["params0"], activation=p["activation"])`` and
            ``net.train(X, y, p["epochs"], p["lr"], lr_output=p["lr_output"], momentum=p["momentum"])``
            reproduce the pixel (bit for bit in float64).
        """
        n1, n0 = self.shape
        j, i = check_int(j, "j", maximum=n1 - 1), check_int(i, "i", maximum=n0 - 1)
        params0 = self.base.copy()
        if self.kind == "init":
            params0[PARAM_NAMES.index(self.axes[0])] = self.coords0[i]
            params0[PARAM_NAMES.index(self.axes[1])] = self.coords1[j]
            rates = {"lr": self.lr, "lr_output": self.lr_output}
        else:
            rates = {"lr": float(self.coords0[i]), "lr_output": float(self.coords1[j])}
        return {
            "params0": params0,
            **rates,
            "momentum": self.momentum,
            "epochs": self.epochs,
            "activation": self.activation,
        }

    def report(self) -> dict[str, Any]:
        """The headline numbers as a strict-JSON dict (what ``fastbackprop map ... --json`` prints)."""
        return {
            "kind": self.kind,
            "axes": list(self.axes),
            "extent": [[float(c[0]), float(c[-1])] for c in (self.coords0, self.coords1)],
            "resolution": [int(self.coords0.shape[0]), int(self.coords1.shape[0])],
            "log": self.log,
            "base": self.base_seed if self.base_seed is not None else [float(v) for v in self.base],
            "epochs": self.epochs,
            "lr": self.lr,
            "lr_output": self.lr_output,
            "momentum": self.momentum,
            "activation": self.activation,
            "margin": self.margin,
            "tol": self.tol,
            "dtype": self.dtype,
            **({} if self.epochs_to_tol is not None else {"epochs_to_tol": False}),  # as a sweep's report says it
            "pixels": self.n,
            "complete": self.complete,
            **outcome_report(self),  # unfinished pixels: not converged, epochs to tol -1
        }

    def summary(self) -> str:
        """A short human-readable report."""
        r = self.report()
        n1, n0 = self.shape
        spacing = "log-spaced " if self.log else ""
        base = f"seed {self.base_seed}" if self.base_seed is not None else "given parameters"
        lines = [
            f"{self.kind} map {self.axes[0]} x {self.axes[1]}: {n0} x {n1} {spacing}pixels, "
            f"{self.axes[0]} {_span(self.coords0)}, {self.axes[1]} {_span(self.coords1)}; base {base}",
            f"{self.epochs} epochs"
            + ("" if self.lr is None else f", lr {self.lr:g}")
            + ("" if self.lr_output is None else f", lr_output {self.lr_output:g}")
            + (f", momentum {self.momentum:g}" if self.momentum else "")
            + f", {self.activation}, {self.dtype}, "
            + (f"tol {self.tol:g}" if self.margin is None else f"margin {self.margin:g}"),
        ]
        if r["success_rate"] is None:
            lines.append("no pixels finished")
        else:
            lo, hi = r["success_ci95"]
            lines.append(
                f"converged: {r['converged']}/{self.n} = {r['success_rate']:.2%} (95% CI {lo:.2%} .. {hi:.2%})"
                + ("" if self.complete else f" of the {self.n} finished pixels")
                + (f"; diverged: {r['diverged']}" if r["diverged"] else "")
            )
            criterion = "epochs to tol: " if self.margin is None else "epochs to margin: "
            lines.append(criterion + epochs_to_tol_text(r, self.epochs_to_tol is not None, "pixels", self.epochs))
        if math.isfinite(self.wall_seconds):
            lines.append(trained_text(self.wall_seconds, self.computed, self.n, "pixels"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        n1, n0 = self.shape
        return (
            f"MapResult(kind={self.kind!r}, axes={self.axes}, resolution=({n0}, {n1}), epochs={self.epochs}, "
            f"dtype={self.dtype!r}, success_rate={self.success_rate:.4g}"
            + ("" if self.complete else ", complete=False")
            + ")"
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to exactly ``path`` as a NumPy .npz file, atomically; ``load_map(path)`` reads it back."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        fields["axes"] = np.array(self.axes)
        write_atomic(
            path,
            lambda f: np.savez(
                f, format=NPZ_FORMATS["map"], format_version=FORMAT_VERSION, package_version=__version__, **fields
            ),
        )


def load_map(path: str | os.PathLike[str]) -> MapResult:
    """Read a ``MapResult`` from a file written by ``MapResult.save`` or from a map's store.

    Parameters
    ----------
    path : str or os.PathLike
        A map file (.npz, as written by ``save`` or ``fastbackprop map ...
        --out``), or a map's store (``init_map(..., store=PATH)``), which may
        be partial: then ``complete`` is False, ``finished`` marks the pixels
        with results, and the others are NaN (``epochs_to_tol`` -1).

    Returns
    -------
    MapResult

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        A sweep's file or store (read it with ``load_sweep``), a file that is
        not a map file of this format version, a damaged file or manifest, or
        one too large to read.
    """
    path = existing_path(path, "map file or store")
    if os.path.isdir(path):
        if settings := manifest_settings(path):  # (unreadable: read_store says so)
            check_kind(store_kind(settings), "map", f"store {path!r}")  # before reading its rows
        settings, inputs, rows, (params, final_loss, etl, _, _) = read_store(path, "map store")
        grid = StartGrid.from_settings(settings["start_grid"])
        lr_map = grid.kind == "lr"  # its learning rates are the coordinates
        training = Training(
            epochs=int(settings["epochs"]),
            lr=0.0 if lr_map else float(settings["lr"]),
            tol=float(settings["tol"]),
            dtype=str(settings["dtype"]),
            lr_output=None if lr_map or settings.get("lr_output") is None else float(settings["lr_output"]),
            momentum=float(settings.get("momentum", 0.0)),
            activation=str(settings.get("activation", "sigmoid")),
            margin=settings.get("margin"),
            epochs_to_tol=bool(settings.get("epochs_to_tol", OMITTED_AT_DEFAULT["epochs_to_tol"])),
            start_grid=grid,
        )
        S = grid.coords0.shape[0] * grid.coords1.shape[0]
        finished = np.zeros(S, dtype=np.bool_)
        finished[rows] = True
        if rows.shape[0] == S:  # complete: the rows are every pixel, in order
            return _result((params, final_loss, etl), inputs["X"], inputs["y"], training, math.nan, 0, finished)
        # partial: every pixel, the unfinished ones blank (a second set of arrays)
        check_memory(S * (params.dtype.itemsize * (N_PARAMS + 1) + 8), "path", f"the {S:,} pixels of {str(path)!r}")
        full = (
            np.full((S, N_PARAMS), np.nan, params.dtype),
            np.full(S, np.nan, final_loss.dtype),
            np.full(S, -1, np.int64),
        )
        for dst, src in zip(full, (params, final_loss, etl)):
            dst[rows] = src
        return _result(full, inputs["X"], inputs["y"], training, math.nan, 0, finished)
    check_npz_sizes(path, "map file")
    with np.load(path, allow_pickle=False) as f:
        check_npz_format(f, "map", FORMAT_VERSION, path)
        fields: dict[str, Any] = {}
        for field in dataclasses.fields(MapResult):
            if field.name not in f:
                if field.default is not dataclasses.MISSING or field.name in _OPTIONAL:
                    fields[field.name] = None if field.name in _OPTIONAL else field.default
                    continue
                raise ValueError(f"path {str(path)!r} is a damaged map file: {field.name} is missing")
            value = f[field.name]
            fields[field.name] = value.item() if value.ndim == 0 else value
    if not _fits(fields):
        raise ValueError(f"path {str(path)!r} is a damaged map file: its fields do not fit together")
    fields["axes"] = tuple(str(a) for a in fields["axes"])
    fields["params"], fields["final_loss"] = canonical_nans((fields["params"], fields["final_loss"]))  # older files
    return MapResult(**fields)


def _fits(f: dict[str, Any]) -> bool:
    """Whether the fields read from a map file make a MapResult (an edited or damaged file does not)."""
    arrays = ("coords0", "coords1", "base", "params", "final_loss", "converged", "diverged", "finished", "X", "y")
    if not all(isinstance(f[k], np.ndarray) for k in arrays):
        return False
    c0, c1 = f["coords0"], f["coords1"]
    if not (c0.ndim == c1.ndim == 1 and c0.size and c1.size and np.isfinite(c0).all() and np.isfinite(c1).all()):
        return False
    shape = (c1.shape[0], c0.shape[0])
    kind, axes = f["kind"], f["axes"]
    if not (isinstance(kind, str) and isinstance(f["activation"], str)):
        return False
    names = ("lr", "lr_output") if kind == "lr" else PARAM_NAMES
    F = DTYPES.get(f["dtype"]) if isinstance(f["dtype"], str) else None
    images = ["final_loss", "converged", "diverged", "finished"] + ["epochs_to_tol"] * (f["epochs_to_tol"] is not None)
    return (
        kind in ("init", "lr")
        and isinstance(axes, np.ndarray)
        and axes.shape == (2,)
        and all(str(a) in names for a in axes)
        and (kind == "lr" or axes[0] != axes[1])
        and F is not None
        and f["params"].dtype == F
        and f["final_loss"].dtype == F
        and f["params"].shape == (*shape, N_PARAMS)
        and all(np.shape(f[k]) == shape for k in images)
        and f["base"].shape == (N_PARAMS,)
        and f["X"].ndim == 2
        and f["X"].shape[1:] == (2,)
        and f["y"].shape == f["X"].shape[:1]
        and isinstance(f["computed"], int)
        and not isinstance(f["computed"], bool)
        and 0 <= f["computed"] <= shape[0] * shape[1]
        and all(f[k] is not None for k in ("epochs", "momentum", "tol"))
        and recorded_settings_ok({k: f[k] for k in ("epochs", "lr", "lr_output", "margin", "momentum", "tol")})
        and isinstance(f["wall_seconds"], float)
        and not (f["wall_seconds"] < 0 or f["wall_seconds"] == math.inf)
        and all(isinstance(f[k], bool) for k in ("log", "complete"))
        and f["activation"] in ACTIVATIONS
        and (f["base_seed"] is None or (isinstance(f["base_seed"], int) and f["base_seed"] >= 0))
        and bool(np.isfinite(f["base"]).all())
        and recorded_data_ok(f["X"], f["y"], f["activation"])
    )


#: Fields that are None when absent from a file.
_OPTIONAL = ("epochs_to_tol", "base_seed", "lr", "lr_output", "margin")


def init_map(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    base: int | npt.ArrayLike,
    axes: tuple[str, str] | list[str],
    extent: Any,
    resolution: tuple[int, int] | list[int],
    *,
    epochs: int = 3000,
    lr: float = 0.2,
    lr_output: float | None = None,
    momentum: float = 0.0,
    activation: Activation = "sigmoid",
    margin: float | None = None,
    tol: float = 1e-2,
    dtype: DTypeName | npt.DTypeLike = "float64",
    epochs_to_tol: bool = True,
    threads: int | None = None,
    progress: bool = False,
    store: str | os.PathLike[str] | None = None,
    client: Any = None,
    device: Device = "cpu",
) -> MapResult:
    """Train one network per point of a 2-D slice of starting points.

    Pixel ``(j, i)`` starts from ``base`` with parameter ``axes[0]`` set to
    ``coords0[i]`` and ``axes[1]`` to ``coords1[j]``, where ``coords0`` is
    ``linspace(*extent[0], n0)`` and ``coords1`` ``linspace(*extent[1], n1)``
    but for inner values that are rounding noise around 0, set to 0 (both
    ends included, so a zoom is a narrower extent).

    Parameters
    ----------
    X : array_like, shape (n, 2)
    y : array_like, shape (n,)
    base : int or array_like, shape (9,)
        A seed (the start is ``Network(seed=base).params``) or a starting point.
    axes : pair of str
        Two different parameter names from ``w1 .. w6, b1 .. b3``.
    extent : ((lo0, hi0), (lo1, hi1))
        Finite, ``lo < hi`` (a single pixel along an axis takes ``lo``).
    resolution : (n0, n1)
        Pixels along each axis, 1 .. ``MAX_SIDE`` (16,384).
    epochs, lr, lr_output, momentum, activation, margin, tol, dtype, epochs_to_tol, threads, progress, store, \
client, device :
        As in ``sweep`` (scalars).

    Returns
    -------
    MapResult
    """
    X64, y64 = check_dataset(X, y, check_choice(activation, "activation", ("sigmoid", "tanh")))
    start, seed = _check_base(base)
    names = _check_axes(axes)
    n0, n1 = _check_resolution(resolution)
    (lo0, hi0), (lo1, hi1) = _check_extent(extent)
    training = check_training(
        epochs=epochs,
        lr=_check_scalar(lr, "lr"),
        tol=tol,
        dtype=dtype,
        lr_output=None if lr_output is None else _check_scalar(lr_output, "lr_output"),
        momentum=_check_scalar(momentum, "momentum"),
        activation=activation,
        margin=margin,
        epochs_to_tol=epochs_to_tol,
    )
    check_survives(start, "base", training.dtype, zero_ok=True)
    coords0 = _coordinates(lo0, hi0, n0, False, "extent", training.dtype)
    coords1 = _coordinates(lo1, hi1, n1, False, "extent", training.dtype)
    axes_ix = (PARAM_NAMES.index(names[0]), PARAM_NAMES.index(names[1]))
    grid = StartGrid(start, axes_ix, coords0, coords1, kind="init", log=False, base_seed=seed)
    return _run(X64, y64, dataclasses.replace(training, start_grid=grid), threads, progress, store, client, device)


def lr_map(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    base: int | npt.ArrayLike,
    lr_extent: tuple[float, float],
    lr_output_extent: tuple[float, float],
    resolution: tuple[int, int] | list[int],
    *,
    log: bool = True,
    epochs: int = 3000,
    momentum: float = 0.0,
    activation: Activation = "sigmoid",
    margin: float | None = None,
    tol: float = 1e-2,
    dtype: DTypeName | npt.DTypeLike = "float64",
    epochs_to_tol: bool = True,
    threads: int | None = None,
    progress: bool = False,
    store: str | os.PathLike[str] | None = None,
    client: Any = None,
    device: Device = "cpu",
) -> MapResult:
    """Train one starting point with every pair of learning rates of a 2-D grid.

    Pixel ``(j, i)`` trains ``base`` with ``lr = coords0[i]`` (hidden layer)
    and ``lr_output = coords1[j]`` (output neuron), where the coordinates span
    ``lr_extent`` and ``lr_output_extent`` with both ends included,
    log-spaced (as ``geomspace``, but with the C library's log10 and pow, the
    same on every CPU) when ``log``, else evenly.

    Parameters
    ----------
    X, y, base, resolution :
        As in ``init_map``.
    lr_extent, lr_output_extent : (lo, hi)
        Learning rates, 0 < lo < hi.
    log : bool
    epochs, momentum, activation, margin, tol, dtype, epochs_to_tol, threads, progress, store, client, device :
        As in ``sweep``.

    Returns
    -------
    MapResult
    """
    X64, y64 = check_dataset(X, y, check_choice(activation, "activation", ("sigmoid", "tanh")))
    start, seed = _check_base(base)
    n0, n1 = _check_resolution(resolution)
    log = check_bool(log, "log")
    lo0, hi0 = _check_range(lr_extent, "lr_extent", positive=True)
    lo1, hi1 = _check_range(lr_output_extent, "lr_output_extent", positive=True)
    settings = check_training(epochs=epochs, lr=1.0, tol=tol, dtype=dtype)
    coords0 = _coordinates(lo0, hi0, n0, bool(log), "lr_extent", settings.dtype)
    coords1 = _coordinates(lo1, hi1, n1, bool(log), "lr_output_extent", settings.dtype)
    # before the 16 bytes a pixel of its learning rates are taken
    _check_result_memory(n0 * n1, settings, pixels=True, extra_per_seed=16)
    training = check_training(
        epochs=epochs,
        lr=np.tile(coords0, n1),  # pixel r = j * n0 + i
        tol=tol,
        dtype=dtype,
        lr_output=np.repeat(coords1, n0),
        momentum=_check_scalar(momentum, "momentum"),
        activation=activation,
        margin=margin,
        epochs_to_tol=epochs_to_tol,
    )
    check_survives(start, "base", training.dtype, zero_ok=True)
    grid = StartGrid(start, (), coords0, coords1, kind="lr", log=bool(log), base_seed=seed)
    return _run(X64, y64, dataclasses.replace(training, start_grid=grid), threads, progress, store, client, device)


def _run(
    X64: npt.NDArray[np.float64],
    y64: npt.NDArray[np.float64],
    training: Training,
    threads: int | None,
    progress: bool,
    store: str | os.PathLike[str] | None,
    client: Any,
    device: str,
) -> MapResult:
    """Train every pixel as a sweep of pixel numbers 0 .. S-1 and shape the result as images."""
    assert training.start_grid is not None
    grid = training.start_grid
    check_representable(X64, y64, training)
    S = grid.coords0.shape[0] * grid.coords1.shape[0]
    _check_result_memory(S, training, pixels=True, extra_per_seed=16 * (grid.kind == "lr"))
    execution = check_execution(threads=threads, progress=progress, store=store, client=client, device=device)
    with progress_bar(S, execution.progress) as on_rows:
        trained = execute(Plan(X64, y64, np.arange(S, dtype=np.int64), training), execution, on_rows)
    rows = trained.rows
    return _result(
        (rows.params, rows.final_loss, rows.epochs_to_tol),
        X64,
        y64,
        trained.training,
        trained.wall_seconds,
        trained.computed,
        np.ones(S, dtype=np.bool_),
    )


def _result(
    rows: PixelRows,
    X: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    training: Training,
    wall_seconds: float,
    computed: int,
    finished: npt.NDArray[np.bool_],
) -> MapResult:
    """Rows of pixels 0 .. S-1 as a MapResult (views: nothing is copied but the derived images)."""
    grid = training.start_grid
    assert grid is not None
    params, final_loss, etl = rows
    converged, diverged = outcomes(params, final_loss, X, y, training)
    converged &= finished
    diverged &= finished
    shape = (grid.coords1.shape[0], grid.coords0.shape[0])
    lr_map = grid.kind == "lr"
    return MapResult(
        kind=grid.kind,
        axes=("lr", "lr_output") if lr_map else (PARAM_NAMES[grid.axes[0]], PARAM_NAMES[grid.axes[1]]),
        coords0=grid.coords0,
        coords1=grid.coords1,
        log=grid.log,
        base=grid.base,
        base_seed=grid.base_seed,
        params=params.reshape(*shape, N_PARAMS),
        final_loss=final_loss.reshape(shape),
        epochs_to_tol=etl.reshape(shape) if training.epochs_to_tol else None,
        converged=converged.reshape(shape),
        diverged=diverged.reshape(shape),
        finished=finished.reshape(shape),
        X=X,
        y=y,
        epochs=training.epochs,
        lr=None if lr_map else float(training.lr),
        lr_output=None if lr_map or training.lr_output is None else float(training.lr_output),
        momentum=float(training.momentum),
        activation=training.activation,
        margin=training.margin,
        tol=training.tol,
        dtype=training.dtype,
        wall_seconds=wall_seconds,
        complete=bool(finished.all()),
        computed=computed,
    )


def _check_base(base: Any) -> tuple[npt.NDArray[np.float64], int | None]:
    """(the starting point (9,) float64, the seed it came from or None)."""
    if is_int(unwrapped(base)):  # a 0-d array too, as every int setting takes it
        seed = check_seed(base, "base")
        return _seeding.init_normal(np.array([seed], dtype=np.int64))[0], seed
    if isinstance(base, (bool, np.bool_, str, bytes)) or base is None:
        raise TypeError(f"base must be a seed (int) or an array of {N_PARAMS} parameters, got {base!r}")
    start = as_real_array(base, "base")
    if start.shape != (N_PARAMS,):
        raise ValueError(f"base must be a seed or have shape ({N_PARAMS},), got shape {start.shape}")
    return start, None


def _check_axes(axes: Any) -> tuple[str, str]:
    if isinstance(axes, str) or not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise TypeError(f"axes must be two parameter names from {', '.join(PARAM_NAMES)}, got {axes!r}")
    for a in axes:
        if not isinstance(a, str):
            raise TypeError(f"axes must be parameter names (str), got {a!r}")
        if a not in PARAM_NAMES:
            raise ValueError(f"axes holds an unknown parameter {a!r}; the parameters are {', '.join(PARAM_NAMES)}")
    if axes[0] == axes[1]:
        raise ValueError(f"axes must name two different parameters, got {axes[0]!r} twice")
    return (axes[0], axes[1])


def _check_resolution(resolution: Any) -> tuple[int, int]:
    two = isinstance(resolution, (tuple, list, np.ndarray)) and getattr(resolution, "ndim", 1) == 1
    if not two or len(resolution) != 2:
        raise TypeError(f"resolution must be two ints (n0, n1), got {resolution!r}")
    n0, n1 = (check_int(n, "resolution", minimum=1, maximum=MAX_SIDE) for n in resolution)
    return n0, n1


def _pairs(value: Any, count: int) -> list[Any] | None:
    """``value`` as a list of ``count`` pairs, or None if it is not one."""

    def ordered(v: Any, n: int) -> bool:  # not a set or a dict, whose order is not the axes'
        return (isinstance(v, (tuple, list)) or (isinstance(v, np.ndarray) and v.ndim > 0)) and len(v) == n

    return list(value) if ordered(value, count) and all(ordered(pair, 2) for pair in value) else None


def _check_extent(extent: Any) -> list[tuple[float, float]]:
    """An init map's extent: two ranges ``((lo0, hi0), (lo1, hi1))``."""
    pairs = _pairs(extent, 2)
    if pairs is None:
        raise TypeError(f"extent must be ((lo0, hi0), (lo1, hi1)), got {extent!r}")
    return [_check_range(pair, "extent") for pair in pairs]


def _check_range(pair: Any, name: str, positive: bool = False) -> tuple[float, float]:
    """(lo, hi): finite reals within ±MAX_COORDINATE, lo < hi (and lo > 0 when ``positive``)."""
    if _pairs([pair], 1) is None:
        raise TypeError(f"{name} must be (lo, hi), got {pair!r}")
    lo, hi = pair
    if not (is_real(lo) and is_real(hi)):
        raise TypeError(f"{name} must hold real numbers, got {(lo, hi)!r}")
    try:
        lo, hi = float(lo), float(hi)
    except OverflowError:  # ints past 1.8e308
        raise ValueError(f"{name} must lie within ±{MAX_COORDINATE:g}, got {(lo, hi)!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, got ({lo!r}, {hi!r})")
    if max(abs(lo), abs(hi)) > MAX_COORDINATE:
        raise ValueError(f"{name} must lie within ±{MAX_COORDINATE:g}, got ({lo!r}, {hi!r})")
    if not lo < hi:
        raise ValueError(f"{name} must have lo < hi (an empty or reversed range), got ({lo!r}, {hi!r})")
    if positive and lo <= 0:
        raise ValueError(f"{name} must be > 0 (learning rates), got ({lo!r}, {hi!r})")
    return lo, hi


def _geomspace(lo: float, hi: float, n: int) -> npt.NDArray[np.float64]:
    """``np.geomspace(lo, hi, n)`` for 0 < lo < hi as NumPy computes it without SIMD: 10 to the
    powers ``linspace(log10(lo), log10(hi), n)``, the ends exactly lo and hi, with the C
    library's log10 and pow. NumPy's own log10 and power are SIMD loops whose last bit depends
    on the CPU (AVX-512 or not), so a map's coordinates, and pixels near a cliff, did too; the C
    library's are the same on every CPU it runs on (one C library, one result: glibc's on Linux).
    """
    exponents = np.linspace(math.log10(lo), math.log10(hi), n)
    inner = [math.pow(10.0, float(v)) for v in exponents[1:-1]]  # (the ends are lo and hi, not powers)
    return np.array([lo, *inner, hi][:n])


def _coordinates(lo: float, hi: float, n: int, log: bool, name: str, dtype: str) -> npt.NDArray[np.float64]:
    """n coordinates from lo to hi, ends included, evenly or log-spaced, distinct in ``dtype``.

    Where an even spacing crosses 0, a coordinate meant to be 0 comes out as
    rounding noise (1e-17): inner coordinates within a few ulps of the ends'
    magnitude (linspace's error there) are set to 0.
    """
    if log:
        coords = _geomspace(lo, hi, n)
    else:
        coords = np.linspace(lo, hi, n)
        if lo < 0 < hi:
            inner = coords[1:-1]  # a view: the ends stay exactly as given
            inner[np.abs(inner) <= 4 * np.finfo(np.float64).eps * max(-lo, hi)] = 0.0
    check_survives(coords, name, dtype, zero_ok=True)
    F = DTYPES[dtype]
    if n > 1 and np.any(np.diff(coords.astype(F)) <= 0):
        exponents = f"; log10 {math.log10(lo):g} .. {math.log10(hi):g}" if log else ""
        raise ValueError(
            f"{name} ({lo!r}, {hi!r}{exponents}) is too narrow for {n} distinct pixels in {dtype}; "
            "widen it or use fewer pixels" + (" or float64" if dtype != "float64" else "")
        )
    return coords


def _span(coords: npt.NDArray[np.float64]) -> str:
    """An axis's first and last coordinates, with the digits that tell them apart (a deep zoom's)."""
    lo, hi = float(coords[0]), float(coords[-1])
    if lo == hi:
        return f"{lo:g} .. {hi:g}"
    digits = max(6, math.ceil(math.log10(max(abs(lo), abs(hi)) / (hi - lo))) + 2)
    return f"{lo:.{digits}g} .. {hi:.{digits}g}"


def _check_scalar(value: Any, name: str) -> Any:
    """Maps take one value of each training setting (their axes are the per-network ones)."""
    if isinstance(value, (list, tuple)) or np.ndim(value) != 0:  # (np.ndim fails on ragged lists)
        raise TypeError(f"{name} must be a number in a map (its axes vary per pixel), got a {type(value).__name__}")
    return value
