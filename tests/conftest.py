import numpy as np
import pytest

from fastbackprop import datasets

#: Datasets every kernel is checked on.
DATASETS = {"gender": datasets.gender, "xor": datasets.xor}


@pytest.fixture(params=sorted(DATASETS))
def dataset(request):
    return DATASETS[request.param]()


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)
