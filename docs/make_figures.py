"""Regenerate every figure and number of docs/trainability.md.

    python docs/make_figures.py                      # full size, into docs/ (3 minutes on 2 Zen 5 cores, 13 on Zen 3)
    python docs/make_figures.py --size tiny --out DIR   # every code path in seconds (what CI runs)
    python docs/make_figures.py --only kp,lr          # some studies: kp, rm, skb, lr

Each study writes its figures (PNG) and adds its numbers, settings and wall
times to ``trainability.json`` in the output folder; the text of
docs/trainability.md quotes them.
"""

import argparse
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
from fastbackprop.maps import _geomspace

SIZES = {
    # map side, Reed & Marks trials per cell, Sprinkhuizen-Kuyper & Boers seeds per run, epoch scale
    "full": dict(side=1024, rm_trials=10_000, skb_seeds=1_000_000, epochs=1.0),
    "tiny": dict(side=12, rm_trials=8, skb_seeds=300, epochs=0.02),
}
ZOOM = 8.0  # each zoom narrows both axes by this factor


def epochs(n, size):
    return max(2, int(n * SIZES[size]["epochs"]))


def cliff_point(m):
    """(coordinate 0, coordinate 1) of the steepest cliff: a pixel that never converged beside one that converged
    fastest, in the middle half of the map (ties: nearest the centre); the map's centre if it has no boundary.

    Kolen & Pollack's cliffs are such pairs: a tiny change of the start separates fast convergence from none.
    """
    c, etl = m.converged, m.epochs_to_tol
    n1, n0 = c.shape
    fast = np.full(c.shape, np.inf)  # per never-converged pixel: its fastest converged neighbour's epochs
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


def epochs_beside_never(m):
    """Epochs to converge over a map's converged pixels (quantiles), and over those with a never-converging
    4-neighbour (the fastest, the median): how fast the networks at a boundary's edge are."""
    c, etl = m.converged, m.epochs_to_tol.astype(float)
    never = np.zeros(c.shape, dtype=bool)
    never[1:, :] |= ~c[:-1, :]
    never[:-1, :] |= ~c[1:, :]
    never[:, 1:] |= ~c[:, :-1]
    never[:, :-1] |= ~c[:, 1:]
    edge = etl[c & never]
    q = np.quantile(etl[c], [0.1, 0.5, 0.9, 0.95]).tolist() if c.any() else None
    return dict(
        epochs_quantiles_10_50_90_95=q,
        beside_never=dict(pixels=int(edge.size), fastest=float(edge.min()) if edge.size else None,
                          median=float(np.median(edge)) if edge.size else None),
    )  # fmt: skip


def zoom_series(make_map, extent, log, out, prefix):
    """A map over ``extent`` and two zooms onto its steepest cliff; each map's figure and numbers.

    ``make_map(extent)`` trains one map.
    """
    maps = []
    for level in range(3):
        start = time.perf_counter()
        m = make_map(extent)
        name = save(plot.map_image(m), out, f"{prefix}_{level}.png")
        maps.append(
            dict(
                figure=name,
                extent=[list(map(float, e)) for e in extent],
                success_rate=m.success_rate,
                success_ci95=list(m.success_ci95),
                **epochs_beside_never(m),
                wall_seconds=time.perf_counter() - start,
            )
        )
        extent = zoomed(extent, cliff_point(m), log=log)
    return maps


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=110)
    return name


def kolen_pollack(out, size):
    """t-convergence over a slice of starting weights of 2-2-1 XOR, and two zooms into a boundary."""
    X, y = fb.datasets.xor()
    base = fb.Network(seed=1, init="uniform", init_scale=0.5).params
    settings = dict(epochs=epochs(3000, size), lr=0.5, momentum=0.9, dtype="float32")
    side = SIZES[size]["side"]
    maps = zoom_series(
        lambda extent: fb.init_map(X, y, base, ("w1", "w2"), extent, (side, side), **settings),
        [(-10.0, 10.0), (-10.0, 10.0)],
        False,
        out,
        "kp_map",
    )
    return dict(
        base="Network(seed=1, init='uniform', init_scale=0.5).params",
        base_params=[float(v) for v in base],
        axes=["w1", "w2"],
        resolution=[side, side],
        **settings,
        tol=0.01,
        maps=maps,
    )


def reed_marks(out, size):
    """§6.1: tanh 2-2-1 on ±1 XOR, targets ±0.9, U[-0.5, 0.5], 50 lrs x 14 momenta, 750 epochs, margin 0.2."""
    X, y = fb.datasets.xor()
    X, y = 2 * X - 1, 1.8 * y - 0.9
    lrs = _geomspace(0.001, 5, 50)  # as lr_map spaces its rates: the same last bit on every CPU
    momenta = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99])
    trials, n_epochs = SIZES[size]["rm_trials"], epochs(750, size)
    L, M = lrs.shape[0], momenta.shape[0]
    rate = np.empty((L, M))
    successes = np.zeros((L, M), dtype=np.int64)
    ci = np.empty((L, M, 2))
    mean_epochs = np.full((L, M), np.nan)
    start = time.perf_counter()
    for k, m in enumerate(momenta):
        # one sweep per momentum: every learning rate, the same `trials` seeds each
        res = fb.sweep(
            X,
            y,
            np.tile(np.arange(trials), L),
            epochs=n_epochs,
            lr=np.repeat(lrs, trials),
            momentum=float(m),
            activation="tanh",
            init="uniform",
            init_scale=0.5,
            margin=0.2,
        )
        conv = res.converged.reshape(L, trials)
        etl = res.epochs_to_tol.reshape(L, trials)
        for i in range(L):
            s = int(conv[i].sum())
            successes[i, k] = s
            rate[i, k] = s / trials
            ci[i, k] = fb.wilson_interval(s, trials)
            if s:
                mean_epochs[i, k] = etl[i][etl[i] >= 0].mean()
    wall = time.perf_counter() - start
    with open(os.path.join(out, "reed_marks.csv"), "w") as f:
        f.write("lr,momentum,trials,converged,p_converge,ci95_lo,ci95_hi,mean_epochs\n")
        for i, lr in enumerate(lrs):
            for k, m in enumerate(momenta):
                f.write(
                    f"{float(lr)!r},{m:g},{trials},{successes[i, k]},{rate[i, k]:.4f},"
                    f"{ci[i, k, 0]:.4f},{ci[i, k, 1]:.4f},{mean_epochs[i, k]:.1f}\n"
                )
    figs = []
    few = np.where(successes < 10, np.nan, mean_epochs)  # a mean of fewer than 10 trials is noise
    for what, values, label, cmap in (
        ("p", rate, "probability of convergence", "viridis"),
        ("epochs", few, "mean first epoch at the criterion (>= 10 successes)", "magma"),
    ):
        fig, ax = plot._figure(7.5, 4.6)
        mesh = ax.pcolormesh(
            10.0 ** plot._edges(lrs, True),
            np.arange(M + 1) - 0.5,
            np.ma.masked_invalid(values.T),
            cmap=cmap,
            vmin=0 if what == "p" else None,
            vmax=1 if what == "p" else None,
        )
        ax.set_xscale("log")
        ax.set_yticks(range(M), [f"{m:g}" for m in momenta])
        ax.set_xlabel("learning rate")
        ax.set_ylabel("momentum")
        ax.set_title(f"tanh 2-2-1 XOR (±1, targets ±0.9), {n_epochs} epochs, {trials:,} trials per cell")
        fig.colorbar(mesh, ax=ax, label=label)
        figs.append(save(fig, out, f"reed_marks_{what}.png"))
    best = np.unravel_index(np.argmax(rate), rate.shape)
    # the ridge's sensitivity: the best cell's learning rate 1 ulp either side, the same seeds
    neighbours = {}
    for side, towards in (("below", 0.0), ("above", np.inf)):
        res = fb.sweep(X, y, trials, epochs=n_epochs, lr=float(np.nextafter(lrs[best[0]], towards)),
                       momentum=float(momenta[best[1]]), activation="tanh", init="uniform", init_scale=0.5,
                       margin=0.2)  # fmt: skip
        neighbours[side] = dict(lr=float(np.nextafter(lrs[best[0]], towards)), p=res.success_rate)
    return dict(
        trials=trials,
        epochs=n_epochs,
        lrs=lrs.tolist(),
        momenta=momenta.tolist(),
        figures=figs,
        table="reed_marks.csv",
        wall_seconds=wall,
        best=dict(lr=float(lrs[best[0]]), momentum=float(momenta[best[1]]), p=float(rate[best]), ulp=neighbours),
        cells_at_least_99=int((rate >= 0.99).sum()),
        rate=rate.tolist(),
        mean_epochs=np.where(np.isnan(mean_epochs), None, mean_epochs).tolist(),
    )


def sprinkhuizen_kuyper_boers(out, size):
    """Stuck rates of 2-2-1 XOR in float32 and float64 over the same seeds, at several learning rates."""
    X, y = fb.datasets.xor()
    n, n_epochs = SIZES[size]["skb_seeds"], epochs(3000, size)
    rows, flips = [], []
    for lr in (0.1, 0.5, 2.0):
        converged = {}
        for dtype in ("float64", "float32"):
            start = time.perf_counter()
            res = fb.sweep(X, y, n, epochs=n_epochs, lr=lr, dtype=dtype, epochs_to_tol=False)
            stuck_loss = res.final_loss[res.final_loss >= 0.1]
            stuck = int(stuck_loss.size)
            converged[dtype] = res.converged
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
                    wall_seconds=time.perf_counter() - start,
                )
            )
        # seed by seed (never evidence either way on its own: seeds near a boundary flip)
        c64, c32 = converged["float64"], converged["float32"]
        flips.append(dict(lr=lr, only_float64=int((c64 & ~c32).sum()), only_float32=int((c32 & ~c64).sum())))
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
    return dict(epochs=n_epochs, rows=rows, flips=flips, equal_steps=steps, figure=save(fig, out, "skb_precision.png"))


def lr_boundary(out, size):
    """A learning-rate map (hidden x output layer) of 2-2-1 XOR and two zooms into its boundary."""
    X, y = fb.datasets.xor()
    side = SIZES[size]["side"]
    settings = dict(epochs=epochs(3000, size), dtype="float64")
    maps = zoom_series(
        lambda extent: fb.lr_map(X, y, 1, extent[0], extent[1], (side, side), **settings),
        [(0.01, 100.0), (0.01, 100.0)],
        True,
        out,
        "lr_map",
    )
    return dict(base=1, resolution=[side, side], **settings, tol=0.01, maps=maps)


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
        start = time.perf_counter()
        results[key] = dict(STUDIES[key](args.out, args.size), study_seconds=time.perf_counter() - start)
        results[key]["machine"] = {k: env[k] for k in ("cpu", "cpu_count", "fastbackprop", "numba", "numpy")}
        with open(record, "w") as f:
            json.dump(results, f, indent=1)
        print(f"{key}: {results[key]['study_seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
