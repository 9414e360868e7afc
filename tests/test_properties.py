"""Property tests: kernel and oracle within a derived rounding bound; sweep rows equal networks."""

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastbackprop import Network, _kernels, datasets, reference, sweep

from . import rounding
from .conftest import JIT

X0, Y0 = datasets.gender()


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------
finite = st.floats(-8, 8, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 6))
    X = np.array(draw(st.lists(st.tuples(finite, finite), min_size=n, max_size=n)))
    y = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    params = np.array(draw(st.lists(finite, min_size=9, max_size=9)))
    lr = draw(st.floats(1e-3, 3.0))
    epochs = draw(st.integers(0, 25))
    return X, y, params, lr, epochs


# A subnormal update (w6 = 1000 x the smallest normal): the bound needs its
# underflow term here. Pinned: Hypothesis found it from --hypothesis-seed=0 once,
# and the seeds' draws are not guaranteed to stay the same across releases.
_SUBNORMAL_UPDATE = (np.zeros((1, 2)), np.zeros(1), np.eye(9)[5] * 2.225073858507e-311, 1.0, 1)


@settings(max_examples=150 if JIT else 20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
@example(_SUBNORMAL_UPDATE)
def test_property_kernel_and_reference_within_rounding_bound(problem):
    """Kernel and oracle each lie within the derived rounding-error bound of the exact run.

    No fixed tolerance holds here: rounding differences are amplified ~1e7x by
    some runs (lr 1, inputs up to 8) and not at all by others. The bound
    (``tests/rounding.py``) is first-order rigorous for each run and shrinks
    with it (a few ulps for a well-conditioned run). Over 30,000 draws (200
    Hypothesis seeds) the errors were at most 0.987 of it (runs whose last
    step is below half an ulp: the bound is then the final rounding itself)
    and 0.032 of it at the median.
    """
    X, y, params, lr, epochs = problem
    exact, bound, exact_history, history_bound = rounding.exact_run(params, X, y, epochs, lr)
    p = params.copy()
    history = np.empty(epochs)
    _kernels.train(p, np.zeros(9), X, y, epochs, lr, lr, 0.0, history)
    rp, rh = reference.train(params[None], X, y, epochs, lr)
    slack = rounding.EXTENDED_SLACK
    for name, got, want, tol in [
        ("kernel params", p, exact, bound),
        ("reference params", rp[0], exact, bound),
        ("kernel history", history, exact_history, history_bound),
        ("reference history", rh[0], exact_history, history_bound),
    ]:
        err = np.abs(got.astype(np.longdouble) - want)
        assert np.all(err <= slack * tol), f"{name}: error {err} over the rounding bound {tol}"


@settings(max_examples=40 if JIT else 5, deadline=None)
@given(
    seeds=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=5),
    epochs=st.integers(0, 30),
    lr=st.floats(1e-2, 5.0),
    data=st.sampled_from(["gender", "xor", "and", "or"]),
)
def test_property_sweep_rows_equal_single_networks(seeds, epochs, lr, data):
    X, y = datasets.load(data)
    res = sweep(X, y, seeds, epochs=epochs, lr=lr)
    for row, s in enumerate(seeds):
        net = Network(seed=s)
        net.train(X, y, epochs=epochs, lr=lr)
        np.testing.assert_array_equal(res.params[row], net.params)
