"""The public Network class: behaviour, input handling and validation."""

import numpy as np
import pytest

from fastbackprop import Network, datasets, reference
from fastbackprop._layout import PARAM_NAMES
from fastbackprop._seeding import init_normal

from .conftest import JIT


def test_classic_experiment_converges():
    X, y = datasets.gender()
    net = Network(seed=2)
    before = net.loss(X, y)
    history = net.train(X, y, epochs=3000, lr=0.2)
    assert history.shape == (3000,) and history.dtype == np.float64
    assert 0.3 <= before <= 0.4 and 0.3 <= history[0] <= 0.4
    assert history[-1] <= 0.005
    assert history[-1] == pytest.approx(net.loss(X, y), rel=1e-15)
    assert np.all(np.diff(history[100:]) < 0)  # steadily downhill once it has started
    q = datasets.gender_queries()
    assert net.feedforward(q["Emily"][0]) >= 0.95
    assert net.feedforward(q["Frank"][0]) <= 0.05
    pred = net.predict(X)
    assert np.all((pred > 0.5) == (y == 1))


# 20 seeds compiled; 2 in the pure-Python coverage pass, where each takes 3.5 s
# and the others run the same lines again.
@pytest.mark.parametrize("seed", range(20 if JIT else 2))
def test_gender_is_learned_from_any_seed(seed):
    X, y = datasets.gender()
    net = Network(seed=seed)
    net.train(X, y)
    assert np.all((net.predict(X) > 0.5) == (y == 1))


def test_seed_gives_the_seed_map_and_is_repeatable():
    assert np.array_equal(Network(seed=7).params, init_normal([7])[0])
    assert np.array_equal(Network(seed=7).params, Network(seed=7).params)
    assert not np.array_equal(Network(seed=7).params, Network(seed=8).params)


def test_random_seed_is_recorded():
    a = Network()
    assert isinstance(a.seed, int) and 0 <= a.seed < 2**63
    assert np.array_equal(Network(seed=a.seed).params, a.params)
    assert len({Network().seed for _ in range(4)} | {a.seed}) == 5  # drawn afresh (2^-61 to fail by chance)


def test_params_are_copied_in_and_out():
    start = np.arange(9.0)
    net = Network(params=start)
    start[0] = 99.0
    assert net.params[0] == 0.0
    out = net.params
    out[1] = 99.0
    assert net.params[1] == 1.0
    assert net.seed is None


def test_train_matches_reference():
    X, y = datasets.xor()
    net = Network(seed=3)
    p0 = net.params
    hist = net.train(X, y, epochs=500, lr=0.5)
    rp, rh = reference.train(p0[None], X, y, 500, 0.5)
    np.testing.assert_allclose(net.params, rp[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(hist, rh[0], rtol=0, atol=1e-12)


def test_training_continues_where_it_stopped():
    X, y = datasets.gender()
    a, b = Network(seed=5), Network(seed=5)
    a.train(X, y, epochs=100)
    a.train(X, y, epochs=100)
    b.train(X, y, epochs=200)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.epochs_trained == 200


def test_zero_epochs_is_a_no_op():
    X, y = datasets.gender()
    net = Network(seed=1)
    hist = net.train(X, y, epochs=0)
    assert hist.shape == (0,)
    np.testing.assert_array_equal(net.params, Network(seed=1).params)


def test_predict_feedforward_loss_agree_with_reference():
    X, y = datasets.gender()
    net = Network(seed=4)
    ref = reference.forward(net.params[None], X)[0]
    np.testing.assert_allclose(net.predict(X), ref, rtol=1e-14)
    assert net.feedforward(X[1]) == pytest.approx(ref[1], rel=1e-14)
    assert isinstance(net.feedforward(X[1]), float)
    assert net.loss(X, y) == pytest.approx(reference.mse(net.params[None], X, y)[0], rel=1e-14)
    assert isinstance(net.loss(X, y), float)


def test_repr_names_seed_and_parameters():
    net = Network(seed=11)
    text = repr(net)
    assert text.startswith("Network(seed=11, epochs_trained=0, w1=")
    assert text.endswith(", ".join(f"{n}={v:.4g}" for n, v in zip(PARAM_NAMES, net.params)) + ")")


# ---------------------------------------------------------------------------
# Accepted input forms: all give the float64 result, none is modified
# ---------------------------------------------------------------------------
def _input_forms():
    X, y = datasets.gender()
    Xi = X.astype(np.int64)
    ro = X.copy()
    ro.flags.writeable = False
    yro = y.copy()
    yro.flags.writeable = False
    wide = np.zeros((4, 4))
    wide[:, ::2] = X
    return {
        "lists": (X.tolist(), y.tolist()),
        "ints": (Xi, y.astype(np.int32)),
        "float32": (X.astype(np.float32), y.astype(np.float32)),
        "fortran": (np.asfortranarray(X), y),
        "strided": (wide[:, ::2], np.repeat(y, 2)[::2]),
        "read-only": (ro, yro),
        "big-endian": (X.astype(">f8"), y.astype(">f8")),
    }


@pytest.mark.parametrize("form", sorted(_input_forms()))
def test_accepted_input_forms(form):
    X, y = _input_forms()[form]
    X_before, y_before = np.array(X, copy=True), np.array(y, copy=True)
    base = Network(seed=0)
    expected = base.train(*datasets.gender(), epochs=50)
    net = Network(seed=0)
    got = net.train(X, y, epochs=50)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(net.predict(X), base.predict(datasets.gender()[0]))
    np.testing.assert_array_equal(np.asarray(X), X_before)
    np.testing.assert_array_equal(np.asarray(y), y_before)


# ---------------------------------------------------------------------------
# Validation: a clear error naming the argument, before any kernel runs
# ---------------------------------------------------------------------------
X0, Y0 = datasets.gender()


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(seed=-1), ValueError, "seed must be >= 0"),
        (dict(seed=2**63), ValueError, "seed must fit in int64"),
        (dict(seed=1.5), TypeError, "seed must be an int"),
        (dict(seed=True), TypeError, "seed must be an int"),
        (dict(seed="3"), TypeError, "seed must be an int"),
        (dict(params=np.ones(8)), ValueError, r"params must have shape \(9,\)"),
        (dict(params=np.ones((9, 1))), ValueError, r"params must have shape \(9,\)"),
        (dict(params=[np.nan] + [0.0] * 8), ValueError, "params must be finite"),
        (dict(params=[np.inf] + [0.0] * 8), ValueError, "params must be finite"),
        (dict(params=["a"] * 9), TypeError, "params must hold real numbers"),
        (dict(params=np.ones(9, dtype=complex)), TypeError, "params must hold real numbers"),
        (dict(params=np.ones(9, dtype=bool)), TypeError, "params must hold real numbers"),
        (dict(params=[[1, 2], [3]]), ValueError, "params must be a rectangular array"),
        (dict(seed=1, params=np.ones(9)), ValueError, "give seed or params, not both"),
    ],
)
def test_constructor_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Network(**kwargs)


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((X0[:, :1], Y0), {}, ValueError, r"X must have shape \(n, 2\)"),
        ((X0.ravel(), Y0), {}, ValueError, r"X must have shape \(n, 2\)"),
        ((np.empty((0, 2)), np.empty(0)), {}, ValueError, "X must have at least one sample"),
        ((X0, Y0[:3]), {}, ValueError, r"y must have shape \(4,\)"),
        ((X0, Y0[:, None]), {}, ValueError, r"y must have shape \(4,\)"),
        ((np.where(X0 == 25, np.nan, X0), Y0), {}, ValueError, "X must be finite"),
        ((X0, np.array([1, 0, np.inf, 1.0])), {}, ValueError, "y must be finite"),
        ((X0, np.array([1, 0, 2, 1.0])), {}, ValueError, r"y must lie in \[0, 1\] for sigmoid units, got 2.0"),
        ((X0, np.array([1, 0, -0.5, 1.0])), {}, ValueError, r"y must lie in \[0, 1\]"),
        ((X0.astype(object), Y0), {}, TypeError, "X must hold real numbers"),
        ((X0.astype(str), Y0), {}, TypeError, "X must hold real numbers"),
        ((X0, Y0), dict(epochs=-1), ValueError, "epochs must be >= 0, got -1"),
        ((X0, Y0), dict(epochs=10.0), TypeError, "epochs must be an int"),
        ((X0, Y0), dict(epochs=True), TypeError, "epochs must be an int"),
        ((X0, Y0), dict(lr=0.0), ValueError, "lr must be finite and > 0, got 0.0"),
        ((X0, Y0), dict(lr=-0.1), ValueError, "lr must be finite and > 0"),
        ((X0, Y0), dict(lr=np.nan), ValueError, "lr must be finite and > 0, got nan"),
        ((X0, Y0), dict(lr=np.inf), ValueError, "lr must be finite and > 0"),
        ((X0, Y0), dict(lr="0.2"), TypeError, "lr must be a real number"),
        ((X0, Y0), dict(lr=None), TypeError, "lr must be a real number"),
    ],
)
def test_train_validation_leaves_network_untouched(args, kwargs, exc, match):
    net = Network(seed=0)
    with pytest.raises(exc, match=match):
        net.train(*args, **kwargs)
    np.testing.assert_array_equal(net.params, Network(seed=0).params)
    assert net.epochs_trained == 0


def test_predict_feedforward_loss_validation():
    net = Network(seed=0)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        net.predict([1.0, 2.0])
    with pytest.raises(ValueError, match="X must be finite"):
        net.predict([[np.nan, 1.0]])
    with pytest.raises(ValueError, match=r"x must have shape \(2,\)"):
        net.feedforward([[1.0, 2.0]])
    with pytest.raises(ValueError, match="x must be finite"):
        net.feedforward([np.inf, 2.0])
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        net.loss(X0, Y0 + 2)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_history_every_keeps_those_entries_of_the_full_history(monkeypatch, momentum):
    """A long run's log: every k-th epoch's loss and the last, bit for bit, however the run is sliced."""
    from fastbackprop import network

    X, y = datasets.xor()
    epochs = 300 if JIT else 30
    full_net = Network(seed=3)
    full = full_net.train(X, y, epochs, 0.5, momentum=momentum)
    for per_slice in (2**21, 12, 28):  # slices of 3 and 7 epochs on 4 samples, across the kept ones
        monkeypatch.setattr(network, "_STEPS_PER_SLICE", per_slice)
        for k in (1, 2, 7, epochs - 1, epochs, epochs + 5):
            net = Network(seed=3)
            kept = net.train(X, y, epochs, 0.5, momentum=momentum, history_every=k)
            at = np.minimum(np.arange(1, kept.shape[0] + 1) * k, epochs) - 1
            assert kept.shape == (-(-epochs // k),)
            np.testing.assert_array_equal(kept, full[at])
            np.testing.assert_array_equal(net.params, full_net.params)
    assert Network(seed=3).train(X, y, 0, history_every=5).shape == (0,)
    with pytest.raises(ValueError, match=r"^history_every must be >= 1"):
        Network(seed=3).train(X, y, 5, history=False, history_every=0)
    with pytest.raises(TypeError, match=r"^history_every must be an int"):
        Network(seed=3).train(X, y, 5, history_every=True)
    from fastbackprop import _validation

    monkeypatch.setattr(_validation, "_SMALL", 0)
    monkeypatch.setattr(_validation, "available_memory", lambda: 8)
    with pytest.raises(ValueError, match=r"^epochs: 3 losses \(one in 7 epochs\) would take 24 bytes"):
        Network(seed=3).train(X, y, 20, history_every=7)
