"""Each figure renders to a PNG of sensible size; no pyplot, no show()."""

import sys

import numpy as np
import pytest

from fastbackprop import Network, datasets, grid, plot, sweep

from .conftest import JIT

mpl = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

EPOCHS = 300 if JIT else 3


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def trained():
    X, y = datasets.gender()
    net = Network(seed=2)
    return net, net.train(X, y, epochs=EPOCHS), X, y


def _render(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=100)
    w, h = _png_size(path)
    assert w >= 400 and h >= 300
    return fig


def test_loss_curve(trained, tmp_path):
    fig = _render(plot.loss_curve(trained[1]), tmp_path, "loss")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch" and "MSE" in ax.get_ylabel()


def test_decision_surface(trained, tmp_path):
    net, _, X, y = trained
    fig = _render(plot.decision_surface(net, X, y), tmp_path, "surface")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x0" and ax.get_ylabel() == "x1"
    assert len(ax.get_legend().get_texts()) == 2
    _check_shading(ax, net, X)


def _check_shading(ax, net, X):
    """Each sample lies in the band of the filled contours that holds the network's output there."""
    from matplotlib.path import Path

    (filled,) = [c for c in ax.collections if getattr(c, "filled", False)]
    levels = np.asarray(filled.levels)
    for x in X:
        out = net.feedforward(x)
        band = int(np.searchsorted(levels, out)) - 1
        if np.min(np.abs(levels - out)) < 1e-3:
            continue  # on a band's edge: either band
        assert any(Path(seg).contains_point(x) for seg in filled.allsegs[band]), (x, out)


def test_train_summary(trained, tmp_path):
    fig = _render(plot.train_summary(*trained), tmp_path, "train")
    assert len(fig.axes) == 3  # loss, surface, colour bar
    _check_shading(fig.axes[1], trained[0], trained[2])


def test_bad_arguments_are_named(trained):
    net, history, X, y = trained
    cases = [
        (lambda: plot.decision_surface(net, X, y[:2]), ValueError, r"y must have shape \(4,\)"),
        (lambda: plot.decision_surface(net, [1, 2], [1]), ValueError, "X must"),
        (lambda: plot.decision_surface(net, np.ones((4, 3)), y), ValueError, "X must"),
        (lambda: plot.decision_surface("net", X, y), TypeError, "net must be a Network, got str"),
        (lambda: plot.decision_surface(net, X, y + 2), ValueError, r"y must lie in \[0, 1\]"),
        (lambda: plot.train_summary(net, history, X, y[:3]), ValueError, "y must have shape"),
        (lambda: plot.loss_curve("abc"), TypeError, "history must hold real numbers"),
        (lambda: plot.loss_curve([True, False]), TypeError, "history must hold real numbers"),
        (lambda: plot.loss_curve([]), ValueError, "history must be a non-empty 1-d array"),
        (lambda: plot.loss_curve(np.ones((2, 2))), ValueError, r"history must be .* got shape \(2, 2\)"),
        (lambda: plot.grid_heatmap(sweep(*datasets.xor(), 3, epochs=1)), TypeError, "grid_result must be a GridResult"),
        (lambda: plot.sweep_summary(None), TypeError, "result must be a SweepResult, got NoneType"),
        (lambda: plot.map_image(None), TypeError, "result must be a MapResult, got NoneType"),
        # matplotlib's axes overflow near the float range's ends: its arange failed
        (lambda: plot.decision_surface(net, [[-1e308, 0], [1e308, 1]], [0, 1]), ValueError, r"^X must lie within"),
        (lambda: plot.decision_surface(net, [[1e308, 1e308]], [1]), ValueError, r"^X must lie within"),
        (lambda: datasets.load(["xor"]), TypeError, r"^dataset name must be a str"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()
    plot.loss_curve([1.0, np.inf, np.nan])  # a diverged run's history is drawn


def test_a_long_loss_curve_draws_each_stretchs_extremes():
    """Every point of 10**9 epochs exhausted memory in matplotlib, after the run (`train --plot`)."""
    n = 2 * plot.CURVE_BUCKETS * 25 + 7
    history = np.geomspace(1.0, 1e-4, n)
    history[n // 3], history[n // 2] = 5.0, 1e-9  # a spike and a dip: kept
    x, y = plot.loss_curve(history).axes[0].get_lines()[0].get_data()
    assert len(x) <= 2 * plot.CURVE_BUCKETS + 4 and x[0] == 1 and x[-1] == n
    assert {n // 3 + 1, n // 2 + 1} <= set(x.tolist()) and y.max() == 5.0 and y.min() == 1e-9
    np.testing.assert_array_equal(y, history[x - 1])  # each point at its epoch
    x, _ = plot.loss_curve(history[:1000]).axes[0].get_lines()[0].get_data()
    assert x.tolist() == list(range(1, 1001))  # a short one: every epoch
    # leftover epochs were one more bucket, up to a third of the run drawn as two points
    n = 3 * plot.CURVE_BUCKETS - 1
    history = np.ones(n)
    history[-15_000:-5_000] = 0.5  # a plateau near the end
    x, y = plot.loss_curve(history).axes[0].get_lines()[0].get_data()
    assert len(x) <= 2 * plot.CURVE_BUCKETS + 4 and np.diff(x).max() <= 3 and (y == 0.5).any()


def test_sweep_summary(tmp_path):
    res = sweep(*datasets.xor(), 300, epochs=EPOCHS, lr=0.5)
    fig = _render(plot.sweep_summary(res), tmp_path, "sweep")
    hist, frac = fig.axes[:2]
    assert hist.get_xscale() == "log"
    assert any(abs(line.get_xdata()[0] - res.tol) < 1e-12 for line in hist.get_lines())  # tol marked
    steps = frac.get_lines()[0].get_ydata()
    assert steps[-1] == pytest.approx(np.mean(res.epochs_to_tol >= 0))


def test_sweep_summary_says_what_its_curve_counts(tmp_path):
    """The curve counts seeds that had met the criterion (epochs to tol), not those converged at the end:
    a network can reach tol and leave it (here with momentum). It was labelled "converged"."""
    res = sweep(*datasets.xor(), 500, epochs=EPOCHS, lr=5, momentum=0.9, tol=0.05)
    frac = plot.sweep_summary(res).axes[1]
    assert "had met loss < tol" in frac.get_ylabel() and "Epochs to tol" in frac.get_title()
    margin = plot.sweep_summary(sweep(*datasets.xor(), 50, epochs=EPOCHS, margin=0.4)).axes[1]
    assert "had met every |y - ypred| < 0.4" in margin.get_ylabel() and "Epochs to margin" in margin.get_title()


def test_sweep_summary_of_a_store_with_no_seed_finished(tmp_path):
    from fastbackprop import load_sweep

    sweep(*datasets.xor(), 20, epochs=2, store=tmp_path / "s")
    for chunk in tmp_path.glob("s/chunk-*"):
        chunk.unlink()
    fig = _render(plot.sweep_summary(load_sweep(tmp_path / "s")), tmp_path, "empty")
    hist, frac = fig.axes[:2]
    assert hist.get_title() == "Final loss: no seed finished yet"
    assert not frac.get_lines() and [t.get_text() for t in frac.texts] == ["no seed finished yet"]


def test_grid_heatmap_takes_one_of_its_lengths_as_an_int():
    g = grid(*datasets.xor(), 20, lrs=[0.5, 2], epochs_list=[1, EPOCHS], momenta=[0, 0.5])
    for bad in (True, 1.0, [EPOCHS]):
        with pytest.raises(TypeError, match=r"^epochs must be an int"):
            plot.grid_heatmap(g, epochs=bad)
    assert f"{EPOCHS:,} epochs" in plot.grid_heatmap(g, epochs=np.int64(EPOCHS)).axes[0].get_title()


def test_sweep_summary_of_0_epochs_says_none_was_searched(tmp_path):
    res = sweep(*datasets.xor(), 10, epochs=0, tol=1.0)  # every start meets tol: no squared error reaches 1
    assert res.converged.all()
    frac = _render(plot.sweep_summary(res), tmp_path, "zero").axes[1]
    assert not frac.get_lines() and [t.get_text() for t in frac.texts] == ["none searched\n(0 epochs trained)"]


def test_sweep_summary_of_a_sweep_that_diverged_entirely(tmp_path, recwarn):
    res = sweep(*datasets.xor(), 20, epochs=10, lr=1e308)
    assert not np.isfinite(res.final_loss).any()
    hist = _render(plot.sweep_summary(res), tmp_path, "diverged").axes[0]
    assert hist.get_xlim() == pytest.approx((res.tol / 10, res.tol * 10))
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)], [str(w.message) for w in recwarn]


def test_a_final_loss_maps_colour_scale_starts_at_its_least_loss_and_a_curve_reaching_0_is_log():
    from fastbackprop import init_map

    m = init_map(*datasets.xor(), 3, ("w1", "w5"), ((-4, 4), (-6, 6)), (3, 3), epochs=20)
    norm = plot.map_image(m, "final_loss").axes[0].collections[0].norm
    assert norm.vmin == pytest.approx(float(m.final_loss[m.final_loss > 0].min()))
    assert plot.loss_curve(np.array([1.0, 0.5, 0.0])).axes[0].get_yscale() == "log"


def test_losses_of_exactly_zero_are_drawn(tmp_path, recwarn):
    """Saturated units (a start of scale 1e4) give a loss of 0.0: the map's log colour scale failed in
    matplotlib after training, and the loss curve's log axis warned and drew nothing."""
    from fastbackprop import init_map

    X, y = datasets.gender()
    net = Network(seed=1, init_scale=1e4)
    history = net.train(X, y, epochs=30)
    assert not history.any()
    w1, w2 = net.params[:2]
    m = init_map(X, y, net.params, ("w1", "w2"), ((w1 - 1, w1 + 1), (w2 - 1, w2 + 1)), (3, 3), epochs=30)
    assert not m.final_loss.any()
    _render(plot.map_image(m, "final_loss"), tmp_path, "zero_map")
    assert _render(plot.loss_curve(history), tmp_path, "zero_curve").axes[0].get_yscale() == "linear"
    assert _render(plot.loss_curve(np.r_[history, 1e-300]), tmp_path, "tiny").axes[0].get_yscale() == "log"
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)], [str(w.message) for w in recwarn]


def test_grid_heatmap(tmp_path):
    g = grid(*datasets.xor(), 200, lrs=[0.5, 1.0, 2.0], epochs_list=[EPOCHS // 3, EPOCHS])
    fig = _render(plot.grid_heatmap(g), tmp_path, "grid")
    ax = fig.axes[0]
    assert len(ax.texts) == 6
    assert ax.get_xlabel() == "epochs" and ax.get_ylabel() == "learning rate"


def test_grid_heatmap_with_momenta_shows_lr_by_momentum_at_one_length(tmp_path):
    g = grid(*datasets.xor(), 100, lrs=[0.5, 2.0], epochs_list=[EPOCHS // 3, EPOCHS], momenta=[0.0, 0.5, 0.9])
    ax = _render(plot.grid_heatmap(g), tmp_path, "grid_m").axes[0]
    assert len(ax.texts) == 6 and ax.get_xlabel() == "momentum" and f"{EPOCHS:,} epochs" in ax.get_title()
    first = plot._percent(g.success_rate[0, 0, -1])
    assert ax.texts[0].get_text().startswith(first)
    shorter = plot.grid_heatmap(g, epochs=EPOCHS // 3).axes[0]
    assert f"{EPOCHS // 3:,} epochs" in shorter.get_title()
    with pytest.raises(ValueError, match=r"^epochs must be one of the grid's lengths"):
        plot.grid_heatmap(g, epochs=7)
    with pytest.raises(ValueError, match=r"^epochs picks the length shown of a grid with momenta"):
        plot.grid_heatmap(grid(*datasets.xor(), 10, lrs=[0.5], epochs_list=[2, 3]), epochs=3)
    by_margin = grid(*datasets.xor(), 100, lrs=[0.5, 2.0], epochs_list=[EPOCHS // 3, EPOCHS], margin=0.4)
    assert "every |y - ypred| < 0.4" in plot.grid_heatmap(by_margin).axes[0].get_title()


def test_no_pyplot_figures_left_open(trained):
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    plot.loss_curve(trained[1])
    assert plt.get_fignums() == before


def test_without_matplotlib(monkeypatch, trained):
    from fastbackprop import init_map

    small_map = init_map(*datasets.xor(), 1, ("w1", "w2"), ((-1, 1), (-1, 1)), (2, 2), epochs=2)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.colors", "matplotlib.patches", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)
    for draw in (lambda: plot.loss_curve(trained[1]), lambda: plot.map_image(small_map)):  # every function
        with pytest.raises(ImportError, match=r"pip install 'fastbackprop\[plot\]'"):
            draw()


def test_decision_surface_of_tanh_spans_minus_one_to_one(tmp_path):
    X, y = datasets.xor()
    y = 2 * y - 1
    net = Network(seed=3, activation="tanh")
    net.train(X, y, epochs=EPOCHS, lr=0.1)
    fig = _render(plot.decision_surface(net, X, y), tmp_path, "tanh")
    ax, bar = fig.axes
    assert "ŷ = 0)" in ax.get_title() and bar.get_ylim() == (-1.0, 1.0)
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["y = -1", "y = 1"]


def test_decision_surface_with_soft_targets(tmp_path):
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.2]])
    y = np.array([0.0, 1.0, 0.3])
    net = Network(seed=0)
    net.train(X, y, epochs=EPOCHS)
    fig = _render(plot.decision_surface(net, X, y), tmp_path, "soft")
    assert len(fig.axes[0].get_legend().get_texts()) == 3


def test_a_heat_maps_cells_never_round_a_rate_to_0_or_100_percent():
    """A Wilson upper bound of 0.19 % was written "0%" beside the table's "0.2%"."""
    fractions = (0.0, 1e-9, 1e-4, 0.0019, 0.012, 0.5, 0.99, 0.995, 0.9999, 1 - 1e-9, 1.0)
    assert [plot._percent(x) for x in fractions] == [
        "0%",
        "<0.0001%",
        "0.01%",
        "0.2%",
        "1%",
        "50%",
        "99%",
        "99.5%",
        "99.99%",
        ">99.9999%",
        "100%",
    ]
