"""Maps of trainability: every pixel is a Network trained with its settings, bit for bit."""

import importlib.util
import json
import os

import numpy as np
import pytest

from fastbackprop import MapResult, Network, _seeding, datasets, init_map, load_map, load_sweep, lr_map, sweep
from fastbackprop._layout import B3, W2
from fastbackprop.cli import main
from fastbackprop.maps import MAX_SIDE
from fastbackprop.plot import MAP_WHATS

from .conftest import JIT

XOR = datasets.xor()
TANH_XOR = (2 * XOR[0] - 1, 1.8 * XOR[1] - 0.9)
EPOCHS = 300 if JIT else 3
EXTENT = ((-4.0, 4.0), (-6.0, 6.0))


def _network_pixel(m: MapResult, j: int, i: int, X, y):
    """Pixel (j, i) of a map, retrained by Network: (final params, history)."""
    p = m.pixel(j, i)  # as its docstring says
    net = Network(params=p["params0"], activation=p["activation"])
    history = net.train(X, y, p["epochs"], p["lr"], lr_output=p["lr_output"], momentum=p["momentum"])
    return net.params, history


def _check_pixels(m, X, y, count=12, seed=0):
    rng = np.random.default_rng(seed)
    n1, n0 = m.shape
    for j, i in zip(rng.integers(n1, size=count), rng.integers(n0, size=count)):
        params, history = _network_pixel(m, int(j), int(i), X, y)
        assert params.tobytes() == m.params[j, i].tobytes(), (j, i)
        assert history[-1].tobytes() == m.final_loss[j, i].tobytes(), (j, i)
        if m.margin is None:
            reached = np.flatnonzero(history < m.tol)
            assert m.epochs_to_tol[j, i] == (reached[0] + 1 if reached.size else -1), (j, i)
            assert m.converged[j, i] == (history[-1] < m.tol)


@pytest.mark.parametrize(
    "options",
    [
        dict(lr=0.5),
        dict(lr=0.5, lr_output=2.0, momentum=0.9),
        dict(lr=0.3, activation="tanh", margin=0.2),
    ],
)
def test_every_init_map_pixel_is_a_network_bit_for_bit(options):
    data = TANH_XOR if options.get("activation") == "tanh" else XOR
    m = init_map(*data, 3, ("w1", "w5"), EXTENT, (23, 17), epochs=EPOCHS, **options)
    assert m.shape == (17, 23) and m.params.shape == (17, 23, 9) and m.complete and m.n == 17 * 23
    _check_pixels(m, *data)
    if JIT:
        assert 0 < m.converged.sum() < m.n  # a map with something on it


def test_every_lr_map_pixel_is_a_network_bit_for_bit():
    m = lr_map(*XOR, 5, (0.01, 10), (0.05, 20), (19, 13), epochs=EPOCHS)
    np.testing.assert_allclose(m.coords0, np.geomspace(0.01, 10, 19), rtol=1e-15)  # the last bit: below
    np.testing.assert_allclose(m.coords1, np.geomspace(0.05, 20, 13), rtol=1e-15)
    assert m.axes == ("lr", "lr_output") and m.log and m.lr is None
    _check_pixels(m, *XOR)
    linear = lr_map(*XOR, 5, (0.1, 2), (0.1, 2), (7, 5), epochs=EPOCHS, log=False)
    np.testing.assert_array_equal(linear.coords0, np.linspace(0.1, 2, 7))
    _check_pixels(linear, *XOR, count=5)


def test_log_spaced_coordinates_are_numpys_without_simd_on_any_cpu():
    """np.geomspace's last bit depends on the CPU (NumPy's AVX-512 log10 and power loops): the
    docs' maps, made without AVX-512, moved by up to 60 pixels with it. The package's coordinates
    are NumPy's without SIMD (the C library's log10 and pow), whatever NumPy's loops."""
    import subprocess
    import sys

    from fastbackprop.maps import _geomspace

    cases = [(0.001, 5, 50), (0.01, 10, 19), (1e-300, 1e300, 1000), (0.3, 0.30001, 7), (2.0, 3.0, 1), (1e-5, 1e5, 4097)]
    code = (
        "import json, sys, numpy as np; from fastbackprop.maps import _geomspace; cases = json.loads(sys.argv[1]); "
        "print(json.dumps([[np.geomspace(*c).tolist(), _geomspace(*c).tolist()] for c in cases]))"
    )
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SKX AVX512F")  # (absent ones: ignored)
    res = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    for case, (plain, ours) in zip(cases, json.loads(res.stdout)):
        here = _geomspace(*case)
        assert here.tolist() == plain == ours, case
        assert here[0] == case[0] and here[-1] == (case[1] if case[2] > 1 else case[0])
    assert (
        _geomspace(0.001, 5, 50)[34].hex() == "0x1.798364a8dd53ap-2"
    )  # docs/trainability.json's lr 0.36866528778712715


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_map_is_the_sweep_of_its_starting_points(dtype):
    base = np.random.default_rng(1).normal(size=9)
    m = init_map(*XOR, base, ("b3", "w2"), ((-1, 3), (0.5, 2.5)), (11, 9), epochs=EPOCHS, lr=0.5, dtype=dtype)
    starts = np.repeat(base[None], 99, axis=0)
    starts[:, B3] = np.tile(np.linspace(-1, 3, 11), 9)  # b3 = coords0[i], pixel r = j * 11 + i
    starts[:, W2] = np.repeat(np.linspace(0.5, 2.5, 9), 11)
    s = sweep(*XOR, None, epochs=EPOCHS, lr=0.5, dtype=dtype, params0=starts)
    assert m.params.reshape(99, 9).tobytes() == s.params.tobytes()
    assert m.final_loss.ravel().tobytes() == s.final_loss.tobytes()
    assert m.epochs_to_tol.ravel().tobytes() == s.epochs_to_tol.tobytes()
    assert m.params.dtype == np.dtype(dtype) and m.base_seed is None
    np.testing.assert_array_equal(m.pixel(8, 10)["params0"], starts[98])


def test_seed_base_threads_progress_and_one_pixel_axes():
    m = init_map(*XOR, 7, ["w3", "b1"], EXTENT, (1, 4), epochs=EPOCHS, threads=1)
    np.testing.assert_array_equal(m.base, _seeding.init_normal(np.array([7]))[0])
    assert m.base_seed == 7 and m.coords0.tolist() == [-4.0]  # one pixel takes lo
    again = init_map(*XOR, 7, ["w3", "b1"], EXTENT, (1, 4), epochs=EPOCHS, threads=2)
    assert again.params.tobytes() == m.params.tobytes()
    as_array = init_map(*XOR, 7, ["w3", "b1"], EXTENT, np.array([1, 4]), epochs=EPOCHS)  # any two ints
    assert as_array.params.tobytes() == m.params.tobytes()
    pytest.importorskip("tqdm")
    shown = init_map(*XOR, 7, ["w3", "b1"], EXTENT, (1, 4), epochs=EPOCHS, progress=True)
    assert shown.params.tobytes() == m.params.tobytes()


def test_maps_round_trip_through_files_and_resumable_stores(tmp_path):
    args = (*XOR, 3, ("w1", "w5"), EXTENT, (64, 40))
    m = init_map(*args, epochs=EPOCHS, lr=0.5, threads=1, store=tmp_path / "s")  # 2560 pixels: 3 chunks
    m.save(tmp_path / "m.npz")
    for loaded in (load_map(tmp_path / "m.npz"), load_map(tmp_path / "s")):
        for name in ("params", "final_loss", "epochs_to_tol", "converged", "diverged", "coords0", "coords1", "base"):
            assert getattr(loaded, name).tobytes() == getattr(m, name).tobytes(), name
        assert loaded.axes == m.axes and loaded.kind == "init" and loaded.base_seed == 3 and loaded.complete
    again = init_map(*args, epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    assert again.computed == 0 and again.params.tobytes() == m.params.tobytes()
    assert again.summary().splitlines()[-1].endswith(": 0 pixels trained, 2560 read from the store")
    assert m.summary().splitlines()[-1].endswith(f": 2560 pixels trained ({m.runs_per_second:,.0f} runs/s)")
    # another map is named as a map, not as n_seeds or per-network lrs (what differs with it)
    held = r"holds an init map of w1 x w5, \[-4.0, 4.0\] x \[-6.0, 6.0\], 64 x 40 pixels, this run is "
    for other, this in [
        (
            lambda s: init_map(*XOR, 3, ("w1", "w5"), ((-4, 4), (-6, 7)), (64, 40), epochs=EPOCHS, lr=0.5, store=s),
            r"an init map of w1 x w5, \[-4.0, 4.0\] x \[-6.0, 7.0\], 64 x 40 pixels",
        ),
        (lambda s: init_map(*args[:-1], (65, 40), epochs=EPOCHS, lr=0.5, store=s), "an init map .* 65 x 40 pixels"),
        (
            lambda s: lr_map(*XOR, 3, (0.1, 10), (0.1, 10), (64, 40), epochs=EPOCHS, store=s),
            r"an lr map of lr x lr_output, \[0.1, 10.0\] x \[0.1, 10.0\], 64 x 40 pixels",
        ),
        (lambda s: sweep(*XOR, 64 * 40, epochs=EPOCHS, lr=0.5, store=s), "a sweep, not a map"),
    ]:
        with pytest.raises(ValueError, match=held + this):
            other(tmp_path / "s")
    with pytest.raises(ValueError, match="made for other starting points"):  # the same pixels from another base
        init_map(*XOR, 4, ("w1", "w5"), EXTENT, (64, 40), epochs=EPOCHS, lr=0.5, store=tmp_path / "s")
    with pytest.raises(ValueError, match=r"holds a map, not a sweep; read it with fastbackprop\.load_map"):
        load_sweep(tmp_path / "s")
    sweep(*XOR, 10, epochs=2, store=tmp_path / "sweep")
    with pytest.raises(ValueError, match="holds a sweep, not a map"):
        load_map(tmp_path / "sweep")
    # A partial store: its finished pixels, the rest blank.
    next(p for p in sorted((tmp_path / "s").iterdir()) if p.name.startswith("chunk-")).unlink()
    partial = load_map(tmp_path / "s")
    assert not partial.complete and partial.n == 64 * 40 - 1024
    assert not partial.finished.ravel()[:1024].any() and partial.finished.ravel()[1024:].all()
    assert np.isnan(partial.final_loss.ravel()[:1024]).all() and not partial.converged.ravel()[:1024].any()
    assert partial.final_loss.ravel()[1024:].tobytes() == m.final_loss.ravel()[1024:].tobytes()
    assert "finished" in partial.summary()
    assert repr(partial).endswith(", complete=False)") and "complete" not in repr(m)
    lr = lr_map(*XOR, 3, (0.1, 10), (0.1, 10), (8, 6), epochs=EPOCHS, epochs_to_tol=False, store=tmp_path / "lr")
    back = load_map(tmp_path / "lr")
    assert back.kind == "lr" and back.log and back.epochs_to_tol is None
    assert back.report()["epochs_to_tol"] is False and "epochs_to_tol" not in m.report()  # as a sweep's says it
    assert back.params.tobytes() == lr.params.tobytes()
    lr.save(tmp_path / "lr.npz")
    assert load_map(tmp_path / "lr.npz").epochs_to_tol is None


def test_a_zero_meant_is_a_zero_and_signed_zeros_are_different_starts(tmp_path):
    # linspace(-3e-24, 3e-24, 7) puts -3.7e-40 where 0 is meant, a float32 subnormal
    m = init_map(*XOR, 3, ("w1", "w5"), ((-3e-24, 3e-24), (0, 1)), (7, 2), epochs=EPOCHS, dtype="float32")
    assert m.coords0[3] == 0.0 and m.coords0[0] == -3e-24 and m.coords0[-1] == 3e-24
    # a store made with 0.0 is not resumed with -0.0 (other starting bits): refused, results kept
    init_map(*XOR, 3, ("w1", "w5"), ((-1, 0.0), (0, 1)), (30, 40), epochs=2, store=tmp_path / "s")
    with pytest.raises(ValueError, match=r"\[-1.0, 0.0\] x .*, this run is .* \[-1.0, -0.0\] x "):
        init_map(*XOR, 3, ("w1", "w5"), ((-1, -0.0), (0, 1)), (30, 40), epochs=2, store=tmp_path / "s")
    assert load_map(tmp_path / "s").complete
    # only rounding noise is a zero meant: a coordinate of 1e-10 is kept (it was set to 0)
    m = init_map(*XOR, 3, ("w1", "w5"), ((-1, 1.0000000002), (0, 1)), (3, 2), epochs=0)
    assert m.coords0[1] == np.linspace(-1, 1.0000000002, 3)[1] != 0


def test_a_base_seed_may_be_a_0d_array_as_every_int_setting():
    a = init_map(*XOR, np.array(3), ("w1", "w5"), EXTENT, (3, 2), epochs=EPOCHS)
    b = init_map(*XOR, 3, ("w1", "w5"), EXTENT, (3, 2), epochs=EPOCHS)
    assert a.base_seed == 3 and type(a.base_seed) is int
    np.testing.assert_array_equal(a.final_loss, b.final_loss)


def test_a_map_from_seed_0_loads(tmp_path):
    init_map(*XOR, 0, ("w1", "w5"), EXTENT, (2, 2), epochs=2).save(tmp_path / "m.npz")
    assert load_map(tmp_path / "m.npz").base_seed == 0


def test_a_map_file_written_before_nans_were_made_one_loads_with_np_nans(tmp_path):
    m = init_map(*XOR, 3, ("w1", "w5"), EXTENT, (2, 2), epochs=3, lr=1e308)
    assert np.isnan(m.params).any()
    m.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        fields = dict(f)
    np.savez(tmp_path / "old.npz", **dict(fields, params=-fields["params"], final_loss=-fields["final_loss"]))
    old = load_map(tmp_path / "old.npz")
    assert old.params.tobytes() == m.params.tobytes() and old.final_loss.tobytes() == m.final_loss.tobytes()


def test_files_of_the_other_kind_and_edited_files_are_refused(tmp_path):
    m = init_map(*XOR, 3, ("w1", "w5"), EXTENT, (4, 3), epochs=2)
    m.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"holds a map, not a sweep; read it with fastbackprop\.load_map"):
        load_sweep(tmp_path / "m.npz")
    sweep(*XOR, 4, epochs=2).save(tmp_path / "s.npz")
    with pytest.raises(ValueError, match=r"holds a sweep, not a map; read it with fastbackprop\.load_sweep"):
        load_map(tmp_path / "s.npz")
    with pytest.raises(ValueError, match="is not a readable fastbackprop map store"):
        load_map(tmp_path)
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="not a fastbackprop map file"):
        load_map(tmp_path / "other.npz")
    with np.load(tmp_path / "m.npz") as f:
        fields = dict(f)
    edits = [
        ("kind", "zzz"),
        ("axes", np.array(["w1", "w9"])),
        ("dtype", "int8"),
        ("base", np.zeros(3)),
        # each of these loaded, and report() or a plot failed on it later
        ("tol", np.nan),
        ("margin", np.inf),
        ("lr", -1.0),
        ("momentum", 5.0),
        ("epochs", -3),
        ("computed", 10**6),
        ("base", np.full(9, np.nan)),
        ("X", np.full((4, 2), np.inf)),
        ("y", np.full(4, 3.0)),
        ("kind", np.array(["init", "lr"])),
        ("activation", np.array(["sigmoid", "tanh"])),
        ("momentum", 1.0),
        ("base", np.r_[np.nan, fields["base"][1:]]),
        ("X", np.r_[[[np.inf, 0.0]], fields["X"][1:]]),
        ("y", np.array([0.0, 1.0, 1.0, -0.5])),
        ("tol", 0.0),
        ("lr", 0.0),
        ("wall_seconds", np.inf),
        ("computed", 13),  # of 12 pixels
    ]
    for name, value in edits:
        np.savez(tmp_path / "bad.npz", **{**fields, name: value})
        with pytest.raises(ValueError, match="damaged map file: its fields do not fit together"):
            load_map(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad.npz", **{**fields, "format_version": np.array([1, 1])})
    with pytest.raises(ValueError, match="not a fastbackprop map file"):
        load_map(tmp_path / "bad.npz")


def test_reports_are_strict_json():
    m = init_map(*XOR, 3, ("w1", "w5"), EXTENT, (8, 8), epochs=EPOCHS, lr=0.5, momentum=0.5)
    r = json.loads(json.dumps(m.report(), allow_nan=False))
    assert r["kind"] == "init" and r["axes"] == ["w1", "w5"] and r["resolution"] == [8, 8] and r["base"] == 3
    assert r["extent"] == [[-4.0, 4.0], [-6.0, 6.0]] and r["pixels"] == 64 and r["momentum"] == 0.5
    assert "init map w1 x w5: 8 x 8 pixels" in m.summary() and "MapResult(kind='init'" in repr(m)
    assert "epochs to tol: " in m.summary()
    by_margin = init_map(*XOR, 3, ("w1", "w5"), EXTENT, (2, 2), epochs=EPOCHS, lr=0.5, margin=0.4)
    assert "epochs to margin: " in by_margin.summary() and "epochs to tol" not in by_margin.summary()


_BAD = [
    (dict(axes=("w1", "w9")), ValueError, r"^axes holds an unknown parameter 'w9'"),
    (dict(axes=("w1", "w1")), ValueError, r"^axes must name two different parameters"),
    (dict(axes="w1"), TypeError, r"^axes must be two parameter names"),
    (dict(axes=("w1", 5)), TypeError, r"^axes must be parameter names"),
    (dict(extent=((1, 1), (0, 1))), ValueError, r"^extent must have lo < hi"),
    (dict(extent=((2, 1), (0, 1))), ValueError, r"^extent must have lo < hi"),
    (dict(extent=((0, np.inf), (0, 1))), ValueError, r"^extent must be finite"),
    (dict(extent=((0, 1),)), TypeError, r"^extent must be \(\(lo0, hi0\), \(lo1, hi1\)\)"),
    (dict(extent=((0, "1"), (0, 1))), TypeError, r"^extent must hold real numbers"),
    # a set or a dict has no order: its ranges could go to either axis
    (dict(extent={(0.0, 5.0), (-1.0, 1.0)}), TypeError, r"^extent must be \(\(lo0, hi0\), \(lo1, hi1\)\)"),
    (dict(extent=((0, 1), {1: 2, 3: 4})), TypeError, r"^extent must be \(\(lo0, hi0\), \(lo1, hi1\)\)"),
    (dict(resolution=(0, 5)), ValueError, r"^resolution must be >= 1"),
    (dict(resolution=(MAX_SIDE + 1, 5)), ValueError, r"^resolution must be <= 16384"),
    (dict(resolution=(5.0, 5)), TypeError, r"^resolution must be an int"),
    (dict(resolution=5), TypeError, r"^resolution must be two ints"),
    (dict(resolution=np.array([[4, 4]])), TypeError, r"^resolution must be two ints"),
    (dict(resolution=(2, (3, 4))), TypeError, r"^resolution must be an int"),
    (dict(base=-1), ValueError, r"^base must be >= 0"),
    (dict(base=np.zeros(8)), ValueError, r"^base must be a seed or have shape \(9,\)"),
    (dict(base="3"), TypeError, r"^base must be a seed"),
    (dict(base=np.full(9, np.nan)), ValueError, r"^base must be finite"),
    (dict(lr=[0.1, 0.2]), TypeError, r"^lr must be a number in a map"),
    (dict(lr=0), ValueError, r"^lr must be finite and > 0"),
    (dict(extent=((0, 1e39), (0, 1)), dtype="float32"), ValueError, r"^extent=\S+ is outside what float32 holds"),
    (dict(extent=((-1e308, 1e308), (0, 1))), ValueError, r"^extent must lie within ±1e\+300"),
    (dict(extent=((-1, 10**400), (0, 1))), ValueError, r"^extent must lie within ±1e\+300"),
    (dict(extent=((1, 1 + 1e-7), (0, 1)), dtype="float32"), ValueError, r"^extent .* too narrow for 4 distinct pixels"),
    (dict(extent=((1, 1 + 4.5e-16), (0, 1))), ValueError, r"^extent .* 4 distinct pixels in float64; .* fewer pixels$"),
    (dict(resolution=(4096, 4096), epochs=2), ValueError, r"^resolution: a map of 16,777,216 pixels would take"),
]


@pytest.mark.parametrize("kwargs, exc, match", _BAD)
def test_bad_init_map_input_is_named_before_anything_runs(tmp_path, monkeypatch, kwargs, exc, match):
    from fastbackprop import _validation

    monkeypatch.setattr(_validation, "available_memory", lambda: 1 << 30)  # a 1 GiB machine
    args = dict(X=XOR[0], y=XOR[1], base=3, axes=("w1", "w5"), extent=EXTENT, resolution=(4, 4), epochs=2)
    with pytest.raises(exc, match=match):
        init_map(**{**args, **kwargs, "store": tmp_path / "s"})
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(lr_extent=(0, 1)), ValueError, r"^lr_extent must be > 0"),
        (dict(lr_extent=(-1, 1), log=False), ValueError, r"^lr_extent must be > 0"),
        (dict(lr_output_extent=(1, 0.5)), ValueError, r"^lr_output_extent must have lo < hi"),
        (dict(lr_extent=1.0), TypeError, r"^lr_extent must be \(lo, hi\)"),
        (dict(lr_extent={0.1: 2, 0.5: 1}), TypeError, r"^lr_extent must be \(lo, hi\)"),
        (dict(log="yes"), TypeError, r"^log must be a bool"),
        (dict(momentum=1.0), ValueError, r"^momentum must lie in \[0, 1\)"),
    ],
)
def test_bad_lr_map_input_is_named_before_anything_runs(tmp_path, kwargs, exc, match):
    args = dict(X=XOR[0], y=XOR[1], base=3, lr_extent=(0.1, 1), lr_output_extent=(0.1, 1), resolution=(4, 4))
    with pytest.raises(exc, match=match):
        lr_map(**{**args, **kwargs, "store": tmp_path / "s", "epochs": 2})
    assert not (tmp_path / "s").exists()


def test_map_images_show_diverged_pixels_the_criterion_and_readable_ticks(tmp_path):
    """Diverged pixels were blank (and, in a partial map, read as "not trained yet"); a margin's
    value, and converged's criterion, were nowhere; a deep zoom's x labels ran into each other;
    a final-loss scale spanned at least a decade; the summary printed a deep zoom's ends alike."""
    pytest.importorskip("matplotlib")
    import warnings

    from matplotlib.colors import to_hex

    from fastbackprop import plot

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pure-Python pass's NumPy scalars warn of the overflow
        div = init_map(*XOR, 3, ("b1", "b3"), ((-40, 40), (-40, 40)), (4, 3), epochs=EPOCHS, lr=1e308, margin=0.45)
    assert div.diverged.all()
    for what in ("epochs_to_tol", "final_loss", "converged"):
        fig = plot.map_image(div, what)
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert "diverged" in labels and "diverged: 12" in fig.axes[0].get_title()
        colours = [to_hex(h.get_facecolor()) for h in fig.legends[0].legend_handles]
        assert plot.DIVERGED_COLOUR in colours
    assert "every |y - ypred| < 0.45" in plot.map_image(div, "epochs_to_tol").axes[1].get_ylabel()
    converged = plot.map_image(div, "converged").legends[0].get_texts()[0].get_text()
    assert converged.startswith("every |y - ypred| < 0.45 after")
    deep = init_map(*XOR, 3, ("w1", "w5"), ((1.499995, 1.499996), (0, 1)), (40, 3), epochs=EPOCHS)
    fig = plot.map_image(deep, "final_loss")
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert len(set(ticks)) == len(ticks) and sum(map(len, ticks)) <= 56, ticks
    loss = deep.final_loss
    assert fig.axes[0].collections[0].norm.vmax == pytest.approx(float(loss.max()))  # not lo * 10
    assert "w1 1.499995 .. 1.499996" in deep.summary()
    fig.savefig(tmp_path / "deep.png")


def test_map_images(tmp_path):
    pytest.importorskip("matplotlib")
    from fastbackprop import plot

    m = init_map(*XOR, 3, ("w1", "w5"), EXTENT, (12, 10), epochs=EPOCHS, lr=0.5)
    lr = lr_map(*XOR, 3, (0.01, 10), (0.01, 10), (6, 5), epochs=EPOCHS, epochs_to_tol=False)
    for result, whats in ((m, ("epochs_to_tol", "final_loss", "converged")), (lr, ("final_loss", "converged"))):
        for what in whats:
            fig = plot.map_image(result, what)
            ax = fig.axes[0]
            assert ax.get_xlabel() and ax.get_ylabel()
            fig.savefig(tmp_path / f"{result.kind}-{what}.png")
    assert fig.axes[0].get_xscale() == "log" and "initial w1" == plot.map_image(m).axes[0].get_xlabel()
    with pytest.raises(ValueError, match="epochs_to_tol=False"):
        plot.map_image(lr)
    with pytest.raises(ValueError, match="what must be one of"):
        plot.map_image(m, "loss")
    none = init_map(*XOR, 3, ("w1", "w5"), EXTENT, (3, 2), epochs=0)
    with pytest.raises(ValueError, match="trained 0 epochs, so none was searched"):
        plot.map_image(none)
    plot.map_image(none, "converged")


def test_map_image_ticks_tell_a_narrow_extent_apart(tmp_path):
    """A few zooms make an extent of 1e-5: every tick read "1.5" at 4 digits."""
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from fastbackprop import plot

    m = init_map(*XOR, 2, ("w1", "w5"), ((1.5, 1.50001), (-2.00001, -2)), (8, 8), epochs=2)
    fig = plot.map_image(m, "final_loss")
    FigureCanvasAgg(fig).draw()
    for labels in (fig.axes[0].get_xticklabels(), fig.axes[0].get_yticklabels()):
        texts = [t.get_text() for t in labels]
        assert len(set(texts)) == len(texts) > 2, texts
    FigureCanvasAgg(fig := plot.map_image(init_map(*XOR, 2, ("w1", "w5"), EXTENT, (4, 4), epochs=2))).draw()
    assert all(len(t.get_text()) <= 5 for t in fig.axes[0].get_xticklabels())  # wide extents: short labels


def test_images_of_a_partial_map_with_no_pixel_finished(tmp_path):
    pytest.importorskip("matplotlib")
    from fastbackprop import plot

    init_map(*XOR, 3, ("w1", "w5"), EXTENT, (3, 2), epochs=2, store=tmp_path / "s")
    for chunk in tmp_path.glob("s/chunk-*"):
        chunk.unlink()
    empty = load_map(tmp_path / "s")
    assert empty.n == 0
    for what in MAP_WHATS:
        title = plot.map_image(empty, what).axes[0].get_title()
        assert "no network finished yet" in title and "nan" not in title


@pytest.mark.parametrize("lrs, shape", [((1e-300, 1e300), (4, 4)), ((1e-300, 1.0), (2, 2)), ((1e-200, 1e200), (2, 2))])
def test_map_images_of_rates_across_the_float_range(tmp_path, lrs, shape):
    """Pixel edges beyond 1e±308 (and matplotlib's log axes near there) overflowed: drawn against the
    exponents instead, each pixel where its rate's exponent is, without a warning."""
    pytest.importorskip("matplotlib")
    import warnings

    from fastbackprop import plot

    m = lr_map(*XOR, 2, lrs, (0.01, 10), shape, epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for what in ("final_loss", "converged", "epochs_to_tol"):
            fig = plot.map_image(m, what)
            fig.savefig(tmp_path / f"{what}.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_xlabel().startswith("log10 of the learning rate")
    lo, hi = ax.get_xlim()
    step = np.diff(np.log10(m.coords0))[0]
    assert np.isclose(lo, np.log10(lrs[0]) - step / 2) and np.isclose(hi, np.log10(lrs[1]) + step / 2)


def test_the_cli(tmp_path, capsys):
    out, png = tmp_path / "m.npz", tmp_path / "m.png"
    args = ["map", "init", "--dataset", "xor", "--axes", "w1", "w5", "--extent", "-4", "4", "-6", "6"]
    args += ["--resolution", "16", "12", "--epochs", str(EPOCHS), "--lr", "0.5"]
    assert main([*args, "--json", "--out", str(out), "--plot", str(png), "--zoom", "1", "2", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["extent"] == [[0.0, 2.0], [0.5, 3.5]] and report["resolution"] == [16, 12]
    assert load_map(out).shape == (12, 16) and png.stat().st_size > 0
    lr = ["map", "lr", "--dataset", "xor", "--lr", "-2", "1", "--lr-output", "-1", "0", "--resolution", "4", "3"]
    assert main([*lr, "--epochs", "2"]) == 0
    assert "lr map lr x lr_output: 4 x 3 log-spaced pixels, lr 0.01 .. 10" in capsys.readouterr().out
    assert (
        main(
            [
                *lr[:5],
                "0.1",
                "2",
                "--linear",
                "--lr-output",
                "0.5",
                "1",
                "--resolution",
                "2",
                "2",
                "--epochs",
                "2",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["extent"] == [[0.1, 2.0], [0.5, 1.0]]
    assert main([*args[:8], "-1e-3", "1e-3", "-1", "1", "--resolution", "2", "2", "--epochs", "2"]) == 0
    assert "w1 -0.001 .. 0.001" in capsys.readouterr().out  # -1e-3 is a number, not an option
    assert main([*lr[:4], "--lr", "400", "401", "--lr-output", "0", "1", "--resolution", "2", "2"]) == 2
    assert "--lr takes log10 of the learning rates, in [-300, 300] in float64" in capsys.readouterr().err
    f32 = [*lr[:4], "--lr", "-50", "-49", "--lr-output", "0", "1", "--resolution", "2", "2", "--dtype", "float32"]
    assert main(f32) == 2  # named in the exponents typed, not as the rate 1e-50
    assert "--lr takes log10 of the learning rates, in [-37, 38] in float32; got -50 -49" in capsys.readouterr().err
    # checked as zoomed, before any rate is made of an exponent (10.0**597 overflowed, naming no flag)
    wide = [*lr[:4], "--lr", "-300", "300", "--lr-output", "-2", "1", "--resolution", "2", "2"]
    reversed_lr = [*lr[:4], "--lr", "1", "-1", "--lr-output", "-1", "1", "--zoom", "0", "0", "2"]
    assert main(reversed_lr) == 2  # the exponents typed are named first, not the zoom's centre
    assert "--lr must have LO < HI, got 1 -1" in capsys.readouterr().err
    for centre, got in (("300", "2.9703 597.03"), ("-300", "-597.03 -2.9703")):
        assert main([*wide, "--zoom", centre, "0", "1.01"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--lr takes log10 of the learning rates" in err
        assert f"got {got} (after --zoom)" in err
    refused = tmp_path / "refused.npz"
    assert main([*lr, "--epochs", "2", "--no-epochs-to-tol", "--what", "epochs_to_tol", "--out", str(refused)]) == 2
    assert "drop --no-epochs-to-tol" in capsys.readouterr().err and not refused.exists()
    assert main([*lr, "--epochs", "0", "--what", "epochs_to_tol", "--out", str(refused)]) == 2
    assert "--epochs 0 trains none" in capsys.readouterr().err and not refused.exists()
    if importlib.util.find_spec("matplotlib"):  # drawn as converged / not: no pixel was searched
        assert main([*lr, "--epochs", "0", "--plot", str(tmp_path / "none.png")]) == 0
        assert (tmp_path / "none.png").stat().st_size
        capsys.readouterr()
    for bad, message in [
        (["--zoom", "0", "0", "1"], "the factor must be > 1"),
        (["--zoom", "9", "0", "2"], "the centre 9.0 lies outside"),
        (["--zoom", "0", "0", "1e308"], "--zoom: a factor of 1e+308 leaves nothing"),
        (["--axes", "w1", "x"], "unknown parameter 'x'"),
        (["--base", "-1"], "--base must be a seed >= 0"),
    ]:
        assert main([*args, "--epochs", "2", *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("fastbackprop: error:") and message in err and err.count("\n") == 1
