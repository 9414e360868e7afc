"""Adversarial inputs: every public entry point and CLI flag, attacked by kind of argument.

Each either returns its documented result or raises a ValueError/TypeError
naming the argument, before any compiled code runs.
"""

import contextlib
import re
import warnings

import numpy as np
import pytest

from fastbackprop import Network, datasets, grid, sweep

from .conftest import JIT

X0, Y0 = datasets.gender()


@contextlib.contextmanager
def _silent():
    """Compiled code must not warn; the pure-Python coverage pass computes with
    NumPy scalars, which warn about overflow that compiled code handles silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error" if JIT else "ignore")
        yield


# ---------------------------------------------------------------------------
# Adversarial values, by kind of argument
# ---------------------------------------------------------------------------
BAD_X = {
    "nan": np.where(X0 == 25, np.nan, X0),
    "inf": np.where(X0 == 25, -np.inf, X0),
    "3 columns": np.ones((4, 3)),
    "1-d": np.ones(4),
    "3-d": np.ones((4, 2, 1)),
    "empty": np.empty((0, 2)),
    "object": X0.astype(object),
    "string": X0.astype(str),
    "complex": X0.astype(complex),
    "bool": X0 > 0,
    "bool rows": [X0[0] > 0, *X0[1:]],  # NumPy would read a list of arrays as numbers
    "bool 0-d": [[np.array(True), 1.0], *X0[1:].tolist()],
    "ragged": [[1.0, 2.0], [3.0]],
    "None": None,
    "masked": np.ma.array(X0, mask=X0 == 25),  # NumPy would train on the hidden values
    "masked rows": [np.ma.array(row, mask=row == 25) for row in X0],
}
BAD_Y = {
    "nan": np.array([1, 0, np.nan, 1.0]),
    "inf": np.array([1, 0, np.inf, 1.0]),
    "above 1": np.array([1, 0, 1.5, 1.0]),
    "below 0": np.array([1, 0, -1e-300, 1.0]),
    "too short": Y0[:3],
    "2-d": Y0[:, None],
    "complex": Y0.astype(complex),
    "bool": Y0 > 0,
    "string": Y0.astype(str),
    "None": None,
    "masked": np.ma.array(Y0, mask=[0, 0, 1, 0]),
}
BAD_COUNT = {
    "bool": True,
    "float": 3.0,
    "string": "3",
    "None": None,
    "negative": -1,
    "huge": 10**19,
    "numpy bool": np.bool_(True),
    "complex": 1j,
}
BAD_RATE = {
    "bool": True,
    "string": "0.2",
    "None": None,
    "nan": np.nan,
    "inf": np.inf,
    "zero": 0.0,
    "negative": -0.2,
    "complex": 0.2 + 0j,
    "array": np.array([0.2, 0.3]),
    "masked": np.ma.array(0.2, mask=True),  # was taken as 0.2 (np.ma.masked as 0.0)
}

CALLS = {
    "Network.train": lambda **kw: Network(seed=0).train(**{"X": X0, "y": Y0, "epochs": 5, **kw}),
    "sweep": lambda **kw: sweep(**{"X": X0, "y": Y0, "seeds": 4, "epochs": 5, **kw}),
    "grid": lambda **kw: grid(**{"X": X0, "y": Y0, "seeds": 4, "lrs": [0.2], "epochs_list": [5], **kw}),
}


def _cases():
    for call in CALLS:
        for name, value in BAD_X.items():
            yield call, "X", name, value
        for name, value in BAD_Y.items():
            yield call, "y", name, value
        for name, value in BAD_RATE.items():
            if call != "grid":
                yield call, "lr", name, value
            if call != "Network.train":
                yield call, "tol", name, value
        for name, value in BAD_COUNT.items():
            if call != "grid":
                yield call, "epochs", name, value
            if call != "Network.train":
                yield call, "seeds", name, value
                if value is not None:  # threads=None is the documented default
                    yield call, "threads", name, value


def test_nesting_too_deep_or_circular_is_named_not_a_recursion_error():
    deep = [0]
    for _ in range(3000):
        deep = [deep]
    with pytest.raises(ValueError, match=r"^seeds must be"):
        sweep(X0, Y0, deep, epochs=1)
    itself = [1]
    itself.append(itself)
    with pytest.raises(ValueError, match=r"^seeds must be"):
        sweep(X0, Y0, itself, epochs=1)  # walked once, not for ever


@pytest.mark.parametrize("call, arg, case, value", list(_cases()), ids=lambda v: str(v)[:20])
def test_bad_argument_is_named(call, arg, case, value):
    with pytest.raises((ValueError, TypeError)) as exc:
        CALLS[call](**{arg: value})
    assert re.match(rf"{arg}\b", str(exc.value)), str(exc.value)  # named first: not the y of "array" or "dtype"


@pytest.mark.parametrize(
    "value",
    [
        [-1],
        [2**63],
        [2**64 + 5],
        np.array([1.5]),
        np.array([True]),
        "abc",
        np.array([[1, 2]]),
        range(-3, 2),
        [],
        np.array([], dtype=np.int64),
        np.ma.array([0, 1, 2], mask=[0, 1, 0]),  # seed 1 was trained
    ],
)
def test_bad_seed_arrays_are_named(value):
    with pytest.raises((ValueError, TypeError), match="seeds"):
        sweep(X0, Y0, value, epochs=2)


def test_grid_takes_its_axes_by_name_only():
    # grid(X, y, seeds, [500, 3000], [1, 2]) would train at learning rates 500 and 3000
    with pytest.raises(TypeError, match="positional argument"):
        grid(X0, Y0, 4, [0.2], [5])


@pytest.mark.parametrize("value", [True, 1.0, "a", [1.0, -1.0], [np.nan], [[0.1, 0.2]], []])
def test_bad_grid_lists_are_named(value):
    with pytest.raises((ValueError, TypeError), match="lrs"):
        grid(X0, Y0, 4, lrs=value, epochs_list=[5])
    with pytest.raises((ValueError, TypeError), match="epochs_list"):
        grid(X0, Y0, 4, lrs=[0.2], epochs_list=value)


@pytest.mark.parametrize("value", [np.ones(9, dtype=np.float16), np.ones(9).astype(">f8"), list(range(9))])
def test_accepted_params_forms(value):
    assert Network(params=value).params.dtype == np.float64


@pytest.mark.parametrize(
    "X, y",
    [
        (X0.astype(np.float16), Y0.astype(np.float16)),
        (X0.astype(">f4"), Y0.astype(">f8")),
        (X0.astype(np.uint8 if X0.min() >= 0 else np.int8), Y0.astype(np.int64)),
    ],
    ids=["float16", "big-endian", "small ints"],
)
def test_unusual_but_real_dtypes_give_the_float64_result(X, y):
    X64, y64 = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    expected = Network(seed=1).train(X64, y64, epochs=30)
    np.testing.assert_array_equal(Network(seed=1).train(X, y, epochs=30), expected)
    np.testing.assert_array_equal(sweep(X, y, 3, epochs=30).final_loss, sweep(X64, y64, 3, epochs=30).final_loss)


def test_edge_values_that_are_allowed():
    with _silent():
        net = Network(seed=0)
        h = net.train(X0, Y0, epochs=3, lr=5e-324)  # denormal step: nothing moves, nothing breaks
        assert np.all(np.isfinite(h))
        h = Network(seed=0).train(X0, Y0, epochs=3, lr=1e6)  # saturates: finite, stuck
        assert np.all(np.isfinite(h))
        assert Network(seed=0).train(X0, Y0, epochs=0).shape == (0,)
        res = sweep(X0, Y0, [7, 7, 7], epochs=0)
        assert res.n == 3 and np.all(res.epochs_to_tol == -1)
        one = sweep([[0.0, 1.0]], [1.0], 2, epochs=50_000 if JIT else 5)  # huge epochs, tiny data
        assert np.all(one.converged if JIT else np.isfinite(one.final_loss))


def test_a_0d_array_is_taken_wherever_its_scalar_is():
    """sweep took a 0-d lr (a per-network setting) and refused a 0-d tol, epochs or Network.train lr."""
    zero_d = dict(epochs=np.array(6), lr=np.array(0.5), tol=np.array(0.2), margin=np.array(0.4), momentum=np.array(0.3))
    plain = {k: v.item() for k, v in zero_d.items()}
    _same = np.testing.assert_array_equal
    _same(sweep(X0, Y0, 4, **zero_d).params, sweep(X0, Y0, 4, **plain).params)
    train = {k: zero_d[k] for k in ("epochs", "lr", "momentum")}
    _same(
        Network(seed=np.array(3)).train(X0, Y0, **train), Network(seed=3).train(X0, Y0, **{k: plain[k] for k in train})
    )
    with pytest.raises(TypeError, match="tol must be a real number"):
        sweep(X0, Y0, 4, epochs=2, tol=np.array(True))
    with pytest.raises(TypeError, match="epochs must be an int"):
        sweep(X0, Y0, 4, epochs=np.array(2.0))
    # the seed count, the flags and the choices too (np.load gives such 0-d arrays back)
    flags = dict(epochs_to_tol=np.array(False), progress=np.array(False), dtype=np.array("float32"))
    choices = dict(activation=np.array("tanh"), init=np.array("uniform"))
    plain_flags = {k: v.item() for k, v in {**flags, **choices}.items()}
    a = sweep(X0, Y0, np.array(4), epochs=3, **flags, **choices)
    b = sweep(X0, Y0, 4, epochs=3, **plain_flags)
    _same(a.params, b.params)
    assert a.epochs_to_tol is None and (a.activation, a.init, a.dtype) == ("tanh", "uniform", "float32")
    assert type(a.activation) is str
    assert Network(seed=1).train(X0, Y0, 3, history=np.array(False)) is None
    with pytest.raises(TypeError, match="history must be a bool"):
        Network(seed=1).train(X0, Y0, 3, history=np.array(1))


@pytest.mark.parametrize(
    "call, match",
    [
        # NumPy makes timedelta64 a signed integer type: it was taken as a count, or failed unnamed
        (lambda: sweep(X0, Y0, 3, epochs=np.timedelta64(20)), r"^epochs must be an int"),
        (lambda: sweep(X0, Y0, 3, epochs=np.timedelta64(20, "ms")), r"^epochs must be an int"),
        (lambda: Network(seed=1).train(X0, Y0, 5, lr=np.timedelta64(1, "s")), r"^lr must be a real number"),
        (lambda: Network(seed=np.timedelta64(4, "s")), r"^seed must be an int"),
    ],
)
def test_timedeltas_are_not_numbers(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_python_numbers_in_lists_are_taken_as_the_scalars_are():
    """lr=2**64 was taken and lr=[2**64, 1.0] refused as "dtype object"."""
    from fractions import Fraction

    np.testing.assert_array_equal(sweep(X0, Y0, 2, epochs=2, lr=[2**64, Fraction(1, 2)]).lr, [2.0**64, 0.5])
    assert Network(seed=1).predict([[2**64, 0.0]]).shape == (1,)
    with pytest.raises(ValueError, match=r"^lr must be finite, got an int beyond the float range"):
        sweep(X0, Y0, 2, epochs=2, lr=[10**400, 1.0])
    with pytest.raises(TypeError, match=r"^lr must hold real numbers"):  # an object array given as one: refused
        sweep(X0, Y0, 2, epochs=2, lr=np.array([2**64, 1.0], dtype=object))


def test_a_malformed_dtype_is_named():
    with pytest.raises(ValueError, match=r"^dtype must be 'float64' or 'float32', got \('f8', -1\)"):
        sweep(X0, Y0, 2, epochs=2, dtype=("f8", -1))


@pytest.mark.parametrize("X_scale", [1e6, 1e-6])
def test_extreme_input_magnitudes(X_scale):
    with _silent():
        X = X0 * X_scale
        net = Network(seed=3)
        epochs = 50 if JIT else 5
        h = net.train(X, Y0, epochs=epochs)
        assert np.all(np.isfinite(h)) and np.all(np.isfinite(net.params))
        res = sweep(X, Y0, 300 if JIT else 4, epochs=epochs)
        assert not res.diverged.any()
        np.testing.assert_array_equal(res.params[3], net.params)


def test_odd_stores_clients_and_map_settings_are_named(tmp_path):
    import os

    from fastbackprop import init_map

    class BytesPath(os.PathLike):
        def __fspath__(self):
            return os.fsencode(tmp_path / "s")

    with pytest.raises(TypeError, match=r"^store must be a path as str, got one as bytes"):
        sweep(X0, Y0, 4, epochs=2, store=BytesPath())
    assert not (tmp_path / "s").exists()

    class Gatherer:  # what was asked of a client, and no more
        def map(self, *args):
            return []

        gather = map

    with pytest.raises(TypeError, match=r"^client must be a dask\.distributed\.Client"):
        sweep(X0, Y0, 4, epochs=2, client=Gatherer())
    with pytest.raises(TypeError, match=r"^lr must be a number in a map"):  # NumPy's ragged-array error, unnamed
        init_map(X0, Y0, 0, ("w1", "w5"), ((-1, 1), (-1, 1)), (2, 2), lr=[[1.0], [1.0, 2.0]])


def test_network_blow_up_names_the_output_rate_that_caused_it():
    with _silent(), pytest.raises(FloatingPointError, match=r"\(lr=0\.2, lr_output=1e\+308\)"):
        Network(seed=0).train(*datasets.xor(), epochs=5, lr_output=1e308)


def test_network_blow_up_raises_and_leaves_the_network_unchanged():
    X = np.array([[1e6, -1e6], [-1e6, 1e6], [3e5, 1e6]])
    y = np.array([1.0, 0.0, 1.0])
    net = Network(seed=1)
    before = net.params
    with _silent():
        with pytest.raises(FloatingPointError, match=r"training diverged.*network is unchanged"):
            net.train(X, y, epochs=20, lr=1e308)
    np.testing.assert_array_equal(net.params, before)
    assert net.epochs_trained == 0
    # The epoch is named where the recorded loss shows it, bounded where only the end of a slice does.
    X, y = datasets.xor()
    first = next(k for k in range(1, 21) if not np.isfinite(sweep(X, y, [0], epochs=k, lr=1e308).final_loss[0]))
    with _silent():
        with pytest.raises(FloatingPointError, match=rf"stopped being finite in epoch {first} "):
            Network(seed=0).train(X, y, epochs=3000, lr=1e308)
        with pytest.raises(FloatingPointError, match=r"stopped being finite by epoch 3000 "):
            Network(seed=0).train(X, y, epochs=3000, lr=1e308, history=False)


# ---------------------------------------------------------------------------
# The command line: every numeric flag of every command, bad values
# ---------------------------------------------------------------------------
NUMERIC_FLAGS = {
    "train": ["--seed", "--epochs", "--lr", "--log-every"],
    "sweep": ["--seeds", "--epochs", "--lr", "--threads", "--tol"],
    "grid": ["--seeds", "--lr", "--epochs", "--threads", "--tol"],
}


@pytest.mark.parametrize("cmd, flag", [(c, f) for c, fs in NUMERIC_FLAGS.items() for f in fs])
@pytest.mark.parametrize("value", ["nan", "inf", "-1", "abc", "", "1e400"])
def test_cli_bad_numbers_are_one_line_exit_2(cmd, flag, value, capsys):
    from fastbackprop.cli import main

    # Small valid settings for everything but the flag under test, which comes last.
    valid = {
        "train": {},
        "sweep": {"--seeds": "3", "--epochs": "3"},
        "grid": {"--seeds": "3", "--lr": "0.5", "--epochs": "3"},
    }[cmd]
    args = [cmd] + [a for k, v in valid.items() if k != flag for a in (k, v)] + [flag, value]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    name = flag.lstrip("-")
    assert name in err or name.replace("-", "_") in err or name.rstrip("s") in err, err


# ---------------------------------------------------------------------------
# Values that do not survive the sweep's dtype; sizes that cannot fit
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(lr=1e-50), "lr"),  # rounds to 0 in float32: trains nothing
        (dict(lr=1e39), "lr"),  # inf in float32
        (dict(tol=1e-40), "tol"),  # a float32 subnormal
        (dict(X=X0 * 1e38), "X"),  # beyond float32's range: inf inputs, every seed "diverged"
        (dict(X=np.where(X0 == 25, 1e-50, X0)), "X"),  # nonzero, 0 in float32
    ],
)
def test_float32_refuses_values_it_cannot_hold(kwargs, name):
    args = {**dict(X=X0, y=Y0, seeds=4, epochs=2, dtype="float32"), **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused, not warned about
        with pytest.raises(ValueError, match=rf"^{name}\b.*float32"):
            sweep(**args)
        with pytest.raises(ValueError, match=rf"^{'lrs' if name == 'lr' else name}\b.*float32"):  # grid's names
            grid(
                **{k: v for k, v in args.items() if k not in ("lr", "epochs")},
                lrs=[args.get("lr", 0.2)],
                epochs_list=[2],
            )
    sweep(**dict(args, dtype="float64"))  # the same values are fine in float64


@pytest.mark.parametrize("name, must", [("lr", "be finite"), ("tol", "be finite"), ("momentum", r"lie in \[0, 1\)")])
def test_numbers_too_large_for_a_float_are_value_errors(name, must):
    with pytest.raises(ValueError, match=rf"^{name} must {must}.*too large for a float"):
        sweep(X0, Y0, 4, epochs=2, **{name: 10**400})
    if name != "tol":
        with pytest.raises(ValueError, match=rf"^{name} must {must}"):
            Network(seed=0).train(X0, Y0, epochs=2, **{name: 10**400})


def test_a_range_of_one_seed_takes_any_step():
    np.testing.assert_array_equal(sweep(X0, Y0, range(5, 6, 2**64), epochs=2).seeds, [5])


def test_sizes_that_cannot_fit_are_refused_up_front(monkeypatch):
    from fastbackprop import _kernels, _validation

    monkeypatch.setattr(_validation, "available_memory", lambda: 1 << 30)  # a 1 GiB machine

    def never(*args):
        raise AssertionError("allocated and ran before refusing")

    monkeypatch.setattr(_kernels, "training_kernels", lambda *variant: _kernels.TrainingKernels(never, never))
    with pytest.raises(ValueError, match=r"^epochs: a loss history of 1,000,000,000 epochs would take 7\.45 GiB"):
        Network(seed=0).train(X0, Y0, epochs=10**9)
    with pytest.raises(ValueError, match=r"^seeds: the results of 1,000,000,000 seeds would take .* GiB"):
        sweep(X0, Y0, 10**9, epochs=2)
    with pytest.raises(ValueError, match=r"^seeds: the results of 10,000,000 seeds x 3 grid cells would take"):
        grid(X0, Y0, 10**7, lrs=[0.1, 0.2, 0.3], epochs_list=[1, 2, 3])


def test_history_false_trains_the_same_network():
    a, b = Network(seed=5), Network(seed=5)
    history = a.train(X0, Y0, epochs=300)
    assert b.train(X0, Y0, epochs=300, history=False) is None
    np.testing.assert_array_equal(a.params, b.params)
    assert a.epochs_trained == b.epochs_trained == 300 and history.shape == (300,)
    with pytest.raises(TypeError, match="history must be a bool"):
        a.train(X0, Y0, epochs=3, history="no")


def test_long_runs_are_sliced_without_changing_a_bit(monkeypatch):
    from fastbackprop import network

    whole = Network(seed=7)
    h_whole = whole.train(X0, Y0, epochs=500)
    monkeypatch.setattr(network, "_STEPS_PER_SLICE", 4 * 37)  # 37 epochs of 4 samples per compiled call
    sliced = Network(seed=7)
    h_sliced = sliced.train(X0, Y0, epochs=500)
    np.testing.assert_array_equal(h_sliced, h_whole)
    np.testing.assert_array_equal(sliced.params, whole.params)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sweep(X0, Y0, 4, epochs=10**9 + 1), "epochs must be <= 1000000000, got 1000000001"),
        (lambda: Network(seed=0).train(X0, Y0, epochs=10**9 + 1), "epochs must be <= 1000000000"),
        (lambda: grid(X0, Y0, 4, lrs=[0.5], epochs_list=[10**9 + 1]), "epochs_list must be <= 1000000000"),
        (lambda: sweep(X0, Y0, 10**9 + 1, epochs=1), "seeds must be <= 1000000000"),
        (lambda: sweep(X0, Y0, range(10**9 + 1), epochs=1), "seeds must hold at most 1000000000 seeds"),
    ],
)
def test_the_documented_limits_are_exact(call, match):
    """10**9 epochs and 10**9 seeds are the most (README, Guarantees); one more is refused up front."""
    with pytest.raises(ValueError, match=f"^{match}"):
        call()
