"""Compiled kernels against the NumPy reference and against finite differences.

Also run under NUMBA_DISABLE_JIT=1 in CI, which is how kernel coverage is measured.
"""

import math

import mpmath
import numba
import numpy as np
import pytest

from fastbackprop import _kernels, _seeding, reference
from fastbackprop._layout import B1, B2, B3, N_PARAMS, W1, W2, W3, W4, W5, W6

from .conftest import PINNED_STARTS

N_INITS = 50
#: Full runs; the pure-Python coverage pass (10^4 times slower) trains 100
#: epochs, enough to run every line (3000 took it 4 minutes).
EPOCHS = 3000 if not _kernels.config.DISABLE_JIT else 100
LR = 0.2


def _inits(n=N_INITS):
    """50 standard-normal starting points, plus a few wide ones that saturate."""
    p = _seeding.init_normal(np.arange(n))
    p[-5:] *= 4.0
    return p


def test_train_matches_reference_full_run(dataset):
    X, y = dataset
    starts = _inits()
    ref_params, ref_hist = reference.train(starts, X, y, EPOCHS, LR)
    worst_p = worst_h = 0.0
    for s in range(N_INITS):
        p = starts[s].copy()
        hist = np.empty(EPOCHS)
        _kernels.train(p, np.zeros(9), X, y, EPOCHS, LR, LR, 0.0, hist)
        worst_p = max(worst_p, np.abs(p - ref_params[s]).max())
        worst_h = max(worst_h, np.abs(hist - ref_hist[s]).max())
    # Measured worst over 50 runs: params 3.6e-15 / history 1.7e-15 on gender,
    # 3.3e-13 / 1.5e-13 on xor here (Zen 3), 4.4e-13 / 2.0e-13 on a Zen 5 whose
    # NumPy exp differs in the last bits; 3.9e-13 / 1.0e-13 in the pure-Python
    # pass at 3000 epochs. Rounding differences (exp, explicit FMAs) amplified
    # by training: the bounds allow ~5x the largest seen, for other machines.
    assert worst_p < 2e-12
    assert worst_h < 1e-12


def test_train_without_history_is_the_same_run(dataset):
    X, y = dataset
    a, b = _inits(1)[0], _inits(1)[0]
    _kernels.train(a, np.zeros(9), X, y, 200, LR, LR, 0.0, np.empty(200))
    _kernels.train(b, np.zeros(9), X, y, 200, LR, LR, 0.0, np.empty(0))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("tanh, momentum", [(False, False), (True, True)])
@pytest.mark.parametrize("epochs", [1, _kernels.LANES - 1, _kernels.LANES, _kernels.LANES + 1, 3 * _kernels.LANES + 7])
def test_history_is_the_mse_after_each_epoch(dataset, epochs, tanh, momentum):
    # The history is computed LANES epochs at a time after the steps; each entry
    # must be, bit for bit, the loss of that epoch's parameters as mse computes it.
    X, y = dataset
    y = 2 * y - 1 if tanh else y
    train = _kernels.training_kernels(tanh, momentum).train
    m = 0.9 if momentum else 0.0
    start = _inits(3)[2]
    p, v, hist = start.copy(), np.zeros(9), np.empty(epochs)
    train(p, v, X, y, epochs, LR, 0.5 * LR, m, hist)
    q, u, expected = start.copy(), np.zeros(9), np.empty(epochs)
    for e in range(epochs):
        train(q, u, X, y, 1, LR, 0.5 * LR, m, np.empty(0))
        expected[e] = _kernels.mse(q, X, y, tanh)
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(hist, expected)
    assert len(np.unique(hist)) > epochs // 2  # the losses move: a stale lane would show


def test_forward_matches_reference(dataset, rng):
    X, _ = dataset
    P = rng.normal(0, 3, size=(200, N_PARAMS))
    ref = reference.forward(P, X)
    out = np.empty(X.shape[0])
    for s in range(P.shape[0]):
        _kernels.forward(P[s], X, out, False)
        # The kernel rounds w*x + b once (FMA), NumPy twice; with |w*x| up to ~75
        # and sums near 1, the two differ by up to ~1e-14 relative (measured 1.04e-14).
        np.testing.assert_allclose(out, ref[s], rtol=1e-13, atol=1e-300)


def test_sgd_step_matches_reference(rng):
    P = rng.normal(0, 2, size=(200, N_PARAMS))
    x = rng.normal(0, 3, size=(200, 2))
    y = rng.random(200)
    for s in range(P.shape[0]):
        p = P[s].copy()
        _kernels.sgd_step(p, x[s], y[s], 0.7)
        np.testing.assert_allclose(p, reference.sgd_step(P[s : s + 1], x[s], y[s], 0.7)[0], rtol=1e-13, atol=1e-15)


def test_the_oracle_computes_in_the_dtype_of_params(dataset, rng):
    X, y = dataset  # float64 data: cast to float32, as the kernels do, not promoting the arithmetic
    P = rng.normal(0, 2, size=(50, N_PARAMS)).astype(np.float32)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    lr = rng.uniform(0.1, 1.0, 50)
    for got, want in [
        (reference.forward(P, X), reference.forward(P, X32)),
        (reference.mse(P, X, y), reference.mse(P, X32, y32)),
        (reference.max_error(P, X, y), reference.max_error(P, X32, y32)),
        (reference.gradient(P, X[1], y[1], lr), reference.gradient(P, X32[1], y32[1], lr.astype(np.float32))),
        (
            reference.sgd_step(P, X[1], y[1], 0.3, lr_output=lr),
            reference.sgd_step(P, X32[1], y32[1], np.float32(0.3), lr_output=lr.astype(np.float32)),
        ),
    ]:
        assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
    assert (
        reference.gradient(P.astype(np.float64), X[1], y[1], lr).tobytes()
        != reference.gradient(P, X[1], y[1], lr).astype(np.float64).tobytes()
    )


def test_mse_matches_reference(dataset, rng):
    X, y = dataset
    P = rng.normal(0, 2, size=(50, N_PARAMS))
    ref = reference.mse(P, X, y)
    for s in range(P.shape[0]):
        assert _kernels.mse(P[s], X, y, False) == pytest.approx(ref[s], rel=1e-14)


# ---------------------------------------------------------------------------
# Hand gradients against central finite differences in 50-digit arithmetic
# ---------------------------------------------------------------------------
mpmath.mp.dps = 50


def _loss_mp(p, x, y):
    s = lambda z: 1 / (1 + mpmath.exp(-z))  # noqa: E731
    h1 = s(p[0] * x[0] + p[1] * x[1] + p[6])
    h2 = s(p[2] * x[0] + p[3] * x[1] + p[7])
    return (y - s(p[4] * h1 + p[5] * h2 + p[8])) ** 2


_FD_STEP = mpmath.mpf("1e-20")


def _fd_gradient(p, x, y, h=_FD_STEP):
    pm = [mpmath.mpf(float(v)) for v in p]
    xm = [mpmath.mpf(float(v)) for v in x]
    ym = mpmath.mpf(float(y))
    g = []
    for k in range(N_PARAMS):
        up, dn = list(pm), list(pm)
        up[k] += h
        dn[k] -= h
        g.append(float((_loss_mp(up, xm, ym) - _loss_mp(dn, xm, ym)) / (2 * h)))
    return np.array(g)


def _points(rng, n, scale):
    P = rng.normal(0, scale, size=(n, N_PARAMS))
    x = rng.normal(0, 2, size=(n, 2))
    y = rng.random(n)
    return P, x, y


def _check_gradients(P, x, y):
    worst = 0.0
    for p, xi, yi in zip(P, x, y):
        g = np.empty(N_PARAMS)
        _kernels.gradient(p, xi, yi, g, False)
        fd = _fd_gradient(p, xi, yi)
        worst = max(worst, np.max(np.abs(g - fd) / np.abs(fd)))
    return worst


def test_gradient_vs_finite_differences(rng):
    # Measured worst relative error 6.7e-14 (the finite differences, in 50-digit
    # arithmetic, are exact to far below that: this is the kernel's rounding,
    # a few ulps amplified by cancellation in y - ypred); 15x allowed.
    assert _check_gradients(*_points(rng, 60, 1.0)) < 1e-12


def test_gradient_vs_finite_differences_saturated(rng):
    """Pre-activations up to |z| ~ 20, where sigmoid' is down to ~1e-9.

    Past z ~ 23 the mandated sigmoid'(z) = h (1 - h) loses relative accuracy to
    cancellation in 1 - h (h rounds to 1), so the points stop there.
    """
    P, x, y = _points(rng, 400, 6.0)
    sums = np.stack(
        [
            P[:, W1] * x[:, 0] + P[:, W2] * x[:, 1] + P[:, B1],
            P[:, W3] * x[:, 0] + P[:, W4] * x[:, 1] + P[:, B2],
        ],
        axis=1,
    )
    h = reference.sigmoid(sums)
    out = P[:, W5] * h[:, 0] + P[:, W6] * h[:, 1] + P[:, B3]
    z = np.column_stack([sums, out])
    keep = (np.abs(z).max(axis=1) > 8) & (z.max(axis=1) < 20) & (z.min(axis=1) > -20)
    assert keep.sum() >= 40
    # Measured 4.6e-8: h (1 - h) at h ~ 1 - 2e-9 keeps ~8 digits; 4x allowed.
    assert _check_gradients(P[keep], x[keep], y[keep]) < 2e-7


def test_gradient_matches_reference(rng):
    P, x, y = _points(rng, 100, 2.0)
    for p, xi, yi in zip(P, x, y):
        g = np.empty(N_PARAMS)
        _kernels.gradient(p, xi, yi, g, False)
        np.testing.assert_allclose(g, reference.gradient(p[None], xi, yi)[0], rtol=1e-13, atol=1e-300)


def _partials_float32(w5, w6, x0, x1, y, h1, h2, ypred, scale):
    """``_kernels._partials`` restated with NumPy float32 scalars, operation for operation."""
    one, two = np.float32(1), np.float32(-2)
    d1, d2, do = h1 * (one - h1), h2 * (one - h2), ypred * (one - ypred)
    s_o = scale * (two * (y - ypred))
    s_h1, s_h2 = s_o * (w5 * do), s_o * (w6 * do)
    return (
        s_h1 * (x0 * d1),
        s_h1 * (x1 * d1),
        s_h2 * (x0 * d2),
        s_h2 * (x1 * d2),
        s_o * (h1 * do),
        s_o * (h2 * do),
        s_h1 * d1,
        s_h2 * d2,
        s_o * do,
    )


def test_float32_partials_are_computed_in_float32(rng):
    """The partials have no FMA, so in float32 every operation is one IEEE float32 operation:
    the compiled code must give NumPy float32's bits. A float64 constant anywhere in the
    chain (``-2.0`` for ``_like(x0, -2.0)``) promotes the rest of it and shows here."""
    draws = rng.uniform(-3, 3, size=(500, 9)).astype(np.float32)
    draws[:, 4:8] = np.abs(draws[:, 4:8]) / 3  # y, h1, h2, ypred in [0, 1]
    for w5, w6, x0, x1, y, h1, h2, yp, lr in draws:
        got = _kernels._partials(w5, w6, x0, x1, y, h1, h2, yp, lr, lr, False)
        want = _partials_float32(w5, w6, x0, x1, y, h1, h2, yp, lr)
        assert all(isinstance(w, np.float32) for w in want)
        assert [float(g) for g in got] == [float(w) for w in want]


# ---------------------------------------------------------------------------
# The written-out exp / sigmoid
# ---------------------------------------------------------------------------
def _elementwise(f):
    """``f`` of each element of a 1-d array, compiled (in the JIT pass) as the kernels use it."""

    def many(z):
        out = np.empty_like(z)
        for i in range(z.shape[0]):
            out[i] = f(z[i])
        return out

    return many if _kernels.config.DISABLE_JIT else numba.njit(many)


_sigmoid_many_jit = _elementwise(_kernels._sigmoid)
_exp_many_jit = _elementwise(_kernels._exp)
_exp2i_many_jit = _elementwise(_kernels._exp2i)
_one_plus_exp_many_jit = _elementwise(_kernels._one_plus_exp)


def _grid(dtype):
    """[-60, 60] in steps of 6e-4 (every 10th point of the 2,000,001 the bounds were measured on)."""
    return np.linspace(-60, 60, 200_001 if not _kernels.config.DISABLE_JIT else 2_001).astype(dtype)


# Bounds: the largest relative error measured on 2,000,001 evenly spaced and
# 2,000,000 random points of [-60, 60], times ~1.4. exp: 5.3e-16 (float64, 2.4
# machine epsilons) and 2.9e-7 (float32, 2.4 epsilons); the sigmoid: 5.8e-16 and 3.2e-7. A
# wrong coefficient shows: 1/362881 for 1/9! gives 1.3e-15, 1/121 for 1/5!
# in float32 7.7e-7 (tests/MUTANTS.md).
@pytest.mark.parametrize("dtype, bound", [(np.float64, 7.5e-16), (np.float32, 4e-7)])
def test_exp_accuracy(dtype, bound):
    z = _grid(dtype)
    got = _exp_many_jit(z)
    assert got.dtype == dtype
    exact = np.exp(z.astype(np.longdouble))
    assert float(np.max(np.abs(got.astype(np.longdouble) - exact) / exact)) <= bound


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_plus_exp_is_one_plus_exp_rounded_once(dtype):
    """The sigmoid's fma(p, 2**k, 1) is the 1 + exp(x) it replaced, bit for bit: p * 2**k is exact."""
    rng = np.random.default_rng(5)
    z = np.concatenate([_grid(dtype), rng.uniform(-60, 60, 20_000).astype(dtype), dtype([-60, -0.0, 0.0, 60])])
    got = _one_plus_exp_many_jit(z)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, dtype(1.0) + _exp_many_jit(z))


@pytest.mark.parametrize("dtype, bound", [(np.float64, 8e-16), (np.float32, 4.5e-7)])
def test_sigmoid_accuracy(dtype, bound):
    z = _grid(dtype)
    got = _sigmoid_many_jit(z)
    assert got.dtype == dtype
    exact = 1 / (1 + np.exp(-z.astype(np.longdouble)))
    rel = np.abs(got.astype(np.longdouble) - exact) / exact
    assert float(rel.max()) <= bound


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp2i_is_exactly_two_to_the_k(dtype):
    # Every k the exp can meet (|x| <= 60 gives |k| <= 87) and the whole normal range of float32;
    # in float64 the sum k + 1.5 * 2**52 must hold k exactly, negative k included.
    k = np.arange(-126, 128 if dtype == np.float32 else 1024).astype(dtype)
    np.testing.assert_array_equal(_exp2i_many_jit(k), np.ldexp(dtype(1.0), k.astype(int)))
    assert _exp2i_many_jit(k).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_saturates_exactly_and_never_warns(dtype):
    big = np.finfo(dtype).max
    z = np.array([-big, -1e30, -60.5, 60.5, 1e30, big, -np.inf, np.inf], dtype=dtype)
    with np.errstate(all="raise"):
        got = _sigmoid_many_jit(z)
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 1, 1, 0, 1])
    assert np.isnan(_sigmoid_many_jit(np.array([np.nan], dtype=dtype))[0])


# ---------------------------------------------------------------------------
# The seed map: the compiled twin gives NumPy's bits
# ---------------------------------------------------------------------------
def test_compiled_seed_map_is_bit_identical():
    n = 20_000 if not _kernels.config.DISABLE_JIT else 500
    big = np.iinfo(np.int64).max
    seeds = np.concatenate([np.arange(n), [big, big - 1, 2**32, 2**53 + 1]]).astype(np.int64)
    out = np.empty((seeds.shape[0], N_PARAMS))
    _kernels.init_params(seeds, False, np.ones(seeds.shape[0]), out)
    np.testing.assert_array_equal(out, _seeding.init_normal(seeds))


def test_seed_map_is_pinned():
    seeds = np.array(list(PINNED_STARTS), dtype=np.int64)
    want = np.array([[float.fromhex(v) for v in row] for row in PINNED_STARTS.values()])
    np.testing.assert_array_equal(_seeding.init_normal(seeds), want)
    out = np.empty_like(want)
    _kernels.init_params(seeds, False, np.ones(seeds.shape[0]), out)
    np.testing.assert_array_equal(out, want)


def test_seed_map_is_standard_normal():
    p = _seeding.init_normal(np.arange(100_000)).ravel()
    assert abs(p.mean()) < 0.01  # 3.3 standard errors
    assert abs(p.std() - 1) < 0.01
    # Quantiles of N(0, 1): Phi(-1) = 0.1587, Phi(-2) = 0.02275
    assert abs(np.mean(p < -1) - 0.1587) < 0.003
    assert abs(np.mean(p < -2) - 0.02275) < 0.0015
    # Rows and columns are not correlated with each other.
    c = np.corrcoef(p.reshape(-1, N_PARAMS), rowvar=False)
    assert np.abs(c - np.eye(N_PARAMS)).max() < 0.02


def test_log_unit_is_accurate():
    s = np.random.default_rng(1).random(100_000)
    m, e = np.frexp(s)
    got = _seeding._log_unit(s, m, e)
    np.testing.assert_allclose(got, np.log(s), rtol=1e-15)
    assert math.isclose(_seeding._log_unit(0.5, *math.frexp(0.5)), math.log(0.5), rel_tol=1e-16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tol_sum_is_the_least_squared_error_that_shows_the_loss_not_below_tol(dtype):
    """The kernels skip a network's other samples when one squared error reaches
    tol_sum(tol, n): exact only if T / n >= tol; the least such T skips the most."""
    rng = np.random.default_rng(16)
    info = np.finfo(dtype)
    tols = [*dtype(10.0 ** rng.uniform(-30, 3, 500)), info.smallest_subnormal, 3 * info.smallest_subnormal, info.max]
    for tol in tols:
        for n in (1, 3, 4, 7, 16, 19, 1000):
            T = _kernels.tol_sum(tol, n)
            assert type(T) is dtype
            assert T / dtype(n) >= tol and np.nextafter(T, dtype(0)) / dtype(n) < tol, (tol, n, T)
