"""Regenerate every figure and number of docs/trainability.md.

    python docs/make_figures.py                      # full size, into docs/ (10 CPU-minutes: ~5 on 2 idle Zen 5 cores)
    python docs/make_figures.py --size tiny --out DIR   # every code path in seconds (what CI runs)
    python docs/make_figures.py --only kp,lr          # some studies: kp, rm, skb, lr

Each study writes its figures (PNG) and adds its numbers, settings and wall
times to ``trainability.json`` in the output folder; the text of
docs/trainability.md quotes them. Besides each study's own runs, the script
runs its controls: the maps at a longer budget, in the other precision and
from other base starts; Reed & Marks's per-seed flips at 1 ulp of learning
rate and the rate of meeting the criterion at any epoch; Sprinkhuizen-Kuyper
& Boers's runs at a longer budget and how saturated the stuck networks are.
"""

import argparse
import itertools
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastbackprop as fb
from fastbackprop import plot
from fastbackprop._info import info
from fastbackprop._kernels import SIGMOID_CLAMP
from fastbackprop.maps import _geomspace

SIZES = {
    # side: the studies' maps; control_side: the maps of the longer-budget and precision controls;
    # base_side and bases: the base-start control's maps and how many starts; rm_trials: Reed & Marks trials per
    # cell; skb_seeds, skb_long_seeds: Sprinkhuizen-Kuyper & Boers seeds per run and per longer run; epochs: scale
    "full": dict(side=1024, control_side=256, base_side=128, bases=8, rm_trials=10_000, skb_seeds=1_000_000,
                 skb_long_seeds=100_000, epochs=1.0),
    "tiny": dict(side=12, control_side=8, base_side=8, bases=8, rm_trials=8, skb_seeds=300, skb_long_seeds=100,
                 epochs=0.02),
}  # fmt: skip
ZOOM = 8.0  # each zoom narrows both axes by this factor
LONG = 10  # the longer-budget controls train this many times the study's epochs
LR_BANDS = (0.01, 0.1, 1.0, 5.0, 100.0)  # bands of lr_output the lr map's controls are counted in


def timer():
    """A function giving the wall and CPU seconds (this process, every thread) since this call: on a shared box the
    wall time grows with the other jobs' load, the CPU time much less."""
    wall, cpu = time.perf_counter(), time.process_time()
    return lambda: dict(wall_seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu)


def epochs(n, size):
    return max(2, int(n * SIZES[size]["epochs"]))


def cliff_point(m):
    """(coordinate 0, coordinate 1) of the steepest cliff: a pixel that did not converge within the map's epochs
    beside one that converged fastest, in the middle half of the map (ties: nearest the centre); the map's centre if
    it has no boundary.

    Kolen & Pollack's cliffs are such pairs: a tiny change of the start separates fast convergence from none.
    """
    c, etl = m.converged, m.epochs_to_tol
    n1, n0 = c.shape
    fast = np.full(c.shape, np.inf)  # per not-converged pixel: its fastest converged neighbour's epochs
    for dj, di in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        nb = np.roll(np.roll(np.where(c, etl, np.inf).astype(float), dj, axis=0), di, axis=1)
        fast = np.minimum(fast, nb)
    fast[c] = np.inf
    fast[[0, -1], :] = fast[:, [0, -1]] = np.inf  # np.roll wraps around: drop the border
    j, i = np.mgrid[0:n1, 0:n0]
    middle = (abs(j - (n1 - 1) / 2) <= n1 / 4) & (abs(i - (n0 - 1) / 2) <= n0 / 4)
    fast[~middle] = np.inf
    if not np.isfinite(fast).any():
        return m.coords0[n0 // 2], m.coords1[n1 // 2]
    centre = (j - (n1 - 1) / 2) ** 2 + (i - (n0 - 1) / 2) ** 2
    k = np.lexsort((centre.ravel(), fast.ravel()))[0]
    return m.coords0[k % n0], m.coords1[k // n0]


def zoomed(extent, centre, log):
    """``extent`` narrowed by ZOOM around ``centre``, kept inside it."""
    out = []
    for (lo, hi), c in zip(extent, centre):
        if log:  # the C library's log10 and pow, as lr_map's coordinates: NumPy's last bit depends on the CPU
            lo, hi, c = math.log10(lo), math.log10(hi), math.log10(c)
        half = (hi - lo) / (2 * ZOOM)
        c = min(max(c, lo + half), hi - half)
        a, b = c - half, c + half
        out.append((math.pow(10.0, a), math.pow(10.0, b)) if log else (a, b))
    return out


def on_boundary(c):
    """Pixels with a 4-neighbour (inside the map) of the other outcome."""
    b = np.zeros(c.shape, dtype=bool)
    b[1:, :] |= c[1:, :] != c[:-1, :]
    b[:-1, :] |= c[:-1, :] != c[1:, :]
    b[:, 1:] |= c[:, 1:] != c[:, :-1]
    b[:, :-1] |= c[:, :-1] != c[:, 1:]
    return b


def compare(ca, cb, a, b):
    """Pixel by pixel, converged in map ``a`` (``ca``) against map ``b`` (``cb``) over the same pixels: how many
    differ, in which direction, and how often on ``a``'s boundary against off it."""
    edge, differ = on_boundary(ca), ca != cb
    n, n_edge = int(ca.size), int(edge.sum())
    return {
        "pixels": n,
        "differ": int(differ.sum()),
        "differ_fraction": float(differ.mean()),
        f"only_{a}": int((ca & ~cb).sum()),
        f"only_{b}": int((cb & ~ca).sum()),
        "boundary_pixels": n_edge,
        "differ_on_boundary": int((differ & edge).sum()),
        "differ_on_boundary_fraction": float((differ & edge).sum() / n_edge) if n_edge else None,
        "differ_off_boundary": int((differ & ~edge).sum()),
        "differ_off_boundary_fraction": float((differ & ~edge).sum() / (n - n_edge)) if n > n_edge else None,
    }


def epochs_beside_not_converged(m):
    """Epochs to converge over a map's converged pixels (quantiles), and over those with a 4-neighbour that did not
    converge within the map's epochs (the fastest, the median): how fast the networks at a boundary's edge are."""
    c, etl = m.converged, m.epochs_to_tol.astype(float)
    edge = etl[c & on_boundary(c)]
    q = np.quantile(etl[c], [0.1, 0.5, 0.9, 0.95]).tolist() if c.any() else None
    return dict(
        epochs_quantiles_10_50_90_95=q,
        beside_not_converged=dict(pixels=int(edge.size), fastest=float(edge.min()) if edge.size else None,
                                  median=float(np.median(edge)) if edge.size else None),
    )  # fmt: skip


def panel(m, cb, title):
    """What ``pairs_figure`` draws of map ``m`` against another map's ``converged`` ``cb`` over the same pixels."""
    return dict(coords0=m.coords0, coords1=m.coords1, log=m.log, axes=m.axes, a=m.converged, b=cb, title=title)


def draw(ax, p, values, colours):
    """Pixels of ``values`` (0 .. len(colours) - 1) on the map's coordinates (log axes over a decade or more)."""
    from matplotlib.colors import ListedColormap

    e0, e1 = plot._edges(p["coords0"], p["log"]), plot._edges(p["coords1"], p["log"])
    if p["log"]:
        e0, e1 = 10.0**e0, 10.0**e1
    ax.pcolormesh(e0, e1, values, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(colours) - 0.5, rasterized=True)
    for coords, set_scale in ((p["coords0"], ax.set_xscale), (p["coords1"], ax.set_yscale)):
        if p["log"] and coords[-1] / coords[0] >= 10:
            set_scale("log")
    ax.tick_params(labelsize=7)


def pairs_figure(panels, a, b, out, name):
    """Maps side by side, each a pair over the same pixels: converged in both, in only one of them, in neither."""
    from matplotlib.patches import Patch

    colours = [plot.NEVER_COLOUR, "#d62728", "#1f77b4", "#fde725"]
    fig, axes = plot._figure(3.3 * len(panels), 3.7, ncols=len(panels))
    for ax, p in zip(np.atleast_1d(axes), panels):
        draw(ax, p, np.where(p["a"] & p["b"], 3, np.where(p["b"], 2, np.where(p["a"], 1, 0))), colours)
        ax.set_title(p["title"], fontsize=9)
        ax.set_xlabel(p["axes"][0], fontsize=8)
        ax.set_ylabel(p["axes"][1], fontsize=8)
    labels = ["converged in neither", f"only {a}", f"only {b}", "in both"]
    fig.legend(handles=[Patch(color=c, label=t) for c, t in zip(colours, labels)], loc="outside lower center",
               ncols=4, frameon=False)  # fmt: skip
    return save(fig, out, name)


def bases_figure(maps, out, name, what):
    """One small converged / not map per base start."""
    fig, axes = plot._figure(1.75 * len(maps), 2.3, ncols=len(maps))
    for ax, (seed, m) in zip(np.atleast_1d(axes), maps):
        draw(ax, dict(coords0=m.coords0, coords1=m.coords1, log=m.log), m.converged.astype(int),
             [plot.NEVER_COLOUR, "#fde725"])  # fmt: skip
        ax.set_title(f"seed {seed}: {m.success_rate:.1%}", fontsize=8)
        if ax is not np.atleast_1d(axes)[0]:
            ax.set_yticklabels([])
    fig.suptitle(f"{what}: converged (yellow) within {maps[0][1].epochs:,} epochs, by base start", fontsize=9)
    return save(fig, out, name)


def lr_bands(c, coords1):
    """Per band of lr_output (LR_BANDS): the rows' pixels, how many converged, how many lie on a boundary."""
    rows = []
    for k, (lo, hi) in enumerate(itertools.pairwise(LR_BANDS)):
        sel = (coords1 >= lo) & ((coords1 < hi) | (k == len(LR_BANDS) - 2))
        if sel.any():
            band, edge = c[sel], on_boundary(c)[sel]
            rows.append(dict(lr_output=[lo, hi], pixels=int(band.size), converged=int(band.sum()),
                             boundary=int(edge.sum()), boundary_fraction=float(edge.mean())))  # fmt: skip
    return rows


def budget_control(make_map, extents, n_epochs, n_long, titles, out, name, bands=False):
    """Each extent's map at the study's budget and at LONG times it, over the same pixels: what the budget decides."""
    records, panels = [], []
    for extent, title in zip(extents, titles):
        elapsed = timer()
        short, long = make_map(extent, n_epochs), make_map(extent, n_long)
        record = dict(
            extent=extent,
            resolution=list(short.shape[::-1]),
            converged_short=int(short.converged.sum()),
            converged_long=int(long.converged.sum()),
            not_converged_short=int((~short.converged).sum()),
            **compare(short.converged, long.converged, "short", "long"),
        )
        n_not = record["not_converged_short"]
        record["gained_fraction_of_not_converged"] = record["only_long"] / n_not if n_not else None
        if bands:
            record["bands"] = [
                dict(s, converged_long=lg["converged"], boundary_long=lg["boundary"],
                     boundary_fraction_long=lg["boundary_fraction"],
                     only_long=int((long.converged & ~short.converged)[sel_rows(long.coords1, s)].sum()),
                     only_short=int((short.converged & ~long.converged)[sel_rows(long.coords1, s)].sum()))
                for s, lg in zip(lr_bands(short.converged, short.coords1), lr_bands(long.converged, long.coords1))
            ]  # fmt: skip
        record.update(elapsed())
        records.append(record)
        panels.append(panel(short, long.converged, f"{title}, {short.shape[1]}²"))
    figure = pairs_figure(panels, f"at {n_epochs:,}", f"at {n_long:,} epochs", out, name)
    return dict(epochs_short=n_epochs, epochs_long=n_long, maps=records, figure=figure)


def sel_rows(coords1, band):
    lo, hi = band["lr_output"]
    return (coords1 >= lo) & ((coords1 < hi) | (hi == LR_BANDS[-1]))


def bases_control(make_map, out, name, what, size):
    """The study's first map, at a smaller resolution, from base starts 1 .. bases: how much the one start decides."""
    elapsed = timer()
    maps = [(s, make_map(s)) for s in range(1, SIZES[size]["bases"] + 1)]
    rates = np.array([m.success_rate for _, m in maps])
    record = dict(
        resolution=list(maps[0][1].shape[::-1]),
        seeds=[s for s, _ in maps],
        success_rate=rates.tolist(),
        mean=float(rates.mean()),
        sd=float(rates.std(ddof=1)),
        seed_1_rank_from_lowest=int((rates < rates[0]).sum()) + 1,
        figure=bases_figure(maps, out, name, what),
    )
    if maps[0][1].kind == "lr":
        record["bands"] = [lr_bands(m.converged, m.coords1) for _, m in maps]
    record.update(elapsed())
    return record


def zoom_series(make_map, extent, log, out, prefix, twin=None):
    """A map over ``extent`` and two zooms onto its steepest cliff; each map's figure and numbers.

    ``make_map(extent)`` trains one map; ``twin(extent)``, if given, the same map in the other precision, compared
    with it pixel by pixel. Returns the maps' records and the pairs to draw.
    """
    maps, pairs = [], []
    for level in range(3):
        elapsed = timer()
        m = make_map(extent)
        name = save(plot.map_image(m), out, f"{prefix}_{level}.png")
        record = dict(
            figure=name,
            extent=[list(map(float, e)) for e in extent],
            success_rate=m.success_rate,
            success_ci95=list(m.success_ci95),
            **epochs_beside_not_converged(m),
            **elapsed(),
        )
        if twin is not None:
            elapsed = timer()
            other = twin(extent)
            record["other_precision"] = dict(
                dtype=other.dtype,
                success_rate=other.success_rate,
                success_ci95=list(other.success_ci95),
                **compare(m.converged, other.converged, m.dtype, other.dtype),
                **elapsed(),
            )
            pairs.append(panel(m, other.converged, ("full map", "zoom 8×", "zoom 64×")[level]))
        maps.append(record)
        extent = zoomed(extent, cliff_point(m), log=log)
    return maps, pairs


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=110)
    return name


def kp_base(seed):
    return fb.Network(seed=seed, init="uniform", init_scale=0.5).params


def kolen_pollack(out, size):
    """t-convergence over a slice of starting weights of 2-2-1 XOR, two zooms into a boundary, and controls."""
    X, y = fb.datasets.xor()
    base = kp_base(1)
    settings = dict(epochs=epochs(3000, size), lr=0.5, momentum=0.9, dtype="float32")
    side, cside = SIZES[size]["side"], SIZES[size]["control_side"]

    def make(extent, side=side, base=base, **changed):
        return fb.init_map(X, y, base, ("w1", "w2"), extent, (side, side), **{**settings, **changed})

    maps, _ = zoom_series(make, [(-10.0, 10.0), (-10.0, 10.0)], False, out, "kp_map")
    extents = [m["extent"] for m in maps]
    titles = ("full slice", "zoom 8×", "zoom 64×")
    # the budget: each map's extent at control_side, 3000 and 30000 epochs (the maps' other settings)
    budget = budget_control(lambda e, n: make(e, side=cside, epochs=n, epochs_to_tol=False), extents,
                            settings["epochs"], epochs(3000 * LONG, size), titles, out, "kp_budget.png")  # fmt: skip
    # the precision: each map's extent at control_side in float32 (the maps') and float64
    precision = []
    for extent in extents:
        elapsed = timer()
        c32 = make(extent, side=cside, epochs_to_tol=False).converged
        c64 = make(extent, side=cside, dtype="float64", epochs_to_tol=False).converged
        precision.append(dict(extent=extent, resolution=[cside, cside], **compare(c32, c64, "float32", "float64"),
                              **elapsed()))  # fmt: skip
    bside = SIZES[size]["base_side"]
    bases = bases_control(lambda s: make(extents[0], side=bside, base=kp_base(s), epochs_to_tol=False), out,
                          "kp_bases.png", "Kolen & Pollack's full slice", size)  # fmt: skip
    return dict(
        base="Network(seed=1, init='uniform', init_scale=0.5).params",
        base_params=[float(v) for v in base],
        axes=["w1", "w2"],
        resolution=[side, side],
        **settings,
        tol=0.01,
        maps=maps,
        budget=budget,
        precision=precision,
        bases=dict(base="Network(seed=s, init='uniform', init_scale=0.5).params", **bases),
    )


def reed_marks(out, size):
    """§6.1: tanh 2-2-1 on ±1 XOR, targets ±0.9, U[-0.5, 0.5], 50 lrs x 14 momenta, 750 epochs, margin 0.2."""
    X, y = fb.datasets.xor()
    X, y = 2 * X - 1, 1.8 * y - 0.9
    lrs = _geomspace(0.001, 5, 50)  # as lr_map spaces its rates: the same last bit on every CPU
    momenta = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99])
    trials, n_epochs = SIZES[size]["rm_trials"], epochs(750, size)
    L, M = lrs.shape[0], momenta.shape[0]
    options = dict(epochs=n_epochs, activation="tanh", init="uniform", init_scale=0.5, margin=0.2)
    successes = np.zeros((L, M), dtype=np.int64)  # the criterion met at the last epoch
    met = np.zeros((L, M), dtype=np.int64)  # the criterion met at some epoch (what stopping at it would count)
    mean_epochs = np.full((L, M), np.nan)
    per_seed = np.zeros((M, L, trials), dtype=bool)
    elapsed = timer()
    for k, m in enumerate(momenta):
        # one sweep per momentum: every learning rate, the same `trials` seeds each
        res = fb.sweep(X, y, np.tile(np.arange(trials), L), lr=np.repeat(lrs, trials), momentum=float(m), **options)
        per_seed[k] = res.converged.reshape(L, trials)
        etl = res.epochs_to_tol.reshape(L, trials)
        successes[:, k] = per_seed[k].sum(axis=1)
        met[:, k] = (etl >= 0).sum(axis=1)
        for i in range(L):
            if met[i, k]:
                mean_epochs[i, k] = etl[i][etl[i] >= 0].mean()
    training_time = elapsed()
    rate, rate_met = successes / trials, met / trials
    ci = np.array([[fb.wilson_interval(int(s), trials) for s in row] for row in successes])
    ci_met = np.array([[fb.wilson_interval(int(s), trials) for s in row] for row in met])
    with open(os.path.join(out, "reed_marks.csv"), "w") as f:
        f.write(
            "lr,momentum,trials,converged,p_converge,ci95_lo,ci95_hi,mean_epochs,"
            "met_within,p_met_within,met_ci95_lo,met_ci95_hi\n"
        )
        for i, lr in enumerate(lrs):
            for k, m in enumerate(momenta):
                f.write(
                    f"{float(lr)!r},{m:g},{trials},{successes[i, k]},{rate[i, k]:.4f},"
                    f"{ci[i, k, 0]:.4f},{ci[i, k, 1]:.4f},{mean_epochs[i, k]:.1f},"
                    f"{met[i, k]},{rate_met[i, k]:.4f},{ci_met[i, k, 0]:.4f},{ci_met[i, k, 1]:.4f}\n"
                )
    figs = []
    few = np.where(successes < 10, np.nan, mean_epochs)  # a mean of fewer than 10 trials is noise
    for what, values, label, title, cmap in (
        ("p", rate, f"probability of success at epoch {n_epochs}", f"success = criterion met at epoch {n_epochs}",
         "viridis"),
        ("p_met", rate_met, f"probability of meeting the criterion within {n_epochs} epochs",
         f"criterion met at any epoch up to {n_epochs}", "viridis"),
        ("epochs", few, "mean first epoch at the criterion",
         f"mean first epoch at the criterion (cells with >= 10 successes at epoch {n_epochs})", "magma"),
    ):  # fmt: skip
        fig, ax = plot._figure(7.5, 4.8)
        mesh = ax.pcolormesh(
            10.0 ** plot._edges(lrs, True),
            np.arange(M + 1) - 0.5,
            np.ma.masked_invalid(values.T),
            cmap=cmap,
            vmin=0 if what != "epochs" else None,
            vmax=1 if what != "epochs" else None,
        )
        ax.set_xscale("log")
        ax.set_yticks(range(M), [f"{m:g}" for m in momenta])
        ax.set_xlabel("learning rate, in this package's (y − ŷ)² convention (the book's ½ (y − ŷ)²: twice this)")
        ax.set_ylabel("momentum")
        ax.set_title(f"tanh 2-2-1 XOR (±1, targets ±0.9), {trials:,} trials per cell\n{title}", fontsize=10)
        fig.colorbar(mesh, ax=ax, label=label)
        figs.append(save(fig, out, f"reed_marks_{what}.png"))
    best = np.unravel_index(np.argmax(rate), rate.shape)
    # The ridge's sensitivity: every learning rate of the best cell's momentum 1 ulp either side, the same seeds,
    # seed by seed against the grid's own rate.
    k = best[1]
    ulp = {}
    for side, towards in (("below", 0.0), ("above", np.inf)):
        shifted = np.nextafter(lrs, towards)
        res = fb.sweep(X, y, np.tile(np.arange(trials), L), lr=np.repeat(shifted, trials), momentum=float(momenta[k]),
                       epochs_to_tol=False, **options)  # fmt: skip
        conv = res.converged.reshape(L, trials)
        gained, lost = (conv & ~per_seed[k]).sum(axis=1), (per_seed[k] & ~conv).sum(axis=1)
        ulp[side] = dict(lr=shifted.tolist(), converged=conv.sum(axis=1).tolist(), gained=gained.tolist(),
                         lost=lost.tolist())  # fmt: skip
    flipped = np.array([np.array(ulp[s]["gained"]) + np.array(ulp[s]["lost"]) for s in ulp]) / trials
    with_flips = np.nonzero(flipped.max(axis=0) > 0)[0]
    neighbours = {
        s: dict(lr=ulp[s]["lr"][best[0]], p=ulp[s]["converged"][best[0]] / trials, gained=ulp[s]["gained"][best[0]],
                lost=ulp[s]["lost"][best[0]])
        for s in ulp
    }  # fmt: skip
    ulp_row = dict(
        momentum=float(momenta[k]),
        **ulp,
        flipped_fraction_median=float(np.median(flipped)),
        flipped_fraction_max=float(flipped.max()),
        flipped_fraction_max_lr=float(lrs[np.argmax(flipped.max(axis=0))]),
        flipped_fraction_best=flipped[:, best[0]].tolist(),
        rates_with_flips=int(with_flips.size),
        lowest_lr_with_flips=float(lrs[with_flips[0]]) if with_flips.size else None,
        highest_lr_with_flips=float(lrs[with_flips[-1]]) if with_flips.size else None,
    )
    # what a study stopping at the first success would count, against success at the last epoch
    gap = rate_met - rate
    worst = np.unravel_index(np.argmax(gap), gap.shape)
    met_within = dict(
        cells_more_than_5pp=int((gap > 0.05).sum()),
        cells_more_than_5pp_momenta=sorted({float(momenta[c]) for c in np.nonzero(gap > 0.05)[1]}),
        largest=dict(
            lr=float(lrs[worst[0]]),
            momentum=float(momenta[worst[1]]),
            p_at_end=float(rate[worst]),
            p_met_within=float(rate_met[worst]),
        ),
        cells_at_most_0_5pp=int((gap <= 0.005).sum()),
    )
    return dict(
        trials=trials,
        epochs=n_epochs,
        lrs=lrs.tolist(),
        momenta=momenta.tolist(),
        figures=figs,
        table="reed_marks.csv",
        **training_time,
        best=dict(lr=float(lrs[best[0]]), momentum=float(momenta[best[1]]), p=float(rate[best]), ulp=neighbours),
        ulp_row=ulp_row,
        met_within=met_within,
        cells_at_least_99=int((rate >= 0.99).sum()),
        rate=rate.tolist(),
        rate_met_within=rate_met.tolist(),
        mean_epochs=np.where(np.isnan(mean_epochs), None, mean_epochs).tolist(),
    )


def saturation(params, X, dtype):
    """Per network: the largest |pre-activation| of a hidden unit over the samples (computed in float64 from the final
    parameters), and how many (unit, sample) pairs have a sigmoid slope of exactly 0 in ``dtype``: the sigmoid rounds
    to 1 (1 + exp(-z) rounds to 1: z >= ln(2 / eps)) or is set to 0 (z < -SIGMOID_CLAMP)."""
    p = params.astype(np.float64)
    z = np.stack([p[:, [w]] * X[:, 0] + p[:, [v]] * X[:, 1] + p[:, [b]] for w, v, b in ((0, 1, 6), (2, 3, 7))], 1)
    flat = (z >= math.log(2 / np.finfo(dtype).eps)) | (z < -SIGMOID_CLAMP)  # (S, unit, sample)
    return np.abs(z).max(axis=(1, 2)), flat


def saturation_record(params, X, dtype):
    top, flat = saturation(params, X, dtype)
    if not top.size:
        return None
    return dict(
        networks=int(top.size),
        max_abs_z_median=float(np.median(top)),
        max_abs_z_99th=float(np.quantile(top, 0.99)),
        max_abs_z_max=float(top.max()),
        slope_exactly_0_threshold=math.log(2 / np.finfo(dtype).eps),
        with_a_slope_exactly_0=int(flat.any(axis=(1, 2)).sum()),
        with_a_unit_flat_on_two_samples=int((flat.sum(axis=2) >= 2).any(axis=1).sum()),
    )


def sprinkhuizen_kuyper_boers(out, size):
    """Stuck rates of 2-2-1 XOR in float32 and float64 over the same seeds, at several learning rates."""
    X, y = fb.datasets.xor()
    n, n_epochs = SIZES[size]["skb_seeds"], epochs(3000, size)
    n_long, long_epochs = SIZES[size]["skb_long_seeds"], epochs(3000 * LONG, size)
    rows, flips, long_rows = [], [], []
    for lr in (0.1, 0.5, 2.0):
        converged, stuck_short = {}, {}
        for dtype in ("float64", "float32"):
            elapsed = timer()
            res = fb.sweep(X, y, n, epochs=n_epochs, lr=lr, dtype=dtype, epochs_to_tol=False)
            above = res.final_loss >= 0.1
            stuck_loss = res.final_loss[above]
            stuck = int(stuck_loss.size)
            converged[dtype], stuck_short[dtype] = res.converged, above
            # on one of the plateaus (MSE 1/8 or 1/6) or elsewhere above 0.1: still moving
            plateau = int(np.count_nonzero((abs(stuck_loss - 0.125) < 1e-3) | (abs(stuck_loss - 1 / 6) < 1e-3)))
            rows.append(
                dict(
                    lr=lr,
                    dtype=dtype,
                    seeds=n,
                    not_converged=int(n - res.converged.sum()),
                    not_converged_ci95=list(fb.wilson_interval(int(n - res.converged.sum()), n)),
                    stuck=stuck,
                    stuck_ci95=list(fb.wilson_interval(stuck, n)),
                    stuck_on_a_plateau=plateau,
                    stuck_median_loss=float(np.median(stuck_loss)) if stuck else None,
                    stuck_saturation=saturation_record(res.params[above], X, dtype),
                    **elapsed(),
                )
            )
        # seed by seed (never evidence either way on its own: seeds near a boundary flip)
        c64, c32 = converged["float64"], converged["float32"]
        flips.append(dict(lr=lr, only_float64=int((c64 & ~c32).sum()), only_float32=int((c32 & ~c64).sum())))
        # the same question over a budget LONG times longer, on the first n_long seeds
        long = {}
        for dtype in ("float64", "float32"):
            elapsed = timer()
            res = fb.sweep(X, y, n_long, epochs=long_epochs, lr=lr, dtype=dtype, epochs_to_tol=False)
            above = res.final_loss >= 0.1
            long[dtype] = res.converged
            was_not, was_stuck = ~converged[dtype][:n_long], stuck_short[dtype][:n_long]
            long_rows.append(
                dict(
                    lr=lr,
                    dtype=dtype,
                    seeds=n_long,
                    epochs=long_epochs,
                    not_converged=int(n_long - res.converged.sum()),
                    not_converged_ci95=list(fb.wilson_interval(int(n_long - res.converged.sum()), n_long)),
                    stuck=int(above.sum()),
                    stuck_ci95=list(fb.wilson_interval(int(above.sum()), n_long)),
                    not_converged_at_short=int(was_not.sum()),
                    converged_since_short=int((was_not & res.converged).sum()),
                    stuck_at_short=int(was_stuck.sum()),
                    stuck_at_short_converged_since=int((was_stuck & res.converged).sum()),
                    converged_at_short_not_now=int((~was_not & ~res.converged).sum()),
                    stuck_saturation=saturation_record(res.params[above], X, dtype),
                    **elapsed(),
                )
            )
        c64, c32 = long["float64"], long["float32"]
        long_rows[-1]["flips"] = dict(only_float64=int((c64 & ~c32).sum()), only_float32=int((c32 & ~c64).sum()))
    fig, axes = plot._figure(8.5, 3.6, ncols=2)
    for ax, key, title in (
        (axes[0], "not_converged", "not converged (final MSE ≥ 0.01)"),
        (axes[1], "stuck", "stuck (final MSE ≥ 0.1)"),
    ):
        for d, (dtype, colour) in enumerate((("float64", "C0"), ("float32", "C3"))):
            sel = [r for r in rows if r["dtype"] == dtype]
            x = np.arange(len(sel)) + (d - 0.5) * 0.2
            rate = np.array([r[key] / r["seeds"] for r in sel])
            lo = np.array([r[key + "_ci95"][0] for r in sel])
            hi = np.array([r[key + "_ci95"][1] for r in sel])
            # points, not bars: the y axis fits the data, so differences of a few 0.1 % show
            ax.errorbar(x, rate, yerr=[rate - lo, hi - rate], fmt="o", color=colour, label=dtype, capsize=4)
        ax.set_xticks(range(3), [f"lr {lr:g}" for lr in (0.1, 0.5, 2.0)])
        ax.set_ylabel("fraction of seeds (95 % Wilson intervals)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_title(f"{title}, {n:,} seeds, {n_epochs} epochs", fontsize=9)
        ax.legend()
    # Equal steps: lr 0.1 for 5 times the epochs against lr 0.5, the same seeds (a tenth), float32: is
    # lr 0.1's higher rate above 0.1 the learning rate, or the budget of lr x epochs?
    few = max(1, n // 10)
    steps = []
    for lr, n_ep in ((0.5, n_epochs), (0.1, 5 * n_epochs)):
        res = fb.sweep(X, y, few, epochs=n_ep, lr=lr, dtype="float32", epochs_to_tol=False)
        above = int(np.count_nonzero(res.final_loss >= 0.1))
        steps.append(dict(lr=lr, epochs=n_ep, seeds=few, above_0_1=above, ci95=list(fb.wilson_interval(above, few))))
    return dict(epochs=n_epochs, rows=rows, flips=flips, long=long_rows, equal_steps=steps,
                figure=save(fig, out, "skb_precision.png"))  # fmt: skip


def lr_boundary(out, size):
    """A learning-rate map (hidden x output layer) of 2-2-1 XOR, two zooms into its boundary, and controls."""
    X, y = fb.datasets.xor()
    side, cside = SIZES[size]["side"], SIZES[size]["control_side"]
    settings = dict(epochs=epochs(3000, size), dtype="float64")

    def make(extent, side=side, base=1, **changed):
        return fb.lr_map(X, y, base, extent[0], extent[1], (side, side), **{**settings, **changed})

    # each map in float32 too, the same extents and pixels
    maps, pairs = zoom_series(make, [(0.01, 100.0), (0.01, 100.0)], True, out, "lr_map",
                              twin=lambda extent: make(extent, dtype="float32", epochs_to_tol=False))  # fmt: skip
    precision_figure = pairs_figure(pairs, "float64", "float32", out, "lr_precision.png")
    # the full map by bands of lr_output: how much of each lies on a boundary, and where the precisions differ
    full = pairs[0]
    maps[0]["bands"] = [
        dict(band, differ_other_precision=int((full["a"] != full["b"])[sel_rows(full["coords1"], band)].sum()))
        for band in lr_bands(full["a"], full["coords1"])
    ]
    extents = [m["extent"] for m in maps]
    budget = budget_control(lambda e, n: make(e, side=cside, epochs=n, epochs_to_tol=False), extents,
                            settings["epochs"], epochs(3000 * LONG, size), ("full map", "zoom 8×", "zoom 64×"), out,
                            "lr_budget.png", bands=True)  # fmt: skip
    bside = SIZES[size]["base_side"]
    bases = bases_control(lambda s: make(extents[0], side=bside, base=s, epochs_to_tol=False), out, "lr_bases.png",
                          "learning-rate map", size)  # fmt: skip
    return dict(base=1, resolution=[side, side], **settings, tol=0.01, maps=maps, precision_figure=precision_figure,
                budget=budget, bases=dict(base="seed s (Network(seed=s))", **bases))  # fmt: skip


STUDIES = {"kp": kolen_pollack, "rm": reed_marks, "skb": sprinkhuizen_kuyper_boers, "lr": lr_boundary}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="full")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--only", default=",".join(STUDIES), help="comma-separated: " + ", ".join(STUDIES))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    record = os.path.join(args.out, "trainability.json")
    env = info()
    results = {}
    if os.path.exists(record):
        with open(record) as f:
            results = json.load(f)
    for key in args.only.split(","):
        if key not in STUDIES:
            ap.error(f"unknown study {key!r}; choose from {', '.join(STUDIES)}")
        elapsed, load = timer(), os.getloadavg()[0]
        results[key] = STUDIES[key](args.out, args.size)
        took = elapsed()
        results[key].update(study_seconds=took["wall_seconds"], study_cpu_seconds=took["cpu_seconds"])
        results[key]["load_average_1min"] = [load, os.getloadavg()[0]]  # before and after: the box may be shared
        results[key]["machine"] = {k: env[k] for k in ("cpu", "cpu_count", "fastbackprop", "numba", "numpy")}
        with open(record, "w") as f:
            json.dump(results, f, indent=1)
        print(f"{key}: {results[key]['study_seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
