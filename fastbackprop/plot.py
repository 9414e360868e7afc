"""Figures: loss curves, decision surfaces, sweep summaries, grid heat maps, trainability maps.

Needs matplotlib (``pip install 'fastbackprop[plot]'``). Every function
returns a ``matplotlib.figure.Figure`` built without pyplot, so nothing is
shown and no global figure state is touched; save it with ``fig.savefig``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._settings import OUTPUT_LOW

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .maps import MapResult
    from .network import Network
    from .results import GridResult, SweepResult

_FONT: dict[Any, Any] = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9}


_NEEDS_MATPLOTLIB = "fastbackprop.plot needs matplotlib: pip install 'fastbackprop[plot]'"


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, Any]:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(_NEEDS_MATPLOTLIB) from None
    with matplotlib.rc_context(_FONT):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(1, ncols)
    return fig, axes


def _expect(value: Any, kind: type, name: str) -> None:
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")


def _history(history: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A loss history (epochs,) of reals, as float64 (a diverged run's inf and NaN allowed)."""
    try:
        h = np.asarray(history)
    except ValueError:  # ragged
        h = np.asarray(history, dtype=object)
    if h.dtype.kind not in "iuf":
        raise TypeError(f"history must hold real numbers, got {h.dtype} ({type(history).__name__})")
    if h.ndim != 1 or h.shape[0] == 0:
        raise ValueError(f"history must be a non-empty 1-d array (one loss an epoch), got shape {h.shape}")
    return h.astype(np.float64, copy=False)  # a long run's history is not held twice


def _surface_inputs(
    net: Network, X: npt.ArrayLike, y: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """X (n, 2) and y (n,) checked as for training ``net``, which must be a Network."""
    from ._validation import check_dataset
    from .network import Network

    _expect(net, Network, "net")
    X, y = check_dataset(X, y, net.activation)
    if np.abs(X).max() > 10.0**WIDE:  # matplotlib's axes overflow near the float range's ends
        raise ValueError(f"X must lie within ±1e{WIDE} to be drawn, got {np.abs(X).max():g}")
    return X, y


#: A loss curve of more epochs draws, of each of this many runs of epochs, the lowest and the highest
#: loss: what a screen shows, where every point of 10**9 epochs exhausted memory in matplotlib.
CURVE_BUCKETS = 20_000
#: The smallest loss a map's colour scale shows; lower ones, and 0, take its colour.
LOSS_FLOOR = 1e-250


def _thinned(history: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(epochs, losses) to draw: every epoch, or for a long history each bucket's extremes, the first and the
    last (a bucket holding a NaN draws that NaN, a gap, as a NaN in a short history does)."""
    n = history.shape[0]
    if n <= 2 * CURVE_BUCKETS:
        return np.arange(1, n + 1), history
    m = -(-n // CURVE_BUCKETS)  # epochs a bucket: at most CURVE_BUCKETS of them, the last one shorter
    full = n // m
    body = history[: full * m].reshape(full, m)
    starts = np.arange(full) * m
    tail = history[full * m :]
    ends = [full * m + tail.argmin(), full * m + tail.argmax()] if tail.size else []
    extremes = [starts + body.argmin(axis=1), starts + body.argmax(axis=1), np.array([0, *ends, n - 1], np.int64)]
    at = np.unique(np.concatenate(extremes))
    return at + 1, history[at]


def _loss_axes(ax: Axes, history: npt.NDArray[np.float64]) -> None:
    """The loss curve on ``ax``: a history checked by ``_history``."""
    ax.plot(*_thinned(history), color="C0", lw=1.5)
    if np.any(history > 0):  # a loss of exactly 0 all along (saturated units) has no log scale
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("full-dataset MSE")
    ax.set_title("Training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlim(1, max(2, history.shape[0]))


def _surface_axes(fig: Figure, ax: Axes, net: Network, X: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> None:
    """The decision surface on ``ax``: X (n, 2) and y (n,) checked by ``_surface_inputs``."""
    low = OUTPUT_LOW[net.activation]  # the output's range is [low, 1]; the boundary at its middle
    middle = (low + 1.0) / 2
    span = np.ptp(X, axis=0)
    pad = np.where(span > 0, 0.15 * span, 1.0)
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    z = net.predict(np.column_stack([g0.ravel(), g1.ravel()])).reshape(g0.shape)
    cs = ax.contourf(g0, g1, z, levels=np.linspace(low, 1, 11), cmap="RdBu_r", vmin=low, vmax=1)
    ax.contour(g0, g1, z, levels=[middle], colors="k", linewidths=1.2)
    for label, marker, colour in ((1.0, "o", "#b2182b"), (low, "s", "#2166ac")):
        sel = y == label
        if sel.any():
            ax.scatter(
                X[sel, 0], X[sel, 1], marker=marker, s=60, c=colour, edgecolors="k", label=f"y = {label:g}", zorder=3
            )
    other = (y != low) & (y != 1)
    if other.any():
        ax.scatter(
            X[other, 0],
            X[other, 1],
            marker="^",
            s=60,
            c=y[other],
            cmap="RdBu_r",
            vmin=low,
            vmax=1,
            edgecolors="k",
            label=f"{low:g} < y < 1",
            zorder=3,
        )
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title(f"Decision surface (black: ŷ = {middle:g})")
    ax.legend(loc="best", framealpha=0.9)
    fig.colorbar(cs, ax=ax, label="network output ŷ")


def loss_curve(history: npt.ArrayLike) -> Figure:
    """Loss history (shape (epochs,)) against epoch, log scale (linear when every loss is 0)."""
    history = _history(history)
    fig, ax = _figure(5.0, 3.5)
    _loss_axes(ax, history)
    return fig


def decision_surface(net: Network, X: npt.ArrayLike, y: npt.ArrayLike) -> Figure:
    """Network output over the input plane, with the samples (X, y) marked."""
    X, y = _surface_inputs(net, X, y)
    fig, ax = _figure(5.5, 4.5)
    _surface_axes(fig, ax, net, X, y)
    return fig


def train_summary(net: Network, history: npt.ArrayLike, X: npt.ArrayLike, y: npt.ArrayLike) -> Figure:
    """Loss curve beside the decision surface: the figure of ``fastbackprop train --plot``."""
    history, (X, y) = _history(history), _surface_inputs(net, X, y)
    fig, (a, b) = _figure(11.0, 4.3, ncols=2)
    _loss_axes(a, history)
    _surface_axes(fig, b, net, X, y)
    return fig


def sweep_summary(result: SweepResult) -> Figure:
    """Final-loss histogram (log axis, tol marked) beside the fraction of seeds that had met
    the criterion by each epoch (``epochs_to_tol``: the first time; a network may leave it later).

    With a margin, the criterion is every output within it, and the
    histogram's line marks tol only as a reference.
    """
    from .results import SweepResult, _show_setting

    _expect(result, SweepResult, "result")
    criterion = "loss < tol" if result.margin is None else f"every |y - ypred| < {result.margin:g}"
    fig, (a, b) = _figure(11.0, 4.0, ncols=2)
    loss = np.asarray(result.final_loss, dtype=float)
    finite = loss[np.isfinite(loss) & (loss > 0)]
    if finite.size:
        lo, hi = np.log10(finite.min()), np.log10(finite.max())
        bins = np.logspace(lo - 0.05, hi + 0.05, 50) if hi > lo else 10
        a.hist(finite, bins=bins, color="C0", alpha=0.85)
    else:  # every seed diverged (or reached 0): only tol is left to set the axis
        a.set_xlim(result.tol / 10, result.tol * 10)
        a.text(0.5, 0.5, "no positive finite final loss", ha="center", va="center", transform=a.transAxes)
    a.set_xscale("log")
    a.axvline(result.tol, color="C3", ls="--", lw=1.5, label=f"tol = {result.tol:g}")
    a.set_xlabel("final full-dataset MSE")
    a.set_ylabel("seeds")
    lo_ci, hi_ci = result.success_ci95
    if result.n:
        a.set_title(f"Final loss, {result.n:,} seeds: {result.success_rate:.1%} converged [{lo_ci:.1%}, {hi_ci:.1%}]")
    else:  # a partial store with no chunk finished
        a.set_title("Final loss: no seed finished yet")
    a.legend()
    if not result.n:
        b.text(0.5, 0.5, "no seed finished yet", ha="center", va="center")
    elif result.epochs_to_tol is None:
        b.text(0.5, 0.5, "epochs to tol not tracked\n(epochs_to_tol=False)", ha="center", va="center")
    elif result.epochs == 0:  # counted from epoch 1: the starts that meet the criterion would read as 0
        b.text(0.5, 0.5, "none searched\n(0 epochs trained)", ha="center", va="center")
    else:
        etl = np.asarray(result.epochs_to_tol)
        epochs = np.arange(0, result.epochs + 1)
        reached = np.sort(etl[etl >= 0])
        frac = np.searchsorted(reached, epochs, side="right") / result.n
        b.step(epochs, frac, where="post", color="C2", lw=1.5)
    b.set_ylim(0, 1)
    b.set_xlim(0, max(result.epochs, 1))
    b.set_xlabel("epoch")
    b.set_ylabel(f"fraction of seeds that had met {criterion}")
    reached_what = "tol" if result.margin is None else "margin"
    b.set_title(f"Epochs to {reached_what}, cumulative (lr {_show_setting(result.lr)}, {result.dtype})")
    b.grid(True, alpha=0.3)
    return fig


def grid_heatmap(grid_result: GridResult, epochs: int | None = None) -> Figure:
    """Success rate per cell, each annotated with its 95 % interval.

    Cells are (lr, epochs); for a grid with momenta, (lr, momentum) at one
    training length: ``epochs``, one of the grid's (default the longest).
    """
    from ._validation import check_int
    from .results import GridResult

    _expect(grid_result, GridResult, "grid_result")
    g = grid_result
    if epochs is not None:
        epochs = check_int(epochs, "epochs")
    if epochs is not None and g.momenta is None:
        raise ValueError("epochs picks the length shown of a grid with momenta; this grid shows every length")
    rate, ci = g.success_rate, g.success_ci95
    criterion = f"loss < {g.tol:g}" if g.margin is None else f"every |y - ypred| < {g.margin:g}"
    title = f"Success rate ({criterion}), {g.n:,} seeds per cell"
    if g.momenta is None:
        columns, xlabel = [f"{e:d}" for e in g.epochs], "epochs"
    else:
        if epochs is not None and epochs not in g.epochs:
            raise ValueError(f"epochs must be one of the grid's lengths {g.epochs.tolist()}, got {epochs!r}")
        j = -1 if epochs is None else int(np.flatnonzero(g.epochs == epochs)[0])
        rate, ci = rate[:, :, j], ci[:, :, j]
        columns, xlabel = [f"{m:g}" for m in g.momenta], "momentum"
        title += f", {int(g.epochs[j]):,} epochs"
    fig, ax = _figure(1.6 * len(columns) + 2.5, 0.6 * g.lrs.shape[0] + 1.8)
    im = ax.imshow(rate, cmap="viridis", vmin=0, vmax=1, aspect="auto", origin="lower")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(g.lrs.shape[0]), [f"{lr:g}" for lr in g.lrs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title(title)
    for i in range(g.lrs.shape[0]):
        for j in range(len(columns)):
            colour = "k" if rate[i, j] > 0.6 else "w"
            ax.text(
                j,
                i,
                f"{_percent(rate[i, j])}\n[{_percent(ci[i, j, 0])}, {_percent(ci[i, j, 1])}]",
                ha="center",
                va="center",
                color=colour,
                fontsize=8,
            )
    fig.colorbar(im, ax=ax, label="fraction converged")
    return fig


def _percent(x: float) -> str:
    """A fraction as a short percentage that never reads as 0 % or 100 % when it is not: 0.19 % as
    "0.2%", 0.99991 as "99.991%" (as many decimals as that takes, up to four)."""
    if x in (0.0, 1.0) or 0.01 <= x <= 0.99:
        return f"{x:.0%}"
    for digits in range(1, 5):
        text = f"{x:.{digits}%}"
        if text not in (f"{0:.{digits}%}", f"{1:.{digits}%}"):
            return text
    return "<0.0001%" if x < 0.5 else ">99.9999%"


#: Colours of a map's pixels that have no value on the colour scale.
NEVER_COLOUR = "#3a3a3a"  # trained, never met the criterion
DIVERGED_COLOUR = "#d62728"  # trained, overflowed
MAP_WHATS = ("epochs_to_tol", "final_loss", "converged")


#: Log-spaced maps whose pixel edges reach beyond 10**±WIDE are drawn against the exponents, on linear
#: axes: matplotlib's log axes overflow near the ends of the float range (its ticks, its margins).
WIDE = 250


def _edges(coords: npt.NDArray[np.float64], log: bool) -> npt.NDArray[np.float64]:
    """Pixel edges around coordinates; when log-spaced, the log10 of geometric midpoints."""
    c = np.log10(coords) if log else np.asarray(coords, dtype=float)
    if c.shape[0] == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def map_image(result: MapResult, what: str = "epochs_to_tol") -> Figure:
    """A trainability map: one pixel per network, axes labelled with the map's coordinates.

    what : {"epochs_to_tol", "final_loss", "converged"}
        The first epoch meeting the criterion (viridis; pixels that never did
        in dark grey), the final loss (log scale), or converged / not.
    Pixels that diverged are red whatever is drawn; those a partial store
    has not finished are left blank.
    """
    from .maps import MapResult

    _expect(result, MapResult, "result")
    try:
        from matplotlib.colors import ListedColormap, LogNorm
        from matplotlib.patches import Patch
        from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter
    except ImportError:
        raise ImportError(_NEEDS_MATPLOTLIB) from None

    if what not in MAP_WHATS:
        raise ValueError(f"what must be one of {', '.join(repr(w) for w in MAP_WHATS)}, got {what!r}")
    m = result
    if what == "epochs_to_tol" and m.epochs_to_tol is None:
        raise ValueError("this map was made with epochs_to_tol=False; draw what='final_loss' or 'converged'")
    if what == "epochs_to_tol" and m.epochs == 0:  # counted from epoch 1: every pixel would read "never"
        raise ValueError("this map trained 0 epochs, so none was searched; draw what='final_loss' or 'converged'")
    n1, n0 = m.shape
    fig, ax = _figure(6.4, 5.2)
    e0, e1 = _edges(m.coords0, m.log), _edges(m.coords1, m.log)
    exponents = m.log and max(np.abs(e0).max(), np.abs(e1).max()) > WIDE
    if m.log and not exponents:
        e0, e1 = 10.0**e0, 10.0**e1
    handles = []
    criterion = f"every |y - ypred| < {m.margin:g}" if m.margin is not None else f"loss < {m.tol:g}"
    if what == "epochs_to_tol":
        assert m.epochs_to_tol is not None
        etl = m.epochs_to_tol
        never = np.ma.masked_where(~(m.finished & (etl < 0)), np.ones(etl.shape))
        ax.pcolormesh(e0, e1, never, cmap=ListedColormap([NEVER_COLOUR]), rasterized=True)
        values = np.ma.masked_where(etl < 0, etl.astype(float))
        # log scale: a cliff is a pixel converging in tens of epochs beside one that never does
        norm = LogNorm(1, max(2, m.epochs))
        mesh = ax.pcolormesh(e0, e1, values, cmap="viridis", norm=norm, rasterized=True)
        fig.colorbar(mesh, ax=ax, label=f"first epoch with {criterion} (log scale)")
        handles.append(Patch(color=NEVER_COLOUR, label=f"not within {m.epochs:,} epochs"))
    elif what == "final_loss":
        loss = np.ma.masked_invalid(m.final_loss.astype(float))
        positive = loss[loss > 0]
        # losses of 0 (saturated units) and below LOSS_FLOOR are drawn at it: matplotlib's colorbar
        # takes a log range below ~1e-287 for a singular one
        lo = max(float(positive.min()), LOSS_FLOOR) if positive.size else LOSS_FLOOR
        hi = float(loss.max()) if loss.count() else 1.0
        norm = LogNorm(lo, hi if hi > lo else lo * 10)  # (a decade only where every loss is one)
        mesh = ax.pcolormesh(e0, e1, np.ma.maximum(loss, lo), cmap="viridis", norm=norm, rasterized=True)
        fig.colorbar(mesh, ax=ax, label=f"final full-dataset MSE after {m.epochs:,} epochs")
    else:
        values = np.ma.masked_where(~m.finished, m.converged.astype(float))
        ax.pcolormesh(e0, e1, values, cmap=ListedColormap([NEVER_COLOUR, "#fde725"]), vmin=0, vmax=1, rasterized=True)
        handles += [
            Patch(color="#fde725", label=f"{criterion} after {m.epochs:,} epochs"),
            Patch(color=NEVER_COLOUR, label="not"),
        ]
    diverged = m.finished & m.diverged
    if diverged.any():  # else blank (a NaN loss) or among those that never met the criterion
        layer = np.ma.masked_where(~diverged, np.ones(diverged.shape))
        ax.pcolormesh(e0, e1, layer, cmap=ListedColormap([DIVERGED_COLOUR]), rasterized=True)
        handles.append(Patch(color=DIVERGED_COLOUR, label="diverged"))
    if not m.complete:
        handles.append(Patch(facecolor="white", edgecolor="0.5", label="not trained yet"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    for axis, coords, edges, set_scale in (
        (ax.xaxis, m.coords0, e0, ax.set_xscale),
        (ax.yaxis, m.coords1, e1, ax.set_yscale),
    ):
        # a log axis over less than a decade has only minor ticks, labelled unreadably: keep it linear
        # (the pixels keep their geometric edges)
        if m.log and not exponents and coords[-1] / coords[0] >= 10:
            set_scale("log")
            if coords[-1] / coords[0] < 100:  # about a decade: labelled minor ticks run into each other
                axis.set_minor_formatter(NullFormatter())
        else:
            form = f"%.{_digits(edges)}g"
            axis.set_major_formatter(FormatStrFormatter(form))
            if axis is ax.xaxis:  # as many labels as fit side by side
                chars = max(len(form % v) for v in (edges[0], edges[-1], (edges[0] + edges[-1]) / 2))
                axis.set_major_locator(MaxNLocator(nbins=max(2, min(9, 48 // (chars + 2)))))
    if m.kind == "init":
        ax.set_xlabel(f"initial {m.axes[0]}")
        ax.set_ylabel(f"initial {m.axes[1]}")
        settings = f"lr {m.lr:g}" + ("" if m.lr_output is None else f", lr_output {m.lr_output:g}")
    else:
        of = "log10 of the " if exponents else ""
        ax.set_xlabel(f"{of}learning rate of the hidden layer (lr)")
        ax.set_ylabel(f"{of}learning rate of the output neuron (lr_output)")
        settings = "start " + (f"seed {m.base_seed}" if m.base_seed is not None else "given")
    momentum = f", momentum {m.momentum:g}" if m.momentum else ""
    outcome = "no network finished yet"
    if m.n:
        outcome = f"converged after {m.epochs:,} epochs: {m.success_rate:.1%} of {m.n:,}"
        outcome += f", diverged: {int(diverged.sum()):,}" if diverged.any() else ""
    ax.set_title(f"{n0} x {n1} networks, {m.activation}, {settings}{momentum}, {m.dtype}\n{outcome}", fontsize=10)
    return fig


def _digits(edges: npt.NDArray[np.float64]) -> int:
    """Significant digits that tell apart ticks a tenth of the axis apart: 4, or more for an
    axis narrow beside its values (a zoomed map's (1.5, 1.50001) read 1.5 at every tick)."""
    width = float(edges[-1] - edges[0])
    return max(4, math.ceil(math.log10(float(np.abs(edges).max()) / width)) + 2)
