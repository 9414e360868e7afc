"""What sweeps and grids return: result classes, their reports, files and intervals."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _kernels
from ._layout import N_PARAMS
from ._settings import ACTIVATIONS, DTYPES, INITS, OPTIONS, PER_ROW, Training, is_default
from ._validation import (
    MAX_EPOCHS,
    MAX_LENGTHS,
    check_dataset,
    check_grid_training,
    check_int,
    check_positive_float,
    check_representable,
    recorded_data_ok,
    recorded_settings_ok,
)
from ._version import __version__
from .store import (
    ARRAY_SETTINGS,
    NPZ_FORMATS,
    OMITTED_AT_DEFAULT,
    canonical_nans,
    check_kind,
    check_npz_format,
    check_npz_sizes,
    existing_path,
    is_version,
    manifest_settings,
    npz_kind,
    read_store,
    store_kind,
    write_atomic,
)

__all__ = ["QUANTILES", "GridResult", "SweepResult", "load_grid", "load_sweep", "wilson_interval"]

_Z95 = 1.959963984540054  # standard-normal 97.5 % quantile
#: Final-loss quantiles in ``SweepResult.report``.
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
#: Version of the ``SweepResult.save`` file format (see CHANGELOG.md). 2: the
#: per-network options; a version-1 file is read with every option at its default.
FORMAT_VERSION = 3  # 3: epochs_to_tol may be absent (not tracked)
_READABLE = (1, 2, 3)
#: Version of the ``GridResult.save`` file format (see CHANGELOG.md).
GRID_FORMAT_VERSION = 1
#: A grid's per-seed settings (its learning rates and momenta are its cells), and one seed's shape of each.
GRID_PER_SEED = {name: ARRAY_SETTINGS[name] for name in PER_ROW if name not in ("lr", "momentum")}


def _number(value: float) -> float | None:
    """``value`` as a float, or None where it is NaN (strict JSON has no NaN)."""
    return None if math.isnan(value) else float(value)


def _json_setting(value: Any) -> Any:
    """A setting for strict JSON: a per-network array as its range."""
    if isinstance(value, np.ndarray):
        empty = value.size == 0  # a partial store with no finished rows
        return {
            "per_network": True,
            "min": None if empty else float(value.min()),
            "max": None if empty else float(value.max()),
        }
    return value


def _show_setting(value: Any) -> str:
    """A setting for people: a number, a name, or a per-network array's range."""
    if isinstance(value, (str, bool)):
        return str(value)
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return "(per network, no rows)"
        lo, hi = float(value.min()), float(value.max())
        return f"{lo:g} (per network)" if lo == hi else f"{lo:g} .. {hi:g} (per network)"
    return f"{value:g}"


#: The fields of a ``SweepResult`` that are its ``Training``.
_SETTINGS = (
    "epochs",
    "lr",
    "tol",
    "dtype",
    "lr_output",
    "momentum",
    "activation",
    "margin",
    "init",
    "init_scale",
    "params0",
)
#: The options of a sweep that a report names only when they are not at their defaults.
_OPTIONS = tuple(n for n in OPTIONS if n != "params0")  # params0 is named apart: "given"


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes`` out of ``n`` trials at ``z`` standard errors
    (95 % by default); (lo, hi) as floats, NaNs when n is 0.

    Raises ValueError or TypeError, naming the argument, unless 0 <= successes <= n
    < 2**63 are ints and z is finite and > 0.
    """
    successes, n = check_int(successes, "successes"), check_int(n, "n", maximum=2**63 - 1)
    if successes > n:
        raise ValueError(f"successes must be <= n, got {successes} > {n}")
    z = check_positive_float(z, "z")
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    # At p = 0 or 1 one end is exactly 0 or 1; say so rather than 1 - 1e-16.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def _changed(settings: dict[str, Any]) -> dict[str, Any]:
    """The options in ``settings`` (name: value, in the order given) not at their defaults."""
    return {name: value for name, value in settings.items() if not is_default(name, value)}


def _options_json(settings: dict[str, Any]) -> dict[str, Any]:
    """``_changed(settings)`` for strict JSON: a per-network array as its range, explicit starts as "given"."""
    return {name: "given" if name == "params0" else _json_setting(v) for name, v in _changed(settings).items()}


def _options_text(settings: dict[str, Any]) -> str:
    """``_changed(settings)`` as a summary's first line shows them: ", init scale 0.5, explicit starts"."""
    changed = _changed(settings)
    text = "".join(
        f", {name.replace('_', ' ')} {_show_setting(v)}"
        for name, v in changed.items()
        if name not in ("params0", "epochs_to_tol")
    )
    return text + (", explicit starts" if "params0" in changed else "")


def trained_text(wall_seconds: float, computed: int, planned: int, rows: str) -> str:
    """A summary's last line: "wall time 1.2 s: 900 seeds trained (750 runs/s), 100 read from the store"."""
    rate = per_second(computed, wall_seconds)
    speed = f" ({rate:,.0f} runs/s)" if math.isfinite(rate) else ""
    stored = f", {planned - computed} read from the store" if computed < planned else ""
    return f"wall time {wall_seconds:.3g} s: {computed} {rows} trained{speed}{stored}"


def per_second(computed: int, wall_seconds: float) -> float:
    """Runs trained per second of wall time, NaN when there were none or the time is unknown
    (or so short that the rate would overflow: a hand-made file's subnormal time)."""
    rate = computed / wall_seconds if computed and wall_seconds > 0 else math.nan
    return rate if math.isfinite(rate) else math.nan


def outcome_report(result: Any, **after_interval: Any) -> dict[str, Any]:
    """The outcome keys of a sweep's or a map's ``report()``, strict JSON, in order.

    ``result`` has converged, diverged, success_rate, success_ci95,
    epochs_to_tol (-1 where never reached, or None when not tracked),
    wall_seconds, computed and runs_per_second; ``after_interval`` keys go
    after success_ci95.
    """
    etl = result.epochs_to_tol if result.epochs_to_tol is not None else np.empty(0, np.int64)
    reached = etl[etl >= 0]
    return {
        "converged": int(np.count_nonzero(result.converged)),
        "diverged": int(np.count_nonzero(result.diverged)),
        "success_rate": _number(result.success_rate),
        "success_ci95": [_number(v) for v in result.success_ci95],
        **after_interval,
        "median_epochs_to_tol": float(np.median(reached)) if reached.size else None,
        "wall_seconds": _number(result.wall_seconds),
        "computed": result.computed,
        "runs_per_second": _number(result.runs_per_second),
    }


def epochs_to_tol_text(report: dict[str, Any], tracked: bool, rows: str, epochs: int) -> str:
    """How a report's median epochs to tol reads: "median 574 over seeds that got there", ..."""
    med = report["median_epochs_to_tol"]
    if not tracked:
        return "not tracked (epochs_to_tol=False)"
    if epochs == 0:  # counted from epoch 1: the starts themselves may meet the criterion (converged)
        return "none searched (0 epochs trained)"
    if report["success_rate"] is None:  # a store with no finished rows
        return f"no {rows}"
    return f"median {med:g} over {rows} that got there" if med is not None else "never reached"


def outcomes(
    params: npt.NDArray[np.floating[Any]],
    final_loss: npt.NDArray[np.floating[Any]],
    X: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    training: Training,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(converged, diverged) of trained rows params (S, 9) F, final_loss (S,) F.

    Converged: final loss < tol, compared in F with tol rounded to F as the
    kernels have it (a float32 loss equal to float32(tol) does not count,
    even where float32(tol) < tol), or with a margin every sample's final
    error below it, by the training's own forward arithmetic. Diverged: a
    final parameter or the final loss is not finite; a row can be both.
    """
    F = training.float_type
    if training.margin is None:
        converged = final_loss < F(training.tol)
    else:
        converged = np.empty(params.shape[0], dtype=np.bool_)
        _kernels.within_margin(params, X.astype(F), y.astype(F), F(training.margin), training.tanh, converged)
    return converged, diverged_rows(params, final_loss)


def diverged_rows(
    params: npt.NDArray[np.floating[Any]], final_loss: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.bool_]:
    """Rows (S,) whose parameters (S, 9) or final loss (S,) are not all finite."""
    return ~(np.isfinite(params).all(axis=1) & np.isfinite(final_loss))


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """Outcome of ``sweep``: one row per seed, in the order the seeds were given.

    Attributes
    ----------
    seeds : ndarray of int64, shape (S,)
    params : ndarray, shape (S, 9), the sweep's dtype
        Final parameters, columns ``w1 .. w6, b1 .. b3``.
    final_loss : ndarray, shape (S,), the sweep's dtype
        Full-dataset MSE after the last epoch (of the starting parameters when
        ``epochs == 0``).
    epochs_to_tol : ndarray of int64, shape (S,), or None
        The first epoch count k >= 1 after which the full-dataset MSE is below
        ``tol`` (with a ``margin``: every sample's error is below it; exact,
        evaluated after every epoch), -1 if never; None for a sweep made with
        ``epochs_to_tol=False``.
    converged : ndarray of bool, shape (S,)
        ``final_loss < tol``; with a ``margin``, every sample's final
        ``|y - ypred| < margin`` (in float32 with ``tol`` and ``margin``
        rounded to float32).
    diverged : ndarray of bool, shape (S,)
        A final parameter or the final loss is not finite. A network whose
        weight overflowed can still have a loss below tol (saturated units on
        their targets): it is then both; ``converged & ~diverged`` leaves it out.
    X, y : ndarray of float64
        The training data.
    epochs, lr, tol, dtype, lr_output, momentum, activation, margin, init, init_scale, params0 :
        The settings, as given to ``sweep`` (``dtype`` as a string, "float64"
        or "float32"); a per-network setting is an array of shape (S,),
        ``params0`` (S, 9), one row per seed.
    wall_seconds : float
        Training time of this call, without the one-off compile or cache load
        of the kernel; NaN for a result read by ``load_sweep`` from a store.
    complete : bool
        False for a partial store read by ``load_sweep``: then only the rows of
        the finished chunks are present.
    computed : int
        Seeds trained by this call; the others were read from a store (0 for a
        result read from a store).
    """

    seeds: npt.NDArray[np.int64]
    params: npt.NDArray[np.floating[Any]]
    final_loss: npt.NDArray[np.floating[Any]]
    epochs_to_tol: npt.NDArray[np.int64] | None
    converged: npt.NDArray[np.bool_]
    diverged: npt.NDArray[np.bool_]
    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    epochs: int
    lr: float | npt.NDArray[np.float64]
    tol: float
    dtype: str
    wall_seconds: float = math.nan
    complete: bool = True
    computed: int = 0
    lr_output: float | npt.NDArray[np.float64] | None = None
    momentum: float | npt.NDArray[np.float64] = 0.0
    activation: str = "sigmoid"
    margin: float | None = None
    init: str = "normal"
    init_scale: float | npt.NDArray[np.float64] = 1.0
    params0: npt.NDArray[np.float64] | None = None

    @classmethod
    def from_rows(
        cls,
        seeds: npt.NDArray[np.int64],
        params: npt.NDArray[np.floating[Any]],
        final_loss: npt.NDArray[np.floating[Any]],
        epochs_to_tol: npt.NDArray[np.int64],
        X: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        training: Training,
        wall_seconds: float = math.nan,
        complete: bool = True,
        computed: int = 0,
    ) -> SweepResult:
        """A result from trained rows and their ``Training``; ``converged`` and ``diverged`` derived.

        ``epochs_to_tol`` is dropped (None) when the training did not track it.
        """
        t = training
        converged, diverged = outcomes(params, final_loss, X, y, t)
        return cls(
            seeds=seeds,
            params=params,
            final_loss=final_loss,
            epochs_to_tol=epochs_to_tol if t.epochs_to_tol else None,
            converged=converged,
            diverged=diverged,
            X=X,
            y=y,
            wall_seconds=wall_seconds,
            complete=complete,
            computed=computed,
            **{name: getattr(t, name) for name in _SETTINGS},
        )

    def training(self) -> Training:
        """The settings as a ``Training``."""
        return Training(
            **{name: getattr(self, name) for name in _SETTINGS}, epochs_to_tol=self.epochs_to_tol is not None
        )

    @property
    def n(self) -> int:
        """Number of seeds."""
        return int(self.seeds.shape[0])

    @property
    def success_rate(self) -> float:
        """Fraction of seeds that converged (see ``converged``: loss below tol, or the margin)."""
        return float(np.mean(self.converged)) if self.n else math.nan

    @property
    def success_ci95(self) -> tuple[float, float]:
        """95 % Wilson score interval of ``success_rate``, (lo, hi)."""
        return wilson_interval(int(np.count_nonzero(self.converged)), self.n)

    @property
    def runs_per_second(self) -> float:
        """Seeds trained by this call per second of ``wall_seconds`` (NaN when unknown)."""
        return per_second(self.computed, self.wall_seconds)

    def report(self) -> dict[str, Any]:
        """The headline numbers as a strict-JSON dict (what ``fastbackprop sweep --json`` prints).

        Keys: seeds, complete (False for a partial store's rows), epochs, lr,
        dtype, tol, then the options not at their
        defaults (lr_output, momentum, activation, margin, init, init_scale,
        params0, epochs_to_tol (False when not tracked); a per-network array as
        its min and max), converged, diverged, success_rate,
        success_ci95, final_loss_quantiles (10/25/50/75/90 %, finite losses),
        median_epochs_to_tol (over seeds that reached tol; None when not
        tracked), wall_seconds,
        computed, runs_per_second (seeds trained by this call per second).
        A value that does not exist -- no seeds, no finite loss, no timing --
        is None, never NaN.
        """
        finite = self.final_loss[np.isfinite(self.final_loss)].astype(np.float64)
        q = np.quantile(finite, QUANTILES) if finite.size else [None] * len(QUANTILES)
        return {
            "seeds": self.n,
            "complete": self.complete,
            "epochs": self.epochs,
            "lr": _json_setting(self.lr),
            "dtype": self.dtype,
            "tol": self.tol,
            **_options_json(self._options()),
            **outcome_report(
                self,
                final_loss_quantiles={f"{p:g}": None if v is None else float(v) for p, v in zip(QUANTILES, q)},
            ),
        }

    def summary(self) -> str:
        """A short human-readable report of ``report()``."""
        r = self.report()
        lo, hi = r["success_ci95"]
        quantiles = ", ".join(f"{float(k):.0%} {v:.3g}" for k, v in r["final_loss_quantiles"].items() if v is not None)
        rate = "no seeds" if r["success_rate"] is None else f"{r['success_rate']:.2%} (95% CI {lo:.2%} .. {hi:.2%})"
        criterion = "final loss < tol" if self.margin is None else "every final |y - ypred| < margin"
        partial = "" if self.complete else " (incomplete: not every seed planned has finished)"
        judged = f", tol {self.tol:g}" if self.margin is None else ""  # with a margin, tol decides nothing
        lines = [
            f"{self.n} seeds{partial}, {self.epochs} epochs, lr {_show_setting(self.lr)}, {self.dtype}"
            f"{judged}{_options_text(self._options())}",
            f"converged ({criterion}): {r['converged']}/{self.n} = {rate}"
            + (f"; diverged: {r['diverged']}" if r["diverged"] else ""),
            "final loss quantiles: " + (quantiles or "none finite"),
            ("epochs to tol: " if self.margin is None else "epochs to margin: ")
            + epochs_to_tol_text(r, self.epochs_to_tol is not None, "seeds", self.epochs),
        ]
        if math.isfinite(self.wall_seconds):
            lines.append(trained_text(self.wall_seconds, self.computed, self.n, "seeds"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        changed = _changed(self._options())
        options = "".join(f"{n}={_show_setting(v)}, " for n, v in changed.items() if n != "params0")
        return (
            f"SweepResult(n={self.n}, epochs={self.epochs}, lr={_show_setting(self.lr)}, dtype={self.dtype!r}, "
            f"tol={self.tol:g}, {options}success_rate={self.success_rate:.4g}"
            + ("" if self.complete else ", complete=False")
            + ")"
        )

    def _options(self) -> dict[str, Any]:
        """The options as ``Training`` has them, params0 last."""
        t = self.training()
        return {**{n: getattr(t, n) for n in _OPTIONS}, "params0": self.params0}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to exactly ``path`` (no suffix added) as a NumPy .npz file, atomically.

        ``load_sweep(path)`` reads it back bit for bit.
        """
        # A setting that is None is left out, and read back as its default.
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        write_atomic(path, lambda f: np.savez(f, format_version=FORMAT_VERSION, package_version=__version__, **fields))


def made_with(path: str | os.PathLike[str]) -> str | None:
    """The fastbackprop version that wrote the sweep file or store at ``path``, or None if it does not say."""
    if os.path.isdir(path):
        version = manifest_settings(os.fspath(path)).get("package_version")
    else:
        with np.load(path, allow_pickle=False) as f:
            version = f["package_version"] if "package_version" in f else None
            version = version.item() if version is not None and version.shape == () else None
    return version if isinstance(version, str) else None


def load_sweep(path: str | os.PathLike[str]) -> SweepResult:
    """Read a ``SweepResult`` from a file written by ``SweepResult.save`` or from a store.

    Parameters
    ----------
    path : str or os.PathLike
        A sweep file (.npz, as written by ``save`` or ``fastbackprop sweep
        --out``), or a store (the folder given as ``sweep(..., store=PATH)``),
        which may be partial: then ``complete`` is False and only the finished
        chunks' rows are present.

    Returns
    -------
    SweepResult
        Bit for bit what was saved; ``wall_seconds`` NaN and ``computed`` 0
        for a store.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        A map's file or store (read it with ``load_map``), a file that is not a
        sweep file or of a format version this release does not read, a damaged
        file or manifest, values that a sweep cannot hold, or a file too large
        to read.
    """
    path = existing_path(path, "sweep file or store")
    if os.path.isdir(path):
        kind = store_kind(manifest_settings(path))  # a grid's store is a sweep too: its cells' networks
        check_kind(None if kind == "grid" else kind, "sweep", f"store {path!r}")  # before reading its rows
        settings, inputs, rows, (params, final_loss, etl, _, _) = read_store(path)
        seeds = inputs["seeds"]

        def setting(name: str, default: Any) -> Any:
            """A stored setting; a per-network array with the rows that have results."""
            if name in inputs:
                return inputs[name][rows]
            value = settings.get(name, default)  # a version-2 store has only defaults
            return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

        training = Training(
            epochs=int(settings["epochs"]),
            lr=setting("lr", None),
            tol=float(settings["tol"]),
            dtype=str(settings["dtype"]),
            lr_output=setting("lr_output", None),
            momentum=setting("momentum", 0.0),
            activation=str(settings.get("activation", "sigmoid")),
            margin=setting("margin", None),
            init=str(settings.get("init", "normal")),
            init_scale=setting("init_scale", 1.0),
            params0=setting("params0", None),
            epochs_to_tol=bool(settings.get("epochs_to_tol", OMITTED_AT_DEFAULT["epochs_to_tol"])),
        )
        X, y = inputs["X"], inputs["y"]
        return SweepResult.from_rows(
            seeds[rows], params, final_loss, etl, X, y, training, complete=rows.shape[0] == seeds.shape[0]
        )
    check_npz_sizes(path)  # a damaged or hostile file is refused before anything is allocated
    with np.load(path, allow_pickle=False) as f:
        check_kind(npz_kind(f), "sweep", f"path {path!r}")
        version = f["format_version"] if "format_version" in f and "format" not in f else None
        if version is None or not is_version(version, _READABLE):
            raise ValueError(f"path {str(path)!r} is not a fastbackprop sweep file (versions {_READABLE})")
        # Arrays are saved as arrays, settings as 0-d arrays: .item() gives back
        # the Python int, float, str or bool (whatever the annotations say).
        fields: dict[str, Any] = {}
        for field in dataclasses.fields(SweepResult):
            if field.name not in f and field.default is not dataclasses.MISSING:
                continue  # a field added since the file was written: its default
            if field.name == "epochs_to_tol" and field.name not in f and version.item() >= 3:
                fields[field.name] = None  # not tracked (save leaves a None out)
                continue
            if field.name not in f:
                raise ValueError(f"path {str(path)!r} is a damaged sweep file: {field.name} is missing")
            value = f[field.name]
            fields[field.name] = value.item() if value.ndim == 0 else value
    _check_loaded(fields, path)
    # a file written before NaNs were made one (merging it with today's rows compares bits)
    fields["params"], fields["final_loss"] = canonical_nans((fields["params"], fields["final_loss"]))
    return SweepResult(**fields)


def _check_loaded(fields: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Refuse a sweep file whose fields do not fit together (edited or damaged)."""
    S = np.shape(fields["seeds"])[0] if np.ndim(fields["seeds"]) == 1 else -1
    dtype = fields["dtype"]
    F = DTYPES[dtype] if isinstance(dtype, str) and dtype in DTYPES else None
    shapes_ok = (
        S >= 0
        and np.shape(fields["params"]) == (S, N_PARAMS)
        and all(np.shape(fields[k]) == (S,) for k in ("final_loss", "converged", "diverged"))
        and (fields["epochs_to_tol"] is None or np.shape(fields["epochs_to_tol"]) == (S,))
        and np.ndim(fields["X"]) == 2
        and np.shape(fields["X"])[1:] == (2,)
        and np.shape(fields["y"]) == np.shape(fields["X"])[:1]
    )
    types_ok = F is not None and fields["params"].dtype == F and fields["final_loss"].dtype == F
    for name in PER_ROW:
        value = fields.get(name)
        if isinstance(value, np.ndarray):
            row = (N_PARAMS,) if name == "params0" else ()
            shapes_ok = shapes_ok and value.shape == (S, *row) and value.dtype == np.float64
        elif value is not None and not isinstance(value, (int, float)):
            types_ok = False
    choices = (("activation", ACTIVATIONS), ("init", INITS))
    types_ok = types_ok and all(isinstance(v := fields.get(name, c[0]), str) and v in c for name, c in choices)
    kinds = {"seeds": "i", "epochs_to_tol": "i", "converged": "b", "diverged": "b", "X": "f", "y": "f"}
    types_ok = types_ok and all(
        np.asarray(v).dtype.kind == kinds[k] for k, v in fields.items() if k in kinds and v is not None
    )
    # the settings, data and seeds as a sweep takes them (a hand-edited file could hold anything)
    recorded = ("epochs", "lr", "tol", "lr_output", "margin", "init_scale", "momentum")
    values_ok = types_ok and recorded_settings_ok({k: fields.get(k) for k in recorded})
    if shapes_ok and values_ok:
        values_ok = recorded_data_ok(fields["X"], fields["y"], fields.get("activation", "sigmoid"))
        values_ok = values_ok and bool(np.all(fields["seeds"] >= 0))
    complete = fields.get("complete", True)
    counts_ok = fields["epochs"] is not None and isinstance(complete, bool)
    wall, computed = fields.get("wall_seconds", math.nan), fields.get("computed", 0)
    counts_ok = counts_ok and isinstance(wall, float) and not wall < 0 and wall != math.inf
    # (computed may exceed the rows: a merge of overlapping parts counts every part's)
    counts_ok = counts_ok and isinstance(computed, int) and not isinstance(computed, bool) and computed >= 0
    if not (shapes_ok and values_ok and counts_ok):
        raise ValueError(f"path {str(path)!r} is a damaged sweep file: its fields do not fit together")


@dataclasses.dataclass(frozen=True, eq=False)
class GridResult:
    """Outcome of ``grid``: success rates over learning rates (x momenta) x training lengths.

    Attributes
    ----------
    lrs : ndarray of float64, shape (L,)
        Learning rates, in the order given.
    epochs : ndarray of int64, shape (E,)
        Training lengths, increasing.
    seeds : ndarray of int64, shape (S,)
    loss : ndarray, shape (L, E, S), or (L, M, E, S) with momenta; the grid's dtype
        Full-dataset MSE of each seed after ``epochs[j]`` epochs at ``lrs[i]``
        (and ``momenta[k]``), all read from one training run of each network,
        for the longest length.
    epochs_to_tol : ndarray of int64, shape (L, S), or (L, M, S) with momenta, or None
        As in ``SweepResult``, for the longest run; None when not tracked.
    diverged : ndarray of bool, shape (L, S), or (L, M, S) with momenta
        As in ``SweepResult``, at the end of the longest run: a final parameter
        or the final loss is not finite (in a ``GridResult`` made without it,
        the final loss alone).
    tol, dtype, X, y, wall_seconds, activation, lr_output, init, init_scale, params0, margin :
        As in ``SweepResult``.
    momenta : ndarray of float64, shape (M,), or None
        Momenta, in the order given, when the grid has a momentum axis.
    within_margin : ndarray of bool, the shape of ``loss``, or None
        With a ``margin``: whether every sample's ``|y - ypred|`` was below it
        after ``epochs[j]`` epochs (the cells' criterion, as ``converged`` is
        ``sweep``'s); None without one.
    computed : int
        Networks trained by this call, over all cells; the others were read
        from a store.
    complete : bool
        False for a merge of grids (``merge_grids``) that lacks seeds its
        parts or ``seeds`` planned (``missing_seeds`` lists them).
    """

    lrs: npt.NDArray[np.float64]
    epochs: npt.NDArray[np.int64]
    seeds: npt.NDArray[np.int64]
    loss: npt.NDArray[np.floating[Any]]
    epochs_to_tol: npt.NDArray[np.int64] | None
    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    tol: float
    dtype: str
    wall_seconds: float = math.nan
    momenta: npt.NDArray[np.float64] | None = None
    activation: str = "sigmoid"
    lr_output: float | npt.NDArray[np.float64] | None = None
    init: str = "normal"
    init_scale: float | npt.NDArray[np.float64] = 1.0
    params0: npt.NDArray[np.float64] | None = None
    margin: float | None = None
    within_margin: npt.NDArray[np.bool_] | None = None
    diverged: npt.NDArray[np.bool_] | None = None
    computed: int = 0
    complete: bool = True

    def __post_init__(self) -> None:
        if (self.margin is None) != (self.within_margin is None):
            raise ValueError("within_margin must be given with a margin, and only then")
        if not isinstance(self.complete, (bool, np.bool_)):
            raise TypeError(f"complete must be a bool, got {self.complete!r}")
        object.__setattr__(self, "complete", bool(self.complete))  # (NumPy's bool is not JSON's)
        if self.diverged is None:  # a grid made by hand from losses alone: what they show
            object.__setattr__(self, "diverged", ~np.isfinite(self.loss[..., -1, :]))

    @property
    def n(self) -> int:
        """Number of seeds per cell."""
        return int(self.seeds.shape[0])

    @property
    def successes(self) -> npt.NDArray[np.int64]:
        """Seeds with loss below tol (with a margin: every error below it), shape (L, E), or
        (L, M, E) with momenta; int64."""
        met = self.loss < DTYPES[self.dtype](self.tol) if self.within_margin is None else self.within_margin
        return np.count_nonzero(met, axis=-1).astype(np.int64)

    @property
    def success_rate(self) -> npt.NDArray[np.float64]:
        """Fraction converged per cell, shape (L, E), or (L, M, E) with momenta."""
        return self.successes / self.n

    @property
    def runs_per_second(self) -> float:
        """Networks trained by this call per second of ``wall_seconds`` (NaN when unknown)."""
        return per_second(self.computed, self.wall_seconds)

    @property
    def success_ci95(self) -> npt.NDArray[np.float64]:
        """Wilson 95 % intervals per cell, shape (L, E, 2), or (L, M, E, 2) with momenta."""
        k = self.successes
        return np.array([wilson_interval(int(c), self.n) for c in k.ravel()]).reshape(*k.shape, 2)

    def _cells(self) -> list[tuple[dict[str, Any], tuple[int, ...]]]:
        """Each cell's coordinates (lr, momentum if any) and its index into the (L, [M,]) axes, row-major."""
        if self.momenta is None:
            return [({"lr": float(lr)}, (i,)) for i, lr in enumerate(self.lrs)]
        return [
            ({"lr": float(lr), "momentum": float(m)}, (i, k))
            for i, lr in enumerate(self.lrs)
            for k, m in enumerate(self.momenta)
        ]

    def cells(self) -> list[dict[str, Any]]:
        """One dict per (lr, [momentum,] epochs) cell, in row-major order (JSON-ready)."""
        k, ci = self.successes, self.success_ci95
        return [
            {
                **where,
                "epochs": int(ep),
                "successes": int(k[at][j]),
                "n": self.n,
                "success_rate": float(k[at][j] / self.n),
                "success_ci95": [float(ci[at][j, 0]), float(ci[at][j, 1])],
            }
            for where, at in self._cells()
            for j, ep in enumerate(self.epochs)
        ]

    def to_frame(self) -> Any:
        """The cells as a pandas DataFrame (needs pandas, which is not a dependency)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("GridResult.to_frame needs pandas: pip install pandas") from None
        rows = [dict(c, ci_lo=c["success_ci95"][0], ci_hi=c["success_ci95"][1]) for c in self.cells()]
        for r in rows:
            del r["success_ci95"]
        axes = ["lr"] if self.momenta is None else ["lr", "momentum"]
        return pd.DataFrame(rows, columns=[*axes, "epochs", "successes", "n", "success_rate", "ci_lo", "ci_hi"])

    def _options(self) -> dict[str, Any]:
        """The training options a grid has (its momenta are an axis)."""
        names = ("lr_output", "activation", "margin", "init", "init_scale", "params0")
        return {**{n: getattr(self, n) for n in names}, "epochs_to_tol": self.epochs_to_tol is not None}

    def _diverged_counts(self) -> npt.NDArray[np.intp]:
        """Networks diverged per learning rate (and momentum), shape (L,) or (L, M)."""
        assert self.diverged is not None  # (set in __post_init__)
        return np.count_nonzero(self.diverged, axis=-1)

    def report(self) -> dict[str, Any]:
        """The grid as a strict-JSON dict (what ``fastbackprop grid --json`` prints).

        Keys: seeds (per cell), complete (False for a merge that lacks seeds
        planned), dtype, tol, the options not at their defaults
        (as in ``SweepResult.report``), lrs, momenta (only with a momentum
        axis), epochs, cells (``cells()``), diverged (networks diverged by the
        end of the longest run, per learning rate, or per learning rate and
        momentum: nested lists of shape (L,) or (L, M)), wall_seconds,
        computed (networks trained by this call, all cells), runs_per_second.
        A value that does not exist is None, never NaN.
        """
        return {
            "seeds": self.n,
            "complete": self.complete,
            "dtype": self.dtype,
            "tol": self.tol,
            **_options_json(self._options()),
            "lrs": self.lrs.tolist(),
            **({} if self.momenta is None else {"momenta": self.momenta.tolist()}),
            "epochs": self.epochs.tolist(),
            "cells": self.cells(),
            "diverged": self._diverged_counts().tolist(),
            "wall_seconds": _number(self.wall_seconds),
            "computed": self.computed,
            "runs_per_second": _number(self.runs_per_second),
        }

    def summary(self) -> str:
        """A short human-readable report: the settings, ``table()``, the networks trained."""
        criterion = f", tol {self.tol:g}" if self.margin is None else ""  # a margin replaces it
        options = _options_text(self._options())
        partial = "" if self.complete else " (incomplete: seeds planned are missing)"
        lines = [
            f"{self.n} seeds per cell{partial}, {self.dtype}{criterion}{options}; success rate [95% CI]",
            self.table(),
        ]
        cells = self.lrs.shape[0] * (1 if self.momenta is None else self.momenta.shape[0])
        diverged = self._diverged_counts()
        if diverged.any():
            where = "; ".join(
                f"{diverged[at]} at " + ", ".join(f"{name} {v:g}" for name, v in w.items())
                for w, at in self._cells()
                if diverged[at]
            )
            lines.append(f"diverged by epoch {self.epochs[-1]}: {where}")
        if math.isfinite(self.wall_seconds):
            lines.append(trained_text(self.wall_seconds, self.computed, cells * self.n, "networks"))
        return "\n".join(lines)

    def table(self) -> str:
        """Success rates as a text table: one row per lr (and momentum), one column per epochs value."""
        ci, rate = self.success_ci95, self.success_rate
        width = 22
        label = "lr \\ epochs" if self.momenta is None else "lr, momentum"
        first = 12 if self.momenta is None else 20
        head = label.ljust(first) + "".join(f"{int(e):>{width}}" for e in self.epochs)
        lines = [head]
        for where, at in self._cells():
            name = ", ".join(f"{v:g}" for v in where.values())
            cells = "".join(
                f"{f'{rate[at][j]:.1%} [{ci[at][j, 0]:.1%}, {ci[at][j, 1]:.1%}]':>{width}}"
                for j in range(self.epochs.shape[0])
            )
            lines.append(f"{name:<{first}}{cells}")
        return "\n".join(lines)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to exactly ``path`` (no suffix added) as a NumPy .npz file, atomically.

        ``load_grid(path)`` reads it back bit for bit.
        """
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        write_atomic(
            path,
            lambda f: np.savez(
                f, format=NPZ_FORMATS["grid"], format_version=GRID_FORMAT_VERSION, package_version=__version__, **fields
            ),
        )

    def __repr__(self) -> str:
        momenta = "" if self.momenta is None else f"momenta={self.momenta.tolist()}, "
        act = "" if self.activation == "sigmoid" else f"activation={self.activation!r}, "
        criterion = f"tol={self.tol:g}" if self.margin is None else f"margin={self.margin:g}"
        return (
            f"GridResult(n={self.n}, lrs={self.lrs.tolist()}, {momenta}epochs={self.epochs.tolist()}, "
            f"{act}dtype={self.dtype!r}, {criterion}" + ("" if self.complete else ", complete=False") + ")"
        )


def load_grid(path: str | os.PathLike[str]) -> GridResult:
    """Read a ``GridResult`` from a file written by ``GridResult.save`` or from a grid's store.

    Parameters
    ----------
    path : str or os.PathLike
        A grid file (.npz, as written by ``save`` or ``fastbackprop grid
        --out``), or a grid's store (``grid(..., store=PATH)``) in which every
        network has finished.

    Returns
    -------
    GridResult
        Bit for bit what was saved, or what the grid returned; ``wall_seconds``
        NaN and ``computed`` 0 for a store.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        A sweep's or a map's file or store (read it with ``load_sweep`` or
        ``load_map``), a grid's store with networks still to train (rerun the
        grid with it to finish them), a file that is not a grid file of this
        format version, a damaged file or store, or one too large to read.
    """
    path = existing_path(path, "grid file or store")
    if os.path.isdir(path):
        return _grid_from_store(path)
    check_npz_sizes(path, "grid file")
    with np.load(path, allow_pickle=False) as f:
        check_npz_format(f, "grid", GRID_FORMAT_VERSION, path)
        fields: dict[str, Any] = {}
        for field in dataclasses.fields(GridResult):
            if field.name in f:
                value = f[field.name]  # (C order, as a grid's: np.save keeps a Fortran-ordered array's)
                fields[field.name] = value.item() if value.ndim == 0 else np.ascontiguousarray(value)
            elif field.name == "epochs_to_tol" or field.default is not dataclasses.MISSING:
                fields[field.name] = None if field.name == "epochs_to_tol" else field.default  # None: not saved
            else:
                raise ValueError(f"path {path!r} is a damaged grid file: {field.name} is missing")
    if not _grid_fits(fields):
        raise ValueError(f"path {path!r} is a damaged grid file: its fields do not fit together")
    return GridResult(**fields)


def _grid_from_store(path: str) -> GridResult:
    """The ``GridResult`` of a finished grid's store: bit for bit what the grid returned."""
    if settings := manifest_settings(path):  # (unreadable: read_store says so)
        check_kind(store_kind(settings), "grid", f"store {path!r}")  # before reading its rows
    settings, inputs, rows, (params, final_loss, etl, loss_at, within_at) = read_store(path, "grid store")
    n = inputs["seeds"].shape[0]
    if rows.shape[0] < n:
        raise ValueError(
            f"store {path!r} holds a grid with {n - rows.shape[0]:,} of its {n:,} networks without results "
            "(not trained yet, or their chunks damaged): run the same grid with this store to train them "
            "(load_sweep reads those finished)"
        )
    cells = settings["grid"]  # (checked by read_store: as many rows as cells x seeds)
    lrs = np.array(cells["lrs"], dtype=np.float64)
    momenta = None if cells["momenta"] is None else np.array(cells["momenta"], dtype=np.float64)
    S, L = cells["seeds"], lrs.shape[0]
    M = 1 if momenta is None else momenta.shape[0]
    axes = (L,) if momenta is None else (L, M)
    epochs = np.array(settings["record_at"], dtype=np.int64)
    E = epochs.shape[0]
    if not _rows_are_cells(settings, inputs, lrs, momenta, S) or not (E and epochs[-1] == settings["epochs"]):
        raise ValueError(f"store {path!r} is a damaged grid store: its rows are not its grid's cells")

    def per_seed(name: str, default: Any) -> Any:
        """A setting of the grid's seeds: one row each (every cell's the same), or one value."""
        if name in inputs:
            return inputs[name][:S].copy()  # not a view keeping every cell's rows
        value = settings.get(name, default)
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def by_cell(rows: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Rows (L*M*S, E), seed after seed of cell after cell, as the grid's (L, [M,] E, S)."""
        return np.ascontiguousarray(rows.reshape(L * M, S, E).transpose(0, 2, 1)).reshape(*axes, E, S)

    margin = settings.get("margin")
    tracked = settings.get("epochs_to_tol", OMITTED_AT_DEFAULT["epochs_to_tol"])
    return GridResult(
        lrs=lrs,
        epochs=epochs,
        seeds=inputs["seeds"][:S].copy(),
        loss=by_cell(loss_at),
        epochs_to_tol=etl.reshape(*axes, S) if tracked else None,
        X=inputs["X"],
        y=inputs["y"],
        tol=float(settings["tol"]),
        dtype=str(settings["dtype"]),
        momenta=momenta,
        activation=str(settings.get("activation", "sigmoid")),
        lr_output=per_seed("lr_output", None),
        init=str(settings.get("init", "normal")),
        init_scale=per_seed("init_scale", 1.0),
        params0=per_seed("params0", None),
        margin=None if margin is None else float(margin),
        within_margin=None if margin is None else by_cell(within_at),
        diverged=diverged_rows(params, final_loss).reshape(*axes, S),
    )


def _rows_are_cells(
    settings: dict[str, Any],
    inputs: dict[str, npt.NDArray[Any]],
    lrs: npt.NDArray[np.float64],
    momenta: npt.NDArray[np.float64] | None,
    S: int,
) -> bool:
    """Whether a store's rows are its grid's: the first S seeds once per cell, each cell's learning rate
    and momentum (lr outer) theirs, every other per-network setting the same in every cell."""
    M = 1 if momenta is None else momenta.shape[0]
    K = lrs.shape[0] * M

    def tiled(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.tile(a[:S], (K,) + (1,) * (a.ndim - 1))

    per_cell = {"lr": np.repeat(np.repeat(lrs, M), S)}
    if momenta is not None:
        per_cell["momentum"] = np.repeat(np.tile(momenta, lrs.shape[0]), S)
    elif settings.get("momentum", 0.0) != 0.0 or "momentum" in inputs:
        return False
    return all(name in inputs and np.array_equal(inputs[name], v) for name, v in per_cell.items()) and all(
        np.array_equal(inputs[name], tiled(inputs[name])) for name in ("seeds", *GRID_PER_SEED) if name in inputs
    )


def _grid_fits(f: dict[str, Any]) -> bool:
    """Whether the fields read from a grid file make a GridResult that ``grid`` could have returned
    (an edited or hand-made file may not): shapes, dtypes, settings as ``grid`` validates them,
    and outcomes that agree with the losses."""
    arrays = ("lrs", "epochs", "seeds", "loss", "X", "y", "diverged")
    if not all(isinstance(f[k], np.ndarray) for k in arrays) or not isinstance(f["dtype"], str):
        return False
    lrs, momenta, epochs, seeds, loss = f["lrs"], f["momenta"], f["epochs"], f["seeds"], f["loss"]
    if not (lrs.ndim == epochs.ndim == seeds.ndim == 1 and (momenta is None or isinstance(momenta, np.ndarray))):
        return False
    cells = lrs.shape if momenta is None else (*lrs.shape, *momenta.shape)
    E, S = epochs.shape[0], seeds.shape[0]
    etl, within, margin = f["epochs_to_tol"], f["within_margin"], f["margin"]
    shapes_ok = (
        lrs.dtype == np.float64
        and (momenta is None or (momenta.ndim == 1 and momenta.dtype == np.float64))
        and epochs.dtype == np.int64
        and seeds.dtype == np.int64
        and f["X"].dtype == f["y"].dtype == np.float64
        and 0 < E <= MAX_LENGTHS
        and 0 < S  # (no seeds: cells of nothing, as many as the file likes)
        and 0 < lrs.shape[0]
        and loss.dtype == DTYPES.get(f["dtype"])
        and loss.shape == (*cells, E, S)
        and f["diverged"].dtype == np.bool_
        and f["diverged"].shape == (*cells, S)
        and (etl is None or (isinstance(etl, np.ndarray) and etl.dtype == np.int64 and etl.shape == (*cells, S)))
        and (margin is None) == (within is None)
        and (
            within is None
            or (isinstance(within, np.ndarray) and within.dtype == np.bool_ and within.shape == loss.shape)
        )
        and all(
            not isinstance(f[k], np.ndarray) or (f[k].dtype == np.float64 and f[k].shape == (S, *row))
            for k, row in GRID_PER_SEED.items()
        )
    )
    if not shapes_ok:
        return False
    computed, wall = f["computed"], f["wall_seconds"]
    options = {k: f[k] for k in ("lr_output", "activation", "margin", "init", "init_scale", "params0")}
    try:  # what grid refuses, a file may not hold
        if not np.all(epochs[1:] > epochs[:-1]) or epochs[0] < 1 or epochs[-1] > MAX_EPOCHS:
            raise ValueError("lengths not increasing in [1, MAX_EPOCHS]")
        training = check_grid_training(
            lrs, momenta, epochs, dtype=f["dtype"], tol=f["tol"], epochs_to_tol=etl is not None, **options
        )
        X, y = check_dataset(f["X"], f["y"], training.activation)
        check_representable(X, y, training)
    except (ValueError, TypeError):
        return False
    with np.errstate(invalid="ignore"):
        outcomes_ok = (
            not np.any(loss < 0)
            and not np.any(np.isnan(loss[..., -1, :]) & ~f["diverged"])  # a NaN final loss is divergence
            and (within is None or not np.any(within & np.isnan(loss)))  # a NaN error is never within a margin
            and (etl is None or bool(np.all((etl == -1) | ((etl >= 1) & (etl <= epochs[-1])))))
        )
    return (
        outcomes_ok
        and bool(np.all(seeds >= 0))
        and all(isinstance(f[k], float) for k in ("tol", "wall_seconds"))
        and all(f[k] is None or isinstance(f[k], (float, np.ndarray)) for k in ("lr_output", "init_scale", "margin"))
        and isinstance(computed, int)
        and not isinstance(computed, bool)
        and computed >= 0  # (it may exceed the networks: a merge of overlapping parts counts every part's)
        and not (wall < 0 or wall == math.inf)
        and isinstance(f["complete"], bool)
    )
