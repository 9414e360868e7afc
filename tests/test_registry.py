"""Every implementation the benchmarks time computes the reference's numbers."""

import numpy as np
import pytest

from benchmarks.registry import IMPLEMENTATIONS, REFERENCE
from fastbackprop import _seeding

CASES = [(task, name) for task, impls in IMPLEMENTATIONS.items() for name in impls if name != REFERENCE]


@pytest.mark.parametrize("task, name", CASES)
def test_implementation_matches_reference(task, name, dataset):
    X, y = dataset
    impl, ref = IMPLEMENTATIONS[task][name], IMPLEMENTATIONS[task][REFERENCE]
    for params in _seeding.init_normal(np.arange(5)):
        before = params.copy()
        if task == "forward":
            np.testing.assert_allclose(impl(params, X), ref(params, X), rtol=1e-13)
        elif task == "sgd_step":
            np.testing.assert_allclose(impl(params, X[1], y[1], 0.2), ref(params, X[1], y[1], 0.2), rtol=1e-13)
        else:
            p, h = impl(params, X, y, 300, 0.2)
            rp, rh = ref(params, X, y, 300, 0.2)
            np.testing.assert_allclose(p, rp, rtol=0, atol=1e-12)
            np.testing.assert_allclose(h, rh, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(params, before)
